//! The egress sidecar's proxy (docs/egress.md). Agents with `egress` sit on an
//! internal network whose only way out is this process: it tunnels `CONNECT
//! host:port` and forwards absolute-URI `http://` requests, only to
//! destinations on the allow-list, resolving names itself. A refused
//! destination gets 403 naming the allow-list, and one JSON line on stdout
//! (destination and turn tag, never the request's content) that the runner
//! turns into its `Egress refused` warn line.
//!
//! Configuration (arguments win over the environment):
//!   --allow LIST   / EGRESS_ALLOW   patterns, comma or space separated (allow.rs)
//!   --listen ADDR  / EGRESS_LISTEN  default 0.0.0.0:3128
//! The turn tag is the user name of the proxy credentials the agent's proxy
//! URL carries (`http://TAG:x@proxy:3128`), sent as `Proxy-Authorization`.

mod allow;
mod tag;

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use allow::{split_host_port, AllowList};

/// Connections served at once: each holds two sockets and a task; beyond it
/// new ones wait in the listen backlog (a looping agent cannot exhaust the sidecar's descriptors).
const MAX_CONNECTIONS: usize = 512;
/// A client must send its request head within this, or the connection is closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Name resolution plus the TCP connect to the destination.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

type Body = BoxBody<Bytes, hyper::Error>;

struct State {
    allow: AllowList,
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn empty() -> Body {
    Empty::<Bytes>::new().map_err(|never| match never {}).boxed()
}

/// One JSON line on stdout; a write error (stdout closed) is ignored: refusing does not depend on it.
fn log_line(value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

fn refuse(state: &State, destination: &str, turn: Option<&str>) -> Response<Body> {
    log_line(serde_json::json!({ "event": "refused", "destination": destination, "turn": turn }));
    let rules: Vec<String> = state.allow.rules().iter().map(|r| r.to_string()).collect();
    text(
        StatusCode::FORBIDDEN,
        format!(
            "egress refused: {destination} matches no rule of this runner's egress allow-list \
             (options.egress.allow: {})\n",
            if rules.is_empty() { "empty".to_string() } else { rules.join(", ") }
        ),
    )
}

/// Resolves `host` here (never in the agent's container) and connects to the first address that answers.
async fn dial(host: &str, port: u16) -> Result<TcpStream, String> {
    let attempt = async {
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((host, port)).await.map_err(|e| format!("cannot resolve {host}: {e}"))?.collect();
        let mut last = format!("{host} resolved to no address");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = format!("cannot connect to {host}:{port} ({addr}): {e}"),
            }
        }
        Err(last)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("connecting to {host}:{port} took over {}s", CONNECT_TIMEOUT.as_secs())))
}

/// Headers that belong to one hop (RFC 9110 7.6.1), never forwarded; the proxy credentials among them.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let turn = tag::turn_tag(req.headers());
    let turn = turn.as_deref();
    let Some(authority) = req.uri().authority().cloned() else {
        return Ok(text(StatusCode::BAD_REQUEST, "egress proxy: send requests in absolute form or CONNECT\n".into()));
    };
    let (host, port) = match split_host_port(authority.as_str()) {
        Ok((h, p)) => (allow::normalize_host(h), p),
        Err(e) => return Ok(text(StatusCode::BAD_REQUEST, format!("egress proxy: {e}\n"))),
    };
    if req.method() == Method::CONNECT {
        let Some(port) = port else {
            return Ok(text(StatusCode::BAD_REQUEST, "egress proxy: CONNECT needs host:port\n".into()));
        };
        return Ok(connect(&state, req, &host, port, turn).await);
    }
    match req.uri().scheme_str() {
        Some("http") => {}
        Some(_) => {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                "egress proxy: only http:// is forwarded; use CONNECT for https\n".into(),
            ))
        }
        None => return Ok(text(StatusCode::BAD_REQUEST, "egress proxy: the request has no scheme\n".into())),
    }
    Ok(forward(&state, req, &host, port.unwrap_or(80), turn).await)
}

async fn connect(state: &State, req: Request<Incoming>, host: &str, port: u16, turn: Option<&str>) -> Response<Body> {
    let destination = format!("{host}:{port}");
    if state.allow.find(host, port).is_none() {
        return refuse(state, &destination, turn);
    }
    let mut upstream = match dial(host, port).await {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("egress proxy: {e}\n")),
    };
    tokio::spawn(async move {
        if let Ok(upgraded) = hyper::upgrade::on(req).await {
            let mut client = TokioIo::new(upgraded);
            // Either side closing ends the tunnel; its errors are the peers' business.
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    });
    Response::new(empty())
}

async fn forward(
    state: &State,
    mut req: Request<Incoming>,
    host: &str,
    port: u16,
    turn: Option<&str>,
) -> Response<Body> {
    let destination = format!("{host}:{port}");
    if state.allow.find(host, port).is_none() {
        return refuse(state, &destination, turn);
    }
    let stream = match dial(host, port).await {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("egress proxy: {e}\n")),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("egress proxy: {destination}: {e}\n")),
    };
    tokio::spawn(conn);
    let authority = req.uri().authority().map(|a| a.as_str().to_string()).unwrap_or_default();
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match path.parse() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return text(StatusCode::BAD_REQUEST, "egress proxy: bad request target\n".into()),
    }
    let headers = req.headers_mut();
    for name in HOP_BY_HOP {
        headers.remove(HeaderName::from_static(name));
    }
    if !headers.contains_key(HOST) {
        if let Ok(v) = HeaderValue::from_str(&authority) {
            headers.insert(HOST, v);
        }
    }
    match sender.send_request(req).await {
        Ok(response) => response.map(|b| b.boxed()),
        Err(e) => text(StatusCode::BAD_GATEWAY, format!("egress proxy: {destination}: {e}\n")),
    }
}

fn setting(args: &[String], flag: &str, env: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1).cloned()).or_else(|| std::env::var(env).ok())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let allow = match AllowList::parse(&setting(&args, "--allow", "EGRESS_ALLOW").unwrap_or_default()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("egress-proxy: invalid allow-list: {e}");
            std::process::exit(2);
        }
    };
    let listen = setting(&args, "--listen", "EGRESS_LISTEN").unwrap_or_else(|| "0.0.0.0:3128".into());
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("egress-proxy: cannot start: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(serve(listen, allow)) {
        eprintln!("egress-proxy: {e}");
        std::process::exit(1);
    }
}

async fn serve(listen: String, allow: AllowList) -> std::io::Result<()> {
    serve_on(TcpListener::bind(&listen).await?, allow).await
}

async fn serve_on(listener: TcpListener, allow: AllowList) -> std::io::Result<()> {
    let state = Arc::new(State { allow });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    log_line(serde_json::json!({ "event": "listening", "address": listener.local_addr()?.to_string() }));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            _ = term.recv() => return Ok(()),
        };
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                // Out of descriptors and the like: pause instead of spinning.
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
            _ = term.recv() => return Ok(()),
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| handle(state.clone(), req));
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A proxy on 127.0.0.1 allowing `allow`; its port.
    async fn proxy(allow: &str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let allow = AllowList::parse(allow).expect("list");
        tokio::spawn(serve_on(listener, allow));
        port
    }

    /// A server on 127.0.0.1 that answers every connection with one HTTP response naming the request line.
    async fn origin() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    let line = text.lines().next().unwrap_or("").to_string();
                    let leaked = text.to_ascii_lowercase().contains("proxy-authorization");
                    let body = format!("{line} leaked={leaked}");
                    let reply =
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        port
    }

    async fn exchange(port: u16, request: String) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        s.write_all(request.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).to_string()
    }

    const CREDS: &str = "Proxy-Authorization: Basic dGFnMTp4\r\n"; // tag1:x

    #[tokio::test]
    async fn forwards_an_allowed_absolute_uri_in_origin_form_without_the_credentials() {
        let o = origin().await;
        let p = proxy(&format!("127.0.0.1:{o}")).await;
        let got = exchange(
            p,
            format!(
                "GET http://127.0.0.1:{o}/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:{o}\r\n{CREDS}Connection: close\r\n\r\n"
            ),
        )
        .await;
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        assert!(got.contains("GET /x?y=1 HTTP/1.1 leaked=false"), "{got}");
    }

    #[tokio::test]
    async fn tunnels_an_allowed_connect() {
        let o = origin().await;
        let p = proxy(&format!("localhost:{o}")).await;
        let mut s = TcpStream::connect(("127.0.0.1", p)).await.expect("connect");
        s.write_all(format!("CONNECT localhost:{o} HTTP/1.1\r\nHost: localhost:{o}\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut head = vec![0u8; 1024];
        let n = s.read(&mut head).await.expect("read");
        assert!(
            String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head[..n])
        );
        s.write_all(b"GET /through HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        assert!(String::from_utf8_lossy(&out).contains("GET /through HTTP/1.1"), "{}", String::from_utf8_lossy(&out));
    }

    #[tokio::test]
    async fn refuses_what_no_rule_allows_with_403_naming_the_rules() {
        let o = origin().await;
        let p = proxy("api.example.com").await;
        let got = exchange(
            p,
            format!("GET http://127.0.0.1:{o}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n{CREDS}Connection: close\r\n\r\n"),
        )
        .await;
        assert!(got.starts_with("HTTP/1.1 403"), "{got}");
        assert!(got.contains(&format!("127.0.0.1:{o}")) && got.contains("api.example.com"), "{got}");
        let got =
            exchange(p, format!("CONNECT 127.0.0.1:{o} HTTP/1.1\r\nHost: 127.0.0.1:{o}\r\nConnection: close\r\n\r\n"))
                .await;
        assert!(got.starts_with("HTTP/1.1 403"), "{got}");
        // Origin-form (not a proxy request) and https:// in absolute form are not forwarded.
        let got = exchange(p, "GET / HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n".into()).await;
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
        let got = exchange(
            p,
            "GET https://api.example.com/ HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n".into(),
        )
        .await;
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
    }
}
