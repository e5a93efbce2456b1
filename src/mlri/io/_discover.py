"""Discovery of one variable's rasters: folders, globs, files and URLs expanded, each file
checked, and the year of every file or band found (see :mod:`mlri.io`)."""

from __future__ import annotations

import glob as _glob
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._cloud import is_url
from .._names import InputError, var_token, year_from_name, year_in_text
from ._inputs import Layer, VariableStack, _FileInfo

__all__ = ["expand_sources", "resolve_variable"]


RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".nc", ".jp2")
VARIABLES = ("LST", "EVI")


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
    from rasterio.enums import ColorInterp, MaskFlags
    from rasterio.errors import RasterioIOError

    from .._vrt import ENV_ALLOW, check_vrt, is_vrt

    checked = is_vrt(path)
    if checked:
        check_vrt(path, roots, var, anywhere=vrt_anywhere)
    try:
        with rasterio.open(path) as ds:
            if ds.driver == "VRT" and not checked and not vrt_anywhere:
                msg = (f"{var} input {path} is a GDAL VRT that mlri cannot read as a local "
                       f"file to check its sources: refused; give the rasters it reads, or "
                       f"set {ENV_ALLOW}=1 if you trust it")
                raise InputError(msg)
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
            # trailing alpha bands are masks, not data (years): GDAL applies them through the
            # data bands' mask flags above
            n = ds.count
            while n > 1 and ds.colorinterp[n - 1] == ColorInterp.alpha:
                n -= 1
            if n < ds.count and not all(masks[:n]):
                # GDAL masks by an alpha band of Byte or UInt16 data only: here it would be
                # ignored and every pixel read as valid
                msg = (f"{var} input {path} has an alpha band that GDAL does not apply to "
                       f"{ds.dtypes[0]} data, so its masked pixels would be read as valid: "
                       f"export the masked pixels as nodata (e.g. NaN) without the alpha band")
                raise InputError(msg)
            bh, bw = ds.block_shapes[0]
            return _FileInfo(
                path=path, count=n, dtype=ds.dtypes[0], nodata=ds.nodata,
                mask_band=masks[:n], scales=tuple(ds.scales[:n]), offsets=tuple(ds.offsets[:n]),
                block=(int(bh), int(bw)), descriptions=tuple(ds.descriptions[:n]),
                band_tags=[ds.tags(b) for b in range(1, n + 1)],
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
    from .._vrt import allowed_anywhere

    var = var.upper()
    if isinstance(specs, (str, os.PathLike)):
        specs = [specs]
    if not specs:
        msg = f"no {var} input given"
        raise InputError(msg)
    if any(os.fspath(s) == "" for s in specs):  # "" would read the working folder
        msg = f"an empty path was given as {var} input: give a folder, files or a glob"
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

    if wanted is not None and len(files) > 1 and all(parsed[f][0] is not None for f in files):
        # years picked by name: the files of other years are neither opened nor checked
        # (a damaged or duplicate file of a year left out must not stop the run)
        files = [f for f in files if parsed[f][0] in wanted]
        if not files:
            asked = ", ".join(map(str, wanted[:6])) + (", ..." if len(wanted) > 6 else "")
            msg = (f"no {var} file in {', '.join(map(str, specs))} is named with one of the "
                   f"years asked for ({asked})")
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
                   f"Exports of several mines in one folder: pick one with a pattern, e.g. "
                   f"pattern='{Path(lay.path).name.split(var)[0]}{{var}}_{{year}}.tif', "
                   f"or a glob such as {var.lower()}='folder/"
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
