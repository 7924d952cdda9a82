//! Runs side by side: everything comparable about a run flattened to `key -> value`, and the
//! keys on which runs differ (`tagscale runs compare`, the dashboard's compare page).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tracking::{FinalMetric, RunRecord};

/// Config (`config.…`), code (`code.…`, without the diff), host, threads, status, hashes and
/// every final figure (`metrics.SPLIT.KEY`, per tag `metrics.SPLIT.KEY[TAG]`).
pub fn flatten_run(run: &RunRecord, metrics: &[FinalMetric]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let config: Value = serde_json::from_str(&run.config_json).unwrap_or(Value::Null);
    flatten("config", &config, &mut out);
    if let Ok(code) = serde_json::to_value(&run.code) {
        flatten("code", &code, &mut out);
    }
    out.remove("code.git_diff");
    out.insert("host".into(), json!(run.host.name));
    out.insert("host_cpu".into(), json!(run.host.cpu));
    out.insert("host_simd".into(), json!(run.host.simd));
    out.insert("host_libraries".into(), json!(run.host.libraries));
    out.insert("threads".into(), json!(run.threads));
    out.insert("status".into(), json!(run.status));
    out.insert("dataset_hash".into(), json!(run.dataset_hash));
    out.insert("subset_hash".into(), json!(run.subset_hash));
    for m in metrics {
        let key = match &m.tag {
            Some(tag) => format!("metrics.{}.{}[{tag}]", m.split, m.key),
            None => format!("metrics.{}.{}", m.split, m.key),
        };
        out.insert(key, json!(m.value));
    }
    out
}

/// A stored run config without its seeds (the run's and GBT's, which a cell copies from it):
/// runs that differ only by seed have the same value, which is how seeds are pooled.
pub fn without_seeds(config: &Value) -> Value {
    let mut value = config.clone();
    if let Some(config) = value.as_object_mut() {
        config.remove("seed");
        if let Some(gbt) = config.get_mut("gbt").and_then(|g| g.as_object_mut()) {
            gbt.remove("seed");
        }
    }
    value
}

/// The keys whose values are not the same in all of `runs` (a key missing counts as null).
pub fn differing_keys(runs: &[BTreeMap<String, Value>]) -> Vec<String> {
    let keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.keys()).collect();
    keys.into_iter()
        .filter(|k| runs.iter().any(|r| r.get(*k) != runs[0].get(*k)))
        .cloned()
        .collect()
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_that_differ_are_listed() {
        let a: BTreeMap<String, Value> = [("x".into(), json!(1)), ("y".into(), json!("s"))].into();
        let b: BTreeMap<String, Value> = [("x".into(), json!(1)), ("z".into(), json!(2))].into();
        assert_eq!(differing_keys(&[a.clone(), b]), vec!["y", "z"]);
        assert!(differing_keys(&[a.clone(), a]).is_empty());
    }
}
