// Shared prelude of the binding translation units (must be the first include).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

namespace py = pybind11;
using namespace pybind11::literals;

template <class T>
using carray = py::array_t<T, py::array::c_style>;

namespace mlri {
struct KernelTable;
const KernelTable& active_kernels();  // dispatch.cpp
}  // namespace mlri

void register_dispatch(py::module_& m);
void register_core(py::module_& m);
void register_landsat(py::module_& m);
void register_significance(py::module_& m);
void register_onset(py::module_& m);
