/* Unit tests for src/image/ref.c, manifest.c and digest.c: references, manifests, indexes,
 * configs and digests. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "image/internal.h"

#define D0 "sha256:0000000000000000000000000000000000000000000000000000000000000000"

static void check_ref(const char *in, const char *want)
{
    struct image_ref r;
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = image_ref_parse(in, &r, &err);
    cr_assert(eq(int, rc, 0), "%s: %s", in, err ? err->msg : "");
    _cleanup_free_ char *s = image_ref_string(&r);
    cr_assert(eq(str, s, (char *)want));
    image_ref_clear(&r);
}

static void check_bad_ref(const char *in, const char *msg_part)
{
    struct image_ref r;
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = image_ref_parse(in, &r, &err);
    cr_assert(eq(int, rc, -1), "%s parsed", in);
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    cr_assert(strstr(err->msg, msg_part) != NULL, "%s: %s", in, err->msg);
}

Test(image_ref, normalizes_like_docker)
{
    check_ref("busybox", "docker.io/library/busybox:latest");
    check_ref("busybox:1.36", "docker.io/library/busybox:1.36");
    check_ref("user/app", "docker.io/user/app:latest");
    check_ref("index.docker.io/library/busybox", "docker.io/library/busybox:latest");
    check_ref("localhost/app", "localhost/app:latest");
    check_ref("localhost:5000/a/b/c:v1", "localhost:5000/a/b/c:v1");
    check_ref("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest");
    check_ref("[::1]:5000/x:t", "[::1]:5000/x:t");
    check_ref("quay.io/a_b/c-d/e.f__g:1.0-rc_1", "quay.io/a_b/c-d/e.f__g:1.0-rc_1");
    check_ref("busybox@" D0, "docker.io/library/busybox@" D0);
    check_ref("reg.io:443/x:tag@" D0, "reg.io:443/x:tag@" D0);
}

Test(image_ref, fields)
{
    struct image_ref r;
    cr_assert(eq(int, image_ref_parse("localhost:5000/team/app@" D0, &r, NULL), 0));
    cr_assert(eq(str, r.registry, "localhost:5000"));
    cr_assert(eq(str, r.repository, "team/app"));
    cr_assert(r.tag == NULL);
    cr_assert(eq(str, r.digest, D0));
    image_ref_clear(&r);
}

Test(image_ref, rejects_bad_references)
{
    check_bad_ref("", "empty");
    check_bad_ref("Busybox", "lower case");
    check_bad_ref("a/../b", "invalid repository component");
    check_bad_ref("a//b", "invalid repository component");
    check_bad_ref("x:", "invalid tag");
    check_bad_ref("x:-bad", "invalid tag");
    check_bad_ref("x@sha256:abc", "digest");
    check_bad_ref("x@md5:" D0, "digest");
    check_bad_ref("host:99999999/x", "invalid registry");
    check_bad_ref("-host.io/x", "invalid registry");
    check_bad_ref(":tag", "no repository");
}

Test(image_manifest, oci_manifest)
{
    const char *j = "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_OCI_MANIFEST "\","
                    "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D0 "\",\"size\":7},"
                    "\"layers\":[{\"mediaType\":\"" IMAGE_MT_OCI_LAYER_ZSTD "\",\"digest\":\"" D0
                    "\",\"size\":9}]}";
    struct image__manifest m;
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, image__manifest_parse(j, strlen(j), NULL, &m, &err), 0));
    cr_assert(eq(int, m.kind, IMAGE_MANIFEST_IMAGE));
    cr_assert(eq(sz, m.n, 1));
    cr_assert(eq(u64, m.items[0].size, 9));
    cr_assert(eq(u64, m.config.size, 7));
    image__manifest_clear(&m);
}

Test(image_manifest, docker_list_platform_selection)
{
    const char *j =
        "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_DOCKER_LIST "\",\"manifests\":["
        "{\"mediaType\":\"m\",\"digest\":\"" D0 "\",\"size\":1,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
        "{\"mediaType\":\"m\",\"digest\":\"" D0 "\",\"size\":2,"
        "\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"m\",\"digest\":\"" D0 "\",\"size\":3,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
    struct image__manifest m;
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, image__manifest_parse(j, strlen(j), NULL, &m, &err), 0));
    cr_assert(eq(int, m.kind, IMAGE_MANIFEST_INDEX));
    int i = image__index_select(&m, "linux/amd64", &err);
    cr_assert(eq(int, i, 2));
    i = image__index_select(&m, "linux/arm/v7", &err);
    cr_assert(eq(int, i, 0));
    i = image__index_select(&m, "linux/ppc64le", &err);
    cr_assert(eq(int, i, -1));
    cr_assert(strstr(err->msg, "linux/arm/v7, windows/amd64, linux/amd64") != NULL, "%s", err->msg);
    image__manifest_clear(&m);
}

static void check_bad_manifest(const char *j, const char *ctype, enum k8c_reason reason,
                               const char *part)
{
    struct image__manifest m;
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = image__manifest_parse(j, strlen(j), ctype, &m, &err);
    cr_assert(eq(int, rc, -1), "%s parsed", j);
    cr_assert(eq(int, err->reason, reason), "%s", err->msg);
    cr_assert(strstr(err->msg, part) != NULL, "%s", err->msg);
}

Test(image_manifest, rejects_bad_manifests)
{
    check_bad_manifest("{\"schemaVersion\":1}", NULL, K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                       "schemaVersion");
    check_bad_manifest("{\"schemaVersion\":2,\"mediaType\":\"text/html\"}", NULL,
                       K8C_REASON_UNSUPPORTED_MEDIA_TYPE, "`text/html`");
    check_bad_manifest("{\"schemaVersion\":2,\"layers\":[]}", "application/x-weird",
                       K8C_REASON_UNSUPPORTED_MEDIA_TYPE, "x-weird");
    check_bad_manifest("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D0 "\",\"size\":1},"
                       "\"layers\":[{\"mediaType\":\"image/png\",\"digest\":\"" D0
                       "\",\"size\":1}]}",
                       NULL, K8C_REASON_UNSUPPORTED_MEDIA_TYPE, "layers[0]");
    check_bad_manifest("{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:12\",\"size\":1},"
                       "\"layers\":[]}",
                       NULL, K8C_REASON_INVALID, "config.digest");
    check_bad_manifest("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D0 "\",\"size\":-4},"
                       "\"layers\":[]}",
                       NULL, K8C_REASON_INVALID, "config.size");
    check_bad_manifest("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D0 "\",\"size\":1,"
                       "\"platform\":{\"os\":\"linux\"}}]}",
                       NULL, K8C_REASON_INVALID, "manifests[0].platform");
    check_bad_manifest("[]", NULL, K8C_REASON_INVALID, "JSON object");
    check_bad_manifest("{", NULL, K8C_REASON_BAD_REQUEST, "invalid JSON");
}

Test(image_manifest, config)
{
    const char *j = "{\"os\":\"linux\",\"architecture\":\"arm64\",\"config\":{\"Entrypoint\":"
                    "[\"/bin/sh\"],\"Cmd\":[\"-c\",\"echo\"],\"Env\":[\"A=1\"],\"WorkingDir\":"
                    "\"/w\",\"User\":\"1000\"},\"rootfs\":{\"diff_ids\":[\"" D0 "\"]}}";
    struct image_config c;
    char **ids = NULL;
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, image__config_parse(j, strlen(j), &c, &ids, &err), 0));
    cr_assert(eq(str, c.entrypoint[0], "/bin/sh"));
    cr_assert(c.entrypoint[1] == NULL);
    cr_assert(eq(str, c.cmd[1], "echo"));
    cr_assert(eq(str, c.env[0], "A=1"));
    cr_assert(eq(str, c.working_dir, "/w"));
    cr_assert(eq(str, c.user, "1000"));
    cr_assert(eq(str, c.architecture, "arm64"));
    cr_assert(eq(str, ids[0], D0));
    mem_free_strv(&ids);
    image__config_clear(&c);
    const char *bad = "{\"config\":{\"Cmd\":[1]},\"rootfs\":{\"diff_ids\":[]}}";
    cr_assert(eq(int, image__config_parse(bad, strlen(bad), &c, &ids, &err), -1));
    cr_assert(strstr(err->msg, "config.Cmd[0]") != NULL, "%s", err->msg);
}

Test(image_digest, sha256)
{
    char d[IMAGE_DIGEST_LEN + 1];
    image__sha256_buf("abc", 3, d);
    cr_assert(
        eq(str, d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    struct image__sha256 h;
    image__sha256_init(&h);
    image__sha256_update(&h, "a", 1);
    image__sha256_update(&h, "bc", 2);
    char d2[IMAGE_DIGEST_LEN + 1];
    image__sha256_final(&h, d2);
    cr_assert(eq(str, d, d2));
    bool ok = image__digest_valid(d);
    cr_assert(ok);
    ok = image__digest_valid(
        "sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_assert(ok == false, "upper-case hex is not a digest");
}
