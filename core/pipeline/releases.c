/* Releases: listing and reading them, and queueing a rollback. The record
 * itself is written by wo_run_record when a run succeeds. */
#include "pipeline/releases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "pipeline/runs.h"
#include "store/deployment.h"
#include "util/error.h"
#include "util/banned.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* One release x of deployment d, as an object. */
#define RELEASE_JSON                                                                                      \
	"json_build_object('number', x.number, 'deployment', d.name, 'run_id', x.run_id,"                   \
	" 'commit', CASE WHEN x.commit_sha IS NULL THEN NULL ELSE json_build_object('sha', x.commit_sha,"   \
	"   'subject', x.commit_subject) END,"                                                               \
	" 'outputs', x.outputs, 'rollback_of', x.rollback_of, 'created_at', " TS("x.created_at") ","        \
	" 'current', x.run_id IS NOT DISTINCT FROM d.current_run_id)::text"                                 \
	" FROM releases x JOIN deployments d ON d.id = x.deployment_id"

static int query_list(json_t **out, PGconn *conn, const char *where, const char *key, int limit)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 50);
	const char *params[] = { key, lim };
	char sql[1024];
	snprintf(sql, sizeof(sql), "SELECT " RELEASE_JSON " WHERE %s ORDER BY x.number DESC LIMIT $2::int", where);
	PGresult *res;
	if (wo_db_exec(&res, conn, sql, 2, params) < 0)
		return -1;
	int rc = wo_db_rows_json(out, res, 1, "release record");
	PQclear(res);
	return rc;
}

static int query_one(json_t **out, PGconn *conn, const char *where, const char *key, int number, const char *who)
{
	char num[16];
	snprintf(num, sizeof(num), "%d", number);
	const char *params[] = { key, num };
	char sql[1024];
	snprintf(sql, sizeof(sql), "SELECT " RELEASE_JSON " WHERE %s AND x.number = $2::int", where);
	PGresult *res;
	if (wo_db_exec(&res, conn, sql, 2, params) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "'%s' has no release %d (see 'webops releases %s')", who, number, who);
	}
	int rc = wo_db_rows_json(out, res, 0, "release record");
	PQclear(res);
	return rc;
}

int wo_release_list(json_t **out, PGconn *conn, const char *deployment, int limit)
{
	int rc = wo_deployment_exists(conn, deployment);
	return rc < 0 ? rc : query_list(out, conn, "d.name = $1", deployment, limit);
}

int wo_release_get(json_t **out, PGconn *conn, const char *deployment, int number)
{
	int rc = wo_deployment_exists(conn, deployment);
	return rc < 0 ? rc : query_one(out, conn, "d.name = $1", deployment, number, deployment);
}

int wo_release_recent(json_t **out, PGconn *conn, long long deployment_id, int limit)
{
	char id[32];
	snprintf(id, sizeof(id), "%lld", deployment_id);
	return query_list(out, conn, "d.id = $1::bigint", id, limit);
}

int wo_release_get_by_id(json_t **out, PGconn *conn, long long deployment_id, int number)
{
	char id[32];
	snprintf(id, sizeof(id), "%lld", deployment_id);
	return query_one(out, conn, "d.id = $1::bigint", id, number, id);
}

int wo_release_rollback(json_t **out, PGconn *conn, const char *deployment, int number)
{
	if (number < 0)
		return wo_error_setc(WO_EINVALID, "release: a release number is 1 or more (see 'webops releases %s')", deployment);
	json_t *list = NULL;
	int rc = wo_release_list(&list, conn, deployment, 1000);
	if (rc < 0)
		return rc;
	/* the current one: the release of the run that serves now */
	int current = 0;
	size_t i;
	json_t *x;
	json_array_foreach(list, i, x)
		if (json_is_true(json_object_get(x, "current"))) {
			current = (int)json_integer_value(json_object_get(x, "number"));
			break;
		}
	const json_t *target = NULL;
	json_array_foreach(list, i, x) {
		int n = (int)json_integer_value(json_object_get(x, "number"));
		if (number ? n == number : (current ? n < current : i > 0)) {
			target = x;
			break;
		}
	}
	if (!target) {
		if (number)
			wo_error_set("'%s' has no release %d (see 'webops releases %s')", deployment, number, deployment);
		else
			wo_error_set("'%s' has no release before the one it runs (%d): nothing to roll back to", deployment,
				     current);
		json_decref(list);
		return number ? WO_ENOTFOUND : -1;
	}
	int n = (int)json_integer_value(json_object_get(target, "number"));
	const char *sha = json_string_value(json_object_get(json_object_get(target, "commit"), "sha"));
	rc = wo_run_enqueue_release(out, conn, deployment, "rollback", sha, NULL, n);
	json_decref(list);
	return rc;
}
