"""AR(1) sieve test of MLRI (mlri.significance.sieve_test) and regional persistence."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_significance_permutation import digits, mix64, pixel_key

import mlri
from mlri import significance as sg

YEARS = np.array([*range(2000, 2012), *range(2013, 2020)], dtype=np.float64)
TAG = 0x41523153494556  # kArStreamTag in cpp/include/mlri/significance_ar.hpp


def ar1(rng, years, shape, phi, sd):
    """Stationary AR(1) on the consecutive years spanning ``years``, sampled at ``years``."""
    full = np.arange(years[0], years[-1] + 1)
    e = rng.standard_normal((full.size, *shape))
    x = np.empty_like(e)
    x[0] = e[0]
    for t in range(1, full.size):
        x[t] = phi * x[t - 1] + math.sqrt(1 - phi * phi) * e[t]
    return sd * x[np.isin(full, years)]


# ---------------------------------------------------------------------------------------------
# pure-Python model of cpp/include/mlri/significance_ar.hpp
# ---------------------------------------------------------------------------------------------
def _innov(x, t, phi):
    n = len(x)
    acc = 0.0
    for v in x:
        acc += v - x[0]
    mean = x[0] + acc / n
    d = [v - mean for v in x]
    a, c, u = [0.0] * n, [1.0] * n, [d[0]] + [0.0] * (n - 1)
    for k in range(1, n):
        a[k] = phi ** (t[k] - t[k - 1]) if phi > 0 else 0.0
        c[k] = math.sqrt(1.0 - a[k] * a[k])
        u[k] = (d[k] - a[k] * d[k - 1]) / c[k]
    um = 0.0
    for v in u:
        um += v
    um /= n
    return d, a, c, [v - um for v in u]


def _fit(d, t, phi_max):
    n = len(d)
    c0 = c1 = 0.0
    m1 = 0
    for v in d:
        c0 += v * v
    for k in range(1, n):
        if t[k] - t[k - 1] == 1.0:
            c1 += d[k - 1] * d[k]
            m1 += 1
    if m1 == 0 or not c0 > 0:
        return 0.0
    r = (c1 / m1) / (c0 / n)
    return 0.0 if not r > 0 else min(r, phi_max)


def model_pixel(lst, evi, years, row, col, seed, B, dtype, phi_max=0.9):
    keep = [(float(lv), float(ev), float(t)) for lv, ev, t in zip(lst, evi, years, strict=True)
            if np.isfinite(lv) and np.isfinite(ev) and lv > 0 and ev > 0]
    n = len(keep)
    if n < 2:
        return n, np.nan, np.nan, np.nan, np.nan, np.nan
    lv, ev, t = (list(z) for z in zip(*keep, strict=True))

    lmax, emin, v = -np.inf, np.inf, []
    for a, b in zip(lv, ev, strict=True):
        lmax, emin = max(lmax, a), min(emin, b)
        v.append(dtype((lmax / a) * (b / emin)))
    s_obs = sum(int(v[j] > v[i]) - int(v[j] < v[i]) for j in range(n) for i in range(j))
    xl, xe = [math.log(a) for a in lv], [math.log(b) for b in ev]
    phis = [_fit(_innov(x, t, 0.0)[0], t, phi_max) for x in (xl, xe)]
    (_, al, cl, ul), (_, ae, ce, ue) = (_innov(x, t, p) for x, p in zip((xl, xe), phis,
                                                                          strict=True))
    key = mix64(pixel_key(seed, row, col) ^ TAG)
    ge = le = 0
    for b in range(B):
        dg = digits(key, b, n)
        pl, pe = list(ul), list(ue)
        for i in range(1, n):
            j = dg[i]
            pl[i], pe[i] = pl[j], pe[j]
            pl[j], pe[j] = ul[i], ue[i]
        yl, ye = pl[0], pe[0]
        lmax, emin, w = yl, ye, [0.0]
        for k in range(1, n):
            yl = al[k] * yl + cl[k] * pl[k]
            ye = ae[k] * ye + ce[k] * pe[k]
            lmax, emin = max(yl, lmax), min(ye, emin)
            w.append((lmax - yl) + (ye - emin))
        s = sum(int(w[j] > w[i]) - int(w[j] < w[i]) for j in range(n) for i in range(j))
        ge += s >= s_obs
        le += s <= s_obs
    return n, s_obs, (1 + ge) / (B + 1), (1 + le) / (B + 1), phis[0], phis[1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_python_model(dtype, rng):
    T, P, B = 20, 6, 21
    years = np.array([*range(1998, 2012), *range(2013, 2017), 2018, 2019], dtype=np.float64)
    lst = (300 + ar1(rng, years, (P,), 0.5, 2.0)).astype(dtype)
    evi = (0.25 + ar1(rng, years, (P,), 0.5, 0.04)).astype(dtype)
    lst[3, 1] = np.nan
    evi[[0, 7], 2] = np.nan
    evi[5, 3] = -0.01     # dropped by evi_min=0
    lst[:, 4] = 300.0     # constant LST: phi 0
    evi[:17, 5] = np.nan  # 3 valid years
    res = sg.sieve_test(lst, evi, years, n_replicates=B, seed=77, row0=5, col0=1000)
    assert years.size == T
    for p in range(P):
        n, s, pi, pd, fl, fe = model_pixel(lst[:, p], evi[:, p], years, 5, 1000 + p, 77, B, dtype)
        assert res.n_valid[p] == n
        np.testing.assert_equal(res.s[p], s)
        np.testing.assert_equal([res.phi_lst[p], res.phi_evi[p]], [fl, fe])
        np.testing.assert_equal(res.p_increase[p], pi)
        np.testing.assert_equal(res.p_decrease[p], pd)
    assert res.phi_lst[4] == 0.0 and res.phi_lst[0] > 0


def test_observed_s_is_the_paper_s(rng):
    lst = (300 + 2 * rng.standard_normal((19, 30, 20))).astype(np.float32)
    evi = (0.3 + 0.03 * rng.standard_normal((19, 30, 20))).astype(np.float32)
    evi[rng.random(evi.shape) < 0.1] = np.nan
    res = sg.sieve_test(lst, evi, n_replicates=9)
    tr = mlri.trend(mlri.index(lst, evi).mlri)
    np.testing.assert_array_equal(res.s, tr.s)
    np.testing.assert_array_equal(res.n_valid, tr.n_valid)


def test_tiles_threads_and_pixel_lists_agree():
    rng = np.random.default_rng(9)
    R, C = 60, 90
    lst = (300 + ar1(rng, YEARS, (R, C), 0.4, 2.0)).astype(np.float32)
    evi = (0.3 + ar1(rng, YEARS, (R, C), 0.4, 0.04)).astype(np.float32)
    evi[rng.random(evi.shape) < 0.05] = np.nan
    kw = {"n_replicates": 49, "seed": 12345}
    whole = sg.sieve_test(lst, evi, row0=1000, col0=2000, n_threads=1, **kw)
    two = sg.sieve_test(lst, evi, row0=1000, col0=2000, n_threads=2, **kw)
    for k in whole._fields:
        np.testing.assert_array_equal(getattr(whole, k), getattr(two, k))
    for th, tw in ((32, 32), (7, 512)):
        for r0 in range(0, R, th):
            for c0 in range(0, C, tw):
                sl = (slice(None), slice(r0, r0 + th), slice(c0, c0 + tw))
                t = sg.sieve_test(lst[sl], evi[sl], row0=1000 + r0, col0=2000 + c0, **kw)
                for k in ("p_increase", "p_decrease", "phi_lst", "s_null_mean"):
                    np.testing.assert_array_equal(getattr(t, k), getattr(whole, k)[sl[1:]])
    rr, cc = np.nonzero(rng.random((R, C)) < 0.1)
    sub = sg.sieve_test(lst[:, rr, cc], evi[:, rr, cc], rows=rr + 1000, cols=cc + 2000, **kw)
    np.testing.assert_array_equal(sub.p_increase, whole.p_increase[rr, cc])
    # per-pixel phi arrays: NaN entries are fitted, given ones used as they are
    phi = np.where(rng.random((R, C)) < 0.5, np.nan, 0.3)
    mixed = sg.sieve_test(lst, evi, row0=1000, col0=2000, phi_lst=phi, **kw)
    fit = np.isnan(phi)
    np.testing.assert_array_equal(mixed.phi_lst[fit], whole.phi_lst[fit])
    assert np.all(mixed.phi_lst[~fit] == 0.3)
    np.testing.assert_array_equal(mixed.phi_evi, whole.phi_evi)
    # other streams than the permutation test's for the same seed and position
    other = sg.sieve_test(lst, evi, row0=1001, col0=2000, **kw)
    assert not np.array_equal(other.p_increase, whole.p_increase)


@pytest.mark.parametrize(("n_years", "phi"), [(19, 0.6), (25, 0.6), (19, 0.0)])
def test_level_under_persistence(n_years, phi):
    """One-sided level 0.05 (B = 99) on stationary AR(1) pixels, fitted persistence.

    4,000 pixels: the Monte-Carlo sd of a 5 % rate is 0.34 %, so the bound 7.5 % (1.5x nominal)
    is 7 sd above nominal and a test off by 2x (10 %) fails it by 7 sd.  The permutation test
    on the same pixels is far above the bound (it assumes independent years).
    """
    years = YEARS if n_years == 19 else np.arange(1995, 2020, dtype=np.float64)
    rng = np.random.default_rng(100 + n_years + int(10 * phi))
    P = 4000
    lst = 300 + ar1(rng, years, (P,), phi, 2.0)
    evi = 0.3 + ar1(rng, years, (P,), phi, 0.03)
    res = sg.sieve_test(lst, evi, years, n_replicates=99, seed=3)
    rate_inc = np.mean(res.p_increase <= 0.05)
    rate_dec = np.mean(res.p_decrease <= 0.05)
    assert rate_inc <= 0.075
    assert rate_dec <= 0.075
    assert rate_inc >= 0.02  # not absurdly conservative
    if phi > 0:
        perm = sg.permutation_test(lst, evi, years, n_permutations=99, seed=3)
        assert np.mean(perm.p_increase <= 0.05) > 0.15


def test_given_persistence_is_calibrated_and_regional_estimate_recovers_it():
    rng = np.random.default_rng(7)
    P = 4000
    lst = 300 + ar1(rng, YEARS, (P,), 0.6, 2.0)
    evi = 0.3 + ar1(rng, YEARS, (P,), 0.6, 0.03)
    evi[rng.random(evi.shape) < 0.1] = np.nan
    est = sg.regional_persistence(lst, evi, YEARS)
    assert est.n_pixels == P
    # the pooled raw estimate is biased down by about (1 + 4 phi)/n; the correction removes it
    assert est.r_lst < 0.52 and est.r_evi < 0.52
    assert abs(est.phi_lst - 0.6) < 0.03 and abs(est.phi_evi - 0.6) < 0.03
    res = sg.sieve_test(lst, evi, YEARS, n_replicates=99, seed=5, phi_lst=est.phi_lst,
                        phi_evi=est.phi_evi)
    assert 0.03 <= np.mean(res.p_increase[res.n_valid >= 10] <= 0.05) <= 0.07
    white = sg.regional_persistence(300 + ar1(rng, YEARS, (3000,), 0.0, 2.0),
                                    0.3 + ar1(rng, YEARS, (3000,), 0.0, 0.03), YEARS)
    assert white.phi_lst < 0.03 and white.phi_evi < 0.03
    mask = np.zeros(P, bool)
    mask[:10] = True
    assert sg.regional_persistence(lst, evi, YEARS, mask=mask).n_pixels == 10


def test_power_on_planted_restoration_with_regional_persistence():
    # restoration of sim_significance's power table (onset 2008, gain 0.3, 10 K), with the
    # persistence estimated on stationary land of the same noise: power as the permutation test
    rng = np.random.default_rng(2008)
    P = 2000
    frac = np.clip((YEARS - 2008) / 11, 0, 1)[:, None]
    evi = 0.1 + 0.3 * frac + 0.03 * rng.standard_normal((19, P))
    lst = 310 - 10 * frac + 1.5 * rng.standard_normal((19, P))
    land_l = 310 + 1.5 * rng.standard_normal((19, P))
    land_e = 0.1 + 0.03 * rng.standard_normal((19, P))
    est = sg.regional_persistence(land_l, land_e)
    res = sg.sieve_test(lst, evi, n_replicates=199, seed=1, phi_lst=est.phi_lst,
                        phi_evi=est.phi_evi)
    assert np.mean(res.p_increase <= 0.025) >= 0.9
    own = sg.sieve_test(lst, evi, n_replicates=199, seed=1)
    # a per-pixel fit reads the steady recovery as persistence: weaker, but not powerless
    assert 0.2 <= np.mean(own.p_increase <= 0.025) < np.mean(res.p_increase <= 0.025)


def test_edge_pixels():
    lst = np.full((19, 4), 300.0)
    evi = np.full((19, 4), 0.3)
    lst[:, 0] = np.nan
    evi[1:, 1] = np.nan
    evi[:, 3] = np.linspace(0.1, 0.5, 19)
    res = sg.sieve_test(lst, evi, n_replicates=19)
    assert list(res.n_valid) == [0, 1, 19, 19]
    assert np.all(np.isnan(res.p_increase[:2])) and np.all(np.isnan(res.phi_lst[:2]))
    assert np.isnan(res.s[0]) and np.isnan(res.s[1])
    assert res.p_increase[2] == 1.0 and res.phi_lst[2] == 0.0  # constant: every S_b = 0
    # strictly increasing EVI: with phi = 0 it is the permutation test (minimal p); the
    # per-pixel fit reads the ramp as strong persistence and is less sure
    assert res.phi_evi[3] > 0.8 and res.p_increase[3] < 0.5
    one = sg.sieve_test(lst[:, 3], evi[:, 3], n_replicates=19, phi_evi=0.0)
    assert one.p_increase == 1 / 20 and np.ndim(one.p_increase) == 0


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"n_replicates": 0}, ValueError, "n_replicates"),
    ({"seed": -1}, ValueError, "seed"),
    ({"phi_max": 1.0}, ValueError, "phi_max"),
    ({"phi_lst": 1.2}, ValueError, "phi_lst"),
    ({"phi_evi": np.zeros(3)}, ValueError, "phi_evi"),
    ({"min_valid": -1}, ValueError, "min_valid"),
    ({"lst_unit": "F"}, ValueError, "lst_unit"),
])
def test_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sg.sieve_test(np.full((19, 4), 300.0), np.full((19, 4), 0.3), **kwargs)


def test_regional_persistence_validation():
    with pytest.raises(ValueError, match="mask"):
        sg.regional_persistence(np.full((19, 4), 300.0), np.full((19, 4), 0.3), mask=np.ones(3))
    with pytest.raises(ValueError, match="valid years"):
        sg.regional_persistence(np.full((19, 4), np.nan), np.full((19, 4), 0.3))


def test_identical_on_every_simd_target():
    from mlri import _core

    rng = np.random.default_rng(21)
    lst = (300 + ar1(rng, YEARS, (300,), 0.5, 2.0)).astype(np.float32)
    evi = (0.3 + ar1(rng, YEARS, (300,), 0.5, 0.03)).astype(np.float32)
    evi[rng.random(evi.shape) < 0.1] = np.nan
    default = _core.simd_target()
    out = []
    try:
        for name, ok in _core.simd_targets():
            if not ok:
                continue
            _core.set_simd_target(name)
            r = sg.sieve_test(lst, evi, n_replicates=29, seed=8)
            ci = mlri.sen_interval(mlri.index(lst, evi).mlri)
            out.append((r, ci))
    finally:
        _core.set_simd_target(default)
    for r, ci in out[1:]:
        for k in r._fields:
            np.testing.assert_array_equal(getattr(r, k), getattr(out[0][0], k))
        for k in ci._fields:
            np.testing.assert_array_equal(getattr(ci, k), getattr(out[0][1], k))
