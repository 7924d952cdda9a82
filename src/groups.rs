//! `tagscale runs list --group-by`: runs pooled over seeds (or over chosen config keys), each
//! group's test figures as mean ± std over its finished runs.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use runner::RunConfig;
use serde_json::{Value, json};
use tracking::{RunRecord, Status, Store};

use crate::runs::test_macros;

/// The macro test figures a group summarises, in table order.
const FIGURES: [&str; 3] = ["roc_auc", "pr_auc", "rmse"];

/// One group: what its runs share and the runs.
struct Group {
    /// `(key, value)` pairs that define the group, for display.
    label: Vec<(String, Value)>,
    runs: Vec<RunRecord>,
}

pub fn list_groups(store: &Store, sweep: Option<i64>, keys: &str, json: bool) -> Result<()> {
    let keys: Vec<&str> = keys
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    let groups = group(store.runs(sweep)?, &keys)?;
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

/// Group runs by `keys` of their resolved configs, or by the whole config without its seeds.
fn group(runs: Vec<RunRecord>, keys: &[&str]) -> Result<Vec<Group>> {
    let mut groups: Vec<(String, Group)> = Vec::new();
    for run in runs {
        let config = RunConfig::from_json(&run.config_json)?.without_seeds();
        let label: Vec<(String, Value)> = if keys.is_empty() {
            ["model", "train_size", "backend"]
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        lookup(&config, k).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect()
        } else {
            keys.iter()
                .map(|k| match lookup(&config, k) {
                    Some(v) => Ok((k.to_string(), v.clone())),
                    None => bail!(
                        "run {} has no config key `{k}` (keys: {})",
                        run.id,
                        top_level_keys(&config)
                    ),
                })
                .collect::<Result<_>>()?
        };
        // The identity: the chosen values, or the whole seedless config.
        let identity = if keys.is_empty() {
            config.to_string()
        } else {
            Value::Array(label.iter().map(|(_, v)| v.clone()).collect()).to_string()
        };
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
    let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut finished = 0;
    for run in g.runs.iter().filter(|r| r.status == Status::Finished) {
        finished += 1;
        let macros = test_macros(&store.run_metrics(run.id)?);
        for key in FIGURES {
            values.entry(key).or_default().extend(macros.get(key));
        }
    }
    let test: serde_json::Map<String, Value> = FIGURES
        .iter()
        .filter_map(|key| {
            let v = values.get(key)?;
            let (mean, std) = metrics::mean_std(v)?;
            Some((
                key.to_string(),
                json!({"mean": mean, "std": std, "count": v.len()}),
            ))
        })
        .collect();
    Ok(json!({
        "group": g.label.iter().cloned().collect::<serde_json::Map<_, _>>(),
        "runs": g.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        "finished": finished,
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
    let figures: Vec<String> = FIGURES
        .iter()
        .filter_map(|key| {
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
