//! The two changes the runner makes to the input before handing it to the agent.

/// The workspace as the container sees it: the first occurrence of the host's
/// absolute `spacesDir` replaced by `/spaces` (JavaScript's `String.replace`).
pub fn container_workspace(host_workspace: &str, spaces_dir: &str) -> String {
    // `"abc".replace("", x)` inserts x at the front in JavaScript; replacen does the same.
    host_workspace.replacen(spaces_dir, "/spaces", 1)
}

/// `callerRole ?? "member"`.
pub fn caller_role(given: Option<&str>) -> &str {
    given.unwrap_or("member")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_the_first_occurrence_only() {
        assert_eq!(
            container_workspace("/data/spaces/s1", "/data/spaces"),
            "/spaces/s1"
        );
        assert_eq!(
            container_workspace("/data/spaces/x/data/spaces", "/data/spaces"),
            "/spaces/x/data/spaces"
        );
        assert_eq!(
            container_workspace("/elsewhere/s1", "/data/spaces"),
            "/elsewhere/s1"
        );
        assert_eq!(container_workspace("/w", ""), "/spaces/w");
    }

    #[test]
    fn role_defaults_to_member() {
        assert_eq!(caller_role(None), "member");
        assert_eq!(caller_role(Some("admin")), "admin");
    }
}
