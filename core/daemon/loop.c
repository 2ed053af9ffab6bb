/* The daemon's worker loop: claims runs from the queue (woken by NOTIFY,
 * polling as a fallback), executes each in a child process, heartbeats the
 * runs it holds, fails runs whose process died, ticks the health scheduler
 * (health/scheduler.c), and on SIGTERM lets runs finish within a grace
 * period before handing them back to the queue. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "db/db.h"
#include "health/health.h"
#include "health/scheduler.h"
#include "addon/addon.h"
#include "pipeline/notify.h"
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

/* The database, as the loop sees it: an outage is logged once when it
 * starts and once, with its length, when it ends. */
struct db_state {
	long down_since;      /* 0: reachable */
	long next_try;
	int logged;           /* "unreachable" said for this outage */
	long connected_since; /* since when it has answered */
};

/* Whether conn can be used now; makes it again (once a second at most)
 * when it was lost. */
static int db_usable(PGconn *conn, struct db_state *db)
{
	long now = now_ms();
	if (PQstatus(conn) == CONNECTION_OK && !db->down_since)
		return 1;
	if (!db->down_since) {
		db->down_since = now;
		db->next_try = now;
	}
	if (now < db->next_try)
		return 0;
	PQreset(conn);
	if (PQstatus(conn) != CONNECTION_OK) {
		if (!db->logged) {
			char msg[512];
			snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
			msg[strcspn(msg, "\n")] = '\0';
			wo_log(WO_LOG_ERROR, "db", "database unreachable: %s", msg);
			db->logged = 1;
		}
		db->next_try = now + 1000;
		return 0;
	}
	PQclear(PQexec(conn, "LISTEN " WO_RUNS_CHANNEL "; LISTEN " WO_NOTIFY_CHANNEL "; LISTEN " WO_HEALTH_CHANNEL));
	double s = (now - db->down_since) / 1000.0;
	if (db->logged)
		wo_log(WO_LOG_WARN, "db", "database reachable again after %.1f s", s);
	else
		wo_log(WO_LOG_WARN, "db", "database connection lost and made again in %.1f s", s);
	db->down_since = 0;
	db->logged = 0;
	db->connected_since = now;
	return 1;
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
			/* with the database away, the reaper fails it later (its heartbeat stops) */
			if (wo_run_interrupt(conn, slots[i].run_id, why) < 0 && PQstatus(conn) == CONNECTION_OK)
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

static int live_runs(long long *ids, const struct slot *slots, int n)
{
	int k = 0;
	for (int i = 0; i < n && k < 64; i++)
		if (slots[i].pid)
			ids[k++] = slots[i].run_id;
	return k;
}

static void heartbeat(PGconn *conn, const struct slot *slots, int n)
{
	long long ids[64];
	int k = live_runs(ids, slots, n);
	if (wo_run_heartbeat(conn, wo_run_worker_name(), ids, k) < 0 && PQstatus(conn) == CONNECTION_OK)
		wo_log(WO_LOG_WARN, "worker", "heartbeat: %s", wo_error_last());
}

/* Records what run processes could not (the database was away past their
 * deadline), then fails runs whose process is gone. Runs of this daemon's
 * slots are alive; stale heartbeats are judged once the database has
 * answered long enough for every worker to have been heard again. */
static void reap(const struct wo_config *cfg, PGconn *conn, const struct slot *slots, int n, const struct db_state *db)
{
	int count = 0;
	if (wo_run_outcome_apply_saved(conn, cfg->data_dir, &count) < 0) {
		if (PQstatus(conn) == CONNECTION_OK)
			wo_log(WO_LOG_ERROR, "worker", "cannot record a saved run outcome: %s", wo_error_last());
		return;
	}
	if (count)
		wo_log(WO_LOG_WARN, "worker", "recorded %d run(s) that ended while the database was unreachable", count);
	long long ids[64];
	int k = live_runs(ids, slots, n);
	int judge = now_ms() - db->connected_since >= WO_RUN_STALE_SECONDS * 1000L;
	count = 0;
	if (wo_run_reap(conn, ids, k, judge, &count) == 0 && count)
		wo_log(WO_LOG_WARN, "worker", "marked %d interrupted run(s) as failed", count);
}

static void claim_runs(const struct wo_config *cfg, const struct wo_daemon_opts *opts, PGconn *conn,
		       struct slot *slots, int n)
{
	for (int i = 0; i < n; i++) {
		if (slots[i].pid)
			continue;
		json_t *run = NULL;
		if (wo_run_claim(&run, conn, wo_run_worker_name()) < 0) {
			if (PQstatus(conn) != CONNECTION_OK)
				return; /* an outage: said once by db_usable */
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
		pid_t pid = wo_runner_start(cfg, opts->conninfo, run);
		json_decref(run);
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
 * hooks was queued, WO_HEALTH_WAKE_DUE when a check became due at once;
 * *any: whether there was a notification at all. */
static int drain_notifications(PGconn *conn, int *any)
{
	if (!PQconsumeInput(conn))
		return 0;
	PGnotify *n;
	int wake = 0;
	while ((n = PQnotifies(conn))) {
		*any = 1;
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
		.event_data = wo_addon_daemon_facts(),
	};
	struct wo_hook_report *rep = NULL;
	if (wo_hook_dispatch(&rep, reg, ev, &ctx) < 0)
		wo_log(WO_LOG_ERROR, "addon", "%s: %s", wo_event_name(ev), wo_error_last());
	wo_hook_report_free(rep);
	json_decref(none);
	json_decref(outputs);
	wo_addon_registry_free(reg);
}

/* A service manager that asked for it (systemd's Type=notify sets
 * NOTIFY_SOCKET) hears READY=1, no sooner than the log says "ready". */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || (path[0] != '/' && path[0] != '@'))
		return;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path)) {
		wo_log(WO_LOG_WARN, "daemon", "NOTIFY_SOCKET is too long; the service manager is not told 'ready'");
		return;
	}
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* an abstract socket */
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld\n", (long)getpid());
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		wo_log(WO_LOG_WARN, "daemon", "cannot tell the service manager 'ready' (NOTIFY_SOCKET %s): %s", path,
		       strerror(errno));
	if (fd >= 0)
		close(fd);
	/* run processes and hooks are not the service */
	unsetenv("NOTIFY_SOCKET");
}

int wo_daemon_run(const struct wo_config *cfg, PGconn *conn, const struct wo_daemon_opts *opts)
{
	/* "ready" is said only once what addons start beside webopsd (the
	 * proxy's nginx) was started: whoever waits for it may use them */
	long t0 = now_ms();
	daemon_event(cfg, conn, WO_EVENT_DAEMON_START);
	wo_daemon_watch_start(cfg, conn, opts->conninfo);
	wo_log(WO_LOG_INFO, "daemon", "webopsd %s ready: %d workers, data dir %s, addons %s, pid %ld "
	       "(addons' daemon_start hooks took %ld ms)", WEBOPS_VERSION, opts->workers, cfg->data_dir,
	       cfg->addons_path, (long)getpid(), now_ms() - t0);
	notify_ready();
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
	struct db_state db = { .connected_since = now_ms() };
	reap(cfg, conn, slots, n, &db);

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
		int up = db_usable(conn, &db);
		reap_children(conn, slots, n);
		wo_daemon_http_tick(stopping);
		if (stopping && (busy_slots(slots, n) == 0 || now >= stop_at))
			break;
		if (!stopping)
			wo_runner_prepare(cfg, opts->conninfo);
		if (!up) {
			/* nothing to do with the database away; the run processes wait for it themselves */
			poll(NULL, 0, 200);
			continue;
		}
		if (now - last_beat >= 2000 || db.connected_since > last_beat) {
			heartbeat(conn, slots, n);
			last_beat = now;
		}
		if (now - last_reap >= 5000) {
			reap(cfg, conn, slots, n, &db);
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
		/* a NOTIFY that came in with the answer to a statement above is in
		 * libpq's buffer, not on the socket: without this, it would wait
		 * for the poll's timeout (a queued run claimed 100 ms late) */
		int any = 0;
		notified |= drain_notifications(conn, &any);
		struct pollfd pfd = { .fd = PQsocket(conn), .events = POLLIN };
		int busy = busy_slots(slots, n) || (health && wo_health_sched_busy(health));
		int r = poll(&pfd, pfd.fd >= 0 ? 1 : 0, any ? 0 : busy ? 100 : health ? 250 : 500);
		if (r > 0)
			notified |= drain_notifications(conn, &any);
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
	wo_runner_prepare_stop();
	wo_health_sched_free(health);
	wo_daemon_http_stop();
	wo_daemon_watch_stop();
	daemon_event(cfg, conn, WO_EVENT_DAEMON_STOP);
	return 0;
}
