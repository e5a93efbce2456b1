"""mlri.pipeline.run: planted truth of the demo site, output files, safety of the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

import mlri
from mlri._outputs import OutputExistsError
from mlri.demo import REGIONS, region_table, synthesize, write_inputs
from mlri.io import InputError
from mlri.pipeline import (
    CLASS_COLORS,
    CLASS_LABELS,
    OUTPUT_NAMES,
    TREND_BANDS,
    StatsOptions,
    run,
)

SI = {4, 5, 6}
RESULT_FILES = {"mlri.tif", "trend.tif", "classes.tif", "flags.tif", "summary.json",
                "manifest.json", "classes.tif.aux.xml", "classes.png"}


def folder_state(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The default demo site through the full pipeline (COG, overviews, checksums)."""
    root = tmp_path_factory.mktemp("demo")
    site = synthesize()
    write_inputs(site, root / "inputs")
    res = run(root / "inputs", root / "inputs", root / "out", quiet=True)
    return site, root, res


# ------------------------------------------------------------------ planted truth


def test_demo_planted_truth(demo_run):
    site, _, res = demo_run
    with rasterio.open(res.files["classes.tif"]) as ds:
        classes = ds.read(1)
    tab = region_table(classes, site.truth)
    for code in (4, 5, 6):  # dumps restored 2002, 2006, 2010: significant improvement
        assert tab[code]["si_fraction"] > 0.8, tab[code]
        assert tab[code]["majority"] in ("SAI", "SCI", "SI_H_undefined")
    for code in (2, 3):  # active pit and its expansion: not improving
        assert tab[code]["si_fraction"] < 0.25, tab[code]
        assert tab[code]["majority"] in ("SD", "ND", "NI")
    assert tab[3]["majority"] in ("SD", "ND")  # excavated steppe degrades
    assert tab[8]["majority"] == "nodata"  # pit lake: EVI < 0 every year
    # Not asserted, by design (SPEC §M): steppe and the stable 1995 dump drift upward,
    # so a large share of them is SI as well.
    assert set(tab) == set(REGIONS)


def test_demo_lake_is_dropped_not_lost(demo_run):
    site, _, res = demo_run
    with rasterio.open(res.files["trend.tif"]) as ds:
        dropped = ds.read(TREND_BANDS.index("years_dropped") + 1)
        n_valid = ds.read(1)
    with rasterio.open(res.files["flags.tif"]) as ds:
        flags = ds.read(1)
    lake = site.truth == 8
    assert (n_valid[lake] == 0).all()
    assert (dropped[lake] >= 10).all()  # every cloud-free year counted as dropped
    assert ((flags[lake] & mlri.FLAG_BITS["years_dropped"]) != 0).all()


# ------------------------------------------------------------------ output files


def test_output_files_reopen_with_metadata(demo_run):
    site, root, _ = demo_run
    assert set(folder_state(root / "out")) == RESULT_FILES
    expect = {"mlri.tif": ("float32", len(site.years)), "trend.tif": ("float32", 11),
              "classes.tif": ("uint8", 1), "flags.tif": ("uint8", 1)}
    for name, (dtype, count) in expect.items():
        with rasterio.open(root / "out" / name) as ds:
            assert ds.crs == rasterio.crs.CRS.from_string(site.crs), name
            assert ds.transform.almost_equals(site.transform), name
            assert ds.dtypes == (dtype,) * count, name
            assert ds.block_shapes[0][1] < ds.width or ds.width <= 256, name
            assert ds.compression is not None, name
            assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG", name
            if dtype == "float32":
                assert np.isnan(ds.nodata), name
    with rasterio.open(root / "out" / "mlri.tif") as ds:
        assert ds.descriptions == tuple(str(y) for y in site.years)
        assert ds.tags(3)["YEAR"] == str(site.years[2])
    with rasterio.open(root / "out" / "trend.tif") as ds:
        assert ds.descriptions == TREND_BANDS
        assert ds.descriptions == ("n_valid", "S", "var_S", "Z", "p", "sen_slope",
                                   "intercept", "hurst", "years_dropped", "sen_low",
                                   "sen_high")
    with rasterio.open(root / "out" / "classes.tif") as ds:
        assert ds.nodata == 0
        cmap = ds.colormap(1)
        for code, rgba in CLASS_COLORS.items():
            assert cmap[code] == rgba
        assert ds.tags(1)["CLASS_5"].startswith("SCI")
    with rasterio.open(root / "out" / "flags.tif") as ds:
        assert ds.nodata == 255
        assert ds.tags(1)["BIT_8"] == "years_dropped"
    aux = (root / "out" / "classes.tif.aux.xml").read_text()
    for name in CLASS_LABELS.values():
        assert f"<Category>{name}</Category>" in aux


def test_summary_and_manifest(demo_run):
    site, root, _ = demo_run
    summ = json.loads((root / "out" / "summary.json").read_text())
    h, w = site.truth.shape
    assert summ["pixels"] == h * w
    assert summ["pixel_area_ha"] == pytest.approx(0.09)
    assert summ["area_ha"] == pytest.approx(h * w * 0.09)
    counts = {c["name"]: c["pixels"] for c in summ["classes"]}
    assert sum(counts.values()) == h * w
    with rasterio.open(root / "out" / "classes.tif") as ds:
        cl = ds.read(1)
    for c in summ["classes"]:
        assert c["pixels"] == int((cl == c["code"]).sum())
    pct = [c["percent_of_classified"] for c in summ["classes"] if c["code"]]
    assert sum(pct) == pytest.approx(100, abs=0.01)
    assert summ["years"] == site.years
    # per year, from the index kernel's counts: numpy's counts of the inputs and of mlri.tif
    with rasterio.open(root / "out" / "mlri.tif") as ds:
        m = ds.read()
    for i, y in enumerate(site.years):
        assert summ["valid_pixels_per_year"][str(y)] == {
            "LST": int(np.isfinite(site.lst[i]).sum()), "EVI": int(np.isfinite(site.evi[i]).sum()),
            "MLRI": int(np.isfinite(m[i]).sum())}
    assert sum(v["LST"] for v in summ["valid_pixels_per_year"].values()) < m.size  # gaps

    man = json.loads((root / "out" / "manifest.json").read_text())
    assert man["build"]["mlri"] == mlri.__version__
    assert man["years"] == site.years
    assert man["parameters"]["min_valid"] == 10 and man["parameters"]["tile"] == 512
    assert man["threads"]["openmp"] >= 1
    assert {"read_s", "compute_s", "write_s", "finalize_s", "total_s"} <= set(man["timing"])
    ins = {Path(e["path"]).name: e for e in man["inputs"]}
    assert len(ins) == 2 * len(site.years)
    e = ins["LST_2005.tif"]
    assert e["size"] == (root / "inputs" / "LST_2005.tif").stat().st_size
    import hashlib

    assert e["sha256"] == hashlib.sha256((root / "inputs" / "LST_2005.tif").read_bytes()
                                         ).hexdigest()


def test_no_cog_and_options_roundtrip(tmp_path):
    site = synthesize(seed=3, shape=(40, 50))
    write_inputs(site, tmp_path / "in")
    opts = {"alpha": 0.05, "min_valid": 8, "hurst_series": "level",
            "zero_slope_direction": "sign_S", "evi_min": 0.02}
    res = run(tmp_path / "in", tmp_path / "in", tmp_path / "o", cog=False, quiet=True,
              checksum=False, compress="zstd", **opts)
    with rasterio.open(res.files["classes.tif"]) as ds:
        assert "LAYOUT" not in ds.tags(ns="IMAGE_STRUCTURE")
        assert ds.compression.value.upper() == "ZSTD"
        cl = ds.read(1)
    idx = mlri.index(site.lst, site.evi, site.years, evi_min=0.02)
    tr = mlri.trend(idx.mlri.astype(np.float32), site.years, hurst_series="level")
    ref, _ = mlri.classify(tr, alpha=0.05, min_valid=8, zero_slope_direction="sign_S",
                           dropped=idx.dropped)
    np.testing.assert_array_equal(cl, ref)
    man = json.loads(res.files["manifest.json"].read_text())
    assert man["parameters"]["alpha"] == 0.05 and man["parameters"]["hurst_series"] == "level"
    assert "sha256" not in man["inputs"][0]


def test_stack_inputs_and_celsius(tmp_path):
    site = synthesize(seed=4, shape=(30, 40))
    site.lst -= np.float32(273.15)
    write_inputs(site, tmp_path / "in", stack=True)
    lst, evi = tmp_path / "in" / "LST_stack.tif", tmp_path / "in" / "EVI_stack.tif"
    with pytest.raises(InputError, match="--lst-unit C"):
        run(lst, evi, tmp_path / "o", quiet=True)
    assert folder_state(tmp_path / "o") == []  # nothing written
    res = run(lst, evi, tmp_path / "o", quiet=True, lst_unit="C", checksum=False)
    assert res.summary["pixels_classified"] > 0


def test_input_digests_stop_when_the_start_up_fails(tmp_path, monkeypatch):
    """The inputs' SHA-256 starts before the start-up checks; a run that fails in them (here
    the unit check) stops it at once instead of reading every input to the end."""
    import threading

    import mlri.pipeline as pl

    site = synthesize(seed=4, shape=(20, 30))
    site.lst -= np.float32(273.15)  # Celsius, while lst_unit is K: check_units raises
    write_inputs(site, tmp_path / "in")
    seen: list[bool] = []
    done = threading.Event()

    def slow_digest(path, *, stop):  # a digest that takes until it is stopped (or 5 s)
        seen.append(stop.wait(5.0))
        done.set()
        return ""

    monkeypatch.setattr(pl, "file_digest", slow_digest)
    with pytest.raises(InputError, match="--lst-unit C"):
        run(tmp_path / "in", tmp_path / "in", tmp_path / "o", quiet=True)
    assert done.wait(10.0)
    assert seen == [True]  # stopped, not timed out, and no further input started
    assert folder_state(tmp_path / "o") == []


# ------------------------------------------------------------------ safety


def test_existing_results_refused_then_overwritten(tmp_path):
    site = synthesize(seed=5, shape=(24, 30))
    write_inputs(site, tmp_path / "in")
    run(tmp_path / "in", tmp_path / "in", tmp_path / "o", quiet=True, checksum=False)
    before = {n: (tmp_path / "o" / n).stat().st_mtime_ns for n in RESULT_FILES}
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run(tmp_path / "in", tmp_path / "in", tmp_path / "o", quiet=True)
    assert {n: (tmp_path / "o" / n).stat().st_mtime_ns for n in RESULT_FILES} == before
    run(tmp_path / "in", tmp_path / "in", tmp_path / "o", quiet=True, overwrite=True,
        checksum=False)
    assert set(folder_state(tmp_path / "o")) == RESULT_FILES


@pytest.mark.parametrize("where", ["compute", "write", "finalize"])
@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_nothing(tmp_path, monkeypatch, where, exc):
    import mlri._outputs as outs
    import mlri.pipeline as pl

    site = synthesize(seed=6, shape=(40, 40))
    write_inputs(site, tmp_path / "in", blocksize=16)
    calls = {"n": 0}

    if where == "compute":
        orig = pl.compute_tile

        def boom(*a, **k):
            calls["n"] += 1
            if calls["n"] == 3:
                raise exc("injected")
            return orig(*a, **k)

        monkeypatch.setattr(pl, "compute_tile", boom)
    elif where == "write":
        orig_acc = pl.SummaryAccumulator.add_block

        def boom_acc(self, *blocks):
            calls["n"] += 1
            if calls["n"] == 4:
                raise exc("injected")
            return orig_acc(self, *blocks)

        monkeypatch.setattr(pl.SummaryAccumulator, "add_block", boom_acc)
    else:
        orig_copy = outs._cog_options

        def boom_cog(*a, **k):
            calls["n"] += 1
            if calls["n"] == 3:  # third raster's COG pass
                raise exc("injected")
            return orig_copy(*a, **k)

        monkeypatch.setattr(outs, "_cog_options", boom_cog)
    with pytest.raises(exc):
        run(tmp_path / "in", tmp_path / "in", tmp_path / "o", tile=16, quiet=True,
            checksum=False)
    assert folder_state(tmp_path / "o") == []  # no complete-looking nor partial file
    assert not (tmp_path / "o").exists()  # the folder this run created is removed


def test_failure_keeps_previous_results(tmp_path, monkeypatch):
    import mlri.pipeline as pl

    site = synthesize(seed=6, shape=(30, 30))
    write_inputs(site, tmp_path / "in")
    run(tmp_path / "in", tmp_path / "in", tmp_path / "o", quiet=True, checksum=False)
    old = (tmp_path / "o" / "manifest.json").read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pl, "compute_tile", boom)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "in", tmp_path / "in", tmp_path / "o", quiet=True, overwrite=True)
    assert set(folder_state(tmp_path / "o")) == RESULT_FILES
    assert (tmp_path / "o" / "manifest.json").read_bytes() == old


def test_all_nodata_input(tmp_path):
    site = synthesize(seed=8, shape=(30, 30))
    site.lst[:] = np.nan
    write_inputs(site, tmp_path / "in")
    with pytest.raises(InputError, match=r"LST input .* no valid pixel"):
        run(tmp_path / "in", tmp_path / "in", tmp_path / "o", quiet=True)
    assert folder_state(tmp_path / "o") == []


def test_one_empty_year_is_reported(tmp_path):
    site = synthesize(seed=9, shape=(30, 30))
    site.evi[4] = np.nan
    write_inputs(site, tmp_path / "in")
    res = run(tmp_path / "in", tmp_path / "in", tmp_path / "o", quiet=True, checksum=False)
    assert any("EVI_2004.tif" in w for w in res.warnings)
    assert res.summary["valid_pixels_per_year"]["2004"]["EVI"] == 0


def test_bad_options_fail_before_writing(tmp_path):
    site = synthesize(seed=10, shape=(20, 20))
    write_inputs(site, tmp_path / "in")
    with pytest.raises(ValueError, match="alpha"):
        run(tmp_path / "in", tmp_path / "in", tmp_path / "o", alpha=2.0, quiet=True)
    with pytest.raises(ValueError, match="z_crit= or alpha="):
        run(tmp_path / "in", tmp_path / "in", tmp_path / "o",
            options=StatsOptions(alpha=0.05, z_crit=2.0), quiet=True)
    assert folder_state(tmp_path / "o") == []
    assert set(OUTPUT_NAMES) == RESULT_FILES


def test_overviews_in_larger_outputs(tmp_path):
    """> 512 px: internal overviews, average for MLRI, nearest (valid codes) for classes."""
    years = [2000, 2001, 2002, 2003, 2004, 2005]
    site = synthesize(seed=14, shape=(140, 600), years=years)
    write_inputs(site, tmp_path / "in")
    res = run(tmp_path / "in", tmp_path / "in", tmp_path / "o", quiet=True, checksum=False,
              min_valid=5)
    with rasterio.open(res.files["mlri.tif"]) as ds:
        assert ds.overviews(1) == [2]
        assert ds.block_shapes[0] == (512, 512)
    with rasterio.open(res.files["classes.tif"]) as ds:
        assert ds.overviews(1) == [2]
        ov = ds.read(1, out_shape=(70, 300))
        assert set(np.unique(ov)) <= set(CLASS_LABELS)
        assert ds.colormap(1)[5] == CLASS_COLORS[5]
    assert res.manifest["timing"]["finalize_s"] >= 0
