"""Type stub for the private C++ extension ``mlri._core`` (use the public API instead)."""

from typing import overload

import numpy as np
import numpy.typing as npt

__version__: str
openmp_enabled: bool
CLASS_CODES: dict[str, int]
FLAG_BITS: dict[str, int]

def simd_targets() -> list[tuple[str, bool]]: ...
def simd_target() -> str: ...
def set_simd_target(name: str) -> None: ...
def max_threads() -> int: ...
@overload
def mlri_index(
    lst: npt.NDArray[np.float32], evi: npt.NDArray[np.float32], *, lst_offset: float,
    evi_min: float, evi_policy: int, n_threads: int,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]: ...
@overload
def mlri_index(
    lst: npt.NDArray[np.float64], evi: npt.NDArray[np.float64], *, lst_offset: float,
    evi_min: float, evi_policy: int, n_threads: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]: ...
def trend(
    series: npt.NDArray[np.float32] | npt.NDArray[np.float64], years: npt.NDArray[np.float64],
    *, method: int, series_kind: int, ddof: int, tau_min: int, gap: int, degenerate: int,
    rel_tol: float, min_points: int, corrected: bool, compute: int, n_threads: int,
) -> dict[str, np.ndarray]: ...
def classify(
    n_valid: npt.NDArray[np.int32], s: npt.NDArray[np.float64], var_s: npt.NDArray[np.float64],
    z: npt.NDArray[np.float64], slope: npt.NDArray[np.float64], hurst: npt.NDArray[np.float64],
    dropped: npt.NDArray[np.int32] | None, *, z_crit: float, min_valid: int,
    zero_slope_sign_s: bool, h_threshold: float, n_threads: int,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]: ...
def onset(
    series: npt.NDArray[np.float32] | npt.NDArray[np.float64], years: npt.NDArray[np.float64],
    *, method: int, direction: int, min_before: int, min_after: int, shape: int, tau: float,
    n_threads: int,
) -> dict[str, np.ndarray]: ...
def ar_sieve_mk(
    lst: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    evi: npt.NDArray[np.float32] | npt.NDArray[np.float64], years: npt.NDArray[np.float64],
    rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], phi_lst: npt.NDArray[np.float64],
    phi_evi: npt.NDArray[np.float64], *, lst_offset: float, evi_min: float, evi_policy: int,
    n_replicates: int, seed: int, min_valid: int, phi_max: float, n_threads: int,
) -> dict[str, np.ndarray]: ...
def sen_interval(
    series: npt.NDArray[np.float32] | npt.NDArray[np.float64], years: npt.NDArray[np.float64],
    *, z: float, n_threads: int,
) -> dict[str, np.ndarray]: ...
