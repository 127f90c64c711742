/* Routing: turns a decoded URL path into what it names - a fixed endpoint (/version,
 * /healthz, /metrics, discovery, OpenAPI) or a resource (kind, namespace, name,
 * subresource) of the kinds table. Pure: no I/O, so it is unit tested and fuzzed directly. */
#include <stdlib.h>
#include <string.h>

#include "apiserver/internal.h"
#include "base/mem.h"

#define MAX_SEGS 12

static bool group_served(const char *group)
{
    size_t n = 0;
    const struct api_kind *all = api_kinds_all(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].group, group) == 0)
            return true;
    return false;
}

static bool gv_served(const char *group, const char *version)
{
    size_t n = 0;
    const struct api_kind *all = api_kinds_all(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].group, group) == 0 && strcmp(all[i].version, version) == 0)
            return true;
    return false;
}

static int check_name(const char *name, const char *what, struct k8c_err **err)
{
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "%s may not be \"%s\"", what, name);
    if (strlen(name) > 253)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "%s must be no more than 253 characters",
                           what);
    for (const char *p = name; *p; p++)
        if (*p == '%' || (unsigned char)*p < 0x20)
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "%s may not contain \"%c\"", what,
                               *p == '%' ? '%' : '?');
    return 0;
}

static int not_found(struct k8c_err **err)
{
    return k8c_err_set(err, 0, K8C_REASON_NOT_FOUND,
                       "the server could not find the requested "
                       "resource");
}

static void copy(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (n >= size)
        n = size - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* segs[0..n) after /api/v1 or /apis/g/v. */
static int route_resource(const char *group, const char *version, char **segs, size_t n,
                          struct apiserver_route *r, struct k8c_err **err)
{
    size_t i = 0;
    if (n > 0 && strcmp(segs[0], "watch") == 0) {
        r->legacy_watch = true;
        i = 1;
    }
    if (i >= n)
        return not_found(err);
    const char *ns = NULL;
    if (strcmp(segs[i], "namespaces") == 0 && n - i >= 3) {
        const struct api_kind *k = api_kind_by_resource(group, version, segs[i + 2]);
        if (k && k->namespaced) {
            ns = segs[i + 1];
            i += 2;
        } else if (!group[0] && n - i == 3) {
            /* /api/v1/namespaces/<ns>/<sub>: a subresource of the namespace itself. */
        } else {
            copy(r->resource, sizeof(r->resource), segs[i + 2]);
            return not_found(err);
        }
    }
    copy(r->resource, sizeof(r->resource), segs[i]);
    const struct api_kind *k = api_kind_by_resource(group, version, segs[i]);
    if (!k)
        return not_found(err);
    if (ns && !k->namespaced)
        return not_found(err);
    size_t left = n - i - 1;
    if (left > 2)
        return not_found(err);
    if (ns && check_name(ns, "namespace", err) < 0)
        return -1;
    r->kind = k;
    r->ns = ns ? xstrdup(ns) : NULL;
    if (left >= 1) {
        if (k->namespaced && !ns)
            return not_found(err); /* an object of a namespaced kind needs its namespace */
        if (check_name(segs[i + 1], "name", err) < 0)
            return -1;
        r->name = xstrdup(segs[i + 1]);
    }
    if (left == 2) {
        if (r->legacy_watch || !api_kind_subresource(k, segs[i + 2]))
            return not_found(err);
        r->subresource = xstrdup(segs[i + 2]);
    }
    r->type = ROUTE_RESOURCE;
    return 0;
}

static int route_segs(char **segs, size_t n, struct apiserver_route *r, struct k8c_err **err)
{
    if (n == 0)
        return not_found(err);
    const char *s0 = segs[0];
    if (strcmp(s0, "version") == 0 && n == 1) {
        r->type = ROUTE_VERSION;
        return 0;
    }
    if (strcmp(s0, "healthz") == 0 || strcmp(s0, "livez") == 0 || strcmp(s0, "readyz") == 0) {
        if (n > 2)
            return not_found(err);
        r->type = ROUTE_HEALTH;
        copy(r->resource, sizeof(r->resource), s0);
        return 0;
    }
    if (strcmp(s0, "metrics") == 0 && n == 1) {
        r->type = ROUTE_METRICS;
        return 0;
    }
    if (strcmp(s0, "swagger.json") == 0 && n == 1) {
        r->type = ROUTE_OPENAPI_V2;
        return 0;
    }
    if (strcmp(s0, "openapi") == 0) {
        if (n == 2 && strcmp(segs[1], "v2") == 0) {
            r->type = ROUTE_OPENAPI_V2;
            return 0;
        }
        if (n >= 2 && strcmp(segs[1], "v3") == 0) {
            if (n == 2) {
                r->type = ROUTE_OPENAPI_V3;
                return 0;
            }
            if (n == 4 && strcmp(segs[2], "api") == 0) {
                copy(r->version, sizeof(r->version), segs[3]);
                r->type = ROUTE_OPENAPI_V3_DOC;
                return 0;
            }
            if (n == 5 && strcmp(segs[2], "apis") == 0) {
                copy(r->group, sizeof(r->group), segs[3]);
                copy(r->version, sizeof(r->version), segs[4]);
                r->type = ROUTE_OPENAPI_V3_DOC;
                return 0;
            }
        }
        return not_found(err);
    }
    if (strcmp(s0, "api") == 0) {
        if (n == 1) {
            r->type = ROUTE_API;
            return 0;
        }
        if (!gv_served("", segs[1]))
            return not_found(err);
        copy(r->version, sizeof(r->version), segs[1]);
        if (n == 2) {
            r->type = ROUTE_GROUP_VERSION;
            return 0;
        }
        return route_resource("", segs[1], segs + 2, n - 2, r, err);
    }
    if (strcmp(s0, "apis") == 0) {
        if (n == 1) {
            r->type = ROUTE_APIS;
            return 0;
        }
        if (n == 4 && strcmp(segs[1], "authorization.k8s.io") == 0 && strcmp(segs[2], "v1") == 0 &&
            strcmp(segs[3], "selfsubjectaccessreviews") == 0) {
            r->type = ROUTE_ACCESS_REVIEW;
            copy(r->resource, sizeof(r->resource), segs[3]);
            return 0;
        }
        if (strlen(segs[1]) >= sizeof(r->group) || !group_served(segs[1]))
            return not_found(err);
        copy(r->group, sizeof(r->group), segs[1]);
        if (n == 2) {
            r->type = ROUTE_GROUP;
            return 0;
        }
        if (!gv_served(segs[1], segs[2]))
            return not_found(err);
        copy(r->version, sizeof(r->version), segs[2]);
        if (n == 3) {
            r->type = ROUTE_GROUP_VERSION;
            return 0;
        }
        return route_resource(segs[1], segs[2], segs + 3, n - 3, r, err);
    }
    return not_found(err);
}

int apiserver__route_parse(const char *path, struct apiserver_route *route, struct k8c_err **err)
{
    memset(route, 0, sizeof(*route));
    if (!path || path[0] != '/')
        return not_found(err);
    _cleanup_free_ char *copy_path = xstrdup(path + 1);
    char *segs[MAX_SEGS];
    size_t n = 0;
    char *p = copy_path;
    size_t len = strlen(p);
    if (len > 0 && p[len - 1] == '/')
        p[len - 1] = '\0'; /* one trailing slash is tolerated */
    if (*p) {
        for (;;) {
            char *slash = strchr(p, '/');
            if (slash)
                *slash = '\0';
            if (*p == '\0' || n == MAX_SEGS)
                return not_found(err);
            segs[n++] = p;
            if (!slash)
                break;
            p = slash + 1;
        }
    }
    int rc = route_segs(segs, n, route, err);
    if (rc < 0) {
        apiserver__route_clear(route);
        route->type = ROUTE_NOT_FOUND;
    }
    return rc;
}

void apiserver__route_clear(struct apiserver_route *route)
{
    free(route->ns);
    free(route->name);
    free(route->subresource);
    route->ns = route->name = route->subresource = NULL;
}
