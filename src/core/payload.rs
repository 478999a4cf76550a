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
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_javascripts_first_occurrence_replace(prefix in ".{0,8}", dir in "/[a-z/]{1,12}", suffix in ".{0,12}") {
            let ws = format!("{prefix}{dir}{suffix}");
            let at = ws.find(&dir).map(|i| (i, i + dir.len()));
            let expected = match at {
                Some((i, j)) => format!("{}/spaces{}", &ws[..i], &ws[j..]),
                None => ws.clone(),
            };
            prop_assert_eq!(container_workspace(&ws, &dir), expected);
        }
    }
}
