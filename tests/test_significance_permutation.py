"""Permutation test of MK S on MLRI (mlri.significance.permutation_test; issue 7).

* exact agreement with a pure-Python model of the kernel (RNG, Fisher–Yates, MLRI rules, counts);
* the observed S equals the paper's S (trend of the index output);
* level under stationarity (several noise levels and distributions) and power on planted
  restorations;
* determinism: tiles with global offsets, threads, pixel lists;
* missing years, EVI/LST validity rules, input validation.
"""

from __future__ import annotations

import numpy as np
import pytest

import mlri
from mlri import significance as sg

YEARS = np.array([*range(2000, 2012), *range(2013, 2020)], dtype=np.float64)

# ---------------------------------------------------------------------------------------------
# pure-Python model of cpp/include/mlri/significance.hpp
# ---------------------------------------------------------------------------------------------
M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def mix64(z: int) -> int:
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def pixel_key(seed: int, row: int, col: int) -> int:
    k = mix64(seed + GAMMA)
    k = mix64(k ^ (row & M64))
    return mix64(k ^ (col & M64))


def batches(n: int) -> list[tuple[int, int, int]]:
    out = []
    i = n - 1
    while i > 0:
        prod, k = 1, i
        while k > 0 and prod * (k + 1) < M64:
            prod *= k + 1
            k -= 1
        out.append((i, k, prod))
        i = k
    return out


def digits(key: int, b: int, n: int) -> list[int]:
    sub = mix64(key + (b + 1) * GAMMA)
    c = 0
    d = [0] * max(n, 1)
    for hi, lo, prod in batches(n):
        thresh = ((1 << 64) - prod) % prod
        while True:
            c += 1
            left = mix64(sub + c * GAMMA)
            for m in range(hi, lo, -1):
                x = left * (m + 1)
                d[m] = x >> 64
                left = x & M64
            if left >= thresh:
                break
    return d


def model_pixel(lst, evi, row, col, seed, B, dtype, evi_min=0.0, offset=0.0, clamp=False):
    pairs = []
    for lv, ev in zip(lst, evi, strict=True):
        lv = float(lv) + offset
        ev = float(ev)
        ok = np.isfinite(lv) and np.isfinite(ev) and lv > 0
        if clamp:
            ev = max(ev, evi_min)
        else:
            ok = ok and ev > evi_min
        if ok:
            pairs.append((lv, ev))
    n = len(pairs)

    def s_of(seq):
        lmax, emin, v = -np.inf, np.inf, []
        for lv, ev in seq:
            lmax = max(lmax, lv)
            emin = min(emin, ev)
            v.append(dtype((lmax / lv) * (ev / emin)))
        return sum(int(v[j] > v[i]) - int(v[j] < v[i]) for j in range(n) for i in range(j))

    if n < 2:
        return n, np.nan, np.nan, np.nan
    s_obs = s_of(pairs)
    key = pixel_key(seed, row, col)
    ge = le = 0
    for b in range(B):
        d = digits(key, b, n)
        out = list(pairs)
        out[0] = pairs[0]
        for i in range(1, n):
            j = d[i]
            out[i] = out[j]
            out[j] = pairs[i]
        s = s_of(out)
        ge += s >= s_obs
        le += s <= s_obs
    return n, s_obs, (1 + ge) / (B + 1), (1 + le) / (B + 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_python_model(dtype, rng):
    T, P, B = 20, 6, 23  # n = 20 exercises the rejection branch (p ~ 7.6 % per word)
    lst = (300 + 3 * rng.standard_normal((T, P))).astype(dtype)
    evi = (0.25 + 0.05 * rng.standard_normal((T, P))).astype(dtype)
    lst[3, 1] = np.nan
    evi[[0, 7], 2] = np.nan
    evi[5, 3] = -0.01  # dropped by evi_min=0
    lst[:, 4] = 300.0   # constant LST
    evi[:17, 5] = np.nan  # 3 valid years
    res = sg.permutation_test(lst, evi, np.arange(T), n_permutations=B, seed=77, row0=5,
                              col0=1000)
    for p in range(P):
        n, s, pi, pd = model_pixel(lst[:, p], evi[:, p], 5, 1000 + p, 77, B, dtype)
        assert res.n_valid[p] == n
        np.testing.assert_equal(res.s[p], s)
        np.testing.assert_equal(res.p_increase[p], pi)
        np.testing.assert_equal(res.p_decrease[p], pd)


def test_multi_batch_digits_match_model(rng):
    # 30 valid years need two 64-bit words per permutation (log2 30! ~ 108 bits)
    T, B = 30, 11
    assert len(batches(T)) == 2
    lst = 290 + 2 * rng.standard_normal((T, 2))
    evi = 0.3 + 0.04 * rng.standard_normal((T, 2))
    res = sg.permutation_test(lst, evi, np.arange(T), n_permutations=B, seed=2**64 - 1,
                              rows=np.array([-3, 7]), cols=np.array([4, -9]))
    for p, (r, c) in enumerate(((-3, 4), (7, -9))):
        n, s, pi, pd = model_pixel(lst[:, p], evi[:, p], r, c, 2**64 - 1, B, np.float64)
        assert (res.n_valid[p], res.s[p], res.p_increase[p], res.p_decrease[p]) == (n, s, pi, pd)


def test_clamp_policy_and_celsius_match_model(rng):
    T, P, B = 19, 3, 9
    lst = 25 + 2 * rng.standard_normal((T, P))
    evi = 0.2 + 0.1 * rng.standard_normal((T, P))
    evi[2, :] = -0.05
    res = sg.permutation_test(lst, evi, n_permutations=B, seed=3, lst_unit="C", evi_min=0.05,
                              evi_policy="clamp")
    for p in range(P):
        n, s, pi, pd = model_pixel(lst[:, p], evi[:, p], 0, p, 3, B, np.float64,
                                   evi_min=0.05, offset=273.15, clamp=True)
        assert (res.n_valid[p], res.s[p], res.p_increase[p], res.p_decrease[p]) == (n, s, pi, pd)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_observed_s_is_the_paper_s(dtype, rng):
    T, P = 19, 3000
    lst = (300 + 2 * rng.standard_normal((T, P))).astype(dtype)
    evi = (0.3 + 0.05 * rng.standard_normal((T, P))).astype(dtype)
    evi[rng.random((T, P)) < 0.1] = np.nan
    evi[rng.random((T, P)) < 0.02] = -0.1
    idx = mlri.index(lst, evi)
    tr = mlri.trend(idx.mlri)
    res = sg.permutation_test(lst, evi, n_permutations=3)
    np.testing.assert_array_equal(res.s, tr.s)
    np.testing.assert_array_equal(res.n_valid, tr.n_valid)


# ---------------------------------------------------------------------------------------------
# level and power
# ---------------------------------------------------------------------------------------------
NULL_CASES = {
    "normal_small": lambda r, s: (300 + 0.5 * r.standard_normal(s), 0.3 + 0.01 * r.standard_normal(s)),
    "normal_large": lambda r, s: (300 + 4 * r.standard_normal(s), 0.3 + 0.08 * r.standard_normal(s)),
    "lognormal": lambda r, s: (300 * r.lognormal(0, 0.01, s), 0.3 * r.lognormal(0, 0.3, s)),
    "uniform_evi_only": lambda r, s: (np.full(s, 305.0), r.uniform(0.05, 0.6, s)),
    "heavy_tail_gaps": lambda r, s: (300 + 2 * r.standard_t(3, s), 0.3 + 0.03 * r.standard_t(3, s)),
}


@pytest.mark.parametrize("case", sorted(NULL_CASES))
def test_level_on_stationary_pixels(case):
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    P = 20_000
    lst, evi = NULL_CASES[case](rng, (19, P))
    if case == "heavy_tail_gaps":
        evi[rng.random((19, P)) < 0.15] = np.nan
    res = sg.permutation_test(lst, evi, n_permutations=199, seed=11)
    ok = res.n_valid >= 10
    # nominal 5 % per tail; Monte-Carlo sd over 20,000 pixels ~ 0.15 %
    assert np.mean(res.p_increase[ok] <= 0.05) <= 0.06
    assert np.mean(res.p_decrease[ok] <= 0.05) <= 0.06
    assert np.mean(res.p_increase[ok] <= 0.05) >= 0.035  # not absurdly conservative
    two = sg.two_sided_p(res.p_increase, res.p_decrease)
    assert np.mean(two[ok] <= 0.05) <= 0.06
    # the construction drift is visible in the null mean of S (positive for MLRI)
    assert np.nanmean(res.s_null_mean) > 30


def _restoration(rng, P, onset, evi_sd, lst_sd, evi_gain=0.3, lst_drop=10.0):
    frac = np.clip((YEARS - onset) / (2019 - onset), 0, 1)[:, None]
    evi = 0.1 + evi_gain * frac + evi_sd * rng.standard_normal((19, P))
    lst = 310 - lst_drop * frac + lst_sd * rng.standard_normal((19, P))
    return lst, evi


@pytest.mark.parametrize(("onset", "evi_sd", "lst_sd"), [(2005, 0.02, 1.0), (2008, 0.03, 1.5),
                                                          (2010, 0.03, 2.0)])
def test_power_on_planted_restoration(onset, evi_sd, lst_sd):
    rng = np.random.default_rng(onset)
    lst, evi = _restoration(rng, 5000, onset, evi_sd, lst_sd)
    res = sg.permutation_test(lst, evi, n_permutations=199, seed=1)
    assert np.mean(res.p_increase <= 0.05) >= 0.9
    tr = mlri.trend(mlri.index(lst, evi).mlri)
    cls, _ = sg.classify_with_p(tr, res.p_increase, res.p_decrease, alpha=0.05)
    assert np.mean(np.isin(cls, [4, 5, 6])) >= 0.9


def test_degradation_has_low_power_on_mlri():
    # MLRI is bounded below by 1 and equals 1 whenever a year is the worst so far, so a steady
    # degradation gives an MLRI stuck near 1 (S near 0), not a falling series: the decrease
    # test rejects more often than its level, but far less often than an increase is found.
    # Documented in docs/significance.md ("degradation").
    rng = np.random.default_rng(5)
    frac = np.linspace(0, 1, 19)[:, None]
    evi = 0.4 - 0.25 * frac + 0.02 * rng.standard_normal((19, 3000))
    lst = 300 + 8 * frac + 1.0 * rng.standard_normal((19, 3000))
    res = sg.permutation_test(lst, evi, seed=2)
    rate = np.mean(res.p_decrease <= 0.05)
    assert 0.1 <= rate <= 0.6
    assert np.mean(res.p_increase <= 0.05) < 0.01


# ---------------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------------
def _tile_apply(lst, evi, th, tw, **kw):
    R, C = lst.shape[1:]
    out = {k: np.full((R, C), np.nan) for k in ("p_increase", "p_decrease", "s")}
    for r0 in range(0, R, th):
        for c0 in range(0, C, tw):
            sl = (slice(None), slice(r0, r0 + th), slice(c0, c0 + tw))
            res = sg.permutation_test(lst[sl], evi[sl], row0=r0 + 1000, col0=c0 + 2000, **kw)
            for k in out:
                out[k][r0:r0 + th, c0:c0 + tw] = getattr(res, k)
    return out


def test_tiles_threads_and_pixel_lists_agree():
    rng = np.random.default_rng(9)
    R, C = 100, 140
    lst = (300 + 2 * rng.standard_normal((19, R, C))).astype(np.float32)
    evi = (0.3 + 0.04 * rng.standard_normal((19, R, C))).astype(np.float32)
    evi[rng.random(evi.shape) < 0.05] = np.nan
    kw = {"n_permutations": 49, "seed": 12345}
    whole = sg.permutation_test(lst, evi, row0=1000, col0=2000, n_threads=1, **kw)
    two = sg.permutation_test(lst, evi, row0=1000, col0=2000, n_threads=2, **kw)
    for k in ("p_increase", "p_decrease", "s", "s_null_mean", "s_null_sd", "n_valid"):
        np.testing.assert_array_equal(getattr(whole, k), getattr(two, k))
    for th, tw in ((64, 64), (512, 37), (17, 512)):
        tiled = _tile_apply(lst, evi, th, tw, n_threads=2, **kw)
        for k, v in tiled.items():
            np.testing.assert_array_equal(v, getattr(whole, k))
    # a pixel list (e.g. the pixels of one mine polygon) with explicit global positions
    rr, cc = np.nonzero(rng.random((R, C)) < 0.1)
    sub = sg.permutation_test(lst[:, rr, cc], evi[:, rr, cc], rows=rr + 1000, cols=cc + 2000,
                              **kw)
    np.testing.assert_array_equal(sub.p_increase, whole.p_increase[rr, cc])
    # another seed or position gives other permutations
    other = sg.permutation_test(lst, evi, row0=1001, col0=2000, **kw)
    assert not np.array_equal(other.p_increase, whole.p_increase)


def test_more_permutations_extend_the_same_stream(rng):
    # permutation b depends only on (seed, row, col, b): B=20 is a prefix of B=40
    lst = 300 + 2 * rng.standard_normal((19, 50))
    evi = 0.3 + 0.04 * rng.standard_normal((19, 50))
    a = sg.permutation_test(lst, evi, n_permutations=20, seed=4)
    b = sg.permutation_test(lst, evi, n_permutations=40, seed=4)
    ge20 = np.round(a.p_increase * 21 - 1)
    ge40 = np.round(b.p_increase * 41 - 1)
    assert np.all(ge40 >= ge20)


# ---------------------------------------------------------------------------------------------
# edge cases and validation
# ---------------------------------------------------------------------------------------------
def test_edge_pixels(rng):
    T = 19
    lst = np.full((T, 5), 300.0)
    evi = np.full((T, 5), 0.3)
    lst[:, 0] = np.nan                      # no valid year
    evi[1:, 1] = np.nan                     # one valid year
    evi[:, 3] = np.linspace(0.1, 0.5, T)    # monotone EVI increase: S = 171, p minimal
    lst[:, 4] = np.linspace(320, 300, T)
    evi[:, 4] = np.linspace(0.1, 0.5, T)
    res = sg.permutation_test(lst, evi, n_permutations=199)
    assert list(res.n_valid) == [0, 1, T, T, T]
    assert np.isnan(res.p_increase[:2]).all() and np.isnan(res.s[:2]).all()
    # constant pixel: MLRI == 1 everywhere, every permutation ties: p = 1 both ways
    assert res.s[2] == 0 and res.p_increase[2] == 1 and res.p_decrease[2] == 1
    assert res.s[3] == 171 and res.p_increase[3] == pytest.approx(1 / 200)
    assert res.s[4] == 171 and res.p_increase[4] == pytest.approx(1 / 200)
    skipped = sg.permutation_test(lst, evi, min_valid=20)
    assert np.isnan(skipped.p_increase).all()
    np.testing.assert_array_equal(skipped.s[2:], res.s[2:])


def test_shapes_and_scalars(rng):
    lst = 300 + rng.standard_normal(19)
    evi = 0.3 + 0.02 * rng.standard_normal(19)
    one = sg.permutation_test(lst, evi, row0=4, col0=9)
    assert np.ndim(one.p_increase) == 0
    grid = sg.permutation_test(np.repeat(lst[:, None, None], 2, 2),
                               np.repeat(evi[:, None, None], 2, 2), row0=4, col0=8)
    assert grid.p_increase[0, 1] == one.p_increase
    with pytest.raises(ValueError, match="rows= and cols="):
        sg.permutation_test(np.ones((19, 2, 2, 2)) * 300, np.ones((19, 2, 2, 2)))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_permutations": 0}, ValueError, "n_permutations"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 2**64}, ValueError, "seed"),
        ({"evi_policy": "clip"}, ValueError, "evi_policy"),
        ({"evi_policy": "clamp"}, ValueError, "evi_min > 0"),
        ({"lst_unit": "C"}, ValueError, "Kelvin"),
        ({"rows": np.zeros(4, int)}, ValueError, "both"),
        ({"rows": np.zeros(3, int), "cols": np.zeros(3, int)}, ValueError, "one global"),
        ({"rows": np.zeros(4), "cols": np.zeros(4)}, TypeError, "integer"),
        ({"min_valid": -1}, ValueError, "min_valid"),
    ],
)
def test_validation(kwargs, exc, match):
    lst = np.full((19, 4), 300.0)
    evi = np.full((19, 4), 0.3)
    with pytest.raises(exc, match=match):
        sg.permutation_test(lst, evi, **kwargs)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        sg.permutation_test(np.full((19, 4), 300.0), np.full((19, 3), 0.3))
    with pytest.raises(ValueError, match="years"):
        sg.permutation_test(np.full((19, 4), 300.0), np.full((19, 4), 0.3), years=range(18))
