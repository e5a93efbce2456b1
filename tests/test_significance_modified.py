"""Hamed–Rao / Yue–Wang modified Mann–Kendall (mlri.significance.mk_modified) against
pymannkendall 1.4.3 on the reference vectors, where pymannkendall is correct, and the
deliberate differences (pyMannKendall #29 negative variance, gaps, overflow)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mlri
from mlri import significance as sg

pmk = pytest.importorskip("pymannkendall")



def ref_values(entry: dict) -> np.ndarray:
    """Decode a reference series (null -> NaN), as conftest.ref_values."""
    return np.asarray([np.nan if v is None else float(v) for v in entry["values"]], float)

FUNCS = {"hamed_rao": "hamed_rao_modification_test", "yue_wang": "yue_wang_modification_test"}


def _pmk(values, method, lag):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return getattr(pmk, FUNCS[method])(values, lag=lag)
        except (ZeroDivisionError, IndexError):
            return None


@pytest.mark.parametrize("method", ["hamed_rao", "yue_wang"])
@pytest.mark.parametrize("lag", [None, 1, 3])
def test_agrees_with_pymannkendall_where_it_is_correct(ref_vectors, method, lag):
    checked = 0
    for e in ref_vectors:
        v = ref_values(e)
        if not np.all(np.isfinite(v)) or v.size < 3:
            continue  # gaps: pymannkendall mixes time axes (deliberate difference below)
        ref = _pmk(v, method, lag)
        ours = sg.mk_modified(v, np.arange(v.size), method=method,
                              lag="all" if lag is None else lag, time="index")
        if ref is None or np.isnan(ref.var_s):
            continue  # pymannkendall crashes (n <= 2, lag > n) or overflows (huge_scale19)
        assert ours.s == ref.s
        if ref.var_s <= 0:
            # pyMannKendall #29: n/n* <= 0 -> negative variance -> NaN Z
            assert ours.invalid
            continue
        rtol = 1e-5 if e["name"] == "huge_offset19" else 1e-9
        np.testing.assert_allclose(ours.var_s, ref.var_s, rtol=rtol)
        np.testing.assert_allclose(ours.z, ref.z, rtol=rtol, atol=1e-12)
        np.testing.assert_allclose(ours.p, ref.p, rtol=1e-6, atol=1e-12)
        checked += 1
    assert checked >= 12


def test_pymannkendall_negative_variance_is_flagged(ref_vectors):
    v = ref_values(next(e for e in ref_vectors if e["name"] == "alternating19"))
    ref = _pmk(v, "hamed_rao", 3)
    assert ref.var_s < 0  # pymannkendall returns a negative variance (its z is NaN for S != 0)
    ours = sg.mk_modified(v, np.arange(19), method="hamed_rao", lag=3, time="index")
    assert ours.invalid and ours.correction < 0 and np.isnan(ours.var_s)
    assert ours.var_s_original == mlri.mann_kendall(v).var_s
    assert ours.z == mlri.mann_kendall(v).z  # on_invalid="original": uncorrected Z
    nan = sg.mk_modified(v, np.arange(19), method="hamed_rao", lag=3, time="index",
                         on_invalid="nan")
    assert np.isnan(nan.z) and np.isnan(nan.p)
    # issue #29's own series: pymannkendall gives var_s = -8.74 and NaN z
    s2 = [0.35257984, 0.38692909, 0.39669828, 0.36296244, 0.42035612, 0.39374964, 0.41100085,
          0.43182076, 0.40815853, 0.45394297, 0.41584767, 0.47399517]
    assert _pmk(s2, "hamed_rao", None).var_s < 0
    o = sg.mk_modified(s2, np.arange(12), method="hamed_rao", lag="all", time="index")
    assert o.invalid and np.isfinite(o.z) and o.s == 44


def test_huge_scale_does_not_overflow(ref_vectors):
    v = ref_values(next(e for e in ref_vectors if e["name"] == "huge_scale19"))
    base = ref_values(next(e for e in ref_vectors if e["name"] == "huge_offset19"))
    ours = sg.mk_modified(v, np.arange(19), method="yue_wang", lag="all", time="index")
    assert np.isfinite(ours.z)  # pymannkendall: NaN (overflow in the ACF)
    ref = _pmk(base, "yue_wang", None)
    np.testing.assert_allclose(ours.correction * ours.var_s_original, ref.var_s, rtol=1e-4)


def test_gaps_use_real_time(ref_vectors, rng):
    e = next(e for e in ref_vectors if e["name"] == "nan_gaps20")
    v = ref_values(e)
    years = np.asarray(e["years"], float)
    fin = np.isfinite(v)
    full = sg.mk_modified(v, years, method="yue_wang")
    compact = sg.mk_modified(v[fin], years[fin], method="yue_wang")
    for k in ("s", "var_s", "z", "p", "correction"):
        np.testing.assert_allclose(getattr(full, k), getattr(compact, k), rtol=1e-12)
    # without gaps and with consecutive years, time="years" equals time="index"
    y = rng.standard_normal((19, 50)).cumsum(0)
    a = sg.mk_modified(y, np.arange(2000, 2019), method="hamed_rao")
    b = sg.mk_modified(y, method="hamed_rao", time="index")
    np.testing.assert_allclose(a.z, b.z, rtol=1e-12)


def test_vectorised_equals_per_pixel(rng):
    y = rng.standard_normal((19, 40)).cumsum(0)
    y[rng.random(y.shape) < 0.1] = np.nan
    for method in ("hamed_rao", "yue_wang"):
        whole = sg.mk_modified(y, method=method, chunk=7)
        for p in range(0, 40, 9):
            one = sg.mk_modified(y[:, p], method=method)
            np.testing.assert_allclose(whole.z[p], one.z, rtol=1e-12)
            np.testing.assert_allclose(whole.correction[p], one.correction, rtol=1e-12)


def test_white_noise_rejection_rates():
    # documented in docs/significance.md: at n = 19 the corrections do not rescue the level
    rng = np.random.default_rng(0)
    y = rng.standard_normal((19, 5000))
    hr = sg.mk_modified(y, method="hamed_rao")
    yw1 = sg.mk_modified(y, method="yue_wang")
    yw_all = sg.mk_modified(y, method="yue_wang", lag="all")
    assert np.mean(hr.p <= 0.05) < 0.1
    assert np.mean(yw1.p <= 0.05) < 0.15
    assert np.mean(yw_all.p <= 0.05) > 0.3  # why lag="all" is not the default


def test_validation():
    y = np.arange(19.0)
    with pytest.raises(ValueError, match="method"):
        sg.mk_modified(y, method="tfpw")
    with pytest.raises(ValueError, match="lag"):
        sg.mk_modified(y, lag=0)
    with pytest.raises(ValueError, match="lag"):
        sg.mk_modified(y, lag="some")
    with pytest.raises(ValueError, match="on_invalid"):
        sg.mk_modified(y, on_invalid="zero")
    with pytest.raises(ValueError, match="years"):
        sg.mk_modified(np.arange(12.0))
    short = sg.mk_modified(np.array([1.0, 2.0]), [0, 1])
    assert short.invalid and short.n_valid == 2
