"""One run folder: ``mlri run`` and the xarray/Dask writer give the same files from one input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("rasterio")
mx = pytest.importorskip("mlri.xarray")

import rasterio

from mlri import products
from mlri.demo import synthesize, write_inputs
from mlri.pipeline import run

pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    write_inputs(synthesize(seed=11, shape=(40, 52)), d)
    return d


def _raster(path: Path) -> dict:
    with rasterio.open(path) as ds:
        return {"count": ds.count, "dtypes": ds.dtypes, "nodata": repr(ds.nodata),
                "descriptions": ds.descriptions, "units": ds.units, "tags": ds.tags(),
                "band_tags": [ds.tags(b) for b in range(1, ds.count + 1)],
                "colormap": ds.colormap(1) if path.name == "classes.tif" else None,
                "crs": ds.crs, "transform": ds.transform, "data": ds.read()}


def _compare(a: Path, b: Path) -> None:
    names_a = {p.name for p in a.iterdir()} - {"manifest.json"}
    names_b = {p.name for p in b.iterdir()} - {"manifest.json"}
    assert names_a == names_b
    for name in sorted(names_a):
        if name.endswith(".tif"):
            ra, rb = _raster(a / name), _raster(b / name)
            da_, db_ = ra.pop("data"), rb.pop("data")
            assert ra == rb, name
            assert da_.dtype == db_.dtype and da_.tobytes() == db_.tobytes(), name
    assert (a / "classes.tif.aux.xml").read_text() == (b / "classes.tif.aux.xml").read_text()
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    # the xarray writer never sees the inputs: their valid counts are unknown (None) there,
    # and the sensor-step diagnostic (on LST and EVI) is mlri run's only
    sa.pop("sensor_step", None)
    for y, v in sb["valid_pixels_per_year"].items():
        assert v["LST"] is None and v["EVI"] is None
        v["LST"], v["EVI"] = (sa["valid_pixels_per_year"][y][k] for k in ("LST", "EVI"))
    assert sa == sb


@pytest.mark.parametrize("opts", [{}, {"significance": "permutation", "permutations": 19,
                                       "seed": 4, "hurst_series": "level"},
                                  {"significance": "sieve", "permutations": 19, "seed": 2,
                                   "persistence": (0.3, 0.4)},
                                  {"significance": "sieve", "permutations": 19, "seed": 2,
                                   "persistence": "regional"},
                                  {"significance": "hamed-rao"},
                                  {"onset": True, "sen_alpha": 0.1}],
                         ids=["paper", "permutation", "sieve", "sieve-regional", "hamed-rao",
                              "onset"])
def test_pipeline_and_xarray_write_the_same_run_folder(inputs, tmp_path, opts) -> None:
    a = tmp_path / "run"
    run(inputs, inputs, a, quiet=True, cog=False, checksum=False, tile=16, **opts)
    lst = mx.open_stack(sorted(inputs.glob("LST_*.tif")), chunks=(16, 20))
    evi = mx.open_stack(sorted(inputs.glob("EVI_*.tif")), chunks=(16, 20))
    ds = mx.run_stack(lst, evi, **opts)
    b = tmp_path / "xr"
    paths = mx.to_geotiff(ds, b, cog=False)
    assert set(paths) >= {r.name for r in products.raster_files("significance" in opts,
                                                                "onset" in opts)}
    _compare(a, b)


def test_schema_matches_what_is_written(inputs, tmp_path) -> None:
    r = run(inputs, inputs, tmp_path / "r", quiet=True, cog=False, checksum=False)
    for spec in products.raster_files(False):
        with rasterio.open(r.files[spec.name]) as ds:
            assert ds.dtypes[0] == spec.dtype
            assert repr(ds.nodata) == repr(float(spec.nodata))
            if spec.bands is not None:
                assert ds.descriptions == tuple(b.name for b in spec.bands)
    assert set(products.OUTPUT_NAMES) == {p.name for p in (tmp_path / "r").iterdir()}
    summary = json.loads(r.files["summary.json"].read_text())
    assert summary["significance"]["test"] == "paper"
