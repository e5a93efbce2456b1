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
//
// Optionally (valid != nullptr, (3, T) int64, zeroed by the caller), per year: the pixels with
// a finite LST, with a finite EVI and with a finite MLRI, counted on the way (a run's summary
// needs them; a separate pass over the three stacks cost ~1 % of a run).
#pragma once

#include "mlri/common.hpp"
#include "mlri/simd.hpp"

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

namespace index_detail {

// One year of simd::VL neighbouring pixels: index_pair and the update of mlri_index below on
// whole vectors, lane for lane the same IEEE operations (the scalar loop handles the block's
// remainder).  lmax/emin/cnt: the pixels' running state; the year's values go to orow.
// cl/ce/cm: lanes with a finite LST, a finite EVI, a finite result, subtracted (masks are -1).
template <class T>
inline void year_lanes(const IndexOptions& o, const T* lrow, const T* erow, T* orow,
                       simd::vd& lmax, simd::vd& emin, simd::vi& cnt, simd::vi& cl,
                       simd::vi& ce, simd::vi& cm) {
    using simd::vd;
    using simd::vi;
    const vd l = simd::load<T>(lrow) + o.lst_offset;
    vd e = simd::load<T>(erow);
    const vi fl = simd::isfinite(l), fe = simd::isfinite(e);
    const vi fin = fl & fe;
    cl -= fl;
    ce -= fe;
    vi ok = fin & simd::mask(l > 0.0);
    if (o.evi_policy == kEviClamp)
        e = simd::sel(simd::mask(e < o.evi_min), simd::splat(o.evi_min), e);
    else
        ok &= simd::mask(e > o.evi_min);
    lmax = simd::sel(ok & simd::mask(l > lmax), l, lmax);
    emin = simd::sel(ok & simd::mask(e < emin), e, emin);
    const vd v = (lmax / l) * (e / emin);
    vi good;
    if constexpr (sizeof(T) == sizeof(float)) {
        // static_cast<float> per lane, then the finiteness of the float and the select on
        // 32-bit lanes
        typedef int vfi __attribute__((vector_size(4 * simd::VL)));
        const vfi f = (vfi)__builtin_convertvector(v, simd::vf);
        const vfi expo = (vfi{} + 0x7f800000);
        const vfi goodf = __builtin_convertvector(ok, vfi) & (vfi)((f & expo) != expo);
        const vfi nanf = (vfi)(simd::vf{} + static_cast<float>(kNaN));
        const vfi r = (f & goodf) | (nanf & ~goodf);
        __builtin_memcpy(orow, &r, sizeof r);
        good = __builtin_convertvector(goodf, vi);
    } else {
        good = ok & simd::isfinite(v);
        const vd r = simd::sel(good, v, simd::splat(kNaN));
        __builtin_memcpy(orow, &r, sizeof r);
    }
    cnt -= fin & ~good;  // (masks are -1)
    cm -= good;
}

}  // namespace index_detail

template <class T, class C>
void mlri_index(const T* lst, const T* evi, index_t P, index_t Tn, const IndexOptions& opt,
                T* out, C* dropped, std::int64_t* valid, int n_threads) {
    constexpr index_t kBlock = 256;
    constexpr int VL = simd::VL;
    static_assert(kBlock % VL == 0, "whole vectors per block");
    const index_t nblocks = (P + kBlock - 1) / kBlock;
    const int nt = resolve_threads(n_threads);
    (void)nt;
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (index_t b = 0; b < nblocks; ++b) {
        const index_t p0 = b * kBlock;
        const index_t nb = (P - p0) < kBlock ? (P - p0) : kBlock;
        const index_t nv = nb / VL;  // whole vectors; pixels nv * VL .. nb - 1 one by one
        simd::vd vlmax[kBlock / VL], vemin[kBlock / VL];
        simd::vi vcnt[kBlock / VL];
        for (index_t j = 0; j < nv; ++j) {
            vlmax[j] = simd::splat(-kInf);
            vemin[j] = simd::splat(kInf);
            vcnt[j] = simd::vi{};
        }
        double lmax[VL];
        double emin[VL];
        C cnt[VL];
        for (index_t k = nv * VL; k < nb; ++k) {
            lmax[k - nv * VL] = -kInf;
            emin[k - nv * VL] = kInf;
            cnt[k - nv * VL] = 0;
        }
        for (index_t t = 0; t < Tn; ++t) {
            const T* lrow = lst + t * P + p0;
            const T* erow = evi + t * P + p0;
            T* orow = out + t * P + p0;
            simd::vi cl{}, ce{}, cm{};
            for (index_t j = 0; j < nv; ++j)
                index_detail::year_lanes<T>(opt, lrow + j * VL, erow + j * VL, orow + j * VL,
                                            vlmax[j], vemin[j], vcnt[j], cl, ce, cm);
            std::int64_t sl = 0, se = 0, sg = 0;  // this block's counts of the year
            for (int i = 0; i < VL; ++i) {
                sl += cl[i];
                se += ce[i];
                sg += cm[i];
            }
            for (index_t k = nv * VL; k < nb; ++k) {
                const index_t q = k - nv * VL;
                double l, e;
                const bool fl = isfin(static_cast<double>(lrow[k]) + opt.lst_offset);
                const bool fe = isfin(static_cast<double>(erow[k]));
                const bool fin = fl && fe;
                const bool ok = index_pair(opt, static_cast<double>(lrow[k]),
                                           static_cast<double>(erow[k]), l, e);
                const double nl = (ok && l > lmax[q]) ? l : lmax[q];
                const double ne = (ok && e < emin[q]) ? e : emin[q];
                lmax[q] = nl;
                emin[q] = ne;
                const double v = (nl / l) * (e / ne);
                // a non-finite ratio (e.g. a subnormal EVI minimum) is reported as missing too
                const bool good = ok && isfin(static_cast<double>(static_cast<T>(v)));
                cnt[q] = static_cast<C>(cnt[q] + ((fin && !good) ? 1 : 0));
                orow[k] = good ? static_cast<T>(v) : static_cast<T>(kNaN);
                sl += fl ? 1 : 0;
                se += fe ? 1 : 0;
                sg += good ? 1 : 0;
            }
            if (valid) {
#if defined(MLRI_HAS_OPENMP)
#pragma omp atomic
#endif
                valid[t] += sl;
#if defined(MLRI_HAS_OPENMP)
#pragma omp atomic
#endif
                valid[Tn + t] += se;
#if defined(MLRI_HAS_OPENMP)
#pragma omp atomic
#endif
                valid[2 * Tn + t] += sg;
            }
        }
        for (index_t j = 0; j < nv; ++j)
            for (int i = 0; i < VL; ++i) dropped[p0 + j * VL + i] = static_cast<C>(vcnt[j][i]);
        for (index_t k = nv * VL; k < nb; ++k) dropped[p0 + k] = cnt[k - nv * VL];
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
