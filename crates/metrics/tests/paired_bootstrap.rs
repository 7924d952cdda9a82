//! The paired bootstrap against an independent numpy + scikit-learn computation
//! (`tools/reference/make_paired_bootstrap_fixture.py`), replicate by replicate.

use metrics::{Replicate, Scores, TagKind, paired_bootstrap, paired_difference};

#[derive(serde::Deserialize)]
struct Fixture {
    kinds: Vec<TagKind>,
    truth: Vec<Vec<f64>>,
    a: Vec<Vec<Vec<f64>>>,
    b: Vec<Vec<Vec<f64>>>,
    replicates: Vec<Replicate>,
    delta: [f64; 3],
    replicate_deltas: [Vec<f64>; 3],
    low: [f64; 3],
    high: [f64; 3],
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/paired_bootstrap.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

struct Systems {
    names: Vec<String>,
    kinds: Vec<TagKind>,
    truth: Vec<f64>,
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
}

impl Systems {
    fn of(f: &Fixture) -> Self {
        Self {
            names: (0..f.kinds.len()).map(|j| format!("tag{j}")).collect(),
            kinds: f.kinds.clone(),
            truth: f.truth.concat(),
            a: f.a.iter().map(|p| p.concat()).collect(),
            b: f.b.iter().map(|p| p.concat()).collect(),
        }
    }

    fn scores<'a>(&'a self, runs: &'a [Vec<f64>]) -> Vec<Scores<'a>> {
        runs.iter()
            .map(|p| Scores {
                names: &self.names,
                kinds: &self.kinds,
                truth: &self.truth,
                predictions: p,
            })
            .collect()
    }
}

#[test]
fn paired_differences_match_numpy_and_sklearn_within_1e_9() {
    let f = fixture();
    let s = Systems::of(&f);
    let (a, b) = (s.scores(&s.a), s.scores(&s.b));
    let ours = paired_difference(&a, &b, &f.replicates).unwrap();
    let figures = [ours.roc_auc, ours.pr_auc, ours.rmse];
    for (m, figure) in figures.iter().enumerate() {
        let d = figure.expect("every figure exists");
        assert!(
            (d.delta - f.delta[m]).abs() <= 1e-9,
            "{m}: {d:?} vs {}",
            f.delta[m]
        );
        assert!((d.interval.low - f.low[m]).abs() <= 1e-9, "{m}: {d:?}");
        assert!((d.interval.high - f.high[m]).abs() <= 1e-9, "{m}: {d:?}");
    }
    // Replicate by replicate, too: one of them through the same function alone.
    let one = paired_difference(&a, &b, &f.replicates[7..8]).unwrap();
    let d = one.roc_auc.unwrap().interval;
    assert!((d.low - f.replicate_deltas[0][7]).abs() <= 1e-9);
    assert_eq!(f.replicate_deltas[0].len(), f.replicates.len());
}

/// Pairing matters: two systems that err on the same tracks have a Δ interval much narrower
/// than their own intervals, and a system compared with itself has Δ exactly 0.
#[test]
fn a_system_against_itself_has_delta_zero_and_pairing_narrows_the_interval() {
    let f = fixture();
    let s = Systems::of(&f);
    let (a, b) = (s.scores(&s.a), s.scores(&s.b));
    let same = paired_bootstrap(&a, &a, 200, 5).unwrap().roc_auc.unwrap();
    assert_eq!(same.delta, 0.0);
    assert!(same.interval.low <= 0.0 && same.interval.high >= 0.0);
    let paired = paired_bootstrap(&a, &b, 500, 5).unwrap().roc_auc.unwrap();
    let own = metrics::bootstrap(&a[0], 500, 5).unwrap().roc_auc.unwrap();
    assert!(
        paired.interval.high - paired.interval.low < own.high - own.low,
        "{paired:?} vs {own:?}"
    );
    assert!(
        paired.excludes_zero(),
        "a is the stronger system: {paired:?}"
    );
    // Seeded: the same seed gives the same interval.
    assert_eq!(
        paired,
        paired_bootstrap(&a, &b, 500, 5).unwrap().roc_auc.unwrap()
    );
}

#[test]
fn systems_scored_on_other_tracks_are_refused() {
    let f = fixture();
    let s = Systems::of(&f);
    let a = s.scores(&s.a);
    let other_truth: Vec<f64> = s.truth.iter().map(|v| 1.0 - v).collect();
    let b = vec![Scores {
        truth: &other_truth,
        ..a[0]
    }];
    let err = paired_bootstrap(&a, &b, 10, 1).unwrap_err().to_string();
    assert!(err.contains("other tracks"), "{err}");
    assert!(paired_bootstrap(&a, &[], 10, 1).is_err());
}

/// One seed: the seed-and-track interval is the plain track bootstrap of that run.
#[test]
fn one_seed_intervals_are_the_track_bootstrap() {
    let f = fixture();
    let s = Systems::of(&f);
    let a = s.scores(&s.a);
    let seeds = metrics::seed_track_bootstrap(&a[..1], 300, 9).unwrap();
    let own = metrics::bootstrap(&a[0], 300, 9).unwrap();
    let (x, y) = (seeds.roc_auc.unwrap(), own.roc_auc.unwrap());
    // Different draws of the same distribution: close, not equal.
    assert!(
        (x.low - y.low).abs() < 0.03 && (x.high - y.high).abs() < 0.03,
        "{x:?} {y:?}"
    );
    let three = metrics::seed_track_bootstrap(&a, 300, 9)
        .unwrap()
        .roc_auc
        .unwrap();
    let mean = a
        .iter()
        .map(|s| metrics::evaluate(s).unwrap().macro_roc_auc.unwrap())
        .sum::<f64>()
        / 3.0;
    assert!(
        three.low < mean && mean < three.high,
        "{three:?} around {mean}"
    );
}
