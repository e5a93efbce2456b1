"""Rank-based confidence interval of Sen's slope per pixel (Sen 1968, as scipy computes it)."""

from __future__ import annotations

import functools
import inspect
from typing import Any, NamedTuple

import numpy as np

from . import _core, api
from ._validation import as_float_array, as_time_pixel, check_years, resolve_threads

__all__ = ["SenInterval", "sen_interval", "trend_with_interval"]

#: the options of mlri.trend and their defaults (trend_with_interval takes the same)
_TREND_DEFAULTS = {k: p.default for k, p in inspect.signature(api.trend).parameters.items()
                   if p.kind is p.KEYWORD_ONLY and k != "n_threads"}


class SenInterval(NamedTuple):
    """Result of :func:`sen_interval`, each an array of the spatial shape.

    Attributes
    ----------
    low_slope, high_slope : float64
        Bounds of the confidence interval of Sen's slope, in units per year (NaN with fewer
        than 2 valid years).
    n_valid : int32
        Valid (finite) values of the pixel.
    """

    low_slope: np.ndarray
    high_slope: np.ndarray
    n_valid: np.ndarray


def sen_interval(series: Any, years: Any = None, *, alpha: float = 0.05,
                 n_threads: int | None = None) -> SenInterval:
    """Confidence interval of Sen's slope per pixel, over real years, with gaps.

    The rank-based interval of Sen (1968, eq. 2.6), computed exactly as
    ``scipy.stats.theilslopes(y[valid], years[valid], alpha)`` computes ``low_slope`` and
    ``high_slope``: the sorted pairwise slopes ``(y_j - y_i) / (t_j - t_i)`` (real years, so a
    missing year is a two-year step) are cut at ranks ``round((N ∓ z·sigma)/2)`` with
    ``sigma^2 = (n(n-1)(2n+5) - Σ_ties k(k-1)(2k+5)) / 18`` (ties of equal values),
    ``z = Phi^-1(alpha/2)`` and N = n(n-1)/2 pairs.  Sen's slope itself is :func:`mlri.sens_slope`.

    Parameters
    ----------
    series : array_like, shape (time, ...)
        E.g. an MLRI, EVI or LST stack.  NaN/inf are missing and dropped per pixel.
    years : sequence of float, optional
        Real year of each time step (default 2000-2011, 2013-2019 for 19 steps).
    alpha : float
        Two-sided level: the interval has coverage ``1 - alpha`` (default 0.05, a 95 %
        interval).  As scipy, ``alpha > 0.5`` is read as ``1 - alpha``.
    n_threads : int, optional
        OpenMP threads (default all cores).  Results are identical for any value.

    Returns
    -------
    SenInterval
        ``low_slope``, ``high_slope``, ``n_valid``.

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1) or ``years`` does not match the time axis.
    TypeError
        On non-numeric input.

    Notes
    -----
    The interval relies on the Mann-Kendall variance of independent values; with serial
    correlation it is too narrow, as the MK test is liberal.  On MLRI it describes the slope of
    the index, construction drift included (see ``docs/significance.md``).  float32 input is
    promoted to float64 before the differences are taken (scipy would difference in float32).

    References
    ----------
    Sen (1968) Estimates of the regression coefficient based on Kendall's tau, J. Am. Stat.
    Assoc. 63:1379, doi:10.1080/01621459.1968.10480934.

    Examples
    --------
    >>> import numpy as np, mlri
    >>> y = np.array([1., 2, 2, 3, 5, 4, 6])
    >>> ci = mlri.sen_interval(y, [2000, 2001, 2002, 2003, 2005, 2006, 2007])
    >>> float(ci.low_slope), float(ci.high_slope), int(ci.n_valid)
    (0.4, 1.0, 7)
    """
    z = interval_z(alpha)
    arr = as_float_array(series, "series")
    flat, spatial = as_time_pixel(arr, "series")
    yrs = np.ascontiguousarray(check_years(years, flat.shape[0], required=True))
    res = _core.sen_interval(flat, yrs, z=z, n_threads=resolve_threads(n_threads))

    def shape(v: np.ndarray) -> Any:
        out = v.reshape(spatial)
        return out[()] if out.ndim == 0 else out

    return SenInterval(shape(res["low_slope"]), shape(res["high_slope"]), shape(res["n_valid"]))


def interval_z(alpha: float, name: str = "alpha") -> float:
    """``Phi^-1(alpha/2)`` of a two-sided level in (0, 1) (``alpha > 0.5`` read as ``1 - alpha``,
    as scipy); ``name`` is the parameter named in the error.

    ``scipy.special.ndtri``, the function behind ``scipy.stats.norm.ppf`` (the same bits), at a
    quarter of the import time; :meth:`mlri.recipe.Options.prepare` calls it once, so a run's
    tiles never wait for an import."""
    a = float(alpha)
    if not 0.0 < a < 1.0:
        msg = f"{name} must be in (0, 1), got {alpha!r}"
        raise ValueError(msg)
    if a > 0.5:
        a = 1.0 - a
    return _ndtri_half(a)


@functools.lru_cache(maxsize=64)
def _ndtri_half(a: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(a / 2.0))


def trend_with_interval(series: Any, years: Any, *, sen_alpha: float = 0.05,
                        n_threads: int | None = None,
                        **trend_kw: Any) -> tuple[api.TrendResult, SenInterval]:
    """:func:`mlri.trend` and :func:`sen_interval` (at ``sen_alpha``) of one series in one kernel
    call: the interval comes from the slopes the trend kernel has already formed (64 years or
    fewer, strictly increasing years; otherwise the standalone interval kernel runs after the
    trend).  The same bits as the two separate calls.  ``trend_kw``: the options of
    :func:`mlri.trend`."""
    z = interval_z(sen_alpha, "sen_alpha")
    opts = {**_TREND_DEFAULTS, **trend_kw}
    res, spatial = api._trend_call(series, years, years_required=True, compute=7,
                                   n_threads=n_threads, sen_z=z, **opts)
    tr = api._trend_result(res, spatial)
    ci = SenInterval(api._unflatten(res["sen_low"], spatial),
                     api._unflatten(res["sen_high"], spatial), tr.n_valid)
    return tr, ci
