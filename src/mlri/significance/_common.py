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
