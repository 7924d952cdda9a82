//! Paired bootstrap of a difference between two systems evaluated on the same test tracks
//! (Δ = spectrogram − waveform, deep − GBT), combining seed and test-set variation.
//!
//! Each replicate resamples the seeds of each system with replacement, then the test tracks
//! once; the replicate's Δ is the mean over a's resampled seeds of a macro figure on those
//! tracks minus the same for b. Both systems see the same resample, so the interval describes
//! the difference itself, which is far narrower than two separate intervals suggest when the
//! systems err on the same tracks.

use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{Interval, MacroIntervals, MetricsError, Result, Scores, evaluate_rows, interval};

/// One replicate: indices of the seeds drawn for each system and of the tracks drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicate {
    pub seeds_a: Vec<usize>,
    pub seeds_b: Vec<usize>,
    pub tracks: Vec<usize>,
}

/// A seeded source of resamples: `n` indices drawn from `0..n` with replacement.
pub struct Resampler(rand_chacha::ChaCha8Rng);

impl Resampler {
    pub fn new(seed: u64) -> Self {
        Self(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }

    pub fn draw(&mut self, n: usize) -> Vec<usize> {
        (0..n).map(|_| self.0.random_range(0..n.max(1))).collect()
    }
}

/// `count` seeded replicates for systems of `seeds_a` and `seeds_b` seeds on `tracks` tracks.
pub fn replicates(
    seeds_a: usize,
    seeds_b: usize,
    tracks: usize,
    count: usize,
    seed: u64,
) -> Vec<Replicate> {
    let mut resampler = Resampler::new(seed);
    (0..count)
        .map(|_| Replicate {
            seeds_a: resampler.draw(seeds_a),
            seeds_b: resampler.draw(seeds_b),
            tracks: resampler.draw(tracks),
        })
        .collect()
}

/// A difference a − b of one macro figure: its point estimate (the seed means on every test
/// track) and the 95 % interval of the replicates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub delta: f64,
    pub interval: Interval,
}

impl Difference {
    /// Whether the interval leaves out 0: a difference the test set and seeds support.
    pub fn excludes_zero(&self) -> bool {
        self.interval.low > 0.0 || self.interval.high < 0.0
    }
}

/// The differences of the three macro figures (`None` where a figure does not exist).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MacroDifferences {
    pub roc_auc: Option<Difference>,
    pub pr_auc: Option<Difference>,
    pub rmse: Option<Difference>,
}

/// The macro figures (ROC-AUC, PR-AUC, RMSE) of `scores` on `tracks`.
fn macros(scores: &Scores<'_>, tracks: &[usize]) -> [Option<f64>; 3] {
    let e = evaluate_rows(scores, tracks);
    [e.macro_roc_auc, e.macro_pr_auc, e.macro_rmse]
}

/// The mean over `seeds` (indices into `runs`, repeats allowed) of each macro figure
/// (ROC-AUC, PR-AUC, RMSE) on `tracks` (repeats allowed); a figure missing for any seed is
/// missing. One replicate's figures, for callers that share a resample across many systems.
pub fn seed_mean(runs: &[Scores<'_>], seeds: &[usize], tracks: &[usize]) -> [Option<f64>; 3] {
    let mut sums = [Some(0.0); 3];
    let mut cache: Vec<Option<[Option<f64>; 3]>> = vec![None; runs.len()];
    for &s in seeds {
        let figures = *cache[s].get_or_insert_with(|| macros(&runs[s], tracks));
        for (sum, value) in sums.iter_mut().zip(figures) {
            *sum = sum.zip(value).map(|(a, b)| a + b);
        }
    }
    sums.map(|s| s.map(|s| s / seeds.len().max(1) as f64))
}

/// Check that every run scores the same tracks against the same truth and tag kinds.
fn check_paired(a: &[Scores<'_>], b: &[Scores<'_>]) -> Result<()> {
    let first = a.first().or(b.first()).ok_or(MetricsError::Paired(
        "each system needs at least one run".into(),
    ))?;
    if a.is_empty() || b.is_empty() {
        return Err(MetricsError::Paired(
            "each system needs at least one run".into(),
        ));
    }
    for (i, run) in a.iter().chain(b).enumerate() {
        run.validate()?;
        if run.kinds != first.kinds || run.truth != first.truth {
            return Err(MetricsError::Paired(format!(
                "run {i} of the pair was scored on other tracks, truth or tags than run 0"
            )));
        }
    }
    Ok(())
}

/// Δ = a − b of each macro figure over the given replicates (see the module docs).
pub fn paired_difference(
    a: &[Scores<'_>],
    b: &[Scores<'_>],
    replicates: &[Replicate],
) -> Result<MacroDifferences> {
    check_paired(a, b)?;
    let tracks = a[0].tracks();
    let all_tracks: Vec<usize> = (0..tracks).collect();
    let all = |n: usize| -> Vec<usize> { (0..n).collect() };
    let point = difference(
        seed_mean(a, &all(a.len()), &all_tracks),
        seed_mean(b, &all(b.len()), &all_tracks),
    );
    let mut samples: [Vec<f64>; 3] = Default::default();
    for r in replicates {
        let out_of_range = r.seeds_a.iter().any(|&s| s >= a.len())
            || r.seeds_b.iter().any(|&s| s >= b.len())
            || r.tracks.iter().any(|&t| t >= tracks);
        if out_of_range {
            return Err(MetricsError::Paired(
                "a replicate draws a seed or track that does not exist".into(),
            ));
        }
        let d = difference(
            seed_mean(a, &r.seeds_a, &r.tracks),
            seed_mean(b, &r.seeds_b, &r.tracks),
        );
        for (sample, value) in samples.iter_mut().zip(d) {
            sample.extend(value);
        }
    }
    let [roc_auc, pr_auc, rmse] = [0, 1, 2].map(|m| {
        let delta = point[m]?;
        let interval = interval(std::mem::take(&mut samples[m]))?;
        Some(Difference { delta, interval })
    });
    Ok(MacroDifferences {
        roc_auc,
        pr_auc,
        rmse,
    })
}

fn difference(a: [Option<f64>; 3], b: [Option<f64>; 3]) -> [Option<f64>; 3] {
    [0, 1, 2].map(|m| Some(a[m]? - b[m]?))
}

/// [`paired_difference`] over `resamples` seeded [`replicates`].
pub fn paired_bootstrap(
    a: &[Scores<'_>],
    b: &[Scores<'_>],
    resamples: usize,
    seed: u64,
) -> Result<MacroDifferences> {
    check_paired(a, b)?;
    let plan = replicates(a.len(), b.len(), a[0].tracks(), resamples, seed);
    paired_difference(a, b, &plan)
}

/// One system's macro figures over seeds and test tracks: each of `resamples` seeded
/// replicates resamples the seeds, then the tracks, and takes the seed mean (the interval of
/// a table row with several seeds; with one seed, the plain track bootstrap).
pub fn seed_track_bootstrap(
    runs: &[Scores<'_>],
    resamples: usize,
    seed: u64,
) -> Result<MacroIntervals> {
    check_paired(runs, runs)?;
    let mut samples: [Vec<f64>; 3] = Default::default();
    for r in replicates(runs.len(), 0, runs[0].tracks(), resamples, seed) {
        for (sample, value) in samples
            .iter_mut()
            .zip(seed_mean(runs, &r.seeds_a, &r.tracks))
        {
            sample.extend(value);
        }
    }
    let [roc_auc, pr_auc, rmse] = samples.map(interval);
    Ok(MacroIntervals {
        roc_auc,
        pr_auc,
        rmse,
    })
}
