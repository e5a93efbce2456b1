"""MLRI index (SPEC-statistics §M) against a direct Python implementation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mlri


def reference_mlri(lst, evi, evi_min=0.0, policy="mask"):
    """Straightforward per-pixel loop of the definition."""
    out_dtype = np.result_type(lst.dtype, evi.dtype)
    T = lst.shape[0]
    lst2 = lst.reshape(T, -1).astype(float)
    evi2 = evi.reshape(T, -1).astype(float)
    out = np.full(lst2.shape, np.nan)
    dropped = np.zeros(lst2.shape[1], np.int32)
    for j in range(lst2.shape[1]):
        lmax, emin = -np.inf, np.inf
        for i in range(T):
            l, e = lst2[i, j], evi2[i, j]
            if not (np.isfinite(l) and np.isfinite(e)):
                continue
            if policy == "clamp":
                e = max(e, evi_min)
            elif e <= evi_min or l <= 0:
                dropped[j] += 1
                continue
            if l <= 0:
                dropped[j] += 1
                continue
            lmax, emin = max(lmax, l), min(emin, e)
            with np.errstate(over="ignore"):
                v = np.asarray((lmax / l) * (e / emin), dtype=out_dtype)
            if np.isfinite(v):
                out[i, j] = v
            else:
                dropped[j] += 1
    return out.reshape(lst.shape), dropped.reshape(lst.shape[1:])


def _inputs(rng, shape=(19, 30, 20)):
    lst = rng.normal(305, 4, shape)
    evi = rng.normal(0.25, 0.1, shape)  # some EVI <= 0
    lst[rng.random(shape) < 0.05] = np.nan
    evi[rng.random(shape) < 0.05] = np.inf
    return lst, evi


def test_matches_reference(rng):
    lst, evi = _inputs(rng)
    r = mlri.index(lst, evi)
    exp, dropped = reference_mlri(lst, evi)
    np.testing.assert_allclose(r.mlri, exp, rtol=1e-15, equal_nan=True)
    assert np.array_equal(r.dropped, dropped)
    assert r.dropped.sum() > 0


def test_properties(rng):
    lst, evi = _inputs(rng)
    m = mlri.index(lst, evi).mlri
    ok = np.isfinite(m)
    assert np.all(m[ok] >= 1.0)
    # MLRI == 1 exactly in each pixel's first valid year
    first = np.argmax(ok, axis=0)
    has = ok.any(axis=0)
    vals = np.take_along_axis(m, first[None], 0)[0]
    assert np.all(vals[has] == 1.0)
    # invalid EVI/LST -> NaN in that year
    assert np.all(np.isnan(m[~np.isfinite(lst)]))
    assert np.all(np.isnan(m[evi <= 0]))


def test_dtype_follows_input(rng):
    lst, evi = _inputs(rng, (19, 4))
    assert mlri.index(lst.astype(np.float32), evi.astype(np.float32)).mlri.dtype == np.float32
    assert mlri.index(lst, evi).mlri.dtype == np.float64
    r32 = mlri.index(lst.astype(np.float32), evi.astype(np.float32)).mlri
    exp = reference_mlri(lst.astype(np.float32), evi.astype(np.float32))[0].astype(np.float32)
    assert np.array_equal(r32, exp, equal_nan=True)


def test_clamp_policy(rng):
    lst, evi = _inputs(rng, (19, 50))
    r = mlri.index(lst, evi, evi_policy="clamp", evi_min=0.05)
    exp, _ = reference_mlri(lst, evi, 0.05, "clamp")
    np.testing.assert_allclose(r.mlri, exp, rtol=1e-15, equal_nan=True)
    with pytest.raises(ValueError, match="evi_min > 0"):
        mlri.index(lst, evi, evi_policy="clamp")


def test_celsius_detection_and_conversion(rng):
    lst, evi = _inputs(rng, (19, 40))
    celsius = lst - 273.15
    with pytest.raises(ValueError, match="lst_unit='C'"):
        mlri.index(celsius, evi)
    a = mlri.index(celsius, evi, lst_unit="C").mlri
    b = mlri.index(lst, evi).mlri
    np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
    with pytest.raises(ValueError, match="looks like Kelvin"):
        mlri.index(lst, evi, lst_unit="C")


def test_errors(rng):
    lst, evi = _inputs(rng, (19, 4))
    with pytest.raises(ValueError, match="same shape"):
        mlri.index(lst, evi[:, :2])
    with pytest.raises(ValueError, match="evi_min"):
        mlri.index(lst, evi, evi_min=-0.1)
    with pytest.raises(ValueError, match="evi_policy"):
        mlri.index(lst, evi, evi_policy="floor")
    with pytest.raises(TypeError, match="lst"):
        mlri.index(lst.astype(str), evi)
    with pytest.raises(ValueError, match="years"):
        mlri.index(lst, evi, years=np.arange(5))


@given(hnp.arrays(np.float64, (19, 3), elements=st.one_of(
    st.floats(-1, 400), st.just(np.nan), st.just(np.inf), st.just(0.0))),
    hnp.arrays(np.float64, (19, 3), elements=st.one_of(
        st.floats(-1, 1), st.just(np.nan), st.just(-np.inf), st.just(0.0))))
def test_no_crash_and_matches_reference(lst, evi):
    lst = np.abs(lst) + 200  # plausible Kelvin (unit detection)
    r = mlri.index(lst, evi)
    exp, dr = reference_mlri(lst, evi)
    np.testing.assert_allclose(r.mlri, exp, rtol=1e-15, equal_nan=True)
    assert np.array_equal(r.dropped, dr)


def test_pipeline_on_index_and_trend(rng):
    """index -> trend -> classify round trip, with dropped-years flag."""
    lst, evi = _inputs(rng, (19, 10, 10))
    ir = mlri.index(lst, evi)
    tr = mlri.trend(ir.mlri)
    cls, flags = mlri.classify(tr, dropped=ir.dropped)
    assert cls.shape == (10, 10) and cls.dtype == np.uint8
    dropped_flag = (flags & mlri.FLAG_BITS["years_dropped"]) > 0
    assert np.array_equal(dropped_flag, ir.dropped > 0)
    few = (flags & mlri.FLAG_BITS["few_valid"]) > 0
    assert np.array_equal(few, tr.n_valid < 10)
    assert np.all(cls[few] == 0)


def _edge_stack(rng, dtype, T=19, P=203):
    """(T, P) LST/EVI with NaN, +-inf, LST <= 0, EVI 0 and -0.0, subnormal EVI (ratio overflow
    in float32), tiny EVI minima (overflow in float64)."""
    lst = rng.normal(300, 30, (T, P))
    evi = rng.normal(0.2, 0.2, (T, P))
    k = rng.random((T, P))
    lst[k < 0.05] = np.nan
    evi[(k > 0.05) & (k < 0.08)] = np.inf
    lst[(k > 0.08) & (k < 0.10)] = -5.0
    evi[(k > 0.10) & (k < 0.12)] = 0.0
    evi[(k > 0.12) & (k < 0.14)] = 1e-42 if dtype == np.float32 else 1e-310
    evi[(k > 0.14) & (k < 0.15)] = -0.0
    lst[(k > 0.15) & (k < 0.16)] = -np.inf
    evi[(k > 0.16) & (k < 0.17)] = 1e-300
    return np.ascontiguousarray(lst.astype(dtype)), np.ascontiguousarray(evi.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("policy", "evi_min"), [(0, 0.0), (0, 0.05), (1, 0.01)])
def test_vector_lanes_equal_the_scalar_loop_on_every_target(rng, dtype, policy, evi_min):
    """The kernel computes whole SIMD vectors of pixels and the rest of each 256-pixel block one
    by one: every pixel must get the same bits either way (a pixel alone is always computed one
    by one), on every compiled SIMD target, with the ratio's float32 and float64 overflows."""
    from mlri import _core

    lst, evi = _edge_stack(rng, dtype)
    kw = {"lst_offset": 0.0, "evi_min": evi_min, "evi_policy": policy, "n_threads": 1}
    default = _core.simd_target()
    results = set()
    try:
        for target in [name for name, ok in _core.simd_targets() if ok]:
            _core.set_simd_target(target)
            m, d = _core.mlri_index(lst, evi, **kw)
            alone = [_core.mlri_index(np.ascontiguousarray(lst[:, j:j + 1]),
                                      np.ascontiguousarray(evi[:, j:j + 1]), **kw)
                     for j in range(lst.shape[1])]
            assert np.asarray(m).tobytes() == np.concatenate([a[0] for a in alone], 1).tobytes()
            assert np.array_equal(d, np.concatenate([a[1] for a in alone]))
            results.add((np.asarray(m).tobytes(), np.asarray(d).tobytes()))
    finally:
        _core.set_simd_target(default)
    assert len(results) == 1
    assert np.asarray(d).sum() > 0 and np.isfinite(m).mean() > 0.3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("P", [1, 15, 203, 256, 257, 2051])
def test_valid_counts_per_year_equal_numpys(rng, dtype, P):
    """With ``valid``, the kernel counts per year the pixels with a finite LST, a finite EVI and
    a finite MLRI (what a run's summary reports): numpy's counts, on every SIMD target and
    thread count, whole vectors and the one-by-one rest of a block alike, with the edge values
    (LST <= 0, EVI at the threshold, ratio overflows) that make a finite pair give NaN."""
    from mlri import _core

    lst, evi = _edge_stack(rng, dtype, T=7, P=P)
    default = _core.simd_target()
    try:
        for target in [name for name, ok in _core.simd_targets() if ok]:
            _core.set_simd_target(target)
            for policy, evi_min, nt in ((0, 0.0, 1), (0, 0.05, 2), (1, 0.01, 2)):
                valid = np.full((3, 7), -1, dtype=np.int64)  # overwritten, not added to
                m, _ = _core.mlri_index(lst, evi, lst_offset=0.0, evi_min=evi_min,
                                        evi_policy=policy, n_threads=nt, valid=valid)
                want = np.stack([np.isfinite(a).sum(axis=1) for a in (lst, evi, m)])
                assert np.array_equal(valid, want), (target, policy, nt)
    finally:
        _core.set_simd_target(default)
    with pytest.raises(ValueError, match=r"shape \(3, time\)"):
        _core.mlri_index(lst, evi, lst_offset=0.0, evi_min=0.0, evi_policy=0, n_threads=1,
                         valid=np.zeros((3, 6), dtype=np.int64))
