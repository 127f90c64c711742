/* JSON helpers (see json.h). */
#include "base/json.h"

#include <string.h>

#include "base/mem.h"

json_t *kjson_parse(const char *data, size_t len, struct k8c_err **err)
{
    json_error_t jerr;
    /* DECODE_ANY: callers check the top-level type themselves and can say what they wanted. */
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "invalid JSON at line %d, column %d: %s",
                    jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    return v;
}

static int dump_to_buf(const char *chunk, size_t size, void *opaque)
{
    buf_append(opaque, chunk, size);
    return 0;
}

void kjson_dump(const json_t *v, struct buf *out)
{
    int rc = json_dump_callback(v, dump_to_buf, out,
                                JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    K8C_ASSERT(rc == 0);
}

char *kjson_dumps(const json_t *v)
{
    struct buf out = BUF_INIT;
    kjson_dump(v, &out);
    return buf_steal(&out);
}

json_t *kjson_path(const json_t *root, const char *dotted)
{
    const json_t *cur = root;
    const char *p = dotted;
    while (cur != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, p, n);
        p += n;
        if (*p == '.')
            p++;
    }
    return (json_t *)cur;
}

const char *kjson_path_str(const json_t *root, const char *dotted)
{
    return json_string_value(kjson_path(root, dotted));
}

json_t *kjson_object_ensure(json_t *obj, const char *key)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *child = json_object_get(obj, key);
    if (child == NULL) {
        child = json_object();
        json_object_set_new(obj, key, child);
    }
    return json_is_object(child) ? child : NULL;
}

void kjson_decrefp(json_t **v)
{
    json_decref(*v);
    *v = NULL;
}
