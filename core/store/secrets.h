/* The database side of secrets at rest (util/secret.h seals the values):
 * the key's fingerprint, kept so that a process holding another key refuses
 * to write secrets rather than mix two keys, and the one-time sealing of
 * values stored in plaintext before encryption existed. */
#ifndef WO_STORE_SECRETS_H
#define WO_STORE_SECRETS_H

#include <jansson.h>
#include <libpq-fe.h>

/* Makes this process ready to seal secrets, once: loads the key (creating it
 * when neither it nor a fingerprint exists yet), checks it against the
 * fingerprint in the database (recording it the first time), then seals
 * credentials and webhook secrets still stored in plaintext. Errors say
 * what to do ("the key in '...' does not match the one ..."). */
int wo_secrets_ready(PGconn *conn);
/* Seals every credential and webhook secret still in plaintext; *sealed_out
 * (may be NULL) gets how many values were sealed. Needs the key. */
int wo_secrets_seal_plaintext(PGconn *conn, int *sealed_out);

/* A deployment's environment as stored: every value sealed (*out: a new
 * object). Needs the key (wo_secrets_ready first). */
int wo_secrets_seal_env(json_t **out, const json_t *env);
/* Opens, in place, the sealed values of a deployment's environment read
 * from the database (plaintext ones from before are kept as they are);
 * name is the deployment's, for the message when the key does not match. */
int wo_secrets_open_env(json_t *env, const char *name);

#endif
