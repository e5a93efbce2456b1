"""Scene discovery and access: folders, nested folders and ``.tar`` bundles.

A *scene* is one Collection 2 Level-2 product: its MTL and its band files, found either as
plain files (any folder layout; files of several scenes may share a folder) or as members of
an EarthExplorer ``.tar`` bundle, which are read in place through GDAL's ``/vsitar/``.

Band *roles* hide the sensor differences (TM/ETM+ blue = ``SR_B1``, OLI blue = ``SR_B2``, ...).
"""

from __future__ import annotations

import datetime as _dt
import os
import tarfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ids import (
    _ESPA_C1_RE,
    _PRECOLLECTION_RE,
    L2_DOWNLOAD_HINT,
    LandsatFormatError,
    ProductId,
    check_supported,
    find_product_id,
    parse_product_id,
)
from .mtl import (
    K_CONSTANTS,
    SR_ADD,
    SR_MULT,
    ST_ADD,
    ST_MULT,
    Mtl,
    check_metadata_size,
    mtl_format,
    parse_mtl,
    read_metadata_text,
    vsitar_member,
)

__all__ = [
    "BAND_ROLES",
    "LstUnavailableWarning",
    "Scene",
    "SceneError",
    "SceneProblem",
    "discover_scenes",
    "find_scenes",
]


class SceneError(LandsatFormatError):
    """A scene that cannot be used; the message names the scene."""

    def __init__(self, scene: str, message: str) -> None:
        self.scene = scene
        self.reason = message
        super().__init__(f"scene {scene}: {message}")


class LstUnavailableWarning(UserWarning):
    """LST cannot be computed for a scene (L2SR product or missing ST band)."""


_COMMON_ROLES = {
    "qa": "QA_PIXEL",
    "radsat": "QA_RADSAT",
    "st_qa": "ST_QA",
    "trad": "ST_TRAD",
    "urad": "ST_URAD",
    "drad": "ST_DRAD",
    "atran": "ST_ATRAN",
    "emis": "ST_EMIS",
    "emsd": "ST_EMSD",
    "cdist": "ST_CDIST",
}
#: role -> file suffix, per sensor family.
BAND_ROLES: dict[str, dict[str, str]] = {
    "TM": {"blue": "SR_B1", "green": "SR_B2", "red": "SR_B3", "nir": "SR_B4", "swir1": "SR_B5",
           "swir2": "SR_B7", "st": "ST_B6", "opacity": "SR_ATMOS_OPACITY",
           "cloud_qa": "SR_CLOUD_QA", **_COMMON_ROLES},
    "OLI": {"coastal": "SR_B1", "blue": "SR_B2", "green": "SR_B3", "red": "SR_B4", "nir": "SR_B5",
            "swir1": "SR_B6", "swir2": "SR_B7", "st": "ST_B10", "aerosol": "SR_QA_AEROSOL",
            **_COMMON_ROLES},
}
BAND_ROLES["ETM"] = BAND_ROLES["TM"]

_TAR_EXT = (".tar", ".tar.gz", ".tgz")
_RASTER_EXT = (".tif", ".tiff")


@dataclass
class _Source:
    """Files of one product found on disk (before parsing)."""

    product_id: str
    location: str  # folder or .tar path
    files: dict[str, str]  # file name -> readable path (plain or /vsitar/)
    in_tar: bool = False


@dataclass(frozen=True)
class SceneProblem:
    """A scene (or candidate) that was not used, with the reason.

    ``defect``: for a copy of a scene found twice that was left out because it cannot be used
    while another copy can (the ``reason`` then starts with "duplicate" and says why), what
    is wrong with it; such copies are reported to the user, not treated as errors.
    """

    scene: str
    location: str
    reason: str
    defect: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {"scene": self.scene, "location": self.location, "reason": self.reason}


@dataclass
class Scene:
    """One Landsat C2 Level-2 scene.  Create with :meth:`Scene.open` or :func:`find_scenes`."""

    pid: ProductId
    location: str
    files: dict[str, str]  # suffix (e.g. "SR_B4") -> readable path
    mtl: Mtl | None
    in_tar: bool = False
    notes: list[str] = field(default_factory=list)
    #: STAC provenance (item IDs; per band suffix the item, asset key and unsigned href)
    stac: dict[str, Any] | None = None
    _geo: Any = field(default=None, repr=False)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, require_mtl: bool = True) -> Scene:
        """Open a scene from its folder, its ``.tar`` bundle or its MTL file.

        Raises
        ------
        SceneError, LandsatFormatError
            For anything that is not a usable C2 Level-2 scene (the message says why and, for
            Collection 1 / Level-1 / pre-collection data, what to download instead).
        """
        p = Path(path)
        if not p.exists():
            msg = f"{p}: no such file or folder"
            raise FileNotFoundError(msg)
        sources, problems = _collect(p, recursive=False)
        if problems:
            raise SceneError(problems[0].scene, problems[0].reason)
        if p.is_file() and mtl_format(p.name):
            pid = find_product_id(p.name)
            sources = [s for s in sources if s.product_id == pid]
        if not sources:
            msg = (f"no Landsat Collection 2 Level-2 files found in {p}. {L2_DOWNLOAD_HINT}")
            raise LandsatFormatError(msg)
        if len(sources) > 1:
            msg = (f"{p} holds {len(sources)} scenes ({', '.join(s.product_id for s in sources)}); "
                   f"use find_scenes() or open one MTL file")
            raise LandsatFormatError(msg)
        return cls._from_source(sources[0], require_mtl=require_mtl)

    @classmethod
    def _from_source(cls, src: _Source, *, require_mtl: bool = True) -> Scene:
        name = src.product_id
        try:
            pid = parse_product_id(name)
        except LandsatFormatError as err:
            raise SceneError(name, str(err)) from None
        try:
            check_supported(pid)
        except LandsatFormatError as err:
            raise SceneError(name, str(err).removeprefix(f"{name}: ")) from None
        mtl = _read_source_mtl(src)
        notes: list[str] = []
        if mtl is None:
            if require_mtl:
                raise SceneError(name, (
                    f"no MTL metadata file ({name}_MTL.txt / _MTL.json / _MTL.xml) in "
                    f"{src.location}: the download looks incomplete. Download the complete "
                    f"Level-2 bundle again, or pass require_mtl=False (CLI --no-require-mtl) to "
                    f"use the product ID and the standard Collection 2 scale factors"))
            notes.append("no MTL: product ID and standard C2 scale factors used")
        else:
            _check_mtl_consistent(pid, mtl, name)
        files = _files_by_suffix(pid, src, mtl)
        return cls(pid=pid, location=src.location, files=files, mtl=mtl, in_tar=src.in_tar,
                   notes=notes)

    # ---- identity -----------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.pid.product_id

    @property
    def family(self) -> str:
        """"TM", "ETM" or "OLI"."""
        return self.pid.family

    @property
    def acquired(self) -> _dt.date:
        """Acquisition date (UTC), from the MTL when present, else the product ID."""
        if self.mtl is not None and self.mtl.date_acquired is not None:
            return self.mtl.date_acquired
        return self.pid.acquired

    @property
    def level(self) -> str:
        return self.pid.level

    @property
    def has_st(self) -> bool:
        """True when the product is L2SP and its ST band file is present."""
        return self.pid.has_st and "st" in self.available_roles()

    def __repr__(self) -> str:
        return f"Scene({self.id!r}, location={self.location!r})"

    # ---- bands --------------------------------------------------------------------------
    def roles(self) -> dict[str, str]:
        """role -> suffix for this sensor."""
        return BAND_ROLES[self.family]

    def available_roles(self) -> set[str]:
        return {r for r, suf in self.roles().items() if suf in self.files}

    def has(self, role: str) -> bool:
        return self.roles().get(role) in self.files

    def band_path(self, role: str) -> str:
        """Readable path (plain or ``/vsitar/``) of the file holding ``role``."""
        roles = self.roles()
        if role not in roles:
            known = ", ".join(sorted(roles))
            msg = f"unknown band role {role!r} for {self.family} (known: {known})"
            raise ValueError(msg)
        suffix = roles[role]
        path = self.files.get(suffix)
        if path is None:
            raise SceneError(self.id, (
                f"band file {self.id}_{suffix}.TIF ({role}) is missing in {self.location}"))
        return path

    def require(self, roles: Iterable[str]) -> None:
        """Raise a :class:`SceneError` listing every missing role at once."""
        missing = [r for r in roles if not self.has(r)]
        if missing:
            names = ", ".join(f"{self.roles()[r]} ({r})" for r in missing)
            raise SceneError(self.id, f"missing band file(s) {names} in {self.location}")

    def sr_scale(self, role: str) -> tuple[float, float]:
        """(mult, add) of an SR band: MTL values, else the C2 constants (2.75e-5, -0.2)."""
        suffix = self.roles()[role]
        if not suffix.startswith("SR_B"):
            msg = f"{role} is not a surface-reflectance band"
            raise ValueError(msg)
        band = int(suffix[4:])
        if self.mtl is None:
            return (SR_MULT, SR_ADD)
        return self.mtl.sr_scale(band)

    def st_scale(self) -> tuple[float, float]:
        """(mult, add) of the ST band: MTL values, else (0.00341802, 149.0)."""
        if self.mtl is None:
            return (ST_MULT, ST_ADD)
        return self.mtl.st_scale(self.pid.st_band)

    def thermal_constants(self) -> tuple[float, float]:
        if self.mtl is None:
            return K_CONSTANTS[self.pid.sensor]
        return self.mtl.thermal_constants(self.pid.sensor)

    # ---- georeference -------------------------------------------------------------------
    def georef(self) -> tuple[Any, Any, int, int]:
        """(crs, transform, width, height) of the reflective grid (read from one band file)."""
        if self._geo is None:
            import rasterio

            for role in ("qa", "red", "nir", "blue", "st"):
                if self.has(role):
                    path = self.band_path(role)
                    break
            else:
                raise SceneError(self.id, f"no band files found in {self.location}")
            try:
                with rasterio.open(path) as ds:
                    self._geo = (ds.crs, ds.transform, ds.width, ds.height)
            except rasterio.errors.RasterioIOError as err:
                raise SceneError(self.id, f"cannot open {path}: {err}") from None
            if self._geo[0] is None:
                raise SceneError(self.id, f"{path} has no CRS")
        return self._geo

    def bounds(self, crs: Any = None) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of the scene raster, in ``crs`` (default: its own)."""
        from rasterio.transform import array_bounds
        from rasterio.warp import transform_bounds

        scrs, tr, w, h = self.georef()
        west, south, east, north = array_bounds(h, w, tr)
        b = (west, south, east, north)
        if crs is None or crs == scrs:
            return b
        return tuple(transform_bounds(scrs, crs, *b, densify_pts=21))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
def _read_source_mtl(src: _Source) -> Mtl | None:
    cands = {}
    for name, path in src.files.items():
        fmt = mtl_format(name)
        if fmt:
            cands[fmt] = (name, path)
    for fmt in ("json", "txt", "xml"):
        if fmt not in cands:
            continue
        name, path = cands[fmt]
        try:
            text = read_metadata_text(path)
        except (OSError, tarfile.TarError) as err:
            raise SceneError(src.product_id, f"cannot read {name}: {err}") from None
        try:
            return parse_mtl(text, fmt, f"{src.product_id} {name}")
        except LandsatFormatError as err:
            raise SceneError(src.product_id, f"unreadable MTL {name}: {err}") from None
    return None


def _check_mtl_consistent(pid: ProductId, mtl: Mtl, name: str) -> None:
    mid = mtl.product_id
    if mid and mid != pid.product_id:
        raise SceneError(name, f"MTL product ID {mid} does not match the file names")
    lvl = mtl.processing_level
    if lvl and lvl != pid.level:
        raise SceneError(name, f"MTL PROCESSING_LEVEL {lvl} does not match the product ID")
    if mtl.collection is not None and mtl.collection != 2:
        raise SceneError(name, f"MTL says Collection {mtl.collection:02d}; only Collection 2 is "
                               f"supported. {L2_DOWNLOAD_HINT}")


def _files_by_suffix(pid: ProductId, src: _Source, mtl: Mtl | None) -> dict[str, str]:
    out: dict[str, str] = {}
    by_lower = {n.lower(): p for n, p in src.files.items()}
    # 1) names from the MTL (authoritative when the file exists)
    if mtl is not None:
        for suffix, fname in mtl.file_names().items():
            p = by_lower.get(fname.lower())
            if p is not None and fname.lower().endswith(_RASTER_EXT):
                out[suffix] = p
    # 2) anything else named <product_id>_<SUFFIX>.TIF (also GEE-style lower-case .tif)
    stem0 = pid.product_id + "_"
    for name, p in src.files.items():
        if not name.lower().endswith(_RASTER_EXT) or not name.startswith(stem0):
            continue
        suffix = name[len(stem0):].rsplit(".", 1)[0].upper()
        out.setdefault(suffix, p)
    return out


# ---------------------------------------------------------------------------------------------
def _tar_sources(path: Path) -> tuple[list[_Source], list[SceneProblem]]:
    name = path.name
    try:
        members = _tar_members(path)
    except (tarfile.TarError, OSError, EOFError) as err:
        pid = find_product_id(name) or name
        return [], [SceneProblem(pid, str(path), f"cannot read the .tar bundle {path}: {err}")]
    base = f"/vsitar/{path.resolve()}"
    groups: dict[str, dict[str, str]] = {}
    problems: list[SceneProblem] = []
    for m in members:
        fname = m.rsplit("/", 1)[-1]
        pid = find_product_id(fname)  # type: ignore[assignment]
        if pid is None:
            prob = _foreign_landsat(fname, str(path))
            if prob:
                problems.append(prob)
            continue
        groups.setdefault(pid, {})[fname] = f"{base}/{vsitar_member(m)}"
    if not groups and not problems:
        pid = find_product_id(name) or name
        problems.append(SceneProblem(pid, str(path), f"the bundle {path} holds no Landsat files"))
    srcs = [_Source(pid, str(path), files, in_tar=True) for pid, files in groups.items()]
    return srcs, _dedupe_problems(problems)


def _tar_members(path: Path) -> list[str]:
    """Regular-file members of a bundle; an oversized metadata member stops the scan (a
    decompression bomb is refused at its header, before its data is decompressed)."""
    out = []
    with tarfile.open(path) as tf:
        for m in tf:
            if not m.isfile():
                continue
            if mtl_format(m.name.rsplit("/", 1)[-1]):
                check_metadata_size(m.name, m.size)
            out.append(m.name)
    return out


def _foreign_landsat(fname: str, location: str) -> SceneProblem | None:
    """A problem record for pre-collection / Collection 1 ESPA files, else None."""
    if _PRECOLLECTION_RE.search(fname) or _ESPA_C1_RE.search(fname):
        try:
            parse_product_id(fname)
        except LandsatFormatError as err:
            m = _PRECOLLECTION_RE.search(fname)
            scene = m.group(0) if m else fname.split("_sr_")[0].split("_pixel_")[0]
            return SceneProblem(scene, location, str(err).removeprefix(f"{fname}: "))
    return None


def _dedupe_problems(problems: list[SceneProblem]) -> list[SceneProblem]:
    seen: dict[str, SceneProblem] = {}
    for p in problems:
        seen.setdefault(p.scene, p)
    return list(seen.values())


def _dir_sources(d: Path, names: Sequence[str]) -> tuple[list[_Source], list[SceneProblem]]:
    groups: dict[str, dict[str, str]] = {}
    problems: list[SceneProblem] = []
    for fname in names:
        if fname.lower().endswith(_TAR_EXT):
            continue
        pid = find_product_id(fname)
        if pid is None:
            prob = _foreign_landsat(fname, str(d))
            if prob:
                problems.append(prob)
            continue
        groups.setdefault(pid, {})[fname] = str(d / fname)
    srcs = [_Source(pid, str(d), files) for pid, files in groups.items()]
    return srcs, _dedupe_problems(problems)


def _collect(root: Path, *, recursive: bool) -> tuple[list[_Source], list[SceneProblem]]:
    srcs: list[_Source] = []
    probs: list[SceneProblem] = []
    if root.is_file():
        if root.name.lower().endswith(_TAR_EXT):
            return _tar_sources(root)
        return _dir_sources(root.parent, sorted(os.listdir(root.parent)))
    walker: Iterator[tuple[str, list[str], list[str]]]
    if recursive:
        walker = os.walk(root, followlinks=True)
    else:
        walker = iter([(str(root), [], [f for f in os.listdir(root) if (root / f).is_file()])])
    for dirpath, dirnames, filenames in walker:
        dirnames.sort()
        d = Path(dirpath)
        s, p = _dir_sources(d, sorted(filenames))
        srcs += s
        probs += p
        for f in sorted(filenames):
            if f.lower().endswith(_TAR_EXT):
                s, p = _tar_sources(d / f)
                srcs += s
                probs += p
    return srcs, probs


def discover_scenes(paths: Iterable[str | os.PathLike[str]], *, recursive: bool = True,
                    require_mtl: bool = True,
                    check: Callable[[Scene], str | None] | None = None,
                    ) -> tuple[list[Scene], list[SceneProblem]]:
    """Find every scene under ``paths`` and open it; collect the ones that fail.

    Returns ``(scenes, problems)``; each problem names the scene, where it was found and why it
    cannot be used.

    A scene found twice (e.g. a folder and its ``.tar``, or an incomplete download beside a
    complete one) is used once: the first copy that opens and passes ``check`` (why a scene
    cannot be used, None when it can; :func:`write_composites` passes
    :func:`mlri.landsat.needs.scene_problem` with its options), else the first that opens.
    Every other copy is a problem whose reason starts with "duplicate of the copy in ..."
    and, for a copy left out because it cannot be used, says why (``defect``).  When no copy
    opens, each is reported with its own reason.
    """
    problems: list[SceneProblem] = []
    copies: dict[str, list[tuple[_Source, Scene | None, str | None]]] = {}
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            msg = f"--scenes {p}: no such file or folder"
            raise FileNotFoundError(msg)
        srcs, probs = _collect(p, recursive=recursive)
        problems += probs
        for src in srcs:
            scene: Scene | None = None
            try:
                scene = Scene._from_source(src, require_mtl=require_mtl)
                why = check(scene) if check is not None else None
            except LandsatFormatError as err:
                why = err.reason if isinstance(err, SceneError) else str(err)
            copies.setdefault(src.product_id, []).append((src, scene, why))
    scenes: list[Scene] = []
    for pid, cands in copies.items():
        opened = [c for c in cands if c[1] is not None]
        if not opened:  # no copy can be read: each says why
            problems += [SceneProblem(pid, src.location, str(why)) for src, _, why in cands]
            continue
        used = next((c for c in opened if c[2] is None), opened[0])
        scenes.append(used[1])  # type: ignore[arg-type]
        for src, _, why in cands:
            if src is used[0]:
                continue
            reason = f"duplicate of the copy in {used[0].location}"
            if why is not None and used[2] is None:
                reason += f", which is used instead of this one: {why}"
                problems.append(SceneProblem(pid, src.location, reason, defect=why))
            else:
                problems.append(SceneProblem(pid, src.location, reason))
    scenes.sort(key=lambda s: (s.acquired, s.id))
    return scenes, problems


def find_scenes(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
                recursive: bool = True, require_mtl: bool = True,
                on_error: str = "raise") -> list[Scene]:
    """Find the Landsat C2 L2 scenes in folders, nested folders and ``.tar`` bundles.

    Parameters
    ----------
    paths : path or list of paths
        Folders (searched recursively), ``.tar`` bundles or MTL files.
    on_error : {"raise", "warn", "skip"}
        What to do with a scene that cannot be used (Collection 1, Level-1, unknown sensor,
        missing MTL, unreadable bundle): raise a :class:`SceneError` naming it (default), warn,
        or skip silently.  Use :func:`discover_scenes` to get the list of problems.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if on_error not in ("raise", "warn", "skip"):
        msg = f"on_error must be 'raise', 'warn' or 'skip', got {on_error!r}"
        raise ValueError(msg)
    scenes, problems = discover_scenes(paths, recursive=recursive, require_mtl=require_mtl)
    real = [p for p in problems if not p.reason.startswith("duplicate")]
    if real and on_error == "raise":
        raise SceneError(real[0].scene, real[0].reason + (
            f" (and {len(real) - 1} more problem(s))" if len(real) > 1 else ""))
    if on_error == "warn":
        for p in real:
            warnings.warn(f"skipping scene {p.scene}: {p.reason}", UserWarning, stacklevel=2)
    return scenes
