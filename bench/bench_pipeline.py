"""End-to-end benchmark of ``mlri run`` against the I/O floor, on a Landsat-scene-sized stack.

    python bench/bench_pipeline.py                 # full scene: 7800 x 7900 px x 19 years
    python bench/bench_pipeline.py --size 2048     # 2048 x 2048 (quick)
    python bench/bench_pipeline.py --size 3000x2000 --keep --dir /tmp/b

Steps (each measured in a child process: wall time, CPU time and peak RSS from wait4):

1. generate ``LST.tif`` / ``EVI.tif``: float32 multi-band stacks, 256-pixel tiles, deflate
   (GEE-export-like), written window by window, never held in RAM (not timed against);
2. I/O floor: read both inputs once and write outputs of the same sizes, dtypes and
   compression (19-band + trend-band float32, two uint8) with no computation, through the same
   overlapped reader/writer engine: as plain tiled GeoTIFFs without overviews
   (``floor_plain``), as COGs with overviews (``floor_cog``) and, optionally, as compressed
   GeoTIFFs with overviews added in place (``floor_ovr``);
3. ``mlri run --no-cog`` (``run_plain``) and ``mlri run`` (``run_cog``) on the stacks;
   with ``--ref-src DIR`` also ``mlri run --no-cog`` of another version (``run_plain_ref``:
   the package in ``DIR``, e.g. a ``git worktree``'s ``src/`` built in place), so that two
   versions are compared in the same rounds, against the same floor;
   with ``--decompose`` also ``mlri run --no-cog --no-checksum`` (``run_plain_nock``: the
   share of the inputs' SHA-256 in the run), and after every step an encoding probe: a few
   windows of the step's ``mlri.tif`` and ``trend.tif`` compressed again in memory on one
   thread with the files' own codec and predictor, scaled to the scene (``encode_cpu_s``): the floor
   writes the inputs' values, which compress faster than the run's MLRI and trend values.

The machine is shared: numbers vary by some 10 %; ``--repeat 3`` alternates the steps and
reports median ratios with their per-round range.  Before every step both inputs are read
once (``warm_s``), so that every step reads them from the page cache: a step that finds them
evicted pays ~2 CPU-s per GB in the kernel to read them from disk (the floor's first round
did, 27 against 9 kernel CPU-s at the full size), which the machine's page cache, emptied
within minutes, made a matter of chance (``--no-warm`` measures without).  Even warm, the
first round of a series has been the floor's slowest (docs/performance.md);
``--warmup 1`` runs every step once untimed first, and records those rounds apart.  Run the
full size at most once.  Every big file is deleted at the end unless ``--keep``.  CPU time is
reported as user + kernel (sys).
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

YEARS = [*range(2000, 2012), *range(2013, 2020)]
FULL = (7800, 7900)  # rows, cols of a Landsat WRS-2 scene at 30 m (approx.)


def parse_size(s: str) -> tuple[int, int]:
    if s == "full":
        return FULL
    if "x" in s:
        w, h = s.lower().split("x")
        return int(h), int(w)
    n = int(s)
    return n, n


# --------------------------------------------------------------------------- generation


def generate(folder: Path, rows: int, cols: int, years: list[int], seed: int = 1) -> None:
    """Write LST.tif and EVI.tif window by window (512 x 512 x T at a time)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    t = len(years)
    prof = {"driver": "GTiff", "width": cols, "height": rows, "count": t, "dtype": "float32",
            "crs": "EPSG:32650", "transform": Affine(30, 0, 300015, 0, -30, 4900035),
            "nodata": float("nan"), "tiled": True, "blockxsize": 256, "blockysize": 256,
            "compress": "deflate", "zlevel": 1, "num_threads": "ALL_CPUS",
            "bigtiff": "YES", "interleave": "band"}
    rng = np.random.default_rng(seed)
    weather = rng.normal(0, 1, t).astype(np.float32)[:, None, None]
    step = 512
    with rasterio.open(folder / "LST.tif", "w", **prof) as dl, \
            rasterio.open(folder / "EVI.tif", "w", **prof) as de:
        for b, y in enumerate(years, 1):
            dl.set_band_description(b, f"LST_{y}")
            de.set_band_description(b, f"EVI_{y}")
        for r in range(0, rows, step):
            for c in range(0, cols, step):
                h, w = min(step, rows - r), min(step, cols - c)
                yy, xx = np.mgrid[r:r + h, c:c + w].astype(np.float32)
                base = 0.25 + 0.08 * np.sin(yy / 300.0) * np.cos(xx / 410.0)
                trend = (np.sin(xx / 900.0 + yy / 700.0) > 0.6).astype(np.float32)
                k = np.arange(t, dtype=np.float32)[:, None, None] / t
                evi = base + 0.1 * trend * k + 0.02 * weather + \
                    rng.normal(0, 0.015, (t, h, w)).astype(np.float32)
                lst = 305.0 - 20.0 * (evi - 0.25) - 1.5 * weather + \
                    rng.normal(0, 0.8, (t, h, w)).astype(np.float32)
                lst = np.round((lst - 149.0) / 0.00341802) * 0.00341802 + 149.0  # ST DN steps
                gap = rng.random((t, h, w)) < 0.02
                lst[gap] = np.nan
                evi[gap] = np.nan
                win = Window(c, r, w, h)
                dl.write(lst.astype(np.float32), window=win)
                de.write(evi.astype(np.float32), window=win)


# --------------------------------------------------------------------------- I/O floor


def io_floor(lst: str, evi: str, out: Path, cog: bool, tile: int = 512,
             overviews: bool = True) -> dict:
    """Read both inputs once; write 4 outputs like mlri run's; no computation."""
    import rasterio

    from mlri._outputs import atomic_raster, raster_profile
    from mlri.products import TREND_BANDS
    from mlri.tiling import plan_windows, run_tiled

    n_trend = len(TREND_BANDS)  # the run folder's schema: as many bands as mlri run writes

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with rasterio.open(lst) as a:
        g = (a.crs, a.transform, a.width, a.height, a.count, a.block_shapes[0])
    crs, tr, width, height, nt, block = g

    def prof(count, dtype, nodata):
        return raster_profile(crs=crs, transform=tr, width=width, height=height, count=count,
                              dtype=dtype, nodata=nodata, zlevel=1)

    import contextlib

    avg = "average" if overviews else None
    near = "nearest" if overviews else None
    with rasterio.Env(GDAL_CACHEMAX=256 * 2**20, GDAL_NUM_THREADS="ALL_CPUS"), \
            contextlib.ExitStack() as st:
        dm = st.enter_context(atomic_raster(out / "mlri.tif", prof(nt, "float32", np.nan),
                                            cog=cog, overview_resampling=avg))
        dt = st.enter_context(atomic_raster(out / "trend.tif", prof(n_trend, "float32", np.nan),
                                            cog=cog, overview_resampling=avg))
        dc = st.enter_context(atomic_raster(out / "classes.tif", prof(1, "uint8", 0),
                                            cog=cog, overview_resampling=near))
        df = st.enter_context(atomic_raster(out / "flags.tif", prof(1, "uint8", 255),
                                            cog=cog, overview_resampling=near))
        ra = st.enter_context(rasterio.open(lst))
        rb = st.enter_context(rasterio.open(evi))

        def read(w):
            return ra.read(window=w), rb.read(window=w)

        def compute(w, d):  # no computation: hand the data through
            a, b = d
            return a, b[:n_trend], (a[0] > 300).astype(np.uint8), (b[0] > 0.25).astype(np.uint8)

        def write(w, r):
            dm.write(r[0], window=w)
            dt.write(r[1], window=w)
            dc.write(r[2], 1, window=w)
            df.write(r[3], 1, window=w)

        run_tiled(plan_windows(width, height, tile, [block]), read, compute, write)
        t_tiles = time.perf_counter() - t0
        t1 = time.perf_counter()
        st.close()
        t_fin = time.perf_counter() - t1
    return {"tiles_s": t_tiles, "finalize_s": t_fin}


# --------------------------------------------------------------------------- encoding probe


def encode_probe(folder: Path, names: tuple[str, ...] = ("mlri.tif", "trend.tif"),
                 n: int = 4, side: int = 512) -> dict:
    """CPU seconds to compress ``names`` in ``folder`` once, estimated on one thread from
    ``n`` windows of ``side`` x ``side`` px (spread along the diagonal), each compressed
    again in memory with the file's own compression and predictor (best of 2), at level 1
    (``mlri run``'s default and the floor's: a GeoTIFF does not record its level)."""
    import warnings

    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.windows import Window

    out: dict = {}
    with rasterio.Env(GDAL_NUM_THREADS="1"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (in-memory copies have no georeference)
        for name in names:
            p = folder / name
            if not p.exists():
                continue
            with rasterio.open(p) as ds:
                st = ds.tags(ns="IMAGE_STRUCTURE")
                h, w = min(side, ds.height), min(side, ds.width)
                wins = [Window((ds.width - w) * i // max(n - 1, 1),
                               (ds.height - h) * i // max(n - 1, 1), w, h) for i in range(n)]
                arrs = [ds.read(window=win) for win in wins]
                prof = {"driver": "GTiff", "width": w, "height": h, "count": ds.count,
                        "dtype": ds.dtypes[0], "tiled": True,
                        "blockxsize": ds.block_shapes[0][1], "blockysize": ds.block_shapes[0][0],
                        "interleave": "band",
                        "compress": st.get("COMPRESSION", "NONE").lower(),
                        "predictor": int(st.get("PREDICTOR", 1))}
                if prof["compress"] == "deflate":
                    prof["zlevel"] = 1
                elif prof["compress"] == "zstd":
                    prof["zstd_level"] = 1
                scene_px = ds.width * ds.height
            secs = 0.0
            for a in arrs:
                best = float("inf")
                for _ in range(2):
                    with MemoryFile() as mf:
                        t0 = time.perf_counter()
                        with mf.open(**prof) as d:
                            d.write(a)
                        best = min(best, time.perf_counter() - t0)
                secs += best
            out[name] = secs / (n * h * w) * scene_px
    out["total"] = sum(out.values())
    return out


# --------------------------------------------------------------------------- driver


def child(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``cmd`` (with ``env``: these variables added to ours); wall time, CPU time and
    peak RSS of that child (os.wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env} if env else None)
    out_err: list[str] = []

    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out_err.append(proc.stdout.read() if proc.stdout else "")
    out_err.append(proc.stderr.read() if proc.stderr else "")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}):\n{out_err[1][-3000:]}")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "user_s": ru.ru_utime,
            "sys_s": ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024, "stdout": out_err[0]}


def warm(paths: list[Path], chunk: int = 8 << 20) -> float:
    """Read ``paths`` once (into the page cache); the seconds it took."""
    t0 = time.perf_counter()
    buf = bytearray(chunk)
    for p in paths:
        with open(p, "rb", buffering=0) as fh:  # noqa: PTH123
            while fh.readinto(buf):
                pass
    return time.perf_counter() - t0


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def _round_record(r: dict) -> dict:
    """What the JSON keeps of one round of a step."""
    return {k: r[k] for k in ("wall_s", "cpu_s", "user_s", "sys_s", "peak_rss_mb", "warm_s",
                              "encode_cpu_s") if k in r}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="full", help="'full' (7800x7900), N or WxH")
    ap.add_argument("--years", type=int, default=19)
    ap.add_argument("--dir", default=None, help="work folder (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the big files")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--skip", default="floor_ovr", help="comma list of steps to skip: "
                    "floor_plain,floor_cog,floor_ovr,run_plain,run_cog (default: floor_ovr)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of the steps, alternated (floor, run, floor, run, ...) so that "
                         "all see the same machine; ratios from the median wall times")
    ap.add_argument("--no-warm", action="store_true",
                    help="do not read the inputs into the page cache before each step")
    ap.add_argument("--ref-src", default=None, metavar="DIR",
                    help="also time `mlri run --no-cog` of another version (run_plain_ref): "
                         "the mlri package in DIR (a source tree's src/ with its built "
                         "extension), alternated with the other steps round by round")
    ap.add_argument("--decompose", action="store_true",
                    help="also time `mlri run --no-cog --no-checksum` (run_plain_nock) and "
                         "estimate every step's cost of compressing mlri.tif and trend.tif "
                         "(encode_cpu_s, one thread)")
    ap.add_argument("--warmup", type=int, default=0,
                    help="untimed rounds of every step before the timed ones (recorded under "
                         "'warmup_rounds', left out of the medians): the first round of a "
                         "series has run slower than the later ones")
    # internal: child mode for the I/O floor
    ap.add_argument("--floor", nargs=3, metavar=("LST", "EVI", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--floor-cog", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--floor-no-overviews", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.repeat < 1:
        ap.error(f"--repeat must be >= 1, got {a.repeat}")
    if a.warmup < 0:
        ap.error(f"--warmup must be >= 0, got {a.warmup}")

    if a.floor:
        r = io_floor(a.floor[0], a.floor[1], Path(a.floor[2]), a.floor_cog, a.tile,
                     overviews=not a.floor_no_overviews)
        print(json.dumps(r))
        return

    rows, cols = parse_size(a.size)
    years = YEARS[: a.years] if a.years <= len(YEARS) else list(range(2000, 2000 + a.years))
    work = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix="mlri-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, a.skip.split(",")))
    px = rows * cols
    from run import machine  # (bench/run.py: CPU model, build, SIMD target, git commit)

    res: dict = {"rows": rows, "cols": cols, "years": len(years), "pixels": px,
                 "cpus": os.cpu_count(), "machine": machine()}
    print(f"bench: {cols} x {rows} px x {len(years)} years = {px / 1e6:.1f} Mpx; "
          f"work dir {work}; CPU {res['machine'].get('cpu_model', '?')}", flush=True)
    try:
        lst, evi = work / "LST.tif", work / "EVI.tif"
        if not (lst.exists() and evi.exists()):
            t0 = time.perf_counter()
            generate(work, rows, cols, years)
            res["generate_s"] = time.perf_counter() - t0
            print(f"generated inputs in {res['generate_s']:.1f} s", flush=True)
        res["input_bytes"] = lst.stat().st_size + evi.stat().st_size
        res["input_raw_bytes"] = 2 * px * len(years) * 4
        py = sys.executable
        exe = str(Path(py).parent / "mlri")
        if not Path(exe).exists():
            exe = shutil.which("mlri") or "mlri"
        def floor_cmd(name: str, *flags: str) -> list[str]:
            return [py, __file__, "--floor", str(lst), str(evi), str(work / name), "--tile",
                    str(a.tile), *flags]

        def run_cmd(name: str, *flags: str) -> list[str]:
            return [exe, "run", "--lst", str(lst), "--evi", str(evi), "--out",
                    str(work / name), "--quiet", "--tile", str(a.tile), *flags]

        steps = [
            # plain tiled GeoTIFFs, compressed as written, no overviews: the bare I/O floor
            ("floor_plain", floor_cmd("floor_plain", "--floor-no-overviews")),
            # the default output: COGs with overviews (uncompressed intermediate + COG pass)
            ("floor_cog", floor_cmd("floor_cog", "--floor-cog")),
            # compressed GeoTIFFs + overviews added in place afterwards
            ("floor_ovr", floor_cmd("floor_ovr")),
            ("run_plain", run_cmd("run_plain", "--no-cog")),
            ("run_cog", run_cmd("run_cog")),
        ]
        if a.decompose:
            steps.append(("run_plain_nock", run_cmd("run_plain_nock", "--no-cog",
                                                    "--no-checksum")))
        envs: dict[str, dict[str, str]] = {}
        if a.ref_src:
            ref = Path(a.ref_src).resolve()
            if not (ref / "mlri" / "__init__.py").is_file():
                ap.error(f"--ref-src {ref}: no mlri package there (give a source tree's src/)")
            steps.append(("run_plain_ref", [py, "-m", "mlri", *run_cmd("run_plain_ref",
                                                                        "--no-cog")[1:]]))
            envs["run_plain_ref"] = {"PYTHONPATH": str(ref)}
            commit = subprocess.run(["git", "-C", str(ref), "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True, check=False)
            res["ref"] = {"src": str(ref), "git_commit": commit.stdout.strip() or None}
        steps = [(n, c, work / n) for n, c in steps if n not in skip]
        rounds: dict[str, list[dict]] = {n: [] for n, _, _ in steps}
        warmup_rounds: dict[str, list[dict]] = {n: [] for n, _, _ in steps}
        for rnd in range(a.warmup + a.repeat):
            timed = rnd >= a.warmup
            for name, cmd, outdir in steps:
                if outdir.exists():
                    shutil.rmtree(outdir)
                warm_s = None if a.no_warm else warm([lst, evi])
                r = child(cmd, envs.get(name))
                r["warm_s"] = warm_s
                stdout = r.pop("stdout")
                r["output_bytes"] = dir_size(outdir)
                r["mpx_per_s"] = px / r["wall_s"] / 1e6
                if name.startswith("floor"):
                    r.update(json.loads(stdout.strip().splitlines()[-1]))
                else:
                    man = json.loads((outdir / "manifest.json").read_text())
                    r["timing"] = man["timing"]
                if a.decompose:
                    r["encode_cpu_s"] = encode_probe(outdir)
                (rounds if timed else warmup_rounds)[name].append(r)
                print(f"{name:10s} wall {r['wall_s']:7.1f} s  {r['mpx_per_s']:6.3f} Mpx/s  "
                      f"cpu {r['cpu_s']:7.1f} s (user {r['user_s']:.1f}, sys {r['sys_s']:.1f})  "
                      f"peak RSS {r['peak_rss_mb']:7.0f} MB  "
                      f"out {r['output_bytes'] / 1e9:6.2f} GB"
                      + (f"  timing {r['timing']}" if "timing" in r else
                         f"  tiles {r['tiles_s']:.1f} s finalize {r['finalize_s']:.1f} s")
                      + (f"  encode {r['encode_cpu_s']['total']:.1f} CPU-s"
                         if "encode_cpu_s" in r else "")
                      + ("  (warm-up, untimed)" if not timed else
                         f"  (round {rnd + 1 - a.warmup}/{a.repeat})" if a.repeat > 1 else ""),
                      flush=True)
                shutil.rmtree(outdir, ignore_errors=True)  # disk is shared
        for name, runs in rounds.items():
            walls = sorted(r["wall_s"] for r in runs)
            med = float(np.median(walls))
            # the record of the median round, with every round's times
            res[name] = {**min(runs, key=lambda r: abs(r["wall_s"] - med)), "wall_s": med,
                         "cpu_s": float(np.median([r["cpu_s"] for r in runs])),
                         "rounds": [_round_record(r) for r in runs]}
        if a.warmup:
            res["warmup_rounds"] = {n: [_round_record(r) for r in runs]
                                    for n, runs in warmup_rounds.items()}
        for run_name, floor_name in (("run_plain", "floor_plain"), ("run_cog", "floor_cog"),
                                     ("run_cog", "floor_plain"),
                                     ("run_plain_ref", "floor_plain"),
                                     ("run_plain", "run_plain_ref"),
                                     ("run_plain_nock", "floor_plain"),
                                     ("run_plain", "run_plain_nock")):
            if run_name in res and floor_name in res:
                ratio = res[run_name]["wall_s"] / res[floor_name]["wall_s"]
                res[f"ratio_{run_name}_vs_{floor_name}"] = ratio
                per = [r["wall_s"] / f["wall_s"]
                       for r, f in zip(rounds[run_name], rounds[floor_name], strict=True)]
                spread = (f" (medians of {a.repeat} rounds; per round {min(per):.2f}-"
                          f"{max(per):.2f})" if a.repeat > 1 else "")
                if a.repeat > 1:
                    res[f"ratio_{run_name}_vs_{floor_name}_per_round"] = per
                target = (" (target <= 1.3)" if floor_name.startswith("floor")
                          and run_name != "run_plain_nock" else "")
                print(f"{run_name} / {floor_name} = {ratio:.2f}{spread}{target}")
    finally:
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=2, default=str) + "\n")
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
            print(f"removed {work}")


if __name__ == "__main__":
    main()
