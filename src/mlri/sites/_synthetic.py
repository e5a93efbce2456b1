"""Small synthetic run folders and mine polygons for tests, examples and benchmarks.

Not a simulation of real mines: a class raster with a known block pattern (so expected counts
can be computed by slicing), an MLRI stack whose value depends on class and year, and polygons
whose vertices lie on pixel edges.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._geo import apply_affine

__all__ = ["class_pattern", "synthetic_run", "write_polygons"]

UTM_EPSG = 32650          # WGS 84 / UTM zone 50N
ORIGIN = (500_000.0, 4_400_000.0)
PIXEL = 30.0


def class_pattern(height: int, width: int, block: int = 10, seed: int | None = None
                  ) -> np.ndarray:
    """uint8 classes 0..6 in ``block`` x ``block`` squares (deterministic, or random by seed)."""
    rb = np.arange(height) // block
    cb = np.arange(width) // block
    if seed is None:
        return ((rb[:, None] * 3 + cb[None, :]) % 7).astype(np.uint8)
    rng = np.random.default_rng(seed)
    tiles = rng.choice(7, size=(rb[-1] + 1, cb[-1] + 1),
                       p=[0.05, 0.1, 0.2, 0.2, 0.15, 0.2, 0.1]).astype(np.uint8)
    return tiles[rb[:, None], cb[None, :]]


def mlri_value(cls: np.ndarray, year_index: int) -> np.ndarray:
    """The synthetic MLRI: 1 + 0.05 * class * year_index (float32)."""
    return (1.0 + 0.05 * cls.astype(np.float32) * year_index).astype(np.float32)


def synthetic_run(out: str | os.PathLike[str], *, height: int = 120, width: int = 150,
                  years: tuple[int, ...] = (2000, 2001, 2002, 2003, 2004), block: int = 10,
                  seed: int | None = None, epsg: int = UTM_EPSG, pixel: float = PIXEL,
                  origin: tuple[float, float] = ORIGIN, nan_year_index: int | None = 1,
                  with_trend: bool = True, with_json: bool = True) -> dict[str, Any]:
    """Write ``classes.tif``, ``mlri.tif`` (+ ``trend.tif``, ``summary.json``,
    ``manifest.json``) into ``out``; return the arrays and georeferencing.

    In ``mlri.tif`` the pixels of the first block row are NaN in year ``nan_year_index``.
    """
    import rasterio
    from affine import Affine

    from .._outputs import raster_profile

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    cls = class_pattern(height, width, block, seed)
    transform = Affine(pixel, 0.0, origin[0], 0.0, -pixel, origin[1])
    crs = rasterio.crs.CRS.from_epsg(epsg)
    bs = 16 if min(height, width) < 512 else 512
    prof = raster_profile(crs=crs, transform=transform, width=width, height=height, count=1,
                          dtype="uint8", nodata=0, blocksize=bs)
    with rasterio.open(d / "classes.tif", "w", **prof) as dst:
        dst.write(cls, 1)
        dst.set_band_description(1, "class")
    mlri = (np.stack([mlri_value(cls, k) for k in range(len(years))]) if years else
            np.zeros((0, height, width), np.float32))
    if nan_year_index is not None and nan_year_index < len(years):
        mlri[nan_year_index, :block, :] = np.nan
    if years:
        prof_m = raster_profile(crs=crs, transform=transform, width=width, height=height,
                                count=len(years), dtype="float32", nodata=float("nan"),
                                blocksize=bs)
        with rasterio.open(d / "mlri.tif", "w", **prof_m) as dst:
            dst.write(mlri)
            for k, y in enumerate(years):
                dst.set_band_description(k + 1, str(y))
    if with_trend:
        names = ["n_valid", "S", "var_S", "Z", "p", "sen_slope", "intercept", "hurst"]
        prof_t = raster_profile(crs=crs, transform=transform, width=width, height=height,
                                count=len(names), dtype="float32", nodata=float("nan"),
                                blocksize=bs)
        with rasterio.open(d / "trend.tif", "w", **prof_t) as dst:
            for k, nm in enumerate(names):
                dst.write(np.full((height, width), float(k), np.float32), k + 1)
                dst.set_band_description(k + 1, nm)
    if with_trend:  # flags: years_dropped (8) in the first block-row, few_valid (4) on nodata
        fl = np.where(cls == 0, 4, 0).astype(np.uint8)
        fl[:block, :] |= 8
        prof_f = raster_profile(crs=crs, transform=transform, width=width, height=height,
                                count=1, dtype="uint8", nodata=None, blocksize=bs)
        with rasterio.open(d / "flags.tif", "w", **prof_f) as dst:
            dst.write(fl, 1)
    if with_json:
        counts = np.bincount(cls.ravel(), minlength=7)
        (d / "summary.json").write_text(json.dumps(
            {"class_pixels": {str(i): int(c) for i, c in enumerate(counts)}}, indent=2))
        (d / "manifest.json").write_text(json.dumps(
            {"tool": "mlri", "command": "run",
             "parameters": {"years": list(years), "z_crit": 1.96, "min_valid": 10,
                            "hurst_method": "expanding"}}, indent=2))
    return {"classes": cls, "mlri": mlri, "transform": transform, "crs": crs,
            "years": list(years), "epsg": epsg, "pixel": pixel}


def pixel_box(transform: Any, row0: float, row1: float, col0: float, col1: float) -> Any:
    """shapely box covering rows [row0, row1) and cols [col0, col1) (fractions allowed)."""
    import shapely

    x0, y0 = apply_affine(transform, col0, row0)
    x1, y1 = apply_affine(transform, col1, row1)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def write_polygons(path: str | os.PathLike[str], geoms: list[Any], *, crs: Any,
                   fields: dict[str, list[Any]] | None = None, driver: str | None = None,
                   layer: str | None = None) -> Path:
    """Write shapely geometries + attribute columns with pyogrio (GPKG / GeoJSON / SHP)."""
    import shapely
    from pyogrio.raw import write

    fields = fields or {}
    names = list(fields)
    data = []
    for nm in names:
        vals = fields[nm]
        if all(isinstance(v, (int, np.integer)) for v in vals):
            data.append(np.asarray(vals, dtype=np.int64))
        elif all(isinstance(v, (int, float, np.number)) or v is None for v in vals):
            data.append(np.asarray([np.nan if v is None else v for v in vals], dtype=np.float64))
        else:
            data.append(np.asarray(["" if v is None else str(v) for v in vals], dtype=object))
    wkb = np.array([None if g is None else shapely.to_wkb(g) for g in geoms], dtype=object)
    crs_s = None if crs is None else crs if isinstance(crs, str) else (
        crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs))
    p = Path(path)
    if driver is None:
        driver = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON",
                  ".shp": "ESRI Shapefile"}.get(p.suffix.lower(), "GPKG")
    write(str(p), wkb, data, names, driver=driver, geometry_type="Unknown", crs=crs_s,
          layer=layer)
    return p
