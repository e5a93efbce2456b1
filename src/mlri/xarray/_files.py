"""Annual GeoTIFFs in (open_stack); GeoTIFF (the run folder) and Zarr out."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..classes import CLASSES, FLAGS
from ..io import year_in_text
from ..recipe import (
    Options,
)
from ._blocks import iter_blocks, n_blocks
from ._stack import (
    _PVALUE_VARS,
    _STACK_VARS,
    INTERVAL_VARS,
    ONSET_VARS,
    TREND_VARS,
    _require,
    _version,
)

# --------------------------------------------------------------------------------------------
# Input: annual GeoTIFFs as a lazy stack
# --------------------------------------------------------------------------------------------

def _expand_source(source: Any) -> list[Any]:
    """Files of ``source`` (path, folder, glob or sequence), by the one discovery of mlri.io:
    local files as ``Path``; URLs and GDAL ``/vsi...`` paths kept as given (GDAL reads them)."""
    from .._cloud import is_url
    from ..io import expand_sources

    specs = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    files, _ = expand_sources(specs, "input")
    return [p if is_url(p) else Path(p) for p in files]


def open_stack(source: Any, *, years: Any = None, dim: str = "year", chunks: Any = 512,
               band: int = 1, masked: bool = True, lock: Any = False) -> xr.DataArray:
    """Open annual rasters as a lazy ``(dim, y, x)`` Dask-backed DataArray.

    Parameters
    ----------
    source : path, glob or sequence of paths
        One file per year (``LST_2005.tif``...: the year is the only stand-alone 4-digit
        19xx/20xx number in the file name, as for ``mlri run``; see
        :func:`mlri.io.year_in_text`), a folder of them, a glob such as
        ``"scene/LST_*.tif"``, or a single multi-band file with one band per year (years from
        the band descriptions, e.g. ``"2005"`` or ``"LST_2005"``).
    years : sequence of int, optional
        Overrides the years found in the names / descriptions (same order as the files or
        bands).
    dim : str
        Name of the time dimension (coordinate: the years, int).
    chunks : int, tuple or dict
        Spatial chunks (``512``, ``(cy, cx)`` or ``{"y": .., "x": ..}``); the time axis is
        always one chunk.  ``None`` reads eagerly into NumPy.
    band : int
        Band to read from each single-year file.
    masked : bool
        Nodata → NaN (float output), as ``rioxarray.open_rasterio(masked=True)``, and each
        band's GDAL scale/offset applied (physical values, as ``mlri run`` reads them; e.g.
        Landsat ST digital numbers with scale 0.00341802 and offset 149 become Kelvin).
    lock : bool or lock
        Passed to :func:`rioxarray.open_rasterio`; False (default) lets chunks be read in
        parallel.

    Returns
    -------
    xarray.DataArray
        Sorted by year, with ``x``/``y`` coordinates and the CRS (``.rio.crs``).
    """
    rioxarray = _require("rioxarray")
    import rasterio

    paths = _expand_source(source)
    if len(paths) == 1:
        with rasterio.open(paths[0]) as src:
            count, descs = src.count, list(src.descriptions)
        if count > 1:
            yrs = _stack_years(years, [d or "" for d in descs], f"bands of {paths[0]}")
            arr = rioxarray.open_rasterio(paths[0], masked=masked, lock=lock,
                                          chunks=_rio_chunks(chunks, count))
            if masked:
                arr = _scaled(arr, paths[0], range(1, count + 1))
            arr = arr.rename({"band": dim}).assign_coords({dim: yrs})
            return _finish_stack(arr.sortby(dim), dim, chunks)
    yrs = _stack_years(years, [os.fspath(p).split("?", 1)[0].rsplit("/", 1)[-1]
                               for p in paths], "file names")
    _check_same_grid(paths)
    layers = []
    for p in paths:
        a = rioxarray.open_rasterio(p, masked=masked, lock=lock, chunks=_rio_chunks(chunks, 1))
        a = a.sel(band=[band])
        if masked:
            a = _scaled(a, p, [band])
        layers.append(a.sel(band=band, drop=True))
    arr = xr.concat(layers, dim=dim, join="exact", combine_attrs="drop_conflicts")
    arr = arr.assign_coords({dim: yrs}).sortby(dim)
    return _finish_stack(arr, dim, chunks)


def _scaled(arr: xr.DataArray, path: Any, bands: Sequence[int]) -> xr.DataArray:
    """``arr`` (a ``band`` dimension holding ``bands`` of ``path``) with each band's GDAL
    scale/offset applied, lazily, in the float dtype masking gave it (the scale/offset
    attributes dropped: the values are physical)."""
    import rasterio

    with rasterio.open(path) as src:
        sc = [src.scales[b - 1] for b in bands]
        of = [src.offsets[b - 1] for b in bands]
    arr = arr.copy()
    for k in ("scale_factor", "add_offset", "scales", "offsets"):
        arr.attrs.pop(k, None)
        arr.encoding.pop(k, None)
    if all(s in (None, 1.0) for s in sc) and all(o in (None, 0.0) for o in of):
        return arr
    dt = arr.dtype
    s = xr.DataArray(np.asarray([1.0 if v is None else v for v in sc], dtype=dt), dims="band")
    o = xr.DataArray(np.asarray([0.0 if v is None else v for v in of], dtype=dt), dims="band")
    return (arr * s + o).astype(dt, copy=False).assign_attrs(arr.attrs)


def _stack_years(years: Any, labels: Sequence[str], where: str) -> np.ndarray:
    if years is not None:
        yrs = np.asarray(years)
        if yrs.shape != (len(labels),):
            msg = f"years has {yrs.size} entries but there are {len(labels)} {where}"
            raise ValueError(msg)
    else:
        found = [year_in_text(Path(s).name.rsplit(".", 1)[0] if s.lower().endswith(
            (".tif", ".tiff", ".vrt", ".img", ".nc", ".jp2")) else s) for s in labels]
        missing = [s for s, y in zip(labels, found, strict=True) if y is None]
        if missing:
            msg = (f"cannot find one year in the {where}: {missing[:3]} (a year is the only "
                   f"standalone 4-digit 19xx/20xx number); name files like LST_2005.tif (or "
                   f"set band descriptions such as '2005'), or pass years=[...]")
            raise ValueError(msg)
        yrs = np.asarray(found)
    if len(set(yrs.tolist())) != len(yrs):
        msg = f"the same year appears twice in the {where}: {sorted(yrs.tolist())}"
        raise ValueError(msg)
    return yrs.astype(np.int64) if yrs.dtype.kind in "iu" else yrs


def _check_same_grid(paths: Sequence[Path]) -> None:
    import rasterio

    ref = None
    for p in paths:
        with rasterio.open(p) as src:
            grid = (src.width, src.height, src.transform, src.crs)
        if ref is None:
            ref = (p, grid)
        elif grid != ref[1]:
            msg = (f"{p} is not on the grid of {ref[0]} (size, transform or CRS differ); "
                   f"warp all years to one grid first")
            raise ValueError(msg)


def _rio_chunks(chunks: Any, nband: int) -> Any:
    if chunks is None:
        return None
    if isinstance(chunks, Mapping):
        return {"band": nband, **chunks}
    if isinstance(chunks, (tuple, list)):
        return {"band": nband, "y": chunks[0], "x": chunks[1]}
    return {"band": nband, "y": chunks, "x": chunks}


def _finish_stack(arr: xr.DataArray, dim: str, chunks: Any) -> xr.DataArray:
    arr = arr.transpose(dim, ...)
    if chunks is None:
        return arr.load()
    return arr.chunk({dim: -1})



def _spatial_dims(ds: xr.Dataset) -> tuple[Hashable, Hashable]:
    for y, x in (("y", "x"), ("latitude", "longitude"), ("lat", "lon")):
        if y in ds.dims and x in ds.dims:
            return y, x
    msg = f"cannot find the y/x dimensions of the dataset (dims {tuple(ds.dims)})"
    raise ValueError(msg)


def _georef(ds: xr.Dataset, ydim: Hashable, xdim: Hashable) -> tuple[Any, Any]:
    from rasterio.transform import Affine

    rioxarray = _require("rioxarray")  # also registers the .rio accessor
    rio = ds.rio.set_spatial_dims(x_dim=xdim, y_dim=ydim, inplace=False)
    crs = rio.rio.crs
    if xdim not in ds.coords or ydim not in ds.coords:
        return crs, Affine.identity()  # no coordinates: pixel grid
    try:
        return crs, rio.rio.transform(recalc=True)
    except (rioxarray.exceptions.RioXarrayError, ValueError, IndexError):
        return crs, Affine.identity()  # e.g. a single row/column: no resolution to derive


def _raster_groups(ds: xr.Dataset) -> dict[str, list[str]]:
    names = [str(k) for k in ds.data_vars]
    groups: dict[str, list[str]] = {}
    if "mlri" in names:
        groups["mlri.tif"] = ["mlri"]
    trend_vars = [k for k in (*TREND_VARS, *INTERVAL_VARS) if k in names]
    if trend_vars:
        groups["trend.tif"] = trend_vars
    for k in ("classes", "flags"):
        if k in names:
            groups[f"{k}.tif"] = [k]
    used = {v for vs in groups.values() for v in vs}
    for k in names:
        if k not in used:
            groups[f"{k}.tif"] = [k]
    return groups


def to_geotiff(ds: xr.Dataset, out_dir: str | os.PathLike[str], *, overwrite: bool = False,
               client: Any = None, cog: bool = True, blocksize: int = 512,
               trend_dtype: str = "float64", progress: bool = False) -> dict[str, Path]:
    """Compute ``ds`` and write it as GeoTIFFs (COG by default), chunk by chunk.

    A :func:`run_stack` Dataset is written as the run folder of :mod:`mlri.products` — the
    same files, bands, dtypes, nodata, tags and ``summary.json`` as ``mlri run`` (``trend.tif``
    float32 with ``years_dropped`` as its last band; ``trend_dtype`` is then not used).  Any
    other Dataset is written as described below.

    Files: ``mlri.tif`` (one band per year, described by the year), ``trend.tif`` (one band per
    trend variable, in :data:`TREND_VARS` order), ``classes.tif`` and ``flags.tif`` (uint8;
    class 0 is nodata), and ``<name>.tif`` for any other variable.  Written atomically through
    :mod:`mlri._outputs` (an interrupted run leaves no finished-looking file).  Chunks are
    computed by the active scheduler (see :func:`iter_blocks`) and written by this process only.

    Parameters
    ----------
    ds : xarray.Dataset
        With ``y``/``x`` dimensions; CRS and transform from rioxarray when available.
    out_dir : path
        Output folder (created).  Existing outputs are refused unless ``overwrite``.
    client : distributed.Client, optional
        See :func:`iter_blocks`.
    cog : bool
        Rewrite as Cloud-Optimized GeoTIFF with overviews (nearest for classes/flags, average
        for continuous values).
    blocksize : int
        Internal GeoTIFF tile size.
    trend_dtype : {"float64", "float32"}
        Storage type of trend.tif (float64 keeps the values exactly).
    progress : bool
        Show a tqdm progress bar over the chunks (works with any scheduler).

    Returns
    -------
    dict
        File name → path.
    """
    from rasterio.windows import Window

    from .._outputs import OutputSet, atomic_raster, raster_profile

    ydim, xdim = _spatial_dims(ds)
    for k, v in ds.data_vars.items():
        if v.dims[-2:] != (ydim, xdim) or v.ndim > 3:
            msg = f"variable {k!r} has dims {v.dims}; GeoTIFF output needs (..., {ydim}, {xdim})"
            raise ValueError(msg)
    crs, transform = _georef(ds, ydim, xdim)
    if all(k in ds.data_vars for k in _STACK_VARS):
        return _write_run_folder(ds, out_dir, crs, transform, ydim, xdim, overwrite=overwrite,
                                 client=client, cog=cog, blocksize=blocksize,
                                 progress=progress)
    groups = _raster_groups(ds)
    height, width = ds.sizes[ydim], ds.sizes[xdim]
    # Band layout: variable -> (file, first band).
    first_band: dict[str, tuple[str, int]] = {}
    # staged, verified and published together (journaled: old and new never mix)
    with OutputSet(out_dir, list(groups), overwrite=overwrite, marker=None) as outset, \
            contextlib.ExitStack() as stack:
        dsts = {}
        for fname, names in groups.items():
            count = 0
            for n in names:
                first_band[n] = (fname, count + 1)
                count += ds[n].shape[0] if ds[n].ndim == 3 else 1
            dtype = _file_dtype(ds, names, trend_dtype)
            is_float = np.dtype(dtype).kind == "f"
            nodata: float | int | None = (float("nan") if is_float else 0 if fname == "classes.tif"
                                          else None)
            prof = raster_profile(crs=crs, transform=transform, width=width, height=height,
                                  count=count, dtype=dtype, nodata=nodata, blocksize=blocksize)
            dst = stack.enter_context(atomic_raster(
                outset.stage(fname), prof, cog=cog,
                overview_resampling="average" if is_float else "nearest"))
            _describe(dst, ds, names, fname)
            dsts[fname] = dst
        bar = _progress(progress, n_blocks(ds))
        for name, index, data in iter_blocks(ds, client=client):
            fname, b0 = first_band[name]
            dst = dsts[fname]
            ys, xs = index[-2], index[-1]
            window = Window.from_slices(ys, xs)
            arr = data.astype(dst.dtypes[0], copy=False)
            if data.ndim == 3:
                bands = list(range(b0 + index[0].start, b0 + index[0].stop))
                dst.write(arr, indexes=bands, window=window)
            else:
                dst.write(arr, indexes=b0, window=window)
            bar.update(1)
        bar.close()
        stack.close()  # finalise the rasters (COG layout) before publication
        outset.commit()
        return {fname: outset.path(fname) for fname in groups}


def _write_run_folder(ds: xr.Dataset, out_dir: str | os.PathLike[str], crs: Any, transform: Any,
                      ydim: Hashable, xdim: Hashable, *, overwrite: bool, client: Any,
                      cog: bool, blocksize: int, progress: bool) -> dict[str, Path]:
    """A :func:`run_stack` Dataset as the run folder of :mod:`mlri.products` (what ``mlri run``
    writes, manifest aside): same files, bands, dtypes, nodata, tags and summary."""
    from rasterio.windows import Window

    from .. import products
    from .._outputs import OutputSet, atomic_raster, raster_profile, write_json
    from ..io import Grid

    with_p = all(k in ds.data_vars for k in _PVALUE_VARS)
    with_onset = all(k in ds.data_vars for k in ONSET_VARS)
    files = products.raster_files(with_p, with_onset)
    stored = json.loads(ds.attrs.get("mlri_options", "{}"))
    opts = Options.from_kwargs(**{k: v for k, v in stored.items()
                                  if k not in ("step", "years", "persistence_estimate")})
    years = [int(y) if float(y).is_integer() else float(y)
             for y in ds["mlri"].coords[ds["mlri"].dims[0]].values] \
        if ds["mlri"].dims[0] in ds["mlri"].coords else list(stored.get("years") or [])
    plan = opts.prepare([float(y) for y in years]).plan
    if stored.get("persistence_estimate"):
        plan.set_regional(stored["persistence_estimate"])
    height, width = ds.sizes[ydim], ds.sizes[xdim]
    # variable -> (file, band) for single-band variables, (file, first band) for mlri
    where: dict[str, tuple[str, int]] = {"mlri": ("mlri.tif", 1), "classes": ("classes.tif", 1),
                                         "flags": ("flags.tif", 1)}
    for b, var in enumerate(products.TREND_VAR_OF_BAND.values(), 1):
        where[var] = ("trend.tif", b)
    for b, var in enumerate(products.SIGNIFICANCE_BANDS, 1):
        where[var] = (products.SIGNIFICANCE_NAME, b)
    if with_onset:
        for b, var in enumerate(ONSET_VARS, 1):
            where[var] = (products.ONSET_NAME, b)
    # the onset summary needs the onset year and the class of the same block
    pending: dict[tuple[int, int, int, int], dict[str, np.ndarray]] = {}
    names = [*(r.name for r in files), "classes.tif.aux.xml", "classes.png", "summary.json"]
    acc = products.SummaryAccumulator(len(years))
    paths: dict[str, Path] = {}
    with OutputSet(out_dir, names, overwrite=overwrite, marker=None) as outset:
        with contextlib.ExitStack() as stack:
            dsts: dict[str, Any] = {}
            for r in files:
                count = len(years) if r.bands is None else len(r.bands)
                prof = raster_profile(crs=crs, transform=transform, width=width, height=height,
                                      count=count, dtype=r.dtype, nodata=r.nodata,
                                      blocksize=blocksize)
                dsts[r.name] = stack.enter_context(atomic_raster(
                    outset.stage(r.name), prof, cog=cog,
                    overview_resampling="nearest" if r.categorical else "average"))
            products.describe_rasters(dsts, years, opts)
            quicklook_import = products.preload_quicklook()  # overlaps the blocks
            bar = _progress(progress, n_blocks(ds))
            for name, index, data in iter_blocks(ds, client=client):
                if name not in where:
                    continue
                fname, b0 = where[name]
                dst = dsts[fname]
                window = Window.from_slices(index[-2], index[-1])
                arr = data.astype(dst.dtypes[b0 - 1], copy=False)
                if data.ndim == 3:
                    t0 = index[0].start
                    dst.write(arr, indexes=list(range(b0 + t0, b0 + index[0].stop)),
                              window=window)
                    acc.add_mlri(data, t0)
                else:
                    dst.write(arr, indexes=b0, window=window)
                    {"classes": acc.add_classes, "flags": acc.add_flags,
                     "dropped": acc.add_dropped}.get(name, lambda a: None)(data)
                    if with_onset and name in ("onset", "classes"):
                        ys, xs = index[-2], index[-1]
                        key = (ys.start, ys.stop, xs.start, xs.stop)
                        got = pending.setdefault(key, {})
                        got[name] = data
                        if len(got) == 2:
                            acc.add_onset(got["onset"], got["classes"])
                            del pending[key]
                bar.update(1)
            bar.close()
        grid = Grid(crs=crs, transform=transform, width=width, height=height)
        summary = products.summary(acc, grid, years, opts, plan.describe())
        write_json(outset.stage("summary.json"), summary)
        products.write_aux_xml(outset.stage("classes.tif.aux.xml"))
        products.write_quicklook(outset, summary, out_dir, quicklook_import)
        outset.commit()
        paths = {n: outset.path(n) for n in names}
    return paths


def _file_dtype(ds: xr.Dataset, names: Sequence[str], trend_dtype: str) -> str:
    if names and names[0] in TREND_VARS:
        return str(np.dtype(trend_dtype))
    return str(np.result_type(*[ds[n].dtype for n in names]))


def _describe(dst: Any, ds: xr.Dataset, names: Sequence[str], fname: str) -> None:
    band = 1
    for n in names:
        v = ds[n]
        if v.ndim == 3:
            labels = [str(t) for t in v.coords[v.dims[0]].values] if v.dims[0] in v.coords \
                else [f"{n}_{i}" for i in range(v.shape[0])]
            for lab in labels:
                dst.set_band_description(band, lab)
                band += 1
        else:
            dst.set_band_description(band, n)
            band += 1
    tags = {"mlri_version": _version(), "mlri_options": ds.attrs.get("mlri_options", "")}
    if fname == "classes.tif":
        tags.update({f"class_{c.code}": c.name for c in CLASSES})
    if fname == "flags.tif":
        tags.update({f"flag_bit_{f.bit}": f.name for f in FLAGS})
    dst.update_tags(**tags)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(enabled: bool, total: int) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="chunk", desc="mlri")


def to_zarr(ds: xr.Dataset, path: str | os.PathLike[str], *, overwrite: bool = False,
            **kwargs: Any) -> Path:
    """Compute ``ds`` and write it as a Zarr store, atomically (write aside, then rename).

    Workers write their chunks directly (any scheduler).  The CRS travels in the
    ``spatial_ref`` coordinate, so ``xr.open_zarr(path).rio.crs`` gives it back.  Irregular Dask
    chunks are made regular first (Zarr needs equal chunks).  ``kwargs`` go to
    :meth:`xarray.Dataset.to_zarr`.
    """
    _require("zarr")
    from .._outputs import OutputExistsError

    final = Path(path)
    if final.exists() and not overwrite:
        msg = f"{final} already exists; pass overwrite=True or choose another path"
        raise OutputExistsError(msg)
    tmp = final.with_name(f".{final.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    out = _regular_chunks(ds)
    for v in (*out.data_vars.values(), *out.coords.values()):
        v.encoding.pop("chunks", None)
        v.encoding.pop("preferred_chunks", None)
    # Zarr format 2 with consolidated metadata: readable by xr.open_zarr(path) with no
    # fallback warning, by zarr-python 2 and 3, and by GDAL.
    kwargs.setdefault("zarr_format", 2)
    kwargs.setdefault("consolidated", True)
    try:
        out.to_zarr(tmp, mode="w", **kwargs)
        if final.exists():
            shutil.rmtree(final) if final.is_dir() else final.unlink()
        tmp.replace(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _regular_chunks(ds: xr.Dataset) -> xr.Dataset:
    if not ds.chunks:
        return ds
    fix = {}
    for dim, ch in ds.chunks.items():
        if len(ch) > 1 and (len(set(ch[:-1])) > 1 or ch[-1] > ch[0]):
            fix[dim] = max(ch)
    return ds.chunk(fix) if fix else ds
