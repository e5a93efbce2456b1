"""Reference data of an accuracy assessment: reference points read from CSV or a vector file,
the class map sampled under them, and the class map's pixel count and area per class."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._vector import read_features
from ._deps import require
from ._geo import apply_affine

__all__ = ["check_class_raster", "check_class_values", "class_areas", "read_points",
           "sample_classes"]


# ------------------------------------------------------------------------------------------
# rasters and points
# ------------------------------------------------------------------------------------------
def check_class_raster(src: Any, path: str | os.PathLike[str]) -> None:
    """Refuse (``ValueError`` naming ``path``) an open raster ``src`` that is not a class map:
    one band of uint8 class codes (:mod:`mlri.classes`), as ``classes.tif`` of ``mlri run``.
    An MLRI stack or an LST/EVI raster would otherwise be read as classes (NaN cast to codes,
    or no pixel of any class)."""
    if src.count != 1 or src.dtypes[0] != "uint8":
        what = f"{src.count} band{'s' if src.count != 1 else ''} of {src.dtypes[0]}"
        msg = (f"{path} is not a class raster ({what}; a class raster has one band of uint8 "
               f"class codes 0-6, like classes.tif of `mlri run`); pass classes.tif of the "
               f"run (or its output folder) as classes=")
        raise ValueError(msg)


def check_class_values(codes: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Refuse class codes outside 0..6 (after the raster's nodata became 0): a uint8 raster
    that is not a class map (``flags.tif``, a byte image)."""
    bad = codes[(codes < 0) | (codes > 6)]
    if bad.size:
        msg = (f"{path} holds values that are not class codes (e.g. {int(bad.max())}; the "
               f"codes are 0 nodata, 1-6 SD, ND, NI, SAI, SCI, SI_H_undefined): it is not a "
               f"class raster; pass classes.tif of `mlri run` (or its output folder) as "
               f"classes=")
        raise ValueError(msg)


def class_areas(classes: str | os.PathLike[str], *, window: int = 2048
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel count and area (ha; NaN without CRS) per class code 0..6 over the whole raster,
    read window by window."""
    import rasterio
    from rasterio.windows import Window

    from .zonal import _PixelArea

    with rasterio.open(classes) as src:
        check_class_raster(src, classes)
        pa = _PixelArea(src.crs, src.transform)
        nod = src.nodata
        counts = np.zeros(7, dtype=np.int64)
        ha = np.zeros(7)
        for r in range(0, src.height, window):
            h = min(window, src.height - r)
            areas = pa.rows(r, h)
            for c in range(0, src.width, window):
                w = min(window, src.width - c)
                a = src.read(1, window=Window(c, r, w, h)).astype(np.int64)
                if nod is not None and nod != 0:
                    a[a == int(nod)] = 0
                check_class_values(a, classes)
                cnt = np.bincount(a.ravel(), minlength=7)[:7]
                counts += cnt
                if pa.constant is not None:
                    ha += cnt * pa.constant / 1e4
                else:
                    per_row = np.stack([np.bincount(row, minlength=7)[:7] for row in a])
                    ha += (per_row * areas[:, None]).sum(axis=0) / 1e4
    return counts, ha


_XY_PAIRS = (("x", "y"), ("easting", "northing"), ("lon", "lat"), ("longitude", "latitude"),
             ("lng", "lat"), ("long", "lat"), ("point_x", "point_y"))
_GEOG_NAMES = {"lon", "lng", "long", "longitude"}


def read_points(path: str | os.PathLike[str], *, label_col: str | None = None,
                x_col: str | None = None, y_col: str | None = None, crs: Any = None,
                id_col: str | None = None, stratum_col: str | None = "stratum",
                layer: str | int | None = None, default_crs: Any = None) -> dict[str, Any]:
    """Read reference points from CSV (x/y columns) or a vector file (GeoJSON, GPKG, SHP).

    CSV columns are found by name (x/y, easting/northing, lon/lat, longitude/latitude) unless
    given.  The CSV's CRS is ``crs``, else a ``crs``/``epsg`` column (one value for the file),
    else EPSG:4326 for lon/lat-named columns, else ``default_crs`` (the raster's).  The label
    column defaults to the first of ``reference``, ``label``, ``ref``, ``class``.

    Returns a dict with ``x``, ``y`` (arrays), ``crs``, ``labels`` (raw), ``ids``, ``strata``
    (or None), ``label_col``, ``source``.
    """
    p = os.fspath(path)
    if not Path(p).exists():
        msg = f"reference point file {p} does not exist; check --points"
        raise FileNotFoundError(msg)
    if Path(p).suffix.lower() in (".csv", ".txt", ".tsv"):
        cols = _read_csv_columns(p)
        names = list(cols)
        xc, yc = x_col, y_col
        if xc is None or yc is None:
            low = {c.lower(): c for c in names}
            for a, b in _XY_PAIRS:
                if a in low and b in low:
                    xc, yc = xc or low[a], yc or low[b]
                    break
        if xc not in cols or yc not in cols:
            msg = (f"{p}: cannot find the coordinate columns (looked for x/y, easting/northing, "
                   f"lon/lat, longitude/latitude; columns are {', '.join(names)}); pass "
                   f"--x-col and --y-col")
            raise ValueError(msg)
        try:
            x = np.array([float(v) if v not in (None, "") else np.nan for v in cols[xc]])
            y = np.array([float(v) if v not in (None, "") else np.nan for v in cols[yc]])
        except ValueError as err:
            msg = f"{p}: coordinate columns {xc!r}/{yc!r} must be numbers ({err})"
            raise ValueError(msg) from err
        pcrs = crs
        if pcrs is None:
            for cname in names:
                if cname.lower() in ("crs", "epsg", "srs"):
                    vals = {v for v in cols[cname] if v not in (None, "")}
                    if len(vals) > 1:
                        msg = (f"{p}: column {cname!r} holds several CRSs ({', '.join(vals)}); "
                               f"one CRS per file")
                        raise ValueError(msg)
                    if vals:
                        v = vals.pop()
                        pcrs = f"EPSG:{v}" if str(v).isdigit() else v
                    break
        if pcrs is None and xc.lower() in _GEOG_NAMES:
            pcrs = "EPSG:4326"
        if pcrs is None:
            pcrs = default_crs
        fields = cols
    else:
        require("pyogrio", "reading reference points")
        shapely = require("shapely", "reading reference points")
        meta, _, geom, fdata = read_features(p, "reference points", layer=layer, force_2d=True)
        fields = {str(f): [_py(v) for v in d] for f, d in zip(meta["fields"], fdata, strict=False)}
        g = shapely.from_wkb(np.asarray(geom, dtype=object)) if geom is not None else None
        if g is None:
            msg = f"{p} has no geometry; reference points must be point features"
            raise ValueError(msg)
        types = shapely.get_type_id(g)
        bad = np.flatnonzero(types != 0)
        if bad.size:
            msg = (f"{p}: {bad.size} features are not points (first: feature #{bad[0] + 1}, a "
                   f"{shapely.get_type(g[bad[0]]) if hasattr(shapely, 'get_type') else 'non-point'}"
                   f"); reference data must be points")
            raise ValueError(msg)
        x, y = shapely.get_x(g), shapely.get_y(g)
        pcrs = crs or meta.get("crs") or default_crs
        names = list(fields)
    lc = label_col
    if lc is None:
        low = {c.lower(): c for c in names}
        for cand in ("reference", "label", "ref", "class", "ref_class"):
            if cand in low:
                lc = low[cand]
                break
    elif lc not in fields:
        low = {c.lower(): c for c in names}
        lc = low.get(lc.lower(), lc)
    if lc is None or lc not in fields:
        msg = (f"{p}: no label column {label_col or '(reference/label/class)'!r}; columns are "
               f"{', '.join(names)}. Pass --label-col")
        raise ValueError(msg)
    ids: list[str]
    ic = id_col if id_col in fields else next((c for c in names if c.lower() in ("id", "fid",
                                                                                "point_id")),
                                               None)
    if id_col is not None and id_col not in fields:
        msg = f"{p}: no id column {id_col!r}; columns are {', '.join(names)}"
        raise ValueError(msg)
    ids = [str(v) for v in fields[ic]] if ic else [str(i + 1) for i in range(len(x))]
    strata = None
    if stratum_col and stratum_col in fields:
        strata = [None if v in (None, "") else str(v) for v in fields[stratum_col]]
    return {"x": np.asarray(x, dtype=np.float64), "y": np.asarray(y, dtype=np.float64),
            "crs": pcrs, "labels": list(fields[lc]), "ids": ids, "strata": strata,
            "label_col": lc, "source": p}


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return v


def _read_csv_columns(path: str) -> dict[str, list[Any]]:
    import csv

    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel  # type: ignore[assignment]
        rd = csv.reader(fh, dialect)
        header = next(rd, None)
        if not header:
            msg = f"{path} is empty; a header row with x, y and a label column is needed"
            raise ValueError(msg)
        header = [h.strip() for h in header]
        cols: dict[str, list[Any]] = {h: [] for h in header}
        for r in rd:
            if not any(c.strip() for c in r):
                continue
            for j, h in enumerate(header):
                cols[h].append(r[j].strip() if j < len(r) else None)
    return cols


def sample_classes(classes: str | os.PathLike[str], x: np.ndarray, y: np.ndarray,
                   crs: Any = None, source: str = "the reference points"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Class code at each point (reprojected to the raster CRS); -1 outside the raster.

    Returns ``(codes, inside)``.  Raises ``ValueError`` naming ``source`` for an unknown CRS.
    """
    import rasterio

    with rasterio.open(classes) as src:
        check_class_raster(src, classes)
        xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if crs is not None and src.crs is not None:
            pyproj = require("pyproj", "reprojecting reference points")
            try:
                a = pyproj.CRS.from_user_input(crs)
            except pyproj.exceptions.CRSError:
                msg = (f"{source}: unknown CRS {str(crs)[:80]!r}; give an EPSG code such as "
                       f"EPSG:32650 or 4326 in the crs column, or points_crs=")
                raise ValueError(msg) from None
            _check_geographic_range(a, xs, ys, source)
            b = pyproj.CRS.from_user_input(src.crs.to_wkt())
            if a != b:
                tr = pyproj.Transformer.from_crs(a, b, always_xy=True)
                xs, ys = tr.transform(xs, ys, errcheck=False)
                xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        inv = ~src.transform
        # a point the transformation cannot map (inf) is outside the raster, not an error
        xs = np.where(np.isfinite(xs), xs, np.nan)
        ys = np.where(np.isfinite(ys), ys, np.nan)
        cols, rows = apply_affine(inv, xs, ys)
        cols = np.floor(np.asarray(cols, dtype=np.float64))
        rows = np.floor(np.asarray(rows, dtype=np.float64))
        fin = np.isfinite(cols) & np.isfinite(rows)
        inside = fin & (cols >= 0) & (cols < src.width) & (rows >= 0) & (rows < src.height)
        codes = np.full(xs.shape, -1, dtype=np.int64)
        nod = src.nodata
        ri, ci = rows[inside].astype(np.int64), cols[inside].astype(np.int64)
        if ri.size:
            # read the bounding window of the points in blocks of points sorted by row
            from rasterio.windows import Window

            vals = np.empty(ri.size, dtype=np.int64)
            order = np.argsort(ri, kind="stable")
            step = 256
            for s in range(0, ri.size, step):
                sel = order[s:s + step]
                r0, r1 = int(ri[sel].min()), int(ri[sel].max()) + 1
                c0, c1 = int(ci[sel].min()), int(ci[sel].max()) + 1
                if (r1 - r0) * (c1 - c0) <= 4_000_000:
                    a = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
                    vals[sel] = a[ri[sel] - r0, ci[sel] - c0]
                else:
                    for q in sel:
                        vals[q] = src.read(1, window=Window(int(ci[q]), int(ri[q]), 1, 1))[0, 0]
            if nod is not None and nod != 0:
                vals[vals == int(nod)] = 0
            check_class_values(vals, classes)
            codes[inside] = vals
    return codes, inside


def _check_geographic_range(crs: Any, x: np.ndarray, y: np.ndarray, source: str) -> None:
    """Refuse points said to be in a geographic CRS (longitude/latitude) whose coordinates
    cannot be degrees: they are projected coordinates given the wrong CRS."""
    if not crs.is_geographic:
        return
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero((np.abs(x) > 360) | (np.abs(y) > 90))
    if bad.size:
        i = int(bad[0])
        msg = (f"{source}: {bad.size} point(s) lie outside the valid range of "
               f"{crs.to_string()} (longitude/latitude in degrees), e.g. x {x[i]:.6g}, "
               f"y {y[i]:.6g}: they look like projected coordinates (metres); give their CRS "
               f"with points_crs= or the crs column (e.g. the raster's)")
        raise ValueError(msg)
