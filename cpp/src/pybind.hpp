// Shared prelude of the binding translation units (must be the first include).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

namespace py = pybind11;
using namespace pybind11::literals;

template <class T>
using carray = py::array_t<T, py::array::c_style>;

// Run a kernel without the GIL; std::bad_alloc (work buffers allocated before its parallel
// regions) becomes a MemoryError that names what ran out and what to change.
template <class F>
void run_without_gil(F&& kernel, const std::string& what_if_oom) {
    try {
        py::gil_scoped_release release;
        kernel();
    } catch (const std::bad_alloc&) {
        PyErr_SetString(PyExc_MemoryError, what_if_oom.c_str());
        throw py::error_already_set();
    }
}

// The per-pixel output arrays of a kernel call (P pixels), collected into the dict the call
// returns; allocated with the GIL held, before the kernel runs.
class PixelOutputs {
  public:
    explicit PixelOutputs(long long P) : P_(P) {}
    // a float64 array `name`; its data into ptr
    void add(const char* name, double*& ptr) { ptr = make<double>(name); }
    // the int32 array of valid values per pixel ("n_valid")
    std::int32_t* counts() { return make<std::int32_t>("n_valid"); }
    py::dict dict() const { return res_; }

  private:
    template <class V>
    V* make(const char* name) {
        carray<V> a(P_);
        res_[name] = a;
        return a.mutable_data();
    }
    long long P_;
    py::dict res_;
};

// Longest time axis of the per-pixel trend statistics (O(n^2) work and memory per pixel).
inline constexpr long long kMaxSeriesLength = 32768;

namespace mlri {
struct KernelTable;
const KernelTable& active_kernels();  // dispatch.cpp
}  // namespace mlri

void register_dispatch(py::module_& m);
void register_core(py::module_& m);
void register_landsat(py::module_& m);
void register_significance(py::module_& m);
void register_onset(py::module_& m);
