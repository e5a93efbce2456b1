#!/usr/bin/env python
"""Benchmark of Sen's slope interval: inside the trend kernel vs a second kernel vs scipy.

    python bench/bench_interval.py [--size N] [--lengths 12,19,25] [--repeat R] [--threads 2]

For each series length, on a seeded MLRI-like float32 stack (bench_trend.make_stack: ties,
~2 % NaN, one gap year), times in the same run, alternating so that all see the same load:

* ``trend``: mlri.trend alone (MK + Sen + Hurst), the baseline;
* ``fused``: the trend and the interval in one kernel call (what ``mlri run`` does), i.e.
  ``mlri._trend_ci.trend_with_interval``;
* ``separate``: mlri.trend, then mlri.sen_interval (a second pass over the stack);
* ``scipy``: ``scipy.stats.theilslopes`` per pixel (interval only, one thread) on a subset.

Prints px/s, the interval's extra cost over the trend in microseconds of CPU per pixel, and the
ratios.  Before timing, the fused interval is checked bit for bit against the separate one.
Results: bench/results/interval-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_trend import machine_info, make_stack, timed, write_result, years_of

import mlri
from mlri._trend_ci import trend_with_interval


def scipy_interval(flat: np.ndarray, years: np.ndarray) -> np.ndarray:
    from scipy.stats import theilslopes

    out = np.empty((2, flat.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for q in range(flat.shape[1]):
            y = flat[:, q].astype(np.float64)
            ok = np.isfinite(y)
            r = theilslopes(y[ok], years[ok], alpha=0.05)
            out[0, q], out[1, q] = r.low_slope, r.high_slope
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--size", type=int, default=1024, help="stack is (T, size, size)")
    ap.add_argument("--lengths", default="12,19,25")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scipy-pixels", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    a = ap.parse_args()
    lengths = [int(x) for x in a.lengths.split(",")]
    nt = a.threads
    info = machine_info()
    print(f"CPU: {info.get('Model name', '?')}, {info['cpu_count']} CPUs; target "
          f"{info['simd_target_default']}; {nt} threads; stacks (T, {a.size}, {a.size}) "
          f"float32; scipy on {a.scipy_pixels:,} px, 1 thread", flush=True)
    print(f"{'T':>3} {'trend':>9} {'fused':>9} {'separate':>9} {'scipy':>9}  "
          f"{'interval cost us/px CPU':>24}  {'sep/fused':>9} {'fused/scipy':>11}  load")
    res: dict = {"config": vars(a) | {"out": str(a.out)}, "machine": info, "lengths": {}}
    for T in lengths:
        flat = make_stack(T, a.size, a.size).reshape(T, -1)
        yrs = years_of(T)
        P = flat.shape[1]
        _, f_ci = trend_with_interval(flat, yrs, n_threads=nt)
        s_ci = mlri.sen_interval(flat, yrs, n_threads=nt)
        for f in ("low_slope", "high_slope"):
            if not np.array_equal(getattr(f_ci, f), getattr(s_ci, f), equal_nan=True):
                print(f"  error: fused and separate {f} differ at T={T}")
                return 1
        runs: dict[str, list[dict]] = {"trend": [], "fused": [], "separate": []}
        loads = []
        for _ in range(a.repeat):
            runs["trend"].append(timed(lambda f=flat, t=yrs: mlri.trend(f, t, n_threads=nt), 1))
            runs["fused"].append(timed(
                lambda f=flat, t=yrs: trend_with_interval(f, t, n_threads=nt), 1))
            runs["separate"].append(timed(
                lambda f=flat, t=yrs: (mlri.trend(f, t, n_threads=nt),
                                       mlri.sen_interval(f, t, n_threads=nt)), 1))
            loads.append(os.getloadavg()[0])
        sub = np.ascontiguousarray(flat[:, :a.scipy_pixels])
        ts = timed(lambda s=sub, t=yrs: scipy_interval(s, t), 1)
        k = min(200, sub.shape[1])
        ref = scipy_interval(sub[:, :k], yrs)
        if not np.allclose(ref, np.stack([f_ci.low_slope[:k], f_ci.high_slope[:k]]),
                           rtol=1e-6, equal_nan=True):  # scipy differences float32 values
            print(f"  warning: scipy and mlri intervals disagree at T={T}")
        rate = {k: P / min(r["wall_s"][0] for r in v) for k, v in runs.items()}
        rate["scipy"] = sub.shape[1] / ts["best_s"]
        cpu = {k: min(r["cpu_s"][0] for r in v) / P * 1e6 for k, v in runs.items()}
        extra = cpu["fused"] - cpu["trend"]
        extra_sep = cpu["separate"] - cpu["trend"]
        print(f"{T:3d} {rate['trend'] / 1e6:7.2f} M {rate['fused'] / 1e6:7.2f} M "
              f"{rate['separate'] / 1e6:7.2f} M {rate['scipy'] / 1e3:7.1f} k  "
              f"fused +{extra:.3f}, separate +{extra_sep:.3f}  "
              f"{rate['fused'] / rate['separate']:8.2f}x {rate['fused'] / rate['scipy']:10.0f}x"
              f"  {' '.join(f'{x:.1f}' for x in loads)}", flush=True)
        res["lengths"][str(T)] = {"px_per_s": rate, "cpu_us_per_px": cpu,
                                  "interval_cost_us_per_px": {"fused": extra,
                                                              "separate": extra_sep},
                                  "runs": runs, "loadavg": loads}
    write_result(a.out, "interval", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
