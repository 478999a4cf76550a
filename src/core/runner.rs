//! The runner: configuration, the runs in flight, and the calls the host makes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::engine::{Engine, EngineError, QUICK_CALL};
use super::error::RunError;
use super::log::{Fields, Logger};
use super::outbox::now_ms;
use super::pull_log::PullLog;
use super::registry::{Registry, RunGuard};
use super::run::{run_reply, ReplyPlan, RunReport};
use super::spec::container_name;
use crate::fields;

/// The seed's bound on `docker pull`.
const PULL_TIMEOUT: Duration = Duration::from_secs(300);

pub struct Runner {
    image: Mutex<String>,
    engine: Engine,
    registry: Registry,
    counter: AtomicU64,
    log: Logger,
}

/// A run registered by `begin`: it counts as in flight until the guard drops.
pub struct RunTicket {
    pub guard: RunGuard,
    pub container: String,
    /// This runner's count of runs, the `<n>` of the container's name.
    pub number: u64,
    pub started_ms: u64,
}

/// The warning the host has always printed for an image that is not its own.
pub fn custom_image_warning(image: &str) -> Option<(&'static str, Fields)> {
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
    pub fn new(image: String, endpoint: Option<String>, log: Logger) -> Self {
        Self {
            image: Mutex::new(image),
            engine: Engine::new(endpoint),
            registry: Registry::default(),
            counter: AtomicU64::new(0),
            log,
        }
    }

    /// The image runs use now: the last `set_image`, else the configured one.
    pub fn image(&self) -> String {
        self.image.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_image(&self, image: String) {
        *self.image.lock().unwrap_or_else(|p| p.into_inner()) = image;
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn endpoint(&self) -> &str {
        self.engine.endpoint()
    }

    /// Registers a run of `space_id` and names its container.
    pub fn begin(&self, space_id: &str) -> RunTicket {
        let started_ms = now_ms();
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let container = container_name(started_ms, n);
        let guard = self.registry.register(space_id, &container);
        RunTicket { guard, container, number: n, started_ms }
    }

    pub fn run(
        &self,
        ticket: &RunTicket,
        plan: ReplyPlan,
    ) -> impl std::future::Future<Output = RunReport> + Send + 'static {
        run_reply(self.engine.clone(), self.log.clone(), ticket.guard.control(), plan)
    }

    pub fn abort(&self, space_id: &str) -> bool {
        self.registry.abort(space_id)
    }

    pub fn kill_all(&self) {
        self.registry.abort_all();
    }

    /// Pulls the image unless it is there already.
    pub async fn ensure_image(&self) -> Result<(), RunError> {
        let image = self.image();
        let failed = |cause: String| RunError::PullFailed { image: image.clone(), cause };
        let exists = match tokio::time::timeout(QUICK_CALL, self.engine.image_exists(&image)).await {
            Ok(Ok(exists)) => exists,
            Ok(Err(e @ EngineError::Unreachable { .. })) => return Err(failed(e.to_string())),
            // Like the seed's `docker image inspect`, any other failure means "pull it".
            Ok(Err(_)) => false,
            Err(_) => return Err(failed(format!("the image look-up at {} did not answer in 10 s", self.endpoint()))),
        };
        if exists {
            self.log.debug("Agent image found locally", fields!("image" => image));
            return Ok(());
        }
        self.log.info("Agent image not found locally, pulling...", fields!("image" => image));
        let mut progress = PullLog::new(self.log.clone(), &image);
        match tokio::time::timeout(PULL_TIMEOUT, self.engine.pull(&image, |e| progress.event(e))).await {
            Ok(Ok(())) => {
                self.log.info("Agent image pulled successfully", fields!("image" => image));
                Ok(())
            }
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(_) => Err(failed("the pull did not finish in 300 s".into())),
        }
    }

    /// Removes every labelled container but those of this runner's own runs in flight.
    pub async fn cleanup_orphans(&self) -> usize {
        let listed = match tokio::time::timeout(QUICK_CALL, self.engine.list_managed()).await {
            Ok(Ok(listed)) => listed,
            Ok(Err(e @ EngineError::Unreachable { .. })) => {
                self.log.warn("Docker not found, skipping orphan cleanup", fields!("error" => e.to_string()));
                return 0;
            }
            Ok(Err(e)) => {
                self.log.warn("Failed to cleanup orphaned containers", fields!("error" => e.to_string()));
                return 0;
            }
            Err(_) => {
                self.log.warn(
                    "Failed to cleanup orphaned containers",
                    fields!("error" => format!("the engine at {} did not answer in 10 s", self.endpoint())),
                );
                return 0;
            }
        };
        let ours = self.registry.active_containers();
        let orphans: Vec<_> = listed.into_iter().filter(|(_, name)| !ours.contains(name)).collect();
        if orphans.is_empty() {
            return 0;
        }
        let count = orphans.len();
        self.log.info("Found orphaned containers, cleaning up", fields!("count" => count));
        let removals = orphans.iter().map(|(id, _)| self.engine.remove(id));
        let results = futures_util::future::join_all(removals).await;
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            self.log.warn("Failed to cleanup orphaned containers", fields!("error" => e.to_string()));
        }
        self.log.info("Cleaned up orphaned containers", fields!("count" => count));
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
