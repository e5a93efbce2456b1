"""What decides an annual Landsat composite: :class:`CompositeOptions`, the season and year
grammar, and the choice of each year's scenes (:func:`select_scenes`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from .._validation import flag, integer
from .grid import Grid
from .harmonize import HARMONIZATIONS
from .qa import PRESETS
from .scene import Scene, SceneError, SceneProblem
from .variables import EMISSIVITY, EVI_CLAMPS, LST_METHODS

__all__ = ["CompositeOptions", "parse_months", "parse_years", "select_scenes"]

VARIABLES = ("EVI", "LST")
PAIRINGS = ("independent", "greenest")
SENSOR_FAMILIES = ("TM", "ETM", "OLI")


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
        if isinstance(self.months, (str, bytes)) or len(self.months) != 2:
            msg = f"months must be two month numbers 1-12, got {self.months!r}"
            raise ValueError(msg)
        m0, m1 = (integer(v, "months") for v in self.months)  # never 9.5 -> 9
        if not (1 <= m0 <= 12 and 1 <= m1 <= 12):
            msg = f"months must be two month numbers 1-12, got {self.months!r}"
            raise ValueError(msg)
        object.__setattr__(self, "months", (m0, m1))
        for name in ("mask_water", "mask_dilated", "allow_tier2", "require_mtl"):
            object.__setattr__(self, name, flag(getattr(self, name), name))  # never 'yes' -> True
        for name, val, allowed in (("mask", self.mask, PRESETS),
                                   ("evi_clamp", self.evi_clamp, EVI_CLAMPS),
                                   ("lst_method", self.lst_method, LST_METHODS),
                                   ("emissivity", self.emissivity, EMISSIVITY),
                                   ("pairing", self.pairing, PAIRINGS),
                                   ("harmonize", self.harmonize, (None, *HARMONIZATIONS))):
            if val not in allowed:
                msg = f"{name} must be one of {allowed}, got {val!r}"
                raise ValueError(msg)
        vs = _subset("variables", self.variables, VARIABLES)
        object.__setattr__(self, "variables", vs)
        if self.pairing == "greenest" and vs != VARIABLES:
            msg = "pairing='greenest' needs both variables (EVI and LST)"
            raise ValueError(msg)
        object.__setattr__(self, "sensors", _subset("sensors", self.sensors, SENSOR_FAMILIES))
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


def _options(options: CompositeOptions | None, kw: dict[str, Any]) -> CompositeOptions:
    """``options`` updated by keyword arguments (either may be empty)."""
    if options is None:
        return CompositeOptions(**kw)
    return replace(options, **kw) if kw else options


def _subset(name: str, values: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``values`` upper-cased, in order, without repeats; a non-empty subset of ``allowed``."""
    out = tuple(dict.fromkeys(v.upper() for v in values))
    if not out or any(v not in allowed for v in out):
        msg = f"{name} must be a non-empty subset of {allowed}, got {values!r}"
        raise ValueError(msg)
    return out
