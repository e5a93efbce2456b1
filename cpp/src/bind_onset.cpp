// Bindings of the onset kernel (onset.hpp): parse -> check -> allocate -> release the GIL -> call.
// Option values are validated in src/mlri/onset.py too; these checks guard direct _core use.
#include "pybind.hpp"

#include <type_traits>

#include "mlri/dispatch.hpp"
#include "mlri/onset.hpp"

namespace {

template <class T>
py::dict onset_impl(const carray<T>& y, const carray<double>& years, int method, int direction,
                    int min_before, int min_after, int shape, double tau,
                    int n_threads) {
    if (y.ndim() != 2)
        throw std::invalid_argument("series must be 2-D (time, pixel), got ndim=" +
                                    std::to_string(y.ndim()));
    if (years.ndim() != 1 || years.shape(0) != y.shape(0))
        throw std::invalid_argument("years must be 1-D with one entry per time step");
    if (y.shape(0) > 100000) throw std::invalid_argument("series: time axis too long");
    if (method != mlri::kOnsetHinge && method != mlri::kOnsetPettitt)
        throw std::invalid_argument("method must be 0 (hinge) or 1 (pettitt)");
    if (direction < -1 || direction > 1)
        throw std::invalid_argument("direction must be -1, 0 or 1");
    if (min_before < 1) throw std::invalid_argument("min_before must be >= 1");
    if (min_after < 2) throw std::invalid_argument("min_after must be >= 2");
    if (shape < 0 || shape > 3) throw std::invalid_argument("shape must be 0, 1, 2 or 3");
    if (!(tau > 0.0) || !(tau < 1e300)) throw std::invalid_argument("tau must be > 0 and finite");
    const mlri::index_t NT = y.shape(0), P = y.shape(1);
    mlri::OnsetOptions o;
    o.method = method;
    o.direction = direction;
    o.min_before = min_before;
    o.min_after = min_after;
    o.shape = shape;
    o.tau = tau;
    PixelOutputs res(P);
    mlri::OnsetOutputs out;
    out.n_valid = res.counts();
    res.add("onset", out.onset);
    res.add("p", out.p);
    res.add("stat", out.stat);
    res.add("rate", out.rate);
    res.add("magnitude", out.magnitude);
    const T* py_ = y.data();
    const double* pyears = years.data();
    // Safe: outputs were allocated above with the GIL held; below only raw pointers.
    run_without_gil([&] {
        const auto& k = mlri::active_onset_kernels();
        if constexpr (std::is_same_v<T, float>)
            k.onset_f32(py_, P, static_cast<int>(NT), pyears, o, out, n_threads);
        else
            k.onset_f64(py_, P, static_cast<int>(NT), pyears, o, out, n_threads);
    }, "onset: not enough memory for the work buffers; use fewer threads (n_threads=1)");
    return res.dict();
}

}  // namespace

void register_onset(py::module_& m) {
    m.def("onset", &onset_impl<float>, py::arg("series").noconvert(), py::arg("years").noconvert(),
          py::kw_only(), "method"_a, "direction"_a, "min_before"_a, "min_after"_a, "shape"_a, "tau"_a, "n_threads"_a);
    m.def("onset", &onset_impl<double>, py::arg("series").noconvert(), py::arg("years").noconvert(),
          py::kw_only(), "method"_a, "direction"_a, "min_before"_a, "min_after"_a, "shape"_a, "tau"_a, "n_threads"_a);
}
