/* The docker addon's limits: docker_memory, docker_cpus,
 * docker_restart_policy, docker_gpus and docker_command parsed into the
 * Engine API's HostConfig (Memory, NanoCpus, RestartPolicy, nvidia
 * DeviceRequests) and the systemd unit's Restart=; bad values refused with
 * a sentence naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "dkutil.h"

static void memory_sizes(void **state)
{
	(void)state;
	long long b;
	assert_int_equal(dk_memory_parse(&b, "512m", NULL), 0);
	assert_int_equal(b, 512LL << 20);
	assert_int_equal(dk_memory_parse(&b, "2G", NULL), 0);
	assert_int_equal(b, 2LL << 30);
	assert_int_equal(dk_memory_parse(&b, "7340032", NULL), 0);
	assert_int_equal(b, 7340032);
	assert_int_equal(dk_memory_parse(&b, "8192k", NULL), 0);
	assert_int_equal(b, 8LL << 20);
	const char *bad[] = {"", "m", "12x", "1.5g", "-1m", "5m", "1k", "99999999999999999g", "1 g"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dk_buf err = DK_BUF_INIT;
		assert_int_equal(dk_memory_parse(&b, bad[i], &err), -1);
		assert_non_null(strstr(dk_buf_cstr(&err), "docker_memory: "));
		dk_buf_release(&err);
	}
}

static void cpus(void **state)
{
	(void)state;
	long long n;
	assert_int_equal(dk_cpus_parse(&n, "1.5", NULL), 0);
	assert_int_equal(n, 1500000000LL);
	assert_int_equal(dk_cpus_parse(&n, "0.25", NULL), 0);
	assert_int_equal(n, 250000000LL);
	assert_int_equal(dk_cpus_parse(&n, ".5", NULL), 0);
	assert_int_equal(n, 500000000LL);
	assert_int_equal(dk_cpus_parse(&n, "2", NULL), 0);
	assert_int_equal(n, 2000000000LL);
	const char *bad[] = {"", "0", "0.0", "-1", "1.", "1.2345", "abc", "2000", "1e3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dk_buf err = DK_BUF_INIT;
		assert_int_equal(dk_cpus_parse(&n, bad[i], &err), -1);
		assert_non_null(strstr(dk_buf_cstr(&err), "docker_cpus: "));
		dk_buf_release(&err);
	}
}

static void restart_policies(void **state)
{
	(void)state;
	struct dk_limits l = {0};
	assert_int_equal(dk_restart_parse(&l, "on-failure:5", NULL), 0);
	json_t *p = dk_limits_restart_policy(&l);
	assert_string_equal(json_string_value(json_object_get(p, "Name")), "on-failure");
	assert_int_equal(json_integer_value(json_object_get(p, "MaximumRetryCount")), 5);
	json_decref(p);
	assert_string_equal(dk_limits_unit_restart(&l), "on-failure");
	assert_int_equal(dk_restart_parse(&l, "no", NULL), 0);
	assert_string_equal(dk_limits_unit_restart(&l), "no");
	assert_int_equal(dk_restart_parse(&l, "unless-stopped", NULL), 0);
	assert_string_equal(dk_limits_unit_restart(&l), "always");
	assert_int_equal(dk_restart_parse(&l, "on-failure", NULL), 0);
	assert_int_equal(l.restart_max, 0);
	const char *bad[] = {"", "sometimes", "on-failure:", "on-failure:0", "on-failure:x", "on-failure:5000",
			     "always:3", "on-failures"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dk_buf err = DK_BUF_INIT;
		assert_int_equal(dk_restart_parse(&l, bad[i], &err), -1);
		assert_non_null(strstr(dk_buf_cstr(&err), "docker_restart_policy: "));
		dk_buf_release(&err);
	}
}

static void gpus(void **state)
{
	(void)state;
	json_t *r = NULL;
	assert_int_equal(dk_gpus_parse(&r, "all", NULL), 0);
	json_t *req = json_array_get(r, 0);
	assert_string_equal(json_string_value(json_object_get(req, "Driver")), "nvidia");
	assert_int_equal(json_integer_value(json_object_get(req, "Count")), -1);
	assert_string_equal(json_string_value(json_array_get(json_array_get(json_object_get(req, "Capabilities"), 0), 0)),
			    "gpu");
	json_decref(r);
	assert_int_equal(dk_gpus_parse(&r, "2", NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(r, 0), "Count")), 2);
	json_decref(r);
	assert_int_equal(dk_gpus_parse(&r, "0,GPU-3f2a-1b", NULL), 0);
	json_t *ids = json_object_get(json_array_get(r, 0), "DeviceIDs");
	assert_int_equal(json_array_size(ids), 2);
	assert_string_equal(json_string_value(json_array_get(ids, 1)), "GPU-3f2a-1b");
	assert_null(json_object_get(json_array_get(r, 0), "Count"));
	json_decref(r);
	const char *bad[] = {"", "a;b", ",0", "0,", "0,,1", "0", "$(id)"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dk_buf err = DK_BUF_INIT;
		assert_int_equal(dk_gpus_parse(&r, bad[i], &err), -1);
		assert_non_null(strstr(dk_buf_cstr(&err), "docker_gpus: "));
		dk_buf_release(&err);
	}
}

static void command_and_body(void **state)
{
	(void)state;
	json_t *c = NULL;
	assert_int_equal(dk_command_parse(&c, "[\"gunicorn\",\"app:app\"]", NULL), 0);
	assert_int_equal(json_array_size(c), 2);
	json_decref(c);
	const char *bad[] = {"[]", "[1]", "{\"a\":1}", "\"x\"", "[\"\"]", "not json"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dk_buf err = DK_BUF_INIT;
		assert_int_equal(dk_command_parse(&c, bad[i], &err), -1);
		assert_non_null(strstr(dk_buf_cstr(&err), "docker_command: "));
		dk_buf_release(&err);
	}
	/* all together, every error at once */
	struct dk_limits l;
	struct dk_buf err = DK_BUF_INIT;
	struct dk_limits_input bad_in = {.memory = "lots", .cpus = "0", .restart = "x", .gpus = "a b"};
	assert_int_equal(dk_limits_build(&l, &bad_in, &err), -1);
	const char *fields[] = {"docker_memory", "docker_cpus", "docker_restart_policy", "docker_gpus"};
	for (size_t i = 0; i < 4; i++)
		assert_non_null(strstr(dk_buf_cstr(&err), fields[i]));
	dk_buf_release(&err);
	struct dk_limits_input in = {.memory = "1g", .cpus = "1.5", .restart = "always", .gpus = "1"};
	assert_int_equal(dk_limits_build(&l, &in, NULL), 0);
	json_t *hc = json_object();
	dk_limits_apply(&l, hc);
	assert_int_equal(json_integer_value(json_object_get(hc, "Memory")), 1LL << 30);
	assert_int_equal(json_integer_value(json_object_get(hc, "NanoCpus")), 1500000000LL);
	assert_int_equal(json_array_size(json_object_get(hc, "DeviceRequests")), 1);
	json_decref(hc);
	dk_limits_release(&l);
	/* nothing given: no limit, unless-stopped */
	struct dk_limits_input none = {0};
	assert_int_equal(dk_limits_build(&l, &none, NULL), 0);
	hc = json_object();
	dk_limits_apply(&l, hc);
	assert_int_equal(json_object_size(hc), 0);
	json_t *p = dk_limits_restart_policy(&l);
	assert_string_equal(json_string_value(json_object_get(p, "Name")), "unless-stopped");
	json_decref(p);
	json_decref(hc);
	dk_limits_release(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(memory_sizes), cmocka_unit_test(cpus), cmocka_unit_test(restart_policies),
		cmocka_unit_test(gpus), cmocka_unit_test(command_and_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
