/* Optional float32 kernels for the numpy runtime: erfc (for exact GELU), depthwise
 * convolution and the Winograd F(2x2, 3x3) transforms of 3x3 convolutions; Keras LSTM/GRU
 * steps, softmax, layer norm and exact GELU further down.
 *
 * erfc(src, dst): elementwise over contiguous float32 buffers, computed in
 * double precision: erfc(z) = t * exp(-z*z + P(t)), t = 1 / (1 + z/2), z = |x|, with the
 * Chebyshev-fitted P of Press et al., Numerical Recipes (erfcc: fractional error below
 * 1.2e-7 everywhere, tails included), erfc(-z) = 2 - erfc(z). exp is evaluated inline (range
 * reduction to r in [-ln2/2, ln2/2] and a degree-11 Taylor polynomial), so the loop has no
 * calls and the compiler vectorises it.
 *
 * depthwise(xp, w, y, n, hp, wp, c, oh, ow, kh, kw, sh, sw, dh, dw): y[b, oy, ox, ch] =
 * sum over (i, j) of xp[b, oy*sh + i*dh, ox*sw + j*dw, ch] * w[i, j, ch], for a padded
 * NHWC input xp (n, hp, wp, c), a (kh, kw, c) filter and an (n, oh, ow, c) output, all
 * contiguous float32; the channel loop is the vectorised one.
 *
 * The numpy kernels (graph/ops/_special.py, graph/ops/nn.py) are the reference and the
 * fallback; tests compare both. The GIL is released while computing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

/* No contraction of a * b + c into one fused multiply-add unless written out (MADD below).
 * Left to the compiler, GCC fused differently in a loop's vector version and in the scalar
 * version it falls back to when buffers sit close together, so one call's results depended on
 * where numpy had put its buffers (seen as 1-ulp changes in layer norm between two calls). */
#if defined(__GNUC__) && !defined(__clang__)
/* no-trapping-math: selects between computed values (x < 0 ? ... : ...) may become blends. */
#pragma GCC optimize("no-trapping-math", "fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
/* MADD(a, b, c, fused): a * b + c (float; MADD_D: double), in one rounding when fused (a
 * constant: the loops built for CPUs with FMA instructions), else two. Each build of a loop
 * then gives one answer for given inputs, whatever their addresses; the FMA builds fuse where
 * the compiler used to on its own, so they lost no speed (GELU, softmax, recurrent steps). */
#define MADD(a, b, c, fused) ((fused) ? fmaf((a), (b), (c)) : (a) * (b) + (c))
#define MADD_D(a, b, c, fused) ((fused) ? fma((a), (b), (c)) : (a) * (b) + (c)) /* double */
#if defined(__FP_FAST_FMAF)
#define BASE_FUSED 1 /* the baseline build has FMA instructions too (e.g. AArch64) */
#else
#define BASE_FUSED 0
#endif
/* Each loop is compiled three times on x86-64 with GCC or clang (AVX-512, AVX2+FMA, baseline)
 * and the best one the CPU supports is picked at import, as _highwayhash.c does. FUSED tells
 * a loop's body whether its build has FMA instructions. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define MULTIVERSION 1
#define LOOP(name, args) \
    __attribute__((target("avx512f,fma"))) static void name##_avx512 args { \
        enum { FUSED = 1 }; name##_body } \
    __attribute__((target("avx2,fma"))) static void name##_avx2 args { \
        enum { FUSED = 1 }; name##_body } \
    static void name##_base args { enum { FUSED = BASE_FUSED }; name##_body }
#else
#define LOOP(name, args) static void name##_base args { enum { FUSED = BASE_FUSED }; name##_body }
#endif

#if defined(__GNUC__) || defined(__clang__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

INLINE double exp_neg(double a, int fused) {
    /* e^a for a <= ~1 (results below 2^-1000 are flushed: they are 0 in float32 anyway). */
    if (a < -700.0) a = -700.0;
    const double log2e = 1.4426950408889634, ln2_hi = 0.6931471803691238,
                 ln2_lo = 1.9082149292705877e-10, shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    double k = MADD_D(a, log2e, shifter, fused); /* the low bits of k hold round(a * log2(e)) */
    double n = k - shifter;
    double r = MADD_D(-n, ln2_lo, MADD_D(-n, ln2_hi, a, fused), fused);
    double p = 1.0 / 39916800.0;
    p = MADD_D(p, r, 1.0 / 3628800.0, fused);
    p = MADD_D(p, r, 1.0 / 362880.0, fused);
    p = MADD_D(p, r, 1.0 / 40320.0, fused);
    p = MADD_D(p, r, 1.0 / 5040.0, fused);
    p = MADD_D(p, r, 1.0 / 720.0, fused);
    p = MADD_D(p, r, 1.0 / 120.0, fused);
    p = MADD_D(p, r, 1.0 / 24.0, fused);
    p = MADD_D(p, r, 1.0 / 6.0, fused);
    p = MADD_D(p, r, 0.5, fused);
    p = MADD_D(p, r, 1.0, fused);
    p = MADD_D(p, r, 1.0, fused);
    int64_t kbits;
    memcpy(&kbits, &k, sizeof kbits);
    int64_t bits = (kbits + 1023) << 52; /* 2^n: the shifter's own bits shift out */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Always inlined (as every helper the loops call), so each build of a loop gets its own copy
 * with FUSED known: no calls left in the loop, which the compiler then vectorises. */
/* P(t) of the erfcc fit above, by Horner's rule in type T with madd (MADD or MADD_D). */
#define ERFCC_P(T, madd, t, fused)                                                            \
    madd(madd(madd(madd(madd(madd(madd(madd(madd((T)0.17087277, t, (T)-0.82215223, fused), t,  \
    (T)1.48851587, fused), t, (T)-1.13520398, fused), t, (T)0.27886807, fused), t,             \
    (T)-0.18628806, fused), t, (T)0.09678418, fused), t, (T)0.37409196, fused), t,             \
    (T)1.00002368, fused), t, (T)-1.26551223, fused)

INLINE double erfc_pos(double z, int fused) {
    double t = 1.0 / MADD_D(0.5, z, 1.0, fused);
    double p = ERFCC_P(double, MADD_D, t, fused);
    return t * exp_neg(MADD_D(-z, z, p, fused), fused);
}

#define erfc_loop_body \
    for (Py_ssize_t i = 0; i < n; i++) { \
        double x = src[i]; \
        double e = erfc_pos(x < 0 ? -x : x, FUSED); \
        dst[i] = (float)(x < 0 ? 2.0 - e : e); \
    }
LOOP(erfc_loop, (const float *src, float *dst, Py_ssize_t n))

typedef void (*unary_fn)(const float *, float *, Py_ssize_t);
static unary_fn erfc_impl = erfc_loop_base;

static int check_pair(Py_buffer *a, Py_buffer *b) {
    if (a->itemsize != 4 || b->itemsize != 4 || a->len != b->len) {
        PyErr_SetString(PyExc_ValueError, "expected two float32 buffers of the same size");
        return -1;
    }
    return 0;
}

static PyObject *elementwise(PyObject *args, void (*loop)(const float *, float *, Py_ssize_t)) {
    Py_buffer src, dst;
    if (!PyArg_ParseTuple(args, "y*w*", &src, &dst)) return NULL;
    if (check_pair(&src, &dst) < 0) {
        PyBuffer_Release(&src);
        PyBuffer_Release(&dst);
        return NULL;
    }
    Py_ssize_t n = src.len / 4;
    Py_BEGIN_ALLOW_THREADS
    loop((const float *)src.buf, (float *)dst.buf, n);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    Py_RETURN_NONE;
}

static PyObject *py_erfc(PyObject *self, PyObject *args) { return elementwise(args, erfc_impl); }

#define depthwise_loop_body \
    for (Py_ssize_t b = 0; b < n; b++) \
        for (Py_ssize_t oy = 0; oy < oh; oy++) \
            for (Py_ssize_t ox = 0; ox < ow; ox++) { \
                float *out = y + ((b * oh + oy) * ow + ox) * c; \
                for (Py_ssize_t ch = 0; ch < c; ch++) out[ch] = 0.0f; \
                for (Py_ssize_t i = 0; i < kh; i++) { \
                    const float *row = xp + ((b * hp + oy * sh + i * dh) * wp + ox * sw) * c; \
                    for (Py_ssize_t j = 0; j < kw; j++) { \
                        const float *src = row + j * dw * c; \
                        const float *wt = w + (i * kw + j) * c; \
                        for (Py_ssize_t ch = 0; ch < c; ch++) out[ch] += src[ch] * wt[ch]; \
                    } \
                } \
            }
LOOP(depthwise_loop, (const float *xp, const float *w, float *y, Py_ssize_t n, Py_ssize_t hp,
                      Py_ssize_t wp, Py_ssize_t c, Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t kh,
                      Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw))

typedef void (*depthwise_fn)(const float *, const float *, float *, Py_ssize_t, Py_ssize_t,
                             Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                             Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t);
static depthwise_fn depthwise_impl = depthwise_loop_base;
static const char *simd_name = "baseline";

static PyObject *py_depthwise(PyObject *self, PyObject *args) {
    Py_buffer xp, w, y;
    Py_ssize_t n, hp, wp, c, oh, ow, kh, kw, sh, sw, dh, dw;
    if (!PyArg_ParseTuple(args, "y*y*w*nnnnnnnnnnnn", &xp, &w, &y, &n, &hp, &wp, &c, &oh, &ow,
                          &kh, &kw, &sh, &sw, &dh, &dw))
        return NULL;
    int ok = xp.itemsize == 4 && w.itemsize == 4 && y.itemsize == 4 && n >= 0 && c >= 0 &&
             oh >= 0 && ow >= 0 && kh > 0 && kw > 0 && sh > 0 && sw > 0 && dh > 0 && dw > 0;
    /* every read stays inside xp and every write inside y */
    ok = ok && xp.len / 4 == n * hp * wp * c && w.len / 4 == kh * kw * c &&
         y.len / 4 == n * oh * ow * c &&
         (oh == 0 || (oh - 1) * sh + (kh - 1) * dh < hp) &&
         (ow == 0 || (ow - 1) * sw + (kw - 1) * dw < wp);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "depthwise: buffers do not match the geometry");
    } else {
        Py_BEGIN_ALLOW_THREADS
        depthwise_impl((const float *)xp.buf, (const float *)w.buf, (float *)y.buf, n, hp, wp, c,
                       oh, ow, kh, kw, sh, sw, dh, dw);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&xp);
    PyBuffer_Release(&w);
    PyBuffer_Release(&y);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/* ---- recurrent layers, softmax, layer norm, GELU ------------------------------------------
 *
 * float32 exp, sigmoid and tanh inline, so the loops vectorise: exp(x) = 2^n * p(r) with
 * n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2] (ln 2 split in two so n ln2_hi is
 * exact) and p the degree-7 Taylor polynomial (truncation below 6e-9 relative); 0 below
 * -87.33 (where float32 results would be subnormal), inf above 88.72. tanh(x) = (1 - e) /
 * (1 + e), e = exp(-2|x|), for |x| >= 0.625, and below that x + x^3 Q(x^2) with Q a degree-4
 * least-squares fit of (tanh(x)/x - 1)/x^2 on [0, 0.625] (relative error below 1e-7).
 */

INLINE float exp_f(float x, int fused) {
    float a = x < -87.33f ? -87.33f : (x > 88.72f ? 88.72f : x);
    const float log2e = 1.44269504f, ln2_hi = 0.693145751953125f,
                ln2_lo = 1.4286068203094172e-6f, shifter = 12582912.0f; /* 1.5 * 2^23 */
    float k = MADD(a, log2e, shifter, fused); /* the low bits of k hold round(a / ln 2) */
    float n = k - shifter;
    float r = MADD(-n, ln2_lo, MADD(-n, ln2_hi, a, fused), fused);
    float p = 1.0f / 5040.0f;
    p = MADD(p, r, 1.0f / 720.0f, fused);
    p = MADD(p, r, 1.0f / 120.0f, fused);
    p = MADD(p, r, 1.0f / 24.0f, fused);
    p = MADD(p, r, 1.0f / 6.0f, fused);
    p = MADD(p, r, 0.5f, fused);
    p = MADD(p, r, 1.0f, fused);
    p = MADD(p, r, 1.0f, fused);
    uint32_t kbits;
    memcpy(&kbits, &k, sizeof kbits);
    uint32_t bits = (kbits + 127u) << 23; /* 2^n: the shifter's own bits shift out */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = p * scale;
    e = x < -87.33f ? 0.0f : e;
    return x > 88.72f ? (float)HUGE_VAL : e;
}

INLINE float sigmoid_f(float x, int fused) { return 1.0f / (1.0f + exp_f(-x, fused)); }

INLINE float tanh_f(float x, int fused) {
    float a = x < 0 ? -x : x;
    float e = exp_f(-2.0f * a, fused);
    float big = (1.0f - e) / (1.0f + e);
    float s = a * a;
    float q = -0.006154268980026245f;
    q = MADD(q, s, 0.0210449006408453f, fused);
    q = MADD(q, s, -0.05386369675397873f, fused);
    q = MADD(q, s, 0.1333288848400116f, fused);
    q = MADD(q, s, -0.3333333134651184f, fused);
    float r = a < 0.625f ? MADD(a * s, q, a, fused) : big;
    return x < 0 ? -r : r;
}

/* z[b, :] = init[b * init_stride :][: n] + h[b, :] @ u for b < batch (h: batch x k, u: k x n,
 * z: batch x n): rows in fours and columns in sixties-four, the accumulators in registers, so
 * each u row read serves four rows of h. Sizes this small (a recurrent step) would spend most
 * of BLAS's time packing u. */
#define GEMM_BLOCK(R)                                                                         \
    {                                                                                         \
        float acc[R][64];                                                                     \
        for (int r = 0; r < R; r++)                                                           \
            for (int j = 0; j < 64; j++) acc[r][j] = init[(b0 + r) * init_stride + j0 + j];   \
        for (Py_ssize_t kk = 0; kk < k; kk++) {                                               \
            const float *ur = u + kk * n + j0;                                                \
            for (int r = 0; r < R; r++) {                                                     \
                float hv = h[(b0 + r) * k + kk];                                              \
                for (int j = 0; j < 64; j++) acc[r][j] = MADD(hv, ur[j], acc[r][j], fused); \
            }                                                                                 \
        }                                                                                     \
        for (int r = 0; r < R; r++)                                                           \
            for (int j = 0; j < 64; j++) z[(b0 + r) * n + j0 + j] = acc[r][j];                \
    }

INLINE void rec_gemm(const float *h, const float *u, const float *init, Py_ssize_t init_stride,
                     float *z, Py_ssize_t batch, Py_ssize_t k, Py_ssize_t n, int fused) {
    Py_ssize_t wide = n - n % 64;
    Py_ssize_t b0 = 0;
    for (; b0 + 4 <= batch; b0 += 4)
        for (Py_ssize_t j0 = 0; j0 < wide; j0 += 64) GEMM_BLOCK(4)
    for (; b0 < batch; b0++)
        for (Py_ssize_t j0 = 0; j0 < wide; j0 += 64) GEMM_BLOCK(1)
    for (Py_ssize_t b = 0; b < batch; b++) { /* the last n % 64 columns */
        float *zb = z + b * n;
        for (Py_ssize_t j = wide; j < n; j++) zb[j] = init[b * init_stride + j];
        for (Py_ssize_t kk = 0; kk < k; kk++) {
            float hv = h[b * k + kk];
            const float *ur = u + kk * n;
            for (Py_ssize_t j = wide; j < n; j++) zb[j] = MADD(hv, ur[j], zb[j], fused);
        }
    }
}

/* Keras LSTM steps (gates i, f, c, o) for batch rows b0 <= b < b1 (rows are independent, so
 * threads can take a share each): z = xw[t] + h @ u; c = f c + i tanh(g); seq[t] = h =
 * o tanh(c). h0: the state before step 0; c updated in place; z: scratch, batch x 4 units. */
INLINE void lstm_core(const float *xw, const float *u, const float *h0, float *c, float *seq,
                      float *z, Py_ssize_t steps, Py_ssize_t batch, Py_ssize_t units,
                      Py_ssize_t b0, Py_ssize_t b1, int fused) {
    Py_ssize_t n = 4 * units;
    for (Py_ssize_t t = 0; t < steps; t++) {
        const float *h = t == 0 ? h0 : seq + (t - 1) * batch * units;
        rec_gemm(h + b0 * units, u, xw + (t * batch + b0) * n, n, z + b0 * n, b1 - b0, units, n,
                 fused);
        for (Py_ssize_t b = b0; b < b1; b++) {
            const float *zb = z + b * n;
            float *cb = c + b * units, *hb = seq + (t * batch + b) * units;
            for (Py_ssize_t j = 0; j < units; j++) {
                float i = sigmoid_f(zb[j], fused), f = sigmoid_f(zb[units + j], fused);
                float g = tanh_f(zb[2 * units + j], fused), o = sigmoid_f(zb[3 * units + j], fused);
                float cn = MADD(g, i, cb[j] * f, fused);
                cb[j] = cn;
                hb[j] = tanh_f(cn, fused) * o;
            }
        }
    }
}
#define lstm_loop_body lstm_core(xw, u, h0, c, seq, z, steps, batch, units, b0, b1, FUSED);
LOOP(lstm_loop, (const float *xw, const float *u, const float *h0, float *c, float *seq, float *z,
                 Py_ssize_t steps, Py_ssize_t batch, Py_ssize_t units, Py_ssize_t b0,
                 Py_ssize_t b1))

/* Keras GRU steps, reset_after (gates z, r, h), batch rows b0 <= b < b1: hu = bh + h @ u;
 * z, r = sigmoid(xw + hu); h~ = tanh(xw_h + r hu_h); seq[t] = h = h~ + z (h - h~).
 * hu: scratch, batch x 3 units. */
INLINE void gru_core(const float *xw, const float *u, const float *bh, const float *h0, float *seq,
                     float *hu, Py_ssize_t steps, Py_ssize_t batch, Py_ssize_t units,
                     Py_ssize_t b0, Py_ssize_t b1, int fused) {
    Py_ssize_t n = 3 * units;
    for (Py_ssize_t t = 0; t < steps; t++) {
        const float *h = t == 0 ? h0 : seq + (t - 1) * batch * units;
        rec_gemm(h + b0 * units, u, bh, 0, hu + b0 * n, b1 - b0, units, n, fused);
        for (Py_ssize_t b = b0; b < b1; b++) {
            const float *x = xw + (t * batch + b) * n, *hb = hu + b * n, *prev = h + b * units;
            float *out = seq + (t * batch + b) * units;
            for (Py_ssize_t j = 0; j < units; j++) {
                float zg = sigmoid_f(hb[j] + x[j], fused);
                float r = sigmoid_f(hb[units + j] + x[units + j], fused);
                float cand = tanh_f(MADD(r, hb[2 * units + j], x[2 * units + j], fused), fused);
                out[j] = MADD(prev[j] - cand, zg, cand, fused);
            }
        }
    }
}
#define gru_loop_body gru_core(xw, u, bh, h0, seq, hu, steps, batch, units, b0, b1, FUSED);
LOOP(gru_loop, (const float *xw, const float *u, const float *bh, const float *h0, float *seq,
                float *hu, Py_ssize_t steps, Py_ssize_t batch, Py_ssize_t units, Py_ssize_t b0,
                Py_ssize_t b1))

/* Softmax over rows of n: exp(x - max) / sum. Maxima and sums in 16 lanes (vectorised without
 * reassociating the compiler's own way). */
INLINE void softmax_core(const float *src, float *dst, Py_ssize_t rows, Py_ssize_t n, int fused) {
    for (Py_ssize_t row = 0; row < rows; row++) {
        const float *x = src + row * n;
        float *y = dst + row * n;
        float part[16];
        for (int l = 0; l < 16; l++) part[l] = -(float)HUGE_VAL;
        Py_ssize_t j = 0;
        for (; j + 16 <= n; j += 16)
            for (int l = 0; l < 16; l++) part[l] = part[l] > x[j + l] ? part[l] : x[j + l];
        float m = -(float)HUGE_VAL;
        for (int l = 0; l < 16; l++) m = m > part[l] ? m : part[l];
        for (; j < n; j++) m = m > x[j] ? m : x[j];
        for (int l = 0; l < 16; l++) part[l] = 0.0f;
        for (j = 0; j + 16 <= n; j += 16)
            for (int l = 0; l < 16; l++) {
                float e = exp_f(x[j + l] - m, fused);
                y[j + l] = e;
                part[l] += e;
            }
        float s = 0.0f;
        for (; j < n; j++) {
            y[j] = exp_f(x[j] - m, fused);
            s += y[j];
        }
        for (int l = 0; l < 16; l++) s += part[l];
        float inv = 1.0f / s;
        for (j = 0; j < n; j++) y[j] *= inv;
    }
}
#define softmax_loop_body softmax_core(src, dst, rows, n, FUSED);
LOOP(softmax_loop, (const float *src, float *dst, Py_ssize_t rows, Py_ssize_t n))

/* Layer norm over rows of n: (x - mean) / sqrt(var + eps) * scale + offset, sums in double. */
INLINE void layer_norm_core(const float *src, const float *scale, const float *offset, float *dst,
                            Py_ssize_t rows, Py_ssize_t n, float eps) {
    for (Py_ssize_t row = 0; row < rows; row++) {
        const float *x = src + row * n;
        float *y = dst + row * n;
        double part[8] = {0};
        Py_ssize_t j = 0;
        for (; j + 8 <= n; j += 8)
            for (int l = 0; l < 8; l++) part[l] += x[j + l];
        double s = 0.0;
        for (; j < n; j++) s += x[j];
        for (int l = 0; l < 8; l++) s += part[l];
        float mean = (float)(s / (double)n);
        for (int l = 0; l < 8; l++) part[l] = 0.0;
        for (j = 0; j + 8 <= n; j += 8)
            for (int l = 0; l < 8; l++) {
                float d = x[j + l] - mean;
                y[j + l] = d;
                part[l] += (double)d * d;
            }
        s = 0.0;
        for (; j < n; j++) {
            y[j] = x[j] - mean;
            s += (double)y[j] * y[j];
        }
        for (int l = 0; l < 8; l++) s += part[l];
        float rs = 1.0f / sqrtf((float)(s / (double)n) + eps);
        for (j = 0; j < n; j++) y[j] = y[j] * rs * scale[j] + offset[j];
    }
}
#define layer_norm_loop_body layer_norm_core(src, scale, offset, dst, rows, n, eps);
LOOP(layer_norm_loop, (const float *src, const float *scale, const float *offset, float *dst,
                       Py_ssize_t rows, Py_ssize_t n, float eps))

/* Exact GELU in float32: 0.5 x erfc(z), z = -x / sqrt 2 rounded to float32 as TensorFlow's
 * graph rounds it, erfc(|z|) = t exp(-z^2 + P(t)) with erfc_pos's fit, erfc(-|z|) = 2 - that.
 * Twice as fast as the double loop it replaced (128x3072 values: 380 vs 786 us). Relative error
 * below 1e-6 from x = -4 up and 1e-5 below (-z^2 rounded to float32), absolute below 1e-35 once
 * |GELU(x)| < 1e-30 (exp_f flushes results under 2^-126 to 0): tests/graph/
 * test_gelu_accuracy.py sweeps float32 inputs against math.erfc in every build. */
INLINE float gelu_f(float x, int fused) {
    float z = x * -0.70710678f;
    float a = z < 0 ? -z : z;
    float t = 1.0f / MADD(0.5f, a, 1.0f, fused);
    float p = ERFCC_P(float, MADD, t, fused);
    float e = t * exp_f(MADD(-a, a, p, fused), fused);
    return 0.5f * x * (z < 0 ? 2.0f - e : e);
}
#define gelu_loop_body \
    for (Py_ssize_t i = 0; i < n; i++) dst[i] = gelu_f(src[i], FUSED);
LOOP(gelu_loop, (const float *src, float *dst, Py_ssize_t n))

typedef void (*lstm_fn)(const float *, const float *, const float *, float *, float *, float *,
                        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t);
typedef void (*gru_fn)(const float *, const float *, const float *, const float *, float *,
                       float *, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t);
typedef void (*rows_fn)(const float *, float *, Py_ssize_t, Py_ssize_t);
typedef void (*norm_fn)(const float *, const float *, const float *, float *, Py_ssize_t,
                        Py_ssize_t, float);
static lstm_fn lstm_impl = lstm_loop_base;
static gru_fn gru_impl = gru_loop_base;
static rows_fn softmax_impl = softmax_loop_base;
static norm_fn layer_norm_impl = layer_norm_loop_base;
static unary_fn gelu_impl = gelu_loop_base;

/* Whether each buffer holds float32 values and exactly the given number of them. */
static int sized(Py_buffer *bufs, const Py_ssize_t *counts, int k, const char *what) {
    for (int i = 0; i < k; i++) {
        if (bufs[i].itemsize != 4 || counts[i] < 0 || bufs[i].len != counts[i] * 4) {
            PyErr_Format(PyExc_ValueError, "%s: buffer %d does not match the sizes given", what, i);
            return 0;
        }
    }
    return 1;
}

static void release(Py_buffer *bufs, int k) {
    for (int i = 0; i < k; i++) PyBuffer_Release(&bufs[i]);
}

static PyObject *py_recurrent(PyObject *args, int lstm) {
    Py_buffer b[6];
    Py_ssize_t steps, batch, units, b0, b1;
    if (!PyArg_ParseTuple(args, lstm ? "y*y*y*w*w*w*nnnnn" : "y*y*y*y*w*w*nnnnn", &b[0], &b[1],
                          &b[2], &b[3], &b[4], &b[5], &steps, &batch, &units, &b0, &b1))
        return NULL;
    Py_ssize_t g = lstm ? 4 : 3;
    int ok = steps >= 0 && batch >= 0 && units >= 0 && units <= PY_SSIZE_T_MAX / 4 / 4 &&
             0 <= b0 && b0 <= b1 && b1 <= batch &&
             (batch == 0 || units == 0 || steps <= PY_SSIZE_T_MAX / 4 / batch / units / g);
    if (ok) {
        Py_ssize_t bu = batch * units;
        /* LSTM: xw, u, h0, c, seq, z; GRU: xw, u, bh, h0, seq, hu */
        Py_ssize_t lstm_n[6] = {steps * bu * 4, units * units * 4, bu, bu, steps * bu, bu * 4};
        Py_ssize_t gru_n[6] = {steps * bu * 3, units * units * 3, units * 3, bu, steps * bu, bu * 3};
        ok = sized(b, lstm ? lstm_n : gru_n, 6, lstm ? "lstm_steps" : "gru_steps");
    } else {
        PyErr_SetString(PyExc_ValueError, "recurrent steps: bad sizes");
    }
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        if (lstm)
            lstm_impl((const float *)b[0].buf, (const float *)b[1].buf, (const float *)b[2].buf,
                      (float *)b[3].buf, (float *)b[4].buf, (float *)b[5].buf, steps, batch, units,
                      b0, b1);
        else
            gru_impl((const float *)b[0].buf, (const float *)b[1].buf, (const float *)b[2].buf,
                     (const float *)b[3].buf, (float *)b[4].buf, (float *)b[5].buf, steps, batch,
                     units, b0, b1);
        Py_END_ALLOW_THREADS
    }
    release(b, 6);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_lstm_steps(PyObject *self, PyObject *args) { return py_recurrent(args, 1); }
static PyObject *py_gru_steps(PyObject *self, PyObject *args) { return py_recurrent(args, 0); }

static PyObject *py_softmax(PyObject *self, PyObject *args) {
    Py_buffer b[2];
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*w*n", &b[0], &b[1], &n)) return NULL;
    Py_ssize_t rows = n > 0 ? b[0].len / 4 / n : 0;
    Py_ssize_t counts[2] = {rows * n, rows * n};
    int ok = n > 0 && sized(b, counts, 2, "softmax");
    if (n <= 0) PyErr_SetString(PyExc_ValueError, "softmax: rows must not be empty");
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        softmax_impl((const float *)b[0].buf, (float *)b[1].buf, rows, n);
        Py_END_ALLOW_THREADS
    }
    release(b, 2);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_layer_norm(PyObject *self, PyObject *args) {
    Py_buffer b[4];
    Py_ssize_t n;
    float eps;
    if (!PyArg_ParseTuple(args, "y*y*y*w*nf", &b[0], &b[1], &b[2], &b[3], &n, &eps)) return NULL;
    Py_ssize_t rows = n > 0 ? b[0].len / 4 / n : 0;
    Py_ssize_t counts[4] = {rows * n, n, n, rows * n};
    int ok = n > 0 && sized(b, counts, 4, "layer_norm");
    if (n <= 0) PyErr_SetString(PyExc_ValueError, "layer_norm: rows must not be empty");
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        layer_norm_impl((const float *)b[0].buf, (const float *)b[1].buf, (const float *)b[2].buf,
                        (float *)b[3].buf, rows, n, eps);
        Py_END_ALLOW_THREADS
    }
    release(b, 4);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_gelu(PyObject *self, PyObject *args) { return elementwise(args, gelu_impl); }

/* epilogue(y, scale, bias, residual, rows, cols, y0, ys, r0, rs, act): what nn.py's
 * _Epilogue does to a convolution's or matmul's output, in one pass over its rows while each is
 * in cache. Row i of the block is the cols values at y[y0 + i*ys] (a column block of a wider
 * output when ys > cols); y *= scale, y += bias (per column), y += the residual row at
 * residual[r0 + i*rs], then the activation: 0 none, 1 Relu, 2 Relu6, 3 exact GELU. An empty
 * buffer means "absent". Each step is its own loop over the row, in _Epilogue's order, so the
 * results are bit-identical to its numpy calls (no contraction into FMAs). */
#define epilogue_loop_body \
    for (Py_ssize_t r = 0; r < rows; r++) { \
        float *yr = y + r * ys; \
        if (scale) for (Py_ssize_t j = 0; j < cols; j++) yr[j] *= scale[j]; \
        if (bias) for (Py_ssize_t j = 0; j < cols; j++) yr[j] += bias[j]; \
        if (res) { \
            const float *rr = res + r * rs; \
            for (Py_ssize_t j = 0; j < cols; j++) yr[j] += rr[j]; \
        } \
        if (act == 1) { \
            for (Py_ssize_t j = 0; j < cols; j++) yr[j] = yr[j] < 0.0f ? 0.0f : yr[j]; \
        } else if (act == 2) { \
            for (Py_ssize_t j = 0; j < cols; j++) { \
                float v = yr[j]; \
                yr[j] = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v); \
            } \
        } else if (act == 3) { \
            gelu(yr, yr, cols); \
        } \
    }
LOOP(epilogue_loop, (float *y, const float *scale, const float *bias, const float *res,
                     Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ys, Py_ssize_t rs, int act,
                     unary_fn gelu))
typedef void (*epilogue_fn)(float *, const float *, const float *, const float *, Py_ssize_t,
                            Py_ssize_t, Py_ssize_t, Py_ssize_t, int, unary_fn);
static epilogue_fn epilogue_impl = epilogue_loop_base;

/* Whether rows of cols values at start + i*stride (i < rows) lie inside n values. */
static int rows_inside(Py_ssize_t n, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t start,
                       Py_ssize_t stride) {
    if (rows == 0) return start >= 0;
    return start >= 0 && stride >= cols && start <= n - cols &&
           (rows - 1) <= (n - cols - start) / stride;
}

static PyObject *py_epilogue(PyObject *self, PyObject *args) {
    Py_buffer b[4]; /* y, scale, bias, residual */
    Py_ssize_t rows, cols, y0, ys, r0, rs;
    int act;
    if (!PyArg_ParseTuple(args, "w*y*y*y*nnnnnni", &b[0], &b[1], &b[2], &b[3], &rows, &cols,
                          &y0, &ys, &r0, &rs, &act))
        return NULL;
    int ok = rows >= 0 && cols > 0 && act >= 0 && act <= 3;
    for (int i = 0; ok && i < 4; i++) ok = b[i].itemsize == 4;
    ok = ok && rows_inside(b[0].len / 4, rows, cols, y0, ys) &&
         (b[1].len == 0 || b[1].len == cols * 4) && (b[2].len == 0 || b[2].len == cols * 4) &&
         (b[3].len == 0 || rows_inside(b[3].len / 4, rows, cols, r0, rs));
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "epilogue: buffers do not match the sizes given");
    } else {
        Py_BEGIN_ALLOW_THREADS
        epilogue_impl((float *)b[0].buf + y0, b[1].len ? (const float *)b[1].buf : NULL,
                      b[2].len ? (const float *)b[2].buf : NULL,
                      b[3].len ? (const float *)b[3].buf + r0 : NULL, rows, cols, ys, rs, act,
                      gelu_impl);
        Py_END_ALLOW_THREADS
    }
    release(b, 4);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/* Winograd F(2x2, 3x3) transforms (graph/ops/_winograd.py has the maths and the numpy
 * reference), float32, channels innermost:
 *
 * wino_input(x, v, h, w, c, row0, col0, tr, tw, first, ntiles): for each tile (ty, tx) of
 * tr x tw, the 4x4 window d = x[row0 + 2ty : +4, col0 + 2tx : +4, :] of an (h, w, c) image,
 * zero outside it (the convolution's padding: row0 and col0 may be negative), goes to
 * v[4*xi + nu, first + ty*tw + tx, :] = (Bt d B)[xi, nu], v being (16, ntiles, c).
 *
 * wino_output(m, y, tr, tw, co, oh, ow, first, ntiles): y[2ty + r, 2tx + s, :] =
 * (At M A)[r, s] with M[k] = m[k, first + ty*tw + tx, :] (m: (16, ntiles, co)), for the
 * pixels inside the (oh, ow, co) output y. */
/* Channels go in blocks of WINO_LANES through small local arrays, so that every loop over
 * lanes has one store stream (the compiler vectorises those without alias checks). */
#define WINO_LANES 16
#define wino_input_loop_body \
    Py_ssize_t st = ntiles * c; \
    for (Py_ssize_t ty = 0; ty < tr; ty++) \
        for (Py_ssize_t tx = 0; tx < tw; tx++) { \
            const float *p[4][4]; /* the window's pixels, or zeros where it leaves the image */ \
            for (int i = 0; i < 4; i++) { \
                Py_ssize_t r = row0 + 2 * ty + i; \
                for (int j = 0; j < 4; j++) { \
                    Py_ssize_t q = col0 + 2 * tx + j; \
                    p[i][j] = r >= 0 && r < h && q >= 0 && q < w ? x + (r * w + q) * c : zeros; \
                } \
            } \
            float *out = v + (first + ty * tw + tx) * c; \
            for (Py_ssize_t c0 = 0; c0 < c; c0 += WINO_LANES) { \
                Py_ssize_t nl = c - c0 < WINO_LANES ? c - c0 : WINO_LANES; \
                float t[4][4][WINO_LANES]; \
                for (int j = 0; j < 4; j++) { \
                    const float *r0 = p[0][j] + c0, *r1 = p[1][j] + c0, *r2 = p[2][j] + c0, \
                                *r3 = p[3][j] + c0; \
                    for (Py_ssize_t l = 0; l < nl; l++) { \
                        t[0][j][l] = r0[l] - r2[l]; \
                        t[1][j][l] = r1[l] + r2[l]; \
                        t[2][j][l] = r2[l] - r1[l]; \
                        t[3][j][l] = r1[l] - r3[l]; \
                    } \
                } \
                for (int xi = 0; xi < 4; xi++) { \
                    float *o0 = out + 4 * xi * st + c0, *o1 = o0 + st, *o2 = o1 + st, \
                          *o3 = o2 + st; \
                    for (Py_ssize_t l = 0; l < nl; l++) o0[l] = t[xi][0][l] - t[xi][2][l]; \
                    for (Py_ssize_t l = 0; l < nl; l++) o1[l] = t[xi][1][l] + t[xi][2][l]; \
                    for (Py_ssize_t l = 0; l < nl; l++) o2[l] = t[xi][2][l] - t[xi][1][l]; \
                    for (Py_ssize_t l = 0; l < nl; l++) o3[l] = t[xi][1][l] - t[xi][3][l]; \
                } \
            } \
        }
LOOP(wino_input_loop, (const float *restrict x, const float *restrict zeros, float *restrict v,
                       Py_ssize_t h, Py_ssize_t w, Py_ssize_t c, Py_ssize_t row0,
                       Py_ssize_t col0, Py_ssize_t tr, Py_ssize_t tw, Py_ssize_t first,
                       Py_ssize_t ntiles))

/* At's rows over M's rows at column nu (channel ch). */
#define WINO_OUT_ROWS(nu) \
    float m0##nu = mt[nu * st + ch], m1##nu = mt[(4 + nu) * st + ch], \
          m2##nu = mt[(8 + nu) * st + ch], m3##nu = mt[(12 + nu) * st + ch]; \
    float s0##nu = m0##nu + m1##nu + m2##nu, s1##nu = m1##nu - m2##nu - m3##nu; \
    (void)s1##nu;
#define wino_output_loop_body \
    Py_ssize_t st = ntiles * co; \
    for (Py_ssize_t ty = 0; ty < tr; ty++) \
        for (Py_ssize_t tx = 0; tx < tw; tx++) { \
            const float *mt = m + (first + ty * tw + tx) * co; \
            float *out = y + (2 * ty * ow + 2 * tx) * co; \
            int rows = 2 * ty + 1 < oh ? 2 : 1, cols = 2 * tx + 1 < ow ? 2 : 1; \
            if (rows == 2 && cols == 2) { \
                for (Py_ssize_t ch = 0; ch < co; ch++) { \
                    WINO_OUT_ROWS(0) WINO_OUT_ROWS(1) WINO_OUT_ROWS(2) WINO_OUT_ROWS(3) \
                    out[ch] = s00 + s01 + s02; \
                    out[co + ch] = s01 - s02 - s03; \
                    out[ow * co + ch] = s10 + s11 + s12; \
                    out[(ow + 1) * co + ch] = s11 - s12 - s13; \
                } \
            } else { /* the last row or column of an odd-sized output */ \
                for (Py_ssize_t ch = 0; ch < co; ch++) { \
                    WINO_OUT_ROWS(0) WINO_OUT_ROWS(1) WINO_OUT_ROWS(2) WINO_OUT_ROWS(3) \
                    out[ch] = s00 + s01 + s02; \
                    if (cols == 2) out[co + ch] = s01 - s02 - s03; \
                    if (rows == 2) out[ow * co + ch] = s10 + s11 + s12; \
                } \
            } \
        }
LOOP(wino_output_loop, (const float *restrict m, float *restrict y, Py_ssize_t tr,
                        Py_ssize_t tw, Py_ssize_t co, Py_ssize_t oh, Py_ssize_t ow,
                        Py_ssize_t first, Py_ssize_t ntiles))

typedef void (*wino_input_fn)(const float *, const float *, float *, Py_ssize_t, Py_ssize_t,
                              Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                              Py_ssize_t, Py_ssize_t);
typedef void (*wino_output_fn)(const float *, float *, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                               Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t);
static wino_input_fn wino_input_impl = wino_input_loop_base;
static wino_output_fn wino_output_impl = wino_output_loop_base;

static PyObject *py_wino_input(PyObject *self, PyObject *args) {
    Py_buffer x, v;
    Py_ssize_t h, w, c, row0, col0, tr, tw, first, ntiles;
    if (!PyArg_ParseTuple(args, "y*w*nnnnnnnnn", &x, &v, &h, &w, &c, &row0, &col0, &tr, &tw,
                          &first, &ntiles))
        return NULL;
    /* every read is inside x (or of the zeros) and every write inside v */
    int ok = x.itemsize == 4 && v.itemsize == 4 && h >= 0 && w >= 0 && c >= 0 && tr >= 0 &&
             tw >= 0 && first >= 0 && first + tr * tw <= ntiles && x.len / 4 == h * w * c &&
             v.len / 4 == 16 * ntiles * c;
    float *zeros = ok ? PyMem_Calloc(c > 0 ? c : 1, sizeof(float)) : NULL;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "wino_input: buffers do not match the geometry");
    } else if (zeros == NULL) {
        ok = 0;
        PyErr_NoMemory();
    } else {
        Py_BEGIN_ALLOW_THREADS
        wino_input_impl((const float *)x.buf, zeros, (float *)v.buf, h, w, c, row0, col0, tr,
                        tw, first, ntiles);
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(zeros);
    PyBuffer_Release(&x);
    PyBuffer_Release(&v);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_wino_output(PyObject *self, PyObject *args) {
    Py_buffer m, y;
    Py_ssize_t tr, tw, co, oh, ow, first, ntiles;
    if (!PyArg_ParseTuple(args, "y*w*nnnnnnn", &m, &y, &tr, &tw, &co, &oh, &ow, &first,
                          &ntiles))
        return NULL;
    /* every read is inside m, every tile's top-left pixel inside y (oh, ow), and y holds
     * nothing past the tiles */
    int ok = m.itemsize == 4 && y.itemsize == 4 && co >= 0 && tr >= 0 && tw >= 0 &&
             first >= 0 && first + tr * tw <= ntiles && m.len / 4 == 16 * ntiles * co &&
             y.len / 4 == oh * ow * co &&
             oh <= 2 * tr && oh > 2 * tr - 2 && ow <= 2 * tw && ow > 2 * tw - 2;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "wino_output: buffers do not match the geometry");
    } else {
        Py_BEGIN_ALLOW_THREADS
        wino_output_impl((const float *)m.buf, (float *)y.buf, tr, tw, co, oh, ow, first,
                         ntiles);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&m);
    PyBuffer_Release(&y);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/* Every kernel pointed at the build with this suffix (avx512, avx2, base). */
#define USE_LOOPS(v)                                                                         \
    (erfc_impl = erfc_loop_##v, depthwise_impl = depthwise_loop_##v,                          \
     wino_input_impl = wino_input_loop_##v, wino_output_impl = wino_output_loop_##v,          \
     lstm_impl = lstm_loop_##v, gru_impl = gru_loop_##v, softmax_impl = softmax_loop_##v,     \
     layer_norm_impl = layer_norm_loop_##v, gelu_impl = gelu_loop_##v,                        \
     epilogue_impl = epilogue_loop_##v)

/* Point every kernel at one build: "avx512f", "avx2" or "baseline". 0 if this CPU (or this
 * compiler) has no such build. */
static int select_loops(const char *simd) {
    if (strcmp(simd, "baseline") == 0) {
        USE_LOOPS(base);
        simd_name = "baseline";
        return 1;
    }
#ifdef MULTIVERSION
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("fma")) return 0;
    if (strcmp(simd, "avx512f") == 0 && __builtin_cpu_supports("avx512f")) {
        USE_LOOPS(avx512);
        simd_name = "avx512f";
        return 1;
    }
    if (strcmp(simd, "avx2") == 0 && __builtin_cpu_supports("avx2")) {
        USE_LOOPS(avx2);
        simd_name = "avx2";
        return 1;
    }
#endif
    return 0;
}

static PyObject *py_simd(PyObject *self, PyObject *args) {
    const char *want = NULL;
    if (!PyArg_ParseTuple(args, "|s", &want)) return NULL;
    if (want != NULL && !select_loops(want)) {
        PyErr_Format(PyExc_ValueError, "simd: no %s build of the loops for this CPU", want);
        return NULL;
    }
    return PyUnicode_FromString(simd_name);
}

static PyMethodDef methods[] = {
    {"simd", py_simd, METH_VARARGS,
     "simd([build]) -> 'avx512f', 'avx2' or 'baseline': the loops in use, after switching every "
     "kernel to the named build when one is given (tests run each build this way)."},
    {"erfc", py_erfc, METH_VARARGS, "erfc(src, dst): dst = erfc(src), float32 buffers."},
    {"depthwise", py_depthwise, METH_VARARGS,
     "depthwise(xp, w, y, n, hp, wp, c, oh, ow, kh, kw, sh, sw, dh, dw): NHWC float32."},
    {"wino_input", py_wino_input, METH_VARARGS,
     "wino_input(x, v, h, w, c, row0, col0, tr, tw, first, ntiles): Winograd F(2x2, 3x3) "
     "input transform, float32."},
    {"wino_output", py_wino_output, METH_VARARGS,
     "wino_output(m, y, tr, tw, co, oh, ow, first, ntiles): Winograd F(2x2, 3x3) output "
     "transform, float32."},
    {"lstm_steps", py_lstm_steps, METH_VARARGS,
     "lstm_steps(xw, u, h0, c, seq, z, steps, batch, units, b0, b1): Keras LSTM steps of batch "
     "rows b0:b1, float32."},
    {"gru_steps", py_gru_steps, METH_VARARGS,
     "gru_steps(xw, u, bh, h0, seq, hu, steps, batch, units, b0, b1): Keras GRU steps of batch "
     "rows b0:b1, float32."},
    {"softmax", py_softmax, METH_VARARGS, "softmax(src, dst, n): softmax over rows of n."},
    {"layer_norm", py_layer_norm, METH_VARARGS,
     "layer_norm(src, scale, offset, dst, n, eps): layer norm over rows of n."},
    {"gelu", py_gelu, METH_VARARGS, "gelu(src, dst): dst = exact GELU of src, float32."},
    {"epilogue", py_epilogue, METH_VARARGS,
     "epilogue(y, scale, bias, residual, rows, cols, y0, ys, r0, rs, act): "
     "y = act(y * scale + bias + residual), row by row."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_nnaccel",
                                    "float32 kernels for the numpy runtime.", -1, methods};

PyMODINIT_FUNC PyInit__nnaccel(void) {
    if (!select_loops("avx512f") && !select_loops("avx2")) select_loops("baseline");
    return PyModule_Create(&module);
}
