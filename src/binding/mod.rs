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
use napi::bindgen_prelude::JsObjectValue;
use napi::{Env, Result};
use napi_derive::napi;

/// Puts `ContainerError` (a real `Error` subclass, defined in JavaScript) on the exports.
#[napi(module_exports)]
pub fn init(mut exports: Object, env: Env) -> Result<()> {
    let glue = glue::install(&env)?;
    let class: napi::bindgen_prelude::Unknown = glue.get_named_property("ContainerError")?;
    exports.set_named_property("ContainerError", class)?;
    Ok(())
}
