//! Host paths as Node's `path.resolve` and the host's package lookup see them.

use std::path::{Component, Path, PathBuf};

/// `path.resolve(cwd, p)`: absolute, with `.` and `..` folded and no trailing slash.
pub(crate) fn resolve(cwd: &Path, p: &str) -> PathBuf {
    let joined = cwd.join(p);
    let mut out = PathBuf::from("/");
    for part in joined.components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The folder holding the nearest `package.json` above the real path of `main_script`.
pub(crate) fn package_root_of(main_script: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(main_script).ok()?;
    real.ancestors().skip(1).find(|dir| dir.join("package.json").is_file()).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_node() {
        let cwd = Path::new("/srv/app");
        assert_eq!(resolve(cwd, "data/spaces"), PathBuf::from("/srv/app/data/spaces"));
        assert_eq!(resolve(cwd, "./data/../global/"), PathBuf::from("/srv/app/global"));
        assert_eq!(resolve(cwd, "/abs//x/./y"), PathBuf::from("/abs/x/y"));
        assert_eq!(resolve(cwd, "../../../.."), PathBuf::from("/"));
        assert_eq!(resolve(cwd, ""), PathBuf::from("/srv/app"));
    }

    #[test]
    #[cfg(unix)] // a unix symlink
    fn finds_the_nearest_package_json_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pkg");
        std::fs::create_dir_all(root.join("dist/bin")).unwrap();
        std::fs::write(root.join("package.json"), "{}").unwrap();
        std::fs::write(root.join("dist/bin/main.js"), "").unwrap();
        let link = dir.path().join("main-link.js");
        std::os::unix::fs::symlink(root.join("dist/bin/main.js"), &link).unwrap();
        let expected = std::fs::canonicalize(&root).unwrap();
        assert_eq!(package_root_of(&link), Some(expected.clone()));
        assert_eq!(package_root_of(&root.join("dist/bin/main.js")), Some(expected));
        assert_eq!(package_root_of(&dir.path().join("missing.js")), None);
    }
}
