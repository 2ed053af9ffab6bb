/* server_addresses: the public URL and SSH target webopsd recorded. */
#include "store/addresses.h"

#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "util/error.h"
#include "util/banned.h"

int wo_server_address_set(PGconn *conn, const char *key, const char *value)
{
	const char *params[] = { key, value };
	return wo_db_exec(NULL, conn,
			  "INSERT INTO server_addresses (key, value) VALUES ($1, $2)"
			  " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()",
			  2, params);
}

char *wo_server_address_get(PGconn *conn, const char *key)
{
	if (!conn)
		return NULL;
	const char *params[] = { key };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT value FROM server_addresses WHERE key = $1", 1, params) < 0) {
		wo_error_clear();
		return NULL;
	}
	char *v = PQntuples(res) == 1 ? strdup(PQgetvalue(res, 0, 0)) : NULL;
	PQclear(res);
	return v;
}
