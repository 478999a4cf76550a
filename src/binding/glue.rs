//! The addon's JavaScript half (`realm.js`), handed over by the package entry
//! from the importer's realm.

use std::cell::RefCell;

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{FromNapiValue, Function, JsValuesTupleIntoVec, Object, ObjectRef, Unknown};
use napi::{Env, Result};
use serde_json::Value;

thread_local! {
    // One JS environment per thread. Each realm that loads the package (each
    // Jest test file) attaches its own; the latest serves, and a replaced one
    // stays referenced: a handful of small objects for the life of the process.
    static GLUE: RefCell<Option<ObjectRef<false>>> = const { RefCell::new(None) };
}

/// Keeps `realm` as the glue for this thread's environment.
pub fn attach(realm: &Object) -> Result<()> {
    let reference = realm.create_ref::<false>()?;
    GLUE.with(|cell| *cell.borrow_mut() = Some(reference));
    Ok(())
}

fn glue<'env>(env: &'env Env) -> Result<Object<'env>> {
    GLUE.with(|cell| match cell.borrow().as_ref() {
        Some(reference) => reference.get_value(env),
        None => Err(napi::Error::from_reason(
            "load @mercury-ai/container-runner through its package entry (main.js), not index.js",
        )),
    })
}

/// A glue function, typed at the call site.
pub fn func<'env, Args: JsValuesTupleIntoVec, Ret: FromNapiValue>(
    env: &'env Env,
    name: &str,
) -> Result<Function<'env, Args, Ret>> {
    glue(env)?.get_named_property(name)
}

/// An error value built by the glue (`ContainerError`, `TypeError` or `Error`),
/// wrapped so that napi throws or rejects with that very value.
pub fn make_error(env: &Env, kind: &str, details: Value) -> napi::Error {
    let built = func::<napi::bindgen_prelude::FnArgs<(&str, Value)>, Unknown>(env, "makeError")
        .and_then(|make| make.call((kind, details).into()));
    match built {
        Ok(value) => napi::Error::from(value),
        Err(e) => e,
    }
}

/// A `TypeError` for bad input from the host.
pub fn type_error(env: &Env, message: impl Into<String>) -> napi::Error {
    make_error(env, "type", serde_json::json!({ "message": message.into() }))
}
