//! `scanOutbox`, the host's own `core/outbox` function, so the host's module
//! can be a re-export of this package's, as its runner module is. Same
//! arguments and result as the host's; the scan is the runner's link-safe, bounded one.

use std::path::Path;

use napi::{Env, Result};
use napi_derive::napi;

use super::js_runner::JsEgressFile;
use super::logger::log_now;
use super::realm;
use crate::core::now_ms;
use crate::core::outbox_copy_store;
use crate::core::{scan_workspace, MAX_OUTBOX_ENTRIES_EXAMINED, MAX_OUTBOX_FILE_BYTES, OVERSIZED_LINE, REFUSED_LINE};
use crate::core::{ConsoleFormat, Level};
use crate::core::{NOT_EXAMINED_LINE, SKIPPED_LINE};
use crate::fields;

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
    if let Some(reason) = &scan.refused {
        let fields = fields!("path" => outbox, "reason" => reason);
        log_now(&env, &realm, None, console, Level::Warn, REFUSED_LINE, fields)?;
    }
    for big in &scan.oversized {
        let fields = fields!("path" => big.path, "sizeBytes" => big.size_bytes, "maxSizeBytes" => max_file_bytes);
        log_now(&env, &realm, None, console, Level::Warn, OVERSIZED_LINE, fields)?;
    }
    for (count, why) in scan.skipped() {
        let fields = fields!("path" => outbox, "count" => count, "reason" => why);
        log_now(&env, &realm, None, console, Level::Warn, SKIPPED_LINE, fields)?;
    }
    if scan.entries_not_examined {
        let fields = fields!("path" => outbox, "maxEntries" => MAX_OUTBOX_ENTRIES_EXAMINED);
        log_now(&env, &realm, None, console, Level::Warn, NOT_EXAMINED_LINE, fields)?;
    }
    Ok(scan.files.into_iter().map(JsEgressFile::from).collect())
}
