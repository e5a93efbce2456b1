"""Landsat Collection 2 Level-2 ingest: scenes -> annual season max composites of EVI and LST.

Typical use::

    from mlri import landsat
    scenes = landsat.find_scenes(["downloads/"])            # folders, nested folders, .tar
    grid = landsat.grid_for_aoi("mine.geojson")              # UTM zone, 30 m, Landsat lattice
    landsat.write_composites(scenes, grid, "2000-2011,2013-2019", "composites/")

See ``docs/landsat.md`` for the conventions.
"""

from __future__ import annotations

from .composite import (
    AnnualComposite,
    CompositeOptions,
    NoScenesError,
    annual_composite,
    output_names,
    parse_months,
    parse_years,
    select_scenes,
    write_composites,
)
from .grid import Grid, grid_for_aoi, grid_for_bounds, read_aoi, snap_bounds, utm_crs
from .ids import LandsatFormatError, ProductId, check_supported, parse_product_id
from .mtl import Mtl, read_mtl
from .qa import decode_qa, qa_mask, qa_rule
from .scene import (
    BAND_ROLES,
    LstUnavailableWarning,
    Scene,
    SceneError,
    SceneProblem,
    discover_scenes,
    find_scenes,
)
from .variables import evi, lst_from_st, lst_rte, scale_sr

__all__ = [
    "BAND_ROLES",
    "AnnualComposite",
    "CompositeOptions",
    "Grid",
    "LandsatFormatError",
    "LstUnavailableWarning",
    "Mtl",
    "NoScenesError",
    "ProductId",
    "Scene",
    "SceneError",
    "SceneProblem",
    "annual_composite",
    "check_supported",
    "decode_qa",
    "discover_scenes",
    "evi",
    "find_scenes",
    "grid_for_aoi",
    "grid_for_bounds",
    "lst_from_st",
    "lst_rte",
    "output_names",
    "parse_months",
    "parse_product_id",
    "parse_years",
    "qa_mask",
    "qa_rule",
    "read_aoi",
    "read_mtl",
    "scale_sr",
    "select_scenes",
    "snap_bounds",
    "utm_crs",
    "write_composites",
]


def __dir__() -> list[str]:
    return __all__
