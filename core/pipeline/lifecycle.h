/* Lifecycle actions on a deployment (start, stop, delete): the matching
 * addon hooks run (a runtime addon starts, stops or removes what it runs),
 * then the deployment's record follows. */
#ifndef WO_PIPELINE_LIFECYCLE_H
#define WO_PIPELINE_LIFECYCLE_H

#include <libpq-fe.h>

#include "config/config.h"

typedef void (*wo_lifecycle_log_fn)(void *ud, const char *line);

/* action: "start", "stop", "restart" or "delete". A restart runs the restart
 * hooks of addons that have one and stop, then start, for the others. On success start/stop set the status
 * (running/stopped) and delete removes the record and the deployment's
 * cached clone and source directory. When a required hook fails, nothing
 * changes unless force is set (then the failure is logged and the action
 * goes on). */
/* The action holds the deployment's lock (pipeline/lock.h) throughout; when
 * a run or another action holds it, it waits up to wait_ms, then fails with
 * a message naming what holds it. */
int wo_lifecycle_run(PGconn *conn, const struct wo_config *cfg, const char *name, const char *action, int force,
		     int wait_ms, wo_lifecycle_log_fn log, void *ud);

#endif
