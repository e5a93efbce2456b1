// Bindings of the Landsat C2 L2 kernels (mlri/landsat.hpp): parse -> check shapes/dtypes ->
// allocate outputs -> release the GIL -> call the kernel.  Masking/scaling policy is chosen in
// src/mlri/landsat/ and arrives here as plain numbers.
#include "pybind.hpp"

#include <optional>
#include <vector>

#include "mlri/landsat.hpp"

namespace {

using mlri::index_t;

template <class T>
using opt_arr = std::optional<carray<T>>;

// All given arrays must have `n` elements.
void check_size(const py::array& a, index_t n, const char* name) {
    if (a.size() != n)
        throw std::invalid_argument(std::string(name) + " has " + std::to_string(a.size()) +
                                    " pixels, expected " + std::to_string(n) +
                                    " (all layers of a block must have the same shape)");
}

template <class T>
const T* opt_ptr(const opt_arr<T>& a, index_t n, const char* name) {
    if (!a) return nullptr;
    check_size(*a, n, name);
    return a->data();
}

// In-place outputs are taken as plain arrays and checked, never converted: a silent copy would
// lose the update.
template <class T>
T* acc_ptr(const std::optional<py::array>& a, index_t n, const char* name) {
    if (!a) return nullptr;
    if (!py::isinstance<carray<T>>(*a))
        throw std::invalid_argument(std::string(name) + " must be a C-contiguous " +
                                    py::str(py::dtype::of<T>()).cast<std::string>() +
                                    " array (it is updated in place)");
    check_size(*a, n, name);
    if (!a->writeable()) throw std::invalid_argument(std::string(name) + " must be writeable");
    return static_cast<T*>(const_cast<py::array&>(*a).mutable_data());
}

mlri::QaRule make_rule(unsigned bad_bits, unsigned conf_mask, unsigned conf_expect,
                       unsigned radsat_bad, int aerosol_max, int opacity_max) {
    if (bad_bits > 0xFFFFu || conf_mask > 0xFFu || conf_expect > 0xFFu || radsat_bad > 0xFFFFu)
        throw std::invalid_argument("QA bit masks out of range for uint16 QA bands");
    mlri::QaRule r;
    r.bad_bits = static_cast<std::uint16_t>(bad_bits);
    r.conf_mask = static_cast<std::uint16_t>(conf_mask);
    r.conf_expect = static_cast<std::uint16_t>(conf_expect);
    r.radsat_bad = static_cast<std::uint16_t>(radsat_bad);
    r.aerosol_max = aerosol_max;
    r.opacity_max = opacity_max;
    return r;
}

// Accumulate one scene into the running composite of a block (in place).
using opt_any = std::optional<py::array>;

py::dict composite_scene_impl(const opt_any& acc_evi, const opt_any& acc_lst, const opt_any& n_evi,
                              const opt_any& n_lst, const opt_any& n_seen, const opt_arr<std::uint16_t>& qa,
                              const opt_arr<std::uint16_t>& radsat,
                              const opt_arr<std::uint8_t>& aerosol,
                              const opt_arr<std::int16_t>& opacity,
                              const opt_arr<std::uint16_t>& blue, const opt_arr<std::uint16_t>& red,
                              const opt_arr<std::uint16_t>& nir, const opt_arr<std::uint16_t>& st,
                              const opt_arr<std::int16_t>& st_qa, const opt_arr<float>& lst,
                              unsigned bad_bits, unsigned conf_mask, unsigned conf_expect,
                              unsigned radsat_bad, int aerosol_max, int opacity_max,
                              std::vector<double> sr_scale, std::vector<double> st_scale,
                              bool sr_unit_range, int evi_clamp, int st_qa_max, int pairing,
                              int n_threads) {
    index_t n = -1;
    if (acc_lst) n = acc_lst->size();
    if (acc_evi) n = acc_evi->size();
    if (n < 0) throw std::invalid_argument("give at least one accumulator (acc_evi or acc_lst)");
    if (sr_scale.size() != 6)
        throw std::invalid_argument("sr_scale must be (blue_mult, blue_add, red_mult, red_add, nir_mult, nir_add)");
    if (st_scale.size() != 2) throw std::invalid_argument("st_scale must be (mult, add)");
    if (evi_clamp != mlri::kEviClampNone && evi_clamp != mlri::kEviClampGee)
        throw std::invalid_argument("evi_clamp must be 0 (none) or 1 (gee)");
    if (pairing != mlri::kPairIndependent && pairing != mlri::kPairGreenest)
        throw std::invalid_argument("pairing must be 0 (independent) or 1 (greenest)");
    if (st && lst) throw std::invalid_argument("give either st (digital numbers) or lst, not both");
    const bool any_sr = blue || red || nir;
    if (any_sr && !(blue && red && nir))
        throw std::invalid_argument("EVI needs all of blue, red and nir");

    mlri::SceneInputs in;
    in.qa = opt_ptr(qa, n, "qa");
    in.radsat = opt_ptr(radsat, n, "radsat");
    in.aerosol = opt_ptr(aerosol, n, "aerosol");
    in.opacity = opt_ptr(opacity, n, "opacity");
    in.blue = opt_ptr(blue, n, "blue");
    in.red = opt_ptr(red, n, "red");
    in.nir = opt_ptr(nir, n, "nir");
    in.st = opt_ptr(st, n, "st");
    in.st_qa = opt_ptr(st_qa, n, "st_qa");
    in.lst = opt_ptr(lst, n, "lst");
    mlri::Accumulators acc;
    acc.evi = acc_ptr<float>(acc_evi, n, "acc_evi");
    acc.lst = acc_ptr<float>(acc_lst, n, "acc_lst");
    acc.n_evi = acc_ptr<std::uint16_t>(n_evi, n, "n_evi");
    acc.n_lst = acc_ptr<std::uint16_t>(n_lst, n, "n_lst");
    acc.n_seen = acc_ptr<std::uint16_t>(n_seen, n, "n_seen");
    const mlri::QaRule rule =
        make_rule(bad_bits, conf_mask, conf_expect, radsat_bad, aerosol_max, opacity_max);
    mlri::ScaleParams sp;
    sp.b_mult = sr_scale[0];
    sp.b_add = sr_scale[1];
    sp.r_mult = sr_scale[2];
    sp.r_add = sr_scale[3];
    sp.n_mult = sr_scale[4];
    sp.n_add = sr_scale[5];
    sp.st_mult = st_scale[0];
    sp.st_add = st_scale[1];
    sp.sr_unit_range = sr_unit_range;
    sp.evi_clamp = evi_clamp;
    sp.st_qa_max = st_qa_max;
    mlri::SceneCounts c;
    {
        // Safe: every array was converted above (the optionals keep them alive); only raw
        // pointers are used below.
        py::gil_scoped_release release;
        c = mlri::composite_scene(in, rule, sp, pairing, acc, n, n_threads);
    }
    py::dict out;
    out["n_evi"] = c.n_evi;
    out["n_lst"] = c.n_lst;
    out["n_seen"] = c.n_seen;
    return out;
}

carray<std::uint8_t> qa_mask_impl(const carray<std::uint16_t>& qa,
                                  const opt_arr<std::uint16_t>& radsat, unsigned bad_bits,
                                  unsigned conf_mask, unsigned conf_expect, unsigned radsat_bad,
                                  int n_threads) {
    const index_t n = qa.size();
    const std::uint16_t* pr = opt_ptr(radsat, n, "radsat");
    const mlri::QaRule rule = make_rule(bad_bits, conf_mask, conf_expect, radsat_bad, 4, 1 << 30);
    std::vector<py::ssize_t> shape(qa.shape(), qa.shape() + qa.ndim());
    carray<std::uint8_t> out(shape);
    const std::uint16_t* pq = qa.data();
    std::uint8_t* po = out.mutable_data();
    {
        py::gil_scoped_release release;  // raw pointers only
        mlri::qa_mask(pq, pr, rule, po, n, n_threads);
    }
    return out;
}

void fmax_impl(const py::array& acc, const carray<float>& x, const opt_any& count,
               int n_threads) {
    const index_t n = x.size();
    float* pa = acc_ptr<float>(std::optional<py::array>(acc), n, "acc");
    std::uint16_t* pc = acc_ptr<std::uint16_t>(count, n, "count");
    const float* px = x.data();
    {
        py::gil_scoped_release release;  // raw pointers only
        mlri::fmax_accumulate(pa, px, pc, n, n_threads);
    }
}

carray<float> lst_rte_impl(const carray<std::int16_t>& trad, const carray<std::int16_t>& urad,
                           const carray<std::int16_t>& drad, const carray<std::int16_t>& atran,
                           const opt_arr<std::int16_t>& emis, const opt_arr<std::uint16_t>& red,
                           const opt_arr<std::uint16_t>& nir, const opt_arr<std::uint16_t>& qa,
                           double k1, double k2, std::vector<double> sr_scale, int emissivity,
                           int n_threads) {
    const index_t n = trad.size();
    check_size(urad, n, "urad");
    check_size(drad, n, "drad");
    check_size(atran, n, "atran");
    if (!(k1 > 0) || !(k2 > 0)) throw std::invalid_argument("K1 and K2 must be > 0");
    if (sr_scale.size() != 4)
        throw std::invalid_argument("sr_scale must be (red_mult, red_add, nir_mult, nir_add)");
    mlri::RteParams p;
    p.k1 = k1;
    p.k2 = k2;
    p.r_mult = sr_scale[0];
    p.r_add = sr_scale[1];
    p.n_mult = sr_scale[2];
    p.n_add = sr_scale[3];
    p.emissivity = emissivity;
    const std::int16_t* pe = opt_ptr(emis, n, "emis");
    const std::uint16_t* pr = opt_ptr(red, n, "red");
    const std::uint16_t* pn = opt_ptr(nir, n, "nir");
    const std::uint16_t* pq = opt_ptr(qa, n, "qa");
    if (emissivity == mlri::kEmisUsgs && !pe)
        throw std::invalid_argument("emissivity='usgs' needs the ST_EMIS layer (emis)");
    if (emissivity == mlri::kEmisSobrino2004 && !(pr && pn))
        throw std::invalid_argument("emissivity='sobrino2004' needs red and nir");
    if (emissivity != mlri::kEmisUsgs && emissivity != mlri::kEmisSobrino2004)
        throw std::invalid_argument("emissivity must be 0 (usgs) or 1 (sobrino2004)");
    std::vector<py::ssize_t> shape(trad.shape(), trad.shape() + trad.ndim());
    carray<float> out(shape);
    float* po = out.mutable_data();
    const std::int16_t *pt = trad.data(), *pu = urad.data(), *pd = drad.data(), *pa = atran.data();
    {
        py::gil_scoped_release release;  // raw pointers only
        mlri::lst_rte(pt, pu, pd, pa, pe, pr, pn, pq, p, po, n, n_threads);
    }
    return out;
}

}  // namespace

void register_landsat(py::module_& m) {
    m.def("landsat_composite_scene", &composite_scene_impl, py::kw_only(), "acc_evi"_a = py::none(),
          "acc_lst"_a = py::none(), "n_evi"_a = py::none(), "n_lst"_a = py::none(),
          "n_seen"_a = py::none(), "qa"_a = py::none(), "radsat"_a = py::none(),
          "aerosol"_a = py::none(), "opacity"_a = py::none(), "blue"_a = py::none(),
          "red"_a = py::none(), "nir"_a = py::none(), "st"_a = py::none(), "st_qa"_a = py::none(),
          "lst"_a = py::none(), "bad_bits"_a = 0x3Fu, "conf_mask"_a = 0u, "conf_expect"_a = 0u,
          "radsat_bad"_a = 0u, "aerosol_max"_a = 4, "opacity_max"_a = 1 << 30,
          "sr_scale"_a = std::vector<double>{2.75e-5, -0.2, 2.75e-5, -0.2, 2.75e-5, -0.2},
          "st_scale"_a = std::vector<double>{0.00341802, 149.0}, "sr_unit_range"_a = false,
          "evi_clamp"_a = 0, "st_qa_max"_a = -1, "pairing"_a = 0, "n_threads"_a = 0,
          "Mask, scale and max-accumulate one Landsat C2 L2 scene into a block (in place).");
    m.def("landsat_qa_mask", &qa_mask_impl, "qa"_a, py::kw_only(), "radsat"_a = py::none(),
          "bad_bits"_a = 0x3Fu, "conf_mask"_a = 0u, "conf_expect"_a = 0u, "radsat_bad"_a = 0u,
          "n_threads"_a = 0, "QA_PIXEL keep-mask (1 keep, 0 drop).");
    m.def("landsat_fmax_accumulate", &fmax_impl, "acc"_a, "x"_a, py::kw_only(),
          "count"_a = py::none(), "n_threads"_a = 0,
          "NaN-ignoring running max (in place) and count of finite observations.");
    m.def("landsat_lst_rte", &lst_rte_impl, "trad"_a, "urad"_a, "drad"_a, "atran"_a, py::kw_only(),
          "emis"_a = py::none(), "red"_a = py::none(), "nir"_a = py::none(), "qa"_a = py::none(),
          "k1"_a, "k2"_a,
          "sr_scale"_a = std::vector<double>{2.75e-5, -0.2, 2.75e-5, -0.2}, "emissivity"_a = 1,
          "n_threads"_a = 0, "LST (K) by RTE inversion from the C2 L2 ST intermediate layers.");
}
