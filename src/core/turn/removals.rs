//! Containers whose removal is still under way. A reply settles once its
//! container has ended, while the removal goes on in the background; a host
//! that calls `process.exit()` right then would leave the container behind, so
//! the exit cleanup removes what is listed here too. The background removals
//! themselves start here, listed from their first try to their last.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tracing::instrument::WithSubscriber;
use tracing::Instrument;

use crate::core::engine::client::Engine;

/// One runner's removals under way, by container id or name (either is what the engine removes by).
#[derive(Clone, Default)]
pub(crate) struct Removals {
    pending: Arc<Mutex<HashMap<u64, String>>>,
    next: Arc<AtomicU64>,
}

impl Removals {
    /// Lists `container` until the returned token is dropped (when its removal has ended).
    pub(crate) fn track(&self, container: &str) -> Tracked {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(key, container.to_owned());
        Tracked { removals: self.clone(), key }
    }

    /// Removes the container in the background, in the caller's span. The
    /// returned task is the first try only (bounded by the engine's removal
    /// bound); when it fails, for any reason but "gone", the tries go on
    /// detached ([`Engine::remove_until_gone`]), so a host that is shutting
    /// down is not held up by an engine that is down or slow.
    pub(crate) fn remove(&self, engine: Engine, id: String) -> JoinHandle<()> {
        let tracked = self.track(&id);
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

    /// Looks for, and removes, the container a create without an answer may
    /// have made ([`Engine::remove_if_made`]), in the background.
    pub(crate) fn remove_if_made(&self, engine: Engine, name: String) -> JoinHandle<()> {
        let tracked = self.track(&name);
        let removal = async move {
            if let Err(e) = engine.remove_if_made(&name).await {
                tracing::warn!(error = %e, "Failed to remove container; cleanupOrphans will remove it");
            }
            drop(tracked);
        };
        tokio::spawn(removal.in_current_span().with_current_subscriber())
    }

    /// The containers listed now.
    pub(crate) fn pending(&self) -> Vec<String> {
        self.lock().values().cloned().collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, String>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A listed removal; dropping it takes the container off the list.
pub(crate) struct Tracked {
    removals: Removals,
    key: u64,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.removals.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_is_listed_while_its_token_lives() {
        let removals = Removals::default();
        assert!(removals.is_empty());
        let a = removals.track("c-1");
        let b = removals.track("c-2");
        let mut listed = removals.pending();
        listed.sort();
        assert_eq!(listed, ["c-1", "c-2"]);
        drop(a);
        assert_eq!(removals.pending(), ["c-2"]);
        // Moved into a task and dropped there, as a removal does.
        std::thread::spawn(move || drop(b)).join().unwrap();
        assert!(removals.is_empty());
    }
}
