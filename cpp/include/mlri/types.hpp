// mlri — plain types shared by every translation unit (no code, so no ODR hazard between the
// per-SIMD-target kernel objects and the binding layer).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mlri {

using index_t = std::int64_t;

// ---- restoration classes (uint8 codes, SPEC-statistics §4) ----------------------------------
enum ClassCode : std::uint8_t {
    kNodata = 0,
    kSD = 1,   // significant decrease (degradation)
    kND = 2,   // non-significant decrease
    kNI = 3,   // non-significant increase
    kSAI = 4,  // significant anti-persistent increase (H <= 0.5)
    kSCI = 5,  // significant consistent increase (H > 0.5)
    kSIH = 6,  // significant increase, Hurst undefined
};

// ---- flag bits ------------------------------------------------------------------------------
enum FlagBits : std::uint8_t {
    kFlagConstant = 1u << 0,        // all valid values equal (n >= 2)
    kFlagSlope0Sig = 1u << 1,       // Sen slope == 0 but |Z| > z_crit
    kFlagFewValid = 1u << 2,        // n_valid < min_valid  (class forced to nodata)
    kFlagYearsDropped = 1u << 3,    // MLRI: >= 1 year dropped because EVI <= evi_min / LST <= 0
    kFlagHurstUndefined = 1u << 4,  // H is NaN (degenerate or too short)
};

enum EviPolicy : int { kEviMask = 0, kEviClamp = 1 };

struct IndexOptions {
    double lst_offset = 0.0;  // added to LST before use (273.15 for Celsius inputs)
    double evi_min = 0.0;
    int evi_policy = kEviMask;
};

enum HurstMethod : int { kHurstExpanding = 0, kHurstSegmented = 1 };
enum HurstSeries : int { kSeriesDiff = 0, kSeriesLevel = 1 };
enum HurstGap : int { kGapIgnore = 0, kGapRate = 1 };
enum HurstDegenerate : int { kDegenerateDrop = 0, kDegenerateNaN = 1 };

struct HurstOptions {
    int method = kHurstExpanding;
    int series = kSeriesDiff;
    int ddof = 0;  // expanding: 0 (population, default) or 1; segmented always uses ddof=1 (nolds)
    int tau_min = 2;
    int gap = kGapIgnore;
    int degenerate = kDegenerateDrop;
    double rel_tol = 1e-12;
    int min_points = 2;
    bool corrected = true;  // segmented: Anis-Lloyd-Peters correction
};

enum ComputeBits : unsigned { kDoMK = 1u, kDoSen = 2u, kDoHurst = 4u, kDoAll = 7u };

struct TrendOptions {
    HurstOptions hurst;
    unsigned compute = kDoAll;
    double sen_z = 0.0;  // Sen's slope interval: z = Phi^-1(alpha/2) < 0 (with sen_low/sen_high)
};

// Output pointers, each of length P (nullptr = not requested).
struct TrendOutputs {
    std::int32_t* n_valid = nullptr;
    double* s = nullptr;          // Mann–Kendall S (exact integer; NaN for n < 2)
    double* var_s = nullptr;      // tie-corrected var(S) = var18 / 18
    double* z = nullptr;          // continuity-corrected Z (0 when S == 0)
    double* p = nullptr;          // two-sided p = erfc(|Z| / sqrt 2)
    double* slope = nullptr;      // Sen's slope, units per year
    double* intercept = nullptr;  // at years[0]: median(y) - Q * median(t - years[0])
    double* hurst = nullptr;
    // Sen's slope interval at TrendOptions::sen_z (sen_interval.hpp; both or neither)
    double* sen_low = nullptr;
    double* sen_high = nullptr;
};

struct ClassifyOptions {
    double z_crit = 1.96;
    int min_valid = 10;
    bool zero_slope_sign_s = false;
    double h_threshold = 0.5;
    // With one-sided p-values (classify's p_inc / p_dec): a tail rejects at p <= p_level;
    // alternative 0 tests both tails, 1 only the increase, 2 only the decrease.
    double p_level = 0.025;
    int alternative = 0;
};

// Function table of one SIMD target (see dispatch.hpp).
struct KernelTable {
    const char* name;
    void (*trend_f32)(const float*, index_t, int, const double*, const TrendOptions&,
                      const TrendOutputs&, int);
    void (*trend_f64)(const double*, index_t, int, const double*, const TrendOptions&,
                      const TrendOutputs&, int);
    void (*index_f32)(const float*, const float*, index_t, index_t, const IndexOptions&, float*,
                      std::int32_t*, std::int64_t*, int);
    void (*index_f64)(const double*, const double*, index_t, index_t, const IndexOptions&,
                      double*, std::int32_t*, std::int64_t*, int);
};

}  // namespace mlri
