// mlri — rank-based confidence interval of Sen's slope per pixel (Sen 1968, eq. 2.6), computed
// exactly as scipy.stats.theilslopes computes low_slope/high_slope, on real years with gaps.
//
// Per pixel, over the n valid (finite) values y_k at years t_k (strictly increasing):
//   slopes  = {(y_j − y_i) / (t_j − t_i) : i < j}, N = n(n−1)/2 of them, sorted;
//   var     = (1/18) · (n(n−1)(2n+5) − Σ_ties k(k−1)(2k+5))   (ties: groups of equal y);
//   z       = Φ⁻¹(α/2) (< 0, given by the caller);
//   Ru = min(round((N − z·√var)/2), N − 1),  Rl = max(round((N + z·√var)/2) − 1, 0)
//   (round half to even, as numpy);  low = slopes[Rl], high = slopes[Ru].
// (y_j − y_i)/(t_j − t_i) is bit-for-bit scipy's (y_i − y_j)/(t_i − t_j): IEEE subtraction is
// exactly antisymmetric.  n < 2: NaN (scipy raises).  Values are promoted to double first.
#pragma once

#include "mlri/common.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {

namespace sen_ci_detail {

// Quickselect with out-of-place, branch-free partitions: a[lo..hi) is partitioned into
// b[lo..hi) around a pivot x (median of three) — values < x from the front, values > x from
// the back, every value written to both ends and only the right end's counter advanced, so
// there is neither a data-dependent branch nor a store read back in the same pass (the
// in-place Hoare and Lomuto versions were ~2-3x slower on slopes).  Values equal to x are
// only counted: they occupy [e0, e1) of the partitioned range.  Values are never NaN; the result
// is the k-th order statistic whatever the algorithm, except for the sign of a zero (callers
// normalise it).  No std:: templates.
struct Split {
    double x;
    int e0, e1;
};

inline Split partition(const double* a, double* b, int lo, int hi) {
    const double p = a[lo], q = a[lo + (hi - lo) / 2], r = a[hi - 1];
    const double mn = p < q ? p : q, mx = p < q ? q : p;
    const double m2 = mx < r ? mx : r;
    const double x = mn > m2 ? mn : m2;  // median of three
    int l = lo, h = hi - 1;
    for (int i = lo; i < hi; ++i) {
        const double v = a[i];
        b[l] = v;
        b[h] = v;
        l += v < x ? 1 : 0;
        h -= x < v ? 1 : 0;
    }
    return Split{x, l, h + 1};
}

// k-th smallest of a[lo..hi); a and b (same size) are both overwritten in [lo, hi).
inline double select_kth(double* a, double* b, int lo, int hi, int k) {
    while (hi - lo > 1) {
        const Split s = partition(a, b, lo, hi);
        if (k < s.e0) {
            hi = s.e0;
        } else if (k < s.e1) {
            return s.x;
        } else {
            lo = s.e1;
        }
        double* t = a;
        a = b;
        b = t;
    }
    return a[k];
}

// The k1-th and k2-th smallest (k1 <= k2) of a[0..n): partitions shared while both ranks fall
// in the same part, then one selection per part (disjoint ranges of the two buffers).
inline void select_two(double* a, double* b, int n, int k1, int k2, double& r1, double& r2) {
    int lo = 0, hi = n;
    while (hi - lo > 1) {
        const Split s = partition(a, b, lo, hi);
        const int p1 = k1 < s.e0 ? 0 : (k1 < s.e1 ? 1 : 2);
        const int p2 = k2 < s.e0 ? 0 : (k2 < s.e1 ? 1 : 2);
        if (p1 != p2) {
            r1 = p1 == 1 ? s.x : select_kth(b, a, lo, s.e0, k1);
            r2 = p2 == 1 ? s.x : select_kth(b, a, s.e1, hi, k2);
            return;
        }
        if (p1 == 1) {
            r1 = r2 = s.x;
            return;
        }
        if (p1 == 0)
            hi = s.e0;
        else
            lo = s.e1;
        double* t = a;
        a = b;
        b = t;
    }
    r1 = r2 = a[lo];
}

// Σ k(k−1)(2k+5) over the groups of equal values of a[0..n), as Σ_i (e_i−1)(2e_i+5) with
// e_i = #{j : a_j == a_i} (each of a group's k members contributes (k−1)(2k+5)); branch-free.
inline std::int64_t tie_term(const double* a, int n) {
    std::int64_t s = 0;
    for (int i = 0; i < n; ++i) {
        const double x = a[i];
        std::int64_t e = 0;
        for (int j = 0; j < n; ++j) e += a[j] == x ? 1 : 0;
        s += (e - 1) * (2 * e + 5);
    }
    return s;
}

// Ranks (0-based, among the N = n(n-1)/2 sorted slopes) of the interval's ends, as scipy:
// var = (n(n-1)(2n+5) - ties)/18 with ties = sum_groups k(k-1)(2k+5), Ru = min(round((N - z
// sigma)/2), N - 1), Rl = max(round((N + z sigma)/2) - 1, 0).  false where scipy gives NaN or
// raises (negative variance, a rank out of range).  The standalone kernel below uses it per
// pixel; the fused trend kernel's interval_lane_ranks (trend_fast.hpp) performs the same
// operations on whole vectors (test_sen_interval_fused.py compares the two bit for bit).
inline bool interval_ranks(std::int64_t nn, std::int64_t ties, double z, std::int64_t& rl,
                           std::int64_t& ru) {
    const std::int64_t N = nn * (nn - 1) / 2;
    const double sigsq = (1.0 / 18.0) * static_cast<double>(nn * (nn - 1) * (2 * nn + 5) - ties);
    const double sigma = std::sqrt(sigsq);
    const double ru_f = std::nearbyint((static_cast<double>(N) - z * sigma) / 2.0);
    const double rl_f = std::nearbyint((static_cast<double>(N) + z * sigma) / 2.0);
    if (!isfin(ru_f) || !isfin(rl_f)) return false;  // negative variance (scipy: NaN)
    // (clamped before the conversion, which is undefined beyond the int64 range: beyond
    // +-2^50 only the comparisons with 0 and N - 1 below matter, as in scipy's int())
    constexpr double kBig = 1125899906842624.0;  // 2^50
    ru = static_cast<std::int64_t>(ru_f < -kBig ? -kBig : (ru_f > kBig ? kBig : ru_f));
    rl = static_cast<std::int64_t>(rl_f < -kBig ? -kBig : (rl_f > kBig ? kBig : rl_f)) - 1;
    ru = ru < N - 1 ? ru : N - 1;
    rl = rl > 0 ? rl : 0;
    return !(ru < 0 || rl > N - 1);  // scipy: IndexError
}

}  // namespace sen_ci_detail

// Low/high slopes for P pixels of a (Tn, P) time-major stack.
template <class T>
void sen_interval(const T* y, index_t P, index_t Tn, const double* years, double z, double* low,
                  double* high, std::int32_t* n_valid, int n_threads) {
    const int nt = resolve_threads(n_threads);
    // per-thread work, allocated before the parallel region (an exception must not leave it)
    const std::size_t cap = static_cast<std::size_t>(Tn > 0 ? Tn : 1);
    const std::size_t npairs = cap * (cap - 1) / 2 + 1;
    const std::size_t stride = 2 * cap + 2 * npairs;
    Buffer<double> work;
    work.assign(stride * static_cast<std::size_t>(nt), 0.0);
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
    {
        double* base = work.data() + stride * thread_slot();
        double* v = base;
        double* t = v + cap;
        double* sl = t + cap;
        double* sb = sl + npairs;
#if defined(MLRI_HAS_OPENMP)
#pragma omp for schedule(dynamic, 256)
#endif
        for (index_t q = 0; q < P; ++q) {
            int n = 0;
            for (index_t k = 0; k < Tn; ++k) {
                const double yv = static_cast<double>(y[k * P + q]);
                if (isfin(yv)) {
                    v[static_cast<std::size_t>(n)] = yv;
                    t[static_cast<std::size_t>(n)] = years[k];
                    ++n;
                }
            }
            if (n_valid) n_valid[q] = n;
            if (n < 2) {
                low[q] = kNaN;
                high[q] = kNaN;
                continue;
            }
            std::int64_t m = 0;
            int zeros = 0;  // a tie in y gives a zero slope (so does an underflow: then counted)
            for (int i = 0; i < n; ++i) {
                double* row = sl + m;
                const double vi = v[i], ti = t[i];
                for (int j = i + 1; j < n; ++j) {
                    const double x = (v[j] - vi) / (t[j] - ti);
                    row[j - i - 1] = x;
                    zeros |= x == 0.0 ? 1 : 0;
                }
                m += n - i - 1;
            }
            const std::int64_t ties = zeros ? sen_ci_detail::tie_term(v, n) : 0;
            std::int64_t rl, ru;
            if (!sen_ci_detail::interval_ranks(n, ties, z, rl, ru)) {
                low[q] = kNaN;
                high[q] = kNaN;
                continue;
            }
            const std::int64_t N = static_cast<std::int64_t>(n) * (n - 1) / 2;
            const int Ni = static_cast<int>(N);
            double lo_v, hi_v;
            if (rl <= ru)
                sen_ci_detail::select_two(sl, sb, Ni, static_cast<int>(rl), static_cast<int>(ru), lo_v, hi_v);
            else
                sen_ci_detail::select_two(sl, sb, Ni, static_cast<int>(ru), static_cast<int>(rl), hi_v, lo_v);
            low[q] = lo_v == 0.0 ? 0.0 : lo_v;  // +0.0 for a zero of either sign
            high[q] = hi_v == 0.0 ? 0.0 : hi_v;
        }
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
