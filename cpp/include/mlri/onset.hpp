// mlri — per-pixel onset of a change (restoration start): a hinge (flat, then rising: linear,
// saturating or ramp-then-plateau) least-squares break search, or the Pettitt rank test, on
// each pixel's series.
//
// Layout: the input is time-major (T, P) like the trend kernel: element (t, p) at t * P + p.
// Per pixel, NaN/inf values are dropped (listwise) keeping the real year of each value; the
// n valid values y_0..y_{n-1} at years t_0 < ... < t_{n-1} are then searched for an onset index
// k (the first value of the changed segment) with min_before <= k <= n - min_after.
//
// Hinge ("segmented") method, for each candidate k and template curve c:
//   d_i = max(0, t_i - t_{k-1})               (the bend sits at the last unchanged year)
//   h_i = d_i (linear), 1 - exp(-d_i / tau) (saturating; 0 before the bend), or min(d_i, w)
//         (ramp: a straight rise that levels off after w years, w in kRampWidths)
//   U = <h - mean h, y - mean y> / (|h - mean h| |y - mean y|)   (correlation of y with h)
// The least-squares fit y = a + b h minimises RSS = SSy (1 - U^2), so the best increase is the
// argmax of U over (c, k) (of -U for a decrease, of |U| for either); ties go to the lower
// curve index (linear 0, saturating 1, ramps 2.. by width), then to the earlier k.
// Significance: the maximum of U is the maximum of a random field on the unit sphere, over the
// normalised centred templates; its tail is given by the tube formula (Hotelling 1939; Knowles
// & Siegmund 1989) with Student-t margins.  A single curve (linear or saturating) of length L:
//   P(max U > w) ~= P(t_nu > w sqrt(nu / (1 - w^2))) + L / (2 pi) (1 - w^2)^(nu / 2),
// nu = n - 2, L = sum of the great-circle arcs between successive k.  The ramp family (widths
// kRampWidths, then w = infinity, the linear template) is a 2-D sheet over (k, w); its tail
// adds the area A of the sheet (sum of the grid cells, two flat triangles each) and counts
// half its perimeter B instead of a length (Euler-characteristic form of the tube formula):
//   P ~= P(t_nu > ...) + B / 2 / (2 pi) (1 - w^2)^(nu / 2) + A rho2(w),
//   rho2(w) = G(m/2) / (G((m-3)/2) pi^(3/2)) int_0^theta cos^2 r sin^(m-4) r dr (1 - w^2)^(1/2),
// m = n - 1, cos theta = w (the same half power of (1 - w^2) as the curve term).  "either"
// sums the saturating curve's and the sheet's tails (a union bound).  For direction "both" the
// templates and their antipodes are searched: the tail doubles.  Capped at 1.
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
// 1 - exp(-(t - bend) / tau), a straight ramp levelling off after w years (the family over
// kRampWidths and the straight line), or the best of all (saturating and ramp family).
enum OnsetShape : int { kShapeLinear = 0, kShapeSaturating = 1, kShapeEither = 2, kShapeRamp = 3 };
// Ramp widths (years) of the ramp-then-plateau templates min(d, w); the straight line is w = inf.
constexpr int kNumRampWidths = 8;
constexpr double kRampWidths[kNumRampWidths] = {2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 13.0};

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

// Integral of cos^2 r sin^(m-4) r over [0, theta] times G(m/2) / (G((m-3)/2) pi^(3/2)): the
// density of the area term of the tube formula in dimension m (>= 3), given s = sin(theta),
// c = cos(theta) and theta.  Recursions only (no lgamma: thread-safe and bit-reproducible).
inline double sheet_density(int m, double s, double c, double theta) {
    if (m < 4) return 0.07957747154594767;  // m = 3: the limit 1 / (4 pi)
    // I_p = int_0^theta sin^p = -s^(p-1) c / p + (p-1)/p I_(p-2); I_0 = theta, I_1 = 1 - c
    const int q = m - 4;
    double ip = (q % 2 == 0) ? theta : 1.0 - c;
    double sp = (q % 2 == 0) ? s : s * s;  // s^(p-1) for p = base + 2
    for (int p = (q % 2 == 0) ? 2 : 3; p <= q; p += 2) {
        ip = -sp * c / p + (p - 1.0) / p * ip;
        sp *= s * s;
    }
    const double iq = ip;  // I_(m-4)
    const double iq2 = -sp * c / (q + 2) + (q + 1.0) / (q + 2) * iq;  // I_(m-2)
    // G(m/2) / G((m-3)/2): 1/sqrt(pi) at m = 4, 3 sqrt(pi)/4 at m = 5, times j/(j-3) per +2
    double g = (m % 2 == 0) ? 0.56418958354775628695 : 1.32934038817913702047;
    for (int j = (m % 2 == 0) ? 4 : 5; j < m; j += 2) g *= static_cast<double>(j) / (j - 3);
    return g / 5.56832799683170784528 * (iq - iq2);  // pi^(3/2)
}

}  // namespace detail

struct OnsetScratch {
    Buffer<double> y, t, hc, cur, prev;
    // The curve lengths, perimeter and area depend only on the valid years: kept for the last
    // pattern seen (geom_t, geom_n), recomputed when a pixel's valid years differ.  Values are
    // the same bits whether computed or reused, so the cache never changes a result.
    Buffer<double> geom_t;
    int geom_n = -1;
    double geom[4] = {0.0, 0.0, 0.0, 0.0};  // linear length, saturating length, perimeter, area
    void init(int Tn) {
        const std::size_t n = static_cast<std::size_t>(Tn > 0 ? Tn : 1);
        y.assign(n, 0.0);
        t.assign(n, 0.0);
        hc.assign(n, 0.0);
        geom_t.assign(n, 0.0);
        geom_n = -1;
        // unit template vectors of one candidate k (linear, saturating, ramps) and of k - 1
        cur.assign(n * (kNumRampWidths + 2), 0.0);
        prev.assign(n * (kNumRampWidths + 2), 0.0);
    }
};

// Centred template regressor for onset index k into h (curve 0: linear, 1: saturating with
// time constant tau, 2 + j: ramp of width kRampWidths[j]); returns its sum of squares, and in
// *last the raw value at the last year.
inline double hinge_centred(const double* t, int n, int k, int curve, double tau, double* h,
                            double* last) {
    const double bend = t[k - 1];
    const double width = curve >= 2 ? kRampWidths[curve - 2] : 0.0;
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
        const double d = t[i] > bend ? t[i] - bend : 0.0;
        const double v = curve == 0   ? d
                         : curve == 1 ? (d > 0.0 ? 1.0 - std::exp(-d / tau) : 0.0)
                                      : (d < width ? d : width);
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
            // Templates searched, by curve index: 0 linear, 1 saturating, 2.. ramps.  The
            // ramp family (ramps, then the linear template as w = inf) is a sheet over (k, w).
            const bool sheet = o.shape == kShapeRamp || o.shape == kShapeEither;
            const bool use_lin = o.shape == kShapeLinear || sheet;
            const bool use_sat = o.shape == kShapeSaturating || o.shape == kShapeEither;
            const int nramp = sheet ? kNumRampWidths : 0;
            const double sy = std::sqrt(ssy);
            double* cur = sc.cur.data();
            double* prv = sc.prev.data();
            const std::size_t stride = static_cast<std::size_t>(n);
            // slot of a curve in cur/prev: ramps 0..nramp-1 (by width), linear nramp, sat nramp+1
            auto slot = [&](int c) -> std::size_t {
                const int s_ = c == 0 ? nramp : (c == 1 ? nramp + 1 : c - 2);
                return static_cast<std::size_t>(s_) * stride;
            };
            auto arc = [&](const double* a_, const double* b_) {
                double d2 = 0.0;
                for (int i = 0; i < n; ++i) {
                    const double d = a_[i] - b_[i];
                    d2 += d * d;
                }
                const double half = std::sqrt(d2) * 0.5;
                return 2.0 * std::asin(half > 1.0 ? 1.0 : half);
            };
            auto tri = [&](const double* a_, const double* b_, const double* c_) {
                double uu = 0.0, vv = 0.0, uv = 0.0;
                for (int i = 0; i < n; ++i) {
                    const double u_ = b_[i] - a_[i], v_ = c_[i] - a_[i];
                    uu += u_ * u_;
                    vv += v_ * v_;
                    uv += u_ * v_;
                }
                const double g2 = uu * vv - uv * uv;
                return g2 > 0.0 ? 0.5 * std::sqrt(g2) : 0.0;
            };
            double bestv = -kInf, len_lin = 0.0, len_sat = 0.0, perim = 0.0, area = 0.0;
            double hlast = 0.0;
            bool geom = sc.geom_n != n;  // recompute the geometry for new valid years
            for (int i = 0; i < n && !geom; ++i) geom = sc.geom_t[i] != tv[i];
            for (int k = k0; k <= k1; ++k) {
                for (int c = 0; c < 2 + nramp; ++c) {
                    if ((c == 0 && !use_lin) || (c == 1 && !use_sat)) continue;
                    const double shh = hinge_centred(tv, n, k, c, o.tau, hc, &hlast);
                    const double norm = std::sqrt(shh);
                    double shy = 0.0;
                    for (int i = 0; i < n; ++i) shy += hc[i] * yv[i];
                    if (geom) {
                        double* e = cur + slot(c);
                        for (int i = 0; i < n; ++i) e[i] = hc[i] / norm;
                    }
                    double u = shy / (norm * sy);
                    u = u > 1.0 ? 1.0 : (u < -1.0 ? -1.0 : u);
                    const double v = o.direction > 0 ? u : (o.direction < 0 ? -u : fabs_(u));
                    if (v > bestv || (v == bestv && c < best_curve)) {
                        bestv = v;
                        best = k;
                        best_curve = c;
                    }
                }
                if (geom && k > k0) {  // arcs to the previous candidate, the sheet's cells
                    if (use_lin) len_lin += arc(cur + slot(0), prv + slot(0));
                    if (use_sat) len_sat += arc(cur + slot(1), prv + slot(1));
                    if (sheet) {
                        perim += arc(cur + slot(2), prv + slot(2));  // narrowest ramp edge
                        for (int j = 0; j < nramp; ++j) {  // cell between widths j and j + 1
                            const double* a00 = prv + static_cast<std::size_t>(j) * stride;
                            const double* a10 = cur + static_cast<std::size_t>(j) * stride;
                            const double* a01 = prv + static_cast<std::size_t>(j + 1) * stride;
                            const double* a11 = cur + static_cast<std::size_t>(j + 1) * stride;
                            area += tri(a00, a10, a01) + tri(a11, a01, a10);
                        }
                    }
                }
                // the sheet's edges across the widths, at the first and the last candidate
                // (both when they coincide: the sheet is then a curve, counted on both sides)
                const int edges = sheet && geom ? (k == k0) + (k == k1) : 0;
                for (int j = 0; j < nramp && edges > 0; ++j)
                    perim += edges * arc(cur + static_cast<std::size_t>(j) * stride,
                                         cur + static_cast<std::size_t>(j + 1) * stride);
                double* tmp = cur;
                cur = prv;
                prv = tmp;
            }
            if (geom) {
                if (sheet) perim += len_lin;  // the widest edge: the linear template
                for (int i = 0; i < n; ++i) sc.geom_t[i] = tv[i];
                sc.geom_n = n;
                sc.geom[0] = len_lin;
                sc.geom[1] = len_sat;
                sc.geom[2] = perim;
                sc.geom[3] = area;
            } else {
                len_lin = sc.geom[0];
                len_sat = sc.geom[1];
                perim = sc.geom[2];
                area = sc.geom[3];
            }
            stat = bestv;
            const int nu = n - 2;
            const double w = bestv;
            const double c = std::sqrt(1.0 - w * w);
            double cpow = 1.0;
            for (int j = 0; j < nu; ++j) cpow *= c;  // (1 - w^2)^(nu / 2)
            const double tail = detail::student_sf_abs(fabs_(w), c, nu);
            const double pt1 = w >= 0.0 ? tail : 1.0 - tail;
            double pt = 0.0, pc = 0.0, pa = 0.0;
            if (o.shape == kShapeLinear) {
                pt = pt1;
                pc = len_lin / (2.0 * M_PI) * cpow;
            } else {
                if (use_sat) {
                    pt += pt1;
                    pc += len_sat / (2.0 * M_PI) * cpow;
                }
                if (sheet) {
                    pt += pt1;
                    pc += 0.5 * perim / (2.0 * M_PI) * cpow;
                    pa = area * detail::sheet_density(n - 1, c, w, std::atan2(c, w)) * c;
                }
            }
            if (o.direction == 0) {
                pt *= 2.0;
                pc *= 2.0;
                pa *= 2.0;
            }
            p = pt + pc + pa;
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
        OnsetScratch& sc = states[thread_slot()];
#if defined(MLRI_HAS_OPENMP)
#pragma omp for schedule(dynamic, 256)
#endif
        for (index_t q = 0; q < P; ++q) onset_pixel<T>(y, P, Tn, years, o, sc, out, q);
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
