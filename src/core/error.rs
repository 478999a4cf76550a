//! Every way a runner call can fail, in the contract's terms.

/// Why a run, a pull or a look-up failed. The binding turns each variant into
/// the JavaScript error the host expects: a `ContainerError` for the container's
/// own failures, a plain `Error` or a `TypeError` for the rest.
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
    /// The container ended with exit code 137; `oom_killed` is the engine's own verdict.
    #[error("{}", message::oom(space_id, &exit_code.to_string()))]
    OutOfMemory { space_id: String, exit_code: i64, oom_killed: bool },
    /// The agent exited with another non-zero code; `output` is its stderr, or stdout when stderr was empty.
    #[error("{}", message::failed(&exit_code.to_string(), output))]
    Failed { exit_code: i64, output: String },
    /// The engine refused the container or could not be reached (the Docker CLI's exit code 125).
    #[error("{}", message::failed("125", .0))]
    Engine(String),
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
    PullFailed { image: String, cause: String },
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
            RunError::Engine("no such image".into()).to_string(),
            "Container failed (exit code 125): no such image"
        );
    }
}
