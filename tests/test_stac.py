"""Landsat scenes from STAC (saved catalogs, Planetary Computer and USGS styles) and rasters by
URL, checked offline: a catalog built over the synthetic archive, and a loopback HTTP server
with Range support serving the same files.  Outputs must equal the local runs bit for bit."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import rasterio
from click.testing import CliRunner
from numpy.testing import assert_array_equal

from mlri.cli import main
from mlri.landsat import stac
from mlri.landsat.scene import BAND_ROLES, find_scenes
from mlri.landsat.synthetic import make_archive

YEARS = (2010, 2011, 2013, 2014)
PC_KEYS = {"qa": "qa_pixel", "radsat": "qa_radsat", "blue": "blue", "red": "red",
           "nir": "nir08", "green": "green", "swir1": "swir16", "swir2": "swir22"}


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("stac") / "archive"
    return make_archive(root, size=(40, 40), years=YEARS, dates_per_season=2, seed=3,
                        mixed_zone=True, distractors=True)


def _invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def _composite(out: Path, source: list[object], archive, *extra: object):
    r = _invoke("composite", *source, "--aoi", archive.aoi, "--years", "2010-2014",
                "--out", out, "-q", *extra)
    return r


@pytest.fixture(scope="module")
def big(archive):
    """Larger tiled scenes (1080 x 1080 px, 256 px tiles) of one season, beside ``archive``."""
    return make_archive(archive.root.parent / "big", size=(1000, 1000), years=(2014,),
                        dates_per_season=1, seed=5, distractors=False)


@pytest.fixture(scope="module")
def local_out(archive, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "c"
    r = _composite(out, ["--scenes", archive.root], archive)
    assert r.exit_code == 0, r.output
    return out


def _assets(scene, base: str | None, root: Path) -> dict[str, dict]:
    """Asset dicts of a scene's band files (the asset keys both catalogs use), hrefs relative
    to ``root`` (base None), or absolute under ``base`` ("" = absolute local paths)."""
    out = {}
    inv = {suf: role for role, suf in BAND_ROLES[scene.family].items()}
    for suffix, path in scene.files.items():
        role = inv.get(suffix)
        if role is None:
            continue
        key = ("lwir11" if scene.family == "OLI" else "lwir") if role == "st" \
            else PC_KEYS.get(role)
        if key is None:
            continue
        rel = Path(path).relative_to(root).as_posix()
        href = rel if base is None else (str(Path(path)) if base == "" else f"{base}/{rel}")
        a: dict = {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized"}
        if suffix.startswith("SR_B"):
            a["raster:bands"] = [{"scale": 2.75e-05, "offset": -0.2, "nodata": 0}]
        elif suffix.startswith("ST_B"):
            a["raster:bands"] = [{"scale": 0.00341802, "offset": 149.0, "nodata": 0}]
        _, tr, w, h = scene.georef()
        a["proj:shape"] = [h, w]
        a["proj:transform"] = list(tr)[:6]
        out[key] = a
    return out


def _item(id_: str, scene, assets: dict, style: str) -> dict:
    crs = scene.georef()[0]
    props = {"datetime": f"{scene.acquired.isoformat()}T02:30:00Z", "eo:cloud_cover": 20.0,
             "view:sun_elevation": 55.0, "platform": "landsat-8" if scene.family == "OLI"
             else "landsat-5"}
    if style == "pc":
        props["proj:epsg"] = crs.to_epsg()
    else:
        props["proj:code"] = f"EPSG:{crs.to_epsg()}"
    return {"type": "Feature", "stac_version": "1.0.0", "id": id_, "properties": props,
            "geometry": None, "links": [], "assets": assets,
            "collection": "landsat-c2-l2" if style == "pc" else "landsat-c2l2-sr"}


def pc_items(archive, base: str | None = None) -> list[dict]:
    """Planetary Computer style: one item per scene, ID without the processing date."""
    items = []
    for s in find_scenes([archive.root]):
        short = re.sub(r"_\d{8}_02_", "_02_", s.id)  # drop the processing date
        assert short != s.id
        items.append(_item(short, s, _assets(s, base, archive.root), "pc"))
    return items


def usgs_items(archive, base: str | None = None) -> list[dict]:
    """USGS LandsatLook style: separate ``_SR`` and ``_ST`` items per scene, proj:code."""
    items = []
    for s in find_scenes([archive.root]):
        a = _assets(s, base, archive.root)
        st = {k: v for k, v in a.items() if k in ("lwir", "lwir11", "qa_pixel")}
        sr = {k: v for k, v in a.items() if k not in ("lwir", "lwir11")}
        items.append(_item(s.id + "_SR", s, sr, "usgs"))
        st_item = _item(s.id + "_ST", s, st, "usgs")
        st_item["collection"] = "landsat-c2l2-st"
        items.append(st_item)
    return items


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _fc(items: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": items}


def _assert_same(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.glob("*.tif"))
    assert names and names == sorted(p.name for p in b.glob("*.tif"))
    for n in names:
        with rasterio.open(a / n) as da, rasterio.open(b / n) as db:
            assert da.crs == db.crs and da.transform == db.transform
            assert_array_equal(da.read(), db.read())


# ------------------------------------------------------------------------------- HTTP server
class _Server:
    def __init__(self, url: str) -> None:
        self.url = url

    def _get(self, what: str) -> dict:
        with urllib.request.urlopen(f"{self.url}/{what}", timeout=10) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        self._get("__reset")

    def stats(self) -> dict:
        return self._get("__stats")


@pytest.fixture(scope="module")
def server(archive):
    """The loopback Range server (tests/_range_server.py) in its own process, bounded to
    20000 requests and 600 s, serving the folder that holds the archives."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_range_server.py")),
         str(archive.root.parent), "20000", "600"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        yield _Server(f"http://127.0.0.1:{port}"), \
            f"http://127.0.0.1:{port}/{archive.root.name}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]


# ------------------------------------------------------------------------------- tests
def test_pc_itemcollection_relative_hrefs_bit_identical(archive, local_out, tmp_path):
    fc = _write(archive.root / "pc_items.json", _fc(pc_items(archive)))
    out = tmp_path / "pc"
    r = _composite(out, ["--stac", fc], archive)
    assert r.exit_code == 0, r.output
    _assert_same(local_out, out)
    man = json.loads((out / "manifest.json").read_text())
    loc = json.loads((local_out / "manifest.json").read_text())
    assert [u["scene"] for u in man["scenes_used"]] == [u["scene"] for u in loc["scenes_used"]]
    used = man["scenes_used"][0]
    assert used["stac"]["items"][0] == re.sub(r"_\d{8}_02_", "_02_", used["scene"])
    assert used["stac"]["assets"]["QA_PIXEL"]["asset"] == "qa_pixel"
    assert Path(used["stac"]["assets"]["QA_PIXEL"]["href"]).is_file()  # relative resolved
    # the out-of-season and Tier 2 distractors are skipped with the same reasons
    assert sorted(p["reason"] for p in man["scenes_skipped"]) == \
        sorted(p["reason"] for p in loc["scenes_skipped"])


def test_usgs_static_catalog_sr_st_items_absolute_hrefs(archive, local_out, tmp_path):
    cat_dir = tmp_path / "catalog"
    (cat_dir / "items").mkdir(parents=True)
    links = []
    for it in usgs_items(archive, base=""):
        _write(cat_dir / "items" / f"{it['id']}.json", it)
        links.append({"rel": "item", "href": f"./items/{it['id']}.json"})
    child = _write(cat_dir / "sub.json", {"type": "Collection", "id": "sub", "links": links})
    cat = _write(cat_dir / "catalog.json", {"type": "Catalog", "id": "c", "links": [
        {"rel": "child", "href": "./sub.json"}, {"rel": "root", "href": "./catalog.json"}]})
    assert child.exists()
    scenes = stac.scenes_from_stac(cat)
    local = find_scenes([archive.root])
    assert sorted(s.id for s in scenes) == sorted(s.id for s in local)
    by_id = {s.id: s for s in local}
    for s in scenes:  # the SR and ST halves are merged into one scene of the same files
        assert s.files == {k: v for k, v in by_id[s.id].files.items() if k in s.files}
        assert s.has("st") and s.has("qa") and s.has("red")
        assert len(s.stac["items"]) == 2
        assert s.sr_scale("red") == by_id[s.id].sr_scale("red")
        assert s.st_scale() == by_id[s.id].st_scale()
        assert s.georef()[:3] == by_id[s.id].georef()[:3]  # proj:code, no file opened
    assert {s.georef()[0].to_epsg() for s in scenes} == {32650, 32651}
    out = tmp_path / "usgs"
    r = _composite(out, ["--stac", cat], archive)
    assert r.exit_code == 0, r.output
    _assert_same(local_out, out)


def test_http_stac_and_run_from_urls_identical_and_partial_reads(archive, big, server,
                                                                 tmp_path):
    from rasterio.warp import transform as wt

    srv, base = server
    big_base = srv.url + "/big"
    # a small AOI (a few pixels) in the middle of the scenes: composite locally and over HTTP
    g = big.grid
    cx, cy = (g.bounds[0] + g.bounds[2]) / 2, (g.bounds[1] + g.bounds[3]) / 2
    (lon,), (lat,) = wt(g.crs, "EPSG:4326", [cx], [cy])
    box = ["--bbox", lon - 4e-4, lat - 4e-4, lon + 4e-4, lat + 4e-4, "--buffer", "0"]
    loc = tmp_path / "loc"
    r = _invoke("composite", "--scenes", big.root, *box, "--years", "2014", "--out", loc, "-q")
    assert r.exit_code == 0, r.output
    fc = _write(tmp_path / "http_items.json", _fc(pc_items(big, base=big_base)))
    signed: list[str] = []
    scenes, problems = stac.discover_stac(
        fc, sign=lambda h: signed.append(h) or h + "?sig=test")
    assert not problems and len(signed) > 4 and all(u.startswith(big_base) for u in signed)
    assert all(p.endswith("?sig=test") for s in scenes for p in s.files.values())
    srv.reset()
    rem = tmp_path / "rem"
    r = _invoke("composite", "--stac", fc, *box, "--years", "2014", "--out", rem, "-q")
    assert r.exit_code == 0, r.output
    _assert_same(loc, rem)
    st = srv.stats()
    served = st["bytes"]
    used = json.loads((rem / "manifest.json").read_text())["scenes_used"]
    assert used
    files = {big.root / a["href"][len(big_base) + 1:] for u in used
             for a in u["stac"]["assets"].values()}
    total = sum(p.stat().st_size for p in files)
    ratio = served / total
    print(f"\nbytes served {served} of {total} in {len(files)} files: ratio {ratio:.3f}, "
          f"{st['requests']} requests")
    assert served > 0 and ratio < 0.2
    # mlri run from URLs == mlri run from the local files
    comp = Path(archive.root) / "comp"
    if not comp.exists():
        r = _invoke("composite", "--scenes", archive.root, "--aoi", archive.aoi, "--years",
                    "2010-2014", "--out", comp, "-q")
        assert r.exit_code == 0, r.output
    lst = sorted(comp.glob("LST_*.tif"))
    evi = sorted(comp.glob("EVI_*.tif"))
    r1 = _invoke("run", "--lst", *lst, "--evi", *evi, "--out", tmp_path / "run_local", "-q")
    assert r1.exit_code == 0, r1.output
    url = [f"{base}/comp/{p.name}" for p in lst], [f"{base}/comp/{p.name}" for p in evi]
    r2 = _invoke("run", "--lst", *url[0], "--evi", *url[1], "--out", tmp_path / "run_url", "-q")
    assert r2.exit_code == 0, r2.output
    _assert_same(tmp_path / "run_local", tmp_path / "run_url")
    man = json.loads((tmp_path / "run_url" / "manifest.json").read_text())
    ins = [i for i in man["inputs"] if i["path"].startswith("http")]
    assert len(ins) == len(lst) + len(evi)
    assert all(i.get("remote") and "sha256" not in i for i in ins)
    # open_stack: https:// kept intact (not turned into https:/)
    from mlri.xarray import open_stack

    a = open_stack(url[0], chunks=None)
    b = open_stack([str(p) for p in lst], chunks=None)
    assert_array_equal(a.values, b.values)
    assert list(a.year.values) == list(b.year.values)


def test_bad_catalogs_clear_errors_nothing_written(archive, server, tmp_path):
    _, base = server
    bad = _write(tmp_path / "bad.json", None)
    bad.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    out = tmp_path / "o"
    r = _composite(out, ["--stac", bad], archive)
    assert r.exit_code != 0 and "bad.json is not valid JSON" in r.output
    assert not out.exists()
    # a missing asset: the scene's QA_PIXEL is not in the item
    items = pc_items(archive)
    victim = next(it for it in items if it["id"].startswith("LC08"))  # in season, Tier 1
    del victim["assets"]["qa_pixel"]
    fc = _write(archive.root / "missing.json", _fc(items))
    r = _composite(out, ["--stac", fc], archive)
    assert r.exit_code != 0 and "QA_PIXEL (qa)" in r.output and "Error:" in r.output
    assert not out.exists()
    # wrong asset keys and foreign file names: nothing recognisable
    foreign = {"type": "Feature", "id": "LC08_L2SP_123032_20140710_02_T1", "properties": {
        "datetime": "2014-07-10T00:00:00Z"}, "assets": {"B4": {"href": "truth.tif"}}}
    with pytest.raises(stac.SceneError, match=r"no full Landsat product ID"):
        stac.scenes_from_stac(_fc([foreign]))
    foreign["assets"]["B4"]["href"] = "LC08_L2SP_123032_20140710_20150101_02_T1_B4x.tif"
    with pytest.raises(stac.SceneError, match=r"no Landsat band asset among \['B4'\].*lwir11"):
        stac.scenes_from_stac(_fc([foreign]))
    # 404 and 403 from the server: the error names the item, the asset and the URL
    items = pc_items(archive, base=base)
    scene_items = [it for it in items if it["id"].startswith("LC08")
                   and it["properties"]["datetime"][5:7] in ("06", "07", "08", "09")]
    gone, locked = scene_items[0], scene_items[1]
    gone["assets"]["red"]["href"] = f"{base}/nowhere/{gone['id']}_SR_B4.TIF"
    h = locked["assets"]["nir08"]["href"]
    locked["assets"]["nir08"]["href"] = h.replace(base, f"{base}/private")
    fc = _write(tmp_path / "http_bad.json", _fc(items))
    r = _composite(out, ["--stac", fc], archive)
    assert r.exit_code != 0, r.output
    assert "2 scenes cannot be used" in r.output
    assert f"item {gone['id']} asset 'red'" in r.output and "not found (HTTP 404)" in r.output
    assert f"item {locked['id']} asset 'nir08'" in r.output and "unsigned" in r.output
    assert "--skip-bad" in r.output
    assert not out.exists()
    # --skip-bad: the two scenes are skipped and listed, the rest is composited
    r = _composite(out, ["--stac", fc], archive, "--skip-bad")
    assert r.exit_code == 0, r.output
    man = json.loads((out / "manifest.json").read_text())
    reasons = {p["scene"]: p["reason"] for p in man["scenes_skipped"]}
    assert sum(1 for why in reasons.values() if "HTTP 404" in why or "HTTP 403" in why) == 2
    used = {u["scene"] for u in man["scenes_used"]}
    assert not any(re.sub(r"_\d{8}_02_", "_02_", s) in (gone["id"], locked["id"])
                   for s in used)
    shutil.rmtree(out)


def test_sources_and_signers_are_checked(archive, tmp_path):
    r = _composite(tmp_path / "o", [], archive)
    assert r.exit_code != 0 and "exactly one source of scenes" in r.output
    r = _composite(tmp_path / "o", ["--stac-api", "http://127.0.0.1:9/", ], archive)
    assert r.exit_code != 0 and "--collection" in r.output
    with pytest.raises(stac.StacError, match="unknown URL signer 'nope'"):
        stac.resolve_signer("nope")
    with pytest.raises(stac.StacError, match="not an ItemCollection"):
        stac.load_items({"type": "Topology"})
    assert stac.resolve_signer(None) is None


def test_stac_api_search_glue(archive, local_out, tmp_path, monkeypatch):
    """--stac-api: the search gets the collections, the grid's lon/lat box, the years as the
    interval and the cloud filter; its items composite like the saved catalog."""
    pystac_client = pytest.importorskip("pystac_client")
    calls: list[dict] = []
    items = pc_items(archive, base="")

    class _Search:
        def items_as_dicts(self):
            return iter(items)

    class _Client:
        def search(self, **kw):
            calls.append(kw)
            return _Search()

    monkeypatch.setattr(pystac_client.Client, "open", staticmethod(lambda url: _Client()))
    out = tmp_path / "api"
    r = _composite(out, ["--stac-api", "https://stac.example.invalid/v1", "--collection",
                         "landsat-c2-l2", "--max-cloud", "60"], archive)
    assert r.exit_code == 0, r.output
    _assert_same(local_out, out)
    (kw,) = calls
    assert kw["collections"] == ["landsat-c2-l2"]
    assert kw["datetime"] == "2010-01-01/2014-12-31"
    assert kw["query"] == {"eo:cloud_cover": {"lte": 60.0}}
    lon0, lat0, lon1, lat1 = kw["bbox"]
    assert 119 < lon0 < lon1 < 121 and 39 < lat0 < lat1 < 40
    # the cloud filter also applies client-side (items above it are dropped)
    assert stac.scenes_from_stac(_fc(items), max_cloud=10) == []


def test_scenes_lists_stac_items_as_composite_would_use_them(archive, tmp_path):
    """`mlri scenes --stac` lists the same usable scenes as the folder listing, and an item
    whose QA_PIXEL asset is missing as a problem naming the band."""
    items = pc_items(archive)
    victim = next(it for it in items if it["id"].startswith("LC08"))
    fc_ok = _write(tmp_path / "ok.json", _fc(items))
    r_dir = _invoke("scenes", archive.root)
    r_stac = _invoke("scenes", "--stac", fc_ok)
    assert r_dir.exit_code == 0 and r_stac.exit_code == 0, r_stac.output

    def usable(out: str) -> set[str]:
        return {re.sub(r"_\d{8}_02_", "_02_", ln.split("\t")[0]) for ln in out.splitlines()
                if ln.startswith(("LT05", "LE07", "LC08", "LC09")) and "\t" in ln}

    assert usable(r_stac.output) and usable(r_stac.output) == usable(r_dir.output)
    del victim["assets"]["qa_pixel"]
    fc_bad = _write(tmp_path / "bad.json", _fc(items))
    r = _invoke("scenes", "--stac", fc_bad)
    assert r.exit_code == 0, r.output
    skip = [ln for ln in r.output.splitlines() if ln.startswith("SKIP ")]
    assert any(victim["id"] in ln and "QA_PIXEL" in ln for ln in skip), skip
    assert victim["id"] not in {re.sub(r"_\d{8}_02_", "_02_", u) for u in usable(r.output)}
    r = _invoke("scenes")
    assert r.exit_code == 2 and "PATHS" in r.output and "--stac" in r.output
    r = _invoke("scenes", archive.root, "--max-cloud", "10")
    assert r.exit_code == 2 and "--max-cloud applies to --stac" in r.output
