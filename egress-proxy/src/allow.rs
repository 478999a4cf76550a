//! The allow-list: host patterns and the destinations they let through.
//!
//! A pattern is `host`, `*.domain` (any name below `domain`, at any depth, not
//! `domain` itself) or either with `:port`. Without a port it allows 443 and
//! 80, the ports of HTTPS and HTTP. Names compare case-insensitively and
//! without a trailing dot, so `API.example.com.` is `api.example.com`. An IP
//! literal (`10.1.2.3`, `[::1]`) matches only itself. Matching is on the name
//! the client asked for; the proxy resolves it afterwards (main.rs).

use std::fmt;

/// Ports a pattern without `:port` allows.
pub const DEFAULT_PORTS: [u16; 2] = [443, 80];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Exact(String),
    /// `*.suffix`: the suffix without the `*.`.
    Below(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    host: Host,
    port: Option<u16>,
    /// As given, for the 403's body and the log.
    text: String,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A host name as compared: lower case, no trailing dot, no IPv6 brackets.
pub fn normalize_host(host: &str) -> String {
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Splits `host[:port]` (IPv6 in brackets when a port follows). The port is
/// None when absent; Err when present but not a port number.
pub fn split_host_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let bad_port = || format!("{text:?}: the port is not a number from 1 to 65535");
    if let Some(rest) = text.strip_prefix('[') {
        let end = rest.find(']').ok_or_else(|| format!("{text:?}: an IPv6 address lacks its ']'"))?;
        let (host, after) = (&rest[..end], &rest[end + 1..]);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()).filter(|p| *p != 0) {
                Some(port) => Ok((host, Some(port))),
                None => Err(bad_port()),
            },
        };
    }
    match text.rsplit_once(':') {
        // More than one colon without brackets: a bare IPv6 address, no port.
        Some((host, _)) if host.contains(':') => Ok((text, None)),
        Some((host, port)) => match port.parse::<u16>().ok().filter(|p| *p != 0) {
            Some(port) => Ok((host, Some(port))),
            None => Err(bad_port()),
        },
        None => Ok((text, None)),
    }
}

/// Characters a host name may hold here (letters, digits, `-`, `_`, `.`; `:` for IPv6).
fn host_chars_ok(host: &str) -> bool {
    !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

impl Rule {
    pub fn parse(text: &str) -> Result<Rule, String> {
        let trimmed = text.trim();
        let (host, port) = split_host_port(trimmed)?;
        let host = normalize_host(host);
        let host = match host.strip_prefix("*.") {
            Some(suffix) if host_chars_ok(suffix) && !suffix.starts_with('.') => Host::Below(suffix.to_string()),
            Some(_) => return Err(format!("{text:?}: nothing valid follows '*.'")),
            None if host.contains('*') => return Err(format!("{text:?}: '*' is allowed only as a leading '*.'")),
            None if host_chars_ok(&host) => Host::Exact(host),
            None => return Err(format!("{text:?}: not a host name")),
        };
        Ok(Rule { host, port, text: trimmed.to_string() })
    }

    /// Whether `host:port` (host already normalized) is allowed by this rule.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let port_ok = match self.port {
            Some(p) => p == port,
            None => DEFAULT_PORTS.contains(&port),
        };
        let host_ok = match &self.host {
            Host::Exact(h) => h == host,
            Host::Below(suffix) => {
                host.len() > suffix.len() + 1 && host.ends_with(suffix.as_str()) && {
                    let dot = host.len() - suffix.len() - 1;
                    host.as_bytes()[dot] == b'.'
                }
            }
        };
        port_ok && host_ok
    }
}

#[derive(Debug, Clone, Default)]
pub struct AllowList {
    rules: Vec<Rule>,
}

impl AllowList {
    /// Patterns separated by commas or white space (an empty entry is skipped).
    pub fn parse(text: &str) -> Result<AllowList, String> {
        let rules = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(Rule::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AllowList { rules })
    }

    /// The rule that allows `host:port`, if any.
    pub fn find(&self, host: &str, port: u16) -> Option<&Rule> {
        let host = normalize_host(host);
        self.rules.iter().find(|r| r.allows(&host, port))
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> AllowList {
        AllowList::parse(text).expect("valid allow-list")
    }

    #[test]
    fn exact_host_allows_default_ports_only() {
        let l = list("api.example.com");
        assert!(l.find("api.example.com", 443).is_some());
        assert!(l.find("api.example.com", 80).is_some());
        assert!(l.find("api.example.com", 8080).is_none());
        assert!(l.find("example.com", 443).is_none());
        assert!(l.find("x.api.example.com", 443).is_none());
        assert!(l.find("api.example.com.evil.net", 443).is_none());
    }

    #[test]
    fn explicit_port_replaces_the_defaults() {
        let l = list("api.example.com:8443");
        assert!(l.find("api.example.com", 8443).is_some());
        assert!(l.find("api.example.com", 443).is_none());
        assert!(l.find("api.example.com", 80).is_none());
    }

    #[test]
    fn wildcard_matches_names_below_not_the_domain_itself() {
        let l = list("*.example.com");
        assert!(l.find("api.example.com", 443).is_some());
        assert!(l.find("a.b.example.com", 80).is_some());
        assert!(l.find("example.com", 443).is_none());
        // A suffix that is not at a label boundary.
        assert!(l.find("evilexample.com", 443).is_none());
        assert!(l.find("api.example.com.evil.net", 443).is_none());
        assert!(l.find("api.example.com", 22).is_none());
    }

    #[test]
    fn names_compare_without_case_or_trailing_dot() {
        let l = list("API.Example.COM.");
        assert!(l.find("api.example.com", 443).is_some());
        assert!(l.find("Api.EXAMPLE.com.", 443).is_some());
    }

    #[test]
    fn ip_literals_match_only_themselves() {
        let l = list("127.0.0.1:8080, [::1]:9000");
        assert!(l.find("127.0.0.1", 8080).is_some());
        assert!(l.find("127.0.0.2", 8080).is_none());
        assert!(l.find("[::1]", 9000).is_some());
        assert!(l.find("::1", 9000).is_some());
        assert!(l.find("::1", 8080).is_none());
    }

    #[test]
    fn separators_and_empty_entries() {
        let l = list(" a.com,, b.com\n*.c.com ");
        assert_eq!(l.rules().len(), 3);
        assert!(list("").find("a.com", 443).is_none());
    }

    #[test]
    fn invalid_patterns_are_refused() {
        assert!(AllowList::parse("a.com b/c").is_err());
        assert!(Rule::parse("*").is_err());
        assert!(Rule::parse("*.").is_err());
        assert!(Rule::parse("a.*.com").is_err());
        assert!(Rule::parse("a.com:0").is_err());
        assert!(Rule::parse("a.com:70000").is_err());
        assert!(Rule::parse("a/b").is_err());
        assert!(Rule::parse("[::1").is_err());
        assert!(Rule::parse("[::1]x").is_err());
    }

    #[test]
    fn split_host_port_forms() {
        assert_eq!(split_host_port("a.com:443"), Ok(("a.com", Some(443))));
        assert_eq!(split_host_port("a.com"), Ok(("a.com", None)));
        assert_eq!(split_host_port("[::1]:80"), Ok(("::1", Some(80))));
        assert_eq!(split_host_port("::1"), Ok(("::1", None)));
    }
}
