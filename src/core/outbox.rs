//! Files the agent left in the workspace's `outbox` during a run.
//!
//! Everything under `spacesDir` is written by a container whose agent anyone in
//! a chat can steer, so the scan treats it as hostile: it never follows a link
//! the agent planted (not in the workspace path, not the outbox folder, not an
//! entry), never stats or returns anything outside the real outbox directory,
//! and bounds what it examines and returns. The walk goes by directory
//! descriptors (`openat` with `O_NOFOLLOW | O_DIRECTORY` one component at a
//! time, `fstatat` with `AT_SYMLINK_NOFOLLOW`), so no component is resolved
//! through a path the agent could swap for a link between check and use.
//!
//! A refused outbox is data, not an error: the caller logs one warn line and
//! the turn goes on with no files, so the agent cannot use the outbox to fail it.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::mime::mime_for;
use super::outbox_since::Since;

/// Files larger than this are not handed to the host.
/// The warn line for a refused outbox (a link, a non-folder, a workspace outside spacesDir).
pub const REFUSED_LINE: &str = "Outbox refused: no files from this turn";
/// The host's warn line for a file over the size cap.
pub const OVERSIZED_LINE: &str = "Outbox file exceeds max size, skipping";

pub const MAX_OUTBOX_FILE_BYTES: u64 = 25 * 1024 * 1024;

/// At most this many files are handed to the host per turn (the first ones by
/// name); the host posts each one, so the agent must not choose how many.
pub const MAX_OUTBOX_FILES: usize = 100;

/// At most this many oversized files are listed for the caller to log one warn
/// line each; the rest are only counted, so the agent cannot flood the log.
pub const MAX_OVERSIZED_LISTED: usize = 100;

/// At most this many directory entries are examined (one `fstatat` each), so a
/// million-entry outbox costs a bounded time, not one the agent picks.
pub const MAX_OUTBOX_ENTRIES_EXAMINED: usize = 10_000;

/// How far in the future an mtime may be and still count as "written during
/// this run": the container and the host share a clock, but filesystems
/// round timestamps. Anything later is skipped, or a file stamped far in the
/// future would be handed back as new on every later turn.
pub const OUTBOX_CLOCK_SKEW_MS: u64 = 2_000;

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

/// What a scan found, and what it left out. The caller logs one warn line for
/// `refused`, each `oversized` entry, and each non-zero count.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OutboxScan {
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
    /// Regular files skipped because they have more than one link (see [`scan_outbox_in`]).
    pub hard_linked: usize,
    /// The directory held more than [`MAX_OUTBOX_ENTRIES_EXAMINED`] entries;
    /// the rest were not looked at.
    pub entries_not_examined: bool,
}

impl OutboxScan {
    fn refused(reason: String) -> Self {
        Self { refused: Some(reason), ..Self::default() }
    }
}

/// Scans `<workspace>/outbox` for the files the agent wrote during this run:
/// regular, visible (no leading `.`), UTF-8-named files directly in it with an
/// mtime within `[since_ms, now_ms + OUTBOX_CLOCK_SKEW_MS]` (epoch ms).
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
/// The returned `path` is `<workspace>/outbox/<name>` as given. The host reads
/// it by path afterwards; the container has exited by then, but another one
/// sharing the mount could still swap it, which `isolateSpaces` closes.
pub fn scan_outbox_in(spaces_dir: &Path, workspace: &Path, since_ms: u64, now_ms: u64) -> OutboxScan {
    scan_outbox_capped(spaces_dir, workspace, since_ms, now_ms, MAX_OUTBOX_FILE_BYTES)
}

/// [`scan_outbox_in`] with another size cap than [`MAX_OUTBOX_FILE_BYTES`]
/// (the host's own `scanOutbox` takes one).
pub fn scan_outbox_capped(
    spaces_dir: &Path,
    workspace: &Path,
    since_ms: u64,
    now_ms: u64,
    max_file_bytes: u64,
) -> OutboxScan {
    scan_outbox_since(spaces_dir, workspace, &Since::from_ms(since_ms), now_ms, max_file_bytes)
}

/// [`scan_outbox_capped`] with the files chosen by `since` rather than by
/// their time alone (a claimed standby's turn: see [`super::outbox_since`]).
pub fn scan_outbox_since(
    spaces_dir: &Path,
    workspace: &Path,
    since: &Since,
    now_ms: u64,
    max_file_bytes: u64,
) -> OutboxScan {
    let outbox_fd = match open_outbox_of(spaces_dir, workspace) {
        Ok(Some(fd)) => fd,
        Ok(None) => return OutboxScan::default(),
        Err(reason) => return OutboxScan::refused(reason),
    };
    scan_dir(&outbox_fd, &workspace.join("outbox"), since, now_ms, max_file_bytes)
}

/// `<workspace>/outbox`, opened as the scan opens it. `Ok(None)`: missing;
/// `Err`: why it is refused.
pub(crate) fn open_outbox_of(spaces_dir: &Path, workspace: &Path) -> Result<Option<OwnedFd>, String> {
    let (base, relative) = workspace_within(spaces_dir, workspace)?;
    open_outbox(&base, &relative)
}

/// `spaces_dir` normalised, and the Normal components of `workspace` below it,
/// compared lexically (`.` dropped; `..` refused in the workspace, resolved
/// lexically in the trusted spaces_dir, as the host's `path.resolve` does).
fn workspace_within<'w>(spaces_dir: &Path, workspace: &'w Path) -> Result<(PathBuf, Vec<&'w OsStr>), String> {
    let mut base: Vec<Component> = Vec::new();
    for component in spaces_dir.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(base.last(), Some(Component::Normal(_))) => {
                base.pop();
            }
            other => base.push(other),
        }
    }
    let mut rest = Vec::new();
    let mut components = workspace.components().filter(|c| *c != Component::CurDir);
    for expected in &base {
        match components.next() {
            Some(c) if c == *expected => {}
            _ => return Err(format!("workspace {} is not inside {}", workspace.display(), spaces_dir.display())),
        }
    }
    for component in components {
        match component {
            Component::Normal(name) => rest.push(name),
            _ => return Err(format!("workspace {} has a '..' component", workspace.display())),
        }
    }
    Ok((base.iter().collect(), rest))
}

/// Opens `spaces_dir`, then each of `relative` and `outbox` beneath it without
/// following links. `Ok(None)`: something along the way does not exist.
fn open_outbox(spaces_dir: &Path, relative: &[&OsStr]) -> Result<Option<OwnedFd>, String> {
    // O_NONBLOCK: were a component a FIFO, opening it must not wait for a writer
    // (O_DIRECTORY refuses it anyway, but not every platform checks that first).
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let mut fd = match rustix::fs::openat(CWD, spaces_dir, dir_flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(format!("cannot open {}: {e}", spaces_dir.display())),
    };
    let mut shown = PathBuf::from(spaces_dir);
    for name in relative.iter().copied().chain([OsStr::new("outbox")]) {
        shown.push(name);
        fd = match rustix::fs::openat(&fd, name, dir_flags | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(next) => next,
            Err(Errno::NOENT) => return Ok(None),
            // ELOOP is the Linux and macOS answer for a link under O_NOFOLLOW;
            // ENOTDIR for a file; other systems answer a link with EMLINK.
            Err(Errno::LOOP | Errno::NOTDIR | Errno::MLINK) => {
                let what = match rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => "a symbolic link",
                    _ => "not a directory",
                };
                return Err(format!("{} is {what}", shown.display()));
            }
            Err(e) => return Err(format!("cannot open {}: {e}", shown.display())),
        };
    }
    Ok(Some(fd))
}

/// One eligible entry, before the count cap and the ordering.
struct Candidate {
    filename: String,
    size_bytes: u64,
}

fn scan_dir(outbox_fd: &OwnedFd, outbox: &Path, since: &Since, now_ms: u64, max_file_bytes: u64) -> OutboxScan {
    let mut scan = OutboxScan::default();
    // A second descriptor for reading entries ("." of the outbox, never a link),
    // so the first stays free for fstatat while the stream is read.
    let mut dir = match Dir::read_from(outbox_fd) {
        Ok(dir) => dir,
        Err(e) => return OutboxScan::refused(format!("cannot read {}: {e}", outbox.display())),
    };
    let latest_ms = now_ms.saturating_add(OUTBOX_CLOCK_SKEW_MS);
    let mut kept: Vec<Candidate> = Vec::new();
    let mut oversized: Vec<Candidate> = Vec::new();
    let mut examined = 0;
    while let Some(entry) = dir.read() {
        if examined == MAX_OUTBOX_ENTRIES_EXAMINED {
            scan.entries_not_examined = true;
            break;
        }
        examined += 1;
        let Ok(entry) = entry else {
            // A read error mid-stream ends the listing; what was read stands.
            break;
        };
        let name = entry.file_name();
        let Ok(filename) = std::str::from_utf8(name.to_bytes()) else {
            // The host's file records are strings; a name that is not UTF-8 cannot travel.
            continue;
        };
        if filename.starts_with('.') {
            continue;
        }
        let st = match rustix::fs::statat(outbox_fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(_) => continue, // deleted meanwhile
        };
        // Not directories, links, FIFOs, sockets or devices: only what can be read as a file.
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            continue;
        }
        if !since.admits(name.to_bytes(), &st) {
            continue;
        }
        let mtime = mtime_ms(&st);
        if mtime > latest_ms {
            scan.future_mtime += 1;
            continue;
        }
        #[allow(clippy::unnecessary_cast)] // nlink_t is u32 on some targets, u64 on others
        if st.st_nlink as u64 > 1 {
            scan.hard_linked += 1;
            continue;
        }
        let candidate = Candidate { filename: filename.to_owned(), size_bytes: u64::try_from(st.st_size).unwrap_or(0) };
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
    scan.files = kept
        .into_iter()
        .map(|c| EgressFile {
            path: path_of(&c.filename),
            mime_type: mime_for(&c.filename).to_owned(),
            filename: c.filename,
            size_bytes: c.size_bytes,
        })
        .collect();
    scan
}

/// The mtime in epoch milliseconds; before the epoch counts as 0.
#[allow(clippy::unnecessary_cast)] // the field types differ between Linux and macOS
pub(crate) fn mtime_ms(st: &rustix::fs::Stat) -> u64 {
    let secs = st.st_mtime as i64;
    let nanos = st.st_mtime_nsec as i64;
    let ms = secs.saturating_mul(1000).saturating_add(nanos / 1_000_000);
    u64::try_from(ms).unwrap_or(0)
}

/// A FIFO at `path`; mkfifo(3), because rustix has no mknodat on macOS.
#[cfg(test)]
pub(crate) fn make_fifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: c is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;
    use std::time::Duration;
    use std::time::UNIX_EPOCH;

    const SINCE: u64 = 1_700_000_000_000;
    const NOW: u64 = SINCE + 60_000;

    fn set_mtime(path: &Path, ms: u64) {
        let file = fs::File::options().write(true).open(path).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_millis(ms)).unwrap();
    }

    /// `<tmp>/spaces/s1` with an empty `outbox`.
    struct Space {
        _tmp: tempfile::TempDir,
        spaces: PathBuf,
        workspace: PathBuf,
        outbox: PathBuf,
    }

    fn space() -> Space {
        let tmp = tempfile::tempdir().unwrap();
        let spaces = tmp.path().join("spaces");
        let workspace = spaces.join("s1");
        let outbox = workspace.join("outbox");
        fs::create_dir_all(&outbox).unwrap();
        Space { _tmp: tmp, spaces, workspace, outbox }
    }

    impl Space {
        fn write(&self, name: &str, mtime: u64) -> PathBuf {
            let path = self.outbox.join(name);
            fs::write(&path, b"data").unwrap();
            set_mtime(&path, mtime);
            path
        }

        fn scan(&self) -> OutboxScan {
            scan_outbox_in(&self.spaces, &self.workspace, SINCE, NOW)
        }
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
        assert_eq!(scan_outbox_in(&s.spaces, &s.spaces.join("nobody"), SINCE, NOW), OutboxScan::default());
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

        let scan = s.scan();
        assert_eq!(names(&scan), ["chart.png", "noext", "notes.MD"]);
        let chart = &scan.files[0];
        assert_eq!(chart.path, s.workspace.join("outbox/chart.png").to_string_lossy());
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
        assert_eq!(scan_outbox_in(&s.spaces, &s.workspace, SINCE, NOW).files.len(), 1);
        assert_eq!(scan_outbox_in(&s.spaces, &s.workspace, SINCE + 1, NOW).files.len(), 0);
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

        let scan = s.scan();
        assert_eq!(names(&scan), ["exact.bin"]);
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
        let scan = scan_outbox_in(&s.spaces, &s.workspace, 0, u64::MAX - OUTBOX_CLOCK_SKEW_MS);
        assert!(scan.files.is_empty(), "{scan:?}");
        let reason = scan.refused.unwrap();
        assert!(reason.ends_with("s1/outbox is a symbolic link"), "{reason}");
    }

    #[test]
    fn outbox_symlinked_to_another_folder_is_refused() {
        let s = space();
        let elsewhere = s.spaces.join("s2/outbox");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::write(elsewhere.join("secret.txt"), b"s").unwrap();
        set_mtime(&elsewhere.join("secret.txt"), SINCE);
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
        fs::create_dir_all(real.join("s1/outbox")).unwrap();
        fs::write(real.join("s1/outbox/leak.txt"), b"x").unwrap();
        set_mtime(&real.join("s1/outbox/leak.txt"), SINCE);
        fs::create_dir_all(&spaces).unwrap();
        // spaces/group -> outside/deep, workspace spaces/group/s1: the link is an intermediate component.
        symlink(&real, spaces.join("group")).unwrap();
        let scan = scan_outbox_in(&spaces, &spaces.join("group/s1"), SINCE, NOW);
        assert!(scan.files.is_empty());
        let reason = scan.refused.unwrap();
        assert!(reason.ends_with("spaces/group is a symbolic link"), "{reason}");
    }

    #[test]
    fn the_trusted_spaces_dir_itself_may_be_a_link() {
        let s = space();
        let link = s._tmp.path().join("spaces-link");
        symlink(&s.spaces, &link).unwrap();
        s.write("a.txt", SINCE);
        let scan = scan_outbox_in(&link, &link.join("s1"), SINCE, NOW);
        assert_eq!(names(&scan), ["a.txt"]);
        assert_eq!(scan.files[0].path, link.join("s1/outbox/a.txt").to_string_lossy());
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
        let outside = s._tmp.path().join("host-secret.txt");
        fs::write(&outside, b"secret").unwrap();
        set_mtime(&outside, SINCE + 1);
        symlink(&outside, s.outbox.join("leak.txt")).unwrap();
        symlink("/etc/passwd", s.outbox.join("passwd.txt")).unwrap();
        symlink("/proc/self/environ", s.outbox.join("environ")).unwrap();
        symlink(s.outbox.join("real.txt"), s.outbox.join("inside-link.txt")).unwrap();
        s.write("real.txt", SINCE + 1);
        let scan = s.scan();
        assert_eq!(names(&scan), ["real.txt"]);
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
        let other = s.spaces.join("s2");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("private.txt"), b"theirs").unwrap();
        set_mtime(&other.join("private.txt"), SINCE + 1);
        fs::hard_link(other.join("private.txt"), s.outbox.join("stolen.txt")).unwrap();
        s.write("mine.txt", SINCE + 1);
        let scan = s.scan();
        assert_eq!(names(&scan), ["mine.txt"]);
        assert_eq!(scan.hard_linked, 1);
    }

    #[test]
    fn a_future_mtime_is_skipped_and_counted() {
        let s = space();
        s.write("tomorrow.txt", NOW + 86_400_000);
        s.write("just-past-skew.txt", NOW + OUTBOX_CLOCK_SKEW_MS + 1);
        s.write("within-skew.txt", NOW + OUTBOX_CLOCK_SKEW_MS);
        let scan = s.scan();
        assert_eq!(names(&scan), ["within-skew.txt"]);
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
        let outside = s._tmp.path().join("elsewhere");
        fs::create_dir_all(outside.join("outbox")).unwrap();
        fs::write(outside.join("outbox/x.txt"), b"x").unwrap();
        set_mtime(&outside.join("outbox/x.txt"), SINCE);
        for workspace in [outside.clone(), s.spaces.join("../elsewhere"), s.spaces.join("s1/../../elsewhere")] {
            let scan = scan_outbox_in(&s.spaces, &workspace, SINCE, NOW);
            assert!(scan.files.is_empty(), "{workspace:?}");
            assert!(scan.refused.is_some(), "{workspace:?}");
        }
        // A sibling whose name merely starts with the spaces folder's name is outside too.
        let sibling = s._tmp.path().join("spaces-other");
        let scan = scan_outbox_in(&s.spaces, &sibling, SINCE, NOW);
        assert!(scan.refused.unwrap().contains("is not inside"));
    }

    #[test]
    fn dot_components_are_normalised_lexically() {
        let s = space();
        s.write("a.txt", SINCE);
        let scan = scan_outbox_in(&s.spaces.join("./x/.."), &s.spaces.join("./s1/."), SINCE, NOW);
        assert_eq!(names(&scan), ["a.txt"]);
    }
}
