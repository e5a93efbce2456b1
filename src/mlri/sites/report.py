"""``mlri report``: one self-contained HTML file (figures embedded as base64 PNG).

Sections: run parameters and provenance, scene class areas and map, MLRI trajectories, and -
with a sites folder - the per-mine table, group tests (Kruskal-Wallis + Dunn, Spearman),
clustering, per-mine maps; with an accuracy JSON, the confusion matrix and (area-adjusted)
accuracy.  No JavaScript, no external resources: the file opens offline in any browser.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .._outputs import atomic_file, check_output_dir
from ..classes import CLASSES
from ._table import Table
from .runfolder import RunFolder, open_run

__all__ = ["build_report", "scene_trajectories"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0 auto;
max-width:1180px;padding:1.2em 2em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:3px solid #1a9850;padding-bottom:.2em}
h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0}
th,td{border:1px solid #d0d0d0;padding:.2em .5em;text-align:right;vertical-align:top}
th{background:#f0f0f0} td.t,th.t{text-align:left}
tr.sig td{background:#eaf6ea}
figure{margin:1em 0;display:inline-block;vertical-align:top}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.82em;color:#555;max-width:60em}
.gallery figure{width:48%;margin-right:1%}
.note{font-size:.85em;color:#444;background:#fafafa;border-left:4px solid #1a9850;
padding:.4em .8em}
.scroll{max-height:32em;overflow:auto;border:1px solid #eee}
code{background:#f4f4f4;padding:0 .2em}
"""

#: (class name, HTML text) of the class legend, from :mod:`mlri.classes`.
CLASS_TEXT = [
    (c.name, html.escape(f"{c.label[0].upper()}{c.label[1:]}: {c.rule}"))
    for n in ("SCI", "SAI", "SI_H_undefined", "NI", "ND", "SD", "nodata")
    for c in CLASSES if c.name == n
]


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _f(v: Any, nd: int = 2) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{int(v):,}"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _e(v)
    if math.isnan(f):
        return "&ndash;"
    if f != 0 and abs(f) < 10 ** (-nd):
        return f"{f:.2e}"
    return f"{f:,.{nd}f}"


def _sig(p: Any, alpha: float = 0.05) -> bool:
    return isinstance(p, (int, float)) and not math.isnan(p) and p < alpha


def _p(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "&ndash;"
    if math.isnan(f):
        return "&ndash;"
    return "< 0.001" if f < 0.001 else f"{f:.3f}"


def _table(header: list[str], rows: list[list[str]], *, text_cols: int = 1,
           classes: list[str] | None = None) -> str:
    th = "".join(f'<th class="t">{h}</th>' if i < text_cols else f"<th>{h}</th>"
                 for i, h in enumerate(header))
    body = []
    for k, r in enumerate(rows):
        cls = f' class="{classes[k]}"' if classes and classes[k] else ""
        tds = "".join(f'<td class="t">{c}</td>' if i < text_cols else f"<td>{c}</td>"
                      for i, c in enumerate(r))
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(png: bytes, alt: str, caption: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{b64}" alt="{_e(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


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
        ``mlri sites`` output folder.
    accuracy : path, optional
        ``accuracy.json`` of ``mlri accuracy`` (default: ``<sites>/accuracy.json`` or
        ``<run>/accuracy.json`` when present).
    max_maps : int
        Mine maps to embed (the first usable mines in table order).
    max_rows : int
        Rows of the per-mine table shown (all are in ``sites.csv``).
    """
    from .. import __version__
    from . import figures as F
    from .accuracy import class_areas
    from .workflow import load_sites

    outp = Path(out)
    if outp.suffix.lower() not in (".html", ".htm"):
        msg = f"report output {outp} must end in .html"
        raise ValueError(msg)
    check_output_dir(outp.parent if str(outp.parent) else ".", [outp.name], overwrite=overwrite)
    rf = open_run(run)
    S = load_sites(sites) if sites is not None else None
    acc_path = Path(accuracy) if accuracy is not None else None
    if acc_path is None:
        for cand in ([Path(sites) / "accuracy.json"] if sites else []) + [rf.path /
                                                                          "accuracy.json"]:
            if cand.is_file():
                acc_path = cand
                break
    if acc_path is not None and not acc_path.is_file():
        msg = f"accuracy file {acc_path} does not exist; run `mlri accuracy` first"
        raise FileNotFoundError(msg)
    acc = json.loads(acc_path.read_text(encoding="utf-8")) if acc_path else None

    parts: list[str] = []
    ttl = title or f"MLRI restoration report &mdash; {rf.path.name}"
    parts.append(f"<h1>{_e(ttl)}</h1>")
    parts.append(f"<p>Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by mlri "
                 f"{_e(__version__)} from <code>{_e(rf.path)}</code>"
                 + (f" and <code>{_e(S['dir'])}</code>" if S else "") + ".</p>")
    toc = ['<a href="#run">Run</a>', '<a href="#scene">Scene</a>']
    if S:
        toc += ['<a href="#mines">Mines</a>', '<a href="#tests">Group tests</a>',
                '<a href="#clusters">Clusters</a>', '<a href="#maps">Mine maps</a>']
    if acc:
        toc.append('<a href="#accuracy">Accuracy</a>')
    toc.append('<a href="#notes">Notes</a>')
    parts.append("<p>" + " · ".join(toc) + "</p>")

    # --- run parameters ------------------------------------------------------------------
    parts.append('<h2 id="run">Run parameters</h2>')
    params = rf.parameters
    if params:
        rows = [[_e(k), _e(json.dumps(v) if not isinstance(v, str) else v)]
                for k, v in params.items()]
        parts.append(_table(["parameter", "value"], rows, text_cols=2))
    else:
        parts.append("<p>No <code>manifest.json</code> parameters in the run folder.</p>")
    man = rf.manifest or {}
    prov = []
    for k in ("command", "finished_utc", "elapsed_s"):
        if k in man:
            prov.append([_e(k), _e(man[k])])
    if isinstance(man.get("build"), dict):
        prov.append(["build", _e(json.dumps(man["build"]))])
    files = [p.name for p in rf.inputs()]
    prov.append(["files used", _e(", ".join(files))])
    if rf.years:
        yrs = f"{int(min(rf.years))}&ndash;{int(max(rf.years))} ({len(rf.years)} bands)"
        prov.append(["years", yrs])
    parts.append(_table(["provenance", ""], prov, text_cols=2))
    if rf.summary:
        parts.append("<details><summary>summary.json</summary><pre>"
                     + _e(json.dumps(rf.summary, indent=1)[:20000]) + "</pre></details>")

    # --- scene -------------------------------------------------------------------------
    parts.append('<h2 id="scene">Scene class areas</h2>')
    counts, ha = class_areas(rf.classes)
    valid = counts[1:].sum()
    rows = []
    from ..classes import CLASS_CODES, SI_CODES

    for name in ("SCI", "SAI", "SI_H_undefined", "NI", "ND", "SD", "nodata"):
        c = CLASS_CODES[name]
        rows.append([_e(name), _f(int(counts[c])), _f(ha[c], 1),
                     _f(100 * counts[c] / counts.sum() if counts.sum() else float("nan")),
                     _f(100 * counts[c] / valid if (valid and c) else float("nan"))])
    si = sum(counts[c] for c in SI_CODES)
    rows.insert(0, ["<b>SI</b> (SCI+SAI+undef.)", _f(int(si)),
                    _f(sum(ha[c] for c in SI_CODES), 1),
                    _f(100 * si / counts.sum() if counts.sum() else float("nan")),
                    _f(100 * si / valid if valid else float("nan"))])
    parts.append(_table(["class", "pixels", "area (ha)", "% of scene", "% of classified"],
                        rows))
    parts.append(_significance_box(rf, params, 100 * si / valid if valid else float("nan")))
    parts.append(_img(F.png_bytes(F.mine_map(rf.classes, None, title="Restoration classes "
                                            "(whole raster)")),
                      "scene class map", "Restoration classes over the whole raster "
                      "(decimated for display)."))
    if rf.mlri is not None:
        parts.append(_img(F.png_bytes(F.mlri_trajectories(
            scene_trajectories(rf), title="Scene MLRI trajectories by class (decimated grid)",
            ylabel="mean MLRI (scene pixels)")),
            "scene MLRI trajectories",
            "Mean MLRI per year and class over the whole raster, computed on a decimated "
            "(nearest-neighbour) grid for speed."))

    # --- sites -------------------------------------------------------------------------
    if S:
        parts.extend(_sites_sections(S, F, max_maps=max_maps, max_rows=max_rows,
                                     classes=rf.classes))
    if acc:
        parts.extend(_accuracy_section(acc, acc_path))
    parts.append(_notes(S))

    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           f"<title>{_e(ttl)}</title><style>{CSS}</style></head><body>\n"
           + "\n".join(parts) + "\n</body></html>\n")
    with atomic_file(outp, "w", encoding="utf-8") as fh:
        fh.write(doc)
    return outp


def _sites_sections(S: dict[str, Any], F: Any, *, max_maps: int, max_rows: int,
                    classes: Path) -> list[str]:
    t: Table = S["table"]
    g = S.get("groups") or {}
    den = g.get("denominator", "valid")
    pre = "pct_valid_" if den == "valid" else "pct_"
    parts = ['<h2 id="mines">Per-mine class areas</h2>']
    st = np.array(t["status"], dtype=object)
    usable = np.isin(st, ["ok", "partial"]) & (t.numeric("n_valid") > 0)
    nstat: dict[str, int] = {}
    for s in st:
        nstat[s] = nstat.get(s, 0) + 1
    parts.append(f"<p>{len(t)} mines ({', '.join(f'{v} {k}' for k, v in nstat.items())}). "
                 f"Class shares are {'% of the classified pixels' if den == 'valid' else '% of the mine area'}"
                 f"; areas in hectares from the pixel size. Full table: <code>sites.csv</code>."
                 "</p>")
    hdr = ["id", "name", "group", "status", "area (ha)", "valid %", "SI %", "SCI %", "SAI %",
           "NI %", "ND %", "SD %", "duration (yr)", "cluster"]
    rows = []
    grp_col = "start_group" if "start_group" in t else ("region" if "region" in t else None)
    for i in range(min(len(t), max_rows)):
        def col(c: str, i: int = i) -> Any:
            return t[c][i] if c in t else None

        rows.append([_e(col("id")), _e(col("name") or ""), _e((col(grp_col) if grp_col else "")
                                                              or ""),
                     _e(col("status")), _f(col("area_ha"), 1), _f(col("valid_pct"), 1),
                     *[_f(col(pre + c), 1) for c in ("SI", "SCI", "SAI", "NI", "ND", "SD")],
                     _f(col("duration"), 0), _e(col("level") or "")])
    parts.append('<div class="scroll">' + _table(hdr, rows, text_cols=4) + "</div>")
    if len(t) > max_rows:
        parts.append(f"<p>First {max_rows} of {len(t)} mines shown.</p>")
    problems = [i for i in range(len(t)) if t["note"][i]]
    if problems:
        prow = [[_e(t["id"][i]), _e(t["status"][i]), _e(t["note"][i])] for i in problems[:200]]
        parts.append("<details><summary>Mines with warnings "
                     f"({len(problems)})</summary>" + _table(["id", "status", "note"], prow,
                                                             text_cols=3) + "</details>")
    groupings = [k["group_col"] for k in g.get("kruskal_wallis", [])]
    first = groupings[0] if groupings and groupings[0] != "level" else None
    parts.append(_img(F.png_bytes(F.class_bars(t, group_col=first, denominator=den,
                                               usable=usable)),
                      "class shares per mine", "Stacked class shares of every mine"
                      + (f", grouped by {_e(first)}" if first else "") + " (cf. paper Fig. 4)."))
    for gc in groupings:
        if gc in t:
            parts.append(_img(F.png_bytes(F.group_bars(t, gc, denominator=den, usable=usable)),
                              f"class shares by {gc}", f"Mean class shares of the mines in each "
                              f"{_e(gc)} group (cf. paper Fig. 5)."))
    if S.get("mlri") is not None and len(S["mlri"]):
        parts.append(_img(F.png_bytes(F.mlri_trajectories(S["mlri"])), "MLRI trajectories",
                          "Mean MLRI per year of each class, pixels pooled over all mines "
                          "(cf. paper Fig. 6)."))

    # tests
    parts.append('<h2 id="tests">Group tests (mine level)</h2>')
    parts.append('<p class="note">One value per mine: pixels within a mine are spatially '
                 "autocorrelated and are never treated as independent observations. "
                 "Kruskal&ndash;Wallis H with tie correction (scipy); &epsilon;<sup>2</sup> = H(n+1)/(n<sup>2</sup>&minus;1); "
                 "p<sub>BH</sub> = Benjamini&ndash;Hochberg over the class metrics; Dunn post-hoc "
                 "with Holm adjustment. Rows with p &lt; 0.05 are shaded.</p>")
    for kw in g.get("kruskal_wallis", []):
        parts.append(f"<h3>Kruskal&ndash;Wallis between {_e(kw['group_col'])} groups "
                     f"({kw.get('n_mines', '?')} mines)</h3>")
        glabels = [x["group"] for x in (kw["tests"][0]["groups"] if kw["tests"] else [])]
        hdr = ["metric", "H", "df", "n", "p", "p<sub>BH</sub>", "&epsilon;<sup>2</sup>"] + [
            f"median {_e(x)}" for x in glabels]
        rows, cls = [], []
        for tt in kw["tests"]:
            med = {x["group"]: x for x in tt["groups"]}
            rows.append([_e(tt["metric"] + " %"), _f(tt["statistic"], 3), _e(tt["df"]),
                         _e(tt["n"]), _p(tt["p"]), _p(tt.get("p_bh")), _f(tt["epsilon2"], 3)]
                        + [(_f(med[x]["median"], 1) + f" (n={med[x]['n']})") if x in med
                           else "&ndash;" for x in glabels])
            p = tt.get("p")
            cls.append("sig" if _sig(p) else "")
        parts.append(_table(hdr, rows, classes=cls))
        dunn = [(tt["metric"], d) for tt in kw["tests"] for d in tt.get("dunn", [])]
        if dunn and len(glabels) > 2:
            drows = [[_e(m), _e(d["group_a"]), _e(d["group_b"]), _f(d["z"], 2), _p(d["p"]),
                      _p(d["p_adj"])] for m, d in dunn]
            parts.append("<details><summary>Dunn post-hoc pairs</summary>"
                         + _table(["metric", "group A", "group B", "z", "p", "p (Holm)"],
                                  drows, text_cols=3) + "</details>")
    sp = g.get("spearman_duration")
    if sp:
        parts.append(f"<h3>Spearman correlation with mining duration "
                     f"(reference year {_e(g.get('reference_year'))})</h3>")
        rows, cls = [], []
        for tt in sp["tests"]:
            rows.append([_e(tt["metric"] + " %"), _f(tt["rho"], 3), _e(tt["n"]), _p(tt["p"]),
                         _p(tt.get("p_bh")), _e(tt.get("note", ""))])
            p = tt.get("p")
            cls.append("sig" if _sig(p) else "")
        parts.append(_table(["metric", "&rho;", "n", "p", "p<sub>BH</sub>", "note"], rows,
                            classes=cls))
        parts.append(f"<p>{_e(g.get('duration_rule', ''))}.</p>")

    # clusters
    parts.append('<h2 id="clusters">Clustering</h2>')
    c = g.get("clustering") or {}
    if "clusters" in c:
        rows = [[_e(cl["cluster"]), _e(cl["level"]), _e(cl["n"]), _f(cl["mean_SI_pct"], 1)]
                + [_f(v, 1) for v in cl["centroid"].values()] for cl in c["clusters"]]
        parts.append(_table(["cluster", "level", "n", "mean SI %"]
                            + [f"centroid {_e(f)}" for f in c["features"]], rows, text_cols=2))
        kw = c.get("kruskal_SI", {})
        parts.append(f"<p>K-means (k={_e(c['k'])}, seed={_e(c['seed'])}, "
                     f"{_e(c['n_init'])} initialisations) on {_e(', '.join(c['features']))}; "
                     f"silhouette {_f(c.get('silhouette'), 3)}. Clusters are numbered by "
                     f"mean SI % (1 = highest). Kruskal&ndash;Wallis of SI % between clusters: "
                     f"H = {_f(kw.get('statistic'), 2)}, p = {_p(kw.get('p'))}, "
                     f"n = {_e(kw.get('n'))}.</p>")
        ns = _cluster_ns(g, S["clusters"], t) if S.get("clusters") is not None else None
        if ns is not None:
            parts.append(_img(F.png_bytes(F.cluster_scatter(t, ns)), "cluster scatter",
                              "Mines in the SCI % / SAI % plane, coloured by restoration level; "
                              "X marks the cluster centroids."))
    else:
        parts.append(f"<p>No clustering: {_e(c.get('skipped', 'not run'))}.</p>")

    # maps
    parts.append('<h2 id="maps">Mine maps</h2>')
    geoms = S.get("geoms")
    if geoms is None:
        parts.append("<p>No <code>sites.gpkg</code> (or pyogrio missing): maps skipped.</p>")
    else:
        shown = 0
        gal = []
        for i in range(len(t)):
            if shown >= max_maps:
                break
            if not usable[i] or geoms[i] is None:
                continue
            nm = t["name"][i] if "name" in t and t["name"][i] else ""
            label = f"{t['id'][i]}" + (f" ({nm})" if nm else "")
            shares = {k: float(t.numeric(pre + k)[i]) for k in ("SI", "NI", "ND", "SD")}
            fig = F.mine_map(classes, geoms[i], title=f"Mine {label}", shares=shares)
            gal.append(_img(F.png_bytes(fig), f"class map of mine {label}",
                            f"Mine {_e(label)}: restoration classes, boundary and scale bar."))
            shown += 1
        parts.append('<div class="gallery">' + "".join(gal) + "</div>")
        n_use = int(usable.sum())
        if n_use > shown:
            parts.append(f"<p>{shown} of {n_use} mine maps shown "
                         f"(<code>--max-maps</code>).</p>")
    return parts


def _accuracy_section(acc: dict[str, Any], path: Path | None) -> list[str]:
    parts = ['<h2 id="accuracy">Accuracy assessment</h2>']
    labs = acc.get("labels", [])
    parts.append(f"<p>{_e(acc.get('n_points_used'))} of {_e(acc.get('n_points_read'))} "
                 f"reference points used (scheme <code>{_e(acc.get('scheme'))}</code>; "
                 f"from <code>{_e(path)}</code>). Confusion matrix: "
                 f"<b>{_e(acc.get('matrix_axes', 'rows = map, columns = reference'))}</b>.</p>")
    m = acc.get("matrix", [])
    rows = []
    for i, lab in enumerate(labs):
        rows.append([f"<b>{_e(lab)}</b>", *[_e(v) for v in m[i]], _e(sum(m[i]))])
    colsum = [sum(r[j] for r in m) for j in range(len(labs))] if m else []
    rows.append(["<b>total</b>", *[_e(v) for v in colsum], _e(sum(colsum))])
    parts.append(_table(["map \\ reference", *[_e(x) for x in labs], "total"], rows))
    parts.append(f"<p>Overall accuracy {_f(acc.get('overall_accuracy'), 3)}, Cohen's &kappa; "
                 f"{_f(acc.get('kappa'), 3)}.</p>")
    rows = [[_e(c["class"]), _e(c["n_map"]), _e(c["n_reference"]),
             _f(c["producers_accuracy"], 3), _f(c["users_accuracy"], 3)]
            for c in acc.get("classes", [])]
    parts.append(_table(["class", "n map", "n reference", "producer's acc.", "user's acc."],
                        rows))
    aa = acc.get("area_adjusted")
    if isinstance(aa, dict) and "overall_accuracy" in aa:
        oa = aa["overall_accuracy"]
        parts.append(f"<h3>Area-adjusted estimates (Olofsson et al. 2014)</h3><p>Overall "
                     f"accuracy {_f(oa['estimate'], 3)} &plusmn; {_f(oa['ci95'], 3)} (95 % CI). "
                     f"Strata: {_e(aa.get('strata_source'))}. {_e(aa.get('design_assumption'))}"
                     ".</p>")
        unit = _e(aa.get("area_unit", "ha"))
        rows = [[_e(c["class"]), _f(c["users_accuracy"]["estimate"], 3) + " &plusmn; "
                 + _f(c["users_accuracy"]["ci95"], 3),
                 _f(c["producers_accuracy"]["estimate"], 3) + " &plusmn; "
                 + _f(c["producers_accuracy"]["ci95"], 3),
                 _f(c["area"]["estimate"], 1) + " &plusmn; " + _f(c["area"]["ci95"], 1)]
                for c in aa["classes"]]
        parts.append(_table(["class", "user's acc. &plusmn; CI", "producer's acc. &plusmn; CI",
                             f"area ({unit}) &plusmn; CI"], rows))
        for n in aa.get("notes", []):
            parts.append(f'<p class="note">{_e(n)}</p>')
    elif isinstance(aa, dict) and "error" in aa:
        parts.append(f"<p>Area-adjusted estimates not available: {_e(aa['error'])}</p>")
    return parts


def _significance_box(rf: RunFolder, params: dict[str, Any] | None, si_pct: float) -> str:
    """Name the test behind the classes; warn about the paper rule's construction drift."""
    sig = ((rf.summary or {}).get("significance") or (rf.manifest or {}).get("significance")
           or {})
    test = sig.get("test") or (params or {}).get("significance") or "paper"
    if test != "paper":
        extra = ""
        if sig.get("fdr") is not None:
            extra = f", Benjamini&ndash;Hochberg FDR {_e(sig.get('fdr'))}"
        return (f"<p><b>Significance test:</b> {_e(test)}{extra} &mdash; "
                f"{_e(sig.get('rule', ''))}.</p>")
    level = "warn" if si_pct == si_pct and si_pct > 30 else "note"
    style = ("border:2px solid #b00;background:#fff0f0" if level == "warn"
             else "border:1px solid #999;background:#f7f7f7")
    return (f'<div class="sigwarn" style="{style};padding:0.6em;margin:0.8em 0">'
            "<b>Significance: the paper&#39;s rule</b> (|Z| &gt; 1.96 on the Mann&ndash;Kendall "
            "test of MLRI, direction from Sen&#39;s slope). MLRI divides by running extrema and "
            "drifts upward by construction: in simulations about <b>50 % of stationary "
            "(unchanged) pixels are classed SI</b>, whatever the noise level. "
            f"This map has {_f(si_pct, 1)} % SI among classified pixels; where much of the "
            "area is stable or undisturbed land, many of these are not restoration. Re-run "
            "with <code>--significance permutation</code> or <code>--significance reference "
            "--reference FILE</code> for tests that hold their nominal error rate "
            "(docs/significance.md).</div>")


def _notes(S: dict[str, Any] | None) -> str:
    rows = [[f"<b>{_e(k)}</b>", v] for k, v in CLASS_TEXT]
    txt = ['<h2 id="notes">Notes and definitions</h2>',
           _table(["class", "definition (Mann&ndash;Kendall Z, Sen slope, Hurst H)"], rows,
                  text_cols=2)]
    txt.append('<p class="note">SI = SCI + SAI + SI with undefined H. A pixel belongs to a mine '
               "when its centre lies inside the polygon (or any part with "
               "<code>--all-touched</code>). The MLRI of a year is relative to the worst state "
               "seen so far at that pixel; classes describe the direction, significance and "
               "persistence of its trend, not an absolute ecological condition. Group tests and "
               "correlations show association between mines, not causation.</p>")
    if S and S.get("manifest"):
        p = S["manifest"].get("parameters", {})
        txt.append(f"<p>Sites parameters: rasterisation <code>{_e(p.get('rasterisation'))}"
                   f"</code>, start-year threshold {_e(p.get('threshold'))}, reference year "
                   f"{_e(p.get('reference_year'))}, denominator {_e(p.get('denominator'))}."
                   "</p>")
    return "\n".join(txt)
