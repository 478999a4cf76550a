//! Reaching a container engine: which endpoint, over which transport, with which
//! registry login, and the few bounded API calls a run needs (pulls included).
//!
//! Owns: every bound of reaching an engine (`bounds`), the endpoint choice (`endpoint`), the transports (`connect`), registry
//! credentials (`registry_auth`), the engine calls (`client`), pull progress
//! (`pull_log`), image references (`image_ref`).
//! May use: the shared pieces of `core` only; nothing of `turn` or `untrusted`.

pub(crate) mod client;
pub(crate) mod connect;
pub(crate) mod container;
pub(crate) mod egress_calls;
pub(crate) mod endpoint;
pub(crate) mod image_ref;
pub(crate) mod pull_log;
pub(crate) mod registry_auth;

// Real engines, reached the way the docker CLI reaches them: ignored by a plain
// `cargo test`, run by scripts/test-engines.sh with `--ignored`.
#[cfg(all(test, unix))]
mod tests {
    mod engine_matrix;
}
