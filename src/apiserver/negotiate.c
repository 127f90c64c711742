/* Content negotiation: which representation an Accept header asks for (plain JSON, a
 * meta.k8s.io Table, aggregated discovery) and what a Content-Type says a body is. */
#include <string.h>
#include <strings.h>

#include "apiserver/internal.h"

/* One media range "type/sub;k=v;k=v" of [s, e): the bare type and the params we care for. */
struct media {
    char type[96];
    char as[48];
    char g[48];
    char v[16];
};

static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

static void copy_lower(char *dst, size_t size, const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    if (n >= size)
        n = size - 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    dst[n] = '\0';
}

static void media_parse(const char *s, const char *e, struct media *m)
{
    memset(m, 0, sizeof(*m));
    const char *semi = memchr(s, ';', (size_t)(e - s));
    const char *te = semi ? semi : e;
    const char *ts = s;
    trim(&ts, &te);
    copy_lower(m->type, sizeof(m->type), ts, te);
    while (semi) {
        const char *ps = semi + 1;
        semi = memchr(ps, ';', (size_t)(e - ps));
        const char *pe = semi ? semi : e;
        const char *eq = memchr(ps, '=', (size_t)(pe - ps));
        if (!eq)
            continue;
        const char *ks = ps, *ke = eq, *vs = eq + 1, *ve = pe;
        trim(&ks, &ke);
        trim(&vs, &ve);
        size_t kl = (size_t)(ke - ks);
        char *dst = NULL;
        size_t size = 0;
        if (kl == 2 && strncasecmp(ks, "as", 2) == 0) {
            dst = m->as;
            size = sizeof(m->as);
        } else if (kl == 1 && (*ks == 'g' || *ks == 'G')) {
            dst = m->g;
            size = sizeof(m->g);
        } else if (kl == 1 && (*ks == 'v' || *ks == 'V')) {
            dst = m->v;
            size = sizeof(m->v);
        }
        if (dst) {
            size_t n = (size_t)(ve - vs);
            if (n >= size)
                n = size - 1;
            memcpy(dst, vs, n);
            dst[n] = '\0';
        }
    }
}

enum apiserver_out_format apiserver__negotiate(const char *accept, bool table_ok, bool discovery_ok)
{
    if (!accept)
        return APISERVER_OUT_JSON;
    const char *p = accept;
    bool any = false;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        const char *s = p;
        trim(&s, &e);
        if (s < e) {
            any = true;
            struct media m;
            media_parse(s, e, &m);
            bool json = strcmp(m.type, "application/json") == 0;
            if (json && m.as[0]) {
                if (table_ok && strcmp(m.as, "Table") == 0 && strcmp(m.g, "meta.k8s.io") == 0 &&
                    (strcmp(m.v, "v1") == 0 || strcmp(m.v, "v1beta1") == 0))
                    return APISERVER_OUT_TABLE;
                if (discovery_ok && strcmp(m.as, "APIGroupDiscoveryList") == 0 &&
                    strcmp(m.g, "apidiscovery.k8s.io") == 0) {
                    if (strcmp(m.v, "v2") == 0)
                        return APISERVER_OUT_DISCOVERY;
                    if (strcmp(m.v, "v2beta1") == 0)
                        return APISERVER_OUT_DISCOVERY_V2BETA1;
                }
                /* Other conversions (PartialObjectMetadata…) are not served: next range. */
            } else if (json || strcmp(m.type, "*/*") == 0 || strcmp(m.type, "application/*") == 0 ||
                       m.type[0] == '\0') {
                return APISERVER_OUT_JSON;
            }
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return any ? APISERVER_OUT_PROTOBUF_ONLY : APISERVER_OUT_JSON;
}

enum apiserver_in_format apiserver__content_type(const char *content_type)
{
    if (!content_type)
        return APISERVER_IN_JSON;
    const char *s = content_type;
    const char *e = strchr(s, ';');
    if (!e)
        e = s + strlen(s);
    trim(&s, &e);
    char t[96];
    copy_lower(t, sizeof(t), s, e);
    static const struct {
        const char *type;
        enum apiserver_in_format fmt;
    } table[] = {
        {"", APISERVER_IN_JSON},
        {"application/json", APISERVER_IN_JSON},
        {"application/yaml", APISERVER_IN_YAML},
        {"application/vnd.kubernetes.protobuf", APISERVER_IN_PROTOBUF},
        {"application/json-patch+json", APISERVER_IN_JSON_PATCH},
        {"application/merge-patch+json", APISERVER_IN_MERGE_PATCH},
        {"application/strategic-merge-patch+json", APISERVER_IN_STRATEGIC_PATCH},
        {"application/apply-patch+yaml", APISERVER_IN_APPLY_PATCH},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(t, table[i].type) == 0)
            return table[i].fmt;
    return APISERVER_IN_UNSUPPORTED;
}
