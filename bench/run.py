"""One benchmark entry point: ``python bench/run.py [--quick]``.

Times, on the same synthetic ``(19, n)`` stack, every way to get per-pixel MK + Sen (+ Hurst):

* mlri fused kernel (``mlri.trend``) with 1 and 2 OpenMP threads;
* the numba ``parallel=True`` baseline (``bench/baselines.py``, the one peers module);
* NumPy-vectorised MK + Sen;
* a pymannkendall loop and xarrayMannKendall (on a subset; skipped if not installed);
* mlri through Dask: the threaded scheduler (2 threads) and a 2-worker LocalCluster;
* the end-to-end scene run of the pipeline (``bench/bench_pipeline.py``) when present.

Prints a table of pixels/s and ratios to mlri with 1 thread, and writes everything plus a
machine description to ``bench/results/run-<UTC time>.json``, so that runs on different days
can be compared as ratios (absolute numbers on a shared 2-core machine move with its load).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import baselines

import mlri

YEARS = mlri.default_years(19)


# ------------------------------------------------------------------------------------ data

def synthetic(n_pixels: int, seed: int = 2024, dtype: str = "float32") -> np.ndarray:
    """MLRI-like series: random trends, red noise, 3 % gaps; ``(19, n_pixels)``."""
    rng = np.random.default_rng(seed)
    t = (YEARS - YEARS[0])[:, None]
    slope = rng.normal(0.0, 0.02, (1, n_pixels))
    noise = rng.standard_normal((19, n_pixels)).cumsum(axis=0) * 0.02
    x = 1.0 + slope * t + noise + 0.05 * rng.standard_normal((19, n_pixels))
    x[rng.random(x.shape) < 0.03] = np.nan
    return x.astype(dtype)


# ---------------------------------------------------------------------------------- machine

def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")},
        "mlri_build": mlri._info.build_info(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_kb"] = int(line.split()[1])
    with contextlib.suppress(Exception):
        info["git_commit"] = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True, check=True).stdout.strip()
    from importlib import metadata

    vers = {}
    for name in ("numpy", "numba", "dask", "distributed", "xarray", "pymannkendall",
                 "xarrayMannKendall", "scipy"):
        try:
            vers[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            vers[name] = None
    info["versions"] = vers
    return info


# ---------------------------------------------------------------------------------- timing

def timeit(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def row(name: str, n_pixels: int, times: list[float], note: str = "", **extra: Any) -> dict:
    best = min(times)
    med = float(np.median(times))
    return {"name": name, "pixels": n_pixels, "times_s": [round(t, 4) for t in times],
            "best_s": best, "median_s": med, "pixels_per_s": n_pixels / best,
            "spread": (max(times) - best) / best if best > 0 else 0.0, "note": note, **extra}


def skipped(name: str, why: str) -> dict:
    return {"name": name, "skipped": why}


def agreement(ref: mlri.TrendResult, got: dict, n: int) -> dict[str, Any]:
    """How far a competitor is from mlri on the first n pixels (S exact, slope/H max diff)."""
    out: dict[str, Any] = {}
    if "s" in got:
        a, b = np.asarray(ref.s)[:n], np.asarray(got["s"])[:n]
        ok = np.isfinite(a) & np.isfinite(b)
        out["s_equal_frac"] = float(np.mean(a[ok] == b[ok])) if ok.any() else None
    for k in ("slope", "hurst"):
        if k in got:
            a, b = np.asarray(getattr(ref, k))[:n], np.asarray(got[k])[:n]
            ok = np.isfinite(a) & np.isfinite(b)
            out[f"{k}_max_abs_diff"] = float(np.max(np.abs(a[ok] - b[ok]))) if ok.any() else None
    return out


# -------------------------------------------------------------------------------- contenders

def bench_all(n: int, n_subset: int, repeat: int, workers: int) -> list[dict]:
    series = synthetic(n)
    rows: list[dict] = []
    print(f"synthetic stack: 19 x {n} pixels ({series.nbytes / 2**20:.0f} MiB float32)",
          flush=True)

    # mlri fused kernel
    ref = None
    for nt in (1, 2):
        times, ref = timeit(lambda nt=nt: mlri.trend(series, YEARS, n_threads=nt), repeat)
        rows.append(row(f"mlri.trend (OpenMP {nt} thread{'s' if nt > 1 else ''})", n, times,
                        "MK+Sen+Hurst fused C++ kernel"))
        print(f"  {rows[-1]['name']}: {rows[-1]['pixels_per_s']:.3g} px/s", flush=True)
    assert ref is not None

    # numba parallel baseline
    try:
        fn, src = baselines.numba_trend, "bench/baselines.py"
        fn(series[:, :1000], YEARS)  # JIT compile, untimed
        for nt in (1, 2):
            times, got = timeit(lambda nt=nt: fn(series, YEARS, n_threads=nt), repeat)
            rows.append(row(f"numba parallel ({nt} thread{'s' if nt > 1 else ''})", n, times,
                            f"MK+Sen+Hurst, {src}", agreement=agreement(ref, got, n)))
            print(f"  {rows[-1]['name']}: {rows[-1]['pixels_per_s']:.3g} px/s", flush=True)
    except (ImportError, RuntimeError) as err:
        rows.append(skipped("numba parallel", f"numba not importable: {err}"))

    # numpy vectorised
    times, got = timeit(lambda: baselines.numpy_mk_sen(series, YEARS), max(1, repeat - 1))
    rows.append(row("numpy vectorised MK+Sen", n, times, "no Hurst",
                    agreement=agreement(ref, got, n)))
    print(f"  {rows[-1]['name']}: {rows[-1]['pixels_per_s']:.3g} px/s", flush=True)

    # pymannkendall loop (subset)
    sub = np.ascontiguousarray(series[:, :n_subset]).astype(np.float64)
    try:
        times, got = timeit(lambda: baselines.pymannkendall_loop(sub), 1)
        rows.append(row("pymannkendall loop", n_subset, times,
                        "original_test per pixel, MK+Sen only (index-based slope)",
                        agreement={k: v for k, v in agreement(ref, got, n_subset).items()
                                   if k.startswith("s_")}))
        print(f"  {rows[-1]['name']}: {rows[-1]['pixels_per_s']:.3g} px/s", flush=True)
    except ImportError as err:
        rows.append(skipped("pymannkendall loop", f"not installed: {err}"))

    # xarrayMannKendall (subset, square)
    try:
        side = int(np.sqrt(n_subset // 2))
        px = side * side
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times, got = timeit(lambda: baselines.xarray_mann_kendall(sub[:, :px], YEARS), 1)
        rows.append(row("xarrayMannKendall", px, times, "MK + Theil-Sen, Dask apply_along_axis"))
        print(f"  {rows[-1]['name']}: {rows[-1]['pixels_per_s']:.3g} px/s", flush=True)
    except Exception as err:  # noqa: BLE001 - third-party code: skip gracefully on anything
        rows.append(skipped("xarrayMannKendall", f"{type(err).__name__}: {err}"))

    rows += bench_dask(series, ref, repeat, workers)
    return rows


def bench_dask(series: np.ndarray, ref: mlri.TrendResult, repeat: int, workers: int) -> list:
    try:
        import dask
        import dask.array as da

        import mlri.xarray as mx
    except ImportError as err:
        return [skipped("mlri via Dask", f"pip install mlri[dask]: {err}")]
    import xarray as xr

    n = series.shape[1]
    side = int(np.sqrt(n))
    cube = series[:, : side * side].reshape(19, side, side)
    chunk = max(64, side // 4)
    rows = []

    def check(ds: Any) -> None:
        assert np.asarray(ds["hurst"]).tobytes() == np.asarray(ref.hurst)[: side * side] \
            .reshape(side, side).tobytes(), "Dask result differs from the direct run"

    arr = xr.DataArray(da.from_array(cube, chunks=(19, chunk, chunk)), dims=("year", "y", "x"))
    with dask.config.set(scheduler="threads", num_workers=workers):
        mx.trend(arr[:, :chunk, :chunk]).compute()  # warm-up, untimed
        times, out = timeit(lambda: mx.trend(arr).compute(), repeat)
    check(out)
    rows.append(row(f"mlri via Dask threads ({workers} threads)", side * side, times,
                    f"chunks {chunk}x{chunk}, 1 OpenMP thread per task"))
    print(f"  {rows[-1]['name']}: {rows[-1]['pixels_per_s']:.3g} px/s", flush=True)

    with mx.dask_client(f"local:{workers}") as client:
        # Put the stack on the workers first (untimed), one scattered piece per chunk.
        starts = range(0, side, chunk)
        grid = [[(y0, x0) for x0 in starts] for y0 in starts]
        pieces = [[da.from_delayed(client.scatter(np.ascontiguousarray(
            cube[:, y0:y0 + chunk, x0:x0 + chunk])), dtype=cube.dtype,
            shape=(19, min(chunk, side - y0), min(chunk, side - x0))) for y0, x0 in r]
            for r in grid]
        arr = xr.DataArray(da.block(pieces), dims=("year", "y", "x"))
        client.compute(mx.trend(arr)).result()  # warm-up: workers import mlri, untimed
        times, out = timeit(lambda: mx.compute(mx.trend(arr), client=client), repeat)
        check(out)
        rows.append(row(f"mlri via Dask LocalCluster ({workers} workers x 1 thread)",
                        side * side, times,
                        "input on the workers; results streamed to the client (mx.compute)"))
    print(f"  {rows[-1]['name']}: {rows[-1]['pixels_per_s']:.3g} px/s", flush=True)
    return rows


def bench_pipeline(quick: bool) -> dict:
    path = HERE / "bench_pipeline.py"
    if not path.exists():
        return skipped("end-to-end scene (bench/bench_pipeline.py)",
                       "bench/bench_pipeline.py not present yet (pipeline issue); hook ready")
    spec = importlib.util.spec_from_file_location("mlri_bench_pipeline", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if callable(getattr(mod, "run", None)):
        res = mod.run(quick=quick)
        return {"name": "end-to-end scene (bench/bench_pipeline.py)", "result": res}
    cmd = [sys.executable, str(path), *(["--quick"] if quick else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return {"name": "end-to-end scene (bench/bench_pipeline.py)", "returncode": proc.returncode,
            "stdout_tail": proc.stdout.splitlines()[-20:]}


# ---------------------------------------------------------------------------------- output

def table(rows: list[dict]) -> str:
    base = next((r for r in rows if r["name"].startswith("mlri.trend (OpenMP 1")), None)
    lines = [(f"{'contender':<52} {'pixels':>9} {'best s':>8} {'px/s':>10} {'vs mlri-1':>9} "
             f"{'spread':>7}")]
    lines.append("-" * len(lines[0]))
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['name']:<52} skipped: {r['skipped']}")
            continue
        if "pixels_per_s" not in r:
            lines.append(f"{r['name']:<52} {json.dumps(r.get('result', r.get('returncode')))}")
            continue
        ratio = r["pixels_per_s"] / base["pixels_per_s"] if base else float("nan")
        lines.append(f"{r['name']:<52} {r['pixels']:>9d} {r['best_s']:>8.3f} "
                     f"{r['pixels_per_s']:>10.3g} {ratio:>8.2f}x {100 * r['spread']:>6.0f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 2 repeats (~1 min)")
    ap.add_argument("--pixels", type=int, default=None, help="pixels of the main stack")
    ap.add_argument("--subset", type=int, default=None, help="pixels for the slow loops")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2, help="Dask workers / threads")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    n = args.pixels or (256 * 256 if args.quick else 1024 * 1024)
    n_subset = args.subset or (400 if args.quick else 2000)
    repeat = args.repeat or (2 if args.quick else 3)
    info = machine()
    rows = bench_all(n, n_subset, repeat, args.workers)
    rows.append(bench_pipeline(args.quick))
    info["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    text = table(rows)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = args.out / f"run-{stamp}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps({"machine": info, "args": {"pixels": n, "subset": n_subset,
                                                         "repeat": repeat,
                                                         "workers": args.workers},
                                "rows": rows, "table": text.splitlines()}, indent=2,
                               default=str) + "\n")
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
