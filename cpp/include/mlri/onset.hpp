// mlri — per-pixel onset of a change (restoration start): a hinge (flat, then linear) least-
// squares break search, or the Pettitt rank test, on each pixel's series.
//
// Layout: the input is time-major (T, P) like the trend kernel: element (t, p) at t * P + p.
// Per pixel, NaN/inf values are dropped (listwise) keeping the real year of each value; the
// n valid values y_0..y_{n-1} at years t_0 < ... < t_{n-1} are then searched for an onset index
// k (the first value of the changed segment) with min_before <= k <= n - min_after.
//
// Hinge ("segmented") method, for each candidate k and template curve c:
//   d_i = max(0, t_i - t_{k-1})               (the bend sits at the last unchanged year)
//   h_i = d_i (linear) or 1 - exp(-d_i / tau) (saturating; 0 before the bend)
//   U = <h - mean h, y - mean y> / (|h - mean h| |y - mean y|)   (correlation of y with h)
// The least-squares fit y = a + b h minimises RSS = SSy (1 - U^2), so the best increase is the
// first argmax of U over (c, k) (of -U for a decrease, of |U| for either).  Significance: the
// maximum of U is the maximum of a random field on curves on the unit sphere; its tail is
// given by Hotelling's (1939) tube formula with Student-t margins (Knowles & Siegmund 1989),
// summed over the searched curves (a union bound between the two templates):
//   P(max U > w) ~= C P(t_nu > w sqrt(nu / (1 - w^2))) + L / (2 pi) (1 - w^2)^(nu / 2),
// nu = n - 2, C = number of template curves, L = their total length through the unit vectors
// (h - mean) / |h - mean| (sum of the great-circle arcs between successive k).  For direction
// "both" the curves and their antipodes are searched: both terms double.  Capped at 1.
//
// Pettitt method: U_k = sum_{i<k} sum_{j>=k} sign(y_j - y_i) (integer), K = max of U_k
// (-U_k, |U_k|); onset = first argmax; p ~= exp(-6 K^2 / (n^3 + n^2)) (doubled for "both").
//
// Both methods then report, at the chosen k (and curve; linear for Pettitt), the fitted change
// from the bend to the last valid year, magnitude = b h_{n-1}, and the mean rate over that span,
// rate = magnitude / (t_{n-1} - t_{k-1}) (= b for the linear curve).  Every pixel runs the same scalar operations (no FMA contraction, no fast-math, libm
// scalar calls only), so results are bit-identical for any thread count and SIMD target.
// Undefined results are NaN; the kernel never throws and allocates scratch once per thread.
#pragma once

#include "mlri/common.hpp"

namespace mlri {

enum OnsetMethod : int { kOnsetHinge = 0, kOnsetPettitt = 1 };
// Shape of the changed segment: a straight line, a saturating exponential approach
// 1 - exp(-(t - bend) / tau), or the better of the two (both curves are searched).
enum OnsetShape : int { kShapeLinear = 0, kShapeSaturating = 1, kShapeEither = 2 };

struct OnsetOptions {
    int method = kOnsetHinge;
    int direction = 1;   // +1 increase, -1 decrease, 0 either
    int min_before = 2;  // valid values before the onset (the flat segment, bend included)
    int min_after = 3;   // valid values from the onset on
    int shape = kShapeEither;  // hinge templates searched (see OnsetShape)
    double tau = 3.0;          // time constant of the saturating template, years (> 0)
};

// Output pointers, each of length P (nullptr = not requested).
struct OnsetOutputs {
    std::int32_t* n_valid = nullptr;
    double* onset = nullptr;      // year of the first changed value (NaN: undefined)
    double* p = nullptr;          // p-value of "no change" (NaN: too few values)
    double* stat = nullptr;       // max correlation U (hinge) or K (Pettitt)
    double* rate = nullptr;       // magnitude / (last valid year - bend year), units per year
    double* magnitude = nullptr;  // fitted change from the bend to the last valid year
};

struct OnsetTable {
    const char* name;
    void (*onset_f32)(const float*, index_t, int, const double*, const OnsetOptions&,
                      const OnsetOutputs&, int);
    void (*onset_f64)(const double*, index_t, int, const double*, const OnsetOptions&,
                      const OnsetOutputs&, int);
};

inline namespace MLRI_KERNEL_NS {

namespace detail {

// P(T > t) for Student's t with integer nu >= 1 degrees of freedom, given sin(theta) = s >= 0
// and cos(theta) = c >= 0 where tan(theta) = |t| / sqrt(nu) (closed-form finite series,
// Abramowitz & Stegun 26.7.3-4).  Returns the tail for |t|; the caller mirrors for t < 0.
inline double student_sf_abs(double s, double c, int nu) {
    double A;
    const double c2 = c * c;
    if (nu % 2 == 0) {
        double term = 1.0, sum = 1.0;
        for (int j = 1; j <= (nu - 2) / 2; ++j) {
            term = term * c2 * (2.0 * j - 1.0) / (2.0 * j);
            sum += term;
        }
        A = s * sum;
    } else {
        const double theta = std::atan2(s, c);
        double sum = 0.0;
        if (nu > 1) {
            double term = 1.0;
            sum = 1.0;
            for (int j = 1; j <= (nu - 3) / 2; ++j) {
                term = term * c2 * (2.0 * j) / (2.0 * j + 1.0);
                sum += term;
            }
            sum = s * c * sum;
        }
        A = (theta + sum) * 0.63661977236758134308;  // 2 / pi
    }
    A = A > 1.0 ? 1.0 : A;
    return 0.5 * (1.0 - A);
}

}  // namespace detail

struct OnsetScratch {
    Buffer<double> y, t, hc, hp;
    void init(int Tn) {
        const std::size_t n = static_cast<std::size_t>(Tn > 0 ? Tn : 1);
        y.assign(n, 0.0);
        t.assign(n, 0.0);
        hc.assign(n, 0.0);
        hp.assign(n, 0.0);
    }
};

// Centred template regressor for onset index k into h (curve 0: linear, 1: saturating with
// time constant tau); returns its sum of squares, and in *last the raw value at the last year.
inline double hinge_centred(const double* t, int n, int k, int curve, double tau, double* h,
                            double* last) {
    const double bend = t[k - 1];
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
        const double d = t[i] > bend ? t[i] - bend : 0.0;
        const double v = curve == 0 ? d : (d > 0.0 ? 1.0 - std::exp(-d / tau) : 0.0);
        h[i] = v;
        sum += v;
    }
    *last = h[n - 1];
    const double mean = sum / n;
    double ss = 0.0;
    for (int i = 0; i < n; ++i) {
        h[i] -= mean;
        ss += h[i] * h[i];
    }
    return ss;
}

template <class T>
void onset_pixel(const T* y, index_t P, int Tn, const double* years, const OnsetOptions& o,
                 OnsetScratch& sc, const OnsetOutputs& out, index_t q) {
    double* yv = sc.y.data();
    double* tv = sc.t.data();
    int n = 0;
    for (int i = 0; i < Tn; ++i) {
        const double v = static_cast<double>(y[static_cast<index_t>(i) * P + q]);
        if (isfin(v)) {
            yv[n] = v;
            tv[n] = years[i];
            ++n;
        }
    }
    if (out.n_valid) out.n_valid[q] = n;
    double onset = kNaN, p = kNaN, stat = kNaN, rate = kNaN, mag = kNaN;
    const int k0 = o.min_before, k1 = n - o.min_after;
    if (n >= 4 && k0 <= k1) {
        double* hc = sc.hc.data();
        double* hp = sc.hp.data();
        int best = -1, best_curve = 0;
        if (o.method == kOnsetPettitt) {  // on the raw values (before centring)
            double bestv = -kInf;
            for (int k = k0; k <= k1; ++k) {
                std::int64_t u = 0;
                for (int i = 0; i < k; ++i)
                    for (int j = k; j < n; ++j) {
                        const double d = yv[j] - yv[i];
                        u += static_cast<std::int64_t>(d > 0.0) - static_cast<std::int64_t>(d < 0.0);
                    }
                const double uf = static_cast<double>(u);
                const double v = o.direction > 0 ? uf : (o.direction < 0 ? -uf : fabs_(uf));
                if (v > bestv) {
                    bestv = v;
                    best = k;
                }
            }
            stat = bestv;
            const double nn = static_cast<double>(n);
            const double kk = bestv > 0.0 ? bestv : 0.0;
            p = std::exp(-6.0 * kk * kk / (nn * nn * nn + nn * nn));
            if (o.direction == 0) p *= 2.0;
            p = p > 1.0 ? 1.0 : p;
        }
        double mean = 0.0;
        for (int i = 0; i < n; ++i) mean += yv[i];
        mean /= n;
        double ssy = 0.0;
        for (int i = 0; i < n; ++i) {
            yv[i] -= mean;
            ssy += yv[i] * yv[i];
        }
        if (!isfin(ssy)) {
            best = -1;  // overflowing series: nothing is defined
            p = stat = kNaN;
        } else if (ssy == 0.0) {
            best = -1;  // constant series: no change
            p = 1.0;
            stat = o.method == kOnsetHinge ? 0.0 : stat;
            rate = 0.0;
            mag = 0.0;
        } else if (o.method == kOnsetHinge) {
            const double sy = std::sqrt(ssy);
            const int c0 = o.shape == kShapeSaturating ? 1 : 0;
            const int c1 = o.shape == kShapeLinear ? 0 : 1;
            double bestv = -kInf, arc = 0.0, prev_norm = 0.0, hlast = 0.0;
            for (int c = c0; c <= c1; ++c) {
                for (int k = k0; k <= k1; ++k) {
                    const double shh = hinge_centred(tv, n, k, c, o.tau, hc, &hlast);
                    const double norm = std::sqrt(shh);
                    double shy = 0.0;
                    for (int i = 0; i < n; ++i) shy += hc[i] * yv[i];
                    double u = shy / (norm * sy);
                    u = u > 1.0 ? 1.0 : (u < -1.0 ? -1.0 : u);
                    const double v = o.direction > 0 ? u : (o.direction < 0 ? -u : fabs_(u));
                    if (v > bestv) {
                        bestv = v;
                        best = k;
                        best_curve = c;
                    }
                    if (k > k0) {  // great-circle arc between successive unit regressors
                        double d2 = 0.0;
                        for (int i = 0; i < n; ++i) {
                            const double d = hc[i] / norm - hp[i] / prev_norm;
                            d2 += d * d;
                        }
                        const double half = std::sqrt(d2) * 0.5;
                        arc += 2.0 * std::asin(half > 1.0 ? 1.0 : half);
                    }
                    for (int i = 0; i < n; ++i) hp[i] = hc[i];
                    prev_norm = norm;
                }
            }
            const double ncurves = static_cast<double>(c1 - c0 + 1);
            stat = bestv;
            const int nu = n - 2;
            const double w = bestv;
            const double c = std::sqrt(1.0 - w * w);
            double cpow = 1.0;
            for (int j = 0; j < nu; ++j) cpow *= c;  // (1 - w^2)^(nu / 2)
            const double tail = detail::student_sf_abs(fabs_(w), c, nu);
            double pt = ncurves * (w >= 0.0 ? tail : 1.0 - tail);
            double pc = arc / (2.0 * M_PI) * cpow;
            if (o.direction == 0) {
                pt *= 2.0;
                pc *= 2.0;
            }
            p = pt + pc;
            p = p > 1.0 ? 1.0 : p;
        }
        if (best >= 0) {
            onset = tv[best];
            double last = 0.0;
            const double shh = hinge_centred(tv, n, best, best_curve, o.tau, hc, &last);
            double shy = 0.0;
            for (int i = 0; i < n; ++i) shy += hc[i] * yv[i];
            mag = shy / shh * last;
            mag = mag == 0.0 ? 0.0 : mag;  // no negative zero
            rate = mag / (tv[n - 1] - tv[best - 1]);
        }
    }
    if (out.onset) out.onset[q] = onset;
    if (out.p) out.p[q] = p;
    if (out.stat) out.stat[q] = stat;
    if (out.rate) out.rate[q] = rate;
    if (out.magnitude) out.magnitude[q] = mag;
}

// Driver: OpenMP over pixels.  Bit-identical results for any n_threads.
template <class T>
void onset_kernel(const T* y, index_t P, int Tn, const double* years, const OnsetOptions& o,
                  const OnsetOutputs& out, int n_threads) {
    const int nt = resolve_threads(n_threads);
    (void)nt;
    // Per-thread scratch, allocated before the parallel region (std::bad_alloc must reach the
    // caller, never leave an OpenMP region).
    Owned<OnsetScratch> states(static_cast<std::size_t>(nt > 0 ? nt : 1));
    for (int t = 0; t < (nt > 0 ? nt : 1); ++t) states[static_cast<std::size_t>(t)].init(Tn);
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
    {
#if defined(MLRI_HAS_OPENMP)
        OnsetScratch& sc = states[static_cast<std::size_t>(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 256)
#else
        OnsetScratch& sc = states[0];
#endif
        for (index_t q = 0; q < P; ++q) onset_pixel<T>(y, P, Tn, years, o, sc, out, q);
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
