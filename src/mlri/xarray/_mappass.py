"""The map-wide first pass of :func:`mlri.xarray.run_stack` (``persistence="regional"``).

:class:`StackMapPass` is the :class:`mlri.significance.registry.MapPass` of a ``(time, y, x)``
stack: it computes the stack one spatial chunk at a time (memory bounded by a chunk) and hands
each to the test's ``prepare`` hook — the same hook ``mlri run`` calls over its windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import xarray as xr

from ..recipe import Recipe, compute_block

__all__ = ["StackMapPass", "first_pass"]


def first_pass(recipe: Recipe, lst: xr.DataArray, evi: xr.DataArray,
               years: Any) -> dict[str, Any]:
    """The map-wide pass :func:`mlri.xarray.run_stack` supports (the sieve's regional
    persistence), run now, eagerly; returns what it adds to the provenance."""
    plan, opts = recipe.plan, recipe.options
    if plan.fdr is not None or (plan.needs_prepare and plan.mode != "sieve"):
        msg = (f"significance={opts.significance!r}"
               + (f" with fdr={opts.fdr}" if opts.fdr is not None else "")
               + " needs a map-wide first pass: use mlri.pipeline.run (mlri run)")
        raise ValueError(msg)
    if not plan.needs_prepare:
        return {}
    assert plan.test.prepare is not None
    plan.test.prepare(plan, StackMapPass(lst, evi, years, recipe))
    return {"persistence_estimate": plan.regional}


class StackMapPass:
    """``MapPass`` over the spatial chunks of aligned ``(time, y, x)`` LST/EVI stacks."""

    def __init__(self, lst: xr.DataArray, evi: xr.DataArray, years: Any,
                 recipe: Recipe) -> None:
        if lst.ndim != 3:
            msg = (f"significance={recipe.options.significance!r} with a map-wide first pass "
                   f"needs (time, y, x) stacks; got dims {lst.dims}")
            raise ValueError(msg)
        self.lst, self.evi, self.years, self.recipe = lst, evi, years, recipe
        self.options = recipe.options
        self._grid: Any = None

    @property
    def grid(self) -> Any:
        """The stack's grid (CRS and transform from rioxarray), for masks given as files."""
        if self._grid is None:
            from ..io import Grid
            from ._files import _georef, _spatial_dims

            ydim, xdim = _spatial_dims(self.lst)  # type: ignore[arg-type]
            crs, transform = _georef(self.lst, ydim, xdim)  # type: ignore[arg-type]
            if crs is None:
                msg = ("persistence_mask needs georeferenced stacks (a CRS and x/y "
                       "coordinates, e.g. from mlri.xarray.open_stack or rioxarray)")
                raise ValueError(msg)
            self._grid = Grid(crs, transform, int(self.lst.shape[2]), int(self.lst.shape[1]))
        return self._grid

    def tiles(self, desc: str) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
        import dask
        from rasterio.windows import Window

        a, b = self.lst.data, self.evi.data
        chunks = getattr(a, "chunks", None)
        ys = chunks[1] if chunks else (a.shape[1],)
        xs = chunks[2] if chunks else (a.shape[2],)
        r0 = 0
        for h in ys:
            c0 = 0
            for w in xs:
                la, ea = a[:, r0:r0 + h, c0:c0 + w], b[:, r0:r0 + h, c0:c0 + w]
                if chunks:
                    la, ea = dask.compute(la, ea)
                yield Window(c0, r0, w, h), np.asarray(la), np.asarray(ea)
                c0 += w
            r0 += h

    def mk_z(self, lst: np.ndarray, evi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = compute_block(lst, evi, self.years, self.recipe, until="mk")
        return np.asarray(b.trend.n_valid), np.asarray(b.trend.z)
