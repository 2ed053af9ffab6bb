/* One lock per deployment, shared by everything with side effects on it: a
 * run holds it from start to end, a lifecycle action (start, stop, restart,
 * delete) and `webops hook run` for their duration, so two of them never
 * interleave (a delete during a build would orphan the container the build
 * then creates). It is a PostgreSQL session advisory lock keyed by the
 * deployment's id: it goes with the connection, so a process that dies
 * releases it. */
#ifndef WO_PIPELINE_LOCK_H
#define WO_PIPELINE_LOCK_H

#include <libpq-fe.h>

/* Takes the lock on conn, waiting up to wait_ms (0: only try). Names the
 * holder through application_name set to `who` (e.g. "webops deployment stop
 * blog"), so a refusal can say who holds it. Returns 0; 1 when busy, with a
 * message naming the run or action in progress in the error; -1 on error. */
int wo_deployment_lock(PGconn *conn, long long deployment_id, const char *name, const char *who, int wait_ms);
/* Releases it (also released when conn closes). */
void wo_deployment_unlock(PGconn *conn, long long deployment_id);

#endif
