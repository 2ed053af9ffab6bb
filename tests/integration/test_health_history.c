/* The read side of health (health/history.h) against the real PostgreSQL:
 * the list and its restart counts, one deployment's record, and the chart
 * series joining hourly rollups and raw checks without counting an hour
 * twice. Rows are written as the scheduler writes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "health/history.h"
#include "store/deployment.h"
#include "testdb.h"
#include "util/error.h"

static PGconn *conn;
static long long base; /* an hour 10 hours ago, Unix seconds */

static void sql(const char *q)
{
	char b[32];
	snprintf(b, sizeof(b), "%lld", base);
	const char *p[] = { b };
	if (wo_db_exec(NULL, conn, q, strstr(q, "$1") ? 1 : 0, strstr(q, "$1") ? p : NULL) < 0)
		fail_msg("%s: %s", q, wo_error_last());
}

static int setup(void **state)
{
	(void)state;
	conn = wo_testdb_connect(wo_testdb_create_migrated());
	PGresult *r;
	if (wo_db_exec(&r, conn, "SELECT extract(epoch FROM date_trunc('hour', now()) - interval '10 hours')::bigint", 0,
		       NULL) < 0)
		fail_msg("%s", wo_error_last());
	base = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	sql("INSERT INTO deployments (name, repo_url, status, health) VALUES"
	    " ('web', 'file:///x', 'running', '{\"path\": \"/up\", \"interval_s\": 10}'),"
	    " ('api', 'file:///x', 'running', '{}'), ('idle', 'file:///x', 'stopped', '{}')");
	sql("UPDATE health_state SET state = 'unhealthy', failures = 4, reason = 'addon docker: exited',"
	    " last_check_at = now(), gave_up = true WHERE deployment_id = (SELECT id FROM deployments WHERE name = 'api')");
	/* restarts: two in the last hour, one older; a failed restart is not a restart */
	sql("INSERT INTO health_events (deployment_id, at, kind, reason)"
	    " SELECT id, now() - x, k, 'r' FROM deployments,"
	    "  (VALUES (interval '5 minutes', 'restart'), (interval '50 minutes', 'restart'),"
	    "          (interval '2 hours', 'restart'), (interval '1 minute', 'restart_failed')) v(x, k)"
	    " WHERE name = 'api'");
	sql("INSERT INTO health_events (deployment_id, at, kind, previous, state)"
	    " SELECT id, now() - interval '3 hours', 'state', 'healthy', 'unhealthy' FROM deployments WHERE name = 'api'");
	/* web: rollups for base, base+1h and base+2h; raw checks in base+2h (the
	 * hour rolled up already: not counted again), base+3h, base+5h, now */
	sql("INSERT INTO health_hourly (deployment_id, hour, checks, failures, latency_avg_ms, latency_max_ms, cpu_avg,"
	    " memory_avg) SELECT id, to_timestamp($1::bigint) + h * interval '1 hour', c, f, l, m, cpu, mem"
	    " FROM deployments, (VALUES (0, 100, 10, 20.0, 90, 5.0, 1000), (1, 50, 0, 40.0, 60, NULL, NULL),"
	    "                           (2, 10, 1, 10.0, 15, NULL, NULL)) v(h, c, f, l, m, cpu, mem)"
	    " WHERE name = 'web'");
	sql("INSERT INTO health_checks (deployment_id, at, ok, latency_ms, cpu_percent, memory_bytes, failed, reason)"
	    " SELECT id, to_timestamp($1::bigint) + x, ok, l, cpu, mem, f, r FROM deployments,"
	    "  (VALUES (interval '2 hours 10 minutes', true, 999, NULL::real, NULL::bigint, NULL, NULL),"
	    "          (interval '2 hours 20 minutes', false, 999, NULL, NULL, 'probe', 'x'),"
	    "          (interval '3 hours 1 minute', true, 10, 10, 2000, NULL, NULL),"
	    "          (interval '3 hours 2 minutes', false, 30, 20, 4000, 'probe', 'HTTP 500'),"
	    "          (interval '5 hours', true, 5, NULL, NULL, NULL, NULL)) v(x, ok, l, cpu, mem, f, r)"
	    " WHERE name = 'web'");
	sql("INSERT INTO health_checks (deployment_id, at, ok, latency_ms) SELECT id, now() - interval '1 minute', true, 7"
	    " FROM deployments WHERE name = 'web'");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	PQfinish(conn);
	return 0;
}

static long long ival(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	if (!json_is_integer(v))
		fail_msg("'%s' is not an integer", k);
	return (long long)json_integer_value(v);
}

static const char *sval(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void test_list(void **state)
{
	(void)state;
	json_t *arr = NULL;
	assert_int_equal(wo_health_list(&arr, conn), 0);
	assert_int_equal(json_array_size(arr), 3);
	json_t *api = json_array_get(arr, 0), *idle = json_array_get(arr, 1), *web = json_array_get(arr, 2);
	assert_string_equal(sval(api, "deployment"), "api");
	assert_string_equal(sval(idle, "deployment"), "idle");
	assert_string_equal(sval(web, "deployment"), "web");
	assert_string_equal(sval(api, "state"), "unhealthy");
	assert_string_equal(sval(api, "status"), "running");
	assert_string_equal(sval(api, "reason"), "addon docker: exited");
	assert_int_equal(ival(api, "failures"), 4);
	assert_int_equal(ival(api, "restarts_last_hour"), 2);
	assert_true(json_is_true(json_object_get(api, "gave_up")));
	assert_non_null(sval(api, "last_check_at"));
	assert_string_equal(sval(idle, "state"), "unknown");
	assert_string_equal(sval(idle, "status"), "stopped");
	assert_true(json_is_null(json_object_get(idle, "reason")));
	assert_true(json_is_null(json_object_get(idle, "last_check_at")));
	assert_int_equal(ival(idle, "restarts_last_hour"), 0);
	assert_int_equal(strlen(sval(idle, "since")), strlen("2026-01-01T00:00:00Z"));
	assert_int_equal(json_object_size(api), 9);
	json_decref(arr);
}

static void test_get(void **state)
{
	(void)state;
	json_t *h = NULL;
	assert_int_equal(wo_health_get(&h, conn, "nope", 10), WO_ENOTFOUND);
	assert_null(h);
	assert_string_equal(wo_error_last(), "no deployment named 'nope'");

	assert_int_equal(wo_health_get(&h, conn, "web", 3), 0);
	json_t *s = json_object_get(h, "settings");
	assert_int_equal(ival(s, "interval_s"), 10);
	assert_int_equal(ival(s, "timeout_s"), 5); /* a default, filled in */
	assert_string_equal(sval(s, "path"), "/up");
	json_t *checks = json_object_get(h, "checks");
	assert_int_equal(json_array_size(checks), 3);
	json_t *c0 = json_array_get(checks, 0), *c2 = json_array_get(checks, 2);
	assert_int_equal(ival(c0, "latency_ms"), 7); /* newest first */
	assert_int_equal(ival(c2, "latency_ms"), 30);
	assert_true(json_is_false(json_object_get(c2, "ok")));
	assert_string_equal(sval(c2, "failed"), "probe");
	assert_string_equal(sval(c2, "reason"), "HTTP 500");
	assert_true(fabs(json_number_value(json_object_get(c2, "cpu_percent")) - 20.0) < 1e-9);
	assert_int_equal(ival(c2, "memory_bytes"), 4000);
	assert_true(json_is_null(json_object_get(c0, "cpu_percent")));
	assert_true(json_is_null(json_object_get(c0, "failed")));
	assert_int_equal(json_array_size(json_object_get(h, "events")), 0);
	json_decref(h);

	assert_int_equal(wo_health_get(&h, conn, "api", 50), 0);
	json_t *ev = json_object_get(h, "events");
	assert_int_equal(json_array_size(ev), 5);
	/* newest first by id: the state change was inserted last */
	assert_string_equal(sval(json_array_get(ev, 0), "kind"), "state");
	assert_string_equal(sval(json_array_get(ev, 0), "previous"), "healthy");
	assert_string_equal(sval(json_array_get(ev, 0), "state"), "unhealthy");
	assert_true(json_is_null(json_object_get(json_array_get(ev, 1), "state")));
	assert_int_equal(ival(h, "restarts_last_hour"), 2);
	assert_string_equal(sval(h, "deployment"), "api");
	assert_non_null(json_object_get(h, "next_check_at"));
	json_decref(h);
}

static json_t *bucket_at(json_t *arr, long long t)
{
	size_t i;
	json_t *b;
	json_array_foreach(arr, i, b) if (ival(b, "t") == t) return b;
	return NULL;
}

static void test_series(void **state)
{
	(void)state;
	json_t *arr = NULL;
	assert_int_equal(wo_health_series(&arr, conn, "nope", 24, 3600), WO_ENOTFOUND);
	assert_int_equal(wo_health_series(&arr, conn, "web", 0, 3600), WO_EINVALID);
	assert_int_equal(wo_health_series(&arr, conn, "web", 24, 0), WO_EINVALID);
	assert_null(arr);

	assert_int_equal(wo_health_series(&arr, conn, "web", 24, 3600), 0);
	/* base, base+1h, base+2h (rollups), base+3h and base+5h (raw), now;
	 * base+4h had no check and is left out */
	assert_int_equal(json_array_size(arr), 6);
	for (size_t i = 1; i < json_array_size(arr); i++)
		assert_true(ival(json_array_get(arr, i - 1), "t") < ival(json_array_get(arr, i), "t"));
	json_t *b0 = bucket_at(arr, base);
	assert_non_null(b0);
	assert_int_equal(ival(b0, "checks"), 100);
	assert_int_equal(ival(b0, "failures"), 10);
	assert_true(fabs(json_number_value(json_object_get(b0, "latency_avg_ms")) - 20.0) < 1e-6);
	assert_int_equal(ival(b0, "latency_max_ms"), 90);
	assert_true(fabs(json_number_value(json_object_get(b0, "cpu_percent")) - 5.0) < 1e-6);
	assert_int_equal(ival(b0, "memory_bytes"), 1000);
	json_t *b1 = bucket_at(arr, base + 3600);
	assert_true(json_is_null(json_object_get(b1, "cpu_percent")));
	assert_true(json_is_null(json_object_get(b1, "memory_bytes")));
	json_t *b2 = bucket_at(arr, base + 7200);
	assert_int_equal(ival(b2, "checks"), 10); /* the rollup, not its raw checks again */
	assert_int_equal(ival(b2, "latency_max_ms"), 15);
	json_t *b3 = bucket_at(arr, base + 3 * 3600);
	assert_int_equal(ival(b3, "checks"), 2);
	assert_int_equal(ival(b3, "failures"), 1);
	assert_true(fabs(json_number_value(json_object_get(b3, "latency_avg_ms")) - 20.0) < 1e-6);
	assert_int_equal(ival(b3, "latency_max_ms"), 30);
	assert_true(fabs(json_number_value(json_object_get(b3, "cpu_percent")) - 15.0) < 1e-6);
	assert_int_equal(ival(b3, "memory_bytes"), 3000);
	assert_null(bucket_at(arr, base + 4 * 3600));
	assert_int_equal(ival(bucket_at(arr, base + 5 * 3600), "checks"), 1);
	json_decref(arr);

	/* whatever the bucket size, every check is counted once */
	static const int sizes[] = { 60, 1800, 7200, 86400, 86400 * 31 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		assert_int_equal(wo_health_series(&arr, conn, "web", 24, sizes[k]), 0);
		long long checks = 0, failures = 0;
		size_t i;
		json_t *b;
		json_array_foreach(arr, i, b) {
			checks += ival(b, "checks");
			failures += ival(b, "failures");
			assert_int_equal(ival(b, "t") % sizes[k], 0);
		}
		assert_int_equal(checks, 100 + 50 + 10 + 2 + 1 + 1);
		assert_int_equal(failures, 12);
		json_decref(arr);
	}
	/* a short span: only the last check */
	assert_int_equal(wo_health_series(&arr, conn, "web", 1, 60), 0);
	assert_int_equal(json_array_size(arr), 1);
	assert_int_equal(ival(json_array_get(arr, 0), "latency_max_ms"), 7);
	json_decref(arr);
	/* nothing checked: an empty series */
	assert_int_equal(wo_health_series(&arr, conn, "idle", 24, 60), 0);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
}

static void test_states(void **state)
{
	(void)state;
	json_t *o = NULL;
	assert_int_equal(wo_health_states(&o, conn, NULL), 0);
	assert_int_equal(json_object_size(o), 3);
	assert_string_equal(sval(json_object_get(o, "api"), "state"), "unhealthy");
	assert_non_null(sval(json_object_get(o, "web"), "since"));
	json_decref(o);
	assert_int_equal(wo_health_states(&o, conn, "web"), 0);
	assert_int_equal(json_object_size(o), 1);
	json_decref(o);
	assert_int_equal(wo_health_states(&o, conn, "nope"), 0);
	assert_int_equal(json_object_size(o), 0);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_series),
		cmocka_unit_test(test_states),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
