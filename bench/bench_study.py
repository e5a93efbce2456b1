"""Benchmark: ``mlri study`` at the scale of the MLRI paper (46 mines, Table 1 areas, 19 years).

    python bench/bench_study.py                          # synthetic Landsat scenes, 1 date/season
    python bench/bench_study.py --source rasters         # ready annual LST/EVI rasters per mine
    python bench/bench_study.py --scale 0.25 --jobs 1 2  # quarter areas, jobs 1 and 2

Writes a synthetic regional study (:func:`mlri.study.make_study`): the 46 mines of the paper's
Table 1 with their areas (as squares of 30 m pixels), regions and start years, in the six
regions' UTM zones, with planted restoration; then runs the study in a fresh child process for
each ``--jobs`` value and once more on the finished study (everything reused).  Reported:

* wall and CPU seconds and peak RSS (largest process, children included) of each run;
* the sum of the per-mine library calls (composite + ``mlri run`` + zonal statistics + map)
  measured inside the mines, and the study layer's overhead = wall (jobs 1) - that sum
  (scene discovery, planning, keys, across-mine analysis, report);
* the resumed run's wall time (the study layer alone, with no mine to compute);
* mlri's own class shares vs the planted restored fractions, and the group tests.

The folder is deleted afterwards unless ``--keep``; a JSON record goes to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The 46 mines of the MLRI paper's Table 1: name, region, area (ha), mining start.
TABLE1 = [
    ("Yimin", "Hailar", 2887.64, "Before 2000"), ("Lingquan", "Hailar", 2876.34, "Before 2000"),
    ("Baorixile I", "Hailar", 2297.88, "Before 2000"), ("Baorixile II", "Hailar", 733.99, 2004),
    ("Zhanihe", "Hailar", 702.63, 2010), ("Mianduhexi", "Hailar", 409.29, "Before 2000"),
    ("Xieertala&Shunxing", "Hailar", 299.95, "Before 2000"),
    ("Huolinhenan", "Shengli&Huolinhe", 5053.58, "Before 2000"),
    ("Zhahanaoer", "Shengli&Huolinhe", 4116.16, "Before 2000"),
    ("Baiyinhua I&II", "Shengli&Huolinhe", 3654.87, 2008),
    ("Shenglidong II", "Shengli&Huolinhe", 3549.61, 2008),
    ("Hesigelawu", "Shengli&Huolinhe", 3104.06, 2008),
    ("Baorihushuo", "Shengli&Huolinhe", 2368.73, 2006),
    ("Shenglixi I", "Shengli&Huolinhe", 2183.69, "Before 2000"),
    ("Baiyinhua III", "Shengli&Huolinhe", 1928.56, 2009),
    ("Baiyinhua IV", "Shengli&Huolinhe", 1585.40, 2009),
    ("Fengyang", "Shengli&Huolinhe", 1550.27, "Before 2000"),
    ("Shenglixier", "Shengli&Huolinhe", 1452.53, 2007),
    ("Huolinhebei", "Shengli&Huolinhe", 1121.31, "Before 2000"),
    ("Jilinguole II", "Shengli&Huolinhe", 802.80, 2011),
    ("Shenglixi III", "Shengli&Huolinhe", 533.96, 2008),
    ("Hadatu", "Shengli&Huolinhe", 311.84, "Before 2000"),
    ("Pingzhuangxi", "Yuanbaoshan", 1758.22, "Before 2000"),
    ("Yuanbaoshan", "Yuanbaoshan", 1613.96, "Before 2000"),
    ("Anjialing&Antaibao", "Shanbeimengnan", 8268.35, "Before 2000"),
    ("Heidaigou&Haerwusu", "Shanbeimengnan", 5729.04, "Before 2000"),
    ("Daqingshan", "Shanbeimengnan", 4481.39, 2010),
    ("Pingshuodong", "Shanbeimengnan", 2044.90, 2008),
    ("Wujiata", "Shanbeimengnan", 1822.38, "Before 2000"),
    ("Weijiamao", "Shanbeimengnan", 992.34, 2012), ("Xiwan", "Shanbeimengnan", 925.06, 2016),
    ("Dongshanwan", "Shanbeimengnan", 491.39, 2010),
    ("Datangbaoli", "Shanbeimengnan", 355.15, 2007),
    ("Majiata", "Shanbeimengnan", 265.42, "Before 2000"),
    ("Bijian", "Shanbeimengnan", 228.12, 2010), ("Shuiquan", "Shanbeimengnan", 201.63, 2008),
    ("Luotuoshan", "Zhuozishan&Luotuoshan", 25941.68, "Before 2000"),
    ("Dafeng", "Zhuozishan&Luotuoshan", 10305.08, "Before 2000"),
    ("Haibowan", "Zhuozishan&Luotuoshan", 5569.27, "Before 2000"),
    ("Maliantan", "Zhuozishan&Luotuoshan", 3111.36, "Before 2000"),
    ("Caiyuangou", "Zhuozishan&Luotuoshan", 1074.46, "Before 2000"),
    ("Haibowan II", "Zhuozishan&Luotuoshan", 420.82, 2007),
    ("Qingshuigou", "Zhuozishan&Luotuoshan", 263.99, "Before 2000"),
    ("Heishan", "Zhunnan", 1144.35, "Before 2000"), ("Heishanxiao", "Zhunnan", 913.99, 2009),
    ("Tuokexun", "Zhunnan", 371.85, 2009),
]


def _make(root: Path, source: str, scale: float, dates: int) -> dict:
    from mlri.study import make_study

    counts: dict[str, int] = {}
    for _, region, _, _ in TABLE1:
        counts[region] = counts.get(region, 0) + 1
    sizes = []
    for _, _, ha, _ in TABLE1:
        side = max(4, round((ha * scale * 1e4) ** 0.5 / 30.0))
        sizes.append((side, side))
    t = time.perf_counter()
    st = make_study(root, mines_per_region=counts, sizes=sizes,
                    starts=[s for *_, s in TABLE1], names=[n for n, *_ in TABLE1],
                    source=source, dates_per_season=dates, points=2, seed=1)
    return {"make_s": round(time.perf_counter() - t, 2), "study_file": str(st.study_file),
            "pixels": int(sum(h * w for h, w in sizes)),
            "area_ha": round(sum(h * w for h, w in sizes) * 0.09, 1),
            "years": list(st.years)}


def _child(study_file: str, out: str, jobs: int) -> None:
    from mlri.study import load_study_file, run_study

    cfg = load_study_file(study_file, out=out, jobs=jobs)
    t = time.perf_counter()
    res = run_study(cfg, quiet=True)
    wall = time.perf_counter() - t
    lib = {"composite_s": 0.0, "run_s": 0.0, "zonal_s": 0.0, "map_s": 0.0}
    for r in res.records:
        for k in lib:
            lib[k] += (r.get("timing") or {}).get(k, 0.0) if r["status"] == "done" else 0.0
    print(json.dumps({"wall_s": round(wall, 2), "verdict": res.verdict,
                      "library": {k: round(v, 2) for k, v in lib.items()},
                      "mines_s": round(sum(r.get("seconds") or 0 for r in res.records), 2),
                      # this run alone: the child and its worker processes
                      "peak_rss_mb": round(max(
                          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024, 1)}))


def _measure(study_file: str, out: Path, jobs: int) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--_child", study_file, str(out), str(jobs)],
                       capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        msg = f"study child failed (exit {p.returncode})"
        raise SystemExit(msg)
    rec = json.loads(p.stdout.strip().splitlines()[-1])
    rec.update(process_wall_s=round(wall, 2), jobs=jobs,
               cpu_s=round((after.ru_utime - before.ru_utime)
                           + (after.ru_stime - before.ru_stime), 2),
               peak_rss_max_so_far_mb=round(after.ru_maxrss / 1024, 1))
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", choices=["scenes", "rasters"], default="scenes")
    ap.add_argument("--scale", type=float, default=1.0, help="area factor (1 = Table 1)")
    ap.add_argument("--dates", type=int, default=1, help="scenes per season and region")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", default=None, help="write the record here")
    ap.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._child:
        _child(a._child[0], a._child[1], int(a._child[2]))
        return
    root = Path(tempfile.mkdtemp(prefix="mlri-bench-study-"))
    rec: dict = {"source": a.source, "scale": a.scale, "dates_per_season": a.dates,
                 "mines": len(TABLE1), "load_1min": os.getloadavg()[0]}
    try:
        rec.update(_make(root, a.source, a.scale, a.dates))
        print(f"synthetic study: {rec['mines']} mines, {rec['area_ha']:.0f} ha "
              f"({rec['pixels']:,} px), {len(rec['years'])} years, source {a.source}; "
              f"written in {rec['make_s']} s", flush=True)
        runs = []
        for j in a.jobs:
            r = _measure(rec["study_file"], root / f"study-j{j}", j)
            runs.append(r)
            print(f"jobs {j}: wall {r['wall_s']} s, CPU {r['cpu_s']} s, peak RSS "
                  f"{r['peak_rss_mb']} MB; {r['verdict']}", flush=True)
        first = runs[0]
        lib = sum(first["library"].values())
        rec["runs"] = runs
        rec["library_sum_s"] = round(lib, 2)
        rec["overhead_s"] = round(first["wall_s"] - lib, 2)
        rec["overhead_pct"] = round(100 * (first["wall_s"] - lib) / lib, 1) if lib else None
        resumed = _measure(rec["study_file"], root / f"study-j{a.jobs[0]}", a.jobs[0])
        rec["resumed"] = resumed
        print(f"per-mine library calls (jobs {first['jobs']}): {lib:.1f} s "
              f"({', '.join(f'{k} {v}' for k, v in first['library'].items())}); study-layer "
              f"overhead {rec['overhead_s']} s ({rec['overhead_pct']} % of the per-mine sum)")
        print(f"resumed (all mines reused): wall {resumed['wall_s']} s; {resumed['verdict']}")
        if len(runs) > 1:
            print(f"speed-up jobs {runs[-1]['jobs']} vs {runs[0]['jobs']}: "
                  f"{runs[0]['wall_s'] / runs[-1]['wall_s']:.2f}x "
                  f"(load average {rec['load_1min']:.1f} at start)")
        g = json.loads((root / f"study-j{a.jobs[0]}" / "groups.json").read_text())
        kw = g["kruskal_wallis"][0]
        rec["kruskal_start_group"] = {t["metric"]: t["p"] for t in kw["tests"]}
        rec["clusters"] = [(c["level"], c["n"]) for c in g["clustering"].get("clusters", [])]
        print(f"Kruskal-Wallis start groups p: {rec['kruskal_start_group']}; "
              f"clusters {rec['clusters']}")
    finally:
        if a.json:
            Path(a.json).write_text(json.dumps(rec, indent=1), encoding="utf-8")
        if a.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
