"""Shared helpers of the significance modules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import (
    choice,
)

_ALTERNATIVES = ("two-sided", "increase", "decrease")
_SQRT2 = math.sqrt(2.0)


class SignificanceWarning(UserWarning):
    """A significance result is weaker than requested (too few reference pixels, p floor...)."""


def _unflatten(a: np.ndarray, spatial: tuple[int, ...]) -> Any:
    out = a.reshape(spatial)
    return out[()] if out.ndim == 0 else out



def _tail_alpha(alpha: float, alternative: str) -> float:
    if not 0 < alpha < 1:
        msg = f"alpha must be in (0, 1), got {alpha!r}"
        raise ValueError(msg)
    choice(alternative, "alternative", _ALTERNATIVES)
    return alpha / 2 if alternative == "two-sided" else alpha


def check_seed(seed: Any) -> int:
    """The resampling tests' ``seed`` as an int in [0, 2**64), or an error naming it."""
    from .._validation import integer

    sd = integer(seed, "seed")
    if not 0 <= sd < 2**64:
        msg = f"seed must be an integer in [0, 2**64), got {seed!r}"
        raise ValueError(msg)
    return sd


def check_resampling(n: Any, n_name: str, seed: Any, min_valid: Any) -> tuple[int, int, int]:
    """The validated ``(replicates, seed, min_valid)`` of a resampling test (the permutation
    and sieve tests); errors name the parameter (``n_name`` for the replicate count)."""
    import operator

    b = operator.index(n)
    if not 1 <= b <= 10_000_000:
        msg = f"{n_name} must be in [1, 10_000_000], got {n!r}"
        raise ValueError(msg)
    sd = check_seed(seed)
    mv = operator.index(min_valid)
    if mv < 0:
        msg = f"min_valid must be >= 0, got {min_valid!r}"
        raise ValueError(msg)
    return b, sd, mv
