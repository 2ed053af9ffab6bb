/* Reading health (history.h): one statement per question, the JSON built by
 * PostgreSQL (json_agg), so a list of a thousand deployments is one round
 * trip and one parse. */
#include "health/history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "store/deployment.h"
#include "util/error.h"
#include "util/banned.h"

#define ISO(col) "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The summary of one deployment d (deployments) with h (health_state) and
 * the restart count in r.n; shared by the list and the single record. */
#define SUMMARY_FIELDS \
	"'deployment', d.name, 'status', d.status," \
	" 'state', coalesce(h.state, 'unknown')," \
	" 'since', " ISO("coalesce(h.since, d.created_at)") "," \
	" 'reason', h.reason, 'failures', coalesce(h.failures, 0)," \
	" 'last_check_at', " ISO("h.last_check_at") "," \
	" 'gave_up', coalesce(h.gave_up, false)," \
	" 'restarts_last_hour', coalesce(r.n, 0)"

int wo_health_list(json_t **out, PGconn *conn)
{
	/* restarts of the last hour come from the partial index on restarts,
	 * grouped once rather than counted per deployment */
	static const char sql[] =
		"SELECT coalesce(json_agg(json_build_object(" SUMMARY_FIELDS ") ORDER BY d.name), '[]'::json)::text"
		"  FROM deployments d"
		"  LEFT JOIN health_state h ON h.deployment_id = d.id"
		"  LEFT JOIN (SELECT deployment_id, count(*) AS n FROM health_events"
		"              WHERE kind = 'restart' AND at > clock_timestamp() - interval '1 hour'"
		"              GROUP BY deployment_id) r ON r.deployment_id = d.id";
	PGresult *res;
	if (wo_db_exec(&res, conn, sql, 0, NULL) < 0)
		return wo_error_prefix("cannot read the deployments' health");
	json_t *arr = NULL;
	int rc = wo_db_rows_json(&arr, res, 0, "the deployments' health");
	PQclear(res);
	if (rc < 0)
		return -1;
	if (!json_is_array(arr)) {
		json_decref(arr);
		return wo_error_set("cannot read the deployments' health: not a list");
	}
	*out = arr;
	return 0;
}

int wo_health_states(json_t **out, PGconn *conn, const char *name)
{
	static const char sql[] =
		"SELECT coalesce(json_object_agg(d.name, json_build_object("
		"   'state', coalesce(h.state, 'unknown'), 'since', " ISO("coalesce(h.since, d.created_at)") ")),"
		"   '{}'::json)::text"
		"  FROM deployments d LEFT JOIN health_state h ON h.deployment_id = d.id"
		" WHERE $1::text IS NULL OR d.name = $1";
	const char *params[] = { name };
	PGresult *res;
	if (wo_db_exec(&res, conn, sql, 1, params) < 0)
		return wo_error_prefix("cannot read the health states");
	json_t *o = NULL;
	int rc = wo_db_rows_json(&o, res, 0, "the health states");
	PQclear(res);
	if (rc < 0)
		return -1;
	if (!json_is_object(o)) {
		json_decref(o);
		return wo_error_set("cannot read the health states: not an object");
	}
	*out = o;
	return 0;
}

int wo_health_get(json_t **out, PGconn *conn, const char *name, int limit)
{
	static const char sql[] =
		"SELECT json_build_object(" SUMMARY_FIELDS ","
		"   'settings', d.health,"
		"   'next_check_at', " ISO("h.next_check_at") ","
		"   'grace_until', " ISO("h.grace_until") ","
		"   'restart_at', " ISO("h.restart_at") ","
		"   'checks', (SELECT coalesce(json_agg(json_build_object("
		"         'id', c.id, 'at', " ISO("c.at") ", 'ok', c.ok, 'counted', c.counted,"
		"         'latency_ms', c.latency_ms, 'failed', c.failed, 'reason', c.reason,"
		"         'cpu_percent', c.cpu_percent, 'memory_bytes', c.memory_bytes)"
		"         ORDER BY c.at DESC, c.id DESC), '[]'::json)"
		"       FROM (SELECT * FROM health_checks WHERE deployment_id = d.id"
		"              ORDER BY at DESC, id DESC LIMIT $2::int) c),"
		"   'events', (SELECT coalesce(json_agg(json_build_object("
		"         'id', e.id, 'at', " ISO("e.at") ", 'kind', e.kind, 'previous', e.previous,"
		"         'state', e.state, 'reason', e.reason, 'check_id', e.check_id)"
		"         ORDER BY e.id DESC), '[]'::json)"
		"       FROM (SELECT * FROM health_events WHERE deployment_id = d.id"
		"              ORDER BY id DESC LIMIT $2::int) e)"
		" )::text"
		"  FROM deployments d"
		"  LEFT JOIN health_state h ON h.deployment_id = d.id"
		"  LEFT JOIN LATERAL (SELECT count(*) AS n FROM health_events"
		"              WHERE deployment_id = d.id AND kind = 'restart'"
		"                AND at > clock_timestamp() - interval '1 hour') r ON true"
		" WHERE d.name = $1";
	if (limit < 0)
		limit = 0;
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[] = { name, lim };
	PGresult *res;
	if (wo_db_exec(&res, conn, sql, 2, params) < 0)
		return wo_error_prefix("cannot read the health of '%s'", name);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "no deployment named '%s'", name);
	}
	json_t *o = NULL;
	int rc = wo_db_rows_json(&o, res, 0, "a deployment's health");
	PQclear(res);
	if (rc < 0)
		return -1;
	wo_deployment_health_fill(json_object_get(o, "settings"));
	*out = o;
	return 0;
}

int wo_health_series(json_t **out, PGconn *conn, const char *name, int hours, int bucket_s)
{
	if (hours < 1 || hours > 24 * 400)
		return wo_error_setc(WO_EINVALID, "hours: use 1-%d", 24 * 400);
	if (bucket_s < 1 || bucket_s > 86400 * 31)
		return wo_error_setc(WO_EINVALID, "bucket: use 1-%d seconds", 86400 * 31);
	/* Raw checks from the hour of the oldest one kept on (or from the next
	 * hour when that one is rolled up already, so no hour counts twice);
	 * before that, the hourly rollups. Each part is summed per bucket with
	 * its weights (latency and resource averages weighted by their
	 * samples), then the parts are merged. */
	static const char sql[] =
		"WITH dep AS (SELECT id FROM deployments WHERE name = $1),"
		" span AS (SELECT clock_timestamp() - make_interval(hours => $2::int) AS since),"
		" oldest AS (SELECT date_trunc('hour', min(c.at)) AS hr FROM health_checks c, dep"
		"             WHERE c.deployment_id = dep.id),"
		" cut AS (SELECT CASE WHEN oldest.hr IS NULL THEN 'infinity'::timestamptz"
		"                     WHEN EXISTS (SELECT 1 FROM health_hourly hh, dep"
		"                                   WHERE hh.deployment_id = dep.id AND hh.hour = oldest.hr)"
		"                       THEN oldest.hr + interval '1 hour'"
		"                     ELSE oldest.hr END AS at FROM oldest),"
		" parts AS ("
		"  SELECT floor(extract(epoch FROM c.at) / $3::int)::bigint * $3::int AS t,"
		"         count(*) AS checks, count(*) FILTER (WHERE NOT c.ok) AS failures,"
		"         sum(c.latency_ms)::float8 AS lat_sum, count(*) AS lat_n, max(c.latency_ms) AS lat_max,"
		"         sum(c.cpu_percent)::float8 AS cpu_sum, count(c.cpu_percent) AS cpu_n,"
		"         sum(c.memory_bytes)::float8 AS mem_sum, count(c.memory_bytes) AS mem_n"
		"    FROM health_checks c, dep, span, cut"
		"   WHERE c.deployment_id = dep.id AND c.at >= span.since AND c.at >= cut.at"
		"   GROUP BY 1"
		"  UNION ALL"
		"  SELECT floor(extract(epoch FROM hh.hour) / $3::int)::bigint * $3::int,"
		"         sum(hh.checks), sum(hh.failures),"
		"         sum(hh.latency_avg_ms * hh.checks)::float8,"
		"         sum(hh.checks) FILTER (WHERE hh.latency_avg_ms IS NOT NULL), max(hh.latency_max_ms),"
		"         sum(hh.cpu_avg * hh.checks)::float8, sum(hh.checks) FILTER (WHERE hh.cpu_avg IS NOT NULL),"
		"         sum(hh.memory_avg::float8 * hh.checks), sum(hh.checks) FILTER (WHERE hh.memory_avg IS NOT NULL)"
		"    FROM health_hourly hh, dep, span, cut"
		"   WHERE hh.deployment_id = dep.id AND hh.hour >= date_trunc('hour', span.since) AND hh.hour < cut.at"
		"   GROUP BY 1),"
		" buckets AS ("
		"  SELECT t, sum(checks)::bigint AS checks, sum(failures)::bigint AS failures,"
		"         sum(lat_sum) AS lat_sum, sum(lat_n) AS lat_n, max(lat_max) AS lat_max,"
		"         sum(cpu_sum) AS cpu_sum, sum(cpu_n) AS cpu_n, sum(mem_sum) AS mem_sum, sum(mem_n) AS mem_n"
		"    FROM parts GROUP BY t)"
		" SELECT (SELECT count(*) FROM dep),"
		"        coalesce((SELECT json_agg(json_build_object("
		"           't', t, 'checks', checks, 'failures', failures,"
		"           'latency_avg_ms', round((lat_sum / nullif(lat_n, 0))::numeric, 1),"
		"           'latency_max_ms', lat_max,"
		"           'cpu_percent', round((cpu_sum / nullif(cpu_n, 0))::numeric, 2),"
		"           'memory_bytes', round(mem_sum / nullif(mem_n, 0))::bigint) ORDER BY t)"
		"          FROM buckets WHERE checks > 0), '[]'::json)::text";
	char h[16], b[16];
	snprintf(h, sizeof(h), "%d", hours);
	snprintf(b, sizeof(b), "%d", bucket_s);
	const char *params[] = { name, h, b };
	PGresult *res;
	if (wo_db_exec(&res, conn, sql, 3, params) < 0)
		return wo_error_prefix("cannot read the health history of '%s'", name);
	if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "no deployment named '%s'", name);
	}
	json_error_t e;
	json_t *arr = json_loads(PQgetvalue(res, 0, 1), 0, &e);
	PQclear(res);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return wo_error_set("cannot parse the health history of '%s': %s", name, e.text);
	}
	*out = arr;
	return 0;
}
