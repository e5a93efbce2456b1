"""Throughput of the AR(1) sieve test (mlri.significance.sieve_test) next to the permutation test.

Target: >= 30,000 pixels/s at B = 199 on 2 threads (19 years).

Run:  python bench/bench_sieve.py [--pixels 100000] [--replicates 199] [--repeat 3]

Both tests run on the same pixels in the same process, alternating, so that the ratio
sieve / permutation is meaningful on a shared machine.  Prints the best-of-N wall time, the CPU
time (pixels per CPU-second x threads estimates idle cores) and the 1-minute load average
before and after each measurement; then the time of the regional persistence estimate
(``--persistence regional``) at its sample bound.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import mlri
from mlri import significance as sg


def _time(fn, repeat: int) -> tuple[float, float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), float(np.median(walls)), min(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pixels", type=int, default=100_000)
    ap.add_argument("--replicates", type=int, default=199)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    P, B = a.pixels, a.replicates
    lst = (300 + 2 * rng.standard_normal((19, P))).astype(np.float32)
    evi = (0.3 + 0.03 * rng.standard_normal((19, P))).astype(np.float32)
    evi[rng.random((19, P)) < 0.05] = np.nan
    print(f"mlri {mlri.__version__}, openmp={mlri._core.openmp_enabled}, cpus={os.cpu_count()}, "
          f"{P} pixels x 19 years (float32), B={B}")
    sg.sieve_test(lst[:, :1000], evi[:, :1000], n_replicates=B)  # warm-up
    for nt in a.threads:
        rates = {}
        for name, fn in (
            ("permutation", lambda nt=nt: sg.permutation_test(lst, evi, n_permutations=B, seed=1,
                                                              n_threads=nt)),
            ("sieve", lambda nt=nt: sg.sieve_test(lst, evi, n_replicates=B, seed=1,
                                                  n_threads=nt)),
        ):
            l0 = os.getloadavg()[0]
            best, med, cpu = _time(fn, a.repeat)
            l1 = os.getloadavg()[0]
            rates[name] = P / best
            print(f"threads={nt} {name:12s}: wall best {best:.2f} s ({P / best:,.0f} px/s), "
                  f"median {med:.2f} s; CPU {cpu:.2f} s ({P / cpu * nt:,.0f} px/s on {nt} idle "
                  f"cores); load {l0:.1f} -> {l1:.1f}")
        print(f"threads={nt} sieve / permutation = {rates['sieve'] / rates['permutation']:.2f}")
    # the estimate of --persistence regional at its sample bound (the first pass adds one read
    # of the inputs to this)
    from mlri.significance.regional_pass import SAMPLE_PIXELS

    k = min(P, SAMPLE_PIXELS)
    best, _, _ = _time(lambda: sg.regional_persistence(lst[:, :k], evi[:, :k]), a.repeat)
    print(f"regional_persistence on {k:,} pixels (the sample bound of --persistence regional): "
          f"{best:.2f} s, {best / (k / rates['sieve']):.2f} x the sieve test of those pixels "
          f"on {a.threads[-1]} threads")


if __name__ == "__main__":
    main()
