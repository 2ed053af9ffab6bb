/* Releases: what each successful deploy left (commit, the outputs of its
 * hooks, the run), numbered per deployment; and rollback, a run that runs a
 * kept release again without fetching or building. Recorded by
 * wo_run_record, in the statement that ends the run. */
#ifndef WO_PIPELINE_RELEASES_H
#define WO_PIPELINE_RELEASES_H

#include <jansson.h>
#include <libpq-fe.h>

/* Release records are objects: {number, deployment, run_id|null,
 * commit:{sha, subject}|null, outputs:{addon:{key:value}}, rollback_of|null,
 * created_at, current (the release serving now)}. */

/* Newest first; limit <= 0: 50. WO_ENOTFOUND when the deployment is not. */
int wo_release_list(json_t **out, PGconn *conn, const char *deployment, int limit);
/* One release; WO_ENOTFOUND (with a sentence) when it or the deployment is not. */
int wo_release_get(json_t **out, PGconn *conn, const char *deployment, int number);
/* The same, by the deployment's id (the run process). */
int wo_release_recent(json_t **out, PGconn *conn, long long deployment_id, int limit);
int wo_release_get_by_id(json_t **out, PGconn *conn, long long deployment_id, int number);

/* Queues a rollback of deployment to release number (0: the newest release
 * before the one serving now): a run with trigger "rollback". *out is the
 * run record. WO_ENOTFOUND when the deployment or release is not; -1 with
 * a sentence when there is nothing to roll back to. */
int wo_release_rollback(json_t **out, PGconn *conn, const char *deployment, int number);

#endif
