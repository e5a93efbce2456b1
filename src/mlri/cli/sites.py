"""CLI commands of the per-mine analysis: ``mlri sites``, ``accuracy``, ``sample``, ``report``.

Thin shells over :mod:`mlri.sites` (imports stay lazy so ``mlri --help`` is fast).  Expected
problems (missing file or column, existing outputs, a missing optional package) become a
one-line error naming the file and the fix; per-feature problems are printed as warnings.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from .options import fail as _fail
from .options import out_option, overwrite_option

__all__ = ["COMMANDS"]


@contextlib.contextmanager
def _cli_errors() -> Iterator[None]:
    """Show SitesWarnings on stderr as they happen; turn expected errors into one ``Error:``
    line (:func:`.options.fail`, the mapping every command shares: parameter names become
    flags).  Expected are bad inputs, existing outputs, a missing optional package and every
    operating-system error (a read-only or full output folder: mlri's own output errors name
    the folder and the fix); rasterio / pyogrio errors name what could not be read or
    written."""
    from .._outputs_guard import is_io_error
    from ..sites._deps import SitesWarning

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None,
             line: Any = None) -> None:
        click.echo(f"warning: {message}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", SitesWarning)
        warnings.showwarning = show
        try:
            yield
        except click.ClickException:
            raise
        except KeyError as err:  # its str() is its repr ('col'): show the message itself
            raise _fail(LookupError(str(err).strip("'\""))) from err
        except (OSError, ValueError, ImportError) as err:
            raise _fail(err) from err
        except Exception as err:
            if is_io_error(err) or type(err).__module__.startswith("pyogrio"):
                raise click.ClickException(f"cannot read input: {err}") from err
            raise


def _test_line(tests: list[dict[str, Any]], shown: Callable[[dict[str, Any]], str],
               none_found: str) -> str:
    """Summary of one family of tests: the significant ones (``shown(test)``), else
    ``none_found``, and what could not be tested and why (a NaN p is no result, never "not
    significant")."""
    done = [x for x in tests if x["p"] is not None and not math.isnan(x["p"])]
    undone = [x for x in tests if x["p"] is None or math.isnan(x["p"])]
    if not done:
        notes = list(dict.fromkeys(x.get("note") or "undefined" for x in undone))
        return "not run (" + "; ".join(notes) + ")"
    sig = [shown(x) for x in done if x["p"] < 0.05]
    line = ", ".join(sig) if sig else none_found
    why: dict[str, list[str]] = {}
    for x in undone:
        why.setdefault(x.get("note") or "undefined", []).append(x["metric"])
    skipped = [f"{', '.join(m)}: {note}" for note, m in why.items()]
    return line + (f" (not tested: {'; '.join(skipped)})" if skipped else "")


def _progress_default() -> bool:
    import sys

    return sys.stderr.isatty()


@click.command("sites")
@click.option("--run", "run_dir", required=True, metavar="DIR",
              help="Output folder of `mlri run` (needs classes.tif; uses mlri.tif if present).")
@click.option("--mines", required=True, metavar="FILE",
              help="Mine polygons: GeoPackage, GeoJSON or Shapefile (any CRS).")
@out_option(help="Output folder.")
@click.option("--id-col", default=None, help="Unique mine id column (default: id/mine_id/FID).")
@click.option("--name-col", default=None, help="Mine name column.")
@click.option("--region-col", default=None, help="Region column (also tested as a group).")
@click.option("--start-col", default=None,
              help="Mining start year column (years, or 'Before 2000' / 'From 2000').")
@click.option("--group-col", multiple=True,
              help="Further categorical column(s) to test between groups (repeatable).")
@click.option("--layer", default=None, help="Layer of a multi-layer GeoPackage.")
@click.option("--all-touched", is_flag=True,
              help="Count every pixel the polygon touches (default: pixel centre inside).")
@click.option("--threshold", default=2000, show_default=True, type=int,
              help="Start-year split: 'Before T' vs 'From T'.")
@click.option("--reference-year", type=int, default=None,
              help="Year mining duration is measured to (default: last MLRI year).")
@click.option("--denominator", type=click.Choice(["valid", "mine"]), default="valid",
              show_default=True,
              help="Class shares in tests/clusters: % of classified pixels, or of mine area.")
@click.option("--k", default=3, show_default=True, type=click.IntRange(2, 20),
              help="K-means clusters.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="K-means seed.")
@click.option("--n-init", default=20, show_default=True, type=click.IntRange(min=1),
              help="K-means initialisations.")
@click.option("--no-cluster", is_flag=True, help="Skip clustering.")
@click.option("--no-figures", is_flag=True, help="Do not write PNG figures.")
@click.option("--max-maps", default=50, show_default=True, type=int,
              help="Per-mine class maps to write (0 = none, -1 = all).")
@overwrite_option(help="Replace existing results in --out.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a TTY).")
def sites_cmd(run_dir: str, mines: str, out: str, id_col: str | None, name_col: str | None,
              region_col: str | None, start_col: str | None, group_col: tuple[str, ...],
              layer: str | None, all_touched: bool, threshold: int,
              reference_year: int | None, denominator: str, k: int, seed: int, n_init: int,
              no_cluster: bool, no_figures: bool, max_maps: int, overwrite: bool,
              progress: bool | None) -> None:
    """Per-mine class areas, group tests, clustering and figures.

    Writes sites.csv, sites_mlri.csv, sites.gpkg, groups.json, clusters.csv, figures/ and
    manifest.json into --out.
    """
    from ..sites.workflow import run_sites

    t0 = time.time()
    with _cli_errors():
        if region_col and region_col not in group_col:
            group_col = (*group_col, region_col)
        res = run_sites(run_dir, mines, out, id_col=id_col, name_col=name_col,
                        region_col=region_col, start_col=start_col, group_cols=group_col,
                        layer=layer, all_touched=all_touched, threshold=threshold,
                        reference_year=reference_year, denominator=denominator, k=k,
                        seed=seed, n_init=n_init, cluster=not no_cluster,
                        figures=not no_figures, max_maps=max_maps, overwrite=overwrite,
                        progress=_progress_default() if progress is None else progress)
    t = res.table
    st: dict[str, int] = {}
    for s in t["status"]:
        st[s] = st.get(s, 0) + 1
    click.echo(f"{len(t)} mines ({', '.join(f'{v} {k2}' for k2, v in st.items())}) "
               f"in {time.time() - t0:.1f} s -> {res.out}")
    for kw in res.groups["kruskal_wallis"]:
        click.echo(f"  Kruskal-Wallis by {kw['group_col']}: " + _test_line(
            kw["tests"], lambda x: f"{x['metric']} (p={x['p']:.3g})",
            "no class share differs at p<0.05"))
    sp = res.groups.get("spearman_duration")
    if sp:
        click.echo("  Spearman with duration: " + _test_line(
            sp["tests"], lambda x: f"{x['metric']} (rho={x['rho']:.2f}, p={x['p']:.3g})",
            "no class share correlates at p<0.05"))
    d = res.diagnostics
    if d is not None:
        warned = d.warned()
        if warned:
            click.echo(f"warning: the TM->OLI sensor step is large enough to move trends in "
                       f"{', '.join(warned)} (see diagnostics.json and the report)", err=True)
        if "onset" in d.notes:
            click.echo(f"  onset year: not available ({d.notes['onset']})")


def _side_manifest(out: Path) -> Path:
    """``<file name>.manifest.json``: the whole name, so that ``ref.csv`` (sample) and
    ``ref.json`` (accuracy) beside it never share a manifest."""
    return out.with_name(f"{out.name}.manifest.json")


def _publication(outp: Path, overwrite: bool, command: str) -> Any:
    """The output file ``outp`` and its ``<name>.manifest.json``, staged and published
    together (:class:`mlri._outputs.OutputSet`, the manifest last) under the folder's lock:
    a failure (a full disk while the manifest is written) or an interrupt leaves neither,
    so the next run needs no --overwrite; results of another command under those names are
    refused even with --overwrite."""
    from .._outputs import OutputSet

    return OutputSet(outp.parent, [outp.name], overwrite=overwrite,
                     marker=_side_manifest(outp).name, command=command)


@click.command("accuracy")
@click.option("--classes", required=True, metavar="FILE",
              help="classes.tif of `mlri run` (or the run folder).")
@click.option("--points", required=True, metavar="FILE",
              help="Reference points: CSV with x/y (or lon/lat) columns, GeoJSON or GeoPackage.")
@click.option("--label-col", default=None,
              help="Reference label column (default: reference/label/class).")
@click.option("--x-col", default=None, help="CSV x column (default: x/easting/lon...).")
@click.option("--y-col", default=None, help="CSV y column.")
@click.option("--points-crs", default=None,
              help="CRS of CSV coordinates (default: crs column, lon/lat -> EPSG:4326, else "
                   "the raster's).")
@click.option("--scheme", type=click.Choice(["auto", "binary", "classes4", "classes6"]),
              default="auto", show_default=True,
              help="restored/not restored, SD/ND/NI/SI, or the six classes.")
@click.option("--restored", default="SAI,SCI,SI_H_undefined", show_default=True,
              help="Map classes counted as restored (binary scheme).")
@click.option("--area-adjusted/--no-area-adjusted", default=True, show_default=True,
              help="Olofsson et al. (2014) area-weighted estimates with 95% CIs.")
@out_option(default="accuracy.json", file=True, help="Output JSON.")
@overwrite_option(help="Replace an existing --out.")
def accuracy_cmd(classes: str, points: str, label_col: str | None, x_col: str | None,
                 y_col: str | None, points_crs: str | None, scheme: str, restored: str,
                 area_adjusted: bool, out: str, overwrite: bool) -> None:
    """Confusion matrix (rows = map, columns = reference), OA, PA, UA, kappa."""
    from .._manifest import build_manifest
    from .._outputs import write_json
    from ..classes import CLASS_CODES
    from ..sites.accuracy import assess_accuracy
    from ..sites.runfolder import class_raster

    t0 = time.time()
    with _cli_errors():
        cpath = class_raster(classes)
        outp = Path(out)
        names = [k for k in CLASS_CODES if k != "nodata"]
        codes = []
        for nm in (s.strip() for s in restored.split(",") if s.strip()):
            if nm not in names:
                msg = f"--restored: unknown class {nm!r}; use names from {', '.join(names)}"
                raise ValueError(msg)
            codes.append(CLASS_CODES[nm])
        if not codes and scheme in ("auto", "binary"):
            msg = (f"--restored is empty: name the map classes counted as restored, e.g. "
                   f"SAI,SCI,SI_H_undefined (from {', '.join(names)})")
            raise ValueError(msg)
        with _publication(outp, overwrite, "accuracy") as oset:
            res = assess_accuracy(cpath, points, label_col=label_col, scheme=scheme,
                                  restored_classes=tuple(codes), x_col=x_col, y_col=y_col,
                                  points_crs=points_crs, area_adjusted_estimates=area_adjusted)
            write_json(oset.stage(outp.name), res)
            man = build_manifest(command="accuracy", parameters={
                "classes": str(cpath), "points": points, "label_col": label_col,
                "scheme": scheme, "restored": restored, "area_adjusted": area_adjusted,
                "points_crs": points_crs},
                inputs=[cpath, Path(points)], outputs=[outp.name], started=t0)
            write_json(oset.stage(_side_manifest(outp).name), man)
            oset.commit()
    labs = res["labels"]
    click.echo(f"{res['n_points_used']} points, scheme {res['scheme']}: overall accuracy "
               f"{res['overall_accuracy']:.3f}, kappa {res['kappa']:.3f}")
    w = max(len(x) for x in labs) + 2
    click.echo("confusion matrix (rows = map, columns = reference):")
    click.echo(" " * w + "".join(f"{x[:10]:>12}" for x in labs))
    for lab, row in zip(labs, res["matrix"], strict=False):
        click.echo(f"{lab:<{w}}" + "".join(f"{v:>12}" for v in row))
    aa = res.get("area_adjusted") or {}
    if "overall_accuracy" in aa:
        oa = aa["overall_accuracy"]
        half = f"± {oa['ci95']:.3f}" if math.isfinite(oa["ci95"]) else "± n/a"
        click.echo(f"area-adjusted overall accuracy {oa['estimate']:.3f} {half} (95% CI)")
        for note in aa.get("notes", []):
            click.echo(f"note: {note}")
    click.echo(f"-> {outp}")


@click.command("sample")
@click.option("--classes", required=True, metavar="FILE",
              help="classes.tif of `mlri run` (or the run folder).")
@click.option("--n", "n", default=100, show_default=True, type=int, help="Points per stratum.")
@out_option(file=True, help="Output .csv, .geojson or .gpkg.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Random seed.")
@click.option("--strata", type=click.Choice(["classes", "si", "binary"]), default="classes",
              show_default=True,
              help="Six map classes; SD/ND/NI/SI; or restored/not restored.")
@overwrite_option(help="Replace an existing --out.")
def sample_cmd(classes: str, n: int, out: str, seed: int, strata: str, overwrite: bool) -> None:
    """Stratified random sample of N pixel centres per class for validation."""
    from .._manifest import build_manifest
    from .._outputs import write_json
    from ..sites.runfolder import class_raster
    from ..sites.sampling import stratified_sample, write_points

    t0 = time.time()
    with _cli_errors():
        cpath = class_raster(classes)
        outp = Path(out)
        if outp.suffix.lower() not in (".csv", ".geojson", ".json", ".gpkg"):
            msg = f"--out {outp.name}: use a .csv, .geojson or .gpkg file name"
            raise ValueError(msg)
        if n < 1:
            msg = f"--n must be at least 1, got {n}"
            raise ValueError(msg)
        with _publication(outp, overwrite, "sample") as oset:
            t = stratified_sample(cpath, n, strata=strata, seed=seed)
            write_points(t, oset.stage(outp.name))
            man = build_manifest(command="sample", parameters={
                "classes": str(cpath), "n": n, "seed": seed, "strata": strata},
                inputs=[cpath], outputs=[outp.name], started=t0,
                extra={"allocation": "equal n per stratum, uniform without replacement",
                       "stratum_pixels": {s: int(p) for s, p in zip(
                           t["stratum"], t["stratum_pixels"], strict=False)}})
            write_json(oset.stage(_side_manifest(outp).name), man)
            oset.commit()
    per: dict[str, int] = {}
    for s in t["stratum"]:
        per[s] = per.get(s, 0) + 1
    click.echo(f"{len(t)} points ({', '.join(f'{k}: {v}' for k, v in per.items())}) -> {outp}")
    click.echo("fill the 'reference' column, then: mlri accuracy --classes "
               f"{cpath} --points {outp}")


@click.command("report")
@click.option("--run", "run_dir", required=True, metavar="DIR", help="Output folder of `mlri run`.")
@click.option("--sites", "sites_dir", default=None, metavar="DIR",
              help="Output folder of `mlri sites`.")
@click.option("--accuracy", "accuracy_file", default=None, metavar="FILE",
              help="accuracy.json of `mlri accuracy` (default: found in --sites or --run).")
@out_option(file=True, help="Output .html file.")
@click.option("--title", default=None, help="Report title.")
@click.option("--max-maps", default=12, show_default=True, type=int,
              help="Mine maps embedded in the report.")
@overwrite_option(help="Replace an existing --out.")
def report_cmd(run_dir: str, sites_dir: str | None, accuracy_file: str | None, out: str,
               title: str | None, max_maps: int, overwrite: bool) -> None:
    """One self-contained HTML report (figures embedded) of a run and its sites analysis."""
    from ..sites.report import build_report

    with _cli_errors():
        p = build_report(run_dir, out, sites=sites_dir, accuracy=accuracy_file, title=title,
                         max_maps=max_maps, overwrite=overwrite)
    click.echo(f"report -> {p} ({p.stat().st_size / 1e6:.1f} MB)")


COMMANDS = [sites_cmd, accuracy_cmd, sample_cmd, report_cmd]
