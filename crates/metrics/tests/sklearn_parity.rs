//! Parity with scikit-learn on the fixture of `tools/reference/make_metric_fixtures.py`.

use metrics::{Scores, TagKind, evaluate};

#[derive(serde::Deserialize)]
struct Expected {
    name: String,
    roc_auc: Option<f64>,
    pr_auc: Option<f64>,
    rmse: Option<f64>,
}

#[derive(serde::Deserialize)]
struct Fixture {
    names: Vec<String>,
    kinds: Vec<TagKind>,
    truth: Vec<Vec<f64>>,
    predictions: Vec<Vec<f64>>,
    per_tag: Vec<Expected>,
    macro_roc_auc: f64,
    macro_pr_auc: f64,
    macro_rmse: f64,
    skipped: Vec<String>,
}

fn close(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-9, "{what}: {a} vs sklearn {b}"),
        (None, None) => {}
        _ => panic!("{what}: {a:?} vs sklearn {b:?}"),
    }
}

#[test]
fn per_tag_and_macro_figures_match_sklearn_within_1e_9() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sklearn.json"
    ))
    .unwrap();
    let f: Fixture = serde_json::from_str(&text).unwrap();
    let truth: Vec<f64> = f.truth.concat();
    let predictions: Vec<f64> = f.predictions.concat();
    let e = evaluate(&Scores {
        names: &f.names,
        kinds: &f.kinds,
        truth: &truth,
        predictions: &predictions,
    })
    .unwrap();
    for (ours, theirs) in e.per_tag.iter().zip(&f.per_tag) {
        assert_eq!(ours.name, theirs.name);
        close(
            ours.roc_auc,
            theirs.roc_auc,
            &format!("{} roc_auc", ours.name),
        );
        close(ours.pr_auc, theirs.pr_auc, &format!("{} pr_auc", ours.name));
        close(ours.rmse, theirs.rmse, &format!("{} rmse", ours.name));
    }
    close(e.macro_roc_auc, Some(f.macro_roc_auc), "macro roc_auc");
    close(e.macro_pr_auc, Some(f.macro_pr_auc), "macro pr_auc");
    close(e.macro_rmse, Some(f.macro_rmse), "macro rmse");
    assert_eq!(e.skipped, f.skipped);
}
