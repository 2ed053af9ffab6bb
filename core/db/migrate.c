/* Migration runner: lists migration files, verifies applied checksums, applies
 * pending ones one transaction each under a session advisory lock. */
#include "db/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

/* "webops" in ASCII: the advisory lock key all migrators share. */
#define MIGRATE_LOCK_KEY "119101098111112115"
#define MIGRATION_MAX_BYTES (16u << 20)

struct mfile {
	char *name;
	char *sql;
	char checksum[crypto_hash_sha256_BYTES * 2 + 1];
};

struct mlist {
	struct mfile *v;
	size_t n;
};

static void mlist_release(struct mlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].sql);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int cmp_mfile(const void *a, const void *b)
{
	return strcmp(((const struct mfile *)a)->name, ((const struct mfile *)b)->name);
}

static int list_files(struct mlist *out, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return wo_error_set("cannot open migrations directory '%s': %s", dir, strerror(errno));
	regex_t re;
	regcomp(&re, "^[0-9]{4}_[a-z0-9_]+\\.sql$", REG_EXTENDED | REG_NOSUB);
	struct mlist l = { NULL, 0 };
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 4 || strcmp(e->d_name + len - 4, ".sql") != 0)
			continue;
		if (regexec(&re, e->d_name, 0, NULL, 0) != 0) {
			rc = wo_error_set("migration file '%s/%s' is misnamed: expected NNNN_name.sql "
					  "(four digits, lowercase letters, digits and '_')", dir, e->d_name);
			break;
		}
		struct mfile *nv = realloc(l.v, (l.n + 1) * sizeof(*nv));
		if (!nv) {
			rc = wo_error_set("out of memory");
			break;
		}
		l.v = nv;
		struct mfile *m = &l.v[l.n];
		memset(m, 0, sizeof(*m));
		m->name = strdup(e->d_name);
		l.n++;
		struct wo_buf path = WO_BUF_INIT;
		wo_buf_printf(&path, "%s/%s", dir, e->d_name);
		size_t sz = 0;
		rc = wo_fs_read_file(&m->sql, &sz, path.ptr, MIGRATION_MAX_BYTES);
		wo_buf_release(&path);
		if (rc < 0)
			break;
		unsigned char h[crypto_hash_sha256_BYTES];
		crypto_hash_sha256(h, (const unsigned char *)m->sql, sz);
		sodium_bin2hex(m->checksum, sizeof(m->checksum), h, sizeof(h));
	}
	regfree(&re);
	closedir(d);
	if (rc < 0) {
		mlist_release(&l);
		return -1;
	}
	qsort(l.v, l.n, sizeof(*l.v), cmp_mfile);
	/* two files with the same number make the order ambiguous */
	for (size_t i = 1; i < l.n; i++)
		if (strncmp(l.v[i - 1].name, l.v[i].name, 4) == 0) {
			wo_error_set("migrations '%s' and '%s' share the number %.4s", l.v[i - 1].name,
				     l.v[i].name, l.v[i].name);
			mlist_release(&l);
			return -1;
		}
	*out = l;
	return 0;
}

static int ensure_table(PGconn *conn)
{
	return wo_db_exec(NULL, conn,
			  "CREATE TABLE IF NOT EXISTS schema_migrations ("
			  " name text PRIMARY KEY,"
			  " checksum text NOT NULL,"
			  " applied_at timestamptz NOT NULL DEFAULT now())",
			  0, NULL);
}

static struct mfile *find(struct mlist *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

/* Verifies applied rows against files; fills applied[] flags. */
static int verify_applied(PGconn *conn, struct mlist *files, const char *dir, unsigned char *applied)
{
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT name, checksum FROM schema_migrations ORDER BY name", 0, NULL) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0);
		struct mfile *m = find(files, name);
		if (!m) {
			rc = wo_error_set("migration '%s' was applied but its file is missing from '%s'", name, dir);
			break;
		}
		if (strcmp(m->checksum, PQgetvalue(res, i, 1)) != 0) {
			rc = wo_error_set("migration '%s/%s' was changed after it was applied "
					  "(checksum %.12s..., recorded %.12s...): restore the file and add a new migration instead",
					  dir, name, m->checksum, PQgetvalue(res, i, 1));
			break;
		}
		applied[m - files->v] = 1;
	}
	PQclear(res);
	return rc;
}

int wo_migrate_apply(PGconn *conn, const char *dir, wo_migrate_progress_fn progress, void *ud)
{
	struct mlist files;
	if (list_files(&files, dir) < 0)
		return -1;
	if (wo_db_exec(NULL, conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL) < 0) {
		mlist_release(&files);
		return -1;
	}
	unsigned char *applied = calloc(files.n + 1, 1);
	int rc = ensure_table(conn);
	if (rc == 0)
		rc = verify_applied(conn, &files, dir, applied);
	for (size_t i = 0; rc == 0 && i < files.n; i++) {
		if (applied[i])
			continue;
		struct mfile *m = &files.v[i];
		if (wo_db_begin(conn) < 0) {
			rc = -1;
			break;
		}
		/* simple-query protocol: a file may hold several statements */
		PGresult *res = PQexec(conn, m->sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
			msg[strcspn(msg, "\n")] = '\0';
			PQclear(res);
			wo_db_rollback(conn);
			rc = wo_error_set("migration '%s/%s' failed: %s", dir, m->name, msg);
			break;
		}
		PQclear(res);
		const char *params[] = { m->name, m->checksum };
		if (wo_db_exec(NULL, conn, "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", 2,
			       params) < 0 ||
		    wo_db_commit(conn) < 0) {
			wo_db_rollback(conn);
			rc = wo_error_prefix("migration '%s/%s'", dir, m->name);
			break;
		}
		if (progress)
			progress(m->name, ud);
	}
	free(applied);
	PGresult *u = PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")");
	PQclear(u);
	mlist_release(&files);
	return rc;
}

int wo_migrate_status(json_t **out, PGconn *conn, const char *dir)
{
	struct mlist files;
	if (list_files(&files, dir) < 0)
		return -1;
	PGresult *res = NULL;
	if (ensure_table(conn) < 0 ||
	    wo_db_exec(&res, conn,
		       "SELECT name, checksum, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
		       "FROM schema_migrations ORDER BY name",
		       0, NULL) < 0) {
		mlist_release(&files);
		return -1;
	}
	json_t *arr = json_array();
	unsigned char *seen = calloc(files.n + 1, 1);
	/* rows and files are both sorted by name: merge them */
	size_t fi = 0;
	int ri = 0, rn = PQntuples(res);
	while (fi < files.n || ri < rn) {
		int c;
		if (fi >= files.n)
			c = 1;
		else if (ri >= rn)
			c = -1;
		else
			c = strcmp(files.v[fi].name, PQgetvalue(res, ri, 0));
		json_t *o = json_object();
		if (c < 0) {
			json_object_set_new(o, "name", json_string(files.v[fi].name));
			json_object_set_new(o, "state", json_string("pending"));
			json_object_set_new(o, "checksum", json_string(files.v[fi].checksum));
			json_object_set_new(o, "applied_at", json_null());
			fi++;
		} else if (c > 0) {
			json_object_set_new(o, "name", json_string(PQgetvalue(res, ri, 0)));
			json_object_set_new(o, "state", json_string("missing"));
			json_object_set_new(o, "checksum", json_string(PQgetvalue(res, ri, 1)));
			json_object_set_new(o, "applied_at", json_string(PQgetvalue(res, ri, 2)));
			ri++;
		} else {
			int same = strcmp(files.v[fi].checksum, PQgetvalue(res, ri, 1)) == 0;
			json_object_set_new(o, "name", json_string(files.v[fi].name));
			json_object_set_new(o, "state", json_string(same ? "applied" : "changed"));
			json_object_set_new(o, "checksum", json_string(files.v[fi].checksum));
			json_object_set_new(o, "applied_at", json_string(PQgetvalue(res, ri, 2)));
			fi++;
			ri++;
		}
		json_array_append_new(arr, o);
	}
	free(seen);
	PQclear(res);
	mlist_release(&files);
	*out = arr;
	return 0;
}
