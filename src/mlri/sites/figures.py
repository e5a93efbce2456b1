"""Figures of the per-mine analysis (matplotlib, Agg; no pyplot state).

Every function returns a :class:`matplotlib.figure.Figure` that stands on its own (title, axis
labels, legend, n); :func:`png_bytes` / :func:`save_png` render it.

* :func:`mine_map` - class map of one mine with its outline, legend and scale bar;
* :func:`class_bars` - stacked class shares per mine, grouped (paper Fig. 4);
* :func:`group_bars` - mean class shares per group (paper Fig. 5);
* :func:`mlri_trajectories` - mean MLRI per year for each class (paper Fig. 6);
* :func:`cluster_scatter` - SCI % vs SAI % coloured by restoration level.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import CLASSES, GROUPS, hex_color, label_of, rgba_of
from ._table import Table

__all__ = [
    "CLASS_COLORS",
    "class_bars",
    "cluster_scatter",
    "group_bars",
    "group_title",
    "mine_map",
    "mine_trajectories",
    "mlri_trajectories",
    "png_bytes",
    "save_png",
    "trend_maps",
]

#: Colour of each class and group, from :mod:`mlri.classes` (the ``classes.tif`` colour table),
#: plus ``"all"`` (every pixel) for trajectories.
CLASS_COLORS: dict[str, str] = {
    **{c.name: hex_color(rgba_of(c.name, display=True)) for c in CLASSES},
    **{g: hex_color(rgba_of(g)) for g in GROUPS},
    "all": "#404040",
}
#: Legend label of each class and group (``"SD significant decrease"``).
CLASS_LABELS: dict[str, str] = {
    **{c.name: c.label if c.name == "nodata" else f"{c.name} {c.label}" for c in CLASSES},
    **{g: f"{g} {label_of(g)}" for g in GROUPS},
    "all": "all pixels",
}
#: Stacking order (bottom -> top): restored first.
STACK = ("SCI", "SAI", "SI_H_undefined", "NI", "ND", "SD")
LEVEL_COLORS = {"high": "#1a9850", "medium": "#fdae61", "low": "#d73027"}
#: Words for the grouping columns of ``mlri sites`` (titles never show column names).
GROUP_TITLES = {"start_group": "mining start", "level": "restoration level (K-means cluster)",
                "region": "region", "cluster": "K-means cluster"}


def group_title(col: str) -> str:
    """Words for a grouping column ("start_group" -> "mining start")."""
    return GROUP_TITLES.get(col, col.replace("_", " "))


def _figure(w: float, h: float) -> Any:
    from ..quicklook import new_figure

    return new_figure(w, h)


def png_bytes(fig: Any) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def save_png(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write a figure as PNG atomically."""
    from .._outputs import atomic_file

    with atomic_file(path, "wb") as fh:
        fh.write(png_bytes(fig))
    return Path(path)


# ------------------------------------------------------------------------------------------
def _outline(ax: Any, geom: Any, **kw: Any) -> None:
    import shapely

    for part in shapely.get_parts(geom):
        rings = [part.exterior, *part.interiors] if hasattr(part, "exterior") else []
        for ring in rings:
            xy = np.asarray(ring.coords)
            ax.plot(xy[:, 0], xy[:, 1], **kw)


def mine_map(classes: str | os.PathLike[str], geom: Any, *, title: str = "",
             shares: dict[str, float] | None = None, margin: float = 0.15,
             max_pixels: int = 800, note: str = "") -> Any:
    """Class map of one mine: pixels around the polygon, its outline, legend and scale bar.

    ``geom`` must be in the raster CRS (None = the whole raster).  Large windows are decimated
    (nearest) to about ``max_pixels`` on the long side.  ``shares`` (class -> %) is printed
    under the map.  Drawing is :func:`mlri.quicklook.draw_classes` (one renderer).
    """
    import rasterio
    from matplotlib.patches import Patch
    from rasterio.errors import WindowError
    from rasterio.windows import Window, from_bounds

    from ..quicklook import class_legend, draw_classes, read_classes

    with rasterio.open(classes) as src:
        if geom is None:  # whole scene
            x0, y0, x1, y1 = src.bounds
            margin = 0.0
        else:
            import shapely

            x0, y0, x1, y1 = shapely.bounds(geom)
        dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
        pad = max(abs(src.transform.a), abs(src.transform.e)) * (2 if geom is not None else 0)
        x0, x1, y0, y1 = x0 - dx - pad, x1 + dx + pad, y0 - dy - pad, y1 + dy + pad
        win = from_bounds(x0, y0, x1, y1, src.transform)
        win = win.round_offsets(op="floor").round_lengths(op="ceil")
        try:
            win = win.intersection(Window(0, 0, src.width, src.height))
        except WindowError:  # no overlap with the raster
            win = None
    aspect = (y1 - y0) / (x1 - x0) if x1 > x0 else 1.0
    fig = _figure(7.4, float(np.clip(4.4 * aspect + 1.3, 3.4, 8.0)))
    ax = fig.add_subplot()
    present: set[str] = set()
    if win is not None and win.width > 0 and win.height > 0:
        data, extent, crs = read_classes(classes, max_pixels, window=win)
        present = draw_classes(ax, data, extent, crs)
    else:
        ax.text(0.5, 0.5, "mine outside the raster", transform=ax.transAxes,
                ha="center", va="center")
    if geom is not None:
        _outline(ax, geom, color="black", lw=1.2)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    handles = class_legend(present, words=False)
    if geom is not None:
        handles.append(Patch(facecolor="none", edgecolor="black", label="mine boundary"))
    fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False,
               title="MLRI trend class", title_fontsize=8)
    ax.set_title(title or "Restoration classes", fontsize=10)
    if shares:
        txt = "   ".join(f"{k} {v:.1f} %" for k, v in shares.items() if math.isfinite(v))
        ax.set_xlabel(f"{ax.get_xlabel()}\n{txt}", fontsize=8)
    if note:
        fig.text(0.01, 0.0, note, fontsize=7, color="#600", va="bottom", wrap=True)
    return fig


def _share_cols(denominator: str) -> tuple[str, str]:
    return ("pct_valid_", "% of classified pixels") if denominator == "valid" else (
        "pct_", "% of mine area")


def class_bars(table: Table, *, group_col: str | None = None, denominator: str = "valid",
               usable: np.ndarray | None = None, max_labels: int = 60) -> Any:
    """Stacked class shares per mine, sorted by group then SI % (paper Fig. 4)."""
    pre, ylab = _share_cols(denominator)
    ids = [str(x) for x in table["id"]]
    # np.array copies: the caller's mask is never altered
    use = np.ones(len(ids), dtype=bool) if usable is None else np.array(usable, dtype=bool)
    si = table.numeric(pre + "SI")
    use &= np.isfinite(si)
    groups = ([str(g) if g is not None else "unknown" for g in table[group_col]]
              if group_col and group_col in table else [""] * len(ids))
    idx = [i for i in range(len(ids)) if use[i]]
    from .stats import _natural

    idx.sort(key=lambda i: (_natural(groups[i]), -si[i], ids[i]))
    n = len(idx)
    fig = _figure(min(16, max(6.5, 0.22 * n + 3)), 4.8)
    ax = fig.add_subplot()
    x = np.arange(n)
    bottom = np.zeros(n)
    for c in STACK:
        v = np.nan_to_num(table.numeric(pre + c)[idx]) if (pre + c) in table else np.zeros(n)
        if c == "SI_H_undefined" and not v.any():
            continue
        ax.bar(x, v, bottom=bottom, color=CLASS_COLORS[c], width=0.85, label=CLASS_LABELS[c],
               edgecolor="white", linewidth=0.3)
        bottom += v
    if n <= max_labels:
        names = []
        for i in idx:
            nm = table["name"][i] if "name" in table and table["name"][i] else ids[i]
            names.append(textwrap.shorten(str(nm), 40, placeholder="…"))
        ax.set_xticks(x, names, rotation=60 if n <= 20 else 90, fontsize=7,
                      ha="right" if n <= 20 else "center", rotation_mode="anchor")
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{n} mines (sorted by group, then SI %)")
    # group separators
    if group_col:
        prev = None
        for pos, i in enumerate(idx):
            if prev is not None and groups[i] != prev:
                ax.axvline(pos - 0.5, color="black", lw=1)
            prev = groups[i]
        starts: dict[str, list[int]] = {}
        for pos, i in enumerate(idx):
            starts.setdefault(groups[i], []).append(pos)
        for g, ps in starts.items():
            ax.text(np.mean(ps), 101, f"{textwrap.fill(g, 14)}\n(n={len(ps)})", ha="center",
                    va="bottom", fontsize=7 if len(ps) < 3 else 8, linespacing=1.0)
    ax.set_ylim(0, 116 if group_col else 100)
    ax.set_yticks([0, 20, 40, 60, 80, 100])
    ax.set_xlim(-0.6, n - 0.4 if n else 0.6)
    ax.set_ylabel(ylab)
    ax.set_title("Restoration classes per mine"
                 + (f", grouped by {group_title(group_col)}" if group_col else ""), fontsize=10)
    fig.legend(loc="outside right center", fontsize=7, frameon=False, reverse=True)
    return fig


def group_bars(table: Table, group_col: str, *, denominator: str = "valid",
               usable: np.ndarray | None = None) -> Any:
    """Mean class shares per group (mean over mines; paper Fig. 5)."""
    from .stats import _natural

    pre, ylab = _share_cols(denominator)
    # np.array copies: the caller's mask is never altered
    use = np.ones(len(table), dtype=bool) if usable is None else np.array(usable, dtype=bool)
    g = [None if v is None else str(v) for v in table[group_col]]
    use &= np.array([v is not None for v in g]) & np.isfinite(table.numeric(pre + "SI"))
    labels = sorted({str(g[i]) for i in range(len(g)) if use[i]}, key=_natural)
    fig = _figure(max(4.8, 1.1 * len(labels) + 3.2), 4.4)
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    bottom = np.zeros(len(labels))
    for c in STACK:
        col = table.numeric(pre + c) if (pre + c) in table else np.zeros(len(table))
        v = np.array([np.nanmean(col[[i for i in range(len(g)) if use[i] and g[i] == lab]])
                      for lab in labels]) if labels else np.zeros(0)
        v = np.nan_to_num(v)
        if c == "SI_H_undefined" and not v.any():
            continue
        ax.bar(x, v, bottom=bottom, color=CLASS_COLORS[c], label=CLASS_LABELS[c], width=0.6,
               edgecolor="white", linewidth=0.5)
        for xi, (b, vi) in enumerate(zip(bottom, v, strict=False)):
            if vi >= 6:
                ax.text(xi, b + vi / 2, f"{vi:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if c in ("SCI", "SD", "SI_H_undefined") else "black")
        bottom += v
    counts = [sum(1 for i in range(len(g)) if use[i] and g[i] == lab) for lab in labels]
    ax.set_xticks(x, [f"{lab}\n(n={k})" for lab, k in zip(labels, counts, strict=False)], fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"mean {ylab}")
    ax.set_title(f"Mean class shares by {group_title(group_col)}", fontsize=10)
    fig.legend(loc="outside right center", fontsize=7, frameon=False, reverse=True)
    return fig


def mlri_trajectories(long: Table, *, classes: Sequence[str] = ("SCI", "SAI", "NI", "ND",
                                                                  "SD", "all"),
                      ids: Sequence[str] | None = None, title: str = "",
                      ylabel: str = "mean MLRI (pixels pooled over mines)") -> Any:
    """Mean MLRI per year for each class, pooled over the mines' pixels (paper Fig. 6).

    ``long`` is ``ZonalResult.mlri_table()`` (or ``sites_mlri.csv``); the pooled mean of a class
    in a year is Σ(n·mean)/Σn over the mines (``ids`` restricts the mines).
    """
    fig = _figure(7.0, 4.4)
    ax = fig.add_subplot()
    if len(long) == 0:
        ax.text(0.5, 0.5, "no MLRI stack (mlri.tif) in the run folder", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    keep = np.ones(len(long), dtype=bool)
    if ids is not None:
        s = {str(i) for i in ids}
        keep = np.array([str(v) in s for v in long["id"]])
    cls = np.array([str(c) for c in long["class"]], dtype=object)
    yr = long.numeric("year")
    n = long.numeric("n")
    mean = long.numeric("mean_mlri")
    plotted = 0
    for c in classes:
        sel = keep & (cls == c) & np.isfinite(mean) & (n > 0)
        if not sel.any():
            continue
        years = np.unique(yr[sel])
        m = np.array([np.sum((n * mean)[sel & (yr == y)]) / np.sum(n[sel & (yr == y)])
                      for y in years])
        ls = "--" if c == "all" else "-"
        ax.plot(years, m, ls, marker="o", ms=3, color=CLASS_COLORS.get(c, "black"),
                label=CLASS_LABELS.get(c, c), lw=1.6)
        plotted += 1
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("year")
    ax.set_ylabel(ylabel)
    nm = len(set(np.array(long["id"], dtype=object)[keep].tolist()))
    ax.set_title(title or f"MLRI trajectories by restoration class ({nm} mines)", fontsize=10)
    ax.grid(alpha=0.3)
    if plotted:
        fig.legend(loc="outside right center", fontsize=7, frameon=False)
    return fig


def cluster_scatter(table: Table, clusters: Any, *, denominator: str = "valid") -> Any:
    """SCI % vs SAI % of every clustered mine, coloured by restoration level, with centroids
    (every mine labelled by name when there are at most 40)."""
    fig = _figure(8.6, 5.2)
    ax = fig.add_subplot()
    fx, fy = clusters.features[0], clusters.features[1] if len(clusters.features) > 1 else (
        clusters.features[0])
    x, y = table.numeric(fx), table.numeric(fy)
    from .cluster import level_names

    names = level_names(clusters.k)
    for j, nm in enumerate(names):
        sel = clusters.labels == j + 1
        col = LEVEL_COLORS.get(nm, f"C{j}")
        ax.scatter(x[sel], y[sel], s=28, color=col, edgecolor="black", linewidth=0.4,
                   label=f"{nm} restoration (n={int(sel.sum())}, SI {clusters.si_means[j]:.0f}%)")
        ax.scatter([clusters.centroids[j, 0]], [clusters.centroids[j, -1]], marker="X", s=140,
                   color=col, edgecolor="black", linewidth=1.0)
    if len(x) <= 40:  # label every mine
        names = (table["name"] if "name" in table else table["id"])
        for i in range(len(x)):
            if clusters.labels[i] > 0 and np.isfinite(x[i]) and np.isfinite(y[i]):
                nm = names[i] or table["id"][i]
                # alternate above/below so mines at the same spot stay readable
                ax.annotate(textwrap.shorten(str(nm), 28, placeholder="…"), (x[i], y[i]),
                            xytext=(4, 3 if i % 2 == 0 else -9), textcoords="offset points",
                            fontsize=7, color="#333")
    p = clusters.test.get("p", float("nan"))
    def words(col: str) -> str:
        c = col.replace("pct_valid_", "").replace("pct_", "")
        return f"{c} ({label_of(c) if c in CLASS_COLORS else c}), % of classified pixels"

    ax.set_xlabel(words(fx), fontsize=8)
    ax.set_ylabel(words(fy), fontsize=8)
    ptxt = (f"Kruskal-Wallis test of SI % between clusters: p = {p:.3g}"
            if p is not None and not math.isnan(p) else "")
    ax.set_title(f"Mines grouped by K-means into {clusters.k} restoration levels",
                 fontsize=10, loc="left")
    if ptxt:
        ax.text(0.0, -0.16, ptxt, transform=ax.transAxes, fontsize=7, color="#444",
                va="top")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right center", fontsize=7, frameon=False, title="X = centroid",
               title_fontsize=7)
    return fig



def mine_trajectories(long: Table, *, names: dict[str, str] | None = None,
                      ids: Sequence[str] | None = None, max_lines: int = 12) -> Any:
    """Mean MLRI per year of every mine (all its classified pixels), one line per mine."""
    fig = _figure(7.4, 4.4)
    ax = fig.add_subplot()
    cls = np.array([str(c) for c in long["class"]], dtype=object) if len(long) else np.array([])
    sel_all = cls == "all"
    mids = [str(i) for i in dict.fromkeys(np.array(long["id"], dtype=object)[sel_all])] if len(
        long) else []
    if ids is not None:
        want = [str(i) for i in ids]
        mids = [m for m in want if m in set(mids)]
    if not mids:
        ax.text(0.5, 0.5, "no per-mine MLRI (sites_mlri.csv)", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    idc = np.array([str(v) for v in long["id"]], dtype=object)
    yr, mean = long.numeric("year"), long.numeric("mean_mlri")
    for k, m in enumerate(mids[:max_lines]):
        sel = sel_all & (idc == m) & np.isfinite(mean)
        order = np.argsort(yr[sel])
        lab = (names or {}).get(m) or m
        ax.plot(yr[sel][order], mean[sel][order], marker="o", ms=2.5, lw=1.4,
                color=f"C{k % 10}", ls="-" if k < 10 else "--",
                label=textwrap.shorten(str(lab), 34, placeholder="…"))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("year")
    ax.set_ylabel("mean MLRI of the mine's classified pixels")
    more = f" (first {max_lines} of {len(mids)})" if len(mids) > max_lines else ""
    ax.set_title(f"MLRI per mine over time{more}", fontsize=10)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right center", fontsize=7, frameon=False, title="mine",
               title_fontsize=8)
    return fig


def trend_maps(trend: str | os.PathLike[str], *, max_pixels: int = 700,
               z_crit: float | None = 1.96) -> Any:
    """Three maps from ``trend.tif``: Sen's slope of MLRI (per year), Mann-Kendall Z (with
    the run's critical |Z| ``z_crit`` marked on the colour bar; None: the classes came from
    another test) and the Hurst exponent (0.5 = no persistence)."""
    import rasterio

    from ..quicklook import coordinate_axes, metres_per_unit, scale_bar

    with rasterio.open(trend) as src:
        desc = list(src.descriptions)
        f = max(1, math.ceil(max(src.width, src.height) / max_pixels))
        shape = (max(1, src.height // f), max(1, src.width // f))
        bands = {}
        for name in ("sen_slope", "Z", "hurst"):
            if name in desc:
                a = src.read(desc.index(name) + 1, out_shape=shape).astype(np.float64)
                if src.nodata is not None and not math.isnan(src.nodata):
                    a[a == src.nodata] = np.nan
                bands[name] = a
        b = src.bounds
        extent = (b.left, b.right, b.bottom, b.top)
        crs = src.crs
    aspect = shape[0] / shape[1]
    fig = _figure(13.0, float(np.clip(3.6 * aspect + 1.5, 2.8, 7.0)))
    axes = fig.subplots(1, 3)
    specs = {
        "sen_slope": ("Sen's slope of MLRI (per year)", "RdYlGn", None),
        "Z": ((f"Mann-Kendall Z (|Z| > {z_crit:.2f}: significant)" if z_crit is not None
               else "Mann-Kendall Z"), "RdYlGn", (-4.0, 4.0)),
        "hurst": ("Hurst exponent H (> 0.5: persistent)", "PuOr", (0.0, 1.0)),
    }
    for ax, (name, (ttl, cmap, lim)) in zip(axes, specs.items(), strict=True):
        a = bands.get(name)
        if a is None or not np.isfinite(a).any():
            ax.text(0.5, 0.5, f"no {name} band", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
            continue
        if lim is None:
            v = float(np.nanpercentile(np.abs(a), 98)) or 1.0
            lim = (-v, v)
        im = ax.imshow(a, cmap=cmap, vmin=lim[0], vmax=lim[1], extent=extent,
                       interpolation="nearest")
        ax.set_aspect("equal")
        scale_bar(ax, *extent, metres_per_unit(crs, (extent[2] + extent[3]) / 2))
        coordinate_axes(ax, crs)
        ax.set_title(ttl, fontsize=9)
        cb = fig.colorbar(im, ax=ax, orientation="horizontal", shrink=0.85, pad=0.02,
                          aspect=30)
        cb.ax.tick_params(labelsize=7)
        if name == "Z":
            z = min(z_crit, 4.0) if z_crit is not None else 2.0
            cb.set_ticks([-4, -z, 0, z, 4])
            cb.set_ticklabels(["-4", f"-{z:.2f}", "0", f"{z:.2f}", "4"])
        if name == "hurst":
            cb.set_ticks([0, 0.25, 0.5, 0.75, 1])
    return fig
