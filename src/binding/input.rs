//! `reply`'s input object → the core's [`ReplyRequest`], and the host's side
//! of a reply ([`ReplyHost`]): the payload.

use std::collections::HashSet;

use napi::bindgen_prelude::{Object, Unknown};
use napi::{Env, ValueType};

use super::js_fields::{
    check_type, is_array, opt_object, opt_string, opt_value, string, string_map, typed, FieldResult,
};
use super::realm::Realm;
use crate::core::ReplyHost;
use crate::core::ReplyRequest;

const WHAT: &str = "input";

/// The input's fields the runner reads, checked; the object itself stays for the payload.
pub fn read_input<'env>(env: &Env, realm: &Realm, input: Unknown<'env>) -> FieldResult<(ReplyRequest, Object<'env>)> {
    check_type(&input, ValueType::Object, "reply input", "an object")?;
    let obj: Object = typed(input)?;

    let space_id = string(&obj, "spaceId", WHAT)?;
    if space_id.is_empty() {
        return Err("input.spaceId must not be empty".into());
    }
    let space_workspace = string(&obj, "spaceWorkspace", WHAT)?;
    // The host's runner tolerated a missing callerId: the agent then gets no CALLER_ID.
    let caller_id = opt_string(&obj, "callerId", WHAT)?.unwrap_or_default();
    string(&obj, "prompt", WHAT)?;
    match opt_value(&obj, "messages")? {
        Some(v) if is_array(&v) => {}
        _ => return Err("input.messages must be an array".into()),
    }
    if let Some(v) = opt_value(&obj, "attachments")? {
        if !is_array(&v) {
            return Err("input.attachments must be an array".into());
        }
    }
    opt_string(&obj, "authorName", WHAT)?;
    let caller_role = opt_string(&obj, "callerRole", WHAT)?;

    let extra_env = match opt_object(&obj, "extraEnv", WHAT)? {
        Some(env_obj) => string_map(&env_obj, "input.extraEnv")?,
        None => Vec::new(),
    };
    let claimed_env_sources = match opt_value(&obj, "claimedEnvSources")? {
        None => HashSet::new(),
        Some(value) => claimed(env, realm, value)?,
    };
    let host_env = realm.mercury_env(env).map_err(|e| e.to_string())?;
    let request =
        ReplyRequest { space_id, space_workspace, caller_id, caller_role, extra_env, claimed_env_sources, host_env };
    Ok((request, obj))
}

fn claimed(env: &Env, realm: &Realm, value: Unknown) -> FieldResult<HashSet<String>> {
    let members = realm
        .set_members(env, value)
        .map_err(|e| e.to_string())?
        .ok_or("input.claimedEnvSources must be a Set of variable names")?;
    members
        .into_iter()
        .map(|m| {
            check_type(&m, ValueType::String, "each member of input.claimedEnvSources", "a string")?;
            typed::<String>(m)
        })
        .collect()
}

/// The host's side of one `reply` call.
pub struct JsReplyHost<'a, 'env> {
    pub env: &'env Env,
    pub realm: &'a Realm,
    pub input: Object<'env>,
}

impl ReplyHost for JsReplyHost<'_, '_> {
    fn payload(&mut self, workspace_in_container: &str, caller_role: &str) -> Result<bytes::Bytes, String> {
        let buffer =
            self.realm.payload(self.env, self.input, workspace_in_container, caller_role).map_err(|e| e.to_string())?;
        // The bytes stay in the JS Buffer that holds them; no copy.
        Ok(bytes::Bytes::from_owner(buffer))
    }
}
