"""Simulation tables for docs/significance.md: false "significant increase" rates on
stationary pixels, permutation/reference calibration, power on planted restorations, and the
AR(1) sieve test under year-to-year persistence (tables "persistence", "sieve_power" and
"demo_persistence").

Run:  OMP_NUM_THREADS=2 python bench/sim_significance.py [--pixels 20000] [--seed 1]
Prints Markdown tables (two-sided rejection rates at 0.05 for the mk_modified table).  Takes ~1 min for 20,000 pixels per scenario on 2 cores.
"""

from __future__ import annotations

import argparse

import numpy as np

import mlri
from mlri import significance as sg

YEARS = np.array([*range(2000, 2012), *range(2013, 2020)], dtype=np.float64)
SI = [4, 5, 6]

NULLS = {
    "normal, LST sd 0.5 K, EVI sd 0.01": lambda r, s: (300 + 0.5 * r.standard_normal(s), 0.3 + 0.01 * r.standard_normal(s)),
    "normal, LST sd 2 K, EVI sd 0.03": lambda r, s: (300 + 2 * r.standard_normal(s), 0.3 + 0.03 * r.standard_normal(s)),
    "normal, LST sd 4 K, EVI sd 0.08": lambda r, s: (300 + 4 * r.standard_normal(s), 0.3 + 0.08 * r.standard_normal(s)),
    "lognormal (EVI cv 0.3)": lambda r, s: (300 * r.lognormal(0, 0.01, s), 0.3 * r.lognormal(0, 0.3, s)),
    "EVI only, uniform 0.05-0.6": lambda r, s: (np.full(s, 305.0), r.uniform(0.05, 0.6, s)),
    "LST only, normal sd 2 K": lambda r, s: (300 + 2 * r.standard_normal(s), np.full(s, 0.3)),
    "Student t3, 15 % missing": lambda r, s: (300 + 2 * r.standard_t(3, s), 0.3 + 0.03 * r.standard_t(3, s)),
}


def null_table(P: int, seed: int) -> None:
    print("| stationary scenario | paper rule SI on MLRI | paper rule SD on MLRI | paper rule SI on EVI "
          "| permutation SI (two-sided 0.05) | permutation p_inc <= 0.05 | null mean S |")
    print("|---|---|---|---|---|---|---|")
    for i, (name, gen) in enumerate(NULLS.items()):
        rng = np.random.default_rng(seed + i)
        lst, evi = gen(rng, (19, P))
        if "missing" in name:
            evi[rng.random((19, P)) < 0.15] = np.nan
        idx = mlri.index(lst, evi)
        tr = mlri.trend(idx.mlri)
        cls, _ = mlri.classify(tr)
        ce, _ = mlri.classify(mlri.trend(np.where(np.isnan(idx.mlri), np.nan, evi)))
        res = sg.permutation_test(lst, evi, seed=seed)
        cp, _ = sg.classify_with_p(tr, res.p_increase, res.p_decrease)
        ok = cls > 0
        print(f"| {name} | {np.mean(np.isin(cls[ok], SI)):.1%} | {np.mean(cls[ok] == 1):.2%} "
              f"| {np.mean(np.isin(ce[ok], SI)):.1%} | {np.mean(np.isin(cp[ok], SI)):.1%} "
              f"| {np.mean(res.p_increase[ok] <= 0.05):.1%} | {np.nanmean(res.s_null_mean):.1f} |")


def reference_table(P: int, seed: int) -> None:
    print("\n| reference land | target land | reference Z threshold (upper, two-sided 0.05) "
          "| false SI on target |")
    print("|---|---|---|---|")
    names = list(NULLS)
    for ra, ta in ((1, 1), (0, 2), (2, 0), (1, 4), (1, 5)):
        rng = np.random.default_rng(seed + 100 + ra * 10 + ta)
        rl, re = NULLS[names[ra]](rng, (19, P))
        tl, te = NULLS[names[ta]](rng, (19, P))
        lst = np.concatenate([rl, tl], axis=1)
        evi = np.concatenate([re, te], axis=1)
        tr = mlri.trend(mlri.index(lst, evi).mlri)
        mask = np.zeros(2 * P, bool)
        mask[:P] = True
        ref = sg.reference_distribution(tr.z, mask)
        thr = sg.reference_threshold(tr.z, mask)
        pi, pd = sg.reference_pvalues(tr.z[P:], ref)
        sub = tr._replace(**{k: getattr(tr, k)[P:] for k in tr._fields})
        cls, _ = sg.classify_with_p(sub, pi, pd)
        print(f"| {names[ra]} | {names[ta]} | {thr.upper:.2f} | {np.mean(np.isin(cls, SI)):.1%} |")


def power_table(P: int, seed: int) -> None:
    print("\n| restoration (EVI 0.1 -> 0.1+gain, LST 310 -> 310-drop from onset to 2019) | noise sd EVI / LST "
          "| paper rule SI | permutation SI (two-sided 0.05) | reference SI |")
    print("|---|---|---|---|---|")
    rng0 = np.random.default_rng(seed + 1000)
    rl, re = NULLS[names_ref()](rng0, (19, P))
    for onset, gain, drop, esd, lsd in ((2005, 0.3, 10, 0.02, 1.0), (2008, 0.3, 10, 0.03, 1.5),
                                        (2010, 0.3, 10, 0.03, 2.0), (2013, 0.3, 10, 0.03, 2.0),
                                        (2008, 0.1, 3, 0.03, 2.0), (2013, 0.1, 3, 0.03, 2.0)):
        rng = np.random.default_rng(seed + onset)
        frac = np.clip((YEARS - onset) / (2019 - onset), 0, 1)[:, None]
        evi = 0.1 + gain * frac + esd * rng.standard_normal((19, P))
        lst = 310 - drop * frac + lsd * rng.standard_normal((19, P))
        tr = mlri.trend(mlri.index(lst, evi).mlri)
        cls, _ = mlri.classify(tr)
        res = sg.permutation_test(lst, evi, seed=seed)
        cp, _ = sg.classify_with_p(tr, res.p_increase, res.p_decrease)
        ztr = mlri.trend(mlri.index(rl, re).mlri)
        ref = sg.reference_distribution(ztr.z, np.ones(P, bool))
        cr, _ = sg.classify_with_p(tr, *sg.reference_pvalues(tr.z, ref))
        print(f"| onset {onset}, gain {gain}, drop {drop} K | {esd} / {lsd} K "
              f"| {np.mean(np.isin(cls, SI)):.1%} | {np.mean(np.isin(cp, SI)):.1%} "
              f"| {np.mean(np.isin(cr, SI)):.1%} |")


def modified_table(P: int, seed: int) -> None:
    print("\n| series (n = 19) | original MK | Hamed-Rao (all lags, screened) | Hamed-Rao lag 3 "
          "| Yue-Wang lag 1 | Yue-Wang lag 3 | Yue-Wang all lags |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(seed + 2000)
    white = rng.standard_normal((19, P))
    e = rng.standard_normal((19, P))
    ar = np.zeros((19, P))
    ar[0] = e[0] / np.sqrt(1 - 0.25)
    for t in range(1, 19):
        ar[t] = 0.5 * ar[t - 1] + e[t]
    lst, evi = NULLS[names_ref()](rng, (19, P))
    mlri_stat = mlri.index(lst, evi).mlri
    for name, y in (("white noise", white), ("AR(1), phi = 0.5", ar),
                    ("MLRI of stationary pixels", mlri_stat)):
        row = [np.mean(mlri.mann_kendall(y).p <= 0.05)]
        for meth, lag in (("hamed_rao", "all"), ("hamed_rao", 3), ("yue_wang", 1),
                          ("yue_wang", 3), ("yue_wang", "all")):
            row.append(np.mean(sg.mk_modified(y, method=meth, lag=lag).p <= 0.05))
        print(f"| {name} | " + " | ".join(f"{r:.1%}" for r in row) + " |")


def _ar1(rng: np.random.Generator, years: np.ndarray, P: int, phi: float, sd: float) -> np.ndarray:
    full = np.arange(years[0], years[-1] + 1)
    e = rng.standard_normal((full.size, P))
    x = np.empty_like(e)
    x[0] = e[0]
    for t in range(1, full.size):
        x[t] = phi * x[t - 1] + np.sqrt(1 - phi * phi) * e[t]
    return sd * x[np.isin(full, years)]


def persistence_table(P: int, seed: int) -> None:
    """One-sided rejection rate of "increase" at 0.025 (B = 199) on stationary AR(1) pixels."""
    print("\n| years | AR(1) phi of LST and EVI | paper rule SI | permutation | sieve, phi per pixel "
          "| sieve, regional phi | regional phi estimate (LST / EVI) |")
    print("|---|---|---|---|---|---|---|")
    for nyr, years in ((19, YEARS), (25, np.arange(1995, 2020, dtype=np.float64))):
        for phi in (0.0, 0.3, 0.6):
            rng = np.random.default_rng(seed + 3000 + nyr * 10 + int(phi * 10))
            lst = 300 + _ar1(rng, years, P, phi, 2.0)
            evi = 0.3 + _ar1(rng, years, P, phi, 0.03)
            # stable land beside the target pixels, for the regional estimate
            est = sg.regional_persistence(300 + _ar1(rng, years, P, phi, 2.0),
                                          0.3 + _ar1(rng, years, P, phi, 0.03), years)
            tr = mlri.trend(mlri.index(lst, evi, years).mlri, years)
            cls, _ = mlri.classify(tr)
            perm = sg.permutation_test(lst, evi, years, seed=seed)
            own = sg.sieve_test(lst, evi, years, seed=seed)
            reg = sg.sieve_test(lst, evi, years, seed=seed, phi_lst=est.phi_lst,
                                phi_evi=est.phi_evi)
            print(f"| {nyr} | {phi} | {np.mean(np.isin(cls, SI)):.1%} "
                  f"| {np.mean(perm.p_increase <= 0.025):.2%} | {np.mean(own.p_increase <= 0.025):.2%} "
                  f"| {np.mean(reg.p_increase <= 0.025):.2%} | {est.phi_lst:.3f} / {est.phi_evi:.3f} |")


def sieve_power_table(P: int, seed: int) -> None:
    """Power (p_increase <= 0.025, B = 199) of the permutation and sieve tests."""
    from mlri import demo

    print("\n| restoration | noise | permutation | sieve, phi per pixel | sieve, regional phi |")
    print("|---|---|---|---|---|")
    rng0 = np.random.default_rng(seed + 4000)
    for onset, gain, drop, esd, lsd, phi in ((2008, 0.3, 10, 0.03, 1.5, 0.0),
                                             (2010, 0.3, 10, 0.03, 2.0, 0.0),
                                             (2013, 0.3, 10, 0.03, 2.0, 0.0),
                                             (2008, 0.1, 3, 0.03, 2.0, 0.0),
                                             (2008, 0.3, 10, 0.03, 1.5, 0.3),
                                             (2008, 0.3, 10, 0.03, 1.5, 0.6)):
        rng = np.random.default_rng(seed + onset + int(10 * phi))
        frac = np.clip((YEARS - onset) / (2019 - onset), 0, 1)[:, None]
        evi = 0.1 + gain * frac + _ar1(rng, YEARS, P, phi, esd)
        lst = 310 - drop * frac + _ar1(rng, YEARS, P, phi, lsd)
        est = sg.regional_persistence(310 + _ar1(rng0, YEARS, P, phi, lsd),
                                      0.1 + _ar1(rng0, YEARS, P, phi, esd))
        row = _three(lst, evi, YEARS, est, seed)
        print(f"| onset {onset}, EVI +{gain}, LST -{drop} K | sd {esd} / {lsd} K, AR(1) {phi} "
              f"| {row} |")
    # the demo site: weather shared by all pixels, cloud gaps, recoveries of random pace
    site = demo.synthesize(seed=seed)
    years = np.asarray(site.years, dtype=np.float64)
    est = sg.regional_persistence(site.lst, site.evi, years, mask=site.truth == 1)
    for code in (4, 5, 6):
        m = site.truth == code
        row = _three(site.lst[:, m], site.evi[:, m], years, est, seed)
        print(f"| demo site, {demo.REGIONS[code][1]} ({int(m.sum())} px) | demo noise, regional "
              f"phi {est.phi_lst:.2f} / {est.phi_evi:.2f} | {row} |")


def _three(lst: np.ndarray, evi: np.ndarray, years: np.ndarray, est: sg.Persistence,
           seed: int) -> str:
    perm = sg.permutation_test(lst, evi, years, seed=seed)
    own = sg.sieve_test(lst, evi, years, seed=seed)
    reg = sg.sieve_test(lst, evi, years, seed=seed, phi_lst=est.phi_lst, phi_evi=est.phi_evi)
    ok = perm.n_valid >= 10
    return " | ".join(f"{np.mean(r.p_increase[ok] <= 0.025):.1%}" for r in (perm, own, reg))


def demo_persistence_table(P: int, seed: int) -> None:
    """The demo's restored dumps and steppe, pixel by pixel independent, with the site's noise
    as AR(1) of persistence phi (mlri.demo.planted_restorations): one-sided rate at 0.025
    (B = 199) of the permutation test, the sieve with the regional phi of P other stable
    pixels, and the MK Z calibrated on those pixels (reference)."""
    from mlri.demo import RESTORED_FROM, planted_restorations

    dumps = sorted(RESTORED_FROM.values())
    print("\n| noise persistence φ | test | false SI on stable land | power, all dumps | "
          + " | ".join(f"dump restored {y}" for y in dumps) + " |")
    print("|---|---|---|---|" + "---|" * len(dumps))
    for phi in (0.0, 0.3, 0.6):
        lst, evi, yrs, start = planted_restorations(P, P, seed=seed + 5000, phi=phi)
        ll, le, _, _ = planted_restorations(0, P, seed=seed + 6000, phi=phi)
        est = sg.regional_persistence(ll, le, yrs)
        z = mlri.trend(mlri.index(lst, evi, yrs).mlri, yrs).z
        zr = mlri.trend(mlri.index(ll, le, yrs).mlri, yrs).z
        ref, _ = sg.reference_pvalues(z, sg.reference_distribution(zr, np.ones(zr.shape, bool)))
        rows = {"permutation": sg.permutation_test(lst, evi, yrs, seed=seed).p_increase,
                f"sieve, regional φ {est.phi_lst:.2f} / {est.phi_evi:.2f}":
                    sg.sieve_test(lst, evi, yrs, seed=seed, phi_lst=est.phi_lst,
                                  phi_evi=est.phi_evi).p_increase,
                "sieve, φ per pixel": sg.sieve_test(lst, evi, yrs, seed=seed).p_increase,
                "reference (MK Z on the stable pixels)": ref}
        rest = np.isfinite(start)
        for name, p in rows.items():
            cells = [f"{np.mean(p[~rest] <= 0.025):.2%}", f"{np.mean(p[rest] <= 0.025):.1%}"]
            cells += [f"{np.mean(p[start == y] <= 0.025):.1%}" for y in dumps]
            print(f"| {phi} | {name} | " + " | ".join(cells) + " |")


def names_ref() -> str:
    return list(NULLS)[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pixels", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tables", default="null,reference,power,modified,persistence,sieve_power,"
                                        "demo_persistence")
    a = ap.parse_args()
    todo = set(a.tables.split(","))
    for name, fn in (("null", null_table), ("reference", reference_table),
                     ("power", power_table), ("modified", modified_table),
                     ("persistence", persistence_table), ("sieve_power", sieve_power_table),
                     ("demo_persistence", demo_persistence_table)):
        if name in todo:
            fn(a.pixels, a.seed)


if __name__ == "__main__":
    main()
