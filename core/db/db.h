/* Database access: connecting (to a URL or the embedded cluster), running
 * parameterised statements with errors turned into wo_error messages. */
#ifndef WO_DB_DB_H
#define WO_DB_DB_H

#include <jansson.h>
#include <libpq-fe.h>

struct wo_config;

/* Connects to cfg->database_url, or starts/reuses the embedded cluster when it
 * is NULL, then applies pending migrations (unless skip_migrate). */
int wo_db_open(PGconn **out, const struct wo_config *cfg, int skip_migrate);
/* Connects to a conninfo string or URI; sets a clear error on failure. */
int wo_db_connect(PGconn **out, const char *conninfo);
void wo_db_close(PGconn *conn);

/* Runs sql with text parameters (NULL entries are SQL NULL). On success
 * *out (if out is non-NULL) holds the result, to be PQclear'ed; on failure the
 * error message is set and nothing is written. */
int wo_db_exec(PGresult **out, PGconn *conn, const char *sql, int nparams, const char *const *params);
/* The same for a statement run often: prepared as name on first use on
 * conn (and again when conn was made anew), so it is parsed and, after a
 * few runs, planned once per connection. Not inside a transaction block
 * (the first use's "not prepared" would abort it). */
int wo_db_exec_prepared(PGresult **out, PGconn *conn, const char *name, const char *sql, int nparams,
			const char *const *params);
/* Convenience: BEGIN / COMMIT / ROLLBACK. */
int wo_db_begin(PGconn *conn);
int wo_db_commit(PGconn *conn);
void wo_db_rollback(PGconn *conn);
/* Rows whose first column is JSON text (json_build_object(...)::text): all
 * as an array (as_array), else the first row (NULL when there is none).
 * what names the records in the error message. */
int wo_db_rows_json(json_t **out, PGresult *res, int as_array, const char *what);
/* The SQLSTATE of the last failed wo_db_exec in this thread ("" if none).
 * The failure's error code (util/error.h) says its kind: WO_EEXISTS for a
 * unique violation, WO_EINVALID for a check, WO_ECONFLICT for a lock or a
 * foreign key, WO_EUNAVAILABLE when the server is away. */
const char *wo_db_last_sqlstate(void);
/* The constraint the last failed statement in this thread violated ("" if
 * none): which unique key a WO_EEXISTS is about. */
const char *wo_db_last_constraint(void);

#endif
