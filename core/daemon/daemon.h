/* The daemon's main loop and its options (workers, later the web server). */
#ifndef WO_DAEMON_DAEMON_H
#define WO_DAEMON_DAEMON_H

#include <libpq-fe.h>

#include "config/config.h"

struct wo_daemon_opts {
	int workers;          /* concurrent runs of this daemon */
	int grace_seconds;    /* on SIGTERM, how long runs may go on before they are handed back */
	const char *conninfo; /* for run processes, which open connections of their own */
};

/* True once SIGTERM/SIGINT arrived. */
int wo_daemon_stop_requested(void);
/* Runs until a stop is requested; conn is migrated and owned by the caller. */
int wo_daemon_run(const struct wo_config *cfg, PGconn *conn, const struct wo_daemon_opts *opts);

#endif
