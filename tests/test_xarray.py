"""mlri.xarray: the Dask/xarray front end equals the NumPy path bit for bit and keeps metadata."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

import mlri
from mlri import products

xr = pytest.importorskip("xarray")
da = pytest.importorskip("dask.array")
pytest.importorskip("rioxarray")
mx = pytest.importorskip("mlri.xarray")

pytestmark = [
    # affine >= 2.4 deprecates `Affine * Affine`, which rasterio/rioxarray still use internally.
    pytest.mark.filterwarnings(
        "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning"),
]

T, NY, NX = 19, 23, 31
YEARS = mlri.default_years(T).astype(np.int64)
CRS = "EPSG:32650"


def make_arrays(dtype: str = "float32", seed: int = 2841) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic LST (K) / EVI stacks with the awkward cases the kernels must handle."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None, None]
    trend = rng.normal(0, 0.01, (1, NY, NX))
    lst = 300 + 3 * rng.standard_normal((T, NY, NX)) - 20 * trend * t
    evi = 0.3 + trend * t + 0.04 * rng.standard_normal((T, NY, NX))
    lst[rng.random(lst.shape) < 0.05] = np.nan        # scattered gaps
    evi[:, 0, 0] = np.nan                             # an all-missing pixel
    lst[:, 1, 1], evi[:, 1, 1] = 300.0, 0.3           # a constant pixel
    evi[2:6, 2, 2] = -0.1                             # dropped years (EVI <= 0)
    lst[:12, 3, 3] = np.nan                           # too few valid years
    return lst.astype(dtype), evi.astype(dtype)


def as_da(arr: np.ndarray, *, crs: bool = True, dim: str = "year") -> xr.DataArray:
    out = xr.DataArray(
        arr, dims=(dim, "y", "x"),
        coords={dim: YEARS, "y": 4.0e6 - 30.0 * np.arange(NY), "x": 5.0e5 + 30.0 * np.arange(NX)},
        attrs={"title": "synthetic scene", "source": "tests", "units": "K",
               "scale_factor": 1.0},
    )
    if crs:
        out = out.rio.write_crs(CRS)
    return out


def numpy_path(lst: np.ndarray, evi: np.ndarray, *, product: bool = True,
               **opts: object) -> dict[str, np.ndarray]:
    """The array API chain; ``product=True``: as ``mlri run`` (float32 MLRI before the trend,
    flags 255 where a pixel has no observation), which run_stack must equal."""
    iopts = {k: v for k, v in opts.items() if k in mx.INDEX_OPTIONS}
    topts = {k: v for k, v in opts.items() if k in mx.TREND_OPTIONS}
    copts = {k: v for k, v in opts.items() if k in mx.CLASSIFY_OPTIONS}
    r = mlri.index(lst, evi, **iopts)
    m = r.mlri.astype(np.float32) if product else r.mlri
    t = mlri.trend(m, **topts)
    cls, flags = mlri.classify(t, dropped=r.dropped, **copts)
    if product:
        flags = flags.copy()
        flags[(t.n_valid == 0) & (r.dropped == 0)] = 255
    out = {"mlri": m, "dropped": r.dropped, "classes": cls, "flags": flags}
    out.update(t._asdict())
    if product:  # trend.tif's Sen's slope interval
        ci = mlri.sen_interval(m, alpha=opts.get("sen_alpha", 0.05))
        out.update(sen_low=ci.low_slope, sen_high=ci.high_slope)
    return out


def assert_bitwise(actual: np.ndarray, expected: np.ndarray, name: str) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, name
    assert actual.shape == expected.shape, name
    assert actual.tobytes() == expected.tobytes(), f"{name} differs from the NumPy path"


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray]:
    return make_arrays()


@pytest.fixture(scope="module")
def expected(arrays: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    return numpy_path(*arrays)


CHUNKINGS = {
    "one-chunk": {"y": -1, "x": -1},
    "8x8": {"y": 8, "x": 8},         # does not divide 23 x 31
    "5x7": {"y": 5, "x": 7},
    "rows": {"y": 1, "x": -1},
    "cols": {"y": -1, "x": 10},
}


# ------------------------------------------------------------------------------- import hygiene

def test_import_mlri_does_not_import_dask() -> None:
    code = textwrap.dedent("""
        import sys
        import mlri, mlri.api
        heavy = {"dask", "distributed", "xarray", "rioxarray", "zarr"}
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
        print("LOADED=" + ",".join(loaded))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("LOADED=")][-1]
    assert line == "LOADED=", line


@pytest.mark.parametrize("missing", ["dask", "dask.array", "xarray"])
def test_missing_optional_dependency_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                         missing: str) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` fail
    monkeypatch.delitem(sys.modules, "mlri.xarray")
    with pytest.raises(ImportError, match=r"pip install mlri\[dask\]"):
        importlib.import_module("mlri.xarray")


def test_missing_rioxarray_for_io(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "rioxarray", None)
    with pytest.raises(ImportError, match=r"rioxarray.*pip install mlri\[dask\]"):
        mx.open_stack(tmp_path / "LST_2000.tif")


def test_missing_distributed_for_clusters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"distributed.*pip install mlri\[dask\]"), \
            mx.dask_client("local:1"):
        pass


# ------------------------------------------------------------------ bitwise equality with NumPy

@pytest.mark.parametrize("chunking", list(CHUNKINGS), ids=list(CHUNKINGS))
def test_run_stack_dask_equals_numpy(arrays, expected, chunking: str) -> None:
    lst, evi = arrays
    ds = mx.run_stack(as_da(lst).chunk(CHUNKINGS[chunking]), as_da(evi).chunk(CHUNKINGS[chunking]))
    assert all(isinstance(v.data, da.Array) for v in ds.data_vars.values())  # lazy
    out = ds.compute(scheduler="threads")
    for name, ref in expected.items():
        assert_bitwise(out[name].values, ref, name)


def test_steps_dask_equal_numpy(arrays) -> None:
    lst, evi = arrays
    expected = numpy_path(lst, evi, product=False)
    chunks = CHUNKINGS["5x7"]
    idx = mx.index(as_da(lst).chunk(chunks), as_da(evi).chunk({"y": 4, "x": 9}))  # unaligned
    tr = mx.trend(idx["mlri"])
    cl = mx.classify(tr, dropped=idx["dropped"])
    got = {**dict(idx.compute().data_vars), **dict(tr.compute().data_vars),
           **dict(cl.compute().data_vars)}
    for name, ref in expected.items():
        assert_bitwise(got[name].values, ref, name)
    # classify picks `dropped` up from a merged Dataset too
    cl2 = mx.classify(tr.assign(dropped=idx["dropped"]))
    assert_bitwise(cl2["flags"].values, expected["flags"], "flags")


def test_numpy_backed_input_is_eager_and_equal(arrays, expected) -> None:
    ds = mx.run_stack(as_da(arrays[0]), as_da(arrays[1]))
    assert all(isinstance(v.data, np.ndarray) for v in ds.data_vars.values())
    for name, ref in expected.items():
        assert_bitwise(ds[name].values, ref, name)


def test_float64_and_options(expected) -> None:
    lst, evi = make_arrays("float64", seed=7)
    opts = {"hurst_method": "segmented", "hurst_series": "level", "alpha": 0.1, "min_valid": 8,
            "evi_policy": "clamp", "evi_min": 0.05, "zero_slope_direction": "sign_S"}
    ref = numpy_path(lst, evi, **opts)
    ds = mx.run_stack(as_da(lst), as_da(evi), chunks=(6, 11), **opts).compute()
    for name, r in ref.items():
        assert_bitwise(ds[name].values, r, name)


def test_chunks_argument_makes_numpy_input_lazy(arrays, expected) -> None:
    ds = mx.run_stack(as_da(arrays[0]), as_da(arrays[1]), chunks=9)
    assert ds["hurst"].chunks == ((9, 9, 5), (9, 9, 9, 4))
    assert_bitwise(ds["hurst"].values, expected["hurst"], "hurst")


def test_other_dim_orders_and_time_names(arrays, expected) -> None:
    lst, evi = arrays
    a = as_da(lst, dim="time").transpose("y", "x", "time").chunk({"y": 7})
    b = as_da(evi, dim="time").transpose("y", "x", "time").chunk({"y": 7})
    ds = mx.run_stack(a, b).compute()
    assert ds["mlri"].dims == ("time", "y", "x")
    assert ds["slope"].dims == ("y", "x")
    assert_bitwise(ds["slope"].values, expected["slope"], "slope")


def test_years_from_datetime_coordinate(arrays) -> None:
    lst, _ = arrays
    times = np.array([f"{y}-07-01" for y in YEARS], dtype="datetime64[ns]")
    s = xr.DataArray(lst, dims=("time", "y", "x"), coords={"time": times}).chunk({"y": 10})
    got = mx.trend(s).compute()
    ref = mlri.trend(lst, YEARS)
    assert_bitwise(got["slope"].values, ref.slope, "slope")
    two_per_year = s.assign_coords(time=np.array(["2000-01-01"] * 2 + [f"{y}-01-01" for y in
                                                  range(2001, 2018)], dtype="datetime64[ns]"))
    with pytest.raises(ValueError, match="one composite per year"):
        mx.trend(two_per_year)


def test_explicit_years_override_coordinate(arrays) -> None:
    lst, _ = arrays
    yrs = np.arange(1990, 1990 + T)
    got = mx.trend(as_da(lst).chunk({"x": 16}), years=yrs).compute()
    assert_bitwise(got["slope"].values, mlri.trend(lst, yrs).slope, "slope")


# ------------------------------------------------------------------------ metadata preservation

def test_coords_attrs_and_crs_are_kept(arrays) -> None:
    lst, evi = arrays
    a, b = as_da(lst).chunk({"y": 8, "x": 8}), as_da(evi).chunk({"y": 8, "x": 8})
    ds = mx.run_stack(a, b)
    assert ds.rio.crs == a.rio.crs
    assert ds.rio.transform() == a.rio.transform()
    for name, var in ds.data_vars.items():
        assert var.rio.crs is not None and var.rio.crs.to_epsg() == 32650, name
        np.testing.assert_array_equal(var["x"], a["x"])
        np.testing.assert_array_equal(var["y"], a["y"])
        assert var.attrs["title"] == "synthetic scene", name
        assert "units" not in var.attrs or name == "mlri" or var.attrs["units"] != "K"
        assert "scale_factor" not in var.attrs, name
    np.testing.assert_array_equal(ds["mlri"]["year"], YEARS)
    assert "year" not in ds["hurst"].coords
    assert ds.attrs["source"] == "tests" and "mlri_options" in ds.attrs
    assert ds["classes"].attrs["flag_meanings"].split()[0] == "nodata"
    # inputs are not modified
    assert a.attrs["units"] == "K" and a.chunks == ((T,), (8, 8, 7), (8, 8, 8, 7))


# ---------------------------------------------------------------------------- graceful errors

def test_time_axis_chunked(arrays, expected) -> None:
    lst, evi = arrays
    a = as_da(lst).chunk({"year": 5, "y": 12})
    b = as_da(evi).chunk({"year": 5, "y": 12})
    with pytest.raises(ValueError, match=r"time dimension 'year' is split into 4 chunks.*"
                                         r"rechunk=True"):
        mx.run_stack(a, b, rechunk=False)
    with pytest.raises(ValueError, match="split into"):
        mx.trend(a, rechunk=False)
    with pytest.warns(mx.TimeChunkWarning, match="rechunking to one time chunk"):
        ds = mx.run_stack(a, b)
    assert ds["mlri"].chunks[0] == (T,)
    assert_bitwise(ds["hurst"].values, expected["hurst"], "hurst")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = mx.run_stack(a, b, rechunk=True)
    assert_bitwise(ds["classes"].values, expected["classes"], "classes")


def test_bad_options_fail_before_any_task(arrays) -> None:
    a = as_da(arrays[0]).chunk({"y": 8})
    with pytest.raises(ValueError, match="hurst_method must be one of"):
        mx.trend(a, hurst_method="bogus")
    with pytest.raises(TypeError, match="unknown option 'hurst'"):
        mx.run_stack(a, a, hurst="expanding")
    with pytest.raises(ValueError, match="z_crit"):
        mx.run_stack(a, a, z_crit=-1)
    with pytest.raises(ValueError, match="years has 18 entries"):
        mx.trend(a, years=np.arange(18))
    with pytest.raises(ValueError, match="cannot tell which dimension is time"):
        mx.trend(a.rename(year="t"))
    with pytest.raises(ValueError, match="same dims and shape"):
        mx.index(a, a.isel(x=slice(0, 5)))


def test_unit_check_runs_in_tasks(arrays) -> None:
    lst, evi = arrays
    ds = mx.index(as_da(lst - 273.15).chunk({"y": 8}), as_da(evi).chunk({"y": 8}))
    with pytest.raises(ValueError, match="looks like degrees Celsius"):
        ds.compute()


# ------------------------------------------------------------------------ streaming and writers

def test_iter_blocks_local_covers_everything(arrays, expected) -> None:
    lst, evi = arrays
    ds = mx.run_stack(as_da(lst), as_da(evi), chunks=(10, 12))
    got = {k: np.zeros_like(v) for k, v in expected.items()}
    seen = 0
    for name, index, data in mx.iter_blocks(ds, queue_size=2):
        got[name][index] = data
        seen += 1
    assert seen == mx.n_blocks(ds) == len(expected) * 3 * 3
    for name, ref in expected.items():
        assert_bitwise(got[name], ref, name)


def test_iter_blocks_stops_cleanly_when_abandoned(arrays) -> None:
    ds = mx.run_stack(as_da(arrays[0]), as_da(arrays[1]), chunks=5)
    gen = mx.iter_blocks(ds, queue_size=1)
    next(gen)
    gen.close()  # the producer thread is told to stop, drained and joined
    assert not any(t.name == "mlri-iter-blocks" for t in threading.enumerate())


def test_iter_blocks_propagates_task_errors(arrays) -> None:
    ds = mx.index(as_da(arrays[0] - 273.15).chunk({"y": 8}), as_da(arrays[1]).chunk({"y": 8}))
    with pytest.raises(ValueError, match="degrees Celsius"):
        list(mx.iter_blocks(ds))


def _write_years(folder, stem: str, stack: np.ndarray, nodata: float = -9999.0) -> None:
    import rasterio
    from rasterio.transform import Affine

    prof = {"driver": "GTiff", "width": NX, "height": NY, "count": 1, "dtype": "float32",
            "crs": CRS, "transform": Affine(30.0, 0.0, 5.0e5, 0.0, -30.0, 4.0e6),
            "nodata": nodata}
    for i, y in enumerate(YEARS):
        with rasterio.open(folder / f"{stem}_{y}.tif", "w", **prof) as dst:
            dst.write(np.where(np.isnan(stack[i]), nodata, stack[i]).astype("float32"), 1)


def test_open_stack_geotiff_roundtrip(tmp_path, arrays, expected) -> None:
    import rasterio

    lst, evi = arrays
    _write_years(tmp_path, "LST", lst)
    _write_years(tmp_path, "EVI", evi)
    a = mx.open_stack(tmp_path / "LST_*.tif", chunks=(8, 16))
    b = mx.open_stack([tmp_path / f"EVI_{y}.tif" for y in YEARS[::-1]], chunks=16)  # sorted
    assert a.dims == ("year", "y", "x") and a.chunks[0] == (T,)
    np.testing.assert_array_equal(a["year"], YEARS)
    np.testing.assert_array_equal(b["year"], YEARS)
    assert a.rio.crs.to_epsg() == 32650
    ds = mx.run_stack(a, b)
    paths = mx.to_geotiff(ds, tmp_path / "out", cog=True, progress=True)
    # the run folder of mlri.products (what `mlri run` writes, manifest aside)
    assert sorted(paths) == ["classes.png", "classes.tif", "classes.tif.aux.xml", "flags.tif",
                             "mlri.tif", "summary.json", "trend.tif"]
    with rasterio.open(paths["trend.tif"]) as src:
        assert src.crs.to_epsg() == 32650
        assert src.transform == rasterio.transform.Affine(30.0, 0.0, 5.0e5, 0.0, -30.0, 4.0e6)
        assert src.descriptions == products.TREND_BANDS
        for i, k in enumerate(products.TREND_VAR_OF_BAND.values(), start=1):
            assert_bitwise(src.read(i), np.asarray(expected[k], "float32"), k)
    with rasterio.open(paths["mlri.tif"]) as src:
        assert src.descriptions == tuple(str(y) for y in YEARS)
        assert_bitwise(src.read(), expected["mlri"], "mlri")
    with rasterio.open(paths["classes.tif"]) as src:
        assert src.nodata == 0 and src.tags(1)["CLASS_5"].startswith("SCI:")
        assert_bitwise(src.read(1), expected["classes"], "classes")
    with rasterio.open(paths["flags.tif"]) as src:
        assert_bitwise(src.read(1), expected["flags"], "flags")
    from mlri._outputs import OutputExistsError

    with pytest.raises(OutputExistsError):
        mx.to_geotiff(ds, tmp_path / "out")
    assert not list((tmp_path / "out").glob(".*partial*"))


def test_open_stack_multiband_descriptions(tmp_path, arrays) -> None:
    import rasterio
    from rasterio.transform import Affine

    lst, _ = arrays
    prof = {"driver": "GTiff", "width": NX, "height": NY, "count": T, "dtype": "float32",
            "crs": CRS, "transform": Affine(30.0, 0.0, 5.0e5, 0.0, -30.0, 4.0e6)}
    with rasterio.open(tmp_path / "lst_stack.tif", "w", **prof) as dst:
        dst.write(lst)
        for i, y in enumerate(YEARS, start=1):
            dst.set_band_description(i, f"LST_{y}")
    a = mx.open_stack(tmp_path / "lst_stack.tif", chunks=12)
    np.testing.assert_array_equal(a["year"], YEARS)
    assert_bitwise(a.values, lst, "stack")
    with rasterio.open(tmp_path / "lst_stack.tif", "r+") as dst:
        dst.set_band_description(3, "no year here")
    with pytest.raises(ValueError, match="cannot find one year in the bands"):
        mx.open_stack(tmp_path / "lst_stack.tif", chunks=12)
    b = mx.open_stack(tmp_path / "lst_stack.tif", chunks=12, years=YEARS + 1)
    np.testing.assert_array_equal(b["year"], YEARS + 1)
    with pytest.raises(ValueError, match="appears twice"):
        mx._stack_years(None, ["a_2001.tif", "b_2001.tif"], "file names")


def test_open_stack_applies_scale_and_offset_as_mlri_run(tmp_path, arrays) -> None:
    """Scaled integer exports (Landsat ST digital numbers, EVI x 10000 with a scale): the
    same physical values, and the same MLRI, as mlri run reads them."""
    import rasterio
    from rasterio.transform import Affine

    from mlri.pipeline import run

    lst, evi = arrays
    prof = {"driver": "GTiff", "width": NX, "height": NY, "count": 1, "dtype": "uint16",
            "crs": CRS, "transform": Affine(30.0, 0.0, 5.0e5, 0.0, -30.0, 4.0e6), "nodata": 0}
    for var, a, sc, of in (("LST", lst, 0.00341802, 149.0), ("EVI", evi, 1e-4, -1.0)):
        dn = np.where(np.isfinite(a), np.round((a - of) / sc), 0).clip(0, 65535)
        for i, y in enumerate(YEARS):
            with rasterio.open(tmp_path / f"{var}_{y}.tif", "w", **prof) as dst:
                dst.write(dn[i].astype(np.uint16), 1)
                dst.scales, dst.offsets = (sc,), (of,)
    lst_x = mx.open_stack(tmp_path / "LST_*.tif", chunks=12)
    assert 250 < float(np.nanmedian(lst_x.isel(year=0).values)) < 350
    assert "scale_factor" not in lst_x.attrs
    evi_x = mx.open_stack(tmp_path / "EVI_*.tif", chunks=12)
    ds = mx.run_stack(lst_x, evi_x).compute()
    r = run(tmp_path, tmp_path, tmp_path / "out", quiet=True, cog=False, checksum=False)
    with rasterio.open(r.files["mlri.tif"]) as src:
        assert_bitwise(ds["mlri"].values, src.read(), "mlri of scaled inputs")


def test_to_zarr_roundtrip(tmp_path, arrays, expected) -> None:
    pytest.importorskip("zarr")
    ds = mx.run_stack(as_da(arrays[0]), as_da(arrays[1]), chunks=(10, 12))
    path = mx.to_zarr(ds, tmp_path / "out.zarr")
    back = xr.open_zarr(path, decode_coords="all")
    assert back.rio.crs.to_epsg() == 32650
    for name, ref in expected.items():
        assert_bitwise(back[name].values, ref, name)
    from mlri._outputs import OutputExistsError

    with pytest.raises(OutputExistsError):
        mx.to_zarr(ds, path)
    mx.to_zarr(ds[["classes"]], path, overwrite=True)
    assert list(xr.open_zarr(path, decode_coords="all").data_vars) == ["classes"]


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_to_geotiff_without_coordinates(tmp_path, arrays, expected) -> None:
    import rasterio

    ds = mx.run_stack(xr.DataArray(arrays[0], dims=("year", "y", "x")),
                      xr.DataArray(arrays[1], dims=("year", "y", "x")), years=YEARS)
    paths = mx.to_geotiff(ds[["classes", "slope"]], tmp_path / "plain", cog=False)
    assert sorted(paths) == ["classes.tif", "trend.tif"]
    with rasterio.open(paths["classes.tif"]) as src:
        assert src.crs is None and src.transform.is_identity
        assert_bitwise(src.read(1), expected["classes"], "classes")
    with rasterio.open(paths["trend.tif"]) as src:
        assert src.count == 1 and src.descriptions == ("slope",)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_to_geotiff_overwrite_failing_midway_keeps_the_old_files(tmp_path, arrays, monkeypatch):
    """Any variables (not a run folder): the files are staged, verified and published
    together, so an overwrite that fails half-way leaves the previous files as they were and
    no temporary files."""
    import hashlib

    import mlri.xarray._files as files

    ds = mx.run_stack(xr.DataArray(arrays[0], dims=("year", "y", "x")),
                      xr.DataArray(arrays[1], dims=("year", "y", "x")), years=YEARS)
    out = tmp_path / "plain"
    mx.to_geotiff(ds[["classes", "slope"]], out, cog=False)

    def digests() -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir()}

    before = digests()
    real = files.iter_blocks

    def fail_halfway(*a, **k):
        for i, item in enumerate(real(*a, **k)):
            if i == 1:
                raise RuntimeError("worker lost")
            yield item

    monkeypatch.setattr(files, "iter_blocks", fail_halfway)
    with pytest.raises(RuntimeError, match="worker lost"):
        mx.to_geotiff(ds[["classes", "hurst"]], out, overwrite=True, cog=False)
    assert digests() == before
    monkeypatch.setattr(files, "iter_blocks", real)
    # a file found incomplete after writing (e.g. a full disk): nothing is published
    import mlri._outputs as outputs
    from mlri._outputs import OutputWriteError

    real_verify = outputs.verify_output
    monkeypatch.setattr(outputs, "verify_output", lambda p: "truncated" if p.name.startswith(
        "trend") else real_verify(p))
    with pytest.raises(OutputWriteError, match=r"trend\.tif"):
        mx.to_geotiff(ds[["classes", "hurst"]], out, overwrite=True, cog=False)
    assert digests() == before
    monkeypatch.setattr(outputs, "verify_output", real_verify)
    paths = mx.to_geotiff(ds[["classes", "hurst"]], out, overwrite=True, cog=False)
    assert sorted(paths) == ["classes.tif", "trend.tif"]
    assert digests() != before and sorted(digests()) == sorted(before)
