//! End-to-end: `tagscale eval` on prediction and truth CSVs.

use std::process::{Command, Output};

fn tagscale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tagscale"))
        .args(args)
        .output()
        .unwrap()
}

const TRUTH: &str = "track,rock,tempo,never\na,1,0.2,0\nb,0,0.8,0\nc,1,0.5,0\nd,0,0.1,0\n";
// Rows in another order: matching is by track id.
const PRED: &str =
    "track,tempo,rock,never\nd,0.2,0.3,0.1\nc,0.5,0.6,0.2\nb,0.6,0.7,0.1\na,0.1,0.9,0.4\n";

#[test]
fn json_has_per_tag_and_macro_figures_matched_by_track() {
    let dir = tempfile::tempdir().unwrap();
    let (t, p) = (dir.path().join("t.csv"), dir.path().join("p.csv"));
    std::fs::write(&t, TRUTH).unwrap();
    std::fs::write(&p, PRED).unwrap();
    let out = tagscale(&[
        "eval",
        "--pred",
        p.to_str().unwrap(),
        "--truth",
        t.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // rock: positives a (0.9), c (0.6); negatives b (0.7), d (0.3) -> 3 of 4 pairs ordered.
    assert_eq!(v["tags"]["rock"]["roc_auc"], 0.75);
    assert!(v["tags"]["rock"]["pr_auc"].as_f64().is_some());
    let rmse = (((0.1f64).powi(2) + 0.2f64.powi(2) + 0.0 + 0.1f64.powi(2)) / 4.0).sqrt();
    assert!((v["tags"]["tempo"]["rmse"].as_f64().unwrap() - rmse).abs() < 1e-12);
    assert_eq!(v["macro"]["roc_auc"], 0.75);
    assert!((v["macro"]["rmse"].as_f64().unwrap() - rmse).abs() < 1e-12);
    assert_eq!(v["skipped"], serde_json::json!(["never"]));

    // Without --json: a readable table.
    let out = tagscale(&[
        "eval",
        "--pred",
        p.to_str().unwrap(),
        "--truth",
        t.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ROC-AUC") && text.contains("macro") && text.contains("skipped"),
        "{text}"
    );
}

#[test]
fn tags_toml_overrides_inferred_kinds_and_rejects_unknown_tags() {
    let dir = tempfile::tempdir().unwrap();
    let (t, p, k) = (
        dir.path().join("t.csv"),
        dir.path().join("p.csv"),
        dir.path().join("tags.toml"),
    );
    std::fs::write(&t, TRUTH).unwrap();
    std::fs::write(&p, PRED).unwrap();
    std::fs::write(&k, "rock = \"regression\"\n").unwrap();
    let out = tagscale(&[
        "eval",
        "--pred",
        p.to_str().unwrap(),
        "--truth",
        t.to_str().unwrap(),
        "--tags",
        k.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rock = &v["tags"]["rock"];
    assert!(rock["rmse"].as_f64().is_some() && rock.get("roc_auc").is_none());
    std::fs::write(&k, "jazz = \"regression\"\n").unwrap();
    let out = tagscale(&[
        "eval",
        "--pred",
        p.to_str().unwrap(),
        "--truth",
        t.to_str().unwrap(),
        "--tags",
        k.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("jazz"));
}

#[test]
fn mismatched_tracks_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (t, p) = (dir.path().join("t.csv"), dir.path().join("p.csv"));
    std::fs::write(&t, TRUTH).unwrap();
    std::fs::write(&p, "track,rock,tempo,never\na,0.9,0.1,0\nz,0.1,0.1,0\n").unwrap();
    let out = tagscale(&[
        "eval",
        "--pred",
        p.to_str().unwrap(),
        "--truth",
        t.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("b, c, d") && stderr.contains('z'),
        "{stderr}"
    );
}

#[test]
fn tags_named_like_summary_keys_keep_their_figures_and_duplicate_columns_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (t, p) = (dir.path().join("t.csv"), dir.path().join("p.csv"));
    let truth = "track,skipped,macro_roc_auc\na,1,0\nb,0,1\nc,1,1\nd,0,0\n";
    let pred = "track,skipped,macro_roc_auc\na,0.9,0.2\nb,0.1,0.8\nc,0.7,0.6\nd,0.3,0.1\n";
    std::fs::write(&t, truth).unwrap();
    std::fs::write(&p, pred).unwrap();
    let args = [
        "eval",
        "--pred",
        p.to_str().unwrap(),
        "--truth",
        t.to_str().unwrap(),
    ];
    let out = tagscale(&[&args[..], &["--json"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tags"]["skipped"]["roc_auc"], 1.0);
    assert_eq!(v["tags"]["macro_roc_auc"]["roc_auc"], 1.0);
    assert_eq!(v["skipped"], serde_json::json!([]));

    std::fs::write(
        &p,
        "track,skipped,skipped\na,0.9,0.2\nb,0.1,0.8\nc,0.7,0.6\nd,0.3,0.1\n",
    )
    .unwrap();
    let out = tagscale(&args);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"skipped\" appears twice"), "{stderr}");
}
