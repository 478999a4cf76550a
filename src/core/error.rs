//! Every way a runner call can fail, in the contract's terms, and the one
//! description of each failure ([`ErrorReport`]) the binding hands to
//! `realm.js` to build the JavaScript error from.

use crate::core::engine::client::EngineError;

/// Why a run, a pull or a look-up failed. The binding turns each variant into
/// the JavaScript error the host expects: a `ContainerError` for the container's
/// own failures, a plain `Error` or a `TypeError` for the rest. Engine failures
/// are kept as sources, not flattened to text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RunError {
    /// The host passed a request the runner cannot use.
    #[error("{0}")]
    InvalidInput(String),
    /// The run passed `containerTimeoutMs`; its container was killed.
    #[error("{}", message::timeout(space_id))]
    Timeout { space_id: String },
    /// `abort` or `killAll` stopped the run.
    #[error("{}", message::aborted(space_id))]
    Aborted { space_id: String },
    /// The container ended with [`KILLED_EXIT_CODE`]; `oom_killed` is the engine's own verdict.
    #[error("{}", message::oom(space_id, &exit_code.to_string()))]
    OutOfMemory { space_id: String, exit_code: i64, oom_killed: bool },
    /// The agent exited with another non-zero code; `output` is its stderr, or stdout when stderr was empty.
    #[error("{}", message::failed(&exit_code.to_string(), output))]
    Failed { exit_code: i64, output: String },
    /// The engine refused the container or could not be reached (the Docker CLI's [`ENGINE_EXIT_CODE`]).
    #[error("{}", message::failed(&ENGINE_EXIT_CODE.to_string(), &.0.to_string()))]
    Engine(#[source] EngineError),
    /// The agent exited 0 without a result span; carries stdout, or stderr when stdout was empty.
    #[error("Failed to parse container result: {0}")]
    NoResult(String),
    /// The result span is not JSON; carries its first 200 characters.
    #[error("Malformed container output: {0}")]
    Malformed(String),
    /// The host's own code (its credential resolver) threw or rejected; the
    /// host gets back the very value it threw.
    #[error("{0}")]
    Host(HostFailure),
    /// Host-side file work (the space folders, the outbox) failed.
    #[error("{0}")]
    Io(String),
    /// `ensureImage` could not find or pull the image; `cause` says why.
    #[error("Failed to pull agent image: {image}\nRun manually: docker pull {image}")]
    PullFailed {
        image: String,
        #[source]
        cause: EngineError,
    },
}

/// SIGKILL's exit code: a container killed by the runner (also written for
/// one stopped before it started, as the host's runner wrote it) or by the
/// kernel's OOM killer; the contract reads it as out of memory.
pub(crate) const KILLED_EXIT_CODE: i64 = 137;
/// The exit code the Docker CLI gives when the engine refused or was lost.
pub(crate) const ENGINE_EXIT_CODE: i64 = 125;

/// Which JavaScript class a failure becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// `ContainerError`, with a reason and an exit code.
    Container,
    /// `TypeError`: bad input from the host.
    Type,
    /// `Error`, with the cause's message as its `cause` when it has one.
    Plain,
}

/// A failure as the JavaScript side builds it, in one step: class, reason,
/// exit code, message, and the details some carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorReport {
    pub(crate) class: ErrorClass,
    /// `ContainerError.reason`: "timeout", "aborted", "oom" or "error".
    pub(crate) reason: Option<&'static str>,
    /// `ContainerError.exitCode` (null for timeout and aborted).
    pub(crate) exit_code: Option<i64>,
    pub(crate) message: String,
    /// The engine's verdict on an `oom`, as `ContainerError.oomKilled`.
    pub(crate) oom_killed: Option<bool>,
    /// The source's message, as a plain `Error`'s `cause`.
    pub(crate) cause: Option<String>,
}

impl RunError {
    /// What the JavaScript side builds for this failure.
    pub(crate) fn report(&self) -> ErrorReport {
        use std::error::Error as _;
        let container = |reason, exit_code| (ErrorClass::Container, Some(reason), exit_code);
        let (class, reason, exit_code) = match self {
            RunError::Timeout { .. } => container("timeout", None),
            RunError::Aborted { .. } => container("aborted", None),
            RunError::OutOfMemory { exit_code, .. } => container("oom", Some(*exit_code)),
            RunError::Failed { exit_code, .. } => container("error", Some(*exit_code)),
            RunError::Engine(_) => container("error", Some(ENGINE_EXIT_CODE)),
            RunError::InvalidInput(_) => (ErrorClass::Type, None, None),
            RunError::PullFailed { .. }
            | RunError::NoResult(_)
            | RunError::Malformed(_)
            | RunError::Host(_)
            | RunError::Io(_) => (ErrorClass::Plain, None, None),
        };
        let oom_killed = match self {
            RunError::OutOfMemory { oom_killed, .. } => Some(*oom_killed),
            _ => None,
        };
        // A container error's message says it all; a plain one keeps its source as `cause`.
        let cause = match class {
            ErrorClass::Plain => self.source().map(|s| s.to_string()),
            _ => None,
        };
        ErrorReport { class, reason, exit_code, message: self.to_string(), oom_killed, cause }
    }
}

/// A failure raised by the host's code, kept as the host's own value (opaque
/// here: the binding put it in and takes it out) with its message for Rust.
#[derive(Clone)]
pub(crate) struct HostFailure {
    message: String,
    value: std::sync::Arc<std::sync::Mutex<Option<Box<dyn std::any::Any + Send>>>>,
}

impl HostFailure {
    pub(crate) fn new(message: String, value: Box<dyn std::any::Any + Send>) -> Self {
        Self { message, value: std::sync::Arc::new(std::sync::Mutex::new(Some(value))) }
    }

    /// The host's value, once: the first to ask gets it.
    pub(crate) fn take(&self) -> Option<Box<dyn std::any::Any + Send>> {
        self.value.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl std::fmt::Display for HostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::fmt::Debug for HostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostFailure({:?})", self.message)
    }
}

impl PartialEq for HostFailure {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.value, &other.value)
    }
}

impl Eq for HostFailure {}

/// `ContainerError`'s messages, written once: the error above uses them, and
/// so do the JavaScript class's factories (through the binding), which take
/// their arguments as the host's template literals would print them.
pub(crate) mod message {
    use crate::core::js_string::js_prefix;

    /// How much of the agent's output a failure message quotes (the host's `slice(0, 500)`).
    pub(crate) const QUOTED_OUTPUT_UNITS: usize = 500;

    pub(crate) fn timeout(space_id: &str) -> String {
        format!("Container timed out for group {space_id}")
    }

    pub(crate) fn aborted(space_id: &str) -> String {
        format!("Container aborted for group {space_id}")
    }

    pub(crate) fn oom(space_id: &str, exit_code: &str) -> String {
        format!("Container was killed for group {space_id} (exit code {exit_code}, possibly out of memory)")
    }

    pub(crate) fn failed(exit_code: &str, output: &str) -> String {
        format!("Container failed (exit code {exit_code}): {}", js_prefix(output, QUOTED_OUTPUT_UNITS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_hosts() {
        let space_id = "s1".to_owned();
        assert_eq!(RunError::Timeout { space_id: space_id.clone() }.to_string(), "Container timed out for group s1");
        assert_eq!(RunError::Aborted { space_id: space_id.clone() }.to_string(), "Container aborted for group s1");
        assert_eq!(
            RunError::OutOfMemory { space_id, exit_code: 137, oom_killed: false }.to_string(),
            "Container was killed for group s1 (exit code 137, possibly out of memory)"
        );
        assert_eq!(RunError::NoResult("out".into()).to_string(), "Failed to parse container result: out");
        assert_eq!(RunError::Malformed("x".into()).to_string(), "Malformed container output: x");
    }

    #[test]
    fn failure_messages_quote_500_units_of_output() {
        let long = "é".repeat(600);
        let message = RunError::Failed { exit_code: 3, output: long }.to_string();
        assert_eq!(message, format!("Container failed (exit code 3): {}", "é".repeat(500)));
        assert_eq!(
            RunError::Engine(EngineError::Failed("no such image".into())).to_string(),
            "Container failed (exit code 125): no such image"
        );
    }

    #[test]
    fn each_failure_is_reported_once_with_its_class_reason_and_code() {
        let space_id = "s1".to_owned();
        let aborted = RunError::Aborted { space_id: space_id.clone() }.report();
        assert_eq!(
            (aborted.class, aborted.reason, aborted.exit_code, aborted.message.as_str()),
            (ErrorClass::Container, Some("aborted"), None, "Container aborted for group s1")
        );
        let oom = RunError::OutOfMemory { space_id, exit_code: KILLED_EXIT_CODE, oom_killed: true }.report();
        assert_eq!((oom.reason, oom.exit_code, oom.oom_killed), (Some("oom"), Some(137), Some(true)));
        let engine = RunError::Engine(EngineError::NotFound("no such image".into())).report();
        assert_eq!((engine.class, engine.reason, engine.exit_code), (ErrorClass::Container, Some("error"), Some(125)));
        assert_eq!(engine.cause, None);
        let pull = RunError::PullFailed { image: "img".into(), cause: EngineError::Failed("denied".into()) }.report();
        assert_eq!(pull.class, ErrorClass::Plain);
        assert_eq!(pull.message, "Failed to pull agent image: img\nRun manually: docker pull img");
        assert_eq!(pull.cause.as_deref(), Some("denied"));
        let bad = RunError::InvalidInput("spaceId must be a string".into()).report();
        assert_eq!((bad.class, bad.reason, bad.cause), (ErrorClass::Type, None, None));
    }
}
