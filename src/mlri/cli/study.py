"""``mlri study``: a thin shell over :func:`mlri.study.run_study` (registered by mlri.cli)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from .run import _stats_options

__all__ = ["COMMANDS"]

_STATS_PARAMS = {
    "lst_unit": "lst_unit", "evi_min": "evi_min", "evi_policy": "evi_policy",
    "z_crit": "z_crit", "alpha": "alpha", "min_valid": "min_valid",
    "zero_slope_direction": "zero_slope_direction", "hurst_method": "hurst_method",
    "hurst_series": "hurst_series", "hurst_ddof": "hurst_ddof", "tau_min": "tau_min",
    "gap": "gap", "degenerate": "degenerate", "rel_tol": "rel_tol",
}


def _given(ctx: click.Context, name: str) -> bool:
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)


def _points(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        mid, sep, path = v.partition("=")
        if not sep or not mid or not path:
            msg = f"--points {v!r}: use MINE_ID=PATH (reference points of that mine)"
            raise click.BadParameter(msg)
        out[mid] = path
    return out


@click.command("study", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="TOML study file (flags given here override its settings).")
@click.option("--mines", default=None, help="Mine polygons (GeoPackage/GeoJSON/Shapefile, "
              "any CRS), one feature per mine.")
@click.option("--id-col", default=None, help="Column with the mine id [default: id/mine_id].")
@click.option("--name-col", default=None, help="Column with the mine name.")
@click.option("--region-col", default=None, help="Column with the region.")
@click.option("--start-col", default=None,
              help="Column with the mining start year (2004 or 'Before 2000').")
@click.option("--layer", default=None, help="Layer of a multi-layer mines file.")
@click.option("--scenes", multiple=True, help="Landsat C2 L2 scenes: folders or .tar bundles "
              "(repeatable). Each mine is composited on its own UTM grid.")
@click.option("--rasters", default=None, help="Ready annual LST/EVI rasters: a folder with one "
              "sub-folder per mine id, or a path with {id} (e.g. 'exports/{id}').")
@click.option("--pattern", "raster_pattern", default=None,
              help="File-name pattern of the rasters, e.g. '{var}_{year}.tif'.")
@click.option("--years", default=None, help="Years, e.g. 2000-2011,2013-2019.")
@click.option("--months", default=None, help="Season of the composites, e.g. 6-9 (June-Sept).")
@click.option("--buffer", type=float, default=None, help="Metres around each mine [150].")
@click.option("--threshold", type=int, default=None,
              help="Start-group split year: before / from it [2000].")
@click.option("--reference-year", type=int, default=None,
              help="Duration = reference year - start year [last year].")
@click.option("--k", type=click.IntRange(2, 20), default=None, help="K-means clusters [3].")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None,
              help="K-means seed [0].")
@click.option("--points", multiple=True, metavar="MINE=PATH",
              help="Reference points of a mine for accuracy (repeatable).")
@click.option("--out", default=None, type=click.Path(file_okay=False), metavar="DIR",
              help="Study folder [mlri-study]; an existing study there is continued.")
@click.option("--jobs", "-j", type=click.IntRange(1, 1024), default=None,
              help="Mines processed at once (processes) [1].")
@click.option("--threads", type=click.IntRange(1, 1024), default=None,
              help="OpenMP threads per mine [cores / jobs].")
@click.option("--scheduler", default=None, metavar="ADDRESS|local[:N]",
              help="Process the mines on a dask.distributed cluster (needs mlri[dask]).")
@click.option("--cog", is_flag=True, default=None,
              help="Write each mine's run outputs as Cloud-Optimized GeoTIFFs.")
@click.option("--no-report", is_flag=True, help="Skip report.html.")
@click.option("--demo", is_flag=True, help="Write a synthetic regional study (mines in four "
              "UTM zones, planted restoration) into --out and run it.")
@click.option("--demo-source", type=click.Choice(["scenes", "rasters"]), default="scenes",
              show_default=True, help="Demo inputs: Landsat scene archives or ready rasters.")
@click.option("--demo-mines", type=click.IntRange(1, 50), default=4, show_default=True,
              help="Demo mines per region (six regions).")
@click.option("--quiet", "-q", is_flag=True, help="Only the verdict line.")
@_stats_options
@click.pass_context
def study_cmd(ctx: click.Context, config: str | None, mines: str | None, id_col: str | None,
              name_col: str | None, region_col: str | None, start_col: str | None,
              layer: str | None, scenes: tuple[str, ...], rasters: str | None,
              raster_pattern: str | None, years: str | None, months: str | None,
              buffer: float | None, threshold: int | None, reference_year: int | None,
              k: int | None, seed: int | None, points: tuple[str, ...], out: str | None,
              jobs: int | None, threads: int | None, scheduler: str | None,
              cog: bool | None, no_report: bool, demo: bool, demo_source: str,
              demo_mines: int, quiet: bool, **stats: Any) -> None:
    """Run the MLRI method on many mines at once, each on its own UTM grid, and analyse them
    together (class shares, Kruskal-Wallis by start group, Spearman with duration, k-means).

    \b
    Examples:
      mlri study --mines mines.gpkg --start-col start --scenes downloads/ \\
                 --years 2000-2011,2013-2019 --out study/ --jobs 2
      mlri study --mines mines.gpkg --rasters 'exports/{id}' --out study/
      mlri study --config study.toml
      mlri study --demo --out demo-study/

    Finished mines are kept in OUT/mines/ and reused: re-run the same command after an
    interruption or after adding mines. Exit code 0 when every mine finished, 3 when some
    failed (see OUT/status.csv), 1 on an error, 130 on Ctrl-C and 143 on SIGTERM.
    """
    from .._outputs import OutputExistsError
    from ..landsat.composite import parse_months
    from ..study.config import StudyConfig, load_study_file
    from ..study.runner import run_study

    t0 = time.perf_counter()
    try:
        over: dict[str, Any] = {
            "mines": mines, "id_col": id_col, "name_col": name_col, "region_col": region_col,
            "start_col": start_col, "layer": layer, "scenes": list(scenes), "rasters": rasters,
            "raster_pattern": raster_pattern, "years": years, "buffer": buffer,
            "threshold": threshold, "reference_year": reference_year, "k": k, "seed": seed,
            "out": out, "jobs": jobs, "threads": threads, "scheduler": scheduler,
            "cog": cog, "report": False if no_report else None,
            "points": _points(points) or None,
        }
        if cog:
            over["overviews"] = True
        st_over = {key: (int(v) if key == "hurst_ddof" else v) for key, v in stats.items()
                   if key in _STATS_PARAMS and _given(ctx, key)}
        if stats.get("no_alp_correction") and _given(ctx, "no_alp_correction"):
            st_over["corrected"] = False
        if st_over:
            over["stats"] = st_over
        if months:
            over["composite"] = {"months": list(parse_months(months))}
        if demo:
            from ..study.synthetic import make_study

            root = out or "mlri-study-demo"
            if not quiet:
                click.echo(f"writing a synthetic regional study into {root}/ ...", err=True)
            st = make_study(root, mines_per_region=demo_mines, source=demo_source, broken=True)
            over["out"] = None
            cfg = load_study_file(st.study_file, **over)
        elif config:
            cfg = load_study_file(config, **over)
        else:
            cfg = StudyConfig()
            for key, v in over.items():
                if v is None or (key == "scenes" and not v):
                    continue
                if key in ("composite", "stats", "points"):
                    getattr(cfg, key).update(v)
                else:
                    setattr(cfg, key, v)
        res = run_study(cfg, quiet=quiet)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM (mlri._outputs.Terminated): the command group reports which one
        # and exits with 130 / 143 like every command; this only adds how to go on
        click.echo("interrupted: the finished mines are kept; run the same command again to "
                   "continue", err=True)
        raise
    except (OutputExistsError, NotADirectoryError, FileNotFoundError, ValueError, TypeError,
            OSError, ImportError) as err:
        raise click.ClickException(str(err)) from None
    wrote = (f"wrote {res.out}/ (report.html, mines.csv, status.csv, groups.json, "
             f"study.toml) in {time.perf_counter() - t0:.1f} s")
    click.echo(f"{res.verdict}; {wrote}" if quiet else wrote)
    failed = [r["id"] for r in res.records if r["status"] == "failed"]
    if demo and all(f.startswith("X_") for f in failed):
        if not quiet:
            click.echo("(the failed demo mines are planted: one outside every scene, one "
                       "without a geometry)")
        return
    if failed:
        sys.exit(3)


COMMANDS = [study_cmd]
