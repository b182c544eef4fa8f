/* Compiled map-entry sorting for savedmodel_io.proto.deterministic.
 *
 * Input: the bytes of a serialized protobuf message (a bytearray, changed in place) and a
 * "plan" saying, per message type, which length-delimited fields are sub-messages that can
 * contain maps and which are map fields (with the key's kind and the value's plan). Every run
 * of consecutive entries of a map field is reordered by key the way C++ protobuf's
 * deterministic serialization orders them: integers numerically (signed or unsigned as
 * declared), strings bytewise. Sorting permutes whole entries, so no length prefix changes.
 *
 * The pure-Python module is the reference; this is the same algorithm, compiled.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { RULE_SUB = 0, RULE_MAP = 1 };
enum { KEY_BYTES = 0, KEY_SIGNED = 1, KEY_ZIGZAG = 2, KEY_UNSIGNED = 3, KEY_FIXED = 4, KEY_SFIXED = 5 };

typedef struct {
    uint64_t number;
    int kind;      /* RULE_SUB or RULE_MAP */
    int plan;      /* RULE_SUB: sub plan; RULE_MAP: value plan or -1 */
    int key_kind;  /* RULE_MAP only */
} Rule;

typedef struct {
    Rule *rules;
    Py_ssize_t n;
} Plan;

typedef struct {
    Plan *plans;
    Py_ssize_t nplans;
    const char *error;
} Ctx;

typedef struct {
    int64_t s;         /* signed keys */
    uint64_t u;        /* unsigned keys */
    const uint8_t *p;  /* bytes keys */
    size_t len;
    size_t start, end; /* the entry's bytes, tag included */
    size_t seq;
    int kind;
} Entry;

#define MAX_DEPTH 200

static int read_varint(const uint8_t *buf, size_t *pos, size_t end, uint64_t *out) {
    uint64_t result = 0;
    unsigned shift = 0;
    while (*pos < end && shift <= 63) {
        uint8_t b = buf[(*pos)++];
        result |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = result;
            return 0;
        }
        shift += 7;
    }
    return -1;
}

/* Skip a field value of wire type `wire` at *pos. */
static int skip_value(Ctx *c, const uint8_t *buf, size_t *pos, size_t end, unsigned wire) {
    uint64_t n;
    switch (wire) {
    case 0:
        if (read_varint(buf, pos, end, &n) < 0) goto bad;
        return 0;
    case 1:
        if (end - *pos < 8) goto bad;
        *pos += 8;
        return 0;
    case 5:
        if (end - *pos < 4) goto bad;
        *pos += 4;
        return 0;
    case 2:
        if (read_varint(buf, pos, end, &n) < 0 || n > end - *pos) goto bad;
        *pos += (size_t)n;
        return 0;
    default:
        c->error = "unsupported wire type while canonicalizing a serialized message";
        return -1;
    }
bad:
    c->error = "truncated or malformed field while canonicalizing a serialized message";
    return -1;
}

static const Rule *find_rule(const Plan *plan, uint64_t number) {
    for (Py_ssize_t i = 0; i < plan->n; i++)
        if (plan->rules[i].number == number) return &plan->rules[i];
    return NULL;
}

static int fix(Ctx *c, uint8_t *buf, size_t pos, size_t end, int plan_index, int depth);

/* Key of one map entry (content at [pos, end)); fixes maps inside the value on the way. */
static int entry_key(Ctx *c, uint8_t *buf, size_t pos, size_t end, int key_kind, int vplan,
                     Entry *e, int depth) {
    e->s = 0;
    e->u = 0;
    e->p = buf + pos;
    e->len = 0;
    e->kind = key_kind;
    while (pos < end) {
        uint64_t tag, v = 0;
        if (read_varint(buf, &pos, end, &tag) < 0) {
            c->error = "malformed varint while canonicalizing a serialized message";
            return -1;
        }
        unsigned wire = (unsigned)(tag & 7);
        uint64_t number = tag >> 3;
        size_t value_at = pos;
        if (skip_value(c, buf, &pos, end, wire) < 0) return -1;
        if (number == 1) {
            size_t q = value_at;
            if (wire == 2) {
                read_varint(buf, &q, end, &v);
                e->p = buf + q;
                e->len = (size_t)v;
            } else if (wire == 0) {
                read_varint(buf, &q, end, &v);
                e->u = v;
                e->s = (int64_t)v;
                if (key_kind == KEY_ZIGZAG) e->s = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            } else {
                size_t size = wire == 1 ? 8 : 4;
                uint64_t x = 0;
                for (size_t k = 0; k < size; k++) x |= (uint64_t)buf[q + k] << (8 * k);
                e->u = x;
                if (size == 4)
                    e->s = (int64_t)(int32_t)(uint32_t)x;
                else
                    e->s = (int64_t)x;
            }
        } else if (number == 2 && wire == 2 && vplan >= 0) {
            size_t q = value_at;
            read_varint(buf, &q, end, &v);
            if (fix(c, buf, q, q + (size_t)v, vplan, depth + 1) < 0) return -1;
        }
    }
    return 0;
}

static int compare_entries(const void *pa, const void *pb) {
    const Entry *a = (const Entry *)pa, *b = (const Entry *)pb;
    int r = 0;
    switch (a->kind) {
    case KEY_BYTES: {
        size_t n = a->len < b->len ? a->len : b->len;
        r = n ? memcmp(a->p, b->p, n) : 0;
        if (r == 0) r = (a->len > b->len) - (a->len < b->len);
        break;
    }
    case KEY_SIGNED:
    case KEY_ZIGZAG:
    case KEY_SFIXED:
        r = (a->s > b->s) - (a->s < b->s);
        break;
    default:
        r = (a->u > b->u) - (a->u < b->u);
        break;
    }
    if (r == 0) r = (a->seq > b->seq) - (a->seq < b->seq);
    return r;
}

/* Sort the run of entries with `tag` starting at *pos; leaves *pos after the run. */
static int sort_run(Ctx *c, uint8_t *buf, size_t *pos, size_t end, uint64_t tag, const Rule *rule,
                    int depth) {
    size_t cap = 16, count = 0, run_start = *pos;
    Entry *entries = (Entry *)malloc(cap * sizeof(Entry));
    if (!entries) {
        c->error = "out of memory";
        return -1;
    }
    while (*pos < end) {
        size_t p = *pos;
        uint64_t t, n;
        if (read_varint(buf, &p, end, &t) < 0 || t != tag) break;
        if (read_varint(buf, &p, end, &n) < 0 || n > end - p) {
            c->error = "truncated map entry while canonicalizing a serialized message";
            free(entries);
            return -1;
        }
        if (count == cap) {
            Entry *grown = (Entry *)realloc(entries, 2 * cap * sizeof(Entry));
            if (!grown) {
                free(entries);
                c->error = "out of memory";
                return -1;
            }
            entries = grown;
            cap *= 2;
        }
        Entry *e = &entries[count];
        if (entry_key(c, buf, p, p + (size_t)n, rule->key_kind, rule->plan, e, depth) < 0) {
            free(entries);
            return -1;
        }
        e->start = *pos;
        e->end = p + (size_t)n;
        e->seq = count++;
        *pos = p + (size_t)n;
    }
    int sorted = 1;
    for (size_t i = 1; i < count && sorted; i++)
        if (compare_entries(&entries[i - 1], &entries[i]) > 0) sorted = 0;
    if (!sorted) {
        size_t total = *pos - run_start, at = 0;
        uint8_t *tmp = (uint8_t *)malloc(total ? total : 1);
        if (!tmp) {
            free(entries);
            c->error = "out of memory";
            return -1;
        }
        qsort(entries, count, sizeof(Entry), compare_entries);
        for (size_t i = 0; i < count; i++) {
            size_t len = entries[i].end - entries[i].start;
            memcpy(tmp + at, buf + entries[i].start, len);
            at += len;
        }
        memcpy(buf + run_start, tmp, total);
        free(tmp);
    }
    free(entries);
    return 0;
}

static int fix(Ctx *c, uint8_t *buf, size_t pos, size_t end, int plan_index, int depth) {
    if (depth > MAX_DEPTH) {
        c->error = "message nested too deeply while canonicalizing";
        return -1;
    }
    const Plan *plan = &c->plans[plan_index];
    while (pos < end) {
        size_t field_start = pos;
        uint64_t tag, n;
        if (read_varint(buf, &pos, end, &tag) < 0) {
            c->error = "malformed varint while canonicalizing a serialized message";
            return -1;
        }
        unsigned wire = (unsigned)(tag & 7);
        const Rule *rule = wire == 2 ? find_rule(plan, tag >> 3) : NULL;
        if (!rule) {
            if (skip_value(c, buf, &pos, end, wire) < 0) return -1;
            continue;
        }
        if (rule->kind == RULE_SUB) {
            if (read_varint(buf, &pos, end, &n) < 0 || n > end - pos) {
                c->error = "truncated field while canonicalizing a serialized message";
                return -1;
            }
            if (fix(c, buf, pos, pos + (size_t)n, rule->plan, depth + 1) < 0) return -1;
            pos += (size_t)n;
        } else {
            pos = field_start;
            if (sort_run(c, buf, &pos, end, tag, rule, depth) < 0) return -1;
        }
    }
    return 0;
}

/* plans: tuple of tuples of (field_number, kind, plan, key_kind) */
static int load_plans(PyObject *spec, Ctx *c) {
    if (!PyTuple_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "plans must be a tuple");
        return -1;
    }
    c->nplans = PyTuple_GET_SIZE(spec);
    c->plans = (Plan *)PyMem_Calloc(c->nplans ? c->nplans : 1, sizeof(Plan));
    if (!c->plans) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < c->nplans; i++) {
        PyObject *rules = PyTuple_GET_ITEM(spec, i);
        if (!PyTuple_Check(rules)) {
            PyErr_SetString(PyExc_TypeError, "each plan must be a tuple of rules");
            return -1;
        }
        Py_ssize_t n = PyTuple_GET_SIZE(rules);
        c->plans[i].n = n;
        c->plans[i].rules = (Rule *)PyMem_Calloc(n ? n : 1, sizeof(Rule));
        if (!c->plans[i].rules) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t j = 0; j < n; j++) {
            unsigned long long number;
            int kind, plan, key_kind;
            if (!PyArg_ParseTuple(PyTuple_GET_ITEM(rules, j), "Kiii", &number, &kind, &plan,
                                  &key_kind))
                return -1;
            if ((kind == RULE_SUB && (plan < 0 || plan >= c->nplans)) ||
                (kind == RULE_MAP && plan >= c->nplans) || (kind != RULE_SUB && kind != RULE_MAP)) {
                PyErr_SetString(PyExc_ValueError, "invalid plan rule");
                return -1;
            }
            c->plans[i].rules[j].number = number;
            c->plans[i].rules[j].kind = kind;
            c->plans[i].rules[j].plan = plan;
            c->plans[i].rules[j].key_kind = key_kind;
        }
    }
    return 0;
}

static void free_plans(Ctx *c) {
    if (!c->plans) return;
    for (Py_ssize_t i = 0; i < c->nplans; i++) PyMem_Free(c->plans[i].rules);
    PyMem_Free(c->plans);
}

static PyObject *py_sort_maps(PyObject *self, PyObject *args) {
    PyObject *buffer, *spec;
    int root;
    Py_buffer view;
    Ctx c = {NULL, 0, NULL};
    int rc;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOi", &buffer, &spec, &root)) return NULL;
    if (!PyByteArray_Check(buffer)) {
        PyErr_SetString(PyExc_TypeError, "sort_maps needs a bytearray");
        return NULL;
    }
    if (load_plans(spec, &c) < 0) {
        free_plans(&c);
        return NULL;
    }
    if (root < 0 || root >= c.nplans) {
        free_plans(&c);
        PyErr_SetString(PyExc_ValueError, "invalid root plan");
        return NULL;
    }
    if (PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE) < 0) {
        free_plans(&c);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = fix(&c, (uint8_t *)view.buf, 0, (size_t)view.len, root, 0);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    free_plans(&c);
    if (rc < 0) {
        PyErr_SetString(PyExc_ValueError, c.error ? c.error : "cannot canonicalize message");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"sort_maps", py_sort_maps, METH_VARARGS,
     "sort_maps(buf: bytearray, plans: tuple, root: int): reorder map entries in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_deterministic",
    "Compiled map-entry sorting (accelerator of savedmodel_io.proto.deterministic).", -1, methods,
};

PyMODINIT_FUNC PyInit__deterministic(void) { return PyModule_Create(&module); }
