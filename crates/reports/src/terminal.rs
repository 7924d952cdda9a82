//! The store for a terminal: what `tagscale runs list|show|compare` (with their groups),
//! `db check`, `eval` and a sweep's cell table print, as text or JSON. Each view reads the
//! store (or takes the figures) and returns what to print; the binary prints it.

use std::collections::BTreeMap;
use std::fmt::Write;

use metrics::Evaluation;
use serde_json::{Value, json};
use tracking::keys::{metric, split, training};
use tracking::{FinalMetric, RunFilter, RunRecord, SeedGroup, Store, StoreCheck, format_time};

use crate::compare::{differing_keys, flatten_run, without_seeds};
use crate::data::METRICS;
use crate::error::{ReportError, Result};
use crate::groups::GroupSummary;

/// A run's sweep or cell, `-` for a run outside any.
fn or_dash(v: Option<i64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// The test macro figures of a run by key.
pub fn test_macros(metrics: &[FinalMetric]) -> BTreeMap<String, f64> {
    metrics
        .iter()
        .filter(|m| m.split == split::TEST && m.tag.is_none())
        .filter(|m| metric::MACROS.contains(&m.key.as_str()))
        .map(|m| (m.key.clone(), m.value))
        .collect()
}

/// The test macro figures of a run, as `key value` pairs on one line.
pub fn macro_summary(metrics: &[FinalMetric]) -> String {
    test_macros(metrics)
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join("  ")
}

fn duration(run: &RunRecord) -> String {
    match (run.started_at, run.ended_at) {
        (Some(s), Some(e)) => format!("{:.1}s", (e - s) as f64 / 1000.0),
        (Some(_), None) => "running".into(),
        _ => "-".into(),
    }
}

/// One cell of a sweep for [`sweep_cell_table`]: its index, axes and standing run.
pub struct CellLine<'a> {
    pub index: usize,
    pub axes: tracking::RunAxes,
    pub run: Option<&'a RunRecord>,
    /// The cell's task in a scheduler and its state there (`1234_5 RUNNING`), when known.
    pub task: Option<String>,
}

/// A sweep's cells with their runs and test figures; with `tasks`, a column of each cell's
/// scheduler task and state.
pub fn sweep_cell_table(store: &Store, cells: &[CellLine<'_>], tasks: bool) -> Result<String> {
    let task_header = if tasks { "slurm task" } else { "" };
    let mut out = format!(
        "{:>4}  {:<11} {:>6} {:<8} {:>4}  {:>5} {:<8}  {task_header:<24}test\n",
        "cell", "model", "n", "backend", "seed", "run", "status"
    );
    for cell in cells {
        let (id, status, figures) = match cell.run {
            Some(r) => (
                r.id.to_string(),
                r.status.to_string(),
                macro_summary(&store.run_metrics(r.id)?),
            ),
            None => ("-".into(), "NOT RUN".into(), String::new()),
        };
        let task = if tasks {
            format!("{:<24}", cell.task.as_deref().unwrap_or("-"))
        } else {
            String::new()
        };
        let axes = &cell.axes;
        let _ = writeln!(
            out,
            "{:>4}  {:<11} {:>6} {:<8} {:>4}  {id:>5} {status:<8}  {task}{figures}",
            cell.index, axes.model, axes.train_size, axes.backend, axes.seed
        );
    }
    Ok(out)
}

/// `FINISHED 4 · RUNNING 1 · NOT RUN 1`.
pub fn status_counts(counts: &tracking::StatusCounts) -> String {
    use tracking::Status;
    let mut parts: Vec<String> = [
        Status::Finished,
        Status::Running,
        Status::Queued,
        Status::Failed,
        Status::Killed,
    ]
    .into_iter()
    .map(|s| (s, counts.get(s)))
    .filter(|(_, n)| *n > 0)
    .map(|(s, n)| format!("{s} {n}"))
    .collect();
    if counts.not_run > 0 {
        parts.push(format!("NOT RUN {}", counts.not_run));
    }
    parts.join(" · ")
}

/// `runs list`: every run (or a sweep's), oldest first, one line each.
pub fn run_list(store: &Store, sweep: Option<i64>) -> Result<String> {
    let mut out = format!(
        "{:>5} {:>5} {:>4}  {:<11} {:>6} {:<8} {:>4}  {:<8} {:<19} {:>9}  test\n",
        "id", "sweep", "cell", "model", "n", "backend", "seed", "status", "started", "duration"
    );
    for r in &store.runs(sweep)? {
        let _ = writeln!(
            out,
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
    Ok(out)
}

/// `runs list --json`: one object per run with its test macro figures.
pub fn run_list_json(store: &Store, sweep: Option<i64>) -> Result<Value> {
    let rows: Vec<Value> = store
        .runs(sweep)?
        .iter()
        .map(|r| {
            Ok(json!({
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
                "test": test_macros(&store.run_metrics(r.id)?),
            }))
        })
        .collect::<Result<_>>()?;
    Ok(Value::Array(rows))
}

/// `runs show ID --json`: the run record with its config, evaluations, figures and artifacts.
pub fn run_detail_json(store: &Store, id: i64) -> Result<Value> {
    let run = store.run(id)?;
    let mut record = serde_json::to_value(&run).unwrap_or(Value::Null);
    record["config"] = serde_json::from_str(&run.config_json).unwrap_or(Value::Null);
    record["epoch_metrics"] = json!(store.epoch_metrics(id)?);
    record["metrics"] = json!(store.run_metrics(id)?);
    record["artifacts"] = json!(store.artifacts(id)?);
    Ok(record)
}

/// `runs show ID`: config, code, host, why training stopped, evaluations, macro figures with
/// their intervals, artifacts.
pub fn run_detail(store: &Store, id: i64) -> Result<String> {
    let run = store.run(id)?;
    let epochs = store.epoch_metrics(id)?;
    let metrics = store.run_metrics(id)?;
    let config: Value = serde_json::from_str(&run.config_json).unwrap_or(Value::Null);
    let mut out = format!(
        "run {} ({})  {}  {} n={} backend={} seed={}\n",
        run.id,
        run.uuid,
        run.status,
        run.axes.model,
        run.axes.train_size,
        run.axes.backend,
        run.axes.seed
    );
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "  {k:<14} {v}");
    };
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
            .find(|m| m.split == split::TRAIN && m.tag.is_none() && m.key == key)
            .map(|m| m.value)
    };
    if let Some(stopped_early) = summary(training::STOPPED_EARLY) {
        let [evaluations, steps] =
            [training::EVALUATIONS, training::STEPS].map(|k| summary(k).unwrap_or(0.0));
        line(
            "stopped",
            training::describe_stop(stopped_early, evaluations, steps),
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
    if !run.host.libraries.is_empty() {
        line("libraries", run.host.libraries.clone());
    }
    if let Some(job) = &run.scheduler_job {
        line("slurm task", job.clone());
    }
    line("dataset", run.dataset_hash.clone().unwrap_or_default());
    line("subset", run.subset_hash.clone().unwrap_or_default());
    line("artifacts", run.artifact_dir.clone().unwrap_or_default());
    line("config hash", run.config_hash.clone());
    let _ = writeln!(
        out,
        "config:\n{}",
        serde_json::to_string_pretty(&config).unwrap_or_default()
    );
    if !epochs.is_empty() {
        out.push_str("evaluations (train/step is the step each was made at):\n");
        let mut by_epoch: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for m in &epochs {
            by_epoch
                .entry(m.epoch)
                .or_default()
                .push(format!("{}/{} {:.4}", m.split, m.key, m.value));
        }
        for (epoch, values) in by_epoch {
            let _ = writeln!(out, "  {:>3}  {}", epoch + 1, values.join("  "));
        }
    }
    if !metrics.is_empty() {
        out.push_str("final:\n");
        for m in metrics.iter().filter(|m| m.tag.is_none()) {
            let ci =
                m.ci.map_or(String::new(), |(l, h)| format!("  [{l:.4}, {h:.4}]"));
            let _ = writeln!(out, "  {}/{:<14} {:.4}{ci}", m.split, m.key, m.value);
        }
        let per_tag = metrics.iter().filter(|m| m.tag.is_some()).count();
        if per_tag > 0 {
            let _ = writeln!(out, "per tag ({per_tag} figures; `--json` lists them all):");
        }
    }
    for a in &store.artifacts(id)? {
        let _ = writeln!(
            out,
            "  artifact {:<17} {} ({} bytes, sha256 {})",
            a.name,
            a.path,
            a.size,
            &a.sha256[..16.min(a.sha256.len())]
        );
    }
    Ok(out)
}

/// `runs compare A B`: the keys (config, code, host, figures) on which two runs differ.
pub struct RunComparison {
    pub a: i64,
    pub b: i64,
    /// `(key, value in a, value in b)`.
    pub differences: Vec<(String, Value, Value)>,
}

impl RunComparison {
    pub fn read(store: &Store, a: i64, b: i64) -> Result<Self> {
        let flat = |id: i64| -> Result<BTreeMap<String, Value>> {
            Ok(flatten_run(&store.run(id)?, &store.run_metrics(id)?))
        };
        let (fa, fb) = (flat(a)?, flat(b)?);
        let value = |f: &BTreeMap<String, Value>, k: &str| f.get(k).cloned().unwrap_or(Value::Null);
        let differences = differing_keys(&[fa.clone(), fb.clone()])
            .into_iter()
            .map(|k| {
                let (x, y) = (value(&fa, &k), value(&fb, &k));
                (k, x, y)
            })
            .collect();
        Ok(Self { a, b, differences })
    }

    pub fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .differences
            .iter()
            .map(|(k, x, y)| json!({"key": k, "a": x, "b": y}))
            .collect();
        json!({"a": self.a, "b": self.b, "differences": rows})
    }

    pub fn text(&self) -> String {
        let (a, b) = (self.a, self.b);
        if self.differences.is_empty() {
            return format!("runs {a} and {b} do not differ in config, code, host or metrics\n");
        }
        let mut out = format!(
            "{:<40} {:>20} {:>20}\n",
            "",
            format!("run {a}"),
            format!("run {b}")
        );
        for (k, x, y) in &self.differences {
            let _ = writeln!(out, "{k:<40} {:>20} {:>20}", short_value(x), short_value(y));
        }
        out
    }
}

fn short_value(v: &Value) -> String {
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

/// `db check`: integrity, run counts and artifact problems, one finding per line.
pub fn store_check(url: &str, found: &StoreCheck) -> String {
    let mut text = format!("store {url}\n");
    match &found.integrity {
        None => text.push_str("integrity: kept by PostgreSQL (not checked here)\n"),
        Some(problems) if problems.is_empty() => {
            text.push_str("integrity: ok (integrity_check, foreign_key_check)\n");
        }
        Some(problems) => {
            let _ = writeln!(text, "integrity: {} problems", problems.len());
            problems.iter().for_each(|p| {
                let _ = writeln!(text, "  {p}");
            });
        }
    }
    let runs: Vec<String> = found
        .runs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let runs = if runs.is_empty() {
        "none".into()
    } else {
        runs.join(" · ")
    };
    let _ = writeln!(text, "sweeps: {}\nruns: {runs}", found.sweeps);
    let _ = writeln!(
        text,
        "artifacts: {} recorded, {} missing or changed",
        found.artifacts,
        found.artifact_problems.len()
    );
    found.artifact_problems.iter().for_each(|p| {
        let _ = writeln!(text, "  {p}");
    });
    text
}

/// One group: what its runs share and the runs.
struct Group {
    /// `(key, value)` pairs that define the group, for display.
    label: Vec<(String, Value)>,
    runs: Vec<RunRecord>,
}

impl From<SeedGroup> for Group {
    fn from(g: SeedGroup) -> Self {
        Self {
            label: vec![
                ("sweep".into(), json!(g.sweep)),
                ("model".into(), json!(g.model)),
                ("train_size".into(), json!(g.train_size)),
                ("backend".into(), json!(g.backend)),
            ],
            runs: g.runs,
        }
    }
}

/// `runs list --group-by [KEYS]`: one JSON row per group — its values, its runs, and mean,
/// std and count per test figure over its finished runs. Without keys: the seed groups (the
/// original runs of one sweep with one model, size and backend); with `KEY,KEY…` (dotted for
/// nested config keys): the original runs sharing those config values.
pub fn group_list(store: &Store, sweep: Option<i64>, keys: &str) -> Result<Vec<Value>> {
    let keys: Vec<&str> = keys
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    let groups: Vec<Group> = if keys.is_empty() {
        let filter = RunFilter {
            sweep,
            ..RunFilter::default()
        };
        let page = store.seed_groups(&filter, 0, usize::MAX)?;
        page.groups.into_iter().map(Group::from).collect()
    } else {
        by_keys(store.runs(sweep)?, &keys)?
    };
    groups.iter().map(|g| summary(store, g)).collect()
}

/// Group the original runs (reruns sample no new seed) by `keys` of their resolved configs.
fn by_keys(runs: Vec<RunRecord>, keys: &[&str]) -> Result<Vec<Group>> {
    let mut groups: Vec<(String, Group)> = Vec::new();
    for run in runs.into_iter().filter(|r| r.rerun_of.is_none()) {
        let config = without_seeds(&stored_config(&run)?);
        let label: Vec<(String, Value)> = keys
            .iter()
            .map(|k| match lookup(&config, k) {
                Some(v) => Ok((k.to_string(), v.clone())),
                None => Err(ReportError::Query(format!(
                    "run {} has no config key `{k}` (keys: {})",
                    run.id,
                    top_level_keys(&config)
                ))),
            })
            .collect::<Result<_>>()?;
        let identity = Value::Array(label.iter().map(|(_, v)| v.clone()).collect()).to_string();
        match groups.iter_mut().find(|(id, _)| *id == identity) {
            Some((_, g)) => g.runs.push(run),
            None => groups.push((
                identity,
                Group {
                    label,
                    runs: vec![run],
                },
            )),
        }
    }
    Ok(groups.into_iter().map(|(_, g)| g).collect())
}

/// A dotted key (`train.lr`) in a JSON object.
fn lookup<'a>(config: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(config, |v, part| v.get(part))
}

fn top_level_keys(config: &Value) -> String {
    config
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// A group's JSON summary: its values, its runs, and mean, std and count per test figure
/// over the FINISHED runs.
fn summary(store: &Store, g: &Group) -> Result<Value> {
    let summary = GroupSummary::read(store, &g.runs)?;
    let test: serde_json::Map<String, Value> = METRICS
        .iter()
        .filter_map(|&m| {
            let s = summary.figure(m)?;
            Some((
                m.key().to_string(),
                json!({"mean": s.mean, "std": s.std, "count": s.count}),
            ))
        })
        .collect();
    Ok(json!({
        "group": g.label.iter().cloned().collect::<serde_json::Map<_, _>>(),
        "runs": g.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        "finished": summary.finished,
        "test": test,
    }))
}

/// `model=spectrogram train_size=800 backend=flex  3/3 finished  roc_auc 0.8110 ± 0.0040 …`
pub fn group_line(row: &Value) -> String {
    let label: Vec<String> = row["group"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| format!("{k}={}", plain(v))).collect())
        .unwrap_or_default();
    let runs = row["runs"].as_array().map_or(0, Vec::len);
    let figures: Vec<String> = METRICS
        .iter()
        .filter_map(|m| {
            let key = m.key();
            let f = &row["test"][key];
            Some(format!(
                "{key} {:.4} ± {:.4}",
                f["mean"].as_f64()?,
                f["std"].as_f64()?
            ))
        })
        .collect();
    let ids: Vec<String> = row["runs"]
        .as_array()
        .map(|a| a.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    format!(
        "{}  {}/{runs} finished  {}  (runs {})",
        label.join(" "),
        row["finished"],
        figures.join("  "),
        ids.join(",")
    )
}

/// A JSON value as a user typed it: strings without quotes, `-` for none.
fn plain(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// `runs compare A B --groups`: the seed groups of run A and of run B — what their configs
/// differ in besides the seeds, and each test figure's mean ± std and count per group with
/// the difference of the means.
pub fn group_comparison(store: &Store, a: i64, b: i64) -> Result<Value> {
    let group_of = |id: i64| -> Result<Group> { Ok(store.seed_group_of(&store.run(id)?)?.into()) };
    let (ga, gb) = (group_of(a)?, group_of(b)?);
    let (sa, sb) = (summary(store, &ga)?, summary(store, &gb)?);
    let config = |g: &Group| -> Result<Value> { Ok(without_seeds(&stored_config(&g.runs[0])?)) };
    let mut differences = Vec::new();
    config_differences("", &config(&ga)?, &config(&gb)?, &mut differences);
    let figures: Vec<Value> = METRICS
        .iter()
        .filter_map(|m| {
            let key = m.key();
            let (x, y) = (&sa["test"][key], &sb["test"][key]);
            let difference = x["mean"].as_f64()? - y["mean"].as_f64()?;
            Some(json!({"key": key, "a": x, "b": y, "difference": difference}))
        })
        .collect();
    Ok(json!({
        "a": {"runs": sa["runs"], "finished": sa["finished"]},
        "b": {"runs": sb["runs"], "finished": sb["finished"]},
        "config": differences
            .iter()
            .map(|(k, x, y)| json!({"key": k, "a": x, "b": y}))
            .collect::<Vec<_>>(),
        "test": figures,
    }))
}

/// [`group_comparison`] as lines of text.
pub fn group_comparison_text(comparison: &Value) -> String {
    let ids = |side: &Value| -> String {
        side["runs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    let mut out = String::new();
    for name in ["a", "b"] {
        let side = &comparison[name];
        let _ = writeln!(
            out,
            "group {name}: runs {} ({} finished)",
            ids(side),
            side["finished"]
        );
    }
    for d in comparison["config"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "config {}: {} vs {}",
            d["key"].as_str().unwrap_or(""),
            plain(&d["a"]),
            plain(&d["b"])
        );
    }
    for f in comparison["test"].as_array().into_iter().flatten() {
        let side = |v: &Value| {
            format!(
                "{:.4} ± {:.4} (n={})",
                v["mean"].as_f64().unwrap_or(f64::NAN),
                v["std"].as_f64().unwrap_or(f64::NAN),
                v["count"]
            )
        };
        let _ = writeln!(
            out,
            "test {}: {} vs {}  difference {:+.4}",
            f["key"].as_str().unwrap_or(""),
            side(&f["a"]),
            side(&f["b"]),
            f["difference"].as_f64().unwrap_or(f64::NAN)
        );
    }
    out
}

/// A run's stored config as JSON.
fn stored_config(run: &RunRecord) -> Result<Value> {
    serde_json::from_str(&run.config_json)
        .map_err(|e| ReportError::Query(format!("run {}: its stored config: {e}", run.id)))
}

/// Dotted keys whose values differ between two JSON values, with both values.
fn config_differences(prefix: &str, a: &Value, b: &Value, out: &mut Vec<(String, Value, Value)>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                let null = Value::Null;
                config_differences(
                    &key,
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        _ if a != b => out.push((prefix.to_string(), a.clone(), b.clone())),
        _ => {}
    }
}

/// `tagscale eval --json`: `{"tags": {TAG: figures}, "macro": {...}, "skipped": [...]}`: per-tag figures under their own
/// key, so no tag name (`skipped`, `macro_roc_auc`) can overwrite a summary.
pub fn evaluation_json(e: &Evaluation) -> serde_json::Value {
    let mut tags = serde_json::Map::new();
    for t in &e.per_tag {
        let mut figures = serde_json::Map::new();
        for (key, value) in [
            (metric::ROC_AUC, t.roc_auc),
            (metric::PR_AUC, t.pr_auc),
            (metric::RMSE, t.rmse),
        ] {
            if let Some(v) = value {
                figures.insert(key.into(), v.into());
            }
        }
        figures.insert(
            "kind".into(),
            serde_json::to_value(t.kind).unwrap_or_default(),
        );
        tags.insert(t.name.clone(), figures.into());
    }
    serde_json::json!({
        "tags": tags,
        "macro": {
            (metric::ROC_AUC): e.macro_roc_auc,
            (metric::PR_AUC): e.macro_pr_auc,
            (metric::RMSE): e.macro_rmse,
        },
        "skipped": e.skipped,
    })
}

/// `tagscale eval`: a row per tag, the macro row, the skipped tags.
pub fn evaluation_text(e: &Evaluation) -> String {
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
    let width = e
        .per_tag
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(3)
        .max(5);
    let mut s = format!(
        "{:<width$}  {:>8}  {:>8}  {:>8}\n",
        "tag", "ROC-AUC", "PR-AUC", "RMSE"
    );
    for t in &e.per_tag {
        s.push_str(&format!(
            "{:<width$}  {:>8}  {:>8}  {:>8}\n",
            t.name,
            fmt(t.roc_auc),
            fmt(t.pr_auc),
            fmt(t.rmse)
        ));
    }
    s.push_str(&format!(
        "{:<width$}  {:>8}  {:>8}  {:>8}\n",
        "macro",
        fmt(e.macro_roc_auc),
        fmt(e.macro_pr_auc),
        fmt(e.macro_rmse)
    ));
    if !e.skipped.is_empty() {
        s.push_str(&format!(
            "skipped (one class only): {}\n",
            e.skipped.join(", ")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_counts_name_only_the_states_present_in_lifecycle_order() {
        let counts = tracking::StatusCounts {
            finished: 4,
            running: 1,
            not_run: 2,
            ..Default::default()
        };
        assert_eq!(status_counts(&counts), "FINISHED 4 · RUNNING 1 · NOT RUN 2");
        assert_eq!(status_counts(&Default::default()), "");
    }

    #[test]
    fn an_evaluation_prints_a_row_per_tag_the_macro_row_and_what_was_skipped() {
        let names = ["rock".to_string(), "tempo".to_string(), "solo".to_string()];
        let kinds = [
            metrics::TagKind::Classification,
            metrics::TagKind::Regression,
            metrics::TagKind::Classification,
        ];
        let truth = [1.0, 0.2, 0.0, 0.0, 0.8, 0.0];
        let predictions = [0.9, 0.3, 0.5, 0.1, 0.7, 0.5];
        let evaluation = metrics::evaluate(&metrics::Scores {
            names: &names,
            kinds: &kinds,
            truth: &truth,
            predictions: &predictions,
        })
        .unwrap();
        let text = evaluation_text(&evaluation);
        assert!(text.starts_with("tag  "), "{text}");
        assert!(
            text.contains("rock     1.0000    1.0000         -"),
            "{text}"
        );
        assert!(text.contains("skipped (one class only): solo"), "{text}");
        let json = evaluation_json(&evaluation);
        assert_eq!(json["macro"][metric::ROC_AUC], 1.0);
        assert_eq!(json["tags"]["tempo"]["kind"], "regression");
        assert_eq!(json["skipped"][0], "solo");
    }
}
