// Runtime CPU dispatch between the per-target kernel objects.
#include "pybind.hpp"

#include <cstdlib>
#include <vector>

#include "mlri/dispatch.hpp"

#if defined(MLRI_HAS_OPENMP)
#include <omp.h>
#endif

namespace mlri {
namespace {

struct Candidate {
    const KernelTable* table;
    bool supported;
};

std::vector<Candidate> candidates() {
    std::vector<Candidate> c;
#if defined(MLRI_HAVE_TARGET_AVX512)
    {
        bool ok = false;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") &&
             __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
#endif
        c.push_back({&avx512::kernel_table(), ok});
    }
#endif
#if defined(MLRI_HAVE_TARGET_AVX2)
    {
        bool ok = false;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
#endif
        c.push_back({&avx2::kernel_table(), ok});
    }
#endif
    c.push_back({&baseline::kernel_table(), true});
    return c;
}

const KernelTable* g_active = nullptr;

const KernelTable* best() {
    const char* force = std::getenv("MLRI_SIMD_TARGET");
    auto c = candidates();
    if (force && *force) {
        for (auto& x : c)
            if (x.supported && std::string(x.table->name) == force) return x.table;
    }
    for (auto& x : c)
        if (x.supported) return x.table;
    return &baseline::kernel_table();
}

}  // namespace

const KernelTable& active_kernels() {
    if (!g_active) g_active = best();
    return *g_active;
}

const OnsetTable& active_onset_kernels() {
    const std::string name = active_kernels().name;
#if defined(MLRI_HAVE_TARGET_AVX512)
    if (name == "avx512") return avx512::onset_table();
#endif
#if defined(MLRI_HAVE_TARGET_AVX2)
    if (name == "avx2") return avx2::onset_table();
#endif
    return baseline::onset_table();
}

}  // namespace mlri

void register_dispatch(py::module_& m) {
    m.def("simd_targets", [] {
        py::list out;
        for (auto& x : mlri::candidates())
            out.append(py::make_tuple(std::string(x.table->name), x.supported));
        return out;
    }, "List of (target, supported by this CPU) compiled into the module, best first.");
    m.def("simd_target", [] { return std::string(mlri::active_kernels().name); },
          "Name of the SIMD target in use.");
    m.def("set_simd_target", [](const std::string& name) {
        for (auto& x : mlri::candidates()) {
            if (name == x.table->name) {
                if (!x.supported)
                    throw std::invalid_argument("SIMD target '" + name + "' is not supported by this CPU");
                mlri::g_active = x.table;
                return;
            }
        }
        throw std::invalid_argument("unknown SIMD target '" + name + "'");
    }, "name"_a, "Select the SIMD target (for tests and benchmarks).");
    m.def("max_threads", [] {
#if defined(MLRI_HAS_OPENMP)
        return omp_get_max_threads();
#else
        return 1;
#endif
    });
    // choose at import time
    (void)mlri::active_kernels();
}
