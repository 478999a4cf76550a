//! `AgentContainerRunner`, the class the host constructs.

use std::sync::Arc;

use napi::bindgen_prelude::{FnArgs, Function, FunctionRef, Object, Promise, PromiseRaw, Unknown};
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::json;

use super::config::{read_options, JsConfig, JsOptions};
use super::errors::to_js_error;
use super::glue::{self, type_error};
use super::input::{mercury_env, parse_input};
use super::js_fields::{is_nothing, object_arg, string_arg};
use super::logger::{log_now, JsLogSink};
use crate::core::error::RunError;
use crate::core::log::{Level, Logger};
use crate::core::outbox::EgressFile;
use crate::core::run::{settle, ContainerResult, CredentialSource, ReplyPlan, RunReport};
use crate::core::runner::{custom_image_warning, RunTicket, Runner};

/// A file the agent left in the space's outbox during the run.
#[napi(object, js_name = "EgressFile")]
pub struct OutboxFile {
    /// Host path of the file.
    pub path: String,
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: f64,
}

/// What a successful `reply` resolves to.
#[napi(object, js_name = "ContainerResult")]
pub struct ReplyResult {
    pub reply: String,
    pub files: Vec<OutboxFile>,
}

impl From<EgressFile> for OutboxFile {
    fn from(f: EgressFile) -> Self {
        Self { path: f.path, filename: f.filename, mime_type: f.mime_type, size_bytes: f.size_bytes as f64 }
    }
}

impl From<ContainerResult> for ReplyResult {
    fn from(r: ContainerResult) -> Self {
        Self { reply: r.reply, files: r.files.into_iter().map(OutboxFile::from).collect() }
    }
}

/// Runs one agent turn per `reply` in a fresh Docker container, through the
/// Docker Engine API. A drop-in for Mercury's own `AgentContainerRunner`.
#[napi]
pub struct AgentContainerRunner {
    runner: Arc<Runner>,
    config: JsConfig,
    options: JsOptions,
    resolve_credential: Option<FunctionRef<(), ()>>,
}

#[napi]
impl AgentContainerRunner {
    /// Stores the config; connects to nothing until a method needs the engine,
    /// so it works while Docker is down.
    #[napi(constructor, ts_args_type = "config: RunnerConfig, options?: RunnerOptions")]
    pub fn new(env: Env, config: Unknown, options: Option<Unknown>) -> Result<Self> {
        let config: Object = object_arg(config, "config").map_err(|m| type_error(&env, m))?;
        let options: Option<Object> = match options {
            Some(o) if !is_nothing(&o) => Some(object_arg(o, "options").map_err(|m| type_error(&env, m))?),
            _ => None,
        };
        let cwd = std::env::current_dir()
            .map_err(|e| napi::Error::from_reason(format!("cannot read the current directory: {e}")))?;
        let config = JsConfig::read(&config).map_err(|m| type_error(&env, m))?;
        let (options, hooks) = read_options(&env, options.as_ref(), &cwd).map_err(|m| type_error(&env, m))?;
        let sink = match &hooks.logger {
            Some(logger) => JsLogSink::host(&env, logger)?,
            None => JsLogSink::console(&env, options.console)?,
        };
        if let Some((msg, fields)) = custom_image_warning(&config.image) {
            log_now(&env, hooks.logger.as_ref(), options.console, Level::Warn, msg, fields)?;
        }
        let resolve_credential = match hooks.resolve_credential {
            Some(f) => Some(f.create_ref()?),
            None => None,
        };
        let runner = Runner::new(config.image.clone(), options.docker_host.clone(), Logger::new(Arc::new(sink)));
        Ok(Self { runner: Arc::new(runner), config, options, resolve_credential })
    }

    /// Overrides the configured image for runs started from now on.
    #[napi(ts_args_type = "image: string")]
    pub fn set_image(&self, env: Env, image: Unknown) -> Result<()> {
        let image = string_arg(image, "setImage(image)").map_err(|m| type_error(&env, m))?;
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
        let runner = self.runner.clone();
        env.spawn_future_with_callback(async move { Ok(runner.ensure_image().await) }, |env, done| {
            done.map_err(|e| to_js_error(env, e))
        })
    }

    /// Whether `spaceId` has a run in flight.
    #[napi(ts_args_type = "spaceId: string")]
    pub fn is_running(&self, env: Env, space_id: Unknown) -> Result<bool> {
        let space_id = string_arg(space_id, "isRunning(spaceId)").map_err(|m| type_error(&env, m))?;
        Ok(self.runner.registry().is_running(&space_id))
    }

    /// Force-removes every container labelled `mercury.managed=true` (but this
    /// runner's own runs in flight); resolves how many. Never rejects.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn cleanup_orphans<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, u32>> {
        let runner = self.runner.clone();
        env.spawn_future(async move { Ok(runner.cleanup_orphans().await as u32) })
    }

    /// Aborts every run in flight; returns at once.
    #[napi]
    pub fn kill_all(&self) {
        self.runner.kill_all();
    }

    /// The number of runs in flight.
    #[napi(getter)]
    pub fn active_count(&self) -> u32 {
        self.runner.registry().active_count() as u32
    }

    /// The spaces with a run in flight.
    #[napi]
    pub fn get_active_spaces(&self) -> Vec<String> {
        self.runner.registry().active_spaces()
    }

    /// Aborts the runs of `spaceId`: false when it has none. The container is
    /// killed in the background; `reply` rejects with `ContainerError.aborted`.
    #[napi(ts_args_type = "spaceId: string")]
    pub fn abort(&self, env: Env, space_id: Unknown) -> Result<bool> {
        let space_id = string_arg(space_id, "abort(spaceId)").map_err(|m| type_error(&env, m))?;
        Ok(self.runner.abort(&space_id))
    }

    /// Runs one agent turn. Rejects with a `ContainerError` when the container
    /// fails, times out or is aborted, a `TypeError` on bad input.
    #[napi(ts_args_type = "input: ReplyInput", ts_return_type = "Promise<ContainerResult>")]
    pub fn reply<'env>(&self, env: &'env Env, input: Unknown) -> Result<PromiseRaw<'env, ReplyResult>> {
        let (plan, ticket) = match self.plan(env, input) {
            Ok(planned) => planned,
            Err(err) => {
                return env.spawn_future_with_callback(async move { Ok(()) }, move |env, ()| Err(to_js_error(env, err)))
            }
        };
        let space_id = plan.request.space_id.clone();
        let run = self.runner.run(&ticket, plan);
        let guard = ticket.guard;
        env.spawn_future_with_callback(async move { Ok(run.await) }, move |env, report: RunReport| {
            let result = settle(report.result, &guard.control(), &space_id);
            if let Some(cleanup) = report.cleanup {
                // Best effort: without it the removal still happens, unless the process exits first.
                let _ = keep_alive_until(env, cleanup);
            }
            // The run leaves the registry exactly as its promise settles.
            drop(guard);
            result.map(ReplyResult::from).map_err(|e| to_js_error(env, e))
        })
    }
}

impl AgentContainerRunner {
    /// Everything read from JavaScript for one reply; the run is registered
    /// only once its input has proved usable.
    fn plan(&self, env: &Env, input: Unknown) -> std::result::Result<(ReplyPlan, RunTicket), RunError> {
        let invalid = RunError::InvalidInput;
        let cwd =
            std::env::current_dir().map_err(|e| RunError::Io(format!("cannot read the current directory: {e}")))?;
        let settings = self.config.settings(&cwd, self.runner.image(), &self.options).map_err(invalid)?;
        let spaces_dir = settings.spaces_dir.to_string_lossy().into_owned();
        let parsed = parse_input(env, input, &spaces_dir).map_err(invalid)?;
        let host_env = mercury_env(env).map_err(invalid)?;
        let credential = match &self.resolve_credential {
            None => CredentialSource::Builtin,
            Some(resolver) => {
                let request = json!({
                    "provider": settings.model_provider,
                    "authPath": settings.auth_path().to_string_lossy(),
                });
                let promise =
                    call_resolver(env, resolver, request).map_err(|e| RunError::Credential(e.reason.clone()))?;
                CredentialSource::Host(Box::pin(async move {
                    promise.await.map_err(|e| RunError::Credential(e.reason.clone()))
                }))
            }
        };
        let ticket = self.runner.begin(&parsed.request.space_id);
        let plan = ReplyPlan {
            settings,
            request: parsed.request,
            payload: parsed.payload,
            host_env,
            credential,
            container: ticket.container.clone(),
            number: ticket.number,
            started_ms: ticket.started_ms,
        };
        Ok((plan, ticket))
    }
}

/// `realm.callResolver(resolve, request)`: always a Promise of the token.
type CallResolver<'env> = Function<'env, FnArgs<(Function<'env, (), ()>, serde_json::Value)>, Promise<Option<String>>>;

fn call_resolver(
    env: &Env,
    resolver: &FunctionRef<(), ()>,
    request: serde_json::Value,
) -> Result<Promise<Option<String>>> {
    let resolve = resolver.borrow_back(env)?;
    let call: CallResolver = glue::func(env, "callResolver")?;
    call.call((resolve, request).into())
}

/// Keeps the event loop alive until `task` ends, so a host that exits right
/// after its last reply still sees the container removed.
fn keep_alive_until(env: &Env, task: tokio::task::JoinHandle<()>) -> Result<()> {
    let noop: Function<(), ()> = glue::func(env, "noop")?;
    let pin = noop.build_threadsafe_function::<()>().callee_handled::<false>().build_callback(|_| Ok(()))?;
    napi::bindgen_prelude::spawn(async move {
        let _ = task.await;
        drop(pin);
    });
    Ok(())
}
