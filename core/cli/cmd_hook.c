/* `webops hook run EVENT DEPLOYMENT`: dispatches one event's hooks for one
 * deployment and prints each hook, in order, with its result, duration,
 * logs and outputs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon/addon.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "pipeline/lock.h"
#include "store/deployment.h"
#include "util/error.h"
#include "util/banned.h"


static const char *const level_names[] = {"debug", "info", "warn", "error"};

struct progress {
	int json;
	size_t index, total;
	int started;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int is_cancelled(void *arg)
{
	(void)arg;
	return interrupted;
}

static void print_header(struct progress *p, const struct wo_hook_result *r)
{
	p->index++;
	printf("[%zu/%zu] %s: %s (priority %d, %s)\n", p->index, p->total, r->addon, r->handler, r->priority,
	       r->required ? "required" : "optional");
	fflush(stdout);
}

static void on_start(void *arg, const struct wo_hook_result *r)
{
	struct progress *p = arg;
	if (p->json)
		return;
	print_header(p, r);
	p->started = 1;
}

static void on_log(void *arg, const char *addon, int level, const char *line)
{
	struct progress *p = arg;
	if (p->json)
		return;
	printf("      ");
	if (level >= 2 && level <= 3)
		printf("%s: ", level_names[level]);
	wo_out_escaped(stdout, line);
	printf("\n");
	fflush(stdout);
}

static void on_done(void *arg, const struct wo_hook_result *r)
{
	struct progress *p = arg;
	if (p->json)
		return;
	if (!p->started)
		print_header(p, r);
	p->started = 0;
	switch (r->status) {
	case WO_HOOK_OK:
		printf("      ok in %lld ms", (long long)r->duration_ms);
		break;
	case WO_HOOK_FAILED:
		printf("      FAILED in %lld ms: ", (long long)r->duration_ms);
		wo_out_escaped(stdout, r->error ? r->error : "");
		break;
	case WO_HOOK_SKIPPED:
		printf("      skipped: ");
		wo_out_escaped(stdout, r->skip_reason ? r->skip_reason : "");
		break;
	case WO_HOOK_NOT_RUN:
		printf("      not run: %s", r->skip_reason ? r->skip_reason : "");
		break;
	}
	if (r->attempts > 1)
		printf(" (%d attempts)", r->attempts);
	printf("\n");
	if (json_object_size(r->outputs)) {
		const char *k;
		json_t *v;
		printf("      outputs:");
		json_object_foreach(r->outputs, k, v) {
			printf(" %s=", k);
			wo_out_escaped(stdout, json_string_value(v) ? json_string_value(v) : "");
		}
		printf("\n");
	}
	fflush(stdout);
}

static int cmd_run(struct wo_cli *cli, int argc, char **argv)
{
	int json = 0;
	const char *source = NULL, *commit = NULL, *run_id = NULL, *data = NULL;
	const struct wo_opt opts[] = {
		WO_OPT_FLAG("json", 0, &json, "print the report as JSON instead of progress lines"),
		WO_OPT_STRING("source", 0, &source, "DIR", "the checked-out source directory hooks see (default: none)"),
		WO_OPT_STRING("commit", 0, &commit, "SHA", "the commit hooks see"),
		WO_OPT_STRING("run-id", 0, &run_id, "ID", "the run id hooks see"),
		WO_OPT_STRING("data", 0, &data, "JSON", "what the event is about, as hooks read it with event_json (a "
		              "notify event's document; default {})"),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"hook run", "EVENT DEPLOYMENT", 2, 2,
		"Runs the hooks enabled addons declare for EVENT (pre_deploy, post_deploy, health, start, stop,\n"
		"restart, delete, notify; WebOps names pre_deployment, post_deployment and service_health_check\n"
		"are accepted) for DEPLOYMENT, in ascending priority, ties by addon name. Each hook runs in a child\n"
		"process; a crash or timeout fails that hook only. A failed required hook stops the chain.",
		"Nothing is recorded: this is for trying hooks out (the daemon's health checks are shown by\n"
		"'webops health').\n"
		"\n"
		"Exit status: 0 when no required hook failed (for health: when no hook failed, required or not,\n"
		"i.e. the deployment is healthy), 1 otherwise, 2 usage error.\n", opts,
	};
	char **ops = NULL;
	int parsed = wo_opts_parse(&spec, argc, argv, &ops, NULL);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	const char *pos[2] = { ops[0], ops[1] };
	free(ops);
	enum wo_event ev;
	if (wo_event_parse(&ev, pos[0]) < 0)
		return wo_cli_usage_error("hook", "unknown event '%s'; expected pre_deploy, post_deploy, health, "
		                          "start, stop, restart, delete or notify", pos[0]);
	json_t *event_data = NULL;
	if (data) {
		json_error_t jerr;
		event_data = json_loads(data, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(event_data)) {
			json_decref(event_data);
			return wo_cli_usage_error("hook", "--data must be a JSON object%s", "");
		}
	}
	PGconn *conn = wo_cli_db(cli);
	if (!conn) {
		json_decref(event_data);
		return WO_EXIT_ERROR;
	}
	json_t *dep = NULL;
	int rc = wo_deployment_get(&dep, conn, pos[1]);
	if (rc < 0) {
		json_decref(event_data);
		return rc == WO_ENOTFOUND ? wo_cli_fail("no deployment named '%s'", pos[1])
		                          : wo_cli_fail("%s", wo_error_last());
	}
	/* events with side effects hold the deployment's lock, as runs and
	 * lifecycle actions do */
	long long dep_id = json_integer_value(json_object_get(dep, "id"));
	int locked = 0;
	if (ev != WO_EVENT_HEALTH && ev != WO_EVENT_NOTIFY) {
		char who[128];
		snprintf(who, sizeof(who), "webops hook run %s %s", wo_event_name(ev), pos[1]);
		if (wo_deployment_lock(conn, dep_id, pos[1], who, 0) != 0) {
			json_decref(dep);
			json_decref(event_data);
			return wo_cli_fail("%s", wo_error_last());
		}
		locked = 1;
	}
	struct wo_addon_registry *reg;
	if (wo_addon_registry_load(&reg, cli->cfg.addons_path, conn) < 0) {
		json_decref(dep);
		json_decref(event_data);
		return wo_cli_fail("%s", wo_error_last());
	}
	if (!json) {
		for (size_t i = 0; i < reg->naddons; i++) {
			const struct wo_addon *a = reg->addons[i];
			if (!a->load_error || !a->enabled)
				continue;
			for (size_t j = 0; j < a->manifest->nhooks; j++) {
				if (a->manifest->hooks[j].event == ev) {
					fprintf(stderr, "webops: warning: addon '%s' is not loaded, its %s hooks do not run: %s\n",
					        a->name, wo_event_name(ev), a->load_error);
					break;
				}
			}
		}
	}
	struct progress prog = {json, 0, 0, 0};
	for (size_t i = 0; i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		if (!a->enabled || !a->loaded || a->duplicate)
			continue;
		for (size_t j = 0; j < a->manifest->nhooks; j++)
			prog.total += a->manifest->hooks[j].event == ev;
	}
	json_t *outputs = json_object();
	struct wo_hook_ctx ctx = {
		.deployment = dep,
		.source_dir = source,
		.commit = commit,
		.run_id = run_id,
		.outputs = outputs,
		.event_data = event_data,
		.arg = &prog,
		.log = on_log,
		.cancelled = is_cancelled,
		.hook_start = on_start,
		.hook_done = on_done,
	};
	struct sigaction sa, old_int, old_term;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (!json)
		printf("%s for deployment '%s': %zu hook%s\n", wo_event_name(ev), pos[1], prog.total,
		       prog.total == 1 ? "" : "s");
	struct wo_hook_report *rep = NULL;
	rc = wo_hook_dispatch(&rep, reg, ev, &ctx);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	int exit_code = WO_EXIT_OK;
	/* a health check is only as good as its worst hook: an optional health
	 * hook that fails still means unhealthy */
	const char *unhealthy = NULL;
	for (size_t i = 0; rc == 0 && ev == WO_EVENT_HEALTH && i < rep->nresults; i++)
		if (rep->results[i].status == WO_HOOK_FAILED) {
			unhealthy = rep->results[i].error ? rep->results[i].error : "a health hook failed";
			break;
		}
	if (rc < 0) {
		exit_code = wo_cli_fail("%s", wo_error_last());
	} else if (json) {
		json_t *o = wo_hook_report_json(rep);
		json_object_set_new(o, "deployment", json_string(pos[1]));
		json_object_set(o, "outputs", outputs);
		if (ev == WO_EVENT_HEALTH) {
			json_object_set_new(o, "healthy", json_boolean(rep->ok && !unhealthy));
			if (unhealthy)
				json_object_set_new(o, "ok", json_false());
		}
		wo_out_json(o);
		json_decref(o);
		exit_code = rep->ok && !unhealthy ? WO_EXIT_OK : WO_EXIT_ERROR;
	} else {
		size_t n[4] = {0, 0, 0, 0};
		for (size_t i = 0; i < rep->nresults; i++)
			n[rep->results[i].status]++;
		printf("%s: %zu ok, %zu failed, %zu skipped, %zu not run\n", wo_event_name(ev), n[WO_HOOK_OK],
		       n[WO_HOOK_FAILED], n[WO_HOOK_SKIPPED], n[WO_HOOK_NOT_RUN]);
		if (!rep->ok) {
			const char *why = rep->cancelled ? "cancelled" : "a required hook failed";
			for (size_t i = 0; i < rep->nresults; i++)
				if (rep->results[i].status == WO_HOOK_FAILED && rep->results[i].required && rep->results[i].error)
					why = rep->results[i].error;
			exit_code = wo_cli_fail("%s failed: %s", wo_event_name(ev), why);
		} else if (unhealthy) {
			exit_code = wo_cli_fail("unhealthy: %s", unhealthy);
		} else if (ev == WO_EVENT_HEALTH) {
			printf("healthy\n");
		}
	}
	wo_hook_report_free(rep);
	json_decref(outputs);
	json_decref(dep);
	json_decref(event_data);
	wo_addon_registry_free(reg);
	if (locked)
		wo_deployment_unlock(conn, dep_id);
	return exit_code;
}

int wo_cmd_hook(struct wo_cli *cli, int argc, char **argv)
{
	static const struct wo_subcmd subs[] = {
		{ "run", cmd_run, "EVENT DEPLOYMENT", "run one event's hooks for one deployment and show each result", NULL },
		WO_SUBCMD_END,
	};
	return wo_subcmd_run("hook", "Trying addons' hooks out by hand.", subs, cli, argc, argv);
}
