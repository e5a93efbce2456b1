"""Reference-area calibration (mlri.significance.reference_*), BH/BY FDR (fdr_bh) and the
classes from p-values (classify_with_p)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

import mlri
from mlri import significance as sg

SI = [4, 5, 6]


def _stationary(rng, P, lsd=2.0, esd=0.03):
    return 300 + lsd * rng.standard_normal((19, P)), 0.3 + esd * rng.standard_normal((19, P))


# ---------------------------------------------------------------------------------------------
# reference calibration
# ---------------------------------------------------------------------------------------------
def test_reference_calibration_holds_level():
    rng = np.random.default_rng(21)
    lst, evi = _stationary(rng, 20_000)
    tr = mlri.trend(mlri.index(lst, evi).mlri)
    mask = np.zeros(20_000, bool)
    mask[:5000] = True
    ref = sg.reference_distribution(tr.z, mask, n_valid=tr.n_valid)
    assert ref.n == 5000 and np.all(np.diff(ref.values) >= 0)
    pi, pd = sg.reference_pvalues(tr.z[5000:], ref)
    assert np.mean(pi <= 0.05) <= 0.06
    assert np.mean(pd <= 0.05) <= 0.06
    sub = tr._replace(**{k: getattr(tr, k)[5000:] for k in tr._fields})
    cls, _ = sg.classify_with_p(sub, pi, pd, alpha=0.05)
    assert np.mean(np.isin(cls, SI)) <= 0.03
    paper, _ = mlri.classify(sub)
    assert np.mean(np.isin(paper, SI)) > 0.4
    thr = sg.reference_threshold(tr.z, mask)
    assert 3.0 < thr.upper < 4.5  # MK Z on MLRI must exceed ~3.6, not 1.96, on this land


def test_threshold_agrees_with_pvalues(rng):
    z = rng.standard_normal(997) + 1.5
    z[::50] = np.round(z[::50], 1)  # ties
    mask = rng.random(997) < 0.6
    ref = sg.reference_distribution(z, mask)
    for alt, a in (("two-sided", 0.025), ("increase", 0.05), ("decrease", 0.05)):
        thr = sg.reference_threshold(z, mask, alpha=0.05, alternative=alt)
        pi, pd = sg.reference_pvalues(z, ref)
        np.testing.assert_array_equal(z > thr.upper, pi <= a)
        np.testing.assert_array_equal(z < thr.lower, pd <= a)
    # exact conformal p-values
    zz = np.array([ref.values[0] - 1, ref.values[-1] + 1, np.nan])
    pi, pd = sg.reference_pvalues(zz, ref)
    assert pi[1] == pytest.approx(1 / (ref.n + 1)) and pd[0] == pytest.approx(1 / (ref.n + 1))
    assert pi[0] == 1 and pd[1] == 1 and np.isnan(pi[2]) and np.isnan(pd[2])


def test_reference_warnings_and_errors(rng):
    z = rng.standard_normal(100)
    with pytest.warns(sg.SignificanceWarning, match="needs at least"):
        thr = sg.reference_threshold(z, np.arange(100) < 20)
    assert thr.upper == np.inf and thr.lower == -np.inf
    with pytest.warns(sg.SignificanceWarning, match="tail values"):
        sg.reference_distribution(z, np.ones(100, bool))
    with pytest.raises(ValueError, match="no usable reference"):
        sg.reference_distribution(z, np.zeros(100, bool))
    with pytest.raises(TypeError, match="boolean"):
        sg.reference_distribution(z, np.ones(100))
    with pytest.raises(ValueError, match="shape"):
        sg.reference_distribution(z, np.ones(99, bool))
    with pytest.raises(TypeError, match="ReferenceDistribution"):
        sg.reference_pvalues(z, np.sort(z))
    # NaN statistics and short pixels are left out
    z2 = np.concatenate([rng.standard_normal(1000), [np.nan] * 5])
    nv = np.full(1005, 19)
    nv[:10] = 5
    ref = sg.reference_distribution(z2, np.ones(1005, bool), n_valid=nv)
    assert ref.n == 990


# ---------------------------------------------------------------------------------------------
# FDR
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["bh", "by"])
def test_fdr_matches_scipy(method, rng):
    p = np.concatenate([rng.uniform(size=900), rng.uniform(0, 1e-3, size=100)])
    p[::37] = p[5]  # ties
    p = p.reshape(25, 40)
    res = sg.fdr_bh(p, 0.05, method=method)
    ref = scipy.stats.false_discovery_control(p.ravel(), method=method).reshape(p.shape)
    np.testing.assert_allclose(res.p_adjusted, ref, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(res.reject, ref <= 0.05)
    assert res.reject.sum() > (50 if method == "bh" else 5)


def test_fdr_nan_and_groups(rng):
    p = rng.uniform(size=500) ** 3
    p[::7] = np.nan
    res = sg.fdr_bh(p, 0.1)
    fin = np.isfinite(p)
    ref = scipy.stats.false_discovery_control(p[fin])
    np.testing.assert_allclose(res.p_adjusted[fin], ref, rtol=1e-12)
    assert np.isnan(res.p_adjusted[~fin]).all() and not res.reject[~fin].any()
    groups = rng.integers(-1, 4, size=500)
    g = sg.fdr_bh(p, 0.1, groups=groups)
    for lab in range(4):
        sel = (groups == lab) & fin
        np.testing.assert_allclose(g.p_adjusted[sel], scipy.stats.false_discovery_control(p[sel]),
                                   rtol=1e-12)
    assert np.isnan(g.p_adjusted[groups < 0]).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sg.fdr_bh(np.array([0.2, 1.5]))
    for bad in (np.inf, -np.inf):  # invalid, not excluded (that would shrink the family)
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            sg.fdr_bh(np.array([0.01, bad, 0.02]))
    with pytest.raises(ValueError, match="q must"):
        sg.fdr_bh(np.array([0.2]), q=0)
    with pytest.raises(ValueError, match="method"):
        sg.fdr_bh(np.array([0.2]), method="holm")
    assert sg.fdr_bh(np.array([np.nan, np.nan])).reject.sum() == 0


def test_fdr_controls_false_discoveries():
    rng = np.random.default_rng(4)
    m, m1 = 20_000, 2_000
    z = rng.standard_normal(m)
    z[:m1] += 4
    p = scipy.stats.norm.sf(z)
    res = sg.fdr_bh(p, 0.05)
    fdp = res.reject[m1:].sum() / max(res.reject.sum(), 1)
    assert fdp <= 0.06
    assert res.reject[:m1].mean() > 0.7


# ---------------------------------------------------------------------------------------------
# classify_with_p
# ---------------------------------------------------------------------------------------------
def test_classify_with_normal_p_equals_paper_rule(rng):
    T, P = 19, 20_000
    y = rng.standard_normal((T, P)).cumsum(0) * 0.3 + rng.standard_normal((T, P))
    y[rng.random((T, P)) < 0.2] = np.nan
    tr = mlri.trend(y)
    pi = scipy.stats.norm.sf(tr.z)
    pd = scipy.stats.norm.cdf(tr.z)
    ours, of = sg.classify_with_p(tr, pi, pd, alpha=0.05)
    paper, pf = mlri.classify(tr, alpha=0.05)
    same_dir = (np.sign(tr.z) == np.sign(tr.slope)) | (np.abs(tr.z) <= 1.96)
    assert same_dir.mean() > 0.99
    np.testing.assert_array_equal(ours[same_dir], paper[same_dir])
    np.testing.assert_array_equal(of[same_dir], pf[same_dir])
    assert set(np.unique(ours)) >= {0, 1, 2, 3, 4, 5}


def test_classify_with_p_rules(rng):
    T, P = 19, 8
    y = np.tile(np.arange(T, dtype=float)[:, None], (1, P)) + 0.1 * rng.standard_normal((T, P))
    y[:, 7] = np.nan
    tr = mlri.trend(y)
    tr = tr._replace(hurst=np.array([0.7, 0.3, np.nan, 0.7, 0.7, 0.7, 0.7, np.nan]))
    pi = np.array([0.01, 0.01, 0.01, 0.5, 0.99, 0.03, np.nan, 0.01])
    pd = np.array([0.99, 0.99, 0.99, 0.5, 0.01, 0.97, 0.5, 0.99])
    cls, flags = sg.classify_with_p(tr, pi, pd, alpha=0.05)
    # SCI, SAI, SI_H_undefined, NI (slope>0), SD from the lower tail, NI (0.03 > 0.025),
    # NaN p -> nodata, too few years -> nodata
    assert list(cls) == [5, 4, 6, 3, 1, 3, 0, 0]
    assert flags[7] & mlri.FLAG_BITS["few_valid"]
    assert flags[2] & mlri.FLAG_BITS["hurst_undefined"]
    one, _ = sg.classify_with_p(tr, pi, pd, alpha=0.05, alternative="increase")
    assert list(one) == [5, 4, 6, 3, 3, 5, 0, 0]
    dec, _ = sg.classify_with_p(tr, pi, pd, alpha=0.05, alternative="decrease")
    assert list(dec) == [3, 3, 3, 3, 1, 3, 0, 0]
    with pytest.raises(ValueError, match="pixels"):
        sg.classify_with_p(tr, pi[:3], pd)
    with pytest.raises(ValueError, match="alternative"):
        sg.classify_with_p(tr, pi, pd, alternative="greater")
    with pytest.raises(TypeError, match="TrendResult"):
        sg.classify_with_p((1, 2), pi, pd)


def _rule_reference(tr, dropped, min_valid, sign_s, z_crit=None, pi=None, pd=None, at=None,
                    alt=0):
    """The class rule written out in NumPy from its definition (docstring of mlri.classify):
    by |Z| > z_crit, or by one-sided p-values at level ``at``."""
    nv, s, var_s, z, q, h = (np.asarray(getattr(tr, k), dtype=float)
                             for k in ("n_valid", "s", "var_s", "z", "slope", "hurst"))
    few = (nv < min_valid) | (nv < 2)
    up = np.where(q == 0, s > 0, q > 0) if sign_s else q > 0
    if pi is None:
        defined = np.isfinite(z) & np.isfinite(q)
        sig = np.abs(z) > z_crit
        up_sig, down_sig = sig & up, sig & ~up
    else:
        defined = np.isfinite(q) & ~np.isnan(pi) & ~np.isnan(pd)
        ok = defined & ~few
        up_sig = ok & (pi <= at) & (alt != 2)
        down_sig = ok & (pd <= at) & (alt != 1) & ~up_sig
    c = mlri.CLASS_CODES
    cls = np.where(up, c["NI"], c["ND"])
    cls = np.where(down_sig, c["SD"], cls)
    si = np.where(np.isfinite(h), np.where(h > 0.5, c["SCI"], c["SAI"]), c["SI_H_undefined"])
    cls = np.where(up_sig, si, cls)
    cls = np.where(defined & ~few, cls, c["nodata"]).astype(np.uint8)
    b = mlri.FLAG_BITS
    flags = (np.where((nv >= 2) & (var_s == 0), b["constant"], 0)
             | np.where((up_sig | down_sig) & (q == 0), b["slope0_significant"], 0)
             | np.where(few, b["few_valid"], 0) | np.where(dropped > 0, b["years_dropped"], 0)
             | np.where(~np.isfinite(h), b["hurst_undefined"], 0))
    return cls, flags.astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_rule_matches_its_definition(seed):
    """mlri.classify, by |Z| and by p-values (one kernel), against the rule written out in
    NumPy, on inputs crowded with the edge cases: slopes of 0, ties of S, undefined Z, H and
    p-values, p-values at the level, too few years, dropped years."""
    rng = np.random.default_rng(seed)
    P = 20_000
    tr = mlri.trend(rng.standard_normal((19, 8)))  # a TrendResult to fill with edge cases

    def pick(*v):
        return rng.choice(np.array(v, dtype=float), P)

    tr = tr._replace(
        n_valid=rng.integers(0, 20, P).astype(np.int32),
        s=pick(-3, 0, 0, 5), var_s=pick(0, 10, 10),
        z=np.where(rng.random(P) < 0.1, np.nan, rng.normal(0, 2.5, P)),
        slope=pick(-0.5, 0, 0, 0.3, np.nan, np.inf),
        hurst=pick(0.2, 0.5, 0.5000001, 0.9, np.nan))
    dropped = rng.integers(0, 2, P).astype(np.int32)
    pi = pick(0.0, 0.01, 0.025, 0.05, 0.5, 1.0, np.nan)
    pd = pick(0.0, 0.02, 0.025, 0.05, 0.7, 1.0, np.nan)
    for min_valid in (0, 10):
        for sign_s, direction in ((False, "slope"), (True, "sign_S")):
            kw = {"min_valid": min_valid, "zero_slope_direction": direction, "dropped": dropped}
            got = mlri.classify(tr, z_crit=1.96, **kw)
            want = _rule_reference(tr, dropped, min_valid, sign_s, z_crit=1.96)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            for alt, name in enumerate(("two-sided", "increase", "decrease")):
                got = mlri.classify(tr, p_increase=pi, p_decrease=pd, alpha=0.05,
                                    alternative=name, **kw)
                at = 0.025 if alt == 0 else 0.05
                want = _rule_reference(tr, dropped, min_valid, sign_s, pi=pi, pd=pd, at=at,
                                       alt=alt)
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_array_equal(got[1], want[1])
                classes = {0, 2, 3} | ({1} if alt != 1 else set()) | ({4, 5, 6} if alt != 2 else set())
                assert set(np.unique(got[0])) == classes  # every class the alternative allows


def test_classify_with_fdr_permutation_pipeline():
    rng = np.random.default_rng(8)
    P = 4000
    lst, evi = _stationary(rng, P)
    years = np.array([*range(2000, 2012), *range(2013, 2020)], float)
    frac = np.clip((years - 2006) / 13, 0, 1)[:, None]
    evi[:, :400] = 0.1 + 0.3 * frac + 0.02 * rng.standard_normal((19, 400))
    lst[:, :400] = 310 - 10 * frac + rng.standard_normal((19, 400))
    idx = mlri.index(lst, evi)
    tr = mlri.trend(idx.mlri)
    # B must be large enough for BH: the smallest p is 1/(B+1) <= q * k / m
    res = sg.permutation_test(lst, evi, n_permutations=999, seed=3)
    cls, _ = sg.classify_with_p(tr, res.p_increase, res.p_decrease, fdr=0.05,
                                dropped=idx.dropped)
    si = np.isin(cls, SI)
    assert si[:400].mean() > 0.9
    assert si[400:].sum() / max(si.sum(), 1) <= 0.08
    grouped, _ = sg.classify_with_p(tr, res.p_increase, res.p_decrease, fdr=0.05,
                                    fdr_groups=np.repeat(np.arange(4), P // 4))
    assert np.isin(grouped[:400], SI).mean() > 0.9
