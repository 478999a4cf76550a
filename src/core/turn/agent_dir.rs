//! The agent folder (`globalDir`, the agent's `/root/.pi/agent`) as a
//! container sees it.
//!
//! By default it is mounted whole and read-write, as the TypeScript runner
//! mounts it: every space's agent can read the operator's `auth.json` and plant
//! settings, extensions or `AGENTS.md` that every other space's agent loads.
//!
//! With `isolateSpaces` it is no channel between spaces:
//! - each entry of the folder is bound read-only on its own, at
//!   `/root/.pi/agent/<entry>`, listed at the turn and sorted (a standby is
//!   compared by its spec, so the same folder must give the same mounts);
//! - the login is not among them: `auth.json`, the entry holding `authPath` when
//!   it lies in the folder, and their `<name>.*` companions (the lock and
//!   temporary files of a login hold or guard the same secret). The token
//!   travels in the environment; the file is absent in the container, and one
//!   written later (a login while a standby waits) does not appear in it;
//! - `/root/.pi/agent/sessions`, where pi writes, is the space's own
//!   `<sessionsDir>/<spaceId>`, read-write, in a folder no other space's
//!   container mounts.
//!
//! Why one bind per entry rather than the alternatives:
//! - the whole folder read-only, with an empty file bound over `auth.json`:
//!   the file shows (empty), the bind needs it to exist when the container is
//!   created, and a file that appears later shows in every running container;
//! - a copy of the folder per turn: costs the size of the extensions (a
//!   `node_modules` can be large) on every turn, or change tracking;
//! - the space's writable folder at `/root/.pi/agent` with the entries bound
//!   over it: the engine then creates each mount point inside that host
//!   folder, where the agent can replace it by a link or by a file of the
//!   other kind before the next create.
//!
//! What one bind per entry costs: each is one mount in the container's start;
//! `MAX_AGENT_DIR_ENTRIES` bounds how many. `/root/.pi/agent` itself is then
//! the image's folder: a name the agent creates there beside the entries stays
//! in its own container and goes with it.

use std::path::{Component, PathBuf};

use super::config::RunnerSettings;
use super::layout::space_folder;
use crate::core::error::RunError;

/// Where the agent folder is mounted, and where pi looks for it (`PI_CODING_AGENT_DIR`).
pub(crate) const AGENT_DIR_TARGET: &str = "/root/.pi/agent";

/// The entry pi writes its sessions to: never bound from the shared folder
/// under isolation; the space's own folder is mounted there instead.
pub(crate) const SESSIONS_ENTRY: &str = "sessions";

/// The login pi keeps in the agent folder, hidden under isolation whatever `authPath` says.
pub(crate) const AUTH_ENTRY: &str = "auth.json";

/// At most this many entries in `globalDir` under isolation: each is one
/// mount in every container's start, so a folder with more fails the turn
/// (a pi agent folder has about a dozen).
pub(crate) const MAX_AGENT_DIR_ENTRIES: usize = 64;

/// What the container mounts of the agent folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AgentDirView {
    /// The whole folder, read-write (the default, as the TypeScript runner).
    Shared,
    /// These entries of the folder, each read-only, sorted; `sessions` is the
    /// space's own folder, read-write.
    Isolated { entries: Vec<String>, sessions: PathBuf },
}

/// The agent folder's listing under isolation: what is bound, and what was
/// left out for being a link, neither a file nor a folder, or not a plain name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Listing {
    pub entries: Vec<String>,
    pub skipped: Vec<String>,
}

/// The names hidden from the container: `sessions`, and the login's.
fn hidden(settings: &RunnerSettings, name: &str) -> bool {
    if name == SESSIONS_ENTRY {
        return true;
    }
    let login = settings.auth_path();
    let holding_auth = match login.strip_prefix(&settings.global_dir).ok().and_then(|rest| rest.components().next()) {
        Some(Component::Normal(first)) => first.to_str(),
        _ => None,
    };
    let login_or_companion =
        |secret: &str| name == secret || name.strip_prefix(secret).is_some_and(|rest| rest.starts_with('.'));
    login_or_companion(AUTH_ENTRY) || holding_auth.is_some_and(login_or_companion)
}

/// A name the engine and the log take as it is: UTF-8, no control characters.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_control)
}

/// Lists `globalDir` for an isolated container: its directories and regular
/// files by their own type (a link is never followed: the engine follows one
/// in a bind's source, wherever it points by then), the hidden names left
/// out, sorted. Blocking: call it off the async threads.
pub(crate) fn list(settings: &RunnerSettings) -> Result<Listing, RunError> {
    let dir = &settings.global_dir;
    let io = |e: std::io::Error| RunError::Io(format!("cannot list {}: {e}", dir.display()));
    let mut listing = Listing::default();
    for (examined, entry) in std::fs::read_dir(dir).map_err(io)?.enumerate() {
        if examined >= MAX_AGENT_DIR_ENTRIES {
            return Err(RunError::Io(format!(
                "{} has more than {MAX_AGENT_DIR_ENTRIES} entries: isolateSpaces mounts each on its own",
                dir.display()
            )));
        }
        let entry = entry.map_err(io)?;
        let raw = entry.file_name();
        let Some(name) = raw.to_str().filter(|n| plain_name(n)) else {
            listing.skipped.push(raw.to_string_lossy().into_owned());
            continue;
        };
        if hidden(settings, name) {
            continue;
        }
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() || kind.is_file() {
            listing.entries.push(name.to_owned());
        } else {
            listing.skipped.push(name.to_owned());
        }
    }
    listing.entries.sort();
    listing.skipped.sort();
    Ok(listing)
}

/// The space's own sessions folder, `<sessionsDir>/<spaceId>` (the space id
/// follows the space folder's rules).
pub(crate) fn sessions_folder(settings: &RunnerSettings, space_id: &str) -> Result<PathBuf, RunError> {
    space_folder(&settings.sessions_dir, space_id)
}

/// Under isolation, the folder a container can write that holds `authPath`, if
/// any: the built-in resolver does not read a login an agent could have written.
pub(crate) fn auth_path_writable_by_agents(settings: &RunnerSettings) -> Option<&'static str> {
    if !settings.hardening.isolate_spaces {
        return None;
    }
    let login = settings.auth_path();
    if login.starts_with(&settings.spaces_dir) {
        Some("config.spacesDir")
    } else if login.starts_with(&settings.sessions_dir) {
        Some("options.sessionsDir")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::container::Hardening;
    use crate::core::turn::config::PackageRoot;
    use std::path::Path;

    fn settings(global: &Path) -> RunnerSettings {
        RunnerSettings {
            image: "i".into(),
            timeout_ms: 1,
            global_dir: global.to_path_buf(),
            spaces_dir: "/data/spaces".into(),
            sessions_dir: "/data/global-sessions".into(),
            model_provider: "anthropic".into(),
            auth_path: None,
            port: "1".into(),
            package_root: PackageRoot::None,
            memory_limit: None,
            hardening: Hardening { isolate_spaces: true, ..Hardening::default() },
        }
    }

    #[test]
    #[cfg(unix)] // symlinks and FIFOs made the unix way
    fn lists_files_and_folders_sorted_without_the_login_sessions_or_links() {
        let dir = tempfile::tempdir().unwrap();
        let g = dir.path();
        for file in ["settings.json", "AGENTS.md", "auth.json", "auth.json.tmp-1", "authority.md", "models.json"] {
            std::fs::write(g.join(file), "x").unwrap();
        }
        for folder in ["extensions", "skills", "sessions", "auth.json.lock"] {
            std::fs::create_dir(g.join(folder)).unwrap();
        }
        std::os::unix::fs::symlink("/etc", g.join("prompts")).unwrap();
        std::os::unix::fs::symlink("settings.json", g.join("linked.json")).unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, g.join("pipe"), rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        std::fs::write(g.join("bell\x07.md"), "x").unwrap();
        let listing = list(&settings(g)).unwrap();
        assert_eq!(
            listing.entries,
            ["AGENTS.md", "authority.md", "extensions", "models.json", "settings.json", "skills"]
        );
        assert_eq!(listing.skipped, ["bell\x07.md", "linked.json", "pipe", "prompts"]);
    }

    #[test]
    fn an_auth_path_inside_the_global_dir_hides_its_top_entry() {
        let dir = tempfile::tempdir().unwrap();
        let g = dir.path();
        std::fs::create_dir(g.join("creds")).unwrap();
        std::fs::write(g.join("creds.bak"), "x").unwrap();
        std::fs::write(g.join("token.json"), "x").unwrap();
        let mut s = settings(g);
        s.auth_path = Some(g.join("creds/anthropic.json"));
        assert_eq!(list(&s).unwrap().entries, ["token.json"]);
        s.auth_path = Some(g.join("token.json"));
        assert_eq!(list(&s).unwrap().entries, ["creds", "creds.bak"]);
        s.auth_path = Some("/etc/mercury/auth.json".into());
        assert_eq!(list(&s).unwrap().entries, ["creds", "creds.bak", "token.json"]);
    }

    #[test]
    fn a_folder_with_too_many_entries_fails_the_turn() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_AGENT_DIR_ENTRIES {
            std::fs::write(dir.path().join(format!("f{i}")), "x").unwrap();
        }
        assert_eq!(list(&settings(dir.path())).unwrap().entries.len(), MAX_AGENT_DIR_ENTRIES);
        std::fs::write(dir.path().join("one-more"), "x").unwrap();
        assert!(matches!(list(&settings(dir.path())), Err(RunError::Io(_))));
    }

    #[test]
    fn a_login_in_a_folder_agents_can_write_is_named() {
        let mut s = settings(Path::new("/data/global"));
        assert_eq!(auth_path_writable_by_agents(&s), None);
        s.auth_path = Some("/data/spaces/a/auth.json".into());
        assert_eq!(auth_path_writable_by_agents(&s), Some("config.spacesDir"));
        s.auth_path = Some("/data/global-sessions/a/auth.json".into());
        assert_eq!(auth_path_writable_by_agents(&s), Some("options.sessionsDir"));
        s.auth_path = Some("/etc/mercury/auth.json".into());
        assert_eq!(auth_path_writable_by_agents(&s), None);
        s.auth_path = Some("/data/spaces/a/auth.json".into());
        s.hardening.isolate_spaces = false;
        assert_eq!(auth_path_writable_by_agents(&s), None);
    }
}
