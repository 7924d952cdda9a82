#!/usr/bin/env python3
"""Generate the paired-bootstrap fixture: an independent numpy + scikit-learn computation of
the interval of a difference between two systems on the same test tracks.

Run from the repository root (writes crates/metrics/tests/fixtures/paired_bootstrap.json):

    python3 -m venv .venv-ref && .venv-ref/bin/pip install scikit-learn numpy
    .venv-ref/bin/python tools/reference/make_paired_bootstrap_fixture.py

System a has 3 seeds, system b 2, on 120 test tracks of 6 classification and 2 regression
tags; the two systems share part of their errors (as two models of one study do). Each of
200 replicates draws a's seeds, b's seeds (with replacement) and the tracks (with
replacement) with numpy's generator; the replicates are written to the fixture so the Rust
side evaluates exactly these draws. A replicate's delta per macro figure is the mean over
a's drawn seeds of the figure on the drawn tracks minus the same for b (a classification tag
without both classes in the draw is left out of the macro average, as in sklearn parity).
The interval is numpy's percentile (linear) at 2.5 and 97.5.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, roc_auc_score

OUT = os.path.join("crates", "metrics", "tests", "fixtures", "paired_bootstrap.json")
TRACKS, SEEDS_A, SEEDS_B, REPLICATES = 120, 3, 2, 200
KINDS = ["classification"] * 6 + ["regression"] * 2


def macros(truth, predictions, rows):
    aucs, aps, errors = [], [], []
    for j, kind in enumerate(KINDS):
        t, p = truth[rows, j], predictions[rows, j]
        if kind == "classification":
            y = (t >= 0.5).astype(int)
            if 0 < y.sum() < len(y):
                aucs.append(roc_auc_score(y, p))
                aps.append(average_precision_score(y, p))
        else:
            errors.append(float(np.sqrt(np.mean((t - p) ** 2))))
    mean = lambda v: float(np.mean(v)) if v else None
    return [mean(aucs), mean(aps), mean(errors)]


def seed_mean(system, truth, seeds, rows):
    figures = [macros(truth, system[s], rows) for s in seeds]
    return [
        None if any(f[m] is None for f in figures) else float(np.mean([f[m] for f in figures]))
        for m in range(3)
    ]


def main():
    rng = np.random.default_rng(2017)
    truth = np.zeros((TRACKS, len(KINDS)))
    for j, kind in enumerate(KINDS):
        truth[:, j] = (rng.random(TRACKS) < 0.3).astype(float) if kind == "classification" else rng.random(TRACKS)
    shared = rng.normal(0, 0.25, truth.shape)

    def system(strength, seeds):
        runs = []
        for _ in range(seeds):
            p = strength * truth + (1 - strength) * 0.5 + shared + rng.normal(0, 0.15, truth.shape)
            runs.append(np.round(np.clip(p, 0, 1), 3))
        return runs

    a, b = system(0.45, SEEDS_A), system(0.35, SEEDS_B)
    everything = np.arange(TRACKS)
    point_a = seed_mean(a, truth, range(SEEDS_A), everything)
    point_b = seed_mean(b, truth, range(SEEDS_B), everything)
    point = [x - y for x, y in zip(point_a, point_b)]

    replicates, deltas = [], [[], [], []]
    for _ in range(REPLICATES):
        r = {
            "seeds_a": rng.integers(0, SEEDS_A, SEEDS_A).tolist(),
            "seeds_b": rng.integers(0, SEEDS_B, SEEDS_B).tolist(),
            "tracks": rng.integers(0, TRACKS, TRACKS).tolist(),
        }
        replicates.append(r)
        rows = np.array(r["tracks"])
        fa = seed_mean(a, truth, r["seeds_a"], rows)
        fb = seed_mean(b, truth, r["seeds_b"], rows)
        for m in range(3):
            if fa[m] is not None and fb[m] is not None:
                deltas[m].append(fa[m] - fb[m])

    fixture = {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "kinds": KINDS,
        "truth": truth.tolist(),
        "a": [p.tolist() for p in a],
        "b": [p.tolist() for p in b],
        "replicates": replicates,
        "delta": point,
        "replicate_deltas": deltas,
        "low": [float(np.percentile(d, 2.5)) for d in deltas],
        "high": [float(np.percentile(d, 97.5)) for d in deltas],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f)
        f.write("\n")


if __name__ == "__main__":
    main()
