"""Target grids for the annual composites.

Landsat C2 reflective grids are in WGS84 / UTM *north* zones (EPSG:326zz, negative northings
south of the equator) with pixel centres on multiples of 30 m, i.e. pixel **edges at 15 mod
30**.  A target grid snapped to that lattice lines up with every scene of its zone, so those
scenes are read by window without resampling.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._vector import read_features
from ..io._grid import Grid as _RasterGrid
from ..io._grid import _grid_of

__all__ = [
    "Grid",
    "grid_for_aoi",
    "grid_for_bounds",
    "lattice_aligned",
    "read_aoi",
    "snap_bounds",
    "utm_crs",
]

LANDSAT_RES = 30.0
LANDSAT_EDGE_OFFSET = 15.0


@dataclass(frozen=True)
class Grid(_RasterGrid):
    """A north-up raster grid with a CRS: CRS, affine transform, width and height (the target
    grid of the composites; :class:`mlri.io.Grid` with these checks)."""

    def __post_init__(self) -> None:
        from rasterio.crs import CRS

        if self.crs is None:
            msg = "a target grid needs a CRS"
            raise ValueError(msg)
        object.__setattr__(self, "crs", CRS.from_user_input(self.crs))
        t = self.transform
        if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
            msg = f"only north-up grids are supported, got transform {tuple(t)[:6]}"
            raise ValueError(msg)
        if self.width < 1 or self.height < 1:
            msg = f"grid must have at least one pixel, got {self.width} x {self.height}"
            raise ValueError(msg)

    @classmethod
    def from_origin(cls, crs: Any, x0: float, ytop: float, res: float, width: int,
                    height: int) -> Grid:
        from rasterio.transform import Affine

        # (rasterio.transform.from_origin uses affine's deprecated `*` operator)
        return cls(crs, Affine(res, 0.0, x0, 0.0, -res, ytop), int(width), int(height))

    @classmethod
    def from_raster(cls, path: str | os.PathLike[str]) -> Grid:
        """The grid of an existing raster (e.g. ``--grid-like LST_2005.tif``); a file that is
        not a raster, or a raster without a CRS or not north-up, raises ``ValueError`` naming
        ``path``."""
        hint = "Give a GeoTIFF on the wanted grid, e.g. an LST_YYYY.tif of earlier composites"
        crs, transform, width, height = _grid_of(os.fspath(path), "a target grid", hint + ".")
        if crs is None:
            msg = f"{path} has no CRS. {hint}"
            raise ValueError(msg)
        try:
            return cls(crs, transform, width, height)
        except ValueError as err:
            msg = f"{path}: {err}. {hint}"
            raise ValueError(msg) from None

    def on_landsat_lattice(self) -> bool:
        """True when the grid is 30 m with edges at 15 mod 30 (no resampling for C2 scenes)."""
        rx, ry = self.res
        return (math.isclose(rx, 30.0) and math.isclose(ry, 30.0)
                and _is_mult(self.transform.c - 15.0, 30.0)
                and _is_mult(self.transform.f - 15.0, 30.0))


def _is_mult(v: float, step: float, tol: float = 1e-6) -> bool:
    r = math.fmod(v, step)
    return abs(r) < tol or abs(abs(r) - step) < tol


def lattice_aligned(grid: Grid, crs: Any, transform: Any) -> tuple[int, int] | None:
    """Integer (col, row) offset of ``grid``'s origin in a raster with ``crs``/``transform``.

    None when the raster is in another CRS, has another resolution or a shifted lattice (then
    it must be warped).
    """
    if crs is None or grid.crs != crs:
        return None
    t = transform
    g = grid.transform
    if t.b != 0 or t.d != 0 or not math.isclose(t.a, g.a, rel_tol=1e-9) or \
            not math.isclose(t.e, g.e, rel_tol=1e-9):
        return None
    cx = (g.c - t.c) / t.a
    ry = (g.f - t.f) / t.e
    ci, ri = round(cx), round(ry)
    if abs(cx - ci) > 1e-6 or abs(ry - ri) > 1e-6:
        return None
    return ci, ri


def utm_crs(lon: float, lat: float) -> Any:
    """EPSG:326zz of the UTM zone holding (lon, lat): Landsat's north-zone convention.

    South of the equator Landsat still uses the north zone (negative northings), so this never
    returns EPSG:327zz.
    """
    from rasterio.crs import CRS

    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        msg = f"({lon}, {lat}) is not a longitude/latitude pair"
        raise ValueError(msg)
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return CRS.from_epsg(32600 + zone)


def _check_res(res: float) -> None:
    """Refuse a pixel size that is not a positive, finite number (0 would divide by zero; a
    negative one would make a grid that is not north-up)."""
    if not (math.isfinite(res) and res > 0):
        msg = f"the pixel size must be a positive number of metres (30: Landsat), got res={res!r}"
        raise ValueError(msg)


def snap_bounds(bounds: Sequence[float], res: float = LANDSAT_RES,
                offset: float | None = None) -> tuple[float, float, int, int]:
    """Snap (left, bottom, right, top) outwards to a lattice; return (x0, ytop, width, height).

    ``offset`` is where pixel edges fall modulo ``res``: 15 for the 30 m Landsat lattice (the
    default when ``res == 30``), else 0.  ``x0 = floor((minx − off)/res)·res + off``,
    ``ytop = ceil((maxy − off)/res)·res + off``.
    """
    _check_res(res)
    left, bottom, right, top = (float(v) for v in bounds)
    if not (right > left and top > bottom):
        msg = f"empty bounds {tuple(bounds)}"
        raise ValueError(msg)
    if offset is None:
        offset = LANDSAT_EDGE_OFFSET if math.isclose(res, LANDSAT_RES) else 0.0

    def fl(v: float) -> float:
        return math.floor(round((v - offset) / res, 6)) * res + offset

    def ce(v: float) -> float:
        return math.ceil(round((v - offset) / res, 6)) * res + offset

    x0, x1, y0, y1 = fl(left), ce(right), fl(bottom), ce(top)
    return x0, y1, round((x1 - x0) / res), round((y1 - y0) / res)


def grid_for_bounds(bounds: Sequence[float], crs: Any, *, res: float = LANDSAT_RES,
                    buffer: float = 0.0, snap: bool = True) -> Grid:
    """A grid covering ``bounds`` (in ``crs``) plus ``buffer``, snapped to the Landsat lattice."""
    _check_res(res)
    if not math.isfinite(buffer):
        msg = f"the buffer must be a finite distance in metres, got buffer={buffer!r}"
        raise ValueError(msg)
    left, bottom, right, top = (float(v) for v in bounds)
    b = (left - buffer, bottom - buffer, right + buffer, top + buffer)
    if buffer < 0 and not (b[2] > b[0] and b[3] > b[1]):
        msg = (f"a negative buffer={buffer!r} leaves nothing of the area "
               f"({right - left:.0f} x {top - bottom:.0f} m)")
        raise ValueError(msg)
    if snap:
        x0, ytop, w, h = snap_bounds(b, res)
    else:
        x0, ytop = b[0], b[3]
        w, h = math.ceil((b[2] - b[0]) / res - 1e-9), math.ceil((b[3] - b[1]) / res - 1e-9)
    return Grid.from_origin(crs, x0, ytop, res, w, h)


def read_aoi(path: str | os.PathLike[str], *, layer: str | int | None = None
             ) -> tuple[Any, Any]:
    """Read an area of interest: (geometry, CRS).

    Any vector format GDAL reads (GeoJSON, GeoPackage, Shapefile, ...) through ``pyogrio`` and
    ``shapely`` when installed (``pip install mlri[sites]``); all features are merged.  Without
    them, GeoJSON is read with the standard library and the geometry is returned as a
    ``{"bounds": ..., "centroid": ...}`` dict (bounding-box centre as centroid).
    """
    from rasterio.crs import CRS

    p = Path(path)
    if not p.exists():
        msg = f"area of interest {p}: no such file"
        raise FileNotFoundError(msg)
    try:
        import pyogrio
        import shapely
    except ImportError:
        pyogrio = None  # type: ignore[assignment]
    if pyogrio is not None:
        meta, _fids, geoms, _fields = read_features(p, "the area of interest", layer=layer)
        gs = [g for g in shapely.from_wkb(geoms) if g is not None and not g.is_empty]
        if not gs:
            msg = f"area of interest {p} has no geometry"
            raise ValueError(msg)
        # only the bounds and the centroid are used: a self-intersecting polygon (common in
        # hand-drawn files) is repaired rather than failing the union with a GEOS exception
        geom = shapely.union_all(shapely.make_valid(gs))
        crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else CRS.from_epsg(4326)
        return geom, crs
    if p.suffix.lower() not in (".geojson", ".json"):
        msg = (f"reading {p.suffix} areas of interest needs pyogrio and shapely "
               f"(pip install mlri[sites]); GeoJSON works without them")
        raise ImportError(msg)
    obj = json.loads(p.read_text(encoding="utf-8"))
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], (int, float)):
            xs.append(float(c[0]))
            ys.append(float(c[1]))
        elif isinstance(c, (list, tuple)):
            for e in c:
                walk(e)

    feats = obj.get("features") if obj.get("type") == "FeatureCollection" else [obj]
    for f in feats or []:
        g = f.get("geometry", f) if isinstance(f, dict) else None
        if isinstance(g, dict):
            walk(g.get("coordinates"))
    if not xs:
        msg = f"area of interest {p} has no coordinates"
        raise ValueError(msg)
    b = (min(xs), min(ys), max(xs), max(ys))
    return {"bounds": b, "centroid": ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)}, CRS.from_epsg(4326)


def _geom_bounds_centroid(geom: Any) -> tuple[tuple[float, float, float, float],
                                               tuple[float, float]]:
    if isinstance(geom, dict):
        return tuple(geom["bounds"]), tuple(geom["centroid"])  # type: ignore[return-value]
    if isinstance(geom, (tuple, list)) and len(geom) == 4:
        b = tuple(float(v) for v in geom)
        return b, ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)  # type: ignore[return-value]
    c = geom.centroid
    return tuple(geom.bounds), (c.x, c.y)  # type: ignore[return-value]


def grid_for_aoi(aoi: Any, *, aoi_crs: Any = "EPSG:4326", crs: Any = None,
                 res: float = LANDSAT_RES, buffer: float = 150.0, snap: bool = True,
                 layer: str | int | None = None) -> Grid:
    """The target grid of an area of interest.

    Parameters
    ----------
    aoi : path, shapely geometry or (minx, miny, maxx, maxy)
        A vector file (GeoJSON/GeoPackage/...; its own CRS is used), a geometry or a bbox in
        ``aoi_crs`` (default longitude/latitude).
    crs : optional
        Target CRS; default the UTM north zone (EPSG:326zz) of the AOI centroid.
    res, buffer : float
        Pixel size and buffer around the AOI bounds, in target-CRS units (m).
    snap : bool
        Snap to the Landsat lattice (edges at 15 mod 30 for 30 m).
    """
    from rasterio.crs import CRS
    from rasterio.errors import CRSError
    from rasterio.warp import transform as warp_transform
    from rasterio.warp import transform_bounds

    if isinstance(aoi, (str, os.PathLike)):
        geom, src_crs = read_aoi(aoi, layer=layer)
    else:
        geom, src_crs = aoi, CRS.from_user_input(aoi_crs)
    b, c = _geom_bounds_centroid(geom)
    if crs is None:
        lons, lats = warp_transform(src_crs, "EPSG:4326", [c[0]], [c[1]])
        crs = utm_crs(lons[0], lats[0])
    shown = f"crs={crs!r}" if isinstance(crs, str) else f"crs={crs}"
    try:
        crs = CRS.from_user_input(crs)
    except CRSError as err:
        msg = f"{shown} is not a coordinate reference system PROJ knows ({err}); e.g. EPSG:32650"
        raise ValueError(msg) from None
    if crs.is_geographic:
        msg = (f"the target CRS must be projected (metres), e.g. the UTM zone of the area; "
               f"got the geographic {shown}")
        raise ValueError(msg)
    tb = b if crs == src_crs else transform_bounds(src_crs, crs, *b, densify_pts=21)
    return grid_for_bounds(tb, crs, res=res, buffer=buffer, snap=snap)
