"""Mine-level group tests: Kruskal-Wallis (+ Dunn post-hoc, effect sizes) and Spearman.

The unit of analysis is the **mine** (one value per mine, e.g. its SI %), never the pixel:
pixels of one mine are spatially autocorrelated and not independent observations.

Few mines are the rule here (a region may hold one or two), and the large-sample
approximations of SciPy's p-values fail there: Spearman's t approximation gives p = 0 for any
perfect rank order (3 mines: the exact p is 1/3), and the chi-square approximation of
Kruskal-Wallis gives p = 0.0495 for two groups of three mines in rank order (exact: 0.1) and
p = 0.034 for three against four (exact: 0.057).  So small samples get the **exact
permutation p-value** (every pairing, or every split into groups of the observed sizes, of the
observed values: ties are handled exactly): Spearman for n <= :data:`SPEARMAN_EXACT_MAX_N` mines, Kruskal-Wallis when the
mines can be split in at most :data:`KRUSKAL_EXACT_MAX_SPLITS` ways.  Larger samples use SciPy
(``scipy.stats.spearmanr``'s t approximation, ``scipy.stats.kruskal``'s chi-square); each
result says which in ``p_method``.  Dunn's test is computed here from the pooled mid-ranks
with the tie correction and Holm (default) or Benjamini-Hochberg adjustment; its pairwise p
is exact under the same rule as Kruskal-Wallis', else the normal approximation.  Within one call the p-values of the class metrics are also
BH-adjusted across metrics (``p_bh``) because six class shares are tested at once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain, combinations, permutations
from typing import Any

import numpy as np

from ._table import Table

__all__ = [
    "DEFAULT_METRICS",
    "KRUSKAL_EXACT_MAX_SPLITS",
    "SPEARMAN_EXACT_MAX_N",
    "adjust_pvalues",
    "dunn_test",
    "group_tests",
    "kruskal_test",
    "metric_columns",
    "spearman_tests",
]

#: Class shares tested by default (suffix of the ``pct_valid_`` / ``pct_`` columns).
DEFAULT_METRICS: tuple[str, ...] = ("SI", "SCI", "SAI", "NI", "ND", "SD")

#: Spearman's p is exact (all n! pairings) up to this many mines (9! = 362 880 pairings, as
#: in AS 89 / R's ``cor.test``); above it, the t approximation.
SPEARMAN_EXACT_MAX_N = 9

#: Kruskal-Wallis' p is exact when the mines can be split into groups of the observed sizes in
#: at most this many ways (n! / (n_1! ... n_k!): e.g. 9 mines against 10, three groups of 4, 2
#: mines against up to 445 others; not two groups of 10 or three of 5); above it, the
#: chi-square approximation (adequate once every group has about 5 or more mines).
KRUSKAL_EXACT_MAX_SPLITS = 100_000

# two statistics within this relative distance are equal (mid-ranks are multiples of 1/2: the
# statistics of two pairings or splits differ exactly or by far more than rounding)
_REL_TOL = 1e-9


def metric_columns(metrics: Sequence[str] = DEFAULT_METRICS, denominator: str = "valid"
                   ) -> list[str]:
    """Column names of class shares: ``pct_valid_<cls>`` ("valid") or ``pct_<cls>`` ("mine")."""
    if denominator not in ("valid", "mine"):
        msg = f"denominator must be 'valid' or 'mine', got {denominator!r}"
        raise ValueError(msg)
    pre = "pct_valid_" if denominator == "valid" else "pct_"
    return [m if m.startswith("pct_") else pre + m for m in metrics]


def adjust_pvalues(p: Sequence[float], method: str = "holm") -> np.ndarray:
    """Holm (step-down) or Benjamini-Hochberg adjusted p-values; NaN stay NaN."""
    pv = np.asarray(p, dtype=np.float64)
    out = np.full(pv.shape, np.nan)
    ok = np.isfinite(pv)
    q = pv[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * q[order])
    elif method in ("bh", "fdr_bh"):
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1)) * q[order][::-1])[::-1]
    else:
        msg = f"p_adjust must be 'holm' or 'bh', got {method!r}"
        raise ValueError(msg)
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def _clean(values: Any, groups: Any) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values, dtype=np.float64)
    g = np.asarray([None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)
                    for x in groups], dtype=object)
    if v.shape != g.shape:
        msg = f"values ({v.size}) and groups ({g.size}) differ in length"
        raise ValueError(msg)
    keep = np.isfinite(v) & np.array([x is not None for x in g], dtype=bool)
    return v[keep], g[keep]


def kruskal_test(values: Any, groups: Any, *, order: Sequence[str] | None = None,
                 dunn: bool = True, p_adjust: str = "holm") -> dict[str, Any]:
    """Kruskal-Wallis H test of ``values`` between ``groups`` (NaN / None rows dropped).

    Returns a dict with ``statistic`` (H, tie-corrected), ``p``, ``p_method`` ("exact": the
    share of all splits of the values into groups of the observed sizes with H at least as
    large, used when there are at most :data:`KRUSKAL_EXACT_MAX_SPLITS` splits; else
    "chi-square", SciPy's approximation), ``df``, ``n``, ``k``, ``epsilon2`` (= H
    (n+1)/(n²-1)), ``eta2_h`` (= (H-k+1)/(n-k)), per-group ``n``, median, mean, quartiles and
    mean rank, Dunn pairwise comparisons, and ``note`` when the test is undefined (fewer than 2
    groups, or all values identical: statistic and p are then NaN, ``p_method`` "").
    """
    from scipy import stats

    v, g = _clean(values, groups)
    labels = list(order) if order is not None else sorted(set(g.tolist()), key=_natural)
    labels = [lab for lab in labels if np.any(g == lab)]
    samples = [v[g == lab] for lab in labels]
    n, k = int(v.size), len(labels)
    ranks = stats.rankdata(v) if n else np.array([])
    res: dict[str, Any] = {
        "test": "kruskal-wallis", "statistic": float("nan"), "p": float("nan"), "p_method": "",
        "df": k - 1, "n": n, "k": k, "epsilon2": float("nan"), "eta2_h": float("nan"), "note": "",
        "groups": [
            {"group": lab, "n": int(s.size), "median": float(np.median(s)),
             "mean": float(np.mean(s)), "q1": float(np.percentile(s, 25)),
             "q3": float(np.percentile(s, 75)),
             "mean_rank": float(ranks[g == lab].mean())}
            for lab, s in zip(labels, samples, strict=False)],
        "dunn": [],
    }
    if k < 2:
        res["note"] = (f"needs at least 2 non-empty groups, found {k} among the {n} mines "
                       f"with a value and a group")
        return res
    if np.all(v == v[0]):
        res["note"] = "all values identical: no test possible"
        return res
    h, p = stats.kruskal(*samples)
    res["statistic"], res["p"], res["p_method"] = float(h), float(p), "chi-square"
    if _n_splits([s.size for s in samples]) <= KRUSKAL_EXACT_MAX_SPLITS:
        res["p"], res["p_method"] = _kruskal_exact_p(ranks, [g == lab for lab in labels]), "exact"
    if n > 1:
        res["epsilon2"] = float(h * (n + 1) / (n * n - 1))
    if n > k:
        res["eta2_h"] = float((h - k + 1) / (n - k))
    if dunn:
        res["dunn"] = dunn_test(v, g, order=labels, p_adjust=p_adjust)
    return res


def _n_splits(sizes: Sequence[int]) -> int:
    """Number of distinct splits of sum(sizes) items into groups of these sizes."""
    out, left = 1, int(sum(sizes))
    for m in sizes:
        out *= math.comb(left, int(m))
        left -= int(m)
    return out


def _kruskal_exact_p(ranks: np.ndarray, masks: Sequence[np.ndarray]) -> float:
    """Exact permutation p of Kruskal-Wallis: the share of all splits of the pooled mid-ranks
    into groups of the observed sizes whose H is at least the observed one.

    H is an increasing function of ``sum(R_j² / n_j)`` (R_j the rank sum of group j; the tie
    correction is the same for every split), so that sum is compared.
    """
    sizes = np.array([int(m.sum()) for m in masks], dtype=np.float64)
    obs = sum(float(ranks[m].sum()) ** 2 / s for m, s in zip(masks, sizes, strict=True))
    stat = (_split_rank_sums(ranks, sizes.astype(int).tolist()) ** 2 / sizes).sum(axis=1)
    return float(np.mean(stat >= obs - _REL_TOL * abs(obs)))


def _split_rank_sums(ranks: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Rank sums of every group (columns, in the order of ``sizes``) for every split of the
    pooled ``ranks`` into groups of ``sizes`` (rows).  The largest group is the complement
    of the others and is not enumerated."""
    order = sorted(range(len(sizes)), key=lambda j: sizes[j])
    head = [int(sizes[j]) for j in order[:-1]]
    idx = _split_index(ranks.size, head)
    sums = np.zeros((idx.shape[0], len(sizes)))
    start = 0
    for j, s in zip(order[:-1], head, strict=True):
        sums[:, j] = ranks[idx[:, start:start + s]].sum(axis=1)
        start += s
    sums[:, order[-1]] = float(ranks.sum()) - sums.sum(axis=1)
    return sums


def _split_index(n: int, sizes: Sequence[int]) -> np.ndarray:
    """Every way to draw disjoint groups of ``sizes`` from range(n) (order within a group
    ignored), one per row: the groups' items side by side.  Built group by group in NumPy:
    each partial split is extended by every combination of the items it left free."""
    idx = np.zeros((1, 0), dtype=np.intp)
    for s in sizes:
        m = idx.shape[0]
        free = np.ones((m, n), dtype=bool)
        free[np.arange(m)[:, None], idx] = False
        rest = np.nonzero(free)[1].reshape(m, -1)
        comb = _combinations(rest.shape[1], int(s))
        idx = np.concatenate([np.repeat(idx, comb.shape[0], axis=0),
                              rest[:, comb].reshape(-1, int(s))], axis=1)
    return idx


@lru_cache(maxsize=32)
def _combinations(n: int, k: int) -> np.ndarray:
    """All k-subsets of range(n), one per row (read-only, cached)."""
    a = np.fromiter(chain.from_iterable(combinations(range(n), k)), dtype=np.intp,
                    count=math.comb(n, k) * k).reshape(-1, k)
    a.flags.writeable = False
    return a


def dunn_test(values: Any, groups: Any, *, order: Sequence[str] | None = None,
              p_adjust: str = "holm") -> list[dict[str, Any]]:
    """Dunn (1964) pairwise test on pooled mid-ranks, with tie correction.

    ``z = (R̄_i - R̄_j) / sqrt((N(N+1)/12 - Σ(t³-t)/(12(N-1))) (1/n_i + 1/n_j))``, two-sided p,
    adjusted over all pairs (``holm`` default, or ``bh``).  With two groups z² equals the
    tie-corrected Kruskal-Wallis H.  The p of each pair is **exact** (``p_method`` "exact")
    when the mines can be split into groups of the observed sizes in at most
    :data:`KRUSKAL_EXACT_MAX_SPLITS` ways: the share of those splits whose mean-rank difference
    of the pair is at least as large in absolute value (the normal approximation claims
    differences few mines cannot show); else the normal p (``p_method`` "normal").
    """
    from scipy import stats

    v, g = _clean(values, groups)
    labels = list(order) if order is not None else sorted(set(g.tolist()), key=_natural)
    labels = [lab for lab in labels if np.any(g == lab)]
    n = v.size
    if len(labels) < 2 or n < 2:
        return []
    ranks = stats.rankdata(v)
    _, t = np.unique(v, return_counts=True)
    ties = float(np.sum(t.astype(np.float64) ** 3 - t))
    s2 = n * (n + 1) / 12.0 - ties / (12.0 * (n - 1))
    sizes = [int(np.sum(g == lab)) for lab in labels]
    exact = s2 > 0 and _n_splits(sizes) <= KRUSKAL_EXACT_MAX_SPLITS
    means = _split_rank_sums(ranks, sizes) / np.array(sizes, dtype=np.float64) if exact else None
    out = []
    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            ma, mb = g == labels[a], g == labels[b]
            na, nb = int(ma.sum()), int(mb.sum())
            diff = float(ranks[ma].mean() - ranks[mb].mean())
            se = math.sqrt(s2 * (1.0 / na + 1.0 / nb)) if s2 > 0 else 0.0
            z = diff / se if se > 0 else float("nan")
            p = float(2 * stats.norm.sf(abs(z))) if se > 0 else float("nan")
            if means is not None:
                d = np.abs(means[:, a] - means[:, b])
                p = float(np.mean(d >= abs(diff) - _REL_TOL * max(abs(diff), 1.0)))
            out.append({"group_a": labels[a], "group_b": labels[b], "n_a": na, "n_b": nb,
                        "mean_rank_diff": diff, "z": z, "p": p,
                        "p_method": ("exact" if means is not None else "normal")
                        if se > 0 else ""})
    adj = adjust_pvalues([float(r["p"]) for r in out], p_adjust)
    for r, q in zip(out, adj, strict=False):
        r["p_adj"] = float(q)
        r["p_adjust"] = p_adjust
    return out


def _natural(s: str) -> tuple[Any, ...]:
    """Sort key: 'Before 2000' before 'From 2000', numbers numerically."""
    import re

    s2 = str(s)
    low = s2.lower()
    levels = {"high": 0, "medium": 1, "low": 2}
    key = (0 if low.startswith("before") else 1 if low.startswith("from") else
           levels.get(low, 3) + 2)
    return (key, [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", s2)])


def group_tests(table: Table, group_col: str, *, metrics: Sequence[str] = DEFAULT_METRICS,
                denominator: str = "valid", usable: np.ndarray | None = None,
                order: Sequence[str] | None = None, p_adjust: str = "holm"
                ) -> dict[str, Any]:
    """Kruskal-Wallis of each class share between the groups of ``group_col``.

    Parameters
    ----------
    table : Table
        Per-mine table (``ZonalResult.table``, or ``sites.csv`` read back).
    group_col : str
        Categorical column (e.g. ``start_group``, ``region``, ``cluster``).
    metrics : sequence of str
        Class names (``SI``, ``SCI``, ...) or explicit ``pct_...`` columns.
    denominator : {"valid", "mine"}
        Share of the classified pixels (default) or of all the mine's pixels.
    usable : bool array, optional
        Mines to include (default: status ok/partial and at least one classified pixel).

    Returns
    -------
    dict
        ``{"group_col", "denominator", "n_mines", "tests": [ {metric, column, statistic, p,
        p_bh, df, n, k, epsilon2, eta2_h, groups, dunn, note}, ... ]}``.
    """
    cols = metric_columns(metrics, denominator)
    use = _usable(table) if usable is None else np.asarray(usable, dtype=bool)
    grp = [table[group_col][i] if use[i] else None for i in range(len(table))]
    tests = []
    for m, c in zip(metrics, cols, strict=False):
        r = kruskal_test(table.numeric(c), grp, order=order, p_adjust=p_adjust)
        tests.append({"metric": m, "column": c, **r})
    padj = adjust_pvalues([t["p"] for t in tests], "bh")
    for t, q in zip(tests, padj, strict=False):
        t["p_bh"] = float(q)
    return {"group_col": group_col, "denominator": denominator,
            "n_mines": int(sum(x is not None for x in grp)), "tests": tests}


def spearman_tests(table: Table, x_col: str = "duration", *,
                   metrics: Sequence[str] = DEFAULT_METRICS, denominator: str = "valid",
                   usable: np.ndarray | None = None) -> dict[str, Any]:
    """Spearman rank correlation of each class share with ``x_col`` (default mining duration).

    Rows with a missing x or share are dropped per metric.  Returns ``{"x_col", "tests":
    [{metric, column, rho, p, p_method, p_bh, n, note}, ...]}``; rho and p are NaN (with a
    note) for fewer than 3 mines or a constant variable.

    The two-sided p is **exact** for n <= :data:`SPEARMAN_EXACT_MAX_N` mines (``p_method``
    "exact"): the share of all n! pairings of the observed values whose rank correlation is at
    least as far from 0, ties included (a perfect order of 3 mines gives p = 1/3, of 4 mines
    1/12).  Above that, SciPy's t approximation (``p_method`` "t"), never below 2/n!, the
    smallest p any pairing can give (the approximation gives 0 for |rho| = 1).
    """
    from scipy import stats

    cols = metric_columns(metrics, denominator)
    use = _usable(table) if usable is None else np.asarray(usable, dtype=bool)
    x = table.numeric(x_col)
    tests = []
    for m, c in zip(metrics, cols, strict=False):
        y = table.numeric(c)
        keep = use & np.isfinite(x) & np.isfinite(y)
        n = int(keep.sum())
        rec: dict[str, Any] = {"metric": m, "column": c, "rho": float("nan"),
                               "p": float("nan"), "p_method": "", "n": n, "note": ""}
        if n < 3:
            rec["note"] = f"needs at least 3 mines with both values, found {n}"
        elif np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
            rec["note"] = f"{'x' if np.ptp(x[keep]) == 0 else m} is constant: undefined"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", stats.ConstantInputWarning)
                r = stats.spearmanr(x[keep], y[keep])
            rec["rho"] = float(r.statistic)
            if n <= SPEARMAN_EXACT_MAX_N:
                rec["p"], rec["p_method"] = _spearman_exact_p(x[keep], y[keep]), "exact"
            else:
                rec["p"] = max(float(r.pvalue), 2.0 / math.factorial(n))
                rec["p_method"] = "t"
        tests.append(rec)
    padj = adjust_pvalues([t["p"] for t in tests], "bh")
    for t, q in zip(tests, padj, strict=False):
        t["p_bh"] = float(q)
    return {"x_col": x_col, "denominator": denominator, "tests": tests}


def _spearman_exact_p(x: np.ndarray, y: np.ndarray) -> float:
    """Exact two-sided permutation p of Spearman's rho: the share of all n! pairings of the
    y values with the x values whose ``|sum (rx - mean)(ry - mean)|`` (rho times a constant:
    permuting does not change the ranks' spread) reaches the observed one.  Mid-ranks make
    ties exact."""
    from scipy import stats

    rx = stats.rankdata(x)
    ry = stats.rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    obs = abs(float(rx @ ry))
    s = np.abs(ry[_all_permutations(rx.size)] @ rx)
    return float(np.mean(s >= obs - _REL_TOL * max(obs, 1.0)))


@lru_cache(maxsize=2)
def _all_permutations(n: int) -> np.ndarray:
    """All n! permutations of range(n), one per row (read-only, cached: 9! rows take 3 MB)."""
    a = np.array(list(permutations(range(n))), dtype=np.int8).reshape(-1, n)
    a.flags.writeable = False
    return a


def _usable(table: Table) -> np.ndarray:
    st = np.array(table["status"], dtype=object) if "status" in table else np.array(
        ["ok"] * len(table), dtype=object)
    nv = table.numeric("n_valid") if "n_valid" in table else np.ones(len(table))
    return np.isin(st, ["ok", "partial"]) & (nv > 0)
