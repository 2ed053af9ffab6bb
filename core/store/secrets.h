/* The database side of secrets at rest (util/secret.h seals the values):
 * the key's fingerprint, kept so that a process holding another key refuses
 * to write secrets rather than mix two keys, and the one-time sealing of
 * values stored in plaintext before encryption existed. */
#ifndef WO_STORE_SECRETS_H
#define WO_STORE_SECRETS_H

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

#endif
