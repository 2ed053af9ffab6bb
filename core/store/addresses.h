/* Where webopsd is reached (server_addresses): written by the daemon when it
 * starts, read by the CLI to print addresses that work (webhook URLs, git
 * remotes) instead of guessing. */
#ifndef WO_STORE_ADDRESSES_H
#define WO_STORE_ADDRESSES_H

#include <libpq-fe.h>

/* key: "public_url" (http://host:port, no trailing slash) or "ssh"
 * (user@host or user@host:port). 0, or -1 with the error set. */
int wo_server_address_set(PGconn *conn, const char *key, const char *value);
/* The value (to be freed), NULL when none was recorded (or on error). */
char *wo_server_address_get(PGconn *conn, const char *key);

#endif
