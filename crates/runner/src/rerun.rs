//! Re-running a logged run by its ID from its stored resolved config, and comparing the two.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::AtomicBool;

use tracking::{EpochMetric, FinalMetric, RunRecord, Store};

use crate::config::RunConfig;
use crate::dataset::manifest_of;
use crate::env::Env;
use crate::error::{Result, RunnerError};
use crate::execute::{RunOutcome, execute, new_run};
use crate::progress::RunProgress;

/// What a rerun is about to do, before it does it.
pub struct RerunPlan {
    pub original: RunRecord,
    pub config: RunConfig,
    /// Differences between the original's code version and this binary's, for a warning.
    pub code_differences: Vec<String>,
    /// Differences between the original's host and this one that can change floating-point
    /// results (CPU, SIMD features, GPUs): with any, a bit-exact rerun is not expected and
    /// the verdict rests on the tolerance.
    pub host_differences: Vec<String>,
}

/// Read run `id` back and check it can be re-run faithfully: its config parses and its
/// dataset still hashes to what it was trained on.
pub fn plan(store: &Store, env: &Env, id: i64) -> Result<RerunPlan> {
    let original = store.run(id)?;
    let config = RunConfig::from_json(&original.config_json)?;
    if let Some(recorded) = &original.dataset_hash {
        let manifest = manifest_of(&config.dataset, &env.data_root)?;
        let current = manifest.content_hash();
        if &current != recorded {
            return Err(RunnerError::DatasetChanged {
                run: id,
                name: manifest.name,
                recorded: recorded.clone(),
                current,
            });
        }
    }
    let (then, now) = (&original.code, &env.code);
    let mut code_differences = Vec::new();
    for (what, a, b) in [
        ("git commit", then.short(), now.short()),
        (
            "rustc",
            then.rustc_version.clone(),
            now.rustc_version.clone(),
        ),
        (
            "cargo features",
            then.cargo_features.clone(),
            now.cargo_features.clone(),
        ),
        (
            "binary sha256",
            then.binary_sha256.clone(),
            now.binary_sha256.clone(),
        ),
    ] {
        if a != b {
            code_differences.push(format!("{what}: {a} then, {b} now"));
        }
    }
    let host_differences = original.host.float_differences(&tracking::Host::current());
    Ok(RerunPlan {
        original,
        config,
        code_differences,
        host_differences,
    })
}

/// Execute the plan as a new run with `rerun_of` set.
pub fn rerun(
    store: &Store,
    env: &Env,
    plan: &RerunPlan,
    interrupt: &AtomicBool,
    progress: &dyn RunProgress,
) -> Result<RunOutcome> {
    let run = new_run(&plan.config, env, None, Some(plan.original.id));
    let id = store.insert_run(&run)?;
    execute(store, env, id, &plan.config, interrupt, progress)
}

/// How a rerun compares with its original.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    ReproducedExact,
    WithinTolerance {
        max_diff: f64,
    },
    /// `epoch` (the 0-based evaluation) is `None` for the final metrics.
    Diverged {
        epoch: Option<i64>,
        key: String,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::ReproducedExact => write!(f, "REPRODUCED_EXACT"),
            Verdict::WithinTolerance { max_diff } => {
                write!(f, "WITHIN_TOLERANCE (max diff {max_diff:.3e})")
            }
            Verdict::Diverged {
                epoch: Some(e),
                key,
            } => write!(f, "DIVERGED at evaluation {}, key {key}", e + 1),
            Verdict::Diverged { epoch: None, key } => {
                write!(f, "DIVERGED at the final metrics, key {key}")
            }
        }
    }
}

/// Compare every per-evaluation value (in order) and then every final metric. Values equal
/// bit for bit (NaN equals NaN) are exact; others within `tolerance` (absolute) are close;
/// the first beyond it, or a value present in only one run, is where they diverged.
pub fn verify(store: &Store, original: i64, rerun: i64, tolerance: f64) -> Result<Verdict> {
    let epochs = |id| -> Result<Vec<(Option<i64>, String, f64)>> {
        Ok(store
            .epoch_metrics(id)?
            .into_iter()
            .map(|m: EpochMetric| (Some(m.epoch), format!("{}/{}", m.split, m.key), m.value))
            .collect())
    };
    let finals = |id| -> Result<Vec<(Option<i64>, String, f64)>> {
        Ok(store
            .run_metrics(id)?
            .into_iter()
            .map(|m: FinalMetric| {
                let key = match &m.tag {
                    Some(tag) => format!("{}/{}[{tag}]", m.split, m.key),
                    None => format!("{}/{}", m.split, m.key),
                };
                (None, key, m.value)
            })
            .collect())
    };
    let mut a = epochs(original)?;
    a.extend(finals(original)?);
    let mut b = epochs(rerun)?;
    b.extend(finals(rerun)?);
    Ok(compare(&a, &b, tolerance))
}

/// A final metric's split, key and tag.
type MetricId = (String, String, Option<String>);

/// The largest absolute difference between the two runs' final metrics of the same split,
/// key and tag (0 when they share none): how far apart the results a reader uses are, even
/// where the runs diverged on the way.
pub fn largest_final_difference(store: &Store, original: i64, rerun: i64) -> Result<f64> {
    let of = |id| -> Result<BTreeMap<MetricId, f64>> {
        Ok(store
            .run_metrics(id)?
            .into_iter()
            .map(|m| ((m.split, m.key, m.tag), m.value))
            .collect())
    };
    let (a, b) = (of(original)?, of(rerun)?);
    Ok(a.iter()
        .filter_map(|(k, va)| b.get(k).map(|vb| (va - vb).abs()))
        .filter(|d| d.is_finite())
        .fold(0.0, f64::max))
}

fn compare(
    a: &[(Option<i64>, String, f64)],
    b: &[(Option<i64>, String, f64)],
    tolerance: f64,
) -> Verdict {
    let mut max_diff = 0.0f64;
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (Some((ea, ka, va)), Some((eb, kb, vb))) if ea == eb && ka == kb => {
                if va.to_bits() == vb.to_bits() || (va.is_nan() && vb.is_nan()) {
                    continue;
                }
                let diff = (va - vb).abs();
                if diff.is_nan() || diff > tolerance {
                    return Verdict::Diverged {
                        epoch: *ea,
                        key: ka.clone(),
                    };
                }
                max_diff = max_diff.max(diff);
            }
            (Some((e, k, _)), _) | (None, Some((e, k, _))) => {
                return Verdict::Diverged {
                    epoch: *e,
                    key: k.clone(),
                };
            }
            (None, None) => break,
        }
    }
    if max_diff == 0.0 {
        Verdict::ReproducedExact
    } else {
        Verdict::WithinTolerance { max_diff }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(epoch: Option<i64>, key: &str, value: f64) -> (Option<i64>, String, f64) {
        (epoch, key.into(), value)
    }

    #[test]
    fn verdicts() {
        let a = vec![v(Some(0), "train/loss", 0.5), v(None, "test/roc_auc", 0.9)];
        assert_eq!(compare(&a, &a, 1e-6), Verdict::ReproducedExact);
        let close = vec![
            v(Some(0), "train/loss", 0.5 + 1e-9),
            v(None, "test/roc_auc", 0.9),
        ];
        assert!(matches!(
            compare(&a, &close, 1e-6),
            Verdict::WithinTolerance { .. }
        ));
        let far = vec![v(Some(0), "train/loss", 0.6), v(None, "test/roc_auc", 0.9)];
        assert_eq!(
            compare(&a, &far, 1e-6).to_string(),
            "DIVERGED at evaluation 1, key train/loss"
        );
        let short = vec![v(Some(0), "train/loss", 0.5)];
        assert_eq!(
            compare(&a, &short, 1e-6).to_string(),
            "DIVERGED at the final metrics, key test/roc_auc"
        );
        let nan = vec![v(Some(0), "train/loss", f64::NAN)];
        assert_eq!(compare(&nan, &nan, 0.0), Verdict::ReproducedExact);
    }
}
