"""Annual LST / EVI raster inputs: discovery, year parsing, grid checks and windowed reads.

Three ways to give one variable (``--lst`` / ``--evi`` on the command line):

* **one file per year**: a folder, a glob (``data/*_LST_*.tif``) or an explicit list of files.
  The year comes from the file name (a standalone 4-digit ``19xx``/``20xx`` token, e.g.
  ``LST_2005.tif``, ``mine3_EVI_2005.tif``) or from a ``pattern`` such as
  ``"mine3_{var}_{year}.tif"``.  When a folder or glob holds both variables, files are
  picked by the variable token (``LST``/``EVI``, any case, delimited by ``_ - .`` or the
  name's start/end).  Without a year in the names, ``years`` assigns years in name order.
* **one multi-band stack** per variable: the year of each band is read from the band
  description (``"2005"``, ``"LST_2005"``) or a band tag ``YEAR``; or given by ``years``.
* any of the above plus ``years`` to select a subset of the years found.

Every raster must share CRS, transform and size (error naming both files and what differs).
Nodata values, internal/external masks and alpha bands are honoured (→ NaN); GDAL
scale/offset metadata is applied.  Reads are time-major: a window of ``T`` years comes back as
one C-contiguous ``(T, rows, cols)`` array, ready for the kernels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

# discovery (_discover), what was found (_inputs), the grid (_grid) and windowed reads (_read);
# their helpers stay importable from mlri.io
from .._names import (  # noqa: F401
    InputError,
    parse_years,
    var_token,
    year_from_name,
    year_in_text,
)
from ._discover import (  # noqa: F401
    RASTER_SUFFIXES,
    VARIABLES,
    _band_year,
    _expand,
    _finish,
    _open_info,
    _roots,
    expand_sources,
    resolve_variable,
)
from ._grid import Grid, _differences, _grid_of
from ._inputs import InputSet, Layer, VariableStack, _FileInfo  # noqa: F401
from ._read import _read_error, _Reader  # noqa: F401

__all__ = [
    "Grid",
    "InputError",
    "InputSet",
    "Layer",
    "VariableStack",
    "expand_sources",
    "open_inputs",
    "parse_years",
    "resolve_variable",
    "year_from_name",
    "year_in_text",
]


def open_inputs(lst: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
                evi: Sequence[str | os.PathLike[str]] | str | os.PathLike[str], *,
                years: Sequence[int] | str | None = None,
                pattern: str | None = None,
                allow_any_vrt_source: bool | None = None) -> InputSet:
    """Discover and validate the LST and EVI inputs.

    ``allow_any_vrt_source``: see :func:`resolve_variable` (VRT inputs reading outside the
    input folders are refused by default).

    Raises
    ------
    InputError
        With a message naming the file(s): unreadable/non-raster file, no year, a year
        missing in one variable, duplicate years, different CRS/transform/size, ...
    """
    yrs = parse_years(years) if isinstance(years, str) else (
        None if years is None else parse_years([str(int(y)) for y in years]))
    st_l = resolve_variable(lst, "LST", years=yrs, pattern=pattern,
                            allow_any_vrt_source=allow_any_vrt_source)
    st_e = resolve_variable(evi, "EVI", years=yrs, pattern=pattern,
                            allow_any_vrt_source=allow_any_vrt_source)
    shared = {(la.path, la.band) for la in st_l.layers} & {(la.path, la.band)
                                                           for la in st_e.layers}
    if shared:
        path, band = min(shared)
        msg = (f"{path} (band {band}) was taken as both LST and EVI: name the files with "
               f"an LST/EVI token (e.g. LST_2005.tif) or give --pattern with {{var}}")
        raise InputError(msg)
    yl, ye = st_l.years, st_e.years
    if yl != ye:
        only_l = sorted(set(yl) - set(ye))
        only_e = sorted(set(ye) - set(yl))
        parts = []
        if only_l:
            parts.append(f"year(s) {only_l} are in the LST input ({st_l.describe()}) but "
                         f"missing from the EVI input ({st_e.describe()})")
        if only_e:
            parts.append(f"year(s) {only_e} are in the EVI input ({st_e.describe()}) but "
                         f"missing from the LST input ({st_l.describe()})")
        msg = "; ".join(parts) + " (select common years with --years)"
        raise InputError(msg)
    if len(yl) < 2:
        msg = f"need at least 2 years of LST and EVI, found {yl} in {st_l.describe()}"
        raise InputError(msg)

    ref_path = st_l.layers[0].path
    ref = _grid_of(ref_path)
    if ref[1].is_identity and ref[0] is None:
        pass  # un-georeferenced arrays are accepted (all must match anyway)
    for path in dict.fromkeys(st_l.paths + st_e.paths):
        if path == ref_path:
            continue
        g = _grid_of(path)
        diffs = _differences(ref, g)
        if diffs:
            msg = (f"{path} does not match the grid of {ref_path}: " + "; ".join(diffs)
                   + ". All LST and EVI rasters must share CRS, transform and size "
                   "(resample/clip them to one grid, e.g. with gdalwarp -tap)")
            raise InputError(msg)
    dtypes = {fi.dtype for st in (st_l, st_e) for fi in st.files.values()}
    work = "float64" if "float64" in dtypes or "int32" in dtypes or "uint32" in dtypes else \
        "float32"
    return InputSet(st_l, st_e, yl, Grid(ref[0], ref[1], int(ref[2]), int(ref[3])), work)
