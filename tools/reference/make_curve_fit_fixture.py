#!/usr/bin/env python3
"""Generate the learning-curve fit fixture: scipy's own weighted least-squares fit of the
saturating power law err(n) = a + b * n**(-c) (a >= 0, b > 0, c > 0) to a few learning
curves, for the Rust fit in crates/metrics/src/curve.rs to be checked against.

Run from the repository root (writes crates/metrics/tests/fixtures/curve_fit.json):

    python3 -m venv .venv-ref && .venv-ref/bin/pip install numpy scipy
    .venv-ref/bin/python tools/reference/make_curve_fit_fixture.py

Each curve is fitted with scipy.optimize.curve_fit (bounded trust-region reflective,
sigma as absolute standard deviations, tolerances at their floor) from a grid of starts,
and the start with the smallest weighted cost sum(((err - f(n)) / sigma)**2) is kept.
The fixture holds the points, scipy's parameters and that cost.
"""
import itertools
import json
import os

import numpy as np
import scipy
from scipy.optimize import curve_fit

OUT = os.path.join("crates", "metrics", "tests", "fixtures", "curve_fit.json")


def law(n, a, b, c):
    return a + b * np.power(n, -c)


def cost(n, err, sigma, params):
    return float(np.sum(((err - law(n, *params)) / sigma) ** 2))


def scipy_fit(n, err, sigma):
    best = None
    starts = itertools.product([0.0, 0.5 * err.min(), 0.9 * err.min()], [0.1, 1.0, 10.0], [0.1, 0.5, 1.0])
    for p0 in starts:
        try:
            params, _ = curve_fit(
                law, n, err, p0=p0, sigma=sigma, absolute_sigma=True,
                bounds=([0.0, 1e-12, 1e-6], [np.inf, np.inf, 20.0]), method="trf",
                max_nfev=20000, xtol=1e-15, ftol=1e-15, gtol=1e-15,
            )
        except (RuntimeError, ValueError):
            continue
        c = cost(n, err, sigma, params)
        if best is None or c < best[1]:
            best = (params, c)
    return best


def curve(name, sizes, truth, noise, seed, sigma_share):
    rng = np.random.default_rng(seed)
    n = np.asarray(sizes, dtype=float)
    clean = law(n, *truth)
    err = clean * (1.0 + noise * rng.standard_normal(len(n)))
    sigma = clean * sigma_share
    return name, n, err, sigma


def main():
    doubling = [100.0 * 2 ** k for k in range(6)]
    curves = [
        curve("six sizes, 1 % noise", doubling, (0.12, 1.5, 0.45), 0.01, 1, 0.01),
        curve("eight sizes, 2 % noise", [100.0 * 2 ** k for k in range(8)], (0.05, 2.0, 0.35), 0.02, 2, 0.02),
        curve("six sizes, no floor", doubling, (0.0, 0.8, 0.3), 0.01, 3, 0.01),
        curve("five sizes, steep", [50.0, 150.0, 450.0, 1350.0, 4050.0], (0.2, 40.0, 1.2), 0.01, 4, 0.01),
        # The committed example report's shape: four sizes, one degree of freedom.
        ("four sizes, report-like", np.array([100.0, 200.0, 400.0, 800.0]),
         np.array([0.253, 0.221, 0.184, 0.154]), np.array([0.021, 0.019, 0.017, 0.015])),
        # A flat curve (GBT on an easy corpus): the best b is near zero or c is.
        ("four sizes, nearly flat", np.array([100.0, 200.0, 400.0, 800.0]),
         np.array([0.210, 0.205, 0.207, 0.203]), np.array([0.01, 0.01, 0.01, 0.01])),
    ]
    out = {"scipy": scipy.__version__, "numpy": np.__version__, "curves": []}
    for name, n, err, sigma in curves:
        params, c = scipy_fit(n, err, sigma)
        out["curves"].append({
            "name": name,
            "n": n.tolist(), "err": err.tolist(), "sigma": sigma.tolist(),
            "a": float(params[0]), "b": float(params[1]), "c": float(params[2]),
            "cost": c,
        })
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
