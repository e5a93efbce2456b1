"""Accuracy assessment of the class map from reference points.

Axis convention
---------------
Every confusion matrix here has **rows = map (classified) labels, columns = reference labels**
(Congalton & Green; Olofsson et al. 2014).  ``cm[i, j]`` = number of points mapped as class i
whose reference label is class j.  Hence user's accuracy (1 - commission error) of class i is
``cm[i, i] / row_sum_i`` and producer's accuracy (1 - omission error) of class j is
``cm[j, j] / col_sum_j``.  (scikit-learn's ``confusion_matrix(y_true, y_pred)`` is the
transpose.)

Schemes
-------
The reference labels decide the comparison (``scheme="auto"``):

* ``binary``  - "restored" / "not restored"; the map is restored where its class is in
  ``restored_classes`` (default SI = SAI, SCI, SI_H_undefined), not restored for SD/ND/NI.
* ``classes4`` - SD, ND, NI, SI (map SAI/SCI/SI_H_undefined merged into SI).
* ``classes6`` - SD, ND, NI, SAI, SCI, SI_H_undefined (the map codes 1..6).

Area-adjusted accuracy
----------------------
With the map's class areas, :func:`area_adjusted` gives the stratified estimators of overall,
user's and producer's accuracy and of each class's area with standard errors and 95 %
confidence intervals (Olofsson et al. 2014, Remote Sens. Environ. 148:42-57; the general
stratified/ratio form of Stehman 2014, Int. J. Remote Sens. 35:4923, which equals Olofsson's
equations when the strata are the map classes).  These estimates are only valid for a
probability sample — stratified random by map class (``mlri sample``) or simple random.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import CLASS_NAMES, SI_CODES
from ._deps import SitesWarning, require
from ._geo import apply_affine
from ._table import Table

__all__ = [
    "SCHEMES",
    "accuracy_metrics",
    "area_adjusted",
    "assess_accuracy",
    "class_areas",
    "confusion_matrix",
    "map_to_scheme",
    "normalise_label",
    "read_points",
]

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


# ------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------
def confusion_matrix(map_labels: Sequence[Any], ref_labels: Sequence[Any],
                     labels: Sequence[Any]) -> np.ndarray:
    """Counts with **rows = map, columns = reference**, in the order of ``labels``.

    Pairs whose map or reference label is not in ``labels`` are ignored.
    """
    if len(map_labels) != len(ref_labels):
        msg = f"{len(map_labels)} map labels but {len(ref_labels)} reference labels"
        raise ValueError(msg)
    pos = {lab: i for i, lab in enumerate(labels)}
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    for m, r in zip(map_labels, ref_labels, strict=False):
        i, j = pos.get(m), pos.get(r)
        if i is not None and j is not None:
            cm[i, j] += 1
    return cm


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def accuracy_metrics(cm: Any, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Sample-count accuracy measures of a confusion matrix (rows = map, cols = reference).

    Returns overall accuracy, Cohen's kappa ``(p_o - p_e)/(1 - p_e)`` with
    ``p_e = Σ_i row_i·col_i / n²``, and per class producer's accuracy (``cm[j,j]/col_j``),
    user's accuracy (``cm[i,i]/row_i``), omission and commission errors and F1.  Undefined
    ratios (0/0) are NaN.
    """
    m = np.asarray(cm, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        msg = f"confusion matrix must be square, got shape {m.shape}"
        raise ValueError(msg)
    if (m < 0).any():
        msg = "confusion matrix has negative counts"
        raise ValueError(msg)
    k = m.shape[0]
    labels = list(labels) if labels is not None else [str(i) for i in range(k)]
    n = m.sum()
    rows, cols, diag = m.sum(axis=1), m.sum(axis=0), np.diag(m)
    po = _div(diag.sum(), n)
    pe = _div(float((rows * cols).sum()), n * n)
    kappa = (po - pe) / (1 - pe) if n and pe != 1 else float("nan")
    per = []
    for i, lab in enumerate(labels):
        ua, pa = _div(diag[i], rows[i]), _div(diag[i], cols[i])
        f1 = 2 * ua * pa / (ua + pa) if (ua + pa) > 0 else float("nan")
        per.append({"class": lab, "n_map": int(rows[i]), "n_reference": int(cols[i]),
                    "correct": int(diag[i]), "users_accuracy": ua, "producers_accuracy": pa,
                    "commission_error": 1 - ua, "omission_error": 1 - pa, "f1": f1})
    return {"n": int(n), "overall_accuracy": po, "kappa": kappa, "expected_agreement": pe,
            "classes": per, "labels": labels,
            "matrix": m.astype(np.int64).tolist(),
            "matrix_axes": "rows = map, columns = reference"}


def _strat_ratio(y: np.ndarray, x: np.ndarray | None, h: np.ndarray, W: dict[Any, float],
                 n_h: dict[Any, int]) -> tuple[float, float]:
    """Stratified estimate (and SE) of a total-proportion (x None) or of a ratio Σy/Σx.

    The SE is NaN (undefined, not zero) when a stratum that contributes to the estimate has a
    single sample point: its within-stratum variance cannot be estimated (see
    :func:`_single_point_strata`)."""
    est_y = sum(w * y[h == s].mean() for s, w in W.items())
    if x is None:
        var = 0.0
        for s, w in W.items():
            ys = y[h == s]
            if n_h[s] < 2:  # variance not estimable unless the indicator is 0 there
                if np.any(ys):
                    return float(est_y), float("nan")
                continue
            var += w ** 2 * ys.var(ddof=1) / n_h[s]
        return float(est_y), math.sqrt(var)
    est_x = sum(w * x[h == s].mean() for s, w in W.items())
    if est_x <= 0:
        return float("nan"), float("nan")
    r = est_y / est_x
    var = 0.0
    for s, w in W.items():
        sel = h == s
        ys, xs = y[sel], x[sel]
        if n_h[s] < 2:
            if np.any(ys) or np.any(xs):
                return float(r), float("nan")
            continue
        syy = ys.var(ddof=1)
        sxx = xs.var(ddof=1)
        sxy = float(np.cov(ys, xs, ddof=1)[0, 1])
        var += w ** 2 * (syy + r * r * sxx - 2 * r * sxy) / n_h[s]
    return float(r), math.sqrt(max(var, 0.0)) / est_x


_SINGLE_NOTE = (
    "standard errors and 95 % intervals are undefined (left empty, reported as n/a) for the estimates "
    "to which stratum/strata {strata} contribute a non-zero value: each holds a single sample "
    "point, and a within-stratum variance needs at least 2 (it divides by n - 1). The estimates "
    "themselves are valid. Add sample points to those strata (e.g. mlri sample --n 2 or more) "
    "or merge them with a neighbouring stratum.")


def area_adjusted(map_labels: Sequence[Any], ref_labels: Sequence[Any],
                  labels: Sequence[Any], stratum_area: dict[Any, float], *,
                  strata: Sequence[Any] | None = None, z: float = 1.959963984540054,
                  area_unit: str = "ha") -> dict[str, Any]:
    """Stratified (area-weighted) accuracy and area estimates with standard errors and CIs.

    Parameters
    ----------
    map_labels, ref_labels : sequence
        Map and reference label per sample point.
    labels : sequence
        The classes (matrix order).
    stratum_area : dict
        Area (or pixel count) of every stratum in the population — with ``strata=None`` the
        strata are the map classes and this is the map area per class.
    strata : sequence, optional
        Stratum of each point when the sampling strata differ from (are nested in) the map
        classes, e.g. points drawn per 6-class stratum but assessed as restored / not restored.
    z : float
        Normal quantile of the confidence interval (1.96 for 95 %).

    Returns
    -------
    dict
        ``overall_accuracy`` {estimate, se, ci95}; per class ``users_accuracy``,
        ``producers_accuracy`` {estimate, se, ci95}, ``area_proportion``, ``area``
        {estimate, se, ci95 (±half-width)}, ``mapped_area``; ``matrix_proportions`` (p̂_ij, rows
        = map); the ``total_area``.

    Notes
    -----
    With strata = map classes these are Olofsson et al. (2014) eqs. 1-11:
    ``p̂_ij = W_i n_ij/n_i.``, ``Â_j = A Σ_i p̂_ij``,
    ``SE(p̂_.j) = sqrt(Σ_i W_i² (n_ij/n_i.)(1 - n_ij/n_i.)/(n_i. - 1))``; user's, producer's
    and overall accuracy with their variances.  In general they are the stratified estimator
    of a proportion and the combined ratio estimator with the linearised variance (Stehman
    2014), which reduce to Olofsson's equations in that case.
    """
    mp = np.asarray(list(map_labels), dtype=object)
    rf = np.asarray(list(ref_labels), dtype=object)
    h = mp if strata is None else np.asarray(list(strata), dtype=object)
    if not (mp.size == rf.size == h.size):
        msg = "map labels, reference labels and strata must have the same length"
        raise ValueError(msg)
    total = float(sum(stratum_area.values()))
    if total <= 0:
        msg = "stratum areas must sum to a positive number"
        raise ValueError(msg)
    present = {s for s in stratum_area if stratum_area[s] > 0}
    n_h = {s: int(np.sum(h == s)) for s in present}
    missing = [s for s in present if n_h[s] == 0]
    notes = []
    if missing:
        notes.append("strata with mapped area but no sample point (estimates biased, their "
                     f"area is ignored): {', '.join(map(str, sorted(missing, key=str)))}")
    W = {s: stratum_area[s] / total for s in present if n_h[s] > 0}
    wsum = sum(W.values())
    keep = np.isin(h, list(W))
    mp, rf, h = mp[keep], rf[keep], h[keep]
    if not W or wsum <= 0:
        msg = "no sample point falls in a stratum with mapped area"
        raise ValueError(msg)
    W = {s: w / wsum for s, w in W.items()}
    area_total = total * wsum

    single = sorted((s for s in W if n_h[s] == 1), key=str)
    if single:
        notes.append(_SINGLE_NOTE.format(strata=", ".join(map(str, single))))

    def ci(est: float, se: float) -> dict[str, Any]:
        d: dict[str, Any] = {"estimate": est, "se": se,
                             "ci95": z * se if math.isfinite(se) else float("nan"),
                             "lower": est - z * se, "upper": est + z * se}
        if math.isfinite(est) and not math.isfinite(se) and single:
            d["se_undefined"] = ("a stratum with one sample point contributes "
                                 f"({', '.join(map(str, single))}); see notes")
        return d

    correct = (mp == rf).astype(np.float64)
    oa, oa_se = _strat_ratio(correct, None, h, W, n_h)
    k = len(labels)
    P = np.zeros((k, k))
    for i, li in enumerate(labels):
        for j, lj in enumerate(labels):
            y = ((mp == li) & (rf == lj)).astype(np.float64)
            P[i, j] = sum(w * y[h == s].mean() for s, w in W.items())
    per = []
    for lab in labels:
        in_map = (mp == lab).astype(np.float64)
        in_ref = (rf == lab).astype(np.float64)
        both = in_map * in_ref
        ua, ua_se = _strat_ratio(both, in_map, h, W, n_h)
        pa, pa_se = _strat_ratio(both, in_ref, h, W, n_h)
        p_j, p_se = _strat_ratio(in_ref, None, h, W, n_h)
        mapped = float(stratum_area.get(lab, 0.0)) if strata is None else float("nan")
        per.append({"class": lab, "users_accuracy": ci(ua, ua_se),
                    "producers_accuracy": ci(pa, pa_se),
                    "area_proportion": ci(p_j, p_se),
                    "area": ci(p_j * area_total, p_se * area_total),
                    "mapped_area": mapped})
    return {"method": "stratified estimator (Olofsson et al. 2014; Stehman 2014)",
            "confidence": 0.95 if abs(z - 1.959963984540054) < 1e-9 else None, "z": z,
            "area_unit": area_unit, "total_area": area_total,
            "strata": {str(s): {"area": float(stratum_area[s]), "weight": W.get(s, 0.0),
                                "n": n_h.get(s, 0)} for s in stratum_area},
            "overall_accuracy": ci(oa, oa_se), "classes": per,
            "matrix_proportions": P.tolist(), "notes": notes}


# ------------------------------------------------------------------------------------------
# rasters and points
# ------------------------------------------------------------------------------------------
def class_areas(classes: str | os.PathLike[str], *, window: int = 2048
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel count and area (ha; NaN without CRS) per class code 0..6 over the whole raster,
    read window by window."""
    import rasterio
    from rasterio.windows import Window

    from .zonal import _PixelArea

    with rasterio.open(classes) as src:
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
                a[(a < 0) | (a > 6)] = 0
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
        pyogrio = require("pyogrio", "reading reference points")
        shapely = require("shapely", "reading reference points")
        try:
            meta, _, geom, fdata = pyogrio.raw.read(p, layer=layer, force_2d=True)
        except Exception as err:
            msg = f"cannot read reference points from {p}: {err}"
            raise ValueError(msg) from err
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
        xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if crs is not None and src.crs is not None:
            pyproj = require("pyproj", "reprojecting reference points")
            try:
                a = pyproj.CRS.from_user_input(crs)
            except pyproj.exceptions.CRSError:
                msg = (f"{source}: unknown CRS {str(crs)[:80]!r}; give an EPSG code such as "
                       f"EPSG:32650 or 4326 in the crs column, or --points-crs (points_crs=)")
                raise ValueError(msg) from None
            b = pyproj.CRS.from_user_input(src.crs.to_wkt())
            if a != b:
                tr = pyproj.Transformer.from_crs(a, b, always_xy=True)
                xs, ys = tr.transform(xs, ys, errcheck=False)
                xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        inv = ~src.transform
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
            codes[inside] = vals
    return codes, inside


def _warn_points(ids: list[str], idx: Sequence[int], what: str, source: str) -> None:
    if not len(idx):
        return
    shown = ", ".join(repr(ids[i]) for i in list(idx)[:10])
    more = f" and {len(idx) - 10} more" if len(idx) > 10 else ""
    warnings.warn(f"{source}: {len(idx)} point(s) {what}, left out: {shown}{more}",
                  SitesWarning, stacklevel=3)


def assess_accuracy(classes: str | os.PathLike[str], points: str | os.PathLike[str] | dict,
                    *, label_col: str | None = None, scheme: str = "auto",
                    restored_classes: Sequence[int] = _SI_CODES, x_col: str | None = None,
                    y_col: str | None = None, points_crs: Any = None,
                    area_adjusted_estimates: bool = True, layer: str | int | None = None
                    ) -> dict[str, Any]:
    """Confusion matrix, OA / PA / UA / kappa and (optionally) area-adjusted estimates.

    Points outside the raster, on map nodata, or with an empty / unknown label are left out
    with a SitesWarning that names them.  The scheme is chosen from the labels (see the module
    docstring).  Area-adjusted estimates use the whole class raster as the population, the
    points' ``stratum`` column when present (as written by ``mlri sample``), else the map
    classes as strata.

    Returns a JSON-ready dict (see ``docs/sites.md``).
    """
    import rasterio

    with rasterio.open(classes) as src:
        rcrs = src.crs.to_wkt() if src.crs else None
    pts = points if isinstance(points, dict) else read_points(
        points, label_col=label_col, x_col=x_col, y_col=y_col, crs=points_crs, layer=layer,
        default_crs=rcrs)
    src_name = pts.get("source", "points")
    ids = pts["ids"]
    norm = [normalise_label(v) for v in pts["labels"]]
    empty = [i for i, v in enumerate(pts["labels"]) if v in (None, "") or (
        isinstance(v, float) and math.isnan(v))]
    unknown = [i for i, (v, nv) in enumerate(zip(pts["labels"], norm, strict=False))
               if nv is None and i not in set(empty)]
    _warn_points(ids, empty, "have no reference label yet", src_name)
    if unknown:
        vals = sorted({str(pts["labels"][i]) for i in unknown})[:8]
        _warn_points(ids, unknown, f"have labels that are not understood ({', '.join(vals)}; "
                     f"use restored / not restored or SD, ND, NI, SAI, SCI, SI)", src_name)
    good = [i for i, v in enumerate(norm) if v is not None]
    if scheme == "auto":
        scheme = _scheme_for([str(norm[i]) for i in good])
    if scheme not in SCHEMES:
        msg = f"scheme must be auto, {', '.join(SCHEMES)}; got {scheme!r}"
        raise ValueError(msg)
    labels = SCHEMES[scheme]
    ref = [(_ref_to_scheme(v, scheme) if v is not None else None) for v in norm]
    mismatch = [i for i in good if ref[i] is None]
    _warn_points(ids, mismatch, f"have labels outside the {scheme} scheme", src_name)

    codes, inside = sample_classes(classes, pts["x"], pts["y"], pts["crs"], source=src_name)
    out_idx = [i for i in range(len(ids)) if not inside[i] and ref[i] is not None]
    _warn_points(ids, out_idx, "lie outside the class raster", src_name)
    nod_idx = [i for i in range(len(ids)) if inside[i] and codes[i] == 0 and ref[i] is not None]
    _warn_points(ids, nod_idx, "fall on map nodata", src_name)
    mapped = map_to_scheme(np.where(codes < 0, 0, codes), scheme, restored_classes)
    use = [i for i in range(len(ids)) if ref[i] is not None and mapped[i] is not None]
    if not use:
        msg = (f"{src_name}: no usable reference point (need a label and a classified map pixel "
               f"under the point)")
        raise ValueError(msg)
    mp = [mapped[i] for i in use]
    rf = [ref[i] for i in use]
    cm = confusion_matrix(mp, rf, labels)
    res: dict[str, Any] = {
        "scheme": scheme, "labels": list(labels),
        "restored_classes": [CLASS_NAMES[int(c)] for c in restored_classes]
        if scheme == "binary" else None,
        "matrix_axes": "rows = map, columns = reference",
        "n_points_read": len(ids), "n_points_used": len(use),
        "excluded": {"no_label": len(empty), "unknown_label": len(unknown) + len(mismatch),
                     "outside_raster": len(out_idx), "map_nodata": len(nod_idx)},
        **accuracy_metrics(cm, labels),
        "points": {"source": src_name, "label_col": pts.get("label_col"),
                   "crs": str(pts["crs"]) if pts["crs"] is not None else None},
    }
    if area_adjusted_estimates:
        counts, ha = class_areas(classes)
        use_ha = bool(np.all(np.isfinite(ha)))
        w = ha if use_ha else counts.astype(np.float64)
        strata = pts.get("strata")
        st_use = None
        if strata is not None and all(strata[i] is not None for i in use):
            st_names = {strata[i] for i in use}
            st_scheme = next((s for s, labs in SCHEMES.items() if st_names <= set(labs)), None)
            if st_scheme is not None:
                st_use = [strata[i] for i in use]
                area = _scheme_area(w, st_scheme, restored_classes)
                # sanity: the stratum must be the point's map class under that scheme
                st_map = map_to_scheme(np.where(codes < 0, 0, codes), st_scheme,
                                       restored_classes)
                wrong = [i for i in use if st_map[i] != strata[i]]
                if wrong:
                    _warn_points(ids, wrong, "lie on a map class different from their sampling "
                                 "stratum (was the class map changed after sampling?)", src_name)
        if st_use is None:
            area = _scheme_area(w, scheme, restored_classes)
            warnings.warn(
                f"{src_name}: the points have no 'stratum' column, so the area-adjusted "
                "estimates treat them as a stratified random sample by map class (or a simple "
                "random sample, post-stratified). They are biased for purposive or convenience "
                "samples; use `mlri sample` to draw a probability sample, or "
                "--no-area-adjusted", SitesWarning, stacklevel=2)
        try:
            aa = area_adjusted(mp, rf, labels, area, strata=st_use,
                               area_unit="ha" if use_ha else "pixels")
            aa["strata_source"] = ("stratum column of the points" if st_use is not None else
                                   "map classes (post-stratification)")
            aa["design_assumption"] = (
                "valid for a stratified random sample by map class (as drawn by `mlri sample`) "
                "or a simple random sample; not for purposive or convenience samples")
            res["area_adjusted"] = aa
        except ValueError as err:
            res["area_adjusted"] = {"error": str(err)}
    return res


def _scheme_area(w: np.ndarray, scheme: str, restored_classes: Sequence[int]) -> dict[str, float]:
    names = map_to_scheme(np.arange(7), scheme, restored_classes)
    out: dict[str, float] = dict.fromkeys(SCHEMES[scheme], 0.0)
    for code, nm in enumerate(names):
        if nm is not None:
            out[nm] += float(w[code])
    return out


def points_table(res: dict[str, Any]) -> Table:
    """Confusion matrix of an :func:`assess_accuracy` result as a Table (rows = map)."""
    labs = res["labels"]
    t = Table({"map \\ reference": list(labs)})
    m = np.asarray(res["matrix"])
    for j, lab in enumerate(labs):
        t[lab] = m[:, j]
    return t
