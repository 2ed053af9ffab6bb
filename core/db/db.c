/* Connecting to PostgreSQL and running statements with clear errors. */
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "db/embedded.h"
#include "db/migrate.h"
#include "util/error.h"
#include "util/banned.h"

static _Thread_local char last_sqlstate[6];

static _Thread_local char last_constraint[64];

const char *wo_db_last_sqlstate(void)
{
	return last_sqlstate;
}

const char *wo_db_last_constraint(void)
{
	return last_constraint;
}

/* The error code a SQLSTATE stands for. */
static int code_of(const char *state, PGconn *conn)
{
	if (!state || !*state)
		return conn && PQstatus(conn) != CONNECTION_OK ? WO_EUNAVAILABLE : WO_ERROR;
	if (!strcmp(state, "23505"))
		return WO_EEXISTS; /* unique_violation */
	if (!strcmp(state, "23503"))
		return WO_ECONFLICT; /* foreign_key_violation: what it refers to changed */
	if (!strncmp(state, "23", 2) || !strncmp(state, "22", 2))
		return WO_EINVALID; /* integrity (check, not null) or data exceptions */
	if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
		return WO_ECONFLICT; /* serialization, deadlock, lock not available */
	if (!strcmp(state, "57014"))
		return WO_ETIMEOUT; /* query_canceled: statement_timeout (webops cancels no query itself) */
	if (!strncmp(state, "08", 2) || !strcmp(state, "57P01") || !strcmp(state, "57P03"))
		return WO_EUNAVAILABLE; /* connection exceptions, admin shutdown, cannot connect now */
	if (!strcmp(state, "53200"))
		return WO_ENOMEM;
	return WO_ERROR;
}

static void notice_quiet(void *arg, const PGresult *res)
{
	(void)arg;
	(void)res;
}

/* PQerrorMessage ends in a newline and may span lines; keep the first line. */
static void first_line(char *dst, size_t cap, const char *msg)
{
	snprintf(dst, cap, "%s", msg ? msg : "");
	dst[strcspn(dst, "\n")] = '\0';
}

int wo_db_connect(PGconn **out, const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	if (!c)
		return wo_error_set("cannot connect to the database: out of memory");
	if (PQstatus(c) != CONNECTION_OK) {
		char msg[1024];
		first_line(msg, sizeof(msg), PQerrorMessage(c));
		PQfinish(c);
		return wo_error_set("cannot connect to the database: %s", msg);
	}
	PQsetNoticeReceiver(c, notice_quiet, NULL);
	*out = c;
	return 0;
}

void wo_db_close(PGconn *conn)
{
	if (conn)
		PQfinish(conn);
}

int wo_db_open(PGconn **out, const struct wo_config *cfg, int skip_migrate)
{
	PGconn *c = NULL;
	if (cfg->database_url) {
		if (wo_db_connect(&c, cfg->database_url) < 0)
			return -1;
	} else {
		char *conninfo = NULL;
		if (wo_embedded_ensure(&conninfo, cfg->data_dir, NULL) < 0)
			return -1;
		int r = wo_db_connect(&c, conninfo);
		free(conninfo);
		if (r < 0)
			return -1;
	}
	if (!skip_migrate && wo_migrate_apply(c, cfg->migrations_dir, NULL, NULL) < 0) {
		PQfinish(c);
		return -1;
	}
	*out = c;
	return 0;
}

/* A statement's result: kept in *out (or freed) when it succeeded, else its
 * SQLSTATE remembered and its first line made the error. */
static int take_result(PGresult **out, PGconn *conn, PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[1024];
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
		snprintf(last_sqlstate, sizeof(last_sqlstate), "%s", state ? state : "");
		snprintf(last_constraint, sizeof(last_constraint), "%s", constraint ? constraint : "");
		first_line(msg, sizeof(msg), res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
		if (!msg[0])
			first_line(msg, sizeof(msg), PQerrorMessage(conn));
		int code = code_of(state, conn);
		PQclear(res);
		return wo_error_setc(code, "database error: %s", msg);
	}
	last_sqlstate[0] = '\0';
	last_constraint[0] = '\0';
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

int wo_db_exec(PGresult **out, PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	return take_result(out, conn, PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0));
}

int wo_db_exec_prepared(PGresult **out, PGconn *conn, const char *name, const char *sql, int nparams,
			const char *const *params)
{
	PGresult *res = PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	/* 26000: not prepared on this connection yet (or it was made again) */
	if (state && !strcmp(state, "26000")) {
		PQclear(res);
		res = PQprepare(conn, name, sql, nparams, NULL);
		if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
			return take_result(NULL, conn, res);
		PQclear(res);
		res = PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
	}
	return take_result(out, conn, res);
}

int wo_db_begin(PGconn *conn)
{
	return wo_db_exec(NULL, conn, "BEGIN", 0, NULL);
}

int wo_db_commit(PGconn *conn)
{
	return wo_db_exec(NULL, conn, "COMMIT", 0, NULL);
}

void wo_db_rollback(PGconn *conn)
{
	PGresult *res = PQexec(conn, "ROLLBACK");
	PQclear(res);
}

int wo_db_rows_json(json_t **out, PGresult *res, int as_array, const char *what)
{
	json_t *arr = json_array();
	for (int i = 0; i < PQntuples(res); i++) {
		json_error_t e;
		json_t *j = json_loads(PQgetvalue(res, i, 0), 0, &e);
		if (!j) {
			json_decref(arr);
			return wo_error_set("cannot parse %s: %s", what, e.text);
		}
		json_array_append_new(arr, j);
	}
	if (as_array) {
		*out = arr;
		return 0;
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return 0;
}
