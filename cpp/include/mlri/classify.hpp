// mlri — restoration classes from the trend statistics (SPEC-statistics §4, paper rule).
//
//   sig = |Z| > z_crit (strict)
//   SI: sig and Q > 0     NI: !sig and Q > 0     ND: !sig and Q <= 0     SD: sig and Q <= 0
//   SI -> SCI if H > 0.5, SAI if H <= 0.5, SI_H_undefined if H is NaN
//   n_valid < min_valid (or Z/Q undefined) -> nodata
// Option zero_slope_sign_s: when Q == 0, take the direction from the sign of S instead.
//
// With one-sided p-values of a calibrated test (p_inc, p_dec not null) the same rule decides
// significance by them instead of Z: SI when p_inc <= p_level, else SD when p_dec <= p_level
// (alternative 1 tests only the increase, 2 only the decrease), so the direction of a
// significant pixel is the tail that rejects; Q or a p-value undefined -> nodata.  Only pixels
// the rule classifies are tested (the slope0_significant flag follows), while with Z the flag
// reads |Z| alone, as it always has.
#pragma once

#include "mlri/common.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {

// Classes and flags of pixel i; kP: significance by the p-values p_inc / p_dec (else by Z).
template <bool kP, class CT>
inline void classify_pixel(index_t i, const std::int32_t* n_valid, const double* s,
                           const double* var_s, const double* z, const double* slope,
                           const double* hurst, const CT* dropped, const double* p_inc,
                           const double* p_dec, const ClassifyOptions& opt, std::uint8_t* cls,
                           std::uint8_t* flags) {
    std::uint8_t f = 0;
    const int nv = n_valid[i];
    const double q = slope[i], h = hurst[i];
    if (nv >= 2 && var_s[i] == 0.0) f |= kFlagConstant;
    if (dropped && dropped[i] > 0) f |= kFlagYearsDropped;
    if (!isfin(h)) f |= kFlagHurstUndefined;
    const bool few = nv < opt.min_valid || nv < 2;
    bool up = q > 0.0;
    if (opt.zero_slope_sign_s && q == 0.0) up = s[i] > 0.0;
    bool defined, sig_up, sig_down;  // Q and the significance defined; which tail rejects
    if constexpr (kP) {
        const double pi = p_inc[i], pd = p_dec[i];
        defined = isfin(q) && pi == pi && pd == pd;
        sig_up = defined && !few && opt.alternative != 2 && pi <= opt.p_level;
        sig_down = defined && !few && !sig_up && opt.alternative != 1 && pd <= opt.p_level;
    } else {
        const double zz = z[i];
        defined = isfin(zz) && isfin(q);
        const bool sig = fabs_(zz) > opt.z_crit;
        sig_up = sig && up;
        sig_down = sig && !up;
    }
    if ((sig_up || sig_down) && q == 0.0) f |= kFlagSlope0Sig;
    std::uint8_t c = kNodata;
    if (few) {
        f |= kFlagFewValid;
    } else if (defined) {
        if (sig_up) {
            c = !isfin(h) ? kSIH : (h > opt.h_threshold ? kSCI : kSAI);
        } else if (sig_down) {
            c = kSD;
        } else {
            c = up ? kNI : kND;
        }
    }
    cls[i] = c;
    flags[i] = f;
}

template <bool kP, class CT>
void classify_pixels(index_t P, const std::int32_t* n_valid, const double* s,
                     const double* var_s, const double* z, const double* slope,
                     const double* hurst, const CT* dropped, const double* p_inc,
                     const double* p_dec, const ClassifyOptions& opt, std::uint8_t* cls,
                     std::uint8_t* flags, int nt) {
    (void)nt;
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (index_t i = 0; i < P; ++i)
        classify_pixel<kP>(i, n_valid, s, var_s, z, slope, hurst, dropped, p_inc, p_dec, opt,
                           cls, flags);
}

// Classes and flags of P pixels: by Z, or by the p-values when p_inc / p_dec are given (one
// loop per rule, so that no pixel asks which rule applies).
template <class CT>
void classify(index_t P, const std::int32_t* n_valid, const double* s, const double* var_s,
              const double* z, const double* slope, const double* hurst, const CT* dropped,
              const double* p_inc, const double* p_dec, const ClassifyOptions& opt,
              std::uint8_t* cls, std::uint8_t* flags, int n_threads) {
    const int nt = resolve_threads(n_threads);
    if (p_inc)
        classify_pixels<true>(P, n_valid, s, var_s, z, slope, hurst, dropped, p_inc, p_dec, opt,
                              cls, flags, nt);
    else
        classify_pixels<false>(P, n_valid, s, var_s, z, slope, hurst, dropped, p_inc, p_dec,
                               opt, cls, flags, nt);
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
