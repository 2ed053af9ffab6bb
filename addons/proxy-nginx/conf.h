/* proxy-nginx: what goes into nginx's configuration — the checks every value
 * passes before it is written, the server block of one deployment and the
 * private instance's main file — and a small growable string. Pure functions:
 * nothing here touches a file or a process. */
#ifndef PROXY_NGINX_CONF_H
#define PROXY_NGINX_CONF_H

#include <stdarg.h>
#include <stddef.h>

/* A growable string; after an allocation failure it stays empty and oom is set. */
struct px_sb {
	char *ptr;
	size_t len, cap;
	int oom;
};
#define PX_SB_INIT {NULL, 0, 0, 0}

void px_sb_printf(struct px_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void px_sb_vprintf(struct px_sb *sb, const char *fmt, va_list ap);
void px_sb_puts(struct px_sb *sb, const char *s);
void px_sb_reset(struct px_sb *sb);
void px_sb_release(struct px_sb *sb);
/* The text ("" when empty); stays owned by sb. */
const char *px_sb_str(const struct px_sb *sb);

/* Checks: 0 when valid, -1 with the reason in err (which is reset first). */
int px_check_name(const char *name, struct px_sb *err);       /* a deployment name: [a-z][a-z0-9-]*, <= 63, or PX_UI_SITE */
int px_check_domain(const char *domain, struct px_sb *err);   /* a host name: dot-separated labels */
int px_check_port(const char *text, int *out, struct px_sb *err);
/* An upstream: IPV4:PORT or [IPV6]:PORT, e.g. 127.0.0.1:32768 */
int px_check_upstream(const char *upstream, struct px_sb *err);
/* A listen address: an IPv4 address, or an IPv6 one in brackets */
int px_check_address(const char *addr, struct px_sb *err);
/* An nginx size: digits with an optional k, m or g */
int px_check_size(const char *size, struct px_sb *err);
/* An absolute path nginx can be given unquoted (no space, ';', '{', '}', quote, '$', '#') */
int px_check_path(const char *what, const char *path, struct px_sb *err);

/* The site of webopsd's own UI and API (the setting ui_domain): a name no
 * deployment can have (they start with a letter). */
#define PX_UI_SITE "_webopsd"

enum px_state { PX_ACTIVE, PX_STOPPED };

/* One deployment's server block. */
struct px_site {
	const char *name;     /* checked with px_check_name */
	enum px_state state;
	const char *upstream; /* PX_ACTIVE: checked with px_check_upstream */
	int port;             /* the public port, 0 when none */
	const char *domain;   /* the server_name, NULL when none */
	/* a domain with TLS: its certificate and key files (checked with
	 * px_check_path); NULL when it has none (yet) */
	const char *cert, *key;
	const char *cert_version; /* changes when the files do (a renewal), so the block does and nginx reloads */
	int hsts;             /* with a certificate: Strict-Transport-Security */
	/* OCSP stapling, when the certificate names a responder: the issuer's
	 * certificate (checked path) and the resolvers nginx asks for the
	 * responder's address (IPv4 addresses, space-separated); NULL: none */
	const char *ocsp_issuer, *ocsp_resolvers;
	/* webopsd's own site (PX_UI_SITE): the token sent to it in
	 * X-Webops-Proxy (hex), so it believes X-Forwarded-Proto and X-Real-IP;
	 * and a body size instead of client_max_body_size ("0": webopsd has its
	 * own limits). NULL: none. */
	const char *proxy_token, *body_max;
	/* a port site with a domain: the domain is also served on http_port
	 * (ACME challenges, then the redirect to HTTPS) */
	int domain_on_http;
};

struct px_site_opts {
	const char *listen_address; /* checked */
	int http_port;              /* where domain-only sites listen */
	int default_server;         /* a port site is its port's default server (private mode) */
	const char *client_max_body_size;
	int connect_timeout_s, read_timeout_s;
	int keepalive_timeout_s; /* clients' idle connections; 0: none */
	int https_port;          /* where domain sites with a certificate answer TLS */
	int acme_port;           /* a domain site's /.well-known/acme-challenge/ goes to the ACME
	                          * client's own server on 127.0.0.1:acme_port; 0: none */
};

/* The site's file: a first line of metadata (read back by px_site_meta)
 * and the upstream, map and server blocks. A domain site (no port) passes
 * ACME HTTP-01 challenges to the ACME client (acme_port); with a certificate
 * it also answers TLS on https_port (HTTP/2, Mozilla's intermediate profile)
 * and its HTTP server redirects everything else there (308). */
int px_site_render(struct px_sb *out, const struct px_site *site, const struct px_site_opts *o, struct px_sb *err);

/* What a site file's first line says: kind 'p' (listens on its own port),
 * 'd' (domain on http_port) or 0 when the line is not ours; port as listened. */
struct px_meta {
	char kind;
	int port;
};
void px_site_meta(struct px_meta *out, const char *text);

/* The private instance's nginx.conf. */
struct px_main_opts {
	const char *dir;              /* DATA/proxy-nginx, checked with px_check_path */
	const char *user;             /* NULL: no user directive (master not root) */
	const char *worker_processes; /* "auto" or a number */
	int access_log;
	int buffer_to_disk;           /* workers can write the temp folders */
	const char *listen_address;
	int default_http;             /* a catch-all 404 server on http_port */
	int http_port;
	/* the sites to include: NULL includes every DIR/sites/NAME.conf; else these files */
	const char *const *includes;
	size_t nincludes;
};
int px_main_render(struct px_sb *out, const struct px_main_opts *o);

#endif
