//! The runner's configuration: the host's config and options as plain data,
//! and the settings a turn runs with.

use std::path::{Path, PathBuf};

use super::layout::{check_apart, default_sessions_dir};
use crate::core::engine::container::Hardening;
use crate::core::engine::endpoint::EndpointInput;
use crate::core::log::ConsoleFormat;
use crate::core::paths::resolve;

/// A message naming the field that is missing or wrong (the host sees a `TypeError`).
pub(crate) type ConfigResult<T> = Result<T, String>;

/// The fields of the host's `AppConfig` the runner reads; any others are ignored.
/// Only the image is required up front: a host's tests build runners from
/// partial configs, and a missing field is reported when a reply needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunnerConfig {
    pub image: String,
    pub timeout_ms: Option<f64>,
    pub global_dir: Option<String>,
    pub spaces_dir: Option<String>,
    pub model_provider: Option<String>,
    pub auth_path: Option<String>,
    /// As the agent's `API_URL` writes it: a number's JavaScript text, or the text the host gave.
    pub port: Option<String>,
}

/// The optional second constructor argument, less its JavaScript parts
/// (the logger and the credential resolver stay with the binding).
#[derive(Debug, Clone)]
pub(crate) struct RunnerOptions {
    pub package_root: PackageRoot,
    /// What decides the engine endpoint: the `dockerHost` option and the
    /// environment the docker CLI reads (`DOCKER_HOST`, `DOCKER_CONTEXT`, ...).
    pub endpoint: EndpointInput,
    /// Memory limit in bytes for each container; None leaves the engine's default.
    pub memory_limit: Option<i64>,
    /// Where the runner's lines go when the host gave no logger.
    pub console: ConsoleFormat,
    pub hardening: Hardening,
    /// A prepared next container per recently active space; None: every turn starts cold.
    pub standby: Option<StandbyOptions>,
    /// `options.sessionsDir` as given (relative: against the working directory);
    /// None: beside `globalDir` (see [`RunnerSettings::sessions_dir`]).
    pub sessions_dir: Option<String>,
    /// `options.egress`: agents reach only the listed destinations (src/core/egress/).
    pub egress: Option<crate::core::egress::EgressOptions>,
}

/// `options.standby`: after a space's turn, its next container is created,
/// attached and started in the background, waiting on stdin for the next turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StandbyOptions {
    /// An idle standby is removed after this long.
    pub idle: std::time::Duration,
    /// At most this many standbys at once (one per space); beyond it the least recently used goes.
    pub max: usize,
}

/// How long a standby waits for its space's next turn unless `idleMs` says otherwise.
pub(crate) const DEFAULT_STANDBY_IDLE: std::time::Duration = std::time::Duration::from_secs(60);
/// How many idle containers a runner keeps unless `max` says otherwise: each holds
/// an agent process in memory, so a busy host with many spaces keeps only its most recent few.
pub(crate) const DEFAULT_STANDBY_MAX: usize = 4;

impl Default for StandbyOptions {
    fn default() -> Self {
        Self { idle: DEFAULT_STANDBY_IDLE, max: DEFAULT_STANDBY_MAX }
    }
}

/// `options.standby`'s `{ idleMs, max }`, each optional: a positive whole
/// number of milliseconds, and a positive whole count.
pub(crate) fn standby_options(idle_ms: Option<f64>, max: Option<f64>) -> ConfigResult<StandbyOptions> {
    let mut options = StandbyOptions::default();
    if let Some(ms) = idle_ms {
        if ms < 1.0 || ms.fract() != 0.0 || ms > u32::MAX as f64 {
            return Err("options.standby.idleMs must be a positive whole number of milliseconds".into());
        }
        options.idle = std::time::Duration::from_millis(ms as u64);
    }
    if let Some(n) = max {
        if n < 1.0 || n.fract() != 0.0 || n > u16::MAX as f64 {
            return Err("options.standby.max must be a positive whole number".into());
        }
        options.max = n as usize;
    }
    Ok(options)
}

/// `options.pidsLimit`: a positive whole number.
pub(crate) fn pids_limit(n: f64) -> ConfigResult<i64> {
    if n < 1.0 || n.fract() != 0.0 || n > i64::MAX as f64 {
        return Err("options.pidsLimit must be a positive whole number".into());
    }
    Ok(n as i64)
}

/// `options.cpus`: a positive number of CPUs, in the engine's billionths.
pub(crate) fn nano_cpus(cpus: f64) -> ConfigResult<i64> {
    let nanos = cpus * 1e9;
    if cpus <= 0.0 || nanos < 1.0 || nanos > i64::MAX as f64 {
        return Err("options.cpus must be a positive number of CPUs".into());
    }
    Ok(nanos.round() as i64)
}

/// The text of a numeric `port` as JavaScript's template literal writes it.
pub(crate) fn port_text(port: f64) -> String {
    if port.fract() == 0.0 {
        format!("{port:.0}")
    } else {
        port.to_string()
    }
}

/// `options.memoryLimit`: a positive whole number of bytes.
pub(crate) fn memory_limit(bytes: f64) -> ConfigResult<i64> {
    if bytes <= 0.0 || bytes.fract() != 0.0 || bytes > i64::MAX as f64 {
        return Err("options.memoryLimit must be a positive whole number of bytes".into());
    }
    Ok(bytes as i64)
}

impl RunnerConfig {
    /// Settings for a turn starting now; relative folders resolve against `cwd`.
    pub(crate) fn settings(&self, cwd: &Path, image: String, options: &RunnerOptions) -> ConfigResult<RunnerSettings> {
        let need = |v: &Option<String>, name: &str| {
            v.clone().ok_or_else(|| format!("config.{name} is required to run an agent"))
        };
        let timeout_ms = self.timeout_ms.ok_or("config.containerTimeoutMs is required to run an agent")?;
        if timeout_ms < 0.0 {
            return Err("config.containerTimeoutMs must not be negative".into());
        }
        let global_dir = resolve(cwd, &need(&self.global_dir, "globalDir")?);
        let sessions_dir = match &options.sessions_dir {
            Some(dir) => resolve(cwd, dir),
            None => default_sessions_dir(&global_dir),
        };
        let settings = RunnerSettings {
            image,
            // Saturates: a timeout past u64 milliseconds is no timeout at all.
            timeout_ms: timeout_ms as u64,
            global_dir,
            spaces_dir: resolve(cwd, &need(&self.spaces_dir, "spacesDir")?),
            sessions_dir,
            model_provider: need(&self.model_provider, "modelProvider")?,
            auth_path: self.auth_path.as_deref().map(|p| resolve(cwd, p)),
            port: need(&self.port, "port")?,
            package_root: options.package_root.clone(),
            memory_limit: options.memory_limit,
            hardening: options.hardening.clone(),
        };
        if settings.hardening.isolate_spaces {
            check_apart(&settings.global_dir, &settings.spaces_dir, &settings.sessions_dir)?;
        }
        Ok(settings)
    }
}

/// The runner's configuration as one turn uses it, with its folders absolute.
#[derive(Debug, Clone)]
pub(crate) struct RunnerSettings {
    pub image: String,
    pub timeout_ms: u64,
    pub global_dir: PathBuf,
    pub spaces_dir: PathBuf,
    /// With `isolateSpaces`, the parent of each space's own `sessions` folder
    /// (`<sessionsDir>/<spaceId>`); no container mounts it whole.
    pub sessions_dir: PathBuf,
    pub model_provider: String,
    pub auth_path: Option<PathBuf>,
    pub port: String,
    pub package_root: PackageRoot,
    /// Memory limit in bytes for each container; None leaves the engine's default.
    pub memory_limit: Option<i64>,
    pub hardening: Hardening,
}

impl RunnerSettings {
    /// `config.authPath ?? <globalDir>/auth.json`.
    pub(crate) fn auth_path(&self) -> PathBuf {
        self.auth_path.clone().unwrap_or_else(|| self.global_dir.join("auth.json"))
    }
}

/// Whose `README.md` and `docs/` are mounted into the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PackageRoot {
    /// Given by the host.
    Dir(PathBuf),
    /// The folder of the nearest `package.json` above this script (the host's main).
    NearestTo(PathBuf),
    /// Unknown: no docs are mounted.
    None,
}

impl PackageRoot {
    /// `options.packageRoot` when given, else found from the host's main script
    /// (`process.argv[1]`) when there is one; relative paths resolve against `cwd`.
    pub(crate) fn from_option(given: Option<&str>, main_script: Option<&str>, cwd: &Path) -> Self {
        match (given, main_script) {
            (Some(dir), _) => PackageRoot::Dir(resolve(cwd, dir)),
            (None, Some(main)) => PackageRoot::NearestTo(resolve(cwd, main)),
            (None, None) => PackageRoot::None,
        }
    }

    /// Touches the file system, so call it off the JavaScript thread.
    pub(crate) fn locate(&self) -> Option<PathBuf> {
        match self {
            PackageRoot::Dir(dir) => Some(dir.clone()),
            PackageRoot::NearestTo(script) => crate::core::paths::package_root_of(script),
            PackageRoot::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> RunnerOptions {
        RunnerOptions {
            package_root: PackageRoot::None,
            endpoint: EndpointInput::default(),
            memory_limit: None,
            console: ConsoleFormat::from_env(None, None),
            hardening: Hardening::default(),
            standby: None,
            sessions_dir: None,
            egress: None,
        }
    }

    fn full() -> RunnerConfig {
        RunnerConfig {
            image: "i".into(),
            timeout_ms: Some(1500.0),
            global_dir: Some("global".into()),
            spaces_dir: Some("/abs/spaces".into()),
            model_provider: Some("anthropic".into()),
            auth_path: None,
            port: Some(port_text(3000.0)),
        }
    }

    #[test]
    fn folders_resolve_against_cwd_and_auth_defaults_into_global() {
        let s = full().settings(Path::new("/srv/app"), "img".into(), &options()).unwrap();
        assert_eq!(s.global_dir, PathBuf::from("/srv/app/global"));
        assert_eq!(s.spaces_dir, PathBuf::from("/abs/spaces"));
        assert_eq!(s.auth_path(), PathBuf::from("/srv/app/global/auth.json"));
        assert_eq!((s.image.as_str(), s.timeout_ms, s.port.as_str()), ("img", 1500, "3000"));
    }

    #[test]
    fn sessions_dir_defaults_beside_global_and_must_lie_apart_under_isolation() {
        let s = full().settings(Path::new("/srv/app"), "img".into(), &options()).unwrap();
        assert_eq!(s.sessions_dir, PathBuf::from("/srv/app/global-sessions"));
        let given = RunnerOptions { sessions_dir: Some("state/sessions".into()), ..options() };
        let s = full().settings(Path::new("/srv/app"), "img".into(), &given).unwrap();
        assert_eq!(s.sessions_dir, PathBuf::from("/srv/app/state/sessions"));
        let inside_spaces = RunnerOptions {
            sessions_dir: Some("/abs/spaces/sessions".into()),
            hardening: Hardening { isolate_spaces: true, ..Hardening::default() },
            ..options()
        };
        let err = full().settings(Path::new("/srv/app"), "img".into(), &inside_spaces).unwrap_err();
        assert!(err.contains("options.sessionsDir") && err.contains("config.spacesDir"), "{err}");
        let shared = RunnerOptions { hardening: Hardening::default(), ..inside_spaces };
        assert!(full().settings(Path::new("/srv/app"), "img".into(), &shared).is_ok());
    }

    #[test]
    fn a_missing_field_is_named() {
        let config = RunnerConfig { spaces_dir: None, ..full() };
        let err = config.settings(Path::new("/"), "i".into(), &options()).unwrap_err();
        assert_eq!(err, "config.spacesDir is required to run an agent");
        let config = RunnerConfig { timeout_ms: Some(-1.0), ..full() };
        assert!(config.settings(Path::new("/"), "i".into(), &options()).is_err());
    }

    #[test]
    fn ports_and_memory_limits_read_as_javascript_gives_them() {
        assert_eq!(port_text(8787.0), "8787");
        assert_eq!(port_text(1.5), "1.5");
        assert_eq!(memory_limit(64.0 * 1024.0 * 1024.0), Ok(67_108_864));
        assert!(memory_limit(0.0).is_err() && memory_limit(1.5).is_err() && memory_limit(-3.0).is_err());
        assert_eq!(pids_limit(64.0), Ok(64));
        assert!(pids_limit(0.0).is_err() && pids_limit(2.5).is_err());
        assert_eq!(nano_cpus(1.5), Ok(1_500_000_000));
        assert!(nano_cpus(0.0).is_err() && nano_cpus(-1.0).is_err());
    }

    #[test]
    fn standby_defaults_and_bounds() {
        assert_eq!(standby_options(None, None), Ok(StandbyOptions::default()));
        assert_eq!(StandbyOptions::default().idle, std::time::Duration::from_millis(60_000));
        assert_eq!(StandbyOptions::default().max, 4);
        let given = standby_options(Some(1500.0), Some(2.0)).unwrap();
        assert_eq!((given.idle, given.max), (std::time::Duration::from_millis(1500), 2));
        for (idle, max) in
            [(Some(0.0), None), (Some(1.5), None), (Some(-1.0), None), (None, Some(0.0)), (None, Some(2.5))]
        {
            assert!(standby_options(idle, max).is_err(), "{idle:?} {max:?}");
        }
    }
}
