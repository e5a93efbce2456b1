#!/usr/bin/env python
"""Benchmark of the fused per-pixel trend kernel (MK + Sen + Hurst) against its peers.

    python bench/bench_trend.py [--quick] [--repeat N] [--out DIR]
    python bench/bench_trend.py --lengths [19,25,40,60] [--size N] [--repeat N]

--lengths: series of several lengths (one gap year each) instead of the 19-year run; for each
length, mlri (default target, 2 threads) and the numba ``parallel=True`` peer (2 threads) are
timed alternately in the same run, with the load average recorded for every measurement;
best and median px/s and the best-to-best ratio are printed.  Also timed there: the trend with
Sen's slope interval in the same kernel call (what ``mlri run`` computes), printed as its
best px/s and its cost over the trend alone.

Builds a seeded (19, 2048, 2048) float32 MLRI-like stack (values rounded to 1e-3, so there are
ties; ~2 % NaN) and prints pixels per second, in one run, for

* mlri.trend at 1 and 2 threads for every SIMD target this CPU supports;
* a numba ``parallel=True`` MK + Sen + Hurst kernel (bench/baselines.py), 1 and 2 threads;
* numpy vectorised MK + Sen (no Hurst);
* pymannkendall ``original_test`` in a per-pixel loop (MK + Sen, 2,000-pixel subset);

and each one's ratio to mlri (default target, 2 threads).  Peers that are not installed are
skipped.  The peers run on a pixel subset (printed) to keep the run short; px/s does not depend
on the stack size once it is well above the thread start-up cost.  Before timing, the peers'
outputs are cross-checked against mlri on the subset.

The machine may be shared: every number is the best of --repeat runs (all runs are kept in the
JSON, with the load average and the process CPU time), and ratios are taken within this run.
Results: bench/results/trend-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import baselines  # noqa: E402

import mlri  # noqa: E402
from mlri import _core  # noqa: E402
from mlri._trend_ci import trend_with_interval  # noqa: E402

YEARS19 = np.array([2000 + k + (k >= 12) for k in range(19)], dtype=np.float64)  # no 2012


def make_stack(T: int, H: int, W: int, seed: int = 20240611, nan_frac: float = 0.02) -> np.ndarray:
    """MLRI-like stack: per-pixel level and trend, noise, rounded to 1e-3 (ties), NaN gaps."""
    rng = np.random.default_rng(seed)
    P = H * W
    out = np.empty((T, P), dtype=np.float32)
    level = rng.uniform(1.0, 3.0, P)
    trend = rng.normal(0.0, 0.02, P)
    for t in range(T):  # row by row: bounded temporaries
        v = level + trend * t + rng.normal(0.0, 0.05, P)
        v = np.round(v, 3)
        v[rng.random(P) < nan_frac] = np.nan
        out[t] = v
    return out.reshape(T, H, W)


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "numpy": np.__version__,
            "mlri": getattr(mlri, "__version__", "?")}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in lscpu.splitlines():
            k, _, v = line.partition(":")
            k = k.strip()
            if k in ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket",
                     "Socket(s)", "L2 cache", "L3 cache", "Hypervisor vendor"):
                info[k] = v.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    info["simd_target_default"] = _core.simd_target()
    info["simd_targets"] = [list(t) for t in _core.simd_targets()]
    info["max_threads"] = _core.max_threads()
    for mod in ("numba", "pymannkendall", "scipy"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            info[mod] = None
    return info


def timed(fn, repeat: int) -> dict:
    """Best/median wall time of `repeat` calls, plus process CPU seconds of each call."""
    walls, cpus = [], []
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall_s": walls, "cpu_s": cpus, "best_s": min(walls),
            "median_s": float(np.median(walls))}


def write_result(out: Path, name: str, results: dict, suffix: str = "") -> Path:
    """Write ``<out>/<name>-<timestamp><suffix>.json`` (atomically) and say where."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float) + "\n")
    tmp.replace(path)
    print(f"wrote {path}")
    return path


def years_of(T: int) -> np.ndarray:
    """T annual steps from 1984 with one missing year in the middle (real-year slopes)."""
    return np.array([1984 + k + (k >= T // 2) for k in range(T)], dtype=np.float64)


def lengths_run(args, lengths: list[int]) -> int:
    """px/s of mlri and numba parallel=True (2 threads each) for several series lengths."""
    size = args.size or (256 if args.quick else 512)
    repeat = args.repeat or (3 if args.quick else 5)
    n_numba = args.numba_pixels or 16384
    info = machine_info()
    print(f"CPU: {info.get('Model name', '?')}, {info['cpu_count']} CPUs; target "
          f"{info['simd_target_default']}; stacks ({'/'.join(map(str, lengths))}, {size}, {size}) "
          f"float32, ties, ~2% NaN; numba on {n_numba:,} px", flush=True)
    results: dict = {"config": {"lengths": lengths, "size": size, "repeat": repeat,
                                "numba_pixels": n_numba}, "machine": info, "lengths": {}}
    if baselines.HAVE_NUMBA:
        baselines.numba_trend(np.ascontiguousarray(make_stack(19, 8, 8).reshape(19, -1)), YEARS19,
                              n_threads=2)  # JIT compile
    print(f"{'T':>4} {'mlri best':>10} {'median':>8} {'numba best':>11} {'median':>8} "
          f"{'ratio':>6} {'+interval':>10} {'cost':>6}  load (1-min avg per measurement)")
    for T in lengths:
        flat = make_stack(T, size, size).reshape(T, -1)
        yrs = years_of(T)
        sub = np.ascontiguousarray(flat[:, :n_numba])
        mlri.trend(flat[:, :4096], yrs, n_threads=2)  # warm-up
        m_rates, n_rates, ci_rates, loads = [], [], [], []
        for _ in range(repeat):  # alternate, so both see the same load
            tm = timed(lambda flat=flat, yrs=yrs: mlri.trend(flat, yrs, n_threads=2), 1)
            m_rates.append(flat.shape[1] / tm["best_s"])
            loads.append(os.getloadavg()[0])
            tc = timed(lambda flat=flat, yrs=yrs: trend_with_interval(flat, yrs, n_threads=2), 1)
            ci_rates.append(flat.shape[1] / tc["best_s"])
            if baselines.HAVE_NUMBA:
                tn = timed(lambda sub=sub, yrs=yrs: baselines.numba_trend(sub, yrs, n_threads=2), 1)
                n_rates.append(sub.shape[1] / tn["best_s"])
                loads.append(os.getloadavg()[0])
        if baselines.HAVE_NUMBA:  # the peer computes the same statistics
            r = baselines.numba_trend(sub[:, :2000], yrs, n_threads=2)
            m = mlri.trend(np.ascontiguousarray(flat[:, :2000]), yrs, n_threads=2)
            for f in ("s", "slope", "hurst"):
                if not np.allclose(r[f], getattr(m, f), rtol=1e-9, atol=1e-12, equal_nan=True):
                    print(f"  warning: numba and mlri disagree on {f} at T={T}")
        mb, mm = max(m_rates), float(np.median(m_rates))
        nb = max(n_rates) if n_rates else float("nan")
        nm = float(np.median(n_rates)) if n_rates else float("nan")
        cb = max(ci_rates)
        print(f"{T:4d} {mb / 1e6:8.3f} M {mm / 1e6:6.3f} M {nb / 1e6:9.3f} M {nm / 1e6:6.3f} M "
              f"{mb / nb:5.1f}x {cb / 1e6:8.3f} M {mb / cb - 1:+5.0%}  "
              f"{' '.join(f'{x:.1f}' for x in loads)}", flush=True)
        results["lengths"][str(T)] = {"mlri_px_per_s": m_rates, "numba_px_per_s": n_rates,
                                      "loadavg": loads, "mlri_best": mb, "mlri_median": mm,
                                      "numba_best": nb, "numba_median": nm, "ratio_best": mb / nb,
                                      "interval_px_per_s": ci_rates, "interval_best": cb,
                                      "interval_cost_best": mb / cb - 1}
    write_result(args.out, "trend-lengths", results)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="(19, 512, 512) stack, fewer repeats")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed runs per peer case (best is used); default 3, --quick 2")
    ap.add_argument("--mlri-repeat", type=int, default=None,
                    help="timed runs per mlri case (they are short); default 5, --quick 3")
    ap.add_argument("--size", type=int, default=None, help="stack is (19, size, size)")
    ap.add_argument("--numba-pixels", type=int, default=None)
    ap.add_argument("--numpy-pixels", type=int, default=None)
    ap.add_argument("--pmk-pixels", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--lengths", nargs="?", const="19,25,40,60", default=None,
                    help="compare series lengths (default 19,25,40,60) against numba instead")
    args = ap.parse_args()
    if args.lengths:
        return lengths_run(args, [int(x) for x in args.lengths.split(",")])

    size = args.size or (512 if args.quick else 2048)
    repeat = args.repeat or (2 if args.quick else 3)
    mrepeat = args.mlri_repeat or (3 if args.quick else 5)
    n_numba = args.numba_pixels or (131072 if args.quick else 1048576)
    n_numpy = args.numpy_pixels or (65536 if args.quick else 262144)
    T = 19

    print(f"building ({T}, {size}, {size}) float32 stack (ties, ~2% NaN) ...", flush=True)
    stack = make_stack(T, size, size)
    flat = stack.reshape(T, -1)
    P = flat.shape[1]
    print(f"  {P:,} pixels, {np.isnan(flat).mean() * 100:.2f}% NaN, "
          f"{stack.nbytes / 2**20:.0f} MiB", flush=True)

    info = machine_info()
    print(f"CPU: {info.get('Model name', '?')}, {info['cpu_count']} CPUs; SIMD targets "
          f"{info['simd_targets']} (default {info['simd_target_default']})", flush=True)
    load0 = os.getloadavg()
    results: dict = {"config": {"T": T, "size": size, "pixels": P, "repeat": repeat,
                                "mlri_repeat": mrepeat,
                                "quick": args.quick, "years": YEARS19.tolist()},
                     "machine": info, "loadavg_start": load0, "cases": {}}
    cases = results["cases"]

    def report(name: str, npix: int, tm: dict, note: str = "") -> None:
        pxs = npix / tm["best_s"]
        spread = (max(tm["wall_s"]) / min(tm["wall_s"]) - 1) * 100 if len(tm["wall_s"]) > 1 else 0
        cases[name] = dict(tm, pixels=npix, px_per_s=pxs, note=note)
        print(f"  {name:34s} {pxs / 1e6:9.3f} M px/s   (best {tm['best_s']:.3f} s of "
              f"{len(tm['wall_s'])}, spread {spread:4.0f}%){'  ' + note if note else ''}",
              flush=True)

    # ---- mlri, every supported target, 1 and 2 threads ----
    default_target = _core.simd_target()
    targets = [t for t, ok in _core.simd_targets() if ok]
    print("mlri.trend (MK + Sen + Hurst, all outputs):", flush=True)
    try:
        for tgt in targets:
            _core.set_simd_target(tgt)
            mlri.trend(stack[:, :64, :64], YEARS19, n_threads=1)  # warm-up
            for nt in (1, 2):
                tm = timed(lambda nt=nt: mlri.trend(stack, YEARS19, n_threads=nt), mrepeat)
                report(f"mlri[{tgt}] {nt} thread{'s' if nt > 1 else ''}", P, tm)
    finally:
        _core.set_simd_target(default_target)
    ref_name = f"mlri[{default_target}] 2 threads"
    ref = cases[ref_name]["px_per_s"]

    # reference outputs for the cross-checks (default target)
    def agree(res: dict, sl: slice, fields) -> dict:
        r = mlri.trend(np.ascontiguousarray(flat[:, sl]), YEARS19, n_threads=2)
        out = {}
        for f in fields:
            a, b = np.asarray(res[f]), np.asarray(getattr(r, f))
            close = np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
            out[f] = {"mismatch": int((~close).sum()),
                      "bit_equal": bool(np.array_equal(a, b, equal_nan=True))}
        return out

    # ---- numba ----
    print("peers:", flush=True)
    if baselines.HAVE_NUMBA:
        sub = np.ascontiguousarray(flat[:, :n_numba])
        t0 = time.perf_counter()
        res = baselines.numba_trend(sub[:, :1000], YEARS19, n_threads=2)  # JIT compile
        print(f"  (numba JIT compile {time.perf_counter() - t0:.1f} s)", flush=True)
        res = baselines.numba_trend(sub[:, :20000], YEARS19, n_threads=2)
        chk = agree(res, slice(0, 20000), ("s", "var_s", "z", "p", "slope", "intercept", "hurst"))
        for nt in (1, 2):
            tm = timed(lambda nt=nt: baselines.numba_trend(sub, YEARS19, n_threads=nt), repeat)
            report(f"numba parallel {nt} thread{'s' if nt > 1 else ''}", sub.shape[1], tm,
                   f"subset {sub.shape[1]:,} px")
            cases[f"numba parallel {nt} thread{'s' if nt > 1 else ''}"]["agreement"] = chk
        bad = {f: v["mismatch"] for f, v in chk.items() if v["mismatch"]}
        print(f"  numba vs mlri on 20,000 px: {'agree (rtol 1e-9)' if not bad else bad}")
    else:
        print("  numba not installed: skipped")

    # ---- numpy ----
    sub = np.ascontiguousarray(flat[:, :n_numpy])
    res = baselines.numpy_mk_sen(sub[:, :20000], YEARS19)
    chk = agree(res, slice(0, 20000), ("s", "var_s", "z", "p", "slope", "intercept"))
    tm = timed(lambda: baselines.numpy_mk_sen(sub, YEARS19), repeat)
    report("numpy vectorised MK+Sen", sub.shape[1], tm, f"subset {sub.shape[1]:,} px, no Hurst")
    cases["numpy vectorised MK+Sen"]["agreement"] = chk
    bad = {f: v["mismatch"] for f, v in chk.items() if v["mismatch"]}
    print(f"  numpy vs mlri on 20,000 px: {'agree (rtol 1e-9)' if not bad else bad}")

    # ---- pymannkendall ----
    if baselines.HAVE_PYMANNKENDALL:
        sub = np.ascontiguousarray(flat[:, :args.pmk_pixels])
        tm = timed(lambda: baselines.pymannkendall_loop(sub), 1 if not args.quick else 1)
        report("pymannkendall original_test loop", sub.shape[1], tm,
               f"subset {sub.shape[1]:,} px, MK+Sen only")
    else:
        print("  pymannkendall not installed: skipped")

    # ---- ratios ----
    print(f"ratios (mlri = {ref_name}, {ref / 1e6:.3f} M px/s):")
    results["reference_case"] = ref_name
    results["ratios"] = {}
    for name, c in cases.items():
        if name == ref_name:
            continue
        ratio = ref / c["px_per_s"]
        results["ratios"][name] = ratio
        print(f"  mlri / {name:34s} {ratio:10.1f}x")
    results["loadavg_end"] = os.getloadavg()
    print(f"load average: start {load0[0]:.1f}, end {results['loadavg_end'][0]:.1f} "
          f"(on {info['cpu_count']} CPUs; > CPUs means other work competed for the cores)")

    write_result(args.out, "trend", results, suffix="-quick" if args.quick else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
