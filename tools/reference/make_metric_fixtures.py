#!/usr/bin/env python3
"""Generate the metrics parity fixture: scikit-learn's own figures on awkward inputs.

Run from the repository root (writes crates/metrics/tests/fixtures/sklearn.json):

    python3 -m venv .venv-ref && .venv-ref/bin/pip install scikit-learn numpy
    .venv-ref/bin/python tools/reference/make_metric_fixtures.py

Cases: scores rounded to one decimal (many ties), a tag without positives, a tag without
negatives, truth values near 0.5 (binarised at 0.5), regression tags. Expected per-tag
figures come from sklearn.metrics.roc_auc_score, average_precision_score and
mean_squared_error; macro figures average the tags that have both classes.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, mean_squared_error, roc_auc_score

OUT = os.path.join("crates", "metrics", "tests", "fixtures", "sklearn.json")


def main():
    rng = np.random.default_rng(2018)
    tracks = 300
    kinds, truth_cols, pred_cols = [], [], []
    for j in range(8):
        positives = rng.random(tracks) < [0.05, 0.2, 0.5, 0.3, 0.1, 0.4, 0.25, 0.15][j]
        scores = np.clip(0.35 * positives + rng.random(tracks) * 0.8, 0, 1)
        decimals = 1 if j % 2 == 0 else 2  # coarse scores: many ties
        kinds.append("classification")
        truth_cols.append(positives.astype(float))
        pred_cols.append(np.round(scores, decimals))
    # Soft truth around 0.5: binarised at >= 0.5.
    soft = rng.random(tracks)
    kinds.append("classification"); truth_cols.append(soft); pred_cols.append(np.round(soft * 0.5 + rng.random(tracks) * 0.5, 1))
    kinds.append("classification"); truth_cols.append(np.zeros(tracks)); pred_cols.append(rng.random(tracks))
    kinds.append("classification"); truth_cols.append(np.ones(tracks)); pred_cols.append(rng.random(tracks))
    for _ in range(3):
        t = rng.random(tracks)
        kinds.append("regression"); truth_cols.append(t); pred_cols.append(np.clip(t + rng.normal(0, 0.2, tracks), 0, 1))

    names = [f"tag{j:02d}" for j in range(len(kinds))]
    per_tag, aucs, aps, rmses, skipped = [], [], [], [], []
    for name, kind, t, p in zip(names, kinds, truth_cols, pred_cols):
        entry = {"name": name, "kind": kind}
        if kind == "classification":
            y = (t >= 0.5).astype(int)
            if 0 < y.sum() < len(y):
                entry["roc_auc"] = roc_auc_score(y, p)
                entry["pr_auc"] = average_precision_score(y, p)
                aucs.append(entry["roc_auc"]); aps.append(entry["pr_auc"])
            else:
                skipped.append(name)
        else:
            entry["rmse"] = float(np.sqrt(mean_squared_error(t, p)))
            rmses.append(entry["rmse"])
        per_tag.append(entry)
    fixture = {
        "sklearn": sklearn.__version__,
        "names": names,
        "kinds": kinds,
        "truth": np.stack(truth_cols, axis=1).tolist(),
        "predictions": np.stack(pred_cols, axis=1).tolist(),
        "per_tag": per_tag,
        "macro_roc_auc": float(np.mean(aucs)),
        "macro_pr_auc": float(np.mean(aps)),
        "macro_rmse": float(np.mean(rmses)),
        "skipped": skipped,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f)
        f.write("\n")


if __name__ == "__main__":
    main()
