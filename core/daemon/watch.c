/* Addons' watchers (a `watch` hook): webopsd keeps each running in a
 * process of its own, started after daemon_start, started again with a
 * growing pause when it ends (1 s doubling to 60 s; back to 1 s after a
 * watcher that ran a minute), stopped with webopsd. What a watcher reports
 * (host->report) is recorded with the deployment's health events, and the
 * deployment is checked at once. A watcher never takes a deployment's lock. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addon/addon.h"
#include "daemon/daemon.h"
#include "db/db.h"
#include "health/health.h"
#include "util/error.h"
#include "util/spawn.h"
#include "util/log.h"
#include "webops/addon.h"
#include "util/banned.h"

#define WATCH_MAX 32
#define WATCH_BACKOFF_MAX_MS 60000

static struct {
	pid_t pid;
	char addon[64];
} watchers[WATCH_MAX];
static size_t nwatchers;

static volatile sig_atomic_t watch_stop;

static void on_term(int sig)
{
	(void)sig;
	watch_stop = 1;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

struct watch_ctx {
	const char *conninfo;
	PGconn *conn;
};

static int watch_cancelled(void *arg)
{
	(void)arg;
	return watch_stop;
}

static void watch_log(void *arg, const char *addon, int level, const char *line)
{
	(void)arg;
	wo_log(level >= WEBOPS_LOG_ERROR ? WO_LOG_ERROR : level == WEBOPS_LOG_WARN ? WO_LOG_WARN : WO_LOG_INFO, "watch",
	       "%s: %s", addon, line);
}

/* Records the report and makes the deployment's next check due now. */
static void watch_report(void *arg, const char *addon, const char *deployment, const char *kind, const char *detail)
{
	struct watch_ctx *w = arg;
	if (!w->conn || PQstatus(w->conn) != CONNECTION_OK) {
		PQfinish(w->conn);
		w->conn = NULL;
		if (wo_db_connect(&w->conn, w->conninfo) < 0) {
			wo_log(WO_LOG_WARN, "watch", "%s reported '%s' about '%s', not recorded: %s", addon, kind,
			       deployment, wo_error_last());
			return;
		}
	}
	char reason[1200];
	snprintf(reason, sizeof(reason), "%s: %s%s%s", addon, kind, *detail ? ": " : "", detail);
	const char *params[] = { deployment, reason };
	PGresult *res = NULL;
	if (wo_db_exec(&res, w->conn,
		       "WITH d AS (SELECT id FROM deployments WHERE name = $1),"
		       " e AS (INSERT INTO health_events (deployment_id, kind, reason)"
		       "       SELECT id, 'reported', $2 FROM d RETURNING deployment_id),"
		       " h AS (UPDATE health_state SET next_check_at = clock_timestamp()"
		       "       WHERE deployment_id IN (SELECT deployment_id FROM e) RETURNING 1)"
		       " SELECT (SELECT count(*) FROM e), pg_notify('" WO_HEALTH_CHANNEL "', '')",
		       2, params) < 0) {
		wo_log(WO_LOG_WARN, "watch", "%s reported '%s' about '%s', not recorded: %s", addon, kind, deployment,
		       wo_error_last());
		return;
	}
	int known = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	PQclear(res);
	if (known)
		wo_log(WO_LOG_INFO, "watch", "'%s': %s (checking it now)", deployment, reason);
	else
		wo_log(WO_LOG_WARN, "watch", "%s reported '%s' about '%s', which is not a deployment", addon, kind,
		       deployment);
}

/* Sleeps ms, or less when a stop comes. */
static void pause_ms(long ms)
{
	long until = now_ms() + ms;
	while (!watch_stop && now_ms() < until)
		poll(NULL, 0, 100);
}

/* The supervisor of one addon's watcher, in its own process. */
static void supervise(const struct wo_config *cfg, const char *conninfo, const char *addon)
{
	struct watch_ctx w = { conninfo, NULL };
	long backoff = 1000;
	const char *only[] = { addon, NULL };
	while (!watch_stop) {
		if (!w.conn && wo_db_connect(&w.conn, conninfo) < 0) {
			wo_log(WO_LOG_WARN, "watch", "%s: cannot reach the database: %s", addon, wo_error_last());
			pause_ms(backoff);
			continue;
		}
		struct wo_addon_registry *reg = NULL;
		long started = now_ms();
		const char *why = NULL;
		char whybuf[512] = "";
		if (wo_addon_registry_load(&reg, cfg->addons_path, w.conn) < 0) {
			snprintf(whybuf, sizeof(whybuf), "cannot load addons: %s", wo_error_last());
			why = whybuf;
		} else {
			json_t *none = json_object(), *outputs = json_object();
			struct wo_hook_ctx ctx = {
				.deployment = none, .source_dir = "", .commit = "", .run_id = "", .outputs = outputs,
				.only_addons = only, .arg = &w, .log = watch_log, .cancelled = watch_cancelled,
				.report = watch_report,
			};
			struct wo_hook_report *rep = NULL;
			if (wo_hook_dispatch(&rep, reg, WO_EVENT_WATCH, &ctx) < 0) {
				snprintf(whybuf, sizeof(whybuf), "%s", wo_error_last());
				why = whybuf;
			} else if (rep->nresults == 0) {
				why = "it has no watch hook any more (disabled?)";
			} else if (rep->results[0].status == WO_HOOK_FAILED && !watch_stop) {
				snprintf(whybuf, sizeof(whybuf), "%s",
					 rep->results[0].error ? rep->results[0].error : "it failed");
				why = whybuf;
			} else {
				why = "it returned";
			}
			wo_hook_report_free(rep);
			json_decref(none);
			json_decref(outputs);
			wo_addon_registry_free(reg);
		}
		if (watch_stop)
			break;
		if (now_ms() - started >= 60000)
			backoff = 1000;
		wo_log(WO_LOG_WARN, "watch", "the watcher of addon '%s' ended (%s); starting it again in %ld s", addon, why,
		       backoff / 1000);
		pause_ms(backoff);
		backoff = backoff * 2 > WATCH_BACKOFF_MAX_MS ? WATCH_BACKOFF_MAX_MS : backoff * 2;
	}
	PQfinish(w.conn);
}

void wo_daemon_watch_start(const struct wo_config *cfg, PGconn *conn, const char *conninfo)
{
	struct wo_addon_registry *reg = NULL;
	if (wo_addon_registry_load(&reg, cfg->addons_path, conn) < 0) {
		wo_log(WO_LOG_ERROR, "watch", "cannot load addons: %s", wo_error_last());
		return;
	}
	for (size_t i = 0; i < reg->naddons && nwatchers < WATCH_MAX; i++) {
		const struct wo_addon *a = reg->addons[i];
		int has = 0;
		for (size_t j = 0; a->enabled && a->loaded && !a->duplicate && j < a->manifest->nhooks; j++)
			has |= a->manifest->hooks[j].event == WO_EVENT_WATCH;
		if (!has)
			continue;
		pid_t pid = wo_fork("a watcher", &(struct wo_fork_opts){ .flags = WO_FORK_DEATHSIG_TERM |
										WO_FORK_RESET_SIGNALS |
										WO_FORK_IGNORE_SIGPIPE });
		if (pid < 0) {
			wo_log(WO_LOG_ERROR, "watch", "cannot start the watcher of '%s': %s", a->name, wo_error_last());
			continue;
		}
		if (pid == 0) {
			signal(SIGTERM, on_term);
			signal(SIGINT, SIG_IGN);
			char name[64];
			snprintf(name, sizeof(name), "%s", a->name);
			reg->conn = NULL; /* the parent's connection */
			supervise(cfg, conninfo, name);
			_exit(0);
		}
		watchers[nwatchers].pid = pid;
		snprintf(watchers[nwatchers].addon, sizeof(watchers[nwatchers].addon), "%s", a->name);
		nwatchers++;
		wo_log(WO_LOG_INFO, "watch", "started the watcher of addon '%s' (pid %ld)", a->name, (long)pid);
	}
	wo_addon_registry_free(reg);
}

void wo_daemon_watch_stop(void)
{
	for (size_t i = 0; i < nwatchers; i++)
		if (watchers[i].pid > 0)
			kill(watchers[i].pid, SIGTERM);
	/* a watcher gets its cancel, then the sandbox's grace; then it goes */
	long until = now_ms() + 10000;
	for (size_t i = 0; i < nwatchers; i++) {
		while (watchers[i].pid > 0 && waitpid(watchers[i].pid, NULL, WNOHANG) == 0 && now_ms() < until)
			poll(NULL, 0, 50);
		if (watchers[i].pid > 0 && waitpid(watchers[i].pid, NULL, WNOHANG) == 0) {
			kill(watchers[i].pid, SIGKILL);
			waitpid(watchers[i].pid, NULL, 0);
		}
		watchers[i].pid = 0;
	}
	nwatchers = 0;
}
