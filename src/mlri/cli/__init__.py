"""The ``mlri`` command line.  Commands are thin shells over path-in/path-out functions.

One module per command family (:mod:`.run`: run and demo; :mod:`.composite`: composite and
scenes; :mod:`.sites`: sites, sample, accuracy, report), shared options and the mapping of
library errors to flags in :mod:`.options`.  A new command: a module with ``COMMANDS`` and one
import line below.
"""

from __future__ import annotations

import click

from .._info import version_line


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_line())
    ctx.exit()


class _Main(click.Group):
    """The command group: SIGTERM is handled like Ctrl-C, and both end in one ``Error:`` line
    (exit 130 for Ctrl-C, 143 for SIGTERM) after every staged output has been removed."""

    def invoke(self, ctx: click.Context) -> object:
        from .._outputs import EVENTS, Terminated, sigterm_as_interrupt

        n_events = len(EVENTS)
        try:
            with sigterm_as_interrupt():
                return super().invoke(ctx)
        except KeyboardInterrupt as err:
            term = isinstance(err, Terminated)
            done = EVENTS[n_events:]
            aborted = sorted({f for f, e in done if e == "aborted"})
            published = sorted({f for f, e in done if e == "published"} - set(aborted))
            what = ("; nothing new was published to " + ", ".join(aborted)
                    + " (its temporary files were removed)") if aborted else \
                "; no output was left half-written"
            if published:
                what += "; complete results were published to " + ", ".join(published)
            click.echo(f"Error: interrupted by {'SIGTERM' if term else 'Ctrl-C (SIGINT)'}"
                       f"{what}", err=True)
            ctx.exit(143 if term else 130)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version, OpenMP and SIMD target, and exit.")
def main() -> None:
    """mlri — Mine Landscape Restoration Index from Landsat time series."""


@main.command("info")
def info_cmd() -> None:
    """Print build information (version, OpenMP, SIMD target) and dependency versions."""
    from .._info import show_versions

    show_versions()


# The commands (each module keeps its heavy imports inside the command functions).
from . import composite, run, sites, study

for _module in (run, composite, sites, study):
    for _cmd in _module.COMMANDS:
        main.add_command(_cmd)

if __name__ == "__main__":  # pragma: no cover
    main()
