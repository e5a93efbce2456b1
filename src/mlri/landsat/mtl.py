"""Landsat C2 metadata files (``_MTL.txt`` ODL, ``_MTL.json``, ``_MTL.xml``).

All three formats are read into the same structure, ``{group: {key: "value"}}`` with string
values (as USGS's JSON has them).  Keys repeat across groups (``PROCESSING_LEVEL`` is ``L2SP`` in
``LEVEL2_PROCESSING_RECORD`` and ``L1TP`` in ``LEVEL1_PROCESSING_RECORD``;
``REFLECTANCE_MULT_BAND_1`` exists in the Level-2 and the Level-1 groups), so every lookup names
its group.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import json
import math
import os
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .ids import LandsatFormatError

__all__ = [
    "SR_ADD",
    "SR_MULT",
    "ST_ADD",
    "ST_MULT",
    "Mtl",
    "parse_mtl",
    "read_mtl",
]

#: Collection 2 Level-2 scale factors (USGS; used when the MTL lacks them).
SR_MULT, SR_ADD = 2.75e-05, -0.2
ST_MULT, ST_ADD = 0.00341802, 149.0
#: Thermal constants by sensor.
K_CONSTANTS: dict[str, tuple[float, float]] = {
    "LT04": (671.62, 1284.30),
    "LT05": (607.76, 1260.56),
    "LE07": (666.09, 1282.71),
    "LC08": (774.8853, 1321.0789),
    "LC09": (799.0284, 1329.2405),
}

#: Largest metadata file read (MTL txt/json/xml; real ones are ~10-60 kB).
MTL_MAX_BYTES = 4 * 2**20

G_CONTENTS = "PRODUCT_CONTENTS"
G_IMAGE = "IMAGE_ATTRIBUTES"
G_PROJ = "PROJECTION_ATTRIBUTES"
G_SR = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
G_ST = "LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"
G_THERMAL = "LEVEL1_THERMAL_CONSTANTS"


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] == '"':
        v = v[1:-1]
    return v


def _parse_odl(text: str, source: str) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {}
    stack: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line == "END":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            msg = f"{source}: line {lineno} is not 'KEY = value' ODL: {raw!r}"
            raise LandsatFormatError(msg)
        key, value = key.strip(), value.strip()
        if key == "GROUP":
            stack.append(value)
            continue
        if key == "END_GROUP":
            if not stack or stack[-1] != value:
                msg = f"{source}: line {lineno}: END_GROUP = {value} does not close an open group"
                raise LandsatFormatError(msg)
            stack.pop()
            continue
        grp = stack[-1] if len(stack) > 1 else (stack[0] if stack else "")
        groups.setdefault(grp, {})[key] = _unquote(value)
    if stack:
        msg = f"{source}: truncated MTL (group {stack[-1]} never closed)"
        raise LandsatFormatError(msg)
    return groups


def _parse_json(text: str, source: str) -> dict[str, dict[str, str]]:
    try:
        # numbers stay text (as USGS writes them): no huge-integer conversion, exact decimals
        obj = json.loads(text, parse_int=str, parse_float=str, parse_constant=str)
    except json.JSONDecodeError as err:
        msg = f"{source}: not valid JSON ({err})"
        raise LandsatFormatError(msg) from None
    except RecursionError:
        msg = f"{source}: not a Landsat MTL (JSON nested too deeply)"
        raise LandsatFormatError(msg) from None
    root = obj.get("LANDSAT_METADATA_FILE") if isinstance(obj, dict) else None
    if not isinstance(root, dict):
        msg = f"{source}: JSON has no LANDSAT_METADATA_FILE object"
        raise LandsatFormatError(msg)
    out = {}
    for g, d in root.items():
        if isinstance(d, dict):
            # nested values do not occur in MTLs: skipped (never stringified whole)
            out[g] = {k: str(v) for k, v in d.items() if not isinstance(v, (dict, list))}
    return out


def _parse_xml(text: str, source: str) -> dict[str, dict[str, str]]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        msg = f"{source}: not valid XML ({err})"
        raise LandsatFormatError(msg) from None
    if root.tag != "LANDSAT_METADATA_FILE":
        msg = f"{source}: XML root is {root.tag}, expected LANDSAT_METADATA_FILE"
        raise LandsatFormatError(msg)
    return {g.tag: {e.tag: (e.text or "").strip() for e in g} for g in root}


def parse_mtl(text: str, fmt: str, source: str = "MTL") -> Mtl:
    """Parse MTL text; ``fmt`` is "txt", "json" or "xml"."""
    parsers = {"txt": _parse_odl, "json": _parse_json, "xml": _parse_xml}
    if fmt not in parsers:
        msg = f"unknown MTL format {fmt!r} (txt, json or xml)"
        raise ValueError(msg)
    groups = parsers[fmt](text, source)
    if G_CONTENTS not in groups:
        msg = f"{source}: not a Landsat MTL (no {G_CONTENTS} group)"
        raise LandsatFormatError(msg)
    return Mtl(groups=groups, source=source)


def mtl_format(name: str) -> str | None:
    """"txt", "json" or "xml" for an ``*_MTL.*`` file name, else None."""
    low = name.lower()
    for ext in ("txt", "json", "xml"):
        if low.endswith(f"_mtl.{ext}"):
            return ext
    return None


def read_mtl(path: str | os.PathLike[str]) -> Mtl:
    """Read an ``_MTL.txt`` / ``_MTL.json`` / ``_MTL.xml`` file."""
    p = Path(path)
    fmt = mtl_format(p.name)
    if fmt is None:
        msg = f"{p}: not an MTL file name (expected *_MTL.txt, *_MTL.json or *_MTL.xml)"
        raise LandsatFormatError(msg)
    try:
        text = read_metadata_text(str(p))
    except OSError as err:
        raise LandsatFormatError(str(err)) from None
    return parse_mtl(text, fmt, str(p))


def read_metadata_text(path: str, limit: int = MTL_MAX_BYTES) -> str:
    """A metadata file (plain or ``/vsitar/``) as text, never more than ``limit`` bytes."""
    if path.startswith("/vsitar/"):
        tar_path, member = _split_vsitar(path)
        with tarfile.open(tar_path) as tf:
            for info in tf:  # stop at the member (getmember() would scan the whole archive)
                if vsitar_member(info.name) == member:
                    break
            else:
                msg = f"{member} not found in {tar_path}"
                raise OSError(msg)
            check_metadata_size(member, info.size, limit)
            fh = tf.extractfile(info)
            if fh is None:
                msg = f"{member} is not a regular file in {tar_path}"
                raise OSError(msg)
            data = fh.read(limit + 1)
    else:
        check_metadata_size(path, os.path.getsize(path), limit)  # noqa: PTH202
        with open(path, "rb") as f:  # noqa: PTH123
            data = f.read(limit + 1)
    check_metadata_size(path, len(data), limit)  # grew meanwhile / lying tar header
    return data.decode("utf-8", errors="replace")


def check_metadata_size(name: str, size: int, limit: int = MTL_MAX_BYTES) -> None:
    """Raise ``OSError`` for a metadata file larger than ``limit`` bytes."""
    if size > limit:
        msg = (f"metadata file {name} is {size / 2**20:.1f} MiB, more than the "
               f"{limit / 2**20:.0f} MiB a Landsat MTL can be (real ones are ~10-60 kB): "
               f"refused without reading it; download the scene again")
        raise OSError(msg)


def vsitar_member(name: str) -> str:
    """A ``.tar`` member's name as GDAL's ``/vsitar/`` knows it: without one leading ``./``.

    ``tar -C scene -cf scene.tar .`` stores ``./LC08_..._QA_PIXEL.TIF``; GDAL indexes that
    member as ``LC08_..._QA_PIXEL.TIF`` and cannot open ``/vsitar/scene.tar/./LC08_...``.
    GDAL strips exactly one ``./`` (``././x`` is found as ``./x``), and so does this.
    """
    return name.removeprefix("./")


def _split_vsitar(path: str) -> tuple[str, str]:
    rest = path[len("/vsitar/"):]
    for ext in (".tar", ".tar.gz", ".tgz"):
        i = rest.lower().find(ext + "/")
        if i >= 0:
            return rest[: i + len(ext)], rest[i + len(ext) + 1:]
    msg = f"cannot split tar path {path}"
    raise OSError(msg)


@dataclass
class Mtl:
    """Parsed MTL: ``groups[group][key]`` -> string value."""

    groups: dict[str, dict[str, str]]
    source: str = "MTL"
    _warned: set[str] = field(default_factory=set, repr=False)

    def get(self, group: str, key: str, default: str | None = None) -> str | None:
        return self.groups.get(group, {}).get(key, default)

    def float(self, group: str, key: str) -> builtins.float | None:
        v = self.get(group, key)
        if v is None or v == "":
            return None
        try:
            f = float(v)
        except ValueError:
            return None
        return f if math.isfinite(f) else None

    # ---- identity -----------------------------------------------------------------------
    @property
    def product_id(self) -> str | None:
        return self.get(G_CONTENTS, "LANDSAT_PRODUCT_ID")

    @property
    def processing_level(self) -> str | None:
        return self.get(G_CONTENTS, "PROCESSING_LEVEL")

    @property
    def collection(self) -> int | None:
        v = self.get(G_CONTENTS, "COLLECTION_NUMBER")
        return int(v) if v and v.strip().isdigit() and len(v.strip()) <= 4 else None

    @property
    def tier(self) -> str | None:
        return self.get(G_CONTENTS, "COLLECTION_CATEGORY")

    @property
    def spacecraft(self) -> str | None:
        return self.get(G_IMAGE, "SPACECRAFT_ID")

    @property
    def sensor_id(self) -> str | None:
        return self.get(G_IMAGE, "SENSOR_ID")

    @property
    def date_acquired(self) -> _dt.date | None:
        v = self.get(G_IMAGE, "DATE_ACQUIRED")
        try:
            return _dt.date.fromisoformat(v) if v else None
        except ValueError:
            return None

    @property
    def wrs_path(self) -> int | None:
        """WRS-2 path as int (``"090"``, ``"90"`` and ``90`` all occur in real MTLs)."""
        v = self.float(G_IMAGE, "WRS_PATH")
        return None if v is None else int(v)

    @property
    def wrs_row(self) -> int | None:
        v = self.float(G_IMAGE, "WRS_ROW")
        return None if v is None else int(v)

    @property
    def sun_elevation(self) -> builtins.float | None:
        return self.float(G_IMAGE, "SUN_ELEVATION")

    @property
    def cloud_cover(self) -> builtins.float | None:
        return self.float(G_IMAGE, "CLOUD_COVER")

    @property
    def map_projection(self) -> str | None:
        return self.get(G_PROJ, "MAP_PROJECTION")

    @property
    def utm_zone(self) -> int | None:
        v = self.get(G_PROJ, "UTM_ZONE")
        ok = v and v.strip().lstrip("-").isdigit() and len(v.strip()) <= 4
        return int(v) if ok else None  # type: ignore[arg-type]

    def corners_lonlat(self) -> list[tuple[builtins.float, builtins.float]] | None:
        """Product corners (UL, UR, LR, LL) as (lon, lat), or None when absent."""
        out = []
        for c in ("UL", "UR", "LR", "LL"):
            lat = self.float(G_PROJ, f"CORNER_{c}_LAT_PRODUCT")
            lon = self.float(G_PROJ, f"CORNER_{c}_LON_PRODUCT")
            if lat is None or lon is None:
                return None
            out.append((lon, lat))
        return out

    # ---- files and scale factors ---------------------------------------------------------
    def file_names(self) -> dict[str, str]:
        """Suffix (e.g. "SR_B4", "ST_B10", "QA_PIXEL") -> file name, from PRODUCT_CONTENTS."""
        out: dict[str, str] = {}
        pid = self.product_id or ""
        for key, name in self.groups.get(G_CONTENTS, {}).items():
            if not key.startswith("FILE_NAME_") or not name:
                continue
            stem = Path(name).stem
            suffix = stem[len(pid) + 1:] if pid and stem.startswith(pid + "_") else stem
            out[suffix.upper()] = name
        return out

    def sr_scale(self, band: int) -> tuple[builtins.float, builtins.float]:
        """(mult, add) of ``SR_B<band>`` from the Level-2 group, else the C2 constants."""
        m = self.float(G_SR, f"REFLECTANCE_MULT_BAND_{band}")
        a = self.float(G_SR, f"REFLECTANCE_ADD_BAND_{band}")
        return (SR_MULT if m is None else m, SR_ADD if a is None else a)

    def st_scale(self, st_band: str) -> tuple[builtins.float, builtins.float]:
        """(mult, add) of ``ST_B6``/``ST_B10`` from the Level-2 group, else the C2 constants."""
        m = self.float(G_ST, f"TEMPERATURE_MULT_BAND_{st_band}")
        a = self.float(G_ST, f"TEMPERATURE_ADD_BAND_{st_band}")
        return (ST_MULT if m is None else m, ST_ADD if a is None else a)

    def thermal_constants(self, sensor: str) -> tuple[builtins.float, builtins.float]:
        """(K1, K2) of the thermal band (LEVEL1_THERMAL_CONSTANTS), else the sensor constants."""
        band = "10" if sensor in ("LC08", "LC09") else "6"
        k1 = self.float(G_THERMAL, f"K1_CONSTANT_BAND_{band}")
        k2 = self.float(G_THERMAL, f"K2_CONSTANT_BAND_{band}")
        if k1 is None and band == "6":  # ETM+ has B6 VCID 1 / 2
            k1 = self.float(G_THERMAL, "K1_CONSTANT_BAND_6_VCID_1")
            k2 = self.float(G_THERMAL, "K2_CONSTANT_BAND_6_VCID_1")
        d1, d2 = K_CONSTANTS[sensor]
        return (d1 if k1 is None else k1, d2 if k2 is None else k2)

    def as_dict(self) -> Mapping[str, Mapping[str, str]]:
        return self.groups
