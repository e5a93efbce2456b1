"""Benchmark: zonal class statistics for many random mine polygons over a full scene.

    python bench/bench_zonal.py                       # 5,000 polygons, 7,800 x 7,900 classes
    python bench/bench_zonal.py --size 2000x2000 --polygons 500 --years 19
    python bench/bench_zonal.py --polygon-crs 32650   # polygons already in the raster CRS

Writes a synthetic tiled class raster (512 x 512 deflate tiles, as ``mlri run`` writes them),
optionally an MLRI stack with ``--years`` bands, and random star-shaped "mine" polygons
(radius 150 m - 1.8 km, some overlapping) into a temporary folder, then measures
``read_mines`` + ``zonal_stats`` in a fresh child process: wall and CPU seconds, peak RSS
(and the 1-minute load average, since wall time on a shared machine depends on it).
The folder is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _size(s: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in s.lower().split("x"))
    except ValueError as err:
        msg = f"--size must look like 7800x7900 (rows x cols), got {s!r}"
        raise argparse.ArgumentTypeError(msg) from err
    return h, w


def make_data(d: Path, height: int, width: int, n_poly: int, years: int, polygon_epsg: int,
              seed: int) -> dict:
    import rasterio
    import shapely
    from affine import Affine
    from pyproj import Transformer

    from mlri._outputs import raster_profile
    from mlri.sites._synthetic import write_polygons

    rng = np.random.default_rng(seed)
    T = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_400_000.0)
    crs = rasterio.crs.CRS.from_epsg(32650)
    t0 = time.time()
    prof = raster_profile(crs=crs, transform=T, width=width, height=height, count=1,
                          dtype="uint8", nodata=0, blocksize=512)
    with rasterio.open(d / "classes.tif", "w", **prof) as dst:
        for r in range(0, height, 512):
            h = min(512, height - r)
            blk = rng.choice(7, size=(h, width), p=[0.05, 0.1, 0.2, 0.2, 0.15, 0.2, 0.1])
            dst.write(blk.astype(np.uint8), 1, window=rasterio.windows.Window(0, r, width, h))
    if years:
        prof = raster_profile(crs=crs, transform=T, width=width, height=height, count=years,
                              dtype="float32", nodata=float("nan"), blocksize=512)
        with rasterio.open(d / "mlri.tif", "w", **prof) as dst:
            for r in range(0, height, 512):
                h = min(512, height - r)
                base = rng.uniform(1, 2, (h, width)).astype(np.float32)
                for b in range(years):
                    dst.write(base + np.float32(0.01 * b), b + 1,
                              window=rasterio.windows.Window(0, r, width, h))
            for b in range(years):
                dst.set_band_description(b + 1, str(2000 + b))
    t_raster = time.time() - t0

    # random star polygons: centre anywhere (5 % straddle the edge), radius 5..60 pixels
    k = 16
    cx = rng.uniform(-0.02, 1.02, n_poly) * width
    cy = rng.uniform(-0.02, 1.02, n_poly) * height
    rad = rng.uniform(5, 60, n_poly)
    ang = np.sort(rng.uniform(0, 2 * np.pi, (n_poly, k)), axis=1)
    rr = rad[:, None] * rng.uniform(0.5, 1.0, (n_poly, k))
    col = cx[:, None] + rr * np.cos(ang)
    row = cy[:, None] + rr * np.sin(ang)
    x = T.c + col * T.a
    y = T.f + row * T.e
    if polygon_epsg != 32650:
        tr = Transformer.from_crs(32650, polygon_epsg, always_xy=True)
        x, y = tr.transform(x, y)
    ring = np.stack([x, y], axis=-1)
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    geoms = shapely.polygons(ring)
    geoms = shapely.make_valid(geoms)
    write_polygons(d / "mines.gpkg", list(geoms), crs=f"EPSG:{polygon_epsg}",
                   fields={"mine_id": [f"m{i}" for i in range(n_poly)]})
    return {"raster_write_s": round(t_raster, 2),
            "mean_bbox_pixels": float(np.mean((2 * rad) ** 2))}


def measure(d: Path, all_touched: bool) -> dict:
    import warnings

    from mlri.sites import SitesWarning, read_mines, zonal_stats

    warnings.simplefilter("ignore", SitesWarning)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    mines = read_mines(d / "mines.gpkg", id_col="mine_id")
    t1 = time.perf_counter()
    mlri = d / "mlri.tif" if (d / "mlri.tif").exists() else None
    res = zonal_stats(d / "classes.tif", mines, mlri=mlri, all_touched=all_touched)
    t2 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    st: dict[str, int] = {}
    for s in res.table["status"]:
        st[s] = st.get(s, 0) + 1
    return {"read_s": round(t1 - t0, 3), "zonal_s": round(t2 - t1, 3),
            "total_s": round(t2 - t0, 3),
            "cpu_s": round(ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime, 3),
            "load_avg_1min": round(os.getloadavg()[0], 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "pixels_counted": int(res.counts.sum()), "status": st}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=_size, default=(7800, 7900), help="rows x cols (7800x7900)")
    ap.add_argument("--polygons", type=int, default=5000)
    ap.add_argument("--years", type=int, default=0, help="MLRI bands to add (0 = classes only)")
    ap.add_argument("--polygon-crs", type=int, default=4326, help="EPSG of the polygons")
    ap.add_argument("--all-touched", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmp", default=None, help="parent folder for the data (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--data", default=None,
                    help="measure existing data kept by --keep (skip generation)")
    ap.add_argument("--json", default=None, help="also write the result to this JSON file")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(measure(Path(a.measure), a.all_touched)))
        return
    # clean up on Ctrl-C and on kill (SIGTERM) too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    reuse = a.data is not None
    d = Path(a.data) if reuse else Path(tempfile.mkdtemp(prefix="mlri-bench-zonal-", dir=a.tmp))
    try:
        h, w = a.size
        if reuse:
            info = {"reused": str(d)}
        else:
            print(f"generating {h} x {w} classes"
                  + (f" + {a.years} MLRI bands" if a.years else "")
                  + f", {a.polygons} polygons (EPSG:{a.polygon_crs}) in {d} ...", flush=True)
            info = make_data(d, h, w, a.polygons, a.years, a.polygon_crs, a.seed)
        cmd = [sys.executable, __file__, "--measure", str(d)]
        if a.all_touched:
            cmd.append("--all-touched")
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        res.update({"size": f"{h}x{w}", "polygons": a.polygons, "years": a.years,
                    "polygon_crs": a.polygon_crs, "all_touched": a.all_touched,
                    "cores": os.cpu_count(), **info})
        print(json.dumps(res, indent=2))
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
    finally:
        if a.keep or reuse:
            print(f"data kept in {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
