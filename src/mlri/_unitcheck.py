"""Early per-year unit and scale check of the annual inputs (before any output is written).

:meth:`mlri.io.InputSet.check_units` samples a few windows of every year of LST and EVI and
applies the per-year rules of :mod:`mlri.api` (``lst_unit_problem``, ``evi_scale_problem``),
with messages that name the year, its file and band, and the command-line fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._names import InputError
from .api import evi_scale_problem, lst_unit_problem

if TYPE_CHECKING:
    from .io import InputSet, VariableStack

__all__ = ["check_units"]


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
    cands = list(dict.fromkeys(cands))[:max_windows]
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
