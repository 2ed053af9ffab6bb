/* The run queue in PostgreSQL: enqueue (row + NOTIFY), claim with FOR UPDATE
 * SKIP LOCKED (newest request per deployment wins, older ones superseded),
 * heartbeats, interruption of runs whose worker died, logs, cancellation. */
#ifndef WO_PIPELINE_RUNS_H
#define WO_PIPELINE_RUNS_H

#include <jansson.h>
#include <libpq-fe.h>

#define WO_RUNS_CHANNEL "webops_runs"
/* A run whose heartbeat is older than this is interrupted by any daemon. */
#define WO_RUN_STALE_SECONDS 15

/* Run records are objects: {id, deployment, trigger, requested_ref,
 * source_url|null, commit:{sha,subject,author}|null, status, stage, stage_timings, error,
 * outputs, hooks, worker, heartbeat_at, queued_at, started_at, finished_at,
 * duration_ms}. */

int wo_run_enqueue(json_t **out, PGconn *conn, const char *deployment, const char *trigger, const char *ref);
/* The same, fetching from source_url (webops' staging repository of a push)
 * instead of the deployment's repo_url; NULL or "": the repo_url. */
int wo_run_enqueue_source(json_t **out, PGconn *conn, const char *deployment, const char *trigger, const char *ref,
			  const char *source_url);
int wo_run_get(json_t **out, PGconn *conn, long long id);
/* Newest first. */
int wo_run_list(json_t **out, PGconn *conn, const char *deployment, int limit);
/* Newest run of a deployment; WO_ENOTFOUND when it never ran. */
int wo_run_latest(json_t **out, PGconn *conn, const char *deployment);
/* The newest run of every deployment that ever ran, in one query (list
 * pages): {deployment_name: run record}. Each record also carries
 * "current_commit_subject": the commit subject of the deployment's current
 * release (the run in deployments.current_run_id), null when there is none. */
int wo_run_latest_all(json_t **out, PGconn *conn);
/* Log lines with seq > after_seq: [{seq, at, stream, text}]. */
int wo_run_logs(json_t **out, PGconn *conn, long long run_id, long long after_seq);
/* queued: cancelled at once; running: cancel requested (the run stops at the
 * next check). *state_out: "cancelled", "requested" or the final status. */
int wo_run_cancel(const char **state_out, PGconn *conn, long long id);

/* Worker side. Claims one run; *out is NULL when nothing is claimable. */
int wo_run_claim(json_t **out, PGconn *conn, const char *worker);
int wo_run_heartbeat(PGconn *conn, const char *worker, const long long *ids, int n);
/* Fails runs whose heartbeat is stale, and runs of dead processes on this
 * host (workers named "host:pid"). *count_out gets how many. */
int wo_run_reap(PGconn *conn, int *count_out);
/* If the run is still running: failed with "interrupted: why". */
int wo_run_interrupt(PGconn *conn, long long id, const char *why);
/* Hands a running run back to the queue (graceful shutdown). */
int wo_run_requeue(PGconn *conn, long long id);
/* This process's worker name: "hostname:pid". */
const char *wo_run_worker_name(void);

#endif
