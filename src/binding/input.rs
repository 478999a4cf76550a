//! `reply`'s input object → the request the core runs, and the payload bytes.

use std::collections::HashSet;

use napi::bindgen_prelude::{Buffer, FnArgs, Object, Unknown};
use napi::{Env, ValueType};

use super::glue;
use super::js_fields::{
    check_type, is_array, opt_object, opt_string, opt_value, string, string_map, typed, FieldResult,
};
use crate::core::payload::{caller_role, container_workspace};
use crate::core::spec::ReplyRequest;

const WHAT: &str = "input";

pub struct ParsedInput {
    pub request: ReplyRequest,
    /// The payload's bytes, still owned by the JS Buffer that holds them.
    pub payload: bytes::Bytes,
}

pub fn parse_input(env: &Env, input: Unknown, spaces_dir: &str) -> FieldResult<ParsedInput> {
    check_type(&input, ValueType::Object, "reply input", "an object")?;
    let obj: Object = typed(input)?;

    let space_id = string(&obj, "spaceId", WHAT)?;
    if space_id.is_empty() {
        return Err("input.spaceId must not be empty".into());
    }
    let space_workspace = string(&obj, "spaceWorkspace", WHAT)?;
    let caller_id = string(&obj, "callerId", WHAT)?;
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
    let role = opt_string(&obj, "callerRole", WHAT)?;

    let extra_env = match opt_object(&obj, "extraEnv", WHAT)? {
        Some(env_obj) => string_map(&env_obj, "input.extraEnv")?,
        None => Vec::new(),
    };
    let claimed_env_sources = match opt_value(&obj, "claimedEnvSources")? {
        None => HashSet::new(),
        Some(value) => claimed(env, value)?,
    };

    let workspace_in_container = container_workspace(&space_workspace, spaces_dir);
    let payload = glue::func::<FnArgs<(Object, String, &str)>, Buffer>(env, "payload")
        .and_then(|f| f.call((obj, workspace_in_container, caller_role(role.as_deref())).into()))
        .map_err(|e| format!("input cannot be written as JSON: {e}"))?;

    Ok(ParsedInput {
        request: ReplyRequest { space_id, space_workspace, caller_id, extra_env, claimed_env_sources },
        payload: bytes::Bytes::from_owner(payload),
    })
}

fn claimed(env: &Env, value: Unknown) -> FieldResult<HashSet<String>> {
    let members = glue::func::<FnArgs<(Unknown,)>, Option<Vec<Unknown>>>(env, "setMembers")
        .and_then(|f| f.call((value,).into()))
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

/// The `MERCURY_*` entries of `process.env`, read now.
pub fn mercury_env(env: &Env) -> FieldResult<Vec<(String, String)>> {
    let pairs =
        glue::func::<(), Vec<Vec<String>>>(env, "mercuryEnv").and_then(|f| f.call(())).map_err(|e| e.to_string())?;
    Ok(pairs
        .into_iter()
        .filter_map(|mut pair| {
            let value = pair.pop()?;
            let name = pair.pop()?;
            Some((name, value))
        })
        .collect())
}
