"""Generated code and type information stay in sync with their sources."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SORTNET = ROOT / "cpp" / "include" / "mlri" / "sortnet.hpp"
GEN = ROOT / "tools" / "gen_sortnet.py"


@pytest.mark.skipif(not GEN.exists() or not SORTNET.exists(), reason="needs the source tree")
def test_sortnet_header_is_regenerated_identically() -> None:
    out = subprocess.run([sys.executable, str(GEN)], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    assert out == SORTNET.read_text(), (
        "cpp/include/mlri/sortnet.hpp differs from tools/gen_sortnet.py's output: regenerate it "
        "with `python tools/gen_sortnet.py > cpp/include/mlri/sortnet.hpp`")


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="needs mypy")
def test_core_stub_matches_the_extension(tmp_path: Path) -> None:
    """``_core.pyi`` describes every function of the compiled module (mypy stubtest), for the
    mlri this test imports (the installed wheel, or a development tree on PYTHONPATH)."""
    import mlri

    pkg_root = str(Path(mlri.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (pkg_root, os.environ.get("PYTHONPATH", "")) if p))
    # run outside any source tree: a folder holding other modules (site-packages) would be
    # read by mypy as the user's own code
    res = subprocess.run([sys.executable, "-m", "mypy.stubtest", "mlri._core"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
                         env=env)
    assert res.returncode == 0, res.stdout + res.stderr
