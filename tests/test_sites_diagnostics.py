"""Per-mine onset of restoration, sensor step and Sen's slope interval (mlri.sites.diagnostics)
on the demo site, whose dumps are restored from 2002, 2006 and 2010 (planted truth)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("pyogrio")
pytest.importorskip("shapely")
pytest.importorskip("pyproj")
rasterio = pytest.importorskip("rasterio")

from mlri.classes import SI_CODES
from mlri.demo import RESTORED_FROM, mine_polygons
from mlri.sites._synthetic import write_polygons
from mlri.sites._table import Table
from mlri.sites.diagnostics import NOT_STRADDLING, mine_diagnostics
from mlri.sites.report import build_report
from mlri.sites.runfolder import open_run
from mlri.sites.workflow import run_sites

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

DUMPS = {f"dump_{y}": y for y in RESTORED_FROM.values()}


@pytest.fixture(scope="module")
def demo_sites(tmp_path_factory, demo_run):
    d = tmp_path_factory.mktemp("diag")
    geoms, fields = mine_polygons(demo_run["site"])
    write_polygons(d / "mines.gpkg", geoms, crs=demo_run["site"].crs, fields=fields)
    res = run_sites(demo_run["dir"], d / "mines.gpkg", d / "sites", id_col="id",
                    name_col="name", start_col="start", figures=False)
    return {"dir": d, "res": res, "geoms": dict(zip(fields["id"], geoms, strict=True)),
            "run": demo_run}


def _mask(run, geom):
    from rasterio.features import geometry_mask

    cls = run["classes"]
    return geometry_mask([geom.__geo_interface__], cls.shape, run["transform"], invert=True)


def _band(path, name):
    with rasterio.open(path) as ds:
        return ds.read(list(ds.descriptions).index(name) + 1).astype(np.float64)


def _inputs(run, var):
    out = []
    for y in run["years"]:
        with rasterio.open(run["inputs"] / f"{var}_{y}.tif") as ds:
            a = ds.read(1, masked=True).astype(np.float64)
        out.append(a.filled(np.nan))
    return np.stack(out)


def test_onset_median_of_each_restored_dump_is_its_planted_year(demo_sites):
    t = demo_sites["res"].table
    ids = list(t["id"])
    for mid, planted in DUMPS.items():
        i = ids.index(mid)
        med = t.numeric("onset_median_year")[i]
        q25, q75 = t.numeric("onset_q25_year")[i], t.numeric("onset_q75_year")[i]
        assert abs(med - planted) <= 1, (mid, med)
        assert q25 <= med <= q75
        assert t.numeric("onset_pixels")[i] > 100


def test_onset_counts_and_cumulative_curve_equal_direct_count(demo_sites):
    run = demo_sites["run"]
    onset = _band(run["dir"] / "onset.tif", "onset")
    si = np.isin(run["classes"], SI_CODES) & np.isfinite(onset)
    t = Table.from_csv(demo_sites["dir"] / "sites" / "sites.csv")
    long = Table.from_csv(demo_sites["dir"] / "sites" / "sites_onset.csv")
    lid = np.array([str(v) for v in long["id"]])
    for i, mid in enumerate(t["id"]):
        sel = si & _mask(run, demo_sites["geoms"][mid])
        yrs, n = np.unique(onset[sel], return_counts=True)
        rows = lid == mid
        assert long.numeric("year")[rows].tolist() == yrs.tolist()
        assert long.numeric("pixels")[rows].tolist() == n.tolist()
        cum = long.numeric("cumulative_ha")[rows]
        assert np.all(np.diff(cum) >= 0)  # monotone
        total = sel.sum() * 0.09  # 30 m pixels
        assert t.numeric("onset_pixels")[i] == sel.sum()
        assert t.numeric("onset_ha")[i] == pytest.approx(total, rel=1e-9)
        if sel.any():
            assert cum[-1] == pytest.approx(total, rel=1e-9)
            assert t.numeric("onset_median_year")[i] == float(np.median(onset[sel]))
            assert t.numeric("onset_q25_year")[i] == pytest.approx(
                float(np.percentile(onset[sel], 25)), abs=1e-9)


def test_sensor_step_per_mine_is_sensor_step_on_its_stable_pixels(demo_sites):
    from mlri.sensor import pool_steps, sensor_step

    run = demo_sites["run"]
    lst, evi = _inputs(run, "LST"), _inputs(run, "EVI")
    cls = run["classes"]
    diag = json.loads((demo_sites["dir"] / "sites" / "diagnostics.json").read_text())
    t = demo_sites["res"].table
    checked = 0
    steps = {"EVI": [], "LST": []}
    for k, m in enumerate(diag["mines"]):
        stable = _mask(run, demo_sites["geoms"][m["id"]]) & (cls != 0) & ~np.isin(cls, SI_CODES)
        got = m["sensor_step"]
        assert got["stable_pixels"] == int(stable.sum())
        if stable.sum() < 10:
            continue
        for var, arr in (("EVI", evi), ("LST", lst)):
            want = sensor_step(arr[:, stable], run["years"], stable=np.ones(int(stable.sum()),
                                                                            dtype=bool),
                               variable=var).as_dict()
            assert got[var] == want  # the same numbers, the same warning and reason
            assert t.numeric(f"sensor_{var}_step")[k] == want["step"]
            assert t[f"sensor_{var}_warning"][k] == want["warning"]
            steps[var].append(sensor_step(arr[:, stable], run["years"], stable=np.ones(
                int(stable.sum()), dtype=bool)))
        checked += 1
    assert checked >= 3  # pit, pit expansion, old dump, steppe control
    for var in ("EVI", "LST"):
        assert diag["pooled_sensor_step"][var] == pool_steps(steps[var]).as_dict()


def test_sen_interval_summary_equals_numpy_on_the_mine_pixels(demo_sites):
    run = demo_sites["run"]
    sl, lo, hi = (_band(run["dir"] / "trend.tif", b) for b in ("sen_slope", "sen_low",
                                                               "sen_high"))
    t = demo_sites["res"].table
    for i, mid in enumerate(t["id"]):
        sel = (_mask(run, demo_sites["geoms"][mid]) & (run["classes"] != 0) & np.isfinite(sl)
               & np.isfinite(lo) & np.isfinite(hi))
        assert t.numeric("sen_pixels")[i] == sel.sum() > 0
        assert t.numeric("sen_slope_median")[i] == float(np.median(sl[sel]))
        assert t.numeric("sen_low_median")[i] == float(np.median(lo[sel]))
        assert t.numeric("sen_high_median")[i] == float(np.median(hi[sel]))
        excl = (lo[sel] > 0) | (hi[sel] < 0)
        assert t.numeric("sen_excludes_zero_pct")[i] == 100.0 * float(np.mean(excl))
        assert t.numeric("sen_above_zero_pct")[i] == 100.0 * float(np.mean(lo[sel] > 0))
    ids = list(t["id"])  # restored dumps: the interval confirms the rise almost everywhere
    assert all(t.numeric("sen_above_zero_pct")[ids.index(m)] > 90 for m in DUMPS)


def test_report_shows_onset_figure_sensor_step_and_sen_interval(demo_sites):
    d = demo_sites["dir"]
    html = build_report(demo_sites["run"]["dir"], d / "report.html",
                        sites=d / "sites").read_text(encoding="utf-8")
    onset = html[html.index('id="onset"'):html.index('id="sensor-step"')]
    assert "hectares restored per year" in onset and "data:image/png;base64," in onset
    assert "Dump restored 2006" in onset and "<td>2006</td>" in onset
    sensor = html[html.index('id="sensor-step"'):html.index('id="sen-interval"')]
    assert "Landsat 5 TM to Landsat 8 OLI" in sensor and "Pooled over the mines" in sensor
    assert "Whole map" in sensor
    assert "% interval above 0" in html


def test_run_without_onset_or_sen_bands_says_so_and_never_fails(demo_sites, tmp_path):
    run = demo_sites["run"]["dir"]
    bare = tmp_path / "run"
    bare.mkdir()
    for p in run.iterdir():
        if p.name not in ("onset.tif", "trend.tif"):
            (bare / p.name).symlink_to(p)
    with rasterio.open(run / "trend.tif") as src:  # the trend bands before the interval
        prof = src.profile
        keep = [i + 1 for i, dsc in enumerate(src.descriptions) if not dsc.startswith("sen_")
                or dsc == "sen_slope"]
        prof.update(count=len(keep))
        with rasterio.open(bare / "trend.tif", "w", **prof) as dst:
            for j, b in enumerate(keep, 1):
                dst.write(src.read(b), j)
                dst.set_band_description(j, src.descriptions[b - 1])
    d = demo_sites["dir"]
    res = run_sites(bare, d / "mines.gpkg", tmp_path / "sites", id_col="id", name_col="name",
                    figures=False)
    assert not (tmp_path / "sites" / "sites_onset.csv").exists()
    assert "onset_median_year" not in res.table and "sen_slope_median" not in res.table
    assert "sensor_EVI_step" in res.table  # the inputs are still there
    notes = json.loads((tmp_path / "sites" / "diagnostics.json").read_text())["notes"]
    assert "mlri run --onset" in notes["onset"] and "sen_low" in notes["sen_interval"]
    html = build_report(bare, tmp_path / "r.html", sites=tmp_path / "sites").read_text()
    onset = html[html.index('id="onset"'):html.index('id="sensor-step"')]
    assert onset.count("<p>") == 1 and "mlri run --onset" in onset and "<img" not in onset
    assert "No Sen&#x27;s slope interval" in html or "No Sen's slope interval" in html


def test_no_sensor_step_when_the_years_do_not_straddle_the_switch(demo_sites):
    rf = dataclasses.replace(open_run(demo_sites["run"]["dir"]),
                             years=[float(y) for y in range(2000, 2012)])
    res = demo_sites["res"]
    diag = mine_diagnostics(rf, res.zonal.mines)
    assert diag.notes["sensor_step"] == NOT_STRADDLING
    assert all(s is None for s in diag.sensor)
    t = Table({"id": diag.ids})
    diag.add_columns(t)
    assert not any(c.startswith("sensor_") for c in t)
    from mlri.sites import figures as F
    from mlri.sites.report_diagnostics import diagnostics_sections

    html = "".join(diagnostics_sections(t, diag.onset_table(), diag.as_json(), F))
    assert "sensor-step" not in html and "When restoration started" in html


def test_report_warns_when_a_mine_step_moves_trends():
    from mlri.sites import figures as F
    from mlri.sites.report_diagnostics import diagnostics_sections

    step = {"step": 0.03, "se": 0.005, "ci_low": 0.02, "ci_high": 0.04, "p": 0.0001,
            "warning": True, "reason": "step +0.03 is significant and moves trends"}
    quiet = {"step": 0.001, "se": 0.005, "ci_low": -0.009, "ci_high": 0.011, "p": 0.8,
             "warning": False, "reason": "no significant step (p=0.8)"}
    from mlri.sites.diagnostics import MineDiagnostics

    d = MineDiagnostics(ids=["A", "B"], onset=[None, None], sen=[None, None],
                        sensor=[{"stable_pixels": 50, "EVI": step, "LST": quiet},
                                {"stable_pixels": 40, "EVI": quiet, "LST": quiet}],
                        notes={"onset": "the run folder has no onset.tif",
                               "sen_interval": "no trend.tif"})
    assert d.warned() == ["A (EVI)"]
    t = Table({"id": ["A", "B"]})
    d.add_columns(t)
    assert t["sensor_EVI_warning"] == [True, False]
    assert t.numeric("sensor_EVI_step").tolist() == [0.03, 0.001]
    html = "".join(diagnostics_sections(t, None, d.as_json(), F))
    box = html[html.index('class="sigwarn"'):]
    assert "move trends in A (EVI)" in box and "B" not in box[:box.index("</div>")]
    assert html.count('<tr class="warn">') == 1
    # without onset.tif: one line saying how to get it (the study's wording)
    from mlri.study.report import ONSET_HOW_TO

    html = "".join(diagnostics_sections(t, None, d.as_json(), F, onset_missing=ONSET_HOW_TO))
    onset = html[html.index('id="onset"'):html.index('id="sensor-step"')]
    assert onset.count("<p>") == 1 and "--onset" in onset and "<img" not in onset


@pytest.mark.parametrize("damage", ["moved", "truncated"])
def test_unreadable_inputs_leave_out_the_sensor_step_only(demo_sites, tmp_path, damage):
    import shutil

    run = demo_sites["run"]
    inputs = tmp_path / "inputs"
    shutil.copytree(run["inputs"], inputs)
    bare = tmp_path / "run"
    bare.mkdir()
    for p in run["dir"].iterdir():
        if p.name != "manifest.json":
            (bare / p.name).symlink_to(p)
    man = json.loads((run["dir"] / "manifest.json").read_text())
    man["parameters"]["lst"] = man["parameters"]["evi"] = [str(inputs)]
    (bare / "manifest.json").write_text(json.dumps(man))
    if damage == "moved":
        shutil.rmtree(inputs)
    else:  # a damaged copy: the header reads, the pixels do not
        f = inputs / "EVI_2010.tif"
        f.write_bytes(f.read_bytes()[:2000])
    diag = mine_diagnostics(open_run(bare), demo_sites["res"].zonal.mines)
    assert "cannot be read" in diag.notes["sensor_step"]
    assert all(s is None for s in diag.sensor)
    assert "onset" not in diag.notes and "sen_interval" not in diag.notes
    assert diag.onset[1]["median_year"] == demo_sites["res"].diagnostics.onset[1]["median_year"]


def test_gpkg_carries_the_per_mine_diagnostics(demo_sites):
    """sites.gpkg holds the onset, Sen's interval and sensor-step columns of sites.csv."""
    from pyogrio.raw import read

    meta, _, _, data = read(demo_sites["dir"] / "sites" / "sites.gpkg")
    cols = dict(zip(meta["fields"], data, strict=True))
    assert {"onset_median_year", "onset_ha", "sen_excludes_zero_pct",
            "sensor_EVI_step", "sensor_LST_p"} <= set(cols), sorted(cols)
    t = Table.from_csv(demo_sites["dir"] / "sites" / "sites.csv")
    got = dict(zip((str(i) for i in cols["id"]), cols["onset_median_year"], strict=True))
    want = dict(zip((str(i) for i in t["id"]), t["onset_median_year"], strict=True))
    assert got.keys() == want.keys()
    for k, y in want.items():
        assert got[k] == pytest.approx(y, nan_ok=True), k
