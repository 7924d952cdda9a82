#!/usr/bin/env python3
"""Reference for the learning-curve fit bench: scipy.optimize.curve_fit (bounded trust-region
reflective, absolute sigma) of err(n) = a + b * n**(-c) on each curve of the fixture, from one
start (a = half the smallest error, b = 1, c = 0.5) and from the fixture's 27-start grid.

Usage: curve_fit_scipy.py FIXTURE REPEATS   (prints one JSON line)
"""
import itertools
import json
import sys
import time

import numpy as np
import scipy
from scipy.optimize import curve_fit


def law(n, a, b, c):
    return a + b * np.power(n, -c)


def fit(n, err, sigma, starts):
    best = None
    for p0 in starts:
        try:
            params, _ = curve_fit(law, n, err, p0=p0, sigma=sigma, absolute_sigma=True,
                                  bounds=([0.0, 1e-12, 1e-6], [np.inf, np.inf, 20.0]),
                                  method="trf", max_nfev=20000)
        except (RuntimeError, ValueError):
            continue
        cost = float(np.sum(((err - law(n, *params)) / sigma) ** 2))
        if best is None or cost < best:
            best = cost
    return best


def median_ms_per_fit(curves, repeats, starts_of):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for n, err, sigma in curves:
            fit(n, err, sigma, starts_of(err))
        times.append((time.perf_counter() - start) * 1e3 / len(curves))
    return sorted(times)[len(times) // 2]


def main():
    fixture, repeats = sys.argv[1], int(sys.argv[2])
    curves = [(np.array(c["n"]), np.array(c["err"]), np.array(c["sigma"]))
              for c in json.load(open(fixture))["curves"]]
    one = median_ms_per_fit(curves, repeats, lambda err: [(0.5 * err.min(), 1.0, 0.5)])
    grid = median_ms_per_fit(curves, max(1, repeats // 10), lambda err: list(itertools.product(
        [0.0, 0.5 * err.min(), 0.9 * err.min()], [0.1, 1.0, 10.0], [0.1, 0.5, 1.0])))
    print(json.dumps({"library": f"scipy {scipy.__version__} curve_fit",
                      "median_ms_per_fit_one_start": one, "median_ms_per_fit_grid": grid}))


if __name__ == "__main__":
    main()
