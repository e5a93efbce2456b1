"""QA_PIXEL masking (Collection 2 CFMask bits).

Presets
-------
``"paper"``
    Drop a pixel when any of bits 0–5 is set: fill, dilated cloud, cirrus (OLI; always 0 on
    TM), cloud, cloud shadow, snow/ice.  Water is kept (the paper does not mask it).
``"strict"``
    The Earth Engine catalog recipe (``pipelines/landsat.py``): the paper bits, AND cloud /
    shadow / snow (/ cirrus on OLI) confidence all "low", AND ``QA_RADSAT == 0``, AND scaled
    blue/red/NIR reflectance in (0, 1), AND aerosol not "high" (OLI ``SR_QA_AEROSOL`` bits 6–7
    != 3; TM/ETM+ ``SR_ATMOS_OPACITY`` < 0.3, missing kept).
``"none"``
    Fill only (QA bit 0 and DN 0), for products without a usable QA band.

``mask_water`` adds bit 7; ``mask_dilated=False`` keeps dilated-cloud pixels (bit 1).
Never build a mask from the *clear* bit 6 alone: it does not exclude shadow or snow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = ["PRESETS", "QA_BITS", "QaRule", "decode_qa", "qa_mask", "qa_rule"]

PRESETS = ("paper", "strict", "none")

#: Collection 2 QA_PIXEL single bits.
QA_BITS: dict[str, int] = {
    "fill": 0, "dilated_cloud": 1, "cirrus": 2, "cloud": 3, "cloud_shadow": 4, "snow": 5,
    "clear": 6, "water": 7,
}
#: Two-bit confidence fields: name -> first bit.
QA_CONFIDENCE: dict[str, int] = {"cloud_conf": 8, "shadow_conf": 10, "snow_conf": 12,
                                 "cirrus_conf": 14}


@dataclass(frozen=True)
class QaRule:
    """Numbers handed to the C++ kernels (see :func:`qa_rule`)."""

    bad_bits: int = 0x3F
    conf_mask: int = 0
    conf_expect: int = 0
    radsat_bad: int = 0
    aerosol_max: int = 4  # drop when aerosol level >= this (4 = never)
    opacity_max: int = 1 << 30  # DN (x 0.001)
    sr_unit_range: bool = False
    preset: str = "paper"

    @property
    def needs_qa(self) -> bool:
        return self.preset != "none"

    @property
    def needs_radsat(self) -> bool:
        return self.radsat_bad != 0

    @property
    def needs_aerosol(self) -> bool:
        return self.aerosol_max < 4

    @property
    def needs_opacity(self) -> bool:
        return self.opacity_max < (1 << 30)

    def kernel_kwargs(self) -> dict[str, Any]:
        return {"bad_bits": self.bad_bits, "conf_mask": self.conf_mask,
                "conf_expect": self.conf_expect, "radsat_bad": self.radsat_bad,
                "aerosol_max": self.aerosol_max, "opacity_max": self.opacity_max}


def qa_rule(preset: str = "paper", family: str = "OLI", *, mask_water: bool = False,
            mask_dilated: bool = True) -> QaRule:
    """The masking rule of a preset for a sensor family ("TM", "ETM" or "OLI")."""
    if preset not in PRESETS:
        msg = f"mask preset must be one of {', '.join(PRESETS)}; got {preset!r}"
        raise ValueError(msg)
    if family not in ("TM", "ETM", "OLI"):
        msg = f"family must be 'TM', 'ETM' or 'OLI', got {family!r}"
        raise ValueError(msg)
    if preset == "none":
        r = QaRule(bad_bits=0, preset="none")
    elif preset == "paper":
        r = QaRule(bad_bits=0x3F, preset="paper")
    else:
        oli = family == "OLI"
        r = QaRule(
            bad_bits=0x3F,
            # confidence fields all "low" (01): TM 3 fields (bits 8-13), OLI 4 (bits 8-15)
            conf_mask=0xFF if oli else 0x3F, conf_expect=0x55 if oli else 0x15,
            radsat_bad=0xFFFF,
            aerosol_max=3 if oli else 4,
            opacity_max=(1 << 30) if oli else 300,
            sr_unit_range=True, preset="strict",
        )
    bits = r.bad_bits
    if mask_water:
        bits |= 1 << QA_BITS["water"]
    if not mask_dilated:
        bits &= ~(1 << QA_BITS["dilated_cloud"])
    return replace(r, bad_bits=bits)


def qa_mask(qa: Any, family: str = "OLI", preset: str = "paper", *, mask_water: bool = False,
            mask_dilated: bool = True, radsat: Any = None,
            n_threads: int | None = None) -> np.ndarray:
    """Boolean keep-mask (True = clear) from a QA_PIXEL array (C++ kernel, OpenMP).

    ``radsat`` (QA_RADSAT) is only used by the "strict" preset.  The SR-range and aerosol
    conditions of "strict" need the reflectance bands and are applied by the compositor.
    """
    from .. import _core
    from .._validation import resolve_threads

    q = np.asarray(qa)
    if q.dtype.kind not in "iu":
        msg = f"qa must be an integer array (QA_PIXEL is uint16), got dtype {q.dtype}"
        raise TypeError(msg)
    if q.size and (q.min() < 0 or q.max() > 0xFFFF):
        msg = "qa values must fit in uint16"
        raise ValueError(msg)
    q = np.ascontiguousarray(q, dtype=np.uint16)
    rule = qa_rule(preset, family, mask_water=mask_water, mask_dilated=mask_dilated)
    rs = None
    if radsat is not None and rule.needs_radsat:
        rs = np.ascontiguousarray(radsat, dtype=np.uint16)
        if rs.shape != q.shape:
            msg = f"radsat shape {rs.shape} differs from qa shape {q.shape}"
            raise ValueError(msg)
    out = _core.landsat_qa_mask(q, radsat=rs, bad_bits=rule.bad_bits, conf_mask=rule.conf_mask,
                                conf_expect=rule.conf_expect, radsat_bad=rule.radsat_bad,
                                n_threads=resolve_threads(n_threads))
    return out.astype(bool)


def decode_qa(value: int) -> dict[str, int]:
    """Decode one QA_PIXEL value: single bits (0/1) and two-bit confidences (0–3)."""
    v = int(value)
    out = {name: (v >> bit) & 1 for name, bit in QA_BITS.items()}
    out.update({name: (v >> bit) & 3 for name, bit in QA_CONFIDENCE.items()})
    return out
