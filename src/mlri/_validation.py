"""Input validation and dtype policy shared by the public API (no numerics here)."""

from __future__ import annotations

import numbers
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

PAPER_YEARS: tuple[int, ...] = (*range(2000, 2012), *range(2013, 2020))


def default_years(n_time: int) -> np.ndarray:
    """Return the paper's years (2000–2011, 2013–2019) for a 19-step time axis.

    Raises
    ------
    ValueError
        If ``n_time`` is not 19: then ``years`` must be given explicitly.

    Examples
    --------
    >>> import mlri
    >>> years = mlri.default_years(19)
    >>> int(years[0]), int(years[11]), int(years[12]), int(years[-1])
    (2000, 2011, 2013, 2019)
    """
    if n_time != len(PAPER_YEARS):
        msg = (
            f"years is required: the time axis has {n_time} entries, and the default years "
            f"(2000-2011, 2013-2019) only apply to 19 entries. Pass years=[...] with one year "
            f"per time step."
        )
        raise ValueError(msg)
    return np.asarray(PAPER_YEARS, dtype=np.float64)


def years_array(years: Any) -> np.ndarray:
    """``years`` as float64, or a TypeError if they are not numbers."""
    arr = np.asarray(years)
    if arr.dtype.kind not in "iuf":
        msg = f"years must be numeric, got dtype {arr.dtype}"
        raise TypeError(msg)
    return arr.astype(np.float64)


def check_years(years: Sequence[float] | np.ndarray | None, n_time: int, *,
                required: bool = True) -> np.ndarray:
    """Validate ``years`` against a time axis of length ``n_time`` and return float64."""
    if years is None:
        if required:
            return default_years(n_time)
        return np.arange(n_time, dtype=np.float64)
    arr = years_array(years)
    if arr.ndim != 1:
        msg = f"years must be 1-D, got shape {arr.shape}"
        raise ValueError(msg)
    if arr.shape[0] != n_time:
        msg = (f"years has {arr.shape[0]} entries but the time axis (axis 0) has {n_time}; "
               f"give one year per time step")
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        msg = "years must be finite"
        raise ValueError(msg)
    if n_time > 1 and not np.all(np.diff(arr) > 0):
        bad = int(np.argmin(np.diff(arr) > 0))
        msg = (f"years must be strictly increasing; years[{bad}]={arr[bad]:g} is followed by "
               f"years[{bad + 1}]={arr[bad + 1]:g}")
        raise ValueError(msg)
    return arr


def as_float_array(a: Any, name: str) -> np.ndarray:
    """Return ``a`` as float32 or float64 (kept), promoting integers/float16; reject the rest."""
    arr = np.asarray(a)
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype == np.float32 or arr.dtype == np.float64:
            return arr
        return arr.astype(np.float32 if arr.dtype.itemsize < 4 else np.float64)
    if kind in "iu":
        return arr.astype(np.float64)
    msg = (f"{name} must be a real numeric array (float32/float64 or integer), got dtype "
           f"{arr.dtype}")
    raise TypeError(msg)


def check_time_axis(arr: np.ndarray, name: str) -> None:
    """A ValueError naming ``name`` unless ``arr`` has a time axis (axis 0) of length >= 1."""
    if arr.ndim < 1:
        msg = f"{name} must have a time axis: expected shape (time, ...), got a scalar"
        raise ValueError(msg)
    if arr.shape[0] == 0:
        msg = f"{name} has no time steps (axis 0 has length 0); give at least one year"
        raise ValueError(msg)


def as_time_pixel(arr: np.ndarray, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Reshape ``(time, *spatial)`` to a C-contiguous ``(time, pixel)`` view/copy."""
    check_time_axis(arr, name)
    spatial = tuple(arr.shape[1:])
    flat = np.ascontiguousarray(arr.reshape(arr.shape[0], -1))
    return flat, spatial


def integer(value: Any, name: str) -> int:
    """``value`` as an int (Python or NumPy integer, bool excluded), or a TypeError naming
    the parameter: 2.5 is never silently truncated."""
    if isinstance(value, (bool, np.bool_)):
        msg = f"{name} must be an integer, got {value!r}"
        raise TypeError(msg)
    try:
        return operator.index(value)
    except TypeError:
        msg = f"{name} must be an integer, got {value!r}"
        raise TypeError(msg) from None


def real(value: Any, name: str) -> float:
    """``value`` as a float (a Python or NumPy real number), or a TypeError naming the
    parameter."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number, got {value!r}"
        raise TypeError(msg)
    return float(value)


def flag(value: Any, name: str) -> bool:
    """``value`` as a bool (True/False, NumPy's too), or a TypeError naming the parameter:
    a string such as 'no' is never read as True."""
    if not isinstance(value, (bool, np.bool_)):
        msg = f"{name} must be True or False, got {value!r}"
        raise TypeError(msg)
    return bool(value)


def resolve_threads(n_threads: int | None) -> int:
    """``None`` → 0 (all OpenMP threads); otherwise a positive int."""
    if n_threads is None:
        return 0
    try:
        n = operator.index(n_threads)
    except TypeError:
        msg = f"n_threads must be None or a positive integer, got {n_threads!r}"
        raise TypeError(msg) from None
    if n < 1:
        msg = f"n_threads must be None or a positive integer, got {n_threads!r}"
        raise ValueError(msg)
    return n


def choice(value: str, name: str, options: Sequence[str]) -> int:
    """Index of ``value`` in ``options``, or a ValueError naming the parameter."""
    try:
        return list(options).index(value)
    except ValueError:
        msg = f"{name} must be one of {', '.join(repr(o) for o in options)}; got {value!r}"
        raise ValueError(msg) from None
