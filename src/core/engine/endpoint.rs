//! Which engine to talk to, decided the way the docker CLI decides it, so a host
//! that moves from the TypeScript runner (which shells out to `docker`) reaches
//! the same engine: the runner's `dockerHost` option (the CLI's `-H`), then
//! `DOCKER_HOST`, then `DOCKER_CONTEXT`, then `currentContext` in the CLI's
//! config file, then the default socket; Podman's sockets only as a fallback
//! when nothing at all was configured (see [`podman_fallbacks`]).
//!
//! Everything comes in through [`EndpointInput`] so tests need no real
//! environment. The files read are the user's own (config.json, context
//! metadata); they are still read with a size bound, and a missing or garbled
//! one is an error that names the file, never a panic.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The CLI's default engine address: the socket on unix, Docker Desktop's named
/// pipe on Windows.
#[cfg(not(windows))]
pub(crate) const DEFAULT_HOST: &str = DEFAULT_UNIX_HOST;
#[cfg(windows)]
pub(crate) const DEFAULT_HOST: &str = DEFAULT_NAMED_PIPE_HOST;
/// The socket an empty `unix://` means (on every platform, as in the CLI).
pub(crate) const DEFAULT_UNIX_HOST: &str = "unix:///var/run/docker.sock";
/// The pipe an empty `npipe://` means.
pub(crate) const DEFAULT_NAMED_PIPE_HOST: &str = "npipe:////./pipe/docker_engine";
/// The CLI's default when TLS is asked for (`DOCKER_TLS_VERIFY`) and no host is given.
pub(crate) const DEFAULT_TLS_HOST: &str = "tcp://localhost:2376";
/// The port the CLI adds to a `tcp://` host that has none, without and with TLS.
const DEFAULT_HTTP_PORT: u16 = 2375;
const DEFAULT_TLS_PORT: u16 = 2376;
/// The context name that means "no context": the default endpoint.
pub(crate) const DEFAULT_CONTEXT: &str = "default";
/// Podman's rootful API socket.
pub(crate) const PODMAN_ROOTFUL_SOCKET: &str = "/run/podman/podman.sock";

/// The CLI's config.json holds logins too, so it can be large-ish; anything past
/// this is not a config file a person wrote.
pub(crate) const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;
/// A context's meta.json is a few hundred bytes.
pub(crate) const MAX_META_BYTES: u64 = 256 * 1024;

/// What the resolution reads: the runner's option and the environment variables
/// the CLI consults, captured once. Empty strings count as unset, as in the CLI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EndpointInput {
    /// The runner's `dockerHost` option (the CLI's `-H`).
    pub docker_host_option: Option<String>,
    /// `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT`.
    pub docker_context: Option<String>,
    /// `DOCKER_CONFIG`: the CLI's config folder (default `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// `DOCKER_TLS_VERIFY`: any non-empty value turns TLS with verification on (even "0", as in the CLI).
    pub docker_tls_verify: Option<String>,
    /// `DOCKER_TLS`: any non-empty value turns TLS on, without verification unless `DOCKER_TLS_VERIFY`.
    pub docker_tls: Option<String>,
    /// `DOCKER_CERT_PATH`: where ca.pem, cert.pem, key.pem are (default `~/.docker`).
    pub docker_cert_path: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR`: where rootless Podman puts its socket.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// The user's home folder.
    pub home: Option<PathBuf>,
    /// `PATH` as the host sees it: where `docker-credential-<name>` helpers are found.
    pub search_path: Option<std::ffi::OsString>,
}

impl EndpointInput {
    /// The CLI's config folder: `DOCKER_CONFIG`, else `~/.docker`.
    pub(crate) fn config_dir(&self) -> Option<PathBuf> {
        non_empty_path(&self.docker_config).or_else(|| self.home.as_ref().map(|h| h.join(".docker")))
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn non_empty_path(v: &Option<PathBuf>) -> Option<PathBuf> {
    v.clone().filter(|p| !p.as_os_str().is_empty())
}

/// The TLS material for an endpoint. Each file is present only if it exists, as
/// the CLI drops the ones that don't: no CA means the public roots, no cert/key
/// means no client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    fn from_dir(dir: &Path) -> Self {
        let existing = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        Self { ca: existing("ca.pem"), cert: existing("cert.pem"), key: existing("key.pem") }
    }

    fn is_empty(&self) -> bool {
        self.ca.is_none() && self.cert.is_none() && self.key.is_none()
    }
}

/// Why an endpoint was chosen: for the debug line and for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EndpointSource {
    /// The runner's `dockerHost` option.
    Option,
    /// `DOCKER_HOST`.
    DockerHostEnv,
    /// A context named by `DOCKER_CONTEXT`.
    ContextEnv { name: String },
    /// The `currentContext` of the CLI's config file.
    ConfigContext { name: String, config: PathBuf },
    /// Nothing configured: the CLI's default.
    Default,
    /// Nothing configured and no Docker socket answered: Podman's socket.
    Podman { rootless: bool },
}

impl fmt::Display for EndpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Option => f.write_str("from the dockerHost option"),
            Self::DockerHostEnv => f.write_str("from DOCKER_HOST"),
            Self::ContextEnv { name } => write!(f, "from context \"{name}\" (DOCKER_CONTEXT)"),
            Self::ConfigContext { name, config } => {
                write!(f, "from context \"{name}\" (currentContext in {})", config.display())
            }
            Self::Default => f.write_str("the default, nothing configured"),
            Self::Podman { rootless: true } => f.write_str("rootless Podman, no Docker socket answered"),
            Self::Podman { rootless: false } => f.write_str("rootful Podman, no Docker socket answered"),
        }
    }
}

/// The engine to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedEndpoint {
    /// Normalised: `unix:///path`, `tcp://host:port`, `https://host:port`, `ssh://[user@]host[:port][/path]`, `npipe://…`.
    pub host: String,
    /// `Some` when the connection uses TLS.
    pub tls: Option<TlsFiles>,
    /// TLS without verifying the engine's certificate (`DOCKER_TLS` without
    /// `DOCKER_TLS_VERIFY`, or a context's `SkipTLSVerify`).
    pub skip_verify: bool,
    pub source: EndpointSource,
}

impl fmt::Display for ResolvedEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.host))?;
        if let Some(tls) = &self.tls {
            f.write_str(" (TLS")?;
            if self.skip_verify {
                f.write_str(", not verified")?;
            } else if let Some(ca) = &tls.ca {
                write!(f, ", CA {}", ca.display())?;
            }
            if let Some(cert) = &tls.cert {
                write!(f, ", client cert {}", cert.display())?;
            }
            f.write_str(")")?;
        }
        write!(f, ", {}", self.source)
    }
}

impl ResolvedEndpoint {
    fn new(host: String, source: EndpointSource) -> Self {
        Self { host, tls: None, skip_verify: false, source }
    }

    /// TLS applies only to TCP hosts; a socket or ssh ignores the TLS settings, as in the CLI.
    fn is_tcp(&self) -> bool {
        ["tcp://", "http://", "https://"].iter().any(|s| self.host.starts_with(s))
    }

    /// The ssh target when the host is `ssh://…`.
    pub(crate) fn ssh_target(&self) -> Option<Result<SshTarget, EndpointError>> {
        self.host.starts_with("ssh://").then(|| SshTarget::parse(&self.host))
    }
}

/// Why no endpoint could be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EndpointError {
    #[error("Invalid Docker host \"{host}\" ({source_desc}): {reason}")]
    InvalidHost { host: String, source_desc: String, reason: String },
    #[error("Docker context \"{name}\" ({source_desc}) not found: no {}", meta.display())]
    ContextNotFound { name: String, source_desc: String, meta: PathBuf },
    #[error("Cannot read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
}

impl EndpointError {
    /// An invalid host, its credentials hidden in the host and in the reason.
    fn invalid_host(host: &str, source_desc: String, reason: &str) -> Self {
        Self::InvalidHost { host: redact_url(host).into_owned(), source_desc, reason: redact_in(reason, host) }
    }
}

/// The credentials a host URL carries, as they appear before its `@`: the
/// whole userinfo of a `tcp://`, `http://` or `https://` URL (or of a host
/// with no scheme, which means `tcp://`), since a user name there may itself
/// be a token; only the password of an `ssh://` URL (the user is no secret
/// and says who connects). None when there is none.
fn url_secret(url: &str) -> Option<&str> {
    let (scheme, rest) = url.trim().split_once("://").unwrap_or(("tcp", url.trim()));
    match scheme {
        "unix" | "npipe" | "fd" => None,
        "ssh" => {
            let authority = rest.split('/').next().unwrap_or("");
            let (userinfo, _) = authority.rsplit_once('@')?;
            userinfo.split_once(':').map(|(_, password)| password)
        }
        // Any '@' after the scheme: a path is refused for these anyway, and hiding too much is safe.
        _ => rest.rsplit_once('@').map(|(userinfo, _)| userinfo),
    }
    .filter(|secret| !secret.is_empty())
}

/// `url` with its credentials (see [`url_secret`]) shown as `***`:
/// `tcp://***@host:2375`, `ssh://me:***@host`. For every log line and error that names an endpoint.
pub(crate) fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    match url_secret(url) {
        Some(_) => std::borrow::Cow::Owned(redact_in(url, url)),
        None => std::borrow::Cow::Borrowed(url),
    }
}

/// `text` (an error's detail, say) with every `<secret>@` of `url`'s
/// credentials written `***@`. Only the secret followed by its `@` is
/// replaced, so a short secret does not blank out the rest of the text.
pub(crate) fn redact_in(text: &str, url: &str) -> String {
    match url_secret(url) {
        Some(secret) => text.replace(&format!("{secret}@"), "***@"),
        None => text.to_owned(),
    }
}

/// Decides the endpoint as the CLI would (see the module doc). Reads the CLI's
/// config file and context metadata; touches no engine.
pub(crate) fn resolve(input: &EndpointInput) -> Result<ResolvedEndpoint, EndpointError> {
    // As the CLI: an explicit host (option or DOCKER_HOST) means the default
    // context with that host, and the TLS variables apply to it.
    if let Some(host) = non_empty(&input.docker_host_option) {
        return default_endpoint(input, Some(host), EndpointSource::Option);
    }
    if let Some(host) = non_empty(&input.docker_host) {
        return default_endpoint(input, Some(host), EndpointSource::DockerHostEnv);
    }
    if let Some(name) = non_empty(&input.docker_context) {
        let source = EndpointSource::ContextEnv { name: name.to_owned() };
        if name == DEFAULT_CONTEXT {
            return default_endpoint(input, None, source);
        }
        return context_endpoint(input, name, source);
    }
    if let Some(config_dir) = input.config_dir() {
        let config = config_dir.join("config.json");
        if let Some(name) = current_context(&config)? {
            let source = EndpointSource::ConfigContext { name: name.clone(), config };
            if name == DEFAULT_CONTEXT {
                return default_endpoint(input, None, source);
            }
            return context_endpoint(input, &name, source);
        }
    }
    default_endpoint(input, None, EndpointSource::Default)
}

/// Podman's sockets to try, in order, when `resolved` came from nothing being
/// configured and the Docker socket does not answer; empty otherwise (an
/// explicit choice is never silently replaced). Rootless first: it is the
/// user's own, while the rootful socket is usually not theirs to open. None on
/// Windows, whose default is a named pipe: Podman's sockets are unix ones.
pub(crate) fn podman_fallbacks(input: &EndpointInput, resolved: &ResolvedEndpoint) -> Vec<ResolvedEndpoint> {
    if resolved.source != EndpointSource::Default || resolved.host != DEFAULT_UNIX_HOST {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(runtime) = non_empty_path(&input.xdg_runtime_dir) {
        let sock = runtime.join("podman").join("podman.sock");
        out.push(ResolvedEndpoint::new(
            format!("unix://{}", sock.display()),
            EndpointSource::Podman { rootless: true },
        ));
    }
    out.push(ResolvedEndpoint::new(
        format!("unix://{PODMAN_ROOTFUL_SOCKET}"),
        EndpointSource::Podman { rootless: false },
    ));
    out
}

/// The CLI's default context: `host` (or the default), TLS from the environment.
fn default_endpoint(
    input: &EndpointInput,
    host: Option<&str>,
    source: EndpointSource,
) -> Result<ResolvedEndpoint, EndpointError> {
    let verify = non_empty(&input.docker_tls_verify).is_some();
    let tls_on = verify || non_empty(&input.docker_tls).is_some();
    let host = match host {
        Some(h) => h,
        None if tls_on => DEFAULT_TLS_HOST,
        None => DEFAULT_HOST,
    };
    let host = normalise_host(host, tls_on)
        .map_err(|reason| EndpointError::invalid_host(host, source.to_string(), &reason))?;
    let https = host.starts_with("https://");
    let mut ep = ResolvedEndpoint::new(host, source);
    if (tls_on && ep.is_tcp()) || https {
        let cert_dir = non_empty_path(&input.docker_cert_path).or_else(|| input.config_dir());
        ep.tls = Some(cert_dir.map(|d| TlsFiles::from_dir(&d)).unwrap_or_default());
        // An https:// host alone verifies, as DOCKER_TLS_VERIFY would.
        ep.skip_verify = tls_on && !verify;
    }
    Ok(ep)
}

/// The sha256 hex of a context name: the folder its files live in.
pub(crate) fn context_dir_name(name: &str) -> String {
    Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn context_endpoint(
    input: &EndpointInput,
    name: &str,
    source: EndpointSource,
) -> Result<ResolvedEndpoint, EndpointError> {
    let source_desc = source.to_string();
    let Some(config_dir) = input.config_dir() else {
        return Err(EndpointError::ContextNotFound {
            name: name.to_owned(),
            source_desc,
            meta: PathBuf::from("~/.docker"),
        });
    };
    let id = context_dir_name(name);
    let meta_path = config_dir.join("contexts").join("meta").join(&id).join("meta.json");
    let Some(bytes) = read_bounded(&meta_path, MAX_META_BYTES)? else {
        return Err(EndpointError::ContextNotFound { name: name.to_owned(), source_desc, meta: meta_path });
    };
    let garbled = |reason: &str| EndpointError::Unreadable { path: meta_path.clone(), reason: reason.to_owned() };
    let meta: Value = serde_json::from_slice(&bytes).map_err(|e| garbled(&format!("not JSON ({e})")))?;
    let docker = meta
        .get("Endpoints")
        .and_then(|e| e.get("docker"))
        .ok_or_else(|| garbled("no Endpoints.docker: the context has no Docker endpoint"))?;
    let raw_host = docker.get("Host").and_then(Value::as_str).unwrap_or("");
    let skip_verify = docker.get("SkipTLSVerify").and_then(Value::as_bool).unwrap_or(false);
    let tls_files = TlsFiles::from_dir(&config_dir.join("contexts").join("tls").join(&id).join("docker"));
    // As the CLI: TLS when the context carries TLS material or skips verification.
    let tls_on = !tls_files.is_empty() || skip_verify;
    let raw_host = if raw_host.is_empty() { DEFAULT_HOST } else { raw_host };
    let host = normalise_host(raw_host, tls_on)
        .map_err(|reason| EndpointError::invalid_host(raw_host, source_desc.clone(), &reason))?;
    let mut ep = ResolvedEndpoint::new(host, source);
    if (tls_on && ep.is_tcp()) || ep.host.starts_with("https://") {
        ep.tls = Some(tls_files);
        ep.skip_verify = skip_verify;
    }
    Ok(ep)
}

/// `currentContext` from the CLI's config file; `None` when the file or the key is absent.
fn current_context(config: &Path) -> Result<Option<String>, EndpointError> {
    let Some(value) = read_config(config)? else { return Ok(None) };
    Ok(value.get("currentContext").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned))
}

/// The CLI's config file as JSON; `None` when it does not exist.
pub(crate) fn read_config(config: &Path) -> Result<Option<Value>, EndpointError> {
    let Some(bytes) = read_bounded(config, MAX_CONFIG_BYTES)? else { return Ok(None) };
    // The CLI treats an empty file as an empty config.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| EndpointError::Unreadable { path: config.to_owned(), reason: format!("not JSON ({e})") })
}

/// Reads at most `max` bytes; `None` when the file does not exist.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Option<Vec<u8>>, EndpointError> {
    let unreadable = |reason: String| EndpointError::Unreadable { path: path.to_owned(), reason };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e.to_string())),
    };
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(unreadable(format!("larger than {max} bytes")));
    }
    Ok(Some(bytes))
}

/// Normalises a host as the CLI's `ParseHost` does: no scheme means `tcp://`,
/// a `tcp://` host without a port gets 2375 (2376 with TLS), an empty
/// `unix://` path is the default socket.
fn normalise_host(host: &str, tls: bool) -> Result<String, String> {
    let host = host.trim();
    let (scheme, rest) = host.split_once("://").unwrap_or(("tcp", host));
    match scheme {
        "unix" => {
            if rest.is_empty() {
                Ok(DEFAULT_UNIX_HOST.to_owned())
            } else {
                Ok(format!("unix://{rest}"))
            }
        }
        "npipe" if rest.is_empty() => Ok(DEFAULT_NAMED_PIPE_HOST.to_owned()),
        "npipe" => Ok(host.to_owned()),
        "ssh" => SshTarget::parse(host).map(|_| host.to_owned()).map_err(|e| e.to_string()),
        "tcp" | "http" | "https" => {
            let default_port = if tls || scheme == "https" { DEFAULT_TLS_PORT } else { DEFAULT_HTTP_PORT };
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() {
                return Err("no address".to_owned());
            }
            if authority.contains('/') {
                return Err("a path is not supported".to_owned());
            }
            // The port is read after any userinfo: a password is neither a port nor quoted as one.
            let hostport = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
            if hostport.is_empty() {
                return Err("no address".to_owned());
            }
            let has_port = match hostport.rfind(']') {
                // [ipv6]:port
                Some(close) => hostport[close..].contains(':'),
                None => hostport.contains(':'),
            };
            if has_port {
                let port = hostport.rsplit_once(':').map(|(_, p)| p).unwrap_or("");
                if port.parse::<u16>().is_err() {
                    return Err(format!("invalid port \"{port}\""));
                }
                Ok(format!("{scheme}://{authority}"))
            } else {
                Ok(format!("{scheme}://{authority}:{default_port}"))
            }
        }
        "fd" => Err("fd:// is only for a daemon's own sockets".to_owned()),
        other => Err(format!("unsupported scheme \"{other}\"")),
    }
}

/// The punctuation an ssh socket path may hold besides ASCII letters and
/// digits. ssh joins the remote command's words with spaces and the remote
/// user's login shell parses the line, so the path is a word of a shell
/// command: none of these means anything to sh, bash, zsh, fish or csh there.
const REMOTE_SAFE_PUNCTUATION: &str = "/._-+@%,:";

fn is_remote_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || REMOTE_SAFE_PUNCTUATION.contains(c)
}

/// `ssh://[user@]host[:port][/socket-path]`, parsed as the CLI's connhelper does,
/// except that a socket path with shell metacharacters is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The engine socket on the remote side; `None` means the remote CLI's default.
    pub socket_path: Option<String>,
}

impl SshTarget {
    pub(crate) fn parse(url: &str) -> Result<Self, EndpointError> {
        let invalid = |reason: &str| EndpointError::invalid_host(url, "ssh".to_owned(), reason);
        let rest = url.strip_prefix("ssh://").ok_or_else(|| invalid("not an ssh:// URL"))?;
        if rest.contains(['?', '#']) {
            return Err(invalid("a query or fragment is not supported"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        let socket_path = path.filter(|p| *p != "/").map(str::to_owned);
        if let Some(path) = &socket_path {
            if let Some(bad) = path.chars().find(|c| !is_remote_safe(*c)) {
                return Err(invalid(&format!(
                    "the socket path may hold only letters, digits and {REMOTE_SAFE_PUNCTUATION} \
                     (ssh hands it to the remote shell), not {bad:?}"
                )));
            }
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((user, hp)) => (Some(user), hp),
            None => (None, authority),
        };
        if let Some(user) = user {
            if user.contains(':') {
                return Err(invalid("a password in the URL is not supported"));
            }
            // ssh expands the user and host into ProxyCommand and Match exec lines, run by a local shell.
            if user.is_empty() || user.starts_with('-') || !user.chars().all(|c| is_remote_safe(c) && c != '/') {
                return Err(invalid("invalid user"));
            }
        }
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']').ok_or_else(|| invalid("unclosed ["))?;
                (h, after.strip_prefix(':'))
            }
            None => match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            },
        };
        // ssh takes the host as an argument; one starting with '-' would be read as an option.
        let host_char = |c: char| c.is_ascii_alphanumeric() || ".-_:%".contains(c);
        if host.is_empty() || host.starts_with('-') || !host.chars().all(host_char) {
            return Err(invalid("invalid host"));
        }
        let port = match port {
            Some(p) => Some(p.parse::<u16>().map_err(|_| invalid(&format!("invalid port \"{p}\"")))?),
            None => None,
        };
        Ok(Self { user: user.map(str::to_owned), host: host.to_owned(), port, socket_path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn input(home: &Path) -> EndpointInput {
        EndpointInput { home: Some(home.to_owned()), ..Default::default() }
    }

    /// `<home>/.docker/config.json` holding `text`; its path.
    fn write_config(home: &Path, text: &str) -> PathBuf {
        let cfg = home.join(".docker");
        fs::create_dir_all(&cfg).unwrap();
        fs::write(cfg.join("config.json"), text).unwrap();
        cfg.join("config.json")
    }

    /// Writes a context the way `docker context create` lays it out.
    fn write_context(config_dir: &Path, name: &str, host: &str, skip: bool, tls: &[&str]) -> PathBuf {
        let id = context_dir_name(name);
        let meta = config_dir.join("contexts/meta").join(&id);
        fs::create_dir_all(&meta).unwrap();
        let json = serde_json::json!({
            "Name": name, "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}}
        });
        fs::write(meta.join("meta.json"), json.to_string()).unwrap();
        let tls_dir = config_dir.join("contexts/tls").join(&id).join("docker");
        if !tls.is_empty() {
            fs::create_dir_all(&tls_dir).unwrap();
        }
        for f in tls {
            fs::write(tls_dir.join(f), "pem").unwrap();
        }
        tls_dir
    }

    fn set_current(config_dir: &Path, name: &str) {
        fs::create_dir_all(config_dir).unwrap();
        fs::write(config_dir.join("config.json"), format!(r#"{{"auths":{{}},"currentContext":"{name}"}}"#)).unwrap();
    }

    #[test]
    fn context_dir_is_sha256_of_name() {
        // sha256("default"), as `docker context inspect` shows for any context named so.
        assert_eq!(context_dir_name("default"), "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f");
    }

    #[test]
    #[cfg(windows)]
    fn nothing_configured_on_windows_is_docker_desktops_named_pipe() {
        let home = tempfile::tempdir().unwrap();
        let ep = resolve(&input(home.path())).unwrap();
        assert_eq!((ep.host.as_str(), &ep.source), ("npipe:////./pipe/docker_engine", &EndpointSource::Default));
        assert!(podman_fallbacks(&input(home.path()), &ep).is_empty());
    }

    #[test]
    #[cfg(not(windows))]
    fn nothing_configured_is_the_default_socket() {
        let home = tempfile::tempdir().unwrap();
        let ep = resolve(&input(home.path())).unwrap();
        assert_eq!(ep.host, DEFAULT_HOST);
        assert_eq!(ep.source, EndpointSource::Default);
        assert_eq!(ep.tls, None);
        assert_eq!(ep.to_string(), "unix:///var/run/docker.sock, the default, nothing configured");
    }

    #[test]
    fn order_option_then_env_host_then_env_context_then_config() {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join(".docker");
        write_context(&cfg, "fromenv", "tcp://10.0.0.2:2375", false, &[]);
        write_context(&cfg, "fromcfg", "tcp://10.0.0.3:2375", false, &[]);
        set_current(&cfg, "fromcfg");
        let mut i = input(home.path());
        assert_eq!(resolve(&i).unwrap().host, "tcp://10.0.0.3:2375");
        i.docker_context = Some("fromenv".into());
        assert_eq!(resolve(&i).unwrap().host, "tcp://10.0.0.2:2375");
        i.docker_host = Some("tcp://10.0.0.4:2375".into());
        let ep = resolve(&i).unwrap();
        assert_eq!((ep.host.as_str(), &ep.source), ("tcp://10.0.0.4:2375", &EndpointSource::DockerHostEnv));
        i.docker_host_option = Some("unix:///tmp/x.sock".into());
        let ep = resolve(&i).unwrap();
        assert_eq!((ep.host.as_str(), &ep.source), ("unix:///tmp/x.sock", &EndpointSource::Option));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let home = tempfile::tempdir().unwrap();
        let i = EndpointInput {
            docker_host_option: Some(String::new()),
            docker_host: Some(String::new()),
            docker_context: Some(String::new()),
            docker_tls_verify: Some(String::new()),
            ..input(home.path())
        };
        assert_eq!(resolve(&i).unwrap().source, EndpointSource::Default);
    }

    #[test]
    fn docker_config_env_moves_the_config_folder() {
        let home = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        write_context(scratch.path(), "remote", "ssh://me@example.test:2222", false, &[]);
        set_current(scratch.path(), "remote");
        let i = EndpointInput { docker_config: Some(scratch.path().to_owned()), ..input(home.path()) };
        let ep = resolve(&i).unwrap();
        assert_eq!(ep.host, "ssh://me@example.test:2222");
        assert_eq!(
            ep.source,
            EndpointSource::ConfigContext { name: "remote".into(), config: scratch.path().join("config.json") }
        );
        assert!(ep.to_string().contains("from context \"remote\" (currentContext in "), "{ep}");
    }

    #[test]
    fn context_with_tls_files_uses_tls_and_only_the_files_present() {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join(".docker");
        let tls_dir = write_context(&cfg, "secure", "tcp://127.0.0.1:2376", false, &["ca.pem", "cert.pem", "key.pem"]);
        write_context(&cfg, "caonly", "tcp://127.0.0.1", false, &["ca.pem"]);
        let i = EndpointInput { docker_context: Some("secure".into()), ..input(home.path()) };
        let ep = resolve(&i).unwrap();
        let tls = ep.tls.clone().unwrap();
        assert_eq!(tls.ca, Some(tls_dir.join("ca.pem")));
        assert_eq!(tls.cert, Some(tls_dir.join("cert.pem")));
        assert_eq!(tls.key, Some(tls_dir.join("key.pem")));
        assert!(!ep.skip_verify);
        assert!(ep.to_string().starts_with("tcp://127.0.0.1:2376 (TLS, CA "), "{ep}");

        let i = EndpointInput { docker_context: Some("caonly".into()), ..input(home.path()) };
        let ep = resolve(&i).unwrap();
        // A TLS context without a port gets the TLS port.
        assert_eq!(ep.host, "tcp://127.0.0.1:2376");
        assert_eq!(ep.tls.unwrap().cert, None);
    }

    #[test]
    fn context_skip_verify_without_files_is_tls_unverified() {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join(".docker");
        write_context(&cfg, "lax", "tcp://127.0.0.1:2376", true, &[]);
        let ep = resolve(&EndpointInput { docker_context: Some("lax".into()), ..input(home.path()) }).unwrap();
        assert_eq!(ep.tls, Some(TlsFiles::default()));
        assert!(ep.skip_verify);
        assert!(ep.to_string().contains("not verified"), "{ep}");
    }

    #[test]
    fn context_without_tls_is_plain_even_if_tls_env_is_set() {
        // The TLS variables belong to the default context only, as in the CLI.
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join(".docker");
        write_context(&cfg, "plain", "tcp://127.0.0.1:2375", false, &[]);
        let i = EndpointInput {
            docker_context: Some("plain".into()),
            docker_tls_verify: Some("1".into()),
            ..input(home.path())
        };
        assert_eq!(resolve(&i).unwrap().tls, None);
    }

    #[test]
    fn default_context_name_means_the_default_endpoint() {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join(".docker");
        set_current(&cfg, "default");
        let ep = resolve(&input(home.path())).unwrap();
        assert_eq!(ep.host, DEFAULT_HOST);
        assert!(matches!(ep.source, EndpointSource::ConfigContext { .. }));
        // Named explicitly, it is a choice: no Podman fallback.
        assert!(podman_fallbacks(&input(home.path()), &ep).is_empty());
    }

    #[test]
    fn tls_verify_env_uses_cert_path_and_only_existing_files() {
        let home = tempfile::tempdir().unwrap();
        let certs = tempfile::tempdir().unwrap();
        fs::write(certs.path().join("ca.pem"), "x").unwrap();
        fs::write(certs.path().join("cert.pem"), "x").unwrap();
        let i = EndpointInput {
            docker_host: Some("tcp://127.0.0.1:2376".into()),
            docker_tls_verify: Some("0".into()), // any non-empty value, as in the CLI
            docker_cert_path: Some(certs.path().to_owned()),
            ..input(home.path())
        };
        let ep = resolve(&i).unwrap();
        assert_eq!(
            ep.tls,
            Some(TlsFiles {
                ca: Some(certs.path().join("ca.pem")),
                cert: Some(certs.path().join("cert.pem")),
                key: None
            })
        );
        assert!(!ep.skip_verify);
    }

    #[test]
    fn tls_env_without_host_means_localhost_2376_and_cert_path_defaults_to_dot_docker() {
        let home = tempfile::tempdir().unwrap();
        fs::create_dir_all(home.path().join(".docker")).unwrap();
        fs::write(home.path().join(".docker/ca.pem"), "x").unwrap();
        let i = EndpointInput { docker_tls_verify: Some("1".into()), ..input(home.path()) };
        let ep = resolve(&i).unwrap();
        assert_eq!(ep.host, DEFAULT_TLS_HOST);
        assert_eq!(ep.tls.unwrap().ca, Some(home.path().join(".docker/ca.pem")));
    }

    #[test]
    fn docker_tls_alone_skips_verification() {
        let home = tempfile::tempdir().unwrap();
        let i =
            EndpointInput { docker_host: Some("127.0.0.1".into()), docker_tls: Some("1".into()), ..input(home.path()) };
        let ep = resolve(&i).unwrap();
        assert_eq!(ep.host, "tcp://127.0.0.1:2376");
        assert!(ep.tls.is_some() && ep.skip_verify);
    }

    #[test]
    fn tls_env_does_not_apply_to_sockets_or_ssh() {
        let home = tempfile::tempdir().unwrap();
        for host in ["unix:///tmp/d.sock", "ssh://me@box"] {
            let i = EndpointInput {
                docker_host: Some(host.into()),
                docker_tls_verify: Some("1".into()),
                ..input(home.path())
            };
            assert_eq!(resolve(&i).unwrap().tls, None, "{host}");
        }
    }

    #[test]
    fn https_host_alone_is_verified_tls() {
        let home = tempfile::tempdir().unwrap();
        let i = EndpointInput { docker_host: Some("https://engine.test".into()), ..input(home.path()) };
        let ep = resolve(&i).unwrap();
        assert_eq!(ep.host, "https://engine.test:2376");
        assert!(ep.tls.is_some() && !ep.skip_verify);
    }

    #[test]
    fn hosts_are_normalised_like_the_cli() {
        assert_eq!(normalise_host("tcp://1.2.3.4", false).unwrap(), "tcp://1.2.3.4:2375");
        assert_eq!(normalise_host("1.2.3.4:99", false).unwrap(), "tcp://1.2.3.4:99");
        assert_eq!(normalise_host("tcp://[::1]", false).unwrap(), "tcp://[::1]:2375");
        assert_eq!(normalise_host("tcp://[::1]:7", false).unwrap(), "tcp://[::1]:7");
        assert_eq!(normalise_host("unix://", false).unwrap(), DEFAULT_UNIX_HOST);
        assert_eq!(normalise_host("npipe://", false).unwrap(), "npipe:////./pipe/docker_engine");
        assert_eq!(normalise_host("npipe:////./pipe/other", false).unwrap(), "npipe:////./pipe/other");
        assert!(normalise_host("tcp://h:notaport", false).is_err());
        assert!(normalise_host("fd://", false).is_err());
        assert!(normalise_host("gopher://x", false).is_err());
        assert!(normalise_host("ssh://-oProxyCommand=x", false).is_err());
    }

    #[test]
    fn invalid_host_error_names_host_and_source() {
        let home = tempfile::tempdir().unwrap();
        let i = EndpointInput { docker_host: Some("gopher://x".into()), ..input(home.path()) };
        let err = resolve(&i).unwrap_err().to_string();
        assert_eq!(err, "Invalid Docker host \"gopher://x\" (from DOCKER_HOST): unsupported scheme \"gopher\"");
    }

    #[test]
    fn missing_context_is_a_clear_error() {
        let home = tempfile::tempdir().unwrap();
        let i = EndpointInput { docker_context: Some("nope".into()), ..input(home.path()) };
        let err = resolve(&i).unwrap_err().to_string();
        assert!(
            err.starts_with("Docker context \"nope\" (from context \"nope\" (DOCKER_CONTEXT)) not found: no "),
            "{err}"
        );
        assert!(err.contains(&context_dir_name("nope")), "{err}");
    }

    #[test]
    fn garbled_files_are_errors_naming_the_file() {
        let home = tempfile::tempdir().unwrap();
        let config = write_config(home.path(), "{not json");
        let err = resolve(&input(home.path())).unwrap_err();
        assert!(matches!(&err, EndpointError::Unreadable { path, .. } if path == &config), "{err}");
        let cfg = home.path().join(".docker");

        write_context(&cfg, "broken", "x", false, &[]);
        let meta_json = cfg.join("contexts/meta").join(context_dir_name("broken")).join("meta.json");
        fs::write(&meta_json, r#"{"Name":"broken","Endpoints":{}}"#).unwrap();
        let err = resolve(&EndpointInput { docker_context: Some("broken".into()), ..input(home.path()) }).unwrap_err();
        assert!(err.to_string().contains("no Endpoints.docker"), "{err}");
    }

    #[test]
    fn empty_config_file_is_no_config() {
        let home = tempfile::tempdir().unwrap();
        write_config(home.path(), "\n");
        assert_eq!(resolve(&input(home.path())).unwrap().source, EndpointSource::Default);
    }

    #[test]
    fn oversized_config_is_refused_not_read_whole() {
        let home = tempfile::tempdir().unwrap();
        let f = fs::File::options().write(true).open(write_config(home.path(), "")).unwrap();
        f.set_len(MAX_CONFIG_BYTES + 1).unwrap();
        let err = resolve(&input(home.path())).unwrap_err().to_string();
        assert!(err.contains(&format!("larger than {MAX_CONFIG_BYTES} bytes")), "{err}");
    }

    #[test]
    fn podman_fallbacks_only_when_nothing_configured_rootless_first() {
        let home = tempfile::tempdir().unwrap();
        let i = EndpointInput { xdg_runtime_dir: Some("/run/user/1000".into()), ..input(home.path()) };
        let ep = resolve(&i).unwrap();
        let hosts: Vec<_> = podman_fallbacks(&i, &ep).into_iter().map(|e| (e.host, e.source)).collect();
        assert_eq!(
            hosts,
            vec![
                ("unix:///run/user/1000/podman/podman.sock".into(), EndpointSource::Podman { rootless: true }),
                ("unix:///run/podman/podman.sock".into(), EndpointSource::Podman { rootless: false }),
            ]
        );
        let i = EndpointInput { docker_host: Some(DEFAULT_HOST.into()), ..i };
        assert!(podman_fallbacks(&i, &resolve(&i).unwrap()).is_empty());
    }

    #[test]
    fn ssh_targets_split_user_host_port_path() {
        let t = SshTarget::parse("ssh://root@127.0.0.1:2222").unwrap();
        assert_eq!(
            t,
            SshTarget { user: Some("root".into()), host: "127.0.0.1".into(), port: Some(2222), socket_path: None }
        );
        let t = SshTarget::parse("ssh://box").unwrap();
        assert_eq!(t, SshTarget { user: None, host: "box".into(), port: None, socket_path: None });
        let t = SshTarget::parse("ssh://u@[::1]:22/run/user/1/docker.sock").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.socket_path.as_deref()),
            ("::1", Some(22), Some("/run/user/1/docker.sock"))
        );
        assert!(SshTarget::parse("ssh://u:pw@h").is_err());
        assert!(SshTarget::parse("ssh://h:x").is_err());
        assert!(SshTarget::parse("ssh://-lroot").is_err());
        assert!(SshTarget::parse("ssh://h?x=1").is_err());
    }

    #[test]
    fn credentials_in_a_host_are_hidden_wherever_it_is_named() {
        let cases = [
            ("tcp://user:s3cret@10.0.0.1:2375", "tcp://***@10.0.0.1:2375"),
            ("tcp://s3cret@10.0.0.1:2375", "tcp://***@10.0.0.1:2375"),
            ("http://user:s3cret@engine.test:80", "http://***@engine.test:80"),
            ("https://user:s3cret@engine.test:2376", "https://***@engine.test:2376"),
            ("user:s3cret@10.0.0.1:2375", "***@10.0.0.1:2375"),
            // A password with an '@' or a '/' in it, as people type them.
            ("tcp://user:s3c@ret@10.0.0.1:2375", "tcp://***@10.0.0.1:2375"),
            ("tcp://user:s3c/ret@10.0.0.1:2375", "tcp://***@10.0.0.1:2375"),
            // ssh: the user says who connects and stays; a password never.
            ("ssh://me:s3cret@box:22", "ssh://me:***@box:22"),
            ("ssh://me@box:22/run/a@b.sock", "ssh://me@box:22/run/a@b.sock"),
            ("unix:///run/a@s3cret.sock", "unix:///run/a@s3cret.sock"),
            ("tcp://10.0.0.1:2375", "tcp://10.0.0.1:2375"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        // A one-letter secret hides only itself before its '@', not every 'p' in a message.
        assert_eq!(redact_in("tcp://u:p@h:1 stopped: pipe", "tcp://u:p@h:1"), "tcp://***@h:1 stopped: pipe");

        let home = tempfile::tempdir().unwrap();
        // Resolved from each source: the debug line and errors use this Display.
        let i = EndpointInput { docker_host: Some("tcp://user:s3cret@10.0.0.1".into()), ..input(home.path()) };
        let ep = resolve(&i).unwrap();
        assert_eq!(ep.to_string(), "tcp://***@10.0.0.1:2375, from DOCKER_HOST");
        let cfg = home.path().join(".docker");
        write_context(&cfg, "remote", "tcp://user:s3cret@10.0.0.2:2376", false, &["ca.pem"]);
        let i = EndpointInput { docker_context: Some("remote".into()), ..input(home.path()) };
        let shown = resolve(&i).unwrap().to_string();
        assert!(shown.starts_with("tcp://***@10.0.0.2:2376 (TLS, CA "), "{shown}");

        // Refused hosts: neither the host nor the reason quotes the secret.
        for bad in [
            "tcp://user:s3cret@10.0.0.1:notaport",
            "tcp://user:s3cret@10.0.0.1:2375/path",
            "tcp://user:s3cret@",
            "gopher://user:s3cret@x",
            "ssh://me:s3cret@box",
            "ssh://me:s3cret@box:x",
            "ssh://me:s3cret@box/a;b",
        ] {
            for i in [
                EndpointInput { docker_host: Some(bad.into()), ..input(home.path()) },
                EndpointInput { docker_host_option: Some(bad.into()), ..input(home.path()) },
            ] {
                let err = resolve(&i).unwrap_err().to_string();
                assert!(!err.contains("s3cret"), "{bad}: {err}");
                assert!(err.starts_with("Invalid Docker host"), "{bad}: {err}");
            }
        }
        let ssh = SshTarget::parse("ssh://me:s3cret@box").unwrap_err().to_string();
        assert_eq!(ssh, "Invalid Docker host \"ssh://me:***@box\" (ssh): a password in the URL is not supported");
    }

    #[test]
    fn an_ssh_socket_path_never_carries_shell_syntax_to_the_remote_side() {
        for path in ["/run/user/1000/docker.sock", "/var/run/docker-2_b.sock", "/srv/a+b@c%2C,d:e.sock"] {
            let t = SshTarget::parse(&format!("ssh://me@box{path}")).unwrap();
            assert_eq!(t.socket_path.as_deref(), Some(path));
        }
        let attacks = [
            "/run/d.sock;touch /tmp/pwned",
            "/run/d.sock;id",
            "/x$(id)",
            "/x`id`",
            "/x|id",
            "/x&id",
            "/x>/tmp/f",
            "/x</etc/passwd",
            "/x'y",
            "/x\"y",
            "/x\\y",
            "/x y",
            "/x\ty",
            "/x\ny",
            "/x*",
            "/x[a]",
            "/x{a,b}",
            "/x~",
            "/x!1",
            "/x=1",
            "/x^y",
            "/é",
        ];
        for path in attacks {
            let url = format!("ssh://me@box{path}");
            let err = SshTarget::parse(&url).unwrap_err().to_string();
            assert!(err.contains("the socket path may hold only letters, digits and /._-+@%,:"), "{url}: {err}");
            // Refused where the endpoint is decided, from any source, before any ssh runs.
            let home = tempfile::tempdir().unwrap();
            let i = EndpointInput { docker_host: Some(url.clone()), ..input(home.path()) };
            let err = resolve(&i).unwrap_err().to_string();
            assert!(err.starts_with("Invalid Docker host \"ssh://me@box"), "{url}: {err}");
            assert!(err.contains("(from DOCKER_HOST)"), "{url}: {err}");
        }
        // The user and host reach a local shell when ssh_config has a ProxyCommand (%r, %h).
        for url in ["ssh://me;id@box", "ssh://$(id)@box", "ssh://me@box;id", "ssh://me@b`id`ox:22", "ssh://me@[::1;id]"]
        {
            assert!(SshTarget::parse(url).is_err(), "{url}");
        }
        assert!(SshTarget::parse("ssh://svc.deploy-1@build_host.example.com:2222").is_ok());
        assert!(SshTarget::parse("ssh://me@[fe80::1%eth0]:22").is_ok());
    }
}
