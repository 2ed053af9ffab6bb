/* SSH public keys allowed to push to webops: parsed and checked (type, blob,
 * SHA256 fingerprint as ssh-keygen prints it), kept in PostgreSQL, and
 * written to the authorized_keys file sshd reads, where each becomes a line
 * that can only run `webops git-shell KEYNAME`. webops touches only the
 * lines it wrote; every other line stays byte for byte. */
#ifndef WO_STORE_SSH_KEYS_H
#define WO_STORE_SSH_KEYS_H

#include <jansson.h>
#include <libpq-fe.h>

#include "util/buf.h"

#define WO_SSH_KEY_NAME_MAX 63

struct wo_ssh_pubkey {
	char type[64];         /* ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ... */
	char *blob;            /* base64, as in the .pub file */
	char *comment;         /* what followed the blob; NULL when nothing did */
	char fingerprint[64];  /* "SHA256:..." */
};

/* 1-63 letters, digits, '_', '.', '-', starting with a letter or digit. */
int wo_validate_ssh_key_name(const char *s, struct wo_buf *err);

/* Parses the text of a .pub file: one line "TYPE BASE64 [COMMENT]". Refuses
 * private keys (saying to give the .pub), unknown types, blobs that do not
 * decode or whose structure or embedded type does not match. */
int wo_ssh_pubkey_parse(struct wo_ssh_pubkey *out, const char *text);
void wo_ssh_pubkey_release(struct wo_ssh_pubkey *k);

/* Records: {name, type, fingerprint, comment|null, key_data, user|null, created_at}. */
int wo_ssh_key_add(json_t **out, PGconn *conn, const char *name, const struct wo_ssh_pubkey *k);
/* The key pushes with user's rights (store/access.h) from now on. */
int wo_ssh_key_set_user(PGconn *conn, const char *name, const char *user);
/* All keys, by name. */
int wo_ssh_key_list(json_t **out, PGconn *conn);
/* WO_ENOTFOUND when there is no such key. */
int wo_ssh_key_get(json_t **out, PGconn *conn, const char *name);
int wo_ssh_key_remove(PGconn *conn, const char *name);

/* The authorized_keys file webops maintains: WEBOPS_SSH_AUTHORIZED_KEYS, else
 * ~/.ssh/authorized_keys of the account we run as. malloc'd. */
int wo_ssh_authorized_keys_path(char **out);
/* Makes webops' lines of the file at path exactly the keys given (records as
 * above): `restrict,command="WEBOPS --data-dir DATA git-shell NAME" TYPE
 * BLOB webops:NAME`. Lines that are not ours are kept byte for byte and in
 * place; the file is replaced atomically (mode 0600, its directory created
 * 0700 when missing) and only when something changed. webops_path and
 * data_dir are absolute paths. */
int wo_ssh_authorized_keys_sync(const char *path, const json_t *keys, const char *webops_path, const char *data_dir);

#endif
