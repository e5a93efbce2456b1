"""The class vocabulary: one table, matching the C++ enums, used by every writer and figure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlri import _core, api, classes

TYPES_HPP = Path(__file__).resolve().parent.parent / "cpp" / "include" / "mlri" / "types.hpp"


def _enum(name: str) -> dict[str, int]:
    text = TYPES_HPP.read_text()
    body = re.search(r"enum " + name + r"\s*:[^{]*\{(.*?)\};", text, re.DOTALL).group(1)
    out = {}
    for m in re.finditer(r"(k\w+)\s*=\s*([^,/\n]+)", body):
        out[m.group(1)] = int(eval(m.group(2).replace("u", "")))  # "1u << 3" -> 8
    return out


def test_binding_dicts_match_cpp_enums() -> None:
    codes = _enum("ClassCode")
    cpp_names = {"kNodata": "nodata", "kSD": "SD", "kND": "ND", "kNI": "NI", "kSAI": "SAI",
                 "kSCI": "SCI", "kSIH": "SI_H_undefined"}
    assert {cpp_names[k]: v for k, v in codes.items()} == dict(_core.CLASS_CODES)
    bits = _enum("FlagBits")
    cpp_flags = {"kFlagConstant": "constant", "kFlagSlope0Sig": "slope0_significant",
                 "kFlagFewValid": "few_valid", "kFlagYearsDropped": "years_dropped",
                 "kFlagHurstUndefined": "hurst_undefined"}
    assert {cpp_flags[k]: v for k, v in bits.items()} == dict(_core.FLAG_BITS)


def test_vocabulary_covers_every_code_and_bit() -> None:
    assert [c.code for c in classes.CLASSES] == sorted(_core.CLASS_CODES.values())
    assert {c.name: c.code for c in classes.CLASSES} == dict(_core.CLASS_CODES)
    assert {f.name: f.bit for f in classes.FLAGS} == dict(_core.FLAG_BITS)
    assert classes.FLAG_NODATA not in [f.bit for f in classes.FLAGS]
    assert all(c.label and c.description and c.rule for c in classes.CLASSES)
    assert len({c.rgba for c in classes.CLASSES}) == len(classes.CLASSES)
    # the public API re-exports the same objects
    assert api.CLASS_CODES is classes.CLASS_CODES
    assert api.FLAG_BITS is classes.FLAG_BITS
    assert classes.codes_of("SI") == classes.SI_CODES == (4, 5, 6)
    with pytest.raises(ValueError, match="unknown class 'XX'"):
        classes.codes_of("XX")


def test_figures_use_the_map_palette() -> None:
    pytest.importorskip("matplotlib")
    from mlri.sites import figures

    for c in classes.CLASSES:
        if c.name != "nodata":
            assert figures.CLASS_COLORS[c.name] == classes.hex_color(c.rgba)
        assert c.label in figures.CLASS_LABELS[c.name]


def test_xarray_attrs_from_vocabulary() -> None:
    pytest.importorskip("xarray")
    pytest.importorskip("dask")
    from mlri import xarray as mx

    attrs = mx._VAR_ATTRS["classes"]
    assert attrs["flag_values"] == [c.code for c in classes.CLASSES]
    assert attrs["flag_meanings"].split() == [c.name for c in classes.CLASSES]
