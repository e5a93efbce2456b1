"""Safe outputs shared by every command: atomic files, COG rasters, output folders.

Rules (README "Outputs", docs/pipeline.md "Output reference"): every file is written under a
temporary name in the destination folder, re-opened and checked, and renamed only when
complete, so an interrupted or failed run (a full disk, Ctrl-C, SIGTERM) never leaves a file
that looks finished; an output folder that already holds results is refused unless
``overwrite``; one process at a time writes into a folder (:class:`FolderLock`); the renames
that publish a set of outputs are journaled so that even a killed process leaves a folder
the next run completes (:class:`OutputSet`).  The checks themselves live in
:mod:`mlri._outputs_guard`; the provenance record beside every output in :mod:`mlri._manifest`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from ._outputs_guard import (
    LOCK_NAME,
    FolderLock,
    InsufficientSpaceError,
    OutputError,
    OutputInUseError,
    OutputWriteError,
    Terminated,
    check_free_space,
    held_by_me,
    incomplete_error,
    install_signal_handlers,
    is_io_error,
    make_folder,
    mark_verified,
    output_bytes,
    pid_alive,
    raster_bytes,
    signals_deferred,
    sigterm_as_interrupt,
    verify_output,
    verify_raster,
    write_failure,
)

__all__ = [
    "FolderLock",
    "InsufficientSpaceError",
    "OutputError",
    "OutputExistsError",
    "OutputInUseError",
    "OutputSet",
    "OutputWriteError",
    "Terminated",
    "atomic_file",
    "atomic_raster",
    "check_free_space",
    "check_output_dir",
    "check_results_owner",
    "install_signal_handlers",
    "output_bytes",
    "preflight",
    "raster_bytes",
    "raster_profile",
    "sigterm_as_interrupt",
    "verify_output",
    "verify_raster",
    "write_json",
]

_PARTIAL = ".partial"
_STAGE = ".mlri-stage"
JOURNAL_NAME = ".mlri-publish.json"
_PID_RE = re.compile(r"\.partial-(\d+)-")
#: What happened to the output folders of this process, newest last: ``(folder, event)``
#: with event ``"published"`` or ``"aborted"`` (read by the command line's interrupt message).
EVENTS: list[tuple[str, str]] = []


class OutputExistsError(FileExistsError):
    """Raised when an output would overwrite existing results without ``overwrite=True``."""


def check_output_dir(out_dir: str | os.PathLike[str], names: Iterable[str], *,
                     overwrite: bool = False) -> Path:
    """Create ``out_dir`` if needed; refuse when any of ``names`` already exists there.

    Refused with :class:`OutputInUseError` while another process writes into the folder
    (its :class:`FolderLock`).  A publication interrupted by a killed process is completed
    first (see :class:`OutputSet`); then temporary files of dead earlier runs
    (``.*.partial-PID-*``) are removed — never those of a live process.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        msg = f"output path {out} exists and is not a folder; choose another --out"
        raise NotADirectoryError(msg)
    make_folder(out)
    with FolderLock(out):
        recover_publication(out)
        existing = [n for n in names if (out / n).exists()]
        if existing and not overwrite:
            msg = (f"{out} already holds results ({', '.join(existing)}); pass --overwrite "
                   f"(overwrite=True) to replace them, or choose another output folder")
            raise OutputExistsError(msg)
        for stale in out.glob(f".*{_PARTIAL}*"):
            m = _PID_RE.search(stale.name)
            if m and pid_alive(int(m.group(1))):
                continue  # a live process's temporary file (it may not hold the lock)
            _remove(stale)
    return out


def check_results_owner(out_dir: str | os.PathLike[str], command: str, *,
                        marker: str = "manifest.json") -> None:
    """Refuse (:class:`OutputExistsError`, even with ``overwrite``) an output folder that
    holds the results of another command: its ``marker`` manifest names another command, or
    none (unreadable).  ``--overwrite`` replaces a command's own earlier results, never e.g.
    the run folder that ``mlri sites`` reads (its manifest is the run's provenance)."""
    man = Path(out_dir) / marker
    if not man.is_file():
        return
    try:
        doc = json.loads(man.read_text(encoding="utf-8"))
        cmd = doc.get("command") if isinstance(doc, dict) else None
    except (OSError, ValueError):
        cmd = None
    if cmd != command:
        msg = (f"{out_dir} holds the results of another command ({cmd or 'unknown'}, see its "
               f"{marker}); --overwrite replaces only earlier results of the same command: "
               f"choose another output folder (--out)")
        raise OutputExistsError(msg)


def preflight(out_dir: str | os.PathLike[str], need: int, *, check_space: bool = True,
              what: str = "the outputs",
              override: str = "--ignore-disk-space (check_disk_space=False)") -> None:
    """Checks before any work, in microseconds and without writing: ``out_dir`` is not
    being written by another process (:class:`OutputInUseError`) and ``need`` bytes fit
    in its free disk space (:class:`InsufficientSpaceError`, skipped unless
    ``check_space``)."""
    out = Path(out_dir)
    if (out / LOCK_NAME).exists() and not held_by_me(out):
        FolderLock(out).acquire().release()  # raises while another process holds it
    check_free_space(out, need, force=not check_space, what=what, override=override)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}{_PARTIAL}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _shown(path: Path) -> Path:
    """The path a user knows: a file staged by :class:`OutputSet` under its final name."""
    for parent in (path, *path.parents):
        if parent.name.startswith(_STAGE + _PARTIAL):
            return parent.parent / path.relative_to(parent)
    return path


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "w", **kw: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it to ``path`` only on success.

    A full disk raises :class:`OutputWriteError` naming the file and the free space.
    """
    final = Path(path)
    tmp = _temp_name(final)
    try:
        with open(tmp, mode, **kw) as fh:  # noqa: PTH123
            yield fh
        os.replace(tmp, final)
    except BaseException as exc:
        err = None
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            err = write_failure(_shown(final), exc, heuristic=False)
        with contextlib.suppress(OSError):
            tmp.unlink()
        if err is not None:
            raise err from exc
        raise


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NaN written as null); the file is parsed
    back before it is renamed into place."""

    def _clean(o: Any) -> Any:
        if isinstance(o, float) and o != o:  # NaN
            return None
        if isinstance(o, dict):
            return {str(k): _clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [_clean(v) for v in o]
        if hasattr(o, "item") and callable(o.item):  # numpy scalar
            return _clean(o.item())
        if isinstance(o, os.PathLike):
            return os.fspath(o)
        return o

    with atomic_file(path, "w", encoding="utf-8") as fh:
        json.dump(_clean(obj), fh, indent=2, allow_nan=False)
        fh.write("\n")
        fh.flush()
        try:
            json.loads(Path(fh.name).read_text(encoding="utf-8"))
        except ValueError as err:
            raise incomplete_error(_shown(Path(path)), f"not valid JSON: {err}") from err
    return Path(path)


def raster_profile(*, crs: Any, transform: Any, width: int, height: int, count: int, dtype: str,
                   nodata: float | None, blocksize: int = 512, compress: str = "deflate",
                   zlevel: int = 6, predictor: int | None = None,
                   num_threads: str | int = "ALL_CPUS") -> dict[str, Any]:
    """A tiled, compressed GeoTIFF profile (the intermediate of a COG).

    ``predictor`` defaults to 3 (floating point) for float dtypes and 2 (horizontal) for
    integers wider than a byte; no predictor for uint8 class maps.
    """
    if predictor is None:
        predictor = 3 if str(dtype).startswith("float") else (2 if dtype not in ("uint8", "int8")
                                                               else 1)
    bs = int(blocksize)
    prof: dict[str, Any] = {
        "driver": "GTiff", "crs": crs, "transform": transform, "width": int(width),
        "height": int(height), "count": int(count), "dtype": dtype, "nodata": nodata,
        "tiled": True, "blockxsize": bs, "blockysize": bs, "compress": compress,
        "predictor": predictor, "num_threads": str(num_threads), "bigtiff": "IF_SAFER",
        "interleave": "band",
    }
    if compress.lower() in ("deflate", "zstd"):
        prof["zlevel" if compress.lower() == "deflate" else "zstd_level"] = zlevel
    return prof


def _cog_options(profile: Mapping[str, Any], overview_resampling: str | None) -> dict[str, Any]:
    """GDAL COG-driver creation options equivalent to a GTiff ``profile``."""
    compress = str(profile.get("compress") or "none")
    opts: dict[str, Any] = {
        "compress": compress,
        "blocksize": int(profile.get("blockxsize", 512)),
        "num_threads": str(profile.get("num_threads", "ALL_CPUS")),
        "bigtiff": "IF_SAFER",
        "overview_resampling": (overview_resampling or "nearest").upper(),
    }
    pred = profile.get("predictor", 1)
    if compress.lower() != "none" and pred not in (None, 1):
        opts["predictor"] = "FLOATING_POINT" if int(pred) == 3 else "YES"
    for key in ("zlevel", "zstd_level"):
        if key in profile:
            opts["level"] = profile[key]
    if not overview_resampling:
        opts["overviews"] = "NONE"
    return opts


_COMPRESSION_KEYS = ("compress", "predictor", "zlevel", "zstd_level", "jpeg_quality",
                     "max_z_error")


@contextlib.contextmanager
def atomic_raster(path: str | os.PathLike[str], profile: Mapping[str, Any], *, cog: bool = True,
                  overview_resampling: str | None = "nearest",
                  raw_intermediate: bool = True) -> Iterator[Any]:
    """Write a raster through a temporary tiled GeoTIFF and publish it atomically.

    Yields an open rasterio dataset in write mode.  On success, overviews are added (when
    ``overview_resampling`` is set and the raster is large enough) and, with ``cog=True``, the
    file is rewritten in Cloud-Optimized GeoTIFF layout (GDAL's COG driver, same compression),
    then renamed to ``path``.  On any error or interrupt every temporary file is deleted.

    With ``cog=True`` and ``raw_intermediate=True`` (default) the temporary file is written
    *uncompressed* (same tiling) and compressed once by the COG driver: compressing twice
    (intermediate + COG rewrite) costs about twice the CPU for identical output.  The
    intermediate then needs the uncompressed size in free disk space beside ``path``.
    With ``cog=False`` the file is written with ``profile``'s compression directly.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.shutil import copy as rio_copy

    final = Path(path)
    tmp = _temp_name(final)
    tmp_cog = _temp_name(final)
    write_profile = dict(profile)
    if cog and raw_intermediate:
        for key in _COMPRESSION_KEYS:
            write_profile.pop(key, None)
        write_profile["compress"] = "none"
    finishing = False
    try:
        with rasterio.open(tmp, "w", **write_profile) as dst:
            yield dst
            finishing = True
            # Overviews are built here, in the uncompressed intermediate when cog=True: the
            # COG driver then copies them (OVERVIEWS=AUTO uses existing ones) instead of
            # computing them through a compressed temporary file of its own (measured:
            # ~20 % less CPU for the whole COG pass of a 19-band float32 stack).
            if overview_resampling and (not cog or raw_intermediate):
                factors = _overview_factors(dst.width, dst.height, int(profile.get("blockxsize",
                                                                                    512)))
                if factors:
                    dst.build_overviews(factors, Resampling[overview_resampling])
        done = tmp
        if cog:
            rio_copy(tmp, tmp_cog, driver="COG", **_cog_options(profile, overview_resampling))
            done = tmp_cog
        # GDAL may report a full disk only in its log: re-open the file before publishing
        # (and before the intermediate is deleted, so that a full disk is still seen as full)
        why = verify_raster(done, width=profile.get("width"), height=profile.get("height"),
                            count=profile.get("count"), dtype=profile.get("dtype"))
        if why:
            raise incomplete_error(_shown(final), why)
        if cog:
            tmp.unlink()
        done.replace(final)
        mark_verified(final)
    except BaseException as exc:
        err = None
        if is_io_error(exc) and not isinstance(exc, OutputError):
            # measured before the temporaries are deleted (a full disk is still full)
            err = write_failure(_shown(final) if finishing else _shown(final.parent), exc,
                                force=finishing)
        for t in (tmp, tmp_cog):
            for side in ("", ".ovr", ".aux.xml", ".msk"):
                with contextlib.suppress(OSError):
                    Path(str(t) + side).unlink()
        if err is not None:
            raise err from exc
        raise


class OutputSet:
    """Stage several output files and publish them together, verified.

    Holds the folder's :class:`FolderLock` from construction to :meth:`close` (a second
    writer is refused at once).  ``stage(name)`` gives the path where ``name`` is to be
    written (by any means, e.g. :func:`atomic_raster`), inside a hidden staging folder
    ``.mlri-stage.partial-PID-*`` in the output folder; ``stage_dir(name)`` a folder output.
    :meth:`reserve` refuses a run whose outputs would not fit on the disk.

    :meth:`commit` re-opens and checks every staged file (:func:`verify_output`), then
    publishes them: it writes a journal (``.mlri-publish.json``), removes the old
    ``marker`` (e.g. ``manifest.json``) and declared outputs this run does not produce,
    renames every staged file to its final name (an old folder output is moved aside
    first) and the marker last, then deletes the journal.  SIGINT/SIGTERM are held back
    for those milliseconds; if the process is killed anyway, the folder holds no marker and
    the journal, and the next run into it (any :func:`check_output_dir`) completes the
    publication from the staged, already verified files.  So a folder whose marker exists
    holds one complete run, never a mix of two.

    Leaving the ``with`` block with an exception (including KeyboardInterrupt and
    :class:`Terminated`) deletes every staged file; nothing of the run then looks complete.
    Existing results are refused unless ``overwrite``; with ``command``, a folder whose
    marker names another command is refused even then (:func:`check_results_owner`).
    """

    def __init__(self, out_dir: str | os.PathLike[str], names: Iterable[str], *,
                 overwrite: bool = False, marker: str | None = "manifest.json",
                 command: str | None = None) -> None:
        self.names = list(dict.fromkeys(names))
        if marker is not None and marker not in self.names:
            self.names.append(marker)
        self.marker = marker
        if os.fspath(out_dir) == "":  # Path("") is the working folder: never write there by accident
            msg = "the output folder is an empty path; give one with --out (out=)"
            raise ValueError(msg)
        out = Path(out_dir)
        self._created = not out.exists()
        if out.exists() and not out.is_dir():
            msg = f"output path {out} exists and is not a folder; choose another --out"
            raise NotADirectoryError(msg)
        make_folder(out)
        self._lock: FolderLock | None = None
        self.out = out
        self.committed = False
        try:
            self._lock = FolderLock(out).acquire()
            if command is not None and marker is not None:
                check_results_owner(out, command, marker=marker)
            self.out = check_output_dir(out, self.names, overwrite=overwrite)
        except BaseException:
            self._release()
            raise
        self._root: Path | None = None
        self._staged: dict[str, Path] = {}

    @property
    def stage_root(self) -> Path:
        """The hidden staging folder (created on first use)."""
        if self._root is None:
            self._root = self.out / f"{_STAGE}{_PARTIAL}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self._root.mkdir()
        return self._root

    def path(self, name: str) -> Path:
        """Final path of ``name``."""
        return self.out / name

    def stage(self, name: str) -> Path:
        """Temporary path where ``name`` is to be written before :meth:`commit`."""
        if name not in self.names:
            msg = f"{name!r} is not one of the declared outputs {self.names}"
            raise ValueError(msg)
        if name not in self._staged:
            p = self.stage_root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            self._staged[name] = p
        return self._staged[name]

    def stage_dir(self, name: str) -> Path:
        """A staged folder output (created), published as a whole by :meth:`commit`."""
        p = self.stage(name)
        p.mkdir(exist_ok=True)
        return p

    def replaces(self, names: Iterable[str]) -> None:
        """Also replace ``names``: outputs an earlier run recorded in the folder, for names that
        vary per run (a raster per year).  Call after construction (the lock is held)."""
        for n in names:
            if Path(n).is_absolute() or ".." in Path(n).parts or not Path(n).parts:
                msg = f"an earlier output must be a name inside {self.out}, got {n!r}"
                raise ValueError(msg)
            if n not in self.names:
                self.names.append(n)  # commit() removes the declared names it did not stage

    def reserve(self, need: int, *, force: bool = False, what: str = "the outputs",
                override: str = "--ignore-disk-space (check_disk_space=False)") -> None:
        """Refuse (:class:`InsufficientSpaceError`) when ``need`` bytes exceed the free
        space of the output folder's file system, unless ``force``."""
        check_free_space(self.out, need, force=force, what=what, override=override)

    def commit(self) -> list[Path]:
        """Verify every staged file, then publish them (see the class); return the final
        paths.  A file that fails the check raises :class:`OutputWriteError` naming it and
        nothing is published."""
        missing = [n for n, p in self._staged.items() if not p.exists()]
        if missing:
            msg = f"outputs were staged but never written: {', '.join(missing)}"
            raise RuntimeError(msg)
        for name, p in self._staged.items():
            why = verify_output(p)
            if why:
                raise incomplete_error(self.out / name, why)
        order = [n for n in self._staged if n != self.marker]
        if self.marker is not None and self.marker in self._staged:
            order.append(self.marker)
        remove = [n for n in self.names if n not in self._staged
                  and (self.out / n).exists()]
        journal = {"pid": os.getpid(), "stage": self.stage_root.name, "marker": self.marker,
                   "publish": order, "remove": remove}
        with signals_deferred():
            _write_journal(self.out, journal)
            _publish(self.out, journal)
            (self.out / JOURNAL_NAME).unlink()
            self.committed = True
            EVENTS.append((str(self.out), "published"))
        self._drop_stage()
        return [self.out / n for n in order]

    def abort(self) -> None:
        """Delete every staged file (idempotent; nothing once committed)."""
        if self._root is not None and not self.committed:
            EVENTS.append((str(self.out), "aborted"))
            self._drop_stage()

    def _drop_stage(self) -> None:
        if self._root is not None:
            _remove(self._root)
            self._root = None

    def close(self) -> None:
        """Abort unless committed, release the folder lock and remove the folder if this
        run created it and it is still empty."""
        self.abort()
        self._drop_stage()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._created and not self.committed:
            with contextlib.suppress(OSError):
                self.out.rmdir()

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()


def _write_journal(out: Path, journal: dict[str, Any]) -> None:
    tmp = _temp_name(out / JOURNAL_NAME)
    with open(tmp, "w", encoding="utf-8") as fh:  # noqa: PTH123
        json.dump(journal, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(out / JOURNAL_NAME)


def _publish(out: Path, journal: dict[str, Any]) -> None:
    """Apply a publication journal (idempotent: also completes an interrupted one)."""
    stage = out / journal["stage"]
    aside = stage / ".replaced"
    marker = journal.get("marker")
    if marker and (stage / marker).exists():
        with contextlib.suppress(FileNotFoundError):
            (out / marker).unlink()

    def move_aside(p: Path) -> None:
        if p.exists() or p.is_symlink():
            aside.mkdir(parents=True, exist_ok=True)
            p.replace(aside / f"{p.name}-{uuid.uuid4().hex[:8]}")

    for name in journal.get("remove", []):
        move_aside(out / name)
    for name in journal["publish"]:
        src, dst = stage / name, out / name
        if not (src.exists() or src.is_symlink()):
            continue  # already published
        if src.is_dir() or dst.is_dir():
            move_aside(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        src.replace(dst)


def recover_publication(out_dir: str | os.PathLike[str]) -> bool:
    """Complete a publication interrupted by a killed process (call with the folder lock
    held); True if there was one."""
    out = Path(out_dir)
    jpath = out / JOURNAL_NAME
    if not jpath.exists():
        return False
    try:
        journal = json.loads(jpath.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        journal = None
    if journal and (out / str(journal.get("stage", "-"))).is_dir():
        _publish(out, journal)
        _remove(out / journal["stage"])
    jpath.unlink()
    return True


def _overview_factors(width: int, height: int, block: int) -> list[int]:
    """Factors 2, 4, ... until the smallest level fits in one block (as GDAL's COG driver)."""
    factors = []
    f = 2
    while max(width, height) / (f // 2) > block:
        factors.append(f)
        f *= 2
    return factors
