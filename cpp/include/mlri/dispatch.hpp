// mlri — runtime SIMD-target dispatch table.  Each target's kernels are compiled in their own
// translation unit (cpp/src/kernels_target.cpp built with different -m flags, never
// -march=native) and registered here; the binding layer picks the best one the CPU supports
// at import time (overridable for tests with mlri._core.set_target).
#pragma once

#include "mlri/types.hpp"

namespace mlri {

#define MLRI_DECLARE_TARGET(t) \
    namespace t {              \
    const KernelTable& kernel_table(); \
    }

MLRI_DECLARE_TARGET(baseline)
#if defined(MLRI_HAVE_TARGET_AVX2)
MLRI_DECLARE_TARGET(avx2)
#endif
#if defined(MLRI_HAVE_TARGET_AVX512)
MLRI_DECLARE_TARGET(avx512)
#endif

}  // namespace mlri

// Onset kernels (onset.hpp): one table per target, selected together with the kernel table.
namespace mlri {
struct OnsetTable;
#define MLRI_DECLARE_ONSET(t) \
    namespace t {             \
    const OnsetTable& onset_table(); \
    }
MLRI_DECLARE_ONSET(baseline)
#if defined(MLRI_HAVE_TARGET_AVX2)
MLRI_DECLARE_ONSET(avx2)
#endif
#if defined(MLRI_HAVE_TARGET_AVX512)
MLRI_DECLARE_ONSET(avx512)
#endif
const OnsetTable& active_onset_kernels();  // dispatch.cpp: the table of the active target
}  // namespace mlri
