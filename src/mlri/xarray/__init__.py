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

import json
import os
import time
from pathlib import Path
from typing import Any

_INSTALL_HINT = "pip install mlri[dask]"

try:
    import dask
    import dask.array  # noqa: F401
    import xarray as xr
except ImportError as _err:
    _msg = (f"mlri.xarray needs the optional dependencies dask[array], distributed, xarray and "
            f"rioxarray ({_err.name or _err} could not be imported). Install them with: "
            f"{_INSTALL_HINT}")
    raise ImportError(_msg, name=_err.name) from _err

from .._cluster import dask_client
from ..recipe import (
    CLASSIFY_OPTIONS,
    INDEX_OPTIONS,
    OUTPUT_OPTIONS,
    SIGNIFICANCE_OPTIONS,
    TREND_OPTIONS,
)
from ._blocks import Block, compute, iter_blocks, n_blocks
from ._files import _expand_source, _stack_years, open_stack, to_geotiff, to_zarr
from ._stack import (
    _VAR_ATTRS,
    INTERVAL_VARS,
    ONSET_VARS,
    TREND_VARS,
    TimeChunkWarning,
    classify,
    index,
    run_stack,
    trend,
)

# private names kept reachable for tests and callers of the former single module
_PRIVATE = (_VAR_ATTRS, _stack_years)

__all__ = [
    "CLASSIFY_OPTIONS",
    "INDEX_OPTIONS",
    "INTERVAL_VARS",
    "ONSET_VARS",
    "OUTPUT_OPTIONS",
    "SIGNIFICANCE_OPTIONS",
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
    from .._manifest import build_manifest
    from .._outputs import check_output_dir, write_json

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
