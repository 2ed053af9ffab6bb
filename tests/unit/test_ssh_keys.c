/* SSH keys for pushing: public key lines as ssh-keygen writes them (every
 * accepted type, with the fingerprint ssh-keygen -l prints), the refusals
 * (private keys, damaged or mismatched blobs), the authorized_keys file
 * (only webops' lines change, the others stay byte for byte), and the
 * strict parse of what an SSH client asks to run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "git/hosted.h"
#include "store/ssh_keys.h"
#include "util/error.h"
#include "util/fs.h"

/* keys made with ssh-keygen; fingerprints from ssh-keygen -lf */
static const struct {
	const char *line;
	const char *fingerprint;
} keys[] = {
	{ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJkdx/DbGXweH3lu/5z0Vr9EkLEDwQvvfox20h0ReJBQ c-ed25519",
	  "SHA256:BmkGtIqV0XG9lKgHwIkL0svNvO8dGYZjBzUkB62hkho" },
	{ "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC8PQZ1YHodXpdsZ3qszMCvo1fphA1A2oqW4IccmuPUD7jLgbCIReeYu5FNV1CRnl4MOG9NefCHbTIfW3cnAazKvh9vOmUbA1gy1vyQyaIqdPpFbm+ymvqc8DAwQsWqVD2TDGllvkkRqfky8RTKQWU3VJH6IFPx7MjZ34JTEgsTqgEQe+QSvXpab2Pf5CJczuR7msrqbFFriSr0d+qRZAVVd6mfuN4ePmBTsHuuqHwprCr5RYcDJhhyQQxJyN86UJqRu+QXO2Wb9MrzKsD9yxHNLqF9FRywLViMolY1M2o2RIK7c7XxJysHsqdMRx5df+86UNUNEAOfIlrqLMzZ46yb c-rsab2048",
	  "SHA256:c4X0clhlKLCyvf61wL5IKAXJ7SlYSYGD6xVbSwzkajo" },
	{ "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDFTq56HcmwkkoUAxwTadFrJWtOwlWxOrK/rvFBXo3GiXcLma+KScb25DudECpXM7fxJ2+r4SvbM5dbVVMSZdSeI9xrQ7HMaBA9xIAujFa+Rfz0D+w/GPxrLjGq/nB4bZzE0Bal2nJJhVxWvltbSRTSbzdoWQczyHT4GutScyCtQQ== c-rsab1024",
	  "SHA256:K+FId53dZaGCM+/kHW+sa+1o0mVD96Lawt801MlX6DM" },
	{ "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDTF+1YOnqgzNpujqBtIUllq6KtvvvSeA3e2z88XVF6aNXgkzZ/8yG+6yjg87i1PbKtAnIcSf4MvWToIY9X0YZ0= c-ecdsab256",
	  "SHA256:KoEWUaGOx5w4BEFKhgaiAOID9LqoGe/9YIkjjuDF4HM" },
	{ "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBCa4u5Men1WT8F2NmFGYd8ptByLJ2I1wd9Itf66wCbMjeYxKLDkuO3PE5YER6hEynN3szaZniRfyOM5SJfldKiApsPyBdHByjebSa9aJrulDxUYnJLgC+m9ErStN5km6Pw== c-ecdsab384",
	  "SHA256:cjqcvJ1qgvihzDljBzpK6wOHxhhhmwe3IqoEh+8+YLI" },
	{ "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAGZmHmxlXAMw18XRU9VGmnac/htP+L/JcGaXZcW/6KXhTGrcr9itzHid88n38tlVZDXrXvHXhOh9sahNAWUWmYp8AFq085mn/Hc/KUBMINyjc+rdcnUcBZNDk71RPXztAkbe9Q+2OXcOnB/az21U1goznNBqdT2TUy+9DHV6GrO/8vSLw== c-ecdsab521",
	  "SHA256:QHXaGkbLumVOUx05ao4VvMgxoEGd9vJu8rnnaOQXQF4" },
	{ "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAAAABHNzaDo= c-sk",
	  "SHA256:/p0CbeE3dk2SyW1OXXsThGc12ezDVD8eGw2/vtztDfk" },
};

static void test_parse_accepts_every_type(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct wo_ssh_pubkey k;
		int r = wo_ssh_pubkey_parse(&k, keys[i].line);
		if (r != 0)
			print_error("refused '%.40s...': %s\n", keys[i].line, wo_error_last());
		assert_int_equal(r, 0);
		assert_string_equal(k.fingerprint, keys[i].fingerprint);
		assert_int_equal(strncmp(keys[i].line, k.type, strlen(k.type)), 0);
		assert_non_null(k.comment);
		assert_int_equal(strncmp(k.comment, "c-", 2), 0);
		wo_ssh_pubkey_release(&k);
	}
}

static void test_parse_file_forms(void **state)
{
	(void)state;
	struct wo_ssh_pubkey k;
	struct wo_buf b = WO_BUF_INIT;
	/* comments, blank lines, CRLF and no comment at all */
	wo_buf_printf(&b, "# my laptop\n\n  %.80s\r\n", keys[0].line);
	assert_int_equal(wo_ssh_pubkey_parse(&k, b.ptr), 0);
	assert_string_equal(k.type, "ssh-ed25519");
	assert_null(k.comment);
	assert_string_equal(k.fingerprint, keys[0].fingerprint);
	wo_ssh_pubkey_release(&k);
	wo_buf_release(&b);
}

static void expect_refused(const char *text, const char *words)
{
	struct wo_ssh_pubkey k;
	int r = wo_ssh_pubkey_parse(&k, text);
	if (r == 0 || !strstr(wo_error_last(), words))
		print_error("for '%.60s': wanted an error with '%s', got %d '%s'\n", text, words, r, wo_error_last());
	assert_int_equal(r, -1);
	assert_non_null(strstr(wo_error_last(), words));
}

static void test_parse_refusals(void **state)
{
	(void)state;
	expect_refused("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n"
		       "-----END OPENSSH PRIVATE KEY-----\n", "the .pub file");
	expect_refused("-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----\n", "private key");
	expect_refused("", "no key found");
	expect_refused("# only a comment\n", "no key found");
	expect_refused("ssh-dss AAAAB3NzaC1kc3M= x", "DSA keys");
	expect_refused("ssh-foo AAAA x", "not a supported key type");
	expect_refused("restrict ssh-ed25519 AAAA x", "not a supported key type");
	expect_refused("ssh-ed25519", "no key data");
	expect_refused("ssh-ed25519 not*base64 x", "not valid base64");
	expect_refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAEAAAAAAAAAAAAAAAAAAAAAA= short", "not 32 bytes");
	expect_refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAXg= extra",
		       "damaged");
	expect_refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAD6A== truncated", "damaged");
	/* an ed25519 blob that says ssh-rsa on the line */
	char *swapped = strdup(keys[0].line);
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_printf(&b, "ssh-rsa %s", strchr(swapped, ' ') + 1);
	expect_refused(b.ptr, "says it is a 'ssh-ed25519' key, but the line says 'ssh-rsa'");
	wo_buf_release(&b);
	free(swapped);
	/* two keys in one file */
	wo_buf_printf(&b, "%s\n%s\n", keys[0].line, keys[1].line);
	expect_refused(b.ptr, "more than one key");
	wo_buf_release(&b);
	/* control characters */
	wo_buf_printf(&b, "%s\x01", keys[0].line);
	expect_refused(b.ptr, "control characters");
	wo_buf_release(&b);
}

static void test_key_names(void **state)
{
	(void)state;
	const char *good[] = { "laptop", "ci.deploy-1", "A_b", "9x" };
	const char *bad[] = { "", "-x", ".x", "a b", "a/b", "a\"b", "webops:x" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct wo_buf err = WO_BUF_INIT;
		assert_int_equal(wo_validate_ssh_key_name(good[i], &err), 0);
		wo_buf_release(&err);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wo_buf err = WO_BUF_INIT;
		assert_int_equal(wo_validate_ssh_key_name(bad[i], &err), -1);
		assert_non_null(strstr(wo_buf_cstr(&err), "key name"));
		wo_buf_release(&err);
	}
}

static json_t *key_record(const char *name, const char *line)
{
	struct wo_ssh_pubkey k;
	assert_int_equal(wo_ssh_pubkey_parse(&k, line), 0);
	json_t *j = json_pack("{s:s, s:s, s:s}", "name", name, "type", k.type, "key_data", k.blob);
	wo_ssh_pubkey_release(&k);
	return j;
}

static char *slurp(const char *path)
{
	char *s = NULL;
	assert_int_equal(wo_fs_read_file(&s, NULL, path, 1 << 20), 0);
	return s;
}

static void test_authorized_keys(void **state)
{
	(void)state;
	char dir[] = "/tmp/wo-sshkeys.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct wo_buf path = WO_BUF_INIT, orig = WO_BUF_INIT;
	/* the directory does not exist yet: it is made 0700 */
	wo_buf_printf(&path, "%s/dot ssh/authorized_keys", dir);
	json_t *one = json_array();
	json_array_append_new(one, key_record("laptop", keys[0].line));
	assert_int_equal(wo_ssh_authorized_keys_sync(path.ptr, one, "/usr/bin/webops", "/var/lib/my data"), 0);
	struct stat st;
	struct wo_buf d = WO_BUF_INIT;
	wo_buf_printf(&d, "%s/dot ssh", dir);
	assert_int_equal(stat(d.ptr, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(path.ptr, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char *s = slurp(path.ptr);
	struct wo_buf want = WO_BUF_INIT;
	/* a path with a space is single-quoted for the shell sshd runs the command with */
	wo_buf_printf(&want, "restrict,command=\"/usr/bin/webops --data-dir '/var/lib/my data' git-shell laptop\" %.*s webops:laptop\n",
		      (int)(strrchr(keys[0].line, ' ') - keys[0].line), keys[0].line);
	assert_string_equal(s, want.ptr);
	free(s);

	/* the operator's lines, the last one without a newline */
	wo_buf_printf(&orig, "# by hand\n%s\n\ncommand=\"/bin/false\" %s", keys[1].line, keys[2].line);
	assert_int_equal(wo_fs_write_file_atomic(path.ptr, orig.ptr, orig.len, 0600), 0);
	json_array_append_new(one, key_record("ci", keys[3].line));
	assert_int_equal(wo_ssh_authorized_keys_sync(path.ptr, one, "/usr/bin/webops", "/srv/webops"), 0);
	s = slurp(path.ptr);
	assert_non_null(strstr(s, "git-shell laptop\""));
	assert_non_null(strstr(s, "git-shell ci\""));
	assert_int_equal(strncmp(s, orig.ptr, strlen("# by hand\n") + strlen(keys[1].line) + 2), 0);
	/* the unterminated line is still last and unterminated */
	const char *tail = strrchr(orig.ptr, '\n') + 1;
	assert_string_equal(s + strlen(s) - strlen(tail), tail);
	free(s);

	/* our lines are rewritten in place: a new data directory changes them */
	assert_int_equal(wo_ssh_authorized_keys_sync(path.ptr, one, "/usr/bin/webops", "/srv/other"), 0);
	s = slurp(path.ptr);
	assert_null(strstr(s, "/srv/webops"));
	assert_non_null(strstr(s, "--data-dir /srv/other git-shell ci"));
	free(s);

	/* removing every key gives back the operator's bytes exactly */
	json_t *none = json_array();
	assert_int_equal(wo_ssh_authorized_keys_sync(path.ptr, none, "/usr/bin/webops", "/srv/webops"), 0);
	s = slurp(path.ptr);
	assert_string_equal(s, orig.ptr);
	free(s);

	/* a path a forced command cannot carry safely */
	assert_int_equal(wo_ssh_authorized_keys_sync(path.ptr, one, "/usr/bin/we'bops", "/srv/webops"), -1);
	assert_non_null(strstr(wo_error_last(), "quote"));
	s = slurp(path.ptr);
	assert_string_equal(s, orig.ptr);
	free(s);

	json_decref(one);
	json_decref(none);
	wo_fs_rm_rf(dir);
	wo_buf_release(&path);
	wo_buf_release(&orig);
	wo_buf_release(&want);
	wo_buf_release(&d);
}

static void test_ssh_command(void **state)
{
	(void)state;
	static const struct {
		const char *cmd;
		const char *service; /* NULL: refused */
		const char *name;
	} cases[] = {
		{ "git-receive-pack 'blog.git'", "receive-pack", "blog" },
		{ "git-receive-pack '/blog.git'", "receive-pack", "blog" },
		{ "git-upload-pack '/blog.git/'", "upload-pack", "blog" },
		{ "git-upload-pack blog.git", "upload-pack", "blog" },
		{ "git-upload-pack \"blog\"", "upload-pack", "blog" },
		{ "git receive-pack 'my-app.git'", "receive-pack", "my-app" },
		{ "git upload-pack '/my-app'", "upload-pack", "my-app" },
		{ "ls /", NULL, NULL },
		{ "git-upload-archive 'blog.git'", NULL, NULL },
		{ "git-receive-pack", NULL, NULL },
		{ "git-receive-pack ''", NULL, NULL },
		{ "git-receive-pack 'blog.git' extra", NULL, NULL },
		{ "git-receive-pack 'blog.git'; rm -rf /", NULL, NULL },
		{ "git-receive-pack '$(id).git'", NULL, NULL },
		{ "git-receive-pack '../etc/passwd'", NULL, NULL },
		{ "git-receive-pack '/srv/blog.git'", NULL, NULL },
		{ "git-receive-pack 'a.b.git'", NULL, NULL },
		{ "git-receive-pack 'Blog.git'", NULL, NULL },
		{ "git-receive-pack 'blog.git\n'", NULL, NULL },
		{ "git-receive-pack 'blog.git\"", NULL, NULL },
		{ "git-receive-pack\t'blog.git'", NULL, NULL },
		{ "git -c core.sshCommand=x receive-pack 'blog.git'", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *service = NULL;
		char name[80] = "";
		int r = wo_git_parse_ssh_command(&service, name, sizeof(name), cases[i].cmd);
		if ((r == 0) != (cases[i].service != NULL))
			print_error("'%s': got %d\n", cases[i].cmd, r);
		assert_int_equal(r == 0, cases[i].service != NULL);
		if (r == 0) {
			assert_string_equal(service, cases[i].service);
			assert_string_equal(name, cases[i].name);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accepts_every_type),
		cmocka_unit_test(test_parse_file_forms),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_key_names),
		cmocka_unit_test(test_authorized_keys),
		cmocka_unit_test(test_ssh_command),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
