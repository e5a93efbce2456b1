"""The numerical Python API: MLRI index, per-pixel trends and restoration classes.

Arrays are ``(time, ...)``: axis 0 is the year, any trailing spatial shape is allowed
(``(19,)`` for one pixel, ``(19, rows, cols)`` for a raster stack).  NaN and ±inf mark missing
observations and are dropped per pixel (listwise), keeping each value's real year.  All work is
done by the C++ kernels of :mod:`mlri._core` with the GIL released and OpenMP over pixels.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np

from . import _core
from ._unitcheck import _check_evi_scale, _check_lst_unit
from ._validation import (
    as_float_array,
    as_time_pixel,
    check_time_axis,
    check_years,
    choice,
    default_years,
    flag,
    integer,
    real,
    resolve_threads,
)
from .classes import CLASS_CODES, CLASS_NAMES, FLAG_BITS

__all__ = [
    "CLASS_CODES",
    "CLASS_NAMES",
    "FLAG_BITS",
    "IndexResult",
    "TrendResult",
    "classify",
    "default_years",
    "hurst",
    "index",
    "mann_kendall",
    "sens_slope",
    "trend",
]

_HURST_METHODS = ("expanding", "segmented")
_HURST_SERIES = ("diff", "level")
_GAPS = ("ignore", "rate")
_DEGENERATE = ("drop", "nan")
_EVI_POLICIES = ("mask", "clamp")
_LST_UNITS = ("K", "C")
#: The paper's critical |Z| (classify's default rule: |Z| > 1.96)
PAPER_Z_CRIT = 1.96

class IndexResult(NamedTuple):
    """Result of :func:`index`.

    Attributes
    ----------
    mlri : ndarray
        MLRI per year, same shape and float dtype as the inputs; NaN where the year is missing.
    dropped : ndarray of int32
        Per pixel (spatial shape): years with finite LST and EVI that were removed because
        EVI <= ``evi_min`` or LST <= 0 K.
    """

    mlri: np.ndarray
    dropped: np.ndarray


class TrendResult(NamedTuple):
    """Per-pixel trend statistics, each an array of the spatial shape.

    Attributes
    ----------
    n_valid : int32
        Number of valid (finite) years used.
    s : float64
        Mann–Kendall S (an exact integer; NaN when ``n_valid < 2``).
    var_s : float64
        Tie-corrected variance of S.
    z : float64
        Continuity-corrected Z (0 when S == 0).
    p : float64
        Two-sided p-value, ``erfc(|Z|/√2)``.
    slope : float64
        Sen's slope in units per year (median of pairwise slopes over real years).
    intercept : float64
        Sen intercept at the first year of the time axis (``years[0]``, the same reference
        year for every pixel): ``median(y) − slope·median(t − years[0])``.
    hurst : float64
        Hurst exponent by R/S (NaN when undefined; never clamped to [0, 1]).
    """

    n_valid: np.ndarray
    s: np.ndarray
    var_s: np.ndarray
    z: np.ndarray
    p: np.ndarray
    slope: np.ndarray
    intercept: np.ndarray
    hurst: np.ndarray


class MKResult(NamedTuple):
    """Mann–Kendall statistics (see :class:`TrendResult` for the fields)."""

    n_valid: np.ndarray
    s: np.ndarray
    var_s: np.ndarray
    z: np.ndarray
    p: np.ndarray


class SenResult(NamedTuple):
    """Sen's slope (units per year) and intercept at the first year of the time axis."""

    slope: np.ndarray
    intercept: np.ndarray


def _unflatten(a: np.ndarray, spatial: tuple[int, ...]) -> Any:
    out = a.reshape(spatial)
    return out[()] if out.ndim == 0 else out


def validate_index_inputs(lst: Any, evi: Any, years: Any, lst_unit: str, evi_min: float,
                          evi_policy: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Shared checks of :func:`index` and :func:`mlri.significance.permutation_test`.

    Returns ``(lst, evi, unit_code, policy_code)`` with both arrays in one float dtype.
    """
    lst_a = as_float_array(lst, "lst")
    evi_a = as_float_array(evi, "evi")
    if lst_a.shape != evi_a.shape:
        msg = f"lst and evi must have the same shape, got {lst_a.shape} and {evi_a.shape}"
        raise ValueError(msg)
    check_time_axis(lst_a, "lst")
    dtype = np.result_type(lst_a.dtype, evi_a.dtype)
    lst_a = lst_a.astype(dtype, copy=False)
    evi_a = evi_a.astype(dtype, copy=False)
    check_years(years, lst_a.shape[0], required=False)
    unit = choice(lst_unit, "lst_unit", _LST_UNITS)
    _check_evi_scale(evi_a, years)
    policy = choice(evi_policy, "evi_policy", _EVI_POLICIES)
    evi_min = real(evi_min, "evi_min")
    if not np.isfinite(evi_min) or evi_min < 0:
        msg = f"evi_min must be a finite number >= 0, got {evi_min!r}"
        raise ValueError(msg)
    if policy == 1 and evi_min <= 0:
        msg = "evi_policy='clamp' needs evi_min > 0 (EVI floored at 0 would divide by zero)"
        raise ValueError(msg)
    return lst_a, evi_a, unit, policy


def index(
    lst: Any,
    evi: Any,
    years: Any = None,
    *,
    lst_unit: str = "K",
    evi_min: float = 0.0,
    evi_policy: str = "mask",
    n_threads: int | None = None,
) -> IndexResult:
    """Mine Landscape Restoration Index per pixel and year.

    ``MLRI_ij = (max LST_j[first..i] / min EVI_j[first..i]) / (LST_ij / EVI_ij)``, with running
    extrema over the valid years up to and including year *i*.  MLRI is 1
    in a pixel's first valid year and whenever the current year is the worst so far; higher
    values mean a more restored state relative to the worst state seen.

    Parameters
    ----------
    lst, evi : array_like, shape (time, ...)
        Annual LST and EVI (e.g. June–September maximum composites).  NaN/inf = missing.
    years : sequence of float, optional
        One year per time step, strictly increasing.  Only validated here (the index depends on
        the order of the years, not their values); defaults to 2000–2011, 2013–2019 for 19 steps.
    lst_unit : {"K", "C"}
        Unit of ``lst``.  The formula needs Kelvin: "C" adds 273.15.  Checked per year: a
        year that looks like °C (median below 150) with ``lst_unit="K"`` raises naming the
        year, and vice versa.
        EVI is checked per year too: a median |EVI| above 5 (an EVI x 10000 export) raises.
    evi_min : float
        EVI threshold (>= 0).  With ``evi_policy="mask"`` a year with EVI <= evi_min is treated
        as missing for that pixel and counted in ``dropped``.
    evi_policy : {"mask", "clamp"}
        "clamp" floors EVI at ``evi_min`` (which must then be > 0) instead of dropping the year.
    n_threads : int, optional
        OpenMP threads (default: all cores).

    Returns
    -------
    IndexResult
        ``mlri`` (same shape and float dtype as the inputs) and ``dropped`` (int32 per pixel).

    Raises
    ------
    ValueError
        On shape mismatch, bad years, an LST unit that contradicts the data, or bad options.
    TypeError
        On non-numeric inputs.

    Examples
    --------
    One pixel that cools and greens over twelve years (MLRI is 1 in the first year):

    >>> import numpy as np, mlri
    >>> years = list(range(2000, 2012))
    >>> lst = np.array([310., 309, 309, 308, 306, 305, 304, 304, 303, 302, 301, 300])
    >>> evi = np.array([.10, .11, .10, .12, .14, .15, .17, .18, .20, .21, .23, .24])
    >>> res = mlri.index(lst[:, None], evi[:, None], years)
    >>> np.round(res.mlri[[0, 1, 2, -1], 0], 3)
    array([1.   , 1.104, 1.003, 2.48 ])
    >>> int(res.dropped[0])
    0
    """
    return _index(lst, evi, years, lst_unit=lst_unit, evi_min=evi_min, evi_policy=evi_policy,
                  n_threads=n_threads)


def _index(lst: Any, evi: Any, years: Any = None, *, lst_unit: str, evi_min: float,
           evi_policy: str, n_threads: int | None,
           valid: np.ndarray | None = None) -> IndexResult:
    """:func:`index`; with ``valid`` (int64, shape ``(3, time)``), also the pixels with a finite
    LST, a finite EVI and a finite MLRI per year, counted by the kernel on the way."""
    lst_a, evi_a, unit, policy = validate_index_inputs(lst, evi, years, lst_unit, evi_min,
                                                       evi_policy)
    _check_lst_unit(lst_a, lst_unit, years)
    flat_l, spatial = as_time_pixel(lst_a, "lst")
    flat_e, _ = as_time_pixel(evi_a, "evi")
    out, dropped = _core.mlri_index(
        flat_l, flat_e, lst_offset=273.15 if unit == 1 else 0.0, evi_min=float(evi_min),
        evi_policy=policy, n_threads=resolve_threads(n_threads), valid=valid,
    )
    return IndexResult(out.reshape(lst_a.shape), _unflatten(dropped, spatial))


def _trend_call(series: Any, years: Any, *, years_required: bool, compute: int,
                hurst_method: str, hurst_series: str, hurst_ddof: int, tau_min: int, gap: str,
                degenerate: str, rel_tol: float, corrected: bool,
                n_threads: int | None, sen_z: float | None = None,
                names: tuple[str, str, str] = ("hurst_method", "hurst_series", "hurst_ddof"),
                ) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    # names: the caller's parameters for the Hurst method, series and ddof (hurst() calls
    # them method, series_kind, ddof), so that errors name what the user passed
    arr = as_float_array(series, "series")
    flat, spatial = as_time_pixel(arr, "series")
    yrs = check_years(years, flat.shape[0], required=years_required)
    method = choice(hurst_method, names[0], _HURST_METHODS)
    kind = choice(hurst_series, names[1], _HURST_SERIES)
    gapi = choice(gap, "gap", _GAPS)
    degi = choice(degenerate, "degenerate", _DEGENERATE)
    ddof = integer(hurst_ddof, names[2])
    if ddof not in (0, 1):
        msg = f"{names[2]} must be 0 or 1, got {hurst_ddof!r}"
        raise ValueError(msg)
    tmin = integer(tau_min, "tau_min")
    if tmin < 2:
        msg = f"tau_min must be >= 2, got {tau_min!r}"
        raise ValueError(msg)
    tol = real(rel_tol, "rel_tol")
    if not (0 <= tol < 1):
        msg = f"rel_tol must be in [0, 1), got {rel_tol!r}"
        raise ValueError(msg)
    res = _core.trend(
        flat, yrs, method=method, series_kind=kind, ddof=ddof, tau_min=tmin,
        gap=gapi, degenerate=degi, rel_tol=tol, min_points=2,
        corrected=flag(corrected, "corrected"), compute=compute, n_threads=resolve_threads(n_threads),
        sen_z=float("nan") if sen_z is None else float(sen_z),
    )
    return res, spatial


def trend(
    series: Any,
    years: Any = None,
    *,
    hurst_method: str = "expanding",
    hurst_series: str = "diff",
    hurst_ddof: int = 0,
    tau_min: int = 2,
    gap: str = "ignore",
    degenerate: str = "drop",
    rel_tol: float = 1e-12,
    corrected: bool = True,
    n_threads: int | None = None,
) -> TrendResult:
    """Fused per-pixel trend: Mann–Kendall, Sen's slope and Hurst in one pass.

    Parameters
    ----------
    series : array_like, shape (time, ...)
        E.g. the MLRI stack from :func:`index`.  NaN/inf are dropped per pixel.
    years : sequence of float, optional
        Real time of each step (Sen's slope divides by year differences, so 2011→2013 counts
        as two years).  Defaults to 2000–2011, 2013–2019 for a 19-step axis; required otherwise.
    hurst_method : {"expanding", "segmented"}
        "expanding" (default): the expanding-window R/S of the Sen+MK+Hurst literature.
        "segmented": classic R/S over non-overlapping windows, as
        ``nolds.hurst_rs(fit="poly")``.
    hurst_series : {"diff", "level"}
        Apply R/S to first differences of the valid values (default, as the widely used code
        does) or to the levels (PyEEG).  **This choice decides most of the SCI/SAI split.**
    hurst_ddof : {0, 1}
        Standard deviation divisor for the expanding method (0 = population, default).
    tau_min : int
        First window length of the expanding fit (default 2).
    gap : {"ignore", "rate"}
        "ignore": differences between consecutive valid values; "rate": divided by the year gap.
    degenerate : {"drop", "nan"}
        Windows whose scaled std is <= ``rel_tol`` are dropped from the fit (default) or make H NaN.
    rel_tol : float
        Degeneracy tolerance on ``(u − u₁)/max|u|`` (default 1e-12).
    corrected : bool
        Segmented method only: Anis-Lloyd-Peters small-sample correction (default True).
    n_threads : int, optional
        OpenMP threads (default all cores).  Results are bit-identical for any value.

    Returns
    -------
    TrendResult
        Named arrays of the spatial shape (0-d inputs give NumPy scalars).

    Notes
    -----
    MK: ``S = Σ sgn(y_j − y_i)`` in exact integers, ``var(S)`` with exact tie groups, Z with the
    ±1 continuity correction, ``p = erfc(|Z|/√2)``; S, var(S), Z, p are NaN for fewer than 2
    valid years.  Sen: median of the n(n−1)/2 pairwise slopes.  Hurst: OLS slope of
    ln(R/S) on ln τ, NaN with fewer than 2 fit points.  Complexity O(n²) per pixel; at most
    32,768 time steps (longer series raise ValueError; a MemoryError names the buffer size).

    References
    ----------
    Mann (1945) Econometrica 13:245; Kendall (1975) Rank Correlation Methods; Sen (1968)
    JASA 63:1379, doi:10.1080/01621459.1968.10480934; Hurst (1951) Trans. ASCE 116:770;
    Anis & Lloyd (1976) Biometrika 63:111; Peters (1994) Fractal Market Analysis.

    Examples
    --------
    >>> import numpy as np, mlri
    >>> years = list(range(2000, 2012))
    >>> lst = np.array([310., 309, 309, 308, 306, 305, 304, 304, 303, 302, 301, 300])
    >>> evi = np.array([.10, .11, .10, .12, .14, .15, .17, .18, .20, .21, .23, .24])
    >>> tr = mlri.trend(mlri.index(lst[:, None], evi[:, None], years).mlri, years)
    >>> int(tr.n_valid[0]), float(tr.s[0]), round(float(tr.z[0]), 3)
    (12, 64.0, 4.32)
    >>> round(float(tr.slope[0]), 4), round(float(tr.hurst[0]), 3)
    (0.1566, 0.684)
    """
    res, spatial = _trend_call(
        series, years, years_required=True, compute=7, hurst_method=hurst_method,
        hurst_series=hurst_series, hurst_ddof=hurst_ddof, tau_min=tau_min, gap=gap,
        degenerate=degenerate, rel_tol=rel_tol, corrected=corrected, n_threads=n_threads,
    )
    return _trend_result(res, spatial)


def _trend_result(res: dict[str, np.ndarray], spatial: tuple[int, ...]) -> TrendResult:
    """The :class:`TrendResult` of a trend kernel call's outputs, in the input's spatial shape."""
    return TrendResult(**{k: _unflatten(res[k], spatial) for k in TrendResult._fields})


def mann_kendall(series: Any, *, n_threads: int | None = None) -> MKResult:
    """Mann–Kendall test with tie correction, per pixel (years do not enter MK).

    See :func:`trend` for the definitions; returns ``n_valid, s, var_s, z, p``.

    Examples
    --------
    >>> import numpy as np, mlri
    >>> mk = mlri.mann_kendall(np.array([1., 2, 2, 3, 5, 4, 6]))
    >>> float(mk.s), round(float(mk.var_s), 3), round(float(mk.z), 4)
    (18.0, 43.333, 2.5825)
    """
    res, spatial = _trend_call(
        series, None, years_required=False, compute=1, hurst_method="expanding",
        hurst_series="diff", hurst_ddof=0, tau_min=2, gap="ignore", degenerate="drop",
        rel_tol=1e-12, corrected=True, n_threads=n_threads,
    )
    return MKResult(**{k: _unflatten(res[k], spatial) for k in MKResult._fields})


def sens_slope(series: Any, years: Any = None, *, n_threads: int | None = None) -> SenResult:
    """Sen's slope on real years and the intercept at ``years[0]``, per pixel.

    Examples
    --------
    Real years: the gap 2003 -> 2005 counts as two years.

    >>> import numpy as np, mlri
    >>> y = np.array([1., 2, 2, 3, 5, 4, 6])
    >>> r = mlri.sens_slope(y, [2000, 2001, 2002, 2003, 2005, 2006, 2007])
    >>> round(float(r.slope), 4), float(r.intercept)
    (0.6667, 1.0)
    """
    res, spatial = _trend_call(
        series, years, years_required=True, compute=2, hurst_method="expanding",
        hurst_series="diff", hurst_ddof=0, tau_min=2, gap="ignore", degenerate="drop",
        rel_tol=1e-12, corrected=True, n_threads=n_threads,
    )
    return SenResult(_unflatten(res["slope"], spatial), _unflatten(res["intercept"], spatial))


def hurst(
    series: Any,
    years: Any = None,
    *,
    method: str = "expanding",
    series_kind: str = "diff",
    ddof: int = 0,
    tau_min: int = 2,
    gap: str = "ignore",
    degenerate: str = "drop",
    rel_tol: float = 1e-12,
    corrected: bool = True,
    n_threads: int | None = None,
) -> Any:
    """Hurst exponent by R/S per pixel (see :func:`trend` for every option).

    ``years`` only matters with ``gap="rate"``; otherwise it may be omitted for any length.

    Examples
    --------
    >>> import numpy as np, mlri
    >>> h = mlri.hurst(np.array([1., 3, 2, 5, 4, 6, 8, 7, 9, 10, 12, 11]))
    >>> round(float(h), 4)
    0.2564
    """
    res, spatial = _trend_call(
        series, years, years_required=(gap == "rate"), compute=4, hurst_method=method,
        hurst_series=series_kind, hurst_ddof=ddof, tau_min=tau_min, gap=gap,
        degenerate=degenerate, rel_tol=rel_tol, corrected=corrected, n_threads=n_threads,
        names=("method", "series_kind", "ddof"),
    )
    return _unflatten(res["hurst"], spatial)


def classify(
    result: TrendResult,
    *,
    z_crit: float | None = None,
    alpha: float | None = None,
    min_valid: int = 10,
    zero_slope_direction: str = "slope",
    dropped: Any = None,
    p_increase: Any = None,
    p_decrease: Any = None,
    alternative: str = "two-sided",
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Restoration classes (uint8) and flag bits from trend statistics.

    Paper rule (default): significant when ``|Z| > 1.96`` strictly; direction from the sign of
    Sen's slope (``slope <= 0`` counts as a decrease); significant increases split by
    ``H > 0.5`` into SCI (consistent) and SAI (anti-persistent).

    With one-sided p-values of a calibrated test (``p_increase``, ``p_decrease``, e.g. from
    :func:`mlri.significance.permutation_test`) the significance comes from them instead: SI
    when ``p_increase <= a``, SD when ``p_decrease <= a`` (``a = alpha/2`` for
    ``alternative="two-sided"``, else ``alpha``; ``alpha`` defaults to 0.05), the direction of
    a significant pixel from the tail that rejects, the Hurst split unchanged, and the
    direction of a non-significant pixel from Sen's slope as above.  NaN p-values → nodata.

    Parameters
    ----------
    result : TrendResult
        From :func:`trend`.
    z_crit : float, optional
        Critical |Z| (default 1.96, the paper's; ``inf``: nothing is significant).  Mutually
        exclusive with ``alpha``.
    alpha : float, optional
        Two-sided level; ``z_crit = Φ⁻¹(1 − α/2)`` (pymannkendall-compatible, 1.95996… at 0.05).
    min_valid : int
        Pixels with fewer valid years are nodata (class 0) and flagged (default 10).
    zero_slope_direction : {"slope", "sign_S"}
        "slope" (paper): Sen slope 0 counts as a decrease.  "sign_S": when the slope is exactly
        0, take the direction from the sign of S (e.g. a significant S>0 with many ties → SI).
    dropped : array_like, optional
        ``IndexResult.dropped``; sets the ``years_dropped`` flag.
    p_increase, p_decrease : array_like, optional
        One-sided p-values of the spatial shape (give both or neither); ``z_crit`` must then
        be None.
    alternative : {"two-sided", "increase", "decrease"}
        With p-values: test both tails at alpha/2 each (default, like ``|Z| > 1.96``), or only
        one tail at alpha (no SD, resp. no SI class is produced).
    n_threads : int, optional
        OpenMP threads.

    Returns
    -------
    classes : ndarray of uint8
        0 nodata, 1 SD, 2 ND, 3 NI, 4 SAI, 5 SCI, 6 SI with undefined H (:data:`CLASS_CODES`).
    flags : ndarray of uint8
        Bits :data:`FLAG_BITS`: 1 constant series, 2 slope 0 but significant, 4 fewer than
        ``min_valid`` years, 8 MLRI years dropped, 16 Hurst undefined.

    Examples
    --------
    >>> import numpy as np, mlri
    >>> years = list(range(2000, 2012))
    >>> lst = np.array([310., 309, 309, 308, 306, 305, 304, 304, 303, 302, 301, 300])
    >>> evi = np.array([.10, .11, .10, .12, .14, .15, .17, .18, .20, .21, .23, .24])
    >>> idx = mlri.index(lst[:, None], evi[:, None], years)
    >>> classes, flags = mlri.classify(mlri.trend(idx.mlri, years), dropped=idx.dropped)
    >>> mlri.CLASS_NAMES[int(classes[0])], int(flags[0])
    ('SCI', 0)
    """
    if z_crit is not None and alpha is not None:
        msg = "give either z_crit= or alpha=, not both"
        raise ValueError(msg)
    if p_increase is not None or p_decrease is not None:
        return _classify_p(result, p_increase, p_decrease, alpha=0.05 if alpha is None else alpha,
                           z_crit=z_crit, alternative=alternative, min_valid=min_valid,
                           zero_slope_direction=zero_slope_direction, dropped=dropped,
                           n_threads=n_threads)
    if alpha is not None:
        alpha = real(alpha, "alpha")
        if not 0 < alpha < 1:
            msg = f"alpha must be in (0, 1), got {alpha!r}"
            raise ValueError(msg)
        zc = NormalDist().inv_cdf(1 - alpha / 2)
    else:
        zc = PAPER_Z_CRIT if z_crit is None else real(z_crit, "z_crit")
        if np.isnan(zc) or zc < 0:  # (inf: nothing is significant)
            msg = f"z_crit must be a number >= 0, got {z_crit!r}"
            raise ValueError(msg)
    direction, mv = _check_classify_args(result, zero_slope_direction, min_valid)
    return _classify_call(result, dropped, direction, mv, n_threads, z_crit=zc)


def _classify_call(result: TrendResult, dropped: Any, direction: int, min_valid: int,
                   n_threads: int | None, z_crit: float = 0.0, p_increase: Any = None,
                   p_decrease: Any = None, p_level: float = 0.025,
                   alternative: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The one class rule (classify.hpp) on validated arguments: by ``|Z| > z_crit``, or by
    the flat one-sided p-values at ``p_level`` (``alternative``: 0 both tails, 1, 2 one)."""
    shape = np.shape(result.z)
    f64 = [np.ascontiguousarray(np.reshape(getattr(result, k), -1), dtype=np.float64)
           for k in ("s", "var_s", "z", "slope", "hurst")]
    nv = np.ascontiguousarray(np.reshape(result.n_valid, -1), dtype=np.int32)
    dr = None
    if dropped is not None:
        dr = np.ascontiguousarray(np.reshape(dropped, -1), dtype=np.int32)
        if dr.size != nv.size:
            msg = f"dropped has {dr.size} pixels but result has {nv.size}"
            raise ValueError(msg)
    s_, var_s_, z_, slope_, hurst_ = f64
    cls, flags = _core.classify(
        nv, s_, var_s_, z_, slope_, hurst_, dr, z_crit=z_crit, min_valid=int(min_valid),
        zero_slope_sign_s=direction == 1, h_threshold=0.5, n_threads=resolve_threads(n_threads),
        p_increase=p_increase, p_decrease=p_decrease, p_level=p_level, alternative=alternative,
    )
    return _unflatten(cls, shape), _unflatten(flags, shape)


_ALTERNATIVES = ("two-sided", "increase", "decrease")


def _check_classify_args(result: Any, zero_slope_direction: str,
                         min_valid: int) -> tuple[int, int]:
    """The arguments both class rules share; returns the zero-slope direction code and
    ``min_valid`` as the kernel's int (values beyond it exceed every series length alike)."""
    direction = choice(zero_slope_direction, "zero_slope_direction", ("slope", "sign_S"))
    mv = integer(min_valid, "min_valid")
    if mv < 0:
        msg = f"min_valid must be >= 0, got {min_valid!r}"
        raise ValueError(msg)
    if not isinstance(result, tuple) or not hasattr(result, "hurst"):
        msg = "result must be the TrendResult returned by mlri.trend()"
        raise TypeError(msg)
    return direction, min(mv, 2**31 - 1)


def _pvalue_arrays(result: TrendResult, p_increase: Any,
                   p_decrease: Any) -> tuple[np.ndarray, np.ndarray]:
    """The one-sided p-values, flat float64 and C-contiguous, checked against the result's
    pixel count."""
    n = np.size(result.n_valid)
    out = []
    for name, a in (("p_increase", p_increase), ("p_decrease", p_decrease)):
        v = np.ascontiguousarray(np.reshape(np.asarray(a, dtype=np.float64), -1))
        if v.size != n:
            msg = f"{name} has {v.size} pixels but result has {n}"
            raise ValueError(msg)
        out.append(v)
    return out[0], out[1]


def _classify_p(result: TrendResult, p_increase: Any, p_decrease: Any, *, alpha: float,
                z_crit: float | None, alternative: str, min_valid: int,
                zero_slope_direction: str, dropped: Any,
                n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The class rule with the significance decided by one-sided p-values (see classify)."""
    if p_increase is None or p_decrease is None:
        msg = "give both p_increase and p_decrease (one-sided p-values), or neither"
        raise ValueError(msg)
    if z_crit is not None:
        msg = "z_crit applies to the |Z| rule only; with p-values give alpha"
        raise ValueError(msg)
    alpha = real(alpha, "alpha")
    if not 0 < alpha < 1:
        msg = f"alpha must be in (0, 1), got {alpha!r}"
        raise ValueError(msg)
    alt = choice(alternative, "alternative", _ALTERNATIVES)
    direction, mv = _check_classify_args(result, zero_slope_direction, min_valid)
    pi, pd = _pvalue_arrays(result, p_increase, p_decrease)
    return _classify_call(result, dropped, direction, mv, n_threads, p_increase=pi,
                          p_decrease=pd, p_level=alpha / 2 if alt == 0 else alpha,
                          alternative=alt)
