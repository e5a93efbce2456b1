"""Test support for the sites tests: a classes-only raster with a known block pattern.

Run folders come from a real ``mlri run`` (the ``demo_run`` fixture in ``conftest.py``); this
writes a bare ``classes.tif`` for the cases a run cannot produce (a geographic CRS, a folder
holding nothing but ``classes.tif``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlri.classes import CLASS_COLORS
from mlri.products import RASTERS

UTM_EPSG = 32650
ORIGIN = (500_000.0, 4_400_000.0)
PIXEL = 30.0


def class_pattern(height: int, width: int, block: int = 10) -> np.ndarray:
    """uint8 classes 0..6 in ``block`` x ``block`` squares (deterministic)."""
    rb = np.arange(height) // block
    cb = np.arange(width) // block
    return ((rb[:, None] * 3 + cb[None, :]) % 7).astype(np.uint8)


def write_classes(folder: Path, *, height: int, width: int, epsg: int = UTM_EPSG,
                  pixel: float = PIXEL, origin: tuple[float, float] = ORIGIN) -> dict[str, Any]:
    """``folder/classes.tif`` (the run-folder schema of that file) with :func:`class_pattern`."""
    import rasterio
    from affine import Affine

    from mlri._outputs import raster_profile

    spec = next(r for r in RASTERS if r.name == "classes.tif")
    folder.mkdir(parents=True, exist_ok=True)
    cls = class_pattern(height, width)
    transform = Affine(pixel, 0.0, origin[0], 0.0, -pixel, origin[1])
    crs = rasterio.crs.CRS.from_epsg(epsg)
    prof = raster_profile(crs=crs, transform=transform, width=width, height=height, count=1,
                          dtype=spec.dtype, nodata=spec.nodata, blocksize=16)
    with rasterio.open(folder / "classes.tif", "w", **prof) as dst:
        dst.write(cls, 1)
        dst.set_band_description(1, "class")
        dst.write_colormap(1, CLASS_COLORS)
    return {"classes": cls, "transform": transform, "crs": crs, "epsg": epsg, "pixel": pixel,
            "dir": folder}
