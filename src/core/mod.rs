//! The runner itself, with no JavaScript in it: tested with `cargo test`.
//!
//! Three wings and a few shared pieces; the folders draw the design:
//! - [`engine`]: reaching a container engine (endpoint, transports, registry logins,
//!   the bounded API calls, pulls). Knows nothing of turns or of what agents write.
//! - [`untrusted`]: everything read that a container wrote (stdout scanning, the result
//!   JSON, the outbox, `auth.json`, MIME types). Uses only the shared pieces.
//! - [`turn`]: one reply's life (settings, the container spec, runs in flight, standby,
//!   the outcome). Uses the engine and the untrusted wing.
//! - Shared pieces beside them: [`error`], [`log`], [`clock`], [`paths`], [`js_string`].
//!
//! The binding goes through [`runner::Runner`], which stands above the wings.

pub mod clock;
pub mod engine;
pub mod error;
mod js_string;
pub mod log;
mod paths;
pub mod runner;
pub mod turn;
pub mod untrusted;
