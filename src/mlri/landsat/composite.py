"""Annual season composites of EVI and LST from Landsat C2 L2 scenes.

For each year: the per-pixel **maximum** over every masked scene of the season (default
June–September), independently for EVI and LST, plus observation counts.  The output grid is
processed in strips of bounded size; each scene is read by window (same UTM zone and lattice:
no resampling) or through a nearest-neighbour ``WarpedVRT`` (another zone/lattice), and the
masking / scaling / EVI / max-accumulation runs in one C++ kernel (OpenMP).

Files (:func:`write_composites`): ``EVI_YYYY.tif``, ``LST_YYYY.tif`` (float32, NaN nodata,
LST in Kelvin) and ``NOBS_YYYY.tif`` (uint16, bands: EVI observations, LST observations,
scenes with data), COG layout, written atomically; ``manifest.json`` lists the scenes used and
skipped with the reason.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .._cloud import cloud_env, is_url, remote_error
from .grid import Grid, lattice_aligned
from .harmonize import HARMONIZATIONS, harmonized_scale
from .ids import LandsatFormatError
from .needs import roles_for, scene_problem
from .qa import PRESETS, qa_rule
from .scene import LstUnavailableWarning, Scene, SceneError, SceneProblem, discover_scenes
from .variables import EMISSIVITY, EVI_CLAMPS, LST_METHODS

__all__ = [
    "AnnualComposite",
    "CompositeOptions",
    "NoScenesError",
    "annual_composite",
    "output_names",
    "parse_months",
    "parse_years",
    "select_scenes",
    "write_composites",
]

VARIABLES = ("EVI", "LST")
PAIRINGS = ("independent", "greenest")
SENSOR_FAMILIES = ("TM", "ETM", "OLI")
NOBS_BANDS = ("n_obs_evi", "n_obs_lst", "n_scenes_with_data")
NOBS_NODATA = 65535

# fill value and dtype of each layer as stored by USGS (used outside a scene's footprint)
_LAYER_SPEC: dict[str, tuple[str, int]] = {
    "qa": ("uint16", 1), "radsat": ("uint16", 0), "blue": ("uint16", 0), "red": ("uint16", 0),
    "nir": ("uint16", 0), "st": ("uint16", 0), "aerosol": ("uint8", 1),
    "opacity": ("int16", -9999), "st_qa": ("int16", -9999), "trad": ("int16", -9999),
    "urad": ("int16", -9999), "drad": ("int16", -9999), "atran": ("int16", -9999),
    "emis": ("int16", -9999),
}


@dataclass(frozen=True)
class CompositeOptions:
    """Everything that decides a composite (recorded in the manifest).

    Attributes
    ----------
    months : (first, last)
        Season, inclusive, by ``DATE_ACQUIRED`` (UTC); ``(11, 2)`` wraps within a calendar year
        (Nov, Dec, Jan, Feb of the same year, like Earth Engine's ``calendarRange``).
    mask : {"paper", "strict", "none"}
        QA preset (:mod:`mlri.landsat.qa`).
    mask_water, mask_dilated : bool
        Also drop water (bit 7); drop dilated cloud (bit 1, default True).
    evi_clamp : {None, "gee"}
        None: NaN where the EVI denominator <= 0 or EVI outside [-1, 1] (default).
    lst_method : {"st", "rte"}
        "st": the C2 ST band (Kelvin).  "rte": re-invert the RTE from ST_TRAD/URAD/DRAD/ATRAN
        with ``emissivity`` ("sobrino2004" NDVI thresholds or "usgs" ST_EMIS).
    pairing : {"independent", "greenest"}
        "independent": EVI max and LST max from any dates (paper, GEE ``max()``); "greenest":
        LST of the date of maximum EVI (GEE ``qualityMosaic("EVI")``).
    variables : tuple
        Subset of ("EVI", "LST").
    allow_tier2 : bool
        Use Tier 2 / Real-Time scenes too (default Tier 1 only).
    sensors : tuple
        Sensor families to use, of "TM", "ETM", "OLI" (default TM and OLI, as the paper).
    harmonize : {None, "roy2016"}
        Cross-sensor harmonisation of TM/ETM+ surface reflectance to OLI before EVI
        (:mod:`mlri.landsat.harmonize`; default None = off).
    st_qa_max : float, optional
        Drop LST where the ST uncertainty (ST_QA) exceeds this many kelvin.
    require_mtl : bool
        Refuse scenes without an MTL file (default).
    block_pixels : int
        Output pixels processed at once (bounds memory: ~30 bytes per pixel plus reads).
    n_threads, io_threads : int
        OpenMP threads of the kernel (None: all); parallel band reads per scene.
    """

    months: tuple[int, int] = (6, 9)
    mask: str = "paper"
    mask_water: bool = False
    mask_dilated: bool = True
    evi_clamp: str | None = None
    lst_method: str = "st"
    emissivity: str = "sobrino2004"
    pairing: str = "independent"
    variables: tuple[str, ...] = VARIABLES
    allow_tier2: bool = False
    sensors: tuple[str, ...] = ("TM", "OLI")
    harmonize: str | None = None
    st_qa_max: float | None = None
    require_mtl: bool = True
    block_pixels: int = 1 << 22
    n_threads: int | None = None
    io_threads: int = 2

    def __post_init__(self) -> None:
        m0, m1 = (int(v) for v in self.months)
        if not (1 <= m0 <= 12 and 1 <= m1 <= 12):
            msg = f"months must be two month numbers 1-12, got {self.months!r}"
            raise ValueError(msg)
        object.__setattr__(self, "months", (m0, m1))
        for name, val, allowed in (("mask", self.mask, PRESETS),
                                   ("evi_clamp", self.evi_clamp, EVI_CLAMPS),
                                   ("lst_method", self.lst_method, LST_METHODS),
                                   ("emissivity", self.emissivity, EMISSIVITY),
                                   ("pairing", self.pairing, PAIRINGS),
                                   ("harmonize", self.harmonize, (None, *HARMONIZATIONS))):
            if val not in allowed:
                msg = f"{name} must be one of {allowed}, got {val!r}"
                raise ValueError(msg)
        vs = tuple(dict.fromkeys(v.upper() for v in self.variables))
        if not vs or any(v not in VARIABLES for v in vs):
            msg = f"variables must be a non-empty subset of {VARIABLES}, got {self.variables!r}"
            raise ValueError(msg)
        object.__setattr__(self, "variables", vs)
        if self.pairing == "greenest" and vs != VARIABLES:
            msg = "pairing='greenest' needs both variables (EVI and LST)"
            raise ValueError(msg)
        ss = tuple(dict.fromkeys(s.upper() for s in self.sensors))
        if not ss or any(s not in SENSOR_FAMILIES for s in ss):
            msg = f"sensors must be a non-empty subset of {SENSOR_FAMILIES}, got {self.sensors!r}"
            raise ValueError(msg)
        object.__setattr__(self, "sensors", ss)
        if self.st_qa_max is not None and not (self.st_qa_max > 0):
            msg = f"st_qa_max must be > 0 (kelvin), got {self.st_qa_max!r}"
            raise ValueError(msg)
        if int(self.block_pixels) < 1024:
            msg = f"block_pixels must be >= 1024, got {self.block_pixels!r}"
            raise ValueError(msg)
        if int(self.io_threads) < 1:
            msg = f"io_threads must be >= 1, got {self.io_threads!r}"
            raise ValueError(msg)

    def in_season(self, month: int) -> bool:
        m0, m1 = self.months
        return m0 <= month <= m1 if m0 <= m1 else (month >= m0 or month <= m1)

    @property
    def months_label(self) -> str:
        return f"{self.months[0]}-{self.months[1]}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["months"] = list(self.months)
        d["variables"] = list(self.variables)
        d["sensors"] = list(self.sensors)
        return d


class NoScenesError(ValueError):
    """No usable scene for any requested year (the message summarises why scenes were skipped)."""


# ---------------------------------------------------------------------------------------------
def parse_years(text: str | Iterable[int]) -> list[int]:
    """"2000-2011,2013-2019" / "2005" / [2005, 2006] -> sorted years in 1972-2100.

    Text is read by :func:`mlri.io.parse_years` (the one year grammar of mlri).
    """
    from ..io import parse_years as _parse

    years = _parse(text) or [] if isinstance(text, str) else sorted({int(y) for y in text})
    if not years or years[0] < 1972 or years[-1] > 2100:
        msg = f"years must lie in 1972-2100, got {years[:1]}...{years[-1:]}"
        raise ValueError(msg)
    return years


def parse_months(text: str | Sequence[int]) -> tuple[int, int]:
    """"6-9" -> (6, 9); "7" -> (7, 7)."""
    if not isinstance(text, str):
        a, b = text
        return int(a), int(b)
    a, sep, b = text.strip().partition("-")  # type: ignore[assignment]
    try:
        return (int(a), int(b) if sep else int(a))
    except ValueError:
        msg = f"months: cannot read {text!r} (use e.g. 6-9)"
        raise ValueError(msg) from None


def output_names(year: int, variables: Sequence[str] = VARIABLES) -> list[str]:
    return [f"{v}_{year}.tif" for v in variables] + [f"NOBS_{year}.tif"]


# ---------------------------------------------------------------------------------------------
def select_scenes(scenes: Sequence[Scene], years: Sequence[int], opts: CompositeOptions,
                  grid: Grid | None = None
                  ) -> tuple[dict[int, list[Scene]], list[SceneProblem]]:
    """Scenes of each year's season, and the skipped ones with the reason."""
    by_year: dict[int, list[Scene]] = {y: [] for y in years}
    skipped: list[SceneProblem] = []

    def skip(s: Scene, reason: str) -> None:
        skipped.append(SceneProblem(s.id, s.location, reason))

    for s in scenes:
        d = s.acquired
        if d.year not in by_year:
            skip(s, f"acquired {d.isoformat()}: year not requested")
            continue
        if not opts.in_season(d.month):
            skip(s, f"acquired {d.isoformat()}: outside the season (months {opts.months_label})")
            continue
        if s.pid.tier != "T1" and not opts.allow_tier2:
            skip(s, f"{'Tier 2' if s.pid.tier == 'T2' else 'Real-Time'} product "
                    f"({s.pid.tier}); only Tier 1 is used unless allow_tier2 (--allow-tier2)")
            continue
        if s.family not in opts.sensors:
            skip(s, f"sensor family {s.family} not selected (sensors={','.join(opts.sensors)})")
            continue
        sun = s.mtl.sun_elevation if s.mtl is not None else None
        if sun is not None and sun <= 0:
            skip(s, f"night acquisition (SUN_ELEVATION {sun:g})")
            continue
        if grid is not None:
            try:
                b = s.bounds(grid.crs)
            except SceneError as err:
                skip(s, err.reason)
                continue
            g = grid.bounds
            if b[0] >= g[2] or b[2] <= g[0] or b[1] >= g[3] or b[3] <= g[1]:
                skip(s, "does not overlap the target grid")
                continue
        by_year[d.year].append(s)
    return by_year, skipped


# ---------------------------------------------------------------------------------------------
class _Layer:
    """One band of one scene, readable by output strip (aligned window or nearest warp)."""

    def __init__(self, scene: Scene, role: str, grid: Grid) -> None:
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        self.scene = scene
        self.role = role
        self.grid = grid
        self.dtype, self.fill = _LAYER_SPEC[role]
        self.path = scene.band_path(role)
        self.suffix = scene.roles()[role]
        self.vrt = None
        try:
            self.ds = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as err:
            raise SceneError(scene.id, _read_problem(scene, self.suffix, self.path, err,
                                                     "open")) from None
        try:
            if self.ds.dtypes[0] != self.dtype:
                raise SceneError(scene.id, (
                    f"{self.suffix} is {self.ds.dtypes[0]}, expected {self.dtype} as in "
                    f"Collection 2 Level-2 products ({self.path})"))
            if self.ds.crs is None:
                raise SceneError(scene.id, f"{self.suffix} has no CRS ({self.path})")
            self.offset = lattice_aligned(grid, self.ds.crs, self.ds.transform)
            if self.offset is None:
                self.vrt = WarpedVRT(self.ds, crs=grid.crs, transform=grid.transform,
                                     width=grid.width, height=grid.height,
                                     resampling=Resampling.nearest, nodata=self.fill)
        except BaseException:
            self.ds.close()
            raise

    def close(self) -> None:
        if self.vrt is not None:
            self.vrt.close()
        self.ds.close()

    def read(self, row0: int, nrows: int) -> np.ndarray | None:
        """The strip rows [row0, row0+nrows) x all grid columns; None when entirely outside."""
        import rasterio
        from rasterio.windows import Window

        w = self.grid.width
        try:
            if self.vrt is not None:
                a = self.vrt.read(1, window=Window(0, row0, w, nrows))
                return np.ascontiguousarray(a, dtype=self.dtype)
            c0, r0 = self.offset  # type: ignore[misc]  # grid origin in scene pixels
            sr0, sc0 = r0 + row0, c0
            rr0, rr1 = max(sr0, 0), min(sr0 + nrows, self.ds.height)
            cc0, cc1 = max(sc0, 0), min(sc0 + w, self.ds.width)
            if rr1 <= rr0 or cc1 <= cc0:
                return None
            data = self.ds.read(1, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
            if rr1 - rr0 == nrows and cc1 - cc0 == w:
                return data
            out = np.full((nrows, w), self.fill, dtype=self.dtype)
            out[rr0 - sr0:rr1 - sr0, cc0 - sc0:cc1 - sc0] = data
            return out
        except rasterio.errors.RasterioError as err:
            raise SceneError(self.scene.id, _read_problem(self.scene, self.suffix, self.path,
                                                          err, "read")) from None


def _read_problem(scene: Scene, suffix: str, path: str, err: Exception, verb: str) -> str:
    """Why a band file cannot be opened/read: a damaged download, or a remote failure that
    names the STAC item, asset and URL."""
    if is_url(path):
        rec = (scene.stac or {}).get("assets", {}).get(suffix, {})
        what = f"item {rec['item']} asset {rec['asset']!r}" if rec else suffix
        return remote_error(err, rec.get("href", path), what)
    return (f"cannot {verb} {suffix} ({path}): {err}. The file is damaged or truncated: "
            f"download the scene again")


@dataclass
class _SceneStat:
    scene: Scene
    used_for: list[str]
    n_evi: int = 0
    n_lst: int = 0
    n_seen: int = 0
    notes: list[str] = field(default_factory=list)
    warped: bool | None = None  # read through a nearest WarpedVRT (other CRS / lattice)

    def as_dict(self) -> dict[str, Any]:
        s = self.scene
        d: dict[str, Any] = {
            "scene": s.id, "location": s.location, "acquired": s.acquired.isoformat(),
            "sensor": s.pid.sensor, "level": s.level, "tier": s.pid.tier,
            "used_for": self.used_for, "pixels_with_data": self.n_seen,
            "valid_evi": self.n_evi, "valid_lst": self.n_lst,
        }
        if self.warped is not None:
            d["read"] = "reprojected (nearest)" if self.warped else "window (no resampling)"
        if self.n_seen:
            d["clear_fraction_evi"] = round(self.n_evi / self.n_seen, 4)
        if self.notes or s.notes:
            d["notes"] = [*s.notes, *self.notes]
        if s.stac is not None:
            d["stac"] = s.stac
        return d


def _prepare(scenes: Sequence[Scene], opts: CompositeOptions, *, warn: bool = True
             ) -> list[_SceneStat]:
    stats = []
    for s in scenes:
        rule = qa_rule(opts.mask, s.family, mask_water=opts.mask_water,
                       mask_dilated=opts.mask_dilated)
        _, optional, lst_ok = roles_for(s, opts, rule)
        problem = scene_problem(s, opts)
        if problem is not None:
            raise SceneError(s.id, problem)
        notes = []
        if rule.needs_radsat and "radsat" not in optional:
            notes.append("QA_RADSAT missing: saturation test skipped")
        used = [v for v in opts.variables if v == "EVI" or lst_ok]
        st = _SceneStat(s, used, notes=notes)
        if "LST" in opts.variables and not lst_ok:
            why = (f"scene {s.id} is {s.level} (surface reflectance only, no surface temperature)"
                   f": LST unavailable, the scene is used for EVI only")
            st.notes.append("LST unavailable (L2SR)")
            if warn:
                warnings.warn(why, LstUnavailableWarning, stacklevel=3)
        stats.append(st)
    return stats


def _strips(grid: Grid, block_pixels: int) -> list[tuple[int, int]]:
    rows = max(1, min(grid.height, block_pixels // grid.width))
    if rows >= 512:
        rows -= rows % 512  # align strips with the 512 x 512 output tiles
    return [(r, min(rows, grid.height - r)) for r in range(0, grid.height, rows)]


class _YearEngine:
    """Runs the kernel over the strips of the grid for one year's scenes."""

    def __init__(self, stats: list[_SceneStat], grid: Grid, opts: CompositeOptions,
                 progress: Callable[[int], None] | None = None) -> None:
        self.stats = stats
        self.grid = grid
        self.opts = opts
        self.progress = progress
        self.layers: list[dict[str, _Layer]] = []
        self.rows: list[tuple[int, int] | None] = []

    def __enter__(self) -> _YearEngine:
        try:
            for st in self.stats:
                s = st.scene
                rule = qa_rule(self.opts.mask, s.family, mask_water=self.opts.mask_water,
                               mask_dilated=self.opts.mask_dilated)
                need, optional, _ = roles_for(s, self.opts, rule)
                d: dict[str, _Layer] = {}
                self.layers.append(d)
                for role in [*need, *optional]:
                    d[role] = _Layer(s, role, self.grid)
                st.warped = any(lay.vrt is not None for lay in d.values())
                self.rows.append(_row_range(s, self.grid))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for d in self.layers:
            for lay in d.values():
                with contextlib.suppress(Exception):
                    lay.close()
        self.layers = []

    def run(self) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """Yield (row0, nrows, {"evi", "lst", "n_evi", "n_lst", "n_seen"}) per strip."""
        from .. import _core
        from .._validation import resolve_threads

        opts = self.opts
        w = self.grid.width
        want_evi = "EVI" in opts.variables
        want_lst = "LST" in opts.variables
        nthreads = resolve_threads(opts.n_threads)
        pool = ThreadPoolExecutor(max_workers=opts.io_threads) if opts.io_threads > 1 else None
        try:
            for row0, nrows in _strips(self.grid, opts.block_pixels):
                shape = (nrows, w)
                acc = {
                    "evi": np.full(shape, np.nan, np.float32) if want_evi else None,
                    "lst": np.full(shape, np.nan, np.float32) if want_lst else None,
                    "n_evi": np.zeros(shape, np.uint16), "n_lst": np.zeros(shape, np.uint16),
                    "n_seen": np.zeros(shape, np.uint16),
                }
                active = []
                for i, rr in enumerate(self.rows):
                    if rr is not None and (row0 + nrows <= rr[0] or row0 >= rr[1]):
                        if self.progress:
                            self.progress(1)
                        continue
                    active.append(i)

                def submit(i: int, a: int = row0, n: int = nrows) -> dict[str, Any]:
                    layers = self.layers[i]
                    if pool is None:
                        return {r: lay.read(a, n) for r, lay in layers.items()}
                    return {r: pool.submit(lay.read, a, n) for r, lay in layers.items()}

                # prefetch: the bands of the next scene are read while the kernel runs
                pending = submit(active[0]) if active else None
                for k, i in enumerate(active):
                    cur = pending
                    arrs = {r: (f.result() if pool is not None else f) for r, f in cur.items()}  # type: ignore[union-attr]
                    pending = submit(active[k + 1]) if k + 1 < len(active) else None
                    key = "qa" if "qa" in arrs else next(iter(arrs))
                    if arrs[key] is not None:  # else: outside this scene
                        for r, a in arrs.items():
                            if a is None:
                                arrs[r] = np.full(shape, _LAYER_SPEC[r][1],
                                                  dtype=_LAYER_SPEC[r][0])
                        self._accumulate(self.stats[i], arrs, acc, nthreads, _core)
                    if self.progress:
                        self.progress(1)
                yield row0, nrows, acc  # type: ignore[misc]
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def _accumulate(self, st: _SceneStat, arrs: dict[str, np.ndarray],
                    acc: dict[str, np.ndarray | None], nthreads: int, _core: Any) -> None:
        opts = self.opts
        s = st.scene
        rule = qa_rule(opts.mask, s.family, mask_water=opts.mask_water,
                       mask_dilated=opts.mask_dilated)
        use_lst = "LST" in st.used_for
        use_evi = "EVI" in st.used_for
        lst_f = None
        if use_lst and opts.lst_method == "rte":
            k1, k2 = s.thermal_constants()
            rs = [*s.sr_scale("red"), *s.sr_scale("nir")]
            lst_f = _core.landsat_lst_rte(
                arrs["trad"], arrs["urad"], arrs["drad"], arrs["atran"], emis=arrs.get("emis"),
                red=arrs.get("red"), nir=arrs.get("nir"), qa=arrs.get("qa"), k1=k1, k2=k2,
                sr_scale=rs, emissivity=0 if opts.emissivity == "usgs" else 1,
                n_threads=nthreads)
        sr_scale = [2.75e-5, -0.2] * 3
        if use_evi:
            sr_scale = [v for b in ("blue", "red", "nir")
                        for v in harmonized_scale(*s.sr_scale(b), b, s.family, opts.harmonize)]
        st_scale = list(s.st_scale()) if (use_lst and s.pid.has_st) else [0.00341802, 149.0]
        st_qa_max = -1 if opts.st_qa_max is None else round(opts.st_qa_max * 100)
        kw = rule.kernel_kwargs()
        c = _core.landsat_composite_scene(
            acc_evi=acc["evi"] if use_evi else None,
            acc_lst=acc["lst"] if use_lst else None,
            n_evi=acc["n_evi"] if use_evi else None,
            n_lst=acc["n_lst"] if use_lst else None,
            n_seen=acc["n_seen"] if (use_evi or use_lst) else None,
            qa=arrs.get("qa"), radsat=arrs.get("radsat"), aerosol=arrs.get("aerosol"),
            opacity=arrs.get("opacity"),
            blue=arrs.get("blue") if use_evi else None, red=arrs.get("red") if use_evi else None,
            nir=arrs.get("nir") if use_evi else None,
            st=arrs.get("st") if (use_lst and lst_f is None) else None,
            st_qa=arrs.get("st_qa") if use_lst else None, lst=lst_f,
            **kw, sr_scale=sr_scale, st_scale=st_scale, sr_unit_range=rule.sr_unit_range,
            evi_clamp=0 if opts.evi_clamp is None else 1, st_qa_max=st_qa_max,
            pairing=1 if opts.pairing == "greenest" else 0, n_threads=nthreads,
        )
        st.n_evi += int(c["n_evi"])
        st.n_lst += int(c["n_lst"])
        st.n_seen += int(c["n_seen"])


def _row_range(scene: Scene, grid: Grid) -> tuple[int, int] | None:
    """Grid rows the scene can touch (None = unknown / all)."""
    try:
        b = scene.bounds(grid.crs)
    except (SceneError, Exception):  # noqa: BLE001 - fall back to reading every strip
        return None
    t = grid.transform
    r0 = math.floor((t.f - b[3]) / -t.e) - 1
    r1 = math.ceil((t.f - b[1]) / -t.e) + 1
    return max(r0, 0), min(r1, grid.height)


# ---------------------------------------------------------------------------------------------
def _options(options: CompositeOptions | None, kw: dict[str, Any]) -> CompositeOptions:
    """``options`` updated by keyword arguments (either may be empty)."""
    if options is None:
        return CompositeOptions(**kw)
    return replace(options, **kw) if kw else options


@dataclass
class AnnualComposite:
    """In-memory composite of one year (:func:`annual_composite`)."""

    year: int
    grid: Grid
    evi: np.ndarray | None
    lst: np.ndarray | None
    n_obs_evi: np.ndarray
    n_obs_lst: np.ndarray
    n_seen: np.ndarray
    scenes: list[dict[str, Any]]


def annual_composite(scenes: Sequence[Scene], grid: Grid, year: int | None = None, *,
                     options: CompositeOptions | None = None, select: bool = True,
                     **kw: Any) -> AnnualComposite:
    """Composite one year in memory (small grids; use :func:`write_composites` for large ones).

    ``scenes`` are filtered by year, season, tier, sensor and footprint unless
    ``select=False`` (then every scene given is used and ``year`` is only a label).
    Keyword arguments build the :class:`CompositeOptions`.
    """
    opts = _options(options, kw)
    if select:
        if year is None:
            msg = "year is required when select=True"
            raise ValueError(msg)
        by_year, _ = select_scenes(scenes, [year], opts, grid)
        chosen = by_year[year]
    else:
        chosen = list(scenes)
    stats = _prepare(chosen, opts)
    shape = grid.shape
    evi = np.full(shape, np.nan, np.float32) if "EVI" in opts.variables else None
    lst = np.full(shape, np.nan, np.float32) if "LST" in opts.variables else None
    n = {k: np.zeros(shape, np.uint16) for k in ("n_evi", "n_lst", "n_seen")}
    with _gdal_env(_remote(chosen)), _YearEngine(stats, grid, opts) as eng:
        for row0, nrows, acc in eng.run():
            sl = slice(row0, row0 + nrows)
            if evi is not None:
                evi[sl] = acc["evi"]
            if lst is not None:
                lst[sl] = acc["lst"]
            for k in n:
                n[k][sl] = acc[k]
    return AnnualComposite(year=year if year is not None else -1, grid=grid, evi=evi, lst=lst,
                           n_obs_evi=n["n_evi"], n_obs_lst=n["n_lst"], n_seen=n["n_seen"],
                           scenes=[st.as_dict() for st in stats])


def _remote(scenes: Iterable[Scene]) -> bool:
    return any(is_url(p) for s in scenes for p in s.files.values())


@contextlib.contextmanager
def _gdal_env(remote: bool = False) -> Iterator[None]:
    import rasterio

    # A modest block cache (tiles cut by strip edges are decoded once); no VSI_CACHE for
    # local files (it holds 25 MB per open file); the remote-COG settings for URLs.
    if remote:
        with cloud_env(GDAL_CACHEMAX=256 * 1024 * 1024):
            yield
        return
    with rasterio.Env(GDAL_CACHEMAX=256 * 1024 * 1024, GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        yield


# ---------------------------------------------------------------------------------------------
def _tags(var: str, year: int, opts: CompositeOptions, stats: list[_SceneStat]) -> dict[str, str]:
    used = [st for st in stats if var == "NOBS" or var in st.used_for]
    t = {
        "variable": var, "year": str(year), "months": opts.months_label, "reducer": "max",
        "pairing": opts.pairing, "mask": opts.mask, "mask_water": str(opts.mask_water),
        "n_scenes": str(len(used)),
        "sensors": ",".join(sorted({st.scene.pid.sensor for st in used})),
        "scene_ids": ",".join(st.scene.id for st in used),
        "source": "USGS Landsat Collection 2 Level-2",
    }
    if var == "LST":
        t.update(units="K", lst_method=opts.lst_method)
        if opts.lst_method == "rte":
            t["emissivity"] = opts.emissivity
    elif var == "EVI":
        t.update(units="1", evi_clamp=str(opts.evi_clamp))
    else:
        t["bands"] = ",".join(NOBS_BANDS)
    from .._version import __version__

    t["mlri_version"] = __version__
    return t


def write_composites(scenes: Sequence[Scene] | str | os.PathLike[str]
                     | Sequence[str | os.PathLike[str]],
                     grid: Grid, years: Sequence[int] | str, out_dir: str | os.PathLike[str], *,
                     options: CompositeOptions | None = None, overwrite: bool = False,
                     write_empty_years: bool = False, on_error: str = "raise",
                     progress: Callable[[int], None] | Callable[[int], Any] | None = None,
                     progress_total: Callable[[int], None] | None = None,
                     cog: bool = True, check_disk_space: bool = True,
                     skipped_scenes: Sequence[SceneProblem] = (),
                     **kw: Any) -> dict[str, Any]:
    """Write ``EVI_YYYY.tif``, ``LST_YYYY.tif``, ``NOBS_YYYY.tif`` per year and ``manifest.json``.

    Parameters
    ----------
    scenes : scenes or paths
        :class:`Scene` objects, or folders / ``.tar`` bundles searched recursively.
    grid : Grid
        Target grid (:func:`mlri.landsat.grid_for_aoi`).
    years : list of int or str
        E.g. ``"2000-2011,2013-2019"``.
    out_dir : path
        Output folder (created); refused when it already holds these outputs unless
        ``overwrite``.
    write_empty_years : bool
        Years without any scene are reported and skipped (default), or written as all-NaN
        rasters with ``n_scenes=0``.
    on_error : {"raise", "skip"}
        A scene that cannot be used (Collection 1, Level-1, unknown sensor, missing MTL,
        unreadable bundle) raises a :class:`SceneError` naming it (default), or is recorded in
        the manifest as skipped.  Damaged band files found while reading always raise.
    skipped_scenes : list of SceneProblem
        Scenes the caller already left out (e.g. unusable STAC items of
        :func:`mlri.landsat.stac.discover_stac`), listed in the manifest as skipped.
    check_disk_space : bool
        Refuse to start when the composites (uncompressed, an upper bound) may not fit in
        the free disk space of ``out_dir``; ``False`` tries anyway.

    Returns
    -------
    dict
        The manifest (also written to ``out_dir/manifest.json``).

    Notes
    -----
    Outputs are written into a hidden staging folder inside ``out_dir``, re-opened and
    checked, and moved into place only when every year has succeeded
    (:class:`mlri._outputs.OutputSet`): a failure or interrupt leaves no new file behind.
    """
    from .._outputs import (
        OutputSet,
        atomic_raster,
        build_manifest,
        output_bytes,
        raster_profile,
        write_json,
    )

    started = time.time()
    opts = _options(options, kw)
    if on_error not in ("raise", "skip"):
        msg = f"on_error must be 'raise' or 'skip', got {on_error!r}"
        raise ValueError(msg)
    yrs = parse_years(years) if isinstance(years, str) else sorted({int(y) for y in years})

    problems: list[SceneProblem] = list(skipped_scenes)
    if isinstance(scenes, (str, os.PathLike)) or (
            scenes and not isinstance(next(iter(scenes)), Scene)):
        paths = [scenes] if isinstance(scenes, (str, os.PathLike)) else list(scenes)
        found, found_problems = discover_scenes(paths, require_mtl=opts.require_mtl)  # type: ignore[arg-type]
        problems += found_problems
        real = [p for p in problems if not p.reason.startswith("duplicate")]
        if real and on_error == "raise":
            extra = f" (and {len(real) - 1} more; see on_error='skip' / --skip-bad)" \
                if len(real) > 1 else ""
            raise SceneError(real[0].scene, real[0].reason + extra)
        scene_list = found
    else:
        scene_list = list(scenes)  # type: ignore[arg-type]

    by_year, skipped = select_scenes(scene_list, yrs, opts, grid)
    # every selected scene must have what compositing needs: all problems at once, before
    # any output folder is created
    unusable = [SceneProblem(s.id, s.location, why) for y in yrs for s in by_year[y]
                if (why := scene_problem(s, opts)) is not None]
    remote = [s for y in yrs for s in by_year[y] if _remote([s])
              and s.id not in {p.scene for p in unusable}]
    if remote:  # remote band files: a 403/404/timeout found now names the item and the URL
        from .stac import check_readable

        unusable += check_readable(list({id(s): s for s in remote}.values()), opts)[1]
    if unusable and on_error == "raise":
        if len(unusable) == 1:
            raise SceneError(unusable[0].scene, unusable[0].reason)
        listing = "; ".join(f"scene {p.scene}: {p.reason}" for p in unusable[:5])
        more = f" (first 5 of {len(unusable)})" if len(unusable) > 5 else ""
        msg = (f"{len(unusable)} scenes cannot be used{more}: {listing}. Pass "
               f"on_error='skip' (--skip-bad) to skip them, or fix the downloads")
        raise LandsatFormatError(msg)
    bad_ids = {p.scene for p in unusable}
    by_year = {y: [s for s in v if s.id not in bad_ids] for y, v in by_year.items()}
    skipped = problems + unusable + skipped
    years_skipped = []
    todo: list[int] = []
    for y in yrs:
        if by_year[y] or write_empty_years:
            todo.append(y)
        else:
            years_skipped.append({"year": y, "reason": "no scene of the season in the inputs"})
    if not todo:
        from collections import Counter

        reasons = Counter(p.reason.split(":")[-1].strip() if p.reason.startswith("acquired")
                          else p.reason for p in skipped)
        detail = "; ".join(f"{n} x {r}" for r, n in reasons.most_common(5)) or "no scene found"
        msg = (f"no usable scene for any of the years {yrs[0]}-{yrs[-1]} "
               f"({len(scene_list)} scene(s) found; skipped: {detail})")
        raise NoScenesError(msg)
    names = [n for y in todo for n in output_names(y, opts.variables)] + ["manifest.json"]
    # prepare every year first: a missing band or an unreadable header fails before any work
    caught: list[str] = []
    year_stats: dict[int, list[_SceneStat]] = {}
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always", LstUnavailableWarning)
        for y in todo:
            year_stats[y] = _prepare(by_year[y], opts)
    for wmsg in wlist:
        caught.append(str(wmsg.message))
        warnings.warn_explicit(wmsg.message, wmsg.category, wmsg.filename, wmsg.lineno)

    strips = len(_strips(grid, opts.block_pixels))
    if progress_total is not None:
        progress_total(sum(len(v) for v in year_stats.values()) * strips)

    # staged, verified and published together (manifest.json last) under the folder lock
    oset = OutputSet(out_dir, names, overwrite=overwrite)
    out = oset.out
    written: list[str] = []
    year_info: dict[str, Any] = {}
    try:
        per_year = [(grid.width, grid.height, 1, "float32")] * len(opts.variables) + [
            (grid.width, grid.height, 3, "uint16")]
        oset.reserve(output_bytes(per_year * len(todo), cog=False)
                     + output_bytes(per_year, cog=False), force=not check_disk_space,
                     what=f"{len(todo)} year(s) of {grid.width} x {grid.height} px composites",
                     override="--ignore-disk-space (check_disk_space=False)")
        with _gdal_env(_remote(s for y in todo for s in by_year[y])):
            for y in todo:
                stats = year_stats[y]
                _write_year(y, stats, grid, opts, oset, progress, cog, atomic_raster,
                            raster_profile)
                year_info[str(y)] = {
                    "n_scenes": len(stats),
                    "n_scenes_lst": sum("LST" in st.used_for for st in stats),
                    "scenes": [st.scene.id for st in stats],
                    "sensors": sorted({st.scene.pid.sensor for st in stats}),
                    "files": output_names(y, opts.variables),
                }
        written = [str(out / n) for y in todo for n in output_names(y, opts.variables)]
        used = [st.as_dict() | {"year": y} for y in todo for st in year_stats[y]]
        man = build_manifest(
            command="composite",
            parameters={**opts.as_dict(), "years": yrs, "write_empty_years": write_empty_years,
                        "on_error": on_error, "overwrite": overwrite},
            inputs=[], outputs=written, started=started, checksum=False,
            extra={"grid": grid.as_dict(), "grid_on_landsat_lattice": grid.on_landsat_lattice(),
                   "years": year_info, "years_skipped": years_skipped, "scenes_used": used,
                   "scenes_skipped": [p.as_dict() for p in skipped], "warnings": caught},
        )
        write_json(oset.stage("manifest.json"), man)
        oset.commit()
    finally:
        oset.close()
    return man


def _write_year(year: int, stats: list[_SceneStat], grid: Grid, opts: CompositeOptions,
                oset: Any, progress: Any, cog: bool, atomic_raster: Any,
                raster_profile: Any) -> None:
    with contextlib.ExitStack() as es:
        dsts: dict[str, Any] = {}
        for var in opts.variables:
            prof = raster_profile(crs=grid.crs, transform=grid.transform, width=grid.width,
                                  height=grid.height, count=1, dtype="float32", nodata=np.nan)
            d = es.enter_context(atomic_raster(oset.stage(f"{var}_{year}.tif"), prof, cog=cog,
                                               overview_resampling="nearest"))
            d.update_tags(**_tags(var, year, opts, stats))
            d.set_band_description(1, f"{var} {opts.months_label} max {year}"
                                       + (" (K)" if var == "LST" else ""))
            dsts[var] = d
        prof = raster_profile(crs=grid.crs, transform=grid.transform, width=grid.width,
                              height=grid.height, count=3, dtype="uint16", nodata=NOBS_NODATA)
        d = es.enter_context(atomic_raster(oset.stage(f"NOBS_{year}.tif"), prof, cog=cog,
                                           overview_resampling="nearest"))
        d.update_tags(**_tags("NOBS", year, opts, stats))
        for i, name in enumerate(NOBS_BANDS, 1):
            d.set_band_description(i, name)
        dsts["NOBS"] = d
        from rasterio.windows import Window

        with _YearEngine(stats, grid, opts, progress) as eng:
            for row0, nrows, acc in eng.run():
                win = Window(0, row0, grid.width, nrows)
                for var in opts.variables:
                    dsts[var].write(acc[var.lower()], 1, window=win)
                dsts["NOBS"].write(np.stack([acc["n_evi"], acc["n_lst"], acc["n_seen"]]),
                                   window=win)
