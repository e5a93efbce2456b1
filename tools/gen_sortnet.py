#!/usr/bin/env python3
"""Generate cpp/include/mlri/sortnet.hpp: branch-free sorting / selection networks for the
fused trend kernel (Sen median of the n(n-1)/2 pairwise slopes; for Sen's interval, all their
ranks or only the band of ranks around the median that the interval can need at alpha >= 0.05;
median and ties of n values).  The keyed variants (key_band_pairs, key_median_pairs) return one
rank more on each side of their ranks: the trend kernel's keyed path sorts 32-bit keys that are
only monotone in the slopes and proves each rank it reads by its neighbours' keys.

Networks are Batcher odd-even merge sorts, cut down to a non-power-of-two size by treating the
missing top inputs as +inf (comparators whose outcome is then known are removed, wires
relabelled), then pruned backwards from the outputs actually used.  A median of M inputs is taken
either from the pruned network directly or by sorting a power-of-two head and the tail separately
and selecting rank c of the union with the exact identity

    c-th smallest of (A ∪ B) = min_i max(A[i-1], B[c-i])      (A, B sorted; A[-1] = B[-1] = -inf),

whichever needs fewer min/max operations.  Every network is verified on random inputs with ties
before it is written.  Run:  python tools/gen_sortnet.py > cpp/include/mlri/sortnet.hpp   (sizes 4 8 12 16 19)
"""
from __future__ import annotations

import random
import sys

# ---------------------------------------------------------------------------------------------
# comparator networks


# Green's 60-comparator sorting network for 16 inputs (10 layers), used as the base case of the
# merge sort (Batcher's own needs 63).  Checked exhaustively on all 2^16 0-1 inputs below.
GREEN16 = [
    (0, 13), (1, 12), (2, 15), (3, 14), (4, 8), (5, 6), (7, 11), (9, 10),
    (0, 5), (1, 7), (2, 9), (3, 4), (6, 13), (8, 14), (10, 15), (11, 12),
    (0, 1), (2, 3), (4, 5), (6, 8), (7, 9), (10, 11), (12, 13), (14, 15),
    (0, 2), (1, 3), (4, 10), (5, 11), (6, 7), (8, 9), (12, 14), (13, 15),
    (1, 2), (3, 12), (4, 6), (5, 7), (8, 10), (9, 11), (13, 14),
    (1, 4), (2, 6), (5, 8), (7, 10), (9, 13), (11, 14),
    (2, 4), (3, 6), (9, 12), (11, 13),
    (3, 5), (6, 8), (7, 9), (10, 12),
    (3, 4), (5, 6), (7, 8), (9, 10), (11, 12),
    (6, 7), (8, 9),
]


def _check_green16() -> None:
    for bits in range(1 << 16):
        a = [(bits >> i) & 1 for i in range(16)]
        for i, j in GREEN16:
            if a[i] > a[j]:
                a[i], a[j] = a[j], a[i]
        assert all(a[k] <= a[k + 1] for k in range(15)), bits


def oddeven_merge_sort(n2: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort on n2 = 2^k wires: (i, j), i < j, min -> i; blocks of 16
    are sorted with GREEN16."""
    out: list[tuple[int, int]] = []

    def merge(lo: int, n: int, r: int) -> None:
        step = r * 2
        if step < n:
            merge(lo, n, step)
            merge(lo + r, n, step)
            for i in range(lo + r, lo + n - r, step):
                out.append((i, i + r))
        else:
            out.append((lo, lo + r))

    def sort(lo: int, n: int) -> None:
        if n == 16:
            out.extend((lo + i, lo + j) for i, j in GREEN16)
        elif n > 1:
            m = n // 2
            sort(lo, m)
            sort(lo + m, m)
            merge(lo, n, 1)

    sort(0, n2)
    return out


def sorting_network(n: int) -> tuple[list[tuple[int, int]], list[int]]:
    """Sorting network on n wires: comparators and, per rank, the wire holding it."""
    if n <= 1:
        return [], list(range(n))
    n2 = 1 << (n - 1).bit_length()
    inf = [p >= n for p in range(n2)]
    wire = list(range(n2))
    out = []
    for a, b in oddeven_merge_sort(n2):
        if inf[a] and inf[b]:
            continue
        if inf[b]:
            continue  # max is +inf: nothing moves
        if inf[a]:  # swap: relabel
            wire[a], wire[b] = wire[b], wire[a]
            inf[a], inf[b] = False, True
            continue
        out.append((wire[a], wire[b]))
    return out, wire[:n]


# ---------------------------------------------------------------------------------------------
# SSA program of min/max operations with dead-code elimination


class Prog:
    def __init__(self, n_inputs: int):
        self.ops: list[tuple[str, int, int]] = []  # (op, a, b) -> value id n_inputs + index
        self.n_inputs = n_inputs

    def op(self, kind: str, a: int, b: int) -> int:
        self.ops.append((kind, a, b))
        return self.n_inputs + len(self.ops) - 1

    def network(self, vals: list[int], cmps) -> list[int]:
        vals = list(vals)
        for i, j in cmps:
            a, b = vals[i], vals[j]
            vals[i] = self.op("min", a, b)
            vals[j] = self.op("max", a, b)
        return vals

    def live(self, outs: list[int]) -> list[bool]:
        need = [False] * (self.n_inputs + len(self.ops))
        for o in outs:
            need[o] = True
        for k in range(len(self.ops) - 1, -1, -1):
            vid = self.n_inputs + k
            if need[vid]:
                _, a, b = self.ops[k]
                need[a] = need[b] = True
        return need

    def cost(self, outs: list[int]) -> int:
        need = self.live(outs)
        return sum(need[self.n_inputs + k] for k in range(len(self.ops)))

    def evaluate(self, inputs: list[float], outs: list[int]) -> list[float]:
        v = list(inputs) + [0.0] * len(self.ops)
        for k, (kind, a, b) in enumerate(self.ops):
            v[self.n_inputs + k] = min(v[a], v[b]) if kind == "min" else max(v[a], v[b])
        return [v[o] for o in outs]


def kth_of_union(p: Prog, A: list[int], B: list[int], c: int) -> int:
    """Rank c (0-based) of A ∪ B for sorted A, B, as min_i max(A[i-1], B[c-i])."""
    terms = []
    for i in range(max(0, c + 1 - len(B)), min(c + 1, len(A)) + 1):
        a = A[i - 1] if i >= 1 else None
        b = B[c - i] if c - i >= 0 else None
        if a is None:
            terms.append(b)
        elif b is None:
            terms.append(a)
        else:
            terms.append(p.op("max", a, b))
    acc = terms[0]
    for t in terms[1:]:
        acc = p.op("min", acc, t)
    return acc


def median_program(M: int, ranks: list[int]) -> tuple[Prog, list[int]]:
    """Cheapest program found for the given ranks of M inputs."""
    best = None
    cands = [None] + [a for a in (32, 64, 128, 256, 512) if a < M]
    for split in cands:
        p = Prog(M)
        if split is None:
            cmps, om = sorting_network(M)
            vals = p.network(list(range(M)), cmps)
            outs = [vals[om[r]] for r in ranks]
        else:
            ca, oa = sorting_network(split)
            cb, ob = sorting_network(M - split)
            va = p.network(list(range(split)), ca)
            vb = p.network(list(range(split, M)), cb)
            A = [va[oa[r]] for r in range(split)]
            B = [vb[ob[r]] for r in range(M - split)]
            outs = [kth_of_union(p, A, B, r) for r in ranks]
        cost = p.cost(outs)
        if best is None or cost < best[0]:
            best = (cost, p, outs, split)
    return best[1], best[2]


def sort_program(n: int) -> tuple[Prog, list[int]]:
    """A full sort of n inputs (verified): the program and, per rank, its output value."""
    cmps, om = sorting_network(n)
    q = Prog(n)
    vals = q.network(list(range(n)), cmps)
    outs = [vals[om[r]] for r in range(n)]
    verify(q, outs, list(range(n)), n)
    return q, outs


# Sen's interval at alpha >= 0.05 (|z| <= 1.96) needs only the ranks of a band around the median:
# the fused kernel sorts that band (a pruned network) and falls back to the full sort for a
# smaller alpha.  The kernel checks at run time that the band holds every rank it may read.
Z_BAND = -1.96


def interval_band(nb: int, z: float = Z_BAND) -> tuple[int, int]:
    """Network slots [lo, hi] of the interval's ends for every series of 2..nb values at ``z``
    (sen_interval.hpp's interval_ranks; a lane of n values has its rank r at slot
    r + M//2 - N//2, M = nb(nb-1)/2, N = n(n-1)/2).  Ties only narrow the interval (a smaller
    variance), so no ties and a zero variance bound the slots; the median ranks are included."""
    M = nb * (nb - 1) // 2
    c = M // 2
    lo, hi = c - 1, c
    for n in range(2, nb + 1):
        N = n * (n - 1) // 2
        a = c - N // 2
        for ties in (0, n * (n - 1) * (2 * n + 5)):
            sigma = ((1.0 / 18.0) * float(n * (n - 1) * (2 * n + 5) - ties)) ** 0.5
            ru = min(round((N - z * sigma) / 2.0), N - 1)
            rl = max(round((N + z * sigma) / 2.0) - 1, 0)
            lo = min(lo, rl + a, ru + a)
            hi = max(hi, rl + a, ru + a)
    return lo, hi


def verify(p: Prog, outs: list[int], ranks: list[int], M: int, trials: int = 400) -> None:
    rnd = random.Random(M)
    for t in range(trials):
        if t % 3 == 0:
            x = [rnd.randint(0, 4) for _ in range(M)]
        elif t % 3 == 1:
            x = [rnd.random() for _ in range(M)]
        else:
            x = [float(rnd.choice([-1e300, -1.0, 0.0, 2.5, 1e300])) for _ in range(M)]
        got = p.evaluate(x, outs)
        s = sorted(x)
        want = [s[r] for r in ranks]
        assert got == want, (M, ranks, got, want)


# ---------------------------------------------------------------------------------------------
# C++ emission


def emit(p: Prog, outs: list[int], name: str, out_names: list[str], sig: str,
         side: list[str] | None = None, store_early: bool = False) -> str:
    """C++ for the live operations; `side` statements are spread evenly between them.  With
    `store_early` each output is assigned as soon as it is computed (for outputs that cannot
    alias the inputs: the values need not stay live, or spilled, until the end)."""
    need = p.live(outs)
    early: dict[int, list[str]] = {}
    if store_early:
        for nm, o in zip(out_names, outs, strict=True):
            assert o >= p.n_inputs, "an output that is an input is never stored early"
            early.setdefault(o, []).append(nm)
    live_ops = [k for k in range(len(p.ops)) if need[p.n_inputs + k]]
    tmpl = "template <class V, class F>" if side else "template <class V>"
    L = [f"{tmpl}\ninline void {name}({sig}) {{"]
    side = list(side or [])
    every = max(1, len(live_ops) // (len(side) + 1)) if side else 0
    for cnt, k in enumerate(live_ops):
        kind, a, b = p.ops[k]
        vid = p.n_inputs + k
        if side and cnt % every == every - 1:
            L.append("    " + side.pop(0))

        def ref(v: int) -> str:
            return f"x[{v}]" if v < p.n_inputs else f"v{v}"

        expr = f"simd::v{kind}({ref(a)}, {ref(b)})"
        L.append(f"    const V v{vid} = {expr};")
        for nm in early.get(vid, []):
            L.append(f"    {nm} = v{vid};")
    for st in side:
        L.append("    " + st)
    for nm, o in zip(out_names, outs):
        if o in early:
            continue
        L.append(f"    {nm} = {'x[%d]' % o if o < p.n_inputs else 'v%d' % o};")
    L.append("}")
    return "\n".join(L)


def keyed_network(prog: Prog, outs: list[int], r0: int, r1: int, nb: int, side: list[str],
                  name: str, what: str, doc: str, summary: list[str], parts: list[str]) -> None:
    """Verify and emit a keyed network: ranks r0..r1 of nb rows' slopes into y[r - r0]."""
    M = nb * (nb - 1) // 2
    verify(prog, outs, list(range(r0, r1 + 1)), M)
    summary.append(f"//   ranks {r0}..{r1} of {nb} rows' {M} slopes ({what}): "
                   f"{prog.cost(outs)} min/max")
    parts.append(f"// Ranks {r0}..{r1} of x[0..{M}) into y[0..{r1 - r0 + 1}) (y[r - {r0}]: "
                 f"rank r; not overlapping x):\n// {doc}.\n" +
                 emit(prog, outs, f"{name}_{nb}", [f"y[{r - r0}]" for r in range(r0, r1 + 1)],
                      "const V* x, V* __restrict y, F& side", side, store_early=True))


def main() -> None:
    _check_green16()
    NBS = [int(a) for a in sys.argv[1:]] or [4, 8, 12, 16, 19]
    parts = []
    summary = []
    bands = []
    keyed = []
    for nb in NBS:
        M = nb * (nb - 1) // 2
        c = M // 2
        p, outs = median_program(M, [c - 1, c])
        verify(p, outs, [c - 1, c], M)
        cost = p.cost(outs)
        summary.append(f"//   pair median, {nb} rows: {M} slopes, ranks {c - 1} and {c}: {cost} min/max")
        side = [f"side({j * (j - 1) // 2 + i}, {i}, {j});" for j in range(1, nb) for i in range(j)]
        parts.append(f"// Ranks {c - 1} and {c} of x[0..{M}) (the Sen median of {nb} rows).  The\n"
                     f"// calls side(slot, i, j) for every pair i < j (slot = j(j-1)/2 + i) are spread\n"
                     f"// through the network: independent work that overlaps the min/max chain.\n" +
                     emit(p, outs, f"median_pairs_{nb}", ["lo", "hi"],
                          "const V* x, V& lo, V& hi, F& side", side))
        # full sort of the slopes, for Sen's interval (whose ranks differ per lane) and the
        # median from the same network
        q, souts = sort_program(M)
        summary.append(f"//   sort of {nb} rows' {M} slopes: {q.cost(souts)} min/max")
        parts.append(f"// Sorts x[0..{M}) ascending into y (not overlapping x) and sets lo, hi to ranks\n"
                     f"// {c - 1} and {c} (the Sen median of {nb} rows); side() as in median_pairs_{nb}.\n" +
                     emit(q, [*souts, souts[c - 1], souts[c]], f"sort_pairs_{nb}",
                          [*(f"y[{r}]" for r in range(M)), "lo", "hi"],
                          "const V* x, V* __restrict y, V& lo, V& hi, F& side", side,
                          store_early=True))
        # the band of ranks Sen's interval needs at alpha >= 0.05 (and the median)
        b0, b1 = interval_band(nb)
        bouts = [souts[r] for r in range(b0, b1 + 1)]
        verify(q, [*bouts, souts[c - 1], souts[c]], [*range(b0, b1 + 1), c - 1, c], M)
        summary.append(f"//   ranks {b0}..{b1} of {nb} rows' {M} slopes (Sen's interval at "
                       f"|z| <= {-Z_BAND}): {q.cost([*bouts, souts[c - 1], souts[c]])} min/max")
        bands.append((b0, b1))
        if (b0, b1) != (0, M - 1):  # (else band_pairs is sort_pairs)
            parts.append(f"// Ranks {b0}..{b1} of x[0..{M}) into y[0..{b1 - b0 + 1}) "
                         f"(y[r - {b0}]: rank r; not overlapping x),\n"
                         f"// lo, hi as in sort_pairs_{nb}: the band of ranks Sen's interval "
                         f"reads at |z| <= {-Z_BAND}.\n" +
                         emit(q, [*bouts, souts[c - 1], souts[c]], f"band_pairs_{nb}",
                              [*(f"y[{r - b0}]" for r in range(b0, b1 + 1)), "lo", "hi"],
                              "const V* x, V* __restrict y, V& lo, V& hi, F& side", side,
                              store_early=True))
        # keyed networks (trend_fast.hpp's keyed path sorts 32-bit keys that are only
        # monotone in the slopes, and proves each rank it reads by its neighbours' keys):
        # the band widened by one rank on each side, and the median ranks with theirs
        kb0, kb1 = max(b0 - 1, 0), min(b1 + 1, M - 1)
        keyed_network(q, [souts[r] for r in range(kb0, kb1 + 1)], kb0, kb1, nb, side,
                      "key_band_pairs", "keyed band",
                      f"band_pairs_{nb}'s band and one rank beyond each end", summary, parts)
        km0, km1 = max(c - 2, 0), min(c + 1, M - 1)
        pm, mouts = median_program(M, list(range(km0, km1 + 1)))
        keyed_network(pm, mouts, km0, km1, nb, side, "key_median_pairs", "keyed median",
                      "the Sen median's ranks and their neighbours", summary, parts)
        keyed.append((kb0, kb1, km0, km1))
        # full sort of nb values (in place), for the median and ties of the series itself
        q, souts = sort_program(nb)
        summary.append(f"//   sort of {nb} values: {q.cost(souts)} min/max")
        parts.append(f"// Sorts x[0..{nb}) ascending, in place.\n" +
                     emit(q, souts, f"sort_{nb}", [f"y[{r}]" for r in range(nb)],
                          "const V* x, V* y"))
    traits = ["// Networks<NB>: the networks for series of at most NB values, by template parameter.",
              "template <int NB>", "struct Networks;"]
    for nb, (b0, b1), (kb0, kb1, km0, km1) in zip(NBS, bands, keyed, strict=True):
        full = (b0, b1) == (0, nb * (nb - 1) // 2 - 1)
        band = f"sort_pairs_{nb}" if full else f"band_pairs_{nb}"
        traits.append(f"""template <>
struct Networks<{nb}> {{
    static constexpr int kBandLo = {b0};  // band_pairs: ranks kBandLo..kBandHi
    static constexpr int kBandHi = {b1};
    static constexpr int kKeyBandLo = {kb0};  // key_band_pairs: ranks kKeyBandLo..kKeyBandHi
    static constexpr int kKeyBandHi = {kb1};
    static constexpr int kKeyMedianLo = {km0};  // key_median_pairs: ranks kKeyMedianLo..kKeyMedianHi
    static constexpr int kKeyMedianHi = {km1};
    template <class V, class F>
    static void median_pairs(const V* x, V& lo, V& hi, F& side) {{
        median_pairs_{nb}<V, F>(x, lo, hi, side);
    }}
    template <class V, class F>
    static void sort_pairs(const V* x, V* y, V& lo, V& hi, F& side) {{
        sort_pairs_{nb}<V, F>(x, y, lo, hi, side);
    }}
    template <class V, class F>
    static void band_pairs(const V* x, V* y, V& lo, V& hi, F& side) {{
        {band}<V, F>(x, y, lo, hi, side);
    }}
    template <class V, class F>
    static void key_band_pairs(const V* x, V* y, F& side) {{
        key_band_pairs_{nb}<V, F>(x, y, side);
    }}
    template <class V, class F>
    static void key_median_pairs(const V* x, V* y, F& side) {{
        key_median_pairs_{nb}<V, F>(x, y, side);
    }}
    template <class V>
    static void sort(const V* x, V* y) {{
        sort_{nb}<V>(x, y);
    }}
}};""")
    parts.append("\n".join(traits))
    hdr = f"""// GENERATED by tools/gen_sortnet.py ({' '.join(map(str, NBS))}) -- do not edit by hand.
//
// Branch-free min/max networks on SIMD vectors (one pixel per lane).  min/max are
// simd::vmin / simd::vmax (`a < b ? a : b` / `a > b ? a : b`, one minpd/maxpd each; written as
// ternaries, GCC's value numbering takes ~20 s per network per target); inputs never contain
// NaN.  Operation counts:
{chr(10).join(summary)}
#pragma once

#include "mlri/simd.hpp"

namespace mlri {{
inline namespace MLRI_KERNEL_NS {{
namespace net {{

{chr(10).join(parts)}

}}  // namespace net
}}  // namespace MLRI_KERNEL_NS
}}  // namespace mlri
"""
    sys.stdout.write(hdr)


if __name__ == "__main__":
    main()
