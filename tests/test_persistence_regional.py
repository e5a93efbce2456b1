"""``mlri run --significance sieve --persistence regional [--persistence-mask FILE]``: the
regional AR(1) persistence estimated in a map-wide first pass (and the same in mlri.xarray)."""

from __future__ import annotations

import json

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

from click.testing import CliRunner

from mlri import significance as sg
from mlri.cli import main
from mlri.demo import DemoSite, planted_restorations, synthesize, write_inputs
from mlri.pipeline import run
from mlri.significance import regional_pass

FAST = {"quiet": True, "cog": False, "checksum": False}
SI = [4, 5, 6]
NOMINAL = 0.025  # one tail of the two-sided 0.05 class rule


def _write_mask(path, mask, site):
    h, w = mask.shape
    with rasterio.open(path, "w", driver="GTiff", crs=site.crs, transform=site.transform,
                       width=w, height=h, count=1, dtype="uint8") as ds:
        ds.write(mask.astype(np.uint8), 1)
    return path


def _read(path, band=None):
    with rasterio.open(path) as src:
        return src.read() if band is None else src.read(band)


def _sig(res):
    return res.summary["significance"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("regional")
    s = synthesize(seed=7, shape=(60, 80))
    write_inputs(s, root / "in")
    _write_mask(root / "steppe.tif", s.truth == 1, s)
    return s, root


def _estimate(lst, evi, years, mask=None):
    return sg.regional_persistence(lst, evi, np.asarray(years, float), mask=mask)


# ---- the estimate is regional_persistence on the sampled pixels -------------------------------

def test_regional_equals_regional_persistence_on_the_same_pixels(site, tmp_path, monkeypatch):
    s, root = site
    res = run(root / "in", root / "in", tmp_path / "all", significance="sieve",
              persistence="regional", permutations=19, tile=32, **FAST)
    sig = _sig(res)
    want = _estimate(s.lst, s.evi, s.years)
    assert sig["persistence"] == "regional"
    assert sig["phi_lst"] == want.phi_lst and sig["phi_evi"] == want.phi_evi
    est = sig["persistence_estimate"]
    assert est["pixels"] == want.n_pixels and est["sample_stride"] == 1 and est["mask"] is None
    assert est["r_lst"] == want.r_lst and est["r_evi"] == want.r_evi
    # the manifest records the same block; its parameters keep what the user asked
    man = json.loads(res.files["manifest.json"].read_text())
    assert man["significance"] == sig and man["parameters"]["persistence"] == "regional"

    # a bound below the map's size: every 4th row and column (60 x 80 -> 15 x 20 = 300 <= 1000;
    # every 2nd would be 1200 > 1000)
    monkeypatch.setattr(regional_pass, "SAMPLE_PIXELS", 1000)
    sub = run(root / "in", root / "in", tmp_path / "sub", significance="sieve",
              persistence="regional", permutations=19, tile=32, **FAST)
    want = _estimate(s.lst[:, ::4, ::4], s.evi[:, ::4, ::4], s.years)
    sig = _sig(sub)
    assert sig["persistence_estimate"]["sample_stride"] == 4
    assert sig["persistence_estimate"]["pixels"] == want.n_pixels
    assert sig["phi_lst"] == want.phi_lst and sig["phi_evi"] == want.phi_evi


def test_regional_sieve_uses_the_estimate(site, tmp_path):
    """The tiled pass runs the sieve test with the estimated phi: the same p-values as giving
    that phi by hand."""
    _, root = site
    a = run(root / "in", root / "in", tmp_path / "a", significance="sieve",
            persistence_mask=str(root / "steppe.tif"), permutations=49, seed=2, **FAST)
    sig = _sig(a)
    assert sig["persistence"] == "regional"
    b = run(root / "in", root / "in", tmp_path / "b", significance="sieve",
            persistence=(sig["phi_lst"], sig["phi_evi"]), permutations=49, seed=2, **FAST)
    for name in ("significance.tif", "classes.tif"):
        assert _read(a.files[name]).tobytes() == _read(b.files[name]).tobytes(), name
    # with an FDR, its pass (after the estimate) uses the estimated phi too
    kw = {"significance": "sieve", "permutations": 99, "seed": 2, "fdr": 0.2, **FAST}
    c = run(root / "in", root / "in", tmp_path / "c", persistence_mask=str(root / "steppe.tif"),
            **kw)
    d = run(root / "in", root / "in", tmp_path / "d",
            persistence=(sig["phi_lst"], sig["phi_evi"]), **kw)
    assert _sig(c)["fdr_p_threshold"] == _sig(d)["fdr_p_threshold"]
    assert _read(c.files["classes.tif"]).tobytes() == _read(d.files["classes.tif"]).tobytes()


# ---- deterministic: tiles, threads, Dask chunks ---------------------------------------------

def test_identical_for_tiles_threads_and_chunks(site, tmp_path, monkeypatch):
    s, root = site
    # a small bound makes the stride double in the middle of the pass, at different windows
    # for different tilings
    monkeypatch.setattr(regional_pass, "SAMPLE_PIXELS", 700)
    kw = {"significance": "sieve", "persistence": "regional", "permutations": 19, "seed": 5,
          "persistence_mask": str(root / "steppe.tif")}
    a = run(root / "in", root / "in", tmp_path / "a", tile=32, threads=1, **kw, **FAST)
    b = run(root / "in", root / "in", tmp_path / "b", tile=512, threads=2, **kw, **FAST)
    windows = [rasterio.windows.Window(c, r, min(13, 80 - c), min(11, 60 - r))
               for r in range(0, 60, 11) for c in range(0, 80, 13)][::-1]  # odd, reversed
    c = run(root / "in", root / "in", tmp_path / "c", windows=windows, threads=2, **kw, **FAST)
    assert _sig(a) == _sig(b) == _sig(c)
    assert _sig(a)["persistence_estimate"]["sample_stride"] == 2
    want = _estimate(s.lst[:, ::2, ::2], s.evi[:, ::2, ::2], s.years,
                     mask=(s.truth == 1)[::2, ::2])
    assert _sig(a)["phi_lst"] == want.phi_lst and _sig(a)["phi_evi"] == want.phi_evi
    for name in ("significance.tif", "classes.tif", "trend.tif"):
        assert _read(a.files[name]).tobytes() == _read(b.files[name]).tobytes(), name
        assert _read(a.files[name]).tobytes() == _read(c.files[name]).tobytes(), name

    mx = pytest.importorskip("mlri.xarray")
    outs = []
    for chunks in ((7, 33),):  # (16, 20) chunks: tests/test_products.py
        lst = mx.open_stack(sorted((root / "in").glob("LST_*.tif")), chunks=chunks)
        evi = mx.open_stack(sorted((root / "in").glob("EVI_*.tif")), chunks=chunks)
        ds = mx.run_stack(lst, evi, **kw)
        est = json.loads(ds.attrs["mlri_options"])["persistence_estimate"]
        assert est["phi_lst"] == _sig(a)["phi_lst"] and est["phi_evi"] == _sig(a)["phi_evi"]
        outs.append(ds[["p_increase", "p_decrease", "classes"]].compute())
    # NumPy-backed stacks: one block, the same estimate
    lst = mx.open_stack(sorted((root / "in").glob("LST_*.tif")), chunks=(16, 20)).compute()
    evi = mx.open_stack(sorted((root / "in").glob("EVI_*.tif")), chunks=(16, 20)).compute()
    ds = mx.run_stack(lst, evi, **kw)
    assert json.loads(ds.attrs["mlri_options"])["persistence_estimate"]["phi_lst"] == \
        _sig(a)["phi_lst"]
    outs.append(ds)
    # a mask file needs a georeferenced stack
    bare = lst.drop_vars([c for c in lst.coords if c not in lst.dims[:1]])
    bare.attrs = {}
    with pytest.raises(ValueError, match="persistence_mask needs georeferenced stacks"):
        mx.run_stack(bare, bare.copy(), **kw)
    p = _read(a.files["significance.tif"])
    for ds in outs:
        np.testing.assert_array_equal(ds["p_increase"].values.astype(np.float32), p[0])
        np.testing.assert_array_equal(ds["classes"].values, _read(a.files["classes.tif"], 1))


# ---- the mask restricts the estimate ------------------------------------------------------------

@pytest.fixture(scope="module")
def two_regions(tmp_path_factory):
    """40 x 50 pixels: the left 20 columns persistent (AR(1) phi 0.7), the rest independent
    years; LST and EVI with the test-suite's AR(1) noise."""
    from test_significance_sieve import YEARS, ar1

    root = tmp_path_factory.mktemp("two_regions")
    rng = np.random.default_rng(17)
    h, w = 40, 50
    lst = 300 + ar1(rng, YEARS, (h, w), 0.0, 2.0)
    evi = 0.3 + ar1(rng, YEARS, (h, w), 0.0, 0.03)
    lst[:, :, :20] = 300 + ar1(rng, YEARS, (h, 20), 0.7, 2.0)
    evi[:, :, :20] = 0.3 + ar1(rng, YEARS, (h, 20), 0.7, 0.03)
    base = synthesize(seed=1, shape=(h, w))
    s = DemoSite(lst.astype(np.float32), evi.astype(np.float32), [int(y) for y in YEARS],
                 np.zeros((h, w), np.uint8), base.transform, base.crs)
    write_inputs(s, root / "in")
    left = np.zeros((h, w), bool)
    left[:, :20] = True
    _write_mask(root / "white.tif", ~left, s)
    # polygons of the persistent part, in geographic coordinates (reprojected on reading)
    from pyproj import Transformer

    t = s.transform
    x0, y0 = t * (0, 0)
    x1, y1 = t * (20, h)
    to_ll = Transformer.from_crs(s.crs, "EPSG:4326", always_xy=True)
    ring = [to_ll.transform(x, y) for x, y in
            ((x0, y0), (x1 - 1, y0), (x1 - 1, y1), (x0, y1), (x0, y0))]  # centres of cols 0-19
    gj = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
          "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}}]}
    (root / "persistent.geojson").write_text(json.dumps(gj))
    return s, root, left


def test_mask_restricts_the_estimate(two_regions, tmp_path):
    s, root, left = two_regions
    kw = {"significance": "sieve", "permutations": 19, **FAST}
    white = _sig(run(root / "in", root / "in", tmp_path / "w",
                     persistence_mask=str(root / "white.tif"), **kw))
    pers = _sig(run(root / "in", root / "in", tmp_path / "p",
                    persistence_mask=str(root / "persistent.geojson"), **kw))
    whole = _sig(run(root / "in", root / "in", tmp_path / "a", persistence="regional", **kw))
    # each equals regional_persistence over its mask
    for sig, mask in ((white, ~left), (pers, left), (whole, None)):
        want = _estimate(s.lst, s.evi, s.years, mask=mask)
        assert (sig["phi_lst"], sig["phi_evi"]) == (want.phi_lst, want.phi_evi)
        assert sig["persistence_estimate"]["pixels"] == want.n_pixels
    assert white["persistence_estimate"]["pixels"] == 40 * 30
    assert pers["persistence_estimate"]["pixels"] == 40 * 20
    # 1200 / 800 pixels of 19 years: the planted persistence is recovered to a few hundredths
    assert white["phi_lst"] < 0.05 and white["phi_evi"] < 0.05
    assert abs(pers["phi_lst"] - 0.7) < 0.05 and abs(pers["phi_evi"] - 0.7) < 0.05
    assert white["phi_lst"] < whole["phi_lst"] < pers["phi_lst"]


# ---- errors -------------------------------------------------------------------------------------

def _cli(root, out, *args):
    return CliRunner().invoke(main, ["run", "--lst", str(root / "in"), "--evi",
                                     str(root / "in"), "--out", str(out), "--quiet",
                                     "--no-cog", "--no-checksum", "--significance", "sieve",
                                     "--permutations", "19", *args])


def _one_error(res, *needles):
    assert res.exit_code != 0
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert "Traceback" not in res.output
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_bad_mask_file_is_one_error_line(two_regions, site, tmp_path):
    _, root, _ = two_regions
    _, other = site
    missing = tmp_path / "nope.tif"
    _one_error(_cli(root, tmp_path / "o1", "--persistence-mask", str(missing)),
               "--persistence-mask", str(missing), "not found")
    # a raster on another grid (the 60 x 80 site)
    _one_error(_cli(root, tmp_path / "o2", "--persistence-mask", str(other / "steppe.tif")),
               "--persistence-mask", "steppe.tif", "input grid")
    junk = tmp_path / "junk.geojson"
    junk.write_text("not a vector file")
    _one_error(_cli(root, tmp_path / "o3", "--persistence-mask", str(junk)),
               "--persistence-mask", str(junk), "polygons")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    _one_error(_cli(root, tmp_path / "o4", "--persistence-mask", str(bad)),
               "--persistence-mask", str(bad))
    # a mask that selects no pixel with data
    empty = _write_mask(tmp_path / "empty.tif", np.zeros((40, 50), bool), two_regions[0])
    _one_error(_cli(root, tmp_path / "o5", "--persistence-mask", str(empty)),
               "--persistence-mask", str(empty), "no pixel")
    # contradictory options
    _one_error(_cli(root, tmp_path / "o6", "--persistence", "0.3,0.4", "--persistence-mask",
                    str(root / "white.tif")), "--persistence-mask", "--persistence")
    res = CliRunner().invoke(main, ["run", "--lst", str(root / "in"), "--evi", str(root / "in"),
                                    "--out", str(tmp_path / "o7"), "--quiet",
                                    "--persistence", "regional"])
    _one_error(res, "--persistence regional", "--significance sieve")
    # a bad flag value is click's usage error (usage lines, then the Error: line)
    res = _cli(root, tmp_path / "o8", "--persistence", "local")
    err = [x for x in res.output.splitlines() if x.startswith("Error: ")]
    assert res.exit_code == 2 and len(err) == 1 and "Traceback" not in res.output
    assert "'--persistence'" in err[0] and "'regional'" in err[0]
    for k in range(1, 9):
        assert not (tmp_path / f"o{k}" / "manifest.json").exists()


def test_cli_prints_the_estimate(two_regions, tmp_path):
    _, root, _ = two_regions
    res = CliRunner().invoke(main, ["run", "--lst", str(root / "in"), "--evi", str(root / "in"),
                                    "--out", str(tmp_path / "o"), "--no-cog", "--no-checksum",
                                    "--significance", "sieve", "--permutations", "19",
                                    "--persistence-mask", str(root / "white.tif")])
    assert res.exit_code == 0, res.output
    sig = json.loads((tmp_path / "o" / "summary.json").read_text())["significance"]
    line = next(x for x in res.output.splitlines() if x.startswith("persistence (regional"))
    assert f"phi_LST {sig['phi_lst']:.3f}" in line and f"phi_EVI {sig['phi_evi']:.3f}" in line
    assert "1200 pixels inside" in line and "white.tif" in line


# ---- power and level on demo-like data ------------------------------------------------------------

def test_power_on_the_demo_site(tmp_path):
    """The demo site (shared weather, cloud gaps, the three dumps restored from 2002, 2006 and
    2010): with the persistence estimated on its steppe, the sieve finds >= 80 % of the
    restoring pixels; the steppe and the old stable dump stay within 1.5x the nominal 2.5 %."""
    s = synthesize(seed=2024)
    write_inputs(s, tmp_path / "in")
    mask = _write_mask(tmp_path / "steppe.tif", s.truth == 1, s)
    res = run(tmp_path / "in", tmp_path / "in", tmp_path / "out", significance="sieve",
              persistence_mask=str(mask), permutations=199, seed=1, **FAST)
    c = _read(res.files["classes.tif"], 1)
    classified = c != 0
    restoring = np.isin(s.truth, (4, 5, 6)) & classified
    assert np.isin(c[restoring], SI).mean() >= 0.80
    for code in (1, 7):
        stable = (s.truth == code) & classified
        assert np.isin(c[stable], SI).mean() <= 1.5 * NOMINAL, code


@pytest.mark.parametrize("phi", [0.0, 0.3, 0.6])
def test_level_and_power_with_white_and_persistent_noise(phi, tmp_path):
    """Demo-like pixels (mlri.demo.planted_restorations: the dumps' recovery, the site's noise
    drawn per pixel as AR(1) with persistence phi): 2,000 restoring and 3,000 stable pixels,
    and 3,000 stable pixels of 'surrounding land' as the mask of the regional estimate.

    Level: rate of SI on the stable pixels <= 1.5x nominal (3.75 %; the Monte-Carlo sd of a
    2.5 % rate over 3,000 pixels is 0.29 %).  Power: >= 80 % of the restoring pixels with
    independent years (phi = 0: 90 %).  With persistence the test finds fewer (phi = 0.3:
    79.8 %, phi = 0.6: 64.5 % with these seeds): an early recovery that has levelled off, like the dump
    restored from 2002, is then hard to tell from a persistent excursion (docs/significance.md,
    section 9: the numbers, and why)."""
    lst, evi, yrs, start = planted_restorations(2000, 3000, seed=31, phi=phi)
    land_l, land_e, _, _ = planted_restorations(0, 3000, seed=32, phi=phi)
    n = lst.shape[1] + land_l.shape[1]
    h, w = 50, n // 50
    base = synthesize(seed=1, shape=(h, w))
    s = DemoSite(np.concatenate([lst, land_l], 1).reshape(-1, h, w).astype(np.float32),
                 np.concatenate([evi, land_e], 1).reshape(-1, h, w).astype(np.float32),
                 [int(y) for y in yrs], np.zeros((h, w), np.uint8), base.transform, base.crs)
    write_inputs(s, tmp_path / "in")
    land = np.zeros(n, bool)
    land[lst.shape[1]:] = True
    mask = _write_mask(tmp_path / "land.tif", land.reshape(h, w), s)
    res = run(tmp_path / "in", tmp_path / "in", tmp_path / "out", significance="sieve",
              persistence_mask=str(mask), permutations=199, seed=3, **FAST)
    sig = _sig(res)
    assert abs(sig["phi_lst"] - phi) < 0.05 and abs(sig["phi_evi"] - phi) < 0.05
    p_inc = _read(res.files["significance.tif"], 1).reshape(-1)[:lst.shape[1]]
    c = _read(res.files["classes.tif"], 1).reshape(-1)[:lst.shape[1]]
    restoring = np.isfinite(start)
    assert np.isin(c[~restoring], SI).mean() <= 1.5 * NOMINAL
    assert np.mean(p_inc[~restoring] <= NOMINAL) <= 1.5 * NOMINAL
    power = np.mean(p_inc[restoring] <= NOMINAL)
    if phi == 0.0:
        assert power >= 0.80
