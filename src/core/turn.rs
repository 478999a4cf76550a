//! One agent turn: folders, credential, container, output, outcome, outbox.
//! Its log lines are `tracing` events inside the turn's span (`spaceId`, `container`).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tracing::instrument::WithSubscriber;
use tracing::Instrument;

use super::clock::now_ms;
use super::config::RunnerSettings;
use super::credentials::{builtin_applies, builtin_credential, BuiltinCredential};
use super::engine::{output_chunks, Chunk, Engine, EngineError};
use super::error::RunError;
use super::outbox::{scan_outbox, EgressFile, MAX_OUTBOX_FILE_BYTES};
use super::outcome::{outcome, Ending};
use super::output::OutputScanner;
use super::registry::RunControl;
use super::spec::{container_env, container_mounts, container_name, container_spec, ContainerSpec, ReplyRequest};

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

/// Everything one turn needs, taken from the `reply` call.
pub struct TurnPlan {
    pub settings: RunnerSettings,
    pub request: ReplyRequest,
    /// The agent's stdin: the input as `JSON.stringify` wrote it, already rewritten.
    pub payload: bytes::Bytes,
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
pub struct TurnReport {
    pub result: Result<ContainerResult, RunError>,
    pub removal: Option<JoinHandle<()>>,
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

/// Runs one turn inside the current span (the caller's `spaceId`/`container` span).
pub async fn run_turn(engine: Engine, control: Arc<RunControl>, plan: TurnPlan) -> TurnReport {
    let TurnPlan { settings, request, payload, credential, container, number, started_ms } = plan;
    let space_id = request.space_id.clone();

    let prepared = async {
        create_dirs(&settings).await?;
        let token = match credential {
            CredentialSource::Builtin => builtin_token(&settings, &request.host_env).await,
            CredentialSource::Host(resolve) => resolve.await?,
        };
        let env = container_env(&settings, &request, token.as_deref())?;
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
        Ok(_) => return TurnReport { result: Err(RunError::Aborted { space_id }), removal: None },
        Err(e) => return TurnReport { result: Err(e), removal: None },
    };

    let started = Instant::now();
    let deadline = started + Duration::from_millis(settings.timeout_ms);
    let mut renames = 0;
    let id = loop {
        match create_pulling(&engine, &spec, &control, deadline, &space_id).await {
            Ok(id) => break id,
            // Another runner (in this process or another) took the same `mercury-<ms>-<n>`: take a later millisecond.
            Err(NotCreated::Engine(EngineError::Conflict(_))) if renames < MAX_RENAMES => {
                renames += 1;
                tokio::time::sleep(Duration::from_millis(renames)).await;
                spec.name = container_name(now_ms(), number);
                control.rename(&spec.name);
                tracing::Span::current().record("container", spec.name.as_str());
            }
            Err(NotCreated::Engine(e)) => return refused(started, e, None),
            Err(NotCreated::Stopped(e)) => return TurnReport { result: Err(e), removal: None },
        }
    };
    let driven = drive(&engine, &control, &id, payload, deadline).await;
    // Removal starts once the container has ended and runs beside the rest of the reply.
    let removal = spawn_removal(engine.clone(), id);
    let (ending, output) = match driven {
        Ok(done) => done,
        Err(e) => return refused(started, e, Some(removal)),
    };
    log_end(&ending, started);
    let result = match outcome(&space_id, ending, &output) {
        Ok(reply) => {
            collect_outbox(&request.space_workspace, started_ms).await.map(|files| ContainerResult { reply, files })
        }
        Err(e) => Err(e),
    };
    TurnReport { result, removal: Some(removal) }
}

async fn create_dirs(settings: &RunnerSettings) -> Result<(), RunError> {
    for dir in [&settings.global_dir, &settings.spaces_dir] {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| RunError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(())
}

async fn builtin_token(settings: &RunnerSettings, host_env: &[(String, String)]) -> Option<String> {
    if !builtin_applies(&settings.model_provider, host_env) {
        return None;
    }
    let auth_path = settings.auth_path();
    let text = tokio::fs::read_to_string(&auth_path).await.ok();
    match builtin_credential(text.as_deref(), now_ms()) {
        BuiltinCredential::Token(token) => Some(token),
        BuiltinCredential::Expired => {
            tracing::warn!(
                authPath = %auth_path.display(),
                "Anthropic OAuth token expired; it cannot be refreshed without the host's credential resolver"
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

/// Creates the container; a missing image (the engine's 404 to a create) is
/// pulled first, as `docker run` does. The pull gives way to an abort or the deadline.
async fn create_pulling(
    engine: &Engine,
    spec: &ContainerSpec,
    control: &RunControl,
    deadline: Instant,
    space_id: &str,
) -> Result<String, NotCreated> {
    match engine.create(spec).await {
        Err(EngineError::NotFound(_)) => {
            let space_id = space_id.to_owned();
            tokio::select! {
                pulled = engine.pull(&spec.image) => pulled.map_err(|e| {
                    NotCreated::Engine(EngineError::Failed(format!(
                        "Unable to find image '{}' locally\n{e}",
                        spec.image
                    )))
                })?,
                _ = control.aborted() => return Err(NotCreated::Stopped(RunError::Aborted { space_id })),
                _ = sleep_until(deadline) => {
                    tracing::warn!(event = "container.timeout", "Container timeout, killing");
                    return Err(NotCreated::Stopped(RunError::Timeout { space_id }));
                }
            }
            engine.create(spec).await.map_err(NotCreated::Engine)
        }
        other => other.map_err(NotCreated::Engine),
    }
}

/// Attach, start, feed stdin, read output until the container ends, killing it
/// on abort or deadline.
async fn drive(
    engine: &Engine,
    control: &RunControl,
    id: &str,
    payload: bytes::Bytes,
    deadline: Instant,
) -> Result<(Ending, OutputScanner), EngineError> {
    // Attach before start, so not a byte of output is missed.
    let attached = engine.attach(id).await?;
    engine.start(id).await?;
    tracing::info!(event = "container.start", "Container started");

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
                tracing::warn!(event = "container.timeout", "Container timeout, killing");
                kill(engine, id).await;
                killed_at = Some(Instant::now());
            },
            _ = control.aborted(), if killed_at.is_none() => {
                kill(engine, id).await;
                killed_at = Some(Instant::now());
            },
            _ = sleep_until(killed_at.map_or(deadline, |t| t + KILL_GRACE)), if killed_at.is_some() => {
                tracing::warn!("Container did not stop after kill; giving up on its output");
                break;
            },
        }
    }
    writer.abort();

    ending.aborted = control.is_aborted();
    ending.exit_code = match engine.wait_exit(id).await {
        Ok(code) => code,
        Err(e) if killed_at.is_none() => return Err(e),
        // Killed by us: SIGKILL's code, whatever the engine now says.
        Err(_) => 137,
    };
    if ending.exit_code == 137 {
        ending.oom_killed = engine.oom_killed(id).await.unwrap_or(false);
    }
    Ok((ending, scanner))
}

async fn kill(engine: &Engine, id: &str) {
    if let Err(e) = engine.kill(id).await {
        tracing::warn!(error = %e, "Failed to kill container");
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

/// Removes the container in the background, in the turn's span. The returned
/// task is the first attempt only (bounded by the engine's removal bound); if
/// the engine is unreachable or slow, retries go on detached, so a host that is
/// shutting down is not held up by an engine that is down.
fn spawn_removal(engine: Engine, id: String) -> JoinHandle<()> {
    let first = async move {
        match engine.remove(&id).await {
            Ok(()) => {}
            // Unreachable, or not answering: keep trying, but no longer on the host's time.
            Err(EngineError::Unreachable { .. } | EngineError::TimedOut { .. }) => {
                tokio::spawn(retry_removal(engine, id).in_current_span().with_current_subscriber());
            }
            Err(e) => tracing::warn!(error = %e, "Failed to remove container"),
        }
    };
    tokio::spawn(first.in_current_span().with_current_subscriber())
}

async fn retry_removal(engine: Engine, id: String) {
    let mut last = None;
    for pause in REMOVAL_RETRIES {
        tokio::time::sleep(pause).await;
        match engine.remove(&id).await {
            Ok(()) => return,
            Err(e @ (EngineError::Unreachable { .. } | EngineError::TimedOut { .. })) => last = Some(e),
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    if let Some(e) = last {
        tracing::warn!(error = %e, "Failed to remove container; cleanupOrphans will remove it");
    }
}

/// The engine refused the container, or was lost: the CLI's exit code 125.
fn refused(started: Instant, err: EngineError, removal: Option<JoinHandle<()>>) -> TurnReport {
    tracing::error!(
        event = "container.end",
        exitCode = 125_i64,
        durationMs = duration_ms(started),
        reason = "error",
        "Container exited"
    );
    TurnReport { result: Err(RunError::Engine(err.to_string())), removal }
}

fn duration_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn log_end(ending: &Ending, started: Instant) {
    let (exit_code, duration_ms) = (ending.exit_code, duration_ms(started));
    macro_rules! exited {
        ($level:ident, $reason:literal) => {
            tracing::$level!(
                event = "container.end",
                exitCode = exit_code,
                durationMs = duration_ms,
                reason = $reason,
                "Container exited"
            )
        };
    }
    if ending.timed_out {
        exited!(warn, "timeout");
    } else if ending.aborted {
        exited!(info, "aborted");
    } else if exit_code == 137 {
        exited!(error, "oom");
    } else if exit_code != 0 {
        exited!(error, "error");
    } else {
        tracing::info!(event = "container.end", exitCode = exit_code, durationMs = duration_ms, "Container exited");
    }
}

async fn collect_outbox(workspace: &str, since_ms: u64) -> Result<Vec<EgressFile>, RunError> {
    let outbox = Path::new(workspace).join("outbox");
    let shown = outbox.display().to_string();
    let scan = tokio::task::spawn_blocking(move || scan_outbox(&outbox, since_ms))
        .await
        .map_err(|e| RunError::Io(format!("outbox scan of {shown} failed: {e}")))?
        .map_err(|e| RunError::Io(format!("cannot read {shown}: {e}")))?;
    for big in &scan.oversized {
        tracing::warn!(
            path = big.path.as_str(),
            sizeBytes = big.size_bytes,
            maxSizeBytes = MAX_OUTBOX_FILE_BYTES,
            "Outbox file exceeds max size, skipping"
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
