//! The two changes the runner makes to the input before handing it to the agent.

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
mod oracle {
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
