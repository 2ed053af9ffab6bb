/* Periodic health checks (the write side): which deployments are due, one
 * batch of checks (addons' health hooks in child processes plus core's HTTP
 * probe), the state machine (unknown, pending, healthy, unhealthy) and
 * automatic restarts with backoff and a cap. The read side is
 * health/history.h; the notifications queue is pipeline/notify.h. */
#ifndef WO_HEALTH_HEALTH_H
#define WO_HEALTH_HEALTH_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "config/config.h"

struct wo_addon_registry;

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

#endif
