"""Accuracy assessment (confusion matrix, OA/PA/UA/kappa, Olofsson) and stratified sampling."""

from __future__ import annotations

import csv
from fractions import Fraction

import numpy as np
import pytest
from _sites_support import write_classes

from mlri.sites import (
    SitesWarning,
    accuracy_metrics,
    area_adjusted,
    assess_accuracy,
    confusion_matrix,
    read_points,
    stratified_sample,
    write_points,
)

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

SIX = ["SD", "ND", "NI", "SAI", "SCI", "SI_H_undefined"]
CM6 = np.array([[10, 1, 0, 0, 0, 0],
                [2, 8, 1, 0, 0, 0],
                [0, 1, 9, 2, 0, 0],
                [0, 0, 1, 7, 2, 0],
                [0, 0, 0, 1, 9, 1],
                [0, 0, 0, 0, 1, 4]])


def _expand(cm, labels):
    mp, rf = [], []
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            mp += [a] * int(cm[i, j])
            rf += [b] * int(cm[i, j])
    return mp, rf


def test_two_by_two_hand_computed():
    cm = np.array([[45, 5], [10, 40]])  # rows = map, columns = reference
    r = accuracy_metrics(cm, ["restored", "not restored"])
    assert r["overall_accuracy"] == pytest.approx(0.85)
    # p_e = (50*55 + 50*45) / 100^2 = 0.5 -> kappa = (0.85 - 0.5) / 0.5
    assert r["expected_agreement"] == pytest.approx(0.5)
    assert r["kappa"] == pytest.approx(0.7)
    c = {x["class"]: x for x in r["classes"]}
    assert c["restored"]["users_accuracy"] == pytest.approx(45 / 50)
    assert c["restored"]["producers_accuracy"] == pytest.approx(45 / 55)
    assert c["not restored"]["users_accuracy"] == pytest.approx(40 / 50)
    assert c["not restored"]["producers_accuracy"] == pytest.approx(40 / 45)
    assert c["restored"]["commission_error"] == pytest.approx(5 / 50)
    assert c["restored"]["omission_error"] == pytest.approx(10 / 55)
    assert r["matrix_axes"] == "rows = map, columns = reference"


def test_six_classes_hand_computed():
    r = accuracy_metrics(CM6, SIX)
    assert r["n"] == 60
    assert r["overall_accuracy"] == pytest.approx(47 / 60)
    # p_e = (11*12 + 11*10 + 12*11 + 10*10 + 11*12 + 5*5) / 3600 = 631/3600
    assert r["expected_agreement"] == pytest.approx(631 / 3600)
    assert r["kappa"] == pytest.approx(float(Fraction(2820 - 631, 3600 - 631)))  # 2189/2969
    ua = [10 / 11, 8 / 11, 9 / 12, 7 / 10, 9 / 11, 4 / 5]
    pa = [10 / 12, 8 / 10, 9 / 11, 7 / 10, 9 / 12, 4 / 5]
    np.testing.assert_allclose([c["users_accuracy"] for c in r["classes"]], ua)
    np.testing.assert_allclose([c["producers_accuracy"] for c in r["classes"]], pa)


@pytest.mark.parametrize("cm", [np.array([[45, 5], [10, 40]]), CM6,
                                np.array([[3, 0, 0], [0, 0, 0], [1, 0, 2]])])
def test_kappa_and_matrix_against_sklearn(cm):
    skm = pytest.importorskip("sklearn.metrics")
    labels = [f"c{i}" for i in range(len(cm))]
    mp, rf = _expand(cm, labels)
    ours = confusion_matrix(mp, rf, labels)
    np.testing.assert_array_equal(ours, cm)
    # scikit-learn's matrix is (reference rows, predicted columns): the transpose of ours
    np.testing.assert_array_equal(skm.confusion_matrix(rf, mp, labels=labels).T, ours)
    assert accuracy_metrics(ours, labels)["kappa"] == pytest.approx(
        skm.cohen_kappa_score(rf, mp, labels=labels))


def test_degenerate_matrices():
    r = accuracy_metrics(np.zeros((2, 2)), ["a", "b"])
    assert np.isnan(r["overall_accuracy"]) and np.isnan(r["kappa"])
    r = accuracy_metrics(np.array([[5, 0], [0, 0]]), ["a", "b"])  # p_e = 1
    assert r["overall_accuracy"] == 1.0 and np.isnan(r["kappa"])
    assert np.isnan(r["classes"][1]["users_accuracy"])
    with pytest.raises(ValueError, match="square"):
        accuracy_metrics(np.zeros((2, 3)))


# Olofsson et al. (2014) RSE 148:42, section 5 example (rows = map, columns = reference)
OLOF_LABELS = ["deforestation", "forest gain", "stable forest", "stable non-forest"]
OLOF_CM = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
OLOF_PIXELS = np.array([200_000, 150_000, 3_200_000, 6_450_000])


def test_olofsson_2014_worked_example():
    mp, rf = _expand(OLOF_CM, OLOF_LABELS)
    area = dict(zip(OLOF_LABELS, OLOF_PIXELS * 0.09, strict=False))  # 30 m pixels -> ha
    r = area_adjusted(mp, rf, OLOF_LABELS, area)
    c = {x["class"]: x for x in r["classes"]}
    # published: 21,158 ± 6,158 ha; 11,686 ± 3,756; 285,770 ± 15,510; 581,386 ± 16,282
    for lab, (a, ci) in zip(OLOF_LABELS, [(21158, 6158), (11686, 3756), (285770, 15510),
                                          (581386, 16282)], strict=False):
        assert c[lab]["area"]["estimate"] == pytest.approx(a, abs=1.0)
        assert c[lab]["area"]["ci95"] == pytest.approx(ci, abs=1.5)
    # published accuracies (2 decimals): UA 0.88, 0.73, 0.93, 0.96; PA 0.75, 0.85, 0.93, 0.96
    for lab, ua, pa in zip(OLOF_LABELS, [0.88, 0.73, 0.93, 0.96], [0.75, 0.85, 0.93, 0.96], strict=False):
        assert round(c[lab]["users_accuracy"]["estimate"], 2) == ua
        assert round(c[lab]["producers_accuracy"]["estimate"], 2) == pa
    assert round(r["overall_accuracy"]["estimate"], 2) == 0.95
    assert round(r["overall_accuracy"]["ci95"], 2) == 0.02
    assert round(c["deforestation"]["users_accuracy"]["ci95"], 2) == 0.07

    # independent closed forms (Olofsson 2014 eqs. 5, 7): V(U_i) and V(P_j)
    n_i = OLOF_CM.sum(axis=1).astype(float)
    N_i = OLOF_PIXELS.astype(float)
    U = np.diag(OLOF_CM) / n_i
    Nhat_j = (N_i[:, None] * OLOF_CM / n_i[:, None]).sum(axis=0)
    P = N_i * U / Nhat_j
    for j, lab in enumerate(OLOF_LABELS):
        v_u = U[j] * (1 - U[j]) / (n_i[j] - 1)
        assert c[lab]["users_accuracy"]["se"] == pytest.approx(np.sqrt(v_u), rel=1e-9)
        others = sum(N_i[i] ** 2 * OLOF_CM[i, j] / n_i[i] * (1 - OLOF_CM[i, j] / n_i[i])
                     / (n_i[i] - 1) for i in range(4) if i != j)
        v_p = (N_i[j] ** 2 * (1 - P[j]) ** 2 * U[j] * (1 - U[j]) / (n_i[j] - 1)
               + P[j] ** 2 * others) / Nhat_j[j] ** 2
        assert c[lab]["producers_accuracy"]["estimate"] == pytest.approx(P[j], rel=1e-12)
        assert c[lab]["producers_accuracy"]["se"] == pytest.approx(np.sqrt(v_p), rel=1e-9)


def test_area_adjusted_with_nested_strata_equals_map_strata_when_identical():
    mp, rf = _expand(OLOF_CM, OLOF_LABELS)
    area = dict(zip(OLOF_LABELS, OLOF_PIXELS.astype(float), strict=False))
    a = area_adjusted(mp, rf, OLOF_LABELS, area)
    b = area_adjusted(mp, rf, OLOF_LABELS, area, strata=list(mp))
    assert a["overall_accuracy"] == pytest.approx(b["overall_accuracy"])
    for x, y in zip(a["classes"], b["classes"], strict=False):
        assert x["area"]["estimate"] == pytest.approx(y["area"]["estimate"])
        assert x["producers_accuracy"]["se"] == pytest.approx(y["producers_accuracy"]["se"])


# --- end to end on a raster ---------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("acc")
    return write_classes(d, height=60, width=70)


def _write_csv(path, header, rows):
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_points_csv_binary_scheme_with_exclusions(run, tmp_path):
    T, cls = run["transform"], run["classes"]
    pts = [(5, 15), (5, 25), (5, 35), (15, 5), (15, 15), (25, 5), (35, 25), (45, 5)]  # row, col
    rows = []
    expect_map = []
    for k, (r, c) in enumerate(pts):
        x, y = T.c + (c + 0.5) * T.a, T.f + (r + 0.5) * T.e
        code = cls[r, c]
        assert code > 0
        restored = code in (4, 5, 6)
        expect_map.append(restored)
        ref = "restored" if (restored ^ (k == 1)) else "Not restored"  # one disagreement
        rows.append([f"p{k}", x, y, ref])
    rows.append(["outside", 0.0, 0.0, "restored"])
    rows.append(["unlabelled", T.c + 45, T.f - 45, ""])
    rows.append(["nodata", T.c + 15, T.f - 15, "restored"])  # block (0, 0) is class 0
    rows.append(["weird", T.c + 15, T.f - 315, "maybe"])
    p = _write_csv(tmp_path / "pts.csv", ["id", "x", "y", "label"], rows)
    with pytest.warns(SitesWarning) as rec:
        r = assess_accuracy(run["dir"] / "classes.tif", p, label_col="label",
                            area_adjusted_estimates=False)
    msgs = " | ".join(str(w.message) for w in rec)
    assert "'outside'" in msgs and "outside the class raster" in msgs
    assert "'unlabelled'" in msgs and "no reference label" in msgs
    assert "'nodata'" in msgs and "map nodata" in msgs
    assert "'weird'" in msgs and "maybe" in msgs
    assert r["scheme"] == "binary"
    assert r["n_points_used"] == len(pts)
    assert r["excluded"] == {"no_label": 1, "unknown_label": 1, "outside_raster": 1,
                             "map_nodata": 1}
    # hand-computed matrix
    mp = ["restored" if m else "not restored" for m in expect_map]
    rf = ["restored" if (m ^ (k == 1)) else "not restored" for k, m in enumerate(expect_map)]
    np.testing.assert_array_equal(r["matrix"], confusion_matrix(mp, rf, ["restored",
                                                                         "not restored"]))
    assert r["overall_accuracy"] == pytest.approx((len(pts) - 1) / len(pts))


def test_points_lonlat_csv_and_geojson_match_projected(run, tmp_path):
    pyproj = pytest.importorskip("pyproj")
    T, cls = run["transform"], run["classes"]
    rng = np.random.default_rng(5)
    rr, cc = rng.integers(0, 60, 40), rng.integers(0, 70, 40)
    keep = cls[rr, cc] > 0
    rr, cc = rr[keep], cc[keep]
    xs, ys = T.c + (cc + 0.5) * T.a, T.f + (rr + 0.5) * T.e
    names = {1: "SD", 2: "ND", 3: "NI", 4: "SAI", 5: "SCI", 6: "SI_H_undefined"}
    labels = [names[int(v)] for v in cls[rr, cc]]
    labels[0] = "SD" if labels[0] != "SD" else "ND"
    p1 = _write_csv(tmp_path / "utm.csv", ["x", "y", "reference"],
                    list(zip(xs, ys, labels, strict=False)))
    lon, lat = pyproj.Transformer.from_crs(run["epsg"], 4326, always_xy=True).transform(xs, ys)
    p2 = _write_csv(tmp_path / "ll.csv", ["longitude", "latitude", "reference"],
                    list(zip(lon, lat, labels, strict=False)))
    r1 = assess_accuracy(run["dir"] / "classes.tif", p1, area_adjusted_estimates=False)
    r2 = assess_accuracy(run["dir"] / "classes.tif", p2, area_adjusted_estimates=False)
    assert r1["scheme"] == "classes6"
    assert r1["matrix"] == r2["matrix"]
    assert r1["n_points_used"] == len(labels)
    assert r1["overall_accuracy"] == pytest.approx((len(labels) - 1) / len(labels))
    # SI labels give the 4-class scheme (map SAI/SCI/SI_H_undefined merged)
    lab4 = ["SI" if v in ("SAI", "SCI", "SI_H_undefined") else v for v in labels]
    p3 = _write_csv(tmp_path / "si.csv", ["x", "y", "class"], list(zip(xs, ys, lab4, strict=False)))
    r3 = assess_accuracy(run["dir"] / "classes.tif", p3, area_adjusted_estimates=False)
    assert r3["scheme"] == "classes4" and r3["labels"] == ["SD", "ND", "NI", "SI"]


def test_read_points_errors(run, tmp_path):
    p = _write_csv(tmp_path / "bad.csv", ["a", "b", "label"], [[1, 2, "SD"]])
    with pytest.raises(ValueError, match=r"coordinate columns.*--x-col and --y-col"):
        read_points(p)
    p = _write_csv(tmp_path / "bad2.csv", ["x", "y", "what"], [[1, 2, "SD"]])
    with pytest.raises(ValueError, match=r"no label column.*columns are x, y, what.*--label-col"):
        read_points(p)
    with pytest.raises(FileNotFoundError, match=r"nope\.csv does not exist; check --points"):
        read_points(tmp_path / "nope.csv")


def test_stratified_sample_design(run, tmp_path):
    cls = run["classes"]
    t = stratified_sample(run["dir"] / "classes.tif", 25, seed=7, window=16)
    counts = {s: list(t["stratum"]).count(s) for s in SIX}
    assert counts == dict.fromkeys(SIX, 25)
    # every point is on a pixel of its stratum, at the pixel centre
    np.testing.assert_array_equal(cls[t["row"], t["col"]], t["map_code"])
    assert all(s == m for s, m in zip(t["stratum"], t["map_class"], strict=False))
    T = run["transform"]
    np.testing.assert_allclose(t["x"], T.c + (t["col"] + 0.5) * T.a)
    np.testing.assert_allclose(t["y"], T.f + (t["row"] + 0.5) * T.e)
    assert len({(r, c) for r, c in zip(t["row"], t["col"], strict=False)}) == len(t)  # no duplicates
    # seeded: same seed -> same points; another seed -> different points
    t2 = stratified_sample(run["dir"] / "classes.tif", 25, seed=7, window=16)
    np.testing.assert_array_equal(t2["row"], t["row"])
    t3 = stratified_sample(run["dir"] / "classes.tif", 25, seed=8, window=16)
    assert not np.array_equal(t3["row"], t["row"])
    npix = np.bincount(cls.ravel(), minlength=7)
    assert dict(zip(t["stratum"], t["stratum_pixels"], strict=False))["SD"] == npix[1]


def test_sample_takes_every_pixel_of_a_small_stratum(run):
    cls = run["classes"]
    npix = np.bincount(cls.ravel(), minlength=7)
    big = int(npix[1:].max()) + 5
    with pytest.warns(SitesWarning, match="strata smaller than the requested sample"):
        t = stratified_sample(run["dir"] / "classes.tif", {"SD": big}, window=16)
    assert len(t) == npix[1]
    got = sorted(zip(t["row"].tolist(), t["col"].tolist(), strict=False))
    assert got == sorted(zip(*np.nonzero(cls == 1), strict=False))


def test_sample_binary_strata_and_round_trip_files(run, tmp_path):
    pytest.importorskip("pyogrio")
    t = stratified_sample(run["dir"] / "classes.tif", 10, strata="binary", seed=3)
    assert sorted(set(t["stratum"])) == ["not restored", "restored"]
    assert all((s == "restored") == (c in (4, 5, 6)) for s, c in zip(t["stratum"],
                                                                      t["map_code"], strict=False))
    t["reference"] = list(t["stratum"])
    for ext in ("csv", "geojson", "gpkg"):
        p = write_points(t, tmp_path / f"s.{ext}")
        r = assess_accuracy(run["dir"] / "classes.tif", p)
        assert r["scheme"] == "binary" and r["overall_accuracy"] == 1.0
        aa = r["area_adjusted"]
        assert aa["strata_source"] == "stratum column of the points"
        assert aa["overall_accuracy"]["estimate"] == pytest.approx(1.0)
        area = {c["class"]: c["area"]["estimate"] for c in aa["classes"]}
        npix = np.bincount(run["classes"].ravel(), minlength=7)
        assert area["restored"] == pytest.approx(npix[4:7].sum() * 0.09)
    with pytest.raises(ValueError, match=r"\.csv, \.geojson or \.gpkg"):
        write_points(t, tmp_path / "s.kml")


def test_area_adjusted_uses_sample_strata_nested_in_binary(run, tmp_path):
    """Points drawn per 6-class stratum but assessed as restored / not restored."""
    cls = run["classes"]
    t = stratified_sample(run["dir"] / "classes.tif", 8, seed=11)
    ref = ["restored" if c in (4, 5, 6) else "not restored" for c in t["map_code"]]
    ref[0] = "restored" if ref[0] == "not restored" else "not restored"
    t["reference"] = ref
    p = write_points(t, tmp_path / "nested.csv")
    r = assess_accuracy(run["dir"] / "classes.tif", p)
    aa = r["area_adjusted"]
    assert aa["strata_source"] == "stratum column of the points"
    assert set(aa["strata"]) == set(SIX)
    # hand computation: one wrong point in stratum of point 0
    npix = np.bincount(cls.ravel(), minlength=7)[1:].astype(float)
    w = npix / npix.sum()
    s0 = SIX.index(t["stratum"][0])
    oa = 1 - w[s0] * (1 / 8)
    assert aa["overall_accuracy"]["estimate"] == pytest.approx(oa)
    se = np.sqrt(w[s0] ** 2 * (1 / 8) * (7 / 8) * 8 / 7 / 8)
    assert aa["overall_accuracy"]["se"] == pytest.approx(se)


def test_area_adjusted_estimates_over_a_given_population(run, tmp_path):
    """population= (e.g. one mine's polygon on a buffered grid, as mlri study assesses):
    the strata's weights and the areas are the population's, not the whole raster's."""
    t = stratified_sample(run["dir"] / "classes.tif", 10, strata="binary", seed=3)
    t["reference"] = list(t["stratum"])
    p = write_points(t, tmp_path / "s.csv")
    counts = np.array([0, 10, 0, 30, 5, 40, 15])  # a made-up mine: restored 60 of 100 px
    r = assess_accuracy(run["dir"] / "classes.tif", p, population=(counts, counts * 0.09))
    aa = r["area_adjusted"]
    area = {c["class"]: c["area"]["estimate"] for c in aa["classes"]}
    assert area["restored"] == pytest.approx(60 * 0.09)
    assert aa["total_area"] == pytest.approx(100 * 0.09)
    with pytest.raises(ValueError, match="population must be"):
        assess_accuracy(run["dir"] / "classes.tif", p, population=(counts[:3], counts[:3]))
