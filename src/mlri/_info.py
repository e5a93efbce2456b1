"""Build and runtime information (``mlri --version``, :func:`mlri.show_versions`)."""

from __future__ import annotations

import platform
from importlib import metadata

from . import _core
from ._version import __version__


def build_info() -> dict[str, object]:
    """Version, OpenMP, SIMD targets and thread count of this installation."""
    return {
        "mlri": __version__,
        "openmp": bool(_core.openmp_enabled),
        "max_threads": int(_core.max_threads()),
        "simd_target": _core.simd_target(),
        "simd_targets_compiled": [name for name, _ in _core.simd_targets()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def show_versions(as_dict: bool = False) -> str | dict[str, object]:
    """Return (and print) mlri's build information and key dependency versions.

    Examples
    --------
    >>> import mlri
    >>> info = mlri.show_versions(as_dict=True)
    >>> "mlri" in info and "numpy" in info
    True
    """
    info = build_info()
    for dep in ("numpy", "rasterio", "scipy", "click", "dask", "xarray"):
        info[dep] = _dist_version(dep)
    if as_dict:
        return info
    text = "\n".join(f"{k:>22}: {v}" for k, v in info.items())
    print(text)
    return text


def version_line() -> str:
    info = build_info()
    omp = f"OpenMP on ({info['max_threads']} threads)" if info["openmp"] else "OpenMP off"
    return f"mlri {info['mlri']} ({omp}; SIMD {info['simd_target']})"
