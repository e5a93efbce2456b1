"""Optional dependencies of :mod:`mlri.sites`, imported lazily with an actionable message."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType

__all__ = ["SitesWarning", "missing_extra_message", "require", "require_extra"]

#: import name -> pip distribution name
_PIP = {"sklearn": "scikit-learn"}
#: import name -> the mlri extra that installs it
_EXTRA = {"shapely": "sites", "pyogrio": "sites", "pyproj": "sites", "sklearn": "sites",
          "dask": "dask", "distributed": "dask", "xarray": "dask", "rioxarray": "dask",
          "zarr": "dask"}


class SitesWarning(UserWarning):
    """A problem with one input feature or point that was handled (skipped, repaired, ...)."""


def _pip(module: str) -> str:
    top = module.split(".")[0]
    return _PIP.get(top, top)


def missing_extra_message(what: str, packages: Sequence[str]) -> str:
    """``"<what> needs the optional package(s) a, b: pip install 'mlri[sites]'"``."""
    names = [_pip(m) for m in packages]
    extras = sorted({_EXTRA.get(m.split(".")[0], "all") for m in packages})
    plural = "s" if len(names) > 1 else ""
    return (f"{what} needs the optional package{plural} {', '.join(names)}, not installed: "
            f"pip install 'mlri[{','.join(extras)}]' (or pip install 'mlri[all]' for "
            f"everything)")


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(missing_extra_message(what, [module])) from err


def require_extra(what: str, modules: Sequence[str]) -> None:
    """Check up front that every module imports; name all missing ones and their extra.

    ``require_extra("mlri report", ["shapely", "pyogrio"])`` raises
    ``ImportError("mlri report needs the optional packages shapely, pyogrio, not installed:
    pip install 'mlri[sites]' ...")`` when both are missing.
    """
    missing = []
    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError:
            missing.append(m)
    if missing:
        raise ImportError(missing_extra_message(what, missing))
