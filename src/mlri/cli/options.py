"""Options shared by the commands, and the one mapping of library errors to CLI wording.

Library functions name Python parameters in their errors (``lst_unit='C'``); :func:`fail` turns
such an error into one ``Error: ...`` line naming the command's flags (``--lst-unit C``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

__all__ = ["fail", "flag_hint", "out_option", "overwrite_option", "quiet_option",
           "threads_option"]

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


_PARAM_RE = re.compile(r"\b([a-z][a-z0-9_]*)=(?:'([^']*)'|\"([^\"]*)\"|([^\s,;()']+))?")
_BARE_RE = re.compile(r"(?<![-\w])([a-z]+(?:_[a-z0-9]+)+)\b")


def flag_hint(message: str, params: Any) -> str:
    """Library wording -> CLI wording: ``lst_unit='C'`` -> ``--lst-unit C``, ``z_crit`` ->
    ``--z-crit``, for the names in ``params`` (the command's parameter names)."""
    names = set(params)

    def kv(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in names:
            return m.group(0)
        val = next((g for g in m.groups()[1:] if g), None)
        return f"--{name.replace('_', '-')}" + (f" {val}" if val else "")

    def bare(m: re.Match[str]) -> str:
        name = m.group(1)
        return f"--{name.replace('_', '-')}" if name in names else name

    return _BARE_RE.sub(bare, _PARAM_RE.sub(kv, message))


def fail(err: BaseException) -> click.ClickException:
    ctx = click.get_current_context(silent=True)
    params = [p.name for p in ctx.command.params] if ctx is not None else []
    return click.ClickException(flag_hint(str(err), [p for p in params if p]))
