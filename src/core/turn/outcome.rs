//! Turns how a container ended, and what it printed, into the run's result.

use crate::core::error::{RunError, KILLED_EXIT_CODE};
use crate::core::untrusted::output::{OutputScanner, ResultSpan, MAX_RESULT_BYTES};
use crate::core::untrusted::result_json::{reply_of, ReplyText};

/// How the container ended, with what the runner did to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ending {
    pub exit_code: i64,
    pub timed_out: bool,
    pub aborted: bool,
    /// The engine's `State.OOMKilled` for this container.
    pub oom_killed: bool,
}

/// [`outcome_text`] with the reply as a Rust string (a lone surrogate becomes
/// U+FFFD): what the tests below compare.
#[cfg(test)]
fn outcome(space_id: &str, ending: Ending, output: &mut OutputScanner) -> Result<String, RunError> {
    outcome_text(space_id, ending, output).map(ReplyText::into_string_lossy)
}

/// The contract's precedence: timeout, abort, 137, other non-zero, then the
/// result, its reply exactly as `JSON.parse` gives it, lone surrogates included.
pub(crate) fn outcome_text(space_id: &str, ending: Ending, output: &mut OutputScanner) -> Result<ReplyText, RunError> {
    let space_id = space_id.to_owned();
    if ending.timed_out {
        return Err(RunError::Timeout { space_id });
    }
    if ending.aborted {
        return Err(RunError::Aborted { space_id });
    }
    match ending.exit_code {
        0 => parse_result(output),
        KILLED_EXIT_CODE => {
            Err(RunError::OutOfMemory { space_id, exit_code: KILLED_EXIT_CODE, oom_killed: ending.oom_killed })
        }
        code => Err(RunError::Failed {
            exit_code: code,
            output: if output.stderr.is_empty() { output.stdout.text() } else { output.stderr.text() },
        }),
    }
}

fn parse_result(output: &mut OutputScanner) -> Result<ReplyText, RunError> {
    let text = match output.take_result() {
        ResultSpan::Text(text) => text,
        ResultSpan::TooLarge => {
            return Err(RunError::Malformed(format!("result exceeds {} MiB", MAX_RESULT_BYTES >> 20)))
        }
        ResultSpan::Missing => {
            let shown = if output.stdout.is_empty() { output.stderr.text() } else { output.stdout.text() };
            return Err(RunError::NoResult(shown));
        }
    };
    // Validated and read without building a tree, the reply made in the span's
    // own buffer: memory stays at the span's size.
    reply_of(text).map_err(RunError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(stdout: &str, stderr: &str) -> OutputScanner {
        let mut s = OutputScanner::default();
        s.push_stdout(stdout.as_bytes());
        s.push_stderr(stderr.as_bytes());
        s
    }

    fn ok_output(json: &str) -> OutputScanner {
        scanned(&format!("---MERCURY_CONTAINER_RESULT_START---\n{json}\n---MERCURY_CONTAINER_RESULT_END---\n"), "")
    }

    fn exit(code: i64) -> Ending {
        Ending { exit_code: code, ..Ending::default() }
    }

    #[test]
    fn reply_field_or_done() {
        assert_eq!(outcome("s", exit(0), &mut ok_output(r#"{"reply":"hello"}"#)), Ok("hello".into()));
        assert_eq!(outcome("s", exit(0), &mut ok_output(r#"{"other":1}"#)), Ok("Done.".into()));
        assert_eq!(outcome("s", exit(0), &mut ok_output(r#"{"reply":null}"#)), Ok("Done.".into()));
        assert_eq!(outcome("s", exit(0), &mut ok_output(r#"[1,2]"#)), Ok("Done.".into()));
        assert_eq!(outcome("s", exit(0), &mut ok_output(r#"{"reply":42}"#)), Ok("42".into()));
    }

    #[test]
    fn precedence_timeout_abort_oom_error() {
        let mut out = ok_output(r#"{"reply":"x"}"#);
        let all = Ending { exit_code: 137, timed_out: true, aborted: true, oom_killed: true };
        assert_eq!(outcome("s", all, &mut out), Err(RunError::Timeout { space_id: "s".into() }));
        assert_eq!(
            outcome("s", Ending { timed_out: false, ..all }, &mut out),
            Err(RunError::Aborted { space_id: "s".into() })
        );
        assert_eq!(
            outcome("s", Ending { timed_out: false, aborted: false, ..all }, &mut out),
            Err(RunError::OutOfMemory { space_id: "s".into(), exit_code: 137, oom_killed: true })
        );
    }

    #[test]
    fn failure_quotes_stderr_then_stdout() {
        assert_eq!(
            outcome("s", exit(3), &mut scanned("out", "err")),
            Err(RunError::Failed { exit_code: 3, output: "err".into() })
        );
        assert_eq!(
            outcome("s", exit(4), &mut scanned("out", "")),
            Err(RunError::Failed { exit_code: 4, output: "out".into() })
        );
    }

    #[test]
    fn missing_markers_quote_stdout_then_stderr() {
        assert_eq!(outcome("s", exit(0), &mut scanned("just talk", "e")), Err(RunError::NoResult("just talk".into())));
        assert_eq!(outcome("s", exit(0), &mut scanned("", "only err")), Err(RunError::NoResult("only err".into())));
    }

    #[test]
    fn replies_are_json_parse_s() {
        // A BOM that JS trim() removes, nesting serde refused, a lone surrogate kept for the binding.
        let deep = format!("\u{FEFF}{{\"reply\":\"d\",\"x\":{}{}}}", "[".repeat(500), "]".repeat(500));
        assert_eq!(outcome("s", exit(0), &mut ok_output(&deep)), Ok("d".into()));
        let cut = || ok_output(r#"{"reply":"cut \ud83d"}"#);
        assert_eq!(
            outcome_text("s", exit(0), &mut cut()),
            Ok(ReplyText::Utf16("cut ".encode_utf16().chain([0xD83D]).collect()))
        );
        assert_eq!(outcome("s", exit(0), &mut cut()), Ok("cut \u{FFFD}".into()));
        // U+0085 is not JS whitespace: JSON.parse throws.
        assert_eq!(outcome("s", exit(0), &mut ok_output("\u{85}{}")), Err(RunError::Malformed("\u{85}{}".into())));
    }

    #[test]
    fn malformed_quotes_200_characters() {
        let junk = "x".repeat(300);
        assert_eq!(outcome("s", exit(0), &mut ok_output(&junk)), Err(RunError::Malformed("x".repeat(200))));
    }
}
