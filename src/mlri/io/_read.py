"""Windowed reads of the inputs: time-major ``(T, rows, cols)`` arrays with nodata, masks and
GDAL scale/offset applied."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._names import InputError

if TYPE_CHECKING:
    from ._inputs import InputSet, Layer, VariableStack, _FileInfo


def _read_error(layer: Layer, window: Any, err: BaseException) -> str:
    """A useful message for a failed read: GDAL's own reason (rasterio only says "Read
    failed. See previous exception") and what to do."""
    reasons: list[str] = []
    e: BaseException | None = err
    while e is not None and len(reasons) < 4:
        text = str(e).strip()
        if text and "See previous exception" not in text and text not in reasons:
            reasons.append(text)
        e = e.__cause__ or e.__context__
    why = "; ".join(reasons) or type(err).__name__
    return (f"cannot read band {layer.band} of {layer.path} (year {layer.year}, rows "
            f"{int(window.row_off)}-{int(window.row_off + window.height)}, cols "
            f"{int(window.col_off)}-{int(window.col_off + window.width)}): {why}. The file is "
            f"damaged or truncated (an interrupted download or copy?): export or copy it again")


class _Reader:
    """Per-thread set of open datasets; reads time-major windows with masks applied."""

    def __init__(self, inputs: InputSet) -> None:
        self.inputs = inputs
        self._ds: dict[str, Any] = {}

    def __enter__(self) -> _Reader:
        import rasterio

        try:
            for p in self.inputs.paths:
                self._ds[p] = rasterio.open(p)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for ds in self._ds.values():
            ds.close()
        self._ds.clear()

    def _info(self, path: str) -> _FileInfo:
        for st in (self.inputs.lst, self.inputs.evi):
            if path in st.files:
                return st.files[path]
        raise KeyError(path)

    def _dataset(self, path: str) -> Any:
        ds = self._ds.get(path)
        if ds is None:
            import rasterio

            ds = self._ds[path] = rasterio.open(path)
        return ds

    def read_layer(self, layer: Layer, window: Any, out: np.ndarray | None = None) -> np.ndarray:
        """One band in ``window`` as the working float dtype, missing → NaN."""
        shape = (int(window.height), int(window.width))
        if out is None:
            out = np.empty(shape, dtype=self.inputs.dtype)
        try:
            self._dataset(layer.path).read(layer.band, window=window, out=out)
        except Exception as err:
            raise InputError(_read_error(layer, window, err)) from err
        self._finish(layer, window, out)
        return out

    def _finish(self, layer: Layer, window: Any, out: np.ndarray) -> None:
        """Nodata, mask band and scale/offset of ``layer`` applied to its raw values ``out``."""
        info = self._info(layer.path)
        nod = info.nodata
        if nod is not None and not math.isnan(nod):
            out[out == np.asarray(nod).astype(out.dtype)] = np.nan
        if info.mask_band[layer.band - 1]:
            m = self._dataset(layer.path).read_masks(layer.band, window=window)
            out[m == 0] = np.nan
        sc = info.scales[layer.band - 1]
        of = info.offsets[layer.band - 1]
        if sc not in (None, 1.0) or of not in (None, 0.0):
            out *= out.dtype.type(sc if sc is not None else 1.0)
            out += out.dtype.type(of if of is not None else 0.0)

    def read(self, stack: VariableStack, window: Any,
             out: np.ndarray | None = None) -> np.ndarray:
        """All years of ``stack`` in ``window``: C-contiguous ``(T, rows, cols)``.

        Consecutive layers from one file are read in one GDAL call (a multi-band stack: GDAL
        then decodes all of the window's blocks on its threads, ~1.6x faster than band by
        band); a failed call is repeated band by band so that the error names the band."""
        shape = (len(stack.layers), int(window.height), int(window.width))
        if out is None:
            out = np.empty(shape, dtype=self.inputs.dtype)
        layers = stack.layers
        t0 = 0
        while t0 < len(layers):
            t1 = t0 + 1
            while t1 < len(layers) and layers[t1].path == layers[t0].path:
                t1 += 1
            run = layers[t0:t1]
            if len(run) == 1:
                self.read_layer(run[0], window, out[t0])
            else:
                try:
                    self._dataset(run[0].path).read([ly.band for ly in run], window=window,
                                                    out=out[t0:t1])
                except Exception:
                    for t, layer in enumerate(run, t0):  # raises with the failing band
                        self.read_layer(layer, window, out[t])
                else:
                    for t, layer in enumerate(run, t0):
                        self._finish(layer, window, out[t])
            t0 = t1
        return out
