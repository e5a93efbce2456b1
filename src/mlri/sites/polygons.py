"""Mine polygons: read (GeoPackage / GeoJSON / Shapefile), validate, reproject.

Geometries are handled with shapely 2 and read with pyogrio (no geopandas).  Problems with one
feature never stop a run: they raise a :class:`~mlri.sites.SitesWarning` that names the feature
(id, and name when known) and the feature keeps a ``status`` / ``note`` explaining what happened.

Start years
-----------
The start-year column may hold exact years (``2004``, ``"2004"``) or open labels such as
``"Before 2000"``, ``"<2000"``, ``"pre-2000"`` (and ``"From 2000"``, ``">=2000"``, ``"after 1999"``).
:func:`parse_start_year` turns them into :class:`StartYear`; :func:`start_group` and
:func:`mining_duration` implement the paper's grouping and duration rule (see their docstrings).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._vector import read_features
from ._deps import SitesWarning, require

__all__ = [
    "Mines",
    "StartYear",
    "mining_duration",
    "parse_start_year",
    "read_mines",
    "start_group",
]

#: Column names tried (case-insensitively) when no id column is given.
ID_CANDIDATES = ("id", "mine_id", "site_id", "mineid", "siteid")
#: Maximum number of individual warnings per kind before a summary warning is given.
MAX_WARNINGS = 20


# ------------------------------------------------------------------------------------------
# start years
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StartYear:
    """A parsed mining start year.

    Exactly one of ``exact``, ``before``, ``from_`` is set for a known value; all are None for
    a missing or unparseable one.  ``before=2000`` means "started before 2000" (the latest
    possible start is 1999); ``from_=2000`` means "started in 2000 or later".
    """

    exact: int | None = None
    before: int | None = None
    from_: int | None = None
    raw: Any = None

    @property
    def known(self) -> bool:
        return self.exact is not None or self.before is not None or self.from_ is not None


_BEFORE_RE = re.compile(r"^(?:before|pre|prior\s+to|earlier\s+than|<)\s*-?\s*(\d{4})$", re.IGNORECASE)
_BEFORE_LE_RE = re.compile(r"^(?:<=|≤)\s*(\d{4})$", re.IGNORECASE)
_FROM_RE = re.compile(r"^(?:from|since|>=|≥|in\s+or\s+after)\s*-?\s*(\d{4})$|^(\d{4})\s*\+$",
                      re.IGNORECASE)
_AFTER_RE = re.compile(r"^(?:after|post|>)\s*-?\s*(\d{4})$", re.IGNORECASE)
_NUM_RE = re.compile(r"^[+-]?\d{3,4}(?:\.0*)?$")


def parse_start_year(value: Any) -> StartYear:
    """Parse a start-year cell.  Raises ValueError on text it does not understand."""
    if value is None:
        return StartYear(raw=value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return StartYear(exact=int(value), raw=value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return StartYear(raw=value)
        if not f.is_integer():
            msg = f"start year {value!r} is not a whole year"
            raise ValueError(msg)
        return StartYear(exact=int(f), raw=value)
    s = str(value).strip()
    if s == "" or s.lower() in ("na", "nan", "none", "null", "unknown", "-"):
        return StartYear(raw=value)
    if _NUM_RE.match(s):
        return StartYear(exact=int(float(s)), raw=value)
    if m := _BEFORE_RE.match(s):
        return StartYear(before=int(m.group(1)), raw=value)
    if m := _BEFORE_LE_RE.match(s):
        return StartYear(before=int(m.group(1)) + 1, raw=value)
    if m := _FROM_RE.match(s):
        return StartYear(from_=int(m.group(1) or m.group(2)), raw=value)
    if m := _AFTER_RE.match(s):
        return StartYear(from_=int(m.group(1)) + 1, raw=value)
    msg = (f"start year {value!r} is not understood: use a year (2004) or 'Before 2000' / "
           f"'From 2000'")
    raise ValueError(msg)


def start_group(sy: StartYear, threshold: int = 2000) -> str | None:
    """The paper's two groups: ``"Before <t>"`` / ``"From <t>"`` (None when undecidable).

    Exact years compare with ``threshold``; ``before=b`` is "Before" when ``b <= threshold``;
    ``from_=f`` is "From" when ``f >= threshold``.  Anything else (e.g. "Before 2005" with
    threshold 2000, or a missing value) is None and is left out of the group test.
    """
    before, after = f"Before {threshold}", f"From {threshold}"
    if sy.exact is not None:
        return before if sy.exact < threshold else after
    if sy.before is not None:
        return before if sy.before <= threshold else None
    if sy.from_ is not None:
        return after if sy.from_ >= threshold else None
    return None


def mining_duration(sy: StartYear, reference_year: int) -> float:
    """Years of mining up to ``reference_year`` (NaN when unknown).

    * exact start year ``s``: ``reference_year - s``;
    * "Before b" (e.g. "Before 2000"): ``reference_year - b + 1`` — the paper's rule, i.e. the
      mine is taken to have started in ``b - 1``, the latest start consistent with the label,
      so the duration is a lower bound;
    * "From f" or missing: NaN (left out of the correlation).
    """
    if sy.exact is not None:
        return float(reference_year - sy.exact)
    if sy.before is not None:
        return float(reference_year - sy.before + 1)
    return float("nan")


# ------------------------------------------------------------------------------------------
# mines
# ------------------------------------------------------------------------------------------
@dataclass
class Mines:
    """Mine polygons with their attributes, in one CRS.

    Attributes
    ----------
    ids : list of str
        Unique feature ids (from ``id_col``, else the file's feature id).
    geoms : ndarray of object
        shapely (Multi)Polygons; None for features that cannot be used (see ``status``).
    crs : str or None
        WKT of the geometries' CRS.
    attrs : dict of str -> list
        ``name``, ``region``, ``start`` (raw values) when the columns were given, plus any
        extra columns requested.
    status : list of str
        "ok", "repaired" (invalid geometry fixed with ``make_valid``) or "skipped".
    notes : list of str
        Why a feature was repaired or skipped ("" when fine).
    source : str
        The file read.
    """

    ids: list[str]
    geoms: np.ndarray
    crs: str | None
    attrs: dict[str, list[Any]] = field(default_factory=dict)
    status: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    def label(self, i: int) -> str:
        """'id' or 'id (name)' for messages."""
        name = (self.attrs.get("name") or [None] * len(self))[i]
        return f"{self.ids[i]!r}" + (f" ({name})" if name not in (None, "") else "")

    def title(self, i: int) -> str:
        """'id' or 'id (name)' for figure titles (no quotes)."""
        name = (self.attrs.get("name") or [None] * len(self))[i]
        return f"{self.ids[i]}" + (f" ({name})" if name not in (None, "") else "")

    def to_crs(self, crs: Any) -> Mines:
        """Reproject to ``crs`` (anything pyproj accepts); a no-op when already there.

        Edges are densified before the transform (at most 1/64 of the feature's extent per
        segment) so long straight edges follow the curvature of the target projection.
        """
        if crs is None:
            return self
        pyproj = require("pyproj", "reprojecting mine polygons")
        shapely = require("shapely", "mine polygons")
        dst = pyproj.CRS.from_user_input(crs)
        if self.crs is None:
            _warn(f"{self.source}: the polygons have no CRS; assuming they are in the raster's "
                  f"CRS ({dst.name}). Set the layer's CRS to silence this.")
            return replace(self, crs=dst.to_wkt())
        src = pyproj.CRS.from_user_input(self.crs)
        if src == dst:
            return self
        tr = pyproj.Transformer.from_crs(src, dst, always_xy=True)
        geoms = self.geoms.copy()
        status, notes = list(self.status), list(self.notes)
        ok = np.array([g is not None for g in geoms])
        if ok.any():
            g = geoms[ok]
            b = shapely.bounds(g)
            ext = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
            ext = np.where(np.isfinite(ext) & (ext > 0), ext / 64.0, 1.0)
            g = shapely.segmentize(g, ext)

            def _tr(xy: np.ndarray) -> np.ndarray:
                x, y = tr.transform(xy[:, 0], xy[:, 1], errcheck=False)
                return np.column_stack([x, y])

            g = shapely.transform(g, _tr)
            geoms[ok] = g
        bad = []
        for i in np.flatnonzero(ok):
            gi = geoms[i]
            if not np.isfinite(shapely.bounds(gi)).all():
                geoms[i] = None
                status[i] = "skipped"
                notes[i] = f"cannot be reprojected to {dst.name}"
                bad.append(int(i))
            elif not shapely.is_valid(gi):
                fixed = _polygonal(shapely.make_valid(gi))
                geoms[i] = fixed
                if fixed is None:
                    status[i], notes[i] = "skipped", "invalid after reprojection"
                    bad.append(int(i))
        out = replace(self, geoms=geoms, crs=dst.to_wkt(), status=status, notes=notes)
        _warn_many(out, bad, "skipped")
        return out


def _warn(msg: str) -> None:
    warnings.warn(msg, SitesWarning, stacklevel=3)


def _warn_many(m: Mines, idx: list[int], what: str) -> None:
    for k, i in enumerate(idx):
        if k == MAX_WARNINGS:
            _warn(f"{m.source}: ... and {len(idx) - MAX_WARNINGS} more features {what} "
                  f"(see the status/note columns)")
            break
        _warn(f"{m.source}: mine {m.label(i)} {what}: {m.notes[i]}")


def _polygonal(g: Any) -> Any:
    """Keep the polygonal part of a geometry (None when there is none)."""
    shapely = require("shapely", "mine polygons")
    if g is None or shapely.is_empty(g):
        return None
    t = shapely.get_type_id(g)
    if t in (3, 6):  # Polygon, MultiPolygon
        return g
    parts = shapely.get_parts(g)
    polys = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
    if not polys:
        # nested collections
        polys = [q for p in parts if shapely.get_type_id(p) == 7
                 for q in shapely.get_parts(p) if shapely.get_type_id(q) in (3, 6)]
    if not polys:
        return None
    u = shapely.union_all(polys)
    return None if shapely.is_empty(u) else u


def _find_col(fields: list[str], want: str | None, role: str, path: str, *,
              required: bool) -> str | None:
    if want is None:
        return None
    for f in fields:
        if f == want:
            return f
    for f in fields:
        if f.lower() == want.lower():
            return f
    if required:
        msg = (f"{path} has no column {want!r} for the {role}; columns are: "
               f"{', '.join(fields) or '(none)'}. Pass the right name with --{role}-col")
        raise ValueError(msg)
    return None


def _layer_names(path: str) -> list[str]:
    """Layer names of a vector file (empty when they cannot be listed)."""
    import pyogrio

    try:
        return [str(x[0]) for x in pyogrio.list_layers(path)]
    except Exception:  # noqa: BLE001 - only used to improve an error message
        return []


def read_mines(
    path: str | os.PathLike[str],
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    region_col: str | None = None,
    start_col: str | None = None,
    extra_cols: tuple[str, ...] | list[str] = (),
    layer: str | int | None = None,
    invalid: str = "repair",
) -> Mines:
    """Read mine polygons from any OGR vector file (GeoPackage, GeoJSON, Shapefile, ...).

    Parameters
    ----------
    path : path
        The vector file.
    id_col : str, optional
        Column with a unique mine id.  Default: the first of ``id``, ``mine_id``, ``site_id``
        (any case) that exists, else the file's feature id (FID).
    name_col, region_col, start_col : str, optional
        Columns for the mine name, region and mining start year.  A given column that does not
        exist raises ValueError listing the available columns.
    extra_cols : sequence of str
        Further columns to keep (e.g. a categorical column for group tests).
    layer : str or int, optional
        Layer of a multi-layer file (GeoPackage); default the first.
    invalid : {"repair", "skip"}
        Invalid geometries (self-intersections, ...) are repaired with ``shapely.make_valid``
        (default) or skipped.  Either way a SitesWarning names the feature.

    Returns
    -------
    Mines
        In the file's CRS.  Null/empty and non-polygon geometries are kept as ``None`` with
        status "skipped" (and a warning).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, unreadable file, no features, missing column, duplicate ids.
    """
    require("pyogrio", "reading mine polygons")
    shapely = require("shapely", "mine polygons")
    if invalid not in ("repair", "skip"):
        msg = f"invalid must be 'repair' or 'skip', got {invalid!r}"
        raise ValueError(msg)
    p = os.fspath(path)
    if not p.startswith("/vsi") and not Path(p).exists():
        msg = f"mine polygon file {p} does not exist; check --mines"
        raise FileNotFoundError(msg)
    meta, fids, geom_wkb, field_data = read_features(
        p, "mine polygons", layer=layer, force_2d=True, return_fids=True,
        hint="Use a GeoPackage, GeoJSON or Shapefile (and --layer for a multi-layer file).")
    fields = [str(f) for f in meta["fields"]]
    cols = dict(zip(fields, field_data, strict=False))
    n = len(geom_wkb) if geom_wkb is not None else 0
    if geom_wkb is None:
        msg = f"{p} has no geometry column; mine polygons are needed"
        raise ValueError(msg)
    if n == 0:
        msg = (f"{p}{f' (layer {layer!r})' if layer is not None else ''} holds no features; "
               f"--mines needs a file with one polygon per mine")
        layers = _layer_names(p)
        if len(layers) > 1:
            msg += f" (its layers: {', '.join(layers)}; choose one with --layer)"
        raise ValueError(msg)

    # ids
    idc = _find_col(fields, id_col, "id", p, required=True)
    if idc is None:
        for cand in ID_CANDIDATES:
            idc = _find_col(fields, cand, "id", p, required=False)
            if idc is not None:
                break
    if idc is not None:
        raw_ids = list(cols[idc])
        ids = [_id_text(v) for v in raw_ids]
        missing = [i for i, v in enumerate(ids) if v == ""]
        if missing:
            msg = (f"{p}: column {idc!r} is empty for {len(missing)} feature(s) (first: "
                   f"feature #{missing[0] + 1}); every mine needs an id (or pass another "
                   f"--id-col)")
            raise ValueError(msg)
    else:
        ids = [str(int(f)) for f in (fids if fids is not None else range(1, n + 1))]
    seen: dict[str, int] = {}
    dups = []
    for v in ids:
        seen[v] = seen.get(v, 0) + 1
        if seen[v] == 2:
            dups.append(v)
    if dups:
        msg = (f"{p}: mine ids must be unique, but column {idc or 'FID'!r} repeats "
               f"{', '.join(map(repr, dups[:5]))}{' ...' if len(dups) > 5 else ''}; "
               f"choose a unique column with --id-col")
        raise ValueError(msg)

    attrs: dict[str, list[Any]] = {}
    for role, want in (("name", name_col), ("region", region_col), ("start", start_col)):
        c = _find_col(fields, want, role, p, required=True)
        if c is not None:
            attrs[role] = [_py(v) for v in cols[c]]
    for want in extra_cols:
        c = _find_col(fields, want, "group", p, required=True)
        if c is not None and c not in attrs:
            attrs[c] = [_py(v) for v in cols[c]]

    geoms = np.empty(n, dtype=object)
    status = ["ok"] * n
    notes = [""] * n
    mines = Mines(ids=ids, geoms=geoms, crs=meta.get("crs"), attrs=attrs, status=status,
                  notes=notes, source=p)
    skipped: list[int] = []
    repaired: list[int] = []
    for i, wkb in enumerate(geom_wkb):
        g = shapely.from_wkb(wkb) if wkb is not None else None
        if g is None or shapely.is_empty(g):
            status[i], notes[i] = "skipped", "empty or missing geometry"
            skipped.append(i)
            continue
        if shapely.get_type_id(g) not in (3, 6, 7):
            status[i] = "skipped"
            notes[i] = f"is a {g.geom_type}, not a polygon"
            skipped.append(i)
            continue
        if not shapely.is_valid(g):
            reason = shapely.is_valid_reason(g)
            if invalid == "skip":
                status[i], notes[i] = "skipped", f"invalid geometry ({reason})"
                skipped.append(i)
                continue
            g = _polygonal(shapely.make_valid(g))
            if g is None:
                status[i], notes[i] = "skipped", f"invalid geometry ({reason}), not repairable"
                skipped.append(i)
                continue
            status[i], notes[i] = "repaired", f"invalid geometry ({reason}) repaired"
            repaired.append(i)
        elif shapely.get_type_id(g) == 7:
            g = _polygonal(g)
            if g is None:
                status[i], notes[i] = "skipped", "geometry collection without polygons"
                skipped.append(i)
                continue
        geoms[i] = g
    _warn_many(mines, skipped, "skipped")
    _warn_many(mines, repaired, "repaired")
    return mines


def _id_text(v: Any) -> str:
    v = _py(v)
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _py(v: Any) -> Any:
    """NumPy scalar -> Python; NaN -> None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v
