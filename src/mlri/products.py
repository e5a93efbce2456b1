"""The run folder: what ``mlri run`` (and every other writer) puts in an output folder.

One schema for every writer — :func:`mlri.pipeline.run` (``mlri run``, ``mlri demo``) and
:func:`mlri.xarray.to_geotiff` — and every reader (:mod:`mlri.sites`, the report):

=====================  ========  =======  ====================================================
file                   dtype     nodata   bands
=====================  ========  =======  ====================================================
mlri.tif               float32   NaN      one per year (description = the year)
trend.tif              float32   NaN      :data:`TREND_BANDS` (n_valid ... years_dropped,
                                        sen_low, sen_high)
classes.tif            uint8     0        class codes (:mod:`mlri.classes`; colour table)
classes.tif.aux.xml    text               GDAL category names of classes.tif
flags.tif              uint8     255      flag bits (:data:`mlri.FLAG_BITS`); 255 = no data
significance.tif       float32   NaN      p_increase, p_decrease (calibrated tests / FDR)
onset.tif              float32   NaN      :data:`ONSET_BANDS` (with ``onset=True``)
summary.json           JSON               class areas, flags, valid pixels per year, test
manifest.json          JSON               provenance (parameters, inputs, digests, timing)
=====================  ========  =======  ====================================================

Adding an output band: a :class:`Band` in the file's tuple below (its value comes from
:func:`pack_trend` or the writer's block); a new file: a :class:`RasterFile` in
:data:`RASTERS` plus its block in :func:`mlri.recipe.compute_block`.
Files are written through :class:`mlri._outputs.OutputSet` (atomic, all-or-nothing).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._outputs import atomic_file
from .classes import (
    CLASS_COLORS,
    CLASS_DESCRIPTIONS,
    CLASS_LABELS,
    FLAG_NODATA,
    FLAG_NODATA_MEANING,
    FLAGS,
    SI_CODES,
)

__all__ = [
    "ONSET_BANDS",
    "ONSET_NAME",
    "OUTPUT_NAMES",
    "RASTERS",
    "SIGNIFICANCE_BANDS",
    "SIGNIFICANCE_NAME",
    "TREND_BANDS",
    "TREND_VAR_OF_BAND",
    "Band",
    "RasterFile",
    "SummaryAccumulator",
    "describe_rasters",
    "format_summary",
    "is_stable",
    "pack_onset",
    "pack_trend",
    "raster_files",
    "sensor_steps",
    "summary",
    "write_aux_xml",
    "year_quantiles",
]


@dataclass(frozen=True)
class Band:
    """One band: its description (name) and unit."""

    name: str
    unit: str = ""


@dataclass(frozen=True)
class RasterFile:
    """One raster of the run folder (``bands`` None = one band per year)."""

    name: str
    dtype: str
    nodata: float | int | None
    bands: tuple[Band, ...] | None
    categorical: bool = False   # overviews by "nearest" instead of "average"
    optional: bool = False      # written only when the run produces it


#: Bands of ``trend.tif`` and the :class:`mlri.TrendResult` field (or "dropped") of each.
TREND_VAR_OF_BAND: dict[str, str] = {
    "n_valid": "n_valid", "S": "s", "var_S": "var_s", "Z": "z", "p": "p",
    "sen_slope": "slope", "intercept": "intercept", "hurst": "hurst",
    "years_dropped": "dropped",
    # appended after years_dropped so that the bands above keep their indices
    "sen_low": "sen_low", "sen_high": "sen_high",
}
#: Bands of ``trend.tif`` (float32, nodata NaN), in order.
TREND_BANDS: tuple[str, ...] = tuple(TREND_VAR_OF_BAND)
_TREND_UNITS = {"n_valid": "years", "sen_slope": "MLRI per year", "years_dropped": "years",
                "sen_low": "MLRI per year", "sen_high": "MLRI per year"}
_DROPPED_BAND = TREND_BANDS.index("years_dropped")
#: Written when a calibrated test is selected (``significance != "paper"`` or ``fdr``).
SIGNIFICANCE_NAME = "significance.tif"
SIGNIFICANCE_BANDS: tuple[str, ...] = ("p_increase", "p_decrease")

#: Written with ``onset=True`` (``--onset``): :func:`mlri.onset` of the EVI stack.
ONSET_NAME = "onset.tif"
#: Bands of ``onset.tif``: the :class:`mlri.onset.OnsetResult` field of each.
ONSET_BANDS: tuple[str, ...] = ("onset", "break_year", "p", "rate", "magnitude", "n_valid")
_ONSET_UNITS = {"onset": "year", "break_year": "year", "rate": "EVI per year",
                "magnitude": "EVI", "n_valid": "years"}

#: The rasters, in the order ``mlri run`` opens them.
RASTERS: tuple[RasterFile, ...] = (
    RasterFile("flags.tif", "uint8", FLAG_NODATA, (Band("flags"),), categorical=True),
    RasterFile("classes.tif", "uint8", 0, (Band("class"),), categorical=True),
    RasterFile("trend.tif", "float32", float("nan"),
               tuple(Band(b, _TREND_UNITS.get(b, "")) for b in TREND_BANDS)),
    RasterFile("mlri.tif", "float32", float("nan"), None),
    RasterFile(SIGNIFICANCE_NAME, "float32", float("nan"),
               tuple(Band(b) for b in SIGNIFICANCE_BANDS), optional=True),
    RasterFile(ONSET_NAME, "float32", float("nan"),
               tuple(Band(b, _ONSET_UNITS.get(b, "")) for b in ONSET_BANDS), optional=True),
)
#: Every file of a run folder (significance.tif only with a calibrated test, onset.tif only
#: with ``onset=True``).
OUTPUT_NAMES: tuple[str, ...] = ("mlri.tif", "trend.tif", "classes.tif", "classes.tif.aux.xml",
                                 "classes.png", "flags.tif", "summary.json", "manifest.json")


def raster_files(with_pvalues: bool, with_onset: bool = False) -> tuple[RasterFile, ...]:
    """The rasters a run writes (``significance.tif`` only ``with_pvalues``, ``onset.tif``
    only ``with_onset``)."""
    want = {SIGNIFICANCE_NAME: with_pvalues, ONSET_NAME: with_onset}
    return tuple(r for r in RASTERS if not r.optional or want.get(r.name, False))


def pack_onset(res: Any) -> np.ndarray:
    """The float32 ``(len(ONSET_BANDS), *spatial)`` block of ``onset.tif`` from an
    :class:`mlri.onset.OnsetResult`."""
    return np.stack([np.asarray(getattr(res, b), dtype=np.float32) for b in ONSET_BANDS])


def pack_trend(trend: Any, dropped: Any, sen_ci: tuple[Any, Any]) -> np.ndarray:
    """The float32 ``(len(TREND_BANDS), *spatial)`` block of ``trend.tif`` (``sen_ci``: the
    ``(low, high)`` Sen's slope interval, :attr:`mlri.recipe.Block.sen_ci`)."""
    shape = np.shape(dropped)
    out = np.empty((len(TREND_BANDS), *shape), dtype=np.float32)
    extra = {"dropped": dropped, "sen_low": sen_ci[0], "sen_high": sen_ci[1]}
    for i, var in enumerate(TREND_VAR_OF_BAND.values()):
        out[i] = extra[var] if var in extra else getattr(trend, var)
    return out


def _year_text(y: Any) -> str:
    f = float(y)
    return str(int(f)) if f.is_integer() else str(y)


def write_aux_xml(path: Path) -> None:
    """GDAL PAM side-car with the category names of classes.tif (read by GDAL/QGIS/ArcGIS)."""
    cats = "\n".join(f"      <Category>{CLASS_LABELS.get(i, '')}</Category>"
                     for i in range(max(CLASS_LABELS) + 1))
    text = ("<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n"
            f"{cats}\n    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n")
    with atomic_file(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def describe_rasters(ds: dict[str, Any], years: Any, opts: Any) -> None:
    """Band descriptions, units, tags and the colour table of the open rasters ``ds``
    (file name -> rasterio dataset), from the schema, the years and the options."""
    years = [_year_text(y) for y in years]
    tags = {"MLRI_TOOL": "mlri", "MLRI_YEARS": ",".join(years)}
    if SIGNIFICANCE_NAME in ds:
        sg = ds[SIGNIFICANCE_NAME]
        sg.update_tags(**tags, SIGNIFICANCE=opts.significance,
                       PERMUTATIONS=str(opts.permutations), SEED=str(opts.seed),
                       FDR=str(opts.fdr) if opts.fdr is not None else "")
    if ONSET_NAME in ds:
        ds[ONSET_NAME].update_tags(**tags, ONSET_SERIES="EVI",
                                   ONSET_METHOD="mlri.onset defaults (hinge, increase, "
                                   "alpha 0.05)")
    m = ds["mlri.tif"]
    m.update_tags(**tags, MLRI_DEFINITION="(max LST[first..i] / min EVI[first..i]) / "
                  "(LST_i / EVI_i), running extrema over valid years",
                  LST_UNIT=opts.lst_unit, EVI_MIN=str(opts.evi_min),
                  EVI_POLICY=opts.evi_policy)
    for b, y in enumerate(years, 1):
        m.set_band_description(b, y)
        m.update_tags(b, YEAR=y)
    t = ds["trend.tif"]
    t.update_tags(**tags, HURST_METHOD=opts.hurst_method, HURST_SERIES=opts.hurst_series)
    units = {"intercept": f"MLRI at {years[0]}"} if years else {}
    for r in RASTERS:
        if r.name not in ds or r.bands is None or r.name in ("classes.tif", "flags.tif"):
            continue
        for b, band in enumerate(r.bands, 1):
            ds[r.name].set_band_description(b, band.name)
            unit = units.get(band.name, band.unit)
            if unit:
                ds[r.name].set_band_unit(b, unit)
    c = ds["classes.tif"]
    c.set_band_description(1, "class")
    c.write_colormap(1, CLASS_COLORS)
    c.update_tags(**tags, MIN_VALID=str(opts.min_valid),
                  Z_CRIT=str(opts.z_crit) if opts.z_crit is not None else "",
                  ALPHA=str(opts.alpha) if opts.alpha is not None else "")
    c.update_tags(1, **{f"CLASS_{k}": f"{v}: {CLASS_DESCRIPTIONS[k]}"
                        for k, v in CLASS_LABELS.items()})
    f = ds["flags.tif"]
    f.set_band_description(1, "flags")
    f.update_tags(**tags)
    f.update_tags(1, **{f"BIT_{fl.bit}": fl.name for fl in FLAGS},
                  NODATA_MEANING=FLAG_NODATA_MEANING)


class SummaryAccumulator:
    """Counts for ``summary.json``, fed block by block (thread-safe).

    Writers feed what they have: the pipeline also feeds the valid counts of the inputs per
    year (``add_valid``, from :attr:`mlri.recipe.Block.valid`); without them the LST/EVI counts
    are None.
    """

    def __init__(self, n_years: int) -> None:
        self.class_counts = np.zeros(256, dtype=np.int64)
        self.flag_bits = np.zeros(8, dtype=np.int64)
        self.lst_valid = np.zeros(n_years, dtype=np.int64)
        self.evi_valid = np.zeros(n_years, dtype=np.int64)
        self.mlri_valid = np.zeros(n_years, dtype=np.int64)
        self.with_data = 0
        self.with_dropped = 0
        self.onset_years: dict[float, int] = {}
        self.sensor_sample: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.has_inputs = False
        self.lock = threading.Lock()

    def add_valid(self, valid: np.ndarray) -> None:
        """Pixels with a finite LST, EVI and MLRI per year: ``(3, T)``
        (:attr:`mlri.recipe.Block.valid`)."""
        v = np.asarray(valid, dtype=np.int64)
        with self.lock:
            self.has_inputs = True
            self.lst_valid += v[0]
            self.evi_valid += v[1]
            self.mlri_valid += v[2]

    def add_classes(self, classes: np.ndarray) -> None:
        cc = np.bincount(np.asarray(classes).ravel(), minlength=256)
        with self.lock:
            self.class_counts += cc

    def add_flags(self, flags: np.ndarray) -> None:
        flags = np.asarray(flags)
        f = flags[flags != FLAG_NODATA]
        bits = np.array([np.count_nonzero(f & (1 << b)) for b in range(8)])
        nd = int(np.count_nonzero(flags == FLAG_NODATA))
        with self.lock:
            self.flag_bits += bits
            self.with_data += flags.size - nd

    def add_mlri(self, mlri: np.ndarray, first_year: int = 0) -> None:
        mv = _valid_per_year(mlri)
        with self.lock:
            self.mlri_valid[first_year:first_year + len(mv)] += mv

    def add_dropped(self, dropped: np.ndarray) -> None:
        n = int(np.count_nonzero(np.asarray(dropped) > 0))
        with self.lock:
            self.with_dropped += n

    def add_onset(self, onset: np.ndarray, classes: np.ndarray) -> None:
        """Onset years of the pixels classed SI (SCI, SAI, SI with undefined H)."""
        o = np.asarray(onset, dtype=np.float64)
        sel = np.isin(np.asarray(classes), SI_CODES) & np.isfinite(o)
        yrs, n = np.unique(o[sel], return_counts=True)
        with self.lock:
            for y, k in zip(yrs.tolist(), n.tolist(), strict=True):
                self.onset_years[y] = self.onset_years.get(y, 0) + int(k)

    def add_sensor_sample(self, sample: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """``(global_index, lst, evi)`` of sampled non-restoring pixels (for the sensor step)."""
        with self.lock:
            self.sensor_sample.append(sample)

    def add_block(self, trend: np.ndarray, classes: np.ndarray, flags: np.ndarray,
                  valid: np.ndarray, onset: np.ndarray | None = None,
                  sample: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        """One block as ``mlri run`` writes it (``trend`` packed by :func:`pack_trend`,
        ``valid`` as :attr:`mlri.recipe.Block.valid`, ``onset`` packed by
        :func:`pack_onset`)."""
        self.add_classes(classes)
        self.add_flags(flags)
        self.add_valid(valid)
        self.add_dropped(trend[_DROPPED_BAND])
        if onset is not None:
            self.add_onset(onset[0], classes)
        if sample is not None:
            self.add_sensor_sample(sample)


def _valid_per_year(stack: np.ndarray) -> np.ndarray:
    """Finite values per year of a ``(T, ...)`` stack (a count per year: ~2.5x faster than a
    boolean sum over the spatial axes)."""
    return np.array([np.count_nonzero(np.isfinite(band)) for band in np.asarray(stack)],
                    dtype=np.int64)


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def summary(acc: SummaryAccumulator, grid: Any, years: Any, opts: Any,
            significance: dict[str, Any], warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The content of ``summary.json`` (``grid`` as :class:`mlri.io.Grid`); ``warnings`` are
    the run's warnings for a reader (e.g. why nothing was classified)."""
    g = grid
    total = g.width * g.height
    classified = int(acc.class_counts[1:].sum())
    classes = []
    for code, name in CLASS_LABELS.items():
        n = int(acc.class_counts[code])
        classes.append({
            "code": code, "name": name, "description": CLASS_DESCRIPTIONS[code],
            "pixels": n, "area_ha": _r(g.area_ha(n)),
            "percent_of_classified": None if code == 0 or classified == 0 else
            round(100.0 * n / classified, 3),
            "percent_of_all": round(100.0 * n / total, 3) if total else None,
        })
    si = sum(int(acc.class_counts[c]) for c in SI_CODES)
    years = [int(y) if float(y).is_integer() else float(y) for y in years]

    def _valid(i: int) -> dict[str, int | None]:
        known = acc.has_inputs
        return {"LST": int(acc.lst_valid[i]) if known else None,
                "EVI": int(acc.evi_valid[i]) if known else None,
                "MLRI": int(acc.mlri_valid[i])}

    out: dict[str, Any] = {
        "pixels": total,
        "pixels_with_data": int(acc.with_data),
        "pixels_classified": classified,
        "pixel_size": [abs(g.transform.a), abs(g.transform.e)],
        "pixel_area_ha": _r(g.area_ha(1), 6),
        "area_ha": _r(g.area_ha(total)),
        "area_classified_ha": _r(g.area_ha(classified)),
        "crs": g.crs.to_string() if g.crs else None,
        "years": years,
        "classes": classes,
        "significant_improvement_percent": round(100.0 * si / classified, 3)
        if classified else None,
        "flags": {fl.name: int(acc.flag_bits[fl.bit.bit_length() - 1]) for fl in FLAGS},
        "pixels_with_dropped_years": int(acc.with_dropped),
        "valid_pixels_per_year": {str(y): _valid(i) for i, y in enumerate(years)},
        "min_valid": opts.min_valid,
        "note": ("MLRI uses running extrema, so it drifts upward by construction: about half "
                 "of stationary (unchanged) pixels test as significant improvement. Read SI "
                 "as 'better than the worst state seen so far', not as proof of restoration."),
        "significance": significance,
        "warnings": list(warnings),
    }
    if getattr(opts, "onset", False):
        out["onset"] = _onset_summary(acc, g)
    return out


def _onset_summary(acc: SummaryAccumulator, grid: Any) -> dict[str, Any]:
    """Hectares per onset year of the pixels classed SI with a significant onset."""
    yrs = sorted(acc.onset_years)
    counts = [acc.onset_years[y] for y in yrs]
    n = sum(counts)
    median = year_quantiles(yrs, counts, (0.5,))[0] if n else None

    def key(y: float) -> str:
        return str(int(y)) if float(y).is_integer() else str(y)

    return {"by_year": {key(y): _r(grid.area_ha(k)) for y, k in zip(yrs, counts, strict=True)},
            "median_year": median, "n_pixels": n,
            "classes": "SCI, SAI, SI with undefined H, with a significant onset (mlri.onset "
                       "on EVI, p <= 0.05)"}


def year_quantiles(years: Sequence[float], counts: Sequence[int],
                   qs: Sequence[float] = (0.25, 0.5, 0.75)) -> list[float | None]:
    """Quantiles of a distribution of years given as ``counts`` per year, without expanding
    it: the same values as ``numpy.percentile`` (linear interpolation) of the years repeated
    ``counts`` times (the median is the mean of the two middle values for an even count)."""
    order = np.argsort(np.asarray(years, dtype=np.float64), kind="stable")
    y = np.asarray(years, dtype=np.float64)[order]
    c = np.asarray(counts, dtype=np.int64)[order]
    keep = c > 0
    y, c = y[keep], c[keep]
    n = int(c.sum())
    if n == 0:
        return [None for _ in qs]
    cum = np.cumsum(c)

    def at(k: int) -> float:  # the k-th (0-based) value of the sorted expanded years
        return float(y[int(np.searchsorted(cum, k, side="right"))])

    out: list[float | None] = []
    for q in qs:
        pos = float(q) * (n - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        a, b = at(lo), at(hi)
        out.append(a + (pos - lo) * (b - a))
    return out


#: Target number of sampled pixels for the sensor-step diagnostic.
SENSOR_SAMPLE_PIXELS = 20_000
_LAST_TM_YEAR, _FIRST_OLI_YEAR = 2011, 2013


def is_stable(classes: Any) -> np.ndarray:
    """The pixels on which the sensor step is estimated: classified but not restoring (SD, ND,
    NI; not SI and not nodata)."""
    c = np.asarray(classes)
    return (c != 0) & ~np.isin(c, SI_CODES)


def sensor_sample_stride(width: int, height: int) -> int | None:
    """Stride of the regular pixel grid sampled for the sensor step."""
    return max(1, int(np.ceil(np.sqrt(width * height / SENSOR_SAMPLE_PIXELS))))


def straddles_sensor_switch(years: Any) -> bool:
    """At least two years up to the last TM year and two from the first OLI year."""
    y = np.asarray([float(v) for v in years])
    return int((y <= _LAST_TM_YEAR).sum()) >= 2 and int((y >= _FIRST_OLI_YEAR).sum()) >= 2


def sensor_summary(acc: SummaryAccumulator, years: Any, n_threads: int | None = None
                   ) -> dict[str, Any]:
    """``summary.json``'s ``sensor_step``: :func:`sensor_steps` of EVI and LST on the sampled
    pixels that are classified but not restoring (:func:`is_stable`)."""
    parts = sorted(acc.sensor_sample, key=lambda s: int(s[0][0]) if s[0].size else -1)
    parts = [s for s in parts if s[0].size]
    out: dict[str, Any] = {
        "stable": ("pixels classified but not SI (SD, ND, NI) on a regular grid of at most "
                   f"~{SENSOR_SAMPLE_PIXELS} pixels"),
        "n_sampled": int(sum(s[0].size for s in parts))}
    if not parts:
        out["reason"] = "no classified, non-restoring pixel in the sample"
        return out
    idx = np.concatenate([s[0] for s in parts])
    order = np.argsort(idx, kind="stable")
    lst = np.concatenate([s[1] for s in parts], axis=1)[:, order]
    evi = np.concatenate([s[2] for s in parts], axis=1)[:, order]
    out.update(sensor_steps(lst, evi, years, n_threads))
    return out


def sensor_steps(lst: np.ndarray, evi: np.ndarray, years: Any, n_threads: int | None = None
                 ) -> dict[str, dict[str, Any]]:
    """``{"EVI": ..., "LST": ...}``: :meth:`mlri.sensor.SensorStep.as_dict` of
    :func:`mlri.sensor.sensor_step` on the ``(time, pixels)`` series of stable pixels (all
    columns used), or ``{"reason": ...}`` when the step cannot be estimated.  The one
    estimate behind ``summary.json``'s ``sensor_step`` and the per-mine steps of
    :mod:`mlri.sites`."""
    from .sensor import sensor_step

    yrs = [float(y) for y in years]
    out: dict[str, dict[str, Any]] = {}
    for name, series in (("EVI", evi), ("LST", lst)):
        try:
            res = sensor_step(series, yrs, stable=np.ones(series.shape[1], dtype=bool),
                              first_new_year=_FIRST_OLI_YEAR, variable=name,
                              n_threads=n_threads)
        except ValueError as err:
            out[name] = {"reason": str(err)}
            continue
        out[name] = res.as_dict()
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """The class table printed by ``mlri run`` / ``mlri demo``."""
    rows = [f"{'code':>4}  {'class':<15} {'pixels':>10} {'area ha':>10} {'% classified':>13}"]
    for c in summary["classes"]:
        pct = c["percent_of_classified"]
        area = c["area_ha"]
        rows.append(f"{c['code']:>4}  {c['name']:<15} {c['pixels']:>10} "
                    f"{'' if area is None else f'{area:.1f}':>10} "
                    f"{'' if pct is None else f'{pct:.1f}':>13}")
    area = summary.get("area_classified_ha")
    rows.append(f"classified: {summary['pixels_classified']} of {summary['pixels']} pixels"
                + ("" if area is None else f" ({area:.1f} ha)"))
    return "\n".join(rows)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object of the run folder, or None when absent."""
    if not path.is_file():
        return None
    try:
        with path.open(encoding="utf-8") as fh:
            obj = json.load(fh)
    except (OSError, ValueError) as err:
        msg = f"{path} is not valid JSON ({err}); re-run `mlri run` or remove the file"
        raise ValueError(msg) from err
    return obj if isinstance(obj, dict) else {"value": obj}


def preload_quicklook() -> threading.Thread:
    """Start importing what :func:`write_quicklook` needs (matplotlib, ~0.5 s) in a daemon
    thread, so that the import overlaps the tiles instead of adding to a run's serial tail;
    pass the thread to :func:`write_quicklook`, which waits for it.  A failed import is left
    to write_quicklook, which raises it where the run can report it."""

    def load() -> None:
        with contextlib.suppress(Exception):
            from .quicklook import preload

            preload()

    t = threading.Thread(target=load, name="mlri-quicklook-import", daemon=True)
    t.start()
    return t


def write_quicklook(outset: Any, summary: dict[str, Any], out: Any,
                    preloading: threading.Thread | None = None) -> None:
    """Stage ``classes.png`` of a run folder: the class map drawn from the staged (finalised)
    ``classes.tif`` of ``outset`` (an :class:`mlri._outputs.OutputSet`); ``preloading``: the
    thread of :func:`preload_quicklook`, if one was started."""
    if preloading is not None:
        preloading.join()
    from .quicklook import write_quicklook as draw

    draw(outset.stage("classes.tif"), outset.stage("classes.png"), summary=summary,
         title=f"Restoration classes: {Path(out).name}")
