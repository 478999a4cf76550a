//! The folders a turn mounts, made and checked before its container is
//! created: the global and spaces folders, and with `isolateSpaces` the
//! space's own folder, its sessions folder, and the view of the agent folder.

use std::path::Path;

use super::agent_dir::{self, sessions_folder, AgentDirView};
use super::config::RunnerSettings;
use super::layout::space_folder;
use super::plain_sources::not_plain_folder;
use super::spec::ReplyRequest;
use crate::core::error::RunError;

/// Makes the folders the turn mounts (a link where a folder must be is refused).
pub(crate) async fn create_dirs(settings: &RunnerSettings, request: &ReplyRequest) -> Result<(), RunError> {
    for dir in [&settings.global_dir, &settings.spaces_dir] {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| RunError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    if settings.hardening.isolate_spaces {
        // The engine follows links in a bind's source: a space folder that an
        // agent (of a runner without isolation) replaced by a link is refused.
        own_folder(&space_folder(&settings.spaces_dir, &request.space_id)?).await?;
        // Only the runner reads the sessions folders' parent: no container mounts it.
        let mut parent = tokio::fs::DirBuilder::new();
        parent.recursive(true);
        // On Windows the folder takes its parent's ACL (under the user's profile
        // by default); there is no mode to give.
        #[cfg(unix)]
        parent.mode(0o700);
        parent
            .create(&settings.sessions_dir)
            .await
            .map_err(|e| RunError::Io(format!("cannot create {}: {e}", settings.sessions_dir.display())))?;
        own_folder(&sessions_folder(settings, &request.space_id)?).await?;
    }
    Ok(())
}

/// Creates `folder` unless it exists (its last component is never followed),
/// and refuses it unless it is a plain folder: not a link, which the engine
/// would follow when binding it.
async fn own_folder(folder: &Path) -> Result<(), RunError> {
    match tokio::fs::create_dir(folder).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(RunError::Io(format!("cannot create {}: {e}", folder.display()))),
    }
    let meta = tokio::fs::symlink_metadata(folder)
        .await
        .map_err(|e| RunError::Io(format!("cannot examine {}: {e}", folder.display())))?;
    if !meta.file_type().is_dir() {
        return Err(RunError::Io(not_plain_folder(folder)));
    }
    Ok(())
}

/// What the container mounts of the agent folder: the whole folder by default;
/// with `isolateSpaces`, its entries as listed now (a warn line names those
/// left out for being links or not plain) and the space's sessions folder.
pub(crate) async fn agent_dir_view(
    settings: &RunnerSettings,
    request: &ReplyRequest,
) -> Result<AgentDirView, RunError> {
    if !settings.hardening.isolate_spaces {
        return Ok(AgentDirView::Shared);
    }
    let listing = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || agent_dir::list(&settings))
            .await
            .map_err(|e| RunError::Io(format!("listing the agent folder failed: {e}")))??
    };
    if !listing.skipped.is_empty() {
        // Quoted and escaped: a name left out for its control characters must not reach the log raw.
        let names: Vec<String> = listing.skipped.iter().map(|name| format!("{name:?}")).collect();
        tracing::warn!(
            path = %settings.global_dir.display(),
            entries = names.join(", "),
            "Agent folder entries not mounted: links, special files or names with control characters"
        );
    }
    let sessions = sessions_folder(settings, &request.space_id)?;
    Ok(AgentDirView::Isolated { entries: listing.entries, sessions })
}
