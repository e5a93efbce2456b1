"""Competitor implementations for ``bench/run.py`` (not part of the mlri package).

* :func:`numba_trend`: a numba ``parallel=True`` MK + Sen + Hurst (expanding-diff R/S) baseline,
  written the way a careful user would (prange over pixels, per-pixel scratch arrays).  A
  colleague's ``bench/baselines.py`` is preferred when it exists (see ``run.py``); this is the
  stand-in until the lead reconciles the two.
* :func:`numpy_mk_sen`: NumPy-vectorised MK + Sen over blocks of pixels (pairwise differences
  broadcast over the pixel axis; no tie correction of var(S), no Hurst).
* :func:`pymannkendall_loop`: ``pymannkendall.original_test`` per pixel (MK + Sen only).
* :func:`xarray_mann_kendall`: ``xarrayMannKendall.Mann_Kendall_test`` (MK + Theil-Sen), if it
  is installed.

All take a ``(time, pixels)`` float array and the years.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# ------------------------------------------------------------------------------------- numba

_NUMBA_KERNEL: Any = None


def _build_numba() -> Any:
    import numba as nb

    @nb.njit(cache=False, nogil=True)
    def _pixel(y: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:
        n = 0
        T = y.shape[0]
        v = np.empty(T)
        tt = np.empty(T)
        for i in range(T):
            if math.isfinite(y[i]):
                v[n] = y[i]
                tt[n] = t[i]
                n += 1
        out[0] = n
        for k in range(1, 8):
            out[k] = np.nan
        if n < 2:
            return
        # Mann-Kendall S and tie-corrected variance
        s = 0.0
        for i in range(n - 1):
            for j in range(i + 1, n):
                d = v[j] - v[i]
                s += (d > 0) - (d < 0)
        srt = np.sort(v[:n])
        var = n * (n - 1.0) * (2.0 * n + 5.0)
        run = 1
        for i in range(1, n + 1):
            if i < n and srt[i] == srt[i - 1]:
                run += 1
            else:
                if run > 1:
                    var -= run * (run - 1.0) * (2.0 * run + 5.0)
                run = 1
        var /= 18.0
        if s > 0:
            z = (s - 1.0) / math.sqrt(var)
        elif s < 0:
            z = (s + 1.0) / math.sqrt(var)
        else:
            z = 0.0
        out[1], out[2], out[3] = s, var, z
        out[4] = math.erfc(abs(z) / math.sqrt(2.0))
        # Sen's slope over real years, intercept at the first valid year
        m = n * (n - 1) // 2
        slopes = np.empty(m)
        c = 0
        for i in range(n - 1):
            for j in range(i + 1, n):
                slopes[c] = (v[j] - v[i]) / (tt[j] - tt[i])
                c += 1
        q = np.median(slopes)
        out[5] = q
        out[6] = np.median(v[:n]) - q * np.median(tt[:n] - tt[0])
        # Hurst, expanding-window R/S on first differences (population std), OLS of ln R/S on ln tau
        mm = n - 1
        if mm < 3:
            return
        u = np.empty(mm)
        for k in range(mm):
            u[k] = v[k + 1] - v[k]
        xs = np.empty(mm)
        ys = np.empty(mm)
        npts = 0
        for tau in range(2, mm + 1):
            mu = 0.0
            for k in range(tau):
                mu += u[k]
            mu /= tau
            cum = 0.0
            hi = -np.inf
            lo = np.inf
            ss = 0.0
            for k in range(tau):
                dev = u[k] - mu
                cum += dev
                hi = max(hi, cum)
                lo = min(lo, cum)
                ss += dev * dev
            sd = math.sqrt(ss / tau)
            r = hi - lo
            if sd > 0 and r > 0:
                xs[npts] = math.log(tau)
                ys[npts] = math.log(r / sd)
                npts += 1
        if npts < 2:
            return
        mx = xs[:npts].mean()
        my = ys[:npts].mean()
        sxy = 0.0
        sxx = 0.0
        for k in range(npts):
            sxy += (xs[k] - mx) * (ys[k] - my)
            sxx += (xs[k] - mx) ** 2
        out[7] = sxy / sxx

    @nb.njit(parallel=True, cache=False)
    def _all(series: np.ndarray, t: np.ndarray) -> np.ndarray:
        P = series.shape[1]
        out = np.empty((8, P))
        for p in nb.prange(P):
            col = np.empty(8)
            _pixel(np.ascontiguousarray(series[:, p]), t, col)
            for k in range(8):
                out[k, p] = col[k]
        return out

    return _all


def numba_trend(series: np.ndarray, years: np.ndarray, n_threads: int | None = None) -> dict:
    """numba parallel MK + Sen + Hurst; returns ``n_valid, s, var_s, z, p, slope, intercept,
    hurst``."""
    global _NUMBA_KERNEL
    import numba as nb

    if _NUMBA_KERNEL is None:
        _NUMBA_KERNEL = _build_numba()
    if n_threads is not None:
        nb.set_num_threads(n_threads)
    out = _NUMBA_KERNEL(np.asarray(series, dtype=np.float64), np.asarray(years, np.float64))
    names = ("n_valid", "s", "var_s", "z", "p", "slope", "intercept", "hurst")
    return dict(zip(names, out, strict=True))


# ------------------------------------------------------------------------------------- numpy

def numpy_mk_sen(series: np.ndarray, years: np.ndarray, block: int = 16384) -> dict:
    """Vectorised MK (no tie correction) + Sen's slope, over blocks of pixels."""
    from scipy.special import erfc

    x = np.asarray(series, dtype=np.float64)
    T, P = x.shape
    i, j = np.triu_indices(T, k=1)
    dt = (np.asarray(years, np.float64)[j] - np.asarray(years, np.float64)[i])[:, None]
    s = np.empty(P)
    slope = np.empty(P)
    n = np.isfinite(x).sum(axis=0).astype(np.float64)
    for a in range(0, P, block):
        b = min(P, a + block)
        d = x[j, a:b] - x[i, a:b]
        s[a:b] = np.nansum(np.sign(d), axis=0)
        with np.errstate(invalid="ignore"):
            slope[a:b] = np.nanmedian(d / dt, axis=0)
    var = n * (n - 1) * (2 * n + 5) / 18.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var), np.where(s < 0, (s + 1) / np.sqrt(var), 0.0))
    return {"n_valid": n, "s": s, "var_s": var, "z": z, "p": erfc(np.abs(z) / np.sqrt(2)),
            "slope": slope}


# ------------------------------------------------------------------------------- pymannkendall

def pymannkendall_loop(series: np.ndarray, years: np.ndarray) -> dict:
    """``pymannkendall.original_test`` per pixel (index-based Sen slope, as the package does)."""
    import pymannkendall as pmk

    P = series.shape[1]
    s = np.empty(P)
    slope = np.empty(P)
    for p in range(P):
        r = pmk.original_test(series[:, p])
        s[p], slope[p] = r.s, r.slope
    return {"s": s, "slope": slope}


def xarray_mann_kendall(series: np.ndarray, years: np.ndarray) -> dict:
    """xarrayMannKendall (apply_along_axis over a Dask array, MK + Theil-Sen)."""
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
