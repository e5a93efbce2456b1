// Bindings of the significance kernels (docs/significance.md): parse -> check shapes ->
// allocate outputs -> release the GIL -> call the kernel.  No statistical policy lives here
// (see src/mlri/significance.py).  The kernel is compiled in this generic translation unit
// (no per-SIMD-target dispatch).
#include "pybind.hpp"

#include <cstdint>
#include <type_traits>

#include "mlri/significance.hpp"

namespace {

using mlri::index_t;

// Permutations per SIMD block: 8 lanes (two SSE / one AVX register of float per comparison).
constexpr int kPermLanes = 8;

template <class T>
py::dict permutation_impl(const carray<T>& lst, const carray<T>& evi,
                          const carray<std::int64_t>& rows, const carray<std::int64_t>& cols,
                          double lst_offset, double evi_min, int evi_policy, int n_permutations,
                          std::uint64_t seed, int min_valid, int n_threads) {
    if (lst.ndim() != 2 || evi.ndim() != 2)
        throw std::invalid_argument("lst and evi must be 2-D (time, pixel)");
    if (lst.shape(0) != evi.shape(0) || lst.shape(1) != evi.shape(1))
        throw std::invalid_argument("lst and evi must have the same shape");
    const index_t NT = lst.shape(0), P = lst.shape(1);
    if (NT > 100000) throw std::invalid_argument("lst: time axis too long");
    if (rows.ndim() != 1 || cols.ndim() != 1 || rows.shape(0) != P || cols.shape(0) != P)
        throw std::invalid_argument("rows and cols must be 1-D with one entry per pixel");
    if (n_permutations < 1 || n_permutations > 10000000)
        throw std::invalid_argument("n_permutations must be in [1, 1e7]");
    if (evi_policy != mlri::kEviMask && evi_policy != mlri::kEviClamp)
        throw std::invalid_argument("invalid evi_policy");
    mlri::PermutationOptions o;
    o.index.lst_offset = lst_offset;
    o.index.evi_min = evi_min;
    o.index.evi_policy = evi_policy;
    o.n_permutations = n_permutations;
    o.seed = seed;
    o.min_valid = min_valid;

    py::dict res;
    carray<std::int32_t> n_valid(P);
    res["n_valid"] = n_valid;
    mlri::PermutationOutputs out;
    out.n_valid = n_valid.mutable_data();
    auto add = [&](const char* name, double*& ptr) {
        carray<double> a(P);
        ptr = a.mutable_data();
        res[name] = a;
    };
    add("s", out.s_obs);
    add("p_increase", out.p_inc);
    add("p_decrease", out.p_dec);
    add("s_null_mean", out.null_mean);
    add("s_null_sd", out.null_sd);
    const T* pl = lst.data();
    const T* pe = evi.data();
    const std::int64_t* pr = rows.data();
    const std::int64_t* pc = cols.data();
    // Safe: outputs were allocated above with the GIL held; the kernel uses raw pointers only.
    run_without_gil([&] { mlri::permutation_mk<kPermLanes, T>(pl, pe, P, NT, pr, pc, o, out, n_threads); },
                    "permutation_mk: not enough memory for the work buffers; use fewer threads");
    return res;
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
}
