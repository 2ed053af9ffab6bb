/* Reading health: what `webops health`, the API, the pages and /metrics show
 * of the state the scheduler (health/scheduler.c) keeps in PostgreSQL
 * (health_state, health_checks, health_hourly, health_events; see
 * migrations/0008_health.sql). Times are ISO 8601 UTC strings. */
#ifndef WO_HEALTH_HISTORY_H
#define WO_HEALTH_HISTORY_H

#include <jansson.h>
#include <libpq-fe.h>

/* Every deployment's health at a glance, ordered by name:
 * [{"deployment", "status" (the deployment's status), "state" ("unknown",
 *   "pending", "healthy", "unhealthy"), "since", "reason"|null, "failures",
 *   "last_check_at"|null, "gave_up", "restarts_last_hour"}] */
int wo_health_list(json_t **out, PGconn *conn);

/* One deployment: the object wo_health_list gives plus "settings" (the
 * deployment's health settings with defaults), "next_check_at",
 * "checks": the newest `limit` checks, newest first
 *   [{"id", "at", "ok", "counted", "latency_ms", "failed"|null,
 *     "reason"|null, "cpu_percent"|null, "memory_bytes"|null}],
 * "events": the newest `limit` events, newest first
 *   [{"id", "at", "kind" ("state", "restart", "restart_failed",
 *     "gave_up"), "previous"|null, "state"|null, "reason"|null,
 *     "check_id"|null}].
 * WO_ENOTFOUND (store/deployment.h) when there is no such deployment. */
int wo_health_get(json_t **out, PGconn *conn, const char *name, int limit);

/* The chart's data: the last `hours` hours in buckets of bucket_s seconds,
 * oldest first, from raw checks and (beyond retention) hourly rollups:
 * [{"t" (bucket start, Unix seconds), "checks", "failures",
 *   "latency_avg_ms"|null, "latency_max_ms"|null, "cpu_percent"|null,
 *   "memory_bytes"|null}]; buckets without checks are left out. */
int wo_health_series(json_t **out, PGconn *conn, const char *name, int hours, int bucket_s);

/* The health state of every deployment (name NULL) or of one, for the
 * deployment records of the API: {name: {"state", "since"}}. Both change
 * only together, with a NOTIFY (migrations/0008_health.sql), so they may be
 * cached with the deployments list. */
int wo_health_states(json_t **out, PGconn *conn, const char *name);

#endif
