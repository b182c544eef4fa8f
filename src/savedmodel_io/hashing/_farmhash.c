/* Compiled FarmHash Fingerprint64 (farmhashna Hash64) and TensorFlow's FingerprintCat64.
 *
 * Written for savedmodel_io from the algorithm's published facts (constants,
 * length classes and mixing steps of google/farmhash src/farmhash.cc, namespace
 * farmhashna; the combiner of tensorflow/core/platform/fingerprint.h). The
 * pure-Python module savedmodel_io/hashing/farmhash.py is the reference and the
 * tests check both against each other and against TensorFlow.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static const uint64_t K0 = 0xc3a5c85c97cb3127ULL;
static const uint64_t K1 = 0xb492b66fbe98f273ULL;
static const uint64_t K2 = 0x9ae16a3b2f90404fULL;
static const uint64_t KMUL = 0xc6a4a7935bd1e995ULL;

/* Inputs at least this long are hashed with the GIL released. */
#define RELEASE_GIL_BYTES 65536

static inline uint64_t load64(const unsigned char *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
#endif
}

static inline uint64_t load32(const unsigned char *p) {
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24);
}

/* Right rotation by 1..63 bits. */
static inline uint64_t rotr(uint64_t v, unsigned s) { return (v >> s) | (v << (64 - s)); }

static inline uint64_t shift_mix(uint64_t v) { return v ^ (v >> 47); }

static inline uint64_t mix16(uint64_t u, uint64_t v, uint64_t mul) {
    uint64_t a = (u ^ v) * mul;
    a ^= a >> 47;
    uint64_t b = (v ^ a) * mul;
    b ^= b >> 47;
    return b * mul;
}

static uint64_t hash_upto16(const unsigned char *s, size_t n) {
    if (n >= 8) {
        uint64_t mul = K2 + (uint64_t)n * 2;
        uint64_t a = load64(s) + K2;
        uint64_t b = load64(s + n - 8);
        uint64_t c = rotr(b, 37) * mul + a;
        uint64_t d = (rotr(a, 25) + b) * mul;
        return mix16(c, d, mul);
    }
    if (n >= 4) {
        uint64_t mul = K2 + (uint64_t)n * 2;
        return mix16((uint64_t)n + (load32(s) << 3), load32(s + n - 4), mul);
    }
    if (n > 0) {
        uint32_t y = (uint32_t)s[0] + ((uint32_t)s[n >> 1] << 8);
        uint32_t z = (uint32_t)n + ((uint32_t)s[n - 1] << 2);
        return shift_mix((uint64_t)y * K2 ^ (uint64_t)z * K0) * K2;
    }
    return K2;
}

static uint64_t hash_17to32(const unsigned char *s, size_t n) {
    uint64_t mul = K2 + (uint64_t)n * 2;
    uint64_t a = load64(s) * K1;
    uint64_t b = load64(s + 8);
    uint64_t c = load64(s + n - 8) * mul;
    uint64_t d = load64(s + n - 16) * K2;
    return mix16(rotr(a + b, 43) + rotr(c, 30) + d, a + rotr(b + K2, 18) + c, mul);
}

static uint64_t hash_33to64(const unsigned char *s, size_t n) {
    uint64_t mul = K2 + (uint64_t)n * 2;
    uint64_t a = load64(s) * K2;
    uint64_t b = load64(s + 8);
    uint64_t c = load64(s + n - 8) * mul;
    uint64_t d = load64(s + n - 16) * K2;
    uint64_t y = rotr(a + b, 43) + rotr(c, 30) + d;
    uint64_t z = mix16(y, a + rotr(b + K2, 18) + c, mul);
    uint64_t e = load64(s + 16) * mul;
    uint64_t f = load64(s + 24);
    uint64_t g = (y + load64(s + n - 32)) * mul;
    uint64_t h = (z + load64(s + n - 24)) * mul;
    return mix16(rotr(e + f, 43) + rotr(g, 30) + h, e + rotr(f + a, 18) + g, mul);
}

/* WeakHashLen32WithSeeds over the 32 bytes at p; results in *r0, *r1. */
static inline void weak32(const unsigned char *p, uint64_t a, uint64_t b, uint64_t *r0,
                          uint64_t *r1) {
    uint64_t w = load64(p), x = load64(p + 8), y = load64(p + 16), z = load64(p + 24);
    a += w;
    b = rotr(b + a + z, 21);
    uint64_t c = a;
    a += x;
    a += y;
    b += rotr(a, 44);
    *r0 = a + z;
    *r1 = b + c;
}

static uint64_t fingerprint64(const unsigned char *s, size_t n) {
    if (n <= 16) return hash_upto16(s, n);
    if (n <= 32) return hash_17to32(s, n);
    if (n <= 64) return hash_33to64(s, n);

    uint64_t x = 81;
    uint64_t y = 81 * K1 + 113;
    uint64_t z = shift_mix(y * K2 + 113) * K2;
    uint64_t v0 = 0, v1 = 0, w0 = 0, w1 = 0, t;
    x = x * K2 + load64(s);

    const unsigned char *end = s + ((n - 1) / 64) * 64;
    const unsigned char *last = s + n - 64;
    do {
        x = rotr(x + y + v0 + load64(s + 8), 37) * K1;
        y = rotr(y + v1 + load64(s + 48), 42) * K1;
        x ^= w1;
        y += v0 + load64(s + 40);
        z = rotr(z + w0, 33) * K1;
        weak32(s, v1 * K1, x + w0, &v0, &v1);
        weak32(s + 32, z + w1, y + load64(s + 16), &w0, &w1);
        t = z;
        z = x;
        x = t;
        s += 64;
    } while (s != end);

    uint64_t mul = K1 + ((z & 0xff) << 1);
    s = last;
    w0 += (uint64_t)((n - 1) & 63);
    v0 += w0;
    w0 += v0;
    x = rotr(x + y + v0 + load64(s + 8), 37) * mul;
    y = rotr(y + v1 + load64(s + 48), 42) * mul;
    x ^= w1 * 9;
    y += v0 * 9 + load64(s + 40);
    z = rotr(z + w0, 33) * mul;
    weak32(s, v1 * mul, x + w0, &v0, &v1);
    weak32(s + 32, z + w1, y + load64(s + 16), &w0, &w1);
    t = z;
    z = x;
    x = t;
    return mix16(mix16(v0, w0, mul) + shift_mix(y) * K0 + z, mix16(v1, w1, mul) + x, mul);
}

static PyObject *py_fingerprint64(PyObject *self, PyObject *arg) {
    Py_buffer view;
    uint64_t h;
    (void)self;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (view.len >= RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        h = fingerprint64((const unsigned char *)view.buf, (size_t)view.len);
        Py_END_ALLOW_THREADS
    } else {
        h = fingerprint64((const unsigned char *)view.buf, (size_t)view.len);
    }
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong((unsigned long long)h);
}

static int to_u64(PyObject *o, uint64_t *out) {
    unsigned long long v;
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "expected an int, got %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    v = PyLong_AsUnsignedLongLongMask(o); /* reduces mod 2**64, like the Python code */
    if (v == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    *out = (uint64_t)v;
    return 0;
}

static PyObject *py_fingerprint_cat64(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t fp1, fp2, r;
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "fingerprint_cat64 takes exactly 2 arguments");
        return NULL;
    }
    if (to_u64(args[0], &fp1) < 0 || to_u64(args[1], &fp2) < 0) return NULL;
    r = fp1 ^ KMUL;
    r ^= shift_mix(fp2 * KMUL) * KMUL;
    r *= KMUL;
    r = shift_mix(r) * KMUL;
    r = shift_mix(r);
    return PyLong_FromUnsignedLongLong((unsigned long long)r);
}

static PyMethodDef methods[] = {
    {"fingerprint64", py_fingerprint64, METH_O,
     "fingerprint64(data) -> int: FarmHash Fingerprint64 of a bytes-like object."},
    {"fingerprint_cat64", (PyCFunction)(void (*)(void))py_fingerprint_cat64, METH_FASTCALL,
     "fingerprint_cat64(fp1, fp2) -> int: TensorFlow's FingerprintCat64."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_farmhash",
    "Compiled FarmHash Fingerprint64 and FingerprintCat64 (accelerator of savedmodel_io.hashing.farmhash).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__farmhash(void) { return PyModule_Create(&module); }
