"""The Examples sections of the public docstrings run as doctests against the installed package."""

from __future__ import annotations

import doctest
import inspect

import numpy as np
import pytest

import mlri


def _public_functions() -> list[str]:
    return [n for n in mlri.__all__ if inspect.isfunction(getattr(mlri, n))]


def test_every_public_function_is_listed() -> None:
    assert {"index", "trend", "classify", "onset", "sen_interval"} <= set(_public_functions())


@pytest.mark.parametrize("name", _public_functions())
def test_public_function_example_runs(name: str) -> None:
    func = getattr(mlri, name)
    doc = inspect.getdoc(func) or ""
    assert "Examples" in doc and ">>>" in doc, f"mlri.{name} has no runnable Examples section"
    tests = doctest.DocTestFinder(recurse=False).find(func, f"mlri.{name}", globs={})
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    with np.printoptions(legacy=False):
        for t in tests:
            runner.run(t)
    res = runner.summarize(verbose=False)
    assert res.attempted > 0
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples of mlri.{name} failed"
