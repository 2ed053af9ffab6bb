/* The per-deployment lock (see lock.h). */
#include "pipeline/lock.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "util/error.h"
#include "util/banned.h"

/* "WEBO" in the high half: keys of no other advisory lock user collide */
#define LOCK_KEY_BASE 0x5745424F00000000LL

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Who holds it, in words: the run in progress, else the holder's name. */
static void describe_holder(PGconn *conn, long long id, const char *name)
{
	char ids[32], key[32];
	snprintf(ids, sizeof(ids), "%lld", id);
	snprintf(key, sizeof(key), "%lld", LOCK_KEY_BASE + id);
	const char *params[] = { ids, key };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT (SELECT r.id || E'\\t' || r.trigger || E'\\t' || coalesce(r.stage, 'start') || E'\\t'"
		       "          || round(extract(epoch FROM clock_timestamp() - r.started_at))"
		       "        FROM runs r WHERE r.deployment_id = $1::bigint AND r.status = 'running' LIMIT 1),"
		       " (SELECT a.application_name || E'\\t' || round(extract(epoch FROM clock_timestamp() - a.backend_start))"
		       "   FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
		       "  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
		       "    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
		       "    AND ((l.classid::bigint << 32) | l.objid::bigint) = $2::bigint LIMIT 1)",
		       2, params) < 0) {
		wo_error_setc(WO_ECONFLICT, "deployment '%s' is busy: another action on it is in progress; try again when it ends", name);
		return;
	}
	if (!PQgetisnull(res, 0, 0)) {
		long long run = 0, secs = 0;
		char trigger[32] = "", stage[32] = "";
		sscanf(PQgetvalue(res, 0, 0), "%lld\t%31[^\t]\t%31[^\t]\t%lld", &run, trigger, stage, &secs);
		wo_error_setc(WO_ECONFLICT, "deployment '%s' is busy: run %lld (%s, at %s, started %lld s ago) is deploying it; "
			     "wait for it ('webops runs %s') or cancel it ('webops cancel %lld')",
			     name, run, trigger, stage, secs, name, run);
	} else if (!PQgetisnull(res, 0, 1) && *PQgetvalue(res, 0, 1) != '\t') {
		char who[200] = "";
		long long secs = 0;
		sscanf(PQgetvalue(res, 0, 1), "%199[^\t]\t%lld", who, &secs);
		wo_error_setc(WO_ECONFLICT, "deployment '%s' is busy: '%s' is in progress (for %lld s); try again when it ends", name, who,
			     secs);
	} else {
		wo_error_setc(WO_ECONFLICT, "deployment '%s' is busy: another action on it is in progress; try again when it ends", name);
	}
	PQclear(res);
}

int wo_deployment_lock(PGconn *conn, long long id, const char *name, const char *who, int wait_ms)
{
	if (who && *who) {
		const char *p[] = { who };
		wo_db_exec(NULL, conn, "SELECT set_config('application_name', left($1, 63), false)", 1, p);
	}
	char key[32];
	snprintf(key, sizeof(key), "%lld", LOCK_KEY_BASE + id);
	const char *params[] = { key };
	long until = now_ms() + (wait_ms > 0 ? wait_ms : 0);
	for (;;) {
		PGresult *res;
		if (wo_db_exec(&res, conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, params) < 0)
			return -1;
		int got = !strcmp(PQgetvalue(res, 0, 0), "t");
		PQclear(res);
		if (got)
			return 0;
		if (now_ms() >= until)
			break;
		poll(NULL, 0, 200);
	}
	describe_holder(conn, id, name);
	return 1;
}

void wo_deployment_unlock(PGconn *conn, long long id)
{
	char key[32];
	snprintf(key, sizeof(key), "%lld", LOCK_KEY_BASE + id);
	const char *params[] = { key };
	if (wo_db_exec(NULL, conn, "SELECT pg_advisory_unlock($1::bigint)", 1, params) < 0)
		wo_error_clear();
}
