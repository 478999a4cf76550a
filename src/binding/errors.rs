//! Core errors → the JavaScript errors the host expects.

use napi::Env;
use serde_json::json;

use super::glue::make_error;
use crate::core::error::RunError;

/// Builds the error on the JavaScript thread: a `ContainerError` for the
/// container's failures, a `TypeError` for bad input, an `Error` otherwise.
pub fn to_js_error(env: &Env, err: RunError) -> napi::Error {
    let message = err.to_string();
    match err {
        RunError::Timeout { space_id } => make_error(env, "timeout", json!({ "spaceId": space_id })),
        RunError::Aborted { space_id } => make_error(env, "aborted", json!({ "spaceId": space_id })),
        RunError::OutOfMemory { space_id, exit_code, oom_killed } => {
            make_error(env, "oom", json!({ "spaceId": space_id, "exitCode": exit_code, "oomKilled": oom_killed }))
        }
        RunError::Failed { exit_code, output } => {
            make_error(env, "error", json!({ "exitCode": exit_code, "output": output }))
        }
        RunError::Engine(output) => make_error(env, "error", json!({ "exitCode": 125, "output": output })),
        RunError::InvalidInput(_) => make_error(env, "type", json!({ "message": message })),
        RunError::PullFailed { cause, .. } => make_error(env, "plain", json!({ "message": message, "cause": cause })),
        RunError::NoResult(_) | RunError::Malformed(_) | RunError::Credential(_) | RunError::Io(_) => {
            make_error(env, "plain", json!({ "message": message }))
        }
    }
}
