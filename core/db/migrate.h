/* Schema migrations: migrations/NNNN_name.sql applied in order, each in its
 * own transaction, recorded with a SHA-256 checksum in schema_migrations. */
#ifndef WO_DB_MIGRATE_H
#define WO_DB_MIGRATE_H

#include <jansson.h>
#include <libpq-fe.h>

/* Called after each migration applied (name), for progress output. */
typedef void (*wo_migrate_progress_fn)(const char *name, void *ud);

/* Applies every pending migration of dir, serialised against other processes
 * by an advisory lock. Fails, naming the file, when an applied migration's
 * file changed or disappeared. */
int wo_migrate_apply(PGconn *conn, const char *dir, wo_migrate_progress_fn progress, void *ud);
/* Array of {name, state: applied|pending|changed|missing, checksum, applied_at}. */
int wo_migrate_status(json_t **out, PGconn *conn, const char *dir);

#endif
