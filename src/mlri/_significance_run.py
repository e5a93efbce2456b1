"""The map-wide first pass of ``mlri run`` (reference distribution, regional persistence, FDR
threshold).

Tests registered in :mod:`mlri.significance.registry` may need the whole map before any pixel
can be classified: the ``reference`` test builds its null distribution from the reference
pixels (its ``prepare``), the ``sieve`` test with ``persistence="regional"`` estimates one
persistence per variable over a sample of the map, and an FDR (``fdr=``, any test) needs every
p-value of the map for the Benjamini-Hochberg threshold.  This module reads the inputs window by window and computes
what is needed with :func:`mlri.recipe.compute_block` — the same chain as the main pass.  The
p-values of the FDR pass are held as float32 (4 bytes per valid pixel).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .recipe import Recipe, compute_block

__all__ = ["bh_threshold", "first_pass"]


def bh_threshold(p: np.ndarray, q: float) -> float:
    """Largest p_(k) with p_(k) <= k q / m (0.0 when nothing is rejected)."""
    p = np.sort(p[np.isfinite(p)].astype(np.float64))
    m = p.size
    if m == 0:
        return 0.0
    ok = p <= q * np.arange(1, m + 1) / m
    if not ok.any():
        return 0.0
    return float(p[np.nonzero(ok)[0][-1]])


class _PipelineMapPass:
    """:class:`mlri.significance.registry.MapPass` over the pipeline's input windows."""

    def __init__(self, recipe: Recipe, inputs: Any, windows: Any, years: Any,
                 n_threads: int | None, quiet: bool) -> None:
        self.recipe, self.inputs, self.windows = recipe, inputs, windows
        self.years, self.n_threads, self.quiet = years, n_threads, quiet
        self.grid = inputs.grid
        self.options = recipe.options

    def tiles(self, desc: str) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
        from .tiling import progress_bar

        g = self.grid
        with self.inputs.open() as reader, progress_bar(g.width * g.height, quiet=self.quiet,
                                                        desc=desc) as bar:
            for w in self.windows:
                yield w, reader.read(self.inputs.lst, w), reader.read(self.inputs.evi, w)
                bar.update(int(w.width * w.height))

    def mk_z(self, lst: np.ndarray, evi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = compute_block(lst, evi, self.years, self.recipe, self.n_threads, until="mk")
        return np.asarray(b.trend.n_valid), np.asarray(b.trend.z)


def first_pass(recipe: Recipe, inputs: Any, windows: Any, years: Any,
               n_threads: int | None, quiet: bool = True) -> None:
    """Map-wide quantities (the test's ``prepare``, the BH threshold) before the main pass."""
    plan, opts = recipe.plan, recipe.options
    mp = _PipelineMapPass(recipe, inputs, windows, years, n_threads, quiet)
    if plan.needs_prepare:
        assert plan.test.prepare is not None
        plan.test.prepare(plan, mp)
    if plan.fdr is not None:
        ps: list[np.ndarray] = []
        for w, lst, evi in mp.tiles("FDR p-values"):
            b = compute_block(lst, evi, years, recipe, n_threads, row0=int(w.row_off),
                              col0=int(w.col_off), until="pvalues")
            assert b.pvalues is not None
            p_inc, p_dec = b.pvalues
            p2 = np.minimum(1.0, 2.0 * np.minimum(p_inc, p_dec))
            ok = np.asarray(b.trend.n_valid) >= opts.min_valid
            ps.append(np.asarray(p2[ok], dtype=np.float32))
        allp = np.concatenate(ps) if ps else np.empty(0, np.float32)
        plan.n_tests = int(np.isfinite(allp).sum())
        plan.bh_threshold = bh_threshold(allp, float(plan.fdr))
