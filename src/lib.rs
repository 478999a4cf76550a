//! `@mercury-ai/container-runner`: Mercury's agent container runner, native.
//!
//! `core` is the runner in plain Rust; `binding` is the thin napi face that
//! converts JavaScript values in and errors out.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

// The napi registrations are what use the binding; a test build does not register them.
#[cfg_attr(test, allow(dead_code))]
mod binding;
// Private: the compiler sees what nothing uses. A test build leaves out the napi
// registrations, so what only the binding uses looks unused there.
#[cfg_attr(test, allow(dead_code))]
mod core;
