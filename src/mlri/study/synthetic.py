"""A synthetic regional study with planted truth (``mlri study --demo``, tests, benchmarks).

Mines are placed in the six regions of the MLRI paper's study (northern China, UTM zones 45,
48, 49 and 50), each a rectangle of 30 m pixels in its region's UTM zone, written as one
GeoJSON file in longitude/latitude with ``id``, ``name``, ``region`` and ``start`` columns.
Every mine holds two planted stories of :mod:`mlri.landsat.synthetic`: *restored* dumps (bare
until an onset year, then revegetated: significant MLRI increase, SI) and *degrading* ground
(expanding dumping: each year the hottest and least green so far, never SI).  Mines that
started before 2000 are mostly restored (60-90 % of their area), mines from 2000 mostly
active (5-35 %), so the start groups differ, the share correlates with duration and k-means
finds high / low clusters.

Inputs are written either as Landsat Collection 2 Level-2 scene archives per region (one
WRS-2 path per region, in the region's UTM zone, through :func:`mlri.landsat.synthetic.write_scene`
with its cloud/QA model), composited by the study, or as ready annual ``LST_YYYY.tif`` /
``EVI_YYYY.tif`` per mine (:func:`mlri.demo.write_inputs`).  Optional broken mines: one far
from every scene and one without a geometry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["REGIONS", "SyntheticStudy", "make_study"]

#: Approximate region centres (lon, lat) of the paper's six regions (public geography).
REGIONS: dict[str, tuple[float, float]] = {
    "Hailar": (119.8, 49.2),
    "Shengli&Huolinhe": (116.5, 44.0),
    "Yuanbaoshan": (119.3, 42.3),
    "Shanbeimengnan": (111.2, 39.7),
    "Zhuozishan&Luotuoshan": (106.9, 39.6),
    "Zhunnan": (87.6, 43.9),
}
DEFAULT_YEARS: tuple[int, ...] = (*range(2000, 2012), *range(2013, 2020))
PAD = 8  # pixels of stable land around each mine (more than the 150 m grid buffer)


@dataclass
class SyntheticStudy:
    """What :func:`make_study` wrote."""

    root: Path
    mines: Path
    study_file: Path
    source: str
    years: tuple[int, ...]
    truth: list[dict[str, Any]] = field(default_factory=list)
    scenes: Path | None = None
    rasters: Path | None = None
    points: dict[str, str] = field(default_factory=dict)


def _zone_crs(lon: float, lat: float) -> Any:
    from ..landsat.grid import utm_crs

    return utm_crs(lon, lat)


def _mine_block(h: int, w: int, restored: float, onset: int, degr_start: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Class (0 stable, 1 restored, 2 degrading) and year rasters of one mine with its pad."""
    cls = np.zeros((h + 2 * PAD, w + 2 * PAD), np.uint8)
    yr = np.zeros(cls.shape, np.uint16)
    nr = round(restored * h)
    inner_c = cls[PAD:PAD + h, PAD:PAD + w]
    inner_y = yr[PAD:PAD + h, PAD:PAD + w]
    inner_c[:nr] = 1
    inner_y[:nr] = onset
    inner_c[nr:] = 2
    inner_y[nr:] = degr_start
    return cls, yr


def _peaks(cls: np.ndarray, yr: np.ndarray, year: int, texture: np.ndarray,
           anomaly: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    from ..landsat.synthetic import _annual_peaks

    return _annual_peaks(cls, yr, year, texture, anomaly)


def _plan_mines(mines_per_region: dict[str, int], rng: np.random.Generator,
                sizes: Sequence[tuple[int, int]] | None, starts: Sequence[Any] | None,
                names: Sequence[str] | None) -> list[dict[str, Any]]:
    out = []
    k = 0
    for region, n in mines_per_region.items():
        for j in range(n):
            h, w = sizes[k] if sizes is not None else (12, 12)
            if starts is not None:
                start = starts[k]
                before = str(start).lower().startswith("before") or (
                    str(start).isdigit() and int(start) < 2000)
            else:
                before = (j % 2 == 0) if n > 1 else bool(k % 2 == 0)
                start = ("Before 2000" if rng.random() < 0.5 else int(rng.integers(1985, 2000))) \
                    if before else int(rng.integers(2001, 2013))
            restored = float(rng.uniform(0.6, 0.9) if before else rng.uniform(0.05, 0.35))
            out.append({"id": f"M{k + 1:02d}", "name": names[k] if names else f"Mine {k + 1}",
                        "region": region, "start": start, "h": int(h), "w": int(w),
                        "kind": "restored" if before else "active",
                        "restored_fraction": round(restored, 4)})
            k += 1
    return out


def make_study(root: str | os.PathLike[str], *, mines_per_region: dict[str, int] | int = 2,
               regions: Sequence[str] | None = None, years: Sequence[int] = DEFAULT_YEARS,
               source: str = "scenes", sizes: Sequence[tuple[int, int]] | None = None,
               starts: Sequence[Any] | None = None, names: Sequence[str] | None = None,
               seed: int = 0, broken: bool = False, points: int = 2,
               dates_per_season: int = 2, max_cloud: float = 0.25,
               noise: float = 1.0) -> SyntheticStudy:
    """Write a synthetic regional study under ``root``; return its paths and planted truth.

    Parameters
    ----------
    mines_per_region : int or dict region -> int
        Mines per region (regions of :data:`REGIONS`, default all six).
    years : sequence of int
        Years to simulate (TM up to 2011, OLI from 2013; 2012 has no scene).
    source : {"scenes", "rasters"}
        Landsat scene archives per region, or ready annual LST/EVI rasters per mine.
    sizes : sequence of (rows, cols), optional
        Mine sizes in 30 m pixels (default 12 x 12), one per mine in region order.
    starts, names : sequences, optional
        Mining start years (``"Before 2000"`` or a year) and names, one per mine.
    broken : bool
        Add a mine far from every scene (no inputs) and one without a geometry.
    points : int
        Number of mines (the first restored and the first active ones) that get reference
        points for an accuracy assessment.
    """
    from rasterio.transform import Affine
    from rasterio.warp import transform as warp_transform

    if source not in ("scenes", "rasters"):
        msg = f"source must be 'scenes' or 'rasters', got {source!r}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    regs = list(regions) if regions is not None else list(REGIONS)
    mpr = {r: mines_per_region for r in regs} if isinstance(mines_per_region, int) else dict(
        mines_per_region)
    plan = _plan_mines(mpr, rng, sizes, starts, names)
    yrs = tuple(int(y) for y in years if int(y) != 2012 or source == "rasters")
    y0 = yrs[0]
    for m in plan:
        m["onset"] = y0 + 2
        m["degrading_from"] = y0 + 1

    # ---- layout: per region, mines side by side on one row of the region's UTM zone
    feats: list[dict[str, Any]] = []
    by_region: dict[str, list[dict[str, Any]]] = {}
    for m in plan:
        by_region.setdefault(m["region"], []).append(m)
    worlds = {}
    for region, ms in by_region.items():
        lon, lat = REGIONS[region]
        crs = _zone_crs(lon, lat)
        xs, ys = warp_transform("EPSG:4326", crs, [lon], [lat])
        x0 = np.floor((xs[0] - 15.0) / 30.0) * 30.0 + 15.0
        ytop = np.floor((ys[0] - 15.0) / 30.0) * 30.0 + 15.0
        col = 0
        hmax = max(m["h"] for m in ms) + 2 * PAD
        for m in ms:
            m["crs"], m["col0"] = crs.to_string(), col
            m["block_transform"] = (30.0, 0.0, x0 + col * 30.0, 0.0, -30.0, ytop)
            px0, py0 = x0 + (col + PAD) * 30.0, ytop - PAD * 30.0
            ring = [(px0, py0), (px0 + m["w"] * 30.0, py0),
                    (px0 + m["w"] * 30.0, py0 - m["h"] * 30.0), (px0, py0 - m["h"] * 30.0)]
            # densify the edges so the polygon maps back onto the same UTM pixels
            dense = []
            for a, b in zip(ring, [*ring[1:], ring[0]], strict=True):
                for t in np.linspace(0.0, 1.0, 8, endpoint=False):
                    dense.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
            lo, la = warp_transform(crs, "EPSG:4326", [p[0] for p in dense],
                                    [p[1] for p in dense])
            coords = [[round(float(a), 9), round(float(b), 9)] for a, b in zip(lo, la,
                                                                                 strict=True)]
            coords.append(coords[0])
            feats.append({"type": "Feature", "properties": {
                "id": m["id"], "name": m["name"], "region": region, "start": str(m["start"])},
                "geometry": {"type": "Polygon", "coordinates": [coords]}})
            col += m["w"] + 2 * PAD
        worlds[region] = (crs, Affine(30.0, 0.0, x0, 0.0, -30.0, ytop), hmax, col)
    if broken:
        lon, lat = 100.5, 30.5  # far from every region (no scene, no raster)
        d = 0.003
        feats.append({"type": "Feature", "properties": {
            "id": "X_outside", "name": "outside every scene", "region": "Nowhere",
            "start": "2005"}, "geometry": {"type": "Polygon", "coordinates": [[
                [lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]}})
        feats.append({"type": "Feature", "properties": {
            "id": "X_nogeom", "name": "no geometry", "region": "Nowhere", "start": "1995"},
            "geometry": None})
    mines_path = root / "mines.geojson"
    mines_path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}),
                          encoding="utf-8")

    st = SyntheticStudy(root=root, mines=mines_path, study_file=root / "study.toml",
                        source=source, years=yrs)
    # ---- inputs
    if source == "scenes":
        st.scenes = root / "scenes"
        for k, (region, (crs, tr, h, w)) in enumerate(worlds.items()):
            _write_region_scenes(st.scenes / _safe(region), by_region[region], crs, tr, h, w,
                                 yrs, rng, path=120 + 2 * k, dates=dates_per_season,
                                 max_cloud=max_cloud, noise=noise)
    else:
        st.rasters = root / "rasters"
        for m in plan:
            _write_mine_rasters(st.rasters / m["id"], m, yrs, rng, noise)
    # ---- reference points
    picks = [m for m in plan if m["kind"] == "restored"][:1] + \
        [m for m in plan if m["kind"] == "active"][:1]
    for m in picks[:points]:
        st.points[m["id"]] = str(_write_points(root / "points", m, rng))
    st.truth = [{k: v for k, v in m.items() if k not in ("block_transform", "col0")}
                for m in plan]
    (root / "truth.json").write_text(json.dumps(st.truth, indent=1), encoding="utf-8")
    _write_study_file(st)
    return st


def years_text(years: Sequence[int]) -> str:
    """Compact year ranges: (2000, ..., 2011, 2013, ...) -> "2000-2011,2013-2019"."""
    ys = sorted({int(y) for y in years})
    parts: list[str] = []
    start = ys[0]
    for a, b in zip(ys, [*ys[1:], ys[-1]], strict=True):
        if b != a + 1:
            parts.append(f"{start}-{a}" if a != start else f"{a}")
            start = b
    return ",".join(parts)


def _safe(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s)


def _texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    from ..landsat.synthetic import _smooth_noise

    return _smooth_noise(rng, shape, 2.0)


def _write_region_scenes(folder: Path, ms: list[dict[str, Any]], crs: Any, tr: Any, h: int,
                         w: int, years: Sequence[int], rng: np.random.Generator, *, path: int,
                         dates: int, max_cloud: float, noise: float) -> None:
    """One scene archive of a region: its world grid holds all its mines."""
    from ..landsat.synthetic import _f_season, _scene_layers, _season_dates, write_scene

    cls = np.zeros((h, w), np.uint8)
    yr = np.zeros((h, w), np.uint16)
    for m in ms:
        c, y = _mine_block(m["h"], m["w"], m["restored_fraction"], m["onset"],
                           m["degrading_from"])
        cls[:c.shape[0], m["col0"]:m["col0"] + c.shape[1]] = c
        yr[:c.shape[0], m["col0"]:m["col0"] + c.shape[1]] = y
    texture = _texture(rng, (h, w))
    water = np.zeros((h, w), bool)
    swath = np.ones((h, w), bool)
    for year in years:
        if year == 2012:
            continue
        sensor = "LT05" if year <= 2011 else "LC08"
        anomaly = (0.03 * noise * rng.standard_normal(), 0.8 * noise * rng.standard_normal())
        evi, lst = _peaks(cls, yr, year, texture, anomaly)
        for d in _season_dates(year, dates, rng, (6, 9)):
            cloud = float(rng.uniform(0.0, max_cloud))
            lay = _scene_layers(sensor, evi, lst, water, rng, cloud, _f_season(d), swath.copy(),
                                False)
            pid = f"{sensor}_L2SP_{path:03d}030_{d:%Y%m%d}_{d.year + 1}0101_02_T1"
            write_scene(folder / str(year), pid, lay, crs, tr, acquired=d)


def _write_mine_rasters(folder: Path, m: dict[str, Any], years: Sequence[int],
                        rng: np.random.Generator, noise: float) -> None:
    """Ready annual LST/EVI rasters on the mine's own grid (its block)."""
    from affine import Affine

    from ..demo import DemoSite, write_inputs

    cls, yr = _mine_block(m["h"], m["w"], m["restored_fraction"], m["onset"],
                          m["degrading_from"])
    texture = _texture(rng, cls.shape)
    lst = np.empty((len(years), *cls.shape), np.float32)
    evi = np.empty_like(lst)
    for i, year in enumerate(years):
        anomaly = (0.03 * noise * rng.standard_normal(), 0.8 * noise * rng.standard_normal())
        e, t = _peaks(cls, yr, year, texture, anomaly)
        evi[i] = e * (1.0 + 0.02 * noise * rng.standard_normal(cls.shape))
        lst[i] = t + 0.6 * noise * rng.standard_normal(cls.shape)
    site = DemoSite(lst=lst, evi=evi, years=list(years), truth=cls,
                    transform=Affine(*m["block_transform"]), crs=m["crs"])
    write_inputs(site, folder, overwrite=True)


def _write_points(folder: Path, m: dict[str, Any], rng: np.random.Generator,
                  n: int = 40) -> Path:
    """Random reference points inside a mine, labelled from the planted truth."""
    from rasterio.warp import transform as warp_transform

    folder.mkdir(parents=True, exist_ok=True)
    t = m["block_transform"]
    nr = round(m["restored_fraction"] * m["h"])
    rows = rng.integers(0, m["h"], n)
    cols = rng.integers(0, m["w"], n)
    x = t[2] + (PAD + cols + 0.5) * 30.0
    y = t[5] - (PAD + rows + 0.5) * 30.0
    lon, lat = warp_transform(m["crs"], "EPSG:4326", list(x), list(y))
    feats = [{"type": "Feature", "properties": {
        "pid": f"{m['id']}-{i}", "reference": "restored" if rows[i] < nr else "not restored"},
        "geometry": {"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]}}
        for i in range(n)]
    p = folder / f"{m['id']}.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return p


def _write_study_file(st: SyntheticStudy) -> None:
    from .config import StudyConfig, write_study_file

    yrs = st.years
    cfg = StudyConfig(mines="mines.geojson", out="study", name_col="name",
                      region_col="region", start_col="start", id_col="id",
                      years=years_text(yrs),
                      scenes=["scenes"] if st.scenes else [],
                      rasters="rasters" if st.rasters else None,
                      points={k: os.path.relpath(v, st.root) for k, v in st.points.items()},
                      stats={"onset": True})
    write_study_file(cfg, st.study_file, header=(
        "A synthetic regional study written by mlri (mlri study --demo).\n"
        "Run it with: mlri study --config study.toml"))
