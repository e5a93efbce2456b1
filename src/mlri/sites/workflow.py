"""The ``mlri sites`` pipeline as a path-in / path-out function, and a loader of its outputs."""

from __future__ import annotations

import json
import math
import os
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._manifest import build_manifest
from .._outputs import OutputExistsError, OutputSet, write_json
from .._vector import read_features
from ._deps import SitesWarning, require, require_extra
from ._table import Table, write_features
from .cluster import check_kmeans_parameters
from .diagnostics import (
    ONSET_COLUMNS,
    SEN_COLUMNS,
    MineDiagnostics,
    mine_diagnostics,
    sensor_columns,
)
from .polygons import mining_duration, parse_start_year, read_mines, start_group
from .runfolder import open_run
from .stats import DEFAULT_METRICS, group_tests, spearman_tests
from .zonal import ZonalResult, zonal_stats

__all__ = ["SITES_OUTPUTS", "SitesOutputs", "load_sites", "run_sites"]

SITES_OUTPUTS = ("sites.csv", "sites_mlri.csv", "sites_onset.csv", "sites.gpkg", "groups.json",
                 "clusters.csv", "diagnostics.json", "manifest.json", "figures")
GPKG_FIELDS = ("id", "name", "region", "start", "start_group", "duration", "status",
               "area_ha", "valid_pct", "pct_valid_SI", "pct_valid_SCI", "pct_valid_SAI",
               "pct_valid_NI", "pct_valid_ND", "pct_valid_SD", "pct_nodata", "cluster", "level",
               # per-mine diagnostics, when the run has them (mlri.sites.diagnostics)
               *ONSET_COLUMNS, *SEN_COLUMNS, *sensor_columns())


def _safe_name(s: str, used: set[str]) -> str:
    base = re.sub(r"[^\w.-]+", "_", s).strip("._")[:80] or "mine"
    name, k = base, 2
    while name.lower() in used:
        name = f"{base}_{k}"
        k += 1
    used.add(name.lower())
    return name


def add_start_columns(table: Table, *, reference_year: int, threshold: int = 2000,
                      source: str = "") -> None:
    """Add ``start_year``, ``start_group`` and ``duration`` from the raw ``start`` column."""
    if "start" not in table:
        return
    exact, groups, dur = [], [], []
    bad = []
    for i, v in enumerate(table["start"]):
        try:
            sy = parse_start_year(v)
        except ValueError as err:
            bad.append(f"{table['id'][i]!r}: {err}")
            sy = parse_start_year(None)
        exact.append(sy.exact)
        groups.append(start_group(sy, threshold))
        d = mining_duration(sy, reference_year)
        if not math.isnan(d) and d < 0:
            bad.append(f"{table['id'][i]!r}: start {v!r} is after the reference year "
                       f"{reference_year}")
            d = float("nan")
        dur.append(d)
    for k, msg in enumerate(bad):
        if k == 20:
            warnings.warn(f"... and {len(bad) - 20} more start-year problems", SitesWarning,
                          stacklevel=2)
            break
        warnings.warn(f"{source}: mine {msg}; left out of start-year tests", SitesWarning,
                      stacklevel=2)
    table["start_year"] = np.array([np.nan if e is None else e for e in exact], dtype=float)
    table["start_group"] = groups
    table["duration"] = np.asarray(dur, dtype=np.float64)


@dataclass
class SitesOutputs:
    """What :func:`run_sites` produced (paths and the in-memory results)."""

    out: Path
    table: Table
    zonal: ZonalResult
    groups: dict[str, Any]
    clusters: Any = None
    diagnostics: MineDiagnostics | None = None
    files: list[Path] = field(default_factory=list)


def run_sites(
    run: str | os.PathLike[str],
    mines: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    region_col: str | None = None,
    start_col: str | None = None,
    group_cols: Sequence[str] = (),
    layer: str | int | None = None,
    all_touched: bool = False,
    threshold: int = 2000,
    reference_year: int | None = None,
    denominator: str = "valid",
    k: int = 3,
    seed: int = 0,
    n_init: int = 20,
    cluster: bool = True,
    figures: bool = True,
    max_maps: int = 50,
    overwrite: bool = False,
    progress: bool = False,
) -> SitesOutputs:
    """Zonal class areas, group tests, clustering and figures for every mine.

    Writes into ``out``: ``sites.csv`` (one row per mine), ``sites_mlri.csv`` (mean MLRI per
    mine, class and year), ``sites_onset.csv`` (hectares per onset year of every mine, when
    the run has ``onset.tif``), ``diagnostics.json`` (onset, sensor step and Sen's slope
    interval per mine, :mod:`mlri.sites.diagnostics`), ``sites.gpkg`` (polygons in the raster
    CRS with the key columns), ``groups.json`` (Kruskal-Wallis per grouping, Spearman with
    duration, clustering), ``clusters.csv``, ``figures/*.png`` (+ ``figures/mines/<id>.png``
    for up to ``max_maps`` mines) and ``manifest.json``.  See ``docs/sites.md`` for every column and rule.
    """
    t0 = time.time()
    # a bad k / seed / n_init is refused by name before any work (it used to reach
    # scikit-learn and only skip the clustering with a warning)
    k, seed, n_init = check_kmeans_parameters(k, seed, n_init)
    require_extra("mlri sites", ("shapely", "pyogrio", "pyproj"))
    rf = open_run(run)
    if Path(out).resolve() == rf.path.resolve():
        msg = (f"--out {out} is the --run folder: the sites results would mix with (and "
               f"--overwrite replace) the run's own files; choose another output folder")
        raise OutputExistsError(msg)
    # the folder lock is held for the whole run (a second run into --out is refused at once);
    # an interrupted or failed run leaves nothing and needs no --overwrite next time; a folder
    # holding another command's results (a run, a study) is refused even with --overwrite
    with OutputSet(out, SITES_OUTPUTS, overwrite=overwrite, command="sites") as oset:
        outp = oset.out
        extra = [c for c in group_cols if c not in (region_col, name_col, start_col)]
        mines_obj = read_mines(mines, id_col=id_col, name_col=name_col, region_col=region_col,
                               start_col=start_col, extra_cols=extra, layer=layer)
        zr = zonal_stats(rf.classes, mines_obj, mlri=rf.mlri, flags=rf.flags,
                         years=rf.years or None,
                         all_touched=all_touched, progress=progress)
        table = zr.table
        diag = mine_diagnostics(rf, zr.mines, all_touched=all_touched)
        diag.add_columns(table)
        ref_year = int(reference_year) if reference_year is not None else (rf.last_year or 2019)
        add_start_columns(table, reference_year=ref_year, threshold=threshold,
                          source=os.fspath(mines))
        usable = zr.usable()

        # group tests
        groupings: list[str] = []
        if "start_group" in table:
            groupings.append("start_group")
        for c in group_cols:
            col = "region" if c == region_col and "region" in table else c
            if col not in table:
                msg = f"group column {c!r} is not in {mines}; columns read: {', '.join(table)}"
                raise ValueError(msg)
            if col not in groupings:
                groupings.append(col)
        if not groupings and "region" in table:
            groupings.append("region")
        tests = [group_tests(table, g, denominator=denominator, usable=usable) for g in groupings]
        spear = (spearman_tests(table, "duration", denominator=denominator, usable=usable)
                 if "duration" in table else None)

        # clustering
        cres = None
        cluster_info: dict[str, Any] = {"skipped": "disabled (--no-cluster)"}
        if cluster:
            try:
                from .cluster import cluster_sites, level_names

                cres = cluster_sites(table, k=k, seed=seed, n_init=n_init,
                                     denominator=denominator, usable=usable)
                table["cluster"] = np.where(cres.labels > 0, cres.labels, 0)
                table["level"] = cres.levels
                cluster_info = cres.summary()
                tests.append(group_tests(table, "level", denominator=denominator,
                                         usable=usable & (cres.labels > 0),
                                         order=level_names(cres.k)))
            except (ValueError, ImportError) as err:
                cluster_info = {"skipped": str(err)}
                warnings.warn(f"clustering skipped: {err}", SitesWarning, stacklevel=2)

        groups_doc = {
            "unit": "mine (one value per mine; pixels within a mine are not independent)",
            "denominator": denominator,
            "class_share_columns": ("pct_valid_<class>: % of the mine's classified pixels"
                                    if denominator == "valid" else
                                    "pct_<class>: % of the mine's pixels incl. nodata"),
            "n_mines": len(table), "n_usable": int(usable.sum()),
            "reference_year": ref_year,
            "start_group_rule": (f"exact start < {threshold} or 'Before {threshold}' -> "
                                 f"'Before {threshold}'; exact >= {threshold} or 'From "
                                 f"{threshold}' -> 'From {threshold}'"),
            "duration_rule": (f"reference_year - start_year; 'Before {threshold}' -> "
                              f"reference_year - {threshold} + 1"),
            "kruskal_wallis": tests,
            "spearman_duration": spear,
            "clustering": cluster_info,
            "p_adjust": {"dunn": "holm over pairs", "p_bh": "Benjamini-Hochberg over class metrics"},
        }
        # every output is staged, verified and published together, manifest.json last
        files = _write_outputs(oset, table, zr, cres, groupings, groups_doc, rf, diag,
                               denominator=denominator, figures=figures, max_maps=max_maps)
        params = {
            "run": os.fspath(run), "mines": os.fspath(mines), "id_col": id_col,
            "name_col": name_col, "region_col": region_col, "start_col": start_col,
            "group_cols": list(group_cols), "layer": layer, "all_touched": all_touched,
            "rasterisation": zr.raster["rule"], "threshold": threshold,
            "reference_year": ref_year, "denominator": denominator, "k": k, "seed": seed,
            "n_init": n_init, "cluster": cluster, "figures": figures, "max_maps": max_maps,
        }
        man = build_manifest(
            command="sites", parameters=params,
            inputs=[*rf.inputs(), Path(os.fspath(mines))],
            outputs=[os.fspath(f.relative_to(outp)) for f in files], started=t0,
            extra={"raster": {k2: v for k2, v in zr.raster.items() if k2 != "crs"},
                   "run_parameters": rf.parameters,
                   "status_counts": _status_counts(table)})
        write_json(oset.stage("manifest.json"), man)
        files.append(outp / "manifest.json")
        oset.commit()
        return SitesOutputs(out=outp, table=table, zonal=zr, groups=groups_doc,
                            clusters=cres, diagnostics=diag, files=files)


def _write_outputs(oset: OutputSet, table: Table, zr: ZonalResult, cres: Any,
                   groupings: list[str], groups_doc: dict[str, Any], rf: Any,
                   diag: MineDiagnostics, *, denominator: str, figures: bool,
                   max_maps: int) -> list[Path]:
    """Write the tables, GeoPackage, group tests and figures into ``oset``'s staging
    folder; return their final paths."""
    outp = oset.out
    table.to_csv(oset.stage("sites.csv"))
    zr.mlri_table().to_csv(oset.stage("sites_mlri.csv"))
    if cres is not None:
        cres.table(table).to_csv(oset.stage("clusters.csv"))
    _write_gpkg(oset.stage("sites.gpkg"), zr, table)
    write_json(oset.stage("groups.json"), groups_doc)
    write_json(oset.stage("diagnostics.json"), diag.as_json())
    onset = "onset" not in diag.notes
    if onset:
        diag.onset_table().to_csv(oset.stage("sites_onset.csv"))
    names = ["sites.csv", "sites_mlri.csv", *(["sites_onset.csv"] if onset else []),
             *(["clusters.csv"] if cres is not None else []), "sites.gpkg", "groups.json",
             "diagnostics.json"]
    files = [outp / n for n in names]
    if figures:
        fdir = oset.stage_dir("figures")
        fig_files = write_figures(fdir, rf.classes, zr, table, cres, groupings,
                                  denominator=denominator, max_maps=max_maps)
        if onset:
            from .figures import save_png
            from .report_diagnostics import onset_curves

            titles = {str(i): zr.mines.title(k) for k, i in enumerate(zr.mines.ids)}
            fig_files.append(save_png(onset_curves(
                diag.onset_table(), names=titles,
                first_year=min(rf.years) if rf.years else None,
                last_year=max(rf.years) if rf.years else None), fdir / "onset_cumulative.png"))
        files.extend(outp / "figures" / f.relative_to(fdir) for f in fig_files)
    return files


def _status_counts(t: Table) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in t["status"]:
        out[s] = out.get(s, 0) + 1
    return out


def _write_gpkg(path: Path, zr: ZonalResult, table: Table) -> Path:
    shapely = require("shapely", "writing sites.gpkg")
    geoms = zr.mines.geoms
    wkb = np.array([None if g is None else shapely.to_wkb(shapely.multipolygons(
        shapely.get_parts(g))) for g in geoms], dtype=object)
    names, data = [], []
    for c in GPKG_FIELDS:
        if c not in table:
            continue
        v = table[c]
        names.append(c)
        if isinstance(v, np.ndarray):
            data.append(v.astype(np.float64) if v.dtype.kind == "f" else v)
        else:
            data.append(np.asarray(["" if x is None else str(x) for x in v], dtype=object))
    return write_features(path, wkb, data, names, driver="GPKG", geometry_type="MultiPolygon",
                          crs=zr.raster.get("crs"), layer="sites")


def write_figures(fdir: Path, classes: Path, zr: ZonalResult, table: Table, cres: Any,
                  groupings: Sequence[str], *, denominator: str = "valid", max_maps: int = 50,
                  overwrite: bool = False) -> list[Path]:
    """All PNG figures of a sites run into ``fdir`` (mine maps in ``fdir/mines``)."""
    from . import figures as F

    fdir.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    usable = zr.usable()
    g0 = groupings[0] if groupings else None
    out.append(F.save_png(F.class_bars(table, group_col=g0, denominator=denominator,
                                       usable=usable), fdir / "class_shares_by_mine.png"))
    for g in groupings:
        out.append(F.save_png(F.group_bars(table, g, denominator=denominator, usable=usable),
                              fdir / f"class_shares_by_{_safe_name(g, set())}.png"))
    out.append(F.save_png(F.mlri_trajectories(zr.mlri_table()), fdir / "mlri_trajectories.png"))
    if cres is not None:
        out.append(F.save_png(F.cluster_scatter(table, cres, denominator=denominator),
                              fdir / "clusters.png"))
    mdir = fdir / "mines"
    if overwrite and mdir.is_dir():
        for old in mdir.glob("*.png"):
            old.unlink()
    if max_maps:
        mdir.mkdir(exist_ok=True)
        used: set[str] = set()
        pre = "pct_valid_" if denominator == "valid" else "pct_"
        count = 0
        for i, g in enumerate(zr.mines.geoms):
            if g is None or table["status"][i] in ("outside", "skipped"):
                continue
            if 0 <= max_maps <= count:
                break
            shares = {c: float(table.numeric(pre + c)[i]) for c in ("SI", "NI", "ND", "SD")}
            fig = F.mine_map(classes, g, title=f"Mine {zr.mines.title(i)}", shares=shares)
            out.append(F.save_png(fig, mdir / f"{_safe_name(str(zr.mines.ids[i]), used)}.png"))
            count += 1
    return out


def load_sites(sites_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the outputs of :func:`run_sites` back: tables, group tests, manifest, geometries.

    Returns ``{"table", "mlri", "onset", "clusters", "groups", "diagnostics", "manifest",
    "geoms", "crs", "dir"}`` (missing parts are None).
    """
    d = Path(sites_dir)
    if not (d / "sites.csv").is_file():
        msg = f"{d} holds no sites.csv; pass the --out folder of `mlri sites` as --sites"
        raise FileNotFoundError(msg)
    res: dict[str, Any] = {"dir": d, "table": Table.from_csv(d / "sites.csv")}
    for k, name in (("mlri", "sites_mlri.csv"), ("onset", "sites_onset.csv"),
                    ("clusters", "clusters.csv")):
        res[k] = Table.from_csv(d / name) if (d / name).is_file() else None
    for k, name in (("groups", "groups.json"), ("diagnostics", "diagnostics.json"),
                    ("manifest", "manifest.json")):
        p = d / name
        res[k] = json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None
    res["geoms"], res["crs"] = None, None
    if (d / "sites.gpkg").is_file():
        try:
            require("pyogrio", "reading sites.gpkg")
            shapely = require("shapely", "reading sites.gpkg")
            meta, _, geom, fdata = read_features(d / "sites.gpkg", "the mines' polygons")
            ids = [str(v) for v in fdata[list(meta["fields"]).index("id")]]
            gm = dict(zip(ids, shapely.from_wkb(np.asarray(geom, dtype=object)), strict=False))
            res["geoms"] = [gm.get(str(i)) for i in res["table"]["id"]]
            res["crs"] = meta.get("crs")
        except ImportError:
            pass
    return res


__all__ += ["DEFAULT_METRICS", "add_start_columns", "write_figures"]
