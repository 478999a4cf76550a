//! The Docker Engine API, through bollard: the few calls a run needs, with the
//! engine's failures described in words a host operator can act on.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bollard::container::{AttachContainerResults, LogOutput};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, SystemInfoCgroupDriverEnum};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWrite;
use tokio::sync::OnceCell;

use super::connect::{connect_resolved, ConnectError};
use super::container::{ContainerSpec, MANAGED_LABEL};
use super::endpoint::{redact_in, redact_url, EndpointInput};
use super::image_ref::pull_parts;
use super::pull_log::{PullEvent, PullLog};
use super::registry_auth::{credentials_for_image, AuthLookup};

/// What a forced removal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    /// The container was there, and is gone now.
    Removed,
    /// There was no such container (404).
    Absent,
}

/// An engine call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EngineError {
    /// The engine answered 404: no such image or container.
    #[error("{0}")]
    NotFound(String),
    /// The engine answered 409, e.g. a container by that name exists already.
    #[error("{0}")]
    Conflict(String),
    /// No engine answered at the endpoint.
    #[error("Cannot connect to the Docker engine at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    /// The engine answered with an error, or the call failed midway.
    #[error("{0}")]
    Failed(String),
    /// The engine did not answer a call within its bound.
    #[error("the engine at {endpoint} did not answer {call} within {} s", .after.as_secs())]
    TimedOut { endpoint: String, call: &'static str, after: Duration },
}

use crate::core::bounds::{CONNECT, CONTAINER_SETUP, PULL, QUICK_CALL, REMOVAL_RETRIES};

/// The in-memory `/tmp` of a `readOnlyRootfs` container. Without a size a
/// tmpfs may grow to half the host's memory (its pages count against the
/// container's `memoryLimit` when there is one, and against nothing when
/// there is none), so it is capped. No setuid bit or device node placed
/// there takes effect, and no binary the agent drops there runs: `noexec` is
/// the engine's default for a tmpfs, written out so that it is a decision,
/// not an accident. Programs of the image still run; only a tool that
/// extracts native code to the temp folder and loads it (a Bun single-file
/// executable with embedded native libraries does) needs another `TMPDIR`.
pub(crate) const READ_ONLY_TMP_OPTIONS: &str = "rw,noexec,nosuid,nodev,size=512m";

/// The network a Podman container joins when none is named.
const PODMAN_DEFAULT_NETWORK: &str = "podman";

/// Whether the engine applies no resource limits: it runs without cgroups (its
/// info's cgroup driver is "none": a rootless engine on a cgroup v1 host).
/// Such an engine accepts a memory, pids or CPU limit at a create and drops it
/// without a warning in the answer. Unknown (no answer) counts as applying them.
async fn applies_no_limits(docker: &Docker) -> bool {
    match tokio::time::timeout(QUICK_CALL, docker.info()).await {
        Ok(Ok(info)) => matches!(info.cgroup_driver, Some(SystemInfoCgroupDriverEnum::NONE)),
        _ => false,
    }
}

/// The resource limits of a spec that an engine without cgroups drops, by the runner's option names.
fn limits_given(spec: &ContainerSpec) -> Vec<&'static str> {
    let given = [
        (spec.memory_limit.is_some(), "memoryLimit"),
        (spec.hardening.pids_limit.is_some(), "pidsLimit"),
        (spec.hardening.nano_cpus.is_some(), "cpus"),
    ];
    given.into_iter().filter_map(|(set, name)| set.then_some(name)).collect()
}

/// Whether the engine is Podman (its version lists a "Podman Engine" component).
async fn is_podman(docker: &Docker) -> bool {
    match tokio::time::timeout(QUICK_CALL, docker.version()).await {
        Ok(Ok(version)) => {
            version.components.unwrap_or_default().iter().any(|c| c.name.to_ascii_lowercase().contains("podman"))
        }
        _ => false,
    }
}

impl From<ConnectError> for EngineError {
    fn from(e: ConnectError) -> Self {
        match e {
            // An engine is there but this process may not use it: that is not "no engine" (the
            // host's cleanupOrphans says "Docker not found" only when there is none).
            ConnectError::Unreachable { ref detail, .. } if is_permission_denied(detail) => {
                EngineError::Failed(e.to_string())
            }
            ConnectError::Unreachable { endpoint, detail } => EngineError::Unreachable { endpoint, detail },
            other => EngineError::Failed(other.to_string()),
        }
    }
}

/// Whether an OS error text is EACCES or EPERM (the text of `std::io::Error`'s Display).
fn is_permission_denied(detail: &str) -> bool {
    detail.contains("Permission denied") || detail.contains("Operation not permitted")
}

/// A network as the engine reports it ([`Engine::network_seen`]). Egress reads
/// back the one it made (an engine may accept an option and drop it); Podman's
/// gateway stands in for `host-gateway`.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetworkSeen {
    pub internal: bool,
    pub options: HashMap<String, String>,
    pub gateways: Vec<String>,
}

/// A cheap-clone handle on one engine. It resolves the endpoint as the docker
/// CLI does (option, `DOCKER_HOST`, context, default socket, Podman) and
/// connects on first use, so a runner can be built while no engine runs; the
/// client reconnects per request, so it survives an engine restart.
#[derive(Clone)]
pub(crate) struct Engine {
    input: Arc<EndpointInput>,
    client: Arc<OnceCell<Connected>>,
}

/// A client for the endpoint that answered, and how that endpoint reads in messages.
struct Connected {
    docker: Docker,
    /// The endpoint as messages name it: its host, credentials hidden.
    shown: String,
    /// The endpoint's host as configured, to hide its credentials in the engine's error texts.
    host: String,
    /// Podman's Docker-compatible API, which does not resolve `host-gateway`.
    podman: bool,
    /// Whether the engine runs without cgroups ([`applies_no_limits`]), asked at the first
    /// create that gives limits (a runner that gives none never asks); `limits_warned` once
    /// its warn line is out.
    no_limits: OnceCell<bool>,
    limits_warned: AtomicBool,
}

impl Engine {
    pub(crate) fn new(input: EndpointInput) -> Self {
        Self { input: Arc::new(input), client: Arc::new(OnceCell::new()) }
    }

    async fn connected(&self) -> Result<&Connected, EngineError> {
        self.client
            .get_or_try_init(|| async {
                let connecting = connect_resolved(&self.input);
                let (docker, endpoint) = match tokio::time::timeout(CONNECT, connecting).await {
                    Ok(connected) => connected.map_err(EngineError::from)?,
                    Err(_) => {
                        let endpoint = self
                            .input
                            .docker_host_option
                            .as_deref()
                            .map_or_else(|| "the Docker engine".into(), |h| redact_url(h).into_owned());
                        return Err(EngineError::TimedOut { endpoint, call: "the connection", after: CONNECT });
                    }
                };
                tracing::debug!(endpoint = %endpoint, "Docker engine endpoint");
                let podman = is_podman(&docker).await;
                Ok(Connected {
                    docker,
                    shown: redact_url(&endpoint.host).into_owned(),
                    host: endpoint.host,
                    podman,
                    no_limits: OnceCell::new(),
                    limits_warned: AtomicBool::new(false),
                })
            })
            .await
    }

    pub(super) async fn docker(&self) -> Result<&Docker, EngineError> {
        Ok(&self.connected().await?.docker)
    }

    /// `extra_hosts` of a container on `network` (None: the default one) as
    /// this engine understands them. Podman (4.x) does not know `host-gateway`
    /// (4.3 writes it into /etc/hosts as if it were an address): there it is
    /// the gateway address of the container's network.
    pub(super) async fn extra_hosts(
        &self,
        extra_hosts: &[String],
        network: Option<&str>,
    ) -> Result<Vec<String>, EngineError> {
        let connected = self.connected().await?;
        if !connected.podman || !extra_hosts.iter().any(|h| h.ends_with(":host-gateway")) {
            return Ok(extra_hosts.to_vec());
        }
        let network = network.unwrap_or(PODMAN_DEFAULT_NETWORK);
        let gateway = self.network_seen(network).await?.gateways.into_iter().next().ok_or_else(|| {
            EngineError::Failed(format!("Podman network {network} has no gateway for host.docker.internal"))
        })?;
        Ok(extra_hosts.iter().map(|h| h.replace(":host-gateway", &format!(":{gateway}"))).collect())
    }

    /// A network as the engine reports it: whether it is internal, its driver
    /// options and its IPAM gateways.
    pub(crate) async fn network_seen(&self, name: &str) -> Result<NetworkSeen, EngineError> {
        let docker = self.docker().await?;
        let options = bollard::query_parameters::InspectNetworkOptions::default();
        let info = self.bounded("the network look-up", QUICK_CALL, docker.inspect_network(name, Some(options))).await?;
        let gateways = info.ipam.and_then(|i| i.config).unwrap_or_default().into_iter().filter_map(|c| c.gateway);
        Ok(NetworkSeen {
            internal: info.internal.unwrap_or(false),
            options: info.options.unwrap_or_default(),
            gateways: gateways.collect(),
        })
    }

    /// The endpoint as messages name it (its host, once connected).
    fn shown(&self) -> String {
        match self.client.get() {
            Some(connected) => connected.shown.clone(),
            None => self.input.docker_host_option.as_deref().map(redact_url).unwrap_or_default().into_owned(),
        }
    }

    /// `call` given up after `limit`, its error described.
    pub(super) async fn bounded<T>(
        &self,
        what: &'static str,
        limit: Duration,
        call: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, EngineError> {
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result.map_err(|e| self.describe(e)),
            Err(_) => Err(EngineError::TimedOut { endpoint: self.shown(), call: what, after: limit }),
        }
    }

    fn describe(&self, err: bollard::errors::Error) -> EngineError {
        use bollard::errors::Error as E;
        match err {
            E::DockerResponseServerError { status_code: 404, message } => EngineError::NotFound(message),
            E::DockerResponseServerError { status_code: 409, message } => EngineError::Conflict(message),
            E::DockerResponseServerError { message, .. } => EngineError::Failed(message),
            E::DockerStreamError { error } => EngineError::Failed(error),
            E::IOError { ref err } if err.kind() == std::io::ErrorKind::PermissionDenied => {
                EngineError::Failed(err.to_string())
            }
            E::SocketNotFoundError(_) | E::HyperLegacyError { .. } | E::IOError { .. } | E::RequestTimeoutError => {
                EngineError::Unreachable {
                    endpoint: self.shown(),
                    detail: self.hide(super::connect::with_causes(&err)),
                }
            }
            other => EngineError::Failed(self.hide(other.to_string())),
        }
    }

    /// A client library's text with the endpoint's credentials hidden: it may quote the URL it was given.
    fn hide(&self, text: String) -> String {
        match self.client.get() {
            Some(connected) => redact_in(&text, &connected.host),
            None => text,
        }
    }

    pub(crate) async fn image_exists(&self, image: &str) -> Result<bool, EngineError> {
        let docker = self.docker().await?;
        match self.bounded("the image look-up", QUICK_CALL, docker.inspect_image(image)).await {
            Ok(_) => Ok(true),
            Err(EngineError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Pulls a missing `image`, logging that it does and its progress, within [`crate::core::bounds::PULL`].
    pub(crate) async fn pull(&self, image: &str) -> Result<(), EngineError> {
        tracing::info!(image, "Agent image not found locally, pulling...");
        let docker = self.docker().await?;
        let (from_image, tag) = pull_parts(image);
        let mut options = CreateImageOptionsBuilder::default().from_image(&from_image);
        if let Some(tag) = &tag {
            options = options.tag(tag);
        }
        // The credentials the docker CLI would use for this registry, looked up at each pull (a login may change).
        let lookup = AuthLookup { config_dir: self.input.config_dir(), helper_path: self.input.search_path.clone() };
        let credentials =
            credentials_for_image(&lookup, image).await.map_err(|e| EngineError::Failed(e.to_string()))?;
        let mut progress = PullLog::new(image);
        let pulled = async {
            let mut stream = docker.create_image(Some(options.build()), None, credentials);
            while let Some(info) = stream.next().await.transpose()? {
                if let Some(status) = info.status {
                    let percent = info.progress_detail.and_then(|p| match (p.current, p.total) {
                        (Some(current), Some(total)) if total > 0 => Some(format!("{}%", current * 100 / total)),
                        _ => None,
                    });
                    progress.event(PullEvent { layer: info.id, status, progress: percent });
                }
            }
            Ok(())
        };
        self.bounded("the pull", PULL, pulled).await?;
        tracing::info!(image, "Agent image pulled successfully");
        Ok(())
    }

    /// One warn line per runner when it gives limits to an engine that drops
    /// them without a word ([`applies_no_limits`]): the agents run, unlimited.
    async fn warn_if_limits_dropped(&self, spec: &ContainerSpec) {
        let limits = limits_given(spec);
        let Ok(connected) = self.connected().await else { return };
        if limits.is_empty() || connected.limits_warned.load(Ordering::Relaxed) {
            return;
        }
        let no_limits = *connected.no_limits.get_or_init(|| applies_no_limits(&connected.docker)).await;
        if no_limits && !connected.limits_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                limits = limits.join(", ").as_str(),
                "The engine runs without cgroups (rootless on a cgroup v1 host): these limits are not applied"
            );
        }
    }

    pub(crate) async fn create(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let extra_hosts = self.extra_hosts(&spec.extra_hosts, spec.hardening.network.as_deref()).await?;
        let docker = self.docker().await?;
        let hard = &spec.hardening;
        let mounts = spec
            .mounts
            .iter()
            .map(|m| Mount {
                source: Some(m.source.clone()),
                target: Some(m.target.clone()),
                typ: Some(MountType::BIND),
                read_only: Some(m.read_only),
                ..Mount::default()
            })
            .collect();
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.clone()),
            labels: Some(HashMap::from([(MANAGED_LABEL.0.to_owned(), MANAGED_LABEL.1.to_owned())])),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            // The engine closes the container's stdin when our attach half-closes it: the agent sees EOF.
            stdin_once: Some(true),
            tty: Some(false),
            user: hard.user.clone(),
            host_config: Some(HostConfig {
                mounts: Some(mounts),
                extra_hosts: Some(extra_hosts),
                memory: spec.memory_limit,
                // Equal to the memory limit: no swap, so going over it is an OOM kill, not a slow crawl.
                memory_swap: spec.memory_limit,
                pids_limit: hard.pids_limit,
                nano_cpus: hard.nano_cpus,
                cap_drop: (!hard.cap_drop.is_empty()).then(|| hard.cap_drop.clone()),
                cap_add: (!hard.cap_add.is_empty()).then(|| hard.cap_add.clone()),
                security_opt: hard.no_new_privileges.then(|| vec!["no-new-privileges:true".to_owned()]),
                readonly_rootfs: hard.read_only_rootfs.then_some(true),
                // A read-only image still needs somewhere to write scratch files. runc gives the
                // tmpfs the permissions of the image's own /tmp (1777 in Debian or Alpine images).
                tmpfs: hard
                    .read_only_rootfs
                    .then(|| HashMap::from([("/tmp".to_owned(), READ_ONLY_TMP_OPTIONS.to_owned())])),
                network_mode: hard.network.clone(),
                dns: (!hard.dns.is_empty()).then(|| hard.dns.clone()),
                runtime: hard.runtime.clone(),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        let created = self.bounded("the create", CONTAINER_SETUP, docker.create_container(Some(options), body)).await?;
        log_create_warnings(&spec.name, &created.warnings);
        self.warn_if_limits_dropped(spec).await;
        Ok(created.id)
    }

    /// The container's stdin and its output as chunks (attached before the
    /// start, so not a byte of output is missed).
    pub(crate) async fn attach(&self, id: &str) -> Result<Attached, EngineError> {
        let options =
            AttachContainerOptionsBuilder::default().stream(true).stdin(true).stdout(true).stderr(true).build();
        let docker = self.docker().await?;
        let AttachContainerResults { input, output } =
            self.bounded("the attach", CONTAINER_SETUP, docker.attach_container(id, Some(options))).await?;
        Ok(Attached { input, output: Box::pin(output_chunks(output)) })
    }

    pub(crate) async fn start(&self, id: &str) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        self.bounded("the start", CONTAINER_SETUP, docker.start_container(id, None)).await
    }

    /// SIGKILL; a container that has already stopped is not an error.
    pub(crate) async fn kill(&self, id: &str) -> Result<(), EngineError> {
        let options = KillContainerOptionsBuilder::default().signal("SIGKILL").build();
        let docker = self.docker().await?;
        match self.bounded("the kill", QUICK_CALL, docker.kill_container(id, Some(options))).await {
            // Gone already (404), or no longer running (409).
            Ok(()) | Err(EngineError::NotFound(_) | EngineError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The exit code of a container that is no longer running (called once its output has ended).
    pub(crate) async fn wait_exit(&self, id: &str) -> Result<i64, EngineError> {
        let options = WaitContainerOptionsBuilder::default().condition("not-running").build();
        let docker = self.docker().await?;
        let mut stream = docker.wait_container(id, Some(options));
        let waited = async {
            match stream.next().await {
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(Some(code)),
                Some(other) => other.map(|response| Some(response.status_code)),
                None => Ok(None),
            }
        };
        self.bounded("the wait", QUICK_CALL, waited)
            .await?
            .ok_or_else(|| EngineError::Failed(format!("the engine gave no exit status for {id}")))
    }

    /// The engine's `State.OOMKilled` verdict.
    pub(crate) async fn oom_killed(&self, id: &str) -> Result<bool, EngineError> {
        let docker = self.docker().await?;
        let info = self.bounded("the inspect", QUICK_CALL, docker.inspect_container(id, None)).await?;
        Ok(info.state.and_then(|s| s.oom_killed).unwrap_or(false))
    }

    /// One forced removal, by id or name: what the engine found. A 409 is an
    /// error: another removal is under way, or the container stopped between
    /// the engine's check and its kill (a force removal kills first); either
    /// way it may still be there.
    async fn remove_once(&self, id: &str) -> Result<Removal, EngineError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        let docker = self.docker().await?;
        match self.bounded("the removal", QUICK_CALL, docker.remove_container(id, Some(options))).await {
            Ok(()) => Ok(Removal::Removed),
            Err(EngineError::NotFound(_)) => Ok(Removal::Absent),
            Err(e) => Err(e),
        }
    }

    /// One forced removal: `Ok` when the container is gone (removed now, or already).
    pub(crate) async fn remove(&self, id: &str) -> Result<(), EngineError> {
        self.remove_once(id).await.map(|_| ())
    }

    /// Removes the container, trying again after each pause of
    /// [`REMOVAL_RETRIES`] while the engine refuses (409, a busy file system),
    /// is unreachable (it may be restarting) or does not answer. The last
    /// error when every try failed. For background work only: it can take
    /// the whole schedule.
    pub(crate) async fn remove_until_gone(&self, id: &str) -> Result<(), EngineError> {
        let mut outcome = self.remove(id).await;
        for pause in REMOVAL_RETRIES {
            if outcome.is_ok() {
                break;
            }
            tokio::time::sleep(pause).await;
            outcome = self.remove(id).await;
        }
        outcome
    }

    /// Removes the container a create whose answer never came back may have
    /// made (the connection was lost, or the create ran past its bound): the
    /// engine may still be making it, so "no such container" is not the end.
    /// Tried now and after each pause of [`REMOVAL_RETRIES`] until a removal
    /// finds it. An error only when the last try failed for another reason.
    pub(crate) async fn remove_if_made(&self, name: &str) -> Result<(), EngineError> {
        let mut last = self.remove_once(name).await;
        for pause in REMOVAL_RETRIES {
            if let Ok(Removal::Removed) = last {
                break;
            }
            tokio::time::sleep(pause).await;
            last = self.remove_once(name).await;
        }
        last.map(|_| ())
    }

    /// Names (without the leading `/`) of every container, running or not, that carries our label.
    pub(crate) async fn list_managed(&self) -> Result<Vec<(String, String)>, EngineError> {
        let filters = HashMap::from([("label", vec![format!("{}={}", MANAGED_LABEL.0, MANAGED_LABEL.1)])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let docker = self.docker().await?;
        let list = self.bounded("the container listing", QUICK_CALL, docker.list_containers(Some(options))).await?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let id = c.id?;
                let name = c.names.and_then(|n| n.into_iter().next()).unwrap_or_default();
                Some((id, name.trim_start_matches('/').to_owned()))
            })
            .collect())
    }
}

/// A container's stdin, written by the runner.
pub(crate) type Input = Pin<Box<dyn AsyncWrite + Send>>;
/// A container's output, chunk by chunk; an `Err` or the end when the container (or the engine) goes.
pub(crate) type Output = Pin<Box<dyn Stream<Item = Result<Chunk, String>> + Send>>;

/// The streams of an attached container.
pub(crate) struct Attached {
    pub(crate) input: Input,
    pub(crate) output: Output,
}

/// One chunk of the container's output.
pub(crate) enum Chunk {
    Stdout(bytes::Bytes),
    Stderr(bytes::Bytes),
}

/// The attach stream as stdout/stderr chunks; stdin echoes are dropped.
fn output_chunks(
    output: impl Stream<Item = Result<LogOutput, bollard::errors::Error>>,
) -> impl Stream<Item = Result<Chunk, String>> {
    output.filter_map(|item| async move {
        match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => Some(Ok(Chunk::Stdout(message))),
            Ok(LogOutput::StdErr { message }) => Some(Ok(Chunk::Stderr(message))),
            Ok(LogOutput::StdIn { .. }) => None,
            Err(e) => Some(Err(e.to_string())),
        }
    })
}

/// The engine's warnings at a create: what it changed or dropped of the spec,
/// a resource limit it cannot apply among them (a rootless engine without
/// cgroups drops memory, pids and CPU limits this way). One warn line each, so
/// the operator learns it from the log rather than from an agent that ran
/// without a limit it was given.
pub(crate) fn log_create_warnings(container: &str, warnings: &[String]) {
    for warning in warnings {
        tracing::warn!(container, warning = warning.as_str(), "Engine warning at create");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::container::Hardening;

    #[test]
    fn a_socket_this_process_may_not_use_is_a_failure_not_a_missing_engine() {
        let denied = ConnectError::Unreachable {
            endpoint: "unix:///var/run/docker.sock".into(),
            detail: "Permission denied (os error 13)".into(),
        };
        assert!(matches!(EngineError::from(denied), EngineError::Failed(m) if m.contains("Permission denied")));
        let missing = ConnectError::Unreachable {
            endpoint: "unix:///var/run/docker.sock".into(),
            detail: "No such file or directory (os error 2)".into(),
        };
        assert!(matches!(EngineError::from(missing), EngineError::Unreachable { .. }));
    }

    #[test]
    fn the_limits_an_engine_without_cgroups_drops_are_named_by_their_options() {
        let mut spec = ContainerSpec {
            name: "c".into(),
            image: "i".into(),
            env: vec![],
            mounts: vec![],
            extra_hosts: vec![],
            memory_limit: None,
            hardening: Hardening { cap_drop: vec!["ALL".into()], read_only_rootfs: true, ..Hardening::default() },
        };
        // Hardening that needs no cgroup is no limit it drops.
        assert!(limits_given(&spec).is_empty());
        spec.memory_limit = Some(64 << 20);
        spec.hardening.nano_cpus = Some(1_500_000_000);
        assert_eq!(limits_given(&spec), ["memoryLimit", "cpus"]);
        spec.hardening.pids_limit = Some(64);
        assert_eq!(limits_given(&spec), ["memoryLimit", "pidsLimit", "cpus"]);
    }
}
