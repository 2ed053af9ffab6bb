/* The docker addon's health figures: CPU % and memory from the Engine's stats
 * document, computed as the docker CLI does, on cgroup v1 and v2, with an
 * empty previous sample, zero deltas and missing fields; and the reason a
 * stopped container gives (exit code, OOM-killed) from its inspect document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "dkutil.h"

/* A busy loop in a busybox container, as Docker 20.10 answered
 * GET /containers/ID/stats?stream=false on a cgroup v1 host with 2 CPUs. */
static const char v1_busy[] =
	"{\"read\":\"2026-11-24T11:26:36.615040321Z\",\"preread\":\"2026-11-24T11:26:35.612476503Z\","
	"\"pids_stats\":{\"current\":1},"
	"\"blkio_stats\":{\"io_service_bytes_recursive\":[],\"io_serviced_recursive\":[]},"
	"\"num_procs\":0,\"storage_stats\":{},"
	"\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":3034381514,\"percpu_usage\":[15436207,3018945307],"
	"\"usage_in_kernelmode\":0,\"usage_in_usermode\":3020000000},\"system_cpu_usage\":2400860000000,"
	"\"online_cpus\":2,\"throttling_data\":{\"periods\":0,\"throttled_periods\":0,\"throttled_time\":0}},"
	"\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":2030480047,\"percpu_usage\":[15436207,2015043840],"
	"\"usage_in_kernelmode\":0,\"usage_in_usermode\":2020000000},\"system_cpu_usage\":2398860000000,"
	"\"online_cpus\":2,\"throttling_data\":{\"periods\":0,\"throttled_periods\":0,\"throttled_time\":0}},"
	"\"memory_stats\":{\"usage\":1376256,\"max_usage\":3817472,\"stats\":{\"active_anon\":4096,"
	"\"active_file\":122880,\"cache\":880640,\"dirty\":0,\"hierarchical_memory_limit\":9223372036854771712,"
	"\"hierarchical_memsw_limit\":9223372036854771712,\"inactive_anon\":61440,\"inactive_file\":757760,"
	"\"mapped_file\":712704,\"pgfault\":1040,\"pgmajfault\":1,\"rss\":65536,\"total_active_file\":122880,"
	"\"total_cache\":880640,\"total_inactive_anon\":61440,\"total_inactive_file\":757760,\"total_rss\":65536,"
	"\"unevictable\":0,\"writeback\":0},\"limit\":25276502016},"
	"\"name\":\"/webops-site\",\"id\":\"d849f0c3adc7a3bc6cce5dad459c0fe4e9024986988bb538db4ba60d6bd4678c\","
	"\"networks\":{\"eth0\":{\"rx_bytes\":1042,\"rx_packets\":11,\"tx_bytes\":0,\"tx_packets\":0}}}";

/* A cgroup v2 host with 4 CPUs (Docker 24): no percpu_usage, the cache is
 * inactive_file, and pids_stats.limit is "max" as 2^64-1, which does not fit
 * jansson's int64. */
static const char v2_web[] =
	"{\"read\":\"2026-11-24T10:15:31.512538771Z\",\"preread\":\"2026-11-24T10:15:30.509829414Z\","
	"\"pids_stats\":{\"current\":5,\"limit\":18446744073709551615},"
	"\"blkio_stats\":{\"io_service_bytes_recursive\":[{\"major\":254,\"minor\":0,\"op\":\"read\",\"value\":4096},"
	"{\"major\":254,\"minor\":0,\"op\":\"write\",\"value\":0}],\"io_serviced_recursive\":null},"
	"\"num_procs\":0,\"storage_stats\":{},"
	"\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":2345678000,\"usage_in_kernelmode\":1114098000,"
	"\"usage_in_usermode\":1231580000},\"system_cpu_usage\":195777240000000,\"online_cpus\":4,"
	"\"throttling_data\":{\"periods\":0,\"throttled_periods\":0,\"throttled_time\":0}},"
	"\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":2100000000,\"usage_in_kernelmode\":1000000000,"
	"\"usage_in_usermode\":1100000000},\"system_cpu_usage\":195773200000000,\"online_cpus\":4,"
	"\"throttling_data\":{\"periods\":0,\"throttled_periods\":0,\"throttled_time\":0}},"
	"\"memory_stats\":{\"usage\":52428800,\"stats\":{\"active_anon\":0,\"active_file\":4096,"
	"\"anon\":40894464,\"anon_thp\":0,\"file\":11210752,\"file_dirty\":0,\"file_mapped\":2097152,"
	"\"inactive_anon\":40894464,\"inactive_file\":10485760,\"kernel_stack\":16384,\"pgfault\":5301,"
	"\"shmem\":0,\"slab\":258712,\"slab_reclaimable\":167176,\"slab_unreclaimable\":91536,\"sock\":0,"
	"\"unevictable\":0,\"workingset_refault\":0},\"limit\":4124508160},"
	"\"name\":\"/webops-api\",\"id\":\"20a80e41e8c2ef2063f1f9e91667b6261650e79cf86e0159b078c994e7fc26a5\","
	"\"networks\":{\"eth0\":{\"rx_bytes\":2276,\"rx_packets\":30,\"tx_bytes\":0,\"tx_packets\":0}}}";

static json_t *load(const char *text, size_t flags)
{
	json_error_t err;
	json_t *j = json_loads(text, flags, &err);
	if (!j)
		fail_msg("test document does not parse: %s (line %d)", err.text, err.line);
	return j;
}

static struct dk_stats compute(const char *text, size_t flags)
{
	struct dk_stats s;
	memset(&s, 0x5a, sizeof(s));
	json_t *j = load(text, flags);
	assert_int_equal(dk_stats_from_json(&s, j), 0);
	json_decref(j);
	return s;
}

/* What the hook publishes as cpu_percent. */
static const char *pct(const struct dk_stats *s)
{
	static char buf[32];
	snprintf(buf, sizeof(buf), "%.2f", s->cpu_percent);
	return buf;
}

static void cgroup_v1(void **state)
{
	(void)state;
	struct dk_stats s = compute(v1_busy, 0);
	/* (3034381514 - 2030480047) / (2400860000000 - 2398860000000) * 2 * 100 */
	assert_true(s.has_cpu);
	assert_int_equal(s.online_cpus, 2);
	assert_true(fabs(s.cpu_percent - 100.3901467) < 1e-6);
	assert_string_equal(pct(&s), "100.39");
	/* usage - total_inactive_file */
	assert_true(s.has_memory);
	assert_int_equal(s.memory_bytes, 1376256 - 757760);
	assert_int_equal(s.memory_limit_bytes, 25276502016ULL);
}

static void cgroup_v1_decoded_as_reals(void **state)
{
	(void)state;
	/* The engine client decodes stats with JSON_DECODE_INT_AS_REAL: same figures. */
	struct dk_stats a = compute(v1_busy, 0), b = compute(v1_busy, JSON_DECODE_INT_AS_REAL);
	assert_true(fabs(a.cpu_percent - b.cpu_percent) < 1e-9);
	assert_int_equal(a.memory_bytes, b.memory_bytes);
	assert_int_equal(a.memory_limit_bytes, b.memory_limit_bytes);
	assert_int_equal(a.online_cpus, b.online_cpus);
}

static void cgroup_v1_percpu_fallback(void **state)
{
	(void)state;
	/* Engines before API 1.27 send no online_cpus: the CLI counts percpu_usage. */
	struct dk_stats s = compute("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":1500000000,"
				    "\"percpu_usage\":[1,2,3,4]},\"system_cpu_usage\":14000000000},"
				    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":1000000000,"
				    "\"percpu_usage\":[1,2,3,4]},\"system_cpu_usage\":10000000000},"
				    "\"memory_stats\":{\"usage\":1000,\"stats\":{\"total_inactive_file\":200,"
				    "\"inactive_file\":100},\"limit\":4096}}",
				    0);
	assert_int_equal(s.online_cpus, 4);
	assert_string_equal(pct(&s), "50.00"); /* 0.5e9 / 4e9 * 4 * 100 */
	assert_int_equal(s.memory_bytes, 800);
	/* online_cpus 0 counts as absent */
	s = compute("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":200,\"percpu_usage\":[1,2]},"
		    "\"system_cpu_usage\":2000,\"online_cpus\":0},"
		    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":100},\"system_cpu_usage\":1000}}",
		    0);
	assert_int_equal(s.online_cpus, 2);
	assert_string_equal(pct(&s), "20.00");
	/* neither: no CPUs to multiply by, 0 as the CLI gives */
	s = compute("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":200},\"system_cpu_usage\":2000},"
		    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":100},\"system_cpu_usage\":1000}}",
		    0);
	assert_int_equal(s.online_cpus, 0);
	assert_true(s.cpu_percent == 0.0);
}

static void cgroup_v1_inactive_not_below_usage(void **state)
{
	(void)state;
	/* total_inactive_file >= usage: the CLI goes on to inactive_file */
	struct dk_stats s = compute("{\"memory_stats\":{\"usage\":1000,\"stats\":{\"total_inactive_file\":1000,"
				    "\"inactive_file\":300}}}",
				    0);
	assert_int_equal(s.memory_bytes, 700);
	/* both above: usage as it is */
	s = compute("{\"memory_stats\":{\"usage\":1000,\"stats\":{\"total_inactive_file\":5000,"
		    "\"inactive_file\":2000}}}",
		    0);
	assert_int_equal(s.memory_bytes, 1000);
	assert_int_equal(s.memory_limit_bytes, 0);
}

static void cgroup_v2(void **state)
{
	(void)state;
	/* Why the client decodes numbers as reals: 2^64-1 is refused as an integer. */
	json_error_t err;
	json_t *strict = json_loads(v2_web, 0, &err);
	assert_null(strict);

	struct dk_stats s = compute(v2_web, JSON_DECODE_INT_AS_REAL);
	/* (2345678000 - 2100000000) / (195777240000000 - 195773200000000) * 4 * 100 */
	assert_true(s.has_cpu);
	assert_int_equal(s.online_cpus, 4);
	assert_true(fabs(s.cpu_percent - 24.3245544554) < 1e-6);
	assert_string_equal(pct(&s), "24.32");
	/* usage - inactive_file */
	assert_true(s.has_memory);
	assert_int_equal(s.memory_bytes, 52428800 - 10485760);
	assert_int_equal(s.memory_limit_bytes, 4124508160ULL);
}

static void cgroup_v2_cache_edge_cases(void **state)
{
	(void)state;
	/* inactive_file not below usage: usage */
	struct dk_stats s = compute("{\"memory_stats\":{\"usage\":4096,\"stats\":{\"inactive_file\":4096}}}", 0);
	assert_int_equal(s.memory_bytes, 4096);
	/* no inactive_file at all: usage */
	s = compute("{\"memory_stats\":{\"usage\":4096,\"stats\":{\"anon\":4096}}}", 0);
	assert_int_equal(s.memory_bytes, 4096);
	/* no stats object */
	s = compute("{\"memory_stats\":{\"usage\":4096,\"limit\":8192}}", 0);
	assert_int_equal(s.memory_bytes, 4096);
	assert_int_equal(s.memory_limit_bytes, 8192);
	/* a usage above 2^53 survives reals within a double's precision */
	s = compute("{\"memory_stats\":{\"usage\":18014398509481984,\"stats\":{\"inactive_file\":0}}}",
		    JSON_DECODE_INT_AS_REAL);
	assert_int_equal(s.memory_bytes, 18014398509481984ULL);
}

static void precpu_empty(void **state)
{
	(void)state;
	/* one-shot=true (or a first frame): precpu_stats holds zeros and no
	 * system_cpu_usage. The CLI's formula would give the average since boot;
	 * this gives 0, and the memory figures are unaffected. */
	struct dk_stats s = compute("{\"read\":\"2026-11-24T11:26:37.6178501Z\",\"preread\":\"0001-01-01T00:00:00Z\","
				    "\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":4038328338,"
				    "\"percpu_usage\":[15436207,4022892131]},\"system_cpu_usage\":2402850000000,"
				    "\"online_cpus\":2},"
				    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":0,\"usage_in_kernelmode\":0,"
				    "\"usage_in_usermode\":0},\"throttling_data\":{\"periods\":0}},"
				    "\"memory_stats\":{\"usage\":1376256,\"stats\":{\"total_inactive_file\":757760},"
				    "\"limit\":25276502016}}",
				    0);
	assert_true(s.has_cpu);
	assert_true(s.cpu_percent == 0.0);
	assert_string_equal(pct(&s), "0.00");
	assert_int_equal(s.memory_bytes, 618496);
	/* precpu_stats missing altogether */
	s = compute("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":5},\"system_cpu_usage\":10,\"online_cpus\":1}}", 0);
	assert_true(s.cpu_percent == 0.0);
}

static void zero_and_negative_deltas(void **state)
{
	(void)state;
	/* an idle container: the same total_usage in both samples */
	struct dk_stats s = compute("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":167978000},"
				    "\"system_cpu_usage\":195777240000000,\"online_cpus\":4},"
				    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":167978000},"
				    "\"system_cpu_usage\":195773200000000,\"online_cpus\":4}}",
				    0);
	assert_true(s.cpu_percent == 0.0);
	/* the same sample twice: system delta 0, no division by zero */
	s = compute("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":200},\"system_cpu_usage\":1000,\"online_cpus\":2},"
		    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":100},\"system_cpu_usage\":1000}}",
		    0);
	assert_true(isfinite(s.cpu_percent));
	assert_true(s.cpu_percent == 0.0);
	/* counters that went backwards (a restarted container): 0, never negative */
	s = compute("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":100},\"system_cpu_usage\":2000,\"online_cpus\":2},"
		    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":900},\"system_cpu_usage\":1000}}",
		    0);
	assert_true(s.cpu_percent == 0.0);
	s = compute("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":900},\"system_cpu_usage\":1000,\"online_cpus\":2},"
		    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":100},\"system_cpu_usage\":2000}}",
		    0);
	assert_true(s.cpu_percent == 0.0);
}

static void missing_fields(void **state)
{
	(void)state;
	/* an empty document */
	struct dk_stats s = compute("{}", 0);
	assert_false(s.has_cpu);
	assert_false(s.has_memory);
	assert_true(s.cpu_percent == 0.0);
	assert_int_equal(s.memory_bytes, 0);
	assert_int_equal(s.memory_limit_bytes, 0);
	assert_int_equal(s.online_cpus, 0);
	/* what the engine says of a stopped container */
	s = compute("{\"read\":\"0001-01-01T00:00:00Z\",\"pids_stats\":{},\"cpu_stats\":{\"cpu_usage\":"
		    "{\"total_usage\":0,\"usage_in_kernelmode\":0,\"usage_in_usermode\":0},\"throttling_data\":{}},"
		    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":0},\"throttling_data\":{}},"
		    "\"memory_stats\":{},\"networks\":null}",
		    0);
	assert_false(s.has_cpu);
	assert_false(s.has_memory);
	assert_true(s.cpu_percent == 0.0);
	/* wrong types are treated as absent */
	s = compute("{\"cpu_stats\":\"busy\",\"precpu_stats\":[],\"memory_stats\":{\"usage\":\"1 MB\","
		    "\"stats\":{\"inactive_file\":-5},\"limit\":-1}}",
		    0);
	assert_false(s.has_cpu);
	assert_false(s.has_memory);
	assert_int_equal(s.memory_bytes, 0);
	assert_int_equal(s.memory_limit_bytes, 0);
	/* not an object: refused, out untouched */
	struct dk_stats keep;
	memset(&keep, 0x5a, sizeof(keep));
	struct dk_stats out = keep;
	json_t *arr = json_array();
	assert_int_equal(dk_stats_from_json(&out, arr), -1);
	assert_int_equal(dk_stats_from_json(&out, NULL), -1);
	assert_memory_equal(&out, &keep, sizeof(out));
	json_decref(arr);
}

static struct dk_health inspect(const char *text)
{
	struct dk_health h;
	memset(&h, 0, sizeof(h));
	json_t *j = load(text, 0);
	dk_health_from_inspect(&h, j);
	json_decref(j);
	return h;
}

static void inspect_reasons(void **state)
{
	(void)state;
	struct dk_health h = inspect("{\"Id\":\"abc\",\"RestartCount\":0,\"Config\":{\"Image\":\"webops/site:1234567\"},"
				     "\"State\":{\"Status\":\"running\",\"Running\":true,\"Paused\":false,"
				     "\"Restarting\":false,\"OOMKilled\":false,\"ExitCode\":0,\"Error\":\"\"}}");
	assert_true(h.running);
	assert_false(h.oom_killed);
	assert_string_equal(h.reason, "");
	assert_string_equal(h.image, "webops/site:1234567");

	h = inspect("{\"RestartCount\":0,\"State\":{\"Status\":\"exited\",\"Running\":false,\"OOMKilled\":true,"
		    "\"ExitCode\":137,\"Error\":\"\"}}");
	assert_false(h.running);
	assert_true(h.oom_killed);
	assert_int_equal(h.exit_code, 137);
	assert_string_equal(h.reason, "exited with code 137 (OOM-killed)");

	h = inspect("{\"RestartCount\":0,\"State\":{\"Status\":\"exited\",\"Running\":false,\"OOMKilled\":false,"
		    "\"ExitCode\":137}}");
	assert_false(h.oom_killed);
	assert_string_equal(h.reason, "exited with code 137");

	h = inspect("{\"RestartCount\":2,\"State\":{\"Status\":\"restarting\",\"Running\":true,\"Restarting\":true,"
		    "\"OOMKilled\":true,\"ExitCode\":137,\"Error\":\"\"}}");
	assert_int_equal(h.restart_count, 2);
	assert_string_equal(h.reason, "exited with code 137 (OOM-killed); Docker is restarting it (2 restarts so far)");

	h = inspect("{\"State\":{\"Status\":\"running\",\"Running\":true,\"Health\":{\"Status\":\"unhealthy\","
		    "\"FailingStreak\":3,\"Log\":[{\"ExitCode\":1,\"Output\":\"curl: (7) refused\\n\"}]}}}");
	assert_string_equal(h.health, "unhealthy");
	assert_string_equal(h.reason, "its HEALTHCHECK failed 3 times in a row; last output: curl: (7) refused");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cgroup_v1),
		cmocka_unit_test(cgroup_v1_decoded_as_reals),
		cmocka_unit_test(cgroup_v1_percpu_fallback),
		cmocka_unit_test(cgroup_v1_inactive_not_below_usage),
		cmocka_unit_test(cgroup_v2),
		cmocka_unit_test(cgroup_v2_cache_edge_cases),
		cmocka_unit_test(precpu_empty),
		cmocka_unit_test(zero_and_negative_deltas),
		cmocka_unit_test(missing_fields),
		cmocka_unit_test(inspect_reasons),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
