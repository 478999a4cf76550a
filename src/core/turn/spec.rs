//! Pure: runner settings + one reply request + the host environment → the container to create.

use std::collections::HashSet;
use std::path::Path;

use super::agent_dir::{AgentDirView, AGENT_DIR_TARGET, SESSIONS_ENTRY};
use super::config::RunnerSettings;
use super::layout::space_folder;
use crate::core::engine::container::{BindMount, ContainerSpec};
use crate::core::error::RunError;

/// The parts of `reply`'s input the runner itself reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplyRequest {
    pub space_id: String,
    pub space_workspace: String,
    pub caller_id: String,
    /// `callerRole` as given; the payload writes `"member"` when absent.
    pub caller_role: Option<String>,
    pub extra_env: Vec<(String, String)>,
    pub claimed_env_sources: HashSet<String>,
    /// The host process's `MERCURY_*` variables, read at the call.
    pub host_env: Vec<(String, String)>,
}

/// `mercury-<Date.now()>-<counter>`.
pub(crate) fn container_name(now_ms: u64, counter: u64) -> String {
    format!("mercury-{now_ms}-{counter}")
}

/// The container's environment, in order: the fixed entries, the host's
/// `MERCURY_*` variables unprefixed (claimed ones left out), the OAuth token when
/// no Anthropic secret is set yet, then `extraEnv`. The fixed and `MERCURY_*`
/// entries with an empty value are dropped; `extraEnv` entries pass as given
/// (`K=` reaches the agent as an empty variable, as `-e K=` does). A later entry
/// for a name replaces an earlier one, as `docker run -e` does.
pub(crate) fn container_env(
    settings: &RunnerSettings,
    request: &ReplyRequest,
    oauth_token: Option<&str>,
) -> Result<Vec<(String, String)>, RunError> {
    let mut env = EnvList::default();
    env.set("HOME", "/root");
    env.set("PI_CODING_AGENT_DIR", AGENT_DIR_TARGET);
    env.set("CALLER_ID", &request.caller_id);
    env.set("SPACE_ID", &request.space_id);
    env.set("API_URL", &format!("http://host.docker.internal:{}", settings.port));
    // A host variable set to "" still counts as set when deciding about the OAuth token, as in the host's runner.
    let mut anthropic_secret_given = false;
    for (name, value) in &request.host_env {
        let Some(bare) = name.strip_prefix("MERCURY_") else {
            continue;
        };
        if bare.is_empty() || request.claimed_env_sources.contains(name) {
            continue;
        }
        anthropic_secret_given |= bare == "ANTHROPIC_API_KEY" || bare == "ANTHROPIC_OAUTH_TOKEN";
        env.set(bare, value);
    }
    if settings.model_provider == "anthropic" && !anthropic_secret_given {
        if let Some(token) = oauth_token {
            env.set("ANTHROPIC_OAUTH_TOKEN", token);
        }
    }
    for (name, value) in &request.extra_env {
        env.set_as_given(name, value);
    }
    env.validated()
}

#[derive(Default)]
struct EnvList(Vec<(String, String)>);

impl EnvList {
    /// Sets `name`, or leaves it out when `value` is empty.
    fn set(&mut self, name: &str, value: &str) {
        self.0.retain(|(n, _)| n != name);
        if !value.is_empty() {
            self.0.push((name.to_owned(), value.to_owned()));
        }
    }

    /// Sets `name`, an empty value included.
    fn set_as_given(&mut self, name: &str, value: &str) {
        self.0.retain(|(n, _)| n != name);
        self.0.push((name.to_owned(), value.to_owned()));
    }

    fn validated(self) -> Result<Vec<(String, String)>, RunError> {
        for (name, value) in &self.0 {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(RunError::InvalidInput(format!("invalid environment variable name {name:?}")));
            }
            if value.contains('\0') {
                // The value may be a secret: name it, never show it.
                return Err(RunError::InvalidInput(format!("environment variable {name} contains a NUL byte")));
            }
        }
        Ok(self.0)
    }
}

/// The container's mounts: every space's folder at `/spaces` (or, with
/// `isolateSpaces`, only this space's at `/spaces/<spaceId>`), the agent folder
/// as `agent_dir` says (see [`super::agent_dir`]), and the host's docs. The docs
/// mounts are left out when their source is missing, instead of letting the
/// engine create an empty folder in its place.
pub(crate) fn container_mounts(
    settings: &RunnerSettings,
    request: &ReplyRequest,
    agent_dir: &AgentDirView,
    package_root: Option<&Path>,
    exists: impl Fn(&Path) -> bool,
) -> Result<Vec<BindMount>, RunError> {
    let bind = |source: &Path, target: &str, read_only: bool| BindMount {
        source: path_text(source),
        target: target.to_owned(),
        read_only,
    };
    let spaces = if settings.hardening.isolate_spaces {
        let own = space_folder(&settings.spaces_dir, &request.space_id)?;
        bind(&own, &format!("/spaces/{}", request.space_id), false)
    } else {
        bind(&settings.spaces_dir, "/spaces", false)
    };
    let mut mounts = vec![spaces];
    match agent_dir {
        AgentDirView::Shared => mounts.push(bind(&settings.global_dir, AGENT_DIR_TARGET, false)),
        AgentDirView::Isolated { entries, sessions } => {
            for entry in entries {
                mounts.push(bind(&settings.global_dir.join(entry), &format!("{AGENT_DIR_TARGET}/{entry}"), true));
            }
            mounts.push(bind(sessions, &format!("{AGENT_DIR_TARGET}/{SESSIONS_ENTRY}"), false));
        }
    }
    let Some(package_root) = package_root else {
        return Ok(mounts);
    };
    let readme = package_root.join("README.md");
    if exists(&readme) {
        mounts.push(bind(&readme, "/docs/mercury/README.md", true));
    }
    let docs = package_root.join("docs");
    if exists(&docs) {
        mounts.push(bind(&docs, "/docs/mercury/docs", true));
    }
    Ok(mounts)
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Assembles the spec of one run.
pub(crate) fn container_spec(
    settings: &RunnerSettings,
    name: String,
    env: Vec<(String, String)>,
    mounts: Vec<BindMount>,
) -> ContainerSpec {
    ContainerSpec {
        name,
        image: settings.image.clone(),
        env: env.into_iter().map(|(n, v)| format!("{n}={v}")).collect(),
        mounts,
        // The engine refuses a host mapping on a container with no network; API_URL is unreachable there anyway.
        extra_hosts: match settings.hardening.network.as_deref() {
            Some("none") => vec![],
            _ => vec!["host.docker.internal:host-gateway".to_owned()],
        },
        memory_limit: settings.memory_limit,
        hardening: settings.hardening.clone(),
    }
}

// The two changes the runner makes to the input before handing it to the agent
// (the payload itself is `JSON.stringify`'s, made on the host's side).

/// The workspace as the container sees it: the first occurrence of the host's
/// absolute `spacesDir` replaced by `/spaces` (JavaScript's `String.replace`).
pub(crate) fn container_workspace(host_workspace: &str, spaces_dir: &str) -> String {
    // `"abc".replace("", x)` inserts x at the front in JavaScript; replacen does the same.
    host_workspace.replacen(spaces_dir, "/spaces", 1)
}

/// `callerRole ?? "member"`.
pub(crate) fn caller_role(given: Option<&str>) -> &str {
    given.unwrap_or("member")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::container::Hardening;
    use crate::core::turn::config::PackageRoot;

    fn settings() -> RunnerSettings {
        RunnerSettings {
            image: "mercury-agent:latest".into(),
            timeout_ms: 1000,
            global_dir: "/data/global".into(),
            spaces_dir: "/data/spaces".into(),
            sessions_dir: "/data/global-sessions".into(),
            model_provider: "anthropic".into(),
            auth_path: None,
            port: "8787".into(),
            package_root: PackageRoot::Dir("/pkg".into()),
            memory_limit: None,
            hardening: Hardening::default(),
        }
    }

    fn request() -> ReplyRequest {
        ReplyRequest {
            space_id: "space-1".into(),
            space_workspace: "/data/spaces/space-1".into(),
            caller_id: "user-9".into(),
            ..ReplyRequest::default()
        }
    }

    /// `container_env` with `host` as the host's environment.
    fn env_of(
        settings: &RunnerSettings,
        request: &ReplyRequest,
        host: &[(String, String)],
        token: Option<&str>,
    ) -> Result<Vec<(String, String)>, RunError> {
        container_env(settings, &ReplyRequest { host_env: host.to_vec(), ..request.clone() }, token)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn fixed_entries_come_first_in_order() {
        let env = env_of(&settings(), &request(), &[], None).unwrap();
        assert_eq!(
            env,
            pairs(&[
                ("HOME", "/root"),
                ("PI_CODING_AGENT_DIR", "/root/.pi/agent"),
                ("CALLER_ID", "user-9"),
                ("SPACE_ID", "space-1"),
                ("API_URL", "http://host.docker.internal:8787"),
            ])
        );
    }

    #[test]
    fn mercury_variables_pass_unprefixed_unless_claimed() {
        let mut req = request();
        req.claimed_env_sources.insert("MERCURY_CLAIMED".into());
        let host = pairs(&[
            ("MERCURY_ANTHROPIC_API_KEY", "sk-1"),
            ("PATH", "/usr/bin"),
            ("MERCURY_CLAIMED", "mine"),
            ("MERCURY_EMPTY", ""),
            ("MERCURY_", "nameless"),
            ("XMERCURY_NOPE", "x"),
        ]);
        let env = env_of(&settings(), &req, &host, Some("oauth-tok")).unwrap();
        let tail: Vec<_> = env[5..].to_vec();
        // An API key is set, so the OAuth token is not added.
        assert_eq!(tail, pairs(&[("ANTHROPIC_API_KEY", "sk-1")]));
    }

    #[test]
    fn oauth_token_fills_in_for_anthropic_only() {
        let env = env_of(&settings(), &request(), &[], Some("oauth-tok")).unwrap();
        assert_eq!(env.last().unwrap(), &("ANTHROPIC_OAUTH_TOKEN".to_string(), "oauth-tok".to_string()));

        let host = pairs(&[("MERCURY_ANTHROPIC_OAUTH_TOKEN", "from-env")]);
        let env = env_of(&settings(), &request(), &host, Some("oauth-tok")).unwrap();
        assert_eq!(env.last().unwrap().1, "from-env");

        let other = RunnerSettings { model_provider: "openai".into(), ..settings() };
        let env = env_of(&other, &request(), &[], Some("oauth-tok")).unwrap();
        assert!(!env.iter().any(|(n, _)| n == "ANTHROPIC_OAUTH_TOKEN"));
    }

    #[test]
    fn extra_env_comes_last_and_wins() {
        let mut req = request();
        req.extra_env = pairs(&[("FOO", "bar"), ("SPACE_ID", "override"), ("EMPTY", "")]);
        let host = pairs(&[("MERCURY_FOO", "host")]);
        let env = env_of(&settings(), &req, &host, None).unwrap();
        assert_eq!(
            env,
            pairs(&[
                ("HOME", "/root"),
                ("PI_CODING_AGENT_DIR", "/root/.pi/agent"),
                ("CALLER_ID", "user-9"),
                ("API_URL", "http://host.docker.internal:8787"),
                ("FOO", "bar"),
                ("SPACE_ID", "override"),
                ("EMPTY", ""),
            ])
        );
    }

    #[test]
    fn an_empty_anthropic_key_in_the_host_env_still_keeps_the_oauth_token_out() {
        let host = pairs(&[("MERCURY_ANTHROPIC_API_KEY", "")]);
        let env = env_of(&settings(), &request(), &host, Some("oauth-tok")).unwrap();
        assert!(!env.iter().any(|(n, _)| n == "ANTHROPIC_OAUTH_TOKEN" || n == "ANTHROPIC_API_KEY"));
    }

    #[test]
    fn empty_fixed_values_are_dropped() {
        let mut req = request();
        req.caller_id = String::new();
        let env = env_of(&settings(), &req, &[], None).unwrap();
        assert!(!env.iter().any(|(n, _)| n == "CALLER_ID"));
    }

    #[test]
    fn bad_names_and_nul_values_are_refused_without_showing_values() {
        for (name, value) in [("A=B", "v"), ("", "v"), ("N\0", "v")] {
            let mut req = request();
            req.extra_env = pairs(&[(name, value)]);
            assert!(matches!(env_of(&settings(), &req, &[], None), Err(RunError::InvalidInput(_))));
        }
        let mut req = request();
        req.extra_env = pairs(&[("SECRET", "s3cr3t\0")]);
        let err = env_of(&settings(), &req, &[], None).unwrap_err();
        assert!(err.to_string().contains("SECRET") && !err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn docs_mounts_only_when_their_source_exists() {
        let root = settings().package_root.locate();
        let root = root.as_deref();
        let all = container_mounts(&settings(), &request(), &AgentDirView::Shared, root, |_| true).unwrap();
        assert_eq!(
            all,
            vec![
                mount("/data/spaces", "/spaces", false),
                mount("/data/global", "/root/.pi/agent", false),
                mount("/pkg/README.md", "/docs/mercury/README.md", true),
                mount("/pkg/docs", "/docs/mercury/docs", true),
            ]
        );
        let no_docs =
            container_mounts(&settings(), &request(), &AgentDirView::Shared, root, |p| !p.ends_with("docs")).unwrap();
        assert_eq!(no_docs.len(), 3);
        assert_eq!(container_mounts(&settings(), &request(), &AgentDirView::Shared, root, |_| false).unwrap().len(), 2);
        assert_eq!(container_mounts(&settings(), &request(), &AgentDirView::Shared, None, |_| true).unwrap().len(), 2);
    }

    #[test]
    fn isolated_spaces_mount_only_the_space_s_own_folder_and_refuse_ids_that_leave_it() {
        let isolated = isolated_settings();
        let mounts = container_mounts(&isolated, &request(), &isolated_view(), None, |_| true).unwrap();
        assert_eq!(mounts[0], mount("/data/spaces/space-1", "/spaces/space-1", false));
        for bad in ["..", ".", "a/b", "../etc", ""] {
            let req = ReplyRequest { space_id: bad.into(), ..request() };
            assert!(
                matches!(
                    container_mounts(&isolated, &req, &isolated_view(), None, |_| true),
                    Err(RunError::InvalidInput(_))
                ),
                "{bad:?}"
            );
        }
    }

    fn isolated_settings() -> RunnerSettings {
        let mut isolated = settings();
        isolated.hardening.isolate_spaces = true;
        isolated
    }

    fn mount(source: &str, target: &str, read_only: bool) -> BindMount {
        BindMount { source: source.into(), target: target.into(), read_only }
    }

    fn isolated_view() -> AgentDirView {
        AgentDirView::Isolated {
            entries: vec!["AGENTS.md".into(), "extensions".into(), "settings.json".into()],
            sessions: "/data/global-sessions/space-1".into(),
        }
    }

    #[test]
    fn isolated_spaces_see_the_agent_folder_entry_by_entry_read_only_and_their_own_sessions() {
        let isolated = isolated_settings();
        let mounts = container_mounts(&isolated, &request(), &isolated_view(), None, |_| true).unwrap();
        assert_eq!(
            mounts,
            vec![
                mount("/data/spaces/space-1", "/spaces/space-1", false),
                mount("/data/global/AGENTS.md", "/root/.pi/agent/AGENTS.md", true),
                mount("/data/global/extensions", "/root/.pi/agent/extensions", true),
                mount("/data/global/settings.json", "/root/.pi/agent/settings.json", true),
                mount("/data/global-sessions/space-1", "/root/.pi/agent/sessions", false),
            ]
        );
        // Nothing of the shared folder is writable, and nothing is mounted at the folder itself.
        assert!(mounts.iter().filter(|m| m.source.starts_with("/data/global/")).all(|m| m.read_only));
        assert!(!mounts.iter().any(|m| m.target == "/root/.pi/agent" || m.source == "/data/global"));
        // With no entry at all, the space still has its sessions folder.
        let empty = AgentDirView::Isolated { entries: vec![], sessions: "/data/global-sessions/space-1".into() };
        let mounts = container_mounts(&isolated, &request(), &empty, None, |_| true).unwrap();
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[1], mount("/data/global-sessions/space-1", "/root/.pi/agent/sessions", false));
    }

    #[test]
    fn the_default_keeps_the_whole_agent_folder_read_write() {
        let mounts = container_mounts(&settings(), &request(), &AgentDirView::Shared, None, |_| true).unwrap();
        assert_eq!(
            mounts[1],
            BindMount { source: "/data/global".into(), target: "/root/.pi/agent".into(), read_only: false }
        );
    }

    #[test]
    fn no_host_mapping_without_a_network() {
        let mut offline = settings();
        offline.hardening.network = Some("none".into());
        assert!(container_spec(&offline, "n".into(), vec![], vec![]).extra_hosts.is_empty());
    }

    #[test]
    fn spec_carries_name_env_and_host_gateway() {
        let spec = container_spec(&settings(), container_name(1700000000000, 3), pairs(&[("A", "1")]), vec![]);
        assert_eq!(spec.name, "mercury-1700000000000-3");
        assert_eq!(spec.env, ["A=1"]);
        assert_eq!(spec.extra_hosts, ["host.docker.internal:host-gateway"]);
        assert_eq!(spec.image, "mercury-agent:latest");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::core::engine::container::Hardening;
    use crate::core::turn::config::PackageRoot;
    use proptest::prelude::*;

    fn settings() -> RunnerSettings {
        RunnerSettings {
            image: "i".into(),
            timeout_ms: 1,
            global_dir: "/g".into(),
            spaces_dir: "/s".into(),
            sessions_dir: "/g-sessions".into(),
            model_provider: "anthropic".into(),
            auth_path: None,
            port: "1".into(),
            package_root: PackageRoot::None,
            memory_limit: None,
            hardening: Hardening::default(),
        }
    }

    proptest! {
        #[test]
        fn env_is_well_formed_or_refused(
            host in proptest::collection::vec(("(MERCURY_)?[A-Z_=]{0,6}", ".{0,6}"), 0..6),
            extra in proptest::collection::vec(("[A-Z_=\\x00]{0,5}", ".{0,6}"), 0..6),
            token in proptest::option::of("[a-z]{1,5}"),
        ) {
            let request = ReplyRequest { space_id: "s".into(), caller_id: "c".into(), extra_env: extra.clone(), host_env: host.clone(), ..ReplyRequest::default() };
            let well_formed_name = |n: &str| !n.is_empty() && !n.contains('=') && !n.contains('\0');
            // Everything the caller gave is well formed: it must be accepted (refusing all is no answer).
            let all_well_formed = host.iter().all(|(n, v)| match n.strip_prefix("MERCURY_") {
                Some(bare) => bare.is_empty() || (well_formed_name(bare) && !v.contains('\0')),
                None => true,
            }) && token.as_deref().is_none_or(|t| !t.contains('\0'))
                && extra.iter().all(|(n, v)| well_formed_name(n) && !v.contains('\0'));
            // The last extraEnv entry for a name always reaches the agent: a malformed one must be refused.
            let last_extra_malformed = extra.iter().enumerate().any(|(i, (n, v))| {
                !extra[i + 1..].iter().any(|(later, _)| later == n) && (!well_formed_name(n) || v.contains('\0'))
            });
            let outcome = container_env(&settings(), &request, token.as_deref());
            if all_well_formed {
                prop_assert!(outcome.is_ok(), "well-formed input refused: {:?}", outcome);
            }
            if last_extra_malformed {
                prop_assert!(matches!(outcome, Err(RunError::InvalidInput(_))), "malformed extraEnv accepted: {:?}", outcome);
            }
            match outcome {
                Ok(env) => {
                    let mut names = std::collections::HashSet::new();
                    for (name, value) in &env {
                        prop_assert!(!name.is_empty() && !name.contains('=') && !name.contains('\0'));
                        // Only an extraEnv entry may be empty.
                        prop_assert!(!value.contains('\0'));
                        prop_assert!(!value.is_empty() || extra.iter().any(|(n, _)| n == name));
                        prop_assert!(names.insert(name.clone()), "duplicate {}", name);
                    }
                    // The last extraEnv value for a name is what the agent sees.
                    for (name, value) in extra.iter().rev() {
                        let last = extra.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v);
                        if last == Some(value) {
                            prop_assert!(env.contains(&(name.clone(), value.clone())));
                        }
                    }
                }
                Err(RunError::InvalidInput(_)) => {}
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod payload_tests {
    use super::*;

    #[test]
    fn rewrites_the_first_occurrence_only() {
        assert_eq!(container_workspace("/data/spaces/s1", "/data/spaces"), "/spaces/s1");
        assert_eq!(container_workspace("/data/spaces/x/data/spaces", "/data/spaces"), "/spaces/x/data/spaces");
        assert_eq!(container_workspace("/elsewhere/s1", "/data/spaces"), "/elsewhere/s1");
        assert_eq!(container_workspace("/w", ""), "/spaces/w");
    }

    #[test]
    fn role_defaults_to_member() {
        assert_eq!(caller_role(None), "member");
        assert_eq!(caller_role(Some("admin")), "admin");
    }
}

#[cfg(test)]
mod payload_oracle {
    //! `container_workspace` against JavaScript's own `String.prototype.replace`, run in node
    //! on a seeded corpus (the expected values come from JavaScript, not from a second Rust
    //! version of the same rule).
    use super::*;
    use crate::core::node_oracle::answer_lines;

    /// Pieces the workspaces and folders are made of: separators, repeats of a folder, text
    /// that looks like a replacement pattern, and characters beyond ASCII and the BMP.
    const PIECES: &[&str] = &["/", "/data", "/spaces", "s1", "data", "$&", "$1", "é", "😀", ".", " ", ""];

    /// xorshift64*: a fixed seed makes a failure reproducible.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
        }

        /// One to `parts` pieces, joined.
        fn text(&mut self, parts: usize) -> String {
            (0..self.below(parts) + 1).map(|_| PIECES[self.below(PIECES.len())]).collect()
        }
    }

    fn corpus() -> Vec<(String, String)> {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut cases = Vec::new();
        for _ in 0..2000 {
            let dir = rng.text(3);
            let workspace = match rng.below(3) {
                // The folder inside the workspace, once or more; or not at all.
                0 => format!("{}{dir}{}", rng.text(3), rng.text(4)),
                1 => format!("{dir}{}{dir}{}", rng.text(2), rng.text(2)),
                _ => rng.text(6),
            };
            cases.push((workspace, dir));
        }
        cases
    }

    #[test]
    fn matches_javascripts_replace_in_node() {
        let cases = corpus();
        let answers: Vec<String> = answer_lines("workspace_replace_oracle.js", &cases, "JavaScript's replace")
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // The corpus does exercise both sides: folders found and folders absent.
        assert!(cases.iter().any(|(w, d)| !d.is_empty() && w.contains(d.as_str())));
        assert!(cases.iter().any(|(w, d)| !w.contains(d.as_str())));
        for ((workspace, spaces_dir), expected) in cases.iter().zip(&answers) {
            assert_eq!(
                &container_workspace(workspace, spaces_dir),
                expected,
                "workspace {workspace:?}, spacesDir {spaces_dir:?}"
            );
        }
    }
}
