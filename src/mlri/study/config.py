"""The settings of a study: one dataclass, read from / written to a TOML study file.

A study file has a ``[study]`` table (inputs, years, execution), a ``[composite]`` table (the
options of :class:`mlri.landsat.CompositeOptions`, e.g. ``months = [6, 9]``), a ``[stats]``
table (the options of :class:`mlri.pipeline.StatsOptions`, e.g. ``alpha = 0.05``) and an
optional ``[points]`` table mapping a mine id to a reference-point file (accuracy).  Relative
paths are taken relative to the study file's folder.  :func:`write_study_file` writes the fully
resolved settings (absolute paths, every default spelled out) so a study can be re-run from
that one file.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._cloud import is_url

__all__ = ["StudyConfig", "load_study_file", "study_file_text", "write_study_file"]

#: Keys of the ``[study]`` table that hold paths (resolved against the file's folder).
_PATH_KEYS = ("mines", "rasters", "out")


@dataclass
class StudyConfig:
    """Everything that decides a study (see ``docs/study.md``).

    Inputs
        ``mines``: polygon file (GeoPackage / GeoJSON / Shapefile, any CRS) with ``id_col``,
        optional ``name_col``, ``region_col``, ``start_col`` (mining start year: ``2004`` or
        ``"Before 2000"``).  Then either ``scenes`` (folders / ``.tar`` bundles of Landsat C2 L2
        scenes, or saved STAC ItemCollections / catalogs as ``.json`` files or URLs, composited
        per mine on its own UTM grid) or ``rasters`` (ready annual LST/EVI
        rasters: a folder holding one sub-folder per mine id, or a path with ``{id}``, e.g.
        ``"exports/{id}"``; ``raster_pattern`` is the file-name pattern for ``mlri run``).
    Method
        ``years`` (e.g. ``"2000-2011,2013-2019"``), ``composite`` (season ``months`` and the
        other composite options), ``stats`` (the MLRI/trend/class options of ``mlri run``),
        ``buffer`` (m around each mine's bounds), ``threshold`` (start-group split year),
        ``reference_year`` (duration = reference_year - start; default the last year),
        ``k`` / ``seed`` / ``n_init`` (k-means), ``points`` (mine id -> reference points).
    Execution
        ``out`` (study folder), ``jobs`` (mines processed at once), ``threads`` (OpenMP
        threads per mine; default cores / jobs), ``scheduler`` (dask.distributed address or
        ``local[:N]``), ``cog``/``overviews`` (run outputs as COGs), ``report``,
        ``max_maps`` (per-mine maps in the report).
    """

    mines: str = ""
    out: str = "mlri-study"
    id_col: str | None = None
    name_col: str | None = None
    region_col: str | None = None
    start_col: str | None = None
    layer: str | None = None
    scenes: list[str] = field(default_factory=list)
    rasters: str | None = None
    raster_pattern: str | None = None
    years: str | None = None
    buffer: float = 150.0
    threshold: int = 2000
    reference_year: int | None = None
    k: int = 3
    seed: int = 0
    n_init: int = 20
    jobs: int = 1
    threads: int | None = None
    scheduler: str | None = None
    cog: bool = False
    overviews: bool = False
    report: bool = True
    max_maps: int = 60
    composite: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    points: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Check the settings before any work; errors name the setting and the fix."""
        from ..landsat.composite import CompositeOptions
        from ..pipeline import StatsOptions

        if not self.mines:
            msg = "no mines file: set mines (CLI --mines) to a polygon file with one feature per mine"
            raise ValueError(msg)
        if bool(self.scenes) == bool(self.rasters):
            msg = ("give either scenes (CLI --scenes: Landsat folders / .tar bundles) or "
                   "rasters (CLI --rasters: ready annual LST/EVI rasters per mine), not "
                   + ("both" if self.scenes else "neither"))
            raise ValueError(msg)
        if self.scenes and not self.years:
            msg = "years are required with scenes (CLI --years, e.g. 2000-2011,2013-2019)"
            raise ValueError(msg)
        if self.jobs < 1:
            msg = f"jobs must be >= 1 (CLI --jobs), got {self.jobs}"
            raise ValueError(msg)
        if self.threads is not None and self.threads < 1:
            msg = f"threads must be >= 1 (CLI --threads), got {self.threads}"
            raise ValueError(msg)
        if self.k < 2:
            msg = f"k must be >= 2 (CLI --k), got {self.k}"
            raise ValueError(msg)
        if not (self.buffer >= 0 and math.isfinite(self.buffer)):
            msg = f"buffer must be >= 0 metres (CLI --buffer), got {self.buffer}"
            raise ValueError(msg)
        try:
            self.composite_options()
        except (TypeError, ValueError) as err:
            fields = ", ".join(f.name for f in dataclasses.fields(CompositeOptions))
            msg = f"[composite] settings: {err} (known keys: {fields})"
            raise ValueError(msg) from None
        try:
            self.stats_options()
        except TypeError as err:
            fields = ", ".join(f.name for f in dataclasses.fields(StatsOptions))
            msg = f"[stats] settings: {err} (known keys: {fields})"
            raise ValueError(msg) from None
        if self.rasters and "{id}" not in self.rasters and not Path(self.rasters).is_dir():
            msg = (f"rasters {self.rasters!r} is neither a folder of per-mine folders nor a "
                   f"path with {{id}} (CLI --rasters 'exports/{{id}}')")
            raise ValueError(msg)

    def composite_options(self, n_threads: int | None = None) -> Any:
        from ..landsat.composite import CompositeOptions

        kw = dict(self.composite)
        for key in ("months", "variables", "sensors"):
            if key in kw and isinstance(kw[key], list):
                kw[key] = tuple(kw[key])
        kw.pop("n_threads", None)
        return CompositeOptions(**kw, n_threads=n_threads)

    def stats_options(self) -> Any:
        from ..pipeline import StatsOptions

        return StatsOptions(**self.stats)

    def year_list(self) -> list[int] | None:
        from ..landsat.composite import parse_years

        return parse_years(self.years) if self.years else None

    def resolved(self, base: str | os.PathLike[str] | None = None) -> StudyConfig:
        """A copy with absolute paths and every option spelled out (the resolved study)."""
        b = Path(base) if base is not None else Path.cwd()

        def ab(p: str | None) -> str | None:
            if not p or p.startswith("/vsi"):
                return p
            return str((b / p).absolute())

        c = dataclasses.replace(self)
        c.mines = ab(self.mines) or ""
        c.out = ab(self.out) or ""
        c.rasters = ab(self.rasters)
        c.scenes = [s if is_url(s) else str((b / s).absolute()) for s in self.scenes]
        c.points = {str(k): str((b / v).absolute()) for k, v in self.points.items()}
        comp = self.composite_options().as_dict()
        comp.pop("n_threads", None)
        c.composite = comp
        c.stats = dataclasses.asdict(self.stats_options())
        if c.stats.get("reference"):
            c.stats["reference"] = str((b / c.stats["reference"]).absolute())
        return c

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _toml_loads(text: str, source: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            msg = (f"reading the study file {source} on Python 3.10 needs the 'tomli' package "
                   f"(pip install tomli), or use Python 3.11+")
            raise ImportError(msg) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = f"study file {source} is not valid TOML: {err}"
        raise ValueError(msg) from None


def load_study_file(path: str | os.PathLike[str], **overrides: Any) -> StudyConfig:
    """Read a TOML study file; ``overrides`` (non-None values) replace its settings.

    Relative paths in the file are resolved against the file's folder.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"study file {p} does not exist; check --config"
        raise FileNotFoundError(msg)
    doc = _toml_loads(p.read_text(encoding="utf-8"), str(p))
    unknown_tables = set(doc) - {"study", "composite", "stats", "points"}
    if unknown_tables:
        msg = (f"study file {p}: unknown table(s) {sorted(unknown_tables)}; allowed are "
               f"[study], [composite], [stats], [points]")
        raise ValueError(msg)
    st = dict(doc.get("study", {}))
    names = {f.name for f in dataclasses.fields(StudyConfig)} - {"composite", "stats", "points"}
    bad = sorted(set(st) - names)
    if bad:
        msg = f"study file {p}: unknown [study] key(s) {bad}; known keys: {', '.join(sorted(names))}"
        raise ValueError(msg)
    if isinstance(st.get("scenes"), str):
        st["scenes"] = [st["scenes"]]
    cfg = StudyConfig(**st, composite=dict(doc.get("composite", {})),
                      stats=dict(doc.get("stats", {})),
                      points={str(k): str(v) for k, v in doc.get("points", {}).items()})
    base = p.parent
    cfg = _rebase(cfg, base)
    for k, v in overrides.items():
        if v is None or (k == "scenes" and not v):
            continue
        if k in ("composite", "stats", "points"):
            getattr(cfg, k).update(v)
        else:
            setattr(cfg, k, v)
    return cfg


def _rebase(cfg: StudyConfig, base: Path) -> StudyConfig:
    def rb(v: str | None) -> str | None:
        if not v or Path(v).is_absolute() or is_url(v):
            return v
        return str(base / v)

    cfg.mines = rb(cfg.mines) or ""
    cfg.out = rb(cfg.out) or ""
    cfg.rasters = rb(cfg.rasters)
    cfg.scenes = [rb(s) or s for s in cfg.scenes]
    cfg.points = {k: rb(v) or v for k, v in cfg.points.items()}
    if cfg.stats.get("reference"):
        cfg.stats["reference"] = rb(cfg.stats["reference"])
    return cfg


# ------------------------------------------------------------------------------------------
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _toml_value(k)


def study_file_text(cfg: StudyConfig, *, header: str = "") -> str:
    """TOML text of ``cfg`` (None values are written as comments: TOML has no null)."""
    lines = [f"# {h}" for h in header.splitlines()] if header else []
    d = cfg.to_dict()

    def table(name: str, items: dict[str, Any]) -> None:
        lines.append(f"[{name}]")
        for k, v in items.items():
            if v is None:
                lines.append(f"# {k} = (not set)")
            else:
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        lines.append("")

    table("study", {k: v for k, v in d.items() if k not in ("composite", "stats", "points")})
    table("composite", d["composite"])
    table("stats", d["stats"])
    if d["points"]:
        table("points", d["points"])
    return "\n".join(lines)


def write_study_file(cfg: StudyConfig, path: str | os.PathLike[str], *, header: str = "") -> Path:
    """Write ``cfg`` as a TOML study file, atomically."""
    from .._outputs import atomic_file

    with atomic_file(path, "w", encoding="utf-8") as fh:
        fh.write(study_file_text(cfg, header=header))
    return Path(path)
