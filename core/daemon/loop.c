/* The daemon's worker loop: claims runs from the queue (woken by NOTIFY,
 * polling as a fallback), executes each in a child process, heartbeats the
 * runs it holds, fails runs whose process died, ticks the health scheduler
 * (health/scheduler.c), and on SIGTERM lets runs finish within a grace
 * period before handing them back to the queue. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "db/db.h"
#include "health/health.h"
#include "health/scheduler.h"
#include "addon/addon.h"
#include "pipeline/lock.h"
#include "pipeline/runner.h"
#include "pipeline/runs.h"
#include "util/error.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/banned.h"

struct slot {
	pid_t pid;
	long long run_id;
	char deployment[64];
	long started_ms;
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Takes the run's deployment lock, waiting for an action in progress (they
 * are bounded by their hooks' timeouts) up to 15 minutes. */
static int run_lock(PGconn **out, const char *conninfo, long long run_id)
{
	PGconn *c = NULL;
	if (wo_db_connect(&c, conninfo) < 0)
		return -1;
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", run_id);
	const char *params[] = { ids };
	PGresult *res = NULL;
	if (wo_db_exec(&res, c,
		       "SELECT d.id, d.name FROM runs r JOIN deployments d ON d.id = r.deployment_id WHERE r.id = $1::bigint",
		       1, params) < 0 || PQntuples(res) != 1) {
		if (res)
			PQclear(res);
		PQfinish(c);
		return wo_error_set("cannot find the deployment of run %lld", run_id);
	}
	long long dep = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	char who[64];
	snprintf(who, sizeof(who), "webops run %lld", run_id);
	int rc = wo_deployment_lock(c, dep, PQgetvalue(res, 0, 1), who, 15 * 60 * 1000);
	PQclear(res);
	if (rc != 0) {
		if (rc == 1)
			wo_run_interrupt(c, run_id, wo_error_last());
		PQfinish(c);
		return -1;
	}
	*out = c;
	return 0;
}

static pid_t spawn_run(const struct wo_config *cfg, const struct wo_daemon_opts *opts, long long run_id)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* the run process: dies with the daemon, so a killed daemon leaves no run behind */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(3);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* the deployment's lock (pipeline/lock.h), on a connection of its own
	 * held until this process ends: a lifecycle action in progress is
	 * waited for, and none starts while the run goes on */
	PGconn *lock = NULL;
	if (run_lock(&lock, opts->conninfo, run_id) < 0) {
		wo_log(WO_LOG_ERROR, "run", "run %lld: %s", run_id, wo_error_last());
		_exit(2);
	}
	(void)lock; /* released when this process ends */
	int rc = wo_runner_execute(cfg, opts->conninfo, run_id);
	if (rc < 0)
		wo_log(WO_LOG_ERROR, "run", "run %lld: %s", run_id, wo_error_last());
	/* _exit: the parent's atexit handlers and its connection are not ours */
	_exit(rc < 0 ? 2 : rc);
}

static int reconnect(PGconn *conn)
{
	if (PQstatus(conn) == CONNECTION_OK)
		return 0;
	PQreset(conn);
	if (PQstatus(conn) != CONNECTION_OK)
		return -1;
	PQclear(PQexec(conn, "LISTEN " WO_RUNS_CHANNEL "; LISTEN " WO_NOTIFY_CHANNEL "; LISTEN " WO_HEALTH_CHANNEL));
	wo_log(WO_LOG_WARN, "db", "reconnected to the database");
	return 0;
}

static void reap_children(PGconn *conn, struct slot *slots, int n)
{
	for (int i = 0; i < n; i++) {
		if (!slots[i].pid)
			continue;
		int st;
		pid_t r = waitpid(slots[i].pid, &st, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR))
			continue;
		long ms = now_ms() - slots[i].started_ms;
		if (r > 0 && WIFEXITED(st) && WEXITSTATUS(st) <= 1) {
			wo_log(WO_LOG_INFO, "worker", "run %lld of '%s' %s in %ld ms", slots[i].run_id,
			       slots[i].deployment, WEXITSTATUS(st) == 0 ? "succeeded" : "failed", ms);
		} else {
			char how[64] = "vanished";
			if (r > 0)
				wo_proc_describe(how, sizeof(how), st);
			char why[128];
			snprintf(why, sizeof(why), "the run process %s", how);
			wo_log(WO_LOG_ERROR, "worker", "run %lld of '%s': %s", slots[i].run_id, slots[i].deployment, why);
			if (wo_run_interrupt(conn, slots[i].run_id, why) < 0)
				wo_log(WO_LOG_ERROR, "worker", "%s", wo_error_last());
		}
		slots[i].pid = 0;
	}
}

static int busy_slots(const struct slot *slots, int n)
{
	int b = 0;
	for (int i = 0; i < n; i++)
		b += slots[i].pid != 0;
	return b;
}

static void heartbeat(PGconn *conn, const struct slot *slots, int n)
{
	long long ids[64];
	int k = 0;
	for (int i = 0; i < n && k < 64; i++)
		if (slots[i].pid)
			ids[k++] = slots[i].run_id;
	if (wo_run_heartbeat(conn, wo_run_worker_name(), ids, k) < 0)
		wo_log(WO_LOG_WARN, "worker", "heartbeat: %s", wo_error_last());
}

static void claim_runs(const struct wo_config *cfg, const struct wo_daemon_opts *opts, PGconn *conn,
		       struct slot *slots, int n)
{
	for (int i = 0; i < n; i++) {
		if (slots[i].pid)
			continue;
		json_t *run = NULL;
		if (wo_run_claim(&run, conn, wo_run_worker_name()) < 0) {
			/* once a minute at most: a broken database must not flood the log */
			static long last_complaint;
			if (now_ms() - last_complaint > 60000 || !last_complaint) {
				wo_log(WO_LOG_ERROR, "worker", "cannot claim a run: %s", wo_error_last());
				last_complaint = now_ms();
			}
			return;
		}
		if (!run)
			return;
		long long id = json_integer_value(json_object_get(run, "id"));
		snprintf(slots[i].deployment, sizeof(slots[i].deployment), "%s",
			 json_string_value(json_object_get(run, "deployment")));
		json_decref(run);
		pid_t pid = spawn_run(cfg, opts, id);
		if (pid < 0) {
			wo_log(WO_LOG_ERROR, "worker", "cannot start run %lld: %s", id, strerror(errno));
			wo_run_requeue(conn, id);
			return;
		}
		slots[i].pid = pid;
		slots[i].run_id = id;
		slots[i].started_ms = now_ms();
		wo_log(WO_LOG_INFO, "worker", "run %lld of '%s' started (pid %ld, slot %d)", id, slots[i].deployment,
		       (long)pid, i + 1);
	}
}

/* Returns WO_HEALTH_WAKE_NOTIFY when a notification for addons' notify
 * hooks was queued, WO_HEALTH_WAKE_DUE when a check became due at once. */
static int drain_notifications(PGconn *conn)
{
	if (!PQconsumeInput(conn))
		return 0;
	PGnotify *n;
	int wake = 0;
	while ((n = PQnotifies(conn))) {
		if (!strcmp(n->relname, WO_NOTIFY_CHANNEL))
			wake |= WO_HEALTH_WAKE_NOTIFY;
		else if (!strcmp(n->relname, WO_HEALTH_CHANNEL))
			wake |= WO_HEALTH_WAKE_DUE;
		PQfreemem(n);
	}
	return wake;
}

static void daemon_hook_log(void *arg, const char *addon, int level, const char *line)
{
	(void)arg;
	/* webops_log_level: 2 warn, 3 error */
	wo_log(level >= 3 ? WO_LOG_ERROR : level == 2 ? WO_LOG_WARN : WO_LOG_INFO, "addon",
	       "%s: %s", addon, line);
}

static void daemon_hook_done(void *arg, const struct wo_hook_result *r)
{
	(void)arg;
	if (r->status == WO_HOOK_FAILED)
		wo_log(WO_LOG_ERROR, "addon", "%s", r->error ? r->error : "a hook failed");
}

/* daemon_start / daemon_stop: addons start and stop what runs beside webopsd
 * (proxy-nginx's private nginx). A failure is logged; webopsd goes on. */
static void daemon_event(const struct wo_config *cfg, PGconn *conn, enum wo_event ev)
{
	struct wo_addon_registry *reg = NULL;
	if (wo_addon_registry_load(&reg, cfg->addons_path, conn) < 0) {
		wo_log(WO_LOG_ERROR, "addon", "cannot load addons for %s: %s", wo_event_name(ev), wo_error_last());
		return;
	}
	json_t *none = json_object(), *outputs = json_object();
	struct wo_hook_ctx ctx = {
		.deployment = none,
		.source_dir = "",
		.commit = "",
		.run_id = "",
		.outputs = outputs,
		.log = daemon_hook_log,
		.hook_done = daemon_hook_done,
	};
	struct wo_hook_report *rep = NULL;
	if (wo_hook_dispatch(&rep, reg, ev, &ctx) < 0)
		wo_log(WO_LOG_ERROR, "addon", "%s: %s", wo_event_name(ev), wo_error_last());
	wo_hook_report_free(rep);
	json_decref(none);
	json_decref(outputs);
	wo_addon_registry_free(reg);
}

int wo_daemon_run(const struct wo_config *cfg, PGconn *conn, const struct wo_daemon_opts *opts)
{
	daemon_event(cfg, conn, WO_EVENT_DAEMON_START);
	int n = opts->workers > 0 ? opts->workers : 1;
	if (n > 64)
		n = 64;
	struct slot *slots = calloc((size_t)n, sizeof(*slots));
	if (wo_db_exec(NULL, conn, "LISTEN " WO_RUNS_CHANNEL, 0, NULL) < 0 ||
	    wo_db_exec(NULL, conn, "LISTEN " WO_NOTIFY_CHANNEL, 0, NULL) < 0 ||
	    wo_db_exec(NULL, conn, "LISTEN " WO_HEALTH_CHANNEL, 0, NULL) < 0)
		wo_log(WO_LOG_WARN, "db", "cannot LISTEN, polling instead: %s", wo_error_last());
	struct wo_health_sched *health = NULL;
	if (wo_health_sched_init(&health, cfg, opts->conninfo, wo_run_worker_name()) < 0)
		wo_log(WO_LOG_ERROR, "health", "health checks are off: %s", wo_error_last());
	int reaped = 0;
	if (wo_run_reap(conn, &reaped) == 0 && reaped)
		wo_log(WO_LOG_WARN, "worker", "marked %d interrupted run(s) as failed", reaped);

	long last_beat = 0, last_reap = now_ms(), stop_at = 0, last_health = 0;
	int stopping = 0, notified = 0;
	for (;;) {
		long now = now_ms();
		if (!stopping && wo_daemon_stop_requested()) {
			stopping = 1;
			stop_at = now + opts->grace_seconds * 1000L;
			int busy = busy_slots(slots, n);
			wo_log(WO_LOG_INFO, "daemon", "stopping: no new runs; %d running run(s) get %d s to finish", busy,
			       opts->grace_seconds);
		}
		if (reconnect(conn) < 0) {
			wo_log(WO_LOG_ERROR, "db", "database unreachable: %s", PQerrorMessage(conn));
			poll(NULL, 0, 1000);
		}
		reap_children(conn, slots, n);
		wo_daemon_http_tick(stopping);
		if (stopping && (busy_slots(slots, n) == 0 || now >= stop_at))
			break;
		if (now - last_beat >= 2000) {
			heartbeat(conn, slots, n);
			last_beat = now;
		}
		if (now - last_reap >= 5000) {
			reaped = 0;
			if (wo_run_reap(conn, &reaped) == 0 && reaped)
				wo_log(WO_LOG_WARN, "worker", "marked %d interrupted run(s) as failed", reaped);
			last_reap = now;
		}
		if (!stopping)
			claim_runs(cfg, opts, conn, slots, n);
		/* a claim query 4 times a second: a due check waits 250 ms at most */
		if (health && !stopping && (notified || now - last_health >= 250)) {
			wo_health_sched_tick(health, conn, notified);
			last_health = now;
			notified = 0;
		}
		struct pollfd pfd = { .fd = PQsocket(conn), .events = POLLIN };
		int busy = busy_slots(slots, n) || (health && wo_health_sched_busy(health));
		int r = poll(&pfd, pfd.fd >= 0 ? 1 : 0, busy ? 100 : health ? 250 : 500);
		if (r > 0)
			notified |= drain_notifications(conn);
	}

	/* hand back what did not finish within the grace period */
	for (int i = 0; i < n; i++) {
		if (!slots[i].pid)
			continue;
		kill(slots[i].pid, SIGKILL);
		waitpid(slots[i].pid, NULL, 0);
		if (wo_run_requeue(conn, slots[i].run_id) == 0)
			wo_log(WO_LOG_WARN, "worker", "run %lld of '%s' handed back to the queue", slots[i].run_id,
			       slots[i].deployment);
		else
			wo_log(WO_LOG_ERROR, "worker", "cannot hand back run %lld: %s", slots[i].run_id, wo_error_last());
		slots[i].pid = 0;
	}
	free(slots);
	wo_health_sched_free(health);
	wo_daemon_http_stop();
	daemon_event(cfg, conn, WO_EVENT_DAEMON_STOP);
	return 0;
}
