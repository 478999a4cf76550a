//! One agent turn: folders, credential, container, output, outcome, outbox.
//! Its log lines are `tracing` events inside the turn's span (`spaceId`, `container`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tracing::instrument::WithSubscriber;
use tracing::Instrument;

use super::agent_dir::{self, auth_path_writable_by_agents, sessions_folder, AgentDirView};
use super::config::RunnerSettings;
use super::outcome::{outcome_text, Ending};
use super::plain_sources::{not_plain_folder, PlainSources};
use super::removals::Removals;
use super::runs::RunControl;
use super::spec::{container_env, container_mounts, container_name, container_spec, space_folder, ReplyRequest};
use super::standby::{Claimed, Input, Miss, Next, Output, Standbys};
use crate::core::clock::now_ms;
use crate::core::engine::client::{output_chunks, Chunk, Engine, EngineError};
use crate::core::engine::container::ContainerSpec;
use crate::core::error::RunError;
use crate::core::untrusted::auth_json::{
    builtin_applies, builtin_credential, read_auth_file, AuthFile, BuiltinCredential,
};
use crate::core::untrusted::outbox::{
    scan_outbox_since, EgressFile, MAX_OUTBOX_ENTRIES_EXAMINED, MAX_OUTBOX_FILE_BYTES, NOT_EXAMINED_LINE,
    OVERSIZED_LINE, REFUSED_LINE, SKIPPED_LINE,
};
use crate::core::untrusted::outbox_since::{self, Since};
use crate::core::untrusted::output::OutputScanner;
pub(crate) use crate::core::untrusted::result_json::ReplyText;

/// How often a run takes a new name when the engine says its name is taken.
const MAX_RENAMES: u64 = 5;

/// After its deadline or an abort, how long a turn may still wait for the
/// engine (the kill, the container's end, its exit status) before it settles
/// anyway. Every other call of a turn gives way to the deadline or the abort
/// at once, so a reply settles within its deadline (or its abort) plus this,
/// whatever the engine does; what the engine still owes (a kill, a create,
/// the removal) goes on in the background.
pub(crate) const SETTLE_GRACE: Duration = Duration::from_secs(5);

/// The host's credential resolver (`resolveCredential`), called by a turn once
/// `globalDir` exists, with `{ provider, authPath }`.
pub(crate) trait CredentialResolver: Send + Sync {
    fn resolve(
        &self,
        provider: &str,
        auth_path: &Path,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, RunError>> + Send>>;
}

/// Where the OAuth token comes from.
pub(crate) enum CredentialSource {
    /// The runner reads `auth.json` itself.
    Builtin,
    /// The host's resolver.
    Host(Arc<dyn CredentialResolver>),
}

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
    let TurnPlan { settings, request, payload, credential, container, number, started_ms, called, standbys, removals } =
        plan;
    let space_id = request.space_id.clone();
    // The deadline runs from the `reply` call: the credential, a pull and the container's setup all count.
    let stop =
        Stop { control: &control, deadline: called + Duration::from_millis(settings.timeout_ms), removals: &removals };

    let prepared = async {
        create_dirs(&settings, &request).await?;
        let token = match credential {
            CredentialSource::Builtin => builtin_token(&settings, &request.host_env).await,
            CredentialSource::Host(resolver) => {
                resolver.resolve(&settings.model_provider, &settings.auth_path()).await?
            }
        };
        let agent_dir = agent_dir_view(&settings, &request).await?;
        let env = container_env(&settings, &request, token.as_deref())?;
        let package_root = settings.package_root.locate();
        let mounts = container_mounts(&settings, &request, &agent_dir, package_root.as_deref(), |p: &Path| p.exists())?;
        let sources = PlainSources::of_turn(&settings, &request.space_id, &agent_dir)?;
        Ok::<_, RunError>((container_spec(&settings, container.clone(), env, mounts), sources))
    };
    // The host's credential resolver may take its time (or never answer): a stop must not wait for it.
    let (mut spec, sources) = match stop.race(prepared).await {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(e)) => return TurnReport { result: Err(e), removal: None, next: None },
        Err(stopped) => return stopped_before_start(stopped, &space_id, called, None),
    };

    // A standby of this space with the same spec (the name aside) serves this turn instead of a new container.
    let claiming = standbys.as_ref().and_then(|standbys| standbys.claim(&space_id, &spec));
    if let Some(claiming) = claiming {
        // Biased: a standby handed over is never dropped unused here (dropped, it would be removed, but not used).
        let claimed = tokio::select! {
            biased;
            claimed = claiming.claimed() => claimed,
            _ = control.aborted() => return stopped_before_start(Stopped::Aborted, &space_id, called, None),
            _ = sleep_until(stop.deadline) => return stopped_before_start(Stopped::TimedOut, &space_id, called, None),
        };
        match claimed {
            Some(claimed) => {
                let claimed_ms = now_ms();
                let next = Next { spec, sources };
                return finish_claimed(engine, &stop, claimed, payload, next, &settings, &request, called, claimed_ms)
                    .await;
            }
            None => tracing::debug!(reason = %Miss::Gone, "Standby not used"),
        }
    }

    let mut renames = 0;
    let id = loop {
        match create_pulling(&engine, &spec, &stop).await {
            Ok(id) => break id,
            // Another runner (in this process or another) took the same `mercury-<ms>-<n>`: take a later millisecond.
            Err(NotCreated::Engine(EngineError::Conflict(_))) if renames < MAX_RENAMES => {
                renames += 1;
                tokio::time::sleep(Duration::from_millis(renames)).await;
                spec.name = container_name(now_ms(), number);
                control.rename(&spec.name);
                tracing::Span::current().record("container", spec.name.as_str());
            }
            Err(NotCreated::Engine(e)) => return refused(called, e, None),
            Err(NotCreated::Stopped(stopped)) => return stopped_before_start(stopped, &space_id, called, None),
        }
    };
    let driven = drive(&engine, &stop, &id, payload).await;
    // Removal starts once the container has ended (or was never started) and runs beside the rest of the reply.
    let removal = spawn_removal(engine.clone(), id, stop.removals);
    let (ending, output) = match driven {
        Ok(done) => done,
        Err(NotDriven::Engine(e)) => return refused(called, e, Some(removal)),
        Err(NotDriven::Stopped(stopped)) => return stopped_before_start(stopped, &space_id, called, Some(removal)),
    };
    let since = Since::from_ms(started_ms);
    conclude(&stop, ending, output, Next { spec, sources }, &settings, &request, called, since, removal).await
}

/// A claimed standby: the container runs already, so the turn writes its
/// payload and reads on. Its files are those written since the claim (see
/// [`outbox_since`]: the outbox as it was at the claim is noted first).
#[allow(clippy::too_many_arguments)]
async fn finish_claimed(
    engine: Engine,
    stop: &Stop<'_>,
    claimed: Claimed,
    payload: bytes::Bytes,
    next: Next,
    settings: &RunnerSettings,
    request: &ReplyRequest,
    called: Instant,
    claimed_ms: u64,
) -> TurnReport {
    // From here the turn's lines, and abort or exit cleanup, name the standby's container.
    stop.control.rename(&claimed.name);
    tracing::Span::current().record("container", claimed.name.as_str());
    tracing::debug!("Standby claimed");
    let since = {
        let (spaces_dir, workspace) = (settings.spaces_dir.clone(), PathBuf::from(&request.space_workspace));
        let at_claim = tokio::task::spawn_blocking(move || outbox_since::snapshot(&spaces_dir, &workspace)).await;
        // Without the snapshot (it could not be taken), the window from the claim alone decides.
        at_claim.map_or(Since::from_ms(claimed_ms), |at_claim| Since::claimed(claimed_ms, at_claim))
    };
    let id = claimed.id.clone();
    let Some((input, output, scanner)) = claimed.take() else {
        return refused(called, EngineError::Failed("the standby had no streams".into()), None);
    };
    tracing::info!(event = "container.start", standby = true, "Container started");
    let read = feed_and_read(&engine, stop, &id, input, output, scanner, payload).await;
    let removal = spawn_removal(engine.clone(), id, stop.removals);
    match read {
        Ok((ending, output)) => conclude(stop, ending, output, next, settings, request, called, since, removal).await,
        Err(e) => refused(called, e, Some(removal)),
    }
}

/// The end of a turn whose container ran: the log line, the outcome, the outbox.
#[allow(clippy::too_many_arguments)]
async fn conclude(
    stop: &Stop<'_>,
    ending: Ending,
    mut output: OutputScanner,
    next: Next,
    settings: &RunnerSettings,
    request: &ReplyRequest,
    called: Instant,
    since: Since,
    removal: JoinHandle<()>,
) -> TurnReport {
    log_end(&ending, called);
    let result = match outcome_text(&request.space_id, ending, &mut output) {
        Ok(reply) => {
            let collecting = collect_outbox(settings.spaces_dir.clone(), &request.space_workspace, since);
            match stop.first(collecting).await {
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

/// The outbox was not read by the deadline or an abort: the turn settles as
/// that stop (the scan, on a blocking thread, ends by itself).
fn outbox_cut_short(why: Stopped, space_id: &str) -> RunError {
    tracing::warn!(reason = ?why, "Outbox not read before the deadline or an abort; the turn settles without it");
    match why {
        Stopped::Aborted => RunError::Aborted { space_id: space_id.to_owned() },
        Stopped::TimedOut => RunError::Timeout { space_id: space_id.to_owned() },
    }
}

/// Why a turn stopped before its container started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    Aborted,
    TimedOut,
}

/// The two things that stop a turn at any step: `abort`/`killAll`, and the deadline.
struct Stop<'a> {
    control: &'a RunControl,
    deadline: Instant,
    /// Where the turn lists its container's removal (beside the stop: every step that removes has it).
    removals: &'a Removals,
}

impl Stop<'_> {
    /// Whether the turn has been stopped by now (an abort wins over the deadline).
    fn now(&self) -> Option<Stopped> {
        if self.control.is_aborted() {
            Some(Stopped::Aborted)
        } else if Instant::now() >= self.deadline {
            Some(Stopped::TimedOut)
        } else {
            None
        }
    }

    /// `work` to its end, unless the turn is stopped first: then `Err` and
    /// `work` is left where it is (the caller may drop it or let it finish).
    /// Unlike [`Stop::race`], a result that came is kept, a stop beside it
    /// notwithstanding: it may be a container that must be removed.
    async fn first<T>(&self, work: impl Future<Output = T>) -> Result<T, Stopped> {
        if let Some(stopped) = self.now() {
            return Err(stopped);
        }
        tokio::select! {
            biased;
            done = work => Ok(done),
            _ = self.control.aborted() => Err(Stopped::Aborted),
            _ = sleep_until(self.deadline) => Err(Stopped::TimedOut),
        }
    }

    /// `work`, unless the turn is stopped first; then `work` is dropped.
    async fn race<T>(&self, work: impl Future<Output = T>) -> Result<T, Stopped> {
        if let Some(stopped) = self.now() {
            return Err(stopped);
        }
        tokio::select! {
            done = work => self.now().map_or(Ok(done), Err),
            _ = self.control.aborted() => Err(Stopped::Aborted),
            _ = sleep_until(self.deadline) => Err(Stopped::TimedOut),
        }
    }
}

/// A turn stopped before its container started: it never starts (a created one
/// is being removed), and it settles with the same lines as a killed one.
fn stopped_before_start(
    stopped: Stopped,
    space_id: &str,
    called: Instant,
    removal: Option<JoinHandle<()>>,
) -> TurnReport {
    let space_id = space_id.to_owned();
    let ending = Ending {
        exit_code: KILLED_EXIT_CODE,
        timed_out: stopped == Stopped::TimedOut,
        aborted: stopped == Stopped::Aborted,
        oom_killed: false,
    };
    if ending.timed_out {
        tracing::warn!(event = "container.timeout", "Container timeout, killing");
    }
    log_end(&ending, called);
    let result = match stopped {
        Stopped::Aborted => Err(RunError::Aborted { space_id }),
        Stopped::TimedOut => Err(RunError::Timeout { space_id }),
    };
    TurnReport { result, removal, next: None }
}

/// The exit code a container killed by the runner reports (SIGKILL's), also
/// written for one stopped before it started, as the host's runner wrote it.
const KILLED_EXIT_CODE: i64 = 137;

async fn create_dirs(settings: &RunnerSettings, request: &ReplyRequest) -> Result<(), RunError> {
    for dir in [&settings.global_dir, &settings.spaces_dir] {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| RunError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    if settings.hardening.isolate_spaces {
        // The engine follows links in a bind's source: a space folder that an
        // agent (of a runner without isolation) replaced by a link is refused.
        own_folder(&space_folder(&settings.spaces_dir, &request.space_id)?).await?;
        // Only the runner reads the sessions folders' parent: no container mounts it.
        let mut parent = tokio::fs::DirBuilder::new();
        parent.recursive(true);
        // On Windows the folder takes its parent's ACL (under the user's profile
        // by default); there is no mode to give.
        #[cfg(unix)]
        parent.mode(0o700);
        parent
            .create(&settings.sessions_dir)
            .await
            .map_err(|e| RunError::Io(format!("cannot create {}: {e}", settings.sessions_dir.display())))?;
        own_folder(&sessions_folder(settings, &request.space_id)?).await?;
    }
    Ok(())
}

/// Creates `folder` unless it exists (its last component is never followed),
/// and refuses it unless it is a plain folder: not a link, which the engine
/// would follow when binding it.
async fn own_folder(folder: &Path) -> Result<(), RunError> {
    match tokio::fs::create_dir(folder).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(RunError::Io(format!("cannot create {}: {e}", folder.display()))),
    }
    let meta = tokio::fs::symlink_metadata(folder)
        .await
        .map_err(|e| RunError::Io(format!("cannot examine {}: {e}", folder.display())))?;
    if !meta.file_type().is_dir() {
        return Err(RunError::Io(not_plain_folder(folder)));
    }
    Ok(())
}

/// What the container mounts of the agent folder: the whole folder by default;
/// with `isolateSpaces`, its entries as listed now (a warn line names those
/// left out for being links or not plain) and the space's sessions folder.
async fn agent_dir_view(settings: &RunnerSettings, request: &ReplyRequest) -> Result<AgentDirView, RunError> {
    if !settings.hardening.isolate_spaces {
        return Ok(AgentDirView::Shared);
    }
    let listing = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || agent_dir::list(&settings))
            .await
            .map_err(|e| RunError::Io(format!("listing the agent folder failed: {e}")))??
    };
    if !listing.skipped.is_empty() {
        // Quoted and escaped: a name left out for its control characters must not reach the log raw.
        let names: Vec<String> = listing.skipped.iter().map(|name| format!("{name:?}")).collect();
        tracing::warn!(
            path = %settings.global_dir.display(),
            entries = names.join(", "),
            "Agent folder entries not mounted: links, special files or names with control characters"
        );
    }
    let sessions = sessions_folder(settings, &request.space_id)?;
    Ok(AgentDirView::Isolated { entries: listing.entries, sessions })
}

async fn builtin_token(settings: &RunnerSettings, host_env: &[(String, String)]) -> Option<String> {
    if !builtin_applies(&settings.model_provider, host_env) {
        return None;
    }
    let auth_path = settings.auth_path();
    if let Some(folder) = auth_path_writable_by_agents(settings) {
        tracing::warn!(
            authPath = %auth_path.display(),
            folder,
            "Ignoring auth.json: it lies in a folder agents can write"
        );
        return None;
    }
    // By default every agent can write to the global folder: the file is read
    // without following a link or blocking on a FIFO, and only up to a size cap.
    let read = {
        let auth_path = auth_path.clone();
        tokio::task::spawn_blocking(move || read_auth_file(&auth_path)).await
    };
    let text = match read {
        Ok(AuthFile::Text(text)) => text,
        Ok(AuthFile::Missing) => return None,
        Ok(AuthFile::Refused(reason)) => {
            tracing::warn!(authPath = %auth_path.display(), reason, "Ignoring auth.json: not a plain file the runner can read");
            return None;
        }
        Err(e) => {
            tracing::warn!(authPath = %auth_path.display(), reason = %e, "Ignoring auth.json: the read failed");
            return None;
        }
    };
    match builtin_credential(Some(&text), now_ms()) {
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
    /// Aborted, or out of time, before or while the image was being pulled.
    Stopped(Stopped),
}

/// Creates the container; a missing image (the engine's 404 to a create) is
/// pulled first, as `docker run` does. The pull gives way to an abort or the deadline.
async fn create_pulling(engine: &Engine, spec: &ContainerSpec, stop: &Stop<'_>) -> Result<String, NotCreated> {
    match create_or_stop(engine, spec, stop).await {
        Err(NotCreated::Engine(EngineError::NotFound(_))) => {
            match stop.race(engine.pull(&spec.image)).await {
                Ok(pulled) => pulled.map_err(|e| {
                    NotCreated::Engine(EngineError::Failed(format!(
                        "Unable to find image '{}' locally\n{e}",
                        spec.image
                    )))
                })?,
                Err(stopped) => return Err(NotCreated::Stopped(stopped)),
            }
            create_or_stop(engine, spec, stop).await
        }
        other => other,
    }
}

/// The create, given up when the turn is stopped first. The engine may still
/// make the container after that: the create goes on in the background and
/// what it makes is removed. A create whose answer was lost (connection gone,
/// past its bound) may also have made one: it is looked for by name.
async fn create_or_stop(engine: &Engine, spec: &ContainerSpec, stop: &Stop<'_>) -> Result<String, NotCreated> {
    let mut create = {
        let (engine, spec) = (engine.clone(), spec.clone());
        tokio::spawn(async move { engine.create(&spec).await }.in_current_span().with_current_subscriber())
    };
    match stop.first(&mut create).await {
        Ok(Ok(Ok(id))) => Ok(id),
        Ok(Ok(Err(e))) => {
            if answer_lost(&e) {
                spawn_removal_if_made(engine.clone(), spec.name.clone(), stop.removals);
            }
            Err(NotCreated::Engine(e))
        }
        Ok(Err(e)) => {
            spawn_removal_if_made(engine.clone(), spec.name.clone(), stop.removals);
            Err(NotCreated::Engine(EngineError::Failed(format!("the create failed: {e}"))))
        }
        Err(stopped) => {
            let (engine, removals, name) = (engine.clone(), stop.removals.clone(), spec.name.clone());
            // Listed by name until the create has answered and its container is removed.
            let tracked = removals.track(&name);
            let left = async move {
                match create.await {
                    Ok(Ok(id)) => {
                        let _ = spawn_removal(engine, id, &removals).await;
                    }
                    Ok(Err(e)) if !answer_lost(&e) => {}
                    _ => {
                        let _ = spawn_removal_if_made(engine, name, &removals).await;
                    }
                }
                drop(tracked);
            };
            tokio::spawn(left.in_current_span().with_current_subscriber());
            Err(NotCreated::Stopped(stopped))
        }
    }
}

/// A create that failed without the engine's answer: it may have made the container all the same.
fn answer_lost(e: &EngineError) -> bool {
    matches!(e, EngineError::Unreachable { .. } | EngineError::TimedOut { .. })
}

/// Looks for, and removes, the container a create without an answer may have
/// made ([`Engine::remove_if_made`]), in the background, listed in `removals`.
fn spawn_removal_if_made(engine: Engine, name: String, removals: &Removals) -> JoinHandle<()> {
    let tracked = removals.track(&name);
    let removal = async move {
        if let Err(e) = engine.remove_if_made(&name).await {
            tracing::warn!(error = %e, "Failed to remove container; cleanupOrphans will remove it");
        }
        drop(tracked);
    };
    tokio::spawn(removal.in_current_span().with_current_subscriber())
}

/// Why a created container was not run to its end.
enum NotDriven {
    Engine(EngineError),
    /// Stopped before its start: it never ran.
    Stopped(Stopped),
}

impl From<EngineError> for NotDriven {
    fn from(e: EngineError) -> Self {
        NotDriven::Engine(e)
    }
}

/// Attach, start, feed stdin, read output until the container ends, killing it
/// on abort or deadline. A stop seen before the start leaves it unstarted.
async fn drive(
    engine: &Engine,
    stop: &Stop<'_>,
    id: &str,
    payload: bytes::Bytes,
) -> Result<(Ending, OutputScanner), NotDriven> {
    // Checked after the create, after the attach, and right before the start.
    if let Some(stopped) = stop.now() {
        return Err(NotDriven::Stopped(stopped));
    }
    // Attach before start, so not a byte of output is missed. Both give way to a
    // stop; a start the engine carries out after that is undone by the removal.
    let attached = stop.first(engine.attach(id)).await.map_err(NotDriven::Stopped)??;
    if let Some(stopped) = stop.now() {
        return Err(NotDriven::Stopped(stopped));
    }
    stop.first(engine.start(id)).await.map_err(NotDriven::Stopped)??;
    tracing::info!(event = "container.start", "Container started");
    let output: Output = Box::pin(output_chunks(attached.output));
    Ok(feed_and_read(engine, stop, id, attached.input, output, OutputScanner::default(), payload).await?)
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

/// Removes the container in the background, in the turn's span. The returned
/// task is the first try only (bounded by the engine's removal bound); when it
/// fails, for any reason but "gone", the tries go on detached
/// ([`Engine::remove_until_gone`]), so a host that is shutting down is not
/// held up by an engine that is down or slow.
/// Listed in `removals` until it has ended, retries included, so process exit finishes it.
fn spawn_removal(engine: Engine, id: String, removals: &Removals) -> JoinHandle<()> {
    let tracked = removals.track(&id);
    let first = async move {
        if let Err(e) = engine.remove(&id).await {
            tracing::debug!(error = %e, "Container not removed yet; trying again");
            let retry = async move {
                if let Err(e) = engine.remove_until_gone(&id).await {
                    tracing::warn!(error = %e, "Failed to remove container; cleanupOrphans will remove it");
                }
                drop(tracked);
            };
            tokio::spawn(retry.in_current_span().with_current_subscriber());
        }
    };
    tokio::spawn(first.in_current_span().with_current_subscriber())
}

/// The engine refused the container, or was lost: the CLI's exit code 125.
fn refused(called: Instant, err: EngineError, removal: Option<JoinHandle<()>>) -> TurnReport {
    tracing::error!(
        event = "container.end",
        exitCode = 125_i64,
        durationMs = duration_ms(called),
        reason = "error",
        "Container exited"
    );
    TurnReport { result: Err(RunError::Engine(err.to_string())), removal, next: None }
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
    let path = outbox.display().to_string();
    if let Some(reason) = &scan.refused {
        tracing::warn!(path, reason = reason.as_str(), "{REFUSED_LINE}");
    }
    for big in &scan.oversized {
        tracing::warn!(
            path = big.path.as_str(),
            sizeBytes = big.size_bytes,
            maxSizeBytes = MAX_OUTBOX_FILE_BYTES,
            "{OVERSIZED_LINE}"
        );
    }
    for (count, why) in scan.skipped() {
        tracing::warn!(path, count, reason = why, "{SKIPPED_LINE}");
    }
    if scan.entries_not_examined {
        tracing::warn!(path, maxEntries = MAX_OUTBOX_ENTRIES_EXAMINED, "{NOT_EXAMINED_LINE}");
    }
    Ok(scan.files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::turn::runs::Runs;

    fn ok() -> Result<ContainerResult, RunError> {
        Ok(ContainerResult { reply: ReplyText::Utf8("r".into()), files: vec![] })
    }

    #[tokio::test]
    async fn a_call_that_never_ends_gives_way_to_the_deadline_and_to_an_abort() {
        let runs = Runs::default();
        let guard = runs.register("s", "c");
        let control = guard.control();
        let removals = Removals::default();
        let stop =
            Stop { control: &control, deadline: Instant::now() + Duration::from_millis(300), removals: &removals };
        // An outbox scan or an engine call that hangs: settled at the deadline, not after it.
        let t0 = Instant::now();
        assert_eq!(stop.first(std::future::pending::<()>()).await, Err(Stopped::TimedOut));
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(300) && waited < Duration::from_millis(1300), "{waited:?}");
        // Already past the deadline: not even started.
        assert_eq!(stop.first(async { 1 }).await, Err(Stopped::TimedOut));

        let stop = Stop { control: &control, deadline: Instant::now() + Duration::from_secs(60), removals: &removals };
        assert_eq!(stop.first(async { 7 }).await, Ok(7));
        let t0 = Instant::now();
        let aborting = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            runs.abort("s");
        };
        let (raced, ()) = tokio::join!(stop.first(std::future::pending::<()>()), aborting);
        assert_eq!(raced, Err(Stopped::Aborted));
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_millis(1200), "{waited:?}");
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
