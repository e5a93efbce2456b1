"""Hostile and inconsistent inputs: per-year unit/scale checks, bounded metadata reads,
crafted patterns, bad metadata, VRTs, GCP-only and truncated rasters.  Every case must end in
a clear error naming the file/year and the fix (an ``Error:`` line on the command line)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import mlri
from mlri.cli import main
from mlri.demo import synthesize, write_inputs
from mlri.io import InputError, open_inputs

rasterio = pytest.importorskip("rasterio")

YEARS = [2000, 2001, 2002, 2004, 2005, 2006]


def _site(seed=3, shape=(40, 48)):
    return synthesize(seed=seed, shape=shape, years=YEARS)


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_error_line(r) -> str:
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, r.output
    return lines[0]


# ------------------------------------------------------------------ per-year LST unit


def test_index_one_celsius_year_among_kelvin_is_refused_naming_the_year(rng):
    lst = rng.uniform(290, 320, (6, 8, 8))
    evi = rng.uniform(0.1, 0.5, (6, 8, 8))
    mlri.index(lst, evi, YEARS)  # all Kelvin: fine
    lst[3] -= 273.15  # 2004 in °C; the median of all years is still Kelvin
    assert np.median(lst) > 150
    with pytest.raises(ValueError, match=r"year 2004 looks like degrees Celsius") as ei:
        mlri.index(lst, evi, YEARS)
    assert "add 273.15" in str(ei.value)
    with pytest.raises(ValueError, match=r"time step 3"):
        mlri.index(lst, evi)  # without years the time step is named
    # all years in °C: the fix is lst_unit='C'
    with pytest.raises(ValueError, match=r"lst_unit='C'"):
        mlri.index(lst - 273.15 * (np.arange(6) != 3)[:, None, None], evi, YEARS)
    # one Kelvin year among °C years with lst_unit='C'
    c = lst - 273.15 * (np.arange(6) != 3)[:, None, None]
    c[1] += 273.15
    with pytest.raises(ValueError, match=r"year 2001 looks like Kelvin"):
        mlri.index(c, evi, YEARS, lst_unit="C")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_year_medians_are_numpys_median_of_each_years_sample(rng, dtype):
    """The checks' one-sort medians: the value np.median gives on each year's sample of finite
    values (odd and even counts, NaN, +-inf, ties, an empty year, a strided stack)."""
    from mlri._unitcheck import _SAMPLE_PER_YEAR, _year_medians

    def reference(a, absolute):
        out = []
        for year in a:
            flat = year.reshape(-1)
            flat = flat[:: max(1, flat.size // _SAMPLE_PER_YEAR)]
            v = flat[np.isfinite(flat)]
            v = np.abs(v) if absolute else v
            out.append(float(np.median(v)) if v.size else np.nan)
        return np.array(out)

    stacks = []
    for shape in [(5, 7, 9), (4, 6, 8), (3, 1), (2, 150, 131)]:  # odd/even counts; step > 1
        a = rng.normal(0, 1e3, shape)
        a[rng.random(shape) < 0.2] = np.nan
        a[rng.random(shape) > 0.97] = np.inf
        a[rng.random(shape) > 0.98] = -np.inf
        stacks.append(a)
    ties = rng.integers(-3, 4, (6, 10, 10)) * 0.1  # even counts whose middle values differ
    ties[2] = np.nan  # a year without a valid value
    stacks += [ties, np.ascontiguousarray(stacks[0])[:, ::2], np.empty((3, 0))]
    for a in stacks:
        a = a.astype(dtype)
        for absolute in (False, True):
            np.testing.assert_array_equal(_year_medians(a, absolute), reference(a, absolute))


def test_run_one_celsius_year_is_refused_before_any_output(tmp_path):
    site = _site()
    site.lst[2] -= np.float32(273.15)  # 2002 in °C
    write_inputs(site, tmp_path / "in")
    inp = open_inputs(tmp_path / "in", tmp_path / "in")
    with pytest.raises(InputError, match=r"LST 2002 \(.*LST_2002\.tif, band 1\)"):
        inp.check_units("K")
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out",
             tmp_path / "o", "-q")
    line = _one_error_line(r)
    assert "LST 2002" in line and "LST_2002.tif" in line and "add 273.15" in line
    assert not (tmp_path / "o" / "mlri.tif").exists()


def test_run_all_celsius_says_lst_unit_flag(tmp_path):
    site = _site()
    site.lst -= np.float32(273.15)
    write_inputs(site, tmp_path / "in")
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out",
             tmp_path / "o", "-q")
    assert "--lst-unit C" in _one_error_line(r)


def test_run_sampled_check_reads_little(tmp_path, monkeypatch):
    """The early check reads one window per layer when it holds enough valid values."""
    from mlri import io

    site = _site(shape=(600, 700))
    write_inputs(site, tmp_path / "in")
    inp = open_inputs(tmp_path / "in", tmp_path / "in")
    calls = []
    orig = io._Reader.read_layer

    def spy(self, layer, window, out=None):
        calls.append((layer.year, int(window.height) * int(window.width)))
        return orig(self, layer, window, out)

    monkeypatch.setattr(io._Reader, "read_layer", spy)
    inp.check_units("K")
    assert len(calls) == 2 * len(YEARS)  # LST and EVI: one window per year
    assert sum(n for _, n in calls) <= 2 * len(YEARS) * 256 * 256


# ------------------------------------------------------------------ per-year EVI scale


def test_index_evi_times_10000_is_refused_naming_the_year(rng):
    lst = rng.uniform(290, 320, (6, 8, 8))
    evi = rng.uniform(0.1, 0.5, (6, 8, 8))
    evi[4] = np.round(evi[4] * 10000)
    with pytest.raises(ValueError, match=r"evi year 2005 .*divide evi by 10000"):
        mlri.index(lst, evi, YEARS)
    # legitimate EVI outliers (bad denominators) do not trip the check
    evi2 = rng.uniform(0.1, 0.5, (6, 8, 8))
    evi2[:, 0, :3] = 40.0
    mlri.index(lst, evi2, YEARS)


def test_run_evi_times_10000_is_refused_naming_the_file(tmp_path):
    site = _site()
    site.evi[1] = np.round(site.evi[1] * 10000)  # 2001 as a raw integer export
    write_inputs(site, tmp_path / "in")
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out",
             tmp_path / "o", "-q", "--evi-min", "0.2")
    line = _one_error_line(r)
    assert "EVI 2001" in line and "EVI_2001.tif" in line and "-scale 0.0001" in line


def test_run_evi_scale_fixed_by_gdal_scale_factor(tmp_path):
    """The suggested fix works: a scale factor on the integer file is honoured."""
    site = _site()
    write_inputs(site, tmp_path / "in")
    p = tmp_path / "in" / "EVI_2001.tif"
    raw = np.round(site.evi[1] * 10000)
    raw[~np.isfinite(raw)] = -9999
    with rasterio.open(p, "r+") as ds:
        ds.write(raw.astype(np.float32), 1)
        ds.scales = (0.0001,)
    inp = open_inputs(tmp_path / "in", tmp_path / "in")
    inp.check_units("K")
    with inp.open() as rd:
        a = rd.read_layer(inp.evi.layers[1], rasterio.windows.Window(0, 0, 48, 40))
    np.testing.assert_allclose(a, site.evi[1], atol=1e-4)


# ------------------------------------------------------------------ crafted --pattern


@pytest.mark.parametrize(("pattern", "name", "expect"), [
    ("mine3_{var}_{year}.tif", "x_mine3_LST_2005.tif", (2005, "LST")),
    ("{var}_{year}*", "evi_2001_2002.tif", (2001, "evi")),
    ("*{year}*", "a1999b2005.tif", (1999, None)),
    ("LST_{year}.tif", "lst_2005.TIF", (2005, None)),
    ("LST_{year}.tif", "LST_05.tif", None),
    ("s?te_{year}.tif", "site_2003.tif", (2003, None)),
    ("s?te_{year}.tif", "siite_2003.tif", None),
])
def test_pattern_semantics(pattern, name, expect):
    from mlri._names import match_pattern

    assert match_pattern(pattern, name) == expect


def test_crafted_pattern_does_not_backtrack(tmp_path):
    """'*a'*12 + '{year}b' took 0.9 s on a 24-character name with the old regex (and grows
    exponentially); the matcher is linear in pattern x name length."""
    import time

    from mlri._names import match_pattern

    pat = "*a" * 100 + "{year}" + "*{var}" + "*?" * 10 + "b"
    t0 = time.perf_counter()
    for n in (24, 60, 250):
        assert match_pattern(pat, "a" * n + ".tif") is None
    assert time.perf_counter() - t0 < 1.0
    write_inputs(_site(), tmp_path / "in", name="site_{var}_" + "a" * 40 + "_{year}.tif")
    t0 = time.perf_counter()
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out", tmp_path / "o",
             "-q", "--pattern", "*a" * 12 + "{year}b")
    assert time.perf_counter() - t0 < 20
    assert "matches --pattern" in _one_error_line(r)
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out", tmp_path / "o",
             "-q", "--pattern", "{year}" * 2)
    assert "exactly once" in _one_error_line(r)
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out", tmp_path / "o",
             "-q", "--pattern", "*" * 300 + "{year}")
    assert "at most 255" in _one_error_line(r)


# ------------------------------------------------------------------ VRT inputs


def _vrt_inputs(tmp_path, source_dir):
    """Inputs in tmp_path/in where LST 2001 is a VRT reading a GeoTIFF in ``source_dir``."""
    import rasterio.shutil

    write_inputs(_site(), tmp_path / "in")
    source_dir.mkdir(parents=True, exist_ok=True)
    src = source_dir / "LST_2001_data.tif"
    (tmp_path / "in" / "LST_2001.tif").rename(src)
    rasterio.shutil.copy(src, tmp_path / "in" / "LST_2001.vrt", driver="VRT")
    return tmp_path / "in"


def test_vrt_reading_outside_the_input_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("MLRI_VRT_ANY_SOURCE", raising=False)
    folder = _vrt_inputs(tmp_path, tmp_path / "elsewhere")
    with pytest.raises(InputError, match=r"LST_2001\.vrt reads .*elsewhere.*outside the input"):
        open_inputs(folder, folder)
    r = _cli("run", "--lst", folder, "--evi", folder, "--out", tmp_path / "o", "-q")
    assert "MLRI_VRT_ANY_SOURCE=1" in _one_error_line(r)
    inp = open_inputs(folder, folder, allow_any_vrt_source=True)
    assert inp.lst.layers[1].path.endswith("LST_2001.vrt")
    monkeypatch.setenv("MLRI_VRT_ANY_SOURCE", "1")
    open_inputs(folder, folder)


def test_vrt_named_like_a_geotiff_is_checked_too(tmp_path, monkeypatch):
    """GDAL recognises a VRT by its content: one named LST_2001.tif (or a nested one named
    .tif) is held to the same rule as a .vrt."""
    monkeypatch.delenv("MLRI_VRT_ANY_SOURCE", raising=False)
    folder = _vrt_inputs(tmp_path, tmp_path / "elsewhere")
    (folder / "LST_2001.vrt").rename(folder / "LST_2001.tif")
    with pytest.raises(InputError, match=r"LST_2001\.tif reads .*elsewhere.*outside the input"):
        open_inputs(folder, folder)
    # nested: an in-folder .vrt reading an in-folder "tif" that is a VRT reading elsewhere
    (folder / "LST_2001.tif").rename(folder / "inner.tif")
    (folder / "LST_2001.vrt").write_text(
        '<VRTDataset rasterXSize="48" rasterYSize="40"><VRTRasterBand dataType="Float32" '
        'band="1"><SimpleSource><SourceFilename relativeToVRT="1">inner.tif</SourceFilename>'
        "</SimpleSource></VRTRasterBand></VRTDataset>")
    with pytest.raises(InputError, match=r"inner\.tif reads .*elsewhere.*outside the input"):
        open_inputs(folder, folder)


def test_vrt_inside_the_input_folder_is_accepted(tmp_path, monkeypatch):
    monkeypatch.delenv("MLRI_VRT_ANY_SOURCE", raising=False)
    folder = _vrt_inputs(tmp_path, tmp_path / "in" / "tiles")
    inp = open_inputs(folder, folder)
    inp.check_units("K")


def test_vrt_raw_band_reading_a_system_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("MLRI_VRT_ANY_SOURCE", raising=False)
    write_inputs(_site(), tmp_path / "in")
    (tmp_path / "in" / "LST_2001.tif").unlink()
    (tmp_path / "in" / "LST_2001.vrt").write_text(
        '<VRTDataset rasterXSize="48" rasterYSize="40">'
        '<VRTRasterBand dataType="Byte" band="1" subClass="VRTRawRasterBand">'
        '<SourceFilename relativetoVRT="0">/etc/hostname</SourceFilename>'
        "</VRTRasterBand></VRTDataset>")
    with pytest.raises(InputError, match=r"reads /etc/hostname, outside"):
        open_inputs(tmp_path / "in", tmp_path / "in")
    (tmp_path / "in" / "LST_2001.vrt").write_text(
        '<VRTDataset rasterXSize="48" rasterYSize="40"><VRTRasterBand dataType="Byte" band="1">'
        "<SimpleSource><SourceFilename>/vsicurl/http://example.invalid/x.tif</SourceFilename>"
        "</SimpleSource></VRTRasterBand></VRTDataset>")
    with pytest.raises(InputError, match="virtual file system"):
        open_inputs(tmp_path / "in", tmp_path / "in")


# ------------------------------------------------------------------ GCP-only, truncated


def test_gcp_only_raster_is_refused(tmp_path):
    from rasterio.control import GroundControlPoint

    write_inputs(_site(), tmp_path / "in")
    p = tmp_path / "in" / "EVI_2002.tif"
    with rasterio.open(p) as ds:
        prof, data = ds.profile, ds.read()
    prof.pop("transform")
    prof.pop("crs")
    gcps = [GroundControlPoint(0, 0, 420015, 4870035), GroundControlPoint(0, 48, 421455, 4870035),
            GroundControlPoint(40, 0, 420015, 4868835)]
    with rasterio.open(p, "w", **prof, gcps=gcps, crs=rasterio.crs.CRS.from_epsg(32650)) as ds:
        ds.write(data)
    with rasterio.open(p) as ds:
        assert ds.transform.is_identity and len(ds.gcps[0]) == 3
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out", tmp_path / "o",
             "-q")
    line = _one_error_line(r)
    assert "EVI_2002.tif" in line and "ground control points" in line and "gdalwarp" in line


def test_truncated_tiff_names_the_file_and_the_reason(tmp_path):
    import rasterio.shutil

    write_inputs(_site(shape=(300, 300)), tmp_path / "in")
    p = tmp_path / "in" / "LST_2004.tif"
    rasterio.shutil.copy(p, tmp_path / "cog.tif", driver="COG", COMPRESS="DEFLATE")
    data = (tmp_path / "cog.tif").read_bytes()
    p.write_bytes(data[: int(len(data) * 0.6)])  # header intact, tiles cut off
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out", tmp_path / "o",
             "-q")
    line = _one_error_line(r)
    assert "LST_2004.tif" in line and "year 2004" in line and "truncated" in line
    assert "See previous exception" not in line and "IReadBlock failed" in line


def test_stack_read_in_one_call_equals_band_by_band(tmp_path):
    """A multi-band stack is read in one GDAL call; nodata and each band's own scale/offset
    are still applied per band: the same values as reading band by band."""
    site = _site(shape=(70, 90))
    write_inputs(site, tmp_path, stack=True, blocksize=32)
    p = tmp_path / "EVI_stack.tif"
    raw = np.round(site.evi * 10000)
    raw[~np.isfinite(raw)] = -9999
    t = raw.shape[0]
    with rasterio.open(p, "r+") as ds:
        ds.write(raw.astype(np.float32))
        ds.scales = tuple(1e-4 if b % 2 else 2e-4 for b in range(t))
        ds.offsets = tuple(0.0 if b % 2 else 0.5 for b in range(t))
    inp = open_inputs(tmp_path / "LST_stack.tif", p)
    win = rasterio.windows.Window(5, 3, 80, 60)
    with inp.open() as rd:
        whole = rd.read(inp.evi, win)
        bands = np.stack([rd.read_layer(ly, win) for ly in inp.evi.layers])
        lst = rd.read(inp.lst, win)
    assert whole.tobytes() == bands.tobytes()
    scale = np.where(np.arange(t) % 2, 1e-4, 2e-4).astype(np.float32)[:, None, None]
    offset = np.where(np.arange(t) % 2, 0.0, 0.5).astype(np.float32)[:, None, None]
    ref = raw[:, 3:63, 5:85].astype(np.float32) * scale + offset
    ref[raw[:, 3:63, 5:85] == -9999] = np.nan
    np.testing.assert_array_equal(whole, ref)
    np.testing.assert_array_equal(lst, site.lst[:, 3:63, 5:85])


def test_damaged_stack_names_the_band_and_year(tmp_path):
    """A failed one-call read of a stack is repeated band by band, so the error still names
    the damaged band and its year."""
    site = _site(shape=(300, 300))
    write_inputs(site, tmp_path / "in", stack=True)
    p = tmp_path / "in" / "LST_stack.tif"
    with rasterio.open(p) as src:
        prof, data, names = {**src.profile, "interleave": "band"}, src.read(), src.descriptions
    with rasterio.open(p, "w", **prof) as dst:
        dst.write(data)
        dst.descriptions = names
    with rasterio.open(p) as ds:  # where band 5's first tile is stored
        off = int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=5))
        size = int(ds.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=5))
    raw = bytearray(p.read_bytes())
    raw[off:off + size] = bytes(size)  # zeros: not a deflate stream
    p.write_bytes(bytes(raw))
    inp = open_inputs(p, tmp_path / "in" / "EVI_stack.tif")
    with inp.open() as rd, pytest.raises(InputError) as err:
        rd.read(inp.lst, rasterio.windows.Window(0, 0, 300, 300))
    msg = str(err.value)
    band = int(msg.split("cannot read band ")[1].split()[0])
    assert band == 5 and f"year {site.years[4]}" in msg and "LST_stack.tif" in msg


# ------------------------------------------------------------------ accuracy inputs


def _classes_tif(path, classes):
    from affine import Affine

    with rasterio.open(path, "w", driver="GTiff", width=classes.shape[1],
                       height=classes.shape[0], count=1, dtype="uint8", nodata=0,
                       crs="EPSG:32650", transform=Affine(30, 0, 420000, 0, -30, 4870000)) as ds:
        ds.write(classes.astype(np.uint8), 1)
    return path


def test_accuracy_unknown_crs_is_an_error_line(tmp_path):
    pytest.importorskip("pyproj")
    cls = _classes_tif(tmp_path / "classes.tif", np.full((10, 10), 5))
    (tmp_path / "pts.csv").write_text("id,x,y,crs,reference\n1,420015,4869985,EPSG:999999,SCI\n"
                                      "2,420045,4869985,EPSG:999999,SCI\n")
    r = _cli("accuracy", "--classes", cls, "--points", tmp_path / "pts.csv", "--out",
             tmp_path / "acc.json")
    line = _one_error_line(r)
    assert "pts.csv" in line and "EPSG:999999" in line and "--points-crs" in line
    r = _cli("accuracy", "--classes", cls, "--points", tmp_path / "pts.csv", "--out",
             tmp_path / "acc.json", "--points-crs", "not a crs")
    assert "'not a crs'" in _one_error_line(r)


def test_accuracy_single_point_stratum_is_explained(tmp_path):
    from mlri.sites.accuracy import area_adjusted

    labels = ["a", "b"]
    # stratum b has one (correct) point: its within-stratum variance is not estimable
    mp = ["a"] * 5 + ["b"]
    rf = ["a", "a", "a", "a", "b", "b"]
    r = area_adjusted(mp, rf, labels, {"a": 900.0, "b": 100.0})
    oa = r["overall_accuracy"]
    assert oa["estimate"] == pytest.approx(0.9 * 0.8 + 0.1 * 1.0)
    assert np.isnan(oa["se"]) and np.isnan(oa["ci95"])
    assert "one sample point" in oa["se_undefined"]
    assert any("stratum/strata b" in n and "at least 2" in n for n in r["notes"])
    # with two points in every stratum the intervals are defined and there is no such note
    r2 = area_adjusted([*mp, "b"], [*rf, "a"], labels, {"a": 900.0, "b": 100.0})
    assert np.isfinite(r2["overall_accuracy"]["ci95"])
    assert "se_undefined" not in r2["overall_accuracy"]
    assert not any("single sample point" in n for n in r2["notes"])


def test_accuracy_cli_prints_na_and_the_note(tmp_path):
    pytest.importorskip("pyproj")
    cl = np.full((10, 10), 5)
    cl[:, 8:] = 1  # a small SD stratum
    cls = _classes_tif(tmp_path / "classes.tif", cl)
    (tmp_path / "pts.csv").write_text(
        "id,x,y,reference\n1,420015,4869985,SCI\n2,420045,4869985,SCI\n3,420075,4869985,SD\n"
        "4,420255,4869985,SD\n")  # the SD stratum (columns 8-9) holds one, correct, point
    r = _cli("accuracy", "--classes", cls, "--points", tmp_path / "pts.csv", "--out",
             tmp_path / "acc.json", "--scheme", "classes6")
    assert r.exit_code == 0, r.output
    assert "± n/a" in r.output and "note: standard errors" in r.output
    assert "± nan" not in r.output.lower()


@pytest.mark.parametrize(("scale", "offset"), [(0.0, 0.0), (float("inf"), 0.0),
                                               (1.0, float("nan"))])
def test_absurd_gdal_scale_factor_is_refused(tmp_path, scale, offset):
    write_inputs(_site(), tmp_path / "in")
    with rasterio.open(tmp_path / "in" / "EVI_2004.tif", "r+") as ds:
        ds.scales = (scale,)
        ds.offsets = (offset,)
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out", tmp_path / "o",
             "-q")
    line = _one_error_line(r)
    assert "EVI_2004.tif" in line and "scale/offset" in line and "gdal_edit.py" in line


def test_unreadable_vector_files_name_the_file_and_the_fix(tmp_path):
    """Every vector input (mine polygons, reference points, area of interest, a significance
    mask) goes through one reader: a file GDAL cannot open raises one ValueError naming what
    was read, the file and, where there is one, what to give instead."""
    pytest.importorskip("pyogrio")
    pytest.importorskip("shapely")
    pytest.importorskip("pyproj")
    from mlri.landsat.grid import read_aoi
    from mlri.significance.methods import _read_polygons
    from mlri.sites.polygons import read_mines
    from mlri.sites.refdata import read_points

    bad = tmp_path / "mines.gpkg"
    bad.write_bytes(b"not a GeoPackage")
    cases = [(lambda: read_mines(bad), "mine polygons", "Use a GeoPackage"),
             (lambda: read_points(bad), "reference points", ""),
             (lambda: read_aoi(bad), "the area of interest", ""),
             (lambda: _read_polygons(bad, None, "persistence_mask"),
              "the polygons of persistence_mask=", "mask raster")]
    for call, what, fix in cases:
        with pytest.raises(ValueError, match="cannot read") as err:
            call()
        msg = str(err.value)
        assert msg.startswith(f"cannot read {what} from {bad}: "), msg
        assert fix in msg


# ------------------------------------------------------------------ paths and --years


def test_empty_paths_are_refused_not_read_as_the_working_folder(tmp_path, monkeypatch):
    write_inputs(_site(), tmp_path / "in")
    monkeypatch.chdir(tmp_path / "in")  # "" would be this folder: inputs and outputs
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out", "", "-q")
    assert "output folder is an empty path" in _one_error_line(r)
    r = _cli("run", "--lst", "", "--evi", tmp_path / "in", "--out", tmp_path / "o", "-q")
    assert "empty path was given as LST input" in _one_error_line(r)
    assert not (tmp_path / "in" / "manifest.json").exists() and not (tmp_path / "o").exists()


def test_years_left_out_are_neither_opened_nor_checked(tmp_path):
    """--years picks years by name: a damaged file, or a second file, of a year left out
    does not stop the run."""
    folder = tmp_path / "in"
    write_inputs(_site(), folder)
    (folder / "LST_2006.tif").write_bytes(b"not a raster")
    import shutil

    shutil.copy(folder / "LST_2000.tif", folder / "LST_2000_copy.tif")
    inp = open_inputs(folder, folder, years=[2001, 2002, 2004, 2005])
    assert inp.years == [2001, 2002, 2004, 2005]
    with pytest.raises(InputError, match="LST_2006"):  # asked for: still checked
        open_inputs(folder, folder, years=[2001, 2006])
    with pytest.raises(InputError, match="years asked for"):
        open_inputs(folder, folder, years=[1990, 1991])


def test_compression_level_outside_the_codec_range_is_refused(tmp_path):
    write_inputs(_site(), tmp_path / "in")
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out", tmp_path / "o",
             "-q", "--compress", "deflate", "--level", "22")
    assert "must be in [1, 12], got 22" in _one_error_line(r)
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out", tmp_path / "o",
             "-q", "--compress", "none", "--level", "5")
    assert "applies to" in _one_error_line(r)
    assert not (tmp_path / "o").exists()


def test_a_tile_in_other_units_names_that_years_file(tmp_path):
    """A year whose file is in Kelvin overall but in degrees Celsius in one part: the
    per-tile check names that file, not the input folder."""
    import rasterio

    from mlri.pipeline import run

    write_inputs(_site(shape=(64, 192)), tmp_path / "in", blocksize=64)
    f = tmp_path / "in" / "LST_2004.tif"
    with rasterio.open(f, "r+") as ds:
        a = ds.read(1)
        a[:, 128:] = np.where(a[:, 128:] > 0, a[:, 128:] - 273.15, a[:, 128:])
        ds.write(a, 1)
    with pytest.raises(InputError, match=r"LST input: .*LST_2004\.tif, band 1; window"):
        run(tmp_path / "in", tmp_path / "in", tmp_path / "o", tile=64, quiet=True, cog=False,
            checksum=False)


def test_alpha_band_is_a_mask_not_a_year(tmp_path):
    """A file per year with an alpha band (band 2, as GDAL writes for UInt16 exports): band 1
    is the data, alpha 0 is missing."""
    import rasterio

    site = _site()
    src = tmp_path / "plain"
    write_inputs(site, src)
    out = tmp_path / "alpha"
    out.mkdir()
    for f in sorted(src.glob("*.tif")):
        scale, offset = (0.01, 0.0) if f.name.startswith("LST") else (1e-4, -1.0)
        with rasterio.open(f) as ds:
            a, prof = ds.read(1, masked=True), ds.profile
        alpha = np.where(np.ma.getmaskarray(a), 0, 65535).astype(np.uint16)
        alpha[:5, :7] = 0
        data = np.round((a.filled(0) - offset) / scale).clip(0, 65535).astype(np.uint16)
        prof.update(count=2, nodata=None, dtype="uint16", alpha="YES")  # (ExtraSamples)
        with rasterio.open(out / f.name, "w", **prof) as dst:
            dst.write(data, 1)
            dst.write(alpha, 2)
            dst.scales, dst.offsets = (scale, 1.0), (offset, 0.0)
    inp = open_inputs(out, out)
    assert inp.years == YEARS and all(lay.band == 1 for lay in inp.lst.layers)
    from mlri.pipeline import run

    r = run(out, out, tmp_path / "o", quiet=True, cog=False, checksum=False)
    with rasterio.open(r.files["mlri.tif"]) as ds:
        m = ds.read(1)
    assert np.isnan(m[:5, :7]).all() and np.isfinite(m[10:, 10:]).any()


def test_alpha_band_gdal_would_ignore_is_refused(tmp_path):
    """GDAL masks by alpha only for Byte/UInt16 data: a float32 file's alpha would be ignored
    and its masked pixels read as valid, so the file is refused, naming it."""
    import rasterio

    write_inputs(_site(), tmp_path / "plain")
    out = tmp_path / "alpha"
    out.mkdir()
    for f in sorted((tmp_path / "plain").glob("*.tif")):
        with rasterio.open(f) as ds:
            a, prof = ds.read(1), ds.profile
        prof.update(count=2, alpha="YES")
        with rasterio.open(out / f.name, "w", **prof) as dst:
            dst.write(a, 1)
            dst.write(np.zeros_like(a), 2)
    with pytest.raises(InputError, match=r"LST_2000\.tif has an alpha band that GDAL does not"):
        open_inputs(out, out)


def test_wrong_typed_run_options_are_refused(tmp_path):
    from mlri.pipeline import run

    write_inputs(_site(), tmp_path / "in")
    for kw, match in (({"cog": "no"}, "cog must be True or False"),
                      ({"tile": 64.0}, "tile must be an integer"),
                      ({"z_crit": "2"}, "z_crit must be a number")):
        with pytest.raises(TypeError, match=match):
            run(tmp_path / "in", tmp_path / "in", tmp_path / "o", quiet=True, **kw)
    assert not (tmp_path / "o").exists()
