//! Everything the host reads that a container wrote: the agent's stdout, the result
//! JSON in it, the outbox files, `auth.json`, and the MIME type of a file name.
//! The agent is hostile and races the host, so each reader here hands on what it
//! checked (descriptor, bytes, private copy), never a path a container can still change.
//!
//! Owns: output scanning (`output`), the result span's JSON (`result_json`), the outbox
//! (`outbox`, where it lies in `outbox_dir`, `outbox_since`, `outbox_copy`, the system
//! calls in `outbox_fs` and what they report in `outbox_entry`), the `auth.json` token (`auth_json`), MIME types (`mime`).
//! May use: the shared pieces of `core` only; nothing of `engine` or `turn`.

pub(crate) mod auth_json;
#[cfg(unix)]
mod auth_json_fs_unix;
#[cfg(windows)]
mod auth_json_fs_windows;
pub(crate) mod mime;
pub(crate) mod outbox;
pub(crate) mod outbox_copy;
pub(crate) mod outbox_dir;
pub(crate) mod outbox_entry;
// The outbox's system calls: one interface, a file per platform.
#[cfg_attr(unix, path = "outbox_fs_unix.rs")]
#[cfg_attr(windows, path = "outbox_fs_windows.rs")]
pub(crate) mod outbox_fs;
pub(crate) mod outbox_since;
pub(crate) mod output;
pub(crate) mod result_json;
