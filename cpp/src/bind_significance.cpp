// Bindings of the significance kernels (docs/significance.md): parse -> check shapes ->
// allocate outputs -> release the GIL -> call the kernel.  No statistical policy lives here
// (see src/mlri/significance.py).  The kernel is compiled in this generic translation unit
// (no per-SIMD-target dispatch).
#include "pybind.hpp"

#include <cstdint>
#include <string>
#include <utility>

#include "mlri/significance.hpp"
#include "mlri/significance_ar.hpp"
#include "mlri/dispatch.hpp"
#include "trend_call.hpp"

namespace {

using mlri::index_t;

// Permutations per SIMD block: 8 lanes (two SSE / one AVX register of float per comparison).
constexpr int kPermLanes = 8;

// The checks of a resampling test's inputs (lst/evi (time, pixel), one global row and column
// per pixel, the replicate count `n_name`, the EVI policy); returns (time steps, pixels).
template <class T>
std::pair<index_t, index_t> resampling_shapes(const carray<T>& lst, const carray<T>& evi,
                                              const carray<std::int64_t>& rows,
                                              const carray<std::int64_t>& cols, int n,
                                              const char* n_name, int evi_policy) {
    if (lst.ndim() != 2 || evi.ndim() != 2)
        throw std::invalid_argument("lst and evi must be 2-D (time, pixel)");
    if (lst.shape(0) != evi.shape(0) || lst.shape(1) != evi.shape(1))
        throw std::invalid_argument("lst and evi must have the same shape");
    const index_t NT = lst.shape(0), P = lst.shape(1);
    if (NT > 100000) throw std::invalid_argument("lst: time axis too long");
    if (rows.ndim() != 1 || cols.ndim() != 1 || rows.shape(0) != P || cols.shape(0) != P)
        throw std::invalid_argument("rows and cols must be 1-D with one entry per pixel");
    if (n < 1 || n > 10000000)
        throw std::invalid_argument(std::string(n_name) + " must be in [1, 1e7]");
    if (evi_policy != mlri::kEviMask && evi_policy != mlri::kEviClamp)
        throw std::invalid_argument("invalid evi_policy");
    return {NT, P};
}

// The outputs every resampling test returns.
template <class Out>
void resampling_outputs(PixelOutputs& res, Out& out) {
    out.n_valid = res.counts();
    res.add("s", out.s_obs);
    res.add("p_increase", out.p_inc);
    res.add("p_decrease", out.p_dec);
    res.add("s_null_mean", out.null_mean);
    res.add("s_null_sd", out.null_sd);
}

template <class T>
py::dict permutation_impl(const carray<T>& lst, const carray<T>& evi,
                          const carray<std::int64_t>& rows, const carray<std::int64_t>& cols,
                          double lst_offset, double evi_min, int evi_policy, int n_permutations,
                          std::uint64_t seed, int min_valid, int n_threads) {
    const auto [NT, P] = resampling_shapes(lst, evi, rows, cols, n_permutations, "n_permutations",
                                           evi_policy);
    mlri::PermutationOptions o;
    o.index = {lst_offset, evi_min, evi_policy};
    o.n_permutations = n_permutations;
    o.seed = seed;
    o.min_valid = min_valid;

    PixelOutputs res(P);
    mlri::PermutationOutputs out;
    resampling_outputs(res, out);
    const T* pl = lst.data();
    const T* pe = evi.data();
    const std::int64_t* pr = rows.data();
    const std::int64_t* pc = cols.data();
    // Safe: outputs were allocated above with the GIL held; the kernel uses raw pointers only.
    run_without_gil([&] { mlri::permutation_mk<kPermLanes, T>(pl, pe, P, NT, pr, pc, o, out, n_threads); },
                    "permutation_mk: not enough memory for the work buffers; use fewer threads");
    return res.dict();
}

template <class T>
py::dict ar_sieve_impl(const carray<T>& lst, const carray<T>& evi, const carray<double>& years,
                       const carray<std::int64_t>& rows, const carray<std::int64_t>& cols,
                       const carray<double>& phi_lst, const carray<double>& phi_evi,
                       double lst_offset, double evi_min, int evi_policy, int n_replicates,
                       std::uint64_t seed, int min_valid, double phi_max, int n_threads) {
    const auto [NT, P] = resampling_shapes(lst, evi, rows, cols, n_replicates, "n_replicates",
                                           evi_policy);
    if (years.ndim() != 1 || years.shape(0) != NT)
        throw std::invalid_argument("years must be 1-D with one entry per time step");
    if (phi_lst.ndim() != 1 || phi_evi.ndim() != 1 || phi_lst.shape(0) != P || phi_evi.shape(0) != P)
        throw std::invalid_argument("phi_lst and phi_evi must be 1-D with one entry per pixel");
    if (!(phi_max >= 0.0 && phi_max < 1.0)) throw std::invalid_argument("phi_max must be in [0, 1)");
    mlri::ArSieveOptions o;
    o.index = {lst_offset, evi_min, evi_policy};
    o.n_replicates = n_replicates;
    o.seed = seed;
    o.min_valid = min_valid;
    o.phi_max = phi_max;

    PixelOutputs res(P);
    mlri::ArSieveOutputs out;
    resampling_outputs(res, out);
    res.add("phi_lst", out.phi_lst);
    res.add("phi_evi", out.phi_evi);
    const T* pl = lst.data();
    const T* pe = evi.data();
    const double* py = years.data();
    const std::int64_t* pr = rows.data();
    const std::int64_t* pc = cols.data();
    const double* fl = phi_lst.data();
    const double* fe = phi_evi.data();
    // Safe: outputs were allocated above with the GIL held; the kernel uses raw pointers only.
    run_without_gil([&] { mlri::ar_sieve_mk<kPermLanes, T>(pl, pe, P, NT, py, pr, pc, fl, fe, o, out, n_threads); },
                    "ar_sieve_mk: not enough memory for the work buffers; use fewer threads");
    return res.dict();
}

template <class T>
py::dict sen_interval_impl(const carray<T>& y, const carray<double>& years, double z,
                           int n_threads) {
    if (y.ndim() != 2) throw std::invalid_argument("series must be 2-D (time, pixel)");
    const index_t NT = y.shape(0), P = y.shape(1);
    if (NT > 10000) throw std::invalid_argument("series: time axis too long for Sen's interval");
    if (years.ndim() != 1 || years.shape(0) != NT)
        throw std::invalid_argument("years must be 1-D with one entry per time step");
    if (!(z < 0.0)) throw std::invalid_argument("z must be negative (the alpha/2 quantile)");
    // through the trend kernel: up to 64 years it selects the interval from the slopes of its
    // fast paths (MK gives the ties); otherwise it runs sen_interval.hpp's kernel alone
    mlri::TrendOptions o;
    o.compute = mlri::kDoMK | mlri::kDoSen;
    o.sen_z = z;
    PixelOutputs res(P);
    mlri::TrendOutputs out;
    out.n_valid = res.counts();
    res.add("low_slope", out.sen_low);
    res.add("high_slope", out.sen_high);
    // Safe: outputs were allocated above with the GIL held; the kernel uses raw pointers only.
    run_trend_kernel("sen_interval", y.data(), P, NT, years.data(), o, out, n_threads);
    return res.dict();
}

}  // namespace

void register_significance(py::module_& m) {
    m.def("permutation_mk", &permutation_impl<float>, py::arg("lst").noconvert(),
          py::arg("evi").noconvert(), py::arg("rows").noconvert(), py::arg("cols").noconvert(),
          py::kw_only(), "lst_offset"_a, "evi_min"_a, "evi_policy"_a, "n_permutations"_a,
          "seed"_a, "min_valid"_a, "n_threads"_a);
    m.def("permutation_mk", &permutation_impl<double>, py::arg("lst").noconvert(),
          py::arg("evi").noconvert(), py::arg("rows").noconvert(), py::arg("cols").noconvert(),
          py::kw_only(), "lst_offset"_a, "evi_min"_a, "evi_policy"_a, "n_permutations"_a,
          "seed"_a, "min_valid"_a, "n_threads"_a);
    // AR(1) sieve test (significance_ar.hpp) and Sen's slope interval (trend.hpp, sen_interval.hpp).
    m.def("ar_sieve_mk", &ar_sieve_impl<float>, py::arg("lst").noconvert(),
          py::arg("evi").noconvert(), py::arg("years").noconvert(), py::arg("rows").noconvert(),
          py::arg("cols").noconvert(), py::arg("phi_lst").noconvert(), py::arg("phi_evi").noconvert(),
          py::kw_only(), "lst_offset"_a, "evi_min"_a, "evi_policy"_a, "n_replicates"_a, "seed"_a,
          "min_valid"_a, "phi_max"_a, "n_threads"_a);
    m.def("ar_sieve_mk", &ar_sieve_impl<double>, py::arg("lst").noconvert(),
          py::arg("evi").noconvert(), py::arg("years").noconvert(), py::arg("rows").noconvert(),
          py::arg("cols").noconvert(), py::arg("phi_lst").noconvert(), py::arg("phi_evi").noconvert(),
          py::kw_only(), "lst_offset"_a, "evi_min"_a, "evi_policy"_a, "n_replicates"_a, "seed"_a,
          "min_valid"_a, "phi_max"_a, "n_threads"_a);
    m.def("sen_interval", &sen_interval_impl<float>, py::arg("series").noconvert(),
          py::arg("years").noconvert(), py::kw_only(), "z"_a, "n_threads"_a);
    m.def("sen_interval", &sen_interval_impl<double>, py::arg("series").noconvert(),
          py::arg("years").noconvert(), py::kw_only(), "z"_a, "n_threads"_a);
}
