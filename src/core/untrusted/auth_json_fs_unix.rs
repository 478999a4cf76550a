//! How `auth.json` is opened on unix (see `auth_json::read_auth_file`); the
//! Windows twin is `auth_json_fs_windows.rs`.
//!
//! The last component must not be a link (O_NOFOLLOW), must be a regular file
//! (checked before opening, so a device or FIFO is never opened, and again on
//! the descriptor), and at most `cap` bytes. The open is O_NONBLOCK, so a FIFO
//! swapped in between the check and the open cannot hang it either.

use std::fs::File;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

/// `path` opened for reading, checked as above: `None` when there is no such
/// file, the reason (without the path) when it is refused.
pub(super) fn open_auth_file(path: &Path, cap: u64) -> Result<Option<File>, String> {
    let refused = |why: String| Err(why);
    let before = match rustix::fs::lstat(path) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return refused(format!("cannot be examined: {e}")),
    };
    match FileType::from_raw_mode(before.st_mode) {
        FileType::RegularFile => {}
        FileType::Symlink => return refused("is a symbolic link".into()),
        other => return refused(format!("is not a regular file ({other:?})")),
    }
    let size = u64::try_from(before.st_size).unwrap_or(u64::MAX);
    if size > cap {
        return refused(format!("is {size} bytes, over the {cap} read"));
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP | Errno::MLINK) => return refused("is a symbolic link".into()),
        Err(e) => return refused(format!("cannot be opened: {e}")),
    };
    match rustix::fs::fstat(&fd) {
        Ok(st)
            if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
                && (st.st_dev, st.st_ino) == (before.st_dev, before.st_ino) => {}
        Ok(_) => return refused("was replaced while being opened".into()),
        Err(e) => return refused(format!("cannot be examined: {e}")),
    }
    Ok(Some(File::from(fd)))
}
