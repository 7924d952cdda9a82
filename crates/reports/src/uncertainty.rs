//! The intervals of the Δ-table, from the runs' saved song-level test predictions and labels
//! (so sweeps run before intervals existed get them too): each system's seed-and-track
//! bootstrap interval, and paired bootstrap intervals of differences between systems on the
//! same test tracks (`metrics::paired`).

use metrics::{Difference, Interval, Scores, seed_mean};
use tracking::Store;

use crate::data::{CellResult, METRICS, SweepData, System};
use crate::test_set::{TestSet, as_recorded};

/// Replicates when the runs do not say (`[eval] bootstrap`).
const DEFAULT_RESAMPLES: usize = 1000;

/// A finished cell's saved test set, or `None` when any of its artifacts is missing or
/// unreadable (the table then shows no interval for its system).
fn cell_test_set(store: &Store, cell: &CellResult) -> Option<TestSet> {
    let run = cell.run.as_ref().filter(|_| cell.finished())?;
    TestSet::of_run(store, run.id, as_recorded).ok()
}

/// Every system's test sets per size, and how to bootstrap them.
pub struct TestSets {
    sets: Vec<(System, i64, Vec<TestSet>)>,
    resamples: usize,
}

impl TestSets {
    /// The test sets of every system and size whose finished cells all saved theirs.
    pub fn load(store: &Store, data: &SweepData) -> Self {
        let mut sets = Vec::new();
        for system in data.systems() {
            for size in data.sizes() {
                let finished: Vec<&CellResult> = data
                    .cells_of(&system, size)
                    .into_iter()
                    .filter(|c| c.finished())
                    .collect();
                let loaded: Option<Vec<TestSet>> =
                    finished.iter().map(|c| cell_test_set(store, c)).collect();
                if let Some(loaded) = loaded.filter(|l| !l.is_empty()) {
                    sets.push((system.clone(), size, loaded));
                }
            }
        }
        let resamples = data
            .cells
            .iter()
            .find_map(|c| c.bootstrap)
            .unwrap_or(DEFAULT_RESAMPLES);
        Self { sets, resamples }
    }

    /// No test sets: a table without intervals.
    pub fn none() -> Self {
        Self {
            sets: Vec::new(),
            resamples: 0,
        }
    }

    fn of(&self, system: &System, size: i64) -> Option<Vec<Scores<'_>>> {
        self.sets
            .iter()
            .find(|(s, n, _)| s == system && *n == size)
            .map(|(_, _, sets)| sets.iter().map(TestSet::scores).collect())
    }

    /// The system's interval per metric ([`METRICS`] order), over seeds and test tracks.
    pub fn interval(&self, system: &System, size: i64) -> Vec<Option<Interval>> {
        let figures = self
            .of(system, size)
            .and_then(|runs| {
                metrics::seed_track_bootstrap(&runs, self.resamples, seed_for(size, 0)).ok()
            })
            .map(|m| [m.roc_auc, m.pr_auc, m.rmse]);
        figures.map_or(vec![None; METRICS.len()], |f| f.to_vec())
    }

    /// The paired difference `a − b` per metric, when both systems' test sets exist and score
    /// the same tracks. `salt` keeps the draws of different comparisons apart.
    pub fn difference(
        &self,
        a: &System,
        b: &System,
        size: i64,
        salt: u64,
    ) -> Vec<Option<Difference>> {
        let figures = self
            .of(a, size)
            .zip(self.of(b, size))
            .and_then(|(a, b)| {
                metrics::paired_bootstrap(&a, &b, self.resamples, seed_for(size, salt)).ok()
            })
            .map(|m| [m.roc_auc, m.pr_auc, m.rmse]);
        figures.map_or(vec![None; METRICS.len()], |f| f.to_vec())
    }
}

/// One system's macro figures per size, on every test track and on shared resamples.
#[derive(Debug, Clone)]
pub struct Curve {
    pub system: System,
    /// Sizes with saved test sets, ascending.
    pub sizes: Vec<i64>,
    /// Per size: the seed-mean macro figures (ROC-AUC, PR-AUC, RMSE) on every test track.
    pub point: Vec<[Option<f64>; 3]>,
    /// Per replicate, per size: the same on that replicate's tracks and seeds.
    pub replicates: Vec<Vec<[Option<f64>; 3]>>,
}

impl TestSets {
    /// Every system's [`Curve`]; each replicate draws the test tracks once for all systems and
    /// sizes (they share one test split) and the seeds per system and size. `None` when the
    /// saved test sets are not all on the same tracks.
    pub fn curves(&self, systems: &[System], sizes: &[i64], count: usize) -> Option<Vec<Curve>> {
        let all: Vec<(&System, i64, Vec<Scores<'_>>)> = systems
            .iter()
            .flat_map(|s| {
                sizes
                    .iter()
                    .filter_map(move |&n| Some((s, n, self.of(s, n)?)))
            })
            .collect();
        let first = all.first()?.2.first()?;
        let same_tracks = all
            .iter()
            .flat_map(|(_, _, runs)| runs)
            .all(|r| r.truth == first.truth && r.kinds == first.kinds);
        if !same_tracks {
            return None;
        }
        let tracks = first.tracks();
        let every_track: Vec<usize> = (0..tracks).collect();
        // Per replicate: the tracks once, then the seeds of every (system, size).
        let mut resampler = metrics::paired::Resampler::new(seed_for(0, 1_000));
        let draws: Vec<(Vec<usize>, Vec<Vec<usize>>)> = (0..count)
            .map(|_| {
                let tracks = resampler.draw(tracks);
                let seeds = all
                    .iter()
                    .map(|(_, _, runs)| resampler.draw(runs.len()))
                    .collect();
                (tracks, seeds)
            })
            .collect();
        let curves = systems
            .iter()
            .map(|system| {
                let mine: Vec<(usize, i64, &Vec<Scores<'_>>)> = all
                    .iter()
                    .enumerate()
                    .filter(|(_, (s, _, _))| *s == system)
                    .map(|(k, (_, n, runs))| (k, *n, runs))
                    .collect();
                let point = mine
                    .iter()
                    .map(|(_, _, runs)| {
                        let seeds: Vec<usize> = (0..runs.len()).collect();
                        seed_mean(runs, &seeds, &every_track)
                    })
                    .collect();
                let replicates = draws
                    .iter()
                    .map(|(tracks, seeds)| {
                        mine.iter()
                            .map(|(k, _, runs)| seed_mean(runs, &seeds[*k], tracks))
                            .collect()
                    })
                    .collect();
                Curve {
                    system: system.clone(),
                    sizes: mine.iter().map(|(_, n, _)| *n).collect(),
                    point,
                    replicates,
                }
            })
            .collect();
        Some(curves)
    }
}

/// A fixed bootstrap seed per size and comparison, so a report regenerates byte-identically.
fn seed_for(size: i64, salt: u64) -> u64 {
    0x7a95_ca1e_u64
        .wrapping_mul(31)
        .wrapping_add(size as u64)
        .wrapping_mul(1_000_003)
        .wrapping_add(salt)
}
