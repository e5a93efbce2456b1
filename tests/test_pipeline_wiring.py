"""Tests wired into ``mlri run`` through the extension points: ``--significance sieve``,
``hamed-rao``, ``yue-wang`` (the significance registry)."""

from __future__ import annotations

import json

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

from click.testing import CliRunner

import mlri
from mlri.cli import main
from mlri.demo import synthesize, write_inputs
from mlri.pipeline import run

SI = [4, 5, 6]
FAST = {"quiet": True, "cog": False, "checksum": False}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("wiring")
    s = synthesize(seed=7, shape=(60, 80))
    write_inputs(s, root / "in")
    return s, root


def _read(path, band=None):
    with rasterio.open(path) as src:
        return src.read() if band is None else src.read(band)


def _cli(root, out, *args):
    return CliRunner().invoke(main, ["run", "--lst", str(root / "in"), "--evi",
                                     str(root / "in"), "--out", str(out), "--quiet",
                                     "--no-cog", "--no-checksum", *args])


def _si(classes, truth, region):
    return float(np.isin(classes[truth == region], SI).mean())


# ---- sieve ----------------------------------------------------------------------------------

def test_cli_sieve_end_to_end_and_invariant_to_tiles_and_threads(site, tmp_path):
    s, root = site
    a = tmp_path / "a"
    res = _cli(root, a, "--significance", "sieve", "--permutations", "99", "--seed", "4",
               "--tile", "512", "--threads", "2")
    assert res.exit_code == 0, res.output
    b = run(root / "in", root / "in", tmp_path / "b", significance="sieve", permutations=99,
            seed=4, tile=32, threads=1, **FAST)
    for name in ("classes.tif", "significance.tif", "trend.tif"):
        x, y = _read(a / name), _read(b.files[name])
        assert x.tobytes() == y.tobytes(), name
    p = _read(a / "significance.tif")
    fin = p[np.isfinite(p)]
    assert fin.size > 0 and fin.min() >= 1 / 100 and fin.max() <= 1
    summ = json.loads((a / "summary.json").read_text())
    sg = summ["significance"]
    assert sg["test"] == "sieve" and sg["replicates"] == 99 and sg["seed"] == 4
    assert sg["persistence"] == "per-pixel" and "low power" in sg["persistence_note"]
    man = json.loads((a / "manifest.json").read_text())
    assert man["significance"] == sg
    # the sieve (per-pixel persistence) keeps stable land far below the paper rule's ~50 %
    c = _read(a / "classes.tif", 1)
    assert _si(c, s.truth, 1) < 0.10


def test_sieve_given_persistence_recorded(site, tmp_path):
    _, root = site
    out = tmp_path / "g"
    res = _cli(root, out, "--significance", "sieve", "--permutations", "19",
               "--persistence", "0.4,0.5")
    assert res.exit_code == 0, res.output
    sg = json.loads((out / "summary.json").read_text())["significance"]
    assert sg["persistence"] == "given" and sg["phi_lst"] == 0.4 and sg["phi_evi"] == 0.5
    bad = _cli(root, tmp_path / "bad", "--significance", "sieve", "--persistence", "0.4")
    assert bad.exit_code != 0 and "--persistence" in bad.output and "Traceback" not in bad.output
    with pytest.raises(ValueError, match="persistence must be two numbers"):
        mlri.recipe.Options(significance="sieve", persistence=(0.2, 1.5)).prepare(
            mlri.default_years(19))


def test_sieve_with_zero_persistence_is_the_permutation_test(site, tmp_path):
    """phi = 0: the replicates are permutations of the observed pairs, so the sieve's p-values
    are the permutation test's up to Monte-Carlo error (their random streams differ by
    design).  Per p-value the two independent estimates (B = 999) differ with sd
    sqrt(2 p (1 - p) / B); standardised differences must look like N(0, 1) noise: no bias
    (mean within 6 sd of its own error), unit spread, no outlier beyond 6 sd."""
    _, root = site
    b = 999
    kw = {"permutations": b, "seed": 1, **FAST}
    sv = run(root / "in", root / "in", tmp_path / "s", significance="sieve",
             persistence=(0.0, 0.0), **kw)
    pm = run(root / "in", root / "in", tmp_path / "p", significance="permutation", **kw)
    ps, pp = _read(sv.files["significance.tif"]), _read(pm.files["significance.tif"])
    assert np.array_equal(np.isnan(ps), np.isnan(pp))
    ok = np.isfinite(pp)
    x, y = ps[ok].astype(np.float64), pp[ok].astype(np.float64)
    pbar = np.clip((x + y) / 2, 1 / (b + 1), 1 - 1 / (b + 1))
    z = (x - y) / np.sqrt(2 * pbar * (1 - pbar) / b)
    assert abs(z.mean()) < 6 / np.sqrt(z.size)
    assert 0.8 < np.sqrt(np.mean(z**2)) < 1.2
    assert np.abs(z).max() < 6
    assert not np.array_equal(x, y)  # distinct streams (not a copy of the other)


# ---- hamed-rao / yue-wang -------------------------------------------------------------------

@pytest.mark.parametrize(("name", "method"), [("hamed-rao", "hamed_rao"),
                                              ("yue-wang", "yue_wang")])
def test_cli_modified_mk_end_to_end(site, tmp_path, name, method):
    s, root = site
    a = tmp_path / "a"
    res = _cli(root, a, "--significance", name, "--tile", "512", "--threads", "2")
    assert res.exit_code == 0, res.output
    b = run(root / "in", root / "in", tmp_path / "b", significance=name, tile=32, threads=1,
            **FAST)
    for fname in ("classes.tif", "significance.tif"):
        assert _read(a / fname).tobytes() == _read(b.files[fname]).tobytes(), fname
    # the p-values are the one-sided normal p of mk_modified's Z on the stored MLRI
    m = _read(a / "mlri.tif")
    z = mlri.significance.mk_modified(m, mlri.default_years(m.shape[0]), method=method).z
    from scipy.special import ndtr

    p = _read(a / "significance.tif").astype(np.float64)
    np.testing.assert_allclose(p[0], ndtr(-z), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(p[1], ndtr(z), rtol=1e-6, atol=1e-7)
    sg = json.loads((a / "summary.json").read_text())["significance"]
    assert sg["test"] == name and "construction drift" in sg["caveat"]
    # as the caveat says: stable land still tests SI far above the nominal rate
    assert _si(_read(a / "classes.tif", 1), s.truth, 1) > 0.2


# ---- Sen's slope interval (trend.tif bands sen_low, sen_high) -------------------------------

def test_sen_interval_bands(site, tmp_path):
    from mlri.products import TREND_BANDS

    _, root = site
    a = tmp_path / "a"
    res = _cli(root, a, "--sen-alpha", "0.1", "--tile", "512", "--threads", "2")
    assert res.exit_code == 0, res.output
    b = run(root / "in", root / "in", tmp_path / "b", sen_alpha=0.1, tile=32, threads=1,
            **FAST)
    ta, tb = _read(a / "trend.tif"), _read(b.files["trend.tif"])
    assert ta.tobytes() == tb.tobytes()
    lo, hi = TREND_BANDS.index("sen_low"), TREND_BANDS.index("sen_high")
    assert (lo, hi) == (len(TREND_BANDS) - 2, len(TREND_BANDS) - 1)  # appended at the end
    # the bands are mlri.sen_interval of the stored MLRI at --sen-alpha
    m = _read(a / "mlri.tif")
    ci = mlri.sen_interval(m, mlri.default_years(m.shape[0]), alpha=0.1)
    assert ta[lo].tobytes() == ci.low_slope.astype(np.float32).tobytes()
    assert ta[hi].tobytes() == ci.high_slope.astype(np.float32).tobytes()
    slope = ta[TREND_BANDS.index("sen_slope")]
    ok = np.isfinite(slope)
    assert ok.any() and np.all(ta[lo][ok] <= slope[ok]) and np.all(slope[ok] <= ta[hi][ok])
    # a wider interval at the default 0.05
    c = run(root / "in", root / "in", tmp_path / "c", tile=512, **FAST)
    tc = _read(c.files["trend.tif"])
    assert np.all(tc[lo][ok] <= ta[lo][ok]) and np.all(tc[hi][ok] >= ta[hi][ok])
    assert np.any(tc[hi][ok] > ta[hi][ok])
    # the other bands do not depend on sen_alpha
    assert tc[:lo].tobytes() == ta[:lo].tobytes()
    bad = _cli(root, tmp_path / "bad", "--sen-alpha", "1.5")
    assert bad.exit_code != 0 and "--sen-alpha" in bad.output


# ---- onset.tif ------------------------------------------------------------------------------

def test_onset_output(site, tmp_path):
    from mlri.products import ONSET_BANDS

    s, root = site
    a = tmp_path / "a"
    res = _cli(root, a, "--onset", "--tile", "512", "--threads", "2")
    assert res.exit_code == 0, res.output
    b = run(root / "in", root / "in", tmp_path / "b", onset=True, tile=32, threads=1, **FAST)
    oa = _read(a / "onset.tif")
    assert oa.tobytes() == _read(b.files["onset.tif"]).tobytes()
    with rasterio.open(a / "onset.tif") as src:
        assert src.descriptions == ONSET_BANDS and src.dtypes[0] == "float32"
        assert np.isnan(src.nodata)
    # the bands are mlri.onset of the EVI stack with its defaults
    evi = np.stack([_read(p, 1) for p in sorted((root / "in").glob("EVI_*.tif"))])
    with rasterio.open(next((root / "in").glob("EVI_*.tif"))) as src:
        nd = src.nodata
    evi = np.where(evi == nd, np.nan, evi) if nd is not None else evi
    ref = mlri.onset(evi, mlri.default_years(evi.shape[0]))
    for i, k in enumerate(ONSET_BANDS):
        assert oa[i].tobytes() == np.asarray(getattr(ref, k), np.float32).tobytes(), k
    # planted restoration starts (demo: dumps revegetated from 2002, 2006, 2010)
    for region, year in ((4, 2002), (5, 2006), (6, 2010)):
        on = oa[0][s.truth == region]
        assert np.isfinite(on).mean() > 0.9 and abs(np.nanmedian(on) - year) <= 1
    # summary: hectares per onset year of the SI pixels with a finite onset
    summ = json.loads((a / "summary.json").read_text())["onset"]
    cls = _read(a / "classes.tif", 1)
    sel = np.isin(cls, SI) & np.isfinite(oa[0])
    assert summ["n_pixels"] == int(sel.sum())
    yrs, n = np.unique(oa[0][sel], return_counts=True)
    ha = b.summary["pixel_area_ha"]
    assert summ["by_year"] == {str(int(y)): round(float(k * ha), 3)
                               for y, k in zip(yrs, n, strict=True)}
    assert summ["median_year"] == float(np.median(oa[0][sel]))
    # off by default: no onset.tif, no onset summary
    c = run(root / "in", root / "in", tmp_path / "c", tile=512, **FAST)
    assert not (tmp_path / "c" / "onset.tif").exists() and "onset" not in c.summary


# ---- sensor step in summary.json ------------------------------------------------------------

def test_sensor_step_summary(site, tmp_path):
    from mlri.products import SI_CODES, sensor_sample_stride
    from mlri.sensor import sensor_step

    _, root = site
    a = run(root / "in", root / "in", tmp_path / "a", tile=512, threads=2, **FAST)
    b = run(root / "in", root / "in", tmp_path / "b", tile=32, threads=1, **FAST)
    ss = a.summary["sensor_step"]
    assert ss == b.summary["sensor_step"]  # tiles and threads never change it
    on_disk = json.loads(a.files["summary.json"].read_text())["sensor_step"]
    assert on_disk["EVI"]["step"] == ss["EVI"]["step"]
    # = mlri.sensor.sensor_step on the classified, non-restoring pixels of the sampled grid
    cls = _read(a.files["classes.tif"], 1)
    h, w = cls.shape
    k = sensor_sample_stride(w, h)
    grid = np.zeros_like(cls, dtype=bool)
    grid[::k, ::k] = True
    sel = grid & (cls != 0) & ~np.isin(cls, SI_CODES)
    assert ss["n_sampled"] == int(sel.sum()) > 100
    years = mlri.default_years(19)
    for var in ("EVI", "LST"):
        files = sorted((root / "in").glob(f"{var}_*.tif"))
        with rasterio.open(files[0]) as src:
            nd = src.nodata
        stack = np.stack([_read(p, 1) for p in files]).astype(np.float64)
        if nd is not None:
            stack[stack == nd] = np.nan
        ref = sensor_step(stack[:, sel], years, stable=np.ones(int(sel.sum()), bool),
                          variable=var).as_dict()
        assert ss[var] == ref, var
    # years that do not straddle the TM -> OLI switch: no sensor step
    c = run(root / "in", root / "in", tmp_path / "c", years="2000-2011", tile=512, **FAST)
    assert "sensor_step" not in c.summary


def test_sensor_sample_of_tiles_is_the_global_grid(site):
    """Tiles whose offsets are not multiples of the stride sample exactly the pixels of the
    global grid (rows and columns divisible by the stride), in the order of the whole grid."""
    from mlri.pipeline import compute_tile
    from mlri.products import SI_CODES

    s, _ = site
    lst, evi = np.asarray(s.lst), np.asarray(s.evi)
    years = mlri.default_years(lst.shape[0])
    _, h, w = lst.shape
    k = 3
    whole = compute_tile(lst, evi, years, n_threads=1, sample_stride=k, width=w)
    grid = np.zeros((h, w), dtype=bool)
    grid[::k, ::k] = True
    sel = grid & (whole.classes != 0) & ~np.isin(whole.classes, SI_CODES)
    assert sel.sum() > 50
    np.testing.assert_array_equal(whole.sample[0], np.flatnonzero(sel))
    np.testing.assert_array_equal(whole.sample[1], lst[:, sel].astype(np.float64))
    parts = []
    for r in range(0, h, 23):  # 23 x 17 tiles: offsets 23, 46, 17, 34, ... (not multiples of 3)
        for c in range(0, w, 17):
            t = compute_tile(lst[:, r:r + 23, c:c + 17], evi[:, r:r + 23, c:c + 17], years,
                             n_threads=1, row0=r, col0=c, sample_stride=k, width=w)
            parts.append(t.sample)
    gidx = np.concatenate([p[0] for p in parts])
    order = np.argsort(gidx)
    np.testing.assert_array_equal(gidx[order], whole.sample[0])
    for i in (1, 2):
        np.testing.assert_array_equal(np.concatenate([p[i] for p in parts], axis=1)[:, order],
                                      whole.sample[i])
