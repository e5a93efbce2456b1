"""Calibrated significance for MLRI trends (see ``docs/significance.md``).

MLRI divides the worst state so far (running maximum LST, running minimum EVI) by the current
state.  On land that does not change at all, the running extrema keep setting new records, so
MLRI drifts upward *by construction*: the paper's rule (Mann–Kendall on the MLRI series,
``|Z| > 1.96`` and Sen slope > 0 → "significant increase") calls about half of all stationary
pixels SI, whatever the noise level.  The paper rule stays the default of :func:`mlri.classify`;
this module measures the problem and offers tests that hold their nominal error rate:

* :func:`permutation_test` — per-pixel permutation test (C++/OpenMP).  Years are exchangeable
  under the null hypothesis, so the (LST, EVI) pairs of a pixel are shuffled, MLRI is recomputed
  with its running extrema and the MK S of each shuffle forms the null distribution — the
  construction drift included.  Deterministic per global pixel position and seed.
* :func:`reference_distribution` / :func:`reference_pvalues` / :func:`reference_threshold` —
  calibration of MK Z on MLRI against pixels of stable reference land (a user mask).
* :func:`fdr_bh` — Benjamini–Hochberg (or –Yekutieli) false discovery rate control over a map or
  per mine, for any p-value source; NaN-aware.
* :func:`classify_with_p` — the restoration classes of :func:`mlri.classify` from one-sided
  p-values (the Hurst split is unchanged), optionally FDR-controlled.
* :func:`mk_modified` — Mann–Kendall with the Hamed–Rao (1998) or Yue–Wang (2004) variance
  correction for serial correlation.
* :func:`sieve_test` / :func:`regional_persistence` — AR(1) sieve test of MLRI that keeps
  year-to-year persistence in its null.

Modules: :mod:`.permutation`, :mod:`.reference`, :mod:`.fdr`, :mod:`.modified_mk`,
:mod:`.sieve` (the
statistics); :mod:`.registry` and :mod:`.methods` (the tests behind ``mlri run
--significance``).
"""

from __future__ import annotations

from ._common import SignificanceWarning
from .fdr import FDRResult, classify_with_p, fdr_bh
from .modified_mk import ModifiedMKResult, mk_modified
from .permutation import PermutationResult, permutation_test, two_sided_p
from .reference import (
    ReferenceDistribution,
    ReferenceThreshold,
    reference_distribution,
    reference_pvalues,
    reference_threshold,
)
from .sieve import Persistence, SieveResult, regional_persistence, sieve_test

__all__ = [
    "FDRResult",
    "ModifiedMKResult",
    "PermutationResult",
    "Persistence",
    "ReferenceDistribution",
    "ReferenceThreshold",
    "SieveResult",
    "SignificanceWarning",
    "classify_with_p",
    "fdr_bh",
    "get_test",
    "mk_modified",
    "permutation_test",
    "reference_distribution",
    "reference_pvalues",
    "reference_threshold",
    "regional_persistence",
    "register_test",
    "sieve_test",
    "test_names",
    "two_sided_p",
]

# The registry of map significance tests (``mlri run --significance``): importing the built-in
# tests registers them.
from . import methods as methods
from .registry import get_test, register_test, test_names
