"""Live comparisons with independent implementations on random series (when installed)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mlri

YEARS = np.array([*range(2000, 2012), *range(2013, 2020)], dtype=float)


def _random_series(rng, n_series=60):
    """Series with ties (rounded), missing years (NaN) and varying length."""
    out = []
    for _ in range(n_series):
        y = rng.normal(0.3, 0.05, YEARS.size) + rng.uniform(-0.01, 0.01) * (YEARS - 2000)
        if rng.random() < 0.5:
            y = np.round(y, 2)  # ties
        k = rng.integers(0, 6)
        y[rng.choice(YEARS.size, k, replace=False)] = np.nan
        out.append(y)
    return np.array(out).T  # (time, pixel)


def test_pymannkendall_index_aligned(rng):
    pmk = pytest.importorskip("pymannkendall")
    stack = _random_series(rng)
    r = mlri.trend(stack, YEARS)
    # pymannkendall's Sen slope uses array positions: give it an index-aligned array over
    # 2000..2019 with NaN in 2012 and in missing years -> real-year slope.
    full_years = np.arange(2000, 2020)
    for j in range(stack.shape[1]):
        y = stack[:, j]
        aligned = np.full(full_years.size, np.nan)
        aligned[np.searchsorted(full_years, YEARS)] = y
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = pmk.original_test(aligned)
        assert r.s[j] == res.s
        assert r.var_s[j] == pytest.approx(res.var_s, rel=1e-12)
        assert r.z[j] == pytest.approx(res.z, rel=1e-12, abs=1e-15)
        assert r.p[j] == pytest.approx(res.p, rel=1e-6, abs=1e-15)
        assert r.slope[j] == pytest.approx(res.slope, rel=1e-12, abs=1e-15)
        assert r.intercept[j] == pytest.approx(res.intercept, rel=1e-9, abs=1e-12)


def test_scipy_theilslopes_real_years(rng):
    stats = pytest.importorskip("scipy.stats")
    stack = _random_series(rng)
    # irregular years too
    yrs = np.cumsum(rng.integers(1, 4, YEARS.size)).astype(float) + 1990
    r = mlri.sens_slope(stack, yrs)
    for j in range(stack.shape[1]):
        y = stack[:, j]
        ok = np.isfinite(y)
        res = stats.theilslopes(y[ok], x=yrs[ok], method="separate")
        assert r.slope[j] == pytest.approx(res.slope, rel=1e-12, abs=1e-15)
        # intercept at the first year of the axis
        t0 = yrs[0]
        exp_int = np.median(y[ok]) - res.slope * np.median(yrs[ok] - t0)
        assert r.intercept[j] == pytest.approx(exp_int, rel=1e-12, abs=1e-12)


def test_scipy_kendalltau_statistic(rng):
    """MK's S relates to scipy's tau-b statistic: S = tau_b * sqrt((n0-n1)(n0-n2))."""
    stats = pytest.importorskip("scipy.stats")
    stack = _random_series(rng, 30)
    r = mlri.mann_kendall(stack)
    for j in range(stack.shape[1]):
        y = stack[:, j]
        ok = np.isfinite(y)
        y = y[ok]
        n = y.size
        tau = stats.kendalltau(np.arange(n), y).statistic
        _, counts = np.unique(y, return_counts=True)
        n0 = n * (n - 1) / 2
        n2 = float(np.sum(counts * (counts - 1) / 2))
        assert r.s[j] == pytest.approx(tau * np.sqrt(n0 * (n0 - n2)), abs=1e-9)
