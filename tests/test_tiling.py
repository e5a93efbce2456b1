"""mlri.tiling: window planning, the overlapped engine, and tiled == whole-array results."""

from __future__ import annotations

import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from hypothesis import given, settings
from hypothesis import strategies as st

import mlri
from mlri.demo import synthesize, write_inputs
from mlri.pipeline import FLAG_NODATA, run
from mlri.tiling import plan_windows, run_tiled

# ------------------------------------------------------------------ plan_windows


def _coverage(wins, width, height):
    cov = np.zeros((height, width), dtype=np.int32)
    for w in wins:
        cov[w.row_off:w.row_off + w.height, w.col_off:w.col_off + w.width] += 1
    return cov


@given(width=st.integers(1, 700), height=st.integers(1, 700), tile=st.integers(16, 600),
       bh=st.sampled_from([16, 32, 64, 100, 128, 256, 512]),
       bw=st.sampled_from([16, 32, 64, 128, 256, 512]))
def test_plan_windows_cover_once_and_align(width, height, tile, bh, bw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        wins = plan_windows(width, height, tile, [(bh, bw)])
    assert (_coverage(wins, width, height) == 1).all()
    if rec:  # block much larger than the tile: alignment given up, windows are tiles
        assert all(w.height <= tile and w.width <= tile for w in wins)
        return
    bh, bw = min(bh, height), min(bw, width)
    for w in wins:
        # every window starts on a block boundary and spans whole blocks (except at edges)
        assert w.row_off % bh == 0 and w.col_off % bw == 0
        assert w.height % bh == 0 or w.row_off + w.height == height
        assert w.width % bw == 0 or w.col_off + w.width == width
        # memory bound: a tile, or one block when blocks are bigger; full-width strips
        # get windows of about tile * tile pixels
        assert (w.height <= max(tile, bh) and w.width <= max(tile, bw)) or (
            w.width == width and w.height * w.width <= max(tile * tile, bh * width))


def test_plan_windows_strips_and_plain():
    # full-width strips of 8 rows: full-width windows of ~tile*tile pixels
    wins = plan_windows(1000, 300, 100, [(8, 1000)])
    assert all(w.width == 1000 and w.height % 8 == 0 for w in wins[:-1])
    assert wins[0].height == 8
    assert (_coverage(wins, 1000, 300) == 1).all()
    # two inputs with different blocks: least common multiple
    wins = plan_windows(1000, 1000, 512, [(256, 256), (128, 128)])
    assert wins[0].height == 512 and wins[0].width == 512
    wins = plan_windows(100, 90, 64)
    assert [(w.height, w.width) for w in wins[:2]] == [(64, 64), (64, 36)]
    assert plan_windows(0, 5, 64) == []
    with pytest.raises(ValueError, match="tile"):
        plan_windows(5, 5, 0)


def test_plan_windows_warns_on_huge_blocks():
    with pytest.warns(RuntimeWarning, match="re-tile"):
        wins = plan_windows(4000, 4000, 64, [(4000, 2000)])
    assert wins[0].width == 64


# ------------------------------------------------------------------ run_tiled engine


class _W:
    def __init__(self, i):
        self.i, self.width, self.height = i, 1, 1


def test_run_tiled_order_overlap_and_progress():
    wins = [_W(i) for i in range(20)]
    seen, threads = [], set()

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    def read(w):
        threads.add(("r", threading.current_thread().name))
        time.sleep(0.002)
        return w.i

    def compute(w, x):
        threads.add(("c", threading.current_thread().name))
        return x * 2

    def write(w, r):
        threads.add(("w", threading.current_thread().name))
        seen.append(r)

    bar = Bar()
    run_tiled(wins, read, compute, write, progress=bar)
    assert seen == [2 * i for i in range(20)]
    assert bar.n == 20
    names = {k: v for k, v in threads}
    assert names["r"] == "mlri-reader" and names["w"] == "mlri-writer"
    assert names["c"] == threading.current_thread().name


@pytest.mark.parametrize("stage", ["read", "compute", "write"])
def test_run_tiled_errors_stop_everything(stage):
    wins = [_W(i) for i in range(50)]
    calls = {"read": 0, "compute": 0, "write": 0}

    def make(name, fn):
        def f(*a):
            calls[name] += 1
            if name == stage and calls[name] == 5:
                raise RuntimeError(f"boom in {name}")
            return fn(*a)
        return f

    before = threading.active_count()
    with pytest.raises(RuntimeError, match=f"boom in {stage}"):
        run_tiled(wins, make("read", lambda w: w.i), make("compute", lambda w, x: x),
                  make("write", lambda w, r: None))
    assert calls["write"] < 50
    assert threading.active_count() == before  # both worker threads joined


def test_run_tiled_keyboard_interrupt_joins_threads():
    wins = [_W(i) for i in range(50)]

    def compute(w, x):
        if w.i == 3:
            raise KeyboardInterrupt
        return x

    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt):
        run_tiled(wins, lambda w: w.i, compute, lambda w, r: None)
    assert threading.active_count() == before


# ------------------------------------------------------------------ tiled == whole array


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    site = synthesize(seed=7, shape=(150, 130))
    folder = tmp_path_factory.mktemp("inputs")
    write_inputs(site, folder, blocksize=16)
    return site, folder


def reference(site, **opts):
    """Whole-array API results, the pipeline's contract."""
    idx = mlri.index(site.lst, site.evi, site.years)
    m32 = idx.mlri.astype(np.float32)
    tr = mlri.trend(m32, site.years)
    cls, flg = mlri.classify(tr, dropped=idx.dropped)
    flg = flg.copy()
    flg[(tr.n_valid == 0) & (idx.dropped == 0)] = FLAG_NODATA
    ci = mlri.sen_interval(m32, site.years)
    bands = [tr.n_valid, tr.s, tr.var_s, tr.z, tr.p, tr.slope, tr.intercept, tr.hurst,
             idx.dropped, ci.low_slope, ci.high_slope]
    trend = np.stack([np.asarray(b, dtype=np.float32) for b in bands])
    return {"mlri.tif": m32, "trend.tif": trend, "classes.tif": cls[None], "flags.tif": flg[None]}


def assert_bit_identical(a, b, name):
    assert a.dtype == b.dtype and a.shape == b.shape, name
    if a.dtype.kind == "f":
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        assert (nan_a == nan_b).all(), f"{name}: NaN masks differ"
        va = a.view(np.uint32 if a.itemsize == 4 else np.uint64)
        vb = b.view(np.uint32 if b.itemsize == 4 else np.uint64)
        assert (va[~nan_a] == vb[~nan_b]).all(), f"{name}: values differ"
    else:
        np.testing.assert_array_equal(a, b, err_msg=name)


def read_outputs(folder):
    out = {}
    for name in ("mlri.tif", "trend.tif", "classes.tif", "flags.tif"):
        with rasterio.open(Path(folder) / name) as ds:
            out[name] = ds.read()
    return out


@pytest.fixture(scope="module")
def small_ref(small_site):
    return reference(small_site[0])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tile", [64, 100, 512])
def test_tiled_equals_whole_array(small_site, small_ref, tmp_path, tile, threads):
    site, folder = small_site
    res = run(folder, folder, tmp_path / "out", tile=tile, threads=threads, quiet=True,
              checksum=False, overviews=False)
    got = read_outputs(tmp_path / "out")
    for name, ref in small_ref.items():
        assert_bit_identical(got[name], ref, f"{name} tile={tile} threads={threads}")
    # the summary's valid pixels per year, summed over the tiles
    want = {str(y): {"LST": int(np.isfinite(site.lst[i]).sum()),
                     "EVI": int(np.isfinite(site.evi[i]).sum()),
                     "MLRI": int(np.isfinite(small_ref["mlri.tif"][i]).sum())}
            for i, y in enumerate(site.years)}
    assert res.summary["valid_pixels_per_year"] == want
    assert res.manifest["tiling"]["windows"] == len(
        plan_windows(130, 150, tile, [(16, 16)]))


@settings(max_examples=6)
@given(th=st.integers(7, 160), tw=st.integers(7, 160), threads=st.sampled_from([1, 2]))
def test_tiled_equals_whole_array_any_window_shape(small_site, small_ref, th, tw, threads):
    from rasterio.windows import Window

    _, folder = small_site
    h, w = 150, 130
    wins = [Window(c, r, min(tw, w - c), min(th, h - r))
            for r in range(0, h, th) for c in range(0, w, tw)]
    with tempfile.TemporaryDirectory(prefix="mlri-tiling-") as tmp:
        run(folder, folder, Path(tmp) / "o", windows=wins, threads=threads, quiet=True,
            checksum=False, cog=False)
        got = read_outputs(Path(tmp) / "o")
    for name, ref in small_ref.items():
        assert_bit_identical(got[name], ref, f"{name} window={th}x{tw}")


# ------------------------------------------------------------------ progress bar


class _Stream:
    def __init__(self, tty):
        self.tty, self.text = tty, []

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass


@pytest.mark.parametrize(("tty", "quiet", "shown"), [(True, False, True), (True, True, False),
                                                     (False, False, False)])
def test_progress_bar_only_on_a_terminal(tty, quiet, shown):
    from mlri.tiling import progress_bar

    s = _Stream(tty)
    with progress_bar(1000, quiet=quiet, file=s) as bar:
        bar.update(1000)
    out = "".join(s.text)
    assert ("100%" in out) is shown
