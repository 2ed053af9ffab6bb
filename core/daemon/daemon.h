/* The daemon's main loop and its options (workers, later the web server). */
#ifndef WO_DAEMON_DAEMON_H
#define WO_DAEMON_DAEMON_H

#include <libpq-fe.h>

#include "config/config.h"

struct wo_daemon_opts {
	int workers;          /* concurrent runs of this daemon */
	int grace_seconds;    /* on SIGTERM, how long runs may go on before they are handed back */
	const char *conninfo; /* for run processes, which open connections of their own */
	int http_threads;     /* HTTP pool threads (WEBOPS_HTTP_THREADS) */
	size_t http_body_max; /* request body cap (WEBOPS_HTTP_BODY_MAX) */
	const char *public_url; /* how people reach the web UI (links, setup URL) */
	int parent_conn_fd;   /* the daemon's own database socket, closed in the HTTP process */
	int metrics_fd;       /* --metrics-listen: a listening socket serving only /metrics, or -1 */
	const char *proxy_token; /* a proxy that sends it in X-Webops-Proxy is trusted for
	                          * X-Forwarded-Proto and X-Real-IP (wo_addon_daemon_facts) */
};

/* True once SIGTERM/SIGINT arrived. */
int wo_daemon_stop_requested(void);
/* Runs until a stop is requested; conn is migrated and owned by the caller. */
int wo_daemon_run(const struct wo_config *cfg, PGconn *conn, const struct wo_daemon_opts *opts);

/* Addons' watchers (watch.c): one supervising process per addon with a
 * `watch` hook, started after daemon_start and stopped before daemon_stop. */
void wo_daemon_watch_start(const struct wo_config *cfg, PGconn *conn, const char *conninfo);
void wo_daemon_watch_stop(void);

/* The HTTP server's process (http_proc.c): started once listen_fd is bound,
 * supervised from the worker loop, stopped at shutdown. */
int wo_daemon_http_start(const struct wo_config *cfg, const struct wo_daemon_opts *opts, int listen_fd);
void wo_daemon_http_tick(int stopping);
void wo_daemon_http_stop(void);

#endif
