"""When did the change start?  Per-pixel onset year of restoration (a change-point estimate).

:func:`onset` searches each pixel's series (MLRI, EVI, LST, ...) for the year a flat series
starts to rise (or fall), with a p-value for "no change", and the rate and magnitude of the
change after it.  Two estimators are offered:

* ``method="hinge"`` (default): a least-squares hinge ("segmented") fit, flat then rising
  (linearly, saturating, or a straight ramp that levels off), over every candidate onset year
  and template; p-value from Hotelling's tube formula for the maximum of the correlation over
  the candidates (calibrated: 4.9–5.1 % of pure-noise pixels at the 5 % level for one template
  family, about 3 % for the default search of all of them).
* ``method="pettitt"``: the Pettitt (1979) rank change-point test (a change in the median).

On a flat-then-rising series the Pettitt point sits in the middle of the rise, not at its
start (it locates a step), so the hinge is the default; docs/onset.md gives the measured
comparison.  Arrays are ``(time, ...)`` as everywhere in mlri; NaN/inf are dropped per pixel,
keeping each value's real year.  The work is done by a C++ kernel with the GIL released and
OpenMP over pixels; results are bit-identical for any thread count and SIMD target.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from . import _core
from ._validation import as_float_array, as_time_pixel, check_years, choice, resolve_threads

__all__ = ["OnsetResult", "onset"]

_METHODS = ("hinge", "pettitt")
_SHAPES = ("linear", "saturating", "either", "ramp")
_DIRECTIONS = {"increase": 1, "decrease": -1, "both": 0}


class OnsetResult(NamedTuple):
    """Per-pixel onset of a change, each an array of the spatial shape.

    Attributes
    ----------
    onset : float64
        Onset year (the first year of the changed segment) where ``p <= alpha``; NaN where no
        significant change was found or the pixel has too few valid years.
    break_year : float64
        The best onset year regardless of significance (NaN only when undefined: too few
        valid years, or a constant series).
    p : float64
        p-value of "no change" (one-sided in the searched ``direction``); 1 for a constant
        series, NaN with too few valid years.
    rate : float64
        Mean rate of change after the onset (units per year): ``magnitude`` divided by the
        span from the last year before the onset to the last valid year (the slope of the
        fitted line for the linear template; for a ramp that levels off, the mean over the
        ramp and the plateau).
    magnitude : float64
        The fitted change from the last year before the onset to the last valid year, of the
        least-squares template fit at ``break_year`` (the linear one for Pettitt).
    stat : float64
        Test statistic: the maximum correlation of the series with the hinge regressor
        (``method="hinge"``) or Pettitt's K (``method="pettitt"``), signed as searched.
    n_valid : int32
        Number of valid (finite) years used.
    """

    onset: np.ndarray
    break_year: np.ndarray
    p: np.ndarray
    rate: np.ndarray
    magnitude: np.ndarray
    stat: np.ndarray
    n_valid: np.ndarray


def _unflatten(a: np.ndarray, spatial: tuple[int, ...]) -> Any:
    out = a.reshape(spatial)
    return out[()] if out.ndim == 0 else out


def onset(
    series: Any,
    years: Any = None,
    *,
    method: str = "hinge",
    direction: str = "increase",
    shape: str = "either",
    tau: float = 3.0,
    alpha: float = 0.05,
    min_before: int = 2,
    min_after: int = 3,
    n_threads: int | None = None,
) -> OnsetResult:
    """Per-pixel onset year of a change (restoration start), its p-value, rate and magnitude.

    Parameters
    ----------
    series : array_like, shape (time, ...)
        E.g. the EVI or MLRI stack.  NaN/inf are dropped per pixel.
    years : sequence of float, optional
        Real time of each step (2011 → 2013 counts as two years).  Defaults to 2000–2011,
        2013–2019 for a 19-step axis; required otherwise.
    method : {"hinge", "pettitt"}
        "hinge" (default): least-squares flat-then-linear fit over the candidate onset years,
        p-value by Hotelling's tube formula.  "pettitt": Pettitt's rank test (locates a step
        in the median; on a gradual rise it reports the middle of the rise).
    direction : {"increase", "decrease", "both"}
        Which change to look for (default "increase": restoration raises EVI and the MLRI).
    shape : {"either", "linear", "saturating", "ramp"}
        Hinge method: the shape of the changed segment — a straight line to the last year,
        a saturating approach ``1 − exp(−(t − bend)/tau)`` (revegetation that rises fast then
        levels off), "ramp": a straight rise that reaches a plateau after ``w`` years,
        ``min(t − bend, w)`` for w = 2, 3, 4, 5, 6, 8, 10, 13 and w = ∞ (the straight line),
        or "either" (default: the saturating and all ramp templates are searched and the best
        fit is kept; the p-value accounts for searching them all).
    tau : float
        Time constant of the saturating template in years (default 3; in (0, 1000]).
    alpha : float
        Significance level for ``onset`` (default 0.05); ``break_year`` is never masked.
    min_before : int
        Valid years required before the onset (the flat segment; default 2, >= 1).
    min_after : int
        Valid years required from the onset on (the changed segment; default 3, >= 2).
    n_threads : int, optional
        OpenMP threads (default all cores).  Results are bit-identical for any value.

    Returns
    -------
    OnsetResult
        Named arrays of the spatial shape (0-d inputs give NumPy scalars).

    Notes
    -----
    For the n valid values y at years t and a candidate onset index k (``min_before <= k <=
    n − min_after``), with ``d_i = max(0, t_i − t_{k−1})``, the template is ``h = d`` (linear),
    ``h = 1 − exp(−d/tau)`` (saturating) or ``h = min(d, w)`` (ramp of width w): flat up to
    the last year before the onset, changing from there.  The least-squares fit
    ``y = a + b h`` maximises the correlation ``U`` of y with h; the onset is the maximiser
    of ``U`` over the templates and k (``−U``, ``|U|`` for a decrease, either; ties go to the
    linear, then the saturating, then the narrowest ramp template, then the earliest k).
    Under "no change" (independent Gaussian noise) the maximum over one curve of templates
    (linear or saturating, indexed by k) has the tail
    ``P(t_ν > w√(ν/(1−w²))) + L/(2π)·(1−w²)^(ν/2)`` (ν = n − 2, L the length of the curve
    traced by the normalised regressors on the unit sphere).  The ramps form a surface over
    (k, w); its tail counts half its perimeter instead of L and adds its area times the
    density of the tube formula's area term (see docs/onset.md).  "either" sums the saturating
    curve's and the ramp surface's tails; all are doubled for "both".  Serially correlated
    noise makes the p-value liberal, as for any test that assumes independent years.  Pettitt:
    ``U_k = Σ_{i<k} Σ_{j≥k} sgn(y_j − y_i)``, ``p ≈ exp(−6K²/(n³+n²))``.  Complexity O(n²) per
    pixel (ten templates per candidate by default).

    References
    ----------
    Hotelling (1939) Am. J. Math. 61:440; Knowles & Siegmund (1989) Int. Stat. Rev. 57:205;
    Pettitt (1979) Appl. Stat. 28:126, doi:10.2307/2346729.

    Examples
    --------
    EVI flat until 2007, then rising by 0.03 a year: the rise starts in 2008.

    >>> import numpy as np, mlri
    >>> years = list(range(2000, 2020))
    >>> evi = np.r_[np.full(8, 0.2), 0.2 + 0.03 * np.arange(1, 13)]
    >>> r = mlri.onset(evi, years)
    >>> float(r.onset), round(float(r.rate), 3), round(float(r.magnitude), 2)
    (2008.0, 0.03, 0.36)
    """
    arr = as_float_array(series, "series")
    flat, spatial = as_time_pixel(arr, "series")
    yrs = check_years(years, flat.shape[0], required=True)
    m = choice(method, "method", _METHODS)
    d = _DIRECTIONS[_DIRECTIONS_KEYS[choice(direction, "direction", _DIRECTIONS_KEYS)]]
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and 0 < alpha <= 1):
        msg = f"alpha must be a number in (0, 1], got {alpha!r}"
        raise ValueError(msg)
    mb, ma = _count(min_before, "min_before", 1), _count(min_after, "min_after", 2)
    sh = choice(shape, "shape", _SHAPES)
    if not (isinstance(tau, (int, float)) and 0 < tau <= 1000):
        msg = f"tau must be a number of years in (0, 1000], got {tau!r}"
        raise ValueError(msg)
    res = _core.onset(flat, yrs, method=m, direction=d, min_before=mb, min_after=ma, shape=sh,
                      tau=float(tau), n_threads=resolve_threads(n_threads))
    brk = res["onset"]
    with np.errstate(invalid="ignore"):
        sig = res["p"] <= alpha
    ons = np.where(sig, brk, np.nan)
    return OnsetResult(
        onset=_unflatten(ons, spatial), break_year=_unflatten(brk, spatial),
        p=_unflatten(res["p"], spatial), rate=_unflatten(res["rate"], spatial),
        magnitude=_unflatten(res["magnitude"], spatial), stat=_unflatten(res["stat"], spatial),
        n_valid=_unflatten(res["n_valid"], spatial),
    )


_DIRECTIONS_KEYS = tuple(_DIRECTIONS)


def _count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        msg = f"{name} must be an integer >= {low}, got {value!r}"
        raise ValueError(msg)
    return int(value)
