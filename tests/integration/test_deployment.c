/* Deployment store against the real PostgreSQL: every CRUD path and every
 * validation error, checking that a refused write leaves the table as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include "db/db.h"
#include "store/deployment.h"
#include "testdb.h"
#include "util/error.h"
#include "util/secret.h"

static PGconn *conn;

static char key_dir[] = "/tmp/wo-test-key.XXXXXX";

static int setup(void **state)
{
	(void)state;
	conn = wo_testdb_connect(wo_testdb_create_migrated());
	/* environment values are sealed with the secrets' key: one of our own */
	if (!mkdtemp(key_dir))
		return -1;
	wo_secret_configure(key_dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	PQfinish(conn);
	char path[sizeof(key_dir) + 16];
	snprintf(path, sizeof(path), "%s/secret.key", key_dir);
	unlink(path);
	rmdir(key_dir);
	return 0;
}

static char *snapshot(void)
{
	PGresult *r;
	if (wo_db_exec(&r, conn, "SELECT coalesce(json_agg(d ORDER BY id)::text, '[]') FROM deployments d", 0, NULL) < 0)
		fail_msg("%s", wo_error_last());
	char *s = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return s;
}

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	if (!j)
		fail_msg("bad test json %s: %s", text, e.text);
	return j;
}

/* create must fail, name `field` first in the message, and write nothing */
static void expect_create_fails(const char *input, const char *field)
{
	char *before = snapshot();
	json_t *in = parse(input);
	json_t *out = NULL;
	/* the code says the kind: a value not allowed, or a name or port taken */
	int rc = wo_deployment_create(&out, conn, in);
	assert_true(rc == WO_EINVALID || rc == WO_EEXISTS);
	assert_int_equal(wo_error_code(), rc);
	assert_null(out);
	if (strncmp(wo_error_last(), field, strlen(field)) != 0)
		fail_msg("for %s expected an error about '%s', got: %s", input, field, wo_error_last());
	char *after = snapshot();
	assert_string_equal(before, after);
	free(before);
	free(after);
	json_decref(in);
}

static void test_crud(void **state)
{
	(void)state;
	json_t *in = parse("{\"name\":\"blog\",\"repo_url\":\"https://example.com/blog.git\","
			   "\"env_vars\":{\"DEBUG\":\"0\",\"MSG\":\"a \\\"quoted\\\" %s $HOME\\nline2\"}}");
	json_t *d = NULL;
	assert_int_equal(wo_deployment_create(&d, conn, in), 0);
	assert_string_equal(json_string_value(json_object_get(d, "branch")), "main");
	assert_string_equal(json_string_value(json_object_get(d, "status")), "pending");
	assert_true(json_is_null(json_object_get(d, "port")));
	assert_true(json_is_null(json_object_get(d, "domain")));
	json_decref(d);
	json_decref(in);

	assert_int_equal(wo_deployment_get(&d, conn, "blog"), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "env_vars"), "MSG")),
			    "a \"quoted\" %s $HOME\nline2");
	json_decref(d);

	json_t *patch = parse("{\"port\":8080,\"domain\":\"Blog.Example.COM\",\"branch\":\"release/1\"}");
	assert_int_equal(wo_deployment_update(&d, conn, "blog", patch), 0);
	assert_int_equal(json_integer_value(json_object_get(d, "port")), 8080);
	assert_string_equal(json_string_value(json_object_get(d, "domain")), "blog.example.com");
	assert_string_equal(json_string_value(json_object_get(d, "branch")), "release/1");
	json_decref(d);
	json_decref(patch);

	/* clearing optional fields */
	patch = parse("{\"port\":null,\"domain\":\"\"}");
	assert_int_equal(wo_deployment_update(&d, conn, "blog", patch), 0);
	assert_true(json_is_null(json_object_get(d, "port")));
	assert_true(json_is_null(json_object_get(d, "domain")));
	json_decref(d);
	json_decref(patch);

	/* addon fields merge per addon */
	patch = parse("{\"addon_fields\":{\"docker\":{\"use_docker\":true}}}");
	assert_int_equal(wo_deployment_update(&d, conn, "blog", patch), 0);
	json_decref(d);
	json_decref(patch);
	patch = parse("{\"addon_fields\":{\"other\":{\"x\":1}}}");
	assert_int_equal(wo_deployment_update(&d, conn, "blog", patch), 0);
	assert_true(json_is_true(json_object_get(json_object_get(json_object_get(d, "addon_fields"), "docker"), "use_docker")));
	json_decref(d);
	json_decref(patch);

	assert_int_equal(wo_deployment_set_status(conn, "blog", "running"), 0);
	assert_int_equal(wo_deployment_set_status(conn, "blog", "bogus"), WO_EINVALID);

	json_t *list;
	assert_int_equal(wo_deployment_list(&list, conn), 0);
	assert_int_equal((int)json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "status")), "running");
	json_decref(list);

	assert_int_equal(wo_deployment_delete(conn, "blog"), 0);
	assert_int_equal(wo_deployment_get(&d, conn, "blog"), WO_ENOTFOUND);
	assert_non_null(strstr(wo_error_last(), "'blog' not found"));
	assert_int_equal(wo_deployment_delete(conn, "blog"), WO_ENOTFOUND);
}

static void test_create_validation(void **state)
{
	(void)state;
	json_t *d;
	json_t *in = parse("{\"name\":\"taken\",\"repo_url\":\"/srv/git/x\",\"port\":8080}");
	assert_int_equal(wo_deployment_create(&d, conn, in), 0);
	json_decref(d);
	json_decref(in);

	expect_create_fails("{\"name\":\"Blog\",\"repo_url\":\"/x\"}", "name");
	expect_create_fails("{\"name\":\"-x\",\"repo_url\":\"/x\"}", "name");
	expect_create_fails("{\"name\":\"a_b\",\"repo_url\":\"/x\"}", "name");
	expect_create_fails("{\"name\":\"../x\",\"repo_url\":\"/x\"}", "name");
	expect_create_fails("{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"repo_url\":\"/x\"}", "name");
	expect_create_fails("{\"name\":\"taken\",\"repo_url\":\"/x\"}", "name");
	expect_create_fails("{\"repo_url\":\"/x\"}", "name");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"ftp://x\"}", "repo_url");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"\"}", "repo_url");
	expect_create_fails("{\"name\":\"ok\"}", "repo_url");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"branch\":\"a..b\"}", "branch");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"branch\":\"-x\"}", "branch");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"port\":0}", "port");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"port\":70000}", "port");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"port\":8080}", "port");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"port\":\"80\"}", "port");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"env_vars\":{\"1A\":\"x\"}}", "env");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"env_vars\":{\"A-B\":\"x\"}}", "env");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"env_vars\":{\"A\":1}}", "env");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"domain\":\"bad_host\"}", "domain");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"addon_fields\":[]}", "addon_fields");
	expect_create_fails("{\"name\":\"ok\",\"repo_url\":\"/x\",\"colour\":\"red\"}", "'colour'");
}

static void test_update_validation(void **state)
{
	(void)state;
	json_t *d;
	json_t *in = parse("{\"name\":\"upd\",\"repo_url\":\"/srv/git/u\",\"port\":9000,\"env_vars\":{\"K\":\"v\"}}");
	assert_int_equal(wo_deployment_create(&d, conn, in), 0);
	json_decref(d);
	json_decref(in);
	in = parse("{\"name\":\"upd2\",\"repo_url\":\"/srv/git/u\",\"port\":9001}");
	assert_int_equal(wo_deployment_create(&d, conn, in), 0);
	json_decref(d);
	json_decref(in);

	const char *bad[][2] = {
		{ "{\"port\":9001}", "port 9001 is already used by deployment 'upd2'" },
		{ "{\"port\":0}", "port" },
		{ "{\"branch\":\"a..b\"}", "branch" },
		{ "{\"repo_url\":\"ftp://x\"}", "repo_url" },
		{ "{\"env_vars\":{\"1A\":\"x\"}}", "env" },
		{ "{\"name\":\"other\"}", "name" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *before = snapshot();
		json_t *patch = parse(bad[i][0]);
		json_t *out = NULL;
		assert_true(wo_deployment_update(&out, conn, "upd", patch) < 0);
		assert_null(out);
		if (strncmp(wo_error_last(), bad[i][1], strlen(bad[i][1])) != 0)
			fail_msg("for %s expected '%s', got: %s", bad[i][0], bad[i][1], wo_error_last());
		char *after = snapshot();
		assert_string_equal(before, after);
		free(before);
		free(after);
		json_decref(patch);
	}
	json_t *patch = parse("{\"port\":9002}");
	assert_int_equal(wo_deployment_update(&d, conn, "nope", patch), WO_ENOTFOUND);
	json_decref(patch);
}

/* What the other deployments hold of the host's ports (for the addons'
 * check when a record is stored): every one but the one named, by name. */
static void test_ports_list(void **state)
{
	(void)state;
	json_t *in = parse("{\"name\":\"porta\",\"repo_url\":\"https://example.com/a.git\",\"port\":18081}");
	json_t *d = NULL;
	assert_int_equal(wo_deployment_create(&d, conn, in), 0);
	json_decref(d);
	json_decref(in);
	in = parse("{\"name\":\"portb\",\"repo_url\":\"https://example.com/b.git\"}");
	assert_int_equal(wo_deployment_create(&d, conn, in), 0);
	json_decref(d);
	json_decref(in);

	json_t *list = NULL;
	assert_int_equal(wo_deployment_ports_list(&list, conn, "porta"), 0);
	size_t i;
	json_t *row;
	const char *prev = "";
	int saw_b = 0;
	json_array_foreach(list, i, row) {
		const char *name = json_string_value(json_object_get(row, "name"));
		assert_true(strcmp(prev, name) < 0);
		prev = name;
		assert_string_not_equal(name, "porta");
		if (!strcmp(name, "portb")) {
			saw_b = 1;
			assert_true(json_is_null(json_object_get(row, "port")));
			assert_true(json_is_object(json_object_get(row, "addon_fields")));
		}
	}
	assert_true(saw_b);
	json_decref(list);

	assert_int_equal(wo_deployment_ports_list(&list, conn, "portb"), 0);
	int saw_a = 0;
	json_array_foreach(list, i, row)
		if (!strcmp(json_string_value(json_object_get(row, "name")), "porta")) {
			saw_a = 1;
			assert_int_equal(json_integer_value(json_object_get(row, "port")), 18081);
		}
	assert_true(saw_a);
	json_decref(list);
	assert_int_equal(wo_deployment_delete(conn, "porta"), 0);
	assert_int_equal(wo_deployment_delete(conn, "portb"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crud),
		cmocka_unit_test(test_create_validation),
		cmocka_unit_test(test_update_validation),
		cmocka_unit_test(test_ports_list),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
