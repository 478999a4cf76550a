//! Real engines reached the way the docker CLI reaches them: TLS by env, TLS by
//! context, ssh, Podman, a plain unix socket, and an authenticated pull.
//! The engines are started by scripts/test-engines.sh (scripts/engines/*.sh),
//! which sets the MERCURY_* variables read here.
//! They are `#[ignore]`d, so a plain `cargo test` lists them as ignored rather
//! than passing them without a check; scripts/test-engines.sh runs them with
//! `--ignored`, and there a missing engine is a failure, not a skip.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::core::engine::connect::connect_resolved;
use crate::core::engine::endpoint::{EndpointInput, EndpointSource, ResolvedEndpoint};
use crate::core::engine::registry_auth::{credentials_for_image, AuthLookup};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

const IMAGE: &str = "mercury-test-agent:latest";
/// A container run through any of these engines ends well within this.
const RUN_BOUND: Duration = Duration::from_secs(60);
/// The fixture's whole output is a few lines.
const MAX_OUTPUT: usize = 64 * 1024;

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("{name} is not set: run these tests through scripts/test-engines.sh, which starts the engines"),
    }
}

/// An input with a scratch home, so the developer's own ~/.docker plays no part.
fn input(home: &tempfile::TempDir) -> EndpointInput {
    EndpointInput { home: Some(home.path().to_owned()), ..Default::default() }
}

/// Creates, attaches, starts, feeds stdin, reads the result and waits, as a
/// reply does; returns the elapsed time.
async fn run_fixture(docker: &Docker, label: &str) -> Duration {
    let started = Instant::now();
    let name = format!("mercury-engines-{label}-{}", std::process::id());
    let body = ContainerCreateBody {
        image: Some(IMAGE.to_owned()),
        env: Some(vec!["FIXTURE_MODE=echo".into(), "FIXTURE_REPLY=via-".to_owned() + label]),
        open_stdin: Some(true),
        stdin_once: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body)
        .await
        .unwrap_or_else(|e| panic!("{label}: create: {e}"));
    let attach = AttachContainerOptionsBuilder::default().stream(true).stdin(true).stdout(true).stderr(true).build();
    let mut io =
        docker.attach_container(&created.id, Some(attach)).await.unwrap_or_else(|e| panic!("{label}: attach: {e}"));
    docker.start_container(&created.id, None).await.unwrap_or_else(|e| panic!("{label}: start: {e}"));
    io.input.write_all(b"{\"prompt\":\"hi\"}").await.unwrap_or_else(|e| panic!("{label}: stdin: {e}"));
    io.input.shutdown().await.unwrap_or_else(|e| panic!("{label}: close stdin: {e}"));
    let mut out = Vec::new();
    let read = async {
        while let Some(chunk) = io.output.next().await {
            let chunk = chunk.unwrap_or_else(|e| panic!("{label}: output: {e}"));
            out.extend_from_slice(&chunk.into_bytes());
            assert!(out.len() <= MAX_OUTPUT, "{label}: output over {MAX_OUTPUT} bytes");
        }
    };
    tokio::time::timeout(RUN_BOUND, read).await.unwrap_or_else(|_| panic!("{label}: output did not end"));
    let mut wait = docker.wait_container(&created.id, Some(WaitContainerOptionsBuilder::default().build()));
    let code = match tokio::time::timeout(RUN_BOUND, wait.next()).await {
        Ok(Some(Ok(r))) => r.status_code,
        other => panic!("{label}: wait: {other:?}"),
    };
    let elapsed = started.elapsed();
    docker
        .remove_container(&created.id, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
        .await
        .unwrap_or_else(|e| panic!("{label}: remove: {e}"));
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{label}: exit code; output: {out}");
    let expected = format!("{{\"reply\":\"via-{label}\"}}");
    assert!(
        out.contains("---MERCURY_CONTAINER_RESULT_START---") && out.contains(&expected),
        "{label}: no result in the output: {out}"
    );
    elapsed
}

/// Connects through `input`, checks the endpoint chosen, pings, runs the fixture; prints timings.
async fn check(label: &str, input: EndpointInput, expect_host: &str, expect_source: impl Fn(&EndpointSource) -> bool) {
    let t0 = Instant::now();
    let (docker, ep): (Docker, ResolvedEndpoint) =
        connect_resolved(&input).await.unwrap_or_else(|e| panic!("{label}: {e}"));
    let connect_time = t0.elapsed();
    assert_eq!(ep.host, expect_host, "{label}: {ep}");
    assert!(expect_source(&ep.source), "{label}: chosen for the wrong reason: {ep}");
    docker.ping().await.unwrap_or_else(|e| panic!("{label}: ping: {e}"));
    let version = docker.version().await.unwrap_or_else(|e| panic!("{label}: version: {e}"));
    let first = run_fixture(&docker, label).await;
    let second = run_fixture(&docker, label).await;
    println!(
        "[engines] {label}: {ep} | server {} API {} | connect+negotiate {} ms, run {} ms, second run {} ms",
        version.version.unwrap_or_default(),
        version.api_version.unwrap_or_default(),
        connect_time.as_millis(),
        first.as_millis(),
        second.as_millis()
    );
}

/// [`check`] of the engine at `$host_var`, given the way `source` names: as
/// `DOCKER_HOST` ([`EndpointSource::DockerHostEnv`]) or as the dockerHost option.
async fn check_given(label: &str, host_var: &str, source: EndpointSource) {
    let home = tempfile::tempdir().unwrap();
    let host = var(host_var);
    let i = match source {
        EndpointSource::Option => EndpointInput { docker_host_option: Some(host.clone()), ..input(&home) },
        EndpointSource::DockerHostEnv => EndpointInput { docker_host: Some(host.clone()), ..input(&home) },
        other => panic!("{label}: a host is given as DOCKER_HOST or the option, not {other:?}"),
    };
    check(label, i, &host, |s| *s == source).await;
}

#[tokio::test]
#[ignore = "needs the test engines: scripts/test-engines.sh runs it"]
async fn tls_by_env() {
    let home = tempfile::tempdir().unwrap();
    let i = tls_env_input(&home, PathBuf::from(var("MERCURY_TLS_CERT_PATH")));
    check("tls-env", i, &var("MERCURY_TLS_HOST"), |s| *s == EndpointSource::DockerHostEnv).await;
}

/// The TLS engine as `DOCKER_HOST` with `DOCKER_TLS_VERIFY`, its certificates read from `cert_path`.
fn tls_env_input(home: &tempfile::TempDir, cert_path: PathBuf) -> EndpointInput {
    EndpointInput {
        docker_host: Some(var("MERCURY_TLS_HOST")),
        docker_tls_verify: Some("1".into()),
        docker_cert_path: Some(cert_path),
        ..input(home)
    }
}

#[tokio::test]
#[ignore = "needs the test engines: scripts/test-engines.sh runs it"]
async fn tls_without_client_cert_is_refused() {
    // Same CA, no client certificate: the engine (--tlsverify) must refuse, so
    // the TLS tests above prove the certificate was sent.
    let home = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(PathBuf::from(var("MERCURY_TLS_CERT_PATH")).join("ca.pem"), certs.path().join("ca.pem")).unwrap();
    let i = tls_env_input(&home, certs.path().to_owned());
    let err = connect_resolved(&i).await.map(|_| ()).unwrap_err().to_string();
    assert!(err.starts_with("Cannot connect to the Docker engine at tcp://127.0.0.1:2376 (TLS, CA "), "{err}");
}

/// The CLI config that names the TLS engine's context (its current one), and
/// `context` as `DOCKER_CONTEXT`.
fn tls_config_input(home: &tempfile::TempDir, context: Option<String>) -> EndpointInput {
    EndpointInput {
        docker_config: Some(PathBuf::from(var("MERCURY_TLS_CONFIG"))),
        docker_context: context,
        ..input(home)
    }
}

#[tokio::test]
#[ignore = "needs the test engines: scripts/test-engines.sh runs it"]
async fn tls_by_current_context() {
    let home = tempfile::tempdir().unwrap();
    let i = tls_config_input(&home, None);
    let name = var("MERCURY_TLS_CONTEXT");
    check(
        "tls-context",
        i,
        &var("MERCURY_TLS_HOST"),
        |s| matches!(s, EndpointSource::ConfigContext { name: n, .. } if *n == name),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the test engines: scripts/test-engines.sh runs it"]
async fn tls_by_docker_context_env() {
    let home = tempfile::tempdir().unwrap();
    let name = var("MERCURY_TLS_CONTEXT");
    let i = tls_config_input(&home, Some(name.clone()));
    check("tls-context-env", i, &var("MERCURY_TLS_HOST"), |s| *s == EndpointSource::ContextEnv { name: name.clone() })
        .await;
}

#[tokio::test]
#[ignore = "needs the test engines: scripts/test-engines.sh runs it"]
async fn ssh_with_a_port() {
    // The ssh wrapper (test key, test known_hosts) must be the `ssh` our connector runs.
    let bin = var("MERCURY_SSH_BIN");
    let path = var("PATH");
    assert!(path.split(':').next() == Some(bin.as_str()), "PATH must start with {bin}: {path}");
    let host = var("MERCURY_SSH_HOST");
    assert!(host.contains(":2222"), "the ssh test is about a non-default port: {host}");
    check_given("ssh", "MERCURY_SSH_HOST", EndpointSource::DockerHostEnv).await;
}

#[tokio::test]
#[ignore = "needs the test engines: scripts/test-engines.sh runs it"]
async fn podman_socket() {
    check_given("podman", "MERCURY_PODMAN_HOST", EndpointSource::Option).await;
}

#[tokio::test]
#[ignore = "needs the test engines: scripts/test-engines.sh runs it"]
async fn second_engine_unix_socket() {
    check_given("unix", "MERCURY_SECOND_SOCKET", EndpointSource::DockerHostEnv).await;
}

async fn pull(docker: &Docker, image: &str, creds: Option<bollard::auth::DockerCredentials>) -> Result<(), String> {
    let (from, tag) = image.rsplit_once(':').unwrap();
    let options = CreateImageOptionsBuilder::default().from_image(from).tag(tag).build();
    let mut stream = docker.create_image(Some(options), None, creds);
    while let Some(item) = stream.next().await {
        item.map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the test engines: scripts/test-engines.sh runs it"]
async fn authenticated_pull() {
    let image = var("MERCURY_AUTH_IMAGE");
    let home = tempfile::tempdir().unwrap();
    let i = EndpointInput { docker_host: Some(var("MERCURY_SECOND_SOCKET")), ..input(&home) };
    let (docker, _) = connect_resolved(&i).await.unwrap();
    let forget = || async {
        let _ = docker.remove_image(&image, Some(RemoveImageOptionsBuilder::default().force(true).build()), None).await;
    };

    // No login: the engine's own refusal, as `docker pull` prints it.
    forget().await;
    let anonymous = AuthLookup { config_dir: Some(home.path().join(".docker")), helper_path: None };
    assert_eq!(credentials_for_image(&anonymous, &image).await.unwrap(), None);
    let err = pull(&docker, &image, None).await.unwrap_err();
    assert!(err.contains("no basic auth credentials"), "{err}");

    // Logged in (auths in the config file), as `docker login` left it.
    let logged_in = AuthLookup { config_dir: Some(PathBuf::from(var("MERCURY_AUTH_CONFIG"))), helper_path: None };
    let creds = credentials_for_image(&logged_in, &image).await.unwrap();
    assert!(creds.is_some(), "no credentials found in MERCURY_AUTH_CONFIG");
    let t = Instant::now();
    pull(&docker, &image, creds).await.unwrap();
    println!("[engines] authenticated pull (auths): {} ms", t.elapsed().as_millis());
    forget().await;

    // Through a credential helper (credsStore), a script standing in for docker-credential-*.
    let scratch = tempfile::tempdir().unwrap();
    let password = std::fs::read_to_string(var("MERCURY_AUTH_PASSWORD_FILE")).unwrap();
    let answer = serde_json::json!({
        "ServerURL": var("MERCURY_AUTH_REGISTRY"), "Username": var("MERCURY_AUTH_USER"), "Secret": password.trim()
    });
    std::fs::write(scratch.path().join("answer.json"), answer.to_string()).unwrap();
    let helper = scratch.path().join("docker-credential-mercurytest");
    let registry = var("MERCURY_AUTH_REGISTRY");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server\n[ \"$server\" = \"{registry}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\nexec /bin/cat '{}'\n",
            scratch.path().join("answer.json").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(scratch.path().join("config.json"), r#"{"credsStore":"mercurytest"}"#).unwrap();
    let via_helper =
        AuthLookup { config_dir: Some(scratch.path().to_owned()), helper_path: Some(scratch.path().into()) };
    let creds = credentials_for_image(&via_helper, &image).await.unwrap();
    assert_eq!(creds.as_ref().and_then(|c| c.username.as_deref()), Some(var("MERCURY_AUTH_USER").as_str()));
    let t = Instant::now();
    pull(&docker, &image, creds).await.unwrap();
    println!("[engines] authenticated pull (credential helper): {} ms", t.elapsed().as_millis());
    forget().await;
}
