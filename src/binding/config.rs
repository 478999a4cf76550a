//! The host's config and options objects → the core's [`RunnerConfig`] and [`RunnerOptions`].

use std::path::{Path, PathBuf};

use napi::bindgen_prelude::{Function, Object};
use napi::Env;

use super::js_fields::{
    check_type, opt_bool, opt_number, opt_object, opt_string, opt_strings, opt_value, string, typed, FieldResult,
};
use super::realm::Realm;
use crate::core::ConsoleFormat;
use crate::core::EndpointInput;
use crate::core::Hardening;
use crate::core::{egress_options, EgressOptions};
use crate::core::{
    memory_limit, nano_cpus, pids_limit, port_text, standby_options, PackageRoot, RunnerConfig, RunnerOptions,
    StandbyOptions,
};

pub fn read_config(config: &Object) -> FieldResult<RunnerConfig> {
    const WHAT: &str = "config";
    let port = match opt_number(config, "port", WHAT) {
        Ok(n) => n.map(port_text),
        // A port read from the environment may still be text.
        Err(e) => Some(opt_string(config, "port", WHAT).map_err(|_| e)?.unwrap_or_default()),
    };
    Ok(RunnerConfig {
        image: string(config, "agentContainerImage", WHAT)?,
        timeout_ms: opt_number(config, "containerTimeoutMs", WHAT)?,
        global_dir: opt_string(config, "globalDir", WHAT)?,
        spaces_dir: opt_string(config, "spacesDir", WHAT)?,
        model_provider: opt_string(config, "modelProvider", WHAT)?,
        auth_path: opt_string(config, "authPath", WHAT)?,
        port,
    })
}

/// The options' JavaScript parts, which stay with the binding.
pub struct JsHooks<'env> {
    pub logger: Option<Object<'env>>,
    pub resolve_credential: Option<Function<'env, (), ()>>,
}

pub fn read_options<'env>(
    env: &Env,
    realm: &Realm,
    options: Option<&Object<'env>>,
    cwd: &Path,
) -> FieldResult<(RunnerOptions, JsHooks<'env>)> {
    const WHAT: &str = "options";
    let env_var = |name: &str| realm.env_var(env, name).map_err(|e| e.to_string());
    let console =
        ConsoleFormat::from_env(env_var("MERCURY_LOG_FORMAT")?.as_deref(), env_var("MERCURY_LOG_LEVEL")?.as_deref());
    let mut hooks = JsHooks { logger: None, resolve_credential: None };
    let (mut package_root, mut docker_host, mut memory, mut sessions_dir) = (None, None, None, None);
    let mut hardening = Hardening::default();
    let mut standby = None;
    let mut egress = None;
    if let Some(options) = options {
        hooks.logger = opt_object(options, "logger", WHAT)?;
        if let Some(f) = opt_value(options, "resolveCredential")? {
            check_type(&f, napi::ValueType::Function, "options.resolveCredential", "a function")?;
            hooks.resolve_credential = Some(typed(f)?);
        }
        package_root = opt_string(options, "packageRoot", WHAT)?;
        docker_host = opt_string(options, "dockerHost", WHAT)?;
        memory = opt_number(options, "memoryLimit", WHAT)?.map(memory_limit).transpose()?;
        hardening = read_hardening(options)?;
        standby = read_standby(options)?;
        sessions_dir = opt_string(options, "sessionsDir", WHAT)?;
        egress = read_egress(options, realm)?;
        if egress.is_some() && hardening.network.is_some() {
            return Err("options.egress and options.network cannot both be given: egress picks the network".into());
        }
    }
    let main_script = match package_root {
        Some(_) => None,
        None => realm.main_script(env).map_err(|e| e.to_string())?,
    };
    let package_root = PackageRoot::from_option(package_root.as_deref(), main_script.as_deref(), cwd);
    // Read from the importer's process.env (a Jest file's own copy), not the process's environment.
    let path_var = |name: &str| env_var(name).map(|v| v.map(PathBuf::from));
    let endpoint = EndpointInput {
        docker_host_option: docker_host,
        docker_host: env_var("DOCKER_HOST")?,
        docker_context: env_var("DOCKER_CONTEXT")?,
        docker_config: path_var("DOCKER_CONFIG")?,
        docker_tls_verify: env_var("DOCKER_TLS_VERIFY")?,
        docker_tls: env_var("DOCKER_TLS")?,
        docker_cert_path: path_var("DOCKER_CERT_PATH")?,
        xdg_runtime_dir: path_var("XDG_RUNTIME_DIR")?,
        home: path_var("HOME")?,
        search_path: env_var("PATH")?.map(Into::into),
    };
    let options = RunnerOptions {
        package_root,
        endpoint,
        memory_limit: memory,
        console,
        hardening,
        standby,
        sessions_dir,
        egress,
    };
    Ok((options, hooks))
}

/// `options.standby`: `true`, `false`, or `{ idleMs, max }`.
fn read_standby(options: &Object) -> FieldResult<Option<StandbyOptions>> {
    let Some(value) = opt_value(options, "standby")? else {
        return Ok(None);
    };
    match value.get_type() {
        Ok(napi::ValueType::Boolean) => Ok(typed::<bool>(value)?.then(StandbyOptions::default)),
        Ok(napi::ValueType::Object) => {
            let given: Object = typed(value)?;
            const WHAT: &str = "options.standby";
            standby_options(opt_number(&given, "idleMs", WHAT)?, opt_number(&given, "max", WHAT)?).map(Some)
        }
        _ => Err("options.standby must be a boolean or an object { idleMs, max }".into()),
    }
}

/// `options.egress`: `{ allow: string[] }`.
fn read_egress(options: &Object, realm: &Realm) -> FieldResult<Option<EgressOptions>> {
    let Some(egress) = opt_object(options, "egress", "options")? else {
        return Ok(None);
    };
    let allow = opt_strings(&egress, "allow", "options.egress")?;
    let proxy_dir = realm.package_dir().map(|dir| Path::new(dir).join("egress-proxy").join("dist"));
    egress_options(allow, proxy_dir).map(Some)
}

fn read_hardening(options: &Object) -> FieldResult<Hardening> {
    const WHAT: &str = "options";
    Ok(Hardening {
        pids_limit: opt_number(options, "pidsLimit", WHAT)?.map(pids_limit).transpose()?,
        nano_cpus: opt_number(options, "cpus", WHAT)?.map(nano_cpus).transpose()?,
        user: opt_string(options, "user", WHAT)?,
        cap_drop: opt_strings(options, "capDrop", WHAT)?,
        cap_add: opt_strings(options, "capAdd", WHAT)?,
        no_new_privileges: opt_bool(options, "noNewPrivileges", WHAT)?,
        read_only_rootfs: opt_bool(options, "readOnlyRootfs", WHAT)?,
        network: opt_string(options, "network", WHAT)?,
        runtime: opt_string(options, "runtime", WHAT)?,
        isolate_spaces: opt_bool(options, "isolateSpaces", WHAT)?,
        // Set per turn by egress, never by the host.
        dns: Vec::new(),
    })
}

/// The option surface is written in four places: `header.d.ts` (what a host
/// type-checks against) is the source; this file's readers, the core's messages
/// and the README's Options table are held to it here.
#[cfg(test)]
mod surface {
    use std::collections::BTreeSet;

    const HEADER: &str = include_str!("header.d.ts");
    const READERS: &str = include_str!("config.rs");
    const CORE_CONFIG: &str = include_str!("../core/turn/config.rs");
    const README: &str = include_str!("../../README.md");

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// The top-level members of `export interface <name>` in header.d.ts.
    fn interface_members(name: &str) -> BTreeSet<String> {
        let start = HEADER.find(&format!("export interface {name} {{")).unwrap_or_else(|| panic!("no {name}"));
        let body = &HEADER[start..];
        let body = &body[..body.find("\n}").unwrap()];
        body.lines()
            .skip(1)
            .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
            .filter_map(|line| {
                let line = line.trim_start();
                let name: String = line.chars().take_while(char::is_ascii_alphanumeric).collect();
                (!name.is_empty() && line[name.len()..].starts_with(['?', ':'])).then_some(name)
            })
            .collect()
    }

    /// The keys this file's readers take off the object named `object`.
    fn keys_read(object: &str) -> BTreeSet<String> {
        let opening = format!("({object}, \"");
        READERS
            .match_indices(&opening)
            .map(|(at, _)| {
                let rest = &READERS[at + opening.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            })
            .collect()
    }

    /// Every `<prefix>.<name>` that a string of `text` starts with.
    fn named_in_messages(text: &str, prefix: &str) -> BTreeSet<String> {
        let opening = format!("\"{prefix}.");
        text.match_indices(&opening)
            .map(|(at, _)| {
                let rest = &text[at + opening.len()..];
                rest.chars().take_while(char::is_ascii_alphanumeric).collect::<String>()
            })
            .filter(|name| !name.is_empty())
            .collect()
    }

    #[test]
    fn the_readers_take_exactly_the_declared_keys() {
        assert_eq!(keys_read("config"), interface_members("RunnerConfig"));
        assert_eq!(keys_read("options"), interface_members("RunnerOptions"));
        let standby = HEADER.lines().find(|l| l.trim_start().starts_with("standby?:")).unwrap();
        assert!(standby.contains("{ idleMs?: number; max?: number }"), "{standby}");
        assert_eq!(keys_read("&given"), set(&["idleMs", "max"]));
    }

    #[test]
    fn the_cores_messages_name_declared_keys() {
        let options = named_in_messages(CORE_CONFIG, "options");
        let config = named_in_messages(CORE_CONFIG, "config");
        assert!(!options.is_empty() && !config.is_empty());
        assert!(options.is_subset(&interface_members("RunnerOptions")), "{options:?}");
        assert!(config.is_subset(&interface_members("RunnerConfig")), "{config:?}");
    }

    #[test]
    fn the_readme_lists_every_option() {
        let section = &README[README.find("## Options").unwrap()..];
        let table = &section[section.find("| option |").unwrap()..];
        let table = &table[..table.find("\n\n").unwrap()];
        let listed: BTreeSet<String> = table
            .lines()
            .filter_map(|row| row.strip_prefix("| `"))
            .flat_map(|row| row.split(" | ").next().unwrap().split(" / ").map(|n| n.trim_matches('`').to_owned()))
            .collect();
        assert_eq!(listed, interface_members("RunnerOptions"));
    }
}
