"""Map-level significance for the raster pipeline (``mlri run --significance ...``).

Modes (see ``docs/significance.md``):

* ``paper`` (default): ``|Z| > z_crit`` on the MK Z of MLRI, direction from Sen's slope — the
  paper's rule, which flags about half of *stationary* pixels as SI by construction.
* ``permutation``: per-pixel permutation test of MK S with MLRI recomputed for every shuffle
  (:func:`mlri.significance.permutation_test`); the random stream of a pixel depends only on
  the seed and its global row/column, so tiling and threads never change a result.
* ``reference``: the MK Z of MLRI over stable reference land (a mask raster on the same grid
  or polygons) is the empirical null (:func:`mlri.significance.reference_distribution`).

``fdr`` (any mode) applies Benjamini–Hochberg over all pixels of the map with at least
``min_valid`` years.  FDR and the reference mode need map-wide information, so the pipeline
makes a first pass over the inputs (computing only what is needed) before the main pass; the
p-values of the first pass are held as float32 (4 bytes per valid pixel).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from . import api
from . import significance as sig

SIGNIFICANCE_MODES = ("paper", "permutation", "reference")


@dataclass
class SignificancePlan:
    """Everything a tile needs to classify with the chosen test (built once per run)."""

    mode: str = "paper"
    alpha: float = 0.05
    permutations: int = 199
    seed: int = 0
    fdr: float | None = None
    reference: sig.ReferenceDistribution | None = None
    n_reference: int = 0
    bh_threshold: float | None = None  # global two-sided p threshold (FDR)
    n_tests: int = 0

    @property
    def needs_pvalues(self) -> bool:
        return self.mode != "paper" or self.fdr is not None

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"test": self.mode, "alpha": self.alpha, "fdr": self.fdr}
        if self.mode == "paper":
            d["rule"] = "|Z| > z_crit on MK of MLRI, direction from Sen slope (paper)"
            d["caveat"] = ("MLRI uses running extrema and drifts upward by construction: about "
                           "half of stationary pixels test as SI under this rule "
                           "(docs/significance.md)")
        if self.mode == "permutation":
            d.update(permutations=self.permutations, seed=self.seed,
                     rule="one-sided permutation p of MK S of MLRI (years exchangeable), "
                          "alpha/2 per tail")
        if self.mode == "reference":
            d.update(n_reference_pixels=self.n_reference,
                     rule="MK Z of MLRI against the empirical distribution over reference land")
        if self.fdr is not None:
            d.update(fdr_method="Benjamini-Hochberg over the map", fdr_tests=self.n_tests,
                     fdr_p_threshold=self.bh_threshold)
        return d


class ReferenceMask:
    """Boolean reference-land mask on the pipeline grid, read per window.

    ``path`` is a raster on exactly the same grid (non-zero, non-nodata = reference), or a
    polygon file (GeoJSON/GeoPackage/Shapefile; any CRS, reprojected; pixel centres inside).
    """

    def __init__(self, path: str | os.PathLike[str], grid: Any) -> None:
        self.path = Path(path)
        self.grid = grid
        self._geoms: list[Any] | None = None
        if not self.path.exists():
            msg = f"--reference {self.path}: file not found"
            raise FileNotFoundError(msg)
        if self.path.suffix.lower() in (".tif", ".tiff", ".vrt", ".img"):
            import rasterio

            with rasterio.open(self.path) as src:
                same = (src.crs == grid.crs and src.width == grid.width
                        and src.height == grid.height
                        and src.transform.almost_equals(grid.transform))
                if not same:
                    msg = (f"--reference {self.path}: the mask raster must be on the input grid "
                           f"({grid.width}x{grid.height}, {grid.crs}, {tuple(grid.transform)[:6]}); "
                           f"got {src.width}x{src.height}, {src.crs}, "
                           f"{tuple(src.transform)[:6]}. Resample it, or give polygons instead")
                    raise ValueError(msg)
        else:
            self._geoms = _read_polygons(self.path, grid.crs)

    def read(self, window: Any) -> np.ndarray:
        h, w = int(window.height), int(window.width)
        if self._geoms is None:
            import rasterio

            with rasterio.open(self.path) as src:
                a = src.read(1, window=window, masked=True)
            return np.asarray(a.filled(0) != 0)
        if not self._geoms:
            return np.zeros((h, w), dtype=bool)
        from rasterio import windows as rwin
        from rasterio.features import geometry_mask

        tr = rwin.transform(window, self.grid.transform)
        return geometry_mask(self._geoms, out_shape=(h, w), transform=tr, invert=True)


def _read_polygons(path: Path, crs: Any) -> list[Any]:
    try:
        import pyogrio
        import shapely
        from pyproj import CRS, Transformer
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = (f"--reference {path}: reading polygons needs pyogrio, shapely and pyproj "
               f"(pip install 'mlri[sites]'), or give a mask raster on the input grid")
        raise ImportError(msg) from err
    try:
        meta, _, geoms, _ = pyogrio.raw.read(path)
    except Exception as err:
        msg = f"--reference {path}: cannot read polygons ({err})"
        raise ValueError(msg) from err
    shapes = [g for g in shapely.from_wkb(geoms) if g is not None and not g.is_empty]
    src_crs = meta.get("crs")
    if src_crs and crs is not None:
        t = Transformer.from_crs(CRS.from_user_input(src_crs), CRS.from_user_input(crs),
                                 always_xy=True)
        shapes = [shapely.transform(g, lambda xy, t=t: np.column_stack(t.transform(
            xy[:, 0], xy[:, 1]))) for g in shapes]
    return [shapely.make_valid(g) for g in shapes]


def build_plan(opts: Any) -> SignificancePlan:
    """Validate the significance options of a :class:`~mlri.pipeline.StatsOptions`."""
    mode = opts.significance
    if mode not in SIGNIFICANCE_MODES:
        msg = f"significance must be one of {', '.join(SIGNIFICANCE_MODES)}; got {mode!r}"
        raise ValueError(msg)
    if mode != "paper" and opts.z_crit is not None:
        msg = "--z-crit applies to the paper rule only; use --alpha with --significance " + mode
        raise ValueError(msg)
    if mode == "reference" and not opts.reference:
        msg = "--significance reference needs --reference FILE (mask raster or polygons)"
        raise ValueError(msg)
    if opts.fdr is not None and not 0 < opts.fdr < 1:
        msg = f"fdr must be in (0, 1), got {opts.fdr!r}"
        raise ValueError(msg)
    if int(opts.permutations) < 19:
        msg = f"permutations must be >= 19, got {opts.permutations!r}"
        raise ValueError(msg)
    alpha = 0.05 if opts.alpha is None else float(opts.alpha)
    return SignificancePlan(mode=mode, alpha=alpha, permutations=int(opts.permutations),
                            seed=int(opts.seed), fdr=opts.fdr)


def tile_pvalues(plan: SignificancePlan, lst: np.ndarray, evi: np.ndarray,
                 years: Any, tr: api.TrendResult, opts: Any, row0: int, col0: int,
                 n_threads: int | None) -> tuple[np.ndarray, np.ndarray]:
    """One-sided p-values (increase, decrease) of a ``(T, h, w)`` tile at global offset."""
    if plan.mode == "permutation":
        res = sig.permutation_test(
            lst, evi, years, n_permutations=plan.permutations, seed=plan.seed, row0=row0,
            col0=col0, lst_unit=opts.lst_unit, evi_min=opts.evi_min,
            evi_policy=opts.evi_policy, min_valid=2, n_threads=n_threads)
        return np.asarray(res.p_increase), np.asarray(res.p_decrease)
    if plan.mode == "reference":
        assert plan.reference is not None
        p_inc, p_dec = sig.reference_pvalues(tr.z, plan.reference)
        return np.asarray(p_inc), np.asarray(p_dec)
    # paper: one-sided normal p-values of the continuity-corrected Z
    z = np.asarray(tr.z, dtype=np.float64)
    from scipy.special import ndtr

    return ndtr(-z), ndtr(z)


def classify_tile(plan: SignificancePlan, tr: api.TrendResult, p_inc: np.ndarray,
                  p_dec: np.ndarray, opts: Any, dropped: Any) -> tuple[Any, Any]:
    """Classes and flags of a tile under the plan (global thresholds already known)."""
    if plan.mode == "paper":
        kw = opts.classify_kw()
        if plan.fdr is not None:
            t = plan.bh_threshold or 0.0
            # BH rejects two-sided p <= t  <=>  |Z| >= Phi^-1(1 - t/2)
            kw.update(z_crit=NormalDist().inv_cdf(1 - t / 2) if t > 0 else float("inf"),
                      alpha=None)
        return api.classify(tr, **kw, dropped=dropped)
    alpha = plan.alpha
    if plan.fdr is not None:
        alpha = plan.bh_threshold or 0.0
    if alpha <= 0:
        alpha = 1e-300  # nothing significant
    return sig.classify_with_p(tr, p_inc, p_dec, alpha=alpha, min_valid=opts.min_valid,
                               zero_slope_direction=opts.zero_slope_direction,
                               dropped=dropped)


def bh_threshold(p: np.ndarray, q: float) -> float:
    """Largest p_(k) with p_(k) <= k q / m (0.0 when nothing is rejected)."""
    p = np.sort(p[np.isfinite(p)].astype(np.float64))
    m = p.size
    if m == 0:
        return 0.0
    ok = p <= q * np.arange(1, m + 1) / m
    if not ok.any():
        return 0.0
    return float(p[np.nonzero(ok)[0][-1]])


def _tiles(inputs: Any, windows: Any, desc: str, quiet: bool) -> Any:
    """Yield ``(window, lst, evi)`` for every window, with a progress bar."""
    from .tiling import progress_bar

    g = inputs.grid
    with inputs.open() as reader, progress_bar(g.width * g.height, quiet=quiet,
                                               desc=desc) as bar:
        for w in windows:
            yield w, reader.read(inputs.lst, w), reader.read(inputs.evi, w)
            bar.update(int(w.width * w.height))


def first_pass(plan: SignificancePlan, inputs: Any, windows: Any, years: Any, opts: Any,
               n_threads: int | None, reference_path: str | None, quiet: bool = True) -> None:
    """Map-wide quantities (reference distribution, BH threshold) before the main pass."""
    g = inputs.grid
    need_ref = plan.mode == "reference"
    need_fdr = plan.fdr is not None
    if not (need_ref or need_fdr):
        return
    mask_reader = ReferenceMask(reference_path, g) if need_ref else None
    if need_ref:
        zs: list[np.ndarray] = []
        for w, lst, evi in _tiles(inputs, windows, "reference pixels", quiet):
            m = mask_reader.read(w)
            if m.any():
                idx = api.index(lst, evi, years, **opts.index_kw(), n_threads=n_threads)
                mk = api.mann_kendall(np.asarray(idx.mlri, dtype=np.float32),
                                      n_threads=n_threads)
                ok = m & (np.asarray(mk.n_valid) >= opts.min_valid)
                zs.append(np.asarray(mk.z)[ok])
        z = np.concatenate(zs) if zs else np.empty(0)
        plan.reference = sig.reference_distribution(
            z, np.ones(z.shape, bool), alpha=plan.alpha, min_valid=0)
        plan.n_reference = int(z.size)
        if z.size == 0:
            msg = (f"--reference {reference_path}: no reference pixel with at least "
                   f"{opts.min_valid} valid years inside the input grid")
            raise ValueError(msg)
    if need_fdr:
        ps: list[np.ndarray] = []
        for w, lst, evi in _tiles(inputs, windows, "FDR p-values", quiet):
            idx = api.index(lst, evi, years, **opts.index_kw(), n_threads=n_threads)
            tr = api.trend(np.asarray(idx.mlri, dtype=np.float32), years,
                           **opts.trend_kw(), n_threads=n_threads)
            p_inc, p_dec = tile_pvalues(plan, lst, evi, years, tr, opts,
                                        int(w.row_off), int(w.col_off), n_threads)
            p2 = np.minimum(1.0, 2.0 * np.minimum(p_inc, p_dec))
            ok = np.asarray(tr.n_valid) >= opts.min_valid
            ps.append(np.asarray(p2[ok], dtype=np.float32))
        allp = np.concatenate(ps) if ps else np.empty(0, np.float32)
        plan.n_tests = int(np.isfinite(allp).sum())
        plan.bh_threshold = bh_threshold(allp, float(plan.fdr))
