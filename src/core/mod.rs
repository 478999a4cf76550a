//! The runner itself, with no JavaScript in it: tested with `cargo test`.

pub mod connect;
pub mod credentials;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod image_ref;
pub mod log;
pub mod mime;
pub mod outbox;
pub mod outcome;
pub mod output;
pub mod paths;
pub mod payload;
pub mod pull_log;
pub mod registry;
pub mod registry_auth;
pub mod run;
pub mod runner;
pub mod spec;
