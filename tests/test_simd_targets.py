"""Every compiled SIMD target, every thread count and both kernel paths give identical trends.

The kernels are compiled once per x86 target (baseline / AVX2 / AVX-512) with the same
floating-point policy (no fast-math, no FMA contraction), so results must agree bit for bit:
values, NaN positions and the sign of zero.  The fast path (series of <= 19 values) and the
generic path (longer series) must agree too: appending an all-missing year cannot change a
result, but moves a 19-year stack onto the generic path.
"""

from __future__ import annotations

import numpy as np
import pytest

import mlri
from mlri import _core

FIELDS = ("n_valid", "s", "var_s", "z", "p", "slope", "intercept", "hurst")
SUPPORTED = [name for name, ok in _core.simd_targets() if ok]
YEARS19 = np.array([2000 + k + (k >= 12) for k in range(19)], dtype=np.float64)
GENERIC_ROWS = 65  # series longer than the fast paths (64 values) take the generic kernel


@pytest.fixture
def restore_target():
    default = _core.simd_target()
    yield
    _core.set_simd_target(default)


def make_stack(seed: int, T: int, P: int, dtype) -> np.ndarray:
    """(T, P) values with ties, NaN, +-inf, signed zeros, huge/tiny pixels, 0..T valid values."""
    rng = np.random.default_rng(seed)
    y = rng.normal(0.5, 0.2, (T, P)) + rng.normal(0, 0.02, P) * np.arange(T)[:, None]
    kind = rng.integers(0, 6, P)
    y[:, kind == 1] = np.round(y[:, kind == 1] * 10) / 10  # heavy ties
    y[:, kind == 2] = rng.choice([0.0, -0.0, 1.0], size=(T, int((kind == 2).sum())))
    y[:, kind == 3] *= 1e30 if dtype == np.float32 else 1e300
    y[:, kind == 4] = np.arange(T)[:, None] * 0.25  # exactly linear: degenerate Hurst windows
    sel = rng.random((T, P))
    y[sel < 0.03] = np.inf
    y[(sel >= 0.03) & (sel < 0.05)] = -np.inf
    frac = rng.random(P) ** 3  # per-pixel missing fraction: n_valid spans 0..T
    y[rng.random((T, P)) < frac] = np.nan
    y[:, :7] = np.nan  # a few empty pixels
    return np.ascontiguousarray(y.astype(dtype))


def years_for(T: int) -> np.ndarray:
    if T == 19:
        return YEARS19
    return np.arange(1990, 1990 + T, dtype=np.float64) + 0.5 * (np.arange(T) >= T // 2)


def run(y: np.ndarray, years: np.ndarray, n_threads: int = 1, **kw) -> dict:
    res = mlri.trend(y, years, n_threads=n_threads, **kw)
    return {f: np.asarray(getattr(res, f)) for f in FIELDS}


def assert_identical(a: dict, b: dict, what: str) -> None:
    for f in FIELDS:
        x, y = a[f], b[f]
        assert np.array_equal(x, y, equal_nan=True), f"{what}: {f} differs"
        if x.dtype.kind == "f":
            same_sign = np.signbit(x) == np.signbit(y)
            assert np.all(same_sign | np.isnan(x)), f"{what}: {f} differs in the sign of zero"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [2, 4, 7, 12, 19, 25, 40, 64])
def test_targets_identical(restore_target, T, dtype):
    y = make_stack(T, T, 3001, dtype)  # 3001: several chunks and a partial block
    years = years_for(T)
    ref = None
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        res = run(y, years)
        if ref is None:
            ref, ref_name = res, tgt
        else:
            assert_identical(ref, res, f"T={T} {np.dtype(dtype).name}: {tgt} vs {ref_name}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_identical(restore_target, dtype):
    y = make_stack(7, 19, 20011, dtype)
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        one = run(y, YEARS19, n_threads=1)
        two = run(y, YEARS19, n_threads=2)
        assert_identical(one, two, f"{tgt} {np.dtype(dtype).name}: 1 vs 2 threads")


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"hurst_series": "level"},
        {"hurst_method": "segmented"},
        {"hurst_method": "segmented", "corrected": False, "hurst_series": "level"},
        {"hurst_ddof": 1, "tau_min": 3},
        {"gap": "rate", "degenerate": "nan"},
        {"rel_tol": 0.0},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "defaults",
)
def test_options_identical(restore_target, kw):
    y = make_stack(11, 19, 1500, np.float32)
    ref = None
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        res = run(y, YEARS19, **kw)
        if ref is None:
            ref, ref_name = res, tgt
        else:
            assert_identical(ref, res, f"{kw}: {tgt} vs {ref_name}")


def as_generic(y: np.ndarray, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same stack with all-missing years appended up to the generic kernel's length."""
    pad = GENERIC_ROWS - y.shape[0]
    y_long = np.concatenate([y, np.full((pad, y.shape[1]), np.nan, dtype=y.dtype)])
    return y_long, np.concatenate([years, years[-1] + 1.0 + np.arange(pad)])


def gappy_years(T: int, seed: int) -> np.ndarray:
    """Increasing years with irregular gaps of 1-3 years and a fractional offset."""
    steps = np.random.default_rng(seed).choice([1.0, 1.0, 1.0, 2.0, 3.0], size=T)
    return 1984.25 + np.cumsum(steps)


# every length of the network path's sizes and of the counting path, plus seeded random ones
FAST_LENGTHS = sorted({3, 8, 19, 20, 25, 40, 64}
                      | set(np.random.default_rng(13).integers(3, 65, 5).tolist()))


@pytest.mark.parametrize("T", FAST_LENGTHS)
def test_fast_path_matches_generic_path(restore_target, T):
    y = make_stack(5 + T, T, 1203, np.float64)
    years = gappy_years(T, T)
    y_long, years_long = as_generic(y, years)
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        for kw in ({}, {"hurst_series": "level", "gap": "rate"}, {"hurst_method": "segmented"}):
            assert_identical(run(y, years, **kw), run(y_long, years_long, **kw),
                             f"{tgt} T={T} {kw}: fast vs generic path")


@pytest.mark.parametrize("T", [30, 64])
def test_long_path_threads_tiles_float32(restore_target, T):
    # float32 input, 1 vs 2 threads, and two pixel tiles vs the whole stack
    y = make_stack(77 + T, T, 2500, np.float32)
    years = gappy_years(T, 1)
    y_long, years_long = as_generic(y, years)
    ref = run(y_long, years_long)
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        assert_identical(ref, run(y, years, n_threads=2), f"{tgt} T={T}: 2 threads vs generic")
        a, b = run(y[:, :1001], years), run(y[:, 1001:], years)
        tiles = {f: np.concatenate([a[f], b[f]]) for f in FIELDS}
        assert_identical(ref, tiles, f"{tgt} T={T}: tiles vs generic")


def test_long_path_ties_and_extremes(restore_target):
    # constant series, all values tied in pairs, a single value, huge values whose differences
    # overflow to +-inf (infinite slopes), and -0.0 / +0.0 mixes
    T = 33
    P = 64
    rng = np.random.default_rng(3)
    y = np.round(rng.normal(0.0, 1.0, (T, P)), 0)
    y[:, 0] = 5.0
    y[:, 1] = np.repeat(np.arange(17.0), 2)[:T]
    y[:, 2] = np.nan
    y[5, 2] = 1.0
    y[:, 3] = rng.choice([-1.7e308, 1.7e308, 0.0], size=T)
    y[:, 4] = rng.choice([0.0, -0.0], size=T)
    y[:, 5] = rng.choice([-1e308, 1e308, 3.0, -3.0], size=T)
    years = gappy_years(T, 5)
    y_long, years_long = as_generic(y, years)
    ref = run(y_long, years_long)
    assert not np.isnan(ref["slope"][[0, 1, 3, 4, 5]]).any()
    assert ref["slope"][0] == 0.0 and ref["s"][0] == 0.0 and ref["n_valid"][2] == 1
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        assert_identical(ref, run(y, years), f"{tgt}: ties and extremes")


def test_set_simd_target_rejects_unknown(restore_target):
    with pytest.raises(ValueError, match="unknown SIMD target"):
        _core.set_simd_target("avx9000")
    assert _core.simd_target() in SUPPORTED


def test_every_supported_target_selectable(restore_target):
    assert "baseline" in SUPPORTED
    for tgt in SUPPORTED:
        _core.set_simd_target(tgt)
        assert _core.simd_target() == tgt
