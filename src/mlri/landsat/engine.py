"""The compositing engine: one year's scenes accumulated strip by strip over the output grid.

Each scene band is read by window (same UTM zone and lattice: no resampling) or through a
nearest-neighbour ``WarpedVRT`` (another zone/lattice); masking, scaling, EVI and the max
accumulation run in one C++ kernel (OpenMP) per scene and strip.  Used by
:func:`mlri.landsat.annual_composite` (in memory) and :func:`mlri.landsat.write_composites`
(files).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._cloud import cloud_env, is_url, remote_error
from .grid import Grid, lattice_aligned
from .harmonize import harmonized_scale
from .needs import roles_for, scene_problem
from .options import CompositeOptions
from .qa import qa_rule
from .scene import LstUnavailableWarning, Scene, SceneError

# fill value and dtype of each layer as stored by USGS (used outside a scene's footprint)
_LAYER_SPEC: dict[str, tuple[str, int]] = {
    "qa": ("uint16", 1), "radsat": ("uint16", 0), "blue": ("uint16", 0), "red": ("uint16", 0),
    "nir": ("uint16", 0), "st": ("uint16", 0), "aerosol": ("uint8", 1),
    "opacity": ("int16", -9999), "st_qa": ("int16", -9999), "trad": ("int16", -9999),
    "urad": ("int16", -9999), "drad": ("int16", -9999), "atran": ("int16", -9999),
    "emis": ("int16", -9999),
}


# ---------------------------------------------------------------------------------------------
class _Layer:
    """One band of one scene, readable by output strip (aligned window or nearest warp)."""

    def __init__(self, scene: Scene, role: str, grid: Grid) -> None:
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        self.scene = scene
        self.role = role
        self.grid = grid
        self.dtype, self.fill = _LAYER_SPEC[role]
        self.path = scene.band_path(role)
        self.suffix = scene.roles()[role]
        self.vrt = None
        try:
            self.ds = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as err:
            raise SceneError(scene.id, _read_problem(scene, self.suffix, self.path, err,
                                                     "open")) from None
        try:
            if self.ds.dtypes[0] != self.dtype:
                raise SceneError(scene.id, (
                    f"{self.suffix} is {self.ds.dtypes[0]}, expected {self.dtype} as in "
                    f"Collection 2 Level-2 products ({self.path})"))
            if self.ds.crs is None:
                raise SceneError(scene.id, f"{self.suffix} has no CRS ({self.path})")
            self.offset = lattice_aligned(grid, self.ds.crs, self.ds.transform)
            if self.offset is None:
                self.vrt = WarpedVRT(self.ds, crs=grid.crs, transform=grid.transform,
                                     width=grid.width, height=grid.height,
                                     resampling=Resampling.nearest, nodata=self.fill)
        except BaseException:
            self.ds.close()
            raise

    def close(self) -> None:
        if self.vrt is not None:
            self.vrt.close()
        self.ds.close()

    def read(self, row0: int, nrows: int) -> np.ndarray | None:
        """The strip rows [row0, row0+nrows) x all grid columns; None when entirely outside."""
        import rasterio
        from rasterio.windows import Window

        w = self.grid.width
        try:
            if self.vrt is not None:
                a = self.vrt.read(1, window=Window(0, row0, w, nrows))
                return np.ascontiguousarray(a, dtype=self.dtype)
            c0, r0 = self.offset  # type: ignore[misc]  # grid origin in scene pixels
            sr0, sc0 = r0 + row0, c0
            rr0, rr1 = max(sr0, 0), min(sr0 + nrows, self.ds.height)
            cc0, cc1 = max(sc0, 0), min(sc0 + w, self.ds.width)
            if rr1 <= rr0 or cc1 <= cc0:
                return None
            data = self.ds.read(1, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
            if rr1 - rr0 == nrows and cc1 - cc0 == w:
                return data
            out = np.full((nrows, w), self.fill, dtype=self.dtype)
            out[rr0 - sr0:rr1 - sr0, cc0 - sc0:cc1 - sc0] = data
            return out
        except rasterio.errors.RasterioError as err:
            raise SceneError(self.scene.id, _read_problem(self.scene, self.suffix, self.path,
                                                          err, "read")) from None


def _read_problem(scene: Scene, suffix: str, path: str, err: Exception, verb: str) -> str:
    """Why a band file cannot be opened/read: a damaged download, or a remote failure that
    names the STAC item, asset and URL."""
    if is_url(path):
        rec = (scene.stac or {}).get("assets", {}).get(suffix, {})
        what = f"item {rec['item']} asset {rec['asset']!r}" if rec else suffix
        return remote_error(err, rec.get("href", path), what)
    return (f"cannot {verb} {suffix} ({path}): {err}. The file is damaged or truncated: "
            f"download the scene again")


@dataclass
class _SceneStat:
    scene: Scene
    used_for: list[str]
    n_evi: int = 0
    n_lst: int = 0
    n_seen: int = 0
    notes: list[str] = field(default_factory=list)
    warped: bool | None = None  # read through a nearest WarpedVRT (other CRS / lattice)

    def as_dict(self) -> dict[str, Any]:
        s = self.scene
        d: dict[str, Any] = {
            "scene": s.id, "location": s.location, "acquired": s.acquired.isoformat(),
            "sensor": s.pid.sensor, "level": s.level, "tier": s.pid.tier,
            "used_for": self.used_for, "pixels_with_data": self.n_seen,
            "valid_evi": self.n_evi, "valid_lst": self.n_lst,
        }
        if self.warped is not None:
            d["read"] = "reprojected (nearest)" if self.warped else "window (no resampling)"
        if self.n_seen:
            d["clear_fraction_evi"] = round(self.n_evi / self.n_seen, 4)
        if self.notes or s.notes:
            d["notes"] = [*s.notes, *self.notes]
        if s.stac is not None:
            d["stac"] = s.stac
        return d


def _prepare(scenes: Sequence[Scene], opts: CompositeOptions, *, warn: bool = True
             ) -> list[_SceneStat]:
    stats = []
    for s in scenes:
        rule = qa_rule(opts.mask, s.family, mask_water=opts.mask_water,
                       mask_dilated=opts.mask_dilated)
        _, optional, lst_ok = roles_for(s, opts, rule)
        problem = scene_problem(s, opts)
        if problem is not None:
            raise SceneError(s.id, problem)
        notes = []
        if rule.needs_radsat and "radsat" not in optional:
            notes.append("QA_RADSAT missing: saturation test skipped")
        used = [v for v in opts.variables if v == "EVI" or lst_ok]
        st = _SceneStat(s, used, notes=notes)
        if "LST" in opts.variables and not lst_ok:
            why = (f"scene {s.id} is {s.level} (surface reflectance only, no surface temperature)"
                   f": LST unavailable, the scene is used for EVI only")
            st.notes.append("LST unavailable (L2SR)")
            if warn:
                warnings.warn(why, LstUnavailableWarning, stacklevel=3)
        stats.append(st)
    return stats


def _strips(grid: Grid, block_pixels: int) -> list[tuple[int, int]]:
    rows = max(1, min(grid.height, block_pixels // grid.width))
    if rows >= 512:
        rows -= rows % 512  # align strips with the 512 x 512 output tiles
    return [(r, min(rows, grid.height - r)) for r in range(0, grid.height, rows)]


class _YearEngine:
    """Runs the kernel over the strips of the grid for one year's scenes."""

    def __init__(self, stats: list[_SceneStat], grid: Grid, opts: CompositeOptions,
                 progress: Callable[[int], None] | None = None) -> None:
        self.stats = stats
        self.grid = grid
        self.opts = opts
        self.progress = progress
        self.layers: list[dict[str, _Layer]] = []
        self.rows: list[tuple[int, int] | None] = []

    def __enter__(self) -> _YearEngine:
        try:
            for st in self.stats:
                s = st.scene
                rule = qa_rule(self.opts.mask, s.family, mask_water=self.opts.mask_water,
                               mask_dilated=self.opts.mask_dilated)
                need, optional, _ = roles_for(s, self.opts, rule)
                d: dict[str, _Layer] = {}
                self.layers.append(d)
                for role in [*need, *optional]:
                    d[role] = _Layer(s, role, self.grid)
                st.warped = any(lay.vrt is not None for lay in d.values())
                self.rows.append(_row_range(s, self.grid))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for d in self.layers:
            for lay in d.values():
                with contextlib.suppress(Exception):
                    lay.close()
        self.layers = []

    def run(self) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """Yield (row0, nrows, {"evi", "lst", "n_evi", "n_lst", "n_seen"}) per strip."""
        from .. import _core
        from .._validation import resolve_threads

        opts = self.opts
        w = self.grid.width
        want_evi = "EVI" in opts.variables
        want_lst = "LST" in opts.variables
        nthreads = resolve_threads(opts.n_threads)
        pool = ThreadPoolExecutor(max_workers=opts.io_threads) if opts.io_threads > 1 else None
        try:
            for row0, nrows in _strips(self.grid, opts.block_pixels):
                shape = (nrows, w)
                acc = {
                    "evi": np.full(shape, np.nan, np.float32) if want_evi else None,
                    "lst": np.full(shape, np.nan, np.float32) if want_lst else None,
                    "n_evi": np.zeros(shape, np.uint16), "n_lst": np.zeros(shape, np.uint16),
                    "n_seen": np.zeros(shape, np.uint16),
                }
                active = []
                for i, rr in enumerate(self.rows):
                    if rr is not None and (row0 + nrows <= rr[0] or row0 >= rr[1]):
                        if self.progress:
                            self.progress(1)
                        continue
                    active.append(i)

                def submit(i: int, a: int = row0, n: int = nrows) -> dict[str, Any]:
                    layers = self.layers[i]
                    if pool is None:
                        return {r: lay.read(a, n) for r, lay in layers.items()}
                    return {r: pool.submit(lay.read, a, n) for r, lay in layers.items()}

                # prefetch: the bands of the next scene are read while the kernel runs
                pending = submit(active[0]) if active else None
                for k, i in enumerate(active):
                    cur = pending
                    arrs = {r: (f.result() if pool is not None else f) for r, f in cur.items()}  # type: ignore[union-attr]
                    pending = submit(active[k + 1]) if k + 1 < len(active) else None
                    key = "qa" if "qa" in arrs else next(iter(arrs))
                    if arrs[key] is not None:  # else: outside this scene
                        for r, a in arrs.items():
                            if a is None:
                                arrs[r] = np.full(shape, _LAYER_SPEC[r][1],
                                                  dtype=_LAYER_SPEC[r][0])
                        self._accumulate(self.stats[i], arrs, acc, nthreads, _core)
                    if self.progress:
                        self.progress(1)
                yield row0, nrows, acc  # type: ignore[misc]
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def _accumulate(self, st: _SceneStat, arrs: dict[str, np.ndarray],
                    acc: dict[str, np.ndarray | None], nthreads: int, _core: Any) -> None:
        opts = self.opts
        s = st.scene
        rule = qa_rule(opts.mask, s.family, mask_water=opts.mask_water,
                       mask_dilated=opts.mask_dilated)
        use_lst = "LST" in st.used_for
        use_evi = "EVI" in st.used_for
        lst_f = None
        if use_lst and opts.lst_method == "rte":
            k1, k2 = s.thermal_constants()
            rs = [*s.sr_scale("red"), *s.sr_scale("nir")]
            lst_f = _core.landsat_lst_rte(
                arrs["trad"], arrs["urad"], arrs["drad"], arrs["atran"], emis=arrs.get("emis"),
                red=arrs.get("red"), nir=arrs.get("nir"), qa=arrs.get("qa"), k1=k1, k2=k2,
                sr_scale=rs, emissivity=0 if opts.emissivity == "usgs" else 1,
                n_threads=nthreads)
        sr_scale = [2.75e-5, -0.2] * 3
        if use_evi:
            sr_scale = [v for b in ("blue", "red", "nir")
                        for v in harmonized_scale(*s.sr_scale(b), b, s.family, opts.harmonize)]
        st_scale = list(s.st_scale()) if (use_lst and s.pid.has_st) else [0.00341802, 149.0]
        st_qa_max = -1 if opts.st_qa_max is None else round(opts.st_qa_max * 100)
        kw = rule.kernel_kwargs()
        c = _core.landsat_composite_scene(
            acc_evi=acc["evi"] if use_evi else None,
            acc_lst=acc["lst"] if use_lst else None,
            n_evi=acc["n_evi"] if use_evi else None,
            n_lst=acc["n_lst"] if use_lst else None,
            n_seen=acc["n_seen"] if (use_evi or use_lst) else None,
            qa=arrs.get("qa"), radsat=arrs.get("radsat"), aerosol=arrs.get("aerosol"),
            opacity=arrs.get("opacity"),
            blue=arrs.get("blue") if use_evi else None, red=arrs.get("red") if use_evi else None,
            nir=arrs.get("nir") if use_evi else None,
            st=arrs.get("st") if (use_lst and lst_f is None) else None,
            st_qa=arrs.get("st_qa") if use_lst else None, lst=lst_f,
            **kw, sr_scale=sr_scale, st_scale=st_scale, sr_unit_range=rule.sr_unit_range,
            evi_clamp=0 if opts.evi_clamp is None else 1, st_qa_max=st_qa_max,
            pairing=1 if opts.pairing == "greenest" else 0, n_threads=nthreads,
        )
        st.n_evi += int(c["n_evi"])
        st.n_lst += int(c["n_lst"])
        st.n_seen += int(c["n_seen"])


def _row_range(scene: Scene, grid: Grid) -> tuple[int, int] | None:
    """Grid rows the scene can touch (None = unknown / all)."""
    try:
        b = scene.bounds(grid.crs)
    except (SceneError, Exception):  # noqa: BLE001 - fall back to reading every strip
        return None
    t = grid.transform
    r0 = math.floor((t.f - b[3]) / -t.e) - 1
    r1 = math.ceil((t.f - b[1]) / -t.e) + 1
    return max(r0, 0), min(r1, grid.height)


def _remote(scenes: Iterable[Scene]) -> bool:
    return any(is_url(p) for s in scenes for p in s.files.values())


@contextlib.contextmanager
def _gdal_env(remote: bool = False) -> Iterator[None]:
    import rasterio

    # A modest block cache (tiles cut by strip edges are decoded once); no VSI_CACHE for
    # local files (it holds 25 MB per open file); the remote-COG settings for URLs.
    if remote:
        with cloud_env(GDAL_CACHEMAX=256 * 1024 * 1024):
            yield
        return
    with rasterio.Env(GDAL_CACHEMAX=256 * 1024 * 1024, GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        yield
