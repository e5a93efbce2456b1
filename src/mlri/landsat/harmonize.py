"""Cross-sensor harmonisation of surface reflectance: Landsat TM/ETM+ to OLI-equivalent.

Landsat 5 TM and 7 ETM+ see the surface through wider, differently placed spectral bands than
Landsat 8/9 OLI, so the same surface gives slightly different reflectance — and EVI — from the
two sensor generations.  In a series that joins TM years to OLI years this offset is a step at
the sensor switch, which a trend test cannot tell from a real change.

``"roy2016"`` applies the ordinary-least-squares ETM+ → OLI surface-reflectance transformation
of Roy et al. (2016, Table 2), fitted on paired, near-contemporaneous ETM+ and OLI
surface-reflectance observations::

    OLI = slope × ETM+ + intercept       (reflectance in 0–1 units)

    band     slope    intercept
    blue     0.8474   0.0003
    green    0.8483   0.0088
    red      0.9047   0.0061
    NIR      0.8462   0.0412
    SWIR1    0.8937   0.0254
    SWIR2    0.9071   0.0172

The same coefficients are applied to TM, whose bands are close to ETM+'s (the usual practice,
e.g. in Earth Engine's harmonisation tutorial); OLI reflectance is left unchanged.  EVI needs
blue, red and NIR.  Within the compositor the transformation is folded into the per-band
scale of the surface-reflectance DNs (``SR = DN × mult + add`` becomes
``SR' = DN × (slope·mult) + (slope·add + intercept)``), so it costs nothing; under the
``mask="strict"`` preset the (0, 1) reflectance range test then applies to the harmonised
reflectance.

Reference: Roy, D.P., Kovalskyy, V., Zhang, H.K., Vermote, E.F., Yan, L., Kumar, S.S.,
Egorov, A. (2016) Characterization of Landsat-7 to Landsat-8 reflective wavelength and
normalized difference vegetation index continuity.  Remote Sensing of Environment 185:57–70,
doi:10.1016/j.rse.2015.12.024.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["HARMONIZATIONS", "ROY2016_ETM_TO_OLI", "harmonize_reflectance", "harmonized_scale",
           "needs_harmonization"]

#: Roy et al. (2016) Table 2, OLS ETM+ → OLI surface reflectance: band -> (slope, intercept).
ROY2016_ETM_TO_OLI: dict[str, tuple[float, float]] = {
    "blue": (0.8474, 0.0003),
    "green": (0.8483, 0.0088),
    "red": (0.9047, 0.0061),
    "nir": (0.8462, 0.0412),
    "swir1": (0.8937, 0.0254),
    "swir2": (0.9071, 0.0172),
}

#: Accepted values of the ``harmonize`` option (None = off, the default).
HARMONIZATIONS: tuple[str, ...] = ("roy2016",)

#: Sensor families transformed (OLI is the target and is left unchanged).
_SOURCE_FAMILIES = ("TM", "ETM")


def _check(method: str | None) -> None:
    if method is not None and method not in HARMONIZATIONS:
        msg = (f"harmonize must be None or one of {', '.join(repr(h) for h in HARMONIZATIONS)}, "
               f"got {method!r}")
        raise ValueError(msg)


def needs_harmonization(method: str | None, family: str) -> bool:
    """True when ``method`` transforms reflectance of sensor ``family`` ("TM", "ETM", "OLI")."""
    _check(method)
    return method is not None and family.upper() in _SOURCE_FAMILIES


def _coefficients(band: str) -> tuple[float, float]:
    try:
        return ROY2016_ETM_TO_OLI[band.lower()]
    except KeyError:
        msg = (f"band must be one of {', '.join(ROY2016_ETM_TO_OLI)} for harmonisation, "
               f"got {band!r}")
        raise ValueError(msg) from None


def harmonize_reflectance(sr: Any, band: str, family: str,
                          method: str | None = "roy2016") -> np.ndarray:
    """OLI-equivalent surface reflectance (0–1 units) of a TM/ETM+ ``band``.

    Returns ``slope × sr + intercept`` for TM and ETM+ (NaN stays NaN) and ``sr`` unchanged
    for OLI or ``method=None``.  ``band`` is one of blue, green, red, nir, swir1, swir2.
    """
    arr = np.asarray(sr, dtype=np.float64)
    slope, icpt = _coefficients(band)
    if not needs_harmonization(method, family):
        return arr
    return arr * slope + icpt


def harmonized_scale(mult: float, add: float, band: str, family: str,
                     method: str | None) -> tuple[float, float]:
    """DN scale ``(mult, add)`` of a surface-reflectance band with the harmonisation folded in.

    ``SR = DN × mult + add`` becomes ``slope × SR + intercept = DN × (slope·mult) +
    (slope·add + intercept)`` for TM/ETM+ under ``method``; unchanged otherwise.
    """
    slope, icpt = _coefficients(band)
    if not needs_harmonization(method, family):
        return (mult, add)
    return (mult * slope, add * slope + icpt)
