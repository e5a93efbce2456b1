"""Report sections of the per-mine diagnostics (:mod:`mlri.sites.diagnostics`): when
restoration started, the sensor step and Sen's slope interval.  Used by the ``mlri report``
(sites) and ``mlri study`` reports, from the per-mine table, the long onset table and
``diagnostics.json``."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np

from ..products import year_quantiles
from . import _html as H
from ._html import DASH, e, ha, num, pct, pval, table
from ._table import Table
from .diagnostics import NOT_STRADDLING

__all__ = ["diagnostics_sections", "onset_curves"]

#: Mines drawn as overlaid curves up to this many; small multiples above.
OVERLAY_MAX = 8
#: Decimals of the EVI and LST steps.
_ND = {"EVI": 4, "LST": 2}


def onset_curves(onset_long: Table, *, names: dict[str, str] | None = None,
                 max_panels: int = 30, first_year: float | None = None,
                 last_year: float | None = None) -> Any:
    """Cumulative hectares with a significant onset of restoration, per mine, against the
    onset year (step curves from 0 at ``first_year`` to the total at ``last_year``, the
    series' first and last years; a dot marks each mine's median onset year).  Overlaid for
    up to :data:`OVERLAY_MAX` mines, small multiples beyond (shared year axis, each panel on
    its own hectare scale)."""
    from matplotlib.ticker import MaxNLocator

    from .figures import _figure

    ids = [str(i) for i in dict.fromkeys(str(v) for v in onset_long["id"])] if len(
        onset_long) else []
    idc = np.array([str(v) for v in onset_long["id"]], dtype=object) if ids else np.array([])
    yr = onset_long.numeric("year") if ids else np.array([])
    cum = onset_long.numeric("cumulative_ha") if ids else np.array([])
    px = onset_long.numeric("pixels") if ids else np.array([])
    x0 = float(first_year) if first_year is not None else (
        float(np.nanmin(yr)) - 1 if ids else 0.0)
    x1 = float(last_year) if last_year is not None else (float(np.nanmax(yr)) if ids else 0.0)
    ylabel = "restored area, cumulative (ha)"
    xlabel = "onset year of restoration"

    def curve(ax: Any, m: str, color: str, label: str | None) -> None:
        sel = idc == m
        o = np.argsort(yr[sel])
        x, y, k = yr[sel][o], cum[sel][o], px[sel][o]
        xs = np.concatenate([[x0], x, [max(x1, float(x[-1]))]])
        ys = np.concatenate([[0.0], y, [y[-1]]])
        ax.step(xs, ys, where="post", color=color, lw=1.6, label=label)
        med = year_quantiles(x.tolist(), k.astype(np.int64).tolist(), (0.5,))[0]
        if med is not None:  # the curve's value at the median year (a step function)
            j = int(np.searchsorted(x, med, side="right")) - 1
            ax.plot([med], [float(y[j]) if j >= 0 else 0.0], "o", color=color, ms=4)

    def lab(m: str) -> str:
        return textwrap.shorten(str((names or {}).get(m) or m), 34, placeholder="…")

    if not ids:
        fig = _figure(6.0, 2.0)
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no restoring pixel with a significant onset in any mine",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    if len(ids) <= OVERLAY_MAX:
        fig = _figure(7.4, 4.2)
        ax = fig.add_subplot()
        for k, m in enumerate(ids):
            curve(ax, m, f"C{k % 10}", lab(m))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.set_title("Hectares whose restoration had started, by year (dot: median onset)",
                     fontsize=10)
        fig.legend(loc="outside right center", fontsize=7, frameon=False, title="mine",
                   title_fontsize=8)
        return fig
    shown = ids[:max_panels]
    ncol = 4
    nrow = math.ceil(len(shown) / ncol)
    fig = _figure(8.6, 1.7 * nrow + 0.8)
    axes = fig.subplots(nrow, ncol, sharex=True, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= len(shown):
            ax.set_axis_off()
            continue
        if k + ncol >= len(shown):  # nothing below: this panel shows the years
            ax.tick_params(labelbottom=True)
        curve(ax, shown[k], "#1a9850", None)
        ax.set_title(lab(shown[k]), fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    fig.supxlabel(xlabel, fontsize=8)
    fig.supylabel(ylabel, fontsize=8)
    more = f" (first {max_panels} of {len(ids)} mines)" if len(ids) > max_panels else ""
    fig.suptitle(f"Hectares whose restoration had started, by year{more}; dot: median onset",
                 fontsize=9)
    return fig


def _label(t: Table, i: int) -> str:
    name = t["name"][i] if "name" in t else None
    mid = t["id"][i]
    return e(mid) + (f" — {e(name)}" if name and str(name) != str(mid) else "")


def diagnostics_sections(t: Table, onset_long: Table | None, diag: dict[str, Any] | None,
                         F: Any, *, onset_missing: str | None = None,
                         years: tuple[float, float] | None = None,
                         onset_file: str = "sites_onset.csv",
                         mapwide_sensor: dict[str, Any] | None = None,
                         lst_unit: str = "K") -> list[str]:
    """HTML parts: onset of restoration (figure + table), sensor step per mine (only when
    the years straddle the TM → OLI switch) and Sen's slope interval per mine.

    ``onset_missing`` is the sentence shown when there is no onset (how to get it; default:
    the note of ``diag``); ``years`` the first and last year of the series; ``onset_file``
    the name of the long onset table among the outputs;
    ``mapwide_sensor`` the run's ``summary.json`` ``sensor_step`` (shown beside the mines).
    """
    if diag is None:
        return [('<h3 id="onset">When restoration started</h3><p>No per-mine onset, sensor '
                 "step or Sen's slope interval: the results were made by an earlier version "
                 "of mlri; run them again to add them.</p>")]
    notes = diag.get("notes") or {}
    parts = _onset(t, onset_long, notes, F, onset_missing or notes.get("onset", ""), years,
                   onset_file)
    parts += _sensor(t, diag, notes, mapwide_sensor, lst_unit)
    parts += _sen(t, notes, (diag.get("rules") or {}).get("sen_interval") or {})
    return parts


def _onset(t: Table, onset_long: Table | None, notes: dict[str, str], F: Any,
           missing: str, years: tuple[float, float] | None, onset_file: str) -> list[str]:
    parts = ['<h3 id="onset">When restoration started (onset year)</h3>']
    if "onset" in notes or "onset_pixels" not in t:
        parts.append(f"<p>No onset year: {e(missing)}.</p>")
        return parts
    names = {str(i): (str(n) if n else str(i)) for i, n in
             zip(t["id"], t["name"] if "name" in t else t["id"], strict=True)}
    long = onset_long if onset_long is not None else Table({"id": [], "year": [],
                                                            "pixels": [], "ha": [],
                                                            "cumulative_ha": []})
    y0, y1 = years if years else (None, None)
    parts.append(H.img(F.png_bytes(onset_curves(long, names=names, first_year=y0,
                                                last_year=y1)),
                       "hectares restored per year, cumulative, per mine",
                       "For each mine, the area (hectares) of its restoring pixels (SI) whose "
                       "restoration had started by the end of each year, from the onset year "
                       "of each pixel (the first year of a significant rise of EVI, "
                       "<code>onset.tif</code>). The curve ends at the mine's total restoring "
                       "area with a significant onset; a dot marks the median onset year. "
                       f"Every number: <code>{e(onset_file)}</code>."))
    rows = []
    for i in range(len(t)):
        npx = t.numeric("onset_pixels")[i]
        if not np.isfinite(npx):
            continue
        q25, med, q75 = (t.numeric(c)[i] for c in ("onset_q25_year", "onset_median_year",
                                                    "onset_q75_year"))
        rows.append([_label(t, i), num(int(npx)), ha(t.numeric("onset_ha")[i]), _year(med),
                     f"{_year(q25)} to {_year(q75)}" if np.isfinite(q25) else DASH])
    parts.append(table(["mine", "restoring pixels with an onset", "area (ha)",
                        "median onset year",
                        "middle half of onsets (25th to 75th percentile year)"], rows,
                       dash="no restoring pixel of the mine has a significant onset"))
    return parts


def _year(y: float) -> str:
    if not np.isfinite(y):
        return DASH
    return str(int(y)) if float(y).is_integer() else f"{y:.1f}"


def _step(d: dict[str, Any], nd: int) -> str:
    if d.get("step") is None:
        return DASH
    lo, hi = d.get("ci_low"), d.get("ci_high")
    ci = f" ({num(lo, nd)} to {num(hi, nd)})" if lo is not None and hi is not None else ""
    return f"{num(d['step'], nd)}{ci}"


def _sensor(t: Table, diag: dict[str, Any], notes: dict[str, str],
            mapwide: dict[str, Any] | None, unit: str) -> list[str]:
    note = notes.get("sensor_step")
    if note == NOT_STRADDLING:
        return []
    parts = ['<h3 id="sensor-step">Sensor change (Landsat 5 TM to Landsat 8 OLI)</h3>']
    if note:
        parts.append(f"<p>Sensor step per mine not computed: {e(note)}.</p>")
        return parts
    parts.append("<p>The series joins Landsat 5 TM years (to 2011) and Landsat 8 OLI years "
                 "(from 2013). An offset between the sensors is a step in EVI and LST at the "
                 "switch, and a step in the right direction looks like restoration to a trend "
                 "test. The step is estimated on each mine's stable pixels (classified but not "
                 "restoring), adjusted for a linear drift, with a 95 % confidence interval; a "
                 "warning is raised when it is significant <i>and</i> removing it changes the "
                 "share of stable pixels with a significant trend by 5 percentage points or "
                 "more.</p>")
    rows, cls, warned = [], [], []
    by_id = {str(m["id"]): m.get("sensor_step") for m in diag.get("mines", [])}
    for i in range(len(t)):
        s = by_id.get(str(t["id"][i]))
        if not s:
            continue
        ev, ls = s.get("EVI") or {}, s.get("LST") or {}
        w = [v for v, d in (("EVI", ev), ("LST", ls)) if d.get("warning")]
        if w:
            warned.append(f"{t['id'][i]} ({', '.join(w)})")
        why = list(dict.fromkeys(f"{d['reason']}" for d in (ev, ls) if d.get("reason") and (
            d.get("warning") or d.get("step") is None)))
        word = "<b>yes</b>" if w else ("not estimated" if ev.get("step") is None
                                       and ls.get("step") is None else "no")
        rows.append([_label(t, i), num(s.get("stable_pixels")), _step(ev, _ND["EVI"]),
                     pval(ev.get("p")), _step(ls, _ND["LST"]), pval(ls.get("p")),
                     word + (": " + e("; ".join(why)) if why else "")])
        cls.append("warn" if w else "")
    if warned:
        parts.append('<div class="sigwarn"><b>The sensor step is large enough to move trends '
                     f"in {e(', '.join(warned))}.</b> Part of these mines' trend classes may "
                     "come from the sensor change rather than the land. Compare with a run on "
                     "harmonised composites (<code>mlri composite --harmonize roy2016</code>)."
                     "</div>")
    parts.append(table(["mine", "stable pixels", "EVI step (95 % CI)", "p (EVI)",
                        f"LST step, {e(unit)} (95 % CI)", "p (LST)", "warning"], rows,
                       text_cols=1, classes=cls, dash="not estimated (too few stable pixels "
                                                      "or years; see the warning column)"))
    pooled = diag.get("pooled_sensor_step") or {}
    txt = []
    for v in ("EVI", "LST"):
        p = pooled.get(v) or {}
        if p.get("step") is not None and p.get("n_maps"):
            txt.append(f"{v} {_step(p, _ND[v])}, p = {pval(p['p'])}, {p['n_maps']} mines, "
                       f"heterogeneity p = {pval(p.get('heterogeneity_p'))}")
    if txt:
        parts.append("<p>Pooled over the mines (inverse-variance weighted): "
                     + "; ".join(txt) + ".</p>")
    if mapwide:
        mw = [f"{v} {_step(mapwide[v], _ND[v])}, p = "
              f"{pval(mapwide[v].get('p'))}" + (" — <b>warning</b>" if mapwide[v].get("warning")
                                                else "")
              for v in ("EVI", "LST") if isinstance(mapwide.get(v), dict)
              and mapwide[v].get("step") is not None]
        if mw:
            parts.append("<p>Whole map (<code>summary.json</code>): " + "; ".join(mw) + ".</p>")
    return parts


def _sen(t: Table, notes: dict[str, str], rule: dict[str, Any]) -> list[str]:
    parts = ['<h3 id="sen-interval">How sure is the slope? Sen\'s slope interval</h3>']
    if "sen_interval" in notes or "sen_pixels" not in t:
        why = notes.get("sen_interval", "not in the results")
        parts.append(f"<p>No Sen's slope interval: {e(why)}.</p>")
        return parts
    alpha = rule.get("sen_alpha")
    level = f"{100 * (1 - float(alpha)):g} %" if isinstance(alpha, (int, float)) else "95 %"
    parts.append(f"<p>Sen's slope of MLRI (per year) of every classified pixel comes with a "
                 f"{level} confidence interval (rank-based, as scipy's theilslopes). Per mine: "
                 "the median slope and the medians of the interval's bounds over its pixels; "
                 "the share of pixels whose interval excludes 0 (the slope's sign is sure) and "
                 "whose interval lies entirely above 0 (a rise the interval confirms). MLRI "
                 "divides by running extrema and drifts upward by construction, so on "
                 "unchanged land too many intervals lie above 0: compare with a stable "
                 "control.</p>")
    rows = []
    for i in range(len(t)):
        k = t.numeric("sen_pixels")[i]
        if not np.isfinite(k):
            continue
        rows.append([_label(t, i), num(int(k))]
                    + [num(t.numeric(c)[i], 4) for c in ("sen_slope_median", "sen_low_median",
                                                         "sen_high_median")]
                    + [pct(t.numeric(c)[i]) for c in ("sen_excludes_zero_pct",
                                                      "sen_above_zero_pct")])
    parts.append(table(["mine", "pixels", "median Sen's slope (MLRI/yr)",
                        "median lower bound", "median upper bound",
                        "% interval excludes 0", "% interval above 0"], rows,
                       dash="no classified pixel with a slope interval"))
    return parts
