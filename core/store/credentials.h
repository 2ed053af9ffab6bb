/* Per-deployment git credentials (an HTTPS token or an SSH deploy key),
 * kept apart from the deployment record and never printed or logged. */
#ifndef WO_STORE_CREDENTIALS_H
#define WO_STORE_CREDENTIALS_H

#include <libpq-fe.h>

/* Sets an HTTPS token (username NULL: "x-access-token"). */
int wo_credentials_set_token(PGconn *conn, const char *deployment, const char *username, const char *token);
/* Sets an SSH private key (PEM or OpenSSH text; username NULL: from the URL, else "git"). */
int wo_credentials_set_ssh_key(PGconn *conn, const char *deployment, const char *username, const char *key);
int wo_credentials_clear(PGconn *conn, const char *deployment);
/* What is set, without the secrets: "none", "https token (user x)", "ssh key (user y)". */
int wo_credentials_describe(char *dst, size_t cap, PGconn *conn, const char *deployment);

#endif
