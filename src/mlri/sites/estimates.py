"""Confusion matrix, sample-count accuracy measures and area-adjusted (stratified) estimates.

Every confusion matrix here has **rows = map (classified) labels, columns = reference labels**
(Congalton & Green; Olofsson et al. 2014).  :func:`area_adjusted` gives the stratified
estimators of overall, user's and producer's accuracy and of each class's area with standard
errors and 95 % confidence intervals (Olofsson et al. 2014, Remote Sens. Environ. 148:42-57;
Stehman 2014, Int. J. Remote Sens. 35:4923).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["accuracy_metrics", "area_adjusted", "confusion_matrix"]


# ------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------
def confusion_matrix(map_labels: Sequence[Any], ref_labels: Sequence[Any],
                     labels: Sequence[Any]) -> np.ndarray:
    """Counts with **rows = map, columns = reference**, in the order of ``labels``.

    Pairs whose map or reference label is not in ``labels`` are ignored.
    """
    if len(map_labels) != len(ref_labels):
        msg = f"{len(map_labels)} map labels but {len(ref_labels)} reference labels"
        raise ValueError(msg)
    pos = {lab: i for i, lab in enumerate(labels)}
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    for m, r in zip(map_labels, ref_labels, strict=False):
        i, j = pos.get(m), pos.get(r)
        if i is not None and j is not None:
            cm[i, j] += 1
    return cm


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def accuracy_metrics(cm: Any, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Sample-count accuracy measures of a confusion matrix (rows = map, cols = reference).

    Returns overall accuracy, Cohen's kappa ``(p_o - p_e)/(1 - p_e)`` with
    ``p_e = Σ_i row_i·col_i / n²``, and per class producer's accuracy (``cm[j,j]/col_j``),
    user's accuracy (``cm[i,i]/row_i``), omission and commission errors and F1.  Undefined
    ratios (0/0) are NaN.
    """
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        msg = f"confusion matrix must be square, got shape {m.shape}"
        raise ValueError(msg)
    if (m < 0).any():
        msg = "confusion matrix has negative counts"
        raise ValueError(msg)
    k = m.shape[0]
    labels = list(labels) if labels is not None else [str(i) for i in range(k)]
    n = m.sum()
    rows, cols, diag = m.sum(axis=1), m.sum(axis=0), np.diag(m)
    po = _div(diag.sum(), n)
    pe = _div(float((rows * cols).sum()), n * n)
    kappa = (po - pe) / (1 - pe) if n and pe != 1 else float("nan")
    per = []
    for i, lab in enumerate(labels):
        ua, pa = _div(diag[i], rows[i]), _div(diag[i], cols[i])
        f1 = 2 * ua * pa / (ua + pa) if (ua + pa) > 0 else float("nan")
        per.append({"class": lab, "n_map": int(rows[i]), "n_reference": int(cols[i]),
                    "correct": int(diag[i]), "users_accuracy": ua, "producers_accuracy": pa,
                    "commission_error": 1 - ua, "omission_error": 1 - pa, "f1": f1})
    return {"n": int(n), "overall_accuracy": po, "kappa": kappa, "expected_agreement": pe,
            "classes": per, "labels": labels,
            "matrix": m.astype(np.int64).tolist(),
            "matrix_axes": "rows = map, columns = reference"}


def _strat_ratio(y: np.ndarray, x: np.ndarray | None, h: np.ndarray, W: dict[Any, float],
                 n_h: dict[Any, int]) -> tuple[float, float]:
    """Stratified estimate (and SE) of a total-proportion (x None) or of a ratio Σy/Σx.

    The SE is NaN (undefined, not zero) when a stratum that contributes to the estimate has a
    single sample point: its within-stratum variance cannot be estimated (see
    :func:`_single_point_strata`)."""
    est_y = sum(w * y[h == s].mean() for s, w in W.items())
    if x is None:
        var = 0.0
        for s, w in W.items():
            ys = y[h == s]
            if n_h[s] < 2:  # variance not estimable unless the indicator is 0 there
                if np.any(ys):
                    return float(est_y), float("nan")
                continue
            var += w ** 2 * ys.var(ddof=1) / n_h[s]
        return float(est_y), math.sqrt(var)
    est_x = sum(w * x[h == s].mean() for s, w in W.items())
    if est_x <= 0:
        return float("nan"), float("nan")
    r = est_y / est_x
    var = 0.0
    for s, w in W.items():
        sel = h == s
        ys, xs = y[sel], x[sel]
        if n_h[s] < 2:
            if np.any(ys) or np.any(xs):
                return float(r), float("nan")
            continue
        syy = ys.var(ddof=1)
        sxx = xs.var(ddof=1)
        sxy = float(np.cov(ys, xs, ddof=1)[0, 1])
        var += w ** 2 * (syy + r * r * sxx - 2 * r * sxy) / n_h[s]
    return float(r), math.sqrt(max(var, 0.0)) / est_x


_SINGLE_NOTE = (
    "standard errors and 95 % intervals are undefined (left empty, reported as n/a) for the estimates "
    "to which stratum/strata {strata} contribute a non-zero value: each holds a single sample "
    "point, and a within-stratum variance needs at least 2 (it divides by n - 1). The estimates "
    "themselves are valid. Add sample points to those strata (e.g. mlri sample --n 2 or more) "
    "or merge them with a neighbouring stratum.")


def area_adjusted(map_labels: Sequence[Any], ref_labels: Sequence[Any],
                  labels: Sequence[Any], stratum_area: dict[Any, float], *,
                  strata: Sequence[Any] | None = None, z: float = 1.959963984540054,
                  area_unit: str = "ha") -> dict[str, Any]:
    """Stratified (area-weighted) accuracy and area estimates with standard errors and CIs.

    Parameters
    ----------
    map_labels, ref_labels : sequence
        Map and reference label per sample point.
    labels : sequence
        The classes (matrix order).
    stratum_area : dict
        Area (or pixel count) of every stratum in the population — with ``strata=None`` the
        strata are the map classes and this is the map area per class.
    strata : sequence, optional
        Stratum of each point when the sampling strata differ from (are nested in) the map
        classes, e.g. points drawn per 6-class stratum but assessed as restored / not restored.
    z : float
        Normal quantile of the confidence interval (1.96 for 95 %).

    Returns
    -------
    dict
        ``overall_accuracy`` {estimate, se, ci95}; per class ``users_accuracy``,
        ``producers_accuracy`` {estimate, se, ci95}, ``area_proportion``, ``area``
        {estimate, se, ci95 (±half-width)}, ``mapped_area``; ``matrix_proportions`` (p̂_ij, rows
        = map); the ``total_area``.

    Notes
    -----
    With strata = map classes these are Olofsson et al. (2014) eqs. 1-11:
    ``p̂_ij = W_i n_ij/n_i.``, ``Â_j = A Σ_i p̂_ij``,
    ``SE(p̂_.j) = sqrt(Σ_i W_i² (n_ij/n_i.)(1 - n_ij/n_i.)/(n_i. - 1))``; user's, producer's
    and overall accuracy with their variances.  In general they are the stratified estimator
    of a proportion and the combined ratio estimator with the linearised variance (Stehman
    2014), which reduce to Olofsson's equations in that case.
    """
    mp = np.asarray(list(map_labels), dtype=object)
    rf = np.asarray(list(ref_labels), dtype=object)
    h = mp if strata is None else np.asarray(list(strata), dtype=object)
    if not (mp.size == rf.size == h.size):
        msg = "map labels, reference labels and strata must have the same length"
        raise ValueError(msg)
    total = float(sum(stratum_area.values()))
    if total <= 0:
        msg = "stratum areas must sum to a positive number"
        raise ValueError(msg)
    present = {s for s in stratum_area if stratum_area[s] > 0}
    n_h = {s: int(np.sum(h == s)) for s in present}
    missing = [s for s in present if n_h[s] == 0]
    notes = []
    if missing:
        notes.append("strata with mapped area but no sample point (estimates biased, their "
                     f"area is ignored): {', '.join(map(str, sorted(missing, key=str)))}")
    W = {s: stratum_area[s] / total for s in present if n_h[s] > 0}
    wsum = sum(W.values())
    keep = np.isin(h, list(W))
    mp, rf, h = mp[keep], rf[keep], h[keep]
    if not W or wsum <= 0:
        msg = "no sample point falls in a stratum with mapped area"
        raise ValueError(msg)
    W = {s: w / wsum for s, w in W.items()}
    area_total = total * wsum

    single = sorted((s for s in W if n_h[s] == 1), key=str)
    if single:
        notes.append(_SINGLE_NOTE.format(strata=", ".join(map(str, single))))

    def ci(est: float, se: float) -> dict[str, Any]:
        d: dict[str, Any] = {"estimate": est, "se": se,
                             "ci95": z * se if math.isfinite(se) else float("nan"),
                             "lower": est - z * se, "upper": est + z * se}
        if math.isfinite(est) and not math.isfinite(se) and single:
            d["se_undefined"] = ("a stratum with one sample point contributes "
                                 f"({', '.join(map(str, single))}); see notes")
        return d

    correct = (mp == rf).astype(np.float64)
    oa, oa_se = _strat_ratio(correct, None, h, W, n_h)
    k = len(labels)
    P = np.zeros((k, k))
    for i, li in enumerate(labels):
        for j, lj in enumerate(labels):
            y = ((mp == li) & (rf == lj)).astype(np.float64)
            P[i, j] = sum(w * y[h == s].mean() for s, w in W.items())
    per = []
    for lab in labels:
        in_map = (mp == lab).astype(np.float64)
        in_ref = (rf == lab).astype(np.float64)
        both = in_map * in_ref
        ua, ua_se = _strat_ratio(both, in_map, h, W, n_h)
        pa, pa_se = _strat_ratio(both, in_ref, h, W, n_h)
        p_j, p_se = _strat_ratio(in_ref, None, h, W, n_h)
        mapped = float(stratum_area.get(lab, 0.0)) if strata is None else float("nan")
        per.append({"class": lab, "users_accuracy": ci(ua, ua_se),
                    "producers_accuracy": ci(pa, pa_se),
                    "area_proportion": ci(p_j, p_se),
                    "area": ci(p_j * area_total, p_se * area_total),
                    "mapped_area": mapped})
    return {"method": "stratified estimator (Olofsson et al. 2014; Stehman 2014)",
            "confidence": 0.95 if abs(z - 1.959963984540054) < 1e-9 else None, "z": z,
            "area_unit": area_unit, "total_area": area_total,
            "strata": {str(s): {"area": float(stratum_area[s]), "weight": W.get(s, 0.0),
                                "n": n_h.get(s, 0)} for s in stratum_area},
            "overall_accuracy": ci(oa, oa_se), "classes": per,
            "matrix_proportions": P.tolist(), "notes": notes}
