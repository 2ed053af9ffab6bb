/* The daemon's main loop. For now it keeps the database connection alive
 * and waits for a stop; the pipeline adds workers here. */
#include <poll.h>

#include "daemon/daemon.h"
#include "util/log.h"
#include "util/banned.h"

int wo_daemon_run(const struct wo_config *cfg, PGconn *conn, const struct wo_daemon_opts *opts)
{
	(void)cfg;
	(void)opts;
	while (!wo_daemon_stop_requested()) {
		poll(NULL, 0, 200);
		if (PQstatus(conn) != CONNECTION_OK) {
			wo_log(WO_LOG_WARN, "db", "connection lost, reconnecting");
			PQreset(conn);
		}
	}
	return 0;
}
