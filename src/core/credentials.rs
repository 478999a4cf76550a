//! The built-in credential resolver: an unexpired Anthropic OAuth token from `auth.json`.

use serde_json::Value;

/// What the built-in resolver found.
#[derive(Debug, PartialEq, Eq)]
pub enum BuiltinCredential {
    /// A usable access token.
    Token(String),
    /// The token in the file has expired; only the host's resolver can refresh it.
    Expired,
    /// Nothing applies: another provider, an API key already in the environment, no usable file.
    None,
}

/// Decides from the provider, whether the host environment already carries an
/// Anthropic key or token, and the text of `auth.json` (None when unreadable).
pub fn builtin_credential(
    provider: &str,
    env_has_anthropic_secret: bool,
    auth_json: Option<&str>,
    now_ms: u64,
) -> BuiltinCredential {
    if provider != "anthropic" || env_has_anthropic_secret {
        return BuiltinCredential::None;
    }
    let Some(entry) = auth_json
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|auth| auth.get("anthropic").cloned())
    else {
        return BuiltinCredential::None;
    };
    let (Some("oauth"), Some(access), Some(_refresh), Some(expires)) = (
        entry.get("type").and_then(Value::as_str),
        entry.get("access").and_then(Value::as_str),
        entry.get("refresh").and_then(Value::as_str),
        entry.get("expires").and_then(Value::as_f64),
    ) else {
        return BuiltinCredential::None;
    };
    if (now_ms as f64) < expires {
        BuiltinCredential::Token(access.to_owned())
    } else {
        BuiltinCredential::Expired
    }
}

/// The host environment names that make the built-in resolver stand aside.
pub const ANTHROPIC_SECRET_VARS: [&str; 2] = ["MERCURY_ANTHROPIC_API_KEY", "MERCURY_ANTHROPIC_OAUTH_TOKEN"];

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn auth(expires: u64) -> String {
        format!(r#"{{"anthropic":{{"type":"oauth","access":"tok-a","refresh":"tok-r","expires":{expires}}}}}"#)
    }

    #[test]
    fn gives_an_unexpired_token() {
        assert_eq!(
            builtin_credential("anthropic", false, Some(&auth(NOW + 1)), NOW),
            BuiltinCredential::Token("tok-a".into())
        );
    }

    #[test]
    fn an_expired_token_is_reported_not_returned() {
        assert_eq!(builtin_credential("anthropic", false, Some(&auth(NOW)), NOW), BuiltinCredential::Expired);
    }

    #[test]
    fn stands_aside_for_env_secrets_and_other_providers() {
        assert_eq!(builtin_credential("anthropic", true, Some(&auth(NOW + 1)), NOW), BuiltinCredential::None);
        assert_eq!(builtin_credential("openai", false, Some(&auth(NOW + 1)), NOW), BuiltinCredential::None);
    }

    #[test]
    fn unusable_files_give_nothing() {
        for text in [
            None,
            Some("not json"),
            Some("[]"),
            Some(r#"{"anthropic":{"type":"api","key":"k"}}"#),
            Some(r#"{"anthropic":{"type":"oauth","access":"a","expires":9999999999999}}"#),
            Some(r#"{"anthropic":{"type":"oauth","access":"a","refresh":"r","expires":"soon"}}"#),
            Some(r#"{"anthropic":{"type":"oauth","access":1,"refresh":"r","expires":9999999999999}}"#),
        ] {
            assert_eq!(builtin_credential("anthropic", false, text, NOW), BuiltinCredential::None, "{text:?}");
        }
    }
}
