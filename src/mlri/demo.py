"""A synthetic surface-mine site with planted truth, and the ``mlri demo`` command's engine.

The site (default 120 x 160 pixels of 30 m, 17 km², UTM 50N, 2000-2019 without 2012) has:

=====  ======================  ===========================================================
code   region                  what is planted
=====  ======================  ===========================================================
1      steppe                  natural grassland; inter-annual weather (droughts) only
2      open pit (active)       bare floor getting barer and hotter every year (deepening)
3      pit expansion           steppe until excavated (2003-2011, the front moves east)
4      dump restored 2002      bare spoil, revegetated from 2002 (noisy recovery)
5      dump restored 2006      idem from 2006
6      dump restored 2010      idem from 2010
7      dump restored 1995      revegetated before 2000, already stable
8      pit lake                water (EVI < 0: every year dropped from the MLRI)
=====  ======================  ===========================================================

Pixels get per-pixel recovery rates and ceilings, occasional set-backs, shared weather
anomalies (EVI down / LST up in drought years), pixel noise, and cloud gaps (blobs and
scattered pixels, written as nodata -9999).  :func:`synthesize` returns arrays (for tests).

:func:`run_demo` (``mlri demo``) runs the whole method with the library functions: it writes
GEE-like ``LST_YYYY.tif`` / ``EVI_YYYY.tif`` files, runs :func:`mlri.pipeline.run`, draws the
truth beside the class map, draws mine polygons around the planted regions
(:data:`DEMO_MINES`: three dumps restored in different years, the old stable dump, the pit, its
expansion and an undisturbed steppe control), labels a stratified random sample of reference
points from the truth, and runs :func:`mlri.sites.run_sites`,
:func:`mlri.sites.assess_accuracy` and :func:`mlri.sites.build_report`.

The steppe shows the paper rule's known weakness: unchanged land is about half "significant
increase", because MLRI divides by running extrema and drifts upward by construction (see
``docs/significance.md``); the demo map and the report say so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._planted import planted_onsets, planted_restorations

__all__ = [
    "DEMO_MINES",
    "DEMO_YEARS",
    "REFERENCE",
    "REGIONS",
    "DemoResult",
    "DemoSite",
    "mine_polygons",
    "planted_onsets",
    "planted_restorations",
    "plot_classes",
    "reference_points",
    "region_table",
    "run_demo",
    "synthesize",
    "write_inputs",
]

DEMO_YEARS: tuple[int, ...] = (*range(2000, 2012), *range(2013, 2020))
NODATA = -9999.0
CRS = "EPSG:32650"
ORIGIN = (420015.0, 4870035.0)  # ≡ 15 mod 30: the Landsat/GEE 30 m lattice

#: code -> (short name, description, expected classes)
REGIONS: dict[int, tuple[str, str, str]] = {
    1: ("steppe", "natural steppe, weather noise only", "any (MLRI drifts up by construction)"),
    2: ("pit", "active open pit, deepening", "not SI"),
    3: ("pit_expansion", "steppe excavated 2003-2011", "SD/ND"),
    4: ("dump_2002", "dump restored from 2002", "SI"),
    5: ("dump_2006", "dump restored from 2006", "SI"),
    6: ("dump_2010", "dump restored from 2010", "SI"),
    7: ("dump_1995", "dump restored 1995, stable", "any (stationary)"),
    8: ("pit_lake", "water, EVI < 0", "nodata (all years dropped)"),
}
RESTORED_FROM = {4: 2002, 5: 2006, 6: 2010}
#: Colours of the planted regions: no greens, so they are never mistaken for the class map's
#: (the restored dumps are a purple ramp, darker = restored earlier).
REGION_COLORS = {0: (0, 0, 0, 0), 1: (214, 196, 140, 255), 2: (90, 90, 90, 255),
                 3: (166, 97, 26, 255), 4: (117, 107, 177, 255), 5: (158, 154, 200, 255),
                 6: (203, 201, 226, 255), 7: (84, 39, 143, 255), 8: (49, 130, 189, 255)}


@dataclass
class DemoSite:
    """Synthetic inputs: ``lst``/``evi`` are ``(T, rows, cols)`` float32 with NaN = missing."""

    lst: np.ndarray
    evi: np.ndarray
    years: list[int]
    truth: np.ndarray
    transform: Any
    crs: str


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return f / (f.std() or 1.0)


def _blob(rows: np.ndarray, cols: np.ndarray, r0: float, c0: float, ry: float, rx: float,
          rng: np.random.Generator, wobble: float = 0.12) -> np.ndarray:
    """Ellipse with an irregular (wobbly) outline."""
    dy = (rows - r0) / ry
    dx = (cols - c0) / rx
    ang = np.arctan2(dy, dx)
    p1, p2, p3 = rng.uniform(0, 2 * np.pi, 3)
    edge = 1 + wobble * (np.sin(3 * ang + p1) + 0.6 * np.sin(5 * ang + p2)
                         + 0.3 * np.sin(9 * ang + p3)) / 1.9
    return np.hypot(dy, dx) < edge


def synthesize(seed: int = 2024, shape: tuple[int, int] = (120, 160),
               years: Sequence[int] = DEMO_YEARS, cloud: bool = True) -> DemoSite:
    """Make the synthetic site (deterministic for a given ``seed``)."""
    from affine import Affine

    rng = np.random.default_rng(seed)
    h, w = shape
    yrs = np.asarray(years, dtype=np.float64)
    nt = yrs.size
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    sy, sx = h / 120.0, w / 160.0

    # ---- regions (later ones overwrite earlier ones)
    truth = np.ones((h, w), dtype=np.uint8)
    old = _blob(rows, cols, 22 * sy, 36 * sx, 13 * sy, 24 * sx, rng)
    truth[old] = 7
    big = _blob(rows, cols, 70 * sy, 54 * sx, 34 * sy, 44 * sx, rng, 0.08)
    core = _blob(rows, cols, 68 * sy, 46 * sx, 22 * sy, 26 * sx, rng, 0.08)
    truth[big & ~core] = 3
    truth[core] = 2
    truth[_blob(rows, cols, 22 * sy, 124 * sx, 14 * sy, 25 * sx, rng)] = 4
    truth[_blob(rows, cols, 60 * sy, 132 * sx, 14 * sy, 20 * sx, rng)] = 5
    truth[_blob(rows, cols, 100 * sy, 124 * sx, 13 * sy, 26 * sx, rng)] = 6
    truth[_blob(rows, cols, 76 * sy, 40 * sx, 6 * sy, 8 * sx, rng, 0.2)] = 8

    # ---- vegetation state v in [0, 1] per year (0 bare spoil, 1 local steppe)
    t = yrs[:, None, None]
    v = np.ones((nt, h, w))
    base = 0.27 + 0.035 * _smooth_noise(rng, (h, w), 6.0)        # steppe EVI ceiling
    # extra bare-surface trend (pit deepening): EVI down, LST up
    heat = np.zeros((nt, h, w))

    m = truth == 7
    v[:, m] = np.clip(0.82 + 0.06 * _smooth_noise(rng, (h, w), 3.0)[m], 0.6, 1.0)

    frac = np.clip((yrs - yrs[0]) / max(1.0, yrs[-1] - yrs[0]), 0, 1)[:, None, None]
    m = truth == 2
    v[:, m] = np.broadcast_to(0.16 * (1 - frac), (nt, h, w))[:, m]
    heat[:, m] = np.broadcast_to(7.0 * frac, (nt, h, w))[:, m]

    m = truth == 3
    ang = np.arctan2(rows - 70 * sy, (cols - 54 * sx) * (34 / 44))
    ex_year = np.round(2003 + 8 * np.clip((np.cos(ang) + 1) / 2, 0, 1)
                       + rng.normal(0, 0.5, (h, w)))
    after = (t >= ex_year[None]) & m[None]
    since = np.clip(t - ex_year[None], 0, None)
    v = np.where(after, 0.12 * np.exp(-since / 4.0), v)
    heat = np.where(after, 1.0 + 0.5 * since, heat)

    for code, ry in RESTORED_FROM.items():
        m = truth == code
        tau = rng.uniform(2.0, 5.0, (h, w))
        vmax = rng.uniform(0.55, 0.95, (h, w))
        since = t - ry
        rec = np.where(since >= 0, vmax * (1 - np.exp(-(since + 1) / tau)), 0.0)
        # set-backs: a third of the pixels lose 40 % in one random year after restoration
        hit = rng.random((h, w)) < 0.33
        k = rng.integers(2, max(3, int(yrs[-1] - ry)), (h, w))
        setback = hit[None] & (t == (ry + k)[None])
        rec = np.where(setback, rec * 0.6, rec)
        v[:, m] = rec[:, m]

    # ---- weather: shared yearly anomaly (negative = dry, hot)
    weather = rng.normal(0, 1, nt)
    for dry in (2001, 2007, 2017):
        if dry in set(years):
            weather[list(years).index(dry)] = -1.6
    wx = weather[:, None, None]

    evi_bare = 0.06
    evi = evi_bare + (base[None] - evi_bare) * v
    evi = evi * (1 + 0.10 * wx * np.clip(v, 0.2, 1)) - 0.02 * heat / 7.0
    evi = evi + rng.normal(0, 1, (nt, h, w)) * (0.004 + 0.010 * v)
    lst = 316.0 - 15.0 * v + heat - 1.6 * wx + rng.normal(0, 0.7, (nt, h, w))

    lake = truth == 8
    evi[:, lake] = rng.normal(-0.08, 0.02, (nt, int(lake.sum())))
    lst[:, lake] = rng.normal(296.0, 0.8, (nt, int(lake.sum())))

    # ---- clouds: blobs per year + scattered residual gaps
    if cloud:
        gap = np.zeros((nt, h, w), dtype=bool)
        for i in range(nt):
            for _ in range(rng.poisson(1.3)):
                r0, c0 = rng.uniform(0, h), rng.uniform(0, w)
                rad = rng.uniform(4, 14) * min(sy, sx)
                gap[i] |= _blob(rows, cols, r0, c0, rad, rad * rng.uniform(0.7, 1.5), rng, 0.3)
        gap |= rng.random((nt, h, w)) < 0.005
        lst[gap] = np.nan
        evi[gap] = np.nan

    transform = Affine(30.0, 0.0, ORIGIN[0], 0.0, -30.0, ORIGIN[1])
    return DemoSite(lst.astype(np.float32), evi.astype(np.float32), [int(y) for y in years],
                    truth, transform, CRS)


def write_inputs(site: DemoSite, folder: str | os.PathLike[str], *,
                 overwrite: bool = False, name: str = "{var}_{year}.tif",
                 stack: bool = False, blocksize: int = 256, nodata: float | None = NODATA,
                 dtype: str = "float32") -> dict[str, list[Path]]:
    """Write the site's inputs like a GEE export: one float32 file per variable and year
    (``name``), 256-pixel tiles, deflate, nodata -9999 — or, with ``stack=True``, one
    multi-band ``{var}_stack.tif`` per variable with the year as each band's description."""
    from ._outputs import OutputSet, atomic_raster

    folder = Path(folder)
    _, h, w = site.lst.shape
    prof = {"driver": "GTiff", "crs": site.crs, "transform": site.transform, "width": w,
            "height": h, "count": 1, "dtype": dtype, "nodata": nodata, "tiled": True,
            "blockxsize": blocksize, "blockysize": blocksize, "compress": "deflate",
            "predictor": 2 if dtype.startswith("float") else 1}
    fill = np.float32(np.nan if nodata is None else nodata)
    items = []
    for var, arr in (("LST", site.lst), ("EVI", site.evi)):
        if stack:
            items.append((var, f"{var}_stack.tif", arr, site.years))
        else:
            items.extend((var, name.format(var=var, year=y), arr[i:i + 1], [y])
                         for i, y in enumerate(site.years))
    out: dict[str, list[Path]] = {"LST": [], "EVI": []}
    with OutputSet(folder, [it[1] for it in items], overwrite=overwrite, marker=None) as oset:
        for var, fname, arr, yrs in items:
            with atomic_raster(oset.stage(fname), {**prof, "count": len(yrs)}, cog=False,
                               overview_resampling=None) as ds:
                ds.write(np.where(np.isnan(arr), fill, arr).astype(dtype))
                for b, y in enumerate(yrs, 1):
                    ds.set_band_description(b, f"{var}_{y}")
            out[var].append(oset.path(fname))
        oset.commit()
    return out


def write_truth(site: DemoSite, path: str | os.PathLike[str]) -> Path:
    """The planted regions as a uint8 GeoTIFF with a colour table and region names."""
    from ._outputs import atomic_raster

    h, w = site.truth.shape
    prof = {"driver": "GTiff", "crs": site.crs, "transform": site.transform, "width": w,
            "height": h, "count": 1, "dtype": "uint8", "nodata": 0, "tiled": True,
            "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    with atomic_raster(path, prof, cog=False, overview_resampling=None) as ds:
        ds.write(site.truth, 1)
        ds.write_colormap(1, REGION_COLORS)
        ds.set_band_description(1, "planted region")
        ds.update_tags(1, **{f"REGION_{k}": f"{v[0]}: {v[1]}" for k, v in REGIONS.items()})
    return Path(path)


def region_table(classes: np.ndarray, truth: np.ndarray) -> dict[int, dict[str, Any]]:
    """Per planted region: pixel count, class fractions, majority class, share of SI."""
    from .classes import CLASS_LABELS, SI_CODES

    out: dict[int, dict[str, Any]] = {}
    for code, (name, _, expected) in REGIONS.items():
        m = truth == code
        n = int(m.sum())
        if n == 0:
            continue
        cnt = np.bincount(classes[m].ravel(), minlength=len(CLASS_LABELS))
        frac = {CLASS_LABELS[k]: round(float(cnt[k]) / n, 3) for k in CLASS_LABELS if cnt[k]}
        out[code] = {"name": name, "pixels": n, "expected": expected,
                     "majority": CLASS_LABELS[int(np.argmax(cnt))],
                     "si_fraction": round(float(sum(cnt[k] for k in SI_CODES)) / n, 3),
                     "fractions": frac}
    return out



#: The demo's "mines" (polygons drawn around planted regions): id -> (region code, name,
#: mining start).  ``steppe_control`` is a box of undisturbed steppe (no mining).
DEMO_MINES: dict[str, tuple[int, str, int | None]] = {
    "dump_1995": (7, "Dump restored 1995", 1985),
    "dump_2002": (4, "Dump restored 2002", 1990),
    "dump_2006": (5, "Dump restored 2006", 1996),
    "dump_2010": (6, "Dump restored 2010", 2001),
    "pit": (2, "Open pit (active)", 2000),
    "pit_expansion": (3, "Pit expansion 2003-2011", 2003),
    "steppe_control": (1, "Steppe control (no mining)", None),
}
#: Reference label of each planted region for the accuracy check: did the land improve during
#: 2000-2019?  Only the dumps revegetated from 2002, 2006 and 2010 did; the pit lake has no
#: MLRI (never sampled).
REFERENCE = {1: "not restored", 2: "not restored", 3: "not restored", 4: "restored",
             5: "restored", 6: "restored", 7: "not restored"}


def steppe_control_box(truth: np.ndarray, side: int = 18) -> tuple[int, int]:
    """Top-left (row, col) of the ``side``-pixel square with the most steppe, away from the
    edge (first one in raster order among ties: deterministic)."""
    from scipy.ndimage import uniform_filter

    frac = uniform_filter((truth == 1).astype(np.float64), side, mode="constant")
    h, w = truth.shape
    half = side // 2
    inner = frac[half + 2:h - side + half - 2, half + 2:w - side + half - 2]
    r, c = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(r) + 2, int(c) + 2


def mine_polygons(site: DemoSite) -> tuple[list[Any], dict[str, list[Any]]]:
    """Polygons (map coordinates) and attributes ``id, name, start`` of :data:`DEMO_MINES`."""
    import shapely
    from rasterio.features import shapes

    from .sites._geo import apply_affine

    geoms: list[Any] = []
    fields: dict[str, list[Any]] = {"id": [], "name": [], "start": []}
    for mid, (code, name, start) in DEMO_MINES.items():
        if mid == "steppe_control":
            r, c = steppe_control_box(site.truth)
            x0, y0 = apply_affine(site.transform, c, r)
            x1, y1 = apply_affine(site.transform, c + 18, r + 18)
            g = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        else:
            mask = (site.truth == code).astype(np.uint8)
            parts = [shapely.geometry.shape(geo) for geo, v in
                     shapes(mask, mask=mask.astype(bool), transform=site.transform) if v == 1]
            g = shapely.union_all(parts)
            if g.geom_type == "MultiPolygon":  # keep the main body, drop stray pixels
                g = max(g.geoms, key=lambda p: p.area)
            g = g.simplify(15.0)
        geoms.append(g)
        fields["id"].append(mid)
        fields["name"].append(name)
        fields["start"].append(start)
    return geoms, fields


def reference_points(classes: str | os.PathLike[str], truth: np.ndarray, *, n: int = 25,
                     seed: int = 1) -> Any:
    """A stratified random sample of the class map (``n`` per class) labelled from the
    planted truth (:data:`REFERENCE`): what a field survey or photo-interpretation gives."""
    import rasterio

    from .sites.sampling import stratified_sample

    with rasterio.open(classes) as ds:
        cnt = np.bincount(ds.read(1).ravel(), minlength=7)
    from .pipeline import CLASS_LABELS

    # n per map class (all pixels of a smaller class): the strata of Olofsson et al. (2014)
    per = {CLASS_LABELS[k]: min(n, int(cnt[k])) for k in range(1, 7) if cnt[k]}
    t = stratified_sample(classes, per, seed=seed)
    rows, cols = t.numeric("row").astype(int), t.numeric("col").astype(int)
    codes = truth[rows, cols]
    t["truth_region"] = [REGIONS[int(c)][0] for c in codes]
    t["reference"] = [REFERENCE.get(int(c), "") for c in codes]
    return t


def plot_classes(classes: np.ndarray, truth: np.ndarray, png: str | os.PathLike[str],
                 summary: dict[str, Any] | None = None, title: str = "mlri demo", *,
                 transform: Any = None, crs: Any = None, note: str = "") -> Path:
    """Two maps side by side: planted regions (truth) and MLRI classes, each with a legend,
    coordinates and a scale bar; ``note`` is printed under the class map."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    from rasterio.crs import CRS as RioCRS

    from ._outputs import atomic_file
    from .classes import hex_color
    from .quicklook import (
        class_legend,
        coordinate_axes,
        draw_classes,
        new_figure,
        scale_bar,
        summary_percent,
    )

    h, w = truth.shape
    if transform is None:
        from affine import Affine

        transform = Affine(30.0, 0.0, ORIGIN[0], 0.0, -30.0, ORIGIN[1])
    crs = RioCRS.from_user_input(crs or CRS)
    from .sites._geo import apply_affine

    x0, y0 = apply_affine(transform, 0, 0)
    x1, y1 = apply_affine(transform, w, h)
    extent = (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))

    fig = new_figure(13.0, 7.6)
    gs = fig.add_gridspec(3, 2, height_ratios=[5.0, 1.05, 0.4])
    axes = [fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])]
    leg = [fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1])]
    foot = fig.add_subplot(gs[2, :])
    for a in (*leg, foot):
        a.set_axis_off()
    n = max(REGION_COLORS) + 1
    cmap = ListedColormap([np.array(REGION_COLORS.get(i, (0, 0, 0, 0))) / 255
                           for i in range(n)])
    axes[0].imshow(truth, cmap=cmap, vmin=-0.5, vmax=n - 0.5, interpolation="nearest",
                   extent=extent)
    axes[0].set_aspect("equal")
    scale_bar(axes[0], *extent, 1.0)
    coordinate_axes(axes[0], crs)
    axes[0].set_title("Planted regions (truth)", fontsize=10)
    leg[0].legend(handles=[Patch(facecolor=hex_color(REGION_COLORS[k]), edgecolor="grey",
                                 label=v[1]) for k, v in REGIONS.items()],
                  loc="upper center", fontsize=8, ncol=2, frameon=False,
                  title="planted region", title_fontsize=8)
    present = draw_classes(axes[1], classes, extent, crs)
    axes[1].set_title("MLRI restoration classes (paper's |Z| > 1.96 rule)", fontsize=10)
    leg[1].legend(handles=class_legend(present, summary_percent(summary)),
                  loc="upper center", fontsize=8, ncol=2, frameon=False,
                  title="class (% of classified pixels)", title_fontsize=8)
    fig.suptitle(title)
    if note:
        foot.text(0.5, 0.5, note, fontsize=8.5, ha="center", va="center", color="#7a0000",
                  wrap=True, transform=foot.transAxes,
                  bbox={"fc": "#fff0f0", "ec": "#b00", "boxstyle": "round,pad=0.4"})
    with atomic_file(png, "wb") as fh:
        # bbox_inches="tight" keeps the legends below the axes inside the image
        fig.savefig(fh, format="png", dpi=100, bbox_inches="tight", pad_inches=0.15)
    return Path(png)


def steppe_note(regions: dict[int, dict[str, Any]]) -> str:
    """The sentence printed on the demo map about the stable steppe's share of SI."""
    st = regions.get(1)
    if not st:
        return ""
    return (f"The unchanged steppe is {100 * st['si_fraction']:.0f} % 'significant increase' "
            "(salt and pepper): MLRI divides by running extrema and drifts upward by "
            "construction, so under the paper's rule about half of stable pixels test as SI. "
            "Use --significance permutation or reference for a calibrated test "
            "(docs/significance.md).")


@dataclass
class DemoResult:
    """Paths written by :func:`run_demo` (``report``/``sites``/``accuracy`` are None when the
    ``sites`` extra is missing; ``skipped`` then says why)."""

    out_dir: Path
    inputs: Path
    results: Path
    png: Path
    truth: Path
    summary: dict[str, Any]
    regions: dict[int, dict[str, Any]]
    report: Path | None = None
    mines: Path | None = None
    points: Path | None = None
    sites: Path | None = None
    accuracy: dict[str, Any] | None = None
    skipped: str = ""
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def run_demo(out: str | os.PathLike[str] = "mlri-demo", *, overwrite: bool = False,
             quiet: bool = False, seed: int = 2024, threads: int | None = None,
             shape: tuple[int, int] = (120, 160), report: bool = True) -> DemoResult:
    """The whole method on the synthetic site, with the library functions.

    Writes ``inputs/`` (GEE-like ``LST_YYYY.tif``/``EVI_YYYY.tif``), ``truth.tif``,
    ``results/`` (:func:`mlri.pipeline.run` with the onset year, ``onset.tif``, +
    ``classes.png``), ``classes.png`` (truth beside
    the classes), and with the ``sites`` extra: ``mines.gpkg`` (:data:`DEMO_MINES`),
    ``points.csv`` (reference points), ``sites/`` (:func:`mlri.sites.run_sites`),
    ``sites/accuracy.json`` (:func:`mlri.sites.assess_accuracy`) and ``report.html``
    (:func:`mlri.sites.build_report`).
    """
    from ._outputs import OutputExistsError

    out = Path(out)
    existed = out.exists()
    if existed and any(out.iterdir()) and not overwrite:
        msg = (f"{out} already exists and is not empty; pass --overwrite to replace the demo, "
               f"or choose another --out")
        raise OutputExistsError(msg)
    fresh = not existed or not any(out.iterdir())
    try:
        return _demo(out, overwrite=overwrite, quiet=quiet, seed=seed, threads=threads,
                     shape=shape, report=report)
    except BaseException:
        # an interrupted or failed demo into a new (or empty) folder leaves it as it was, so
        # that the next `mlri demo` starts afresh instead of refusing a half-made demo
        if fresh:
            import shutil

            shutil.rmtree(out, ignore_errors=True)
            if existed:
                out.mkdir(parents=True, exist_ok=True)
        raise


def _demo(out: Path, *, overwrite: bool, quiet: bool, seed: int, threads: int | None,
          shape: tuple[int, int], report: bool) -> DemoResult:
    import time
    import warnings

    import rasterio

    from ._outputs import write_json
    from .pipeline import StatsOptions, run

    tm: dict[str, float] = {}
    t0 = time.perf_counter()
    site = synthesize(seed=seed, shape=shape)
    inputs = out / "inputs"
    write_inputs(site, inputs, overwrite=overwrite)
    truth_path = write_truth(site, out / "truth.tif")
    tm["inputs"] = time.perf_counter() - t0
    res = run(inputs, inputs, out / "results", overwrite=overwrite, quiet=quiet,
              threads=threads, options=StatsOptions(onset=True))
    tm["run"] = time.perf_counter() - t0 - sum(tm.values())
    with rasterio.open(res.files["classes.tif"]) as ds:
        classes = ds.read(1)
    regions = region_table(classes, site.truth)
    write_json(out / "regions.json", {"seed": seed, "regions": regions,
                                      "restored_from": RESTORED_FROM})
    png = plot_classes(classes, site.truth, out / "classes.png", res.summary,
                       title=f"mlri demo: synthetic mine site, {len(site.years)} years "
                             f"{site.years[0]}-{site.years[-1]}",
                       transform=site.transform, crs=site.crs, note=steppe_note(regions))
    tm["map"] = time.perf_counter() - t0 - sum(tm.values())
    dr = DemoResult(out, inputs, out / "results", png, truth_path, res.summary, regions,
                    timings=tm)
    if not report:
        return dr
    from .sites._deps import require_extra

    try:
        require_extra("the per-mine part of mlri demo", ("shapely", "pyogrio", "pyproj",
                                                          "sklearn"))
    except ImportError as err:
        dr.skipped = str(err)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not dr.skipped:
            _sites_part(dr, site, classes, overwrite=overwrite)
        tm["sites"] = time.perf_counter() - t0 - sum(tm.values())
        from .sites.report import build_report

        dr.report = build_report(
            dr.results, out / "report.html", sites=dr.sites,
            accuracy=(dr.sites / "accuracy.json") if dr.sites else None,
            title="mlri demo: synthetic mine site", overwrite=overwrite)
        tm["report"] = time.perf_counter() - t0 - sum(tm.values())
    dr.warnings = [str(w.message) for w in caught
                   if not issubclass(w.category, (DeprecationWarning,
                                                  PendingDeprecationWarning))]
    return dr


def _sites_part(dr: DemoResult, site: DemoSite, classes: np.ndarray, *,
                overwrite: bool) -> None:
    """mines.gpkg -> run_sites -> reference points -> assess_accuracy."""
    from ._outputs import write_json
    from .sites._synthetic import write_polygons
    from .sites.accuracy import assess_accuracy
    from .sites.sampling import write_points
    from .sites.workflow import run_sites

    out = dr.out_dir
    geoms, fields = mine_polygons(site)
    mines = out / "mines.gpkg"
    if mines.exists():
        mines.unlink()  # checked above: the folder was empty or --overwrite was given
    write_polygons(mines, geoms, crs=site.crs, fields=fields)
    dr.mines = mines
    sites = run_sites(dr.results, mines, out / "sites", id_col="id", name_col="name",
                      start_col="start", figures=False, overwrite=overwrite, k=3)
    dr.sites = sites.out
    pts = reference_points(dr.results / "classes.tif", site.truth)
    dr.points = write_points(pts, out / "points.csv")
    dr.accuracy = assess_accuracy(dr.results / "classes.tif", dr.points)
    write_json(dr.sites / "accuracy.json", dr.accuracy)
