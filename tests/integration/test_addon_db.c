/* Addon records in the real PostgreSQL: rows for discovered addons (new ones
 * enabled, load errors kept), enable/disable surviving a reload and gating
 * hooks and fields, hook metrics, stored settings under the environment,
 * secret settings stored in plaintext sealed on load, addons' status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addon/addon.h"
#include "db/db.h"
#include "store/addons.h"
#include "testdb.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/secret.h"

static PGconn *conn;
static char path[1024];

static const char *build_dir(void)
{
	const char *b = getenv("WEBOPS_BUILD_DIR");
	return b ? b : WEBOPS_BUILD_DIR;
}

static int setup(void **state)
{
	(void)state;
	conn = wo_testdb_connect(wo_testdb_create_migrated());
	const char *tmp = wo_test_tmpdir();
	snprintf(path, sizeof(path), "%s/addons", tmp);
	wo_fs_mkdir_p(path, 0755);
	static const char *const names[] = {"ok", "crash", "wrongabi"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char from[1024], to[1100];
		snprintf(from, sizeof(from), "%s/tests/addons/%s", build_dir(), names[i]);
		snprintf(to, sizeof(to), "%s/%s", path, names[i]);
		if (symlink(from, to) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	PQfinish(conn);
	return 0;
}

static struct wo_addon_registry *load(void)
{
	struct wo_addon_registry *reg = NULL;
	if (wo_addon_registry_load(&reg, path, conn) < 0)
		fail_msg("%s", wo_error_last());
	return reg;
}

static char *query1(const char *sql, const char *param)
{
	PGresult *r;
	const char *params[1] = {param};
	if (wo_db_exec(&r, conn, sql, param ? 1 : 0, params) < 0)
		fail_msg("%s", wo_error_last());
	char *s = PQntuples(r) && !PQgetisnull(r, 0, 0) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	return s;
}

static void test_rows(void **state)
{
	(void)state;
	struct wo_addon_registry *reg = load();
	wo_addon_registry_free(reg);
	char *s = query1("SELECT string_agg(name || ':' || enabled || ':' || coalesce(version, '-'), ',' ORDER BY name) "
	                 "FROM addons", NULL);
	assert_string_equal(s, "crash:true:0.1.0,ok:true:1.2.3,wrongabi:true:0.1.0");
	free(s);
	s = query1("SELECT load_error FROM addons WHERE name = $1", "wrongabi");
	assert_non_null(strstr(s, "ABI 2.0"));
	free(s);
	s = query1("SELECT coalesce(load_error, 'none') FROM addons WHERE name = $1", "ok");
	assert_string_equal(s, "none");
	free(s);
	/* loading again changes nothing */
	s = query1("SELECT max(updated_at)::text FROM addons", NULL);
	reg = load();
	wo_addon_registry_free(reg);
	char *s2 = query1("SELECT max(updated_at)::text FROM addons", NULL);
	assert_string_equal(s, s2);
	free(s);
	free(s2);
}

static void test_enable_disable(void **state)
{
	(void)state;
	struct wo_addon_registry *reg = load();
	struct wo_addon *ok = wo_addon_registry_find(reg, "ok");
	assert_int_equal(wo_addon_set_enabled(reg, ok, 0), 0);
	wo_addon_registry_free(reg);

	reg = load();
	ok = wo_addon_registry_find(reg, "ok");
	assert_false(ok->enabled);
	json_t *dep = json_pack("{s:s, s:{s:{s:b}}}", "name", "blog", "addon_fields", "ok", "use_docker", 1);
	struct wo_hook_ctx ctx = {.deployment = dep};
	struct wo_hook_report *rep;
	assert_int_equal(wo_hook_dispatch(&rep, reg, WO_EVENT_HEALTH, &ctx), 0);
	assert_int_equal(rep->nresults, 0);
	wo_hook_report_free(rep);
	/* its fields are hidden; the stored value stays */
	json_t *af = json_object_get(dep, "addon_fields");
	struct wo_buf err = WO_BUF_INIT;
	assert_int_equal(wo_addon_fields_apply(af, reg, "use_docker", "false", &err), -1);
	wo_buf_release(&err);
	assert_true(json_is_true(json_object_get(json_object_get(af, "ok"), "use_docker")));
	assert_int_equal(wo_addon_set_enabled(reg, ok, 1), 0);
	wo_addon_registry_free(reg);

	reg = load();
	assert_int_equal(wo_hook_dispatch(&rep, reg, WO_EVENT_HEALTH, &ctx), 0);
	assert_int_equal(rep->nresults, 1);
	assert_int_equal(rep->results[0].status, WO_HOOK_OK);
	wo_hook_report_free(rep);
	wo_addon_registry_free(reg);
	json_decref(dep);
}

static void test_metrics(void **state)
{
	(void)state;
	struct wo_addon_registry *reg = load();
	int64_t ok_before = wo_addon_registry_find(reg, "ok")->metrics.success_count;
	json_t *dep = json_pack("{s:s}", "name", "blog");
	struct wo_hook_ctx ctx = {.deployment = dep};
	struct wo_hook_report *rep;
	assert_int_equal(wo_hook_dispatch(&rep, reg, WO_EVENT_PRE_DEPLOY, &ctx), 0);
	/* ok (50), ok_docker_only skipped, crash (80) */
	assert_false(rep->ok);
	wo_hook_report_free(rep);
	wo_addon_registry_free(reg);
	char *s = query1("SELECT success_count || '/' || failure_count || '/' || (last_run_at IS NOT NULL) "
	                 "FROM addons WHERE name = $1", "ok");
	char want[64];
	snprintf(want, sizeof(want), "%lld/0/true", (long long)ok_before + 1);
	assert_string_equal(s, want);
	free(s);
	s = query1("SELECT success_count || '/' || failure_count || '/' || last_error FROM addons WHERE name = $1",
	           "crash");
	assert_non_null(strstr(s, "0/1/addon 'crash' hook 'pre_deploy'"));
	assert_non_null(strstr(s, "SIGSEGV"));
	free(s);
	reg = load();
	assert_int_equal(wo_addon_registry_find(reg, "crash")->metrics.failure_count, 1);
	wo_addon_registry_free(reg);
	json_decref(dep);
}

static void test_settings(void **state)
{
	(void)state;
	struct wo_addon_registry *reg = load();
	struct wo_addon *ok = wo_addon_registry_find(reg, "ok");
	assert_int_equal(wo_addon_setting_set(reg, ok, "greeting", "hi there"), 0);
	assert_int_equal(wo_addon_setting_set(reg, ok, "level", "3"), 0);
	assert_int_equal(wo_addon_setting_set(reg, ok, "level", "9"), -1);
	assert_non_null(strstr(wo_error_last(), "9 is above the maximum 5"));
	assert_int_equal(wo_addon_setting_set(reg, ok, "nope", "1"), -1);
	assert_non_null(strstr(wo_error_last(), "addon 'ok' has no setting 'nope'; its settings are: greeting, level, token"));
	wo_addon_registry_free(reg);

	char *s = query1("SELECT settings::text FROM addons WHERE name = $1", "ok");
	assert_string_equal(s, "{\"level\": 3, \"greeting\": \"hi there\"}");
	free(s);

	setenv("WEBOPS_OK_LEVEL", "5", 1);
	reg = load();
	unsetenv("WEBOPS_OK_LEVEL");
	ok = wo_addon_registry_find(reg, "ok");
	assert_string_equal(json_string_value(json_object_get(ok->settings, "greeting")), "hi there");
	assert_string_equal(json_string_value(json_object_get(ok->settings_source, "greeting")), "stored");
	assert_int_equal(json_integer_value(json_object_get(ok->settings, "level")), 5);
	assert_string_equal(json_string_value(json_object_get(ok->settings_source, "level")), "env");
	/* hooks read the effective value */
	json_t *dep = json_pack("{s:s}", "name", "blog");
	struct wo_hook_ctx ctx = {.deployment = dep};
	struct wo_hook_report *rep;
	assert_int_equal(wo_hook_dispatch(&rep, reg, WO_EVENT_PRE_DEPLOY, &ctx), 0);
	assert_string_equal(json_string_value(json_object_get(rep->results[0].outputs, "greeting")), "hi there");
	wo_hook_report_free(rep);
	json_decref(dep);

	assert_int_equal(wo_addon_setting_unset(reg, ok, "greeting"), 0);
	assert_string_equal(json_string_value(json_object_get(ok->settings, "greeting")), "hello");
	wo_addon_registry_free(reg);
}

/* A secret setting stored in plaintext (from before encryption) is sealed
 * when the registry loads, only if the row is as it was read (its xmin). */
static void test_seal_plaintext(void **state)
{
	(void)state;
	char keys[1100];
	snprintf(keys, sizeof(keys), "%s/keys", wo_test_tmpdir());
	wo_fs_mkdir_p(keys, 0700);
	wo_secret_configure(keys);

	struct wo_addons_row *rows = NULL;
	size_t n = 0;
	assert_int_equal(wo_addons_rows_load(&rows, &n, conn), 0);
	const char *xmin = NULL;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].name, "ok"))
			xmin = rows[i].xmin;
	assert_non_null(xmin);
	/* a row changed since it was read is left alone */
	assert_int_equal(wo_addons_settings_merge(conn, "ok", "{\"token\": \"s3cret\"}", xmin), 1);
	assert_int_equal(wo_addons_settings_merge(conn, "ok", "{\"token\": \"other\"}", xmin), 0);
	wo_addons_rows_free(rows, n);

	struct wo_addon_registry *reg = load();
	struct wo_addon *ok = wo_addon_registry_find(reg, "ok");
	assert_string_equal(json_string_value(json_object_get(ok->settings, "token")), "s3cret");
	char *s = query1("SELECT settings->>'token' FROM addons WHERE name = $1", "ok");
	assert_true(wo_secret_is_sealed(s));
	free(s);
	assert_int_equal(wo_addon_setting_unset(reg, ok, "token"), 0);
	wo_addon_registry_free(reg);
}

static void test_status(void **state)
{
	(void)state;
	assert_int_equal(wo_addons_status_set(conn, "ok", "{\"state\": \"running\", \"reason\": \"fine\"}"), 0);
	json_t *all = NULL;
	assert_int_equal(wo_addon_status_read(&all, conn), 0);
	json_t *st = json_object_get(all, "ok");
	assert_string_equal(json_string_value(json_object_get(st, "state")), "running");
	assert_string_equal(json_string_value(json_object_get(st, "reason")), "fine");
	assert_true(json_is_string(json_object_get(st, "at")));
	/* an addon that never said anything is absent */
	assert_null(json_object_get(all, "crash"));
	json_decref(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_enable_disable),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_seal_plaintext),
		cmocka_unit_test(test_status),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
