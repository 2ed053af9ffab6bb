/* Migrations against the real PostgreSQL: fresh apply, re-run no-op, an
 * edited or missing file detected by name, concurrent runners serialised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db.h"
#include "db/migrate.h"
#include "testdb.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"

static void write_file(const char *dir, const char *name, const char *text)
{
	struct wo_buf p = WO_BUF_INIT;
	wo_buf_printf(&p, "%s/%s", dir, name);
	assert_int_equal(wo_fs_write_file_atomic(p.ptr, text, strlen(text), 0644), 0);
	wo_buf_release(&p);
}

static int count(PGconn *c, const char *sql)
{
	PGresult *r;
	if (wo_db_exec(&r, c, sql, 0, NULL) < 0)
		fail_msg("%s", wo_error_last());
	int n = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

static int applied_count;
static void progress(const char *name, void *ud)
{
	(void)name;
	(void)ud;
	applied_count++;
}

static void test_fresh_and_rerun(void **state)
{
	(void)state;
	const char *ci = wo_testdb_create();
	PGconn *c = wo_testdb_connect(ci);
	applied_count = 0;
	assert_int_equal(wo_migrate_apply(c, wo_testdb_migrations_dir(), progress, NULL), 0);
	assert_true(applied_count >= 1);
	int rows = count(c, "SELECT count(*) FROM schema_migrations");
	assert_int_equal(rows, applied_count);
	assert_int_equal(count(c, "SELECT count(*) FROM deployments"), 0);
	/* a second run applies nothing */
	applied_count = 0;
	assert_int_equal(wo_migrate_apply(c, wo_testdb_migrations_dir(), progress, NULL), 0);
	assert_int_equal(applied_count, 0);
	assert_int_equal(count(c, "SELECT count(*) FROM schema_migrations"), rows);
	json_t *st;
	assert_int_equal(wo_migrate_status(&st, c, wo_testdb_migrations_dir()), 0);
	assert_int_equal((int)json_array_size(st), rows);
	assert_string_equal(json_string_value(json_object_get(json_array_get(st, 0), "state")), "applied");
	json_decref(st);
	PQfinish(c);
}

static void test_edited_and_missing(void **state)
{
	(void)state;
	const char *ci = wo_testdb_create();
	PGconn *c = wo_testdb_connect(ci);
	const char *dir = wo_test_tmpdir();
	write_file(dir, "0001_a.sql", "CREATE TABLE a (x int);");
	write_file(dir, "0002_b.sql", "CREATE TABLE b (x int); INSERT INTO b VALUES (1);");
	assert_int_equal(wo_migrate_apply(c, dir, NULL, NULL), 0);
	assert_int_equal(count(c, "SELECT count(*) FROM b"), 1);

	/* a new file is pending, then applied */
	write_file(dir, "0003_c.sql", "CREATE TABLE c (x int);");
	json_t *st;
	assert_int_equal(wo_migrate_status(&st, c, dir), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(st, 2), "state")), "pending");
	json_decref(st);
	assert_int_equal(wo_migrate_apply(c, dir, NULL, NULL), 0);

	/* editing an applied file is a hard error naming the file */
	write_file(dir, "0002_b.sql", "CREATE TABLE b (x int); -- edited");
	write_file(dir, "0004_d.sql", "CREATE TABLE d (x int);");
	assert_int_equal(wo_migrate_apply(c, dir, NULL, NULL), -1);
	assert_non_null(strstr(wo_error_last(), "0002_b.sql"));
	assert_non_null(strstr(wo_error_last(), "changed"));
	/* and nothing after it was applied */
	assert_int_equal(count(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'd'"), 0);
	assert_int_equal(wo_migrate_status(&st, c, dir), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(st, 1), "state")), "changed");
	json_decref(st);

	/* restoring the file makes it apply again; removing one is an error too */
	write_file(dir, "0002_b.sql", "CREATE TABLE b (x int); INSERT INTO b VALUES (1);");
	assert_int_equal(wo_migrate_apply(c, dir, NULL, NULL), 0);
	struct wo_buf p = WO_BUF_INIT;
	wo_buf_printf(&p, "%s/0001_a.sql", dir);
	unlink(p.ptr);
	wo_buf_release(&p);
	assert_int_equal(wo_migrate_apply(c, dir, NULL, NULL), -1);
	assert_non_null(strstr(wo_error_last(), "0001_a.sql"));
	assert_non_null(strstr(wo_error_last(), "missing"));
	PQfinish(c);
}

static void test_failing_migration_rolls_back(void **state)
{
	(void)state;
	const char *ci = wo_testdb_create();
	PGconn *c = wo_testdb_connect(ci);
	const char *dir = wo_test_tmpdir();
	write_file(dir, "0001_ok.sql", "CREATE TABLE ok (x int);");
	write_file(dir, "0002_bad.sql", "CREATE TABLE half (x int); SELECT no_such_function();");
	assert_int_equal(wo_migrate_apply(c, dir, NULL, NULL), -1);
	assert_non_null(strstr(wo_error_last(), "0002_bad.sql"));
	assert_int_equal(count(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'ok'"), 1);
	assert_int_equal(count(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'"), 0);
	assert_int_equal(count(c, "SELECT count(*) FROM schema_migrations"), 1);

	/* a misnamed file is refused */
	write_file(dir, "2_x.sql", "SELECT 1;");
	assert_int_equal(wo_migrate_apply(c, dir, NULL, NULL), -1);
	assert_non_null(strstr(wo_error_last(), "2_x.sql"));
	PQfinish(c);
}

static void test_concurrent_runners(void **state)
{
	(void)state;
	const char *ci = wo_testdb_create();
	const char *dir = wo_test_tmpdir();
	/* a migration that would fail if it ran twice (no IF NOT EXISTS) and is slow enough to overlap */
	write_file(dir, "0001_slow.sql", "SELECT pg_sleep(0.3); CREATE TABLE once (x int); INSERT INTO once VALUES (1);");
	write_file(dir, "0002_more.sql", "INSERT INTO once VALUES (2);");
	enum { N = 6 };
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			PGconn *c = NULL;
			if (wo_db_connect(&c, ci) < 0)
				_exit(2);
			int r = wo_migrate_apply(c, dir, NULL, NULL);
			if (r < 0)
				fprintf(stderr, "runner %d: %s\n", i, wo_error_last());
			PQfinish(c);
			_exit(r == 0 ? 0 : 1);
		}
	}
	for (int i = 0; i < N; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	PGconn *c = wo_testdb_connect(ci);
	assert_int_equal(count(c, "SELECT count(*) FROM once"), 2);
	assert_int_equal(count(c, "SELECT count(*) FROM schema_migrations"), 2);
	PQfinish(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_and_rerun),
		cmocka_unit_test(test_edited_and_missing),
		cmocka_unit_test(test_failing_migration_rolls_back),
		cmocka_unit_test(test_concurrent_runners),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
