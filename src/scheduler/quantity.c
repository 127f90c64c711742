/* Resource quantities ("100m", "2Gi", "1e3") as exact integers, and resource-list arithmetic
 * for the scheduler's views. Exact arithmetic (no floating point) so that "0.1" cpu is 100
 * millicores, never 101 after rounding up. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "scheduler/internal.h"
#include "scheduler/view.h"

struct suffix {
    const char *text;
    int base10; /* power of ten */
    int base2;  /* power of two */
};

static const struct suffix suffixes[] = {
    {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"", 0, 0},    {"k", 3, 0},   {"M", 6, 0},
    {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
};

static int bad(struct k8c_err **err, const char *text)
{
    return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                       "quantities must match the regular expression "
                       "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': \"%s\"",
                       text);
}

int scheduler_quantity_parse(const json_t *q, int64_t scale, int64_t *out, struct k8c_err **err)
{
    char numbuf[64];
    const char *text;
    if (json_is_string(q)) {
        text = json_string_value(q);
    } else if (json_is_integer(q)) {
        snprintf(numbuf, sizeof(numbuf), "%lld", (long long)json_integer_value(q));
        text = numbuf;
    } else if (json_is_real(q)) {
        snprintf(numbuf, sizeof(numbuf), "%.9f", json_real_value(q));
        text = numbuf;
    } else {
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "a quantity must be a string");
    }
    const char *p = text;
    bool negative = false;
    if (*p == '+' || *p == '-')
        negative = *p++ == '-';
    /* Mantissa: up to 30 significant digits in an __int128; further fraction digits only
     * matter for rounding up, which `inexact` remembers. */
    __int128 mant = 0;
    int exp10 = 0, digits = 0;
    bool seen_digit = false, seen_dot = false, inexact = false;
    for (; *p; p++) {
        if (*p == '.') {
            if (seen_dot)
                return bad(err, text);
            seen_dot = true;
            continue;
        }
        if (!isdigit((unsigned char)*p))
            break;
        seen_digit = true;
        int d = *p - '0';
        if (digits < 30) {
            mant = mant * 10 + d;
            if (mant != 0)
                digits++;
            if (seen_dot)
                exp10--;
        } else {
            if (!seen_dot)
                exp10++;
            else if (d != 0)
                inexact = true;
        }
    }
    if (!seen_digit)
        return bad(err, text);
    int base2 = 0;
    if (*p == 'e' || *p == 'E') {
        /* An exponent, unless this is the suffix "E" alone (exa). */
        const char *q2 = p + 1;
        if (*q2 == '+' || *q2 == '-')
            q2++;
        if (isdigit((unsigned char)*q2)) {
            char *end = NULL;
            long e = strtol(p + 1, &end, 10);
            if (*end != '\0' || e > 100 || e < -100)
                return bad(err, text);
            exp10 += (int)e;
            p = end;
        }
    }
    if (*p != '\0') {
        const struct suffix *s = NULL;
        for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
            if (strcmp(suffixes[i].text, p) == 0)
                s = &suffixes[i];
        if (s == NULL)
            return bad(err, text);
        exp10 += s->base10;
        base2 = s->base2;
    }
    /* value * scale, where scale is a power of ten (1 or 1000). */
    for (int64_t sc = scale; sc > 1; sc /= 10)
        exp10++;
    const __int128 limit = (__int128)INT64_MAX;
    __int128 v = mant;
    for (int i = 0; i < base2; i++) {
        v <<= 1;
        if (v > limit)
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "quantity \"%s\" is too large",
                               text);
    }
    if (exp10 >= 0) {
        for (int i = 0; i < exp10; i++) {
            v *= 10;
            if (v > limit)
                return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "quantity \"%s\" is too large",
                                   text);
        }
    } else {
        for (int i = 0; i < -exp10 && v != 0; i++) {
            if (v % 10 != 0)
                inexact = true;
            v /= 10;
        }
        if (v == 0 && mant != 0)
            inexact = true;
    }
    if (inexact && !negative)
        v++; /* Kubernetes rounds up */
    if (v > limit)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "quantity \"%s\" is too large", text);
    *out = negative ? -(int64_t)v : (int64_t)v;
    return 0;
}

int64_t scheduler_resources_get(const struct scheduler_resources *r, const char *name)
{
    if (strcmp(name, "cpu") == 0)
        return r->milli_cpu;
    if (strcmp(name, "memory") == 0)
        return r->memory;
    if (strcmp(name, "ephemeral-storage") == 0)
        return r->ephemeral;
    if (strcmp(name, "pods") == 0)
        return r->pods;
    for (size_t i = 0; i < r->n_scalar; i++)
        if (strcmp(r->scalar[i].name, name) == 0)
            return r->scalar[i].value;
    return 0;
}

static int64_t *scalar_slot(struct scheduler_resources *r, const char *name)
{
    for (size_t i = 0; i < r->n_scalar; i++)
        if (strcmp(r->scalar[i].name, name) == 0)
            return &r->scalar[i].value;
    r->scalar = xrealloc(r->scalar, (r->n_scalar + 1) * sizeof(*r->scalar));
    r->scalar[r->n_scalar] = (struct scheduler_scalar){xstrdup(name), 0};
    return &r->scalar[r->n_scalar++].value;
}

/* *a += sign * b, saturating: hostile quantities must not make sums wrap around. */
static void add_sat(int64_t *a, int64_t b, int sign)
{
    int64_t r;
    if (sign < 0 ? __builtin_sub_overflow(*a, b, &r) : __builtin_add_overflow(*a, b, &r))
        r = ((sign < 0) != (b < 0)) ? INT64_MIN : INT64_MAX;
    *a = r;
}

void scheduler_resources_add(struct scheduler_resources *a, const struct scheduler_resources *b,
                             int sign)
{
    add_sat(&a->milli_cpu, b->milli_cpu, sign);
    add_sat(&a->memory, b->memory, sign);
    add_sat(&a->ephemeral, b->ephemeral, sign);
    add_sat(&a->pods, b->pods, sign);
    for (size_t i = 0; i < b->n_scalar; i++)
        add_sat(scalar_slot(a, b->scalar[i].name), b->scalar[i].value, sign);
}

void scheduler_resources_clear(struct scheduler_resources *r)
{
    for (size_t i = 0; i < r->n_scalar; i++)
        free(r->scalar[i].name);
    free(r->scalar);
    memset(r, 0, sizeof(*r));
}

void scheduler__resources_set(struct scheduler_resources *r, const char *name, int64_t v)
{
    if (strcmp(name, "cpu") == 0)
        r->milli_cpu = v;
    else if (strcmp(name, "memory") == 0)
        r->memory = v;
    else if (strcmp(name, "ephemeral-storage") == 0)
        r->ephemeral = v;
    else if (strcmp(name, "pods") == 0)
        r->pods = v;
    else
        *scalar_slot(r, name) = v;
}

char *scheduler_image_normalize(const char *image)
{
    const char *colon = strrchr(image, ':');
    const char *slash = strrchr(image, '/');
    if (colon == NULL || (slash != NULL && colon < slash))
        return xasprintf("%s:latest", image);
    return xstrdup(image);
}
