//! The OAuth token a turn hands its agent: the host's resolver's, or the
//! built-in one read from `auth.json` (which an agent may have written, so it
//! is read as untrusted input, and not at all where agents can write it).

use std::sync::Arc;

use super::agent_dir::auth_path_writable_by_agents;
use super::config::RunnerSettings;
use crate::core::clock::now_ms;
use crate::core::error::RunError;
use crate::core::host::CredentialResolver;
use crate::core::untrusted::auth_json::{
    builtin_applies, builtin_credential, read_auth_file, AuthFile, BuiltinCredential,
};

/// Where the OAuth token comes from.
pub(crate) enum CredentialSource {
    /// The runner reads `auth.json` itself.
    Builtin,
    /// The host's resolver.
    Host(Arc<dyn CredentialResolver>),
}

impl CredentialSource {
    /// The token for this turn, if any; the host resolver's failure is the turn's.
    pub(crate) async fn token(
        &self,
        settings: &RunnerSettings,
        host_env: &[(String, String)],
    ) -> Result<Option<String>, RunError> {
        match self {
            CredentialSource::Builtin => Ok(builtin_token(settings, host_env).await),
            CredentialSource::Host(resolver) => resolver.resolve(&settings.model_provider, &settings.auth_path()).await,
        }
    }
}

async fn builtin_token(settings: &RunnerSettings, host_env: &[(String, String)]) -> Option<String> {
    if !builtin_applies(&settings.model_provider, host_env) {
        return None;
    }
    let auth_path = settings.auth_path();
    if let Some(folder) = auth_path_writable_by_agents(settings) {
        tracing::warn!(
            authPath = %auth_path.display(),
            folder,
            "Ignoring auth.json: it lies in a folder agents can write"
        );
        return None;
    }
    // By default every agent can write to the global folder: the file is read
    // without following a link or blocking on a FIFO, and only up to a size cap.
    let read = {
        let auth_path = auth_path.clone();
        tokio::task::spawn_blocking(move || read_auth_file(&auth_path)).await
    };
    let text = match read {
        Ok(AuthFile::Text(text)) => text,
        Ok(AuthFile::Missing) => return None,
        Ok(AuthFile::Refused(reason)) => {
            tracing::warn!(authPath = %auth_path.display(), reason, "Ignoring auth.json: not a plain file the runner can read");
            return None;
        }
        Err(e) => {
            tracing::warn!(authPath = %auth_path.display(), reason = %e, "Ignoring auth.json: the read failed");
            return None;
        }
    };
    match builtin_credential(Some(&text), now_ms()) {
        BuiltinCredential::Token(token) => Some(token),
        BuiltinCredential::Expired => {
            tracing::warn!(
                authPath = %auth_path.display(),
                "Anthropic OAuth token expired; it cannot be refreshed without the host's credential resolver"
            );
            None
        }
        BuiltinCredential::None => None,
    }
}
