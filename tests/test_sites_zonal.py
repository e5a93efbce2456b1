"""Mine polygons and zonal class areas on a synthetic class raster with known areas."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("pyogrio")
shapely = pytest.importorskip("shapely")
pyproj = pytest.importorskip("pyproj")

from _sites_support import write_classes

from mlri.sites import SitesWarning, read_mines, zonal_stats
from mlri.sites._geo import apply_affine as P
from mlri.sites._synthetic import pixel_box, write_polygons

# rasterio 1.4 still applies affine transforms with `*` (deprecated by affine 3)
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

HA = 30.0 * 30.0 / 1e4  # hectares per 30 m pixel
NAMES = {1: "SD", 2: "ND", 3: "NI", 4: "SAI", 5: "SCI", 6: "SI_H_undefined"}


@pytest.fixture(scope="module")
def run(demo_run):
    return demo_run


def _mask_rect(shape, r0, r1, c0, c1):
    m = np.zeros(shape, bool)
    m[r0:r1, c0:c1] = True
    return m


def _expected(cls, mask):
    return np.bincount(cls[mask], minlength=7)


def _zonal(run, geoms, ids, tmp_path, crs=None, name="m.gpkg", **kw):
    p = write_polygons(tmp_path / name, geoms, crs=crs or run["crs"],
                       fields={"mine_id": ids})
    mines = read_mines(p, id_col="mine_id")
    return zonal_stats(run["dir"] / "classes.tif", mines, mlri=run["dir"] / "mlri.tif", **kw)


def test_exact_counts_hectares_and_shares(run, tmp_path):
    T, cls = run["transform"], run["classes"]
    a = pixel_box(T, 20, 50, 10, 30)
    hole = pixel_box(T, 60, 90, 60, 100).difference(pixel_box(T, 70, 80, 70, 80))
    multi = shapely.MultiPolygon([pixel_box(T, 0, 5, 0, 7), pixel_box(T, 100, 110, 140, 150)])
    r = _zonal(run, [a, hole, multi], ["a", "hole", "multi"], tmp_path)
    shape = cls.shape
    masks = [_mask_rect(shape, 20, 50, 10, 30),
             _mask_rect(shape, 60, 90, 60, 100) & ~_mask_rect(shape, 70, 80, 70, 80),
             _mask_rect(shape, 0, 5, 0, 7) | _mask_rect(shape, 100, 110, 140, 150)]
    t = r.table
    for i, m in enumerate(masks):
        exp = _expected(cls, m)
        np.testing.assert_array_equal(r.counts[i], exp)
        assert t["n_pixels"][i] == m.sum()
        assert t["area_ha"][i] == pytest.approx(m.sum() * HA)
        assert t["polygon_area_ha"][i] == pytest.approx(m.sum() * HA)
        assert t["n_valid"][i] == exp[1:].sum()
        for code, nm in NAMES.items():
            assert t[f"n_{nm}"][i] == exp[code]
            assert t[f"ha_{nm}"][i] == pytest.approx(exp[code] * HA)
            assert t[f"pct_{nm}"][i] == pytest.approx(100 * exp[code] / m.sum())
            assert t[f"pct_valid_{nm}"][i] == pytest.approx(100 * exp[code] / exp[1:].sum())
        assert t["n_SI"][i] == exp[4] + exp[5] + exp[6]
        assert t["n_nodata"][i] == exp[0]
        shares = sum(t[f"pct_{c}"][i] for c in ("SI", "NI", "ND", "SD", "nodata"))
        assert shares == pytest.approx(100.0)
        assert t["status"][i] == "ok"
        assert t["outside_pct"][i] == pytest.approx(0.0, abs=1e-9)


def test_mean_mlri_per_class_and_year(run, tmp_path):
    T, cls, mlri = run["transform"], run["classes"], run["mlri"]
    # rows 0..25 include the NaN block-row of year index 1
    r = _zonal(run, [pixel_box(T, 0, 25, 5, 45)], ["m"], tmp_path)
    m = _mask_rect(cls.shape, 0, 25, 5, 45)
    for code, nm in NAMES.items():
        got = r.mlri_mean(nm)[0]
        for k in range(len(run["years"])):
            v = mlri[k][m & (cls == code)]
            v = v[np.isfinite(v)]
            if v.size:
                assert got[k] == pytest.approx(float(v.mean()), rel=1e-6)
            else:
                assert np.isnan(got[k])
    # SI pools codes 4, 5, 6; the long table agrees with the array
    si = r.mlri_mean("SI")[0]
    v = mlri[2][m & np.isin(cls, [4, 5, 6])]
    v = v[np.isfinite(v)]
    assert si[2] == pytest.approx(float(v.mean()), rel=1e-6)
    long = r.mlri_table()
    rows = [row for row in long.rows() if row["class"] == "SI" and row["year"] == 2002]
    assert rows[0]["n"] == v.size
    assert rows[0]["mean_mlri"] == pytest.approx(float(v.mean()), rel=1e-6)
    # year index 1 has NaN in block-row 0: n counts only finite values
    n1 = [row["n"] for row in long.rows() if row["class"] == "all" and row["year"] == 2001]
    assert n1 == [int(np.isfinite(mlri[1][m]).sum())]


@pytest.mark.parametrize(("epsg", "ext"), [(4326, "geojson"), (32649, "shp"), (3857, "gpkg")])
def test_other_crs_gives_same_numbers(run, tmp_path, epsg, ext):
    T = run["transform"]
    geoms = [pixel_box(T, 20, 50, 10, 30), pixel_box(T, 60, 90, 60, 100),
             shapely.Polygon([P(T, 5, 5), P(T, 60, 5), P(T, 40, 70), P(T, 5, 40)])]
    ref = _zonal(run, geoms, ["a", "b", "c"], tmp_path)
    tr = pyproj.Transformer.from_crs(run["epsg"], epsg, always_xy=True)
    moved = [shapely.transform(shapely.segmentize(g, 30.0),
                               lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
             for g in geoms]
    got = _zonal(run, moved, ["a", "b", "c"], tmp_path, crs=f"EPSG:{epsg}", name=f"m.{ext}")
    np.testing.assert_array_equal(got.counts, ref.counts)
    np.testing.assert_allclose(got.table["area_ha"], ref.table["area_ha"])
    np.testing.assert_allclose(got.table["polygon_area_ha"], ref.table["polygon_area_ha"],
                               rtol=1e-6)
    np.testing.assert_allclose(got.mlri_sum, ref.mlri_sum, rtol=1e-12)


def test_overlapping_polygons_each_get_their_own_counts(run, tmp_path):
    T, cls = run["transform"], run["classes"]
    a, b = pixel_box(T, 20, 50, 10, 30), pixel_box(T, 25, 60, 20, 40)
    r = _zonal(run, [a, b, a], ["a", "b", "a_again"], tmp_path)
    ea = _expected(cls, _mask_rect(cls.shape, 20, 50, 10, 30))
    eb = _expected(cls, _mask_rect(cls.shape, 25, 60, 20, 40))
    np.testing.assert_array_equal(r.counts[0], ea)
    np.testing.assert_array_equal(r.counts[1], eb)
    np.testing.assert_array_equal(r.counts[2], ea)
    union = _mask_rect(cls.shape, 20, 50, 10, 30) | _mask_rect(cls.shape, 25, 60, 20, 40)
    assert r.counts[0].sum() + r.counts[1].sum() > union.sum()


def test_invalid_outside_and_empty_features_warn_by_name(run, tmp_path):
    T, cls = run["transform"], run["classes"]
    bow = shapely.Polygon([P(T, 10, 10), P(T, 30, 30), P(T, 30, 10), P(T, 10, 30)])
    far = shapely.box(0, 0, 1000, 1000)  # far away in UTM coordinates
    tiny = pixel_box(T, 40.1, 40.2, 40.1, 40.2)
    good = pixel_box(T, 0, 10, 10, 20)
    p = write_polygons(tmp_path / "bad.gpkg", [bow, far, None, tiny, good],
                       crs=run["crs"], fields={"mine_id": ["bowtie", "far-away", "empty",
                                                          "tiny", "good"]})
    with pytest.warns(SitesWarning) as rec:  # noqa: PT031
        mines = read_mines(p, id_col="mine_id")
        r = zonal_stats(run["dir"] / "classes.tif", mines)
    msgs = " | ".join(str(w.message) for w in rec)
    assert "'bowtie'" in msgs and "repaired" in msgs and "Self-intersection" in msgs
    assert "'far-away'" in msgs and "outside the raster" in msgs
    assert "'empty'" in msgs and "empty or missing geometry" in msgs
    assert "'tiny'" in msgs and "all-touched" in msgs
    st = dict(zip(r.table["id"], r.table["status"], strict=False))
    assert st == {"bowtie": "ok", "far-away": "outside", "empty": "skipped",
                  "tiny": "no pixels", "good": "ok"}
    assert "repaired" in r.table["note"][0]
    # the repaired bow-tie = two triangles; counts equal rasterising the repaired geometry
    from rasterio.features import geometry_mask

    fixed = shapely.make_valid(bow)
    m = geometry_mask([fixed], cls.shape, T, invert=True)
    np.testing.assert_array_equal(r.counts[0], _expected(cls, m))
    np.testing.assert_array_equal(r.counts[4], _expected(cls, _mask_rect(cls.shape, 0, 10, 10,
                                                                          20)))
    assert r.counts[1].sum() == 0 and r.counts[2].sum() == 0
    assert list(r.usable()) == [True, False, False, False, True]


def test_invalid_skip_option(run, tmp_path):
    T = run["transform"]
    bow = shapely.Polygon([P(T, 10, 10), P(T, 30, 30), P(T, 30, 10), P(T, 10, 30)])
    p = write_polygons(tmp_path / "b.gpkg", [bow], crs=run["crs"], fields={"mine_id": ["bw"]})
    with pytest.warns(SitesWarning, match="'bw' skipped: invalid geometry"):
        m = read_mines(p, id_col="mine_id", invalid="skip")
    assert m.status == ["skipped"] and m.geoms[0] is None


def test_partly_outside(run, tmp_path):
    T, cls = run["transform"], run["classes"]
    g = pixel_box(T, 110, 130, 140, 160)  # a quarter inside (bottom-right corner)
    with pytest.warns(SitesWarning, match=r"'p': 75\.0% of its area lies outside"):
        r = _zonal(run, [g], ["p"], tmp_path)
    np.testing.assert_array_equal(r.counts[0], _expected(cls, _mask_rect(cls.shape, 110, 120,
                                                                         140, 150)))
    assert r.table["status"][0] == "partial"
    assert r.table["outside_pct"][0] == pytest.approx(75.0)
    assert r.usable()[0]


def test_all_touched_rule(run, tmp_path):
    T, cls = run["transform"], run["classes"]
    g = pixel_box(T, 5.25, 8.25, 3.25, 9.25)
    centre = _zonal(run, [g], ["g"], tmp_path)
    touched = _zonal(run, [g], ["g"], tmp_path, all_touched=True)
    assert centre.counts[0].sum() == 3 * 6
    assert touched.counts[0].sum() == 4 * 7
    np.testing.assert_array_equal(centre.counts[0], _expected(cls, _mask_rect(cls.shape, 5, 8,
                                                                              3, 9)))
    np.testing.assert_array_equal(touched.counts[0],
                                  _expected(cls, _mask_rect(cls.shape, 5, 9, 3, 10)))
    assert centre.raster["rule"] == "pixel_centre"
    assert touched.raster["rule"] == "all_touched"


def test_chunked_windows_equal_single_window(run, tmp_path):
    T = run["transform"]
    g = shapely.Polygon([P(T, 2, 3), P(T, 148, 10), P(T, 120, 118), P(T, 10, 90)])
    one = _zonal(run, [g], ["g"], tmp_path)
    many = _zonal(run, [g], ["g"], tmp_path, chunk=16)
    np.testing.assert_array_equal(one.counts, many.counts)
    np.testing.assert_array_equal(one.mlri_n, many.mlri_n)
    np.testing.assert_allclose(one.mlri_sum, many.mlri_sum, rtol=1e-12)


def test_without_mlri_stack(run, tmp_path):
    T = run["transform"]
    p = write_polygons(tmp_path / "m.gpkg", [pixel_box(T, 0, 10, 0, 10)], crs=run["crs"],
                       fields={"mine_id": ["x"]})
    r = zonal_stats(run["dir"] / "classes.tif", p, id_col="mine_id")
    assert r.mlri_sum is None and r.years == []
    assert len(r.mlri_table()) == 0
    with pytest.raises(ValueError, match=r"no mlri\.tif"):
        r.mlri_mean()


def test_geographic_raster_areas(tmp_path):
    info = write_classes(tmp_path / "geo", height=100, width=100, epsg=4326, pixel=0.001,
                         origin=(110.0, 40.0))
    T = info["transform"]
    g = pixel_box(T, 10, 60, 20, 70)
    p = write_polygons(tmp_path / "g.gpkg", [g], crs="EPSG:4326", fields={"mine_id": ["g"]})
    r = zonal_stats(tmp_path / "geo" / "classes.tif", p, id_col="mine_id")
    geod = pyproj.Geod(ellps="WGS84")
    area = abs(geod.geometry_area_perimeter(g)[0]) / 1e4
    assert r.counts[0].sum() == 2500
    assert r.table["area_ha"][0] == pytest.approx(area, rel=1e-6)
    assert r.table["polygon_area_ha"][0] == pytest.approx(area, rel=1e-9)


def test_id_column_errors(run, tmp_path):
    T = run["transform"]
    g = [pixel_box(T, 0, 10, 0, 10), pixel_box(T, 10, 20, 0, 10)]
    p = write_polygons(tmp_path / "d.gpkg", g, crs=run["crs"],
                       fields={"code": ["a", "a"], "nm": ["x", "y"]})
    with pytest.raises(ValueError, match=r"must be unique.*'a'.*--id-col"):
        read_mines(p, id_col="code")
    with pytest.raises(ValueError, match=r"no column 'mine' for the id; columns are: code, nm"):
        read_mines(p, id_col="mine")
    with pytest.raises(ValueError, match=r"no column 'yr' for the start.*--start-col"):
        read_mines(p, id_col="nm", start_col="yr")
    m = read_mines(p)  # no id column: FIDs
    assert m.ids == ["1", "2"]
    with pytest.raises(FileNotFoundError, match=r"nothing\.gpkg does not exist; check --mines"):
        read_mines(tmp_path / "nothing.gpkg")


def test_polygons_without_crs_assumed_in_raster_crs(run, tmp_path):
    T, cls = run["transform"], run["classes"]
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        p = write_polygons(tmp_path / "n.gpkg", [pixel_box(T, 0, 10, 0, 10)], crs=None,
                           fields={"id": [7]})
    m = read_mines(p)
    assert m.crs is None
    with pytest.warns(SitesWarning, match="no CRS; assuming"):
        r = zonal_stats(run["dir"] / "classes.tif", m)
    np.testing.assert_array_equal(r.counts[0], _expected(cls, _mask_rect(cls.shape, 0, 10, 0,
                                                                         10)))
    assert r.table["id"] == ["7"]


hyp = pytest.importorskip("hypothesis")


@hyp.settings(max_examples=25, deadline=None)
@hyp.given(r0=hyp.strategies.integers(-5, 115), c0=hyp.strategies.integers(-5, 145),
           h=hyp.strategies.integers(1, 40), w=hyp.strategies.integers(1, 40))
def test_rectangles_match_array_slices(run, tmp_path_factory, r0, c0, h, w):
    T, cls = run["transform"], run["classes"]
    from mlri.sites.polygons import Mines

    m = Mines(ids=["r"], geoms=np.array([pixel_box(T, r0, r0 + h, c0, c0 + w)], dtype=object),
              crs=run["crs"].to_wkt(), status=["ok"], notes=[""])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SitesWarning)
        r = zonal_stats(run["dir"] / "classes.tif", m, chunk=32)
    sl = cls[max(r0, 0):max(min(r0 + h, 120), 0), max(c0, 0):max(min(c0 + w, 150), 0)]
    np.testing.assert_array_equal(r.counts[0], np.bincount(sl.ravel(), minlength=7))


def test_flag_shares_per_mine(run, tmp_path):
    import shutil

    import rasterio

    T, cls = run["transform"], run["classes"]
    # a copy of the run's flags with a block of "no observation at all" (255) pixels
    shutil.copy(run["dir"] / "classes.tif", tmp_path / "classes.tif")
    with rasterio.open(run["dir"] / "flags.tif") as ds:
        prof, flags = ds.profile, ds.read(1)
    flags[60:65, 25:35] = 255
    with rasterio.open(tmp_path / "flags.tif", "w", **prof) as ds:
        ds.write(flags, 1)
    # around the planted pit lake (EVI < 0: every year dropped)
    p = write_polygons(tmp_path / "f.gpkg", [pixel_box(T, 60, 90, 25, 55)], crs=run["crs"],
                       fields={"mine_id": ["f"]})
    r = zonal_stats(tmp_path / "classes.tif", p, flags=tmp_path / "flags.tif",
                    id_col="mine_id")
    m = _mask_rect(cls.shape, 60, 90, 25, 55)
    f = flags[m]
    assert np.count_nonzero(((f & 8) > 0) & (f != 255)) > 0  # the real run drops years here
    for name, bit in (("years_dropped", 8), ("few_valid", 4), ("constant", 1),
                      ("hurst_undefined", 16), ("slope0_significant", 2)):
        want = np.count_nonzero(((f & bit) > 0) & (f != 255))   # 255 = no data, no bits
        assert r.table[f"flag_{name}_pct"][0] == pytest.approx(100 * want / m.sum()), name

