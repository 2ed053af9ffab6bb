/* webopsd's health scheduler, driven by the worker loop's ticks. */
#ifndef WO_HEALTH_SCHEDULER_H
#define WO_HEALTH_SCHEDULER_H

#include <libpq-fe.h>

#include "config/config.h"

struct wo_health_sched;

/* cfg is borrowed and must outlive the scheduler; conninfo is what its
 * children connect with; owner names this daemon in leases. Reads
 * WEBOPS_HEALTH_RETENTION_DAYS (raw checks kept, default 7). */
int wo_health_sched_init(struct wo_health_sched **out, const struct wo_config *cfg, const char *conninfo,
			 const char *owner);
#define WO_HEALTH_WAKE_NOTIFY 1 /* a notification was queued */
#define WO_HEALTH_WAKE_DUE 2    /* a check became due */

/* Reaps finished children, starts check batches for due deployments and a
 * notify process when notifications wait (wake: what NOTIFYs said, a mask
 * of WO_HEALTH_WAKE_*), and rolls old checks up hourly. Never blocks on
 * addon code. */
void wo_health_sched_tick(struct wo_health_sched *s, PGconn *conn, int wake);
/* How many children are running. */
int wo_health_sched_busy(const struct wo_health_sched *s);
/* Stops the children (their work is repeated later) and frees s. */
void wo_health_sched_free(struct wo_health_sched *s);

#endif
