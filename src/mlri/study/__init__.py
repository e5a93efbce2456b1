"""Study mode: many mines across a region (several UTM zones) in one resumable run.

Each mine is processed on its own grid in its own UTM zone (composites from Landsat scenes, or
ready annual LST/EVI rasters), through :func:`mlri.pipeline.run` and the zonal statistics of
:mod:`mlri.sites`; then all mines together get the across-mine analysis of the MLRI paper
(class shares, Kruskal-Wallis between start groups, Spearman with mining duration, k-means
clusters, accuracy where reference points exist) and one report.  Finished mines are kept and
reused, failing mines are reported and never stop the others.

Typical use::

    from mlri.study import load_study_file, run_study
    res = run_study(load_study_file("study.toml"))
    print(res.verdict)

See ``docs/study.md``.
"""

from __future__ import annotations

from .config import StudyConfig, load_study_file, study_file_text, write_study_file
from .runner import STUDY_OUTPUTS, StudyResult, run_study
from .synthetic import REGIONS, SyntheticStudy, make_study

__all__ = [
    "REGIONS",
    "STUDY_OUTPUTS",
    "StudyConfig",
    "StudyResult",
    "SyntheticStudy",
    "load_study_file",
    "make_study",
    "run_study",
    "study_file_text",
    "write_study_file",
]
