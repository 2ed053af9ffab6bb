/* Storage of deployment credentials; values are validated for shape only. */
#include "store/credentials.h"

#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "store/deployment.h"
#include "util/error.h"
#include "util/banned.h"

static int upsert(PGconn *conn, const char *deployment, const char *sql, const char *a, const char *b)
{
	const char *params[] = { deployment, a, b };
	PGresult *res;
	if (wo_db_exec(&res, conn, sql, 3, params) < 0)
		return -1;
	int n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		wo_error_set("deployment '%s' not found", deployment);
		return WO_ENOTFOUND;
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
		      "INSERT INTO deployment_credentials (deployment_id, https_username, https_token)"
		      " SELECT id, $2, $3 FROM deployments WHERE name = $1"
		      " ON CONFLICT (deployment_id) DO UPDATE SET https_username = $2, https_token = $3,"
		      " ssh_username = NULL, ssh_private_key = NULL, updated_at = now() RETURNING deployment_id",
		      username, token);
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
		      "INSERT INTO deployment_credentials (deployment_id, ssh_username, ssh_private_key)"
		      " SELECT id, $2, $3 FROM deployments WHERE name = $1"
		      " ON CONFLICT (deployment_id) DO UPDATE SET ssh_username = $2, ssh_private_key = $3,"
		      " https_username = NULL, https_token = NULL, updated_at = now() RETURNING deployment_id",
		      username, key);
}

int wo_credentials_clear(PGconn *conn, const char *deployment)
{
	const char *params[] = { deployment };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT id FROM deployments WHERE name = $1", 1, params) < 0)
		return -1;
	int n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		wo_error_set("deployment '%s' not found", deployment);
		return WO_ENOTFOUND;
	}
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
		       " c.ssh_private_key IS NOT NULL, coalesce(c.ssh_username, '(from the URL)')"
		       " FROM deployments d LEFT JOIN deployment_credentials c ON c.deployment_id = d.id WHERE d.name = $1",
		       1, params) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		wo_error_set("deployment '%s' not found", deployment);
		return WO_ENOTFOUND;
	}
	if (!strcmp(PQgetvalue(res, 0, 0), "t"))
		snprintf(dst, cap, "https token (user %s)", PQgetvalue(res, 0, 1));
	else if (!strcmp(PQgetvalue(res, 0, 2), "t"))
		snprintf(dst, cap, "ssh key (user %s)", PQgetvalue(res, 0, 3));
	else
		snprintf(dst, cap, "none");
	PQclear(res);
	return 0;
}
