"""Affine helpers without the ``Affine * point`` operator (deprecated in affine 3)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["apply_affine"]


def apply_affine(t: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """``(x', y') = (a x + b y + c, d x + e y + f)`` for scalars or arrays."""
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f
