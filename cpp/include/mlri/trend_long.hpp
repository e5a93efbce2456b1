// mlri — fast path of the fused trend kernel for long series (kMaxRows < T <= kMaxLongRows);
// included by trend_fast.hpp, uses its blocks (load), MK/Hurst helpers and applicability rules.
//
// One block is one SIMD vector of pixels (simd::VL lanes), as in the network path, but nothing
// is sized by a sorting network, so the cost grows with the number of pairs K = n(n-1)/2 only:
//   * pairs, j-major (slot j(j-1)/2 + i): d = y_j - y_i and the slope d / (t_j - t_i) with the
//     generic path's operations; MK counts #{d > 0}, #{d < 0} and, per row j, e = #{i < j:
//     d == 0} (tie groups: sum 6 e (e + 2) is the tie term of var S), and the ranks of the
//     values (#{y_i < y_k}, #{y_i > y_k}: the median of y) in the same sweep.  Slots of missing
//     rows get +inf (above every slope).  The sweep is bound by the divider.
//   * Sen's median: an exact per-lane selection by counting (select_rank below).  Each pass
//     takes a pivot p per lane and counts c = #{x < p} while tracking A = max{x < p} and
//     B = min{x >= p}; the rank r then lies below or above p, and the lane's bracket [lo, hi]
//     (always two element values) shrinks to [lo, A] or [B, hi]; c == r or c == r + 1 name the
//     element at once.  Pivots interpolate linearly in the bracket between its ranks (the slopes
//     are locally uniform around the median); the first pivot is the median of the n/2
//     long-baseline slopes (i, i + n/2), selected the same way; a pass that does not halve the
//     bracket is followed by a bisection in the order-preserving integer image of the doubles
//     (at most 64 such passes).  Every pass is 4 vector operations per slot, branch-free.  On
//     AVX-512 the bracket is first narrowed to a few elements on float images of the slopes
//     (narrow_f32: exact counts, two slots and two pivots per pass), then the slots still inside
//     some lane's bracket are copied out (compact_bracket, typically 40 of 300 at T = 25) and
//     the double passes run on those only.  From 24 years on (>= 256 slots) a first copy,
//     with the float images, follows three passes, and the float passes go on among the slots
//     it kept (~9-14 % at T = 40); those three passes, and the first copy's search for the
//     slots to keep, work on 16-bit images of the float images (Key16Images: four slots per
//     vector, exact counts for pivots on a grid of about 2^-8 relative).
//   * Sen's slope interval (on request): both ends are selected the same way, at the ranks of
//     sen_interval.hpp (ties from the MK sweep), each from the tightest bracket the median's
//     counting passes give (PivotLog).  (The network path's blocks sort their slopes instead:
//     see trend_fast.hpp's interval_block.)
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
// The largest double < x (below a zero of either sign: -(smallest subnormal)).
inline vd below(vd x) {
    return from_key(order_key(simd::sel(simd::mask(x == 0.0), simd::splat(-0.0), x)) - 1);
}

// The pivots a selection counted, with their counts: per lane, c = #{x < v} (exact; v is NaN
// in a lane whose pivot was not a number).  Another rank's selection among the same values
// starts from the tightest bracket they give (bracket_from).
struct PivotLog {
    static constexpr int kCap = 16;  // narrow_f32's 8 passes, two pivots each
    vd v[kCap], c[kCap];
    int n = 0;
};

// Per lane, narrow [lo, hi] (klo = #{x < lo}, khi = #{x <= hi}) around rank r by the logged
// counts: a pivot with c <= r is a lower bound of the rank-r element, one with c > r bounds it
// from above (below the pivot).
inline void bracket_from(const PivotLog& log, vi r, vd& lo, vd& hi, vd& klo, vd& khi) {
    const vd rd = simd::small_int_to_double(r);
    for (int i = 0; i < log.n; ++i) {
        const vd v = log.v[i], c = log.c[i];
        const vi num = simd::mask(v == v);
        const vi up = num & simd::mask(c <= rd) & simd::mask(v > lo);
        const vd bv = below(v);
        const vi dn = num & simd::mask(c > rd) & simd::mask(bv < hi);
        lo = simd::sel(up, v, lo);
        klo = simd::sel(up, c, klo);
        hi = simd::sel(dn, bv, hi);
        khi = simd::sel(dn, c, khi);
    }
}

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
inline constexpr double kNarrowTo = 6.0;  // elements left in a bracket (see narrow)
// select_lanes compacts after this many passes on all slots when there are at least
// kCompactEarly of them (24 years and more; see there)
inline constexpr int kPassesBeforeCompaction = 3;
inline constexpr int kCompactEarly = 256;
// The images narrow() counts on.  Float images (F32Images): xf = x rounded toward -inf to
// float, two slots of 8 lanes per vector; a pivot is rounded to a float outward (down for the
// lower one, up for the upper one), and for a float p, x < p <=> xf < p.
struct F32Images {
    const float* xf;
    int m2;  // slots, even (xf holds an +inf padding slot after an odd count)
    __m512 va, vb;
    void round(vd ta, vd tb, vd& pa, vd& pb) {
        const __m256 fa = _mm512_cvt_roundpd_ps((__m512d)ta, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        const __m256 fb = _mm512_cvt_roundpd_ps((__m512d)tb, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
        pa = (vd)_mm512_cvtps_pd(fa);
        pb = (vd)_mm512_cvtps_pd(fb);
        va = _mm512_broadcast_f32x8(fa);
        vb = _mm512_broadcast_f32x8(fb);
    }
    void count(vi& ca, vi& cb) const {
        const __m512i one = _mm512_set1_epi32(1);
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, b0 = a0, b1 = a0;
        int s = 0;
        for (; s + 4 <= m2; s += 4) {
            const __m512 x0 = _mm512_load_ps(xf + s * 8), x1 = _mm512_load_ps(xf + s * 8 + 16);
            a0 = _mm512_mask_add_epi32(a0, _mm512_cmp_ps_mask(x0, va, _CMP_LT_OQ), a0, one);
            b0 = _mm512_mask_add_epi32(b0, _mm512_cmp_ps_mask(x0, vb, _CMP_LT_OQ), b0, one);
            a1 = _mm512_mask_add_epi32(a1, _mm512_cmp_ps_mask(x1, va, _CMP_LT_OQ), a1, one);
            b1 = _mm512_mask_add_epi32(b1, _mm512_cmp_ps_mask(x1, vb, _CMP_LT_OQ), b1, one);
        }
        for (; s < m2; s += 2) {
            const __m512 x0 = _mm512_load_ps(xf + s * 8);
            a0 = _mm512_mask_add_epi32(a0, _mm512_cmp_ps_mask(x0, va, _CMP_LT_OQ), a0, one);
            b0 = _mm512_mask_add_epi32(b0, _mm512_cmp_ps_mask(x0, vb, _CMP_LT_OQ), b0, one);
        }
        a0 = _mm512_add_epi32(a0, a1);
        b0 = _mm512_add_epi32(b0, b1);
        ca = (vi)_mm512_cvtepi32_epi64(_mm256_add_epi32(_mm512_castsi512_si256(a0),
                                                        _mm512_extracti32x8_epi32(a0, 1)));
        cb = (vi)_mm512_cvtepi32_epi64(_mm256_add_epi32(_mm512_castsi512_si256(b0),
                                                        _mm512_extracti32x8_epi32(b0, 1)));
    }
};

// 16-bit images (Key16Images): xh = the top half of the order-preserving integer image of xf
// + 0.0 (floor(o / 2^16), o = the float's bits as a signed integer, negative ones mirrored;
// -0.0 keys as +0.0), four slots of 8 lanes per vector.  Pivots are the floats whose image
// has a zero low half (rounded outward to that grid: about 2^-8 relative), and for such a
// pivot p with key K, x < p <=> xf < p <=> xh < K exactly.  Half the instructions of a float
// pass, for the first, coarse passes.
inline __m256i f32_order(__m256i b) {
    return _mm256_xor_si256(b, _mm256_and_si256(_mm256_srai_epi32(b, 31),
                                                _mm256_set1_epi32(0x7fffffff)));
}
struct Key16Images {
    const std::int16_t* xh;
    int m4;  // slots, a multiple of 4 (padded with +inf keys)
    __m512i va, vb;
    void round(vd ta, vd tb, vd& pa, vd& pb) {
        const __m256 fa = _mm512_cvt_roundpd_ps((__m512d)ta, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        const __m256 fb = _mm512_cvt_roundpd_ps((__m512d)tb, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
        const __m256 z = _mm256_setzero_ps();
        const __m256i ka = _mm256_srai_epi32(f32_order(_mm256_castps_si256(_mm256_add_ps(fa, z))), 16);
        const __m256i kb = _mm256_srai_epi32(
            _mm256_add_epi32(f32_order(_mm256_castps_si256(_mm256_add_ps(fb, z))),
                             _mm256_set1_epi32(0xffff)), 16);
        pa = (vd)_mm512_cvtps_pd(_mm256_castsi256_ps(f32_order(_mm256_slli_epi32(ka, 16))));
        pb = (vd)_mm512_cvtps_pd(_mm256_castsi256_ps(f32_order(_mm256_slli_epi32(kb, 16))));
        va = _mm512_broadcast_i32x4(_mm256_cvtepi32_epi16(ka));
        vb = _mm512_broadcast_i32x4(_mm256_cvtepi32_epi16(kb));
    }
    void count(vi& ca, vi& cb) const {
        const __m512i one = _mm512_set1_epi16(1);
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, b0 = a0, b1 = a0;
        int s = 0;
        for (; s + 8 <= m4; s += 8) {
            const __m512i x0 = _mm512_load_si512(xh + s * 8), x1 = _mm512_load_si512(xh + s * 8 + 32);
            a0 = _mm512_mask_add_epi16(a0, _mm512_cmplt_epi16_mask(x0, va), a0, one);
            b0 = _mm512_mask_add_epi16(b0, _mm512_cmplt_epi16_mask(x0, vb), b0, one);
            a1 = _mm512_mask_add_epi16(a1, _mm512_cmplt_epi16_mask(x1, va), a1, one);
            b1 = _mm512_mask_add_epi16(b1, _mm512_cmplt_epi16_mask(x1, vb), b1, one);
        }
        for (; s < m4; s += 4) {
            const __m512i x0 = _mm512_load_si512(xh + s * 8);
            a0 = _mm512_mask_add_epi16(a0, _mm512_cmplt_epi16_mask(x0, va), a0, one);
            b0 = _mm512_mask_add_epi16(b0, _mm512_cmplt_epi16_mask(x0, vb), b0, one);
        }
        // four slots' counts per lane (at most 504 each): add the 128-bit quarters
        auto lanes = [](__m512i v) {
            const __m256i h = _mm256_add_epi16(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
            return (vi)_mm512_cvtepi16_epi64(_mm_add_epi16(_mm256_castsi256_si128(h),
                                                           _mm256_extracti128_si256(h, 1)));
        };
        ca = lanes(_mm512_add_epi16(a0, a1));
        cb = lanes(_mm512_add_epi16(b0, b1));
    }
};

// The 16-bit images of the float images xf[0..m) of m slots (see Key16Images), into xh,
// padded with +inf keys to a multiple of 4 slots.
inline void key16_images(const float* xf, int m, std::int16_t* xh) {
    const __m512i lo31 = _mm512_set1_epi32(0x7fffffff);
    int s = 0;
    for (; s + 2 <= m; s += 2) {  // two slots of 8 lanes per vector
        const __m512i b = _mm512_castps_si512(
            _mm512_add_ps(_mm512_load_ps(xf + s * 8), _mm512_setzero_ps()));  // (-0.0: +0.0)
        const __m512i o = _mm512_xor_si512(b, _mm512_and_si512(_mm512_srai_epi32(b, 31), lo31));
        _mm256_store_si256(reinterpret_cast<__m256i*>(xh + s * 8),
                           _mm512_cvtepi32_epi16(_mm512_srai_epi32(o, 16)));
    }
    const __m128i inf = _mm_set1_epi16(0x7f80);  // +inf's key
    if (s < m) {
        const __m256i b = _mm256_castps_si256(
            _mm256_add_ps(_mm256_load_ps(xf + s * 8), _mm256_setzero_ps()));
        _mm_store_si128(reinterpret_cast<__m128i*>(xh + s * 8),
                        _mm256_cvtepi32_epi16(_mm256_srai_epi32(f32_order(b), 16)));
        ++s;
    }
    for (; s & 3; ++s) _mm_store_si128(reinterpret_cast<__m128i*>(xh + s * 8), inf);
}

// Counting passes on images of the slopes (Img: F32Images, 16 per instruction, or
// Key16Images, 32): they narrow [lo, hi] (klo = #{x < lo}, khi = #{x <= hi}) with exact
// counts at a fraction of the width and of the instructions of a double pass.  The bracket
// keeps both ranks r and r2 (r2 = r + 1 for even counts, else r).  Each pass counts two
// pivots that straddle them (interpolated at ranks r - g and r2 + g, g ~ a tenth of the
// bracket; the first pass: the seed p -/+ `spread`): lo moves up to a pivot with c <= r, hi
// down below one with c > r2, so both ends close in and the bracket shrinks by about ten per
// pass.  A pivot with c == r + 1 == r2 separates the two ranks: `p` returns it (the first
// double pass then finds rank r as max{x < p}), else a value outside (lo, hi].  Lanes stop at
// <= kNarrowTo elements in the bracket or when a pass does not shrink it (ties, or no pivot of
// the images inside).  At most `passes` passes; `resume` continues an earlier call's narrowing
// (on the compacted slots, see select_lanes): no seed, and p comes in as that call's
// separating pivot (still one, if any: lo only rises to pivots below rank r, hi only falls
// below pivots above rank r2).
template <class Img>
inline void narrow(Img img, vi r, vi r2, vd& lo, vd& hi, vd& klo, vd& khi, vd& p, vd spread,
                   vi active, int passes, bool resume, PivotLog* log) {
    const vd rlo = simd::small_int_to_double(r), rhi = simd::small_int_to_double(r2);
    vi live = active & simd::mask(khi - klo > kNarrowTo);
    vd split = resume ? p : lo;
    for (int pass = 0; pass < passes; ++pass) {
        const vd w = khi - klo;
        const vd g = simd::sel(simd::mask(w * 0.1 > 1.0), w * 0.1, simd::splat(1.0));
        const vd sc = (hi - lo) / w;
        vd ta = lo + sc * (rlo - g - klo + 0.5), tb = lo + sc * (rhi + g - klo + 0.5);
        if (pass == 0 && !resume) {
            const vd sa = p - spread, sb = p + spread;
            const vi seed = simd::mask(sa > lo) & simd::mask(sb <= hi) & simd::mask(sa < sb);
            ta = simd::sel(seed, sa, ta);
            tb = simd::sel(seed, sb, tb);
        }
        vd pa, pb;
        img.round(ta, tb, pa, pb);
        const vi oka = live & simd::mask(pa > lo) & simd::mask(pa <= hi);
        const vi okb = live & simd::mask(pb > lo) & simd::mask(pb <= hi);
        if (!_mm512_movepi64_mask((__m512i)(oka | okb))) break;
        vi ca, cb;
        img.count(ca, cb);
        if (log && log->n + 2 <= PivotLog::kCap) {
            log->v[log->n] = pa;
            log->c[log->n++] = simd::small_int_to_double(ca);
            log->v[log->n] = pb;
            log->c[log->n++] = simd::small_int_to_double(cb);
        }
        const vi upa = oka & simd::mask(ca <= r), upb = okb & simd::mask(cb <= r);
        const vi dna = oka & simd::mask(ca > r2), dnb = okb & simd::mask(cb > r2);
        const vi spa = oka & ~upa & ~dna, spb = okb & ~upb & ~dnb;
        lo = simd::sel(upb, pb, simd::sel(upa, pa, lo));
        klo = simd::sel(upb, simd::small_int_to_double(cb), simd::sel(upa, simd::small_int_to_double(ca), klo));
        hi = simd::sel(dna, below(pa), simd::sel(dnb, below(pb), hi));
        khi = simd::sel(dna, simd::small_int_to_double(ca), simd::sel(dnb, simd::small_int_to_double(cb), khi));
        split = simd::sel(spa, pa, simd::sel(spb, pb, split));
        const vd wn = khi - klo;
        live = live & simd::mask(wn < w) & simd::mask(wn > kNarrowTo);
    }
    p = split;
}
// narrow on float images (m2 slots, even)
inline void narrow_f32(const float* xf, int m2, vi r, vi r2, vd& lo, vd& hi, vd& klo, vd& khi,
                       vd& p, vd spread, vi active, int passes = 8, bool resume = false,
                       PivotLog* log = nullptr) {
    narrow(F32Images{xf, m2, {}, {}}, r, r2, lo, hi, klo, khi, p, spread, active, passes, resume,
           log);
}

// The slots of x[0..m) holding, in some lane, a value inside that lane's [lo, hi] (found on
// the float images: x in [lo, hi] implies xf in [RD(lo), RD(hi)]), copied to cx[0..mc) with the
// other lanes' values outside their bracket replaced by -inf / +inf; L = #{-inf} per lane.
// A lane's rank k element of x is then its rank k - klo + L element of cx, for ranks in
// [klo, khi).  With cxf, their float images too (+inf in the padding slot of an odd mc), for
// narrow_f32 on the compacted slots: kept as they are, they count as the infinities would for
// every pivot p in (lo, hi], the only ones narrow_f32 counts with (x < lo gives xf <= x < p,
// x > hi gives xf >= p for a float p <= x).  cx may be x (idx[c] >= c).  Returns mc.
inline int compact_bracket(const vd* x, const float* xf, int m, vd lo, vd hi, vd* cx, int* idx,
                           vi& L, float* cxf = nullptr, const std::int16_t* xh = nullptr) {
    const __m256 lof8 = _mm512_cvt_roundpd_ps((__m512d)lo, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m256 hif8 = _mm512_cvt_roundpd_ps((__m512d)hi, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 lof = _mm512_broadcast_f32x8(lof8), hif = _mm512_broadcast_f32x8(hif8);
    // with 16-bit images: x in [lo, hi] implies xh in [key(lo), key(hi)] (their floats'
    // keys, as key16_images makes them), a test of four slots per vector
    auto key = [](__m256 f) {
        const __m256i b = _mm256_castps_si256(_mm256_add_ps(f, _mm256_setzero_ps()));
        return _mm512_broadcast_i32x4(_mm256_cvtepi32_epi16(_mm256_srai_epi32(f32_order(b), 16)));
    };
    const __m512i loh = xh ? key(lof8) : __m512i{}, hih = xh ? key(hif8) : __m512i{};
    int mc = 0;
    int s = 0;
    // 16 slots at a time: a vector of 16 floats holds two slots' 8 lanes (32 keys: four
    // slots'), one byte of its mask each; a slot is kept when its byte is not zero (the bytes
    // OR-folded into their low bit, gathered by pext), and the kept slots' numbers go out in
    // one compress (mc <= s: the store stays inside idx[0..m))
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; s + 16 <= m; s += 16) {
        unsigned long long q[2];
        for (int h = 0; h < 2; ++h) {
            unsigned long long w = 0;
            if (xh) {
                for (int j = 0; j < 2; ++j) {
                    const __m512i v = _mm512_load_si512(xh + (s + 8 * h + 4 * j) * 8);
                    const __mmask32 k = _mm512_mask_cmple_epi16_mask(
                        _mm512_cmpge_epi16_mask(v, loh), v, hih);
                    w |= static_cast<unsigned long long>(_cvtmask32_u32(k)) << (32 * j);
                }
            } else {
                for (int j = 0; j < 4; ++j) {
                    const __m512 v = _mm512_load_ps(xf + (s + 8 * h + 2 * j) * 8);
                    const __mmask16 k = _mm512_mask_cmp_ps_mask(
                        _mm512_cmp_ps_mask(v, lof, _CMP_GE_OQ), v, hif, _CMP_LE_OQ);
                    w |= static_cast<unsigned long long>(_cvtmask16_u32(k)) << (16 * j);
                }
            }
            w |= w >> 4;
            w |= w >> 2;
            w |= w >> 1;
            q[h] = _pext_u64(w, 0x0101010101010101ULL);
        }
        const unsigned bits = static_cast<unsigned>(q[0] | (q[1] << 8));
        _mm512_storeu_si512(idx + mc, _mm512_maskz_compress_epi32(
                                          static_cast<__mmask16>(bits),
                                          _mm512_add_epi32(iota, _mm512_set1_epi32(s))));
        mc += __builtin_popcount(bits);
    }
    for (; s < m; s += 2) {
        const __m512 v = _mm512_load_ps(xf + s * 8);
        unsigned k = _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(v, lof, _CMP_GE_OQ), v, hif,
                                             _CMP_LE_OQ);
        if (s + 1 >= m) k &= 0xffu;  // (the padding slot)
        idx[mc] = s;
        mc += (k & 0xffu) != 0;
        idx[mc] = s + 1;
        mc += (k >> 8) != 0;
    }
    const vd pinf = simd::splat(kInf), minf = simd::splat(-kInf);
    vi nb = vi{};
    for (int c = 0; c < mc; ++c) {
        const vd v = x[idx[c]];
        const vi lt = simd::mask(v < lo), gt = simd::mask(v > hi);
        cx[c] = simd::sel(lt, minf, simd::sel(gt, pinf, v));
        nb = nb - lt;
        if (cxf) _mm256_store_ps(cxf + c * 8, _mm256_load_ps(xf + idx[c] * 8));
    }
    if (cxf && (mc & 1)) _mm256_store_ps(cxf + mc * 8, _mm256_set1_ps(kInf));
    L = nb;
    return mc;
}
#endif

// Per lane, the element of rank r (0-based) of x[0..m) with khi elements (missing slots hold
// +inf, above them), for lanes in `active`; lo/hi: per-lane min/max; the narrowing keeps the
// bracket around ranks r..r2 (r2 = r or r + 1, see narrow_f32); p: the first pivot.  With
// `next`, also the element of rank r + 1 (counted among the same, possibly compacted, slots).
inline vd select_lanes(const vd* x, int m, vi rv, vi r2, vd khi, vd lo, vd hi, vd p, vi active,
                       const float* xf, vd* cx, int* idx, vd spread, vd* next,
                       float* cxf = nullptr, vd klo = vd{}, PivotLog* log = nullptr,
                       const std::int16_t* xh = nullptr) {
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    if (xf) {
        // narrow on the float images, then select among the slots left in some active lane's
        // bracket (an inactive lane's is empty here: it would keep every slot)
        const vd pinf = simd::splat(kInf), minf = simd::splat(-kInf);
        // keep those slots (in cx; their float images in `to`) and count ranks among them
        auto compact = [&](float* to, const std::int16_t* keys) {
            vi L;
            m = compact_bracket(x, xf, m, simd::sel(active, lo, pinf), simd::sel(active, hi, minf),
                                cx, idx, L, to, keys);
            const vd Ld = simd::small_int_to_double(L);
            const vi sh = L - (vi)_mm512_cvtpd_epi64((__m512d)klo);  // (klo: an exact integer)
            rv = rv + sh;
            r2 = r2 + sh;
            khi = Ld + (khi - klo);
            klo = Ld;
            x = cx;
            xf = to;
        };
        // every pass counts all m slots: from kCompactEarly slots on, keep only the slots
        // inside some lane's bracket after the first passes and narrow on those (at 40 years,
        // three passes leave ~14 % of the slots for the median, ~9 % over the median and the
        // interval's ends)
        // (the first, coarse passes on all slots count 16-bit images when there are some)
        const bool early = cxf && m >= kCompactEarly;
        if (early && xh)
            narrow(Key16Images{xh, (m + 3) & ~3, {}, {}}, rv, r2, lo, hi, klo, khi, p, spread,
                   active, kPassesBeforeCompaction, false, log);
        else
            narrow_f32(xf, m + (m & 1), rv, r2, lo, hi, klo, khi, p, spread, active,
                       early ? kPassesBeforeCompaction : 8, false, log);
        if (early) {
            compact(cxf, xh);
            narrow_f32(xf, m + (m & 1), rv, r2, lo, hi, klo, khi, p, vd{}, active, 8, true);
        }
        compact(nullptr, nullptr);
    }
#else
    (void)r2;
    (void)xf;
    (void)cx;
    (void)idx;
    (void)spread;
    (void)cxf;
    (void)log;
    (void)xh;
#endif
    const vd v1 = select_rank(x, m, rv, lo, hi, klo, khi, p, active);
    if (next) *next = next_rank(x, m, rv, v1);
    return v1;
}

// Lanes' medians of x[0..m) with `cnt` elements per lane (vector of counts; missing slots +inf):
// (lower + upper) / 2 for even counts, as detail::median_inplace.  lo/hi: per-lane min/max.
inline vd median_lanes(const vd* x, int m, const int* cnt, vd lo, vd hi, vd p, vi active,
                       const float* xf = nullptr, vd* cx = nullptr, int* idx = nullptr,
                       vd spread = vd{}, float* cxf = nullptr, PivotLog* log = nullptr,
                       const std::int16_t* xh = nullptr) {
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
    vd v2;
    const vd v1 = select_lanes(x, m, rv, rv - even, khi, lo, hi, p, active, xf, cx, idx, spread,
                               anyeven ? &v2 : nullptr, cxf, vd{}, log, xh);
    if (!anyeven) return v1;
    return simd::sel(even, (v1 + v2) / 2.0, v1);
}

// Block state beyond Block<NB>: the pivot sample, value ranks, float images, compaction.
struct LongWork {
    vd samp[kMaxLongRows / 2 + 1];
    vi lt[kMaxLongRows], gt[kMaxLongRows];  // per row: #{y_i < y_k}, #{y_i > y_k} (see pair_sweep)
    PivotLog plog;                          // the median's pivots (Sen's interval starts there)
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    alignas(64) float xf[(kMaxLongRows * (kMaxLongRows - 1) / 2 + 1) * VL];  // see narrow_f32
    vd cx[kMaxLongRows * (kMaxLongRows - 1) / 2];                              // compact_bracket
    alignas(64) float cxf[(kMaxLongRows * (kMaxLongRows - 1) / 2 + 1) * VL];  // select_lanes
    alignas(64) std::int16_t xh[(kMaxLongRows * (kMaxLongRows - 1) / 2 + 8) * VL];  // Key16Images
    int idx[kMaxLongRows * (kMaxLongRows - 1) / 2 + 2];
#endif
};

// The pair sweep, j-major (slot j(j-1)/2 + i): slope d / (t_j - t_i) with d = y_j - y_i
// (+inf in lanes without row j) and, on AVX-512, its float image rounded toward -inf (see
// narrow_f32); MK: Sneg += #{d < 0} - #{d > 0}, and per row j, e = #{i < j: d == 0} (tie
// groups, see the MK step).  Row-wise masking keeps the inner loop free of dependency chains
// longer than one operation.
template <bool MK, bool SEN>
inline void pair_sweep(Block<kMaxLongRows>& B, LongWork& W, vi& Sneg, vd& tie, vd& smin,
                       vd& smax) {
    const vd pinf = simd::splat(kInf), minf = simd::splat(-kInf);
    const int nmax = B.nmax;
    if (SEN) {
        W.lt[0] = vi{};
        W.gt[0] = vi{};
    }
    for (int j = 1; j < nmax; ++j) {
        const vd yj = B.yv[j], tj = B.tv[j];
        const vi jm = simd::mask(static_cast<double>(j) < B.nv);
        const int base = j * (j - 1) / 2;
        vd* xs = B.x + base;
        vi sg0 = vi{}, sg1 = vi{}, e = vi{};
        vd rmin = pinf, rmax = minf;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
        // (explicit masked instructions: the generic selects compile to xor chains here)
        {
            const __mmask8 jk = _mm512_movepi64_mask((__m512i)jm);
            const __m512d y = (__m512d)yj, t = (__m512d)tj, z = _mm512_setzero_pd();
            const __m512i one = _mm512_set1_epi64(1);
            __m512d mn = (__m512d)rmin, mx = (__m512d)rmax;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0;
            for (int i = 0; i < j; ++i) {
                const __m512d d = _mm512_sub_pd(y, (__m512d)B.yv[i]);
                const __mmask8 kg = _mm512_cmp_pd_mask(d, z, _CMP_GT_OQ);
                const __mmask8 kl = _mm512_cmp_pd_mask(d, z, _CMP_LT_OQ);
                if (SEN) {  // ranks of the values (median of y): y_i > y_j, y_i < y_j
                    W.lt[i] = (vi)_mm512_mask_add_epi64((__m512i)W.lt[i], kl & jk, (__m512i)W.lt[i], one);
                    W.gt[i] = (vi)_mm512_mask_add_epi64((__m512i)W.gt[i], kg & jk, (__m512i)W.gt[i], one);
                    const __m512d q = _mm512_mask_div_pd((__m512d)pinf, jk, d,
                                                         _mm512_sub_pd(t, (__m512d)B.tv[i]));
                    _mm512_store_pd((double*)(xs + i), q);
                    _mm256_store_ps(W.xf + (base + i) * 8,
                                    _mm512_cvt_roundpd_ps(q, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
                    mn = _mm512_min_pd(q, mn);  // q < mn ? q : mn
                    mx = _mm512_max_pd(q, mx);  // q > mx ? q : mx
                }
                a0 = _mm512_mask_sub_epi64(a0, kg, a0, one);
                a1 = _mm512_mask_add_epi64(a1, kl, a1, one);
                if (MK) a2 = _mm512_mask_add_epi64(a2, _mm512_cmp_pd_mask(d, z, _CMP_EQ_OQ), a2, one);
            }
            rmin = (vd)mn;
            rmax = (vd)mx;
            sg0 = (vi)a0;
            sg1 = (vi)a1;
            e = (vi)a2;
        }
#else
        (void)W;
        for (int i = 0; i < j; ++i) {
            const vd d = yj - B.yv[i];
            const vi kg = simd::mask(d > 0.0), kl = simd::mask(d < 0.0);
            if (SEN) {
                const vd q = simd::sel(jm, d / (tj - B.tv[i]), pinf);
                xs[i] = q;
                rmin = q < rmin ? q : rmin;
                rmax = q > rmax ? q : rmax;
                W.lt[i] = W.lt[i] - (kl & jm);
                W.gt[i] = W.gt[i] - (kg & jm);
            }
            sg0 = sg0 + kg;
            sg1 = sg1 - kl;
            if (MK) e = e - simd::mask(d == 0.0);
        }
#endif
        if (SEN) {
            W.lt[j] = -sg0;  // (later rows add the pairs (j, j' > j))
            W.gt[j] = sg1;
            smin = rmin < smin ? rmin : smin;  // (rows without j: +inf)
            smax = simd::sel(jm, rmax > smax ? rmax : smax, smax);
        }
        if (MK) {
            Sneg = Sneg + ((sg0 + sg1) & jm);
            const vd ed = simd::small_int_to_double(e & jm);
            tie = tie + ed * (ed + 2.0);
        }
    }
}

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

    // 1. pairs: slopes (and their float images), MK counts, ties; per-lane min / max slope
    vi Sneg = vi{};                 // L - G
    vd tie = vd{};                  // sum over rows of e (e + 2), e = #{i < j: y_i == y_j}
    vd smin = pinf, smax = minf;
    if (doMK && doSen)
        pair_sweep<true, true>(B, W, Sneg, tie, smin, smax);
    else if (doMK)
        pair_sweep<true, false>(B, W, Sneg, tie, smin, smax);
    else if (doSen)
        pair_sweep<false, true>(B, W, Sneg, tie, smin, smax);

    if (out.n_valid)
        for (int l = 0; l < nl; ++l) out.n_valid[p0 + l] = B.n[l];
    const vi few = B.few;
    const vd nan = simd::splat(kNaN);

    // 2. Mann-Kendall
    if (doMK) {
        // a tie group of t values has e = 0, 1, .., t - 1 at its members and
        // sum 6 e (e + 2) = t (t - 1) (2t + 5): the same integer as the generic path's sum
        store_mk(B, simd::small_int_to_double(-Sneg), 6.0 * tie, out, memo);
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
        vd p = vd{}, spread = vd{};  // seed of the selection, and a scale of the slopes
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
            spread = (b - a) * 0.2;
        }
        const float* xf = nullptr;
        const std::int16_t* xh = nullptr;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
        if (K >= 64) {
            if (K & 1) _mm256_store_ps(W.xf + K * 8, _mm256_set1_ps(kInf));
            xf = W.xf;  // (written by pair_sweep)
        }
        if (K >= kCompactEarly) {
            key16_images(W.xf, K, W.xh);
            xh = W.xh;
        }
#endif
        vd* cx = nullptr;
        int* idx = nullptr;
        float* cxf = nullptr;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
        cx = W.cx;
        idx = W.idx;
        cxf = W.cxf;
#endif
        W.plog.n = 0;
        vd Q = median_lanes(B.x, K, kc, smin, smax, p, act, xf, cx, idx, spread, cxf, &W.plog,
                            xh);
        Q = Q == 0.0 ? vd{} : Q;  // no negative zero
        if (out.slope) store(out.slope + p0, simd::sel(few, nan, Q), nl);
        if (out.sen_low && doMK) {
            // Sen's interval: the ranks of sen_interval.hpp per lane (ties from the MK sweep),
            // each selected as the median is, from the bracket the median's counts give
            vi rl, ru;
            const vi ok = interval_lane_ranks(B.n, nl, 6.0 * tie, opt.sen_z, rl, ru);
            vd khi;
            for (int l = 0; l < VL; ++l) khi[l] = kc[l];
            auto end = [&](vi r) {
                vd lo = smin, hi = smax, klo = vd{}, kh = khi;
                bracket_from(W.plog, r, lo, hi, klo, kh);
                return select_lanes(B.x, K, r, r, kh, lo, hi, Q, ok, xf, cx, idx, spread, nullptr,
                                    cxf, klo, nullptr, xh);
            };
            const vd lo_v = end(rl);
            const vd hi_v = end(ru);
            // +0.0 for a zero of either sign; NaN where scipy gives none
            store(out.sen_low + p0, simd::sel(ok, lo_v == 0.0 ? vd{} : lo_v, nan), nl);
            store(out.sen_high + p0, simd::sel(ok, hi_v == 0.0 ? vd{} : hi_v, nan), nl);
        }
        if (out.intercept) {
            // median of y from the ranks counted in the pair sweep: y_k is the element of
            // rank r iff #{y_i < y_k} <= r < n - #{y_i > y_k}; lanes with a -0.0 take the
            // generic median (a selection by value does not keep the sign of a zero)
            const vi nvi = simd::round_small_to_int(nv);
            const vi r1 = (nvi - 1) >> 1, r2 = nvi >> 1;  // r2 == r1 + 1 for even n
            vd v1 = vd{}, v2 = vd{};
            for (int k = 0; k < nmax; ++k) {
                const vi in = simd::mask(static_cast<double>(k) < nv);
                const vi lt = W.lt[k], le = nvi - W.gt[k];
                v1 = simd::sel(in & simd::mask(lt <= r1) & simd::mask(r1 < le), B.yv[k], v1);
                v2 = simd::sel(in & simd::mask(lt <= r2) & simd::mask(r2 < le), B.yv[k], v2);
            }
            store_intercept(B, simd::sel(B.nodd, v1, (v1 + v2) / 2.0), Q, out);
        }
    }

    // 4. Hurst
    if ((opt.compute & kDoHurst) && out.hurst)
        hurst_block<NB>(B.yv, B.tv, B.n, B.nv, nl, p0, opt.hurst, out.hurst, lnt);
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
    const LnTable<kMaxLongRows> lnt;
    for_chunks<LongThread>(P, n_threads, [&](LongThread& me, index_t b0, index_t b1) {
        for (index_t b = b0; b < b1; ++b)
            long_block<T>(me.block, me.work, y, P, Tn, years, b * VL, block_lanes(P, b), opt, out,
                          lnt.v, me.memo);
    });
}

}  // namespace fastpath
}  // namespace MLRI_KERNEL_NS
}  // namespace mlri

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
