// One SIMD target's kernels.  CMake compiles this file once per target (baseline, avx2,
// avx512) with MLRI_TARGET set and that target's -m flags; everything it instantiates lives in
// the inline namespace mlri::<target> (see common.hpp), so the objects can be linked together.
#include <cmath>
#include <cstdint>
#include <cstring>

#ifndef MLRI_TARGET
#define MLRI_TARGET baseline
#endif
#define MLRI_KERNEL_NS MLRI_TARGET
#define MLRI_STR2(x) #x
#define MLRI_STR(x) MLRI_STR2(x)

#include "mlri/index.hpp"
#include "mlri/trend.hpp"
#include "mlri/onset.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {

// Block width of the generic trend path (T > 19 or unusual years): 16 lanes of double = two
// AVX-512 or four AVX2 registers per operation.  The fast path (trend_fast.hpp, T <= 19) works on
// one native vector of simd::VL lanes per block.
constexpr int kLanes = 16;

static void trend_f32(const float* y, index_t P, int T, const double* years, const TrendOptions& o,
                      const TrendOutputs& out, int nt) {
    fused_trend<kLanes, float>(y, P, T, years, o, out, nt);
}
static void trend_f64(const double* y, index_t P, int T, const double* years,
                      const TrendOptions& o, const TrendOutputs& out, int nt) {
    fused_trend<kLanes, double>(y, P, T, years, o, out, nt);
}
static void index_f32(const float* l, const float* e, index_t P, index_t T, const IndexOptions& o,
                      float* out, std::int32_t* dropped, std::int64_t* valid, int nt) {
    mlri_index<float, std::int32_t>(l, e, P, T, o, out, dropped, valid, nt);
}
static void index_f64(const double* l, const double* e, index_t P, index_t T,
                      const IndexOptions& o, double* out, std::int32_t* dropped,
                      std::int64_t* valid, int nt) {
    mlri_index<double, std::int32_t>(l, e, P, T, o, out, dropped, valid, nt);
}

const KernelTable& kernel_table() {
    static const KernelTable table{MLRI_STR(MLRI_TARGET), &trend_f32, &trend_f64, &index_f32,
                                   &index_f64};
    return table;
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri

// ---- onset kernels (onset.hpp): a separate table, so the trend table stays untouched ----
namespace mlri {
inline namespace MLRI_KERNEL_NS {

static void onset_f32(const float* y, index_t P, int T, const double* years, const OnsetOptions& o,
                      const OnsetOutputs& out, int nt) {
    onset_kernel<float>(y, P, T, years, o, out, nt);
}
static void onset_f64(const double* y, index_t P, int T, const double* years,
                      const OnsetOptions& o, const OnsetOutputs& out, int nt) {
    onset_kernel<double>(y, P, T, years, o, out, nt);
}

const OnsetTable& onset_table() {
    static const OnsetTable table{MLRI_STR(MLRI_TARGET), &onset_f32, &onset_f64};
    return table;
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
