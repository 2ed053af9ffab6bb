/* Run queue operations. Correctness under several daemons rests on the
 * database: SKIP LOCKED for claiming, a unique partial index for "one running
 * run per deployment", and status guards on every transition. */
#include "pipeline/runs.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "store/deployment.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define RUN_JSON \
	"json_build_object('id', r.id, 'deployment', d.name, 'trigger', r.trigger," \
	" 'requested_ref', r.requested_ref, 'source_url', r.source_url," \
	" 'commit', CASE WHEN r.commit_sha IS NULL THEN NULL ELSE json_build_object('sha', r.commit_sha," \
	"   'subject', r.commit_subject, 'author', r.commit_author) END," \
	" 'status', r.status, 'stage', r.stage, 'stage_timings', r.stage_timings, 'error', r.error," \
	" 'outputs', r.outputs, 'hooks', r.hooks, 'worker', r.worker, 'cancel_requested', r.cancel_requested," \
	" 'heartbeat_at', " TS("r.heartbeat_at") ", 'queued_at', " TS("r.queued_at") "," \
	" 'started_at', " TS("r.started_at") ", 'finished_at', " TS("r.finished_at") "," \
	" 'duration_ms', (extract(epoch FROM (coalesce(r.finished_at, clock_timestamp()) - r.started_at)) * 1000)::bigint" \
	")::text FROM runs r JOIN deployments d ON d.id = r.deployment_id"

const char *wo_run_worker_name(void)
{
	static char name[300];
	static pid_t for_pid;
	if (for_pid != getpid()) {
		char host[256] = "localhost";
		gethostname(host, sizeof(host) - 1);
		snprintf(name, sizeof(name), "%s:%ld", host, (long)getpid());
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
	const char *params[] = { deployment, trigger, ref && *ref ? ref : NULL,
				 source_url && *source_url ? source_url : NULL };
	PGresult *res;
	/* the notification is delivered when the insert commits (same statement) */
	if (wo_db_exec(&res, conn,
		       "WITH r AS (INSERT INTO runs (deployment_id, trigger, requested_ref, source_url)"
		       " SELECT id, $2, $3, $4 FROM deployments WHERE name = $1 RETURNING id)"
		       " SELECT id, pg_notify('" WO_RUNS_CHANNEL "', id::text) FROM r",
		       4, params) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		wo_error_set("deployment '%s' not found", deployment);
		return WO_ENOTFOUND;
	}
	long long id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return wo_run_get(out, conn, id);
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
		wo_error_set("run %lld not found", id);
		return WO_ENOTFOUND;
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
	if (wo_db_exec(&res, conn, "SELECT 1 FROM deployments WHERE name = $1", 1, params) < 0)
		return -1;
	int exists = PQntuples(res) == 1;
	PQclear(res);
	if (!exists) {
		wo_error_set("deployment '%s' not found", deployment);
		return WO_ENOTFOUND;
	}
	if (wo_db_exec(&res, conn, "SELECT " RUN_JSON " WHERE d.name = $1 ORDER BY r.id DESC LIMIT $2::int", 2,
		       params) < 0)
		return -1;
	int rc = wo_db_rows_json(out, res, 1, "run record");
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
		wo_error_set("deployment '%s' has no runs yet: deploy it with 'webops deploy %s'", deployment, deployment);
		return WO_ENOTFOUND;
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
		wo_error_set("run %lld not found", id);
		return WO_ENOTFOUND;
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
	if (wo_db_begin(conn) < 0)
		return -1;
	PGresult *res;
	/* the newest queued run of a deployment with nothing running */
	if (wo_db_exec(&res, conn,
		       "SELECT r.id, r.deployment_id FROM runs r"
		       " WHERE r.status = 'queued'"
		       "   AND NOT EXISTS (SELECT 1 FROM runs a WHERE a.deployment_id = r.deployment_id AND a.status = 'running')"
		       "   AND NOT EXISTS (SELECT 1 FROM runs n WHERE n.deployment_id = r.deployment_id"
		       "                   AND n.status = 'queued' AND n.id > r.id)"
		       " ORDER BY r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED",
		       0, NULL) < 0)
		goto fail;
	if (PQntuples(res) == 0) {
		PQclear(res);
		wo_db_rollback(conn);
		return 0;
	}
	char id[32], dep[32];
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
	snprintf(dep, sizeof(dep), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	const char *p3[] = { id, dep, worker };
	if (wo_db_exec(NULL, conn,
		       "UPDATE runs SET status = 'superseded', finished_at = clock_timestamp(),"
		       " error = 'superseded by run ' || $1::text"
		       " WHERE deployment_id = $2::bigint AND status = 'queued' AND id < $1::bigint",
		       2, p3) < 0)
		goto fail;
	const char *p2[] = { id, worker };
	if (wo_db_exec(NULL, conn,
		       "UPDATE runs SET status = 'running', worker = $2, heartbeat_at = clock_timestamp(),"
		       " started_at = clock_timestamp(), stage = 'starting' WHERE id = $1::bigint",
		       2, p2) < 0)
		goto fail;
	if (wo_db_exec(NULL, conn,
		       "UPDATE deployments SET status = 'building', updated_at = now() WHERE id = $1::bigint", 1, p3 + 1) < 0)
		goto fail;
	if (wo_db_exec(&res, conn, "SELECT " RUN_JSON " WHERE r.id = $1::bigint", 1, p3) < 0)
		goto fail;
	json_t *run = NULL;
	int rc = wo_db_rows_json(&run, res, 0, "run record");
	PQclear(res);
	if (rc < 0 || wo_db_commit(conn) < 0) {
		json_decref(run);
		goto fail;
	}
	*out = run;
	return 0;
fail:;
	/* another daemon started a run of the same deployment first: not an error */
	int busy = !strcmp(wo_db_last_sqlstate(), "23505") || !strcmp(wo_db_last_sqlstate(), "40001") ||
		   !strcmp(wo_db_last_sqlstate(), "40P01");
	wo_db_rollback(conn);
	return busy ? 0 : -1;
}

int wo_run_heartbeat(PGconn *conn, const char *worker, const long long *ids, int n)
{
	if (n == 0)
		return 0;
	struct wo_buf arr = WO_BUF_INIT;
	wo_buf_putc(&arr, '{');
	for (int i = 0; i < n; i++)
		wo_buf_printf(&arr, "%s%lld", i ? "," : "", ids[i]);
	wo_buf_putc(&arr, '}');
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

int wo_run_reap(PGconn *conn, int *count_out)
{
	int count = 0;
	char stale[16];
	snprintf(stale, sizeof(stale), "%d", WO_RUN_STALE_SECONDS);
	const char *p1[] = { stale };
	if (fail_runs(conn,
		      "'interrupted: worker ' || coalesce(worker, '?') || ' stopped sending heartbeats'"
		      " WHERE status = 'running' AND heartbeat_at < clock_timestamp() - make_interval(secs => $1::int)",
		      1, p1, &count) < 0)
		return -1;

	/* runs of processes on this host that are gone (a daemon killed and restarted) */
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	const char *p2[] = { host };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT id, split_part(worker, ':', 2) FROM runs"
		       " WHERE status = 'running' AND split_part(worker, ':', 1) = $1",
		       1, p2) < 0)
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
