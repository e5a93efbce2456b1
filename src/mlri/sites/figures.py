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
    "mine_map",
    "mlri_trajectories",
    "png_bytes",
    "save_png",
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


def _figure(w: float, h: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


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
def _nice(x: float) -> float:
    """Largest 1/2/5 x 10^k not above x."""
    if x <= 0 or not math.isfinite(x):
        return 0.0
    e = math.floor(math.log10(x))
    for m in (5, 2, 1):
        if m * 10 ** e <= x:
            return m * 10 ** e
    return 10 ** e


def _scale_bar(ax: Any, xmin: float, xmax: float, ymin: float, ymax: float,
               metres_per_unit: float) -> None:
    width_m = (xmax - xmin) * metres_per_unit
    length_m = _nice(width_m / 4)
    if length_m <= 0:
        return
    length_u = length_m / metres_per_unit
    x0 = xmin + 0.05 * (xmax - xmin)
    y0 = ymin + 0.05 * (ymax - ymin)
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    ax.plot([x0, x0 + length_u], [y0, y0], color="black", lw=4, solid_capstyle="butt",
            zorder=5)
    ax.plot([x0, x0 + length_u], [y0, y0], color="white", lw=1.5, solid_capstyle="butt",
            zorder=6, dashes=(4, 4))
    ax.text(x0 + length_u / 2, y0 + 0.02 * (ymax - ymin), label, ha="center", va="bottom",
            fontsize=8, zorder=7,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def _outline(ax: Any, geom: Any, **kw: Any) -> None:
    import shapely

    for part in shapely.get_parts(geom):
        rings = [part.exterior, *part.interiors] if hasattr(part, "exterior") else []
        for ring in rings:
            xy = np.asarray(ring.coords)
            ax.plot(xy[:, 0], xy[:, 1], **kw)


def mine_map(classes: str | os.PathLike[str], geom: Any, *, title: str = "",
             shares: dict[str, float] | None = None, margin: float = 0.15,
             max_pixels: int = 800) -> Any:
    """Class map of one mine: pixels around the polygon, its outline, legend and scale bar.

    ``geom`` must be in the raster CRS (None = the whole raster).  Large windows are decimated (nearest) to about
    ``max_pixels`` on the long side.  ``shares`` (class -> %) is printed under the title.
    """
    import rasterio
    import shapely
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch
    from rasterio.errors import WindowError
    from rasterio.windows import Window, from_bounds

    order = [c.name for c in CLASSES]  # code order
    cmap = ListedColormap([CLASS_COLORS[c] for c in order])
    norm = BoundaryNorm(np.arange(-0.5, len(order) + 0.5, 1.0), cmap.N)
    with rasterio.open(classes) as src:
        if geom is None:  # whole scene
            x0, y0, x1, y1 = src.bounds
            margin = 0.0
        else:
            x0, y0, x1, y1 = shapely.bounds(geom)
        aspect = (y1 - y0) / (x1 - x0) if x1 > x0 else 1.0
        fig = _figure(7.2, float(np.clip(4.4 * aspect + 1.2, 3.4, 8.0)))
        ax = fig.add_subplot()
        dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
        pad = max(abs(src.transform.a), abs(src.transform.e)) * (2 if geom is not None else 0)
        x0, x1, y0, y1 = x0 - dx - pad, x1 + dx + pad, y0 - dy - pad, y1 + dy + pad
        win = from_bounds(x0, y0, x1, y1, src.transform)
        win = win.round_offsets(op="floor").round_lengths(op="ceil")
        full = Window(0, 0, src.width, src.height)
        try:
            win = win.intersection(full)
        except WindowError:  # no overlap with the raster
            win = None
        metres = 1.0
        if src.crs is not None and src.crs.is_geographic:
            metres = 111_320.0 * math.cos(math.radians((y0 + y1) / 2))
        elif src.crs is not None:
            metres = float(src.crs.linear_units_factor[1])
        present: set[str] = set()
        if win is not None and win.width > 0 and win.height > 0:
            f = max(1, math.ceil(max(win.width, win.height) / max_pixels))
            shape = (max(1, int(win.height // f)), max(1, int(win.width // f)))
            data = src.read(1, window=win, out_shape=shape)
            if src.nodata is not None and src.nodata != 0:
                data = np.where(data == src.nodata, 0, data)
            data = np.where(data > 6, 0, data)
            wb = src.window_bounds(win)
            ax.imshow(data, cmap=cmap, norm=norm, extent=(wb[0], wb[2], wb[1], wb[3]),
                      interpolation="nearest", origin="upper")
            present = {order[c] for c in np.unique(data)}
        else:
            ax.text(0.5, 0.5, "mine outside the raster", transform=ax.transAxes,
                    ha="center", va="center")
    if geom is not None:
        _outline(ax, geom, color="black", lw=1.2)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    _scale_bar(ax, x0, x1, y0, y1, metres)
    from matplotlib.ticker import MaxNLocator

    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(6))
    ax.ticklabel_format(useOffset=False, style="plain")
    unit = "degrees" if metres != 1.0 and metres > 1000 else "m"
    ax.set_xlabel(f"x ({unit})", fontsize=8)
    ax.set_ylabel(f"y ({unit})", fontsize=8)
    handles = [Patch(facecolor=CLASS_COLORS[c], edgecolor="grey", label=CLASS_LABELS[c])
               for c in ("SCI", "SAI", "SI_H_undefined", "NI", "ND", "SD", "nodata")
               if c in present or c in ("SCI", "SAI", "NI", "ND", "SD")]
    if geom is not None:
        handles.append(Patch(facecolor="none", edgecolor="black", label="mine boundary"))
    fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False,
               title="MLRI trend class", title_fontsize=8)
    ax.set_title(title or "Restoration classes", fontsize=10)
    if shares:
        txt = "   ".join(f"{k} {v:.1f}%" for k, v in shares.items() if not math.isnan(v))
        ax.set_xlabel(f"x ({unit})\n{txt}", fontsize=8)
    return fig


def _share_cols(denominator: str) -> tuple[str, str]:
    return ("pct_valid_", "% of classified pixels") if denominator == "valid" else (
        "pct_", "% of mine area")


def class_bars(table: Table, *, group_col: str | None = None, denominator: str = "valid",
               usable: np.ndarray | None = None, max_labels: int = 60) -> Any:
    """Stacked class shares per mine, sorted by group then SI % (paper Fig. 4)."""
    pre, ylab = _share_cols(denominator)
    ids = [str(x) for x in table["id"]]
    use = np.ones(len(ids), dtype=bool) if usable is None else np.asarray(usable, bool)
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
            names.append(str(nm)[:18])
        ax.set_xticks(x, names, rotation=90, fontsize=7)
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
            ax.text(np.mean(ps), 101, f"{g} (n={len(ps)})", ha="center", va="bottom",
                    fontsize=8)
    ax.set_ylim(0, 108 if group_col else 100)
    ax.set_xlim(-0.6, n - 0.4 if n else 0.6)
    ax.set_ylabel(ylab)
    ax.set_title("Restoration classes per mine" + (f" by {group_col}" if group_col else ""),
                 fontsize=10)
    fig.legend(loc="outside right center", fontsize=7, frameon=False, reverse=True)
    return fig


def group_bars(table: Table, group_col: str, *, denominator: str = "valid",
               usable: np.ndarray | None = None) -> Any:
    """Mean class shares per group (mean over mines; paper Fig. 5)."""
    from .stats import _natural

    pre, ylab = _share_cols(denominator)
    use = np.ones(len(table), dtype=bool) if usable is None else np.asarray(usable, bool)
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
    ax.set_title(f"Mean class shares by {group_col}", fontsize=10)
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
    """SCI % vs SAI % of every clustered mine, coloured by restoration level, with centroids."""
    fig = _figure(6.4, 4.8)
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
    p = clusters.test.get("p", float("nan"))
    ax.set_xlabel(fx.replace("pct_valid_", "").replace("pct_", "") + " %")
    ax.set_ylabel(fy.replace("pct_valid_", "").replace("pct_", "") + " %")
    ptxt = f"Kruskal-Wallis SI % between clusters: p = {p:.3g}" if not math.isnan(p) else ""
    ax.set_title(f"K-means clusters of mines (k={clusters.k}, seed={clusters.seed})\n{ptxt}",
                 fontsize=10)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right center", fontsize=7, frameon=False, title="X = centroid",
               title_fontsize=7)
    return fig

