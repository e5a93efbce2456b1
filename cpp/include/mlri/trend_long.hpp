// mlri — fast path of the fused trend kernel for long series (kMaxRows < T <= kMaxLongRows);
// included by trend_fast.hpp, uses its blocks (load), MK/Hurst helpers and applicability rules.
//
// One block is one SIMD vector of pixels (simd::VL lanes), as in the network path, but nothing
// is sized by a sorting network, so the cost grows with the number of pairs K = n(n-1)/2 only:
//   * pairs, j-major (slot j(j-1)/2 + i): d = y_j - y_i and the slope d / (t_j - t_i) with the
//     generic path's operations; MK counts #{d > 0}, #{d < 0} and, per row, #{d == 0} (tie
//     groups) in the same sweep.  Slots of missing rows get +inf (above every slope).
//   * Sen's median: an exact per-lane selection by counting (select_rank below).  Each pass
//     takes a pivot p per lane and counts c = #{x < p} while tracking A = max{x < p} and
//     B = min{x >= p}; the rank r then lies below or above p, and the lane's bracket [lo, hi]
//     (always two element values) shrinks to [lo, A] or [B, hi]; c == r or c == r + 1 name the
//     element at once.  Pivots interpolate linearly in the bracket between its ranks (the slopes
//     are locally uniform around the median); the first pivot is the median of the n/2
//     long-baseline slopes (i, i + n/2), selected the same way; a pass that does not halve the
//     bracket is followed by a bisection in the order-preserving integer image of the doubles
//     (at most 64 such passes).  Every pass is 4 vector operations per slot, branch-free.  On
//     AVX-512 the first passes run on float images of the slopes (narrow_f32: exact counts,
//     two slots per instruction), the last ones on the doubles.
//   * the median of y (intercept) with the same selection over the rows.
// The selection returns element values, so the result is the same order statistic the generic
// path's quickselect returns, and the arithmetic of every output is the generic path's: results
// are bit-identical across paths, SIMD targets, threads and tiles.
#pragma once

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

// GCC 12 reports its own unmasked AVX-512 intrinsics (which start from an undefined register)
// as "may be used uninitialized"; nothing here reads an uninitialised value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace mlri {
inline namespace MLRI_KERNEL_NS {
namespace fastpath {

// Order-preserving signed-integer image of a double (for -0.0 < +0.0 too) and its inverse.
inline vi order_key(vd x) {
    const vi b = (vi)x;
    return b ^ ((b >> 63) & simd::splati(0x7fffffffffffffffLL));
}
inline vd from_key(vi k) { return (vd)(k ^ ((k >> 63) & simd::splati(0x7fffffffffffffffLL))); }

// One counting pass: per lane c = #{x < p}, A = max{x < p} (-inf if none), B = min{x >= p}
// (+inf if none).  Explicit masked instructions on AVX-512 / blends on AVX2: the generic vector
// code compiles to about twice the instructions there (selects become xor sequences).
inline void count_pass(const vd* x, int m, vd p, vi& c, vd& A, vd& B) {
#if defined(__AVX512F__)
    const __m512d pv = (__m512d)p;
    const __m512i one = _mm512_set1_epi64(1);
    __m512i c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512();
    __m512d A0 = _mm512_set1_pd(-kInf), A1 = A0, B0 = _mm512_set1_pd(kInf), B1 = B0;
    int s = 0;
    for (; s + 1 < m; s += 2) {
        const __m512d x0 = (__m512d)x[s], x1 = (__m512d)x[s + 1];
        const __mmask8 l0 = _mm512_cmp_pd_mask(x0, pv, _CMP_LT_OQ);
        const __mmask8 l1 = _mm512_cmp_pd_mask(x1, pv, _CMP_LT_OQ);
        c0 = _mm512_mask_add_epi64(c0, l0, c0, one);
        c1 = _mm512_mask_add_epi64(c1, l1, c1, one);
        A0 = _mm512_mask_max_pd(A0, l0, A0, x0);
        A1 = _mm512_mask_max_pd(A1, l1, A1, x1);
        B0 = _mm512_mask_min_pd(B0, static_cast<__mmask8>(~l0), B0, x0);
        B1 = _mm512_mask_min_pd(B1, static_cast<__mmask8>(~l1), B1, x1);
    }
    if (s < m) {
        const __m512d x0 = (__m512d)x[s];
        const __mmask8 l0 = _mm512_cmp_pd_mask(x0, pv, _CMP_LT_OQ);
        c0 = _mm512_mask_add_epi64(c0, l0, c0, one);
        A0 = _mm512_mask_max_pd(A0, l0, A0, x0);
        B0 = _mm512_mask_min_pd(B0, static_cast<__mmask8>(~l0), B0, x0);
    }
    c = (vi)_mm512_add_epi64(c0, c1);
    A = (vd)_mm512_mask_max_pd(A0, 0xFF, A0, A1);  // (the unmasked forms warn in GCC 12)
    B = (vd)_mm512_mask_min_pd(B0, 0xFF, B0, B1);
#elif defined(__AVX2__)
    const __m256d pv = (__m256d)p;
    __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
    __m256d A0 = _mm256_set1_pd(-kInf), A1 = A0, B0 = _mm256_set1_pd(kInf), B1 = B0;
    int s = 0;
    for (; s + 1 < m; s += 2) {
        const __m256d x0 = (__m256d)x[s], x1 = (__m256d)x[s + 1];
        const __m256d l0 = _mm256_cmp_pd(x0, pv, _CMP_LT_OQ);
        const __m256d l1 = _mm256_cmp_pd(x1, pv, _CMP_LT_OQ);
        c0 = _mm256_sub_epi64(c0, _mm256_castpd_si256(l0));
        c1 = _mm256_sub_epi64(c1, _mm256_castpd_si256(l1));
        A0 = _mm256_blendv_pd(A0, _mm256_max_pd(A0, x0), l0);
        A1 = _mm256_blendv_pd(A1, _mm256_max_pd(A1, x1), l1);
        B0 = _mm256_blendv_pd(_mm256_min_pd(B0, x0), B0, l0);
        B1 = _mm256_blendv_pd(_mm256_min_pd(B1, x1), B1, l1);
    }
    if (s < m) {
        const __m256d x0 = (__m256d)x[s];
        const __m256d l0 = _mm256_cmp_pd(x0, pv, _CMP_LT_OQ);
        c0 = _mm256_sub_epi64(c0, _mm256_castpd_si256(l0));
        A0 = _mm256_blendv_pd(A0, _mm256_max_pd(A0, x0), l0);
        B0 = _mm256_blendv_pd(_mm256_min_pd(B0, x0), B0, l0);
    }
    c = (vi)_mm256_add_epi64(c0, c1);
    A = (vd)_mm256_max_pd(A0, A1);
    B = (vd)_mm256_min_pd(B0, B1);
#else
    const vd pinf = simd::splat(kInf), minf = simd::splat(-kInf);
    vi c0 = vi{};
    vd A0 = minf, B0 = pinf;
    for (int s = 0; s < m; ++s) {
        const vd x0 = x[s];
        const vi lt0 = simd::mask(x0 < p);
        c0 = c0 - lt0;
        A0 = simd::sel(lt0, x0 > A0 ? x0 : A0, A0);
        B0 = simd::sel(lt0, B0, x0 < B0 ? x0 : B0);
    }
    c = c0;
    A = A0;
    B = B0;
#endif
}

// Per lane, the element of rank r (0-based) of x[0..m) (lanes' missing slots hold +inf and lie
// above rank r), for lanes in `active`.  lo <= (element) <= hi bound it, klo = #{x < lo},
// khi = #{x <= hi}; p: the first pivot (used if inside (lo, hi], else the interpolation).
// Returns the element; lanes not active get 0.
inline vd select_rank(const vd* x, int m, vi r, vd lo, vd hi, vd klo, vd khi, vd p, vi active) {
    vd res = vd{};
    vi todo = active;
    const vd rd = simd::small_int_to_double(r);
    vi slow = vi{};                      // last pass did not halve the bracket
    {
        const vi e = todo & simd::mask(lo == hi);
        res = simd::sel(e, lo, res);
        todo = todo & ~e;
    }
    for (int pass = 0; pass < 4 * 64 + 8; ++pass) {
        long long any = 0;
        for (int l = 0; l < VL; ++l) any |= todo[l];
        if (!any) break;
        // pivot in (lo, hi]: interpolation, else bisection of the integer image, else hi
        {
            const vd pi = lo + (hi - lo) * ((rd - klo + 0.5) / (khi - klo));
            p = pass == 0 ? simd::sel(simd::mask(p > lo) & simd::mask(p <= hi), p, pi) : pi;
        }
        {
            const vi kl = order_key(lo), kh = order_key(hi);
            const vd pk = from_key((kl >> 1) + (kh >> 1) + (kl & kh & 1) + 1);
            p = simd::sel(slow, pk, p);
            const vi ok = simd::mask(p > lo) & simd::mask(p <= hi);
            const vd mid = lo * 0.5 + hi * 0.5;
            const vi okm = simd::mask(mid > lo) & simd::mask(mid <= hi);
            p = simd::sel(ok, p, simd::sel(okm, mid, hi));
        }
        vi c;
        vd A, B;
        count_pass(x, m, p, c, A, B);
        const vd cd = simd::small_int_to_double(c);
        const vi up = simd::mask(c <= r);          // rank r at or above p: r-th >= B
        const vi hitB = todo & up & simd::mask(c == r);
        const vi hitA = todo & ~up & simd::mask(c == r + 1);
        res = simd::sel(hitB, B, simd::sel(hitA, A, res));
        todo = todo & ~(hitA | hitB);
        const vd width = khi - klo;
        lo = simd::sel(up, B, lo);
        klo = simd::sel(up, cd, klo);
        hi = simd::sel(up, hi, A);
        khi = simd::sel(up, khi, cd);
        slow = simd::mask((khi - klo) * 2.0 > width) & ~slow;
        const vi e = todo & simd::mask(lo == hi);
        res = simd::sel(e, lo, res);
        todo = todo & ~e;
    }
    // (never reached: the passes above end within 2 * (64 + log2 m) + 2; kept as a guarantee)
    for (int l = 0; l < VL; ++l)
        if (todo[l]) {
            double tmp[kMaxLongRows * (kMaxLongRows - 1) / 2];
            for (int s = 0; s < m; ++s) tmp[s] = x[s][l];
            res[l] = detail::kth_smallest(tmp, m, static_cast<int>(r[l]));
        }
    return res;
}

// Per lane, the element of rank r + 1 given v = the element of rank r of x[0..m): one counting
// pass at the next double above v (#{x <= v} and min{x > v}).
inline vd next_rank(const vd* x, int m, vi r, vd v) {
    const vi inf = simd::mask(v == kInf);  // nothing above: rank r + 1 is +inf too
    // (a zero of either sign steps to the smallest positive double: -0.0 == +0.0)
    const vd vc = simd::sel(inf | simd::mask(v == 0.0), vd{}, v);
    const vd up = from_key(order_key(vc) + 1);
    vi c;
    vd A, B;
    count_pass(x, m, up, c, A, B);
    return simd::sel(inf | simd::mask(c > r + 1), v, B);
}

#if defined(__AVX512F__) && defined(__AVX512DQ__)
// Counting passes on float images of the slopes, 16 per instruction (two slots of 8 lanes):
// with xf = x rounded toward -inf to float and a float pivot p, x < p <=> xf < p exactly, so
// these passes narrow [lo, hi] (klo = #{x < lo}, khi = #{x <= hi}) with exact counts at half
// the width and a quarter of the instructions of a double pass.  Lanes stop at <= 16 elements
// in the bracket or when no float lies inside it; select_rank finishes on the doubles.
inline void narrow_f32(const float* xf, int m2, vi r, vd& lo, vd& hi, vd& klo, vd& khi, vd p,
                       vi active) {
    const vd rd = simd::small_int_to_double(r);
    const __m512i one = _mm512_set1_epi32(1);
    vi live = active;
    for (int pass = 0; pass < 8; ++pass) {
        const vd pi = lo + (hi - lo) * ((rd - klo + 0.5) / (khi - klo));
        const vd pw = pass == 0 ? simd::sel(simd::mask(p > lo) & simd::mask(p <= hi), p, pi) : pi;
        const __m256 pf = _mm512_cvtpd_ps((__m512d)pw);
        const vd pd = (vd)_mm512_cvtps_pd(pf);
        const vi ok = live & simd::mask(pd > lo) & simd::mask(pd <= hi) &
                      simd::mask(khi - klo > 16.0);
        long long any = 0;
        for (int l = 0; l < VL; ++l) any |= ok[l];
        if (!any) break;
        const __m512 pv = _mm512_broadcast_f32x8(pf);
        __m512i c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512();
        int s = 0;
        for (; s + 4 <= m2; s += 4) {
            const __mmask16 k0 = _mm512_cmp_ps_mask(_mm512_load_ps(xf + s * 8), pv, _CMP_LT_OQ);
            const __mmask16 k1 = _mm512_cmp_ps_mask(_mm512_load_ps(xf + s * 8 + 16), pv, _CMP_LT_OQ);
            c0 = _mm512_mask_add_epi32(c0, k0, c0, one);
            c1 = _mm512_mask_add_epi32(c1, k1, c1, one);
        }
        for (; s < m2; s += 2) {
            const __mmask16 k0 = _mm512_cmp_ps_mask(_mm512_load_ps(xf + s * 8), pv, _CMP_LT_OQ);
            c0 = _mm512_mask_add_epi32(c0, k0, c0, one);
        }
        c0 = _mm512_add_epi32(c0, c1);
        const __m256i c8 = _mm256_add_epi32(_mm512_castsi512_si256(c0),
                                            _mm512_extracti32x8_epi32(c0, 1));
        const vi c = (vi)_mm512_cvtepi32_epi64(c8);
        const vd cd = simd::small_int_to_double(c);
        const vi up = ok & simd::mask(c <= r);   // element >= pd
        const vi dn = ok & ~simd::mask(c <= r);  // element < pd: <= the double below pd
        const vd pz = simd::sel(simd::mask(pd == 0.0), simd::splat(-0.0), pd);
        const vd below = from_key(order_key(pz) - 1);
        lo = simd::sel(up, pd, lo);
        klo = simd::sel(up, cd, klo);
        hi = simd::sel(dn, below, hi);
        khi = simd::sel(dn, cd, khi);
        live = ok;
    }
}
#endif

// Lanes' medians of x[0..m) with `cnt` elements per lane (vector of counts; missing slots +inf):
// (lower + upper) / 2 for even counts, as detail::median_inplace.  lo/hi: per-lane min/max.
inline vd median_lanes(const vd* x, int m, const int* cnt, vd lo, vd hi, vd p, vi active,
                       const float* xf = nullptr) {
    long long r[VL], kd_[VL];
    double kd[VL];
    bool anyeven = false;
    vi even;
    for (int l = 0; l < VL; ++l) {
        const int k = cnt[l] > 0 ? cnt[l] : 1;
        r[l] = (k - 1) / 2;
        kd[l] = k;
        kd_[l] = (k & 1) ? 0 : -1;
        anyeven = anyeven || (active[l] && !(k & 1));
    }
    vi rv;
    vd khi;
    __builtin_memcpy(&rv, r, sizeof rv);
    __builtin_memcpy(&khi, kd, sizeof khi);
    __builtin_memcpy(&even, kd_, sizeof even);
    vd klo = vd{};
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    if (xf) {
        narrow_f32(xf, m + (m & 1), rv, lo, hi, klo, khi, p, active);
        p = lo;  // (not inside (lo, hi]: the first double pass interpolates)
    }
#else
    (void)xf;
#endif
    const vd v1 = select_rank(x, m, rv, lo, hi, klo, khi, p, active);
    if (!anyeven) return v1;
    const vd v2 = next_rank(x, m, rv, v1);
    return simd::sel(even, (v1 + v2) / 2.0, v1);
}

// Block state beyond Block<NB>: per-row tie counts.
struct LongWork {
    vd ceq[kMaxLongRows + 1];
    vd samp[kMaxLongRows / 2 + 1];
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    alignas(64) float xf[(kMaxLongRows * (kMaxLongRows - 1) / 2 + 1) * VL];  // see narrow_f32
#endif
};

template <class T>
void long_block(Block<kMaxLongRows>& B, LongWork& W, const T* y, index_t P, int Tn,
                const double* years, index_t p0, int nl, const TrendOptions& opt,
                const TrendOutputs& out, const double* lnt, ErfcMemo& memo) {
    constexpr int NB = kMaxLongRows;
    load<NB, T>(B, y, P, Tn, years, p0, nl);
    const bool doMK = (opt.compute & kDoMK) != 0;
    const bool doSen = (opt.compute & kDoSen) != 0;
    const int nmax = B.nmax;
    const vd pinf = simd::splat(kInf), minf = simd::splat(-kInf);
    const vd nv = B.nv;
    vi act = vi{};  // lanes with >= 2 values
    for (int l = 0; l < VL; ++l) act[l] = B.n[l] >= 2 ? -1 : 0;

    // 1. pairs: slopes, MK counts, tie groups; per-lane min / max slope
    vi G = vi{}, L = vi{};
    vd smin = pinf, smax = minf;
    for (int k = 0; k < nmax; ++k) W.ceq[k] = simd::splat(1.0);
    for (int j = 1; j < nmax; ++j) {
        const vd yj = B.yv[j], tj = B.tv[j];
        const vi jm = simd::mask(static_cast<double>(j) < nv);
        vd* xs = B.x + j * (j - 1) / 2;
        vd cj = W.ceq[j];
        if (doSen) {
            for (int i = 0; i < j; ++i) {
                const vd d = yj - B.yv[i];
                const vd q = simd::sel(jm, d / (tj - B.tv[i]), pinf);
                xs[i] = q;
                smin = q < smin ? q : smin;
                smax = simd::sel(jm, q > smax ? q : smax, smax);
                if (doMK) {
                    G = G - (simd::mask(d > 0.0) & jm);
                    L = L - (simd::mask(d < 0.0) & jm);
                    const vd e = simd::sel(jm & simd::mask(d == 0.0), simd::splat(1.0), vd{});
                    cj = cj + e;
                    W.ceq[i] = W.ceq[i] + e;
                }
            }
        } else {
            for (int i = 0; i < j; ++i) {
                const vd d = yj - B.yv[i];
                G = G - (simd::mask(d > 0.0) & jm);
                L = L - (simd::mask(d < 0.0) & jm);
                const vd e = simd::sel(jm & simd::mask(d == 0.0), simd::splat(1.0), vd{});
                cj = cj + e;
                W.ceq[i] = W.ceq[i] + e;
            }
        }
        W.ceq[j] = cj;
    }

    if (out.n_valid)
        for (int l = 0; l < nl; ++l) out.n_valid[p0 + l] = B.n[l];
    const vi few = B.few;
    const vd nan = simd::splat(kNaN);

    // 2. Mann-Kendall
    if (doMK) {
        vd tiev = vd{};
        for (int k = 0; k < nmax; ++k) {
            const vd c = W.ceq[k];
            const vi in = simd::mask(static_cast<double>(k) < nv);
            tiev = tiev + simd::sel(in, (c - 1.0) * (2.0 * c + 5.0), vd{});
        }
        const vd Sd = simd::small_int_to_double(G - L);
        const vd var18 = nv * (nv - 1.0) * (2.0 * nv + 5.0) - tiev;
        const vd var = var18 / 18.0;
        const vd sq = simd::vsqrt(var);
        const vd zp = (Sd - 1.0) / sq, zn = (Sd + 1.0) / sq;
        const vd z = Sd > 0.0 ? zp : (Sd < 0.0 ? zn : vd{});
        if (out.s) store(out.s + p0, simd::sel(few, nan, Sd), nl);
        if (out.var_s) store(out.var_s + p0, simd::sel(few, nan, var), nl);
        if (out.z) store(out.z + p0, simd::sel(few, nan, z), nl);
        if (out.p) {
            vd pv;
            for (int l = 0; l < VL; ++l)
                pv[l] = B.n[l] < 2 ? kNaN : memo(fabs_(z[l]) / 1.41421356237309504880);
            store(out.p + p0, pv, nl);
        }
    }

    // 3. Sen's slope and intercept
    if (doSen) {
        const int K = nmax * (nmax - 1) / 2;
        int kc[VL];
        for (int l = 0; l < VL; ++l) kc[l] = B.n[l] * (B.n[l] - 1) / 2;
        // first pivot: median of the long-baseline slopes (i, i + h), h = half the shortest
        // series of the block's active lanes (all those pairs exist in every active lane)
        int nmin = NB;
        for (int l = 0; l < VL; ++l)
            if (B.n[l] >= 2) nmin = B.n[l] < nmin ? B.n[l] : nmin;
        const int h = nmin / 2;
        vd p = vd{};
        if (h >= 2) {
            vd a = pinf, b = minf;
            for (int i = 0; i < h; ++i) {
                const vd v = B.x[(i + h) * (i + h - 1) / 2 + i];
                W.samp[i] = v;
                a = v < a ? v : a;
                b = v > b ? v : b;
            }
            int hc[VL];
            for (int l = 0; l < VL; ++l) hc[l] = h;
            p = median_lanes(W.samp, h, hc, a, b, vd{}, act);
        }
        const float* xf = nullptr;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
        if (K >= 64) {
            for (int k = 0; k < K; ++k)
                _mm256_store_ps(W.xf + k * 8, _mm512_cvt_roundpd_ps((__m512d)B.x[k],
                                                                    _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
            if (K & 1) _mm256_store_ps(W.xf + K * 8, _mm256_set1_ps(kInf));
            xf = W.xf;
        }
#endif
        vd Q = median_lanes(B.x, K, kc, smin, smax, p, act, xf);
        Q = Q == 0.0 ? vd{} : Q;  // no negative zero
        if (out.slope) store(out.slope + p0, simd::sel(few, nan, Q), nl);
        if (out.intercept) {
            // median of y by the same selection (rows >= n are +inf); lanes with a -0.0 take
            // the generic median (a selection by value does not keep the sign of a zero)
            vd ys[NB + 1];
            vd a = pinf, b = minf;
            for (int k = 0; k < nmax; ++k) {
                const vi in = simd::mask(static_cast<double>(k) < nv);
                const vd v = simd::sel(in, B.yv[k], pinf);
                ys[k] = v;
                a = v < a ? v : a;
                b = simd::sel(in, v > b ? v : b, b);
            }
            vd m_y = median_lanes(ys, nmax, B.n, a, b, vd{}, act);
            vd mt;
            for (int l = 0; l < VL; ++l) {
                const int nn = B.n[l];
                const int hh = nn / 2;
                const double t0 = B.t_ref;
                const double thi = B.tv[hh][l] - t0;
                mt[l] = (nn & 1) ? thi : ((B.tv[hh > 0 ? hh - 1 : 0][l] - t0) + thi) / 2.0;
                if (B.negzero[l] && nn >= 2) {
                    double tmp[NB];
                    for (int i = 0; i < nn; ++i) tmp[i] = B.yv[i][l];
                    m_y[l] = detail::median_inplace(tmp, nn);
                }
            }
            store(out.intercept + p0, simd::sel(few, nan, m_y - Q * mt), nl);
        }
    }

    // 4. Hurst
    if ((opt.compute & kDoHurst) && out.hurst)
        hurst_block<NB>(B.yv, B.tv, B.n, nl, p0, opt.hurst, out.hurst, lnt);
}

// Work of one thread of the long path, allocated before the parallel region.
struct LongThread {
    Block<kMaxLongRows> block;
    LongWork work;
    ErfcMemo memo;
};

template <class T>
void run_long(const T* y, index_t P, int Tn, const double* years, const TrendOptions& opt,
              const TrendOutputs& out, int n_threads) {
    double lnt[kMaxLongRows + 2];
    lnt[0] = 0.0;
    for (int k = 1; k <= kMaxLongRows + 1; ++k) lnt[k] = detail::log_pos(k);
    const index_t nblocks = (P + VL - 1) / VL;
    const index_t nchunks = (nblocks + kChunk - 1) / kChunk;
    int nt = resolve_threads(n_threads);
    if (nt > nchunks) nt = static_cast<int>(nchunks > 0 ? nchunks : 1);
    Owned<LongThread> th(static_cast<std::size_t>(nt));  // may throw: before the parallel region
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
    {
#if defined(MLRI_HAS_OPENMP)
        LongThread& me = th[static_cast<std::size_t>(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 1)
#else
        LongThread& me = th[0];
#endif
        for (index_t c = 0; c < nchunks; ++c) {
            const index_t b0 = c * kChunk;
            const index_t b1 = (b0 + kChunk) < nblocks ? (b0 + kChunk) : nblocks;
            for (index_t b = b0; b < b1; ++b) {
                const index_t p0 = b * VL;
                const int nl = static_cast<int>((P - p0) < VL ? (P - p0) : VL);
                long_block<T>(me.block, me.work, y, P, Tn, years, p0, nl, opt, out, lnt, me.memo);
            }
        }
    }
}

}  // namespace fastpath
}  // namespace MLRI_KERNEL_NS
}  // namespace mlri

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
