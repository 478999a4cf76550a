//! Egress (`options.egress`, issue 19, docs/egress.md): agents reach only the
//! listed destinations, through a proxy sidecar per runner.
//!
//! An agent with egress sits on an `--internal` network of its runner's, with
//! no route out; the only thing it can reach there is the sidecar, which is
//! also on the engine's default bridge and forwards to allowed destinations
//! only (egress-proxy/). Names are resolved by the proxy: the agent's own DNS
//! points at `127.0.0.1`, where nothing answers.
//!
//! This file is the pure part: the option, the agent's side of the container
//! spec, the names and labels, and the sidecar's refusal lines. `sidecar.rs`
//! does the engine work; `tar.rs` makes the image's build context.

pub(crate) mod sidecar;
pub(crate) mod tar;

use std::collections::{HashMap, HashSet};

use crate::core::engine::client::NetworkSeen;
use crate::core::engine::container::ContainerSpec;

// The proxy's own pattern parser: the same rules the proxy applies, checked
// when the runner is made, so a bad pattern is a TypeError up front.
#[path = "../../../egress-proxy/src/allow.rs"]
#[allow(dead_code)]
mod allow;

/// Where the proxy listens inside the sidecar.
pub(crate) const PROXY_PORT: u16 = 3128;
/// Label of everything egress creates: its value is the runner's id.
pub(crate) const EGRESS_LABEL: &str = "mercury.egress";
/// Distinct destinations remembered per space per turn for the one-warn-line rule; beyond it the
/// set starts over (a flood of names cannot grow the host's memory, at worst a line repeats).
const MAX_SEEN_PER_SPACE: usize = 256;

/// The option that gives the internal network's bridge no host address (Docker's
/// bridge driver), so nothing on the host is reachable from it.
pub(crate) const INHIBIT_IPV4: &str = "com.docker.network.bridge.inhibit_ipv4";

/// `options.egress`: `{ allow: string[] }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EgressOptions {
    pub allow: Vec<String>,
    /// Folder holding `egress-proxy-linux-<arch>` (the package's `egress-proxy/dist`).
    pub proxy_dir: Option<std::path::PathBuf>,
}

/// Checks the patterns as the proxy will read them.
pub(crate) fn egress_options(
    allow: Vec<String>,
    proxy_dir: Option<std::path::PathBuf>,
) -> Result<EgressOptions, String> {
    for pattern in &allow {
        if pattern.contains(',') || pattern.chars().any(char::is_whitespace) {
            return Err(format!("options.egress.allow: {pattern:?} must be one pattern (no commas or spaces)"));
        }
        allow::Rule::parse(pattern).map_err(|e| format!("options.egress.allow: {e}"))?;
    }
    Ok(EgressOptions { allow, proxy_dir })
}

/// The allow-list the proxy gets: the host's patterns and `API_URL`'s target.
pub(crate) fn proxy_allow_list(options: &EgressOptions, api_port: &str) -> String {
    let mut rules = options.allow.clone();
    rules.push(format!("host.docker.internal:{api_port}"));
    rules.join(",")
}

/// The network and the sidecar of a runner.
pub(crate) fn network_name(runner_id: &str) -> String {
    format!("mercury-egress-{runner_id}")
}

pub(crate) fn sidecar_name(runner_id: &str) -> String {
    format!("mercury-egress-proxy-{runner_id}")
}

/// The binary's file name for an engine architecture (Go's names), as the build script writes it.
pub(crate) fn proxy_binary_name(engine_arch: &str) -> Option<&'static str> {
    match engine_arch {
        "amd64" | "x86_64" => Some("egress-proxy-linux-x64"),
        "arm64" | "aarch64" => Some("egress-proxy-linux-arm64"),
        _ => None,
    }
}

/// Why agents on the network the engine made could reach more than the
/// sidecar, if they could: it is not internal (a route out), or the host has
/// an address on it. Docker's bridge keeps the inhibit option it honours;
/// Podman drops the option, and its CNI internal networks have no gateway
/// (reported `<nil>`). A gateway with neither is an address of the host the
/// agents reach (its services bound to all addresses, netavark's DNS).
pub(crate) fn network_leak(made: &NetworkSeen) -> Option<String> {
    if !made.internal {
        return Some("the engine made the agents' network without `internal`, so it has a route out".into());
    }
    let inhibited = made.options.get(INHIBIT_IPV4).is_some_and(|v| v == "true");
    if !inhibited && !made.gateways.iter().all(|g| matches!(g.trim(), "" | "<nil>")) {
        return Some(format!(
            "the engine's internal network gives the host an address on it (gateway {}), so agents could reach the host's services",
            made.gateways.join(", ")
        ));
    }
    None
}

/// The agent's side: on the internal network only, no name server, no raw
/// sockets, and the proxy variables with the space's tag as the user name.
pub(crate) fn apply_to_spec(spec: &mut ContainerSpec, network: &str, proxy_ip: &str, tag: &str) {
    let hard = &mut spec.hardening;
    hard.network = Some(network.to_owned());
    hard.dns = vec!["127.0.0.1".to_owned()];
    if !hard.cap_drop.iter().any(|c| c.eq_ignore_ascii_case("ALL") || c.eq_ignore_ascii_case("NET_RAW")) {
        hard.cap_drop.push("NET_RAW".to_owned());
    }
    let url = format!("http://{tag}:x@{proxy_ip}:{PROXY_PORT}");
    let set = [
        ("HTTP_PROXY", url.as_str()),
        ("HTTPS_PROXY", url.as_str()),
        ("http_proxy", url.as_str()),
        ("https_proxy", url.as_str()),
        // Empty on purpose: API_URL too goes through the proxy (the agent has no other way out).
        ("NO_PROXY", ""),
        ("no_proxy", ""),
        ("NODE_USE_ENV_PROXY", "1"),
    ];
    spec.env.retain(|e| !set.iter().any(|(name, _)| e.split_once('=').is_some_and(|(n, _)| n == *name)));
    spec.env.extend(set.iter().map(|(n, v)| format!("{n}={v}")));
}

/// A refusal line of the proxy: `{"event":"refused","destination":..,"turn":..}`.
pub(crate) fn refusal(line: &[u8]) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    if value.get("event")?.as_str()? != "refused" {
        return None;
    }
    let destination = value.get("destination")?.as_str()?.to_owned();
    let tag = value.get("turn")?.as_str()?.to_owned();
    Some((tag, destination))
}

/// Which space each tag is, and the destinations already reported in each space's current turn.
#[derive(Default)]
pub(crate) struct Tags {
    by_space: HashMap<String, String>,
    by_tag: HashMap<String, String>,
    seen: HashMap<String, HashSet<String>>,
}

impl Tags {
    /// The space's tag (made once per runner, so a standby's spec stays the
    /// same), and a fresh start of its turn's reported destinations.
    pub(crate) fn begin_turn(&mut self, space_id: &str, fresh: impl FnOnce() -> String) -> String {
        self.seen.remove(space_id);
        if let Some(tag) = self.by_space.get(space_id) {
            return tag.clone();
        }
        let tag = fresh();
        self.by_space.insert(space_id.to_owned(), tag.clone());
        self.by_tag.insert(tag.clone(), space_id.to_owned());
        tag
    }

    /// The space to warn for, when this refusal is the first of its destination in the space's turn.
    pub(crate) fn report(&mut self, tag: &str, destination: &str) -> Option<String> {
        let space = self.by_tag.get(tag)?;
        let seen = self.seen.entry(space.clone()).or_default();
        if seen.len() >= MAX_SEEN_PER_SPACE {
            seen.clear();
        }
        seen.insert(destination.to_owned()).then(|| space.clone())
    }
}

/// A random token of 32 hex digits: the runner's id, a space's tag. An agent
/// sees only its own space's tag, so it cannot make the host warn for another space.
pub(crate) fn random_hex() -> String {
    use sha2::{Digest, Sha256};
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = Sha256::new();
    // RandomState's keys come from the OS's random source; the count and time make each call differ.
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        hasher.update(h.finish().to_le_bytes());
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::container::Hardening;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "mercury-1-1".into(),
            image: "img".into(),
            env: vec!["HOME=/root".into(), "HTTP_PROXY=http://elsewhere:1".into()],
            mounts: vec![],
            extra_hosts: vec![],
            memory_limit: None,
            hardening: Hardening::default(),
        }
    }

    #[test]
    fn options_are_checked_as_the_proxy_reads_them() {
        assert!(egress_options(vec!["api.anthropic.com".into(), "*.openai.com:8443".into()], None).is_ok());
        assert!(egress_options(vec!["a.com,b.com".into()], None).is_err());
        assert!(egress_options(vec!["a.com b.com".into()], None).is_err());
        assert!(egress_options(vec!["*".into()], None).is_err());
        assert!(egress_options(vec!["a.com:0".into()], None).is_err());
    }

    #[test]
    fn api_url_target_is_always_on_the_proxy_list() {
        let o = egress_options(vec!["api.anthropic.com".into()], None).expect("valid");
        assert_eq!(proxy_allow_list(&o, "8787"), "api.anthropic.com,host.docker.internal:8787");
        let none = egress_options(vec![], None).expect("valid");
        assert_eq!(proxy_allow_list(&none, "8787"), "host.docker.internal:8787");
    }

    #[test]
    fn the_agent_gets_the_internal_network_no_dns_no_raw_sockets_and_the_proxy() {
        let mut s = spec();
        apply_to_spec(&mut s, "mercury-egress-r", "172.30.0.2", "t0");
        assert_eq!(s.hardening.network.as_deref(), Some("mercury-egress-r"));
        assert_eq!(s.hardening.dns, vec!["127.0.0.1".to_string()]);
        assert_eq!(s.hardening.cap_drop, vec!["NET_RAW".to_string()]);
        assert!(s.env.contains(&"HTTP_PROXY=http://t0:x@172.30.0.2:3128".to_string()));
        assert!(s.env.contains(&"https_proxy=http://t0:x@172.30.0.2:3128".to_string()));
        assert!(s.env.contains(&"NO_PROXY=".to_string()));
        assert!(s.env.contains(&"NODE_USE_ENV_PROXY=1".to_string()));
        // The proxy's entry replaces one the spec had.
        assert_eq!(s.env.iter().filter(|e| e.starts_with("HTTP_PROXY=")).count(), 1);
        // Applied twice (a standby's spec), nothing doubles.
        apply_to_spec(&mut s, "mercury-egress-r", "172.30.0.2", "t0");
        assert_eq!(s.hardening.cap_drop.len(), 1);
        assert_eq!(s.env.len(), 1 + 7);
        let mut all = spec();
        all.hardening.cap_drop = vec!["ALL".into()];
        apply_to_spec(&mut all, "n", "ip", "t");
        assert_eq!(all.hardening.cap_drop, vec!["ALL".to_string()]);
    }

    #[test]
    fn refusal_lines_are_read_and_others_ignored() {
        let line = br#"{"destination":"evil.example:443","event":"refused","turn":"abc"}"#;
        assert_eq!(refusal(line), Some(("abc".into(), "evil.example:443".into())));
        assert_eq!(refusal(br#"{"event":"listening","address":"0.0.0.0:3128"}"#), None);
        assert_eq!(refusal(br#"{"event":"refused","destination":"x:1","turn":null}"#), None);
        assert_eq!(refusal(b"not json"), None);
    }

    #[test]
    fn one_report_per_destination_per_turn_and_unknown_tags_none() {
        let mut tags = Tags::default();
        let tag = tags.begin_turn("s1", || "t1".into());
        assert_eq!(tags.begin_turn("s1", || "other".into()), tag, "a space keeps its tag");
        assert_eq!(tags.report("t1", "a:443").as_deref(), Some("s1"));
        assert_eq!(tags.report("t1", "a:443"), None);
        assert_eq!(tags.report("t1", "b:443").as_deref(), Some("s1"));
        assert_eq!(tags.report("forged", "a:443"), None);
        tags.begin_turn("s1", || unreachable!());
        assert_eq!(tags.report("t1", "a:443").as_deref(), Some("s1"), "a new turn reports again");
    }

    #[test]
    fn random_tokens_differ() {
        let a = random_hex();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_hex());
    }

    #[test]
    fn the_agents_network_must_be_internal_and_give_the_host_no_address() {
        let made = |internal: bool, inhibit: Option<&str>, gateways: &[&str]| NetworkSeen {
            internal,
            options: inhibit.map(|v| HashMap::from([(INHIBIT_IPV4.to_owned(), v.to_owned())])).unwrap_or_default(),
            gateways: gateways.iter().map(|g| (*g).to_owned()).collect(),
        };
        // Docker 20.10: the gateway is allocated, but the kept option keeps it off the bridge.
        assert_eq!(network_leak(&made(true, Some("true"), &["172.20.0.1"])), None);
        // Podman 4.3 (CNI): the option dropped, no gateway.
        assert_eq!(network_leak(&made(true, None, &["<nil>"])), None);
        assert_eq!(network_leak(&made(true, None, &[])), None);
        assert_eq!(network_leak(&made(true, None, &[""])), None);
        // The option dropped and a gateway on the host (Podman with netavark, an engine that ignores it).
        assert!(network_leak(&made(true, None, &["10.89.0.1"])).unwrap().contains("gateway 10.89.0.1"));
        assert!(network_leak(&made(true, None, &["<nil>", "10.89.0.1"])).is_some());
        assert!(network_leak(&made(true, Some("false"), &["172.20.0.1"])).is_some());
        // Not internal: a route out, whatever else holds.
        assert!(network_leak(&made(false, Some("true"), &["<nil>"])).unwrap().contains("internal"));
    }

    #[test]
    fn names_and_binaries() {
        assert_eq!(network_name("r1"), "mercury-egress-r1");
        assert_eq!(sidecar_name("r1"), "mercury-egress-proxy-r1");
    }

    #[test]
    fn engine_architectures_map_to_the_binaries_the_build_script_writes() {
        // Docker and Podman report Go's names; the kernel's (uname -m) are taken too.
        for arch in ["amd64", "x86_64"] {
            assert_eq!(proxy_binary_name(arch), Some("egress-proxy-linux-x64"), "{arch}");
        }
        for arch in ["arm64", "aarch64"] {
            assert_eq!(proxy_binary_name(arch), Some("egress-proxy-linux-arm64"), "{arch}");
        }
        // Nothing is built for these: the turn fails instead of starting a binary the engine cannot run.
        for arch in ["", "386", "i686", "arm", "armv7l", "s390x", "ppc64le", "riscv64", "mips64le", "AMD64", "arm64/v8"]
        {
            assert_eq!(proxy_binary_name(arch), None, "{arch:?}");
        }
        // Each file the runner may look for is one scripts/build-egress-proxy.sh builds (its `builds`
        // lines: "<triple> <name> <ELF machine>", written to dist/egress-proxy-linux-<name>).
        let script = include_str!("../../../scripts/build-egress-proxy.sh");
        let built: Vec<String> = script
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.strip_suffix('"').map(str::to_owned))
            .filter_map(|l| l.split_whitespace().nth(1).map(|name| format!("egress-proxy-linux-{name}")))
            .collect();
        assert_eq!(built, ["egress-proxy-linux-x64", "egress-proxy-linux-arm64"]);
    }
}
