// mlri — restoration classes from the trend statistics (SPEC-statistics §4, paper rule).
//
//   sig = |Z| > z_crit (strict)
//   SI: sig and Q > 0     NI: !sig and Q > 0     ND: !sig and Q <= 0     SD: sig and Q <= 0
//   SI -> SCI if H > 0.5, SAI if H <= 0.5, SI_H_undefined if H is NaN
//   n_valid < min_valid (or Z/Q undefined) -> nodata
// Option zero_slope_sign_s: when Q == 0, take the direction from the sign of S instead.
#pragma once

#include "mlri/common.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {

template <class CT>
void classify(index_t P, const std::int32_t* n_valid, const double* s, const double* var_s,
              const double* z, const double* slope, const double* hurst, const CT* dropped,
              const ClassifyOptions& opt, std::uint8_t* cls, std::uint8_t* flags, int n_threads) {
    const int nt = resolve_threads(n_threads);
    (void)nt;
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (index_t i = 0; i < P; ++i) {
        std::uint8_t f = 0;
        const int nv = n_valid[i];
        const double zz = z[i], q = slope[i], h = hurst[i];
        if (nv >= 2 && var_s[i] == 0.0) f |= kFlagConstant;
        if (dropped && dropped[i] > 0) f |= kFlagYearsDropped;
        if (!isfin(h)) f |= kFlagHurstUndefined;
        const bool sig = fabs_(zz) > opt.z_crit;
        if (sig && q == 0.0) f |= kFlagSlope0Sig;
        std::uint8_t c = kNodata;
        if (nv < opt.min_valid || nv < 2) {
            f |= kFlagFewValid;
        } else if (isfin(zz) && isfin(q)) {
            bool up = q > 0.0;
            if (opt.zero_slope_sign_s && q == 0.0) up = s[i] > 0.0;
            if (!sig) {
                c = up ? kNI : kND;
            } else if (!up) {
                c = kSD;
            } else if (!isfin(h)) {
                c = kSIH;
            } else {
                c = h > opt.h_threshold ? kSCI : kSAI;
            }
        }
        cls[i] = c;
        flags[i] = f;
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
