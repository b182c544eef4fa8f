/* Compiled field counting for savedmodel_io.formats.census.
 *
 * count(data, plans, left) walks a serialized protobuf message the way census._walk does:
 * plans[i] is a tuple of (field number, kind index or -1, sub plan index or -1) rules;
 * left[k] is what may still be counted of kind k, the last kind being "fields" (every field
 * read). Returns (left, exceeded) where exceeded is the kind whose count went below zero, or
 * -1. Broken wire format stops the walk quietly (exceeded -1), as in Python.
 *
 * The pure-Python module is the reference; this is the same algorithm, compiled.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define MAX_GROUP_DEPTH 100
#define MAX_KINDS 16

typedef struct {
    uint64_t field;
    int kind;
    int sub;
} Rule;

typedef struct {
    Rule *rules;
    Py_ssize_t n;
} Plan;

typedef struct {
    const uint8_t *buf;
    Plan *plans;
    Py_ssize_t nplans;
    long long left[MAX_KINDS];
    int nkinds;
    int exceeded;
} Ctx;

enum { OK = 0, MALFORMED = 1, EXCEEDED = 2 };

static int varint(const uint8_t *buf, size_t *pos, size_t end, uint64_t *out) {
    uint64_t result = 0;
    int shift = 0;
    while (1) {
        if (*pos >= end || shift > 63) return MALFORMED;
        uint8_t b = buf[(*pos)++];
        result |= (uint64_t)(b & 0x7F) << shift;
        if (b < 0x80) {
            *out = result;
            return OK;
        }
        shift += 7;
    }
}

static const Rule *find(const Plan *plan, uint64_t field) {
    if (plan == NULL) return NULL;
    for (Py_ssize_t i = 0; i < plan->n; i++)
        if (plan->rules[i].field == field) return &plan->rules[i];
    return NULL;
}

/* One message in buf[*pos:end]; a group (depth > 0) ends at its end-group tag. */
static int walk(Ctx *ctx, size_t *pos, size_t end, const Plan *plan, int group) {
    const uint8_t *buf = ctx->buf;
    long long *fields = &ctx->left[ctx->nkinds - 1];
    while (*pos < end) {
        uint64_t tag, n, skip;
        if (varint(buf, pos, end, &tag)) return MALFORMED;
        *fields -= 1;
        int wire = (int)(tag & 7);
        if (wire == 2) {
            if (varint(buf, pos, end, &n)) return MALFORMED;
            if (n > end - *pos) return MALFORMED;
            const Rule *rule = find(plan, tag >> 3);
            if (rule != NULL) {
                if (rule->kind >= 0 && --ctx->left[rule->kind] < 0) {
                    ctx->exceeded = rule->kind;
                    return EXCEEDED;
                }
                if (rule->sub >= 0) {
                    size_t inner = *pos;
                    int r = walk(ctx, &inner, *pos + n, &ctx->plans[rule->sub], 0);
                    if (r) return r;
                }
            }
            *pos += n;
        } else if (wire == 0) {
            if (varint(buf, pos, end, &skip)) return MALFORMED;
        } else if (wire == 1 || wire == 5) {
            size_t width = wire == 1 ? 8 : 4;
            if (width > end - *pos) return MALFORMED;
            *pos += width;
        } else if (wire == 3 && group < MAX_GROUP_DEPTH) {
            int r = walk(ctx, pos, end, NULL, group + 1);
            if (r) return r;
        } else if (wire == 4 && group) {
            return OK;
        } else {
            return MALFORMED;
        }
        if (tag < 8) return MALFORMED; /* field number 0 */
        if (*fields < 0) {
            ctx->exceeded = ctx->nkinds - 1;
            return EXCEEDED;
        }
    }
    return group ? MALFORMED : OK;
}

static void free_plans(Plan *plans, Py_ssize_t n) {
    if (plans == NULL) return;
    for (Py_ssize_t i = 0; i < n; i++) PyMem_Free(plans[i].rules);
    PyMem_Free(plans);
}

static int read_plans(PyObject *seq, Ctx *ctx) {
    PyObject *fast = PySequence_Fast(seq, "plans must be a sequence");
    if (fast == NULL) return -1;
    ctx->nplans = PySequence_Fast_GET_SIZE(fast);
    ctx->plans = PyMem_Calloc(ctx->nplans ? ctx->nplans : 1, sizeof(Plan));
    if (ctx->plans == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < ctx->nplans; i++) {
        PyObject *rules = PySequence_Fast(PySequence_Fast_GET_ITEM(fast, i), "a plan is a sequence");
        if (rules == NULL) goto fail;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(rules);
        ctx->plans[i].n = n;
        ctx->plans[i].rules = PyMem_Calloc(n ? n : 1, sizeof(Rule));
        if (ctx->plans[i].rules == NULL) {
            Py_DECREF(rules);
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t j = 0; j < n; j++) {
            unsigned long long field;
            int kind, sub;
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(rules, j), "Kii", &field, &kind, &sub)) {
                Py_DECREF(rules);
                goto fail;
            }
            if (kind >= ctx->nkinds - 1 || sub >= ctx->nplans) {
                Py_DECREF(rules);
                PyErr_SetString(PyExc_ValueError, "rule refers to an unknown kind or plan");
                goto fail;
            }
            ctx->plans[i].rules[j] = (Rule){field, kind, sub};
        }
        Py_DECREF(rules);
    }
    Py_DECREF(fast);
    return 0;
fail:
    Py_DECREF(fast);
    return -1;
}

static PyObject *count(PyObject *self, PyObject *args) {
    Py_buffer view;
    PyObject *plans, *left;
    if (!PyArg_ParseTuple(args, "y*OO", &view, &plans, &left)) return NULL;
    Ctx ctx = {0};
    ctx.buf = view.buf;
    ctx.exceeded = -1;
    PyObject *result = NULL;
    PyObject *fast = PySequence_Fast(left, "left must be a sequence");
    if (fast == NULL) goto done;
    ctx.nkinds = (int)PySequence_Fast_GET_SIZE(fast);
    if (ctx.nkinds < 1 || ctx.nkinds > MAX_KINDS) {
        PyErr_SetString(PyExc_ValueError, "bad number of kinds");
        Py_DECREF(fast);
        goto done;
    }
    for (int k = 0; k < ctx.nkinds; k++) {
        ctx.left[k] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, k));
        if (ctx.left[k] == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            goto done;
        }
    }
    Py_DECREF(fast);
    if (read_plans(plans, &ctx)) goto done;
    size_t pos = 0;
    Py_BEGIN_ALLOW_THREADS
    walk(&ctx, &pos, (size_t)view.len, ctx.nplans ? &ctx.plans[0] : NULL, 0);
    Py_END_ALLOW_THREADS
    PyObject *out = PyList_New(ctx.nkinds);
    if (out == NULL) goto done;
    for (int k = 0; k < ctx.nkinds; k++) {
        PyObject *v = PyLong_FromLongLong(ctx.left[k]);
        if (v == NULL) {
            Py_DECREF(out);
            goto done;
        }
        PyList_SET_ITEM(out, k, v);
    }
    result = Py_BuildValue("(Ni)", out, ctx.exceeded);
done:
    free_plans(ctx.plans, ctx.nplans);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"count", count, METH_VARARGS, "Count a message's fields by plan: (left, exceeded kind or -1)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_census", NULL, -1, methods};

PyMODINIT_FUNC PyInit__census(void) { return PyModule_Create(&module); }
