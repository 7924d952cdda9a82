//! How the runner reports progress. The library draws nothing: the binary implements these
//! traits with progress bars, tests and quiet callers pass [`Silent`].

use tracking::{EpochMetric, RunRecord};

use crate::config::RunConfig;

/// Progress of one run's training.
pub trait RunProgress: Sync {
    /// Run `run` has taken `step` of at most `max_steps` optimiser steps.
    fn step(&self, run: i64, step: usize, max_steps: usize);
}

/// Progress of building a feature cache.
pub trait CacheProgress: Sync {
    /// `done` of `total` tracks are in the cache.
    fn cache(&self, done: u64, total: u64);
    /// The cache is complete.
    fn cache_done(&self) {}
}

/// Progress of a sweep: the cache, then (local workers) its cells. Every method but the
/// cache's does nothing unless implemented, so a display of part of it (a Slurm submission
/// shows only the cache) implements only that part.
pub trait SweepProgress: CacheProgress {
    /// `done` of `total` cells need nothing more from this sweep.
    fn cells(&self, _done: usize, _total: usize) {}
    /// A worker process started on `cell`.
    fn worker_started(&self, _cell: usize, _config: &RunConfig) {}
    /// Whether [`SweepProgress::worker_news`] is shown (it costs a store read per worker).
    fn shows_workers(&self) -> bool {
        false
    }
    /// The run of `cell`'s worker and its evaluations so far.
    fn worker_news(&self, _cell: usize, _run: &RunRecord, _evaluations: &[EpochMetric]) {}
    /// `cell`'s worker exited.
    fn worker_ended(&self, _cell: usize) {}
    /// Every cell is done.
    fn finished(&self) {}
}

/// Reports nothing.
pub struct Silent;

impl RunProgress for Silent {
    fn step(&self, _: i64, _: usize, _: usize) {}
}

impl CacheProgress for Silent {
    fn cache(&self, _: u64, _: u64) {}
}

impl SweepProgress for Silent {}
