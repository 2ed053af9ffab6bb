/* webopsd's health scheduler: on each tick of the worker loop it claims the
 * deployments whose check is due and hands them to a batch process (a few at
 * once), starts a notify process when notifications wait, asks the addons
 * for their own state once a minute (their `status` hooks: the Docker
 * engine's), rolls old checks up once an hour, and reaps what it started. Only the children run addon
 * code; the daemon itself only claims and waits. */
#include "health/scheduler.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addon/addon.h"
#include "db/db.h"
#include "health/health.h"
#include "pipeline/notify.h"
#include "util/error.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/spawn.h"
#include "util/banned.h"

#define BATCHES_AT_ONCE 2
#define BATCH_MAX 500         /* deployments per batch process */
#define REGISTRY_RELOAD_MS 60000
#define PRUNE_EVERY_MS 3600000

struct batch_proc {
	pid_t pid;
	int n;
	long started_ms;
};

struct wo_health_sched {
	const struct wo_config *cfg;
	char *conninfo;
	char *owner;
	struct wo_addon_registry *reg;
	long reg_loaded_ms;
	struct batch_proc batches[BATCHES_AT_ONCE];
	pid_t notifier;
	long notify_checked_ms;
	pid_t statuser;     /* the addons' status hooks */
	long status_ms;
	long status_every_ms;
	long renew_ms;        /* when the next renew check is due */
	long renew_every_ms;
	pid_t renewer;
	long pruned_ms;
	long last_complaint_ms;
	long prune_every_ms;
	int retention_days;
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int wo_health_sched_init(struct wo_health_sched **out, const struct wo_config *cfg, const char *conninfo,
			 const char *owner)
{
	struct wo_health_sched *s = calloc(1, sizeof(*s));
	if (!s)
		return wo_error_set("out of memory");
	s->cfg = cfg;
	s->conninfo = strdup(conninfo);
	s->owner = strdup(owner);
	s->retention_days = 7;
	const char *r = getenv("WEBOPS_HEALTH_RETENTION_DAYS");
	if (r && *r) {
		char *end;
		long v = strtol(r, &end, 10);
		if (*end || v < 1 || v > 3650)
			wo_log(WO_LOG_WARN, "health", "WEBOPS_HEALTH_RETENTION_DAYS='%s' is not a number of days from 1 to "
			       "3650; keeping raw checks 7 days", r);
		else
			s->retention_days = (int)v;
	}
	/* the addons' state every minute (WEBOPS_ADDON_STATUS_EVERY_S), first at once */
	s->status_every_ms = 60000;
	const char *se = getenv("WEBOPS_ADDON_STATUS_EVERY_S");
	if (se && *se && strtol(se, NULL, 10) > 0)
		s->status_every_ms = strtol(se, NULL, 10) * 1000L;
	s->status_ms = now_ms() - s->status_every_ms;
	/* certificates and the like: daily by default, the first check within
	 * 10 minutes of the start and each later one jittered by up to a tenth,
	 * so webopsd instances started together do not ask the CA at once */
	s->renew_every_ms = 24L * 3600 * 1000;
	const char *re = getenv("WEBOPS_RENEW_EVERY_S");
	if (re && strtol(re, NULL, 10) > 0)
		s->renew_every_ms = strtol(re, NULL, 10) * 1000L;
	long first = s->renew_every_ms < 600000 ? s->renew_every_ms : 600000;
	s->renew_ms = now_ms() + (long)(randombytes_uniform((uint32_t)(first / 10 + 1))) + first * 9 / 10;
	/* hourly; WEBOPS_HEALTH_PRUNE_EVERY_S exists for tests */
	s->prune_every_ms = PRUNE_EVERY_MS;
	const char *pe = getenv("WEBOPS_HEALTH_PRUNE_EVERY_S");
	if (pe && *pe && strtol(pe, NULL, 10) > 0)
		s->prune_every_ms = strtol(pe, NULL, 10) * 1000L;
	/* the first rollup runs a minute after start (or sooner when more often),
	 * not in the middle of it */
	s->pruned_ms = now_ms() - s->prune_every_ms + (s->prune_every_ms < 60000 ? s->prune_every_ms : 60000);
	*out = s;
	return 0;
}

/* A child that dies with the daemon; returns 0 in the child. */
static pid_t fork_child(void)
{
	return wo_fork("a health worker", &(struct wo_fork_opts){ .flags = WO_FORK_DEATHSIG_KILL |
									 WO_FORK_RESET_SIGNALS |
									 WO_FORK_IGNORE_SIGPIPE });
}

static void complain(struct wo_health_sched *s, const char *what)
{
	/* once a minute at most: a broken database must not flood the log */
	if (!s->last_complaint_ms || now_ms() - s->last_complaint_ms > 60000) {
		wo_log(WO_LOG_ERROR, "health", "%s: %s", what, wo_error_last());
		s->last_complaint_ms = now_ms();
	}
}

static int registry_ready(struct wo_health_sched *s, PGconn *conn)
{
	long now = now_ms();
	if (s->reg && now - s->reg_loaded_ms < REGISTRY_RELOAD_MS)
		return wo_addon_registry_refresh(s->reg, conn);
	struct wo_addon_registry *reg = NULL;
	if (wo_addon_registry_load(&reg, s->cfg->addons_path, conn) < 0)
		return s->reg ? wo_addon_registry_refresh(s->reg, conn) : -1;
	wo_addon_registry_free(s->reg);
	s->reg = reg;
	s->reg_loaded_ms = now;
	return 0;
}

static void start_batch(struct wo_health_sched *s, PGconn *conn, struct batch_proc *slot)
{
	char *ids = NULL;
	int n = 0;
	if (wo_health_claim(&ids, &n, conn, s->owner, BATCH_MAX) < 0) {
		complain(s, "cannot claim health checks");
		return;
	}
	if (n == 0) {
		free(ids);
		return;
	}
	if (registry_ready(s, conn) < 0)
		complain(s, "cannot read the addons for health checks");
	pid_t pid = fork_child();
	if (pid == 0) {
		PGconn *c = NULL;
		int rc = -1;
		if (wo_db_connect(&c, s->conninfo) == 0) {
			if (s->reg)
				s->reg->conn = c;
			rc = wo_health_check_batch(s->cfg, c, s->reg, ids, s->owner);
			PQfinish(c);
		}
		if (rc < 0)
			wo_log(WO_LOG_ERROR, "health", "health checks of %d deployment(s): %s", n, wo_error_last());
		_exit(rc < 0 ? 2 : 0);
	}
	free(ids);
	if (pid < 0) {
		/* the leases run out and another tick claims them again */
		wo_log(WO_LOG_ERROR, "health", "cannot start a health check process: %s", strerror(errno));
		return;
	}
	slot->pid = pid;
	slot->n = n;
	slot->started_ms = now_ms();
}

/* A child of the daemon that connects to the database, does job and
 * exits; its pid (0 when it could not start, said in the log). */
static pid_t start_job(struct wo_health_sched *s, const char *area, const char *what,
		       int (*job)(struct wo_health_sched *s, PGconn *c))
{
	pid_t pid = fork_child();
	if (pid == 0) {
		PGconn *c = NULL;
		int rc = -1;
		if (wo_db_connect(&c, s->conninfo) == 0) {
			rc = job(s, c);
			PQfinish(c);
		}
		if (rc < 0)
			wo_log(WO_LOG_ERROR, area, "cannot %s: %s", what, wo_error_last());
		_exit(rc < 0 ? 2 : 0);
	}
	if (pid < 0) {
		wo_log(WO_LOG_ERROR, area, "cannot start a process to %s: %s", what, strerror(errno));
		return 0;
	}
	return pid;
}

static int notify_job(struct wo_health_sched *s, PGconn *c)
{
	return wo_notify_deliver(s->cfg, c, s->owner, 1000);
}

static void start_notifier(struct wo_health_sched *s, PGconn *conn)
{
	int pending = 0;
	if (wo_notify_pending(conn, &pending) < 0) {
		complain(s, "cannot read the notifications queue");
		return;
	}
	if (pending)
		s->notifier = start_job(s, "notify", "deliver notifications", notify_job);
}

static int status_job(struct wo_health_sched *s, PGconn *c)
{
	if (!s->reg)
		return 0;
	s->reg->conn = c;
	return wo_addon_status_refresh(NULL, s->reg, c, NULL);
}

static int renew_job(struct wo_health_sched *s, PGconn *c)
{
	if (!s->reg)
		return 0;
	s->reg->conn = c;
	if (wo_addon_renew(s->reg) < 0)
		return 1;
	/* what is left after renewing: a certificate close to its end that
	 * could not be renewed is worth a notification */
	json_t *st = NULL;
	if (wo_addon_status_refresh(&st, s->reg, c, NULL) < 0)
		return 1;
	json_t *certs = wo_addon_certificates(st);
	int n = wo_notify_tls_expiring(c, certs, 14);
	if (n > 0)
		wo_log(WO_LOG_WARN, "renew", "%d certificate(s) expire within 14 days and could not be renewed: notified", n);
	json_decref(certs);
	json_decref(st);
	return n < 0 ? 1 : 0;
}

static void start_status(struct wo_health_sched *s, PGconn *conn)
{
	if (registry_ready(s, conn) < 0) {
		complain(s, "cannot read the addons for their status");
		return;
	}
	s->statuser = start_job(s, "addon", "ask the addons for their state", status_job);
}

/* Reaps a job's child once it ended, saying how when it failed. */
static void reap_job(pid_t *pid, const char *area, const char *what)
{
	int st;
	if (!*pid || waitpid(*pid, &st, WNOHANG) <= 0)
		return;
	if (!WIFEXITED(st) || WEXITSTATUS(st) > 2) {
		char how[64];
		wo_proc_describe(how, sizeof(how), st);
		wo_log(WO_LOG_ERROR, area, "the %s process %s", what, how);
	}
	*pid = 0;
}

static void reap(struct wo_health_sched *s)
{
	for (int i = 0; i < BATCHES_AT_ONCE; i++) {
		struct batch_proc *b = &s->batches[i];
		int st;
		if (!b->pid || waitpid(b->pid, &st, WNOHANG) <= 0)
			continue;
		if (!WIFEXITED(st) || WEXITSTATUS(st) > 2) {
			char how[64];
			wo_proc_describe(how, sizeof(how), st);
			wo_log(WO_LOG_ERROR, "health", "the health check process of %d deployment(s) %s; they are checked "
			       "again when their lease ends", b->n, how);
		}
		b->pid = 0;
	}
	reap_job(&s->notifier, "notify", "notify");
	reap_job(&s->statuser, "addon", "addon status");
	reap_job(&s->renewer, "renew", "renew check");
}

void wo_health_sched_tick(struct wo_health_sched *s, PGconn *conn, int wake)
{
	reap(s);
	if (PQstatus(conn) != CONNECTION_OK)
		return;
	for (int i = 0; i < BATCHES_AT_ONCE; i++)
		if (!s->batches[i].pid) {
			start_batch(s, conn, &s->batches[i]);
			if (!s->batches[i].pid)
				break; /* nothing (more) due */
		}
	long now = now_ms();
	if (!s->notifier && ((wake & WO_HEALTH_WAKE_NOTIFY) || now - s->notify_checked_ms >= 5000)) {
		s->notify_checked_ms = now;
		start_notifier(s, conn);
	}
	if (!s->statuser && now - s->status_ms >= s->status_every_ms) {
		s->status_ms = now;
		start_status(s, conn);
	}
	if (!s->renewer && now >= s->renew_ms) {
		s->renew_ms = now + s->renew_every_ms - (long)randombytes_uniform((uint32_t)(s->renew_every_ms / 10 + 1));
		if (registry_ready(s, conn) < 0)
			complain(s, "cannot read the addons to renew what they keep");
		else
			s->renewer = start_job(s, "renew", "renew certificates", renew_job);
	}
	if (now - s->pruned_ms >= s->prune_every_ms) {
		s->pruned_ms = now;
		long long rolled = 0;
		if (wo_health_prune(conn, s->retention_days, &rolled) < 0)
			complain(s, "cannot roll up old health checks");
		else if (rolled)
			wo_log(WO_LOG_INFO, "health", "rolled %lld check(s) older than %d days up into hourly figures",
			       rolled, s->retention_days);
	}
}

int wo_health_sched_busy(const struct wo_health_sched *s)
{
	int n = (s->notifier != 0) + (s->statuser != 0) + (s->renewer != 0);
	for (int i = 0; i < BATCHES_AT_ONCE; i++)
		n += s->batches[i].pid != 0;
	return n;
}

void wo_health_sched_free(struct wo_health_sched *s)
{
	if (!s)
		return;
	/* checks are cheap to repeat: their leases end and they run again */
	for (int i = 0; i < BATCHES_AT_ONCE; i++)
		if (s->batches[i].pid) {
			kill(s->batches[i].pid, SIGKILL);
			waitpid(s->batches[i].pid, NULL, 0);
		}
	if (s->notifier) {
		kill(s->notifier, SIGKILL);
		waitpid(s->notifier, NULL, 0);
	}
	if (s->statuser) {
		kill(s->statuser, SIGKILL);
		waitpid(s->statuser, NULL, 0);
	}
	if (s->renewer) {
		/* a renewal under way gets a moment to put things back */
		kill(s->renewer, SIGTERM);
		int gone = 0;
		for (int i = 0; i < 50 && !gone; i++) {
			gone = waitpid(s->renewer, NULL, WNOHANG) != 0;
			if (!gone)
				usleep(100 * 1000);
		}
		if (!gone) {
			kill(s->renewer, SIGKILL);
			waitpid(s->renewer, NULL, 0);
		}
	}
	wo_addon_registry_free(s->reg);
	free(s->conninfo);
	free(s->owner);
	free(s);
}
