"""Dask LocalCluster vs the direct OpenMP run on one large stack (default 4096 x 4096 x 19).

    python bench/bench_dask.py [--size 4096] [--chunk 512] [--workers 2] [--repeat 2]
                               [--what trend|stack]

* direct: ``mlri.trend(stack, n_threads=W)`` (or index -> trend -> classify for
  ``--what stack``) on an in-memory NumPy stack;
* dask: the same computation through ``mlri.xarray`` on a ``LocalCluster`` of W
  single-threaded worker processes (loopback).  The stack is generated and persisted on the
  workers beforehand (untimed, as if read from disk); the results are streamed back into NumPy
  arrays on the client with ``mlri.xarray.compute`` (timed).

Wall time on a shared machine moves with other people's load, so the CPU seconds spent (client
process + workers, via ``time.process_time``) are reported too: their ratio measures the Dask
overhead independently of contention.  Both runs use the same data (a deterministic generator
per chunk) and are checked bit for bit.  Runs are interleaved (direct, dask, direct, ...) so
that a load change hits both.  The target is ratio = dask time / direct time <= 1.5.  Results
go to ``bench/results/dask-<UTC time>-<size>-<what>.json`` with the machine description of
``run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mlri

YEARS = mlri.default_years(19)


def gen_block(y0: int, x0: int, ny: int, nx: int, seed: int = 7) -> np.ndarray:
    """Deterministic MLRI-like series for the pixels [y0:y0+ny, x0:x0+nx]."""
    rng = np.random.default_rng([seed, y0, x0])
    t = (YEARS - YEARS[0])[:, None, None]
    slope = rng.normal(0.0, 0.02, (1, ny, nx))
    x = 1.0 + slope * t + rng.standard_normal((19, ny, nx)).cumsum(axis=0) * 0.02
    x[rng.random(x.shape) < 0.03] = np.nan
    return x.astype(np.float32)


def _dask_gen(block_info: dict | None = None) -> np.ndarray:
    loc = block_info[None]["array-location"]
    (y0, y1), (x0, x1) = loc[1], loc[2]
    return gen_block(y0, x0, y1 - y0, x1 - x0)


def build_numpy(size: int, chunk: int) -> np.ndarray:
    out = np.empty((19, size, size), dtype=np.float32)
    for y0 in range(0, size, chunk):
        for x0 in range(0, size, chunk):
            ny, nx = min(chunk, size - y0), min(chunk, size - x0)
            out[:, y0:y0 + ny, x0:x0 + nx] = gen_block(y0, x0, ny, nx)
    return out


def direct(stack: np.ndarray, what: str, workers: int) -> dict[str, np.ndarray]:
    if what == "trend":
        return mlri.trend(stack, YEARS, n_threads=workers)._asdict()
    evi = np.full_like(stack, 0.5)
    lst = (300.0 / stack).astype(np.float32)  # LST-like values in K; cheap
    r = mlri.index(lst, evi, n_threads=workers)
    t = mlri.trend(r.mlri, YEARS, n_threads=workers)
    cls, flags = mlri.classify(t, dropped=r.dropped, n_threads=workers)
    return {**t._asdict(), "classes": cls, "flags": flags}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--what", choices=("trend", "stack"), default="trend")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)

    import dask.array as da
    import xarray as xr
    from distributed import wait
    from run import machine

    import mlri.xarray as mx

    info = machine()
    size, chunk, W = args.size, args.chunk, args.workers
    npx = size * size
    print(f"stack 19 x {size} x {size} ({19 * npx * 4 / 2**30:.2f} GiB float32), chunks "
          f"{chunk}, {W} workers / threads, {args.what}", flush=True)
    t0 = time.perf_counter()
    stack = build_numpy(size, chunk)
    print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)

    runs: list[dict] = []
    with mx.dask_client(f"local:{W}") as client:
        lazy = da.map_blocks(_dask_gen, dtype=np.float32,
                             chunks=((19,), *([tuple(min(chunk, size - o)
                                                     for o in range(0, size, chunk))] * 2)))
        persisted = client.persist(lazy)
        wait(persisted)
        arr = xr.DataArray(persisted, dims=("year", "y", "x"))
        if args.what == "trend":
            build = lambda: mx.trend(arr, YEARS)
        else:
            lst = (300.0 / arr).astype(np.float32)
            evi = xr.full_like(arr, 0.5)
            build = lambda: mx.run_stack(lst, evi, YEARS)
        # warm-up: workers import mlri (untimed)
        client.compute(build().isel(y=slice(0, 8), x=slice(0, 8))).result()
        ref = None
        for i in range(args.repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            ref = direct(stack, args.what, W)
            td, cd = time.perf_counter() - t0, time.process_time() - c0
            w0 = sum(client.run(time.process_time).values())
            c0, t0 = time.process_time(), time.perf_counter()
            got = mx.compute(build(), client=client)
            tk, ck = time.perf_counter() - t0, time.process_time() - c0
            ck += sum(client.run(time.process_time).values()) - w0
            same = all(np.asarray(got[k]).tobytes() == np.asarray(v).tobytes()
                       for k, v in ref.items())
            runs.append({"direct_s": td, "dask_s": tk, "ratio": tk / td, "bitwise_equal": same,
                         "direct_cpu_s": cd, "dask_cpu_s": ck, "cpu_ratio": ck / cd,
                         "loadavg": os.getloadavg()})
            print(f"  run {i + 1}: direct {td:.1f} s ({npx / td:.3g} px/s), dask {tk:.1f} s "
                  f"({npx / tk:.3g} px/s), ratio {tk / td:.2f}; CPU s direct {cd:.1f}, dask "
                  f"{ck:.1f} (client + workers), CPU ratio {ck / cd:.2f}; bitwise equal: "
                  f"{same}", flush=True)
            del got
    ratios = [r["ratio"] for r in runs]
    cpu = [r["cpu_ratio"] for r in runs]
    summary = {"ratio_median": float(np.median(ratios)), "ratio_min": min(ratios),
               "cpu_ratio_median": float(np.median(cpu)),
               "ratio_max": max(ratios), "target": 1.5,
               "pass": float(np.median(ratios)) <= 1.5,
               "all_bitwise_equal": all(r["bitwise_equal"] for r in runs)}
    print(json.dumps(summary))
    info["loadavg_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = args.out / f"dask-{stamp}-{size}-{args.what}.json"
    path.write_text(json.dumps({"machine": info, "args": vars(args) | {"out": str(args.out)},
                                "runs": runs, "summary": summary}, indent=2, default=str) + "\n")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
