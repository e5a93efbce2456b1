"""``mlri run`` and ``mlri demo``: thin shells over :func:`mlri.pipeline.run` and
:func:`mlri.demo.run_demo` (registered by :mod:`mlri.cli` through ``COMMANDS``)."""

from __future__ import annotations

import time
from typing import Any

import click

from ..recipe import Options
from ..significance.registry import test_names
from .options import fail as _fail
from .options import (
    out_option,
    overwrite_option,
    persistence_options,
    quiet_option,
    threads_option,
)

__all__ = ["COMMANDS"]

#: The defaults of every statistics option: the API's (see mlri.recipe.Options).
_D = Options()


class _PathsOption(click.Option):
    """A repeatable option that also takes several values after one flag.

    ``--lst a.tif b.tif c.tif`` (what a shell makes of ``--lst dir/LST_*.tif``) and
    ``--lst a.tif --lst b.tif`` both give ``("a.tif", "b.tif", ...)``: values are consumed
    up to the next argument starting with ``-``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> Any:
        ret = super().add_to_parser(parser, ctx)
        table = {**getattr(parser, "_long_opt", {}), **getattr(parser, "_short_opt", {})}
        for name in self.opts:
            opt = table.get(name)
            if opt is None or not hasattr(opt, "process"):
                continue
            prev = opt.process

            def process(value: Any, state: Any, _prev: Any = prev) -> None:
                _prev(value, state)
                rargs = getattr(state, "rargs", None)
                while rargs and not rargs[0].startswith("-"):
                    _prev(rargs.pop(0), state)

            opt.process = process
        return ret


def _stats_options(f: Any) -> Any:
    opts = [
        click.option("--lst-unit", type=click.Choice(["K", "C"]), default=_D.lst_unit,
                     show_default=True, help="Unit of the LST rasters (°C is converted)."),
        click.option("--evi-min", type=float, default=_D.evi_min, show_default=True,
                     help="A year with EVI <= this is dropped (or floored, see --evi-policy)."),
        click.option("--evi-policy", type=click.Choice(["mask", "clamp"]), default=_D.evi_policy,
                     show_default=True, help="Drop years with low EVI, or floor EVI."),
        click.option("--z-crit", type=float, default=_D.z_crit,
                     help="Critical |Z| (default 1.96, strict '>', the paper's rule)."),
        click.option("--alpha", type=float, default=_D.alpha,
                     help="Two-sided level instead of --z-crit (pymannkendall-compatible)."),
        click.option("--min-valid", type=int, default=_D.min_valid, show_default=True,
                     help="Fewer valid MLRI years -> class nodata."),
        click.option("--zero-slope-direction", type=click.Choice(["slope", "sign_S"]),
                     default=_D.zero_slope_direction, show_default=True,
                     help="Direction of a significant pixel whose Sen slope is exactly 0."),
        click.option("--hurst-method", type=click.Choice(["expanding", "segmented"]),
                     default=_D.hurst_method, show_default=True, help="Hurst R/S variant."),
        click.option("--hurst-series", type=click.Choice(["diff", "level"]), default=_D.hurst_series,
                     show_default=True,
                     help="R/S on first differences or levels: decides most of SCI vs SAI."),
        click.option("--hurst-ddof", type=click.Choice(["0", "1"]), default=str(_D.hurst_ddof),
                     show_default=True, help="Std divisor of the expanding R/S."),
        click.option("--tau-min", type=int, default=_D.tau_min, show_default=True,
                     help="First window length of the expanding fit."),
        click.option("--gap", type=click.Choice(["ignore", "rate"]), default=_D.gap,
                     show_default=True, help="Differences across missing years."),
        click.option("--degenerate", type=click.Choice(["drop", "nan"]), default=_D.degenerate,
                     show_default=True, help="Degenerate R/S windows: drop them or H=NaN."),
        click.option("--rel-tol", type=float, default=_D.rel_tol, show_default=True,
                     help="Degeneracy tolerance of the R/S windows."),
        click.option("--sen-alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                     default=_D.sen_alpha, show_default=True,
                     help="Two-sided level of the Sen's slope interval (sen_low, sen_high "
                          "bands of trend.tif): 0.05 gives a 95 % interval."),
        click.option("--onset", is_flag=True, default=_D.onset,
                     help="Also write onset.tif: the year EVI started to rise per pixel "
                          "(mlri.onset, hinge fit), and hectares per onset year of the SI "
                          "pixels in summary.json (docs/onset.md). Off by default: slower."),
        click.option("--no-alp-correction", is_flag=True,
                     help="Segmented Hurst without the Anis-Lloyd-Peters correction."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@click.command("run", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--lst", "lst", cls=_PathsOption, required=True, metavar="PATH...",
              help="LST rasters: folder, glob, files (one per year) or one multi-band stack.")
@click.option("--evi", "evi", cls=_PathsOption, required=True, metavar="PATH...",
              help="EVI rasters, same forms as --lst.")
@out_option(help="Output folder (created).")
@click.option("--years", default=None, metavar="YEARS",
              help="Years to use, e.g. 2000-2011,2013-2019 (also names the bands/files "
                   "that carry no year).")
@click.option("--pattern", default=None, metavar="PATTERN",
              help="File-name pattern, e.g. 'mine3_{var}_{year}.tif'.")
@click.option("--tile", type=click.IntRange(16, 8192), default=512, show_default=True,
              help="Processing window side in pixels (aligned to the input blocks).")
@threads_option(help="Threads for the kernels and GDAL compression [default: all cores].")
@overwrite_option(help="Replace results already in --out.")
@quiet_option(help="No progress bar and no summary table.")
@click.option("--no-cog", is_flag=True,
              help="Plain tiled GeoTIFFs without overviews, compressed while the tiles are "
                   "computed: the fastest output (no COG pass).")
@click.option("--no-overviews", is_flag=True, help="COGs without internal overviews.")
@click.option("--compress", type=click.Choice(["deflate", "zstd", "lzw", "none"]),
              default="deflate", show_default=True, help="GeoTIFF compression.")
@click.option("--level", type=click.IntRange(1, 22), default=None,
              help="Compression level [default: 1, fast; ~same size as 6 on float data].")
@click.option("--no-checksum", is_flag=True, help="Skip the SHA-256 of the inputs.")
@click.option("--ignore-disk-space", is_flag=True,
              help="Start even when the outputs and temporaries (an uncompressed upper bound) "
                   "may not fit in the free disk space of --out.")
@click.option("--scheduler", default=None, metavar="ADDRESS|local[:N]",
              help="Compute the tiles on a dask.distributed cluster (needs mlri[dask]): "
                   "'local[:N]' starts N single-threaded workers on this machine; or a "
                   "scheduler address. Same outputs as without it.")
@click.option("--significance", type=click.Choice(list(test_names())),
              default=_D.significance, show_default=True,
              help="Trend test behind the classes: the paper's |Z|>1.96 rule (flags about half "
                   "of stable land as SI), a per-pixel permutation test, the AR(1) sieve test "
                   "(keeps year-to-year persistence in the null; per-pixel persistence has "
                   "low power, see --persistence), MK with the Hamed-Rao or Yue-Wang "
                   "variance correction (does not remove MLRI's construction drift), or "
                   "calibration on reference land (docs/significance.md).")
@click.option("--permutations", type=click.IntRange(19, 100_000), default=_D.permutations,
              show_default=True,
              help="Permutations (or sieve replicates) per pixel (--significance "
                   "permutation|sieve).")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=_D.seed, show_default=True,
              help="Seed of the permutation/sieve test (results never depend on "
                   "tiling/threads).")
@persistence_options
@click.option("--reference", "reference", type=click.Path(exists=True, dir_okay=False),
              default=_D.reference, help="Stable reference land: mask raster on the input grid, or "
                                 "polygons (GeoJSON/GPKG/SHP) (--significance reference).")
@click.option("--fdr", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=_D.fdr,
              help="Benjamini-Hochberg false discovery rate over the map instead of a "
                   "per-pixel level (any test).")
@_stats_options
def run_cmd(lst: tuple[str, ...], evi: tuple[str, ...], out: str, years: str | None,
            pattern: str | None, tile: int, threads: int | None, overwrite: bool,
            quiet: bool, no_cog: bool, no_overviews: bool, compress: str, level: int | None,
            no_checksum: bool, lst_unit: str, evi_min: float, evi_policy: str,
            z_crit: float | None, alpha: float | None, min_valid: int,
            zero_slope_direction: str, hurst_method: str, hurst_series: str,
            hurst_ddof: str, tau_min: int, gap: str, degenerate: str, rel_tol: float,
            no_alp_correction: bool, sen_alpha: float, onset: bool, significance: str, permutations: int,
            seed: int, persistence: tuple[float, float] | str | None,
            persistence_mask: str | None, reference: str | None,
            fdr: float | None, scheduler: str | None = None, ignore_disk_space: bool = False) -> None:
    """Compute MLRI, trends and restoration classes from annual LST/EVI rasters.

    \b
    Examples:
      mlri run --lst exports/ --evi exports/ --out results/
      mlri run --lst exports/mine3_LST_*.tif --evi exports/mine3_EVI_*.tif --out res/
      mlri run --lst lst_stack.tif --evi evi_stack.tif --years 2000-2011,2013-2019 --out res/

    Writes mlri.tif, trend.tif, classes.tif, flags.tif, summary.json and manifest.json
    (see docs/pipeline.md); with a calibrated test also significance.tif (p-values); and
    classes.png, a quick-look map of the classes.
    """
    from .._outputs import OutputExistsError
    from ..io import InputError
    from ..pipeline import format_summary, run

    opts = Options(lst_unit=lst_unit, evi_min=evi_min, evi_policy=evi_policy,
                        z_crit=z_crit, alpha=alpha, min_valid=min_valid,
                        zero_slope_direction=zero_slope_direction, hurst_method=hurst_method,
                        hurst_series=hurst_series, hurst_ddof=int(hurst_ddof),
                        tau_min=tau_min, gap=gap, degenerate=degenerate, rel_tol=rel_tol,
                        corrected=not no_alp_correction, sen_alpha=sen_alpha, onset=onset,
                        significance=significance,
                        permutations=permutations, seed=seed, persistence=persistence,
                        persistence_mask=persistence_mask, reference=reference, fdr=fdr)
    t0 = time.perf_counter()
    try:
        res = run(list(lst), list(evi), out, years=years, pattern=pattern, options=opts,
                  tile=tile, threads=threads, overwrite=overwrite, quiet=quiet,
                  cog=not no_cog, compress=compress, level=level,
                  overviews=not (no_overviews or no_cog), checksum=not no_checksum,
                  scheduler=scheduler, check_disk_space=not ignore_disk_space)
    except (InputError, OutputExistsError, NotADirectoryError, ValueError, TypeError,
            OSError, ImportError) as err:
        raise _fail(err) from None
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)
    written = sorted(p.name for p in res.files.values())
    if not quiet:
        click.echo(format_summary(res.summary))
        reg = _regional_line(res.summary.get("significance", {}))
        if reg:
            click.echo(reg)
        click.echo(f"wrote {res.out_dir}/ ({', '.join(written)}) in "
                   f"{time.perf_counter() - t0:.1f} s")


def _regional_line(sig: dict[str, Any]) -> str | None:
    """The regional persistence of a sieve run, for the terminal."""
    est = sig.get("persistence_estimate")
    if sig.get("persistence") != "regional" or not est:
        return None
    where = f"inside {est['mask']}" if est.get("mask") else "over the map"
    return (f"persistence (regional, {est['pixels']} pixels {where}, sample stride "
            f"{est['sample_stride']}): phi_LST {sig['phi_lst']:.3f}, "
            f"phi_EVI {sig['phi_evi']:.3f}")


@click.command("demo", context_settings={"help_option_names": ["-h", "--help"]})
@out_option(default="mlri-demo", help="Folder for inputs, results and report.")
@overwrite_option(help="Replace an existing demo folder's files.")
@quiet_option(help="Only print the report path.")
@click.option("--seed", type=int, default=2024, show_default=True,
              help="Random seed of the synthetic site.")
@threads_option(help="Threads [default: all cores].")
def demo_cmd(out: str, overwrite: bool, quiet: bool, seed: int, threads: int | None) -> None:
    """Run the whole method on a synthetic mine site: run, sites, accuracy, report.

    \b
    Writes into OUT:
      report.html      the report (open it in a browser)
      classes.png      planted truth beside the MLRI classes
      inputs/          LST_YYYY.tif, EVI_YYYY.tif (2000-2019 without 2012)
      results/         what `mlri run` writes (+ classes.png)
      mines.gpkg       7 mine polygons; points.csv: labelled reference points
      sites/           what `mlri sites` writes, and accuracy.json
      truth.tif        the planted regions
    """
    from .._outputs import OutputExistsError
    from ..demo import run_demo
    from ..pipeline import format_summary

    t0 = time.perf_counter()
    try:
        res = run_demo(out, overwrite=overwrite, quiet=quiet, seed=seed, threads=threads)
    except (OutputExistsError, ValueError, OSError, ImportError) as err:
        raise _fail(err) from None
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)
    if res.skipped:
        click.echo(f"note: per-mine analysis and accuracy skipped: {res.skipped}", err=True)
    if quiet:
        click.echo(str(res.report))
        return
    click.echo(format_summary(res.summary))
    click.echo("\nplanted region          pixels  majority class   share SI  expected")
    for r in res.regions.values():
        click.echo(f"{r['name']:<22} {r['pixels']:>7}  {r['majority']:<15} "
                   f"{100 * r['si_fraction']:>7.0f} %  {r['expected']}")
    st = res.regions.get(1)
    if st:
        click.echo(
            f"\nNote: the unchanged steppe is {100 * st['si_fraction']:.0f} % significant "
            "increase (SI). MLRI divides by running\nextrema and drifts upward by construction, "
            "so under the paper's |Z| > 1.96 rule about half of\nstable pixels test as SI "
            "(docs/significance.md; try --significance permutation).")
    if res.accuracy:
        a = res.accuracy
        click.echo(f"\naccuracy ({a['n_points_used']} reference points, restored / not "
                   f"restored): overall {100 * a['overall_accuracy']:.0f} %, kappa "
                   f"{a['kappa']:.2f}")
    click.echo(f"\nreport : {res.report}   <- open this in a browser\n"
               f"map    : {res.png}\n"
               f"results: {res.results}/  (mlri run)\n"
               + (f"sites  : {res.sites}/  (mlri sites, accuracy.json)\n"
                  f"mines  : {res.mines}, reference points: {res.points}\n"
                  if res.sites else "")
               + f"inputs : {res.inputs}/\n"
               f"done in {time.perf_counter() - t0:.1f} s. Your data: "
               f"mlri run --lst DIR --evi DIR --out results/  (README: Per-mine analysis)")


COMMANDS = [run_cmd, demo_cmd]
