//! Process exit: the containers of runs still in flight are removed before the
//! process is gone. `realm.js` calls [`run_exit_cleanups`] from the host's
//! `process.on("exit")` (which `process.exit()` and a normal end both emit).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use napi_derive::napi;

use crate::core::{ExitCleanup, Runner};

thread_local! {
    // Every runner of this JavaScript environment; an entry goes once its runner is gone and has no run left.
    static RUNNERS: RefCell<Vec<(Weak<Runner>, ExitCleanup)>> = const { RefCell::new(Vec::new()) };
}

pub fn register(runner: &Arc<Runner>) {
    RUNNERS.with(|runners| {
        let mut runners = runners.borrow_mut();
        runners.retain(|(alive, cleanup)| alive.strong_count() > 0 || !cleanup.is_idle());
        runners.push((Arc::downgrade(runner), runner.exit_cleanup()));
    });
}

static HOOKED: AtomicBool = AtomicBool::new(false);

/// True once per process: the realm that gets it installs the exit listener
/// (each Jest test file evaluates `realm.js` again; one listener is enough).
#[napi(skip_typescript)]
pub fn claim_exit_hook() -> bool {
    !HOOKED.swap(true, Ordering::SeqCst)
}

/// Kills and removes the containers of every run in flight; blocks for at most
/// the core's exit bound. Then removes every private outbox copy (the host
/// has had its chance to read them). Called as the process exits.
#[napi(skip_typescript)]
pub fn run_exit_cleanups() {
    RUNNERS.with(|runners| {
        for (_, cleanup) in runners.borrow().iter() {
            cleanup.run();
        }
    });
    crate::core::outbox_copy_store().remove_all();
}
