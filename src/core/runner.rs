//! The runner: configuration, the runs in flight, and the calls the host makes.
//! The binding's one way in: it converts JavaScript values, calls a method
//! here, and converts what comes back.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::instrument::WithSubscriber;
use tracing::{Dispatch, Instrument};

use super::bounds::EXIT_CLEANUP_BOUND;
use super::clock::now_ms;
use super::egress::sidecar::{remove_orphan_networks, Egress};
use super::engine::client::{Engine, EngineError};
use super::engine::endpoint::EndpointInput;
use super::error::RunError;
use super::host::{CredentialResolver, ReplyHost};
use super::log::Fields;
use super::paths::resolve;
use super::turn::config::{RunnerConfig, RunnerOptions};
use super::turn::credential::CredentialSource;
use super::turn::one_turn::{run_turn, settle, ContainerResult, TurnPlan, TurnReport};
use super::turn::removals::Removals;
use super::turn::runs::{RunGuard, Runs};
use super::turn::spec::{caller_role, container_name, container_workspace, ReplyRequest};
use super::turn::standby::Standbys;
use super::untrusted::outbox_copy;
use crate::fields;

pub(crate) struct Runner {
    config: RunnerConfig,
    options: RunnerOptions,
    image: Mutex<String>,
    engine: Engine,
    runs: Runs,
    /// The `<n>` of `mercury-<ms>-<n>`, shared with the standbys (named by the same scheme).
    counter: Arc<AtomicU64>,
    /// This runner's subscriber: where its log lines go.
    log: Dispatch,
    /// The host's credential resolver; None: the built-in one applies.
    resolver: Option<Arc<dyn CredentialResolver>>,
    /// `options.standby`: each space's next container, prepared after its turn.
    standbys: Option<Standbys>,
    /// Its turns' containers whose removal is under way (a settled reply's too).
    removals: Removals,
    /// `options.egress`: the proxy sidecar its agents reach the outside through.
    egress: Option<Arc<Egress>>,
}

/// A reply whose run is registered; [`PendingReply::run`] drives it.
pub(crate) struct PendingReply {
    guard: RunGuard,
    space_id: String,
    turn: Pin<Box<dyn Future<Output = TurnReport> + Send>>,
    standbys: Option<Standbys>,
}

/// A reply whose turn has ended, waiting to settle on the host's thread.
pub(crate) struct FinishedReply {
    guard: RunGuard,
    space_id: String,
    report: TurnReport,
}

/// The container's removal, still going on when a reply settles.
pub(crate) type Removal = tokio::task::JoinHandle<()>;

impl PendingReply {
    pub(crate) async fn run(self) -> FinishedReply {
        let mut report = self.turn.await;
        if let (Some(standbys), Some(next)) = (&self.standbys, report.next.take()) {
            // Not after an abort or killAll: those stop the space's containers, the next one included.
            if !self.guard.control().is_aborted() {
                standbys.prepare(&self.space_id, next);
                // An abort between the look above and the booking found no standby to discard.
                if self.guard.control().is_aborted() {
                    standbys.discard(&self.space_id);
                }
            }
        }
        FinishedReply { guard: self.guard, space_id: self.space_id, report }
    }
}

impl FinishedReply {
    /// The reply's result. The run stops counting as in flight here, so call
    /// it where the host's promise settles.
    pub(crate) fn finish(self) -> (Result<ContainerResult, RunError>, Option<Removal>) {
        let result = settle(self.report.result, &self.guard.control(), &self.space_id);
        drop(self.guard);
        (result, self.report.removal)
    }
}

/// What must still happen for a runner when the host's process exits: its
/// runs in flight have their containers killed and removed.
pub(crate) struct ExitCleanup {
    runs: Runs,
    endpoint: EndpointInput,
    standbys: Option<Standbys>,
    removals: Removals,
    /// The runner's egress, whose sidecar and network go too once made.
    egress: Option<Arc<Egress>>,
}

impl ExitCleanup {
    /// Whether its runner has no run in flight, no standby and no removal under way.
    pub(crate) fn is_idle(&self) -> bool {
        self.runs.active_count() == 0
            && self.standbys.as_ref().is_none_or(Standbys::is_empty)
            && self.removals.is_empty()
            && self.egress.as_ref().is_none_or(|e| !e.was_made())
    }

    /// Blocks for at most [`EXIT_CLEANUP_BOUND`]; meant for the host's thread
    /// as its process exits, when nothing else will run again.
    pub(crate) fn run(&self) {
        if self.is_idle() {
            return;
        }
        // The addon's own runtime may already be stopping: a runtime and a client of their own.
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        let engine = Engine::new(self.endpoint.clone());
        let cleanup = async {
            // The addon's runtime still runs standbys' creates: the removal by name must come after them.
            if let Some(standbys) = &self.standbys {
                standbys.settle_creates(EXIT_CLEANUP_BOUND / 2).await;
            }
            let mut names = self.runs.active_containers();
            names.extend(self.standbys.iter().flat_map(Standbys::names));
            // A settled reply's container whose removal the exit would otherwise cut short.
            names.extend(self.removals.pending());
            let egress = self.egress.as_ref().filter(|e| e.was_made()).map(|e| e.names());
            // The egress sidecar goes with them, at once; its network once nothing is on it.
            names.extend(egress.iter().map(|(sidecar, _)| sidecar.clone()));
            // Until gone, not just asked: a 409 means the turn's own removal is under way at the
            // engine, and the container is still listed until that removal ends.
            futures_util::future::join_all(names.iter().map(|name| engine.remove_until_gone(name))).await;
            if let Some((_, network)) = egress {
                let _ = engine.remove_network(&network).await;
            }
        };
        runtime.block_on(async {
            let _ = tokio::time::timeout(EXIT_CLEANUP_BOUND, cleanup).await;
        });
    }
}

/// The warning the host has always printed for an image that is not its own.
pub(crate) fn custom_image_warning(image: &str) -> Option<(&'static str, Fields)> {
    if image.starts_with("mercury-agent:") || image.contains("/mercury-agent:") {
        return None;
    }
    Some((
        "Using custom agent image",
        fields!(
            "image" => image,
            "note" => "Ensure image has: bun, pi, agent-browser, napkin, mrctl",
            "docs" => "See docs/container-lifecycle.md for custom image requirements",
        ),
    ))
}

impl Runner {
    /// Connects to nothing yet: the engine is reached on first use.
    pub(crate) fn new(
        config: RunnerConfig,
        options: RunnerOptions,
        log: Dispatch,
        resolver: Option<Arc<dyn CredentialResolver>>,
    ) -> Self {
        let engine = Engine::new(options.endpoint.clone());
        let counter = Arc::new(AtomicU64::new(0));
        let standbys = options.standby.map(|o| Standbys::new(o, engine.clone(), counter.clone(), log.clone()));
        let egress = options.egress.clone().map(|o| Arc::new(Egress::new(o, engine.clone(), log.clone())));
        Self {
            image: Mutex::new(config.image.clone()),
            engine,
            config,
            options,
            runs: Runs::default(),
            counter,
            log,
            resolver,
            standbys,
            removals: Removals::default(),
            egress,
        }
    }

    /// The image runs use now: the last `set_image`, else the configured one.
    pub(crate) fn image(&self) -> String {
        self.image.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_image(&self, image: String) {
        *self.image.lock().unwrap_or_else(|p| p.into_inner()) = image;
    }

    pub(crate) fn runs(&self) -> &Runs {
        &self.runs
    }

    /// The work process exit must do for this runner (see [`ExitCleanup`]).
    pub(crate) fn exit_cleanup(&self) -> ExitCleanup {
        ExitCleanup {
            runs: self.runs.clone(),
            endpoint: self.options.endpoint.clone(),
            standbys: self.standbys.clone(),
            removals: self.removals.clone(),
            egress: self.egress.clone(),
        }
    }

    /// Starts a reply: settings for now, the payload from the host, then the
    /// run is registered (it counts from here) and named.
    /// Bad input fails here, before anything is registered.
    pub(crate) fn start(&self, request: ReplyRequest, host: &mut impl ReplyHost) -> Result<PendingReply, RunError> {
        let called = tokio::time::Instant::now();
        let cwd =
            std::env::current_dir().map_err(|e| RunError::Io(format!("cannot read the current directory: {e}")))?;
        let settings = self.config.settings(&cwd, self.image(), &self.options).map_err(RunError::InvalidInput)?;
        let workspace = container_workspace(&request.space_workspace, &settings.spaces_dir.to_string_lossy());
        let payload = host
            .payload(&workspace, caller_role(request.caller_role.as_deref()))
            .map_err(|e| RunError::InvalidInput(format!("input cannot be written as JSON: {e}")))?;
        let credential = match &self.resolver {
            None => CredentialSource::Builtin,
            Some(resolver) => CredentialSource::Host(resolver.clone()),
        };

        let started_ms = now_ms();
        let number = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let container = container_name(started_ms, number);
        let guard = self.runs.register(&request.space_id, &container);
        let space_id = request.space_id.clone();
        // Made under this runner's subscriber, so the span is the subscriber's (this is the host's thread).
        let span = tracing::dispatcher::with_default(&self.log, || {
            tracing::info_span!("turn", spaceId = space_id.as_str(), container = container.as_str())
        });
        let standbys = self.standbys.clone();
        let plan = TurnPlan {
            settings,
            request,
            payload,
            credential,
            container,
            number,
            started_ms,
            called,
            standbys: standbys.clone(),
            removals: self.removals.clone(),
            egress: self.egress.clone(),
        };
        let turn =
            run_turn(self.engine.clone(), guard.control(), plan).instrument(span).with_subscriber(self.log.clone());
        Ok(PendingReply { guard, space_id, turn: Box::pin(turn), standbys })
    }

    /// Aborts the runs of `space_id` and discards its standby: the space's
    /// next container is one of its containers too. True when it had a run.
    pub(crate) fn abort(&self, space_id: &str) -> bool {
        // Marked first: a run ending now then sees the abort, or its standby is booked before the discard.
        let had_run = self.runs.abort(space_id);
        if let Some(standbys) = &self.standbys {
            standbys.discard(space_id);
        }
        had_run
    }

    /// Aborts every run and discards every standby (their containers are removed in the background).
    /// The private outbox copies of this runner's spaces go too, on a thread of their own.
    pub(crate) fn kill_all(&self) {
        self.runs.abort_all();
        if let Some(standbys) = &self.standbys {
            standbys.discard_all();
        }
        if let Some(egress) = &self.egress {
            egress.remove_in_background();
        }
        if let (Some(dir), Ok(cwd)) = (&self.config.spaces_dir, std::env::current_dir()) {
            let spaces_dir = resolve(&cwd, dir);
            let removal = move || outbox_copy::global().remove_within(&spaces_dir);
            // Removing up to the copy bound's bytes must not hold up the host's thread.
            if let Err(e) = std::thread::Builder::new().name("mercury-outbox-remove".into()).spawn(removal) {
                tracing::dispatcher::with_default(
                    &self.log,
                    || tracing::warn!(error = %e, "Outbox copies not removed at killAll; they expire on their own"),
                );
            }
        }
    }

    /// Pulls the image unless it is there already.
    pub(crate) fn ensure_image(self: &Arc<Self>) -> impl Future<Output = Result<(), RunError>> + Send + 'static {
        let runner = self.clone();
        async move { runner.ensure_image_now().await }.with_subscriber(self.log.clone())
    }

    async fn ensure_image_now(&self) -> Result<(), RunError> {
        let image = self.image();
        let failed = |e: EngineError| RunError::PullFailed { image: image.clone(), cause: e };
        match self.engine.image_exists(&image).await {
            Ok(true) => {
                tracing::debug!(image, "Agent image found locally");
                return Ok(());
            }
            Ok(false) => {}
            Err(e @ (EngineError::Unreachable { .. } | EngineError::TimedOut { .. })) => return Err(failed(e)),
            // As with the TypeScript runner's `docker image inspect`, any other failure means "pull it".
            Err(_) => {}
        }
        self.engine.pull(&image).await.map_err(failed)
    }

    /// Removes every labelled container but those of this runner's own runs in flight.
    pub(crate) fn cleanup_orphans(self: &Arc<Self>) -> impl Future<Output = usize> + Send + 'static {
        let runner = self.clone();
        async move { runner.cleanup_orphans_now().await }.with_subscriber(self.log.clone())
    }

    async fn cleanup_orphans_now(&self) -> usize {
        // Standbys are not runs: their containers go with the orphans (and are counted with them).
        if let Some(standbys) = &self.standbys {
            standbys.discard_all();
        }
        let listed = match self.engine.list_managed().await {
            Ok(listed) => listed,
            Err(e @ EngineError::Unreachable { .. }) => {
                tracing::warn!(error = %e, "Docker not found, skipping orphan cleanup");
                return 0;
            }
            Err(e) => {
                tracing::warn!(error = %e, "Failed to cleanup orphaned containers");
                return 0;
            }
        };
        let mut ours = self.runs.active_containers();
        // This runner's own sidecar serves its runs; another runner's (or a crashed one's) is an orphan.
        let own_egress = self.egress.as_ref().map(|e| e.names());
        ours.extend(own_egress.iter().map(|(sidecar, _)| sidecar.clone()));
        let orphans: Vec<_> = listed.into_iter().filter(|(_, name)| !ours.contains(name)).collect();
        if orphans.is_empty() {
            remove_orphan_networks(&self.engine, own_egress.as_ref().map(|(_, n)| n.as_str())).await;
            return 0;
        }
        let count = orphans.len();
        tracing::info!(count, "Found orphaned containers, cleaning up");
        let removals = orphans.iter().map(|(id, _)| async {
            match self.engine.remove(id).await {
                // Another cleanup's removal is under way (its own runner, or a second cleanupOrphans).
                Err(EngineError::Conflict(_)) => Ok(()),
                other => other,
            }
        });
        let results = futures_util::future::join_all(removals).await;
        remove_orphan_networks(&self.engine, own_egress.as_ref().map(|(_, n)| n.as_str())).await;
        // As the host's runner: a failed removal makes the whole cleanup a failure, counted as 0.
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            tracing::warn!(error = %e, "Failed to cleanup orphaned containers");
            return 0;
        }
        tracing::info!(count, "Cleaned up orphaned containers");
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_for_images_that_are_not_mercury_agent() {
        assert!(custom_image_warning("mercury-agent:latest").is_none());
        assert!(custom_image_warning("ghcr.io/team/mercury-agent:1").is_none());
        let (msg, fields) = custom_image_warning("test").unwrap();
        assert_eq!(msg, "Using custom agent image");
        assert_eq!(fields["image"], "test");
        assert_eq!(fields["note"], "Ensure image has: bun, pi, agent-browser, napkin, mrctl");
        assert_eq!(fields["docs"], "See docs/container-lifecycle.md for custom image requirements");
        assert!(custom_image_warning("my-mercury-agent:1").is_some());
    }
}
