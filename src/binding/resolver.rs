//! The host's `resolveCredential`, called by a turn from the engine's threads
//! once `globalDir` exists; what it throws or rejects with reaches the caller
//! of `reply` as that very value.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use napi::bindgen_prelude::{FnArgs, Function, Promise};
use napi::Env;
use serde_json::{json, Value};

use super::js_callback::JsCallback;
use super::realm::Realm;
use crate::core::CredentialResolver;
use crate::core::{HostFailure, RunError};

type ResolverTsfn = JsCallback<Value, Promise<Option<String>>, FnArgs<(Value,)>>;

pub struct JsCredentialResolver {
    tsfn: Arc<ResolverTsfn>,
}

impl JsCredentialResolver {
    pub fn new(env: &Env, realm: &Realm, resolve: Function<(), ()>) -> napi::Result<Self> {
        let tsfn = realm
            .credential_resolver(env, resolve)?
            .build_threadsafe_function::<Value>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(|ctx| Ok(FnArgs::from((ctx.value,))))?;
        Ok(Self { tsfn: Arc::new(tsfn) })
    }
}

/// The host's value, kept for the binding to hand back as it was.
fn host_failure(e: napi::Error) -> RunError {
    RunError::Host(HostFailure::new(e.reason.clone(), Box::new(e)))
}

impl CredentialResolver for JsCredentialResolver {
    fn resolve(
        &self,
        provider: &str,
        auth_path: &Path,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, RunError>> + Send>> {
        let tsfn = self.tsfn.clone();
        let request = json!({ "provider": provider, "authPath": auth_path.to_string_lossy() });
        Box::pin(async move {
            let promise = tsfn.call_async(request).await.map_err(host_failure)?;
            promise.await.map_err(host_failure)
        })
    }
}
