"""Sen's slope confidence interval (mlri.sen_interval) against scipy.stats.theilslopes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import ref_values
from scipy.stats import theilslopes

import mlri


def _scipy(y: np.ndarray, t: np.ndarray, alpha: float) -> tuple[float, float]:
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return np.nan, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = theilslopes(y[ok], t[ok], alpha=alpha)
    return float(r.low_slope), float(r.high_slope)


def test_reference_vectors_match_stored_scipy(ref_vectors):
    """Stored scipy low/high slopes of the reference series (real years, gaps) to 1e-12."""
    checked = 0
    for v in ref_vectors:
        y = ref_values(v)
        t = np.asarray(v["years"], dtype=np.float64)
        res = mlri.sen_interval(y, t)
        ref = v["scipy"]["theilslopes"]["separate"]
        if ref["result"] is None:
            assert np.isnan(res.low_slope) and np.isnan(res.high_slope), v["name"]
            continue
        exp_lo, exp_hi = ref["result"]["low_slope"], ref["result"]["high_slope"]
        for got, exp in ((res.low_slope, exp_lo), (res.high_slope, exp_hi)):
            exp = np.nan if exp is None else float(exp)
            np.testing.assert_allclose(got, exp, rtol=1e-12, atol=0, err_msg=v["name"])
        assert res.n_valid == np.isfinite(y).sum()
        checked += 1
    assert checked >= 18


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.32, 0.9])
def test_reference_vectors_bitwise_against_live_scipy(ref_vectors, alpha):
    for v in ref_vectors:
        y = ref_values(v)
        t = np.asarray(v["years"], dtype=np.float64)
        res = mlri.sen_interval(y, t, alpha=alpha)
        exp = _scipy(y, t, alpha)
        np.testing.assert_array_equal([res.low_slope, res.high_slope], exp, err_msg=v["name"])


def test_stack_with_gaps_ties_and_threads(rng):
    years = np.array([*range(2000, 2012), *range(2013, 2020)], dtype=np.float64)
    T, P = years.size, 400
    y = np.round(0.3 + 0.01 * np.arange(T)[:, None] * rng.standard_normal(P)
                 + 0.05 * rng.standard_normal((T, P)), 2)       # rounding makes ties
    y[rng.random((T, P)) < 0.2] = np.nan
    y[:, 0] = np.nan
    y[:-1, 1] = np.nan                                          # one value
    y[:, 2] = 0.5                                               # constant
    r1 = mlri.sen_interval(y.reshape(T, 20, 20), years, n_threads=1)
    r2 = mlri.sen_interval(y.reshape(T, 20, 20), years, n_threads=2)
    for a, b in zip(r1, r2, strict=True):
        np.testing.assert_array_equal(a, b)
    lo = r1.low_slope.reshape(-1)
    hi = r1.high_slope.reshape(-1)
    for p in range(P):
        np.testing.assert_array_equal([lo[p], hi[p]], _scipy(y[:, p], years, 0.05), err_msg=str(p))
    ok = np.isfinite(lo)
    sen = np.asarray(mlri.sens_slope(y, years).slope).reshape(-1)
    assert np.all((lo[ok] <= sen[ok]) & (sen[ok] <= hi[ok]))
    assert np.isnan(lo[0]) and np.isnan(hi[1]) and lo[2] == hi[2] == 0.0


@pytest.mark.parametrize("T", [3, 4, 25, 64])
def test_heavy_ties_long_series_and_huge_values(rng, T):
    """Equal slopes (integer data, exact lines), +-inf slopes and long series: the selection
    returns scipy's order statistics (a zero as +0.0)."""
    years = np.arange(1990, 1990 + T, dtype=np.float64)
    P = 300
    y = rng.integers(-3, 4, size=(T, P)).astype(np.float64)   # many equal values and slopes
    y[:, 0] = 2.0 * years - 4000.0                             # an exact line: all slopes 2
    y[:, 1] = np.where(np.arange(T) % 2 == 0, 1e308, -1e308)   # differences overflow: +-inf
    y[:, 2] = np.where(np.arange(T) % 2 == 0, 0.0, -0.0)       # signed zeros only
    y[rng.random((T, P)) < 0.1] = np.nan
    r = mlri.sen_interval(y.reshape(T, 1, P), years, n_threads=2)
    lo = r.low_slope.reshape(-1)
    hi = r.high_slope.reshape(-1)
    for p in range(P):
        want = _scipy(y[:, p], years, 0.05)
        np.testing.assert_array_equal([lo[p], hi[p]], want, err_msg=str(p))
    zero = (lo == 0.0) | (hi == 0.0)
    assert not np.any(np.signbit(lo[zero & (lo == 0.0)])) and not np.any(
        np.signbit(hi[zero & (hi == 0.0)]))


def test_float32_is_promoted_and_wider_alpha_narrows(rng):
    y = (0.2 + 0.01 * np.arange(19)[:, None] + 0.03 * rng.standard_normal((19, 50)))
    r64 = mlri.sen_interval(y)
    r32 = mlri.sen_interval(y.astype(np.float32))
    y32 = y.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(r32.low_slope, mlri.sen_interval(y32).low_slope)
    r50 = mlri.sen_interval(y, alpha=0.5)
    assert np.all(r50.low_slope >= r64.low_slope) and np.all(r50.high_slope <= r64.high_slope)
    assert np.any(r50.high_slope - r50.low_slope < r64.high_slope - r64.low_slope)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, float("nan")])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        mlri.sen_interval(np.zeros((5, 2)), alpha=alpha)


def test_years_mismatch():
    with pytest.raises(ValueError, match="years"):
        mlri.sen_interval(np.zeros((5, 2)), [1, 2, 3])
