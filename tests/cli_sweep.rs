//! End-to-end: the real `tagscale` binary running `experiments/smoke.toml` against a temporary
//! SQLite store — sweeps, skips, crashes, concurrent sweeps, reruns, and bad grid files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[test]
fn a_sweep_runs_every_cell_once_skips_them_next_time_and_reruns_reproduce_exactly() {
    let ws = Workspace::new();
    let out = ws.run(&["sweep", smoke().to_str().unwrap()]);
    ok(&out);
    let runs = ws.runs();
    assert_eq!(runs.len(), SMOKE_CELLS);
    assert_one_finished_per_cell(&runs);
    for run in &runs {
        for key in [
            "id",
            "status",
            "model",
            "train_size",
            "backend",
            "seed",
            "cell",
            "sweep",
        ] {
            assert!(!run[key].is_null(), "{key} missing in {run}");
        }
        assert!(run["test"]["roc_auc"].as_f64().is_some(), "{run}");
    }
    // Two epochs on a few dozen tracks are enough not to lose to the constant predictor on
    // the regression tags: the models start at the label prior and are evaluated with
    // batch-norm statistics of the data.
    for run in runs.iter().filter(|r| r["model"] != "gbt") {
        let shown = ws.show(run["id"].as_i64().unwrap());
        let rmse = |split: &str| {
            shown["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["split"] == split && m["key"] == "rmse" && m["tag"].is_null())
                .and_then(|m| m["value"].as_f64())
                .unwrap()
        };
        assert!(
            rmse("test") <= rmse("test_prior") + 0.005,
            "{} n={}: RMSE {} vs the training mean's {}",
            run["model"],
            run["train_size"],
            rmse("test"),
            rmse("test_prior")
        );
    }

    // What a run records: config, code, host, hashes, epochs, metrics with CIs, artifacts.
    let spectrogram = runs.iter().find(|r| r["model"] == "spectrogram").unwrap();
    let id = spectrogram["id"].as_i64().unwrap();
    let shown = ws.show(id);
    assert_eq!(shown["config"]["model"], "spectrogram");
    assert_eq!(shown["code"]["git_commit"].as_str().unwrap().len(), 40);
    assert_eq!(shown["code"]["binary_sha256"].as_str().unwrap().len(), 64);
    assert!(!shown["host"]["name"].as_str().unwrap().is_empty());
    assert_eq!(shown["dataset_hash"].as_str().unwrap().len(), 64);
    assert_eq!(shown["subset_hash"].as_str().unwrap().len(), 64);
    let epochs = shown["epoch_metrics"].as_array().unwrap();
    assert!(
        epochs
            .iter()
            .any(|m| m["split"] == "valid" && m["key"] == "loss")
    );
    // Evaluations are recorded by step, and the run says why it stopped.
    assert!(
        epochs.iter().any(|m| m["split"] == "train"
            && m["key"] == "step"
            && m["value"].as_f64() > Some(0.0))
    );
    let final_value = |split: &str, key: &str| {
        shown["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["split"] == split && m["key"] == key && m["tag"].is_null())
            .and_then(|m| m["value"].as_f64())
    };
    assert!(final_value("train", "stopped_early").is_some());
    assert!(final_value("train", "steps").is_some_and(|s| s >= 1.0));
    assert!(final_value("test_prior", "rmse").is_some());
    let plain = ws.run(&["runs", "show", &id.to_string()]);
    assert!(text(&plain).contains("stopped"), "{}", text(&plain));
    assert!(!text(&plain).contains("Some("), "{}", text(&plain));
    check_closed_stdout_is_quiet(&ws, id);
    let macro_auc = shown["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["split"] == "test" && m["key"] == "roc_auc" && m["tag"].is_null())
        .unwrap();
    let (low, high) = (
        macro_auc["ci"][0].as_f64().unwrap(),
        macro_auc["ci"][1].as_f64().unwrap(),
    );
    assert!(
        low <= macro_auc["value"].as_f64().unwrap() && macro_auc["value"].as_f64().unwrap() <= high
    );
    let artifacts = shown["artifacts"].as_array().unwrap();
    for name in [
        "model",
        "model_config",
        "band_stats",
        "predictions_test",
        "log",
    ] {
        let artifact = artifacts
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("{name}"));
        assert!(Path::new(artifact["path"].as_str().unwrap()).is_file());
        assert_eq!(artifact["sha256"].as_str().unwrap().len(), 64);
    }

    check_report(&ws, &runs);
    check_tagging(&ws);
    check_tagging_folders(&ws);
    check_export(&ws, &runs);
    check_backup_and_check(&ws, &runs);

    // A second sweep finds everything FINISHED and runs nothing.
    let again = ws.run(&["sweep", smoke().to_str().unwrap()]);
    ok(&again);
    assert_eq!(ws.runs().len(), SMOKE_CELLS);

    // Rerun by ID on flex with the recorded thread count: identical metrics.
    let rerun = ws.run(&["rerun", &id.to_string(), "--verify"]);
    ok(&rerun);
    assert!(
        text(&rerun).contains("REPRODUCED_EXACT"),
        "{}",
        text(&rerun)
    );
    let after = ws.runs();
    let new = after.last().unwrap();
    assert_eq!(new["rerun_of"].as_i64(), Some(id));

    // compare shows only what differs: the metrics and config are the same.
    let compare = ws.run(&[
        "runs",
        "compare",
        &id.to_string(),
        &new["id"].to_string(),
        "--json",
    ]);
    ok(&compare);
    let differences: Value = serde_json::from_slice(&compare.stdout).unwrap();
    let keys: Vec<&str> = differences["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.iter()
            .all(|k| !k.starts_with("config.") && !k.starts_with("metrics.")),
        "{keys:?}"
    );
    check_groups(&ws, id);
    check_cross_host_rerun(&ws, id);
}

/// A run recorded on a host with other SIMD features (simulated by rewriting the recorded
/// features in the store): the rerun still verifies, and its verdict says the host differs.
fn check_cross_host_rerun(ws: &Workspace, id: i64) {
    let here = tracking::Host::current().simd;
    let mut features: Vec<&str> = here.split_whitespace().collect();
    if here.contains("avx512f") {
        features.retain(|f| *f != "avx512f");
    } else {
        features.push("avx512f");
    }
    let elsewhere = features.join(" ");
    let url = format!("sqlite://{}", ws.path().join("tagscale.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE runs SET simd = $1 WHERE id = $2")
            .bind(&elsewhere)
            .bind(id)
            .execute(&mut db)
            .await
            .unwrap();
    });
    assert_eq!(ws.show(id)["host"]["simd"], elsewhere.as_str());
    let out = ws.run(&["rerun", &id.to_string(), "--verify"]);
    ok(&out);
    let said = text(&out);
    let side = if here.contains("avx512f") {
        "now but not then"
    } else {
        "then but not now"
    };
    assert!(
        said.contains("REPRODUCED_EXACT (on another kind of host: SIMD avx512f ")
            && said.contains(side)
            && said.contains("the final metrics differ by at most 0.000e0"),
        "{said}"
    );
}

/// `runs list --group-by`: runs that differ only by seed (here: a run and its exact rerun)
/// pool into one group, with mean ± std over them; explicit keys group by those values.
fn check_groups(ws: &Workspace, rerun_of: i64) {
    let out = ws.run(&["runs", "list", "--group-by", "--json"]);
    ok(&out);
    let groups: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(groups.len(), SMOKE_CELLS, "{groups:#?}");
    let original = groups
        .iter()
        .find(|g| g["runs"].as_array().unwrap().contains(&rerun_of.into()))
        .unwrap();
    // A rerun repeats its run's seed: no new sample, so it joins no group.
    let reruns: Vec<Value> = ws
        .runs()
        .iter()
        .filter(|r| r["rerun_of"] == rerun_of)
        .map(|r| r["id"].clone())
        .collect();
    assert!(!reruns.is_empty());
    assert!(
        groups.iter().all(|g| g["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|id| !reruns.contains(id))),
        "{groups:#?}"
    );
    assert_eq!(original["runs"].as_array().unwrap().len(), 1, "{original}");
    assert_eq!(original["finished"], 1);
    assert_eq!(original["group"]["sweep"], 1, "{original}");
    assert_eq!(original["test"]["roc_auc"]["count"], 1);
    assert_eq!(
        original["test"]["roc_auc"]["std"].as_f64(),
        Some(0.0),
        "one seed"
    );

    let out = ws.run(&["runs", "list", "--group-by", "model"]);
    ok(&out);
    let lines: Vec<String> = text(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("model=gbt ") && l.contains("2/2 finished")),
        "{lines:#?}"
    );
    assert!(lines.iter().all(|l| l.contains(" ± ")), "{lines:#?}");
    // `runs compare --groups`: the seed groups of two runs, their config differences and each
    // figure's mean ± std per group.
    let gbt = groups
        .iter()
        .find(|g| g["group"]["model"] == "gbt")
        .unwrap()["runs"][0]
        .as_i64()
        .unwrap();
    let out = ws.run(&[
        "runs",
        "compare",
        &rerun_of.to_string(),
        &gbt.to_string(),
        "--groups",
        "--json",
    ]);
    ok(&out);
    let compared: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(compared["a"]["finished"], 1, "{compared}");
    let config = compared["config"].as_array().unwrap();
    assert!(
        config
            .iter()
            .any(|d| d["key"] == "model" && d["b"] == "gbt"),
        "{compared}"
    );
    assert!(config.iter().all(|d| d["key"] != "seed"), "{compared}");
    let roc = compared["test"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "roc_auc")
        .unwrap();
    let (x, y) = (
        roc["a"]["mean"].as_f64().unwrap(),
        roc["b"]["mean"].as_f64().unwrap(),
    );
    assert!((roc["difference"].as_f64().unwrap() - (x - y)).abs() < 1e-12);

    let out = ws.run(&["runs", "list", "--group-by", "flavour"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no config key `flavour`"),
        "{}",
        text(&out)
    );
}

/// `db backup` writes a store that holds every run and reports like the original; `db check`
/// passes, then names an artifact changed after its run ended and exits 1.
fn check_backup_and_check(ws: &Workspace, runs: &[Value]) {
    let copy = ws.path().join("shared.db");
    ok(&ws.run(&["db", "backup", copy.to_str().unwrap()]));
    let out = ws.run(&["--db", copy.to_str().unwrap(), "runs", "list", "--json"]);
    ok(&out);
    let copied: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(copied.len(), runs.len());
    assert!(
        !ws.run(&["db", "backup", copy.to_str().unwrap()])
            .status
            .success()
    );

    let out = ws.run(&["db", "check"]);
    ok(&out);
    assert!(text(&out).contains("integrity: ok"), "{}", text(&out));
    let gbt = runs.iter().find(|r| r["model"] == "gbt").unwrap();
    let gbt_id = gbt["id"].as_i64().unwrap();
    let shown = ws.show(gbt_id);
    let model = shown["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "model")
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    let original = std::fs::read(&model).unwrap();
    std::fs::write(&model, b"{}").unwrap();
    let out = ws.run(&["db", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("run {gbt_id} artifact `model`")),
        "{}",
        text(&out)
    );
    std::fs::write(&model, original).unwrap();
}

/// The sweep's report: every file, Δ = spectrogram − waveform from the store, PNGs that
/// decode and are not blank, and byte-identical regeneration.
fn check_report(ws: &Workspace, runs: &[Value]) {
    let dir = ws.path().join("reports/smoke");
    for file in [
        "index.md",
        "delta_table.md",
        "delta_table.tex",
        "delta_table.csv",
        "learning_curves.png",
        "learning_curves.svg",
        "per_tag.csv",
        "examples.md",
        "crossover.md",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    // Two training-set sizes are too few for a learning-curve fit: the report says why.
    let crossover = std::fs::read_to_string(dir.join("crossover.md")).unwrap();
    assert!(crossover.contains("2 training-set sizes") && crossover.contains("at least 3"));
    let front = std::fs::read_to_string(dir.join("index.md")).unwrap();
    assert!(front.contains("at least 3"), "{front}");
    let curves: Vec<_> = std::fs::read_dir(dir.join("training_curves"))
        .unwrap()
        .collect();
    assert_eq!(curves.len(), 4, "one training-curve figure per deep run");
    for png in [
        dir.join("learning_curves.png"),
        curves[0].as_ref().unwrap().path(),
    ] {
        assert_png_not_blank(&png);
    }
    let tex = std::fs::read_to_string(dir.join("delta_table.tex")).unwrap();
    // The best of a size is bold, or marked tied when its interval against the runner-up
    // does not exclude 0 (likely on the smoke grid's few test tracks).
    assert!(
        tex.contains("\\toprule") && (tex.contains("\\textbf") || tex.contains("$\\approx$")),
        "{tex}"
    );
    let examples = std::fs::read_to_string(dir.join("examples.md")).unwrap();
    assert!(
        examples.contains("human labels") && examples.contains("GBT"),
        "{examples}"
    );
    // Regression values are listed apart, never ranked among the tags.
    assert!(
        examples.contains("| regression tag |") && !examples.contains("tempo ("),
        "{examples}"
    );

    // Δ rows are spectrogram − waveform, and those are the store's figures.
    let mut table = csv::Reader::from_path(dir.join("delta_table.csv")).unwrap();
    let header = table.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = table.records().map(|r| r.unwrap()).collect();
    // Every system and Δ row carries its interval (from the runs' saved test predictions).
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (low, high) = (column("roc_auc_low"), column("roc_auc_high"));
    for row in rows.iter().filter(|r| !r[1].starts_with("Constant")) {
        let (l, h): (f64, f64) = (row[low].parse().unwrap(), row[high].parse().unwrap());
        assert!(l <= h, "{row:?}");
    }
    let markdown = std::fs::read_to_string(dir.join("delta_table.md")).unwrap();
    assert!(
        markdown.contains("95 % bootstrap interval")
            && markdown.contains("+")
            && markdown.contains(", "),
        "{markdown}"
    );
    let value = |size: &str, system: &str| -> f64 {
        rows.iter()
            .find(|r| &r[0] == size && r[1].starts_with(system))
            .unwrap_or_else(|| panic!("{system} at {size}"))[2]
            .parse()
            .unwrap()
    };
    for size in ["24", "48"] {
        let stored = |model: &str| {
            runs.iter()
                .find(|r| r["model"] == model && r["train_size"].as_i64() == size.parse().ok())
                .unwrap()["test"]["roc_auc"]
                .as_f64()
                .unwrap()
        };
        assert_eq!(value(size, "Spectrogram"), stored("spectrogram"));
        assert_eq!(value(size, "Waveform"), stored("waveform"));
        let delta = value(size, "Δ");
        assert!((delta - (stored("spectrogram") - stored("waveform"))).abs() < 1e-12);
        // The constant label-prior row: chance ROC-AUC.
        assert_eq!(value(size, "Constant (training mean)"), 0.5);
    }
    let index = std::fs::read_to_string(dir.join("index.md")).unwrap();
    assert!(
        index.contains("| stopped |")
            && (index.contains("early stop at evaluation")
                || index.contains("step budget reached")),
        "{index}"
    );

    // Regenerating from the same store gives the same bytes.
    let again = ws.path().join("again");
    ok(&ws.run(&["report", "--out", again.to_str().unwrap()]));
    // Reports are rendered beside their directory and moved in when complete: what a killed
    // report left staged (its process is gone) is cleared, a file of the user's is kept, and
    // nothing staged remains.
    let abandoned = ws.path().join(".again.partial-999999999");
    std::fs::create_dir_all(abandoned.join("training_curves")).unwrap();
    std::fs::write(abandoned.join("index.md"), "half a report").unwrap();
    std::fs::write(again.join("notes.txt"), "mine").unwrap();
    ok(&ws.run(&[
        "report",
        smoke().to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]));
    assert!(!abandoned.exists());
    assert_eq!(
        std::fs::read_to_string(again.join("notes.txt")).unwrap(),
        "mine"
    );
    let staged: Vec<_> = std::fs::read_dir(ws.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
    for entry in walk(&dir) {
        let relative = entry.strip_prefix(&dir).unwrap();
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            std::fs::read(again.join(relative)).unwrap(),
            "{} differs",
            relative.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn assert_png_not_blank(path: &Path) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let pixels = &buffer[..info.buffer_size()];
    let distinct: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
    assert!(distinct.len() > 20, "{} looks blank", path.display());
    assert!(info.width >= 800 && info.height >= 300);
}

/// `tag`: sorted `tag score` lines for good files, the bad file named, exit status 1.
fn check_tagging(ws: &Workspace) {
    let audio = ws.path().join("audio");
    ok(&ws.run(&[
        "data",
        "synth",
        "--out",
        audio.to_str().unwrap(),
        "--tracks",
        "2",
        "--seed",
        "3",
    ]));
    let wav = walk(&audio)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "wav"))
        .unwrap();
    let broken = ws.path().join("broken.mp3");
    std::fs::write(&broken, b"not audio at all").unwrap();
    let out = ws.run(&[
        "tag",
        wav.to_str().unwrap(),
        broken.to_str().unwrap(),
        "--top",
        "5",
    ]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let scores: Vec<f64> = stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().last().unwrap().parse().unwrap())
        .collect();
    assert_eq!(scores.len(), 5, "{stdout}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.mp3"));

    // Each failure names its file once and says why, with the OS's reason where there is one.
    let missing = ws.path().join("missing.wav");
    let out = ws.run(&["tag", missing.to_str().unwrap(), wav.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("missing.wav").count(), 1, "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
    assert!(
        stderr.contains("1 of 2 files could not be tagged"),
        "{stderr}"
    );
    let empty = ws.path().join("empty-folder");
    std::fs::create_dir_all(&empty).unwrap();
    let out = ws.run(&["tag", empty.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no audio files"), "{}", text(&out));
    let out = ws.run(&["tag", broken.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().all(|l| l.matches("broken.mp3").count() <= 1),
        "{stderr}"
    );

    // `--json`: files and errors under their own keys, so a file named `errors` is kept.
    let named_errors = ws.path().join("errors");
    std::fs::copy(&wav, &named_errors).unwrap();
    let out = ws.run(&[
        "tag",
        named_errors.to_str().unwrap(),
        broken.to_str().unwrap(),
        "--json",
    ]);
    assert!(!out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"].as_object().unwrap();
    assert_eq!(files.len(), 1, "{v}");
    assert!(
        files[named_errors.to_str().unwrap()]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    );
    assert!(
        v["errors"][broken.to_str().unwrap()].as_str().is_some(),
        "{v}"
    );

    // A file shorter than one patch is tagged, with a warning on stderr and in the JSON.
    let blip = ws.path().join("blip.wav");
    datasets::synth::write_wav(&blip, &[0.5]).unwrap();
    let out = ws.run(&["tag", blip.to_str().unwrap(), "--json"]);
    ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = blip.to_str().unwrap();
    assert!(
        v["files"][key].as_array().is_some_and(|l| !l.is_empty()),
        "{v}"
    );
    let warning = v["warnings"][key].as_str().unwrap_or_default();
    assert!(warning.contains("shorter than the model's"), "{v}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than the model's"));
}

/// `tag` on a nested folder: every audio file in it (sorted by path, other files ignored),
/// the corrupt one named and skipped, `--csv` scored by `eval`, `--glob` narrowing.
fn check_tagging_folders(ws: &Workspace) {
    let corpus = ws.path().join("labelled");
    ok(&ws.run(&[
        "data",
        "synth",
        "--out",
        corpus.to_str().unwrap(),
        "--tracks",
        "6",
        "--seed",
        "11",
        "--seconds",
        "4",
    ]));
    let manifest = datasets::Manifest::load(&corpus).unwrap();
    let collection = ws.path().join("collection");
    let mut truth = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["track".to_string()];
    header.extend(manifest.schema.tags.iter().map(|t| t.name.clone()));
    truth.write_record(&header).unwrap();
    let mut ids = Vec::new();
    for (k, track) in manifest.tracks.iter().enumerate() {
        let id = format!("{}/{k}.wav", ["b/c", "a"][k % 2]);
        let to = collection.join(&id);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(manifest.audio_path(track).unwrap(), &to).unwrap();
        let mut row = vec![id.clone()];
        row.extend(track.labels.iter().map(|v| v.to_string()));
        truth.write_record(&row).unwrap();
        ids.push(id);
    }
    ids.sort();
    let truth_path = ws.path().join("truth.csv");
    std::fs::write(&truth_path, truth.into_inner().unwrap()).unwrap();
    std::fs::write(collection.join("b/bad.flac"), b"fLaC but not really").unwrap();
    std::fs::write(collection.join("notes.txt"), b"not audio, not looked at").unwrap();

    let scores = ws.path().join("scores.csv");
    let out = ws.run(&[
        "tag",
        collection.to_str().unwrap(),
        "--csv",
        scores.to_str().unwrap(),
        "--json",
    ]);
    assert!(!out.status.success(), "the corrupt file fails the command");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"].as_object().unwrap().len(), 6, "{v}");
    let errors = v["errors"].as_object().unwrap();
    assert_eq!(errors.len(), 1, "{v}");
    assert!(errors.keys().all(|k| k.ends_with("bad.flac")), "{v}");
    assert!(
        text(&out).contains("1 of 7 files could not be tagged"),
        "{}",
        text(&out)
    );

    let mut reader = csv::Reader::from_path(&scores).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        header.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let found: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        found, ids,
        "tracks in path order, ids relative to the folder"
    );
    for row in &rows {
        for score in row.iter().skip(1) {
            let s: f64 = score.parse().unwrap();
            assert!((0.0..=1.0).contains(&s), "{row:?}");
        }
    }
    // The same scores as tagging one file.
    let one = ws.run(&["tag", collection.join(&ids[0]).to_str().unwrap(), "--json"]);
    ok(&one);
    let one: Value = serde_json::from_slice(&one.stdout).unwrap();
    let (_, list) = one["files"].as_object().unwrap().iter().next().unwrap();
    let best = &list[0];
    let column = header
        .iter()
        .position(|h| h == best["tag"].as_str().unwrap())
        .unwrap();
    let from_csv: f64 = rows[0][column].parse().unwrap();
    assert!(
        (from_csv - best["score"].as_f64().unwrap()).abs() < 1e-6,
        "{best} vs {from_csv}"
    );

    // Tagging a labelled folder and scoring it is two commands.
    let eval = ws.run(&[
        "eval",
        "--pred",
        scores.to_str().unwrap(),
        "--truth",
        truth_path.to_str().unwrap(),
        "--json",
    ]);
    ok(&eval);
    let scored: Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert!(scored["macro"]["rmse"].as_f64().is_some(), "{scored}");

    // `--glob` keeps the matching files only: no corrupt one, so success.
    let out = ws.run(&[
        "tag",
        collection.to_str().unwrap(),
        "--glob",
        "a/*.wav",
        "--json",
    ]);
    ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"].as_object().unwrap();
    assert_eq!(files.len(), 3, "{v}");
    assert!(files.keys().all(|k| k.contains("/a/")), "{v}");
    let out = ws.run(&["tag", collection.to_str().unwrap(), "--glob", "[", "--json"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--glob \"[\" is not a pattern"),
        "{}",
        text(&out)
    );

    check_embeddings(ws, &collection, &ids);
}

/// `embed`: `[tracks, dims]` with the tracks listed beside it, the same numbers every time,
/// the dense layer, one file per track, and no embeddings from GBT.
fn check_embeddings(ws: &Workspace, collection: &Path, ids: &[String]) {
    let out_npy = ws.path().join("emb.npy");
    let embed = |extra: &[&str]| {
        let mut args = vec!["embed", collection.to_str().unwrap()];
        args.extend_from_slice(extra);
        ws.run(&args)
    };
    let out = embed(&["--out", out_npy.to_str().unwrap()]);
    assert!(!out.status.success(), "the corrupt file fails the command");
    assert!(text(&out).contains("bad.flac"), "{}", text(&out));
    let first = audio_features::npy::read(&out_npy).unwrap();
    // The smoke grid's back-end is 16 wide: pooled = max ‖ mean = 32 values.
    assert_eq!(first.shape, vec![ids.len(), 32]);
    assert!(first.data.iter().all(|v| v.is_finite()));
    assert!(first.data.iter().any(|v| *v != 0.0));
    let listed = std::fs::read_to_string(ws.path().join("emb.tracks.csv")).unwrap();
    let listed: Vec<&str> = listed
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(listed, ids);
    let bytes = std::fs::read(&out_npy).unwrap();
    let _ = embed(&["--out", out_npy.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&out_npy).unwrap(),
        bytes,
        "embeddings are deterministic"
    );

    let dense = ws.path().join("dense.npy");
    let _ = embed(&[
        "--out",
        dense.to_str().unwrap(),
        "--layer",
        "dense",
        "--glob",
        "**/*.wav",
    ]);
    assert_eq!(
        audio_features::npy::read(&dense).unwrap().shape,
        vec![ids.len(), 16]
    );

    let per_track = ws.path().join("per-track");
    let out = embed(&[
        "--out",
        per_track.to_str().unwrap(),
        "--per-track",
        "--glob",
        "**/*.wav",
    ]);
    ok(&out);
    for (row, id) in ids.iter().enumerate() {
        let one = audio_features::npy::read(&per_track.join(format!("{id}.npy"))).unwrap();
        assert_eq!(one.shape, vec![32]);
        assert_eq!(
            one.data,
            first.data[row * 32..(row + 1) * 32].to_vec(),
            "{id}"
        );
    }

    let gbt = ws.runs().into_iter().find(|r| r["model"] == "gbt").unwrap()["id"].to_string();
    let out = embed(&["--out", dense.to_str().unwrap(), "--run", &gbt]);
    assert!(!out.status.success());
    assert!(text(&out).contains("GBT run"), "{}", text(&out));
}

/// `export`: a model directory that tags the same files with the same scores as its run,
/// from elsewhere with no store; damaged, newer-format and GBT cases are named errors.
fn check_export(ws: &Workspace, runs: &[Value]) {
    let id_of = |model: &str| {
        runs.iter().find(|r| r["model"] == model).unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let spectrogram = id_of("spectrogram").to_string();
    let model = ws.path().join("shared-model");
    let out = ws.run(&["export", &spectrogram, "--out", model.to_str().unwrap()]);
    ok(&out);
    for file in [
        "model.bpk",
        "model.bpk.config.json",
        "tags.json",
        "band_stats.json",
        "tagscale-model.json",
        "MODEL_CARD.md",
    ] {
        assert!(model.join(file).is_file(), "{file} missing");
    }
    let card = std::fs::read_to_string(model.join("MODEL_CARD.md")).unwrap();
    for part in [
        "## What it predicts",
        "classification tags",
        "## How well",
        "| ROC-AUC (macro",
        "## Known limits",
    ] {
        assert!(card.contains(part), "{part} not in the card:\n{card}");
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("tagscale-model.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["run"].to_string(), spectrogram);
    assert!(
        manifest["test_metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == "roc_auc" && f["low"].is_f64())
    );

    // The same file, the same scores: by run from the store, and by directory from elsewhere.
    let wav = walk(&ws.path().join("audio"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "wav"))
        .unwrap();
    let by_run = ws.run(&[
        "tag",
        wav.to_str().unwrap(),
        "--run",
        &spectrogram,
        "--json",
        "--top",
        "100",
    ]);
    ok(&by_run);
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = elsewhere.path().join("model");
    copy_dir(&model, &moved);
    let by_dir = std::process::Command::new(env!("CARGO_BIN_EXE_tagscale"))
        .current_dir(elsewhere.path())
        .args([
            "tag",
            wav.to_str().unwrap(),
            "--model",
            "model",
            "--json",
            "--top",
            "100",
            "--quiet",
        ])
        .env("TAGSCALE_DB", elsewhere.path().join("no-store-here.db"))
        .env("TAGSCALE_DATA", elsewhere.path().join("data"))
        .env("TAGSCALE_RUNS", elsewhere.path().join("runs"))
        .output()
        .unwrap();
    ok(&by_dir);
    assert!(
        !elsewhere.path().join("no-store-here.db").exists(),
        "tag --model opened a store"
    );
    let scores = |out: &std::process::Output| {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["files"][wav.to_str().unwrap()].clone()
    };
    assert_eq!(scores(&by_run), scores(&by_dir));
    assert!(scores(&by_dir).as_array().is_some_and(|l| !l.is_empty()));

    // Exporting onto a model, or a GBT run, is refused.
    let again = ws.run(&["export", &spectrogram, "--out", model.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(text(&again).contains("not empty"), "{}", text(&again));
    let gbt = ws.run(&[
        "export",
        &id_of("gbt").to_string(),
        "--out",
        ws.path().join("gbt-model").to_str().unwrap(),
    ]);
    assert!(!gbt.status.success());
    assert!(text(&gbt).contains("GBT run"), "{}", text(&gbt));
    assert!(!ws.path().join("gbt-model").exists());

    // A truncated weights file and a newer format are errors naming the file.
    let weights = moved.join("model.bpk");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let tag_moved = |dir: &Path| {
        ws.run(&[
            "tag",
            wav.to_str().unwrap(),
            "--model",
            dir.to_str().unwrap(),
        ])
    };
    let out = tag_moved(&moved);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("model.bpk: is damaged"),
        "{}",
        text(&out)
    );
    std::fs::write(&weights, &bytes).unwrap();
    let manifest_path = moved.join("tagscale-model.json");
    let mut newer = manifest.clone();
    newer["format_version"] = 99.into();
    std::fs::write(&manifest_path, newer.to_string()).unwrap();
    let out = tag_moved(&moved);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("tagscale-model.json") && text(&out).contains("format 99"),
        "{}",
        text(&out)
    );
    std::fs::remove_file(&manifest_path).unwrap();
    let out = tag_moved(&moved);
    assert!(!out.status.success());
    assert!(text(&out).contains("tagscale-model.json"), "{}", text(&out));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_sweep_killed_with_sigkill_leaves_no_worker_and_the_next_sweep_finishes_the_grid() {
    let ws = Workspace::new();
    // Two workers: both must die with the sweep.
    let mut sweep = ws.spawn_sweep(&["--workers", "2"]);
    // Kill once a deep model is training (GBT cells come first and are quick).
    let runs = wait_for(
        &ws,
        Duration::from_secs(300),
        "a deep run to start",
        |runs| {
            runs.iter()
                .any(|r| status(r) == "RUNNING" && r["model"] != "gbt")
        },
    );
    let victim = runs
        .iter()
        .find(|r| status(r) == "RUNNING" && r["model"] != "gbt")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let worker_pid = ws.show(victim)["pid"].as_i64().unwrap();
    sweep.kill().unwrap();
    sweep.wait().unwrap();
    // The worker dies with its sweep (no orphan training on).
    let start = Instant::now();
    while process_exists(worker_pid) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "worker {worker_pid} outlived its sweep"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = ws.run(&["sweep", smoke().to_str().unwrap()]);
    ok(&out);
    let runs = ws.runs();
    assert_one_finished_per_cell(&runs);
    let killed = runs
        .iter()
        .find(|r| r["id"].as_i64() == Some(victim))
        .unwrap();
    assert_eq!(status(killed), "KILLED", "{killed}");
    assert!(
        killed["error"]
            .as_str()
            .unwrap()
            .contains("process is gone")
    );
}

#[test]
fn two_sweeps_of_one_grid_at_once_share_the_cells_without_lock_errors() {
    let ws = Workspace::new();
    // Build the cache first so both sweeps start training at once.
    ok(&ws.run(&["data", "cache", smoke().to_str().unwrap()]));
    let (a, b) = (ws.spawn_sweep(&[]), ws.spawn_sweep(&[]));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for out in [&a, &b] {
        ok(out);
        assert!(!text(out).contains("locked"), "{}", text(out));
    }
    let runs = ws.runs();
    assert_eq!(runs.len(), SMOKE_CELLS, "a cell ran twice: {runs:#?}");
    assert_one_finished_per_cell(&runs);
}

#[test]
fn sigterm_marks_the_run_killed_and_the_process_exits_cleanly() {
    let ws = Workspace::new();
    ok(&ws.run(&["data", "cache", smoke().to_str().unwrap()]));
    // Cell 3: the waveform model on 48 tracks, the slowest cell.
    let child = ws
        .command(&["run", smoke().to_str().unwrap(), "--cell", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&ws, Duration::from_secs(120), "the run to start", |runs| {
        runs.iter().any(|r| status(r) == "RUNNING")
    });
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("KILLED"), "{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));
    let runs = ws.runs();
    assert_eq!(status(&runs[0]), "KILLED");
    assert!(runs[0]["error"].as_str().unwrap().contains("signal"));
}

#[test]
fn malformed_grids_say_where_and_what() {
    let ws = Workspace::new();
    let base = std::fs::read_to_string(smoke()).unwrap();
    let cases = [
        (
            base.replace("epochs = 2", "epochs = 2\nepoch = 3"),
            vec!["epoch", "line"],
        ),
        (
            base.replace("epochs = 2", "epochs = \"two\""),
            vec!["epochs", "line"],
        ),
        (
            base.replace("backend = [\"flex\"]", "backend = [\"tpu\"]"),
            vec!["tpu", "backend"],
        ),
        (
            base.replace("backend = [\"flex\"]", "backend = [\"libtorch\"]"),
            vec!["libtorch", "tch"],
        ),
        (base.replace("lr = 0.001", "lr = 5.0"), vec!["train.lr"]),
        // At 1.5 s the waveform back-end's last convolution would see one time step.
        (
            base.replace("patch_seconds = 3.2", "patch_seconds = 1.5"),
            vec!["features.patch_seconds", "waveform", "at least 8", "3.15"],
        ),
        (
            base.replace("epochs = 2", "max_steps = 0"),
            vec!["train.max_steps"],
        ),
        (base.replace("[grid]", "[grid"), vec!["line"]),
        // Names become report directories: none may leave reports/ or overflow a file name.
        (
            base.replace("name = \"smoke\"", "name = \"..\""),
            vec!["experiment.name"],
        ),
        (
            base.replace(
                "name = \"smoke\"",
                &format!("name = \"{}\"", "x".repeat(5000)),
            ),
            vec!["experiment.name", "1 to 64"],
        ),
    ];
    for (i, (grid, expected)) in cases.iter().enumerate() {
        let path = ws.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, grid).unwrap();
        for args in [vec!["sweep", "--dry-run"], vec!["run", "--cell", "0"]] {
            let mut all = args.clone();
            all.insert(1, path.to_str().unwrap());
            let out = ws.run(&all);
            assert!(!out.status.success(), "case {i} {args:?} succeeded");
            let message = text(&out);
            assert!(
                message.contains(path.to_str().unwrap()),
                "case {i}: {message}"
            );
            for word in expected {
                assert!(
                    message.contains(word),
                    "case {i}: `{word}` not in {message}"
                );
            }
            assert!(!message.contains("panicked"), "{message}");
        }
    }
    let out = ws.run(&["run", smoke().to_str().unwrap(), "--cell", "99"]);
    assert!(text(&out).contains("no cell 99"), "{}", text(&out));
    let out = ws.run(&["rerun", "12345"]);
    assert!(
        text(&out).contains("no run with id 12345"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_failing_cell_is_recorded_reported_by_name_and_retried_only_when_asked() {
    let ws = Workspace::new();
    // 70 tracks is more than the smoke corpus's training split: those cells fail.
    let grid = std::fs::read_to_string(smoke())
        .unwrap()
        .replace(
            "model = [\"gbt\", \"waveform\", \"spectrogram\"]",
            "model = [\"gbt\", \"spectrogram\"]",
        )
        .replace("train_size = [24, 48]", "train_size = [24, 70]");
    let path = ws.path().join("failing.toml");
    std::fs::write(&path, grid).unwrap();
    let out = ws.run(&["sweep", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("cell 1") && message.contains("larger than the training split"),
        "{message}"
    );
    assert!(message.contains("--retry-failed"), "{message}");
    let runs = ws.runs();
    assert_eq!(
        runs.iter().filter(|r| status(r) == "FAILED").count(),
        2,
        "{runs:#?}"
    );
    let index = std::fs::read_to_string(ws.path().join("reports/smoke/index.md")).unwrap();
    assert!(
        index.contains("Cells without results") && index.contains("cell 1: FAILED"),
        "{index}"
    );
    let table = std::fs::read_to_string(ws.path().join("reports/smoke/delta_table.md")).unwrap();
    assert!(
        table.contains("failed") && table.contains("Cells without figures"),
        "{table}"
    );
    // Without --retry-failed nothing runs again; with it, the failed cells do (and fail again).
    assert!(!ws.run(&["sweep", path.to_str().unwrap()]).status.success());
    assert_eq!(ws.runs().len(), 4);
    assert!(
        !ws.run(&["sweep", path.to_str().unwrap(), "--retry-failed"])
            .status
            .success()
    );
    assert_eq!(ws.runs().len(), 6);
}

#[test]
fn rerun_refuses_a_run_whose_dataset_changed_since() {
    let ws = Workspace::new();
    let corpus = ws.path().join("data/mine");
    ok(&ws.run(&[
        "data",
        "synth",
        "--out",
        corpus.to_str().unwrap(),
        "--tracks",
        "60",
        "--seed",
        "5",
        "--seconds",
        "2",
    ]));
    let grid = std::fs::read_to_string(smoke())
        .unwrap()
        .replace(
            "kind = \"synth\"\ntracks = 80\nseed = 7\nseconds = 4.0",
            "kind = \"csv\"\npath = \"mine\"",
        )
        .replace(
            "model = [\"gbt\", \"waveform\", \"spectrogram\"]",
            "model = [\"gbt\"]",
        )
        .replace("train_size = [24, 48]", "train_size = [16]");
    let path = ws.path().join("mine.toml");
    std::fs::write(&path, grid).unwrap();
    ok(&ws.run(&["sweep", path.to_str().unwrap(), "--no-report"]));
    let id = ws.runs()[0]["id"].as_i64().unwrap();
    // Relabel one track: the manifest's content hash changes.
    let manifest_path = corpus.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let label = &mut manifest["tracks"][0]["labels"][0];
    *label = serde_json::json!(1.0 - label.as_f64().unwrap());
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let out = ws.run(&["rerun", &id.to_string(), "--verify"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("the data changed"), "{}", text(&out));
    assert_eq!(ws.runs().len(), 1, "a refused rerun records nothing");
}

#[test]
fn dry_run_lists_the_cells_without_touching_the_store() {
    let ws = Workspace::new();
    let out = ws.run(&["sweep", smoke().to_str().unwrap(), "--dry-run"]);
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("6 cells"), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.contains("flex")).count(), 4);
    assert!(!ws.path().join("tagscale.db").exists());
}

/// `tagscale runs show ID | head -1`: a reader that has gone ends the command without a
/// panic message. The pipe's read end is closed before the command starts, so its first
/// write fails whatever the timing.
fn check_closed_stdout_is_quiet(ws: &Workspace, id: i64) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut ends = [0 as libc::c_int; 2];
    // SAFETY: pipe(2) fills both descriptors, which are then owned exactly once each.
    assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    drop(read);
    let out = ws
        .command(&["runs", "show", &id.to_string()])
        .stdout(Stdio::from(write))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_store_url_password_is_never_printed() {
    // Port 1 refuses at once: the open fails and the error names the store.
    let ws = Workspace::with_db("postgres://me:S3CRET@127.0.0.1:1/runs");
    let out = ws.run(&["runs", "list"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("postgres://me:***@127.0.0.1:1/runs"),
        "{stderr}"
    );
    assert!(!stderr.contains("S3CRET"), "{stderr}");
}

#[test]
fn thread_counts_and_tolerances_out_of_range_are_refused() {
    let ws = Workspace::new();
    let grid = smoke();
    let grid = grid.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["rerun", "1", "--threads", "100000"],
            "must be within 1..=1024",
        ),
        (
            vec!["rerun", "1", "--threads", "0"],
            "must be within 1..=1024",
        ),
        (vec!["rerun", "1", "--tolerance", "nan"], "must be finite"),
        (vec!["rerun", "1", "--tolerance=-1"], "must be finite"),
        (
            vec!["run", grid, "--cell", "0", "--threads", "0"],
            "1..=1024",
        ),
        (vec!["sweep", grid, "--workers", "5000"], "1..=1024"),
    ] {
        let out = ws.run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
    // Refused before anything ran: no store was created.
    assert!(!ws.path().join("tagscale.db").exists());
}

#[test]
fn reading_commands_refuse_a_store_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("no-such-dir/tagscale.db");
    let ws = Workspace::with_db(typo.to_str().unwrap());
    for args in [
        vec!["runs", "list"],
        vec!["runs", "show", "1"],
        vec!["report"],
        vec!["sweep", "status"],
        vec!["rerun", "1"],
    ] {
        let out = ws.run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out).contains("no run store at"),
            "{args:?}: {}",
            text(&out)
        );
    }
    // Nothing was created at the mistyped path.
    assert!(!dir.path().join("no-such-dir").exists());
}

/// A changed byte in a cache shard fails the run with a reason naming the shard, the track
/// and what to do (never a panic, never KILLED); `data cache` rebuilds the shard and the cell
/// then runs.
#[test]
fn a_damaged_cache_fails_the_run_by_name_and_data_cache_rebuilds_it() {
    let ws = Workspace::new();
    let grid = smoke();
    let grid = grid.to_str().unwrap();
    ok(&ws.run(&["data", "cache", grid]));
    let caches: Vec<PathBuf> = std::fs::read_dir(ws.path().join("data/cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(caches.len(), 1, "{caches:?}");
    // A GBT run reads the descriptors of its training subset and of every validation and
    // test track; flip a bit in each descriptor vector of shard 0, so some are read.
    let index: Value =
        serde_json::from_slice(&std::fs::read(caches[0].join("shard-00000.json")).unwrap())
            .unwrap();
    let desc = caches[0].join("shard-00000.desc");
    let mut bytes = std::fs::read(&desc).unwrap();
    for entry in index["entries"].as_array().unwrap() {
        bytes[entry["desc"].as_u64().unwrap() as usize * 4 + 1] ^= 0x40;
    }
    std::fs::write(&desc, bytes).unwrap();

    // Cell 0: GBT on 24 tracks.
    let out = ws.run(&["run", grid, "--cell", "0"]);
    assert!(!out.status.success());
    assert!(!text(&out).contains("panicked"), "{}", text(&out));
    let runs = ws.runs();
    assert_eq!(status(&runs[0]), "FAILED", "{runs:#?}");
    let reason = runs[0]["error"].as_str().unwrap();
    assert!(
        reason.contains("shard-00000.desc")
            && reason.contains("checksum")
            && reason.contains("tagscale data cache"),
        "{reason}"
    );

    let out = ws.run(&["data", "cache", grid]);
    ok(&out);
    assert!(
        text(&out).contains("rebuilding the shard"),
        "{}",
        text(&out)
    );
    ok(&ws.run(&["run", grid, "--cell", "0", "--retry-failed"]));
    assert!(
        ws.runs().iter().any(|r| status(r) == "FINISHED"),
        "{:#?}",
        ws.runs()
    );
}

/// SIGTERM while a sweep builds its feature cache ends it within a track, not after the
/// whole cache; the shards finished so far are kept for the next sweep.
#[test]
fn sigterm_during_the_cache_build_ends_the_sweep_promptly() {
    let ws = Workspace::new();
    let grid = std::fs::read_to_string(smoke())
        .unwrap()
        .replace("tracks = 80", "tracks = 4000");
    let path = ws.path().join("big.toml");
    std::fs::write(&path, grid).unwrap();
    let child = ws
        .command(&["sweep", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cache_root = ws.path().join("data/cache");
    let started = Instant::now();
    let first_shard = || {
        cache_root.exists()
            && walk(&cache_root)
                .iter()
                .any(|p| p.file_name().is_some_and(|n| n == "shard-00000.json"))
    };
    while !first_shard() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no shard was built"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let signalled = Instant::now();
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let waited = signalled.elapsed();
    assert!(!out.status.success());
    assert!(text(&out).contains("interrupted"), "{}", text(&out));
    // Building the rest of this cache takes minutes; one shard's track takes well under one.
    assert!(
        waited < Duration::from_secs(30),
        "exited {waited:?} after SIGTERM"
    );
    assert!(first_shard(), "the finished shard is kept");
}

/// `rm tagscale.db-wal` during a sweep: the sweep fails with an error naming the log and what
/// to do, every run FINISHED before is still FINISHED in the `.db` file, and the store checks
/// sound afterwards.
#[test]
fn deleting_the_wal_during_a_sweep_fails_it_clearly_and_loses_no_finished_run() {
    let ws = Workspace::new();
    let sweep = ws.spawn_sweep(&[]);
    let runs = wait_for(&ws, Duration::from_secs(300), "a finished run", |runs| {
        runs.iter().any(|r| status(r) == "FINISHED")
    });
    let finished: Vec<i64> = runs
        .iter()
        .filter(|r| status(r) == "FINISHED")
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    std::fs::remove_file(ws.path().join("tagscale.db-wal")).unwrap();

    let out = sweep.wait_with_output().unwrap();
    let message = text(&out);
    assert!(!out.status.success(), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(
        message.contains("tagscale.db-wal")
            && message.contains("deleted or replaced")
            && message.contains("tagscale db check"),
        "{message}"
    );
    // Workers die with their sweep, but a process still closing can hold the removed log for a
    // moment; meanwhile an opening process is told the store "cannot be read" and to wait.
    let started = Instant::now();
    let after = loop {
        let out = ws.run(&["runs", "list", "--json"]);
        if out.status.success() {
            break serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap();
        }
        assert!(
            text(&out).contains("cannot be read") && started.elapsed() < Duration::from_secs(10),
            "{}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for id in &finished {
        let run = after
            .iter()
            .find(|r| r["id"] == *id)
            .expect("the run is kept");
        assert_eq!(status(run), "FINISHED", "{after:#?}");
    }
    let out = ws.run(&["db", "check"]);
    ok(&out);
    assert!(text(&out).contains("integrity: ok"), "{}", text(&out));
}

#[test]
fn a_second_store_on_the_same_runs_root_is_refused_and_overwrites_nothing() {
    let ws = Workspace::new();
    let grid = smoke();
    let grid = grid.to_str().unwrap();
    // Cell 0 (GBT, 24 tracks) is run 1 of the workspace's store.
    ok(&ws.run(&["run", grid, "--cell", "0"]));
    let first = ws.path().join("runs").join("1");
    let files = |dir: &Path| {
        let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = files(&first);
    // Another store's run 1, on the same runs root: refused, recorded as failed there.
    let other = ws.path().join("other.db");
    let out = ws
        .command(&["run", grid, "--cell", "2"])
        .env("TAGSCALE_DB", &other)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("another store shares this runs root"),
        "{}",
        text(&out)
    );
    assert_eq!(files(&first), before, "the first store's artifacts changed");
}
