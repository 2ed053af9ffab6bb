/* The run queue in PostgreSQL: enqueue (row + NOTIFY), claim with FOR UPDATE
 * SKIP LOCKED (newest request per deployment wins, older ones superseded),
 * heartbeats, interruption of runs whose worker died, logs, cancellation. */
#ifndef WO_PIPELINE_RUNS_H
#define WO_PIPELINE_RUNS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

#define WO_RUNS_CHANNEL "webops_runs"
/* A run whose heartbeat is older than this is interrupted by any daemon. */
#define WO_RUN_STALE_SECONDS 15

/* Run records are objects: {id, deployment, trigger, requested_ref,
 * source_url|null, release_number|null (a rollback: the release it runs again), commit:{sha,subject,author}|null, status, stage, stage_timings, error,
 * outputs, hooks, worker, heartbeat_at, queued_at, started_at, finished_at,
 * duration_ms}. */

int wo_run_enqueue(json_t **out, PGconn *conn, const char *deployment, const char *trigger, const char *ref);
/* The same, fetching from source_url (webops' staging repository of a push)
 * instead of the deployment's repo_url; NULL or "": the repo_url. */
int wo_run_enqueue_source(json_t **out, PGconn *conn, const char *deployment, const char *trigger, const char *ref,
			  const char *source_url);
/* The same for a rollback: release_number > 0 is the release the run runs
 * again (see pipeline/releases.h). */
int wo_run_enqueue_release(json_t **out, PGconn *conn, const char *deployment, const char *trigger, const char *ref,
			   const char *source_url, int release_number);
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

/* What a run process needs of its run's record, for a row R of runs and
 * the deployment's name D: {id, deployment, trigger, requested_ref,
 * source_url, worker, started_at (seconds since the epoch), seq (of its last
 * log line: a run handed back goes on after the lines of its earlier
 * attempt)}. */
#define WO_RUN_CLAIMED_JSON(R, D) \
	"json_build_object('id', " R ".id, 'deployment', " D ", 'trigger', " R ".trigger," \
	" 'requested_ref', " R ".requested_ref, 'source_url', " R ".source_url, 'worker', " R ".worker," \
	" 'release_number', " R ".release_number," \
	" 'started_at', extract(epoch FROM " R ".started_at)," \
	" 'seq', (SELECT coalesce(max(seq), 0) FROM run_logs WHERE run_id = " R ".id))::text"

/* Worker side. Claims one run: *out is WO_RUN_CLAIMED_JSON, NULL when
 * nothing is claimable. */
int wo_run_claim(json_t **out, PGconn *conn, const char *worker);
int wo_run_heartbeat(PGconn *conn, const char *worker, const long long *ids, int n);
/* Fails runs whose heartbeat is stale, and runs of dead processes on this
 * host (workers named "host:pid"), except the live ones: runs this daemon
 * knows are going on. Stale heartbeats are judged only with judge_stale
 * (the caller has been connected long enough for every worker to have been
 * heard since an outage) and only once the server has been up for
 * WO_RUN_STALE_SECONDS. *count_out gets how many. */
int wo_run_reap(PGconn *conn, const long long *live, int nlive, int judge_stale, int *count_out);
/* If the run is still running: failed with "interrupted: why". */
int wo_run_interrupt(PGconn *conn, long long id, const char *why);
/* Hands a running run back to the queue (graceful shutdown). */
int wo_run_requeue(PGconn *conn, long long id);
/* A line of a run's log waiting to be written: at is the wall-clock time it
 * was logged (seconds since the epoch). */
struct wo_run_line {
	long long seq;
	double at;
	char *stream;
	char *text;
};
/* The four array parameters (seq, at, stream, text) of WO_RUN_LINES_INSERT
 * for n lines, each to be freed. */
int wo_run_lines_params(char *out[4], const struct wo_run_line *lines, size_t n);
/* An INSERT of log lines of run $R from the arrays of wo_run_lines_params
 * ($S, $A, $ST, $T), for use alone or as a CTE; lines already there (a
 * batch retried after a connection loss) are skipped. */
#define WO_RUN_LINES_INSERT(R, S, A, ST, T) \
	"INSERT INTO run_logs (run_id, seq, at, stream, text)" \
	" SELECT " R "::bigint, u.s, to_timestamp(u.a), u.st, u.t" \
	" FROM unnest(" S "::int[], " A "::float8[], " ST "::text[], " T "::text[]) AS u(s, a, st, t)" \
	" ON CONFLICT (run_id, seq) DO NOTHING"

/* The end of a run, as the run process knows it. */
struct wo_run_outcome {
	long long run_id;
	const char *deployment;   /* name, for the notification */
	const char *trigger;      /* for the notification */
	double started_at;        /* seconds since the epoch, for the notification's duration */
	const char *status;       /* succeeded, failed or cancelled */
	const char *error;        /* NULL when it succeeded */
	const char *commit_sha, *commit_subject, *commit_author; /* NULL when nothing was fetched */
	const char *stage_timings, *hooks, *outputs;              /* JSON text; NULL: empty */
	double finished_at;       /* wall clock, seconds since the epoch; 0: now */
	int runs_nothing;         /* succeeded, but no runtime addon runs it: 'deployed', not 'running' */
	const struct wo_run_line *lines; /* log lines not written yet, in order */
	size_t nlines;
};
/* Records it in one transaction, committed durably: the lines, the run's
 * final state, the deployment's (unless a newer run has started since) and
 * the notification for addons' notify hooks. late: recorded after the run
 * process gave up waiting for the database, so a run failed meanwhile as
 * "interrupted" gets what really happened. 0 when recorded, 1 when the run
 * was no longer running (only the lines were written), -1 on error. */
int wo_run_record(PGconn *conn, const struct wo_run_outcome *o, int late);
/* An outcome the run process could not record before its deadline is saved
 * under DATA_DIR/runs/unrecorded/ (*path_out, to be freed), for the worker
 * loop to record when the database is back ... */
int wo_run_outcome_save(char **path_out, const char *data_dir, const struct wo_run_outcome *o);
/* ... with a note saying when it finished and until when it could not be
 * recorded (in the run's error and log). *count_out: how many were recorded.
 * -1 when some are left for later. */
int wo_run_outcome_apply_saved(PGconn *conn, const char *data_dir, int *count_out);

/* This process's worker name: "hostname:pid". */
const char *wo_run_worker_name(void);

#endif
