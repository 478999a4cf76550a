//! The container to create, in the engine's terms: what [`super::client::Engine::create`]
//! takes. The turn wing fills it in (`turn::spec`); the engine only reads it.

/// The label every container of ours carries, so orphans can be found.
pub(crate) const MANAGED_LABEL: (&str, &str) = ("mercury.managed", "true");

/// One host folder mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BindMount {
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

/// Everything the engine needs to create one agent container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// `NAME=value` entries, in the contract's order.
    pub env: Vec<String>,
    pub mounts: Vec<BindMount>,
    /// `host.docker.internal` pointing at the host, as `--add-host host.docker.internal:host-gateway`.
    pub extra_hosts: Vec<String>,
    pub memory_limit: Option<i64>,
    pub hardening: Hardening,
}

/// Opt-in limits on what an agent container may do. Each is off by default,
/// so the host's agent image keeps working as it always has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Hardening {
    /// At most this many processes (a fork bomb stops here).
    pub pids_limit: Option<i64>,
    /// CPU share in billionths of a CPU (`options.cpus: 1.5` is 1 500 000 000).
    pub nano_cpus: Option<i64>,
    /// `user[:group]` the agent runs as, instead of the image's (usually root).
    pub user: Option<String>,
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    /// No privilege gain through setuid binaries or file capabilities.
    pub no_new_privileges: bool,
    /// The image's file system read-only, with a writable `/tmp` in memory.
    pub read_only_rootfs: bool,
    /// `"none"` (no network at all) or the name of an engine network.
    pub network: Option<String>,
    /// An OCI runtime the engine knows, e.g. `runsc` (gVisor).
    pub runtime: Option<String>,
    /// Mount only the space's own folder, at `/spaces/<spaceId>`, instead of every space's.
    pub isolate_spaces: bool,
    /// Name servers for the container; empty: the engine's. Egress sets `127.0.0.1` (nothing answers there).
    pub dns: Vec<String>,
}
