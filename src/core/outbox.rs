//! Files the agent left in the workspace's `outbox` during a run.

use std::io;
use std::path::Path;
use std::time::UNIX_EPOCH;

use super::mime::mime_for;

/// Files larger than this are not handed to the host.
pub const MAX_OUTBOX_FILE_BYTES: u64 = 25 * 1024 * 1024;

/// One file the agent produced, as the host receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressFile {
    pub path: String,
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: u64,
}

/// A file left out because it is too large; the caller logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OversizedFile {
    pub path: String,
    pub size_bytes: u64,
}

/// What a scan found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OutboxScan {
    pub files: Vec<EgressFile>,
    pub oversized: Vec<OversizedFile>,
}

/// Lists the regular, visible files directly in `outbox` modified at or after
/// `since_ms` (epoch milliseconds). A missing folder holds no files.
pub fn scan_outbox(outbox: &Path, since_ms: u64) -> io::Result<OutboxScan> {
    let entries = match std::fs::read_dir(outbox) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => {
            return Ok(OutboxScan::default())
        }
        Err(e) => return Err(e),
    };
    let mut scan = OutboxScan::default();
    for entry in entries {
        let entry = entry?;
        let Some(filename) = entry.file_name().to_str().map(str::to_owned) else {
            // The host's file records are strings; a name that is not UTF-8 cannot travel.
            continue;
        };
        if filename.starts_with('.') {
            continue;
        }
        // symlink_metadata: a link is not followed, so a link out of the outbox is never handed over.
        let meta = match entry.path().symlink_metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // deleted meanwhile
            Err(e) => return Err(e),
        };
        if !meta.file_type().is_file() {
            continue;
        }
        if modified_ms(&meta) < since_ms {
            continue;
        }
        let path = outbox.join(&filename).to_string_lossy().into_owned();
        let size_bytes = meta.len();
        if size_bytes > MAX_OUTBOX_FILE_BYTES {
            scan.oversized.push(OversizedFile { path, size_bytes });
            continue;
        }
        scan.files.push(EgressFile { path, mime_type: mime_for(&filename).to_owned(), filename, size_bytes });
    }
    // read_dir order is the filesystem's; a stable order makes replies reproducible.
    scan.files.sort_by(|a, b| a.filename.cmp(&b.filename));
    Ok(scan)
}

fn modified_ms(meta: &std::fs::Metadata) -> u64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::Duration;

    fn set_mtime(path: &Path, ms: u64) {
        let file = fs::File::options().write(true).open(path).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_millis(ms)).unwrap();
    }

    #[test]
    fn missing_folder_has_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let scan = scan_outbox(&dir.path().join("outbox"), 0).unwrap();
        assert_eq!(scan, OutboxScan::default());
    }

    #[test]
    fn keeps_only_fresh_visible_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        fs::create_dir(&outbox).unwrap();
        let since = 1_700_000_000_000;
        for name in ["chart.png", "notes.MD", ".hidden.txt", "old.txt", "noext"] {
            fs::write(outbox.join(name), b"data").unwrap();
            set_mtime(&outbox.join(name), since + 5);
        }
        set_mtime(&outbox.join("old.txt"), since - 1);
        fs::create_dir(outbox.join("sub.txt")).unwrap();
        fs::write(outbox.join("sub.txt/inner.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(outbox.join("chart.png"), outbox.join("link.png")).unwrap();

        let scan = scan_outbox(&outbox, since).unwrap();
        let names: Vec<_> = scan.files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(names, ["chart.png", "noext", "notes.MD"]);
        let chart = &scan.files[0];
        assert_eq!(chart.path, outbox.join("chart.png").to_string_lossy());
        assert_eq!(chart.mime_type, "image/png");
        assert_eq!(chart.size_bytes, 4);
        assert_eq!(scan.files[2].mime_type, "text/markdown");
        assert_eq!(scan.files[1].mime_type, "application/octet-stream");
    }

    #[test]
    fn a_file_modified_at_the_start_millisecond_counts() {
        let dir = tempfile::tempdir().unwrap();
        let since = 1_700_000_000_123;
        fs::write(dir.path().join("edge.txt"), b"x").unwrap();
        set_mtime(&dir.path().join("edge.txt"), since);
        assert_eq!(scan_outbox(dir.path(), since).unwrap().files.len(), 1);
        assert_eq!(scan_outbox(dir.path(), since + 1).unwrap().files.len(), 0);
    }

    #[test]
    fn oversized_files_are_reported_not_returned() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.bin");
        let file = fs::File::create(&big).unwrap();
        file.set_len(MAX_OUTBOX_FILE_BYTES + 1).unwrap();
        let exact = dir.path().join("exact.bin");
        fs::File::create(&exact).unwrap().set_len(MAX_OUTBOX_FILE_BYTES).unwrap();

        let scan = scan_outbox(dir.path(), 0).unwrap();
        assert_eq!(scan.files.len(), 1);
        assert_eq!(scan.files[0].filename, "exact.bin");
        assert_eq!(
            scan.oversized,
            [OversizedFile { path: big.to_string_lossy().into_owned(), size_bytes: MAX_OUTBOX_FILE_BYTES + 1 }]
        );
    }
}
