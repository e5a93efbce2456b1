"""The map-wide pass of ``significance="sieve", persistence="regional"``.

Before the tiled pass, one AR(1) persistence per variable (log LST, log EVI) is estimated with
:func:`mlri.significance.regional_persistence` over a regular sample of the map's pixels (or of
the stable land given by ``persistence_mask``), and every pixel's sieve test uses it.

The sample is the pixels at global rows and columns divisible by a stride ``s`` (a power of
two), inside the mask and with at least 3 valid years; ``s`` is the smallest power of two that
keeps the sample at most :data:`SAMPLE_PIXELS` pixels.  The windows are read one at a time: when
the sample grows beyond the bound, the stride doubles and the pixels off the coarser grid are
dropped (the grids are nested).  So memory stays bounded, and the sample — hence the estimate —
depends only on the inputs, the mask and the bound: never on the tile size, the window order,
the threads or the Dask chunking (the pixels are sorted by global position before the
estimate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import MapPass

__all__ = ["SAMPLE_PIXELS", "persistence_mode", "regional_estimate"]

#: Upper bound of the pixels sampled for the regional persistence (15 MB of float32 inputs for
#: 19 years, about 100 MB at the peak of the estimate; the pooled estimate is precise long
#: before that).
SAMPLE_PIXELS = 100_000


def persistence_mode(opts: Any) -> str:
    """How the sieve test gets its persistence: ``"per-pixel"``, ``"given"`` or ``"regional"``
    (``persistence="regional"``, or a ``persistence_mask`` alone)."""
    if opts.persistence is None:
        return "regional" if opts.persistence_mask else "per-pixel"
    if isinstance(opts.persistence, str):
        if opts.persistence != "regional":
            msg = (f"persistence must be 'regional', two numbers (phi_lst, phi_evi) in [0, 1) "
                   f"or None (fitted per pixel); got {opts.persistence!r}")
            raise ValueError(msg)
        return "regional"
    return "given"


def regional_estimate(mp: MapPass, years: Any) -> dict[str, Any]:
    """The regional persistence of the map (or of ``persistence_mask``), as a plain dict.

    Keys: ``phi_lst``, ``phi_evi`` (bias-corrected), ``r_lst``, ``r_evi`` (pooled lag-1
    autocorrelations), ``n_pixels`` (sampled pixels used), ``sample_stride``, ``mask``.
    """
    from ..api import validate_index_inputs
    from .methods import ReferenceMask
    from .sieve import _valid_years, regional_persistence

    opts = mp.options
    mask_path = opts.persistence_mask
    mask = ReferenceMask(mask_path, mp.grid, param="persistence_mask") if mask_path else None
    width = int(mp.grid.width)
    stride = 1
    idx: list[np.ndarray] = []
    lsts: list[np.ndarray] = []
    evis: list[np.ndarray] = []
    n = 0
    for w, lst, evi in mp.tiles("persistence (regional)"):
        la, ea, unit, policy = validate_index_inputs(lst, evi, years, opts.lst_unit,
                                                     opts.evi_min, opts.evi_policy)
        h, wd = la.shape[1], la.shape[2]
        r0, c0 = int(w.row_off), int(w.col_off)
        rows = np.arange(r0, r0 + h)[:, None]
        cols = np.arange(c0, c0 + wd)[None, :]
        on = (rows % stride == 0) & (cols % stride == 0)
        if mask is not None:
            on &= mask.read(w)
        if not on.any():
            continue
        fl, fe = la[:, on], ea[:, on]
        _, _, valid = _valid_years(fl, fe, unit, policy, float(opts.evi_min))
        keep = valid.sum(axis=0) >= 3
        g = (np.broadcast_to(rows, on.shape) * width + np.broadcast_to(cols, on.shape))[on]
        idx.append(g[keep].astype(np.int64))
        lsts.append(fl[:, keep])
        evis.append(fe[:, keep])
        n += int(keep.sum())
        while n > SAMPLE_PIXELS:
            stride *= 2
            n = 0
            for i, gi in enumerate(idx):
                sel = ((gi // width) % stride == 0) & ((gi % width) % stride == 0)
                idx[i], lsts[i], evis[i] = gi[sel], lsts[i][:, sel], evis[i][:, sel]
                n += int(sel.sum())
    where = f" inside persistence_mask={mask_path}" if mask_path else ""
    if n == 0:
        msg = (f"persistence='regional': no pixel{where} has 3 or more valid years; give a "
               f"mask of stable land with data, or persistence=(phi_lst, phi_evi)")
        raise ValueError(msg)
    g = np.concatenate(idx)
    order = np.argsort(g, kind="stable")
    lst_s = np.concatenate(lsts, axis=1)[:, order]
    evi_s = np.concatenate(evis, axis=1)[:, order]
    est = regional_persistence(lst_s, evi_s, years, lst_unit=opts.lst_unit,
                               evi_min=opts.evi_min, evi_policy=opts.evi_policy)
    for name, phi in (("LST", est.phi_lst), ("EVI", est.phi_evi)):
        if not np.isfinite(phi):
            msg = (f"persistence='regional': the persistence of log {name} cannot be estimated "
                   f"on the {est.n_pixels} sampled pixels{where} (no two valid values one year "
                   f"apart, or constant values); give persistence=(phi_lst, phi_evi)")
            raise ValueError(msg)
    return {"phi_lst": est.phi_lst, "phi_evi": est.phi_evi, "r_lst": est.r_lst,
            "r_evi": est.r_evi, "n_pixels": est.n_pixels, "sample_stride": stride,
            "mask": None if mask_path is None else str(mask_path)}
