/* Storage of deployment credentials; values are validated for shape only
 * and sealed (util/secret.h) before they reach a statement, so neither the
 * table nor the statement log holds a token. */
#include "store/credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "store/deployment.h"
#include "store/secrets.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/url.h"
#include "util/banned.h"

/* b is the secret: sealed here, so only ciphertext is sent. The credential
 * is bound to the origin of the deployment's repo_url as it is now ($4). */
static int upsert(PGconn *conn, const char *deployment, const char *sql, const char *a, const char *b,
		  const char *what)
{
	const char *p1[] = { deployment };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT repo_url FROM deployments WHERE name = $1", 1, p1) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", deployment);
	}
	struct wo_buf origin = WO_BUF_INIT;
	int ok = wo_url_origin(&origin, PQgetvalue(res, 0, 0)) == 0;
	PQclear(res);
	if (!ok) {
		wo_buf_release(&origin);
		return wo_error_prefix("cannot store the %s of '%s'", what, deployment);
	}
	char *sealed = NULL;
	if (wo_secrets_ready(conn) < 0 || wo_secret_seal(&sealed, b, strlen(b)) < 0) {
		wo_buf_release(&origin);
		return wo_error_prefix("cannot store the %s of '%s'", what, deployment);
	}
	const char *params[] = { deployment, a, sealed, origin.ptr };
	int rc = wo_db_exec(&res, conn, sql, 4, params);
	free(sealed);
	wo_buf_release(&origin);
	if (rc < 0)
		return -1;
	int n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", deployment);
	}
	return 0;
}

static int printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t')
			return 0;
	return 1;
}

int wo_credentials_set_token(PGconn *conn, const char *deployment, const char *username, const char *token)
{
	if (!token || !*token || strlen(token) > 4096 || strpbrk(token, " \t\r\n"))
		return wo_error_set("https_token: must be 1-4096 characters without spaces or newlines");
	if (username && (!*username || strlen(username) > 255 || strpbrk(username, " \t\r\n:@")))
		return wo_error_set("https_username '%s' is invalid: no spaces, ':' or '@'", username);
	return upsert(conn, deployment,
		      "INSERT INTO deployment_credentials (deployment_id, https_username, https_token, bound_url)"
		      " SELECT id, $2, $3, $4 FROM deployments WHERE name = $1"
		      " ON CONFLICT (deployment_id) DO UPDATE SET https_username = $2, https_token = $3,"
		      " ssh_username = NULL, ssh_private_key = NULL, bound_url = $4, updated_at = now()"
		      " RETURNING deployment_id",
		      username, token, "https token");
}

int wo_credentials_set_ssh_key(PGconn *conn, const char *deployment, const char *username, const char *key)
{
	if (!key || !strstr(key, "-----BEGIN ") || !strstr(key, "PRIVATE KEY-----") || strlen(key) > 65536 ||
	    !printable(key))
		return wo_error_set("ssh_private_key: expected a PEM or OpenSSH private key "
				    "('-----BEGIN ... PRIVATE KEY-----'), at most 64 KiB");
	if (username && (!*username || strlen(username) > 255 || strpbrk(username, " \t\r\n:@")))
		return wo_error_set("ssh_username '%s' is invalid: no spaces, ':' or '@'", username);
	return upsert(conn, deployment,
		      "INSERT INTO deployment_credentials (deployment_id, ssh_username, ssh_private_key, bound_url)"
		      " SELECT id, $2, $3, $4 FROM deployments WHERE name = $1"
		      " ON CONFLICT (deployment_id) DO UPDATE SET ssh_username = $2, ssh_private_key = $3,"
		      " https_username = NULL, https_token = NULL, bound_url = $4, updated_at = now()"
		      " RETURNING deployment_id",
		      username, key, "ssh key");
}

int wo_credentials_clear(PGconn *conn, const char *deployment)
{
	const char *params[] = { deployment };
	int rc = wo_deployment_exists(conn, deployment);
	if (rc < 0)
		return rc;
	return wo_db_exec(NULL, conn,
			  "DELETE FROM deployment_credentials WHERE deployment_id = (SELECT id FROM deployments WHERE name = $1)",
			  1, params);
}

int wo_credentials_describe(char *dst, size_t cap, PGconn *conn, const char *deployment)
{
	const char *params[] = { deployment };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT c.https_token IS NOT NULL, coalesce(c.https_username, 'x-access-token'),"
		       " c.ssh_private_key IS NOT NULL, coalesce(c.ssh_username, '(from the URL)'),"
		       " coalesce(c.bound_url, 'no host (stored before credentials were bound to one: store it again)')"
		       " FROM deployments d LEFT JOIN deployment_credentials c ON c.deployment_id = d.id WHERE d.name = $1",
		       1, params) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", deployment);
	}
	if (!strcmp(PQgetvalue(res, 0, 0), "t"))
		snprintf(dst, cap, "https token (user %s), for %s", PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 4));
	else if (!strcmp(PQgetvalue(res, 0, 2), "t"))
		snprintf(dst, cap, "ssh key (user %s), for %s", PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
	else
		snprintf(dst, cap, "none");
	PQclear(res);
	return 0;
}

int wo_credentials_for_run(struct wo_credentials *out, PGconn *conn, const char *run_id)
{
	const char *params[] = { run_id };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT c.https_username, c.https_token, c.ssh_username, c.ssh_private_key, d.name, c.bound_url"
		       " FROM deployment_credentials c JOIN runs ON runs.deployment_id = c.deployment_id"
		       " JOIN deployments d ON d.id = c.deployment_id WHERE runs.id = $1::bigint",
		       1, params) < 0)
		return -1;
	struct wo_credentials c = { 0 };
	int rc = 0;
	if (PQntuples(res) == 1) {
		const char *name = PQgetvalue(res, 0, 4);
		char what[300];
		if (!PQgetisnull(res, 0, 0))
			c.https_username = strdup(PQgetvalue(res, 0, 0));
		if (!PQgetisnull(res, 0, 2))
			c.ssh_username = strdup(PQgetvalue(res, 0, 2));
		if (!PQgetisnull(res, 0, 5))
			c.bound = strdup(PQgetvalue(res, 0, 5));
		if (!PQgetisnull(res, 0, 1)) {
			snprintf(what, sizeof(what), "the https token of '%s'", name);
			rc = wo_secret_open(&c.https_token, PQgetvalue(res, 0, 1), what);
		}
		if (rc == 0 && !PQgetisnull(res, 0, 3)) {
			snprintf(what, sizeof(what), "the ssh key of '%s'", name);
			rc = wo_secret_open(&c.ssh_private_key, PQgetvalue(res, 0, 3), what);
		}
	}
	PQclear(res);
	if (rc < 0) {
		wo_credentials_release(&c);
		return -1;
	}
	*out = c;
	return 0;
}

void wo_credentials_release(struct wo_credentials *c)
{
	if (!c)
		return;
	free(c->https_username);
	free(c->ssh_username);
	free(c->bound);
	wo_secret_free(c->https_token);
	wo_secret_free(c->ssh_private_key);
	memset(c, 0, sizeof(*c));
}
