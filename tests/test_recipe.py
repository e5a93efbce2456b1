"""The recipe: one set of defaults (the API's), one block function, the test registry."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

import mlri
from mlri import api, recipe
from mlri.recipe import Options, compute_block
from mlri.significance import registry


def _sig_default(func, name):
    return inspect.signature(func).parameters[name].default


def test_options_defaults_are_the_api_signatures() -> None:
    o = Options()
    for step, names in ((api.index, recipe.INDEX_OPTIONS), (api.trend, recipe.TREND_OPTIONS),
                        (api.classify, recipe.CLASSIFY_OPTIONS)):
        for n in names:
            assert getattr(o, n) == _sig_default(step, n), n
    assert o.permutations == _sig_default(mlri.significance.permutation_test, "n_permutations")
    assert o.seed == _sig_default(mlri.significance.permutation_test, "seed")


def test_cli_defaults_equal_api_defaults() -> None:
    import click

    from mlri.cli.run import run_cmd

    o = Options()
    ctx = click.Context(run_cmd)
    cli = {p.name: p.get_default(ctx) for p in run_cmd.params}
    conv = {"hurst_ddof": int}
    for f in recipe.fields(Options):
        if f.name == "corrected":
            assert cli["no_alp_correction"] is (not o.corrected)
            continue
        assert f.name in cli, f"no CLI flag for option {f.name}"
        got = conv.get(f.name, lambda v: v)(cli[f.name])
        assert got == getattr(o, f.name), f.name
    # and the significance choices are the registry's
    choice = next(p for p in run_cmd.params if p.name == "significance").type.choices
    assert tuple(choice) == registry.test_names()


def test_xarray_defaults_equal_api_defaults() -> None:
    mx = pytest.importorskip("mlri.xarray")
    for n in recipe.INDEX_OPTIONS:
        assert _sig_default(mx.index, n) == getattr(Options(), n)


def test_flag_hint_maps_parameters_to_flags() -> None:
    from mlri.cli.options import flag_hint

    names = ["lst_unit", "z_crit", "reference", "significance", "alpha"]
    assert flag_hint("pass lst_unit='C' or convert", names) == "pass --lst-unit C or convert"
    assert (flag_hint("significance='reference' needs reference= (a mask)", names)
            == "--significance reference needs --reference (a mask)")
    assert (flag_hint("z_crit applies to the paper rule only; use alpha= with x", names)
            == "--z-crit applies to the paper rule only; use --alpha with x")
    assert flag_hint("unrelated_name=3 stays", names) == "unrelated_name=3 stays"
    assert (flag_hint("e.g. significance='a_{var}_*.tif'", names)
            == "e.g. --significance 'a_{var}_*.tif'")  # quoted for the shell
    # a one-word parameter as the subject a message opens with; elsewhere plain English
    assert flag_hint("alpha must be in (0, 1), got 2", names) == "--alpha must be in (0, 1), got 2"
    assert (flag_hint("reference land has no alpha here", names)
            == "reference land has no alpha here")


def test_flag_hint_gives_clean_flags() -> None:
    """Booleans are flags, sequences the CLI's comma list, and a message that gives both
    wordings shows the flag once."""
    from mlri.cli.options import flag_hint

    names = ["overwrite", "variables", "res", "mask_water"]
    assert (flag_hint("X holds results; pass --overwrite (overwrite=True) to replace them", names)
            == "X holds results; pass --overwrite to replace them")
    assert (flag_hint("(download again, or composite EVI only with variables=('EVI',) / "
                      "--variables EVI)", names)
            == "(download again, or composite EVI only with --variables EVI)")
    assert (flag_hint('variables=["EVI", "LST"]; res=-30.0', names)
            == "--variables EVI,LST; --res -30.0")
    assert flag_hint("mask_water=False", names) == "without --mask-water"
    assert flag_hint("--overwrite (--overwrite-all)", names) == "--overwrite (--overwrite-all)"


def _stack(dtype=np.float64, seed=5, shape=(19, 7, 9)):
    rng = np.random.default_rng(seed)
    t = np.arange(shape[0])[:, None, None]
    lst = (300 + 3 * rng.standard_normal(shape) - 0.2 * t).astype(dtype)
    evi = (0.3 + 0.004 * t + 0.04 * rng.standard_normal(shape)).astype(dtype)
    lst[:, 0, 0] = np.nan
    return lst, evi


def test_compute_block_is_the_float32_chain() -> None:
    lst, evi = _stack()
    years = mlri.default_years(19)
    b = compute_block(lst, evi, years, Options().prepare(years), 1)
    r = mlri.index(lst, evi, years)
    m32 = r.mlri.astype(np.float32)
    t = mlri.trend(m32, years)
    cls, flags = mlri.classify(t, dropped=r.dropped)
    assert b.mlri.dtype == np.float32 and b.mlri.tobytes() == m32.tobytes()
    assert np.asarray(b.trend.slope).tobytes() == t.slope.tobytes()
    assert b.classes.tobytes() == cls.tobytes()
    assert b.flags[0, 0] == 255 and b.classes[0, 0] == 0
    assert b.flags[1:].tobytes() == flags[1:].tobytes()
    # the float64 trend differs from the product's float32 trend: the cast is real
    t64 = mlri.trend(r.mlri, years)
    assert not np.array_equal(t64.slope, t.slope, equal_nan=True)


def test_prepared_blocks_import_nothing() -> None:
    """Every import the chain needs happens in Options.prepare (the caller's thread): a tile
    worker that imported SciPy mid-run stalled the whole pipeline (~3 s of a 15 s run)."""
    code = (
        "import sys, numpy as np, mlri\n"
        "from mlri.recipe import Options, compute_block\n"
        "years = mlri.default_years(19)\n"
        "r = Options().prepare(years)\n"
        "before = set(sys.modules)\n"
        "rng = np.random.default_rng(0)\n"
        "lst = rng.normal(300, 2, (19, 4, 5)); evi = rng.uniform(0.2, 0.4, (19, 4, 5))\n"
        "compute_block(lst, evi, years, r, 1)\n"
        "print(sorted(set(sys.modules) - before))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"compute_block imported {out[:400]}"


def test_sen_alpha_checked_by_prepare() -> None:
    with pytest.raises(ValueError, match=r"sen_alpha must be in \(0, 1\), got 1.5"):
        Options(sen_alpha=1.5).prepare(mlri.default_years(19))


def test_options_validated_once_with_api_messages() -> None:
    with pytest.raises(ValueError, match="hurst_method must be one of"):
        Options(hurst_method="bogus").prepare(mlri.default_years(19))
    with pytest.raises(ValueError, match="significance must be one of paper, permutation"):
        Options(significance="bayes").prepare(mlri.default_years(19))
    with pytest.raises(TypeError, match="unknown option 'hurst'"):
        Options.from_kwargs(hurst="x")


def test_significance_options_checked_before_any_tile(tmp_path) -> None:
    """A bad seed is refused when the plan is built (not by the first tile that draws), and
    reference land given to a test that does not use it is refused, never ignored."""
    yrs = mlri.default_years(19)
    for seed in (-1, 2**64, 1.5):
        with pytest.raises((ValueError, TypeError), match="seed must be"):
            Options(significance="permutation", seed=seed).prepare(yrs)
    for test in ("paper", "permutation"):
        with pytest.raises(ValueError, match="reference= .* applies to significance='reference'"):
            Options(significance=test, alpha=0.05 if test != "paper" else None,
                    reference="land.tif").prepare(yrs)
    from mlri.significance.methods import _read_polygons

    table = tmp_path / "points.csv"
    table.write_text("x,y,label\n1,2,SI\n")
    with pytest.raises(ValueError, match=r"reference=.*points\.csv holds no geometries"):
        _read_polygons(table, None)


def test_a_registered_test_drives_the_class_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a test = one SignificanceTest + register_test: the recipe then uses it."""
    monkeypatch.setattr(registry, "_TESTS", dict(registry._TESTS))
    calls = []

    def always_up(b: registry.BlockData):
        calls.append((b.row0, b.col0))
        shape = np.shape(b.trend.z)
        return np.zeros(shape), np.ones(shape)

    registry.register_test(registry.SignificanceTest(name="always_up", rule="toy",
                                                     pvalues=always_up))
    lst, evi = _stack()
    years = mlri.default_years(19)
    rec = Options(significance="always_up").prepare(years)
    b = compute_block(lst, evi, years, rec, 1, row0=3, col0=4)
    assert calls == [(3, 4)]
    assert b.pvalues is not None
    usable = np.asarray(b.trend.n_valid) >= 10
    assert np.all(np.isin(b.classes[usable], [4, 5, 6]))      # every usable pixel is SI
    assert rec.plan.describe()["rule"] == "toy"
    with pytest.raises(ValueError, match="already registered"):
        registry.register_test(registry.SignificanceTest(name="always_up", rule="x",
                                                         pvalues=always_up))


def test_classify_with_p_is_the_classify_rule() -> None:
    lst, evi = _stack(seed=9)
    years = mlri.default_years(19)
    r = mlri.index(lst, evi, years)
    t = mlri.trend(r.mlri, years)
    from scipy.special import ndtr

    pi, pd = ndtr(-np.asarray(t.z)), ndtr(np.asarray(t.z))
    a = mlri.significance.classify_with_p(t, pi, pd, alpha=0.05, dropped=r.dropped)
    b = mlri.classify(t, p_increase=pi, p_decrease=pd, alpha=0.05, dropped=r.dropped)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    with pytest.raises(ValueError, match="give both p_increase and p_decrease"):
        mlri.classify(t, p_increase=pi)


def test_summary_records_the_critical_z_the_rule_applied() -> None:
    """The significance record (summary.json, manifest.json, the report) states the |Z| the
    paper's rule applied and the level it stands for, whichever option set it."""
    from statistics import NormalDist
    from types import SimpleNamespace

    from mlri.sites.report import _significance_box

    yrs = mlri.default_years(19)
    d = Options(z_crit=2.5).prepare(yrs).plan.describe()
    assert d["z_crit"] == 2.5 and d["alpha"] == pytest.approx(2 * (1 - NormalDist().cdf(2.5)))
    d = Options(alpha=0.1).prepare(yrs).plan.describe()
    assert d["alpha"] == 0.1 and d["z_crit"] == pytest.approx(1.6448536269514715)
    d = Options().prepare(yrs).plan.describe()
    assert d["z_crit"] == 1.96 and d["alpha"] == 0.05
    plan = Options(fdr=0.05).prepare(yrs).plan
    plan.bh_threshold = 0.0313
    assert plan.describe()["z_crit"] == pytest.approx(NormalDist().inv_cdf(1 - 0.0313 / 2))
    plan.bh_threshold = 0.0  # nothing rejected
    assert plan.describe()["z_crit"] is None
    for sig, text in (({"test": "paper", "z_crit": 2.5, "fdr": None}, "|Z| &gt; 2.50"),
                      ({"test": "paper", "fdr": None}, "|Z| &gt; 1.96"),
                      ({"test": "paper", "z_crit": 2.15, "fdr": 0.05}, "here |Z| &ge; 2.15")):
        rf = SimpleNamespace(summary={"significance": sig}, manifest={}, parameters={})
        assert text in _significance_box(rf, 12.0)
    # classes.png's note and the report's Z map read the same record
    from mlri.quicklook import rule_text, rule_z_crit

    assert rule_z_crit({"significance": {"test": "paper", "z_crit": 2.5}}) == 2.5
    assert rule_z_crit({"significance": {"test": "paper"}}) == 1.96  # (older runs)
    assert rule_z_crit({"significance": {"test": "permutation", "alpha": 0.05}}) is None
    assert rule_text({"significance": {"test": "paper", "z_crit": 2.5}}) == "|Z| > 2.50"
    assert (rule_text({"significance": {"test": "paper", "z_crit": 2.15, "fdr": 0.05}})
            == "|Z| >= 2.15, false discovery rate 0.05")


def test_fdr_that_rejects_nothing_classifies_nothing_significant() -> None:
    """Under an FDR whose map-wide threshold rejects nothing the paper's rule applies
    |Z| > inf: no pixel is SI or SD (it raised 'z_crit must be a finite number')."""
    yrs = mlri.default_years(19)
    rec = Options(fdr=0.05).prepare(yrs)
    rec.plan.bh_threshold = 0.0
    rng = np.random.default_rng(0)
    t = np.arange(19.0)[:, None, None]
    lst = 300 - 0.5 * t + rng.normal(size=(19, 4, 4))
    evi = 0.2 + 0.01 * t + 0.01 * rng.normal(size=(19, 4, 4))
    b = compute_block(lst, evi, yrs, rec)
    assert b.classes is not None and not np.isin(b.classes, (1, 4, 5, 6)).any()
    assert np.isin(compute_block(lst, evi, yrs, Options().prepare(yrs)).classes,
                   (4, 5, 6)).any()  # the same pixels are SI without the FDR
