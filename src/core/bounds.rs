//! Every time bound of the runner, stated here once, with the order they must
//! keep checked at compile time: how long each engine call, connection and
//! helper may take, how long a stopped turn may still wait, how long process
//! exit may take. A run's own deadline and abort still cut the engine's short.
//! (Size and count caps stay beside what they protect: none depends on another.)

use std::time::Duration;

/// Look-ups, kills, removals, listings, and the exit status of a container whose output has ended.
pub(crate) const QUICK_CALL: Duration = Duration::from_secs(10);
/// Creating, attaching to and starting a container: slower than a look-up on a loaded engine.
pub(crate) const CONTAINER_SETUP: Duration = Duration::from_secs(60);
/// Pauses between tries of a container's removal in the background (about 31 s
/// in all): an engine that is restarting, a 409 while another removal runs or
/// the container stops under a force removal, a file system still busy.
pub(crate) const REMOVAL_RETRIES: [Duration; 6] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];
/// After its deadline or an abort, how long a turn may still wait for the
/// engine (the kill, the container's end, its exit status) before it settles
/// anyway. Every other call of a turn gives way to the deadline or the abort
/// at once, so a reply settles within its deadline (or its abort) plus this,
/// whatever the engine does; what the engine still owes (a kill, a create,
/// the removal) goes on in the background.
pub(crate) const SETTLE_GRACE: Duration = Duration::from_secs(5);

/// How long the egress proxy may take to say it listens, once started (measured: well under a second).
pub(crate) const EGRESS_PROXY_READY: Duration = Duration::from_secs(20);
/// Pauses between tries of an egress network's removal (about 8 s in all), while agents still leave it.
pub(crate) const EGRESS_NETWORK_REMOVAL_RETRIES: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// How long process exit may wait for the removal of the containers of runs in
/// flight (a host that exits must not hang on an engine that is down).
pub(crate) const EXIT_CLEANUP_BOUND: Duration = Duration::from_secs(2);
/// An idle ssh connection (one ssh process, one remote dial-stdio) is kept this
/// long for the next request, then closed: a run makes a burst of calls.
pub(crate) const SSH_IDLE: Duration = Duration::from_secs(30);
/// After a failed ssh request, how long to wait for ssh's stderr to close so
/// the error can say why (ssh exits right after printing it).
pub(crate) const SSH_STDERR_WAIT: Duration = Duration::from_millis(500);
/// A pull: the TypeScript runner's bound on `docker pull` (the contract's 300 s).
pub(crate) const PULL: Duration = Duration::from_secs(300);

/// Reaching the engine the first time (transport, handshake, version
/// negotiation): a quick call plus room for an ssh or TLS handshake. A runner
/// should fail well before ssh's own 30 s default would.
pub(crate) const CONNECT: Duration = Duration::from_secs(30);
/// The version negotiation, the first request: inside [`CONNECT`], so that
/// its own message ("no answer within ...") is the one a user sees.
pub(crate) const NEGOTIATE: Duration = Duration::from_secs(25);
/// ssh's `ConnectTimeout` (seconds): inside [`NEGOTIATE`], so that ssh's own
/// error (host unreachable, refused) is reported rather than a bare timeout.
pub(crate) const SSH_CONNECT_SECS: u32 = 20;
/// bollard's own per-request bound (seconds), as its `connect_with_*` use. It
/// covers a request up to its response headers; the calls above bound each
/// call more tightly where it matters.
pub(crate) const REQUEST_SECS: u64 = 120;
/// A docker credential helper (`docker-credential-*`) answering one `get`: it
/// may have to unlock a keychain, but a pull must not hang on it.
pub(crate) const CRED_HELPER: Duration = Duration::from_secs(30);

// ssh < negotiate < connect: an outer bound that fired first would hide the
// inner one's clearer error (a 40 s negotiation inside a 30 s connect never fired).
const _: () = assert!((SSH_CONNECT_SECS as u64) < NEGOTIATE.as_secs());
const _: () = assert!(NEGOTIATE.as_secs() < CONNECT.as_secs());
const _: () = assert!(QUICK_CALL.as_secs() < CONNECT.as_secs());
// Every call's own bound is inside bollard's request bound, so ours is the one that fires.
const _: () = assert!(CONTAINER_SETUP.as_secs() < REQUEST_SECS);
const _: () = assert!(CRED_HELPER.as_secs() < REQUEST_SECS);
// A stopped turn's grace covers a kill the engine answers promptly, never a whole quick call:
// the reply must not wait as long as an engine that does not answer at all.
const _: () = assert!(SETTLE_GRACE.as_secs() < QUICK_CALL.as_secs());
// Process exit is shorter still: the host is leaving; cleanupOrphans removes what exit could not.
const _: () = assert!(EXIT_CLEANUP_BOUND.as_secs() < SETTLE_GRACE.as_secs());
// ssh's stderr is awaited only to word an error already known: well inside ssh's own connect bound.
const _: () = assert!(SSH_STDERR_WAIT.as_secs() < SSH_CONNECT_SECS as u64);
