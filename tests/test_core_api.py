"""The public API contract: shapes, dtypes, layouts, threads and error messages."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import mlri
from mlri import _core

YEARS = np.array([*range(2000, 2012), *range(2013, 2020)], dtype=float)


def _stack(rng, shape=(19, 23, 17), dtype=np.float32, nan_frac=0.05):
    a = (rng.normal(0.3, 0.05, shape) + 0.004 * np.arange(shape[0]).reshape(-1, *[1] *
                                                                                 (len(shape) - 1)))
    a = np.round(a, 2)  # ties
    a[rng.random(shape) < nan_frac] = np.nan
    a.flat[rng.integers(0, a.size, 5)] = np.inf
    return a.astype(dtype)


def _assert_same(a, b):
    for f in a._fields:
        assert np.array_equal(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)),
                              equal_nan=True), f


def test_default_years_and_result_shapes(rng):
    s = _stack(rng)
    r = mlri.trend(s)
    assert isinstance(r, mlri.TrendResult)
    for f in r._fields:
        assert getattr(r, f).shape == (23, 17)
    assert r.n_valid.dtype == np.int32 and r.z.dtype == np.float64
    with pytest.raises(ValueError, match="years is required"):
        mlri.trend(s[:10])


def test_scalar_series_gives_scalars():
    r = mlri.trend(np.arange(19.0))
    assert np.ndim(r.z) == 0 and float(r.slope) == 1.0


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_threads_bit_identical(rng, n_threads):
    s = _stack(rng, (19, 64, 50))
    _assert_same(mlri.trend(s, n_threads=1), mlri.trend(s, n_threads=n_threads))
    i1 = mlri.index(s + 300, s, n_threads=1)
    i2 = mlri.index(s + 300, s, n_threads=n_threads)
    assert np.array_equal(i1.mlri, i2.mlri, equal_nan=True)
    assert np.array_equal(i1.dropped, i2.dropped)


def test_layouts_c_f_strided_equal(rng):
    s = _stack(rng, (19, 40, 30), dtype=np.float32)
    base = mlri.trend(s)
    _assert_same(base, mlri.trend(np.asfortranarray(s)))
    big = np.zeros((19, 80, 60), np.float32)
    big[:, ::2, ::2] = s
    _assert_same(base, mlri.trend(big[:, ::2, ::2]))
    # (time, ...) with any trailing shape
    flat = mlri.trend(s.reshape(19, -1))
    assert np.array_equal(flat.z.reshape(40, 30), base.z, equal_nan=True)


def test_float32_and_float64_agree_on_float32_values(rng):
    s = _stack(rng, (19, 30, 30), dtype=np.float32)
    _assert_same(mlri.trend(s), mlri.trend(s.astype(np.float64)))


def test_integer_input_promoted(rng):
    a = rng.integers(0, 50, (19, 5))
    r = mlri.trend(a)
    assert np.array_equal(r.s, mlri.trend(a.astype(float)).s)


@pytest.mark.parametrize("shape", [(19, 1, 1), (19, 7, 3), (19, 64, 64), (19, 512, 512)])
def test_stack_equals_pixel_loop(rng, shape):
    s = _stack(rng, shape, dtype=np.float64)
    r = mlri.trend(s)
    flat = s.reshape(19, -1)
    idx = np.arange(flat.shape[1])
    if idx.size > 300:
        idx = rng.choice(idx, 300, replace=False)
    for j in idx:
        one = mlri.trend(flat[:, j])
        for f in r._fields:
            assert np.array_equal(getattr(r, f).reshape(-1)[j], getattr(one, f),
                                  equal_nan=True), (f, j)


def test_errors_name_the_parameter(rng):
    s = _stack(rng, (19, 4))
    with pytest.raises(TypeError, match="series"):
        mlri.trend(np.array([["a"] * 4] * 19))
    with pytest.raises(TypeError, match="series"):
        mlri.trend(s.astype(complex))
    with pytest.raises(ValueError, match="strictly increasing"):
        mlri.trend(s, YEARS[::-1])
    with pytest.raises(ValueError, match="years has 18 entries"):
        mlri.trend(s, YEARS[:-1])
    with pytest.raises(ValueError, match="years must be 1-D"):
        mlri.trend(s, YEARS.reshape(19, 1))
    with pytest.raises(ValueError, match="time axis"):
        mlri.trend(np.float64(3.0))
    with pytest.raises(ValueError, match="hurst_method"):
        mlri.trend(s, hurst_method="dfa")
    with pytest.raises(ValueError, match="n_threads"):
        mlri.trend(s, n_threads=0)
    with pytest.raises(TypeError, match="n_threads"):
        mlri.trend(s, n_threads=1.5)
    with pytest.raises(ValueError, match="either z_crit= or alpha="):
        mlri.classify(mlri.trend(s), z_crit=2, alpha=0.05)
    with pytest.raises(ValueError, match="zero_slope_direction"):
        mlri.classify(mlri.trend(s), zero_slope_direction="up")


def test_options_are_never_coerced_silently(rng):
    """A value of the wrong type is refused with the parameter's name (as the caller spelled
    it), never truncated (2.9 -> 2) or read as truthy ('no' -> True)."""
    s = _stack(rng, (19, 4))
    for call, match in [
        (lambda: mlri.trend(s, hurst_ddof=0.5), "hurst_ddof must be an integer"),
        (lambda: mlri.hurst(s, ddof=1.9), "^ddof must be an integer"),
        (lambda: mlri.hurst(s, method="dfa"), "^method must be one of"),
        (lambda: mlri.hurst(s, tau_min=2.9), "tau_min must be an integer"),
        (lambda: mlri.hurst(s, method="segmented", corrected="no"), "corrected must be True"),
        (lambda: mlri.trend(s, rel_tol="a"), "rel_tol must be a number"),
        (lambda: mlri.index(np.full((19, 2), 300.0), np.full((19, 2), 0.3), evi_min="a"),
         "evi_min must be a number"),
        (lambda: mlri.classify(mlri.trend(s), min_valid=2.5), "min_valid must be an integer"),
        (lambda: mlri.classify(mlri.trend(s), alpha="high"), "alpha must be a number"),
    ]:
        with pytest.raises((TypeError, ValueError), match=match):
            call()
    # NumPy scalars of the right kind are fine
    assert np.array_equal(mlri.hurst(s, ddof=np.int64(1), corrected=np.True_),
                          mlri.hurst(s, ddof=1), equal_nan=True)


def test_min_valid_beyond_any_series_length_means_too_few_years(rng):
    """min_valid above the kernel's int range means what any value above the series length
    means (every pixel has too few years), not a binding error."""
    tr = mlri.trend(_stack(rng, (19, 6)))
    for a, b in zip(mlri.classify(tr, min_valid=2**40), mlri.classify(tr, min_valid=20),
                    strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("call", [
    lambda y: mlri.trend(y, []), lambda y: mlri.mann_kendall(y), lambda y: mlri.hurst(y),
    lambda y: mlri.sens_slope(y, []), lambda y: mlri.onset(y, []),
])
def test_empty_time_axis_is_refused_by_name(call):
    with pytest.raises(ValueError, match="series has no time steps"):
        call(np.zeros((0, 3)))


def test_index_empty_time_axis_is_refused_by_name():
    with pytest.raises(ValueError, match="lst has no time steps"):
        mlri.index(np.zeros((0, 3)), np.zeros((0, 3)), [])


def test_core_binding_rejects_wrong_layout_dtype():
    """The binding refuses to guess: wrong dtype/layout is a TypeError, wrong ndim a ValueError."""
    y = np.zeros((19, 4), np.float64)
    years = YEARS.copy()
    kw = dict(method=0, series_kind=0, ddof=0, tau_min=2, gap=0, degenerate=0, rel_tol=1e-12,
              min_points=2, corrected=True, compute=7, n_threads=1)
    with pytest.raises(TypeError):
        _core.trend(np.asfortranarray(np.zeros((19, 4))), years, **kw)
    with pytest.raises(TypeError):
        _core.trend(y.astype(np.int64), years, **kw)
    with pytest.raises(ValueError, match="years"):
        _core.trend(y, years[:5], **kw)


def test_gil_released(rng):
    """Two Python threads running the kernel concurrently finish and agree."""
    import threading

    s = _stack(rng, (19, 200, 200))
    out = [None, None]

    def work(i):
        out[i] = mlri.trend(s, n_threads=1)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    _assert_same(out[0], out[1])


def test_version_cli_reports_openmp_and_simd():
    out = subprocess.run([sys.executable, "-m", "mlri", "--version"], capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    assert out.startswith("mlri ")
    assert "OpenMP on" in out or "OpenMP off" in out
    assert f"SIMD {_core.simd_target()}" in out


def test_import_does_not_pull_heavy_optional_modules():
    code = ("import sys, mlri; bad=[m for m in ('dask','xarray','matplotlib','sklearn') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == "[]"


@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_import_makes_idle_openmp_threads_sleep_unless_set(preset):
    import os

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = "import os, mlri; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout.strip().splitlines()[-1]
    assert out == (preset or "PASSIVE")
