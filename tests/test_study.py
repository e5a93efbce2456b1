"""``mlri study``: many mines in several UTM zones, resumable, fault-isolating, one analysis."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("shapely")
pytest.importorskip("pyogrio")
pytest.importorskip("sklearn")
rasterio = pytest.importorskip("rasterio")

from mlri.sites._table import Table
from mlri.study import StudyConfig, load_study_file, make_study, run_study
from mlri.study.config import study_file_text

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:distributed.*")

THREE_ZONES = ["Hailar", "Shanbeimengnan", "Zhunnan"]  # UTM 50, 49, 45


def _truth(st):
    return {t["id"]: t for t in st.truth}


def _status(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in Table.from_csv(out / "status.csv").rows()}


# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scene_study(tmp_path_factory):
    """Landsat scene archives in three UTM zones, composited per mine; two broken mines."""
    root = tmp_path_factory.mktemp("scenes")
    st = make_study(root, mines_per_region=1, regions=THREE_ZONES, years=range(2005, 2017),
                    source="scenes", broken=True, seed=3, max_cloud=0.15)
    cfg = load_study_file(st.study_file)
    res = run_study(cfg, quiet=True)
    return st, cfg, res


def test_every_mine_on_its_own_utm_grid(scene_study):
    st, _cfg, res = scene_study
    truth = _truth(st)
    done = [r for r in res.records if r["status"] == "done"]
    assert {r["id"] for r in done} == set(truth)
    zones = set()
    for r in done:
        want = rasterio.crs.CRS.from_user_input(truth[r["id"]]["crs"]).to_epsg()
        assert r["epsg"] == want
        with rasterio.open(Path(r["folder"]) / "run" / "classes.tif") as ds:
            assert ds.crs.to_epsg() == want
            # on the Landsat 30 m lattice: pixel edges at 15 mod 30
            assert ds.transform.a == 30 and (ds.transform.c - 15) % 30 == 0
            assert (ds.transform.f - 15) % 30 == 0
        # composites were made from the scenes of that zone only
        man = json.loads((Path(r["folder"]) / "composites" / "manifest.json").read_text())
        assert man["grid"]["crs"] == f"EPSG:{want}"
        assert r["n_scenes"] > 10
        zones.add(want)
    assert zones == {32650, 32649, 32645}
    table = res.table
    assert list(table["epsg"]) == [r["epsg"] for r in done]


def test_restored_mines_high_si_active_low(scene_study):
    st, _, res = scene_study
    truth = _truth(st)
    t = res.table
    for i, mid in enumerate(t["id"]):
        si = t.numeric("pct_valid_SI")[i]
        tr = truth[mid]
        planted = round(tr["restored_fraction"] * tr["h"]) / tr["h"]
        assert abs(si / 100 - planted) < 0.15, (mid, si, planted)
        if tr["kind"] == "restored":
            assert si > 50
        else:
            assert si < 40


def test_study_report_has_onset_and_sensor_sections(scene_study):
    # before the tests below re-run the study into its folder
    _st, cfg, _res = scene_study
    html = (Path(cfg.out) / "report.html").read_text(encoding="utf-8")
    sec = html[html.index('id="onset"'):]
    assert "hectares restored per year" in sec[:sec.index('id="sensor-step"')]
    assert "Restoration onset: median" in html
    assert "Sen&#x27;s slope interval" in html or "Sen's slope interval" in html


def test_stac_catalog_as_scene_source_gives_the_same_study(scene_study, tmp_path):
    # the same scenes listed in a saved STAC ItemCollection (Planetary Computer style, absolute
    # hrefs) instead of folders: every mine's classes and the study table are identical
    from test_stac import _assets, _item

    from mlri.landsat.scene import find_scenes

    _st, cfg, res = scene_study
    items = []
    for folder in cfg.scenes:
        for s in find_scenes([folder]):
            items.append(_item(s.id, s, _assets(s, "", Path(folder)), "pc"))
    catalog = tmp_path / "items.json"
    catalog.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    cfg2 = dataclasses.replace(cfg, scenes=[str(catalog)], out=str(tmp_path / "out"))
    res2 = run_study(cfg2, quiet=True)
    assert list(res2.table["id"]) == list(res.table["id"])
    for col in ("pct_valid_SI", "pct_valid_SCI", "pct_valid_SAI"):
        np.testing.assert_array_equal(res2.table.numeric(col), res.table.numeric(col))
    done = [mid for mid, r in _status(Path(cfg.out)).items() if r["status"] == "done"]
    assert done
    for mid in done:
        a = next(Path(cfg.out).rglob(f"{mid}/run/classes.tif"))
        b = next(Path(cfg2.out).rglob(f"{mid}/run/classes.tif"))
        with rasterio.open(a) as da, rasterio.open(b) as db:
            np.testing.assert_array_equal(da.read(1), db.read(1))


def test_broken_mines_reported_rest_complete(scene_study):
    _, cfg, res = scene_study
    stat = _status(Path(cfg.out))
    assert stat["X_outside"]["status"] == "failed"
    assert "outside every scene" in stat["X_outside"]["reason"]
    assert stat["X_nogeom"]["status"] == "failed"
    assert "bad geometry" in stat["X_nogeom"]["reason"]
    assert [s["status"] for k, s in stat.items() if not k.startswith("X_")] == ["done"] * 3
    assert res.n_failed == 2 and "2 failed" in res.verdict
    man = json.loads((Path(cfg.out) / "manifest.json").read_text())
    assert man["command"] == "study" and man["status_counts"] == {"done": 3, "reused": 0,
                                                                 "failed": 2}
    # report leads with the answer and names the failures
    html = (Path(cfg.out) / "report.html").read_text()
    assert html.index("Answer") < html.index("Per-mine table") < html.index("Failed mines")
    assert "outside every scene" in html


def test_accuracy_and_resolved_study_file(scene_study):
    st, cfg, _ = scene_study
    out = Path(cfg.out)
    acc = json.loads((out / "accuracy.json").read_text())
    assert set(acc) == set(st.points)
    for r in acc.values():
        assert r["n_points_used"] > 20 and r["overall_accuracy"] > 0.8
    # the area-adjusted estimates are over the mine (its polygon), not its buffered grid
    mines = Table.from_csv(out / "mines.csv")
    area = dict(zip(map(str, mines["id"]), mines.numeric("valid_ha"), strict=True))
    for mid, r in acc.items():
        assert r["area_adjusted"]["total_area"] == pytest.approx(area[mid], rel=1e-6)
    # the resolved study file re-runs the same study: every mine reused, nothing recomputed
    again = load_study_file(out / "study.toml")
    assert again.reference_year == 2016 and again.composite["months"] == [6, 9]
    res2 = run_study(again, quiet=True)
    assert sorted(r["status"] for r in res2.records) == ["failed"] * 2 + ["reused"] * 3
    # a corrected start year is not part of a mine's key: nothing recomputed, table updated
    doc = json.loads(Path(st.mines).read_text())
    doc["features"][0]["properties"]["start"] = "2010"
    edited = out.parent / "mines_edited.geojson"
    edited.write_text(json.dumps(doc))
    res3 = run_study(dataclasses.replace(again, mines=str(edited), report=False), quiet=True)
    assert sorted(r["status"] for r in res3.records) == ["failed"] * 2 + ["reused"] * 3
    row = next(r for r in Table.from_csv(out / "mines.csv").rows() if r["id"] == "M01")
    assert row["start"] == "2010" and row["start_group"] == "From 2000"
    assert row["duration"] == 6


# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raster_study(tmp_path_factory):
    """Ready annual rasters per mine, six mines in three zones; processes (jobs=2)."""
    root = tmp_path_factory.mktemp("rasters")
    st = make_study(root, mines_per_region=2, regions=THREE_ZONES, years=range(2005, 2017),
                    source="rasters", seed=5, points=0)
    cfg = dataclasses.replace(load_study_file(st.study_file), jobs=2, report=False)
    res = run_study(cfg, quiet=True)
    return st, cfg, res


def test_across_mine_statistics_equal_hand_computation(raster_study):
    from scipy import stats
    from sklearn.cluster import KMeans

    _st, cfg, _res = raster_study
    out = Path(cfg.out)
    t = Table.from_csv(out / "mines.csv")
    g = json.loads((out / "groups.json").read_text())
    ref = g["reference_year"]
    assert ref == 2016
    si, sci, sai = (t.numeric(f"pct_valid_{c}") for c in ("SI", "SCI", "SAI"))
    starts = [str(s) for s in t["start"]]
    before = np.array([s.startswith("Before") or int(s) < 2000 for s in starts])
    assert 0 < before.sum() < len(before)
    kw = next(x for x in g["kruskal_wallis"] if x["group_col"] == "start_group")
    h = stats.kruskal(si[before], si[~before]).statistic
    # few mines: the p-values are exact permutation p-values (mlri.sites.stats), here checked
    # against scipy's exact permutation test on the same numbers
    p = stats.permutation_test((si[before], si[~before]),
                               lambda a, b: stats.kruskal(a, b).statistic,
                               permutation_type="independent", n_resamples=np.inf,
                               alternative="greater").pvalue
    got = next(x for x in kw["tests"] if x["metric"] == "SI")
    assert got["statistic"] == pytest.approx(h, rel=1e-12)
    assert got["p"] == pytest.approx(p, rel=1e-12) and got["p_method"] == "exact"
    dur = np.array([ref - 1999 if s.startswith("Before") else ref - int(s) for s in starts],
                   dtype=float)
    rho = stats.spearmanr(dur, si).statistic
    p = stats.permutation_test((dur,), lambda a: abs(stats.spearmanr(a, si).statistic),
                               permutation_type="pairings", n_resamples=np.inf,
                               alternative="greater").pvalue  # P(|rho*| >= |rho|)
    sp = next(x for x in g["spearman_duration"]["tests"] if x["metric"] == "SI")
    assert sp["rho"] == pytest.approx(rho, rel=1e-12) and sp["p"] == pytest.approx(p, rel=1e-12)
    assert rho > 0  # longer-mined (restored) mines have more SI
    km = KMeans(n_clusters=3, n_init=cfg.n_init, random_state=cfg.seed).fit_predict(
        np.column_stack([sci, sai]))
    lab = t.numeric("cluster").astype(int)
    # same partition (labels may differ): a bijection between the two labelings
    pairs = set(zip(km.tolist(), lab.tolist(), strict=True))
    assert len(pairs) == 3 and len({a for a, _ in pairs}) == 3
    # cluster 1 ("high") has the highest mean SI
    means = [si[lab == c].mean() for c in (1, 2, 3)]
    assert means == sorted(means, reverse=True)
    assert list(t["level"]) == [["high", "medium", "low"][c - 1] for c in lab]


def _mine_pixels(st, mid, run):
    """The mine's pixel mask on its run grid (pixel centre in the polygon)."""
    from rasterio.features import geometry_mask

    from mlri.sites import read_mines

    with rasterio.open(run / "classes.tif") as ds:
        cls, crs, tr = ds.read(1), ds.crs, ds.transform
    m = read_mines(st.mines, id_col="id").to_crs(crs.to_wkt())
    g = m.geoms[list(m.ids).index(mid)]
    return geometry_mask([g.__geo_interface__], cls.shape, tr, invert=True), cls


def test_per_mine_onset_sensor_step_and_sen_interval(raster_study):
    from mlri.classes import SI_CODES
    from mlri.sensor import pool_steps

    st, cfg, _res = raster_study
    out = Path(cfg.out)
    truth = _truth(st)
    t = Table.from_csv(out / "mines.csv")
    long = Table.from_csv(out / "onset_by_year.csv")
    diag = json.loads((out / "diagnostics.json").read_text())
    assert [m["id"] for m in diag["mines"]] == list(t["id"])
    lid = np.array([str(v) for v in long["id"]])
    steps: dict[str, list] = {"EVI": [], "LST": []}
    for i, mid in enumerate(t["id"]):
        run = out / "mines" / mid / "run"
        mask, cls = _mine_pixels(st, mid, run)
        tr = truth[mid]
        with rasterio.open(run / "onset.tif") as ds:
            onset = ds.read(1).astype(np.float64)
        sel = mask & np.isin(cls, SI_CODES) & np.isfinite(onset)
        assert t.numeric("onset_pixels")[i] == sel.sum() > 0
        # planted truth: the pixels with an onset are the restored part of the mine (its first
        # rows), and restoration started no earlier than the planted year
        rows = np.nonzero(sel)[0] - np.nonzero(mask)[0].min()
        assert np.mean(rows < round(tr["restored_fraction"] * tr["h"])) > 0.95
        assert np.mean(onset[sel] >= tr["onset"]) > 0.95
        med = t.numeric("onset_median_year")[i]
        assert med == float(np.median(onset[sel]))
        # the planted year or the next: the generator's first restored year equals the one
        # after it (its floor of 1/6), so the straight rise really starts a year later
        assert tr["onset"] <= med <= tr["onset"] + 1
        cum = long.numeric("cumulative_ha")[lid == mid]
        assert np.all(np.diff(cum) >= 0)
        assert cum[-1] == pytest.approx(sel.sum() * 0.09, rel=1e-9)
        assert cum[-1] == pytest.approx(t.numeric("onset_ha")[i], rel=1e-9)
        # Sen's slope interval over the mine's classified pixels
        with rasterio.open(run / "trend.tif") as ds:
            d = list(ds.descriptions)
            sl, lo, hi = (ds.read(d.index(b) + 1).astype(np.float64)
                          for b in ("sen_slope", "sen_low", "sen_high"))
        ok = mask & (cls != 0) & np.isfinite(sl) & np.isfinite(lo) & np.isfinite(hi)
        assert t.numeric("sen_slope_median")[i] == pytest.approx(np.median(sl[ok]), rel=1e-9)
        assert t.numeric("sen_excludes_zero_pct")[i] == pytest.approx(
            100 * np.mean((lo[ok] > 0) | (hi[ok] < 0)), rel=1e-9)
        # the sensor step of the mine (years 2005-2016 straddle the TM -> OLI switch)
        m = json.loads((out / "mines" / mid / "diagnostics.json").read_text())["mines"][0]
        assert m == diag["mines"][i]
        s = m["sensor_step"]
        assert s["stable_pixels"] == int((mask & (cls != 0) & ~np.isin(cls, SI_CODES)).sum())
        for var in ("EVI", "LST"):
            assert t.numeric(f"sensor_{var}_step")[i] == pytest.approx(s[var]["step"],
                                                                       rel=1e-9)
            steps[var].append(dataclasses.make_dataclass("S", ["step", "se"])(
                s[var]["step"], s[var]["se"]))
    for var in ("EVI", "LST"):
        assert diag["pooled_sensor_step"][var] == pool_steps(steps[var]).as_dict()


class _Stop(Exception):
    pass


def test_interrupted_study_resumes_to_same_outputs(raster_study, tmp_path):
    """Interrupted after two mines, with two mines missing from the mines file; resumed with
    all six: the two finished mines are reused (markers untouched), a half-written mine folder
    is redone, and the outputs equal those of the uninterrupted run (made with 2 processes)."""
    st, cfg_a, _ = raster_study
    doc = json.loads(Path(st.mines).read_text())
    four = tmp_path / "four.geojson"
    four.write_text(json.dumps({**doc, "features": doc["features"][:4]}))
    cfg_b = dataclasses.replace(cfg_a, out=str(tmp_path / "b"), jobs=1, mines=str(four))
    seen: list[str] = []

    def stop_after_two(rec):
        if rec["status"] == "done":
            seen.append(rec["id"])
            if len(seen) == 2:
                raise _Stop

    with pytest.raises(_Stop):
        run_study(cfg_b, quiet=True, on_mine_done=stop_after_two)
    out_b = Path(cfg_b.out)
    assert not (out_b / "manifest.json").exists()  # nothing looks complete
    marks = {m: (out_b / "mines" / m / "mine.json").stat().st_mtime_ns for m in seen}
    half = out_b / "mines" / "M04" / "run"  # as a kill in the middle of a mine leaves it
    half.mkdir(parents=True)
    (half / ".classes.tif.partial-1-x").write_bytes(b"")
    res = run_study(dataclasses.replace(cfg_b, mines=cfg_a.mines), quiet=True)
    st_b = {r["id"]: r["status"] for r in res.records}
    assert {m for m, s in st_b.items() if s == "reused"} == set(seen)
    assert sum(s == "done" for s in st_b.values()) == 4 and st_b["M04"] == "done"
    assert not (half / ".classes.tif.partial-1-x").exists()
    for m, t in marks.items():  # finished mines were not recomputed
        assert (out_b / "mines" / m / "mine.json").stat().st_mtime_ns == t
    out_a = Path(cfg_a.out)
    for name in ("mines.csv", "mlri_by_year.csv", "onset_by_year.csv", "diagnostics.json"):
        assert (out_a / name).read_text() == (out_b / name).read_text(), name
    ga, gb = (json.loads((o / "groups.json").read_text()) for o in (out_a, out_b))
    assert ga == gb
    for m in st_b:
        with rasterio.open(out_a / "mines" / m / "run" / "classes.tif") as a, \
                rasterio.open(out_b / "mines" / m / "run" / "classes.tif") as b:
            assert np.array_equal(a.read(), b.read())


# distributed's LocalCluster may leak a socket when its HTTP port is taken on a busy machine
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_cli_failing_mine_isolated_and_only_it_recomputed(raster_study):
    """A mine whose rasters break fails alone (exit 3); once fixed only it is recomputed."""
    from click.testing import CliRunner

    from mlri.cli import main

    st, cfg, _ = raster_study
    out = Path(cfg.out)
    before = (out / "mines.csv").read_text()
    bad = Path(st.rasters) / "M03" / "LST_2010.tif"
    good = bad.read_bytes()
    args = ["study", "--config", str(out / "study.toml"), "--no-report", "-q"]
    try:
        bad.write_bytes(b"not a tiff")
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 3, r.output
        assert "5 of 6 mines finished (0 computed, 5 reused), 1 failed" in r.output
        assert "Traceback" not in r.output
        stat = _status(out)
        assert stat["M03"]["status"] == "failed" and "LST_2010.tif" in stat["M03"]["reason"]
        assert len(Table.from_csv(out / "mines.csv")) == 5
    finally:
        bad.write_bytes(good)
    # fixed input (new modification time, so a new key): only M03 is computed again, here
    # on a dask.distributed cluster; the outputs are those of the first run
    r = CliRunner().invoke(main, [*args, "--scheduler", "local:1"])
    assert r.exit_code == 0, r.output
    assert "6 of 6 mines finished (1 computed, 5 reused), 0 failed" in r.output
    assert (out / "mines.csv").read_text() == before


def test_config_errors_name_the_setting(tmp_path):
    from click.testing import CliRunner

    from mlri.cli import main

    with pytest.raises(ValueError, match="either scenes"):
        run_study(StudyConfig(mines=str(tmp_path / "m.geojson"), out=str(tmp_path / "o")))
    (tmp_path / "s.toml").write_text('[study]\nmines = "m.geojson"\nbogus = 1\n')
    r = CliRunner().invoke(main, ["study", "--config", str(tmp_path / "s.toml")])
    assert r.exit_code == 1 and r.output.startswith("Error: ") and "bogus" in r.output
    (tmp_path / "s.toml").write_text('[study]\nmines = "m.geojson"\nrasters = "r/{id}"\n'
                                     '[stats]\nalpha = 0.05\nlst_units = "C"\n')
    r = CliRunner().invoke(main, ["study", "--config", str(tmp_path / "s.toml")])
    assert r.exit_code == 1 and "[stats]" in r.output and "lst_unit" in r.output
    # round trip of the TOML writer
    c = StudyConfig(mines="a b.gpkg", scenes=["x", "y"], years="2000-2005", stats={"alpha": 0.1},
                    points={"M 1": "p.csv"})
    (tmp_path / "rt.toml").write_text(study_file_text(c))
    back = load_study_file(tmp_path / "rt.toml")
    assert back.stats == {"alpha": 0.1} and back.points == {"M 1": str(tmp_path / "p.csv")}
    assert back.scenes == [str(tmp_path / "x"), str(tmp_path / "y")]
    assert not math.isnan(back.buffer) and Path(back.mines).name == "a b.gpkg"


def test_second_study_into_the_same_folder_is_refused(raster_study, tmp_path):
    """A study holds its folder's lock: a second study into it stops at once naming the first's
    PID (through the CLI: one Error line), and writes nothing there."""
    import os
    import subprocess
    import sys
    import time

    from click.testing import CliRunner

    import mlri
    from mlri._outputs import OutputInUseError
    from mlri.cli import main

    _, cfg, _ = raster_study
    out = tmp_path / "busy"
    out.mkdir()
    src = str(Path(mlri.__file__).resolve().parent.parent)
    code = ("import time\nfrom mlri._outputs import FolderLock\n"
            f"FolderLock({str(out)!r}).acquire()\nprint('locked', flush=True)\ntime.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": src})
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.perf_counter()
        with pytest.raises(OutputInUseError, match=rf"in use by PID {holder.pid} "):
            run_study(dataclasses.replace(cfg, out=str(out)), quiet=True)
        assert time.perf_counter() - t0 < 10.0
        study_file = tmp_path / "s.toml"
        study_file.write_text(study_file_text(dataclasses.replace(cfg, out=str(out))))
        r = CliRunner().invoke(main, ["study", "--config", str(study_file), "--quiet"])
        assert r.exit_code == 1, r.output
        assert r.output.startswith(f"Error: output folder {out} is in use by PID {holder.pid}")
        assert sorted(p.name for p in out.iterdir()) == [".mlri.lock"]
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    """Three mines with ready rasters in three zones and the two broken ones, finished without
    the report (so without class maps); tests copy its study folder before changing it."""
    root = tmp_path_factory.mktemp("small")
    st = make_study(root, mines_per_region=1, regions=THREE_ZONES, years=range(2005, 2017),
                    source="rasters", seed=7, points=0, broken=True)
    cfg = dataclasses.replace(load_study_file(st.study_file), report=False)
    res = run_study(cfg, quiet=True)
    assert [r["status"] for r in res.records] == ["done"] * 3 + ["failed"] * 2
    return st, cfg


def _copy_study(cfg, dest: Path):
    import shutil

    shutil.copytree(cfg.out, dest)
    return dataclasses.replace(cfg, out=str(dest))


def _mines_file(st, path: Path, order: list[str], edit=None) -> str:
    doc = json.loads(Path(st.mines).read_text())
    by_id = {f["properties"]["id"]: f for f in doc["features"]}
    feats = [by_id[i] for i in order]
    if edit is not None:
        feats = [edit(f) for f in feats]
    path.write_text(json.dumps({**doc, "features": feats}))
    return str(path)


def test_reordered_mines_are_reused_with_their_own_results(small_study, tmp_path):
    """Reuse binds a finished mine's record to the mine (its id), never to its former place in
    the mines file: with M01 moved last (the failed mines in between) every mine keeps its own
    grid and shares, each is reported once, and the failed mines stay failed."""
    st, cfg = small_study
    before = {r["id"]: r for r in Table.from_csv(Path(cfg.out) / "mines.csv").rows()}
    cfg2 = _copy_study(cfg, tmp_path / "out")
    order = ["M02", "M03", "X_outside", "X_nogeom", "M01"]
    seen: list[str] = []
    res = run_study(dataclasses.replace(cfg2, mines=_mines_file(st, tmp_path / "m.geojson",
                                                                order)),
                    quiet=True, on_mine_done=lambda r: seen.append(r["id"]))
    assert sorted(seen) == sorted(order)  # each mine once
    assert [r["id"] for r in res.records] == order
    assert [r["status"] for r in res.records] == ["reused"] * 2 + ["failed"] * 2 + ["reused"]
    stat = _status(Path(cfg2.out))
    after = {r["id"]: r for r in Table.from_csv(Path(cfg2.out) / "mines.csv").rows()}
    assert list(after) == ["M02", "M03", "M01"]
    for mid, row in after.items():
        for col in ("epsg", "lon", "lat", "area_ha", "pct_valid_SI", "pct_valid_SCI"):
            assert row[col] == before[mid][col], (mid, col)
        assert stat[mid]["epsg"] == before[mid]["epsg"]
    # a marker of another mine in a mine's folder (folder names of clashing ids follow their
    # order) is never reused: that mine is computed again
    marker = Path(cfg2.out) / "mines" / "M01" / "mine.json"
    rec = json.loads(marker.read_text())
    marker.write_text(json.dumps({**rec, "id": "M02"}))
    res = run_study(cfg2, quiet=True)
    assert {r["id"]: r["status"] for r in res.records}["M01"] == "done"


def test_mine_without_classified_pixels_fails(small_study, tmp_path):
    """A polygon that covers no pixel centre, or whose pixels are all unclassified, has no
    shares: the mine fails with the reason (exit 3), it is not "finished"."""
    from click.testing import CliRunner

    from mlri.cli import main

    st, cfg = small_study

    def tiny(f):
        x, y = f["geometry"]["coordinates"][0][0]
        x, y, e = x + 0.002, y - 0.002, 1e-6  # ~0.1 m, inside the mine's rasters
        ring = [[x, y], [x + e, y], [x + e, y + e], [x, y + e], [x, y]]
        return {**f, "geometry": {"type": "Polygon", "coordinates": [ring]}}

    mines = _mines_file(st, tmp_path / "tiny.geojson", ["M01"], edit=tiny)
    res = run_study(dataclasses.replace(cfg, mines=mines, out=str(tmp_path / "a")), quiet=True)
    assert res.records[0]["status"] == "failed"
    assert "too few valid pixels" in res.records[0]["reason"]
    assert "covers no pixel centre" in res.records[0]["reason"]
    assert res.verdict.startswith("0 of 1 mines finished")
    assert not (tmp_path / "a" / "mines" / "M01" / "mine.json").exists()  # tried again later
    # every pixel unclassified (fewer years than min_valid): failed too, through the CLI
    one = _mines_file(st, tmp_path / "one.geojson", ["M01"])
    r = CliRunner().invoke(main, ["study", "--config", st.study_file, "--mines", one,
                                  "--out", str(tmp_path / "b"), "--min-valid", "13",
                                  "--no-report", "-q"])
    assert r.exit_code == 3, r.output
    assert "0 of 1 mines finished" in r.output
    reason = _status(tmp_path / "b")["M01"]["reason"]
    assert "too few valid pixels" in reason and "is classified" in reason


def test_study_file_values_of_the_wrong_type_name_file_and_key(tmp_path):
    """Nothing in a study file is coerced: a value of the wrong type (or a bad option) is one
    settings error (exit 1) naming the file, the table and the key, before any work."""
    from click.testing import CliRunner

    from mlri.cli import main

    head = '[study]\nmines = "m.geojson"\nrasters = "r/{id}"\nout = "o"\n'
    cases = {
        "years = 2005": ("[study] years", '"2000-2011,2013-2019"'),
        'jobs = "two"': ("[study] jobs", "an integer"),
        'buffer = "x"': ("[study] buffer", "a number"),
        "k = 2.5": ("[study] k", "an integer"),
        'max_maps = "many"': ("[study] max_maps", "an integer"),
        "scenes = 5": ("[study] scenes", "a list of texts"),
        'report = "no"': ("[study] report", "true or false"),
        '[stats]\nalpha = "high"': ("[stats] alpha", "a number"),
        "[stats]\nalpha = 2.0": ("[stats] settings", "alpha must be in (0, 1)"),
        '[composite]\nmonths = "6-9"': ("[composite] months", "[6, 9]"),
        "[points]\nM01 = 5": ("[points] M01", "text"),
    }
    f = tmp_path / "s.toml"
    for body, (key, words) in cases.items():
        f.write_text(head + body + "\n")
        r = CliRunner().invoke(main, ["study", "--config", str(f), "-q"])
        assert r.exit_code == 1, (body, r.output)
        assert r.output.startswith("Error: ") and "Traceback" not in r.output, body
        assert key in r.output and str(f) in r.output and words in r.output, (body, r.output)
    assert not (tmp_path / "o").exists()
    # a flag replaces the file's bad option, so the file's other options are checked alone
    f.write_text(head + '[stats]\nhurst_method = "x"\n')
    r = CliRunner().invoke(main, ["study", "--config", str(f), "-q",
                                  "--hurst-method", "expanding"])
    assert "hurst_method" not in r.output
    # the Python API: the setting and its flag
    for kw, words in (({"k": 2.5}, "k (CLI --k) must be an integer"),
                      ({"years": 2005}, "years (CLI --years) must be text"),
                      ({"stats": {"alpha": "high"}}, "[stats] alpha must be a number")):
        with pytest.raises(TypeError, match=re.escape(words)):
            StudyConfig(mines="m.geojson", rasters=str(tmp_path), **kw).validate()


def test_empty_mines_file_is_an_error(tmp_path):
    from click.testing import CliRunner

    from mlri.cli import main

    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    r = CliRunner().invoke(main, ["study", "--mines", str(empty), "--rasters", str(tmp_path),
                                  "--out", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 1, r.output
    assert r.output.startswith(f"Error: {empty} holds no features; --mines needs")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("exc", "code", "words"), [("Terminated", 143, "SIGTERM"),
                                                    ("KeyboardInterrupt", 130, "Ctrl-C")])
def test_interrupted_study_exits_like_every_command(monkeypatch, tmp_path, exc, code, words):
    """SIGTERM (mlri._outputs.Terminated) and Ctrl-C end in the command group's Error line and
    exit code (143 / 130), after the study's note that finished mines are kept."""
    from click.testing import CliRunner

    import mlri._outputs
    import mlri.study.runner
    from mlri.cli import main

    error = getattr(mlri._outputs, exc, KeyboardInterrupt)

    def stopped(*_a, **_k):
        raise error

    monkeypatch.setattr(mlri.study.runner, "run_study", stopped)
    r = CliRunner().invoke(main, ["study", "--mines", "m.geojson", "--rasters", str(tmp_path),
                                  "-q"])
    assert r.exit_code == code, r.output
    assert "finished mines are kept" in r.output
    assert f"Error: interrupted by {words}" in r.output


def test_mines_finished_without_report_get_their_maps(small_study, tmp_path):
    """Mines finished with --no-report are reused by a run with the report and only get their
    class maps drawn (nothing recomputed): the report shows every map."""
    _st, cfg = small_study
    cfg2 = _copy_study(cfg, tmp_path / "out")
    mines = Path(cfg2.out) / "mines"
    ok = ["M01", "M02", "M03"]
    assert not any((mines / m / "map.png").exists() for m in ok)
    stamp = {m: (mines / m / "run" / "classes.tif").stat().st_mtime_ns for m in ok}
    res = run_study(dataclasses.replace(cfg2, report=True), quiet=True)
    assert [r["status"] for r in res.records] == ["reused"] * 3 + ["failed"] * 2
    html = (Path(cfg2.out) / "report.html").read_text(encoding="utf-8")
    for m in ok:
        assert (mines / m / "map.png").is_file()
        assert "map.png" in json.loads((mines / m / "mine.json").read_text())["files"]
        assert (mines / m / "run" / "classes.tif").stat().st_mtime_ns == stamp[m]
        assert f'alt="mine {m}"' in html
    # the maps are part of the finished mines now: the next run draws nothing
    res = run_study(dataclasses.replace(cfg2, report=True), quiet=True)
    assert all(r["seconds"] == 0.0 for r in res.records)


def test_paths_are_accepted_where_settings_take_a_path(tmp_path):
    from pathlib import Path

    c = StudyConfig(mines=Path("m.geojson"), rasters=tmp_path, out=tmp_path / "o")
    c.validate()
    assert c.mines == "m.geojson" and c.rasters == str(tmp_path)
