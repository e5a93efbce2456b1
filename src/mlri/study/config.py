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
import numbers
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._cloud import is_url

__all__ = ["StudyConfig", "load_study_file", "study_file_text", "write_study_file"]

#: Keys of the ``[study]`` table that hold paths (resolved against the file's folder).
_PATH_KEYS = ("mines", "rasters", "out")

#: The CLI flag of a ``[study]`` setting where it is not ``--`` + the key with dashes
#: (None: the setting has no flag).
_FLAGS: dict[str, str | None] = {"raster_pattern": "--pattern", "report": "--no-report",
                                 "n_init": None, "max_maps": None, "overviews": None}

#: Examples shown when a setting has the wrong type and no default to show instead.
_EXAMPLES: dict[str, str] = {"years": '"2000-2011,2013-2019"', "scenes": '["downloads/"]',
                             "rasters": '"exports/{id}"', "mines": '"mines.gpkg"',
                             "reference_year": "2019", "threads": "4", "months": "[6, 9]",
                             "alpha": "0.05", "z_crit": "1.96", "fdr": "0.05"}


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
    layer: str | int | None = None
    scenes: list[str] = field(default_factory=list)
    rasters: str | None = None
    raster_pattern: str | None = None
    years: str | list[int] | None = None
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
        """Check the settings before any work; errors name the setting and the fix.

        Raises
        ------
        TypeError
            A setting of the wrong type (named, with its CLI flag): nothing is coerced.
        ValueError
            A bad value or combination (named, with the fix).
        """
        # types first: a wrong type would otherwise surface as a cryptic error far from here
        for f in dataclasses.fields(self):
            if f.name in ("composite", "stats", "points"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, os.PathLike):  # a pathlib.Path where a path is expected
                setattr(self, f.name, os.fspath(value))
            elif isinstance(value, list) and any(isinstance(v, os.PathLike) for v in value):
                setattr(self, f.name, [os.fspath(v) if isinstance(v, os.PathLike) else v
                                       for v in value])
            flag = _flag(f.name)
            _check_type(getattr(self, f.name), _hint(StudyConfig, f.name), f.name,
                        where=f" (CLI {flag})" if flag else "", example=_example(f.name))
        if not isinstance(self.points, dict) or not all(
                isinstance(v, (str, os.PathLike)) for v in self.points.values()):
            msg = (f"points must map a mine id to the path of its reference points (CLI "
                   f"--points MINE=PATH), got {self.points!r}")
            raise TypeError(msg)
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
        if self.n_init < 1:
            msg = f"n_init must be >= 1 (k-means restarts), got {self.n_init}"
            raise ValueError(msg)
        if self.max_maps < 0:
            msg = f"max_maps must be >= 0 (per-mine maps in the report), got {self.max_maps}"
            raise ValueError(msg)
        if self.years:
            try:
                self.year_list()
            except (TypeError, ValueError) as err:
                msg = f"years {self.years!r} (CLI --years, e.g. 2000-2011,2013-2019): {err}"
                raise ValueError(msg) from None
        self.check_options()
        if self.rasters and "{id}" not in self.rasters and not Path(self.rasters).is_dir():
            msg = (f"rasters {self.rasters!r} is neither a folder of per-mine folders nor a "
                   f"path with {{id}} (CLI --rasters 'exports/{{id}}')")
            raise ValueError(msg)

    def check_options(self, where: str = "") -> None:
        """The ``[composite]`` and ``[stats]`` settings, by the library's own checks (``where``:
        where they come from, for the message, e.g. " in study file s.toml")."""
        from .._validation import PAPER_YEARS
        from ..landsat.composite import CompositeOptions
        from ..pipeline import StatsOptions

        for table, cls in (("composite", CompositeOptions), ("stats", StatsOptions)):
            tab = getattr(self, table)
            if not isinstance(tab, dict):
                msg = f"{table} must be a dict of [{table}] settings, got {tab!r}"
                raise TypeError(msg)
            _check_table(tab, cls, f"[{table}] ", where=where)
        try:
            self.composite_options()
        except (TypeError, ValueError) as err:
            msg = f"[composite] settings{where}: {err}"
            raise ValueError(msg) from None
        try:
            # once for the study (on a dummy series: the checks do not depend on the years),
            # so that a bad value is one settings error, not a failure of every mine
            self.stats_options().prepare(PAPER_YEARS)
        except (TypeError, ValueError) as err:
            msg = f"[stats] settings{where}: {err}"
            raise ValueError(msg) from None

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

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError, TypeError
        Not TOML, an unknown table or key, a value of the wrong type (``years = 2005``,
        ``k = 2.5``: nothing is coerced) or a bad option; each message names the file, the
        table and the key.
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
    for table in ("study", "composite", "stats", "points"):
        if not isinstance(doc.get(table, {}), dict):
            msg = (f"study file {p}: {table} must be a table ([{table}] followed by key = value "
                   f"lines)")
            raise TypeError(msg)
    st = dict(doc.get("study", {}))
    names = {f.name for f in dataclasses.fields(StudyConfig)} - {"composite", "stats", "points"}
    bad = sorted(set(st) - names)
    if bad:
        msg = f"study file {p}: unknown [study] key(s) {bad}; known keys: {', '.join(sorted(names))}"
        raise ValueError(msg)
    if isinstance(st.get("scenes"), str):
        st["scenes"] = [st["scenes"]]
    # every value of the file has the type its setting needs, before anything uses it: an
    # error names the file, the table and the key (never "'int' object is not iterable")
    where = f" in study file {p}"
    for key, value in st.items():
        _check_type(value, _hint(StudyConfig, key), f"[study] {key}", where=where,
                    example=_example(key))
    # the file's options by the library's checks (less those a flag replaces): a bad value
    # names the file
    tables = {t: {k: v for k, v in doc.get(t, {}).items() if k not in (overrides.get(t) or {})}
              for t in ("composite", "stats")}
    StudyConfig(composite=tables["composite"], stats=tables["stats"]).check_options(where)
    for key, value in doc.get("points", {}).items():
        _check_type(value, str, f"[points] {_toml_key(key)}", where=where,
                    example='"validation/points.csv"')
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


def _flag(key: str) -> str | None:
    """The CLI flag of a ``[study]`` setting (None: it has none)."""
    return _FLAGS.get(key, "--" + key.replace("_", "-"))


def _hint(cls: type, key: str) -> Any:
    """The annotated type of field ``key`` of dataclass ``cls`` (Any when unknown)."""
    return typing.get_type_hints(cls).get(key, Any)


def _example(key: str, cls: type | None = None) -> str | None:
    """``key = ...`` text of a valid value: the default of the setting, else an example."""
    if key in _EXAMPLES:
        return _EXAMPLES[key]
    fields = {f.name: f for f in dataclasses.fields(cls or StudyConfig)}
    f = fields.get(key)
    if f is None or f.default is dataclasses.MISSING or f.default is None:
        return None
    return _toml_value(f.default)


def _fits(value: Any, tp: Any) -> bool:
    """Whether ``value`` has the annotated type ``tp`` (the annotations of the settings'
    dataclasses: scalars, unions, lists / tuples, dicts).  No coercion: ``2.5`` is no int,
    ``"2000"`` no number and ``1`` no bool."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    args = typing.get_args(tp)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(
                _fits(v, a) for v, a in zip(value, args, strict=True))
        return not args or all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items()) if args \
            else isinstance(value, dict)
    return True  # any other annotation: left to the checks of the options themselves


_PLURAL = {int: "integers", float: "numbers", str: "texts (in quotes)", bool: "true/false"}


def _describe(tp: Any) -> str:
    """``tp`` in words, for an error message (None is left out: TOML has no null)."""
    if tp is Any:
        return "any value"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp) if a is not type(None))
    words = {bool: "true or false", int: "an integer", float: "a number",
             str: "text (in quotes)"}
    if tp in words:
        return words[tp]
    args = typing.get_args(tp)
    if origin in (list, tuple):
        if not args:
            return "a list"
        of = _PLURAL.get(args[0], _describe(args[0]))
        if origin is tuple and args[-1] is not Ellipsis:
            return f"a list of {len(args)} {of}"
        return f"a list of {of}"
    if origin is dict:
        return "a table of key = value settings"
    return getattr(tp, "__name__", str(tp))


def _check_type(value: Any, tp: Any, name: str, *, where: str = "",
                example: str | None = None) -> None:
    """A TypeError naming the setting ``name`` (and ``where`` it came from: the study file,
    or the CLI flag) unless ``value`` has the type ``tp``."""
    if _fits(value, tp):
        return
    shown = _toml_value(value) if isinstance(value, (str, bool, int, float, list, tuple)) \
        else repr(value)
    msg = f"{name}{where} must be {_describe(tp)}, got {shown}"
    if example is not None:
        msg += f" (e.g. {name.rsplit(' ', 1)[-1]} = {example})"
    raise TypeError(msg)


def _check_table(table: dict[str, Any], cls: type, prefix: str, *, where: str = "") -> None:
    """The keys of a ``[composite]`` / ``[stats]`` table are those of the options class
    ``cls`` and their values have its types."""
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(table) - set(hints))
    if unknown:
        msg = (f"unknown {prefix}key(s) {unknown}{where}; known keys: "
               f"{', '.join(f.name for f in dataclasses.fields(cls))}")
        raise ValueError(msg)
    for key, value in table.items():
        _check_type(value, hints[key], f"{prefix}{key}", where=where,
                    example=_example(key, cls))


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
