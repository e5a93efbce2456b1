"""``mlri run`` / ``mlri demo`` through the real entry points (CliRunner and the console script)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from click.testing import CliRunner

from mlri.cli import main
from mlri.demo import synthesize, write_inputs

RESULT_FILES = {"mlri.tif", "trend.tif", "classes.tif", "flags.tif", "summary.json",
                "manifest.json", "classes.tif.aux.xml", "classes.png"}


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def console_script() -> str:
    cand = Path(sys.executable).parent / "mlri"
    if cand.exists():
        return str(cand)
    found = shutil.which("mlri")
    if not found:
        pytest.skip("the mlri console script is not installed")
    return found


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    site = synthesize(seed=11, shape=(40, 48))
    write_inputs(site, root / "in", name="mine3_{var}_{year}.tif")
    return root / "in", site


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_help_lists_commands():
    r = invoke("--help")
    assert r.exit_code == 0 and "run" in r.output and "demo" in r.output
    r = invoke("run", "--help")
    assert r.exit_code == 0
    for opt in ("--lst", "--evi", "--out", "--years", "--lst-unit", "--tile", "--threads",
                "--overwrite", "--quiet", "--z-crit", "--alpha", "--min-valid",
                "--hurst-method", "--hurst-series", "--evi-min", "--evi-policy",
                "--zero-slope-direction", "--no-cog"):
        assert opt in r.output, opt


def test_run_folder(inputs, tmp_path):
    folder, _ = inputs
    r = invoke("run", "--lst", folder, "--evi", folder, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    assert "SCI" in r.output and "classified:" in r.output
    assert set(listing(tmp_path / "o")) == RESULT_FILES


def test_run_many_paths_after_one_flag(inputs, tmp_path):
    """What a shell passes for ``--lst in/*_LST_*.tif --evi in/*_EVI_*.tif``."""
    folder, _ = inputs
    lst = sorted(str(p) for p in folder.glob("*_LST_*.tif"))
    evi = sorted(str(p) for p in folder.glob("*_EVI_*.tif"))
    r = invoke("run", "--lst", *lst, "--evi", *evi, "--out", tmp_path / "o", "-q",
               "--years", "2000-2011,2013-2016", "--alpha", "0.05", "--hurst-series", "level",
               "--min-valid", "8", "--tile", "32", "--threads", "1", "--no-cog")
    assert r.exit_code == 0, r.output
    assert r.output == ""  # --quiet
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert man["years"] == [*range(2000, 2012), *range(2013, 2017)]
    assert man["parameters"]["alpha"] == 0.05 and man["parameters"]["tile"] == 32
    assert len(man["inputs"]) == 2 * 16
    # repeated flags and quoted globs work too
    r = invoke("run", "--lst", lst[0], "--lst", str(folder / "*_LST_20[01]*.tif"),
               "--evi", str(folder / "*_EVI_*.tif"), "--out", tmp_path / "o2", "-q",
               "--no-checksum")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(("damage", "expect"), [
    ("crs", "EVI_2003.tif"), ("size", "EVI_2003.tif"), ("missing", "2003"),
    ("corrupt", "EVI_2003.tif"), ("celsius", "--lst-unit C"), ("nodata", "no valid pixel"),
])
def test_bad_inputs_exit_nonzero(tmp_path, damage, expect):
    site = synthesize(seed=12, shape=(24, 30))
    if damage == "celsius":
        site.lst -= np.float32(273.15)
    if damage == "nodata":
        site.evi[:] = np.nan
    write_inputs(site, tmp_path / "in")
    bad = tmp_path / "in" / "EVI_2003.tif"
    if damage == "crs":
        with rasterio.open(bad, "r+") as ds:
            ds.crs = "EPSG:32649"
    elif damage == "size":
        with rasterio.open(bad) as ds:
            prof, data = ds.profile, ds.read()
        bad.unlink()
        prof.update(width=29)
        with rasterio.open(bad, "w", **prof) as ds:
            ds.write(data[:, :, :29])
    elif damage == "missing":
        bad.unlink()
    elif damage == "corrupt":
        bad.write_text("garbage")
    r = CliRunner().invoke(main, ["run", "--lst", str(tmp_path / "in"), "--evi",
                                  str(tmp_path / "in"), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit)  # no traceback
    assert expect in r.output, r.output
    assert "Error:" in r.output
    assert listing(tmp_path / "o") == []  # nothing half-written


def test_existing_output_refused(inputs, tmp_path):
    folder, _ = inputs
    args = ["run", "--lst", folder, "--evi", folder, "--out", tmp_path / "o", "-q",
            "--no-checksum"]
    assert invoke(*args).exit_code == 0
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code != 0 and "--overwrite" in r.output and str(tmp_path / "o") in r.output
    assert invoke(*args, "--overwrite").exit_code == 0


def test_bad_option_values(inputs, tmp_path):
    folder, _ = inputs
    r = CliRunner().invoke(main, ["run", "--lst", str(folder), "--evi", str(folder), "--out",
                                  str(tmp_path / "o"), "--alpha", "0.05", "--z-crit", "2"])
    assert r.exit_code != 0 and "--z-crit or --alpha" in r.output, r.output
    r = CliRunner().invoke(main, ["run", "--lst", str(folder), "--evi", str(folder), "--out",
                                  str(tmp_path / "o"), "--hurst-series", "nope"])
    assert r.exit_code == 2
    assert listing(tmp_path / "o") == []


def test_demo_cli_runner(tmp_path):
    r = invoke("demo", "--out", tmp_path / "d")
    assert r.exit_code == 0, r.output
    assert "dump_2010" in r.output and "SCI" in r.output
    d = tmp_path / "d"
    assert (d / "classes.png").stat().st_size > 10_000
    assert (d / "results" / "manifest.json").exists()
    assert len(list((d / "inputs").glob("LST_*.tif"))) == 19
    assert not (d / "inputs" / "LST_2012.tif").exists()
    with rasterio.open(d / "truth.tif") as ds:
        assert ds.read(1).max() == 8
    r = CliRunner().invoke(main, ["demo", "--out", str(d)])
    assert r.exit_code != 0 and "--overwrite" in r.output
    assert invoke("demo", "--out", d, "--overwrite", "-q").exit_code == 0


def test_console_script_demo_and_run(tmp_path):
    """The installed ``mlri`` script, as a user runs it after ``pip install .``."""
    exe = console_script()
    t0 = time.perf_counter()
    p = subprocess.run([exe, "demo", "--out", str(tmp_path / "demo")], capture_output=True,
                       text=True, timeout=300, check=False)
    took = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr
    assert "dump_2002" in p.stdout and "classes.png" in p.stdout
    assert "\r" not in p.stderr.replace("\r\n", "\n")  # no progress bar when not a TTY
    assert took < 120  # target < 30 s on an idle machine
    inp = tmp_path / "demo" / "inputs"
    p = subprocess.run([exe, "run", "--lst", str(inp), "--evi", str(inp), "--out",
                        str(tmp_path / "demo" / "results")], capture_output=True, text=True,
                       timeout=300, check=False)
    assert p.returncode != 0 and "--overwrite" in p.stderr


def test_ctrl_c_leaves_nothing(tmp_path):
    """SIGINT during a run (real process): exit 130, no output file, no temporary file."""
    exe = console_script()
    site = synthesize(seed=13, shape=(400, 400))
    write_inputs(site, tmp_path / "in", blocksize=16)
    out = tmp_path / "o"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([exe, "run", "--lst", str(tmp_path / "in"), "--evi",
                             str(tmp_path / "in"), "--out", str(out), "--tile", "16",
                             "--threads", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and any(n.startswith(".") for n in listing(out)):
            break  # staged temporary files exist: the tile loop is running
        time.sleep(0.01)
    time.sleep(0.2)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt was delivered")
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert listing(out) == []


def test_progress_bar_on_a_terminal(inputs, tmp_path):
    """stderr on a pseudo-terminal: the tqdm bar is drawn; --quiet silences it."""
    import fcntl
    import pty
    import struct
    import termios

    exe = console_script()
    folder, _ = inputs
    outs = {}
    for quiet in (False, True):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        args = [exe, "run", "--lst", str(folder), "--evi", str(folder), "--out",
                str(tmp_path / f"o{quiet}"), "--no-checksum"] + (["--quiet"] if quiet else [])
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                b = os.read(master, 65536)
            except OSError:
                break
            if not b:
                break
            chunks.append(b)
        proc.wait(timeout=120)
        os.close(master)
        assert proc.returncode == 0
        outs[quiet] = b"".join(chunks).decode(errors="replace")
    assert "mlri run" in outs[False] and "100%" in outs[False]
    assert "writing COGs" in outs[False]
    assert "100%" not in outs[True]
