/* The addons table: each addon's row, enabled flag, stored settings,
 * metrics and status, read and written for the registry (addon/). */
#include "store/addons.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "util/error.h"
#include "util/banned.h"

int wo_addons_record(PGconn *conn, const char *name, const char *version, const char *path,
		     const char *load_error)
{
	const char *params[4] = {name, version, path, load_error};
	return wo_db_exec(NULL, conn,
			  "INSERT INTO addons (name, version, path, load_error) VALUES ($1, $2, $3, $4) "
			  "ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, path = EXCLUDED.path, "
			  "load_error = EXCLUDED.load_error, updated_at = now() "
			  "WHERE (addons.version, addons.path, addons.load_error) IS DISTINCT FROM "
			  "(EXCLUDED.version, EXCLUDED.path, EXCLUDED.load_error)",
			  4, params);
}

void wo_addons_rows_free(struct wo_addons_row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].name);
		json_decref(rows[i].settings);
		free(rows[i].last_run_at);
		free(rows[i].last_error);
		free(rows[i].xmin);
	}
	free(rows);
}

static char *dup_or_null(PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : strdup(PQgetvalue(res, r, c));
}

int wo_addons_rows_load(struct wo_addons_row **out, size_t *n, PGconn *conn)
{
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT name, enabled, settings::text, success_count, failure_count, "
		       "to_char(last_run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
		       "last_duration_ms, last_error, xmin::text FROM addons", 0, NULL) < 0)
		return -1;
	int nrows = PQntuples(res);
	struct wo_addons_row *rows = calloc(nrows ? (size_t)nrows : 1, sizeof(*rows));
	if (!rows) {
		PQclear(res);
		return wo_error_setc(WO_ENOMEM, "out of memory");
	}
	for (int r = 0; r < nrows; r++) {
		struct wo_addons_row *row = &rows[r];
		row->name = strdup(PQgetvalue(res, r, 0));
		row->enabled = PQgetvalue(res, r, 1)[0] == 't';
		row->settings = json_loads(PQgetvalue(res, r, 2), 0, NULL);
		row->success_count = strtoll(PQgetvalue(res, r, 3), NULL, 10);
		row->failure_count = strtoll(PQgetvalue(res, r, 4), NULL, 10);
		row->last_run_at = dup_or_null(res, r, 5);
		if (!PQgetisnull(res, r, 6))
			row->last_duration_ms = strtoll(PQgetvalue(res, r, 6), NULL, 10);
		row->last_error = dup_or_null(res, r, 7);
		row->xmin = strdup(PQgetvalue(res, r, 8));
		if (!row->name || !row->xmin) {
			PQclear(res);
			wo_addons_rows_free(rows, (size_t)nrows);
			return wo_error_setc(WO_ENOMEM, "out of memory");
		}
	}
	PQclear(res);
	*out = rows;
	*n = (size_t)nrows;
	return 0;
}

int wo_addons_set_enabled(PGconn *conn, const char *name, int enabled)
{
	const char *params[2] = {name, enabled ? "true" : "false"};
	return wo_db_exec(NULL, conn, "UPDATE addons SET enabled = $2, updated_at = now() WHERE name = $1", 2,
			  params);
}

int wo_addons_setting_set(PGconn *conn, const char *name, const char *key, const char *value_json)
{
	const char *params[3] = {name, key, value_json};
	return wo_db_exec(NULL, conn,
			  "UPDATE addons SET settings = settings || jsonb_build_object($2::text, $3::jsonb), "
			  "updated_at = now() WHERE name = $1", 3, params);
}

int wo_addons_setting_unset(PGconn *conn, const char *name, const char *key)
{
	const char *params[2] = {name, key};
	return wo_db_exec(NULL, conn, "UPDATE addons SET settings = settings - $2::text, updated_at = now() "
			  "WHERE name = $1", 2, params);
}

int wo_addons_settings_merge(PGconn *conn, const char *name, const char *patch_json, const char *xmin)
{
	const char *params[3] = {name, patch_json, xmin};
	PGresult *res;
	if (wo_db_exec(&res, conn, "UPDATE addons SET settings = settings || $2::jsonb "
		       "WHERE name = $1 AND xmin::text = $3", 3, params) < 0)
		return -1;
	int merged = PQcmdTuples(res)[0] == '1';
	PQclear(res);
	return merged;
}

int wo_addons_record_run(PGconn *conn, const char *name, int ok, long long duration_ms, const char *error)
{
	char dur[32];
	snprintf(dur, sizeof(dur), "%lld", duration_ms);
	const char *params[4] = {name, ok ? "1" : "0", dur, ok ? NULL : error};
	return wo_db_exec(NULL, conn,
			  "UPDATE addons SET success_count = success_count + $2::int, "
			  "failure_count = failure_count + (1 - $2::int), last_run_at = now(), "
			  "last_duration_ms = $3::bigint, last_error = $4 WHERE name = $1", 4, params);
}

int wo_addons_status_set(PGconn *conn, const char *name, const char *status_json)
{
	const char *params[] = { name, status_json };
	return wo_db_exec(NULL, conn, "UPDATE addons SET status = $2::jsonb, status_at = now() WHERE name = $1", 2,
			  params);
}

int wo_addons_status_read(json_t **out, PGconn *conn)
{
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT coalesce(json_object_agg(name, status::jsonb || jsonb_build_object('at',"
		       " to_char(status_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))), '{}')::text"
		       " FROM addons WHERE status IS NOT NULL",
		       0, NULL) < 0)
		return -1;
	json_t *j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (!j)
		return wo_error_set("cannot read the addons' state");
	*out = j;
	return 0;
}
