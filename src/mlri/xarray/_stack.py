"""Normalisation of DataArray inputs, block functions and the lazy computations."""

from __future__ import annotations

import json
import operator
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from .. import api
from .._cluster import require
from .._validation import as_float_array, default_years, years_array
from ..classes import CLASSES, FLAGS
from ..products import ONSET_BANDS
from ..recipe import (
    CLASSIFY_OPTIONS,
    TREND_OPTIONS,
    Options,
    Recipe,
    compute_block,
)
from ._mappass import first_pass

_INSTALL_HINT = "pip install mlri[dask]"


#: Trend variables, in the order of :class:`mlri.TrendResult` (and of the bands of trend.tif).
TREND_VARS: tuple[str, ...] = tuple(api.TrendResult._fields)
# INDEX_OPTIONS, TREND_OPTIONS, CLASSIFY_OPTIONS (keyword options of each step; run_stack and
# run_scene accept all of them and SIGNIFICANCE_OPTIONS) come from mlri.recipe.

_TIME_DIMS = ("time", "year")
#: Sen's slope interval of the MLRI (bands sen_low, sen_high of trend.tif), from run_stack.
INTERVAL_VARS: tuple[str, ...] = ("sen_low", "sen_high")
_STACK_VARS: tuple[str, ...] = ("mlri", "dropped", *TREND_VARS, "classes", "flags",
                                *INTERVAL_VARS)
_PVALUE_VARS: tuple[str, ...] = ("p_increase", "p_decrease")
#: With ``onset=True``: the bands of onset.tif (mlri.products.ONSET_BANDS), prefixed.
ONSET_VARS: tuple[str, ...] = ("onset", "onset_break_year", "onset_p", "onset_rate",
                               "onset_magnitude", "onset_n_valid")
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
    return {"long_name": "restoration class", "flag_values": [c.code for c in CLASSES],
            "flag_meanings": " ".join(c.name for c in CLASSES)}


def _flag_attrs() -> dict[str, Any]:
    return {"long_name": "quality flags", "flag_masks": [f.bit for f in FLAGS],
            "flag_meanings": " ".join(f.name for f in FLAGS)}


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
    "p_increase": {"long_name": "one-sided p-value of an increasing trend"},
    "p_decrease": {"long_name": "one-sided p-value of a decreasing trend"},
}


class TimeChunkWarning(UserWarning):
    """The time axis was split into several chunks and had to be rechunked (a data shuffle)."""


def _require(module: str) -> Any:
    """Import an optional dependency or raise an ImportError telling how to install it."""
    return require(module, "this mlri.xarray function")



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
        return years_array(years)
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
    from .._version import __version__

    return __version__


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
                 recipe: Recipe, n_threads: int | None,
                 block_info: Any = None) -> tuple[np.ndarray, ...]:
    """The recipe's chain (:func:`mlri.recipe.compute_block`) on one block, in one task."""
    row0 = col0 = 0
    if block_info is not None:  # global offsets: tests with per-pixel random streams
        loc = block_info[0]["array-location"]
        if len(loc) == 2:
            col0 = int(loc[1][0])
        elif len(loc) >= 3:
            row0, col0 = int(loc[1][0]), int(loc[2][0])
    b = compute_block(lst, evi, years, recipe, n_threads, row0=row0, col0=col0)
    assert b.classes is not None and b.flags is not None and b.sen_ci is not None
    out = (b.mlri, b.dropped, *(np.asarray(v) for v in b.trend), b.classes, b.flags,
           np.asarray(b.sen_ci[0], np.float64), np.asarray(b.sen_ci[1], np.float64))
    if recipe.plan.needs_pvalues:
        assert b.pvalues is not None
        out += (np.asarray(b.pvalues[0], np.float64), np.asarray(b.pvalues[1], np.float64))
    if recipe.options.onset:
        assert b.onset is not None
        out += tuple(np.asarray(getattr(b.onset, k), np.float64) for k in ONSET_BANDS)
    return out


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
    opts: dict[str, Any] = {"lst_unit": lst_unit, "evi_min": evi_min, "evi_policy": evi_policy}
    lazy = _is_dask(lst_a) or _is_dask(evi_a)
    nt = _task_threads(n_threads, lazy)
    sdims = lst_a.dims[1:]
    keep = _kept_attrs(lst_a.attrs)
    data: dict[str, Any]
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
    """The whole per-pixel chain of :mod:`mlri.recipe`, fused into one task per chunk.

    index → float32 MLRI → trend → p-values → classes: exactly what ``mlri run`` computes
    (:func:`mlri.recipe.compute_block`), so the same inputs give the same numbers.

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
        Any option of :class:`mlri.recipe.Options` (:data:`INDEX_OPTIONS`,
        :data:`TREND_OPTIONS`, :data:`CLASSIFY_OPTIONS`, the significance options
        ``significance``, ``permutations``, ``seed``, ``persistence``, ``persistence_mask``,
        and the :data:`OUTPUT_OPTIONS` ``sen_alpha``, ``onset``).  With
        ``significance="sieve", persistence="regional"`` the persistence is estimated here,
        eagerly, one chunk at a time, as ``mlri run`` does (the result is recorded in the
        ``mlri_options`` attribute as ``persistence_estimate``); ``persistence_mask`` (a file)
        needs georeferenced stacks.  ``significance="reference"`` and ``fdr=`` are only
        available in ``mlri run``.

    Returns
    -------
    xarray.Dataset
        ``mlri`` (float32: the stored precision, cast before the trend), ``dropped``, the
        :data:`TREND_VARS`, ``classes`` and ``flags`` (255 where a pixel has no observation at
        all), ``sen_low``/``sen_high`` (Sen's slope interval at ``sen_alpha``), the
        :data:`ONSET_VARS` with ``onset=True``, plus ``p_increase``/``p_decrease`` with a calibrated test; equal bit for bit to
        :func:`mlri.recipe.compute_block` on NumPy arrays, for any chunking.  Lazy when the
        inputs are Dask-backed or ``chunks`` is given.
    """
    opts = Options.from_kwargs(**stat_options)
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
    recipe = opts.prepare(list(yrs))  # every option validated once, before any task
    provenance = {"step": "run_stack", "years": yrs, **stat_options,
                  **first_pass(recipe, lst_a, evi_a, list(yrs))}
    names = (_STACK_VARS + (_PVALUE_VARS if recipe.plan.needs_pvalues else ())
             + (ONSET_VARS if opts.onset else ()))
    lazy = _is_dask(lst_a) or _is_dask(evi_a)
    nt = _task_threads(n_threads, lazy)
    block = partial(_stack_block, years=yrs, recipe=recipe, n_threads=nt)
    if not lazy:
        data: dict[str, Any] = dict(zip(names, block(np.asarray(lst_a.data),
                                                     np.asarray(evi_a.data)), strict=True))
    else:
        f64, i32, u8 = np.dtype(np.float64), np.dtype(np.int32), np.dtype(np.uint8)
        outs_spec: list[tuple[str, np.dtype[Any], bool]] = [("mlri", np.dtype(np.float32), True), ("dropped", i32, False)]
        outs_spec += [(k, i32 if k == "n_valid" else f64, False) for k in TREND_VARS]
        outs_spec += [("classes", u8, False), ("flags", u8, False)]
        outs_spec += [(k, f64, False) for k in INTERVAL_VARS]
        outs_spec += [(k, f64, False) for k in names[len(_STACK_VARS):]]
        outs = _multi_map_blocks(block, [_dask_data(lst_a), _dask_data(evi_a)], outs_spec,
                                 time_in=True, n_time=lst_a.shape[0], token="mlri-stack")
        data = dict(zip(names, outs, strict=True))
    keep = _kept_attrs(lst_a.attrs)
    sdims = lst_a.dims[1:]
    variables = {k: _wrap(data[k], lst_a, lst_a.dims if k == "mlri" else sdims, k, keep)
                 for k in names}
    return _dataset(variables, keep, provenance)


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
