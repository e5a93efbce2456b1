"""Independent planted pixels of the demo site (:mod:`mlri.demo`), for checks of the statistics.

:func:`planted_onsets` (EVI with planted onset years) and :func:`planted_restorations` (LST and
EVI of the restored dumps and the steppe, optionally with persistent noise) draw each pixel
independently with the site's recovery and noise model, so that rates over pixels are rates
over independent draws (on the site itself every pixel shares one weather series).  Both are
re-exported by :mod:`mlri.demo`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["planted_onsets", "planted_restorations"]


def planted_onsets(n_restoring: int = 2000, n_stable: int = 2000, *, seed: int = 7,
                   years: Sequence[int] | None = None, curve: str = "demo",
                   gaps: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EVI series with planted onset years, pixel by pixel independent (for onset checks).

    Restoring pixels follow the site's recovery model (:func:`mlri.demo.synthesize`): bare spoil (EVI
    0.06) up to the year before the onset, then ``v = vmax (1 − exp(−(t − onset + 1)/τ))``
    towards the steppe EVI (``curve="demo"``), a straight ramp ``v = vmax (t − onset + 1) /
    span`` reaching ``vmax`` at the last year (``curve="linear"``), or a straight ramp over
    ``w`` years (``w`` uniform in 3–8 per pixel) that then stays at ``vmax``,
    ``v = vmax min((t − onset + 1) / w, 1)`` (``curve="plateau"``); a third get one 40 %
    set-back.  Stable pixels are steppe.  Every pixel gets the site's noise: a yearly weather
    anomaly (±10 % of EVI per σ) and pixel noise of σ = 0.004 + 0.010 v, drawn independently
    per pixel here, and a fraction ``gaps`` of values set to NaN (clouds).

    ``years`` defaults to the site's (:data:`mlri.demo.DEMO_YEARS`).

    Returns ``(evi, onset, years)``: evi ``(T, n_restoring + n_stable)`` float64, the true
    onset year per pixel (NaN for stable pixels, which come last), and the years.
    """
    from .demo import DEMO_YEARS

    if years is None:
        years = DEMO_YEARS
    if curve not in ("demo", "linear", "plateau"):
        msg = f"curve must be 'demo', 'linear' or 'plateau', got {curve!r}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    yrs = np.asarray(years, dtype=np.float64)
    nt, n = yrs.size, n_restoring + n_stable
    t = yrs[:, None]
    # onsets on the observed years, at least 2 values before and 3 from the onset on
    onset = np.full(n, np.nan)
    onset[:n_restoring] = rng.choice(yrs[2:nt - 2], n_restoring)
    base = 0.27 + 0.035 * rng.standard_normal(n)
    vmax = rng.uniform(0.55, 0.95, n)
    since = t - onset[None, :]
    if curve == "demo":
        tau = rng.uniform(2.0, 5.0, n)
        rec = vmax * (1 - np.exp(-(since + 1) / tau))
    elif curve == "linear":
        rec = vmax * (since + 1) / np.maximum(yrs[-1] - onset + 1, 1.0)
    else:
        width = rng.integers(3, 9, n).astype(np.float64)
        rec = vmax * np.minimum((since + 1) / width, 1.0)
    rec = np.where(since >= 0, rec, 0.0)
    hit = rng.random(n) < 0.33
    k = rng.integers(2, 6, n)
    rec = np.where(hit[None, :] & (since == k[None, :]), rec * 0.6, rec)
    v = np.ones((nt, n))
    v[:, :n_restoring] = rec[:, :n_restoring]
    evi = 0.06 + (base[None, :] - 0.06) * v
    wx = rng.standard_normal((nt, n))
    evi = evi * (1 + 0.10 * wx * np.clip(v, 0.2, 1)) + rng.standard_normal((nt, n)) * (
        0.004 + 0.010 * v)
    evi[rng.random((nt, n)) < gaps] = np.nan
    return evi, onset, yrs


def planted_restorations(n_restoring: int = 2000, n_stable: int = 2000, *, seed: int = 7,
                         phi: float = 0.0, gaps: float = 0.05
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LST and EVI of the site's restored dumps and steppe, pixel by pixel independent.

    For power and level checks of the trend tests.  The restoring pixels (first
    ``n_restoring``) are the dumps of :func:`mlri.demo.synthesize` (restored from 2002, 2006 or 2010 at
    random, recovery rate, ceiling and set-backs as there); the stable ones are steppe.  Every
    pixel gets the site's noise — a weather anomaly (EVI ±10 % and LST ∓1.6 K per σ), EVI
    noise of σ = 0.004 + 0.010 v and LST noise of σ = 0.7 K — drawn independently per pixel
    here, as AR(1) processes in real time with persistence ``phi`` (0: independent years, as
    the site), and a fraction ``gaps`` of years set to NaN.

    Returns ``(lst, evi, years, restored_from)``: ``(T, n)`` float64 arrays, the years, and
    the restoration year per pixel (NaN for the stable pixels, which come last).
    """
    from .demo import DEMO_YEARS, RESTORED_FROM

    if not 0.0 <= phi < 1.0:
        msg = f"phi must be in [0, 1), got {phi!r}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    yrs = np.asarray(DEMO_YEARS, dtype=np.float64)
    nt, n = yrs.size, n_restoring + n_stable
    start = np.full(n, np.nan)
    start[:n_restoring] = rng.choice(sorted(RESTORED_FROM.values()), n_restoring)
    since = yrs[:, None] - start[None, :]
    tau = rng.uniform(2.0, 5.0, n)
    vmax = rng.uniform(0.55, 0.95, n)
    with np.errstate(invalid="ignore"):
        rec = np.where(since >= 0, vmax * (1 - np.exp(-(since + 1) / tau)), 0.0)
    hit = rng.random(n) < 0.33
    k = rng.integers(2, np.maximum(3, yrs[-1] - np.nan_to_num(start, nan=yrs[0])).astype(int))
    rec = np.where(hit[None, :] & (since == k[None, :]), rec * 0.6, rec)
    v = np.ones((nt, n))
    v[:, :n_restoring] = rec[:, :n_restoring]
    base = 0.27 + 0.035 * rng.standard_normal(n)

    full = np.arange(yrs[0], yrs[-1] + 1)
    observed = np.isin(full, yrs)

    def ar1() -> np.ndarray:
        e = rng.standard_normal((full.size, n))
        for t in range(1, full.size):
            e[t] = phi * e[t - 1] + np.sqrt(1 - phi * phi) * e[t]
        return e[observed]

    wx = ar1()
    evi = 0.06 + (base[None, :] - 0.06) * v
    evi = evi * (1 + 0.10 * wx * np.clip(v, 0.2, 1)) + ar1() * (0.004 + 0.010 * v)
    lst = 316.0 - 15.0 * v - 1.6 * wx + 0.7 * ar1()
    gap = rng.random((nt, n)) < gaps
    lst[gap] = np.nan
    evi[gap] = np.nan
    return lst, evi, yrs, start
