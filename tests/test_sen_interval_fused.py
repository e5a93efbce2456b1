"""Sen's slope interval computed inside the trend kernel's fast paths.

Up to 64 years, the interval is selected from the slopes the trend kernel forms anyway (for
mlri.run through mlri._trend_ci.trend_with_interval, and for mlri.sen_interval itself); longer
series, or irregular years, take the standalone kernel (sen_interval.hpp), which
test_sen_interval.py checks against scipy.  Appending all-missing years moves a stack onto that
standalone kernel without changing any result, so the fast paths must equal it bit for bit
(values, NaN positions, sign of zero) on every SIMD target, for every series length, NaN
pattern, tie pattern and year spacing, thread count and tiling, and leave the trend outputs
untouched.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_simd_targets import SUPPORTED, as_generic, gappy_years, make_stack

import mlri
from mlri import _core
from mlri._trend_ci import interval_z, trend_with_interval

TREND_FIELDS = ("n_valid", "s", "var_s", "z", "p", "slope", "intercept", "hurst")
# every network size (<= 4, 8, 12, 16, 19 values), the long path and the generic path (> 64)
LENGTHS = [2, 3, 4, 5, 8, 11, 12, 15, 16, 17, 19, 20, 25, 64, 66]


@pytest.fixture
def restore_target():
    default = _core.simd_target()
    yield
    _core.set_simd_target(default)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if not np.array_equal(a, b, equal_nan=True):
        return False
    return a.dtype.kind != "f" or bool(np.all((np.signbit(a) == np.signbit(b)) | np.isnan(a)))


def standalone(y: np.ndarray, years: np.ndarray, alpha: float) -> mlri.SenInterval:
    """The interval of the standalone kernel: the same stack with all-missing years appended."""
    y_long, years_long = as_generic(y, years) if y.shape[0] < 65 else (y, years)
    return mlri.sen_interval(y_long, years_long, alpha=alpha, n_threads=1)


def check(y: np.ndarray, years: np.ndarray, alpha: float = 0.05, **kw) -> None:
    tr, ci = trend_with_interval(y, years, sen_alpha=alpha, **kw)
    ref = standalone(y, years, alpha)
    own = mlri.sen_interval(y, years, alpha=alpha, n_threads=kw.get("n_threads"))
    for got in (ci, own):
        assert same_bits(got.low_slope, ref.low_slope), "low_slope differs"
        assert same_bits(got.high_slope, ref.high_slope), "high_slope differs"
        assert same_bits(got.n_valid, ref.n_valid)
    plain = mlri.trend(y, years, **kw)
    for f in TREND_FIELDS:
        assert same_bits(getattr(tr, f), getattr(plain, f)), f"trend output {f} changed"


@pytest.mark.parametrize("T", LENGTHS)
def test_fused_equals_standalone_every_target(restore_target, T):
    y = make_stack(100 + T, T, 1203, np.float64)  # ties, +-0, huge values, 0..T valid values
    y32 = make_stack(200 + T, T, 1203, np.float32)
    years = gappy_years(T, T)
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        check(y, years, n_threads=2)
        check(y32, years, alpha=0.2, n_threads=1)


def test_fused_heavy_ties_and_constant_series(restore_target):
    rng = np.random.default_rng(8)
    T = 19
    y = np.round(rng.normal(0.0, 1.0, (T, 600)), 0)  # many tie groups
    y[:, 0] = 3.0  # constant: all slopes 0, variance 0
    y[:, 1] = np.repeat([1.0, 2.0], [9, 10])
    y[:, 2] = rng.choice([0.0, -0.0], T)
    y[:, 3] = rng.choice([-1e308, 1e308, 1.0], T)  # differences overflow: infinite slopes
    y[:, 4] = np.nan
    y[3, 4] = 1.0
    years = np.array([2000 + k + (k >= 12) for k in range(T)], dtype=np.float64)
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        for alpha in (0.01, 0.05, 0.5, 0.9):
            check(y, years, alpha=alpha)


@pytest.mark.parametrize("T", [4, 8, 12, 16, 19])
def test_fused_interval_at_and_beyond_the_band(restore_target, T):
    """At |z| <= 1.96 the network path sorts only a band of ranks around the median (the
    widest interval: distinct values, every length up to T); a smaller alpha needs ranks outside
    it and takes the full sort.  Both sides of that switch, and alphas next to it, on distinct
    values (no ties: the widest interval of each length) with 0..T valid values per pixel."""
    rng = np.random.default_rng(T)
    y = rng.normal(0.0, 1.0, (T, 4000)) + 0.05 * np.arange(T)[:, None]
    n_valid = rng.integers(0, T + 1, y.shape[1])
    y[np.arange(T)[:, None] >= n_valid[None, :]] = np.nan
    for c in range(y.shape[1]):
        y[:, c] = y[rng.permutation(T), c]  # the missing years anywhere in the series
    years = gappy_years(T, 3 * T)
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        for alpha in (0.001, 0.01, 0.03, 0.045, 0.0499, 0.05, 0.0501, 0.1, 0.3):
            check(y, years, alpha=alpha, n_threads=2)


def near_tie_stack(T: int, P: int, seed: int) -> np.ndarray:
    """Series whose slopes agree to far more than the keyed networks' 24-bit keys resolve
    (relative 2^-15): nearly linear series (every slope within ~1e-9 of the others), exact
    ties (integer values; MLRI's repeated 1.0), zeros of both signs beside float32 subnormal
    slopes, slopes beyond the float range, slopes on and beside the grid of the long path's
    16-bit images, and missing years, in blocks of every parity."""
    rng = np.random.default_rng(seed)
    t = np.arange(T, dtype=np.float64)[:, None]
    kind = rng.integers(0, 8, P)
    y = 0.3 + 0.01 * t * (1.0 + 1e-9 * rng.standard_normal((T, P)))  # kind 0: near-linear
    y[:, kind == 1] = np.round(rng.normal(0.0, 1.5, (T, int((kind == 1).sum()))))
    m = kind == 2  # MLRI-like: 1.0 in several years, small steps elsewhere
    y[:, m] = np.where(rng.random((T, int(m.sum()))) < 0.4, 1.0,
                       1.0 + 0.01 * rng.standard_normal((T, int(m.sum()))))
    m = kind == 3  # zeros and subnormal-float-sized steps (keys of 0 and of them coincide)
    y[:, m] = rng.choice([0.0, -0.0, 1e-41, -1e-41, 3e-42], size=(T, int(m.sum())))
    m = kind == 4  # steps beyond the float range: every such slope keys as +-inf
    y[:, m] = rng.choice([-1e300, -3e299, 0.0, 2e299, 1e300], size=(T, int(m.sum())))
    m = kind == 5  # two near-equal slope groups around the median
    y[:, m] = t * np.where(rng.random((T, int(m.sum()))) < 0.5, 1.0, 1.0 + 2e-6)
    m = kind == 6  # slopes at 16-bit grid points (floats with 8 significant bits) and one
    # float step beside them, of both signs
    grid = np.array([1.0, 1.0 + 2**-7, 1.0 - 2**-8, -1.0, -(1.0 + 2**-7)], dtype=np.float32)
    near = np.concatenate([grid, np.nextafter(grid, np.float32(np.inf)),
                           np.nextafter(grid, np.float32(-np.inf))]).astype(np.float64)
    y[:, m] = t * rng.choice(near, size=(1, int(m.sum()))) + rng.choice(
        [0.0, 2**-30], size=(T, int(m.sum())))
    y[rng.random((T, P)) < 0.08] = np.nan
    return np.ascontiguousarray(y)


@pytest.mark.parametrize("T", [4, 8, 12, 16, 19, 20, 24, 33, 40, 64])
def test_selection_exact_at_near_ties(restore_target, T):
    """Up to 19 years the network path orders 32-bit keys monotone in the slopes and proves
    every rank it reads by its neighbours' keys; slopes closer than the keys resolve take the
    doubles.  Beyond, the counting selection narrows on float images of the slopes, compacts
    the slots left in some pixel's bracket (24 years and more) and starts the interval's ends
    from the median's counts.  Median, interval and intercept equal the standalone / generic
    kernels bit for bit, for blocks in pairs and alone (several pixel counts)."""
    years = gappy_years(T, 7 * T)
    for P in (1, 5, 8 * 131 + 3, 2003):
        y = near_tie_stack(T, P, 1000 * T + P)
        y_long, years_long = as_generic(y, years)
        for tgt in SUPPORTED:
            _core.set_simd_target(tgt)
            for alpha in (0.05, 0.01, 0.5):
                check(y, years, alpha=alpha, n_threads=2)
            fast, generic = mlri.trend(y, years), mlri.trend(y_long, years_long)
            for f in ("slope", "intercept", "s", "p"):
                assert same_bits(getattr(fast, f), getattr(generic, f)), f"{tgt} P={P}: {f}"


def test_fused_threads_and_tiles_identical(restore_target):
    y = make_stack(42, 19, 5001, np.float32)
    years = gappy_years(19, 2)
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        _, one = trend_with_interval(y, years, n_threads=1)
        _, two = trend_with_interval(y, years, n_threads=2)
        parts = [trend_with_interval(y[:, s], years, n_threads=2)[1] for s in
                 (slice(0, 7), slice(7, 2050), slice(2050, None))]
        for f in ("low_slope", "high_slope"):
            tiles = np.concatenate([getattr(p, f) for p in parts])
            assert same_bits(getattr(one, f), getattr(two, f)), f"{tgt}: threads change {f}"
            assert same_bits(getattr(one, f), tiles), f"{tgt}: tiles change {f}"


def test_fused_spatial_shape_and_options():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(19, 6, 7)) + np.arange(19)[:, None, None] * 0.1
    years = np.array([2000 + k + (k >= 12) for k in range(19)], dtype=np.float64)
    tr, ci = trend_with_interval(y, years, sen_alpha=0.1, hurst_series="level", gap="rate")
    assert ci.low_slope.shape == (6, 7) and tr.hurst.shape == (6, 7)
    assert np.all(ci.low_slope <= tr.slope) and np.all(tr.slope <= ci.high_slope)
    ref = mlri.trend(y, years, hurst_series="level", gap="rate")
    assert same_bits(tr.hurst, ref.hurst)


def test_fused_bad_level_and_kernel_argument():
    y = np.ones((19, 3))
    years = np.array([2000 + k + (k >= 12) for k in range(19)], dtype=np.float64)
    with pytest.raises(ValueError, match="sen_alpha must be in"):
        trend_with_interval(y, years, sen_alpha=1.5)
    with pytest.raises(ValueError, match="sen_z must be negative"):
        _core.trend(y, years, method=0, series_kind=0, ddof=0, tau_min=2, gap=0, degenerate=0,
                    rel_tol=1e-12, min_points=2, corrected=True, compute=7, n_threads=1,
                    sen_z=0.5)
    assert interval_z(0.05) < 0 and interval_z(0.95) == pytest.approx(interval_z(0.05))  # as scipy


@pytest.mark.parametrize("T", [3, 4, 19, 25])
def test_fused_interval_ranks_at_extreme_z(restore_target, T):
    """The fast paths compute the interval's ranks on whole vectors (rounding by an addition,
    on values clamped to +-2^50); the standalone kernel, per pixel with nearbyint.  At z far
    beyond any alpha (ranks out of range, |N -+ z sigma| / 2 above 2^50, or infinite) and
    barely below zero (both ends at the median), they agree bit for bit."""
    rng = np.random.default_rng(40 + T)
    y = np.round(rng.normal(0.0, 2.0, (T, 3000)), 1)  # ties
    n_valid = rng.integers(0, T + 1, y.shape[1])
    y[np.arange(T)[:, None] >= n_valid[None, :]] = np.nan
    years = gappy_years(T, T)
    y_long, years_long = as_generic(y, years)
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        for z in (-1e-300, -0.3, -40.0, -1e15, -1e300, -np.inf):
            got = _core.sen_interval(y, years, z=z, n_threads=2)
            ref = _core.sen_interval(y_long, years_long, z=z, n_threads=1)
            for k in ("low_slope", "high_slope", "n_valid"):
                assert same_bits(got[k], ref[k]), (tgt, z, k)
            if z == -0.3:  # the common case reaches the interval at all
                assert np.isfinite(got["low_slope"]).any()
