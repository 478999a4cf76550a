//! `scanOutbox`, the host's own `core/outbox` function, so the host's module
//! can be a re-export of this package's, as its runner module is. Same
//! arguments and result as the host's; the scan is the runner's link-safe, bounded one.

use std::path::Path;
use std::sync::{Arc, Mutex};

use napi::{Env, Result};
use napi_derive::napi;

use super::js_runner::JsEgressFile;
use super::logger::log_now;
use super::realm;
use crate::core::now_ms;
use crate::core::outbox_copy_store;
use crate::core::{dispatch, ConsoleFormat, Fields, Level, LogSink};
use crate::core::{scan_workspace, MAX_OUTBOX_FILE_BYTES};

/// Lines kept as they are written, to be written on the host's thread afterwards.
#[derive(Default)]
struct Gathered(Mutex<Vec<(Level, String, Fields)>>);

impl Gathered {
    fn take(&self) -> Vec<(Level, String, Fields)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl LogSink for Gathered {
    fn log(&self, level: Level, msg: &str, fields: Fields) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push((level, msg.to_owned(), fields));
    }
}

/// The files in `<workspacePath>/outbox` modified at or after `startTimeMs`:
/// regular, visible, single-link files up to `maxSizeBytes` (25 MiB by
/// default), never through a link (the workspace folder itself included).
/// Each `path` is the runner's private copy of the file the scan checked, as
/// `reply` returns them; they live until the workspace's next scan or turn
/// (or 10 minutes, or process exit). Synchronous, as the host's is, so the
/// copy is made on the calling thread (the host's own read of the file costs
/// the same); the scan is bounded (at most 10 000 entries examined, 100 files
/// returned). Files left out, and a refused outbox, are warn lines on the
/// console in the host's format (`MERCURY_LOG_FORMAT`, `MERCURY_LOG_LEVEL`).
#[napi(ts_args_type = "workspacePath: string, startTimeMs: number, maxSizeBytes?: number")]
pub fn scan_outbox(
    env: Env,
    workspace_path: String,
    start_time_ms: f64,
    max_size_bytes: Option<f64>,
) -> Result<Vec<JsEgressFile>> {
    let realm = realm::current()?;
    let console = ConsoleFormat::from_env(
        realm.env_var(&env, "MERCURY_LOG_FORMAT")?.as_deref(),
        realm.env_var(&env, "MERCURY_LOG_LEVEL")?.as_deref(),
    );
    // Negative or fractional times and sizes read as JavaScript's comparisons would treat them.
    let since_ms = start_time_ms.max(0.0).ceil() as u64;
    let max_file_bytes = max_size_bytes.map_or(MAX_OUTBOX_FILE_BYTES, |b| b.max(0.0).floor() as u64);
    let workspace = Path::new(&workspace_path);
    // The workspace is the host's path; its last folder and what lies below it may be the agent's.
    let scan = scan_workspace(workspace, since_ms, now_ms(), max_file_bytes, outbox_copy_store());
    let outbox = workspace.join("outbox").display().to_string();
    // The scan's warn lines, gathered as the core writes them, then written here on the host's thread.
    let lines = Arc::new(Gathered::default());
    tracing::dispatcher::with_default(&dispatch(lines.clone()), || scan.log_warnings(&outbox, max_file_bytes));
    for (level, msg, fields) in lines.take() {
        log_now(&env, &realm, None, console, level, &msg, fields)?;
    }
    Ok(scan.files.into_iter().map(JsEgressFile::from).collect())
}
