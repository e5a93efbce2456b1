"""Per-scene variables from C2 L2 digital numbers: EVI, LST.

All functions take the raw uint16/int16 layers as stored by USGS, mask fill *before* scaling
and return float32 with NaN where invalid; they run the same C++ kernel as the compositor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .mtl import SR_ADD, SR_MULT, ST_ADD, ST_MULT
from .qa import qa_rule

__all__ = ["EVI_CLAMPS", "LST_METHODS", "evi", "lst_from_st", "lst_rte", "scale_sr"]

EVI_CLAMPS = (None, "gee")
LST_METHODS = ("st", "rte")
EMISSIVITY = ("sobrino2004", "usgs")


def _u16(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        msg = (f"{name} must hold the integer digital numbers of the C2 L2 product (uint16), "
               f"got dtype {arr.dtype}; scaled reflectance is not accepted here")
        raise TypeError(msg)
    if arr.size and (arr.min() < 0 or arr.max() > 0xFFFF):
        msg = f"{name} values must fit in uint16"
        raise ValueError(msg)
    return np.ascontiguousarray(arr, dtype=np.uint16)


def _i16(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        msg = f"{name} must be an int16 layer of the C2 L2 product, got dtype {arr.dtype}"
        raise TypeError(msg)
    return np.ascontiguousarray(arr, dtype=np.int16)


def _same_shape(arrs: dict[str, np.ndarray | None]) -> tuple[int, ...]:
    shapes = {k: v.shape for k, v in arrs.items() if v is not None}
    first = next(iter(shapes.values()))
    bad = {k: s for k, s in shapes.items() if s != first}
    if bad:
        msg = f"all layers must have the same shape; got {shapes}"
        raise ValueError(msg)
    return first


def scale_sr(dn: Any, mult: float = SR_MULT, add: float = SR_ADD) -> np.ndarray:
    """Scaled surface reflectance (float32), NaN where the DN is fill (0)."""
    d = _u16(dn, "dn")
    out = (d.astype(np.float64) * mult + add).astype(np.float32)
    out[d == 0] = np.nan
    return out


def evi(blue: Any, red: Any, nir: Any, *, qa: Any = None, family: str = "OLI",
        mask: str = "paper", mask_water: bool = False, clamp: str | None = None,
        scale: tuple[tuple[float, float], tuple[float, float], tuple[float, float]] | None = None,
        n_threads: int | None = None) -> np.ndarray:
    """EVI = 2.5 (N − R) / (N + 6R − 7.5B + 1) on scaled reflectance (float32, NaN = invalid).

    Parameters
    ----------
    blue, red, nir : array_like of uint16
        SR digital numbers (TM: SR_B1/B3/B4, OLI: SR_B2/B4/B5); 0 = fill.
    qa : array_like of uint16, optional
        QA_PIXEL; when given, pixels are masked with the ``mask`` preset (fill always).
    clamp : {None, "gee"}
        None (default): NaN where the denominator is <= 0 or EVI is outside [−1, 1].
        "gee": clamp the denominator to [0, 10] and EVI to [−1, 1] like the Earth Engine
        catalog composites (clamped artefacts then win a max composite; see SPEC §2).
    scale : ((mult, add) × 3), optional
        Blue, red and NIR scale factors (default: the C2 constants 2.75e-5, −0.2).
    """
    from .. import _core
    from .._validation import resolve_threads

    if clamp not in EVI_CLAMPS:
        msg = f"clamp must be None or 'gee', got {clamp!r}"
        raise ValueError(msg)
    b, r, n = _u16(blue, "blue"), _u16(red, "red"), _u16(nir, "nir")
    q = None if qa is None else _u16(qa, "qa")
    shape = _same_shape({"blue": b, "red": r, "nir": n, "qa": q})
    rule = qa_rule(mask, family, mask_water=mask_water)
    sc = scale or ((SR_MULT, SR_ADD),) * 3
    acc = np.full(shape, np.nan, dtype=np.float32)
    kw = rule.kernel_kwargs()
    kw["radsat_bad"] = 0  # RADSAT/aerosol need their own layers: compositor only
    kw["aerosol_max"] = 4
    kw["opacity_max"] = 1 << 30
    _core.landsat_composite_scene(
        acc_evi=acc, qa=q, blue=b, red=r, nir=n, **kw,
        sr_scale=[float(x) for pair in sc for x in pair], sr_unit_range=rule.sr_unit_range,
        evi_clamp=0 if clamp is None else 1, n_threads=resolve_threads(n_threads),
    )
    return acc


def lst_from_st(st: Any, *, qa: Any = None, family: str = "OLI", mask: str = "paper",
                mask_water: bool = False, scale: tuple[float, float] = (ST_MULT, ST_ADD),
                n_threads: int | None = None) -> np.ndarray:
    """LST in Kelvin from ``ST_B6``/``ST_B10`` digital numbers (float32; NaN at fill/masked)."""
    from .. import _core
    from .._validation import resolve_threads

    s = _u16(st, "st")
    q = None if qa is None else _u16(qa, "qa")
    shape = _same_shape({"st": s, "qa": q})
    rule = qa_rule(mask, family, mask_water=mask_water)
    acc = np.full(shape, np.nan, dtype=np.float32)
    _core.landsat_composite_scene(
        acc_lst=acc, qa=q, st=s, bad_bits=rule.bad_bits, conf_mask=rule.conf_mask,
        conf_expect=rule.conf_expect, st_scale=[float(scale[0]), float(scale[1])],
        n_threads=resolve_threads(n_threads),
    )
    return acc


def lst_rte(trad: Any, urad: Any, drad: Any, atran: Any, *, k1: float, k2: float,
            emissivity: str = "sobrino2004", emis: Any = None, red: Any = None, nir: Any = None,
            qa: Any = None,
            sr_scale: tuple[tuple[float, float], tuple[float, float]] = ((SR_MULT, SR_ADD),
                                                                          (SR_MULT, SR_ADD)),
            n_threads: int | None = None) -> np.ndarray:
    """LST (K) by inverting the radiative transfer equation from the C2 L2 ST layers.

    ``B(Ts) = (L − L↑ − τ(1 − ε)L↓) / (τ ε)``, ``Ts = K2 / ln(K1/B + 1)``, with L = ST_TRAD,
    L↑ = ST_URAD, L↓ = ST_DRAD (× 0.001) and τ = ST_ATRAN (× 1e-4), all fill −9999.

    Parameters
    ----------
    emissivity : {"sobrino2004", "usgs"}
        "sobrino2004": NDVI thresholds of Sobrino et al. (2004) from ``red``/``nir`` (NDVI < 0.2
        → 0.979 − 0.035 ρ_red; > 0.5 → 0.99; else 0.004 Pv + 0.986), water 0.99 and snow 0.989
        from ``qa`` bits 7/5 when given.  "usgs": the product's own ``ST_EMIS`` (``emis``);
        this reproduces ST_B* to a few tenths of a kelvin.
    k1, k2 : float
        Thermal constants of the band (MTL group LEVEL1_THERMAL_CONSTANTS).

    References
    ----------
    Sobrino, Jiménez-Muñoz & Paolini (2004), Remote Sens. Environ. 90:434–440,
    doi:10.1016/j.rse.2004.02.003.
    """
    from .. import _core
    from .._validation import resolve_threads

    if emissivity not in EMISSIVITY:
        msg = f"emissivity must be one of {EMISSIVITY}, got {emissivity!r}"
        raise ValueError(msg)
    arrs = {"trad": _i16(trad, "trad"), "urad": _i16(urad, "urad"), "drad": _i16(drad, "drad"),
            "atran": _i16(atran, "atran"),
            "emis": None if emis is None else _i16(emis, "emis"),
            "red": None if red is None else _u16(red, "red"),
            "nir": None if nir is None else _u16(nir, "nir"),
            "qa": None if qa is None else _u16(qa, "qa")}
    _same_shape(arrs)
    return _core.landsat_lst_rte(
        arrs["trad"], arrs["urad"], arrs["drad"], arrs["atran"], emis=arrs["emis"],  # type: ignore[arg-type]
        red=arrs["red"], nir=arrs["nir"], qa=arrs["qa"], k1=float(k1), k2=float(k2),
        sr_scale=[float(x) for pair in sr_scale for x in pair],
        emissivity=0 if emissivity == "usgs" else 1, n_threads=resolve_threads(n_threads),
    )
