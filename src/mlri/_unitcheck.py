"""Early per-year unit and scale check of the annual inputs (before any output is written).

:meth:`mlri.io.InputSet.check_units` samples a few windows of every year of LST and EVI and
applies the per-year rules defined here (``lst_unit_problem``, ``evi_scale_problem``), with
messages that name the year, its file and band, and the command-line fix.  :func:`mlri.index`
applies the same rules (``_lst_unit_kind``, ``_evi_scaled``) to arrays, on every year's median
from ``_year_medians``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._names import InputError

if TYPE_CHECKING:
    from .io import InputSet, VariableStack

__all__ = ["YearValueError", "check_units"]


class YearValueError(ValueError):
    """A ValueError about one year of an array (``variable`` "lst" or "evi", ``index`` along
    the time axis), so that a driver reading files can name that year's file."""

    def __init__(self, msg: str, variable: str, index: int) -> None:
        super().__init__(msg)
        self.variable = variable
        self.index = index


# The °C / K heuristic: LST in Kelvin is > 150 everywhere on Earth, and
# below 400 (an annual maximum of 127 °C does not occur); a larger median means scaled digital
# numbers.  Checked per year: one year in °C among Kelvin years must not pass.
_CELSIUS_MEDIAN_LIMIT = 150.0
_KELVIN_MEDIAN_MAX = 400.0
# EVI lies in [-1, 1] (outliers aside); a median |EVI| above this is a scaled integer export
# (EVI x 10000), checked per year.
_EVI_SCALED_LIMIT = 5.0
_SAMPLE_PER_YEAR = 4_096  # values per year: ample to tell ~15 (°C) from ~300 (K)


def year_label(i: int, years: Any = None) -> str:
    """``"year 2005"`` (or ``"time step 5"`` without years) for messages."""
    if years is not None:
        try:
            return f"year {int(np.asarray(years, dtype=float)[i])}"
        except (IndexError, TypeError, ValueError):
            pass
    return f"time step {i}"


def _year_medians(a: np.ndarray, absolute: bool = False) -> np.ndarray:
    """Per year of the ``(T, ...)`` stack ``a``: the median of a regular sample of about
    ``_SAMPLE_PER_YEAR`` of its finite values (of their absolute values with ``absolute``);
    NaN for a year without any.  The value ``np.median`` gives on each year's sample, from one
    sort of all the years' samples (half the time of a median per year: 1.0 against 1.9 ms
    on a 512 x 512 x 19 tile)."""
    n = int(np.prod(a.shape[1:], dtype=np.int64))
    if n == 0:
        return np.full(a.shape[0], np.nan)
    step = max(1, n // _SAMPLE_PER_YEAR)
    s = np.stack([a[i].reshape(-1)[::step] for i in range(a.shape[0])])
    if absolute:
        s = np.abs(s)
    s = np.sort(np.where(np.isfinite(s), s, np.nan), axis=1)  # finite values first, then NaN
    c = np.count_nonzero(np.isfinite(s), axis=1)
    rows = np.arange(len(c))
    lo = s[rows, np.maximum(c - 1, 0) // 2]
    hi = s[rows, c // 2]
    # an odd count: the middle value; an even count: the mean of the two middle values, in
    # the sample's dtype (as np.median)
    return np.where(c == 0, np.nan, np.where(c % 2 == 1, hi, (lo + hi) / 2)).astype(np.float64)


def lst_unit_problem(values: np.ndarray, lst_unit: str) -> tuple[str, float] | None:
    """``(kind, median)`` when finite LST ``values`` of one year contradict ``lst_unit``.

    ``kind`` is ``"celsius"`` (looks like °C), ``"kelvin"`` (looks like K with ``lst_unit='C'``)
    or ``"scaled"`` (median above 400 K: digital numbers); None when consistent or empty.
    """
    if values.size == 0:
        return None
    return _lst_unit_kind(float(np.median(values)), lst_unit)


def _lst_unit_kind(med: float, lst_unit: str) -> tuple[str, float] | None:
    """:func:`lst_unit_problem` of a year whose finite values have the median ``med``."""
    if lst_unit == "K" and med < _CELSIUS_MEDIAN_LIMIT:
        return "celsius", med
    if lst_unit == "K" and med > _KELVIN_MEDIAN_MAX:
        return "scaled", med
    if lst_unit == "C" and med > _CELSIUS_MEDIAN_LIMIT:
        return "kelvin", med
    return None


def evi_scale_problem(values: np.ndarray) -> float | None:
    """The median |EVI| of one year's finite ``values`` when it is far outside [-1, 1]."""
    if values.size == 0:
        return None
    return _evi_scaled(float(np.median(np.abs(values))))


def _evi_scaled(med: float) -> float | None:
    """:func:`evi_scale_problem` of a year whose finite |EVI| have the median ``med``."""
    return med if med > _EVI_SCALED_LIMIT else None


def _check_lst_unit(lst: np.ndarray, unit: str, years: Any = None) -> None:
    """Per-year °C/K check of an LST stack (axis 0 = years); raises ``ValueError``."""
    per = [None if np.isnan(med) else _lst_unit_kind(float(med), unit)
           for med in _year_medians(lst)]
    # "scaled" (median > 400 K) is refused on whole input files by mlri.io, not on arrays
    bad = [(i, p) for i, p in enumerate(per) if p is not None and p[0] != "scaled"]
    if not bad:
        return
    n_data = sum(1 for i in range(lst.shape[0]) if np.isfinite(lst[i]).any())
    i, (kind, med) = bad[0]
    where = year_label(i, years)
    more = f" (and {len(bad) - 1} more year(s))" if len(bad) > 1 else ""
    if len(bad) < n_data:  # mixed units: lst_unit cannot fix it
        unit_seen = "degrees Celsius" if kind == "celsius" else "Kelvin"
        fix = "add 273.15" if kind == "celsius" else "subtract 273.15"
        msg = (f"lst {where}{more} looks like {unit_seen} (median {med:.1f}) while the other "
               f"years look like {'Kelvin' if kind == 'celsius' else 'degrees Celsius'}: "
               f"convert that year ({fix}); lst_unit applies to every year")
    elif kind == "celsius":
        msg = (f"lst looks like degrees Celsius ({where}: median of valid values {med:.1f} "
               f"< 150 K): pass lst_unit='C', or convert to Kelvin")
    else:
        msg = (f"lst_unit='C' but lst looks like Kelvin ({where}: median of valid values "
               f"{med:.1f}); use lst_unit='K'")
    raise YearValueError(msg, "lst", i)


def _check_evi_scale(evi: np.ndarray, years: Any = None) -> None:
    """Per-year check that EVI is not a scaled integer export (e.g. EVI x 10000)."""
    for i, m in enumerate(_year_medians(evi, absolute=True)):
        med = _evi_scaled(float(m))  # (NaN, a year without valid values: None)
        if med is not None:
            msg = (f"evi {year_label(i, years)} has a median |EVI| of {med:.4g}, far outside "
                   f"[-1, 1]: a scaled integer export (EVI x 10000)? divide evi by 10000 "
                   f"(that year or all)")
            raise YearValueError(msg, "evi", i)


def check_units(inputs: InputSet, lst_unit: str, *, max_windows: int = 6,
                min_values: int = 2000) -> None:
    """See :meth:`mlri.io.InputSet.check_units`."""
    samples = {"LST": _year_samples(inputs, inputs.lst, max_windows, min_values),
               "EVI": _year_samples(inputs, inputs.evi, max_windows, min_values)}
    lst_bad = [(i, p) for i, v in enumerate(samples["LST"])
               if (p := lst_unit_problem(v, lst_unit)) is not None]
    for i, (kind, med) in lst_bad:
        if kind == "scaled":
            lay = inputs.lst.layers[i]
            msg = (f"LST {inputs.years[i]} ({lay.path}, band {lay.band}) has a median of "
                   f"{med:.1f}, not a temperature in Kelvin: scaled digital numbers? "
                   f"Landsat C2 ST is K = DN * 0.00341802 + 149.0 (set the file's scale "
                   f"and offset, e.g. gdal_edit.py -scale 0.00341802 -offset 149.0 "
                   f"{Path(lay.path).name}, or convert first)")
            raise InputError(msg)
    if lst_bad:
        n_data = sum(1 for v in samples["LST"] if v.size)
        i, (kind, med) = lst_bad[0]
        lay = inputs.lst.layers[i]
        where = f"LST {inputs.years[i]} ({lay.path}, band {lay.band})"
        others = [inputs.years[j] for j, _ in lst_bad[1:]]
        more = f" (also year(s) {others})" if others else ""
        if len(lst_bad) < n_data:
            seen = "degrees Celsius" if kind == "celsius" else "Kelvin"
            rest = "Kelvin" if kind == "celsius" else "degrees Celsius"
            fix = "add 273.15" if kind == "celsius" else "subtract 273.15"
            msg = (f"{where}{more} looks like {seen} (median of sampled valid values "
                   f"{med:.1f}) while the other years look like {rest}: convert that "
                   f"file ({fix}); --lst-unit (lst_unit=) applies to every year")
        elif kind == "celsius":
            msg = (f"LST input {inputs.lst.describe()} looks like degrees Celsius ({where}: "
                   f"median of sampled valid values {med:.1f} < 150 K): pass --lst-unit C "
                   f"(lst_unit='C'), or convert to Kelvin")
        else:
            msg = (f"--lst-unit C (lst_unit='C') was given but LST input "
                   f"{inputs.lst.describe()} looks like Kelvin ({where}: median {med:.1f}); "
                   f"use --lst-unit K")
        raise InputError(msg)
    for i, v in enumerate(samples["EVI"]):
        evi_med = evi_scale_problem(v)
        if evi_med is not None:
            lay = inputs.evi.layers[i]
            msg = (f"EVI {inputs.years[i]} ({lay.path}, band {lay.band}) has a median |EVI| "
                   f"of {evi_med:.4g}, far outside [-1, 1]: a scaled integer export (EVI x "
                   f"10000)? Set its scale factor (gdal_edit.py -scale 0.0001 "
                   f"{Path(lay.path).name}; mlri applies GDAL scale/offset) or divide by "
                   f"10000")
            raise InputError(msg)


def _year_samples(inputs: InputSet, stack: VariableStack, max_windows: int,
                  min_values: int) -> list[np.ndarray]:
    """Finite values of each layer of ``stack`` from up to ``max_windows`` windows."""
    from rasterio.windows import Window

    g = inputs.grid
    bh, bw = stack.files[stack.layers[0].path].block
    h = min(g.height, max(bh, 256))
    w = min(g.width, max(bw, 256))
    cands = [((g.height - h) // 2, (g.width - w) // 2), (0, 0), (g.height - h, g.width - w),
             (0, g.width - w), (g.height - h, 0), (g.height // 4, g.width // 4)]
    # (inside the grid: g.height // 4 + h may pass its edge when h is the whole height)
    cands = list(dict.fromkeys((min(r, g.height - h), min(c, g.width - w)) for r, c in cands))
    cands = cands[:max_windows]
    out = []
    with inputs.open() as rd:
        for layer in stack.layers:
            parts: list[np.ndarray] = []
            n = 0
            for r0, c0 in cands:
                a = rd.read_layer(layer, Window(c0, r0, w, h))
                a = a[np.isfinite(a)]
                parts.append(a[:: max(1, a.size // 20000)])
                n += a.size
                if n >= min_values:
                    break
            out.append(np.concatenate(parts) if parts else np.empty(0))
    return out
