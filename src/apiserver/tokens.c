/* Service account tokens: TokenRequest (POST serviceaccounts/<name>/token, what `kubectl
 * create token` and kubelets ask for) issues an ES256 JWT signed with <data-dir>/tls/sa.key,
 * with Kubernetes' claims (iss, sub system:serviceaccount:<ns>:<name>, aud, exp, iat, nbf,
 * kubernetes.io{namespace, serviceaccount{name, uid}}); the authenticator accepts such a
 * token as user system:serviceaccount:<ns>:<name> in groups system:serviceaccounts and
 * system:serviceaccounts:<ns> until it expires. */
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <time.h>

#include "api/protobuf.h"
#include "api/status.h"
#include "apiserver/internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

#define ISSUER "https://kubernetes.default.svc.cluster.local"
#define MAX_TOKEN_LEN 8192

struct apiserver_tokens {
    gnutls_privkey_t priv;
    gnutls_pubkey_t pub;
};

static char *b64url(const void *data, size_t len)
{
    gnutls_datum_t in = {(unsigned char *)data, (unsigned)len};
    gnutls_datum_t out = {NULL, 0};
    if (gnutls_base64_encode2(&in, &out) < 0)
        return xstrdup("");
    char *s = xstrndup((const char *)out.data, out.size);
    gnutls_free(out.data);
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        s[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    while (n > 0 && s[n - 1] == '=')
        s[--n] = '\0';
    return s;
}

/* Decodes base64url text [s, s+n) into *out (gnutls_free it). Returns 0 or -1. */
static int unb64url(const char *s, size_t n, gnutls_datum_t *out)
{
    if (n > MAX_TOKEN_LEN)
        return -1;
    _cleanup_free_ char *b = xmalloc(n + 4);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+' || c == '/' || c == '=')
            return -1; /* not the URL alphabet */
        b[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    size_t m = n;
    while (m % 4)
        b[m++] = '=';
    gnutls_datum_t in = {(unsigned char *)b, (unsigned)m};
    return gnutls_base64_decode2(&in, out) < 0 ? -1 : 0;
}

struct apiserver_tokens *apiserver__tokens_new(const char *key_pem, struct k8c_err **err)
{
    struct apiserver_tokens *t = xcalloc(1, sizeof(*t));
    gnutls_datum_t d = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    int rc;
    if ((rc = gnutls_privkey_init(&t->priv)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(t->priv, &d, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0 ||
        (rc = gnutls_pubkey_init(&t->pub)) < 0 ||
        (rc = gnutls_pubkey_import_privkey(t->pub, t->priv, 0, 0)) < 0) {
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "service account signing key: %s",
                    gnutls_strerror(rc));
        apiserver__tokens_free(t);
        return NULL;
    }
    return t;
}

void apiserver__tokens_free(struct apiserver_tokens *t)
{
    if (!t)
        return;
    if (t->priv)
        gnutls_privkey_deinit(t->priv);
    if (t->pub)
        gnutls_pubkey_deinit(t->pub);
    free(t);
}

/* The JWS ES256 signature (raw r||s, 64 bytes) of signing_input. */
static char *sign(struct apiserver_tokens *t, const char *input)
{
    gnutls_datum_t data = {(unsigned char *)input, (unsigned)strlen(input)};
    gnutls_datum_t der = {NULL, 0}, r = {NULL, 0}, s = {NULL, 0};
    char *out = NULL;
    if (gnutls_privkey_sign_data2(t->priv, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der) == 0 &&
        gnutls_decode_rs_value(&der, &r, &s) == 0 && r.size <= 33 && s.size <= 33) {
        unsigned char raw[64] = {0};
        /* DER integers may carry a leading zero or be short: right-align into 32 bytes. */
        const unsigned char *rp = r.data + (r.size > 32 ? r.size - 32 : 0);
        const unsigned char *sp = s.data + (s.size > 32 ? s.size - 32 : 0);
        unsigned rl = r.size > 32 ? 32 : r.size, sl = s.size > 32 ? 32 : s.size;
        memcpy(raw + 32 - rl, rp, rl);
        memcpy(raw + 64 - sl, sp, sl);
        out = b64url(raw, sizeof(raw));
    }
    gnutls_free(der.data);
    gnutls_free(r.data);
    gnutls_free(s.data);
    return out;
}

char *apiserver__token_issue(struct apiserver_tokens *t, const char *ns, const char *name,
                             const char *uid, const json_t *audiences, int64_t lifetime_s,
                             int64_t *expires)
{
    time_t now = time(NULL);
    *expires = (int64_t)now + lifetime_s;
    json_t *claims =
        json_pack("{s:O, s:I, s:I, s:s, s:{s:s, s:{s:s, s:s}}, s:I, s:s}", "aud", audiences, "exp",
                  (json_int_t)*expires, "iat", (json_int_t)now, "iss", ISSUER, "kubernetes.io",
                  "namespace", ns, "serviceaccount", "name", name, "uid", uid ? uid : "", "nbf",
                  (json_int_t)now, "sub", "");
    _cleanup_free_ char *sub = xasprintf("system:serviceaccount:%s:%s", ns, name);
    json_object_set_new(claims, "sub", json_string(sub));
    _cleanup_free_ char *payload_json = kjson_dumps(claims);
    json_decref(claims);
    static const char header[] = "{\"alg\":\"ES256\",\"kid\":\"k8c\",\"typ\":\"JWT\"}";
    _cleanup_free_ char *h = b64url(header, strlen(header));
    _cleanup_free_ char *p = b64url(payload_json, strlen(payload_json));
    _cleanup_free_ char *input = xasprintf("%s.%s", h, p);
    _cleanup_free_ char *sig = sign(t, input);
    if (!sig)
        return NULL;
    return xasprintf("%s.%s", input, sig);
}

int apiserver__token_verify(struct apiserver_tokens *t, const char *jwt,
                            struct apiserver_user *user)
{
    if (!t || strlen(jwt) > MAX_TOKEN_LEN)
        return -1;
    const char *d1 = strchr(jwt, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.'))
        return -1;
    gnutls_datum_t hdr = {NULL, 0}, payload = {NULL, 0}, raw = {NULL, 0}, der = {NULL, 0};
    int result = -1;
    if (unb64url(jwt, (size_t)(d1 - jwt), &hdr) < 0 ||
        unb64url(d1 + 1, (size_t)(d2 - d1 - 1), &payload) < 0 ||
        unb64url(d2 + 1, strlen(d2 + 1), &raw) < 0 || raw.size != 64)
        goto out;
    {
        _cleanup_json_ json_t *h = kjson_parse((const char *)hdr.data, hdr.size, NULL);
        const char *alg = kjson_path_str(h, "alg");
        if (!alg || strcmp(alg, "ES256") != 0)
            goto out;
        gnutls_datum_t r = {raw.data, 32}, s = {raw.data + 32, 32};
        if (gnutls_encode_rs_value(&der, &r, &s) < 0)
            goto out;
        gnutls_datum_t input = {(unsigned char *)jwt, (unsigned)(d2 - jwt)};
        if (gnutls_pubkey_verify_data2(t->pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &input, &der) < 0)
            goto out;
        _cleanup_json_ json_t *c = kjson_parse((const char *)payload.data, payload.size, NULL);
        json_t *exp = json_object_get(c, "exp");
        const char *iss = kjson_path_str(c, "iss");
        json_t *k8s = json_object_get(c, "kubernetes.io");
        const char *ns = kjson_path_str(k8s, "namespace");
        const char *name = kjson_path_str(k8s, "serviceaccount.name");
        if (!json_is_integer(exp) || json_integer_value(exp) <= (json_int_t)time(NULL) || !iss ||
            strcmp(iss, ISSUER) != 0 || !ns || !name)
            goto out;
        memset(user, 0, sizeof(*user));
        snprintf(user->name, sizeof(user->name), "system:serviceaccount:%s:%s", ns, name);
        snprintf(user->groups[0], sizeof(user->groups[0]), "system:serviceaccounts");
        snprintf(user->groups[1], sizeof(user->groups[1]), "system:serviceaccounts:%.40s", ns);
        user->n_groups = 2;
        result = 0;
    }
out:
    gnutls_free(hdr.data);
    gnutls_free(payload.data);
    gnutls_free(raw.data);
    gnutls_free(der.data);
    return result;
}

void apiserver__serve_token_request(struct apiserver_core *core, const struct apiserver_req *req,
                                    const struct apiserver_route *route,
                                    struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    if (!core->tokens) {
        apiserver__resp_status(resp, 503, "ServiceUnavailable",
                               "service account token signing is not configured", NULL, NULL, NULL);
        return;
    }
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *body = NULL;
    if (req->body_len > 0) {
        if (apiserver__content_type(req->content_type) == APISERVER_IN_PROTOBUF)
            body = api_protobuf_decode(req->body, req->body_len, NULL, &e);
        else
            body = kjson_parse(req->body, req->body_len, &e);
        if (!body || !json_is_object(body)) {
            if (!e)
                k8c_err_set(&e, 0, K8C_REASON_BAD_REQUEST, "a TokenRequest must be an object");
            apiserver__resp_err(resp, e);
            return;
        }
        const char *kind = kjson_path_str(body, "kind");
        if (kind && strcmp(kind, "TokenRequest") != 0) {
            _cleanup_free_ char *m = xasprintf("%s is not a TokenRequest", kind);
            apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
            return;
        }
    }
    _cleanup_json_ json_t *sa = apiserver__object_read(core, k, route->ns, route->name, NULL, &e);
    if (!sa) {
        char q[128];
        apiserver__qualified(k, q, sizeof(q));
        _cleanup_json_ json_t *st = api_status_from_err(e, q, route->name);
        apiserver__resp_json(resp, k8c_reason_http_code(e->reason), st);
        return;
    }
    json_t *es = kjson_path(body, "spec.expirationSeconds");
    int64_t lifetime = json_is_integer(es) ? json_integer_value(es) : 3600;
    if (lifetime < 600) {
        apiserver__resp_status(resp, 422, "Invalid",
                               "TokenRequest.authentication.k8s.io \"\" is invalid: "
                               "spec.expirationSeconds: Invalid value: may not specify a "
                               "duration less than 10 minutes",
                               "TokenRequest", route->name, NULL);
        return;
    }
    if (lifetime > 2 * 365 * 86400)
        lifetime = 2 * 365 * 86400;
    json_t *aud = kjson_path(body, "spec.audiences");
    _cleanup_json_ json_t *audiences =
        json_array_size(aud) > 0 ? json_incref(aud) : json_pack("[s]", ISSUER);
    int64_t expires = 0;
    _cleanup_free_ char *tok =
        apiserver__token_issue(core->tokens, route->ns, route->name,
                               kjson_path_str(sa, "metadata.uid"), audiences, lifetime, &expires);
    if (!tok) {
        apiserver__resp_status(resp, 500, "InternalError",
                               "Internal error occurred: cannot sign the token", NULL, NULL, NULL);
        return;
    }
    char exp_ts[21], now_ts[21];
    clock_rfc3339((time_t)expires, exp_ts);
    clock_rfc3339(time(NULL), now_ts);
    json_t *out = json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:O, s:I}, s:{s:s, s:s}}", "kind", "TokenRequest",
        "apiVersion", "authentication.k8s.io/v1", "metadata", "name", route->name, "namespace",
        route->ns, "creationTimestamp", now_ts, "spec", "audiences", audiences, "expirationSeconds",
        (json_int_t)lifetime, "status", "token", tok, "expirationTimestamp", exp_ts);
    apiserver__resp_json(resp, 201, out);
    json_decref(out);
}
