/* A throwaway database per test process. */
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "db/db.h"
#include "db/migrate.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"

static char dbnames[32][64];
static int ndb;
static char conninfos[32][2048];
static char admin[2048];
static char tmpdirs[32][256];
static int ntmp;
static int registered;
static pid_t owner;

/* Runs at exit of the creating process only (forked children exit with _exit or are skipped). */
static void drop_db(void)
{
	if (getpid() != owner)
		return;
	for (int i = 0; i < ntmp; i++)
		wo_fs_rm_rf(tmpdirs[i]);
	if (!ndb || getenv("WEBOPS_TEST_KEEP"))
		return;
	PGconn *c = PQconnectdb(admin);
	if (PQstatus(c) == CONNECTION_OK) {
		for (int i = 0; i < ndb; i++) {
			char sql[128];
			snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbnames[i]);
			PQclear(PQexec(c, sql));
		}
	}
	PQfinish(c);
}

static void register_cleanup(void)
{
	if (!registered) {
		registered = 1;
		owner = getpid();
		atexit(drop_db);
	}
}

const char *wo_test_tmpdir(void)
{
	if (ntmp >= 32)
		abort();
	char tmpl[] = "/tmp/webops-test-XXXXXX";
	if (!mkdtemp(tmpl))
		abort();
	snprintf(tmpdirs[ntmp], sizeof(tmpdirs[ntmp]), "%s", tmpl);
	register_cleanup();
	return tmpdirs[ntmp++];
}

const char *wo_testdb_migrations_dir(void)
{
	static char dir[1024];
	const char *src = getenv("WEBOPS_SOURCE_DIR");
	snprintf(dir, sizeof(dir), "%s/migrations", src ? src : WEBOPS_SOURCE_DIR);
	return dir;
}

const char *wo_testdb_create(void)
{
	const char *url = getenv("WEBOPS_TEST_DATABASE_URL");
	if (!url || !*url) {
		printf("skipped: WEBOPS_TEST_DATABASE_URL is not set (scripts/test sets it)\n");
		exit(77);
	}
	snprintf(admin, sizeof(admin), "%s", url);
	PGconn *c = PQconnectdb(admin);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to WEBOPS_TEST_DATABASE_URL: %s", PQerrorMessage(c));
		exit(1);
	}
	if (ndb >= 32)
		abort();
	char *conninfo = conninfos[ndb];
	char *dbname = dbnames[ndb++];
	snprintf(dbname, 64, "wo_test_%ld_%d", (long)getpid(), ndb);
	char sql[128];
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "cannot create test database: %s", PQresultErrorMessage(r));
		exit(1);
	}
	PQclear(r);
	PQfinish(c);
	register_cleanup();
	/* conninfo strings: a later dbname= overrides an earlier one; URIs get a parameter */
	if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
		const char *q = strchr(url, '?');
		const char *slash = strchr(strstr(url, "://") + 3, '/');
		size_t base = slash ? (size_t)(slash - url) : (q ? (size_t)(q - url) : strlen(url));
		snprintf(conninfo, 2048, "%.*s/%s%s", (int)base, url, dbname, q ? q : "");
	} else {
		snprintf(conninfo, 2048, "%s dbname=%s", url, dbname);
	}
	return conninfo;
}

PGconn *wo_testdb_connect(const char *ci)
{
	PGconn *c = NULL;
	if (wo_db_connect(&c, ci) < 0) {
		fprintf(stderr, "%s\n", wo_error_last());
		exit(1);
	}
	return c;
}

const char *wo_testdb_create_migrated(void)
{
	const char *ci = wo_testdb_create();
	PGconn *c = wo_testdb_connect(ci);
	if (wo_migrate_apply(c, wo_testdb_migrations_dir(), NULL, NULL) < 0) {
		fprintf(stderr, "migrations failed: %s\n", wo_error_last());
		exit(1);
	}
	PQfinish(c);
	return ci;
}
