"""Is there a step at the sensor switch?  A diagnostic for the TM → OLI join of a series.

The paper's series joins Landsat 5 TM years (2000–2011) to Landsat 8 OLI years (2013–2019).
A reflectance or thermal offset between the sensors is a step in EVI and LST at the switch, and
a step in the right direction looks exactly like restoration to a trend test.
:func:`sensor_step` estimates that step on stable land (pixels that should not change: reference
polygons, or the pixels that are not restoring), with a confidence interval, and says whether it
is large enough to move the trend results.

Method.  Per year, the median over the stable pixels gives one robust map series ``m_t`` (the
median removes pixel noise and outliers; what remains is the inter-annual anomaly that all
pixels share, e.g. weather).  ``m_t = a + b (t − t̄) + δ·[t ≥ first_new]`` is fitted by least
squares: δ is the step, adjusted for a linear drift of the whole map; its standard error comes
from the residual scatter of the yearly medians, so the shared year-to-year anomalies — the
dominant uncertainty, which a bootstrap over pixels would ignore — are accounted for; the
interval and two-sided p-value use Student's t with ``n_years − 3`` degrees of freedom.

Does it move trends?  The step alone makes a trend fit see the slope
``induced_slope = δ · cov(t, step) / var(t)`` per year.  The decisive check is direct: the
Mann–Kendall test (:func:`mlri.trend`) is run on the stable pixels as they are and with δ
removed from the new-sensor years; ``warning`` is raised when the step is significant
(``p <= alpha``) and removing it changes the share of stable pixels with a significant trend
(two-sided, ``alpha``) by at least ``share_tolerance`` (default 0.05, i.e. 5 percentage points).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._validation import as_float_array, as_time_pixel, check_years

__all__ = ["PooledStep", "SensorStep", "pool_steps", "sensor_step"]


@dataclass(frozen=True)
class SensorStep:
    """Result of :func:`sensor_step` (``as_dict()`` gives a JSON-ready dict).

    Attributes
    ----------
    variable : str
        Name of the series (e.g. "EVI", "LST"), as given.
    last_old_year, first_new_year : float
        Last year before the switch present in the data, first year of the new sensor.
    step : float
        Estimated step δ (new − old sensor, units of the series), adjusted for a linear drift.
    se, ci_low, ci_high : float
        Its standard error and the ``1 − alpha`` confidence interval.
    p : float
        Two-sided p-value of "no step".
    df : int
        Degrees of freedom (years used − 3, or − 2 with ``drift="none"``).
    n_pixels, n_years : int
        Stable pixels used (with at least one valid year), years with enough valid pixels.
    induced_slope : float
        Apparent trend per year that the step alone produces in a linear fit over the years.
    share_significant, share_significant_without_step : float
        Share of stable pixels with a significant Mann–Kendall trend (two-sided, ``alpha``)
        as they are, and with the step removed.
    warning : bool
        True when the step is significant and moves the stable pixels' trend results.
    reason : str
        One sentence explaining ``warning``.
    alpha, share_tolerance : float
        The thresholds used.
    drift : str
        The drift model used.
    """

    variable: str
    last_old_year: float
    first_new_year: float
    step: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    df: int
    n_pixels: int
    n_years: int
    induced_slope: float
    share_significant: float
    share_significant_without_step: float
    warning: bool
    reason: str
    alpha: float
    share_tolerance: float
    drift: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None) for summary files and reports."""
        out: dict[str, Any] = {}
        for k, v in asdict(self).items():
            if isinstance(v, float):
                out[k] = None if not math.isfinite(v) else v
            else:
                out[k] = v
        return out


def sensor_step(
    series: Any,
    years: Any = None,
    *,
    stable: Any = None,
    first_new_year: float = 2013,
    drift: str = "linear",
    variable: str = "EVI",
    alpha: float = 0.05,
    share_tolerance: float = 0.05,
    min_pixels: int = 10,
    max_trend_pixels: int = 200_000,
    n_threads: int | None = None,
) -> SensorStep:
    """Estimate the step at the sensor switch on stable land, with its uncertainty.

    Parameters
    ----------
    series : array_like, shape (time, ...)
        EVI or LST stack (NaN = missing).
    years : sequence of float, optional
        Year of each step (default 2000–2011, 2013–2019 for 19 steps).
    stable : array_like of bool, spatial shape
        True on stable / reference pixels (required).  Pixels that are not restoring are a
        possible choice; excluding pixels *because* a trend test flagged them biases the step
        towards 0 (a step makes stable pixels look like trends), so reference polygons are
        better.
    first_new_year : float
        First year of the new sensor (default 2013, Landsat 8 OLI).
    drift : {"linear", "none"}
        "linear" (default): the step is adjusted for a linear drift of the whole map (a real
        greening or drying trend is not blamed on the sensor), at the price of a wider
        interval (a mid-series step and a line are strongly correlated).  "none": the step is
        the difference of the mean yearly medians after and before the switch (narrower, but
        any drift of the stable land is counted as step).
    variable : str
        Label recorded in the result.
    alpha : float
        Level of the confidence interval (``1 − alpha``) and of the tests (default 0.05).
    share_tolerance : float
        Change in the share of stable pixels with a significant trend that counts as
        "moving trends" (default 0.05).
    min_pixels : int
        Years with fewer valid stable pixels are left out of the fit (default 10).
    max_trend_pixels : int
        The trend check uses at most this many stable pixels (an evenly spaced subset).
    n_threads : int, optional
        Threads of the trend kernel.

    Returns
    -------
    SensorStep
    """
    from scipy import special

    from .api import trend

    arr = as_float_array(series, "series")
    flat, spatial = as_time_pixel(arr, "series")
    yrs = check_years(years, flat.shape[0], required=True)
    if stable is None:
        msg = ("stable is required: a boolean mask of stable/reference pixels with the "
               "spatial shape of series (e.g. reference polygons rasterised on the grid)")
        raise ValueError(msg)
    mask = np.asarray(stable)
    if mask.dtype != bool:
        msg = f"stable must be a boolean mask, got dtype {mask.dtype}"
        raise TypeError(msg)
    if mask.shape != spatial:
        msg = f"stable has shape {mask.shape} but series has spatial shape {spatial}"
        raise ValueError(msg)
    if not (0 < alpha < 1) or not (0 <= share_tolerance <= 1):
        msg = f"alpha must be in (0, 1) and share_tolerance in [0, 1], got {alpha!r}, " \
              f"{share_tolerance!r}"
        raise ValueError(msg)
    new = yrs >= first_new_year
    if new.sum() < 2 or (~new).sum() < 2:
        msg = (f"first_new_year={first_new_year:g} leaves {int((~new).sum())} year(s) before "
               f"and {int(new.sum())} from it; at least 2 on each side are needed")
        raise ValueError(msg)
    y = flat[:, mask.reshape(-1)].astype(np.float64)
    y[~np.isfinite(y)] = np.nan
    n_pix = int(np.any(np.isfinite(y), axis=0).sum())
    counts = np.isfinite(y).sum(axis=1)
    use = counts >= min_pixels
    with np.errstate(all="ignore"):
        med = np.full(yrs.size, np.nan)
        if use.any():
            med[use] = np.nanmedian(y[use], axis=1)
    t, m, s = yrs[use], med[use], new[use].astype(np.float64)
    if drift not in ("linear", "none"):
        msg = f"drift must be 'linear' or 'none', got {drift!r}"
        raise ValueError(msg)
    df = int(t.size - (3 if drift == "linear" else 2))
    nan = math.nan
    step = se = lo = hi = p = induced = nan
    if df >= 1 and 0 < s.sum() < s.size:
        cols = [np.ones_like(t), t - t.mean()] if drift == "linear" else [np.ones_like(t)]
        X = np.column_stack([*cols, s])
        beta, *_ = np.linalg.lstsq(X, m, rcond=None)
        resid = m - X @ beta
        sigma2 = float(resid @ resid) / df
        cov = sigma2 * np.linalg.inv(X.T @ X)
        step, se = float(beta[-1]), float(math.sqrt(cov[-1, -1]))
        q = float(special.stdtrit(df, 1 - alpha / 2))  # = stats.t.ppf, the same bits
        lo, hi = step - q * se, step + q * se
        p = float(2 * special.stdtr(df, -abs(step) / se)) if se > 0 else (0.0 if step else 1.0)
        tc = yrs - yrs.mean()
        induced = step * float(tc @ (new - new.mean())) / float(tc @ tc)
    # trend check on (a subset of) the stable pixels
    share = share0 = nan
    if n_pix and math.isfinite(step):
        sub = y[:, :: max(1, -(-y.shape[1] // max_trend_pixels))]
        r1 = trend(sub, yrs, n_threads=n_threads)
        r0 = trend(sub - step * new[:, None], yrs, n_threads=n_threads)
        ok = r1.n_valid >= 3
        if ok.any():
            share = float(np.mean(r1.p[ok] <= alpha))
            share0 = float(np.mean(r0.p[ok] <= alpha))
    significant = math.isfinite(p) and p <= alpha
    moves = math.isfinite(share) and abs(share - share0) >= share_tolerance
    warn = bool(significant and moves)
    old_years = yrs[~new]
    if not math.isfinite(p):
        reason = "not estimated: too few years with enough valid stable pixels"
    elif warn:
        reason = (f"step {step:+.4g} (CI {lo:+.4g} to {hi:+.4g}) is significant and moves "
                  f"trends: {share:.1%} of stable pixels have a significant trend, "
                  f"{share0:.1%} without the step")
    elif significant:
        reason = (f"step {step:+.4g} is significant (p={p:.3g}) but changes the share of "
                  f"stable pixels with a significant trend by less than {share_tolerance:.0%}")
    else:
        reason = f"no significant step (p={p:.3g})"
    return SensorStep(
        variable=str(variable), last_old_year=float(old_years[-1]),
        first_new_year=float(yrs[new][0]), step=step, se=se, ci_low=lo, ci_high=hi, p=p,
        df=max(df, 0), n_pixels=n_pix, n_years=int(t.size), induced_slope=induced,
        share_significant=share, share_significant_without_step=share0, warning=warn,
        reason=reason, alpha=float(alpha), share_tolerance=float(share_tolerance), drift=drift,
    )


@dataclass(frozen=True)
class PooledStep:
    """Inverse-variance pooled step over several maps (:func:`pool_steps`)."""

    step: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    n_maps: int
    heterogeneity_p: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


def pool_steps(results: Any, *, alpha: float = 0.05) -> PooledStep:
    """Pool the sensor steps of several maps (e.g. the mines of a study).

    The sensor offset is common to every map while each map's weather is its own, so the
    inverse-variance weighted mean ``Σ δ_i/se_i² / Σ 1/se_i²`` (standard error
    ``(Σ 1/se_i²)^(-1/2)``, normal interval) narrows the interval by about √(number of maps).
    ``heterogeneity_p`` is Cochran's Q test of equal steps (small: the maps disagree — e.g.
    land-cover dependent offsets — and the pooled value is an average).  Maps whose step is
    not estimated (NaN) are skipped.
    """
    from scipy import stats

    est = [(r.step, r.se) for r in results
           if math.isfinite(r.step) and math.isfinite(r.se) and r.se > 0]
    nan = math.nan
    if not est:
        return PooledStep(nan, nan, nan, nan, nan, 0, nan)
    d = np.array([e[0] for e in est])
    w = 1.0 / np.array([e[1] for e in est]) ** 2
    mean = float((w * d).sum() / w.sum())
    se = float(1.0 / math.sqrt(w.sum()))
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = float(2 * stats.norm.sf(abs(mean) / se))
    q = float((w * (d - mean) ** 2).sum())
    het = float(stats.chi2.sf(q, len(est) - 1)) if len(est) > 1 else nan
    return PooledStep(mean, se, mean - z * se, mean + z * se, p, len(est), het)
