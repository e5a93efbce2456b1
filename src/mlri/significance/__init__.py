"""Calibrated significance for MLRI trends (issue 7; see ``docs/significance.md``).

MLRI divides the worst state so far (running maximum LST, running minimum EVI) by the current
state.  On land that does not change at all, the running extrema keep setting new records, so
MLRI drifts upward *by construction*: the paper's rule (Mann–Kendall on the MLRI series,
``|Z| > 1.96`` and Sen slope > 0 → "significant increase") calls about half of all stationary
pixels SI, whatever the noise level.  The paper rule stays the default of :func:`mlri.classify`;
this module measures the problem and offers tests that hold their nominal error rate:

* :func:`permutation_test` — per-pixel permutation test (C++/OpenMP).  Years are exchangeable
  under the null hypothesis, so the (LST, EVI) pairs of a pixel are shuffled, MLRI is recomputed
  with its running extrema and the MK S of each shuffle forms the null distribution — the
  construction drift included.  Deterministic per global pixel position and seed.
* :func:`reference_distribution` / :func:`reference_pvalues` / :func:`reference_threshold` —
  calibration of MK Z on MLRI against pixels of stable reference land (a user mask).
* :func:`fdr_bh` — Benjamini–Hochberg (or –Yekutieli) false discovery rate control over a map or
  per mine, for any p-value source; NaN-aware.
* :func:`classify_with_p` — the restoration classes of :func:`mlri.classify` from one-sided
  p-values (the Hurst split is unchanged), optionally FDR-controlled.
* :func:`mk_modified` — Mann–Kendall with the Hamed–Rao (1998) or Yue–Wang (2004) variance
  correction for serial correlation.
"""

from __future__ import annotations

import math
import operator
import warnings
from typing import Any, NamedTuple

import numpy as np

from .. import _core
from ..api import (
    TrendResult,
    _check_lst_unit,
    classify,
    mann_kendall,
    sens_slope,
    validate_index_inputs,
)
from .._validation import (
    as_float_array,
    as_time_pixel,
    check_years,
    choice,
    resolve_threads,
)

__all__ = [
    "FDRResult",
    "ModifiedMKResult",
    "PermutationResult",
    "ReferenceDistribution",
    "ReferenceThreshold",
    "SignificanceWarning",
    "classify_with_p",
    "fdr_bh",
    "mk_modified",
    "permutation_test",
    "reference_distribution",
    "reference_pvalues",
    "reference_threshold",
    "two_sided_p",
]

_ALTERNATIVES = ("two-sided", "increase", "decrease")
_SQRT2 = math.sqrt(2.0)


class SignificanceWarning(UserWarning):
    """A significance result is weaker than requested (too few reference pixels, p floor...)."""


def _unflatten(a: np.ndarray, spatial: tuple[int, ...]) -> Any:
    out = a.reshape(spatial)
    return out[()] if out.ndim == 0 else out


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
    lst_a, evi_a, unit, policy = validate_index_inputs(lst, evi, years, lst_unit, evi_min,
                                                       evi_policy)
    b = operator.index(n_permutations)
    if not 1 <= b <= 10_000_000:
        msg = f"n_permutations must be in [1, 10_000_000], got {n_permutations!r}"
        raise ValueError(msg)
    sd = operator.index(seed)
    if not 0 <= sd < 2**64:
        msg = f"seed must be an integer in [0, 2**64), got {seed!r}"
        raise ValueError(msg)
    mv = operator.index(min_valid)
    if mv < 0:
        msg = f"min_valid must be >= 0, got {min_valid!r}"
        raise ValueError(msg)
    _check_lst_unit(lst_a, lst_unit)
    flat_l, spatial = as_time_pixel(lst_a, "lst")
    flat_e, _ = as_time_pixel(evi_a, "evi")
    r, c = _global_positions(spatial, row0, col0, rows, cols)
    res = _core.permutation_mk(
        flat_l, flat_e, r, c, lst_offset=273.15 if unit == 1 else 0.0, evi_min=float(evi_min),
        evi_policy=policy, n_permutations=b, seed=sd, min_valid=mv,
        n_threads=resolve_threads(n_threads),
    )
    return PermutationResult(**{k: _unflatten(res[k], spatial)
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


# ---------------------------------------------------------------------------------------------
# reference-area calibration
# ---------------------------------------------------------------------------------------------


class ReferenceDistribution(NamedTuple):
    """Null distribution of the trend statistic over reference pixels.

    Attributes
    ----------
    values : ndarray of float64
        The finite statistic values of the reference pixels, sorted ascending.
    n : int
        Their number.
    """

    values: np.ndarray
    n: int


class ReferenceThreshold(NamedTuple):
    """Critical values from a reference distribution (see :func:`reference_threshold`).

    A pixel is a significant increase when ``z > upper`` and a significant decrease when
    ``z < lower`` (strict, as the paper's ``|Z| > 1.96``); ±inf when the reference set is too
    small to reject at this level.
    """

    lower: float
    upper: float
    n_reference: int


def _tail_alpha(alpha: float, alternative: str) -> float:
    if not 0 < alpha < 1:
        msg = f"alpha must be in (0, 1), got {alpha!r}"
        raise ValueError(msg)
    choice(alternative, "alternative", _ALTERNATIVES)
    return alpha / 2 if alternative == "two-sided" else alpha


def reference_distribution(
    z: Any,
    mask: Any,
    *,
    n_valid: Any = None,
    min_valid: int = 10,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    min_tail: int = 10,
) -> ReferenceDistribution:
    """Collect the trend statistic of stable reference pixels as an empirical null.

    Following the paper's suggestion of a reference ecosystem: on natural land that is stable
    (not mined, not restored), the MK Z of MLRI shows how much "trend" the index produces by
    construction and by natural variability.  Mine pixels are then judged against that
    distribution (:func:`reference_pvalues`) instead of against N(0, 1).

    Parameters
    ----------
    z : array_like
        MK Z of MLRI (``mlri.trend(mlri_stack).z``), any spatial shape.  Any other per-pixel
        statistic where larger means "more increasing" works too (e.g. permutation-free S).
    mask : array_like of bool
        True on reference pixels (same shape as ``z``), e.g. rasterised reference polygons.
    n_valid : array_like of int, optional
        Valid years per pixel; reference pixels with fewer than ``min_valid`` are left out.
    min_valid : int
        See ``n_valid`` (default 10, as :func:`mlri.classify`).
    alpha, alternative :
        The level the distribution will be used at; only for the size warning.
    min_tail : int
        Warn when fewer than this many reference values lie beyond the critical value of one
        tail, i.e. when ``(n + 1) · alpha_tail < min_tail`` (the threshold is then noisy).

    Returns
    -------
    ReferenceDistribution

    Warns
    -----
    SignificanceWarning
        When the reference set is too small: no rejection is possible at all when
        ``(n + 1) · alpha_tail < 1``, and the critical value is unstable below ``min_tail``
        tail points.

    Notes
    -----
    The resulting p-values are exact (conformal) when the target pixel's statistic is
    exchangeable with the reference pixels' under the null: the reference land must be
    comparable (land cover, climate, sensor history) and stable.  Neighbouring pixels are
    correlated, so the effective number of reference pixels is smaller than ``n``; sample
    reference pixels sparsely (e.g. every 3rd row/column) or use large, separate areas.  For
    tiled processing, collect the reference values over the whole map first (they may lie in
    other tiles), then call :func:`reference_pvalues` per tile.
    """
    zz = np.asarray(z, dtype=np.float64)
    mm = np.asarray(mask)
    if mm.dtype != np.bool_:
        msg = f"mask must be a boolean array, got dtype {mm.dtype}"
        raise TypeError(msg)
    if mm.shape != zz.shape:
        msg = f"mask shape {mm.shape} does not match z shape {zz.shape}"
        raise ValueError(msg)
    keep = mm & np.isfinite(zz)
    if n_valid is not None:
        nv = np.asarray(n_valid)
        if nv.shape != zz.shape:
            msg = f"n_valid shape {nv.shape} does not match z shape {zz.shape}"
            raise ValueError(msg)
        keep &= nv >= int(min_valid)
    vals = np.sort(zz[keep])
    n = int(vals.size)
    at = _tail_alpha(alpha, alternative)
    if n == 0:
        msg = ("no usable reference pixels (mask empty, or all reference pixels have NaN "
               "statistic / too few valid years)")
        raise ValueError(msg)
    if (n + 1) * at < 1:
        warnings.warn(
            f"only {n} reference pixels: a one-tail level of {at:g} needs at least "
            f"{math.ceil(1 / at) - 1} to reject anything; every pixel will be 'not significant'",
            SignificanceWarning, stacklevel=2)
    elif (n + 1) * at < min_tail:
        warnings.warn(
            f"only {n} reference pixels: the critical value at one-tail level {at:g} rests on "
            f"{int((n + 1) * at)} tail values (< {min_tail}); use at least "
            f"{math.ceil(min_tail / at) - 1} reference pixels for a stable threshold",
            SignificanceWarning, stacklevel=2)
    return ReferenceDistribution(vals, n)


def reference_pvalues(z: Any, reference: ReferenceDistribution) -> tuple[Any, Any]:
    """One-sided p-values of ``z`` against a reference distribution.

    ``p_increase = (1 + #{ref >= z}) / (n + 1)``, ``p_decrease = (1 + #{ref <= z}) / (n + 1)``;
    NaN where ``z`` is NaN.  Feed them to :func:`classify_with_p` or :func:`fdr_bh`.

    Parameters
    ----------
    z : array_like
        The statistic of the pixels to test (same kind as the reference values).
    reference : ReferenceDistribution
        From :func:`reference_distribution` (computed once for the whole map).

    Returns
    -------
    p_increase, p_decrease : ndarray of float64
        Same shape as ``z``.
    """
    if not isinstance(reference, ReferenceDistribution):
        msg = "reference must be the ReferenceDistribution from reference_distribution()"
        raise TypeError(msg)
    zz = np.asarray(z, dtype=np.float64)
    ref = reference.values
    n = reference.n
    ge = n - np.searchsorted(ref, zz, side="left")
    le = np.searchsorted(ref, zz, side="right")
    nan = ~np.isfinite(zz)
    pi = np.where(nan, np.nan, (1.0 + ge) / (n + 1.0))
    pd = np.where(nan, np.nan, (1.0 + le) / (n + 1.0))
    if pi.ndim == 0:
        return pi[()], pd[()]
    return pi, pd


def reference_threshold(
    z: Any,
    mask: Any,
    alpha: float = 0.05,
    *,
    alternative: str = "two-sided",
    n_valid: Any = None,
    min_valid: int = 10,
    min_tail: int = 10,
) -> ReferenceThreshold:
    """Critical values of the trend statistic from stable reference pixels.

    The upper critical value is the empirical ``1 − alpha_tail`` quantile of the reference
    values (``alpha_tail = alpha/2`` for ``alternative="two-sided"``, else ``alpha``), defined so
    that ``z > upper`` exactly when ``reference_pvalues(z)[0] <= alpha_tail``; the lower one
    mirrors it.  Use it to report "MK Z on MLRI must exceed X here instead of 1.96".

    Parameters
    ----------
    z, mask, n_valid, min_valid, min_tail :
        As :func:`reference_distribution`.
    alpha : float
        Significance level (default 0.05).
    alternative : {"two-sided", "increase", "decrease"}
        "two-sided" splits alpha over both tails (as the paper's |Z| > 1.96).

    Returns
    -------
    ReferenceThreshold
        ``lower``, ``upper`` (±inf when no rejection is possible) and ``n_reference``.
    """
    ref = reference_distribution(z, mask, n_valid=n_valid, min_valid=min_valid, alpha=alpha,
                                 alternative=alternative, min_tail=min_tail)
    at = _tail_alpha(alpha, alternative)
    n = ref.n
    # p_inc(z) <= at  <=>  #{ref >= z} <= k,  k = floor(at (n+1)) - 1  <=>  z > ref_(n-k)
    k = math.floor(at * (n + 1) * (1 + 1e-12)) - 1
    if k < 0:
        return ReferenceThreshold(-math.inf, math.inf, n)
    upper = float(ref.values[n - k - 1])  # (n-k)-th smallest, 0-based n-k-1
    lower = float(ref.values[k])          # (k+1)-th smallest
    return ReferenceThreshold(lower, upper, n)


# ---------------------------------------------------------------------------------------------
# false discovery rate
# ---------------------------------------------------------------------------------------------


class FDRResult(NamedTuple):
    """Result of :func:`fdr_bh`.

    Attributes
    ----------
    reject : ndarray of bool
        Discoveries at FDR level q (False where p is NaN).
    p_adjusted : ndarray of float64
        BH (or BY) adjusted p-values ("q-values"), NaN where p is NaN.
    """

    reject: np.ndarray
    p_adjusted: np.ndarray


def _bh_sorted(ps: np.ndarray, by: bool) -> np.ndarray:
    """Adjusted p-values of an ascending-sorted 1-D array."""
    m = ps.size
    if m == 0:
        return ps
    k = np.arange(1, m + 1, dtype=np.float64)
    scale = float(np.sum(1.0 / k)) if by else 1.0
    adj = ps * (m * scale / k)
    adj = np.minimum.accumulate(adj[::-1])[::-1]
    return np.minimum(adj, 1.0)


def fdr_bh(p: Any, q: float = 0.05, *, method: str = "bh", groups: Any = None) -> FDRResult:
    """Benjamini–Hochberg false discovery rate control over pixels.

    Parameters
    ----------
    p : array_like
        p-values of any source (paper MK p, :func:`two_sided_p` of the permutation test,
        :func:`reference_pvalues`...), any shape.  NaN marks pixels outside the family (nodata,
        too few years, outside the area of interest): they are neither counted in m nor rejected.
    q : float
        FDR level in (0, 1) (default 0.05).
    method : {"bh", "by"}
        "bh": Benjamini & Hochberg (1995), valid for independent or positively dependent tests
        (PRDS — usually accepted for neighbouring pixels).  "by": Benjamini & Yekutieli (2001),
        valid under any dependence, more conservative.
    groups : array_like of int, optional
        Family labels of the same shape (e.g. a rasterised mine ID): the procedure is applied
        separately within each label.  Pixels with a negative label are excluded.

    Returns
    -------
    FDRResult
        ``reject`` (bool) and ``p_adjusted`` (float64), same shape as ``p``.

    Notes
    -----
    Matches ``scipy.stats.false_discovery_control(p, method=...)`` on the finite entries.
    The whole family must be present at once: with tiles, collect the p-values of the map
    (or the mine) first.  Discrete p-values (permutation, reference) are valid inputs, but the
    smallest attainable p must be below q/m for any rejection (see :func:`permutation_test`).

    References
    ----------
    Benjamini & Hochberg (1995) J. R. Stat. Soc. B 57:289; Benjamini & Yekutieli (2001)
    Ann. Stat. 29:1165, doi:10.1214/aos/1013699998.
    """
    pa = np.asarray(p, dtype=np.float64)
    if not 0 < q < 1:
        msg = f"q must be in (0, 1), got {q!r}"
        raise ValueError(msg)
    by = choice(method, "method", ("bh", "by")) == 1
    flat = pa.reshape(-1)
    fin = np.isfinite(flat)
    if np.any((flat[fin] < 0) | (flat[fin] > 1)):
        msg = "p-values must lie in [0, 1] (NaN for excluded pixels)"
        raise ValueError(msg)
    adj: np.ndarray = np.full(flat.shape, np.nan)
    if groups is None:
        idx = np.flatnonzero(fin)
        order = idx[np.argsort(flat[idx], kind="stable")]
        adj[order] = _bh_sorted(flat[order], by)
    else:
        g = np.asarray(groups)
        if g.shape != pa.shape:
            msg = f"groups shape {g.shape} does not match p shape {pa.shape}"
            raise ValueError(msg)
        if g.dtype.kind not in "iu":
            msg = f"groups must be integer labels, got dtype {g.dtype}"
            raise TypeError(msg)
        gf = g.reshape(-1).astype(np.int64)
        idx = np.flatnonzero(fin & (gf >= 0))
        order = idx[np.lexsort((flat[idx], gf[idx]))]
        gs = gf[order]
        cuts = np.flatnonzero(np.diff(gs)) + 1
        for seg in np.split(order, cuts):
            if seg.size:
                adj[seg] = _bh_sorted(flat[seg], by)
    adj = adj.reshape(pa.shape)
    rej = np.isfinite(adj) & (adj <= q)
    if pa.ndim == 0:
        return FDRResult(rej[()], adj[()])
    return FDRResult(rej, adj)


# ---------------------------------------------------------------------------------------------
# classes from p-values
# ---------------------------------------------------------------------------------------------


def classify_with_p(
    result: TrendResult,
    p_increase: Any,
    p_decrease: Any,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    fdr: float | None = None,
    fdr_method: str = "bh",
    fdr_groups: Any = None,
    min_valid: int = 10,
    zero_slope_direction: str = "slope",
    dropped: Any = None,
) -> tuple[Any, Any]:
    """Restoration classes (same uint8 codes as :func:`mlri.classify`) from one-sided p-values.

    Decision rule (``a = alpha/2`` for "two-sided", else ``alpha``):

    * SI (significant increase) when ``p_increase <= a``; then SCI if H > 0.5, SAI if H <= 0.5,
      code 6 if H is undefined — the Hurst split of the paper, unchanged;
    * SD (significant decrease) when ``p_decrease <= a``;
    * otherwise NI if Sen's slope > 0, ND if <= 0 (as the paper; with
      ``zero_slope_direction="sign_S"`` a zero slope takes the sign of S).

    The direction of a significant result comes from the tail that rejects, not from the Sen
    slope: with MLRI's construction drift, a pixel can have a positive slope yet rise *less*
    than stationary land does (p_decrease small).  With p-values from the normal approximation
    of MK this rule equals the paper's whenever sign(Z) = sign(slope).

    Parameters
    ----------
    result : TrendResult
        :func:`mlri.trend` of the MLRI stack (n_valid, S, var(S), slope, H are used).
    p_increase, p_decrease : array_like
        One-sided p-values of the spatial shape (:func:`permutation_test`,
        :func:`reference_pvalues`, ...).  NaN → nodata.
    alpha : float
        Significance level (default 0.05).
    alternative : {"two-sided", "increase", "decrease"}
        "two-sided" (default) tests both directions at alpha/2 each, like the paper's
        |Z| > 1.96.  "increase" only tests for restoration (no SD class is produced) at alpha;
        "decrease" only for degradation.
    fdr : float, optional
        If given, control the false discovery rate at this level instead of the per-pixel
        alpha: BH over the family p-values (two-sided p, or the tested tail), restricted to
        pixels with at least ``min_valid`` years.  ``alpha`` is then unused.
    fdr_method : {"bh", "by"}
        See :func:`fdr_bh`.
    fdr_groups : array_like of int, optional
        Per-mine families, see :func:`fdr_bh`.
    min_valid : int
        Pixels with fewer valid years are nodata and flagged (default 10).
    zero_slope_direction : {"slope", "sign_S"}
        Direction of non-significant pixels with a zero Sen slope.
    dropped : array_like, optional
        ``IndexResult.dropped``; sets the ``years_dropped`` flag.

    Returns
    -------
    classes : ndarray of uint8
        0 nodata, 1 SD, 2 ND, 3 NI, 4 SAI, 5 SCI, 6 SI with undefined H.
    flags : ndarray of uint8
        Bits of :data:`mlri.FLAG_BITS`, as :func:`mlri.classify` (``slope0_significant`` is set
        when a significant pixel has a zero Sen slope).
    """
    if not isinstance(result, tuple) or not hasattr(result, "hurst"):
        msg = "result must be the TrendResult returned by mlri.trend()"
        raise TypeError(msg)
    alt = choice(alternative, "alternative", _ALTERNATIVES)
    _tail_alpha(alpha, alternative)
    kw = {"alpha": alpha, "alternative": alternative, "min_valid": min_valid,
          "zero_slope_direction": zero_slope_direction, "dropped": dropped}
    if fdr is None:
        return classify(result, p_increase=p_increase, p_decrease=p_decrease, **kw)
    # FDR: BH decides which pixels are significant; the class rule then reads those decisions
    # as p-values 0 (rejected in this tail) / 1 (not), NaN kept (no test).
    nv = np.reshape(np.asarray(result.n_valid), -1).astype(np.int64)
    slope = np.reshape(np.asarray(result.slope, dtype=np.float64), -1)
    pi = np.asarray(p_increase, dtype=np.float64)
    pd = np.asarray(p_decrease, dtype=np.float64)
    for name, a in (("p_increase", pi), ("p_decrease", pd)):
        if a.size != nv.size:
            msg = f"{name} has {a.size} pixels but result has {nv.size}"
            raise ValueError(msg)
    if int(min_valid) < 0:
        msg = f"min_valid must be >= 0, got {min_valid!r}"
        raise ValueError(msg)
    shape = np.shape(result.z)
    pi = pi.reshape(-1)
    pd = pd.reshape(-1)
    few = (nv < int(min_valid)) | (nv < 2)
    usable = ~few & np.isfinite(slope) & ~np.isnan(pi) & ~np.isnan(pd)
    if alt == 0:
        fam = np.minimum(1.0, 2.0 * np.fmin(pi, pd))
    else:
        fam = pi if alt == 1 else pd
    fam = np.where(usable, fam, np.nan)
    g = None if fdr_groups is None else np.reshape(np.asarray(fdr_groups), -1)
    if g is not None and g.size != nv.size:
        msg = f"fdr_groups has {g.size} pixels but result has {nv.size}"
        raise ValueError(msg)
    rej = fdr_bh(fam, fdr, method=fdr_method, groups=g).reject
    up_sig = rej & (pi <= pd) if alt == 0 else (rej if alt == 1 else np.zeros_like(rej))
    down_sig = rej & (pd < pi) if alt == 0 else (rej if alt == 2 else np.zeros_like(rej))
    dec_i = np.where(np.isnan(pi), np.nan, np.where(up_sig, 0.0, 1.0)).reshape(shape)
    dec_d = np.where(np.isnan(pd), np.nan, np.where(down_sig, 0.0, 1.0)).reshape(shape)
    return classify(result, p_increase=dec_i, p_decrease=dec_d, **kw)


# ---------------------------------------------------------------------------------------------
# serial correlation: Hamed–Rao and Yue–Wang
# ---------------------------------------------------------------------------------------------


class ModifiedMKResult(NamedTuple):
    """Result of :func:`mk_modified`, each an array of the spatial shape.

    Attributes
    ----------
    n_valid : int32
    s : float64
        Mann–Kendall S (unchanged by the correction).
    var_s : float64
        Corrected variance ``var_s_original · correction``; NaN where the correction is invalid.
    var_s_original : float64
        Tie-corrected variance of the original test.
    correction : float64
        The variance inflation factor n/n* (may be <= 0 where the formula breaks down).
    z : float64
        Continuity-corrected Z from the corrected variance (see ``on_invalid``).
    p : float64
        Two-sided p, ``erfc(|Z|/√2)``.
    invalid : bool
        True where the correction is undefined or non-positive (n < 3 for Hamed–Rao, constant
        residuals, n/n* <= 0).
    """

    n_valid: np.ndarray
    s: np.ndarray
    var_s: np.ndarray
    var_s_original: np.ndarray
    correction: np.ndarray
    z: np.ndarray
    p: np.ndarray
    invalid: np.ndarray


def _compact(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Move the valid entries of each column to the top (time order kept); zero padding."""
    order = np.argsort(~valid, axis=0, kind="stable")
    out = np.take_along_axis(np.where(valid, values, 0.0), order, axis=0)
    return out


def _avg_ranks(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, as scipy.stats.rankdata) of the first n[p] rows of each column."""
    t = x.shape[0]
    inside = np.arange(t)[:, None] < n[None, :]
    xi = x[:, None, :]
    xj = x[None, :, :]
    vj = inside[None, :, :]
    less = np.sum((xj < xi) & vj, axis=1)
    equal = np.sum((xj == xi) & vj, axis=1)
    r = less + (equal + 1) / 2.0
    return np.where(inside, r, 0.0)


def _acf(x: np.ndarray, n: np.ndarray, max_lag: int) -> np.ndarray:
    """ACF (biased autocovariance / variance, as pymannkendall) of compacted columns."""
    t = x.shape[0]
    inside = np.arange(t)[:, None] < n[None, :]
    nn = np.maximum(n, 1).astype(np.float64)
    mean = np.sum(np.where(inside, x, 0.0), axis=0) / nn
    y = np.where(inside, x - mean, 0.0)
    # the ACF is scale-invariant: scale by max|y| so that huge values cannot overflow
    scale = np.max(np.abs(y), axis=0)
    y = y / np.where(scale > 0, scale, 1.0)
    out = np.zeros((max_lag + 1, x.shape[1]))
    for k in range(max_lag + 1):
        out[k] = np.sum(y[: t - k] * y[k:], axis=0) / nn
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / out[0]


def mk_modified(
    series: Any,
    years: Any = None,
    *,
    method: str = "hamed_rao",
    lag: int | str | None = None,
    acf_alpha: float = 0.05,
    time: str = "years",
    on_invalid: str = "original",
    chunk: int = 8192,
) -> ModifiedMKResult:
    """Mann–Kendall test with a variance correction for serial correlation, per pixel.

    Parameters
    ----------
    series : array_like, shape (time, ...)
        E.g. an MLRI or EVI stack.  NaN/inf are dropped per pixel (listwise).
    years : sequence of float, optional
        Real time of each step; defaults to 2000–2011, 2013–2019 for 19 steps.  Used to detrend
        with Sen's slope over real years (``time="years"``).
    method : {"hamed_rao", "yue_wang"}
        "hamed_rao" (Hamed & Rao 1998): ACF of the *ranks* of the Sen-detrended series, only
        lags significant at ``acf_alpha`` enter
        ``n/n* = 1 + 2/(n(n−1)(n−2)) Σ (n−k)(n−k−1)(n−k−2) ρ_k``.
        "yue_wang" (Yue & Wang 2004): ACF of the Sen-detrended values, lags 1..lag,
        ``n/n* = 1 + 2 Σ (1 − k/n) ρ_k``.
    lag : int, "all" or None
        Use lags 1..lag only; "all" uses 1..n−1 (pymannkendall's default, ``lag=None`` there).
        None (default) takes each method's own proposal: all lags (screened for significance)
        for Hamed–Rao, lag 1 for Yue–Wang.  With n ≈ 19, Yue–Wang over all lags shrinks the
        variance so much that about 40 % of white-noise series are "significant" (see
        docs/significance.md); do not use ``lag="all"`` with it except for compatibility.
    acf_alpha : float
        Level of the ±z/√n significance band for Hamed–Rao lags (default 0.05).
    time : {"years", "index"}
        Detrend over real years (default) or over the step index (pymannkendall-compatible).
        Without gaps and with consecutive years both agree exactly.
    on_invalid : {"original", "nan"}
        Where n/n* <= 0 or is undefined: "original" (default) keeps the uncorrected variance for
        Z and p (conservative: a breakdown comes from strong negative autocorrelation, which
        would shrink the variance) and sets ``invalid``; "nan" gives NaN Z and p.
    chunk : int
        Pixels per vectorised batch (memory ~ chunk · T² bytes).

    Returns
    -------
    ModifiedMKResult

    Notes
    -----
    Differences from pymannkendall 1.4.3 (``hamed_rao_modification_test`` /
    ``yue_wang_modification_test``), deliberate:

    * its n/n* <= 0 gives a negative variance and NaN Z/p (pyMannKendall #29); here
      ``on_invalid`` decides and ``invalid`` flags it;
    * with missing values it detrends the compacted series with a slope computed on the
      index-aligned one (mismatched time axes); here detrending uses each value's own time;
    * PR #31 proposes the ACF of the raw series for Hamed–Rao; that contradicts Hamed & Rao
      (ranks of the detrended series) and lets the trend itself inflate the ACF, so mlri keeps
      the detrended ranks as pymannkendall 1.4.3 does;
    * constant residuals (a perfectly linear series) make the ACF 0/0: the correction is
      invalid (pymannkendall: NaN).

    Elsewhere (gap-free series, consecutive time, n/n* > 0) the results agree with
    pymannkendall to rounding.

    References
    ----------
    Hamed & Rao (1998) J. Hydrol. 204:182, doi:10.1016/S0022-1694(97)00125-X;
    Yue & Wang (2004) Water Resour. Manag. 18:201, doi:10.1023/B:WARM.0000043140.61082.60.
    """
    m = choice(method, "method", ("hamed_rao", "yue_wang"))
    tmode = choice(time, "time", ("years", "index"))
    inv = choice(on_invalid, "on_invalid", ("original", "nan"))
    if not 0 < acf_alpha < 1:
        msg = f"acf_alpha must be in (0, 1), got {acf_alpha!r}"
        raise ValueError(msg)
    if lag is None:
        lag = "all" if m == 0 else 1
    if isinstance(lag, str):
        if lag != "all":
            msg = f"lag must be a positive integer, 'all' or None, got {lag!r}"
            raise ValueError(msg)
        lag = None
    elif operator.index(lag) < 1:
        msg = f"lag must be a positive integer, 'all' or None, got {lag!r}"
        raise ValueError(msg)
    arr = as_float_array(series, "series").astype(np.float64, copy=False)
    flat, spatial = as_time_pixel(arr, "series")
    t_n = flat.shape[0]
    if tmode == 0:
        # time since the first step + 1: for consecutive years this is pymannkendall's index
        # 1..n exactly (same rounding of the residuals), and it avoids cancellation against
        # slope * 2000
        yrs = check_years(years, t_n, required=True)
        tt = yrs - yrs[0] + 1.0 if t_n else yrs
    else:
        check_years(years, t_n, required=False)
        tt = np.arange(1, t_n + 1, dtype=np.float64)  # pymannkendall's detrending index
    mk = mann_kendall(flat)
    sen = sens_slope(flat, tt)
    n = np.asarray(mk.n_valid, dtype=np.int64).reshape(-1)
    s = np.asarray(mk.s, dtype=np.float64).reshape(-1)
    var0 = np.asarray(mk.var_s, dtype=np.float64).reshape(-1)
    slope = np.asarray(sen.slope, dtype=np.float64).reshape(-1)
    npx = flat.shape[1]
    corr = np.full(npx, np.nan)
    zcrit = _norm_ppf(1 - acf_alpha / 2)
    for a in range(0, npx, max(1, int(chunk))):
        b = min(npx, a + max(1, int(chunk)))
        y = flat[:, a:b]
        valid = np.isfinite(y)
        nn = n[a:b]
        resid = np.where(valid, y - slope[a:b] * tt[:, None], 0.0)
        xc = _compact(resid, valid)
        if m == 0:
            xc = _avg_ranks(xc, nn)
        max_lag = max(t_n - 1, 0) if lag is None else min(int(lag), max(t_n - 1, 0))
        r = _acf(xc, nn, max_lag)
        k = np.arange(1, max_lag + 1)[:, None]
        use = k < nn[None, :]
        if lag is not None:
            use &= k <= int(lag)
        nf = nn.astype(np.float64)[None, :]
        rk = r[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            if m == 0:
                sig = use & (np.abs(rk) > zcrit / np.sqrt(nf))
                terms = np.where(sig, (nf - k) * (nf - k - 1) * (nf - k - 2) * rk, 0.0)
                c = 1.0 + 2.0 / (nf[0] * (nf[0] - 1) * (nf[0] - 2)) * np.sum(terms, axis=0)
                c = np.where(nn >= 3, c, np.nan)
            else:
                terms = np.where(use, (1.0 - k / nf) * rk, 0.0)
                c = 1.0 + 2.0 * np.sum(terms, axis=0)
                c = np.where(nn >= 2, c, np.nan)
            c = np.where(np.isfinite(r[0]), c, np.nan)
        corr[a:b] = c
    bad = ~(np.isfinite(corr) & (corr > 0)) & (n >= 2)
    var_c = np.where(bad, np.nan, var0 * corr)
    var_use = np.where(bad, var0 if inv == 0 else np.nan, var_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var_use),
                     np.where(s < 0, (s + 1) / np.sqrt(var_use), 0.0))
    z = np.where(np.isnan(s) | np.isnan(var_use), np.nan, z)
    p = _erfc(np.abs(z) / _SQRT2)
    out = ModifiedMKResult(
        n_valid=n.astype(np.int32), s=s, var_s=var_c, var_s_original=var0, correction=corr,
        z=z, p=p, invalid=bad,
    )
    return ModifiedMKResult(*(_unflatten(np.asarray(v), spatial) for v in out))


def _norm_ppf(x: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(x)


def _erfc(x: np.ndarray) -> np.ndarray:
    from scipy.special import erfc

    return erfc(x)


# The registry of map significance tests (``mlri run --significance``): importing the built-in
# tests registers them.
from . import methods as methods
from .registry import get_test as get_test
from .registry import register_test as register_test
from .registry import test_names as test_names
