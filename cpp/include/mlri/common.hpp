// mlri — common definitions for the pure C++ kernels (no Python headers).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(MLRI_HAS_OPENMP)
#include <omp.h>
#endif

#include "mlri/types.hpp"

// Every kernel lives in a per-target inline namespace: the same header is compiled once per
// SIMD target (baseline / AVX2 / AVX-512) and the symbols must not collide (ODR).  Kernel headers
// therefore use no std:: templates either (their instantiations would be shared by the linker).
#ifndef MLRI_KERNEL_NS
#define MLRI_KERNEL_NS generic
#endif

namespace mlri {
inline namespace MLRI_KERNEL_NS {

inline constexpr double kNaN = __builtin_nan("");
inline constexpr double kInf = __builtin_inf();

inline bool isfin(double v) { return __builtin_isfinite(v); }
inline double fabs_(double v) { return __builtin_fabs(v); }

inline int resolve_threads(int n_threads) {
#if defined(MLRI_HAS_OPENMP)
    if (n_threads <= 0) return omp_get_max_threads();
    return n_threads;
#else
    (void)n_threads;
    return 1;
#endif
}

// Index of the calling thread in the current OpenMP team (0 without OpenMP): the slot of its
// per-thread work, allocated before the parallel region.
inline std::size_t thread_slot() {
#if defined(MLRI_HAS_OPENMP)
    return static_cast<std::size_t>(omp_get_thread_num());
#else
    return 0;
#endif
}

// Minimal owning buffer (avoids std::vector instantiations in per-target code).
template <class V>
struct Buffer {
    V* data_ = nullptr;
    std::size_t size_ = 0;
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() { delete[] data_; }
    void assign(std::size_t n, V v) {
        if (n != size_) {
            delete[] data_;
            data_ = new V[n];
            size_ = n;
        }
        for (std::size_t i = 0; i < n; ++i) data_[i] = v;
    }
    V* data() { return data_; }
    V& operator[](std::size_t i) { return data_[i]; }
};

// Owning array of n value-initialised elements (allocate per-thread work with it *before* an
// OpenMP parallel region: an exception must never leave a region, it would terminate).
template <class V>
struct Owned {
    V* p = nullptr;
    explicit Owned(std::size_t n) : p(new V[n > 0 ? n : 1]()) {}
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    ~Owned() { delete[] p; }
    V& operator[](std::size_t i) { return p[i]; }
};

namespace detail {
// (log1p(r) - r) / r^2 from the Taylor series of log1p to r^9, for scalars and SIMD vectors
// alike (log_pos).
// Horner's rule from the highest coefficient: h = 1/9, then h = c + r h for each next c, i.e.
// -0.5 + r (1/3 + r (-1/4 + r (1/5 + r (-1/6 + r (1/7 + r (-1/8 + r / 9)))))).
inline constexpr double kLog1pTail[8] = {1.0 / 9.0,  -0.125, 1.0 / 7.0, -1.0 / 6.0,
                                         0.2,        -0.25,  1.0 / 3.0, -0.5};
// log1p_tail of r[0..n) into h[0..n), the n Horner chains (14 dependent operations each)
// side by side, so that they overlap instead of queueing on one another's latency.
template <class V>
inline void log1p_tail_n(const V* r, V* h, int n) {
    for (int i = 0; i < n; ++i) h[i] = kLog1pTail[1] + r[i] * kLog1pTail[0];
    for (int c = 2; c < 8; ++c)
        for (int i = 0; i < n; ++i) h[i] = kLog1pTail[c] + r[i] * h[i];
}
template <class V>
inline V log1p_tail(V r) {
    V h;
    log1p_tail_n(&r, &h, 1);
    return h;
}

// Tables of log_pos: ln(c_j) and 1 / c_j for c_j = 1 + j/32 (j < 14) or (1 + j/32) / 2
// (j >= 14, so that c_j lies in [0.71, 1.41]), j = 0..31, each the double nearest to the exact
// value (generated with 50-digit decimal arithmetic).  32 entries: four AVX-512 registers per
// table, read by two permutes (gathers are slow under current Intel microcode).
alignas(64) inline constexpr double kLogTabLn[32] = {
    0x0p+0, 0x1.f829b0e783300p-6, 0x1.f0a30c01162a6p-5, 0x1.6f0d28ae56b4cp-4,
    0x1.e27076e2af2e6p-4, 0x1.29552f81ff523p-3, 0x1.5ff3070a793d4p-3, 0x1.9525a9cf456b4p-3,
    0x1.c8ff7c79a9a22p-3, 0x1.fb9186d5e3e2bp-3, 0x1.1675cababa60ep-2, 0x1.2e8e2bae11d31p-2,
    0x1.4618bc21c5ec2p-2, 0x1.5d1bdbf5809cap-2, -0x1.522ae0738a3d8p-2, -0x1.3c25277333184p-2,
    -0x1.269621134db92p-2, -0x1.1178e8227e47cp-2, -0x1.f991c6cb3b379p-3, -0x1.d1037f2655e7bp-3,
    -0x1.a93ed3c8ad9e3p-3, -0x1.823c16551a3c2p-3, -0x1.5bf406b543db2p-3, -0x1.365fcb0159016p-3,
    -0x1.1178e8227e47cp-3, -0x1.da727638446a2p-4, -0x1.9335e5d594989p-4, -0x1.4d3115d207eacp-4,
    -0x1.08598b59e3a07p-4, -0x1.894aa149fb343p-5, -0x1.0415d89e74444p-5, -0x1.0205658935847p-6,
};
alignas(64) inline constexpr double kLogTabInv[32] = {
    0x1.0000000000000p+0, 0x1.f07c1f07c1f08p-1, 0x1.e1e1e1e1e1e1ep-1, 0x1.d41d41d41d41dp-1,
    0x1.c71c71c71c71cp-1, 0x1.bacf914c1bad0p-1, 0x1.af286bca1af28p-1, 0x1.a41a41a41a41ap-1,
    0x1.999999999999ap-1, 0x1.8f9c18f9c18fap-1, 0x1.8618618618618p-1, 0x1.7d05f417d05f4p-1,
    0x1.745d1745d1746p-1, 0x1.6c16c16c16c17p-1, 0x1.642c8590b2164p+0, 0x1.5c9882b931057p+0,
    0x1.5555555555555p+0, 0x1.4e5e0a72f0539p+0, 0x1.47ae147ae147bp+0, 0x1.4141414141414p+0,
    0x1.3b13b13b13b14p+0, 0x1.3521cfb2b78c1p+0, 0x1.2f684bda12f68p+0, 0x1.29e4129e4129ep+0,
    0x1.2492492492492p+0, 0x1.1f7047dc11f70p+0, 0x1.1a7b9611a7b96p+0, 0x1.15b1e5f75270dp+0,
    0x1.1111111111111p+0, 0x1.0c9714fbcda3bp+0, 0x1.0842108421084p+0, 0x1.0410410410410p+0,
};

// ln 2 in two parts for log_pos (fdlibm's split)
inline constexpr double kLn2Hi = 6.93147180369123816490e-01;  // low 32 bits zero: e * kLn2Hi exact
inline constexpr double kLn2Lo = 1.90821492927058770002e-10;  // ln 2 - kLn2Hi

// Deterministic natural logarithm for positive, finite, normal x, without a division (the
// divider bounded the Hurst exponent, which takes one log per window length and pixel).
// x = 2^e * m with m in [0.71, 1.42] rounded to c = c_j (|m - c| <= 2^-6); m - c is exact
// (Sterbenz), r = (m - c) / c is taken as (m - c) * kLogTabInv[j] (|r| < 2^-6), and
// ln x = (e kLn2Hi + ln c) + (e kLn2Lo + log1p(r)), log1p by its Taylor series to r^9
// (truncation < 2^-63).  Max error 2 ulp (4e6 samples against glibc's log); ln(1) = 0.
// Branch-free, and simd::log_pos_n performs exactly these operations: bit-identical across SIMD
// targets (the build disables FMA contraction).  Callers guarantee x > 0, finite and normal.
inline double log_pos(double x) {
    std::uint64_t u;
    std::memcpy(&u, &x, sizeof u);
    const std::uint64_t ur = u + (std::uint64_t(1) << 46);  // m rounded to 5 bits (may carry)
    const std::uint64_t j = (ur >> 47) & 31u;
    const std::uint64_t big = j >= 14 ? 1u : 0u;  // m = x / 2^e in [0.71, 1) instead of [1.4, 2)
    const std::int64_t e = static_cast<std::int64_t>(((ur >> 52) & 0x7ffu) + big) - 1023;
    const std::uint64_t mb = u - (static_cast<std::uint64_t>(e) << 52);          // m = x / 2^e
    const std::uint64_t cb = ((0x3ffu - big) << 52) | (j << 47);                  // c_j
    double m, c;
    std::memcpy(&m, &mb, sizeof m);
    std::memcpy(&c, &cb, sizeof c);
    const double r = (m - c) * kLogTabInv[j];
    const double p = r + (r * r) * log1p_tail(r);
    const double dk = static_cast<double>(e);
    return (dk * kLn2Hi + kLogTabLn[j]) + (dk * kLn2Lo + p);
}

}  // namespace detail
}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
