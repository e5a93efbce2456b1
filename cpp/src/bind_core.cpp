// Bindings of the numerical kernels: parse -> check shapes/dtypes -> allocate outputs ->
// release the GIL -> call the kernel.  No numerical policy lives here (see src/mlri/).
#include "pybind.hpp"

#include <algorithm>
#include <optional>
#include <type_traits>

#include "mlri/classify.hpp"
#include "mlri/dispatch.hpp"
#include "trend_call.hpp"

namespace {

using mlri::index_t;

void check_2d(const py::array& a, const char* name) {
    if (a.ndim() != 2)
        throw std::invalid_argument(std::string(name) + " must be 2-D (time, pixel), got ndim=" +
                                    std::to_string(a.ndim()));
}

template <class T>
py::tuple index_impl(const carray<T>& lst, const carray<T>& evi, double lst_offset, double evi_min,
                     int evi_policy, int n_threads, std::optional<carray<std::int64_t>> valid) {
    check_2d(lst, "lst");
    check_2d(evi, "evi");
    if (lst.shape(0) != evi.shape(0) || lst.shape(1) != evi.shape(1))
        throw std::invalid_argument("lst and evi must have the same shape");
    const index_t NT = lst.shape(0), P = lst.shape(1);
    std::int64_t* pv = nullptr;  // per year: finite LST, finite EVI, finite MLRI (filled here)
    if (valid) {
        if (valid->ndim() != 2 || valid->shape(0) != 3 || valid->shape(1) != NT || !valid->writeable())
            throw std::invalid_argument("valid must be a writable int64 array of shape (3, time)");
        pv = valid->mutable_data();
        std::fill(pv, pv + 3 * NT, std::int64_t(0));
    }
    carray<T> out({NT, P});
    carray<std::int32_t> dropped(P);
    const mlri::IndexOptions o{lst_offset, evi_min, evi_policy};
    const T* pl = lst.data();
    const T* pe = evi.data();
    T* po = out.mutable_data();
    std::int32_t* pd = dropped.mutable_data();
    // Safe: only raw pointers are used in the kernel; no Python object is touched.
    run_without_gil([&] {
        const auto& k = mlri::active_kernels();
        if constexpr (std::is_same_v<T, float>)
            k.index_f32(pl, pe, P, NT, o, po, pd, pv, n_threads);
        else
            k.index_f64(pl, pe, P, NT, o, po, pd, pv, n_threads);
    }, "mlri_index: not enough memory for the work buffers; process the stack in smaller tiles");
    return py::make_tuple(out, dropped);
}

template <class T>
py::dict trend_impl(const carray<T>& y, const carray<double>& years, int method, int series,
                    int ddof, int tau_min, int gap, int degenerate, double rel_tol, int min_points,
                    bool corrected, unsigned compute, int n_threads, double sen_z) {
    check_2d(y, "series");
    if (years.ndim() != 1 || years.shape(0) != y.shape(0))
        throw std::invalid_argument("years must be 1-D with one entry per time step");
    if (y.shape(0) > kMaxSeriesLength)
        throw std::invalid_argument(
            "series: " + std::to_string(y.shape(0)) + " time steps is too long (at most " +
            std::to_string(kMaxSeriesLength) +
            ": the trend statistics cost O(n^2) per pixel); aggregate the series first, "
            "e.g. to annual values");
    if (ddof < 0 || tau_min < 1 || min_points < 2)
        throw std::invalid_argument("invalid Hurst options (ddof >= 0, tau_min >= 1, min_points >= 2)");
    const index_t NT = y.shape(0), P = y.shape(1);
    mlri::TrendOptions o;
    o.hurst.method = method;
    o.hurst.series = series;
    o.hurst.ddof = ddof;
    o.hurst.tau_min = tau_min;
    o.hurst.gap = gap;
    o.hurst.degenerate = degenerate;
    o.hurst.rel_tol = rel_tol;
    o.hurst.min_points = min_points;
    o.hurst.corrected = corrected;
    o.compute = compute;
    // sen_z: z = Phi^-1(alpha/2) of Sen's slope interval, or NaN for none
    const bool ci = !std::isnan(sen_z);
    if (ci && !(sen_z < 0.0))
        throw std::invalid_argument("sen_z must be negative (the alpha/2 quantile) or NaN");
    o.sen_z = ci ? sen_z : 0.0;
    if (ddof >= 2 && (compute & mlri::kDoHurst) && method == mlri::kHurstExpanding && tau_min < ddof + 1)
        throw std::invalid_argument("tau_min must exceed ddof");

    PixelOutputs res(P);
    mlri::TrendOutputs out;
    out.n_valid = res.counts();
    if (compute & mlri::kDoMK) {
        res.add("s", out.s);
        res.add("var_s", out.var_s);
        res.add("z", out.z);
        res.add("p", out.p);
    }
    if (compute & mlri::kDoSen) {
        res.add("slope", out.slope);
        res.add("intercept", out.intercept);
    }
    if (compute & mlri::kDoHurst) res.add("hurst", out.hurst);
    if (ci) {
        res.add("sen_low", out.sen_low);
        res.add("sen_high", out.sen_high);
    }
    // Safe: outputs were allocated above with the GIL held; the kernel uses raw pointers only.
    run_trend_kernel("trend", y.data(), P, NT, years.data(), o, out, n_threads);
    return res.dict();
}

py::tuple classify_impl(const carray<std::int32_t>& n_valid, const carray<double>& s,
                        const carray<double>& var_s, const carray<double>& z,
                        const carray<double>& slope, const carray<double>& hurst,
                        const std::optional<carray<std::int32_t>>& dropped, double z_crit,
                        int min_valid, bool zero_slope_sign_s, double h_threshold, int n_threads,
                        const std::optional<carray<double>>& p_increase,
                        const std::optional<carray<double>>& p_decrease, double p_level,
                        int alternative) {
    const index_t P = n_valid.size();
    for (const py::array* a : {static_cast<const py::array*>(&s), static_cast<const py::array*>(&var_s),
                               static_cast<const py::array*>(&z), static_cast<const py::array*>(&slope),
                               static_cast<const py::array*>(&hurst)})
        if (a->ndim() != 1 || a->size() != P)
            throw std::invalid_argument("classify: all inputs must be 1-D of the same length");
    if (dropped && (dropped->ndim() != 1 || dropped->size() != P))
        throw std::invalid_argument("classify: dropped must be 1-D of the same length");
    if (p_increase.has_value() != p_decrease.has_value())
        throw std::invalid_argument("classify: give both p_increase and p_decrease, or neither");
    if (p_increase && (p_increase->ndim() != 1 || p_increase->size() != P ||
                       p_decrease->ndim() != 1 || p_decrease->size() != P))
        throw std::invalid_argument("classify: p-values must be 1-D of the same length");
    if (alternative < 0 || alternative > 2)
        throw std::invalid_argument("classify: alternative must be 0, 1 or 2");
    const mlri::ClassifyOptions o{z_crit, min_valid, zero_slope_sign_s, h_threshold, p_level,
                                  alternative};
    carray<std::uint8_t> cls(P), flags(P);
    const std::int32_t* pn = n_valid.data();
    const double *ps = s.data(), *pv = var_s.data(), *pz = z.data(), *pq = slope.data(),
                 *ph = hurst.data();
    const std::int32_t* pd = dropped ? dropped->data() : nullptr;
    const double* ppi = p_increase ? p_increase->data() : nullptr;
    const double* ppd = p_decrease ? p_decrease->data() : nullptr;
    std::uint8_t* pc = cls.mutable_data();
    std::uint8_t* pf = flags.mutable_data();
    {
        py::gil_scoped_release release;
        mlri::classify<std::int32_t>(P, pn, ps, pv, pz, pq, ph, pd, ppi, ppd, o, pc, pf,
                                     n_threads);
    }
    return py::make_tuple(cls, flags);
}

}  // namespace

void register_core(py::module_& m) {
    m.def("mlri_index", &index_impl<float>, py::arg("lst").noconvert(), py::arg("evi").noconvert(), py::kw_only(), "lst_offset"_a,
          "evi_min"_a, "evi_policy"_a, "n_threads"_a, py::arg("valid").noconvert() = py::none());
    m.def("mlri_index", &index_impl<double>, py::arg("lst").noconvert(), py::arg("evi").noconvert(), py::kw_only(), "lst_offset"_a,
          "evi_min"_a, "evi_policy"_a, "n_threads"_a, py::arg("valid").noconvert() = py::none());
    m.def("trend", &trend_impl<float>, py::arg("series").noconvert(), py::arg("years").noconvert(), py::kw_only(), "method"_a,
          "series_kind"_a, "ddof"_a, "tau_min"_a, "gap"_a, "degenerate"_a, "rel_tol"_a,
          "min_points"_a, "corrected"_a, "compute"_a, "n_threads"_a, "sen_z"_a = std::nan(""));
    m.def("trend", &trend_impl<double>, py::arg("series").noconvert(), py::arg("years").noconvert(), py::kw_only(), "method"_a,
          "series_kind"_a, "ddof"_a, "tau_min"_a, "gap"_a, "degenerate"_a, "rel_tol"_a,
          "min_points"_a, "corrected"_a, "compute"_a, "n_threads"_a, "sen_z"_a = std::nan(""));
    m.def("classify", &classify_impl, py::arg("n_valid").noconvert(), py::arg("s").noconvert(),
          py::arg("var_s").noconvert(), py::arg("z").noconvert(), py::arg("slope").noconvert(),
          py::arg("hurst").noconvert(), py::arg("dropped").none(true), py::kw_only(), "z_crit"_a, "min_valid"_a, "zero_slope_sign_s"_a,
          "h_threshold"_a, "n_threads"_a, py::arg("p_increase").noconvert() = py::none(),
          py::arg("p_decrease").noconvert() = py::none(), "p_level"_a = 0.025,
          "alternative"_a = 0);
    m.attr("CLASS_CODES") = py::dict("nodata"_a = 0, "SD"_a = 1, "ND"_a = 2, "NI"_a = 3, "SAI"_a = 4,
                                     "SCI"_a = 5, "SI_H_undefined"_a = 6);
    m.attr("FLAG_BITS") = py::dict("constant"_a = 1, "slope0_significant"_a = 2, "few_valid"_a = 4,
                                   "years_dropped"_a = 8, "hurst_undefined"_a = 16);
}
