"""mlri — Mine Landscape Restoration Index from Landsat time series.

Per-pixel MLRI (running-extrema LST/EVI ratio), Mann–Kendall / Sen's slope / Hurst trends and
restoration classes, computed by C++/OpenMP kernels on NumPy arrays, tiled rasters or Dask.
"""

from __future__ import annotations

import os as _os

# The kernels' OpenMP threads share the cores with GDAL's reading and compressing threads in
# the tiled pipeline, so an idle OpenMP thread should sleep rather than spin (spinning cost
# ~10 % of a run's wall time on 2 cores).  libgomp reads this when the extension loads it; a
# value set by the user wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    from . import _core
except ImportError as err:  # pragma: no cover - only hit on a broken install
    if "_core" not in str(err):
        raise
    msg = (
        "mlri's compiled extension mlri._core is missing. Install mlri with `pip install .` "
        "(or `pip install mlri`) instead of importing it from the source tree."
    )
    raise ImportError(msg) from err

from . import significance
from ._info import show_versions
from ._trend_ci import SenInterval, sen_interval
from ._version import __version__
from .api import (
    CLASS_CODES,
    CLASS_NAMES,
    FLAG_BITS,
    IndexResult,
    TrendResult,
    classify,
    default_years,
    hurst,
    index,
    mann_kendall,
    sens_slope,
    trend,
)
from .onset import OnsetResult, onset

__all__ = [
    "CLASS_CODES",
    "CLASS_NAMES",
    "FLAG_BITS",
    "IndexResult",
    "OnsetResult",
    "SenInterval",
    "TrendResult",
    "__version__",
    "classify",
    "default_years",
    "hurst",
    "index",
    "mann_kendall",
    "onset",
    "sen_interval",
    "sens_slope",
    "show_versions",
    "significance",
    "trend",
]


def __dir__() -> list[str]:
    return __all__
