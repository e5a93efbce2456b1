"""Reference implementations of the per-pixel MK + Sen (+ Hurst) trend, for benchmarks.

Written the straightforward way someone would without mlri, so that speed comparisons are fair
and results can be cross-checked against :func:`mlri.trend` (same definitions: listwise NaN/inf
deletion, tie-corrected var(S), continuity-corrected Z, p = erfc(|Z|/sqrt 2), Sen's slope on real
years with the intercept at the first valid year, expanding-window Hurst on first differences
with population std, degenerate windows dropped, SPEC-statistics §1-3 defaults).

* :func:`numba_trend` -- numba ``@njit(parallel=True)``, one pixel per ``prange`` iteration
  (MK + Sen + Hurst).  Needs numba.
* :func:`numpy_mk_sen` -- numpy vectorised over pixels, chunked (MK + Sen, no Hurst).
* :func:`pymannkendall_loop` -- ``pymannkendall.original_test`` per pixel (MK + Sen by index).
* :func:`xarray_mann_kendall` -- ``xarrayMannKendall.Mann_Kendall_test`` (MK + Theil-Sen), if
  it is installed.

This is the one module of benchmark peers (``bench/run.py`` and ``bench/bench_trend.py``).

Inputs are time-major ``(T, P)`` arrays (``stack.reshape(T, -1)``); outputs are dicts of
length-P float64 arrays (NaN where undefined).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["HAVE_NUMBA", "HAVE_PYMANNKENDALL", "numba_trend", "numpy_mk_sen",
           "pymannkendall_loop", "xarray_mann_kendall"]

try:  # pragma: no cover - optional
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    numba = None
    HAVE_NUMBA = False

try:  # pragma: no cover - optional
    import pymannkendall

    HAVE_PYMANNKENDALL = True
except ImportError:  # pragma: no cover
    pymannkendall = None
    HAVE_PYMANNKENDALL = False

_SQRT2 = math.sqrt(2.0)
_FIELDS = ("s", "var_s", "z", "p", "slope", "intercept", "hurst")


# ---------------------------------------------------------------------------------------------
# numba

if HAVE_NUMBA:

    @numba.njit(cache=False)
    def _hurst_expanding_diff(vals, n, rel_tol):  # pragma: no cover - jitted
        m = n - 1
        if m < 2:
            return np.nan
        u = np.empty(m)
        amax = 0.0
        for k in range(m):
            u[k] = vals[k + 1] - vals[k]
            amax = max(amax, abs(u[k]))
        scale = amax if amax > 0.0 else 1.0
        w = (u - u[0]) / scale
        xs = np.empty(m)
        ys = np.empty(m)
        cnt = 0
        for tau in range(2, m + 1):
            mean = w[:tau].mean()
            cum = 0.0
            mx = 0.0
            mn = 0.0
            ss = 0.0
            for k in range(tau):
                d = w[k] - mean
                cum += d
                mx = max(mx, cum)
                mn = min(mn, cum)
                ss += d * d
            s = math.sqrt(ss / tau)
            r = mx - mn
            if s > rel_tol and r > 0.0:
                xs[cnt] = math.log(tau)
                ys[cnt] = math.log(r / s)
                cnt += 1
        if cnt < 2:
            return np.nan
        mxv = xs[:cnt].mean()
        myv = ys[:cnt].mean()
        sxy = 0.0
        sxx = 0.0
        for k in range(cnt):
            sxy += (xs[k] - mxv) * (ys[k] - myv)
            sxx += (xs[k] - mxv) ** 2
        return sxy / sxx if sxx > 0.0 else np.nan

    @numba.njit(parallel=True, cache=False)
    def _numba_kernel(y, years, out):  # pragma: no cover - jitted
        T, P = y.shape
        for p in numba.prange(P):
            vals = np.empty(T)
            ts = np.empty(T)
            n = 0
            for t in range(T):
                v = np.float64(y[t, p])
                if np.isfinite(v):
                    vals[n] = v
                    ts[n] = years[t]
                    n += 1
            if n < 2:
                for f in range(7):
                    out[f, p] = np.nan
                continue
            # Mann-Kendall
            s = 0
            for i in range(n - 1):
                for j in range(i + 1, n):
                    d = vals[j] - vals[i]
                    if d > 0:
                        s += 1
                    elif d < 0:
                        s -= 1
            srt = np.sort(vals[:n])
            tie = 0
            run = 1
            for k in range(1, n):
                if srt[k] == srt[k - 1]:
                    run += 1
                else:
                    tie += run * (run - 1) * (2 * run + 5)
                    run = 1
            tie += run * (run - 1) * (2 * run + 5)
            var = (n * (n - 1) * (2 * n + 5) - tie) / 18.0
            z = 0.0
            if s > 0:
                z = (s - 1) / math.sqrt(var)
            elif s < 0:
                z = (s + 1) / math.sqrt(var)
            # Sen
            slopes = np.empty(n * (n - 1) // 2)
            k = 0
            for i in range(n - 1):
                for j in range(i + 1, n):
                    slopes[k] = (vals[j] - vals[i]) / (ts[j] - ts[i])
                    k += 1
            q = np.median(slopes)
            if q == 0.0:
                q = 0.0
            icpt = np.median(vals[:n]) - q * np.median(ts[:n] - ts[0])
            out[0, p] = s
            out[1, p] = var
            out[2, p] = z
            out[3, p] = math.erfc(abs(z) / 1.4142135623730951)
            out[4, p] = q
            out[5, p] = icpt
            out[6, p] = _hurst_expanding_diff(vals, n, 1e-12)


def numba_trend(y: np.ndarray, years: np.ndarray, n_threads: int | None = None) -> dict:
    """MK + Sen + Hurst with numba ``parallel=True`` (first call compiles)."""
    if not HAVE_NUMBA:
        raise RuntimeError("numba is not installed")
    if n_threads is not None:
        numba.set_num_threads(int(n_threads))
    out = np.empty((7, y.shape[1]))
    _numba_kernel(np.ascontiguousarray(y), np.asarray(years, dtype=np.float64), out)
    return dict(zip(_FIELDS, out))


# ---------------------------------------------------------------------------------------------
# numpy, vectorised over pixels


def numpy_mk_sen(y: np.ndarray, years: np.ndarray, chunk: int = 32768) -> dict:
    """MK + Sen vectorised with numpy over pixels (chunks of ``chunk`` pixels)."""
    from scipy.special import erfc

    T, P = y.shape
    years = np.asarray(years, dtype=np.float64)
    out = {f: np.full(P, np.nan) for f in _FIELDS if f != "hurst"}
    ii, jj = np.triu_indices(T, 1)
    dt = (years[jj] - years[ii])[:, None]
    for c0 in range(0, P, chunk):
        c1 = min(P, c0 + chunk)
        Y = y[:, c0:c1].astype(np.float64)
        Y[~np.isfinite(Y)] = np.nan
        valid = ~np.isnan(Y)
        n = valid.sum(axis=0)
        D = Y[jj] - Y[ii]
        S = np.nansum(np.sign(D), axis=0)
        # tie groups: sum_g t(t-1)(2t+5) = sum_i (c_i - 1)(2 c_i + 5), c_i = #{j: y_j == y_i}
        tie = np.zeros(c1 - c0)
        for t in range(T):
            c = (Y == Y[t]).sum(axis=0)
            tie += np.where(valid[t], (c - 1) * (2 * c + 5), 0)
        var = (n * (n - 1) * (2 * n + 5) - tie) / 18.0
        with np.errstate(invalid="ignore", divide="ignore"):
            sq = np.sqrt(var)
            z = np.where(S > 0, (S - 1) / sq, np.where(S < 0, (S + 1) / sq, 0.0))
            slopes = D / dt
            q = np.nanmedian(slopes, axis=0) if T > 1 else np.full(c1 - c0, np.nan)
            q = np.where(q == 0, 0.0, q)
            tv = np.where(valid, years[:, None], np.nan)
            t0 = np.nanmin(tv, axis=0)
            icpt = np.nanmedian(Y, axis=0) - q * np.nanmedian(tv - t0, axis=0)
        ok = n >= 2
        out["s"][c0:c1] = np.where(ok, S, np.nan)
        out["var_s"][c0:c1] = np.where(ok, var, np.nan)
        out["z"][c0:c1] = np.where(ok, z, np.nan)
        out["p"][c0:c1] = np.where(ok, erfc(np.abs(z) / _SQRT2), np.nan)
        out["slope"][c0:c1] = np.where(ok, q, np.nan)
        out["intercept"][c0:c1] = np.where(ok, icpt, np.nan)
    return out


# ---------------------------------------------------------------------------------------------
# pymannkendall


def pymannkendall_loop(y: np.ndarray) -> dict:
    """``pymannkendall.original_test`` per pixel (index-aligned input; slope per time step)."""
    if not HAVE_PYMANNKENDALL:
        raise RuntimeError("pymannkendall is not installed")
    T, P = y.shape
    out = {f: np.full(P, np.nan) for f in ("s", "var_s", "z", "p", "slope", "intercept")}
    for p in range(P):
        v = y[:, p].astype(np.float64)
        v[~np.isfinite(v)] = np.nan
        if np.count_nonzero(~np.isnan(v)) < 2:  # pymannkendall raises for n <= 1
            continue
        r = pymannkendall.original_test(v)
        out["s"][p] = r.s
        out["var_s"][p] = r.var_s
        out["z"][p] = r.z
        out["p"][p] = r.p
        out["slope"][p] = r.slope
        out["intercept"][p] = r.intercept
    return out


# ---------------------------------------------------------------------------------------------
# xarrayMannKendall


def xarray_mann_kendall(series: np.ndarray, years: np.ndarray) -> dict:
    """xarrayMannKendall (apply_along_axis over a Dask array, MK + Theil-Sen); ``slope`` only."""
    import xarray as xr
    from xarrayMannKendall import Mann_Kendall_test

    T, P = series.shape
    side = math.isqrt(P)
    arr = series[:, : side * side].reshape(T, side, side)
    da_ = xr.DataArray(arr, dims=("time", "y", "x"),
                       coords={"time": np.arange(T), "y": np.arange(side),
                               "x": np.arange(side)}).chunk({"y": max(1, side // 2)})
    res = Mann_Kendall_test(da_, "time", alpha=0.05, method="theilslopes").compute(
        scheduler="threads")
    return {"slope": res["trend"].values.ravel()}
