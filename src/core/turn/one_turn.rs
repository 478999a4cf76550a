//! One agent turn, step by step: prepare (folders, credential, spec), claim a
//! standby or create a container, drive it (stdin, output, exit), conclude
//! (outcome, outbox). Its log lines are `tracing` events inside the turn's
//! span (`spaceId`, `container`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tracing::instrument::WithSubscriber;
use tracing::Instrument;

use super::config::RunnerSettings;
use super::create::{create_pulling, NotRun};
use super::credential::CredentialSource;
use super::folders::{agent_dir_view, create_dirs};
use super::outcome::{outcome_text, Ending};
use super::plain_sources::PlainSources;
use super::removals::Removals;
use super::runs::RunControl;
use super::spec::{container_env, container_mounts, container_name, container_spec, ReplyRequest};
use super::standby::{Claimed, Miss, Next, Standbys};
use super::stop::{Stop, Stopped};
use crate::core::bounds::SETTLE_GRACE;
use crate::core::clock::now_ms;
use crate::core::egress::sidecar::Egress;
use crate::core::engine::client::{Chunk, Engine, EngineError, Input, Output};
use crate::core::engine::container::ContainerSpec;
use crate::core::error::{RunError, ENGINE_EXIT_CODE, KILLED_EXIT_CODE};
use crate::core::untrusted::outbox::{scan_outbox_since, EgressFile, MAX_OUTBOX_FILE_BYTES};
use crate::core::untrusted::outbox_since::{self, Since};
use crate::core::untrusted::output::OutputScanner;
pub(crate) use crate::core::untrusted::result_json::ReplyText;

/// How often a run takes a new name when the engine says its name is taken.
const MAX_RENAMES: u64 = 5;

/// Everything one turn needs, taken from the `reply` call.
pub(crate) struct TurnPlan {
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
    /// When `reply` was called: the deadline and `durationMs` count from here.
    pub called: Instant,
    /// The runner's standbys, when `options.standby` is on: the turn claims its space's if the spec matches.
    pub standbys: Option<Standbys>,
    /// The runner's removals under way, which process exit finishes.
    pub removals: Removals,
    /// `options.egress`: the turn's agent goes behind the runner's proxy sidecar.
    pub egress: Option<Arc<Egress>>,
}

/// A successful turn, as the host receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerResult {
    pub reply: ReplyText,
    pub files: Vec<EgressFile>,
}

/// The result, and the container's removal, which goes on after the result is known.
pub(crate) struct TurnReport {
    pub result: Result<ContainerResult, RunError>,
    pub removal: Option<JoinHandle<()>>,
    /// The spec the turn's container ran with, and what the turn checked of its
    /// mounts, when it ran to its own end (not killed on abort or deadline):
    /// what a standby of the space is prepared from.
    pub next: Option<Next>,
}

/// A run aborted after its result was known still rejects as aborted, since
/// `abort` already told the host it would (a timeout keeps its precedence).
pub(crate) fn settle(
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
pub(crate) async fn run_turn(engine: Engine, control: Arc<RunControl>, plan: TurnPlan) -> TurnReport {
    let TurnPlan {
        settings,
        request,
        payload,
        credential,
        container,
        number,
        started_ms,
        called,
        standbys,
        removals,
        egress,
    } = plan;
    // The deadline runs from the `reply` call: the credential, a pull and the container's setup all count.
    let deadline = called + Duration::from_millis(settings.timeout_ms);
    let turn = Turn {
        engine: &engine,
        stop: Stop { control: &control, deadline, removals: &removals },
        settings: &settings,
        request: &request,
        called,
    };

    // The host's credential resolver may take its time (or never answer): a stop must not wait for it.
    let (spec, sources) = match turn.stop.race(turn.prepare(&credential, container, egress.as_deref())).await {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(e)) => return TurnReport { result: Err(e), removal: None, next: None },
        Err(stopped) => return turn.stopped_before_start(stopped, None),
    };
    let next = Next { spec, sources };
    // A standby of this space with the same spec (the name aside) serves this turn instead of a new container.
    let claiming = standbys.as_ref().and_then(|standbys| standbys.claim(&request.space_id, &next.spec));
    if let Some(claiming) = claiming {
        // Biased: a standby handed over is never dropped unused here (dropped, it would be removed, but not used).
        let claimed = tokio::select! {
            biased;
            claimed = claiming.claimed() => claimed,
            _ = control.aborted() => return turn.stopped_before_start(Stopped::Aborted, None),
            _ = sleep_until(deadline) => return turn.stopped_before_start(Stopped::TimedOut, None),
        };
        match claimed {
            Some(claimed) => return turn.finish_claimed(claimed, now_ms(), payload, next).await,
            None => tracing::debug!(reason = %Miss::Gone, "Standby not used"),
        }
    }
    turn.run_cold(next, number, Since::from_ms(started_ms), payload).await
}

/// One turn's context: what every step reads, borrowed for the turn's length.
struct Turn<'a> {
    engine: &'a Engine,
    stop: Stop<'a>,
    settings: &'a RunnerSettings,
    request: &'a ReplyRequest,
    /// When `reply` was called: `durationMs` counts from here.
    called: Instant,
}

impl Turn<'_> {
    /// Folders, credential, environment and mounts: the container's spec, and
    /// what was checked of the mounts' sources (a standby rechecks them).
    async fn prepare(
        &self,
        credential: &CredentialSource,
        name: String,
        egress: Option<&Egress>,
    ) -> Result<(ContainerSpec, PlainSources), RunError> {
        let (settings, request) = (self.settings, self.request);
        create_dirs(settings, request).await?;
        let token = credential.token(settings, &request.host_env).await?;
        let agent_dir = agent_dir_view(settings, request).await?;
        let env = container_env(settings, request, token.as_deref())?;
        let package_root = settings.package_root.locate();
        let mounts = container_mounts(settings, request, &agent_dir, package_root.as_deref(), |p: &Path| p.exists())?;
        let sources = PlainSources::of_turn(settings, &request.space_id, &agent_dir)?;
        let mut spec = container_spec(settings, name, env, mounts);
        if let Some(egress) = egress {
            egress.apply(&mut spec, &request.space_id, &settings.port).await?;
        }
        Ok((spec, sources))
    }

    /// A new container: created (under a later name if the engine says the
    /// name is taken), driven to its end, then concluded.
    async fn run_cold(&self, mut next: Next, number: u64, since: Since, payload: bytes::Bytes) -> TurnReport {
        let mut renames = 0;
        let id = loop {
            match create_pulling(self.engine, &next.spec, &self.stop).await {
                Ok(id) => break id,
                // Another runner (in this process or another) took the same `mercury-<ms>-<n>`: take a later millisecond.
                Err(NotRun::Engine(EngineError::Conflict(_))) if renames < MAX_RENAMES => {
                    renames += 1;
                    tokio::time::sleep(Duration::from_millis(renames)).await;
                    next.spec.name = container_name(now_ms(), number);
                    self.stop.control.rename(&next.spec.name);
                    tracing::Span::current().record("container", next.spec.name.as_str());
                }
                Err(NotRun::Engine(e)) => return self.refused(e, None),
                Err(NotRun::Stopped(stopped)) => return self.stopped_before_start(stopped, None),
            }
        };
        let driven = drive(self.engine, &self.stop, &id, payload).await;
        // Removal starts once the container has ended (or was never started) and runs beside the rest of the reply.
        let removal = self.stop.removals.remove(self.engine.clone(), id);
        match driven {
            Ok((ending, output)) => self.conclude(ending, output, next, since, removal).await,
            Err(NotRun::Engine(e)) => self.refused(e, Some(removal)),
            Err(NotRun::Stopped(stopped)) => self.stopped_before_start(stopped, Some(removal)),
        }
    }

    /// A claimed standby: the container runs already, so the turn writes its
    /// payload and reads on. Its files are those written since the claim (see
    /// [`outbox_since`]: the outbox as it was at the claim is noted first).
    async fn finish_claimed(&self, claimed: Claimed, claimed_ms: u64, payload: bytes::Bytes, next: Next) -> TurnReport {
        // From here the turn's lines, and abort or exit cleanup, name the standby's container.
        self.stop.control.rename(&claimed.name);
        tracing::Span::current().record("container", claimed.name.as_str());
        tracing::debug!("Standby claimed");
        let since = {
            let spaces_dir = self.settings.spaces_dir.clone();
            let workspace = PathBuf::from(&self.request.space_workspace);
            let at_claim = tokio::task::spawn_blocking(move || outbox_since::snapshot(&spaces_dir, &workspace)).await;
            // Without the snapshot (it could not be taken), the window from the claim alone decides.
            at_claim.map_or(Since::from_ms(claimed_ms), |at_claim| Since::claimed(claimed_ms, at_claim))
        };
        let id = claimed.id.clone();
        let Some((input, output, scanner)) = claimed.take() else {
            return self.refused(EngineError::Failed("the standby had no streams".into()), None);
        };
        tracing::info!(event = "container.start", standby = true, "Container started");
        let read = feed_and_read(self.engine, &self.stop, &id, input, output, scanner, payload).await;
        let removal = self.stop.removals.remove(self.engine.clone(), id);
        match read {
            Ok((ending, output)) => self.conclude(ending, output, next, since, removal).await,
            Err(e) => self.refused(e, Some(removal)),
        }
    }

    /// The end of a turn whose container ran: the log line, the outcome, the outbox.
    async fn conclude(
        &self,
        ending: Ending,
        mut output: OutputScanner,
        next: Next,
        since: Since,
        removal: JoinHandle<()>,
    ) -> TurnReport {
        let request = self.request;
        log_end(&ending, self.called);
        let result = match outcome_text(&request.space_id, ending, &mut output) {
            Ok(reply) => {
                let collecting = collect_outbox(self.settings.spaces_dir.clone(), &request.space_workspace, since);
                match self.stop.first(collecting).await {
                    Ok(files) => files.map(|files| ContainerResult { reply, files }),
                    Err(why) => Err(outbox_cut_short(why, &request.space_id)),
                }
            }
            Err(e) => Err(e),
        };
        // A container the runner killed says nothing about the space's next one.
        let next = (!ending.timed_out && !ending.aborted).then_some(next);
        TurnReport { result, removal: Some(removal), next }
    }

    /// A turn stopped before its container started: it never starts (a created
    /// one is being removed), and it settles with the same lines as a killed one.
    fn stopped_before_start(&self, stopped: Stopped, removal: Option<JoinHandle<()>>) -> TurnReport {
        let space_id = self.request.space_id.clone();
        let ending = Ending {
            exit_code: KILLED_EXIT_CODE,
            timed_out: stopped == Stopped::TimedOut,
            aborted: stopped == Stopped::Aborted,
            oom_killed: false,
        };
        if ending.timed_out {
            tracing::warn!(event = "container.timeout", "Container timeout, killing");
        }
        log_end(&ending, self.called);
        let result = match stopped {
            Stopped::Aborted => Err(RunError::Aborted { space_id }),
            Stopped::TimedOut => Err(RunError::Timeout { space_id }),
        };
        TurnReport { result, removal, next: None }
    }

    /// The engine refused the container, or was lost: the CLI's exit code 125.
    fn refused(&self, err: EngineError, removal: Option<JoinHandle<()>>) -> TurnReport {
        tracing::error!(
            event = "container.end",
            exitCode = ENGINE_EXIT_CODE,
            durationMs = duration_ms(self.called),
            reason = "error",
            "Container exited"
        );
        TurnReport { result: Err(RunError::Engine(err)), removal, next: None }
    }
}

/// The outbox was not read by the deadline or an abort: the turn settles as
/// that stop (the scan, on a blocking thread, ends by itself).
fn outbox_cut_short(why: Stopped, space_id: &str) -> RunError {
    tracing::warn!(reason = ?why, "Outbox not read before the deadline or an abort; the turn settles without it");
    match why {
        Stopped::Aborted => RunError::Aborted { space_id: space_id.to_owned() },
        Stopped::TimedOut => RunError::Timeout { space_id: space_id.to_owned() },
    }
}

/// Attach, start, feed stdin, read output until the container ends, killing it
/// on abort or deadline. A stop seen before the start leaves it unstarted.
async fn drive(
    engine: &Engine,
    stop: &Stop<'_>,
    id: &str,
    payload: bytes::Bytes,
) -> Result<(Ending, OutputScanner), NotRun> {
    // Checked after the create, after the attach, and right before the start.
    if let Some(stopped) = stop.now() {
        return Err(NotRun::Stopped(stopped));
    }
    // Attach before start, so not a byte of output is missed. Both give way to a
    // stop; a start the engine carries out after that is undone by the removal.
    let attached = stop.first(engine.attach(id)).await.map_err(NotRun::Stopped)??;
    if let Some(stopped) = stop.now() {
        return Err(NotRun::Stopped(stopped));
    }
    stop.first(engine.start(id)).await.map_err(NotRun::Stopped)??;
    tracing::info!(event = "container.start", "Container started");
    Ok(feed_and_read(engine, stop, id, attached.input, attached.output, OutputScanner::default(), payload).await?)
}

/// Writes the payload to a running container and reads its output until it
/// ends, killing it on abort or deadline; then its exit code.
async fn feed_and_read(
    engine: &Engine,
    stop: &Stop<'_>,
    id: &str,
    mut input: Input,
    mut output: Output,
    mut scanner: OutputScanner,
    payload: bytes::Bytes,
) -> Result<(Ending, OutputScanner), EngineError> {
    let (control, deadline) = (stop.control, stop.deadline);
    // Written beside the output loop: an agent may talk before it has read all its input.
    let writer = tokio::spawn(async move {
        // A container that exits without reading its input makes these fail; its exit code tells the story.
        let _ = input.write_all(&payload).await;
        let _ = input.shutdown().await;
    });

    let mut ending = Ending::default();
    // When the deadline or an abort came: from then the turn has SETTLE_GRACE left.
    let mut stopped_at: Option<Instant> = None;
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(Chunk::Stdout(bytes))) => scanner.push_stdout(&bytes),
                Some(Ok(Chunk::Stderr(bytes))) => scanner.push_stderr(&bytes),
                // The stream ends when the container does (or the engine goes away).
                Some(Err(_)) | None => break,
            },
            _ = sleep_until(deadline), if stopped_at.is_none() => {
                stopped_at = Some(stopped(&mut ending, Stopped::TimedOut, engine, id));
            },
            _ = control.aborted(), if stopped_at.is_none() => {
                stopped_at = Some(stopped(&mut ending, Stopped::Aborted, engine, id));
            },
            _ = sleep_until(stopped_at.map_or(deadline, |t| t + SETTLE_GRACE)), if stopped_at.is_some() => {
                tracing::warn!("Container did not stop after kill; giving up on its output");
                break;
            },
        }
    }
    writer.abort();

    // Its exit status: by the stop's grace once stopped, else given up at a stop.
    ending.exit_code = match stopped_at {
        // Killed by us: SIGKILL's code, whatever the engine says or if it says nothing in time.
        Some(at) => tokio::time::timeout_at(at + SETTLE_GRACE, engine.wait_exit(id))
            .await
            .map_or(KILLED_EXIT_CODE, |code| code.unwrap_or(KILLED_EXIT_CODE)),
        None => match stop.first(engine.wait_exit(id)).await {
            Ok(code) => code?,
            Err(why) => {
                stopped(&mut ending, why, engine, id);
                KILLED_EXIT_CODE
            }
        },
    };
    ending.aborted |= control.is_aborted();
    // The engine's OOM verdict matters only to a turn neither timed out nor aborted (those take precedence).
    if ending.exit_code == KILLED_EXIT_CODE && !ending.timed_out && !ending.aborted {
        match stop.first(engine.oom_killed(id)).await {
            Ok(verdict) => ending.oom_killed = verdict.unwrap_or(false),
            Err(why) => {
                stopped(&mut ending, why, engine, id);
            }
        }
    }
    Ok((ending, scanner))
}

/// The turn is stopped while its container may run: the line a timeout
/// writes, and a kill that goes on in the background (a kill the engine does
/// not answer must not hold the reply; the removal kills it too). Returns when.
fn stopped(ending: &mut Ending, why: Stopped, engine: &Engine, id: &str) -> Instant {
    match why {
        Stopped::TimedOut => {
            ending.timed_out = true;
            tracing::warn!(event = "container.timeout", "Container timeout, killing");
        }
        Stopped::Aborted => ending.aborted = true,
    }
    let (engine, id) = (engine.clone(), id.to_owned());
    let kill = async move {
        if let Err(e) = engine.kill(&id).await {
            tracing::warn!(error = %e, "Failed to kill container");
        }
    };
    tokio::spawn(kill.in_current_span().with_current_subscriber());
    Instant::now()
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
    } else if exit_code == KILLED_EXIT_CODE {
        exited!(error, "oom");
    } else if exit_code != 0 {
        exited!(error, "error");
    } else {
        tracing::info!(event = "container.end", exitCode = exit_code, durationMs = duration_ms, "Container exited");
    }
}

/// The files the agent left in `<workspace>/outbox`, as private copies. What
/// the scan refused or left out is logged; the turn goes on, since the agent
/// controls the outbox.
async fn collect_outbox(spaces_dir: PathBuf, workspace: &str, since: Since) -> Result<Vec<EgressFile>, RunError> {
    let workspace = PathBuf::from(workspace);
    let outbox = workspace.join("outbox");
    // Off the host's thread: the scan copies each file it returns (see outbox_copy).
    let copies = crate::core::untrusted::outbox_copy::global();
    let scan = tokio::task::spawn_blocking(move || {
        scan_outbox_since(&spaces_dir, &workspace, &since, now_ms(), MAX_OUTBOX_FILE_BYTES, copies)
    })
    .await
    .map_err(|e| RunError::Io(format!("outbox scan of {} failed: {e}", outbox.display())))?;
    scan.log_warnings(&outbox.display().to_string(), MAX_OUTBOX_FILE_BYTES);
    Ok(scan.files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::turn::runs::Runs;

    fn ok() -> Result<ContainerResult, RunError> {
        Ok(ContainerResult { reply: ReplyText::Utf8("r".into()), files: vec![] })
    }

    #[test]
    fn an_abort_after_the_result_still_rejects_as_aborted() {
        let runs = Runs::default();
        let guard = runs.register("s", "c");
        assert_eq!(settle(ok(), &guard.control(), "s"), ok());
        runs.abort("s");
        assert_eq!(settle(ok(), &guard.control(), "s"), Err(RunError::Aborted { space_id: "s".into() }));
        let failed = Err(RunError::Failed { exit_code: 1, output: "x".into() });
        assert_eq!(settle(failed, &guard.control(), "s"), Err(RunError::Aborted { space_id: "s".into() }));
        let timeout = Err(RunError::Timeout { space_id: "s".into() });
        assert_eq!(settle(timeout.clone(), &guard.control(), "s"), timeout);
    }
}
