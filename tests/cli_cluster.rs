//! End-to-end beyond one machine's SQLite file: the real binary on a real PostgreSQL server
//! and under a real single-node Slurm (both started by testkit).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use testkit::{Postgres, Service, Slurm, available};

#[test]
fn sweeps_on_postgresql_share_cells_report_and_rerun_exactly() {
    if !available(
        "sweeps_on_postgresql_share_cells_report_and_rerun_exactly",
        &[Service::Postgres],
    ) {
        return;
    }
    let ws = Workspace::with_db(&Postgres::shared().new_database());
    let grid = smoke();
    ok(&ws.run(&["data", "cache", grid.to_str().unwrap()]));
    // Two sweeps at once: concurrent claims through the server, never a cell twice.
    let (a, b) = (ws.spawn_sweep(&[]), ws.spawn_sweep(&[]));
    for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        ok(&out);
    }
    let runs = ws.runs();
    assert_eq!(runs.len(), SMOKE_CELLS, "a cell ran twice: {runs:#?}");
    assert_one_finished_per_cell(&runs);
    assert!(ws.path().join("reports/smoke/index.md").is_file());

    let spectrogram = runs.iter().find(|r| r["model"] == "spectrogram").unwrap();
    let id = spectrogram["id"].as_i64().unwrap().to_string();
    let shown = ws.show(spectrogram["id"].as_i64().unwrap());
    assert!(!shown["epoch_metrics"].as_array().unwrap().is_empty());
    let rerun = ws.run(&["rerun", &id, "--verify"]);
    ok(&rerun);
    assert!(
        text(&rerun).contains("REPRODUCED_EXACT"),
        "{}",
        text(&rerun)
    );
    // The report is regenerated from the server alone, byte for byte.
    let index = std::fs::read(ws.path().join("reports/smoke/index.md")).unwrap();
    ok(&ws.run(&["report"]));
    assert_eq!(
        std::fs::read(ws.path().join("reports/smoke/index.md")).unwrap(),
        index
    );
}

#[test]
fn the_slurm_executor_refuses_a_sqlite_store_unless_allowed() {
    let ws = Workspace::new();
    let grid = smoke();
    let out = ws.run(&["sweep", grid.to_str().unwrap(), "--executor", "slurm"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("Use PostgreSQL"), "{}", text(&out));
    assert!(!ws.path().join("tagscale.db").exists());

    let out = ws.run(&[
        "sweep",
        grid.to_str().unwrap(),
        "--executor",
        "slurm",
        "--allow-sqlite",
        "--print-script",
        "--partition",
        "gpu",
        "--gpus-per-task",
        "1",
        "--time",
        "1:00:00",
        "--array-parallelism",
        "2",
        "--sbatch-arg=--account=lab",
    ]);
    ok(&out);
    let script = String::from_utf8_lossy(&out.stdout);
    for line in [
        "#SBATCH --array=0-5%2",
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --time=1:00:00",
        "#SBATCH --account=lab",
        "--cell \"$SLURM_ARRAY_TASK_ID\"",
    ] {
        assert!(script.contains(line), "{line} missing in:\n{script}");
    }

    let out = ws.run(&["sweep", grid.to_str().unwrap(), "--partition", "gpu"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--executor slurm"), "{}", text(&out));
}

#[test]
fn a_slurm_job_array_runs_every_cell_and_resubmission_runs_only_what_was_cancelled() {
    if !available(
        "a_slurm_job_array_runs_every_cell_and_resubmission_runs_only_what_was_cancelled",
        &[Service::Postgres, Service::Slurm],
    ) {
        return;
    }
    let slurm = Slurm::shared();
    let ws = Workspace::with_db(&Postgres::shared().new_database());
    let grid = smoke();
    let submit = || {
        let out = ws
            .command(&["sweep", grid.to_str().unwrap(), "--executor", "slurm"])
            .env("SLURM_CONF", slurm.conf())
            .output()
            .unwrap();
        ok(&out);
        text(&out)
    };
    let first = submit();
    assert!(first.contains("submitted 6 of 6 cells"), "{first}");

    // Cancel the task of a deep cell once it trains: Slurm's SIGTERM must leave it KILLED.
    let runs = wait_for(
        &ws,
        Duration::from_secs(300),
        "a deep run under Slurm",
        |runs| runs.iter().any(is_running_deep_run),
    );
    let victim = runs.iter().find(|r| is_running_deep_run(r)).unwrap();
    let victim_id = victim["id"].as_i64().unwrap();
    let task = ws.show(victim_id)["scheduler_job"]
        .as_str()
        .expect("a run under Slurm records its array task")
        .to_string();
    let cell = victim["cell"].as_i64().unwrap();
    assert!(
        task.ends_with(&format!("_{cell}")),
        "{task} is not cell {cell}"
    );
    let cancelled = slurm.command("scancel").arg(&task).output().unwrap();
    ok(&cancelled);
    wait_for_queue_to_drain(slurm);
    let runs = ws.runs();
    let killed = runs
        .iter()
        .find(|r| r["id"].as_i64() == Some(victim_id))
        .unwrap();
    assert_eq!(status(killed), "KILLED", "{killed}");
    assert_eq!(
        runs.iter().filter(|r| status(r) == "FINISHED").count(),
        SMOKE_CELLS - 1,
        "{runs:#?}"
    );

    let shown = status_text(&ws, slurm);
    assert!(shown.contains("FINISHED 5 · KILLED 1"), "{shown}");
    assert!(shown.contains("CANCELLED"), "{shown}");

    // Resubmitting submits only the killed cell.
    let second = submit();
    assert!(second.contains("submitted 1 of 6 cells"), "{second}");
    assert!(second.contains(&format!("(array {cell})")), "{second}");
    wait_for_queue_to_drain(slurm);
    let runs = ws.runs();
    assert_one_finished_per_cell(&runs);
    assert_eq!(runs.len(), SMOKE_CELLS + 1);
    let shown = status_text(&ws, slurm);
    assert!(shown.contains("FINISHED 6"), "{shown}");

    // Nothing left: a third submission submits nothing.
    let third = submit();
    assert!(third.contains("nothing to submit"), "{third}");
}

#[test]
fn a_slurm_time_limit_ends_the_run_killed_and_sbatch_errors_are_reported() {
    if !available(
        "a_slurm_time_limit_ends_the_run_killed_and_sbatch_errors_are_reported",
        &[Service::Postgres, Service::Slurm],
    ) {
        return;
    }
    let slurm = Slurm::shared();
    let ws = Workspace::with_db(&Postgres::shared().new_database());
    // One waveform cell that would train for hours: only the time limit can end it.
    let endless = std::fs::read_to_string(smoke())
        .unwrap()
        .replace("epochs = 2", "epochs = 100000")
        .replace("patience = 1", "patience = 100000")
        .replace(
            r#"model = ["gbt", "waveform", "spectrogram"]"#,
            r#"model = ["waveform"]"#,
        )
        .replace("train_size = [24, 48]", "train_size = [24]");
    let grid = ws.path().join("endless.toml");
    std::fs::write(&grid, endless).unwrap();
    let submit = |extra: &[&str]| {
        let mut args = vec!["sweep", grid.to_str().unwrap(), "--executor", "slurm"];
        args.extend(extra);
        ws.command(&args)
            .env("SLURM_CONF", slurm.conf())
            .output()
            .unwrap()
    };

    let refused = submit(&["--partition", "nosuch"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("invalid partition"),
        "{}",
        text(&refused)
    );
    assert!(!status_text(&ws, slurm).contains("slurm job"));

    ok(&submit(&["--time", "1"]));
    let runs = wait_for(
        &ws,
        Duration::from_secs(300),
        "the 1-minute time limit to end the run",
        |runs| runs.len() == 1 && status(&runs[0]) == "KILLED",
    );
    assert!(
        runs[0]["error"].as_str().unwrap().contains("signal"),
        "{runs:#?}"
    );
    let shown = status_text(&ws, slurm);
    assert!(shown.contains("KILLED 1"), "{shown}");
}

fn is_running_deep_run(run: &Value) -> bool {
    status(run) == "RUNNING" && run["model"] != "gbt"
}

fn status_text(ws: &Workspace, slurm: &Slurm) -> String {
    let out = ws
        .command(&["sweep", "status"])
        .env("SLURM_CONF", slurm.conf())
        .output()
        .unwrap();
    ok(&out);
    text(&out)
}

/// Wait until the cluster has no job left pending or running.
fn wait_for_queue_to_drain(slurm: &Slurm) {
    let start = Instant::now();
    loop {
        let out = slurm
            .command("squeue")
            .args(["-h", "-o", "%i %T"])
            .output()
            .unwrap();
        let queue = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && queue.trim().is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "Slurm jobs still queued after 10 minutes:\n{queue}\n(logs in {})",
            slurm.dir().display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
