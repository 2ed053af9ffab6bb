/* SSH keys: parsing of public key lines, the ssh_keys table, and the
 * authorized_keys file. The blob is checked the way sshd reads it (a
 * sequence of length-prefixed strings) so a line sshd would refuse is
 * refused here first, with the reason. */
#include "store/ssh_keys.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db.h"
#include "store/deployment.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

#define BLOB_MAX (16 * 1024)
#define AUTHORIZED_KEYS_MAX (16 * 1024 * 1024)

/* type, how many strings its blob holds, the curve name its second string must be */
static const struct key_type {
	const char *name;
	int nstrings;
	const char *curve;
} key_types[] = {
	{ "ssh-ed25519", 2, NULL },
	{ "ssh-rsa", 3, NULL },
	{ "ecdsa-sha2-nistp256", 3, "nistp256" },
	{ "ecdsa-sha2-nistp384", 3, "nistp384" },
	{ "ecdsa-sha2-nistp521", 3, "nistp521" },
	{ "sk-ssh-ed25519@openssh.com", 3, NULL },
	{ "sk-ecdsa-sha2-nistp256@openssh.com", 4, "nistp256" },
};

#define TYPE_LIST "ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com or " \
		  "sk-ecdsa-sha2-nistp256@openssh.com"

int wo_validate_ssh_key_name(const char *s, struct wo_buf *err)
{
	static const char rule[] = "use 1-63 letters, digits, '_', '.' and '-', starting with a letter or digit";
	const char *why = NULL;
	if (!s || !*s)
		why = "is required";
	else if (strlen(s) > WO_SSH_KEY_NAME_MAX)
		why = "is longer than 63 characters";
	else if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9')))
		why = "must start with a letter or digit";
	else
		for (const char *p = s; *p && !why; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			      *p == '_' || *p == '.' || *p == '-'))
				why = "has a character that is not allowed";
	if (!why)
		return 0;
	if (err->len)
		wo_buf_putc(err, '\n');
	if (s && *s)
		wo_buf_printf(err, "key name '%.80s' %s: %s", s, why, rule);
	else
		wo_buf_printf(err, "key name %s: %s", why, rule);
	return -1;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Reads the i-th length-prefixed string of the blob. */
static int blob_strings(const unsigned char *b, size_t n, const unsigned char **s, size_t *len, int max, int *count)
{
	int k = 0;
	size_t off = 0;
	while (off < n) {
		if (n - off < 4 || k >= max)
			return -1;
		uint32_t l = (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 | (uint32_t)b[off + 2] << 8 | b[off + 3];
		off += 4;
		if (l > n - off)
			return -1;
		s[k] = b + off;
		len[k] = l;
		k++;
		off += l;
	}
	*count = k;
	return 0;
}

static int check_blob(const struct key_type *kt, const unsigned char *b, size_t n)
{
	const unsigned char *s[8];
	size_t len[8];
	int count = 0;
	if (blob_strings(b, n, s, len, 8, &count) < 0 || count < 1)
		return wo_error_set("the key data is damaged (it does not decode to an SSH public key): copy the whole "
				    "line of the .pub file");
	if (len[0] != strlen(kt->name) || memcmp(s[0], kt->name, len[0]) != 0)
		return wo_error_set("the key data says it is a '%.*s' key, but the line says '%s': copy the whole line "
				    "of the .pub file unchanged", (int)(len[0] < 64 ? len[0] : 64), (const char *)s[0],
				    kt->name);
	if (count != kt->nstrings)
		return wo_error_set("the key data of this '%s' key is damaged: copy the whole line of the .pub file",
				    kt->name);
	if (kt->curve && (len[1] != strlen(kt->curve) || memcmp(s[1], kt->curve, len[1]) != 0))
		return wo_error_set("the key data of this '%s' key names another curve: copy the whole line of the .pub "
				    "file", kt->name);
	if (!strcmp(kt->name, "ssh-ed25519") || !strcmp(kt->name, "sk-ssh-ed25519@openssh.com")) {
		if (len[1] != 32)
			return wo_error_set("the key data of this '%s' key is damaged (its key is not 32 bytes)", kt->name);
	} else if (!strcmp(kt->name, "ssh-rsa")) {
		size_t bits = len[2];
		const unsigned char *m = s[2];
		while (bits && *m == 0) {
			bits--;
			m++;
		}
		if (bits * 8 < 1024)
			return wo_error_set("this RSA key is too short (under 1024 bits; sshd refuses it): make a new key "
					    "with ssh-keygen -t ed25519");
	} else if (len[2] < 65) {
		return wo_error_set("the key data of this '%s' key is damaged (its point is too short)", kt->name);
	}
	return 0;
}

int wo_ssh_pubkey_parse(struct wo_ssh_pubkey *out, const char *text)
{
	if (!text)
		return wo_error_set("no key given");
	if (strstr(text, "PRIVATE KEY-----") || strstr(text, "PuTTY-User-Key-File"))
		return wo_error_set("this is a private key: give the public key instead, the .pub file next to it "
				    "(e.g. ~/.ssh/id_ed25519.pub); never hand out the private one");
	/* the one line that is not blank or a comment */
	const char *line = NULL;
	size_t line_len = 0;
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		const char *q = p;
		while (q < p + n && (is_space(*q) || *q == '\r'))
			q++;
		if (q < p + n && *q != '#') {
			if (line)
				return wo_error_set("the key file holds more than one key: give one key (one line) per name");
			line = q;
			line_len = (size_t)(p + n - q);
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	if (!line)
		return wo_error_set("no key found: give the public key, one line 'TYPE BASE64 [COMMENT]' as in "
				    "~/.ssh/id_ed25519.pub");
	while (line_len && (is_space(line[line_len - 1]) || line[line_len - 1] == '\r'))
		line_len--;
	for (size_t i = 0; i < line_len; i++)
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
			return wo_error_set("the key line holds control characters: give the .pub file as ssh-keygen "
					    "wrote it");
	/* TYPE */
	size_t tl = 0;
	while (tl < line_len && !is_space(line[tl]))
		tl++;
	const struct key_type *kt = NULL;
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strlen(key_types[i].name) == tl && !memcmp(key_types[i].name, line, tl))
			kt = &key_types[i];
	if (!kt) {
		if (!strncmp(line, "ssh-dss", 7))
			return wo_error_set("DSA keys ('ssh-dss') are not accepted (OpenSSH disabled them): use "
					    "ssh-keygen -t ed25519");
		return wo_error_set("'%.*s' is not a supported key type: use " TYPE_LIST
				    " (the line must start with the type, as in a .pub file)",
				    (int)(tl < 64 ? tl : 64), line);
	}
	/* BASE64 */
	const char *b = line + tl;
	while (b < line + line_len && is_space(*b))
		b++;
	size_t bl = 0;
	while (b + bl < line + line_len && !is_space(b[bl]))
		bl++;
	if (bl == 0)
		return wo_error_set("the key line has no key data after '%s': copy the whole line of the .pub file",
				    kt->name);
	if (bl > BLOB_MAX)
		return wo_error_set("the key data is too long (over %d characters)", BLOB_MAX);
	unsigned char *bin = malloc(bl);
	if (!bin)
		return wo_error_set("out of memory");
	size_t binlen = 0;
	const char *end = NULL;
	if (sodium_init() < 0 ||
	    sodium_base642bin(bin, bl, b, bl, NULL, &binlen, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != b + bl) {
		free(bin);
		return wo_error_set("the key data is not valid base64: copy the whole line of the .pub file");
	}
	if (check_blob(kt, bin, binlen) < 0) {
		free(bin);
		return -1;
	}
	unsigned char hash[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(hash, bin, binlen);
	free(bin);
	/* COMMENT */
	const char *c = b + bl;
	while (c < line + line_len && is_space(*c))
		c++;
	memset(out, 0, sizeof(*out));
	snprintf(out->type, sizeof(out->type), "%s", kt->name);
	out->blob = strndup(b, bl);
	out->comment = c < line + line_len ? strndup(c, (size_t)(line + line_len - c)) : NULL;
	char fp[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	sodium_bin2base64(fp, sizeof(fp), hash, sizeof(hash), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	snprintf(out->fingerprint, sizeof(out->fingerprint), "SHA256:%s", fp);
	if (!out->blob) {
		wo_ssh_pubkey_release(out);
		return wo_error_set("out of memory");
	}
	return 0;
}

void wo_ssh_pubkey_release(struct wo_ssh_pubkey *k)
{
	if (!k)
		return;
	free(k->blob);
	free(k->comment);
	k->blob = NULL;
	k->comment = NULL;
}

/* ---- the table ---- */

#define KEY_JSON \
	"json_build_object('name', name, 'type', key_type, 'fingerprint', fingerprint, 'comment', comment," \
	" 'key_data', key_data, 'user', (SELECT u.name FROM users u WHERE u.id = user_id)," \
	" 'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text"

int wo_ssh_key_set_user(PGconn *conn, const char *name, const char *user)
{
	const char *params[] = { name, user };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "UPDATE ssh_keys SET user_id = u.id FROM users u WHERE ssh_keys.name = $1 AND u.name = $2", 2,
		       params) < 0)
		return -1;
	int n = (int)strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	if (!n) {
		return wo_error_setc(WO_ENOTFOUND, "user '%s' not found ('webops user list' shows them)", user);
	}
	return 0;
}

int wo_ssh_key_add(json_t **out, PGconn *conn, const char *name, const struct wo_ssh_pubkey *k)
{
	struct wo_buf err = WO_BUF_INIT;
	if (wo_validate_ssh_key_name(name, &err) < 0) {
		wo_error_set("%s", err.ptr);
		wo_buf_release(&err);
		return -1;
	}
	const char *params[] = { name, k->type, k->blob, k->comment, k->fingerprint };
	PGresult *res;
	/* asked first, so the answer names the key even inside a transaction */
	if (wo_db_exec(&res, conn, "SELECT name FROM ssh_keys WHERE key_data = $1", 1, params + 2) < 0)
		return -1;
	if (PQntuples(res) == 1) {
		wo_error_set("this key (%s) is already added as '%s'", k->fingerprint, PQgetvalue(res, 0, 0));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (wo_db_exec(&res, conn,
		       "INSERT INTO ssh_keys (name, key_type, key_data, comment, fingerprint)"
		       " VALUES ($1, $2, $3, $4, $5) RETURNING " KEY_JSON,
		       5, params) < 0) {
		if (wo_error_code() != WO_EEXISTS)
			return -1;
		if (!strcmp(wo_db_last_constraint(), "ssh_keys_key_data_key"))
			return wo_error_setc(WO_EEXISTS, "this key (%s) is already added (under another name)", k->fingerprint);
		return wo_error_setc(WO_EEXISTS, "an SSH key named '%s' already exists: remove it first (webops ssh-key remove %s) "
				    "or pick another name", name, name);
	}
	int rc = wo_db_rows_json(out, res, 0, "an SSH key record");
	PQclear(res);
	return rc;
}

int wo_ssh_key_list(json_t **out, PGconn *conn)
{
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT " KEY_JSON " FROM ssh_keys ORDER BY name", 0, NULL) < 0)
		return -1;
	int rc = wo_db_rows_json(out, res, 1, "an SSH key record");
	PQclear(res);
	return rc;
}

int wo_ssh_key_get(json_t **out, PGconn *conn, const char *name)
{
	const char *params[] = { name };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT " KEY_JSON " FROM ssh_keys WHERE name = $1", 1, params) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "there is no SSH key named '%s' ('webops ssh-key list' shows them)", name);
	}
	int rc = wo_db_rows_json(out, res, 0, "an SSH key record");
	PQclear(res);
	return rc;
}

int wo_ssh_key_remove(PGconn *conn, const char *name)
{
	const char *params[] = { name };
	PGresult *res;
	if (wo_db_exec(&res, conn, "DELETE FROM ssh_keys WHERE name = $1", 1, params) < 0)
		return -1;
	int deleted = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	if (!deleted) {
		return wo_error_setc(WO_ENOTFOUND, "there is no SSH key named '%s' ('webops ssh-key list' shows them)", name);
	}
	return 0;
}

/* ---- authorized_keys ---- */

int wo_ssh_authorized_keys_path(char **out)
{
	const char *env = getenv("WEBOPS_SSH_AUTHORIZED_KEYS");
	if (env && *env) {
		if (env[0] != '/')
			return wo_error_set("WEBOPS_SSH_AUTHORIZED_KEYS '%s' must be an absolute path", env);
		*out = strdup(env);
		return 0;
	}
	struct passwd *pw = getpwuid(geteuid());
	const char *home = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : getenv("HOME");
	if (!home || home[0] != '/')
		return wo_error_set("cannot find the home directory of this account for ~/.ssh/authorized_keys: "
				    "set WEBOPS_SSH_AUTHORIZED_KEYS");
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_printf(&b, "%s/.ssh/authorized_keys", home);
	*out = wo_buf_detach(&b);
	return 0;
}

/* A path for the forced command, which sshd hands to the account's shell:
 * left bare when it holds only harmless characters, else single-quoted;
 * quotes, backslashes and control characters are refused. */
static int put_cmd_path(struct wo_buf *b, const char *what, const char *path)
{
	if (path[0] != '/')
		return wo_error_set("the %s '%s' is not an absolute path", what, path);
	int plain = 1;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\'' || *p == '"' || *p == '\\')
			return wo_error_set("the %s '%s' holds a quote, backslash or control character, which an "
					    "authorized_keys command cannot carry safely: move it", what, path);
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("/._+,:@%-", *p)))
			plain = 0;
	}
	if (plain)
		wo_buf_puts(b, path);
	else
		wo_buf_printf(b, "'%s'", path);
	return 0;
}

/* The name of the key a line of ours is for, or 0 when the line is not ours. */
static int line_owner(char *name, size_t cap, const char *line, size_t len)
{
	static const char head[] = "restrict,command=\"";
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len < sizeof(head) || memcmp(line, head, sizeof(head) - 1) != 0)
		return 0;
	const char *close = memchr(line + sizeof(head) - 1, '"', len - (sizeof(head) - 1));
	if (!close || !memmem(line, (size_t)(close - line), " git-shell ", 11))
		return 0;
	const char *last = line + len;
	while (last > close && !is_space(last[-1]))
		last--;
	size_t n = (size_t)(line + len - last);
	if (n <= 7 || memcmp(last, "webops:", 7) != 0 || n - 7 >= cap)
		return 0;
	memcpy(name, last + 7, n - 7);
	name[n - 7] = '\0';
	struct wo_buf err = WO_BUF_INIT;
	int ok = wo_validate_ssh_key_name(name, &err) == 0;
	wo_buf_release(&err);
	return ok;
}

static int key_line(struct wo_buf *b, const json_t *key, const char *webops_path, const char *data_dir)
{
	const char *name = json_string_value(json_object_get(key, "name"));
	const char *type = json_string_value(json_object_get(key, "type"));
	const char *blob = json_string_value(json_object_get(key, "key_data"));
	struct wo_buf err = WO_BUF_INIT;
	if (!name || !type || !blob || wo_validate_ssh_key_name(name, &err) < 0 ||
	    strspn(blob, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != strlen(blob) ||
	    strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789-@.") != strlen(type)) {
		wo_buf_release(&err);
		return wo_error_set("the SSH key record '%s' is damaged: remove it and add it again", name ? name : "?");
	}
	wo_buf_puts(b, "restrict,command=\"");
	if (put_cmd_path(b, "webops program", webops_path) < 0)
		return -1;
	wo_buf_puts(b, " --data-dir ");
	if (put_cmd_path(b, "data directory", data_dir) < 0)
		return -1;
	wo_buf_printf(b, " git-shell %s\" %s %s webops:%s\n", name, type, blob, name);
	return 0;
}

int wo_ssh_authorized_keys_sync(const char *path, const json_t *keys, const char *webops_path, const char *data_dir)
{
	char *cur = NULL;
	size_t cur_len = 0;
	struct stat st;
	int exists = stat(path, &st) == 0;
	if (exists && wo_fs_read_file(&cur, &cur_len, path, AUTHORIZED_KEYS_MAX) < 0)
		return wo_error_prefix("cannot update the authorized_keys file");
	if (!exists && errno != ENOENT)
		return wo_error_set("cannot read '%s': %s", path, strerror(errno));
	size_t nkeys = json_array_size(keys);
	char *written = calloc(nkeys + 1, 1);
	struct wo_buf next = WO_BUF_INIT;
	int rc = -1;
	if (!written) {
		wo_error_set("out of memory");
		goto out;
	}
	/* a last line without a newline stays last and unterminated: new lines
	 * go before it, so removing them gives back the very same bytes */
	size_t body_len = cur_len;
	if (cur_len && cur[cur_len - 1] != '\n') {
		const char *nl = memrchr(cur, '\n', cur_len);
		body_len = nl ? (size_t)(nl - cur) + 1 : 0;
	}
	/* our lines are rewritten in place (or dropped); others are copied as they are */
	for (size_t off = 0; off < body_len;) {
		const char *nl = memchr(cur + off, '\n', body_len - off);
		size_t n = nl ? (size_t)(nl - (cur + off)) + 1 : body_len - off;
		char owner[WO_SSH_KEY_NAME_MAX + 2];
		if (line_owner(owner, sizeof(owner), cur + off, n)) {
			for (size_t i = 0; i < nkeys; i++) {
				const json_t *k = json_array_get(keys, i);
				if (!written[i] && !strcmp(owner, json_string_value(json_object_get(k, "name")))) {
					if (key_line(&next, k, webops_path, data_dir) < 0)
						goto out;
					written[i] = 1;
					break;
				}
			}
		} else {
			wo_buf_add(&next, cur + off, n);
		}
		off += n;
	}
	for (size_t i = 0; i < nkeys; i++) {
		if (written[i])
			continue;
		if (key_line(&next, json_array_get(keys, i), webops_path, data_dir) < 0)
			goto out;
	}
	if (body_len < cur_len) {
		char owner[WO_SSH_KEY_NAME_MAX + 2];
		/* an unterminated line of ours (edited by hand) is dropped with the rest */
		if (!line_owner(owner, sizeof(owner), cur + body_len, cur_len - body_len))
			wo_buf_add(&next, cur + body_len, cur_len - body_len);
	}
	if ((exists && next.len == cur_len && (cur_len == 0 || !memcmp(next.ptr, cur, cur_len))) ||
	    (!exists && next.len == 0)) {
		rc = 0;
		goto out;
	}
	/* write where a symlinked file really lives, so the link stays */
	char real[PATH_MAX];
	const char *target = exists && realpath(path, real) ? real : path;
	char *dir = strdup(target);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash && slash != dir) {
		*slash = '\0';
		struct stat ds;
		if (stat(dir, &ds) != 0 && wo_fs_mkdir_p(dir, 0700) < 0) {
			free(dir);
			goto out;
		}
	}
	free(dir);
	/* never a partial authorized_keys file */
	if (wo_buf_failed(&next)) {
		wo_error_setc(WO_ENOMEM, "cannot write '%s': out of memory", target);
		goto out;
	}
	if (wo_fs_write_file_atomic(target, next.len ? next.ptr : "", next.len, 0600) < 0)
		goto out;
	chmod(target, 0600);
	rc = 0;
out:
	free(written);
	free(cur);
	wo_buf_release(&next);
	return rc;
}
