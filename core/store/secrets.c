/* The key's fingerprint in the database and the one-time sealing of secrets
 * stored in plaintext before they were encrypted at rest. */
#include "store/secrets.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/banned.h"

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
/* the database this process was made ready for (host, port, name) */
static char ready_for[512];

static void db_identity(char *dst, size_t cap, PGconn *conn)
{
	const char *h = PQhost(conn), *p = PQport(conn), *d = PQdb(conn);
	snprintf(dst, cap, "%s:%s/%s", h ? h : "", p ? p : "", d ? d : "");
}

/* The stored fingerprint into fp ("" when none); 0 or -1. */
static int stored_fingerprint(char *fp, size_t cap, PGconn *conn)
{
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT fingerprint FROM secret_key", 0, NULL) < 0)
		return -1;
	snprintf(fp, cap, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return 0;
}

static int check_key(PGconn *conn)
{
	char stored[64], mine[64];
	if (stored_fingerprint(stored, sizeof(stored), conn) < 0)
		return -1;
	const char *path = wo_secret_key_path();
	if (!wo_secret_key_exists() && stored[0] && path)
		return wo_error_set("the secrets in this database were encrypted with a key that is not in '%s': copy "
				    "secret.key from the host or backup that has it there (or point "
				    "WEBOPS_SECRET_KEY_FILE at it)", path);
	if (wo_secret_key_load(1) < 0 || wo_secret_key_fingerprint(mine, sizeof(mine)) < 0)
		return -1;
	if (!stored[0]) {
		const char *params[] = { mine };
		if (wo_db_exec(NULL, conn, "INSERT INTO secret_key (fingerprint) VALUES ($1) ON CONFLICT DO NOTHING",
			       1, params) < 0 ||
		    stored_fingerprint(stored, sizeof(stored), conn) < 0)
			return -1;
	}
	if (strcmp(stored, mine) != 0)
		return wo_error_set("the key in '%s' does not match the one the secrets in this database were "
				    "stored with: use that key (copy it there or point WEBOPS_SECRET_KEY_FILE at it)",
				    path ? path : "?");
	return 0;
}

/* Seals the plaintext values of one column; rows are matched by their xmin
 * so a value changed meanwhile is left alone, and no plaintext ever appears
 * in a statement's parameters. */
static int seal_column(PGconn *conn, const char *select_sql, const char *update_sql, int *count)
{
	PGresult *res;
	if (wo_db_exec(&res, conn, select_sql, 0, NULL) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		const char *v = PQgetvalue(res, i, 1);
		char *sealed = NULL;
		if (wo_secret_seal(&sealed, v, strlen(v)) < 0) {
			rc = -1;
			break;
		}
		const char *params[] = { PQgetvalue(res, i, 0), sealed, PQgetvalue(res, i, 2) };
		PGresult *u;
		rc = wo_db_exec(&u, conn, update_sql, 3, params);
		if (rc == 0) {
			*count += (int)strtol(PQcmdTuples(u), NULL, 10);
			PQclear(u);
		}
		free(sealed);
	}
	PQclear(res);
	return rc;
}

int wo_secrets_seal_env(json_t **out, const json_t *env)
{
	json_t *o = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)env, k, v) {
		const char *plain = json_string_value(v);
		char *sealed = NULL;
		if (!plain || wo_secret_seal(&sealed, plain, strlen(plain)) < 0) {
			json_decref(o);
			return plain ? -1 : wo_error_set("env_vars: '%s' must be a string", k);
		}
		json_object_set_new(o, k, json_string(sealed));
		free(sealed);
	}
	*out = o;
	return 0;
}

int wo_secrets_open_env(json_t *env, const char *name)
{
	const char *k;
	json_t *v;
	json_object_foreach(env, k, v) {
		const char *stored = json_string_value(v);
		if (!stored || !wo_secret_is_sealed(stored))
			continue;
		char what[256];
		snprintf(what, sizeof(what), "the environment variable %s of '%s'", k, name ? name : "?");
		char *plain = NULL;
		if (wo_secret_open(&plain, stored, what) < 0)
			return -1;
		json_object_set_new(env, k, json_string(plain));
		wo_secret_free(plain);
	}
	return 0;
}

/* Environments stored in plaintext before they were sealed. */
static int seal_envs(PGconn *conn, int *count)
{
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT id, env_vars::text, xmin::text FROM deployments d WHERE EXISTS"
		       " (SELECT 1 FROM jsonb_each_text(d.env_vars) e WHERE e.value NOT LIKE 'v1:%')",
		       0, NULL) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		json_t *env = json_loads(PQgetvalue(res, i, 1), 0, NULL), *sealed = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(env, k, v) {
			const char *val = json_string_value(v);
			char *s = NULL;
			if (val && !wo_secret_is_sealed(val)) {
				if (wo_secret_seal(&s, val, strlen(val)) < 0) {
					rc = -1;
					break;
				}
				json_object_set_new(sealed, k, json_string(s));
				free(s);
			} else {
				json_object_set(sealed, k, v);
			}
		}
		char *text = rc == 0 ? json_dumps(sealed, JSON_COMPACT) : NULL;
		json_decref(env);
		json_decref(sealed);
		if (rc < 0)
			break;
		const char *params[] = { PQgetvalue(res, i, 0), text, PQgetvalue(res, i, 2) };
		PGresult *u;
		rc = wo_db_exec(&u, conn,
				"UPDATE deployments SET env_vars = $2::jsonb WHERE id = $1::bigint AND xmin::text = $3", 3,
				params);
		if (rc == 0) {
			*count += (int)strtol(PQcmdTuples(u), NULL, 10);
			PQclear(u);
		}
		free(text);
	}
	PQclear(res);
	return rc;
}

int wo_secrets_seal_plaintext(PGconn *conn, int *sealed_out)
{
	int n = 0;
	static const struct {
		const char *select, *update;
	} cols[] = {
		{ "SELECT deployment_id, https_token, xmin::text FROM deployment_credentials"
		  " WHERE https_token NOT LIKE 'v1:%'",
		  "UPDATE deployment_credentials SET https_token = $2"
		  " WHERE deployment_id = $1::bigint AND xmin::text = $3" },
		{ "SELECT deployment_id, ssh_private_key, xmin::text FROM deployment_credentials"
		  " WHERE ssh_private_key NOT LIKE 'v1:%'",
		  "UPDATE deployment_credentials SET ssh_private_key = $2"
		  " WHERE deployment_id = $1::bigint AND xmin::text = $3" },
		{ "SELECT id, webhook_secret, xmin::text FROM deployments WHERE webhook_secret NOT LIKE 'v1:%'",
		  "UPDATE deployments SET webhook_secret = $2 WHERE id = $1::bigint AND xmin::text = $3" },
	};
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		if (seal_column(conn, cols[i].select, cols[i].update, &n) < 0)
			return wo_error_prefix("cannot encrypt the secrets stored in plaintext");
	if (seal_envs(conn, &n) < 0)
		return wo_error_prefix("cannot encrypt the environment variables stored in plaintext");
	if (sealed_out)
		*sealed_out = n;
	return 0;
}

int wo_secrets_ready(PGconn *conn)
{
	char id[sizeof(ready_for)];
	db_identity(id, sizeof(id), conn);
	pthread_mutex_lock(&ready_lock);
	int rc = 0;
	if (strcmp(ready_for, id) != 0) {
		rc = check_key(conn);
		if (rc == 0)
			rc = wo_secrets_seal_plaintext(conn, NULL);
		if (rc == 0)
			snprintf(ready_for, sizeof(ready_for), "%s", id);
	}
	pthread_mutex_unlock(&ready_lock);
	return rc;
}
