"""Per-mine onset of restoration, sensor step and Sen's slope interval (``mlri sites`` and
``mlri study``).

Computed from the optional parts of a run folder, over the pixels of each mine (the
rasterisation rule of :func:`mlri.sites.zonal_stats`: pixel centre inside the polygon, or
every touched pixel with ``all_touched``):

Onset of restoration (needs ``onset.tif``, ``mlri run --onset``)
    Among the mine's restoring pixels (classes SCI, SAI, SI with undefined H) those with a
    significant onset (the ``onset`` band is set where :func:`mlri.onset` gives ``p <= 0.05``):
    pixel count and hectares per onset year, the cumulative hectares ("hectares restored per
    year": the area whose restoration had started by the end of each year), the median onset
    year and its interquartile range (25th and 75th percentiles, linear interpolation as
    ``numpy.percentile``; :func:`mlri.products.year_quantiles`).  The same pixels as
    ``summary.json``'s map-wide ``onset``.

Sensor step (needs the run's LST/EVI inputs, readable where the run's ``manifest.json`` says)
    When the years straddle the Landsat 5 TM → Landsat 8 OLI switch (at least two years up to
    2011 and two from 2013), :func:`mlri.sensor.sensor_step` of EVI and LST on the mine's
    stable pixels: classified but not restoring (SD, ND, NI; :func:`mlri.products.is_stable`),
    the pixels ``summary.json``'s map-wide ``sensor_step`` uses.  Large mines are sampled on
    a regular grid of at most about 20,000 pixels (every ``s``-th row and column of the
    raster, as the map-wide diagnostic).  Each step comes with its standard error,
    confidence interval, p-value and the warning of :func:`mlri.sensor.sensor_step`
    (significant and moving the stable pixels' trend results); the steps of all mines are
    also pooled (:func:`mlri.sensor.pool_steps`).

Sen's slope interval (needs the ``sen_low`` / ``sen_high`` bands of ``trend.tif``)
    Over the mine's classified pixels with a finite slope and interval: the median Sen's slope
    and the medians of the interval's bounds, the share of pixels whose interval excludes 0
    and the share whose interval lies above 0 (a rise that the interval confirms).

A missing part is never an error: its columns are left out and :attr:`MineDiagnostics.notes`
says why and how to get it.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..classes import SI_CODES
from ..products import (
    SENSOR_SAMPLE_PIXELS,
    TREND_BANDS,
    is_stable,
    sensor_steps,
    straddles_sensor_switch,
    year_quantiles,
)
from ._geo import apply_affine
from ._table import Table
from .runfolder import RunFolder, open_run

__all__ = ["NOT_STRADDLING", "ONSET_COLUMNS", "SEN_COLUMNS", "MineDiagnostics",
           "combine_diagnostics", "mine_diagnostics", "sensor_columns"]

#: Per-mine table columns of the onset summary.
ONSET_COLUMNS = ("onset_pixels", "onset_ha", "onset_median_year", "onset_q25_year",
                 "onset_q75_year")
#: Per-mine table columns of the Sen's slope interval summary.
SEN_COLUMNS = ("sen_pixels", "sen_slope_median", "sen_low_median", "sen_high_median",
               "sen_excludes_zero_pct", "sen_above_zero_pct")
SENSOR_VARIABLES = ("EVI", "LST")
SENSOR_FIELDS = ("step", "se", "ci_low", "ci_high", "p", "warning")
#: How to get each part when the run lacks it (for notes and reports).
HOW_TO = {"onset": "re-run with `mlri run --onset` to map the onset year of restoration",
          "sen_interval": "re-run `mlri run` with this version of mlri (trend.tif bands "
                          "sen_low, sen_high)"}
_SENSOR_STABLE = ("the mine's pixels classified but not restoring (SD, ND, NI), at most "
                  f"~{SENSOR_SAMPLE_PIXELS} on a regular grid")
#: The note when the years do not straddle the sensor switch (nothing to report then).
NOT_STRADDLING = ("the years do not straddle the Landsat 5 TM -> Landsat 8 OLI switch (two "
                  "years up to 2011 and two from 2013 are needed)")
_ONSET_RULE = ("pixels of the mine classed SCI, SAI or SI with undefined H whose onset is "
               "significant (onset.tif band 'onset' set: mlri.onset on EVI, p <= 0.05)")


def sensor_columns() -> list[str]:
    """Per-mine table columns of the sensor step (``sensor_stable_pixels``, then
    ``sensor_<EVI|LST>_<step|se|ci_low|ci_high|p|warning>``)."""
    return ["sensor_stable_pixels"] + [f"sensor_{v}_{f}" for v in SENSOR_VARIABLES
                                       for f in SENSOR_FIELDS]


@dataclass
class MineDiagnostics:
    """Result of :func:`mine_diagnostics`: one entry per mine (None: not computed for it).

    Attributes
    ----------
    ids : list of str
        Mine ids, in the order of the mines.
    onset, sensor, sen : list of dict or None
        Per mine: the onset distribution (``pixels``, ``ha``, ``median_year``,
        ``q25_year``, ``q75_year``, ``by_year`` = list of ``{year, pixels, ha,
        cumulative_ha}``), the sensor step (``stable_pixels``, ``EVI``, ``LST`` =
        :meth:`mlri.sensor.SensorStep.as_dict` or ``{"reason": ...}``), the Sen's slope
        interval summary (the :data:`SEN_COLUMNS` without the prefix).
    notes : dict
        ``"onset"``, ``"sensor_step"``, ``"sen_interval"`` -> why the part is missing (a key
        is absent when the part was computed).
    info : dict
        The rules behind each part (JSON-ready).
    """

    ids: list[str]
    onset: list[dict[str, Any] | None]
    sensor: list[dict[str, Any] | None]
    sen: list[dict[str, Any] | None]
    notes: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def add_columns(self, table: Table) -> None:
        """Add the per-mine columns of every computed part to ``table`` (one row per mine)."""
        n = len(self.ids)
        if "onset" not in self.notes:
            for c in ONSET_COLUMNS:
                table[c] = np.array([_num((o or {}).get(c[len("onset_"):])) for o in
                                     self.onset], dtype=np.float64)
        if "sensor_step" not in self.notes:
            table["sensor_stable_pixels"] = np.array(
                [_num((s or {}).get("stable_pixels")) for s in self.sensor], dtype=np.float64)
            for v in SENSOR_VARIABLES:
                for f in SENSOR_FIELDS:
                    vals = [(s or {}).get(v, {}).get(f) for s in self.sensor]
                    table[f"sensor_{v}_{f}"] = (vals if f == "warning" else
                                                np.array([_num(x) for x in vals]))
        if "sen_interval" not in self.notes:
            for c in SEN_COLUMNS:
                table[c] = np.array([_num((s or {}).get(c[len("sen_"):])) for s in self.sen],
                                    dtype=np.float64)
        assert len(table) == n

    def warned(self) -> list[str]:
        """``"id (EVI, LST)"`` of every mine whose sensor step raises the warning."""
        out = []
        for mid, s in zip(self.ids, self.sensor, strict=True):
            w = [v for v in SENSOR_VARIABLES if ((s or {}).get(v) or {}).get("warning")]
            if w:
                out.append(f"{mid} ({', '.join(w)})")
        return out

    def onset_table(self) -> Table:
        """Long table ``id, year, pixels, ha, cumulative_ha`` (mines with onsets only)."""
        recs = [{"id": mid, **row} for mid, o in zip(self.ids, self.onset, strict=True)
                if o for row in o["by_year"]]
        if not recs:
            return Table({"id": [], "year": [], "pixels": [], "ha": [], "cumulative_ha": []})
        return Table.from_records(recs)

    def pooled(self) -> dict[str, Any]:
        """The sensor steps of every mine pooled per variable (:func:`mlri.sensor.pool_steps`)."""
        from ..sensor import pool_steps

        out: dict[str, Any] = {}
        for v in SENSOR_VARIABLES:
            steps = [SimpleNamespace(step=_num(s[v].get("step")), se=_num(s[v].get("se")))
                     for s in self.sensor if s and isinstance(s.get(v), dict)]
            out[v] = pool_steps(steps).as_dict()
        return out

    def as_json(self) -> dict[str, Any]:
        """JSON-ready record (``diagnostics.json``)."""
        doc: dict[str, Any] = {"rules": self.info, "notes": dict(self.notes),
                               "mines": [{"id": mid, "onset": o, "sensor_step": s,
                                          "sen_interval": q}
                                         for mid, o, s, q in zip(self.ids, self.onset,
                                                                 self.sensor, self.sen,
                                                                 strict=True)]}
        if "sensor_step" not in self.notes:
            doc["pooled_sensor_step"] = self.pooled()
        return doc


def combine_diagnostics(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``diagnostics.json`` from those of several runs (the mines of a study): the mines
    in order, the rules of the first, a note when it holds for every run, and the sensor
    steps pooled over all mines."""
    mines = [m for d in docs for m in d.get("mines", [])]
    rules: dict[str, Any] = {}
    for d in docs:
        for k, v in (d.get("rules") or {}).items():
            rules.setdefault(k, v)
    notes: dict[str, str] = {}
    for key in ("onset", "sensor_step", "sen_interval"):
        got = [(d.get("notes") or {}).get(key) for d in docs]
        if not docs:
            notes[key] = "no finished mine"
        elif all(got):
            notes[key] = str(got[0])
    diag = MineDiagnostics(ids=[str(m.get("id")) for m in mines],
                           onset=[m.get("onset") for m in mines],
                           sensor=[m.get("sensor_step") for m in mines],
                           sen=[m.get("sen_interval") for m in mines], notes=notes, info=rules)
    return diag.as_json()


def _num(v: Any) -> float:
    if v is None or isinstance(v, str):
        return float("nan")
    return float(v)


def _band_index(src: Any, name: str) -> int | None:
    """1-based band of ``src`` described ``name`` (by the schema's order when undescribed)."""
    descs = list(src.descriptions)
    if name in descs:
        return descs.index(name) + 1
    if not any(descs) and src.count == len(TREND_BANDS) and name in TREND_BANDS:
        return TREND_BANDS.index(name) + 1
    return None


def _open_inputs(rf: RunFolder, shape: tuple[int, int]) -> tuple[Any, str | None]:
    """The run's LST/EVI inputs (:func:`mlri.io.open_inputs` from its manifest), or the
    reason they cannot be used."""
    from ..io import open_inputs

    man = rf.manifest or {}
    p = rf.parameters
    if not p.get("lst") or not p.get("evi"):
        return None, ("the run folder's manifest.json does not name the LST/EVI inputs (the "
                      "sensor step needs them)")
    try:
        inputs = open_inputs(p["lst"], p["evi"], years=man.get("years") or None,
                             pattern=p.get("pattern"))
    except (OSError, ValueError) as err:
        return None, f"the run's LST/EVI inputs cannot be read ({err})"
    g = inputs.grid
    if (g.height, g.width) != shape:
        return None, (f"the run's LST/EVI inputs ({inputs.lst.describe()}) are "
                      f"{g.width} x {g.height} pixels, not the grid of classes.tif")
    return inputs, None


def mine_diagnostics(run: str | os.PathLike[str] | RunFolder, mines: Any, *,
                     all_touched: bool = False, chunk: int = 512,
                     n_threads: int | None = None) -> MineDiagnostics:
    """Onset distribution, sensor step and Sen's slope interval summary of every mine.

    Parameters
    ----------
    run : path or RunFolder
        ``mlri run`` output folder.
    mines : Mines
        The polygons (reprojected to the raster CRS when needed); mines without a geometry
        or outside the raster get None.
    all_touched : bool
        Rasterisation rule, as :func:`mlri.sites.zonal_stats`.
    chunk : int
        Rows read at once per mine (memory bound: ``chunk`` x mine width x years).
    n_threads : int, optional
        Threads of the trend check inside :func:`mlri.sensor.sensor_step`.

    Returns
    -------
    MineDiagnostics
        See the module docstring for each part; parts the run cannot give are in ``notes``.
    """
    import rasterio
    from rasterio.features import geometry_mask
    from rasterio.windows import Window

    from .zonal import _geojson, _PixelArea

    rf = run if isinstance(run, RunFolder) else open_run(run)
    n = len(mines)
    ids = [str(i) for i in mines.ids]
    notes: dict[str, str] = {}
    info: dict[str, Any] = {"rasterisation": "all_touched" if all_touched else "pixel_centre"}
    if rf.onset is None:
        notes["onset"] = f"the run folder has no onset.tif: {HOW_TO['onset']}"
    else:
        info["onset"] = _ONSET_RULE
    years = rf.years or [float(y) for y in (rf.summary or {}).get("years", [])]
    if not straddles_sensor_switch(years):
        notes["sensor_step"] = NOT_STRADDLING
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(rasterio.open(rf.classes))
        H, W, T = src.height, src.width, src.transform
        def aligned(ds: Any) -> bool:
            return (ds.height, ds.width) == (H, W) and ds.transform.almost_equals(T)

        osrc = stack.enter_context(rasterio.open(rf.onset)) if rf.onset is not None else None
        if osrc is not None and not aligned(osrc):
            notes["onset"] = ("onset.tif is not on the grid of classes.tif (not from the same "
                              "run): re-run `mlri run --onset`")
            info.pop("onset", None)
            osrc = None
        sen_bands: tuple[int, int, int] | None = None
        tsrc = None
        if rf.trend is None:
            notes["sen_interval"] = "the run folder has no trend.tif"
        else:
            tsrc = stack.enter_context(rasterio.open(rf.trend))
            idx = [_band_index(tsrc, b) for b in ("sen_slope", "sen_low", "sen_high")]
            if not aligned(tsrc):
                notes["sen_interval"] = "trend.tif is not on the grid of classes.tif"
            elif None in idx:
                notes["sen_interval"] = (f"trend.tif has no sen_low / sen_high bands: "
                                         f"{HOW_TO['sen_interval']}")
            else:
                sen_bands = (int(idx[0]), int(idx[1]), int(idx[2]))  # type: ignore[arg-type]
                alpha = (rf.parameters or {}).get("sen_alpha")
                info["sen_interval"] = {
                    "pixels": "the mine's classified pixels with a finite slope and interval",
                    "sen_alpha": alpha}
        inputs = reader = None
        if "sensor_step" not in notes:
            inputs, why = _open_inputs(rf, (H, W))
            if why:
                notes["sensor_step"] = why
            else:
                reader = stack.enter_context(inputs.open())  # type: ignore[union-attr]
                info["sensor_step"] = {"stable": _SENSOR_STABLE,
                                       "method": "mlri.sensor.sensor_step (drift linear, "
                                                 "alpha 0.05, first OLI year 2013)"}
        pa = _PixelArea(src.crs, T)
        rmines = mines.to_crs(src.crs.to_wkt()) if src.crs is not None else mines
        inv = ~T
        onset: list[dict[str, Any] | None] = [None] * n
        sensor: list[dict[str, Any] | None] = [None] * n
        sen: list[dict[str, Any] | None] = [None] * n
        for i, g in enumerate(rmines.geoms):
            if g is None or getattr(g, "is_empty", False):
                continue
            x0, y0, x1, y1 = g.bounds
            pts = [apply_affine(inv, x, y) for x in (x0, x1) for y in (y0, y1)]
            r0 = max(math.floor(min(p[1] for p in pts)), 0)
            r1 = min(math.ceil(max(p[1] for p in pts)), H)
            c0 = max(math.floor(min(p[0] for p in pts)), 0)
            c1 = min(math.ceil(max(p[0] for p in pts)), W)
            if r0 >= r1 or c0 >= c1:
                continue
            gj = _geojson(g)
            stride = max(1, math.ceil(math.sqrt((r1 - r0) * (c1 - c0)
                                                / SENSOR_SAMPLE_PIXELS)))
            cnt: dict[float, int] = {}
            hect: dict[float, float] = {}
            sen_v: list[np.ndarray] = []
            lst_v: list[np.ndarray] = []
            evi_v: list[np.ndarray] = []
            n_pix = 0
            for ra in range(r0, r1, max(16, int(chunk))):
                rb = min(ra + max(16, int(chunk)), r1)
                win = Window(c0, ra, c1 - c0, rb - ra)
                mask = geometry_mask([gj], (rb - ra, c1 - c0), src.window_transform(win),
                                     all_touched=all_touched, invert=True)
                if not mask.any():
                    continue
                n_pix += int(mask.sum())
                cls = src.read(1, window=win)
                if src.nodata is not None and src.nodata != 0:
                    cls = np.where(cls == src.nodata, 0, cls)
                area = np.broadcast_to(pa.rows(ra, rb - ra)[:, None] / 1e4, mask.shape)
                if osrc is not None:
                    o = osrc.read(1, window=win).astype(np.float64)
                    sel = mask & np.isin(cls, SI_CODES) & np.isfinite(o)
                    yrs, which = np.unique(o[sel], return_inverse=True)
                    k = np.bincount(which, minlength=yrs.size)
                    a = np.bincount(which, weights=area[sel], minlength=yrs.size)
                    for y, kk, aa in zip(yrs.tolist(), k.tolist(), a.tolist(), strict=True):
                        cnt[y] = cnt.get(y, 0) + kk
                        hect[y] = hect.get(y, 0.0) + aa
                if tsrc is not None and sen_bands is not None:
                    b = tsrc.read(list(sen_bands), window=win).astype(np.float64)
                    sel = mask & (cls != 0) & np.isfinite(b).all(axis=0)
                    sen_v.append(b[:, sel])
                if reader is not None:
                    rows = np.arange(ra, rb)[:, None] % stride == 0
                    cols = np.arange(c0, c1)[None, :] % stride == 0
                    sel = mask & is_stable(cls) & rows & cols
                    try:
                        if sel.any():
                            lst_v.append(np.asarray(reader.read(inputs.lst, win),  # type: ignore
                                                    np.float64)[:, sel])
                            evi_v.append(np.asarray(reader.read(inputs.evi, win),  # type: ignore
                                                    np.float64)[:, sel])
                    except (OSError, ValueError) as err:  # changed since the run: no step
                        notes["sensor_step"] = f"the run's LST/EVI inputs cannot be read ({err})"
                        info.pop("sensor_step", None)
                        reader = None
                        sensor = [None] * n
            if n_pix == 0:
                continue
            if osrc is not None:
                onset[i] = _onset_distribution(cnt, hect)
            if sen_bands is not None:
                sen[i] = _sen_summary(np.concatenate(sen_v, axis=1) if sen_v
                                      else np.empty((3, 0)))
            if reader is not None:
                sensor[i] = _sensor(lst_v, evi_v, inputs.years, n_threads)  # type: ignore
    return MineDiagnostics(ids=ids, onset=onset, sensor=sensor, sen=sen, notes=notes,
                           info=info)


def _onset_distribution(cnt: dict[float, int], hect: dict[float, float]) -> dict[str, Any]:
    yrs = sorted(cnt)
    counts = [cnt[y] for y in yrs]
    q25, med, q75 = year_quantiles(yrs, counts)
    cum = 0.0
    by_year = []
    for y in yrs:
        cum += hect[y]
        by_year.append({"year": int(y) if float(y).is_integer() else y, "pixels": cnt[y],
                        "ha": round(hect[y], 6), "cumulative_ha": round(cum, 6)})
    return {"pixels": int(sum(counts)), "ha": round(cum, 6), "median_year": med,
            "q25_year": q25, "q75_year": q75, "by_year": by_year}


def _sen_summary(b: np.ndarray) -> dict[str, Any]:
    k = int(b.shape[1])
    if k == 0:
        return {"pixels": 0, "slope_median": None, "low_median": None, "high_median": None,
                "excludes_zero_pct": None, "above_zero_pct": None}
    slope, low, high = b
    return {"pixels": k, "slope_median": float(np.median(slope)),
            "low_median": float(np.median(low)), "high_median": float(np.median(high)),
            "excludes_zero_pct": 100.0 * float(np.mean((low > 0) | (high < 0))),
            "above_zero_pct": 100.0 * float(np.mean(low > 0))}


def _sensor(lst_v: list[np.ndarray], evi_v: list[np.ndarray], years: Any,
            n_threads: int | None) -> dict[str, Any]:
    if not lst_v:
        return {"stable_pixels": 0,
                **{v: {"reason": "no stable (classified, non-restoring) pixel in the mine"}
                   for v in SENSOR_VARIABLES}}
    lst = np.concatenate(lst_v, axis=1)
    evi = np.concatenate(evi_v, axis=1)
    return {"stable_pixels": int(lst.shape[1]), **sensor_steps(lst, evi, years, n_threads)}
