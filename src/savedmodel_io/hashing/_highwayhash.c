/*
 * HighwayHash-64 accelerator for savedmodel_io (optional; highwayhash.py has the same
 * algorithm in pure Python).
 *
 * Format facts (state layout, init constants, zipper permutation, remainder and finalisation
 * rules, test vectors) come from google/highwayhash: highwayhash/highwayhash_test.cc and the
 * portable reference c/highwayhash.c. This file is our own code.
 *
 * Exposes:
 *   hash64(data, key) -> int                  one-shot hash of a bytes-like object
 *   HighwayHash64(key)                        streaming hasher: update(data), intdigest(), copy()
 * The key must be 32 bytes (validated again here so the C type is safe on its own).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HH_PACKET 32
#define HH_RELEASE_GIL_BYTES 65536

typedef struct {
    uint64_t v0[4];
    uint64_t v1[4];
    uint64_t mul0[4];
    uint64_t mul1[4];
} hh_state;

static const uint64_t hh_init0[4] = {0xdbe6d5d5fe4cce2fULL, 0xa4093822299f31d0ULL,
                                     0x13198a2e03707344ULL, 0x243f6a8885a308d3ULL};
static const uint64_t hh_init1[4] = {0x3bd39e10cb0ef593ULL, 0xc0acf169b5f18a8cULL,
                                     0xbe5466cf34e90c6cULL, 0x452821e638d01377ULL};

static inline uint64_t hh_load64(const uint8_t *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
#else
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
#endif
}

static inline uint64_t hh_swap32(uint64_t x) { return (x >> 32) | (x << 32); }

static void hh_reset(hh_state *s, const uint8_t key[32]) {
    for (int i = 0; i < 4; i++) {
        uint64_t k = hh_load64(key + 8 * i);
        s->mul0[i] = hh_init0[i];
        s->mul1[i] = hh_init1[i];
        s->v0[i] = hh_init0[i] ^ k;
        s->v1[i] = hh_init1[i] ^ hh_swap32(k);
    }
}

/* Zipper merge of the lane pair (x = even lane, y = odd lane): the 16 little-endian bytes of
 * (x, y) permuted by {3,12,2,5,14,1,15,0, 11,4,10,13,9,6,8,7}; the masks below are that
 * permutation grouped by source lane and shift distance. */
static inline uint64_t hh_zip_even(uint64_t x, uint64_t y) {
    return ((x & 0xff000000ULL) >> 24) | ((x & 0xff0000000000ULL) >> 16) | (x & 0xff0000ULL) |
           ((x & 0xff00ULL) << 32) | ((x & 0xffULL) << 56) | ((y & 0xff00000000ULL) >> 24) |
           ((y & 0xff000000000000ULL) >> 16) | ((y & 0xff00000000000000ULL) >> 8);
}

static inline uint64_t hh_zip_odd(uint64_t x, uint64_t y) {
    return ((x & 0xff00000000ULL) >> 24) | ((x & 0xff000000000000ULL) >> 8) |
           (x & 0xff00000000000000ULL) | ((y & 0xff000000ULL) >> 24) |
           ((y & 0xff0000000000ULL) >> 16) | (y & 0xff0000ULL) | ((y & 0xff00ULL) << 24) |
           ((y & 0xffULL) << 48);
}

static inline void hh_update_words(hh_state *s, uint64_t a0, uint64_t a1, uint64_t a2,
                                   uint64_t a3) {
    const uint64_t a[4] = {a0, a1, a2, a3};
    for (int i = 0; i < 4; i++) {
        s->v1[i] += s->mul0[i] + a[i];
        s->mul0[i] ^= (s->v1[i] & 0xffffffffULL) * (s->v0[i] >> 32);
        s->v0[i] += s->mul1[i];
        s->mul1[i] ^= (s->v0[i] & 0xffffffffULL) * (s->v1[i] >> 32);
    }
    s->v0[0] += hh_zip_even(s->v1[0], s->v1[1]);
    s->v0[1] += hh_zip_odd(s->v1[0], s->v1[1]);
    s->v0[2] += hh_zip_even(s->v1[2], s->v1[3]);
    s->v0[3] += hh_zip_odd(s->v1[2], s->v1[3]);
    s->v1[0] += hh_zip_even(s->v0[0], s->v0[1]);
    s->v1[1] += hh_zip_odd(s->v0[0], s->v0[1]);
    s->v1[2] += hh_zip_even(s->v0[2], s->v0[3]);
    s->v1[3] += hh_zip_odd(s->v0[2], s->v0[3]);
}

/* Absorb n full packets; the state lives in locals so the compiler keeps it in registers. */
static void hh_update_packets_scalar(hh_state *st, const uint8_t *p, size_t n) {
    hh_state s = *st;
    for (size_t k = 0; k < n; k++, p += HH_PACKET) {
        hh_update_words(&s, hh_load64(p), hh_load64(p + 8), hh_load64(p + 16),
                        hh_load64(p + 24));
    }
    *st = s;
}

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define HH_HAVE_AVX2 1
#include <immintrin.h>

/* The same update with the four lanes in one AVX2 register: _mm256_mul_epu32 is exactly the
 * lane-wise lo32 x lo32 -> 64 product, and the zipper permutation stays inside each 128-bit
 * half, so it is one byte shuffle. Chosen at run time when the CPU has AVX2. */
__attribute__((target("avx2"))) static void hh_update_packets_avx2(hh_state *st, const uint8_t *p,
                                                                   size_t n) {
    const __m256i zip = _mm256_setr_epi8(3, 12, 2, 5, 14, 1, 15, 0, 11, 4, 10, 13, 9, 6, 8, 7, 3,
                                         12, 2, 5, 14, 1, 15, 0, 11, 4, 10, 13, 9, 6, 8, 7);
    __m256i v0 = _mm256_loadu_si256((const __m256i *)st->v0);
    __m256i v1 = _mm256_loadu_si256((const __m256i *)st->v1);
    __m256i mul0 = _mm256_loadu_si256((const __m256i *)st->mul0);
    __m256i mul1 = _mm256_loadu_si256((const __m256i *)st->mul1);
    for (size_t k = 0; k < n; k++, p += HH_PACKET) {
        __m256i a = _mm256_loadu_si256((const __m256i *)p);
        v1 = _mm256_add_epi64(v1, _mm256_add_epi64(mul0, a));
        mul0 = _mm256_xor_si256(mul0, _mm256_mul_epu32(v1, _mm256_srli_epi64(v0, 32)));
        v0 = _mm256_add_epi64(v0, mul1);
        mul1 = _mm256_xor_si256(mul1, _mm256_mul_epu32(v0, _mm256_srli_epi64(v1, 32)));
        v0 = _mm256_add_epi64(v0, _mm256_shuffle_epi8(v1, zip));
        v1 = _mm256_add_epi64(v1, _mm256_shuffle_epi8(v0, zip));
    }
    _mm256_storeu_si256((__m256i *)st->v0, v0);
    _mm256_storeu_si256((__m256i *)st->v1, v1);
    _mm256_storeu_si256((__m256i *)st->mul0, mul0);
    _mm256_storeu_si256((__m256i *)st->mul1, mul1);
}
#endif

static int hh_use_avx2 = 0; /* set once at import */

static void hh_update_packets(hh_state *st, const uint8_t *p, size_t n) {
#ifdef HH_HAVE_AVX2
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (hh_use_avx2 && n >= 4) {
        hh_update_packets_avx2(st, p, n);
        return;
    }
#endif
#endif
    hh_update_packets_scalar(st, p, n);
}

static inline uint32_t hh_rotl32(uint32_t x, unsigned r) {
    return r ? (uint32_t)((x << r) | (x >> (32 - r))) : x;
}

/* Final partial packet: r = size mod 32 bytes at tail (0 < r < 32). */
static void hh_update_remainder(hh_state *s, const uint8_t *tail, size_t r) {
    uint8_t packet[HH_PACKET] = {0};
    size_t whole = r & ~(size_t)3, m = r & 3;
    for (int i = 0; i < 4; i++) {
        s->v0[i] += ((uint64_t)r << 32) + r;
        uint32_t lo = (uint32_t)s->v1[i], hi = (uint32_t)(s->v1[i] >> 32);
        s->v1[i] = ((uint64_t)hh_rotl32(hi, (unsigned)r) << 32) | hh_rotl32(lo, (unsigned)r);
    }
    memcpy(packet, tail, whole);
    if (r & 16) {
        memcpy(packet + 28, tail + r - 4, 4);
    } else if (m) {
        const uint8_t *rest = tail + whole;
        packet[16] = rest[0];
        packet[17] = rest[m >> 1];
        packet[18] = rest[m - 1];
    }
    hh_update_packets(s, packet, 1);
}

static uint64_t hh_finalize(hh_state *s) {
    for (int i = 0; i < 4; i++) {
        hh_update_words(s, hh_swap32(s->v0[2]), hh_swap32(s->v0[3]), hh_swap32(s->v0[0]),
                        hh_swap32(s->v0[1]));
    }
    return s->v0[0] + s->v1[0] + s->mul0[0] + s->mul1[0];
}

/* ---------------------------------------------------------------- Python glue */

static int get_key(PyObject *key_obj, uint8_t key[32]) {
    Py_buffer kb;
    if (PyObject_GetBuffer(key_obj, &kb, PyBUF_SIMPLE) < 0) return -1;
    if (kb.len != 32) {
        PyErr_Format(PyExc_ValueError, "HighwayHash key must be 32 bytes, got %zd", kb.len);
        PyBuffer_Release(&kb);
        return -1;
    }
    memcpy(key, kb.buf, 32);
    PyBuffer_Release(&kb);
    return 0;
}

static uint64_t hh_hash_bytes(const uint8_t key[32], const uint8_t *data, size_t len) {
    hh_state s;
    size_t full = len / HH_PACKET;
    hh_reset(&s, key);
    hh_update_packets(&s, data, full);
    if (len % HH_PACKET) hh_update_remainder(&s, data + full * HH_PACKET, len % HH_PACKET);
    return hh_finalize(&s);
}

static PyObject *py_hash64(PyObject *self, PyObject *args) {
    PyObject *data_obj, *key_obj;
    uint8_t key[32];
    Py_buffer db;
    uint64_t h;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO:hash64", &data_obj, &key_obj)) return NULL;
    if (get_key(key_obj, key) < 0) return NULL;
    if (PyObject_GetBuffer(data_obj, &db, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (db.len >= HH_RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        h = hh_hash_bytes(key, (const uint8_t *)db.buf, (size_t)db.len);
        Py_END_ALLOW_THREADS
    } else {
        h = hh_hash_bytes(key, (const uint8_t *)db.buf, (size_t)db.len);
    }
    PyBuffer_Release(&db);
    return PyLong_FromUnsignedLongLong(h);
}

typedef struct {
    PyObject_HEAD
    hh_state state;
    uint8_t buf[HH_PACKET]; /* pending bytes of an incomplete packet */
    Py_ssize_t buffered;
} HasherObject;

static int Hasher_init(HasherObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"key", NULL};
    PyObject *key_obj;
    uint8_t key[32];
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:HighwayHash64", kwlist, &key_obj)) return -1;
    if (get_key(key_obj, key) < 0) return -1;
    hh_reset(&self->state, key);
    self->buffered = 0;
    return 0;
}

static PyObject *Hasher_update(HasherObject *self, PyObject *data_obj) {
    Py_buffer db;
    const uint8_t *p;
    size_t len;
    if (PyObject_GetBuffer(data_obj, &db, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    p = (const uint8_t *)db.buf;
    len = (size_t)db.len;
    if (self->buffered) {
        size_t need = HH_PACKET - (size_t)self->buffered;
        size_t take = len < need ? len : need;
        memcpy(self->buf + self->buffered, p, take);
        self->buffered += (Py_ssize_t)take;
        p += take;
        len -= take;
        if (self->buffered == HH_PACKET) {
            hh_update_packets(&self->state, self->buf, 1);
            self->buffered = 0;
        }
    }
    if (len >= HH_PACKET) {
        size_t full = len / HH_PACKET;
        if (len >= HH_RELEASE_GIL_BYTES) {
            /* The buffer export keeps the data alive; the object itself is not touched by
             * other threads because callers of update() on one hasher must serialise anyway. */
            hh_state s = self->state;
            Py_BEGIN_ALLOW_THREADS
            hh_update_packets(&s, p, full);
            Py_END_ALLOW_THREADS
            self->state = s;
        } else {
            hh_update_packets(&self->state, p, full);
        }
        p += full * HH_PACKET;
        len -= full * HH_PACKET;
    }
    if (len) {
        memcpy(self->buf, p, len);
        self->buffered = (Py_ssize_t)len;
    }
    PyBuffer_Release(&db);
    Py_RETURN_NONE;
}

static PyObject *Hasher_intdigest(HasherObject *self, PyObject *unused) {
    hh_state s = self->state;
    (void)unused;
    if (self->buffered) hh_update_remainder(&s, self->buf, (size_t)self->buffered);
    return PyLong_FromUnsignedLongLong(hh_finalize(&s));
}

static PyObject *Hasher_copy(HasherObject *self, PyObject *unused) {
    HasherObject *other;
    (void)unused;
    other = (HasherObject *)Py_TYPE(self)->tp_alloc(Py_TYPE(self), 0);
    if (!other) return NULL;
    other->state = self->state;
    memcpy(other->buf, self->buf, HH_PACKET);
    other->buffered = self->buffered;
    return (PyObject *)other;
}

static PyMethodDef Hasher_methods[] = {
    {"update", (PyCFunction)Hasher_update, METH_O, "Absorb more bytes."},
    {"intdigest", (PyCFunction)Hasher_intdigest, METH_NOARGS,
     "The 64-bit hash of everything absorbed so far (the hasher stays usable)."},
    {"copy", (PyCFunction)Hasher_copy, METH_NOARGS, "An independent hasher with the same state."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HasherType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "savedmodel_io.hashing._highwayhash.HighwayHash64",
    .tp_basicsize = sizeof(HasherObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Streaming HighwayHash-64 with a 32-byte key.",
    .tp_methods = Hasher_methods,
    .tp_init = (initproc)Hasher_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *py_simd(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyUnicode_FromString(hh_use_avx2 ? "avx2" : "scalar");
}

static PyMethodDef module_methods[] = {
    {"hash64", py_hash64, METH_VARARGS, "hash64(data, key) -> int: HighwayHash-64 of data."},
    {"simd", py_simd, METH_NOARGS, "simd() -> 'avx2' or 'scalar': the code path in use."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_highwayhash", "HighwayHash-64 accelerator (C).", -1, module_methods,
};

PyMODINIT_FUNC PyInit__highwayhash(void) {
    PyObject *m;
#ifdef HH_HAVE_AVX2
    __builtin_cpu_init();
    hh_use_avx2 = __builtin_cpu_supports("avx2") && getenv("SAVEDMODEL_IO_HH_SCALAR") == NULL;
#endif
    if (PyType_Ready(&HasherType) < 0) return NULL;
    m = PyModule_Create(&module_def);
    if (!m) return NULL;
    Py_INCREF(&HasherType);
    if (PyModule_AddObject(m, "HighwayHash64", (PyObject *)&HasherType) < 0) {
        Py_DECREF(&HasherType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
