/* Snapshots of the store (`k8c store snapshot|restore|migrate`), shared by snapshot_format.c (the
 * portable file format), snapshot_cli.c (the commands, copying keys between stores),
 * snapshot_sqlite.c (SQLite's online backup API) and the fuzz target of the format's reader.
 *
 * Two kinds of snapshot file:
 * - an SQLite store (SQLite's online backup of <data-dir>/db/state.db): every revision and
 *   all uncompacted history, byte for byte what the server would have;
 * - k8c's portable format, for etcd stores (every key's latest value at one revision, read
 *   page by page at that revision):
 *     "K8CSNAP\n"  u32 version (1)  i64 revision
 *     per key, in increasing key order:
 *       u32 key_len (1..4096)  u32 value_len (<= 1.5 MiB)  i64 create_revision
 *       i64 mod_revision  key bytes  value bytes
 *     u32 0xFFFFFFFF  u64 key count  SHA-256 of every byte before it (32 bytes)
 *   integers big-endian. Either file restores into either backend. */
#ifndef K8C_STORE_SNAPSHOT_INTERNAL_H
#define K8C_STORE_SNAPSHOT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "store/store.h"

#define SNAP_MAGIC "K8CSNAP\n"
#define SNAP_VERSION 1u

/* ---- the portable format (snapshot_format.c) ---- */

struct snap_writer;
/* Starts a portable snapshot of `revision` on f (not closed by the writer). */
struct snap_writer *store__snap_writer_new(FILE *f, int64_t revision);
/* Appends one key (keys must come in increasing order). 0, or -1 with *err on I/O errors. */
int store__snap_write(struct snap_writer *w, const struct store_kv *kv, struct k8c_err **err);
/* Writes the trailer, flushes and fsyncs f, frees w. Returns 0, or -1 with *err. */
int store__snap_writer_finish(struct snap_writer *w, struct k8c_err **err);
void store__snap_writer_free(struct snap_writer *w);

/* Called for each key read; a non-zero return stops the read with that result. */
typedef int (*snap_kv_fn)(const struct store_kv *kv, void *opaque, struct k8c_err **err);

/* Reads a portable snapshot from f (named `name` in errors), calling fn (may be NULL) for
 * each key, and checks everything: the magic and version, each record's lengths and
 * revisions, increasing keys, the count and the checksum, nothing after the end. Sets
 * *revision and *count. Returns 0, or -1 with *err (INVALID for a bad or corrupt file).
 * fn sees keys before the checksum is checked: verify with fn NULL before applying. */
int store__snap_read(FILE *f, const char *name, snap_kv_fn fn, void *opaque, int64_t *revision,
                     uint64_t *count, struct k8c_err **err);

/* Whether the file starts like an SQLite database ("SQLite format 3\0"). */
bool store__snap_is_sqlite(const char *path);

/* ---- SQLite (snapshot_sqlite.c) ---- */

/* Copies the SQLite store at db_path into out_path with SQLite's online backup API: one read
 * transaction (a WAL snapshot), so the copy is consistent while the server keeps writing.
 * The file appears at out_path only when complete (written beside it, then renamed). */
int store__snap_sqlite_backup(const char *db_path, const char *out_path, struct k8c_err **err);
/* Replaces the store file db_path with the snapshot file src (whose integrity the caller
 * checked) and removes the old write-ahead log. The store must be closed. */
int store__snap_sqlite_install(const char *src, const char *db_path, struct k8c_err **err);
/* Raises the compaction floor of the (closed, empty) SQLite store at db_path to revision, so
 * the keys written next get revisions above it and reads or watches at older revisions are
 * answered 410 Gone (clients re-list): etcd's `snapshot restore --bump-revision
 * --mark-compacted`. */
int store__snap_sqlite_bump(const char *db_path, int64_t revision, struct k8c_err **err);

#endif
