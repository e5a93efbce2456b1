"""Per-mine analysis of an ``mlri run``: zonal class areas, group tests, clustering, accuracy,
sampling design, figures and an HTML report.

Optional dependencies (``pip install 'mlri[sites]'``): pyogrio + shapely + pyproj for polygons
and points, scikit-learn for clustering.  Each is imported only when needed and a missing one
raises an ImportError that names the extra.

Typical use::

    from mlri.sites import run_sites, build_report
    res = run_sites("run/", "mines.gpkg", "sites/", id_col="mine_id", start_col="start")
    build_report("run/", "report.html", sites="sites/")
"""

from __future__ import annotations

from ._deps import SitesWarning
from ._table import Table
from .accuracy import (
    accuracy_metrics,
    area_adjusted,
    assess_accuracy,
    class_areas,
    confusion_matrix,
    read_points,
)
from .cluster import ClusterResult, cluster_sites, level_names
from .diagnostics import MineDiagnostics, mine_diagnostics
from .polygons import (
    Mines,
    StartYear,
    mining_duration,
    parse_start_year,
    read_mines,
    start_group,
)
from .report import build_report
from .runfolder import RunFolder, open_run
from .sampling import stratified_sample, write_points
from .stats import adjust_pvalues, dunn_test, group_tests, kruskal_test, spearman_tests
from .workflow import SitesOutputs, load_sites, run_sites
from .zonal import CLASS_ORDER, ZonalResult, zonal_stats

__all__ = [
    "CLASS_ORDER",
    "ClusterResult",
    "MineDiagnostics",
    "Mines",
    "RunFolder",
    "SitesOutputs",
    "SitesWarning",
    "StartYear",
    "Table",
    "ZonalResult",
    "accuracy_metrics",
    "adjust_pvalues",
    "area_adjusted",
    "assess_accuracy",
    "build_report",
    "class_areas",
    "cluster_sites",
    "confusion_matrix",
    "dunn_test",
    "group_tests",
    "kruskal_test",
    "level_names",
    "load_sites",
    "mine_diagnostics",
    "mining_duration",
    "open_run",
    "parse_start_year",
    "read_mines",
    "read_points",
    "run_sites",
    "spearman_tests",
    "start_group",
    "stratified_sample",
    "write_points",
    "zonal_stats",
]


def __dir__() -> list[str]:
    return __all__
