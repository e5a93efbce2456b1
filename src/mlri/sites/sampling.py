"""Stratified random sampling design on the class map, for field or image validation.

Every stratum (map class, or merged classes) gets ``n`` points drawn **uniformly without
replacement among its pixels** (fewer when the stratum is smaller, with a warning).  The draw is
exact and memory-bounded: a first pass counts the pixels of each stratum per window; the
sampled ranks are drawn with ``numpy.random.default_rng(seed)``; a second pass reads only the
windows that hold sampled pixels.  The same raster, strata, n and seed always give the same
points.  Points are pixel centres.

The output (CSV, GeoJSON or GeoPackage) has an empty ``reference`` column to fill in and a
``stratum`` column; ``mlri accuracy`` reads it back and uses the strata and the map's stratum
areas for the area-adjusted (Olofsson et al. 2014) estimates.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..classes import CLASS_NAMES
from ._deps import SitesWarning, require
from ._geo import apply_affine
from ._table import Table, write_features
from .accuracy import _SI_CODES, SCHEMES, map_to_scheme
from .refdata import check_class_raster, check_class_values
from .runfolder import class_raster

__all__ = ["STRATA", "stratified_sample", "write_points"]

#: strata option -> accuracy scheme of the same labels
STRATA = {"classes": "classes6", "si": "classes4", "binary": "binary"}


def stratified_sample(classes: str | os.PathLike[str], n: int | Mapping[str, int] = 100, *,
                      strata: str = "classes", seed: int = 0, window: int = 1024,
                      restored_classes: tuple[int, ...] = _SI_CODES) -> Table:
    """Draw a stratified random sample of pixel centres from a class raster.

    Parameters
    ----------
    classes : path
        ``classes.tif`` (or the run folder holding it); nodata (0) is never sampled.  A
        raster that is not a class map, or one without a pixel to sample, is refused
        (``ValueError``).
    n : int or mapping
        Points per stratum (same for all), or ``{stratum: n}`` (strata not named get 0).
    strata : {"classes", "si", "binary"}
        The six map classes (SD, ND, NI, SAI, SCI, SI_H_undefined); SI merged (SD, ND, NI, SI);
        or restored / not restored (restored = ``restored_classes``, default SI).
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    Table
        ``id, stratum, map_code, map_class, row, col, x, y, crs, stratum_pixels,
        stratum_area_ha, reference`` (+ ``lon, lat`` when the CRS is known), ordered by stratum
        then raster position.
    """
    import rasterio
    from rasterio.windows import Window

    if strata not in STRATA:
        msg = f"strata must be one of {', '.join(STRATA)}, got {strata!r}"
        raise ValueError(msg)
    scheme = STRATA[strata]
    names = list(SCHEMES[scheme])
    code_to_s = map_to_scheme(np.arange(7), scheme, restored_classes)
    lut = np.full(256, -1, dtype=np.int64)
    for code, s in enumerate(code_to_s):
        if s is not None:
            lut[code] = names.index(s)
    if isinstance(n, Mapping):
        unknown = set(n) - set(names)
        if unknown:
            msg = f"unknown strata {sorted(unknown)}; the strata are {', '.join(names)}"
            raise ValueError(msg)
        want = np.array([int(n.get(s, 0)) for s in names])
    else:
        want = np.full(len(names), int(n))
    if (want < 0).any():
        msg = "n must be >= 0"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    classes = class_raster(classes)
    with rasterio.open(classes) as src:
        check_class_raster(src, classes)
        H, W = src.height, src.width
        nod = src.nodata
        wins = [(r, c, min(window, H - r), min(window, W - c))
                for r in range(0, H, window) for c in range(0, W, window)]

        def read_strata(r: int, c: int, h: int, w: int) -> np.ndarray:
            a = src.read(1, window=Window(c, r, w, h)).astype(np.int64)
            if nod is not None and nod != 0:
                a[a == int(nod)] = 0
            check_class_values(a, classes)
            return lut[a]

        k = len(names)
        per_win = np.zeros((len(wins), k), dtype=np.int64)
        for wi, (r, c, h, w) in enumerate(wins):
            sw = read_strata(r, c, h, w)
            sw = sw[sw >= 0]
            per_win[wi] = np.bincount(sw, minlength=k)[:k]
        total = per_win.sum(axis=0)
        take = np.minimum(want, total)
        if not take.any():  # an empty sample is no design: say why instead of writing none
            asked = [names[j] for j in range(k) if want[j]]
            if not asked:
                why = "no points were requested (n is 0 for every stratum)"
            elif not total.any():
                why = f"{classes} has no classified pixel (all nodata)"
            else:
                why = f"{classes} has no pixel of the requested strata ({', '.join(asked)})"
            msg = (f"nothing to sample: {why}; pass the classes.tif of a run that classified "
                   f"pixels as classes=, or other strata")
            raise ValueError(msg)
        short = [f"{names[j]} ({total[j]} pixels < {want[j]})" for j in range(k)
                 if total[j] < want[j]]
        if short:
            warnings.warn(f"{classes}: strata smaller than the requested sample, all their "
                          f"pixels are taken: {', '.join(short)}", SitesWarning, stacklevel=2)
        ranks = [np.sort(rng.choice(int(total[j]), size=int(take[j]), replace=False))
                 if take[j] > 0 else np.zeros(0, dtype=np.int64) for j in range(k)]
        cum = np.vstack([np.zeros((1, k), dtype=np.int64), np.cumsum(per_win, axis=0)])
        rows: list[list[int]] = [[] for _ in range(k)]
        cols: list[list[int]] = [[] for _ in range(k)]
        codes: list[list[int]] = [[] for _ in range(k)]
        for wi, (r, c, h, w) in enumerate(wins):
            need = []
            for j in range(k):
                lo, hi = cum[wi, j], cum[wi + 1, j]
                a, b = np.searchsorted(ranks[j], [lo, hi])
                if b > a:
                    need.append((j, ranks[j][a:b] - lo))
            if not need:
                continue
            raw = src.read(1, window=Window(c, r, w, h)).astype(np.int64)
            if nod is not None and nod != 0:
                raw[raw == int(nod)] = 0
            s = lut[np.clip(raw, 0, 255)].ravel()
            for j, local in need:
                pos = np.flatnonzero(s == j)[local]
                rr, cc = np.divmod(pos, w)
                rows[j].extend((rr + r).tolist())
                cols[j].extend((cc + c).tolist())
                codes[j].extend(raw.ravel()[pos].tolist())
        T = src.transform
        crs = src.crs
        from .zonal import _PixelArea

        pa = _PixelArea(crs, T)
    st, rr_all, cc_all, code_all = [], [], [], []
    for j in range(k):
        st.extend([names[j]] * len(rows[j]))
        rr_all.extend(rows[j])
        cc_all.extend(cols[j])
        code_all.extend(codes[j])
    r_a = np.asarray(rr_all, dtype=np.int64)
    c_a = np.asarray(cc_all, dtype=np.int64)
    xs, ys = apply_affine(T, c_a + 0.5, r_a + 0.5)
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    crs_txt = ""
    if crs is not None:
        epsg = crs.to_epsg()
        crs_txt = f"EPSG:{epsg}" if epsg else crs.to_wkt()
    # stratum areas (for the record; accuracy recomputes them from the raster)
    if pa.constant is not None:
        st_area = {names[j]: float(total[j]) * pa.constant / 1e4 for j in range(k)}
    else:
        from .accuracy import _scheme_area, class_areas

        _, ha = class_areas(classes)
        st_area = _scheme_area(ha, scheme, restored_classes)
    t = Table({
        "id": [f"{i + 1}" for i in range(len(st))],
        "stratum": st,
        "map_code": np.asarray(code_all, dtype=np.int64),
        "map_class": [CLASS_NAMES.get(int(cd), "") for cd in code_all],
        "row": r_a, "col": c_a, "x": xs, "y": ys, "crs": [crs_txt] * len(st),
    })
    if crs is not None and len(st):
        pyproj = require("pyproj", "longitude/latitude of the sample points")
        tr = pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(crs.to_wkt()),
                                         "EPSG:4326", always_xy=True)
        lon, lat = tr.transform(xs, ys)
        t["lon"] = np.asarray(lon, dtype=np.float64)
        t["lat"] = np.asarray(lat, dtype=np.float64)
    t["stratum_pixels"] = np.asarray([int(total[names.index(s)]) for s in st], dtype=np.int64)
    t["stratum_area_ha"] = np.asarray([st_area[s] for s in st], dtype=np.float64)
    t["reference"] = [""] * len(st)
    return t


def _layer_name(p: Path) -> str:
    import re

    return re.sub(r"\W+", "_", p.stem).strip("_") or "points"


def write_points(table: Table, path: str | os.PathLike[str]) -> Path:
    """Write sample points: ``.csv`` (x/y in the raster CRS + lon/lat + crs column),
    ``.geojson`` (EPSG:4326 geometry, as RFC 7946 requires) or ``.gpkg`` (raster CRS)."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".csv":
        return table.to_csv(p)
    if ext not in (".geojson", ".json", ".gpkg"):
        msg = f"unsupported sample output {p.name}: use .csv, .geojson or .gpkg"
        raise ValueError(msg)
    shapely = require("shapely", "writing sample points")
    if ext == ".gpkg":
        xs, ys = table.numeric("x"), table.numeric("y")
        crs = table["crs"][0] if len(table) else None
        driver = "GPKG"
    else:
        if "lon" not in table:
            msg = "GeoJSON needs longitude/latitude: the class raster has no CRS; write .csv"
            raise ValueError(msg)
        xs, ys = table.numeric("lon"), table.numeric("lat")
        crs = "EPSG:4326"
        driver = "GeoJSON"
    geoms = shapely.to_wkb(shapely.points(xs, ys)) if len(table) else np.array([], dtype=object)
    names = [c for c in table.columns]
    data = []
    for c in names:
        v = table[c]
        if isinstance(v, np.ndarray):
            data.append(v)
        else:
            data.append(np.asarray(["" if x is None else str(x) for x in v], dtype=object))
    return write_features(p, np.asarray(geoms, dtype=object), data, names, driver=driver,
                          geometry_type="Point", crs=crs, layer=_layer_name(p))
