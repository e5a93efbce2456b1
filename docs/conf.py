"""Sphinx configuration for the mlri documentation (build: ``sphinx-build -W -b html docs docs/_build``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mlri

project = "mlri"
author = "the mlri developers"
copyright = "2026, the mlri developers"  # noqa: A001
release = mlri.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "sphinx_click",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

# Docstrings and click help write absolute values as |Z| and |EVI|: keep them literal in reST.
rst_prolog = """
.. |Z| replace:: \\|Z\\|
.. |EVI| replace:: \\|EVI\\|
"""

autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping: dict[str, tuple[str, None]] = {}

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = f"mlri {release}"

# The gallery page shows the figures of a real demo run, made at build time (seconds).
_HERE = Path(__file__).parent
_GALLERY = _HERE / "_static" / "gallery"
_GALLERY_PAGE = _HERE / "_generated" / "gallery.md"


def _make_gallery() -> None:
    if os.environ.get("MLRI_DOCS_NO_GALLERY"):
        _GALLERY_PAGE.parent.mkdir(exist_ok=True)
        _GALLERY_PAGE.write_text("# Gallery\n\nBuilt without the gallery.\n", encoding="utf-8")
        return
    import shutil
    import tempfile

    from mlri.demo import run_demo

    _GALLERY.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        run_demo(Path(tmp) / "demo", quiet=True)
        pngs = sorted(Path(tmp, "demo").rglob("*.png"))
        for old in _GALLERY.glob("*.png"):
            old.unlink()
        for png in pngs:
            shutil.copy(png, _GALLERY / png.name)
    lines = ["# Gallery", "",
             "The figures of one `mlri demo` run, made when these pages were built.", ""]
    for png in sorted(_GALLERY.glob("*.png")):
        title = png.stem.replace("_", " ").capitalize()
        lines += [f"## {title}", "", f"![{title}](../_static/gallery/{png.name})", ""]
    _GALLERY_PAGE.parent.mkdir(exist_ok=True)
    _GALLERY_PAGE.write_text("\n".join(lines), encoding="utf-8")


def setup(app):  # noqa: ANN001, ANN201 - Sphinx hook
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    _make_gallery()
