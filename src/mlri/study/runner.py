"""``run_study``: plan every mine, run the unfinished ones (in parallel), analyse, report.

Outputs in the study folder (``out``)::

    mines/<id>/          per-mine work (see :mod:`mlri.study.permine`), kept between runs
    mines.csv            one row per finished mine: class shares and hectares (zonal table),
                         start group, duration, cluster, UTM EPSG, longitude/latitude
    mlri_by_year.csv     mean MLRI per mine, class and year
    onset_by_year.csv    hectares per onset year of restoration per mine (with onset = true)
    diagnostics.json     per mine: onset distribution, TM -> OLI sensor step, Sen's slope
                         interval (:mod:`mlri.sites.diagnostics`), sensor steps pooled
    status.csv           every mine: done / failed (with the reason) / reused, seconds
    groups.json          Kruskal-Wallis (start groups, regions, clusters), Spearman, k-means
    accuracy.json        accuracy at the mines with reference points (when given)
    report.html          the report (answer first: map, table, tests, one section per mine)
    study.toml           the fully resolved study file (re-run the study from it)
    manifest.json        provenance; written last

Finished mines (a ``mines/<id>/mine.json`` of the same mine id and key) are reused, so an
interrupted study continues where it stopped and a study with added mines computes only those.
A reused mine that lacks the class map the report needs (finished with ``report = false``)
only gets its map drawn.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._outputs import FolderLock
from .config import StudyConfig, study_file_text
from .plan import MineTask, default_threads, finished, plan_tasks, read_study_mines

__all__ = ["STUDY_OUTPUTS", "StudyResult", "run_study"]

STUDY_OUTPUTS = ("mines.csv", "mlri_by_year.csv", "onset_by_year.csv", "status.csv",
                 "groups.json", "diagnostics.json", "accuracy.json", "report.html",
                 "study.toml", "manifest.json")


@dataclass
class StudyResult:
    """What :func:`run_study` did."""

    out: Path
    records: list[dict[str, Any]]
    table: Any
    groups: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)

    @property
    def n_failed(self) -> int:
        return self.count("failed")

    @property
    def verdict(self) -> str:
        n = len(self.records)
        done, reused = self.count("done"), self.count("reused")
        msg = (f"{done + reused} of {n} mines finished ({done} computed, {reused} reused), "
               f"{self.n_failed} failed")
        if self.n_failed:
            msg += " (see status.csv)"
        return msg


def _log_default(quiet: bool) -> Callable[[str], None]:
    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    return log


def _check_out(out: Path) -> None:
    from .._outputs import check_results_owner

    check_results_owner(out, "study")


def run_study(config: StudyConfig, *, quiet: bool = False,
              log: Callable[[str], None] | None = None,
              on_mine_done: Callable[[dict[str, Any]], None] | None = None) -> StudyResult:
    """Run (or continue) a study; see the module docstring for the outputs.

    Parameters
    ----------
    config : StudyConfig
        The settings (e.g. from :func:`mlri.study.load_study_file`).
    quiet : bool
        No progress output.
    log : callable, optional
        Receives one line per mine and per step (default: stderr unless ``quiet``).
    on_mine_done : callable, optional
        Called with each mine's record as it finishes (also for reused and failed mines).

    Raises
    ------
    ValueError, FileNotFoundError, OutputExistsError
        Bad settings or inputs that concern the whole study (each message names the setting).
        Problems of one mine never raise: they are recorded in ``status.csv``.
    """
    t0 = time.time()
    custom_log = log is not None
    log = log or _log_default(quiet)
    config.validate()
    cfg = config.resolved()
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        msg = f"study folder {out} exists and is not a folder; choose another --out"
        raise NotADirectoryError(msg)
    _check_out(out)
    mines, mine_warnings = read_study_mines(cfg)  # (an empty mines file is refused there)
    for w in mine_warnings:
        log(f"warning: {w}")
    scenes = None
    scene_problems: list[Any] = []
    if cfg.scenes:
        scenes, scene_problems = _discover(cfg)
        log(f"{len(scenes)} scene(s) found in {', '.join(cfg.scenes)}"
            + (f"; {len(scene_problems)} skipped" if scene_problems else ""))
    n_workers = _n_workers(cfg)
    threads = default_threads(n_workers, cfg.threads)
    tasks = plan_tasks(cfg, mines, scenes, threads)
    out.mkdir(parents=True, exist_ok=True)
    # one study per folder at a time: a second is refused at once, naming the first's PID
    with FolderLock(out):
        # records by the mine's place in today's mines file (task.index), never by a place
        # stored in an earlier run's marker
        records: dict[int, dict[str, Any]] = {}
        pending: list[MineTask] = []
        for t in tasks:
            if t.error:
                records[t.index] = {"id": t.id, "index": t.index, "status": "failed",
                                    "reason": t.error, "seconds": 0.0, "key": t.key}
            elif (rec := finished(t)) is not None:
                if t.maps and "map.png" not in rec.get("files", []):
                    pending.append(replace(t, reuse=rec))  # finished, but its map is missing
                else:
                    records[t.index] = rec
            else:
                pending.append(t)
        n = len(tasks)
        n_maps = sum(t.reuse is not None for t in pending)
        log(f"study of {n} mine(s): {len(pending) - n_maps} to compute, "
            f"{sum(r['status'] == 'reused' for r in records.values()) + n_maps} finished "
            f"before" + (f" ({n_maps} of them get their class map)" if n_maps else "")
            + f", {sum(r['status'] == 'failed' for r in records.values())} failed before "
            f"any work; {n_workers} at once x {threads} thread(s)"
            + (f" on {cfg.scheduler}" if cfg.scheduler else ""))
        done_count = [0]
        from ..tiling import progress_bar

        bar = progress_bar(n, quiet=quiet, desc="mlri study", unit="mine")
        label = {t.index: t.label for t in tasks}

        def finish(rec: dict[str, Any]) -> None:
            records[rec["index"]] = rec  # the index of this run's task (see above)
            done_count[0] += 1
            bar.update(1)
            st = rec["status"]
            if st == "done":
                tail = f"{rec.get('seconds', 0):.1f} s, EPSG:{rec.get('epsg')}"
            elif st == "failed":
                tail = rec.get("reason", "")
            else:
                tail = "finished before" + (f"; no class map: {rec['map_error']}"
                                            if rec.get("map_error") else "")
            line = f"[{done_count[0]}/{n}] mine {label.get(rec['index'], rec['id'])}: {st} ({tail})"
            if custom_log:
                log(line)
            elif not quiet:
                bar.write(line, file=sys.stderr)  # above the progress bar
            if on_mine_done is not None:
                on_mine_done(rec)

        try:
            for idx in sorted(records):
                finish(records[idx])
            _execute(pending, cfg, n_workers, threads, finish)
        finally:
            bar.close()

        ordered = [records[t.index] for t in tasks]
        return _summarise(cfg, tasks, ordered, mines, scenes, scene_problems, mine_warnings, t0,
                          log)


def is_stac_source(source: str) -> bool:
    """A saved STAC ItemCollection / Item / static catalog (a ``.json`` file or URL), as
    opposed to a folder or ``.tar`` bundle of Landsat scenes."""
    from .._cloud import is_url

    return source.lower().split("?", 1)[0].endswith(".json") or is_url(source)


def _discover(cfg: StudyConfig) -> tuple[list[Any], list[Any]]:
    """The study's scenes: folders / ``.tar`` bundles and saved STAC catalogs, one list."""
    from ..landsat.needs import scene_problem
    from ..landsat.scene import discover_scenes
    from ..landsat.stac import discover_stac

    local = [s for s in cfg.scenes if not is_stac_source(s)]
    stac = [s for s in cfg.scenes if is_stac_source(s)]
    opts = cfg.composite_options()
    scenes, problems = (discover_scenes(local, require_mtl=opts.require_mtl,
                                        check=lambda s: scene_problem(s, opts))
                        if local else ([], []))
    if stac:
        found, more = discover_stac(stac)
        scenes, problems = [*scenes, *found], [*problems, *more]
    return scenes, problems


def _n_workers(cfg: StudyConfig) -> int:
    if cfg.scheduler:
        from .._cluster import _parse_local

        n = _parse_local(cfg.scheduler)
        return n if n is not None else max(1, cfg.jobs)
    return cfg.jobs


def _execute(pending: list[MineTask], cfg: StudyConfig, n_workers: int, threads: int,
             finish: Callable[[dict[str, Any]], None]) -> None:
    from .permine import process_mine, worker_init

    if not pending:
        return
    if cfg.scheduler:
        import distributed

        from .._cluster import dask_client

        with dask_client(cfg.scheduler) as client:
            dfuts = [client.submit(process_mine, t, pure=False,
                                   key=f"mlri-study-{t.id}-{t.key[:12]}") for t in pending]
            for fut in distributed.as_completed(dfuts):
                finish(fut.result())
        return
    if n_workers == 1 or len(pending) == 1:
        for t in pending:  # inline: threads are passed to the library calls explicitly
            finish(process_mine(t))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(n_workers, len(pending)), mp_context=ctx,
                             initializer=worker_init, initargs=(threads,)) as ex:
        futs = {ex.submit(process_mine, t): t for t in pending}
        try:
            for fut in as_completed(futs):
                t = futs[fut]
                try:
                    rec = fut.result()
                except Exception as err:  # noqa: BLE001 - a crashed worker fails its mine only
                    why = f"worker process failed: {type(err).__name__}: {err}"
                    rec = ({**t.reuse, "map_error": why} if t.reuse is not None else
                           {"id": t.id, "index": t.index, "key": t.key, "status": "failed",
                            "reason": why, "seconds": 0.0})
                finish(rec)
        except BaseException:
            for f in futs:
                f.cancel()
            raise


def _summarise(cfg: StudyConfig, tasks: list[MineTask], records: list[dict[str, Any]],
               mines: Any, scenes: Any, scene_problems: list[Any], mine_warnings: list[str],
               t0: float, log: Callable[[str], None]) -> StudyResult:
    from .._manifest import build_manifest
    from .._outputs import OutputSet, write_json
    from ..sites._table import Table
    from . import analysis, report

    out = Path(cfg.out)
    ok = [(t, r) for t, r in zip(tasks, records, strict=True)
          if r["status"] in ("done", "reused")]
    extra = []
    for t, r in ok:
        lon, lat = t.lonlat or (float("nan"), float("nan"))
        # name / region / start are not part of a mine's key: take today's values
        cur: dict[str, Any] = {k: t.attrs[k] for k in ("name", "region", "start") if k in t.attrs}
        extra.append({**cur, "epsg": r.get("epsg"), "lon": lon, "lat": lat,
                      "n_scenes": r.get("n_scenes")})
    table = analysis.combine_tables([Path(t.folder) / "zonal.csv" for t, _ in ok], extra)
    years = [y for r in records for y in (r.get("years") or [])]
    ref_year = int(cfg.reference_year) if cfg.reference_year is not None else (
        int(max(years)) if years else 2019)
    groups: dict[str, Any] = {"skipped": "no finished mine"}
    cres = None
    if len(table):
        table, groups, cres = analysis.analyse(table, threshold=cfg.threshold,
                                               reference_year=ref_year, k=cfg.k, seed=cfg.seed,
                                               n_init=cfg.n_init, source=cfg.mines)
    mlri_long = analysis.combine_tables([Path(t.folder) / "mlri.csv" for t, _ in ok])
    onset_long, diag = analysis.combine_diagnostics([Path(t.folder) for t, _ in ok])
    acc = analysis.accuracy(cfg.points, {t.id: Path(t.folder) for t, _ in ok}) \
        if cfg.points else None
    status = Table.from_records([{
        "id": t.id, "name": t.attrs.get("name"), "region": t.attrs.get("region"),
        "status": r["status"], "reason": r.get("reason", ""),
        "epsg": r.get("epsg"), "seconds": r.get("seconds"),
        "composite_s": (r.get("timing") or {}).get("composite_s"),
        "run_s": (r.get("timing") or {}).get("run_s"),
        "zonal_s": (r.get("timing") or {}).get("zonal_s"),
        "folder": os.path.relpath(t.folder, out), "key": t.key[:16]}
        for t, r in zip(tasks, records, strict=True)])
    res = StudyResult(out=out, records=records, table=table, groups=groups)
    has_onset = "onset" not in diag["notes"]
    names = [n for n in STUDY_OUTPUTS if (n != "accuracy.json" or acc is not None)
             and (n != "report.html" or cfg.report) and (n != "onset_by_year.csv" or has_onset)]
    with OutputSet(out, names, overwrite=True) as oset:
        table.to_csv(oset.stage("mines.csv"))
        mlri_long.to_csv(oset.stage("mlri_by_year.csv"))
        status.to_csv(oset.stage("status.csv"))
        write_json(oset.stage("groups.json"), groups)
        write_json(oset.stage("diagnostics.json"), diag)
        if has_onset:
            onset_long.to_csv(oset.stage("onset_by_year.csv"))
        if acc is not None:
            write_json(oset.stage("accuracy.json"), acc)
        with open(oset.stage("study.toml"), "w", encoding="utf-8") as fh:  # noqa: PTH123
            fh.write(study_file_text(replace(cfg, reference_year=ref_year), header=(
                "mlri study: the fully resolved settings of this study.\n"
                f"Re-run with: mlri study --config {out / 'study.toml'}")))
        if cfg.report:
            html = report.study_report(cfg, table, groups, cres, tasks, records, acc,
                                       onset=onset_long, diagnostics=diag)
            with open(oset.stage("report.html"), "w", encoding="utf-8") as fh:  # noqa: PTH123
                fh.write(html)
        res.seconds = round(time.time() - t0, 3)
        man = build_manifest(
            command="study", parameters=cfg.to_dict(), inputs=[cfg.mines], started=t0,
            outputs=[n for n in names if n != "manifest.json"], checksum=False,
            extra={"verdict": res.verdict, "n_mines": len(records),
                   "status_counts": {s: res.count(s) for s in ("done", "reused", "failed")},
                   "mine_warnings": mine_warnings[:50],
                   "scenes_found": None if scenes is None else len(scenes),
                   "scene_problems": [p.as_dict() for p in scene_problems][:50],
                   "timing": {"mines_s": round(sum(r.get("seconds") or 0 for r in records), 3),
                              "total_s": res.seconds}})
        write_json(oset.stage("manifest.json"), man)
        res.files = {n: oset.path(n) for n in names}
        oset.commit()
    if acc is None:
        with contextlib.suppress(FileNotFoundError):
            (out / "accuracy.json").unlink()  # of an earlier run with points
    for name, made in (("report.html", cfg.report), ("onset_by_year.csv", has_onset)):
        if not made:  # of an earlier run
            with contextlib.suppress(FileNotFoundError):
                (out / name).unlink()
    log(res.verdict)
    return res
