/* /metrics: the whole installation in the Prometheus text exposition format,
 * served by the main HTTP server (API token) and, with webopsd
 * --metrics-listen, by a small server of its own that serves nothing else. */
#ifndef WO_HTTP_METRICS_H
#define WO_HTTP_METRICS_H

#include <libpq-fe.h>

#include "util/buf.h"

#define WO_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends the exposition to out. Computed with a few statements in one
 * read-only snapshot on conn, at most once a second per process (callers in
 * between get the same text). 0, or -1 with the error set. */
int wo_metrics_render(struct wo_buf *out, PGconn *conn);

/* The metrics-only server on listen_fd (bound and listening; see
 * wo_http_listen): GET /metrics without authentication, 404 for anything
 * else. One thread with its own database connection to conninfo. */
struct wo_metrics_server;
int wo_metrics_server_start(struct wo_metrics_server **out, int listen_fd, const char *conninfo);
void wo_metrics_server_stop(struct wo_metrics_server *ms);

#endif
