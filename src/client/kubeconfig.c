/* Loading a kubeconfig's current context into a struct client_config. */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/yaml.h"
#include "client/client.h"

#define KUBECONFIG_MAX_BYTES (4u << 20)

/* Finds the entry called name in a kubeconfig list ("clusters", "users", "contexts") and
 * returns its `field` object (borrowed), or NULL. */
static json_t *named_entry(const json_t *root, const char *list, const char *name,
                           const char *field)
{
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get(root, list), i, item) {
        const char *n = json_string_value(json_object_get(item, "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return json_object_get(item, field);
    }
    return NULL;
}

/* Reads inline base64 `<field>-data` or the file named by `<field>` (relative to dir).
 * Returns a new string, NULL when neither is set (not an error), or NULL with *err. */
static char *inline_or_file(const json_t *obj, const char *field, const char *dir, bool *failed,
                            struct k8c_err **err)
{
    _cleanup_free_ char *data_key = xasprintf("%s-data", field);
    const char *b64 = json_string_value(json_object_get(obj, data_key));
    if (b64 != NULL) {
        size_t len;
        char *out = codec_base64_decode(b64, strlen(b64), &len, err);
        if (out == NULL) {
            *failed = true;
            k8c_err_wrap(err, "%s", data_key);
        }
        return out;
    }
    const char *path = json_string_value(json_object_get(obj, field));
    if (path == NULL)
        return NULL;
    _cleanup_free_ char *full = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", dir, path);
    char *out = file_read_all(full, KUBECONFIG_MAX_BYTES, NULL, err);
    if (out == NULL) {
        *failed = true;
        k8c_err_wrap(err, "%s", field);
    }
    return out;
}

static void trim_trailing_newlines(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

static int load(const char *path, const json_t *root, struct client_config *out,
                struct k8c_err **err)
{
    const char *current = json_string_value(json_object_get(root, "current-context"));
    if (current == NULL || *current == '\0')
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "no current-context is set");
    json_t *context = named_entry(root, "contexts", current, "context");
    if (!json_is_object(context))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "context \"%s\" not found", current);
    const char *cluster_name = json_string_value(json_object_get(context, "cluster"));
    const char *user_name = json_string_value(json_object_get(context, "user"));
    json_t *cluster = cluster_name ? named_entry(root, "clusters", cluster_name, "cluster") : NULL;
    if (!json_is_object(cluster))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "cluster \"%s\" not found",
                           cluster_name ? cluster_name : "");
    const char *server = json_string_value(json_object_get(cluster, "server"));
    if (server == NULL || *server == '\0')
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "cluster \"%s\" has no server",
                           cluster_name);
    json_t *user = user_name ? named_entry(root, "users", user_name, "user") : NULL;

    _cleanup_free_ char *path_copy = xstrdup(path);
    const char *dir = dirname(path_copy);
    bool failed = false;
    out->server = xstrdup(server);
    out->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
    out->ca_pem = inline_or_file(cluster, "certificate-authority", dir, &failed, err);
    if (!failed && json_is_object(user)) {
        out->cert_pem = inline_or_file(user, "client-certificate", dir, &failed, err);
        if (!failed)
            out->key_pem = inline_or_file(user, "client-key", dir, &failed, err);
        const char *token = json_string_value(json_object_get(user, "token"));
        if (!failed && token != NULL)
            out->token = xstrdup(token);
        else if (!failed && json_string_value(json_object_get(user, "tokenFile")) != NULL) {
            const char *tf = json_string_value(json_object_get(user, "tokenFile"));
            _cleanup_free_ char *full = tf[0] == '/' ? xstrdup(tf) : xasprintf("%s/%s", dir, tf);
            out->token = file_read_all(full, KUBECONFIG_MAX_BYTES, NULL, err);
            failed = out->token == NULL;
            trim_trailing_newlines(out->token);
        }
    }
    const char *ns = json_string_value(json_object_get(context, "namespace"));
    if (ns != NULL)
        out->namespace = xstrdup(ns);
    return failed ? -1 : 0;
}

int client_config_load(const char *kubeconfig_path, struct client_config *out, struct k8c_err **err)
{
    memset(out, 0, sizeof(*out));
    size_t len = 0;
    _cleanup_free_ char *text = file_read_all(kubeconfig_path, KUBECONFIG_MAX_BYTES, &len, err);
    if (text == NULL)
        return -1;
    _cleanup_json_ json_t *root = kyaml_load_one(text, len, NULL, err);
    if (root == NULL || !json_is_object(root)) {
        if (root != NULL)
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "not a kubeconfig object");
        return k8c_err_wrap(err, "kubeconfig `%s`", kubeconfig_path);
    }
    if (load(kubeconfig_path, root, out, err) < 0) {
        client_config_clear(out);
        return k8c_err_wrap(err, "kubeconfig `%s`", kubeconfig_path);
    }
    return 0;
}

void client_config_clear(struct client_config *cfg)
{
    free(cfg->server);
    free(cfg->ca_pem);
    free(cfg->cert_pem);
    free(cfg->key_pem);
    free(cfg->token);
    free(cfg->namespace);
    memset(cfg, 0, sizeof(*cfg));
}
