// The trend kernel of the active SIMD target on a time-major (NT, P) stack, without the GIL:
// the one call behind _core.trend and _core.sen_interval.  `who` names the Python function in
// the MemoryError, which gives the size of Sen's pairwise slopes (the largest work buffer).
#pragma once

#include "pybind.hpp"

#include <cstdio>
#include <type_traits>

#include "mlri/dispatch.hpp"

template <class T>
void run_trend_kernel(const char* who, const T* y, mlri::index_t P, mlri::index_t NT,
                      const double* years, const mlri::TrendOptions& o,
                      const mlri::TrendOutputs& out, int n_threads) {
    const double gib = (o.compute & mlri::kDoSen)
                           ? static_cast<double>(NT) * static_cast<double>(NT - 1) * 4.0 /
                                 (1024.0 * 1024.0 * 1024.0)
                           : 0.0;
    char gib_text[32];
    std::snprintf(gib_text, sizeof gib_text, "%.1f", gib);
    run_without_gil([&] {
        const auto& k = mlri::active_kernels();
        if constexpr (std::is_same_v<T, float>)
            k.trend_f32(y, P, static_cast<int>(NT), years, o, out, n_threads);
        else
            k.trend_f64(y, P, static_cast<int>(NT), years, o, out, n_threads);
    }, std::string(who) + ": not enough memory for the work buffers of a " + std::to_string(NT) +
           "-step series (about " + gib_text + " GiB per thread for Sen's pairwise slopes): "
           "use fewer threads (n_threads=1) or a shorter series");
}
