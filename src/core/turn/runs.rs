//! The runs in flight, keyed by space id. Every read and signal here is a
//! short lock: nothing waits on Docker, so the JavaScript thread never blocks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// The abort signal of one run, shared between [`Runs`] and the run's task.
#[derive(Debug)]
pub(crate) struct RunControl {
    aborted: watch::Sender<bool>,
    /// The container's name; a run renames it if the engine already has one by that name.
    container: Mutex<String>,
}

impl RunControl {
    fn new(container: &str) -> Self {
        Self { aborted: watch::Sender::new(false), container: Mutex::new(container.to_owned()) }
    }

    pub(crate) fn container(&self) -> String {
        self.container.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn rename(&self, container: &str) {
        *self.container.lock().unwrap_or_else(|p| p.into_inner()) = container.to_owned();
    }

    pub(crate) fn abort(&self) {
        self.aborted.send_replace(true);
    }

    pub(crate) fn is_aborted(&self) -> bool {
        *self.aborted.borrow()
    }

    /// Resolves once the run is aborted (at once if it already is).
    pub(crate) async fn aborted(&self) {
        let mut rx = self.aborted.subscribe();
        // The sender lives as long as `self`, so wait_for cannot fail while we are borrowed.
        let _ = rx.wait_for(|aborted| *aborted).await;
    }
}

#[derive(Debug)]
struct Entry {
    space_id: String,
    control: Arc<RunControl>,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    // Keyed by a per-run id, so two runs of one space never share an entry.
    by_id: BTreeMap<u64, Entry>,
}

/// Cheap-clone set of the runs in flight.
#[derive(Debug, Clone, Default)]
pub(crate) struct Runs {
    table: Arc<Mutex<Table>>,
}

impl Runs {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding this lock cannot leave the map half-written, so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a run; it counts until the returned guard is dropped.
    pub(crate) fn register(&self, space_id: &str, container: &str) -> RunGuard {
        let control = Arc::new(RunControl::new(container));
        let mut runs = self.lock();
        runs.next_id += 1;
        let id = runs.next_id;
        runs.by_id.insert(id, Entry { space_id: space_id.to_owned(), control: control.clone() });
        RunGuard { runs: self.clone(), id, control }
    }

    pub(crate) fn is_running(&self, space_id: &str) -> bool {
        self.lock().by_id.values().any(|e| e.space_id == space_id)
    }

    /// The number of runs in flight.
    pub(crate) fn active_count(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Spaces with a run in flight, each once, oldest run first.
    pub(crate) fn active_spaces(&self) -> Vec<String> {
        let runs = self.lock();
        let mut spaces: Vec<String> = Vec::new();
        for entry in runs.by_id.values() {
            if !spaces.contains(&entry.space_id) {
                spaces.push(entry.space_id.clone());
            }
        }
        spaces
    }

    /// Container names of the runs in flight.
    pub(crate) fn active_containers(&self) -> Vec<String> {
        self.lock().by_id.values().map(|e| e.control.container()).collect()
    }

    /// Signals every run of `space_id`; false when it has none.
    pub(crate) fn abort(&self, space_id: &str) -> bool {
        let runs = self.lock();
        let mut found = false;
        for entry in runs.by_id.values().filter(|e| e.space_id == space_id) {
            entry.control.abort();
            found = true;
        }
        found
    }

    /// Signals every run.
    pub(crate) fn abort_all(&self) {
        for entry in self.lock().by_id.values() {
            entry.control.abort();
        }
    }
}

/// A run's place among the runs in flight; dropping it removes the run.
#[derive(Debug)]
pub(crate) struct RunGuard {
    runs: Runs,
    id: u64,
    control: Arc<RunControl>,
}

impl RunGuard {
    pub(crate) fn control(&self) -> Arc<RunControl> {
        self.control.clone()
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.runs.lock().by_id.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_counts_until_its_guard_drops() {
        let runs = Runs::default();
        assert!(!runs.is_running("a"));
        let guard = runs.register("a", "c1");
        assert!(runs.is_running("a"));
        assert_eq!(runs.active_count(), 1);
        assert_eq!(runs.active_spaces(), ["a"]);
        drop(guard);
        assert!(!runs.is_running("a"));
        assert_eq!(runs.active_count(), 0);
    }

    #[test]
    fn a_second_run_of_a_space_does_not_clobber_the_first() {
        let runs = Runs::default();
        let first = runs.register("a", "c1");
        let second = runs.register("a", "c2");
        assert_eq!(runs.active_spaces(), ["a"]);
        assert_eq!(runs.active_count(), 2);
        drop(first);
        assert!(runs.is_running("a"), "the second run is still in flight");
        assert_eq!(runs.active_containers(), ["c2"]);
        drop(second);
        assert!(!runs.is_running("a"));
    }

    #[test]
    fn abort_signals_only_that_space() {
        let runs = Runs::default();
        let a = runs.register("a", "c1");
        let b = runs.register("b", "c2");
        assert!(!runs.abort("zzz"));
        assert!(runs.abort("a"));
        assert!(a.control().is_aborted());
        assert!(!b.control().is_aborted());
        runs.abort_all();
        assert!(b.control().is_aborted());
    }

    #[tokio::test]
    async fn aborted_resolves_even_if_signalled_before_waiting() {
        let runs = Runs::default();
        let a = runs.register("a", "c1");
        runs.abort("a");
        tokio::time::timeout(std::time::Duration::from_secs(1), a.control().aborted()).await.unwrap();
    }
}
