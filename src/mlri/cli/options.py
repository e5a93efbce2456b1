"""Options shared by the commands, and the one mapping of library errors to CLI wording.

Library functions name Python parameters in their errors (``lst_unit='C'``); :func:`fail` turns
such an error into one ``Error: ...`` line naming the command's flags (``--lst-unit C``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

__all__ = ["fail", "flag_hint", "out_option", "overwrite_option", "persistence_options",
           "quiet_option", "threads_option"]

_Deco = Callable[[Callable[..., Any]], Callable[..., Any]]


def out_option(*, help: str, default: str | None = None, dest: str = "out",
               file: bool = False) -> _Deco:
    """``--out``: an output folder (``file=True``: an output file); required unless a default
    is given."""
    return click.option("--out", dest, required=default is None, default=default,
                        show_default=default is not None, metavar="FILE" if file else "DIR",
                        type=click.Path(file_okay=file, dir_okay=not file), help=help)


def overwrite_option(*, help: str = "Replace existing outputs in --out.") -> _Deco:
    return click.option("--overwrite", is_flag=True, help=help)


def quiet_option(*, help: str = "No progress bar and no summary.") -> _Deco:
    return click.option("--quiet", "-q", is_flag=True, help=help)


def threads_option(*, help: str = "Threads [default: all cores].") -> _Deco:
    return click.option("--threads", type=click.IntRange(1, 1024), default=None, help=help)


def _parse_persistence(ctx: click.Context, param: click.Parameter,
                       value: Any) -> tuple[float, float] | str | None:
    """``--persistence 0.4,0.5`` -> ``(0.4, 0.5)``; ``--persistence regional`` -> ``"regional"``."""
    if value is None or isinstance(value, tuple):
        return value
    if str(value).strip().lower() == "regional":
        return "regional"
    parts = [p.strip() for p in str(value).split(",")]
    try:
        phi = tuple(float(p) for p in parts)
    except ValueError:
        phi = ()
    if len(phi) != 2 or not all(0.0 <= v < 1.0 for v in phi):
        msg = (f"expected 'regional' or two numbers in [0, 1) as PHI_LST,PHI_EVI, e.g. "
               f"0.4,0.5; got {value!r}")
        raise click.BadParameter(msg, ctx=ctx, param=param)
    return (phi[0], phi[1])


def persistence_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--persistence`` and ``--persistence-mask`` (options ``persistence``,
    ``persistence_mask`` of :class:`mlri.recipe.Options`) of the sieve test."""
    from ..recipe import Options

    d = Options()
    f = click.option(
        "--persistence-mask", "persistence_mask", default=d.persistence_mask, metavar="FILE",
        help="Stable land for --persistence regional (implies it): a mask raster on the "
             "input grid (non-zero = stable) or polygons (GeoJSON/GPKG/SHP). Leave mines "
             "and restored land out: a trend looks like persistence.")(f)
    return click.option(
        "--persistence", default=d.persistence, callback=_parse_persistence,
        metavar="regional|PHI_LST,PHI_EVI",
        help="AR(1) persistence of log LST and log EVI for --significance sieve: 'regional' "
             "estimates one value per variable over the map (or --persistence-mask) in a "
             "first pass; or give it, e.g. 0.4,0.5 [default: fitted per pixel, which holds "
             "the level but has low power].")(f)


_PARAM_RE = re.compile(r"\b([a-z][a-z0-9_]*)=(?:'([^']*)'|\"([^\"]*)\"|\(([^()]*)\)|\[([^\[\]]*)\]"
                       r"|([^\s,;()']+))?")
_ITEM_RE = re.compile(r"'([^']*)'|\"([^\"]*)\"|([^\s,'\"]+)")
_BARE_RE = re.compile(r"(?<![-\w])([a-z]+(?:_[a-z0-9]+)+)\b")
# a one-word parameter is translated only as the subject a message opens with ("seed must be
# ...", "level for ..."): elsewhere such words are plain English
_LEAD_RE = re.compile(r"^([a-z]+)(?= (?:must|for|applies|is|has)\b)")
# the same flag twice after translation: "--overwrite (overwrite=True)", "variables=('EVI',) /
# --variables EVI" (messages that speak to both audiences)
_FLAG = r"--[a-z][a-z0-9-]*(?: [^\s()/,;]+)?"
_TWICE_RE = re.compile(rf"(?P<f>{_FLAG}) (?:\((?P=f)\)|/ (?P=f))(?![\w-])")


def flag_hint(message: str, params: Any) -> str:
    """Library wording -> CLI wording: ``lst_unit='C'`` -> ``--lst-unit C``, ``z_crit`` ->
    ``--z-crit``, ``variables=('EVI',)`` -> ``--variables EVI``, ``overwrite=True`` ->
    ``--overwrite`` (a flag), for the names in ``params`` (the command's parameter names).
    A message that gives both wordings (``pass --overwrite (overwrite=True)``) keeps one."""
    names = set(params)

    def kv(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in names:
            return m.group(0)
        flag = f"--{name.replace('_', '-')}"
        seq = m.group(4) if m.group(4) is not None else m.group(5)
        if seq is not None:  # a tuple or list: the CLI's comma-separated form
            items = [next(g for g in it.groups() if g is not None)
                     for it in _ITEM_RE.finditer(seq)]
            return f"{flag} {','.join(items)}" if items else flag
        val = next((g for g in (m.group(2), m.group(3), m.group(6)) if g), None)
        if val == "True":  # a boolean flag is given by its name
            return flag
        if val == "False":
            return f"without {flag}"
        if val and re.search(r"[*?{}\[\] ]", val):  # quoted for the shell, as typed
            val = f"'{val}'"
        return flag + (f" {val}" if val else "")

    def bare(m: re.Match[str]) -> str:
        name = m.group(1)
        return f"--{name.replace('_', '-')}" if name in names else name

    text = _BARE_RE.sub(bare, _PARAM_RE.sub(kv, message))
    return _TWICE_RE.sub(r"\g<f>", _LEAD_RE.sub(bare, text))


def fail(err: BaseException) -> click.ClickException:
    ctx = click.get_current_context(silent=True)
    params = [p.name for p in ctx.command.params] if ctx is not None else []
    return click.ClickException(flag_hint(str(err), [p for p in params if p]))
