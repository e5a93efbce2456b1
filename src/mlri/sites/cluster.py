"""K-means clustering of mines by their (SCI %, SAI %) composition, as in the paper.

Clusters are relabelled by restoration level: cluster 1 has the highest mean SI % (SI = SCI +
SAI + SI with undefined H), cluster k the lowest.  With k = 3 the levels are named "high",
"medium", "low"; with k = 2 "high", "low"; otherwise "level 1" ... "level k".  Ties in mean SI %
are broken by the centroid coordinates, so the labelling is fully determined by the data and
the seed.  Needs scikit-learn (``pip install mlri[sites]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import integer
from ._deps import require
from ._table import Table
from .stats import _usable, kruskal_test, metric_columns

__all__ = ["ClusterResult", "check_kmeans_parameters", "cluster_sites", "level_names"]


def level_names(k: int) -> list[str]:
    """Names of restoration levels for k clusters, highest first."""
    if k == 3:
        return ["high", "medium", "low"]
    if k == 2:
        return ["high", "low"]
    return [f"level {i + 1}" for i in range(k)]


@dataclass
class ClusterResult:
    """Result of :func:`cluster_sites`.

    ``labels`` is 1..k per mine (1 = highest restoration) and 0 for mines not clustered;
    ``levels`` the level name per mine ("" when not clustered); ``centroids`` (k, n_features)
    in the input units (%); ``test`` the Kruskal-Wallis test of SI % between clusters;
    ``feature_tests`` the same for each feature.
    """

    ids: list[str]
    labels: np.ndarray
    levels: list[str]
    features: list[str]
    centroids: np.ndarray
    si_means: np.ndarray
    sizes: np.ndarray
    inertia: float
    silhouette: float
    k: int
    seed: int
    n_init: int
    scaled: bool
    test: dict[str, Any]
    feature_tests: list[dict[str, Any]] = field(default_factory=list)

    def table(self, source: Table | None = None) -> Table:
        """Per-mine ``id, cluster, level`` (+ the features when ``source`` is given)."""
        t = Table({"id": list(self.ids),
                   "cluster": np.where(self.labels > 0, self.labels, 0).astype(np.int64),
                   "level": list(self.levels)})
        if source is not None:
            for c in self.features:
                t[c] = source.numeric(c)
        return t

    def summary(self) -> dict[str, Any]:
        names = level_names(self.k)
        return {
            "method": "k-means (scikit-learn), relabelled by mean SI % (1 = highest)",
            "k": self.k, "seed": self.seed, "n_init": self.n_init, "scaled": self.scaled,
            "features": self.features, "inertia": self.inertia, "silhouette": self.silhouette,
            "clusters": [
                {"cluster": j + 1, "level": names[j], "n": int(self.sizes[j]),
                 "mean_SI_pct": float(self.si_means[j]),
                 "centroid": {f: float(c) for f, c in zip(self.features, self.centroids[j], strict=False)}}
                for j in range(self.k)],
            "kruskal_SI": self.test,
            "kruskal_features": self.feature_tests,
        }


def check_kmeans_parameters(k: Any, seed: Any, n_init: Any) -> tuple[int, int, int]:
    """``(k, seed, n_init)`` as ints, or an error naming the parameter (and its CLI flag):
    k >= 2, 0 <= seed < 2**32 (scikit-learn's ``random_state``), n_init >= 1.

    Checked before any work: a bad value is the caller's mistake, never a reason to skip the
    clustering (too few mines for k is, see :func:`cluster_sites`)."""
    k = integer(k, "k")
    seed = integer(seed, "seed")
    n_init = integer(n_init, "n_init")
    if k < 2:
        msg = f"k must be at least 2 (CLI --k), got {k}"
        raise ValueError(msg)
    if not 0 <= seed <= 2**32 - 1:
        msg = f"seed must be between 0 and 2**32 - 1 (CLI --seed), got {seed}"
        raise ValueError(msg)
    if n_init < 1:
        msg = f"n_init must be at least 1 (CLI --n-init), got {n_init}"
        raise ValueError(msg)
    return k, seed, n_init


def cluster_sites(table: Table, *, features: Sequence[str] = ("SCI", "SAI"), k: int = 3,
                  seed: int = 0, n_init: int = 20, scale: bool = False,
                  denominator: str = "valid", usable: np.ndarray | None = None
                  ) -> ClusterResult:
    """K-means of mines on class shares, relabelled by restoration level.

    Parameters
    ----------
    table : Table
        Per-mine table with the ``pct_valid_*`` (or ``pct_*``) columns.
    features : sequence of str
        Classes (or explicit ``pct_`` columns) to cluster on; default SCI % and SAI %.
    k : int
        Number of clusters (default 3).
    seed : int
        ``random_state`` of k-means: the same seed and data give the same labels.
    n_init : int
        Number of k-means++ initialisations; the best (lowest inertia) is kept.
    scale : bool
        Standardise the features first (default False: both are percentages).
    denominator : {"valid", "mine"}
        Which share columns to use.
    usable : bool array, optional
        Mines to cluster (default: status ok/partial with classified pixels).

    Raises
    ------
    TypeError, ValueError
        A k, seed or n_init that is not an integer or out of range
        (:func:`check_kmeans_parameters`).
    ValueError
        When there are fewer usable mines (or distinct points) than k.
    ImportError
        Without scikit-learn.
    """
    k, seed, n_init = check_kmeans_parameters(k, seed, n_init)
    sk_cluster = require("sklearn.cluster", "clustering mines")
    sk_metrics = require("sklearn.metrics", "clustering mines")
    cols = metric_columns(features, denominator)
    si_col = metric_columns(["SI"], denominator)[0]
    use = _usable(table) if usable is None else np.asarray(usable, dtype=bool)
    X = np.column_stack([table.numeric(c) for c in cols])
    si = table.numeric(si_col)
    use = use & np.all(np.isfinite(X), axis=1) & np.isfinite(si)
    idx = np.flatnonzero(use)
    Xu = X[idx]
    n_distinct = len({tuple(r) for r in Xu.tolist()})
    if idx.size < k or n_distinct < k:
        msg = (f"k-means with k={k} needs at least {k} mines with distinct "
               f"{'/'.join(features)} shares; found {idx.size} mines, {n_distinct} distinct. "
               f"Use a smaller k (--k) or more mines")
        raise ValueError(msg)
    if scale:
        mu, sd = Xu.mean(axis=0), Xu.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        Z = (Xu - mu) / sd
    else:
        mu, sd = np.zeros(Xu.shape[1]), np.ones(Xu.shape[1])
        Z = Xu
    km = sk_cluster.KMeans(n_clusters=k, n_init=n_init, random_state=seed)
    raw = km.fit_predict(Z)
    cent = km.cluster_centers_ * sd + mu
    si_u = si[idx]
    si_means = np.array([si_u[raw == j].mean() for j in range(k)])
    # rank clusters: highest SI first, ties by centroid coordinates (descending)
    keys = [(-si_means[j], *(-cent[j])) for j in range(k)]
    rank = sorted(range(k), key=lambda j: keys[j])
    new_of_old = np.empty(k, dtype=np.int64)
    for new, old in enumerate(rank):
        new_of_old[old] = new + 1
    labels = np.zeros(len(table), dtype=np.int64)
    labels[idx] = new_of_old[raw]
    names = level_names(k)
    levels = [names[lab - 1] if lab > 0 else "" for lab in labels]
    sil = float(sk_metrics.silhouette_score(Z, raw)) if idx.size > k else float("nan")
    grp = [names[lab - 1] if lab > 0 else None for lab in labels]
    test = kruskal_test(si, grp, order=names)
    ftests = [{"column": c, **kruskal_test(table.numeric(c), grp, order=names)} for c in cols]
    return ClusterResult(
        ids=[str(x) for x in table["id"]], labels=labels, levels=levels, features=cols,
        centroids=cent[rank], si_means=si_means[rank],
        sizes=np.array([(raw == j).sum() for j in rank]), inertia=float(km.inertia_),
        silhouette=sil, k=k, seed=seed, n_init=n_init, scaled=bool(scale),
        test={"column": si_col, **test}, feature_tests=ftests)
