//! `@mercury-ai/container-runner`: Mercury's agent container runner, native.
//!
//! `core` is the runner in plain Rust; `binding` is the thin napi face that
//! converts JavaScript values in and errors out.

#![deny(clippy::unwrap_used)]

pub mod core;
mod binding;
