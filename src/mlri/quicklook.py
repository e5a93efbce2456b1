"""Class-map rendering: the one renderer behind ``mlri run``'s ``classes.png``, the demo figure
and the maps of the HTML report.

Colours come from the colour table of ``classes.tif`` (:data:`mlri.pipeline.CLASS_COLORS`), so
the PNGs, the report and a GIS showing ``classes.tif`` agree.  Maps are drawn in the raster's
coordinates (axis labels name the CRS) with a scale bar.  Matplotlib is used through a bare
``Figure`` on the Agg canvas (no pyplot state, no global backend switch).
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import classes as _classes

__all__ = [
    "CLASS_HEX",
    "CLASS_WORDS",
    "LEGEND_ORDER",
    "class_legend",
    "classes_figure",
    "draw_classes",
    "new_figure",
    "preload",
    "read_classes",
    "scale_bar",
    "write_quicklook",
]


def _hex(rgba: tuple[int, int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])


def _palette() -> dict[str, str]:
    pal = {_classes.CLASS_LABELS[k]: _hex(v) for k, v in _classes.CLASS_COLORS.items() if k}
    pal["nodata"] = "#e0e0e0"          # transparent in the GeoTIFF; light grey on paper
    pal["SI"] = pal["SAI"]             # SI = SCI + SAI (+ undefined H), when merged
    pal["all"] = "#404040"
    return pal


#: Class name -> colour (hex), from the colour table of ``classes.tif``.
CLASS_HEX: dict[str, str] = _palette()
#: Class name -> words, used by every figure and the report (MLRI "increase" = improvement).
CLASS_WORDS: dict[str, str] = {
    **{c.name: c.label for c in _classes.CLASSES},
    **{g: _classes.label_of(g) for g in _classes.GROUPS},
    "all": "all pixels",
}
#: Legend order (most restored first); codes 5, 4, 6, 3, 2, 1, 0 of ``classes.tif``.
LEGEND_ORDER: tuple[str, ...] = ("SCI", "SAI", "SI_H_undefined", "NI", "ND", "SD", "nodata")
_CODE_ORDER = ("nodata", "SD", "ND", "NI", "SAI", "SCI", "SI_H_undefined")  # index = code


def preload() -> None:
    """Import every matplotlib module the class map needs (the Agg canvas, colours, patches,
    ticker: ~0.5 s), so that a later :func:`write_quicklook` only draws."""
    import matplotlib.backends.backend_agg
    import matplotlib.colors
    import matplotlib.figure
    import matplotlib.patches
    import matplotlib.ticker  # noqa: F401


def new_figure(w: float, h: float, dpi: int = 110) -> Any:
    """A constrained-layout Figure on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _nice(x: float) -> float:
    """Largest 1/2/5 x 10^k not above x."""
    if x <= 0 or not math.isfinite(x):
        return 0.0
    e = math.floor(math.log10(x))
    for m in (5, 2, 1):
        if m * 10 ** e <= x:
            return m * 10 ** e
    return 10 ** e


def scale_bar(ax: Any, xmin: float, xmax: float, ymin: float, ymax: float,
              metres_per_unit: float) -> None:
    """A black/white scale bar of a round length (~1/4 of the width) in the lower left."""
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


def metres_per_unit(crs: Any, mid_lat: float = 0.0) -> float:
    """Metres per CRS unit (degrees: at ``mid_lat``; no CRS: 1)."""
    if crs is None:
        return 1.0
    if crs.is_geographic:
        return 111_320.0 * math.cos(math.radians(mid_lat))
    return float(crs.linear_units_factor[1])


def coordinate_axes(ax: Any, crs: Any) -> None:
    """Plain coordinate tick labels and axis names that say which CRS they are in."""
    from matplotlib.ticker import MaxNLocator

    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.ticklabel_format(useOffset=False, style="plain")
    name = ""
    if crs is not None:
        epsg = crs.to_epsg()
        name = f", EPSG:{epsg}" if epsg else ""
    if crs is not None and crs.is_geographic:
        ax.set_xlabel(f"longitude (°{name})", fontsize=8)
        ax.set_ylabel(f"latitude (°{name})", fontsize=8)
    else:
        ax.set_xlabel(f"easting (m{name})", fontsize=8)
        ax.set_ylabel(f"northing (m{name})", fontsize=8)


def read_classes(path: str | os.PathLike[str], max_pixels: int = 1200,
                 window: Any = None) -> tuple[np.ndarray, tuple[float, float, float, float],
                                              Any]:
    """Class codes (decimated, nearest, to ~``max_pixels`` on the long side), extent
    ``(left, right, bottom, top)`` and CRS.  Codes outside 0..6 and nodata read as 0."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(path) as src:
        win = window if window is not None else Window(0, 0, src.width, src.height)
        f = max(1, math.ceil(max(win.width, win.height) / max_pixels))
        shape = (max(1, int(win.height // f)), max(1, int(win.width // f)))
        data = src.read(1, window=win, out_shape=shape)
        if src.nodata is not None and src.nodata != 0:
            data = np.where(data == src.nodata, 0, data)
        data = np.where((data < 0) | (data > 6), 0, data).astype(np.uint8)
        t = src.transform
        xa, ya = t.c + t.a * win.col_off, t.f + t.e * win.row_off
        xb, yb = xa + t.a * win.width, ya + t.e * win.height
        return data, (min(xa, xb), max(xa, xb), min(ya, yb), max(ya, yb)), src.crs


def draw_classes(ax: Any, data: np.ndarray, extent: tuple[float, float, float, float],
                 crs: Any) -> set[str]:
    """Draw class codes in map coordinates with a scale bar; return the class names shown."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    cmap = ListedColormap([CLASS_HEX[c] for c in _CODE_ORDER])
    norm = BoundaryNorm(np.arange(-0.5, 7.5, 1.0), cmap.N)
    ax.imshow(data, cmap=cmap, norm=norm, extent=extent, interpolation="nearest",
              origin="upper")
    x0, x1, y0, y1 = extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    scale_bar(ax, x0, x1, y0, y1, metres_per_unit(crs, (y0 + y1) / 2))
    coordinate_axes(ax, crs)
    return {_CODE_ORDER[c] for c in np.unique(data)}


def class_legend(present: set[str] | None = None, pct: Mapping[str, float] | None = None,
                 *, words: bool = True) -> list[Any]:
    """Legend patches: the five main classes always, the others when ``present``."""
    from matplotlib.patches import Patch

    out = []
    for c in LEGEND_ORDER:
        if c not in ("SCI", "SAI", "NI", "ND", "SD") and c not in (present or set()):
            continue
        label = (CLASS_WORDS[c] if c == "nodata" else
                 f"{c}: {CLASS_WORDS[c]}" if words else c)
        v = (pct or {}).get(c)
        if v is not None and math.isfinite(v):
            label += f" ({v:.0f} %)" if v >= 1 or v == 0 else " (< 1 %)"
        out.append(Patch(facecolor=CLASS_HEX[c], edgecolor="grey", label=label))
    return out


def summary_percent(summary: Mapping[str, Any] | None) -> dict[str, float]:
    """Class name -> % of classified pixels, from ``summary.json``."""
    out: dict[str, float] = {}
    for c in (summary or {}).get("classes", []):
        if c.get("percent_of_classified") is not None:
            out[str(c["name"])] = float(c["percent_of_classified"])
    return out


def rule_z_crit(summary: Mapping[str, Any] | None) -> float | None:
    """The critical |Z| the classes of a run were decided by (its ``summary.json``): the
    paper's rule, given or from alpha (runs that predate the record: 1.96), or under an FDR
    the |Z| of the map-wide threshold; None when another test decided, or when an FDR
    rejected nothing."""
    sig = (summary or {}).get("significance") or {}
    if sig.get("test", "paper") != "paper":
        return None
    if "z_crit" in sig:
        return None if sig["z_crit"] is None else float(sig["z_crit"])
    return 1.96 if sig.get("fdr") is None else None


def rule_text(summary: Mapping[str, Any] | None) -> str:
    """The paper's rule as the run applied it, for a sentence: "|Z| > 2.50", or with an FDR
    "|Z| >= 2.15 (false discovery rate 0.05)"."""
    sig = (summary or {}).get("significance") or {}
    zc = rule_z_crit(summary)
    if sig.get("fdr") is None:
        return f"|Z| > {zc if zc is not None else 1.96:.2f}"
    at = f"|Z| >= {zc:.2f}, " if zc is not None else ""
    return f"{at}false discovery rate {sig['fdr']}"


def classes_figure(classes: str | os.PathLike[str], *, title: str = "Restoration classes",
                   summary: Mapping[str, Any] | None = None, note: str = "",
                   max_pixels: int = 1200) -> Any:
    """One class map with legend (shares from ``summary``), scale bar, coordinates, note."""
    data, extent, crs = read_classes(classes, max_pixels)
    h, w = data.shape
    # fixed margins (no constrained layout: with an equal-aspect map and an outside legend it
    # can push the coordinate labels off the figure)
    fh = float(np.clip(5.3 * h / max(w, 1) + (1.6 if note else 1.1), 3.6, 9.0))
    fig = new_figure(9.5, fh)
    fig.set_layout_engine("none")
    bottom = (1.0 if note else 0.55) / fh
    ax = fig.add_axes((0.1, bottom, 0.56, 1 - bottom - 0.4 / fh))
    present = draw_classes(ax, data, extent, crs)
    ax.set_title(title, fontsize=10)
    ax.legend(handles=class_legend(present, summary_percent(summary)), loc="center left",
              bbox_to_anchor=(1.03, 0.5), fontsize=7, frameon=False,
              title="MLRI trend class (% of classified)", title_fontsize=8)
    if note:
        fig.text(0.02, 0.02, "\n".join(textwrap.wrap(note, 150)), fontsize=7, va="bottom",
                 ha="left", color="#600")
    return fig


def write_quicklook(classes: str | os.PathLike[str], png: str | os.PathLike[str], *,
                    summary: Mapping[str, Any] | None = None, title: str | None = None) -> Path:
    """Write ``png``: the class map of ``classes`` (``mlri run`` writes ``classes.png``)."""
    from ._outputs import atomic_file

    pct = summary_percent(summary)
    si = sum(pct.get(c, 0.0) for c in ("SCI", "SAI", "SI_H_undefined"))
    test = ((summary or {}).get("significance") or {}).get("test", "paper")
    note = ""
    if summary and test == "paper":
        note = (f"{si:.0f} % of classified pixels are significant increase (SCI+SAI) under "
                f"the paper's rule ({rule_text(summary)}); MLRI drifts upward by construction, so about "
                "half of unchanged pixels also test as SI (docs/significance.md).")
    fig = classes_figure(classes, title=title or f"Restoration classes: {Path(classes).resolve().parent.name}/{Path(classes).name}",
                         summary=summary, note=note)
    with atomic_file(png, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    return Path(png)
