/* Sealing secrets at rest with libsodium's secretbox, and the key file they
 * are sealed with (created once, atomically, readable by its owner only). */
#include "util/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/banned.h"

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static char key_path[PATH_MAX];
static int key_from_env;      /* the path came from $WEBOPS_SECRET_KEY_FILE */
static int key_configured;
static int key_loaded;
static unsigned char key[WO_SECRET_KEY_BYTES];

static void configure_locked(const char *data_dir)
{
	const char *f = getenv("WEBOPS_SECRET_KEY_FILE");
	key_from_env = f && *f;
	key_path[0] = '\0';
	if (key_from_env)
		snprintf(key_path, sizeof(key_path), "%s", f);
	else if (data_dir && *data_dir)
		snprintf(key_path, sizeof(key_path), "%s/secret.key", data_dir);
	key_configured = 1;
}

void wo_secret_configure(const char *data_dir)
{
	pthread_mutex_lock(&key_lock);
	configure_locked(data_dir);
	if (key_loaded) {
		sodium_memzero(key, sizeof(key));
		key_loaded = 0;
	}
	pthread_mutex_unlock(&key_lock);
}

static const char *path_locked(void)
{
	if (!key_configured)
		configure_locked(getenv("WEBOPS_DATA_DIR"));
	return key_path[0] ? key_path : NULL;
}

const char *wo_secret_key_path(void)
{
	pthread_mutex_lock(&key_lock);
	const char *p = path_locked();
	pthread_mutex_unlock(&key_lock);
	return p;
}

int wo_secret_is_sealed(const char *value)
{
	return value && !strncmp(value, WO_SECRET_PREFIX, strlen(WO_SECRET_PREFIX));
}

/* Reads the key at path into key; ENOENT is returned as 1 (no error set). */
static int read_key(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		return wo_error_set("cannot read the secret key '%s': %s", path, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return wo_error_set("the secret key '%s' is not a regular file", path);
	}
	if (st.st_mode & S_IRWXO) {
		close(fd);
		return wo_error_set("the secret key '%s' is open to every user (mode %04o): chmod 600 '%s'", path,
				    (unsigned)(st.st_mode & 07777), path);
	}
	unsigned char raw[160];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, raw + len, sizeof(raw) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return wo_error_set("cannot read the secret key '%s': %s", path, strerror(e));
		}
		if (n == 0 || (len += (size_t)n) == sizeof(raw))
			break;
	}
	close(fd);
	int rc = 0;
	if (len == WO_SECRET_KEY_BYTES) {
		memcpy(key, raw, WO_SECRET_KEY_BYTES);
	} else {
		/* or 64 hex digits (openssl rand -hex 32), a newline allowed */
		while (len && (raw[len - 1] == '\n' || raw[len - 1] == '\r' || raw[len - 1] == ' '))
			len--;
		size_t got = 0;
		if (len != 2 * WO_SECRET_KEY_BYTES ||
		    sodium_hex2bin(key, sizeof(key), (const char *)raw, len, NULL, &got, NULL) != 0 ||
		    got != WO_SECRET_KEY_BYTES)
			rc = wo_error_set("the secret key '%s' is not a key: expected 32 bytes or 64 hex digits", path);
	}
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

/* Makes a new key file at path: written under a temporary name, then linked
 * into place only if no file is there yet, so two processes starting at
 * once end up with the same key. 0: made (or found) and loaded. */
static int create_key(const char *path)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
	if (wo_fs_mkdir_p(dir, 0700) < 0)
		return wo_error_prefix("cannot create the secret key '%s'", path);
	snprintf(tmp, sizeof(tmp), "%s.new.%ld.%08x", path, (long)getpid(), (unsigned)randombytes_random());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return wo_error_set("cannot create the secret key '%s': %s", path, strerror(errno));
	unsigned char fresh[WO_SECRET_KEY_BYTES];
	randombytes_buf(fresh, sizeof(fresh));
	ssize_t n;
	do
		n = write(fd, fresh, sizeof(fresh));
	while (n < 0 && errno == EINTR);
	int e = n == (ssize_t)sizeof(fresh) ? 0 : n < 0 ? errno : EIO;
	if (!e && fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && !e)
		e = errno;
	sodium_memzero(fresh, sizeof(fresh));
	if (!e && link(tmp, path) != 0) {
		e = errno;
		if (e != EEXIST && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
			e = 0; /* a filesystem without hard links */
	}
	unlink(tmp);
	if (e && e != EEXIST)
		return wo_error_set("cannot create the secret key '%s': %s", path, strerror(e));
	fsync_dir(dir);
	/* ours, or the one another process linked first */
	int r = read_key(path);
	if (r == 1)
		return wo_error_set("cannot create the secret key '%s': it vanished after it was made", path);
	return r;
}

int wo_secret_key_load(int create)
{
	pthread_mutex_lock(&key_lock);
	int rc = 0;
	if (key_loaded)
		goto out;
	const char *path = path_locked();
	if (!path) {
		rc = wo_error_set("no secret key: set WEBOPS_DATA_DIR (the key is DATA_DIR/secret.key) or "
				  "WEBOPS_SECRET_KEY_FILE");
		goto out;
	}
	int r = read_key(path);
	if (r == 1 && create && !key_from_env)
		r = create_key(path);
	else if (r == 1 && key_from_env)
		r = wo_error_set("the secret key '%s' (WEBOPS_SECRET_KEY_FILE) does not exist: make one with "
				 "'head -c 32 /dev/urandom > %s; chmod 600 %s', or restore it from its backup",
				 path, path, path);
	else if (r == 1)
		r = wo_error_set("the secret key '%s' does not exist", path);
	if (r < 0) {
		sodium_memzero(key, sizeof(key));
		rc = -1;
		goto out;
	}
	key_loaded = 1;
out:
	pthread_mutex_unlock(&key_lock);
	return rc;
}

int wo_secret_key_exists(void)
{
	const char *p = wo_secret_key_path();
	struct stat st;
	return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int wo_secret_key_fingerprint(char *dst, size_t cap)
{
	if (!key_loaded && wo_secret_key_load(0) < 0)
		return -1;
	static const char label[] = "webops secret key fingerprint v1";
	unsigned char h[16];
	crypto_generichash(h, sizeof(h), (const unsigned char *)label, sizeof(label) - 1, key, sizeof(key));
	if (cap < 2 * sizeof(h) + 1)
		return wo_error_set("fingerprint buffer too small");
	sodium_bin2hex(dst, cap, h, sizeof(h));
	return 0;
}

int wo_secret_seal(char **out, const char *plain, size_t len)
{
	if (wo_secret_key_load(1) < 0)
		return wo_error_prefix("cannot encrypt a secret");
	size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
	unsigned char *blob = malloc(blen);
	if (!blob)
		return wo_error_set("out of memory");
	randombytes_buf(blob, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(blob + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len, blob, key);
	size_t plen = strlen(WO_SECRET_PREFIX);
	size_t b64 = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(plen + b64);
	if (!s) {
		free(blob);
		return wo_error_set("out of memory");
	}
	memcpy(s, WO_SECRET_PREFIX, plen);
	sodium_bin2base64(s + plen, b64, blob, blen, sodium_base64_VARIANT_ORIGINAL);
	free(blob);
	*out = s;
	return 0;
}

int wo_secret_open(char **out, const char *stored, const char *what)
{
	if (!wo_secret_is_sealed(stored)) {
		/* stored before secrets were encrypted: as it is until re-sealed */
		char *s = strdup(stored ? stored : "");
		if (!s)
			return wo_error_set("out of memory");
		*out = s;
		return 0;
	}
	const char *b64 = stored + strlen(WO_SECRET_PREFIX);
	size_t b64len = strlen(b64), cap = b64len / 4 * 3 + 3, blen = 0;
	unsigned char *blob = malloc(cap ? cap : 1);
	if (!blob)
		return wo_error_set("out of memory");
	if (sodium_base642bin(blob, cap, b64, b64len, NULL, &blen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
		free(blob);
		return wo_error_set("cannot decrypt %s: the stored value is damaged (not a sealed secret)", what);
	}
	if (wo_secret_key_load(0) < 0) {
		free(blob);
		const char *p = wo_secret_key_path();
		if (p && !wo_secret_key_exists())
			return wo_error_set("cannot decrypt %s: the key file '%s' is missing: restore it from the "
					    "backup made with the database (or point WEBOPS_SECRET_KEY_FILE at it)", what, p);
		return wo_error_prefix("cannot decrypt %s", what);
	}
	size_t mlen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
	char *m = malloc(mlen + 1);
	if (!m) {
		free(blob);
		return wo_error_set("out of memory");
	}
	int bad = crypto_secretbox_open_easy((unsigned char *)m, blob + crypto_secretbox_NONCEBYTES,
					     blen - crypto_secretbox_NONCEBYTES, blob, key) != 0;
	free(blob);
	if (bad || memchr(m, '\0', mlen)) {
		sodium_memzero(m, mlen + 1);
		free(m);
		if (!bad)
			return wo_error_set("cannot decrypt %s: the stored value is damaged", what);
		return wo_error_set("cannot decrypt %s: the key in '%s' does not match the one it was stored with",
				    what, wo_secret_key_path());
	}
	m[mlen] = '\0';
	*out = m;
	return 0;
}

void wo_secret_free(char *s)
{
	if (!s)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}

void wo_secret_forget(void)
{
	/* no lock: called in a freshly forked child, where a lock held by
	 * another thread of the parent would never be released */
	sodium_memzero(key, sizeof(key));
	key_loaded = 0;
}

int wo_secret_read_file(char **out, const char *path, size_t max, const char *what)
{
	char *s = NULL;
	size_t len = 0;
	if (wo_fs_read_file(&s, &len, path, max) < 0)
		return wo_error_prefix("cannot read %s", what);
	if (strlen(s) != len) {
		wo_secret_free(s);
		return wo_error_set("cannot read %s from '%s': it holds a NUL byte", what, path);
	}
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	if (!len) {
		free(s);
		return wo_error_set("cannot read %s from '%s': the file is empty", what, path);
	}
	*out = s;
	return 0;
}
