/* proxy-nginx: value checks and the text of nginx's configuration. Every
 * value written here was checked first and is made only of characters nginx
 * takes literally (letters, digits, '.', '-', ':', '[', ']', '/', '_'), so no
 * quoting is needed and nothing a user typed can add a directive. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the string builder ---- */

void px_sb_vprintf(struct px_sb *sb, const char *fmt, va_list ap)
{
	if (sb->oom)
		return;
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	size_t need = sb->len + (size_t)n + 1;
	if (need > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 256;
		while (cap < need)
			cap *= 2;
		char *p = realloc(sb->ptr, cap);
		if (!p) {
			sb->oom = 1;
			sb->len = 0;
			if (sb->ptr)
				sb->ptr[0] = '\0';
			return;
		}
		sb->ptr = p;
		sb->cap = cap;
	}
	vsnprintf(sb->ptr + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

void px_sb_printf(struct px_sb *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	px_sb_vprintf(sb, fmt, ap);
	va_end(ap);
}

void px_sb_puts(struct px_sb *sb, const char *s)
{
	px_sb_printf(sb, "%s", s);
}

void px_sb_reset(struct px_sb *sb)
{
	sb->len = 0;
	sb->oom = 0;
	if (sb->ptr)
		sb->ptr[0] = '\0';
}

void px_sb_release(struct px_sb *sb)
{
	if (!sb)
		return;
	free(sb->ptr);
	sb->ptr = NULL;
	sb->len = sb->cap = 0;
	sb->oom = 0;
}

const char *px_sb_str(const struct px_sb *sb)
{
	return sb->ptr && !sb->oom ? sb->ptr : "";
}

/* ---- checks ---- */

static int fail(struct px_sb *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct px_sb *err, const char *fmt, ...)
{
	px_sb_reset(err);
	va_list ap;
	va_start(ap, fmt);
	px_sb_vprintf(err, fmt, ap);
	va_end(ap);
	return -1;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Shows a refused value safely: printable ASCII only, at most 80 characters. */
static const char *shown(const char *s, char *buf, size_t size)
{
	size_t j = 0;
	for (size_t i = 0; s[i] && j + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == 80) {
			memcpy(buf + j, "...", 3);
			j += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f) {
			buf[j++] = (char)c;
		} else {
			snprintf(buf + j, size - j, "\\x%02x", c);
			j += 4;
		}
	}
	buf[j] = '\0';
	return buf;
}

int px_check_name(const char *name, struct px_sb *err)
{
	char b[400];
	size_t n = name ? strlen(name) : 0;
	if (n == 0)
		return fail(err, "the deployment has no name");
	if (!strcmp(name, PX_UI_SITE))
		return 0;
	int ok = n <= 63 && name[0] >= 'a' && name[0] <= 'z' && name[n - 1] != '-';
	for (size_t i = 0; ok && i < n; i++)
		ok = (name[i] >= 'a' && name[i] <= 'z') || is_digit(name[i]) || name[i] == '-';
	if (!ok)
		return fail(err, "deployment name '%s' is not usable in a file name (expected lowercase letters, digits "
		            "and '-', starting with a letter)", shown(name, b, sizeof(b)));
	return 0;
}

int px_check_domain(const char *domain, struct px_sb *err)
{
	char b[400];
	static const char rule[] = "expected labels of letters, digits and '-' separated by dots, each 1-63 "
				   "characters, not starting or ending with '-', 253 characters at most";
	size_t len = domain ? strlen(domain) : 0;
	if (len == 0 || len > 253)
		return fail(err, "domain '%s' is refused: %s", domain ? shown(domain, b, sizeof(b)) : "", rule);
	const char *label = domain;
	for (;;) {
		size_t n = strcspn(label, ".");
		int ok = n > 0 && n <= 63 && label[0] != '-' && label[n - 1] != '-';
		for (size_t i = 0; ok && i < n; i++)
			ok = is_alnum(label[i]) || label[i] == '-';
		if (!ok)
			return fail(err, "domain '%s' is refused: %s", shown(domain, b, sizeof(b)), rule);
		if (label[n] == '\0')
			return 0;
		label += n + 1;
	}
}

int px_check_port(const char *text, int *out, struct px_sb *err)
{
	char b[400];
	size_t n = text ? strlen(text) : 0;
	int ok = n > 0 && n <= 5 && strspn(text, "0123456789") == n && text[0] != '0';
	long v = ok ? strtol(text, NULL, 10) : 0;
	if (!ok || v < 1 || v > 65535)
		return fail(err, "port '%s' is refused: expected a whole number from 1 to 65535",
		            text ? shown(text, b, sizeof(b)) : "");
	*out = (int)v;
	return 0;
}

/* n.n.n.n with each n 0-255, no leading zeros; returns the length matched or 0 */
static size_t ipv4_len(const char *s)
{
	const char *p = s;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (*p != '.')
				return 0;
			p++;
		}
		size_t d = strspn(p, "0123456789");
		if (d == 0 || d > 3 || (d > 1 && p[0] == '0'))
			return 0;
		long v = strtol(p, NULL, 10);
		if (v > 255)
			return 0;
		p += d;
	}
	return (size_t)(p - s);
}

/* [hex and ':' and '.'] ; returns the length matched (brackets included) or 0 */
static size_t ipv6_len(const char *s)
{
	if (s[0] != '[')
		return 0;
	size_t n = strspn(s + 1, "0123456789abcdefABCDEF:.");
	if (n < 2 || n > 45 || s[1 + n] != ']' || !memchr(s + 1, ':', n))
		return 0;
	return n + 2;
}

int px_check_address(const char *addr, struct px_sb *err)
{
	char b[400];
	size_t n = addr ? strlen(addr) : 0;
	if (n == 0 || (ipv4_len(addr) != n && ipv6_len(addr) != n))
		return fail(err, "listen address '%s' is refused: expected an IPv4 address (0.0.0.0) or an IPv6 one "
		            "in brackets ([::])", addr ? shown(addr, b, sizeof(b)) : "");
	return 0;
}

int px_check_upstream(const char *up, struct px_sb *err)
{
	char b[400];
	size_t n = up ? strlen(up) : 0;
	size_t h = n ? ipv4_len(up) : 0;
	if (!h && n)
		h = ipv6_len(up);
	int port;
	struct px_sb ignored = PX_SB_INIT;
	int ok = h > 0 && up[h] == ':' && px_check_port(up + h + 1, &port, &ignored) == 0;
	px_sb_release(&ignored);
	if (!ok)
		return fail(err, "upstream '%s' is refused: expected ADDRESS:PORT with an IP address, like "
		            "127.0.0.1:32768", up ? shown(up, b, sizeof(b)) : "");
	return 0;
}

int px_check_size(const char *size, struct px_sb *err)
{
	char b[400];
	size_t n = size ? strlen(size) : 0;
	size_t d = n ? strspn(size, "0123456789") : 0;
	if (d == 0 || d > 9 || (d != n && (d + 1 != n || !strchr("kKmMgG", size[d]))))
		return fail(err, "size '%s' is refused: expected digits with an optional k, m or g",
		            size ? shown(size, b, sizeof(b)) : "");
	return 0;
}

int px_check_path(const char *what, const char *path, struct px_sb *err)
{
	char b[400];
	size_t n = path ? strlen(path) : 0;
	int ok = n > 1 && n < 3000 && path[0] == '/';
	for (size_t i = 0; ok && i < n; i++) {
		unsigned char c = (unsigned char)path[i];
		ok = c > 0x20 && c < 0x7f && !strchr(";{}\"'$#\\", c);
	}
	if (!ok)
		return fail(err, "%s '%s' is refused: expected an absolute path without spaces or any of ;{}\"'$#\\",
		            what, path ? shown(path, b, sizeof(b)) : "");
	return 0;
}

/* ---- one deployment's server block ---- */

/* NAME as an nginx identifier: '-' becomes '_' (names hold no '_', so two
 * names never meet) */
static void ident(char *out, size_t size, const char *name)
{
	size_t i = 0;
	for (; name[i] && i + 1 < size; i++)
		out[i] = name[i] == '-' ? '_' : name[i];
	out[i] = '\0';
}

/* ACME HTTP-01 challenges of a domain on http_port: to the ACME client
 * while it asks for a certificate. */
static void challenge_location(struct px_sb *out, const struct px_site_opts *o)
{
	if (o->acme_port > 0)
		px_sb_printf(out,
		             "\n"
		             "    # ACME HTTP-01 challenges: to the ACME client while it asks for a certificate\n"
		             "    location ^~ /.well-known/acme-challenge/ {\n"
		             "        proxy_pass http://127.0.0.1:%d;\n"
		             "        proxy_set_header Host $host;\n"
		             "    }\n",
		             o->acme_port);
}

/* The rest of an HTTP server whose domain has a certificate: to HTTPS. */
static void redirect_and_close(struct px_sb *out, const struct px_site_opts *o)
{
	if (o->https_port == 443)
		px_sb_puts(out, "\n    location / {\n        return 308 https://$host$request_uri;\n    }\n}\n\n");
	else
		px_sb_printf(out, "\n    location / {\n        return 308 https://$host:%d$request_uri;\n    }\n}\n\n",
		             o->https_port);
}

/* The rest of a server that serves the release (or the stopped page);
 * host is the Host header the release is told. */
static void serve_and_close(struct px_sb *out, const struct px_site *s, const struct px_site_opts *o, const char *id,
			    const char *host)
{
	if (s->state == PX_STOPPED) {
		px_sb_printf(out,
		             "    default_type text/plain;\n"
		             "\n"
		             "    location / {\n"
		             "        add_header Retry-After 30 always;\n"
		             "        return 503 \"%s is stopped\\n\";\n"
		             "    }\n"
		             "}\n",
		             s->name);
		return;
	}
	px_sb_printf(out,
	             "    client_max_body_size %s;\n"
	             "\n"
	             "    location / {\n"
	             "        proxy_pass http://webops_%s;\n"
	             "        proxy_http_version 1.1;\n"
	             "        proxy_set_header Host %s;\n"
	             "        proxy_set_header X-Real-IP $remote_addr;\n"
	             "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
	             "        proxy_set_header X-Forwarded-Proto $scheme;\n"
	             "        proxy_set_header X-Forwarded-Host $host;\n"
	             "        proxy_set_header X-Forwarded-Port $server_port;\n"
	             "        proxy_set_header Upgrade $http_upgrade;\n"
	             "        proxy_set_header Connection $webops_conn_%s;\n"
	             "%s%s%s"
	             "        proxy_connect_timeout %ds;\n"
	             "        proxy_send_timeout %ds;\n"
	             "        proxy_read_timeout %ds;\n"
	             "        proxy_next_upstream error timeout;\n"
	             "    }\n"
	             "}\n",
	             s->body_max ? s->body_max : o->client_max_body_size, id, host, id,
	             s->proxy_token ? "        proxy_set_header X-Webops-Proxy " : "", s->proxy_token ? s->proxy_token : "",
	             s->proxy_token ? ";\n" : "", o->connect_timeout_s, o->read_timeout_s, o->read_timeout_s);
}

int px_site_render(struct px_sb *out, const struct px_site *s, const struct px_site_opts *o, struct px_sb *err)
{
	if (px_check_name(s->name, err) < 0 || px_check_address(o->listen_address, err) < 0 ||
	    (s->domain && px_check_domain(s->domain, err) < 0) ||
	    (s->state == PX_ACTIVE && px_check_upstream(s->upstream, err) < 0) ||
	    px_check_size(o->client_max_body_size, err) < 0)
		return -1;
	if (s->domain && s->cert && s->key &&
	    (px_check_path("certificate", s->cert, err) < 0 || px_check_path("certificate key", s->key, err) < 0 ||
	     (s->ocsp_issuer && px_check_path("issuer certificate", s->ocsp_issuer, err) < 0)))
		return -1;
	if (s->proxy_token && (!*s->proxy_token || strlen(s->proxy_token) > 128 ||
	                       strspn(s->proxy_token, "0123456789abcdef") != strlen(s->proxy_token)))
		return fail(err, "%sthe proxy token is refused: expected up to 128 hexadecimal digits", "");
	if (s->body_max && px_check_size(s->body_max, err) < 0)
		return -1;
	if (s->ocsp_resolvers && strspn(s->ocsp_resolvers, "0123456789. ") != strlen(s->ocsp_resolvers))
		return fail(err, "resolvers '%s' are refused: expected IPv4 addresses", s->ocsp_resolvers);
	if (s->port < 0 || s->port > 65535 || o->http_port < 1 || o->http_port > 65535)
		return fail(err, "port %d is refused: expected a whole number from 1 to 65535",
		            s->port < 0 || s->port > 65535 ? s->port : o->http_port);
	if (!s->port && !s->domain)
		return fail(err, "deployment '%s' has neither a port nor a domain to serve", s->name);
	char id[80];
	ident(id, sizeof(id), s->name);
	int port = s->port ? s->port : o->http_port;
	char kind = s->port ? 'p' : 'd';

	px_sb_reset(out);
	px_sb_printf(out, "# webops proxy-nginx: deployment=%s state=%s kind=%c port=%d", s->name,
	             s->state == PX_ACTIVE ? "active" : "stopped", kind, port);
	if (s->state == PX_ACTIVE)
		px_sb_printf(out, " upstream=%s", s->upstream);
	px_sb_puts(out, "\n# Written by webops at each deploy, start and stop of the deployment: do not edit.\n");
	if (s->state == PX_ACTIVE) {
		px_sb_printf(out,
		             "upstream webops_%s {\n"
		             "    server %s;\n"
		             "    keepalive 16;\n"
		             "}\n"
		             "\n"
		             "# keep-alive to the release, except for WebSocket upgrades\n"
		             "map $http_upgrade $webops_conn_%s {\n"
		             "    default upgrade;\n"
		             "    \"\"      \"\";\n"
		             "}\n"
		             "\n",
		             id, s->upstream, id);
	}
	/* a domain with a certificate answers TLS on https_port; a port site
	 * with a domain also answers the domain on http_port (ACME challenges,
	 * then the redirect), as a domain site does */
	int tls = s->domain && s->cert && s->key;
	int domain_on_http = kind == 'p' && s->domain && s->domain_on_http;
	px_sb_printf(out, "server {\n    listen %s:%d%s;\n", o->listen_address, port,
	             kind == 'p' && o->default_server ? " default_server" : "");
	if (s->domain)
		px_sb_printf(out, "    server_name %s;\n", s->domain);
	px_sb_printf(out, "    keepalive_timeout %ds;\n", o->keepalive_timeout_s);
	if (kind == 'd' || (domain_on_http && port == o->http_port)) {
		/* a domain site, or a port site on http_port itself */
		challenge_location(out, o);
		if (tls)
			redirect_and_close(out, o);
		else
			serve_and_close(out, s, o, id, port == 80 ? "$host" : "$host:$server_port");
	} else {
		serve_and_close(out, s, o, id, port == 80 ? "$host" : "$host:$server_port");
		if (domain_on_http) {
			px_sb_printf(out, "\nserver {\n    listen %s:%d;\n    server_name %s;\n    keepalive_timeout %ds;\n",
			             o->listen_address, o->http_port, s->domain, o->keepalive_timeout_s);
			challenge_location(out, o);
			if (tls)
				redirect_and_close(out, o);
			else
				serve_and_close(out, s, o, id, o->http_port == 80 ? "$host" : "$host:$server_port");
		}
	}
	if (tls) {
		/* Mozilla's "intermediate" profile (TLS 1.2 and 1.3) */
		px_sb_printf(out,
		             "server {\n"
		             "    listen %s:%d ssl http2;\n"
		             "    server_name %s;\n"
		             "    keepalive_timeout %ds;\n"
		             "    ssl_certificate %s;\n"
		             "    ssl_certificate_key %s;\n"
		             "    ssl_protocols TLSv1.2 TLSv1.3;\n"
		             "    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
		             "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
		             "ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384;\n"
		             "    ssl_prefer_server_ciphers off;\n"
		             "    ssl_session_timeout 1d;\n"
		             "    ssl_session_tickets off;\n",
		             o->listen_address, o->https_port, s->domain, o->keepalive_timeout_s, s->cert, s->key);
		if (s->cert_version)
			px_sb_printf(out, "    # certificate version %.40s\n", s->cert_version);
		if (s->hsts)
			px_sb_puts(out, "    add_header Strict-Transport-Security \"max-age=63072000\" always;\n");
		if (s->ocsp_issuer && s->ocsp_resolvers)
			px_sb_printf(out,
			             "    ssl_stapling on;\n"
			             "    ssl_stapling_verify on;\n"
			             "    ssl_trusted_certificate %s;\n"
			             "    resolver %s valid=300s;\n"
			             "    resolver_timeout 5s;\n",
			             s->ocsp_issuer, s->ocsp_resolvers);
		serve_and_close(out, s, o, id, o->https_port == 443 ? "$host" : "$host:$server_port");
	}
	if (out->oom)
		return fail(err, "out of memory");
	return 0;
}

void px_site_meta(struct px_meta *out, const char *text)
{
	static const char head[] = "# webops proxy-nginx: ";
	out->kind = 0;
	out->port = 0;
	if (!text || strncmp(text, head, sizeof(head) - 1) != 0)
		return;
	size_t eol = strcspn(text, "\n");
	const char *k = strstr(text, " kind=");
	const char *p = strstr(text, " port=");
	if (!k || !p || k > text + eol || p > text + eol)
		return;
	out->kind = k[6] == 'p' || k[6] == 'd' ? k[6] : 0;
	out->port = (int)strtol(p + 6, NULL, 10);
}

/* ---- the private instance's nginx.conf ---- */

int px_main_render(struct px_sb *out, const struct px_main_opts *o)
{
	px_sb_reset(out);
	px_sb_printf(out,
	             "# webops proxy-nginx: the private nginx of webops, written at every start and change; do not edit.\n"
	             "# Server blocks, one per deployment, are in %s/sites/.\n"
	             "daemon on;\n"
	             "master_process on;\n",
	             o->dir);
	if (o->user)
		/* as root the master can give its workers the descriptors 4096
		 * connections need (two each when proxied) */
		px_sb_printf(out, "user %s;\nworker_rlimit_nofile 16384;\n", o->user);
	px_sb_printf(out,
	             "worker_processes %s;\n"
	             "pid %s/nginx.pid;\n"
	             "lock_file %s/nginx.lock;\n"
	             "error_log %s/logs/error.log notice;\n"
	             "\n"
	             "events {\n"
	             "    worker_connections 4096;\n"
	             "}\n"
	             "\n"
	             "http {\n"
	             "    default_type application/octet-stream;\n"
	             "    server_tokens off;\n"
	             "    sendfile on;\n"
	             "    tcp_nodelay on;\n"
	             "    keepalive_timeout 65s;\n"
	             "    server_names_hash_bucket_size 512;\n",
	             o->worker_processes, o->dir, o->dir, o->dir);
	if (o->access_log)
		px_sb_printf(out, "    access_log %s/logs/access.log;\n", o->dir);
	else
		px_sb_puts(out, "    access_log off;\n");
	px_sb_printf(out,
	             "    client_body_temp_path %s/tmp/body;\n"
	             "    proxy_temp_path %s/tmp/proxy;\n"
	             "    fastcgi_temp_path %s/tmp/fastcgi;\n"
	             "    uwsgi_temp_path %s/tmp/uwsgi;\n"
	             "    scgi_temp_path %s/tmp/scgi;\n",
	             o->dir, o->dir, o->dir, o->dir, o->dir);
	if (!o->buffer_to_disk)
		px_sb_puts(out,
		           "    # the workers' user cannot reach the temp folders (a parent folder is closed to it):\n"
		           "    # request bodies and large responses are streamed, never written to disk\n"
		           "    proxy_request_buffering off;\n"
		           "    proxy_max_temp_file_size 0;\n");
	if (o->default_http)
		px_sb_printf(out,
		             "\n"
		             "    # a host name no deployment has\n"
		             "    server {\n"
		             "        listen %s:%d default_server;\n"
		             "        default_type text/plain;\n"
		             "\n"
		             "        location / {\n"
		             "            return 404 \"no deployment is served under this host name\\n\";\n"
		             "        }\n"
		             "    }\n",
		             o->listen_address, o->http_port);
	px_sb_puts(out, "\n");
	if (!o->includes)
		px_sb_printf(out, "    include %s/sites/*.conf;\n", o->dir);
	for (size_t i = 0; o->includes && i < o->nincludes; i++)
		px_sb_printf(out, "    include %s;\n", o->includes[i]);
	px_sb_puts(out, "}\n");
	return out->oom ? -1 : 0;
}
