"""Safety check of ``.vrt`` inputs.

A GDAL VRT is an XML recipe that may read *any* file GDAL can open (``/etc/passwd`` through a
raw band, another user's data, a URL through ``/vsicurl/``) or run inline code (pixel
functions).  ``mlri run`` accepts a VRT only when every source it names lies inside the folders
of the inputs (or the VRT's own folder), is a plain file path, and no inline code is present;
nested VRTs are checked the same way.  Set the environment variable ``MLRI_VRT_ANY_SOURCE=1``
(or pass ``allow_any_vrt_source=True`` to :func:`mlri.io.open_inputs`) to lift the folder rule
for VRTs you trust.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ._names import InputError

__all__ = ["ENV_ALLOW", "check_vrt", "is_vrt"]

ENV_ALLOW = "MLRI_VRT_ANY_SOURCE"
VRT_MAX_BYTES = 16 * 2**20
_MAX_DEPTH = 8
_SOURCE_TAGS = {"sourcefilename", "srcdataset"}
_PREFIX = re.compile(r"^(/vsi[a-z0-9_]*/|[A-Za-z][A-Za-z0-9_]+:)")


def is_vrt(path: str | os.PathLike[str]) -> bool:
    """True for a ``.vrt`` name or a local file whose first bytes hold GDAL's VRT root element:
    GDAL recognises a VRT by its content, so a VRT named ``.tif`` is still one."""
    if str(path).lower().endswith(".vrt"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:  # not a local file (a URL) or unreadable: opening will tell
        return False
    return b"<VRTDataset" in head


def allowed_anywhere(flag: bool | None = None) -> bool:
    """The explicit flag, else the ``MLRI_VRT_ANY_SOURCE`` environment variable."""
    if flag is not None:
        return bool(flag)
    return os.environ.get(ENV_ALLOW, "").strip().lower() in ("1", "true", "yes")


def _attr(el: ET.Element, name: str) -> str | None:
    for k, v in el.attrib.items():
        if k.lower() == name.lower():
            return v
    return None


def check_vrt(path: str, roots: Sequence[str | os.PathLike[str]], var: str, *,
              anywhere: bool = False, _depth: int = 0) -> None:
    """Raise :class:`InputError` when the VRT ``path`` reads outside ``roots`` (see module)."""
    p = Path(path)
    hint = (f"a .vrt can read any file, so mlri only reads VRT sources inside the input "
            f"folders; move the sources there, or set {ENV_ALLOW}=1 if you trust this VRT")
    if _depth > _MAX_DEPTH:
        msg = f"{var} input {path}: VRTs nested more than {_MAX_DEPTH} deep"
        raise InputError(msg)
    try:
        size = p.stat().st_size
        if size > VRT_MAX_BYTES:
            msg = (f"{var} input {path} is a {size / 2**20:.0f} MiB VRT (more than "
                   f"{VRT_MAX_BYTES // 2**20} MiB of XML): refused")
            raise InputError(msg)
        root = ET.fromstring(p.read_bytes())
    except (OSError, ET.ParseError) as err:
        msg = f"cannot read {var} input {path} as a VRT (XML): {err}"
        raise InputError(msg) from None
    base = p.resolve().parent
    real_roots = [Path(r).resolve() for r in roots] + [base]
    for el in root.iter():
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if tag in ("pixelfunctioncode", "pixelfunctionlanguage") and not anywhere:
            msg = f"{var} input {path} holds an inline pixel function (code): refused; {hint}"
            raise InputError(msg)
        if tag not in _SOURCE_TAGS:
            continue
        src = (el.text or "").strip()
        if not src:
            continue
        if _PREFIX.match(src) and not re.match(r"^[A-Za-z]:[\\/]", src):
            if anywhere:
                continue
            msg = (f"{var} input {path} reads {src!r}, a GDAL virtual file system or "
                   f"driver-prefixed source, not a plain file: refused; {hint}")
            raise InputError(msg)
        rel = _attr(el, "relativeToVRT") == "1"
        full = (base / src if rel else Path(src)).resolve()
        if not anywhere and not any(full.is_relative_to(r) for r in real_roots):
            folders = ", ".join(dict.fromkeys(str(r) for r in real_roots))
            msg = (f"{var} input {path} reads {full}, outside the input folder(s) {folders}: "
                   f"refused; {hint}")
            raise InputError(msg)
        if full.is_file() and is_vrt(full):
            check_vrt(str(full), roots, var, anywhere=anywhere, _depth=_depth + 1)
