/* A throwaway database per test process. */
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "db/migrate.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"

static char dbname[64];
static char conninfo[2048];
static char admin[2048];
static char tmpdirs[16][256];
static int ntmp;

static void drop_db(void)
{
	for (int i = 0; i < ntmp; i++)
		wo_fs_rm_rf(tmpdirs[i]);
	if (!dbname[0])
		return;
	PGconn *c = PQconnectdb(admin);
	if (PQstatus(c) == CONNECTION_OK) {
		char sql[128];
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
		PQclear(PQexec(c, sql));
	}
	PQfinish(c);
}

const char *wo_test_tmpdir(void)
{
	if (ntmp >= 16)
		abort();
	char tmpl[] = "/tmp/webops-test-XXXXXX";
	if (!mkdtemp(tmpl))
		abort();
	snprintf(tmpdirs[ntmp], sizeof(tmpdirs[ntmp]), "%s", tmpl);
	if (!dbname[0] && ntmp == 0)
		atexit(drop_db);
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
	snprintf(dbname, sizeof(dbname), "wo_test_%ld_%ld", (long)getpid(), (long)random() % 100000);
	char sql[128];
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "cannot create test database: %s", PQresultErrorMessage(r));
		exit(1);
	}
	PQclear(r);
	PQfinish(c);
	if (ntmp == 0)
		atexit(drop_db);
	/* conninfo strings: a later dbname= overrides an earlier one; URIs get a parameter */
	if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
		const char *q = strchr(url, '?');
		const char *slash = strchr(strstr(url, "://") + 3, '/');
		size_t base = slash ? (size_t)(slash - url) : (q ? (size_t)(q - url) : strlen(url));
		snprintf(conninfo, sizeof(conninfo), "%.*s/%s%s", (int)base, url, dbname, q ? q : "");
	} else {
		snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", url, dbname);
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
