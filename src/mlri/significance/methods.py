"""The built-in map significance tests: ``paper``, ``permutation``, ``sieve``, ``hamed-rao``,
``yue-wang``, ``reference``.

Each is a :class:`~mlri.significance.registry.SignificanceTest` registered by name (see
:mod:`mlri.significance.registry` for how to add one; ``docs/significance.md`` for the
statistics).  Importing :mod:`mlri.significance` registers them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._vector import read_features
from .regional_pass import persistence_mode, regional_estimate
from .registry import BlockData, MapPass, SignificanceTest, register_test

__all__ = ["HAMED_RAO", "PAPER", "PERMUTATION", "REFERENCE", "SIEVE", "YUE_WANG",
           "ReferenceMask"]


# ---- paper: |Z| > z_crit on the MK Z of MLRI ------------------------------------------------

def _paper_pvalues(b: BlockData) -> tuple[np.ndarray, np.ndarray]:
    """One-sided normal p-values of the continuity-corrected Z (used only with an FDR)."""
    from scipy.special import ndtr

    z = np.asarray(b.trend.z, dtype=np.float64)
    return ndtr(-z), ndtr(z)


def _paper_describe(plan: Any) -> dict[str, Any]:
    return {"caveat": ("MLRI uses running extrema and drifts upward by construction: about "
                       "half of stationary pixels test as SI under this rule "
                       "(docs/significance.md)")}


PAPER = register_test(SignificanceTest(
    name="paper", rule="|Z| > z_crit on MK of MLRI, direction from Sen slope (paper)",
    pvalues=_paper_pvalues, z_rule=True, uses_z_crit=True, describe=_paper_describe))


# ---- permutation: per-pixel permutation test of MK S of MLRI -----------------------------

def _perm_pvalues(b: BlockData) -> tuple[np.ndarray, np.ndarray]:
    from . import permutation_test

    o = b.options
    res = permutation_test(
        b.lst, b.evi, b.years, n_permutations=b.plan.permutations, seed=b.plan.seed,
        row0=b.row0, col0=b.col0, lst_unit=o.lst_unit, evi_min=o.evi_min,
        evi_policy=o.evi_policy, min_valid=2, n_threads=b.n_threads)
    return np.asarray(res.p_increase), np.asarray(res.p_decrease)


def _perm_validate(opts: Any) -> None:
    if int(opts.permutations) < 19:
        msg = f"permutations must be >= 19, got {opts.permutations!r}"
        raise ValueError(msg)


def _perm_describe(plan: Any) -> dict[str, Any]:
    return {"permutations": plan.permutations, "seed": plan.seed}


PERMUTATION = register_test(SignificanceTest(
    name="permutation",
    rule="one-sided permutation p of MK S of MLRI (years exchangeable), alpha/2 per tail",
    pvalues=_perm_pvalues, validate=_perm_validate, describe=_perm_describe))


# ---- sieve: AR(1) sieve test of MK S of MLRI (persistence kept in the null) ----------------

def _sieve_pvalues(b: BlockData) -> tuple[np.ndarray, np.ndarray]:
    from . import sieve_test

    o, plan = b.options, b.plan
    phi_lst, phi_evi = plan.persistence if plan.persistence is not None else (None, None)
    res = sieve_test(
        b.lst, b.evi, b.years, n_replicates=plan.permutations, seed=plan.seed,
        row0=b.row0, col0=b.col0, phi_lst=phi_lst, phi_evi=phi_evi, lst_unit=o.lst_unit,
        evi_min=o.evi_min, evi_policy=o.evi_policy, min_valid=2, n_threads=b.n_threads)
    return np.asarray(res.p_increase), np.asarray(res.p_decrease)


def _sieve_validate(opts: Any) -> None:
    _perm_validate(opts)
    mode = persistence_mode(opts)
    if mode == "regional":
        if opts.persistence_mask and not Path(opts.persistence_mask).exists():
            msg = (f"persistence_mask={opts.persistence_mask}: file not found; give a mask "
                   f"raster on the input grid or a polygon file of stable land")
            raise ValueError(msg)
        return
    if mode == "per-pixel":
        return
    if opts.persistence_mask:
        phi = opts.persistence
        given = ",".join(map(str, phi)) if isinstance(phi, (tuple, list)) else str(phi)
        msg = (f"persistence_mask applies to persistence='regional' (the persistence "
               f"estimated on that land), not to given values persistence={given}; drop "
               f"one of them")
        raise ValueError(msg)
    phi = opts.persistence
    try:
        vals = [float(v) for v in phi]
    except (TypeError, ValueError):
        vals = []
    if len(vals) != 2 or not all(0.0 <= v < 1.0 for v in vals):
        msg = (f"persistence must be two numbers (phi_lst, phi_evi) in [0, 1), got "
               f"{phi!r}; or 'regional', or None to fit them per pixel")
        raise ValueError(msg)


def _sieve_prepare(plan: Any, mp: MapPass) -> None:
    plan.set_regional(regional_estimate(mp, mp.years))


def _sieve_describe(plan: Any) -> dict[str, Any]:
    phi = plan.persistence
    mode = plan.persistence_mode
    d: dict[str, Any] = {"replicates": plan.permutations, "seed": plan.seed,
                         "persistence": mode}
    if mode == "per-pixel":
        d["persistence_note"] = (
            "AR(1) persistence fitted per pixel on log LST and log EVI (no detrending): "
            "holds the level under persistence but has low power; give a regional value "
            "estimated on stable land to regain it (docs/significance.md)")
    elif phi is not None:
        d["phi_lst"], d["phi_evi"] = phi
    if mode == "regional" and plan.regional is not None:
        r = plan.regional
        d["persistence_estimate"] = {
            "pixels": r["n_pixels"], "sample_stride": r["sample_stride"], "mask": r["mask"],
            "r_lst": r["r_lst"], "r_evi": r["r_evi"],
            "method": ("regional_persistence: pooled lag-1 autocorrelation of log LST and "
                       "log EVI, bias-corrected, over pixels on every sample_stride-th row "
                       "and column" + (" inside the mask" if r["mask"] else ""))}
        if not r["mask"]:
            d["persistence_note"] = (
                "estimated over the whole map: mined and restored land, whose trends read "
                "as persistence, raise it and make the test conservative; give a mask of "
                "stable land (persistence_mask) where mines are a large part of the map "
                "(docs/significance.md)")
    return d


SIEVE = register_test(SignificanceTest(
    name="sieve",
    rule=("one-sided AR(1) sieve-bootstrap p of MK S of MLRI (persistence of log LST and log "
          "EVI kept in the null), alpha/2 per tail"),
    pvalues=_sieve_pvalues, validate=_sieve_validate, prepare=_sieve_prepare,
    needs_prepare=lambda plan: plan.persistence_mode == "regional", uses_persistence=True,
    describe=_sieve_describe))


# ---- hamed-rao / yue-wang: MK Z of MLRI with a variance correction for serial correlation --

def _modified_pvalues(method: str) -> Any:
    def pvalues(b: BlockData) -> tuple[np.ndarray, np.ndarray]:
        from scipy.special import erfc

        from . import mk_modified

        assert b.mlri is not None
        z = np.asarray(mk_modified(b.mlri, b.years, method=method).z, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            p_inc = 0.5 * erfc(z / np.sqrt(2.0))
            p_dec = 0.5 * erfc(-z / np.sqrt(2.0))
        few = np.asarray(b.trend.n_valid) < 2
        p_inc[few] = np.nan
        p_dec[few] = np.nan
        return p_inc, p_dec

    return pvalues


def _modified_describe(plan: Any) -> dict[str, Any]:
    return {"caveat": ("the variance correction accounts for serial correlation of MLRI but "
                       "not for its construction drift (running extrema): stationary pixels "
                       "still test as SI far above the nominal rate; use --significance "
                       "permutation or sieve for a calibrated map (docs/significance.md)")}


HAMED_RAO = register_test(SignificanceTest(
    name="hamed-rao",
    rule=("one-sided normal p of MK Z of MLRI with the Hamed-Rao (1998) variance correction, "
          "alpha/2 per tail"),
    pvalues=_modified_pvalues("hamed_rao"), describe=_modified_describe))

YUE_WANG = register_test(SignificanceTest(
    name="yue-wang",
    rule=("one-sided normal p of MK Z of MLRI with the Yue-Wang (2004) lag-1 variance "
          "correction, alpha/2 per tail"),
    pvalues=_modified_pvalues("yue_wang"), describe=_modified_describe))


# ---- reference: empirical null of the MK Z over stable reference land ---------------------

def _ref_pvalues(b: BlockData) -> tuple[np.ndarray, np.ndarray]:
    from . import reference_pvalues

    assert b.plan.reference is not None
    p_inc, p_dec = reference_pvalues(b.trend.z, b.plan.reference)
    return np.asarray(p_inc), np.asarray(p_dec)


def _ref_validate(opts: Any) -> None:
    if not opts.reference:
        msg = ("significance='reference' needs reference= (a mask raster on the input grid "
               "or polygons)")
        raise ValueError(msg)


def _ref_prepare(plan: Any, mp: MapPass) -> None:
    from . import reference_distribution

    opts = mp.options
    mask_reader = ReferenceMask(opts.reference, mp.grid)
    zs: list[np.ndarray] = []
    for w, lst, evi in mp.tiles("reference pixels"):
        m = mask_reader.read(w)
        if m.any():
            n_valid, z = mp.mk_z(lst, evi)
            ok = m & (np.asarray(n_valid) >= opts.min_valid)
            zs.append(np.asarray(z)[ok])
    z = np.concatenate(zs) if zs else np.empty(0)
    plan.reference = reference_distribution(z, np.ones(z.shape, bool), alpha=plan.alpha,
                                            min_valid=0)
    plan.n_reference = int(z.size)
    if z.size == 0:
        msg = (f"reference={opts.reference}: no reference pixel with at least "
               f"{opts.min_valid} valid years inside the input grid")
        raise ValueError(msg)


def _ref_describe(plan: Any) -> dict[str, Any]:
    return {"n_reference_pixels": plan.n_reference}


REFERENCE = register_test(SignificanceTest(
    name="reference",
    rule="MK Z of MLRI against the empirical distribution over reference land",
    pvalues=_ref_pvalues, validate=_ref_validate, prepare=_ref_prepare,
    uses_reference=True, describe=_ref_describe))


class ReferenceMask:
    """Boolean reference-land mask on the pipeline grid, read per window.

    ``path`` is a raster on exactly the same grid (non-zero, non-nodata = reference), or a
    polygon file (GeoJSON/GeoPackage/Shapefile; any CRS, reprojected; pixel centres inside).
    """

    def __init__(self, path: str | os.PathLike[str], grid: Any, *,
                 param: str = "reference") -> None:
        self.path = Path(path)
        self.grid = grid
        self._geoms: list[Any] | None = None
        if not self.path.exists():
            msg = f"{param}={self.path}: file not found"
            raise FileNotFoundError(msg)
        if self.path.suffix.lower() in (".tif", ".tiff", ".vrt", ".img"):
            import rasterio

            try:
                src = rasterio.open(self.path)
            except rasterio.errors.RasterioIOError as err:
                msg = f"{param}={self.path}: cannot read the mask raster ({err})"
                raise ValueError(msg) from err
            with src:
                same = (src.crs == grid.crs and src.width == grid.width
                        and src.height == grid.height
                        and src.transform.almost_equals(grid.transform))
                if not same:
                    msg = (f"{param}={self.path}: the mask raster must be on the input grid "
                           f"({grid.width}x{grid.height}, {grid.crs}, {tuple(grid.transform)[:6]}); "
                           f"got {src.width}x{src.height}, {src.crs}, "
                           f"{tuple(src.transform)[:6]}. Resample it, or give polygons instead")
                    raise ValueError(msg)
        else:
            self._geoms = _read_polygons(self.path, grid.crs, param)

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


def _read_polygons(path: Path, crs: Any, param: str = "reference") -> list[Any]:
    try:
        import pyogrio  # noqa: F401  (read_features needs it)
        import shapely
        from pyproj import CRS, Transformer
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = (f"{param}={path}: reading polygons needs pyogrio, shapely and pyproj "
               f"(pip install 'mlri[sites]'), or give a mask raster on the input grid")
        raise ImportError(msg) from err
    meta, _, geoms, _ = read_features(
        path, f"the polygons of {param}=", hint="Give polygons (GeoJSON, GeoPackage, "
        "Shapefile) or a mask raster (.tif) on the input grid.")
    if geoms is None:  # e.g. a CSV table
        msg = (f"{param}={path} holds no geometries: give polygons (GeoJSON, GeoPackage, "
               f"Shapefile) or a mask raster (.tif) on the input grid")
        raise ValueError(msg)
    shapes = [g for g in shapely.from_wkb(geoms) if g is not None and not g.is_empty]
    src_crs = meta.get("crs")
    if src_crs and crs is not None:
        t = Transformer.from_crs(CRS.from_user_input(src_crs), CRS.from_user_input(crs),
                                 always_xy=True)
        shapes = [shapely.transform(g, lambda xy, t=t: np.column_stack(t.transform(
            xy[:, 0], xy[:, 1]))) for g in shapes]
    return [shapely.make_valid(g) for g in shapes]
