"""Optional dependencies of :mod:`mlri.sites`, imported lazily with an actionable message."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["SitesWarning", "require"]

_PIP = {"sklearn": "scikit-learn"}


class SitesWarning(UserWarning):
    """A problem with one input feature or point that was handled (skipped, repaired, ...)."""


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        pkg = _PIP.get(top, top)
        msg = (f"{what} needs the optional package {pkg!r}, which is not installed: "
               f"pip install 'mlri[sites]' (or pip install {pkg})")
        raise ImportError(msg) from err
