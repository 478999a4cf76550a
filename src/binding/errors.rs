//! Core errors → the JavaScript errors the host expects.

use napi::Env;

use super::realm::{ErrorKind, Realm};
use crate::core::RunError;

/// Builds the error on the JavaScript thread, in `realm`: a `ContainerError`
/// for the container's failures, a `TypeError` for bad input, an `Error` otherwise.
pub fn to_js_error(env: &Env, realm: &Realm, err: RunError) -> napi::Error {
    // The host's own error, thrown back as the value it was (class, message, cause).
    if let RunError::Host(failure) = &err {
        if let Some(original) = failure.take().and_then(|v| v.downcast::<napi::Error>().ok()) {
            return *original;
        }
    }
    let message = err.to_string();
    let kind = match err {
        RunError::Timeout { space_id } => ErrorKind::Timeout { space_id },
        RunError::Aborted { space_id } => ErrorKind::Aborted { space_id },
        RunError::OutOfMemory { space_id, exit_code, oom_killed } => ErrorKind::Oom { space_id, exit_code, oom_killed },
        RunError::Failed { exit_code, output } => ErrorKind::Failed { exit_code, output },
        RunError::Engine(output) => ErrorKind::Failed { exit_code: 125, output },
        RunError::InvalidInput(_) => ErrorKind::Type { message },
        RunError::PullFailed { cause, .. } => ErrorKind::Plain { message, cause: Some(cause) },
        RunError::NoResult(_) | RunError::Malformed(_) | RunError::Host(_) | RunError::Io(_) => {
            ErrorKind::Plain { message, cause: None }
        }
    };
    realm.error(env, kind)
}
