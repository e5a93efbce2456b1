"""Tiled, overlapped raster processing: window planning and a read → compute → write engine.

Memory is bounded by the tile size: at most ``prefetch`` windows are read ahead, one is being
computed and at most ``prefetch`` wait to be written, whatever the raster size.  Reading
(GDAL decompression, in a reader thread), computing (the C++ kernels, GIL released, OpenMP)
and writing (GDAL, in a writer thread) overlap.  Each GDAL dataset handle is used by exactly
one thread.
"""

from __future__ import annotations

import contextlib
import math
import queue
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from typing import Any, TypeVar

__all__ = ["iter_windows", "plan_windows", "progress_bar", "run_tiled"]

T = TypeVar("T")
R = TypeVar("R")

# An input block larger than this many tile areas cannot be aligned to (e.g. an untiled
# GeoTIFF stored as one strip): windows then ignore its layout.
_MAX_BLOCK_TILES = 16


def _step(sizes: Iterable[int], tile: int, full: int) -> int:
    sizes = sorted({int(s) for s in sizes if int(s) > 0})
    if not sizes:
        return 1
    step = 1
    for s in sizes:
        step = step * s // math.gcd(step, s)
        if step > max(tile, full):
            return max(sizes)
    return step


def plan_windows(width: int, height: int, tile: int = 512,
                 block_shapes: Sequence[tuple[int, int]] | None = None) -> list[Any]:
    """Row-major windows covering a ``height`` x ``width`` raster exactly once.

    Window sides are ``tile`` pixels, rounded down to a multiple of the inputs' internal
    block size (``block_shapes``: ``(rows, cols)`` per input; the least common multiple when
    they differ) so that every block is decompressed once.  A window is never smaller than
    one block.  Inputs stored in full-width strips get full-width windows of about
    ``tile * tile`` pixels.  Without ``block_shapes`` windows are plain ``tile`` squares.
    """
    from rasterio.windows import Window

    if width < 1 or height < 1:
        return []
    tile = int(tile)
    if tile < 1:
        msg = f"tile must be a positive number of pixels, got {tile}"
        raise ValueError(msg)
    wx = wy = tile
    if block_shapes:
        # a block larger than the raster is the raster
        blocks = [(min(int(r), height), min(int(c), width)) for r, c in block_shapes]
        huge = [b for b in blocks if b[0] * b[1] > _MAX_BLOCK_TILES * tile * tile
                and not (b[1] >= width and b[0] * width <= _MAX_BLOCK_TILES * tile * tile)]
        if huge:
            warnings.warn(
                f"an input block of {huge[0][0]}x{huge[0][1]} pixels is much larger than the "
                f"tile ({tile}): memory use grows with it; re-tile the input (gdal_translate "
                f"-co TILED=YES)", RuntimeWarning, stacklevel=2)
            blocks = [b for b in blocks if b not in huge]
        if blocks:
            sy = _step((b[0] for b in blocks), tile, height)
            sx = _step((b[1] for b in blocks), tile, width)
            if sx >= width:  # strips (or a raster narrower than its blocks)
                wx = width
                wy = max(sy, (max(1, tile * tile // max(width, 1)) // sy) * sy)
            else:
                wx = max(sx, (tile // sx) * sx)
                wy = max(sy, (tile // sy) * sy)
    wx = min(wx, width)
    wy = min(wy, height)
    return [Window(c, r, min(wx, width - c), min(wy, height - r))
            for r in range(0, height, wy) for c in range(0, width, wx)]


def iter_windows(width: int, height: int, tile: int = 512) -> Iterator[Any]:
    """Plain ``tile`` x ``tile`` windows in row-major order (no block alignment)."""
    yield from plan_windows(width, height, tile)


def progress_bar(total: int, *, quiet: bool = False, desc: str = "mlri", unit: str = "px",
                 file: Any = None) -> Any:
    """A tqdm bar on stderr; silent with ``quiet`` or when stderr is not a terminal."""
    from tqdm.auto import tqdm

    stream = file if file is not None else sys.stderr
    disable = quiet or not (hasattr(stream, "isatty") and stream.isatty())
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=stream,
                disable=disable, dynamic_ncols=True, smoothing=0.05, leave=True)


class _Stop(Exception):
    pass


_DONE = object()


def run_tiled(windows: Sequence[Any], read: Callable[[Any], T],
              compute: Callable[[Any, T], R], write: Callable[[Any, R], None], *,
              prefetch: int = 2, progress: Any = None,
              reader_context: Callable[[], Any] | None = None,
              writer_context: Callable[[], Any] | None = None,
              in_flight: int = 1) -> None:
    """Run ``write(w, compute(w, read(w)))`` for every window, overlapped.

    ``read`` runs in a reader thread (inside ``reader_context()`` when given, e.g. to open
    datasets in that thread), ``compute`` in the calling thread, ``write`` in a writer
    thread; windows are written in order.  ``progress.update(pixels)`` is called after each
    write.  The first exception of any stage (or a KeyboardInterrupt in the calling thread)
    stops the other stages, which are joined before it is re-raised, so no thread still
    touches a dataset when the caller cleans up.

    With ``in_flight > 1``, ``compute`` must return a future (an object with ``result()`` and
    ``cancel()``, e.g. a ``dask.distributed`` Future): up to ``in_flight`` windows are then
    computed concurrently elsewhere (a Dask cluster) while results are still written in order.
    """
    from collections import deque

    pending: deque[tuple[Any, Any]] = deque()
    prefetch = max(1, int(prefetch))
    q_in: queue.Queue[Any] = queue.Queue(maxsize=prefetch)
    q_out: queue.Queue[Any] = queue.Queue(maxsize=prefetch)
    stop = threading.Event()
    errors: list[BaseException] = []

    def _put(q: queue.Queue[Any], item: Any) -> None:
        while True:
            if stop.is_set():
                raise _Stop
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _get(q: queue.Queue[Any]) -> Any:
        while True:
            if stop.is_set():
                raise _Stop
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue

    def reader() -> None:
        try:
            with (reader_context() if reader_context else nullcontext()):
                for w in windows:
                    _put(q_in, (w, read(w)))
            _put(q_in, _DONE)
        except _Stop:
            pass
        except BaseException as err:  # noqa: BLE001 - handed to the main thread
            errors.append(err)
            stop.set()

    def writer() -> None:
        try:
            with (writer_context() if writer_context else nullcontext()):
                while True:
                    item = _get(q_out)
                    if item is _DONE:
                        return
                    w, res = item
                    write(w, res)
                    if progress is not None:
                        progress.update(int(w.width) * int(w.height))
        except _Stop:
            pass
        except BaseException as err:  # noqa: BLE001
            errors.append(err)
            stop.set()

    th_r = threading.Thread(target=reader, name="mlri-reader", daemon=True)
    th_w = threading.Thread(target=writer, name="mlri-writer", daemon=True)
    th_r.start()
    th_w.start()
    main_error: BaseException | None = None
    try:
        while True:
            item = _get(q_in)
            if item is _DONE:
                break
            w, data = item
            res = compute(w, data)
            del data
            if in_flight > 1:
                pending.append((w, res))
                if len(pending) >= in_flight:
                    w0, fut = pending.popleft()
                    _put(q_out, (w0, fut.result()))
            else:
                _put(q_out, (w, res))
        while pending:
            w0, fut = pending.popleft()
            _put(q_out, (w0, fut.result()))
        _put(q_out, _DONE)
        while th_w.is_alive():
            th_w.join(timeout=0.1)
    except _Stop:
        pass
    except BaseException as err:  # noqa: BLE001 - re-raised below after the joins
        main_error = err
        stop.set()
    finally:
        if main_error is not None or errors:
            stop.set()
        for _, fut in pending:
            with contextlib.suppress(Exception):
                fut.cancel()
        for th in (th_r, th_w):
            while th.is_alive():
                try:
                    th.join(timeout=0.1)
                except KeyboardInterrupt:  # a second Ctrl-C: keep waiting for a clean stop
                    stop.set()
    if main_error is not None:
        raise main_error
    if errors:
        raise errors[0]
