"""Zonal class areas and mean MLRI per class for each mine polygon.

Rasterisation rule
------------------
A pixel belongs to a mine when its **centre** lies inside the polygon (GDAL's default rule,
the same as ``rasterio.features.rasterize``); with ``all_touched=True`` every pixel that the
polygon boundary or interior touches belongs to it.  Holes and multi-part polygons are honoured.
Each polygon is rasterised on its own, so overlapping polygons each get their own full counts.

Scaling
-------
The raster is read by windows, never whole: it is cut into tiles of ``chunk`` x ``chunk``
pixels; only tiles under some mine's bounding box are read, and of each tile only the part under
its mines' bounding boxes, once (classes and MLRI bands together).  Every mine overlapping the
tile is then rasterised inside its own bounding window clipped to the tile, and its counts and
sums are accumulated across tiles.  Each needed pixel is therefore decoded once whatever the
number of mines or their overlap, memory is bounded by one tile (also for a polygon as large as
the scene), and the cost grows with the area covered by mine bounding boxes, not with (number
of mines x raster size).

Areas and denominators
----------------------
Area in hectares comes from the pixel size: ``|det(transform)|`` times the CRS unit squared for
projected CRSs; for a geographic CRS each raster row gets its own geodesic pixel area (WGS84
ellipsoid of the CRS).  For every class the table gives the pixel count, hectares, ``pct_`` =
share of the mine's pixels inside the raster (nodata included, so SI+NI+ND+SD+nodata = 100) and
``pct_valid_`` = share of the classified (non-nodata) pixels.  ``valid_pct`` is the share of the
mine that is classified; ``outside_pct`` the share of the polygon's area beyond the raster edge.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import CLASS_NAMES, FLAG_BITS, FLAG_NODATA, codes_of
from ._deps import SitesWarning, require
from ._geo import apply_affine
from ._table import Table
from .polygons import MAX_WARNINGS, Mines, read_mines
from .refdata import check_class_raster

__all__ = ["CLASS_ORDER", "ZonalResult", "zonal_stats"]

#: Reported classes, in table order.  SI = SAI + SCI + SI_H_undefined.
CLASS_ORDER: tuple[str, ...] = ("SI", "SCI", "SAI", "SI_H_undefined", "NI", "ND", "SD", "nodata")
N_CODES = len(CLASS_NAMES)


def class_codes(name: str) -> tuple[int, ...]:
    """Codes making up a reported class name (``"SI"`` -> (4, 5, 6), ``"all"`` -> every code)."""
    if name == "all":
        return tuple(sorted(CLASS_NAMES))
    return codes_of(name)


@dataclass
class ZonalResult:
    """Per-mine results of :func:`zonal_stats`.

    Attributes
    ----------
    table : Table
        One row per mine (see the module docstring and ``docs/sites.md`` for the columns).
    counts : ndarray, shape (n_mines, 7), int64
        Pixel count per class code 0..6.
    hectares : ndarray, shape (n_mines, 7), float64
        Area per class code.
    years : list of float
        Years of the MLRI bands (empty without ``mlri.tif``).
    mlri_sum, mlri_n : ndarray, shape (n_mines, n_years, 7), or None
        Sum and number of finite MLRI values per mine, year and class code.
    mines : Mines
        The polygons in the raster CRS.
    raster : dict
        CRS (WKT), transform, size, pixel area and the rasterisation rule.
    """

    table: Table
    counts: np.ndarray
    hectares: np.ndarray
    years: list[float]
    mlri_sum: np.ndarray | None
    mlri_n: np.ndarray | None
    mines: Mines
    raster: dict[str, Any]

    def usable(self) -> np.ndarray:
        """Boolean mask of mines with at least one classified pixel inside the raster."""
        st = np.array(self.table["status"], dtype=object)
        return np.isin(st, ["ok", "partial"]) & (self.counts[:, 1:].sum(axis=1) > 0)

    def mlri_mean(self, cls: str = "all") -> np.ndarray:
        """Mean MLRI per mine and year for a reported class (NaN where no values)."""
        if self.mlri_sum is None or self.mlri_n is None:
            msg = "no MLRI statistics: the run folder has no mlri.tif"
            raise ValueError(msg)
        codes = list(class_codes(cls))
        s = self.mlri_sum[:, :, codes].sum(axis=2)
        n = self.mlri_n[:, :, codes].sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, s / np.maximum(n, 1), np.nan)

    def mlri_table(self) -> Table:
        """Long table ``id, class, year, n, mean_mlri`` (rows with n = 0 left out)."""
        if self.mlri_sum is None or self.mlri_n is None:
            return Table({"id": [], "class": [], "year": [], "n": [], "mean_mlri": []})
        ids = np.asarray(self.mines.ids, dtype=object)
        years = np.asarray([_year_out(y) for y in self.years], dtype=object)
        names = (*CLASS_ORDER, "all")
        mis: list[np.ndarray] = []
        cis: list[np.ndarray] = []
        yis: list[np.ndarray] = []
        ns: list[np.ndarray] = []
        means: list[np.ndarray] = []
        for ci, name in enumerate(names):
            codes = list(class_codes(name))
            s = self.mlri_sum[:, :, codes].sum(axis=2)
            n = self.mlri_n[:, :, codes].sum(axis=2)
            mi, yi = np.nonzero(n > 0)
            mis.append(mi)
            cis.append(np.full(mi.size, ci))
            yis.append(yi)
            ns.append(n[mi, yi])
            means.append(s[mi, yi] / n[mi, yi])
        mi_a, ci_a, yi_a = np.concatenate(mis), np.concatenate(cis), np.concatenate(yis)
        order = np.lexsort((yi_a, ci_a, mi_a))  # mine, then class, then year
        return Table({"id": list(ids[mi_a[order]]),
                      "class": [names[c] for c in ci_a[order]],
                      "year": list(years[yi_a[order]]),
                      "n": np.concatenate(ns)[order].astype(np.int64),
                      "mean_mlri": np.concatenate(means)[order].astype(np.float64)})


def _year_out(y: float) -> Any:
    return int(y) if float(y).is_integer() else float(y)


class _PixelArea:
    """Pixel area in m² for a raster: constant (projected) or per row (geographic)."""

    def __init__(self, crs: Any, transform: Any) -> None:
        self.transform = transform
        self.constant: float | None = None
        self.geod: Any = None
        self._rows: dict[int, float] = {}
        det = abs(transform.a * transform.e - transform.b * transform.d)
        if crs is None:
            self.constant = float("nan")
            self.unit = "unknown"
            return
        if crs.is_geographic:
            pyproj = require("pyproj", "pixel areas of a geographic raster")
            self.geod = pyproj.CRS.from_user_input(crs).get_geod() or pyproj.Geod(ellps="WGS84")
            self.unit = "degree"
            if transform.b or transform.d:
                warnings.warn("rotated geographic raster: pixel areas ignore the rotation",
                              SitesWarning, stacklevel=3)
            return
        name, factor = crs.linear_units_factor
        self.unit = name
        self.constant = det * float(factor) ** 2

    def rows(self, r0: int, h: int) -> np.ndarray:
        """Pixel area (m²) of rows r0..r0+h-1."""
        if self.constant is not None:
            return np.full(h, self.constant)
        out = np.empty(h)
        t = self.transform
        for k in range(h):
            r = r0 + k
            a = self._rows.get(r)
            if a is None:
                x0, x1 = t.c, t.c + t.a
                y0, y1 = t.f + t.e * r, t.f + t.e * (r + 1)
                area, _ = self.geod.polygon_area_perimeter([x0, x1, x1, x0], [y0, y0, y1, y1])
                a = abs(float(area))
                self._rows[r] = a
            out[k] = a
        return out

    def mean(self, height: int) -> float:
        if self.constant is not None:
            return self.constant
        return float(self.rows(height // 2, 1)[0])


def _geom_area_m2(g: Any, crs: Any, pa: _PixelArea) -> float:
    if g is None:
        return float("nan")
    if pa.geod is not None:
        area, _ = pa.geod.geometry_area_perimeter(g)
        return abs(float(area))
    if crs is None:
        return float("nan")
    _, factor = crs.linear_units_factor
    return float(g.area) * float(factor) ** 2


def zonal_stats(
    classes: str | os.PathLike[str],
    mines: Mines | str | os.PathLike[str],
    *,
    mlri: str | os.PathLike[str] | None = None,
    flags: str | os.PathLike[str] | None = None,
    years: list[float] | None = None,
    all_touched: bool = False,
    chunk: int = 1024,
    cache_mb: int | None = 256,
    progress: bool = False,
    **read_kw: Any,
) -> ZonalResult:
    """Class areas (count, ha, %) and mean MLRI per year and class for every mine.

    Parameters
    ----------
    classes : path
        ``classes.tif`` of ``mlri run`` (uint8 codes, :data:`mlri.CLASS_CODES`; 0 = nodata).
        A different nodata value in the file is also counted as nodata.
    mines : Mines or path
        Polygons (any CRS; reprojected to the raster's).  A path is read with
        :func:`~mlri.sites.read_mines` and ``read_kw``.
    mlri : path, optional
        ``mlri.tif`` (one band per year, NaN nodata) on the same grid.
    flags : path, optional
        ``flags.tif`` (bits :data:`mlri.FLAG_BITS`) on the same grid: adds the share of each
        mine's pixels with every flag (``flag_<name>_pct``, e.g. years dropped by the EVI
        guard).
    years : list of float, optional
        Years of the MLRI bands (default: from the band descriptions).
    all_touched : bool
        Rasterisation rule: False (default) = pixel centre inside the polygon; True = every
        pixel touched by the polygon.
    chunk : int
        Tile side in pixels (default 1024): the most read at once (memory bound).
    cache_mb : int or None
        GDAL block cache during the call (MB; default 256; tiles are read once, so a small
        cache suffices); None keeps GDAL's default (5 % of RAM).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    ZonalResult

    Warns
    -----
    SitesWarning
        For every mine outside the raster, partly outside it, or covering no pixel (each named).
    """
    import rasterio
    from rasterio.features import geometry_mask
    from rasterio.windows import Window

    shapely = require("shapely", "zonal statistics")
    if int(chunk) < 16:
        msg = f"chunk must be >= 16 pixels, got {chunk!r}"
        raise ValueError(msg)
    chunk = int(chunk)
    if not isinstance(mines, Mines):
        mines = read_mines(mines, **read_kw)
    cpath = os.fspath(classes)
    if not Path(cpath).exists() and not cpath.startswith("/vsi"):
        msg = f"class raster {cpath} does not exist"
        raise FileNotFoundError(msg)

    with contextlib.ExitStack() as stack:
        if cache_mb is not None:
            stack.enter_context(rasterio.Env(GDAL_CACHEMAX=int(cache_mb)))
        src = stack.enter_context(rasterio.open(cpath))
        msrc = stack.enter_context(rasterio.open(mlri)) if mlri is not None else None
        fsrc = stack.enter_context(rasterio.open(flags)) if flags is not None else None
        if fsrc is not None and ((fsrc.width, fsrc.height) != (src.width, src.height)
                                 or not fsrc.transform.almost_equals(src.transform)):
            msg = f"{flags} is not on the grid of {cpath}; both must come from the same run"
            raise ValueError(msg)
        check_class_raster(src, cpath)
        if msrc is not None and ((msrc.width, msrc.height) != (src.width, src.height)
                                 or not msrc.transform.almost_equals(src.transform)):
            msg = f"{mlri} is not on the grid of {cpath}; both must come from the same run"
            raise ValueError(msg)
        if msrc is not None:
            if years is None:
                from .runfolder import years_of

                years = years_of(mlri)  # type: ignore[arg-type]
            if len(years) != msrc.count:
                msg = f"{len(years)} years given for {msrc.count} MLRI bands in {mlri}"
                raise ValueError(msg)
        years = list(years or []) if msrc is not None else []
        nyear = len(years)

        crs = src.crs
        if crs is None:
            warnings.warn(f"{cpath} has no CRS: areas in hectares are not available and the "
                          f"polygons are assumed to be in the raster's coordinates",
                          SitesWarning, stacklevel=2)
            rmines = mines
        else:
            rmines = mines.to_crs(crs.to_wkt())
        T = src.transform
        inv = ~T
        H, W = src.height, src.width
        nodata = src.nodata
        pa = _PixelArea(crs, T)
        corners = [apply_affine(T, c, r) for c, r in ((0, 0), (W, 0), (W, H), (0, H))]
        footprint = shapely.Polygon(corners)
        shapely.prepare(footprint)

        n = len(rmines)
        counts = np.zeros((n, N_CODES), dtype=np.int64)
        hect = np.zeros((n, N_CODES), dtype=np.float64)
        msum = np.zeros((n, nyear, N_CODES), dtype=np.float64) if msrc is not None else None
        mcnt = np.zeros((n, nyear, N_CODES), dtype=np.int64) if msrc is not None else None
        fbits = list(FLAG_BITS.items())
        fcnt = np.zeros((n, len(fbits)), dtype=np.int64) if fsrc is not None else None
        status = list(rmines.status)
        notes = list(rmines.notes)
        status = ["skipped" if s == "skipped" else "ok" for s in status]
        poly_area = np.full(n, np.nan)
        outside_pct = np.full(n, np.nan)
        odd_values = 0
        mnod = msrc.nodata if msrc is not None else None

        # windows (row0, row1, col0, col1) unclipped, then order by position
        wins: dict[int, tuple[int, int, int, int]] = {}
        for i, g in enumerate(rmines.geoms):
            if g is None:
                continue
            poly_area[i] = _geom_area_m2(g, crs, pa) / 1e4
            x0, y0, x1, y1 = shapely.bounds(g)
            pts = [apply_affine(inv, x, y) for x in (x0, x1) for y in (y0, y1)]
            cs = [p[0] for p in pts]
            rs = [p[1] for p in pts]
            wins[i] = (math.floor(min(rs)), math.ceil(max(rs)), math.floor(min(cs)),
                       math.ceil(max(cs)))
        # 1. per mine: clipped window, share outside the raster
        inside: dict[int, tuple[int, int, int, int]] = {}
        for i, (r0, r1, c0, c1) in wins.items():
            g = rmines.geoms[i]
            rr0, rr1, cc0, cc1 = max(r0, 0), min(r1, H), max(c0, 0), min(c1, W)
            inter = shapely.area(shapely.intersection(g, footprint)) if (
                rr0 < rr1 and cc0 < cc1) else 0.0
            garea = shapely.area(g)
            frac_out = 1.0 - inter / garea if garea > 0 else (0.0 if inter else 1.0)
            outside_pct[i] = 100.0 * min(max(frac_out, 0.0), 1.0)
            if rr0 >= rr1 or cc0 >= cc1 or inter <= 0:
                status[i] = "outside"
                notes[i] = _join(notes[i], "outside the raster")
                continue
            inside[i] = (rr0, rr1, cc0, cc1)

        # 2. tiles of chunk x chunk pixels: each tile's pixels are read once (only the part
        #    under its mines' windows) and every mine overlapping the tile is rasterised there
        tiles: dict[tuple[int, int], list[int]] = {}
        for i, (rr0, rr1, cc0, cc1) in inside.items():
            for tr in range(rr0 // chunk, (rr1 - 1) // chunk + 1):
                for tc in range(cc0 // chunk, (cc1 - 1) // chunk + 1):
                    tiles.setdefault((tr, tc), []).append(i)
        it: Any = sorted(tiles)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, desc="tiles", unit="tile")
        band_idx = np.arange(nyear)[:, None] * N_CODES
        gj: dict[int, Any] = dict.fromkeys(inside)
        for tr, tc in it:
            members = tiles[(tr, tc)]
            ty0, tx0 = tr * chunk, tc * chunk
            ty1, tx1 = min(ty0 + chunk, H), min(tx0 + chunk, W)
            sub = {i: (max(inside[i][0], ty0), min(inside[i][1], ty1),
                       max(inside[i][2], tx0), min(inside[i][3], tx1)) for i in members}
            wy0 = min(v[0] for v in sub.values())
            wy1 = max(v[1] for v in sub.values())
            wx0 = min(v[2] for v in sub.values())
            wx1 = max(v[3] for v in sub.values())
            win = Window(wx0, wy0, wx1 - wx0, wy1 - wy0)
            cls_t = src.read(1, window=win).astype(np.int64)
            if nodata is not None and nodata != 0:
                cls_t[cls_t == int(nodata)] = 0
            bad = (cls_t < 0) | (cls_t >= N_CODES)
            if bad.any():
                cls_t[bad] = 0
                odd_t = bad
            else:
                odd_t = None
            arr_t = msrc.read(window=win) if msrc is not None else None
            if arr_t is not None and mnod is not None and not (
                    isinstance(mnod, float) and math.isnan(mnod)):
                arr_t = np.where(arr_t == mnod, np.nan, arr_t)
            areas = pa.rows(wy0, wy1 - wy0)
            flags_t = fsrc.read(1, window=win) if fsrc is not None else None
            for i in members:
                y0, y1, x0, x1 = sub[i]
                h, w = y1 - y0, x1 - x0
                wt = src.window_transform(Window(x0, y0, w, h))
                if gj[i] is None:
                    gj[i] = _geojson(rmines.geoms[i])
                mask = geometry_mask([gj[i]], (h, w), wt, all_touched=all_touched,
                                     invert=True)
                if not mask.any():
                    continue
                ys, xs = slice(y0 - wy0, y1 - wy0), slice(x0 - wx0, x1 - wx0)
                cm = cls_t[ys, xs][mask]
                if odd_t is not None:
                    odd_values += int(odd_t[ys, xs][mask].sum())
                counts[i] += np.bincount(cm, minlength=N_CODES)[:N_CODES]
                rows = np.nonzero(mask)[0] + (y0 - wy0)
                hect[i] += np.bincount(cm, weights=areas[rows], minlength=N_CODES)[
                    :N_CODES] / 1e4
                if flags_t is not None and fcnt is not None:
                    fm = flags_t[ys, xs][mask].astype(np.int64)
                    fm = fm[fm != FLAG_NODATA]  # no observation at all: no flag bits
                    for k, (_, bit) in enumerate(fbits):
                        fcnt[i, k] += int(np.count_nonzero(fm & bit))
                if arr_t is not None and msum is not None and mcnt is not None:
                    vals = arr_t[:, ys, xs][:, mask].astype(np.float64, copy=False)
                    fin = np.isfinite(vals)
                    idx = (band_idx + cm[None, :])[fin]
                    msum[i] += np.bincount(idx, weights=vals[fin],
                                           minlength=nyear * N_CODES).reshape(nyear, N_CODES)
                    mcnt[i] += np.bincount(idx, minlength=nyear * N_CODES).reshape(
                        nyear, N_CODES)

        # 3. statuses
        for i in inside:
            tot = counts[i].sum()
            if tot == 0:
                status[i] = "no pixels"
                notes[i] = _join(notes[i], "covers no pixel centre (too small or thin; try "
                                 "all_touched / --all-touched)")
            elif outside_pct[i] > 0.01:
                status[i] = "partial"
                notes[i] = _join(notes[i], f"{outside_pct[i]:.1f}% of its area lies outside "
                                 f"the raster")
            if tot and counts[i, 1:].sum() == 0:
                notes[i] = _join(notes[i], "all pixels are nodata")

    if odd_values:
        warnings.warn(f"{cpath}: {odd_values} pixels inside mines have values outside the "
                      f"class codes 0-6; counted as nodata", SitesWarning, stacklevel=2)
    for kind in ("outside", "partial", "no pixels"):
        idx = [i for i in range(n) if status[i] == kind]
        for k, i in enumerate(idx):
            if k == MAX_WARNINGS:
                warnings.warn(f"... and {len(idx) - MAX_WARNINGS} more mines with status "
                              f"{kind!r} (see sites.csv)", SitesWarning, stacklevel=2)
                break
            warnings.warn(f"{rmines.source}: mine {rmines.label(i)}: {notes[i]}",
                          SitesWarning, stacklevel=2)

    raster = {
        "path": cpath, "crs": crs.to_wkt() if crs else None,
        "crs_name": (crs.to_string() if crs else None), "transform": list(T)[:6],
        "width": W, "height": H, "pixel_area_m2": pa.mean(H), "units": pa.unit,
        "rule": "all_touched" if all_touched else "pixel_centre", "all_touched": all_touched,
    }
    table = _build_table(rmines, counts, hect, status, notes, poly_area, outside_pct)
    if fcnt is not None:
        npx = counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for k, (name, _) in enumerate(fbits):
                table[f"flag_{name}_pct"] = np.where(npx > 0, 100.0 * fcnt[:, k] / npx, np.nan)
    return ZonalResult(table=table, counts=counts, hectares=hect, years=years, mlri_sum=msum,
                       mlri_n=mcnt, mines=rmines, raster=raster)


def _geojson(g: Any) -> dict[str, Any]:
    """GeoJSON-like mapping of a (Multi)Polygon built from coordinate arrays (much faster
    than ``__geo_interface__`` for polygons with many vertices)."""
    import shapely

    polys = []
    for part in shapely.get_parts(g):
        rings = [shapely.get_exterior_ring(part)]
        rings += list(shapely.get_interior_ring(part, np.arange(shapely.get_num_interior_rings(
            part))))
        polys.append([shapely.get_coordinates(r).tolist() for r in rings])
    return {"type": "MultiPolygon", "coordinates": polys}


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def _build_table(m: Mines, counts: np.ndarray, hect: np.ndarray, status: list[str],
                 notes: list[str], poly_area: np.ndarray, outside_pct: np.ndarray) -> Table:
    t = Table({"id": list(m.ids)})
    for k in ("name", "region", "start"):
        if k in m.attrs:
            t[k] = list(m.attrs[k])
    for k, v in m.attrs.items():
        if k not in ("name", "region", "start"):
            t[k] = list(v)
    t["status"] = status
    t["note"] = notes
    n_pix = counts.sum(axis=1)
    n_valid = counts[:, 1:].sum(axis=1)
    ha_tot = hect.sum(axis=1)
    ha_valid = hect[:, 1:].sum(axis=1)
    # shares from hectares (exact for geographic rasters too); from counts without a CRS
    use_counts = ~np.isfinite(ha_tot)
    wt = np.where(use_counts[:, None], counts.astype(np.float64), hect)
    wtot = wt.sum(axis=1)
    wvalid = wt[:, 1:].sum(axis=1)
    t["n_pixels"] = n_pix
    t["area_ha"] = ha_tot
    t["polygon_area_ha"] = poly_area
    t["outside_pct"] = outside_pct
    t["n_valid"] = n_valid
    t["valid_ha"] = ha_valid
    with np.errstate(invalid="ignore", divide="ignore"):
        t["valid_pct"] = np.where(wtot > 0, 100.0 * wvalid / wtot, np.nan)
        for name in CLASS_ORDER:
            codes = list(class_codes(name))
            c = counts[:, codes].sum(axis=1)
            ha = hect[:, codes].sum(axis=1)
            w = wt[:, codes].sum(axis=1)
            t[f"n_{name}"] = c
            t[f"ha_{name}"] = ha
            t[f"pct_{name}"] = np.where(wtot > 0, 100.0 * w / wtot, np.nan)
            if name != "nodata":
                t[f"pct_valid_{name}"] = np.where(wvalid > 0, 100.0 * w / wvalid, np.nan)
    return t


# keep the names importable for docs
CLASS_NAME_OF_CODE = dict(CLASS_NAMES)
