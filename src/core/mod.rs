//! The runner itself, with no JavaScript in it: tested with `cargo test`.
//! The binding goes through [`runner::Runner`]; the rest is the runner's own.

pub mod agent_dir;
pub mod clock;
pub mod config;
mod connect;
mod credentials;
#[cfg(unix)]
mod credentials_fs_unix;
#[cfg(windows)]
mod credentials_fs_windows;
pub mod endpoint;
pub mod engine;
#[cfg(all(test, unix))]
mod engine_matrix;
pub mod error;
mod image_ref;
mod js_string;
pub mod log;
mod mime;
pub mod outbox;
pub mod outbox_copy;
// The outbox's system calls: one interface, a file per platform.
#[cfg_attr(unix, path = "outbox_fs_unix.rs")]
#[cfg_attr(windows, path = "outbox_fs_windows.rs")]
mod outbox_fs;
pub mod outbox_since;
mod outcome;
mod output;
mod paths;
mod payload;
mod plain_sources;
mod pull_log;
mod registry;
mod registry_auth;
pub mod removals;
mod result_json;
pub mod runner;
pub mod spec;
pub mod standby;
pub mod turn;
