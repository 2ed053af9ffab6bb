/* util/secret: sealing and opening values, the key file (made once, 0600,
 * the same key when several processes make it at once), and the messages
 * for a wrong, missing or open-to-all key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sodium.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/secret.h"

static char dir[256], keyfile[300];

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' not in '%s'", needle, hay);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/wo-secret-test.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	/* the data directory may not exist yet: the key's folder is made */
	snprintf(keyfile, sizeof(keyfile), "%s/data/secret.key", dir);
	unsetenv("WEBOPS_SECRET_KEY_FILE");
	char data[300];
	snprintf(data, sizeof(data), "%s/data", dir);
	wo_secret_configure(data);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	wo_secret_forget();
	wo_fs_rm_rf(dir);
	unsetenv("WEBOPS_SECRET_KEY_FILE");
	return 0;
}

static void test_roundtrip(void **state)
{
	(void)state;
	assert_false(wo_secret_key_exists());
	char *a = NULL, *b = NULL, *back = NULL;
	assert_int_equal(wo_secret_seal(&a, "ghp_s3cr3t", 10), 0);
	assert_true(wo_secret_is_sealed(a));
	assert_null(strstr(a, "s3cr3t"));
	/* the key was made on first use: 32 bytes, 0600 */
	struct stat st;
	assert_int_equal(stat(keyfile, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(st.st_uid, geteuid());
	/* a random nonce per value: the same text seals differently */
	assert_int_equal(wo_secret_seal(&b, "ghp_s3cr3t", 10), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(wo_secret_open(&back, a, "the test value"), 0);
	assert_string_equal(back, "ghp_s3cr3t");
	wo_secret_free(back);
	assert_int_equal(wo_secret_open(&back, b, "the test value"), 0);
	assert_string_equal(back, "ghp_s3cr3t");
	wo_secret_free(back);
	/* empty and long values */
	char *e = NULL;
	assert_int_equal(wo_secret_seal(&e, "", 0), 0);
	assert_int_equal(wo_secret_open(&back, e, "x"), 0);
	assert_string_equal(back, "");
	wo_secret_free(back);
	free(e);
	char big[70000];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(wo_secret_seal(&e, big, strlen(big)), 0);
	assert_int_equal(wo_secret_open(&back, e, "x"), 0);
	assert_string_equal(back, big);
	wo_secret_free(back);
	free(e);
	free(a);
	free(b);
}

static void test_plaintext_passes(void **state)
{
	(void)state;
	char *back = NULL;
	/* a value stored before encryption reads as it is, and needs no key */
	assert_int_equal(wo_secret_open(&back, "0123abcd", "the webhook secret of 'blog'"), 0);
	assert_string_equal(back, "0123abcd");
	wo_secret_free(back);
	assert_false(wo_secret_key_exists());
	assert_false(wo_secret_is_sealed("v2:abc"));
	assert_false(wo_secret_is_sealed(NULL));
}

static void write_key(const char *path, const unsigned char *k, size_t n, int mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, k, n), (ssize_t)n);
	fchmod(fd, (mode_t)mode);
	close(fd);
}

static void test_wrong_and_missing_key(void **state)
{
	(void)state;
	char *sealed = NULL, *back = NULL;
	assert_int_equal(wo_secret_seal(&sealed, "tok", 3), 0);
	/* another key in its place */
	unsigned char other[32];
	randombytes_buf(other, sizeof(other));
	write_key(keyfile, other, sizeof(other), 0600);
	wo_secret_forget();
	assert_int_equal(wo_secret_open(&back, sealed, "the webhook secret of 'blog'"), -1);
	char want[600];
	snprintf(want, sizeof(want), "cannot decrypt the webhook secret of 'blog': the key in '%s' does not match the one "
		 "it was stored with", keyfile);
	assert_string_equal(wo_error_last(), want);
	/* no key at all: said so, and reading makes no new one */
	unlink(keyfile);
	wo_secret_forget();
	assert_int_equal(wo_secret_open(&back, sealed, "the https token of 'blog'"), -1);
	assert_contains(wo_error_last(), "cannot decrypt the https token of 'blog': the key file '");
	assert_contains(wo_error_last(), "is missing: restore it from the backup made with the database");
	assert_false(wo_secret_key_exists());
	/* a damaged value */
	assert_int_equal(wo_secret_open(&back, "v1:!!notbase64", "the value"), -1);
	assert_contains(wo_error_last(), "cannot decrypt the value: the stored value is damaged");
	assert_int_equal(wo_secret_open(&back, "v1:AAAA", "the value"), -1);
	assert_contains(wo_error_last(), "damaged");
	free(sealed);
}

static void test_key_file_forms(void **state)
{
	(void)state;
	char path[400];
	snprintf(path, sizeof(path), "%s/given.key", dir);
	/* 64 hex digits (openssl rand -hex 32) with a newline */
	unsigned char k[32];
	randombytes_buf(k, sizeof(k));
	char hex[66];
	sodium_bin2hex(hex, 65, k, sizeof(k));
	strcat(hex, "\n");
	write_key(path, (unsigned char *)hex, strlen(hex), 0400);
	setenv("WEBOPS_SECRET_KEY_FILE", path, 1);
	wo_secret_configure("/nonexistent");
	assert_string_equal(wo_secret_key_path(), path);
	char *sealed = NULL, *back = NULL;
	assert_int_equal(wo_secret_seal(&sealed, "abc", 3), 0);
	/* the same key as raw bytes opens it */
	write_key(path, k, sizeof(k), 0600);
	wo_secret_configure(NULL);
	assert_int_equal(wo_secret_open(&back, sealed, "x"), 0);
	assert_string_equal(back, "abc");
	wo_secret_free(back);
	free(sealed);
	/* open to every user: refused, with the fix */
	chmod(path, 0644);
	wo_secret_configure(NULL);
	assert_int_equal(wo_secret_key_load(0), -1);
	assert_contains(wo_error_last(), "is open to every user (mode 0644): chmod 600");
	/* not a key */
	write_key(path, (const unsigned char *)"short\n", 6, 0600);
	wo_secret_configure(NULL);
	assert_int_equal(wo_secret_key_load(0), -1);
	assert_contains(wo_error_last(), "is not a key: expected 32 bytes or 64 hex digits");
	/* a named file that does not exist is not made up */
	unlink(path);
	wo_secret_configure(NULL);
	assert_int_equal(wo_secret_seal(&sealed, "abc", 3), -1);
	assert_contains(wo_error_last(), "(WEBOPS_SECRET_KEY_FILE) does not exist: make one with");
	struct stat st;
	assert_int_equal(stat(path, &st), -1);
}

/* Processes making the key at the same moment end up with one key. */
static void test_concurrent_creation(void **state)
{
	(void)state;
	enum { N = 8 };
	int pipes[N][2];
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		assert_int_equal(pipe(pipes[i]), 0);
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char fp[64] = "";
			if (wo_secret_key_load(1) == 0)
				wo_secret_key_fingerprint(fp, sizeof(fp));
			(void)!write(pipes[i][1], fp, strlen(fp));
			_exit(0);
		}
		close(pipes[i][1]);
	}
	char first[64] = "";
	for (int i = 0; i < N; i++) {
		char fp[64] = "";
		ssize_t n = read(pipes[i][0], fp, sizeof(fp) - 1);
		close(pipes[i][0]);
		int status;
		waitpid(pids[i], &status, 0);
		assert_true(n == 32);
		if (!first[0])
			memcpy(first, fp, sizeof(first));
		assert_string_equal(fp, first);
	}
	char mine[64];
	assert_int_equal(wo_secret_key_load(0), 0);
	assert_int_equal(wo_secret_key_fingerprint(mine, sizeof(mine)), 0);
	assert_string_equal(mine, first);
	/* nothing left behind but the key */
	char data[300];
	snprintf(data, sizeof(data), "%s/data", dir);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = secret.key", data);
	assert_int_equal(system(cmd), 0);
}

static void test_read_file(void **state)
{
	(void)state;
	char path[400], *v = NULL;
	snprintf(path, sizeof(path), "%s/url", dir);
	assert_int_equal(wo_fs_write_file_atomic(path, "host=/x password=p\n\n", 20, 0600), 0);
	assert_int_equal(wo_secret_read_file(&v, path, 4096, "the database URL"), 0);
	assert_string_equal(v, "host=/x password=p");
	wo_secret_free(v);
	assert_int_equal(wo_fs_write_file_atomic(path, "\n", 1, 0600), 0);
	assert_int_equal(wo_secret_read_file(&v, path, 4096, "the database URL"), -1);
	assert_contains(wo_error_last(), "the file is empty");
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(wo_secret_read_file(&v, path, 4096, "the database URL"), -1);
	assert_contains(wo_error_last(), "cannot read the database URL");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plaintext_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_and_missing_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_file_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_creation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
