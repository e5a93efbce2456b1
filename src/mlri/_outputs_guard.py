"""Guards of :mod:`mlri._outputs`: output verification, free-space checks, the per-folder
lock and signal handling.  Everything here is re-exported by :mod:`mlri._outputs`, the one
home of how mlri writes files; this module only keeps that one under its size budget.

* :func:`verify_output` re-opens a written file before it is published: a GeoTIFF is checked
  structurally (every image directory and every tile/strip of every band, overview and mask
  lies inside the file and was written), opened with rasterio (size, band count, data type)
  and its last block decoded; a JSON file is parsed.  This catches a file truncated by a full
  disk, which GDAL may report only as log lines.
* :func:`check_free_space` refuses a run whose estimated outputs and temporaries exceed the
  free space of the output folder's file system (:func:`raster_bytes` estimates them).
* :class:`FolderLock` is an exclusive ``flock`` on ``.mlri.lock`` inside an output folder:
  a second writer into the same folder is refused at once with the holder's PID.  The lock
  dies with its process (stale-safe) and the file is removed on release.
* :func:`install_signal_handlers` makes SIGTERM behave like Ctrl-C (a
  :class:`Terminated` exception, a subclass of ``KeyboardInterrupt``), so every clean-up
  path that handles Ctrl-C also runs on ``kill``, a batch-scheduler timeout or
  ``docker stop``; :func:`signals_deferred` holds both signals back during the few
  milliseconds of a publication (the renames).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import struct
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".mlri.lock"
#: Below this many free bytes a failed write is reported as "No space left on device".
LOW_SPACE = 8 << 20


class OutputError(OSError):
    """Base of the output errors below (an ``OSError``: every command reports it).

    ``OutputError(code, message)`` sets ``errno`` to ``code``; ``str()`` is the message.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.errno = code


class OutputWriteError(OutputError):
    """An output could not be written completely (e.g. the disk is full); nothing was
    published."""


class OutputInUseError(OutputError):
    """Another process is writing into the same output folder."""


class InsufficientSpaceError(OutputError):
    """The estimated size of a run's outputs exceeds the free disk space."""


# -- free space ------------------------------------------------------------------------------
def _existing(path: Path) -> Path:
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def disk_free(path: str | os.PathLike[str]) -> int:
    """Free bytes (for this user) on the file system holding ``path`` (or its nearest
    existing parent)."""
    try:
        return int(shutil.disk_usage(_existing(Path(path))).free)
    except OSError:
        return -1


def _mb(n: float) -> str:
    if n >= 10 << 30:
        return f"{n / 2**30:,.0f} GB"
    if n >= 1 << 30:
        return f"{n / 2**30:.1f} GB"
    return f"{n / 2**20:,.0f} MB"


def raster_bytes(width: int, height: int, count: int, dtype: str, *,
                 overviews: bool = True, block: int = 512) -> int:
    """Uncompressed size of a tiled raster: whole ``block``-sized tiles (edge tiles are
    padded), plus internal overview levels (halved until one block holds the image)."""
    item = int(count) * np.dtype(dtype).itemsize
    w, h, b = int(width), int(height), int(block)

    def padded(w: int, h: int) -> int:
        return -(-w // b) * b * (-(-h // b) * b) * item

    total = padded(w, h)
    while overviews and max(w, h) > b:
        w, h = -(-w // 2), -(-h // 2)
        total += padded(w, h)
    return total


def output_bytes(rasters: Iterable[tuple[int, int, int, str]], *, cog: bool = True,
                 overviews: bool = True, block: int = 512) -> int:
    """Peak disk use of writing ``rasters`` (``(width, height, count, dtype)`` each) with
    :func:`mlri._outputs.atomic_raster`: every raster's uncompressed intermediate (all are
    open while the tiles are computed) plus, with ``cog``, the largest COG being copied from
    its intermediate.  Compressed sizes are bounded by the uncompressed ones (noisy float
    data barely compresses), so this is an upper bound."""
    sizes = [raster_bytes(*r, overviews=overviews, block=block) for r in rasters]
    if not sizes:
        return 0
    return sum(sizes) + (max(sizes) if cog else 0)


def check_free_space(out_dir: str | os.PathLike[str], need: int, *, force: bool = False,
                     what: str = "the outputs",
                     override: str = "--ignore-disk-space (check_disk_space=False)") -> None:
    """Raise :class:`InsufficientSpaceError` when ``need`` bytes exceed the free space on
    ``out_dir``'s file system (unless ``force``).  Takes microseconds: nothing is written."""
    if force or need <= 0:
        return
    free = disk_free(out_dir)
    if 0 <= free < need:
        where = _existing(Path(out_dir))
        msg = (f"not enough free disk space for {what} in {out_dir}: about {_mb(need)} needed "
               f"(uncompressed temporaries and outputs, an upper bound), {_mb(free)} free on "
               f"{where}; free some space, choose another output folder, or pass {override} "
               f"to try anyway")
        raise InsufficientSpaceError(errno.ENOSPC, msg)


def _is_enospc(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        # GDAL logs; SQLite (a GeoPackage written by pyogrio) says "database or disk is full"
        if any(t in str(exc) for t in ("No space left on device", "disk is full")):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def is_io_error(exc: BaseException) -> bool:
    """An operating-system or GDAL (rasterio) error, as opposed to a bug or bad input."""
    return isinstance(exc, OSError) or type(exc).__module__.startswith("rasterio")


def write_failure(path: str | os.PathLike[str], exc: BaseException | None, *,
                  detail: str = "", force: bool = False,
                  heuristic: bool = True) -> OutputWriteError | None:
    """An :class:`OutputWriteError` naming ``path`` when ``exc`` (or, with ``heuristic``, a
    nearly full disk: GDAL often reports ENOSPC only in its log) points at a full disk; with
    ``force`` one in any case (``detail`` says what failed)."""
    p = Path(path)
    free = disk_free(p.parent)
    if _is_enospc(exc) or (heuristic and 0 <= free < LOW_SPACE):
        msg = (f"No space left on device while writing {p}: {_mb(max(free, 0))} free on "
               f"{_existing(p.parent)}; nothing was published. Free some space or choose "
               f"another output folder")
        return OutputWriteError(errno.ENOSPC, msg)
    if force:
        why = detail or (f"{type(exc).__name__}: {exc}" if exc is not None else "")
        msg = (f"writing {p} failed ({why}); nothing was published. Check the output "
               f"folder's file system ({_mb(max(free, 0))} free)")
        return OutputWriteError(errno.EIO, msg)
    return None


def unwritable(folder: str | os.PathLike[str], exc: OSError) -> OutputError:
    """The error for an output folder that cannot be created or written into (``exc``: a
    read-only file system, no permission, a full disk), naming the folder and the fix."""
    if isinstance(exc, OutputError):
        return exc
    full = write_failure(Path(folder) / LOCK_NAME, exc, heuristic=False)
    if full is not None:
        return full
    why = exc.strerror or str(exc)
    msg = (f"cannot write into the output folder {folder} ({why}); choose a writable output "
           f"folder (--out) or fix its permissions")
    return OutputWriteError(exc.errno or errno.EIO, msg)


def make_folder(out: Path) -> None:
    """Create the output folder ``out`` (and its parents); one that cannot be created (a
    read-only file system, no permission, a full disk) is an :class:`OutputError` naming it
    and the fix."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise
    except OSError as err:
        raise unwritable(out, err) from err


def incomplete_error(path: str | os.PathLike[str], detail: str) -> OutputWriteError:
    """The error for an output that failed its check (``detail``): ENOSPC wording when the
    disk is (nearly) full."""
    err = write_failure(path, None, detail=detail, force=True)
    assert err is not None  # force=True always gives one
    return err


# -- verification ----------------------------------------------------------------------------
_TIFF_WIDTH = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               13: 4, 16: 8, 17: 8, 18: 8}
_TIFF_INT = {3: "u2", 4: "u4", 13: "u4", 16: "u8", 18: "u8"}
_OFFSETS, _COUNTS = (324, 273), (325, 279)  # tile / strip offsets and byte counts


def tiff_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the TIFF at ``path`` is incomplete, or None: checks every image directory (full
    resolution, overviews, masks) and that each tile/strip was written inside the file.
    Reads only the directories and offset tables (kilobytes), never the pixels."""
    size = Path(path).stat().st_size
    with open(path, "rb") as f:  # noqa: PTH123
        head = f.read(16)
        if len(head) < 8 or head[:2] not in (b"II", b"MM"):
            return f"not a TIFF file ({size} bytes)"
        e = "<" if head[:2] == b"II" else ">"
        magic = struct.unpack(e + "H", head[2:4])[0]
        if magic == 42:
            big, off = False, struct.unpack(e + "I", head[4:8])[0]
        elif magic == 43 and len(head) >= 16:
            big, off = True, struct.unpack(e + "Q", head[8:16])[0]
        else:
            return "not a TIFF file (bad header)"
        cfmt, esz, pfmt, psz = ("Q", 20, "Q", 8) if big else ("H", 12, "I", 4)
        # GDAL's COG layout repeats the last 4 bytes of every block after it: they must be
        # there too (a cut of 1-4 bytes leaves the pixels readable but the file incomplete)
        f.seek(0)
        trailer = 4 if b"BLOCK_TRAILER=LAST_4_BYTES_REPEATED" in f.read(1024) else 0
        n_ifd, seen = 0, set()
        while off:
            if off in seen or n_ifd > 100_000:
                return "image directories form a loop"
            seen.add(off)
            if off + struct.calcsize(cfmt) > size:
                return (f"image directory {n_ifd} at byte {off} lies beyond the end of the "
                        f"file ({size} bytes): truncated")
            f.seek(off)
            cnt = struct.unpack(e + cfmt, f.read(struct.calcsize(cfmt)))[0]
            raw = f.read(cnt * esz + psz)
            if len(raw) < cnt * esz + psz:
                return f"image directory {n_ifd} is cut off by the end of the file: truncated"
            tags: dict[int, np.ndarray] = {}
            for i in range(cnt):
                ent = raw[i * esz:(i + 1) * esz]
                tag, typ = struct.unpack(e + "HH", ent[:4])
                if tag not in _OFFSETS + _COUNTS:
                    continue
                if typ not in _TIFF_INT:
                    return f"image directory {n_ifd}: unexpected type {typ} of tag {tag}"
                count = struct.unpack(e + ("Q" if big else "I"), ent[4:12 if big else 8])[0]
                val = ent[12:20] if big else ent[8:12]
                nbytes = count * _TIFF_WIDTH[typ]
                if nbytes <= len(val):
                    data = val[:nbytes]
                else:
                    ptr = struct.unpack(e + pfmt, val)[0]
                    if ptr + nbytes > size:
                        return (f"the block table of image directory {n_ifd} lies beyond the "
                                f"end of the file ({size} bytes): truncated")
                    f.seek(ptr)
                    data = f.read(nbytes)
                tags[tag] = np.frombuffer(data, dtype=e + _TIFF_INT[typ]).astype(np.uint64)
            offs = tags.get(_OFFSETS[0], tags.get(_OFFSETS[1]))
            cnts = tags.get(_COUNTS[0], tags.get(_COUNTS[1]))
            if offs is None or cnts is None or len(offs) != len(cnts):
                return f"image directory {n_ifd} has no complete tile/strip table"
            ends = offs + cnts + np.uint64(trailer)
            if len(ends) and int(ends.max()) > size:
                k = int(ends.argmax())
                return (f"block {k} of image directory {n_ifd} ends at byte {int(ends[k])}, "
                        f"beyond the end of the file ({size} bytes): truncated")
            missing = int(np.count_nonzero(cnts == 0))
            if missing:
                return f"{missing} block(s) of image directory {n_ifd} were never written"
            off = struct.unpack(e + pfmt, raw[cnt * esz:cnt * esz + psz])[0]
            n_ifd += 1
        if n_ifd == 0:
            return "no image directory"
    return None


_VERIFIED: dict[str, tuple[int, int, int]] = {}


def _stamp(p: Path) -> tuple[int, int, int]:
    st = p.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def mark_verified(path: str | os.PathLike[str]) -> None:
    """Record that ``path`` passed :func:`verify_raster` (a rename keeps the stamp)."""
    p = Path(path)
    _VERIFIED[os.fspath(p)] = _stamp(p)


def verify_raster(path: str | os.PathLike[str], *, width: int | None = None,
                  height: int | None = None, count: int | None = None,
                  dtype: str | None = None) -> str | None:
    """Why the raster at ``path`` is not complete, or None (see :func:`tiff_problem`): it
    must open, have the expected size, band count and dtype, and its last block (the last
    data written) must decode."""
    import rasterio
    from rasterio.windows import Window

    p = Path(path)
    if not p.is_file():
        return "the file does not exist"
    with open(p, "rb") as f:  # noqa: PTH123
        is_tiff = f.read(2) in (b"II", b"MM")
    if is_tiff:
        why = tiff_problem(p)
        if why:
            return why
    try:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(p) as ds:
            want = {"width": width, "height": height, "count": count, "dtype": dtype}
            have = {"width": ds.width, "height": ds.height, "count": ds.count,
                    "dtype": ds.dtypes[0]}
            bad = [f"{k} {have[k]} instead of {v}" for k, v in want.items()
                   if v is not None and str(have[k]) != str(v)]
            if bad:
                return "; ".join(bad)
            bh, bw = ds.block_shapes[-1]
            r0 = ((ds.height - 1) // bh) * bh
            c0 = ((ds.width - 1) // bw) * bw
            ds.read(ds.count, window=Window(c0, r0, ds.width - c0, ds.height - r0))
    except Exception as err:  # rasterio/GDAL open or decode error  # noqa: BLE001
        return f"cannot be read back: {err}"
    return None


def verify_output(path: str | os.PathLike[str]) -> str | None:
    """Why a staged output is not complete, or None: rasters via :func:`verify_raster`,
    JSON parsed, a folder checked file by file, any other file must exist."""
    p = Path(path)
    if p.is_dir():
        for q in sorted(p.rglob("*")):
            if q.is_file() and not q.name.startswith("."):
                why = verify_output(q)
                if why:
                    return f"{q.relative_to(p)}: {why}"
        return None
    if not p.is_file():
        return "the file does not exist"
    suffix = p.suffix.lower()
    if suffix in (".tif", ".tiff"):
        if _VERIFIED.get(os.fspath(p)) == _stamp(p):  # fully checked when it was written
            return tiff_problem(p)
        return verify_raster(p)
    if suffix == ".png":
        with p.open("rb") as fh:  # a complete PNG ends with its IEND chunk
            fh.seek(max(p.stat().st_size - 12, 0))
            if fh.read(12)[4:8] != b"IEND":
                return "truncated PNG (no IEND chunk)"
    if suffix == ".json":
        try:
            json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, OSError) as err:
            return f"not valid JSON: {err}"
    return None


# -- the per-folder lock ---------------------------------------------------------------------
_HELD: dict[str, list[Any]] = {}
_HELD_LOCK = threading.Lock()


class FolderLock:
    """An exclusive, re-entrant (within a process) lock on an output folder.

    ``acquire`` creates ``folder/.mlri.lock``, takes a non-blocking ``flock`` on it and
    writes the PID, command line and start time; if another process holds it,
    :class:`OutputInUseError` names that PID.  ``release`` deletes the file.  The kernel
    drops the lock when its process dies, so a crashed run never blocks the next one.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._key = os.path.realpath(self.folder)
        self._held = False

    def acquire(self) -> FolderLock:
        with _HELD_LOCK:
            if self._key in _HELD:
                _HELD[self._key][1] += 1
                self._held = True
                return self
            for _ in range(20):
                try:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                except OSError as err:  # read-only, no permission, full: say so, and the fix
                    raise unwritable(self.folder, err) from err
                try:
                    _lock_fd(fd)
                except OSError as err:
                    holder = _read_holder(fd)
                    os.close(fd)
                    if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    msg = (f"output folder {self.folder} is in use by PID {holder} (another "
                           f"mlri run is writing there); wait for it to finish or choose "
                           f"another --out")
                    raise OutputInUseError(errno.EBUSY, msg) from None
                try:  # the file may have been removed by its previous holder: retry
                    same = os.path.samestat(os.fstat(fd), self.path.stat())
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
            else:  # pragma: no cover - a pathological race
                msg = f"cannot lock output folder {self.folder}"
                raise OutputInUseError(errno.EBUSY, msg)
            cmd = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200] if sys.argv else ""
            info = f"{os.getpid()} (since {time.strftime('%Y-%m-%d %H:%M:%S')}: {cmd})\n"
            try:
                os.ftruncate(fd, 0)
                os.write(fd, info.encode("utf-8", "replace"))
            except OSError as err:  # a full disk
                os.close(fd)
                with contextlib.suppress(OSError):
                    self.path.unlink()
                raise unwritable(self.folder, err) from err
            _HELD[self._key] = [fd, 1, self.path]
            self._held = True
        return self

    def release(self) -> None:
        with _HELD_LOCK:
            if not self._held:
                return
            self._held = False
            entry = _HELD.get(self._key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _HELD[self._key]
            fd, _, path = entry
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)

    def __enter__(self) -> FolderLock:  # noqa: PYI034
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock_fd(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # pragma: no cover - Windows: a byte-range lock on the first byte
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 400).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "unknown"


def held_by_me(folder: str | os.PathLike[str]) -> bool:
    """True when this process holds the lock of ``folder``."""
    return os.path.realpath(folder) in _HELD


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- signals ---------------------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM by :func:`install_signal_handlers`."""

    signum = int(signal.SIGTERM)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated


def install_signal_handlers() -> None:
    """SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) in the main thread, so
    it unwinds through the same clean-up as Ctrl-C (for good; see :func:`sigterm_as_interrupt`
    for a scoped version)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """:func:`install_signal_handlers` for the duration of the block (the previous handler
    is restored after): used by the ``mlri`` command line."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs (a publication's renames: a few
    milliseconds), then deliver them.  No-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        pending.append(signum)

    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, hold) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if pending:
            signal.raise_signal(pending[0])
