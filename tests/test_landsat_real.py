"""Real Landsat C2 L2 samples (../shared/data/landsat, facts from its SOURCES.md), read in place."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import rasterio
from numpy.testing import assert_array_equal

from mlri import landsat as L

pytestmark = pytest.mark.realdata

LT05 = "LT05_L2SP_090084_19980308_20200909_02_T1"
LE07 = "LE07_L2SP_090084_20210331_20210426_02_T1"
LC08 = "LC08_L2SP_098084_20210503_20210508_02_T1"
COLOMBIA = "LC08_L2SP_008059_20191201_20200825_02_T1"
L2SR = "LC08_L2SR_099120_20191129_20201016_02_T2"
BRUMA = ("LC08_L2SP_218074_20190114_20200829_02_T1", "LC08_L2SP_218074_20190130_20200829_02_T1")


@pytest.fixture(scope="module")
def ls(shared_data):
    d = shared_data / "landsat"
    if not d.is_dir():
        pytest.skip("no landsat samples")
    return d


def _read(scene, role):
    with rasterio.open(scene.band_path(role)) as ds:
        return ds.read(1)


def test_discovery_finds_all_samples(ls):
    scenes, problems = L.discover_scenes([ls])
    assert problems == []
    ids = {s.id for s in scenes}
    assert {LT05, LE07, LC08, COLOMBIA, L2SR, *BRUMA} <= ids


def test_band_roles_tm_vs_oli(ls):
    tm, etm, oli = (L.Scene.open(ls / n) for n in (LT05, LE07, LC08))
    for s in (tm, etm):
        assert [s.band_path(r).rsplit("_", 2)[-2:] for r in ("blue", "red", "nir")] == \
            [["SR", "B1.TIF"], ["SR", "B3.TIF"], ["SR", "B4.TIF"]]
        assert s.band_path("st").endswith("_ST_B6.TIF")
        assert s.has("opacity") and not s.has("aerosol")
    assert tm.family == "TM" and etm.family == "ETM"
    assert oli.band_path("blue").endswith("_SR_B2.TIF")
    assert oli.band_path("red").endswith("_SR_B4.TIF")
    assert oli.band_path("nir").endswith("_SR_B5.TIF")
    assert oli.band_path("st").endswith("_ST_B10.TIF") and oli.has("aerosol")
    assert tm.sr_scale("red") == (2.75e-05, -0.2) and tm.st_scale() == (0.00341802, 149.0)


def test_grid_origins_pixel_is_point(ls):
    tm = L.Scene.open(ls / LT05)
    crs, tr, w, h = tm.georef()
    assert crs.to_epsg() == 32655
    assert (tr.c, tr.f) == (638085.0, -3724785.0)  # MTL UL centre (638100, -3724800) - 15 m
    ul = tm.mtl.float("PROJECTION_ATTRIBUTES", "CORNER_UL_PROJECTION_X_PRODUCT")
    assert ul - 15.0 == tr.c
    grids = []
    for n in BRUMA:
        crs, tr, w, h = L.Scene.open(ls / n).georef()
        assert crs.to_epsg() == 32623 and (w, h) == (400, 300)
        grids.append((tr.c, tr.f))
    assert grids == [(583485.0, -2222685.0), (584385.0, -2222685.0)]


def test_qa_codes_and_clear_fraction(ls):
    oli = L.Scene.open(ls / COLOMBIA)
    qa = _read(oli, "qa")
    seen = set(np.unique(qa).tolist())
    assert {21824, 21952, 22280, 55052, 23888, 1} <= seen
    tm = L.Scene.open(ls / LT05)
    tq = _read(tm, "qa")
    assert {5440, 5504, 5896, 7440} <= set(np.unique(tq).tolist())
    keep = L.qa_mask(tq, "TM", "paper")
    assert keep.mean() == pytest.approx(0.53, abs=0.01)  # SPEC §1.5: 53 % valid
    assert L.qa_mask(qa, "OLI", "paper").mean() == pytest.approx(0.08, abs=0.02)


def test_dn_to_value_on_real_bands(ls):
    oli = L.Scene.open(ls / COLOMBIA)
    st = _read(oli, "st")
    i = np.argmin(np.abs(st.astype(int) - 44947))
    v = L.lst_from_st(st.ravel()[i:i + 1], scale=oli.st_scale())[0]
    assert v == pytest.approx(st.ravel()[i] * 0.00341802 + 149.0, rel=1e-6)
    assert L.lst_from_st(np.array([44947]), scale=oli.st_scale())[0] == pytest.approx(302.6,
                                                                                      abs=0.05)
    e = L.evi(_read(oli, "blue"), _read(oli, "red"), _read(oli, "nir"), qa=_read(oli, "qa"))
    assert np.nanmax(np.abs(e)) <= 1.0  # NaN rules: no blown-up values survive


def test_rte_reinversion_matches_st(ls):
    for n in (LT05, LE07, LC08, COLOMBIA):
        s = L.Scene.open(ls / n)
        k1, k2 = s.thermal_constants()
        t = L.lst_rte(*(_read(s, r) for r in ("trad", "urad", "drad", "atran")), k1=k1, k2=k2,
                      emissivity="usgs", emis=_read(s, "emis"))
        st = L.lst_from_st(_read(s, "st"), scale=s.st_scale())
        m = np.isfinite(t) & np.isfinite(st)
        assert m.sum() > 1000
        assert abs(float(np.median(t[m] - st[m]))) < 0.5, n


def test_l2sr_lst_unavailable_and_all_cloud(ls, tmp_path):
    s = L.Scene.open(ls / L2SR)
    assert s.level == "L2SR" and not s.has_st and s.pid.tier == "T2"
    grid = L.Grid.from_raster(s.band_path("qa"))
    out = tmp_path / "out"
    with pytest.warns(L.LstUnavailableWarning, match="LST unavailable"):
        man = L.write_composites([s], grid, [2019], out, months=(11, 11), allow_tier2=True,
                                 sensors=("OLI",), cog=False)
    with rasterio.open(out / "LST_2019.tif") as ds:
        assert np.isnan(ds.read(1)).all()
        assert ds.tags()["n_scenes"] == "0"
    # 100 % cloud (QA only 1 and 55052): zero valid pixels -> all NaN, n_obs 0
    with rasterio.open(out / "EVI_2019.tif") as ds:
        assert np.isnan(ds.read(1)).all() and ds.tags()["n_scenes"] == "1"
    with rasterio.open(out / "NOBS_2019.tif") as ds:
        n = ds.read()
        assert n[0].max() == 0 and n[1].max() == 0 and n[2].max() > 0
    used = man["scenes_used"][0]
    assert used["used_for"] == ["EVI"] and "LST unavailable (L2SR)" in used["notes"]
    assert man["warnings"] and "LST unavailable" in man["warnings"][0]
    # EVI itself is fine on the L2SR product
    with pytest.warns(L.LstUnavailableWarning):
        ac = L.annual_composite([s], grid, select=False, mask="none")
    assert np.isnan(ac.lst).all() and ac.n_obs_lst.max() == 0
    b, r, n = (_read(s, x).astype(np.float64) * 2.75e-5 - 0.2 for x in ("blue", "red", "nir"))
    den = n + 6 * r - 7.5 * b + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = 2.5 * (n - r) / den
    fill = (_read(s, "qa") & 1 == 1) | (b == -0.2) | (r == -0.2) | (n == -0.2)  # DN 0
    ref[(den <= 0) | (np.abs(ref) > 1) | fill] = np.nan
    assert np.isfinite(ac.evi).sum() > 1000  # snow/cloud: most EVI values fail the NaN rules
    np.testing.assert_allclose(ac.evi, ref.astype(np.float32), rtol=1e-5, atol=1e-6,
                               equal_nan=True)


# rasterio.merge itself uses affine's deprecated `*` (not our code)
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_brumadinho_composite_equals_rasterio_merge(ls, tmp_path):
    from rasterio.merge import merge

    scenes = [L.Scene.open(ls / n) for n in BRUMA]
    paths = []
    for s in scenes:  # EVI per scene at its native grid, then rasterio's max merge
        e = L.evi(_read(s, "blue"), _read(s, "red"), _read(s, "nir"), mask="none")
        with rasterio.open(s.band_path("red")) as src:
            prof = src.profile | {"dtype": "float32", "nodata": np.nan}
        p = tmp_path / f"{s.id}_EVI.tif"
        with rasterio.open(p, "w", **prof) as dst:
            dst.write(e, 1)
        paths.append(p)
    merged, mtr = merge(paths, method="max", nodata=np.nan)
    b = [s.bounds() for s in scenes]
    union = (min(x[0] for x in b), min(x[1] for x in b), max(x[2] for x in b),
             max(x[3] for x in b))
    grid = L.grid_for_bounds(union, scenes[0].georef()[0])
    assert (grid.transform.c, grid.transform.f, grid.width, grid.height) == \
        (583485.0, -2222685.0, 430, 300)  # SPEC §8 (4)
    assert grid.on_landsat_lattice() and mtr == grid.transform
    ac = L.annual_composite(scenes, grid, select=False, mask="none", variables=("EVI",))
    assert_array_equal(ac.evi, merged[0])
    assert ac.n_obs_evi.max() == 2 and (ac.n_obs_evi == 2).sum() > 100_000
    # season filter: January scenes are outside June-September
    by_year, skipped = L.select_scenes(scenes, [2019], L.CompositeOptions(), grid)
    assert by_year[2019] == [] and all("outside the season" in p.reason for p in skipped)


def test_warped_read_equals_nearest_reprojection(ls):
    """A scene on another lattice is read through a nearest WarpedVRT (no resampling blur)."""
    from rasterio.warp import Resampling, reproject

    s = L.Scene.open(ls / LT05)
    crs, tr, w, h = s.georef()
    left, bottom, right, top = s.bounds()
    grid = L.grid_for_bounds((left + 30000, bottom + 60000, left + 39000, bottom + 69000), crs)
    assert not grid.on_landsat_lattice() or tr.a != 30
    ac = L.annual_composite([s], grid, select=False, variables=("EVI",))
    e = L.evi(_read(s, "blue"), _read(s, "red"), _read(s, "nir"), qa=_read(s, "qa"),
              family="TM")
    ref = np.full(grid.shape, np.nan, np.float32)
    reproject(e, ref, src_transform=tr, src_crs=crs, dst_transform=grid.transform,
              dst_crs=grid.crs, resampling=Resampling.nearest, src_nodata=np.nan,
              dst_nodata=np.nan)
    assert np.isfinite(ref).any()
    assert_array_equal(ac.evi, ref)


def test_tar_bundle_read_in_place(ls, tmp_path):
    src = ls / LT05
    tar = tmp_path / f"{LT05}.tar"
    with tarfile.open(tar, "w") as tf:
        for f in sorted(src.iterdir()):
            tf.add(f, arcname=f.name)  # EarthExplorer layout: files at top level
    s = L.Scene.open(tar)
    assert s.in_tar and s.band_path("qa").startswith("/vsitar/")
    assert s.mtl is not None and s.mtl.product_id == LT05
    folder = L.Scene.open(src)
    grid = L.Grid.from_raster(folder.band_path("qa"))
    a = L.annual_composite([s], grid, select=False)
    b = L.annual_composite([folder], grid, select=False)
    assert_array_equal(a.evi, b.evi)
    assert_array_equal(a.lst, b.lst)
    # the same scene found twice (folder + bundle) is used once
    scenes, problems = L.discover_scenes([src, tar])
    assert len(scenes) == 1 and "duplicate" in problems[0].reason


def test_strict_drops_more_than_paper(ls):
    s = L.Scene.open(ls / COLOMBIA)
    grid = L.Grid.from_raster(s.band_path("qa"))
    p = L.annual_composite([s], grid, select=False, mask="paper")
    st = L.annual_composite([s], grid, select=False, mask="strict")
    assert st.n_obs_evi.sum() < p.n_obs_evi.sum()
    assert np.all(np.isnan(st.evi) | np.isfinite(p.evi))  # strict is a subset of paper
    json.dumps(st.scenes)  # scene records are JSON-serialisable
