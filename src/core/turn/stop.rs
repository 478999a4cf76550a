//! What stops a turn at any step: `abort`/`killAll`, and its deadline. Every
//! engine call and every wait of a turn goes through [`Stop`], so a reply
//! settles within its deadline (or its abort) plus [`crate::core::bounds::SETTLE_GRACE`].

use std::future::Future;

use tokio::time::{sleep_until, Instant};

use super::removals::Removals;
use super::runs::RunControl;

/// Why a turn stopped before its container started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    Aborted,
    TimedOut,
}

/// The two things that stop a turn at any step: `abort`/`killAll`, and the deadline.
pub(crate) struct Stop<'a> {
    pub(crate) control: &'a RunControl,
    pub(crate) deadline: Instant,
    /// Where the turn lists its container's removal (beside the stop: every step that removes has it).
    pub(crate) removals: &'a Removals,
}

impl Stop<'_> {
    /// Whether the turn has been stopped by now (an abort wins over the deadline).
    pub(crate) fn now(&self) -> Option<Stopped> {
        if self.control.is_aborted() {
            Some(Stopped::Aborted)
        } else if Instant::now() >= self.deadline {
            Some(Stopped::TimedOut)
        } else {
            None
        }
    }

    /// `work` to its end, unless the turn is stopped first: then `Err` and
    /// `work` is left where it is (the caller may drop it or let it finish).
    /// Unlike [`Stop::race`], a result that came is kept, a stop beside it
    /// notwithstanding: it may be a container that must be removed.
    pub(crate) async fn first<T>(&self, work: impl Future<Output = T>) -> Result<T, Stopped> {
        if let Some(stopped) = self.now() {
            return Err(stopped);
        }
        tokio::select! {
            biased;
            done = work => Ok(done),
            _ = self.control.aborted() => Err(Stopped::Aborted),
            _ = sleep_until(self.deadline) => Err(Stopped::TimedOut),
        }
    }

    /// `work`, unless the turn is stopped first; then `work` is dropped.
    pub(crate) async fn race<T>(&self, work: impl Future<Output = T>) -> Result<T, Stopped> {
        if let Some(stopped) = self.now() {
            return Err(stopped);
        }
        tokio::select! {
            done = work => self.now().map_or(Ok(done), Err),
            _ = self.control.aborted() => Err(Stopped::Aborted),
            _ = sleep_until(self.deadline) => Err(Stopped::TimedOut),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::turn::runs::Runs;

    #[tokio::test]
    async fn a_call_that_never_ends_gives_way_to_the_deadline_and_to_an_abort() {
        let runs = Runs::default();
        let guard = runs.register("s", "c");
        let control = guard.control();
        let removals = Removals::default();
        let stop =
            Stop { control: &control, deadline: Instant::now() + Duration::from_millis(300), removals: &removals };
        // An outbox scan or an engine call that hangs: settled at the deadline, not after it.
        let t0 = Instant::now();
        assert_eq!(stop.first(std::future::pending::<()>()).await, Err(Stopped::TimedOut));
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(300) && waited < Duration::from_millis(1300), "{waited:?}");
        // Already past the deadline: not even started.
        assert_eq!(stop.first(async { 1 }).await, Err(Stopped::TimedOut));

        let stop = Stop { control: &control, deadline: Instant::now() + Duration::from_secs(60), removals: &removals };
        assert_eq!(stop.first(async { 7 }).await, Ok(7));
        let t0 = Instant::now();
        let aborting = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            runs.abort("s");
        };
        let (raced, ()) = tokio::join!(stop.first(std::future::pending::<()>()), aborting);
        assert_eq!(raced, Err(Stopped::Aborted));
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_millis(1200), "{waited:?}");
    }
}
