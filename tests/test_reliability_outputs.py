"""Reliability of the outputs: verified publication (full disk), the per-folder lock, the
free-space check, SIGTERM, interrupted publications, and runs that classify nothing."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

import mlri
import mlri._outputs as outs
import mlri._manifest as manifest
import mlri._outputs_guard as guard
from mlri._outputs import (
    FolderLock,
    InsufficientSpaceError,
    OutputInUseError,
    OutputSet,
    OutputWriteError,
    atomic_raster,
    check_output_dir,
    raster_profile,
    verify_output,
    verify_raster,
    write_json,
)
from mlri.demo import synthesize, write_inputs
from mlri.pipeline import run

SRC = str(Path(mlri.__file__).resolve().parent.parent)
RESULT_FILES = {"mlri.tif", "trend.tif", "classes.tif", "flags.tif", "summary.json",
                "manifest.json", "classes.tif.aux.xml", "classes.png"}


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("rel") / "in"
    write_inputs(synthesize(seed=3, shape=(40, 48)), d, blocksize=16)
    return d


# -- subprocess helpers ---------------------------------------------------------------------
_PAUSE = """
import os, pathlib, time
def pause():
    pathlib.Path(os.environ["MLRI_TEST_READY"]).touch()
    time.sleep(60)
"""


def start_cli(args, tmp_path, patch="", name="ready"):
    """``mlri ARGS`` in a new interpreter, after running ``patch`` (test hooks that call
    ``pause()`` to announce a controlled point and wait there)."""
    ready = tmp_path / f".{name}"
    code = (_PAUSE + textwrap.dedent(patch)
            + "\nimport sys\nfrom mlri.cli import main\nmain(args=sys.argv[1:])\n")
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1",
           "MLRI_TEST_READY": str(ready)}
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return proc, ready


def invoke(*args):
    """``mlri ARGS`` in this process: (exit code, stdout + stderr)."""
    from click.testing import CliRunner

    from mlri.cli import main

    res = CliRunner().invoke(main, [str(a) for a in args])
    return res.exit_code, res.output


def wait_for(path: Path, proc, timeout=60.0):
    t_end = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"process ended before the controlled point: {err}")
        if time.time() > t_end:
            proc.kill()
            pytest.fail("controlled point not reached")
        time.sleep(0.02)


# -- 1. verification before publication -----------------------------------------------------
def _cog(path, shape=(300, 260), count=2, block=64):
    prof = raster_profile(crs="EPSG:32650", transform=rasterio.transform.from_origin(0, 0, 30, 30),
                          width=shape[1], height=shape[0], count=count, dtype="float32",
                          nodata=float("nan"), blocksize=block)
    data = np.random.default_rng(0).random((count, *shape), dtype=np.float32)
    data[:, :50, :50] = np.nan
    with atomic_raster(path, prof) as ds:
        ds.write(data)
    return prof


def test_tiff_check_catches_every_truncation(tmp_path):
    p = tmp_path / "a.tif"
    prof = _cog(p)
    assert verify_raster(p, width=260, height=300, count=2, dtype="float32") is None
    assert verify_raster(p, count=3) == "count 2 instead of 3"
    raw = p.read_bytes()
    # cut anywhere from the first directory to the last byte: always detected
    for cut in (len(raw) - 1, len(raw) - 4, len(raw) - 5000, len(raw) // 2, 4000, 600):
        q = tmp_path / f"cut{cut}.tif"
        q.write_bytes(raw[:cut])
        why = verify_raster(q, width=prof["width"], height=prof["height"])
        assert why is not None, cut
    assert guard.tiff_problem(p) is None
    # a block whose byte count is zero (never written) is also detected
    with rasterio.open(p) as ds:
        size = int(ds.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    table = raw.find(np.array([size], dtype="<u4").tobytes())  # first entry of TileByteCounts
    assert table > 0
    q = tmp_path / "zero.tif"
    q.write_bytes(raw[:table] + b"\0\0\0\0" + raw[table + 4:])
    assert "never written" in guard.tiff_problem(q)


def test_truncated_cog_is_never_published(tmp_path, small_inputs, monkeypatch):
    """GDAL's COG pass ends 'successfully' but the file is cut (what a full disk did):
    the run fails naming the file, publishes nothing, and earlier results stay intact."""
    import rasterio.shutil as rshutil

    run(small_inputs, small_inputs, tmp_path / "o", quiet=True, checksum=False)
    old = (tmp_path / "o" / "manifest.json").read_bytes()
    real_copy = rshutil.copy

    def copy_then_truncate(src, dst, **kw):
        real_copy(src, dst, **kw)
        if Path(dst).name.startswith(".mlri.tif"):
            with open(dst, "r+b") as fh:  # noqa: PTH123
                fh.truncate(Path(dst).stat().st_size - 3000)

    monkeypatch.setattr(rshutil, "copy", copy_then_truncate)
    with pytest.raises(OutputWriteError) as ei:
        run(small_inputs, small_inputs, tmp_path / "o", quiet=True, checksum=False,
            overwrite=True, min_valid=12)
    msg = str(ei.value)
    assert str(tmp_path / "o" / "mlri.tif") in msg and "nothing was published" in msg
    assert "truncated" in msg or "beyond the end" in msg
    assert set(listing(tmp_path / "o")) == RESULT_FILES  # no staged, lock or journal file
    assert (tmp_path / "o" / "manifest.json").read_bytes() == old
    with pytest.raises(OutputWriteError):
        run(small_inputs, small_inputs, tmp_path / "new", quiet=True, checksum=False)
    assert not (tmp_path / "new").exists()


def test_commit_rechecks_every_staged_file(tmp_path):
    with pytest.raises(OutputWriteError, match=r"b\.json.*not valid JSON"), \
            OutputSet(tmp_path / "o", ["a.json", "b.json"]) as oset:
        write_json(oset.stage("a.json"), {"x": 1})
        oset.stage("b.json").write_text("{", encoding="utf-8")
        write_json(oset.stage("manifest.json"), {})
        oset.commit()
    assert not (tmp_path / "o").exists()


def test_enospc_in_a_python_writer_names_the_file(tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", full)
    with pytest.raises(OutputWriteError, match=r"No space left on device while writing .*s\.json: "
                       r"[\d,.]+ [MG]B free on"):
        write_json(tmp_path / "s.json", {"a": 1})
    assert listing(tmp_path) == []


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_cli_run(tmp_path):
    """A real small file system: refused up front by the space check; with
    --ignore-disk-space the run hits ENOSPC and ends with one Error line, exit 1 and
    nothing published."""
    inp = tmp_path / "in"
    write_inputs(synthesize(seed=5, shape=(200, 240)), inp)
    with tmpfs(tmp_path / "small", "3m") as mnt:
        out = mnt / "o"
        base = ["run", "--lst", inp, "--evi", inp, "--out", out, "--quiet", "--threads", "1"]
        code1, err1 = invoke(*base)
        assert code1 == 1, err1
        assert err1.startswith("Error: not enough free disk space") and "--ignore-disk-space" in err1
        assert "Traceback" not in err1 and not out.exists()
        code2, err2 = invoke(*base, "--ignore-disk-space")
        assert code2 == 1, err2
        lines = [ln for ln in err2.splitlines() if ln.startswith("Error:")]
        assert len(lines) == 1, err2
        assert "No space left on device while writing" in lines[0] and str(out) in lines[0]
        assert "Traceback" not in err2
        assert not out.exists() or listing(out) == []
        assert listing(mnt) in ([], ["o"])


# -- 3. one writer per output folder --------------------------------------------------------
def test_folder_lock_refuses_a_second_writer_and_is_stale_safe(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    code = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from mlri._outputs import FolderLock
        lock = FolderLock({str(out)!r}).acquire()
        Path({str(out)!r}, f".x.tif.partial-{{os.getpid()}}-abcd1234").write_text("busy")
        print("locked", flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": SRC})
    try:
        assert holder.stdout.readline().strip() == "locked"
        partial = out / f".x.tif.partial-{holder.pid}-abcd1234"
        t0 = time.perf_counter()
        with pytest.raises(OutputInUseError, match=rf"in use by PID {holder.pid} "):
            OutputSet(out, ["a.json"])
        with pytest.raises(OutputInUseError):
            check_output_dir(out, ["a.json"])
        assert time.perf_counter() - t0 < 1.0
        assert partial.exists()  # the holder's temporary file was not touched
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # the holder died without releasing: the lock is gone with it, its leftovers are removed
    with OutputSet(out, ["a.json"]) as oset:
        write_json(oset.stage("a.json"), {"ok": 1})
        write_json(oset.stage("manifest.json"), {})
        oset.commit()
    assert listing(out) == ["a.json", "manifest.json"]


def test_lock_is_reentrant_in_one_process(tmp_path):
    with FolderLock(tmp_path) as a, FolderLock(tmp_path):
        assert guard.held_by_me(tmp_path)
        assert (tmp_path / ".mlri.lock").exists()
        del a
    assert not guard.held_by_me(tmp_path)
    assert listing(tmp_path) == []


def test_two_cli_runs_into_one_folder(tmp_path, small_inputs):
    out = tmp_path / "o"
    patch = """
        import mlri.pipeline as pl
        orig, n = pl.compute_tile, [0]
        def slow(*a, **k):
            n[0] += 1
            if n[0] == 2:
                import pathlib, os
                pathlib.Path(os.environ["MLRI_TEST_READY"]).touch()
                time.sleep(1.5)
            return orig(*a, **k)
        pl.compute_tile = slow
    """
    args = ["run", "--lst", small_inputs, "--evi", small_inputs, "--out", out, "--tile", "16",
            "--quiet", "--no-checksum"]
    first, ready = start_cli(args, tmp_path, patch)
    wait_for(ready, first)
    t0 = time.perf_counter()
    code2, err2 = invoke(*args)  # the second run: this process
    assert code2 == 1
    assert err2.startswith(f"Error: output folder {out} is in use by PID {first.pid} "), err2
    assert time.perf_counter() - t0 < 2.0
    _, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert set(listing(out)) == RESULT_FILES
    for n in ("mlri.tif", "trend.tif", "classes.tif", "flags.tif"):
        assert verify_raster(out / n) is None


# -- 5. free space before writing -----------------------------------------------------------
def test_huge_sparse_input_is_refused_at_once(tmp_path):
    """100,000 x 100,000 px inputs (sparse files, a few MB): refused before any write."""
    d = tmp_path / "big"
    d.mkdir()
    for var in ("LST", "EVI"):
        for y in range(2000, 2012):
            with rasterio.open(d / f"{var}_{y}.tif", "w", driver="GTiff", width=100_000,
                               height=100_000, count=1, dtype="float32", crs="EPSG:32650",
                               transform=rasterio.transform.from_origin(5e5, 4e6, 30, 30),
                               tiled=True, blockxsize=512, blockysize=512, compress="deflate",
                               SPARSE_OK="TRUE", nodata=float("nan"), bigtiff="YES"):
                pass
    need = guard.output_bytes([(100_000, 100_000, n, dt) for n, dt in
                               ((1, "uint8"), (1, "uint8"), (9, "float32"), (12, "float32"))])
    if guard.disk_free(tmp_path) >= need:
        pytest.skip("this disk could hold the outputs")
    t0 = time.perf_counter()
    with pytest.raises(InsufficientSpaceError) as ei:
        run(d, d, tmp_path / "o", quiet=True, checksum=False)
    elapsed = time.perf_counter() - t0
    msg = str(ei.value)
    assert "100000 x 100000 px" in msg and "GB needed" in msg and "free on" in msg
    assert "check_disk_space=False" in msg and "--ignore-disk-space" in msg
    assert not (tmp_path / "o").exists()
    assert elapsed < 5.0, elapsed  # typically 0.2-0.4 s, spent opening the 24 inputs


def test_space_check_override(tmp_path, small_inputs, monkeypatch):
    monkeypatch.setattr(guard, "disk_free", lambda p: 100_000)
    with pytest.raises(InsufficientSpaceError, match=r"about \d+ MB needed .* 0 MB free"):
        run(small_inputs, small_inputs, tmp_path / "o", quiet=True, checksum=False)
    assert not (tmp_path / "o").exists()
    res = run(small_inputs, small_inputs, tmp_path / "o", quiet=True, checksum=False,
              check_disk_space=False)
    assert set(listing(res.out_dir)) == RESULT_FILES


def test_output_bytes_estimate():
    # whole tiles: 100 x 50 px in 64-px tiles is stored as 128 x 64
    assert guard.raster_bytes(100, 50, 2, "float32", overviews=False, block=64) == \
        128 * 64 * 8
    # + overview levels until one block holds the image: 50 x 25 -> one 64 x 64 tile
    assert guard.raster_bytes(100, 50, 2, "float32", block=64) == 128 * 64 * 8 + 64 * 64 * 8
    assert guard.raster_bytes(1024, 512, 1, "uint8") == 1024 * 512 + 512 * 512
    r = [(64, 64, 1, "uint8"), (64, 64, 4, "float32")]
    one, four = 64 * 64, 64 * 64 * 16
    assert guard.output_bytes(r, overviews=False, block=64) == one + four + four
    assert guard.output_bytes(r, cog=False, overviews=False, block=64) == one + four


# -- 8. SIGTERM and interrupted publications -------------------------------------------------
def test_sigterm_during_run_cleans_up(tmp_path, small_inputs):
    out = tmp_path / "o"
    patch = """
        import mlri.pipeline as pl
        orig, n = pl.compute_tile, [0]
        def slow(*a, **k):
            n[0] += 1
            if n[0] == 3:
                pause()
            return orig(*a, **k)
        pl.compute_tile = slow
    """
    proc, ready = start_cli(["run", "--lst", small_inputs, "--evi", small_inputs, "--out",
                             out, "--tile", "16", "--quiet"], tmp_path, patch)
    wait_for(ready, proc)
    assert any(n.startswith(".mlri-stage") for n in listing(out))  # staged files exist
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith(
        f"Error: interrupted by SIGTERM; nothing new was published to {out}")
    assert "Traceback" not in err
    assert not out.exists()  # the folder this run created is gone


@pytest.fixture(scope="module")
def sites_project(tmp_path_factory, demo_run):
    # a real run folder (the session's demo run) and two mine polygons on it
    pytest.importorskip("pyogrio")
    pytest.importorskip("shapely")
    from mlri.sites._synthetic import pixel_box, write_polygons

    d = tmp_path_factory.mktemp("sitesproj")
    (d / "run").symlink_to(demo_run["dir"], target_is_directory=True)
    T = demo_run["transform"]
    geoms = [pixel_box(T, 2, 20, 3, 25), pixel_box(T, 20, 38, 25, 48)]
    write_polygons(d / "mines.gpkg", geoms, crs=demo_run["crs"], fields={"code": ["A", "B"]})
    return d


def test_interrupted_sites_leaves_nothing_and_needs_no_overwrite(tmp_path, sites_project):
    out = tmp_path / "sites"
    args = ["sites", "--run", sites_project / "run", "--mines", sites_project / "mines.gpkg",
            "--out", out, "--id-col", "code", "--no-cluster", "--max-maps", "1",
            "--no-progress"]
    patch = """
        import mlri.sites.workflow as wf
        orig = wf.write_figures
        def slow(*a, **k):
            res = orig(*a, **k)
            pause()
            return res
        wf.write_figures = slow
    """
    proc, ready = start_cli(args, tmp_path, patch)
    wait_for(ready, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Error: interrupted by SIGTERM; nothing new was published" in err
    assert not out.exists()
    code2, err2 = invoke(*args)
    assert code2 == 0, err2
    assert {"sites.csv", "manifest.json", "figures", "groups.json"} <= set(listing(out))
    man = json.loads((out / "manifest.json").read_text())
    assert all((out / f).is_file() for f in man["outputs"])


def test_sigterm_during_publication_of_an_overwrite(tmp_path, small_inputs):
    """SIGTERM while the new set is being renamed over the old one: the renames finish
    (signals are held back for them), the folder holds exactly the new run."""
    out = tmp_path / "o"
    run(small_inputs, small_inputs, out, quiet=True, checksum=False)
    patch = """
        import mlri._outputs as o
        orig = o._publish
        def slow(*a, **k):
            pause_at = __import__("pathlib").Path(os.environ["MLRI_TEST_READY"])
            pause_at.touch()
            time.sleep(1.5)
            return orig(*a, **k)
        o._publish = slow
    """
    proc, ready = start_cli(["run", "--lst", small_inputs, "--evi", small_inputs, "--out",
                             out, "--overwrite", "--min-valid", "12", "--quiet",
                             "--no-checksum"], tmp_path, patch)
    wait_for(ready, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert f"complete results were published to {out}" in err
    assert set(listing(out)) == RESULT_FILES
    man = json.loads((out / "manifest.json").read_text())
    summ = json.loads((out / "summary.json").read_text())
    assert man["parameters"]["min_valid"] == 12 and summ["min_valid"] == 12
    with rasterio.open(out / "classes.tif") as ds:
        assert ds.tags()["MIN_VALID"] == "12"


def test_killed_publication_is_completed_by_the_next_run(tmp_path):
    """SIGKILL (nothing can hold it back) after two of four renames: the folder shows no
    manifest, and the next writer into it completes the publication from the journal."""
    out = tmp_path / "o"
    names = ["a.json", "b.json", "c.json"]
    with OutputSet(out, names) as oset:
        for n in [*names, "manifest.json"]:
            write_json(oset.stage(n), {"run": "old"})
        oset.commit()
    code = textwrap.dedent(f"""
        import os, signal, pathlib
        import mlri._outputs as o
        names = {names!r}
        oset = o.OutputSet({str(out)!r}, names, overwrite=True)
        for n in [*names, "manifest.json"]:
            o.write_json(oset.stage(n), {{"run": "new"}})
        real, calls = pathlib.Path.replace, [0]
        def replace(self, target):
            if self.parent.name.startswith(".mlri-stage"):
                calls[0] += 1
                if calls[0] == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(self, target)
        pathlib.Path.replace = replace
        oset.commit()
    """)
    p = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": SRC},
                       check=False, capture_output=True, text=True)
    assert p.returncode == -signal.SIGKILL, p.stderr
    state = listing(out)
    assert outs.JOURNAL_NAME in state and "manifest.json" not in state
    runs = {n: json.loads((out / n).read_text())["run"] for n in names}
    assert sorted(runs.values()) == ["new", "new", "old"]  # mixed, but not marked complete
    check_output_dir(out, [*names, "manifest.json"], overwrite=True)  # next writer: recovers
    assert listing(out) == [*names, "manifest.json"]
    for n in [*names, "manifest.json"]:
        assert json.loads((out / n).read_text())["run"] == "new"


def test_overwrite_replaces_folder_outputs_and_drops_stale_ones(tmp_path):
    out = tmp_path / "o"
    with OutputSet(out, ["t.json", "figs", "extra.json"]) as oset:
        d = oset.stage_dir("figs")
        (d / "old.txt").write_bytes(b"x")
        write_json(oset.stage("t.json"), {"v": 1})
        write_json(oset.stage("extra.json"), {"v": 1})
        write_json(oset.stage("manifest.json"), {"v": 1})
        oset.commit()
    with OutputSet(out, ["t.json", "figs", "extra.json"], overwrite=True) as oset:
        d = oset.stage_dir("figs")
        (d / "new.txt").write_bytes(b"y")
        write_json(oset.stage("t.json"), {"v": 2})
        write_json(oset.stage("manifest.json"), {"v": 2})
        oset.commit()
    assert listing(out) == ["figs", "manifest.json", "t.json"]  # extra.json: not this run's
    assert listing(out / "figs") == ["new.txt"]


def test_replaces_removes_an_earlier_runs_outputs_only(tmp_path):
    """Outputs whose names vary per run (one per year): those the earlier run recorded are
    replaced like declared ones; names outside the folder are refused."""
    out = tmp_path / "o"
    out.mkdir()
    for n in ("a_2020.json", "a_2021.json", "mine.json"):
        (out / n).write_text("{}")
    with OutputSet(out, ["a_2020.json"], overwrite=True) as oset:
        oset.replaces(["a_2021.json"])
        with pytest.raises(ValueError, match="inside"):
            oset.replaces(["../elsewhere.json"])
        write_json(oset.stage("a_2020.json"), {"v": 2})
        write_json(oset.stage("manifest.json"), {"v": 2})
        oset.commit()
    assert listing(out) == ["a_2020.json", "manifest.json", "mine.json"]


# -- 10. runs that classify nothing ----------------------------------------------------------
def test_too_few_years_warns(tmp_path, small_inputs, capsys):
    res = run(small_inputs, small_inputs, tmp_path / "o", quiet=True, checksum=False,
              years="2000-2001")
    assert res.summary["pixels_classified"] == 0
    w = [x for x in res.warnings if x.startswith("no pixel was classified")]
    assert len(w) == 1 and "2 year(s)" in w[0] and "min_valid=10" in w[0]
    summ = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summ["warnings"] == res.warnings


def test_evi_never_positive_warns_in_cli(tmp_path):
    from click.testing import CliRunner

    from mlri.cli import main

    site = synthesize(seed=4, shape=(24, 24))
    site.evi[:] = -np.abs(site.evi) - 0.01
    write_inputs(site, tmp_path / "in")
    res = CliRunner().invoke(main, ["run", "--lst", str(tmp_path / "in"), "--evi",
                                    str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                                    "--no-checksum"])
    assert res.exit_code == 0, res.output
    assert "warning: no pixel was classified" in res.output
    assert "EVI <= evi_min=0.0" in res.output
    summ = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert any("EVI <= evi_min" in w for w in summ["warnings"])


def test_normal_run_has_no_such_warning(tmp_path, small_inputs):
    res = run(small_inputs, small_inputs, tmp_path / "o", quiet=True, checksum=False)
    assert res.summary["pixels_classified"] > 0
    assert not any("no pixel was classified" in w for w in res.warnings)
    assert res.summary["warnings"] == res.warnings


def test_reading_a_run_folder_completes_a_cut_publication(tmp_path, small_inputs):
    """`mlri sites` reads a run folder whose publication was cut by SIGKILL: it completes
    the publication (from the journal) before reading, so it never reads a mix."""
    pytest.importorskip("shapely")
    from mlri.sites.runfolder import open_run

    out = tmp_path / "o"
    run(small_inputs, small_inputs, out, quiet=True, checksum=False)
    stage = out / ".mlri-stage.partial-999999999-deadbeef"
    stage.mkdir()
    man = json.loads((out / "manifest.json").read_text())
    man["parameters"]["min_valid"] = 99
    (stage / "manifest.json").write_text(json.dumps(man))
    (stage / "summary.json").write_text('{"new": true}')
    (out / "manifest.json").unlink()  # the first step of a publication
    (out / outs.JOURNAL_NAME).write_text(json.dumps({
        "pid": 999999999, "stage": stage.name, "marker": "manifest.json",
        "publish": ["summary.json", "manifest.json"], "remove": []}))
    rf = open_run(out)
    assert rf.manifest["parameters"]["min_valid"] == 99
    assert json.loads((out / "summary.json").read_text()) == {"new": True}
    assert set(listing(out)) == RESULT_FILES


def test_composite_space_check_and_verified_publication(tmp_path, monkeypatch):
    import rasterio.shutil as rshutil

    import mlri.landsat as L
    from mlri.landsat.synthetic import make_archive

    a = make_archive(tmp_path / "arch", size=(30, 30), years=(2005, 2006), dates_per_season=1,
                     distractors=False, nested=False, seed=3)
    scenes = L.find_scenes(a.root)
    free = guard.disk_free
    monkeypatch.setattr(guard, "disk_free", lambda p: 1000)
    with pytest.raises(InsufficientSpaceError, match=r"2 year\(s\) of .* composites"):
        L.write_composites(scenes, a.grid, [2005, 2006], tmp_path / "c")
    assert listing(tmp_path / "c") == []
    monkeypatch.setattr(guard, "disk_free", free)
    real_copy = rshutil.copy

    def copy_then_truncate(src, dst, **kw):
        real_copy(src, dst, **kw)
        if ".NOBS_2006.tif" in Path(dst).name:
            with open(dst, "r+b") as fh:  # noqa: PTH123
                fh.truncate(Path(dst).stat().st_size // 2)

    monkeypatch.setattr(rshutil, "copy", copy_then_truncate)
    with pytest.raises(OutputWriteError, match=r"NOBS_2006\.tif.*nothing was published"):
        L.write_composites(scenes, a.grid, [2005, 2006], tmp_path / "c")
    assert listing(tmp_path / "c") == []
    monkeypatch.setattr(rshutil, "copy", real_copy)
    man = L.write_composites(scenes, a.grid, [2005, 2006], tmp_path / "c")
    assert sorted(man["years"]) == ["2005", "2006"]
    assert "manifest.json" in listing(tmp_path / "c")
    for f in man["outputs"]:
        assert verify_raster(f) is None


def test_truncated_png_is_not_published(tmp_path):
    # a quick-look PNG cut short (full disk) is caught like a truncated raster
    import io

    from matplotlib.figure import Figure

    buf = io.BytesIO()
    Figure(figsize=(2, 2)).savefig(buf, format="png")
    png = buf.getvalue()
    good, cut = tmp_path / "good.png", tmp_path / "cut.png"
    good.write_bytes(png)
    cut.write_bytes(png[: len(png) // 2])
    assert verify_output(good) is None
    assert "truncated PNG" in verify_output(cut)


def test_file_digest_streams_across_buffer_boundaries(tmp_path: Path) -> None:
    """The manifest's SHA-256 of an input, read through one reused buffer, is the digest of
    the whole file for every size around the buffer's (empty, one byte short, exact, over)."""
    import hashlib

    data = np.random.default_rng(0).bytes(1000)
    for size in (0, 1, 63, 64, 65, 128, 1000):
        p = tmp_path / f"f{size}.bin"
        p.write_bytes(data[:size])
        assert manifest.file_digest(p, chunk=64) == hashlib.sha256(data[:size]).hexdigest(), size
    assert manifest.file_digest("/vsimem/not-a-local-file.tif") == ""


def test_file_digest_stops_between_reads(tmp_path: Path) -> None:
    """With ``stop``, the digest gives up ('') at the first read after ``stop`` is set, and
    gives the whole file's digest while it is not."""
    import hashlib

    data = np.random.default_rng(1).bytes(10 * 64)
    p = tmp_path / "f.bin"
    p.write_bytes(data)

    class StopAfter:  # set after `n` checks
        def __init__(self, n: int) -> None:
            self.n, self.calls = n, 0

        def is_set(self) -> bool:
            self.calls += 1
            return self.calls > self.n

    never = StopAfter(10**9)
    assert manifest.file_digest(p, chunk=64, stop=never) == hashlib.sha256(data).hexdigest()
    early = StopAfter(3)
    assert manifest.file_digest(p, chunk=64, stop=early) == ""
    assert early.calls <= 5  # three reads of ten, then stopped
    assert manifest.file_digest(p, chunk=64, stop=StopAfter(0)) == ""


@pytest.mark.parametrize("other", ["composite", "study", "sites"])
def test_run_never_overwrites_another_commands_results(small_inputs, tmp_path, other):
    """--overwrite replaces a run's own earlier results, never another command's folder
    (its manifest is that folder's provenance, and its files would be left beside ours)."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"command": other}))
    with pytest.raises(outs.OutputExistsError, match=f"another command \\({other}"):
        run(small_inputs, small_inputs, out, overwrite=True, quiet=True, cog=False)
    assert json.loads((out / "manifest.json").read_text()) == {"command": other}
    assert listing(out) == ["manifest.json"]
