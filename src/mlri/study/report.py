"""The study report: one self-contained HTML file that leads with the answer.

Order: the verdict (mines finished / failed), a map of all mines coloured by restoration
cluster, the per-mine table (SI / SCI / SAI shares and hectares), the group tests and clusters
in plain words, failed mines with their reasons, then one short section per mine (class map,
shares, grid).  Figures are embedded PNGs; the HTML helpers and the figure functions are those
of :mod:`mlri.sites` (the single-run report), so both reports look alike.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..sites._html import CSS
from ..sites._html import e as _e
from ..sites._html import img as _img
from ..sites._html import num as _f
from ..sites._html import table as _table
from ..sites._table import Table
from .analysis import plain_words

__all__ = ["mines_map", "study_report"]


def _num(t: Table, col: str) -> np.ndarray:
    return t.numeric(col) if col in t else np.full(len(t), np.nan)


def mines_map(table: Table, failed: list[tuple[str, float, float]] | None = None) -> Any:
    """All mines on a longitude/latitude map (equirectangular, aspect set at the mean
    latitude), coloured by restoration cluster, marker area proportional to mine area."""
    from ..sites.figures import LEVEL_COLORS, _figure

    fig = _figure(7.6, 4.6)
    ax = fig.add_subplot()
    lon, lat = _num(table, "lon"), _num(table, "lat")
    area = _num(table, "area_ha")
    levels = list(table["level"]) if "level" in table else [""] * len(table)
    size = 12 + 60 * np.sqrt(np.nan_to_num(area) / max(1.0, float(np.nanmax(area))
                                                       if len(area) else 1.0))
    for lev in ("high", "medium", "low", ""):
        sel = np.array([(lv or "") == lev for lv in levels], dtype=bool)
        if not sel.any():
            continue
        col = LEVEL_COLORS.get(lev, "#9e9e9e")
        ax.scatter(lon[sel], lat[sel], s=size[sel], color=col, edgecolor="black",
                   linewidth=0.4, alpha=0.9,
                   label=f"{lev or 'not clustered'} restoration (n={int(sel.sum())})")
    if failed:
        ax.scatter([f[1] for f in failed], [f[2] for f in failed], marker="x", color="black",
                   s=30, label=f"failed (n={len(failed)})")
    if "region" in table and len(table):
        regs: dict[str, list[int]] = {}
        for i, r in enumerate(table["region"]):
            if r:
                regs.setdefault(str(r), []).append(i)
        for r, idx in regs.items():
            ax.annotate(r, (float(np.nanmean(lon[idx])), float(np.nanmax(lat[idx]))),
                        xytext=(0, 6), textcoords="offset points", ha="center", fontsize=7,
                        color="#333")
    ok = np.isfinite(lat)
    if ok.any():
        ax.set_aspect(1.0 / max(0.2, math.cos(math.radians(float(np.nanmean(lat[ok]))))))
        lo0, lo1 = float(np.nanmin(lon[ok])), float(np.nanmax(lon[ok]))
        for z in range(int((lo0 + 180) // 6) + 1, int((lo1 + 180) // 6) + 1):
            ax.axvline(z * 6 - 180, color="#bbb", lw=0.6, ls="--")
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title("Mines by restoration cluster (dashed: UTM zone boundaries)", fontsize=10)
    ax.grid(alpha=0.25)
    fig.legend(loc="outside right center", fontsize=7, frameon=False)
    return fig


def _mine_rows(table: Table) -> list[list[str]]:
    rows = []
    for i in range(len(table)):
        r = table.row(i)
        rows.append([_e(r.get("id")), _e(r.get("name") or ""), _e(r.get("region") or ""),
                     _e(r.get("start") if r.get("start") is not None else ""),
                     _e(r.get("level") or ""), _e(f"EPSG:{int(r['epsg'])}"
                                                  if r.get("epsg") else ""),
                     _f(r.get("area_ha"), 1), _f(r.get("pct_valid_SI"), 1),
                     _f(r.get("pct_valid_SCI"), 1), _f(r.get("pct_valid_SAI"), 1),
                     _f(r.get("ha_SI"), 1), _f(r.get("valid_pct"), 1)])
    return rows


def _group_summary(table: Table) -> list[list[str]]:
    rows: list[list[str]] = []
    if "start_group" not in table:
        return rows
    for g in sorted({x for x in table["start_group"] if x}):
        sel = np.array([x == g for x in table["start_group"]], dtype=bool)
        rows.append([_e(g), str(int(sel.sum()))] + [
            _f(float(np.nanmean(table.numeric(f"pct_valid_{c}")[sel])), 1)
            for c in ("SI", "SCI", "SAI")])
    return rows


#: How to get the onset year in a study (shown when the runs have no onset.tif).
ONSET_HOW_TO = ("the mines' runs have no onset.tif: run the study with --onset (or onset = "
                "true in the [stats] table of the study file) to map the onset year of "
                "restoration of every mine")


def study_report(cfg: Any, table: Table, groups: dict[str, Any], cres: Any, tasks: list[Any],
                 records: list[dict[str, Any]], acc: dict[str, Any] | None, *,
                 onset: Table | None = None, diagnostics: dict[str, Any] | None = None) -> str:
    """The HTML text of the study report (``onset``, ``diagnostics``: the study's
    ``onset_by_year.csv`` table and ``diagnostics.json`` record)."""
    from ..sites import figures as F
    from ..sites.figures import cluster_scatter, png_bytes
    from ..sites.report_diagnostics import diagnostics_sections

    n = len(records)
    n_failed = sum(r["status"] == "failed" for r in records)
    n_ok = n - n_failed
    zones = sorted({int(r["epsg"]) for r in records if r.get("epsg")})
    body = [f"<h1>Mine restoration study: {n_ok} of {n} mines</h1>"]
    verdict = (f"{n_ok} mine(s) analysed on their own UTM grids "
               f"({', '.join(f'EPSG:{z}' for z in zones) or 'no grid'}); "
               f"{n_failed} failed" + (" (listed below)." if n_failed else "."))
    body.append(f'<p class="note">{_e(verdict)}</p>')

    words = plain_words(groups) if "kruskal_wallis" in groups else []
    failed_pts = [(t.id, t.lonlat[0], t.lonlat[1]) for t, r in zip(tasks, records, strict=True)
                  if r["status"] == "failed" and t.lonlat]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        body.append("<h2>Answer</h2>")
        if words:
            body.append("<ul>" + "".join(f"<li>{_e(w)}</li>" for w in words) + "</ul>")
        if len(table) or failed_pts:
            body.append(_img(png_bytes(mines_map(table, failed_pts)), "map of mines",
                             "Every mine at its location, coloured by its k-means restoration "
                             "cluster on the SCI and SAI shares (marker area ~ mine area)."))
        gs = _group_summary(table)
        if gs:
            body.append("<h3>Mean class shares by start group</h3>")
            body.append(_table(["group", "mines", "SI %", "SCI %", "SAI %"], gs))
        body.append("<h2>Per-mine table</h2>")
        body.append('<div class="scroll">' + _table(
            ["id", "name", "region", "start", "cluster", "grid", "area ha", "SI %", "SCI %",
             "SAI %", "SI ha", "classified %"], _mine_rows(table), text_cols=6) + "</div>")
        body.append("<p>Shares are percentages of each mine's classified pixels (SI = SCI + "
                    "SAI + SI with undefined Hurst exponent); hectares from the pixel size of "
                    "the mine's UTM grid. The full table is <code>mines.csv</code>.</p>")
        if cres is not None:
            body.append(_img(png_bytes(cluster_scatter(table, cres)), "clusters",
                             "K-means clusters on the SCI and SAI shares (X = centroid)."))
        body.append(_tests_html(groups))
        if diagnostics is not None and len(table):
            years = [float(y) for r in records for y in (r.get("years") or [])]
            body.append("<h2>Restoration timing, sensor change and slope uncertainty</h2>")
            body.extend(diagnostics_sections(
                table, onset, diagnostics, F, onset_missing=ONSET_HOW_TO,
                lst_unit=str(cfg.stats.get("lst_unit") or "K"),
                years=(min(years), max(years)) if years else None,
                onset_file="onset_by_year.csv"))
        if acc:
            body.append(_accuracy_html(acc))
        if n_failed:
            body.append("<h2>Failed mines</h2>")
            body.append(_table(["id", "reason"], [
                [_e(t.label), _e(r.get("reason", ""))]
                for t, r in zip(tasks, records, strict=True) if r["status"] == "failed"]))
        body.append("<h2>Mines</h2>")
        body.extend(_mine_sections(cfg, table, tasks, records))
    body.append(f"<p class=\"note\">Method: MLRI with Mann-Kendall / Sen / Hurst classes as in "
                f"the MLRI paper; mine-level Kruskal-Wallis, Spearman and k-means as in its "
                f"analysis. Generated by mlri study on "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Settings: "
                f"<code>study.toml</code>.</p>")
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mlri study</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")


def _tests_html(groups: dict[str, Any]) -> str:
    rows = []
    for g in groups.get("kruskal_wallis", []):
        for t in g["tests"]:
            rows.append([_e(g["group_col"]), _e(t["metric"]), _f(t.get("statistic"), 3),
                         _f(t.get("p"), 4), _f(t.get("p_bh"), 4), str(t.get("n", ""))])
    out = ["<h2>Group tests</h2>"]
    if rows:
        out.append(_table(["grouping", "share", "H", "p", "p (BH)", "mines"], rows,
                          text_cols=2))
    sp = groups.get("spearman_duration") or {}
    if sp.get("tests"):
        out.append("<h3>Spearman with mining duration</h3>")
        out.append(_table(["share", "rho", "p", "mines"], [
            [_e(t["metric"]), _f(t.get("rho"), 3), _f(t.get("p"), 4), str(t.get("n", ""))]
            for t in sp["tests"]]))
    return "".join(out)


def _accuracy_html(acc: dict[str, Any]) -> str:
    rows = []
    for mid, r in acc.items():
        if "error" in r:
            rows.append([_e(mid), _e(r["error"]), "", "", ""])
        else:
            rows.append([_e(mid), str(r.get("n_points_used", "")), _f(r.get("overall_accuracy"), 3),
                         _f(r.get("kappa"), 3), _e(r.get("scheme", ""))])
    return "<h2>Accuracy</h2>" + _table(["mine", "points", "OA", "kappa", "scheme"], rows)


def _mine_sections(cfg: Any, table: Table, tasks: list[Any],
                   records: list[dict[str, Any]]) -> list[str]:
    row_of = {str(i): k for k, i in enumerate(table["id"])} if len(table) else {}
    out = []
    maps = 0
    for t, r in zip(tasks, records, strict=True):
        out.append(f"<h3>{_e(t.label)}</h3>")
        if r["status"] == "failed":
            out.append(f"<p>Failed: {_e(r.get('reason', ''))}</p>")
            continue
        k = row_of.get(t.id)
        row = table.row(k) if k is not None else {}
        txt = (f"Grid EPSG:{r.get('epsg')}, {_f(row.get('area_ha'), 1)} ha in the polygon, "
               f"{_f(row.get('valid_pct'), 1)} % classified. SI {_f(row.get('pct_valid_SI'), 1)} %"
               f" (SCI {_f(row.get('pct_valid_SCI'), 1)} %, SAI "
               f"{_f(row.get('pct_valid_SAI'), 1)} %), cluster {_e(row.get('level') or '-')}.")
        if r.get("n_scenes") is not None:
            txt += f" {r['n_scenes']} scene(s) composited."
        med = row.get("onset_median_year")
        if isinstance(med, (int, float)) and math.isfinite(med):
            txt += (f" Restoration onset: median {med:g} (middle half "
                    f"{row.get('onset_q25_year'):g} to {row.get('onset_q75_year'):g}), "
                    f"{_f(row.get('onset_ha'), 1)} ha with a significant onset.")
        out.append(f"<p>{txt}</p>")
        png = Path(t.folder) / "map.png"
        if maps < cfg.max_maps and png.is_file():
            out.append(_img(png.read_bytes(), f"mine {t.id}", "Classes of the mine's pixels "
                            "(outline: the mine polygon)."))
            maps += 1
        elif t.maps:  # a map this report should show: never left out silently
            why = r.get("map_error") or f"{png} is missing"
            out.append(f'<p class="note">No class map: {_e(why)}.</p>')
    return out
