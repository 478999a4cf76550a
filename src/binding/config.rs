//! The host's config and options objects → the runner's settings.

use std::path::Path;

use napi::bindgen_prelude::{Function, Object};
use napi::Env;

use super::glue;
use super::js_fields::{opt_number, opt_object, opt_string, opt_value, string, FieldResult};
use crate::core::log::ConsoleFormat;
use crate::core::paths::resolve;
use crate::core::spec::{PackageRoot, RunnerSettings};

/// The fields of the host's `AppConfig` the runner reads; any others are ignored.
/// Only the image is required up front: a host's tests build runners from
/// partial configs, and a missing field is reported when a reply needs it.
#[derive(Debug, Clone)]
pub struct JsConfig {
    pub image: String,
    timeout_ms: Option<f64>,
    global_dir: Option<String>,
    spaces_dir: Option<String>,
    model_provider: Option<String>,
    auth_path: Option<String>,
    port: Option<String>,
}

impl JsConfig {
    pub fn read(config: &Object) -> FieldResult<Self> {
        const WHAT: &str = "config";
        let port = match opt_number(config, "port", WHAT) {
            Ok(n) => n.map(|n| if n.fract() == 0.0 { format!("{n:.0}") } else { n.to_string() }),
            // A port read from the environment may still be text.
            Err(e) => Some(opt_string(config, "port", WHAT).map_err(|_| e)?.unwrap_or_default()),
        };
        Ok(Self {
            image: string(config, "agentContainerImage", WHAT)?,
            timeout_ms: opt_number(config, "containerTimeoutMs", WHAT)?,
            global_dir: opt_string(config, "globalDir", WHAT)?,
            spaces_dir: opt_string(config, "spacesDir", WHAT)?,
            model_provider: opt_string(config, "modelProvider", WHAT)?,
            auth_path: opt_string(config, "authPath", WHAT)?,
            port,
        })
    }

    /// Settings for a run starting now; relative folders resolve against `cwd`.
    pub fn settings(&self, cwd: &Path, image: String, options: &JsOptions) -> FieldResult<RunnerSettings> {
        let need = |v: &Option<String>, name: &str| {
            v.clone().ok_or_else(|| format!("config.{name} is required to run an agent"))
        };
        let timeout_ms = self.timeout_ms.ok_or("config.containerTimeoutMs is required to run an agent")?;
        if timeout_ms < 0.0 {
            return Err("config.containerTimeoutMs must not be negative".into());
        }
        Ok(RunnerSettings {
            image,
            timeout_ms: timeout_ms as u64,
            global_dir: resolve(cwd, &need(&self.global_dir, "globalDir")?),
            spaces_dir: resolve(cwd, &need(&self.spaces_dir, "spacesDir")?),
            model_provider: need(&self.model_provider, "modelProvider")?,
            auth_path: self.auth_path.as_deref().map(|p| resolve(cwd, p)),
            port: need(&self.port, "port")?,
            package_root: options.package_root.clone(),
            memory_limit: options.memory_limit,
        })
    }
}

/// The optional second constructor argument, less the JS objects the runner keeps.
#[derive(Debug, Clone)]
pub struct JsOptions {
    pub package_root: PackageRoot,
    pub docker_host: Option<String>,
    pub memory_limit: Option<i64>,
    pub console: ConsoleFormat,
}

/// The options' JavaScript parts.
pub struct JsHooks<'env> {
    pub logger: Option<Object<'env>>,
    pub resolve_credential: Option<Function<'env, (), ()>>,
}

pub fn read_options<'env>(
    env: &Env,
    options: Option<&Object<'env>>,
    cwd: &Path,
) -> FieldResult<(JsOptions, JsHooks<'env>)> {
    const WHAT: &str = "options";
    let env_var = |name: &str| -> FieldResult<Option<String>> {
        glue::func::<napi::bindgen_prelude::FnArgs<(&str,)>, Option<String>>(env, "envVar")
            .and_then(|f| f.call((name,).into()))
            .map_err(|e| e.to_string())
    };
    let console =
        ConsoleFormat::from_env(env_var("MERCURY_LOG_FORMAT")?.as_deref(), env_var("MERCURY_LOG_LEVEL")?.as_deref());
    let (mut hooks, mut package_root, mut docker_host, mut memory_limit) =
        (JsHooks { logger: None, resolve_credential: None }, None, None, None);
    if let Some(options) = options {
        hooks.logger = opt_object(options, "logger", WHAT)?;
        if let Some(f) = opt_value(options, "resolveCredential")? {
            super::js_fields::check_type(&f, napi::ValueType::Function, "options.resolveCredential", "a function")?;
            hooks.resolve_credential = Some(super::js_fields::typed(f)?);
        }
        package_root = opt_string(options, "packageRoot", WHAT)?;
        docker_host = opt_string(options, "dockerHost", WHAT)?;
        if let Some(bytes) = opt_number(options, "memoryLimit", WHAT)? {
            if bytes <= 0.0 || bytes.fract() != 0.0 {
                return Err("options.memoryLimit must be a positive whole number of bytes".into());
            }
            memory_limit = Some(bytes as i64);
        }
    }
    let package_root = match package_root {
        Some(dir) => PackageRoot::Dir(resolve(cwd, &dir)),
        None => match glue::func::<(), Option<String>>(env, "mainScript")
            .and_then(|f| f.call(()))
            .map_err(|e| e.to_string())?
        {
            Some(main) => PackageRoot::NearestTo(resolve(cwd, &main)),
            None => PackageRoot::None,
        },
    };
    let docker_host = match docker_host {
        Some(host) => Some(host),
        None => env_var("DOCKER_HOST")?,
    };
    Ok((JsOptions { package_root, docker_host, memory_limit, console }, hooks))
}
