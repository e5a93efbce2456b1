// mlri — the Mine Landscape Restoration Index (SPEC-statistics §M).
//
//   MLRI_ij = (LSTmax_j(first..i) / LST_ij) * (EVI_ij / EVImin_j(first..i))
//
// with running extrema over the VALID years up to and including i.  A year is invalid for a
// pixel when LST or EVI is NaN/inf, when LST (Kelvin, after the unit offset) is <= 0, or — with
// policy kEviMask — when EVI <= evi_min.  Invalid years give NaN and do not enter the extrema.
// Years removed by the EVI/LST value rule (not by NaN) are counted per pixel in `dropped`,
// as are years whose ratio is not representable (overflow in the output type).
// Policy kEviClamp floors EVI at evi_min (> 0) instead of dropping the year.
//
// Layout: inputs are time-major (T, P): element (t, p) at t * P + p, so neighbouring pixels of
// one year are contiguous and the inner loop vectorises across pixels.  Computation is in
// double; the output type follows the input type.
#pragma once

#include "mlri/common.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {

// The index's rule for one year's (LST, EVI) pair, shared by every kernel that recomputes MLRI
// (the significance tests): LST + lst_offset finite and > 0, EVI finite and above evi_min, or
// clamped up to it with kEviClamp.  l and e receive the values the index uses.
inline bool index_pair(const IndexOptions& o, double l_raw, double e_raw, double& l, double& e) {
    l = l_raw + o.lst_offset;
    e = e_raw;
    bool ok = isfin(l) && isfin(e) && l > 0.0;
    if (o.evi_policy == kEviClamp) {
        e = e < o.evi_min ? o.evi_min : e;
    } else {
        ok = ok && e > o.evi_min;
    }
    return ok;
}

template <class T, class C>
void mlri_index(const T* lst, const T* evi, index_t P, index_t Tn, const IndexOptions& opt,
                T* out, C* dropped, int n_threads) {
    constexpr index_t kBlock = 256;
    const index_t nblocks = (P + kBlock - 1) / kBlock;
    const int nt = resolve_threads(n_threads);
    (void)nt;
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (index_t b = 0; b < nblocks; ++b) {
        const index_t p0 = b * kBlock;
        const index_t nb = (P - p0) < kBlock ? (P - p0) : kBlock;
        double lmax[kBlock];
        double emin[kBlock];
        C cnt[kBlock];
        for (index_t k = 0; k < nb; ++k) {
            lmax[k] = -kInf;
            emin[k] = kInf;
            cnt[k] = 0;
        }
        for (index_t t = 0; t < Tn; ++t) {
            const T* lrow = lst + t * P + p0;
            const T* erow = evi + t * P + p0;
            T* orow = out + t * P + p0;
            for (index_t k = 0; k < nb; ++k) {
                double l, e;
                const bool fin = isfin(static_cast<double>(lrow[k]) + opt.lst_offset) &&
                                 isfin(static_cast<double>(erow[k]));
                const bool ok = index_pair(opt, static_cast<double>(lrow[k]),
                                           static_cast<double>(erow[k]), l, e);
                const double nl = (ok && l > lmax[k]) ? l : lmax[k];
                const double ne = (ok && e < emin[k]) ? e : emin[k];
                lmax[k] = nl;
                emin[k] = ne;
                const double v = (nl / l) * (e / ne);
                // a non-finite ratio (e.g. a subnormal EVI minimum) is reported as missing too
                const bool good = ok && isfin(static_cast<double>(static_cast<T>(v)));
                cnt[k] = static_cast<C>(cnt[k] + ((fin && !good) ? 1 : 0));
                orow[k] = good ? static_cast<T>(v) : static_cast<T>(kNaN);
            }
        }
        for (index_t k = 0; k < nb; ++k) dropped[p0 + k] = cnt[k];
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
