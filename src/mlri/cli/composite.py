"""CLI commands of the Landsat ingest: ``mlri composite`` and ``mlri scenes``.

Thin shells over :mod:`mlri.landsat` (auto-registered by :mod:`mlri.cli` through ``COMMANDS``).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .options import fail, flag_hint, out_option, overwrite_option

__all__ = ["COMMANDS"]


def _csv(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = tuple(v.strip().upper() for v in value.split(",") if v.strip())
    if not items:
        msg = "give a comma-separated list"
        raise click.BadParameter(msg)
    return items


def _make_grid(aoi: str | None, bbox: Sequence[float] | None, grid_like: str | None,
               crs: str | None, res: float, buffer: float, layer: str | None) -> Any:
    from ..landsat.grid import Grid, grid_for_aoi, read_aoi

    given = [x is not None and x != () for x in (aoi, bbox, grid_like)]
    if sum(given) != 1:
        msg = ("give exactly one of --aoi FILE, --bbox MINLON MINLAT MAXLON MAXLAT, "
               "--grid-like RASTER")
        raise click.UsageError(msg)
    if grid_like is not None:
        try:
            return Grid.from_raster(grid_like)
        except ValueError as err:  # not a raster, no CRS, rotated: the message names the file
            raise click.BadParameter(str(err), param_hint="'--grid-like'") from None
    if bbox:
        minx, miny, maxx, maxy = bbox
        if not (minx < maxx and miny < maxy):
            msg = "--bbox must be MINLON MINLAT MAXLON MAXLAT with min < max"
            raise click.BadParameter(msg)
        return grid_for_aoi((minx, miny, maxx, maxy), crs=crs, res=res, buffer=buffer)
    try:
        geom, aoi_crs = read_aoi(aoi, layer=layer)  # type: ignore[arg-type]
    except (ValueError, FileNotFoundError, ImportError) as err:  # the message names the file
        raise click.BadParameter(str(err), param_hint="'--aoi'") from None
    return grid_for_aoi(geom, aoi_crs=aoi_crs, crs=crs, res=res, buffer=buffer)


def _bad_parameter(err: Exception) -> click.BadParameter:
    """A library error about the options as a usage error naming the flags (``res=0`` ->
    ``--res 0``)."""
    ctx = click.get_current_context()
    return click.BadParameter(flag_hint(str(err), [p.name for p in ctx.command.params if p.name]))


@click.command("composite")
@click.option("--scenes", "scene_paths", multiple=True,
              type=click.Path(exists=True), help="Folder (searched recursively), .tar bundle or "
              "MTL file of Landsat C2 Level-2 scenes; repeat for several.")
@click.option("--stac", "stac_files", multiple=True, metavar="FILE|URL",
              help="Saved STAC ItemCollection, item or static catalog (JSON) of Landsat C2 L2 "
                   "scenes; repeat for several. Bands are read in place.")
@click.option("--stac-api", default=None, metavar="URL",
              help="Search a STAC API (pip install 'mlri[stac]') over the grid's area.")
@click.option("--collection", "collections", default=None, metavar="NAME[,NAME]",
              help="STAC collections, e.g. landsat-c2-l2 (Planetary Computer, Earth Search) or "
                   "landsat-c2l2-sr,landsat-c2l2-st (USGS).")
@click.option("--datetime", "stac_datetime", default=None,
              help="STAC search interval (default: the --years), e.g. 2000-01-01/2019-12-31.")
@click.option("--max-cloud", type=click.FloatRange(0, 100), default=None,
              help="Keep STAC items with eo:cloud_cover <= this (%%).")
@click.option("--sign", default=None, metavar="NAME",
              help="Sign STAC asset URLs, e.g. planetary-computer (needs that package).")
@click.option("--aoi", type=click.Path(exists=True, dir_okay=False),
              help="Area of interest (GeoJSON, GeoPackage, Shapefile...): grid in the UTM zone "
                   "of its centroid, 30 m, snapped to the Landsat lattice.")
@click.option("--aoi-layer", default=None, help="Layer of a multi-layer --aoi file.")
@click.option("--bbox", nargs=4, type=float, default=None,
              metavar="MINLON MINLAT MAXLON MAXLAT", help="Area of interest as a lon/lat box.")
@click.option("--grid-like", type=click.Path(exists=True, dir_okay=False),
              help="Use the grid (CRS, transform, size) of an existing raster.")
@click.option("--crs", default=None, help="Target CRS instead of the UTM zone (e.g. EPSG:32650).")
@click.option("--res", type=float, default=30.0, show_default=True, help="Pixel size (m).")
@click.option("--buffer", type=float, default=150.0, show_default=True,
              help="Buffer around the AOI bounds (m).")
@click.option("--years", required=True, help="Years, e.g. 2000-2011,2013-2019.")
@click.option("--months", default="6-9", show_default=True,
              help="Season (inclusive), e.g. 6-9; 11-2 wraps within the calendar year.")
@click.option("--mask", type=click.Choice(["paper", "strict", "none"]), default="paper",
              show_default=True, help="QA_PIXEL preset: paper = bits 0-5; strict = GEE recipe.")
@click.option("--mask-water", is_flag=True, help="Also mask water (QA bit 7).")
@click.option("--keep-dilated", is_flag=True, help="Keep dilated-cloud pixels (QA bit 1).")
@click.option("--evi-clamp", type=click.Choice(["none", "gee"]), default="none", show_default=True,
              help="none: NaN where the EVI denominator <= 0 or |EVI| > 1; gee: clamp like GEE.")
@click.option("--lst-method", type=click.Choice(["st", "rte"]), default="st", show_default=True,
              help="st: C2 ST band (K); rte: re-invert the RTE from the ST intermediates.")
@click.option("--emissivity", type=click.Choice(["sobrino2004", "usgs"]), default="sobrino2004",
              show_default=True, help="Emissivity for --lst-method rte.")
@click.option("--pairing", type=click.Choice(["independent", "greenest"]),
              default="independent", show_default=True,
              help="independent: EVI and LST maxima from any dates; greenest: LST of the date "
                   "of max EVI.")
@click.option("--variables", callback=_csv, default="EVI,LST", show_default=True,
              help="Variables to composite.")
@click.option("--sensors", callback=_csv, default="TM,OLI", show_default=True,
              help="Sensor families to use (TM, ETM, OLI).")
@click.option("--allow-tier2", is_flag=True, help="Also use Tier 2 / Real-Time scenes.")
@click.option("--harmonize", type=click.Choice(["none", "roy2016"]), default="none",
              show_default=True,
              help="Harmonise TM/ETM+ reflectance to OLI before EVI (roy2016: Roy et al. 2016 "
                   "Table 2 OLS coefficients).")
@click.option("--st-qa-max", type=float, default=None,
              help="Drop LST where the ST uncertainty (ST_QA) exceeds this (K).")
@click.option("--skip-bad", is_flag=True,
              help="Skip unusable scenes (Collection 1, Level-1, missing MTL...) and list them "
                   "in manifest.json instead of stopping.")
@click.option("--no-require-mtl", is_flag=True,
              help="Accept scenes without MTL (standard C2 scale factors).")
@click.option("--write-empty-years", is_flag=True,
              help="Write all-NaN rasters for years without any scene (default: report, skip).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Kernel threads (default: all cores).")
@click.option("--io-threads", type=click.IntRange(min=1), default=2, show_default=True,
              help="Parallel band reads per scene.")
@click.option("--block-pixels", type=click.IntRange(min=1024), default=1 << 22,
              show_default=True, help="Output pixels per processing strip (bounds memory).")
@out_option(dest="out_dir", help="Output folder.")
@overwrite_option()
@click.option("--ignore-disk-space", is_flag=True,
              help="Start even when the composites may not fit in the free disk space.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def composite_cmd(scene_paths: tuple[str, ...], stac_files: tuple[str, ...],
                  stac_api: str | None, collections: str | None, stac_datetime: str | None,
                  max_cloud: float | None, sign: str | None, aoi: str | None, aoi_layer: str | None,
                  bbox: tuple[float, ...] | None, grid_like: str | None, crs: str | None,
                  res: float, buffer: float, years: str, months: str, mask: str,
                  mask_water: bool, keep_dilated: bool, evi_clamp: str, lst_method: str,
                  emissivity: str, pairing: str, variables: tuple[str, ...],
                  sensors: tuple[str, ...], allow_tier2: bool, harmonize: str,
                  st_qa_max: float | None,
                  skip_bad: bool, no_require_mtl: bool, write_empty_years: bool,
                  threads: int | None, io_threads: int, block_pixels: int, out_dir: str,
                  overwrite: bool, quiet: bool, ignore_disk_space: bool = False) -> None:
    """Annual season max composites of EVI and LST from Landsat C2 Level-2 scenes.

    Writes EVI_YYYY.tif, LST_YYYY.tif (float32, NaN nodata, LST in K) and NOBS_YYYY.tif
    (uint16 counts) per year, in COG layout, plus manifest.json of the scenes used and skipped.
    The output folder is what `mlri run --lst DIR --evi DIR` reads.
    """
    from tqdm import tqdm

    from .._outputs import OutputError, OutputExistsError
    from ..landsat.composite import (
        CompositeOptions,
        NoScenesError,
        parse_months,
        parse_years,
        write_composites,
    )
    from ..landsat.ids import LandsatFormatError

    if bbox == ():
        bbox = None
    try:
        yrs = parse_years(years)
        opts = CompositeOptions(
            months=parse_months(months), mask=mask, mask_water=mask_water,
            mask_dilated=not keep_dilated, evi_clamp=None if evi_clamp == "none" else evi_clamp,
            lst_method=lst_method, emissivity=emissivity, pairing=pairing,
            variables=variables or ("EVI", "LST"), allow_tier2=allow_tier2,
            sensors=sensors or ("TM", "OLI"), st_qa_max=st_qa_max,
            harmonize=None if harmonize == "none" else harmonize,
            require_mtl=not no_require_mtl, block_pixels=block_pixels, n_threads=threads,
            io_threads=io_threads)
        grid = _make_grid(aoi, bbox, grid_like, crs, res, buffer, aoi_layer)
    except (ValueError, FileNotFoundError, ImportError) as err:
        raise _bad_parameter(err) from None
    if sum(map(bool, (scene_paths, stac_files, stac_api))) != 1:
        msg = "give exactly one source of scenes: --scenes PATH, --stac FILE or --stac-api URL"
        raise click.UsageError(msg)
    sources: Any = list(scene_paths)
    skipped: list[Any] = []
    if stac_files or stac_api:
        sources, skipped = _stac_scenes(stac_files, stac_api, collections, stac_datetime,
                                        max_cloud, sign, grid, yrs, skip_bad)

    show = not quiet and sys.stderr.isatty()
    bar = tqdm(total=0, unit="scene-strip", desc="composite", file=sys.stderr, disable=not show,
               dynamic_ncols=True)

    def set_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            man = write_composites(
                sources, grid, yrs, out_dir, options=opts, overwrite=overwrite,
                skipped_scenes=skipped,
                write_empty_years=write_empty_years, on_error="skip" if skip_bad else "raise",
                progress=bar.update, progress_total=set_total,
                check_disk_space=not ignore_disk_space)
    except (LandsatFormatError, OutputExistsError, NotADirectoryError, FileNotFoundError,
            NoScenesError, OutputError) as err:
        raise fail(err) from None
    finally:
        bar.close()
    for w in caught:
        click.echo(f"Warning: {w.message}", err=True)
    if quiet:
        return
    out = Path(out_dir)
    done = sorted(man["years"], key=int)
    click.echo(f"{out}: composites for {len(done)} year(s) "
               f"({', '.join(done) if len(done) <= 8 else done[0] + '...' + done[-1]}), "
               f"{len(man['scenes_used'])} scene-year(s) used, "
               f"{len(man['scenes_skipped'])} skipped (see manifest.json)", err=True)
    for ys in man["years_skipped"]:
        click.echo(f"  year {ys['year']} skipped: {ys['reason']}", err=True)


def _stac_scenes(files: tuple[str, ...], api: str | None, collections: str | None,
                 when: str | None, max_cloud: float | None, sign: str | None, grid: Any,
                 yrs: list[int], skip_bad: bool) -> tuple[list[Any], list[Any]]:
    """Scenes of --stac / --stac-api (the search covers the grid and the years)."""
    from rasterio.warp import transform_bounds

    from ..landsat.ids import LandsatFormatError
    from ..landsat.stac import discover_stac

    cols = [c.strip() for c in (collections or "").split(",") if c.strip()]
    if api and not cols:
        msg = ("--stac-api needs --collection, e.g. landsat-c2-l2 (Planetary Computer, Earth "
               "Search) or landsat-c2l2-sr,landsat-c2l2-st (USGS)")
        raise click.UsageError(msg)
    bbox = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, densify_pts=21)
    try:
        scenes, problems = discover_stac(
            list(files) or None, api=api, collections=cols, bbox=bbox if api else None,
            datetime=when or f"{yrs[0]}-01-01/{yrs[-1]}-12-31", max_cloud=max_cloud,
            sign=sign)
    except (LandsatFormatError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    real = [p for p in problems if not p.reason.startswith("duplicate")]
    if real and not skip_bad:
        more = f" (and {len(real) - 1} more; --skip-bad skips them)" if len(real) > 1 else ""
        raise click.ClickException(f"scene {real[0].scene}: {real[0].reason}{more}")
    if not scenes and not problems:
        raise click.ClickException("the STAC source holds no Landsat item")
    return scenes, problems


@click.command("scenes")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--stac", "stac_files", multiple=True, metavar="FILE|URL",
              help="Saved STAC ItemCollection / Item / static catalog instead of PATHS "
                   "(repeatable), as `mlri composite --stac` reads it.")
@click.option("--max-cloud", type=click.FloatRange(0, 100), default=None,
              help="With --stac: only items with eo:cloud_cover at most this (percent).")
@click.option("--no-require-mtl", is_flag=True, help="Accept scenes without MTL.")
@click.option("--variables", callback=_csv, default="EVI,LST", show_default=True,
              help="Variables that `mlri composite` will make (decides the bands needed).")
@click.option("--mask", type=click.Choice(["paper", "strict", "none"]), default="paper",
              show_default=True, help="QA_PIXEL preset of `mlri composite`.")
@click.option("--lst-method", type=click.Choice(["st", "rte"]), default="st", show_default=True,
              help="LST method of `mlri composite` (rte needs the ST intermediates).")
@click.option("--st-qa-max", type=float, default=None,
              help="As in `mlri composite` (then ST_QA is needed).")
def scenes_cmd(paths: tuple[str, ...], stac_files: tuple[str, ...], max_cloud: float | None,
               no_require_mtl: bool, variables: tuple[str, ...], mask: str, lst_method: str,
               st_qa_max: float | None) -> None:
    """List the Landsat C2 Level-2 scenes found in folders / .tar bundles (or the items of a
    saved STAC catalog, --stac), and the problems.

    A scene is listed as usable only when `mlri composite` with the same options can use it:
    MTL present and sane (folders), and every band file it needs (ST_B10 / ST_B6, QA_PIXEL,
    the SR bands of EVI) present.  Each problem line names the scene and everything that is
    wrong.
    """
    from ..landsat.composite import CompositeOptions
    from ..landsat.needs import scene_problem
    from ..landsat.scene import SceneProblem, discover_scenes

    try:
        opts = CompositeOptions(variables=variables or ("EVI", "LST"), mask=mask,
                                lst_method=lst_method, st_qa_max=st_qa_max,
                                require_mtl=not no_require_mtl)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if bool(paths) == bool(stac_files):
        msg = "give scene folders / .tar files (PATHS) or --stac FILE, not both and not neither"
        raise click.UsageError(msg)
    if stac_files:
        from ..landsat.ids import LandsatFormatError
        from ..landsat.stac import discover_stac

        try:
            scenes, problems = discover_stac(list(stac_files), max_cloud=max_cloud)
        except (LandsatFormatError, ValueError, OSError) as err:
            raise click.ClickException(str(err)) from None
    else:
        if max_cloud is not None:
            raise click.UsageError("--max-cloud applies to --stac items only")
        scenes, problems = discover_scenes(paths, require_mtl=not no_require_mtl,
                                           check=lambda s: scene_problem(s, opts))
    usable = []
    for s in scenes:
        why = scene_problem(s, opts)
        if why is None:
            usable.append(s)
        else:
            problems.append(SceneProblem(s.id, s.location, why))
    for s in usable:
        st = "SR+ST" if s.has_st else "SR only"
        click.echo(f"{s.id}\t{s.acquired.isoformat()}\t{s.family}\t{s.level}\t{s.pid.tier}\t"
                   f"{st}\t{s.location}")
    for p in problems:
        click.echo(f"SKIP {p.scene}\t{p.reason}\t{p.location}", err=True)
    click.echo(f"{len(usable)} usable scene(s), {len(problems)} problem(s)", err=True)


COMMANDS = [composite_cmd, scenes_cmd]
