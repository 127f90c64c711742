/* Pulls: resolve the manifest (choosing a platform from an index), fetch the config, then
 * download and unpack the layers on a few worker threads, so that one layer unpacks while
 * others download; a progress bar or log lines on stderr; the image recorded last. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "image/internal.h"

struct layer_job {
    const struct image__descriptor *desc;
    const char *diff_id;
    struct image__progress progress;
    struct k8c_err *err;
};

struct pull {
    struct image_store *store;
    struct image__registry *reg;
    struct layer_job *jobs;
    size_t n;
    size_t next; /* next job to take (under mu) */
    size_t finished;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool failed;
};

static void *worker(void *opaque)
{
    struct pull *p = opaque;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (p->next >= p->n || p->failed) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        struct layer_job *j = &p->jobs[p->next++];
        pthread_mutex_unlock(&p->mu);

        int rc = 0;
        _cleanup_free_ char *dir = image__layer_path(p->store, j->diff_id);
        /* Both present: nothing to do. (A layer unpacked from another image may come with a
         * differently compressed blob: this image's blob is still fetched, for export.) */
        if (access(dir, F_OK) == 0 && image__blob_exists(p->store, j->desc->digest)) {
            __atomic_store_n(&j->progress.done, j->desc->size, __ATOMIC_RELAXED);
        } else {
            rc = image__registry_blob(p->reg, p->store, j->desc->digest, j->desc->size,
                                      &j->progress, &j->err);
            if (rc == 0) {
                __atomic_store_n(&j->progress.stage, IMAGE_STAGE_UNPACKING, __ATOMIC_RELAXED);
                rc = image__layer_ensure(p->store, j->desc->digest, j->desc->media_type, j->diff_id,
                                         &j->err);
            }
        }
        __atomic_store_n(&j->progress.stage, rc < 0 ? IMAGE_STAGE_FAILED : IMAGE_STAGE_DONE,
                         __ATOMIC_RELAXED);
        pthread_mutex_lock(&p->mu);
        p->finished++;
        if (rc < 0)
            p->failed = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
    }
}

static void human(uint64_t b, char out[16])
{
    if (b >= 1000000000)
        snprintf(out, 16, "%.2fGB", (double)b / 1e9);
    else if (b >= 1000000)
        snprintf(out, 16, "%.1fMB", (double)b / 1e6);
    else if (b >= 1000)
        snprintf(out, 16, "%.1fkB", (double)b / 1e3);
    else
        snprintf(out, 16, "%lluB", (unsigned long long)b);
}

static const char *stage_name(int stage)
{
    static const char *names[] = {"waiting", "downloading", "unpacking", "done", "failed"};
    return stage >= 0 && stage < 5 ? names[stage] : "?";
}

/* Redraws one line per layer and a total line (bar mode), or prints a line per stage change
 * (log mode). *drawn is how many lines the last redraw printed. */
static void show(struct pull *p, enum image_progress mode, int *last_stage, int *drawn)
{
    if (mode == IMAGE_PROGRESS_LOG) {
        for (size_t i = 0; i < p->n; i++) {
            int st = __atomic_load_n(&p->jobs[i].progress.stage, __ATOMIC_RELAXED);
            if (st == last_stage[i] || st == IMAGE_STAGE_WAITING)
                continue;
            last_stage[i] = st;
            char size[16];
            human(p->jobs[i].desc->size, size);
            fprintf(stderr, "layer %.19s %s (%s)\n", p->jobs[i].desc->digest, stage_name(st), size);
        }
        return;
    }
    if (*drawn > 0)
        fprintf(stderr, "\033[%dA", *drawn);
    uint64_t all = 0, total = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct image__progress *pr = &p->jobs[i].progress;
        uint64_t done = __atomic_load_n(&pr->done, __ATOMIC_RELAXED);
        uint64_t size = p->jobs[i].desc->size;
        int st = __atomic_load_n(&pr->stage, __ATOMIC_RELAXED);
        all += done;
        total += size;
        int width = 30, fill = size ? (int)((double)done / (double)size * width) : width;
        char bar[32];
        for (int k = 0; k < width; k++)
            bar[k] = k < fill ? '=' : ' ';
        bar[width] = '\0';
        char a[16], b[16];
        human(done, a);
        human(size, b);
        fprintf(stderr, "\033[2K%.19s [%s] %9s/%-9s %s\n", p->jobs[i].desc->digest, bar, a, b,
                stage_name(st));
    }
    char a[16], b[16];
    human(all, a);
    human(total, b);
    fprintf(stderr, "\033[2Ktotal %s/%s\n", a, b);
    *drawn = (int)p->n + 1;
}

/* Downloads and unpacks every layer of m; returns 0 or -1 with the first failure. */
static int fetch_layers(struct image_store *store, struct image__registry *reg,
                        const struct image__manifest *m, char **diff_ids,
                        const struct image_pull_options *opts, struct k8c_err **err)
{
    struct pull p = {.store = store, .reg = reg, .n = m->n};
    p.jobs = xcalloc(m->n, sizeof(*p.jobs));
    for (size_t i = 0; i < m->n; i++) {
        p.jobs[i].desc = &m->items[i];
        p.jobs[i].diff_id = diff_ids[i];
    }
    pthread_mutex_init(&p.mu, NULL);
    clock_cond_init_mono(&p.cond);
    size_t n_threads = opts && opts->parallel > 0 ? (size_t)opts->parallel : 4;
    if (n_threads > m->n)
        n_threads = m->n;
    pthread_t *threads = xcalloc(n_threads, sizeof(pthread_t));
    size_t started = 0;
    for (; started < n_threads; started++)
        if (pthread_create(&threads[started], NULL, worker, &p) != 0)
            break;
    if (started == 0)
        worker(&p); /* no thread could start: do the work here */
    enum image_progress mode = opts ? opts->progress : IMAGE_PROGRESS_NONE;
    int *last_stage = xcalloc(m->n, sizeof(int));
    int drawn = 0;
    pthread_mutex_lock(&p.mu);
    while (p.finished < p.n && !(p.failed && p.finished >= p.next)) {
        struct timespec ts = clock_mono_after(200 * 1000000ull);
        pthread_cond_timedwait(&p.cond, &p.mu, &ts);
        if (mode != IMAGE_PROGRESS_NONE) {
            pthread_mutex_unlock(&p.mu);
            show(&p, mode, last_stage, &drawn);
            pthread_mutex_lock(&p.mu);
        }
    }
    pthread_mutex_unlock(&p.mu);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    if (mode != IMAGE_PROGRESS_NONE)
        show(&p, mode, last_stage, &drawn);
    free(last_stage);
    free(threads);
    int rc = 0;
    for (size_t i = 0; i < p.n; i++) {
        if (p.jobs[i].err != NULL && rc == 0) {
            *err = p.jobs[i].err;
            p.jobs[i].err = NULL;
            rc = -1;
        }
        k8c_err_free(p.jobs[i].err);
    }
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.mu);
    free(p.jobs);
    return rc;
}

/* Fetches the manifest for reference, checks it against `expect` (a digest, or NULL), stores
 * it and parses it into *m; its digest goes to digest_out. */
static int fetch_manifest(struct image_store *store, struct image__registry *reg,
                          const char *reference, const char *expect, struct image__manifest *m,
                          char digest_out[IMAGE_DIGEST_LEN + 1], struct k8c_err **err)
{
    size_t len = 0;
    _cleanup_free_ char *ctype = NULL;
    _cleanup_free_ char *body = image__registry_manifest(reg, reference, &len, &ctype, err);
    if (body == NULL)
        return -1;
    image__sha256_buf(body, len, digest_out);
    if (expect != NULL && strcmp(expect, digest_out) != 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "manifest digest mismatch: asked for %s, the registry sent content "
                           "hashing to %s",
                           expect, digest_out);
    if (image__manifest_parse(body, len, ctype, m, err) < 0)
        return -1;
    if (image__blob_put(store, digest_out, body, len, NULL, err) < 0) {
        image__manifest_clear(m);
        return -1;
    }
    return 0;
}

static int pull_into(struct image_store *store, const struct image_ref *ref, const char *name,
                     const struct image_pull_options *opts, struct k8c_err **err)
{
    struct image__registry *reg = image__registry_new(ref, opts, err);
    if (reg == NULL)
        return -1;
    int rc = -1;
    struct image__manifest m = {0};
    char **diff_ids = NULL;
    _cleanup_free_ char *cdata = NULL;
    char digest[IMAGE_DIGEST_LEN + 1];
    if (fetch_manifest(store, reg, ref->digest ? ref->digest : ref->tag, ref->digest, &m, digest,
                       err) < 0)
        goto out;
    if (m.kind == IMAGE_MANIFEST_INDEX) {
        int i = image__index_select(&m, opts ? opts->platform : NULL, err);
        if (i < 0)
            goto out;
        char child[IMAGE_DIGEST_LEN + 1];
        memcpy(child, m.items[i].digest, sizeof(child));
        image__manifest_clear(&m);
        if (fetch_manifest(store, reg, child, child, &m, digest, err) < 0)
            goto out;
        if (m.kind != IMAGE_MANIFEST_IMAGE) {
            k8c_err_set(err, 0, K8C_REASON_INVALID, "index entry %s is itself an index", child);
            goto out;
        }
    }
    if (m.config.size > IMAGE_MANIFEST_MAX) {
        k8c_err_set(err, 0, K8C_REASON_TOO_LARGE, "image config larger than %u bytes",
                    IMAGE_MANIFEST_MAX);
        goto out;
    }
    if (image__registry_blob(reg, store, m.config.digest, m.config.size, NULL, err) < 0)
        goto out;
    size_t clen = 0;
    cdata = image__blob_read(store, m.config.digest, IMAGE_MANIFEST_MAX, &clen, err);
    struct image_config cfg;
    if (cdata == NULL || image__config_parse(cdata, clen, &cfg, &diff_ids, err) < 0)
        goto out;
    image__config_clear(&cfg);
    size_t n_ids = 0;
    while (diff_ids[n_ids])
        n_ids++;
    if (n_ids != m.n) {
        k8c_err_set(err, 0, K8C_REASON_INVALID,
                    "image config lists %zu diff-ids but the manifest has %zu layers", n_ids, m.n);
        goto out;
    }
    if (fetch_layers(store, reg, &m, diff_ids, opts, err) < 0)
        goto out;
    rc = image__store_commit(store, name, digest, err);
out:
    mem_free_strv(&diff_ids);
    image__manifest_clear(&m);
    image__registry_free(reg);
    return rc;
}

struct image_info *image_pull(struct image_store *store, const char *refstr,
                              const struct image_pull_options *opts, struct k8c_err **err)
{
    struct image_ref ref;
    if (image_ref_parse(refstr, &ref, err) < 0)
        return NULL;
    _cleanup_free_ char *name = image__record_name(&ref);
    _cleanup_free_ char *shown = image_ref_string(&ref);
    int rc;
    {
        _cleanup_close_ int lock = image__store_lock(store, false, err);
        rc = lock < 0 ? -1 : pull_into(store, &ref, name, opts, err);
    }
    image_ref_clear(&ref);
    if (rc < 0) {
        k8c_err_wrap(err, "pull `%s`", shown);
        return NULL;
    }
    return image_store_get(store, name, err);
}

int image_pull_policy_parse(const char *s, enum image_pull_policy *out)
{
    if (strcmp(s, "Always") == 0)
        *out = IMAGE_PULL_ALWAYS;
    else if (strcmp(s, "IfNotPresent") == 0)
        *out = IMAGE_PULL_IF_NOT_PRESENT;
    else if (strcmp(s, "Never") == 0)
        *out = IMAGE_PULL_NEVER;
    else
        return -1;
    return 0;
}

struct image_info *image_ensure(struct image_store *store, const char *ref,
                                enum image_pull_policy policy,
                                const struct image_pull_options *opts, struct k8c_err **err)
{
    if (policy != IMAGE_PULL_ALWAYS) {
        struct k8c_err *e = NULL;
        struct image_info *info = image_store_get(store, ref, &e);
        if (info != NULL)
            return info;
        if (policy == IMAGE_PULL_NEVER || e->reason != K8C_REASON_NOT_FOUND) {
            image__err_pass(err, e);
            if (policy == IMAGE_PULL_NEVER && e->reason == K8C_REASON_NOT_FOUND)
                k8c_err_wrap(err, "imagePullPolicy is Never");
            return NULL;
        }
        k8c_err_free(e); /* not present: pull it */
    }
    return image_pull(store, ref, opts, err);
}
