// mlri — native-width SIMD vectors for the per-target kernels (GCC/Clang vector extensions).
//
// One source, compiled once per target: `vd` is as wide as the target's double registers
// (8 lanes with AVX-512, 4 with AVX2, 2 with SSE2), so every operation below maps to one
// instruction (never to the element-by-element code compilers emit for over-wide vectors).
// Each lane performs exactly the IEEE operations written, in the order written; with the build's
// -ffp-contract=off and no fast-math, every lane is bit-identical to the scalar expression.
#pragma once

#include <cstdint>

#include "mlri/common.hpp"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace mlri {
inline namespace MLRI_KERNEL_NS {
namespace simd {

#if defined(__AVX512F__)
inline constexpr int VL = 8;
#elif defined(__AVX__)
inline constexpr int VL = 4;
#else
inline constexpr int VL = 2;
#endif

typedef double vd __attribute__((vector_size(8 * VL)));
typedef long long vi __attribute__((vector_size(8 * VL)));           // lane masks / int64
typedef unsigned long long vu __attribute__((vector_size(8 * VL)));  // logical shifts

// A comparison result as a plain integer lane mask (all ones / all zeros).  On SSE2 an empty
// asm pins it to a register: GCC 12's generic-vector lowering otherwise turns combinations of
// masks into element-wise selects on boolean scalars that it then fails to expand (ICE in
// gimple_expand_vec_cond_expr).  Costs nothing on AVX targets.
template <class M>
inline vi mask(M m) {
    vi r = (vi)m;
#if defined(__SSE2__) && !defined(__AVX__)
    __asm__("" : "+x"(r));
#endif
    return r;
}

inline vd splat(double x) { return vd{} + x; }
inline vi splati(long long x) { return vi{} + x; }
// m ? a : b for lane masks m (all ones / all zeros)
inline vd sel(vi m, vd a, vd b) { return (vd)(((vi)a & m) | ((vi)b & ~m)); }
inline vi seli(vi m, vi a, vi b) { return (a & m) | (b & ~m); }
// a < b ? a : b and a > b ? a : b lane-wise (the second operand when unordered or equal, so
// -0.0/+0.0 and NaN behave exactly as the ternaries).  On x86 these are the minpd/maxpd
// intrinsics, which have exactly that definition: the same instructions GCC emits for the
// ternaries, but opaque to its value numbering, which is superlinear on the thousands of
// vector selects of a selection network (sortnet.hpp compiled ~10x faster this way).
inline vd vmin(vd a, vd b) {
#if defined(__AVX512F__)
    // (the masked form: _mm512_min_pd's undefined pass-through trips GCC 12's
    // -Wmaybe-uninitialized thousands of times)
    return (vd)_mm512_mask_min_pd((__m512d)a, (__mmask8)0xFF, (__m512d)a, (__m512d)b);
#elif defined(__AVX__)
    return (vd)_mm256_min_pd((__m256d)a, (__m256d)b);
#elif defined(__SSE2__)
    return (vd)_mm_min_pd((__m128d)a, (__m128d)b);
#else
    return a < b ? a : b;
#endif
}
inline vd vmax(vd a, vd b) {
#if defined(__AVX512F__)
    return (vd)_mm512_mask_max_pd((__m512d)a, (__mmask8)0xFF, (__m512d)a, (__m512d)b);
#elif defined(__AVX__)
    return (vd)_mm256_max_pd((__m256d)a, (__m256d)b);
#elif defined(__SSE2__)
    return (vd)_mm_max_pd((__m128d)a, (__m128d)b);
#else
    return a > b ? a : b;
#endif
}
inline vd vabs(vd a) { return (vd)((vi)a & splati(0x7fffffffffffffffLL)); }

typedef float vf __attribute__((vector_size(4 * VL)));

#if defined(__AVX2__)
// Keys of the keyed selection networks (trend_fast.hpp): 32-bit integers, 2 VL lanes in a
// register as wide as vd, so one min/max orders twice the pixels of a double one (and on AMD
// Zen 4 integer min/max also issue at a higher rate: band_pairs_19 took 157 ns/px on doubles,
// 50 ns/px on these keys).  SSE2 has no pminsd: it keeps the double networks.
#define MLRI_KEYED_NETWORKS 1
typedef int vk __attribute__((vector_size(8 * VL)));
typedef float vf2 __attribute__((vector_size(8 * VL)));
inline vk vmin(vk a, vk b) {
#if defined(__AVX512F__)
    return (vk)_mm512_mask_min_epi32((__m512i)a, (__mmask16)0xFFFF, (__m512i)a, (__m512i)b);
#else
    return (vk)_mm256_min_epi32((__m256i)a, (__m256i)b);
#endif
}
inline vk vmax(vk a, vk b) {
#if defined(__AVX512F__)
    return (vk)_mm512_mask_max_epi32((__m512i)a, (__mmask16)0xFFFF, (__m512i)a, (__m512i)b);
#else
    return (vk)_mm256_max_epi32((__m256i)a, (__m256i)b);
#endif
}
// The doubles a (lanes 0..VL) and b (lanes VL..2VL) as floats, lane by lane (round to nearest:
// monotone, x <= y gives float(x) <= float(y); beyond the float range, +-inf).
inline vf2 to_floats(vd a, vd b) {
    const vf fa = __builtin_convertvector(a, vf), fb = __builtin_convertvector(b, vf);
#if defined(__AVX512F__)
    return __builtin_shufflevector(fa, fb, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    return __builtin_shufflevector(fa, fb, 0, 1, 2, 3, 4, 5, 6, 7);
#endif
}
#endif

// Load VL consecutive values (unaligned) as doubles.
template <class T>
inline vd load(const T* p);
template <>
inline vd load<double>(const double* p) {
    vd v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
template <>
inline vd load<float>(const float* p) {
    vf v;
    __builtin_memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, vd);
}

// Lane mask: finite (not NaN, not +-inf).
inline vi isfinite(vd x) {
    const vi e = (vi)x & splati(0x7ff0000000000000LL);
    return mask(e != splati(0x7ff0000000000000LL));
}

// Lane-wise sqrt; compilers emit one sqrtpd (checked for the three x86 targets).
inline vd vsqrt(vd x) {
    vd r;
    for (int i = 0; i < VL; ++i) r[i] = __builtin_sqrt(x[i]);
    return r;
}

// 2^52 + 2^51: doubles in [2^52, 2^53) have the units as their last mantissa bit
inline constexpr double kIntMagic = 6755399441055744.0;

// Exact conversion of small integers (|e| < 2^51) to double: identical to (double)e.
inline vd small_int_to_double(vi e) { return (vd)(e + (vi)splat(kIntMagic)) - kIntMagic; }

// The inverse: x rounded to an integer (nearbyint, in the current rounding mode) as int64, for
// |x| < 2^51, by one addition.
inline vi round_small_to_int(vd x) { return (vi)(x + kIntMagic) - (vi)splat(kIntMagic); }

// t[j[l]] for every lane, j in [0, 32): two-register permutes on AVX-512 (its gathers are
// slow under current Intel microcode), a gather on AVX2, loads otherwise; exact either way.
inline vd lookup32(const double* t, vi j) {
#if defined(__AVX512F__)
    const __m512i ix = (__m512i)j;
    const __m512d lo = _mm512_permutex2var_pd(_mm512_load_pd(t), ix, _mm512_load_pd(t + 8));
    const __m512d hi = _mm512_permutex2var_pd(_mm512_load_pd(t + 16), ix, _mm512_load_pd(t + 24));
    const __mmask8 up = _mm512_test_epi64_mask(ix, _mm512_set1_epi64(16));
    return (vd)_mm512_mask_blend_pd(up, lo, hi);
#elif defined(__AVX2__)
    return (vd)_mm256_i64gather_pd(t, (__m256i)j, 8);
#else
    vd r;
    for (int i = 0; i < VL; ++i) r[i] = t[j[i]];
    return r;
#endif
}

// Lane-wise detail::log_pos (common.hpp) of x[0..n) in place, n <= N: the same operations in
// the same order, in three steps: the reduction x = 2^e c_j (1 + r), the tail polynomials
// (evaluated side by side: detail::log1p_tail_n), the sum.
struct LogParts {
    vd r, dk;
    vi j;
};
inline LogParts log_reduce(vd x) {
    const vu u = (vu)x;
    const vu ur = u + (1ULL << 46);
    const vi j = (vi)((ur >> 47) & 31u);
    const vi big = -mask(j >= 14);  // 1 or 0
    const vi e = (vi)((ur >> 52) & 0x7ffu) + big - 1023;
    const vu mb = u - ((vu)e << 52);
    const vu cb = ((vu)(0x3ff - big) << 52) | ((vu)j << 47);
    const vd m = (vd)mb, c = (vd)cb;
    return {(m - c) * lookup32(detail::kLogTabInv, j), small_int_to_double(e), j};
}
inline vd log_sum(const LogParts& a, vd tail) {
    const vd p = a.r + (a.r * a.r) * tail;
    return (a.dk * detail::kLn2Hi + lookup32(detail::kLogTabLn, a.j)) + (a.dk * detail::kLn2Lo + p);
}
template <int N>
inline void log_pos_n(vd* x, int n) {
    LogParts a[N];
    vd r[N], h[N];
    for (int i = 0; i < n; ++i) {
        a[i] = log_reduce(x[i]);
        r[i] = a[i].r;
    }
    detail::log1p_tail_n(r, h, n);
    for (int i = 0; i < n; ++i) x[i] = log_sum(a[i], h[i]);
}

}  // namespace simd
}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
