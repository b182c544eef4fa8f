/* Optional float32 kernels for the numpy runtime: erfc (for exact GELU), depthwise
 * convolution and the Winograd F(2x2, 3x3) transforms of 3x3 convolutions.
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
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
/* Selects between computed values (x < 0 ? ... : ...) may then become vector blends. */
#pragma GCC optimize("no-trapping-math")
#endif
/* Each loop is compiled three times on x86-64 with GCC or clang (AVX-512, AVX2+FMA, baseline)
 * and the best one the CPU supports is picked at import, as _highwayhash.c does. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define MULTIVERSION 1
#define LOOP(name, args) \
    __attribute__((target("avx512f"))) static void name##_avx512 args { name##_body } \
    __attribute__((target("avx2,fma"))) static void name##_avx2 args { name##_body } \
    static void name##_base args { name##_body }
#else
#define LOOP(name, args) static void name##_base args { name##_body }
#endif

static inline double exp_neg(double a) {
    /* e^a for a <= ~1 (results below 2^-1000 are flushed: they are 0 in float32 anyway). */
    if (a < -700.0) a = -700.0;
    const double log2e = 1.4426950408889634, ln2_hi = 0.6931471803691238,
                 ln2_lo = 1.9082149292705877e-10, shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    double k = a * log2e + shifter; /* the low bits of k hold round(a * log2(e)) */
    double n = k - shifter;
    double r = (a - n * ln2_hi) - n * ln2_lo;
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t kbits;
    memcpy(&kbits, &k, sizeof kbits);
    int64_t bits = (kbits + 1023) << 52; /* 2^n: the shifter's own bits shift out */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline double erfc_pos(double z) {
    double t = 1.0 / (1.0 + 0.5 * z);
    double poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
        -0.82215223 + t * 0.17087277))))))));
    return t * exp_neg(-z * z + poly);
}

#define erfc_loop_body \
    for (Py_ssize_t i = 0; i < n; i++) { \
        double x = src[i]; \
        double e = erfc_pos(x < 0 ? -x : x); \
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

static PyObject *py_simd(PyObject *self, PyObject *args) { return PyUnicode_FromString(simd_name); }

static PyMethodDef methods[] = {
    {"simd", py_simd, METH_NOARGS, "simd() -> 'avx512f', 'avx2' or 'baseline': the loops in use."},
    {"erfc", py_erfc, METH_VARARGS, "erfc(src, dst): dst = erfc(src), float32 buffers."},
    {"depthwise", py_depthwise, METH_VARARGS,
     "depthwise(xp, w, y, n, hp, wp, c, oh, ow, kh, kw, sh, sw, dh, dw): NHWC float32."},
    {"wino_input", py_wino_input, METH_VARARGS,
     "wino_input(x, v, h, w, c, row0, col0, tr, tw, first, ntiles): Winograd F(2x2, 3x3) "
     "input transform, float32."},
    {"wino_output", py_wino_output, METH_VARARGS,
     "wino_output(m, y, tr, tw, co, oh, ow, first, ntiles): Winograd F(2x2, 3x3) output "
     "transform, float32."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_nnaccel",
                                    "float32 kernels for the numpy runtime.", -1, methods};

PyMODINIT_FUNC PyInit__nnaccel(void) {
#ifdef MULTIVERSION
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        erfc_impl = erfc_loop_avx512;
        depthwise_impl = depthwise_loop_avx512, simd_name = "avx512f";
        wino_input_impl = wino_input_loop_avx512;
        wino_output_impl = wino_output_loop_avx512;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        erfc_impl = erfc_loop_avx2;
        depthwise_impl = depthwise_loop_avx2, simd_name = "avx2";
        wino_input_impl = wino_input_loop_avx2;
        wino_output_impl = wino_output_loop_avx2;
    }
#endif
    return PyModule_Create(&module);
}
