/* The web UI's health views: badges, charts, settings and events, for the
 * deployments list and a deployment's page. */
#include "http/pages_int.h"

#include "http/http.h"
#include "http/server_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>

#include "addon/addon.h"
#include "addon/field.h"
#include "health/history.h"
#include "http/chart.h"
#include "pipeline/releases.h"
#include "pipeline/runs.h"
#include "store/access.h"
#include "store/auth.h"
#include "store/deployment.h"
#include "store/webhooks.h"
#include "util/ansi.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/url.h"
#include "util/banned.h"

/* ---- deployments ---- */

/* ---- health ---- */

static const struct {
	const char *state, *icon, *text;
} health_states[] = {
	{ "healthy", "\xe2\x9c\x93", "healthy" },        /* check mark */
	{ "unhealthy", "\xe2\x9c\x97", "unhealthy" },    /* ballot x */
	{ "pending", "\xe2\x80\xa6", "pending" },        /* ellipsis */
	{ "unknown", "?", "unknown" },
};

/* A health badge {state, icon, text, since} for a summary of
 * wo_health_list/wo_health_get; false when the deployment is not running
 * (it is not checked then, so its state says nothing). The state is one of
 * four known words (a class name); anything else shows as unknown. */
json_t *pg_health_badge(const json_t *h)
{
	const char *status = pg_jstr(h, "status");
	if (!h || !status || !wo_deployment_status_checked(status))
		return json_false();
	const char *st = pg_jstr(h, "state");
	size_t i = 0;
	while (i < 3 && (!st || strcmp(st, health_states[i].state) != 0))
		i++;
	json_t *b = json_object();
	pg_set_text(b, "state", health_states[i].state);
	pg_set_text(b, "icon", health_states[i].icon);
	pg_set_text(b, "text", health_states[i].text);
	json_object_set_new(b, "since", pg_when_json(json_object_get(h, "since")));
	return b;
}

static double pg_jnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

#define CHART_HOURS 24
#define CHART_BUCKET_S 900

/* The health section's charts from wo_health_series: latency (average,
 * slowest, intervals with failed checks) and, when an addon reports them,
 * CPU and memory. Built from numbers only (chart.c escapes the fixed texts),
 * so the templates insert them unescaped. */
static void pg_health_charts(json_t *v, const json_t *series, long long interval_s)
{
	size_t n = json_array_size(series);
	long long *t = calloc(n ? n : 1, sizeof(*t));
	double *avg = calloc(n ? n : 1, sizeof(*avg)), *max = calloc(n ? n : 1, sizeof(*max));
	double *fail = calloc(n ? n : 1, sizeof(*fail)), *cpu = calloc(n ? n : 1, sizeof(*cpu));
	double *mem = calloc(n ? n : 1, sizeof(*mem));
	if (!t || !avg || !max || !fail || !cpu || !mem)
		n = 0;
	int has_cpu = 0, has_mem = 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *p = json_array_get(series, i);
		t[i] = (long long)json_integer_value(json_object_get(p, "t"));
		avg[i] = pg_jnum(p, "latency_avg_ms");
		max[i] = pg_jnum(p, "latency_max_ms");
		fail[i] = pg_jnum(p, "failures");
		cpu[i] = pg_jnum(p, "cpu_percent");
		mem[i] = pg_jnum(p, "memory_bytes");
		has_cpu |= !isnan(cpu[i]);
		has_mem |= !isnan(mem[i]);
	}
	long long now = (long long)time(NULL);
	long long t0 = (now - CHART_HOURS * 3600) / CHART_BUCKET_S * CHART_BUCKET_S;
	struct wo_buf b = WO_BUF_INIT;

	/* drawn in this order: the average over the slowest */
	struct wo_chart_series lat[] = {
		{ .label = "Slowest", .cls = "s-max", .kind = WO_CHART_LINE, .y = max },
		{ .label = "Average", .cls = "s-lat", .kind = WO_CHART_LINE, .y = avg },
		{ .label = "Failed checks", .cls = "s-fail", .kind = WO_CHART_MARKS, .y = fail },
	};
	/* a line goes on across intervals without a check when checks are that
	 * far apart; it breaks where two were missed */
	long long gap = 2 * (interval_s > CHART_BUCKET_S ? interval_s : CHART_BUCKET_S);
	struct wo_chart c = { .id = "chart-latency", .title = "Check latency, last 24 hours",
			      .empty_text = "no checks yet", .unit = WO_CHART_MS, .t0 = t0, .t1 = now, .t = t, .n = n,
			      .bucket_s = CHART_BUCKET_S, .gap_s = gap, .series = lat, .nseries = 3 };
	wo_chart_svg(&b, &c);
	pg_set_text(v, "chart_latency", wo_buf_cstr(&b));

	/* what an addon reports: one line each, on the same time axis; left
	 * empty when there was nothing */
	static const struct {
		const char *key, *id, *title, *empty_text, *label, *cls;
		enum wo_chart_unit unit;
	} usage[] = {
		{ "chart_cpu", "chart-cpu", "CPU usage, last 24 hours", "no CPU usage reported", "CPU", "s-cpu",
		  WO_CHART_PERCENT },
		{ "chart_memory", "chart-memory", "Memory usage, last 24 hours", "no memory usage reported", "Memory",
		  "s-mem", WO_CHART_BYTES },
	};
	const double *usage_y[] = { cpu, mem };
	const int usage_any[] = { has_cpu, has_mem };
	for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
		struct wo_chart_series s = { .label = usage[i].label, .cls = usage[i].cls, .kind = WO_CHART_LINE,
					     .y = usage_y[i] };
		wo_buf_clear(&b);
		c.id = usage[i].id;
		c.title = usage[i].title;
		c.empty_text = usage[i].empty_text;
		c.unit = usage[i].unit;
		c.series = &s;
		c.nseries = 1;
		if (usage_any[i])
			wo_chart_svg(&b, &c);
		pg_set_text(v, usage[i].key, wo_buf_cstr(&b));
	}
	json_object_set_new(v, "has_checks_24h", json_boolean(n > 0));
	json_object_set_new(v, "has_resources", json_boolean(has_cpu || has_mem));
	wo_buf_release(&b);
	free(t);
	free(avg);
	free(max);
	free(fail);
	free(cpu);
	free(mem);
}

/* "every 30 s, 5 s timeout, ..." and the probe, from the settings. */
static void pg_health_settings_text(json_t *v, const json_t *set)
{
	char buf[256];
	long long retries = (long long)json_integer_value(json_object_get(set, "retries"));
	snprintf(buf, sizeof(buf), "every %lld s, %lld s timeout, unhealthy after %lld failed check%s in a row, "
		 "%lld s start period",
		 (long long)json_integer_value(json_object_get(set, "interval_s")),
		 (long long)json_integer_value(json_object_get(set, "timeout_s")), retries, retries == 1 ? "" : "s",
		 (long long)json_integer_value(json_object_get(set, "start_period_s")));
	pg_set_text(v, "schedule", buf);
	json_object_set_new(v, "retries", json_integer(retries));
	json_object_set_new(v, "restart_cap", json_integer(json_integer_value(json_object_get(set, "restarts_per_hour"))));
	const char *path = pg_jstr(set, "path");
	json_object_set_new(v, "probe_path", path ? pg_jtext(path) : json_false());
	const json_t *status = json_object_get(set, "status");
	if (json_is_integer(status)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(status));
		pg_set_text(v, "probe_status", buf);
	} else {
		pg_set_text(v, "probe_status", "");
	}
	pg_set_text(v, "probe_body", pg_jstr(set, "body"));
}

static const char *pg_event_text(const char *kind)
{
	if (!kind)
		return "event";
	if (!strcmp(kind, "state"))
		return "state changed";
	if (!strcmp(kind, "restart"))
		return "restarted";
	if (!strcmp(kind, "restart_failed"))
		return "restart failed";
	if (!strcmp(kind, "gave_up"))
		return "gave up restarting";
	if (!strcmp(kind, "reported"))
		return "reported by an addon";
	return kind;
}

/* The deployment page's Health section; {error} when it cannot be read
 * (the rest of the page still shows). */
json_t *pg_health_view(struct wo_req *req, const json_t *d)
{
	const char *name = pg_jstr(d, "name") ? pg_jstr(d, "name") : "";
	json_t *v = json_object();
	json_t *h = NULL, *series = NULL;
	if (wo_health_get(&h, req->conn, name, 10) < 0 ||
	    wo_health_series(&series, req->conn, name, CHART_HOURS, CHART_BUCKET_S) < 0) {
		pg_set_text(v, "error", wo_error_last());
		json_decref(h);
		return v;
	}
	pg_set_text(v, "error", "");
	const char *status = pg_jstr(d, "status") ? pg_jstr(d, "status") : "";
	json_object_set_new(v, "running", json_boolean(wo_deployment_status_checked(status)));
	pg_set_text(v, "status", status);
	/* the deployment's own status: h's may be older than d */
	json_object_set_new(h, "status", pg_jtext(status));
	json_object_set_new(v, "badge", pg_health_badge(h));
	const char *st = pg_jstr(h, "state");
	pg_set_text(v, "state", st);
	json_object_set_new(v, "since", pg_when_json(json_object_get(h, "since")));
	pg_set_text(v, "reason", pg_jstr(h, "reason"));
	long long failures = (long long)json_integer_value(json_object_get(h, "failures"));
	json_object_set_new(v, "failures", json_integer(failures));
	json_object_set_new(v, "restarts", json_integer(json_integer_value(json_object_get(h, "restarts_last_hour"))));
	json_object_set_new(v, "gave_up", json_boolean(json_is_true(json_object_get(h, "gave_up"))));
	json_object_set_new(v, "last_check", pg_when_json(json_object_get(h, "last_check_at")));
	json_object_set_new(v, "next_check",
			    wo_deployment_status_checked(status) ? pg_when_json(json_object_get(h, "next_check_at")) : json_false());
	pg_health_settings_text(v, json_object_get(h, "settings"));

	json_t *rows = json_array();
	int res_cols = 0;
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(h, "checks"), i, c) {
		json_t *row = json_object();
		char buf[64];
		json_object_set_new(row, "at", pg_when_json(json_object_get(c, "at")));
		json_object_set_new(row, "ok", json_boolean(json_is_true(json_object_get(c, "ok"))));
		json_object_set_new(row, "uncounted", json_boolean(json_is_false(json_object_get(c, "counted"))));
		pg_fmt_duration(buf, sizeof(buf), (long long)json_integer_value(json_object_get(c, "latency_ms")));
		pg_set_text(row, "latency", buf);
		pg_set_text(row, "failed", pg_jstr(c, "failed"));
		pg_set_text(row, "reason", pg_jstr(c, "reason"));
		double cpu = pg_jnum(c, "cpu_percent"), mem = pg_jnum(c, "memory_bytes");
		buf[0] = 0;
		if (!isnan(cpu))
			wo_chart_format(buf, sizeof(buf), cpu, WO_CHART_PERCENT);
		pg_set_text(row, "cpu", buf);
		buf[0] = 0;
		if (!isnan(mem))
			wo_chart_format(buf, sizeof(buf), mem, WO_CHART_BYTES);
		pg_set_text(row, "memory", buf);
		res_cols |= !isnan(cpu) || !isnan(mem);
		json_array_append_new(rows, row);
	}
	json_object_set_new(v, "has_checks", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(v, "resource_columns", json_boolean(res_cols));
	json_object_set_new(v, "checks", rows);

	rows = json_array();
	json_array_foreach(json_object_get(h, "events"), i, c) {
		json_t *row = json_object();
		const char *kind = pg_jstr(c, "kind");
		json_object_set_new(row, "at", pg_when_json(json_object_get(c, "at")));
		pg_set_text(row, "kind", pg_event_text(kind));
		int is_state = kind && !strcmp(kind, "state");
		json_object_set_new(row, "is_state", json_boolean(is_state));
		pg_set_text(row, "previous", pg_jstr(c, "previous") ? pg_jstr(c, "previous") : "unknown");
		pg_set_text(row, "state", pg_jstr(c, "state"));
		pg_set_text(row, "reason", pg_jstr(c, "reason"));
		json_array_append_new(rows, row);
	}
	json_object_set_new(v, "has_events", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(v, "events", rows);

	pg_health_charts(v, series, (long long)json_integer_value(json_object_get(json_object_get(h, "settings"),
									       "interval_s")));
	json_decref(series);
	json_decref(h);
	return v;
}
