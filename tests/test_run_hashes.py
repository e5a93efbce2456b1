"""Every output of ``mlri run`` on the demo site is frozen (array digests, tags, summary).

Recorded by ``tools/hash_run_outputs.py --freeze``; refactorings must keep every digest.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("rasterio")
pytest.importorskip("scipy")

TOOL = Path(__file__).resolve().parent.parent / "tools" / "hash_run_outputs.py"


def _tool():
    spec = importlib.util.spec_from_file_location("hash_run_outputs", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_run_outputs_bit_identical(tmp_path: Path) -> None:
    tool = _tool()
    want = json.loads(tool.HASHES.read_text())
    got = tool.compute(tmp_path)
    assert set(got) == set(want)
    for case in want:
        assert got[case] == want[case], case
