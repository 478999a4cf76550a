//! Registry credentials for a pull, found where the docker CLI finds them, so a
//! private agent image the host could `docker pull` can be pulled here too:
//! `credHelpers[registry]`, else `credsStore`, through `docker-credential-<name>
//! get`; else `auths[registry]` in the CLI's config file.
//!
//! What a helper prints is a secret: it is parsed, never logged, and not
//! quoted in errors.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::endpoint::{read_config, EndpointError};
use crate::core::bounds::CRED_HELPER;

/// The key Docker Hub credentials are stored under (the CLI's `registry.IndexServer`).
pub(crate) const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// A helper answers with one small JSON object; more than this is not an answer.
pub(crate) const MAX_HELPER_OUTPUT: u64 = 64 * 1024;
/// What a helper prints when it has nothing for that registry (the credential helpers' protocol).
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";
/// The username a helper returns to say its secret is an identity token, not a password.
const TOKEN_USERNAME: &str = "<token>";

/// Why credentials could not be looked up. A registry with no credentials is
/// not an error: the pull goes anonymous, as the CLI's does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RegistryAuthError {
    #[error(transparent)]
    Config(#[from] EndpointError),
    #[error("Invalid credential helper name \"{0}\" in the Docker config file")]
    BadHelperName(String),
    #[error("Credential helper docker-credential-{helper} for {registry}: {reason}")]
    Helper { helper: String, registry: String, reason: String },
    #[error("Docker config {}: the entry for {registry} is garbled ({reason})", path.display())]
    BadEntry { path: PathBuf, registry: String, reason: String },
}

/// Where to look: the CLI's config folder (`DOCKER_CONFIG` or `~/.docker`,
/// see `EndpointInput::config_dir`) and, for tests, the `PATH` the helpers are
/// searched in (`None`: this process's).
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthLookup {
    pub config_dir: Option<PathBuf>,
    pub helper_path: Option<OsString>,
}

/// The key the CLI stores an image's registry credentials under: Docker Hub's
/// index URL for Hub images, else the registry's `host[:port]`.
pub(crate) fn registry_key(image: &str) -> String {
    // As the reference library: the first component is a registry only if it
    // looks like a host (a dot, a port, `localhost`, or upper case).
    let domain = match image.split_once('/') {
        Some((first, _))
            if first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            first
        }
        _ => "docker.io",
    };
    if domain == "docker.io" || domain == "index.docker.io" {
        DOCKER_HUB_KEY.to_owned()
    } else {
        domain.to_owned()
    }
}

/// The credentials the CLI would send when pulling `image`; `None` when it has none.
pub(crate) async fn credentials_for_image(
    lookup: &AuthLookup,
    image: &str,
) -> Result<Option<DockerCredentials>, RegistryAuthError> {
    credentials_for_registry(lookup, &registry_key(image), CRED_HELPER).await
}

async fn credentials_for_registry(
    lookup: &AuthLookup,
    key: &str,
    helper_timeout: Duration,
) -> Result<Option<DockerCredentials>, RegistryAuthError> {
    let Some(config_dir) = &lookup.config_dir else { return Ok(None) };
    let path = config_dir.join("config.json");
    let Some(config) = read_config(&path)? else { return Ok(None) };
    let helper = config
        .get("credHelpers")
        .and_then(|h| h.get(key))
        .and_then(Value::as_str)
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper {
        return from_helper(helper, key, lookup.helper_path.as_ref(), helper_timeout).await;
    }
    from_auths(&config, key, &path)
}

/// `auths[key]`, or, as the CLI's file store, an entry whose key is the same
/// host written as a URL (`https://host:5000/v2/`).
fn from_auths(config: &Value, key: &str, path: &Path) -> Result<Option<DockerCredentials>, RegistryAuthError> {
    let Some(auths) = config.get("auths").and_then(Value::as_object) else { return Ok(None) };
    let entry = auths.get(key).or_else(|| auths.iter().find(|(k, _)| host_of(k) == key).map(|(_, v)| v));
    let Some(entry) = entry else { return Ok(None) };
    let field = |name: &str| entry.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let bad = |reason: &str| RegistryAuthError::BadEntry {
        path: path.to_owned(),
        registry: key.to_owned(),
        reason: reason.to_owned(),
    };
    let (mut username, mut password) = (field("username"), field("password"));
    if let Some(auth) = field("auth") {
        // The error says what is wrong, never what the value was.
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| bad("auth is not base64"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad("auth is not UTF-8"))?;
        let (user, pass) = decoded.split_once(':').ok_or_else(|| bad("auth is not user:password"))?;
        username = Some(user.to_owned());
        password = Some(pass.to_owned());
    }
    let identitytoken = field("identitytoken");
    if username.is_none() && password.is_none() && identitytoken.is_none() {
        return Ok(None);
    }
    Ok(Some(DockerCredentials {
        username,
        password,
        identitytoken,
        email: field("email"),
        serveraddress: Some(key.to_owned()),
        ..Default::default()
    }))
}

/// `https://host:5000/v2/` → `host:5000`, as the CLI's `ConvertToHostname`.
fn host_of(url: &str) -> &str {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

/// Runs `docker-credential-<helper> get` with the registry on stdin: no shell,
/// bounded in time and output.
async fn from_helper(
    helper: &str,
    key: &str,
    path: Option<&OsString>,
    timeout: Duration,
) -> Result<Option<DockerCredentials>, RegistryAuthError> {
    // The name becomes part of a program name; a path in it would run something else.
    if helper.contains(['/', '\\']) || helper.starts_with('.') {
        return Err(RegistryAuthError::BadHelperName(helper.to_owned()));
    }
    let fail =
        |reason: String| RegistryAuthError::Helper { helper: helper.to_owned(), registry: key.to_owned(), reason };
    let mut cmd = tokio::process::Command::new(format!("docker-credential-{helper}"));
    cmd.arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true);
    if let Some(path) = path {
        // On Unix a PATH set for the child is also where the program is looked up.
        cmd.env("PATH", path);
    }
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run it: {e}")))?;
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that answers without reading its input closes the pipe
            // first; its answer still counts (Go's exec, the CLI's, ignores that too).
            match stdin.write_all(key.as_bytes()).await {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(fail(format!("writing its input: {e}")));
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            stdout
                .take(MAX_HELPER_OUTPUT + 1)
                .read_to_end(&mut out)
                .await
                .map_err(|e| fail(format!("reading its output: {e}")))?;
        }
        if out.len() as u64 > MAX_HELPER_OUTPUT {
            return Err(fail(format!("its answer is larger than {MAX_HELPER_OUTPUT} bytes")));
        }
        let status = child.wait().await.map_err(|e| fail(e.to_string()))?;
        Ok((status, out))
    };
    let (status, out) = match tokio::time::timeout(timeout, run).await {
        Ok(r) => r?,
        // Dropping the child (kill_on_drop) stops it.
        Err(_) => return Err(fail(format!("no answer within {}s", timeout.as_secs()))),
    };
    if !status.success() {
        if String::from_utf8_lossy(&out).trim() == HELPER_NOT_FOUND {
            return Ok(None);
        }
        return Err(fail(format!("it failed ({status}); its output is not shown, it may hold secrets")));
    }
    let answer: Value = serde_json::from_slice(&out).map_err(|_| fail("its answer is not JSON".to_owned()))?;
    let field = |name: &str| answer.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let (username, secret) = (field("Username"), field("Secret"));
    let Some(secret) = secret else { return Ok(None) };
    let creds = if username.as_deref() == Some(TOKEN_USERNAME) {
        DockerCredentials { identitytoken: Some(secret), ..Default::default() }
    } else {
        DockerCredentials { username, password: Some(secret), ..Default::default() }
    };
    Ok(Some(DockerCredentials { serveraddress: Some(key.to_owned()), ..creds }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn lookup_with(config: &Value) -> (tempfile::TempDir, AuthLookup) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let lookup = AuthLookup { config_dir: Some(dir.path().to_owned()), helper_path: Some(dir.path().into()) };
        (dir, lookup)
    }

    /// A fake `docker-credential-<name>` in `dir` (the only PATH entry the
    /// helper sees, so its body names other programs by absolute path).
    #[cfg(unix)]
    fn fake_helper(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(format!("docker-credential-{name}"));
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn registry_keys_like_the_cli() {
        assert_eq!(registry_key("busybox"), DOCKER_HUB_KEY);
        assert_eq!(registry_key("library/busybox:1"), DOCKER_HUB_KEY);
        assert_eq!(registry_key("someone/agent"), DOCKER_HUB_KEY);
        assert_eq!(registry_key("docker.io/someone/agent"), DOCKER_HUB_KEY);
        assert_eq!(registry_key("index.docker.io/someone/agent"), DOCKER_HUB_KEY);
        assert_eq!(registry_key("127.0.0.1:5000/agent:v1"), "127.0.0.1:5000");
        assert_eq!(registry_key("localhost/agent"), "localhost");
        assert_eq!(registry_key("ghcr.io/org/agent@sha256:abc"), "ghcr.io");
        assert_eq!(registry_key("Registry/agent"), "Registry");
    }

    #[tokio::test]
    async fn auths_entry_decodes_user_and_password() {
        let (_d, lookup) = lookup_with(&serde_json::json!({
            "auths": {"127.0.0.1:5001": {"auth": b64("mercury:s3cret:with-colon")}}
        }));
        let creds = credentials_for_image(&lookup, "127.0.0.1:5001/agent:1").await.unwrap().unwrap();
        assert_eq!(creds.username.as_deref(), Some("mercury"));
        assert_eq!(creds.password.as_deref(), Some("s3cret:with-colon"));
        assert_eq!(creds.serveraddress.as_deref(), Some("127.0.0.1:5001"));
    }

    #[tokio::test]
    async fn auths_identity_token_and_hub_key() {
        let (_d, lookup) = lookup_with(&serde_json::json!({
            "auths": {DOCKER_HUB_KEY: {"identitytoken": "tok"}}
        }));
        let creds = credentials_for_image(&lookup, "someone/agent").await.unwrap().unwrap();
        assert_eq!(creds.identitytoken.as_deref(), Some("tok"));
        assert_eq!(creds.username, None);
        assert_eq!(creds.serveraddress.as_deref(), Some(DOCKER_HUB_KEY));
    }

    #[tokio::test]
    async fn auths_url_key_matches_its_host() {
        let (_d, lookup) = lookup_with(&serde_json::json!({
            "auths": {"https://reg.test:5000/v2/": {"auth": b64("u:p")}}
        }));
        let creds = credentials_for_image(&lookup, "reg.test:5000/agent").await.unwrap().unwrap();
        assert_eq!((creds.username.as_deref(), creds.password.as_deref()), (Some("u"), Some("p")));
    }

    #[tokio::test]
    async fn no_entry_or_no_config_is_anonymous() {
        let (_d, lookup) = lookup_with(&serde_json::json!({"auths": {"other.test": {"auth": b64("u:p")}}}));
        assert_eq!(credentials_for_image(&lookup, "reg.test/agent").await.unwrap(), None);
        let empty = tempfile::tempdir().unwrap();
        let lookup = AuthLookup { config_dir: Some(empty.path().into()), helper_path: None };
        assert_eq!(credentials_for_image(&lookup, "reg.test/agent").await.unwrap(), None);
    }

    #[tokio::test]
    async fn garbled_auth_is_an_error_that_does_not_quote_it() {
        let (_d, lookup) = lookup_with(&serde_json::json!({"auths": {"reg.test": {"auth": "%%notbase64%%"}}}));
        let err = credentials_for_image(&lookup, "reg.test/agent").await.unwrap_err().to_string();
        assert!(err.contains("auth is not base64") && !err.contains("notbase64%%"), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn cred_helper_for_the_registry_is_asked_with_the_registry_on_stdin() {
        let (d, lookup) = lookup_with(&serde_json::json!({
            "credHelpers": {"reg.test": "fake"},
            "credsStore": "unused",
            "auths": {"reg.test": {"auth": b64("file:store")}}
        }));
        fake_helper(
            d.path(),
            "fake",
            r#"[ "$1" = get ] || exit 3; read -r server || true; printf '{"ServerURL":"%s","Username":"from-%s","Secret":"pw"}' "$server" "$server""#,
        );
        let creds = credentials_for_image(&lookup, "reg.test/agent").await.unwrap().unwrap();
        assert_eq!(creds.username.as_deref(), Some("from-reg.test"));
        assert_eq!(creds.password.as_deref(), Some("pw"));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn creds_store_token_answer_is_an_identity_token() {
        let (d, lookup) = lookup_with(&serde_json::json!({"credsStore": "store"}));
        fake_helper(d.path(), "store", r#"printf '{"ServerURL":"x","Username":"<token>","Secret":"idtok"}'"#);
        let creds = credentials_for_image(&lookup, "busybox").await.unwrap().unwrap();
        assert_eq!((creds.identitytoken.as_deref(), creds.password), (Some("idtok"), None));
        assert_eq!(creds.serveraddress.as_deref(), Some(DOCKER_HUB_KEY));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn helper_not_found_means_anonymous_even_with_an_auths_entry() {
        // As the CLI's native store: the helper's answer replaces the file's.
        let (d, lookup) = lookup_with(&serde_json::json!({
            "credsStore": "empty",
            "auths": {"reg.test": {"auth": b64("file:store")}}
        }));
        fake_helper(d.path(), "empty", &format!("echo '{HELPER_NOT_FOUND}'; exit 1"));
        assert_eq!(credentials_for_image(&lookup, "reg.test/agent").await.unwrap(), None);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn helper_failure_does_not_quote_its_output() {
        let (d, lookup) = lookup_with(&serde_json::json!({"credsStore": "leaky"}));
        fake_helper(d.path(), "leaky", "echo 'token=SECRET123'; exit 2");
        let err = credentials_for_image(&lookup, "reg.test/agent").await.unwrap_err().to_string();
        assert!(err.contains("docker-credential-leaky") && !err.contains("SECRET123"), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_hanging_helper_is_stopped_at_the_timeout() {
        let (d, lookup) = lookup_with(&serde_json::json!({"credsStore": "slow"}));
        fake_helper(d.path(), "slow", "exec /bin/sleep 30");
        let started = std::time::Instant::now();
        let err = credentials_for_registry(&lookup, "reg.test", Duration::from_millis(300)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(err.to_string().contains("no answer within"), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_endless_helper_answer_is_refused() {
        let (d, lookup) = lookup_with(&serde_json::json!({"credsStore": "flood"}));
        fake_helper(d.path(), "flood", "exec /usr/bin/yes");
        let err = credentials_for_registry(&lookup, "reg.test", Duration::from_secs(10)).await.unwrap_err();
        assert!(err.to_string().contains(&format!("larger than {MAX_HELPER_OUTPUT} bytes")), "{err}");
    }

    #[tokio::test]
    async fn helper_names_with_paths_are_refused() {
        let (_d, lookup) = lookup_with(&serde_json::json!({"credsStore": "../../bin/sh"}));
        let err = credentials_for_image(&lookup, "reg.test/agent").await.unwrap_err();
        assert_eq!(err, RegistryAuthError::BadHelperName("../../bin/sh".into()));
    }

    #[tokio::test]
    async fn a_missing_helper_is_a_clear_error() {
        let (_d, lookup) = lookup_with(&serde_json::json!({"credsStore": "nonexistent-helper"}));
        let err = credentials_for_image(&lookup, "reg.test/agent").await.unwrap_err().to_string();
        assert!(
            err.starts_with("Credential helper docker-credential-nonexistent-helper for reg.test: cannot run it"),
            "{err}"
        );
    }
}
