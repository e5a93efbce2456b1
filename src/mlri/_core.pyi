"""Type stub for the private C++ extension ``mlri._core`` (use the public API instead)."""

from collections.abc import Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

__version__: str
openmp_enabled: bool
CLASS_CODES: dict[str, int]
FLAG_BITS: dict[str, int]

_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]
_I32 = npt.NDArray[np.int32]
_I64 = npt.NDArray[np.int64]
_U8 = npt.NDArray[np.uint8]

def simd_targets() -> list[tuple[str, bool]]: ...
def simd_target() -> str: ...
def set_simd_target(name: str) -> None: ...
def max_threads() -> int: ...
@overload
def mlri_index(  # type: ignore[overload-overlap]
    lst: _F32, evi: _F32, *, lst_offset: float, evi_min: float, evi_policy: int,
    n_threads: int, valid: _I64 | None = None,
) -> tuple[_F32, _I32]: ...
@overload
def mlri_index(
    lst: _F64, evi: _F64, *, lst_offset: float, evi_min: float, evi_policy: int,
    n_threads: int, valid: _I64 | None = None,
) -> tuple[_F64, _I32]: ...
def trend(
    series: _F32 | _F64, years: _F64, *, method: int, series_kind: int, ddof: int,
    tau_min: int, gap: int, degenerate: int, rel_tol: float, min_points: int, corrected: bool,
    compute: int, n_threads: int, sen_z: float = ...,
) -> dict[str, np.ndarray]: ...
def classify(
    n_valid: _I32, s: _F64, var_s: _F64, z: _F64, slope: _F64, hurst: _F64,
    dropped: _I32 | None, *, z_crit: float, min_valid: int, zero_slope_sign_s: bool,
    h_threshold: float, n_threads: int, p_increase: _F64 | None = ...,
    p_decrease: _F64 | None = ..., p_level: float = ..., alternative: int = ...,
) -> tuple[_U8, _U8]: ...
def onset(
    series: _F32 | _F64, years: _F64, *, method: int, direction: int, min_before: int,
    min_after: int, shape: int, tau: float, n_threads: int,
) -> dict[str, np.ndarray]: ...
def ar_sieve_mk(
    lst: _F32 | _F64, evi: _F32 | _F64, years: _F64, rows: _I64, cols: _I64, phi_lst: _F64,
    phi_evi: _F64, *, lst_offset: float, evi_min: float, evi_policy: int, n_replicates: int,
    seed: int, min_valid: int, phi_max: float, n_threads: int,
) -> dict[str, np.ndarray]: ...
def sen_interval(
    series: _F32 | _F64, years: _F64, *, z: float, n_threads: int,
) -> dict[str, np.ndarray]: ...
def permutation_mk(
    lst: _F32 | _F64, evi: _F32 | _F64, rows: _I64, cols: _I64, *, lst_offset: float,
    evi_min: float, evi_policy: int, n_permutations: int, seed: int, min_valid: int,
    n_threads: int,
) -> dict[str, np.ndarray]: ...
def landsat_qa_mask(
    qa: npt.ArrayLike, *, radsat: npt.ArrayLike | None = None, bad_bits: int = 63,
    conf_mask: int = 0, conf_expect: int = 0, radsat_bad: int = 0, n_threads: int = 0,
) -> _U8: ...
def landsat_lst_rte(
    trad: npt.ArrayLike, urad: npt.ArrayLike, drad: npt.ArrayLike, atran: npt.ArrayLike, *,
    emis: npt.ArrayLike | None = None, red: npt.ArrayLike | None = None,
    nir: npt.ArrayLike | None = None, qa: npt.ArrayLike | None = None, k1: float, k2: float,
    sr_scale: Sequence[float] = ..., emissivity: int = 1, n_threads: int = 0,
) -> _F32: ...
def landsat_fmax_accumulate(
    acc: np.ndarray, x: npt.ArrayLike, *, count: np.ndarray | None = None, n_threads: int = 0,
) -> None: ...
def landsat_composite_scene(
    *, acc_evi: np.ndarray | None = None, acc_lst: np.ndarray | None = None,
    n_evi: np.ndarray | None = None, n_lst: np.ndarray | None = None,
    n_seen: np.ndarray | None = None, qa: npt.ArrayLike | None = None,
    radsat: npt.ArrayLike | None = None, aerosol: npt.ArrayLike | None = None,
    opacity: npt.ArrayLike | None = None, blue: npt.ArrayLike | None = None,
    red: npt.ArrayLike | None = None, nir: npt.ArrayLike | None = None,
    st: npt.ArrayLike | None = None, st_qa: npt.ArrayLike | None = None,
    lst: npt.ArrayLike | None = None, bad_bits: int = 63, conf_mask: int = 0,
    conf_expect: int = 0, radsat_bad: int = 0, aerosol_max: int = 4,
    opacity_max: int = 1073741824, sr_scale: Sequence[float] = ...,
    st_scale: Sequence[float] = ..., sr_unit_range: bool = False, evi_clamp: int = 0,
    st_qa_max: int = -1, pairing: int = 0, n_threads: int = 0,
) -> dict[str, Any]: ...
