//! `tagscale runs list|show|compare` and `tagscale db migrate`: reading the store.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use tracking::{FinalMetric, RunRecord, Store, format_time, keys};

use crate::print::{macro_summary, test_macros};
use crate::store;

#[derive(Subcommand)]
pub enum RunsCommand {
    /// Every run (or those of one sweep), oldest first.
    List {
        /// Only the runs of this sweep's cells.
        #[arg(long)]
        sweep: Option<i64>,
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Pool runs into groups and show each group's test figures as mean ± std over its
        /// finished runs. Without a value: runs whose resolved configs differ only by seed;
        /// with `KEY,KEY…` (config keys, dotted for nested ones: `model,train_size,train.lr`):
        /// runs that share those values.
        #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "KEYS")]
        group_by: Option<String>,
    },
    /// One run: config, code version, host, per-epoch and final metrics, artifacts.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// What differs between two runs: config, code, host, metrics. With `--groups`, between
    /// the groups of runs that differ from A and from B only by seed: config, and each test
    /// figure's mean ± std per group.
    Compare {
        a: i64,
        b: i64,
        #[arg(long)]
        groups: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Create the store if needed and apply pending migrations (opening does this too).
    Migrate,
    /// Write a consistent single-file copy of a SQLite store (safe while sweeps write): the
    /// file to share, not the live `.db`.
    Backup {
        /// The copy to write; must not exist.
        out: std::path::PathBuf,
    },
    /// Check the store: SQLite's integrity and foreign keys, and that every artifact it
    /// records is present with its recorded size and sha256. Exits non-zero on a problem.
    Check {
        #[arg(long)]
        json: bool,
    },
}

/// A run's sweep or cell, `-` for a run outside any.
fn or_dash(v: Option<i64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

pub fn run(cmd: RunsCommand, db: &str) -> Result<()> {
    let store = store::open_existing(db)?;
    match cmd {
        RunsCommand::List {
            sweep,
            json,
            group_by: Some(keys),
        } => crate::groups::list_groups(&store, sweep, &keys, json),
        RunsCommand::List { sweep, json, .. } => list(&store, sweep, json),
        RunsCommand::Show { id, json } => show(&store, id, json),
        RunsCommand::Compare {
            a,
            b,
            groups: true,
            json,
        } => crate::groups::compare_groups(&store, a, b, json),
        RunsCommand::Compare { a, b, json, .. } => compare(&store, a, b, json),
    }
}

pub fn db(cmd: DbCommand, db: &str) -> Result<()> {
    match cmd {
        DbCommand::Migrate => {
            let store = store::open(db)?;
            println!("{}: migrations applied", store.url());
            Ok(())
        }
        DbCommand::Backup { out } => {
            let store = store::open_existing(db)?;
            store
                .backup(&out)
                .with_context(|| format!("backing up {} to {}", store.url(), out.display()))?;
            let runs = store.runs(None)?.len();
            println!("{}: {runs} runs copied to {}", store.url(), out.display());
            Ok(())
        }
        DbCommand::Check { json } => check(&store::open_existing(db)?, json),
    }
}

fn check(store: &Store, json: bool) -> Result<()> {
    let found = tracking::check(store)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        print!("{}", check_text(store.url(), &found));
    }
    if !found.is_sound() {
        bail!("the store {} has problems (listed above)", store.url());
    }
    Ok(())
}

fn check_text(url: &str, found: &tracking::StoreCheck) -> String {
    let mut text = format!("store {url}\n");
    match &found.integrity {
        None => text.push_str("integrity: kept by PostgreSQL (not checked here)\n"),
        Some(problems) if problems.is_empty() => {
            text.push_str("integrity: ok (integrity_check, foreign_key_check)\n");
        }
        Some(problems) => {
            text.push_str(&format!("integrity: {} problems\n", problems.len()));
            problems
                .iter()
                .for_each(|p| text.push_str(&format!("  {p}\n")));
        }
    }
    let runs: Vec<String> = found
        .runs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    text.push_str(&format!(
        "sweeps: {}\nruns: {}\n",
        found.sweeps,
        if runs.is_empty() {
            "none".into()
        } else {
            runs.join(" · ")
        }
    ));
    text.push_str(&format!(
        "artifacts: {} recorded, {} missing or changed\n",
        found.artifacts,
        found.artifact_problems.len()
    ));
    found
        .artifact_problems
        .iter()
        .for_each(|p| text.push_str(&format!("  {p}\n")));
    text
}

fn duration(run: &RunRecord) -> String {
    match (run.started_at, run.ended_at) {
        (Some(s), Some(e)) => format!("{:.1}s", (e - s) as f64 / 1000.0),
        (Some(_), None) => "running".into(),
        _ => "-".into(),
    }
}

fn list(store: &Store, sweep: Option<i64>, json: bool) -> Result<()> {
    let runs = store.runs(sweep)?;
    if json {
        let rows: Vec<Value> = runs
            .iter()
            .map(|r| Ok(run_summary_json(r, &store.run_metrics(r.id)?)))
            .collect::<Result<_>>()?;
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:>5} {:>5} {:>4}  {:<11} {:>6} {:<8} {:>4}  {:<8} {:<19} {:>9}  test",
        "id", "sweep", "cell", "model", "n", "backend", "seed", "status", "started", "duration"
    );
    for r in &runs {
        println!(
            "{:>5} {:>5} {:>4}  {:<11} {:>6} {:<8} {:>4}  {:<8} {:<19} {:>9}  {}{}",
            r.id,
            or_dash(r.sweep),
            or_dash(r.cell),
            r.axes.model,
            r.axes.train_size,
            r.axes.backend,
            r.axes.seed,
            r.status,
            r.started_at.map_or("-".into(), format_time),
            duration(r),
            macro_summary(&store.run_metrics(r.id)?),
            r.rerun_of
                .map_or(String::new(), |o| format!("  (rerun of {o})")),
        );
    }
    Ok(())
}

fn run_summary_json(r: &RunRecord, metrics: &[FinalMetric]) -> Value {
    json!({
        "id": r.id,
        "uuid": r.uuid,
        "status": r.status,
        "model": r.axes.model,
        "train_size": r.axes.train_size,
        "backend": r.axes.backend,
        "seed": r.axes.seed,
        "cell": r.cell,
        "sweep": r.sweep,
        "rerun_of": r.rerun_of,
        "config_hash": r.config_hash,
        "created_at": format_time(r.created_at),
        "started_at": r.started_at.map(format_time),
        "ended_at": r.ended_at.map(format_time),
        "error": r.error,
        "test": test_macros(metrics),
    })
}

fn show(store: &Store, id: i64, json: bool) -> Result<()> {
    let run = store.run(id)?;
    let epochs = store.epoch_metrics(id)?;
    let metrics = store.run_metrics(id)?;
    let artifacts = store.artifacts(id)?;
    let config: Value = serde_json::from_str(&run.config_json).unwrap_or(Value::Null);
    if json {
        let mut record = serde_json::to_value(&run)?;
        record["config"] = config;
        record["epoch_metrics"] = serde_json::to_value(&epochs)?;
        record["metrics"] = serde_json::to_value(&metrics)?;
        record["artifacts"] = serde_json::to_value(&artifacts)?;
        println!("{}", serde_json::to_string_pretty(&record)?);
        return Ok(());
    }
    println!(
        "run {} ({})  {}  {} n={} backend={} seed={}",
        run.id,
        run.uuid,
        run.status,
        run.axes.model,
        run.axes.train_size,
        run.axes.backend,
        run.axes.seed
    );
    let line = |k: &str, v: String| println!("  {k:<14} {v}");
    line(
        "sweep / cell",
        format!("{} / {}", or_dash(run.sweep), or_dash(run.cell)),
    );
    if let Some(of) = run.rerun_of {
        line("rerun of", of.to_string());
    }
    line("created", format_time(run.created_at));
    line("duration", duration(&run));
    if let Some(e) = &run.error {
        line("error", e.clone());
    }
    let summary = |key: &str| {
        metrics
            .iter()
            .find(|m| m.split == keys::split::TRAIN && m.tag.is_none() && m.key == key)
            .map(|m| m.value)
    };
    if let Some(stopped_early) = summary(keys::training::STOPPED_EARLY) {
        let [evaluations, steps] =
            [keys::training::EVALUATIONS, keys::training::STEPS].map(|k| summary(k).unwrap_or(0.0));
        line(
            "stopped",
            keys::training::describe_stop(stopped_early, evaluations, steps),
        );
    }
    line(
        "code",
        format!(
            "{} ({}; features [{}])",
            run.code.short(),
            run.code.rustc_version,
            run.code.cargo_features
        ),
    );
    line(
        "host",
        format!(
            "{} — {} — {} threads",
            run.host.name, run.host.cpu, run.threads
        ),
    );
    if !run.host.simd.is_empty() {
        line("simd", run.host.simd.clone());
    }
    if let Some(job) = &run.scheduler_job {
        line("slurm task", job.clone());
    }
    line("dataset", run.dataset_hash.clone().unwrap_or_default());
    line("subset", run.subset_hash.clone().unwrap_or_default());
    line("artifacts", run.artifact_dir.clone().unwrap_or_default());
    line("config hash", run.config_hash.clone());
    println!("config:\n{}", serde_json::to_string_pretty(&config)?);
    if !epochs.is_empty() {
        println!("evaluations (train/step is the step each was made at):");
        let mut by_epoch: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for m in &epochs {
            by_epoch
                .entry(m.epoch)
                .or_default()
                .push(format!("{}/{} {:.4}", m.split, m.key, m.value));
        }
        for (epoch, values) in by_epoch {
            println!("  {:>3}  {}", epoch + 1, values.join("  "));
        }
    }
    if !metrics.is_empty() {
        println!("final:");
        for m in metrics.iter().filter(|m| m.tag.is_none()) {
            let ci =
                m.ci.map_or(String::new(), |(l, h)| format!("  [{l:.4}, {h:.4}]"));
            println!("  {}/{:<14} {:.4}{ci}", m.split, m.key, m.value);
        }
        let per_tag: Vec<&FinalMetric> = metrics.iter().filter(|m| m.tag.is_some()).collect();
        if !per_tag.is_empty() {
            println!(
                "per tag ({} figures; `--json` lists them all):",
                per_tag.len()
            );
        }
    }
    for a in &artifacts {
        println!(
            "  artifact {:<17} {} ({} bytes, sha256 {})",
            a.name,
            a.path,
            a.size,
            &a.sha256[..16.min(a.sha256.len())]
        );
    }
    Ok(())
}

/// Everything comparable about a run, flattened to `path -> value`.
fn flatten_run(store: &Store, run: &RunRecord) -> Result<BTreeMap<String, Value>> {
    Ok(reports::compare::flatten_run(
        run,
        &store.run_metrics(run.id)?,
    ))
}

fn compare(store: &Store, a: i64, b: i64, json: bool) -> Result<()> {
    let (ra, rb) = (store.run(a)?, store.run(b)?);
    let (fa, fb) = (flatten_run(store, &ra)?, flatten_run(store, &rb)?);
    let differences: Vec<(String, Value, Value)> =
        reports::compare::differing_keys(&[fa.clone(), fb.clone()])
            .into_iter()
            .map(|k| {
                let value = |f: &BTreeMap<String, Value>| f.get(&k).cloned().unwrap_or(Value::Null);
                let (x, y) = (value(&fa), value(&fb));
                (k, x, y)
            })
            .collect();
    if json {
        let rows: Vec<Value> = differences
            .iter()
            .map(|(k, x, y)| json!({"key": k, "a": x, "b": y}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"a": a, "b": b, "differences": rows}))?
        );
        return Ok(());
    }
    if differences.is_empty() {
        println!("runs {a} and {b} do not differ in config, code, host or metrics");
        return Ok(());
    }
    println!(
        "{:<40} {:>20} {:>20}",
        "",
        format!("run {a}"),
        format!("run {b}")
    );
    for (k, x, y) in differences {
        println!("{k:<40} {:>20} {:>20}", show_value(&x), show_value(&y));
    }
    Ok(())
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.fract() != 0.0)
            .map_or_else(|| n.to_string(), |f| format!("{f:.6}")),
        Value::String(s) => s.chars().take(20).collect(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}
