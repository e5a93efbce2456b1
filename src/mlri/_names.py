"""File-name conventions of the annual inputs: year lists, ``--pattern`` and variable tokens.

A ``pattern`` such as ``"mine3_{var}_{year}.tif"`` is matched against the end of a file's base
name (any prefix allowed), case-insensitively: ``{year}`` is four digits, ``{var}`` one or more
letters/digits, ``*`` any run of characters and ``?`` one character; everything else is
literal.  Matching is a dynamic programme over (pattern token, name position) - linear in
their product, whatever the pattern - never a backtracking regular expression, so no crafted
pattern can make input discovery hang.  Among several ways to match, each wildcard takes the
shortest text that still lets the rest match (the first ``{year}`` from the left wins).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["InputError", "match_pattern", "parse_years", "var_token", "year_from_name",
           "year_in_text"]

_YEAR_RE = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])")
#: Longest ``pattern`` accepted (characters).
PATTERN_MAX = 255
_DIGITS = frozenset("0123456789")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class InputError(ValueError):
    """A problem with the input rasters; the message names the file(s) involved."""


def parse_years(text: str | Iterable[Any] | None) -> list[int] | None:
    """Parse ``"2000-2011,2013-2019"`` / ``"2000 2001 2003"`` (or a sequence) into years."""
    if text is None:
        return None
    if not isinstance(text, str):
        items: list[str] = []
        for t in text:
            items.extend(str(t).replace(",", " ").split())
    else:
        items = text.replace(",", " ").split()
    if not items:
        return None
    out: list[int] = []
    for it in items:
        m = re.fullmatch(r"(\d{4})(?:(?:-|\.\.|:)(\d{4}))?", it.strip())
        if not m:
            msg = (f"cannot parse years {it!r}: use e.g. '2000-2011,2013-2019' or "
                   f"'2000 2001 2003'")
            raise InputError(msg)
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        if b < a:
            msg = f"year range {it!r} runs backwards"
            raise InputError(msg)
        out.extend(range(a, b + 1))
    if len(set(out)) != len(out):
        dup = sorted({y for y in out if out.count(y) > 1})
        msg = f"years given twice: {dup}"
        raise InputError(msg)
    if any(b <= a for a, b in itertools.pairwise(out)):
        msg = f"years must be strictly increasing, got {out}"
        raise InputError(msg)
    return out


@functools.lru_cache(maxsize=64)
def _tokens(pattern: str) -> tuple[tuple[str, str], ...]:
    """``pattern`` -> tokens ``("lit", c) | ("any", "") | ("star", "") | ("year", "") |
    ("var", "")``, validated."""
    if len(pattern) > PATTERN_MAX:
        msg = f"--pattern is {len(pattern)} characters long; at most {PATTERN_MAX} are accepted"
        raise InputError(msg)
    if pattern.count("{year}") != 1 or pattern.count("{var}") > 1:
        msg = (f"pattern {pattern!r} must contain {{year}} exactly once (and may contain "
               f"{{var}} once, * and ?), e.g. 'mine3_{{var}}_{{year}}.tif'")
        raise InputError(msg)
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("{year}", i):
            out.append(("year", ""))
            i += 6
        elif pattern.startswith("{var}", i):
            out.append(("var", ""))
            i += 5
        elif pattern[i] == "*":
            if not out or out[-1][0] != "star":  # ** == *
                out.append(("star", ""))
            i += 1
        elif pattern[i] == "?":
            out.append(("any", ""))
            i += 1
        else:
            out.append(("lit", pattern[i].lower()))
            i += 1
    return tuple(out)


def match_pattern(pattern: str, name: str) -> tuple[int, str | None] | None:
    """``(year, var)`` when ``name`` ends with a match of ``pattern``, else None."""
    toks = (("star", ""), *_tokens(pattern))  # any prefix: a search anchored at the end
    low = name.lower()
    m, n = len(toks), len(name)
    # ok[i][j]: toks[i:] match name[j:] exactly
    ok = [[False] * (n + 1) for _ in range(m + 1)]
    ok[m][n] = True
    for i in range(m - 1, -1, -1):
        kind, c = toks[i]
        row, nxt = ok[i], ok[i + 1]
        for j in range(n, -1, -1):
            if kind == "lit":
                row[j] = j < n and low[j] == c and nxt[j + 1]
            elif kind == "any":
                row[j] = j < n and nxt[j + 1]
            elif kind == "star":
                row[j] = nxt[j] or (j < n and row[j + 1])
            elif kind == "year":
                row[j] = j + 4 <= n and nxt[j + 4] and all(ch in _DIGITS for ch in name[j:j + 4])
            else:  # var: one or more letters/digits
                row[j] = j < n and name[j] in _ALNUM and (nxt[j + 1] or row[j + 1])
    if not ok[0][0]:
        return None
    # walk forward taking the shortest text for every wildcard that keeps a match possible
    year, var = -1, None
    j = 0
    for i, (kind, _) in enumerate(toks):
        if kind in ("lit", "any"):
            j += 1
        elif kind == "star":
            j = next(k for k in range(j, n + 1) if ok[i + 1][k])
        elif kind == "year":
            year = int(name[j:j + 4])
            j += 4
        else:
            k = j + 1
            while not ok[i + 1][k]:
                k += 1
            var = name[j:k]
            j = k
    return year, var


def var_token(name: str, var: str) -> bool:
    return re.search(rf"(?:^|[_\-. ]){re.escape(var)}(?:$|[_\-. 0-9])", name,
                     re.IGNORECASE) is not None


def year_in_text(text: str) -> int | None:
    """The year named in a file name or band description: the only standalone 4-digit
    ``19xx``/``20xx`` token (``LST_2005``, ``2005``).  Several different ones make the year
    ambiguous (None: give a ``pattern``/``years`` instead), as none does."""
    found = {int(y) for y in _YEAR_RE.findall(text)}
    return found.pop() if len(found) == 1 else None


def year_from_name(name: str, pattern: str | None = None) -> tuple[int | None, str | None]:
    """Year (and variable, with a ``{var}`` pattern) parsed from a file's base name.

    Without a pattern the year is the only standalone 4-digit ``19xx``/``20xx`` token;
    several different ones make the year ambiguous (None).
    """
    base = Path(name).name
    if pattern:
        m = match_pattern(Path(pattern).name, base)
        if m is None:
            return None, None
        year, var = m
        return year, (var.upper() if var else None)
    return year_in_text(base.rsplit(".", 1)[0]), None


