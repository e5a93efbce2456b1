// mlri._core: the private extension module.  It only assembles the register_* functions.
#include "pybind.hpp"

#ifndef MLRI_VERSION_INFO
#define MLRI_VERSION_INFO "dev"
#endif

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "mlri private C++ kernels (use the public mlri API instead)";
    m.attr("__version__") = MLRI_VERSION_INFO;
#if defined(MLRI_HAS_OPENMP)
    m.attr("openmp_enabled") = true;
#else
    m.attr("openmp_enabled") = false;
#endif
    register_dispatch(m);
    register_core(m);
    register_landsat(m);
    register_significance(m);
    register_onset(m);
}
