"""The work of one mine: composites -> :func:`mlri.pipeline.run` -> zonal table.

:func:`process_mine` runs in a worker process (or a dask worker) and never raises: a failure is
returned as a record with ``status="failed"`` and the reason, so one bad mine never stops the
others.  Its folder ``<study>/mines/<id>/`` holds::

    composites/        annual EVI/LST composites (scene studies only; mlri composite layout)
    run/               what ``mlri run`` writes (classes.tif, mlri.tif, trend.tif, ...)
    zonal.csv          the mine's row of the per-mine table (mlri.sites.zonal_stats, with the
                       onset / sensor step / Sen interval columns of mlri.sites.diagnostics)
    mlri.csv           mean MLRI per class and year of the mine
    onset.csv          hectares per onset year of the mine (header only without onset.tif)
    diagnostics.json   onset, sensor step and Sen's slope interval of the mine
    mine.json          completion marker, written last: key, grid, timings, files

A folder without ``mine.json`` (or with another key) is not finished and is redone from scratch.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .plan import MARKER, MineTask

__all__ = ["process_mine"]

#: Every file of a finished mine folder (relative), besides the run and composite folders.
MINE_FILES = ("zonal.csv", "mlri.csv", "onset.csv", "diagnostics.json", "run/classes.tif",
              "run/mlri.tif", "run/flags.tif", "run/manifest.json")


def _set_threads(n: int | None) -> None:
    if n:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(n)


def worker_init(threads: int | None) -> None:
    """Process-pool initializer: cap the OpenMP/BLAS threads of this worker."""
    _set_threads(threads)
    warnings.simplefilter("ignore")


def _one_mine(task: MineTask) -> Any:
    import shapely

    from ..sites.polygons import Mines

    g = shapely.from_wkb(task.geom_wkb)
    attrs = {k: [v] for k, v in task.attrs.items()}
    return Mines(ids=[task.id], geoms=np.array([g], dtype=object), crs=task.geom_crs,
                 attrs=attrs, status=["ok"], notes=[""], source=f"mine {task.id}")


def process_mine(task: MineTask) -> dict[str, Any]:
    """Do the whole per-mine work; return its record (``status`` "done" or "failed").

    A finished mine that only lacks its class map (``task.reuse``) gets the map drawn and stays
    "reused" (see :func:`add_map`)."""
    if task.reuse is not None:
        return add_map(task)
    t0 = time.perf_counter()
    rec: dict[str, Any] = {"id": task.id, "index": task.index, "key": task.key,
                           "folder": task.folder, "pid": os.getpid()}
    folder = Path(task.folder)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rec.update(_work(task, folder))
        rec["warnings"] = sorted({str(w.message) for w in caught})[:20]
        rec["status"] = "done"
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        from .._outputs import write_json

        write_json(folder / MARKER, rec)  # the completion marker, last
    except KeyboardInterrupt:
        raise
    except Exception as err:  # noqa: BLE001 - every failure is reported, never fatal
        rec.update(status="failed", reason=_reason(err),
                   seconds=round(time.perf_counter() - t0, 3),
                   traceback="".join(traceback.format_exception(err))[-4000:])
    return rec


def _reason(err: BaseException) -> str:
    from ..landsat.composite import NoScenesError

    text = str(err) or type(err).__name__
    if isinstance(err, NoScenesError):
        return f"no usable scene: {text}"
    return f"{type(err).__name__}: {text}" if not isinstance(err, (ValueError, OSError)) \
        else text


def _work(task: MineTask, folder: Path) -> dict[str, Any]:
    from .. import pipeline
    from .._outputs import write_json
    from ..sites.diagnostics import mine_diagnostics
    from ..sites.zonal import zonal_stats

    if folder.exists():
        shutil.rmtree(folder)  # unfinished or outdated: redo from scratch
    folder.mkdir(parents=True)
    timing: dict[str, float] = {}
    info: dict[str, Any] = {}
    if task.scenes:
        from rasterio.transform import Affine

        from ..landsat.composite import CompositeOptions, write_composites
        from ..landsat.grid import Grid

        g = task.grid or {}
        grid = Grid(g["crs"], Affine(*g["transform"]), int(g["width"]), int(g["height"]))
        kw = dict(task.composite)
        for k in ("months", "variables", "sensors"):
            if k in kw:
                kw[k] = tuple(kw[k])
        opts = CompositeOptions(**{**kw, "n_threads": task.threads})
        t = time.perf_counter()
        man = write_composites(task.scenes, grid, task.years or [], folder / "composites",
                               options=opts, on_error="skip", cog=False)
        timing["composite_s"] = round(time.perf_counter() - t, 3)
        info["n_scenes"] = len(man.get("scenes_used", []))
        info["years_skipped"] = [y["year"] for y in man.get("years_skipped", [])]
        lst = evi = folder / "composites"
        years = None  # the composited years (years without any scene are skipped)
    else:
        lst = evi = Path(task.rasters or "")
        years = task.years
    t = time.perf_counter()
    res = pipeline.run(lst, evi, folder / "run", years=years, pattern=task.raster_pattern,
                       options=pipeline.StatsOptions(**task.stats), threads=task.threads,
                       quiet=True, cog=task.cog, overviews=task.overviews, checksum=False)
    timing["run_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    run = folder / "run"
    zr = zonal_stats(run / "classes.tif", _one_mine(task), mlri=run / "mlri.tif",
                     flags=run / "flags.tif")
    timing["zonal_s"] = round(time.perf_counter() - t, 3)
    _check_pixels(zr.table.row(0))
    t = time.perf_counter()
    diag = mine_diagnostics(run, zr.mines, n_threads=task.threads)
    diag.add_columns(zr.table)
    zr.table.to_csv(folder / "zonal.csv")
    zr.mlri_table().to_csv(folder / "mlri.csv")
    diag.onset_table().to_csv(folder / "onset.csv")
    write_json(folder / "diagnostics.json", diag.as_json())
    timing["diagnostics_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    files = list(MINE_FILES)
    if task.maps and _write_map(folder / "map.png", run / "classes.tif", zr.mines.geoms[0],
                                zr.table.row(0), task):
        files.append("map.png")
        timing["map_s"] = round(time.perf_counter() - t, 3)
    from ..io import Grid as RasterGrid
    from ..io._grid import _grid_of

    written = RasterGrid(*_grid_of(os.fspath(run / "classes.tif")))  # the grid the run wrote
    crs = written.crs
    return {"grid": written.as_dict(), "epsg": crs.to_epsg() if crs else None,
            "years": _years(run, res), "timing": timing,
            "run_warnings": list(res.warnings), "zonal_status": zr.table["status"][0],
            "files": files, **info}


def _check_pixels(row: dict[str, Any]) -> None:
    """A ValueError (the mine fails, with this reason) unless the mine has classified pixels:
    a mine that covers no pixel, or none with a class, has no shares to analyse."""
    status = row.get("status")
    if status not in ("ok", "partial"):
        why = {"no pixels": "covers no pixel centre of its grid (too small or too thin a "
                            "polygon)",
               "outside": "lies outside its rasters"}.get(str(status), row.get("note") or "")
        msg = f"too few valid pixels: the mine {why} (zonal status {status!r})"
        raise ValueError(msg)
    if not row.get("n_valid"):
        msg = (f"too few valid pixels: none of the mine's {row.get('n_pixels')} pixel(s) is "
               f"classified (every one lacks enough valid years; see run/flags.tif)")
        raise ValueError(msg)


def add_map(task: MineTask) -> dict[str, Any]:
    """Draw the class map of a finished mine that has none (``task.reuse``: its record) from
    its kept ``run/classes.tif`` and ``zonal.csv``, and add it to its completion marker.

    Never recomputes the mine and never raises: a map that cannot be drawn leaves the mine
    reused, with the reason in ``map_error`` (the report says so where the map would be).
    """
    from .._outputs import write_json
    from ..sites._table import Table

    t0 = time.perf_counter()
    assert task.reuse is not None
    rec = dict(task.reuse)
    folder = Path(task.folder)
    try:
        import rasterio

        classes = folder / "run" / "classes.tif"
        with rasterio.open(classes) as ds:
            crs = ds.crs
        geom = _one_mine(task).to_crs(crs.to_wkt()).geoms[0]
        row = Table.from_csv(folder / "zonal.csv").row(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            drawn = _write_map(folder / "map.png", classes, geom, row, task)
        if drawn:
            marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
            marker["files"] = [*marker.get("files", []), "map.png"]
            marker.setdefault("timing", {})["map_s"] = round(time.perf_counter() - t0, 3)
            write_json(folder / MARKER, marker)  # atomic: the mine stays finished throughout
            rec["files"] = marker["files"]
    except KeyboardInterrupt:
        raise
    except Exception as err:  # noqa: BLE001 - the mine's results stand; only its map is lost
        rec["map_error"] = _reason(err)
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    return rec


def _years(run: Path, res: Any) -> list[int]:
    from ..sites.runfolder import years_of

    try:
        ys = years_of(run / "mlri.tif")
    except (OSError, ValueError):
        ys = []
    return [int(y) for y in ys] or [int(y) for y in (res.summary.get("years") or [])]


def _title(task: MineTask) -> str:
    name = task.attrs.get("name")
    return f"Mine {task.id}" + (f" ({name})" if name not in (None, "") else "")


def _write_map(path: Path, classes: Path, geom: Any, row: dict[str, Any],
               task: MineTask) -> bool:
    """The mine's class map for the report (rendered here, in parallel, and kept): ``geom``
    the polygon in the CRS of ``classes``, ``row`` the mine's zonal row (class shares)."""
    try:
        from ..sites.figures import mine_map, save_png
    except ImportError:  # pragma: no cover - matplotlib missing: the report has no maps
        return False
    pct = {c: row.get(f"pct_valid_{c}") for c in ("SI", "NI", "ND", "SD")}
    shares = {c: float("nan") if v is None else float(v) for c, v in pct.items()}
    fig = mine_map(classes, geom, title=_title(task), shares=shares)
    save_png(fig, path)
    return True
