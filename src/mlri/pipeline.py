"""The raster pipeline: annual LST/EVI rasters in, MLRI + trend + classes out (``mlri run``).

:func:`run` reads the inputs tile by tile (:mod:`mlri.tiling`), computes per tile exactly what
the array API computes on the whole stack (:func:`mlri.index` → float32 MLRI →
:func:`mlri.trend` → :func:`mlri.classify`), and writes Cloud-Optimized GeoTIFFs plus
``summary.json`` and ``manifest.json`` into an output folder.  Every file is written under a
temporary name and all are renamed together at the end (``manifest.json`` last): a failed or
interrupted run leaves nothing that looks complete.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import api
from ._cloud import remote_options
from ._outputs import (
    OutputSet,
    atomic_file,
    atomic_raster,
    build_manifest,
    file_digest,
    output_bytes,
    preflight,
    raster_profile,
    write_json,
)
from . import _significance_run as sigrun
from .io import InputError, InputSet, open_inputs
from .tiling import plan_windows, progress_bar, run_tiled

__all__ = [
    "CLASS_COLORS",
    "CLASS_LABELS",
    "FLAG_NODATA",
    "OUTPUT_NAMES",
    "TREND_BANDS",
    "RunResult",
    "StatsOptions",
    "compute_tile",
    "run",
]

#: Bands of ``trend.tif`` (float32, nodata NaN), in order.
TREND_BANDS: tuple[str, ...] = ("n_valid", "S", "var_S", "Z", "p", "sen_slope", "intercept",
                                "hurst", "years_dropped")
#: Every file :func:`run` writes into the output folder.
OUTPUT_NAMES: tuple[str, ...] = ("mlri.tif", "trend.tif", "classes.tif", "classes.tif.aux.xml",
                                 "flags.tif", "summary.json", "manifest.json")
#: Written when a calibrated test is selected (``significance != "paper"`` or ``fdr``):
#: float32 bands ``p_increase``, ``p_decrease`` (one-sided p-values of the chosen test).
SIGNIFICANCE_NAME = "significance.tif"
SIGNIFICANCE_BANDS: tuple[str, ...] = ("p_increase", "p_decrease")
#: ``flags.tif`` value for pixels without any LST+EVI observation (outside the data).
FLAG_NODATA = 255

#: Long names of the class codes (``classes.tif`` category names).
CLASS_LABELS: dict[int, str] = {
    0: "nodata",
    1: "SD",
    2: "ND",
    3: "NI",
    4: "SAI",
    5: "SCI",
    6: "SI_H_undefined",
}
CLASS_DESCRIPTIONS: dict[int, str] = {
    0: "no data / fewer than min_valid valid years",
    1: "significant degradation",
    2: "non-significant degradation",
    3: "non-significant improvement",
    4: "significant improvement, anti-persistent (H <= 0.5)",
    5: "significant improvement, consistent (H > 0.5)",
    6: "significant improvement, Hurst exponent undefined",
}
#: RGBA colour table of ``classes.tif`` (0 = transparent).
CLASS_COLORS: dict[int, tuple[int, int, int, int]] = {
    0: (0, 0, 0, 0),
    1: (202, 0, 32, 255),      # SD  red
    2: (244, 165, 130, 255),   # ND  salmon
    3: (217, 240, 163, 255),   # NI  pale green
    4: (120, 198, 121, 255),   # SAI mid green
    5: (0, 104, 55, 255),      # SCI dark green
    6: (65, 182, 196, 255),    # SI_H_undefined teal
}


@dataclass
class StatsOptions:
    """Statistical options of :func:`run` (those of :func:`mlri.index`, :func:`mlri.trend`
    and :func:`mlri.classify`)."""

    lst_unit: str = "K"
    evi_min: float = 0.0
    evi_policy: str = "mask"
    z_crit: float | None = None
    alpha: float | None = None
    min_valid: int = 10
    zero_slope_direction: str = "slope"
    hurst_method: str = "expanding"
    hurst_series: str = "diff"
    hurst_ddof: int = 0
    tau_min: int = 2
    gap: str = "ignore"
    degenerate: str = "drop"
    rel_tol: float = 1e-12
    corrected: bool = True
    significance: str = "paper"
    permutations: int = 199
    seed: int = 0
    reference: str | None = None
    fdr: float | None = None

    def index_kw(self) -> dict[str, Any]:
        return {"lst_unit": self.lst_unit, "evi_min": self.evi_min,
                "evi_policy": self.evi_policy}

    def trend_kw(self) -> dict[str, Any]:
        return {"hurst_method": self.hurst_method, "hurst_series": self.hurst_series,
                "hurst_ddof": self.hurst_ddof, "tau_min": self.tau_min, "gap": self.gap,
                "degenerate": self.degenerate, "rel_tol": self.rel_tol,
                "corrected": self.corrected}

    def classify_kw(self) -> dict[str, Any]:
        return {"z_crit": self.z_crit, "alpha": self.alpha, "min_valid": self.min_valid,
                "zero_slope_direction": self.zero_slope_direction}

    def validate(self, years: Sequence[int]) -> None:
        """Run the API once on a 1-pixel dummy so bad options fail before any I/O."""
        t = len(years)
        lst = np.full((t, 1), 20.0 if self.lst_unit == "C" else 300.0)
        evi = np.linspace(0.2, 0.4, t).reshape(t, 1)
        idx = api.index(lst, evi, years, **self.index_kw(), n_threads=1)
        tr = api.trend(idx.mlri, years, **self.trend_kw(), n_threads=1)
        api.classify(tr, **self.classify_kw(), dropped=idx.dropped, n_threads=1)
        sigrun.build_plan(self)


@dataclass
class TileResult:
    mlri: np.ndarray        # float32 (T, h, w)
    trend: np.ndarray       # float32 (9, h, w)
    classes: np.ndarray     # uint8 (h, w)
    flags: np.ndarray       # uint8 (h, w)
    pvalues: np.ndarray | None = None  # float32 (2, h, w): p_increase, p_decrease


def compute_tile(lst: np.ndarray, evi: np.ndarray, years: Sequence[float],
                 opts: StatsOptions | None = None, n_threads: int | None = None, *,
                 row0: int = 0, col0: int = 0,
                 plan: sigrun.SignificancePlan | None = None) -> TileResult:
    """Everything the pipeline computes for one ``(T, h, w)`` tile, through the public API.

    MLRI is cast to float32 (the stored precision) before the trend, so re-running the trend
    on ``mlri.tif`` reproduces ``trend.tif``.  ``flags`` is set to :data:`FLAG_NODATA` where
    a pixel has no observation at all (no valid year and no dropped year).

    ``row0``/``col0`` are the tile's global offsets (the permutation test's random stream of a
    pixel depends on its global row/column); ``plan`` carries the map-wide significance
    settings (:mod:`mlri._significance_run`), default the paper rule.
    """
    opts = opts or StatsOptions()
    idx = api.index(lst, evi, years, **opts.index_kw(), n_threads=n_threads)
    m32 = np.ascontiguousarray(idx.mlri, dtype=np.float32)
    tr = api.trend(m32, years, **opts.trend_kw(), n_threads=n_threads)
    pvalues = None
    if plan is not None and plan.needs_pvalues:
        p_inc, p_dec = sigrun.tile_pvalues(plan, lst, evi, years, tr, opts, row0, col0,
                                           n_threads)
        classes, flags = sigrun.classify_tile(plan, tr, p_inc, p_dec, opts, idx.dropped)
        pvalues = np.stack([np.asarray(p_inc, dtype=np.float32),
                            np.asarray(p_dec, dtype=np.float32)])
    else:
        classes, flags = api.classify(tr, **opts.classify_kw(), dropped=idx.dropped,
                                      n_threads=n_threads)
    dropped = np.asarray(idx.dropped)
    shape = m32.shape[1:]
    trend = np.empty((len(TREND_BANDS), *shape), dtype=np.float32)
    for i, arr in enumerate((tr.n_valid, tr.s, tr.var_s, tr.z, tr.p, tr.slope, tr.intercept,
                             tr.hurst, dropped)):
        trend[i] = arr
    flags = np.array(flags, dtype=np.uint8, copy=True).reshape(shape)
    flags[(np.asarray(tr.n_valid) == 0) & (dropped == 0)] = FLAG_NODATA
    return TileResult(m32, trend, np.asarray(classes, dtype=np.uint8).reshape(shape), flags,
                      pvalues)


@dataclass
class RunResult:
    """What :func:`run` produced."""

    out_dir: Path
    files: dict[str, Path]
    summary: dict[str, Any]
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class _Accumulator:
    def __init__(self, n_years: int) -> None:
        self.class_counts = np.zeros(256, dtype=np.int64)
        self.flag_bits = np.zeros(8, dtype=np.int64)
        self.lst_valid = np.zeros(n_years, dtype=np.int64)
        self.evi_valid = np.zeros(n_years, dtype=np.int64)
        self.mlri_valid = np.zeros(n_years, dtype=np.int64)
        self.with_data = 0
        self.with_dropped = 0
        self.lock = threading.Lock()

    def add_inputs(self, lst: np.ndarray, evi: np.ndarray) -> None:
        lv = np.isfinite(lst).sum(axis=(1, 2))
        ev = np.isfinite(evi).sum(axis=(1, 2))
        with self.lock:
            self.lst_valid += lv
            self.evi_valid += ev

    def add_result(self, r: TileResult) -> None:
        cc = np.bincount(r.classes.ravel(), minlength=256)
        f = r.flags[r.flags != FLAG_NODATA]
        bits = np.array([np.count_nonzero(f & (1 << b)) for b in range(8)])
        mv = np.isfinite(r.mlri).sum(axis=(1, 2))
        nd = int(np.count_nonzero(r.flags == FLAG_NODATA))
        drop = int(np.count_nonzero(r.trend[-1] > 0))
        with self.lock:
            self.class_counts += cc
            self.flag_bits += bits
            self.mlri_valid += mv
            self.with_data += r.classes.size - nd
            self.with_dropped += drop


def _band_tags(inputs: InputSet) -> dict[str, Any]:
    return {"MLRI_TOOL": "mlri", "MLRI_YEARS": ",".join(map(str, inputs.years))}


def _write_aux_xml(path: Path) -> None:
    """GDAL PAM side-car with the category names of classes.tif (read by GDAL/QGIS/ArcGIS)."""
    cats = "\n".join(f"      <Category>{CLASS_LABELS.get(i, '')}</Category>"
                     for i in range(max(CLASS_LABELS) + 1))
    text = ("<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n"
            f"{cats}\n    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n")
    with atomic_file(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _digest_worker(paths: Sequence[str], out: dict[str, dict[str, Any]],
                   stop: threading.Event) -> None:
    for p in paths:
        if stop.is_set():
            return
        try:
            out[p] = {"size": Path(p).stat().st_size, "sha256": file_digest(p)}
        except OSError as err:  # reported, never fatal
            out[p] = {"error": str(err)}


def run(lst: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
        evi: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
        out: str | os.PathLike[str], *,
        years: Sequence[int] | str | None = None,
        pattern: str | None = None,
        options: StatsOptions | None = None,
        tile: int = 512,
        threads: int | None = None,
        overwrite: bool = False,
        quiet: bool = False,
        cog: bool = True,
        compress: str = "deflate",
        level: int | None = None,
        overviews: bool = True,
        checksum: bool = True,
        windows: Sequence[Any] | None = None,
        scheduler: str | None = None,
        check_disk_space: bool = True,
        **stats: Any) -> RunResult:
    """Run the MLRI pipeline on annual LST/EVI rasters; write results into ``out``.

    Parameters
    ----------
    lst, evi : path, glob, folder or sequence of them
        Annual rasters (see :mod:`mlri.io`): one file per year or one multi-band stack.
    out : path
        Output folder (created).  Refused when it already holds results unless ``overwrite``.
    years : "2000-2011,2013-2019" or sequence of int, optional
        Years to use (a subset of those found), or the years of files/bands without a year
        in their name/description, in order.
    pattern : str, optional
        File-name pattern with ``{year}`` (and ``{var}``), e.g. ``"mine3_{var}_{year}.tif"``.
    options : StatsOptions, optional
        Statistical options; or pass them as keywords (``lst_unit="C"``, ``alpha=0.05``...).
    tile : int
        Processing window side in pixels (rounded to the inputs' block size).
    threads : int, optional
        OpenMP threads of the kernels and GDAL compression threads (default: all cores).
    cog : bool
        Write Cloud-Optimized GeoTIFFs (default); ``False`` writes plain tiled GeoTIFFs,
        compressed as the tiles are written (overviews, if any, are added at the end).
    compress, level : str, int
        GeoTIFF compression (``deflate``/``zstd``/``lzw``/``none``) and level (default 1 for
        deflate: ~3x faster than 6 for <1 % larger noisy float32 output).
    overviews : bool
        Internal overviews (average for continuous, nearest for categories).  Their cost
        is roughly that of compressing the full-resolution data once more.
    checksum : bool
        SHA-256 of every input in ``manifest.json`` (computed in a background thread).
    windows : sequence of rasterio Window, optional
        Explicit processing windows (testing); default :func:`mlri.tiling.plan_windows`.
    scheduler : str, optional
        Compute the tiles on a ``dask.distributed`` cluster: ``"local"`` / ``"local:N"`` (a
        LocalCluster of N single-threaded workers on 127.0.0.1) or a scheduler address
        (``"tcp://host:8786"``).  Reading, writing and the summary stay here; each tile runs
        :func:`compute_tile` with one OpenMP thread on a worker, so the outputs are the same,
        bit for bit, as without a scheduler.  Needs ``pip install mlri[dask]``.
    check_disk_space : bool
        Refuse to start (:class:`mlri._outputs.InsufficientSpaceError`) when the outputs and
        their uncompressed temporaries (an upper bound) exceed the free disk space of
        ``out``; ``False`` tries anyway (a full disk then fails cleanly, nothing published).

    Returns
    -------
    RunResult

    Raises
    ------
    mlri.io.InputError
        Bad inputs (the message names the file).
    mlri._outputs.OutputExistsError
        ``out`` holds results and ``overwrite`` is False.
    mlri._outputs.OutputError
        Another run is writing into ``out``; not enough disk space; an output could not be
        written completely (nothing is published).
    ValueError
        Bad options.
    """
    t_start = time.time()
    t0 = time.perf_counter()
    if options is None:
        options = StatsOptions(**stats)
    elif stats:
        options = StatsOptions(**{**asdict(options), **stats})
    inputs = open_inputs(lst, evi, years=years, pattern=pattern)
    yrs = [float(y) for y in inputs.years]
    options.validate(yrs)
    plan = sigrun.build_plan(options)
    preflight(out, _output_bytes(inputs, plan, cog=cog, overviews=overviews),
              check_space=check_disk_space,
              what=f"a {inputs.grid.width} x {inputs.grid.height} px run")
    mx = None
    if scheduler:
        from . import xarray as mx  # ImportError says: pip install mlri[dask]
    inputs.check_units(options.lst_unit)
    n_threads = None if threads is None else int(threads)
    gdal_threads = str(n_threads) if n_threads else "ALL_CPUS"
    g = inputs.grid
    if windows is None:
        windows = plan_windows(g.width, g.height, tile, inputs.block_shapes)
    comp = compress.lower()
    if level is None:
        level = {"deflate": 1, "zstd": 1}.get(comp, 1)
    blocksize = 512 if max(g.width, g.height) > 256 else 256

    def profile(count: int, dtype: str, nodata: Any) -> dict[str, Any]:
        return raster_profile(crs=g.crs, transform=g.transform, width=g.width,
                              height=g.height, count=count, dtype=dtype, nodata=nodata,
                              blocksize=blocksize, compress=comp, zlevel=level,
                              num_threads=gdal_threads)

    acc = _Accumulator(len(yrs))
    timing = {"read_s": 0.0, "compute_s": 0.0, "write_s": 0.0}
    digests: dict[str, dict[str, Any]] = {}
    dig_stop = threading.Event()
    dig_thread = None
    if checksum:
        dig_thread = threading.Thread(target=_digest_worker, args=(inputs.paths, digests,
                                                                   dig_stop), daemon=True)
        dig_thread.start()

    run_warnings: list[str] = []
    import rasterio

    ov_cont = "average" if overviews else None
    ov_cat = "nearest" if overviews else None
    cache = int(max(64, min(512, 8 * tile * tile * (len(yrs) + 12) / 2**20))) * 2**20
    try:
        if plan.mode == "reference" or plan.fdr is not None:
            sigrun.first_pass(plan, inputs, windows, yrs, options, n_threads,
                              options.reference, quiet=quiet)
        with OutputSet(out, (*OUTPUT_NAMES, SIGNIFICANCE_NAME),
                       overwrite=overwrite) as outset, \
                rasterio.Env(GDAL_CACHEMAX=cache, GDAL_NUM_THREADS=gdal_threads,
                             **remote_options(inputs.paths)), \
                contextlib.ExitStack() as stack:
            ds: dict[str, Any] = {}
            specs = [
                ("flags.tif", profile(1, "uint8", FLAG_NODATA), ov_cat),
                ("classes.tif", profile(1, "uint8", 0), ov_cat),
                ("trend.tif", profile(len(TREND_BANDS), "float32", float("nan")), ov_cont),
                ("mlri.tif", profile(len(yrs), "float32", float("nan")), ov_cont),
            ]
            if plan.needs_pvalues:
                specs.append((SIGNIFICANCE_NAME,
                              profile(len(SIGNIFICANCE_BANDS), "float32", float("nan")),
                              ov_cont))
            final_bar = _LazyBar(len(specs), quiet=quiet,
                                 desc="writing COGs" if cog else "closing", unit="file")
            stack.callback(final_bar.close)
            for name, prof, ovr in specs:
                stack.callback(final_bar.update, name)
                ds[name] = stack.enter_context(atomic_raster(
                    outset.stage(name), prof, cog=cog, overview_resampling=ovr))
            _describe_outputs(ds, inputs, options)
            reader = stack.enter_context(inputs.open())
            client = None
            in_flight = 1
            if mx is not None:
                client = stack.enter_context(mx.dask_client(scheduler))
                n_workers = max(1, len(client.scheduler_info().get("workers", {})))
                in_flight = 2 * n_workers

            def read(w: Any) -> tuple[np.ndarray, np.ndarray]:
                t = time.perf_counter()
                a = reader.read(inputs.lst, w)
                b = reader.read(inputs.evi, w)
                acc.add_inputs(a, b)
                timing["read_s"] += time.perf_counter() - t
                return a, b

            def compute(w: Any, data: tuple[np.ndarray, np.ndarray]) -> Any:
                if client is not None:
                    return client.submit(compute_tile, data[0], data[1], yrs, options, 1,
                                         row0=int(w.row_off), col0=int(w.col_off), plan=plan,
                                         pure=False)
                t = time.perf_counter()
                try:
                    r = compute_tile(data[0], data[1], yrs, options, n_threads,
                                     row0=int(w.row_off), col0=int(w.col_off), plan=plan)
                except ValueError as err:
                    msg = (f"{err} (LST input: {inputs.lst.describe()}; window rows "
                           f"{w.row_off}-{w.row_off + w.height}, cols "
                           f"{w.col_off}-{w.col_off + w.width})")
                    raise InputError(msg) from err
                acc.add_result(r)
                timing["compute_s"] += time.perf_counter() - t
                return r

            def write(w: Any, r: TileResult) -> None:
                if client is not None:
                    acc.add_result(r)
                t = time.perf_counter()
                ds["mlri.tif"].write(r.mlri, window=w)
                ds["trend.tif"].write(r.trend, window=w)
                ds["classes.tif"].write(r.classes, 1, window=w)
                ds["flags.tif"].write(r.flags, 1, window=w)
                if r.pvalues is not None:
                    ds[SIGNIFICANCE_NAME].write(r.pvalues, window=w)
                timing["write_s"] += time.perf_counter() - t

            total = g.width * g.height
            with progress_bar(total, quiet=quiet, desc="mlri run") as bar:
                run_tiled(windows, read, compute, write, prefetch=2, progress=bar,
                          in_flight=in_flight)
            timing["tiles_s"] = round(time.perf_counter() - t0, 3)
            _check_data(acc, inputs)
            run_warnings.extend(_year_warnings(acc, inputs))
            summary = _summary(acc, inputs, options)
            summary["significance"] = plan.describe()
            run_warnings.extend(_nothing_classified(acc, inputs, options))
            summary["warnings"] = run_warnings
            write_json(outset.stage("summary.json"), summary)
            _write_aux_xml(outset.stage("classes.tif.aux.xml"))
            # Leaving the ExitStack finalises the rasters (COG rewrite) one by one.
            t_fin = time.perf_counter()
            reader.close()
            final_bar.start()
            stack.close()
            timing["finalize_s"] = round(time.perf_counter() - t_fin, 3)
            if dig_thread is not None:
                dig_thread.join()
            params = {"lst": [os.fspath(p) for p in _listify(lst)],
                      "evi": [os.fspath(p) for p in _listify(evi)],
                      "out": os.fspath(out), "pattern": pattern, "tile": tile,
                      "threads": threads, "cog": cog, "compress": comp, "level": level,
                      "overviews": overviews, "scheduler": scheduler, **asdict(options)}
            timing = {k: round(v, 3) for k, v in timing.items()}
            timing["total_s"] = round(time.perf_counter() - t0, 3)
            files = {n: outset.path(n) for n in OUTPUT_NAMES}
            if plan.needs_pvalues:
                files[SIGNIFICANCE_NAME] = outset.path(SIGNIFICANCE_NAME)
            manifest = build_manifest(
                command="run", parameters=params, inputs=inputs.paths,
                outputs=[files[n] for n in OUTPUT_NAMES if n != "manifest.json"],
                started=t_start, checksum=False,
                extra={
                    "years": inputs.years,
                    "grid": {"crs": g.crs.to_string() if g.crs else None,
                             "transform": list(g.transform)[:6], "width": g.width,
                             "height": g.height},
                    "inputs_by_variable": {
                        "LST": [{"path": la.path, "band": la.band, "year": la.year}
                                for la in inputs.lst.layers],
                        "EVI": [{"path": la.path, "band": la.band, "year": la.year}
                                for la in inputs.evi.layers]},
                    "tiling": {"windows": len(windows), "tile": tile,
                               "window_shape": [int(windows[0].height), int(windows[0].width)]
                               if windows else None,
                               "input_blocks": inputs.block_shapes},
                    "threads": {"openmp": n_threads or int(api._core.max_threads()),
                                "gdal": gdal_threads},
                    "timing": timing,
                    "output_sizes": {n: _size(outset.stage(n)) for n in OUTPUT_NAMES
                                     if n != "manifest.json"},
                    "warnings": run_warnings,
                    "significance": plan.describe(),
                })
            for entry in manifest["inputs"]:
                d = digests.get(entry["path"])
                if d:
                    entry.update(d)
            write_json(outset.stage("manifest.json"), manifest)
            outset.commit()
            if not plan.needs_pvalues:
                # a significance.tif of an earlier (overwritten) run would contradict classes.tif
                with contextlib.suppress(FileNotFoundError):
                    (Path(out) / SIGNIFICANCE_NAME).unlink()
    finally:
        dig_stop.set()
    return RunResult(Path(out), files, summary, manifest, run_warnings)


class _LazyBar:
    """The finalisation bar: shown only once :meth:`start` is called (success path)."""

    def __init__(self, total: int, **kw: Any) -> None:
        self.total, self.kw, self.bar = total, kw, None

    def start(self) -> None:
        self.bar = progress_bar(self.total, **self.kw)

    def update(self, name: str = "") -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _size(p: Path) -> int | None:
    try:
        return p.stat().st_size
    except OSError:
        return None


def _listify(x: Any) -> list[Any]:
    if isinstance(x, (str, os.PathLike)):
        return [x]
    return list(x)


def _describe_outputs(ds: dict[str, Any], inputs: InputSet, opts: StatsOptions) -> None:
    tags = _band_tags(inputs)
    if SIGNIFICANCE_NAME in ds:
        sg = ds[SIGNIFICANCE_NAME]
        sg.update_tags(**tags, SIGNIFICANCE=opts.significance,
                       PERMUTATIONS=str(opts.permutations), SEED=str(opts.seed),
                       FDR=str(opts.fdr) if opts.fdr is not None else "")
        for b, name in enumerate(SIGNIFICANCE_BANDS, 1):
            sg.set_band_description(b, name)
    m = ds["mlri.tif"]
    m.update_tags(**tags, MLRI_DEFINITION="(max LST[first..i] / min EVI[first..i]) / "
                  "(LST_i / EVI_i), running extrema over valid years",
                  LST_UNIT=opts.lst_unit, EVI_MIN=str(opts.evi_min),
                  EVI_POLICY=opts.evi_policy)
    for b, y in enumerate(inputs.years, 1):
        m.set_band_description(b, str(y))
        m.update_tags(b, YEAR=str(y))
    t = ds["trend.tif"]
    t.update_tags(**tags, HURST_METHOD=opts.hurst_method, HURST_SERIES=opts.hurst_series)
    units = {"n_valid": "years", "S": "", "var_S": "", "Z": "", "p": "",
             "sen_slope": "MLRI per year", "intercept": f"MLRI at {inputs.years[0]}",
             "hurst": "", "years_dropped": "years"}
    for b, name in enumerate(TREND_BANDS, 1):
        t.set_band_description(b, name)
        if units[name]:
            t.set_band_unit(b, units[name])
    c = ds["classes.tif"]
    c.set_band_description(1, "class")
    c.write_colormap(1, CLASS_COLORS)
    c.update_tags(**tags, MIN_VALID=str(opts.min_valid),
                  Z_CRIT=str(opts.z_crit) if opts.z_crit is not None else "",
                  ALPHA=str(opts.alpha) if opts.alpha is not None else "")
    c.update_tags(1, **{f"CLASS_{k}": f"{v}: {CLASS_DESCRIPTIONS[k]}"
                        for k, v in CLASS_LABELS.items()})
    f = ds["flags.tif"]
    f.set_band_description(1, "flags")
    f.update_tags(**tags)
    f.update_tags(1, **{f"BIT_{v}": k for k, v in api.FLAG_BITS.items()},
                  NODATA_MEANING="255: no LST+EVI observation in any year")


def _check_data(acc: _Accumulator, inputs: InputSet) -> None:
    if acc.lst_valid.sum() == 0:
        msg = (f"the LST input {inputs.lst.describe()} has no valid pixel in any year "
               f"(all nodata/masked): check its nodata value and mask")
        raise InputError(msg)
    if acc.evi_valid.sum() == 0:
        msg = (f"the EVI input {inputs.evi.describe()} has no valid pixel in any year "
               f"(all nodata/masked): check its nodata value and mask")
        raise InputError(msg)
    if acc.with_data == 0:
        msg = (f"no pixel has a valid LST and EVI value in the same year (LST: "
               f"{inputs.lst.describe()}; EVI: {inputs.evi.describe()})")
        raise InputError(msg)


def _year_warnings(acc: _Accumulator, inputs: InputSet) -> list[str]:
    out = []
    for i, y in enumerate(inputs.years):
        for name, st, arr in (("LST", inputs.lst, acc.lst_valid),
                              ("EVI", inputs.evi, acc.evi_valid)):
            if arr[i] == 0:
                lay = st.layers[i]
                msg = (f"{name} {y} ({lay.path}, band {lay.band}) has no valid pixel; the "
                       f"year is missing everywhere")
                out.append(msg)
    return out


def _output_bytes(inputs: InputSet, plan: sigrun.SignificancePlan, *, cog: bool,
                  overviews: bool) -> int:
    """Peak disk use of the rasters :func:`run` writes (see mlri._outputs.output_bytes)."""
    bands = [(1, "uint8"), (1, "uint8"), (len(TREND_BANDS), "float32"),
             (len(inputs.years), "float32")]
    if plan.needs_pvalues:
        bands.append((len(SIGNIFICANCE_BANDS), "float32"))
    g = inputs.grid
    return output_bytes([(g.width, g.height, n, dt) for n, dt in bands], cog=cog,
                        overviews=overviews, block=512 if max(g.width, g.height) > 256 else 256)


def _nothing_classified(acc: _Accumulator, inputs: InputSet,
                        opts: StatsOptions) -> list[str]:
    """Why a run classified no pixel at all (a warning in the CLI and summary.json)."""
    if int(acc.class_counts[1:].sum()) > 0:
        return []
    n = len(inputs.years)
    if n < opts.min_valid:
        why = (f"the inputs hold {n} year(s) but a pixel needs min_valid={opts.min_valid} "
               f"valid MLRI years; add years or lower --min-valid (min_valid=)")
    elif int(acc.mlri_valid.sum()) == 0:
        why = (f"no pixel-year has a valid MLRI: EVI <= evi_min={opts.evi_min} (or LST/EVI "
               f"missing) in every year of every pixel; check the EVI input's values and "
               f"scale ({inputs.evi.describe()}), or --evi-min / --evi-policy clamp")
    else:
        best = int(acc.mlri_valid.max())
        why = (f"no pixel has min_valid={opts.min_valid} valid MLRI years (MLRI is valid in "
               f"at most {best} pixels in any one year); lower --min-valid (min_valid=) or "
               f"check the inputs' nodata")
    return [f"no pixel was classified (classes.tif is all nodata): {why}"]


def _summary(acc: _Accumulator, inputs: InputSet, opts: StatsOptions) -> dict[str, Any]:
    g = inputs.grid
    total = g.width * g.height
    classified = int(acc.class_counts[1:].sum())
    classes = []
    for code, name in CLASS_LABELS.items():
        n = int(acc.class_counts[code])
        classes.append({
            "code": code, "name": name, "description": CLASS_DESCRIPTIONS[code],
            "pixels": n, "area_ha": _r(g.area_ha(n)),
            "percent_of_classified": None if code == 0 or classified == 0 else
            round(100.0 * n / classified, 3),
            "percent_of_all": round(100.0 * n / total, 3) if total else None,
        })
    si = sum(int(acc.class_counts[c]) for c in (4, 5, 6))
    return {
        "pixels": total,
        "pixels_with_data": int(acc.with_data),
        "pixels_classified": classified,
        "pixel_size": [abs(g.transform.a), abs(g.transform.e)],
        "pixel_area_ha": _r(g.area_ha(1), 6),
        "area_ha": _r(g.area_ha(total)),
        "area_classified_ha": _r(g.area_ha(classified)),
        "crs": g.crs.to_string() if g.crs else None,
        "years": inputs.years,
        "classes": classes,
        "significant_improvement_percent": round(100.0 * si / classified, 3)
        if classified else None,
        "flags": {name: int(acc.flag_bits[int(bit).bit_length() - 1])
                  for name, bit in api.FLAG_BITS.items()},
        "pixels_with_dropped_years": int(acc.with_dropped),
        "valid_pixels_per_year": {
            str(y): {"LST": int(acc.lst_valid[i]), "EVI": int(acc.evi_valid[i]),
                     "MLRI": int(acc.mlri_valid[i])} for i, y in enumerate(inputs.years)},
        "min_valid": opts.min_valid,
        "note": ("MLRI uses running extrema, so it drifts upward by construction: about half "
                 "of stationary (unchanged) pixels test as significant improvement. Read SI "
                 "as 'better than the worst state seen so far', not as proof of restoration."),
    }


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def format_summary(summary: dict[str, Any]) -> str:
    """The class table printed by ``mlri run`` / ``mlri demo``."""
    rows = [f"{'code':>4}  {'class':<15} {'pixels':>10} {'area ha':>10} {'% classified':>13}"]
    for c in summary["classes"]:
        pct = c["percent_of_classified"]
        area = c["area_ha"]
        rows.append(f"{c['code']:>4}  {c['name']:<15} {c['pixels']:>10} "
                    f"{'' if area is None else f'{area:.1f}':>10} "
                    f"{'' if pct is None else f'{pct:.1f}':>13}")
    area = summary.get("area_classified_ha")
    rows.append(f"classified: {summary['pixels_classified']} of {summary['pixels']} pixels"
                + ("" if area is None else f" ({area:.1f} ha)"))
    return "\n".join(rows)
