//! The per-tag GBT on a problem whose answer is known.

use baseline_gbt::{GbtConfig, GbtModel, Table};
use datasets::TagKind;
use metrics::{Scores, evaluate};

/// `rows` rows of 6 features in [0, 1); tag 0 is on when feature 2 > 0.6 (with 3 % label
/// noise), tag 1 is feature 4 (regression), tag 2 is never on.
fn problem(rows: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % 1_000_000) as f32 / 1_000_000.0
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..rows {
        let row: Vec<f32> = (0..6).map(|_| next()).collect();
        let flip = next() < 0.03;
        y.extend([f32::from(u8::from((row[2] > 0.6) != flip)), row[4], 0.0]);
        x.extend(row);
    }
    (x, y)
}

const KINDS: [TagKind; 3] = [
    TagKind::Classification,
    TagKind::Regression,
    TagKind::Classification,
];

#[test]
fn learns_a_one_feature_tag_and_tracks_a_regression_target() {
    let (tx, ty) = problem(1500, 1);
    let (vx, vy) = problem(300, 2);
    let (ex, ey) = (problem(500, 3).0, problem(500, 3).1);
    let config = GbtConfig {
        iterations: 200,
        ..GbtConfig::default()
    };
    let model = GbtModel::fit(
        &config,
        &KINDS,
        &Table {
            rows: 1500,
            features: &tx,
            targets: &ty,
        },
        Some(&Table {
            rows: 300,
            features: &vx,
            targets: &vy,
        }),
    )
    .unwrap();
    let p = model.predict(&ex, 500).unwrap();
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    let names: Vec<String> = ["on", "level", "never"].map(String::from).to_vec();
    let kinds = [
        TagKind::Classification,
        TagKind::Regression,
        TagKind::Classification,
    ];
    let truth: Vec<f64> = ey.iter().map(|v| f64::from(*v)).collect();
    let pred: Vec<f64> = p.iter().map(|v| f64::from(*v)).collect();
    let e = evaluate(&Scores {
        names: &names,
        kinds: &kinds,
        truth: &truth,
        predictions: &pred,
    })
    .unwrap();
    assert!(e.per_tag[0].roc_auc.unwrap() > 0.95, "{:?}", e.per_tag[0]);
    assert!(e.per_tag[1].rmse.unwrap() < 0.08, "{:?}", e.per_tag[1]);
    assert_eq!(e.skipped, vec!["never".to_string()]);
    // The constant tag predicts its constant.
    assert!(p.iter().skip(2).step_by(3).all(|v| *v == 0.0));
}

#[test]
fn save_and_load_give_the_same_predictions() {
    let (x, y) = problem(400, 4);
    let model = GbtModel::fit(
        &GbtConfig {
            iterations: 30,
            ..GbtConfig::default()
        },
        &KINDS,
        &Table {
            rows: 400,
            features: &x,
            targets: &y,
        },
        None,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gbt.json");
    model.save(&path).unwrap();
    let loaded = GbtModel::load(&path).unwrap();
    assert_eq!(
        model.predict(&x, 400).unwrap(),
        loaded.predict(&x, 400).unwrap()
    );
    assert!(GbtModel::load(&dir.path().join("missing.json")).is_err());
}

#[test]
fn bad_configs_and_shapes_are_errors() {
    let (x, y) = problem(50, 5);
    let table = Table {
        rows: 50,
        features: &x,
        targets: &y,
    };
    for config in [
        GbtConfig {
            iterations: 0,
            ..GbtConfig::default()
        },
        GbtConfig {
            learning_rate: 0.0,
            ..GbtConfig::default()
        },
        GbtConfig {
            max_depth: 0,
            ..GbtConfig::default()
        },
    ] {
        assert!(GbtModel::fit(&config, &KINDS, &table, None).is_err());
    }
    let err = GbtModel::fit(&GbtConfig::default(), &KINDS[..2], &table, None).unwrap_err();
    assert!(err.to_string().contains("targets"), "{err}");
}

/// A signal (the stop flag set) ends fitting before the next tag's model, as an error the
/// runner records as KILLED.
#[test]
fn a_set_stop_flag_ends_fitting_as_interrupted() {
    let (x, y) = problem(200, 4);
    let table = Table {
        rows: 200,
        features: &x,
        targets: &y,
    };
    let stop = std::sync::atomic::AtomicBool::new(true);
    let err = GbtModel::fit_until(&GbtConfig::default(), &KINDS, &table, None, &stop).unwrap_err();
    assert!(matches!(err, baseline_gbt::GbtError::Interrupted), "{err}");
    stop.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(GbtModel::fit_until(&GbtConfig::default(), &KINDS, &table, None, &stop).is_ok());
}
