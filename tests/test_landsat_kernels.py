"""C++ kernels: QA presets, scaling, EVI NaN rules, LST, max accumulation (SPEC-landsat §1.4–§4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from mlri import _core
from mlri.landsat import decode_qa, evi, lst_from_st, lst_rte, qa_mask, qa_rule, scale_sr

OLI = {"clear": 21824, "water": 21952, "cloud": 22280, "cirrus_cloud": 55052, "shadow": 23888,
       "snow": 30048, "fill": 1, "dilated": 21762, "clear_medconf": 22080}
TM = {"clear": 5440, "water": 5504, "cloud": 5896, "shadow": 7440, "dilated": 5442,
      "fill": 1}


def test_scale_facts():
    # USGS FAQ example: SR DN 18639 -> 0.313, ST DN 44947 -> 302.6 K
    assert scale_sr(np.array([18639]))[0] == pytest.approx(0.313, abs=5e-4)
    assert lst_from_st(np.array([44947]))[0] == pytest.approx(302.6, abs=0.05)
    # fill is masked before scaling: never -0.2 reflectance or 149 K
    assert np.isnan(scale_sr(np.array([0]))[0])
    assert np.isnan(lst_from_st(np.array([0]))[0])


def test_decode_real_codes():
    d = decode_qa(OLI["shadow"])
    assert d["cloud_shadow"] == 1 and d["clear"] == 1  # clear bit does not exclude shadow
    assert decode_qa(TM["shadow"])["clear"] == 0
    assert decode_qa(OLI["cirrus_cloud"])["cirrus"] == 1
    assert decode_qa(OLI["snow"])["snow"] == 1
    assert decode_qa(OLI["water"])["water"] == 1
    assert decode_qa(OLI["cloud"])["cloud_conf"] == 3
    assert decode_qa(1)["fill"] == 1


@pytest.mark.parametrize(("fam", "codes"), [("OLI", OLI), ("TM", TM)])
def test_paper_mask_on_real_codes(fam, codes):
    names = list(codes)
    qa = np.array([codes[n] for n in names], dtype=np.uint16)
    keep = dict(zip(names, qa_mask(qa, fam, "paper"), strict=False))
    assert keep["clear"] and keep["water"]
    for bad in ("cloud", "shadow", "fill", "dilated", "snow", "cirrus_cloud"):
        if bad in keep:
            assert not keep[bad], bad
    if "clear_medconf" in keep:
        assert keep["clear_medconf"]  # paper keeps medium-confidence clear pixels
    water = dict(zip(names, qa_mask(qa, fam, "paper", mask_water=True), strict=False))
    assert not water["water"] and water["clear"]
    dil = dict(zip(names, qa_mask(qa, fam, "paper", mask_dilated=False), strict=False))
    assert dil["dilated"]
    none = dict(zip(names, qa_mask(qa, fam, "none"), strict=False))
    assert not none["fill"] and none["cloud"]


def test_strict_mask_confidence_and_radsat():
    qa = np.array([OLI["clear"], OLI["clear_medconf"], OLI["clear"]], np.uint16)
    rs = np.array([0, 0, 4], np.uint16)
    assert_array_equal(qa_mask(qa, "OLI", "strict", radsat=rs), [True, False, False])
    assert_array_equal(qa_mask(qa, "OLI", "paper", radsat=rs), [True, True, True])
    tm = np.array([TM["clear"], 5696], np.uint16)  # TM conf fields: bits 8-13 only
    assert_array_equal(qa_mask(tm, "TM", "strict"), [True, False])
    r = qa_rule("strict", "TM")
    assert r.conf_mask == 0x3F and r.conf_expect == 0x15 and r.opacity_max == 300
    with pytest.raises(ValueError, match="preset"):
        qa_rule("cloudy")


def _dn(rho):
    return np.rint((np.asarray(rho, float) + 0.2) / 2.75e-5).astype(np.uint16)


def _evi_ref(b, r, n, clamp=None):
    B, R, N = (x.astype(np.float64) * 2.75e-5 - 0.2 for x in (b, r, n))
    den = N + 6 * R - 7.5 * B + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        if clamp == "gee":
            den = np.clip(den, 0, 10)
            e = np.clip(2.5 * (N - R) / den, -1, 1)
            e[den <= 0] = np.nan
        else:
            e = 2.5 * (N - R) / den
            e[(den <= 0) | (e < -1) | (e > 1)] = np.nan
    fill = (b == 0) | (r == 0) | (n == 0)
    e[fill] = np.nan
    return e.astype(np.float32)


def test_evi_nan_rules_and_gee_clamp():
    # vegetation, bare, blown-up denominator (bright blue), |EVI|>1, fill
    b = _dn([0.03, 0.10, 0.80, 0.01, 0.0])
    r = _dn([0.05, 0.15, 0.30, 0.01, 0.1])
    n = _dn([0.40, 0.25, 0.35, 1.50, 0.3])
    b[-1] = 0
    e = evi(b, r, n, mask="none")
    ref = _evi_ref(b, r, n)
    assert_allclose(e, ref, rtol=1e-6, equal_nan=True)
    assert np.isfinite(e[:2]).all() and np.isnan(e[2:]).all()
    g = evi(b, r, n, mask="none", clamp="gee")
    assert g[3] == 1.0  # clamped artefact (would win a max composite)
    assert np.isnan(g[4])
    assert_allclose(g, _evi_ref(b, r, n, "gee"), rtol=1e-6, equal_nan=True)


def test_evi_with_qa_and_strict_range():
    b, r, n = _dn([0.03, 0.03]), _dn([0.05, 0.05]), _dn([0.40, 0.40])
    qa = np.array([OLI["clear"], OLI["cloud"]], np.uint16)
    e = evi(b, r, n, qa=qa)
    assert np.isfinite(e[0]) and np.isnan(e[1])
    neg = evi(_dn([-0.01]), _dn([0.05]), _dn([0.4]), mask="strict",
              qa=np.array([OLI["clear"]], np.uint16))
    assert np.isnan(neg[0])  # strict: reflectance outside (0, 1)
    assert np.isfinite(evi(_dn([-0.01]), _dn([0.05]), _dn([0.4]), mask="none")[0])


def test_input_validation():
    with pytest.raises(TypeError, match="digital numbers"):
        evi(np.array([0.1]), np.array([0.1]), np.array([0.3]))
    with pytest.raises(ValueError, match="same shape"):
        evi(np.ones(3, np.uint16), np.ones(3, np.uint16), np.ones(4, np.uint16))
    acc64 = np.full(3, np.nan)
    with pytest.raises(ValueError, match="float32"):
        _core.landsat_composite_scene(acc_evi=acc64, blue=np.ones(3, np.uint16),
                                      red=np.ones(3, np.uint16), nir=np.ones(3, np.uint16))
    acc = np.full(3, np.nan, np.float32)
    with pytest.raises(ValueError, match="pixels"):
        _core.landsat_composite_scene(acc_evi=acc, blue=np.ones(4, np.uint16),
                                      red=np.ones(4, np.uint16), nir=np.ones(4, np.uint16))
    with pytest.raises(ValueError, match="contiguous"):
        _core.landsat_fmax_accumulate(np.full(6, np.nan, np.float32)[::2],
                                      np.ones(3, np.float32))


def test_fmax_accumulate_ignores_nan():
    acc = np.array([np.nan, 1.0, 5.0, np.nan], np.float32)
    cnt = np.zeros(4, np.uint16)
    _core.landsat_fmax_accumulate(acc, np.array([2.0, np.nan, 7.0, np.inf], np.float32),
                                  count=cnt)
    assert_array_equal(acc, np.array([2.0, 1.0, 7.0, np.nan], np.float32))
    assert_array_equal(cnt, [1, 0, 1, 0])


@st.composite
def _scenes(draw):
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 4))
    codes = st.sampled_from([OLI["clear"], OLI["water"], OLI["cloud"], OLI["shadow"], 1,
                             OLI["clear_medconf"]])
    dn = st.integers(0, 65535)
    out = []
    for _ in range(k):
        out.append({
            "qa": np.array(draw(st.lists(codes, min_size=n, max_size=n)), np.uint16),
            **{b: np.array(draw(st.lists(dn, min_size=n, max_size=n)), np.uint16)
               for b in ("blue", "red", "nir", "st")}})
    return out


@given(_scenes(), st.sampled_from(["independent", "greenest"]))
def test_composite_kernel_matches_numpy(scenes, pairing):
    n = scenes[0]["qa"].size
    acc_e = np.full(n, np.nan, np.float32)
    acc_l = np.full(n, np.nan, np.float32)
    ne, nl = np.zeros(n, np.uint16), np.zeros(n, np.uint16)
    ref_e = np.full(n, np.nan, np.float32)
    ref_l = np.full(n, np.nan, np.float32)
    for s in scenes:
        _core.landsat_composite_scene(acc_evi=acc_e, acc_lst=acc_l, n_evi=ne, n_lst=nl,
                                      pairing=1 if pairing == "greenest" else 0, n_threads=2, **s)
        keep = (s["qa"] & 0x3F) == 0
        e = _evi_ref(s["blue"], s["red"], s["nir"])
        e[~keep] = np.nan
        lst = (s["st"].astype(np.float64) * 0.00341802 + 149.0).astype(np.float32)
        lst[(s["st"] == 0) | ~keep] = np.nan
        if pairing == "greenest":
            win = np.isfinite(e) & (np.isnan(ref_e) | (e > ref_e))
            ref_l[win] = lst[win]
        else:
            ref_l = np.fmax(ref_l, lst)
        ref_e = np.fmax(ref_e, e)
    assert_allclose(acc_e, ref_e, rtol=2e-6, atol=1e-7, equal_nan=True)
    assert_allclose(acc_l, ref_l, rtol=1e-6, equal_nan=True)
    if pairing == "independent":
        assert_array_equal(nl, sum(((s["qa"] & 0x3F) == 0) & (s["st"] > 0) for s in scenes))


def test_threads_give_identical_results(rng):
    n = 100_000
    s = {b: rng.integers(1, 30000, n).astype(np.uint16) for b in ("blue", "red", "nir", "st")}
    s["qa"] = rng.choice(np.array([21824, 22280, 23888], np.uint16), n)
    outs = []
    for t in (1, 2, 3):
        a = np.full(n, np.nan, np.float32)
        b = np.full(n, np.nan, np.float32)
        c = _core.landsat_composite_scene(acc_evi=a, acc_lst=b, n_threads=t, **s)
        outs.append((a, b, c["n_evi"], c["n_seen"]))
    for o in outs[1:]:
        assert_array_equal(o[0], outs[0][0])
        assert_array_equal(o[1], outs[0][1])
        assert o[2:] == outs[0][2:]


def test_lst_rte_synthetic_roundtrip():
    k1, k2 = 774.8853, 1321.0789
    t = np.array([290.0, 300.0, 315.0])
    eps, tau, lu, ld = 0.97, 0.85, 1.2, 2.0
    b = k1 / (np.exp(k2 / t) - 1)
    lsen = tau * (eps * b + (1 - eps) * ld) + lu
    i16 = lambda v, s: np.rint(np.broadcast_to(v, t.shape) / s).astype(np.int16)
    out = lst_rte(i16(lsen, 0.001), i16(lu, 0.001), i16(ld, 0.001), i16(tau, 1e-4), k1=k1, k2=k2,
                  emissivity="usgs", emis=i16(eps, 1e-4))
    assert_allclose(out, t, atol=0.05)
    fill = lst_rte(np.array([-9999], np.int16), *(np.array([1], np.int16),) * 3, k1=k1, k2=k2,
                   emissivity="usgs", emis=np.array([9700], np.int16))
    assert np.isnan(fill[0])
    with pytest.raises(ValueError, match="ST_EMIS"):
        lst_rte(*(np.ones(1, np.int16),) * 4, k1=k1, k2=k2, emissivity="usgs")


def test_sobrino_emissivity_thresholds():
    # NDVI < 0.2 -> 0.979 - 0.035 red ; > 0.5 -> 0.99 ; between -> 0.004 Pv + 0.986
    k1, k2 = 774.8853, 1321.0789
    red, nir = _dn([0.20, 0.05, 0.10]), _dn([0.22, 0.50, 0.1857])
    trad = np.full(3, 9000, np.int16)
    z = np.zeros(3, np.int16)
    tau = np.full(3, 10000, np.int16)
    out = lst_rte(trad, z, z, tau, k1=k1, k2=k2, red=red, nir=nir)
    ndvi = np.array([0.02 / 0.42, 0.45 / 0.55, 0.0857 / 0.2857])
    pv = ((ndvi[2] - 0.2) / 0.3) ** 2
    eps = np.array([0.979 - 0.035 * 0.2, 0.99, 0.004 * pv + 0.986])
    expect = k2 / np.log(k1 * eps / 9.0 + 1)
    assert_allclose(out, expect, rtol=1e-4)
