/* Validators for deployment fields: every accepted and refused form the
 * foundation issue lists, and that messages name the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "store/validate.h"

typedef int (*validator)(const char *, struct wo_buf *);

static void expect_ok(validator v, const char *s)
{
	struct wo_buf err = WO_BUF_INIT;
	int r = v(s, &err);
	if (r != 0)
		print_error("expected '%s' to be accepted, got: %s\n", s, wo_buf_cstr(&err));
	assert_int_equal(r, 0);
	assert_int_equal(err.len, 0);
	wo_buf_release(&err);
}

static void expect_bad(validator v, const char *s, const char *field)
{
	struct wo_buf err = WO_BUF_INIT;
	int r = v(s, &err);
	if (r == 0)
		print_error("expected '%s' to be refused\n", s ? s : "(null)");
	assert_int_equal(r, -1);
	/* the message starts with the field name */
	assert_true(strncmp(wo_buf_cstr(&err), field, strlen(field)) == 0);
	wo_buf_release(&err);
}

static void test_name(void **state)
{
	(void)state;
	expect_ok(wo_validate_name, "blog");
	expect_ok(wo_validate_name, "a");
	expect_ok(wo_validate_name, "my-app-2");
	expect_ok(wo_validate_name, "a23456789012345678901234567890123456789012345678901234567890123");
	expect_bad(wo_validate_name, "Blog", "name");
	expect_bad(wo_validate_name, "-x", "name");
	expect_bad(wo_validate_name, "a_b", "name");
	expect_bad(wo_validate_name, "../x", "name");
	expect_bad(wo_validate_name, "x-", "name");
	expect_bad(wo_validate_name, "1abc", "name");
	expect_bad(wo_validate_name, "", "name");
	expect_bad(wo_validate_name, NULL, "name");
	expect_bad(wo_validate_name, "a234567890123456789012345678901234567890123456789012345678901234", "name");
	expect_bad(wo_validate_name, "a b", "name");
	expect_bad(wo_validate_name, "a.b", "name");
}

static void test_repo_url(void **state)
{
	(void)state;
	expect_ok(wo_validate_repo_url, "https://example.com/blog.git");
	expect_ok(wo_validate_repo_url, "http://example.com:8080/blog");
	expect_ok(wo_validate_repo_url, "ssh://git@example.com:2222/team/blog.git");
	expect_ok(wo_validate_repo_url, "git@github.com:team/blog.git");
	expect_ok(wo_validate_repo_url, "file:///srv/git/blog.git");
	expect_ok(wo_validate_repo_url, "/srv/git/blog");
	expect_ok(wo_validate_repo_url, "https://[::1]/x.git");
	expect_bad(wo_validate_repo_url, "ftp://x", "repo_url");
	expect_bad(wo_validate_repo_url, "", "repo_url");
	expect_bad(wo_validate_repo_url, NULL, "repo_url");
	expect_bad(wo_validate_repo_url, "relative/path", "repo_url");
	expect_bad(wo_validate_repo_url, "https://", "repo_url");
	expect_bad(wo_validate_repo_url, "file://relative", "repo_url");
	expect_bad(wo_validate_repo_url, "-oProxyCommand=x@host:p", "repo_url");
	expect_bad(wo_validate_repo_url, "https://example.com/a b", "repo_url");
	expect_bad(wo_validate_repo_url, "https://example.com/a\nb", "repo_url");
	expect_bad(wo_validate_repo_url, "ext::sh -c touch% /tmp/pwned", "repo_url");
}

static void test_branch(void **state)
{
	(void)state;
	expect_ok(wo_validate_branch, "main");
	expect_ok(wo_validate_branch, "feature/x-1");
	expect_ok(wo_validate_branch, "release-1.2");
	expect_bad(wo_validate_branch, "a..b", "branch");
	expect_bad(wo_validate_branch, "-x", "branch");
	expect_bad(wo_validate_branch, "", "branch");
	expect_bad(wo_validate_branch, "a b", "branch");
	expect_bad(wo_validate_branch, "a~b", "branch");
	expect_bad(wo_validate_branch, "a^b", "branch");
	expect_bad(wo_validate_branch, "a:b", "branch");
	expect_bad(wo_validate_branch, "a?b", "branch");
	expect_bad(wo_validate_branch, "a*b", "branch");
	expect_bad(wo_validate_branch, "a[b", "branch");
	expect_bad(wo_validate_branch, "a\\b", "branch");
	expect_bad(wo_validate_branch, "x.lock", "branch");
	expect_bad(wo_validate_branch, "x/", "branch");
	expect_bad(wo_validate_branch, ".x", "branch");
	expect_bad(wo_validate_branch, "x.", "branch");
	expect_bad(wo_validate_branch, "a//b", "branch");
	expect_bad(wo_validate_branch, "a@{b", "branch");
	expect_bad(wo_validate_branch, "@", "branch");
	expect_bad(wo_validate_branch, "HEAD", "branch");
}

static void test_domain(void **state)
{
	(void)state;
	expect_ok(wo_validate_domain, "example.com");
	expect_ok(wo_validate_domain, "blog.example.co.uk");
	expect_ok(wo_validate_domain, "localhost");
	expect_ok(wo_validate_domain, "");
	expect_bad(wo_validate_domain, "bad_domain.com", "domain");
	expect_bad(wo_validate_domain, "-a.com", "domain");
	expect_bad(wo_validate_domain, "a-.com", "domain");
	expect_bad(wo_validate_domain, "a..com", "domain");
	expect_bad(wo_validate_domain, "a.com.", "domain");
	expect_bad(wo_validate_domain, "*.a.com", "domain");
	expect_bad(wo_validate_domain, "a\nb.com", "domain");
}

static void test_port(void **state)
{
	(void)state;
	struct wo_buf err = WO_BUF_INIT;
	int port = 0;
	assert_int_equal(wo_validate_port_text("8080", &port, &err), 0);
	assert_int_equal(port, 8080);
	assert_int_equal(wo_validate_port_text("1", &port, &err), 0);
	assert_int_equal(wo_validate_port_text("65535", &port, &err), 0);
	const char *bad[] = { "0", "70000", "65536", "-1", "", "80a", " 80", "1e3", "99999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wo_buf_clear(&err);
		port = 42;
		assert_int_equal(wo_validate_port_text(bad[i], &port, &err), -1);
		assert_int_equal(port, 42); /* not written on failure */
		assert_true(strncmp(wo_buf_cstr(&err), "port", 4) == 0);
	}
	wo_buf_release(&err);
}

static void test_env_key(void **state)
{
	(void)state;
	expect_ok(wo_validate_env_key, "DEBUG");
	expect_ok(wo_validate_env_key, "_x1");
	expect_ok(wo_validate_env_key, "a");
	expect_bad(wo_validate_env_key, "1A", "env");
	expect_bad(wo_validate_env_key, "A-B", "env");
	expect_bad(wo_validate_env_key, "", "env");
	expect_bad(wo_validate_env_key, "A B", "env");
	expect_bad(wo_validate_env_key, "A=B", "env");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name),   cmocka_unit_test(test_repo_url), cmocka_unit_test(test_branch),
		cmocka_unit_test(test_domain), cmocka_unit_test(test_port),     cmocka_unit_test(test_env_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
