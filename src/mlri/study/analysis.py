"""Across-mine analysis of a study: one table of all mines, then the paper's statistics.

The per-mine rows (``zonal.csv`` of every finished mine, in the order of the mines file) are
joined into one table; the statistics are the functions of :mod:`mlri.sites` applied to it:
Kruskal-Wallis of the class shares between the start groups (before / from ``threshold``) and
between regions (:func:`mlri.sites.group_tests`), Spearman correlation with the mining duration
(:func:`mlri.sites.spearman_tests`), k-means on the SCI and SAI shares
(:func:`mlri.sites.cluster_sites`, relabelled high / medium / low) and a Kruskal-Wallis test
between the clusters; accuracy at the mines with reference points
(:func:`mlri.sites.assess_accuracy`).  The unit is the mine.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..sites._table import Table

__all__ = ["analyse", "combine_diagnostics", "combine_tables"]


def _typed(t: Table) -> Table:
    """Numeric columns (numbers / None only) as float64 arrays, as ``Table.from_csv`` does."""
    from ..sites._table import TEXT_COLUMNS

    out = Table()
    for name in t.columns:
        col = t[name]
        vals = list(col)
        kinds = {type(v) for v in vals if v is not None}
        if name not in TEXT_COLUMNS and kinds and kinds <= {int, float}:
            arr = np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
            if kinds == {int} and not any(v is None for v in vals):
                arr = arr.astype(np.int64)
            out[name] = arr
        else:
            out[name] = vals
    if not len(t):
        out._n = 0
    return out


def combine_tables(paths: list[Path], extra: list[dict[str, Any]] | None = None) -> Table:
    """Rows of several one-mine CSV tables as one typed table (``extra`` columns per row)."""
    recs = []
    for k, p in enumerate(paths):
        t = Table.from_csv(p)
        for r in t.rows():
            if extra is not None:
                r.update({c: (v if c not in ("name", "region", "start") or v is None
                              else str(v)) for c, v in extra[k].items()})
            recs.append(r)
    return _typed(Table.from_records(recs))


def combine_diagnostics(folders: list[Path]) -> tuple[Table, dict[str, Any]]:
    """The onset long tables (``onset.csv``) and ``diagnostics.json`` of the mine folders as
    one table and one record (:func:`mlri.sites.diagnostics.combine_diagnostics`)."""
    import json

    from ..sites.diagnostics import combine_diagnostics as combine

    onset = [f / "onset.csv" for f in folders if (f / "onset.csv").is_file()]
    docs = []
    for f in folders:
        p = f / "diagnostics.json"
        if p.is_file():
            docs.append(json.loads(p.read_text(encoding="utf-8")))
    long = combine_tables(onset)
    if not len(long):
        long = Table({"id": [], "year": [], "pixels": [], "ha": [], "cumulative_ha": []})
    return long, combine(docs)


def analyse(table: Table, *, threshold: int, reference_year: int, k: int, seed: int,
            n_init: int, source: str = "mines") -> tuple[Table, dict[str, Any], Any]:
    """Add start group / duration / cluster columns to ``table``; return the tests.

    Returns ``(table, groups, clusters)``: ``groups`` is the JSON-ready record of every test
    (same layout as ``groups.json`` of ``mlri sites``), ``clusters`` the
    :class:`~mlri.sites.ClusterResult` (None when clustering was not possible).
    """
    from ..sites.stats import group_tests, spearman_tests
    from ..sites.workflow import add_start_columns
    from ..sites.zonal import CLASS_ORDER  # noqa: F401 - documents the share columns

    n = len(table)
    st = np.array(table["status"], dtype=object) if n else np.array([], dtype=object)
    nv = table.numeric("n_valid") if n else np.array([])
    usable = np.isin(st, ["ok", "partial"]) & (nv > 0)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        add_start_columns(table, reference_year=reference_year, threshold=threshold,
                          source=source)
    notes += [str(w.message) for w in caught]
    tests = []
    if "start_group" in table:
        tests.append(group_tests(table, "start_group", usable=usable))
    if "region" in table and len({r for r in table["region"] if r is not None}) > 1:
        tests.append(group_tests(table, "region", usable=usable))
    spear = (spearman_tests(table, "duration", usable=usable) if "duration" in table
             else None)
    cres = None
    cluster_info: dict[str, Any]
    try:
        from ..sites.cluster import cluster_sites, level_names

        cres = cluster_sites(table, k=k, seed=seed, n_init=n_init, usable=usable)
        table["cluster"] = np.where(cres.labels > 0, cres.labels, 0)
        table["level"] = cres.levels
        cluster_info = cres.summary()
        tests.append(group_tests(table, "level", usable=usable & (cres.labels > 0),
                                 order=level_names(cres.k)))
    except (ValueError, ImportError) as err:
        cluster_info = {"skipped": str(err)}
        notes.append(f"clustering skipped: {err}")
    groups = {
        "unit": "mine (one value per mine; pixels within a mine are not independent)",
        "denominator": "valid",
        "class_share_columns": "pct_valid_<class>: % of the mine's classified pixels",
        "n_mines": n, "n_usable": int(usable.sum()), "reference_year": reference_year,
        "start_group_rule": (f"exact start < {threshold} or 'Before {threshold}' -> "
                             f"'Before {threshold}'; exact >= {threshold} or 'From "
                             f"{threshold}' -> 'From {threshold}'"),
        "duration_rule": (f"reference_year - start_year; 'Before {threshold}' -> "
                          f"reference_year - {threshold} + 1"),
        "kruskal_wallis": tests, "spearman_duration": spear, "clustering": cluster_info,
        "notes": notes,
    }
    return table, groups, cres


def accuracy(points: dict[str, str], folders: dict[str, Path]) -> dict[str, Any]:
    """Accuracy of the class map of every mine that has reference points."""
    from ..sites.accuracy import assess_accuracy

    out: dict[str, Any] = {}
    for mid, path in points.items():
        if mid not in folders:
            out[mid] = {"error": f"mine {mid!r} has no finished result (see status.csv)"}
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                # the population is the mine (its polygon's pixels, as zonal.csv counts them),
                # not the grid buffered around it: the strata's weights and the areas are the
                # mine's
                res = assess_accuracy(folders[mid] / "run" / "classes.tif", path,
                                      population=_mine_population(folders[mid] / "zonal.csv"))
            except (ValueError, OSError) as err:
                res = {"error": str(err)}
        res["warnings"] = [str(w.message) for w in caught]
        res["points_file"] = path
        out[mid] = res
    return out


def _mine_population(zonal_csv: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Pixel counts and hectares per class code of a mine's polygon, from its zonal.csv (None
    when the file lacks them: the whole class raster is then the population)."""
    from ..classes import CLASS_NAMES
    from ..sites._table import Table

    try:
        row = Table.from_csv(zonal_csv).row(0)
    except (OSError, ValueError, IndexError):
        return None
    counts = np.zeros(len(CLASS_NAMES), dtype=np.int64)
    ha = np.zeros(len(CLASS_NAMES))
    for code, name in CLASS_NAMES.items():
        try:
            n, a = float(row[f"n_{name}"]), float(row[f"ha_{name}"])
        except (KeyError, TypeError, ValueError):
            return None
        if not math.isfinite(n):
            return None
        counts[code], ha[code] = int(n), a  # (ha NaN without a CRS: counts are used)
    return counts, ha


def plain_words(groups: dict[str, Any], alpha: float = 0.05) -> list[str]:
    """The group tests, Spearman correlations and clusters as short sentences."""
    out: list[str] = []
    for g in groups.get("kruskal_wallis", []):
        col = g["group_col"]
        metrics = ("SI", "SCI", "SAI") if col == "start_group" else ("SI",)
        for t in g["tests"]:
            if t["metric"] not in metrics:
                continue
            names = [x["group"] for x in t["groups"]]
            what = {"region": "regions", "level": "the k-means clusters"}.get(
                col, " and ".join(f"mines started {x[0].lower()}{x[1:]}" for x in names)
                if col == "start_group" else col)
            p = t.get("p")
            if p is None or (isinstance(p, float) and math.isnan(p)):
                out.append(f"{t['metric']} share between {what}: no test ({t.get('note')}).")
                continue
            med = ", ".join(f"{x['group']} median {x['median']:.1f} % (n={x['n']})"
                            for x in t["groups"])
            verdict = "differs significantly" if p < alpha else "does not differ significantly"
            out.append(f"The {t['metric']} share {verdict} between {what} "
                       f"(Kruskal-Wallis H = {t['statistic']:.2f}, p = {_pv(p)}): {med}.")
    sp = groups.get("spearman_duration") or {}
    for t in sp.get("tests", []):
        if t["metric"] not in ("SI", "SCI", "SAI"):
            continue
        rho, p = t.get("rho"), t.get("p")
        if rho is None or (isinstance(rho, float) and math.isnan(rho)):
            out.append(f"Spearman of the {t['metric']} share with mining duration: undefined "
                       f"({t.get('note')}).")
            continue
        sig = "significant" if p < alpha else "not significant"
        direction = "Longer-mined mines have more" if rho > 0 else \
            "Longer-mined mines have less"
        out.append(f"{direction} {t['metric']} (Spearman rho = {rho:.3f}, p = {_pv(p)}, "
                   f"{sig}, n = {t['n']}).")
    cl = groups.get("clustering") or {}
    if "clusters" in cl:
        parts = [f"{c['level']} ({c['n']} mines, mean SI {c['mean_SI_pct']:.1f} %, centroid "
                 + ", ".join(f"{k.replace('pct_valid_', '')} {v:.1f} %"
                             for k, v in c["centroid"].items()) + ")"
                 for c in cl["clusters"]]
        out.append(f"K-means on the SCI and SAI shares gives {cl['k']} clusters: "
                   + "; ".join(parts) + ".")
    elif "skipped" in cl:
        out.append(f"No clustering: {cl['skipped']}.")
    return out


def _pv(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
