"""Annual composites on the synthetic C2 archive: CLI end to end, truth recovery, bad inputs."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from numpy.testing import assert_array_equal

import mlri
from mlri import landsat as L
from mlri.cli import main
from mlri.landsat.synthetic import make_archive

YEARS = [y for y in range(2000, 2020) if y != 2012]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    return make_archive(root / "archive", mixed_zone=True, tar_years=(2005, 2014), seed=7)


@pytest.fixture(scope="module")
def composites(archive, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "composites"
    res = CliRunner().invoke(main, [
        "composite", "--scenes", str(archive.root), "--aoi", str(archive.aoi),
        "--years", "2000-2019", "--months", "6-9", "--mask", "paper", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, res


def _stack(out: Path, var: str) -> np.ndarray:
    arrs = []
    for y in YEARS:
        with rasterio.open(out / f"{var}_{y}.tif") as ds:
            arrs.append(ds.read(1))
    return np.stack(arrs)


def _confusion(truth_pos: np.ndarray, pred_pos: np.ndarray) -> dict[str, float]:
    tp = int((truth_pos & pred_pos).sum())
    tn = int((~truth_pos & ~pred_pos).sum())
    fp = int((~truth_pos & pred_pos).sum())
    fn = int((truth_pos & ~pred_pos).sum())
    n = tp + tn + fp + fn
    po = (tp + tn) / n
    pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / n**2
    return {"tp": tp, "tn": tn, "fp": fp, "fn": fn, "producer": tp / (tp + fn),
            "user": tp / (tp + fp), "kappa": (po - pe) / (1 - pe)}


def test_end_to_end_recovers_planted_restoration(archive, composites):
    """CLI composite -> mlri.index -> mlri.trend -> mlri.classify vs the planted truth.

    Truth "restored" = planted revegetated dumps; truth "not restored" = planted degrading
    land.  Stationary land (stable vegetation, the active pit) is excluded: the paper's MK rule
    on MLRI (a ratio to running extrema) flags many stationary pixels as SI by construction.
    Class borders are excluded too (2-pixel erosion: reprojected scenes move edges by a pixel).
    """
    from scipy.ndimage import binary_erosion

    out, _ = composites
    lst, evi = _stack(out, "LST"), _stack(out, "EVI")
    assert np.nanmin(lst) > 250 and np.nanmax(lst) < 340  # Kelvin, no hot distractor
    assert np.nanmax(np.abs(evi)) <= 1
    ix = mlri.index(lst, evi, YEARS)
    tr = mlri.trend(ix.mlri, YEARS)
    classes, _flags = mlri.classify(tr, dropped=ix.dropped)
    truth, _year = archive.truth_arrays()
    assert truth.shape == classes.shape
    restored = binary_erosion(truth == 1, iterations=2)
    degrading = binary_erosion(truth == 2, iterations=2)
    region = restored | degrading
    assert restored.sum() > 500 and degrading.sum() > 300
    si = np.isin(classes, [4, 5, 6])
    cm = _confusion(restored[region], si[region])
    assert cm["kappa"] >= 0.9, cm
    assert cm["producer"] >= 0.9 and cm["user"] >= 0.9, cm
    # degrading land is classified as a decrease, not only "not SI"
    assert np.isin(classes[degrading], [1, 2]).mean() > 0.9


def test_outputs_layout_tags_and_manifest(archive, composites):
    out, res = composites
    names = {p.name for p in out.iterdir()}
    for y in YEARS:
        assert {f"EVI_{y}.tif", f"LST_{y}.tif", f"NOBS_{y}.tif"} <= names
    assert "EVI_2012.tif" not in names and "manifest.json" in names
    assert not [n for n in names if n.startswith(".")]  # no staging leftovers
    with rasterio.open(out / "LST_2005.tif") as ds:
        assert ds.dtypes[0] == "float32" and np.isnan(ds.nodata)
        assert ds.crs == archive.grid.crs and ds.transform == archive.grid.transform
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        t = ds.tags()
        assert t["variable"] == "LST" and t["year"] == "2005" and t["months"] == "6-9"
        assert t["units"] == "K" and t["sensors"] == "LT05" and int(t["n_scenes"]) >= 4
        assert all(s.startswith("LT05_L2SP_") for s in t["scene_ids"].split(","))
    with rasterio.open(out / "NOBS_2015.tif") as ds:
        assert ds.count == 3 and ds.dtypes[0] == "uint16" and ds.nodata == 65535
        assert ds.descriptions == ("n_obs_evi", "n_obs_lst", "n_scenes_with_data")
        assert ds.tags()["sensors"] == "LC08"
        n = ds.read()
        assert (n[0] <= n[2]).all() and n[2].max() >= 4
    man = json.loads((out / "manifest.json").read_text())
    skipped = {s["scene"]: s["reason"] for s in man["scenes_skipped"]}
    assert any("outside the season" in r for r in skipped.values())
    assert any("Tier 2" in r for r in skipped.values())
    assert man["years_skipped"] == [
        {"year": 2012, "reason": "no scene of the season in the inputs"}]
    used = man["scenes_used"]
    assert any(u["location"].endswith(".tar") for u in used)  # bundles read in place
    reads = {u["read"] for u in used}
    assert reads == {"window (no resampling)", "reprojected (nearest)"}  # mixed UTM zones
    assert all(("_122032_" in u["scene"]) == u["read"].startswith("reprojected") for u in used)
    assert man["grid_on_landsat_lattice"] is True
    assert "2012 skipped" in res.output


def test_overwrite_semantics(archive, composites, tmp_path):
    out, _ = composites
    runner = CliRunner()
    args = ["composite", "--scenes", str(archive.root), "--aoi", str(archive.aoi), "--years",
            "2019", "--out", str(out)]
    res = runner.invoke(main, args)
    assert res.exit_code != 0 and "--overwrite" in res.output
    res = runner.invoke(main, ["composite", "--scenes", str(archive.root), "--aoi",
                               str(archive.aoi), "--years", "2019", "--out",
                               str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 0 and res.output == ""  # quiet: no progress bar, no summary
    res = runner.invoke(main, [*args[:-1], str(tmp_path / "o"), "--overwrite", "--mask",
                               "strict"])
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert man["parameters"]["mask"] == "strict"


def test_overwrite_replaces_every_output_of_the_earlier_run(archive, tmp_path):
    """An overwrite removes the earlier run's rasters of years (and variables) this run does
    not make, as its manifest records them, so the folder holds one run; a file the earlier
    run did not write stays."""
    d = _small_set(archive, tmp_path)
    out = tmp_path / "out"
    res = _run(archive, d, out, "-q")
    assert res.exit_code == 0, res.output
    (out / "EVI_2008.tif").write_bytes(b"not written by mlri")
    (out / "notes.txt").write_text("mine")
    res = CliRunner().invoke(main, ["composite", "--scenes", str(d), "--aoi", str(archive.aoi),
                                    "--years", "2009", "--variables", "EVI", "--out", str(out),
                                    "--overwrite", "-q"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "EVI_2008.tif", "EVI_2009.tif", "NOBS_2009.tif", "manifest.json", "notes.txt"]
    assert list(json.loads((out / "manifest.json").read_text())["years"]) == ["2009"]


def test_in_memory_strips_and_files_agree(archive, composites):
    """Strip processing (bounded memory) gives the same result as one block and as the files."""
    out, _ = composites
    scenes = L.find_scenes(archive.root)
    whole = L.annual_composite(scenes, archive.grid, 2014)
    strips = L.annual_composite(scenes, archive.grid, 2014, block_pixels=1024, io_threads=1,
                                n_threads=1)
    assert_array_equal(whole.evi, strips.evi)
    assert_array_equal(whole.lst, strips.lst)
    assert_array_equal(whole.n_obs_evi, strips.n_obs_evi)
    with rasterio.open(out / "EVI_2014.tif") as ds:
        assert_array_equal(ds.read(1), whole.evi)
    assert len(whole.scenes) == 6 and all(s["valid_evi"] > 0 for s in whole.scenes)


def test_pairing_greenest_and_season(archive):
    scenes = L.find_scenes(archive.root)
    ind = L.annual_composite(scenes, archive.grid, 2010)
    grn = L.annual_composite(scenes, archive.grid, 2010, pairing="greenest")
    assert_array_equal(ind.evi, grn.evi)
    ok = np.isfinite(grn.lst)
    assert (grn.lst[ok] <= ind.lst[ok]).all() and (grn.lst[ok] < ind.lst[ok]).any()
    july = L.annual_composite(scenes, archive.grid, 2010, months=(7, 7))
    assert july.n_obs_evi.max() < ind.n_obs_evi.max()


def test_mixed_zone_scenes_are_reprojected_nearest(archive):
    """Zone-51 scenes composited on the zone-50 grid == their native composite, warped nearest."""
    from rasterio.warp import Resampling, reproject

    scenes = [s for s in L.find_scenes(archive.root)
              if s.acquired.year == 2016 and s.pid.path == 122]
    crs, tr, w, h = scenes[0].georef()
    assert crs.to_epsg() == 32651 and archive.grid.crs.to_epsg() == 32650
    native = L.annual_composite(scenes, L.Grid(crs, tr, w, h), select=False)
    on_grid = L.annual_composite(scenes, archive.grid, select=False)
    ref = np.full(archive.grid.shape, np.nan, np.float32)
    reproject(native.evi, ref, src_transform=tr, src_crs=crs,
              dst_transform=archive.grid.transform, dst_crs=archive.grid.crs,
              resampling=Resampling.nearest, src_nodata=np.nan, dst_nodata=np.nan)
    assert np.isfinite(ref).sum() > 1000
    assert_array_equal(on_grid.evi, ref)


def test_rte_and_strict_on_full_bundle(tmp_path):
    a = make_archive(tmp_path / "full", size=(30, 30), years=(2005, 2015), full=True,
                     dates_per_season=2, distractors=False, nested=False, seed=3)
    scenes = L.find_scenes(a.root)
    for year in (2005, 2015):
        st = L.annual_composite(scenes, a.grid, year)
        rte = L.annual_composite(scenes, a.grid, year, lst_method="rte", emissivity="usgs")
        ok = np.isfinite(st.lst) & np.isfinite(rte.lst)
        assert ok.mean() > 0.9
        assert np.abs(st.lst[ok] - rte.lst[ok]).max() < 0.1
        sob = L.annual_composite(scenes, a.grid, year, lst_method="rte")
        assert np.nanmedian(np.abs(sob.lst - st.lst)) < 1.5  # another emissivity, same RTE
        strict = L.annual_composite(scenes, a.grid, year, mask="strict", st_qa_max=5.0)
        assert strict.n_obs_evi.sum() <= st.n_obs_evi.sum()


def test_write_empty_years_and_no_scene_error(archive, tmp_path):
    scenes = L.find_scenes(archive.root)
    man = L.write_composites(scenes, archive.grid, "2011-2012", tmp_path / "e",
                             write_empty_years=True, cog=False)
    with rasterio.open(tmp_path / "e" / "EVI_2012.tif") as ds:
        assert np.isnan(ds.read(1)).all() and ds.tags()["n_scenes"] == "0"
    assert man["years"]["2012"]["n_scenes"] == 0
    with pytest.raises(L.NoScenesError, match="outside the season"):
        L.write_composites(scenes, archive.grid, [2010], tmp_path / "n", months=(1, 2))
    assert not (tmp_path / "n" / "manifest.json").exists()


# ---- bad inputs: clear errors naming the scene, nothing half-written --------------------------
def _copy_scene(archive, year: int, path: int = 123) -> Path:
    for s in archive.scenes:
        if s["acquired"].startswith(str(year)) and s["tier"] == "T1" and not s["special"] \
                and f"_{path:03d}032_" in s["product_id"] and not s["path"].endswith(".tar"):
            return Path(s["path"])
    raise AssertionError("no scene")


def _small_set(archive, tmp_path: Path, years=(2009, 2010)) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    for y in years:
        src = _copy_scene(archive, y)
        shutil.copytree(src, d / src.name)
    return d


def _assert_nothing_written(out: Path) -> None:
    if out.exists():
        assert [p.name for p in out.iterdir()] == [], list(out.iterdir())


def _run(archive, scenes_dir: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, ["composite", "--scenes", str(scenes_dir), "--aoi",
                                     str(archive.aoi), "--years", "2009-2010", "--out", str(out),
                                     *extra])


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_corrupt_tiff_in_bundle(archive, tmp_path, damage):
    d = _small_set(archive, tmp_path)
    bad = _copy_scene(archive, 2010, path=122)
    pid = bad.name
    tar = d / f"{pid}.tar"
    with tarfile.open(tar, "w") as tf:
        for f in sorted(bad.iterdir()):
            if f.name.endswith("_SR_B4.TIF"):  # TM NIR: damage the compressed pixel data
                cut = tmp_path / f.name
                data = bytearray(f.read_bytes())
                if damage == "truncated":
                    data = data[: len(data) // 3]
                else:  # header and directory intact, deflate streams garbage
                    data[200: len(data) // 2] = bytes(range(256)) * ((len(data) // 2 - 200)
                                                                     // 256) + \
                        bytes((len(data) // 2 - 200) % 256)
                cut.write_bytes(bytes(data))
                tf.add(cut, arcname=f.name)
            else:
                tf.add(f, arcname=f.name)
    out = tmp_path / "out"
    res = _run(archive, d, out)
    assert res.exit_code == 1
    assert pid in res.output and "SR_B4" in res.output
    assert "download the scene again" in res.output
    _assert_nothing_written(out)
    with pytest.raises(L.SceneError) as ei:
        L.write_composites(L.find_scenes(d), archive.grid, [2009, 2010], out)
    assert ei.value.scene == pid
    _assert_nothing_written(out)


def test_tar_with_dot_slash_members(archive, tmp_path):
    """``tar -C scene -cf scene.tar .`` stores ``./NAME``: GDAL's /vsitar/ knows the member
    as ``NAME``; the bundle is listed as usable and composited like its folder."""
    src = _copy_scene(archive, 2009)
    d = tmp_path / "in"
    d.mkdir()
    with tarfile.open(d / f"{src.name}.tar", "w") as tf:
        tf.add(src, arcname=".")
    scene = L.Scene.open(d / f"{src.name}.tar")
    assert scene.mtl is not None and "/./" not in scene.band_path("qa")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["composite", "--scenes", str(d), "--aoi", str(archive.aoi),
                                    "--years", "2009", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    ref = L.annual_composite([L.Scene.open(src)], archive.grid, select=False)
    with rasterio.open(out / "EVI_2009.tif") as ds:
        assert_array_equal(ds.read(1), ref.evi)


def test_missing_mtl(archive, tmp_path):
    d = _small_set(archive, tmp_path)
    victim = next(p for p in sorted(d.iterdir()) if p.is_dir())
    for f in victim.glob("*_MTL.*"):
        f.unlink()
    out = tmp_path / "out"
    res = _run(archive, d, out)
    assert res.exit_code == 1 and victim.name in res.output and "no MTL" in res.output
    _assert_nothing_written(out)
    res = _run(archive, d, out, "--skip-bad")
    assert res.exit_code == 0, res.output
    man = json.loads((out / "manifest.json").read_text())
    assert any(s["scene"] == victim.name and "no MTL" in s["reason"]
               for s in man["scenes_skipped"])
    res = _run(archive, d, tmp_path / "out2", "--no-require-mtl")
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "out2" / "manifest.json").read_text())
    assert any(victim.name == u["scene"] and "no MTL" in u["notes"][0]
               for u in man["scenes_used"])


def _renamed_scene(archive, d: Path, new_pid: str, *, keep=None) -> Path:
    src = _copy_scene(archive, 2009, path=122)
    dst = d / new_pid
    dst.mkdir()
    for f in src.iterdir():
        name = f.name.replace(src.name, new_pid)
        if keep and not any(k in name for k in keep):
            continue
        text_like = name.endswith((".txt", ".json"))
        if text_like:
            (dst / name).write_text(f.read_text().replace(src.name, new_pid))
        else:
            shutil.copy(f, dst / name)
    return dst


@pytest.mark.parametrize(("new_pid", "words", "keep"), [
    ("LX05_L2SP_122032_20090705_20100101_02_T1", ["unknown sensor"], None),
    ("LC08_L1TP_122032_20090705_20100101_02_T1", ["Level-1", "L2SP"], None),
    ("LT05_L2SP_122032_20090705_20100101_01_T1", ["Collection 01"], None),
])
def test_unusable_scene_named(archive, tmp_path, new_pid, words, keep):
    d = _small_set(archive, tmp_path)
    _renamed_scene(archive, d, new_pid, keep=keep)
    out = tmp_path / "out"
    res = _run(archive, d, out)
    assert res.exit_code == 1
    assert new_pid in res.output
    for w in words:
        assert w in res.output
    _assert_nothing_written(out)


def test_level1_files_and_precollection(archive, tmp_path):
    d = tmp_path / "l1"
    d.mkdir()
    (d / "LT51670552010352MLK00_B4.TIF").write_bytes(b"II*\x00")
    with pytest.raises(L.SceneError, match="pre-collection"):
        L.find_scenes(d)
    scenes, problems = L.discover_scenes([d])
    assert scenes == [] and problems[0].scene == "LT51670552010352MLK00"


def test_scenes_command_lists(archive):
    res = CliRunner().invoke(main, ["scenes", str(archive.root)])
    assert res.exit_code == 0
    assert "LT05_L2SP_123032_" in res.output and "SR+ST" in res.output


# ---- grids ----------------------------------------------------------------------------------
def test_utm_and_snapping():
    assert L.utm_crs(-44.12, -20.13).to_epsg() == 32623  # Brumadinho: north zone, not 32723
    assert L.utm_crs(119.8, 39.6).to_epsg() == 32650
    x0, ytop, w, h = L.snap_bounds((583470.0, -2231700.0, 596390.0, -2222690.0))
    assert (x0 - 15) % 30 == 0 and (ytop - 15) % 30 == 0
    assert x0 <= 583470 and ytop >= -2222690 and x0 + 30 * w >= 596390
    g = L.grid_for_aoi((-44.14, -20.15, -44.10, -20.11), buffer=150)
    assert g.crs.to_epsg() == 32623 and g.on_landsat_lattice() and g.res == (30.0, 30.0)
    assert g.transform.f < 0  # south of the equator: north zone, negative northings
    with pytest.raises(ValueError, match="projected"):
        L.grid_for_aoi((-44.14, -20.15, -44.10, -20.11), crs="EPSG:4326")


@pytest.mark.parametrize(("args", "words"), [
    (["--grid-like", "{geojson}"], ["--grid-like", "{geojson}", "GeoTIFF"]),
    (["--aoi", "{aoi}", "--res", "0"], ["--res 0"]),
    (["--aoi", "{aoi}", "--res", "-30"], ["--res -30"]),
    (["--aoi", "{aoi}", "--res", "nan"], ["--res nan"]),
    (["--aoi", "{aoi}", "--crs", "EPSG:4326"], ["--crs EPSG:4326", "projected"]),
])
def test_grid_errors_name_the_flag_and_file(archive, tmp_path, args, words):
    subs = {"geojson": str(archive.aoi), "aoi": str(archive.aoi)}
    args = [a.format(**subs) for a in args]
    res = CliRunner().invoke(main, ["composite", "--scenes", str(archive.root), *args,
                                    "--years", "2005", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)  # no traceback
    for w in words:
        assert w.format(**subs) in res.output
    with pytest.raises(ValueError, match="res=0"):
        L.snap_bounds((0, 0, 100, 100), res=0)
    with pytest.raises(ValueError, match=str(archive.aoi)):
        L.Grid.from_raster(archive.aoi)


def test_aoi_geopackage(tmp_path, archive):
    pyogrio = pytest.importorskip("pyogrio")
    shapely = pytest.importorskip("shapely")
    geom, crs = L.read_aoi(archive.aoi)
    path = tmp_path / "aoi.gpkg"
    pyogrio.raw.write(path, np.array([shapely.to_wkb(geom)], dtype=object), [], [],
                      crs="EPSG:4326", geometry_type="Polygon", driver="GPKG")
    g = L.grid_for_aoi(path)
    assert g == archive.grid
    res = CliRunner().invoke(main, ["composite", "--scenes", str(archive.root), "--aoi",
                                    str(archive.aoi), "--bbox", "1", "2", "3", "4",
                                    "--years", "2005", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "exactly one of" in res.output
