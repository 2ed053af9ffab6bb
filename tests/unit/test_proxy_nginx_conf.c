/* proxy-nginx's configuration rendering and checks (addons/proxy-nginx/
 * conf.c, linked from the addon's logic library): what each kind of site's
 * server block holds, and that no value reaches nginx unchecked. The real
 * nginx parses these blocks in test_proxy_nginx and test_tls; this is the
 * block's content, one case at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "conf.h"

static const struct px_site_opts opts = {
	.listen_address = "127.0.0.1",
	.http_port = 80,
	.default_server = 1,
	.client_max_body_size = "16m",
	.connect_timeout_s = 5,
	.read_timeout_s = 60,
	.keepalive_timeout_s = 65,
	.https_port = 443,
	.acme_port = 8402,
};

static char *render(const struct px_site *site, struct px_sb *err)
{
	static struct px_sb out = PX_SB_INIT;
	if (px_site_render(&out, site, &opts, err) < 0)
		return NULL;
	return out.ptr;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_port_site(void **state)
{
	(void)state;
	struct px_sb err = PX_SB_INIT;
	struct px_site s = { .name = "blog", .state = PX_ACTIVE, .upstream = "127.0.0.1:32768", .port = 8080 };
	const char *t = render(&s, &err);
	assert_non_null(t);
	assert_non_null(strstr(t, "kind=p port=8080 upstream=127.0.0.1:32768"));
	assert_non_null(strstr(t, "listen 127.0.0.1:8080 default_server;"));
	assert_non_null(strstr(t, "proxy_pass http://webops_blog;"));
	assert_non_null(strstr(t, "client_max_body_size 16m;"));
	assert_null(strstr(t, "acme-challenge"));
	assert_null(strstr(t, "ssl"));
	assert_null(strstr(t, "X-Webops-Proxy"));
	px_sb_release(&err);
}

static void test_domain_site_without_and_with_certificate(void **state)
{
	(void)state;
	struct px_sb err = PX_SB_INIT;
	struct px_site s = { .name = "site", .state = PX_ACTIVE, .upstream = "127.0.0.1:1234", .domain = "site.example" };
	const char *t = render(&s, &err);
	assert_non_null(t);
	assert_non_null(strstr(t, "server_name site.example;"));
	assert_non_null(strstr(t, "location ^~ /.well-known/acme-challenge/"));
	assert_non_null(strstr(t, "proxy_pass http://127.0.0.1:8402;"));
	assert_null(strstr(t, "return 308"));

	s.cert = "/data/acme/certificates/site.example.crt";
	s.key = "/data/acme/certificates/site.example.key";
	s.cert_version = "1796591234.000000001";
	s.hsts = 1;
	t = render(&s, &err);
	assert_non_null(t);
	assert_non_null(strstr(t, "return 308 https://$host$request_uri;"));
	assert_non_null(strstr(t, "listen 127.0.0.1:443 ssl http2;"));
	assert_non_null(strstr(t, "ssl_protocols TLSv1.2 TLSv1.3;"));
	assert_non_null(strstr(t, "# certificate version 1796591234.000000001"));
	assert_non_null(strstr(t, "Strict-Transport-Security"));
	/* the release is reached only over TLS now */
	assert_int_equal(count(t, "proxy_pass http://webops_site;"), 1);
	px_sb_release(&err);
}

static void test_port_and_domain(void **state)
{
	(void)state;
	struct px_sb err = PX_SB_INIT;
	struct px_site s = { .name = "both", .state = PX_ACTIVE, .upstream = "127.0.0.1:1234", .port = 8080,
	                     .domain = "both.example", .domain_on_http = 1 };
	const char *t = render(&s, &err);
	assert_non_null(t);
	/* its port, and its domain on http_port for the challenges */
	assert_non_null(strstr(t, "listen 127.0.0.1:8080 default_server;"));
	assert_non_null(strstr(t, "listen 127.0.0.1:80;"));
	assert_non_null(strstr(t, "acme-challenge"));
	assert_int_equal(count(t, "proxy_pass http://webops_both;"), 2);
	s.cert = "/c/both.crt";
	s.key = "/c/both.key";
	t = render(&s, &err);
	assert_non_null(t);
	/* with a certificate: plain HTTP stays on the port, port 80 redirects, TLS serves */
	assert_int_equal(count(t, "proxy_pass http://webops_both;"), 2);
	assert_int_equal(count(t, "return 308"), 1);
	assert_non_null(strstr(t, "listen 127.0.0.1:443 ssl http2;"));
	px_sb_release(&err);
}

static void test_webopsd_site(void **state)
{
	(void)state;
	struct px_sb err = PX_SB_INIT;
	struct px_site s = { .name = PX_UI_SITE, .state = PX_ACTIVE, .upstream = "127.0.0.1:8000",
	                     .domain = "ops.example", .proxy_token = "00ff3a", .body_max = "0" };
	const char *t = render(&s, &err);
	assert_non_null(t);
	assert_non_null(strstr(t, "deployment=_webopsd"));
	assert_non_null(strstr(t, "proxy_set_header X-Webops-Proxy 00ff3a;"));
	assert_non_null(strstr(t, "client_max_body_size 0;"));
	/* a token that is not hex never reaches the file */
	s.proxy_token = "abc; return 200";
	assert_null(render(&s, &err));
	assert_non_null(strstr(px_sb_str(&err), "proxy token is refused"));
	s.proxy_token = "";
	assert_null(render(&s, &err));
	/* nor a body size that is not one */
	s.proxy_token = "00";
	s.body_max = "1m; deny all";
	assert_null(render(&s, &err));
	px_sb_release(&err);
}

static void test_values_are_checked(void **state)
{
	(void)state;
	struct px_sb err = PX_SB_INIT;
	struct px_site s = { .name = "x", .state = PX_ACTIVE, .upstream = "127.0.0.1:1", .domain = "a.example" };
	const char *bad_domains[] = { "a b.example", "a;b.example", "-a.example", "a..example", "a.example}", "" };
	for (size_t i = 0; i < sizeof(bad_domains) / sizeof(bad_domains[0]); i++) {
		s.domain = bad_domains[i];
		assert_null(render(&s, &err));
		assert_non_null(strstr(px_sb_str(&err), "is refused"));
	}
	s.domain = "a.example";
	s.cert = "/path with space.crt";
	s.key = "/k.key";
	assert_null(render(&s, &err));
	assert_non_null(strstr(px_sb_str(&err), "certificate"));
	s.cert = "/c.crt";
	s.upstream = "127.0.0.1:1; evil";
	assert_null(render(&s, &err));
	s.upstream = "127.0.0.1:1";
	s.name = "Bad_Name";
	assert_null(render(&s, &err));
	s.name = "_other"; /* only PX_UI_SITE may start with '_' */
	assert_null(render(&s, &err));
	s.name = "x";
	s.ocsp_issuer = "/i.crt";
	s.ocsp_resolvers = "1.1.1.1; evil";
	assert_null(render(&s, &err));
	assert_int_equal(px_check_domain("ok-1.example.org", &err), 0);
	px_sb_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_site),
		cmocka_unit_test(test_domain_site_without_and_with_certificate),
		cmocka_unit_test(test_port_and_domain),
		cmocka_unit_test(test_webopsd_site),
		cmocka_unit_test(test_values_are_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
