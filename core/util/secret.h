/* Secrets at rest: values sealed with libsodium's secretbox under one key
 * kept outside the database (DATA_DIR/secret.key, or $WEBOPS_SECRET_KEY_FILE),
 * so a dump of the database or its statement log shows no token. */
#ifndef WO_UTIL_SECRET_H
#define WO_UTIL_SECRET_H

#include <stddef.h>

/* What a sealed value starts with: "v1:" + base64(nonce || ciphertext). */
#define WO_SECRET_PREFIX "v1:"
#define WO_SECRET_KEY_BYTES 32

/* Where the key lives: $WEBOPS_SECRET_KEY_FILE when set, else
 * DATA_DIR/secret.key. Call once at startup, before threads exist. Without
 * a call the key is looked for from $WEBOPS_DATA_DIR. */
void wo_secret_configure(const char *data_dir);
/* The key file's path (borrowed, static); NULL when nothing says where. */
const char *wo_secret_key_path(void);
/* Whether the key file exists (and is readable as one). */
int wo_secret_key_exists(void);

/* 1 when value has the sealed form's prefix (NULL: 0). */
int wo_secret_is_sealed(const char *value);

/* Loads the key, creating it (32 random bytes, mode 0600, atomically: a new
 * file is linked into place only if none is there) when create is set and
 * there is none. Safe to call from several threads. */
int wo_secret_key_load(int create);
/* A fingerprint of the loaded key (keyed BLAKE2b of a constant, in hex):
 * tells keys apart without revealing them. dst holds at least 33 bytes. */
int wo_secret_key_fingerprint(char *dst, size_t cap);

/* Seals len bytes of plain with the key (which must exist or is created).
 * *out: "v1:" + base64(nonce || secretbox). Caller frees. */
int wo_secret_seal(char **out, const char *plain, size_t len);
/* Opens a stored value. A value without the prefix is plaintext from before
 * encryption and comes back as it is. what names the value for messages
 * ("the webhook secret of 'blog'"): "cannot decrypt <what>: the key in PATH
 * does not match the one it was stored with". Caller frees (wo_secret_free). */
int wo_secret_open(char **out, const char *stored, const char *what);
/* Wipes and frees a secret string; NULL is fine. */
void wo_secret_free(char *s);
/* Wipes the key from this process's memory (a hook's child process never
 * needs it). */
void wo_secret_forget(void);

/* Reads a one-line secret from a file (at most max bytes; trailing newlines
 * dropped); refuses an empty one. what names it for messages. */
int wo_secret_read_file(char **out, const char *path, size_t max, const char *what);

#endif
