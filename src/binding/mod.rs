//! The napi face: converts JavaScript values to the core's types and the
//! core's errors to JavaScript errors, and does nothing else. Every napi type
//! here that mirrors a core type is named `Js…` (the class is the JavaScript
//! `AgentContainerRunner` itself; the core's is `Runner`).

mod config;
mod errors;
mod exit;
mod input;
mod js_callback;
mod js_fields;
mod js_runner;
mod logger;
mod outbox;
mod realm;
mod resolver;

use napi::bindgen_prelude::Object;
use napi::Result;
use napi_derive::napi;

use crate::core::message;

/// Called by the package entry with `realm.js`, evaluated in the importer's realm.
#[napi(skip_typescript)]
pub fn attach_realm(realm: Object) -> Result<()> {
    realm::attach(&realm)
}

/// `ContainerError`'s message for `reason`, written once in the core: the
/// class's factories in `realm.js` call this. `subject` is the space id (or,
/// for `"error"`, the exit code) and `detail` the exit code (or the output),
/// each as the host's template literal prints it.
#[napi(skip_typescript)]
pub fn container_error_message(reason: String, subject: String, detail: Option<String>) -> String {
    let detail = detail.unwrap_or_default();
    match reason.as_str() {
        "timeout" => message::timeout(&subject),
        "aborted" => message::aborted(&subject),
        "oom" => message::oom(&subject, &detail),
        _ => message::failed(&subject, &detail),
    }
}
