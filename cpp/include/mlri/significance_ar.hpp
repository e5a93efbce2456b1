// mlri — AR(1) sieve test of the Mann–Kendall S of MLRI (docs/significance.md, section 9).
//
// The permutation test (significance.hpp) treats the years of a pixel as exchangeable.  Annual
// composites are not: wet and dry spells last several years, and a persistent series wanders far
// enough to look like a trend.  This test keeps the persistence in the null distribution:
//
// Null hypothesis: log LST and log EVI of the pixel are stationary Gaussian-like AR(1)
// processes in real time (no trend), each with its own persistence φ; the innovations of the
// two may be correlated in the same year (a dry year is hot and brown).
//
// Per pixel:
//   1. compact the valid (LST, EVI) pairs with their years, with exactly the validity rules of
//      index.hpp (the same code path as the permutation test);
//   2. S_obs = MK S of the observed MLRI (rounded to T), == trend(index(lst, evi)).s;
//   3. for x = log LST and x = log EVI: d_k = x_k − mean(x) (mean = x_0 + mean(x − x_0)); φ = lag-1 autocorrelation over the
//      pairs of valid values one year apart, c1 / c0 with c1 = mean of d_k d_{k+1} over those
//      pairs and c0 = mean of d_k², clipped to [0, phi_max] (or a φ given by the caller);
//      the step k has a_k = φ^(t_k − t_{k−1}) and c_k = sqrt(1 − a_k²) (gaps handled in real
//      time); the standardised innovations are u_0 = d_0, u_k = (d_k − a_k d_{k−1}) / c_k,
//      centred to mean 0;
//   4. replicate b: permute the innovation *pairs* (one permutation for LST and EVI, so their
//      same-year correlation is kept), rebuild y_0 = u*_0, y_k = a_k y_{k−1} + c_k u*_k, and
//      compute MLRI with its running extrema on the log scale,
//      log MLRI_k = (max_{j<=k} yl_j − yl_k) + (ye_k − min_{j<=k} ye_j),
//      (MK S depends only on the order, and exp is monotone, so S is that of MLRI itself);
//   5. p_inc = (1 + #{S_b >= S_obs}) / (B + 1),  p_dec = (1 + #{S_b <= S_obs}) / (B + 1).
// With φ = 0 the replicates are the permutations of the observed pairs: the test reduces to the
// permutation test.  The persistence is fitted on the inputs, not on MLRI: MLRI is not stationary
// (its running extrema drift by construction), and the replicates must be rebuilt from LST and
// EVI to recompute the running extrema.  The φ fit uses the raw (not detrended) series: under the
// null there is no trend, and a trend-like excursion of a persistent series then raises φ and
// widens the null distribution, which is what keeps the level at n ≈ 19 (see the docs for the
// simulations, and for the price in power).
//
// Logarithms: std::log (this header is compiled in one translation unit only, so every thread
// and every tile runs the same libm code).
//
// Randomness: replicate b of a pixel uses the permutation digits of significance.hpp (fy_digits)
// from the key  mix64(pixel_key(seed, row, col) ^ kArStreamTag),  so the streams differ from the
// permutation test's for the same seed, and results do not depend on tiling, thread count or
// scheduling.  This header is compiled in one generic translation unit (no per-target code).
#pragma once

#include "mlri/significance.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {

inline constexpr std::uint64_t kArStreamTag = 0x41523153494556ULL;  // "AR1SIEV"

struct ArSieveOptions {
    IndexOptions index;     // MLRI validity rules (same as mlri_index)
    int n_replicates = 199;
    std::uint64_t seed = 0;
    int min_valid = 2;      // pixels with fewer valid years are skipped (NaN p)
    double phi_max = 0.9;   // fitted φ are clipped to [0, phi_max]
};

struct ArSieveOutputs {
    std::int32_t* n_valid = nullptr;
    double* s_obs = nullptr;
    double* p_inc = nullptr;
    double* p_dec = nullptr;
    double* null_mean = nullptr;
    double* null_sd = nullptr;
    double* phi_lst = nullptr;  // φ used for log LST (fitted or given)
    double* phi_evi = nullptr;  // φ used for log EVI
};

namespace ar_detail {

// Lag-1 autocorrelation of the deviations d over pairs one time unit apart (c1 / c0), clipped to
// [0, phi_max]; 0 when undefined (no such pair, or a constant series).
inline double fit_phi(const double* d, const double* t, int n, double phi_max) {
    double c0 = 0.0, c1 = 0.0;
    int m1 = 0;
    for (int k = 0; k < n; ++k) c0 += d[k] * d[k];
    for (int k = 1; k < n; ++k)
        if (t[k] - t[k - 1] == 1.0) {
            c1 += d[k - 1] * d[k];
            ++m1;
        }
    if (m1 == 0 || !(c0 > 0.0)) return 0.0;
    const double r = (c1 / m1) / (c0 / n);
    if (!(r > 0.0)) return 0.0;
    return r < phi_max ? r : phi_max;
}

// Innovations and step coefficients of one variable (x holds log values; d, a, c, u scratch).
inline void innovations(const double* x, const double* t, int n, double phi, double* d, double* a,
                        double* c, double* u) {
    // Mean shifted by x[0]: exact for a constant series (then d = 0 and φ = 0).
    double acc = 0.0;
    for (int k = 0; k < n; ++k) acc += x[k] - x[0];
    const double mean = x[0] + acc / n;
    for (int k = 0; k < n; ++k) d[k] = x[k] - mean;
    a[0] = 0.0;
    c[0] = 1.0;
    u[0] = d[0];
    for (int k = 1; k < n; ++k) {
        const double ak = phi > 0.0 ? std::pow(phi, t[k] - t[k - 1]) : 0.0;
        a[k] = ak;
        c[k] = std::sqrt(1.0 - ak * ak);
        u[k] = (d[k] - ak * d[k - 1]) / c[k];
    }
    // Centred innovations (as the sieve bootstrap resamples centred residuals): a steady trend
    // in the observed series then does not leak into every replicate as a common drift.
    double um = 0.0;
    for (int k = 0; k < n; ++k) um += u[k];
    um /= n;
    for (int k = 0; k < n; ++k) u[k] -= um;
}

}  // namespace ar_detail

template <int W, class T>
struct ArScratch {
    Buffer<double> l, e, t, xl, xe, d, al, cl, ae, ce, ul, ue, upl, upe, vp;
    Buffer<int> dig;
    Buffer<T> v;
    void init(index_t Tn) {
        const std::size_t n = static_cast<std::size_t>(Tn > 0 ? Tn : 1);
        Buffer<double>* per_year[] = {&l, &e, &t, &xl, &xe, &d, &al, &cl, &ae, &ce, &ul, &ue};
        for (Buffer<double>* b : per_year) b->assign(n, 0.0);
        v.assign(n, T(0));
        upl.assign(n * W, 0.0);
        upe.assign(n * W, 0.0);
        vp.assign(n * W, 0.0);
        dig.assign(n * W, 0);
    }
};

// One pixel: sc.l/e/t hold the n compacted valid pairs (LST with offset, EVI after the policy)
// and their years; phi_l/phi_e are the given φ (NaN: fit).
template <int W, class T>
void ar_sieve_pixel(ArScratch<W, T>& sc, const DigitBatches& bt, int n, std::uint64_t key,
                    const ArSieveOptions& opt, double phi_l, double phi_e, const ArSieveOutputs& out,
                    index_t q) {
    const int B = opt.n_replicates;
    detail::mlri_series<T>(sc.l.data(), sc.e.data(), n, sc.v.data());
    const double s_obs = static_cast<double>(detail::mk_s<T>(sc.v.data(), n));
    if (out.s_obs) out.s_obs[q] = s_obs;
    for (int k = 0; k < n; ++k) {
        sc.xl[k] = std::log(sc.l[k]);
        sc.xe[k] = std::log(sc.e[k]);
    }
    if (!isfin(phi_l)) {
        ar_detail::innovations(sc.xl.data(), sc.t.data(), n, 0.0, sc.d.data(), sc.al.data(), sc.cl.data(), sc.ul.data());
        phi_l = ar_detail::fit_phi(sc.d.data(), sc.t.data(), n, opt.phi_max);
    }
    if (!isfin(phi_e)) {
        ar_detail::innovations(sc.xe.data(), sc.t.data(), n, 0.0, sc.d.data(), sc.ae.data(), sc.ce.data(), sc.ue.data());
        phi_e = ar_detail::fit_phi(sc.d.data(), sc.t.data(), n, opt.phi_max);
    }
    ar_detail::innovations(sc.xl.data(), sc.t.data(), n, phi_l, sc.d.data(), sc.al.data(), sc.cl.data(), sc.ul.data());
    ar_detail::innovations(sc.xe.data(), sc.t.data(), n, phi_e, sc.d.data(), sc.ae.data(), sc.ce.data(), sc.ue.data());
    if (out.phi_lst) out.phi_lst[q] = phi_l;
    if (out.phi_evi) out.phi_evi[q] = phi_e;

    const double* __restrict ul = sc.ul.data();
    const double* __restrict ue = sc.ue.data();
    const double* __restrict al = sc.al.data();
    const double* __restrict cl = sc.cl.data();
    const double* __restrict ae = sc.ae.data();
    const double* __restrict ce = sc.ce.data();
    double* __restrict upl = sc.upl.data();
    double* __restrict upe = sc.upe.data();
    double* __restrict vp = sc.vp.data();
    int* __restrict dig = sc.dig.data();
    detail::NullTally tally;
    for (int b0 = 0; b0 < B; b0 += W) {
        const int nl = (B - b0) < W ? (B - b0) : W;
        fy_digits<W>(bt, key, b0, nl, dig);
        // Replicate b0 + w in lane w: inside-out Fisher–Yates of the innovation pairs.
        detail::shuffle_pairs<W>(dig, n, nl, ul, ue, upl, upe);
        // Rebuild the AR(1) paths and the log MLRI of every lane (in place in upl/upe).
        double yl[W], ye[W], lmax[W], emin[W];
        for (int w = 0; w < W; ++w) {
            yl[w] = upl[w];
            ye[w] = upe[w];
            lmax[w] = yl[w];
            emin[w] = ye[w];
            vp[w] = 0.0;
        }
        for (int k = 1; k < n; ++k) {
            const double akl = al[k], ckl = cl[k], ake = ae[k], cke = ce[k];
            const double* __restrict lk = upl + k * W;
            const double* __restrict ek = upe + k * W;
            double* __restrict vk = vp + k * W;
#if defined(MLRI_HAS_OPENMP)
#pragma omp simd
#endif
            for (int w = 0; w < W; ++w) {
                const double y1 = akl * yl[w] + ckl * lk[w];
                const double y2 = ake * ye[w] + cke * ek[w];
                yl[w] = y1;
                ye[w] = y2;
                lmax[w] = y1 > lmax[w] ? y1 : lmax[w];
                emin[w] = y2 < emin[w] ? y2 : emin[w];
                vk[w] = (lmax[w] - y1) + (y2 - emin[w]);
            }
        }
        std::int32_t s[W];
        detail::lanes_mk_s<W, double>(vp, n, s);
        tally.add(s, nl, s_obs);
    }
    tally.write(out, q, B);
}

// The AR(1) sieve test for P pixels of a (Tn, P) time-major stack.  years: Tn real years;
// rows/cols: global position of each pixel (RNG key); phi_lst/phi_evi: per-pixel φ (NaN = fit),
// or null (fit everywhere).
template <int W, class T>
void ar_sieve_mk(const T* lst, const T* evi, index_t P, index_t Tn, const double* years,
                 const std::int64_t* rows, const std::int64_t* cols, const double* phi_lst,
                 const double* phi_evi, const ArSieveOptions& opt, const ArSieveOutputs& out,
                 int n_threads) {
    const int nt = resolve_threads(n_threads);
    const IndexOptions io = opt.index;
    Owned<ResamplingThread<ArScratch<W, T>>> states(static_cast<std::size_t>(nt));
    init_resampling_threads(states, nt, Tn);
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
    {
        ResamplingThread<ArScratch<W, T>>& st = states[thread_slot()];
        ArScratch<W, T>& sc = st.sc;
#if defined(MLRI_HAS_OPENMP)
#pragma omp for schedule(dynamic, 64)
#endif
        for (index_t q = 0; q < P; ++q) {
            int n = 0;
            bool positive = true;
            for (index_t t = 0; t < Tn; ++t) {
                double lv, ev;
                const bool ok = index_pair(io, static_cast<double>(lst[t * P + q]),
                                           static_cast<double>(evi[t * P + q]), lv, ev);
                if (ok) {
                    positive = positive && ev > 0.0;
                    sc.l[static_cast<std::size_t>(n)] = lv;
                    sc.e[static_cast<std::size_t>(n)] = ev;
                    sc.t[static_cast<std::size_t>(n)] = years[t];
                    ++n;
                }
            }
            if (out.n_valid) out.n_valid[q] = n;
            const double pl = phi_lst ? phi_lst[q] : kNaN;
            const double pe = phi_evi ? phi_evi[q] : kNaN;
            if (n < 2 || n < opt.min_valid || !positive) {
                // Too few years, or an EVI <= 0 allowed by evi_min/evi_policy (no log scale).
                detail::write_untested(out, q, sc.l.data(), sc.e.data(), n, sc.v.data());
                if (out.phi_lst) out.phi_lst[q] = kNaN;
                if (out.phi_evi) out.phi_evi[q] = kNaN;
                continue;
            }
            const std::uint64_t key = prng::mix64(prng::pixel_key(opt.seed, rows[q], cols[q]) ^ kArStreamTag);
            ar_sieve_pixel<W, T>(sc, st.batches(n), n, key, opt, pl, pe, out, q);
        }
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
