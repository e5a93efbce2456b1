// mlri — Landsat Collection 2 Level-2 kernels (SPEC-landsat §1.4–§4): QA_PIXEL masking, scaling
// of SR/ST digital numbers, EVI with the NaN rules, LST from the ST band or by re-inverting the
// radiative transfer equation, and the per-pixel maximum composite with observation counts.
//
// Every kernel takes raw pointers, a pixel count and n_threads; OpenMP runs over pixels.  No
// kernel can fail on pixel values: fill, masked or nonsensical inputs give NaN outputs (and are
// not counted), never a crash.  Computation is in double, outputs float32.
//
// Fill is always tested on the raw digital numbers *before* scaling (an SR DN of 0 would
// otherwise become reflectance -0.2, an ST DN of 0 149 K).
#pragma once

#include "mlri/common.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {

// ---- QA_PIXEL bit constants (Collection 2, SPEC-landsat §1.5) --------------------------------
inline constexpr std::uint16_t kQaFill = 1u << 0;
inline constexpr std::uint16_t kQaDilated = 1u << 1;
inline constexpr std::uint16_t kQaCirrus = 1u << 2;
inline constexpr std::uint16_t kQaCloud = 1u << 3;
inline constexpr std::uint16_t kQaShadow = 1u << 4;
inline constexpr std::uint16_t kQaSnow = 1u << 5;
inline constexpr std::uint16_t kQaClear = 1u << 6;
inline constexpr std::uint16_t kQaWater = 1u << 7;

enum EviClamp : int { kEviClampNone = 0, kEviClampGee = 1 };
enum Pairing : int { kPairIndependent = 0, kPairGreenest = 1 };
enum EmisMethod : int { kEmisUsgs = 0, kEmisSobrino2004 = 1 };

// Pixel-quality rule.  A pixel is kept when every enabled test passes.
struct QaRule {
    std::uint16_t bad_bits = 0x3F;  // drop when (qa & bad_bits) != 0   (paper: bits 0-5)
    std::uint16_t conf_mask = 0;    // strict: ((qa >> 8) & conf_mask) must equal conf_expect
    std::uint16_t conf_expect = 0;
    std::uint16_t radsat_bad = 0;   // drop when (radsat & radsat_bad) != 0
    int aerosol_max = 4;            // OLI SR_QA_AEROSOL: drop when ((aer >> 6) & 3) >= aerosol_max
    int opacity_max = 1 << 30;      // TM SR_ATMOS_OPACITY DN: drop when >= opacity_max (-9999 kept)
};

struct ScaleParams {
    double b_mult = 2.75e-5, b_add = -0.2;  // blue
    double r_mult = 2.75e-5, r_add = -0.2;  // red
    double n_mult = 2.75e-5, n_add = -0.2;  // NIR
    double st_mult = 0.00341802, st_add = 149.0;
    bool sr_unit_range = false;  // strict: scaled blue/red/NIR must lie in (0, 1)
    int evi_clamp = kEviClampNone;
    int st_qa_max = -1;  // ST_QA DN (0.01 K) above which LST is dropped; < 0 = off
};

// Inputs of one scene on the output block (any pointer may be null = layer not read).
struct SceneInputs {
    const std::uint16_t* qa = nullptr;
    const std::uint16_t* radsat = nullptr;
    const std::uint8_t* aerosol = nullptr;
    const std::int16_t* opacity = nullptr;
    const std::uint16_t* blue = nullptr;
    const std::uint16_t* red = nullptr;
    const std::uint16_t* nir = nullptr;
    const std::uint16_t* st = nullptr;   // ST_B6 / ST_B10 digital numbers
    const std::int16_t* st_qa = nullptr;
    const float* lst = nullptr;          // precomputed LST (K), used instead of st when given
};

struct Accumulators {
    float* evi = nullptr;           // running max EVI (NaN = none yet); may be null
    float* lst = nullptr;           // running max LST (or LST at max EVI with kPairGreenest)
    std::uint16_t* n_evi = nullptr; // valid EVI observations
    std::uint16_t* n_lst = nullptr; // valid LST observations
    std::uint16_t* n_seen = nullptr;  // scenes with data (not fill) at the pixel
};

struct SceneCounts {
    std::int64_t n_evi = 0, n_lst = 0, n_seen = 0;
};

// Saturating count; 65535 is left free as the nodata value of the count rasters.
inline std::uint16_t sat_inc(std::uint16_t c, bool add) {
    return static_cast<std::uint16_t>(c + ((add && c < 0xFFFEu) ? 1 : 0));
}

// 1 = keep, 0 = drop, for a QA_PIXEL value (and the optional layers).
inline bool qa_keep(std::uint16_t q, const QaRule& r) {
    if (q & (r.bad_bits | kQaFill)) return false;
    if (r.conf_mask && (((q >> 8) & r.conf_mask) != r.conf_expect)) return false;
    return true;
}

// EVI from scaled reflectance, with the NaN rules of SPEC-landsat §2.  Returns NaN when invalid.
inline double evi_value(double b, double r, double n, int clamp) {
    double den = n + 6.0 * r - 7.5 * b + 1.0;
    if (clamp == kEviClampGee) {
        den = den < 0.0 ? 0.0 : (den > 10.0 ? 10.0 : den);
        if (!(den > 0.0)) return kNaN;
        double e = 2.5 * (n - r) / den;
        if (!isfin(e)) return kNaN;
        return e < -1.0 ? -1.0 : (e > 1.0 ? 1.0 : e);
    }
    if (!(den > 0.0)) return kNaN;
    const double e = 2.5 * (n - r) / den;
    return (e >= -1.0 && e <= 1.0) ? e : kNaN;
}

// The fused per-scene step: mask -> scale -> EVI / LST -> max-accumulate and count.
inline SceneCounts composite_scene(const SceneInputs& in, const QaRule& rule, const ScaleParams& sp,
                                   int pairing, const Accumulators& acc, index_t n,
                                   int n_threads) {
    const int nt = resolve_threads(n_threads);
    (void)nt;
    const bool want_evi = acc.evi && in.blue && in.red && in.nir;
    const bool want_lst = acc.lst && (in.st || in.lst);
    std::int64_t c_evi = 0, c_lst = 0, c_seen = 0;
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel for num_threads(nt) schedule(static) reduction(+ : c_evi, c_lst, c_seen)
#endif
    for (index_t i = 0; i < n; ++i) {
        // -- fill and quality --------------------------------------------------------------
        bool seen;
        bool keep;
        if (in.qa) {
            const std::uint16_t q = in.qa[i];
            seen = (q & kQaFill) == 0;
            keep = qa_keep(q, rule);
        } else {
            seen = (want_evi && (in.blue[i] | in.red[i] | in.nir[i]) != 0) ||
                   (in.st && in.st[i] != 0) || (in.lst && isfin(in.lst[i]));
            keep = seen;
        }
        if (keep && in.radsat && (in.radsat[i] & rule.radsat_bad)) keep = false;
        if (keep && in.aerosol && static_cast<int>((in.aerosol[i] >> 6) & 3u) >= rule.aerosol_max)
            keep = false;
        if (keep && in.opacity && in.opacity[i] != -9999 &&
            static_cast<int>(in.opacity[i]) >= rule.opacity_max)
            keep = false;

        // -- EVI ---------------------------------------------------------------------------
        double evi = kNaN;
        if (want_evi && keep) {
            const std::uint16_t db = in.blue[i], dr = in.red[i], dn = in.nir[i];
            if (db != 0 && dr != 0 && dn != 0) {  // fill tested before scaling
                const double b = db * sp.b_mult + sp.b_add;
                const double r = dr * sp.r_mult + sp.r_add;
                const double nn = dn * sp.n_mult + sp.n_add;
                const bool in_range = !sp.sr_unit_range ||
                                      (b > 0.0 && b < 1.0 && r > 0.0 && r < 1.0 && nn > 0.0 && nn < 1.0);
                if (in_range) evi = evi_value(b, r, nn, sp.evi_clamp);
            }
        }
        // -- LST ---------------------------------------------------------------------------
        double lst = kNaN;
        if (want_lst && keep) {
            if (in.lst) {
                const double v = in.lst[i];
                lst = (isfin(v) && v > 0.0) ? v : kNaN;
            } else if (in.st[i] != 0) {
                lst = in.st[i] * sp.st_mult + sp.st_add;
            }
            if (in.st_qa && sp.st_qa_max >= 0) {
                const std::int16_t u = in.st_qa[i];
                if (u == -9999 || static_cast<int>(u) > sp.st_qa_max) lst = kNaN;
            }
        }
        const bool ok_e = isfin(evi), ok_l = isfin(lst);
        // -- accumulate (NaN-ignoring max) ---------------------------------------------------
        if (want_evi) {
            const float ev = static_cast<float>(evi);
            const float cur = acc.evi[i];
            const bool greener = ok_e && (!(cur == cur) || ev > cur);
            if (greener) acc.evi[i] = ev;
            if (acc.n_evi) acc.n_evi[i] = sat_inc(acc.n_evi[i], ok_e);
            if (want_lst && pairing == kPairGreenest && greener)
                acc.lst[i] = static_cast<float>(lst);
        }
        if (want_lst) {
            if (pairing != kPairGreenest || !want_evi) {
                const float lv = static_cast<float>(lst);
                const float cur = acc.lst[i];
                if (ok_l && (!(cur == cur) || lv > cur)) acc.lst[i] = lv;
            }
            if (acc.n_lst) acc.n_lst[i] = sat_inc(acc.n_lst[i], ok_l);
        }
        if (acc.n_seen) acc.n_seen[i] = sat_inc(acc.n_seen[i], seen);
        c_evi += ok_e ? 1 : 0;
        c_lst += ok_l ? 1 : 0;
        c_seen += seen ? 1 : 0;
    }
    SceneCounts c;
    c.n_evi = c_evi;
    c.n_lst = c_lst;
    c.n_seen = c_seen;
    return c;
}

// QA mask alone: out[i] = 1 keep, 0 drop (fill, preset bits, confidence, RADSAT).
inline void qa_mask(const std::uint16_t* qa, const std::uint16_t* radsat, const QaRule& rule,
                    std::uint8_t* out, index_t n, int n_threads) {
    const int nt = resolve_threads(n_threads);
    (void)nt;
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (index_t i = 0; i < n; ++i) {
        bool k = qa_keep(qa[i], rule);
        if (radsat && (radsat[i] & rule.radsat_bad)) k = false;
        out[i] = k ? 1 : 0;
    }
}

// NaN-ignoring running maximum with a count of finite observations.
inline void fmax_accumulate(float* acc, const float* x, std::uint16_t* count, index_t n,
                            int n_threads) {
    const int nt = resolve_threads(n_threads);
    (void)nt;
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (index_t i = 0; i < n; ++i) {
        const float v = x[i];
        const bool ok = __builtin_isfinite(v);
        const float cur = acc[i];
        if (ok && (!(cur == cur) || v > cur)) acc[i] = v;
        if (count) count[i] = sat_inc(count[i], ok);
    }
}

// LST by re-inverting the RTE from the L2 intermediate layers (SPEC-landsat §3, option B):
//   B(Ts) = (L - Lup - tau (1 - e) Ldown) / (tau e),  Ts = K2 / ln(K1 / B + 1).
// Emissivity: kEmisUsgs reads ST_EMIS (x 1e-4); kEmisSobrino2004 uses the NDVI thresholds of
// Sobrino et al. (2004) from scaled red/NIR, with water 0.99 and snow 0.989 from QA bits 7/5.
struct RteParams {
    double k1 = 774.8853, k2 = 1321.0789;
    double rad_scale = 0.001;    // ST_TRAD / URAD / DRAD
    double frac_scale = 0.0001;  // ST_ATRAN / ST_EMIS
    double r_mult = 2.75e-5, r_add = -0.2, n_mult = 2.75e-5, n_add = -0.2;
    int emissivity = kEmisSobrino2004;
};

inline double sobrino2004_emissivity(double red, double nir) {
    const double den = nir + red;
    if (!(den != 0.0)) return kNaN;
    const double ndvi = (nir - red) / den;
    if (!isfin(ndvi)) return kNaN;
    if (ndvi < 0.2) return 0.979 - 0.035 * red;
    if (ndvi > 0.5) return 0.99;
    const double pv = ((ndvi - 0.2) / 0.3) * ((ndvi - 0.2) / 0.3);
    return 0.004 * pv + 0.986;
}

inline void lst_rte(const std::int16_t* trad, const std::int16_t* urad, const std::int16_t* drad,
                    const std::int16_t* atran, const std::int16_t* emis,
                    const std::uint16_t* red, const std::uint16_t* nir, const std::uint16_t* qa,
                    const RteParams& p, float* out, index_t n, int n_threads) {
    const int nt = resolve_threads(n_threads);
    (void)nt;
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (index_t i = 0; i < n; ++i) {
        double res = kNaN;
        const std::int16_t t = trad[i], u = urad[i], d = drad[i], a = atran[i];
        if (t != -9999 && u != -9999 && d != -9999 && a != -9999 && a > 0) {
            double e = kNaN;
            if (p.emissivity == kEmisUsgs) {
                if (emis && emis[i] != -9999 && emis[i] > 0) e = emis[i] * p.frac_scale;
            } else if (red && nir && red[i] != 0 && nir[i] != 0) {
                e = sobrino2004_emissivity(red[i] * p.r_mult + p.r_add, nir[i] * p.n_mult + p.n_add);
            }
            if (qa && p.emissivity == kEmisSobrino2004 && !(qa[i] & kQaFill)) {
                if (qa[i] & kQaSnow) e = 0.989;
                else if (qa[i] & kQaWater) e = 0.99;
            }
            if (isfin(e) && e > 0.0 && e <= 1.0) {
                const double L = t * p.rad_scale, Lu = u * p.rad_scale, Ld = d * p.rad_scale;
                const double tau = a * p.frac_scale;
                const double B = (L - Lu - tau * (1.0 - e) * Ld) / (tau * e);
                if (B > 0.0 && isfin(B)) {
                    const double ts = p.k2 / std::log(p.k1 / B + 1.0);
                    if (isfin(ts) && ts > 0.0) res = ts;
                }
            }
        }
        out[i] = static_cast<float>(res);
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
