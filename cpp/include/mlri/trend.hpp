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
// Undefined results are NaN; the kernel never throws and never allocates per pixel (scratch is
// allocated once per thread).
#pragma once

#include "mlri/common.hpp"
#include "mlri/simd.hpp"
#include "mlri/sortnet.hpp"

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
    void init(int Tn, int Wn) {
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
        pairs.assign(t * (t - 1) / 2 + 1, 0.0);
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
                const double t0 = tc[l];
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
        // scale: w = (u - u_0) / max|u|  (R/S is invariant; avoids overflow and cancellation)
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
            for (int tau = tau0; tau <= mmax; ++tau) {
                double sum[W], mean[W], cum[W], mx[W], mn[W], ss[W];
                for (int l = 0; l < W; ++l) sum[l] = 0.0;
                for (int k = 0; k < tau; ++k)
                    for (int l = 0; l < W; ++l) sum[l] += w[k * W + l];
                for (int l = 0; l < W; ++l) {
                    mean[l] = sum[l] / tau;
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
                for (int l = 0; l < W; ++l) {
                    const bool in = tau <= m[l];
                    const double S = std::sqrt(ss[l] / (tau - ho.ddof));
                    const double R = mx[l] - mn[l];
                    const bool deg = !(S > ho.rel_tol) || !(R > 0.0);
                    const double ratio = deg ? 1.0 : R / S;
                    lnrs[tau * W + l] = detail::log_pos(ratio);
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

// ---------------------------------------------------------------------------------------------
// Fast path (T <= kFastRows, finite strictly increasing years with a finite span): one block is
// one SIMD vector of pixels (simd::VL lanes), everything branch-free across lanes:
//   * MK S and the Sen pairwise slopes in one pass over the pairs (j-major slot order, so the
//     pairs of a lane with n valid values are exactly the slots [0, n(n-1)/2));
//   * the Sen median by a fixed min/max network (sortnet.hpp): slots of missing pairs are set to
//     -inf / +inf such that the median of every lane lands on the same two ranks;
//   * ties (for var S) and the median of y from a sorting network of the n values;
//   * Hurst (expanding) with the generic path's arithmetic on whole vectors.
// Each lane performs exactly the operations of the generic path (selection networks return the
// same order statistics as the quickselect), so the results are bit-identical; the one case a
// network could differ in, the sign of a zero median of y, falls back to the generic code.
namespace fastpath {

using simd::vd;
using simd::vi;
using simd::VL;

inline constexpr int kRows = 19;                      // series length handled by the networks
inline constexpr int kPairs = kRows * (kRows - 1) / 2;  // 171 pairwise slopes
inline constexpr int kPairRank = kPairs / 2;          // median ranks kPairRank-1, kPairRank
inline constexpr int kRowRank = kRows / 2;            // median ranks kRowRank-1, kRowRank

// Fast path applies: short series and "nice" years (no NaN slope, no zero or infinite dt).
inline bool applicable(int Tn, const double* years) {
    if (Tn > kRows) return false;
    for (int t = 0; t < Tn; ++t)
        if (!isfin(years[t])) return false;
    for (int t = 1; t < Tn; ++t)
        if (!(years[t] > years[t - 1])) return false;
    if (Tn > 1 && !isfin(years[Tn - 1] - years[0])) return false;
    return true;
}

// Memo of erfc (a pure function): MK p-values repeat a lot (S and the tie pattern take few
// values), and libm's erfc costs more than the rest of the MK statistics.  Per thread.
struct ErfcMemo {
    static constexpr int kBits = 11;
    Buffer<std::uint64_t> key;
    Buffer<double> val;
    ErfcMemo() {
        key.assign(std::size_t(1) << kBits, ~std::uint64_t(0));  // sign bit set: never a key
        val.assign(std::size_t(1) << kBits, 0.0);
    }
    double operator()(double a) {  // a >= 0 or NaN without sign
        std::uint64_t b;
        __builtin_memcpy(&b, &a, sizeof b);
        const std::size_t h = static_cast<std::size_t>((b * 0x9E3779B97F4A7C15ULL) >> (64 - kBits));
        if (key[h] == b) return val[h];
        const double r = std::erfc(a);
        key[h] = b;
        val[h] = r;
        return r;
    }
};

template <class T>
void block(const T* y, index_t P, int Tn, const double* years, const TrendOptions& opt,
           const TrendOutputs& out, index_t p0, int nl, const double* lnt, ErfcMemo& erfc_memo) {
    // 1. listwise deletion: compact the finite values of each lane (and their years) to the
    //    front, branch-free.  A value at row t moves up by d = number of missing values before
    //    it, and d <= D (the block's largest missing count), so output row r is a blend of the
    //    input rows r..r+D.
    vd src[kRows];
    vi srcok[kRows], before[kRows];
    vi miss = vi{};
    vi nzv = vi{};
    for (int t = 0; t < Tn; ++t) {
        const T* row = y + static_cast<index_t>(t) * P + p0;
        vd v;
        if (nl == VL) {
            v = simd::load<T>(row);
        } else {
            T tmp[VL];
            for (int l = 0; l < VL; ++l) tmp[l] = l < nl ? row[l] : static_cast<T>(kNaN);
            v = simd::load<T>(tmp);
        }
        const vi ok = simd::isfinite(v);
        nzv = nzv | (ok & (vi)(v == 0.0) & ((vi)v < 0));
        src[t] = v;
        srcok[t] = ok;
        before[t] = miss;
        miss = miss - ~ok;  // +1 where missing
    }
    int n[VL];
    bool negzero[VL];
    int D = 0;
    for (int l = 0; l < VL; ++l) {
        const int ms = static_cast<int>(miss[l]);
        n[l] = Tn - ms;
        D = ms > D ? ms : D;
        negzero[l] = nzv[l] != 0;
    }
    if (out.n_valid)
        for (int l = 0; l < nl; ++l) out.n_valid[p0 + l] = n[l];
    int nmax = 0, nmin = kRows;
    for (int l = 0; l < VL; ++l) {
        nmax = n[l] > nmax ? n[l] : nmax;
        nmin = n[l] < nmin ? n[l] : nmin;
    }
    vd yv[kRows + 1], tv[kRows + 1];
    for (int r = 0; r <= kRows; ++r) {
        yv[r] = vd{};
        tv[r] = vd{};
    }
    if (D == 0) {
        for (int r = 0; r < Tn; ++r) {
            yv[r] = src[r];
            tv[r] = simd::splat(years[r]);
        }
    } else {
        for (int r = 0; r < nmax; ++r) {
            vd a = vd{}, b = vd{};
            const int smax = (Tn - 1 - r) < D ? (Tn - 1 - r) : D;
            for (int s = 0; s <= smax; ++s) {
                const int t = r + s;
                const vi m = srcok[t] & (vi)(before[t] == s);
                a = simd::sel(m, src[t], a);
                b = simd::sel(m, simd::splat(years[t]), b);
            }
            yv[r] = a;
            tv[r] = b;
        }
    }
    double nd[VL], kd[VL], kad[VL], bd[VL];
    long long kodd_[VL], nodd_[VL];
    for (int l = 0; l < VL; ++l) {
        const int K = n[l] * (n[l] - 1) / 2;
        kodd_[l] = (K & 1) ? -1 : 0;
        nodd_[l] = (n[l] & 1) ? -1 : 0;
        nd[l] = n[l];
        kd[l] = K;
        kad[l] = K + (kPairRank - K / 2);            // slots [K, K+a) get -inf, the rest +inf
        bd[l] = n[l] + (kRowRank - n[l] / 2);          // rows  [n, n+b) get -inf, the rest +inf
    }
    vd nv, Kv, KAv, NBv;
    __builtin_memcpy(&nv, nd, sizeof nv);
    __builtin_memcpy(&Kv, kd, sizeof Kv);
    __builtin_memcpy(&KAv, kad, sizeof KAv);
    __builtin_memcpy(&NBv, bd, sizeof NBv);
    vi kodd, nodd;
    __builtin_memcpy(&kodd, kodd_, sizeof kodd);
    __builtin_memcpy(&nodd, nodd_, sizeof nodd);
    const vd pinf = simd::splat(kInf), minf = simd::splat(-kInf);

    const bool doMK = (opt.compute & kDoMK) != 0;
    const bool doSen = (opt.compute & kDoSen) != 0;

    // 2. pairs: G = #{i < j valid: y_j - y_i > 0} for MK, and the Sen slopes.
    vd Q = vd{};
    vd Gv = vd{};
    if (doMK || doSen) {
        vi g0 = vi{}, g1 = vi{};  // -count, two accumulators (shorter dependency chains)
        vd x[kPairs];
        for (int j = 1; j < kRows; ++j) {
            const int base = j * (j - 1) / 2;
            if (j >= nmax) {  // no lane has row j: padding only
                if (doSen)
                    for (int i = 0; i < j; ++i) {
                        const double slot = base + i;
                        x[base + i] = slot < KAv ? minf : pinf;
                    }
                continue;
            }
            const vd yj = yv[j], tj = tv[j];
            if (j < nmin) {  // row j valid in every lane
                for (int i = 0; i < j; ++i) {
                    const vd d = yj - yv[i];
                    if (i & 1)
                        g1 = g1 + (vi)(d > 0.0);
                    else
                        g0 = g0 + (vi)(d > 0.0);
                    if (doSen) x[base + i] = d / (tj - tv[i]);
                }
            } else {
                const vi jm = (double)j < nv;
                for (int i = 0; i < j; ++i) {
                    const vd d = yj - yv[i];
                    if (i & 1)
                        g1 = g1 + ((vi)(d > 0.0) & jm);
                    else
                        g0 = g0 + ((vi)(d > 0.0) & jm);
                    if (doSen) {
                        const vd q = d / (tj - tv[i]);
                        const double slot = base + i;
                        x[base + i] = simd::sel(jm, q, slot < KAv ? minf : pinf);
                    }
                }
            }
        }
        Gv = simd::small_int_to_double(-(g0 + g1));
        if (doSen) {
            vd lo, hi;
            net::median_pairs_19<vd>(x, lo, hi);
            const vd q = simd::sel(kodd, hi, (lo + hi) / 2.0);
            Q = q == 0.0 ? vd{} : q;  // no negative zero
        }
    }

    // 3. sorted values: ties (var S) and the median of y (intercept)
    vd tiev = vd{}, Ev = vd{};
    vd my = vd{};
    const bool needSort = doMK || (doSen && out.intercept);
    if (needSort) {
        vd ys[kRows], ss[kRows];
        for (int k = 0; k < kRows; ++k) {
            const double kk = k;
            ys[k] = kk < nv ? yv[k] : (kk < NBv ? minf : pinf);
        }
        net::sort_19<vd>(ys, ss);
        if (doMK) {
            // runs of equal values (the +-inf padding never compares equal: inf - inf is NaN).
            // sum over tie groups of t(t-1)(2t+5) = sum over positions of 6(r^2 - 1) and
            // tied pairs E = sum t(t-1)/2 = sum (r - 1), r = current run length.
            vd r = simd::splat(1.0);
            for (int k = 1; k < kRows; ++k) {
                const vd d = ss[k] - ss[k - 1];
                r = d == 0.0 ? r + 1.0 : simd::splat(1.0);
                tiev = tiev + 6.0 * (r * r - 1.0);
                Ev = Ev + (r - 1.0);
            }
        }
        my = simd::sel(nodd, ss[kRowRank], (ss[kRowRank - 1] + ss[kRowRank]) / 2.0);
    }

    // 4. MK / Sen outputs
    if (doMK) {
        // S = G - L with G + L + E = K;  18 var(S) = n(n-1)(2n+5) - ties  (exact small integers)
        const vd Sd = 2.0 * Gv - (Kv - Ev);
        const vd var18 = nv * (nv - 1.0) * (2.0 * nv + 5.0) - tiev;
        const vd var = var18 / 18.0;
        const vd sq = simd::vsqrt(var);
        const vd zp = (Sd - 1.0) / sq, zn = (Sd + 1.0) / sq;
        const vd z = Sd > 0.0 ? zp : (Sd < 0.0 ? zn : vd{});
        for (int l = 0; l < nl; ++l) {
            const index_t q = p0 + l;
            if (n[l] < 2) {
                if (out.s) out.s[q] = kNaN;
                if (out.var_s) out.var_s[q] = kNaN;
                if (out.z) out.z[q] = kNaN;
                if (out.p) out.p[q] = kNaN;
                continue;
            }
            if (out.s) out.s[q] = Sd[l];
            if (out.var_s) out.var_s[q] = var[l];
            if (out.z) out.z[q] = z[l];
            if (out.p) out.p[q] = erfc_memo(fabs_(z[l]) / 1.41421356237309504880);
        }
    }
    if (doSen) {
        for (int l = 0; l < nl; ++l) {
            const index_t q = p0 + l;
            const int nn = n[l];
            if (nn < 2) {
                if (out.slope) out.slope[q] = kNaN;
                if (out.intercept) out.intercept[q] = kNaN;
                continue;
            }
            if (out.slope) out.slope[q] = Q[l];
            if (out.intercept) {
                double m_y = my[l];
                if (negzero[l]) {  // the sign of a zero median depends on the selection order
                    double tmp[kRows];
                    for (int i = 0; i < nn; ++i) tmp[i] = yv[i][l];
                    m_y = detail::median_inplace(tmp, nn);
                }
                const double t0 = tv[0][l];
                const int h = nn / 2;
                const double thi = tv[h][l] - t0;
                const double mt = (nn & 1) ? thi : ((tv[h - 1][l] - t0) + thi) / 2.0;
                out.intercept[q] = m_y - Q[l] * mt;
            }
        }
    }

    // 5. Hurst exponent by R/S
    if ((opt.compute & kDoHurst) && out.hurst) {
        const HurstOptions& ho = opt.hurst;
        const bool diff = ho.series == kSeriesDiff;
        int m[VL];
        double md[VL];
        int mmax = 0;
        for (int l = 0; l < VL; ++l) {
            m[l] = diff ? (n[l] > 0 ? n[l] - 1 : 0) : n[l];
            md[l] = m[l];
            if (l < nl) mmax = m[l] > mmax ? m[l] : mmax;
        }
        vd mv;
        __builtin_memcpy(&mv, md, sizeof mv);
        vd u[kRows + 1], w[kRows + 1];
        vd amax = vd{};
        for (int k = 0; k < mmax; ++k) {
            vd v;
            if (diff) {
                const vd dy = yv[k + 1] - yv[k];
                if (ho.gap == kGapRate) {
                    const vd dt = tv[k + 1] - tv[k];
                    v = dy / dt;
                } else {
                    v = dy;
                }
            } else {
                v = yv[k];
            }
            const vi in = (double)k < mv;
            u[k] = simd::sel(in, v, vd{});
            const vd a = simd::vabs(u[k]);
            amax = simd::sel(in & (vi)(a > amax), a, amax);
        }
        const vd scl = amax > 0.0 ? amax : simd::splat(1.0);
        for (int k = 0; k < mmax; ++k) {
            const vi in = (double)k < mv;
            w[k] = simd::sel(in, (u[k] - u[0]) / scl, vd{});
        }
        if (ho.method == kHurstSegmented) {
            double tmp[kRows + 1];
            for (int l = 0; l < nl; ++l) {
                for (int k = 0; k < m[l]; ++k) tmp[k] = w[k][l];
                out.hurst[p0 + l] = detail::hurst_segmented(tmp, m[l], ho.corrected);
            }
        } else {
            vd lnrs[kRows + 1];
            vi okm[kRows + 1];
            vi anydeg = vi{};
            const int tau0 = ho.tau_min < 2 ? 2 : ho.tau_min;
            const double ddof = ho.ddof;
            for (int tau = tau0; tau <= mmax; ++tau) {
                vd sum = vd{};
                for (int k = 0; k < tau; ++k) sum = sum + w[k];
                const vd mean = sum / (double)tau;
                vd cum = vd{}, mx = vd{}, mn = vd{}, ssq = vd{};
                for (int k = 0; k < tau; ++k) {
                    const vd d = w[k] - mean;
                    cum = cum + d;
                    mx = cum > mx ? cum : mx;
                    mn = cum < mn ? cum : mn;
                    ssq = ssq + d * d;
                }
                const vi in = (double)tau <= mv;
                const vd Sd = simd::vsqrt(ssq / ((double)tau - ddof));
                const vd R = mx - mn;
                const vi deg = ~((vi)(Sd > ho.rel_tol) & (vi)(R > 0.0));
                const vd ratio = simd::sel(deg, simd::splat(1.0), R / Sd);
                lnrs[tau] = simd::log_pos(ratio);
                okm[tau] = in & ~deg;
                anydeg = anydeg | (in & deg);
            }
            vd cnt = vd{}, sx = vd{}, sy = vd{};
            for (int tau = tau0; tau <= mmax; ++tau) {
                const vi o = okm[tau];
                cnt = cnt + simd::sel(o, simd::splat(1.0), vd{});
                sx = sx + simd::sel(o, simd::splat(lnt[tau]), vd{});
                sy = sy + simd::sel(o, lnrs[tau], vd{});
            }
            const vd c = cnt > 0.0 ? cnt : simd::splat(1.0);
            const vd mxv = sx / c, myv = sy / c;
            vd sxy = vd{}, sxx = vd{};
            for (int tau = tau0; tau <= mmax; ++tau) {
                const vi o = okm[tau];
                const vd dx = lnt[tau] - mxv;
                const vd dy = lnrs[tau] - myv;
                sxy = sxy + simd::sel(o, dx * dy, vd{});
                sxx = sxx + simd::sel(o, dx * dx, vd{});
            }
            const vd h = sxy / sxx;
            for (int l = 0; l < nl; ++l) {
                const bool bad = cnt[l] < ho.min_points ||
                                 (ho.degenerate == kDegenerateNaN && anydeg[l] != 0) ||
                                 !(sxx[l] > 0.0);
                out.hurst[p0 + l] = bad ? kNaN : h[l];
            }
        }
    }
}

template <class T>
void run(const T* y, index_t P, int Tn, const double* years, const TrendOptions& opt,
         const TrendOutputs& out, int n_threads) {
    double lnt[kRows + 2];
    lnt[0] = 0.0;
    for (int k = 1; k <= kRows + 1; ++k) lnt[k] = detail::log_pos(k);
    const index_t nblocks = (P + VL - 1) / VL;
    const int nt = resolve_threads(n_threads);
    (void)nt;
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
    {
        ErfcMemo memo;
#if defined(MLRI_HAS_OPENMP)
#pragma omp for schedule(dynamic, 128)
#endif
        for (index_t b = 0; b < nblocks; ++b) {
            const index_t p0 = b * VL;
            const int nl = static_cast<int>((P - p0) < VL ? (P - p0) : VL);
            block<T>(y, P, Tn, years, opt, out, p0, nl, lnt, memo);
        }
    }
}

}  // namespace fastpath

// Driver: OpenMP over blocks of W pixels.  Bit-identical results for any n_threads.
template <int W, class T>
void fused_trend(const T* y, index_t P, int Tn, const double* years, const TrendOptions& opt,
                 const TrendOutputs& out, int n_threads) {
    if (fastpath::applicable(Tn, years)) {
        fastpath::run<T>(y, P, Tn, years, opt, out, n_threads);
        return;
    }
    const index_t nblocks = (P + W - 1) / W;
    const int nt = resolve_threads(n_threads);
    (void)nt;
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
    {
        TrendScratch sc;
        sc.init(Tn, W);
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

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
