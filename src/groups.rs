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

/// `runs compare A B --groups`: the groups of runs that differ from run A and from run B only
/// by seed — what their configs differ in, and each test figure's mean ± std and count per
/// group with the difference of the means.
pub fn compare_groups(store: &Store, a: i64, b: i64, json: bool) -> Result<()> {
    let groups = group(store.runs(None)?, &[])?;
    let find = |id: i64| {
        groups
            .iter()
            .find(|g| g.runs.iter().any(|r| r.id == id))
            .ok_or_else(|| anyhow::anyhow!("no run with id {id} in the store"))
    };
    let (ga, gb) = (find(a)?, find(b)?);
    let (sa, sb) = (summary(store, ga)?, summary(store, gb)?);
    let config = |g: &Group| -> Result<Value> {
        Ok(RunConfig::from_json(&g.runs[0].config_json)?.without_seeds())
    };
    let (ca, cb) = (config(ga)?, config(gb)?);
    let mut differences = Vec::new();
    config_differences("", &ca, &cb, &mut differences);
    let figures: Vec<Value> = FIGURES
        .iter()
        .filter_map(|key| {
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
