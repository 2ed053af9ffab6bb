/* Run queue operations. Correctness under several daemons rests on the
 * database: SKIP LOCKED for claiming, a unique partial index for "one running
 * run per deployment", and status guards on every transition. */
#include "pipeline/runs.h"

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/random.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "pipeline/notify.h"
#include "store/deployment.h"
#include "store/validate.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define RUN_JSON RUN_JSON_OBJECT " FROM runs r JOIN deployments d ON d.id = r.deployment_id"
#define RUN_JSON_OBJECT \
	"json_build_object('id', r.id, 'deployment', d.name, 'trigger', r.trigger," \
	" 'requested_ref', r.requested_ref, 'source_url', r.source_url, 'release_number', r.release_number," \
	" 'commit', CASE WHEN r.commit_sha IS NULL THEN NULL ELSE json_build_object('sha', r.commit_sha," \
	"   'subject', r.commit_subject, 'author', r.commit_author) END," \
	" 'status', r.status, 'stage', r.stage, 'stage_timings', r.stage_timings, 'error', r.error," \
	" 'outputs', r.outputs, 'hooks', r.hooks, 'worker', r.worker, 'cancel_requested', r.cancel_requested," \
	" 'heartbeat_at', " TS("r.heartbeat_at") ", 'queued_at', " TS("r.queued_at") "," \
	" 'started_at', " TS("r.started_at") ", 'finished_at', " TS("r.finished_at") "," \
	" 'duration_ms', (extract(epoch FROM (coalesce(r.finished_at, clock_timestamp()) - r.started_at)) * 1000)::bigint" \
	")::text"

const char *wo_run_worker_name(void)
{
	static char name[300];
	static pid_t for_pid;
	if (for_pid != getpid()) {
		char host[256] = "localhost";
		gethostname(host, sizeof(host) - 1);
		/* host:pid names the process; a random part per start tells apart
		 * two daemons that got the same pid (containers, a reboot) */
		uint32_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			rnd = (uint32_t)time(NULL) ^ (uint32_t)getpid();
		snprintf(name, sizeof(name), "%s:%ld:%08x", host, (long)getpid(), (unsigned)rnd);
		for_pid = getpid();
	}
	return name;
}

int wo_run_enqueue(json_t **out, PGconn *conn, const char *deployment, const char *trigger, const char *ref)
{
	return wo_run_enqueue_source(out, conn, deployment, trigger, ref, NULL);
}

int wo_run_enqueue_source(json_t **out, PGconn *conn, const char *deployment, const char *trigger, const char *ref,
			  const char *source_url)
{
	return wo_run_enqueue_release(out, conn, deployment, trigger, ref, source_url, 0);
}

int wo_run_enqueue_release(json_t **out, PGconn *conn, const char *deployment, const char *trigger, const char *ref,
			   const char *source_url, int release_number)
{
	/* the one check of a requested ref, whoever asks (CLI, API, web, webhook) */
	if (ref && *ref) {
		struct wo_buf err = WO_BUF_INIT;
		if (wo_validate_ref(ref, &err) < 0) {
			wo_error_setc(WO_EINVALID, "%s", wo_buf_cstr(&err));
			wo_buf_release(&err);
			return WO_EINVALID;
		}
	}
	char num[16];
	snprintf(num, sizeof(num), "%d", release_number);
	const char *params[] = { deployment, trigger, ref && *ref ? ref : NULL,
				 source_url && *source_url ? source_url : NULL, release_number > 0 ? num : NULL };
	PGresult *res;
	/* the notification is delivered when the insert commits (same
	 * statement), and the record is the inserted row's: a worker may have
	 * claimed it before another statement could read it */
	if (wo_db_exec(&res, conn,
		       "WITH r AS (INSERT INTO runs (deployment_id, trigger, requested_ref, source_url, release_number)"
		       " SELECT id, $2, $3, $4, $5::int FROM deployments WHERE name = $1 RETURNING *),"
		       " n AS (SELECT pg_notify('" WO_RUNS_CHANNEL "', id::text) FROM r)"
		       " SELECT " RUN_JSON_OBJECT " FROM r JOIN deployments d ON d.id = r.deployment_id, n",
		       5, params) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", deployment);
	}
	int rc = wo_db_rows_json(out, res, 0, "run record");
	PQclear(res);
	return rc;
}

int wo_run_get(json_t **out, PGconn *conn, long long id)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *params[] = { ids };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT " RUN_JSON " WHERE r.id = $1::bigint", 1, params) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "run %lld not found", id);
	}
	int rc = wo_db_rows_json(out, res, 0, "run record");
	PQclear(res);
	return rc;
}

int wo_run_list(json_t **out, PGconn *conn, const char *deployment, int limit)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 20);
	const char *params[] = { deployment, lim };
	PGresult *res;
	int rc = wo_deployment_exists(conn, deployment);
	if (rc < 0)
		return rc;
	if (wo_db_exec(&res, conn, "SELECT " RUN_JSON " WHERE d.name = $1 ORDER BY r.id DESC LIMIT $2::int", 2,
		       params) < 0)
		return -1;
	rc = wo_db_rows_json(out, res, 1, "run record");
	PQclear(res);
	return rc;
}

int wo_run_latest(json_t **out, PGconn *conn, const char *deployment)
{
	json_t *arr;
	int rc = wo_run_list(&arr, conn, deployment, 1);
	if (rc < 0)
		return rc;
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' has no runs yet: deploy it with 'webops deploy %s'", deployment, deployment);
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return 0;
}

int wo_run_latest_all(json_t **out, PGconn *conn)
{
	PGresult *res;
	/* the ids first (one probe of runs_by_deployment per deployment, an
	 * InitPlan run once), then those rows by primary key: never a scan of
	 * all runs, however many there are */
	if (wo_db_exec(&res, conn,
		       "SELECT d.name, cr.commit_subject, " RUN_JSON
		       " LEFT JOIN runs cr ON cr.id = d.current_run_id"
		       " WHERE r.id = ANY (ARRAY(SELECT (SELECT x.id FROM runs x WHERE x.deployment_id = dd.id"
		       "                                 ORDER BY x.id DESC LIMIT 1) FROM deployments dd))",
		       0, NULL) < 0)
		return -1;
	json_t *obj = json_object();
	for (int i = 0; i < PQntuples(res); i++) {
		json_error_t e;
		json_t *j = json_loads(PQgetvalue(res, i, 2), 0, &e);
		if (!j) {
			json_decref(obj);
			PQclear(res);
			return wo_error_set("cannot parse run record: %s", e.text);
		}
		json_object_set_new(j, "current_commit_subject",
				    PQgetisnull(res, i, 1) ? json_null() : json_string(PQgetvalue(res, i, 1)));
		json_object_set_new(obj, PQgetvalue(res, i, 0), j);
	}
	PQclear(res);
	*out = obj;
	return 0;
}

int wo_run_logs(json_t **out, PGconn *conn, long long run_id, long long after_seq)
{
	char ids[32], after[32];
	snprintf(ids, sizeof(ids), "%lld", run_id);
	snprintf(after, sizeof(after), "%lld", after_seq);
	const char *params[] = { ids, after };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT seq, " TS("at") ", stream, text FROM run_logs"
		       " WHERE run_id = $1::bigint AND seq > $2::int ORDER BY seq LIMIT 5000",
		       2, params) < 0)
		return -1;
	json_t *arr = json_array();
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *o = json_object();
		json_object_set_new(o, "seq", json_integer(strtoll(PQgetvalue(res, i, 0), NULL, 10)));
		json_object_set_new(o, "at", json_string(PQgetvalue(res, i, 1)));
		json_object_set_new(o, "stream", json_string(PQgetvalue(res, i, 2)));
		json_object_set_new(o, "text", json_string(PQgetvalue(res, i, 3)));
		json_array_append_new(arr, o);
	}
	PQclear(res);
	*out = arr;
	return 0;
}

int wo_run_cancel(const char **state_out, PGconn *conn, long long id)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *params[] = { ids };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "UPDATE runs SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,"
		       " cancel_requested = (status IN ('queued', 'running')) OR cancel_requested,"
		       " finished_at = CASE WHEN status = 'queued' THEN clock_timestamp() ELSE finished_at END,"
		       " error = CASE WHEN status = 'queued' THEN 'cancelled before it started' ELSE error END"
		       " WHERE id = $1::bigint"
		       " RETURNING (SELECT status FROM runs o WHERE o.id = runs.id), status",
		       1, params) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "run %lld not found", id);
	}
	const char *before = PQgetvalue(res, 0, 0);
	static _Thread_local char state[32];
	if (!strcmp(before, "queued"))
		snprintf(state, sizeof(state), "cancelled");
	else if (!strcmp(before, "running"))
		snprintf(state, sizeof(state), "requested");
	else
		snprintf(state, sizeof(state), "%s", before);
	PQclear(res);
	PQclear(PQexec(conn, "NOTIFY " WO_RUNS_CHANNEL ", 'cancel'"));
	*state_out = state;
	return 0;
}

int wo_run_claim(json_t **out, PGconn *conn, const char *worker)
{
	*out = NULL;
	const char *params[] = { worker };
	PGresult *res;
	/* the newest queued run of a deployment with nothing running; older
	 * queued runs of it are superseded. One statement, so one round trip
	 * between a NOTIFY and the run process starting */
	if (wo_db_exec_prepared(&res, conn, "wo_run_claim",
		       "WITH pick AS (SELECT r.id, r.deployment_id FROM runs r"
		       " WHERE r.status = 'queued'"
		       "   AND NOT EXISTS (SELECT 1 FROM runs a WHERE a.deployment_id = r.deployment_id AND a.status = 'running')"
		       "   AND NOT EXISTS (SELECT 1 FROM runs n WHERE n.deployment_id = r.deployment_id"
		       "                   AND n.status = 'queued' AND n.id > r.id)"
		       " ORDER BY r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED),"
		       " sup AS (UPDATE runs s SET status = 'superseded', finished_at = clock_timestamp(),"
		       "   error = 'superseded by run ' || p.id FROM pick p"
		       "   WHERE s.deployment_id = p.deployment_id AND s.status = 'queued' AND s.id < p.id),"
		       " run AS (UPDATE runs u SET status = 'running', worker = $1, heartbeat_at = clock_timestamp(),"
		       "   started_at = clock_timestamp(), stage = 'starting' FROM pick p WHERE u.id = p.id"
		       "   RETURNING u.*),"
		       " dep AS (UPDATE deployments d SET status = 'building', updated_at = now() FROM run"
		       "   WHERE d.id = run.deployment_id RETURNING d.id, d.name)"
		       " SELECT " WO_RUN_CLAIMED_JSON("run", "dep.name")
		       " FROM run JOIN dep ON dep.id = run.deployment_id",
		       1, params) < 0) {
		/* another daemon started a run of the same deployment first: not an error */
		return wo_error_code() == WO_EEXISTS || wo_error_code() == WO_ECONFLICT ? 0 : -1;
	}
	json_t *run = NULL;
	int rc = PQntuples(res) ? wo_db_rows_json(&run, res, 0, "run record") : 0;
	PQclear(res);
	if (rc == 0)
		*out = run;
	return rc;
}

static void id_array(struct wo_buf *arr, const long long *ids, int n)
{
	wo_buf_putc(arr, '{');
	for (int i = 0; i < n; i++)
		wo_buf_printf(arr, "%s%lld", i ? "," : "", ids[i]);
	wo_buf_putc(arr, '}');
}

int wo_run_heartbeat(PGconn *conn, const char *worker, const long long *ids, int n)
{
	if (n == 0)
		return 0;
	struct wo_buf arr = WO_BUF_INIT;
	id_array(&arr, ids, n);
	const char *params[] = { arr.ptr, worker };
	int rc = wo_db_exec(NULL, conn,
			    "UPDATE runs SET heartbeat_at = clock_timestamp()"
			    " WHERE id = ANY($1::bigint[]) AND status = 'running' AND worker = $2",
			    2, params);
	wo_buf_release(&arr);
	return rc;
}

static int fail_runs(PGconn *conn, const char *where_sql, int nparams, const char *const *params, int *count)
{
	struct wo_buf sql = WO_BUF_INIT;
	wo_buf_printf(&sql,
		      "WITH f AS (UPDATE runs SET status = 'failed', finished_at = clock_timestamp(), error = %s"
		      " RETURNING deployment_id)"
		      " UPDATE deployments SET status = 'failed', updated_at = now()"
		      " WHERE id IN (SELECT deployment_id FROM f) AND status = 'building'"
		      " RETURNING (SELECT count(*) FROM f)",
		      where_sql);
	PGresult *res;
	int rc = wo_db_exec(&res, conn, sql.ptr, nparams, params);
	wo_buf_release(&sql);
	if (rc < 0)
		return -1;
	if (count && PQntuples(res) > 0)
		*count += (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* Whether pid on this host is still a webops process. */
static int alive_here(long pid)
{
	if (pid <= 0 || kill((pid_t)pid, 0) != 0)
		return 0;
	char path[64], *comm = NULL;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (wo_fs_read_file(&comm, NULL, path, 256) < 0)
		return 1;
	int ours = strncmp(comm, "webops", 6) == 0 || strstr(comm, "test") != NULL || strstr(comm, "bench") != NULL;
	free(comm);
	return ours;
}

int wo_run_reap(PGconn *conn, const long long *live, int nlive, int judge_stale, int *count_out)
{
	int count = 0;
	char stale[16];
	snprintf(stale, sizeof(stale), "%d", WO_RUN_STALE_SECONDS);
	struct wo_buf keep = WO_BUF_INIT;
	id_array(&keep, live, nlive);
	/* after a database restart nobody could heartbeat: every worker gets
	 * the stale period from the server's start to be heard again */
	const char *p1[] = { stale, keep.ptr };
	if (judge_stale &&
	    fail_runs(conn,
		      "'interrupted: worker ' || coalesce(worker, '?') || ' stopped sending heartbeats'"
		      " WHERE status = 'running' AND heartbeat_at < clock_timestamp() - make_interval(secs => $1::int)"
		      " AND pg_postmaster_start_time() < clock_timestamp() - make_interval(secs => $1::int)"
		      " AND NOT (id = ANY ($2::bigint[]))",
		      2, p1, &count) < 0) {
		wo_buf_release(&keep);
		return -1;
	}

	/* runs of processes on this host that are gone (a daemon killed and restarted) */
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	const char *p2[] = { host, keep.ptr };
	PGresult *res;
	int rc = wo_db_exec(&res, conn,
			    "SELECT id, split_part(worker, ':', 2) FROM runs"
			    " WHERE status = 'running' AND split_part(worker, ':', 1) = $1 AND NOT (id = ANY ($2::bigint[]))",
			    2, p2);
	wo_buf_release(&keep);
	if (rc < 0)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		long pid = strtol(PQgetvalue(res, i, 1), NULL, 10);
		if (alive_here(pid))
			continue;
		const char *p3[] = { PQgetvalue(res, i, 0) };
		if (fail_runs(conn,
			      "'interrupted: its worker process ' || worker || ' is gone'"
			      " WHERE id = $1::bigint AND status = 'running'",
			      1, p3, &count) < 0) {
			PQclear(res);
			return -1;
		}
	}
	PQclear(res);
	if (count_out)
		*count_out = count;
	return 0;
}

int wo_run_interrupt(PGconn *conn, long long id, const char *why)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *params[] = { ids, why };
	return fail_runs(conn, "'interrupted: ' || $2 WHERE id = $1::bigint AND status = 'running'", 2, params, NULL);
}

int wo_run_requeue(PGconn *conn, long long id)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *params[] = { ids };
	return wo_db_exec(NULL, conn,
			  "WITH r AS (UPDATE runs SET status = 'queued', worker = NULL, heartbeat_at = NULL,"
			  " started_at = NULL, stage = NULL WHERE id = $1::bigint AND status = 'running' RETURNING id)"
			  " SELECT pg_notify('" WO_RUNS_CHANNEL "', id::text) FROM r",
			  1, params);
}

/* ---- log lines and outcomes ---- */

static void array_text(struct wo_buf *b, const char *s)
{
	wo_buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			wo_buf_putc(b, '\\');
		wo_buf_putc(b, *s);
	}
	wo_buf_putc(b, '"');
}

int wo_run_lines_params(char *out[4], const struct wo_run_line *lines, size_t n)
{
	struct wo_buf b[4] = { WO_BUF_INIT, WO_BUF_INIT, WO_BUF_INIT, WO_BUF_INIT };
	for (int k = 0; k < 4; k++)
		wo_buf_putc(&b[k], '{');
	for (size_t i = 0; i < n; i++) {
		const char *sep = i ? "," : "";
		wo_buf_printf(&b[0], "%s%lld", sep, lines[i].seq);
		wo_buf_printf(&b[1], "%s%.6f", sep, lines[i].at);
		wo_buf_puts(&b[2], sep);
		array_text(&b[2], lines[i].stream);
		wo_buf_puts(&b[3], sep);
		array_text(&b[3], lines[i].text);
	}
	int rc = 0;
	for (int k = 0; k < 4; k++) {
		if (wo_buf_putc(&b[k], '}') < 0)
			rc = -1;
		out[k] = wo_buf_detach(&b[k]);
		if (!out[k])
			rc = -1;
	}
	if (rc < 0) {
		for (int k = 0; k < 4; k++) {
			free(out[k]);
			out[k] = NULL;
		}
		return wo_error_set("out of memory for %zu log lines", n);
	}
	return 0;
}

static void iso_time(char *dst, size_t cap, double at)
{
	time_t t = (time_t)at;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(dst, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int wo_run_record(PGconn *conn, const struct wo_run_outcome *o, int late)
{
	char ids[32], fin[32] = "";
	snprintf(ids, sizeof(ids), "%lld", o->run_id);
	if (o->finished_at > 0)
		snprintf(fin, sizeof(fin), "%.6f", o->finished_at);
	char *arr[4] = { 0 };
	if (wo_run_lines_params(arr, o->lines, o->nlines) < 0)
		return -1;
	/* addons' notify hooks hear of it once this commits (never of cancelled runs) */
	double end = o->finished_at > 0 ? o->finished_at : (double)time(NULL);
	json_t *doc = wo_notify_run_doc(o->deployment, o->run_id, o->status, o->commit_sha, o->trigger ? o->trigger : "?",
					o->error, o->started_at > 0 ? (long long)((end - o->started_at) * 1000) : 0);
	char *doctext = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	const json_t *ev = json_object_get(doc, "event");
	const char *params[] = { ids, arr[0], arr[1], arr[2], arr[3], o->status, o->error,
				 o->hooks ? o->hooks : "[]", o->outputs ? o->outputs : "{}",
				 o->stage_timings ? o->stage_timings : "{}", o->commit_sha, o->commit_subject,
				 o->commit_author, fin[0] ? fin : NULL, late ? "t" : "f",
				 o->runs_nothing ? "deployed" : "running", o->deployment,
				 json_is_string(ev) ? json_string_value(ev) : "?", doctext };
	/* One statement, one round trip, committed durably whatever the
	 * session says (log lines are written with synchronous_commit off).
	 * A run recorded late may have been failed as interrupted meanwhile:
	 * what really happened replaces that. The deployment follows unless a
	 * newer run has started since. A run that succeeded is a release,
	 * numbered next for its deployment (one run at a time per deployment).
	 * The notification is wo_notify_enqueue's row, in the same statement. */
	struct wo_buf sql = WO_BUF_INIT;
	wo_buf_puts(&sql,
		    "WITH s AS (SELECT set_config('synchronous_commit', 'on', true)),"
		    " l AS (" WO_RUN_LINES_INSERT("$1", "$2", "$3", "$4", "$5") "),"
		    " r AS (UPDATE runs SET status = $6, error = $7, hooks = $8::jsonb, outputs = $9::jsonb,"
		    "   stage_timings = $10::jsonb, commit_sha = coalesce($11, commit_sha),"
		    "   commit_subject = coalesce($12, commit_subject), commit_author = coalesce($13, commit_author),"
		    "   stage = 'done', cancel_requested = false,"
		    "   finished_at = coalesce(to_timestamp($14::float8), clock_timestamp())"
		    "   WHERE id = $1::bigint AND (status = 'running'"
		    "     OR ($15::bool AND status = 'failed' AND error LIKE 'interrupted:%'))"
		    "   RETURNING id, deployment_id, commit_sha, commit_subject, release_number),"
		    " rel AS (INSERT INTO releases (deployment_id, number, run_id, commit_sha, commit_subject, outputs,"
		    "   rollback_of)"
		    "   SELECT r.deployment_id, (SELECT coalesce(max(number), 0) + 1 FROM releases x"
		    "     WHERE x.deployment_id = r.deployment_id), r.id, r.commit_sha, r.commit_subject, $9::jsonb,"
		    "     r.release_number FROM r WHERE $6 = 'succeeded'),"
		    " d AS (UPDATE deployments SET"
		    "   status = CASE WHEN $6 = 'succeeded' THEN $16 ELSE 'failed' END,"
		    "   current_commit = CASE WHEN $6 = 'succeeded' THEN r.commit_sha ELSE current_commit END,"
		    "   current_run_id = CASE WHEN $6 = 'succeeded' THEN r.id ELSE current_run_id END,"
		    "   updated_at = now() FROM r WHERE deployments.id = r.deployment_id"
		    "   AND NOT EXISTS (SELECT 1 FROM runs n WHERE n.deployment_id = r.deployment_id"
		    "                   AND n.id > r.id AND n.started_at IS NOT NULL))");
	if (doctext)
		wo_buf_puts(&sql, ", n AS (INSERT INTO notifications (deployment_id, deployment, event, document)"
				  " SELECT r.deployment_id, $17, $18, $19::jsonb FROM r)");
	wo_buf_puts(&sql, " SELECT r.id FROM r, s");
	PGresult *res = NULL;
	int rc = wo_db_exec_prepared(&res, conn, doctext ? "wo_run_record_notify" : "wo_run_record", sql.ptr,
				     doctext ? 19 : 16, params);
	int recorded = rc == 0 && PQntuples(res) == 1;
	if (res)
		PQclear(res);
	wo_buf_release(&sql);
	free(doctext);
	json_decref(doc);
	for (int k = 0; k < 4; k++)
		free(arr[k]);
	if (rc < 0)
		return -1;
	return recorded ? 0 : 1;
}

/* Where outcomes wait that a run process could not record. */
static void saved_dir(struct wo_buf *b, const char *data_dir)
{
	wo_buf_printf(b, "%s/runs/unrecorded", data_dir);
}

int wo_run_outcome_save(char **path_out, const char *data_dir, const struct wo_run_outcome *o)
{
	json_t *lines = json_array();
	for (size_t i = 0; i < o->nlines; i++)
		json_array_append_new(lines, json_pack("[I,f,s,s]", (json_int_t)o->lines[i].seq, o->lines[i].at,
						       o->lines[i].stream, o->lines[i].text));
	json_t *doc = json_pack("{s:I,s:s,s:s?,s:f,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:f,s:b,s:o}", "run_id",
				(json_int_t)o->run_id, "deployment", o->deployment, "trigger", o->trigger, "started_at",
				o->started_at, "status", o->status, "error", o->error,
				"commit_sha", o->commit_sha, "commit_subject", o->commit_subject, "commit_author",
				o->commit_author, "stage_timings", o->stage_timings, "hooks", o->hooks, "outputs", o->outputs,
				"finished_at", o->finished_at, "runs_nothing", o->runs_nothing, "lines", lines);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text)
		return wo_error_set("cannot save the outcome of run %lld: out of memory", o->run_id);
	struct wo_buf dir = WO_BUF_INIT, path = WO_BUF_INIT;
	saved_dir(&dir, data_dir);
	wo_buf_printf(&path, "%s/%lld.json", dir.ptr, o->run_id);
	int rc = wo_fs_mkdir_p(dir.ptr, 0700);
	if (rc == 0)
		rc = wo_fs_write_file_atomic(path.ptr, text, strlen(text), 0600);
	free(text);
	wo_buf_release(&dir);
	if (rc == 0 && path_out)
		*path_out = wo_buf_detach(&path);
	wo_buf_release(&path);
	return rc;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Records one saved outcome; 0 when done with it (recorded, or the run is
 * gone), -1 to try again later. */
static int apply_saved(PGconn *conn, const char *path, int *count)
{
	char *text = NULL;
	if (wo_fs_read_file(&text, NULL, path, 64 << 20) < 0)
		return -1;
	json_error_t e;
	json_t *doc = json_loads(text, 0, &e);
	free(text);
	if (!doc || !json_integer_value(json_object_get(doc, "run_id")) || !jstr(doc, "status")) {
		json_decref(doc);
		/* not ours to judge further: set aside so it is not read again and again */
		struct wo_buf bad = WO_BUF_INIT;
		wo_buf_printf(&bad, "%s.unreadable", path);
		rename(path, bad.ptr);
		wo_buf_release(&bad);
		return wo_error_set("cannot read the saved run outcome '%s': %s", path, doc ? "fields missing" : e.text);
	}
	struct wo_run_outcome o = {
		.run_id = json_integer_value(json_object_get(doc, "run_id")),
		.deployment = jstr(doc, "deployment"),
		.trigger = jstr(doc, "trigger"),
		.started_at = json_number_value(json_object_get(doc, "started_at")),
		.status = jstr(doc, "status"),
		.commit_sha = jstr(doc, "commit_sha"),
		.commit_subject = jstr(doc, "commit_subject"),
		.commit_author = jstr(doc, "commit_author"),
		.stage_timings = jstr(doc, "stage_timings"),
		.hooks = jstr(doc, "hooks"),
		.outputs = jstr(doc, "outputs"),
		.finished_at = json_real_value(json_object_get(doc, "finished_at")),
		.runs_nothing = json_is_true(json_object_get(doc, "runs_nothing")),
	};
	const json_t *jl = json_object_get(doc, "lines");
	size_t n = json_array_size(jl);
	struct wo_run_line *lines = calloc(n + 1, sizeof(*lines));
	long long last = 0;
	for (size_t i = 0; lines && i < n; i++) {
		const json_t *l = json_array_get(jl, i);
		lines[i].seq = json_integer_value(json_array_get(l, 0));
		lines[i].at = json_number_value(json_array_get(l, 1));
		lines[i].stream = (char *)json_string_value(json_array_get(l, 2));
		lines[i].text = (char *)json_string_value(json_array_get(l, 3));
		if (!lines[i].stream || !lines[i].text)
			lines[i].stream = lines[i].text = (char *)"";
		last = lines[i].seq;
	}
	/* what is known: it finished, when, and that it is recorded late */
	char fin[32], now[32];
	iso_time(fin, sizeof(fin), o.finished_at);
	iso_time(now, sizeof(now), (double)time(NULL));
	struct wo_buf note = WO_BUF_INIT, err = WO_BUF_INIT;
	wo_buf_printf(&note, "run %lld %s at %s, but could not be recorded until %s: the database was unreachable",
		      o.run_id, o.status, fin, now);
	if (jstr(doc, "error"))
		wo_buf_printf(&err, "%s (finished at %s, but could not be recorded until %s: the database was unreachable)",
			      jstr(doc, "error"), fin, now);
	else
		wo_buf_printf(&err, "finished at %s, but could not be recorded until %s: the database was unreachable",
			      fin, now);
	o.error = err.ptr;
	if (lines) {
		if (!n && last == 0) {
			/* no line was waiting: number the note after what is there */
			char ids[32];
			snprintf(ids, sizeof(ids), "%lld", o.run_id);
			const char *p[] = { ids };
			PGresult *res;
			if (wo_db_exec(&res, conn, "SELECT coalesce(max(seq), 0) FROM run_logs WHERE run_id = $1::bigint",
				       1, p) == 0) {
				last = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
				PQclear(res);
			}
		}
		lines[n] = (struct wo_run_line){ last + 1, (double)time(NULL), (char *)"warn", note.ptr };
		o.lines = lines;
		o.nlines = n + 1;
	}
	int rc = lines ? wo_run_record(conn, &o, 1) : wo_error_set("out of memory");
	if (rc == 0)
		(*count)++;
	free(lines);
	wo_buf_release(&note);
	wo_buf_release(&err);
	json_decref(doc);
	if (rc < 0)
		return -1;
	unlink(path);
	return 0;
}

int wo_run_outcome_apply_saved(PGconn *conn, const char *data_dir, int *count_out)
{
	int count = 0, rc = 0;
	struct wo_buf dir = WO_BUF_INIT;
	saved_dir(&dir, data_dir);
	DIR *d = opendir(dir.ptr);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t len = strlen(e->d_name);
			if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
				continue;
			struct wo_buf path = WO_BUF_INIT;
			wo_buf_printf(&path, "%s/%s", dir.ptr, e->d_name);
			if (apply_saved(conn, path.ptr, &count) < 0)
				rc = -1;
			wo_buf_release(&path);
		}
		closedir(d);
	}
	wo_buf_release(&dir);
	if (count_out)
		*count_out = count;
	return rc;
}
