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
    assert (tmp / "pts.csv.manifest.json").is_file()
    rows = _read_csv(tmp / "pts.csv")
    for k, r in enumerate(rows):  # every 9th point is relabelled SD (wrong unless mapped SD)
        r["reference"] = r["map_class"] if k % 9 else "SD"
    return _write_csv(tmp / "labelled.csv", rows)


def _write_csv(path, rows):
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_accuracy_beside_its_sample_of_the_same_name(project, tmp_path):
    """sample --out ref.csv, then accuracy --out ref.json in the same folder: two files, two
    manifests (the manifest takes the whole file name), no refusal."""
    res = _invoke("sample", "--classes", project["dir"] / "run", "--n", 4, "--seed", 1,
                  "--out", tmp_path / "ref.csv")
    assert res.exit_code == 0, res.output
    rows = _read_csv(tmp_path / "ref.csv")
    for r in rows:
        r["reference"] = r["map_class"]
    _write_csv(tmp_path / "ref.csv", rows)
    res = _invoke("accuracy", "--classes", project["dir"] / "run", "--points",
                  tmp_path / "ref.csv", "--out", tmp_path / "ref.json")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ref.csv.manifest.json").read_text())["command"] == "sample"
    assert json.loads((tmp_path / "ref.json.manifest.json").read_text())["command"] == "accuracy"


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
    assert (tmp_path / "acc.json.manifest.json").is_file()
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


# -- sample / accuracy / report: publication, OS errors, inputs of another run ------------------
def _labelled_small(tmp_path, run):
    """Reference points for ``run`` (a write_classes folder): sampled, labelled as mapped."""
    res = _invoke("sample", "--classes", run, "--n", 4, "--out", tmp_path / "drawn.csv")
    assert res.exit_code == 0, res.output
    rows = _read_csv(tmp_path / "drawn.csv")
    for r in rows:
        r["reference"] = r["map_class"]
    return _write_csv(tmp_path / "pts.csv", rows)


@pytest.mark.parametrize("command", ["sample", "accuracy"])
def test_output_and_manifest_are_published_together(tmp_path, monkeypatch, command):
    # a full disk while the side manifest was written left the output without its manifest
    # ("nothing was published" said the error), and the rerun then needed --overwrite
    import errno

    import mlri._outputs as outputs

    run = write_classes(tmp_path / "run", height=40, width=50)["dir"]
    pts = _labelled_small(tmp_path, run)
    out = tmp_path / "res" / ("p.csv" if command == "sample" else "a.json")
    args = [command, "--classes", run, "--out", out]
    args += ["--n", 3] if command == "sample" else ["--points", pts]
    real = outputs.write_json

    def full(path, obj):
        if str(path).endswith(".manifest.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, obj)

    monkeypatch.setattr(outputs, "write_json", full)
    res = _invoke(*args)
    assert res.exit_code == 1 and "No space left on device" in res.output, res.output
    assert "Traceback" not in res.output
    assert not out.exists() and not out.with_name(f"{out.name}.manifest.json").exists()
    assert not out.parent.exists()  # created by the command, removed with the failure
    monkeypatch.setattr(outputs, "write_json", real)
    res = _invoke(*args)  # no --overwrite needed: nothing was published
    assert res.exit_code == 0, res.output
    assert out.is_file() and out.with_name(f"{out.name}.manifest.json").is_file()


@pytest.mark.parametrize(("code", "expect"), [
    ("EROFS", ["cannot write into the output folder", "Read-only file system",
               "choose a writable output folder (--out)"]),
    ("ENOSPC", ["No space left on device", "Free some space"]),
])
@pytest.mark.parametrize("command", ["sample", "accuracy", "report"])
def test_os_errors_of_the_output_folder_are_one_line(tmp_path, monkeypatch, command, code,
                                                     expect):
    # a read-only or full output folder gave a traceback (OSError from FolderLock.acquire)
    import errno
    import os

    run = write_classes(tmp_path / "run", height=40, width=50)["dir"]
    pts = _labelled_small(tmp_path, run)
    real_open = os.open

    def refuse(path, *a, **kw):
        if str(path) == str(tmp_path / "out" / ".mlri.lock"):
            raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)), str(path))
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", refuse)
    out = tmp_path / "out"
    args = {"sample": ["sample", "--classes", run, "--out", out / "p.csv"],
            "accuracy": ["accuracy", "--classes", run, "--points", pts, "--out",
                         out / "a.json"],
            "report": ["report", "--run", run, "--out", out / "r.html"]}[command]
    res = _invoke(*args)
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and res.output.startswith("Error: ")
    assert len(res.output.strip().splitlines()) == 1, res.output
    for e in expect:
        assert e in res.output, res.output


def test_sample_gpkg_write_failure_names_the_file(tmp_path, monkeypatch):
    # pyogrio's FeatureError ("database or disk is full") was a traceback
    import pyogrio.raw
    from pyogrio.errors import FeatureError

    run = write_classes(tmp_path / "run", height=40, width=50)["dir"]

    def full(*a, **kw):
        raise FeatureError("Could not add feature to layer at index 0: sqlite3_exec(CREATE "
                           "TABLE ...) failed: database or disk is full")

    monkeypatch.setattr(pyogrio.raw, "write", full)
    res = _invoke("sample", "--classes", run, "--n", 3, "--out", tmp_path / "o" / "p.gpkg")
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert f"No space left on device while writing {tmp_path / 'o' / 'p.gpkg'}" in res.output
    assert not (tmp_path / "o").exists()


def _write_array(path, arr, dtype="uint8", nodata=0):
    import rasterio
    from affine import Affine

    prof = {"driver": "GTiff", "width": arr.shape[-1], "height": arr.shape[-2],
            "count": 1 if arr.ndim == 2 else arr.shape[0], "dtype": dtype, "nodata": nodata,
            "crs": "EPSG:32650", "transform": Affine(30, 0, 500_000, 0, -30, 4_400_000)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr if arr.ndim == 3 else arr[None])
    return path


def test_report_refuses_results_of_another_run(tmp_path):
    # the sites folder (and accuracy) of one run were shown as another run's, mine maps drawn
    # on the wrong class map; a raster of another grid copied into the run folder was used
    run_a, mines = _small_run(tmp_path / "a", 3)
    run_b = write_classes(tmp_path / "b" / "run", height=30, width=50)["dir"]
    res = _invoke("sites", "--run", run_a, "--mines", mines, "--out", tmp_path / "sa",
                  "--no-cluster", "--no-figures", "--max-maps", 0)
    assert res.exit_code == 0, res.output
    pts = _labelled_small(tmp_path, run_a)
    res = _invoke("accuracy", "--classes", run_a, "--points", pts, "--out", tmp_path / "acc.json")
    assert res.exit_code == 0, res.output

    res = _invoke("report", "--run", run_b, "--sites", tmp_path / "sa", "--out", tmp_path / "r1.html")
    assert res.exit_code == 1, res.output
    assert f"the sites folder {tmp_path / 'sa'} (--sites) was made from {run_a}" in res.output
    assert f"not from the run folder {run_b}" in res.output and "mlri sites --run" in res.output
    res = _invoke("report", "--run", run_b, "--accuracy", tmp_path / "acc.json", "--out",
                  tmp_path / "r2.html")
    assert res.exit_code == 1 and f"{tmp_path / 'acc.json'} (--accuracy) was made from" in \
        res.output, res.output
    # a result written before results recorded their class map: its area tells
    acc = json.loads((tmp_path / "acc.json").read_text())
    del acc["class_raster"]
    (tmp_path / "old.json").write_text(json.dumps(acc))
    res = _invoke("report", "--run", run_b, "--accuracy", tmp_path / "old.json", "--out",
                  tmp_path / "r3.html")
    assert res.exit_code == 1 and "was made from another class map" in res.output, res.output
    # the matching run is accepted
    res = _invoke("report", "--run", run_a, "--sites", tmp_path / "sa", "--accuracy",
                  tmp_path / "acc.json", "--out", tmp_path / "r4.html")
    assert res.exit_code == 0, res.output
    assert not any((tmp_path / f"r{i}.html").exists() for i in (1, 2, 3))
    # a trend.tif of another grid copied into the run folder
    _write_array(run_a / "trend.tif", np.zeros((30, 30), dtype=np.float32), dtype="float32",
                 nodata=None)
    res = _invoke("report", "--run", run_a, "--out", tmp_path / "r5.html")
    assert res.exit_code == 1 and f"{run_a / 'trend.tif'} is not on the grid of" in res.output


def test_sample_and_accuracy_refuse_rasters_that_are_not_class_maps(project, tmp_path):
    # an MLRI stack: "cannot convert float NaN to integer"; an LST raster: "0 points", exit 0;
    # an all-nodata run: an empty sample and exit 0
    d = project["dir"]
    pts = _labelled_small(tmp_path, write_classes(tmp_path / "run", height=40, width=50)["dir"])
    lst = _write_array(tmp_path / "LST_2000.tif", np.full((40, 50), 300.0, np.float32),
                       dtype="float32", nodata=None)
    for raster in (d / "run" / "mlri.tif", lst):
        for args in (["sample", "--out", tmp_path / "s.csv"],
                     ["accuracy", "--points", pts, "--out", tmp_path / "a.json"]):
            res = _invoke(*args, "--classes", raster)
            assert res.exit_code == 1, res.output
            assert f"{raster} is not a class raster" in res.output and "--classes" in \
                res.output, res.output
    flagsish = _write_array(tmp_path / "bytes.tif", np.full((40, 50), 17, np.uint8))
    res = _invoke("sample", "--classes", flagsish, "--out", tmp_path / "s.csv")
    assert res.exit_code == 1 and "not class codes (e.g. 17;" in res.output, res.output
    empty = _write_array(tmp_path / "empty" / "classes.tif", np.zeros((40, 50), np.uint8))
    res = _invoke("sample", "--classes", empty.parent, "--out", tmp_path / "s.csv")
    assert res.exit_code == 1, res.output
    assert f"nothing to sample: {empty} has no classified pixel (all nodata)" in res.output
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "a.json").exists()


def test_sample_and_accuracy_complete_an_interrupted_publication(tmp_path):
    # a run killed before its renames: sample/accuracy said classes.tif does not exist while
    # report completed the publication
    src = write_classes(tmp_path / "src", height=40, width=50)["dir"]
    pts = _labelled_small(tmp_path, src)
    for command in ("sample", "accuracy"):
        run = tmp_path / f"run_{command}"
        stage = run / ".mlri-stage.partial-999999-deadbeef"
        stage.mkdir(parents=True)
        shutil.copy(src / "classes.tif", stage / "classes.tif")
        (run / ".mlri-publish.json").write_text(json.dumps({
            "pid": 999999, "stage": stage.name, "marker": "manifest.json",
            "publish": ["classes.tif"], "remove": []}))
        args = (["--n", 3, "--out", tmp_path / "s.csv", "--overwrite"] if command == "sample"
                else ["--points", pts, "--out", tmp_path / "a.json"])
        res = _invoke(command, "--classes", run, *args)
        assert res.exit_code == 0, res.output
        assert (run / "classes.tif").is_file() and not (run / ".mlri-publish.json").exists()
        assert not stage.exists()


def test_messages_name_the_file_and_the_fix(project, tmp_path):
    d = project["dir"]
    run = write_classes(tmp_path / "run", height=40, width=50)["dir"]
    pts = _labelled_small(tmp_path, run)
    bad = tmp_path / "badacc.json"
    bad.write_text("not json")
    res = _invoke("report", "--run", run, "--accuracy", bad, "--out", tmp_path / "r.html")
    assert res.exit_code == 1 and f"accuracy file {bad} is not valid JSON" in res.output
    # damaged rasters of a run folder: named, said to be damaged (a truncated classes.tif was
    # said to be off the grid of mlri.tif, a truncated mlri.tif "Read failed")
    for name in ("mlri.tif", "classes.tif"):
        copy = tmp_path / f"cut_{name}"
        shutil.copytree(d / "run", copy)
        size = (copy / name).stat().st_size
        with (copy / name).open("r+b") as fh:
            fh.truncate(size // 2)
        res = _invoke("report", "--run", copy, "--out", tmp_path / "r.html")
        assert res.exit_code == 1 and f"{copy / name} is damaged" in res.output, res.output
        assert "truncated" in res.output and "re-run `mlri run`" in res.output
    res = _invoke("report", "--run", d / "run" / "classes.tif", "--out", tmp_path / "r.html")
    assert res.exit_code == 1 and "classes.tif is a file; --run takes the output folder" in \
        res.output
    # no restored class: a matrix with no restored row
    res = _invoke("accuracy", "--classes", run, "--points", pts, "--restored", "",
                  "--out", tmp_path / "a.json")
    assert res.exit_code == 1 and "--restored is empty" in res.output, res.output
    # UTM x/y said to be longitude/latitude: a numpy "invalid value" warning
    res = _invoke("accuracy", "--classes", run, "--points", pts, "--points-crs", "EPSG:4326",
                  "--out", tmp_path / "a.json")
    assert res.exit_code == 1 and "RuntimeWarning" not in res.output, res.output
    assert "outside the valid range of EPSG:4326" in res.output
    assert "look like projected coordinates" in res.output and "--points-crs" in res.output
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "r.html").exists()
