//! The runner's private copies of outbox files: what `EgressFile.path` points at.
//!
//! The host reads a returned path after the scan, and any container that can
//! write the outbox could change what that path names by then. So each file
//! the scan checked is copied, from the descriptor the scan's checks were made
//! on, into a folder only this process can reach: `<temp dir>/mercury-outbox-
//! <pid>-<random>` (mode 0700, created on first use, mounted into no container),
//! one subfolder per turn (0700), each copy 0600 under its own file name.
//!
//! How long copies live, and how much disk they take, is bounded here:
//! - a workspace's copies go when that workspace's next turn (or `scanOutbox`)
//!   delivers its own, and at the latest [`COPY_LIFETIME`] after they were made;
//! - `killAll` removes the copies of the runner's spaces, process exit all of them,
//!   and a process's first copy removes the folders of this user's processes
//!   that are gone (a killed host's, or one whose exit hook never ran);
//! - at most [`MAX_TURNS_KEPT`] turns' copies and [`MAX_COPY_BYTES`] are kept,
//!   the oldest turn removed first to make room.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::outbox_fs::{create_private_file, left_by_dead_process, make_private_dir};

/// A copy is removed at the latest this long after it was made. The host reads
/// (uploads) the files right after the reply settles, which takes seconds; ten
/// minutes leaves room for a slow upload and a retry while bounding how long a
/// chat's files lie on the host's disk. Checked every [`COPY_SWEEP_EVERY`].
pub(crate) const COPY_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// How often expired copies are looked for (so a copy lives at most
/// [`COPY_LIFETIME`] + this). The sweeping thread ends when no copy is left.
pub(crate) const COPY_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// At most this many turns' copies at once: a busy host with many spaces keeps
/// its most recent ones (the host has read older ones long ago).
pub(crate) const MAX_TURNS_KEPT: usize = 32;

/// At most this many bytes of copies at once: one turn at the outbox's own
/// bounds (100 files of 25 MiB, 2.5 GiB) always fits, once older turns are gone.
pub(crate) const MAX_COPY_BYTES: u64 = 100 * 25 * 1024 * 1024;

/// One turn's copies, as the store tracks them.
struct Kept {
    /// The workspace the files came from: its next delivery replaces these.
    key: PathBuf,
    folder: PathBuf,
    made: Instant,
    /// Reserved while the turn copies, then what it really used.
    bytes: u64,
}

#[derive(Default)]
struct State {
    /// Created on first use.
    root: Option<PathBuf>,
    kept: Vec<Kept>,
    next: u64,
    sweeping: bool,
}

/// The copy folder of a process (or of a test).
pub(crate) struct CopyStore {
    /// Where the root folder is made.
    base: PathBuf,
    /// The process's store sweeps expired copies on a thread of its own.
    sweeps: bool,
    state: Mutex<State>,
}

/// The process's store, under the OS temp dir.
pub(crate) fn global() -> &'static CopyStore {
    static STORE: OnceLock<CopyStore> = OnceLock::new();
    STORE.get_or_init(|| CopyStore { sweeps: true, ..CopyStore::new(std::env::temp_dir()) })
}

/// How copying one file ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Copied {
    /// The private copy's path and its size.
    Done { path: String, size_bytes: u64 },
    /// Larger than the cap (grown since the scan, perhaps): at least this many bytes.
    Oversized(u64),
    /// Its size changed while it was read: not what the scan checked.
    Changed,
    /// [`MAX_COPY_BYTES`] reached, or the copy could not be written.
    Failed,
}

impl CopyStore {
    /// A store whose root folder will be made in `base`.
    pub(crate) fn new(base: PathBuf) -> Self {
        Self { base, sweeps: false, state: Mutex::new(State::default()) }
    }

    /// Whether the copies would lie inside `dir` (both resolved): a folder
    /// containers mount must never hold them.
    pub(crate) fn lies_within(&self, dir: &Path) -> bool {
        match (std::fs::canonicalize(&self.base), std::fs::canonicalize(dir)) {
            (Ok(base), Ok(dir)) => base.starts_with(dir),
            _ => false,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a turn's copies from the workspace `key`, about `needed` bytes:
    /// removes `key`'s earlier copies, expired ones, and the oldest until this
    /// turn fits the bounds; then makes the turn's folder.
    pub(crate) fn begin(&'static self, key: &Path, needed: u64) -> io::Result<TurnCopies> {
        self.begin_at(key, needed, Instant::now())
    }

    fn begin_at(&'static self, key: &Path, needed: u64, now: Instant) -> io::Result<TurnCopies> {
        let mut state = self.state();
        let (stale, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.kept)
            .into_iter()
            .partition(|k| k.key == key || now.saturating_duration_since(k.made) >= COPY_LIFETIME);
        state.kept = kept;
        remove_folders(stale);
        let needed = needed.min(MAX_COPY_BYTES);
        while !state.kept.is_empty()
            && (state.kept.len() >= MAX_TURNS_KEPT || used(&state.kept).saturating_add(needed) > MAX_COPY_BYTES)
        {
            let oldest = state.kept.remove(0);
            remove_folders([oldest]);
        }
        let root = match &state.root {
            Some(root) => root.clone(),
            None => {
                let root = self.make_root()?;
                state.root = Some(root.clone());
                root
            }
        };
        state.next += 1;
        let folder = root.join(state.next.to_string());
        make_private_dir(&folder)?;
        let budget = MAX_COPY_BYTES.saturating_sub(used(&state.kept));
        state.kept.push(Kept { key: key.to_owned(), folder: folder.clone(), made: now, bytes: needed });
        if self.sweeps && !state.sweeping {
            state.sweeping = start_sweeping();
        }
        Ok(TurnCopies { store: self, folder, budget, used: 0, files: 0 })
    }

    /// `mercury-outbox-<pid>-<random>` in the base folder, made new (never one
    /// that existed: in a shared temp dir another user could have made it).
    /// First, the folders of processes that are gone are removed.
    fn make_root(&self) -> io::Result<PathBuf> {
        use std::hash::{BuildHasher, Hasher};
        remove_stale_roots(&self.base);
        let mut last = None;
        for _ in 0..8 {
            // RandomState is seeded from the OS's randomness: a name no one can guess ahead.
            let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
            let root = self.base.join(format!("mercury-outbox-{}-{random:016x}", std::process::id()));
            match make_private_dir(&root) {
                Ok(()) => return Ok(root),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free name for the copy folder")))
    }

    /// Removes copies made [`COPY_LIFETIME`] ago or earlier; true when none is
    /// left, and then the sweeping thread ends (under the same lock, so the next
    /// copy starts another).
    fn sweep_expired(&self, now: Instant) -> bool {
        let mut state = self.state();
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.kept)
            .into_iter()
            .partition(|k| now.saturating_duration_since(k.made) >= COPY_LIFETIME);
        state.kept = kept;
        remove_folders(expired);
        let none_left = state.kept.is_empty();
        if none_left {
            state.sweeping = false;
        }
        none_left
    }

    /// Removes the copies of workspaces inside `dir` (a runner's `spacesDir`, at `killAll`).
    pub(crate) fn remove_within(&self, dir: &Path) {
        let mut state = self.state();
        let (gone, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut state.kept).into_iter().partition(|k| k.key.starts_with(dir));
        state.kept = kept;
        remove_folders(gone);
    }

    /// Removes every copy and the root folder (process exit).
    pub(crate) fn remove_all(&self) {
        let mut state = self.state();
        state.kept.clear();
        if let Some(root) = state.root.take() {
            // remove_dir_all never follows a link inside the folder.
            let _ = std::fs::remove_dir_all(root);
        }
    }

    /// The folders of the turns kept now, oldest first.
    #[cfg(all(test, unix))]
    fn folders(&self) -> Vec<PathBuf> {
        self.state().kept.iter().map(|k| k.folder.clone()).collect()
    }

    fn finish(&self, folder: &Path, used: u64, files: usize) {
        let mut state = self.state();
        if files == 0 {
            state.kept.retain(|k| k.folder != folder);
            let _ = std::fs::remove_dir_all(folder);
        } else if let Some(kept) = state.kept.iter_mut().find(|k| k.folder == folder) {
            kept.bytes = used;
        }
    }
}

/// Removes `mercury-outbox-<pid>-<16 hex>` folders in `base` whose process is
/// gone and which belong to this user.
fn remove_stale_roots(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let own = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(root_pid).filter(|pid| *pid != own) else {
            continue;
        };
        let path = entry.path();
        if left_by_dead_process(&path, pid) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// The `<pid>` of a root folder's name, `mercury-outbox-<pid>-<16 hex>`.
fn root_pid(name: &str) -> Option<u32> {
    let (pid, random) = name.strip_prefix("mercury-outbox-")?.split_once('-')?;
    (random.len() == 16 && random.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
    pid.parse().ok()
}

fn used(kept: &[Kept]) -> u64 {
    kept.iter().fold(0, |sum, k| sum.saturating_add(k.bytes))
}

fn remove_folders(gone: impl IntoIterator<Item = Kept>) {
    for kept in gone {
        // Already gone (process exit raced) is fine; a file the host still has open stays readable through that descriptor.
        let _ = std::fs::remove_dir_all(&kept.folder);
    }
}

/// The process store's sweeping thread; false if it cannot be started (then
/// copies still go at the next turn and at exit).
fn start_sweeping() -> bool {
    std::thread::Builder::new()
        .name("mercury-outbox-sweep".into())
        .spawn(|| loop {
            std::thread::sleep(COPY_SWEEP_EVERY);
            if global().sweep_expired(Instant::now()) {
                return;
            }
        })
        .is_ok()
}

/// One turn's folder, while its files are copied in.
pub(crate) struct TurnCopies {
    store: &'static CopyStore,
    folder: PathBuf,
    budget: u64,
    used: u64,
    files: usize,
}

impl TurnCopies {
    /// Copies `file` (opened and checked by the caller; `size` its size then)
    /// as `filename`: at most `max_bytes` + 1 bytes are read, and a copy whose
    /// length is not `size` is removed (the file changed while it was read).
    pub(crate) fn copy(&mut self, file: File, size: u64, filename: &str, max_bytes: u64) -> Copied {
        if size > max_bytes {
            return Copied::Oversized(size);
        }
        if self.used.saturating_add(size) > self.budget {
            return Copied::Failed;
        }
        let path = self.folder.join(filename);
        let Ok(mut copy) = create_private_file(&path) else {
            return Copied::Failed;
        };
        // std::io::copy uses copy_file_range/sendfile where it can: no bytes through user space.
        let written = io::copy(&mut file.take(max_bytes.saturating_add(1)), &mut copy);
        let outcome = match written {
            Ok(n) if n > max_bytes => Copied::Oversized(n),
            Ok(n) if n != size => Copied::Changed,
            Ok(n) => {
                self.used += n;
                self.files += 1;
                return Copied::Done { path: path.to_string_lossy().into_owned(), size_bytes: n };
            }
            Err(_) => Copied::Failed,
        };
        let _ = std::fs::remove_file(&path);
        outcome
    }
}

impl Drop for TurnCopies {
    fn drop(&mut self) {
        self.store.finish(&self.folder, self.used, self.files);
    }
}

// Unix: they check modes and make links the unix way.
#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A store of its own in a fresh temp folder (leaked: `begin` needs `'static`).
    fn store() -> (&'static CopyStore, tempfile::TempDir) {
        let tmp = tempfile::tempdir().unwrap();
        (Box::leak(Box::new(CopyStore::new(tmp.path().to_owned()))), tmp)
    }

    fn source(tmp: &Path, content: &[u8]) -> (File, u64) {
        let path = tmp.join(format!("src-{}", content.len()));
        std::fs::write(&path, content).unwrap();
        (File::open(&path).unwrap(), content.len() as u64)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn folders_are_0700_and_copies_0600_with_the_file_name_kept() {
        let (store, tmp) = store();
        let mut turn = store.begin(Path::new("/spaces/a"), 5).unwrap();
        let (file, size) = source(tmp.path(), b"hello");
        let Copied::Done { path, size_bytes } = turn.copy(file, size, "report.pdf", 100) else { panic!() };
        let path = PathBuf::from(path);
        assert_eq!(size_bytes, 5);
        assert_eq!(path.file_name().unwrap(), "report.pdf");
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        assert_eq!(mode(&path), 0o600);
        let folder = path.parent().unwrap();
        assert_eq!(mode(folder), 0o700);
        let root = folder.parent().unwrap();
        assert_eq!(mode(root), 0o700);
        assert_eq!(root.parent().unwrap(), tmp.path());
        assert!(root.file_name().unwrap().to_string_lossy().starts_with("mercury-outbox-"));
    }

    #[test]
    fn a_file_that_grew_past_the_cap_is_oversized_and_not_kept() {
        let (store, tmp) = store();
        let mut turn = store.begin(Path::new("/spaces/a"), 10).unwrap();
        // The scan saw 10 bytes; the file holds 1000 now: at most cap + 1 are read.
        let (file, _) = source(tmp.path(), &[7u8; 1000]);
        assert_eq!(turn.copy(file, 10, "grow.bin", 100), Copied::Oversized(101));
        assert!(!turn.folder.join("grow.bin").exists());
    }

    #[test]
    fn a_file_whose_size_changed_within_the_cap_is_skipped() {
        let (store, tmp) = store();
        let mut turn = store.begin(Path::new("/spaces/a"), 10).unwrap();
        let (file, _) = source(tmp.path(), &[7u8; 20]);
        assert_eq!(turn.copy(file, 10, "changed.txt", 100), Copied::Changed);
        let (file, _) = source(tmp.path(), &[7u8; 5]);
        assert_eq!(turn.copy(file, 10, "shrunk.txt", 100), Copied::Changed);
        assert!(std::fs::read_dir(&turn.folder).unwrap().next().is_none());
    }

    #[test]
    fn a_name_already_copied_is_not_overwritten() {
        let (store, tmp) = store();
        let mut turn = store.begin(Path::new("/spaces/a"), 10).unwrap();
        let (file, size) = source(tmp.path(), b"one");
        assert!(matches!(turn.copy(file, size, "x.txt", 100), Copied::Done { .. }));
        let (file, size) = source(tmp.path(), b"two!");
        assert_eq!(turn.copy(file, size, "x.txt", 100), Copied::Failed);
        assert_eq!(std::fs::read(turn.folder.join("x.txt")).unwrap(), b"one");
    }

    #[test]
    fn a_workspace_next_turn_removes_its_previous_copies_only() {
        let (store, tmp) = store();
        let copy = |key: &str, content: &[u8]| {
            let mut turn = store.begin(Path::new(key), content.len() as u64).unwrap();
            let (file, size) = source(tmp.path(), content);
            let Copied::Done { path, .. } = turn.copy(file, size, "f.txt", 100) else { panic!() };
            PathBuf::from(path)
        };
        let a1 = copy("/spaces/a", b"a1");
        let b1 = copy("/spaces/b", b"b1");
        let a2 = copy("/spaces/a", b"a2");
        assert!(!a1.exists(), "a's first copies go at a's next turn");
        assert!(!a1.parent().unwrap().exists());
        assert!(b1.exists() && a2.exists());
    }

    #[test]
    fn copies_expire_after_the_lifetime() {
        let (store, tmp) = store();
        let t0 = Instant::now();
        let mut turn = store.begin_at(Path::new("/spaces/a"), 2, t0).unwrap();
        let (file, size) = source(tmp.path(), b"aa");
        let Copied::Done { path, .. } = turn.copy(file, size, "f.txt", 100) else { panic!() };
        drop(turn);
        assert!(!store.sweep_expired(t0 + COPY_LIFETIME - Duration::from_secs(1)));
        assert!(Path::new(&path).exists());
        assert!(store.sweep_expired(t0 + COPY_LIFETIME));
        assert!(!Path::new(&path).exists());
        assert!(store.folders().is_empty());
    }

    #[test]
    fn a_turn_with_no_file_copied_leaves_no_folder() {
        let (store, _tmp) = store();
        let turn = store.begin(Path::new("/spaces/a"), 0).unwrap();
        let folder = turn.folder.clone();
        drop(turn);
        assert!(!folder.exists());
        assert!(store.folders().is_empty());
    }

    #[test]
    fn at_most_max_turns_are_kept_oldest_removed_first() {
        let (store, tmp) = store();
        let mut first = None;
        for i in 0..(MAX_TURNS_KEPT + 3) {
            let mut turn = store.begin(&PathBuf::from(format!("/spaces/s{i}")), 1).unwrap();
            let (file, size) = source(tmp.path(), b"x");
            assert!(matches!(turn.copy(file, size, "f", 10), Copied::Done { .. }));
            first.get_or_insert(turn.folder.clone());
        }
        let folders = store.folders();
        assert_eq!(folders.len(), MAX_TURNS_KEPT);
        assert!(!first.unwrap().exists());
        assert!(folders.iter().all(|f| f.exists()));
    }

    #[test]
    fn the_byte_bound_removes_the_oldest_and_refuses_beyond_it() {
        let (store, tmp) = store();
        // A reservation of the whole bound by one turn, then another turn that needs room.
        let old = store.begin(Path::new("/spaces/a"), MAX_COPY_BYTES).unwrap();
        let old_folder = old.folder.clone();
        let (file, size) = source(tmp.path(), b"x");
        let mut old = old;
        assert!(matches!(old.copy(file, size, "f", 10), Copied::Done { .. }));
        drop(old); // really used: 1 byte
        let mut turn = store.begin(Path::new("/spaces/b"), MAX_COPY_BYTES).unwrap();
        assert!(!old_folder.exists(), "the oldest turn makes room");
        assert_eq!(turn.budget, MAX_COPY_BYTES);
        turn.budget = 3; // as if the rest were taken
        let (file, size) = source(tmp.path(), b"four");
        assert_eq!(turn.copy(file, size, "g", 10), Copied::Failed);
    }

    #[test]
    fn a_gone_process_s_folder_is_removed_at_the_first_copy_others_stay() {
        let (store, tmp) = store();
        // i32::MAX is above any pid_max: no such process. Pid 1 always runs.
        let gone = tmp.path().join(format!("mercury-outbox-{}-0123456789abcdef", i32::MAX));
        let alive = tmp.path().join("mercury-outbox-1-0123456789abcdef");
        let not_ours = tmp.path().join(format!("mercury-outbox-{}-xyz", i32::MAX));
        for dir in [&gone, &alive, &not_ours] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("f"), b"x").unwrap();
        }
        let link = tmp.path().join(format!("mercury-outbox-{}-fedcba9876543210", i32::MAX - 1));
        std::os::unix::fs::symlink(&alive, &link).unwrap();
        let turn = store.begin(Path::new("/spaces/a"), 1).unwrap();
        drop(turn);
        assert!(!gone.exists());
        assert!(alive.join("f").exists() && not_ours.join("f").exists());
        assert!(std::fs::symlink_metadata(&link).is_ok(), "a link is never removed");
        assert_eq!(root_pid("mercury-outbox-42-0123456789abcdef"), Some(42));
        assert_eq!(root_pid("mercury-outbox-42-0123"), None);
    }

    #[test]
    fn a_base_inside_a_folder_is_seen_there() {
        let tmp = tempfile::tempdir().unwrap();
        let spaces = tmp.path().join("spaces");
        std::fs::create_dir_all(spaces.join("tmp")).unwrap();
        std::os::unix::fs::symlink(spaces.join("tmp"), tmp.path().join("tmp-link")).unwrap();
        assert!(CopyStore::new(spaces.join("tmp")).lies_within(&spaces));
        assert!(CopyStore::new(tmp.path().join("tmp-link")).lies_within(&spaces));
        assert!(!CopyStore::new(tmp.path().to_owned()).lies_within(&spaces));
    }

    #[test]
    fn kill_all_removes_the_runners_spaces_and_exit_removes_everything() {
        let (store, tmp) = store();
        let mut paths = vec![];
        for key in ["/data/spaces/a", "/data/spaces/b", "/other/x"] {
            let mut turn = store.begin(Path::new(key), 1).unwrap();
            let (file, size) = source(tmp.path(), b"x");
            let Copied::Done { path, .. } = turn.copy(file, size, "f", 10) else { panic!() };
            paths.push(PathBuf::from(path));
        }
        store.remove_within(Path::new("/data/spaces"));
        assert!(!paths[0].exists() && !paths[1].exists());
        assert!(paths[2].exists());
        let root = paths[2].parent().unwrap().parent().unwrap().to_owned();
        store.remove_all();
        assert!(!root.exists());
    }
}
