"""The common pixel grid of the inputs, and how two rasters' grids differ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Grid"]


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS (None when a raster has none), affine transform, width and height.

    The common pixel grid of a run's inputs; :class:`mlri.landsat.Grid` is the same record for
    composite target grids, checked to be north-up with a CRS.
    """

    crs: Any
    transform: Any
    width: int
    height: int

    @property
    def res(self) -> tuple[float, float]:
        return (self.transform.a, -self.transform.e)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of a north-up grid."""
        t = self.transform
        return (t.c, t.f + self.height * t.e, t.c + self.width * t.a, t.f)

    def as_dict(self) -> dict[str, Any]:
        return {"crs": self.crs.to_string() if self.crs else None,
                "transform": list(tuple(self.transform)[:6]),
                "width": self.width, "height": self.height, "bounds": list(self.bounds)}

    @property
    def pixel_area(self) -> float:
        """Area of one pixel in CRS units squared."""
        t = self.transform
        return abs(t.a * t.e - t.b * t.d)

    def area_ha(self, pixels: int) -> float | None:
        """Area of ``pixels`` pixels in hectares, or None for a non-metric/geographic CRS."""
        if self.crs is None or not self.crs.is_projected:
            return None
        try:
            _, factor = self.crs.linear_units_factor
        except Exception:  # noqa: BLE001 - unknown units
            return None
        return pixels * self.pixel_area * factor * factor / 1e4


def _grid_of(path: str, what: str = "a raster grid", hint: str = "") -> tuple[Any, Any, int, int]:
    """``(crs, transform, width, height)`` of the raster ``path``.  A file GDAL cannot open as
    a raster (a vector file, a damaged download) raises ``ValueError("cannot read {what} from
    {path}: {reason}. {hint}")`` (the form of :func:`mlri._vector.read_features`)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as ds:
            return ds.crs, ds.transform, ds.width, ds.height
    except RasterioIOError as err:
        reason = str(err).rstrip(" .;")
        msg = f"cannot read {what} from {path}: {reason}." + (f" {hint}" if hint else "")
        raise ValueError(msg) from None


def _differences(a: tuple[Any, Any, int, int], b: tuple[Any, Any, int, int]) -> list[str]:
    out = []
    if (a[2], a[3]) != (b[2], b[3]):
        out.append(f"size {a[2]}x{a[3]} vs {b[2]}x{b[3]} (columns x rows)")
    if a[0] != b[0]:
        sa = a[0].to_string() if a[0] else "none"
        sb = b[0].to_string() if b[0] else "none"
        out.append(f"CRS {sa} vs {sb}")
    if not a[1].almost_equals(b[1], precision=1e-9 * max(1.0, abs(a[1].a))):
        out.append(f"transform {tuple(a[1])[:6]} vs {tuple(b[1])[:6]}")
    return out
