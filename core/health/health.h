/* Periodic health checks (the write side): which deployments are due, one
 * batch of checks (addons' health hooks in child processes plus core's HTTP
 * probe), the state machine (unknown, pending, healthy, unhealthy), automatic
 * restarts with backoff and a cap, and the notifications queue that tells
 * addons' notify hooks about finished runs and health changes.
 * The read side is health/history.h. */
#ifndef WO_HEALTH_HEALTH_H
#define WO_HEALTH_HEALTH_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "config/config.h"

struct wo_addon_registry;

#define WO_NOTIFY_CHANNEL "webops_notifications"
/* NOTIFYed when a deployment's first check is due at once (start period 0) */
#define WO_HEALTH_CHANNEL "webops_health"

/* Claims up to max running deployments whose check is due and not leased,
 * for owner (a worker name): sets their lease and their next due time
 * (spread over the interval). *out is a PostgreSQL array text ("{1,2}",
 * caller frees), *n how many; 0 claimed is not an error. */
int wo_health_claim(char **out, int *n, PGconn *conn, const char *owner, int max);

/* Checks the claimed deployments once (ids_array as wo_health_claim gave):
 * every deployment's enabled health hooks (each in a child process, several
 * deployments at once) and its HTTP probe (all probes at once), then records
 * the checks, the new states, the events and the notifications in one
 * transaction, releases the leases, and restarts the deployments that
 * became or stayed unhealthy when their backoff and cap allow. Returns 0, or
 * -1 when nothing could be recorded. */
int wo_health_check_batch(const struct wo_config *cfg, PGconn *conn, struct wo_addon_registry *reg,
			  const char *ids_array, const char *owner);

/* Rolls raw checks older than retention_days into health_hourly and deletes
 * them; drops hourly rows, events and delivered notifications older than a
 * year. *rolled gets how many raw checks went. */
int wo_health_prune(PGconn *conn, int retention_days, long long *rolled);

/* ---- notifications ---- */

/* Queues a notify document (see docs/ADDONS.md) in the caller's transaction. */
int wo_notify_enqueue(PGconn *conn, long long deployment_id, const char *deployment, const json_t *doc);
/* Queues a `tls.expiring` notification for the deployment of each domain
 * of certs (wo_addon_certificates) whose certificate has at most days left
 * and whose last renewal failed; one a day at most per deployment. The
 * number queued, or -1. */
int wo_notify_tls_expiring(PGconn *conn, const json_t *certs, int days);
/* Number of notifications waiting (not done, not leased). */
int wo_notify_pending(PGconn *conn, int *out);
/* Delivers waiting notifications one by one through addons' notify hooks
 * (claim with SKIP LOCKED and a lease, dispatch, record the outcome), until
 * none is left or max were handled. */
int wo_notify_deliver(const struct wo_config *cfg, PGconn *conn, const char *owner, int max);

/* The document of a finished run, for wo_notify_enqueue; NULL for runs that
 * are not notified (cancelled, superseded). */
json_t *wo_notify_run_doc(const char *deployment, long long run_id, const char *status, const char *commit,
			  const char *trigger, const char *error, long long duration_ms);

#endif
