"""Shared fixtures: seeded RNG, reference vectors, real-data location, hypothesis profile."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

try:
    from hypothesis import HealthCheck, settings

    # Default ("mlri", also used by CI): deterministic.  Each property test draws the same
    # examples on every run (derandomize) and no example database is read or written, so a
    # run never depends on what an earlier run found.  No per-example deadline: the machine
    # may be busy.  "explore" draws fresh random examples and keeps a database, for hunting
    # bugs locally: HYPOTHESIS_PROFILE=explore python -m pytest tests/test_core_properties.py
    _quiet = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile("mlri", deadline=None, max_examples=60, derandomize=True,
                              database=None, print_blob=True, suppress_health_check=_quiet)
    settings.register_profile("ci", parent=settings.get_profile("mlri"))
    settings.register_profile("explore", deadline=None, max_examples=100, derandomize=False,
                              print_blob=True, suppress_health_check=_quiet)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "mlri"))
except ImportError:  # pragma: no cover
    pass

TESTS = Path(__file__).resolve().parent
REF_VECTORS = TESTS / "data" / "ref_vectors.json"


def shared_data_dir() -> Path | None:
    """``$MLRI_TEST_DATA`` or ``<repo>/../shared/data``; None when absent."""
    env = os.environ.get("MLRI_TEST_DATA")
    cands = [Path(env)] if env else []
    cands.append(TESTS.parent.parent / "shared" / "data")
    for c in cands:
        if c.is_dir():
            return c
    return None


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.fixture(scope="session")
def ref_vectors() -> list[dict]:
    with REF_VECTORS.open() as fh:
        return json.load(fh)["series"]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("real test data not found: set MLRI_TEST_DATA or put shared/ beside the repo")
    return d


def ref_values(entry: dict) -> np.ndarray:
    """Decode a reference series (null → NaN, 'inf' → inf)."""
    out = []
    for v in entry["values"]:
        if v is None:
            out.append(np.nan)
        elif isinstance(v, str):
            out.append(float(v))
        else:
            out.append(float(v))
    return np.asarray(out, dtype=np.float64)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> dict:
    """A real ``mlri run`` on the synthetic demo site (120 x 150 pixels of 30 m, UTM 50N,
    2000-2019 without 2012), shared by every test that needs a run folder.

    Keys: ``dir`` (the run folder, with ``onset.tif``), ``classes`` (uint8), ``mlri``
    (float32, years first), ``transform``, ``crs``, ``epsg``, ``pixel``, ``years``,
    ``inputs`` (the input folder), ``site`` (the :class:`mlri.demo.DemoSite`).
    Tests must not modify the folder.
    """
    pytest.importorskip("rasterio")
    pytest.importorskip("scipy")
    import rasterio

    from mlri.demo import synthesize, write_inputs
    from mlri.pipeline import StatsOptions, run

    root = tmp_path_factory.mktemp("demo_run")
    site = synthesize(seed=2024, shape=(120, 150))
    write_inputs(site, root / "inputs")
    res = run(root / "inputs", root / "inputs", root / "run", quiet=True, cog=False,
              checksum=False, threads=1, options=StatsOptions(onset=True))
    with rasterio.open(res.files["classes.tif"]) as ds:
        classes = ds.read(1)
        crs, transform = ds.crs, ds.transform
    with rasterio.open(res.files["mlri.tif"]) as ds:
        mlri = ds.read()
    return {"dir": root / "run", "inputs": root / "inputs", "classes": classes, "mlri": mlri,
            "transform": transform, "crs": crs, "epsg": 32650, "pixel": 30.0,
            "years": list(site.years), "site": site}
