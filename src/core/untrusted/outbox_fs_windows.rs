//! The Windows system calls behind the outbox, and nothing else: the twin of
//! `outbox_fs_unix.rs`, with the same items ([`open_outbox`], [`OutboxDir`]
//! (`names`, `examine`, `reopen`), [`make_private_dir`], [`create_private_file`],
//! [`left_by_dead_process`]), reporting in the platform-free types of
//! `outbox_entry.rs` ([`FileId`], [`EntryStat`], [`Reopened`]).
//!
//! Windows' `openat` is `NtCreateFile` with a `RootDirectory` handle: the walk
//! opens one component at a time relative to the folder opened before it,
//! and every open passes `FILE_OPEN_REPARSE_POINT`, so a symbolic link,
//! junction or mount point is opened as itself (and then refused by its
//! attributes), never followed. The name given to `NtCreateFile` is used as
//! is: no Win32 path rewriting (trailing dots, `CON`), no `..` resolution.
//!
//! Why the reopen checks what it checks: between the scan's look at an entry
//! and the reopen, the agent can swap it for a link, a folder, a hard link to
//! a file it cannot read, or another file. What was opened is checked on the
//! handle itself (`GetFileInformationByHandle`: not a reparse point or folder,
//! one link, the same volume and file index as the scan saw), which nothing
//! can swap any more. Named pipes and devices live outside any folder
//! (`\\.\pipe\`, `\\.\`): a folder's entry reaches them only through a link,
//! which is never followed, and `GetFileType` must say "disk" regardless.
//! Every open shares read, write and delete, so the host never blocks the
//! agent's own use of its files.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
use std::path::{Path, PathBuf};

use windows_sys::Wdk::Foundation::OBJECT_ATTRIBUTES;
use windows_sys::Wdk::Storage::FileSystem::{
    FileFullDirectoryInformation, NtCreateFile, NtQueryDirectoryFile, FILE_NON_DIRECTORY_FILE, FILE_OPEN,
    FILE_OPEN_REPARSE_POINT, FILE_SYNCHRONOUS_IO_NONALERT, NTCREATEFILE_CREATE_OPTIONS,
};
use windows_sys::Win32::Foundation::{
    RtlNtStatusToDosError, ERROR_INVALID_PARAMETER, HANDLE, NTSTATUS, STATUS_NO_MORE_FILES, UNICODE_STRING,
};
use windows_sys::Win32::Storage::FileSystem::{
    GetFileInformationByHandle, GetFileType, BY_HANDLE_FILE_INFORMATION, FILE_ACCESS_RIGHTS, FILE_ATTRIBUTE_DIRECTORY,
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, FILE_FULL_DIR_INFO,
    FILE_LIST_DIRECTORY, FILE_READ_ATTRIBUTES, FILE_READ_DATA, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    FILE_TYPE_DISK, SYNCHRONIZE,
};
use windows_sys::Win32::System::Threading::{GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

use super::outbox_entry::{EntryStat, FileId, Reopened};

/// Every open lets others read, write, rename and delete meanwhile.
const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

/// The outbox folder, open; every look inside goes through this handle.
pub(crate) struct OutboxDir(OwnedHandle);

/// Opens `spaces_dir` (the operator's, followed if a link), then each of
/// `relative` and `outbox` beneath it without following links.
/// `Ok(None)`: something along the way does not exist; `Err`: why it is refused.
pub(crate) fn open_outbox(spaces_dir: &Path, relative: &[&OsStr]) -> Result<Option<OutboxDir>, String> {
    let top = std::fs::OpenOptions::new()
        .access_mode(FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE)
        .share_mode(SHARE_ALL)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(spaces_dir);
    let mut dir = match top {
        Ok(file) => OwnedHandle::from(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open {}: {e}", spaces_dir.display())),
    };
    match info(&dir) {
        Ok(i) if i.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY != 0 => {}
        Ok(_) => return Err(format!("{} is not a directory", spaces_dir.display())),
        Err(e) => return Err(format!("cannot open {}: {e}", spaces_dir.display())),
    }
    let mut shown = PathBuf::from(spaces_dir);
    for name in relative.iter().copied().chain([OsStr::new("outbox")]) {
        shown.push(name);
        dir = match open_beneath(&dir, name, FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE, 0) {
            Ok(next) => next,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot open {}: {e}", shown.display())),
        };
        let attributes = info(&dir).map_err(|e| format!("cannot open {}: {e}", shown.display()))?.dwFileAttributes;
        if attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
            return Err(format!("{} is a symbolic link (or a junction)", shown.display()));
        }
        if attributes & FILE_ATTRIBUTE_DIRECTORY == 0 {
            return Err(format!("{} is not a directory", shown.display()));
        }
    }
    Ok(Some(OutboxDir(dir)))
}

/// How many bytes of entries one listing call asks for.
const LISTING_BUFFER_BYTES: usize = 64 * 1024;

impl OutboxDir {
    /// The entries' names as the filesystem lists them (`.` and `..` included);
    /// an error item ends the listing. A name that is not valid UTF-16 comes
    /// out as bytes that are not UTF-8 (WTF-8), which the scan skips. Read
    /// through a second handle on the same folder (opened beneath this one, as
    /// `.`), so the listing's position is its own.
    pub(crate) fn names(&self) -> io::Result<impl Iterator<Item = io::Result<Vec<u8>>>> {
        let listing = open_beneath(&self.0, OsStr::new(""), FILE_LIST_DIRECTORY | SYNCHRONIZE, 0)?;
        let mut buffer = vec![0u64; LISTING_BUFFER_BYTES / 8];
        let mut pending: std::vec::IntoIter<Vec<u8>> = Vec::new().into_iter();
        let mut first = true;
        let mut done = false;
        Ok(std::iter::from_fn(move || loop {
            if let Some(name) = pending.next() {
                return Some(Ok(name));
            }
            if done {
                return None;
            }
            match list_some(&listing, &mut buffer, first) {
                Ok(Some(names)) => pending = names.into_iter(),
                Ok(None) => done = true,
                Err(e) => {
                    done = true;
                    return Some(Err(e));
                }
            }
            first = false;
        }))
    }

    /// `name` examined without following it; None if it is gone.
    pub(crate) fn examine(&self, name: &str) -> Option<EntryStat> {
        let handle = open_beneath(&self.0, OsStr::new(name), FILE_READ_ATTRIBUTES | SYNCHRONIZE, 0).ok()?;
        let i = info(&handle).ok()?;
        Some(EntryStat {
            regular: is_regular(&handle, &i),
            mtime_ms: epoch_ms(i.ftLastWriteTime.dwHighDateTime, i.ftLastWriteTime.dwLowDateTime),
            mtime_ns: epoch_ns(i.ftLastWriteTime.dwHighDateTime, i.ftLastWriteTime.dwLowDateTime),
            size_bytes: (u64::from(i.nFileSizeHigh) << 32) | u64::from(i.nFileSizeLow),
            links: u64::from(i.nNumberOfLinks),
            id: file_id(&i),
        })
    }

    /// Opens `name` again, only if it is still the regular, single-link file
    /// `expected` the scan saw.
    pub(crate) fn reopen(&self, name: &str, expected: FileId) -> Reopened {
        let access = FILE_READ_DATA | FILE_READ_ATTRIBUTES | SYNCHRONIZE;
        let Ok(handle) = open_beneath(&self.0, OsStr::new(name), access, FILE_NON_DIRECTORY_FILE) else {
            return Reopened::Changed;
        };
        let Ok(i) = info(&handle) else {
            return Reopened::Changed;
        };
        if !is_regular(&handle, &i) || i.nNumberOfLinks != 1 || file_id(&i) != expected {
            return Reopened::Changed;
        }
        Reopened::File(File::from(handle))
    }
}

/// The id of the file `i` describes.
fn file_id(i: &BY_HANDLE_FILE_INFORMATION) -> FileId {
    FileId::new(u64::from(i.dwVolumeSerialNumber), (u64::from(i.nFileIndexHigh) << 32) | u64::from(i.nFileIndexLow))
}

/// Creates the folder `path`. It must not exist: creating never follows a
/// link in the last component, so a folder made here is the runner's. It
/// takes the ACL of the folder it is made in: the user's own temp folder
/// (`%LOCALAPPDATA%\Temp`), which other users cannot read.
pub(crate) fn make_private_dir(path: &Path) -> io::Result<()> {
    std::fs::create_dir(path)
}

/// Creates the file `path` for writing; it must not exist (`CREATE_NEW`) and
/// is never reached through a link. Its ACL is its folder's, as above.
pub(crate) fn create_private_file(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new().write(true).create_new(true).custom_flags(FILE_FLAG_OPEN_REPARSE_POINT).open(path)
}

/// Whether `path` is a folder (not a link or junction) made by process `pid`,
/// which no longer exists: a copy folder a killed host left. No owner check,
/// unlike unix: the folder is in the user's own temp folder, where other
/// users cannot create anything.
pub(crate) fn left_by_dead_process(path: &Path, pid: u32) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    // std's is_dir is false for symbolic links and junctions.
    if !meta.is_dir() {
        return false;
    }
    // SAFETY: plain call; the handle it returns, if any, is owned below.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        // No such process; any other failure (access denied) means it exists.
        return io::Error::last_os_error().raw_os_error() == Some(ERROR_INVALID_PARAMETER as i32);
    }
    // SAFETY: `process` is a handle OpenProcess just gave us; nothing else owns it.
    let process = unsafe { OwnedHandle::from_raw_handle(process as RawHandle) };
    let mut code = 0u32;
    // SAFETY: `process` is open; `code` is a u32 the call writes.
    let answered = unsafe { GetExitCodeProcess(process.as_raw_handle() as HANDLE, &mut code) } != 0;
    // STILL_ACTIVE (259): running. An exited process whose handle someone still holds is gone.
    const STILL_ACTIVE: u32 = 259;
    answered && code != STILL_ACTIVE
}

/// `name` opened beneath the folder `dir` (NT's openat), never following a
/// reparse point; `""` opens `dir` itself again.
fn open_beneath(
    dir: &OwnedHandle,
    name: &OsStr,
    access: FILE_ACCESS_RIGHTS,
    options: NTCREATEFILE_CREATE_OPTIONS,
) -> io::Result<OwnedHandle> {
    let mut wide: Vec<u16> = name.encode_wide().collect();
    let bytes = u16::try_from(wide.len() * 2).map_err(|_| io::Error::from(io::ErrorKind::InvalidFilename))?;
    let unicode = UNICODE_STRING { Length: bytes, MaximumLength: bytes, Buffer: wide.as_mut_ptr() };
    let attributes = OBJECT_ATTRIBUTES {
        Length: std::mem::size_of::<OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: dir.as_raw_handle() as HANDLE,
        ObjectName: &unicode,
        // Case-insensitive, as Win32 opens are: the listing's name finds its own entry.
        Attributes: windows_sys::Win32::Foundation::OBJ_CASE_INSENSITIVE,
        SecurityDescriptor: std::ptr::null(),
        SecurityQualityOfService: std::ptr::null(),
    };
    let mut handle: HANDLE = std::ptr::null_mut();
    // SAFETY: zeroed is a valid IO_STATUS_BLOCK (a union of integers and a pointer-sized value).
    let mut status_block: IO_STATUS_BLOCK = unsafe { std::mem::zeroed() };
    // SAFETY: every pointer is to a live local (`wide` outlives the call through `unicode`);
    // `dir` is an open folder handle; the handle written on success is owned below.
    let status = unsafe {
        NtCreateFile(
            &mut handle,
            access,
            &attributes,
            &mut status_block,
            std::ptr::null(),
            0,
            SHARE_ALL,
            FILE_OPEN,
            options | FILE_OPEN_REPARSE_POINT | FILE_SYNCHRONOUS_IO_NONALERT,
            std::ptr::null(),
            0,
        )
    };
    if status < 0 {
        return Err(nt_error(status));
    }
    // SAFETY: NtCreateFile succeeded, so `handle` is a new handle nothing else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle as RawHandle) })
}

/// The next entries of the listing (restarted when `first`); None at the end.
fn list_some(dir: &OwnedHandle, buffer: &mut [u64], first: bool) -> io::Result<Option<Vec<Vec<u8>>>> {
    // SAFETY: zeroed is a valid IO_STATUS_BLOCK.
    let mut status_block: IO_STATUS_BLOCK = unsafe { std::mem::zeroed() };
    let len = u32::try_from(std::mem::size_of_val(buffer)).unwrap_or(u32::MAX);
    // SAFETY: `buffer` is writable for `len` bytes and 8-aligned (FILE_FULL_DIR_INFO needs 8);
    // the handle is open with FILE_LIST_DIRECTORY and synchronous I/O, so the call completes here.
    let status = unsafe {
        NtQueryDirectoryFile(
            dir.as_raw_handle() as HANDLE,
            std::ptr::null_mut(),
            None,
            std::ptr::null(),
            &mut status_block,
            buffer.as_mut_ptr().cast(),
            len,
            FileFullDirectoryInformation,
            false,
            std::ptr::null(),
            first,
        )
    };
    if status == STATUS_NO_MORE_FILES {
        return Ok(None);
    }
    if status < 0 {
        return Err(nt_error(status));
    }
    let filled = status_block.Information.min(std::mem::size_of_val(buffer));
    let base = buffer.as_ptr().cast::<u8>();
    let name_at = std::mem::offset_of!(FILE_FULL_DIR_INFO, FileName);
    let mut names = Vec::new();
    let mut offset = 0usize;
    loop {
        if offset + name_at > filled {
            break;
        }
        // SAFETY: the header lies within the `filled` bytes the call wrote (checked above).
        let entry = unsafe { std::ptr::read_unaligned(base.add(offset).cast::<FILE_FULL_DIR_INFO>()) };
        let name_bytes = entry.FileNameLength as usize;
        if offset + name_at + name_bytes > filled {
            break;
        }
        // SAFETY: the name's bytes lie within the filled part (checked above); read as u16s unaligned-safely.
        let wide: Vec<u16> = (0..name_bytes / 2)
            .map(|k| unsafe { std::ptr::read_unaligned(base.add(offset + name_at + 2 * k).cast::<u16>()) })
            .collect();
        names.push(OsString::from_wide(&wide).into_encoded_bytes());
        if entry.NextEntryOffset == 0 {
            break;
        }
        offset += entry.NextEntryOffset as usize;
    }
    Ok(Some(names))
}

fn info(handle: &OwnedHandle) -> io::Result<BY_HANDLE_FILE_INFORMATION> {
    // SAFETY: zeroed is a valid BY_HANDLE_FILE_INFORMATION (integers only).
    let mut i: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: `handle` is open; `i` is a struct the call fills in.
    if unsafe { GetFileInformationByHandle(handle.as_raw_handle() as HANDLE, &mut i) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i)
}

/// A file on a disk, neither a folder nor a reparse point (link, junction).
fn is_regular(handle: &OwnedHandle, i: &BY_HANDLE_FILE_INFORMATION) -> bool {
    // SAFETY: `handle` is open.
    let on_disk = unsafe { GetFileType(handle.as_raw_handle() as HANDLE) } == FILE_TYPE_DISK;
    on_disk && i.dwFileAttributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT) == 0
}

/// Milliseconds from 1601 (FILETIME's origin) to 1970.
const MS_FROM_1601_TO_1970: u64 = 11_644_473_600_000;

/// A FILETIME (100 ns since 1601) in milliseconds since 1970; before 1970 is 0.
fn epoch_ms(high: u32, low: u32) -> u64 {
    ((u64::from(high) << 32 | u64::from(low)) / 10_000).saturating_sub(MS_FROM_1601_TO_1970)
}

/// A FILETIME in nanoseconds since 1970 (negative before).
fn epoch_ns(high: u32, low: u32) -> i128 {
    i128::from(u64::from(high) << 32 | u64::from(low)) * 100 - i128::from(MS_FROM_1601_TO_1970) * 1_000_000
}

fn nt_error(status: NTSTATUS) -> io::Error {
    // SAFETY: a pure translation of a status code.
    io::Error::from_raw_os_error(unsafe { RtlNtStatusToDosError(status) } as i32)
}

// Run under wine by `npm run test:windows` (the test names say "windows").
#[cfg(test)]
pub(crate) mod windows_tests {
    use super::*;
    use std::fs;
    use std::io::Read;

    /// Whether the symbolic link `link` the caller just asked for exists.
    /// Wine 8's CreateSymbolicLinkW reports success and makes nothing (wine
    /// has no reparse points), so under wine a test of links cannot run: it
    /// says so on stderr ("SKIP", counted by `npm run test:windows`) and the
    /// caller returns. On Windows the link exists and the test runs.
    pub(crate) fn made_link(made: io::Result<()>, link: &Path, test: &str) -> bool {
        made.expect("making a symbolic link");
        let exists = fs::symlink_metadata(link).is_ok();
        if !exists {
            eprintln!("SKIP {test}: this Windows said it made a symbolic link but made none (wine)");
        }
        exists
    }

    /// `<tmp>/spaces/<space>/outbox` with the given files; the spaces folder.
    fn outbox_with(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let outbox = tmp.path().join("spaces").join("s1").join("outbox");
        fs::create_dir_all(&outbox).unwrap();
        for (name, text) in files {
            fs::write(outbox.join(name), text).unwrap();
        }
        let spaces = tmp.path().join("spaces");
        (tmp, spaces)
    }

    fn open(spaces: &Path) -> Result<Option<OutboxDir>, String> {
        open_outbox(spaces, &[OsStr::new("s1")])
    }

    #[test]
    fn the_walk_opens_the_outbox_and_says_none_when_a_folder_is_missing() {
        let (_tmp, spaces) = outbox_with(&[]);
        assert!(open(&spaces).unwrap().is_some());
        assert!(open_outbox(&spaces, &[OsStr::new("s2")]).unwrap().is_none());
        assert!(open_outbox(&spaces.join("nope"), &[OsStr::new("s1")]).unwrap().is_none());
    }

    #[test]
    fn a_file_in_place_of_a_folder_is_refused_by_name() {
        let (_tmp, spaces) = outbox_with(&[]);
        fs::remove_dir(spaces.join("s1").join("outbox")).unwrap();
        fs::write(spaces.join("s1").join("outbox"), "x").unwrap();
        let err = open(&spaces).err().expect("refused");
        assert!(err.ends_with("outbox is not a directory"), "{err}");
    }

    #[test]
    fn a_linked_outbox_folder_is_refused_not_followed() {
        let (tmp, spaces) = outbox_with(&[]);
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::write(elsewhere.join("secret.txt"), "s").unwrap();
        fs::remove_dir(spaces.join("s1").join("outbox")).unwrap();
        let link = spaces.join("s1").join("outbox");
        if !made_link(std::os::windows::fs::symlink_dir(&elsewhere, &link), &link, "a_linked_outbox_folder") {
            return;
        }
        let err = open(&spaces).err().expect("refused");
        assert!(err.contains("is a symbolic link"), "{err}");
    }

    #[test]
    fn names_lists_every_entry_once_with_dot_and_dotdot() {
        let files: Vec<(String, &str)> =
            (0..700).map(|k| (format!("file-{k:04}-{}.txt", "x".repeat(60)), "x")).collect();
        let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let (_tmp, spaces) = outbox_with(&refs);
        let dir = open(&spaces).unwrap().unwrap();
        // 700 long names are more than one 64 KiB listing call holds.
        let mut names: Vec<String> = dir.names().unwrap().map(|n| String::from_utf8(n.unwrap()).unwrap()).collect();
        names.sort();
        let mut want: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
        want.extend([".".to_owned(), "..".to_owned()]);
        want.sort();
        assert_eq!(names, want);
        // A second listing starts again from the top.
        assert_eq!(dir.names().unwrap().count(), want.len());
    }

    #[test]
    fn examine_tells_files_from_folders_and_links_and_counts_names() {
        let (tmp, spaces) = outbox_with(&[("a.txt", "hello")]);
        let outbox = spaces.join("s1").join("outbox");
        fs::create_dir(outbox.join("sub")).unwrap();
        fs::write(tmp.path().join("target.txt"), "t").unwrap();
        let link = outbox.join("link.txt");
        let linked =
            made_link(std::os::windows::fs::symlink_file(tmp.path().join("target.txt"), &link), &link, "examine");
        let dir = open(&spaces).unwrap().unwrap();
        let a = dir.examine("a.txt").unwrap();
        assert!(a.regular);
        assert_eq!((a.size_bytes, a.links), (5, 1));
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(a.mtime_ms.abs_diff(now_ms) < 60_000, "mtime {} vs now {now_ms}", a.mtime_ms);
        assert!(!dir.examine("sub").unwrap().regular);
        if linked {
            assert!(!dir.examine("link.txt").unwrap().regular, "a link is examined as itself");
        }
        assert!(dir.examine("gone.txt").is_none());
        fs::hard_link(outbox.join("a.txt"), tmp.path().join("second-name.txt")).unwrap();
        assert_eq!(dir.examine("a.txt").unwrap().links, 2);
    }

    #[test]
    fn reopen_gives_the_examined_file_and_refuses_a_swapped_or_linked_one() {
        let (tmp, spaces) = outbox_with(&[("a.txt", "first"), ("b.txt", "second")]);
        let outbox = spaces.join("s1").join("outbox");
        let dir = open(&spaces).unwrap().unwrap();
        let a = dir.examine("a.txt").unwrap();
        let Reopened::File(mut file) = dir.reopen("a.txt", a.id) else { panic!("the same file was refused") };
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "first");
        drop(file);
        // Another file moved into its name (both existed at once: a different file index).
        fs::rename(outbox.join("b.txt"), outbox.join("a.txt")).unwrap();
        assert!(matches!(dir.reopen("a.txt", a.id), Reopened::Changed));
        // The right file, but with a second name: refused.
        let b = dir.examine("a.txt").unwrap();
        assert!(matches!(dir.reopen("a.txt", b.id), Reopened::File(_)));
        fs::hard_link(outbox.join("a.txt"), tmp.path().join("second-name.txt")).unwrap();
        assert!(matches!(dir.reopen("a.txt", b.id), Reopened::Changed));
        fs::create_dir(outbox.join("d")).unwrap();
        let d = dir.examine("d").unwrap();
        assert!(matches!(dir.reopen("d", d.id), Reopened::Changed));
        assert!(matches!(dir.reopen("gone.txt", b.id), Reopened::Changed));
    }

    #[test]
    fn private_files_and_folders_are_new_and_dead_processes_are_told_from_live_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = tmp.path().join("mercury-outbox-test");
        make_private_dir(&folder).unwrap();
        assert_eq!(make_private_dir(&folder).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        create_private_file(&folder.join("f")).unwrap();
        assert_eq!(create_private_file(&folder.join("f")).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert!(!left_by_dead_process(&folder, std::process::id()), "this process is alive");
        // Windows process ids are multiples of 4 below 2^32; this one is never handed out.
        assert!(left_by_dead_process(&folder, 0xFFFF_FFF0));
        assert!(!left_by_dead_process(&folder.join("f"), 0xFFFF_FFF0), "a file is no copy folder");
    }

    #[test]
    fn filetimes_become_epoch_milliseconds() {
        // 2001-09-09T01:46:40Z is 1e12 ms after the epoch.
        let ft = (1_000_000_000_000u64 + 11_644_473_600_000) * 10_000;
        assert_eq!(epoch_ms((ft >> 32) as u32, ft as u32), 1_000_000_000_000);
        assert_eq!(epoch_ms(0, 0), 0);
        assert_eq!(epoch_ns((ft >> 32) as u32, ft as u32), 1_000_000_000_000 * 1_000_000);
        assert_eq!(epoch_ns(((ft + 7) >> 32) as u32, (ft + 7) as u32), 1_000_000_000_000 * 1_000_000 + 700);
    }
}
