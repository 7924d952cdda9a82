//! `crossover.md`: per metric, a saturating power law fitted to each system's error against
//! training-set size, and the size n* at which a deep model's fitted error falls below GBT's,
//! with a bootstrap interval (the fits redone on every shared resample).

use std::fmt::Write;

use metrics::curve::{Crossover, Fit, Point, PowerLaw, crossover, fit, is_extrapolation};
use tracking::keys::model;

use crate::data::{METRICS, Metric, System};
use crate::uncertainty::Curve;

/// How far beyond the largest measured size a crossover is searched for.
const SEARCH_FACTOR: f64 = 1000.0;
/// Smallest deviation a size's error is weighted with.
const MIN_SIGMA: f64 = 1e-4;

/// The error a metric's value stands for: 1 − ROC-AUC, 1 − PR-AUC, RMSE.
fn error(metric: Metric, value: f64) -> f64 {
    if metric.higher_is_better() {
        1.0 - value
    } else {
        value
    }
}

fn error_name(metric: Metric) -> String {
    if metric.higher_is_better() {
        format!("1 − {}", metric.label())
    } else {
        metric.label().to_string()
    }
}

/// A curve's error points for metric `m`: point values weighted by their replicate spread.
fn points(curve: &Curve, m: usize, metric: Metric, replicate: Option<usize>) -> Vec<Point> {
    curve
        .sizes
        .iter()
        .enumerate()
        .filter_map(|(k, &n)| {
            let spread: Vec<f64> = curve
                .replicates
                .iter()
                .filter_map(|r| r[k][m].map(|v| error(metric, v)))
                .collect();
            let sigma = metrics::mean_std(&spread).map_or(MIN_SIGMA, |(_, s)| s.max(MIN_SIGMA));
            let value = match replicate {
                Some(r) => curve.replicates[r][k][m]?,
                None => curve.point[k][m]?,
            };
            Some(Point {
                n: n as f64,
                err: error(metric, value),
                sigma,
            })
        })
        .collect()
}

/// n* as a number for the interval: below from the start = the smallest size, never below =
/// infinity.
fn as_size(c: Crossover) -> f64 {
    match c {
        Crossover::Below { from } => from,
        Crossover::At { n } => n,
        Crossover::NotBelow { .. } => f64::INFINITY,
    }
}

/// Percentile of sorted sizes, infinity kept (an interval can be open above).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len().saturating_sub(1)) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    if sorted[hi].is_infinite() || sorted[lo].is_infinite() {
        return f64::INFINITY;
    }
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// `b` of a fit: plain, or in scientific notation when a steep fit makes it huge.
fn coefficient(b: f64) -> String {
    if b.abs() >= 1e4 {
        format!("{b:.3e}")
    } else {
        format!("{b:.4}")
    }
}

fn size_text(n: f64) -> String {
    if n.is_infinite() {
        "never".into()
    } else {
        format!("{:.0}", n)
    }
}

/// What the fits say about one deep system against GBT for one metric: one sentence.
struct Verdict {
    sentence: String,
}

fn verdict(deep: &Curve, gbt: &Curve, fits: (&Fit, &Fit), m: usize, metric: Metric) -> Verdict {
    let (smallest, largest, limit) = search_range(deep);
    let point = crossover(&fits.0.law, &fits.1.law, smallest, limit);
    let mut sizes: Vec<f64> = (0..deep.replicates.len().min(gbt.replicates.len()))
        .filter_map(|r| {
            let d = fit(&points(deep, m, metric, Some(r))).ok()?;
            let g = fit(&points(gbt, m, metric, Some(r))).ok()?;
            Some(as_size(crossover(&d.law, &g.law, smallest, limit)))
        })
        .collect();
    sizes.sort_by(f64::total_cmp);
    let interval = (!sizes.is_empty()).then(|| {
        format!(
            " (95 % interval {} – {})",
            size_text(percentile(&sizes, 2.5)),
            size_text(percentile(&sizes, 97.5))
        )
    });
    let interval = interval.unwrap_or_default();
    let who = deep.system.label.as_str();
    let what = error_name(metric);
    let sentence = match point {
        Crossover::Below { .. } => format!(
            "{}: {who}'s fitted {what} is below GBT's at every size from {:.0} to {:.0} \
             tracks{interval}.",
            metric.label(),
            smallest,
            limit
        ),
        Crossover::At { n } => {
            let label = if is_extrapolation(n, largest) {
                " — an extrapolation beyond 10× the largest measured size, a hypothesis"
            } else {
                ""
            };
            format!(
                "{}: {who}'s fitted {what} falls below GBT's for good at n* ≈ {:.0} \
                 tracks{interval}{label}.",
                metric.label(),
                n
            )
        }
        Crossover::NotBelow { to } => format!(
            "{}: {who}'s fitted {what} is not below GBT's at {:.0} tracks, \
             {SEARCH_FACTOR:.0}× the largest measured size{interval}.",
            metric.label(),
            to
        ),
    };
    Verdict { sentence }
}

/// The first size beyond `largest` at which the fitted |a − b| is half of what it is at
/// `largest` (the paper's "Δ shrinks with data"), searched up to 1000× `largest`.
fn halving(a: &PowerLaw, b: &PowerLaw, largest: f64) -> Option<f64> {
    let gap = |x: f64| (a.at(x.exp()) - b.at(x.exp())).abs();
    let (lo, hi) = (largest.ln(), (SEARCH_FACTOR * largest).ln());
    let target = gap(lo) / 2.0;
    if target <= 0.0 || !target.is_finite() {
        return None;
    }
    const STEPS: usize = 2000;
    let mut previous = lo;
    for k in 1..=STEPS {
        let x = lo + (hi - lo) * k as f64 / STEPS as f64;
        if gap(x) <= target {
            let (mut l, mut h) = (previous, x);
            while h - l > 1e-3 {
                let mid = 0.5 * (l + h);
                if gap(mid) <= target {
                    h = mid;
                } else {
                    l = mid;
                }
            }
            return Some(h.exp());
        }
        previous = x;
    }
    None
}

/// Where the fitted Δ (spectrogram − waveform, per backend) is predicted to halve.
fn halving_sentence(fits: &[(&Curve, Option<Fit>)], metric: Metric) -> Option<String> {
    let find = |model: &str| {
        fits.iter()
            .find(|(c, f)| c.system.model == model && f.is_some())
            .and_then(|(c, f)| Some((*c, (*f)?)))
    };
    let ((spec, fs), (_, fw)) = (find(model::SPECTROGRAM)?, find(model::WAVEFORM)?);
    let largest = spec.sizes.last().copied()?.max(1) as f64;
    let gap = (fs.law.at(largest) - fw.law.at(largest)).abs();
    let what = error_name(metric);
    Some(match halving(&fs.law, &fw.law, largest) {
        Some(n) => format!(
            "Δ (spectrogram − waveform) of {what}: the fitted |Δ| of {gap:.4} at {largest:.0} \
             tracks halves by n ≈ {n:.0} tracks{}.",
            if is_extrapolation(n, largest) {
                " — an extrapolation"
            } else {
                ""
            }
        ),
        None => format!(
            "Δ (spectrogram − waveform) of {what}: the fitted |Δ| of {gap:.4} at {largest:.0} \
             tracks does not halve by {:.0} tracks.",
            SEARCH_FACTOR * largest
        ),
    })
}

/// The smallest and largest measured sizes of a curve and how far a crossover is searched.
fn search_range(curve: &Curve) -> (f64, f64, f64) {
    let smallest = curve.sizes.first().copied().unwrap_or(1).max(1) as f64;
    let largest = curve.sizes.last().copied().unwrap_or(1).max(1) as f64;
    (smallest, largest, SEARCH_FACTOR * largest)
}

/// Per metric ([`METRICS`] order), each deep system's point n* against GBT where the fitted
/// curves cross within the search range, for marking on the figure.
pub fn crossings(curves: &[Curve]) -> Vec<(System, [Option<f64>; 3])> {
    let fitted = laws(curves);
    let Some((_, gbt)) = fitted.iter().find(|(s, _)| s.model == model::GBT) else {
        return Vec::new();
    };
    curves
        .iter()
        .zip(&fitted)
        .filter(|(c, _)| c.system.model != model::GBT)
        .map(|(curve, (system, deep))| {
            let (smallest, _, limit) = search_range(curve);
            let n = |m: usize| match crossover(&deep[m]?, &gbt[m]?, smallest, limit) {
                Crossover::At { n } => Some(n),
                _ => None,
            };
            (system.clone(), [n(0), n(1), n(2)])
        })
        .collect()
}

/// Each curve's fitted law per metric ([`METRICS`] order, error units), for the figure.
pub fn laws(curves: &[Curve]) -> Vec<(System, [Option<PowerLaw>; 3])> {
    curves
        .iter()
        .map(|c| {
            let law = |m: usize| fit(&points(c, m, METRICS[m], None)).ok().map(|f| f.law);
            (c.system.clone(), [law(0), law(1), law(2)])
        })
        .collect()
}

/// `crossover.md`, and the one-sentence answers per metric for `index.md`.
pub fn markdown(curves: &[Curve], sizes: usize) -> (String, Vec<String>) {
    let mut out = String::from("# Learning-curve fits and the crossover\n\n");
    if sizes < 3 {
        let why = format!(
            "No fit: this sweep has {sizes} training-set size{}; a learning-curve fit \
             err(n) = a + b·n^(−c) needs at least 3.",
            if sizes == 1 { "" } else { "s" }
        );
        let _ = writeln!(out, "{why}");
        return (out, vec![why]);
    }
    out.push_str(
        "Each system's error (1 − ROC-AUC, 1 − PR-AUC, RMSE) against the training-set size n \
         is fitted with err(n) = a + b·n^(−c) (a ≥ 0, b, c > 0; weighted least squares, \
         each size weighted by its bootstrap deviation). n* is the size from which a deep \
         model's fitted error stays below GBT's (up to 1000× the largest measured size); its \
         interval comes from refitting on \
         each shared bootstrap resample of the test tracks and seeds. Fits to a few small \
         sizes say little about sizes far beyond them: an n* beyond 10× the largest measured \
         size is an extrapolation, a hypothesis to test, not a result.\n",
    );
    let mut answers = Vec::new();
    let gbt = curves.iter().find(|c| c.system.model == model::GBT);
    for (m, &metric) in METRICS.iter().enumerate() {
        let _ = writeln!(
            out,
            "\n## {}\n\n| system | a | b | c | fit RMSE | dof |\n|---|---:|---:|---:|---:|---:|",
            error_name(metric)
        );
        let fits: Vec<(&Curve, Option<Fit>)> = curves
            .iter()
            .map(|c| (c, fit(&points(c, m, metric, None)).ok()))
            .collect();
        for (curve, f) in &fits {
            match f {
                Some(f) => {
                    let _ = writeln!(
                        out,
                        "| {} | {:.4} | {} | {:.4} | {:.4} | {} |",
                        curve.system.label,
                        f.law.a,
                        coefficient(f.law.b),
                        f.law.c,
                        f.rmse,
                        f.dof
                    );
                }
                None => {
                    let _ = writeln!(out, "| {} | no fit | | | | |", curve.system.label);
                }
            }
        }
        if let Some(sentence) = halving_sentence(&fits, metric) {
            let _ = writeln!(out, "\n- {sentence}");
        }
        let Some((gbt, Some(gbt_fit))) =
            gbt.and_then(|g| fits.iter().find(|(c, _)| std::ptr::eq(*c, g)).cloned())
        else {
            continue;
        };
        out.push('\n');
        for (curve, f) in fits.iter().filter(|(c, _)| c.system.model != model::GBT) {
            let Some(f) = f else { continue };
            let v = verdict(curve, gbt, (f, &gbt_fit), m, metric);
            let _ = writeln!(out, "- {}", v.sentence);
            answers.push(v.sentence);
        }
    }
    (out, answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(model: &str, law: PowerLaw, sizes: &[i64]) -> Curve {
        let figures = |n: i64, wobble: f64| {
            let err = law.at(n as f64) * (1.0 + wobble);
            [Some(1.0 - err), Some(1.0 - err), Some(err)]
        };
        Curve {
            system: System {
                label: model.into(),
                model: model.into(),
                backend: None,
            },
            sizes: sizes.to_vec(),
            point: sizes.iter().map(|&n| figures(n, 0.0)).collect(),
            replicates: (0..40)
                .map(|r| {
                    sizes
                        .iter()
                        .map(|&n| figures(n, 0.004 * ((r * 7 + n as usize) % 5) as f64 - 0.008))
                        .collect()
                })
                .collect(),
        }
    }

    const SIZES: [i64; 4] = [100, 200, 400, 800];

    #[test]
    fn crossing_curves_give_n_star_with_an_interval_and_the_extrapolation_label() {
        let gbt = PowerLaw {
            a: 0.15,
            b: 0.5,
            c: 0.2,
        };
        let deep = PowerLaw {
            a: 0.05,
            b: 2.0,
            c: 0.35,
        };
        let Crossover::At { n: truth } = crossover(&deep, &gbt, 100.0, 1e7) else {
            panic!()
        };
        let (text, answers) = markdown(
            &[
                curve("gbt", gbt, &SIZES),
                curve("spectrogram", deep, &SIZES),
            ],
            4,
        );
        assert_eq!(answers.len(), 3, "{text}");
        assert!(
            answers[0].starts_with(
                "ROC-AUC: spectrogram's fitted 1 − ROC-AUC falls below GBT's for good"
            )
        );
        assert!(answers[0].contains("95 % interval"), "{}", answers[0]);
        let shown: f64 = answers[0]
            .split("n* ≈ ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|t| t.parse().ok())
            .unwrap();
        assert!((shown / truth - 1.0).abs() < 0.1, "{shown} vs {truth}");
        assert_eq!(
            answers[0].contains("extrapolation"),
            truth > 8000.0,
            "{}",
            answers[0]
        );
        assert!(text.contains("| gbt | 0.15"), "{text}");
        // The figure marks the same n*.
        let marked = crossings(&[
            curve("gbt", gbt, &SIZES),
            curve("spectrogram", deep, &SIZES),
        ]);
        assert_eq!(marked.len(), 1);
        let n = marked[0].1[0].unwrap();
        assert!((n / shown - 1.0).abs() < 0.01, "{n} vs {shown}");
    }

    #[test]
    fn a_shrinking_delta_is_predicted_to_halve() {
        let wave = PowerLaw {
            a: 0.1,
            b: 1.0,
            c: 0.5,
        };
        let spec = PowerLaw { b: 0.8, ..wave };
        // |Δ| = 0.2·n^−0.5: it halves when n grows fourfold.
        let n = halving(&spec, &wave, 800.0).unwrap();
        assert!((n / 3200.0 - 1.0).abs() < 0.01, "{n}");
        let (text, _) = markdown(
            &[
                curve("waveform", wave, &SIZES),
                curve("spectrogram", spec, &SIZES),
            ],
            4,
        );
        assert!(text.contains("halves by n ≈ 32"), "{text}");
        let parallel = PowerLaw { a: 0.05, ..wave };
        assert_eq!(halving(&parallel, &wave, 800.0), None);
    }

    #[test]
    fn curves_that_do_not_cross_and_too_few_sizes_say_so() {
        let gbt = PowerLaw {
            a: 0.10,
            b: 0.5,
            c: 0.3,
        };
        let worse = PowerLaw { a: 0.2, ..gbt };
        let (_, answers) = markdown(
            &[curve("gbt", gbt, &SIZES), curve("waveform", worse, &SIZES)],
            4,
        );
        assert!(
            answers[0].contains("is not below GBT's at 800000 tracks")
                && answers[0].contains("never – never"),
            "{answers:?}"
        );
        let (text, answers) = markdown(&[], 2);
        assert!(text.contains("needs at least 3") && answers[0].contains("2 training-set sizes"));
    }
}
