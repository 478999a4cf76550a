//! What the host's side implements for the core: the traits the binding
//! fills in with the host's JavaScript (its logger or console, its credential
//! resolver, its payload). The core calls them and knows nothing of napi.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use crate::core::error::RunError;
/// Where a runner's lines go: defined beside the subscriber that feeds it.
pub(crate) use crate::core::log::LogSink;

/// The host's credential resolver (`resolveCredential`), called by a turn once
/// `globalDir` exists, with `{ provider, authPath }`.
pub(crate) trait CredentialResolver: Send + Sync {
    fn resolve(
        &self,
        provider: &str,
        auth_path: &Path,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, RunError>> + Send>>;
}

/// What only the host's side can do for a reply, on its thread, during the `reply` call.
pub(crate) trait ReplyHost {
    /// The agent's stdin: the whole input as `JSON.stringify` writes it, with
    /// `spaceWorkspace` as the container sees it and the caller's role filled in.
    fn payload(&mut self, workspace_in_container: &str, caller_role: &str) -> Result<bytes::Bytes, String>;
}
