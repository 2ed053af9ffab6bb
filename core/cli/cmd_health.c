/* `webops health [NAME] [--history] [--json]`: what the health checks of
 * webopsd found (health/history.h), as a table of every deployment or the
 * detail of one; exit status 1 when the one asked about is unhealthy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "health/history.h"
#include "store/deployment.h"
#include "util/error.h"
#include "util/banned.h"

#define CHECKS_SHOWN 10
#define HISTORY_SHOWN 50


static const char *str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* "2024-05-01T10:00:00Z" as Unix time; -1 when it is not one. */
static long long parse_iso(const char *s)
{
	struct tm tm = { 0 };
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
			 &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm);
}

/* A duration in its two largest units: 45s, 12m30s, 3h05m, 2d04h. */
static void fmt_span(char *out, size_t cap, long long s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, cap, "%llds", s);
	else if (s < 3600)
		snprintf(out, cap, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, cap, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, cap, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* How long ago iso was ("12s ago"), or "-" when it is null. */
static void fmt_ago(char *out, size_t cap, const char *iso)
{
	long long t = parse_iso(iso);
	if (t < 0) {
		snprintf(out, cap, "-");
		return;
	}
	char span[32];
	long long d = (long long)time(NULL) - t;
	if (d < 0) {
		fmt_span(span, sizeof(span), -d);
		snprintf(out, cap, "in %s", span);
	} else {
		fmt_span(span, sizeof(span), d);
		snprintf(out, cap, "%s ago", span);
	}
}

static void fmt_bytes(char *out, size_t cap, double b)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(out, cap, u ? "%.1f%s" : "%.0f%s", b, units[u]);
}

/* "probe: connection refused" from a check's or event's failed and reason;
 * escaped: both come from probes and addons. */
static void print_reason(const json_t *o, int with_failed)
{
	const char *failed = with_failed ? str(o, "failed") : NULL;
	const char *reason = str(o, "reason");
	if (!failed && !reason) {
		fputs("-", stdout);
		return;
	}
	if (failed) {
		wo_out_escaped(stdout, failed);
		if (reason)
			fputs(": ", stdout);
	}
	if (reason)
		wo_out_escaped(stdout, reason);
}

static int cmd_list(PGconn *conn, int json)
{
	json_t *arr;
	if (wo_health_list(&arr, conn) < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (json) {
		wo_out_json(arr);
		json_decref(arr);
		return WO_EXIT_OK;
	}
	if (json_array_size(arr) == 0) {
		printf("no deployments yet: create one with\n"
		       "  webops deployment create --name NAME --repo URL\n");
		json_decref(arr);
		return WO_EXIT_OK;
	}
	printf("%-24s %-9s %-10s %-7s %-5s %-11s %-8s %s\n", "NAME", "STATUS", "HEALTH", "FOR", "FAILS", "LAST CHECK",
	       "RESTARTS", "REASON");
	size_t i;
	json_t *h;
	long long now = (long long)time(NULL);
	json_array_foreach(arr, i, h) {
		char since[32] = "-", last[32];
		long long t = parse_iso(str(h, "since"));
		if (t >= 0)
			fmt_span(since, sizeof(since), now - t);
		fmt_ago(last, sizeof(last), str(h, "last_check_at"));
		printf("%-24s %-9s %-10s %-7s %-5lld %-11s %-8lld ", str(h, "deployment"), str(h, "status"),
		       str(h, "state"), since, (long long)json_integer_value(json_object_get(h, "failures")), last,
		       (long long)json_integer_value(json_object_get(h, "restarts_last_hour")));
		if (json_is_true(json_object_get(h, "gave_up")))
			fputs("gave up restarting; ", stdout);
		print_reason(h, 0);
		fputc('\n', stdout);
	}
	json_decref(arr);
	return WO_EXIT_OK;
}

static void print_settings(const json_t *s)
{
	printf("settings:     every %llds, timeout %llds, unhealthy after %lld failure(s) in a row,\n"
	       "              start period %llds, at most %lld automatic restart(s) an hour\n",
	       (long long)json_integer_value(json_object_get(s, "interval_s")),
	       (long long)json_integer_value(json_object_get(s, "timeout_s")),
	       (long long)json_integer_value(json_object_get(s, "retries")),
	       (long long)json_integer_value(json_object_get(s, "start_period_s")),
	       (long long)json_integer_value(json_object_get(s, "restarts_per_hour")));
	const char *path = str(s, "path");
	if (!path) {
		printf("probe:        none (the addons' health hooks decide)\n");
		return;
	}
	printf("probe:        GET ");
	wo_out_escaped(stdout, path);
	const json_t *st = json_object_get(s, "status");
	if (json_is_integer(st))
		printf(" expecting %lld", (long long)json_integer_value(st));
	else
		printf(" expecting a status below 400");
	if (str(s, "body")) {
		printf(" containing '");
		wo_out_escaped(stdout, str(s, "body"));
		printf("'");
	}
	printf("\n");
}

static void print_checks(const json_t *checks, size_t limit)
{
	size_t n = json_array_size(checks);
	if (!n) {
		printf("\nno checks yet (webopsd checks running deployments every interval)\n");
		return;
	}
	int resources = 0, uncounted = 0;
	size_t i;
	json_t *c;
	json_array_foreach(checks, i, c) {
		resources |= !json_is_null(json_object_get(c, "cpu_percent")) ||
			     !json_is_null(json_object_get(c, "memory_bytes"));
	}
	printf("\nLast checks (newest first):\n");
	printf("%-20s %-11s %-6s %8s", "AT", "AGO", "RESULT", "LATENCY");
	if (resources)
		printf(" %7s %10s", "CPU", "MEMORY");
	printf("  %s\n", "REASON");
	json_array_foreach(checks, i, c) {
		if (i >= limit)
			break;
		char ago[32], lat[24], cpu[16] = "-", mem[24] = "-";
		int ok = json_is_true(json_object_get(c, "ok"));
		int counted = json_is_true(json_object_get(c, "counted"));
		uncounted |= !ok && !counted;
		fmt_ago(ago, sizeof(ago), str(c, "at"));
		snprintf(lat, sizeof(lat), "%lldms", (long long)json_integer_value(json_object_get(c, "latency_ms")));
		printf("%-20s %-11s %-6s %8s", str(c, "at"), ago, ok ? "ok" : counted ? "fail" : "fail*", lat);
		if (resources) {
			const json_t *v = json_object_get(c, "cpu_percent");
			if (json_is_number(v))
				snprintf(cpu, sizeof(cpu), "%.1f%%", json_number_value(v));
			v = json_object_get(c, "memory_bytes");
			if (json_is_number(v))
				fmt_bytes(mem, sizeof(mem), json_number_value(v));
			printf(" %7s %10s", cpu, mem);
		}
		printf("  ");
		if (ok)
			fputs("-", stdout);
		else
			print_reason(c, 1);
		fputc('\n', stdout);
	}
	if (uncounted)
		printf("* failed within the start period: not counted\n");
}

static void print_event(const json_t *e)
{
	char ago[32];
	const char *kind = str(e, "kind");
	fmt_ago(ago, sizeof(ago), str(e, "at"));
	printf("%-20s %-11s ", str(e, "at"), ago);
	if (!strcmp(kind, "state"))
		printf("%-9s -> %-9s ", str(e, "previous") ? str(e, "previous") : "?", str(e, "state") ? str(e, "state") : "?");
	else if (!strcmp(kind, "restart"))
		printf("%-22s ", "restarted");
	else if (!strcmp(kind, "restart_failed"))
		printf("%-22s ", "restart failed");
	else if (!strcmp(kind, "gave_up"))
		printf("%-22s ", "gave up restarting");
	else if (!strcmp(kind, "reported"))
		printf("%-22s ", "reported by an addon");
	else
		printf("%-22s ", kind);
	print_reason(e, 0);
	fputc('\n', stdout);
}

static int cmd_show(PGconn *conn, const char *name, int json, int history, long limit)
{
	json_t *h;
	if (wo_health_get(&h, conn, name, (int)limit) < 0)
		return wo_cli_fail("%s", wo_error_last());
	int unhealthy = !strcmp(str(h, "state"), "unhealthy");
	if (json) {
		wo_out_json(h);
		json_decref(h);
		return unhealthy ? WO_EXIT_ERROR : WO_EXIT_OK;
	}
	long long now = (long long)time(NULL);
	char span[32] = "?", ago[32];
	long long since = parse_iso(str(h, "since"));
	if (since >= 0)
		fmt_span(span, sizeof(span), now - since);
	printf("deployment:   %s (%s)\n", name, str(h, "status"));
	printf("health:       %s for %s (since %s)", str(h, "state"), span, str(h, "since"));
	long long failures = (long long)json_integer_value(json_object_get(h, "failures"));
	if (failures)
		printf(", %lld failed check(s) in a row", failures);
	printf("\n");
	if (str(h, "reason")) {
		printf("reason:       ");
		print_reason(h, 0);
		printf("\n");
	}
	fmt_ago(ago, sizeof(ago), str(h, "last_check_at"));
	printf("last check:   %s%s%s%s\n", str(h, "last_check_at") ? str(h, "last_check_at") : "never",
	       str(h, "last_check_at") ? " (" : "", str(h, "last_check_at") ? ago : "",
	       str(h, "last_check_at") ? ")" : "");
	if (wo_deployment_status_checked(str(h, "status")) && str(h, "next_check_at")) {
		fmt_ago(ago, sizeof(ago), str(h, "next_check_at"));
		printf("next check:   %s (%s)\n", str(h, "next_check_at"), ago);
	} else if (!wo_deployment_status_checked(str(h, "status"))) {
		printf("next check:   none while the deployment is %s\n", str(h, "status"));
	}
	long long grace = parse_iso(str(h, "grace_until"));
	if (grace > now) {
		fmt_ago(ago, sizeof(ago), str(h, "grace_until"));
		printf("start period: failures do not count until %s (%s)\n", str(h, "grace_until"), ago);
	}
	printf("restarts:     %lld in the last hour",
	       (long long)json_integer_value(json_object_get(h, "restarts_last_hour")));
	if (json_is_true(json_object_get(h, "gave_up")))
		printf("; gave up restarting (the hourly cap was reached) until it is healthy again");
	else if (parse_iso(str(h, "restart_at")) > now) {
		fmt_ago(ago, sizeof(ago), str(h, "restart_at"));
		printf("; the next automatic restart not before %s (%s)", str(h, "restart_at"), ago);
	}
	printf("\n");
	print_settings(json_object_get(h, "settings"));

	print_checks(json_object_get(h, "checks"), (size_t)limit);

	const json_t *events = json_object_get(h, "events");
	size_t i;
	json_t *e;
	if (history) {
		if (!json_array_size(events)) {
			printf("\nno health events yet\n");
		} else {
			printf("\nEvents (newest first):\n%-20s %-11s %-22s %s\n", "AT", "AGO", "EVENT", "REASON");
			json_array_foreach(events, i, e)
				print_event(e);
		}
	} else {
		/* without --history: only what restarts did, recent first */
		int header = 0;
		json_array_foreach(events, i, e) {
			if (!strcmp(str(e, "kind"), "state"))
				continue;
			if (!header) {
				printf("\nRecent restarts (newest first; --history shows every event):\n");
				header = 1;
			}
			print_event(e);
		}
	}
	json_decref(h);
	return unhealthy ? WO_EXIT_ERROR : WO_EXIT_OK;
}

int wo_cmd_health(struct wo_cli *cli, int argc, char **argv)
{
	int json = 0, history = 0;
	long long limit = 0;
	const struct wo_opt opts[] = {
		WO_OPT_FLAG("history", 0, &history, "with NAME: the event history too (state changes, restarts, failed "
		            "restarts, giving up) and more checks (50)"),
		WO_OPT_INT("limit", 'n', &limit, "N", 1, 500, "with NAME: how many checks and events"),
		WO_OPT_FLAG("json", 0, &json, "the records as JSON (as GET /api/v1/health and "
		            "/api/v1/deployments/NAME/health)"),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"health", "[NAME]", 0, 1,
		"What webopsd's periodic health checks found. Without NAME: every deployment with its status, its\n"
		"health state and for how long, consecutive failures, the last check, automatic restarts in the\n"
		"last hour and the last failure's reason. With NAME: its state, health settings, the last checks\n"
		"(result, latency, reason, CPU and memory when an addon reports them) and restarts.",
		"States: unknown (not checked yet), pending (in its start period), healthy, unhealthy (failed\n"
		"'retries' checks in a row). Settings are changed with 'webops deployment update NAME --health-...'.\n"
		"\n"
		"Exit status: 0; with NAME, 1 when the deployment is unhealthy (so scripts can test\n"
		"'webops health NAME'), also with --json; 1 on an error (e.g. no such deployment), 2 on a usage error.\n",
		opts,
	};
	char **ops = NULL;
	int nops = 0;
	int parsed = wo_opts_parse(&spec, argc, argv, &ops, &nops);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	const char *name = nops ? ops[0] : NULL;
	free(ops);
	if (!name && (history || limit))
		return wo_cli_usage_error("health", "%s needs the deployment NAME", history ? "--history" : "--limit");
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	if (!name)
		return cmd_list(conn, json);
	if (!limit)
		limit = history ? HISTORY_SHOWN : CHECKS_SHOWN;
	return cmd_show(conn, name, json, history, (long)limit);
}
