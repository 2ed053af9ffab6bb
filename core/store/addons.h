/* The addons table in PostgreSQL: one row per addon found on disk (its
 * version, folder and load error) with its enabled flag, its stored
 * settings (secret ones sealed by the addon module before they come here),
 * its hooks' metrics and what its status hook last said. The registry
 * (addon/addon.h) decides what to read and write; this is how. */
#ifndef WO_STORE_ADDONS_H
#define WO_STORE_ADDONS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

/* One row as wo_addons_rows_load reads it; every pointer owned by the row. */
struct wo_addons_row {
	char *name;
	int enabled;
	json_t *settings;           /* the stored settings; NULL when unreadable */
	long long success_count;
	long long failure_count;
	char *last_run_at;          /* UTC, "2026-11-24T10:00:00Z"; NULL: never ran */
	long long last_duration_ms; /* 0 when never ran */
	char *last_error;           /* NULL: none */
	char *xmin;                 /* the row's version, for wo_addons_settings_merge */
};

/* Records an addon found on disk: inserts its row, or updates version, path
 * and load_error when one of them changed (load_error NULL: it loaded). */
int wo_addons_record(PGconn *conn, const char *name, const char *version, const char *path,
		     const char *load_error);
/* Every row: *n of them in *out (free with wo_addons_rows_free). */
int wo_addons_rows_load(struct wo_addons_row **out, size_t *n, PGconn *conn);
void wo_addons_rows_free(struct wo_addons_row *rows, size_t n);

int wo_addons_set_enabled(PGconn *conn, const char *name, int enabled);
/* Stores one setting; value_json is the value's JSON text, already sealed
 * for a secret setting (only ciphertext goes into the statement). */
int wo_addons_setting_set(PGconn *conn, const char *name, const char *key, const char *value_json);
int wo_addons_setting_unset(PGconn *conn, const char *name, const char *key);
/* Merges patch_json (an object's JSON text) into the stored settings of
 * addon name only if its row is still at version xmin, so that a change
 * made meanwhile is left alone: 1 when merged, 0 when not, -1 on error. */
int wo_addons_settings_merge(PGconn *conn, const char *name, const char *patch_json, const char *xmin);
/* Counts one run of the addon's hooks in its metrics: ok or failed (error:
 * why, NULL when ok), how long it took. */
int wo_addons_record_run(PGconn *conn, const char *name, int ok, long long duration_ms, const char *error);

/* Stores what the addon's status hook said (status_json: an object's JSON
 * text), stamped now. */
int wo_addons_status_set(PGconn *conn, const char *name, const char *status_json);
/* {addon: status + {"at"}} of every addon whose status is stored. */
int wo_addons_status_read(json_t **out, PGconn *conn);

#endif
