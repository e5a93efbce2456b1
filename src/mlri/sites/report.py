"""``mlri report``: one self-contained HTML file (figures embedded as base64 PNG).

Written for the people who decide on a mine - operator, regulator - before the analyst:

1. **Verdict** - the class map, the area and share of each class for the scene and for every
   mine (ha and %), what the classes mean in one sentence each, and the warning on the paper's
   significance rule when it applies;
2. **Evidence** - maps of Sen's slope, Mann-Kendall Z and the Hurst exponent, MLRI over time
   per class and per mine, class shares per mine and group, mine maps, group tests, clusters
   and the accuracy assessment;
3. **Parameters and provenance** - collapsed: every parameter, input file, software version.

No JavaScript, no external resources: the file opens offline in any browser and prints (A4)
with the figures kept whole.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .._outputs import atomic_file, check_output_dir
from ..quicklook import rule_z_crit
from . import _html as H
from ._html import DASH, e, ha, num, pct, pm, pval, table
from ._table import Table
from .refdata import class_areas
from .runfolder import RunFolder, check_sites_of, open_run, read_accuracy

__all__ = ["CLASS_SENTENCES", "build_report", "scene_trajectories"]

#: One sentence per class, for people (the report's "What the classes mean").
CLASS_SENTENCES: list[tuple[str, str]] = [
    ("SI (significant increase)",
     ("MLRI rose over the period more than chance would explain (an increase significant "
     "under the run's test, named above: by default the paper's rule, Mann-Kendall |Z| above "
     "the critical value with Sen's slope > 0): the land got greener and cooler relative to "
     "its worst state - the restoration signal. SI = SCI + SAI.")),
    ("SCI (significant consistent increase)",
     ("A significant increase that is persistent (Hurst exponent H > 0.5): gains tend to be "
     "followed by gains, so the improvement is expected to continue.")),
    ("SAI (significant anti-persistent increase)",
     ("A significant increase with H ≤ 0.5: ups and downs alternate, so the improvement is "
     "real but less stable and may not continue.")),
    ("NI / ND (non-significant increase / decrease)",
     ("No trend distinguishable from year-to-year variation; the sign of Sen's slope only "
     "says which way it leans.")),
    ("SD (significant decrease)",
     ("MLRI fell significantly: degradation such as active mining, new dumps or loss of "
     "vegetation.")),
    ("no data",
     "Fewer valid years than the minimum (clouds, water with EVI ≤ 0), or outside the data."),
]
_SI = ("SCI", "SAI", "SI_H_undefined")


def scene_trajectories(rf: RunFolder, max_side: int = 600) -> Table:
    """Mean MLRI per year and class over the whole scene, from a decimated (nearest) read."""
    import rasterio

    from .zonal import CLASS_ORDER, class_codes

    if rf.mlri is None:
        return Table({"id": [], "class": [], "year": [], "n": [], "mean_mlri": []})
    with rasterio.open(rf.classes) as cs, rasterio.open(rf.mlri) as ms:
        f = max(1, math.ceil(max(cs.width, cs.height) / max_side))
        shape = (max(1, cs.height // f), max(1, cs.width // f))
        cls = cs.read(1, out_shape=shape).astype(np.int64)
        if cs.nodata is not None and cs.nodata != 0:
            cls[cls == int(cs.nodata)] = 0
        cls[(cls < 0) | (cls > 6)] = 0
        arr = ms.read(out_shape=(ms.count, *shape)).astype(np.float64)
    recs: dict[str, list[Any]] = {"id": [], "class": [], "year": [], "n": [], "mean_mlri": []}
    for name in (*CLASS_ORDER, "all"):
        sel = np.isin(cls, class_codes(name))
        for b, y in enumerate(rf.years):
            v = arr[b][sel]
            v = v[np.isfinite(v)]
            if v.size:
                recs["id"].append("scene")
                recs["class"].append(name)
                recs["year"].append(int(y) if float(y).is_integer() else y)
                recs["n"].append(int(v.size))
                recs["mean_mlri"].append(float(v.mean()))
    return Table(recs)


def _cluster_ns(groups: dict[str, Any], clusters: Table, table: Table) -> Any:
    c = groups.get("clustering") or {}
    if "clusters" not in c:
        return None
    lab_of = {str(i): int(v) for i, v in zip(clusters["id"], clusters.numeric("cluster"),
                                             strict=True) if not math.isnan(v)}
    labels = np.array([lab_of.get(str(i), 0) for i in table["id"]], dtype=np.int64)
    feats = list(c["features"])
    cen = np.array([[cl["centroid"][f] for f in feats] for cl in c["clusters"]])
    return SimpleNamespace(features=feats, k=int(c["k"]), labels=labels,
                           si_means=np.array([cl["mean_SI_pct"] for cl in c["clusters"]]),
                           centroids=cen, test=c.get("kruskal_SI", {}), seed=c.get("seed"))


def build_report(run: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 sites: str | os.PathLike[str] | None = None,
                 accuracy: str | os.PathLike[str] | None = None, title: str | None = None,
                 max_maps: int = 12, max_rows: int = 500, overwrite: bool = False) -> Path:
    """Write the HTML report ``out`` for a run folder (+ optional sites folder and accuracy).

    Parameters
    ----------
    run : path
        ``mlri run`` output folder.
    out : path
        The ``.html`` file to write (refused if it exists, unless ``overwrite``).
    sites : path, optional
        ``mlri sites`` output folder (needs the ``sites`` extra: shapely, pyogrio).
    accuracy : path, optional
        ``accuracy.json`` of ``mlri accuracy`` (default: ``<sites>/accuracy.json`` or
        ``<run>/accuracy.json`` when present).
    title : str, optional
        Plain text (escaped once).
    max_maps : int
        Mine maps to embed (the first usable mines in table order).
    max_rows : int
        Rows of the per-mine tables shown (all are in ``sites.csv``).
    """
    from .. import __version__
    from . import figures as F
    from ._deps import require_extra

    outp = Path(out)
    if outp.suffix.lower() not in (".html", ".htm"):
        msg = f"report output {outp} must end in .html"
        raise ValueError(msg)
    if sites is not None:
        require_extra("mlri report --sites", ("shapely", "pyogrio"))
    check_output_dir(outp.parent if str(outp.parent) else ".", [outp.name], overwrite=overwrite)
    rf = open_run(run)
    from .workflow import load_sites

    S = load_sites(sites) if sites is not None else None
    if S is not None:
        check_sites_of(rf, S)
    acc_path = Path(accuracy) if accuracy is not None else None
    if acc_path is None:
        for cand in ([Path(sites) / "accuracy.json"] if sites else []) + [rf.path /
                                                                          "accuracy.json"]:
            if cand.is_file():
                acc_path = cand
                break
    acc = read_accuracy(acc_path, rf) if acc_path is not None else None

    ttl = title or f"MLRI restoration report — {rf.path.name}"
    parts = [f"<h1>{e(ttl)}</h1>",
             f'<p class="meta">Generated {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} '
             f"by mlri {e(__version__)} from the run folder <code>{e(rf.path)}</code>"
             + (f" and the sites folder <code>{e(S['dir'])}</code>" if S else "") + ".</p>"]
    nav = ['<a href="#verdict">Verdict</a>', '<a href="#evidence">Evidence</a>']
    if S:
        nav += ['<a href="#mine-maps">Mine maps</a>', '<a href="#tests">Group tests</a>',
                '<a href="#clusters">Clusters</a>', '<a href="#onset">Onset</a>']
    if acc:
        nav.append('<a href="#accuracy">Accuracy</a>')
    nav.append('<a href="#provenance">Parameters and provenance</a>')
    parts.append("<nav>Contents: " + " · ".join(nav) + "</nav>")

    parts.extend(_verdict(rf, S, F))
    parts.append('<h2 id="evidence">2. Evidence</h2>')
    parts.extend(_scene_evidence(rf, F))
    if S:
        from .report_diagnostics import diagnostics_sections

        parts.extend(_sites_evidence(S, F, max_maps=max_maps, classes=rf.classes))
        parts.extend(diagnostics_sections(
            S["table"], S.get("onset"), S.get("diagnostics"), F, lst_unit=str(
                rf.parameters.get("lst_unit") or "K"),
            years=(min(rf.years), max(rf.years)) if rf.years else None,
            mapwide_sensor=(rf.summary or {}).get("sensor_step")))
    if acc:
        parts.extend(_accuracy_section(acc, acc_path))
    parts.extend(_provenance(rf, S))

    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           f"<title>{e(ttl)}</title><style>{H.CSS}</style></head><body>\n"
           + "\n".join(parts) + "\n</body></html>\n")
    with atomic_file(outp, "w", encoding="utf-8") as fh:
        fh.write(doc)
    return outp


def _class_shares(rf: RunFolder) -> tuple[np.ndarray, np.ndarray]:
    return class_areas(rf.classes)


def _verdict(rf: RunFolder, S: dict[str, Any] | None, F: Any) -> list[str]:
    from ..api import CLASS_CODES
    from ..quicklook import CLASS_HEX, CLASS_WORDS, classes_figure

    counts, hect = _class_shares(rf)
    valid = int(counts[1:].sum())
    v_ha = float(sum(hect[1:]))

    def share(names: tuple[str, ...]) -> tuple[float, float]:
        c = sum(int(counts[CLASS_CODES[n]]) for n in names)
        h = float(sum(hect[CLASS_CODES[n]] for n in names))
        return h, (100.0 * c / valid if valid else float("nan"))

    si_ha, si_pct = share(_SI)
    sd_ha, sd_pct = share(("SD",))
    parts = ['<h2 id="verdict">1. Verdict</h2>']
    if valid:
        parts.append(
            f'<p class="lead">Of <b>{ha(v_ha)} ha</b> classified, <b>{ha(si_ha)} ha '
            f"({pct(si_pct)} %)</b> show a significant increase of MLRI (the restoration "
            f"signal) and <b>{ha(sd_ha)} ha ({pct(sd_pct)} %)</b> a significant decrease; "
            f"the rest has no significant trend.</p>")
    else:
        parts.append('<p class="lead">No pixel of the class map is classified (too few valid '
                     "years everywhere): there is no verdict to give.</p>")
    parts.append(_significance_box(rf, si_pct))
    fig = classes_figure(rf.classes, title="Restoration classes", summary=rf.summary)
    parts.append(H.img(F.png_bytes(fig), "map of the restoration classes",
                       "Restoration classes of the whole area (decimated for display; the "
                       "full-resolution map is <code>classes.tif</code>). Coordinates in the "
                       "map's CRS; scale bar lower left."))
    rows = []
    for name in ("SCI", "SAI", "SI_H_undefined", "NI", "ND", "SD"):
        c = CLASS_CODES[name]
        if name == "SI_H_undefined" and counts[c] == 0:
            continue
        sw = f'<span style="color:{CLASS_HEX[name]}">■</span>'
        rows.append([f"{sw} <b>{name}</b>", e(CLASS_WORDS[name]), ha(hect[c]),
                     pct(100 * counts[c] / valid if valid else None), num(int(counts[c]))])
    rows.insert(0, ["<b>SI</b>", "significant increase (SCI + SAI"
                    + (" + undefined H" if counts[CLASS_CODES["SI_H_undefined"]] else "") + ")",
                    f"<b>{ha(si_ha)}</b>", f"<b>{pct(si_pct if valid else None)}</b>",
                    num(int(sum(counts[CLASS_CODES[n]] for n in _SI)))])
    nd = int(counts[0])
    rows.append(["no data", "not classified", ha(hect[0]), "not counted", num(nd)])
    parts.append("<h3>Area of each class</h3>")
    parts.append(table(["class", "meaning", "area (ha)", "% of classified", "pixels"], rows,
                       text_cols=2, dash="no classified pixel"))
    if S:
        parts.extend(_mine_verdict(S))
    parts.append("<h3>What the classes mean</h3><dl class=\"classes\">"
                 + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in CLASS_SENTENCES)
                 + "</dl>")
    parts.append('<p class="note">MLRI (Mine Landscape Restoration Index) compares each '
                 "year's land surface temperature / EVI ratio of a pixel with the worst state "
                 "seen so far at that pixel; the classes describe the direction, significance "
                 "and persistence of its trend, not an absolute ecological condition.</p>")
    return parts


def _mine_verdict(S: dict[str, Any]) -> list[str]:
    t: Table = S["table"]
    n = len(t)
    parts = ['<h3 id="mines">Per mine</h3>']
    st = [str(s) for s in t["status"]]
    counts: dict[str, int] = {}
    for s in st:
        counts[s] = counts.get(s, 0) + 1
    parts.append(f"<p>{n} mine{'s' if n != 1 else ''} ("
                 + ", ".join(f"{v} {e(k)}" for k, v in counts.items())
                 + "). Shares are % of each mine's classified pixels; areas in hectares. "
                 "Full table: <code>sites.csv</code>.</p>")
    rows = []
    for i in range(n):
        def col(c: str, i: int = i) -> Any:
            return t[c][i] if c in t else None

        name = col("name") or ""
        label = f"{e(col('id'))}" + (f" — {e(name)}" if name and name != col("id") else "")
        level = col("level")
        rows.append([label, e(st[i]), ha(col("area_ha")), ha(col("ha_SI")),
                     pct(col("pct_valid_SI")), pct(col("pct_valid_SCI")),
                     pct(col("pct_valid_SAI")), pct(col("pct_valid_NI")),
                     pct(col("pct_valid_ND")), pct(col("pct_valid_SD")),
                     e(level) if level not in (None, "") else DASH])
    parts.append('<div class="scroll">' + table(
        ["mine", "status", "area (ha)", "SI (ha)", "SI %", "SCI %", "SAI %", "NI %", "ND %",
         "SD %", "restoration level"], rows, text_cols=2,
        dash="no value: the mine has no classified pixel, or was not clustered") + "</div>")
    problems = [i for i in range(n) if t["note"][i]]
    if problems:
        prow = [[e(t["id"][i]), e(t["status"][i]), e(t["note"][i])] for i in problems[:200]]
        parts.append(f"<details><summary>Mines with warnings ({len(problems)})</summary>"
                     + table(["mine", "status", "note"], prow, text_cols=3) + "</details>")
    return parts


def _scene_evidence(rf: RunFolder, F: Any) -> list[str]:
    parts = []
    if rf.trend is not None:
        parts.append("<h3>Trend maps</h3>")
        zc = rule_z_crit(rf.summary)
        zwhat = (f"the Mann-Kendall Z behind the classes (beyond ±{zc:.2f} = significant under "
                 f"the run's rule)" if zc is not None else
                 "the Mann-Kendall Z (the classes come from the run's significance test, "
                 "named above)")
        parts.append(H.img(F.png_bytes(F.trend_maps(rf.trend, z_crit=zc)), "maps of Sen's "
                           "slope, Mann-Kendall Z and Hurst exponent",
                           "From <code>trend.tif</code>: Sen's slope of MLRI per year (green = "
                           f"rising), {zwhat} and the Hurst exponent that "
                           "splits SCI (H &gt; 0.5) from SAI."))
    if rf.mlri is not None:
        parts.append("<h3>MLRI over time</h3>")
        parts.append(H.img(F.png_bytes(F.mlri_trajectories(
            scene_trajectories(rf), title="Mean MLRI per year of each class (whole area)",
            ylabel="mean MLRI")), "MLRI over time by class",
            "Mean MLRI per year of the pixels of each class over the whole raster (computed on "
            "a decimated grid); MLRI = 1 is the worst state seen so far."))
    return parts


def _sites_evidence(S: dict[str, Any], F: Any, *, max_maps: int, classes: Path) -> list[str]:
    from .figures import group_title

    t: Table = S["table"]
    g = S.get("groups") or {}
    den = g.get("denominator", "valid")
    pre = "pct_valid_" if den == "valid" else "pct_"
    st = np.array(t["status"], dtype=object)
    usable = np.isin(st, ["ok", "partial"]) & (t.numeric("n_valid") > 0)
    names = {str(i): (str(n) if n else str(i)) for i, n in
             zip(t["id"], t["name"] if "name" in t else t["id"], strict=True)}
    parts = []
    if S.get("mlri") is not None and len(S["mlri"]):
        parts.append(H.img(F.png_bytes(F.mine_trajectories(S["mlri"], names=names)),
                           "MLRI per mine over time",
                           "Mean MLRI per year of each mine (all its classified pixels)."))
        parts.append(H.img(F.png_bytes(F.mlri_trajectories(S["mlri"])),
                           "MLRI over time by class, pooled over the mines",
                           "Mean MLRI per year of each class, pixels pooled over all mines "
                           "(cf. the paper's Fig. 6)."))
    parts.append("<h3>Class shares per mine</h3>")
    groupings = [k["group_col"] for k in g.get("kruskal_wallis", [])]
    first = groupings[0] if groupings and groupings[0] != "level" else None
    parts.append(H.img(F.png_bytes(F.class_bars(t, group_col=first, denominator=den,
                                                usable=usable)),
                       "class shares per mine", "Class shares of every mine"
                       + (f", grouped by {e(group_title(first))}" if first else "")
                       + " (cf. the paper's Fig. 4)."))
    for gc in groupings:
        if gc in t:
            parts.append(H.img(F.png_bytes(F.group_bars(t, gc, denominator=den,
                                                        usable=usable)),
                               f"class shares by {group_title(gc)}",
                               f"Mean class shares of the mines in each "
                               f"{e(group_title(gc))} group (cf. the paper's Fig. 5)."))
    parts.extend(_mine_maps(S, F, usable, pre, max_maps, classes))
    parts.extend(_tests_section(g))
    parts.extend(_cluster_section(S, F, g))
    return parts


def _mine_maps(S: dict[str, Any], F: Any, usable: np.ndarray, pre: str, max_maps: int,
               classes: Path) -> list[str]:
    t: Table = S["table"]
    parts = ['<h3 id="mine-maps">Mine maps</h3>']
    geoms = S.get("geoms")
    if geoms is None:
        parts.append("<p>The sites folder has no <code>sites.gpkg</code>: no mine maps.</p>")
        return parts
    gal, shown = [], 0
    for i in range(len(t)):
        if shown >= max_maps:
            break
        if not usable[i] or geoms[i] is None:
            continue
        nm = t["name"][i] if "name" in t and t["name"][i] else ""
        label = f"{t['id'][i]}" + (f" ({nm})" if nm else "")
        shares = {k: float(t.numeric(pre + k)[i]) for k in ("SI", "NI", "ND", "SD")}
        fig = F.mine_map(classes, geoms[i], title=f"Mine {label}", shares=shares)
        gal.append(H.img(F.png_bytes(fig), f"class map of mine {label}",
                         f"Mine {e(label)}: restoration classes inside and around its "
                         "boundary (% of classified pixels under the map)."))
        shown += 1
    parts.append('<div class="gallery">' + "".join(gal) + "</div>")
    n_use = int(usable.sum())
    if n_use > shown:
        parts.append(f"<p>{shown} of {n_use} mine maps shown (<code>--max-maps</code>).</p>")
    return parts


def _tests_section(g: dict[str, Any]) -> list[str]:
    from .figures import group_title

    parts = ['<h3 id="tests">Group tests (one value per mine)</h3>',
             ('<p class="note">Each mine counts once: pixels within a mine are spatially '
             "autocorrelated and never treated as independent observations. Kruskal&ndash;Wallis "
             "H with tie correction; ε² = H(n+1)/(n²&minus;1) (effect size); "
             "p<sub>BH</sub> = Benjamini&ndash;Hochberg over the class metrics; Dunn post-hoc with "
             "Holm adjustment. p is the exact permutation p-value for few mines (Spearman up "
             "to 9 mines, Kruskal&ndash;Wallis up to 100&thinsp;000 possible splits into the "
             "groups), else the t / chi-square approximation. Rows with p &lt; 0.05 are shaded. "
             "With few mines the tests have little power.</p>")]
    for kw in g.get("kruskal_wallis", []):
        gt = group_title(kw["group_col"])
        parts.append(f"<h4>Kruskal&ndash;Wallis test between {e(gt)} groups "
                     f"({e(kw.get('n_mines', DASH))} mines)</h4>")
        glabels = [x["group"] for x in (kw["tests"][0]["groups"] if kw["tests"] else [])]
        hdr = ["class share", "H", "df", "n", "p", "p<sub>BH</sub>", "ε²"] + [
            f"median {e(x)}" for x in glabels]
        rows, cls = [], []
        for tt in kw["tests"]:
            med = {x["group"]: x for x in tt["groups"]}
            rows.append([e(tt["metric"] + " %"), num(tt["statistic"], 3), num(tt["df"]),
                         num(tt["n"]), pval(tt["p"]), pval(tt.get("p_bh")),
                         num(tt["epsilon2"], 3)]
                        + [(pct(med[x]["median"]) + f" (n={med[x]['n']})") if x in med
                           else DASH for x in glabels])
            cls.append("sig" if _sig(tt.get("p")) else "")
        parts.append(table(hdr, rows, classes=cls,
                           dash="not computed: fewer than two groups with mines, or all "
                                "values equal"))
        dunn = [(tt["metric"], d) for tt in kw["tests"] for d in tt.get("dunn", [])]
        if dunn and len(glabels) > 2:
            drows = [[e(m), e(d["group_a"]), e(d["group_b"]), num(d["z"], 2), pval(d["p"]),
                      pval(d["p_adj"])] for m, d in dunn]
            parts.append("<details><summary>Dunn post-hoc pairs</summary>"
                         + table(["class share", "group A", "group B", "z", "p", "p (Holm)"],
                                 drows, text_cols=3) + "</details>")
    sp = g.get("spearman_duration")
    if sp:
        parts.append(f"<h4>Spearman correlation with mining duration "
                     f"(years to {e(g.get('reference_year', DASH))})</h4>")
        rows, cls = [], []
        for tt in sp["tests"]:
            rows.append([e(tt["metric"] + " %"), num(tt["rho"], 3), num(tt["n"]),
                         pval(tt["p"]), pval(tt.get("p_bh")), e(tt.get("note") or "")])
            cls.append("sig" if _sig(tt.get("p")) else "")
        parts.append(table(["class share", "&rho;", "n", "p", "p<sub>BH</sub>", "note"], rows,
                           classes=cls, dash="not computed: fewer than three mines with a "
                                             "known start, or constant values"))
        if g.get("duration_rule"):
            parts.append(f'<p class="fn">Duration: {e(g["duration_rule"])}.</p>')
    return parts


def _cluster_section(S: dict[str, Any], F: Any, g: dict[str, Any]) -> list[str]:
    t: Table = S["table"]
    parts = ['<h3 id="clusters">Clusters of mines</h3>']
    c = g.get("clustering") or {}
    if "clusters" not in c:
        parts.append(f"<p>No clustering: {e(c.get('skipped', 'not run'))}.</p>")
        return parts
    feats = [f.replace("pct_valid_", "").replace("pct_", "") for f in c["features"]]
    members: dict[int, list[str]] = {}
    if S.get("clusters") is not None:
        ct = S["clusters"]
        for i, k in zip(ct["id"], ct.numeric("cluster"), strict=True):
            if not math.isnan(k):
                members.setdefault(int(k), []).append(str(i))
    rows = [[e(cl["cluster"]), e(cl["level"]), num(cl["n"]), pct(cl["mean_SI_pct"])]
            + [pct(v) for v in cl["centroid"].values()]
            + [e(", ".join(members.get(int(cl["cluster"]), [])))] for cl in c["clusters"]]
    parts.append(table(["cluster", "level", "mines", "mean SI %"]
                       + [f"centre {e(f)} %" for f in feats] + ["mine ids"], rows,
                       text_cols=2))
    kw = c.get("kruskal_SI", {})
    parts.append(f"<p>K-means with k = {e(c['k'])} (seed {e(c['seed'])}, {e(c['n_init'])} "
                 f"starts) on the {e(' and '.join(feats))} shares; silhouette "
                 f"{num(c.get('silhouette'), 2)} (1 = well separated). Clusters are numbered "
                 f"by mean SI % (1 = highest). Kruskal&ndash;Wallis test of SI % between clusters: "
                 f"H = {num(kw.get('statistic'), 2)}, p = {pval(kw.get('p'))}, "
                 f"n = {num(kw.get('n'))}.</p>")
    ns = _cluster_ns(g, S["clusters"], t) if S.get("clusters") is not None else None
    if ns is not None:
        parts.append(H.img(F.png_bytes(F.cluster_scatter(t, ns)), "clusters of mines",
                           "Every mine in the SCI % / SAI % plane, coloured by restoration "
                           "level and labelled; X marks the cluster centres."))
    return parts


def _sig(p: Any, alpha: float = 0.05) -> bool:
    return isinstance(p, (int, float)) and not math.isnan(p) and p < alpha


def _accuracy_section(acc: dict[str, Any], path: Path | None) -> list[str]:
    parts = ['<h3 id="accuracy">Accuracy assessment</h3>']
    labs = acc.get("labels", [])
    scheme = {"binary": "restored / not restored", "classes4": "SD, ND, NI, SI",
              "classes6": "the six classes"}.get(str(acc.get("scheme")), str(acc.get("scheme")))
    parts.append(f"<p>{num(acc.get('n_points_used'))} of {num(acc.get('n_points_read'))} "
                 f"reference points used, compared as {e(scheme)} (file <code>{e(path)}</code>"
                 "). Confusion matrix: <b>rows = map, columns = reference</b>.</p>")
    m = acc.get("matrix", [])
    rows = [[f"<b>{e(lab)}</b>", *[num(v) for v in m[i]], num(sum(m[i]))]
            for i, lab in enumerate(labs)]
    colsum = [sum(r[j] for r in m) for j in range(len(labs))] if m else []
    rows.append(["<b>total</b>", *[num(v) for v in colsum], num(sum(colsum))])
    parts.append(table(["map \\ reference", *[e(x) for x in labs], "total"], rows))
    parts.append(f"<p>Overall accuracy <b>{pct(100 * acc['overall_accuracy'])} %</b>, Cohen's "
                 f"κ {num(acc.get('kappa'), 2)} (points as drawn, not area-weighted).</p>"
                 if acc.get("overall_accuracy") is not None else "")
    rows = [[e(c["class"]), num(c["n_map"]), num(c["n_reference"]),
             num(c["producers_accuracy"], 3), num(c["users_accuracy"], 3)]
            for c in acc.get("classes", [])]
    parts.append(table(["class", "points mapped", "points in reference", "producer's accuracy",
                        "user's accuracy"], rows,
                       dash="no point of the class in the reference (producer's) or in the "
                            "map (user's)"))
    aa = acc.get("area_adjusted")
    if isinstance(aa, dict) and "overall_accuracy" in aa:
        oa = aa["overall_accuracy"]
        parts.append("<h4>Area-adjusted estimates (Olofsson et al. 2014)</h4>"
                     f"<p>Overall accuracy {pm(oa.get('estimate'), oa.get('ci95'))} (95 % "
                     f"confidence interval). Strata: {e(aa.get('strata_source', DASH))}. "
                     f"{e(aa.get('design_assumption', ''))}</p>")
        unit = e(aa.get("area_unit", "ha"))
        rows = [[e(c["class"]), pm(c["users_accuracy"]["estimate"], c["users_accuracy"]["ci95"]),
                 pm(c["producers_accuracy"]["estimate"], c["producers_accuracy"]["ci95"]),
                 pm(c["area"]["estimate"], c["area"]["ci95"], 1)]
                for c in aa["classes"]]
        parts.append(table(["class", "user's accuracy ± CI", "producer's accuracy ± CI",
                            f"estimated area ({unit}) ± CI"], rows,
                           dash="not estimable: no reference point of the class"))
        for n in aa.get("notes", []):
            parts.append(f'<p class="fn">{e(n)}</p>')
    elif isinstance(aa, dict) and "error" in aa:
        parts.append(f"<p>Area-adjusted estimates not available: {e(aa['error'])}</p>")
    return parts


def _significance_box(rf: RunFolder, si_pct: float) -> str:
    """Name the test behind the classes; warn about the paper rule's construction drift."""
    sig = ((rf.summary or {}).get("significance") or (rf.manifest or {}).get("significance")
           or {})
    test = sig.get("test") or rf.parameters.get("significance") or "paper"
    if test != "paper":
        extra = ""
        if sig.get("fdr") is not None:
            extra = f", Benjamini&ndash;Hochberg false discovery rate {e(sig.get('fdr'))}"
        return (f'<div class="signote"><b>Significance test:</b> {e(test)}{extra} — '
                f"{e(sig.get('rule', ''))}. This test holds its nominal error rate on "
                "unchanged land (docs/significance.md).</div>")
    warn = math.isfinite(si_pct) and si_pct > 30
    cls = "sigwarn" if warn else "signote"
    here = (f"This map has <b>{pct(si_pct)} % SI</b> among classified pixels; where much of "
            "the area is stable or undisturbed land, many of these are not restoration. "
            if math.isfinite(si_pct) else "")
    # the critical |Z| this run applied (runs before it was recorded: the paper's 1.96)
    zc = rule_z_crit({"significance": sig})
    if sig.get("fdr") is not None:
        rule = (f"|Z| beyond the Benjamini&ndash;Hochberg threshold at a false discovery rate "
                f"of {e(sig.get('fdr'))}"
                + (f", here |Z| &ge; {zc:.2f}" if zc is not None else
                   ", which no pixel reached" if "z_crit" in sig else "") + ",")
    else:
        rule = f"|Z| &gt; {zc if zc is not None else 1.96:.2f}"
    return (f'<div class="{cls}"><b>Read the SI share with care: the paper\'s significance '
            f"rule</b> ({rule} in the Mann&ndash;Kendall test of MLRI, direction from Sen's "
            "slope). MLRI divides by running extrema and drifts upward by construction: in "
            "simulations about <b>half of stationary (unchanged) pixels are classed SI</b>, "
            f"whatever the noise level. {here}Re-run with <code>--significance permutation</code> or "
            "<code>--significance reference --reference FILE</code> for tests that hold their "
            "nominal error rate (docs/significance.md).</div>")


def _provenance(rf: RunFolder, S: dict[str, Any] | None) -> list[str]:
    parts = ['<h2 id="provenance">3. Parameters and provenance</h2>',
             "<p>Everything needed to reproduce the maps and tables above (click to open).</p>"]
    params = rf.parameters
    inner = []
    if params:
        rows = [[e(k), H.value(v)] for k, v in params.items()]
        inner.append("<h4>Run parameters (<code>mlri run</code>)</h4>"
                     + table(["parameter", "value"], rows, text_cols=2))
    else:
        inner.append("<p>No <code>manifest.json</code> parameters in the run folder.</p>")
    man = rf.manifest or {}
    prov = []
    labels = {"command": "command", "finished_utc": "finished (UTC)",
              "elapsed_s": "elapsed (s)"}
    for k, lab in labels.items():
        if k in man:
            prov.append([lab, H.value(man[k])])
    if isinstance(man.get("build"), dict):
        prov.append(["mlri build", H.value(man["build"])])
    prov.append(["files read by this report", e(", ".join(p.name for p in rf.inputs()))])
    if rf.years:
        prov.append(["years", (f"{int(min(rf.years))} to {int(max(rf.years))} "
                              f"({len(rf.years)} years)")])
    ins = man.get("inputs")
    if isinstance(ins, list) and ins:
        names = [Path(str(x.get("path", x) if isinstance(x, dict) else x)).name for x in ins]
        prov.append([f"input files ({len(names)})", e(", ".join(names[:60])
                                                      + (" …" if len(names) > 60 else ""))])
    inner.append("<h4>Provenance</h4>" + table(["item", "value"], prov, text_cols=2))
    if S and S.get("manifest"):
        p = S["manifest"].get("parameters", {})
        rows = [[e(k), H.value(v)] for k, v in p.items()]
        inner.append("<h4>Sites parameters (<code>mlri sites</code>)</h4>"
                     + table(["parameter", "value"], rows, text_cols=2))
    inner.append(f"<p>Every number above comes from <code>{e(rf.classes)}</code> (areas: its "
                 "pixels counted by class, times each pixel's area, on the ellipsoid for a "
                 f"geographic CRS), <code>{e(rf.path / 'summary.json')}"
                 f"</code>, <code>{e(rf.path / 'manifest.json')}</code>"
                 + (f" and the files of <code>{e(S['dir'])}</code>" if S else "")
                 + " (machine-readable, with the SHA-256 of every input).</p>")
    parts.append("<details><summary>Parameters, inputs and software</summary>"
                 + "".join(inner) + "</details>")
    return parts
