"""A synthetic Landsat Collection 2 Level-2 archive over a planted mine story (tests, demos).

:func:`make_archive` writes scene folders exactly as USGS names and stores them: uint16 scaled
SR/ST with fill 0, QA_PIXEL with real Collection 2 bit codes (clouds, dilated clouds, shadows,
cirrus, water, medium-confidence edges, fill outside the swath), QA_RADSAT, ``_MTL.txt`` (ODL)
and ``_MTL.json`` (all values strings), PixelIsPoint GeoTIFFs on the 30 m Landsat lattice; TM
(``LT05``) for 2000–2011 and OLI (``LC08``) for 2013–2019, several dates per season on two
WRS-2 paths, plus distractors that a correct ingest must skip (an out-of-season scene, a Tier 2
scene).  Options put some scenes in ``.tar`` bundles, nested folders or the neighbouring UTM
zone.

The planted story (truth raster ``truth.tif`` on the target grid; band 1 class, band 2 year):

==== ================== ===================================================================
code name               annual June–Sept peak
==== ================== ===================================================================
0    stable             vegetation, EVI ≈ 0.45, LST ≈ 299 K, stationary
1    restored           bare dump (EVI 0.10, LST 316 K) until the onset year (band 2), then
                        revegetated over 6 years to EVI 0.45 / LST 301 K
2    degrading          vegetation degraded progressively from the start year (band 2) to
                        2019: EVI 0.45 → 0.15, LST 299 → 318 K (expanding dumping)
3    active pit         bare and hot all the time (EVI 0.06, LST 320 K), stationary
4    pit lake           water (negative EVI), stationary
==== ================== ===================================================================

Under the paper's rule (MLRI → Mann–Kendall / Sen / Hurst → classes) restored pixels are a
significant increase (SI = classes 4, 5, 6).  Degrading pixels are *not* SI: each year is the
hottest and least green so far, so MLRI stays at 1.  Stationary land (classes 0, 3) is
ambiguous by construction — MLRI is a ratio to running extrema, which widen with noise, so
MLRI of a stationary pixel drifts upwards and is often flagged SI — and is left out of
accuracy checks.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CLASS_NAMES", "SyntheticArchive", "make_archive", "write_scene"]

CLASS_NAMES = {0: "stable", 1: "restored", 2: "degrading", 3: "active_pit", 4: "pit_lake"}

PAPER_YEARS = (*range(2000, 2012), *range(2013, 2020))

# Real Collection 2 QA_PIXEL codes.
QA_CODES = {
    "OLI": {"clear": 21824, "water": 21952, "cloud": 22280, "cirrus_cloud": 55052,
            "shadow": 23888, "dilated": 21762, "clear_medconf": 22080, "snow": 30048,
            "fill": 1},
    "TM": {"clear": 5440, "water": 5504, "cloud": 5896, "cirrus_cloud": 5896, "shadow": 7440,
           "dilated": 5442, "clear_medconf": 5696, "snow": 5440 | (1 << 5), "fill": 1},
}
SR_MULT, SR_ADD = 2.75e-05, -0.2
ST_MULT, ST_ADD = 0.00341802, 149.0
K_CONST = {"LT05": (607.76, 1260.56), "LC08": (774.8853, 1321.0789)}
BANDS = {
    "LT05": {"blue": 1, "red": 3, "nir": 4, "all": (1, 2, 3, 4, 5, 7), "st": "ST_B6",
             "spacecraft": "LANDSAT_5", "sensor_id": "TM"},
    "LC08": {"blue": 2, "red": 4, "nir": 5, "all": (1, 2, 3, 4, 5, 6, 7), "st": "ST_B10",
             "spacecraft": "LANDSAT_8", "sensor_id": "OLI_TIRS"},
}


@dataclass
class SyntheticArchive:
    """What :func:`make_archive` wrote."""

    root: Path
    aoi: Path  # GeoJSON polygon (EPSG:4326)
    truth: Path  # truth.tif on the target grid
    grid: Any  # mlri.landsat.Grid the AOI gives with the default buffer
    scenes: list[dict[str, Any]] = field(default_factory=list)
    years: tuple[int, ...] = PAPER_YEARS

    def truth_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        import rasterio

        with rasterio.open(self.truth) as ds:
            return ds.read(1), ds.read(2)


# ---------------------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    z = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (z - z.mean()) / (z.std() + 1e-12)


def _layout(h: int, w: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Class and year rasters on the world grid (AOI is rows/cols pad..pad+h)."""
    cls = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
    year = np.zeros_like(cls, dtype=np.uint16)
    yy, xx = np.mgrid[0:h, 0:w]
    sub_c = cls[pad:pad + h, pad:pad + w]
    sub_y = year[pad:pad + h, pad:pad + w]

    def rect(r0: float, r1: float, c0: float, c1: float) -> np.ndarray:
        return (yy >= r0 * h) & (yy < r1 * h) & (xx >= c0 * w) & (xx < c1 * w)

    pit = ((yy - 0.30 * h) / (0.14 * h)) ** 2 + ((xx - 0.28 * w) / (0.16 * w)) ** 2 <= 1
    lake = ((yy - 0.30 * h) / (0.05 * h)) ** 2 + ((xx - 0.28 * w) / (0.06 * w)) ** 2 <= 1
    sub_c[pit] = 3
    sub_c[lake] = 4
    degr = rect(0.10, 0.40, 0.55, 0.92)
    sub_c[degr] = 2
    sub_y[degr] = np.where(xx[degr] < 0.72 * w, 2001, 2003)
    for (r0, r1, c0, c1), onset in (((0.58, 0.85, 0.08, 0.36), 2003),
                                    ((0.60, 0.88, 0.44, 0.64), 2005),
                                    ((0.50, 0.78, 0.72, 0.94), 2008)):
        m = rect(r0, r1, c0, c1)
        sub_c[m] = 1
        sub_y[m] = onset
    return cls, year


def _annual_peaks(cls: np.ndarray, yr: np.ndarray, year: int, texture: np.ndarray,
                  anomaly: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    evi = np.full(cls.shape, 0.45)
    lst = np.full(cls.shape, 299.0)
    # restored: bare until onset, 6-year ramp, plateau
    m = cls == 1
    f = np.clip((year - yr[m].astype(float)) / 6.0, 0.0, 1.0)
    f = np.where(year < yr[m], 0.0, np.maximum(f, 1.0 / 6.0))
    evi[m] = 0.10 + (0.45 - 0.10) * f
    lst[m] = 316.0 + (301.0 - 316.0) * f
    # degrading: linear from the start year to 2019
    m = cls == 2
    g = np.clip((year - yr[m].astype(float)) / (2019.0 - yr[m] + 1e-9), 0.0, 1.0)
    evi[m] = 0.45 + (0.15 - 0.45) * g
    lst[m] = 299.0 + (318.0 - 299.0) * g
    evi[cls == 3] = 0.06
    lst[cls == 3] = 320.0
    evi[cls == 4] = -0.06
    lst[cls == 4] = 295.0
    evi = evi * (1.0 + 0.03 * texture) * (1.0 + anomaly[0])
    lst = lst + 0.8 * texture + anomaly[1]
    return evi, lst


def _sr_from_evi(e: np.ndarray, water: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = 0.03 + 0.17 * (1.0 - np.clip(e / 0.6, 0.0, 1.0))
    b = 0.7 * r
    n = (2.5 * r + e * (6.0 * r - 7.5 * b + 1.0)) / (2.5 - e)
    b = np.where(water, 0.06, b)
    r = np.where(water, 0.04, r)
    n = np.where(water, 0.02, n)
    return b, r, n


def _dn_sr(rho: np.ndarray) -> np.ndarray:
    return np.clip(np.rint((rho - SR_ADD) / SR_MULT), 1, 65455).astype(np.uint16)


def _dn_st(t: np.ndarray) -> np.ndarray:
    return np.clip(np.rint((t - ST_ADD) / ST_MULT), 1, 65455).astype(np.uint16)


def _planck(t: np.ndarray, k1: float, k2: float) -> np.ndarray:
    return k1 / (np.exp(k2 / t) - 1.0)


def _scene_layers(sensor: str, evi: np.ndarray, lst: np.ndarray, water: np.ndarray,
                  rng: np.random.Generator, cloud_frac: float, f_season: float,
                  swath: np.ndarray, full: bool) -> dict[str, np.ndarray]:
    """All layers (DN) of one acquisition on the world grid."""
    from scipy.ndimage import binary_dilation, shift

    fam = "OLI" if sensor == "LC08" else "TM"
    codes = QA_CODES[fam]
    shape = evi.shape
    e = np.where(water, evi, evi * f_season * (1.0 + 0.02 * rng.standard_normal(shape)))
    t = lst - (1.0 - f_season) * 12.0 + 0.6 * rng.standard_normal(shape)
    b, r, n = _sr_from_evi(e, water)
    qa = np.where(water, codes["water"], codes["clear"]).astype(np.uint16)

    # clouds, their dilation ring, medium-confidence edge and shadows
    if cloud_frac > 0:
        z = _smooth_noise(rng, shape, 5.0)
        thr = np.quantile(z, 1.0 - cloud_frac) if cloud_frac < 1 else -np.inf
        cloud = z >= thr
    else:
        cloud = np.zeros(shape, bool)
    dil = binary_dilation(cloud, iterations=2) & ~cloud
    edge = binary_dilation(cloud, iterations=4) & ~cloud & ~dil
    shadow = shift(cloud.astype(np.uint8), (7, -5), order=0, mode="constant").astype(bool)
    shadow &= ~cloud & ~dil
    cirrus = cloud & (_smooth_noise(rng, shape, 3.0) > 1.0) if fam == "OLI" else cloud & False
    qa[edge & ~water] = codes["clear_medconf"]
    qa[shadow] = codes["shadow"]
    qa[dil] = codes["dilated"]
    qa[cloud] = codes["cloud"]
    qa[cirrus] = codes["cirrus_cloud"]
    b = np.where(cloud, 0.42, np.where(shadow, b * 0.3, b))
    r = np.where(cloud, 0.40, np.where(shadow, r * 0.3, r))
    n = np.where(cloud, 0.45, np.where(shadow, n * 0.3, n))
    t = np.where(cloud, 265.0, np.where(shadow, t - 5.0, t))

    radsat = np.zeros(shape, np.uint16)
    sat = rng.random(shape) < 0.002
    red_bit = 1 << (BANDS[sensor]["red"] - 1)  # type: ignore[operator]
    radsat[sat] = red_bit
    r = np.where(sat, 1.2, r)

    out = {"QA_PIXEL": qa, "QA_RADSAT": radsat}
    bands = BANDS[sensor]
    sr = {bands["blue"]: b, bands["red"]: r, bands["nir"]: n}
    if full:
        for k in bands["all"]:  # type: ignore[attr-defined]
            sr.setdefault(k, 0.5 * (r + n) if k > bands["nir"] else b)
    for k, v in sr.items():
        out[f"SR_B{k}"] = _dn_sr(v)
    out[bands["st"]] = _dn_st(t)  # type: ignore[index]
    if full:
        k1, k2 = K_CONST[sensor]
        emis = np.where(water, 0.99, np.where(e > 0.3, 0.985, 0.965))
        tau = np.full(shape, 0.85)
        lu, ld = np.full(shape, 1.2), np.full(shape, 2.0)
        lsen = tau * (emis * _planck(t, k1, k2) + (1 - emis) * ld) + lu
        out["ST_TRAD"] = np.rint(lsen / 0.001).astype(np.int16)
        out["ST_URAD"] = np.rint(lu / 0.001).astype(np.int16)
        out["ST_DRAD"] = np.rint(ld / 0.001).astype(np.int16)
        out["ST_ATRAN"] = np.rint(tau / 0.0001).astype(np.int16)
        out["ST_EMIS"] = np.rint(emis / 0.0001).astype(np.int16)
        out["ST_QA"] = np.where(cloud, 900, 150).astype(np.int16)
        if fam == "OLI":
            aer = np.full(shape, 2 | (1 << 6), np.uint8)  # retrieval valid, low aerosol
            out["SR_QA_AEROSOL"] = aer  # type: ignore[assignment]
        else:
            out["SR_ATMOS_OPACITY"] = np.full(shape, 120, np.int16)
    # fill outside the swath: QA 1, every SR/ST 0, int16 layers -9999
    for k, v in out.items():
        if k == "QA_PIXEL":
            v[~swath] = 1
        elif k == "QA_RADSAT":
            v[~swath] = 0
        elif v.dtype == np.int16:
            v[~swath] = -9999
        elif k == "SR_QA_AEROSOL":
            v[~swath] = 1
        else:
            v[~swath] = 0
    return out


# ---------------------------------------------------------------------------------------------
def _fmt_odl(v: Any) -> str:
    if isinstance(v, str) and not v.replace(".", "").replace("-", "").replace("e", "").isdigit():
        return f'"{v}"'
    return str(v)


def _mtl_groups(pid: str, sensor: str, acq: _dt.date, files: dict[str, str], crs_zone: int,
                corners: dict[str, float], level: str, tier: str) -> dict[str, dict[str, Any]]:
    bands = BANDS[sensor]
    contents: dict[str, Any] = {
        "ORIGIN": "Image courtesy of the U.S. Geological Survey (synthetic, mlri)",
        "LANDSAT_PRODUCT_ID": pid, "PROCESSING_LEVEL": level, "COLLECTION_NUMBER": "02",
        "COLLECTION_CATEGORY": tier, "OUTPUT_FORMAT": "GEOTIFF",
    }
    for k in files:
        if k.startswith("SR_B"):
            contents[f"FILE_NAME_BAND_{k[4:]}"] = files[k]
        elif k.startswith("ST_B"):
            contents[f"FILE_NAME_BAND_{k}"] = files[k]
    named = {"ST_TRAD": "THERMAL_RADIANCE", "ST_URAD": "UPWELL_RADIANCE",
             "ST_DRAD": "DOWNWELL_RADIANCE", "ST_ATRAN": "ATMOSPHERIC_TRANSMITTANCE",
             "ST_EMIS": "EMISSIVITY", "ST_QA": "QUALITY_L2_SURFACE_TEMPERATURE",
             "SR_QA_AEROSOL": "QUALITY_L2_AEROSOL", "SR_ATMOS_OPACITY": "ATMOSPHERIC_OPACITY",
             "QA_PIXEL": "QUALITY_L1_PIXEL", "QA_RADSAT": "QUALITY_L1_RADIOMETRIC_SATURATION"}
    for k, key in named.items():
        if k in files:
            contents[f"FILE_NAME_{key}"] = files[k]
    contents["FILE_NAME_METADATA_ODL"] = f"{pid}_MTL.txt"
    image = {"SPACECRAFT_ID": bands["spacecraft"], "SENSOR_ID": bands["sensor_id"],
             "WRS_TYPE": 2, "WRS_PATH": int(pid[10:13]), "WRS_ROW": int(pid[13:16]),
             "DATE_ACQUIRED": acq.isoformat(), "SCENE_CENTER_TIME": "02:30:00.0000000Z",
             "CLOUD_COVER": 20.0, "SUN_ELEVATION": 55.0}
    proj = {"MAP_PROJECTION": "UTM", "DATUM": "WGS84", "ELLIPSOID": "WGS84",
            "UTM_ZONE": crs_zone, "GRID_CELL_SIZE_REFLECTIVE": "30.00", **corners}
    sr = {}
    for k in bands["all"]:  # type: ignore[attr-defined]
        sr[f"REFLECTANCE_MULT_BAND_{k}"] = "2.75e-05"
    for k in bands["all"]:  # type: ignore[attr-defined]
        sr[f"REFLECTANCE_ADD_BAND_{k}"] = "-0.2"
    groups: dict[str, dict[str, Any]] = {
        "PRODUCT_CONTENTS": contents, "IMAGE_ATTRIBUTES": image,
        "PROJECTION_ATTRIBUTES": proj,
        "LEVEL2_PROCESSING_RECORD": {"PROCESSING_LEVEL": level},
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": sr,
    }
    if level == "L2SP":
        groups["LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"] = {
            f"TEMPERATURE_MULT_BAND_{bands['st']}": "0.00341802",
            f"TEMPERATURE_ADD_BAND_{bands['st']}": "149.0"}
    # Level-1 groups reuse key names with other values: a parser must not mix them up.
    groups["LEVEL1_PROCESSING_RECORD"] = {"PROCESSING_LEVEL": "L1TP"}
    groups["LEVEL1_RADIOMETRIC_RESCALING"] = {f"REFLECTANCE_MULT_BAND_{k}": "2.0000E-05"
                                              for k in bands["all"]} | {  # type: ignore[attr-defined]
        f"REFLECTANCE_ADD_BAND_{k}": "-0.100000" for k in bands["all"]}  # type: ignore[attr-defined]
    k1, k2 = K_CONST[sensor]
    band = "10" if sensor == "LC08" else "6"
    groups["LEVEL1_THERMAL_CONSTANTS"] = {f"K1_CONSTANT_BAND_{band}": f"{k1}",
                                          f"K2_CONSTANT_BAND_{band}": f"{k2}"}
    return groups


def _write_mtl(folder: Path, pid: str, groups: dict[str, dict[str, Any]]) -> None:
    lines = ["GROUP = LANDSAT_METADATA_FILE"]
    for g, d in groups.items():
        lines.append(f"  GROUP = {g}")
        lines += [f"    {k} = {_fmt_odl(v)}" for k, v in d.items()]
        lines.append(f"  END_GROUP = {g}")
    lines += ["END_GROUP = LANDSAT_METADATA_FILE", "END", ""]
    (folder / f"{pid}_MTL.txt").write_text("\n".join(lines), encoding="utf-8")
    js = {"LANDSAT_METADATA_FILE": {g: {k: str(v) for k, v in d.items()}
                                    for g, d in groups.items()}}
    (folder / f"{pid}_MTL.json").write_text(json.dumps(js), encoding="utf-8")


def write_scene(folder: str | os.PathLike[str], pid: str, layers: dict[str, np.ndarray],
                crs: Any, transform: Any, *, acquired: _dt.date | None = None,
                mtl: bool = True) -> Path:
    """Write one scene folder ``folder/<pid>/`` like USGS does (GeoTIFFs + MTL txt/json)."""
    import rasterio
    from rasterio.crs import CRS

    crs = CRS.from_user_input(crs)
    d = Path(folder) / pid
    d.mkdir(parents=True, exist_ok=True)
    files = {}
    for suffix, arr in layers.items():
        name = f"{pid}_{suffix}.TIF"
        files[suffix] = name
        h, w = arr.shape
        prof: dict[str, Any] = {"driver": "GTiff", "width": w, "height": h, "count": 1,
                                "dtype": str(arr.dtype), "crs": crs, "transform": transform,
                                "compress": "deflate"}
        if h >= 256 and w >= 256:
            prof.update(tiled=True, blockxsize=256, blockysize=256)
        if suffix.startswith(("SR_B", "ST_B")):
            prof["nodata"] = 0
        elif arr.dtype == np.int16:
            prof["nodata"] = -9999
        with rasterio.open(d / name, "w", **prof) as ds:
            ds.write(arr, 1)
            ds.update_tags(AREA_OR_POINT="Point")
    if mtl:
        sensor = pid[:4]
        h, w = next(iter(layers.values())).shape
        ul_x, ul_y = transform.c + 15.0, transform.f - 15.0  # MTL corners are pixel centres
        lr_x, lr_y = ul_x + (w - 1) * 30.0, ul_y - (h - 1) * 30.0
        corners = {}
        from rasterio.warp import transform as wt

        xs, ys = [ul_x, lr_x, ul_x, lr_x], [ul_y, ul_y, lr_y, lr_y]
        lons, lats = wt(crs, "EPSG:4326", xs, ys)
        for i, c in enumerate(("UL", "UR", "LL", "LR")):
            corners[f"CORNER_{c}_LAT_PRODUCT"] = f"{lats[i]:.5f}"
            corners[f"CORNER_{c}_LON_PRODUCT"] = f"{lons[i]:.5f}"
            corners[f"CORNER_{c}_PROJECTION_X_PRODUCT"] = f"{xs[i]:.3f}"
            corners[f"CORNER_{c}_PROJECTION_Y_PRODUCT"] = f"{ys[i]:.3f}"
        epsg = crs.to_epsg() or 32600
        acq = acquired or _dt.datetime.strptime(pid[17:25], "%Y%m%d").date()
        level, tier = pid[5:9], pid[-2:]
        _write_mtl(d, pid, _mtl_groups(pid, sensor, acq, files, epsg % 100, corners, level, tier))  # type: ignore[arg-type]
    return d


def _season_dates(year: int, n: int, rng: np.random.Generator, months: tuple[int, int]
                  ) -> list[_dt.date]:
    start = _dt.date(year, months[0], 1).toordinal()
    end = _dt.date(year, months[1] % 12 + 1, 1).toordinal() - 1 if months[1] < 12 else \
        _dt.date(year, 12, 31).toordinal()
    span = end - start
    base = sorted(rng.choice(np.arange(0, span - 1, 16), size=min(n, span // 16), replace=False))
    return [_dt.date.fromordinal(int(start + b + rng.integers(0, 8))) for b in base]


def _f_season(d: _dt.date) -> float:
    doy = d.timetuple().tm_yday
    return float(np.clip(1.0 - 0.25 * ((doy - 210) / 60.0) ** 2, 0.6, 1.0))


def make_archive(root: str | os.PathLike[str], *, size: tuple[int, int] = (100, 100),
                 years: Sequence[int] = PAPER_YEARS, dates_per_season: int = 3,
                 seed: int = 0, max_cloud: float = 0.6, mixed_zone: bool = False,
                 tar_years: Sequence[int] = (), nested: bool = True, full: bool = False,
                 distractors: bool = True, buffer: float = 150.0) -> SyntheticArchive:
    """Write a synthetic C2 L2 archive under ``root`` and return what was written.

    Parameters
    ----------
    size : (rows, cols)
        AOI size in 30 m pixels (the scenes are larger: a margin of 40 pixels).
    years : years to simulate; TM (LT05) up to 2011, OLI (LC08) from 2013 (2012 is skipped).
    dates_per_season : acquisitions per path and season (June–September).
    max_cloud : each scene's cloud fraction is uniform in [0, max_cloud].
    mixed_zone : scenes of the eastern path are stored in the next UTM zone (as USGS does for
        a path whose centre lies there), so the compositor must reproject them.
    tar_years : years whose scenes are bundled as ``<product_id>.tar`` (folder removed).
    nested : put scenes in ``<root>/<path>/<year>/`` folders instead of flat.
    full : also write the remaining SR bands and the ST intermediates (RTE), ST_QA,
        SR_QA_AEROSOL / SR_ATMOS_OPACITY.
    distractors : add an out-of-season scene (April) and a Tier 2 scene with absurd values
        that a correct selection must skip.
    """
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import Affine
    from rasterio.warp import Resampling, reproject
    from rasterio.warp import transform as wt

    from .grid import grid_for_aoi, snap_bounds

    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    h, w = size
    pad = 40
    crs = CRS.from_epsg(32650)
    # AOI near the eastern edge of zone 50 (about 119.8 E, 39.6 N)
    ax0, aytop = 740_085.0, 4_400_025.0
    # AOI polygon: a rectangle one buffer inside the AOI pixels -> grid_for_aoi gives them back
    ins = buffer + 5
    poly_utm = [(ax0 + ins, aytop - ins), (ax0 + w * 30 - ins, aytop - ins),
                (ax0 + w * 30 - ins, aytop - h * 30 + ins), (ax0 + ins, aytop - h * 30 + ins)]
    lons, lats = wt(crs, "EPSG:4326", [p[0] for p in poly_utm], [p[1] for p in poly_utm])
    ring = [[float(x), float(y)] for x, y in zip(lons, lats, strict=False)]
    ring.append(ring[0])
    aoi = root / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"mine_id": 1, "name": "synthetic mine"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}), encoding="utf-8")
    grid = grid_for_aoi(aoi, buffer=buffer)
    if grid.crs != crs:
        msg = f"internal: AOI grid in {grid.crs}, expected {crs}"
        raise RuntimeError(msg)

    wx0, wytop = ax0 - pad * 30, aytop + pad * 30
    wshape = (h + 2 * pad, w + 2 * pad)
    wtrans = Affine(30.0, 0.0, wx0, 0.0, -30.0, wytop)
    cls, yr = _layout(h, w, pad)
    texture = _smooth_noise(rng, wshape, 3.0)
    water = cls == 4

    # truth on the target grid (same zone and lattice: an integer window of the world)
    c0 = round((grid.transform.c - wx0) / 30)
    r0 = round((wytop - grid.transform.f) / 30)
    truth = root / "truth.tif"
    with rasterio.open(truth, "w", driver="GTiff", width=grid.width, height=grid.height, count=2,
                       dtype="uint16", crs=grid.crs, transform=grid.transform,
                       compress="deflate") as ds:
        ds.write(cls[r0:r0 + grid.height, c0:c0 + grid.width].astype(np.uint16), 1)
        ds.write(yr[r0:r0 + grid.height, c0:c0 + grid.width], 2)
        ds.update_tags(classes=json.dumps(CLASS_NAMES), band2="onset year (restored) or start "
                       "year (degrading); 0 otherwise")
        ds.set_band_description(1, "planted class")
        ds.set_band_description(2, "planted year")

    # swaths: path A covers the whole world grid but its western edge; path B the eastern 60 %
    yy, xx = np.mgrid[0:wshape[0], 0:wshape[1]]
    swath_a = xx >= 6 + 0.05 * yy
    swath_b = xx >= int(0.40 * wshape[1]) + 0.08 * (yy - wshape[0] / 2)
    paths = [(123, 32, swath_a, 0), (122, 32, swath_b, 7)]

    archive = SyntheticArchive(root=root, aoi=aoi, truth=truth, grid=grid, years=tuple(years))
    zone_b = CRS.from_epsg(32651)
    for year in years:
        sensor = "LT05" if year <= 2011 else "LC08"
        if year == 2012:
            continue
        anomaly = (0.03 * rng.standard_normal(), 0.8 * rng.standard_normal())
        evi_pk, lst_pk = _annual_peaks(cls, yr, year, texture, anomaly)
        dates = _season_dates(year, dates_per_season, rng, (6, 9))
        plan = []
        for path, row, swath, dday in paths:
            for d in dates:
                dd = d + _dt.timedelta(days=dday)
                if dd.month > 9:  # keep the neighbouring path inside the season
                    dd = d - _dt.timedelta(days=9)
                plan.append((path, row, swath, dd, "T1", None))
        if distractors and year in (years[1], years[-3]):
            plan.append((123, 32, swath_a, _dt.date(year, 4, 20), "T1", "hot"))  # type: ignore[arg-type]
            plan.append((123, 32, swath_a, _dt.date(year, 7, 28), "T2", "hot"))  # type: ignore[arg-type]
        for path, row, swath, d, tier, special in plan:
            cloud = 0.0 if special else float(rng.uniform(0.0, max_cloud))
            lay = _scene_layers(sensor, evi_pk, lst_pk + (30.0 if special else 0.0), water, rng,
                                cloud, _f_season(d), swath, full)
            pid = f"{sensor}_L2SP_{path:03d}{row:03d}_{d:%Y%m%d}_{d.year + 1}0101_02_{tier}"
            folder = root / (f"{path:03d}{row:03d}/{year}" if nested else "")
            scrs, strans = crs, wtrans
            if mixed_zone and path == 122:
                # stored in zone 51: warp every layer (nearest) onto a snapped zone-51 grid
                from rasterio.warp import transform_bounds

                wb = (wx0, wytop - wshape[0] * 30, wx0 + wshape[1] * 30, wytop)
                bb = transform_bounds(crs, zone_b, *wb, densify_pts=21)
                x0, yt, ww, hh = snap_bounds(bb, 30.0)
                strans = Affine(30.0, 0.0, x0, 0.0, -30.0, yt)
                scrs = zone_b
                warped = {}
                for k, a in lay.items():
                    fill = 1 if k in ("QA_PIXEL", "SR_QA_AEROSOL") else (
                        -9999 if a.dtype == np.int16 else 0)
                    dst = np.full((hh, ww), fill, dtype=a.dtype)
                    reproject(a, dst, src_transform=wtrans, src_crs=crs, dst_transform=strans,
                              dst_crs=scrs, resampling=Resampling.nearest, src_nodata=fill,
                              dst_nodata=fill)
                    warped[k] = dst
                lay = warped
            sdir = write_scene(folder, pid, lay, scrs, strans, acquired=d)
            loc = sdir
            if year in tar_years:
                tar = sdir.parent / f"{pid}.tar"
                with tarfile.open(tar, "w") as tf:
                    for f in sorted(sdir.iterdir()):
                        tf.add(f, arcname=f.name)
                shutil.rmtree(sdir)
                loc = tar
            archive.scenes.append({"product_id": pid, "path": str(loc), "acquired": d.isoformat(),
                                   "tier": tier, "special": special, "cloud": round(cloud, 3),
                                   "crs": scrs.to_string()})
    (root / "scenes.json").write_text(json.dumps(archive.scenes, indent=1), encoding="utf-8")
    return archive
