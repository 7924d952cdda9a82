//! End-to-end: the real `tagscale` binary on the `data` commands.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn tagscale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tagscale"))
        .args(args)
        .arg("--quiet")
        .output()
        .expect("the tagscale binary runs")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let key = path.strip_prefix(dir).unwrap().display().to_string();
                all.insert(key, std::fs::read(&path).unwrap());
            }
        }
    }
    all
}

#[test]
fn synth_is_byte_identical_for_a_seed_and_differs_across_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        ok(&tagscale(&[
            "data",
            "synth",
            "--out",
            out.to_str().unwrap(),
            "--tracks",
            "6",
            "--seed",
            seed,
            "--seconds",
            "3",
        ]));
        files(&out)
    };
    let (a, b, c) = (run("a", "5"), run("b", "5"), run("c", "6"));
    assert_eq!(a.len(), 7, "6 WAVs and the manifest");
    assert_eq!(a, b);
    let differing = a.iter().filter(|(k, v)| c.get(*k) != Some(v)).count();
    assert_eq!(differing, 7);
}

#[test]
fn info_json_reports_splits_tags_kinds_and_bad_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    ok(&tagscale(&[
        "data",
        "synth",
        "--out",
        corpus.to_str().unwrap(),
        "--tracks",
        "20",
        "--seconds",
        "2",
    ]));
    let out = tagscale(&["data", "info", corpus.to_str().unwrap(), "--json"]);
    ok(&out);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let splits = info["splits"].as_object().unwrap();
    let total: u64 = splits.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 20);
    assert!(
        splits.contains_key("train")
            && splits.contains_key("validation")
            && splits.contains_key("test")
    );
    assert_eq!(info["tags"], 27);
    assert_eq!(info["tag_kinds"]["tempo"], "regression");
    assert_eq!(info["tag_kinds"]["piano"], "classification");
    assert_eq!(info["bad_tracks"].as_array().unwrap().len(), 0);
}

#[test]
fn import_csv_then_cache_records_the_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    ok(&tagscale(&[
        "data",
        "synth",
        "--out",
        corpus.to_str().unwrap(),
        "--tracks",
        "2",
        "--seconds",
        "2",
    ]));
    std::fs::write(corpus.join("audio/broken.wav"), b"not audio").unwrap();
    let csv = corpus.join("labels.csv");
    std::fs::write(&csv, "path,energy\naudio/synth-000000.wav,0.2\naudio/synth-000001.wav,0.9\naudio/broken.wav,0.5\naudio/absent.wav,0.1\n").unwrap();
    let out_dir = dir.path().join("imported");
    ok(&tagscale(&[
        "data",
        "import",
        "csv",
        csv.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]));
    let info: serde_json::Value = serde_json::from_slice(
        &tagscale(&["data", "info", out_dir.to_str().unwrap(), "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(info["bad_tracks"][0]["id"], "audio/absent.wav");
    let cache_root = dir.path().join("cache");
    let out = tagscale(&[
        "data",
        "cache",
        out_dir.to_str().unwrap(),
        "--cache-root",
        cache_root.to_str().unwrap(),
    ]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.wav"),
        "the bad track is reported: {stderr}"
    );
}

#[test]
fn bad_inputs_fail_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = tagscale(&["data", "info", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("manifest.json"));
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, "path,rock\na.wav,1\n").unwrap();
    let out = tagscale(&[
        "data",
        "import",
        "csv",
        csv.to_str().unwrap(),
        "--kind",
        "rock=sometimes",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sometimes"));
}

#[test]
fn cache_from_a_grid_file_builds_the_grids_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let grid = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/smoke.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_tagscale"))
        .args(["data", "cache", grid.to_str().unwrap(), "--quiet"])
        .env("TAGSCALE_DATA", dir.path())
        .output()
        .unwrap();
    ok(&out);
    let caches: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .collect();
    assert_eq!(caches.len(), 1);
    let cache = caches[0].as_ref().unwrap().path();
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache.join("cache.json")).unwrap()).unwrap();
    assert_eq!(meta["tracks"], 80);
    assert_eq!(meta["config"]["mel"]["n_mels"], 48);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[experiment]\nname = \"x\"\nflavour = 1\n").unwrap();
    let out = tagscale(&["data", "cache", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("flavour") && stderr.contains("line 3"),
        "{stderr}"
    );
}
