/* CRC32C (Castagnoli) accelerator for savedmodel_io.hashing.crc32c.
 *
 * extend(crc, buffer) -> int: the CRC32C of the bytes covered by `crc` followed by `buffer`
 * (standard reflected CRC-32C, init and final xor 0xffffffff, as in RFC 3720).
 * Uses the SSE4.2 / ARMv8 CRC32C instructions when the CPU has them (checked at import),
 * otherwise a slicing-by-8 table. The GIL is released for large buffers.
 * The pure-Python module is the reference; tests compare both.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POLY 0x82F63B78u /* CRC-32C polynomial, bit-reflected */

static uint32_t table[8][256];

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int k = 1; k < 8; k++) table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xff];
}

static uint32_t sw_update(uint32_t crc, const unsigned char *p, size_t n) {
    while (n && ((uintptr_t)p & 7)) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= crc;
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
              table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

typedef uint32_t (*update_fn)(uint32_t, const unsigned char *, size_t);
static update_fn update = sw_update;
static const char *impl_name = "table";

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
__attribute__((target("sse4.2"))) static uint32_t hw_update(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    while (n--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return (uint32_t)c;
}
static void pick_impl(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        update = hw_update;
        impl_name = "sse4.2";
    }
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static uint32_t hw_update(uint32_t crc, const unsigned char *p, size_t n) {
    while (n && ((uintptr_t)p & 7)) {
        crc = __crc32cb(crc, *p++);
        n--;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc = __crc32cd(crc, v);
        p += 8;
        n -= 8;
    }
    while (n--) crc = __crc32cb(crc, *p++);
    return crc;
}
static void pick_impl(void) {
    update = hw_update;
    impl_name = "armv8-crc";
}
#else
static void pick_impl(void) {}
#endif

static PyObject *crc_extend(PyObject *self, PyObject *args) {
    unsigned long crc_in;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "ky*:extend", &crc_in, &view)) return NULL;
    if (!PyBuffer_IsContiguous(&view, 'C')) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "extend() needs a contiguous buffer");
        return NULL;
    }
    uint32_t crc = ~(uint32_t)(crc_in & 0xffffffffu);
    const unsigned char *p = (const unsigned char *)view.buf;
    size_t n = (size_t)view.len;
    if (n >= 65536) {
        Py_BEGIN_ALLOW_THREADS crc = update(crc, p, n);
        Py_END_ALLOW_THREADS
    } else {
        crc = update(crc, p, n);
    }
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong((unsigned long)(~crc));
}

static PyMethodDef methods[] = {
    {"extend", crc_extend, METH_VARARGS, "extend(crc, data) -> CRC32C of the bytes of crc then data."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_crc32c", "CRC32C accelerator.", -1, methods};

PyMODINIT_FUNC PyInit__crc32c(void) {
    build_table();
    const char *no_hw = getenv("SAVEDMODEL_IO_CRC32C_NO_HW"); /* tests: force the table path */
    if (!(no_hw && no_hw[0] == '1')) pick_impl();
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddStringConstant(m, "IMPLEMENTATION", impl_name) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
