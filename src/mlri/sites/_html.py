"""HTML building blocks of :mod:`mlri.sites.report`: escaping, numbers for people, tables
whose empty cells are explained, embedded figures, and the stylesheet (screen and print)."""

from __future__ import annotations

import base64
import html
import math
from typing import Any

import numpy as np

#: The cell shown for a missing value; every table holding one gets a footnote saying why.
DASH = "\u2013"  # en dash

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0 auto;
max-width:1180px;padding:1.2em 2em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:3px solid #006837;padding-bottom:.2em;margin-bottom:.2em}
h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #bbb}
h3{font-size:1.05em;margin-top:1.6em}
p.meta{color:#555;font-size:.88em;margin-top:0}
p.lead{font-size:1.12em}
nav{font-size:.9em;margin:.6em 0 1em}
table{border-collapse:collapse;font-size:.84em;margin:.6em 0}
th,td{border:1px solid #d0d0d0;padding:.22em .55em;text-align:right;vertical-align:top}
th{background:#f0f0f0} td.t,th.t{text-align:left} td:not(.t){white-space:nowrap}
tr.sig td{background:#eaf6ea}
tr.warn td{background:#fff0f0}
td.sw{width:1.1em;padding:0}
figure{margin:1em 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.84em;color:#444;max-width:62em}
.gallery figure{width:48%;margin-right:1%}
.note{font-size:.88em;color:#333;background:#f7f7f7;border-left:4px solid #006837;
padding:.45em .9em}
.fn{font-size:.8em;color:#555;margin:.1em 0 1em}
.sigwarn{border:2px solid #b00;background:#fff0f0;padding:.6em .9em;margin:.9em 0}
.signote{border:1px solid #999;background:#f7f7f7;padding:.6em .9em;margin:.9em 0}
dl.classes dt{font-weight:bold;margin-top:.4em}
dl.classes dd{margin-left:1.5em}
.scroll{max-height:34em;overflow:auto;border:1px solid #eee}
details{margin:.8em 0;border:1px solid #ddd;padding:.3em .8em;background:#fcfcfc}
summary{cursor:pointer;font-weight:bold}
code{background:#f4f4f4;padding:0 .2em}
pre{white-space:pre-wrap;font-size:.78em}
@media print{
body{max-width:none;padding:0;font-size:10pt}
nav{display:none}
h2{break-before:auto;break-after:avoid}
h3{break-after:avoid}
figure,table,.sigwarn,.signote{break-inside:avoid}
.scroll{max-height:none;overflow:visible;border:none}
.gallery figure{width:48%}
details{border:none;padding:0}
a{color:inherit;text-decoration:none}
}
@page{size:A4;margin:14mm}
"""


def e(v: Any) -> str:
    """Escape text once (never pass already-built HTML through this)."""
    return html.escape(str(v), quote=True)


def _finite(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def num(v: Any, nd: int = 2) -> str:
    """A number for people: thousands separators, ``nd`` decimals, "< 0.01" for tiny values
    (never scientific notation), :data:`DASH` when missing."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{int(v):,}"
    f = _finite(v)
    if f is None:
        if isinstance(v, str) and v.strip() and v.strip().lower() not in ("nan", "none",
                                                                          "null", "inf"):
            return e(v)
        return DASH
    lim = 10.0 ** (-nd)
    if f != 0 and abs(f) < lim:
        return f"&lt; {lim:g}" if f > 0 else f"&gt; &minus;{lim:g}"
    return f"{f:,.{nd}f}"


def ha(v: Any) -> str:
    """Area in hectares: 1 decimal, 2 below 1 ha ("0.09")."""
    f = _finite(v)
    if f is None:
        return DASH
    return num(f, 2 if abs(f) < 1 else 1)


def pct(v: Any) -> str:
    """A percentage with one decimal ("< 0.1" for tiny shares)."""
    return num(v, 1)


def pval(v: Any) -> str:
    f = _finite(v)
    if f is None:
        return DASH
    return "&lt; 0.001" if f < 0.001 else f"{f:.3f}"


def pm(est: Any, ci: Any, nd: int = 3) -> str:
    """``estimate ± half-width``; "(no CI)" when the interval cannot be computed."""
    if _finite(est) is None:
        return DASH
    if _finite(ci) is None:
        return f"{num(est, nd)} (no CI)"
    return f"{num(est, nd)} &plusmn; {num(ci, nd)}"


def value(v: Any) -> str:
    """A parameter value in words: "not set", "yes"/"no", lists joined, dicts as k: v."""
    if v is None:
        return "not set"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return num(v, 4).rstrip("0").rstrip(".") if _finite(v) is not None else "not set"
    if isinstance(v, (list, tuple)):
        if not v:
            return "none"
        return e(", ".join(str(x) for x in v))
    if isinstance(v, dict):
        return "; ".join(f"{e(k)}: {value(x)}" for k, x in v.items()) or "none"
    return e(v)


def table(header: list[str], rows: list[list[str]], *, text_cols: int = 1,
          classes: list[str] | None = None, dash: str = "not available",
          notes: list[str] | None = None) -> str:
    """An HTML table from already-built cells; a footnote explains :data:`DASH` cells
    (``dash`` says why) and any "(no CI)" cells."""
    th = "".join(f'<th class="t">{h}</th>' if i < text_cols else f"<th>{h}</th>"
                 for i, h in enumerate(header))
    body = []
    for k, r in enumerate(rows):
        cls = f' class="{classes[k]}"' if classes and classes[k] else ""
        tds = "".join(f'<td class="t">{c}</td>' if i < text_cols else f"<td>{c}</td>"
                      for i, c in enumerate(r))
        body.append(f"<tr{cls}>{tds}</tr>")
    out = f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    cells = [c for r in rows for c in r]
    fn = list(notes or [])
    if any(c == DASH or c.endswith(f"&plusmn; {DASH}") for c in cells):
        fn.insert(0, f"{DASH} = {dash}.")
    if any("(no CI)" in c for c in cells):
        fn.append("no CI = the standard error cannot be estimated (a stratum with fewer than "
                  "two reference points, or no variance).")
    if fn:
        out += '<p class="fn">' + " ".join(fn) + "</p>"
    return out


def img(png: bytes, alt: str, caption: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{b64}" alt="{e(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")
