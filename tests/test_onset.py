"""Onset year per pixel (mlri.onset): planted accuracy and calibration, a NumPy/SciPy reference,
and bit-identical results across threads and SIMD targets."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, special, stats

import mlri
from mlri import _core
from mlri.demo import planted_onsets

YEARS19 = np.array([2000 + k + (k >= 12) for k in range(19)], dtype=np.float64)
FIELDS = ("onset", "break_year", "p", "rate", "magnitude", "stat", "n_valid")
SUPPORTED = [name for name, ok in _core.simd_targets() if ok]


# ---------------------------------------------------------------------------------------------
# reference implementation (plain NumPy/SciPy, one pixel at a time)
RAMP_WIDTHS = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 13.0)


def _template(t: np.ndarray, k: int, curve: int, tau: float) -> np.ndarray:
    d = np.maximum(t - t[k - 1], 0.0)
    if curve == 0:
        return d
    if curve == 1:
        return np.where(d > 0, -np.expm1(-d / tau), 0.0)
    return np.minimum(d, RAMP_WIDTHS[curve - 2])


def _unit(t: np.ndarray, k: int, curve: int, tau: float) -> np.ndarray:
    h = _template(t, k, curve, tau)
    return (h - h.mean()) / np.linalg.norm(h - h.mean())


def _arc(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * math.asin(min(np.linalg.norm(a - b) / 2, 1.0))


def _triangle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    u, v = b - a, c - a
    return 0.5 * math.sqrt(max(float(u @ u) * float(v @ v) - float(u @ v) ** 2, 0.0))


def _sheet_density(m: int, w: float) -> float:
    """Area term of the tube formula: G(m/2)/(G((m-3)/2) pi^1.5) int_0^theta cos^2 sin^(m-4)."""
    theta = math.acos(w)
    val = integrate.quad(lambda r: math.cos(r) ** 2 * math.sin(r) ** (m - 4), 0, theta,
                         epsabs=0, epsrel=1e-13)[0]
    return math.exp(special.gammaln(m / 2) - special.gammaln((m - 3) / 2)) / math.pi ** 1.5 * val


def ref_pixel(y: np.ndarray, t: np.ndarray, method: str = "hinge", direction: int = 1,
              shape: str = "either", tau: float = 3.0, mb: int = 2, ma: int = 3) -> dict:
    ok = np.isfinite(y)
    y, t = y[ok], t[ok]
    n = y.size
    out = {"n_valid": n, "break_year": np.nan, "p": np.nan, "rate": np.nan,
           "magnitude": np.nan, "stat": np.nan}
    ks = range(mb, n - ma + 1)
    if n < 4 or mb > n - ma:
        return out
    yc = y - y.mean()
    ssy = float(yc @ yc)
    sgn = {1: lambda u: u, -1: lambda u: -u, 0: abs}[direction]
    best = None
    if method == "pettitt":
        u = [sum(np.sign(y[j] - y[i]) for i in range(k) for j in range(k, n)) for k in ks]
        v = [sgn(x) for x in u]
        j = int(np.argmax(v))
        best, curve = list(ks)[j], 0
        kk = max(v[j], 0.0)
        p = math.exp(-6 * kk * kk / (n ** 3 + n ** 2)) * (2 if direction == 0 else 1)
        out["p"], out["stat"] = min(p, 1.0), float(v[j])
    if ssy == 0:
        out.update(p=1.0, rate=0.0, magnitude=0.0, break_year=np.nan)
        if method == "hinge":
            out["stat"] = 0.0
        return out
    if method == "hinge":
        ramps = [2 + j for j in range(len(RAMP_WIDTHS))]
        curves = {"linear": [0], "saturating": [1], "either": [0, 1, *ramps],
                  "ramp": [0, *ramps]}[shape]
        vals, lengths = [], {}
        for c in curves:
            es = [_unit(t, k, c, tau) for k in ks]
            lengths[c] = sum(_arc(a, b) for a, b in itertools.pairwise(es))
            vals += [(sgn(float(np.clip(e @ yc / math.sqrt(ssy), -1, 1))), -c, -k)
                     for e, k in zip(es, ks, strict=True)]
        w, curve, best = max(vals)  # ties: lowest curve index, then earliest k
        curve, best = -curve, -best
        nu = n - 2
        tstat = w * math.sqrt(nu) / math.sqrt(1 - w * w) if w < 1 else np.inf
        mult = 2 if direction == 0 else 1
        tail, ring = stats.t.sf(tstat, nu), (1 - w * w) ** (nu / 2) / (2 * math.pi)
        if shape in ("linear", "saturating"):
            p = tail + lengths[curves[0]] * ring
        else:
            # the ramp family as a sheet over (k, width): rows = widths, then the line
            rows = [[_unit(t, k, c, tau) for k in ks] for c in [*ramps, 0]]
            perim = lengths[0] + sum(_arc(a, b) for a, b in itertools.pairwise(rows[0]))
            for i in (0, -1):
                perim += sum(_arc(rows[j][i], rows[j + 1][i]) for j in range(len(rows) - 1))
            area = sum(_triangle(rows[j][i], rows[j][i + 1], rows[j + 1][i])
                       + _triangle(rows[j + 1][i + 1], rows[j + 1][i], rows[j][i + 1])
                       for j in range(len(rows) - 1) for i in range(len(ks) - 1))
            p = (tail + perim / 2 * ring
                 + area * _sheet_density(n - 1, w) * math.sqrt(1 - w * w))
            if shape == "either":
                p += tail + lengths[1] * ring
        p *= mult
        out["p"], out["stat"] = min(p, 1.0), w
    h = _template(t, best, curve, tau)
    hc = h - h.mean()
    b = float(hc @ yc) / float(hc @ hc)
    out["magnitude"] = b * h[-1]
    out["rate"] = out["magnitude"] / (t[-1] - t[best - 1])
    out["break_year"] = t[best]
    return out


def random_stack(seed: int, T: int, P: int) -> np.ndarray:
    """Series with trends, steps, ties, NaN gaps, constant and too-short pixels."""
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 1, (T, P)) + rng.normal(0, 0.3, P) * np.maximum(
        np.arange(T)[:, None] - rng.integers(0, T, P), 0)
    kind = rng.integers(0, 5, P)
    y[:, kind == 1] = np.round(y[:, kind == 1])  # heavy ties
    y[:, kind == 2] = 0.5  # constant
    y[rng.random((T, P)) < rng.random(P) ** 2 * 0.8] = np.nan
    y[:, :3] = np.nan
    return y


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "direction", "shape"), [
    ("hinge", "increase", "either"), ("hinge", "both", "linear"),
    ("hinge", "decrease", "saturating"), ("hinge", "both", "ramp"),
    ("hinge", "decrease", "either"), ("pettitt", "increase", "either"),
    ("pettitt", "both", "either")])
def test_kernel_matches_reference(method, direction, shape):
    y = random_stack(11, 19, 200)
    r = mlri.onset(y, YEARS19, method=method, direction=direction, shape=shape, n_threads=1)
    d = {"increase": 1, "decrease": -1, "both": 0}[direction]
    for q in range(y.shape[1]):
        ref = ref_pixel(y[:, q], YEARS19, method, d, shape)
        assert r.n_valid[q] == ref["n_valid"]
        np.testing.assert_equal(r.break_year[q], ref["break_year"], err_msg=f"pixel {q}")
        for f in ("p", "rate", "magnitude", "stat"):
            np.testing.assert_allclose(getattr(r, f)[q], ref[f], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{f} pixel {q}")
    sig = r.p <= 0.05
    np.testing.assert_array_equal(np.isnan(r.onset), ~sig)
    np.testing.assert_array_equal(r.onset[sig], r.break_year[sig])


def test_student_tail_in_kernel_matches_scipy():
    # a linear-only search over one candidate is the ordinary t-test of the hinge slope plus
    # a zero-length curve: p must equal scipy's one-sided t tail exactly (odd and even nu)
    rng = np.random.default_rng(3)
    for n in (5, 6, 9, 12):
        t = np.arange(n, dtype=np.float64)
        y = rng.normal(0, 1, (n, 50)) + 0.3 * np.maximum(t - (n - 3), 0)[:, None]
        r = mlri.onset(y, t, shape="linear", min_before=n - 3, min_after=3)
        for q in range(50):
            w = r.stat[q]
            expect = stats.t.sf(w * math.sqrt(n - 2) / math.sqrt(1 - w * w), n - 2)
            np.testing.assert_allclose(r.p[q], expect, rtol=1e-11, atol=1e-15)


def test_planted_onsets_accuracy_and_false_onsets():
    ok_err = {}
    for curve in ("demo", "linear"):
        evi, true, yrs = planted_onsets(2500, 2500, seed=5, curve=curve)
        r = mlri.onset(evi, yrs)
        rest = ~np.isnan(true)
        inside = rest & (true - yrs[0] >= 3) & (yrs[-1] - true >= 3)
        err = np.abs(r.break_year[inside] - true[inside])
        ok_err[curve] = float(np.median(err))
        assert np.median(err) <= 1.0, curve
        assert np.mean(err <= 1) >= 0.9, curve  # measured 0.95
        assert np.mean(r.p[inside] <= 0.05) >= 0.95, curve  # power, measured 1.00
        fpr = float(np.mean(r.p[~rest] <= 0.05))
        assert fpr <= 0.05, (curve, fpr)
        assert fpr >= 0.015, (curve, fpr)  # not absurdly conservative (measured 0.032-0.033)
    assert ok_err == {"demo": 0.0, "linear": 0.0}


def test_planted_ramp_then_plateau():
    # a straight rise over 3-8 years that then stays flat (a common real restoration shape):
    # the saturating template alone dates it late, increasingly with the ramp's width; the
    # ramp templates of the default search fix that without costing calibration
    evi, true, yrs = planted_onsets(2500, 2500, seed=5, curve="plateau")
    rest = ~np.isnan(true)
    inside = rest & (true - yrs[0] >= 3) & (yrs[-1] - true >= 3)
    res = {shape: mlri.onset(evi, yrs, shape=shape) for shape in ("either", "saturating")}
    err = res["either"].break_year[inside] - true[inside]
    assert np.median(np.abs(err)) <= 1.0
    assert np.mean(np.abs(err) <= 1) >= 0.95  # measured 0.98 (0.90 without the ramps, seed 7)
    assert abs(np.mean(err)) <= 0.25  # measured +0.08 (+0.41 without, seed 7)
    assert np.mean(res["either"].p[inside] <= 0.05) >= 0.95
    sat = res["saturating"].break_year[inside] - true[inside]
    assert np.mean(sat) >= 0.5  # the bias the ramp templates remove (measured +0.64)
    fpr = float(np.mean(res["either"].p[~rest] <= 0.05))
    assert 0.015 <= fpr <= 0.05, fpr  # measured 0.040

    # one width exactly: bare until 2006, a 6-year ramp from 2007, then flat (+ noise)
    rng = np.random.default_rng(2)
    f = np.clip((yrs - 2006) / 6, 0, 1)[:, None]
    y = 0.1 + 0.35 * f * (1 + 0.03 * rng.standard_normal((1, 300)))
    y = y * (1 + 0.03 * rng.standard_normal((yrs.size, 300)))
    assert np.median(mlri.onset(y, yrs).break_year) == 2007
    assert np.median(mlri.onset(y, yrs, shape="saturating").break_year) >= 2008


def test_hinge_p_value_is_calibrated_on_white_noise():
    rng = np.random.default_rng(8)
    y = rng.standard_normal((19, 20000))
    for shape, lo, hi in (("linear", 0.043, 0.057), ("ramp", 0.043, 0.057),
                          ("either", 0.025, 0.05)):
        p = mlri.onset(y, YEARS19, shape=shape).p
        assert lo <= np.mean(p <= 0.05) <= hi, shape  # linear: exact tube formula


def test_pettitt_is_pulled_to_the_middle_of_a_ramp():
    # why the hinge is the default: on a ramp Pettitt locates a step inside the rise
    evi, true, yrs = planted_onsets(2000, 0, seed=9, curve="linear", gaps=0.0)
    sel = (true - yrs[0] >= 3) & (yrs[-1] - true >= 3)
    hinge = mlri.onset(evi, yrs).break_year[sel]
    pett = mlri.onset(evi, yrs, method="pettitt").break_year[sel]
    assert np.mean(np.abs(hinge - true[sel])) < 0.5 * np.mean(np.abs(pett - true[sel]))
    early = true[sel] <= 2005
    assert np.median(pett[early] - true[sel][early]) >= 2
    assert np.median(np.abs(hinge[early] - true[sel][early])) == 0


def test_exact_hinge_recovered():
    t = YEARS19
    y = np.where(t >= 2006, 0.02 * (t - 2005), 0.0)[:, None] + 0.1
    r = mlri.onset(y, t, shape="linear")
    assert r.break_year[0] == 2006 and r.onset[0] == 2006
    np.testing.assert_allclose(r.rate[0], 0.02, rtol=1e-12)
    np.testing.assert_allclose(r.magnitude[0], 0.02 * (2019 - 2005), rtol=1e-12)
    assert r.p[0] == 0.0
    down = mlri.onset(-y, t, shape="linear", direction="decrease")
    assert down.break_year[0] == 2006 and down.rate[0] < 0


def test_shapes_and_edge_cases():
    r = mlri.onset(np.zeros(19))
    assert np.isnan(r.onset) and np.isnan(r.break_year) and r.p == 1.0 and r.rate == 0.0
    short = mlri.onset(np.array([1.0, 2.0, 3.0, 4.0]), [1, 2, 3, 4])  # 2 + 3 > 4 values
    assert np.isnan(short.p) and short.n_valid == 4
    cube = mlri.onset(np.random.default_rng(0).normal(size=(19, 4, 5)).astype(np.float32))
    assert cube.onset.shape == (4, 5) and cube.n_valid.dtype == np.int32
    with pytest.raises(ValueError, match="method must be one of"):
        mlri.onset(np.zeros((19, 2)), method="bfast")
    with pytest.raises(ValueError, match="direction must be one of"):
        mlri.onset(np.zeros((19, 2)), direction="up")
    with pytest.raises(ValueError, match="min_after must be an integer >= 2"):
        mlri.onset(np.zeros((19, 2)), min_after=1)
    with pytest.raises(ValueError, match="alpha must be"):
        mlri.onset(np.zeros((19, 2)), alpha=0)
    with pytest.raises(ValueError, match="tau must be"):
        mlri.onset(np.zeros((19, 2)), tau=-1)
    with pytest.raises(ValueError, match="years is required"):
        mlri.onset(np.zeros((10, 2)))


@pytest.fixture
def restore_target():
    default = _core.simd_target()
    yield
    _core.set_simd_target(default)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["hinge", "pettitt"])
def test_identical_across_threads_and_simd_targets(restore_target, dtype, method):
    y = random_stack(21, 19, 3001).astype(dtype)
    years = YEARS19 + 0.25 * (np.arange(19) % 3 == 0)  # non-integer years too

    def run(nt: int) -> dict:
        r = mlri.onset(y, years, method=method, direction="both", n_threads=nt)
        return {f: np.asarray(getattr(r, f)) for f in FIELDS}

    base = None
    for target in SUPPORTED:
        _core.set_simd_target(target)
        for nt in (1, 2, 3):
            got = run(nt)
            if base is None:
                base = got
                continue
            for f in FIELDS:
                assert got[f].tobytes() == base[f].tobytes(), (target, nt, f)
