"""Hostile and inconsistent inputs: per-year unit/scale checks, bounded metadata reads,
crafted patterns, bad metadata, VRTs, GCP-only and truncated rasters.  Every case must end in
a clear error naming the file/year and the fix (an ``Error:`` line on the command line)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import mlri
from mlri.cli import main
from mlri.demo import synthesize, write_inputs
from mlri.io import InputError, open_inputs

rasterio = pytest.importorskip("rasterio")

YEARS = [2000, 2001, 2002, 2004, 2005, 2006]


def _site(seed=3, shape=(40, 48)):
    return synthesize(seed=seed, shape=shape, years=YEARS)


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_error_line(r) -> str:
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, r.output
    return lines[0]


# ------------------------------------------------------------------ per-year LST unit


def test_index_one_celsius_year_among_kelvin_is_refused_naming_the_year(rng):
    lst = rng.uniform(290, 320, (6, 8, 8))
    evi = rng.uniform(0.1, 0.5, (6, 8, 8))
    mlri.index(lst, evi, YEARS)  # all Kelvin: fine
    lst[3] -= 273.15  # 2004 in °C; the median of all years is still Kelvin
    assert np.median(lst) > 150
    with pytest.raises(ValueError, match=r"year 2004 looks like degrees Celsius") as ei:
        mlri.index(lst, evi, YEARS)
    assert "add 273.15" in str(ei.value)
    with pytest.raises(ValueError, match=r"time step 3"):
        mlri.index(lst, evi)  # without years the time step is named
    # all years in °C: the fix is lst_unit='C'
    with pytest.raises(ValueError, match=r"lst_unit='C'"):
        mlri.index(lst - 273.15 * (np.arange(6) != 3)[:, None, None], evi, YEARS)
    # one Kelvin year among °C years with lst_unit='C'
    c = lst - 273.15 * (np.arange(6) != 3)[:, None, None]
    c[1] += 273.15
    with pytest.raises(ValueError, match=r"year 2001 looks like Kelvin"):
        mlri.index(c, evi, YEARS, lst_unit="C")


def test_run_one_celsius_year_is_refused_before_any_output(tmp_path):
    site = _site()
    site.lst[2] -= np.float32(273.15)  # 2002 in °C
    write_inputs(site, tmp_path / "in")
    inp = open_inputs(tmp_path / "in", tmp_path / "in")
    with pytest.raises(InputError, match=r"LST 2002 \(.*LST_2002\.tif, band 1\)"):
        inp.check_units("K")
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out",
             tmp_path / "o", "-q")
    line = _one_error_line(r)
    assert "LST 2002" in line and "LST_2002.tif" in line and "add 273.15" in line
    assert not (tmp_path / "o" / "mlri.tif").exists()


def test_run_all_celsius_says_lst_unit_flag(tmp_path):
    site = _site()
    site.lst -= np.float32(273.15)
    write_inputs(site, tmp_path / "in")
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out",
             tmp_path / "o", "-q")
    assert "--lst-unit C" in _one_error_line(r)


def test_run_sampled_check_reads_little(tmp_path, monkeypatch):
    """The early check reads one window per layer when it holds enough valid values."""
    from mlri import io

    site = _site(shape=(600, 700))
    write_inputs(site, tmp_path / "in")
    inp = open_inputs(tmp_path / "in", tmp_path / "in")
    calls = []
    orig = io._Reader.read_layer

    def spy(self, layer, window, out=None):
        calls.append((layer.year, int(window.height) * int(window.width)))
        return orig(self, layer, window, out)

    monkeypatch.setattr(io._Reader, "read_layer", spy)
    inp.check_units("K")
    assert len(calls) == 2 * len(YEARS)  # LST and EVI: one window per year
    assert sum(n for _, n in calls) <= 2 * len(YEARS) * 256 * 256


# ------------------------------------------------------------------ per-year EVI scale


def test_index_evi_times_10000_is_refused_naming_the_year(rng):
    lst = rng.uniform(290, 320, (6, 8, 8))
    evi = rng.uniform(0.1, 0.5, (6, 8, 8))
    evi[4] = np.round(evi[4] * 10000)
    with pytest.raises(ValueError, match=r"evi year 2005 .*divide evi by 10000"):
        mlri.index(lst, evi, YEARS)
    # legitimate EVI outliers (bad denominators) do not trip the check
    evi2 = rng.uniform(0.1, 0.5, (6, 8, 8))
    evi2[:, 0, :3] = 40.0
    mlri.index(lst, evi2, YEARS)


def test_run_evi_times_10000_is_refused_naming_the_file(tmp_path):
    site = _site()
    site.evi[1] = np.round(site.evi[1] * 10000)  # 2001 as a raw integer export
    write_inputs(site, tmp_path / "in")
    r = _cli("run", "--lst", tmp_path / "in", "--evi", tmp_path / "in", "--out",
             tmp_path / "o", "-q", "--evi-min", "0.2")
    line = _one_error_line(r)
    assert "EVI 2001" in line and "EVI_2001.tif" in line and "-scale 0.0001" in line


def test_run_evi_scale_fixed_by_gdal_scale_factor(tmp_path):
    """The suggested fix works: a scale factor on the integer file is honoured."""
    site = _site()
    write_inputs(site, tmp_path / "in")
    p = tmp_path / "in" / "EVI_2001.tif"
    raw = np.round(site.evi[1] * 10000)
    raw[~np.isfinite(raw)] = -9999
    with rasterio.open(p, "r+") as ds:
        ds.write(raw.astype(np.float32), 1)
        ds.scales = (0.0001,)
    inp = open_inputs(tmp_path / "in", tmp_path / "in")
    inp.check_units("K")
    with inp.open() as rd:
        a = rd.read_layer(inp.evi.layers[1], rasterio.windows.Window(0, 0, 48, 40))
    np.testing.assert_allclose(a, site.evi[1], atol=1e-4)
