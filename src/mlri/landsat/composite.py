"""Annual season composites of EVI and LST from Landsat C2 L2 scenes.

For each year: the per-pixel **maximum** over every masked scene of the season (default
June–September), independently for EVI and LST, plus observation counts.  The output grid is
processed in strips of bounded size; each scene is read by window (same UTM zone and lattice:
no resampling) or through a nearest-neighbour ``WarpedVRT`` (another zone/lattice), and the
masking / scaling / EVI / max-accumulation runs in one C++ kernel (OpenMP).

Files (:func:`write_composites`): ``EVI_YYYY.tif``, ``LST_YYYY.tif`` (float32, NaN nodata,
LST in Kelvin) and ``NOBS_YYYY.tif`` (uint16, bands: EVI observations, LST observations,
scenes with data), COG layout, written atomically; ``manifest.json`` lists the scenes used and
skipped with the reason.

What decides a composite (:class:`CompositeOptions`, the season, the scene selection) lives in
:mod:`mlri.landsat.options`; the per-year, per-strip engine in :mod:`mlri.landsat.engine`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# the engine's internals and the option constants stay importable from this module
from .engine import (  # noqa: F401
    _LAYER_SPEC,
    _gdal_env,
    _Layer,
    _prepare,
    _read_problem,
    _remote,
    _row_range,
    _SceneStat,
    _strips,
    _YearEngine,
)
from .grid import Grid
from .ids import LandsatFormatError
from .needs import scene_problem
from .options import (  # noqa: F401
    PAIRINGS,
    SENSOR_FAMILIES,
    VARIABLES,
    CompositeOptions,
    _options,
    parse_months,
    parse_years,
    select_scenes,
)
from .scene import LstUnavailableWarning, Scene, SceneError, SceneProblem, discover_scenes

__all__ = [
    "AnnualComposite",
    "CompositeOptions",
    "NoScenesError",
    "annual_composite",
    "output_names",
    "parse_months",
    "parse_years",
    "select_scenes",
    "write_composites",
]

NOBS_BANDS = ("n_obs_evi", "n_obs_lst", "n_scenes_with_data")
NOBS_NODATA = 65535


class NoScenesError(ValueError):
    """No usable scene for any requested year (the message summarises why scenes were skipped)."""


def output_names(year: int, variables: Sequence[str] = VARIABLES) -> list[str]:
    return [f"{v}_{year}.tif" for v in variables] + [f"NOBS_{year}.tif"]


_OUTPUT_RE = re.compile(r"(?:EVI|LST|NOBS)_\d{4}\.tif")


def _earlier_outputs(out: os.PathLike[str]) -> list[str]:
    """The rasters an earlier ``composite`` run wrote into ``out``, as its ``manifest.json``
    records them (per year ``files``, and the names of ``outputs``).

    An overwrite replaces them as well as this run's names (they depend on the years and
    variables, so another run's may differ): otherwise ``EVI_2021.tif`` of a run for
    2019-2021 would stay beside the manifest of a run for 2019 only, and ``mlri run`` would
    read it.  Only names of the composite pattern count, so a manifest of another command
    or an edited one never removes anything else.
    """
    try:
        man = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(man, dict) or man.get("command") != "composite":
        return []
    names: list[str] = []
    years = man.get("years")
    for info in (years.values() if isinstance(years, dict) else ()):
        if isinstance(info, dict) and isinstance(info.get("files"), list):
            names += [f for f in info["files"] if isinstance(f, str)]
    outputs = man.get("outputs")
    if isinstance(outputs, list):  # written relative to the working directory of that run
        names += [Path(f).name for f in outputs if isinstance(f, str)]
    return [n for n in dict.fromkeys(names) if _OUTPUT_RE.fullmatch(n)]


@dataclass
class AnnualComposite:
    """In-memory composite of one year (:func:`annual_composite`)."""

    year: int
    grid: Grid
    evi: np.ndarray | None
    lst: np.ndarray | None
    n_obs_evi: np.ndarray
    n_obs_lst: np.ndarray
    n_seen: np.ndarray
    scenes: list[dict[str, Any]]


def annual_composite(scenes: Sequence[Scene], grid: Grid, year: int | None = None, *,
                     options: CompositeOptions | None = None, select: bool = True,
                     **kw: Any) -> AnnualComposite:
    """Composite one year in memory (small grids; use :func:`write_composites` for large ones).

    ``scenes`` are filtered by year, season, tier, sensor and footprint unless
    ``select=False`` (then every scene given is used and ``year`` is only a label).
    Keyword arguments build the :class:`CompositeOptions`.
    """
    opts = _options(options, kw)
    if select:
        if year is None:
            msg = "year is required when select=True"
            raise ValueError(msg)
        by_year, _ = select_scenes(scenes, [year], opts, grid)
        chosen = by_year[year]
    else:
        chosen = list(scenes)
    stats = _prepare(chosen, opts)
    shape = grid.shape
    evi = np.full(shape, np.nan, np.float32) if "EVI" in opts.variables else None
    lst = np.full(shape, np.nan, np.float32) if "LST" in opts.variables else None
    n = {k: np.zeros(shape, np.uint16) for k in ("n_evi", "n_lst", "n_seen")}
    with _gdal_env(_remote(chosen)), _YearEngine(stats, grid, opts) as eng:
        for row0, nrows, acc in eng.run():
            sl = slice(row0, row0 + nrows)
            if evi is not None:
                evi[sl] = acc["evi"]
            if lst is not None:
                lst[sl] = acc["lst"]
            for k in n:
                n[k][sl] = acc[k]
    return AnnualComposite(year=year if year is not None else -1, grid=grid, evi=evi, lst=lst,
                           n_obs_evi=n["n_evi"], n_obs_lst=n["n_lst"], n_seen=n["n_seen"],
                           scenes=[st.as_dict() for st in stats])


# ---------------------------------------------------------------------------------------------
def _tags(var: str, year: int, opts: CompositeOptions, stats: list[_SceneStat]) -> dict[str, str]:
    used = [st for st in stats if var == "NOBS" or var in st.used_for]
    t = {
        "variable": var, "year": str(year), "months": opts.months_label, "reducer": "max",
        "pairing": opts.pairing, "mask": opts.mask, "mask_water": str(opts.mask_water),
        "n_scenes": str(len(used)),
        "sensors": ",".join(sorted({st.scene.pid.sensor for st in used})),
        "scene_ids": ",".join(st.scene.id for st in used),
        "source": "USGS Landsat Collection 2 Level-2",
    }
    if var == "LST":
        t.update(units="K", lst_method=opts.lst_method)
        if opts.lst_method == "rte":
            t["emissivity"] = opts.emissivity
    elif var == "EVI":
        t.update(units="1", evi_clamp=str(opts.evi_clamp))
    else:
        t["bands"] = ",".join(NOBS_BANDS)
    from .._version import __version__

    t["mlri_version"] = __version__
    return t


def write_composites(scenes: Sequence[Scene] | str | os.PathLike[str]
                     | Sequence[str | os.PathLike[str]],
                     grid: Grid, years: Sequence[int] | str, out_dir: str | os.PathLike[str], *,
                     options: CompositeOptions | None = None, overwrite: bool = False,
                     write_empty_years: bool = False, on_error: str = "raise",
                     progress: Callable[[int], None] | Callable[[int], Any] | None = None,
                     progress_total: Callable[[int], None] | None = None,
                     cog: bool = True, check_disk_space: bool = True,
                     skipped_scenes: Sequence[SceneProblem] = (),
                     **kw: Any) -> dict[str, Any]:
    """Write ``EVI_YYYY.tif``, ``LST_YYYY.tif``, ``NOBS_YYYY.tif`` per year and ``manifest.json``.

    Parameters
    ----------
    scenes : scenes or paths
        :class:`Scene` objects, or folders / ``.tar`` bundles searched recursively.
    grid : Grid
        Target grid (:func:`mlri.landsat.grid_for_aoi`).
    years : list of int or str
        E.g. ``"2000-2011,2013-2019"``.
    out_dir : path
        Output folder (created); refused when it already holds these outputs unless
        ``overwrite``.
    write_empty_years : bool
        Years without any scene are reported and skipped (default), or written as all-NaN
        rasters with ``n_scenes=0``.
    on_error : {"raise", "skip"}
        A scene that cannot be used (Collection 1, Level-1, unknown sensor, missing MTL,
        unreadable bundle) raises a :class:`SceneError` naming it (default), or is recorded in
        the manifest as skipped.  Damaged band files found while reading always raise.
    skipped_scenes : list of SceneProblem
        Scenes the caller already left out (e.g. unusable STAC items of
        :func:`mlri.landsat.stac.discover_stac`), listed in the manifest as skipped.
    check_disk_space : bool
        Refuse to start when the composites (uncompressed, an upper bound) may not fit in
        the free disk space of ``out_dir``; ``False`` tries anyway.

    Returns
    -------
    dict
        The manifest (also written to ``out_dir/manifest.json``).

    Notes
    -----
    Outputs are written into a hidden staging folder inside ``out_dir``, re-opened and
    checked, and moved into place only when every year has succeeded
    (:class:`mlri._outputs.OutputSet`): a failure or interrupt leaves no new file behind.
    """
    from .._manifest import build_manifest
    from .._outputs import (
        OutputSet,
        atomic_raster,
        output_bytes,
        raster_profile,
        write_json,
    )

    started = time.time()
    opts = _options(options, kw)
    if on_error not in ("raise", "skip"):
        msg = f"on_error must be 'raise' or 'skip', got {on_error!r}"
        raise ValueError(msg)
    yrs = parse_years(years) if isinstance(years, str) else sorted({int(y) for y in years})

    problems: list[SceneProblem] = list(skipped_scenes)
    if isinstance(scenes, (str, os.PathLike)) or (
            scenes and not isinstance(next(iter(scenes)), Scene)):
        paths = [scenes] if isinstance(scenes, (str, os.PathLike)) else list(scenes)
        found, found_problems = discover_scenes(
            paths, require_mtl=opts.require_mtl,  # type: ignore[arg-type]
            check=lambda s: scene_problem(s, opts))
        problems += found_problems
        for p in found_problems:  # an incomplete copy left beside a complete one: say so
            if p.defect is not None:
                warnings.warn(f"scene {p.scene} at {p.location}: {p.reason}", UserWarning,
                              stacklevel=2)
        real = [p for p in problems if not p.reason.startswith("duplicate")]
        if real and on_error == "raise":
            extra = f" (and {len(real) - 1} more; see on_error='skip' / --skip-bad)" \
                if len(real) > 1 else ""
            raise SceneError(real[0].scene, real[0].reason + extra)
        scene_list = found
    else:
        scene_list = list(scenes)  # type: ignore[arg-type]

    by_year, skipped = select_scenes(scene_list, yrs, opts, grid)
    # every selected scene must have what compositing needs: all problems at once, before
    # any output folder is created
    unusable = [SceneProblem(s.id, s.location, why) for y in yrs for s in by_year[y]
                if (why := scene_problem(s, opts)) is not None]
    remote = [s for y in yrs for s in by_year[y] if _remote([s])
              and s.id not in {p.scene for p in unusable}]
    if remote:  # remote band files: a 403/404/timeout found now names the item and the URL
        from .stac import check_readable

        unusable += check_readable(list({id(s): s for s in remote}.values()), opts)[1]
    if unusable and on_error == "raise":
        if len(unusable) == 1:
            raise SceneError(unusable[0].scene, unusable[0].reason)
        listing = "; ".join(f"scene {p.scene}: {p.reason}" for p in unusable[:5])
        more = f" (first 5 of {len(unusable)})" if len(unusable) > 5 else ""
        msg = (f"{len(unusable)} scenes cannot be used{more}: {listing}. Pass "
               f"on_error='skip' (--skip-bad) to skip them, or fix the downloads")
        raise LandsatFormatError(msg)
    bad_ids = {p.scene for p in unusable}
    by_year = {y: [s for s in v if s.id not in bad_ids] for y, v in by_year.items()}
    skipped = problems + unusable + skipped
    years_skipped = []
    todo: list[int] = []
    for y in yrs:
        if by_year[y] or write_empty_years:
            todo.append(y)
        else:
            years_skipped.append({"year": y, "reason": "no scene of the season in the inputs"})
    if not todo:
        from collections import Counter

        reasons = Counter(p.reason.split(":")[-1].strip() if p.reason.startswith("acquired")
                          else p.reason for p in skipped)
        detail = "; ".join(f"{n} x {r}" for r, n in reasons.most_common(5)) or "no scene found"
        msg = (f"no usable scene for any of the years {yrs[0]}-{yrs[-1]} "
               f"({len(scene_list)} scene(s) found; skipped: {detail})")
        raise NoScenesError(msg)
    names = [n for y in todo for n in output_names(y, opts.variables)] + ["manifest.json"]
    # prepare every year first: a missing band or an unreadable header fails before any work
    caught: list[str] = []
    year_stats: dict[int, list[_SceneStat]] = {}
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always", LstUnavailableWarning)
        for y in todo:
            year_stats[y] = _prepare(by_year[y], opts)
    for wmsg in wlist:
        caught.append(str(wmsg.message))
        warnings.warn_explicit(wmsg.message, wmsg.category, wmsg.filename, wmsg.lineno)

    strips = len(_strips(grid, opts.block_pixels))
    if progress_total is not None:
        progress_total(sum(len(v) for v in year_stats.values()) * strips)

    # staged, verified and published together (manifest.json last) under the folder lock
    oset = OutputSet(out_dir, names, overwrite=overwrite, command="composite")
    out = oset.out
    written: list[str] = []
    year_info: dict[str, Any] = {}
    try:
        oset.replaces(_earlier_outputs(out))
        per_year = [(grid.width, grid.height, 1, "float32")] * len(opts.variables) + [
            (grid.width, grid.height, 3, "uint16")]
        oset.reserve(output_bytes(per_year * len(todo), cog=False)
                     + output_bytes(per_year, cog=False), force=not check_disk_space,
                     what=f"{len(todo)} year(s) of {grid.width} x {grid.height} px composites",
                     override="--ignore-disk-space (check_disk_space=False)")
        with _gdal_env(_remote(s for y in todo for s in by_year[y])):
            for y in todo:
                stats = year_stats[y]
                _write_year(y, stats, grid, opts, oset, progress, cog, atomic_raster,
                            raster_profile)
                year_info[str(y)] = {
                    "n_scenes": len(stats),
                    "n_scenes_lst": sum("LST" in st.used_for for st in stats),
                    "scenes": [st.scene.id for st in stats],
                    "sensors": sorted({st.scene.pid.sensor for st in stats}),
                    "files": output_names(y, opts.variables),
                }
        written = [str(out / n) for y in todo for n in output_names(y, opts.variables)]
        used = [st.as_dict() | {"year": y} for y in todo for st in year_stats[y]]
        man = build_manifest(
            command="composite",
            parameters={**opts.as_dict(), "years": yrs, "write_empty_years": write_empty_years,
                        "on_error": on_error, "overwrite": overwrite},
            inputs=[], outputs=written, started=started, checksum=False,
            extra={"grid": grid.as_dict(), "grid_on_landsat_lattice": grid.on_landsat_lattice(),
                   "years": year_info, "years_skipped": years_skipped, "scenes_used": used,
                   "scenes_skipped": [p.as_dict() for p in skipped], "warnings": caught},
        )
        write_json(oset.stage("manifest.json"), man)
        oset.commit()
    finally:
        oset.close()
    return man


def _write_year(year: int, stats: list[_SceneStat], grid: Grid, opts: CompositeOptions,
                oset: Any, progress: Any, cog: bool, atomic_raster: Any,
                raster_profile: Any) -> None:
    with contextlib.ExitStack() as es:
        dsts: dict[str, Any] = {}
        for var in opts.variables:
            prof = raster_profile(crs=grid.crs, transform=grid.transform, width=grid.width,
                                  height=grid.height, count=1, dtype="float32", nodata=np.nan)
            d = es.enter_context(atomic_raster(oset.stage(f"{var}_{year}.tif"), prof, cog=cog,
                                               overview_resampling="nearest"))
            d.update_tags(**_tags(var, year, opts, stats))
            d.set_band_description(1, f"{var} {opts.months_label} max {year}"
                                       + (" (K)" if var == "LST" else ""))
            dsts[var] = d
        prof = raster_profile(crs=grid.crs, transform=grid.transform, width=grid.width,
                              height=grid.height, count=3, dtype="uint16", nodata=NOBS_NODATA)
        d = es.enter_context(atomic_raster(oset.stage(f"NOBS_{year}.tif"), prof, cog=cog,
                                           overview_resampling="nearest"))
        d.update_tags(**_tags("NOBS", year, opts, stats))
        for i, name in enumerate(NOBS_BANDS, 1):
            d.set_band_description(i, name)
        dsts["NOBS"] = d
        from rasterio.windows import Window

        with _YearEngine(stats, grid, opts, progress) as eng:
            for row0, nrows, acc in eng.run():
                win = Window(0, row0, grid.width, nrows)
                for var in opts.variables:
                    dsts[var].write(acc[var.lower()], 1, window=win)
                dsts["NOBS"].write(np.stack([acc["n_evi"], acc["n_lst"], acc["n_seen"]]),
                                   window=win)
