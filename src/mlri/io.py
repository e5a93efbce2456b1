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

import glob as _glob
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._cloud import is_url
from ._names import InputError, parse_years, var_token, year_from_name, year_in_text

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

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".nc", ".jp2")
VARIABLES = ("LST", "EVI")

# --------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class Layer:
    """One year of one variable: band ``band`` (1-based) of ``path``."""

    path: str
    band: int
    year: int


@dataclass(frozen=True)
class Grid:
    """The common pixel grid of every input."""

    crs: Any
    transform: Any
    width: int
    height: int

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
        from ._unitcheck import check_units

        check_units(self, lst_unit, max_windows=max_windows, min_values=min_values)

    def check_lst_unit(self, lst_unit: str, *, max_windows: int = 6) -> None:
        """Same as :meth:`check_units` (kept for existing callers)."""
        self.check_units(lst_unit, max_windows=max_windows)


# --------------------------------------------------------------------------- discovery


def expand_sources(specs: Sequence[str | os.PathLike[str]], var: str) -> tuple[list[str], bool]:
    """Expand folders and globs into raster files (the one discovery of every input reader).

    Returns ``(files, collective)``: ``collective`` when a folder or glob was given (it may
    hold the other variable too).  ``var`` names the input in error messages.
    """
    files: list[str] = []
    collective = False  # a folder or glob: may hold the other variable too
    for spec in specs:
        s = os.fspath(spec)
        if is_url(s):  # read in place by GDAL (one file per URL: no listing or globbing)
            files.append(s)
        elif Path(s).is_dir():
            found = sorted(str(p) for p in Path(s).iterdir()
                           if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES
                           and not p.name.startswith("."))
            if not found:
                msg = (f"no raster files ({', '.join(RASTER_SUFFIXES)}) in folder {s} "
                       f"given for {var}")
                raise InputError(msg)
            files.extend(found)
            collective = True
        elif any(ch in s for ch in "*?["):
            found = sorted(p for p in _glob.glob(s) if Path(p).is_file())  # noqa: PTH207
            if not found:
                msg = f"the pattern {s} given for {var} matches no file"
                raise InputError(msg)
            files.extend(found)
            collective = True
        elif Path(s).exists():
            files.append(s)
        else:
            msg = f"{var} input {s} does not exist"
            raise InputError(msg)
    # de-duplicate, keep order
    files = list(dict.fromkeys(files))
    return files, collective


_expand = expand_sources


def _roots(specs: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The folders of the inputs as given (a folder, a glob's fixed part, a file's folder)."""
    out = []
    for spec in specs:
        s = os.fspath(spec)
        if Path(s).is_dir():
            out.append(s)
            continue
        if any(ch in s for ch in "*?["):
            s = s[:min(s.index(ch) for ch in "*?[" if ch in s)]
            s = s if s.endswith(os.sep) else str(Path(s).parent)
        else:
            s = str(Path(s).parent)
        out.append(s or ".")
    return out


def _open_info(path: str, var: str, roots: Sequence[str] = (),
               vrt_anywhere: bool = False) -> _FileInfo:
    import rasterio
    from rasterio.enums import MaskFlags
    from rasterio.errors import RasterioIOError

    if path.lower().endswith(".vrt"):
        from ._vrt import check_vrt

        check_vrt(path, roots, var, anywhere=vrt_anywhere)
    try:
        with rasterio.open(path) as ds:
            if ds.count < 1:
                msg = f"{var} input {path} has no raster band"
                raise InputError(msg)
            if ds.transform.is_identity and (ds.gcps[0] or ds.rpcs):
                how = "ground control points (GCPs)" if ds.gcps[0] else "RPCs"
                msg = (f"{var} input {path} is georeferenced only by {how}, not by a regular "
                       f"grid: mlri would lose its location. Warp it to a grid first, e.g. "
                       f"gdalwarp -r near -t_srs EPSG:<utm zone> {Path(path).name} "
                       f"{Path(path).stem}_grid.tif")
                raise InputError(msg)
            kinds = np.dtype(ds.dtypes[0]).kind
            if kinds not in "iuf":
                msg = f"{var} input {path} has data type {ds.dtypes[0]}; expected numbers"
                raise InputError(msg)
            for b, (sc, of) in enumerate(zip(ds.scales, ds.offsets, strict=False), 1):
                if not (math.isfinite(sc) and sc != 0 and math.isfinite(of)):
                    msg = (f"{var} input {path} band {b} has an unusable scale/offset "
                           f"({sc!r} / {of!r}) in its metadata: every value would be NaN or "
                           f"constant. Fix it (gdal_edit.py -scale 1 -offset 0 "
                           f"{Path(path).name}) or re-export the file")
                    raise InputError(msg)
            masks = []
            for flags in ds.mask_flag_enums:
                masks.append(MaskFlags.per_dataset in flags or MaskFlags.alpha in flags)
            bh, bw = ds.block_shapes[0]
            return _FileInfo(
                path=path, count=ds.count, dtype=ds.dtypes[0], nodata=ds.nodata,
                mask_band=masks, scales=tuple(ds.scales), offsets=tuple(ds.offsets),
                block=(int(bh), int(bw)), descriptions=tuple(ds.descriptions),
                band_tags=[ds.tags(b) for b in range(1, ds.count + 1)],
            )
    except RasterioIOError as err:
        msg = f"cannot open {var} input {path} as a raster: {err}"
        raise InputError(msg) from None


def _band_year(info: _FileInfo, band: int) -> int | None:
    tags = {k.upper(): v for k, v in info.band_tags[band - 1].items()}
    for key in ("YEAR", "MLRI_YEAR"):
        if key in tags:
            try:
                return int(float(tags[key]))
            except ValueError:
                pass
    desc = info.descriptions[band - 1]
    return year_in_text(desc) if desc else None


def resolve_variable(specs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
                     var: str, *, years: Sequence[int] | None = None,
                     pattern: str | None = None,
                     allow_any_vrt_source: bool | None = None) -> VariableStack:
    """Find the files/bands of one variable and the year of each (see the module doc).

    A ``.vrt`` input may only read files inside the input folders (:mod:`mlri._vrt`) unless
    ``allow_any_vrt_source`` (default: the ``MLRI_VRT_ANY_SOURCE`` environment variable).
    """
    from ._vrt import allowed_anywhere

    var = var.upper()
    if isinstance(specs, (str, os.PathLike)):
        specs = [specs]
    if not specs:
        msg = f"no {var} input given"
        raise InputError(msg)
    files, collective = _expand(specs, var)
    wanted = list(years) if years is not None else None

    # Named years (and variables) from the file names.
    parsed = {f: year_from_name(f, pattern) for f in files}
    if pattern and "{var}" in pattern:
        keep = [f for f in files if parsed[f][1] == var]
        if collective or len(keep) != len(files):
            if not keep:
                msg = (f"no file given for {var} matches the pattern {pattern!r} with "
                       f"{{var}}={var}: {', '.join(Path(f).name for f in files[:5])}")
                raise InputError(msg)
            files = keep
    elif pattern:
        unmatched = [f for f in files if parsed[f][0] is None]
        if unmatched and collective:
            files = [f for f in files if parsed[f][0] is not None]
            if not files:
                msg = (f"no {var} file in {', '.join(map(str, specs))} matches --pattern "
                       f"{pattern!r} (pattern=), e.g. {Path(unmatched[0]).name}")
                raise InputError(msg)
    if collective and not (pattern and "{var}" in pattern):
        other = [v for v in VARIABLES if v != var]
        tagged = [f for f in files if var_token(Path(f).name, var)]
        foreign = [f for f in files
                   if any(var_token(Path(f).name, o) for o in other)
                   and not var_token(Path(f).name, var)]
        if tagged:
            files = tagged
        elif foreign:
            msg = (f"the {var} input ({', '.join(map(str, specs))}) holds no file named with "
                   f"{var} but files of another variable, e.g. {Path(foreign[0]).name}")
            raise InputError(msg)
    if not files:
        msg = f"no {var} raster found in {', '.join(map(str, specs))}"
        raise InputError(msg)

    roots = _roots(specs)
    anywhere = allowed_anywhere(allow_any_vrt_source)
    infos = {f: _open_info(f, var, roots, anywhere) for f in files}

    # One multi-band stack.
    if len(files) == 1 and infos[files[0]].count > 1:
        f = files[0]
        info = infos[f]
        band_years = [_band_year(info, b) for b in range(1, info.count + 1)]
        if all(y is not None for y in band_years):
            layers = [Layer(f, b, int(y)) for b, y in enumerate(band_years, 1)]  # type: ignore[arg-type]
        elif wanted is not None and len(wanted) == info.count:
            layers = [Layer(f, b, int(y)) for b, y in enumerate(wanted, 1)]
        else:
            miss = [b for b, y in enumerate(band_years, 1) if y is None]
            msg = (f"{var} stack {f} has {info.count} bands but no year in the description "
                   f"or YEAR tag of band(s) {miss[:5]}: pass --years with {info.count} years "
                   f"(e.g. 2000-2011,2013-2019)")
            raise InputError(msg)
        return _finish(var, layers, infos, wanted, f)

    # One file per year.
    multi = [f for f in files if infos[f].count > 1]
    if multi:
        msg = (f"{var} input {multi[0]} has {infos[multi[0]].count} bands but several files "
               f"were given: use one single-band file per year, or one multi-band stack per "
               f"variable")
        raise InputError(msg)
    named = [(f, parsed[f][0]) for f in files]
    if all(y is not None for _, y in named):
        layers = [Layer(f, 1, int(y)) for f, y in named]  # type: ignore[arg-type]
    elif wanted is not None and len(wanted) == len(files):
        layers = [Layer(f, 1, int(y)) for f, y in zip(files, wanted, strict=True)]
        return _finish(var, layers, infos, None, None)
    else:
        bad = next(f for f, y in named if y is None)
        hint = (f"pass --pattern (e.g. 'site_{{var}}_{{year}}.tif') or --years with "
                f"{len(files)} years in file-name order")
        msg = f"cannot read the year of {var} input {bad} from its name: {hint}"
        raise InputError(msg)
    by_year: dict[int, str] = {}
    for lay in layers:
        if lay.year in by_year:
            msg = (f"two {var} files for year {lay.year}: {by_year[lay.year]} and {lay.path}. "
                   f"Exports of several mines in one folder: pick one with --pattern, e.g. "
                   f"--pattern '{Path(lay.path).name.split(var)[0]}{{var}}_{{year}}.tif' "
                   f"(Python: pattern=...), or a glob such as --lst 'folder/"
                   f"{Path(lay.path).name.split(var)[0]}{var}_*.tif'. Tiles of one "
                   f"split Earth Engine export (name-0000000000-0000000000.tif): mosaic them "
                   f"first, e.g. gdalbuildvrt {var}_{lay.year}.vrt <tiles>")
            raise InputError(msg)
        by_year[lay.year] = lay.path
    layers.sort(key=lambda lay: lay.year)
    return _finish(var, layers, infos, wanted, None)


def _finish(var: str, layers: list[Layer], infos: dict[str, _FileInfo],
            wanted: Sequence[int] | None, stack: str | None) -> VariableStack:
    ys = [lay.year for lay in layers]
    if len(set(ys)) != len(ys):
        dup = sorted({y for y in ys if ys.count(y) > 1})
        msg = f"{var} input {stack or ''} has year(s) {dup} more than once".replace("  ", " ")
        raise InputError(msg)
    if wanted is not None and set(wanted) != set(ys):
        missing = [y for y in wanted if y not in set(ys)]
        if missing:
            where = stack or str(Path(layers[0].path).parent)
            msg = f"year(s) {missing} requested by --years are missing from the {var} input " \
                  f"({where})"
            raise InputError(msg)
        layers = [lay for lay in layers if lay.year in set(wanted)]
    layers = sorted(layers, key=lambda lay: lay.year)
    return VariableStack(var, layers, {p: infos[p] for p in dict.fromkeys(la.path for la in layers)})


def _grid_of(path: str) -> tuple[Any, Any, int, int]:
    import rasterio

    with rasterio.open(path) as ds:
        return ds.crs, ds.transform, ds.width, ds.height


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


# --------------------------------------------------------------------------- reading


def _read_error(layer: Layer, window: Any, err: BaseException) -> str:
    """A useful message for a failed read: GDAL's own reason (rasterio only says "Read
    failed. See previous exception") and what to do."""
    reasons: list[str] = []
    e: BaseException | None = err
    while e is not None and len(reasons) < 4:
        text = str(e).strip()
        if text and "See previous exception" not in text and text not in reasons:
            reasons.append(text)
        e = e.__cause__ or e.__context__
    why = "; ".join(reasons) or type(err).__name__
    return (f"cannot read band {layer.band} of {layer.path} (year {layer.year}, rows "
            f"{int(window.row_off)}-{int(window.row_off + window.height)}, cols "
            f"{int(window.col_off)}-{int(window.col_off + window.width)}): {why}. The file is "
            f"damaged or truncated (an interrupted download or copy?): export or copy it again")


class _Reader:
    """Per-thread set of open datasets; reads time-major windows with masks applied."""

    def __init__(self, inputs: InputSet) -> None:
        self.inputs = inputs
        self._ds: dict[str, Any] = {}

    def __enter__(self) -> _Reader:
        import rasterio

        try:
            for p in self.inputs.paths:
                self._ds[p] = rasterio.open(p)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for ds in self._ds.values():
            ds.close()
        self._ds.clear()

    def _info(self, path: str) -> _FileInfo:
        for st in (self.inputs.lst, self.inputs.evi):
            if path in st.files:
                return st.files[path]
        raise KeyError(path)

    def read_layer(self, layer: Layer, window: Any, out: np.ndarray | None = None) -> np.ndarray:
        """One band in ``window`` as the working float dtype, missing → NaN."""
        ds = self._ds.get(layer.path)
        if ds is None:
            import rasterio

            ds = self._ds[layer.path] = rasterio.open(layer.path)
        info = self._info(layer.path)
        shape = (int(window.height), int(window.width))
        if out is None:
            out = np.empty(shape, dtype=self.inputs.dtype)
        try:
            ds.read(layer.band, window=window, out=out)
        except Exception as err:
            raise InputError(_read_error(layer, window, err)) from err
        nod = info.nodata
        if nod is not None and not math.isnan(nod):
            out[out == np.asarray(nod).astype(out.dtype)] = np.nan
        if info.mask_band[layer.band - 1]:
            m = ds.read_masks(layer.band, window=window)
            out[m == 0] = np.nan
        sc = info.scales[layer.band - 1]
        of = info.offsets[layer.band - 1]
        if sc not in (None, 1.0) or of not in (None, 0.0):
            out *= out.dtype.type(sc if sc is not None else 1.0)
            out += out.dtype.type(of if of is not None else 0.0)
        return out

    def read(self, stack: VariableStack, window: Any,
             out: np.ndarray | None = None) -> np.ndarray:
        """All years of ``stack`` in ``window``: C-contiguous ``(T, rows, cols)``."""
        shape = (len(stack.layers), int(window.height), int(window.width))
        if out is None:
            out = np.empty(shape, dtype=self.inputs.dtype)
        for t, layer in enumerate(stack.layers):
            self.read_layer(layer, window, out[t])
        return out
