/* util/url: the one redaction of URLs shown anywhere, and telling a database
 * URL that carries a password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/url.h"

static void check(const char *in, const char *want)
{
	char *got = wo_url_redact(in);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("wo_url_redact('%s'): got '%s', want '%s'", in ? in : "(null)", got, want);
	free(got);
}

static void check_text(const char *in, const char *want)
{
	char *got = wo_url_redact_text(in);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("wo_url_redact_text('%s'): got '%s', want '%s'", in, got, want);
	free(got);
}

static void test_passwords(void **state)
{
	(void)state;
	check("https://user:pw@example.com/team/app.git", "https://user:***@example.com/team/app.git");
	check("https://user:pw@example.com", "https://user:***@example.com");
	check("http://u:p@127.0.0.1:8080/x.git", "http://u:***@127.0.0.1:8080/x.git");
	check("ssh://git:hunter2@host/x", "ssh://git:***@host/x");
	check("https://x-access-token:ghp_abc@github.com/o/r.git", "https://x-access-token:***@github.com/o/r.git");
	check("https://oauth2:glpat-xyz@gitlab.com/g/p.git", "https://oauth2:***@gitlab.com/g/p.git");
	/* an empty password, and '@' or ':' inside the password */
	check("https://user:@host/x", "https://user:***@host/x");
	check("https://user:p@ss:w@host/x", "https://user:***@host/x");
	check("https://:pw@host/x", "https://:***@host/x");
	/* percent-encoded characters stay hidden too */
	check("https://me%40corp:p%40ss@host/x", "https://me%40corp:***@host/x");
	/* a user at an IPv6 host */
	check("https://u:p@[::1]:8443/x.git", "https://u:***@[::1]:8443/x.git");
	/* scheme letters in any case */
	check("HTTPS://u:p@host/x", "HTTPS://u:***@host/x");
	check("git+ssh://u:p@host/x", "git+ssh://u:***@host/x");
	check("postgresql://webops:pw@db:5432/webops", "postgresql://webops:***@db:5432/webops");
}

static void test_users_kept_or_hidden(void **state)
{
	(void)state;
	/* a name is kept */
	check("https://deploy@example.com/x.git", "https://deploy@example.com/x.git");
	check("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git");
	/* a token used as the user name over https is not */
	check("https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r.git", "https://***@github.com/o/r.git");
	check("https://glpat-abc@gitlab.com/x.git", "https://***@gitlab.com/x.git");
	check("https://0123456789abcdef0123456789abcdef@host/x", "https://***@host/x");
	/* '@' in the path is not a user part */
	check("https://host/team/@scope/pkg.git", "https://host/team/@scope/pkg.git");
	check("https://host/x?email=a@b.c", "https://host/x?email=a@b.c");
}

static void test_query_and_fragment(void **state)
{
	(void)state;
	check("https://host/x?token=abc", "https://host/x?token=***");
	check("https://host/x?a=1&access_token=abc&b=2", "https://host/x?a=1&access_token=***&b=2");
	check("https://host/x?api_key=k&apikey=k2&KEY=k3", "https://host/x?api_key=***&apikey=***&KEY=***");
	check("https://host/x?password=p;user=u", "https://host/x?password=***;user=u");
	check("https://s3/b/o?X-Amz-Credential=AK%2F1&X-Amz-Signature=ab12&X-Amz-Date=1",
	      "https://s3/b/o?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Date=1");
	check("https://host/x?sig=abc&se=2030", "https://host/x?sig=***&se=2030");
	check("https://host/x?secret=&page=2", "https://host/x?secret=***&page=2");
	/* a parameter without a value, and repeated separators */
	check("https://host/x?token&&page=1", "https://host/x?token&&page=1");
	/* the fragment too (#access_token=...) */
	check("https://app/cb#access_token=abc&state=1", "https://app/cb#access_token=***&state=1");
	check("https://host/doc#section-2", "https://host/doc#section-2");
	/* all at once */
	check("https://u:p@host:1/p?q=1&token=t#frag", "https://u:***@host:1/p?q=1&token=***#frag");
	/* a fragment before anything that looks like a query */
	check("https://host/x#a?token=t", "https://host/x#a?token=***");
}

static void test_not_urls(void **state)
{
	(void)state;
	check(NULL, "");
	check("", "");
	check("/srv/git/app.git", "/srv/git/app.git");
	check("git@github.com:o/r.git", "git@github.com:o/r.git");
	check("file:///srv/git/app.git", "file:///srv/git/app.git");
	check("https://example.com/team/app.git", "https://example.com/team/app.git");
	check("://nohost", "://nohost");
	check("1http://u:p@h/", "1http://u:p@h/");
	check("mailto:a@b.c", "mailto:a@b.c");
}

static void test_in_text(void **state)
{
	(void)state;
	check_text("unable to access 'https://u:pw@host/x.git/': The requested URL returned error: 403",
		   "unable to access 'https://u:***@host/x.git/': The requested URL returned error: 403");
	check_text("POST https://hooks.example/x?token=abc: HTTP 500; retry at http://a:b@c/d then stop",
		   "POST https://hooks.example/x?token=***: HTTP 500; retry at http://a:***@c/d then stop");
	check_text("no url here: just text with :// alone", "no url here: just text with :// alone");
	check_text("(https://u:p@h/x)", "(https://u:***@h/x)");
	check_text("\"https://u:p@h/x\" and <ssh://g:p@h/y>", "\"https://u:***@h/x\" and <ssh://g:***@h/y>");
	check_text("", "");
	check_text("https://u:p@h", "https://u:***@h");
}

static void test_conninfo(void **state)
{
	(void)state;
	assert_false(wo_conninfo_has_password(NULL));
	assert_false(wo_conninfo_has_password("host=/tmp/hpg user=webops dbname=postgres"));
	assert_true(wo_conninfo_has_password("host=db user=webops password=pw dbname=x"));
	assert_true(wo_conninfo_has_password("host=db password = 'p w'"));
	assert_true(wo_conninfo_has_password("password=pw"));
	assert_false(wo_conninfo_has_password("host=db passwordless=1"));
	assert_false(wo_conninfo_has_password("host=db dbname=password"));
	assert_true(wo_conninfo_has_password("postgresql://webops:pw@db/webops"));
	assert_true(wo_conninfo_has_password("postgres://webops:pw@db/webops"));
	assert_false(wo_conninfo_has_password("postgresql://webops@db/webops"));
	assert_false(wo_conninfo_has_password("postgresql:///webops?host=/tmp/hpg"));
	assert_true(wo_conninfo_has_password("postgresql://db/webops?user=w&password=pw"));
}

static void origin(const char *in, const char *want)
{
	struct wo_buf b = WO_BUF_INIT;
	int rc = wo_url_origin(&b, in);
	if (!want) {
		assert_int_equal(rc, -1);
	} else {
		assert_int_equal(rc, 0);
		assert_string_equal(b.ptr, want);
	}
	wo_buf_release(&b);
}

/* what a stored credential is bound to, and what is the same origin */
static void test_origin(void **state)
{
	(void)state;
	origin("https://github.com/o/r.git", "https://github.com:443");
	origin("https://x-access-token:tok@GitHub.COM/o/r.git", "https://github.com:443");
	origin("https://github.com:443/o/r", "https://github.com:443");
	origin("https://github.com:8443/o/r", "https://github.com:8443");
	origin("http://127.0.0.1:38111/app.git", "http://127.0.0.1:38111");
	origin("http://example.com", "http://example.com:80");
	origin("HTTP://Example.com/x?y#z", "http://example.com:80");
	origin("ssh://git@github.com/o/r.git", "ssh://github.com:22");
	origin("ssh://git@github.com:2222/o/r.git", "ssh://github.com:2222");
	origin("git+ssh://h/r", "ssh://h:22");
	origin("git@github.com:o/r.git", "ssh://github.com:22");
	origin("github.com:o/r.git", "ssh://github.com:22");
	origin("git://h.example/r", "git://h.example:9418");
	origin("https://[::1]:8443/r", "https://[::1]:8443");
	origin("https://u@evil.com@github.com/r", "https://github.com:443");
	/* the same origin or not: scheme, host and port all count */
	origin("http://github.com/o/r", "http://github.com:80");
	origin("/srv/git/r.git", NULL);
	origin("file:///srv/git/r.git", NULL);
	origin("ftp://h/r", NULL);
	origin("https:///r", NULL);
	origin("https://h:99999999/r", NULL);
	origin("https://h:/r", NULL);
	origin("", NULL);
	origin(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passwords),
		cmocka_unit_test(test_users_kept_or_hidden),
		cmocka_unit_test(test_query_and_fragment),
		cmocka_unit_test(test_not_urls),
		cmocka_unit_test(test_in_text),
		cmocka_unit_test(test_conninfo),
		cmocka_unit_test(test_origin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
