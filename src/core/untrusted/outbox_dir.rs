//! Where a space's outbox lies and how a reader opens it: `<workspace>/outbox`,
//! with the workspace checked to lie inside `spacesDir` and the folders below
//! it opened one by one from there (`outbox_fs`), and how many of its entries
//! any reader examines. The scan (`outbox`) and the claim's snapshot
//! (`outbox_since`) both read the folder this way.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use super::outbox_fs::{open_outbox, OutboxDir};

/// At most this many directory entries are examined (one `fstatat` each), so a
/// million-entry outbox costs a bounded time, not one the agent picks.
pub(crate) const MAX_OUTBOX_ENTRIES_EXAMINED: usize = 10_000;

/// `spaces_dir` normalised, and the Normal components of `workspace` below it,
/// compared lexically (`.` dropped; `..` refused in the workspace, resolved
/// lexically in the trusted spaces_dir, as the host's `path.resolve` does).
pub(crate) fn workspace_within<'w>(
    spaces_dir: &Path,
    workspace: &'w Path,
) -> Result<(PathBuf, Vec<&'w OsStr>), String> {
    let mut base: Vec<Component> = Vec::new();
    for component in spaces_dir.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(base.last(), Some(Component::Normal(_))) => {
                base.pop();
            }
            other => base.push(other),
        }
    }
    let mut rest = Vec::new();
    let mut components = workspace.components().filter(|c| *c != Component::CurDir);
    for expected in &base {
        match components.next() {
            Some(c) if c == *expected => {}
            _ => return Err(format!("workspace {} is not inside {}", workspace.display(), spaces_dir.display())),
        }
    }
    for component in components {
        match component {
            Component::Normal(name) => rest.push(name),
            _ => return Err(format!("workspace {} has a '..' component", workspace.display())),
        }
    }
    Ok((base.iter().collect(), rest))
}

/// `<workspace>/outbox`, opened as every reader opens it. `Ok(None)`: missing;
/// `Err`: why it is refused.
pub(crate) fn open_outbox_of(spaces_dir: &Path, workspace: &Path) -> Result<Option<OutboxDir>, String> {
    let (base, relative) = workspace_within(spaces_dir, workspace)?;
    open_outbox(&base, &relative)
}
