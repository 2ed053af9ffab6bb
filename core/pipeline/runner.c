/* The run process: a run's fetch (in a child process that can be killed),
 * its hooks and its record, on database connections that may go away (a
 * PostgreSQL restart) and come back. Log lines and the run's state are
 * written in batches, asynchronously, on a connection of their own; while
 * the database is away they are kept (bounded) and written when it is back.
 * Also the process the daemon keeps ready for the next run. */
#include "pipeline/runner.h"

#include <errno.h>
#include <git2.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addon/host.h"
#include "addon/addon.h"
#include "addon/manifest.h"
#include "db/db.h"
#include "git/fetch.h"
#include "pipeline/lock.h"
#include "pipeline/notify.h"
#include "pipeline/releases.h"
#include "pipeline/runs.h"
#include "store/credentials.h"
#include "store/deployment.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/spawn.h"
#include "util/log.h"
#include "util/url.h"
#include "util/banned.h"

/* Log lines kept while the database is away; beyond, lines are counted and
 * the count is logged instead. */
#define KEEP_LINES 10000
#define KEEP_BYTES (4 << 20)
/* A batch: at most this many lines in one INSERT. A line waits FLUSH_MS
 * for others to go with it (a tick comes every 50 ms at least, so a line is
 * written within about 100 ms). */
#define BATCH_LINES 1000
#define FLUSH_MS 50
/* How often the run asks whether it was cancelled, when nothing else is written. */
#define POLL_MS 500
/* Reconnection attempts: first after RETRY_MIN_MS, doubling up to RETRY_MAX_MS. */
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 1000
#define CONNECT_TIMEOUT_MS 10000
/* A run waits for its deployment's lock (an action in progress) this long. */
#define LOCK_WAIT_MS (15 * 60 * 1000)

struct logq {
	struct wo_run_line *v;
	size_t head, n, cap;
	size_t bytes;
};

struct run {
	const struct wo_config *cfg;
	const char *conninfo;
	long db_wait_ms;  /* how long a step waits for an unreachable database */
	PGconn *conn;     /* reads, the lock, addons, the record: synchronous */
	PGconn *logc;     /* batches of log lines and run state: asynchronous */
	PGconn *connecting; /* logc being made again, without blocking */
	PostgresPollingStatusType connect_poll;
	long connect_started, retry_at, backoff;
	/* the log writer */
	struct logq q;
	int busy;           /* a batch is in flight on logc */
	size_t inflight;    /* lines at the queue's head in that batch */
	unsigned state_ver, state_sent, state_written; /* run state versions */
	long waiting_since; /* when what is to be written began waiting; 0: nothing */
	long last_tick;
	long last_poll;
	long long dropped;  /* lines not kept since the last note about it */
	long long dropped_total;
	long down_since;    /* monotonic ms; 0 while the database answers */
	long long kept;     /* lines logged during this outage */
	/* the run */
	long long id;
	char ids[32];
	long long dep_id;
	char *name;
	long long seq;
	double started_at;  /* seconds since the epoch */
	json_t *run;        /* WO_RUN_CLAIMED_JSON */
	json_t *deployment;
	json_t *timings;
	json_t *outputs;
	json_t *hooks;
	json_t *event;      /* what pre/post_deploy hooks are told: trigger, recent releases, rollback */
	char stage[32];
	struct wo_git_result git;
	int fetched;
	int cancelled;
	/* its lease: the last time the database confirmed this process's
	 * worker still owns the run; lost: it does not, or could not be
	 * confirmed for longer than others wait before taking the run over */
	long confirmed_ms;
	int lost;
	char lost_why[160];
	int locked;
	int addons_read;    /* reg is up to date for this run */
	struct wo_git_fetcher *fetcher; /* made ahead, for the fetch */
	struct wo_addon_registry *reg;
	char *reg_sig;      /* what the addons on disk looked like when reg was loaded */
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A positive whole number from the environment (seconds, MiB), else def. */
static long env_seconds(const char *name, long def)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	long s = strtol(v, &end, 10);
	return *end || s <= 0 ? def : s;
}

/* ---- the queue of lines ---- */

static void line_free(struct wo_run_line *l)
{
	free(l->stream);
	free(l->text);
}

static int logq_push(struct logq *q, long long seq, double at, const char *stream, const char *text, size_t len)
{
	if (q->head + q->n == q->cap) {
		if (q->head > 0) {
			memmove(q->v, q->v + q->head, q->n * sizeof(*q->v));
			q->head = 0;
		} else {
			size_t cap = q->cap ? q->cap * 2 : 256;
			struct wo_run_line *v = realloc(q->v, cap * sizeof(*v));
			if (!v)
				return -1;
			q->v = v;
			q->cap = cap;
		}
	}
	struct wo_run_line *l = &q->v[q->head + q->n];
	l->seq = seq;
	l->at = at;
	l->stream = strdup(stream);
	l->text = strndup(text, len);
	if (!l->stream || !l->text) {
		line_free(l);
		return -1;
	}
	q->n++;
	q->bytes += len + strlen(stream) + 64;
	return 0;
}

static void logq_pop(struct logq *q, size_t k)
{
	for (size_t i = 0; i < k && q->n; i++) {
		struct wo_run_line *l = &q->v[q->head];
		q->bytes -= strlen(l->text) + strlen(l->stream) + 64;
		line_free(l);
		q->head++;
		q->n--;
	}
	if (!q->n)
		q->head = 0;
}

static void logq_release(struct logq *q)
{
	logq_pop(q, q->n);
	free(q->v);
	memset(q, 0, sizeof(*q));
}

/* ---- connections ---- */

/* The conninfo with a connect timeout, so an attempt never blocks long. */
static PGconn *connect_start(const char *conninfo, int blocking)
{
	static const char *const keys[] = { "dbname", "connect_timeout", NULL };
	const char *const vals[] = { conninfo, "5", NULL };
	return blocking ? PQconnectdbParams(keys, vals, 1) : PQconnectStartParams(keys, vals, 1);
}

/* Session settings of the run's connections: log lines and run state are
 * committed without waiting for the WAL flush (the record of the end
 * is not; see wo_run_record). */
static void no_notices(void *arg, const PGresult *res)
{
	(void)arg;
	(void)res;
}

static int conn_setup(PGconn *c, const char *who)
{
	PQsetNoticeReceiver(c, no_notices, NULL);
	const char *params[] = { who };
	return wo_db_exec(NULL, c,
			  "SELECT set_config('synchronous_commit', 'off', false), set_config('application_name', $1, false)",
			  1, params);
}

static void set_main(struct run *r, PGconn *c)
{
	if (r->conn && r->conn != c)
		PQfinish(r->conn);
	r->conn = c;
	/* the registry borrows it for addons' metrics */
	if (r->reg)
		r->reg->conn = c;
}

static void outage_begins(struct run *r)
{
	if (r->down_since)
		return;
	r->down_since = now_ms();
	r->kept = 0;
}

static void run_log(struct run *r, const char *stream, const char *text);
static void run_logf(struct run *r, const char *stream, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A new main connection, taking the deployment's lock again when the run
 * held it (it went with the old connection). */
static int main_reconnect(struct run *r)
{
	PGconn *c = connect_start(r->conninfo, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		wo_error_set("cannot connect to the database: %s", c ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return -1;
	}
	if (conn_setup(c, "webops run") < 0) {
		PQfinish(c);
		return -1;
	}
	set_main(r, c);
	if (r->locked) {
		int rc = wo_deployment_lock(c, r->dep_id, r->name, NULL, 0);
		if (rc != 0)
			run_logf(r, "warn", "the deployment's lock went with the database connection and cannot be taken "
					    "again: %s", wo_error_last());
	}
	return 0;
}

static void outage_ends(struct run *r);

/* The main connection, if it answers (made again when it does not). */
static PGconn *main_conn(struct run *r)
{
	if (r->conn && PQstatus(r->conn) == CONNECTION_OK)
		return r->conn;
	if (main_reconnect(r) < 0) {
		outage_begins(r);
		return NULL;
	}
	outage_ends(r);
	return r->conn;
}

static void logw_tick(struct run *r, int force);

/* Waits for ms, writing log batches meanwhile. */
static void idle(struct run *r, long ms)
{
	long until = now_ms() + ms;
	for (;;) {
		logw_tick(r, 0);
		long left = until - now_ms();
		if (left <= 0)
			break;
		struct pollfd p = { r->logc && r->busy ? PQsocket(r->logc) : -1, POLLIN, 0 };
		poll(&p, p.fd >= 0 ? 1 : 0, left < 20 ? (int)left : 20);
	}
}

/* Runs op on the main connection; when the connection is lost (not when
 * the statement fails), waits for the database, with backoff, for
 * r->db_wait_ms at most, and runs it again. */
static int with_db(struct run *r, int (*op)(struct run *r, PGconn *c, void *arg), void *arg)
{
	long start = now_ms(), backoff = RETRY_MIN_MS;
	int lost = 0;
	for (;;) {
		PGconn *c = main_conn(r);
		if (c) {
			int rc = op(r, c, arg);
			if (rc >= 0 || PQstatus(c) == CONNECTION_OK)
				return rc;
			/* a connection found dead (a ready process's, after a
			 * restart) is made again at once; an outage is waited for */
			if (!lost++)
				continue;
			outage_begins(r);
		}
		if (now_ms() - start >= r->db_wait_ms) {
			char why[512];
			snprintf(why, sizeof(why), "%s", wo_error_last());
			return wo_error_set("the database has been unreachable for %ld s: %s", (now_ms() - start) / 1000,
					    why);
		}
		idle(r, backoff);
		backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
	}
}

/* ---- the log writer ---- */

/* The database answers again: say how long it was away (when the run
 * noticed) and check the main connection (its session, and the lock, may be
 * gone). */
static void outage_ends(struct run *r)
{
	if (!r->down_since)
		return;
	double s = (now_ms() - r->down_since) / 1000.0;
	r->down_since = 0;
	if (r->conn && PQstatus(r->conn) == CONNECTION_OK) {
		PGresult *res = PQexec(r->conn, "SELECT 1");
		PQclear(res);
	}
	if (!r->conn || PQstatus(r->conn) != CONNECTION_OK)
		main_reconnect(r);
	if (r->id && (r->kept || s >= 1.0))
		run_logf(r, "warn", "the database was unreachable for %.1f s; the run went on, and the %lld log lines "
				    "logged meanwhile were kept%s",
			 s, r->kept, r->dropped_total ? " (not all of them: see above)" : "");
}

static void logw_lost(struct run *r)
{
	PQfinish(r->logc);
	r->logc = NULL;
	r->busy = 0;
	r->inflight = 0;
	r->retry_at = now_ms();
	r->backoff = RETRY_MIN_MS;
	outage_begins(r);
}

/* One step of making logc again; never blocks. */
static void logw_connect(struct run *r)
{
	long now = now_ms();
	if (!r->connecting) {
		if (now < r->retry_at)
			return;
		r->connecting = connect_start(r->conninfo, 0);
		r->connect_poll = PGRES_POLLING_WRITING;
		r->connect_started = now;
		if (!r->connecting || PQstatus(r->connecting) == CONNECTION_BAD)
			goto failed;
	}
	for (int i = 0; i < 16; i++) {
		struct pollfd p = { PQsocket(r->connecting), r->connect_poll == PGRES_POLLING_READING ? POLLIN : POLLOUT,
				    0 };
		if (p.fd < 0)
			goto failed;
		if (poll(&p, 1, 0) <= 0) {
			if (now - r->connect_started > CONNECT_TIMEOUT_MS)
				goto failed;
			return;
		}
		r->connect_poll = PQconnectPoll(r->connecting);
		if (r->connect_poll == PGRES_POLLING_FAILED)
			goto failed;
		if (r->connect_poll == PGRES_POLLING_OK)
			break;
	}
	if (r->connect_poll != PGRES_POLLING_OK)
		return;
	if (conn_setup(r->connecting, "webops run log") < 0 || PQsetnonblocking(r->connecting, 1) != 0)
		goto failed;
	r->logc = r->connecting;
	r->connecting = NULL;
	r->backoff = RETRY_MIN_MS;
	outage_ends(r);
	return;
failed:
	PQfinish(r->connecting);
	r->connecting = NULL;
	r->retry_at = now + r->backoff;
	r->backoff = r->backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : r->backoff * 2;
	outage_begins(r);
}

/* Whether a failed statement may succeed when tried again (the server is
 * going away or coming back) rather than never. */
static int transient(const char *sqlstate)
{
	return !*sqlstate || !strncmp(sqlstate, "08", 2) || !strncmp(sqlstate, "57", 2) ||
	       !strncmp(sqlstate, "53", 2) || !strncmp(sqlstate, "40", 2) || !strcmp(sqlstate, "25006");
}

/* Takes the result of the batch in flight, if it is there. */
static void logw_collect(struct run *r)
{
	if (PQflush(r->logc) < 0 || !PQconsumeInput(r->logc)) {
		logw_lost(r);
		return;
	}
	if (PQisBusy(r->logc))
		return;
	PGresult *res;
	int ok = 0;
	char state[6] = "", msg[256] = "";
	while ((res = PQgetResult(r->logc))) {
		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			ok = 1;
			if (PQntuples(res) == 1 &&
			    (!strcmp(PQgetvalue(res, 0, 0), "t") || strcmp(PQgetvalue(res, 0, 1), "running") != 0))
				r->cancelled = 1;
			if (PQntuples(res) == 1 && PQnfields(res) > 2) {
				const json_t *w = json_object_get(r->run, "worker");
				if (json_is_string(w) && strcmp(PQgetvalue(res, 0, 2), json_string_value(w)) != 0) {
					/* handed back and claimed by another worker: stop, record nothing */
					r->cancelled = r->lost = 1;
					snprintf(r->lost_why, sizeof(r->lost_why), "the run now belongs to worker %s",
						 PQgetvalue(res, 0, 2));
				} else {
					r->confirmed_ms = now_ms();
				}
			}
		} else {
			const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			snprintf(state, sizeof(state), "%s", s ? s : "");
			snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
			msg[strcspn(msg, "\n")] = '\0';
		}
		PQclear(res);
	}
	r->busy = 0;
	if (ok) {
		logq_pop(&r->q, r->inflight);
		r->state_written = r->state_sent;
	} else if (PQstatus(r->logc) != CONNECTION_OK) {
		logw_lost(r);
		return;
	} else if (transient(state)) {
		r->retry_at = now_ms() + RETRY_MIN_MS;
	} else {
		/* never going to work: say so where it is seen, and go on */
		fprintf(stderr, "run %lld: cannot write %zu log lines: %s\n", r->id, r->inflight, msg);
		logq_pop(&r->q, r->inflight);
		r->state_written = r->state_sent;
	}
	r->inflight = 0;
}

/* Sends the next batch: lines, the run's state when it changed, and the
 * question whether the run was cancelled. */
static void logw_send(struct run *r)
{
	size_t k = r->q.n < BATCH_LINES ? r->q.n : BATCH_LINES;
	char *arr[4] = { 0 };
	if (wo_run_lines_params(arr, r->q.v + r->q.head, k) < 0)
		return;
	int with_state = r->state_ver != r->state_written;
	char *timings = NULL, *hooks = NULL, *outputs = NULL;
	const char *sha = NULL, *subject = NULL, *author = NULL;
	if (with_state) {
		timings = json_dumps(r->timings, JSON_COMPACT);
		hooks = json_dumps(r->hooks, JSON_COMPACT);
		outputs = json_dumps(r->outputs, JSON_COMPACT);
		if (r->fetched) {
			sha = r->git.sha;
			subject = r->git.subject;
			author = r->git.author;
		}
	}
	const char *params[] = { r->ids, arr[0], arr[1], arr[2], arr[3], with_state && r->stage[0] ? r->stage : NULL,
				 timings, hooks, outputs, sha, subject, author, with_state ? "t" : "f" };
	int sent = PQsendQueryParams(r->logc,
				     "WITH l AS (" WO_RUN_LINES_INSERT("$1", "$2", "$3", "$4", "$5") "),"
				     " s AS (UPDATE runs SET stage = coalesce($6, stage),"
				     "   stage_timings = coalesce($7::jsonb, stage_timings), hooks = coalesce($8::jsonb, hooks),"
				     "   outputs = coalesce($9::jsonb, outputs), commit_sha = coalesce($10, commit_sha),"
				     "   commit_subject = coalesce($11, commit_subject), commit_author = coalesce($12, commit_author)"
				     "   WHERE id = $1::bigint AND status = 'running' AND $13::bool)"
				     " SELECT cancel_requested, status, coalesce(worker, '') FROM runs WHERE id = $1::bigint",
				     13, NULL, params, NULL, NULL, 0);
	for (int i = 0; i < 4; i++)
		free(arr[i]);
	free(timings);
	free(hooks);
	free(outputs);
	if (!sent) {
		if (PQstatus(r->logc) != CONNECTION_OK)
			logw_lost(r);
		return;
	}
	r->busy = 1;
	r->inflight = k;
	r->state_sent = r->state_ver;
	r->last_poll = now_ms();
	r->waiting_since = r->q.n > k || r->state_ver != r->state_sent ? r->last_poll : 0;
	if (PQflush(r->logc) < 0)
		logw_lost(r);
}

/* Moves the log writer on, without blocking: takes a result, makes the
 * connection again, sends what is due (everything with force). */
static void logw_tick(struct run *r, int force)
{
	if (r->logc && r->busy)
		logw_collect(r);
	if (!r->logc) {
		logw_connect(r);
		if (!r->logc)
			return;
	}
	if (r->busy || !r->id || now_ms() < r->retry_at)
		return;
	long now = now_ms();
	int due = r->q.n || r->state_ver != r->state_written;
	if (due && !r->waiting_since)
		r->waiting_since = now;
	if (!due && now - r->last_poll < POLL_MS)
		return;
	/* a line waits FLUSH_MS for company: a batch per 50 ms at most, and
	 * none at all in a run shorter than that (its lines go with its end) */
	if (due && !force && now - r->waiting_since < FLUSH_MS && r->q.n < BATCH_LINES)
		return;
	logw_send(r);
}

/* Waits until nothing is in flight (the database answered, or is away). */
static void logw_settle(struct run *r)
{
	while (r->logc && r->busy) {
		struct pollfd p = { PQsocket(r->logc), POLLIN, 0 };
		poll(&p, 1, 50);
		logw_collect(r);
	}
}

static int queue_full(const struct run *r, size_t more)
{
	return r->q.n > 0 && (r->q.n >= KEEP_LINES || r->q.bytes + more >= KEEP_BYTES);
}

/* Appends one log line per line of text. */
static void run_log(struct run *r, const char *stream, const char *text)
{
	const char *p = text;
	do {
		size_t n = strcspn(p, "\n");
		double at = wall_now();
		/* the database is slow: wait for it; it is away: count */
		while (r->logc && queue_full(r, n)) {
			logw_tick(r, 1);
			logw_settle(r);
		}
		if (queue_full(r, n)) {
			r->dropped++;
			r->dropped_total++;
		} else {
			if (r->dropped) {
				char note[160];
				snprintf(note, sizeof(note),
					 "%lld log lines were lost here: the database was unreachable and the lines kept for "
					 "it filled the buffer (%d lines, %d MiB)",
					 r->dropped, KEEP_LINES, KEEP_BYTES >> 20);
				logq_push(&r->q, ++r->seq, at, "warn", note, strlen(note));
				r->dropped = 0;
			}
			if (logq_push(&r->q, r->seq + 1, at, stream, p, n) == 0) {
				r->seq++;
				r->kept += r->down_since != 0;
			}
		}
		p += n;
		if (*p == '\n')
			p++;
	} while (*p);
	/* a build printing fast is not slowed by a look at the connection
	 * (system calls) for every line: once a millisecond, or a batch */
	long now = now_ms();
	if (now != r->last_tick || r->q.n >= BATCH_LINES) {
		r->last_tick = now;
		logw_tick(r, 0);
	}
}

static void run_logf(struct run *r, const char *stream, const char *fmt, ...)
{
	struct wo_buf b = WO_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	wo_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	run_log(r, stream, wo_buf_cstr(&b));
	wo_buf_release(&b);
}

/* The run's state changed: it goes with the next batch. */
static void state_changed(struct run *r)
{
	r->state_ver++;
	logw_tick(r, 0);
}

static void set_stage(struct run *r, const char *stage)
{
	snprintf(r->stage, sizeof(r->stage), "%s", stage);
	state_changed(r);
}

static void record_timing(struct run *r, const char *stage, long ms)
{
	json_object_set_new(r->timings, stage, json_integer(ms));
	state_changed(r);
}

/* Also the run's tick while hooks run and the fetch goes on (both ask
 * every 50 ms at least). */
static int check_cancelled(void *ud)
{
	struct run *r = ud;
	logw_tick(r, 0);
	/* a daemon cut off from the database must not go on changing things
	 * while another one takes the run over (after WO_RUN_STALE_SECONDS
	 * without heartbeats): past most of that without a confirmation, the
	 * run stops itself and its hooks (which leave the previous release) */
	long lease = (WO_RUN_STALE_SECONDS - 3) * 1000L;
	if (!r->lost && r->confirmed_ms && now_ms() - r->confirmed_ms > lease) {
		r->cancelled = r->lost = 1;
		snprintf(r->lost_why, sizeof(r->lost_why), "it could not confirm for %ld s that it still owns the run "
			 "(the database did not answer)", lease / 1000);
		fprintf(stderr, "run %lld: stopping: %s\n", r->id, r->lost_why);
	}
	return r->cancelled;
}

/* ---- the steps ---- */

static int op_load(struct run *r, PGconn *c, void *arg)
{
	(void)arg;
	/* what the run needs of its record: from the claim, else read here */
	if (!json_is_string(json_object_get(r->run, "deployment"))) {
		const char *p1[] = { r->ids };
		PGresult *res;
		if (wo_db_exec(&res, c,
			       "SELECT " WO_RUN_CLAIMED_JSON("r", "d.name")
			       " FROM runs r JOIN deployments d ON d.id = r.deployment_id WHERE r.id = $1::bigint",
			       1, p1) < 0)
			return -1;
		json_decref(r->run);
		r->run = NULL;
		int rc = PQntuples(res) == 1 ? wo_db_rows_json(&r->run, res, 0, "run record")
					     : wo_error_set("run %lld not found", r->id);
		PQclear(res);
		if (rc < 0)
			return -2;
	}
	const char *name = json_string_value(json_object_get(r->run, "deployment"));
	r->seq = json_integer_value(json_object_get(r->run, "seq"));
	r->started_at = json_number_value(json_object_get(r->run, "started_at"));
	free(r->name);
	r->name = strdup(name ? name : "?");
	json_decref(r->deployment);
	r->deployment = NULL;
	if (wo_deployment_get(&r->deployment, c, r->name) < 0)
		return PQstatus(c) == CONNECTION_OK ? -2 : -1;
	r->dep_id = json_integer_value(json_object_get(r->deployment, "id"));
	return 0;
}

static int op_lock(struct run *r, PGconn *c, void *arg)
{
	(void)arg;
	/* a lifecycle action in progress is waited for, and none starts while
	 * the run goes on. The holder is named by the runs table (a running
	 * run), so no application_name is set (one round trip less) */
	int rc = wo_deployment_lock(c, r->dep_id, r->name, NULL, LOCK_WAIT_MS);
	if (rc == 0)
		r->locked = 1;
	if (rc == 1) {
		wo_run_interrupt(c, r->id, wo_error_last());
		return -2;
	}
	return rc;
}

/* What pre/post_deploy hooks are told (host->event_json): {"trigger",
 * "releases": the newest ones, newest first, "rollback": the release a
 * rollback runs again}. A rollback to a release that is gone fails here. */
static int op_event(struct run *r, PGconn *c, void *arg)
{
	(void)arg;
	json_t *recent = NULL;
	if (wo_release_recent(&recent, c, r->dep_id, 20) < 0)
		return -1;
	json_decref(r->event);
	r->event = json_pack("{s:s,s:o}", "trigger", json_string_value(json_object_get(r->run, "trigger")) ?: "?",
			     "releases", recent);
	const json_t *num = json_object_get(r->run, "release_number");
	if (!json_is_integer(num) || json_integer_value(num) <= 0)
		return 0;
	json_t *rel = NULL;
	int rc = wo_release_get_by_id(&rel, c, r->dep_id, (int)json_integer_value(num));
	if (rc == WO_ENOTFOUND) {
		wo_error_set("rollback: '%s' has no release %lld (see 'webops releases %s')", r->name,
			     (long long)json_integer_value(num), r->name);
		return -2;
	}
	if (rc < 0)
		return -1;
	json_object_set_new(r->event, "rollback", rel);
	return 0;
}

struct creds {
	struct wo_credentials stored;
	struct wo_git_creds c;
};

static int op_credentials(struct run *r, PGconn *c, void *arg)
{
	struct creds *cr = arg;
	wo_credentials_release(&cr->stored);
	if (wo_credentials_for_run(&cr->stored, c, r->ids) < 0)
		return -1;
	cr->c.https_username = cr->stored.https_username;
	cr->c.https_token = cr->stored.https_token;
	cr->c.ssh_username = cr->stored.ssh_username;
	cr->c.ssh_private_key = cr->stored.ssh_private_key;
	cr->c.bound = cr->stored.bound;
	return 0;
}

static void git_log(void *ud, const char *line)
{
	run_log(ud, "fetch", line);
}

static int op_addons(struct run *r, PGconn *c, void *arg);

/* While the fetch goes on: the addons' state, if the database answers
 * (else after the fetch, waiting for it). */
static void git_meanwhile(void *ud)
{
	struct run *r = ud;
	if (r->conn && PQstatus(r->conn) == CONNECTION_OK && op_addons(r, r->conn, NULL) == 0)
		r->addons_read = 1;
}

static int stage_fetch(struct run *r)
{
	struct wo_buf cache = WO_BUF_INIT, src = WO_BUF_INIT;
	wo_buf_printf(&cache, "%s/repos/%lld.git", r->cfg->data_dir, r->dep_id);
	wo_buf_printf(&src, "%s/builds/%lld/src", r->cfg->data_dir, r->dep_id);
	/* checkouts are webops' own: DATA/builds and its folders are 0700, also
	 * where an older version made them 0755 */
	{
		struct wo_buf d = WO_BUF_INIT;
		wo_buf_printf(&d, "%s/builds", r->cfg->data_dir);
		if (wo_fs_mkdir_p(d.ptr, 0700) == 0)
			chmod(d.ptr, 0700);
		wo_buf_printf(&d, "/%lld", r->dep_id);
		if (wo_fs_mkdir_p(d.ptr, 0700) == 0)
			chmod(d.ptr, 0700);
		wo_buf_release(&d);
	}
	/* a pushed commit comes from webops' own staging repository. The cache
	 * is shared with fetches from repo_url: remotes are anonymous and every
	 * refspec is forced, so each fetch overwrites the remote-tracking refs
	 * with what its source has, and a push run names its exact commit */
	const json_t *source = json_object_get(r->run, "source_url");
	int pushed = json_is_string(source) && *json_string_value(source);
	const char *url = pushed ? json_string_value(source) : json_string_value(json_object_get(r->deployment, "repo_url"));
	struct creds cr;
	memset(&cr, 0, sizeof(cr));
	int rc = pushed ? 0 : with_db(r, op_credentials, &cr);
	const json_t *ref = json_object_get(r->run, "requested_ref");
	struct wo_git_sync_opts o = {
		.url = url,
		.cache_dir = cache.ptr,
		.source_dir = src.ptr,
		.branch = json_string_value(json_object_get(r->deployment, "branch")),
		.ref = json_is_string(ref) ? json_string_value(ref) : NULL,
		/* the deployment's credentials are for its repo_url only */
		.creds = pushed ? NULL : &cr.c,
		.log = git_log,
		.cancelled = check_cancelled,
		.meanwhile = git_meanwhile,
		.ud = r,
		/* the host's bounds (a member's repository must not take the
		 * machine's disk or memory) */
		.max_fetch_bytes = env_seconds("WEBOPS_FETCH_MAX_MB", 2048) << 20,
		.max_checkout_bytes = env_seconds("WEBOPS_CHECKOUT_MAX_MB", 2048) << 20,
		.max_memory_bytes = env_seconds("WEBOPS_FETCH_MEMORY_MB", 2048) << 20,
	};
	struct wo_git_limits lim = {
		.timeout_s = (int)env_seconds("WEBOPS_FETCH_TIMEOUT_S", 600),
		.stall_s = (int)env_seconds("WEBOPS_FETCH_STALL_S", 60),
	};
	if (pushed)
		run_logf(r, "fetch", "the commit was pushed to webops: taking it from webops' staging repository");
	if (!pushed && (cr.stored.https_token || cr.stored.ssh_private_key)) {
		/* say it before the fetch: a changed repo_url gets no credentials */
		struct wo_buf origin = WO_BUF_INIT;
		int same = cr.stored.bound && wo_url_origin(&origin, url) == 0 && !strcmp(origin.ptr, cr.stored.bound);
		if (!same)
			run_logf(r, "warn", "the stored credentials are not used: they were stored for %s, and repo_url is "
				 "now %s; store them again for it ('webops deployment credentials %s ...')",
				 cr.stored.bound ? cr.stored.bound : "no host (before credentials were bound to one)",
				 origin.len ? origin.ptr : "a local path", r->name);
		wo_buf_release(&origin);
	}
	long t0 = now_ms();
	if (rc == 0) {
		rc = wo_git_sync_child(&r->git, &o, &lim, r->fetcher);
		r->fetcher = NULL; /* taken */
	}
	wo_credentials_release(&cr.stored);
	if (rc == 0)
		r->fetched = 1;
	record_timing(r, "fetch", now_ms() - t0);
	if (rc < 0 && !pushed && json_is_true(json_object_get(r->deployment, "push_only")) && !o.ref &&
	    (wo_error_code() == WO_ENOTFOUND || wo_error_code() == WO_EUNREACHABLE)) {
		/* a push-only deployment that was never pushed to */
		wo_error_set("nothing has been pushed to '%s' yet: push its branch '%s' first "
			     "(git push webops %s; see 'webops deployment create --help')",
			     r->name, o.branch, o.branch);
	}
	wo_buf_release(&cache);
	wo_buf_release(&src);
	return rc;
}

/* What the addons on disk look like: the path's folders, each addon's
 * folder, manifest and library (a change means loading them again). */
static char *addons_signature(const struct run *r)
{
	struct wo_buf b = WO_BUF_INIT;
	struct stat st;
	const char *p = r->cfg->addons_path ? r->cfg->addons_path : "";
	while (*p) {
		size_t n = strcspn(p, ":");
		char *entry = strndup(p, n);
		if (entry && stat(entry, &st) == 0)
			wo_buf_printf(&b, "%s %lu %lld.%ld;", entry, (unsigned long)st.st_ino, (long long)st.st_mtim.tv_sec,
				      st.st_mtim.tv_nsec);
		free(entry);
		p += n;
		if (*p == ':')
			p++;
	}
	for (size_t i = 0; r->reg && i < r->reg->naddons; i++) {
		const struct wo_addon *a = r->reg->addons[i];
		const char *paths[] = { a->dir, a->manifest ? a->manifest->path : NULL,
					a->manifest ? a->manifest->library_path : NULL };
		for (int k = 0; k < 3; k++)
			if (paths[k] && stat(paths[k], &st) == 0)
				wo_buf_printf(&b, "%s %lu %lld.%ld %lld;", paths[k], (unsigned long)st.st_ino,
					      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)st.st_size);
	}
	return wo_buf_detach(&b);
}

static int op_addons(struct run *r, PGconn *c, void *arg)
{
	(void)arg;
	if (r->reg) {
		/* loaded ahead (the ready process): the same files? then only what
		 * the database says (enabled, settings) is read again */
		char *sig = addons_signature(r);
		int same = sig && r->reg_sig && !strcmp(sig, r->reg_sig);
		free(sig);
		if (same)
			return wo_addon_registry_refresh(r->reg, c);
		wo_addon_registry_free(r->reg);
		r->reg = NULL;
	}
	if (wo_addon_registry_load(&r->reg, r->cfg->addons_path, c) < 0)
		return -1;
	free(r->reg_sig);
	r->reg_sig = addons_signature(r);
	return 0;
}

static void hook_log(void *arg, const char *addon, int level, const char *line)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	struct run *r = arg;
	run_logf(r, addon, "%s%s%s", level >= 0 && level <= 3 && level != 1 ? names[level] : "",
		 level >= 0 && level <= 3 && level != 1 ? ": " : "", line);
}

static void hook_start(void *arg, const struct wo_hook_result *h)
{
	run_logf(arg, "hook", "-> %s %s (%s, priority %d, %s)", h->addon, wo_event_name(h->event), h->handler,
		 h->priority, h->required ? "required" : "optional");
}

static void hook_done(void *arg, const struct wo_hook_result *h)
{
	if (h->status == WO_HOOK_FAILED)
		run_logf(arg, "hook", "<- %s %s failed after %lld ms: %s", h->addon, wo_event_name(h->event),
			 (long long)h->duration_ms, h->error ? h->error : "");
	else if (h->status == WO_HOOK_SKIPPED)
		run_logf(arg, "hook", "<- %s %s skipped%s%s", h->addon, wo_event_name(h->event),
			 h->skip_reason ? ": " : "", h->skip_reason ? h->skip_reason : "");
	else
		run_logf(arg, "hook", "<- %s %s %s in %lld ms", h->addon, wo_event_name(h->event),
			 wo_hook_status_name(h->status), (long long)h->duration_ms);
}

/* Dispatches one event; returns 0 when no required hook failed. */
static int stage_hooks(struct run *r, enum wo_event ev, const char *source_dir)
{
	const char *stage = wo_event_name(ev);
	set_stage(r, stage);
	struct wo_hook_ctx ctx = {
		.deployment = r->deployment,
		.source_dir = source_dir,
		.commit = r->git.sha,
		.run_id = r->ids,
		.outputs = r->outputs,
		.event_data = r->event,
		.arg = r,
		.log = hook_log,
		.cancelled = check_cancelled,
		.hook_start = hook_start,
		.hook_done = hook_done,
	};
	long t0 = now_ms();
	struct wo_hook_report *rep = NULL;
	if (wo_hook_dispatch(&rep, r->reg, ev, &ctx) < 0) {
		record_timing(r, stage, now_ms() - t0);
		return wo_error_prefix("%s", stage);
	}
	json_array_append_new(r->hooks, wo_hook_report_json(rep));
	record_timing(r, stage, now_ms() - t0);
	int rc = 0;
	if (rep->nresults == 0)
		run_logf(r, "hook", "no %s hooks", stage);
	if (rep->cancelled) {
		rc = wo_error_set("cancelled during %s", stage);
	} else if (!rep->ok) {
		for (size_t i = 0; i < rep->nresults; i++)
			if (rep->results[i].status == WO_HOOK_FAILED && rep->results[i].required) {
				rc = wo_error_set("%s", rep->results[i].error ? rep->results[i].error : "a required hook failed");
				break;
			}
		if (rc == 0)
			rc = wo_error_set("%s failed", stage);
	}
	wo_hook_report_free(rep);
	return rc;
}

struct outcome {
	const char *status;
	const char *error;
	double finished_at;
	char *timings, *hooks, *outputs;
};

/* Whether an addon that runs things (capability "run") did its post_deploy:
 * else the deployment is fetched but nothing runs it ("deployed"). */
static int runtime_ran(const struct run *r)
{
	size_t i, j;
	json_t *rep, *h;
	json_array_foreach(r->hooks, i, rep) {
		if (strcmp(json_string_value(json_object_get(rep, "event")) ?: "", "post_deploy") != 0)
			continue;
		json_array_foreach(json_object_get(rep, "hooks"), j, h) {
			const char *addon = json_string_value(json_object_get(h, "addon"));
			if (addon && !strcmp(json_string_value(json_object_get(h, "status")) ?: "", "ok") &&
			    wo_addon_runs_deployments(r->reg, addon))
				return 1;
		}
	}
	return 0;
}

static void outcome_fill(struct wo_run_outcome *o, const struct run *r, const struct outcome *oc)
{
	memset(o, 0, sizeof(*o));
	o->run_id = r->id;
	o->deployment = r->name;
	o->trigger = json_string_value(json_object_get(r->run, "trigger"));
	o->started_at = r->started_at;
	o->status = oc->status;
	o->error = oc->error;
	if (r->fetched) {
		o->commit_sha = r->git.sha[0] ? r->git.sha : NULL;
		o->commit_subject = r->git.subject[0] ? r->git.subject : NULL;
		o->commit_author = r->git.author[0] ? r->git.author : NULL;
	}
	o->runs_nothing = !runtime_ran(r);
	o->stage_timings = oc->timings;
	o->hooks = oc->hooks;
	o->outputs = oc->outputs;
	o->finished_at = oc->finished_at;
	o->lines = r->q.v + r->q.head;
	o->nlines = r->q.n;
}

static int op_record(struct run *r, PGconn *c, void *arg)
{
	const struct outcome *oc = arg;
	/* nothing of the log writer is in flight: every line not yet written
	 * goes with the record, in the same transaction */
	logw_settle(r);
	struct wo_run_outcome o;
	outcome_fill(&o, r, oc);
	o.finished_at = 0; /* now, by the database's clock, as started_at */
	int rc = wo_run_record(c, &o, 0);
	if (rc >= 0)
		logq_pop(&r->q, r->q.n);
	return rc;
}

/* Records the end; when the database stays away past the deadline, says
 * what is known where it is seen (stderr: the daemon's log) and leaves the
 * outcome for the daemon to record when the database is back. */
static int finish(struct run *r, const char *status, const char *error)
{
	if (r->dropped) {
		run_logf(r, "warn", "%lld log lines were lost here: the database was unreachable and the lines kept "
				    "for it filled the buffer (%d lines, %d MiB)",
			 r->dropped, KEEP_LINES, KEEP_BYTES >> 20);
		r->dropped = 0;
	}
	struct outcome oc = {
		.status = status,
		.error = error,
		.finished_at = wall_now(),
		.timings = json_dumps(r->timings, JSON_COMPACT),
		.hooks = json_dumps(r->hooks, JSON_COMPACT),
		.outputs = json_dumps(r->outputs, JSON_COMPACT),
	};
	if (r->lost) {
		/* not its run any more (or it cannot know): whoever owns it records it */
		wo_log(WO_LOG_WARN, "run", "run %lld of '%s' stopped without recording its end: %s", r->id, r->name,
		       r->lost_why);
		free(oc.timings);
		free(oc.hooks);
		free(oc.outputs);
		return 0;
	}
	int rc = with_db(r, op_record, &oc);
	if (rc < 0 && r->conn && PQstatus(r->conn) == CONNECTION_OK && !r->down_since) {
		/* the database answers but refused the record */
		fprintf(stderr, "run %lld: cannot record its end (%s): %s\n", r->id, status, wo_error_last());
	} else if (rc < 0) {
		char why[512];
		snprintf(why, sizeof(why), "%s", wo_error_last());
		struct wo_run_outcome o;
		outcome_fill(&o, r, &oc);
		char *path = NULL;
		if (wo_run_outcome_save(&path, r->cfg->data_dir, &o) == 0) {
			wo_log(WO_LOG_ERROR, "run",
			       "run %lld of '%s' %s%s%s%s%.12s, but could not be recorded (%s); its outcome and %zu log "
			       "lines are kept in '%s' and recorded when the database is back",
			       r->id, r->name, status, error ? ": " : "", error ? error : "", r->fetched ? " at " : "",
			       r->fetched ? r->git.sha : "", why, r->q.n, path);
			rc = 0;
		} else {
			wo_log(WO_LOG_ERROR, "run", "run %lld of '%s' %s%s%s, but could not be recorded (%s) nor saved: %s",
			       r->id, r->name, status, error ? ": " : "", error ? error : "", why, wo_error_last());
		}
		free(path);
	}
	free(oc.timings);
	free(oc.hooks);
	free(oc.outputs);
	return rc < 0 ? -1 : 0;
}

/* ---- the run ---- */

static void run_init(struct run *r, const struct wo_config *cfg, const char *conninfo)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->conninfo = conninfo;
	r->db_wait_ms = env_seconds("WEBOPS_RUN_DB_WAIT_S", 600) * 1000L;
	r->backoff = RETRY_MIN_MS;
	r->timings = json_object();
	r->outputs = json_object();
	r->hooks = json_array();
}

static void run_release(struct run *r)
{
	wo_git_fetcher_free(r->fetcher);
	wo_addon_registry_free(r->reg);
	free(r->reg_sig);
	logq_release(&r->q);
	json_decref(r->run);
	json_decref(r->deployment);
	json_decref(r->timings);
	json_decref(r->outputs);
	json_decref(r->hooks);
	json_decref(r->event);
	free(r->name);
	PQfinish(r->connecting);
	PQfinish(r->logc);
	PQfinish(r->conn);
}

/* The triggers the end of a run fires (status and change notifications, a
 * log line, the health state of a deployment that runs a new release, a
 * notification for addons) are compiled the first time they fire: fired
 * here on the newest finished run and its deployment, in a transaction
 * rolled back, that waits for no lock. */
static void warm_triggers(PGconn *c)
{
	PGresult *res = PQexec(c, "BEGIN; SET LOCAL lock_timeout TO '20ms'");
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	res = NULL;
	if (ok && wo_db_exec(&res, c,
			     "WITH r AS (UPDATE runs SET status = CASE WHEN status = 'failed' THEN 'succeeded' ELSE 'failed' END"
			     "   WHERE id = (SELECT max(id) FROM runs WHERE finished_at IS NOT NULL) RETURNING id, deployment_id),"
			     " l AS (INSERT INTO run_logs (run_id, seq, stream, text) SELECT id, -1, 'warm', '' FROM r),"
			     " d AS (UPDATE deployments SET status = 'running', current_run_id = -1 FROM r"
			     "   WHERE deployments.id = r.deployment_id RETURNING deployments.id, deployments.name)"
			     " SELECT id, name FROM d",
			     0, NULL) == 0 && PQntuples(res) == 1) {
		json_t *doc = json_object();
		wo_notify_enqueue(c, strtoll(PQgetvalue(res, 0, 0), NULL, 10), PQgetvalue(res, 0, 1), doc);
		json_decref(doc);
	}
	if (res)
		PQclear(res);
	wo_db_rollback(c);
}

/* A server process reads its catalog (tables, indexes, functions) the first
 * time a statement needs it: milliseconds that the ready process spends
 * before its run, with the statements the run makes, for no run. */
static void warm_statements(struct run *r)
{
	if (r->conn) {
		json_t *j = NULL;
		wo_deployment_get(&j, r->conn, "");
		json_decref(j);
		struct wo_credentials c;
		if (wo_credentials_for_run(&c, r->conn, "0") == 0)
			wo_credentials_release(&c);
		PQclear(PQexec(r->conn, "SELECT coalesce(max(seq), 0) FROM run_logs WHERE run_id = 0;"
					"SELECT pg_try_advisory_lock(0) WHERE false"));
		struct wo_run_outcome o = { .run_id = 0, .deployment = "", .status = "failed", .error = "" };
		wo_run_record(r->conn, &o, 0);
		warm_triggers(r->conn);
	}
	if (r->logc) {
		/* the batch statement, for run 0 (none) */
		PQsetnonblocking(r->logc, 0);
		snprintf(r->ids, sizeof(r->ids), "0");
		logw_send(r);
		PGresult *res;
		while ((res = PQgetResult(r->logc)))
			PQclear(res);
		r->ids[0] = '\0';
		r->busy = 0;
		r->inflight = 0;
		r->state_sent = r->state_written = r->state_ver;
		if (PQstatus(r->logc) != CONNECTION_OK || PQsetnonblocking(r->logc, 1) != 0)
			logw_lost(r);
	}
	wo_error_clear();
}

/* What can be made before the run is known: the connections, libgit2 (its
 * TLS setup reads every CA certificate), the addons. ready: a process made
 * in advance, which has the time to finish all of it; otherwise the log
 * connection is made while the run starts (its first lines wait for it). */
static void run_warm(struct run *r, int ready)
{
	git_libgit2_init();
	if (ready && wo_git_fetcher_start(&r->fetcher) < 0)
		wo_error_clear(); /* the fetch forks when it starts, then */
	main_conn(r);
	logw_connect(r);
	for (long until = now_ms() + 2000; ready && r->connecting && now_ms() < until;) {
		struct pollfd p = { PQsocket(r->connecting),
				    r->connect_poll == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0 };
		poll(&p, 1, 20);
		logw_connect(r);
	}
	if (ready && r->conn && wo_addon_registry_load(&r->reg, r->cfg->addons_path, r->conn) == 0)
		r->reg_sig = addons_signature(r);
	if (ready)
		warm_statements(r);
	r->down_since = 0;
}

/* run: what the claim said of the run (WO_RUN_CLAIMED_JSON), or {id} */
static int run_execute(struct run *r, json_t *run)
{
	long long run_id = json_integer_value(json_object_get(run, "id"));
	r->run = run;
	r->id = run_id;
	snprintf(r->ids, sizeof(r->ids), "%lld", run_id);
	int rc = with_db(r, op_load, NULL);
	if (rc == 0)
		rc = with_db(r, op_lock, NULL);
	if (rc < 0) {
		/* the deployment is gone (deleted meanwhile) */
		if (rc == -2 && r->dep_id == 0 && r->conn && PQstatus(r->conn) == CONNECTION_OK)
			wo_run_interrupt(r->conn, run_id, wo_error_last());
		return -1;
	}
	const json_t *ref = json_object_get(r->run, "requested_ref");
	run_logf(r, "info", "run %lld of '%s' (trigger %s) on %s: %s %s", run_id, r->name,
		 json_string_value(json_object_get(r->run, "trigger")),
		 json_is_string(json_object_get(r->run, "worker")) ? json_string_value(json_object_get(r->run, "worker"))
								  : "?",
		 json_is_string(ref) ? "ref" : "branch",
		 json_is_string(ref) ? json_string_value(ref) : json_string_value(json_object_get(r->deployment, "branch")));

	const char *status = "failed";
	struct wo_buf err = WO_BUF_INIT, src = WO_BUF_INIT;
	wo_buf_printf(&src, "%s/builds/%lld/src", r->cfg->data_dir, r->dep_id);
	/* an environment that cannot be decrypted would reach the app as
	 * ciphertext: refused before anything is fetched */
	if (wo_deployment_env_check(r->deployment) < 0) {
		wo_buf_printf(&err, "%s", wo_error_last());
		goto done;
	}
	if (with_db(r, op_event, NULL) < 0) {
		wo_buf_printf(&err, "%s", wo_error_last());
		goto done;
	}
	const json_t *back = json_object_get(r->event, "rollback");
	if (back) {
		/* nothing is fetched or built: the hooks run the release again
		 * from what it recorded (the docker addon: its image) */
		const json_t *c = json_object_get(back, "commit");
		snprintf(r->git.sha, sizeof(r->git.sha), "%s", json_string_value(json_object_get(c, "sha")) ?: "");
		snprintf(r->git.subject, sizeof(r->git.subject), "%s",
			 json_string_value(json_object_get(c, "subject")) ?: "");
		r->fetched = 1;
		run_logf(r, "info", "rollback to release %lld (commit %.12s%s%s): nothing is fetched or built; the "
			 "addons run what release %lld recorded", (long long)json_integer_value(json_object_get(back, "number")),
			 r->git.sha, r->git.subject[0] ? ", " : "", r->git.subject,
			 (long long)json_integer_value(json_object_get(back, "number")));
		wo_buf_clear(&src); /* no checkout: hooks get no source directory */
	} else {
		set_stage(r, "fetch");
		if (stage_fetch(r) < 0) {
			wo_buf_printf(&err, "fetch: %s", wo_error_last());
			goto done;
		}
	}
	if (!r->addons_read && with_db(r, op_addons, NULL) < 0) {
		wo_buf_printf(&err, "cannot load addons: %s", wo_error_last());
		goto done;
	}
	for (size_t i = 0; i < r->reg->naddons; i++)
		if (r->reg->addons[i]->load_error && r->reg->addons[i]->enabled)
			run_logf(r, "warn", "addon '%s' is not loaded: %s", r->reg->addons[i]->name,
				 r->reg->addons[i]->load_error);
	if (stage_hooks(r, WO_EVENT_PRE_DEPLOY, src.len ? src.ptr : NULL) < 0 ||
	    stage_hooks(r, WO_EVENT_POST_DEPLOY, src.len ? src.ptr : NULL) < 0) {
		wo_buf_puts(&err, wo_error_last());
		goto done;
	}
	status = "succeeded";
done:
	logw_tick(r, 0);
	if (r->cancelled && strcmp(status, "succeeded") != 0) {
		status = "cancelled";
		wo_buf_clear(&err);
		wo_buf_puts(&err, "cancelled");
	}
	snprintf(r->stage, sizeof(r->stage), "done");
	if (!strcmp(status, "succeeded"))
		run_logf(r, "info", "run %lld succeeded: '%s' is at %.12s", run_id, r->name, r->git.sha);
	else
		run_logf(r, "error", "run %lld %s: %s", run_id, status, wo_buf_cstr(&err));
	rc = finish(r, status, err.len ? err.ptr : NULL);
	/* the hooks' scratch folders (host->scratch_dir) end with the run */
	wo_buf_clear(&src);
	if (wo_addon_scratch_path(&src, r->cfg->data_dir, r->ids) == 0)
		wo_fs_rm_rf(src.ptr);
	wo_buf_release(&err);
	wo_buf_release(&src);
	if (rc < 0)
		return -1;
	return !strcmp(status, "succeeded") ? 0 : 1;
}

int wo_runner_execute(const struct wo_config *cfg, const char *conninfo, long long run_id)
{
	struct run r;
	run_init(&r, cfg, conninfo);
	run_warm(&r, 0);
	int rc = run_execute(&r, json_pack("{s:I}", "id", (json_int_t)run_id));
	run_release(&r);
	return rc;
}

/* ---- run processes, and the ones kept ready ---- */

/* Two: the next run takes one that finished warming up while the other
 * warms up, after the run it followed got going. */
#define READY 2

static struct ready {
	pid_t pid;
	int fd;       /* where its run is sent */
	long made_at; /* monotonic ms */
} ready[READY] = { { 0, -1, 0 }, { 0, -1, 0 } };
static long ready_failed_at;

/* The start of every run process: it dies with the daemon, so a killed
 * daemon leaves no run behind. */
static const struct wo_fork_opts child_fork = {
	.flags = WO_FORK_DEATHSIG_KILL | WO_FORK_RESET_SIGNALS | WO_FORK_IGNORE_SIGPIPE
};

/* Reads all of len bytes; 0 at the end of the stream. */
static ssize_t read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* The run process. A ready one (fd >= 0) gets ready, then waits for its
 * run: a length (uint32) and the claim's JSON on fd. */
static void child_run(const struct wo_config *cfg, const char *conninfo, const char *claimed, int fd)
{
	struct run r;
	run_init(&r, cfg, conninfo);
	char *text = NULL;
	if (fd >= 0) {
		/* the daemon just handed on the previous one: let that run get
		 * going before taking CPU time from it */
		poll(NULL, 0, 30);
		run_warm(&r, 1);
		uint32_t len = 0;
		if (read_all(fd, &len, sizeof(len)) != (ssize_t)sizeof(len) || len > (1u << 20) || !(text = malloc(len + 1)) ||
		    read_all(fd, text, len) != (ssize_t)len)
			_exit(0); /* not needed after all: the daemon stops */
		text[len] = '\0';
		close(fd);
		claimed = text;
	} else {
		run_warm(&r, 0);
	}
	json_t *run = json_loads(claimed, 0, NULL);
	free(text);
	long long run_id = json_integer_value(json_object_get(run, "id"));
	int rc = run ? run_execute(&r, run) : wo_error_set("the run to start is not readable");
	if (rc < 0)
		wo_log(WO_LOG_ERROR, "run", "run %lld: %s", run_id, wo_error_last());
	run_release(&r);
	/* _exit: the parent's atexit handlers and its connection are not ours */
	_exit(rc < 0 ? 2 : rc);
}

static void ready_forget(struct ready *rd)
{
	if (rd->fd >= 0)
		close(rd->fd);
	rd->pid = 0;
	rd->fd = -1;
}

static void ready_end(struct ready *rd)
{
	if (rd->pid <= 0)
		return;
	pid_t pid = rd->pid;
	ready_forget(rd);
	/* without a run id it exits at once; one busy warming up is not waited for */
	if (waitpid(pid, NULL, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static void ready_make(struct ready *rd, const struct wo_config *cfg, const char *conninfo)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	pid_t pid = wo_fork("a run process", &child_fork);
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		close(sv[0]);
		child_run(cfg, conninfo, NULL, sv[1]);
	}
	close(sv[1]);
	rd->pid = pid;
	rd->fd = sv[0];
	rd->made_at = now_ms();
}

/* Makes the empty places ready; forgets processes that died (made again
 * once a second at most, so one that cannot start does not loop). */
static void ready_fill(const struct wo_config *cfg, const char *conninfo)
{
	for (int i = 0; i < READY; i++) {
		if (ready[i].pid > 0 && waitpid(ready[i].pid, NULL, WNOHANG) != 0) {
			ready_forget(&ready[i]);
			ready_failed_at = now_ms();
		}
		if (ready[i].pid <= 0 && (!ready_failed_at || now_ms() - ready_failed_at >= 1000))
			ready_make(&ready[i], cfg, conninfo);
	}
}

pid_t wo_runner_start(const struct wo_config *cfg, const char *conninfo, const json_t *run)
{
	char *text = json_dumps(run, JSON_COMPACT);
	if (!text) {
		errno = ENOMEM;
		return -1;
	}
	/* the one made first has had the most time to get ready */
	struct ready *rd = NULL;
	for (int i = 0; i < READY; i++)
		if (ready[i].pid > 0 && (!rd || ready[i].made_at < rd->made_at))
			rd = &ready[i];
	pid_t pid = -1;
	if (rd) {
		pid = rd->pid;
		uint32_t len = (uint32_t)strlen(text);
		char *msg = malloc(sizeof(len) + len);
		ssize_t n = -1;
		if (msg && waitpid(pid, NULL, WNOHANG) == 0) {
			memcpy(msg, &len, sizeof(len));
			memcpy(msg + sizeof(len), text, len);
			n = send(rd->fd, msg, sizeof(len) + len, MSG_NOSIGNAL);
		}
		free(msg);
		ready_forget(rd);
		if (n != (ssize_t)(sizeof(len) + len)) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			pid = -1;
		}
	}
	if (pid < 0) {
		pid = wo_fork("a run process", &child_fork);
		if (pid == 0) {
			child_run(cfg, conninfo, text, -1);
		}
	}
	free(text);
	if (pid < 0)
		return -1;
	/* the next one gets ready (it waits a moment first) while this one runs */
	ready_fill(cfg, conninfo);
	return pid;
}

void wo_runner_prepare(const struct wo_config *cfg, const char *conninfo)
{
	ready_fill(cfg, conninfo);
}

void wo_runner_prepare_stop(void)
{
	for (int i = 0; i < READY; i++)
		ready_end(&ready[i]);
}
