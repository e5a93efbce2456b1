"""Sensor switch: the step diagnostic (mlri.sensor) and the Roy et al. (2016) harmonisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from mlri import landsat as L
from mlri.cli import main
from mlri.landsat.harmonize import ROY2016_ETM_TO_OLI, harmonize_reflectance, harmonized_scale
from mlri.landsat.synthetic import make_archive
from mlri.sensor import pool_steps, sensor_step

YEARS = np.array([*range(2000, 2012), *range(2013, 2020)], dtype=np.float64)


def stable_map(rng: np.random.Generator, step: float = 0.0, P: int = 300, weather: float = 0.02,
               base: float = 0.27, noise: float = 0.014) -> np.ndarray:
    """Stable land: per-pixel level, a yearly anomaly shared by all pixels (weather, relative
    sd ``weather``), pixel noise, 5 % gaps, and ``step`` added from 2013 (the OLI years)."""
    lvl = base + 0.035 * rng.standard_normal(P)
    wx = rng.standard_normal(YEARS.size)
    y = lvl[None] * (1 + weather * wx[:, None]) + rng.normal(0, noise, (YEARS.size, P))
    y[YEARS >= 2013] += step
    y[rng.random(y.shape) < 0.05] = np.nan
    return y


# ---------------------------------------------------------------------------------------------
def test_planted_evi_step_detected_within_its_interval():
    rng = np.random.default_rng(4)
    r = sensor_step(stable_map(rng, step=0.03), YEARS, stable=np.ones(300, bool))
    assert r.p < 0.01 and r.warning
    assert r.ci_low <= 0.03 <= r.ci_high
    assert abs(r.step - 0.03) <= 2.5 * r.se
    assert (r.last_old_year, r.first_new_year, r.df, r.n_years) == (2011, 2013, 16, 19)
    assert r.share_significant > r.share_significant_without_step + 0.05
    d = r.as_dict()
    json.dumps(d)  # summary.json-ready
    assert d["warning"] is True and d["variable"] == "EVI"


def test_planted_lst_step_and_mask():
    rng = np.random.default_rng(5)
    lst = stable_map(rng, step=-1.0, P=400, weather=0.001, base=305.0, noise=0.7)
    mask = np.zeros((20, 20), bool)
    mask[:, :10] = True
    cube = lst.reshape(19, 20, 20).copy()
    cube[:, ~mask] += np.linspace(0, 5, 19)[:, None]  # restoring pixels outside the mask
    r = sensor_step(cube, YEARS, stable=mask, variable="LST")
    assert r.n_pixels == 200 and r.variable == "LST"
    assert r.ci_low <= -1.0 <= r.ci_high and r.p < 0.05


def test_null_rate_and_coverage_are_nominal():
    rng = np.random.default_rng(6)
    n = 120
    rej = cover = warn = 0
    for _ in range(n):
        r0 = sensor_step(stable_map(rng, P=150), YEARS, stable=np.ones(150, bool),
                         max_trend_pixels=50, n_threads=1)
        rej += r0.p <= 0.05
        warn += r0.warning
        r1 = sensor_step(stable_map(rng, step=0.03, P=150), YEARS, stable=np.ones(150, bool),
                         max_trend_pixels=50, n_threads=1)
        cover += r1.ci_low <= 0.03 <= r1.ci_high
    # binomial(120, 0.05): 95 % of runs fall in 2..11 rejections
    assert rej <= 12 and warn <= rej
    assert cover >= 0.88 * n


def test_drift_is_not_blamed_on_the_sensor():
    rng = np.random.default_rng(7)
    y = stable_map(rng) + 0.004 * (YEARS - 2000)[:, None]  # greening, no step
    lin = sensor_step(y, YEARS, stable=np.ones(300, bool))
    none = sensor_step(y, YEARS, stable=np.ones(300, bool), drift="none")
    assert lin.ci_low <= 0 <= lin.ci_high
    assert none.p < 0.05  # the simple difference takes the drift for a step


def test_pool_steps_narrows_the_interval():
    rng = np.random.default_rng(8)
    rs = [sensor_step(stable_map(rng, step=0.01, weather=0.05), YEARS,
                      stable=np.ones(300, bool), max_trend_pixels=20, n_threads=1)
          for _ in range(20)]
    pooled = pool_steps(rs)
    assert pooled.n_maps == 20
    assert pooled.se < 0.5 * np.median([r.se for r in rs])
    assert pooled.ci_low <= 0.01 <= pooled.ci_high
    assert pooled.heterogeneity_p > 0.001
    json.dumps(pooled.as_dict())


def test_sensor_step_errors():
    y = np.zeros((19, 4))
    with pytest.raises(ValueError, match="stable is required"):
        sensor_step(y, YEARS)
    with pytest.raises(TypeError, match="boolean mask"):
        sensor_step(y, YEARS, stable=np.ones(4))
    with pytest.raises(ValueError, match="spatial shape"):
        sensor_step(y, YEARS, stable=np.ones(3, bool))
    with pytest.raises(ValueError, match="first_new_year=2019"):
        sensor_step(y, YEARS, stable=np.ones(4, bool), first_new_year=2019)
    with pytest.raises(ValueError, match="drift must be"):
        sensor_step(y, YEARS, stable=np.ones(4, bool), drift="quadratic")
    r = sensor_step(y, YEARS, stable=np.ones(4, bool))  # fewer than min_pixels per year
    assert np.isnan(r.step) and not r.warning and "not estimated" in r.reason
    assert r.as_dict()["step"] is None


# ---------------------------------------------------------------------------------------------
def test_roy2016_coefficients_as_published():
    # Roy et al. (2016) Table 2, OLS ETM+ -> OLI
    assert ROY2016_ETM_TO_OLI == {
        "blue": (0.8474, 0.0003), "green": (0.8483, 0.0088), "red": (0.9047, 0.0061),
        "nir": (0.8462, 0.0412), "swir1": (0.8937, 0.0254), "swir2": (0.9071, 0.0172)}
    sr = np.array([0.0, 0.05, 0.1, 0.3, np.nan])
    np.testing.assert_allclose(harmonize_reflectance(sr, "red", "TM"),
                               [0.0061, 0.051335, 0.09657, 0.27751, np.nan], rtol=1e-12)
    np.testing.assert_allclose(harmonize_reflectance(sr, "nir", "ETM"),
                               [0.0412, 0.08351, 0.12582, 0.29506, np.nan], rtol=1e-12)
    np.testing.assert_array_equal(harmonize_reflectance(sr, "blue", "OLI"), sr)
    np.testing.assert_array_equal(harmonize_reflectance(sr, "blue", "TM", None), sr)
    # folded into the DN scale: DN * mult' + add' == slope * (DN * mult + add) + intercept
    m, a = harmonized_scale(2.75e-5, -0.2, "blue", "TM", "roy2016")
    dn = np.array([7273.0, 10000.0, 20000.0])
    np.testing.assert_allclose(dn * m + a, 0.8474 * (dn * 2.75e-5 - 0.2) + 0.0003, rtol=1e-12)
    assert harmonized_scale(2.75e-5, -0.2, "blue", "OLI", "roy2016") == (2.75e-5, -0.2)
    with pytest.raises(ValueError, match="harmonize must be None or one of 'roy2016'"):
        harmonized_scale(1.0, 0.0, "red", "TM", "roy2017")
    with pytest.raises(ValueError, match="band must be one of"):
        harmonize_reflectance(sr, "thermal", "TM")
    with pytest.raises(ValueError, match="harmonize must be one of"):
        L.CompositeOptions(harmonize="roy")


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("harm")
    return make_archive(root / "a", size=(30, 30), years=(2005, 2015), dates_per_season=1,
                        distractors=False, max_cloud=0.3, seed=3)


def _bands(scene) -> dict[str, np.ndarray]:
    out = {}
    for role in ("blue", "red", "nir"):
        with rasterio.open(scene.band_path(role)) as ds:
            out[role] = ds.read(1)
    return out


def test_composite_differs_only_as_the_coefficients_say(small_archive):
    scenes = [s for s in L.find_scenes(small_archive.root) if s.pid.path == 123]
    for s in scenes:
        crs, tr, w, h = s.georef()
        grid = L.Grid(crs, tr, w, h)
        off = L.annual_composite([s], grid, select=False, variables=("EVI",))
        on = L.annual_composite([s], grid, select=False, variables=("EVI",),
                                harmonize="roy2016")
        if s.family == "OLI":
            np.testing.assert_array_equal(on.evi, off.evi)
            continue
        assert s.family == "TM"
        b = _bands(s)
        sr = {k: b[k] * s.sr_scale(k)[0] + s.sr_scale(k)[1] for k in b}
        h_ = {k: harmonize_reflectance(sr[k], k, "TM") for k in sr}
        evi0 = 2.5 * (sr["nir"] - sr["red"]) / (sr["nir"] + 6 * sr["red"] - 7.5 * sr["blue"] + 1)
        evi1 = 2.5 * (h_["nir"] - h_["red"]) / (h_["nir"] + 6 * h_["red"] - 7.5 * h_["blue"] + 1)
        valid = np.isfinite(off.evi)
        assert valid.sum() > 1000
        np.testing.assert_array_equal(np.isfinite(on.evi), valid)  # same masking (paper preset)
        np.testing.assert_allclose(off.evi[valid], evi0[valid], rtol=0, atol=2e-7)
        np.testing.assert_allclose(on.evi[valid], evi1[valid], rtol=0, atol=2e-7)
        assert np.abs(on.evi[valid] - off.evi[valid]).max() > 0.005  # the change is real


def test_cli_harmonize_flag(small_archive, tmp_path):
    out = tmp_path / "c"
    res = CliRunner().invoke(main, [
        "composite", "--scenes", str(small_archive.root), "--aoi", str(small_archive.aoi),
        "--years", "2005", "--variables", "EVI", "--harmonize", "roy2016", "--out", str(out)])
    assert res.exit_code == 0, res.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["parameters"]["harmonize"] == "roy2016"
    bad = CliRunner().invoke(main, [
        "composite", "--scenes", str(small_archive.root), "--aoi", str(small_archive.aoi),
        "--years", "2005", "--harmonize", "roy", "--out", str(tmp_path / "d")])
    assert bad.exit_code != 0 and "--harmonize" in bad.output
