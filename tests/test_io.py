"""mlri.io: discovering annual LST/EVI rasters, years, grid checks, nodata/masks, units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from affine import Affine
from rasterio.windows import Window

from mlri.demo import DemoSite, synthesize, write_inputs
from mlri.io import (
    InputError,
    open_inputs,
    parse_years,
    resolve_variable,
    year_from_name,
)

YEARS = [2000, 2001, 2002, 2004, 2005]


def _site(shape=(20, 24), years=YEARS, seed=1) -> DemoSite:
    return synthesize(seed=seed, shape=shape, years=years)


def _write(path: Path, data: np.ndarray, *, crs="EPSG:32650", transform=None, nodata=None,
           dtype="float32", descriptions=None, tags=None, **extra) -> Path:
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    prof = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1],
            "count": data.shape[0], "dtype": dtype, "crs": crs,
            "transform": transform or Affine(30, 0, 420015, 0, -30, 4870035), "nodata": nodata,
            **extra}
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(data.astype(dtype))
        for b, d in enumerate(descriptions or [], 1):
            ds.set_band_description(b, d)
        for b, t in enumerate(tags or [], 1):
            ds.update_tags(b, **t)
    return path


# ------------------------------------------------------------------ years and names


def test_parse_years_forms():
    assert parse_years("2000-2002,2004") == [2000, 2001, 2002, 2004]
    assert parse_years("2000 2003") == [2000, 2003]
    assert parse_years(["2000", "2001..2002"]) == [2000, 2001, 2002]
    assert parse_years(None) is None


@pytest.mark.parametrize("bad", ["2000-1999", "20x0", "2001,2000", "2000,2000"])
def test_parse_years_errors(bad):
    with pytest.raises(InputError):
        parse_years(bad)


@pytest.mark.parametrize(("name", "year"), [
    ("LST_2005.tif", 2005), ("mine3_EVI_2005.tif", 2005), ("EVI2005.tif", 2005),
    ("/a/b/site-12_LST_1999.tiff", 1999),
    ("mine12_LST_2005-0000000000-0000000000.tif", 2005),  # GEE split export
    ("LST_2005_2006.tif", None),  # ambiguous
    ("LST_20051.tif", None), ("LST.tif", None),
])
def test_year_from_name(name, year):
    assert year_from_name(name)[0] == year


def test_year_from_pattern():
    assert year_from_name("mine3_EVI_2005.tif", "mine3_{var}_{year}.tif") == (2005, "EVI")
    assert year_from_name("other_2005.tif", "mine3_{var}_{year}.tif") == (None, None)
    with pytest.raises(InputError, match="year"):
        year_from_name("x.tif", "mine_{var}.tif")


# ------------------------------------------------------------------ discovery forms


def test_folder_with_both_variables(tmp_path):
    site = _site()
    write_inputs(site, tmp_path, name="mine3_{var}_{year}.tif")
    (tmp_path / "notes.txt").write_text("not a raster")
    inp = open_inputs(tmp_path, tmp_path)
    assert inp.years == YEARS
    assert all("_LST_" in Path(p).name for p in inp.lst.paths)
    assert all("_EVI_" in Path(p).name for p in inp.evi.paths)
    assert inp.grid.width == 24 and inp.grid.height == 20
    assert inp.block_shapes == [(256, 256)]


def test_glob_list_and_pattern(tmp_path):
    site = _site()
    write_inputs(site, tmp_path, name="m_{var}_{year}.tif")
    a = open_inputs(str(tmp_path / "m_LST_*.tif"), str(tmp_path / "m_EVI_*.tif"))
    files = sorted(str(p) for p in tmp_path.glob("m_LST_*.tif"))
    b = open_inputs(files[::-1], sorted(str(p) for p in tmp_path.glob("m_EVI_*.tif")))
    c = open_inputs(tmp_path, tmp_path, pattern="m_{var}_{year}.tif")
    assert a.years == b.years == c.years == YEARS
    assert [la.path for la in b.lst.layers] == files  # sorted by year


def test_years_selects_subset(tmp_path):
    write_inputs(_site(), tmp_path)
    inp = open_inputs(tmp_path, tmp_path, years="2000-2002")
    assert inp.years == [2000, 2001, 2002]
    with pytest.raises(InputError, match=r"2003.*missing"):
        open_inputs(tmp_path, tmp_path, years="2000-2003")


def test_multiband_stack_with_descriptions_tags_or_years(tmp_path):
    site = _site()
    write_inputs(site, tmp_path, stack=True)  # descriptions "LST_2000", ...
    inp = open_inputs(tmp_path / "LST_stack.tif", tmp_path / "EVI_stack.tif")
    assert inp.years == YEARS
    assert [la.band for la in inp.lst.layers] == [1, 2, 3, 4, 5]
    # tags YEAR, bands out of order -> sorted by year
    order = [2, 0, 1, 4, 3]
    _write(tmp_path / "l.tif", site.lst[order], tags=[{"YEAR": str(YEARS[i])} for i in order])
    _write(tmp_path / "e.tif", site.evi[order], descriptions=[str(YEARS[i]) for i in order])
    inp = open_inputs(tmp_path / "l.tif", tmp_path / "e.tif")
    assert inp.years == YEARS
    assert [la.band for la in inp.lst.layers] == [2, 3, 1, 5, 4]
    # no year anywhere: --years required, then assigned in band order
    _write(tmp_path / "l2.tif", site.lst)
    _write(tmp_path / "e2.tif", site.evi)
    with pytest.raises(InputError, match=r"l2\.tif.*--years"):
        open_inputs(tmp_path / "l2.tif", tmp_path / "e2.tif")
    inp = open_inputs(tmp_path / "l2.tif", tmp_path / "e2.tif", years=YEARS)
    assert inp.years == YEARS


def test_files_without_year_need_years(tmp_path):
    site = _site()
    lf = [_write(tmp_path / f"lst_{c}.tif", site.lst[i]) for i, c in enumerate("abcde")]
    ef = [_write(tmp_path / f"evi_{c}.tif", site.evi[i]) for i, c in enumerate("abcde")]
    with pytest.raises(InputError, match=r"lst_a\.tif"):
        open_inputs(lf, ef)
    assert open_inputs(lf, ef, years=YEARS).years == YEARS


# ------------------------------------------------------------------ bad inputs


def test_missing_year_in_one_variable(tmp_path):
    write_inputs(_site(), tmp_path)
    (tmp_path / "EVI_2004.tif").unlink()
    with pytest.raises(InputError, match=r"2004.*LST.*missing from the EVI") as ei:
        open_inputs(tmp_path, tmp_path)
    assert str(tmp_path) in str(ei.value)


def test_duplicate_year(tmp_path):
    site = _site()
    write_inputs(site, tmp_path)
    _write(tmp_path / "LST_2001_copy_x.tif", site.lst[1])
    _write(tmp_path / "copy-LST-2001.tif", site.lst[1])
    with pytest.raises(InputError, match=r"two LST files for year 2001"):
        open_inputs(tmp_path, tmp_path)


@pytest.mark.parametrize(("what", "kw", "expect"), [
    ("crs", {"crs": "EPSG:32649"}, "CRS"),
    ("transform", {"transform": Affine(30, 0, 420045, 0, -30, 4870035)}, "transform"),
    ("size", {}, "size"),
])
def test_grid_mismatch_names_both_files(tmp_path, what, kw, expect):
    site = _site()
    write_inputs(site, tmp_path)
    bad = tmp_path / "EVI_2002.tif"
    data = site.evi[2] if what != "size" else site.evi[2][:-1]
    bad.unlink()
    _write(bad, data, **kw)
    with pytest.raises(InputError, match=expect) as ei:
        open_inputs(tmp_path, tmp_path)
    msg = str(ei.value)
    assert "EVI_2002.tif" in msg and "LST_2000.tif" in msg


def test_corrupt_and_non_tiff(tmp_path):
    write_inputs(_site(), tmp_path)
    (tmp_path / "LST_2001.tif").write_bytes(b"this is not a tiff at all")
    with pytest.raises(InputError, match=r"cannot open LST input .*LST_2001\.tif"):
        open_inputs(tmp_path, tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        open_inputs(tmp_path / "nope.tif", tmp_path)
    with pytest.raises(InputError, match="matches no file"):
        open_inputs(str(tmp_path / "zz*.tif"), tmp_path)


def test_truncated_tiff_fails_on_read(tmp_path):
    site = _site(shape=(64, 64))
    write_inputs(site, tmp_path, blocksize=16)
    p = tmp_path / "LST_2001.tif"
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    try:
        inp = open_inputs(tmp_path, tmp_path)
    except InputError as err:  # header already broken
        assert "LST_2001.tif" in str(err)
        return
    with inp.open() as rd, pytest.raises(InputError, match=r"LST_2001\.tif"):
        rd.read(inp.lst, Window(0, 0, 64, 64))


def test_folder_of_other_variable_is_refused(tmp_path):
    site = _site()
    write_inputs(site, tmp_path / "a")
    (tmp_path / "e").mkdir()
    for p in (tmp_path / "a").glob("EVI_*"):
        p.rename(tmp_path / "e" / p.name)
    with pytest.raises(InputError, match="another variable"):
        resolve_variable(tmp_path / "e", "LST")


# ------------------------------------------------------------------ reading


def test_nodata_masks_scale_offset_are_honoured(tmp_path):
    rng = np.random.default_rng(0)
    lst = rng.uniform(290, 310, (5, 8, 10)).astype(np.float32)
    evi = rng.uniform(0.1, 0.5, (5, 8, 10)).astype(np.float32)
    # LST as uint16 DN (Landsat C2 ST) with scale/offset and nodata 0; EVI float with an internal mask
    dn = np.round((lst - 149.0) / 0.00341802).astype(np.uint16)
    dn[0, 0, 0] = 0
    for i, y in enumerate(YEARS):
        p = _write(tmp_path / f"LST_{y}.tif", dn[i], dtype="uint16", nodata=0)
        with rasterio.open(p, "r+") as ds:
            ds.scales = (0.00341802,)
            ds.offsets = (149.0,)
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            p = _write(tmp_path / f"EVI_{y}.tif", evi[i])
            with rasterio.open(p, "r+") as ds:
                m = np.full((8, 10), 255, np.uint8)
                m[1, 2] = 0
                ds.write_mask(m)
    inp = open_inputs(tmp_path, tmp_path)
    with inp.open() as rd:
        a = rd.read(inp.lst, Window(0, 0, 10, 8))
        b = rd.read(inp.evi, Window(0, 0, 10, 8))
    assert a.dtype == np.float32 and a.flags.c_contiguous and a.shape == (5, 8, 10)
    assert np.isnan(a[0, 0, 0]) and np.isfinite(a).sum() == a.size - 1
    np.testing.assert_allclose(a[np.isfinite(a)], lst[np.isfinite(a)], atol=0.003)
    assert np.isnan(b[:, 1, 2]).all() and np.isfinite(b).sum() == b.size - 5


def test_float_nodata_and_windows(tmp_path):
    site = _site(shape=(40, 50))
    write_inputs(site, tmp_path, blocksize=16)
    inp = open_inputs(tmp_path, tmp_path)
    assert inp.block_shapes == [(16, 16)]
    with inp.open() as rd:
        w = Window(16, 8, 20, 30)
        a = rd.read(inp.lst, w)
    ref = site.lst[:, 8:38, 16:36]
    np.testing.assert_array_equal(a, ref)  # NaN where nodata -9999 was written


def test_celsius_detection(tmp_path):
    site = _site()
    site.lst -= np.float32(273.15)
    write_inputs(site, tmp_path)
    inp = open_inputs(tmp_path, tmp_path)
    with pytest.raises(InputError, match=r"--lst-unit C") as ei:
        inp.check_lst_unit("K")
    assert "LST" in str(ei.value) and str(tmp_path) in str(ei.value)
    inp.check_lst_unit("C")
    write_inputs(_site(), tmp_path / "k")
    with pytest.raises(InputError, match="looks like Kelvin"):
        open_inputs(tmp_path / "k", tmp_path / "k").check_lst_unit("C")


def test_scaled_lst_digital_numbers_are_refused(tmp_path):
    site = _site()
    site.lst = np.round((site.lst - 149.0) / 0.00341802).astype(np.float32)
    write_inputs(site, tmp_path)
    with pytest.raises(InputError, match="digital numbers"):
        open_inputs(tmp_path, tmp_path).check_lst_unit("K")


def test_grid_area():
    from mlri.io import Grid

    g = Grid(rasterio.crs.CRS.from_epsg(32650), Affine(30, 0, 0, 0, -30, 0), 10, 10)
    assert g.area_ha(100) == pytest.approx(9.0)
    g = Grid(rasterio.crs.CRS.from_epsg(4326), Affine(0.1, 0, 0, 0, -0.1, 0), 10, 10)
    assert g.area_ha(100) is None


def test_same_files_for_both_variables_refused(tmp_path):
    site = _site()
    for i, y in enumerate(YEARS):
        _write(tmp_path / f"{y}.tif", site.lst[i])
    with pytest.raises(InputError, match="both LST and EVI"):
        open_inputs(tmp_path, tmp_path)


def test_gee_side_files_are_ignored(tmp_path):
    site = _site()
    write_inputs(site, tmp_path, name="mine12_{var}_{year}.tif")
    for y in YEARS:  # GEE also exports an observation count per year
        _write(tmp_path / f"mine12_N_OBS_{y}.tif", np.full((20, 24), 3.0))
    inp = open_inputs(tmp_path, tmp_path)
    assert not any("N_OBS" in p for p in inp.paths)


def test_one_year_rule_for_every_reader(tmp_path):
    """io (mlri run), mlri.xarray.open_stack and composite --years share one year grammar."""
    from mlri.io import year_in_text
    from mlri.landsat.composite import parse_years as composite_years

    assert year_in_text("LST_2005") == 2005
    assert year_in_text("mine2019_LST_2005") is None   # two years: ambiguous everywhere
    assert year_from_name("mine2019_LST_2005.tif") == (None, None)
    assert composite_years("2000-2002,2004") == parse_years("2000-2002,2004")
    with pytest.raises(ValueError, match="cannot parse years"):
        composite_years("2000-20x")
    mx = pytest.importorskip("mlri.xarray")
    pytest.importorskip("rioxarray")
    import rasterio

    for name in ("mine2019_LST_2005.tif", "mine2019_LST_2006.tif"):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=4, height=3, count=1,
                           dtype="float32", crs="EPSG:32650",
                           transform=Affine(30, 0, 5e5, 0, -30, 4e6)) as ds:
            ds.write(np.ones((1, 3, 4), np.float32))
    with pytest.raises(ValueError, match="cannot find one year in the file names"):
        mx.open_stack(tmp_path / "mine2019_LST_*.tif", chunks=None)
    arr = mx.open_stack(tmp_path / "mine2019_LST_*.tif", chunks=None, years=[2005, 2006])
    assert list(arr["year"].values) == [2005, 2006]
