"""Benchmark: annual max composite of Landsat C2 L2 scenes (mlri vs straightforward numpy).

Writes K synthetic OLI scenes of SIZE x SIZE pixels (full C2 scene: --size 7800 -> 7800 x 7900)
as deflate-compressed tiled GeoTIFFs (blue, red, NIR, ST_B10, QA_PIXEL: the bands a composite
needs), then measures, each in its own subprocess (so peak RSS is per method):

* ``read``   – only reading the needed bands of every scene by strip (the I/O floor);
* ``mlri``   – mlri's strip engine (mask + EVI + LST + max + counts, C++/OpenMP), no writing;
* ``mlri_write`` – ``mlri.landsat.write_composites`` end to end (3 COG outputs + manifest);
* ``numpy``  – a straightforward implementation: whole bands read with rasterio, numpy
  masking/scaling/EVI, ``np.fmax`` into full-grid accumulators (no writing).

Reports pixels/s per scene (grid pixels x scenes / seconds), peak RSS, and the ratio of each
time to the read time.  Generated data is deleted unless --keep.

    python bench/bench_composite.py --size 2000            # quick
    python bench/bench_composite.py --size 7800 --scenes 3 # full scenes (run at most once)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

QA_CLEAR, QA_CLOUD, QA_SHADOW, QA_WATER = 21824, 22280, 23888, 21952


def _field(rng: np.random.Generator, h: int, w: int, cell: int = 32) -> np.ndarray:
    """Smooth-ish random field in [0, 1) built from a coarse grid (cheap, compressible)."""
    gh, gw = h // cell + 2, w // cell + 2
    g = rng.random((gh, gw), dtype=np.float32)
    return np.repeat(np.repeat(g, cell, 0), cell, 1)[:h, :w]


def make_scene(folder: Path, idx: int, h: int, w: int, x0: float, ytop: float) -> Path:
    import rasterio
    from rasterio.transform import Affine

    from mlri.landsat.synthetic import write_scene  # noqa: F401 (same layout as the tests)

    rng = np.random.default_rng(idx)
    pid = f"LC08_L2SP_123032_2015{6 + idx % 4:02d}{10 + idx:02d}_20160101_02_T1"
    d = folder / pid
    d.mkdir(parents=True)
    tr = Affine(30.0, 0.0, x0, 0.0, -30.0, ytop)
    names = {"SR_B2": "uint16", "SR_B4": "uint16", "SR_B5": "uint16", "ST_B10": "uint16",
             "QA_PIXEL": "uint16"}
    prof = {"driver": "GTiff", "width": w, "height": h, "count": 1, "crs": "EPSG:32650",
            "transform": tr, "tiled": True, "blockxsize": 256, "blockysize": 256,
            "compress": "deflate", "predictor": 2, "zlevel": 6}
    dsts = {k: rasterio.open(d / f"{pid}_{k}.TIF", "w", dtype=t,
                             nodata=0 if k != "QA_PIXEL" else None, **prof)
            for k, t in names.items()}
    try:
        step = 512
        for r0 in range(0, h, step):
            n = min(step, h - r0)
            veg = _field(rng, n, w, 64)
            noise = rng.random((n, w), dtype=np.float32)
            cloud = _field(rng, n, w, 48) > 0.8
            shadow = (_field(rng, n, w, 48) > 0.9) & ~cloud
            red = 0.03 + 0.15 * (1 - veg) + 0.01 * noise
            blue = 0.7 * red
            nir = 0.2 + 0.2 * veg + 0.01 * noise
            red[cloud] = 0.4
            blue[cloud] = 0.42
            nir[cloud] = 0.45
            st = 300 + 15 * (1 - veg) + noise
            st[cloud] = 265
            qa = np.full((n, w), QA_CLEAR, np.uint16)
            qa[shadow] = QA_SHADOW
            qa[cloud] = QA_CLOUD
            edge = np.zeros((n, w), bool)
            edge[:, : 40 + idx * 10] = True  # fill strip on the western edge
            qa[edge] = 1
            win = rasterio.windows.Window(0, r0, w, n)

            def dn(v, add=-0.2, mult=2.75e-5, edge=edge):
                a = np.clip(np.rint((v - add) / mult), 1, 65455).astype(np.uint16)
                a[edge] = 0
                return a

            dsts["SR_B2"].write(dn(blue), 1, window=win)
            dsts["SR_B4"].write(dn(red), 1, window=win)
            dsts["SR_B5"].write(dn(nir), 1, window=win)
            dsts["ST_B10"].write(dn(st, 149.0, 0.00341802), 1, window=win)
            dsts["QA_PIXEL"].write(qa, 1, window=win)
    finally:
        for ds in dsts.values():
            ds.close()
    mtl = {"LANDSAT_METADATA_FILE": {"PRODUCT_CONTENTS": {
        "LANDSAT_PRODUCT_ID": pid, "PROCESSING_LEVEL": "L2SP", "COLLECTION_NUMBER": "02",
        "COLLECTION_CATEGORY": "T1"}, "IMAGE_ATTRIBUTES": {"DATE_ACQUIRED":
        f"2015-{6 + idx % 4:02d}-{10 + idx:02d}", "SUN_ELEVATION": "55.0"}}}
    (d / f"{pid}_MTL.json").write_text(json.dumps(mtl))
    return d


# ---- the measured methods (run in a child process) -------------------------------------------
def _grid_and_scenes(data: Path):
    from mlri import landsat as L

    scenes = L.find_scenes(data)
    bs = [s.bounds() for s in scenes]
    union = (min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs),
             max(b[3] for b in bs))
    return scenes, L.grid_for_bounds(union, scenes[0].georef()[0])


def run_read(data: Path, threads: int | None) -> dict:
    from mlri.landsat.composite import CompositeOptions, _gdal_env, _Layer, _strips

    scenes, grid = _grid_and_scenes(data)
    opts = CompositeOptions(months=(1, 12), n_threads=threads)
    t = time.perf_counter()
    with _gdal_env():
        layers = [[_Layer(s, r, grid) for r in ("qa", "blue", "red", "nir", "st")]
                  for s in scenes]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:  # same read pattern as the engine
            for row0, nrows in _strips(grid, opts.block_pixels):
                for lays in layers:
                    list(pool.map(lambda lay, a=row0, n=nrows: lay.read(a, n), lays))
        for lays in layers:
            for lay in lays:
                lay.close()
    return {"seconds": time.perf_counter() - t, "pixels": grid.width * grid.height,
            "scenes": len(scenes)}


def run_mlri(data: Path, threads: int | None) -> dict:
    from mlri.landsat.composite import CompositeOptions, _gdal_env, _prepare, _YearEngine

    scenes, grid = _grid_and_scenes(data)
    opts = CompositeOptions(months=(1, 12), n_threads=threads)
    t = time.perf_counter()
    total = 0.0
    with _gdal_env(), _YearEngine(_prepare(scenes, opts), grid, opts) as eng:
        for _r0, _n, acc in eng.run():
            total += float(np.nansum(acc["n_evi"]))
    return {"seconds": time.perf_counter() - t, "pixels": grid.width * grid.height,
            "scenes": len(scenes), "n_obs": total}


def run_mlri_write(data: Path, threads: int | None, out: Path) -> dict:
    from mlri import landsat as L

    scenes, grid = _grid_and_scenes(data)
    t = time.perf_counter()
    L.write_composites(scenes, grid, [2015], out, months=(1, 12), n_threads=threads,
                       overwrite=True)
    return {"seconds": time.perf_counter() - t, "pixels": grid.width * grid.height,
            "scenes": len(scenes)}


def run_numpy(data: Path, threads: int | None) -> dict:
    """Straightforward numpy/rasterio: whole bands, boolean masks, np.fmax accumulators."""
    import rasterio

    scenes, grid = _grid_and_scenes(data)
    t = time.perf_counter()
    evi_max = np.full(grid.shape, np.nan, np.float32)
    lst_max = np.full(grid.shape, np.nan, np.float32)
    n_obs = np.zeros(grid.shape, np.uint16)
    total = 0.0
    for s in scenes:
        _crs, tr, w, h = s.georef()
        c0 = round((tr.c - grid.transform.c) / 30)
        r0 = round((grid.transform.f - tr.f) / 30)
        sl = np.s_[r0:r0 + h, c0:c0 + w]

        def rd(role, s=s):
            with rasterio.open(s.band_path(role)) as ds:
                return ds.read(1)

        qa = rd("qa")
        b, r, n, st = rd("blue"), rd("red"), rd("nir"), rd("st")
        ok = ((qa & 0b111111) == 0) & (b > 0) & (r > 0) & (n > 0)
        B = b.astype(np.float32) * 2.75e-5 - 0.2
        R = r.astype(np.float32) * 2.75e-5 - 0.2
        N = n.astype(np.float32) * 2.75e-5 - 0.2
        den = N + 6 * R - 7.5 * B + 1
        with np.errstate(divide="ignore", invalid="ignore"):
            evi = 2.5 * (N - R) / den
        evi[~ok | (den <= 0) | (evi < -1) | (evi > 1)] = np.nan
        lst = st.astype(np.float32) * 0.00341802 + 149.0
        lst[((qa & 0b111111) != 0) | (st == 0)] = np.nan
        np.fmax(evi_max[sl], evi, out=evi_max[sl])
        np.fmax(lst_max[sl], lst, out=lst_max[sl])
        n_obs[sl] += np.isfinite(evi)
        del qa, b, r, n, st, B, R, N, den, evi, lst, ok
    total = float(n_obs.sum())
    return {"seconds": time.perf_counter() - t, "pixels": grid.width * grid.height,
            "scenes": len(scenes), "n_obs": total}


def child(method: str, data: str, threads: int | None, out: str | None) -> None:
    import resource

    fn = {"read": run_read, "mlri": run_mlri, "numpy": run_numpy}.get(method)
    res = run_mlri_write(Path(data), threads, Path(out)) if method == "mlri_write" else \
        fn(Path(data), threads)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    res["peak_rss_mb"] = ru.ru_maxrss / 1024
    res["cpu_seconds"] = ru.ru_utime + ru.ru_stime  # whole child, incl. imports and setup
    print(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=2000,
                    help="scene width in pixels (height = width + 100; 7800 = full scene)")
    ap.add_argument("--scenes", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="kernel threads (default all)")
    ap.add_argument("--workdir", default=None, help="where to write the scenes (default: tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the generated scenes")
    ap.add_argument("--methods", default="read,mlri,numpy,mlri_write")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], a.child[1], a.threads, a.child[2] if a.child[2] != "-" else None)
        return
    work = Path(a.workdir or tempfile.mkdtemp(prefix="mlri-bench-"))
    data = work / "scenes"
    out = work / "out"
    h, w = a.size + 100, a.size
    try:
        t = time.perf_counter()
        if data.is_dir() and any(data.iterdir()):
            print(f"reusing the scenes in {data}", flush=True)
        else:
            for i in range(a.scenes):  # same path, offsets of a few pixels between dates
                make_scene(data, i, h, w, 500_085.0 + 30 * 3 * i, 4_400_025.0 - 30 * 2 * i)
        gen = time.perf_counter() - t
        size_mb = sum(f.stat().st_size for f in data.rglob("*.TIF")) / 1e6
        print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
              flush=True)
        print(f"generated {a.scenes} scenes of {w} x {h} px in {gen:.1f} s ({size_mb:.0f} MB)",
              flush=True)
        results = {}
        for m in a.methods.split(","):
            cmd = [sys.executable, __file__, "--child", m, str(data), str(out)]
            if a.threads:
                cmd += ["--threads", str(a.threads)]
            env = dict(os.environ)
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if p.returncode != 0:
                print(p.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{m} failed")
            results[m] = json.loads(p.stdout.strip().splitlines()[-1])
            r = results[m]
            print(f"{m:>10}: {r['seconds']:7.2f} s  "
                  f"{r['pixels'] * r['scenes'] / r['seconds'] / 1e6:7.1f} Mpx/s per scene-pixel  "
                  f"peak RSS {r['peak_rss_mb']:7.0f} MB  (process CPU {r['cpu_seconds']:.1f} s)",
                  flush=True)
        if "read" in results:
            tr = results["read"]["seconds"]
            print("ratio to read time: " + ", ".join(
                f"{m} {r['seconds'] / tr:.2f}" for m, r in results.items()))
        if "mlri" in results and "numpy" in results:
            assert results["mlri"]["n_obs"] == results["numpy"]["n_obs"], \
                "mlri and numpy disagree on the observation count"
            print(f"speed-up mlri vs numpy: "
                  f"{results['numpy']['seconds'] / results['mlri']['seconds']:.2f}x")
        if a.json:
            Path(a.json).write_text(json.dumps({"size": [w, h], "scenes": a.scenes,
                                                "generate_s": gen, "data_mb": size_mb,
                                                "results": results}, indent=1))
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
