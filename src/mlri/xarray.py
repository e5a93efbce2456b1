"""xarray / Dask front end: the same C++ kernels, lazily, over spatial chunks, on any scheduler.

This is the **only** mlri module that imports dask, distributed, xarray, rioxarray or zarr
(install them with ``pip install mlri[dask]``); ``import mlri`` never loads them.

Every public function takes :class:`xarray.DataArray` stacks with a ``time`` or ``year`` dimension
and any spatial dimensions (normally ``y``, ``x``).  NumPy-backed inputs are computed eagerly with
all OpenMP threads; Dask-backed inputs give lazy results built with :func:`dask.array.map_blocks`
over the spatial chunks, the whole time axis in one chunk, each task calling the numerical API of
:mod:`mlri.api` (hence the same C++ kernels) with ``n_threads=1``.  The kernels are per pixel and
bit-identical for any thread count or layout, so every chunking gives exactly the NumPy result.

Threading model: parallelism comes from the Dask scheduler (threads or worker processes, one per
core), never from OpenMP inside a task; the kernels release the GIL, so the threaded scheduler
uses every core too.  See ``docs/dask.md``.

Functions
---------
index, trend, classify, run_stack
    Lazy (or eager) computations returning :class:`xarray.Dataset`.
open_stack
    Annual GeoTIFFs (or one multi-band file) as a lazy ``(year, y, x)`` stack.
iter_blocks, to_geotiff, to_zarr
    Stream computed chunks to the caller / write GeoTIFF or Zarr outputs.
dask_client, compute, run_scene
    Run through a ``dask.distributed`` cluster (``"local[:N]"`` or a scheduler address).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import operator
import os
import queue
import re
import shutil
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

_INSTALL_HINT = "pip install mlri[dask]"

try:
    import dask
    import dask.array as da
    import xarray as xr
except ImportError as _err:
    _msg = (f"mlri.xarray needs the optional dependencies dask[array], distributed, xarray and "
            f"rioxarray ({_err.name or _err} could not be imported). Install them with: "
            f"{_INSTALL_HINT}")
    raise ImportError(_msg, name=_err.name) from _err

from . import api
from ._validation import as_float_array, default_years

__all__ = [
    "CLASSIFY_OPTIONS",
    "INDEX_OPTIONS",
    "TREND_OPTIONS",
    "TREND_VARS",
    "Block",
    "TimeChunkWarning",
    "classify",
    "compute",
    "dask_client",
    "index",
    "iter_blocks",
    "n_blocks",
    "open_stack",
    "run_scene",
    "run_stack",
    "to_geotiff",
    "to_zarr",
    "trend",
]

#: Trend variables, in the order of :class:`mlri.TrendResult` (and of the bands of trend.tif).
TREND_VARS: tuple[str, ...] = tuple(api.TrendResult._fields)
#: Keyword options of each step (run_stack/run_scene accept all of them).
INDEX_OPTIONS: tuple[str, ...] = ("lst_unit", "evi_min", "evi_policy")
TREND_OPTIONS: tuple[str, ...] = ("hurst_method", "hurst_series", "hurst_ddof", "tau_min", "gap",
                                  "degenerate", "rel_tol", "corrected")
CLASSIFY_OPTIONS: tuple[str, ...] = ("z_crit", "alpha", "min_valid", "zero_slope_direction")

_TIME_DIMS = ("time", "year")
_STACK_VARS: tuple[str, ...] = ("mlri", "dropped", *TREND_VARS, "classes", "flags")
_CLASSIFY_INPUTS = ("n_valid", "s", "var_s", "z", "slope", "hurst")
# Attributes that describe the *values* of an input (its units, scaling, fill value...): they are
# wrong for the outputs and are not copied; every other attribute is kept.
_VALUE_ATTRS = frozenset({
    "units", "unit", "long_name", "standard_name", "description", "_FillValue", "missing_value",
    "nodata", "scale_factor", "add_offset", "valid_min", "valid_max", "valid_range",
    "actual_range", "flag_values", "flag_masks", "flag_meanings", "band_names", "statistics",
    "STATISTICS_MINIMUM", "STATISTICS_MAXIMUM", "STATISTICS_MEAN", "STATISTICS_STDDEV",
})


def _class_attrs() -> dict[str, Any]:
    codes = sorted(api.CLASS_CODES.items(), key=operator.itemgetter(1))
    return {"long_name": "restoration class", "flag_values": [c for _, c in codes],
            "flag_meanings": " ".join(n for n, _ in codes)}


def _flag_attrs() -> dict[str, Any]:
    bits = sorted(api.FLAG_BITS.items(), key=operator.itemgetter(1))
    return {"long_name": "quality flags", "flag_masks": [b for _, b in bits],
            "flag_meanings": " ".join(n for n, _ in bits)}


_VAR_ATTRS: dict[str, dict[str, Any]] = {
    "mlri": {"long_name": "Mine Landscape Restoration Index", "units": "1"},
    "dropped": {"long_name": "years removed by the EVI/LST guard", "units": "count"},
    "n_valid": {"long_name": "number of valid years", "units": "count"},
    "s": {"long_name": "Mann-Kendall S"},
    "var_s": {"long_name": "tie-corrected variance of S"},
    "z": {"long_name": "Mann-Kendall Z (continuity corrected)"},
    "p": {"long_name": "two-sided p-value of the Mann-Kendall test"},
    "slope": {"long_name": "Sen's slope per year"},
    "intercept": {"long_name": "Sen intercept at the first valid year"},
    "hurst": {"long_name": "Hurst exponent (R/S)"},
    "classes": _class_attrs(),
    "flags": _flag_attrs(),
}


class TimeChunkWarning(UserWarning):
    """The time axis was split into several chunks and had to be rechunked (a data shuffle)."""


def _require(module: str) -> Any:
    """Import an optional dependency or raise an ImportError telling how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        msg = f"{module} is required for this mlri.xarray function: {_INSTALL_HINT}"
        raise ImportError(msg, name=module) from err


# --------------------------------------------------------------------------------------------
# Input normalisation
# --------------------------------------------------------------------------------------------

def _as_dataarray(obj: Any, name: str, time_dim: str | None) -> xr.DataArray:
    if isinstance(obj, xr.DataArray):
        return obj
    if isinstance(obj, xr.Dataset):
        if name in obj.data_vars:
            return obj[name]
        msg = f"{name}: got a Dataset without a {name!r} variable; pass a DataArray"
        raise TypeError(msg)
    if isinstance(obj, (np.ndarray, da.Array)):
        dims = [time_dim or "time"]
        dims += ["y", "x"] if obj.ndim == 3 else [f"dim_{i}" for i in range(1, obj.ndim)]
        return xr.DataArray(obj, dims=dims[: obj.ndim])
    msg = f"{name} must be an xarray.DataArray (or a NumPy/Dask array), got {type(obj).__name__}"
    raise TypeError(msg)


def _find_time_dim(arr: xr.DataArray, time_dim: str | None, name: str) -> str:
    if time_dim is not None:
        if time_dim not in arr.dims:
            msg = f"{name} has no dimension {time_dim!r} (its dims are {tuple(arr.dims)})"
            raise ValueError(msg)
        return time_dim
    found = [d for d in _TIME_DIMS if d in arr.dims]
    if len(found) != 1:
        msg = (f"{name}: cannot tell which dimension is time (dims {tuple(arr.dims)}); name it "
               f"'time' or 'year', or pass time_dim=...")
        raise ValueError(msg)
    return str(found[0])


def _years_from(arr: xr.DataArray, tdim: str, years: Any) -> np.ndarray | None:
    """``years`` if given, else the time coordinate (numbers, or datetimes → calendar year)."""
    if years is not None:
        return np.asarray(years, dtype=np.float64)
    if tdim not in arr.coords:
        return None
    coord = arr.coords[tdim]
    if coord.dtype.kind == "M" or coord.dtype == object:
        try:
            yrs = np.asarray(coord.dt.year.values, dtype=np.float64)
        except (AttributeError, TypeError):
            return None
        if yrs.size > 1 and not np.all(np.diff(yrs) > 0):
            msg = (f"the {tdim!r} coordinate has several time steps in one calendar year; mlri "
                   f"expects one composite per year (pass years=[...] explicitly)")
            raise ValueError(msg)
        return yrs
    if coord.dtype.kind in "iuf":
        return np.asarray(coord.values, dtype=np.float64)
    return None


def _is_dask(arr: xr.DataArray) -> bool:
    return isinstance(arr.data, da.Array)


def _one_time_chunk(arr: xr.DataArray, tdim: str, rechunk: bool | None,
                    name: str) -> xr.DataArray:
    """Return ``arr`` (time first) with the whole time axis in one chunk."""
    data = arr.data
    if data.numblocks[0] == 1:
        return arr
    chunks = data.chunks[0]
    if rechunk is False:
        msg = (f"{name}: the time dimension {tdim!r} is split into {len(chunks)} chunks "
               f"{chunks}, but each task needs the whole time series of its pixels. Rechunk "
               f"first, e.g. {name}.chunk({{{tdim!r}: -1}}), or pass rechunk=True")
        raise ValueError(msg)
    if rechunk is None:
        msg = (f"{name}: the time dimension {tdim!r} is split into {len(chunks)} chunks; "
               f"rechunking to one time chunk (a shuffle of the whole stack). Store stacks "
               f"with {tdim}=-1 chunks, or pass rechunk=True to silence this warning")
        warnings.warn(msg, TimeChunkWarning, stacklevel=4)
    spatial: dict[int, Any] = {}
    # Merging the time chunks multiplies the chunk size by their number: if that exceeds
    # dask's array.chunk-size, let dask pick (multiples of) the spatial chunks that fit.
    limit = dask.utils.parse_bytes(dask.config.get("array.chunk-size"))
    nbytes = data.shape[0] * data.dtype.itemsize * int(np.prod([max(c) for c in data.chunks[1:]]))
    if nbytes > 2 * limit:
        spatial = dict.fromkeys(range(1, data.ndim), "auto")
    return arr.copy(data=data.rechunk({0: -1, **spatial}))


def _prepare_stack(obj: Any, name: str, time_dim: str | None,
                   rechunk: bool | None) -> tuple[xr.DataArray, str]:
    arr = _as_dataarray(obj, name, time_dim)
    tdim = _find_time_dim(arr, time_dim, name)
    arr = arr.transpose(tdim, ...)
    if _is_dask(arr):
        arr = _one_time_chunk(arr, tdim, rechunk, name)
    return arr, tdim


def _kept_attrs(attrs: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
    return {k: v for k, v in attrs.items() if k not in _VALUE_ATTRS}


def _wrap(data: Any, template: xr.DataArray, dims: Sequence[Hashable], name: str,
          keep: Mapping[Hashable, Any]) -> xr.DataArray:
    """A DataArray on ``dims`` with the template's coords (those on ``dims``) and attrs."""
    dimset = set(dims)
    coords = {k: v for k, v in template.coords.items() if set(v.dims) <= dimset}
    out = xr.DataArray(data, dims=tuple(dims), coords=coords, name=name,
                       attrs={**keep, **_VAR_ATTRS.get(name, {})})
    # rioxarray/CF: the CRS lives in a scalar coordinate (``spatial_ref``) that variables name
    # in ``grid_mapping``; keeping the link makes the CRS survive to_zarr/to_netcdf.
    gm = template.encoding.get("grid_mapping", template.attrs.get("grid_mapping"))
    if gm is None and "spatial_ref" in template.coords:
        gm = "spatial_ref"
    if gm is not None and gm in coords:
        out.encoding["grid_mapping"] = gm
    return out


def _dataset(variables: Mapping[str, xr.DataArray], keep: Mapping[Hashable, Any],
             provenance: Mapping[str, Any]) -> xr.Dataset:
    ds = xr.Dataset(dict(variables), attrs=dict(keep))
    ds.attrs["mlri_version"] = _version()
    ds.attrs["mlri_options"] = json.dumps(provenance, sort_keys=True, default=_jsonable)
    return ds


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def _version() -> str:
    from ._version import __version__

    return __version__


def _split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    groups: tuple[dict[str, Any], ...] = ({}, {}, {})
    for k, v in options.items():
        for g, names in zip(groups, (INDEX_OPTIONS, TREND_OPTIONS, CLASSIFY_OPTIONS), strict=True):
            if k in names:
                g[k] = v
                break
        else:
            allowed = ", ".join((*INDEX_OPTIONS, *TREND_OPTIONS, *CLASSIFY_OPTIONS))
            msg = f"unknown option {k!r}; the statistics options are: {allowed}"
            raise TypeError(msg)
    return groups


def _task_threads(n_threads: int | None, lazy: bool) -> int | None:
    """OpenMP threads per call: the caller's choice, else all cores eagerly and 1 in a task."""
    if n_threads is not None:
        return n_threads
    return 1 if lazy else None


# --------------------------------------------------------------------------------------------
# Block functions (module level, so that distributed workers can unpickle them)
# --------------------------------------------------------------------------------------------

def _index_block(lst: np.ndarray, evi: np.ndarray, *, years: np.ndarray | None,
                 options: dict[str, Any], n_threads: int | None) -> tuple[np.ndarray, ...]:
    r = api.index(lst, evi, years, **options, n_threads=n_threads)
    return r.mlri, np.asarray(r.dropped)


def _trend_block(series: np.ndarray, *, years: np.ndarray | None, options: dict[str, Any],
                 n_threads: int | None) -> tuple[np.ndarray, ...]:
    r = api.trend(series, years, **options, n_threads=n_threads)
    return tuple(np.asarray(v) for v in r)


def _classify_block(n_valid: np.ndarray, s: np.ndarray, var_s: np.ndarray, z: np.ndarray,
                    slope: np.ndarray, hurst: np.ndarray, dropped: np.ndarray | None = None, *,
                    options: dict[str, Any], n_threads: int | None) -> tuple[np.ndarray, ...]:
    # classify() reads n_valid, s, var_s, z, slope and hurst only.
    res = api.TrendResult(n_valid, s, var_s, z, None, slope, None, hurst)  # type: ignore[arg-type]
    cls, flags = api.classify(res, dropped=dropped, **options, n_threads=n_threads)
    return np.asarray(cls), np.asarray(flags)


def _stack_block(lst: np.ndarray, evi: np.ndarray, *, years: np.ndarray | None,
                 index_options: dict[str, Any], trend_options: dict[str, Any],
                 classify_options: dict[str, Any],
                 n_threads: int | None) -> tuple[np.ndarray, ...]:
    """index → trend → classify on one block: exactly the NumPy path, fused in one task."""
    r = api.index(lst, evi, years, **index_options, n_threads=n_threads)
    t = api.trend(r.mlri, years, **trend_options, n_threads=n_threads)
    cls, flags = api.classify(t, dropped=r.dropped, **classify_options, n_threads=n_threads)
    return (r.mlri, np.asarray(r.dropped), *(np.asarray(v) for v in t), np.asarray(cls),
            np.asarray(flags))


def _multi_map_blocks(func: Callable[..., tuple[np.ndarray, ...]], arrays: Sequence[da.Array],
                      outputs: Sequence[tuple[str, np.dtype, bool]], *, time_in: bool,
                      n_time: int, token: str) -> list[da.Array]:
    """One task per spatial block computes every output; cheap getitem tasks split them.

    ``arrays`` are ``(time, *spatial)`` when ``time_in`` else ``(*spatial)``; each output is
    ``(name, dtype, has_time)``.  (This is what ``dask.array.apply_gufunc`` does for several
    outputs, without moving the time axis last: the blocks reach the kernels C-contiguous.)
    """
    nsp = arrays[0].ndim - (1 if time_in else 0)
    ref = max(arrays, key=lambda a: a.npartitions)          # align blocks on the finest input
    arrays = [a.rechunk(ref.chunks) for a in arrays]
    carrier = da.map_blocks(func, *arrays, drop_axis=0 if time_in else None,
                            meta=np.empty((0,) * nsp, dtype=object), token=token)
    outs = []
    for i, (name, dtype, has_time) in enumerate(outputs):
        if has_time:
            out = carrier.map_blocks(operator.getitem, i, new_axis=0,
                                     chunks=((n_time,), *carrier.chunks),
                                     meta=np.empty((0,) * (nsp + 1), dtype=dtype),
                                     token=f"mlri-{name}")
        else:
            out = carrier.map_blocks(operator.getitem, i, meta=np.empty((0,) * nsp, dtype=dtype),
                                     token=f"mlri-{name}")
        outs.append(out)
    return outs


# --------------------------------------------------------------------------------------------
# Public computations
# --------------------------------------------------------------------------------------------

def index(lst: Any, evi: Any, years: Any = None, *, time_dim: str | None = None,
          lst_unit: str = "K", evi_min: float = 0.0, evi_policy: str = "mask",
          rechunk: bool | None = None, n_threads: int | None = None) -> xr.Dataset:
    """MLRI per pixel and year, as :func:`mlri.index`, on DataArrays.

    Parameters
    ----------
    lst, evi : xarray.DataArray
        Stacks with a ``time`` or ``year`` dimension (or ``time_dim``) and the same shape and
        coordinates; NumPy- or Dask-backed.
    years : sequence of float, optional
        Only validated; default from the time coordinate.
    time_dim : str, optional
        Name of the time dimension (default: whichever of ``time``/``year`` exists).
    lst_unit, evi_min, evi_policy
        As :func:`mlri.index`.  With Dask, the °C/K plausibility check runs per chunk.
    rechunk : bool or None
        When the time axis of a Dask input is split into several chunks: None (default)
        rechunks it with a :class:`TimeChunkWarning`, True rechunks silently, False raises.
    n_threads : int, optional
        OpenMP threads per kernel call: default all cores (NumPy input) or 1 per task (Dask).

    Returns
    -------
    xarray.Dataset
        ``mlri`` (time and spatial dims, dtype of the inputs) and ``dropped`` (int32, spatial);
        lazy for Dask inputs.  Coordinates (including rioxarray's ``spatial_ref``, i.e. the CRS)
        and attributes are kept, except attributes describing the input values (units, scaling,
        fill value).
    """
    lst_a, tdim = _prepare_stack(lst, "lst", time_dim, rechunk)
    evi_a, _ = _prepare_stack(evi, "evi", tdim, rechunk)
    lst_a, evi_a = _align(lst_a, evi_a)
    yrs = _years_from(lst_a, tdim, years)
    opts = {"lst_unit": lst_unit, "evi_min": evi_min, "evi_policy": evi_policy}
    lazy = _is_dask(lst_a) or _is_dask(evi_a)
    nt = _task_threads(n_threads, lazy)
    sdims = lst_a.dims[1:]
    keep = _kept_attrs(lst_a.attrs)
    if not lazy:
        r = api.index(np.asarray(lst_a.data), np.asarray(evi_a.data), yrs, **opts, n_threads=nt)
        data = {"mlri": r.mlri, "dropped": np.asarray(r.dropped)}
    else:
        probe = _probe_index(lst_a, evi_a, yrs, opts)
        ldata, edata = _dask_data(lst_a), _dask_data(evi_a)
        outs = _multi_map_blocks(
            partial(_index_block, years=yrs, options=opts, n_threads=nt), [ldata, edata],
            [("mlri", probe.mlri.dtype, True), ("dropped", np.dtype(np.int32), False)],
            time_in=True, n_time=lst_a.shape[0], token="mlri-index")
        data = dict(zip(("mlri", "dropped"), outs, strict=True))
    variables = {"mlri": _wrap(data["mlri"], lst_a, lst_a.dims, "mlri", keep),
                 "dropped": _wrap(data["dropped"], lst_a, sdims, "dropped", keep)}
    return _dataset(variables, keep, {"step": "index", "years": yrs, **opts})


def trend(series: Any, years: Any = None, *, time_dim: str | None = None,
          rechunk: bool | None = None, n_threads: int | None = None,
          **options: Any) -> xr.Dataset:
    """Fused Mann-Kendall / Sen / Hurst trend, as :func:`mlri.trend`, on a DataArray.

    Parameters
    ----------
    series : xarray.DataArray or xarray.Dataset
        A ``(time|year, ...)`` stack, e.g. the ``mlri`` variable of :func:`index` (a Dataset
        with an ``mlri`` variable is accepted).
    years : sequence of float, optional
        Default: the time coordinate (numbers, or datetimes → calendar year); else the paper's
        years for 19 steps.
    time_dim, rechunk, n_threads
        As :func:`index`.
    **options
        ``hurst_method``, ``hurst_series``, ``hurst_ddof``, ``tau_min``, ``gap``,
        ``degenerate``, ``rel_tol``, ``corrected`` (see :func:`mlri.trend`).

    Returns
    -------
    xarray.Dataset
        Variables :data:`TREND_VARS` on the spatial dims (``n_valid`` int32, others float64).
    """
    _check_names(options, TREND_OPTIONS)
    arr, tdim = _prepare_stack(series, "mlri", time_dim, rechunk)
    yrs = _years_from(arr, tdim, years)
    if yrs is None:
        yrs = default_years(arr.shape[0])
    lazy = _is_dask(arr)
    nt = _task_threads(n_threads, lazy)
    sdims = arr.dims[1:]
    keep = _kept_attrs(arr.attrs)
    if not lazy:
        r = api.trend(np.asarray(arr.data), yrs, **options, n_threads=nt)
        data: dict[str, Any] = {k: np.asarray(v) for k, v in zip(TREND_VARS, r, strict=True)}
    else:
        probe = api.trend(np.full((arr.shape[0], 1), np.nan, dtype=_float_dtype(arr.dtype)),
                          yrs, **options, n_threads=1)
        outs = _multi_map_blocks(
            partial(_trend_block, years=yrs, options=dict(options), n_threads=nt),
            [_dask_data(arr)],
            [(k, np.asarray(v).dtype, False) for k, v in zip(TREND_VARS, probe, strict=True)],
            time_in=True, n_time=arr.shape[0], token="mlri-trend")
        data = dict(zip(TREND_VARS, outs, strict=True))
    variables = {k: _wrap(data[k], arr, sdims, k, keep) for k in TREND_VARS}
    return _dataset(variables, keep, {"step": "trend", "years": yrs, **options})


def classify(result: xr.Dataset, *, dropped: Any = None, n_threads: int | None = None,
             **options: Any) -> xr.Dataset:
    """Restoration classes and flag bits, as :func:`mlri.classify`, on a trend Dataset.

    Parameters
    ----------
    result : xarray.Dataset
        From :func:`trend` (needs ``n_valid, s, var_s, z, slope, hurst``).
    dropped : xarray.DataArray, optional
        ``dropped`` from :func:`index`; default ``result["dropped"]`` when present.
    n_threads : int, optional
        As :func:`index`.
    **options
        ``z_crit``, ``alpha``, ``min_valid``, ``zero_slope_direction``.

    Returns
    -------
    xarray.Dataset
        ``classes`` and ``flags`` (uint8, CF ``flag_values``/``flag_masks`` attributes).
    """
    _check_names(options, CLASSIFY_OPTIONS)
    if not isinstance(result, xr.Dataset) or any(k not in result for k in _CLASSIFY_INPUTS):
        msg = ("result must be the Dataset returned by mlri.xarray.trend() (variables "
               f"{', '.join(_CLASSIFY_INPUTS)})")
        raise TypeError(msg)
    if dropped is None and "dropped" in result:
        dropped = result["dropped"]
    ins = [result[k] for k in _CLASSIFY_INPUTS]
    if dropped is not None:
        ins.append(_as_dataarray(dropped, "dropped", None))
    ins = list(xr.align(*ins, join="exact"))
    template = ins[0]
    lazy = any(_is_dask(a) for a in ins)
    nt = _task_threads(n_threads, lazy)
    keep = _kept_attrs(result.attrs)
    # Validate the options now, not inside the tasks.
    one = np.ones(1)
    _classify_block(one.astype(np.int32), one, one, one, one, one, None, options=options,
                    n_threads=1)
    if not lazy:
        cls, flags = _classify_block(*(np.asarray(a.data) for a in ins), options=options,
                                     n_threads=nt)
        data: dict[str, Any] = {"classes": cls, "flags": flags}
    else:
        arrays = [a.data if _is_dask(a) else da.from_array(np.asarray(a.data)) for a in ins]
        outs = _multi_map_blocks(
            partial(_classify_block, options=dict(options), n_threads=nt), arrays,
            [("classes", np.dtype(np.uint8), False), ("flags", np.dtype(np.uint8), False)],
            time_in=False, n_time=0, token="mlri-classify")
        data = dict(zip(("classes", "flags"), outs, strict=True))
    variables = {k: _wrap(data[k], template, template.dims, k, keep) for k in ("classes", "flags")}
    return _dataset(variables, keep, {"step": "classify", **options})


def run_stack(lst: Any, evi: Any, years: Any = None, *, time_dim: str | None = None,
              chunks: Any = None, rechunk: bool | None = None, n_threads: int | None = None,
              **stat_options: Any) -> xr.Dataset:
    """The whole per-pixel pipeline: index → trend → classify, fused into one task per chunk.

    Parameters
    ----------
    lst, evi : xarray.DataArray
        Annual LST and EVI stacks (see :func:`index`), e.g. from :func:`open_stack`.
    years : sequence of float, optional
        Default from the time coordinate (see :func:`trend`).
    time_dim : str, optional
        Name of the time dimension.
    chunks : int, tuple or dict, optional
        Spatial chunking to apply first (an int for every spatial dim, ``(cy, cx)``, or
        ``{dim: size}``); makes NumPy inputs lazy.  Default: keep the inputs' chunking.
    rechunk, n_threads
        As :func:`index`.
    **stat_options
        Any option of :data:`INDEX_OPTIONS`, :data:`TREND_OPTIONS`, :data:`CLASSIFY_OPTIONS`.

    Returns
    -------
    xarray.Dataset
        ``mlri``, ``dropped``, the :data:`TREND_VARS`, ``classes`` and ``flags``, equal bit for
        bit to ``mlri.index`` → ``mlri.trend`` → ``mlri.classify`` on NumPy arrays, for any
        chunking.  Lazy when the inputs are Dask-backed or ``chunks`` is given.
    """
    iopts, topts, copts = _split_options(stat_options)
    lst_d = _as_dataarray(lst, "lst", time_dim)
    tdim = _find_time_dim(lst_d, time_dim, "lst")
    evi_d = _as_dataarray(evi, "evi", tdim)
    if chunks is not None:
        lst_d, evi_d = (_apply_chunks(a, tdim, chunks) for a in (lst_d, evi_d))
    lst_a, _ = _prepare_stack(lst_d, "lst", tdim, rechunk)
    evi_a, _ = _prepare_stack(evi_d, "evi", tdim, rechunk)
    lst_a, evi_a = _align(lst_a, evi_a)
    yrs = _years_from(lst_a, tdim, years)
    if yrs is None:
        yrs = default_years(lst_a.shape[0])
    lazy = _is_dask(lst_a) or _is_dask(evi_a)
    nt = _task_threads(n_threads, lazy)
    block = partial(_stack_block, years=yrs, index_options=iopts, trend_options=topts,
                    classify_options=copts, n_threads=nt)
    if not lazy:
        data: dict[str, Any] = dict(zip(_STACK_VARS, block(np.asarray(lst_a.data),
                                                           np.asarray(evi_a.data)), strict=True))
    else:
        probe = _probe_index(lst_a, evi_a, yrs, iopts)
        tprobe = api.trend(probe.mlri, yrs, **topts, n_threads=1)
        _classify_block(*(np.asarray(getattr(tprobe, k)) for k in _CLASSIFY_INPUTS),
                        options=copts, n_threads=1)
        outs_spec = [("mlri", probe.mlri.dtype, True), ("dropped", np.dtype(np.int32), False)]
        outs_spec += [(k, np.asarray(getattr(tprobe, k)).dtype, False) for k in TREND_VARS]
        outs_spec += [("classes", np.dtype(np.uint8), False), ("flags", np.dtype(np.uint8), False)]
        outs = _multi_map_blocks(block, [_dask_data(lst_a), _dask_data(evi_a)], outs_spec,
                                 time_in=True, n_time=lst_a.shape[0], token="mlri-stack")
        data = dict(zip(_STACK_VARS, outs, strict=True))
    keep = _kept_attrs(lst_a.attrs)
    sdims = lst_a.dims[1:]
    variables = {k: _wrap(data[k], lst_a, lst_a.dims if k == "mlri" else sdims, k, keep)
                 for k in _STACK_VARS}
    return _dataset(variables, keep, {"step": "run_stack", "years": yrs, **stat_options})


def _check_names(options: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for k in options:
        if k not in allowed:
            msg = f"unknown option {k!r}; expected one of: {', '.join(allowed)}"
            raise TypeError(msg)


def _float_dtype(dtype: np.dtype) -> np.dtype:
    """The float dtype the numerical API computes in for inputs of ``dtype``."""
    return as_float_array(np.zeros(0, dtype=dtype), "x").dtype


def _probe_index(lst: xr.DataArray, evi: xr.DataArray, yrs: np.ndarray | None,
                 opts: Mapping[str, Any]) -> api.IndexResult:
    """Validate the options (and get the output dtype) on one plausible pixel, before any task."""
    n = lst.shape[0]
    fill = 27.0 if opts.get("lst_unit") == "C" else 300.0
    pl = np.full((n, 1), fill).astype(_float_dtype(lst.dtype))
    pe = np.full((n, 1), 0.5).astype(_float_dtype(evi.dtype))
    return api.index(pl, pe, yrs, **opts, n_threads=1)


def _dask_data(arr: xr.DataArray) -> da.Array:
    return arr.data if _is_dask(arr) else da.from_array(np.asarray(arr.data),
                                                        chunks=(-1,) * arr.ndim)


def _align(a: xr.DataArray, b: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    if a.dims != b.dims or a.shape != b.shape:
        msg = (f"lst and evi must have the same dims and shape, got {dict(a.sizes)} and "
               f"{dict(b.sizes)}")
        raise ValueError(msg)
    try:
        a2, b2 = xr.align(a, b, join="exact")
    except ValueError as err:
        msg = f"lst and evi have different coordinates (years or grid): {err}"
        raise ValueError(msg) from err
    return a2, b2


def _apply_chunks(arr: xr.DataArray, tdim: str, chunks: Any) -> xr.DataArray:
    sdims = [d for d in arr.dims if d != tdim]
    if isinstance(chunks, Mapping):
        spec = {d: chunks.get(d, -1) for d in sdims}
    elif isinstance(chunks, (tuple, list)):
        if len(chunks) != len(sdims):
            msg = f"chunks={chunks!r} must give one size per spatial dim {tuple(sdims)}"
            raise ValueError(msg)
        spec = dict(zip(sdims, chunks, strict=True))
    else:
        spec = dict.fromkeys(sdims, chunks)
    return arr.chunk({tdim: -1, **spec})


# --------------------------------------------------------------------------------------------
# Input: annual GeoTIFFs as a lazy stack
# --------------------------------------------------------------------------------------------

_YEAR_RE = re.compile(r"(?<!\d)(1[89]\d\d|2[01]\d\d)(?!\d)")


def _year_in(text: str) -> int | None:
    found = _YEAR_RE.findall(text)
    return int(found[-1]) if found else None


def _expand_source(source: Any) -> list[Any]:
    """Local files as ``Path``; URLs and GDAL ``/vsi...`` paths kept as given (GDAL reads them)."""
    from ._cloud import is_url

    if not isinstance(source, (str, os.PathLike)):
        paths = [p if is_url(p) else Path(p) for p in source]
        if not paths:
            msg = f"no raster found for {source!r}"
            raise FileNotFoundError(msg)
        return paths
    if is_url(source):
        return [os.fspath(source)]
    s = os.fspath(source)
    if any(ch in s for ch in "*?["):
        p = Path(s)
        paths = sorted(p.parent.glob(p.name))
    elif Path(s).is_dir():
        paths = sorted(q for q in Path(s).iterdir()
                       if q.suffix.lower() in (".tif", ".tiff", ".vrt"))
    else:
        paths = [Path(s)]
    if not paths:
        msg = f"no raster found for {source!r}"
        raise FileNotFoundError(msg)
    return paths


def open_stack(source: Any, *, years: Any = None, dim: str = "year", chunks: Any = 512,
               band: int = 1, masked: bool = True, lock: Any = False) -> xr.DataArray:
    """Open annual rasters as a lazy ``(dim, y, x)`` Dask-backed DataArray.

    Parameters
    ----------
    source : path, glob or sequence of paths
        One file per year (``LST_2005.tif``...: the year is the last stand-alone 4-digit
        number 1800-2199 in the file name), a folder of them, a glob such as
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
        Nodata → NaN (float output), as ``rioxarray.open_rasterio(masked=True)``.
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
            arr = arr.rename({"band": dim}).assign_coords({dim: yrs})
            return _finish_stack(arr.sortby(dim), dim, chunks)
    yrs = _stack_years(years, [os.fspath(p).split("?", 1)[0].rsplit("/", 1)[-1]
                               for p in paths], "file names")
    _check_same_grid(paths)
    layers = []
    for p in paths:
        a = rioxarray.open_rasterio(p, masked=masked, lock=lock, chunks=_rio_chunks(chunks, 1))
        layers.append(a.sel(band=band, drop=True))
    arr = xr.concat(layers, dim=dim, join="exact", combine_attrs="drop_conflicts")
    arr = arr.assign_coords({dim: yrs}).sortby(dim)
    return _finish_stack(arr, dim, chunks)


def _stack_years(years: Any, labels: Sequence[str], where: str) -> np.ndarray:
    if years is not None:
        yrs = np.asarray(years)
        if yrs.shape != (len(labels),):
            msg = f"years has {yrs.size} entries but there are {len(labels)} {where}"
            raise ValueError(msg)
    else:
        found = [_year_in(s) for s in labels]
        missing = [s for s, y in zip(labels, found, strict=True) if y is None]
        if missing:
            msg = (f"cannot find a year in the {where}: {missing[:3]}; name files like "
                   f"LST_2005.tif (or set band descriptions such as '2005'), or pass years=[...]")
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


# --------------------------------------------------------------------------------------------
# Streaming results and writing outputs
# --------------------------------------------------------------------------------------------

class Block(NamedTuple):
    """One computed chunk of one variable: ``data`` goes at ``ds[name][index]``."""

    name: str
    index: tuple[slice, ...]
    data: np.ndarray


class _Cancelled(Exception):
    pass


_DONE = object()


class _QueueTarget:
    """``dask.array.store`` target that hands each stored chunk to the consuming thread."""

    def __init__(self, name: str, q: queue.Queue[Any], stop: threading.Event) -> None:
        self.name, self.q, self.stop = name, q, stop

    def __setitem__(self, key: tuple[slice, ...], value: np.ndarray) -> None:
        item = Block(self.name, tuple(key), np.asarray(value))
        while True:
            if self.stop.is_set():
                raise _Cancelled
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue


def _active_client(client: Any) -> Any:
    if client is not None:
        return client
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def _block_slices(chunks: tuple[tuple[int, ...], ...]) -> list[tuple[slice, ...]]:
    starts = [np.concatenate([[0], np.cumsum(c)]) for c in chunks]
    out = []
    for idx in np.ndindex(*[len(c) for c in chunks]):
        out.append(tuple(slice(int(s[i]), int(s[i + 1]))
                         for s, i in zip(starts, idx, strict=True)))
    return out


def n_blocks(ds: xr.Dataset) -> int:
    """Number of :class:`Block` items :func:`iter_blocks` yields for ``ds``."""
    return sum(int(np.prod(v.data.numblocks)) if _is_dask(v) else 1
               for v in ds.data_vars.values())


def iter_blocks(ds: xr.Dataset, *, client: Any = None, queue_size: int = 8) -> Iterator[Block]:
    """Compute ``ds`` and yield its chunks as they finish, without holding the whole result.

    The hook for a single writer process (GeoTIFF, the tiled pipeline's output writer):
    ``for name, index, data in iter_blocks(ds): out[name][index] = data``.  Blocks arrive in
    completion order.

    Parameters
    ----------
    ds : xarray.Dataset
        E.g. from :func:`run_stack`.  NumPy-backed variables are yielded whole.
    client : distributed.Client, optional
        Default: the current default client, if any; otherwise Dask's local scheduler (threads).
        With a client, tasks run on the cluster and only finished chunks travel back here.
    queue_size : int
        Local scheduler only: chunks waiting for the consumer before tasks are held back.
    """
    lazy = {k: v.data for k, v in ds.data_vars.items() if _is_dask(v)}
    for k, v in ds.data_vars.items():
        if k not in lazy:
            yield Block(str(k), tuple(slice(0, n) for n in v.shape), np.asarray(v.data))
    if not lazy:
        return
    cl = _active_client(client)
    if cl is not None:
        yield from _iter_distributed(lazy, cl)
    else:
        yield from _iter_local(lazy, queue_size)


def _iter_distributed(arrays: Mapping[Hashable, da.Array], client: Any) -> Iterator[Block]:
    from distributed import as_completed, futures_of

    where: dict[Any, list[tuple[str, tuple[slice, ...]]]] = {}
    for name, arr in arrays.items():
        blocks = zip(np.ndindex(*arr.numblocks), _block_slices(arr.chunks), strict=True)
        for idx, sl in blocks:
            where.setdefault((arr.name, *idx), []).append((str(name), sl))
    persisted = client.persist(list(arrays.values()))
    futures = {f.key: f for f in futures_of(persisted)}
    del persisted
    try:
        for fut, result in as_completed(list(futures.values()), with_results=True):
            futures.pop(fut.key, None)
            for name, sl in where[fut.key]:
                yield Block(name, sl, np.asarray(result))
            del fut, result
    finally:
        if futures:
            client.cancel(list(futures.values()))


def _iter_local(arrays: Mapping[Hashable, da.Array], queue_size: int) -> Iterator[Block]:
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, queue_size))
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            targets = [_QueueTarget(str(k), q, stop) for k in arrays]
            da.store(list(arrays.values()), targets, lock=False, compute=True)
        except BaseException as err:  # noqa: BLE001 - re-raised in the consumer
            errors.append(err)
        finally:
            while True:
                try:
                    q.put(_DONE, timeout=0.1)
                    break
                except queue.Full:
                    if stop.is_set():
                        break

    worker = threading.Thread(target=run, name="mlri-iter-blocks", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                break
            yield item
        if errors:
            raise errors[0]
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                q.get_nowait()
        worker.join()


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
    trend_vars = [k for k in TREND_VARS if k in names]
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

    from ._outputs import atomic_raster, check_output_dir, raster_profile

    ydim, xdim = _spatial_dims(ds)
    for k, v in ds.data_vars.items():
        if v.dims[-2:] != (ydim, xdim) or v.ndim > 3:
            msg = f"variable {k!r} has dims {v.dims}; GeoTIFF output needs (..., {ydim}, {xdim})"
            raise ValueError(msg)
    crs, transform = _georef(ds, ydim, xdim)
    groups = _raster_groups(ds)
    out = check_output_dir(out_dir, groups, overwrite=overwrite)
    height, width = ds.sizes[ydim], ds.sizes[xdim]
    # Band layout: variable -> (file, first band).
    first_band: dict[str, tuple[str, int]] = {}
    paths: dict[str, Path] = {}
    with contextlib.ExitStack() as stack:
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
            paths[fname] = out / fname
            dst = stack.enter_context(atomic_raster(
                out / fname, prof, cog=cog,
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
        tags.update({f"class_{c}": n for n, c in api.CLASS_CODES.items()})
    if fname == "flags.tif":
        tags.update({f"flag_bit_{b}": n for n, b in api.FLAG_BITS.items()})
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
    from ._outputs import OutputExistsError

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


# --------------------------------------------------------------------------------------------
# dask.distributed
# --------------------------------------------------------------------------------------------

def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return os.cpu_count() or 1


def _parse_local(spec: str) -> int | None:
    m = re.fullmatch(r"local(?::(\d+))?", spec.strip())
    if m is None:
        return None
    n = int(m.group(1)) if m.group(1) else _usable_cores()
    if n < 1:
        msg = f"scheduler {spec!r}: the number of workers must be >= 1"
        raise ValueError(msg)
    return n


@contextlib.contextmanager
def dask_client(scheduler: str | None = "local", *, processes: bool = True,
                **cluster_kwargs: Any) -> Iterator[Any]:
    """Connect to (or start) a ``dask.distributed`` cluster for the duration of a ``with`` block.

    Parameters
    ----------
    scheduler : str or None
        ``"local"`` → a LocalCluster with one single-threaded worker per usable core;
        ``"local:N"`` → N workers; an address (``"tcp://10.0.0.5:8786"``, ``"host:8786"``) →
        connect to a running scheduler (workers there should use ``--nthreads 1`` and one
        worker per core); None → no cluster (yields None: Dask's local threaded scheduler).
    processes : bool
        LocalCluster workers as processes (default) or threads.
    **cluster_kwargs
        Passed to :class:`distributed.LocalCluster` (e.g. ``memory_limit``).

    The LocalCluster listens on 127.0.0.1 only and has no dashboard unless
    ``dashboard_address`` is given.  Cluster and client are closed on exit, also on errors.
    Inside tasks the kernels run with one OpenMP thread: parallelism is one task per worker.
    """
    if scheduler is None:
        yield None
        return
    distributed = _require("distributed")
    n = _parse_local(scheduler)
    if n is None:
        with distributed.Client(scheduler, set_as_default=True) as client:
            yield client
        return
    kw: dict[str, Any] = {"n_workers": n, "threads_per_worker": 1, "processes": processes,
                          "host": "127.0.0.1", "dashboard_address": None}
    kw.update(cluster_kwargs)
    with distributed.LocalCluster(**kw) as cluster, distributed.Client(cluster) as client:
        yield client


def compute(ds: xr.Dataset, scheduler: str | None = None, *, client: Any = None) -> xr.Dataset:
    """Compute a lazy Dataset into NumPy arrays (equal bit for bit to the NumPy path).

    Parameters
    ----------
    ds : xarray.Dataset
        E.g. from :func:`run_stack`.
    scheduler : str or None
        Where to run when no ``client`` is given (see :func:`dask_client`); None = the current
        default (a default distributed client if there is one, else local threads).
    client : distributed.Client, optional
        An existing client.

    Notes
    -----
    The chunks are streamed into preallocated arrays (:func:`iter_blocks`) instead of
    ``client.compute(ds).result()``, which concatenates every output on one worker and ships
    it whole: on a 2-worker LocalCluster that costs about a third more CPU.
    """
    ctx = contextlib.nullcontext(client) if client is not None else dask_client(scheduler)
    with ctx as cl:
        out = {k: np.empty(v.shape, dtype=v.dtype) for k, v in ds.data_vars.items()}
        for name, index, data in iter_blocks(ds, client=cl):
            out[name][index] = data
    return ds.copy(data=out)


def run_scene(lst: Any, evi: Any, out_dir: str | os.PathLike[str], *, years: Any = None,
              scheduler: str | None = "local", chunks: Any = 512, overwrite: bool = False,
              cog: bool = True, fmt: str = "geotiff", progress: bool = False,
              manifest: bool = True, **stat_options: Any) -> dict[str, Path]:
    """Run the per-pixel pipeline on a scene through a Dask cluster and write the outputs.

    Parameters
    ----------
    lst, evi : DataArray, path, glob or sequence of paths
        Stacks, or anything :func:`open_stack` accepts.
    out_dir : path
        Output folder: ``mlri.tif``, ``trend.tif``, ``classes.tif``, ``flags.tif``,
        ``dropped.tif`` (``fmt="geotiff"``) or ``mlri.zarr`` (``fmt="zarr"``), and
        ``manifest.json``.
    years : sequence of int, optional
        Default: from the file names / time coordinate.
    scheduler : str or None
        See :func:`dask_client` (``"local"``, ``"local:N"``, an address, or None).
    chunks : int or tuple
        Spatial chunk size (pixels) of each task.
    overwrite, cog, progress
        See :func:`to_geotiff`.
    **stat_options
        Options of the statistics (see :func:`run_stack`).

    Returns
    -------
    dict
        Output name → path.
    """
    from ._outputs import build_manifest, check_output_dir, write_json

    if fmt not in ("geotiff", "zarr"):
        msg = f"fmt must be 'geotiff' or 'zarr', got {fmt!r}"
        raise ValueError(msg)
    started = time.time()
    inputs: list[str] = []
    stacks = []
    for src in (lst, evi):
        if isinstance(src, xr.DataArray):
            stacks.append(src)
        else:
            inputs += [os.fspath(p) for p in _expand_source(src)]
            stacks.append(open_stack(src, chunks=chunks))
    ds = run_stack(stacks[0], stacks[1], years, chunks=chunks, rechunk=True, **stat_options)
    out = Path(out_dir)
    if manifest:
        check_output_dir(out, ["manifest.json"], overwrite=overwrite)
    with dask_client(scheduler) as client:
        if fmt == "geotiff":
            paths = to_geotiff(ds, out, overwrite=overwrite, client=client, cog=cog,
                               progress=progress)
        else:
            out.mkdir(parents=True, exist_ok=True)
            paths = {"mlri.zarr": to_zarr(ds, out / "mlri.zarr", overwrite=overwrite)}
        n_workers = len(client.scheduler_info().get("workers", {})) if client else None
    if manifest:
        params = {"years": json.loads(ds.attrs["mlri_options"]).get("years"),
                  "scheduler": scheduler, "chunks": chunks, "fmt": fmt, **stat_options}
        man = build_manifest(command="mlri.xarray.run_scene", parameters=params, inputs=inputs,
                             outputs=[os.fspath(p) for p in paths.values()], started=started,
                             extra={"dask": {"scheduler": scheduler, "n_workers": n_workers,
                                             "threads_per_task": 1}})
        paths["manifest.json"] = write_json(out / "manifest.json", man)
    return paths
