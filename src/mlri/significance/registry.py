"""The registry of map significance tests (``mlri run --significance NAME``).

A test turns one block of inputs into **one-sided p-values** ``(p_increase, p_decrease)`` of
the spatial shape; the class rule (:func:`mlri.classify` with ``p_increase``/``p_decrease``) and
the map-wide false discovery rate are shared by every test.  The paper's rule is the one test
that classifies by ``|Z| > z_crit`` instead (``z_rule=True``) unless an FDR is requested.

Adding a test = one module that builds a :class:`SignificanceTest` and calls
:func:`register_test`, plus one import line in :mod:`mlri.significance.methods` (so the
registration runs when :mod:`mlri.significance` is imported).  The CLI's ``--significance``
choices, the recipe's validation and the run summary all read this registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["BlockData", "MapPass", "SignificanceTest", "get_test", "register_test",
           "test_names"]


@dataclass
class BlockData:
    """What a test sees of one block: inputs, years, options, the block's global offset.

    ``trend`` is :func:`mlri.trend` of the float32 MLRI of the block (``mlri``); ``options`` the run's
    :class:`mlri.recipe.Options`; ``plan`` the run's :class:`mlri.recipe.SignificancePlan`
    (holding what :attr:`SignificanceTest.prepare` computed map-wide).
    """

    lst: np.ndarray
    evi: np.ndarray
    years: Any
    trend: Any
    options: Any
    plan: Any
    row0: int = 0
    col0: int = 0
    n_threads: int | None = None
    mlri: np.ndarray | None = None  # the block's float32 MLRI (what trend was computed on)


class MapPass(Protocol):
    """A driver's view of the whole map, for tests that need map-wide information."""

    options: Any
    years: Any

    @property
    def grid(self) -> Any:
        """The map's :class:`mlri.io.Grid` (CRS, transform, width, height)."""
        ...

    def tiles(self, desc: str) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
        """``(window, lst, evi)`` of every window, with a progress bar named ``desc``."""
        ...

    def mk_z(self, lst: np.ndarray, evi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n_valid, z)``: Mann-Kendall of the block's float32 MLRI."""
        ...


@dataclass(frozen=True)
class SignificanceTest:
    """One registered test.

    Attributes
    ----------
    name : str
        The ``significance=`` value (``--significance`` choice).
    rule : str
        One line for ``summary.json`` / the manifest.
    pvalues : callable
        ``pvalues(block: BlockData) -> (p_increase, p_decrease)``, arrays of the block's
        spatial shape (NaN = no test).  Must depend only on the block's pixels, the options
        and the global offsets (bit-identical for any tiling, threads or chunking).
    z_rule : bool
        Classify by ``|Z| > z_crit`` (the paper) when no FDR is requested.
    uses_z_crit : bool
        Whether ``z_crit`` means anything to this test (else ``alpha`` is required instead).
    validate : callable, optional
        ``validate(options)``: raise ValueError naming the parameter on bad options.
    prepare : callable, optional
        ``prepare(plan, map_pass: MapPass)``: map-wide first pass (stores what it finds on
        the plan); the drivers call it before the blocks.
    needs_prepare : callable, optional
        ``needs_prepare(plan) -> bool``: whether ``prepare`` is needed with these settings
        (default: always, when ``prepare`` is given).
    uses_persistence : bool
        Whether the ``persistence`` options mean anything to this test.
    uses_reference : bool
        Whether ``reference`` (stable reference land) means anything to this test.
    describe : callable, optional
        ``describe(plan) -> dict``: extra keys for the summary's ``significance`` entry.
    """

    name: str
    rule: str
    pvalues: Callable[[BlockData], tuple[np.ndarray, np.ndarray]]
    z_rule: bool = False
    uses_z_crit: bool = False
    validate: Callable[[Any], None] | None = None
    prepare: Callable[[Any, MapPass], None] | None = None
    needs_prepare: Callable[[Any], bool] | None = None
    uses_persistence: bool = False
    uses_reference: bool = False
    describe: Callable[[Any], dict[str, Any]] | None = field(default=None)


_TESTS: dict[str, SignificanceTest] = {}


def register_test(test: SignificanceTest) -> SignificanceTest:
    """Add a test to the registry (names are unique)."""
    if test.name in _TESTS and _TESTS[test.name] is not test:
        msg = f"a significance test named {test.name!r} is already registered"
        raise ValueError(msg)
    _TESTS[test.name] = test
    return test


def test_names() -> tuple[str, ...]:
    """Registered test names, in registration order (``paper`` first)."""
    return tuple(_TESTS)


def get_test(name: str) -> SignificanceTest:
    """The registered test ``name``; ValueError naming ``significance`` otherwise."""
    try:
        return _TESTS[name]
    except (KeyError, TypeError):
        msg = f"significance must be one of {', '.join(_TESTS)}; got {name!r}"
        raise ValueError(msg) from None
