//! The runner itself, with no JavaScript in it: tested with `cargo test`.
//!
//! Three wings and a few shared pieces; the folders draw the design:
//! - [`engine`]: reaching a container engine (endpoint, transports, registry logins,
//!   the bounded API calls, pulls). Knows nothing of turns or of what agents write.
//! - [`untrusted`]: everything read that a container wrote (stdout scanning, the result
//!   JSON, the outbox, `auth.json`, MIME types). Uses only the shared pieces.
//! - [`turn`]: one reply's life (settings, the container spec, runs in flight, standby,
//!   the outcome). Uses the engine and the untrusted wing.
//! - Shared pieces beside them: [`error`], [`log`], [`clock`], [`paths`], [`js_string`],
//!   [`bounds`] (every time bound), and [`host`] (the traits the binding implements
//!   with the host's JavaScript: log sink, credential resolver, payload).
//!
//! [`runner::Runner`] stands above the wings. The binding sees only what is re-exported
//! below: the modules are private to `core`, so the compiler holds the binding to it,
//! and everything else here is the core's own (`pub(crate)` at most, and reported dead
//! when nothing uses it).

mod bounds;
mod clock;
mod egress;
mod engine;
mod error;
mod host;
mod js_string;
mod log;
#[cfg(test)]
mod node_oracle;
mod paths;
mod runner;
mod turn;
mod untrusted;

// The surface the binding uses.
pub(crate) use clock::{iso_timestamp, now_ms};
pub(crate) use egress::{egress_options, EgressOptions};
pub(crate) use engine::container::Hardening;
pub(crate) use engine::endpoint::EndpointInput;
pub(crate) use error::{message, ErrorClass, ErrorReport, HostFailure, RunError};
pub(crate) use host::{CredentialResolver, LogSink, ReplyHost};
pub(crate) use log::{dispatch, ConsoleFormat, Fields, Level};
pub(crate) use runner::{custom_image_warning, ExitCleanup, Removal, Runner};
pub(crate) use turn::config::{
    memory_limit, nano_cpus, pids_limit, port_text, standby_options, PackageRoot, RunnerConfig, RunnerOptions,
    StandbyOptions,
};
pub(crate) use turn::one_turn::{ContainerResult, ReplyText};
pub(crate) use turn::spec::ReplyRequest;
pub(crate) use untrusted::outbox::{scan_workspace, EgressFile, MAX_OUTBOX_FILE_BYTES};
pub(crate) use untrusted::outbox_copy::global as outbox_copy_store;
