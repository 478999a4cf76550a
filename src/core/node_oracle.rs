//! Test only: JavaScript itself as the oracle. A script under `testdata/` reads
//! one JSON case a line and answers one JSON line per case, so the expected
//! values come from node, not from a second Rust version of the same rule.

use std::io::Write;
use std::process::Command;

/// Runs `testdata/<script>` in node over `cases` (one JSON line each) and
/// returns its answer lines, one per case.
pub(crate) fn answer_lines<T: serde::Serialize>(script: &str, cases: &[T], what: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    for case in cases {
        // A JSON string per line: node gets every code unit exactly.
        writeln!(file, "{}", serde_json::to_string(case).unwrap()).unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core/testdata").join(script);
    let output = Command::new("node")
        .arg(script)
        .arg(&input)
        .output()
        .unwrap_or_else(|e| panic!("node must be installed: this test compares against {what}: {e}"));
    assert!(output.status.success(), "oracle failed: {}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), cases.len(), "one answer per case");
    lines
}
