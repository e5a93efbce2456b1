// mlri — the fused per-pixel trend kernel: Mann–Kendall (tie-corrected), Sen's slope on real
// years, and the Hurst exponent by R/S, in one pass over each pixel's series
// (SPEC-statistics §1–§3, §6).
//
// Layout: the input is time-major (T, P): element (t, p) at t * P + p (band-major rasters give
// this for free).  Pixels are processed in blocks of W lanes; every inner loop runs over lanes,
// so the compiler vectorises across pixels.  Each lane performs exactly the same floating-point
// operations as a scalar (W = 1) run, hence results are bit-identical for any W, SIMD target
// and thread count (the build disables FMA contraction and fast-math).
//
// Per pixel: NaN/inf values are dropped (listwise), keeping the real year of each value.
// The Sen intercept refers to the first year of the time axis (years[0]) for every pixel.
// Undefined results are NaN; the kernel never allocates per pixel (scratch is allocated once
// per thread, before the parallel region, so std::bad_alloc reaches the caller).
#pragma once

#include "mlri/common.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {

namespace detail {

// nolds.measures.expected_rs (Anis-Lloyd-Peters), in log form.
inline double log_expected_rs(int n) {
    const double front = (n - 0.5) / n;
    double back = 0.0;
    for (int i = 1; i < n; ++i) back += std::sqrt(static_cast<double>(n - i) / i);
    double middle;
    if (n <= 340) {
        middle = std::exp(std::lgamma((n - 1) * 0.5) - std::lgamma(n * 0.5)) / std::sqrt(M_PI);
    } else {
        middle = 1.0 / std::sqrt(n * M_PI * 0.5);
    }
    return std::log(front * middle * back);
}

// nolds.measures.logmid_n(N, ratio=1/4, nsteps=15): unique window sizes, ascending.
inline int logmid_n(int N, int* out) {
    const double l = std::log(static_cast<double>(N));
    const double span = l * 0.25;
    const double start = l * 0.75 * 0.5;
    int k = 0;
    for (int i = 0; i < 15; ++i) {
        const double mid = start + 1.0 * i / 15 * span;
        const int v = static_cast<int>(std::nearbyint(std::exp(mid)));
        if (k == 0 || out[k - 1] != v) out[k++] = v;  // exp is increasing: unique == dedupe
    }
    return k;
}

// Classic segmented R/S (nolds.hurst_rs, fit="poly", unbiased=True), on x[0..N) already
// centred and scaled by the caller.  Returns NaN with fewer than 2 usable window sizes.
inline double hurst_segmented(const double* x, int N, bool corrected) {
    if (N < 4) return kNaN;
    int nvals[15];
    const int nn = logmid_n(N, nvals);
    double xs[15], ys[15];
    int cnt = 0;
    for (int a = 0; a < nn; ++a) {
        const int n = nvals[a];
        if (n < 2) continue;
        const int m = N / n;
        if (m < 1) continue;
        double acc = 0.0;
        int used = 0;
        for (int w = 0; w < m; ++w) {
            const double* s = x + static_cast<std::ptrdiff_t>(w) * n;
            double mean = 0.0;
            for (int i = 0; i < n; ++i) mean += s[i];
            mean /= n;
            double cum = 0.0, mx = -kInf, mn = kInf, ss = 0.0;
            for (int i = 0; i < n; ++i) {
                const double d = s[i] - mean;
                cum += d;
                mx = cum > mx ? cum : mx;
                mn = cum < mn ? cum : mn;
                ss += d * d;
            }
            const double r = mx - mn;
            if (r == 0.0) continue;
            const double sd = std::sqrt(ss / (n - 1));
            acc += r / sd;
            ++used;
        }
        if (used == 0) continue;
        double y = log_pos(acc / used);
        if (corrected) y -= log_expected_rs(n);
        xs[cnt] = log_pos(static_cast<double>(n));
        ys[cnt] = y;
        ++cnt;
    }
    if (cnt < 2) return kNaN;
    double mx = 0.0, my = 0.0;
    for (int i = 0; i < cnt; ++i) {
        mx += xs[i];
        my += ys[i];
    }
    mx /= cnt;
    my /= cnt;
    double sxy = 0.0, sxx = 0.0;
    for (int i = 0; i < cnt; ++i) {
        sxy += (xs[i] - mx) * (ys[i] - my);
        sxx += (xs[i] - mx) * (xs[i] - mx);
    }
    const double h = sxy / sxx;
    return corrected ? h + 0.5 : h;
}

// k-th smallest of a[0..n) (Wirth's selection; partially reorders a, so that afterwards
// a[0..k) <= a[k]).  No std:: templates (see common.hpp).
inline double kth_smallest(double* a, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        const double x = a[k];
        int i = lo, j = hi;
        do {
            while (a[i] < x) ++i;
            while (x < a[j]) --j;
            if (i <= j) {
                const double t = a[i];
                a[i] = a[j];
                a[j] = t;
                ++i;
                --j;
            }
        } while (i <= j);
        if (j < k) lo = i;
        if (k < i) hi = j;
    }
    return a[k];
}

// Median of v[0..n) (partially reorders v).  Mean of the two middle values for even n, as
// numpy/scipy/pymannkendall.
inline double median_inplace(double* v, int n) {
    if (n <= 0) return kNaN;
    const int h = n / 2;
    const double hi = kth_smallest(v, n, h);
    if (n & 1) return hi;
    double lo = v[0];
    for (int i = 1; i < h; ++i) lo = v[i] > lo ? v[i] : lo;
    return (lo + hi) / 2.0;
}

}  // namespace detail

// Per-thread scratch, sized once for a series length T and block width W.
struct TrendScratch {
    int W = 0, T = 0;
    Buffer<double> yc, tc, u, w, lnrs, lnt, pairs, tmp;
    Buffer<unsigned char> ok;
    void init(int Tn, int Wn, bool pairs_needed = true) {
        T = Tn;
        W = Wn;
        const std::size_t t = static_cast<std::size_t>(Tn > 0 ? Tn : 1);
        const std::size_t wl = static_cast<std::size_t>(Wn);
        yc.assign(t * wl, 0.0);
        tc.assign(t * wl, 0.0);
        u.assign(t * wl, 0.0);
        w.assign(t * wl, 0.0);
        lnrs.assign((t + 1) * wl, 0.0);
        ok.assign((t + 1) * wl, static_cast<unsigned char>(0));
        lnt.assign(t + 1, 0.0);
        for (int k = 1; k <= Tn; ++k) lnt[static_cast<std::size_t>(k)] = detail::log_pos(k);
        pairs.assign(pairs_needed ? t * (t - 1) / 2 + 1 : 1, 0.0);
        tmp.assign(t + 1, 0.0);
    }
};

// Process one block of `nl` <= W pixels starting at pixel p0 (generic path: any T, any years).
template <int W, class T>
void trend_block_generic(const T* y, index_t P, int Tn, const double* years, const TrendOptions& opt,
                 TrendScratch& sc, const TrendOutputs& out, index_t p0, int nl) {
    double* yc = sc.yc.data();
    double* tc = sc.tc.data();
    int n[W];
    // 1. listwise deletion: compact the valid (t, y) pairs of each lane, in time order.
    for (int l = 0; l < W; ++l) n[l] = 0;
    for (int t = 0; t < Tn; ++t) {
        const T* row = y + static_cast<index_t>(t) * P + p0;
        for (int l = 0; l < nl; ++l) {
            const double v = static_cast<double>(row[l]);
            if (isfin(v)) {
                yc[n[l] * W + l] = v;
                tc[n[l] * W + l] = years[t];
                ++n[l];
            }
        }
    }
    int nmax = 0;
    for (int l = 0; l < nl; ++l) nmax = n[l] > nmax ? n[l] : nmax;
    for (int l = nl; l < W; ++l) n[l] = 0;
    // zero the padding so masked arithmetic never touches NaN
    for (int k = 0; k < nmax; ++k)
        for (int l = 0; l < W; ++l)
            if (k >= n[l]) {
                yc[k * W + l] = 0.0;
                tc[k * W + l] = 0.0;
            }

    if (out.n_valid)
        for (int l = 0; l < nl; ++l) out.n_valid[p0 + l] = n[l];

    // 2. Mann–Kendall: exact integer S and 18·var(S) with tie groups
    if (opt.compute & kDoMK) {
        std::int64_t S[W], tie[W];
        for (int l = 0; l < W; ++l) {
            S[l] = 0;
            tie[l] = 0;
        }
        for (int i = 0; i < nmax; ++i) {
            std::int64_t c[W];
            for (int l = 0; l < W; ++l) c[l] = 0;
            for (int j = 0; j < nmax; ++j) {
                const double* yj = yc + j * W;
                const double* yi = yc + i * W;
                for (int l = 0; l < W; ++l) {
                    const bool in = j < n[l];
                    const double d = yj[l] - yi[l];
                    const std::int64_t sg = static_cast<std::int64_t>(d > 0.0) - static_cast<std::int64_t>(d < 0.0);
                    S[l] += (in && j > i) ? sg : 0;
                    c[l] += (in && d == 0.0) ? 1 : 0;
                }
            }
            for (int l = 0; l < W; ++l) tie[l] += (i < n[l]) ? (c[l] - 1) * (2 * c[l] + 5) : 0;
        }
        for (int l = 0; l < nl; ++l) {
            const std::int64_t nn = n[l];
            const index_t q = p0 + l;
            if (nn < 2) {
                if (out.s) out.s[q] = kNaN;
                if (out.var_s) out.var_s[q] = kNaN;
                if (out.z) out.z[q] = kNaN;
                if (out.p) out.p[q] = kNaN;
                continue;
            }
            const std::int64_t var18 = nn * (nn - 1) * (2 * nn + 5) - tie[l];
            const double var = static_cast<double>(var18) / 18.0;
            const std::int64_t s = S[l];
            double z = 0.0;
            if (s > 0) z = static_cast<double>(s - 1) / std::sqrt(var);
            if (s < 0) z = static_cast<double>(s + 1) / std::sqrt(var);
            if (out.s) out.s[q] = static_cast<double>(s);
            if (out.var_s) out.var_s[q] = var;
            if (out.z) out.z[q] = z;
            if (out.p) out.p[q] = std::erfc(fabs_(z) / 1.41421356237309504880);
        }
    }

    // 3. Sen's slope on real years; intercept at the first valid year.
    if (opt.compute & kDoSen) {
        double* pr = sc.pairs.data();
        double* tmp = sc.tmp.data();
        for (int l = 0; l < nl; ++l) {
            const index_t q = p0 + l;
            const int nn = n[l];
            if (nn < 2) {
                if (out.slope) out.slope[q] = kNaN;
                if (out.intercept) out.intercept[q] = kNaN;
                continue;
            }
            int k = 0;
            for (int i = 0; i < nn; ++i) {
                const double yi = yc[i * W + l], ti = tc[i * W + l];
                for (int j = i + 1; j < nn; ++j)
                    pr[k++] = (yc[j * W + l] - yi) / (tc[j * W + l] - ti);
            }
            double Q = detail::median_inplace(pr, k);
            Q = Q == 0.0 ? 0.0 : Q;  // no negative zero
            if (out.slope) out.slope[q] = Q;
            if (out.intercept) {
                for (int i = 0; i < nn; ++i) tmp[i] = yc[i * W + l];
                const double my = detail::median_inplace(tmp, nn);
                const double t0 = years[0];  // common reference year for every pixel
                for (int i = 0; i < nn; ++i) tmp[i] = tc[i * W + l] - t0;
                const double mt = detail::median_inplace(tmp, nn);
                out.intercept[q] = my - Q * mt;
            }
        }
    }

    // 4. Hurst exponent by R/S
    if ((opt.compute & kDoHurst) && out.hurst) {
        const HurstOptions& ho = opt.hurst;
        double* u = sc.u.data();
        double* w = sc.w.data();
        const bool diff = ho.series == kSeriesDiff;
        int m[W];
        for (int l = 0; l < W; ++l) m[l] = diff ? (n[l] > 0 ? n[l] - 1 : 0) : n[l];
        int mmax = 0;
        for (int l = 0; l < nl; ++l) mmax = m[l] > mmax ? m[l] : mmax;
        for (int k = 0; k < mmax; ++k) {
            for (int l = 0; l < W; ++l) {
                double v;
                if (diff) {
                    const double dy = yc[(k + 1 < Tn ? k + 1 : k) * W + l] - yc[k * W + l];
                    const double dt = tc[(k + 1 < Tn ? k + 1 : k) * W + l] - tc[k * W + l];
                    v = ho.gap == kGapRate ? dy / dt : dy;
                } else {
                    v = yc[k * W + l];
                }
                u[k * W + l] = k < m[l] ? v : 0.0;
            }
        }
        // scale: w = (u - u_0) / max|u|  (R/S is invariant; avoids overflow and cancellation;
        // a division, not a product with 1 / max|u|: that overflows for a subnormal max|u|,
        // and values such as u / max|u| = 1 must stay exact for the segmented method)
        double amax[W];
        for (int l = 0; l < W; ++l) amax[l] = 0.0;
        for (int k = 0; k < mmax; ++k)
            for (int l = 0; l < W; ++l) {
                const double a = fabs_(u[k * W + l]);
                amax[l] = (k < m[l] && a > amax[l]) ? a : amax[l];
            }
        for (int k = 0; k < mmax; ++k)
            for (int l = 0; l < W; ++l) {
                const double sc_ = amax[l] > 0.0 ? amax[l] : 1.0;
                w[k * W + l] = k < m[l] ? (u[k * W + l] - u[l]) / sc_ : 0.0;
            }

        if (ho.method == kHurstSegmented) {
            double* tmp = sc.tmp.data();
            for (int l = 0; l < nl; ++l) {
                for (int k = 0; k < m[l]; ++k) tmp[k] = w[k * W + l];
                out.hurst[p0 + l] = detail::hurst_segmented(tmp, m[l], ho.corrected);
            }
        } else {
            // expanding window over tau = tau_min..m
            double* lnrs = sc.lnrs.data();
            unsigned char* okv = sc.ok.data();
            const double* lnt = sc.lnt.data();
            bool anydeg[W];
            for (int l = 0; l < W; ++l) anydeg[l] = false;
            const int tau0 = ho.tau_min < 2 ? 2 : ho.tau_min;
            const double rel_tol2 = ho.rel_tol * ho.rel_tol;  // S > rel_tol as S^2 > rel_tol^2
            for (int tau = tau0; tau <= mmax; ++tau) {
                double sum[W], mean[W], cum[W], mx[W], mn[W], ss[W];
                for (int l = 0; l < W; ++l) sum[l] = 0.0;
                for (int k = 0; k < tau; ++k)
                    for (int l = 0; l < W; ++l) sum[l] += w[k * W + l];
                const double rtau = 1.0 / tau;  // (products, not divisions: see hurst_block)
                for (int l = 0; l < W; ++l) {
                    mean[l] = sum[l] * rtau;
                    cum[l] = 0.0;
                    mx[l] = 0.0;  // X(tau, tau) = 0 is part of the range
                    mn[l] = 0.0;
                    ss[l] = 0.0;
                }
                for (int k = 0; k < tau; ++k)
                    for (int l = 0; l < W; ++l) {
                        const double d = w[k * W + l] - mean[l];
                        cum[l] += d;
                        mx[l] = cum[l] > mx[l] ? cum[l] : mx[l];
                        mn[l] = cum[l] < mn[l] ? cum[l] : mn[l];
                        ss[l] += d * d;
                    }
                const double rdof = 1.0 / (tau - ho.ddof);
                for (int l = 0; l < W; ++l) {
                    const bool in = tau <= m[l];
                    const double v = ss[l] * rdof;  // S^2
                    const double R = mx[l] - mn[l];
                    const bool deg = !(v > rel_tol2) || !(R > 0.0);
                    // ln(R/S) = ln(R^2 / S^2) / 2: no square root, one division
                    lnrs[tau * W + l] = 0.5 * detail::log_pos(deg ? 1.0 : (R * R) / v);
                    okv[tau * W + l] = (in && !deg) ? 1 : 0;
                    anydeg[l] = anydeg[l] || (in && deg);
                }
            }
            // OLS slope of ln(R/S) on ln(tau), two-pass
            double cnt[W], sx[W], sy[W];
            for (int l = 0; l < W; ++l) {
                cnt[l] = 0.0;
                sx[l] = 0.0;
                sy[l] = 0.0;
            }
            for (int tau = tau0; tau <= mmax; ++tau)
                for (int l = 0; l < W; ++l) {
                    const bool o = okv[tau * W + l] != 0;
                    cnt[l] += o ? 1.0 : 0.0;
                    sx[l] += o ? lnt[tau] : 0.0;
                    sy[l] += o ? lnrs[tau * W + l] : 0.0;
                }
            double mxv[W], myv[W], sxy[W], sxx[W];
            for (int l = 0; l < W; ++l) {
                const double c = cnt[l] > 0.0 ? cnt[l] : 1.0;
                mxv[l] = sx[l] / c;
                myv[l] = sy[l] / c;
                sxy[l] = 0.0;
                sxx[l] = 0.0;
            }
            for (int tau = tau0; tau <= mmax; ++tau)
                for (int l = 0; l < W; ++l) {
                    const bool o = okv[tau * W + l] != 0;
                    const double dx = lnt[tau] - mxv[l];
                    const double dy = lnrs[tau * W + l] - myv[l];
                    sxy[l] += o ? dx * dy : 0.0;
                    sxx[l] += o ? dx * dx : 0.0;
                }
            for (int l = 0; l < nl; ++l) {
                const bool bad = cnt[l] < ho.min_points ||
                                 (ho.degenerate == kDegenerateNaN && anydeg[l]) || !(sxx[l] > 0.0);
                out.hurst[p0 + l] = bad ? kNaN : sxy[l] / sxx[l];
            }
        }
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri

#include "mlri/trend_fast.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {

// The generic path (any T, any years): OpenMP over blocks of W pixels.
template <int W, class T>
void generic_trend(const T* y, index_t P, int Tn, const double* years, const TrendOptions& opt,
                   const TrendOutputs& out, int n_threads) {
    const index_t nblocks = (P + W - 1) / W;
    int nt = resolve_threads(n_threads);
    if (nt > nblocks) nt = static_cast<int>(nblocks > 0 ? nblocks : 1);
    // Scratch of every thread, allocated here: std::bad_alloc must surface to the caller (the
    // binding turns it into MemoryError), never inside the parallel region (std::terminate).
    Owned<TrendScratch> scratch(static_cast<std::size_t>(nt));
    for (int t = 0; t < nt; ++t) scratch[static_cast<std::size_t>(t)].init(Tn, W, (opt.compute & kDoSen) != 0);
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
    {
        TrendScratch& sc = scratch[thread_slot()];
#if defined(MLRI_HAS_OPENMP)
#pragma omp for schedule(dynamic, 64)
#endif
        for (index_t b = 0; b < nblocks; ++b) {
            const index_t p0 = b * W;
            const int nl = static_cast<int>((P - p0) < W ? (P - p0) : W);
            trend_block_generic<W, T>(y, P, Tn, years, opt, sc, out, p0, nl);
        }
    }
}

// Driver.  Bit-identical results for any n_threads.  Sen's slope interval (out.sen_low/sen_high,
// at opt.sen_z) is computed inside the fast paths' blocks, where the slopes (and the ties of MK)
// exist already; elsewhere (the generic path, or without MK and Sen) by the standalone kernel
// (sen_interval.hpp) after the trend.  All give the same bits.
template <int W, class T>
void fused_trend(const T* y, index_t P, int Tn, const double* years, const TrendOptions& opt,
                 const TrendOutputs& out, int n_threads) {
    const bool ci = out.sen_low != nullptr && out.sen_high != nullptr;
    const bool fast = fastpath::applicable(Tn, years);
    const bool ci_in_blocks = ci && fast && (opt.compute & kDoMK) && (opt.compute & kDoSen);
    TrendOutputs o = out;
    if (!ci_in_blocks) {
        o.sen_low = nullptr;
        o.sen_high = nullptr;
    }
    // (a call for the interval alone skips the trend where the interval cannot use its slopes)
    const bool only_ci = ci && !out.s && !out.var_s && !out.z && !out.p && !out.slope &&
                         !out.intercept && !out.hurst;
    if (ci_in_blocks || !only_ci) {
        if (fast)
            fastpath::run<T>(y, P, Tn, years, opt, o, n_threads);
        else
            generic_trend<W, T>(y, P, Tn, years, opt, o, n_threads);
    }
    if (ci && !ci_in_blocks)
        sen_interval<T>(y, P, Tn, years, opt.sen_z, out.sen_low, out.sen_high,
                        only_ci ? out.n_valid : nullptr, n_threads);
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
