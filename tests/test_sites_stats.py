"""Mine-level group tests, start-year rules and clustering."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy import stats

from mlri.sites import (
    Table,
    adjust_pvalues,
    dunn_test,
    group_tests,
    kruskal_test,
    mining_duration,
    parse_start_year,
    spearman_tests,
    start_group,
)
from mlri.sites.stats import metric_columns

CLASSES = ("SI", "SCI", "SAI", "NI", "ND", "SD")


def _table(rng, n=30, groups=("Before 2000", "From 2000")):
    t = Table({"id": [f"m{i}" for i in range(n)]})
    t["status"] = ["ok"] * n
    t["n_valid"] = np.full(n, 100)
    sci = rng.uniform(0, 50, n)
    sai = rng.uniform(0, 30, n)
    ni = rng.uniform(0, 10, n)
    rest = 100 - sci - sai - ni
    t["pct_valid_SCI"] = sci
    t["pct_valid_SAI"] = sai
    t["pct_valid_SI"] = sci + sai
    t["pct_valid_NI"] = ni
    t["pct_valid_ND"] = rest * 0.7
    t["pct_valid_SD"] = rest * 0.3
    t["start_group"] = [groups[i % len(groups)] for i in range(n)]
    t["duration"] = rng.integers(1, 30, n).astype(float)
    return t


def test_start_year_parsing_groups_and_duration():
    cases = {
        2005: (2005, None, None), "2005": (2005, None, None), 1998.0: (1998, None, None),
        "Before 2000": (None, 2000, None), "before2000": (None, 2000, None),
        "<2000": (None, 2000, None), "pre-2000": (None, 2000, None),
        "From 2000": (None, None, 2000), ">=2000": (None, None, 2000),
        "2000+": (None, None, 2000), "after 1999": (None, None, 2000),
        None: (None, None, None), "": (None, None, None), float("nan"): (None, None, None),
    }
    for v, (e, b, f) in cases.items():
        sy = parse_start_year(v)
        assert (sy.exact, sy.before, sy.from_) == (e, b, f), v
    with pytest.raises(ValueError, match="not understood"):
        parse_start_year("sometime")
    with pytest.raises(ValueError, match="whole year"):
        parse_start_year(2000.5)
    # the paper's grouping and duration rule, reference year 2019
    assert start_group(parse_start_year(1999)) == "Before 2000"
    assert start_group(parse_start_year(2000)) == "From 2000"
    assert start_group(parse_start_year("Before 2000")) == "Before 2000"
    assert start_group(parse_start_year("From 2000")) == "From 2000"
    assert start_group(parse_start_year("Before 2005")) is None  # undecidable
    assert start_group(parse_start_year(None)) is None
    assert mining_duration(parse_start_year("Before 2000"), 2019) == 2019 - 2000 + 1
    assert mining_duration(parse_start_year(2005), 2019) == 14
    assert mining_duration(parse_start_year(1985), 2019) == 34  # exact year wins
    assert np.isnan(mining_duration(parse_start_year("From 2000"), 2019))


def test_kruskal_equals_scipy_with_effect_sizes(rng):
    vals = np.r_[rng.normal(0, 1, 9), rng.normal(1, 1, 7), rng.normal(0.5, 1, 11)]
    vals[3] = vals[12]  # a tie
    grp = ["a"] * 9 + ["b"] * 7 + ["c"] * 11
    r = kruskal_test(vals, grp)
    h, p = stats.kruskal(vals[:9], vals[9:16], vals[16:])
    assert r["statistic"] == pytest.approx(h, rel=1e-12)
    assert r["p"] == pytest.approx(p, rel=1e-12)
    n, k = 27, 3
    assert (r["n"], r["k"], r["df"]) == (n, k, 2)
    assert r["epsilon2"] == pytest.approx(h * (n + 1) / (n * n - 1))
    assert r["eta2_h"] == pytest.approx((h - k + 1) / (n - k))
    assert [g["n"] for g in r["groups"]] == [9, 7, 11]
    assert r["groups"][1]["median"] == pytest.approx(np.median(vals[9:16]))
    assert len(r["dunn"]) == 3


def test_kruskal_edge_cases():
    r = kruskal_test([1.0, 1.0, 1.0, 1.0], ["a", "a", "b", "b"])
    assert np.isnan(r["p"]) and "identical" in r["note"]
    r = kruskal_test([1.0, 2.0, 3.0], ["a", "a", "a"])
    assert np.isnan(r["statistic"]) and "at least 2" in r["note"]
    r = kruskal_test([1.0, np.nan, 3.0, 4.0], ["a", "b", None, "b"])  # NaN / None dropped
    assert r["n"] == 2 and [g["group"] for g in r["groups"]] == ["a", "b"]


def test_dunn_two_groups_z_squared_is_kruskal_h(rng):
    x = np.round(rng.normal(0, 1, 25), 1)  # rounding makes ties
    g = ["p" if i % 3 else "q" for i in range(25)]
    d = dunn_test(x, g)
    h, p = stats.kruskal(x[np.array(g) == "p"], x[np.array(g) == "q"])
    assert d[0]["z"] ** 2 == pytest.approx(h, rel=1e-10)
    assert d[0]["p"] == pytest.approx(p, rel=1e-8)


def test_dunn_holm_adjustment(rng):
    x = np.r_[rng.normal(0, 1, 10), rng.normal(2, 1, 10), rng.normal(4, 1, 10)]
    g = ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    d = dunn_test(x, g)
    assert [(r["group_a"], r["group_b"]) for r in d] == [("a", "b"), ("a", "c"), ("b", "c")]
    np.testing.assert_allclose([r["p_adj"] for r in d], adjust_pvalues([r["p"] for r in d]))


def test_adjust_pvalues_known_values():
    p = [0.01, 0.04, 0.03, 0.2, np.nan]
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.04, 0.09, 0.09, 0.2, np.nan])
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2,
                                                         np.nan])
    with pytest.raises(ValueError, match="holm"):
        adjust_pvalues(p, "bonferonni")


def test_group_tests_equal_scipy_on_same_numbers(rng):
    t = _table(rng)
    t["status"][3] = "outside"  # excluded
    t["n_valid"][5] = 0  # no classified pixel: excluded
    res = group_tests(t, "start_group")
    assert res["n_mines"] == 28
    keep = np.ones(30, bool)
    keep[[3, 5]] = False
    g = np.array(t["start_group"])
    for test, c in zip(res["tests"], CLASSES, strict=False):
        v = t[f"pct_valid_{c}"]
        h, p = stats.kruskal(v[keep & (g == "Before 2000")], v[keep & (g == "From 2000")])
        assert test["metric"] == c
        assert test["statistic"] == pytest.approx(h, rel=1e-12)
        assert test["p"] == pytest.approx(p, rel=1e-12)
        assert test["n"] == 28
    np.testing.assert_allclose([x["p_bh"] for x in res["tests"]],
                               adjust_pvalues([x["p"] for x in res["tests"]], "bh"))
    # the other denominator reads the pct_ columns
    assert metric_columns(["SI"], "mine") == ["pct_SI"]
    with pytest.raises(ValueError, match="denominator"):
        metric_columns(["SI"], "pixels")


def test_spearman_equals_scipy_and_drops_missing(rng):
    t = _table(rng)
    d = t["duration"].copy()
    d[[0, 7]] = np.nan
    t["duration"] = d
    res = spearman_tests(t)
    keep = np.isfinite(d)
    for test, c in zip(res["tests"], CLASSES, strict=False):
        r = stats.spearmanr(d[keep], t[f"pct_valid_{c}"][keep])
        assert test["rho"] == pytest.approx(r.statistic, rel=1e-12)
        assert test["p"] == pytest.approx(r.pvalue, rel=1e-12)
        assert test["n"] == 28
    t["duration"] = np.full(30, 5.0)
    res = spearman_tests(t)
    assert np.isnan(res["tests"][0]["rho"]) and "constant" in res["tests"][0]["note"]


def _clustered_table():
    # three well separated groups in (SCI, SAI); SI = SCI + SAI
    pts = ([(60 + i, 5 + i % 3) for i in range(6)] + [(25 + i, 20 + i % 2) for i in range(5)]
           + [(3 + i % 4, 2 + i % 2) for i in range(7)])
    n = len(pts)
    t = Table({"id": [f"s{i:02d}" for i in range(n)], "status": ["ok"] * n,
               "n_valid": np.full(n, 50)})
    t["pct_valid_SCI"] = np.array([p[0] for p in pts], float)
    t["pct_valid_SAI"] = np.array([p[1] for p in pts], float)
    t["pct_valid_SI"] = t["pct_valid_SCI"] + t["pct_valid_SAI"]
    return t


def test_clustering_deterministic_and_ordered_by_restoration():
    pytest.importorskip("sklearn")
    from mlri.sites import cluster_sites

    t = _clustered_table()
    a = cluster_sites(t, seed=1)
    b = cluster_sites(t, seed=1)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert list(a.labels) == [1] * 6 + [2] * 5 + [3] * 7
    assert a.levels[:6] == ["high"] * 6 and a.levels[6] == "medium" and a.levels[-1] == "low"
    assert list(a.sizes) == [6, 5, 7]
    assert np.all(np.diff(a.si_means) < 0)
    np.testing.assert_allclose(a.centroids[0], [62.5, 6.0])
    # another seed finds the same partition with the same labels (order is data-defined)
    np.testing.assert_array_equal(cluster_sites(t, seed=12345).labels, a.labels)
    # Kruskal-Wallis of SI % between clusters = scipy on the same numbers
    si = t["pct_valid_SI"]
    h, p = stats.kruskal(*(si[a.labels == j] for j in (1, 2, 3)))
    assert a.test["statistic"] == pytest.approx(h) and a.test["p"] == pytest.approx(p)
    s = a.summary()
    assert [c["level"] for c in s["clusters"]] == ["high", "medium", "low"]
    ct = a.table(t)
    assert ct.columns == ["id", "cluster", "level", "pct_valid_SCI", "pct_valid_SAI"]


def test_clustering_excludes_unusable_and_needs_k_mines():
    pytest.importorskip("sklearn")
    from mlri.sites import cluster_sites, level_names

    t = _clustered_table()
    t["status"][0] = "outside"
    r = cluster_sites(t, k=2)
    assert r.labels[0] == 0 and r.levels[0] == ""
    assert set(r.labels[1:]) == {1, 2}
    assert level_names(2) == ["high", "low"]
    assert level_names(4)[0] == "level 1"
    small = t.take([1, 2])
    with pytest.raises(ValueError, match=r"k=3 needs at least 3 mines.*--k"):
        cluster_sites(small)


def test_clustering_without_sklearn_names_the_extra(monkeypatch):
    from mlri.sites import cluster_sites

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.cluster", None)
    with pytest.raises(ImportError, match=r"scikit-learn.*pip install 'mlri\[sites\]'"):
        cluster_sites(_clustered_table())


def _perfect_order_table(n):
    t = Table({"id": [f"m{i}" for i in range(n)], "status": ["ok"] * n,
               "n_valid": np.full(n, 100)})
    t["duration"] = np.arange(1.0, n + 1)
    for i, c in enumerate(CLASSES):
        t[f"pct_valid_{c}"] = (np.arange(n) if i % 2 else -np.arange(n)) + 10.0
    return t


def test_spearman_p_is_exact_for_few_mines_and_never_zero():
    # a perfect rank order of 3 mines happens by chance in 2 of 3! pairings: p = 1/3 (the t
    # approximation gave p = 0); of 4 mines 2/4! = 1/12
    import math

    for n, p in ((3, 1 / 3), (4, 1 / 12), (9, 2 / math.factorial(9))):
        res = spearman_tests(_perfect_order_table(n))
        for t in res["tests"]:
            assert abs(t["rho"]) == pytest.approx(1.0)
            assert t["p"] == pytest.approx(p, rel=1e-12) and t["p_method"] == "exact"
            assert t["p_bh"] == pytest.approx(p, rel=1e-12)
    # above the exact range: the t approximation, floored at the smallest attainable p
    res = spearman_tests(_perfect_order_table(10))
    assert res["tests"][0]["p_method"] == "t"
    assert res["tests"][0]["p"] == pytest.approx(2 / math.factorial(10))
    # ties: the exact permutation distribution of the mid-ranks (scipy as the reference)
    x = np.array([3.0, 1.0, 2.0, 2.0, 5.0, 4.0, 4.0])
    y = np.array([10.0, 12.0, 12.0, 15.0, 11.0, 14.0, 13.0])
    t = Table({"id": list("abcdefg"), "duration": x, "pct_valid_SI": y})
    got = spearman_tests(t, metrics=["SI"])["tests"][0]
    # two-sided: P(|rho*| >= |rho|) over all pairings (not twice the smaller tail: with ties
    # the null distribution need not be symmetric)
    ref = stats.permutation_test((x,), lambda a: abs(stats.spearmanr(a, y).statistic),
                                 permutation_type="pairings", n_resamples=np.inf,
                                 alternative="greater")
    assert got["rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert got["p"] == pytest.approx(ref.pvalue, rel=1e-12)


def test_kruskal_p_is_exact_for_small_groups():
    # two groups of 3 in rank order: 2 of the C(6,3) = 20 splits are as extreme, p = 0.1 (the
    # chi-square approximation gave 0.0495, "significant"); 3 against 4: 2/35 (chi2: 0.034)
    r = kruskal_test([1.0, 2, 3, 4, 5, 6], list("aaabbb"))
    assert r["p"] == pytest.approx(0.1) and r["p_method"] == "exact"
    assert r["statistic"] == pytest.approx(stats.kruskal([1, 2, 3], [4, 5, 6]).statistic)
    r = kruskal_test([1.0, 2, 3, 4, 5, 6, 7], list("aaabbbb"))
    assert r["p"] == pytest.approx(2 / 35)
    # one mine alone in its group can never be significant: p = 1/3 with 6 mines
    assert kruskal_test([1.0, 2, 3, 4, 5, 6], list("abbbbb"))["p"] == pytest.approx(1 / 3)
    # three groups with ties: scipy's exact permutation test on the same numbers
    v = [[1.0, 2.0], [2.0, 4.0, 7.0], [5.0, 5.0, 6.0]]
    r = kruskal_test(np.concatenate(v), ["a"] * 2 + ["b"] * 3 + ["c"] * 3)
    ref = stats.permutation_test(v, lambda *s: stats.kruskal(*s).statistic,
                                 permutation_type="independent", n_resamples=np.inf,
                                 alternative="greater")
    assert r["p"] == pytest.approx(ref.pvalue, rel=1e-12) and r["p_method"] == "exact"


def test_kmeans_parameters_are_checked_by_name(tmp_path):
    # used to reach scikit-learn (its message) and, in run_sites, only skip the clustering
    from mlri.sites import cluster_sites, run_sites

    t = _clustered_table()
    for kw, err, match in (({"k": 0}, ValueError, r"k must be at least 2 \(CLI --k\), got 0"),
                           ({"k": -2}, ValueError, "k must be at least 2"),
                           ({"k": 2.5}, TypeError, "k must be an integer, got 2.5"),
                           ({"n_init": 0}, ValueError, r"n_init must be at least 1"),
                           ({"seed": -5}, ValueError, r"seed must be between 0 and 2\*\*32")):
        with pytest.raises(err, match=match):
            cluster_sites(t, **kw)
        # before any work: the run folder is not even opened
        with pytest.raises(err, match=match):
            run_sites(tmp_path / "no-run", tmp_path / "no-mines.gpkg", tmp_path / "o", **kw)
    assert not (tmp_path / "o").exists()


def test_dunn_p_is_exact_for_few_mines():
    """Dunn's pairwise p for small groups is the share of all splits of the pooled ranks into
    groups of the observed sizes with a mean-rank difference at least as large (checked by
    enumerating every relabelling); large groups keep the normal approximation."""
    import itertools

    from scipy import stats as st

    from mlri.sites.stats import dunn_test

    v = np.array([1.0, 2, 2, 5, 7, 8, 9])
    g = np.array(list("aaabbcc"))
    r = st.rankdata(v)
    perms = set(itertools.permutations(g.tolist()))
    for row in dunn_test(v, g):
        a, b = row["group_a"], row["group_b"]
        obs = abs(r[g == a].mean() - r[g == b].mean())
        want = np.mean([abs(r[np.array(p) == a].mean() - r[np.array(p) == b].mean())
                        >= obs - 1e-12 for p in perms])
        assert row["p_method"] == "exact" and row["p"] == pytest.approx(want, abs=1e-12)
    big = dunn_test(np.arange(60.0), np.repeat(["a", "b", "c"], 20))
    assert {row["p_method"] for row in big} == {"normal"}
