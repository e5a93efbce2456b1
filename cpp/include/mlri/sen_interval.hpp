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

// k-th smallest of a[0..n) (Hoare/Wirth selection; reorders a).  No std:: templates.
inline double select_kth(double* a, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        const double x = a[k];
        int i = lo, j = hi;
        do {
            while (a[i] < x) ++i;
            while (x < a[j]) --j;
            if (i <= j) {
                const double tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
                ++i;
                --j;
            }
        } while (i <= j);
        if (j < k) lo = i;
        if (k < i) hi = j;
    }
    return a[k];
}

// Σ k(k−1)(2k+5) over groups of equal values of a[0..n) (sorts a by insertion; n is small).
inline std::int64_t tie_term(double* a, int n) {
    for (int i = 1; i < n; ++i) {
        const double x = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > x) {
            a[j + 1] = a[j];
            --j;
        }
        a[j + 1] = x;
    }
    std::int64_t s = 0;
    int i = 0;
    while (i < n) {
        int j = i + 1;
        while (j < n && a[j] == a[i]) ++j;
        const std::int64_t k = j - i;
        if (k > 1) s += k * (k - 1) * (2 * k + 5);
        i = j;
    }
    return s;
}

}  // namespace sen_ci_detail

// Low/high slopes for P pixels of a (Tn, P) time-major stack.
template <class T>
void sen_interval(const T* y, index_t P, index_t Tn, const double* years, double z, double* low,
                  double* high, std::int32_t* n_valid, int n_threads) {
    const int nt = resolve_threads(n_threads);
    (void)nt;
    // Per-thread scratch, allocated before the parallel region (std::bad_alloc must reach the
    // caller, never leave an OpenMP region).
    struct Scratch {
        Buffer<double> v, t, w, sl;
    };
    const std::size_t cap = static_cast<std::size_t>(Tn > 0 ? Tn : 1);
    Owned<Scratch> states(static_cast<std::size_t>(nt > 0 ? nt : 1));
    for (int k = 0; k < (nt > 0 ? nt : 1); ++k) {
        Scratch& st = states[static_cast<std::size_t>(k)];
        st.v.assign(cap, 0.0);
        st.t.assign(cap, 0.0);
        st.w.assign(cap, 0.0);
        st.sl.assign(cap * (cap - 1) / 2 + 1, 0.0);
    }
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
    {
#if defined(MLRI_HAS_OPENMP)
        Scratch& st = states[static_cast<std::size_t>(omp_get_thread_num())];
#else
        Scratch& st = states[0];
#endif
        Buffer<double>& v = st.v;
        Buffer<double>& t = st.t;
        Buffer<double>& w = st.w;
        Buffer<double>& sl = st.sl;
#if defined(MLRI_HAS_OPENMP)
#pragma omp for schedule(dynamic, 256)
#endif
        for (index_t q = 0; q < P; ++q) {
            int n = 0;
            for (index_t k = 0; k < Tn; ++k) {
                const double yv = static_cast<double>(y[k * P + q]);
                if (isfin(yv)) {
                    v[static_cast<std::size_t>(n)] = yv;
                    w[static_cast<std::size_t>(n)] = yv;
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
            const std::int64_t nn = n;
            const std::int64_t N = nn * (nn - 1) / 2;
            std::int64_t m = 0;
            for (int i = 0; i < n; ++i)
                for (int j = i + 1; j < n; ++j) sl[static_cast<std::size_t>(m++)] = (v[j] - v[i]) / (t[j] - t[i]);
            const std::int64_t ties = sen_ci_detail::tie_term(w.data(), n);
            const double sigsq = (1.0 / 18.0) * static_cast<double>(nn * (nn - 1) * (2 * nn + 5) - ties);
            const double sigma = std::sqrt(sigsq);
            const double ru_f = std::nearbyint((static_cast<double>(N) - z * sigma) / 2.0);
            const double rl_f = std::nearbyint((static_cast<double>(N) + z * sigma) / 2.0);
            if (!isfin(ru_f) || !isfin(rl_f)) {  // negative variance (scipy: NaN)
                low[q] = kNaN;
                high[q] = kNaN;
                continue;
            }
            std::int64_t ru = static_cast<std::int64_t>(ru_f);
            std::int64_t rl = static_cast<std::int64_t>(rl_f) - 1;
            ru = ru < N - 1 ? ru : N - 1;
            rl = rl > 0 ? rl : 0;
            if (ru < 0 || rl > N - 1) {  // scipy: IndexError -> NaN
                low[q] = kNaN;
                high[q] = kNaN;
                continue;
            }
            const int Ni = static_cast<int>(N);
            low[q] = sen_ci_detail::select_kth(sl.data(), Ni, static_cast<int>(rl));
            high[q] = sen_ci_detail::select_kth(sl.data(), Ni, static_cast<int>(ru));
        }
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
