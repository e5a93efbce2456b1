"""mlri through a real dask.distributed LocalCluster (loopback only, 2 single-threaded workers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import mlri
from mlri import _cluster

xr = pytest.importorskip("xarray")
distributed = pytest.importorskip("distributed")
pytest.importorskip("rioxarray")
mx = pytest.importorskip("mlri.xarray")

pytestmark = [
    # affine >= 2.4 deprecates `Affine * Affine`, which rasterio/rioxarray still use internally.
    pytest.mark.filterwarnings(
        "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning"),
]

T, NY, NX = 19, 40, 53
YEARS = mlri.default_years(T).astype(np.int64)
CRS = "EPSG:32650"


def make_arrays(seed: int = 99) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None, None]
    slope = rng.normal(0, 0.01, (1, NY, NX))
    lst = (300 + 3 * rng.standard_normal((T, NY, NX)) - 20 * slope * t).astype("float32")
    evi = (0.3 + slope * t + 0.04 * rng.standard_normal((T, NY, NX))).astype("float32")
    lst[rng.random(lst.shape) < 0.05] = np.nan
    evi[3:7, 5, 5] = -0.2
    return lst, evi


def numpy_path(lst: np.ndarray, evi: np.ndarray) -> dict[str, np.ndarray]:
    """The chain of `mlri run` (float32 MLRI before the trend; flags 255 without data)."""
    r = mlri.index(lst, evi)
    m = r.mlri.astype(np.float32)
    t = mlri.trend(m)
    cls, flags = mlri.classify(t, dropped=r.dropped)
    flags = flags.copy()
    flags[(t.n_valid == 0) & (r.dropped == 0)] = 255
    ci = mlri.sen_interval(m)
    return {"mlri": m, "dropped": r.dropped, "classes": cls, "flags": flags, **t._asdict(),
            "sen_low": ci.low_slope, "sen_high": ci.high_slope}


def assert_bitwise(actual: Any, expected: np.ndarray, name: str) -> None:
    actual = np.asarray(actual)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, name
    assert actual.tobytes() == expected.tobytes(), f"{name} differs from the NumPy path"


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray]:
    return make_arrays()


@pytest.fixture(scope="module")
def expected(arrays) -> dict[str, np.ndarray]:
    return numpy_path(*arrays)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A 2-worker LocalCluster of processes on 127.0.0.1; closed even when a test fails."""
    with mx.dask_client("local:2") as c:
        yield c


def _write_years(folder, stem: str, stack: np.ndarray) -> None:
    import rasterio
    from rasterio.transform import Affine

    prof = {"driver": "GTiff", "width": NX, "height": NY, "count": 1, "dtype": "float32",
            "crs": CRS, "transform": Affine(30.0, 0.0, 5.0e5, 0.0, -30.0, 4.0e6),
            "nodata": -9999.0}
    for i, y in enumerate(YEARS):
        with rasterio.open(folder / f"{stem}_{y}.tif", "w", **prof) as dst:
            dst.write(np.where(np.isnan(stack[i]), -9999.0, stack[i]).astype("float32"), 1)


def test_cluster_is_local_and_single_threaded(client) -> None:
    info = client.scheduler_info()
    workers = info["workers"]
    assert len(workers) == 2
    assert all(w["nthreads"] == 1 for w in workers.values())
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in workers)


def test_run_stack_on_cluster_equals_numpy(client, arrays, expected) -> None:
    lst, evi = arrays
    coords = {"year": YEARS, "y": np.arange(NY), "x": np.arange(NX)}
    a = xr.DataArray(lst, dims=("year", "y", "x"), coords=coords).chunk({"y": 16, "x": 16})
    b = xr.DataArray(evi, dims=("year", "y", "x"), coords=coords).chunk({"y": 16, "x": 16})
    ds = mx.run_stack(a, b)
    out = client.compute(ds).result()                # plain dask
    for name, ref in expected.items():
        assert_bitwise(out[name].values, ref, name)
    out = mx.compute(ds, client=client)              # streamed into NumPy arrays
    assert out["hurst"].dims == ("y", "x") and isinstance(out["hurst"].data, np.ndarray)
    for name, ref in expected.items():
        assert_bitwise(out[name].values, ref, name)
    # the streaming path (what GeoTIFF writing and the tiled pipeline consume)
    got = {k: np.zeros_like(v) for k, v in expected.items()}
    n = 0
    for name, index, data in mx.iter_blocks(ds, client=client):
        got[name][index] = data
        n += 1
    assert n == mx.n_blocks(ds)
    for name, ref in expected.items():
        assert_bitwise(got[name], ref, name)


def test_run_scene_through_cluster(client, tmp_path, arrays, expected) -> None:
    """The raster pipeline (GeoTIFFs in → GeoTIFFs out) on the cluster equals the direct run."""
    import rasterio

    lst, evi = arrays
    _write_years(tmp_path, "LST", lst)
    _write_years(tmp_path, "EVI", evi)
    # scheduler=address: connect to the running cluster exactly as `--scheduler tcp://...` would
    paths = mx.run_scene(str(tmp_path / "LST_*.tif"), str(tmp_path / "EVI_*.tif"),
                         tmp_path / "out", scheduler=client.scheduler.address, chunks=(20, 27),
                         cog=False)
    with rasterio.open(paths["classes.tif"]) as src:
        assert src.crs.to_epsg() == 32650
        assert_bitwise(src.read(1), expected["classes"], "classes")
    with rasterio.open(paths["trend.tif"]) as src:  # float32, as `mlri run` writes it
        for i, k in enumerate(mx.TREND_VARS, start=1):
            assert_bitwise(src.read(i), expected[k].astype("float32"), k)
    with rasterio.open(paths["mlri.tif"]) as src:
        assert_bitwise(src.read(), expected["mlri"], "mlri")
    man = json.loads(paths["manifest.json"].read_text())
    assert man["dask"]["n_workers"] == 2 and man["dask"]["threads_per_task"] == 1
    assert len(man["inputs"]) == 2 * T


def test_task_errors_surface_on_the_client(client, arrays) -> None:
    lst, evi = arrays
    a = xr.DataArray(lst - 273.15, dims=("year", "y", "x")).chunk({"y": 20})
    b = xr.DataArray(evi, dims=("year", "y", "x")).chunk({"y": 20})
    ds = mx.index(a, b, years=YEARS)
    with pytest.raises(ValueError, match="degrees Celsius"):
        list(mx.iter_blocks(ds, client=client))


def test_scheduler_spec_parsing() -> None:
    assert _cluster._parse_local("local:3") == 3
    assert _cluster._parse_local("local") == _cluster._usable_cores()
    assert _cluster._parse_local("tcp://127.0.0.1:8786") is None
    with pytest.raises(ValueError, match=">= 1"):
        _cluster._parse_local("local:0")
    with mx.dask_client(None) as none:
        assert none is None
