"""Mine polygons for tests, examples and benchmarks: boxes on pixel edges, written with pyogrio.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ._geo import apply_affine

__all__ = ["pixel_box", "write_polygons"]


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
