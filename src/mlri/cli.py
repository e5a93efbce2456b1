"""The ``mlri`` command line.  Commands are thin shells over path-in/path-out functions."""

from __future__ import annotations

import click

from ._info import version_line


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_line())
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version, OpenMP and SIMD target, and exit.")
def main() -> None:
    """mlri — Mine Landscape Restoration Index from Landsat time series."""


@main.command("info")
def info_cmd() -> None:
    """Print build information (version, OpenMP, SIMD target) and dependency versions."""
    from ._info import show_versions

    show_versions()


# Sub-commands registered by feature modules (each keeps its own imports lazy).
def _register() -> None:
    import importlib

    for mod in ("_cli_run", "_cli_landsat", "_cli_sites", "study._cli"):
        try:
            m = importlib.import_module(f"mlri.{mod}")
        except ModuleNotFoundError as err:
            if err.name != f"mlri.{mod}":
                raise
            continue
        for cmd in getattr(m, "COMMANDS", ()):
            main.add_command(cmd)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
