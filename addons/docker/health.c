/* A container's health from its inspect document, and its CPU and memory use
 * from its stats document, computed the way the docker CLI does
 * (cli/command/container/stats_helpers.go): no engine, so it is unit-tested. */
#include "health.h"

#include <stdio.h>
#include <string.h>


static const char *hl_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* A number as a double; 0 when absent or not a number. */
static double hl_num(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : 0.0;
}

/* A non-negative number as an unsigned 64-bit value: 1 when present. The
 * Engine's counters are uint64, so a real (JSON_DECODE_INT_AS_REAL) up to
 * 2^64 is accepted too. */
static int hl_u64(unsigned long long *out, const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return 0;
		*out = (unsigned long long)i;
		return 1;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d >= 0.0) || d >= 18446744073709551616.0)
			return 0;
		*out = (unsigned long long)d;
		return 1;
	}
	return 0;
}

int dk_stats_from_json(struct dk_stats *out, const json_t *stats)
{
	if (!json_is_object(stats))
		return -1;
	struct dk_stats s;
	memset(&s, 0, sizeof(s));

	/* CPU: the container's share of the host's CPU time between the two
	 * samples, times the CPUs it may use (calculateCPUPercentUnix). One
	 * difference: without a previous sample (precpu_stats empty, as with
	 * one-shot=true) the CLI's formula would give the average since the
	 * host booted; that is no measure of now, so it is 0. */
	json_t *cur = json_object_get(stats, "cpu_stats");
	json_t *pre = json_object_get(stats, "precpu_stats");
	json_t *cur_usage = json_object_get(cur, "cpu_usage");
	double cur_sys = hl_num(cur, "system_cpu_usage");
	double pre_sys = hl_num(pre, "system_cpu_usage");
	double cpu_delta = hl_num(cur_usage, "total_usage") - hl_num(json_object_get(pre, "cpu_usage"), "total_usage");
	double sys_delta = cur_sys - pre_sys;
	double online = hl_num(cur, "online_cpus");
	if (online <= 0.0) {
		json_t *percpu = json_object_get(cur_usage, "percpu_usage");
		online = (double)(json_is_array(percpu) ? json_array_size(percpu) : 0);
	}
	s.has_cpu = cur_sys > 0.0;
	s.online_cpus = online > 0.0 && online < 1e6 ? (unsigned)online : 0;
	if (pre_sys > 0.0 && sys_delta > 0.0 && cpu_delta > 0.0)
		s.cpu_percent = cpu_delta / sys_delta * online * 100.0;

	/* Memory: usage without the page cache the kernel can drop at once
	 * (calculateMemUsageUnixNoCache): cgroup v1 reports it as
	 * total_inactive_file, cgroup v2 as inactive_file. */
	json_t *mem = json_object_get(stats, "memory_stats");
	json_t *mstats = json_object_get(mem, "stats");
	unsigned long long usage = 0, v1_inactive = 0, v2_inactive = 0;
	s.has_memory = hl_u64(&usage, mem, "usage");
	int is_v1 = hl_u64(&v1_inactive, mstats, "total_inactive_file");
	hl_u64(&v2_inactive, mstats, "inactive_file");
	if (is_v1 && v1_inactive < usage)
		s.memory_bytes = usage - v1_inactive;
	else if (v2_inactive < usage)
		s.memory_bytes = usage - v2_inactive;
	else
		s.memory_bytes = usage;
	if (!hl_u64(&s.memory_limit_bytes, mem, "limit"))
		s.memory_limit_bytes = 0;
	*out = s;
	return 0;
}

void dk_health_from_inspect(struct dk_health *h, const json_t *info)
{
	json_t *st = json_object_get(info, "State");
	h->exists = 1;
	h->running = json_is_true(json_object_get(st, "Running"));
	h->restarting = json_is_true(json_object_get(st, "Restarting"));
	h->paused = json_is_true(json_object_get(st, "Paused"));
	h->oom_killed = json_is_true(json_object_get(st, "OOMKilled"));
	h->exit_code = (int)json_integer_value(json_object_get(st, "ExitCode"));
	h->restart_count = (int)json_integer_value(json_object_get(info, "RestartCount"));
	snprintf(h->status, sizeof(h->status), "%s", hl_str(st, "Status"));
	snprintf(h->image, sizeof(h->image), "%s", hl_str(json_object_get(info, "Config"), "Image"));
	json_t *health = json_object_get(st, "Health");
	h->health[0] = '\0';
	h->failing_streak = 0;
	if (json_is_object(health)) {
		snprintf(h->health, sizeof(h->health), "%s", hl_str(health, "Status"));
		h->failing_streak = (int)json_integer_value(json_object_get(health, "FailingStreak"));
	}
	h->reason[0] = '\0';
	const char *err = hl_str(st, "Error");
	if (h->restarting || (!h->running && h->status[0])) {
		snprintf(h->reason, sizeof(h->reason), "exited with code %d%s%s%s", h->exit_code,
			 h->oom_killed ? " (OOM-killed)" : "", *err ? ": " : "", err);
		if (h->restarting || h->restart_count)
			snprintf(h->reason + strlen(h->reason), sizeof(h->reason) - strlen(h->reason),
				 "; Docker is restarting it (%d restart%s so far)", h->restart_count,
				 h->restart_count == 1 ? "" : "s");
	} else if (h->paused) {
		snprintf(h->reason, sizeof(h->reason), "paused");
	} else if (strcmp(h->health, "unhealthy") == 0) {
		json_t *logs = json_object_get(health, "Log");
		const char *last = hl_str(json_array_get(logs, json_array_size(logs) ? json_array_size(logs) - 1 : 0),
					  "Output");
		size_t n = strlen(last);
		while (n && (last[n - 1] == '\n' || last[n - 1] == '\r'))
			n--;
		snprintf(h->reason, sizeof(h->reason), "its HEALTHCHECK failed %d times in a row%s%.*s",
			 h->failing_streak, n ? "; last output: " : "", (int)(n > 400 ? 400 : n), last);
	}
}
