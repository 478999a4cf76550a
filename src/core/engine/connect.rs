//! A bollard client for a [`ResolvedEndpoint`]: a Unix socket, plain TCP, TLS
//! with the endpoint's own CA and client certificate, or ssh to a remote
//! `docker system dial-stdio`, then version negotiation (bollard 0.21 speaks
//! API 1.53 by default; older engines, e.g. Debian's 20.10 at 1.41, refuse it).
//!
//! TLS and ssh are built here, as custom transports, rather than through
//! bollard's `ssl` and `ssh` features:
//! - bollard's `ssl` always links rustls-native-certs (macOS security-framework),
//!   fails when any native root cannot be loaded, and has no way to skip
//!   verification (`DOCKER_TLS`, a context's `SkipTLSVerify`);
//! - bollard's `ssh` hands `user@host:port` to ssh as one host name, so any
//!   port but 22 fails, and launches an ssh ControlMaster per connection.
//!   Here ssh is spawned as the docker CLI spawns it: `ssh -l user -p port --
//!   host docker system dial-stdio`, one process per HTTP connection, kept for
//!   reuse a short while.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::{BollardRequest, Docker, API_DEFAULT_VERSION};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

use super::endpoint::{
    podman_fallbacks, read_bounded, redact_in, resolve, EndpointError, EndpointInput, ResolvedEndpoint, SshTarget,
    TlsFiles,
};
use crate::core::bounds::{NEGOTIATE, REQUEST_SECS, SSH_CONNECT_SECS, SSH_IDLE, SSH_STDERR_WAIT};

/// At most this many idle ssh connections are kept.
pub(crate) const SSH_MAX_IDLE: usize = 2;
/// What ssh writes on stderr is kept for error messages up to this size.
pub(crate) const SSH_STDERR_MAX: usize = 4096;
/// PEM files of a TLS endpoint: certificates and keys are a few KiB; a CA bundle may be larger.
pub(crate) const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Why no client could be made or the engine did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The endpoint could not be decided (bad host, missing context, garbled config).
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The endpoint's TLS or ssh settings cannot be used.
    #[error("Cannot use the Docker engine at {endpoint}: {detail}")]
    Config { endpoint: String, detail: String },
    /// No engine answered.
    #[error("Cannot connect to the Docker engine at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
}

impl ConnectError {
    // The endpoint's Display hides its credentials; a detail from bollard or hyper may quote the URL.
    fn unreachable(ep: &ResolvedEndpoint, detail: impl ToString) -> Self {
        Self::Unreachable { endpoint: ep.to_string(), detail: redact_in(&detail.to_string(), &ep.host) }
    }

    fn config(ep: &ResolvedEndpoint, detail: impl ToString) -> Self {
        Self::Config { endpoint: ep.to_string(), detail: redact_in(&detail.to_string(), &ep.host) }
    }
}

/// An error's text followed by its causes' (hyper's "client error (Connect)"
/// alone does not say that the socket refused us, or why).
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Resolves the endpoint from `input` and connects; when nothing was configured
/// and the default Docker socket does not exist or refuses connections,
/// Podman's sockets are tried. Returns the endpoint that answered (for the
/// debug line: its Display says which and why).
pub(crate) async fn connect_resolved(input: &EndpointInput) -> Result<(Docker, ResolvedEndpoint), ConnectError> {
    let primary = resolve(input)?;
    let first_err = match connect(&primary).await {
        Ok(docker) => return Ok((docker, primary)),
        Err(e) => e,
    };
    let fallbacks = podman_fallbacks(input, &primary);
    if fallbacks.is_empty() || !socket_absent(&primary) {
        return Err(first_err);
    }
    for ep in fallbacks {
        if socket_absent(&ep) {
            continue;
        }
        if let Ok(docker) = connect(&ep).await {
            return Ok((docker, ep));
        }
    }
    // Name the Docker socket, as the CLI would: that is what the user expected.
    Err(first_err)
}

/// Whether a `unix://` endpoint has no socket file, or one nothing listens on:
/// only then is another engine tried. Permission denied is an answer (the
/// user's engine exists, they may not use it) and is reported, not skipped.
fn socket_absent(ep: &ResolvedEndpoint) -> bool {
    let Some(path) = ep.host.strip_prefix("unix://") else { return false };
    #[cfg(unix)]
    {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => false,
            Err(e) => matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused),
        }
    }
    #[cfg(not(unix))]
    {
        !Path::new(path).exists()
    }
}

/// A client for `ep`, version-negotiated. Fails if the engine does not answer.
pub(crate) async fn connect(ep: &ResolvedEndpoint) -> Result<Docker, ConnectError> {
    let (docker, ssh_stderr) = client(ep)?;
    let negotiated = tokio::time::timeout(NEGOTIATE, docker.negotiate_version()).await;
    match negotiated {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => {
            let mut detail = with_causes(&e);
            if let Some(stderr) = ssh_stderr {
                if let Some(said) = stderr.wait_text().await {
                    detail = format!("{detail}; ssh said: {said}");
                }
            }
            Err(ConnectError::unreachable(ep, detail))
        }
        Err(_) => Err(ConnectError::unreachable(ep, format!("no answer within {}s", NEGOTIATE.as_secs()))),
    }
}

/// The client for `ep`, not yet used.
fn client(ep: &ResolvedEndpoint) -> Result<(Docker, Option<SshStderr>), ConnectError> {
    let host = ep.host.as_str();
    if let Some(target) = ep.ssh_target() {
        let target = target?;
        let stderr = SshStderr::default();
        let docker = ssh_client(target, stderr.clone()).map_err(|e| ConnectError::config(ep, e))?;
        return Ok((docker, Some(stderr)));
    }
    if let Some(tls) = &ep.tls {
        return Ok((tls_client(ep, tls)?, None));
    }
    let docker = if host.starts_with("unix://") || host.starts_with("npipe://") {
        local_client(host)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, REQUEST_SECS, API_DEFAULT_VERSION)
    } else {
        // Anything else bollard knows.
        Docker::connect_with_host(host)
    };
    docker.map(|d| (d, None)).map_err(|e| match e {
        bollard::errors::Error::SocketNotFoundError(path) => {
            ConnectError::unreachable(ep, format!("no socket at {path}: is the engine running?"))
        }
        other => ConnectError::config(ep, other),
    })
}

/// A `unix://` socket (on unix) or a `npipe://` named pipe (Docker Desktop's
/// engine on Windows, `npipe:////./pipe/docker_engine`), with this runner's
/// request timeout (bollard's `connect_with_host` takes its own). The other
/// platform's scheme goes to `connect_with_host`, which refuses it in bollard's
/// words ("unsupported URL scheme"), naming the endpoint, as the docker CLI
/// of that platform has no such transport either.
fn local_client(host: &str) -> Result<Docker, bollard::errors::Error> {
    #[cfg(unix)]
    if host.starts_with("unix://") {
        return Docker::connect_with_unix(host, REQUEST_SECS, API_DEFAULT_VERSION);
    }
    #[cfg(windows)]
    if host.starts_with("npipe://") {
        return Docker::connect_with_named_pipe(host, REQUEST_SECS, API_DEFAULT_VERSION);
    }
    Docker::connect_with_host(host)
}

fn read_pem(ep: &ResolvedEndpoint, path: &Path) -> Result<Vec<u8>, ConnectError> {
    read_bounded(path, MAX_PEM_BYTES)
        .map_err(|e| ConnectError::config(ep, e))?
        .ok_or_else(|| ConnectError::config(ep, format!("{} does not exist", path.display())))
}

fn tls_config(ep: &ResolvedEndpoint, files: &TlsFiles) -> Result<rustls::ClientConfig, ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::config(ep, e))?;
    let builder = if ep.skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        // As the CLI (Go's system pool plus the CA file): public roots, and the
        // endpoint's CA. The public roots are webpki's, not the OS's, so nothing
        // platform-specific is linked.
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(ca) = &files.ca {
            let pem = read_pem(ep, ca)?;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConnectError::config(ep, format!("{}: {e}", ca.display())))?;
            if certs.is_empty() {
                return Err(ConnectError::config(ep, format!("{}: no certificate in it", ca.display())));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ConnectError::config(ep, format!("{}: {e}", ca.display())))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let cert_pem = read_pem(ep, cert)?;
            let chain = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConnectError::config(ep, format!("{}: {e}", cert.display())))?;
            let key_pem = read_pem(ep, key)?;
            // The error names the file only: a key parser's message could quote the key.
            let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|_| ConnectError::config(ep, format!("{}: not a PEM private key", key.display())))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| ConnectError::config(ep, e))
        }
        // The CLI sends no client certificate unless both files exist.
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn tls_client(ep: &ResolvedEndpoint, files: &TlsFiles) -> Result<Docker, ConnectError> {
    let config = tls_config(ep, files)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnector::from((http, config));
    let mut builder = Client::builder(TokioExecutor::new());
    // As bollard's own clients: no pooled connection survives an engine restart.
    builder.pool_max_idle_per_host(0);
    let client = Arc::new(builder.build(https));
    let authority = ep.host.split_once("://").map_or(ep.host.as_str(), |(_, a)| a);
    let transport = move |req: BollardRequest| {
        let client = Arc::clone(&client);
        async move { client.request(req).await.map_err(bollard::errors::Error::from) }
    };
    Docker::connect_with_custom_transport(
        transport,
        Some(format!("https://{authority}")),
        REQUEST_SECS,
        API_DEFAULT_VERSION,
    )
    .map_err(|e| ConnectError::config(ep, e))
}

/// `DOCKER_TLS` without verification, or a context's `SkipTLSVerify`: accepts
/// any certificate, still checks the handshake signatures.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The tail of what the last ssh process wrote on stderr, for error messages
/// (e.g. "Permission denied (publickey)"). Never logged: it is the remote's text.
/// A watch channel: a wait for the text ends the moment ssh's stderr closes.
#[derive(Clone)]
struct SshStderr(watch::Sender<(String, bool)>);

impl Default for SshStderr {
    fn default() -> Self {
        Self(watch::Sender::new((String::new(), false)))
    }
}

impl SshStderr {
    fn start(&self) {
        self.0.send_replace((String::new(), false));
    }

    fn finish(&self, text: String) {
        self.0.send_replace((text, true));
    }

    /// What ssh said, once its stderr closed (waiting [`SSH_STDERR_WAIT`] at most for that).
    async fn wait_text(&self) -> Option<String> {
        let mut said = self.0.subscribe();
        // Past the wait (ssh still holding stderr open), what it said so far.
        let _ = tokio::time::timeout(SSH_STDERR_WAIT, said.wait_for(|(_, closed)| *closed)).await;
        let text = said.borrow().0.trim().to_owned();
        (!text.is_empty()).then_some(text)
    }
}

fn ssh_client(target: SshTarget, stderr: SshStderr) -> Result<Docker, bollard::errors::Error> {
    let connector = SshConnector { target: Arc::new(target), stderr: stderr.clone() };
    let mut builder = Client::builder(TokioExecutor::new());
    builder.pool_max_idle_per_host(SSH_MAX_IDLE).pool_idle_timeout(SSH_IDLE).pool_timer(TokioTimer::new());
    let client = Arc::new(builder.build(connector));
    let transport = move |req: BollardRequest| {
        let client = Arc::clone(&client);
        let stderr = stderr.clone();
        async move {
            match client.request(req).await {
                Ok(res) => Ok(res),
                Err(e) => {
                    let detail = match stderr.wait_text().await {
                        Some(said) => format!("{e}; ssh said: {said}"),
                        None => e.to_string(),
                    };
                    Err(bollard::errors::Error::IOError { err: io::Error::other(detail) })
                }
            }
        }
    };
    // The host part is never dialled: the connector runs ssh. bollard's own
    // client names it so too (the docker CLI uses a placeholder as well).
    Docker::connect_with_custom_transport(transport, Some("http://docker.ssh"), REQUEST_SECS, API_DEFAULT_VERSION)
}

/// The ssh command line for `target`, as the docker CLI builds it (plus
/// `BatchMode`: a runner has no terminal to answer a password or host-key prompt).
pub(crate) fn ssh_args(target: &SshTarget) -> Vec<String> {
    let mut args = vec![
        "-o".to_owned(),
        format!("ConnectTimeout={SSH_CONNECT_SECS}"),
        "-o".to_owned(),
        "BatchMode=yes".to_owned(),
        "-T".to_owned(),
    ];
    if let Some(user) = &target.user {
        args.extend(["-l".to_owned(), user.clone()]);
    }
    if let Some(port) = target.port {
        args.extend(["-p".to_owned(), port.to_string()]);
    }
    args.extend(["--".to_owned(), target.host.clone(), "docker".to_owned()]);
    if let Some(path) = &target.socket_path {
        args.extend(["--host".to_owned(), format!("unix://{path}")]);
    }
    args.extend(["system".to_owned(), "dial-stdio".to_owned()]);
    args
}

#[derive(Clone)]
struct SshConnector {
    target: Arc<SshTarget>,
    stderr: SshStderr,
}

impl tower_service::Service<hyper::Uri> for SshConnector {
    type Response = SshStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<SshStream, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let args = ssh_args(&self.target);
        let stderr_sink = self.stderr.clone();
        Box::pin(async move {
            let mut child = Command::new("ssh")
                .args(&args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
            let stdin = child.stdin.take().ok_or_else(|| io::Error::other("ssh stdin not piped"))?;
            let stdout = child.stdout.take().ok_or_else(|| io::Error::other("ssh stdout not piped"))?;
            if let Some(mut err) = child.stderr.take() {
                stderr_sink.start();
                tokio::spawn(async move {
                    // Bounded: keep the first SSH_STDERR_MAX bytes, drain the rest.
                    let mut kept = Vec::new();
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = err.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let room = SSH_STDERR_MAX.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                    stderr_sink.finish(String::from_utf8_lossy(&kept).into_owned());
                });
            }
            Ok(SshStream { _child: child, stdin: Some(TokioIo::new(stdin)), stdout: TokioIo::new(stdout) })
        })
    }
}

/// One ssh process's stdin/stdout as a byte stream. Dropping it kills ssh.
struct SshStream {
    _child: Child,
    stdin: Option<TokioIo<ChildStdin>>,
    stdout: TokioIo<ChildStdout>,
}

impl SshStream {
    fn stdin(&mut self) -> io::Result<Pin<&mut TokioIo<ChildStdin>>> {
        self.stdin.as_mut().map(Pin::new).ok_or_else(|| io::ErrorKind::BrokenPipe.into())
    }
}

impl hyper::rt::Read for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SshStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().stdin()?.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stdin()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.stdin()?.poll_shutdown(cx) {
            Poll::Ready(Ok(())) => {
                // Closing stdin is what tells dial-stdio the write half is done.
                this.stdin = None;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::endpoint::EndpointSource;

    fn ep(host: &str) -> ResolvedEndpoint {
        ResolvedEndpoint { host: host.into(), tls: None, skip_verify: false, source: EndpointSource::DockerHostEnv }
    }

    #[test]
    fn ssh_args_pass_the_port_separately() {
        let t = SshTarget::parse("ssh://root@127.0.0.1:2222").unwrap();
        let args = ssh_args(&t);
        let tail: Vec<&str> = args.iter().map(String::as_str).skip(5).collect();
        assert_eq!(tail, ["-l", "root", "-p", "2222", "--", "127.0.0.1", "docker", "system", "dial-stdio"]);
        let t = SshTarget::parse("ssh://box/run/d.sock").unwrap();
        let args = ssh_args(&t);
        let tail: Vec<&str> = args.iter().map(String::as_str).skip(5).collect();
        assert_eq!(tail, ["--", "box", "docker", "--host", "unix:///run/d.sock", "system", "dial-stdio"]);
    }

    #[tokio::test]
    async fn missing_socket_is_unreachable_and_names_the_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("unix://{}", dir.path().join("none.sock").display());
        let err = connect(&ep(&host)).await.unwrap_err();
        assert!(matches!(err, ConnectError::Unreachable { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("Cannot connect to the Docker engine at {host}, from DOCKER_HOST: no socket at ")),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn cannot_connect_never_shows_the_hosts_credentials() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let home = tempfile::tempdir().unwrap();
        for scheme in ["tcp", "http"] {
            let host = format!("{scheme}://user:s3cret@127.0.0.1:{port}");
            let input =
                EndpointInput { docker_host: Some(host.clone()), home: Some(home.path().into()), ..Default::default() };
            let err = connect_resolved(&input).await.unwrap_err();
            assert!(matches!(err, ConnectError::Unreachable { .. }), "{err}");
            let msg = err.to_string();
            assert!(!msg.contains("s3cret"), "{msg}");
            assert!(msg.starts_with(&format!("Cannot connect to the Docker engine at {scheme}://***@127.0.0.1:{port}")));
            // As the engine reports it to a reply and to cleanupOrphans.
            let engine = crate::core::engine::client::Engine::new(input);
            let msg = engine.image_exists("x").await.unwrap_err().to_string();
            assert!(!msg.contains("s3cret") && msg.contains("***@127.0.0.1"), "{msg}");
        }
        // TLS: the config error (an unreadable CA) names the endpoint without its credentials.
        let mut e = ep("https://user:s3cret@127.0.0.1:1");
        e.tls = Some(TlsFiles { ca: Some(home.path().join("none.pem")), cert: None, key: None });
        let msg = connect(&e).await.unwrap_err().to_string();
        assert!(!msg.contains("s3cret") && msg.contains("https://***@127.0.0.1:1"), "{msg}");
    }

    #[tokio::test]
    async fn refused_tcp_is_unreachable() {
        // Bind then drop: the port is free and nothing listens.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = connect(&ep(&format!("tcp://127.0.0.1:{port}"))).await.unwrap_err();
        assert!(matches!(err, ConnectError::Unreachable { .. }), "{err}");
    }

    #[tokio::test]
    async fn bad_tls_files_are_config_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a pem").unwrap();
        let mut e = ep("tcp://127.0.0.1:1");
        e.tls = Some(TlsFiles { ca: Some(ca.clone()), cert: None, key: None });
        let err = connect(&e).await.unwrap_err();
        assert!(matches!(err, ConnectError::Config { .. }), "{err}");
        assert!(err.to_string().contains(&format!("{}: no certificate in it", ca.display())), "{err}");

        let key = dir.path().join("key.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n").unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, "").unwrap();
        e.tls = Some(TlsFiles { ca: None, cert: Some(cert), key: Some(key) });
        let err = connect(&e).await.unwrap_err().to_string();
        assert!(!err.contains("c2VjcmV0"), "the key's content leaked: {err}");
    }

    #[tokio::test]
    async fn ssh_failure_says_what_ssh_said() {
        // Port 1 on loopback: nothing listens, ssh reports "Connection refused".
        let err = connect(&ep("ssh://nobody@127.0.0.1:1")).await.unwrap_err().to_string();
        assert!(err.contains("ssh said:") && err.contains("refused"), "{err}");
    }

    #[tokio::test]
    async fn podman_is_not_tried_when_a_host_was_configured() {
        let home = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let host = format!("unix://{}", dir.path().join("none.sock").display());
        let input =
            EndpointInput { docker_host: Some(host.clone()), home: Some(home.path().into()), ..Default::default() };
        let err = connect_resolved(&input).await.unwrap_err().to_string();
        assert!(err.contains(&host), "{err}");
    }
}
