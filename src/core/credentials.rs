//! The built-in credential resolver: an unexpired Anthropic OAuth token from `auth.json`.

use serde_json::Value;

/// What the built-in resolver found.
#[derive(Debug, PartialEq, Eq)]
pub enum BuiltinCredential {
    /// A usable access token.
    Token(String),
    /// The token in the file has expired; only the host's resolver can refresh it.
    Expired,
    /// No usable `anthropic` OAuth entry (or no readable file).
    None,
}

/// Whether the built-in resolver applies at all: only for `anthropic`, and
/// only while the host environment carries no Anthropic key or token. Checked
/// before `auth.json` is read, so the file is not touched when it cannot matter.
pub fn builtin_applies(provider: &str, host_env: &[(String, String)]) -> bool {
    const SECRET_VARS: [&str; 2] = ["MERCURY_ANTHROPIC_API_KEY", "MERCURY_ANTHROPIC_OAUTH_TOKEN"];
    provider == "anthropic" && !host_env.iter().any(|(n, v)| SECRET_VARS.contains(&n.as_str()) && !v.is_empty())
}

/// The `anthropic` OAuth entry of `auth.json` (its text; None when unreadable).
pub fn builtin_credential(auth_json: Option<&str>, now_ms: u64) -> BuiltinCredential {
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn auth(expires: u64) -> String {
        format!(r#"{{"anthropic":{{"type":"oauth","access":"tok-a","refresh":"tok-r","expires":{expires}}}}}"#)
    }

    #[test]
    fn gives_an_unexpired_token() {
        assert_eq!(builtin_credential(Some(&auth(NOW + 1)), NOW), BuiltinCredential::Token("tok-a".into()));
    }

    #[test]
    fn an_expired_token_is_reported_not_returned() {
        assert_eq!(builtin_credential(Some(&auth(NOW)), NOW), BuiltinCredential::Expired);
    }

    #[test]
    fn stands_aside_for_env_secrets_and_other_providers() {
        let env = |name: &str, value: &str| vec![(name.to_owned(), value.to_owned())];
        assert!(builtin_applies("anthropic", &[]));
        assert!(!builtin_applies("anthropic", &env("MERCURY_ANTHROPIC_API_KEY", "k")));
        assert!(!builtin_applies("anthropic", &env("MERCURY_ANTHROPIC_OAUTH_TOKEN", "t")));
        assert!(builtin_applies("anthropic", &env("MERCURY_ANTHROPIC_API_KEY", "")));
        assert!(builtin_applies("anthropic", &env("MERCURY_OTHER", "x")));
        assert!(!builtin_applies("openai", &[]));
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
            assert_eq!(builtin_credential(text, NOW), BuiltinCredential::None, "{text:?}");
        }
    }
}
