//! The napi face: converts JavaScript values to the core's types and the
//! core's errors to JavaScript errors, and does nothing else.

mod config;
mod errors;
mod glue;
mod input;
mod js_fields;
mod logger;
mod runner;

use napi::bindgen_prelude::Object;
use napi::Result;
use napi_derive::napi;

/// Called by the package entry with `realm.js`, evaluated in the importer's realm.
#[napi(skip_typescript)]
pub fn attach_realm(realm: Object) -> Result<()> {
    glue::attach(&realm)
}
