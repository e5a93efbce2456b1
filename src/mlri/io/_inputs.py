"""What the inputs are once found: one year of one variable (:class:`Layer`), all years of one
variable (:class:`VariableStack`) and the validated LST and EVI pair on one grid
(:class:`InputSet`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ._grid import Grid
from ._read import _Reader

__all__ = ["InputSet", "Layer", "VariableStack"]


@dataclass(frozen=True)
class Layer:
    """One year of one variable: band ``band`` (1-based) of ``path``."""

    path: str
    band: int
    year: int


@dataclass
class _FileInfo:
    path: str
    count: int
    dtype: str
    nodata: float | None
    mask_band: list[bool]  # per band: read GDAL masks (internal/external mask or alpha)
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    block: tuple[int, int]  # (rows, cols) of band 1
    descriptions: tuple[str | None, ...]
    band_tags: list[dict[str, str]]


@dataclass
class VariableStack:
    """All years of one variable, in year order."""

    var: str
    layers: list[Layer]
    files: dict[str, _FileInfo] = field(default_factory=dict, repr=False)

    @property
    def years(self) -> list[int]:
        return [lay.year for lay in self.layers]

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(lay.path for lay in self.layers))

    def describe(self) -> str:
        p = self.paths
        if len(p) == 1:
            return p[0]
        return f"{len(p)} files in {Path(p[0]).parent}"


@dataclass
class InputSet:
    """Validated LST and EVI stacks on one grid (see :func:`open_inputs`)."""

    lst: VariableStack
    evi: VariableStack
    years: list[int]
    grid: Grid
    dtype: str = "float32"

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(self.lst.paths + self.evi.paths))

    @property
    def block_shapes(self) -> list[tuple[int, int]]:
        out = {fi.block for st in (self.lst, self.evi) for fi in st.files.values()}
        return sorted(out)

    def open(self) -> _Reader:
        """A reader for windows; one per thread (GDAL handles are not thread-safe)."""
        return _Reader(self)

    def check_units(self, lst_unit: str, *, max_windows: int = 6,
                    min_values: int = 2000) -> None:
        """Early per-year unit and scale check on a sample of windows of every year.

        Each year (layer) of LST must look like ``lst_unit`` (°C vs K: Kelvin is > 150;
        a median above 400 K means scaled digital numbers), and each year of EVI must lie
        near [-1, 1] (not an EVI x 10000 integer export).  Raises :class:`InputError` naming
        the year, its file and band, and the fix (``--lst-unit C`` / ``lst_unit='C'``,
        converting that year, or a GDAL scale factor).  Reads at most ``max_windows``
        block-aligned windows per layer, stopping once ``min_values`` valid values are seen.
        The per-tile check of :func:`mlri.index` still guards every tile.
        """
        from .._unitcheck import check_units

        check_units(self, lst_unit, max_windows=max_windows, min_values=min_values)

    def check_lst_unit(self, lst_unit: str, *, max_windows: int = 6) -> None:
        """Same as :meth:`check_units` (kept for existing callers)."""
        self.check_units(lst_unit, max_windows=max_windows)
