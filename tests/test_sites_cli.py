"""The sites / sample / accuracy / report commands through ``mlri.cli.main`` and the HTML."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

pytest.importorskip("pyogrio")
pytest.importorskip("shapely")
pytest.importorskip("pyproj")
from _sites_support import write_classes
from click.testing import CliRunner

from mlri.cli import main
from mlri.sites._synthetic import pixel_box, write_polygons

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")


def _read_csv(path):
    with open(path, newline="") as fh:  # noqa: PTH123
        return list(csv.DictReader(fh))


def _invoke(*args):
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return res


@pytest.fixture(scope="module")
def project(tmp_path_factory, demo_run):
    d = tmp_path_factory.mktemp("proj")
    (d / "run").symlink_to(demo_run["dir"], target_is_directory=True)
    info = demo_run
    T = info["transform"]
    boxes = [(2, 22, 3, 28), (30, 55, 5, 35), (10, 40, 60, 95), (60, 90, 10, 40),
             (65, 95, 70, 110), (45, 70, 45, 75), (5, 25, 95, 118), (80, 99, 45, 70),
             (35, 60, 90, 119)]
    geoms = [pixel_box(T, *b) for b in boxes]
    geoms.append(pixel_box(T, 500, 510, 500, 510))  # outside
    n = len(geoms)
    write_polygons(d / "mines.gpkg", geoms, crs=info["crs"], fields={
        "code": [f"M{i}" for i in range(n)],
        "label": [f"Mine {chr(65 + i)}" for i in range(n)],
        "opened": ["Before 2000", 2003, 1990, 2010, "Before 2000", 2001, 1998, 2012, 2005,
                   2000],
        "prov": ["east", "west"] * (n // 2)})
    return {"dir": d, "info": info}


@pytest.fixture(scope="module")
def sites_out(project):
    d = project["dir"]
    res = _invoke("sites", "--run", d / "run", "--mines", d / "mines.gpkg", "--out",
                  d / "sites", "--id-col", "code", "--name-col", "label", "--start-col",
                  "opened", "--region-col", "prov", "--max-maps", 2, "--no-progress")
    assert res.exit_code == 0, res.output
    return res


def test_sites_command_outputs(project, sites_out):
    d = project["dir"] / "sites"
    for f in ("sites.csv", "sites_mlri.csv", "sites.gpkg", "groups.json", "clusters.csv",
              "manifest.json", "figures/class_shares_by_mine.png",
              "figures/class_shares_by_start_group.png", "figures/class_shares_by_region.png",
              "figures/mlri_trajectories.png", "figures/clusters.png",
              "figures/onset_cumulative.png", "sites_onset.csv", "diagnostics.json"):
        assert (d / f).is_file(), f
    assert len(list((d / "figures" / "mines").glob("*.png"))) == 2
    out = sites_out.output
    assert "10 mines (9 ok, 1 outside)" in out
    assert "warning: " in out and "'M9' (Mine J): outside the raster" in out
    assert "Kruskal-Wallis by start_group" in out
    rows = _read_csv(d / "sites.csv")
    assert [r["id"] for r in rows] == [f"M{i}" for i in range(10)]
    r0 = rows[0]
    assert r0["start_group"] == "Before 2000" and float(r0["duration"]) == 2019 - 2000 + 1
    assert float(rows[1]["duration"]) == 2019 - 2003
    assert float(r0["area_ha"]) == pytest.approx(20 * 25 * 0.09)
    g = json.loads((d / "groups.json").read_text())
    assert g["reference_year"] == 2019 and g["n_usable"] == 9
    assert [k["group_col"] for k in g["kruskal_wallis"]] == ["start_group", "region", "level"]
    assert g["kruskal_wallis"][0]["tests"][0]["n"] == 9
    assert g["clustering"]["k"] == 3
    man = json.loads((d / "manifest.json").read_text())
    assert man["command"] == "sites"
    assert man["parameters"]["rasterisation"] == "pixel_centre"
    assert man["parameters"]["id_col"] == "code"
    assert "sites.csv" in man["outputs"]
    assert any(i["path"].endswith("classes.tif") and "sha256" in i for i in man["inputs"])
    # second run into the same folder is refused, naming the fix
    res = _invoke("sites", "--run", project["dir"] / "run", "--mines",
                  project["dir"] / "mines.gpkg", "--out", d, "--id-col", "code")
    assert res.exit_code != 0
    assert "already holds results" in res.output and "--overwrite" in res.output


def test_sites_gpkg_is_in_raster_crs(project, sites_out):
    import pyogrio

    info = pyogrio.read_info(project["dir"] / "sites" / "sites.gpkg")
    assert info["features"] == 10
    assert "32650" in info["crs"]
    assert {"id", "status", "pct_valid_SI", "cluster", "level"} <= set(info["fields"])


def _n_points(project):
    """12 points per mapped class 1..6, or all pixels of a smaller class."""
    cls = project["info"]["classes"]
    return sum(min(12, int((cls == c).sum())) for c in range(1, 7))


def _labelled_points(project, tmp):
    res = _invoke("sample", "--classes", project["dir"] / "run", "--n", 12, "--seed", 5,
                  "--out", tmp / "pts.csv")
    assert res.exit_code == 0, res.output
    n_points = _n_points(project)
    assert f"{n_points} points" in res.output and "mlri accuracy" in res.output
    assert (tmp / "pts.manifest.json").is_file()
    rows = _read_csv(tmp / "pts.csv")
    for k, r in enumerate(rows):  # every 9th point is relabelled SD (wrong unless mapped SD)
        r["reference"] = r["map_class"] if k % 9 else "SD"
    with (tmp / "labelled.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return tmp / "labelled.csv"


def test_sample_and_accuracy_commands(project, tmp_path):
    pts = _labelled_points(project, tmp_path)
    res = _invoke("accuracy", "--classes", project["dir"] / "run" / "classes.tif", "--points",
                  pts, "--out", tmp_path / "acc.json")
    assert res.exit_code == 0, res.output
    assert "rows = map, columns = reference" in res.output
    assert "area-adjusted overall accuracy" in res.output
    acc = json.loads((tmp_path / "acc.json").read_text())
    assert acc["n_points_used"] == _n_points(project) and acc["scheme"] == "classes6"
    rows = _read_csv(pts)
    wrong = sum(r["reference"] != r["map_class"] for r in rows)
    assert wrong == sum(k % 9 == 0 and r["map_class"] != "SD" for k, r in enumerate(rows))
    assert wrong > 0
    assert np.trace(np.array(acc["matrix"])) == _n_points(project) - wrong
    assert acc["area_adjusted"]["strata_source"] == "stratum column of the points"
    assert (tmp_path / "acc.manifest.json").is_file()
    # binary view of the same points
    res = _invoke("accuracy", "--classes", project["dir"] / "run", "--points", pts, "--scheme",
                  "classes4", "--out", tmp_path / "acc4.json", "--no-area-adjusted")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "acc4.json").read_text())["labels"] == ["SD", "ND", "NI",
                                                                         "SI"]
    # output exists -> refused
    res = _invoke("accuracy", "--classes", project["dir"] / "run", "--points", pts, "--out",
                  tmp_path / "acc.json")
    assert res.exit_code != 0 and "--overwrite" in res.output


@pytest.mark.parametrize(("args", "expect"), [
    (["sites", "--run", "{d}/nope", "--mines", "{d}/mines.gpkg", "--out", "{t}/o"],
     ["nope does not exist", "--run"]),
    (["sites", "--run", "{d}/run", "--mines", "{d}/missing.gpkg", "--out", "{t}/o"],
     ["missing.gpkg does not exist", "--mines"]),
    (["sites", "--run", "{d}/run", "--mines", "{d}/mines.gpkg", "--out", "{t}/o", "--id-col",
      "mine_id"], ["no column 'mine_id'", "code, label, opened, prov", "--id-col"]),
    (["sites", "--run", "{d}/run", "--mines", "{d}/mines.gpkg", "--out", "{t}/o", "--id-col",
      "prov"], ["must be unique", "--id-col"]),
    (["accuracy", "--classes", "{d}/run/classes.tif", "--points", "{t}/none.csv"],
     ["none.csv does not exist", "--points"]),
    (["accuracy", "--classes", "{d}/x.tif", "--points", "{t}/none.csv"],
     ["x.tif does not exist", "--classes"]),
    (["sample", "--classes", "{d}/run", "--out", "{t}/p.kml"], [".csv, .geojson or .gpkg"]),
    (["report", "--run", "{d}/run", "--sites", "{d}", "--out", "{t}/r.html"],
     ["holds no sites.csv", "--sites"]),
    (["report", "--run", "{d}/run", "--out", "{t}/r.pdf"], ["must end in .html"]),
    # k-means parameters out of range are refused by their flag (they used to skip the
    # clustering with scikit-learn's message and exit 0); the same ranges as `mlri study`
    (["sites", "--run", "{d}/run", "--mines", "{d}/mines.gpkg", "--out", "{t}/o", "--k", "0"],
     ["--k", "2<=x<=20"]),
    (["sites", "--run", "{d}/run", "--mines", "{d}/mines.gpkg", "--out", "{t}/o", "--k", "-2"],
     ["--k", "2<=x<=20"]),
    (["sites", "--run", "{d}/run", "--mines", "{d}/mines.gpkg", "--out", "{t}/o", "--n-init",
      "0"], ["--n-init", "x>=1"]),
    (["sites", "--run", "{d}/run", "--mines", "{d}/mines.gpkg", "--out", "{t}/o", "--seed",
      "-5"], ["--seed", "0<=x<="]),
    # a file as --run: said to be a file, with the folder to give
    (["sites", "--run", "{d}/run/classes.tif", "--mines", "{d}/mines.gpkg", "--out", "{t}/o"],
     ["classes.tif is a file", "--run takes the output folder", "{d}/run"]),
])
def test_errors_name_the_file_and_the_fix(project, tmp_path, args, expect):
    a = [x.format(d=project["dir"], t=tmp_path) for x in args]
    res = _invoke(*a)
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    for e in expect:
        assert e.format(d=project["dir"]) in res.output, res.output
    assert not (tmp_path / "o").exists()


def _small_run(tmp_path, n_mines, **fields):
    info = write_classes(tmp_path / "run", height=40, width=50)
    T = info["transform"]
    boxes = [(0, 20, 10, 30), (20, 40, 0, 20), (10, 30, 25, 50)][:n_mines]
    write_polygons(tmp_path / "m.geojson", [pixel_box(T, *b) for b in boxes], crs=info["crs"],
                   fields={"id": list(range(1, n_mines + 1)), **fields})
    return tmp_path / "run", tmp_path / "m.geojson"


def test_summary_says_which_tests_were_not_run(tmp_path):
    # one mine: no test can run; the summary said "no class share differs at p<0.05"
    run, mines = _small_run(tmp_path, 1, start=["2005"])
    res = _invoke("sites", "--run", run, "--mines", mines, "--out", tmp_path / "s",
                  "--start-col", "start", "--no-cluster", "--no-figures", "--max-maps", 0)
    assert res.exit_code == 0, res.output
    assert ("Kruskal-Wallis by start_group: not run (needs at least 2 non-empty groups, "
            "found 1") in res.output
    assert "Spearman with duration: not run (needs at least 3 mines" in res.output
    assert "p<0.05" not in res.output


def test_empty_mines_file_is_refused(tmp_path):
    run, _ = _small_run(tmp_path, 1)
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    res = _invoke("sites", "--run", run, "--mines", empty, "--out", tmp_path / "s")
    assert res.exit_code == 1
    assert f"{empty} holds no features" in res.output and "--mines" in res.output
    assert not (tmp_path / "s").exists()


def test_out_holding_another_commands_results_is_refused(tmp_path):
    run, mines = _small_run(tmp_path, 3)
    manifest = {"command": "run", "parameters": {"years": [2000, 2001]}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    args = ["--mines", mines, "--no-cluster", "--no-figures", "--max-maps", 0, "--overwrite"]
    # the run folder itself: its manifest.json (the run's provenance) used to be replaced
    res = _invoke("sites", "--run", run, "--out", run, *args)
    assert res.exit_code == 1 and "is the --run folder" in res.output, res.output
    assert json.loads((run / "manifest.json").read_text()) == manifest
    assert sorted(p.name for p in run.iterdir()) == ["classes.tif", "manifest.json"]
    # another folder holding a study's (or a run's) results, even with --overwrite
    other = tmp_path / "study"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"command": "study"}))
    res = _invoke("sites", "--run", run, "--out", other, *args)
    assert res.exit_code == 1 and "results of another command (study" in res.output
    assert json.loads((other / "manifest.json").read_text()) == {"command": "study"}
    # earlier sites results are replaced with --overwrite as before
    assert _invoke("sites", "--run", run, "--out", tmp_path / "s", *args).exit_code == 0
    res = _invoke("sites", "--run", run, "--out", tmp_path / "s", *args)
    assert res.exit_code == 0, res.output


def test_minimal_run_folder(tmp_path):
    """Only classes.tif: no mlri.tif, trend.tif, summary.json or manifest.json."""
    info = write_classes(tmp_path / "run", height=40, width=50)
    T = info["transform"]
    write_polygons(tmp_path / "m.geojson", [pixel_box(T, 0, 20, 10, 30),
                                            pixel_box(T, 20, 40, 0, 20),
                                            pixel_box(T, 10, 30, 25, 50)],
                   crs=info["crs"], fields={"id": [1, 2, 3]})
    res = _invoke("sites", "--run", tmp_path / "run", "--mines", tmp_path / "m.geojson",
                  "--out", tmp_path / "s", "--no-cluster", "--max-maps", 0)
    assert res.exit_code == 0, res.output
    rows = _read_csv(tmp_path / "s" / "sites.csv")
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert (tmp_path / "s" / "sites_mlri.csv").read_text().startswith("id,class,year,n,mean")
    g = json.loads((tmp_path / "s" / "groups.json").read_text())
    assert g["kruskal_wallis"] == [] and g["spearman_duration"] is None
    res = _invoke("report", "--run", tmp_path / "run", "--sites", tmp_path / "s", "--out",
                  tmp_path / "r.html")
    assert res.exit_code == 0, res.output
    imgs = _images((tmp_path / "r.html").read_text())
    assert len(imgs) >= 2


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.external, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        if tag == "script":
            self.scripts += 1
        for k in ("src", "href"):
            v = a.get(k) or ""
            if v.startswith(("http:", "https:", "//")) or (tag == "link" and v):
                self.external.append(v)


def _images(doc):
    p = _Imgs()
    p.feed(doc)
    assert p.scripts == 0 and p.external == []
    return p.imgs


@pytest.fixture(scope="module")
def report(project, sites_out, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rep")
    pts = _labelled_points(project, tmp)
    res = _invoke("accuracy", "--classes", project["dir"] / "run", "--points", pts, "--out",
                  project["dir"] / "sites" / "accuracy.json")
    assert res.exit_code == 0, res.output
    out = tmp / "report.html"
    res = _invoke("report", "--run", project["dir"] / "run", "--sites", project["dir"] / "sites",
                  "--out", out, "--max-maps", 3)
    assert res.exit_code == 0, res.output
    return out


def test_report_is_self_contained_and_every_image_decodes(report):
    from PIL import Image

    doc = report.read_text(encoding="utf-8")
    imgs = _images(doc)
    assert [a["alt"] for a in imgs] == [
        "map of the restoration classes",
        "maps of Sen's slope, Mann-Kendall Z and Hurst exponent",
        "MLRI over time by class", "MLRI per mine over time",
        "MLRI over time by class, pooled over the mines", "class shares per mine",
        "class shares by mining start", "class shares by region",
        "class shares by restoration level (K-means cluster)",
        "class map of mine M0 (Mine A)", "class map of mine M1 (Mine B)",
        "class map of mine M2 (Mine C)", "clusters of mines",
        "hectares restored per year, cumulative, per mine"]
    for a in imgs:
        src = a["src"]
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        im = Image.open(io.BytesIO(png))
        im.load()
        assert im.size[0] > 300 and im.size[1] > 200
        assert a.get("alt")
    for text in ("1. Verdict", "Per mine", "Kruskal&ndash;Wallis test between mining start",
                 "Spearman correlation with mining duration", "Clusters of mines",
                 "Accuracy assessment", "rows = map, columns = reference",
                 "Area-adjusted estimates", "Mine A", "Run parameters", "hurst_method"):
        assert text in doc, text


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser")
                    is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    """Every <img> is decoded by a real browser (naturalWidth > 0), and a screenshot is made."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    probe = tmp_path / "probe.html"
    check = ("<script>window.addEventListener('load',()=>{const im=[...document.images];"
             "const bad=im.filter(i=>!(i.complete&&i.naturalWidth>0)).length;"
             "document.body.setAttribute('data-probe','images='+im.length+';broken='+bad);});"
             "</script>")
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", check + "</body>"),
                     encoding="utf-8")
    flags = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    try:
        dom = subprocess.run([*flags, "--virtual-time-budget=5000", "--dump-dom",
                              probe.as_uri()], capture_output=True, text=True, timeout=120,
                             check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("chromium did not finish in 120 s (machine busy)")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-probe="images=14;broken=0"' in dom.stdout
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, "--hide-scrollbars", "--window-size=1280,2400",
                    f"--screenshot={shot}", report.as_uri()], capture_output=True,
                   timeout=120, check=False)
    from PIL import Image

    im = Image.open(shot).convert("L")
    assert im.size == (1280, 2400)
    assert np.asarray(im).std() > 10  # not a blank page
