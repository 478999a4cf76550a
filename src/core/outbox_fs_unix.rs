//! The unix system calls behind the outbox hand-off, and nothing else: open
//! the very file a scan looked at, and make the runner's private folders and
//! files. A Windows twin (`outbox_fs_windows.rs`) gives the same four items.
//!
//! Why these flags: the outbox is written by containers that race the host.
//! Between the scan's `fstatat` and this open, an entry can become a link
//! (to `/proc/self/environ`, a key), a FIFO (an open or read that never
//! returns), a device, or a hard link to a file the agent cannot read. So the
//! open never follows a link (`O_NOFOLLOW`), never waits (`O_NONBLOCK`: a FIFO
//! opens at once and is then refused), never takes a terminal (`O_NOCTTY`),
//! and what it opened is checked on the descriptor itself (`fstat`), which
//! nothing can swap any more.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, Stat, CWD};

/// The file a directory entry named when the scan looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    #[allow(clippy::unnecessary_cast)] // dev_t and ino_t differ between targets
    pub fn of(st: &Stat) -> Self {
        Self { dev: st.st_dev as u64, ino: st.st_ino as u64 }
    }
}

/// What opening a scanned entry again gave.
#[derive(Debug)]
pub enum Reopened {
    /// The same regular file with one link.
    File(File),
    /// Gone, now a link or special file, hard linked, or another file than
    /// the one the scan checked.
    Changed,
}

/// Opens `name` in the directory `dir` (the scan's own descriptor), only if it
/// is still the regular, single-link file `expected` the scan saw.
pub fn reopen_scanned(dir: &OwnedFd, name: &str, expected: FileId) -> Reopened {
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
    if FileId::of(&st) != expected {
        return Reopened::Changed;
    }
    Reopened::File(File::from(fd))
}

/// Creates the folder `path` with mode 0700. It must not exist: `mkdir` never
/// follows a link in its last component, so a folder made here is the runner's.
pub fn make_private_dir(path: &Path) -> io::Result<()> {
    rustix::fs::mkdir(path, Mode::from_raw_mode(0o700))?;
    Ok(())
}

/// Creates the file `path` with mode 0600 for writing; it must not exist and
/// is never reached through a link.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(CWD, path, flags, Mode::from_raw_mode(0o600))?))
}
