//! One agent turn: folders, credential, container, output, outcome, outbox.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use super::credentials::{builtin_applies, builtin_credential, BuiltinCredential};
use super::engine::{output_chunks, Chunk, Engine, EngineError, PullEvent, QUICK_CALL};
use super::error::RunError;
use super::log::Logger;
use super::outbox::{now_ms, scan_outbox, EgressFile, MAX_OUTBOX_FILE_BYTES};
use super::outcome::{outcome, Ending};
use super::output::OutputScanner;
use super::pull_log::PullLog;
use super::registry::RunControl;
use super::spec::{
    container_env, container_mounts, container_name, container_spec, ContainerSpec, ReplyRequest, RunnerSettings,
};
use crate::fields;

/// How often a run takes a new name when the engine says its name is taken.
const MAX_RENAMES: u64 = 5;

/// How long a killed container may take to go away before the run gives up on it.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// The host's credential resolver, already called on the JavaScript thread.
pub type HostCredential = Pin<Box<dyn Future<Output = Result<Option<String>, RunError>> + Send>>;

/// Where the OAuth token comes from.
pub enum CredentialSource {
    /// The runner reads `auth.json` itself.
    Builtin,
    /// The host's `resolveCredential`, in flight.
    Host(HostCredential),
}

/// Everything one reply needs, taken from the JavaScript call.
pub struct ReplyPlan {
    pub settings: RunnerSettings,
    pub request: ReplyRequest,
    /// The agent's stdin: the input as `JSON.stringify` wrote it, already rewritten.
    pub payload: bytes::Bytes,
    /// The host process environment at the call.
    pub host_env: Vec<(String, String)>,
    pub credential: CredentialSource,
    /// The container's name, given when the run was registered.
    pub container: String,
    /// The `<n>` of the name, kept if the name must change.
    pub number: u64,
    /// `Date.now()` at the call: files older than this are not the agent's.
    pub started_ms: u64,
}

/// A successful turn, as the host receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerResult {
    pub reply: String,
    pub files: Vec<EgressFile>,
}

/// The result, and the container's removal, which goes on after the result is known.
pub struct RunReport {
    pub result: Result<ContainerResult, RunError>,
    pub cleanup: Option<JoinHandle<()>>,
}

/// A run aborted after its result was known still rejects as aborted, since
/// `abort` already told the host it would (a timeout keeps its precedence).
pub fn settle(
    result: Result<ContainerResult, RunError>,
    control: &RunControl,
    space_id: &str,
) -> Result<ContainerResult, RunError> {
    match result {
        Err(RunError::Timeout { .. }) | Err(RunError::Aborted { .. }) => result,
        _ if control.is_aborted() => Err(RunError::Aborted { space_id: space_id.to_owned() }),
        other => other,
    }
}

pub async fn run_reply(engine: Engine, log: Logger, control: Arc<RunControl>, plan: ReplyPlan) -> RunReport {
    let ReplyPlan { settings, request, payload, host_env, credential, container, number, started_ms } = plan;
    let space_id = request.space_id.clone();
    let mut log = log.with(fields!("spaceId" => space_id, "container" => container));

    let prepared = async {
        create_dirs(&settings).await?;
        let token = match credential {
            CredentialSource::Builtin => builtin_token(&log, &settings, &host_env).await,
            CredentialSource::Host(resolve) => resolve.await?,
        };
        let env = container_env(&settings, &request, &host_env, token.as_deref())?;
        let package_root = settings.package_root.locate();
        let mounts = container_mounts(&settings, package_root.as_deref(), |p: &Path| p.exists());
        Ok::<_, RunError>(container_spec(&settings, container.clone(), env, mounts))
    };
    // The host's credential resolver may take its time (or never answer): an abort must not wait for it.
    let prepared = tokio::select! {
        prepared = prepared => prepared,
        _ = control.aborted() => Err(RunError::Aborted { space_id: space_id.clone() }),
    };
    let mut spec = match prepared {
        Ok(spec) if !control.is_aborted() => spec,
        Ok(_) => return RunReport { result: Err(RunError::Aborted { space_id }), cleanup: None },
        Err(e) => return RunReport { result: Err(e), cleanup: None },
    };

    let started = Instant::now();
    let deadline = started + Duration::from_millis(settings.timeout_ms);
    let mut renames = 0;
    let id = loop {
        match create_pulling(&engine, &log, &spec, &control, deadline, &space_id).await {
            Ok(id) => break id,
            // Another runner (in this process or another) took the same `mercury-<ms>-<n>`: take a later millisecond.
            Err(NotCreated::Engine(EngineError::Conflict(_))) if renames < MAX_RENAMES => {
                renames += 1;
                tokio::time::sleep(Duration::from_millis(renames)).await;
                spec.name = container_name(now_ms(), number);
                control.rename(&spec.name);
                log = log.with(fields!("container" => spec.name));
            }
            Err(NotCreated::Engine(e)) => return refused(&log, started, e, None),
            Err(NotCreated::Stopped(e)) => return RunReport { result: Err(e), cleanup: None },
        }
    };
    let driven = drive(&engine, &log, &control, &id, payload, deadline).await;
    // Removal starts once the container has ended and runs beside the rest of the reply.
    let cleanup = spawn_removal(engine.clone(), log.clone(), id);
    let (ending, output) = match driven {
        Ok(done) => done,
        Err(e) => return refused(&log, started, e, Some(cleanup)),
    };
    log_end(&log, &ending, started);
    let result = match outcome(&space_id, ending, &output) {
        Ok(reply) => collect_outbox(&log, &request.space_workspace, started_ms)
            .await
            .map(|files| ContainerResult { reply, files }),
        Err(e) => Err(e),
    };
    RunReport { result, cleanup: Some(cleanup) }
}

async fn create_dirs(settings: &RunnerSettings) -> Result<(), RunError> {
    for dir in [&settings.global_dir, &settings.spaces_dir] {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| RunError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(())
}

async fn builtin_token(log: &Logger, settings: &RunnerSettings, host_env: &[(String, String)]) -> Option<String> {
    if !builtin_applies(&settings.model_provider, host_env) {
        return None;
    }
    let auth_path = settings.auth_path();
    let text = tokio::fs::read_to_string(&auth_path).await.ok();
    match builtin_credential(text.as_deref(), now_ms()) {
        BuiltinCredential::Token(token) => Some(token),
        BuiltinCredential::Expired => {
            log.warn(
                "Anthropic OAuth token expired; it cannot be refreshed without the host's credential resolver",
                fields!("authPath" => auth_path.to_string_lossy()),
            );
            None
        }
        BuiltinCredential::None => None,
    }
}

/// Why no container came to be.
enum NotCreated {
    Engine(EngineError),
    /// Aborted, or out of time, while the image was being pulled.
    Stopped(RunError),
}

/// Creates the container; a missing image is pulled first, as `docker run`
/// does. The pull gives way to an abort or the deadline.
async fn create_pulling(
    engine: &Engine,
    log: &Logger,
    spec: &ContainerSpec,
    control: &RunControl,
    deadline: Instant,
    space_id: &str,
) -> Result<String, NotCreated> {
    match engine.create(spec).await {
        Err(EngineError::NotFound(message)) if message.contains("image") => {
            log.info("Agent image not found locally, pulling...", fields!("image" => spec.image));
            let mut progress = PullLog::new(log.clone(), &spec.image);
            let pull = engine.pull(&spec.image, |event: PullEvent| progress.event(event));
            let space_id = space_id.to_owned();
            tokio::select! {
                pulled = pull => pulled.map_err(|e| {
                    NotCreated::Engine(EngineError::Failed(format!(
                        "Unable to find image '{}' locally\n{e}",
                        spec.image
                    )))
                })?,
                _ = control.aborted() => return Err(NotCreated::Stopped(RunError::Aborted { space_id })),
                _ = sleep_until(deadline) => {
                    log.warn("Container timeout, killing", fields!("event" => "container.timeout"));
                    return Err(NotCreated::Stopped(RunError::Timeout { space_id }));
                }
            }
            log.info("Agent image pulled successfully", fields!("image" => spec.image));
            engine.create(spec).await.map_err(NotCreated::Engine)
        }
        other => other.map_err(NotCreated::Engine),
    }
}

/// Attach, start, feed stdin, read output until the container ends, killing it
/// on abort or deadline.
async fn drive(
    engine: &Engine,
    log: &Logger,
    control: &RunControl,
    id: &str,
    payload: bytes::Bytes,
    deadline: Instant,
) -> Result<(Ending, OutputScanner), EngineError> {
    // Attach before start, so not a byte of output is missed.
    let attached = engine.attach(id).await?;
    engine.start(id).await?;
    log.info("Container started", fields!("event" => "container.start"));

    let mut input = attached.input;
    // Written beside the output loop: an agent may talk before it has read all its input.
    let writer = tokio::spawn(async move {
        // A container that exits without reading its input makes these fail; its exit code tells the story.
        let _ = input.write_all(&payload).await;
        let _ = input.shutdown().await;
    });

    let mut output = Box::pin(output_chunks(attached.output));
    let mut scanner = OutputScanner::default();
    let mut ending = Ending::default();
    let mut killed_at: Option<Instant> = None;
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(Chunk::Stdout(bytes))) => scanner.push_stdout(&bytes),
                Some(Ok(Chunk::Stderr(bytes))) => scanner.push_stderr(&bytes),
                // The stream ends when the container does (or the engine goes away).
                Some(Err(_)) | None => break,
            },
            _ = sleep_until(deadline), if killed_at.is_none() => {
                ending.timed_out = true;
                log.warn("Container timeout, killing", fields!("event" => "container.timeout"));
                kill(engine, log, id).await;
                killed_at = Some(Instant::now());
            },
            _ = control.aborted(), if killed_at.is_none() => {
                kill(engine, log, id).await;
                killed_at = Some(Instant::now());
            },
            _ = sleep_until(killed_at.map_or(deadline, |t| t + KILL_GRACE)), if killed_at.is_some() => {
                log.warn("Container did not stop after kill; giving up on its output", fields!());
                break;
            },
        }
    }
    writer.abort();

    ending.aborted = control.is_aborted();
    ending.exit_code = match tokio::time::timeout(QUICK_CALL, engine.wait_exit(id)).await {
        Ok(Ok(code)) => code,
        Ok(Err(e)) if killed_at.is_none() => return Err(e),
        Err(_) if killed_at.is_none() => {
            return Err(EngineError::Failed(format!("the engine did not report how {id} ended")))
        }
        // Killed by us: SIGKILL's code, whatever the engine now says.
        _ => 137,
    };
    if ending.exit_code == 137 {
        ending.oom_killed = engine.oom_killed(id).await.unwrap_or(false);
    }
    Ok((ending, scanner))
}

async fn kill(engine: &Engine, log: &Logger, id: &str) {
    if let Err(e) = engine.kill(id).await {
        log.warn("Failed to kill container", fields!("error" => e.to_string()));
    }
}

/// How long removal keeps retrying while the engine is unreachable (it may be restarting).
const REMOVAL_RETRIES: [Duration; 6] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];

/// Removes the container in the background. The returned task is the first
/// attempt only (at most 10 s); if the engine is unreachable or slow, retries
/// go on detached, so a host that is shutting down is not held up by an
/// engine that is down.
fn spawn_removal(engine: Engine, log: Logger, id: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        match tokio::time::timeout(QUICK_CALL, engine.remove(&id)).await {
            Ok(Ok(())) => {}
            // Unreachable, or not answering: keep trying, but no longer on the host's time.
            Ok(Err(EngineError::Unreachable { .. })) | Err(_) => {
                tokio::spawn(retry_removal(engine, log, id));
            }
            Ok(Err(e)) => log.warn("Failed to remove container", fields!("error" => e.to_string())),
        }
    })
}

async fn retry_removal(engine: Engine, log: Logger, id: String) {
    let mut last = None;
    for pause in REMOVAL_RETRIES {
        tokio::time::sleep(pause).await;
        match engine.remove(&id).await {
            Ok(()) => return,
            Err(e @ EngineError::Unreachable { .. }) => last = Some(e),
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    if let Some(e) = last {
        log.warn("Failed to remove container; cleanupOrphans will remove it", fields!("error" => e.to_string()));
    }
}

/// The engine refused the container, or was lost: the CLI's exit code 125.
fn refused(log: &Logger, started: Instant, err: EngineError, cleanup: Option<JoinHandle<()>>) -> RunReport {
    log.error(
        "Container exited",
        fields!(
            "event" => "container.end",
            "exitCode" => 125,
            "durationMs" => started.elapsed().as_millis() as u64,
            "reason" => "error",
        ),
    );
    RunReport { result: Err(RunError::Engine(err.to_string())), cleanup }
}

fn log_end(log: &Logger, ending: &Ending, started: Instant) {
    let duration_ms = started.elapsed().as_millis() as u64;
    let base = fields!("event" => "container.end", "exitCode" => ending.exit_code, "durationMs" => duration_ms);
    let with_reason = |reason: &str| {
        let mut f = base.clone();
        f.insert("reason".into(), reason.into());
        f
    };
    if ending.timed_out {
        log.warn("Container exited", with_reason("timeout"));
    } else if ending.aborted {
        log.info("Container exited", with_reason("aborted"));
    } else if ending.exit_code == 137 {
        log.error("Container exited", with_reason("oom"));
    } else if ending.exit_code != 0 {
        log.error("Container exited", with_reason("error"));
    } else {
        log.info("Container exited", base);
    }
}

async fn collect_outbox(log: &Logger, workspace: &str, since_ms: u64) -> Result<Vec<EgressFile>, RunError> {
    let outbox = Path::new(workspace).join("outbox");
    let shown = outbox.display().to_string();
    let scan = tokio::task::spawn_blocking(move || scan_outbox(&outbox, since_ms))
        .await
        .map_err(|e| RunError::Io(format!("outbox scan of {shown} failed: {e}")))?
        .map_err(|e| RunError::Io(format!("cannot read {shown}: {e}")))?;
    for big in &scan.oversized {
        log.warn(
            "Outbox file exceeds max size, skipping",
            fields!("path" => big.path, "sizeBytes" => big.size_bytes, "maxSizeBytes" => MAX_OUTBOX_FILE_BYTES),
        );
    }
    Ok(scan.files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registry::Registry;

    fn ok() -> Result<ContainerResult, RunError> {
        Ok(ContainerResult { reply: "r".into(), files: vec![] })
    }

    #[test]
    fn an_abort_after_the_result_still_rejects_as_aborted() {
        let reg = Registry::default();
        let guard = reg.register("s", "c");
        assert_eq!(settle(ok(), &guard.control(), "s"), ok());
        reg.abort("s");
        assert_eq!(settle(ok(), &guard.control(), "s"), Err(RunError::Aborted { space_id: "s".into() }));
        let failed = Err(RunError::Failed { exit_code: 1, output: "x".into() });
        assert_eq!(settle(failed, &guard.control(), "s"), Err(RunError::Aborted { space_id: "s".into() }));
        let timeout = Err(RunError::Timeout { space_id: "s".into() });
        assert_eq!(settle(timeout.clone(), &guard.control(), "s"), timeout);
    }
}
