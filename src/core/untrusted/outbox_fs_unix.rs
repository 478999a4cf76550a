//! The unix system calls behind the outbox, and nothing else: walk to the
//! outbox by directory descriptors, list and examine its entries, open the
//! very file the scan looked at, and make the runner's private folders and
//! files. A Windows twin (`outbox_fs_windows.rs`) gives the same items:
//! [`open_outbox`], [`OutboxDir`] (`names`, `examine`, `reopen`),
//! [`make_private_dir`], [`create_private_file`], [`left_by_dead_process`];
//! what they report ([`FileId`], [`EntryStat`], [`Reopened`]) is platform-free,
//! in `outbox_entry.rs`.
//!
//! The walk opens one component at a time (`openat` with `O_NOFOLLOW |
//! O_DIRECTORY`) and examines entries with `fstatat(AT_SYMLINK_NOFOLLOW)`, so
//! no component is resolved through a path the agent could swap for a link.
//!
//! Why the reopen's flags: the outbox is written by containers that race the host.
//! Between the scan's `fstatat` and the reopen, an entry can become a link
//! (to `/proc/self/environ`, a key), a FIFO (an open or read that never
//! returns), a device, or a hard link to a file the agent cannot read. So the
//! open never follows a link (`O_NOFOLLOW`), never waits (`O_NONBLOCK`: a FIFO
//! opens at once and is then refused), never takes a terminal (`O_NOCTTY`),
//! and what it opened is checked on the descriptor itself (`fstat`), which
//! nothing can swap any more.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

use super::outbox_entry::{EntryStat, FileId, Reopened};

/// The outbox folder, open; every look inside goes through this descriptor.
pub(crate) struct OutboxDir(OwnedFd);

/// Opens `spaces_dir` (the operator's, followed if a link), then each of
/// `relative` and `outbox` beneath it without following links.
/// `Ok(None)`: something along the way does not exist; `Err`: why it is refused.
pub(crate) fn open_outbox(spaces_dir: &Path, relative: &[&OsStr]) -> Result<Option<OutboxDir>, String> {
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
    Ok(Some(OutboxDir(fd)))
}

impl OutboxDir {
    /// The entries' names as the filesystem lists them (`.` and `..` included);
    /// an error item ends the listing. Read through a second descriptor (the
    /// folder's own `.`, never a link), so this one stays free for `examine`.
    pub(crate) fn names(&self) -> io::Result<impl Iterator<Item = io::Result<Vec<u8>>>> {
        let mut dir = Dir::read_from(&self.0)?;
        Ok(std::iter::from_fn(move || {
            dir.read().map(|entry| entry.map(|e| e.file_name().to_bytes().to_vec()).map_err(io::Error::from))
        }))
    }

    /// `name` examined without following it; None if it is gone.
    #[allow(clippy::unnecessary_cast)] // the field types differ between Linux and macOS
    pub(crate) fn examine(&self, name: &str) -> Option<EntryStat> {
        let st = rustix::fs::statat(&self.0, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let ms = (st.st_mtime as i64).saturating_mul(1000).saturating_add(st.st_mtime_nsec as i64 / 1_000_000);
        Some(EntryStat {
            regular: FileType::from_raw_mode(st.st_mode) == FileType::RegularFile,
            mtime_ms: u64::try_from(ms).unwrap_or(0),
            mtime_ns: i128::from(st.st_mtime as i64) * 1_000_000_000 + i128::from(st.st_mtime_nsec as i64),
            size_bytes: u64::try_from(st.st_size).unwrap_or(0),
            links: st.st_nlink as u64,
            id: file_id(&st),
        })
    }

    /// Opens `name` again, only if it is still the regular, single-link file
    /// `expected` the scan saw.
    pub(crate) fn reopen(&self, name: &str, expected: FileId) -> Reopened {
        reopen_scanned(&self.0, name, expected)
    }
}

/// The id of the file `st` describes.
#[allow(clippy::unnecessary_cast)] // dev_t and ino_t differ between targets
fn file_id(st: &Stat) -> FileId {
    FileId::new(st.st_dev as u64, st.st_ino as u64)
}

/// Opens `name` in the directory `dir` (the scan's own descriptor), only if it
/// is still the regular, single-link file `expected` the scan saw.
fn reopen_scanned(dir: &OwnedFd, name: &str, expected: FileId) -> Reopened {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(_) => return Reopened::Changed,
    };
    let Ok(st) = rustix::fs::fstat(&fd) else {
        return Reopened::Changed;
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Reopened::Changed;
    }
    #[allow(clippy::unnecessary_cast)] // nlink_t is u32 on some targets, u64 on others
    if st.st_nlink as u64 != 1 {
        return Reopened::Changed;
    }
    if file_id(&st) != expected {
        return Reopened::Changed;
    }
    Reopened::File(File::from(fd))
}

/// Creates the folder `path` with mode 0700. It must not exist: `mkdir` never
/// follows a link in its last component, so a folder made here is the runner's.
pub(crate) fn make_private_dir(path: &Path) -> io::Result<()> {
    rustix::fs::mkdir(path, Mode::from_raw_mode(0o700))?;
    Ok(())
}

/// Creates the file `path` with mode 0600 for writing; it must not exist and
/// is never reached through a link.
pub(crate) fn create_private_file(path: &Path) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(CWD, path, flags, Mode::from_raw_mode(0o600))?))
}

/// Whether `path` is a folder (not a link) of this process's user, made by
/// process `pid`, which no longer exists: a copy folder a killed host left.
pub(crate) fn left_by_dead_process(path: &Path, pid: u32) -> bool {
    let Ok(st) = rustix::fs::lstat(path) else {
        return false;
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory || st.st_uid != rustix::process::geteuid().as_raw() {
        return false;
    }
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    // ESRCH only: a process we may not signal (EPERM) is alive.
    matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
}
