// mlri — calibrated significance for MLRI trends: a per-pixel permutation test of the
// Mann–Kendall S of the MLRI series (issue 7, docs/significance.md).
//
// Why: MLRI divides the worst state so far (running max LST, running min EVI) by the current
// state, so on stationary land it drifts upward by construction and the paper's MK rule calls
// about half of all unchanging pixels "significant increase".  Under the null hypothesis that
// the years of a pixel are exchangeable (no trend in LST/EVI), every reordering of its
// (LST, EVI) pairs is equally likely; recomputing MLRI — running extrema included — for each
// reordering gives the null distribution of S *with the construction drift built in*.
//
// Per pixel:
//   1. compact the valid (LST, EVI) pairs in time order, with exactly the validity rules of
//      index.hpp (finite, LST + offset > 0, EVI > evi_min or clamped at evi_min);
//   2. S_obs = MK S of the MLRI of the observed order (MLRI rounded to T, as mlri_index
//      outputs it, so S_obs == trend(index(lst, evi)).s bit for bit);
//   3. for b = 1..B: shuffle the pairs (inside-out Fisher–Yates of the observed order, see
//      fy_digits), recompute MLRI and S_b;
//   4. p_inc = (1 + #{S_b >= S_obs}) / (B + 1),  p_dec = (1 + #{S_b <= S_obs}) / (B + 1).
// Missing years stay missing: only the valid pairs are permuted.  Because S depends only on
// the order of the valid values, this has exactly the null distribution of "permute all years
// and let the gaps move", at lower cost.
//
// Randomness: permutation b of a pixel draws from a SplitMix64 sub-stream keyed by
// (seed, global row, global column, b) (see fy_digits), so results do not depend on tiling,
// thread count, block width or scheduling.
//
// Layout: time-major (T, P) like the other kernels.  Permutations are evaluated W at a time
// across lanes (lanes innermost), so the MLRI recomputation and the O(n²) S loop vectorise.
#pragma once

#include "mlri/common.hpp"
#include "mlri/index.hpp"

namespace mlri {
inline namespace MLRI_KERNEL_NS {

namespace prng {

inline constexpr std::uint64_t kGamma = 0x9e3779b97f4a7c15ULL;

// SplitMix64 output function (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
inline std::uint64_t mix64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Key of the stream of the pixel at global (row, col) for a user seed.
inline std::uint64_t pixel_key(std::uint64_t seed, std::int64_t row, std::int64_t col) {
    std::uint64_t k = mix64(seed + kGamma);
    k = mix64(k ^ static_cast<std::uint64_t>(row));
    return mix64(k ^ static_cast<std::uint64_t>(col));
}

// Full 64 x 64 -> 128-bit product: returns the high word, stores the low word.
inline std::uint64_t mul128(std::uint64_t a, std::uint64_t b, std::uint64_t* lo) {
#if defined(__SIZEOF_INT128__)
    const unsigned __int128 x = static_cast<unsigned __int128>(a) * b;
    *lo = static_cast<std::uint64_t>(x);
    return static_cast<std::uint64_t>(x >> 64);
#else
    const std::uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    const std::uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const std::uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    *lo = (mid << 32) | (p00 & 0xffffffffu);
    return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
}

}  // namespace prng

struct PermutationOptions {
    IndexOptions index;     // MLRI validity rules (same as mlri_index)
    int n_permutations = 199;
    std::uint64_t seed = 0;
    int min_valid = 2;      // pixels with fewer valid years are skipped (NaN p)
};

struct PermutationOutputs {
    std::int32_t* n_valid = nullptr;
    double* s_obs = nullptr;        // MK S of the observed MLRI (NaN when n < 2)
    double* p_inc = nullptr;        // (1 + #{S_b >= S_obs}) / (B + 1)
    double* p_dec = nullptr;        // (1 + #{S_b <= S_obs}) / (B + 1)
    double* null_mean = nullptr;    // mean of S_b
    double* null_sd = nullptr;      // population standard deviation of S_b
};

namespace detail {

// MLRI of one arrangement (scalar; the same operations as mlri_index, rounded to T).
template <class T>
inline void mlri_series(const double* l, const double* e, int n, T* v) {
    double lmax = -kInf, emin = kInf;
    for (int k = 0; k < n; ++k) {
        lmax = l[k] > lmax ? l[k] : lmax;
        emin = e[k] < emin ? e[k] : emin;
        v[k] = static_cast<T>((lmax / l[k]) * (e[k] / emin));
    }
}

template <class T>
inline std::int64_t mk_s(const T* v, int n) {
    std::int64_t s = 0;
    for (int j = 1; j < n; ++j)
        for (int i = 0; i < j; ++i) s += static_cast<int>(v[j] > v[i]) - static_cast<int>(v[j] < v[i]);
    return s;
}

}  // namespace detail

// Per-thread scratch for a series of length Tn and W lanes.
template <int W, class T>
struct PermScratch {
    Buffer<double> l, e, lp, ep;
    Buffer<int> dig;
    Buffer<T> v, vp;
    void init(index_t Tn) {
        const std::size_t t = static_cast<std::size_t>(Tn > 0 ? Tn : 1);
        l.assign(t, 0.0);
        e.assign(t, 0.0);
        dig.assign(t * W, 0);
        lp.assign(t * W, 1.0);
        ep.assign(t * W, 1.0);
        v.assign(t, T(0));
        vp.assign(t * W, T(0));
    }
};

// Random permutations.  Permutation b of a pixel is the "inside-out" Fisher–Yates shuffle of
// the observed order: out[0] = x[0]; for i = 1..n-1: j = d[i]; out[i] = out[j]; out[j] = x[i],
// with digits d[i] uniform in [0, i].  The digits are drawn in batches (Brackett-Rozinsky &
// Lemire 2024, "Batched ranged random integer generation"): one 64-bit word r yields the
// mixed-radix digits of floor(r * N / 2^64), N = product of the bounds of the batch (< 2^64 - 1;
// all 18 digits of a 19-year series fit in one word), and the word is rejected — exactly as
// Lemire's method with range N — when the low 64 bits of r * N are below 2^64 mod N, so the
// digits are exactly uniform.  Batches run from the largest bound down (d[n-1] first).  The
// words of permutation b come from their own SplitMix64 sub-stream,
//     word c (c = 1, 2, ...) = mix64(sub + c * gamma),  sub = mix64(key + (b + 1) * gamma),
// so permutation b does not depend on how many permutations are made or in which order.
struct DigitBatches {
    int count = 0;
    Buffer<int> hi, lo;                 // batch a: digits hi[a] down to lo[a] + 1
    Buffer<std::uint64_t> N, thresh;    // product of the bounds; 2^64 mod N
    void init(int n) {
        const std::size_t cap = static_cast<std::size_t>(n > 1 ? n : 1);
        if (hi.size_ < cap) {
            hi.assign(cap, 0);
            lo.assign(cap, 0);
            N.assign(cap, 0);
            thresh.assign(cap, 0);
        }
        count = 0;
        int i = n - 1;
        while (i > 0) {
            std::uint64_t prod = 1;
            int k = i;
            while (k > 0 && prod <= ~std::uint64_t(0) / static_cast<std::uint64_t>(k + 1) &&
                   prod * static_cast<std::uint64_t>(k + 1) != ~std::uint64_t(0)) {
                prod *= static_cast<std::uint64_t>(k + 1);
                --k;
            }
            const std::size_t a = static_cast<std::size_t>(count);
            hi[a] = i;
            lo[a] = k;
            N[a] = prod;
            thresh[a] = (0 - N[a]) % N[a];
            ++count;
            i = k;
        }
    }
};

// Digits of permutations b0 .. b0+nl-1 into d[i * W + w] (lane w = permutation b0 + w).  The
// lanes' multiply chains are independent and interleaved for instruction-level parallelism;
// a rejected word (rare) is redrawn for its lane alone, from that lane's own sub-stream, so
// the digits of a permutation never depend on the other lanes.
template <int W>
inline void fy_digits(const DigitBatches& bt, std::uint64_t key, int b0, int nl, int* d) {
    std::uint64_t sub[W], c[W], left[W];
    for (int w = 0; w < W; ++w) {
        sub[w] = prng::mix64(key + static_cast<std::uint64_t>(b0 + w + 1) * prng::kGamma);
        c[w] = 0;
    }
    for (int a = 0; a < bt.count; ++a) {
        const int hi = bt.hi.data_[a], lo = bt.lo.data_[a];
        const std::uint64_t thresh = bt.thresh.data_[a];
        for (int w = 0; w < W; ++w) left[w] = prng::mix64(sub[w] + (++c[w]) * prng::kGamma);
        for (int m = hi; m > lo; --m) {
            const std::uint64_t bound = static_cast<std::uint64_t>(m) + 1;
            for (int w = 0; w < W; ++w) {
                std::uint64_t low;
                d[m * W + w] = static_cast<int>(prng::mul128(left[w], bound, &low));
                left[w] = low;
            }
        }
        for (int w = 0; w < nl; ++w) {
            while (left[w] < thresh) {  // rejected: redraw this lane's batch
                std::uint64_t r = prng::mix64(sub[w] + (++c[w]) * prng::kGamma);
                for (int m = hi; m > lo; --m) {
                    std::uint64_t low;
                    d[m * W + w] = static_cast<int>(prng::mul128(r, static_cast<std::uint64_t>(m) + 1, &low));
                    r = low;
                }
                left[w] = r;
            }
        }
    }
}

namespace detail {

// Replicate w of a batch in lane w (lane-major pa[i * W + w]): the inside-out Fisher–Yates
// shuffle of the pairs (a, b) by the digits dig[i * W + w] (see fy_digits), for lanes < nl.
// Lanes >= nl (the last batch only) keep stale but finite values; their S is ignored.
template <int W>
inline void shuffle_pairs(const int* __restrict dig, int n, int nl, const double* __restrict a,
                          const double* __restrict b, double* __restrict pa,
                          double* __restrict pb) {
    for (int w = 0; w < nl; ++w) {
        double* __restrict aw = pa + w;
        double* __restrict bw = pb + w;
        aw[0] = a[0];
        bw[0] = b[0];
        for (int i = 1; i < n; ++i) {
            const int j = dig[i * W + w];
            aw[i * W] = aw[j * W];
            bw[i * W] = bw[j * W];
            aw[j * W] = a[i];
            bw[j * W] = b[i];
        }
    }
}

// MK S of the W lanes of a batch (lane-major values vp[i * W + w], n per lane).
template <int W, class V>
inline void lanes_mk_s(const V* __restrict vp, int n, std::int32_t* s) {
    for (int w = 0; w < W; ++w) s[w] = 0;
    for (int j = 1; j < n; ++j) {
        const V* __restrict vj = vp + j * W;
        for (int i = 0; i < j; ++i) {
            const V* __restrict vi = vp + i * W;
            for (int w = 0; w < W; ++w)
                s[w] += static_cast<std::int32_t>(vj[w] > vi[w]) - static_cast<std::int32_t>(vj[w] < vi[w]);
        }
    }
}

// The null distribution of S over a pixel's B replicates, tallied batch by batch, and its
// outputs (p-values, mean and population standard deviation).
struct NullTally {
    std::int64_t ge = 0, le = 0;
    double sum = 0.0, sum2 = 0.0;
    void add(const std::int32_t* s, int nl, double s_obs) {
        for (int w = 0; w < nl; ++w) {
            const double sw = static_cast<double>(s[w]);
            ge += sw >= s_obs ? 1 : 0;
            le += sw <= s_obs ? 1 : 0;
            sum += sw;
            sum2 += sw * sw;
        }
    }
    template <class Out>
    void write(const Out& out, index_t q, int B) const {
        const double denom = static_cast<double>(B) + 1.0;
        if (out.p_inc) out.p_inc[q] = (1.0 + static_cast<double>(ge)) / denom;
        if (out.p_dec) out.p_dec[q] = (1.0 + static_cast<double>(le)) / denom;
        const double mean = sum / B;
        if (out.null_mean) out.null_mean[q] = mean;
        if (out.null_sd) {
            const double var = sum2 / B - mean * mean;
            out.null_sd[q] = std::sqrt(var > 0.0 ? var : 0.0);
        }
    }
};

// Outputs of a pixel without a test (too few years): the observed S where n >= 2, NaN for
// the rest.  l/e: its n compacted pairs; v: scratch for its MLRI.
template <class T, class Out>
inline void write_untested(const Out& out, index_t q, const double* l, const double* e, int n,
                           T* v) {
    if (out.s_obs) {
        mlri_series<T>(l, e, n, v);
        out.s_obs[q] = n < 2 ? kNaN : static_cast<double>(mk_s<T>(v, n));
    }
    double* const rest[] = {out.p_inc, out.p_dec, out.null_mean, out.null_sd};
    for (double* o : rest)
        if (o) o[q] = kNaN;
}

}  // namespace detail

// Per-thread state of a resampling test: its scratch and the digit batches, both sized for
// series of Tn values, allocated before the parallel region (std::bad_alloc must reach the
// caller, never leave an OpenMP region).
template <class Scratch>
struct ResamplingThread {
    Scratch sc;
    DigitBatches bt;
    int bt_n = -1;  // the series length bt is set up for
    // the digit batches for series of n values
    const DigitBatches& batches(int n) {
        if (n != bt_n) {
            bt.init(n);
            bt_n = n;
        }
        return bt;
    }
};
// Sizes the states of nt threads for series of up to Tn values (before the parallel region).
template <class Scratch>
void init_resampling_threads(Owned<ResamplingThread<Scratch>>& states, int nt, index_t Tn) {
    for (int t = 0; t < nt; ++t) {
        states[static_cast<std::size_t>(t)].sc.init(Tn);
        states[static_cast<std::size_t>(t)].bt.init(static_cast<int>(Tn));  // full capacity
    }
}

// One pixel.  l/e hold the n compacted valid pairs (LST with offset, EVI after the policy).
template <int W, class T>
void permutation_pixel(PermScratch<W, T>& sc, const DigitBatches& bt, int n, std::uint64_t key, int B,
                       const PermutationOutputs& out, index_t q) {
    const double* __restrict l = sc.l.data();
    const double* __restrict e = sc.e.data();
    T* v = sc.v.data();
    detail::mlri_series<T>(l, e, n, v);
    const std::int64_t s_obs = detail::mk_s<T>(v, n);

    double* __restrict lp = sc.lp.data();
    double* __restrict ep = sc.ep.data();
    int* __restrict dig = sc.dig.data();
    T* __restrict vp = sc.vp.data();
    for (int k = 0; k < n; ++k)
        for (int w = 0; w < W; ++w) {
            lp[k * W + w] = l[k];
            ep[k * W + w] = e[k];
        }
    detail::NullTally tally;
    for (int b0 = 0; b0 < B; b0 += W) {
        const int nl = (B - b0) < W ? (B - b0) : W;
        // Permutation b0 + w in lane w: Fisher–Yates from the observed order.
        fy_digits<W>(bt, key, b0, nl, dig);
        detail::shuffle_pairs<W>(dig, n, nl, l, e, lp, ep);
        // MLRI of every lane (vectorised over lanes; same operations as mlri_series).
        double lmax[W], emin[W];
        for (int w = 0; w < W; ++w) {
            lmax[w] = -kInf;
            emin[w] = kInf;
        }
        for (int k = 0; k < n; ++k) {
            const double* __restrict lk = lp + k * W;
            const double* __restrict ek = ep + k * W;
            T* __restrict vk = vp + k * W;
#if defined(MLRI_HAS_OPENMP)
#pragma omp simd
#endif
            for (int w = 0; w < W; ++w) {
                const double a = lk[w] > lmax[w] ? lk[w] : lmax[w];
                const double c = ek[w] < emin[w] ? ek[w] : emin[w];
                lmax[w] = a;
                emin[w] = c;
                vk[w] = static_cast<T>((a / lk[w]) * (ek[w] / c));
            }
        }
        std::int32_t s[W];
        detail::lanes_mk_s<W, T>(vp, n, s);
        tally.add(s, nl, static_cast<double>(s_obs));
    }
    if (out.s_obs) out.s_obs[q] = static_cast<double>(s_obs);
    tally.write(out, q, B);
}

// The permutation test for P pixels of a (Tn, P) time-major stack.  rows/cols give the global
// row and column of each pixel (the RNG key).
template <int W, class T>
void permutation_mk(const T* lst, const T* evi, index_t P, index_t Tn, const std::int64_t* rows,
                    const std::int64_t* cols, const PermutationOptions& opt,
                    const PermutationOutputs& out, int n_threads) {
    const int nt = resolve_threads(n_threads);
    const int B = opt.n_permutations;
    const IndexOptions io = opt.index;
    Owned<ResamplingThread<PermScratch<W, T>>> states(static_cast<std::size_t>(nt));
    init_resampling_threads(states, nt, Tn);
#if defined(MLRI_HAS_OPENMP)
#pragma omp parallel num_threads(nt)
#endif
    {
        ResamplingThread<PermScratch<W, T>>& st = states[thread_slot()];
        PermScratch<W, T>& sc = st.sc;
#if defined(MLRI_HAS_OPENMP)
#pragma omp for schedule(dynamic, 64)
#endif
        for (index_t q = 0; q < P; ++q) {
            // 1. compact the valid pairs (validity exactly as mlri_index).
            int n = 0;
            for (index_t t = 0; t < Tn; ++t) {
                double lv, ev;
                const bool ok = index_pair(io, static_cast<double>(lst[t * P + q]),
                                           static_cast<double>(evi[t * P + q]), lv, ev);
                if (ok) {
                    sc.l[static_cast<std::size_t>(n)] = lv;
                    sc.e[static_cast<std::size_t>(n)] = ev;
                    ++n;
                }
            }
            if (out.n_valid) out.n_valid[q] = n;
            if (n < 2 || n < opt.min_valid) {
                detail::write_untested(out, q, sc.l.data(), sc.e.data(), n, sc.v.data());
                continue;
            }
            const std::uint64_t key = prng::pixel_key(opt.seed, rows[q], cols[q]);
            permutation_pixel<W, T>(sc, st.batches(n), n, key, B, out, q);
        }
    }
}

}  // namespace MLRI_KERNEL_NS
}  // namespace mlri
