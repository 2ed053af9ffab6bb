/* The notifications queue: documents telling addons' notify hooks that a run
 * finished, a health state changed or a certificate cannot be renewed,
 * queued in the transaction that recorded the fact (runs here, health
 * checks in health/check.c) and delivered later by a notify process of
 * webopsd. Part of pipeline, below health, so that both can queue. */
#ifndef WO_PIPELINE_NOTIFY_H
#define WO_PIPELINE_NOTIFY_H

#include <jansson.h>
#include <libpq-fe.h>

struct wo_config;

/* NOTIFYed (by a trigger on the notifications table) when one is queued */
#define WO_NOTIFY_CHANNEL "webops_notifications"

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
