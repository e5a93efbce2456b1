"""Per-pixel permutation test of the Mann-Kendall S of MLRI (construction drift included)."""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import numpy as np

from .. import _core
from .._validation import (
    as_time_pixel,
    resolve_threads,
)
from ..api import (
    _check_lst_unit,
    validate_index_inputs,
)
from ._common import _unflatten, check_resampling

# ---------------------------------------------------------------------------------------------
# permutation test
# ---------------------------------------------------------------------------------------------


class PermutationResult(NamedTuple):
    """Result of :func:`permutation_test`, each an array of the spatial shape.

    Attributes
    ----------
    p_increase : float64
        One-sided p-value for an increasing MLRI trend beyond what stationarity produces,
        ``(1 + #{S_b >= S}) / (B + 1)``.  NaN for pixels with fewer than ``max(2, min_valid)``
        valid years.
    p_decrease : float64
        One-sided p-value for a decrease, ``(1 + #{S_b <= S}) / (B + 1)``.
    s : float64
        Mann–Kendall S of the observed MLRI series (equals ``mlri.trend(mlri.index(...).mlri).s``
        for the same inputs; NaN when fewer than 2 valid years).
    s_null_mean : float64
        Mean of S over the permutations: the drift that stationarity alone gives this pixel
        (about +55 for 19 independent years; 0 for a series without construction drift).
    s_null_sd : float64
        Standard deviation of S over the permutations.
    n_valid : int32
        Valid years (same rules as :func:`mlri.index`).
    """

    p_increase: np.ndarray
    p_decrease: np.ndarray
    s: np.ndarray
    s_null_mean: np.ndarray
    s_null_sd: np.ndarray
    n_valid: np.ndarray


def _global_positions(spatial: tuple[int, ...], row0: int, col0: int, rows: Any,
                      cols: Any) -> tuple[np.ndarray, np.ndarray]:
    npix = int(np.prod(spatial, dtype=np.int64))
    if (rows is None) != (cols is None):
        msg = "give both rows and cols, or neither"
        raise ValueError(msg)
    if rows is not None:
        r = np.asarray(rows)
        c = np.asarray(cols)
        for name, a in (("rows", r), ("cols", c)):
            if a.dtype.kind not in "iu":
                msg = f"{name} must be an integer array, got dtype {a.dtype}"
                raise TypeError(msg)
            if a.size != npix:
                msg = (f"{name} must give one global index per pixel: {a.size} values for "
                       f"spatial shape {spatial}")
                raise ValueError(msg)
        return (np.ascontiguousarray(r.reshape(-1), dtype=np.int64),
                np.ascontiguousarray(c.reshape(-1), dtype=np.int64))
    r0 = operator.index(row0)
    c0 = operator.index(col0)
    if len(spatial) == 0:
        return np.array([r0], np.int64), np.array([c0], np.int64)
    if len(spatial) == 1:
        return (np.full(npix, r0, np.int64), c0 + np.arange(npix, dtype=np.int64))
    if len(spatial) == 2:
        rr, cc = np.meshgrid(np.arange(spatial[0], dtype=np.int64) + r0,
                             np.arange(spatial[1], dtype=np.int64) + c0, indexing="ij")
        return np.ascontiguousarray(rr.reshape(-1)), np.ascontiguousarray(cc.reshape(-1))
    msg = (f"spatial shape {spatial} has more than 2 axes: pass rows= and cols= (the global "
           f"row/column of every pixel)")
    raise ValueError(msg)


class ResamplingInputs(NamedTuple):
    """The validated inputs of a resampling test (see :func:`resampling_inputs`)."""

    lst: np.ndarray  # (time, pixels)
    evi: np.ndarray
    spatial: tuple[int, ...]
    rows: np.ndarray  # global row and column of every pixel
    cols: np.ndarray
    replicates: int
    core_kw: dict[str, Any]  # the index rules, seed and min_valid of the kernel call


def resampling_inputs(lst: Any, evi: Any, years: Any, n: Any, n_name: str, *, seed: Any,
                      row0: int, col0: int, rows: Any, cols: Any, lst_unit: str,
                      evi_min: float, evi_policy: str, min_valid: Any) -> ResamplingInputs:
    """What every resampling test checks and prepares: the index inputs and their units, the
    replicate count (``n``, named ``n_name`` in errors), seed and ``min_valid``, the stacks as
    ``(time, pixels)`` and each pixel's global position."""
    lst_a, evi_a, unit, policy = validate_index_inputs(lst, evi, years, lst_unit, evi_min,
                                                       evi_policy)
    b, sd, mv = check_resampling(n, n_name, seed, min_valid)
    _check_lst_unit(lst_a, lst_unit)
    flat_l, spatial = as_time_pixel(lst_a, "lst")
    flat_e, _ = as_time_pixel(evi_a, "evi")
    r, c = _global_positions(spatial, row0, col0, rows, cols)
    kw = {"lst_offset": 273.15 if unit == 1 else 0.0, "evi_min": float(evi_min),
          "evi_policy": policy, "seed": sd, "min_valid": mv}
    return ResamplingInputs(flat_l, flat_e, spatial, r, c, b, kw)


def permutation_test(
    lst: Any,
    evi: Any,
    years: Any = None,
    *,
    n_permutations: int = 199,
    seed: int = 0,
    row0: int = 0,
    col0: int = 0,
    rows: Any = None,
    cols: Any = None,
    lst_unit: str = "K",
    evi_min: float = 0.0,
    evi_policy: str = "mask",
    min_valid: int = 2,
    n_threads: int | None = None,
) -> PermutationResult:
    """Per-pixel permutation test of the Mann–Kendall S of MLRI.

    Under the null hypothesis the years of a pixel are exchangeable (no trend in LST or EVI,
    independent years).  For each pixel the valid (LST, EVI) pairs are shuffled
    ``n_permutations`` times; each shuffle's MLRI is recomputed with running extrema exactly as
    :func:`mlri.index` does and its MK S is compared with the observed S.  Because the shuffled
    series carry the same construction drift as the observed one, the test holds its level on
    stationary land, where the paper's ``|Z| > 1.96`` rule on MLRI does not.

    Parameters
    ----------
    lst, evi : array_like, shape (time, ...)
        Annual LST and EVI, as for :func:`mlri.index` (NaN/inf = missing).  Spatial shapes:
        ``(rows, cols)`` (global position ``row0 + i, col0 + j``), ``(pixels,)`` (one row:
        ``row0, col0 + k``), ``()`` (one pixel at ``row0, col0``), or any shape with ``rows`` and
        ``cols`` given.
    years : sequence of float, optional
        Only validated (the test depends on the order of the years, not their values).
    n_permutations : int
        B, the number of random permutations per pixel (default 199: the smallest p-value is
        1/200 = 0.005).  Use B + 1 a multiple of 1/alpha.  For FDR control over many pixels,
        B must be much larger (see Notes).
    seed : int
        User seed in [0, 2**64).  The random stream of a pixel depends only on ``seed`` and the
        pixel's global row and column.
    row0, col0 : int
        Global row and column of the first pixel of this tile (for 1-D/2-D spatial shapes).
    rows, cols : array_like of int, optional
        Global row and column of every pixel (spatial shape), instead of ``row0``/``col0``;
        for pixel lists such as the pixels inside one mine polygon.
    lst_unit : {"K", "C"}
        As :func:`mlri.index`.
    evi_min : float
        As :func:`mlri.index`: years with EVI <= evi_min are missing (policy "mask").
    evi_policy : {"mask", "clamp"}
        As :func:`mlri.index`.
    min_valid : int
        Pixels with fewer valid years get NaN p-values and are not permuted (saves time on
        nodata; default 2, the minimum for S).
    n_threads : int, optional
        OpenMP threads (default all cores).  Results are identical for any value.

    Returns
    -------
    PermutationResult
        ``p_increase``, ``p_decrease``, ``s``, ``s_null_mean``, ``s_null_sd``, ``n_valid``.

    Raises
    ------
    ValueError
        On shape mismatch, bad options or an LST unit contradicting the data.
    TypeError
        On non-numeric inputs.

    Notes
    -----
    *Missing years stay missing*: only the valid pairs of a pixel are permuted.  MK S depends
    only on the order of the valid values, so this has exactly the null distribution of
    permuting all years and letting the gaps move, while keeping each pixel's own missingness.

    *p-values* are one-sided, ``p = (1 + #{S_b >= S_obs}) / (B + 1)`` for an increase (and with
    ``<=`` for a decrease): valid at any B (P(p <= a) <= a under the null, the observed order
    counting as one of the B + 1 arrangements), conservative with ties in S.  A two-sided
    p-value is :func:`two_sided_p`.  The smallest possible p is 1/(B + 1); Benjamini–Hochberg
    over m pixels can only reject when some p <= q/m·k, so for FDR over a map use
    B + 1 >= m / (q · expected number of discoveries) or treat FDR results with B = 199 as
    conservative.

    *Determinism*: permutation b of the pixel at global (row, col) uses a SplitMix64 sub-stream
    keyed by (seed, row, col, b) and exactly uniform Fisher–Yates digits (batched Lemire
    rejection), so results are identical for any tiling, thread count or Dask chunking.

    Cost: O(B · n²) per pixel; about 5·10⁴–10⁵ pixels/s on 2 cores for n = 19, B = 199.

    References
    ----------
    Good (2005) Permutation, Parametric and Bootstrap Tests of Hypotheses, 3rd ed., Springer;
    Phipson & Smyth (2010) Stat. Appl. Genet. Mol. Biol. 9:39, doi:10.2202/1544-6115.1585;
    Steele, Lea & Flood (2014) OOPSLA, doi:10.1145/2660193.2660195 (SplitMix64);
    Lemire (2019) ACM TOMACS 29:3, doi:10.1145/3230636; Brackett-Rozinsky & Lemire (2024)
    "Batched ranged random integer generation", Softw. Pract. Exper., doi:10.1002/spe.3369.
    """
    ri = resampling_inputs(lst, evi, years, n_permutations, "n_permutations", seed=seed,
                           row0=row0, col0=col0, rows=rows, cols=cols, lst_unit=lst_unit,
                           evi_min=evi_min, evi_policy=evi_policy, min_valid=min_valid)
    res = _core.permutation_mk(ri.lst, ri.evi, ri.rows, ri.cols, n_permutations=ri.replicates,
                               **ri.core_kw, n_threads=resolve_threads(n_threads))
    return PermutationResult(**{k: _unflatten(res[k], ri.spatial)
                                for k in PermutationResult._fields})


def two_sided_p(p_increase: Any, p_decrease: Any) -> Any:
    """Two-sided p-value from the two one-sided ones: ``min(1, 2 · min(p_inc, p_dec))``.

    NaN where either input is NaN.
    """
    pi = np.asarray(p_increase, dtype=np.float64)
    pd = np.asarray(p_decrease, dtype=np.float64)
    out = np.minimum(1.0, 2.0 * np.fmin(pi, pd))
    out = np.where(np.isnan(pi) | np.isnan(pd), np.nan, out)
    return out[()] if out.ndim == 0 else out
