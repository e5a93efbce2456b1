"""The class vocabulary: restoration class codes, names, labels, descriptions, colours, flag bits.

This is the one home of every word and colour that describes a class or a flag.  The codes and
bits themselves come from the compiled kernels (:mod:`mlri._core`, which mirrors the C++ enums
``ClassCode`` and ``FlagBits`` of ``cpp/include/mlri/types.hpp``); everything else — the
``classes.tif`` colour table and category names, the ``flags.tif`` tags, the xarray CF
attributes, the figures, the report and the zonal tables — derives from the tables below.

Classes (the rule of the MLRI paper, Tang et al.; ``|Z| > z_crit`` strictly, direction from
Sen's slope, Hurst split at 0.5):

====  ==============  =====================================================================
code  name            meaning
====  ==============  =====================================================================
0     nodata          no data, or fewer than ``min_valid`` valid years
1     SD              significant decrease (degradation)
2     ND              non-significant decrease
3     NI              non-significant increase
4     SAI             significant increase, anti-persistent (H <= 0.5)
5     SCI             significant increase, consistent (H > 0.5)
6     SI_H_undefined  significant increase, Hurst exponent undefined
====  ==============  =====================================================================

``SI`` (significant increase) is the group SAI + SCI + SI_H_undefined.
"""

from __future__ import annotations

from typing import NamedTuple

from . import _core

__all__ = [
    "CLASSES",
    "CLASS_CODES",
    "CLASS_COLORS",
    "CLASS_DESCRIPTIONS",
    "CLASS_LABELS",
    "CLASS_NAMES",
    "FLAGS",
    "FLAG_BITS",
    "FLAG_NODATA",
    "FLAG_NODATA_MEANING",
    "GROUPS",
    "NODATA_DISPLAY_RGBA",
    "SI_CODES",
    "ClassInfo",
    "FlagInfo",
    "codes_of",
    "hex_color",
    "label_of",
    "rgba_of",
]


class ClassInfo(NamedTuple):
    """One restoration class."""

    code: int
    #: short name (``classes.tif`` category name, table column, legend key)
    name: str
    #: a few words for legends
    label: str
    #: one sentence (``classes.tif`` tags, ``summary.json``)
    description: str
    #: how the class is decided
    rule: str
    #: RGBA colour of the ``classes.tif`` colour table and of every figure
    rgba: tuple[int, int, int, int]


class FlagInfo(NamedTuple):
    """One bit of ``flags.tif``."""

    bit: int
    name: str
    description: str


#: uint8 restoration class codes, name -> code (from the compiled kernels).
CLASS_CODES: dict[str, int] = dict(_core.CLASS_CODES)
#: code -> name.
CLASS_NAMES: dict[int, str] = {v: k for k, v in CLASS_CODES.items()}
#: bits of the ``flags`` output of :func:`mlri.classify`, name -> bit (from the kernels).
FLAG_BITS: dict[str, int] = dict(_core.FLAG_BITS)

_C = CLASS_CODES
#: Every class, in code order.
CLASSES: tuple[ClassInfo, ...] = tuple(sorted((
    ClassInfo(_C["nodata"], "nodata", "no data",
              "no data / fewer than min_valid valid years",
              "too few valid years, outside the data, or masked", (0, 0, 0, 0)),
    ClassInfo(_C["SD"], "SD", "significant decrease", "significant degradation",
              "significant trend (|Z| > z_crit), Sen slope <= 0", (202, 0, 32, 255)),
    ClassInfo(_C["ND"], "ND", "non-significant decrease", "non-significant degradation",
              "no significant trend, Sen slope <= 0", (244, 165, 130, 255)),
    ClassInfo(_C["NI"], "NI", "non-significant increase", "non-significant improvement",
              "no significant trend, Sen slope > 0", (217, 240, 163, 255)),
    ClassInfo(_C["SAI"], "SAI", "significant anti-persistent increase",
              "significant improvement, anti-persistent (H <= 0.5)",
              "significant trend (|Z| > z_crit), Sen slope > 0, Hurst H <= 0.5",
              (120, 198, 121, 255)),
    ClassInfo(_C["SCI"], "SCI", "significant consistent increase",
              "significant improvement, consistent (H > 0.5)",
              "significant trend (|Z| > z_crit), Sen slope > 0, Hurst H > 0.5",
              (0, 104, 55, 255)),
    ClassInfo(_C["SI_H_undefined"], "SI_H_undefined", "significant increase, Hurst undefined",
              "significant improvement, Hurst exponent undefined",
              "significant trend, Sen slope > 0, Hurst exponent undefined",
              (65, 182, 196, 255)),
)))
if {c.code for c in CLASSES} != set(CLASS_NAMES):  # pragma: no cover - guards a kernel change
    msg = f"mlri.classes does not describe the kernel's classes {sorted(CLASS_NAMES)}"
    raise ImportError(msg)

_BY_NAME = {c.name: c for c in CLASSES}

#: Groups of classes reported together: name -> (codes, label, RGBA).
GROUPS: dict[str, tuple[tuple[int, ...], str, tuple[int, int, int, int]]] = {
    "SI": ((_C["SAI"], _C["SCI"], _C["SI_H_undefined"]), "significant increase",
           (26, 152, 80, 255)),
}
#: Codes of the significant-increase classes (the ``SI`` group).
SI_CODES: tuple[int, ...] = GROUPS["SI"][0]

#: code -> name (``classes.tif`` category names).
CLASS_LABELS: dict[int, str] = {c.code: c.name for c in CLASSES}
#: code -> one-sentence description.
CLASS_DESCRIPTIONS: dict[int, str] = {c.code: c.description for c in CLASSES}
#: code -> RGBA colour (``classes.tif`` colour table; 0 = transparent).
CLASS_COLORS: dict[int, tuple[int, int, int, int]] = {c.code: c.rgba for c in CLASSES}

_FLAG_TEXT = {
    "constant": "all valid values are equal",
    "slope0_significant": "Sen slope is 0 but the trend is significant",
    "few_valid": "fewer than min_valid valid years (class forced to nodata)",
    "years_dropped": "at least one year dropped by the EVI/LST guard (evi_min, LST <= 0 K)",
    "hurst_undefined": "the Hurst exponent is undefined",
}
#: Every flag bit, in bit order.
FLAGS: tuple[FlagInfo, ...] = tuple(sorted(
    (FlagInfo(b, n, _FLAG_TEXT.get(n, n)) for n, b in FLAG_BITS.items())))
#: ``flags.tif`` value of pixels without any LST+EVI observation (outside the data).
FLAG_NODATA = 255
FLAG_NODATA_MEANING = "255: no LST+EVI observation in any year"

#: Display colour of no-data areas in figures (the colour table keeps them transparent).
NODATA_DISPLAY_RGBA = (217, 217, 217, 255)


def codes_of(name: str) -> tuple[int, ...]:
    """Codes making up a class or group name (``"SI"`` -> (4, 5, 6), ``"SD"`` -> (1,))."""
    if name in GROUPS:
        return GROUPS[name][0]
    if name in _BY_NAME:
        return (_BY_NAME[name].code,)
    known = ", ".join((*_BY_NAME, *GROUPS))
    msg = f"unknown class {name!r}; the classes are: {known}"
    raise ValueError(msg)


def label_of(name: str) -> str:
    """Legend label of a class or group name (``"SD"`` -> ``"significant decrease"``)."""
    if name in GROUPS:
        return GROUPS[name][1]
    return _BY_NAME[name].label


def rgba_of(name: str, *, display: bool = False) -> tuple[int, int, int, int]:
    """RGBA of a class or group name; ``display=True`` gives no-data an opaque grey."""
    if name in GROUPS:
        return GROUPS[name][2]
    if display and name == "nodata":
        return NODATA_DISPLAY_RGBA
    return _BY_NAME[name].rgba


def hex_color(rgba: tuple[int, ...]) -> str:
    """``(r, g, b[, a])`` -> ``"#rrggbb"`` (for matplotlib / HTML)."""
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])
