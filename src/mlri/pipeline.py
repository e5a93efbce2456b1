"""The raster pipeline: annual LST/EVI rasters in, MLRI + trend + classes out (``mlri run``).

:func:`run` reads the inputs tile by tile (:mod:`mlri.io`, :mod:`mlri.tiling`), computes each
tile with the recipe's chain (:func:`mlri.recipe.compute_block`: index → float32 MLRI → trend →
p-values → classes), and writes the run folder of :mod:`mlri.products` (Cloud-Optimized
GeoTIFFs plus ``summary.json`` and ``manifest.json``).  Every file is written under a
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

from . import _significance_run as sigrun
from . import api, products
from ._cloud import remote_options
from ._cluster import dask_client, require
from ._manifest import build_manifest, file_digest
from ._validation import flag, integer
from ._outputs import (
    OutputSet,
    atomic_raster,
    output_bytes,
    preflight,
    raster_profile,
    write_json,
)
from ._unitcheck import YearValueError
from .classes import CLASS_COLORS, CLASS_LABELS, FLAG_NODATA
from .io import InputError, InputSet, open_inputs
from .products import (
    ONSET_BANDS,
    ONSET_NAME,
    OUTPUT_NAMES,
    SIGNIFICANCE_BANDS,
    SIGNIFICANCE_NAME,
    TREND_BANDS,
    SummaryAccumulator,
    describe_rasters,
    format_summary,
    is_stable,
    pack_onset,
    pack_trend,
    raster_files,
    sensor_sample_stride,
    sensor_summary,
    straddles_sensor_switch,
    write_aux_xml,
)
from .products import (
    summary as make_summary,
)
from .recipe import Options, Recipe, SignificancePlan, compute_block
from .tiling import plan_windows, progress_bar, run_tiled

__all__ = [
    "CLASS_COLORS",
    "CLASS_LABELS",
    "FLAG_NODATA",
    "OUTPUT_NAMES",
    "SIGNIFICANCE_BANDS",
    "SIGNIFICANCE_NAME",
    "TREND_BANDS",
    "RunResult",
    "StatsOptions",
    "compute_tile",
    "format_summary",
    "run",
]

#: The chain's options (defined once, in :mod:`mlri.recipe`).
StatsOptions = Options


@dataclass
class TileResult:
    mlri: np.ndarray        # float32 (T, h, w)
    trend: np.ndarray       # float32 (len(TREND_BANDS), h, w)
    classes: np.ndarray     # uint8 (h, w)
    flags: np.ndarray       # uint8 (h, w)
    #: int64 (3, T): pixels with a finite LST, EVI and MLRI per year (Block.valid)
    valid: np.ndarray
    pvalues: np.ndarray | None = None  # float32 (2, h, w): p_increase, p_decrease
    onset: np.ndarray | None = None    # float32 (len(ONSET_BANDS), h, w) with onset=True
    #: (global flat index, lst (T, k), evi (T, k)) of sampled non-restoring pixels
    sample: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def compute_tile(lst: np.ndarray, evi: np.ndarray, years: Sequence[float],
                 opts: Options | None = None, n_threads: int | None = None, *,
                 row0: int = 0, col0: int = 0, recipe: Recipe | None = None,
                 sample_stride: int | None = None, width: int = 0) -> TileResult:
    """Everything the pipeline computes for one ``(T, h, w)`` tile: :func:`mlri.recipe.compute_block`
    packed into the bands of the output files.

    ``row0``/``col0`` are the tile's global offsets (the permutation test's random stream of a
    pixel depends on its global row/column); ``recipe`` carries the validated options and the
    map-wide significance settings (default: ``opts`` prepared here, the paper rule).
    """
    if recipe is None:
        recipe = (opts or Options()).prepare(years)
    b = compute_block(lst, evi, years, recipe, n_threads, row0=row0, col0=col0)
    assert b.sen_ci is not None
    trend = pack_trend(b.trend, b.dropped, b.sen_ci)
    pvalues = None
    if recipe.plan.needs_pvalues and b.pvalues is not None:
        pvalues = np.stack([np.asarray(b.pvalues[0], dtype=np.float32),
                            np.asarray(b.pvalues[1], dtype=np.float32)])
    assert b.classes is not None and b.flags is not None
    onset = pack_onset(b.onset) if b.onset is not None else None
    sample = None
    if sample_stride:
        h, w = b.classes.shape
        # the tile's part of the global grid (rows and columns divisible by the stride): the
        # same pixels in the same order as a mask over the whole tile, at 1/stride^2 the work
        r0, c0 = -row0 % sample_stride, -col0 % sample_stride
        grid = (slice(r0, None, sample_stride), slice(c0, None, sample_stride))
        sel = is_stable(b.classes[grid])
        rows = np.arange(row0 + r0, row0 + h, sample_stride, dtype=np.int64)
        cols = np.arange(col0 + c0, col0 + w, sample_stride, dtype=np.int64)
        gidx = (rows[:, None] * max(width, col0 + w) + cols[None, :])[sel]
        # (select, then widen: widening the whole tile first cost ~6 % of a run's CPU)
        sample = (gidx, np.asarray(lst)[:, grid[0], grid[1]][:, sel].astype(np.float64),
                  np.asarray(evi)[:, grid[0], grid[1]][:, sel].astype(np.float64))
    return TileResult(b.mlri, trend, b.classes, b.flags, b.valid, pvalues, onset, sample)


@dataclass
class RunResult:
    """What :func:`run` produced."""

    out_dir: Path
    files: dict[str, Path]
    summary: dict[str, Any]
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _digest_worker(paths: Sequence[str], out: dict[str, dict[str, Any]],
                   stop: threading.Event) -> None:
    for p in paths:
        if stop.is_set():
            return
        try:
            digest = file_digest(p, stop=stop)
            if stop.is_set():  # (cut short: no digest)
                return
            out[p] = {"size": Path(p).stat().st_size, "sha256": digest}
        except OSError as err:  # reported, never fatal
            out[p] = {"error": str(err)}


# compression levels GDAL accepts per codec (deflate 10-12 need GDAL built with libdeflate)
_LEVELS = {"deflate": (1, 12), "zstd": (1, 22)}


def _compression(compress: str, level: int | None) -> tuple[str, int]:
    """The codec and its level (default 1), or a ValueError naming the parameter."""
    comp = str(compress).lower()
    if level is None:
        return comp, 1
    lo_hi = _LEVELS.get(comp)
    if lo_hi is None:
        msg = f"level applies to compress='deflate' or 'zstd', not to compress={compress!r}"
        raise ValueError(msg)
    if not lo_hi[0] <= int(level) <= lo_hi[1]:
        msg = f"level for compress={comp!r} must be in [{lo_hi[0]}, {lo_hi[1]}], got {level!r}"
        raise ValueError(msg)
    return comp, int(level)


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
    options = Options.from_kwargs(options, **stats)
    comp, level = _compression(compress, level)
    tile = integer(tile, "tile")
    cog, overviews, checksum = (flag(cog, "cog"), flag(overviews, "overviews"),
                                flag(checksum, "checksum"))
    inputs = open_inputs(lst, evi, years=years, pattern=pattern)
    # The inputs' SHA-256 from here on: the start-up below (options, disk space, unit checks,
    # output files: 0.4-1 s on a Landsat scene) leaves a core idle; on any error the thread stops
    # within one read.
    digests: dict[str, dict[str, Any]] = {}
    dig_stop = threading.Event()
    dig_thread = None
    if checksum:
        dig_thread = threading.Thread(target=_digest_worker, args=(inputs.paths, digests,
                                                                   dig_stop), daemon=True)
        dig_thread.start()
    try:
        yrs = [float(y) for y in inputs.years]
        recipe = options.prepare(yrs)
        plan = recipe.plan
        preflight(out, _output_bytes(inputs, plan, cog=cog, overviews=overviews,
                                        onset=options.onset),
                  check_space=check_disk_space,
                  what=f"a {inputs.grid.width} x {inputs.grid.height} px run")
        if scheduler:  # fail before any I/O when dask.distributed is missing
            require("distributed", "mlri run --scheduler")
        inputs.check_units(options.lst_unit)
        n_threads = None if threads is None else int(threads)
        gdal_threads = str(n_threads) if n_threads else "ALL_CPUS"
        g = inputs.grid
        if windows is None:
            windows = plan_windows(g.width, g.height, tile, inputs.block_shapes)
        blocksize = 512 if max(g.width, g.height) > 256 else 256

        def profile(count: int, dtype: str, nodata: Any) -> dict[str, Any]:
            return raster_profile(crs=g.crs, transform=g.transform, width=g.width,
                                  height=g.height, count=count, dtype=dtype, nodata=nodata,
                                  blocksize=blocksize, compress=comp, zlevel=level,
                                  num_threads=gdal_threads)

        acc = SummaryAccumulator(len(yrs))
        timing = {"read_s": 0.0, "compute_s": 0.0, "write_s": 0.0}

        run_warnings: list[str] = []
        import rasterio

        ov_cont = "average" if overviews else None
        ov_cat = "nearest" if overviews else None
        cache = int(max(64, min(512, 8 * tile * tile * (len(yrs) + 12) / 2**20))) * 2**20
        if plan.needs_map_pass:
            sigrun.first_pass(recipe, inputs, windows, yrs, n_threads, quiet=quiet)
        with OutputSet(out, (*OUTPUT_NAMES, SIGNIFICANCE_NAME, ONSET_NAME),
                       overwrite=overwrite, command="run") as outset, \
                rasterio.Env(GDAL_CACHEMAX=cache, GDAL_NUM_THREADS=gdal_threads,
                             **remote_options(inputs.paths)), \
                contextlib.ExitStack() as stack:
            ds: dict[str, Any] = {}
            # the sensor-step diagnostic samples non-restoring pixels during the tile loop
            stride = (sensor_sample_stride(g.width, g.height)
                      if straddles_sensor_switch(yrs) else None)
            specs = [(r.name, profile(len(yrs) if r.bands is None else len(r.bands), r.dtype,
                                      r.nodata), ov_cat if r.categorical else ov_cont)
                     for r in raster_files(plan.needs_pvalues, options.onset)]
            final_bar = _LazyBar(len(specs), quiet=quiet,
                                 desc="writing COGs" if cog else "closing", unit="file")
            stack.callback(final_bar.close)
            for name, prof, ovr in specs:
                stack.callback(final_bar.update, name)
                ds[name] = stack.enter_context(atomic_raster(
                    outset.stage(name), prof, cog=cog, overview_resampling=ovr))
            describe_rasters(ds, inputs.years, options)
            reader = stack.enter_context(inputs.open())
            client = None
            in_flight = 1
            if scheduler:
                client = stack.enter_context(dask_client(scheduler))
                n_workers = max(1, len(client.scheduler_info().get("workers", {})))
                in_flight = 2 * n_workers

            def read(w: Any) -> tuple[np.ndarray, np.ndarray]:
                t = time.perf_counter()
                a = reader.read(inputs.lst, w)
                b = reader.read(inputs.evi, w)
                timing["read_s"] += time.perf_counter() - t
                return a, b

            def compute(w: Any, data: tuple[np.ndarray, np.ndarray]) -> Any:
                if client is not None:
                    return client.submit(compute_tile, data[0], data[1], yrs, options, 1,
                                         row0=int(w.row_off), col0=int(w.col_off),
                                         recipe=recipe, sample_stride=stride,
                                         width=g.width, pure=False)
                t = time.perf_counter()
                try:
                    r = compute_tile(data[0], data[1], yrs, options, n_threads,
                                     row0=int(w.row_off), col0=int(w.col_off), recipe=recipe,
                                     sample_stride=stride, width=g.width)
                except ValueError as err:
                    src = f"LST input: {inputs.lst.describe()}"
                    if isinstance(err, YearValueError):  # name that year's file
                        stack = inputs.lst if err.variable == "lst" else inputs.evi
                        lay = stack.layers[err.index]
                        src = f"{err.variable.upper()} input: {lay.path}, band {lay.band}"
                    msg = (f"{err} ({src}; window rows {w.row_off}-{w.row_off + w.height}, "
                           f"cols {w.col_off}-{w.col_off + w.width})")
                    raise InputError(msg) from err
                acc.add_block(r.trend, r.classes, r.flags, r.valid, r.onset, r.sample)
                timing["compute_s"] += time.perf_counter() - t
                return r

            def write(w: Any, r: TileResult) -> None:
                if client is not None:
                    acc.add_block(r.trend, r.classes, r.flags, r.valid, r.onset, r.sample)
                t = time.perf_counter()
                ds["mlri.tif"].write(r.mlri, window=w)
                ds["trend.tif"].write(r.trend, window=w)
                ds["classes.tif"].write(r.classes, 1, window=w)
                ds["flags.tif"].write(r.flags, 1, window=w)
                if r.pvalues is not None:
                    ds[SIGNIFICANCE_NAME].write(r.pvalues, window=w)
                if r.onset is not None:
                    ds[ONSET_NAME].write(r.onset, window=w)
                timing["write_s"] += time.perf_counter() - t

            total = g.width * g.height
            quicklook_import = products.preload_quicklook()  # overlaps the tiles
            with progress_bar(total, quiet=quiet, desc="mlri run") as bar:
                run_tiled(windows, read, compute, write, prefetch=2, progress=bar,
                          in_flight=in_flight)
            timing["tiles_s"] = round(time.perf_counter() - t0, 3)
            _check_data(acc, inputs)
            run_warnings.extend(_year_warnings(acc, inputs))
            run_warnings.extend(_nothing_classified(acc, inputs, options))
            summary = make_summary(acc, inputs.grid, inputs.years, options, plan.describe(),
                                   run_warnings)
            if stride:
                summary["sensor_step"] = sensor_summary(acc, inputs.years, n_threads)
            write_json(outset.stage("summary.json"), summary)
            write_aux_xml(outset.stage("classes.tif.aux.xml"))
            # Leaving the ExitStack finalises the rasters (COG rewrite) one by one.
            t_fin = time.perf_counter()
            reader.close()
            final_bar.start()
            stack.close()
            timing["finalize_s"] = round(time.perf_counter() - t_fin, 3)
            products.write_quicklook(outset, summary, out, quicklook_import)
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
            if options.onset:
                files[ONSET_NAME] = outset.path(ONSET_NAME)
            manifest = build_manifest(
                command="run", parameters=params, inputs=inputs.paths,
                outputs=[f for n, f in files.items() if n != "manifest.json"],
                started=t_start, checksum=False,
                extra={
                    "years": inputs.years,
                    "grid": g.as_dict(),
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
                    "output_sizes": {n: _size(outset.stage(n)) for n in files
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
            if not options.onset:
                with contextlib.suppress(FileNotFoundError):
                    (Path(out) / ONSET_NAME).unlink()
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


def _check_data(acc: SummaryAccumulator, inputs: InputSet) -> None:
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


def _year_warnings(acc: SummaryAccumulator, inputs: InputSet) -> list[str]:
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


def _output_bytes(inputs: InputSet, plan: SignificancePlan, *, cog: bool,
                  overviews: bool, onset: bool = False) -> int:
    """Peak disk use of the rasters :func:`run` writes (see mlri._outputs.output_bytes)."""
    bands = [(1, "uint8"), (1, "uint8"), (len(TREND_BANDS), "float32"),
             (len(inputs.years), "float32")]
    if plan.needs_pvalues:
        bands.append((len(SIGNIFICANCE_BANDS), "float32"))
    if onset:
        bands.append((len(ONSET_BANDS), "float32"))
    g = inputs.grid
    return output_bytes([(g.width, g.height, n, dt) for n, dt in bands], cog=cog,
                        overviews=overviews, block=512 if max(g.width, g.height) > 256 else 256)


def _nothing_classified(acc: SummaryAccumulator, inputs: InputSet,
                        opts: Options) -> list[str]:
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

