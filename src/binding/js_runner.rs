//! `AgentContainerRunner`, the class the host constructs: each method converts
//! its arguments, makes one call into the core's [`Runner`], and converts what
//! comes back.

use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::{Either, Object, PromiseRaw, Unknown, Utf16String};
use napi::{Env, Result};
use napi_derive::napi;

use super::config::{read_config, read_options};
use super::errors::to_js_error;
use super::input::{read_input, JsReplyHost};
use super::js_fields::{is_nothing, object_arg, string_arg, FieldResult};
use super::logger::{log_now, JsLogSink};
use super::realm::{self, Realm};
use super::resolver::JsCredentialResolver;
use crate::core::EgressFile;
use crate::core::RunError;
use crate::core::{custom_image_warning, Removal, Runner};
use crate::core::{dispatch, Level};
use crate::core::{ContainerResult, CredentialResolver, ReplyText};

/// A file the agent left in the space's outbox during the run.
#[napi(object, js_name = "EgressFile")]
pub struct JsEgressFile {
    /// Host path of the file.
    pub path: String,
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: f64,
}

/// What a successful `reply` resolves to.
#[napi(object, js_name = "ContainerResult", object_from_js = false)]
pub struct JsContainerResult {
    /// The reply as the JavaScript string `JSON.parse` would have given: UTF-8
    /// text, or UTF-16 units when it holds lone surrogates (only UTF-16 carries them).
    #[napi(ts_type = "string")]
    pub reply: Either<String, Utf16String>,
    pub files: Vec<JsEgressFile>,
}

impl From<EgressFile> for JsEgressFile {
    fn from(f: EgressFile) -> Self {
        Self { path: f.path, filename: f.filename, mime_type: f.mime_type, size_bytes: f.size_bytes as f64 }
    }
}

impl From<ContainerResult> for JsContainerResult {
    fn from(r: ContainerResult) -> Self {
        let reply = match r.reply {
            ReplyText::Utf8(text) => Either::A(text),
            ReplyText::Utf16(units) => Either::B(Utf16String::from(units)),
        };
        Self { reply, files: r.files.into_iter().map(JsEgressFile::from).collect() }
    }
}

/// Runs one agent turn per `reply` in a fresh Docker container, through the
/// Docker Engine API. A drop-in for Mercury's own `AgentContainerRunner`.
#[napi]
pub struct AgentContainerRunner {
    runner: Arc<Runner>,
    /// The realm current when this runner was constructed: its errors are built there.
    realm: Rc<Realm>,
}

#[napi]
impl AgentContainerRunner {
    /// Stores the config; connects to nothing until a method needs the engine,
    /// so it works while Docker is down.
    #[napi(constructor, ts_args_type = "config: RunnerConfig, options?: RunnerOptions")]
    pub fn new(env: Env, config: Unknown, options: Option<Unknown>) -> Result<Self> {
        let realm = realm::current()?;
        let type_error = |m: String| realm.type_error(&env, m);
        let config: Object = object_arg(config, "config").map_err(type_error)?;
        let options: Option<Object> = match options {
            Some(o) if !is_nothing(&o) => Some(object_arg(o, "options").map_err(type_error)?),
            _ => None,
        };
        let cwd = std::env::current_dir()
            .map_err(|e| napi::Error::from_reason(format!("cannot read the current directory: {e}")))?;
        let config = read_config(&config).map_err(type_error)?;
        let (options, hooks) = read_options(&env, &realm, options.as_ref(), &cwd).map_err(type_error)?;
        let sink = match &hooks.logger {
            Some(logger) => JsLogSink::host(&env, &realm, logger)?,
            None => JsLogSink::console(&env, &realm, options.console)?,
        };
        if let Some((msg, fields)) = custom_image_warning(&config.image) {
            log_now(&env, &realm, hooks.logger.as_ref(), options.console, Level::Warn, msg, fields)?;
        }
        let resolver = match hooks.resolve_credential {
            Some(resolve) => {
                Some(Arc::new(JsCredentialResolver::new(&env, &realm, resolve)?) as Arc<dyn CredentialResolver>)
            }
            None => None,
        };
        let runner = Runner::new(config, options, dispatch(Arc::new(sink)), resolver);
        let runner = Arc::new(runner);
        super::exit::register(&runner);
        Ok(Self { runner, realm })
    }

    /// Overrides the configured image for runs started from now on.
    #[napi(ts_args_type = "image: string")]
    pub fn set_image(&self, env: Env, image: Unknown) -> Result<()> {
        let image = self.checked(&env, string_arg(image, "setImage(image)"))?;
        self.runner.set_image(image);
        Ok(())
    }

    /// The image runs use: the `setImage` override, else `config.agentContainerImage`.
    #[napi(getter)]
    pub fn image(&self) -> String {
        self.runner.image()
    }

    /// Pulls the image unless the engine already has it.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn ensure_image<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let realm = self.realm.clone();
        env.spawn_future_with_callback(
            {
                let ensured = self.runner.ensure_image();
                async move { Ok(ensured.await) }
            },
            move |env, done| done.map_err(|e| to_js_error(env, &realm, e)),
        )
    }

    /// Whether `spaceId` has a run in flight.
    #[napi(ts_args_type = "spaceId: string")]
    pub fn is_running(&self, env: Env, space_id: Unknown) -> Result<bool> {
        let space_id = self.checked(&env, string_arg(space_id, "isRunning(spaceId)"))?;
        Ok(self.runner.runs().is_running(&space_id))
    }

    /// Force-removes every container labelled `mercury.managed=true` (but this
    /// runner's own runs in flight); resolves how many. Never rejects.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn cleanup_orphans<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, f64>> {
        let cleaned = self.runner.cleanup_orphans();
        env.spawn_future(async move { Ok(cleaned.await as f64) })
    }

    /// Aborts every run in flight; returns at once.
    #[napi]
    pub fn kill_all(&self) {
        self.runner.kill_all();
    }

    /// The number of runs in flight.
    #[napi(getter)]
    pub fn active_count(&self) -> f64 {
        self.runner.runs().active_count() as f64
    }

    /// The spaces with a run in flight.
    #[napi]
    pub fn get_active_spaces(&self) -> Vec<String> {
        self.runner.runs().active_spaces()
    }

    /// Aborts the runs of `spaceId`: false when it has none. The container is
    /// killed in the background; `reply` rejects with `ContainerError.aborted`.
    #[napi(ts_args_type = "spaceId: string")]
    pub fn abort(&self, env: Env, space_id: Unknown) -> Result<bool> {
        let space_id = self.checked(&env, string_arg(space_id, "abort(spaceId)"))?;
        Ok(self.runner.abort(&space_id))
    }

    /// Runs one agent turn. Rejects with a `ContainerError` when the container
    /// fails, times out or is aborted, a `TypeError` on bad input.
    #[napi(ts_args_type = "input: ReplyInput", ts_return_type = "Promise<ContainerResult>")]
    pub fn reply<'env>(&self, env: &'env Env, input: Unknown) -> Result<PromiseRaw<'env, JsContainerResult>> {
        let realm = self.realm.clone();
        let started = read_input(env, &realm, input).map_err(RunError::InvalidInput).and_then(|(request, input)| {
            let mut host = JsReplyHost { env, realm: &realm, input };
            self.runner.start(request, &mut host)
        });
        let pending = match started {
            Ok(pending) => pending,
            Err(err) => {
                return env.spawn_future_with_callback(async move { Ok(()) }, move |env, ()| {
                    Err(to_js_error(env, &realm, err))
                })
            }
        };
        env.spawn_future_with_callback(async move { Ok(pending.run().await) }, move |env, finished| {
            let (result, removal) = finished.finish();
            if let Some(removal) = removal {
                // Best effort: without it the removal still happens, unless the process exits first.
                let _ = keep_alive_until(env, &realm, removal);
            }
            result.map(JsContainerResult::from).map_err(|e| to_js_error(env, &realm, e))
        })
    }
}

impl AgentContainerRunner {
    /// An argument as read, or this runner's realm's `TypeError` saying what was wrong with it.
    fn checked<T>(&self, env: &Env, read: FieldResult<T>) -> Result<T> {
        read.map_err(|m| self.realm.type_error(env, m))
    }
}

/// Keeps the event loop alive until `removal` ends, so a host that exits right
/// after its last reply still sees the container removed.
fn keep_alive_until(env: &Env, realm: &Realm, removal: Removal) -> Result<()> {
    let pin =
        realm.noop(env)?.build_threadsafe_function::<()>().callee_handled::<false>().build_callback(|_| Ok(()))?;
    napi::bindgen_prelude::spawn(async move {
        let _ = removal.await;
        drop(pin);
    });
    Ok(())
}
