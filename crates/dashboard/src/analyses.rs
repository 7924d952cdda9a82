//! The sweep page's [`reports::Analysis`] (bootstrap intervals and fits: seconds for a sweep of
//! a hundred cells), kept per sweep and recomputed only when a run standing for one of its
//! cells changes. The computation runs on a thread of its own: a page waits for it a short
//! while, then shows the previous analysis (or none) marked as updating, and its live refresh
//! picks the new one up — so no request waits seconds for the bootstrap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use reports::Analysis;
use tracking::{Status, Store};

use crate::pages::PageError;

/// Sweeps whose analysis is kept; past that, an idle one is dropped to make room.
const KEPT: usize = 32;

/// What an analysis depends on that can change: each standing run, its status and its end.
pub(crate) type Stamp = Vec<(i64, Status, Option<i64>)>;

/// The analysis of the cells as they are now, or the one before while it is recomputed.
pub(crate) enum View<T> {
    Fresh(Version<T>),
    /// Being computed; the newest earlier analysis, if there was one.
    Updating(Option<Version<T>>),
}

/// An analysis and the number of its computation (counting from 1 per server), which tells a
/// browser that an image drawn from it is new.
pub(crate) struct Version<T> {
    pub number: u64,
    pub value: Arc<T>,
}

impl<T> Version<T> {
    fn of(number: u64, value: &Arc<T>) -> Self {
        Self {
            number,
            value: Arc::clone(value),
        }
    }
}

/// A computed analysis, or why it could not be (shown on the page, kept like a result so a
/// failing sweep is not recomputed on every request).
type Outcome<T> = Result<Arc<T>, String>;

struct Slot<T> {
    /// The newest finished computation: its generation, the stamp it was made for, outcome.
    done: Option<(u64, Stamp, Outcome<T>)>,
    /// The stamp being computed now.
    computing: Option<Stamp>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            done: None,
            computing: None,
        }
    }
}

/// Analyses by sweep. Generic over what is kept so the waiting and replacing rules can be
/// tested with a computation the test controls.
pub(crate) struct Kept<T> {
    slots: Mutex<HashMap<i64, Slot<T>>>,
    finished: Condvar,
    /// Computations started so far, all sweeps: a later one's result is never replaced by an
    /// earlier one's, and no two analyses share a version number.
    started: AtomicU64,
    /// Held by the computation under way: one at a time, so a few sweeps opened at once do
    /// not share the cores and all finish late.
    turn: Mutex<()>,
}

pub(crate) type Analyses = Kept<Analysis>;

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            finished: Condvar::new(),
            started: AtomicU64::new(0),
            turn: Mutex::new(()),
        }
    }
}

/// The stamp of `sweep`'s cells as the store has them now.
pub(crate) fn stamp(store: &Store, sweep: i64) -> Result<Stamp, PageError> {
    Ok(store.run_states(sweep)?)
}

impl<T: Send + Sync + 'static> Kept<T> {
    /// The analysis of `sweep` for `stamp`: kept, or computed by `compute` on a thread of its
    /// own (one at a time per sweep) and waited for at most `wait`.
    pub fn view(
        self: &Arc<Self>,
        sweep: i64,
        stamp: Stamp,
        wait: Duration,
        compute: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Result<View<T>, String> {
        let deadline = Instant::now() + wait;
        let mut slots = self.lock();
        let slot = slots.entry(sweep).or_default();
        if slot.computing.as_ref() != Some(&stamp) && slot.outcome(&stamp).is_none() {
            slot.computing = Some(stamp.clone());
            let generation = self.started.fetch_add(1, Ordering::Relaxed) + 1;
            let kept = Arc::clone(self);
            let stamp = stamp.clone();
            std::thread::spawn(move || {
                let turn = kept.turn.lock().unwrap_or_else(PoisonError::into_inner);
                // A panic must not leave the sweep "computing" for ever.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(compute))
                    .unwrap_or_else(|_| Err("the analysis failed (a bug: see the log)".into()))
                    .map(Arc::new);
                drop(turn);
                kept.finish(sweep, generation, stamp, outcome);
            });
        }
        loop {
            let slot = slots.entry(sweep).or_default();
            if let Some((number, done, outcome)) = &slot.done
                && *done == stamp
            {
                return outcome
                    .as_ref()
                    .map(|value| View::Fresh(Version::of(*number, value)))
                    .map_err(Clone::clone);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let previous = slot.done.as_ref().and_then(|(number, _, outcome)| {
                    outcome
                        .as_ref()
                        .ok()
                        .map(|value| Version::of(*number, value))
                });
                return Ok(View::Updating(previous));
            }
            slots = self
                .finished
                .wait_timeout(slots, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Record a finished computation unless a later one has finished first, and wake the
    /// requests waiting for it.
    fn finish(&self, sweep: i64, generation: u64, stamp: Stamp, outcome: Outcome<T>) {
        let mut slots = self.lock();
        let slot = slots.entry(sweep).or_default();
        if slot.computing.as_ref() == Some(&stamp) {
            slot.computing = None;
        }
        if slot.done.as_ref().is_none_or(|(g, ..)| *g < generation) {
            slot.done = Some((generation, stamp, outcome));
        }
        if slots.len() > KEPT {
            let idle = slots
                .iter()
                .find(|(k, s)| **k != sweep && s.computing.is_none())
                .map(|(&k, _)| k);
            idle.map(|k| slots.remove(&k));
        }
        self.finished.notify_all();
    }

    /// The map, even after a panic elsewhere poisoned it (it holds only finished values).
    fn lock(&self) -> MutexGuard<'_, HashMap<i64, Slot<T>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> Slot<T> {
    /// The finished outcome for `stamp`, if that is what was computed last.
    fn outcome(&self, stamp: &Stamp) -> Option<&Outcome<T>> {
        self.done
            .as_ref()
            .filter(|(_, s, _)| s == stamp)
            .map(|(.., o)| o)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn stamp_of(run_end: i64) -> Stamp {
        vec![(1, Status::Finished, Some(run_end))]
    }

    /// A computation that returns `value` once the test says so.
    fn gated(
        value: u32,
    ) -> (
        mpsc::Sender<()>,
        impl FnOnce() -> Result<u32, String> + Send,
    ) {
        let (go, gate) = mpsc::channel::<()>();
        (go, move || {
            gate.recv().map_err(|e| e.to_string())?;
            Ok(value)
        })
    }

    fn fresh(view: View<u32>) -> u32 {
        match view {
            View::Fresh(v) => *v.value,
            View::Updating(_) => panic!("not fresh"),
        }
    }

    #[test]
    fn a_slow_analysis_is_shown_as_updating_then_fresh_without_recomputing() {
        let kept = Arc::new(Kept::<u32>::default());
        let short = Duration::from_millis(20);
        let (go, compute) = gated(1);
        let first = kept.view(7, stamp_of(10), short, compute).unwrap();
        assert!(matches!(first, View::Updating(None)));
        // Asked again while it computes: no second computation is started.
        let never = || -> Result<u32, String> { panic!("computed twice") };
        assert!(matches!(
            kept.view(7, stamp_of(10), short, never).unwrap(),
            View::Updating(None)
        ));
        go.send(()).unwrap();
        let long = Duration::from_secs(30);
        assert_eq!(fresh(kept.view(7, stamp_of(10), long, never).unwrap()), 1);
        assert_eq!(fresh(kept.view(7, stamp_of(10), short, never).unwrap()), 1);
    }

    #[test]
    fn a_changed_run_recomputes_while_the_previous_analysis_is_shown() {
        let kept = Arc::new(Kept::<u32>::default());
        let long = Duration::from_secs(30);
        let short = Duration::from_millis(20);
        assert_eq!(
            fresh(kept.view(7, stamp_of(10), long, || Ok(1)).unwrap()),
            1
        );
        let (go, compute) = gated(2);
        match kept.view(7, stamp_of(11), short, compute).unwrap() {
            View::Updating(Some(previous)) => assert_eq!(*previous.value, 1),
            _ => panic!("the previous analysis was not offered while updating"),
        }
        go.send(()).unwrap();
        let never = || -> Result<u32, String> { panic!("computed twice") };
        assert_eq!(fresh(kept.view(7, stamp_of(11), long, never).unwrap()), 2);
        // Another sweep is kept apart.
        assert_eq!(
            fresh(kept.view(8, stamp_of(11), long, || Ok(3)).unwrap()),
            3
        );
        assert_eq!(fresh(kept.view(7, stamp_of(11), short, never).unwrap()), 2);
    }

    #[test]
    fn analyses_of_several_sweeps_are_computed_one_at_a_time() {
        use std::sync::atomic::AtomicUsize;
        let kept = Arc::new(Kept::<u32>::default());
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        for sweep in 0..4 {
            let (now, most) = (Arc::clone(&now), Arc::clone(&most));
            let compute = move || {
                most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(1)
            };
            kept.view(sweep, stamp_of(10), Duration::ZERO, compute)
                .unwrap();
        }
        for sweep in 0..4 {
            let never = || -> Result<u32, String> { panic!("computed twice") };
            let long = Duration::from_secs(30);
            assert_eq!(
                fresh(kept.view(sweep, stamp_of(10), long, never).unwrap()),
                1
            );
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "two analyses ran at once");
    }

    #[test]
    fn a_failed_analysis_is_an_error_until_the_cells_change() {
        let kept = Arc::new(Kept::<u32>::default());
        let long = Duration::from_secs(30);
        let failed = kept.view(7, stamp_of(10), long, || Err("no test set".into()));
        assert_eq!(failed.err().as_deref(), Some("no test set"));
        let never = || -> Result<u32, String> { panic!("computed twice") };
        assert!(kept.view(7, stamp_of(10), long, never).is_err());
        assert_eq!(
            fresh(kept.view(7, stamp_of(12), long, || Ok(4)).unwrap()),
            4
        );
    }
}
