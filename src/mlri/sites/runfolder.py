"""Read the outputs of ``mlri run``: what exists, years, parameters.

The folder's layout is the schema of :mod:`mlri.products`.  Only ``classes.tif`` is required;
``mlri.tif``, ``trend.tif``, ``flags.tif``, ``onset.tif``, ``summary.json`` and
``manifest.json`` are used when present.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..products import ONSET_NAME, OUTPUT_NAMES
from ..products import read_json as _read_json

__all__ = ["RunFolder", "check_intact", "check_made_from", "check_sites_of", "class_raster",
           "open_run", "read_accuracy", "years_of"]

MLRI, TREND, CLASSES, FLAGS = "mlri.tif", "trend.tif", "classes.tif", "flags.tif"
SUMMARY = "summary.json"
assert {MLRI, TREND, CLASSES, FLAGS, SUMMARY} <= set(OUTPUT_NAMES)

_YEAR_RE = re.compile(r"^\s*(\d{4}(?:\.\d+)?)\s*$")


def years_of(path: str | os.PathLike[str], manifest: dict[str, Any] | None = None) -> list[float]:
    """Years of the bands of an MLRI stack.

    Band descriptions (the year as text, as ``mlri run`` writes them) first; then the
    manifest's ``parameters.years``; then the paper's years for a 19-band stack; else 1..n.
    """
    import rasterio

    with rasterio.open(path) as src:
        descs = list(src.descriptions)
        n = src.count
    years: list[float] = []
    for d in descs:
        m = _YEAR_RE.match(d or "")
        if not m:
            years = []
            break
        years.append(float(m.group(1)))
    if len(years) == n:
        return years
    params = (manifest or {}).get("parameters", {}) if manifest else {}
    py = params.get("years") if isinstance(params, dict) else None
    if isinstance(py, (list, tuple)) and len(py) == n:
        try:
            return [float(y) for y in py]
        except (TypeError, ValueError):
            pass
    from .._validation import PAPER_YEARS

    if n == len(PAPER_YEARS):
        return [float(y) for y in PAPER_YEARS]
    return [float(i + 1) for i in range(n)]


@dataclass
class RunFolder:
    """Paths and metadata of an ``mlri run`` output folder (optional parts may be None)."""

    path: Path
    classes: Path
    mlri: Path | None = None
    trend: Path | None = None
    flags: Path | None = None
    onset: Path | None = None
    summary: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    years: list[float] = field(default_factory=list)

    @property
    def parameters(self) -> dict[str, Any]:
        p = (self.manifest or {}).get("parameters")
        return dict(p) if isinstance(p, dict) else {}

    @property
    def last_year(self) -> int | None:
        if self.years:
            return int(max(self.years))
        py = self.parameters.get("years")
        if isinstance(py, (list, tuple)) and py:
            try:
                return int(max(float(y) for y in py))
            except (TypeError, ValueError):
                return None
        return None

    def inputs(self) -> list[Path]:
        return [p for p in (self.classes, self.mlri, self.trend, self.flags, self.onset)
                if p is not None]


def _complete_publication(d: Path) -> None:
    """Complete a publication of ``d`` cut short by a killed process (its journal is
    there), as the next writer would: a reader then sees the run's complete outputs."""
    from .._outputs import JOURNAL_NAME, FolderLock, recover_publication

    if (d / JOURNAL_NAME).exists():
        with FolderLock(d):
            recover_publication(d)


def _damaged(path: Path) -> str | None:
    """Why the GeoTIFF ``path`` is damaged (truncated, blocks missing), or None: reads only
    its directories and block tables (kilobytes), never the pixels."""
    from .._outputs_guard import tiff_problem

    try:
        return tiff_problem(path)
    except OSError as err:
        return f"cannot be read: {err}"


def check_intact(path: Path) -> None:
    """Refuse a damaged raster of a run folder (e.g. cut short by a full disk or a copy),
    naming it, before its pixels are read."""
    why = _damaged(path)
    if why:
        msg = (f"{path} is damaged ({why}); restore it or re-run `mlri run` to write the run "
               f"folder again")
        raise ValueError(msg)


def class_raster(classes: str | os.PathLike[str]) -> Path:
    """The class raster named by ``classes``: ``classes.tif`` of ``mlri run`` or the run
    folder holding it.  A publication of the folder cut short by a killed process is
    completed first (as :func:`open_run` does); a missing or damaged file is refused naming
    it.  Whether it *is* a class raster is checked by :func:`mlri.sites.refdata.
    check_class_raster` when it is opened."""
    p = Path(classes)
    folder = p if p.is_dir() else p.parent
    if p.is_dir() or p.name == CLASSES:
        _complete_publication(folder)
    if p.is_dir():
        p = p / CLASSES
    if not p.is_file():
        msg = (f"class raster {p} does not exist; pass classes.tif of `mlri run` (or its "
               f"output folder) as classes=")
        raise FileNotFoundError(msg)
    check_intact(p)
    return p


def open_run(run_dir: str | os.PathLike[str]) -> RunFolder:
    """Locate the files of a run folder (``classes.tif`` required).

    A publication cut short by a killed process is completed first; every raster present
    must be intact (:func:`check_intact`) and on the grid of ``classes.tif``."""
    d = Path(run_dir)
    if d.is_file():
        here = f": {d.parent}" if (d.parent / CLASSES).is_file() else ""
        msg = (f"--run {d} is a file; --run takes the output folder of `mlri run`, the folder "
               f"holding classes.tif{here}")
        raise NotADirectoryError(msg)
    if not d.is_dir():
        msg = f"run folder {d} does not exist; pass the --out folder of `mlri run` as --run"
        raise FileNotFoundError(msg)
    _complete_publication(d)
    cls = d / CLASSES
    if not cls.is_file():
        have = ", ".join(sorted(p.name for p in d.iterdir())[:12]) or "nothing"
        msg = (f"{cls} not found (the folder holds: {have}); --run must be the output folder "
               f"of `mlri run`, which writes classes.tif")
        raise FileNotFoundError(msg)

    def opt(name: str) -> Path | None:
        p = d / name
        return p if p.is_file() else None

    manifest = _read_json(d / "manifest.json")
    rf = RunFolder(path=d, classes=cls, mlri=opt(MLRI), trend=opt(TREND), flags=opt(FLAGS),
                   onset=opt(ONSET_NAME), summary=_read_json(d / SUMMARY), manifest=manifest)
    for p in rf.inputs():
        check_intact(p)
    # every raster of the folder on one grid: a file copied in from another run (or another
    # area) would otherwise be drawn or summarised over the wrong pixels
    for p in rf.inputs()[1:]:
        _check_aligned(rf.classes, p)
    if rf.mlri is not None:
        rf.years = years_of(rf.mlri, manifest)
    return rf


def _check_aligned(a: Path, b: Path) -> None:
    import rasterio

    with rasterio.open(a) as sa, rasterio.open(b) as sb:
        same = (sa.width, sa.height) == (sb.width, sb.height) and np.allclose(
            tuple(sa.transform)[:6], tuple(sb.transform)[:6], rtol=0, atol=1e-9 * max(
                1.0, abs(sa.transform.a))) and sa.crs == sb.crs
        if not same:
            msg = (f"{b} is not on the grid of {a} (size {sb.width}x{sb.height} vs "
                   f"{sa.width}x{sa.height}, origin {sb.transform.c:.6g}, {sb.transform.f:.6g} "
                   f"vs {sa.transform.c:.6g}, {sa.transform.f:.6g}, pixel {sb.transform.a:.6g} vs "
                   f"{sa.transform.a:.6g}, or a different CRS); every raster of a run folder "
                   f"must come from the same `mlri run`: re-run it, or remove the file that "
                   f"was copied in")
            raise ValueError(msg)


def _same_file(entry: Any, path: Path) -> bool | None:
    """Whether the input record ``entry`` of a manifest (``path``, ``size``, ``sha256``) is
    the file ``path``: by size and SHA-256 (wherever the folders are now), else by path;
    None when the record cannot tell."""
    from .._manifest import file_digest

    if not isinstance(entry, dict):
        return None
    size, sha = entry.get("size"), entry.get("sha256")
    if isinstance(size, int) and size != path.stat().st_size:
        return False
    if isinstance(sha, str) and sha:
        return file_digest(path) == sha
    rec = Path(str(entry.get("path", "")))
    if rec.exists():
        return rec.resolve() == path.resolve()
    return None


def check_made_from(rf: RunFolder, entry: Any, what: str, *, recorded: str | None,
                    fix: str) -> None:
    """Refuse results (``what``, e.g. "the sites folder S") that were made from another run
    than ``rf``: ``entry``, the class raster recorded in their manifest, must be
    ``rf.classes`` (:func:`_same_file`).  ``recorded`` is the run (or class raster) the
    manifest names, ``fix`` the command that makes the results again from ``rf``.  Nothing
    is refused when the record cannot tell."""
    if _same_file(entry, rf.classes) is not False:
        return
    src = recorded or (entry.get("path") if isinstance(entry, dict) else None) or "another run"
    rec = Path(str(src))
    same_place = rec.exists() and rec.resolve() in (rf.path.resolve(), rf.classes.resolve())
    if same_place:
        msg = (f"{what} was made from an earlier classes.tif of {rf.path} (the run was "
               f"written again since: its classes.tif differs from the one recorded); run "
               f"{fix} again")
    else:
        msg = (f"{what} was made from {src}, not from the run folder {rf.path} (--run): "
               f"{rf.classes} is not the class map it analysed. Give the run folder it was "
               f"made from as --run, or run {fix}")
    raise ValueError(msg)


def check_sites_of(rf: RunFolder, S: dict[str, Any]) -> None:
    """Refuse a sites folder made from another run than ``rf`` (its manifest records the
    run and the SHA-256 of the classes.tif it analysed): its mine maps would be drawn on
    this run's class map and its numbers shown as this run's."""
    man = S.get("manifest")
    man = man if isinstance(man, dict) else {}
    params = man.get("parameters")
    params = params if isinstance(params, dict) else {}
    inputs = [i for i in man.get("inputs") or [] if isinstance(i, dict)]
    entry = next((i for i in inputs if Path(str(i.get("path", ""))).name == "classes.tif"),
                 None)
    check_made_from(rf, entry, f"the sites folder {S['dir']} (--sites)",
                    recorded=params.get("run"), fix=f"`mlri sites --run {rf.path}`")


def read_accuracy(path: Path, rf: RunFolder) -> dict[str, Any]:
    """An ``mlri accuracy`` result, checked to be one and to come from ``rf``'s class map
    (the class raster it records, or its ``<file name>.manifest.json``)."""
    if not path.is_file():
        msg = f"accuracy file {path} does not exist; run `mlri accuracy` first"
        raise FileNotFoundError(msg)
    try:
        acc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        msg = (f"accuracy file {path} is not valid JSON ({err}); give the .json written by "
               f"`mlri accuracy` as --accuracy")
        raise ValueError(msg) from err
    if not isinstance(acc, dict) or not {"labels", "matrix"} <= set(acc):
        msg = (f"accuracy file {path} is not a result of `mlri accuracy` (no confusion "
               f"matrix); give the .json it wrote as --accuracy")
        raise ValueError(msg)
    entry: Any = acc.get("class_raster")
    recorded = entry.get("path") if isinstance(entry, dict) else None
    side = path.with_name(f"{path.name}.manifest.json")
    if not side.is_file():  # (written before the manifest took the whole file name)
        side = path.with_name(f"{path.stem}.manifest.json")
    if entry is None and side.is_file():
        try:
            man = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            man = {}
        params = man.get("parameters") if isinstance(man, dict) else None
        recorded = params.get("classes") if isinstance(params, dict) else None
        inputs = man.get("inputs") if isinstance(man, dict) else None
        entry = inputs[0] if isinstance(inputs, list) and inputs else None
    what = f"the accuracy assessment {path} (--accuracy)"
    fix = f"`mlri accuracy --classes {rf.path}` with its reference points"
    if entry is None:  # written before results recorded their class map: its area tells
        aa = acc.get("area_adjusted") or {}
        total = aa.get("total_area")
        if isinstance(total, (int, float)) and aa.get("area_unit") in ("ha", "pixels"):
            from .refdata import class_areas

            counts, ha_ = class_areas(rf.classes)
            mine = float((ha_ if aa["area_unit"] == "ha" else counts)[1:].sum())
            if not math.isclose(mine, float(total), rel_tol=1e-6, abs_tol=1e-9):
                msg = (f"{what} was made from another class map than {rf.classes}: its "
                       f"classified area is {total:,.6g} {aa['area_unit']}, this run's "
                       f"{mine:,.6g} {aa['area_unit']}. Give the run folder it was made from as --run, or run "
                       f"{fix}")
                raise ValueError(msg)
        return acc
    check_made_from(rf, entry, what, recorded=recorded, fix=fix)
    return acc
