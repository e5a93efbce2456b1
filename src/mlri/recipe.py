"""The recipe: the per-pixel chain's options and its one block function.

Every driver — the tiled raster pipeline (:mod:`mlri.pipeline`), the xarray/Dask front end
(:mod:`mlri.xarray`) and the map-wide significance pass — computes a block with
:func:`compute_block`::

    index (mlri.index) -> float32 MLRI -> trend (mlri.trend) -> p-values (registered test)
    -> classes and flags (mlri.classify); Sen's slope interval (as mlri.sen_interval, from
    the slopes of the same trend kernel call);
    with ``onset=True`` the onset of the EVI stack (mlri.onset)

**float32**: MLRI is cast to float32 (the precision of ``mlri.tif``) *before* the trend, so
re-running the trend on a stored ``mlri.tif`` reproduces ``trend.tif`` bit for bit, and every
driver gives the same numbers from the same inputs whatever their dtype.  (The array API
itself, :func:`mlri.index` → :func:`mlri.trend`, keeps the input dtype.)

The options are one dataclass, :class:`Options`, whose defaults are read from the signatures of
the array API (:func:`mlri.index`, :func:`mlri.trend`, :func:`mlri.classify`,
:func:`mlri.significance.permutation_test`): the API is the numerical contract and the only
place a default is written.  :meth:`Options.prepare` validates them once (before any I/O or
task) and returns a :class:`Recipe` that the blocks share.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np

from . import api
from . import significance as sig
from ._trend_ci import interval_z, sen_interval, trend_with_interval
from .classes import FLAG_NODATA
from .onset import OnsetResult
from .onset import onset as onset_fn
from .significance._common import check_seed
from .significance.regional_pass import persistence_mode
from .significance.registry import BlockData, SignificanceTest, get_test, test_names

__all__ = [
    "CLASSIFY_OPTIONS",
    "INDEX_OPTIONS",
    "OUTPUT_OPTIONS",
    "SIGNIFICANCE_OPTIONS",
    "TREND_OPTIONS",
    "Block",
    "Options",
    "Recipe",
    "SignificancePlan",
    "compute_block",
]


def _default(func: Callable[..., Any], name: str) -> Any:
    return inspect.signature(func).parameters[name].default


#: Option names of each step, in order.
INDEX_OPTIONS: tuple[str, ...] = ("lst_unit", "evi_min", "evi_policy")
TREND_OPTIONS: tuple[str, ...] = ("hurst_method", "hurst_series", "hurst_ddof", "tau_min", "gap",
                                  "degenerate", "rel_tol", "corrected")
CLASSIFY_OPTIONS: tuple[str, ...] = ("z_crit", "alpha", "min_valid", "zero_slope_direction")
#: Options of the extra per-pixel outputs (Sen's slope interval of trend.tif).
OUTPUT_OPTIONS: tuple[str, ...] = ("sen_alpha", "onset")
SIGNIFICANCE_OPTIONS: tuple[str, ...] = ("significance", "permutations", "seed", "persistence",
                                         "persistence_mask", "reference", "fdr")


@dataclass
class Options:
    """Every option of the chain (those of :func:`mlri.index`, :func:`mlri.trend`,
    :func:`mlri.classify` and the significance test), defaults from the API signatures."""

    lst_unit: str = _default(api.index, "lst_unit")
    evi_min: float = _default(api.index, "evi_min")
    evi_policy: str = _default(api.index, "evi_policy")
    z_crit: float | None = _default(api.classify, "z_crit")
    alpha: float | None = _default(api.classify, "alpha")
    min_valid: int = _default(api.classify, "min_valid")
    zero_slope_direction: str = _default(api.classify, "zero_slope_direction")
    hurst_method: str = _default(api.trend, "hurst_method")
    hurst_series: str = _default(api.trend, "hurst_series")
    hurst_ddof: int = _default(api.trend, "hurst_ddof")
    tau_min: int = _default(api.trend, "tau_min")
    gap: str = _default(api.trend, "gap")
    degenerate: str = _default(api.trend, "degenerate")
    rel_tol: float = _default(api.trend, "rel_tol")
    corrected: bool = _default(api.trend, "corrected")
    #: two-sided level of the Sen's slope interval (sen_low, sen_high of trend.tif)
    sen_alpha: float = _default(sen_interval, "alpha")
    #: also compute onset.tif (mlri.onset of the EVI stack, its defaults); off: a faster run
    onset: bool = False
    significance: str = "paper"
    permutations: int = _default(sig.permutation_test, "n_permutations")
    seed: int = _default(sig.permutation_test, "seed")
    #: AR(1) persistence of the sieve test: ``(phi_lst, phi_evi)``; ``"regional"`` = one value
    #: per variable estimated over the map (or ``persistence_mask``) in a first pass; None =
    #: fitted per pixel
    persistence: tuple[float, float] | str | None = None
    #: stable land for ``persistence="regional"`` (implies it): a mask raster on the input grid
    #: or polygons
    persistence_mask: str | None = None
    reference: str | None = None
    fdr: float | None = None

    @classmethod
    def from_kwargs(cls, options: Options | None = None, **kw: Any) -> Options:
        """``options`` updated with keyword options; TypeError names an unknown option."""
        names = {f.name for f in fields(cls)}
        bad = [k for k in kw if k not in names]
        if bad:
            msg = (f"unknown option {bad[0]!r}; the statistics options are: "
                   f"{', '.join(f.name for f in fields(cls))}")
            raise TypeError(msg)
        base = asdict(options) if options is not None else {}
        return cls(**{**base, **kw})

    def index_kw(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in INDEX_OPTIONS}

    def trend_kw(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in TREND_OPTIONS}

    def classify_kw(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in CLASSIFY_OPTIONS}

    def prepare(self, years: Sequence[float]) -> Recipe:
        """Validate every option once (on a one-pixel dummy through the API, so the checks
        and messages are the API's) and return the recipe shared by all blocks."""
        t = len(years)
        lst = np.full((t, 1), 20.0 if self.lst_unit == "C" else 300.0)
        evi = np.linspace(0.2, 0.4, t).reshape(t, 1)
        idx = api.index(lst, evi, years, **self.index_kw(), n_threads=1)
        tr = api.trend(idx.mlri, years, **self.trend_kw(), n_threads=1)
        api.classify(tr, **self.classify_kw(), dropped=idx.dropped, n_threads=1)
        interval_z(self.sen_alpha, "sen_alpha")  # checks it (and imports its scipy function)
        return Recipe(self, SignificancePlan.build(self))

    # kept for callers of the former StatsOptions.validate
    def validate(self, years: Sequence[float]) -> None:
        """Raise on bad options (see :meth:`prepare`)."""
        self.prepare(years)


@dataclass
class SignificancePlan:
    """The significance settings of a run, plus what the map-wide pass found."""

    test: SignificanceTest
    alpha: float = 0.05
    permutations: int = 199
    seed: int = 0
    fdr: float | None = None
    persistence: tuple[float, float] | None = None  # given, or found by the map-wide pass
    #: "per-pixel", "given" or "regional" (the sieve test's persistence)
    persistence_mode: str = "per-pixel"
    #: the regional estimate (phi values, pixels, sample stride, mask), once found
    regional: dict[str, Any] | None = None
    reference: Any = None       # ReferenceDistribution of the reference test
    n_reference: int = 0
    bh_threshold: float | None = None  # global two-sided p threshold (FDR)
    n_tests: int = 0
    #: the critical |Z| of a |Z|-rule test (the paper's) without an FDR: given, from alpha,
    #: or the default 1.96 (then ``alpha`` is the two-sided level it stands for)
    z_crit: float | None = None

    @classmethod
    def build(cls, opts: Options) -> SignificancePlan:
        test = get_test(opts.significance)
        if not test.uses_z_crit and opts.z_crit is not None:
            msg = (f"z_crit applies to the paper rule only; use alpha= with "
                   f"significance={opts.significance!r}")
            raise ValueError(msg)
        if opts.fdr is not None and not 0 < opts.fdr < 1:
            msg = f"fdr must be in (0, 1), got {opts.fdr!r}"
            raise ValueError(msg)
        if int(opts.permutations) < 19:
            msg = f"permutations must be >= 19, got {opts.permutations!r}"
            raise ValueError(msg)
        if opts.reference is not None and not test.uses_reference:
            msg = (f"reference= (stable reference land) applies to significance='reference' "
                   f"only, not to significance={opts.significance!r}")
            raise ValueError(msg)
        seed = check_seed(opts.seed)  # here, not in the first tile that draws
        if test.validate is not None:
            test.validate(opts)
        alpha = 0.05 if opts.alpha is None else float(opts.alpha)
        z_crit = None
        if test.z_rule:  # the level the summary records is the one the rule applies
            if opts.z_crit is not None:
                z_crit = float(opts.z_crit)
                alpha = 2.0 * (1.0 - NormalDist().cdf(z_crit))
            else:
                z_crit = (NormalDist().inv_cdf(1 - alpha / 2) if opts.alpha is not None
                          else api.PAPER_Z_CRIT)
        mode = persistence_mode(opts)
        if mode == "regional" and not test.uses_persistence:
            msg = (f"persistence='regional' and persistence_mask apply to significance='sieve' "
                   f"only, not to significance={opts.significance!r}")
            raise ValueError(msg)
        given = None
        if mode == "given":
            assert opts.persistence is not None and not isinstance(opts.persistence, str)
            given = (float(opts.persistence[0]), float(opts.persistence[1]))
        return cls(test=test, alpha=alpha, permutations=int(opts.permutations),
                   seed=seed, fdr=opts.fdr, persistence=given,
                   persistence_mode=mode, z_crit=z_crit)

    def set_regional(self, estimate: dict[str, Any]) -> None:
        """Use the regional persistence ``estimate`` (``phi_lst``, ``phi_evi``, ...) found by
        the map-wide pass."""
        self.regional = dict(estimate)
        self.persistence = (float(estimate["phi_lst"]), float(estimate["phi_evi"]))

    @property
    def mode(self) -> str:
        return self.test.name

    @property
    def needs_pvalues(self) -> bool:
        """p-values are computed (and stored) unless the paper's Z rule decides alone."""
        return not self.test.z_rule or self.fdr is not None

    @property
    def needs_prepare(self) -> bool:
        """The test's map-wide ``prepare`` pass is needed with these settings."""
        needs = self.test.needs_prepare
        return self.test.prepare is not None and (needs is None or needs(self))

    @property
    def needs_map_pass(self) -> bool:
        return self.needs_prepare or self.fdr is not None

    def effective_z_crit(self) -> float | None:
        """The critical |Z| a |Z|-rule test applies (None for the other tests): under an FDR
        the one equivalent to the map-wide p threshold (inf: nothing is significant)."""
        if not self.test.z_rule:
            return None
        if self.fdr is not None:
            t = self.bh_threshold or 0.0
            # BH rejects two-sided p <= t  <=>  |Z| >= Phi^-1(1 - t/2)
            return NormalDist().inv_cdf(1 - t / 2) if t > 0 else math.inf
        return self.z_crit

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"test": self.test.name, "alpha": self.alpha, "fdr": self.fdr}
        zc = self.effective_z_crit()
        if zc is not None:
            d["z_crit"] = zc if math.isfinite(zc) else None  # (None: nothing significant)
        extra = self.test.describe(self) if self.test.describe is not None else {}
        if self.test.z_rule:
            d["rule"] = self.test.rule
            d.update(extra)
        else:
            d.update(extra)
            d["rule"] = self.test.rule
        if self.fdr is not None:
            d.update(fdr_method="Benjamini-Hochberg over the map", fdr_tests=self.n_tests,
                     fdr_p_threshold=self.bh_threshold)
        return d


@dataclass
class Recipe:
    """Validated options plus the significance plan: everything a block needs."""

    options: Options
    plan: SignificancePlan


class Block(NamedTuple):
    """What :func:`compute_block` returns for a ``(T, *spatial)`` block."""

    mlri: np.ndarray            # float32 (T, *spatial)
    dropped: np.ndarray         # int32 (*spatial)
    trend: Any                  # api.TrendResult (or api.MKResult with until="mk")
    pvalues: tuple[np.ndarray, np.ndarray] | None  # one-sided (p_increase, p_decrease)
    classes: np.ndarray | None  # uint8 (*spatial)
    flags: np.ndarray | None    # uint8 (*spatial); FLAG_NODATA where no observation at all
    #: int64 (3, T): pixels with a finite LST, a finite EVI and a finite MLRI, per year
    valid: np.ndarray
    #: Sen's slope interval of the MLRI (low, high), float64 (*spatial), at ``sen_alpha``
    sen_ci: tuple[np.ndarray, np.ndarray] | None = None
    #: mlri.onset of the block's EVI (with ``onset=True``)
    onset: OnsetResult | None = None


def compute_block(lst: np.ndarray, evi: np.ndarray, years: Any, recipe: Recipe,
                  n_threads: int | None = None, *, row0: int = 0, col0: int = 0,
                  until: str = "classes") -> Block:
    """The chain on one ``(T, *spatial)`` block: the one implementation every driver calls.

    ``row0``/``col0`` are the block's global offsets (a test's random stream may depend on a
    pixel's global position, so that tiles and chunks never change a result).  ``until``
    stops early: ``"mk"`` (Mann-Kendall only), ``"pvalues"`` (trend and p-values, no classes).
    """
    opts, plan = recipe.options, recipe.plan
    valid = np.empty((3, np.shape(lst)[0] if np.ndim(lst) else 0), dtype=np.int64)
    idx = api._index(lst, evi, years, **opts.index_kw(), n_threads=n_threads, valid=valid)
    m32 = np.ascontiguousarray(idx.mlri, dtype=np.float32)
    dropped = np.asarray(idx.dropped)
    if until == "mk":
        mk = api.mann_kendall(m32, n_threads=n_threads)
        return Block(m32, dropped, mk, None, None, None, valid)
    tr, ci = trend_with_interval(m32, years, sen_alpha=opts.sen_alpha, **opts.trend_kw(),
                                 n_threads=n_threads)
    pvalues = None
    if plan.needs_pvalues or until == "pvalues":
        pvalues = plan.test.pvalues(BlockData(lst, evi, years, tr, opts, plan, row0, col0,
                                              n_threads, m32))
    if until == "pvalues":
        return Block(m32, dropped, tr, pvalues, None, None, valid)
    classes, flags = _classify(plan, opts, tr, pvalues, dropped, n_threads)
    flags = np.array(flags, dtype=np.uint8, copy=True).reshape(dropped.shape)
    flags[(np.asarray(tr.n_valid) == 0) & (dropped == 0)] = FLAG_NODATA
    ons = onset_fn(evi, years, n_threads=n_threads) if opts.onset else None
    return Block(m32, dropped, tr, pvalues,
                 np.asarray(classes, dtype=np.uint8).reshape(dropped.shape), flags, valid,
                 (np.asarray(ci.low_slope), np.asarray(ci.high_slope)), ons)


def _classify(plan: SignificancePlan, opts: Options, tr: Any,
              pvalues: tuple[np.ndarray, np.ndarray] | None, dropped: np.ndarray,
              n_threads: int | None) -> tuple[Any, Any]:
    """The class rule under the plan (map-wide thresholds already known)."""
    kw = opts.classify_kw()
    if plan.test.z_rule:  # the |Z| the plan records is the one applied, by construction
        kw.update(z_crit=plan.effective_z_crit(), alpha=None)
        return api.classify(tr, **kw, dropped=dropped, n_threads=n_threads)
    assert pvalues is not None
    alpha = plan.alpha if plan.fdr is None else (plan.bh_threshold or 0.0)
    if alpha <= 0:
        alpha = 1e-300  # nothing significant
    kw.update(alpha=alpha, z_crit=None)
    return api.classify(tr, **kw, dropped=dropped, p_increase=pvalues[0],
                        p_decrease=pvalues[1], n_threads=n_threads)


def significance_names() -> tuple[str, ...]:
    """The registered tests (choices of ``significance=``)."""
    return test_names()
