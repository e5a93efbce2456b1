"""Calibration of the MK Z of MLRI against stable reference land."""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np

from ._common import SignificanceWarning, _tail_alpha

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
