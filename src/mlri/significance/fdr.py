"""False discovery rate control (Benjamini-Hochberg / -Yekutieli) and classes from p-values."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._validation import (
    choice,
)
from ..api import (
    TrendResult,
    _pvalue_arrays,
    classify,
)
from ._common import _ALTERNATIVES, _tail_alpha

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
    fin = ~np.isnan(flat)  # the family: NaN alone excludes (an infinite p is an error)
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
    pi, pd = _pvalue_arrays(result, p_increase, p_decrease)
    if int(min_valid) < 0:
        msg = f"min_valid must be >= 0, got {min_valid!r}"
        raise ValueError(msg)
    shape = np.shape(result.z)
    # the family: the pixels the class rule tests (classify.hpp: enough valid years, a finite
    # slope, both p-values defined)
    nv = np.reshape(np.asarray(result.n_valid), -1).astype(np.int64)
    slope = np.reshape(np.asarray(result.slope, dtype=np.float64), -1)
    few = (nv < int(min_valid)) | (nv < 2)
    usable = ~few & np.isfinite(slope) & ~np.isnan(pi) & ~np.isnan(pd)
    fam = np.minimum(1.0, 2.0 * np.fmin(pi, pd)) if alt == 0 else (pi if alt == 1 else pd)
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
