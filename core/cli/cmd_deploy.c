/* `webops deploy`, `webops runs`, `webops logs`, `webops cancel`,
 * `webops releases`, `webops rollback`: the run queue and its releases seen
 * from the command line. Runs execute in webopsd. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addon/addon.h"
#include "cli/cli.h"
#include "cli/follow.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "pipeline/releases.h"
#include "pipeline/runs.h"
#include "store/deployment.h"
#include "util/error.h"
#include "webops/addon.h"
#include "util/banned.h"




static volatile sig_atomic_t interrupted;
static void on_int(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void print_log_line(const json_t *l)
{
	wo_cli_print_log_line(stdout, l);
}

/* Prints log lines as they arrive until the run ends (cli/follow.c, shared
 * with the push hook). Returns the exit code. */
static int follow(PGconn *conn, long long run_id, int quiet_json)
{
	struct sigaction sa = { .sa_handler = on_int };
	sigaction(SIGINT, &sa, NULL);
	struct wo_cli_follow o = { .out = quiet_json ? NULL : stdout, .queued_hint_ms = 5000, .stop = &interrupted };
	json_t *run = NULL;
	int r = wo_cli_follow_run(&run, conn, run_id, &o);
	if (r < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (r == WO_FOLLOW_STOPPED) {
		fprintf(stderr, "\nwebops: stopped following; run %lld goes on (webops logs --run %lld --follow)\n", run_id,
			run_id);
		return WO_EXIT_ERROR;
	}
	const char *status = json_string_value(json_object_get(run, "status"));
	int ok = status && !strcmp(status, "succeeded");
	if (quiet_json) {
		wo_out_json(run);
	} else {
		const json_t *err = json_object_get(run, "error");
		printf("run %lld %s", run_id, status ? status : "?");
		if (json_object_size(json_object_get(run, "stage_timings"))) {
			printf(" (");
			wo_cli_print_timings(stdout, run);
			printf(")");
		}
		if (json_is_string(err))
			printf(": %s", json_string_value(err));
		putchar('\n');
	}
	json_decref(run);
	return ok ? WO_EXIT_OK : WO_EXIT_ERROR;
}

static int parse_run_id(long long *out, const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

int wo_cmd_deploy(struct wo_cli *cli, int argc, char **argv)
{
	const char *ref = NULL, *trigger = "cli";
	int follow_it = 0, json = 0;
	const struct wo_opt opts[] = {
		WO_OPT_STRING("ref", 'r', &ref, "REF", "a branch, tag or commit (default: the head of the deployment's branch)"),
		WO_OPT_FLAG("follow", 'f', &follow_it, "stream the run log until the run ends; exit 0 only on success"),
		WO_OPT_FLAG("json", 'j', &json, "print the queued run (or, with --follow, the finished run) as JSON"),
		/* for programs: who asked (the web UI's process) */
		WO_OPT_STRING("trigger", 't', &trigger, "WHO", NULL),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"deploy", "NAME", 1, 1,
		"Queues a run of deployment NAME: fetch the code, run the pre_deploy and post_deploy hooks. A webopsd\n"
		"worker executes it; several requests for one deployment coalesce to the newest.",
		NULL, opts,
	};
	const char *name;
	int parsed = wo_opts_parse1(&spec, argc, argv, &name);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	if (strcmp(trigger, "cli") && strcmp(trigger, "api") && strcmp(trigger, "web") && strcmp(trigger, "webhook") &&
	    strcmp(trigger, "retry") && strcmp(trigger, "push"))
		return wo_cli_usage_error("deploy", "--trigger '%s' is invalid: use cli, api, web, webhook, push or retry",
					  trigger);
	if (ref && !*ref)
		return wo_cli_usage_error("deploy", "%s", "--ref needs a branch, tag or commit");
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	json_t *run;
	if (wo_run_enqueue(&run, conn, name, trigger, ref) < 0)
		return wo_cli_fail("%s", wo_error_last());
	long long id = json_integer_value(json_object_get(run, "id"));
	if (!follow_it) {
		if (json)
			wo_out_json(run);
		else
			printf("queued run %lld of '%s'; follow it with: webops logs %s --run %lld --follow\n", id, name, name,
			       id);
		json_decref(run);
		return WO_EXIT_OK;
	}
	json_decref(run);
	if (!json)
		printf("queued run %lld of '%s'\n", id, name);
	return follow(conn, id, json);
}

int wo_cmd_runs(struct wo_cli *cli, int argc, char **argv)
{
	int json = 0;
	long long limit = 20;
	const struct wo_opt opts[] = {
		WO_OPT_INT("limit", 'n', &limit, "N", 1, 10000, "show the newest N runs (default 20)"),
		WO_OPT_JSON(&json),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"runs", "NAME", 1, 1,
		"Lists the runs of deployment NAME, newest first: status, commit, stage timings and error.", NULL, opts,
	};
	const char *name;
	int parsed = wo_opts_parse1(&spec, argc, argv, &name);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	json_t *arr;
	if (wo_run_list(&arr, conn, name, (int)limit) < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (json) {
		wo_out_json(arr);
	} else if (json_array_size(arr) == 0) {
		printf("'%s' has no runs yet: deploy it with 'webops deploy %s'\n", name, name);
	} else {
		printf("%-6s %-10s %-8s %-12s %-20s %-9s %s\n", "RUN", "STATUS", "TRIGGER", "COMMIT", "QUEUED", "TIME",
		       "DETAIL");
		size_t i;
		json_t *r;
		json_array_foreach(arr, i, r) {
			const json_t *commit = json_object_get(r, "commit");
			const char *sha = json_is_object(commit) ? json_string_value(json_object_get(commit, "sha")) : "-";
			const json_t *dur = json_object_get(r, "duration_ms");
			char d[32] = "-";
			if (json_is_integer(dur))
				snprintf(d, sizeof(d), "%.1fs", json_integer_value(dur) / 1000.0);
			const char *queued = json_string_value(json_object_get(r, "queued_at"));
			const json_t *err = json_object_get(r, "error");
			const char *detail = json_is_string(err) ? json_string_value(err)
					     : json_is_object(commit) ? json_string_value(json_object_get(commit, "subject"))
								      : "";
			printf("%-6lld %-10s %-8s %-12.12s %-20.19s %-9s ", (long long)json_integer_value(json_object_get(r, "id")),
			       json_string_value(json_object_get(r, "status")),
			       json_string_value(json_object_get(r, "trigger")), sha, queued ? queued : "-", d);
			wo_out_escaped(stdout, detail ? detail : "");
			putchar('\n');
		}
	}
	json_decref(arr);
	return WO_EXIT_OK;
}

/* ---- runtime logs: the `logs` event of the deployment's runtime addon ---- */

/* --sse (for webopsd's Logs tab, which runs this as a CGI program): the
 * answer's headers, then each line as a server-sent event {"s": "out" |
 * "err", "t": TEXT}, a problem as event "problem", and event "end". */
static int rt_sse;

static void rt_sse_event(const char *event, json_t *data)
{
	char *text = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(data);
	if (event)
		printf("event: %s\n", event);
	printf("data: %s\n\n", text ? text : "{}");
	free(text);
	fflush(stdout);
}

static int rt_fail(const char *msg)
{
	if (!rt_sse)
		return wo_cli_fail("%s", msg);
	rt_sse_event("problem", json_pack("{s:s}", "t", msg));
	return WO_EXIT_ERROR;
}

static void rt_line(void *arg, const char *addon, int level, const char *line)
{
	(void)arg;
	(void)addon;
	if (rt_sse) {
		if (level == WEBOPS_LOG_INFO || level == WEBOPS_LOG_WARN)
			rt_sse_event(NULL, json_pack("{s:s,s:s}", "s", level == WEBOPS_LOG_INFO ? "out" : "err", "t", line));
		else if (level == WEBOPS_LOG_ERROR)
			rt_sse_event("problem", json_pack("{s:s}", "t", line));
		return;
	}
	/* the app's stdout as info, its stderr as warn; the addon's own
	 * diagnostics come as debug (not shown) and error */
	if (level == WEBOPS_LOG_DEBUG)
		return;
	FILE *f = level == WEBOPS_LOG_INFO ? stdout : stderr;
	if (level == WEBOPS_LOG_ERROR)
		fputs("webops: ", f);
	wo_out_log_text(f, line);
	fputc('\n', f);
	fflush(f);
}

static int rt_cancelled(void *arg)
{
	(void)arg;
	return interrupted;
}

/* "30s", "10m", "2h", "1d" (a number alone: seconds) into seconds; -1 when not. */
static long long rt_duration(const char *s)
{
	char *end;
	long long n = strtoll(s, &end, 10);
	if (end == s || n < 0)
		return -1;
	long long unit = !*end ? 1 : !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600
		       : !strcmp(end, "d") ? 86400 : -1;
	return unit < 0 || n > 3650LL * 86400 / unit ? -1 : n * unit;
}

static int runtime_logs(struct wo_cli *cli, const char *name, int follow_it, int tail, long long since_s,
			int timestamps)
{
	if (rt_sse) {
		printf("Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n");
		fflush(stdout);
	}
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return rt_sse ? rt_fail("the database cannot be reached") : WO_EXIT_ERROR;
	json_t *dep = NULL;
	int rc = wo_deployment_get(&dep, conn, name);
	if (rc < 0) {
		char msg[600];
		snprintf(msg, sizeof(msg), rc == WO_ENOTFOUND ? "no deployment named '%s'" : "%s",
			 rc == WO_ENOTFOUND ? name : wo_error_last());
		return rt_fail(msg);
	}
	struct wo_addon_registry *reg;
	if (wo_addon_registry_load(&reg, cli->cfg.addons_path, conn) < 0) {
		json_decref(dep);
		return rt_fail(wo_error_last());
	}
	json_t *ev = json_pack("{s:i,s:I,s:b,s:b}", "tail", tail, "since",
			       (json_int_t)(since_s > 0 ? (long long)time(NULL) - since_s : 0), "follow", follow_it,
			       "timestamps", timestamps);
	json_t *outputs = json_object();
	struct wo_hook_ctx ctx = {
		.deployment = dep, .outputs = outputs, .event_data = ev, .log = rt_line, .cancelled = rt_cancelled,
		/* without --follow it is a quick read */
		.timeout_ms_max = follow_it ? 0 : 120000,
	};
	struct sigaction sa = { .sa_handler = on_int }, old_int, old_term;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	struct wo_hook_report *rep = NULL;
	rc = wo_hook_dispatch(&rep, reg, WO_EVENT_LOGS, &ctx);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	int exit_code = WO_EXIT_OK;
	if (rc < 0) {
		exit_code = rt_fail(wo_error_last());
	} else {
		size_t ran = 0;
		const char *err = NULL;
		for (size_t i = 0; i < rep->nresults; i++) {
			ran += rep->results[i].status == WO_HOOK_OK || rep->results[i].status == WO_HOOK_FAILED;
			if (rep->results[i].status == WO_HOOK_FAILED && !err)
				err = rep->results[i].message ? rep->results[i].message : rep->results[i].error;
		}
		char msg[600];
		if (interrupted) {
			exit_code = WO_EXIT_OK;
		} else if (err) {
			exit_code = rt_fail(err);
		} else if (!ran) {
			snprintf(msg, sizeof(msg), "no enabled addon serves the runtime logs of '%s': nothing runs it (a "
				 "runtime addon, such as docker with use_docker=true, writes what its app prints)", name);
			exit_code = rt_fail(msg);
		}
	}
	if (rt_sse && !interrupted)
		rt_sse_event("end", json_object());
	wo_hook_report_free(rep);
	json_decref(outputs);
	json_decref(ev);
	json_decref(dep);
	wo_addon_registry_free(reg);
	return exit_code;
}

int wo_cmd_logs(struct wo_cli *cli, int argc, char **argv)
{
	int follow_it = 0, runtime = 0, timestamps = 0, tail = 100;
	long long since_s = 0, run_id = 0;
	const char *tail_s = NULL, *since = NULL;
	const struct wo_opt opts[] = {
		WO_OPT_INT("run", 0, &run_id, "ID", 1, 1000000000000LL, "the log of run ID (default: the newest run's)"),
		WO_OPT_FLAG("follow", 'f', &follow_it, "keep printing until the run ends (exit 0 when it succeeded); with "
		            "--runtime, until Ctrl-C"),
		WO_OPT_FLAG("runtime", 0, &runtime, "what the running release itself writes, as its runtime addon serves it"),
		WO_OPT_STRING("tail", 0, &tail_s, "N|all", "with --runtime: the last N lines (default 100)"),
		WO_OPT_STRING("since", 0, &since, "DURATION", "with --runtime: only lines of the last 30s, 10m, 2h, 1d"),
		WO_OPT_FLAG("timestamps", 't', &timestamps, "with --runtime: each line with the time it was written"),
		/* webopsd's Logs tab */
		WO_OPT_FLAG("sse", 0, &rt_sse, NULL),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"logs", "[NAME]", 0, 1,
		"Prints the log of the newest run of NAME (or of run ID); with --runtime, what the running release\n"
		"itself writes (its stdout, and its stderr on stderr).",
		"Colours are kept on a terminal and dropped otherwise.\n", opts,
	};
	char **ops = NULL;
	int nops = 0;
	int parsed = wo_opts_parse(&spec, argc, argv, &ops, &nops);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	const char *name = nops ? ops[0] : NULL;
	free(ops);
	if (tail_s) {
		char *end = NULL;
		long n = strcmp(tail_s, "all") ? strtol(tail_s, &end, 10) : -1;
		if (strcmp(tail_s, "all") && (end == tail_s || *end || n < 0 || n > 1000000))
			return wo_cli_usage_error("logs", "--tail '%s' is not a number of lines (0 to 1000000) or 'all'", tail_s);
		tail = (int)n;
	}
	if (since && (since_s = rt_duration(since)) <= 0)
		return wo_cli_usage_error("logs", "--since '%s' is not a duration like 30s, 10m, 2h or 1d", since);
	if (!name && !run_id)
		return wo_cli_usage_error("logs", "logs needs the deployment NAME (or --run ID)");
	if (runtime && run_id)
		return wo_cli_usage_error("logs", "--runtime shows the running release's output, not a run's: drop --run");
	if (!runtime && (timestamps || since_s || tail != 100))
		return wo_cli_usage_error("logs", "--tail, --since and --timestamps go with --runtime");
	if (runtime)
		return runtime_logs(cli, name, follow_it, tail, since_s, timestamps);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	json_t *run;
	if (run_id) {
		if (wo_run_get(&run, conn, run_id) < 0)
			return wo_cli_fail("%s", wo_error_last());
		if (name && strcmp(name, json_string_value(json_object_get(run, "deployment"))) != 0) {
			json_decref(run);
			return wo_cli_fail("run %lld belongs to '%s', not '%s'", run_id,
					   json_string_value(json_object_get(run, "deployment")), name);
		}
	} else if (wo_run_latest(&run, conn, name) < 0) {
		return wo_cli_fail("%s", wo_error_last());
	}
	run_id = json_integer_value(json_object_get(run, "id"));
	json_decref(run);
	if (follow_it)
		return follow(conn, run_id, 0);
	json_t *lines;
	if (wo_run_logs(&lines, conn, run_id, 0) < 0)
		return wo_cli_fail("%s", wo_error_last());
	size_t i;
	json_t *l;
	json_array_foreach(lines, i, l)
		print_log_line(l);
	json_decref(lines);
	return WO_EXIT_OK;
}

int wo_cmd_cancel(struct wo_cli *cli, int argc, char **argv)
{
	const struct wo_opt opts[] = { WO_OPTS_END };
	const struct wo_cmd_spec spec = {
		"cancel", "RUN", 1, 1,
		"Cancels run RUN (a number from 'webops runs'): a queued run at once, a running one at its next\n"
		"check (between steps and while hooks run).", NULL, opts,
	};
	char **ops = NULL;
	int parsed = wo_opts_parse(&spec, argc, argv, &ops, NULL);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	long long id;
	int bad = parse_run_id(&id, ops[0]) < 0;
	free(ops);
	if (bad)
		return wo_cli_usage_error("cancel", "cancel needs one RUN number");
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	const char *state;
	if (wo_run_cancel(&state, conn, id) < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (!strcmp(state, "cancelled"))
		printf("run %lld cancelled\n", id);
	else if (!strcmp(state, "requested"))
		printf("run %lld: cancel requested; it stops at its next check\n", id);
	else
		return wo_cli_fail("run %lld has already ended (%s)", id, state);
	return WO_EXIT_OK;
}

/* ---- releases and rollback ---- */

int wo_cmd_releases(struct wo_cli *cli, int argc, char **argv)
{
	int json = 0;
	long long limit = 20;
	const struct wo_opt opts[] = {
		WO_OPT_INT("limit", 'n', &limit, "N", 1, 10000, "show the newest N releases (default 20)"),
		WO_OPT_JSON(&json),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"releases", "NAME", 1, 1,
		"Lists the releases of deployment NAME, newest first: every deploy that succeeded, with its commit,\n"
		"its image (docker addon), the run that made it and, for a rollback, the release it ran again. The\n"
		"one serving now is marked '*'.", NULL, opts,
	};
	const char *name;
	int parsed = wo_opts_parse1(&spec, argc, argv, &name);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	json_t *arr;
	if (wo_release_list(&arr, conn, name, (int)limit) < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (json) {
		wo_out_json(arr);
	} else if (json_array_size(arr) == 0) {
		printf("'%s' has no releases yet: a deploy that succeeds makes one (webops deploy %s)\n", name, name);
	} else {
		printf("  %-4s %-12s %-20s %-6s %-19s %s\n", "REL", "COMMIT", "CREATED", "RUN", "IMAGE", "DETAIL");
		size_t i;
		json_t *r;
		json_array_foreach(arr, i, r) {
			const json_t *commit = json_object_get(r, "commit");
			const char *sha = json_string_value(json_object_get(commit, "sha"));
			const char *subject = json_string_value(json_object_get(commit, "subject"));
			const json_t *dk = json_object_get(json_object_get(r, "outputs"), "docker");
			const char *img = json_string_value(json_object_get(dk, "image_id"));
			if (img && !strncmp(img, "sha256:", 7))
				img += 7;
			const char *created = json_string_value(json_object_get(r, "created_at"));
			const json_t *run = json_object_get(r, "run_id");
			char runs[24] = "-";
			if (json_is_integer(run))
				snprintf(runs, sizeof(runs), "%lld", (long long)json_integer_value(run));
			printf("%c %-4lld %-12.12s %-20.19s %-6s %-19.12s ",
			       json_is_true(json_object_get(r, "current")) ? '*' : ' ',
			       (long long)json_integer_value(json_object_get(r, "number")), sha ? sha : "-",
			       created ? created : "-", runs, img ? img : "-");
			const json_t *back = json_object_get(r, "rollback_of");
			if (json_is_integer(back))
				printf("rollback to %lld: ", (long long)json_integer_value(back));
			wo_out_escaped(stdout, subject ? subject : "");
			putchar('\n');
		}
	}
	json_decref(arr);
	return WO_EXIT_OK;
}

int wo_cmd_rollback(struct wo_cli *cli, int argc, char **argv)
{
	int json = 0, follow_it = 0;
	long long to = 0;
	const struct wo_opt opts[] = {
		WO_OPT_INT("to", 0, &to, "N", 1, 1000000000, "the release number to run again (see 'webops releases')"),
		WO_OPT_FLAG("follow", 'f', &follow_it, "stream the run log until it ends; exit 0 only on success"),
		WO_OPT_FLAG("json", 0, &json, "print the queued (with --follow: the finished) run as JSON"),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"rollback", "NAME", 1, 1,
		"Runs an earlier release of NAME again: release N, by default the one before the release serving now.",
		"Nothing is fetched or built: the release's image goes through the same readiness check and switch\n"
		"as a deploy, and the previous release keeps serving if it fails. The rollback is a run (trigger\n"
		"'rollback') and, once it succeeds, a release of its own. A release whose image was removed (only\n"
		"the last keep_releases keep theirs) cannot be run again: deploy its commit with\n"
		"'webops deploy NAME --ref COMMIT' instead.\n", opts,
	};
	const char *name;
	int parsed = wo_opts_parse1(&spec, argc, argv, &name);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	json_t *run;
	if (wo_release_rollback(&run, conn, name, (int)to) < 0)
		return wo_cli_fail("%s", wo_error_last());
	long long id = json_integer_value(json_object_get(run, "id"));
	long long num = json_integer_value(json_object_get(run, "release_number"));
	if (!follow_it) {
		if (json)
			wo_out_json(run);
		else
			printf("queued run %lld: rollback of '%s' to release %lld; follow it with: webops logs %s --run %lld "
			       "--follow\n", id, name, num, name, id);
		json_decref(run);
		return WO_EXIT_OK;
	}
	json_decref(run);
	if (!json)
		printf("queued run %lld: rollback of '%s' to release %lld\n", id, name, num);
	return follow(conn, id, json);
}
