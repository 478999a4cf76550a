//! Which outbox files count as written during a turn: the `since` input of
//! the outbox scan.
//!
//! A cold turn's container starts a few hundred milliseconds after the
//! `reply()` call, so "modified at or after the call" is enough. A claimed
//! standby's agent is running already and writes within a millisecond of the
//! claim, while the kernel stamps files from its coarse clock, which is only
//! advanced at each tick and so lags the clock the runner reads: such a file
//! often carries a time *before* the claim (issue 14: a claimed turn lost its
//! file about one time in three). So a claimed turn's window opens a few ticks
//! before the claim ([`file_time_slack_ms`]), or earlier still at the coarse
//! clock as read at the claim ([`file_clock_ms`]), and what that would let
//! back in is kept out by a snapshot taken at the claim, before the payload is
//! written: a file that was there then counts only if it changed since
//! (another inode, size or modification time). The previous turn's files, and
//! whatever the standby wrote while it waited, stay out whatever their times.
//!
//! Why both: how far the coarse clock lags is up to when ticks come, and under
//! load (a busy host, a descheduled vCPU) a tick can come later than any
//! number of ticks allowed (a unit test that held new files to the slack
//! failed so once, on a loaded machine). The kernel never stamps a file from a
//! time before what its coarse clock already read (on file systems that keep
//! fine times: ext4, xfs, btrfs, tmpfs), so that reading bounds the lag
//! however late the ticks. The slack stays for where that clock cannot be read
//! (not Linux) and for files stamped by another clock than this kernel's
//! (gVisor's sentry may stamp them itself).
//!
//! One case the snapshot cannot tell: a file the agent rewrites in place with
//! the same size within the same coarse tick as its previous write before the
//! claim. Since Linux 6.13 the snapshot's own `stat` makes the kernel stamp the
//! next write of that file from the fine clock (multigrain timestamps), so it
//! cannot happen there on ext4, xfs, btrfs or tmpfs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use super::outbox_dir::{open_outbox_of, MAX_OUTBOX_ENTRIES_EXAMINED};
use super::outbox_entry::{EntryStat, FileId};

/// How many ticks of the kernel's coarse clock a new file's time may lag the
/// runner's clock by. Measured on the test machine (a 2-vCPU VM, Linux 6.18,
/// ticks of 4 ms, other builds loading both cores): of 8 000 new files, the
/// latest mtime was 5.6 ms before a fine clock read made just before the
/// write, and once, of another 2 000, 10 ms: a tick can come late. Five ticks
/// is 20 ms there.
pub(crate) const TICKS_ALLOWED: u64 = 5;

/// The least allowance, and the whole of it where the coarse clock's
/// resolution cannot be asked (not Linux or FreeBSD): a few ticks of a 1000 Hz kernel.
pub(crate) const MIN_SLACK_MS: u64 = 10;

/// The identity and content stamp of one outbox entry at the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    id: FileId,
    size: u64,
    mtime_ns: i128,
}

impl Stamp {
    fn of(st: &EntryStat) -> Self {
        Self { id: st.id, size: st.size_bytes, mtime_ns: st.mtime_ns }
    }
}

/// The outbox's entries at a claim, by name; at most [`MAX_OUTBOX_ENTRIES_EXAMINED`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    entries: HashMap<Vec<u8>, Stamp>,
}

impl Snapshot {
    /// Whether `name` was there at the claim, as it is now.
    fn unchanged(&self, name: &[u8], st: &EntryStat) -> bool {
        self.entries.get(name).is_some_and(|stamp| *stamp == Stamp::of(st))
    }
}

/// Which files a scan returns: modified at or after `ms` (epoch milliseconds)
/// and, for a claimed turn, not there unchanged at the claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Since {
    ms: u64,
    at_claim: Option<Snapshot>,
}

impl Since {
    /// A cold turn's: modified at or after `ms`.
    pub(crate) fn from_ms(ms: u64) -> Self {
        Self { ms, at_claim: None }
    }

    /// A claimed turn's: from [`file_time_slack_ms`] before the claim, or from
    /// the coarse clock now if that is earlier, without the files `at_claim`
    /// holds unchanged. Call it before the payload is written: the coarse
    /// clock's reading bounds the times of the files written after it.
    pub(crate) fn claimed(claim_ms: u64, at_claim: Snapshot) -> Self {
        Self::claimed_with(claim_ms, file_clock_ms(), at_claim)
    }

    /// [`Since::claimed`] with the coarse clock's reading given (None where it cannot be read).
    fn claimed_with(claim_ms: u64, file_clock_ms: Option<u64>, at_claim: Snapshot) -> Self {
        let ms = claim_ms.saturating_sub(file_time_slack_ms());
        Self { ms: file_clock_ms.map_or(ms, |coarse| ms.min(coarse)), at_claim: Some(at_claim) }
    }

    /// Whether the entry `name`, as `st` describes it now, was written during the turn.
    pub(crate) fn admits(&self, name: &[u8], st: &EntryStat) -> bool {
        st.mtime_ms >= self.ms && !self.at_claim.as_ref().is_some_and(|s| s.unchanged(name, st))
    }
}

/// The entries of `<workspace>/outbox` now, opened as the scan opens it (no
/// link followed). An outbox that is missing or refused gives an empty
/// snapshot: the window alone then decides, and a refused one is refused
/// again by the scan. Blocking: call it off the async threads.
pub(crate) fn snapshot(spaces_dir: &Path, workspace: &Path) -> Snapshot {
    let mut snapshot = Snapshot::default();
    let Ok(Some(outbox)) = open_outbox_of(spaces_dir, workspace) else {
        return snapshot;
    };
    let Ok(names) = outbox.names() else {
        return snapshot;
    };
    for name in names.take(MAX_OUTBOX_ENTRIES_EXAMINED) {
        let Ok(name) = name else {
            break;
        };
        // The scan skips names that are not UTF-8: they need no stamp.
        let Some(st) = std::str::from_utf8(&name).ok().and_then(|n| outbox.examine(n)) else {
            continue;
        };
        snapshot.entries.insert(name, Stamp::of(&st));
    }
    snapshot
}

/// How long before the runner's clock a file written now may be stamped:
/// [`TICKS_ALLOWED`] ticks of the coarse clock, as the kernel reports its
/// resolution, and at least [`MIN_SLACK_MS`]. Asked once per process.
pub(crate) fn file_time_slack_ms() -> u64 {
    static SLACK: OnceLock<u64> = OnceLock::new();
    *SLACK.get_or_init(|| coarse_tick_ms().map_or(MIN_SLACK_MS, |tick| (tick * TICKS_ALLOWED).max(MIN_SLACK_MS)))
}

/// The clock Linux stamps files from, now, in epoch milliseconds (rounded
/// down, as a file's time is): `CLOCK_REALTIME_COARSE`, which a later stamp
/// never precedes (since 6.13 a stamp may come from a finer clock, never an
/// earlier one). None where file times come from elsewhere or cannot be
/// bounded so: other systems (FreeBSD may stamp whole seconds).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn file_clock_ms() -> Option<u64> {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    u64::try_from(now.tv_sec).ok()?.checked_mul(1000)?.checked_add(u64::try_from(now.tv_nsec).ok()? / 1_000_000)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn file_clock_ms() -> Option<u64> {
    None
}

/// `clock_getres(CLOCK_REALTIME_COARSE)`, rounded up to whole milliseconds.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn coarse_tick_ms() -> Option<u64> {
    use rustix::time::{clock_getres, ClockId};
    let res = clock_getres(ClockId::RealtimeCoarse);
    let nanos =
        u64::try_from(res.tv_sec).ok()?.checked_mul(1_000_000_000)?.checked_add(u64::try_from(res.tv_nsec).ok()?)?;
    (nanos > 0).then(|| nanos.div_ceil(1_000_000))
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn coarse_tick_ms() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::clock::now_ms;
    use crate::core::untrusted::outbox::test_space::{set_mtime, space, Space};
    use crate::core::untrusted::outbox::{scan_outbox_since, MAX_OUTBOX_FILE_BYTES};
    use std::fs;

    impl Space {
        fn names(&self, since: &Since, now: u64) -> Vec<String> {
            let scan = scan_outbox_since(&self.spaces, &self.workspace, since, now, MAX_OUTBOX_FILE_BYTES, self.copies);
            scan.files.into_iter().map(|f| f.filename).collect()
        }
    }

    #[test]
    fn the_slack_is_a_few_coarse_ticks() {
        let slack = file_time_slack_ms();
        assert!(slack >= MIN_SLACK_MS);
        if let Some(tick) = coarse_tick_ms() {
            assert_eq!(slack, (tick * TICKS_ALLOWED).max(MIN_SLACK_MS));
        }
    }

    /// The kernel's own stamps: files created one by one, at random moments
    /// of a tick, each stamped no earlier than the coarse clock read just
    /// before its write, and so inside the window of a claim made then, however
    /// far that clock lags the fine one (a late tick only moves both back).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn files_written_after_a_claim_are_stamped_within_its_window() {
        let s = space();
        for i in 0..300u64 {
            std::thread::sleep(std::time::Duration::from_micros(i * 7919 % 3000));
            let since = Since::claimed(now_ms(), Snapshot::default());
            let coarse = file_clock_ms().unwrap();
            let name = format!("f{i}");
            let path = s.outbox.join(&name);
            fs::write(&path, b"x").unwrap();
            let modified = fs::metadata(&path).unwrap().modified().unwrap();
            let mtime = u64::try_from(modified.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap();
            assert!(mtime >= coarse, "{name} was stamped {mtime}, before the coarse clock read {coarse} before it");
            assert_eq!(s.names(&since, now_ms()), [name.as_str()], "stamped {mtime}, window from {}", since.ms);
            fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn a_claimed_window_opens_at_the_coarse_clock_where_it_lags_more_than_the_slack() {
        let claim = 1_800_000_000_000;
        let slack = file_time_slack_ms();
        let window = |coarse| Since::claimed_with(claim, coarse, Snapshot::default()).ms;
        // Ticks on time: the coarse clock a tick behind; the slack is the earlier.
        assert_eq!(window(Some(claim - 4)), claim - slack);
        // A late tick: the coarse clock further behind than the slack allows.
        assert_eq!(window(Some(claim - slack - 30)), claim - slack - 30);
        // No coarse clock to read: the slack alone.
        assert_eq!(window(None), claim - slack);
    }

    #[test]
    fn a_claimed_turn_gets_what_changed_since_the_claim_even_stamped_before_it() {
        let s = space();
        let claim = now_ms();
        let slack = file_time_slack_ms();
        // There at the claim: the previous turn's file, and one written a moment before the claim.
        for (name, ms) in
            [("previous.txt", claim - 60_000), ("just-before.txt", claim - 1), ("rewritten.txt", claim - 1)]
        {
            fs::write(s.outbox.join(name), b"old").unwrap();
            set_mtime(&s.outbox.join(name), ms);
        }
        fs::write(s.outbox.join("replaced.txt"), b"old").unwrap();
        set_mtime(&s.outbox.join("replaced.txt"), claim - 1);
        // The coarse clock on time at the claim: the window is the slack's.
        let since = Since::claimed_with(claim, Some(claim), snapshot(&s.spaces, &s.workspace));

        // After the claim, stamped by a coarse clock that lags: before the claim, within the slack.
        fs::write(s.outbox.join("new.txt"), b"new").unwrap();
        set_mtime(&s.outbox.join("new.txt"), claim - slack);
        fs::write(s.outbox.join("rewritten.txt"), b"longer").unwrap();
        set_mtime(&s.outbox.join("rewritten.txt"), claim - 1);
        // Replaced by a rename over it: another inode, the same size and time.
        fs::write(s.outbox.join(".tmp"), b"new").unwrap();
        set_mtime(&s.outbox.join(".tmp"), claim - 1);
        fs::rename(s.outbox.join(".tmp"), s.outbox.join("replaced.txt")).unwrap();
        // New, but older than any coarse clock can lag.
        fs::write(s.outbox.join("too-old.txt"), b"x").unwrap();
        set_mtime(&s.outbox.join("too-old.txt"), claim - slack - 1);

        assert_eq!(s.names(&since, claim + 100), ["new.txt", "replaced.txt", "rewritten.txt"]);
        // The window alone, from the claim, loses the lagging file; from before it, lets back in the older ones.
        assert_eq!(s.names(&Since::from_ms(claim), claim + 100), Vec::<String>::new());
        assert_eq!(
            s.names(&Since::from_ms(claim - slack), claim + 100),
            ["just-before.txt", "new.txt", "replaced.txt", "rewritten.txt"]
        );
    }

    #[test]
    fn a_missing_outbox_snapshots_empty_and_every_new_file_counts() {
        let s = space();
        fs::remove_dir(&s.outbox).unwrap();
        let claim = now_ms();
        let since = Since::claimed_with(claim, Some(claim), snapshot(&s.spaces, &s.workspace));
        assert_eq!(since, Since { ms: claim - file_time_slack_ms(), at_claim: Some(Snapshot::default()) });
        fs::create_dir(&s.outbox).unwrap();
        fs::write(s.outbox.join("a.txt"), b"a").unwrap();
        assert_eq!(s.names(&since, now_ms()), ["a.txt"]);
    }
}
