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

The estimators live in :mod:`mlri.sites.estimates`, the schemes in :mod:`mlri.sites.schemes`
and the reading of reference points and class rasters in :mod:`mlri.sites.refdata`;
:func:`assess_accuracy` joins them.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..classes import CLASS_NAMES
from ._deps import SitesWarning
from ._table import Table
from .estimates import (  # noqa: F401
    _SINGLE_NOTE,
    _div,
    _strat_ratio,
    accuracy_metrics,
    area_adjusted,
    confusion_matrix,
)
from .refdata import (  # noqa: F401
    _GEOG_NAMES,
    _XY_PAIRS,
    _py,
    _read_csv_columns,
    class_areas,
    read_points,
    sample_classes,
)
from .schemes import (  # noqa: F401
    _SI_CODES,
    _SYNONYMS,
    BINARY,
    CLASSES4,
    CLASSES6,
    SCHEMES,
    _ref_to_scheme,
    _scheme_area,
    _scheme_for,
    map_to_scheme,
    normalise_label,
)

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
                    area_adjusted_estimates: bool = True, layer: str | int | None = None,
                    population: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Confusion matrix, OA / PA / UA / kappa and (optionally) area-adjusted estimates.

    ``classes`` is ``classes.tif`` of ``mlri run`` or the run folder (a raster that is not a
    class map is refused).  The result records the class raster (path, size, SHA-256).
    Points outside the raster, on map nodata, or with an empty / unknown label are left out
    with a SitesWarning that names them.  The scheme is chosen from the labels (see the module
    docstring).  Area-adjusted estimates use the whole class raster as the population, the
    points' ``stratum`` column when present (as written by ``mlri sample``), else the map
    classes as strata.  ``population``: ``(pixel counts, hectares)`` per class code 0..6 of
    the area assessed when it is not the whole raster (e.g. one mine's polygon on a grid
    buffered around it, as ``mlri study`` assesses).

    Returns a JSON-ready dict (see ``docs/sites.md``).
    """
    import rasterio

    from .._manifest import file_digest
    from .refdata import check_class_raster
    from .runfolder import class_raster

    classes = class_raster(classes)
    with rasterio.open(classes) as src:
        check_class_raster(src, classes)
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
    if scheme == "binary" and not len(restored_classes):
        msg = ("restored_classes is empty: the binary scheme needs the map classes counted as "
               "restored, e.g. SAI, SCI, SI_H_undefined")
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
        # the class map assessed (its SHA-256 ties the result to one run: mlri report
        # refuses to show it beside another run's map)
        "class_raster": {"path": os.fspath(classes), "size": classes.stat().st_size,
                         "sha256": file_digest(classes)},
    }
    if area_adjusted_estimates:
        if population is None:
            counts, ha = class_areas(classes)
        else:
            counts = np.asarray(population[0], dtype=np.int64)
            ha = np.asarray(population[1], dtype=np.float64)
            if counts.shape != (len(CLASS_NAMES),) or ha.shape != counts.shape:
                msg = (f"population must be (counts, hectares) per class code 0.."
                       f"{len(CLASS_NAMES) - 1}, got shapes {counts.shape} and {ha.shape}")
                raise ValueError(msg)
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


def points_table(res: dict[str, Any]) -> Table:
    """Confusion matrix of an :func:`assess_accuracy` result as a Table (rows = map)."""
    labs = res["labels"]
    t = Table({"map \\ reference": list(labs)})
    m = np.asarray(res["matrix"])
    for j, lab in enumerate(labs):
        t[lab] = m[:, j]
    return t
