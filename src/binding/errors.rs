//! Core errors → the JavaScript errors the host expects.

use napi::Env;

use super::realm::Realm;
use crate::core::RunError;

/// Builds the error on the JavaScript thread, in `realm`: a `ContainerError`
/// for the container's failures, a `TypeError` for bad input, an `Error`
/// otherwise, from the core's one description of it ([`RunError::report`]).
pub fn to_js_error(env: &Env, realm: &Realm, err: RunError) -> napi::Error {
    // The host's own error, thrown back as the value it was (class, message, cause).
    if let RunError::Host(failure) = &err {
        if let Some(original) = failure.take().and_then(|v| v.downcast::<napi::Error>().ok()) {
            return *original;
        }
    }
    realm.error(env, &err.report())
}
