//! Learning curves: a saturating power law fitted to a system's error against training-set
//! size, and the size where one fitted curve falls below another (the crossover the paper's
//! headline is about: deep models overtaking GBT between 100 k and 1 M tracks).
//!
//! The law is `err(n) = a + b·n^(−c)` with `a ≥ 0` (the error no amount of data removes),
//! `b > 0`, `c > 0`. It is fitted by weighted least squares (each size weighted by the
//! inverse variance of its error) with Levenberg–Marquardt over an unconstrained
//! parametrisation (`a = α²`, `b = e^β`, `c = e^γ`), started from several guesses of `a`.
//!
//! Hand-written rather than a crate: three parameters need a 3×3 solve, not a linear-algebra
//! dependency (the `levenberg-marquardt` crate brings nalgebra into a cold build the
//! throughput work is cutting), and it is checked against scipy's bounded `curve_fit`
//! (`tests/curve_fit_parity.rs`: it reaches scipy's optimum on every fixture curve; the bench
//! times both).

use serde::{Deserialize, Serialize};

/// `err(n) = a + b·n^(−c)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerLaw {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl PowerLaw {
    pub fn at(&self, n: f64) -> f64 {
        self.a + self.b * n.powf(-self.c)
    }
}

/// One measured size: its error and the error's standard deviation (the weight is 1/σ²).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub n: f64,
    pub err: f64,
    pub sigma: f64,
}

/// A fitted law and how well it fits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub law: PowerLaw,
    /// Root mean square of the unweighted residuals.
    pub rmse: f64,
    /// Degrees of freedom left (sizes − 3): 0 means the law passes through every point.
    pub dof: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("a learning-curve fit needs at least 3 training-set sizes, got {0}")]
    TooFewSizes(usize),
    #[error("a learning-curve point is not finite or has a non-positive size or deviation")]
    BadPoint,
    #[error("the fit did not converge")]
    NoConvergence,
}

/// Smallest deviation a point is weighted with, so an exact point does not get all weight.
const MIN_SIGMA: f64 = 1e-6;

/// Fit [`PowerLaw`] to `points` (at least 3 distinct sizes).
pub fn fit(points: &[Point]) -> Result<Fit, FitError> {
    let mut sizes: Vec<f64> = points.iter().map(|p| p.n).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    if sizes.len() < 3 {
        return Err(FitError::TooFewSizes(sizes.len()));
    }
    let bad = |p: &Point| {
        !(p.n.is_finite() && p.err.is_finite() && p.sigma.is_finite())
            || p.n <= 0.0
            || p.sigma < 0.0
    };
    if points.iter().any(bad) {
        return Err(FitError::BadPoint);
    }
    let min_err = points.iter().map(|p| p.err).fold(f64::INFINITY, f64::min);
    let best = [0.0, 0.5, 0.9]
        .iter()
        .filter_map(|share| levenberg_marquardt(points, start(points, share * min_err.max(0.0))))
        .min_by(|x, y| cost(points, *x).total_cmp(&cost(points, *y)))
        .ok_or(FitError::NoConvergence)?;
    let law = law_of(best);
    let rmse = (points
        .iter()
        .map(|p| (p.err - law.at(p.n)).powi(2))
        .sum::<f64>()
        / points.len() as f64)
        .sqrt();
    Ok(Fit {
        law,
        rmse,
        dof: sizes.len() - 3,
    })
}

/// Parameters `[α, β, γ]` to the law.
fn law_of(p: [f64; 3]) -> PowerLaw {
    PowerLaw {
        a: p[0] * p[0],
        b: p[1].exp(),
        c: p[2].exp(),
    }
}

/// A start for a guessed floor `a`: `b` and `c` from a straight line through
/// `log(err − a)` against `log n`.
fn start(points: &[Point], a: f64) -> [f64; 3] {
    let xy: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.n.ln(), (p.err - a).max(1e-9).ln()))
        .collect();
    let k = xy.len() as f64;
    let (mx, my) = (
        xy.iter().map(|v| v.0).sum::<f64>() / k,
        xy.iter().map(|v| v.1).sum::<f64>() / k,
    );
    let sxx: f64 = xy.iter().map(|v| (v.0 - mx).powi(2)).sum();
    let sxy: f64 = xy.iter().map(|v| (v.0 - mx) * (v.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { -0.5 };
    let c = (-slope).clamp(1e-3, 10.0);
    let log_b = my + c * mx;
    [a.sqrt(), log_b, c.ln()]
}

fn residuals(points: &[Point], p: [f64; 3]) -> Vec<f64> {
    let law = law_of(p);
    points
        .iter()
        .map(|q| (q.err - law.at(q.n)) / q.sigma.max(MIN_SIGMA))
        .collect()
}

fn cost(points: &[Point], p: [f64; 3]) -> f64 {
    residuals(points, p).iter().map(|r| r * r).sum()
}

/// Minimise the weighted squared residuals from `p`; `None` if it never becomes finite.
fn levenberg_marquardt(points: &[Point], mut p: [f64; 3]) -> Option<[f64; 3]> {
    let mut lambda = 1e-3;
    let mut current = cost(points, p);
    if !current.is_finite() {
        return None;
    }
    for _ in 0..500 {
        let law = law_of(p);
        // Jacobian of the model (not the residual) with respect to α, β, γ, row per point.
        let jacobian: Vec<[f64; 3]> = points
            .iter()
            .map(|q| {
                let w = 1.0 / q.sigma.max(MIN_SIGMA);
                let power = law.b * q.n.powf(-law.c);
                [2.0 * p[0] * w, power * w, -power * q.n.ln() * law.c * w]
            })
            .collect();
        let r = residuals(points, p);
        let mut jtj = [[0.0; 3]; 3];
        let mut jtr = [0.0; 3];
        for (row, ri) in jacobian.iter().zip(&r) {
            for i in 0..3 {
                jtr[i] += row[i] * ri;
                for j in 0..3 {
                    jtj[i][j] += row[i] * row[j];
                }
            }
        }
        let mut improved = false;
        while lambda < 1e12 {
            let mut damped = jtj;
            for (i, row) in damped.iter_mut().enumerate() {
                row[i] += lambda * jtj[i][i].max(1e-12);
            }
            let Some(step) = solve3(damped, jtr) else {
                lambda *= 10.0;
                continue;
            };
            let trial = [p[0] + step[0], p[1] + step[1], p[2] + step[2]];
            let trial_cost = cost(points, trial);
            if trial_cost.is_finite() && trial_cost < current {
                let relative = (current - trial_cost) / current.max(1e-300);
                p = trial;
                current = trial_cost;
                lambda = (lambda / 10.0).max(1e-12);
                improved = true;
                if relative < 1e-14 {
                    return Some(p);
                }
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            return Some(p);
        }
    }
    Some(p)
}

/// Solve the 3×3 system `m·x = v` (Gaussian elimination, partial pivoting).
fn solve3(mut m: [[f64; 3]; 3], mut v: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let pivot = (col..3).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[pivot][col].abs() < 1e-300 {
            return None;
        }
        m.swap(col, pivot);
        v.swap(col, pivot);
        for row in col + 1..3 {
            let f = m[row][col] / m[col][col];
            let pivot_row = m[col];
            for (target, p) in m[row].iter_mut().zip(pivot_row).skip(col) {
                *target -= f * p;
            }
            v[row] -= f * v[col];
        }
    }
    let mut x = [0.0; 3];
    for row in (0..3).rev() {
        let s: f64 = (row + 1..3).map(|k| m[row][k] * x[k]).sum();
        x[row] = (v[row] - s) / m[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Where a fitted curve falls below another for good.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Crossover {
    /// Below over the whole range searched.
    Below { from: f64 },
    /// Below from `n` on (to the end of the range), not just before it.
    At { n: f64 },
    /// Not below at the end of the range, `to`.
    NotBelow { to: f64 },
}

/// The size from which `lower` stays below `upper` up to `to`: curves may cross twice (a
/// deep model ahead on a handful of tracks, GBT ahead on more, the deep model ahead again),
/// and the crossing that matters for "more data" is the last one. A log-spaced scan, then
/// bisection in log space to 0.1 % of `n`.
pub fn crossover(lower: &PowerLaw, upper: &PowerLaw, from: f64, to: f64) -> Crossover {
    let below = |x: f64| lower.at(x.exp()) < upper.at(x.exp());
    const STEPS: usize = 2000;
    let (lo, hi) = (from.ln(), to.ln());
    let grid = |k: usize| lo + (hi - lo) * k as f64 / STEPS as f64;
    if !below(hi) {
        return Crossover::NotBelow { to };
    }
    let Some(last_above) = (0..=STEPS).rev().find(|&k| !below(grid(k))) else {
        return Crossover::Below { from };
    };
    let (mut a, mut b) = (grid(last_above), grid(last_above + 1));
    while b - a > 1e-3 {
        let mid = 0.5 * (a + b);
        if below(mid) {
            b = mid;
        } else {
            a = mid;
        }
    }
    Crossover::At { n: b.exp() }
}

/// Whether a size lies beyond 10× the largest measured one: a hypothesis, not a result.
pub fn is_extrapolation(n: f64, largest_measured: f64) -> bool {
    n > 10.0 * largest_measured
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(law: PowerLaw, sizes: &[f64], noise: f64, seed: u64) -> Vec<Point> {
        let mut s = seed | 1;
        sizes
            .iter()
            .map(|&n| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s % 10_000) as f64 / 10_000.0 - 0.5;
                Point {
                    n,
                    err: law.at(n) * (1.0 + noise * u),
                    sigma: law.at(n) * noise.max(1e-3),
                }
            })
            .collect()
    }

    const SIZES: [f64; 6] = [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0];

    #[test]
    fn a_known_power_law_is_recovered() {
        let truth = PowerLaw {
            a: 0.12,
            b: 1.5,
            c: 0.45,
        };
        let exact = fit(&noisy(truth, &SIZES, 0.0, 1)).unwrap();
        assert!((exact.law.a - truth.a).abs() < 1e-6, "{exact:?}");
        assert!((exact.law.b - truth.b).abs() < 1e-4, "{exact:?}");
        assert!((exact.law.c - truth.c).abs() < 1e-5, "{exact:?}");
        assert_eq!(exact.dof, 3);
        // With 1 % noise the curve itself stays close inside and just beyond the data.
        let noisy_fit = fit(&noisy(truth, &SIZES, 0.01, 7)).unwrap();
        for n in [100.0, 1000.0, 10_000.0] {
            let (got, want) = (noisy_fit.law.at(n), truth.at(n));
            assert!((got - want).abs() / want < 0.02, "n={n}: {got} vs {want}");
        }
    }

    #[test]
    fn fewer_than_three_sizes_are_refused() {
        let points = noisy(
            PowerLaw {
                a: 0.1,
                b: 1.0,
                c: 0.5,
            },
            &[100.0, 200.0, 200.0],
            0.0,
            1,
        );
        assert_eq!(fit(&points), Err(FitError::TooFewSizes(2)));
    }

    #[test]
    fn crossovers_are_found_or_said_not_to_exist() {
        // A steeper curve that starts higher crosses a flatter one.
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
        let Crossover::At { n } = crossover(&deep, &gbt, 100.0, 1e7) else {
            panic!("no crossover");
        };
        assert!((deep.at(n) - gbt.at(n)).abs() < 1e-4 * gbt.at(n), "n = {n}");
        assert!(deep.at(n * 0.99) > gbt.at(n * 0.99));
        assert!(is_extrapolation(n, 800.0) == (n > 8000.0));
        // A curve that stays above never crosses; one already below says so.
        let worse = PowerLaw { a: 0.2, ..gbt };
        assert_eq!(
            crossover(&worse, &gbt, 100.0, 1e6),
            Crossover::NotBelow { to: 1e6 }
        );
        assert_eq!(
            crossover(&gbt, &worse, 100.0, 1e6),
            Crossover::Below { from: 100.0 }
        );
        // Ahead on a few tracks, behind on more, ahead for good later: the last crossing.
        let early = PowerLaw {
            a: 0.02,
            b: 0.45,
            c: 0.12,
        };
        let late_gbt = PowerLaw {
            a: 0.2,
            b: 40.0,
            c: 1.2,
        };
        let n0 = 10.0;
        assert!(early.at(n0) < late_gbt.at(n0));
        assert!(early.at(1000.0) > late_gbt.at(1000.0));
        let Crossover::At { n } = crossover(&early, &late_gbt, n0, 1e9) else {
            panic!("no crossover")
        };
        assert!(
            n > 1000.0 && early.at(n * 1.01) < late_gbt.at(n * 1.01),
            "n = {n}"
        );
    }

    #[test]
    fn a_crossover_of_fitted_noisy_curves_is_near_the_true_one() {
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
        let sizes: Vec<f64> = (0..8).map(|k| 100.0 * 2f64.powi(k)).collect();
        let fg = fit(&noisy(gbt, &sizes, 0.005, 3)).unwrap().law;
        let fd = fit(&noisy(deep, &sizes, 0.005, 4)).unwrap().law;
        let Crossover::At { n } = crossover(&fd, &fg, 100.0, 1e7) else {
            panic!("{fd:?} {fg:?}")
        };
        assert!((n / truth).ln().abs() < 0.5, "{n} vs {truth}");
    }
}
