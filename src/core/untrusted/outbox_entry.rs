//! What the outbox's system calls report about an entry, the same on every
//! platform: the file it named ([`FileId`]), how it looked ([`EntryStat`]), and
//! what opening it again gave ([`Reopened`]). The per-platform files
//! (`outbox_fs_unix.rs`, `outbox_fs_windows.rs`) fill these in; the scan
//! (`outbox`, `outbox_since`) reads them without knowing the platform.

use std::fs::File;

/// The file a directory entry named when the scan looked at it: the device
/// (unix `st_dev`; Windows volume serial number) and the file's number on it
/// (inode; file index). Two names for the same file have the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    device: u64,
    index: u64,
}

impl FileId {
    pub(crate) fn new(device: u64, index: u64) -> Self {
        Self { device, index }
    }
}

/// What an entry is, as examined without following it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryStat {
    /// A regular file: not a folder, link (or reparse point), FIFO, pipe, socket or device.
    pub regular: bool,
    /// Modification time in epoch milliseconds; before the epoch counts as 0.
    pub mtime_ms: u64,
    /// Modification time as the filesystem keeps it (nanoseconds on unix,
    /// 100 ns steps on Windows), in epoch nanoseconds: what a claimed turn's
    /// snapshot compares, since a rewrite can fall in the same millisecond.
    pub mtime_ns: i128,
    pub size_bytes: u64,
    /// How many names the file has.
    pub links: u64,
    pub id: FileId,
}

/// What opening a scanned entry again gave.
#[derive(Debug)]
pub(crate) enum Reopened {
    /// The same regular file with one link.
    File(File),
    /// Gone, now a link or special file, hard linked, or another file than
    /// the one the scan checked.
    Changed,
}
