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
// Deterministic natural logarithm for positive, finite, normal x (fdlibm __ieee754_log core,
// written branch-free so it vectorises).  Every SIMD target runs exactly these operations, so
// results are bit-identical across targets (the build disables FMA contraction).  Max error
// < 1 ulp.  Callers guarantee x > 0 and finite.
inline double log_pos(double x) {
    constexpr double ln2_hi = 6.93147180369123816490e-01;
    constexpr double ln2_lo = 1.90821492927058770002e-10;
    constexpr double Lg1 = 6.666666666666735130e-01;
    constexpr double Lg2 = 3.999999999940941908e-01;
    constexpr double Lg3 = 2.857142874366239149e-01;
    constexpr double Lg4 = 2.222219843214978396e-01;
    constexpr double Lg5 = 1.818357216161805012e-01;
    constexpr double Lg6 = 1.531383769920937332e-01;
    constexpr double Lg7 = 1.479819860511658591e-01;
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    std::int64_t e = static_cast<std::int64_t>((bits >> 52) & 0x7ffu) - 1023;
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;  // mantissa in [1, 2)
    double m;
    std::memcpy(&m, &bits, sizeof m);
    const bool big = m > 1.41421356237309514547;  // keep m in [sqrt(1/2), sqrt(2))
    m = big ? m * 0.5 : m;
    e += big ? 1 : 0;
    const double dk = static_cast<double>(e);
    const double f = m - 1.0;
    const double s = f / (2.0 + f);
    const double z = s * s;
    const double w = z * z;
    const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
    const double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
    const double R = t2 + t1;
    const double hfsq = 0.5 * f * f;
    return dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
}

}  // namespace detail
}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
