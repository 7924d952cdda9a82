//! `tagscale runs list --group-by`: the seed groups of the store (the original runs of one
//! sweep with one model, size and backend — reruns repeat a seed and join none), or runs
//! pooled by chosen config keys; each group's test figures as mean ± std over its finished
//! runs ([`reports::groups`], as the dashboard shows them).

use anyhow::{Result, bail};
use reports::data::METRICS;
use reports::groups::GroupSummary;
use runner::RunConfig;
use serde_json::{Value, json};
use tracking::{RunFilter, RunRecord, SeedGroup, Store};

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

pub fn list_groups(store: &Store, sweep: Option<i64>, keys: &str, json: bool) -> Result<()> {
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
    let mut rows = Vec::new();
    for g in &groups {
        rows.push(summary(store, g)?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for row in &rows {
        println!("{}", text_line(row));
    }
    Ok(())
}

/// Group the original runs (reruns sample no new seed) by `keys` of their resolved configs.
fn by_keys(runs: Vec<RunRecord>, keys: &[&str]) -> Result<Vec<Group>> {
    let mut groups: Vec<(String, Group)> = Vec::new();
    for run in runs.into_iter().filter(|r| r.rerun_of.is_none()) {
        let config = RunConfig::from_json(&run.config_json)?.without_seeds();
        let label: Vec<(String, Value)> = keys
            .iter()
            .map(|k| match lookup(&config, k) {
                Some(v) => Ok((k.to_string(), v.clone())),
                None => bail!(
                    "run {} has no config key `{k}` (keys: {})",
                    run.id,
                    top_level_keys(&config)
                ),
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
fn text_line(row: &Value) -> String {
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
pub fn compare_groups(store: &Store, a: i64, b: i64, json: bool) -> Result<()> {
    let group_of = |id: i64| -> Result<Group> { Ok(store.seed_group_of(&store.run(id)?)?.into()) };
    let (ga, gb) = (group_of(a)?, group_of(b)?);
    let (sa, sb) = (summary(store, &ga)?, summary(store, &gb)?);
    let config = |g: &Group| -> Result<Value> {
        Ok(RunConfig::from_json(&g.runs[0].config_json)?.without_seeds())
    };
    let (ca, cb) = (config(&ga)?, config(&gb)?);
    let mut differences = Vec::new();
    config_differences("", &ca, &cb, &mut differences);
    let figures: Vec<Value> = METRICS
        .iter()
        .filter_map(|m| {
            let key = m.key();
            let (x, y) = (&sa["test"][key], &sb["test"][key]);
            let difference = x["mean"].as_f64()? - y["mean"].as_f64()?;
            Some(json!({"key": key, "a": x, "b": y, "difference": difference}))
        })
        .collect();
    if json {
        let output = json!({
            "a": {"runs": sa["runs"], "finished": sa["finished"]},
            "b": {"runs": sb["runs"], "finished": sb["finished"]},
            "config": differences
                .iter()
                .map(|(k, x, y)| json!({"key": k, "a": x, "b": y}))
                .collect::<Vec<_>>(),
            "test": figures,
        });
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(());
    }
    let ids = |s: &Value| -> String {
        s["runs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    println!("group a: runs {} ({} finished)", ids(&sa), sa["finished"]);
    println!("group b: runs {} ({} finished)", ids(&sb), sb["finished"]);
    for (k, x, y) in &differences {
        println!("config {k}: {} vs {}", plain(x), plain(y));
    }
    for f in &figures {
        let side = |v: &Value| {
            format!(
                "{:.4} ± {:.4} (n={})",
                v["mean"].as_f64().unwrap_or(f64::NAN),
                v["std"].as_f64().unwrap_or(f64::NAN),
                v["count"]
            )
        };
        println!(
            "test {}: {} vs {}  difference {:+.4}",
            f["key"].as_str().unwrap_or(""),
            side(&f["a"]),
            side(&f["b"]),
            f["difference"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
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
