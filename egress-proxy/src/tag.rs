//! The turn tag: the user name of the proxy credentials in the agent's proxy
//! URL (`http://TAG:x@proxy:3128`), which clients send as
//! `Proxy-Authorization: Basic base64(TAG:x)`. The runner makes a fresh,
//! unguessable tag per turn and maps refusal lines back to the turn's space;
//! the proxy only reports it. Anything that is not a short token is dropped,
//! so a hostile agent cannot put arbitrary text into the host's log.

use base64::Engine;
use hyper::header::{HeaderMap, PROXY_AUTHORIZATION};

/// Longest tag reported; the runner's are 32 hex digits.
const MAX_TAG: usize = 64;

pub fn turn_tag(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(PROXY_AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let user = decoded.split(':').next()?;
    let ok = !user.is_empty() && user.len() <= MAX_TAG && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(PROXY_AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        h
    }

    fn basic(creds: &str) -> HeaderMap {
        with(&format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(creds)))
    }

    #[test]
    fn user_name_is_the_tag() {
        assert_eq!(turn_tag(&basic("0123abcd:x")).as_deref(), Some("0123abcd"));
        assert_eq!(turn_tag(&basic("tag")).as_deref(), Some("tag"));
    }

    #[test]
    fn anything_else_is_no_tag() {
        assert_eq!(turn_tag(&HeaderMap::new()), None);
        assert_eq!(turn_tag(&with("Bearer abc")), None);
        assert_eq!(turn_tag(&with("Basic !!!")), None);
        assert_eq!(turn_tag(&basic("a b:x")), None);
        assert_eq!(turn_tag(&basic("\"},{:x")), None);
        assert_eq!(turn_tag(&basic(&"a".repeat(65))), None);
        assert_eq!(turn_tag(&basic(":x")), None);
    }
}
