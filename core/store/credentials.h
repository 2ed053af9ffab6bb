/* Per-deployment git credentials (an HTTPS token or an SSH deploy key),
 * kept apart from the deployment record, encrypted at rest (util/secret.h)
 * and never printed or logged. */
#ifndef WO_STORE_CREDENTIALS_H
#define WO_STORE_CREDENTIALS_H

#include <libpq-fe.h>

/* Credentials are bound to the origin (scheme://host:port) of the
 * deployment's repo_url when they are stored, and offered to that origin
 * only: a repo_url changed to another host, or a redirect elsewhere, gets
 * nothing. */
/* Sets an HTTPS token (username NULL: "x-access-token"). */
int wo_credentials_set_token(PGconn *conn, const char *deployment, const char *username, const char *token);
/* Sets an SSH private key (PEM or OpenSSH text; username NULL: from the URL, else "git"). */
int wo_credentials_set_ssh_key(PGconn *conn, const char *deployment, const char *username, const char *key);
int wo_credentials_clear(PGconn *conn, const char *deployment);
/* What is set, without the secrets: "none", "https token (user x)", "ssh key (user y)". */
int wo_credentials_describe(char *dst, size_t cap, PGconn *conn, const char *deployment);


/* Decrypted credentials; any member may be NULL. */
struct wo_credentials {
	char *https_username, *https_token;
	char *ssh_username, *ssh_private_key;
	char *bound; /* the origin they were stored for (util/url.h); NULL: none, never used */
};
/* The credentials of the deployment a run (id in decimal) fetches for, all
 * NULL when none are set. A value that cannot be decrypted is an error
 * naming the deployment and the key file. Release with
 * wo_credentials_release, which wipes the secrets. */
int wo_credentials_for_run(struct wo_credentials *out, PGconn *conn, const char *run_id);
void wo_credentials_release(struct wo_credentials *c);

#endif
