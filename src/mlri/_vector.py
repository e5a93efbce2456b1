"""The one way mlri reads a vector file (mine polygons, reference points, areas of interest,
reference or persistence masks): ``pyogrio.raw.read`` with one form of error.

Callers check that the optional packages are installed (each names what it needs them for)
and parse the features they expect; a file GDAL cannot open, or a missing layer, raises here.
"""

from __future__ import annotations

import os
from typing import Any


def read_features(path: str | os.PathLike[str], what: str, *, layer: str | int | None = None,
                  hint: str = "", **kw: Any) -> tuple[Any, ...]:
    """``pyogrio.raw.read(path, layer=layer, **kw)``: ``(meta, fids, geometry (WKB), field
    data)``.  An unreadable file raises ``ValueError("cannot read {what} from {path}: {reason}.
    {hint}")``; ``hint``: a sentence saying what to give instead."""
    import pyogrio

    p = os.fspath(path)
    try:
        return tuple(pyogrio.raw.read(p, layer=layer, **kw))
    except Exception as err:  # pyogrio raises its own DataSourceError / DataLayerError
        reason = str(err).rstrip(" .;")
        msg = f"cannot read {what} from {p}: {reason}." + (f" {hint}" if hint else "")
        raise ValueError(msg) from err
