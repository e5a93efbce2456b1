"""First contact: ``mlri demo`` end to end, the report a reader gets, the quick-look PNG of
``mlri run``, and the messages a new user meets (missing extras, two mines in one folder)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner

from mlri.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")


class _Text(HTMLParser):
    """The text a reader sees (entities decoded once, no <style>)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def rendered_text(doc: str) -> str:
    p = _Text()
    p.feed(doc)
    return " ".join(p.parts)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    pytest.importorskip("pyogrio")
    pytest.importorskip("shapely")
    pytest.importorskip("sklearn")
    from mlri.demo import run_demo

    out = tmp_path_factory.mktemp("demo") / "d"
    return run_demo(out, quiet=True, threads=2)


def test_demo_writes_the_whole_method(demo):
    d = demo.out_dir
    for rel in ("report.html", "classes.png", "truth.tif", "mines.gpkg", "points.csv",
                "results/classes.tif", "results/classes.png", "results/trend.tif",
                "results/onset.tif", "sites/sites.csv", "sites/sites_onset.csv",
                "sites/groups.json", "sites/accuracy.json"):
        assert (d / rel).is_file(), rel
    assert demo.report == d / "report.html"
    assert demo.warnings == []
    # the restored dumps are found, the reference points agree with them
    tab = demo.sites / "sites.csv"
    rows = {r.split(",")[0]: r for r in tab.read_text().splitlines()[1:]}
    assert set(rows) == {"dump_1995", "dump_2002", "dump_2006", "dump_2010", "pit",
                         "pit_expansion", "steppe_control"}
    acc = demo.accuracy
    assert acc["scheme"] == "binary" and acc["n_points_used"] >= 80
    i = acc["labels"].index("restored")
    assert acc["classes"][i]["producers_accuracy"] > 0.9  # restored dumps are mapped as SI
    # the steppe is mostly SI under the paper's rule, and the demo says so
    assert demo.regions[1]["si_fraction"] > 0.3


def test_demo_truth_colours_are_not_class_greens():
    from mlri.demo import REGION_COLORS
    from mlri.pipeline import CLASS_COLORS

    for code, rc in REGION_COLORS.items():
        if code == 0:
            continue
        r, g, b = rc[:3]
        assert not (g > r + 20 and g > b + 20), f"region {code} is green: {rc}"
        for cc in CLASS_COLORS.values():
            if cc[3]:
                assert sum(abs(a - b) for a, b in zip(rc[:3], cc[:3], strict=True)) > 60


def test_demo_report_has_every_section_in_order(demo):
    doc = demo.report.read_text(encoding="utf-8")
    ids = ["verdict", "mines", "evidence", "mine-maps", "tests", "clusters", "accuracy",
           "provenance"]
    pos = [doc.find(f'id="{i}"') for i in ids]
    assert all(p > 0 for p in pos), dict(zip(ids, pos, strict=True))
    assert pos == sorted(pos)
    text = rendered_text(doc)
    for words in ("What the classes mean", "SI (significant increase)",
                  "SCI (significant consistent increase)",
                  "SAI (significant anti-persistent increase)", "Read the SI share with care",
                  "Trend maps", "MLRI over time", "Class shares per mine", "Mine maps",
                  "Kruskal\u2013Wallis test between mining start groups", "Clusters of mines",
                  "Area-adjusted estimates", "Parameters and provenance",
                  "steppe_control — Steppe control (no mining)"):
        assert words in text, words
    # verdict before evidence: the map, the warning and the per-mine table come first
    v = doc[:doc.find('id="evidence"')]
    assert 'class="sigwarn"' in v and "<img" in v and "Dump restored 2002" in v
    # parameters are collapsed, at the end
    prov = doc[doc.find('id="provenance"'):]
    assert "<details>" in prov and "hurst_method" in prov
    assert "hurst_method" not in doc[:doc.find('id="provenance"')]
    # figures: class map, trend maps, trajectories (scene, per mine, pooled), bars, mine maps,
    # labelled clusters - every mine has a map
    alts = re.findall(r'<img src="data:image/png;base64,[^"]+" alt="([^"]+)"', doc)
    assert "maps of Sen&#x27;s slope, Mann-Kendall Z and Hurst exponent" in alts
    assert "MLRI per mine over time" in alts and "clusters of mines" in alts
    assert sum(a.startswith("class map of mine") for a in alts) == 7
    # when restoration started: the planted onset years of the dumps, per mine
    assert "hectares restored per year, cumulative, per mine" in alts
    onset = doc[doc.find('id="onset"'):doc.find('id="sensor-step"')]
    for y in (2002, 2006, 2010):
        assert f"Dump restored {y}</td><td>" in onset and f"<td>{y}</td>" in onset


def test_demo_report_text_is_for_people(demo):
    doc = demo.report.read_text(encoding="utf-8")
    text = rendered_text(doc)
    assert not re.search(r"\b(nan|null|None|NaN|inf)\b", text), re.findall(
        r".{30}\b(?:nan|null|None|NaN|inf)\b.{30}", text)[:5]
    assert not re.search(r"&[a-zA-Z]+;|&#\d+;", text), re.findall(r".{20}&\w+;.{20}", text)
    assert not re.search(r"\d\.\d+e[-+]\d", text)  # no scientific notation
    assert "start_group" not in text and "pct_valid" not in text  # words, not columns
    assert "degradation" not in text.replace("degradation such as", "")  # one vocabulary
    assert text.count("—") >= 1 and "MLRI restoration report" not in text[:10]
    # every table with an empty cell says what the dash means
    for tbl, after in re.findall(r"(<table>.*?</table>)(.{0,40})", doc, flags=re.DOTALL):
        if re.search(r"<td[^>]*>\u2013</td>", tbl):
            assert after.startswith('<p class="fn">\u2013 ='), tbl[:200]
        if "(no CI)" in tbl:
            assert "no CI = " in doc


def test_numbers_for_people():
    from mlri.sites import _html as H

    assert H.ha(0.09) == "0.09" and H.ha(1234.56) == "1,234.6" and H.ha(None) == "\u2013"
    assert H.pct(0.005) == "&lt; 0.1" and H.pct(float("nan")) == "\u2013"
    assert H.num("nan") == "\u2013" and H.num("null") == "\u2013" and H.num(7) == "7"
    assert H.pval(0.0001) == "&lt; 0.001"
    assert H.pm(0.5, None) == "0.500 (no CI)" and H.pm(0.5, 0.01) == "0.500 &plusmn; 0.010"
    assert H.value(None) == "not set" and H.value(True) == "yes"
    assert H.value([2000, 2001]) == "2000, 2001"
    t = H.table(["a", "b"], [["x", H.DASH]], dash="no pixel")
    assert '<p class="fn">\u2013 = no pixel.</p>' in t
    assert "fn" not in H.table(["a", "b"], [["x", "1"]])


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser")
                    is None, reason="chromium not installed (apt-get install chromium)")
def test_demo_report_in_headless_chromium(demo, tmp_path):
    """A real browser decodes every figure; the page and its print (PDF) render."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    probe = tmp_path / "probe.html"
    check = ("<script>window.addEventListener('load',()=>{const im=[...document.images];"
             "const bad=im.filter(i=>!(i.complete&&i.naturalWidth>0)).length;"
             "document.body.setAttribute('data-probe','images='+im.length+';broken='+bad);});"
             "</script>")
    doc = demo.report.read_text(encoding="utf-8")
    n_img = doc.count("<img ")
    probe.write_text(doc.replace("</body>", check + "</body>"), encoding="utf-8")
    flags = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    try:
        dom = subprocess.run([*flags, "--virtual-time-budget=5000", "--dump-dom",
                              probe.as_uri()], capture_output=True, text=True, timeout=120,
                             check=False)
        shot = tmp_path / "shot.png"
        subprocess.run([*flags, "--hide-scrollbars", "--window-size=1280,2000",
                        f"--screenshot={shot}", demo.report.as_uri()], capture_output=True,
                       timeout=120, check=False)
        pdf = tmp_path / "print.pdf"
        subprocess.run([*flags, "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                        demo.report.as_uri()], capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("chromium did not finish in 120 s (machine busy)")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f'data-probe="images={n_img};broken=0"' in dom.stdout
    from PIL import Image

    with Image.open(shot) as img:
        im = np.asarray(img.convert("L"))
    assert im.shape == (2000, 1280) and im.std() > 10
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-"
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 3  # several A4 pages


# ------------------------------------------------------------------ mlri run quick-look
@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory):
    from mlri.demo import synthesize, write_inputs

    d = tmp_path_factory.mktemp("in")
    write_inputs(synthesize(seed=5, shape=(40, 48)), d)
    return d


def test_run_writes_quicklook_and_lists_every_file(small_inputs, tmp_path):
    out = tmp_path / "o"
    r = CliRunner().invoke(main, ["run", "--lst", str(small_inputs), "--evi",
                                  str(small_inputs), "--out", str(out), "--significance",
                                  "permutation", "--permutations", "19", "--threads", "1"])
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.output.splitlines() if ln.startswith("wrote "))
    written = sorted(p.name for p in out.iterdir())
    assert "significance.tif" in written and "classes.png" in written
    for name in written:
        assert name in line, (name, line)
    from PIL import Image

    with Image.open(out / "classes.png") as im:
        assert im.size[0] > 600 and im.size[1] > 300


def test_run_does_not_replace_a_foreign_png(small_inputs, tmp_path):
    # classes.png is one of the run's outputs: an existing one is refused like any result
    out = tmp_path / "o"
    out.mkdir()
    (out / "classes.png").write_bytes(b"mine")
    r = CliRunner().invoke(main, ["run", "--lst", str(small_inputs), "--evi",
                                  str(small_inputs), "--out", str(out), "--threads", "1"])
    assert r.exit_code == 1, r.output
    assert (out / "classes.png").read_bytes() == b"mine"
    assert "already holds results (classes.png)" in r.output and "--overwrite" in r.output
    assert sorted(p.name for p in out.iterdir()) == ["classes.png"]


# ------------------------------------------------------------------ messages
def test_two_mines_in_one_folder_points_to_pattern(tmp_path):
    from mlri.demo import synthesize, write_inputs
    from mlri.io import InputError, open_inputs

    site = synthesize(seed=3, shape=(20, 24))
    write_inputs(site, tmp_path, name="mine1_{var}_{year}.tif")
    write_inputs(site, tmp_path, name="mine2_{var}_{year}.tif")
    with pytest.raises(InputError, match=r"pattern='mine[12]_\{var\}_\{year\}\.tif'"):
        open_inputs(tmp_path, tmp_path)  # the library names its parameter ...
    r = CliRunner().invoke(main, ["run", "--lst", str(tmp_path), "--evi", str(tmp_path),
                                  "--out", str(tmp_path / "o")])
    assert re.search(r"--pattern 'mine[12]_\{var\}_\{year\}\.tif'", r.output), r.output


def test_missing_extra_names_packages_and_extra(monkeypatch, tmp_path):
    from mlri.sites._deps import require, require_extra

    monkeypatch.setitem(sys.modules, "shapely", None)  # import shapely -> ImportError
    monkeypatch.setitem(sys.modules, "pyogrio", None)
    with pytest.raises(ImportError) as ei:
        require_extra("mlri report", ("shapely", "pyogrio"))
    assert str(ei.value).startswith("mlri report needs the optional packages shapely, "
                                    "pyogrio, not installed: pip install 'mlri[sites]'")
    with pytest.raises(ImportError, match=r"needs the optional package scikit-learn.*"
                                          r"mlri\[sites\]"):
        monkeypatch.setitem(sys.modules, "sklearn", None)
        require("sklearn", "clustering mines")


def test_cli_report_without_sites_extra_gives_the_named_hint(monkeypatch, tmp_path,
                                                           small_inputs):
    from mlri.pipeline import run

    res = run(small_inputs, small_inputs, tmp_path / "r", quiet=True, threads=1)
    (tmp_path / "s").mkdir()
    monkeypatch.setitem(sys.modules, "shapely", None)
    r = CliRunner().invoke(main, ["report", "--run", str(res.out_dir), "--sites",
                                  str(tmp_path / "s"), "--out", str(tmp_path / "x.html")])
    assert r.exit_code == 1
    assert r.output.strip() == (
        "Error: mlri report --sites needs the optional package shapely, not installed: "
        "pip install 'mlri[sites]' (or pip install 'mlri[all]' for everything)")
    assert not (tmp_path / "x.html").exists()
    # without --sites the report needs no optional package
    r = CliRunner().invoke(main, ["report", "--run", str(res.out_dir), "--out",
                                  str(tmp_path / "y.html")])
    assert r.exit_code == 0, r.output
    assert "1. Verdict" in (tmp_path / "y.html").read_text(encoding="utf-8")


def test_demo_without_sites_extra_still_reports_and_names_it(monkeypatch, tmp_path):
    from mlri.demo import run_demo

    monkeypatch.setitem(sys.modules, "sklearn", None)
    res = run_demo(tmp_path / "d", quiet=True, threads=1, shape=(60, 80))
    assert res.skipped.startswith("the per-mine part of mlri demo needs the optional package "
                                  "scikit-learn, not installed: pip install 'mlri[sites]'")
    assert res.sites is None and not (tmp_path / "d" / "sites").exists()
    doc = res.report.read_text(encoding="utf-8")
    assert 'id="verdict"' in doc and 'id="provenance"' in doc and 'id="mines"' not in doc
    r = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "e"), "-q"])
    assert r.exit_code == 0
    assert "note: per-mine analysis and accuracy skipped: " in r.output
    assert r.output.strip().endswith("report.html")


def test_quicklook_preload_covers_every_import_of_the_drawing(small_inputs, tmp_path):
    """A run imports matplotlib while its tiles are computed (products.preload_quicklook); the
    class map drawn at the end must then import nothing more, or its serial tail grows again."""
    out = tmp_path / "o"
    r = CliRunner().invoke(main, ["run", "--lst", str(small_inputs), "--evi",
                                  str(small_inputs), "--out", str(out), "--threads", "1"])
    assert r.exit_code == 0, r.output
    code = (
        "import sys\n"
        "from mlri import products\n"
        "products.preload_quicklook().join()\n"
        "assert 'matplotlib.figure' in sys.modules\n"
        "from mlri.quicklook import write_quicklook\n"
        "before = set(sys.modules)\n"
        f"write_quicklook({str(out / 'classes.tif')!r}, {str(tmp_path / 'q.png')!r})\n"
        "print(sorted(m for m in set(sys.modules) - before if 'matplotlib' in m))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "q.png").stat().st_size > 10_000


def test_interrupted_demo_leaves_no_half_made_folder(monkeypatch, tmp_path):
    """Ctrl-C in the middle of `mlri demo`: a folder the demo created is removed (an empty
    one it was given is left empty), so the next demo starts afresh instead of refusing."""
    import mlri.demo as demo_mod

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_mod, "region_table", interrupt)  # after inputs/ and results/
    for existed in (False, True):
        out = tmp_path / f"d{existed}"
        if existed:
            out.mkdir()
        with pytest.raises(KeyboardInterrupt):
            demo_mod.run_demo(out, quiet=True, shape=(24, 32), report=False)
        assert out.exists() == existed and (not existed or not any(out.iterdir()))
    monkeypatch.undo()
    res = demo_mod.run_demo(tmp_path / "dTrue", quiet=True, shape=(24, 32), report=False)
    assert (res.results / "classes.tif").exists()
