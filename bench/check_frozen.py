"""Bit-exactness guard for the fused trend kernel (developer tool, not a pytest test).

``python bench/check_frozen.py --freeze``  records the outputs of the current kernel on a fixed
set of seeded stacks (NaN/inf/ties/huge/tiny/signed zeros, T = 0..100, n_valid = 0..T, every
Hurst option, every compute subset, float32/float64, odd years) as SHA-256 digests in
``bench/frozen_hashes.json`` (and the raw arrays in ``build/frozen.npz`` for diffing).

``python bench/check_frozen.py``  recomputes every case on every supported SIMD target with 1 and
2 threads and checks the digests bit for bit (NaN payloads included: digests are over the raw
bytes after canonicalising NaN to one bit pattern, so a NaN is a NaN and -0.0 != +0.0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HASHES = HERE / "frozen_hashes.json"
NPZ = HERE.parent / "build" / "frozen.npz"

METHODS = {"expanding": 0, "segmented": 1}


def make_stack(rng: np.random.Generator, T: int, P: int, kind: str) -> np.ndarray:
    """(T, P) float64 stack of a given flavour, with a per-pixel missing fraction 0..100 %."""
    if kind == "normal":
        y = rng.normal(0.3, 0.1, (T, P)) + 0.01 * np.arange(T)[:, None]
    elif kind == "ties":
        y = np.round(rng.normal(0, 2, (T, P)))
    elif kind == "fewlevels":
        y = rng.integers(0, 3, (T, P)).astype(np.float64) * 0.25
    elif kind == "huge":
        y = rng.normal(0, 1, (T, P)) * 10.0 ** rng.choice([0, 150, 300, 307], size=(1, P))
        y += rng.choice([0.0, 1e15, -1e300], size=(1, P))
    elif kind == "tiny":
        y = rng.normal(0, 1, (T, P)) * 10.0 ** rng.choice([-300, -310, -320, -45], size=(1, P))
    elif kind == "zeros":
        y = rng.choice([0.0, -0.0, 1.0, -1.0, 0.5], size=(T, P))
    elif kind == "linear":
        y = np.arange(T)[:, None] * rng.choice([0.0, 1.0, 0.1, -3.0], size=(1, P)) + 0.0
        y = y + rng.choice([0.0, 1e-17], size=(T, P))
    elif kind == "mixed":
        y = rng.normal(0, 1, (T, P))
        sel = rng.random((T, P))
        y[sel < 0.05] = np.inf
        y[(sel >= 0.05) & (sel < 0.1)] = -np.inf
        y[(sel >= 0.1) & (sel < 0.15)] = np.round(y[(sel >= 0.1) & (sel < 0.15)])
    else:
        raise ValueError(kind)
    # per-pixel missing fraction: covers n_valid from 0 to T
    frac = rng.random(P) ** 2
    frac[: max(1, P // 20)] = 1.0  # some all-missing pixels
    frac[P // 20: P // 10] = 0.0   # some complete pixels
    miss = rng.random((T, P)) < frac[None, :]
    y[miss] = np.nan
    return y


def cases():
    """Yield (name, y, years, kwargs) for every configuration checked."""
    rng = np.random.default_rng(12345)
    default = dict(method=0, series_kind=0, ddof=0, tau_min=2, gap=0, degenerate=0,
                   rel_tol=1e-12, min_points=2, corrected=True, compute=7)
    kinds = ["normal", "ties", "fewlevels", "huge", "tiny", "zeros", "linear", "mixed"]
    default = dict(method=0, series_kind=0, ddof=0, tau_min=2, gap=0, degenerate=0,
                   rel_tol=1e-12, min_points=2, corrected=True, compute=7)
    # the reference vectors, one pixel each, plus all of them side by side (ragged -> NaN pad)
    refs = json.loads((HERE.parent / "tests" / "data" / "ref_vectors.json").read_text())["series"]
    for e in refs:
        vals = np.array([np.nan if v is None else float(v) for v in e["values"]])
        yrs = np.asarray(e["years"], dtype=np.float64)
        for method in (0, 1):
            for series in (0, 1):
                kw = dict(default, method=method, series_kind=series)
                yield f"ref-{e['name']}-m{method}s{series}", vals[:, None], yrs, kw
    for T in [0, 1, 2, 3, 4, 5, 7, 11, 16, 17, 19, 20, 25, 33, 40, 100]:
        P = 61 if T >= 40 else 203
        years_opts = {
            "reg": np.arange(2000, 2000 + T, dtype=np.float64),
            "gap": np.array([2000 + k + (k >= 12) for k in range(T)], dtype=np.float64),
            "irr": np.cumsum(rng.uniform(0.1, 3.0, T)) + 1990.0,
        }
        for kind in kinds:
            y = make_stack(rng, T, P, kind)
            for yname, years in years_opts.items():
                yield f"T{T}-{kind}-{yname}", y, years, default
        # every Hurst option and compute subset on one stack
        y = make_stack(rng, T, P, "ties" if T % 2 else "normal")
        years = years_opts["gap"]
        for method in (0, 1):
            for series in (0, 1):
                for ddof in (0, 1):
                    for tau_min in (2, 3):
                        for gap in (0, 1):
                            for deg in (0, 1):
                                for corr in (True, False):
                                    if method == 1 and (ddof or tau_min != 2 or deg):
                                        continue
                                    kw = dict(default, method=method, series_kind=series,
                                              ddof=ddof, tau_min=tau_min, gap=gap,
                                              degenerate=deg, corrected=corr)
                                    yield (f"T{T}-opt-m{method}s{series}d{ddof}t{tau_min}"
                                           f"g{gap}D{deg}c{int(corr)}"), y, years, kw
        for compute in (1, 2, 3, 4, 5, 6):
            yield f"T{T}-compute{compute}", y, years, dict(default, compute=compute)
        yield f"T{T}-reltol0", y, years, dict(default, rel_tol=0.0, min_points=3)
        # odd years: only reachable through _core (the API rejects them)
        if T >= 2:
            dup = years_opts["reg"].copy()
            dup[T // 2] = dup[T // 2 - 1]
            yield f"T{T}-dupyears", y, dup, default
            yield f"T{T}-revyears", y, years_opts["reg"][::-1].copy(), default
            huge_years = np.linspace(-1.0, 1.0, T) * 1.5e308
            yield f"T{T}-hugeyears", make_stack(rng, T, P, "huge"), huge_years, default
            nan_years = years_opts["irr"].copy()
            nan_years[T // 3] = np.nan
            yield f"T{T}-nanyears", y, nan_years, default


def canon(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        a = a.copy()
        a[np.isnan(a)] = np.nan  # canonical NaN payload and sign
    return a.tobytes()


def run_case(core, y, years, kw, dtype, n_threads):
    with np.errstate(over="ignore"):
        yy = np.ascontiguousarray(y.astype(dtype))
    res = core.trend(yy, np.ascontiguousarray(years, dtype=np.float64), n_threads=n_threads, **kw)
    return {k: np.asarray(v) for k, v in sorted(res.items())}


def digest(res) -> str:
    h = hashlib.sha256()
    for k, v in res.items():
        h.update(k.encode())
        h.update(canon(v))
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--freeze", action="store_true")
    ap.add_argument("--targets", default="all", help="comma list or 'all' (supported) or 'active'")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    from mlri import _core as core

    default_target = core.simd_target()
    if args.freeze:
        out, raw = {}, {}
        for name, y, years, kw in cases():
            for dt in (np.float32, np.float64):
                key = f"{name}-{np.dtype(dt).name}"
                res = run_case(core, y, years, kw, dt, 1)
                out[key] = digest(res)
                for k, v in res.items():
                    raw[f"{key}:{k}"] = v
        HASHES.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
        NPZ.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(NPZ, **raw)
        print(f"froze {len(out)} cases with target {default_target} -> {HASHES}")
        return 0

    ref = json.loads(HASHES.read_text())
    raw = np.load(NPZ) if NPZ.exists() else None
    if args.targets == "all":
        targets = [t for t, ok in core.simd_targets() if ok]
    elif args.targets == "active":
        targets = [default_target]
    else:
        targets = args.targets.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    bad = 0
    n = 0
    try:
        for tgt in targets:
            core.set_simd_target(tgt)
            for name, y, years, kw in cases():
                for dt in (np.float32, np.float64):
                    key = f"{name}-{np.dtype(dt).name}"
                    for nt in threads:
                        res = run_case(core, y, years, kw, dt, nt)
                        n += 1
                        if digest(res) != ref[key]:
                            bad += 1
                            msg = f"MISMATCH {tgt} nt={nt} {key}"
                            if raw is not None:
                                for k, v in res.items():
                                    r = raw[f"{key}:{k}"]
                                    same = (canon(r) == canon(v))
                                    if not same:
                                        idx = np.flatnonzero(~((r == v) | (np.isnan(r) & np.isnan(v))
                                                               | False))
                                        sz = np.flatnonzero(np.signbit(r) != np.signbit(v))
                                        msg += (f"\n   {k}: {idx.size} differ, {sz.size} sign "
                                                f"diffs; first {idx[:3]} ref {r[idx[:3]]} "
                                                f"new {v[idx[:3]]}")
                            print(msg)
                            if bad > 20:
                                print("too many mismatches")
                                return 1
    finally:
        core.set_simd_target(default_target)
    print(f"{'FAIL' if bad else 'OK'}: {n} runs, {bad} mismatches, targets {targets}, "
          f"threads {threads}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
