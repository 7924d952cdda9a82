#!/usr/bin/env python3
"""Reference: per-tag LightGBM on the same descriptors as tagscale's GBT baseline.

Usage: gbt_lightgbm.py WORK_DIR [MAX_BIN]   (reads the .npy dumps and kinds.json written by
`tagscale-bench gbt`; prints one JSON line; MAX_BIN defaults to LightGBM's 255)

Same protocol as crates/baseline-gbt: one model per tag, LogLoss on truth binarised at 0.5 for
classification tags, L2 for regression tags, 300 rounds at learning rate 0.1, depth 5,
255 bins (LightGBM's default) unless MAX_BIN is given, early stopping after 20 rounds without improvement on the validation split.
LightGBM uses its default threading (all cores inside each tree).
"""
import json
import os
import sys
import time
import warnings

import lightgbm as lgb
import numpy as np
from sklearn.metrics import average_precision_score, mean_squared_error, roc_auc_score


def main():
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*eval_set.*")
    work = sys.argv[1]
    max_bin = int(sys.argv[2]) if len(sys.argv) > 2 else 255
    load = lambda name: np.load(os.path.join(work, f"{name}.npy")).astype(np.float64)
    tx, ty, vx, vy, ex, ey = (load(n) for n in ("train_x", "train_y", "valid_x", "valid_y", "test_x", "test_y"))
    kinds = json.load(open(os.path.join(work, "kinds.json")))
    params = dict(n_estimators=300, learning_rate=0.1, max_depth=5, num_leaves=31, max_bin=max_bin, verbose=-1)
    aucs, aps, rmses = [], [], []
    start = time.perf_counter()
    predictions = []
    for j, kind in enumerate(kinds):
        stop = [lgb.early_stopping(20, verbose=False)]
        if kind == "classification":
            y, yv = (ty[:, j] >= 0.5).astype(int), (vy[:, j] >= 0.5).astype(int)
            if y.min() == y.max():
                predictions.append(np.full(len(ex), float(y[0])))
                continue
            m = lgb.LGBMClassifier(**params).fit(tx, y, eval_set=[(vx, yv)], callbacks=stop)
            predictions.append(m.predict_proba(ex)[:, 1])
        else:
            m = lgb.LGBMRegressor(**params).fit(tx, ty[:, j], eval_set=[(vx, vy[:, j])], callbacks=stop)
            predictions.append(np.clip(m.predict(ex), 0, 1))
    fit_seconds = time.perf_counter() - start
    for j, kind in enumerate(kinds):
        p = predictions[j]
        if kind == "classification":
            y = (ey[:, j] >= 0.5).astype(int)
            if 0 < y.sum() < len(y):
                aucs.append(roc_auc_score(y, p))
                aps.append(average_precision_score(y, p))
        else:
            rmses.append(float(np.sqrt(mean_squared_error(ey[:, j], p))))
    print(json.dumps({
        "bench": "gbt",
        "library": f"LightGBM {lgb.__version__}",
        "max_bin": max_bin,
        "fit_seconds": fit_seconds,
        "macro_roc_auc": float(np.mean(aucs)),
        "macro_pr_auc": float(np.mean(aps)),
        "macro_rmse": float(np.mean(rmses)),
    }))


if __name__ == "__main__":
    main()
