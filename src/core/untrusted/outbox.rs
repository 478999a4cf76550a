//! Files the agent left in the workspace's `outbox` during a run.
//!
//! Everything under `spacesDir` is written by a container whose agent anyone in
//! a chat can steer, so the scan treats it as hostile: it never follows a link
//! the agent planted (not in the workspace path, not the outbox folder, not an
//! entry), never stats or returns anything outside the real outbox directory,
//! and bounds what it examines and returns. The walk goes by directory
//! descriptors (the system calls are in `outbox_fs_unix.rs`; on Windows,
//! handles, in `outbox_fs_windows.rs`), so no component
//! is resolved through a path the agent could swap for a link between check
//! and use; and what the host gets is a private copy of each file checked
//! (`outbox_copy.rs`), never a path into the outbox.
//!
//! A refused outbox is data, not an error: the caller logs one warn line and
//! the turn goes on with no files, so the agent cannot use the outbox to fail it.

use std::path::Path;

use super::mime::mime_for;
use super::outbox_copy::{Copied, CopyStore};
use super::outbox_dir::{workspace_within, MAX_OUTBOX_ENTRIES_EXAMINED};
use super::outbox_entry::{FileId, Reopened};
use super::outbox_fs::{open_outbox, OutboxDir};
use super::outbox_since::Since;

/// The warn line for a refused outbox (a link, a non-folder, a workspace outside spacesDir).
const REFUSED_LINE: &str = "Outbox refused: no files from this turn";
/// The host's warn line for a file over the size cap.
const OVERSIZED_LINE: &str = "Outbox file exceeds max size, skipping";

/// Files larger than this are not handed to the host.
pub(crate) const MAX_OUTBOX_FILE_BYTES: u64 = 25 * 1024 * 1024;

/// At most this many files are handed to the host per turn (the first ones by
/// name); the host posts each one, so the agent must not choose how many.
pub(crate) const MAX_OUTBOX_FILES: usize = 100;

/// At most this many oversized files are listed for the caller to log one warn
/// line each; the rest are only counted, so the agent cannot flood the log.
pub(crate) const MAX_OVERSIZED_LISTED: usize = 100;

/// How far in the future an mtime may be and still count as "written during
/// this run": the container and the host share a clock, but filesystems
/// round timestamps. Anything later is skipped, or a file stamped far in the
/// future would be handed back as new on every later turn.
pub(crate) const OUTBOX_CLOCK_SKEW_MS: u64 = 2_000;

/// One file the agent produced, as the host receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EgressFile {
    /// The runner's private copy (see [`super::outbox_copy`]), never the outbox entry.
    pub path: String,
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: u64,
}

/// A file left out because it is too large; the caller logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OversizedFile {
    /// Where it was, in the outbox (for the log line only).
    pub path: String,
    pub size_bytes: u64,
}

/// What a scan found, and what it left out. The caller logs one warn line for
/// `refused`, each `oversized` entry, and each non-zero count.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct OutboxScan {
    /// At most [`MAX_OUTBOX_FILES`], ordered by filename.
    pub files: Vec<EgressFile>,
    /// At most [`MAX_OVERSIZED_LISTED`], ordered by filename.
    pub oversized: Vec<OversizedFile>,
    /// Oversized files beyond [`MAX_OVERSIZED_LISTED`], not listed.
    pub oversized_not_listed: usize,
    /// Why nothing was scanned (a symbolic link in the path, a workspace
    /// outside `spacesDir`, ...). `files` is empty when this is set.
    pub refused: Option<String>,
    /// Eligible files left out because [`MAX_OUTBOX_FILES`] were already kept.
    pub files_left_out: usize,
    /// Regular files skipped because their mtime is beyond now + [`OUTBOX_CLOCK_SKEW_MS`].
    pub future_mtime: usize,
    /// Regular files skipped because they have more than one link (see [`scan_outbox_since`]).
    pub hard_linked: usize,
    /// Files the scan kept that were no longer the file it checked when they
    /// were copied: replaced, now a link or a hard link, or resized while read.
    pub changed: usize,
    /// Files not copied: the copy folder's byte bound, or a write that failed.
    pub not_copied: usize,
    /// The directory held more than [`MAX_OUTBOX_ENTRIES_EXAMINED`] entries;
    /// the rest were not looked at.
    pub entries_not_examined: bool,
}

/// The warn line for each kind of file a scan left out ([`OutboxScan::skipped`]).
const SKIPPED_LINE: &str = "Outbox files skipped";
/// The warn line for an outbox with more entries than [`MAX_OUTBOX_ENTRIES_EXAMINED`].
const NOT_EXAMINED_LINE: &str = "Outbox has more entries than are examined";

impl OutboxScan {
    fn refused(reason: String) -> Self {
        Self { refused: Some(reason), ..Self::default() }
    }

    /// Logs what the scan refused or left out, one warn line each, as
    /// `tracing` events: the one place both the turn (in its span) and
    /// `scanOutbox` (under the console's subscriber) write them. `outbox` is
    /// the folder as the host names it; `max_file_bytes` the cap the scan used.
    pub(crate) fn log_warnings(&self, outbox: &str, max_file_bytes: u64) {
        if let Some(reason) = &self.refused {
            tracing::warn!(path = outbox, reason = reason.as_str(), "{REFUSED_LINE}");
        }
        for big in &self.oversized {
            tracing::warn!(
                path = big.path.as_str(),
                sizeBytes = big.size_bytes,
                maxSizeBytes = max_file_bytes,
                "{OVERSIZED_LINE}"
            );
        }
        for (count, why) in self.skipped() {
            tracing::warn!(path = outbox, count, reason = why, "{SKIPPED_LINE}");
        }
        if self.entries_not_examined {
            tracing::warn!(path = outbox, maxEntries = MAX_OUTBOX_ENTRIES_EXAMINED, "{NOT_EXAMINED_LINE}");
        }
    }

    /// Each kind of file left out, with how many and why, for one [`SKIPPED_LINE`] each.
    fn skipped(&self) -> impl Iterator<Item = (usize, &'static str)> {
        [
            (self.files_left_out, "more files than a turn may return"),
            (self.oversized_not_listed, "more oversized files than are listed"),
            (self.future_mtime, "modified in the future"),
            (self.hard_linked, "hard links (more than one name)"),
            (self.changed, "changed after the scan (replaced, linked or resized)"),
            (self.not_copied, "not copied (the copy folder's disk bound, or a failed write)"),
        ]
        .into_iter()
        .filter(|(count, _)| *count > 0)
    }
}

/// `scanOutbox`'s scan: the workspace is the host's path, but its last folder
/// (`<spacesDir>/<spaceId>`, which an agent with the spaces folder mounted can
/// replace) is never followed if it is a link; the folders above it are the host's.
pub(crate) fn scan_workspace(
    workspace: &Path,
    since_ms: u64,
    now_ms: u64,
    max_file_bytes: u64,
    copies: &'static CopyStore,
) -> OutboxScan {
    let Some(parent) = workspace.parent().filter(|_| workspace.file_name().is_some()) else {
        return OutboxScan::refused(format!("workspace {} names no folder", workspace.display()));
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    scan_outbox_since(parent, workspace, &Since::from_ms(since_ms), now_ms, max_file_bytes, copies)
}

/// Scans `<workspace>/outbox` for the files the agent wrote during this run:
/// regular, visible (no leading `.`), UTF-8-named files directly in it that
/// `since` admits (for a cold turn, an mtime from its start) and with an mtime
/// up to `now_ms + OUTBOX_CLOCK_SKEW_MS` (epoch ms); a claimed standby's turn
/// chooses by more than time (see [`super::outbox_since`]).
///
/// `spaces_dir` is the operator's folder: trusted, opened following links.
/// Every component of `workspace` below it, and `outbox`, is opened without
/// following links; a link (or a non-directory) there refuses the scan. So
/// does a `workspace` that is not lexically inside `spaces_dir` or has a `..`.
/// A missing workspace or outbox folder is an empty scan, not a refusal.
///
/// Entries with more than one hard link are skipped (`hard_linked`): the agent
/// can `link()` any file it can see on the same mount (another space's files
/// under `/spaces`, and whatever else shares that filesystem) into its outbox,
/// and the host would then post a file the agent never wrote, whose content
/// keeps following the original. A file the agent really produced in its
/// outbox has exactly one link. A hard link to a file the agent could read
/// anyway is no loss to skip; one it could not read must not leave.
///
/// The returned `path` is a private copy in `copies`, made from the file the
/// scan checked (opened again relative to the scan's directory descriptor and
/// checked to be the same single-link regular file), never the outbox entry:
/// another container sharing the mount can swap the entry for a link, a FIFO
/// or a growing file at any time, and the host reads the path later.
///
/// Each file is read up to `max_file_bytes`: [`MAX_OUTBOX_FILE_BYTES`] for a
/// turn; the host's own `scanOutbox` passes its own.
pub(crate) fn scan_outbox_since(
    spaces_dir: &Path,
    workspace: &Path,
    since: &Since,
    now_ms: u64,
    max_file_bytes: u64,
    copies: &'static CopyStore,
) -> OutboxScan {
    let (base, relative) = match workspace_within(spaces_dir, workspace) {
        Ok(split) => split,
        Err(reason) => return OutboxScan::refused(reason),
    };
    let outbox_dir = match open_outbox(&base, &relative) {
        Ok(Some(fd)) => fd,
        Ok(None) => return OutboxScan::default(),
        Err(reason) => return OutboxScan::refused(reason),
    };
    let outbox = workspace.join("outbox");
    let (mut scan, kept) = scan_dir(&outbox_dir, &outbox, since, now_ms, max_file_bytes);
    if !kept.is_empty() {
        if copies.lies_within(&base) {
            // Containers mount this folder: a copy there would be theirs to change again.
            return OutboxScan::refused(format!("the private copy folder lies inside {}", base.display()));
        }
        copy_kept(&mut scan, &outbox_dir, &outbox, kept, max_file_bytes, workspace, copies);
    }
    scan
}

/// Copies each kept file, in name order, into a new turn folder of `copies`.
fn copy_kept(
    scan: &mut OutboxScan,
    outbox_dir: &OutboxDir,
    outbox: &Path,
    kept: Vec<Candidate>,
    max_file_bytes: u64,
    workspace: &Path,
    copies: &'static CopyStore,
) {
    let needed = kept.iter().fold(0u64, |sum, c| sum.saturating_add(c.size_bytes));
    let mut turn = match copies.begin(workspace, needed) {
        Ok(turn) => turn,
        Err(e) => {
            *scan = OutboxScan::refused(format!("cannot make the private copy folder: {e}"));
            return;
        }
    };
    for c in kept {
        let file = match outbox_dir.reopen(&c.filename, c.id) {
            Reopened::File(file) => file,
            Reopened::Changed => {
                scan.changed += 1;
                continue;
            }
        };
        // The size the scan saw: a file resized since (grown past the cap, or not) is not the one checked.
        match turn.copy(file, c.size_bytes, &c.filename, max_file_bytes) {
            Copied::Done { path, size_bytes } => scan.files.push(EgressFile {
                path,
                mime_type: mime_for(&c.filename).to_owned(),
                filename: c.filename,
                size_bytes,
            }),
            Copied::Oversized(size_bytes) if scan.oversized.len() < MAX_OVERSIZED_LISTED => {
                let path = outbox.join(&c.filename).to_string_lossy().into_owned();
                scan.oversized.push(OversizedFile { path, size_bytes });
            }
            Copied::Oversized(_) => scan.oversized_not_listed += 1,
            Copied::Changed => scan.changed += 1,
            Copied::Failed => scan.not_copied += 1,
        }
    }
}

/// One eligible entry, before the count cap and the ordering.
struct Candidate {
    filename: String,
    size_bytes: u64,
    /// The file the entry named when it was examined: the copy must be of this one.
    id: FileId,
}

/// The listing: what was left out (in the scan) and the files to copy, at
/// most [`MAX_OUTBOX_FILES`], in name order.
fn scan_dir(
    outbox_dir: &OutboxDir,
    outbox: &Path,
    since: &Since,
    now_ms: u64,
    max_file_bytes: u64,
) -> (OutboxScan, Vec<Candidate>) {
    let mut scan = OutboxScan::default();
    let names = match outbox_dir.names() {
        Ok(names) => names,
        Err(e) => return (OutboxScan::refused(format!("cannot read {}: {e}", outbox.display())), vec![]),
    };
    let latest_ms = now_ms.saturating_add(OUTBOX_CLOCK_SKEW_MS);
    let mut kept: Vec<Candidate> = Vec::new();
    let mut oversized: Vec<Candidate> = Vec::new();
    for (examined, name) in names.enumerate() {
        if examined == MAX_OUTBOX_ENTRIES_EXAMINED {
            scan.entries_not_examined = true;
            break;
        }
        let Ok(name) = name else {
            // A read error mid-stream ends the listing; what was read stands.
            break;
        };
        let Ok(filename) = std::str::from_utf8(&name) else {
            // The host's file records are strings; a name that is not UTF-8 cannot travel.
            continue;
        };
        if filename.starts_with('.') {
            continue;
        }
        let Some(st) = outbox_dir.examine(filename) else {
            continue; // deleted meanwhile
        };
        // Not directories, links, FIFOs, sockets or devices: only what can be read as a file.
        if !st.regular {
            continue;
        }
        if !since.admits(filename.as_bytes(), &st) {
            continue;
        }
        let mtime = st.mtime_ms;
        if mtime > latest_ms {
            scan.future_mtime += 1;
            continue;
        }
        if st.links > 1 {
            scan.hard_linked += 1;
            continue;
        }
        let candidate = Candidate { filename: filename.to_owned(), size_bytes: st.size_bytes, id: st.id };
        if candidate.size_bytes > max_file_bytes {
            oversized.push(candidate);
        } else {
            kept.push(candidate);
        }
    }
    // readdir order is the filesystem's; a stable order makes replies reproducible
    // and decides which files the cap keeps.
    kept.sort_unstable_by(|a, b| a.filename.cmp(&b.filename));
    oversized.sort_unstable_by(|a, b| a.filename.cmp(&b.filename));
    scan.files_left_out = kept.len().saturating_sub(MAX_OUTBOX_FILES);
    kept.truncate(MAX_OUTBOX_FILES);
    scan.oversized_not_listed = oversized.len().saturating_sub(MAX_OVERSIZED_LISTED);
    oversized.truncate(MAX_OVERSIZED_LISTED);
    let path_of = |name: &str| outbox.join(name).to_string_lossy().into_owned();
    scan.oversized =
        oversized.iter().map(|c| OversizedFile { path: path_of(&c.filename), size_bytes: c.size_bytes }).collect();
    (scan, kept)
}

/// The outbox tests' space: `<tmp>/spaces/s1` with an empty `outbox`, and a
/// private copy store under `<tmp>/copies`.
#[cfg(test)]
pub(crate) mod test_space {
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, UNIX_EPOCH};

    use super::CopyStore;

    pub(crate) struct Space {
        pub tmp: tempfile::TempDir,
        pub spaces: PathBuf,
        pub workspace: PathBuf,
        pub outbox: PathBuf,
        /// The private copies, made under `<tmp>/copies`.
        pub copies: &'static CopyStore,
    }

    /// A store of its own under `tmp` (leaked: the scan needs `'static`; its files go with `tmp`).
    pub(crate) fn copies_in(tmp: &Path) -> &'static CopyStore {
        fs::create_dir_all(tmp.join("copies")).unwrap();
        Box::leak(Box::new(CopyStore::new(tmp.join("copies"))))
    }

    pub(crate) fn space() -> Space {
        let tmp = tempfile::tempdir().unwrap();
        let spaces = tmp.path().join("spaces");
        let workspace = spaces.join("s1");
        let outbox = workspace.join("outbox");
        fs::create_dir_all(&outbox).unwrap();
        let copies = copies_in(tmp.path());
        Space { tmp, spaces, workspace, outbox, copies }
    }

    pub(crate) fn set_mtime(path: &Path, ms: u64) {
        let file = fs::File::options().write(true).open(path).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_millis(ms)).unwrap();
    }

    /// `<dir>/<name>` (its folders made) holding `content`, modified at `mtime_ms`.
    pub(crate) fn file_in(dir: &Path, name: &str, content: &[u8], mtime_ms: u64) -> PathBuf {
        fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        set_mtime(&path, mtime_ms);
        path
    }
}

/// A FIFO at `path`; mkfifo(3), because rustix has no mknodat on macOS.
#[cfg(all(test, unix))]
pub(crate) fn make_fifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: c is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

// Unix: FIFOs, sockets and links made the unix way (the Windows calls are
// tested in outbox_fs_windows.rs).
#[cfg(all(test, unix))]
mod tests {
    use super::test_space::{copies_in, file_in, set_mtime, space, Space};
    use super::*;
    use std::ffi::OsStr;
    use std::fs;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;
    use std::time::Duration;
    use std::time::UNIX_EPOCH;

    const SINCE: u64 = 1_700_000_000_000;
    const NOW: u64 = SINCE + 60_000;

    /// A scan with the turn's size cap.
    fn scan_outbox_in(
        spaces_dir: &Path,
        workspace: &Path,
        since_ms: u64,
        now_ms: u64,
        copies: &'static CopyStore,
    ) -> OutboxScan {
        scan_outbox_since(spaces_dir, workspace, &Since::from_ms(since_ms), now_ms, MAX_OUTBOX_FILE_BYTES, copies)
    }

    impl Space {
        fn write(&self, name: &str, mtime: u64) -> PathBuf {
            let path = self.outbox.join(name);
            fs::write(&path, b"data").unwrap();
            set_mtime(&path, mtime);
            path
        }

        fn scan(&self) -> OutboxScan {
            scan_outbox_in(&self.spaces, &self.workspace, SINCE, NOW, self.copies)
        }

        /// The scan, which must have returned exactly the files `kept`, in that order.
        fn scan_keeping(&self, kept: &[&str]) -> OutboxScan {
            let scan = self.scan();
            assert_eq!(names(&scan), kept);
            scan
        }
    }

    /// `path` is a private copy named `filename`, under the space's copy store, holding `content`.
    fn assert_in_copies(s: &Space, path: &str, filename: &str, content: &[u8]) {
        let path = Path::new(path);
        assert!(path.starts_with(s.tmp.path().join("copies")), "{path:?}");
        assert!(!path.starts_with(&s.spaces), "{path:?}");
        assert_eq!(path.file_name().unwrap(), filename);
        assert_eq!(fs::read(path).unwrap(), content);
    }

    /// The scan in its two steps, with `between` run after the listing and before the copies.
    fn scan_racing(s: &Space, max_file_bytes: u64, between: impl FnOnce()) -> OutboxScan {
        let dir = open_outbox(&s.spaces, &[OsStr::new("s1")]).unwrap().unwrap();
        let (mut scan, kept) = scan_dir(&dir, &s.outbox, &Since::from_ms(SINCE), NOW, max_file_bytes);
        between();
        copy_kept(&mut scan, &dir, &s.outbox, kept, max_file_bytes, &s.workspace, s.copies);
        scan
    }

    /// The scan with `between` run after the listing copied nothing and found the one entry changed.
    fn assert_changed_after_the_listing(s: &Space, max_file_bytes: u64, between: impl FnOnce()) {
        let scan = scan_racing(s, max_file_bytes, between);
        assert!(scan.files.is_empty(), "{scan:?}");
        assert_eq!(scan.changed, 1);
    }

    /// As [`assert_changed_after_the_listing`], with `entry` removed and `make` putting something in its place.
    fn assert_changed_when_swapped(s: &Space, entry: &Path, make: impl FnOnce(&Path)) {
        assert_changed_after_the_listing(s, MAX_OUTBOX_FILE_BYTES, || {
            fs::remove_file(entry).unwrap();
            make(entry);
        });
    }

    #[test]
    fn the_copy_is_what_the_host_gets_and_later_changes_do_not_reach_it() {
        let s = space();
        let original = s.write("a.txt", SINCE + 1);
        let scan = s.scan();
        assert_in_copies(&s, &scan.files[0].path, "a.txt", b"data");
        // The agent rewrites the file, and swaps it for a link, after the copy.
        fs::write(&original, b"changed").unwrap();
        fs::remove_file(&original).unwrap();
        symlink("/proc/self/environ", &original).unwrap();
        assert_eq!(fs::read(&scan.files[0].path).unwrap(), b"data");
    }

    #[test]
    fn a_link_swapped_in_after_the_scan_is_not_followed() {
        let s = space();
        let secret = s.tmp.path().join("host-secret");
        fs::write(&secret, b"secret").unwrap();
        let entry = s.write("race.txt", SINCE + 1);
        for target in [secret.as_path(), Path::new("/proc/self/environ"), Path::new("/dev/zero")] {
            s.write("race.txt", SINCE + 1);
            assert_changed_when_swapped(&s, &entry, |entry| symlink(target, entry).unwrap());
            fs::remove_file(&entry).unwrap();
        }
    }

    #[test]
    fn a_fifo_swapped_in_after_the_scan_does_not_block() {
        let s = space();
        let entry = s.write("race.txt", SINCE + 1);
        let started = std::time::Instant::now();
        assert_changed_when_swapped(&s, &entry, make_fifo);
        assert!(started.elapsed() < Duration::from_secs(5), "a FIFO must not block the copy");
    }

    #[test]
    fn a_file_that_grows_after_the_scan_is_read_only_up_to_the_cap() {
        let s = space();
        let entry = s.write("grow.bin", SINCE + 1);
        // Past the cap: listed as oversized with what was read (cap + 1), never copied.
        let scan = scan_racing(&s, 1000, || fs::write(&entry, vec![1u8; 1_000_000]).unwrap());
        assert!(scan.files.is_empty());
        assert_eq!(scan.oversized.len(), 1);
        assert!(scan.oversized[0].size_bytes > 1000);
        // Within the cap but not the size the scan saw: skipped as changed.
        s.write("grow.bin", SINCE + 1);
        assert_changed_after_the_listing(&s, 1000, || fs::write(&entry, vec![1u8; 10]).unwrap());
    }

    #[test]
    fn a_hard_link_made_after_the_scan_is_refused() {
        let s = space();
        let other = s.spaces.join("s2");
        let private = file_in(&other, "private.txt", b"theirs", SINCE + 1);
        let entry = s.write("a.txt", SINCE + 1);
        // A second name for the scanned file.
        assert_changed_after_the_listing(&s, MAX_OUTBOX_FILE_BYTES, || {
            fs::hard_link(&entry, other.join("b.txt")).unwrap()
        });
        // The entry replaced by a hard link to another space's file.
        fs::remove_file(other.join("b.txt")).unwrap();
        assert_changed_when_swapped(&s, &entry, |entry| fs::hard_link(&private, entry).unwrap());
    }

    #[test]
    fn another_regular_file_swapped_in_after_the_scan_is_refused() {
        let s = space();
        let entry = s.write("a.txt", SINCE + 1);
        // Held open, the scanned inode cannot be reused by the new file.
        let _held = fs::File::open(&entry).unwrap();
        // The same size, another inode.
        assert_changed_when_swapped(&s, &entry, |entry| fs::write(entry, b"data").unwrap());
    }

    #[test]
    fn a_copy_folder_inside_the_spaces_folder_refuses_the_scan() {
        let s = space();
        s.write("a.txt", SINCE + 1);
        fs::create_dir_all(s.spaces.join("tmp")).unwrap();
        let inside: &'static CopyStore = Box::leak(Box::new(CopyStore::new(s.spaces.join("tmp"))));
        let scan = scan_outbox_in(&s.spaces, &s.workspace, SINCE, NOW, inside);
        assert!(scan.files.is_empty());
        assert!(scan.refused.unwrap().contains("private copy folder lies inside"));
    }

    #[test]
    fn scan_workspace_refuses_a_workspace_that_is_a_link() {
        let s = space();
        s.write("a.txt", SINCE + 1);
        let link = s.spaces.join("thief");
        symlink(&s.workspace, &link).unwrap();
        let scan = scan_workspace(&link, SINCE, NOW, MAX_OUTBOX_FILE_BYTES, s.copies);
        assert!(scan.files.is_empty());
        assert!(scan.refused.unwrap().ends_with("thief is a symbolic link"));
        let scan = scan_workspace(&s.workspace, SINCE, NOW, MAX_OUTBOX_FILE_BYTES, s.copies);
        assert_eq!(names(&scan), ["a.txt"]);
        // The host's folders above the workspace may be links.
        let above = s.tmp.path().join("spaces-link");
        symlink(&s.spaces, &above).unwrap();
        let scan = scan_workspace(&above.join("s1"), SINCE, NOW, MAX_OUTBOX_FILE_BYTES, s.copies);
        assert_eq!(names(&scan), ["a.txt"]);
    }

    fn names(scan: &OutboxScan) -> Vec<&str> {
        scan.files.iter().map(|f| f.filename.as_str()).collect()
    }

    #[test]
    fn missing_folder_has_no_files() {
        let s = space();
        fs::remove_dir(&s.outbox).unwrap();
        assert_eq!(s.scan(), OutboxScan::default());
        // A missing workspace too.
        assert_eq!(scan_outbox_in(&s.spaces, &s.spaces.join("nobody"), SINCE, NOW, s.copies), OutboxScan::default());
    }

    #[test]
    fn keeps_only_fresh_visible_regular_files() {
        let s = space();
        for name in ["chart.png", "notes.MD", ".hidden.txt", "old.txt", "noext"] {
            s.write(name, SINCE + 5);
        }
        set_mtime(&s.outbox.join("old.txt"), SINCE - 1);
        fs::create_dir(s.outbox.join("sub.txt")).unwrap();
        fs::write(s.outbox.join("sub.txt/inner.txt"), b"x").unwrap();

        let scan = s.scan_keeping(&["chart.png", "noext", "notes.MD"]);
        let chart = &scan.files[0];
        assert_in_copies(&s, &chart.path, "chart.png", b"data");
        assert_eq!(chart.mime_type, "image/png");
        assert_eq!(chart.size_bytes, 4);
        assert_eq!(scan.files[2].mime_type, "text/markdown");
        assert_eq!(scan.files[1].mime_type, "application/octet-stream");
        assert_eq!(scan.refused, None);
    }

    #[test]
    fn a_file_modified_at_the_start_millisecond_counts() {
        let s = space();
        s.write("edge.txt", SINCE);
        assert_eq!(scan_outbox_in(&s.spaces, &s.workspace, SINCE, NOW, s.copies).files.len(), 1);
        assert_eq!(scan_outbox_in(&s.spaces, &s.workspace, SINCE + 1, NOW, s.copies).files.len(), 0);
    }

    #[test]
    fn oversized_files_are_reported_not_returned() {
        let s = space();
        let big = s.outbox.join("big.bin");
        fs::File::create(&big).unwrap().set_len(MAX_OUTBOX_FILE_BYTES + 1).unwrap();
        set_mtime(&big, SINCE);
        let exact = s.outbox.join("exact.bin");
        fs::File::create(&exact).unwrap().set_len(MAX_OUTBOX_FILE_BYTES).unwrap();
        set_mtime(&exact, SINCE);

        let scan = s.scan_keeping(&["exact.bin"]);
        assert_eq!(
            scan.oversized,
            [OversizedFile { path: big.to_string_lossy().into_owned(), size_bytes: MAX_OUTBOX_FILE_BYTES + 1 }]
        );
        assert_eq!(scan.oversized_not_listed, 0);
    }

    #[test]
    fn outbox_symlinked_to_proc_self_returns_nothing_from_proc() {
        let s = space();
        fs::remove_dir(&s.outbox).unwrap();
        symlink("/proc/self", &s.outbox).unwrap();
        // Even with no time window at all, nothing from /proc may come back.
        let scan = scan_outbox_in(&s.spaces, &s.workspace, 0, u64::MAX - OUTBOX_CLOCK_SKEW_MS, s.copies);
        assert!(scan.files.is_empty(), "{scan:?}");
        let reason = scan.refused.unwrap();
        assert!(reason.ends_with("s1/outbox is a symbolic link"), "{reason}");
    }

    #[test]
    fn outbox_symlinked_to_another_folder_is_refused() {
        let s = space();
        let elsewhere = s.spaces.join("s2/outbox");
        file_in(&elsewhere, "secret.txt", b"s", SINCE);
        fs::remove_dir(&s.outbox).unwrap();
        symlink(&elsewhere, &s.outbox).unwrap();
        let scan = s.scan();
        assert!(scan.files.is_empty());
        assert!(scan.refused.is_some());
    }

    #[test]
    fn a_symlinked_workspace_component_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let spaces = tmp.path().join("spaces");
        let real = tmp.path().join("outside/deep");
        file_in(&real.join("s1/outbox"), "leak.txt", b"x", SINCE);
        fs::create_dir_all(&spaces).unwrap();
        // spaces/group -> outside/deep, workspace spaces/group/s1: the link is an intermediate component.
        symlink(&real, spaces.join("group")).unwrap();
        let scan = scan_outbox_in(&spaces, &spaces.join("group/s1"), SINCE, NOW, copies_in(tmp.path()));
        assert!(scan.files.is_empty());
        let reason = scan.refused.unwrap();
        assert!(reason.ends_with("spaces/group is a symbolic link"), "{reason}");
    }

    #[test]
    fn the_trusted_spaces_dir_itself_may_be_a_link() {
        let s = space();
        let link = s.tmp.path().join("spaces-link");
        symlink(&s.spaces, &link).unwrap();
        s.write("a.txt", SINCE);
        let scan = scan_outbox_in(&link, &link.join("s1"), SINCE, NOW, s.copies);
        assert_eq!(names(&scan), ["a.txt"]);
        assert_in_copies(&s, &scan.files[0].path, "a.txt", b"data");
    }

    #[test]
    fn an_outbox_that_is_a_file_is_refused() {
        let s = space();
        fs::remove_dir(&s.outbox).unwrap();
        fs::write(&s.outbox, b"x").unwrap();
        let scan = s.scan();
        assert!(scan.files.is_empty());
        assert!(scan.refused.unwrap().ends_with("outbox is not a directory"));
    }

    #[test]
    fn symlinked_entries_are_skipped_whatever_they_point_at() {
        let s = space();
        let outside = s.tmp.path().join("host-secret.txt");
        fs::write(&outside, b"secret").unwrap();
        set_mtime(&outside, SINCE + 1);
        symlink(&outside, s.outbox.join("leak.txt")).unwrap();
        symlink("/etc/passwd", s.outbox.join("passwd.txt")).unwrap();
        symlink("/proc/self/environ", s.outbox.join("environ")).unwrap();
        symlink(s.outbox.join("real.txt"), s.outbox.join("inside-link.txt")).unwrap();
        s.write("real.txt", SINCE + 1);
        let scan = s.scan_keeping(&["real.txt"]);
        assert_eq!(scan.refused, None);
    }

    #[test]
    fn fifo_socket_and_directory_entries_are_skipped() {
        let s = space();
        make_fifo(&s.outbox.join("pipe.txt"));
        let _listener = std::os::unix::net::UnixListener::bind(s.outbox.join("sock.txt")).unwrap();
        fs::create_dir(s.outbox.join("folder.txt")).unwrap();
        s.write("real.txt", SINCE + 1);
        let started = std::time::Instant::now();
        let scan = s.scan();
        assert!(started.elapsed() < Duration::from_secs(5), "a FIFO entry must not block the scan");
        assert_eq!(names(&scan), ["real.txt"]);
    }

    #[test]
    fn hard_linked_files_are_skipped() {
        let s = space();
        let private = file_in(&s.spaces.join("s2"), "private.txt", b"theirs", SINCE + 1);
        fs::hard_link(private, s.outbox.join("stolen.txt")).unwrap();
        s.write("mine.txt", SINCE + 1);
        let scan = s.scan_keeping(&["mine.txt"]);
        assert_eq!(scan.hard_linked, 1);
    }

    #[test]
    fn a_future_mtime_is_skipped_and_counted() {
        let s = space();
        s.write("tomorrow.txt", NOW + 86_400_000);
        s.write("just-past-skew.txt", NOW + OUTBOX_CLOCK_SKEW_MS + 1);
        s.write("within-skew.txt", NOW + OUTBOX_CLOCK_SKEW_MS);
        let scan = s.scan_keeping(&["within-skew.txt"]);
        assert_eq!(scan.future_mtime, 2);
    }

    #[test]
    fn at_most_max_files_are_returned_first_by_name_and_the_rest_counted() {
        let s = space();
        for i in 0..150 {
            s.write(&format!("f{i:03}.txt"), SINCE + 1);
        }
        let scan = s.scan();
        assert_eq!(scan.files.len(), MAX_OUTBOX_FILES);
        assert_eq!(scan.files_left_out, 50);
        let expected: Vec<String> = (0..100).map(|i| format!("f{i:03}.txt")).collect();
        assert_eq!(names(&scan), expected);
    }

    #[test]
    fn oversized_listing_is_capped_too() {
        let s = space();
        for i in 0..(MAX_OVERSIZED_LISTED + 7) {
            let path = s.outbox.join(format!("big{i:03}.bin"));
            fs::File::create(&path).unwrap().set_len(MAX_OUTBOX_FILE_BYTES + 1).unwrap(); // sparse
            set_mtime(&path, SINCE);
        }
        let scan = s.scan();
        assert_eq!(scan.oversized.len(), MAX_OVERSIZED_LISTED);
        assert_eq!(scan.oversized_not_listed, 7);
        assert!(scan.files.is_empty());
    }

    #[test]
    fn no_more_than_the_entry_bound_is_examined() {
        let s = space();
        let total = MAX_OUTBOX_ENTRIES_EXAMINED + 500;
        for i in 0..total {
            fs::File::create(s.outbox.join(format!("e{i:05}")))
                .unwrap()
                .set_modified(UNIX_EPOCH + Duration::from_millis(SINCE))
                .unwrap();
        }
        let scan = s.scan();
        assert!(scan.entries_not_examined);
        // "." and ".." count as examined entries too, so between bound-2 and bound files were eligible.
        let seen = scan.files.len() + scan.files_left_out;
        assert!((MAX_OUTBOX_ENTRIES_EXAMINED - 2..=MAX_OUTBOX_ENTRIES_EXAMINED).contains(&seen), "{seen}");
        assert_eq!(scan.files.len(), MAX_OUTBOX_FILES);
    }

    #[test]
    fn non_utf8_names_are_skipped() {
        let s = space();
        let name = OsStr::from_bytes(b"bad-\xff.txt");
        fs::write(s.outbox.join(name), b"x").unwrap();
        set_mtime(&s.outbox.join(name), SINCE);
        s.write("good.txt", SINCE);
        assert_eq!(names(&s.scan()), ["good.txt"]);
    }

    #[test]
    fn a_workspace_outside_spaces_dir_is_refused() {
        let s = space();
        let outside = s.tmp.path().join("elsewhere");
        fs::create_dir_all(outside.join("outbox")).unwrap();
        fs::write(outside.join("outbox/x.txt"), b"x").unwrap();
        set_mtime(&outside.join("outbox/x.txt"), SINCE);
        for workspace in [outside.clone(), s.spaces.join("../elsewhere"), s.spaces.join("s1/../../elsewhere")] {
            let scan = scan_outbox_in(&s.spaces, &workspace, SINCE, NOW, s.copies);
            assert!(scan.files.is_empty(), "{workspace:?}");
            assert!(scan.refused.is_some(), "{workspace:?}");
        }
        // A sibling whose name merely starts with the spaces folder's name is outside too.
        let sibling = s.tmp.path().join("spaces-other");
        let scan = scan_outbox_in(&s.spaces, &sibling, SINCE, NOW, s.copies);
        assert!(scan.refused.unwrap().contains("is not inside"));
    }

    #[test]
    fn dot_components_are_normalised_lexically() {
        let s = space();
        s.write("a.txt", SINCE);
        let scan = scan_outbox_in(&s.spaces.join("./x/.."), &s.spaces.join("./s1/."), SINCE, NOW, s.copies);
        assert_eq!(names(&scan), ["a.txt"]);
    }
}
