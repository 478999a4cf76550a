//! Where the runner's folders lie: a space's own folder under `spacesDir` or
//! `sessionsDir`, the default `sessionsDir`, and, for `isolateSpaces`, the rule
//! that the three folders lie apart. Plain paths only: the settings and the
//! agent folder's view build on these.

use std::path::{Path, PathBuf};

use crate::core::error::RunError;

/// The folder of one space under `parent` (`spacesDir` or `sessionsDir`): the
/// space id must be one plain path component, or the mount could reach outside
/// `parent`.
pub(crate) fn space_folder(parent: &Path, space_id: &str) -> Result<PathBuf, RunError> {
    let plain = !space_id.is_empty()
        && space_id != "."
        && space_id != ".."
        && !space_id.contains('/')
        && !space_id.contains('\0');
    if !plain {
        return Err(RunError::InvalidInput(format!(
            "input.spaceId {space_id:?} cannot name a folder of its own (isolateSpaces needs one plain path component)"
        )));
    }
    Ok(parent.join(space_id))
}

/// The default `sessionsDir`: beside `globalDir`, as `<globalDir>-sessions`.
pub(crate) fn default_sessions_dir(global_dir: &Path) -> PathBuf {
    let mut name = global_dir.as_os_str().to_owned();
    name.push("-sessions");
    PathBuf::from(name)
}

/// Under isolation, `globalDir`, `spacesDir` and `sessionsDir` must lie apart:
/// a space folder or sessions folder that held the agent folder (or another
/// space's) would hand it to that space read-write, and an agent folder that
/// held either would show them to every space. All three absolute and normalised.
pub(crate) fn check_apart(global_dir: &Path, spaces_dir: &Path, sessions_dir: &Path) -> Result<(), String> {
    let folders =
        [("config.globalDir", global_dir), ("config.spacesDir", spaces_dir), ("options.sessionsDir", sessions_dir)];
    for (i, (name_a, a)) in folders.iter().enumerate() {
        for (name_b, b) in &folders[i + 1..] {
            if nested(a, b) {
                return Err(format!(
                    "isolateSpaces needs {name_a} ({}) and {name_b} ({}) apart, neither inside the other",
                    a.display(),
                    b.display()
                ));
            }
        }
    }
    Ok(())
}

/// Whether one of two folders is, or lies inside, the other (lexically: both
/// are absolute and normalised).
fn nested(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_space_folder_is_one_plain_component_below_its_parent() {
        assert_eq!(space_folder(Path::new("/data/spaces"), "team-a").unwrap(), PathBuf::from("/data/spaces/team-a"));
        assert_eq!(space_folder(Path::new("/data/spaces"), "..a.b").unwrap(), PathBuf::from("/data/spaces/..a.b"));
        for id in ["", ".", "..", "a/b", "../x", "/etc", "a\0b"] {
            assert!(matches!(space_folder(Path::new("/data/spaces"), id), Err(RunError::InvalidInput(_))), "{id:?}");
        }
    }

    #[test]
    fn the_default_sessions_dir_is_beside_the_global_dir() {
        assert_eq!(
            default_sessions_dir(Path::new("/srv/.mercury/global")),
            PathBuf::from("/srv/.mercury/global-sessions")
        );
    }

    #[test]
    fn the_three_folders_must_lie_apart() {
        let apart = |g: &str, s: &str, t: &str| check_apart(Path::new(g), Path::new(s), Path::new(t));
        assert_eq!(apart("/data/global", "/data/spaces", "/data/global-sessions"), Ok(()));
        let nested_cases = [
            ("/data/spaces/global", "/data/spaces", "/data/s"),
            ("/data", "/data/spaces", "/s"),
            ("/g", "/data/spaces", "/data/spaces/sessions"),
            ("/g", "/data/spaces", "/data"),
            ("/g", "/s", "/g/sessions"),
            ("/g", "/g", "/s"),
        ];
        for (global, spaces, sessions) in nested_cases {
            assert!(apart(global, spaces, sessions).is_err(), "{global} {spaces} {sessions}");
        }
        // Siblings sharing a prefix of their names are apart.
        assert_eq!(apart("/data/global", "/data/global2", "/data/s"), Ok(()));
    }
}
