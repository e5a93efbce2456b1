"""Label vocabularies of an accuracy assessment: the schemes, reference-label normalisation and
the map's class codes seen through each scheme.

* ``binary``  - "restored" / "not restored"; the map is restored where its class is in
  ``restored_classes`` (default SI = SAI, SCI, SI_H_undefined), not restored for SD/ND/NI.
* ``classes4`` - SD, ND, NI, SI (map SAI/SCI/SI_H_undefined merged into SI).
* ``classes6`` - SD, ND, NI, SAI, SCI, SI_H_undefined (the map codes 1..6).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..classes import CLASS_NAMES, SI_CODES

__all__ = ["SCHEMES", "map_to_scheme", "normalise_label"]


BINARY = ("restored", "not restored")
CLASSES4 = ("SD", "ND", "NI", "SI")
CLASSES6 = ("SD", "ND", "NI", "SAI", "SCI", "SI_H_undefined")
SCHEMES: dict[str, tuple[str, ...]] = {"binary": BINARY, "classes4": CLASSES4,
                                       "classes6": CLASSES6}
_SI_CODES = SI_CODES

_SYNONYMS = {
    "restored": "restored", "restore": "restored", "yes": "restored", "y": "restored",
    "true": "restored", "recovered": "restored",
    "notrestored": "not restored", "nonrestored": "not restored", "unrestored": "not restored",
    "no": "not restored", "n": "not restored", "false": "not restored",
    "notrecovered": "not restored",
    "sd": "SD", "nd": "ND", "ni": "NI", "sai": "SAI", "sci": "SCI", "si": "SI",
    "sihundefined": "SI_H_undefined", "siu": "SI_H_undefined", "siundefined": "SI_H_undefined",
    "significantdecrease": "SD", "significantdegradation": "SD",
    "nonsignificantdecrease": "ND", "nonsignificantdegradation": "ND",
    "nonsignificantincrease": "NI", "nonsignificantimprovement": "NI",
    "significantincrease": "SI", "significantimprovement": "SI",
}


def normalise_label(v: Any) -> str | None:
    """Map a reference label to a canonical name (None = empty / not understood).

    Accepts restored / not restored (and yes/no, not-restored, non_restored, ...), the class
    names SD, ND, NI, SAI, SCI, SI, SI_H_undefined in any case, and the class codes 1..6.
    """
    if v is None:
        return None
    if isinstance(v, (float, np.floating)) and math.isnan(float(v)):
        return None
    if isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, bool):
        f = float(v)
        if f.is_integer() and int(f) in CLASS_NAMES and int(f) != 0:
            return CLASS_NAMES[int(f)]
        return None
    s = str(v).strip()
    if s == "":
        return None
    if s.isdigit() and int(s) in CLASS_NAMES and int(s) != 0:
        return CLASS_NAMES[int(s)]
    key = re.sub(r"[^a-z0-9]", "", s.lower())
    return _SYNONYMS.get(key)


def _scheme_for(labels: Sequence[str]) -> str:
    s = set(labels)
    if s and s <= set(BINARY):
        return "binary"
    if s & set(BINARY):
        msg = ("reference labels mix restored/not restored with class names "
               f"({', '.join(sorted(s))}); use one vocabulary")
        raise ValueError(msg)
    if "SI" in s:
        return "classes4"
    return "classes6"


def map_to_scheme(codes: np.ndarray, scheme: str,
                  restored_classes: Sequence[int] = _SI_CODES) -> list[str | None]:
    """Map class codes (0..6) to the labels of ``scheme`` (None for nodata / unknown)."""
    out: list[str | None] = []
    rest = {int(c) for c in restored_classes}
    for c in np.asarray(codes).ravel().tolist():
        c = int(c)
        if c not in CLASS_NAMES or c == 0:
            out.append(None)
        elif scheme == "binary":
            out.append("restored" if c in rest else "not restored")
        elif scheme == "classes4":
            out.append("SI" if c in _SI_CODES else CLASS_NAMES[c])
        elif scheme == "classes6":
            out.append(CLASS_NAMES[c])
        else:
            msg = f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}"
            raise ValueError(msg)
    return out


def _ref_to_scheme(label: str, scheme: str) -> str | None:
    if scheme == "binary":
        return label if label in BINARY else None
    if scheme == "classes4":
        return "SI" if label in ("SAI", "SCI", "SI_H_undefined", "SI") else (
            label if label in CLASSES4 else None)
    return label if label in CLASSES6 else None


def _scheme_area(w: np.ndarray, scheme: str, restored_classes: Sequence[int]) -> dict[str, float]:
    names = map_to_scheme(np.arange(7), scheme, restored_classes)
    out: dict[str, float] = dict.fromkeys(SCHEMES[scheme], 0.0)
    for code, nm in enumerate(names):
        if nm is not None:
            out[nm] += float(w[code])
    return out
