// mlri — fast path of the fused trend kernel (included by trend.hpp; uses its detail::).
//
// Applies when T <= kMaxLongRows (64) and the years are finite, strictly increasing, with a finite
// span (so every pairwise slope is a number, never NaN).  Up to kMaxRows (19) values, selection
// networks exist for T <= 4, 8, 12, 16, 19 (below); longer series take the counting selection
// of trend_long.hpp, which shares the blocks, the MK outputs and the Hurst code.
// One block is one SIMD vector of pixels
// (simd::VL lanes); every step is branch-free across lanes:
//   * listwise deletion by blends (a value moves up by the number of missing values before it);
//   * MK: G = #{i<j: y_j > y_i} from the pairs, ties and the number E of tied pairs from a sorted
//     copy of the series, S = 2G - (K - E) (K = n(n-1)/2), all exact;
//   * Sen: the n(n-1)/2 slopes in j-major slot order, so a lane's valid pairs are exactly slots
//     [0, K); the other slots get -inf or +inf so that every lane's median lands on the same two
//     ranks, which a fixed min/max network (sortnet.hpp) selects;
//   * the median of y (intercept) from the same sorted copy, the median of t - t0 by index;
//   * Hurst (expanding) with the generic path's arithmetic on whole vectors;
//   * on request, Sen's slope interval: the network then sorts the slopes fully (interval_block).
// On AVX2 and AVX-512 the networks order 32-bit keys of the slopes, two blocks at a time
// (run_chunk_keyed): each rank read is proven exact from the keys or taken from the doubles.
// Each lane performs exactly the floating-point operations of the generic path, and selection
// networks return the same order statistics as its quickselect, so results are bit-identical.
// The one thing min/max networks do not preserve is which of -0.0 / +0.0 sits at a rank: that
// cannot show in Sen's slope (a zero median is normalised to +0.0, and (lo + hi) / 2 of zeros is
// a zero), but it could in the intercept, so lanes with a -0.0 in y take the generic median of y.
//
// Software pipelining: the 171 divisions of a block's slopes would queue on the divider, so
// they are computed for the *next* block inside the min/max network of the current one (the
// network's `side` calls).  Blocks are processed in chunks of kChunk per OpenMP work item.
//
// Hard-won notes: keeping the Hurst loops, or only their sqrt/div/log tails, inside the network
// was measured slower (the network is min/max-throughput bound); so was splitting the Hurst
// window loop into a sums pass and a tails pass.
#pragma once

#include "mlri/common.hpp"
#include "mlri/sen_interval.hpp"
#include "mlri/simd.hpp"
#include "mlri/sortnet.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {
namespace fastpath {

using simd::vd;
using simd::vi;
using simd::VL;

// Sizes of the fast path for series of at most NB values (one set of networks per NB).
template <int NB>
struct Dims {
    static constexpr int kRows = NB;                        // series length bound
    static constexpr int kPairs = NB * (NB - 1) / 2;        // pairwise slopes (171 for 19)
    static constexpr int kPairRank = kPairs / 2;            // median ranks kPairRank-1, kPairRank
    static constexpr int kRowRank = NB / 2;                 // median ranks kRowRank-1, kRowRank
};
#define MLRI_FAST_DIMS                                      \
    constexpr int kRows = Dims<NB>::kRows;                  \
    constexpr int kPairs = Dims<NB>::kPairs;                \
    constexpr int kPairRank = Dims<NB>::kPairRank;          \
    constexpr int kRowRank = Dims<NB>::kRowRank;            \
    (void)kRows;                                            \
    (void)kPairs;                                           \
    (void)kPairRank;                                        \
    (void)kRowRank;
inline constexpr int kMaxRows = 19;                       // longest series of the network path
inline constexpr int kMaxLongRows = 64;                   // longest series of the long path
inline constexpr int kChunk = 1024 / VL;                  // blocks per scheduling unit
inline bool applicable(int Tn, const double* years) {
    if (Tn > kMaxLongRows) return false;
    for (int t = 0; t < Tn; ++t)
        if (!isfin(years[t])) return false;
    for (int t = 1; t < Tn; ++t)
        if (!(years[t] > years[t - 1])) return false;
    if (Tn > 1 && !isfin(years[Tn - 1] - years[0])) return false;
    return true;
}

// Memo of erfc (a pure function): MK p-values repeat a lot (S and the tie pattern take few
// values) and libm's erfc costs more than the rest of the MK statistics.  One per thread.
struct ErfcMemo {
    static constexpr int kBits = 11;
    Buffer<std::uint64_t> key;
    Buffer<double> val;
    ErfcMemo() {
        key.assign(std::size_t(1) << kBits, ~std::uint64_t(0));  // sign bit set: never a key
        val.assign(std::size_t(1) << kBits, 0.0);
    }
    double operator()(double a) {  // a = |z|/sqrt(2): sign bit clear
        std::uint64_t b;
        __builtin_memcpy(&b, &a, sizeof b);
        const std::size_t h = static_cast<std::size_t>((b * 0x9E3779B97F4A7C15ULL) >> (64 - kBits));
        if (key[h] == b) return val[h];
        const double r = std::erfc(a);
        key[h] = b;
        val[h] = r;
        return r;
    }
};

// State of one block of VL pixels.
template <int NB>
struct Block {
    static constexpr int kRows = Dims<NB>::kRows;
    static constexpr int kPairs = Dims<NB>::kPairs;
    index_t p0 = 0;
    int nl = 0;
    int n[VL];
    bool negzero[VL];
    int nmax = 0, nmin = 0;
    double t_ref = 0.0;  // years[0]: the Sen intercept's reference year (all pixels)
    vd yv[kRows + 1], tv[kRows + 1];  // compacted values / years; rows >= n are 0
    vd nv, Kv, KAv, NBv;              // n, K = n(n-1)/2, K + a (-inf slots end), n + b
    vi kodd, nodd, few;               // K odd, n odd, n < 2 (lane masks)
    vi g0, g1;                        // -G, two accumulators
    vd x[Dims<NB>::kPairs];           // slopes; missing pairs -inf / +inf (see pads_and_g)
};

// Listwise deletion and the per-lane constants of one block.
template <int NB, class T>
void load(Block<NB>& B, const T* y, index_t P, int Tn, const double* years, index_t p0, int nl) {
    MLRI_FAST_DIMS
    B.p0 = p0;
    B.nl = nl;
    B.t_ref = years[0];
    vd src[kRows];
    vi srcok[kRows], before[kRows];
    vi miss = vi{}, nzv = vi{};
    for (int t = 0; t < Tn; ++t) {
        const T* row = y + static_cast<index_t>(t) * P + p0;
        // 19 row streams: more than the hardware prefetchers follow reliably
        if (((p0 * static_cast<index_t>(sizeof(T))) & 63) == 0)  // (never faults, even past the end)
            __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(row) + 512));
        vd v;
        if (nl == VL) {
            v = simd::load<T>(row);
        } else {
            T tmp[VL];
            for (int l = 0; l < VL; ++l) tmp[l] = l < nl ? row[l] : static_cast<T>(kNaN);
            v = simd::load<T>(tmp);
        }
        const vi ok = simd::isfinite(v);
        nzv = nzv | (ok & simd::mask(v == 0.0) & simd::mask((vi)v < 0));
        src[t] = v;
        srcok[t] = ok;
        before[t] = miss;
        miss = miss - ~ok;  // +1 where missing
    }
    int D = 0;
    B.nmax = 0;
    B.nmin = kRows;
    double nd[VL], kd[VL], kad[VL], bd[VL];
    long long kodd[VL], nodd[VL], few[VL];
    for (int l = 0; l < VL; ++l) {
        const int ms = static_cast<int>(miss[l]);
        const int nn = Tn - ms;
        D = ms > D ? ms : D;
        B.n[l] = nn;
        B.negzero[l] = nzv[l] != 0;
        B.nmax = nn > B.nmax ? nn : B.nmax;
        B.nmin = nn < B.nmin ? nn : B.nmin;
        const int K = nn * (nn - 1) / 2;
        nd[l] = nn;
        kd[l] = K;
        kad[l] = K + (kPairRank - K / 2);     // slots [K, K+a) get -inf, the rest +inf
        bd[l] = nn + (kRowRank - nn / 2);      // rows  [n, n+b) get -inf, the rest +inf
        kodd[l] = (K & 1) ? -1 : 0;
        nodd[l] = (nn & 1) ? -1 : 0;
        few[l] = nn < 2 ? -1 : 0;
    }
    __builtin_memcpy(&B.nv, nd, sizeof(vd));
    __builtin_memcpy(&B.Kv, kd, sizeof(vd));
    __builtin_memcpy(&B.KAv, kad, sizeof(vd));
    __builtin_memcpy(&B.NBv, bd, sizeof(vd));
    __builtin_memcpy(&B.kodd, kodd, sizeof(vi));
    __builtin_memcpy(&B.nodd, nodd, sizeof(vi));
    __builtin_memcpy(&B.few, few, sizeof(vi));
    for (int r = 0; r <= (Tn < kRows ? Tn : kRows); ++r) {  // (rows above Tn stay 0)
        B.yv[r] = vd{};
        B.tv[r] = vd{};
    }
    if (D == 0) {
        for (int r = 0; r < Tn; ++r) {
            B.yv[r] = src[r];
            B.tv[r] = simd::splat(years[r]);
        }
    } else {
        for (int r = 0; r < B.nmax; ++r) {
            vd a = vd{}, b = vd{};
            const int smax = (Tn - 1 - r) < D ? (Tn - 1 - r) : D;
            for (int s = 0; s <= smax; ++s) {
                const int t = r + s;
                const vi m = srcok[t] & simd::mask(before[t] == s);
                a = simd::sel(m, src[t], a);
                b = simd::sel(m, simd::splat(years[t]), b);
            }
            B.yv[r] = a;
            B.tv[r] = b;
        }
    }
    B.g0 = vi{};
    B.g1 = vi{};
}

// Slope of pair (i < j, slot = j(j-1)/2 + i) of block B, for every lane (lanes whose row j
// is missing get garbage here and padding in pads_and_g).  This is the side work interleaved
// with the previous block's network: the divisions then overlap the min/max chain.
// It also counts d > 0 for MK in every lane; pads_and_g(.., side_g = true) then removes the
// lanes whose row j is missing.
template <int NB>
struct SlopeWork {
    Block<NB>* B;
    vi g0 = vi{}, g1 = vi{};
    __attribute__((always_inline)) inline void operator()(int slot, int i, int j) {
        Block<NB>& b = *B;
        const vd d = b.yv[j] - b.yv[i];
        b.x[slot] = d / (b.tv[j] - b.tv[i]);
        if (slot & 1)
            g1 = g1 + simd::mask(d > 0.0);
        else
            g0 = g0 + simd::mask(d > 0.0);
    }
};

template <int NB>
inline void all_slopes(Block<NB>* B) {
    MLRI_FAST_DIMS
    SlopeWork<NB> w{B};
    for (int j = 1; j < kRows; ++j)
        for (int i = 0; i < j; ++i) w(j * (j - 1) / 2 + i, i, j);
}

// Padding of the slots of missing pairs (-inf / +inf, see Block::KAv) and the MK count G
// (B.g0/g1 hold the all-lane counts of SlopeWork when side_g).
template <int NB>
inline void pads_and_g(Block<NB>& B, bool mk, bool sen, bool side_g) {
    MLRI_FAST_DIMS
    vi g0 = vi{}, g1 = vi{};
    if (side_g) {  // (not a ?: on vectors: GCC 12 ICEs on it for SSE2)
        g0 = B.g0;
        g1 = B.g1;
    }
    const vd pinf = simd::splat(kInf), minf = simd::splat(-kInf);
    for (int j = 1; j < kRows; ++j) {
        const int base = j * (j - 1) / 2;
        if (j >= B.nmax && !(mk && side_g)) {  // no lane has row j
            if (sen)
                for (int i = 0; i < j; ++i)
                    B.x[base + i] = static_cast<double>(base + i) < B.KAv ? minf : pinf;
            continue;
        }
        const vd yj = B.yv[j];
        if (j < B.nmin) {  // row j valid in every lane
            if (mk && !side_g)
                for (int i = 0; i < j; ++i) {
                    const vd d = yj - B.yv[i];
                    if (i & 1)
                        g1 = g1 + simd::mask(d > 0.0);
                    else
                        g0 = g0 + simd::mask(d > 0.0);
                }
            continue;
        }
        const vi jm = simd::mask(static_cast<double>(j) < B.nv);
        for (int i = 0; i < j; ++i) {
            if (mk) {
                const vd d = yj - B.yv[i];
                if (side_g)  // remove what SlopeWork counted in lanes without row j
                    g0 = g0 - (simd::mask(d > 0.0) & ~jm);
                else if (i & 1)
                    g1 = g1 + (simd::mask(d > 0.0) & jm);
                else
                    g0 = g0 + (simd::mask(d > 0.0) & jm);
            }
            if (sen) {
                const vd pad = static_cast<double>(base + i) < B.KAv ? minf : pinf;
                B.x[base + i] = simd::sel(jm, B.x[base + i], pad);
            }
        }
    }
    B.g0 = g0;
    B.g1 = g1;
}

// Pixels (lanes) of block b of P pixels.
inline int block_lanes(index_t P, index_t b) {
    const index_t p0 = b * VL;
    return static_cast<int>((P - p0) < VL ? (P - p0) : VL);
}

// Store the first nl lanes of v at p (unaligned).
inline void store(double* p, vd v, int nl) {
    if (nl == VL) {
        __builtin_memcpy(p, &v, sizeof v);
    } else {
        for (int l = 0; l < nl; ++l) p[l] = v[l];
    }
}

// The MK outputs of block B from S and the tie term sum_g t(t-1)(2t+5) (both exact integers
// in double): var S, Z and p with the generic path's operations; NaN where n < 2.
template <int NB>
inline void store_mk(const Block<NB>& B, vd Sd, vd tiev, const TrendOutputs& out,
                     ErfcMemo& memo) {
    const vd nv = B.nv;
    const vd var18 = nv * (nv - 1.0) * (2.0 * nv + 5.0) - tiev;
    const vd var = var18 / 18.0;
    const vd sq = simd::vsqrt(var);
    const vd zp = (Sd - 1.0) / sq, zn = (Sd + 1.0) / sq;
    const vd z = Sd > 0.0 ? zp : (Sd < 0.0 ? zn : vd{});
    const vi few = B.few;  // n < 2: undefined
    const vd nan = simd::splat(kNaN);
    if (out.s) store(out.s + B.p0, simd::sel(few, nan, Sd), B.nl);
    if (out.var_s) store(out.var_s + B.p0, simd::sel(few, nan, var), B.nl);
    if (out.z) store(out.z + B.p0, simd::sel(few, nan, z), B.nl);
    if (out.p) {
        vd p;
        for (int l = 0; l < VL; ++l)
            p[l] = B.n[l] < 2 ? kNaN : memo(fabs_(z[l]) / 1.41421356237309504880);
        store(out.p + B.p0, p, B.nl);
    }
}

// Sen's intercept of block B: median(y) - Q * median(t - t0), my: the median of y by value
// (from a selection or a network, which may not keep a zero's sign), Q: Sen's slope.  The
// median of t - t0 over the valid (compacted, increasing) years; lanes with a -0.0 in y take
// the generic median of y, which keeps its sign of zero.  NaN where n < 2.
template <int NB>
inline void store_intercept(const Block<NB>& B, vd my, vd Q, const TrendOutputs& out) {
    vd mt, m_y = my;
    for (int l = 0; l < VL; ++l) {
        const int nn = B.n[l];
        const int h = nn / 2;
        const double t0 = B.t_ref;  // common reference year (years[0]) for every pixel
        const double thi = B.tv[h][l] - t0;
        mt[l] = (nn & 1) ? thi : ((B.tv[h > 0 ? h - 1 : 0][l] - t0) + thi) / 2.0;
        if (B.negzero[l] && nn >= 2) {
            double tmp[NB];
            for (int i = 0; i < nn; ++i) tmp[i] = B.yv[i][l];
            m_y[l] = detail::median_inplace(tmp, nn);
        }
    }
    store(out.intercept + B.p0, simd::sel(B.few, simd::splat(kNaN), m_y - Q * mt), B.nl);
}

// Hurst exponent by R/S of one block, on the compacted series yv/tv (rows >= n[l] are 0);
// arrays hold up to NR rows.  The same operations as the generic path, on whole vectors.
template <int NR>
inline void hurst_block(const vd* yv, const vd* tv, const int* n, vd nv, int nl, index_t p0,
                        const HurstOptions& ho, double* hout, const double* lnt) {
    const bool diff = ho.series == kSeriesDiff;
    int m[VL];
    int mmax = 0;
    for (int l = 0; l < VL; ++l) {
        m[l] = diff ? (n[l] > 0 ? n[l] - 1 : 0) : n[l];
        if (l < nl) mmax = m[l] > mmax ? m[l] : mmax;
    }
    // m as doubles from the block's n vector (nv[l] == n[l]), not from the array m: a vector
    // load of eight scalar stores just made cannot be forwarded and stalled this function
    vd mv = nv;
    if (diff) mv = nv > 0.0 ? nv - 1.0 : vd{};
    vd u[NR + 1], w[NR + 1];
    vd amax = vd{};
    for (int k = 0; k < mmax; ++k) {
        vd v;
        if (diff) {
            const vd dy = yv[k + 1] - yv[k];
            if (ho.gap == kGapRate) {
                const vd dt = tv[k + 1] - tv[k];
                v = dy / dt;
            } else {
                v = dy;
            }
        } else {
            v = yv[k];
        }
        const vi in = simd::mask(static_cast<double>(k) < mv);
        u[k] = simd::sel(in, v, vd{});
        const vd a = simd::vabs(u[k]);
        amax = simd::sel(in, a > amax ? a : amax, amax);  // (k < m && a > amax) ? a : amax
    }
    const vd scl = amax > 0.0 ? amax : simd::splat(1.0);
    for (int k = 0; k < mmax; ++k) {
        const vi in = simd::mask(static_cast<double>(k) < mv);
        w[k] = simd::sel(in, (u[k] - u[0]) / scl, vd{});
    }
    if (ho.method == kHurstSegmented) {
        double tmp[NR + 1];
        for (int l = 0; l < nl; ++l) {
            for (int k = 0; k < m[l]; ++k) tmp[k] = w[k][l];
            hout[p0 + l] = detail::hurst_segmented(tmp, m[l], ho.corrected);
        }
        return;
    }
    vd lnrs[NR + 1];
    vi okm[NR + 1];
    vi anydeg = vi{};
    const int tau0 = ho.tau_min < 2 ? 2 : ho.tau_min;
    const double ddof = ho.ddof;
    // sums of w[0..tau): the generic path adds them from 0.0 in order for every tau, which
    // is exactly this prefix sum
    vd pre[NR + 1];
    pre[0] = vd{};
    for (int k = 0; k < mmax; ++k) pre[k + 1] = pre[k] + w[k];
    // Means by products with 1/tau and ln(R/S) as ln(R^2 / S^2) / 2 with the division-free
    // log_pos (the generic path's arithmetic): one division per window length, where there
    // were four (mean, variance, R/S, the log's own) and a sqrt; the divider, shared with sqrt,
    // bounded this code (trend kernel at 19 years, 2 threads: 129 -> 118 ns/px).
    // Each window length's range and sum of squares first, then ln(R/S) of all of them in a
    // loop of independent iterations (divide and log form one long dependency chain per
    // window length).  With the grouping below: 0.289 -> 0.273 CPU-us/px for the whole trend
    // kernel at 19 years (AVX-512, one thread).
    vd rng[NR + 1], sq[NR + 1];
    auto close = [&](int tau, vd mx, vd mn, vd ssq) __attribute__((always_inline)) {
        rng[tau] = mx - mn;
        sq[tau] = ssq;
    };
    // Window lengths go by four: one sweep over w feeds four independent accumulator chains
    // (one chain at a time is bound by the latency of its running sum).  Each chain still
    // adds its terms in the order k = 0, 1, ..: the same bits.
    constexpr int G = 4;
    int tau = tau0;
    for (; NR >= 2 + G - 1 && tau + G - 1 <= mmax; tau += G) {  // (no group fits NR = 4)
        vd mean[G], cum[G], mx[G], mn[G], ssq[G];
        for (int i = 0; i < G; ++i) {
            mean[i] = pre[tau + i] * (1.0 / (tau + i));
            cum[i] = mx[i] = mn[i] = ssq[i] = vd{};
        }
        auto step = [&](int i, vd wk) __attribute__((always_inline)) {
            const vd d = wk - mean[i];
            cum[i] = cum[i] + d;
            mx[i] = cum[i] > mx[i] ? cum[i] : mx[i];
            mn[i] = cum[i] < mn[i] ? cum[i] : mn[i];
            ssq[i] = ssq[i] + d * d;
        };
        for (int k = 0; k < tau; ++k)
            for (int i = 0; i < G; ++i) step(i, w[k]);
        for (int i = 1; i < G; ++i)  // the longer windows' last terms
            for (int k = tau; k < tau + i; ++k) step(i, w[k]);
        for (int i = 0; i < G; ++i) close(tau + i, mx[i], mn[i], ssq[i]);
    }
    for (; tau <= mmax; ++tau) {
        const vd mean = pre[tau] * (1.0 / tau);
        vd cum = vd{}, mx = vd{}, mn = vd{}, ssq = vd{};
        for (int k = 0; k < tau; ++k) {
            const vd d = w[k] - mean;
            cum = cum + d;
            mx = cum > mx ? cum : mx;
            mn = cum < mn ? cum : mn;
            ssq = ssq + d * d;
        }
        close(tau, mx, mn, ssq);
    }
    const double rel_tol2 = ho.rel_tol * ho.rel_tol;
    for (int t = tau0; t <= mmax; ++t) {
        const vi in = simd::mask(static_cast<double>(t) <= mv);
        const vd v = sq[t] * (1.0 / (t - ddof));  // S^2
        const vd R = rng[t];
        const vi deg = ~(simd::mask(v > rel_tol2) & simd::mask(R > 0.0));
        lnrs[t] = simd::sel(deg, simd::splat(1.0), (R * R) / v);
        okm[t] = in & ~deg;
        anydeg = anydeg | (in & deg);
    }
    if (mmax >= tau0) {
        simd::log_pos_n<NR + 1>(lnrs + tau0, mmax - tau0 + 1);  // (their chains overlap)
        for (int t = tau0; t <= mmax; ++t) lnrs[t] = 0.5 * lnrs[t];
    }
    // OLS slope of ln(R/S) on ln(tau), two-pass
    vd cnt = vd{}, sx = vd{}, sy = vd{};
    for (int tau = tau0; tau <= mmax; ++tau) {
        const vi o = okm[tau];
        cnt = cnt + simd::sel(o, simd::splat(1.0), vd{});
        sx = sx + simd::sel(o, simd::splat(lnt[tau]), vd{});
        sy = sy + simd::sel(o, lnrs[tau], vd{});
    }
    const vd c = cnt > 0.0 ? cnt : simd::splat(1.0);
    const vd mxv = sx / c, myv = sy / c;
    vd sxy = vd{}, sxx = vd{};
    for (int tau = tau0; tau <= mmax; ++tau) {
        const vi o = okm[tau];
        const vd dx = lnt[tau] - mxv;
        const vd dy = lnrs[tau] - myv;
        sxy = sxy + simd::sel(o, dx * dy, vd{});
        sxx = sxx + simd::sel(o, dx * dx, vd{});
    }
    const vd h = sxy / sxx;
    vi bad = simd::mask(cnt < static_cast<double>(ho.min_points)) | ~simd::mask(sxx > 0.0);
    if (ho.degenerate == kDegenerateNaN) bad = bad | anydeg;
    store(hout + p0, simd::sel(bad, simd::splat(kNaN), h), nl);
}

// Per lane, the ranks (0-based among the lane's K valid slopes) of the ends of Sen's interval,
// sen_interval.hpp's interval_ranks with the ties tie18 = sum_groups k(k-1)(2k+5) of MK; the
// returned mask marks the lanes that have an interval (n >= 2, ranks in range, lane < nl), and
// rl, ru are 0 in the others.  The same operations as interval_ranks on whole vectors (its
// integer terms are exact in double for n <= 64); nearbyint by simd::round_small_to_int, on
// values clamped to +-2^50 (beyond, only the comparisons with 0 and N - 1 below matter).
inline vi interval_lane_ranks(const int* n, int nl, vd tie18, double z, vi& rl, vi& ru) {
    double nd[VL];
    long long act[VL];
    for (int l = 0; l < VL; ++l) {
        nd[l] = n[l];
        act[l] = (l < nl && n[l] >= 2) ? -1 : 0;
    }
    vd nv;
    vi ok;
    __builtin_memcpy(&nv, nd, sizeof nv);
    __builtin_memcpy(&ok, act, sizeof ok);
    const vd N = nv * (nv - 1.0) * 0.5;
    const vd sigsq = (1.0 / 18.0) * (nv * (nv - 1.0) * (2.0 * nv + 5.0) - tie18);
    const vd zs = z * simd::vsqrt(sigsq);
    const vd ru_f = (N - zs) / 2.0;
    const vd rl_f = (N + zs) / 2.0;
    ok = ok & simd::isfinite(ru_f) & simd::isfinite(rl_f);  // negative variance: scipy's NaN
    const vd big = simd::splat(1125899906842624.0);  // 2^50
    auto nearest = [&](vd x) __attribute__((always_inline)) {
        return simd::round_small_to_int(simd::vmax(simd::vmin(x, big), -big));
    };
    const vi Ni = simd::round_small_to_int(N);
    vi u = nearest(ru_f), lo = nearest(rl_f) - 1;
    u = simd::seli(simd::mask(u < Ni - 1), u, Ni - 1);
    lo = simd::seli(simd::mask(lo > 0), lo, vi{});
    ok = ok & ~(simd::mask(u < 0) | simd::mask(lo > Ni - 1));  // scipy: IndexError
    rl = lo & ok;
    ru = u & ok;
    return ok;
}

// Sen's slope interval of block B (sen_interval.hpp's definition, bit for bit: both ends are
// order statistics).  at(l, r): rank r of lane l's slots B.x, from the network that also gives
// the median (DoubleRanks: `sorted`, the ranks first.. of B.x; KeyRanks: the keyed path's), so
// the per-lane ranks of the interval are two reads (+0.10 CPU-us/px at 19 years on
// AVX-512, one thread, for a full sort, against +0.25 for the counting selection after the
// median network that it replaced): a full sort (sort_pairs, first = 0: 4844 min/max at 19
// rows against 3349 for the median alone), or, when band_holds_interval, only the band of
// ranks the interval can need (band_pairs, first = kBandLo: 4246 min/max).  tie18: per lane
// sum_groups k(k-1)(2k+5) from the sorted copy of the series.  A lane's valid rank r sits at
// slot r + a, a = its -inf padding (kPairRank - K/2 slots, see pads_and_g).  A sorting
// network may put either sign of a zero at a rank: both ends are written as +0.0 then.
template <int NB, class At>
inline void interval_block(const Block<NB>& B, const At& at, vd tie18, double z,
                           const TrendOutputs& out) {
    constexpr int kPairRank = Dims<NB>::kPairRank;
    vi rl, ru;
    const vi ok = interval_lane_ranks(B.n, B.nl, tie18, z, rl, ru);
    vd lo, hi;
    for (int l = 0; l < VL; ++l) {
        lo[l] = kNaN;
        hi[l] = kNaN;
        if (!ok[l]) continue;
        const long long a = kPairRank - (B.n[l] * (B.n[l] - 1) / 2) / 2;
        lo[l] = at(l, rl[l] + a);
        hi[l] = at(l, ru[l] + a);
    }
    lo = lo == 0.0 ? vd{} : lo;
    hi = hi == 0.0 ? vd{} : hi;
    store(out.sen_low + B.p0, lo, B.nl);
    store(out.sen_high + B.p0, hi, B.nl);
}

// True when every rank the interval can read at z lies in the band of band_pairs: for every
// series length n = 2..NB, the ranks at the largest variance (no ties) and at a zero variance
// (interval_ranks is monotone in the variance, so ties keep a lane's ranks between these).
// Then band_pairs replaces the full sort (always at |z| <= 1.96, i.e. alpha >= 0.05).
template <int NB>
inline bool band_holds_interval(double z) {
    constexpr int kPairRank = Dims<NB>::kPairRank;
    for (std::int64_t n = 2; n <= NB; ++n) {
        const std::int64_t a = kPairRank - (n * (n - 1) / 2) / 2;
        const std::int64_t ties[2] = {0, n * (n - 1) * (2 * n + 5)};
        for (const std::int64_t t : ties) {
            std::int64_t rl = 0, ru = 0;
            if (!sen_ci_detail::interval_ranks(n, t, z, rl, ru)) continue;  // NaN: no read
            const std::int64_t lo = (rl < ru ? rl : ru) + a, hi = (rl < ru ? ru : rl) + a;
            if (lo < net::Networks<NB>::kBandLo || hi > net::Networks<NB>::kBandHi) return false;
        }
    }
    return true;
}

// Ranks first.. of a block's slots, sorted by a double network: at(l, r) is rank r of lane l.
struct DoubleRanks {
    const vd* sorted;
    int first;
    double operator()(int l, long long r) const { return sorted[r - first][l]; }
};

// Everything after the pairs: medians, ties, outputs, Hurst.  lo/hi: network ranks
// kPairRank - 1 and kPairRank of B.x; at: its ranks for the interval (when requested).
template <int NB, class At>
inline void finish(Block<NB>& B, vd lo, vd hi, const At& at, const TrendOptions& opt,
                   const TrendOutputs& out, const double* lnt, ErfcMemo& erfc_memo) {
    MLRI_FAST_DIMS
    const bool doMK = (opt.compute & kDoMK) != 0;
    const bool doSen = (opt.compute & kDoSen) != 0;
    const bool doCI = out.sen_low != nullptr;  // (the caller requests it with both pointers)
    const index_t p0 = B.p0;
    const int nl = B.nl;
    const vd* const yv = B.yv;  // (not local copies: GCC copied them with rep movsq, ~13 % of
    const vd* const tv = B.tv;  // this function on AMD Zen 4)
    const vd nv = B.nv;
    const vd pinf = simd::splat(kInf), minf = simd::splat(-kInf);

    if (out.n_valid)
        for (int l = 0; l < nl; ++l) out.n_valid[p0 + l] = B.n[l];

    vd Q = vd{};
    if (doSen) {
        const vd q = simd::sel(B.kodd, hi, (lo + hi) / 2.0);
        Q = q == 0.0 ? vd{} : q;  // no negative zero
    }

    // sorted copy of the series (missing rows -inf/+inf so the median ranks are fixed):
    // ties for var S, tied pairs E, and the median of y
    vd tiev = vd{}, Ev = vd{}, my = vd{};
    if (doMK || doCI || (doSen && out.intercept)) {
        vd ys[kRows], ss[kRows];
        for (int k = 0; k < kRows; ++k) {
            const double kk = k;
            ys[k] = kk < nv ? yv[k] : (kk < B.NBv ? minf : pinf);
        }
        net::Networks<NB>::template sort<vd>(ys, ss);
        if (doMK || doCI) {
            // runs of equal values (the padding never compares equal: inf - inf is NaN);
            // sum_g t(t-1)(2t+5) = sum over positions of 6(r^2 - 1), E = sum_g t(t-1)/2 =
            // sum (r - 1), r = current run length
            vd r = simd::splat(1.0);
            for (int k = 1; k < kRows; ++k) {
                const vd d = ss[k] - ss[k - 1];
                r = d == 0.0 ? r + 1.0 : simd::splat(1.0);
                tiev = tiev + 6.0 * (r * r - 1.0);
                Ev = Ev + (r - 1.0);
            }
        }
        my = simd::sel(B.nodd, ss[kRowRank], (ss[kRowRank - 1] + ss[kRowRank]) / 2.0);
    }

    if (doMK) {
        const vd Gv = simd::small_int_to_double(-(B.g0 + B.g1));
        store_mk(B, 2.0 * Gv - (B.Kv - Ev), tiev, out, erfc_memo);
    }
    if (doSen) {
        const vi few = B.few;
        const vd nan = simd::splat(kNaN);
        if (out.slope) store(out.slope + p0, simd::sel(few, nan, Q), nl);
        if (out.intercept) store_intercept(B, my, Q, out);
    }

    if (doCI) interval_block(B, at, tiev, opt.sen_z, out);

    if ((opt.compute & kDoHurst) && out.hurst)
        hurst_block<kRows>(yv, tv, B.n, B.nv, nl, p0, opt.hurst, out.hurst, lnt);
}

// Blocks [b0, b1) in order, with the next block's pairs computed inside the current network.
template <int NB, class T>
void run_chunk(Block<NB>* st, index_t b0, index_t b1, const T* y, index_t P, int Tn,
               const double* years, const TrendOptions& opt, const TrendOutputs& out,
               const double* lnt, ErfcMemo& memo, bool band) {
    const bool doMK = (opt.compute & kDoMK) != 0;
    const bool doSen = (opt.compute & kDoSen) != 0;
    const bool doCI = out.sen_low != nullptr;  // (only with MK and Sen, see fused_trend)
    vd sorted[Dims<NB>::kPairs];  // the current block's slopes, sorted from rank `first` (doCI)
    const int first = band ? net::Networks<NB>::kBandLo : 0;
    Block<NB>* cur = &st[0];
    Block<NB>* nxt = &st[1];
    load<NB, T>(*cur, y, P, Tn, years, b0 * VL, block_lanes(P, b0));
    if (doSen) all_slopes(cur);
    if (doMK || doSen) pads_and_g(*cur, doMK, doSen, false);
    for (index_t b = b0; b < b1; ++b) {
        const bool more = b + 1 < b1;
        if (more) load<NB, T>(*nxt, y, P, Tn, years, (b + 1) * VL, block_lanes(P, b + 1));
        vd lo = vd{}, hi = vd{};
        if (doSen) {
            SlopeWork<NB> w{nxt};  // the next block's slopes (garbage after the last block)
            if (doCI && band)  // the ranks the interval can need, into `sorted`
                net::Networks<NB>::template band_pairs<vd>(cur->x, sorted, lo, hi, w);
            else if (doCI)  // every rank, for the interval's per-lane ranks
                net::Networks<NB>::template sort_pairs<vd>(cur->x, sorted, lo, hi, w);
            else
                net::Networks<NB>::template median_pairs<vd>(cur->x, lo, hi, w);
            nxt->g0 = w.g0;
            nxt->g1 = w.g1;
        }
        if (more && (doMK || doSen)) pads_and_g(*nxt, doMK, doSen, doSen);
        finish(*cur, lo, hi, DoubleRanks{sorted, first}, opt, out, lnt, memo);
        Block<NB>* t = cur;
        cur = nxt;
        nxt = t;
    }
}

#if defined(MLRI_KEYED_NETWORKS)
// ---- keyed path: the networks order 32-bit keys of two blocks at once ----------------------
// The key of slot s (slope x) is (V(x) << 8) | s, V(x) = the top 24 bits of float(x + 0.0)'s
// bits mapped to an order-preserving signed integer: V is monotone (x <= y gives V(x) <= V(y))
// and the slot makes every key distinct, so a network sorts the keys into an order of the
// slopes that is right wherever V differs.  A rank r whose V differs from its neighbours' (the
// networks return ranks r - 1 and r + 1 too) holds exactly the rank-r slope, read back as a
// double through its slot: the same order statistic the double networks select.  Where V is
// shared (slopes within ~2^-15 of each other, equal ones, overflowed floats) the run of
// equal V is ordered by the doubles themselves; a run that may go on beyond the returned ranks
// is taken whole from the unsorted keys (equal slopes are common: MLRI is exactly 1 in every
// year that sets both running extremes, so zero slopes sit at the interval's low end).
template <int NB>
inline void make_keys(const Block<NB>& A, const Block<NB>& B, simd::vk* K) {
    MLRI_FAST_DIMS
    const simd::vk lo31 = simd::vk{} + 0x7fffffff, top24 = simd::vk{} + ~0xff;
    for (int s = 0; s < kPairs; ++s) {
        const simd::vf2 f = simd::to_floats(A.x[s], B.x[s]) + 0.0f;  // (-0.0 keys as +0.0)
        const simd::vk b = (simd::vk)f;
        const simd::vk o = b ^ ((b >> 31) & lo31);  // order-preserving: floats as signed ints
        K[s] = (o & top24) | s;
    }
}

// Ranks first..last of the keys of two blocks (ks, the network's output; keys, its input):
// at(l, r) is rank r of lane l of block `half` (its slots B.x), exact (see above).
template <int NB>
struct KeyRanks {
    const simd::vk* ks;
    const simd::vk* keys;
    int first, last, half;
    const Block<NB>* B;
    double operator()(int l, long long r) const {
        constexpr int kPairs = Dims<NB>::kPairs;
        const int L = half * VL + l;
        if (r < first || r > last) return exact(l, r);
        const int k = ks[r - first][L], v = k >> 8;
        long long a = r, b = r;
        while (a > first && (ks[a - 1 - first][L] >> 8) == v) --a;
        while (b < last && (ks[b + 1 - first][L] >> 8) == v) ++b;
        if (a == b) return B->x[k & 0xff][l];
        if ((a == first && first > 0) || (b == last && last < kPairs - 1))
            return whole_run(L, l, r, v);  // the run may go on beyond the returned ranks
        double g[kPairs];
        const int m = static_cast<int>(b - a + 1);
        for (int i = 0; i < m; ++i) g[i] = B->x[ks[a + i - first][L] & 0xff][l];
        return detail::kth_smallest(g, m, static_cast<int>(r - a));
    }
    // Rank r in the run of V == v: the slots below it are counted, the run's own slopes
    // selected from.
    double whole_run(int L, int l, long long r, int v) const {
        constexpr int kPairs = Dims<NB>::kPairs;
        double g[kPairs];
        int below = 0, m = 0;
        for (int s = 0; s < kPairs; ++s) {
            const int vs = keys[s][L] >> 8;
            below += vs < v ? 1 : 0;
            if (vs == v) g[m++] = B->x[s][l];
        }
        return detail::kth_smallest(g, m, static_cast<int>(r - below));
    }
    // Rank r of the lane's slots (a rank the network did not return: not reached).
    double exact(int l, long long r) const {
        constexpr int kPairs = Dims<NB>::kPairs;
        double g[kPairs];
        for (int s = 0; s < kPairs; ++s) g[s] = B->x[s][l];
        return detail::kth_smallest(g, kPairs, static_cast<int>(r));
    }
};

// The slopes of two blocks as the side work of a network.
template <int NB>
struct SlopeWork2 {
    SlopeWork<NB> a, b;
    __attribute__((always_inline)) inline void operator()(int slot, int i, int j) {
        a(slot, i, j);
        b(slot, i, j);
    }
};

// run_chunk for Sen's slope on the keyed networks: blocks go by pairs (a lone last block is
// paired with an empty one); the next pair's slopes are the side work of the current network.
// Which network: the median's ranks (no interval), the band (interval at |z| <= 1.96) or
// all ranks.
template <int NB, class T>
void run_chunk_keyed(Block<NB>* st, index_t b0, index_t b1, const T* y, index_t P, int Tn,
                     const double* years, const TrendOptions& opt, const TrendOutputs& out,
                     const double* lnt, ErfcMemo& memo, bool band) {
    MLRI_FAST_DIMS
    using Net = net::Networks<NB>;
    const bool doMK = (opt.compute & kDoMK) != 0;
    const bool doCI = out.sen_low != nullptr;
    const int first = !doCI ? Net::kKeyMedianLo : (band ? Net::kKeyBandLo : 0);
    const int last = !doCI ? Net::kKeyMedianHi : (band ? Net::kKeyBandHi : kPairs - 1);
    simd::vk K[kPairs], S[kPairs];  // keys of the current pair; its ranks first..last
    auto load_pair = [&](Block<NB>** p, index_t b) {
        load<NB, T>(*p[0], y, P, Tn, years, b * VL, block_lanes(P, b));
        if (b + 1 < b1)
            load<NB, T>(*p[1], y, P, Tn, years, (b + 1) * VL, block_lanes(P, b + 1));
        else
            load<NB, T>(*p[1], y, P, Tn, years, b * VL, 0);  // empty: every lane missing
    };
    Block<NB>* cur[2] = {&st[0], &st[1]};
    Block<NB>* nxt[2] = {&st[2], &st[3]};
    load_pair(cur, b0);
    for (Block<NB>* c : cur) {
        all_slopes(c);
        pads_and_g(*c, doMK, true, false);
    }
    make_keys(*cur[0], *cur[1], K);
    for (index_t b = b0; b < b1; b += 2) {
        const bool more = b + 2 < b1;
        if (more) load_pair(nxt, b + 2);
        SlopeWork2<NB> w{{nxt[0]}, {nxt[1]}};  // (garbage after the last pair)
        if (!doCI) {
            Net::template key_median_pairs<simd::vk>(K, S, w);
        } else if (band) {
            Net::template key_band_pairs<simd::vk>(K, S, w);
        } else {
            simd::vk klo, khi;
            Net::template sort_pairs<simd::vk>(K, S, klo, khi, w);
        }
        for (int h = 0; h < 2; ++h) {
            nxt[h]->g0 = h ? w.b.g0 : w.a.g0;
            nxt[h]->g1 = h ? w.b.g1 : w.a.g1;
        }
        if (more)
            for (Block<NB>* c : nxt) pads_and_g(*c, doMK, true, true);
        for (int h = 0; h < 2 && b + h < b1; ++h) {
            const KeyRanks<NB> at{S, K, first, last, h, cur[h]};
            vd lo = vd{}, hi = vd{};
            for (int l = 0; l < VL; ++l) {
                const int n = cur[h]->n[l];
                if (n < 2) continue;  // (no median is output)
                hi[l] = at(l, kPairRank);
                if (((n * (n - 1) / 2) & 1) == 0) lo[l] = at(l, kPairRank - 1);  // (K odd: hi)
            }
            finish(*cur[h], lo, hi, at, opt, out, lnt, memo);
        }
        if (more) make_keys(*nxt[0], *nxt[1], K);
        for (int h = 0; h < 2; ++h) {
            Block<NB>* t = cur[h];
            cur[h] = nxt[h];
            nxt[h] = t;
        }
    }
}
#endif

// ln k for k = 0..NB + 1 (ln 0 taken as 0): the x values of the Hurst regression.
template <int NB>
struct LnTable {
    double v[NB + 2];
    LnTable() {
        v[0] = 0.0;
        for (int k = 1; k <= NB + 1; ++k) v[k] = detail::log_pos(k);
    }
};

// The blocks of P pixels in chunks of kChunk blocks, the OpenMP work items: fn(state, b0, b1)
// runs blocks [b0, b1) with its thread's State, one per thread, allocated before the parallel
// region (std::bad_alloc must reach the caller, never leave an OpenMP region).
template <class State, class F>
void for_chunks(index_t P, int n_threads, const F& fn) {
    const index_t nblocks = (P + VL - 1) / VL;
    const index_t nchunks = (nblocks + kChunk - 1) / kChunk;
    int nt = resolve_threads(n_threads);
    if (nt > nchunks) nt = static_cast<int>(nchunks > 0 ? nchunks : 1);
    Owned<State> th(static_cast<std::size_t>(nt));
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
    {
        State& me = th[thread_slot()];
#if defined(MLRI_HAS_OPENMP)
#pragma omp for schedule(dynamic, 1)
#endif
        for (index_t c = 0; c < nchunks; ++c) {
            const index_t b0 = c * kChunk;
            fn(me, b0, (b0 + kChunk) < nblocks ? (b0 + kChunk) : nblocks);
        }
    }
}

// Per-thread state of the network path (allocated before the parallel region).
template <int NB>
struct NetThread {
    Block<NB> st[4];  // zeroed: the first side work may read a spare (two: the keyed path)
    ErfcMemo memo;
};

template <int NB, class T>
void run_nb(const T* y, index_t P, int Tn, const double* years, const TrendOptions& opt,
            const TrendOutputs& out, int n_threads) {
    const LnTable<NB> lnt;
    const bool band = out.sen_low != nullptr && band_holds_interval<NB>(opt.sen_z);
    for_chunks<NetThread<NB>>(P, n_threads, [&](NetThread<NB>& me, index_t b0, index_t b1) {
#if defined(MLRI_KEYED_NETWORKS)
        if (opt.compute & kDoSen)
            run_chunk_keyed<NB, T>(me.st, b0, b1, y, P, Tn, years, opt, out, lnt.v, me.memo,
                                   band);
        else
#endif
            run_chunk<NB, T>(me.st, b0, b1, y, P, Tn, years, opt, out, lnt.v, me.memo, band);
    });
}

template <class T>
void run_long(const T* y, index_t P, int Tn, const double* years, const TrendOptions& opt,
              const TrendOutputs& out, int n_threads);  // trend_long.hpp

// The smallest network size that holds the series.
template <class T>
void run(const T* y, index_t P, int Tn, const double* years, const TrendOptions& opt,
         const TrendOutputs& out, int n_threads) {
    if (Tn <= 4)
        run_nb<4, T>(y, P, Tn, years, opt, out, n_threads);
    else if (Tn <= 8)
        run_nb<8, T>(y, P, Tn, years, opt, out, n_threads);
    else if (Tn <= 12)
        run_nb<12, T>(y, P, Tn, years, opt, out, n_threads);
    else if (Tn <= 16)
        run_nb<16, T>(y, P, Tn, years, opt, out, n_threads);
    else if (Tn <= kMaxRows)
        run_nb<19, T>(y, P, Tn, years, opt, out, n_threads);
    else
        run_long<T>(y, P, Tn, years, opt, out, n_threads);
}

#undef MLRI_FAST_DIMS

}  // namespace fastpath
}  // namespace MLRI_KERNEL_NS
}  // namespace mlri

#include "mlri/trend_long.hpp"
