"""``mlri run --scheduler``: the raster pipeline through a dask.distributed cluster."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("distributed")
rasterio = pytest.importorskip("rasterio")

from mlri.demo import synthesize, write_inputs  # noqa: E402
from mlri.pipeline import run  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    # distributed may warn about a port already in use / slow shutdown on a busy machine
    "ignore::UserWarning:distributed.*",
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sched")
    s = synthesize(seed=11, shape=(50, 70))
    write_inputs(s, root / "in")
    return root


def test_local_cluster_equals_direct_run(inputs, tmp_path):
    kw = dict(quiet=True, cog=False, checksum=False, tile=32)
    direct = run(inputs / "in", inputs / "in", tmp_path / "direct", **kw)
    dist = run(inputs / "in", inputs / "in", tmp_path / "dist", scheduler="local:2", **kw)
    for name in ("mlri.tif", "trend.tif", "classes.tif", "flags.tif"):
        with rasterio.open(direct.files[name]) as a, rasterio.open(dist.files[name]) as b:
            assert np.array_equal(a.read(), b.read(), equal_nan=True), name
            assert a.crs == b.crs and a.transform == b.transform
    assert direct.summary["classes"] == dist.summary["classes"]
    assert direct.summary["valid_pixels_per_year"] == dist.summary["valid_pixels_per_year"]
    assert dist.summary["valid_pixels_per_year"][str(2000)]["LST"] > 0
    man = json.loads(dist.files["manifest.json"].read_text())
    assert man["parameters"]["scheduler"] == "local:2"


def test_local_cluster_with_permutation_test(inputs, tmp_path):
    kw = dict(quiet=True, cog=False, checksum=False, tile=32, significance="permutation",
              permutations=99, seed=2)
    direct = run(inputs / "in", inputs / "in", tmp_path / "direct", **kw)
    dist = run(inputs / "in", inputs / "in", tmp_path / "dist", scheduler="local:2", **kw)
    for name in ("classes.tif", "significance.tif"):
        with rasterio.open(direct.files[name]) as a, rasterio.open(dist.files[name]) as b:
            assert np.array_equal(a.read(), b.read(), equal_nan=True), name


def test_cli_scheduler_option(inputs, tmp_path):
    from click.testing import CliRunner

    from mlri.cli import main

    res = CliRunner().invoke(main, ["run", "--lst", str(inputs / "in"), "--evi",
                                    str(inputs / "in"), "--out", str(tmp_path / "o"), "--quiet",
                                    "--no-cog", "--no-checksum", "--scheduler", "local:1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "classes.tif").exists()
