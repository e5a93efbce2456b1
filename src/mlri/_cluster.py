"""Driver-neutral helpers for the optional Dask stack: the cluster client and optional imports.

Used by :mod:`mlri.pipeline` (``mlri run --scheduler``) and :mod:`mlri.xarray` alike, so that
neither driver imports the other.  Nothing here imports dask at module import.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["INSTALL_HINT", "dask_client", "require"]

INSTALL_HINT = "pip install mlri[dask]"


def require(module: str, what: str) -> Any:
    """Import an optional dependency or raise an ImportError telling how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        msg = f"{module} is required for {what}: {INSTALL_HINT}"
        raise ImportError(msg, name=module) from err


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
    distributed = require("distributed", "a dask.distributed cluster")
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
