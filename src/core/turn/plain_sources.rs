//! With `isolateSpaces`, the bind sources a turn checked, checked again right
//! before a standby is created from that turn's spec.
//!
//! The engine follows a link in a bind's source, wherever it points by then.
//! A turn refuses a space or sessions folder that is a link, and lists the
//! agent folder's entries without links, right before its own create. A
//! standby is created after the turn, from the same spec: by then an agent
//! that can write `spacesDir` (that of a runner without isolation, which
//! mounts it whole) may have made the space folder a link to any folder of the
//! host, and the standby's agent runs, idle, with that folder mounted
//! read-write whether or not a turn ever claims it. So the same checks run
//! again first; a source that fails them gets no standby, and a warn line.

use std::path::{Path, PathBuf};

use super::agent_dir::{sessions_folder, AgentDirView};
use super::config::RunnerSettings;
use super::layout::space_folder;
use crate::core::error::RunError;

/// The paths to check, each by its own type (a link is never followed).
/// Empty without isolation: then every source is the operator's own folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PlainSources {
    /// Each must be a folder: the space's, and its sessions folder.
    folders: Vec<PathBuf>,
    /// Each must be a folder or a regular file: the agent folder's entries.
    entries: Vec<PathBuf>,
}

impl PlainSources {
    /// What a turn of `space_id` checked, for the mounts `agent_dir` gives.
    pub(crate) fn of_turn(
        settings: &RunnerSettings,
        space_id: &str,
        agent_dir: &AgentDirView,
    ) -> Result<PlainSources, RunError> {
        if !settings.hardening.isolate_spaces {
            return Ok(PlainSources::default());
        }
        let folders = vec![space_folder(&settings.spaces_dir, space_id)?, sessions_folder(settings, space_id)?];
        let entries = match agent_dir {
            AgentDirView::Shared => Vec::new(),
            AgentDirView::Isolated { entries, .. } => entries.iter().map(|e| settings.global_dir.join(e)).collect(),
        };
        Ok(PlainSources { folders, entries })
    }

    /// The first source that is no longer what the turn found, and why.
    /// Blocking: call it off the async threads.
    pub(crate) fn check(&self) -> Result<(), String> {
        for folder in &self.folders {
            match std::fs::symlink_metadata(folder) {
                Ok(meta) if meta.file_type().is_dir() => {}
                Ok(_) => return Err(not_plain_folder(folder)),
                Err(e) => return Err(format!("cannot examine {}: {e}", folder.display())),
            }
        }
        for entry in &self.entries {
            match std::fs::symlink_metadata(entry) {
                Ok(meta) if meta.file_type().is_dir() || meta.file_type().is_file() => {}
                Ok(_) => {
                    return Err(format!("{} is neither a plain folder nor a plain file (a link?)", entry.display()))
                }
                Err(e) => return Err(format!("cannot examine {}: {e}", entry.display())),
            }
        }
        Ok(())
    }
}

/// What a turn and a standby say of a folder that is not a plain one.
pub(crate) fn not_plain_folder(folder: &Path) -> String {
    format!("{} is not a plain folder (a link?): refusing to mount it", folder.display())
}

// Unix: links made the unix way.
#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    use crate::core::engine::container::Hardening;
    use crate::core::turn::config::PackageRoot;

    fn settings(root: &Path, isolate_spaces: bool) -> RunnerSettings {
        RunnerSettings {
            image: "img".into(),
            spaces_dir: root.join("spaces"),
            global_dir: root.join("global"),
            sessions_dir: root.join("sessions"),
            timeout_ms: 1,
            model_provider: "anthropic".into(),
            port: "1".into(),
            auth_path: None,
            package_root: PackageRoot::None,
            memory_limit: None,
            hardening: Hardening { isolate_spaces, ..Hardening::default() },
        }
    }

    #[test]
    fn each_source_swapped_for_a_link_fails_the_check() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let s = settings(root, true);
        for dir in ["spaces/s1", "sessions/s1", "global/extensions", "elsewhere"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("global/settings.json"), b"{}").unwrap();
        let view = AgentDirView::Isolated {
            entries: vec!["extensions".into(), "settings.json".into()],
            sessions: root.join("sessions/s1"),
        };
        let sources = PlainSources::of_turn(&s, "s1", &view).unwrap();
        assert_eq!(sources.check(), Ok(()));

        for swapped in ["spaces/s1", "sessions/s1", "global/extensions", "global/settings.json"] {
            let path = root.join(swapped);
            let aside = root.join("aside");
            std::fs::rename(&path, &aside).unwrap();
            symlink(root.join("elsewhere"), &path).unwrap();
            let reason = sources.check().unwrap_err();
            assert!(reason.starts_with(&path.display().to_string()), "{reason}");
            assert!(reason.contains("(a link?)"), "{reason}");
            std::fs::remove_file(&path).unwrap();
            std::fs::rename(&aside, &path).unwrap();
            assert_eq!(sources.check(), Ok(()));
        }

        std::fs::remove_dir(root.join("spaces/s1")).unwrap();
        assert!(sources.check().unwrap_err().starts_with("cannot examine"));
    }

    #[test]
    fn without_isolation_nothing_is_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let sources = PlainSources::of_turn(&settings(tmp.path(), false), "any", &AgentDirView::Shared).unwrap();
        assert_eq!(sources, PlainSources::default());
        assert_eq!(sources.check(), Ok(()));
    }
}
