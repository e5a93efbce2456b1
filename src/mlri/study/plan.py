"""Planning a study: the mines, each mine's grid and inputs, and the key of its work.

Every mine gets its own grid in the UTM zone of its centroid (:func:`mlri.landsat.grid_for_aoi`,
snapped to the Landsat lattice) and a :class:`MineTask` that says everything the per-mine work
needs.  The task's ``key`` is a SHA-256 of the mine's geometry, grid, inputs (scene ids and
file sizes, or raster names, sizes and modification times) and every method option: a mine
whose key matches the completion marker of its folder is finished and is not recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import StudyConfig

__all__ = ["MineTask", "mine_folder_names", "plan_tasks", "read_study_mines"]

#: Bump when the per-mine outputs change meaning (invalidates every finished mine).
FORMAT_VERSION = 2
#: Completion marker of a mine folder (written last).
MARKER = "mine.json"


@dataclass
class MineTask:
    """The work of one mine (picklable: it travels to worker processes)."""

    index: int
    id: str
    label: str
    folder: str
    key: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    geom_wkb: bytes | None = None
    geom_crs: str | None = None
    lonlat: tuple[float, float] | None = None
    grid: dict[str, Any] | None = None
    scenes: list[Any] = field(default_factory=list)
    rasters: str | None = None
    raster_pattern: str | None = None
    years: list[int] | None = None
    composite: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None
    cog: bool = False
    overviews: bool = False
    maps: bool = True  # render the mine's class map (map.png) for the report
    error: str | None = None  # known before any work (bad geometry, no inputs)
    #: the record of a finished mine that only lacks its class map (finished with --no-report,
    #: or beyond max_maps before): the work is only to draw map.png
    reuse: dict[str, Any] | None = None


def read_study_mines(cfg: StudyConfig) -> tuple[Any, list[str]]:
    """The mines (:func:`mlri.sites.read_mines`) and the warnings raised while reading them."""
    from ..sites.polygons import read_mines

    layer: Any = cfg.layer
    if isinstance(layer, str) and layer.isdigit():
        layer = int(layer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = read_mines(cfg.mines, id_col=cfg.id_col, name_col=cfg.name_col,
                       region_col=cfg.region_col, start_col=cfg.start_col, layer=layer)
    if m.crs is None:
        from pyproj import CRS

        m.crs = CRS.from_epsg(4326).to_wkt()
        caught_msgs = [(f"{cfg.mines}: the mines have no CRS; assuming longitude/latitude "
                       f"(EPSG:4326)")]
    else:
        caught_msgs = []
    return m, caught_msgs + [str(w.message) for w in caught]


def mine_folder_names(ids: list[str]) -> list[str]:
    """File-system-safe, unique (case-insensitively) folder names for mine ids."""
    used: set[str] = set()
    out = []
    for i in ids:
        base = re.sub(r"[^\w.-]+", "_", str(i)).strip("._")[:60] or "mine"
        name, k = base, 2
        while name.lower() in used:
            name = f"{base}_{k}"
            k += 1
        used.add(name.lower())
        out.append(name)
    return out


def _file_fingerprint(folder: Path) -> list[list[Any]]:
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            st = p.stat()
            out.append([str(p.relative_to(folder)), st.st_size, st.st_mtime_ns])
    return out


def _scene_fingerprint(scenes: list[Any]) -> list[list[Any]]:
    out = []
    for s in scenes:
        try:
            size = Path(s.location).stat().st_size if Path(s.location).is_file() else sum(
                Path(f).stat().st_size for f in s.files.values() if not f.startswith("/vsi"))
        except OSError:
            size = -1
        out.append([s.id, size])
    return sorted(out)


def _key(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def raster_folder(cfg: StudyConfig, mine_id: str) -> Path:
    """Where the ready rasters of a mine are (``rasters`` with ``{id}``, or ``rasters/<id>``)."""
    assert cfg.rasters is not None
    if "{id}" in cfg.rasters:
        return Path(cfg.rasters.replace("{id}", str(mine_id)))
    return Path(cfg.rasters) / str(mine_id)


def plan_tasks(cfg: StudyConfig, mines: Any, scenes: list[Any] | None,
               threads: int | None) -> list[MineTask]:
    """One :class:`MineTask` per mine (tasks with ``error`` set are failed before any work)."""
    import shapely
    from rasterio.warp import transform as warp_transform

    from ..landsat.composite import select_scenes
    from ..landsat.grid import grid_for_aoi

    years = cfg.year_list()
    comp = cfg.composite_options()
    comp_d = comp.as_dict()
    comp_d.pop("n_threads", None)
    stats_d = cfg.resolved().stats
    names = mine_folder_names(list(mines.ids))
    out_root = Path(cfg.out) / "mines"
    tasks: list[MineTask] = []
    for i, mid in enumerate(mines.ids):
        attrs = {k: v[i] for k, v in mines.attrs.items()}
        t = MineTask(index=i, id=str(mid), label=mines.label(i),
                     folder=str(out_root / names[i]), attrs=attrs, years=years,
                     composite=comp_d, stats=stats_d, threads=threads, cog=cfg.cog,
                     overviews=cfg.overviews, raster_pattern=cfg.raster_pattern,
                     maps=cfg.report and i < cfg.max_maps,
                     geom_crs=mines.crs)
        tasks.append(t)
        g = mines.geoms[i]
        if g is None:
            t.error = f"bad geometry: {mines.notes[i] or 'no usable polygon'}"
            continue
        t.geom_wkb = shapely.to_wkb(g)
        c = g.representative_point()
        try:
            lons, lats = warp_transform(mines.crs, "EPSG:4326", [c.x], [c.y])
            t.lonlat = (float(lons[0]), float(lats[0]))
        except Exception as err:  # noqa: BLE001 - any failure is this mine's, reported
            t.error = f"bad geometry: cannot locate it in longitude/latitude ({err})"
            continue
        doc: dict[str, Any] = {"format": FORMAT_VERSION, "geom": t.geom_wkb.hex(),
                               "crs": mines.crs, "years": years, "stats": stats_d,
                               "cog": cfg.cog, "overviews": cfg.overviews}
        if scenes is not None:
            try:
                grid = grid_for_aoi(g, aoi_crs=mines.crs, buffer=cfg.buffer)
            except (ValueError, TypeError) as err:
                t.error = f"bad geometry: no grid can be made for it ({err})"
                continue
            t.grid = grid.as_dict()
            by_year, _ = select_scenes(scenes, years or [], comp, grid)
            chosen = [s for y in sorted(by_year) for s in by_year[y]]
            if not chosen:
                t.error = (f"no scene covers the mine (outside every scene, or none in the "
                           f"season {comp.months_label} of the years {cfg.years}); grid "
                           f"{grid.crs.to_string()} bounds {tuple(round(v) for v in grid.bounds)}")
                continue
            t.scenes = chosen
            doc.update(grid=t.grid, composite=comp_d, scenes=_scene_fingerprint(chosen))
        else:
            folder = raster_folder(cfg, t.id)
            t.rasters = str(folder)
            if not folder.is_dir():
                t.error = f"no rasters for this mine: {folder} is not a folder"
                continue
            doc.update(rasters=str(folder), pattern=cfg.raster_pattern,
                       files=_file_fingerprint(folder))
        t.key = _key(doc)
    return tasks


def finished(task: MineTask) -> dict[str, Any] | None:
    """The record of ``task`` as finished before: the completion marker of its folder when it
    holds results of this mine (same id) and key, else None.

    The record is bound to the task: its ``id``, ``index`` and ``folder`` are this run's (the
    marker keeps those of the run that computed it, when the mine may have stood elsewhere in
    the mines file), and its ``status`` is "reused".
    """
    p = Path(task.folder) / MARKER
    if not task.key or not p.is_file():
        return None
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("key") != task.key or rec.get("status") != "done":
        return None
    # the key does not hold the id (two mines may share a geometry); folder names of clashing
    # ids depend on their order, so a folder may hold another mine's work: never reuse that
    if str(rec.get("id")) != task.id:
        return None
    if not all((Path(task.folder) / f).is_file() for f in rec.get("files", [])):
        return None
    return {**rec, "id": task.id, "index": task.index, "folder": task.folder,
            "status": "reused", "seconds": 0.0}


def default_threads(jobs: int, threads: int | None) -> int:
    """OpenMP threads per mine so that ``jobs`` mines at once do not oversubscribe."""
    if threads is not None:
        return int(threads)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS/Windows
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, jobs))
