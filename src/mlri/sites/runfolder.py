"""Read the outputs of ``mlri run``: what exists, years, parameters.

The folder's layout is the schema of :mod:`mlri.products`.  Only ``classes.tif`` is required;
``mlri.tif``, ``trend.tif``, ``flags.tif``, ``onset.tif``, ``summary.json`` and
``manifest.json`` are used when present.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..products import ONSET_NAME, OUTPUT_NAMES
from ..products import read_json as _read_json

__all__ = ["RunFolder", "open_run", "years_of"]

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


def open_run(run_dir: str | os.PathLike[str]) -> RunFolder:
    """Locate the files of a run folder (``classes.tif`` required)."""
    d = Path(run_dir)
    if d.is_file():
        here = f": {d.parent}" if (d.parent / CLASSES).is_file() else ""
        msg = (f"--run {d} is a file; --run takes the output folder of `mlri run`, the folder "
               f"holding classes.tif{here}")
        raise NotADirectoryError(msg)
    if not d.is_dir():
        msg = f"run folder {d} does not exist; pass the --out folder of `mlri run` as --run"
        raise FileNotFoundError(msg)
    from .._outputs import JOURNAL_NAME, FolderLock, recover_publication

    if (d / JOURNAL_NAME).exists():  # a publication cut short by a killed process
        with FolderLock(d):
            recover_publication(d)
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
    if rf.mlri is not None:
        rf.years = years_of(rf.mlri, manifest)
        _check_aligned(rf.classes, rf.mlri)
    return rf


def _check_aligned(a: Path, b: Path) -> None:
    import rasterio

    with rasterio.open(a) as sa, rasterio.open(b) as sb:
        same = (sa.width, sa.height) == (sb.width, sb.height) and np.allclose(
            tuple(sa.transform)[:6], tuple(sb.transform)[:6], rtol=0, atol=1e-9 * max(
                1.0, abs(sa.transform.a)))
        if not same:
            msg = (f"{b} is not on the grid of {a} (size {sb.width}x{sb.height} vs "
                   f"{sa.width}x{sa.height}, or a different transform); both must come from "
                   f"the same `mlri run`")
            raise ValueError(msg)
