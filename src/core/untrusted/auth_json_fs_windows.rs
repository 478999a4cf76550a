//! How `auth.json` is opened on Windows (see `auth_json::read_auth_file`);
//! the twin of `auth_json_fs_unix.rs`.
//!
//! The open never follows a reparse point (`FILE_FLAG_OPEN_REPARSE_POINT`: a
//! symbolic link, junction or mount point is opened as itself, then refused),
//! and everything is checked on the handle it gave, which nothing can swap
//! any more: a file on a disk (`GetFileType`, not a pipe or a device), not a
//! reparse point or a folder, at most `cap` bytes. So, unlike unix, there is
//! no check before the open to repeat after it. `FILE_FLAG_BACKUP_SEMANTICS`
//! lets a folder open too, so that it is refused by name rather than as
//! "access denied". Opening never waits: a Windows FIFO (a named pipe) lives
//! only under `\\.\pipe\`, reachable from a folder only through a link.
//! The share mode lets the user (or their login tool) write the file meanwhile.

use std::fs::File;
use std::io::ErrorKind;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsRawHandle;
use std::path::Path;

use windows_sys::Win32::Storage::FileSystem::{
    GetFileInformationByHandle, GetFileType, BY_HANDLE_FILE_INFORMATION, FILE_ATTRIBUTE_DIRECTORY,
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, FILE_SHARE_DELETE,
    FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_TYPE_DISK,
};

/// `path` opened for reading, checked as above: `None` when there is no such
/// file, the reason (without the path) when it is refused.
pub(super) fn open_auth_file(path: &Path, cap: u64) -> Result<Option<File>, String> {
    let refused = |why: String| Err(why);
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return refused(format!("cannot be opened: {e}")),
    };
    let handle = file.as_raw_handle();
    // SAFETY: `handle` is the open handle `file` owns for this whole function.
    if unsafe { GetFileType(handle) } != FILE_TYPE_DISK {
        return refused("is not a regular file (a device or pipe)".into());
    }
    // SAFETY: as above; `info` is a plain struct the call fills in.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    if unsafe { GetFileInformationByHandle(handle, &mut info) } == 0 {
        return refused(format!("cannot be examined: {}", std::io::Error::last_os_error()));
    }
    if info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return refused("is a symbolic link (or another reparse point: junction, mount point)".into());
    }
    if info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
        return refused("is not a regular file (a folder)".into());
    }
    let size = (u64::from(info.nFileSizeHigh) << 32) | u64::from(info.nFileSizeLow);
    if size > cap {
        return refused(format!("is {size} bytes, over the {cap} read"));
    }
    Ok(Some(file))
}
