/* proxy-nginx: the hooks. post_deploy and start point the deployment's server
 * block at the upstream the runtime addon (docker) published, stop turns it
 * into a 503 page, delete and pre_deploy remove it, daemon_start and
 * daemon_stop run the private nginx beside webopsd. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <webops/addon.h>

#include "acme.h"
#include "cert.h"
#include "conf.h"
#include "proc.h"
#include "proxy.h"

WEBOPS_ADDON("proxy-nginx", "1.0.0");

/* Test-only fault injection (see README.md): pause after the switch, before
 * `switched` is published, so a test can kill the hook there. */
#define PX_FAULT_ENV "WEBOPS_PROXY_NGINX_FAULT_PAUSE"
#define PX_FAULT_PAUSE_MS 30000

static void on_term(int sig)
{
	(void)sig;
	px_sigterm = 1;
}

/* A timeout sends SIGTERM before SIGKILL: take it as a cancel, so a change
 * in the middle puts the previous files back before the hook returns. */
static int setup(struct px *px, const struct webops_host *host, struct webops_hook_ctx *ctx)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	if (px_load(px, host, ctx) < 0) {
		host->set_error(ctx, "%s", px_sb_str(&px->err));
		px_release(px);
		return -1;
	}
	return 0;
}

struct dep {
	const char *name;
	int port;           /* 0: none */
	const char *domain; /* NULL: none */
	int tls;            /* HTTPS for a domain site: the field tls is not off */
	int custom;         /* ... with the certificate of the field tls_pem (tls custom) */
	int hsts;
};

/* The deployment's name, port and domain, checked again here: nothing
 * reaches nginx's configuration unchecked. */
static int read_dep(struct dep *d, const struct webops_host *host, struct webops_hook_ctx *ctx)
{
	struct px_sb err = PX_SB_INIT;
	memset(d, 0, sizeof(*d));
	d->name = host->deployment(ctx, "name");
	const char *port = host->deployment(ctx, "port");
	const char *domain = host->deployment(ctx, "domain");
	if (px_check_name(d->name, &err) < 0 || (port && *port && px_check_port(port, &d->port, &err) < 0) ||
	    (domain && *domain && px_check_domain(domain, &err) < 0)) {
		host->set_error(ctx, "%s", px_sb_str(&err));
		px_sb_release(&err);
		return -1;
	}
	d->domain = domain && *domain ? domain : NULL;
	const char *tls = host->field(ctx, "tls");
	d->tls = d->domain && !(tls && !strcmp(tls, "off"));
	d->custom = d->tls && tls && !strcmp(tls, "custom");
	d->hsts = host->field_bool(ctx, "hsts", 0);
	return 0;
}

/* NULL when nginx fronts the deployment (what the docker addon checks too:
 * proxy on, a port or a domain, no docker_ports, a bridge network); else
 * why not. */
static const char *not_fronted(const struct webops_host *host, struct webops_hook_ctx *ctx, const struct dep *d)
{
	if (!host->field_bool(ctx, "proxy", 1))
		return "proxy is off for this deployment (the field 'proxy', \"Serve through nginx\")";
	if (host->field_list_size(ctx, "docker.docker_ports") > 0)
		return "docker_ports is set: the container publishes its own ports";
	/* the docker addon publishes an upstream only on a bridge network; with
	 * host networking the container itself takes the deployment's port */
	const char *net = host->field(ctx, "docker.docker_network_mode");
	if (net && strcmp(net, "bridge") != 0)
		return "docker_network_mode is not bridge: the container takes its ports itself";
	if (!d->port && !d->domain)
		return "the deployment has neither a port nor a domain to serve";
	return NULL;
}

static void where(char *out, size_t size, const struct px *px, const struct dep *d)
{
	if (d->domain && d->port)
		snprintf(out, size, "%s on port %d", d->domain, d->port);
	else if (d->domain)
		snprintf(out, size, "%s on port %d", d->domain, px->site.http_port);
	else
		snprintf(out, size, "port %d", d->port);
}

/* tls custom: the certificate and key of the field tls_pem, checked and put
 * in their files (cert, key); 0 when they are there, -1 (said in the run
 * log) when the site stays on HTTP. (render removes the custom files of a
 * domain on ACME or off.) */
static int custom_files(struct px *px, const struct dep *d, char *cert, char *key, size_t size)
{
	const struct webops_host *host = px->host;
	const char *pem = host->field(px->ctx, "tls_pem");
	struct px_sb c = PX_SB_INIT, k = PX_SB_INIT, err = PX_SB_INIT;
	struct px_cert_facts f;
	int rc = -1;
	if (!pem || !*pem) {
		host->log(px->ctx, WEBOPS_LOG_WARN, "%s stays on HTTP: tls is custom but tls_pem is empty (webops deployment "
		          "tls %s --cert FILE --key FILE)", d->domain, d->name);
	} else if (px_cert_split(pem, d->domain, &c, &k, &f, &err) < 0) {
		host->log(px->ctx, WEBOPS_LOG_WARN, "%s stays on HTTP: tls_pem: %s", d->domain, px_sb_str(&err));
	} else {
		int w = px_custom_install(px, d->domain, px_sb_str(&c), px_sb_str(&k));
		if (w < 0) {
			host->log(px->ctx, WEBOPS_LOG_WARN, "%s stays on HTTP: %s", d->domain, px_sb_str(&px->err));
		} else {
			rc = px_custom_files(px, d->domain, cert, key, size);
			if (w == 0 && rc == 0) {
				char when[32];
				struct tm tm;
				gmtime_r(&f.not_after, &tm);
				strftime(when, sizeof(when), "%Y-%m-%d", &tm);
				host->log(px->ctx, WEBOPS_LOG_INFO, "the custom certificate of %s (issued by %s, valid until %s) "
				          "is in place", d->domain, f.issuer, when);
			}
		}
	}
	if (k.ptr)
		memset(k.ptr, 0, k.cap);
	px_sb_release(&c);
	px_sb_release(&k);
	px_sb_release(&err);
	return rc;
}

static int render(struct px *px, const struct dep *d, enum px_state state, const char *upstream, struct px_sb *out)
{
	if (d->domain && !d->custom)
		px_custom_remove(px, d->domain);
	struct px_site site = {
		.name = d->name, .state = state, .upstream = upstream, .port = d->port, .domain = d->domain,
		.hsts = d->hsts, .domain_on_http = d->tls && d->port,
	};
	if (!strcmp(d->name, PX_UI_SITE)) {
		/* webopsd's own: it believes the client's scheme and address
		 * from nginx (the token), and keeps its own body limits */
		site.proxy_token = px->ui_token[0] ? px->ui_token : NULL;
		site.body_max = "0";
	}
	char cert[PATH_MAX], key[PATH_MAX], version[48], issuer[PATH_MAX], resolvers[256];
	struct stat st;
	if (d->tls && d->custom) {
		if (custom_files(px, d, cert, key, sizeof(cert)) == 0) {
			site.cert = cert;
			site.key = key;
			if (stat(cert, &st) == 0) {
				snprintf(version, sizeof(version), "%lld.%09ld", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
				site.cert_version = version;
			}
		}
	} else if (d->tls && px_acme_files(px, d->domain, cert, key, sizeof(cert)) == 0) {
		site.cert = cert;
		site.key = key;
		if (stat(cert, &st) == 0) {
			snprintf(version, sizeof(version), "%lld.%09ld", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
			site.cert_version = version;
		}
		/* stapling only where it can work: a responder named, the
		 * issuer's certificate, a name server for nginx to ask */
		if (px_acme_ocsp(px, d->domain, issuer, sizeof(issuer)) && px_resolvers(resolvers, sizeof(resolvers))) {
			site.ocsp_issuer = issuer;
			site.ocsp_resolvers = resolvers;
		}
	}
	return px_site_render(out, &site, &px->site, &px->err);
}

/* After a deploy switched: the domain's certificate, asked for (or renewed
 * when due) and served. A certificate that cannot be had leaves the site on
 * HTTP, saying why; the deploy stands. */
static void secure(struct px *px, const struct dep *d, const char *upstream)
{
	const struct webops_host *host = px->host;
	if (!d->tls || d->custom)
		return;
	if (!px->acme_email) {
		host->log(px->ctx, WEBOPS_LOG_INFO, "%s is served over HTTP only: set proxy-nginx's acme_email to get "
		          "certificates from ACME (or the field tls to off to keep it so)", d->domain);
		return;
	}
	if (access(px->acme_client, X_OK) != 0) {
		host->log(px->ctx, WEBOPS_LOG_WARN, "%s stays on HTTP: cannot run the ACME client %s (install lego, or "
		          "set acme_client)", d->domain, px->acme_client);
		return;
	}
	char cert[PATH_MAX], key[PATH_MAX];
	int had = px_acme_files(px, d->domain, cert, key, sizeof(cert)) == 0;
	host->log(px->ctx, WEBOPS_LOG_INFO, "%s a certificate for %s from %s", had ? "checking" : "asking for",
	          d->domain, px->acme_directory);
	long long t0 = px_now_ms();
	int got = px_acme_obtain(px, d->domain);
	if (got < 0) {
		host->log(px->ctx, WEBOPS_LOG_WARN, "no certificate for %s: %s; %s", d->domain, px_sb_str(&px->err),
		          had ? "the current one is kept" : "the site stays on HTTP");
		if (!had)
			return;
	} else if (got == 1 && had) {
		host->log(px->ctx, WEBOPS_LOG_INFO, "the certificate of %s is not due for renewal (more than %d days left)",
		          d->domain, px->acme_renew_days);
	} else {
		host->log(px->ctx, WEBOPS_LOG_INFO, "got a certificate for %s in %lld ms", d->domain, px_now_ms() - t0);
	}
	struct px_sb text = PX_SB_INIT;
	if (render(px, d, PX_ACTIVE, upstream, &text) < 0) {
		host->log(px->ctx, WEBOPS_LOG_WARN, "%s stays on HTTP: %s", d->domain, px_sb_str(&px->err));
	} else {
		int changed = px_apply(px, d->name, px_sb_str(&text));
		if (changed < 0)
			host->log(px->ctx, WEBOPS_LOG_WARN, "%s stays on HTTP: nginx refused its TLS server: %s", d->domain,
			          px_sb_str(&px->err));
		else
			host->log(px->ctx, WEBOPS_LOG_INFO, "nginx %s https://%s%s%.0d/ (HTTP redirects there)",
			          changed == 1 ? "already serves" : "now serves", d->domain,
			          px->site.https_port == 443 ? "" : ":", px->site.https_port == 443 ? 0 : px->site.https_port);
	}
	px_sb_release(&text);
}

/* Removes NAME's block; logs why. */
static int remove_site(struct px *px, const struct dep *d, const char *why)
{
	int rc = px_apply(px, d->name, NULL);
	if (rc < 0) {
		px->host->set_error(px->ctx, "cannot remove the server block of '%s': %s", d->name, px_sb_str(&px->err));
		return WEBOPS_ERROR;
	}
	px->host->log(px->ctx, WEBOPS_LOG_INFO, "removed the server block of '%s'%s%s", d->name, why ? ": " : "",
	              why ? why : "");
	return WEBOPS_OK;
}

/* The test-only pause after the switch; 0, or -1 when the hook was cancelled meanwhile. */
static int fault_pause(struct px *px)
{
	const char *f = getenv(PX_FAULT_ENV);
	if (!f || strcmp(f, "after_switch") != 0)
		return 0;
	px->host->log(px->ctx, WEBOPS_LOG_WARN, "fault pause: after_switch");
	long long until = px_now_ms() + PX_FAULT_PAUSE_MS;
	while (px_now_ms() < until) {
		if (px_cancelled(px))
			return -1;
		px_sleep_ms(100);
	}
	return 0;
}

/* post_deploy and start: NAME's server block sends to the upstream output. */
static int serve(const struct webops_host *host, struct webops_hook_ctx *ctx, int deploying)
{
	struct px px;
	struct dep d;
	if (setup(&px, host, ctx) < 0)
		return WEBOPS_ERROR;
	int rc = WEBOPS_ERROR;
	char *old = NULL;
	struct px_sb text = PX_SB_INIT;
	if (read_dep(&d, host, ctx) < 0)
		goto out;
	const char *why = not_fronted(host, ctx, &d);
	if (why) {
		host->set_error(ctx, "%s", why);
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	const char *from = host->setting(ctx, "upstream_addon");
	if (!from || !*from)
		from = "docker";
	const char *up = host->output_get(ctx, from, "upstream");
	if (!up || !*up) {
		host->set_error(ctx, "no upstream from addon '%s' for '%s' (it runs no release of it, or publishes "
		                "its ports itself)", from, d.name);
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	struct px_sb err = PX_SB_INIT;
	if (px_check_upstream(up, &err) < 0) {
		host->set_error(ctx, "addon '%s' published an unusable upstream for '%s': %s; nginx keeps its previous "
		                "configuration", from, d.name, px_sb_str(&err));
		px_sb_release(&err);
		goto out;
	}
	px_sb_release(&err);
	if (px_site_read(&px, d.name, &old) < 0 || render(&px, &d, PX_ACTIVE, up, &text) < 0) {
		host->set_error(ctx, "%s", px_sb_str(&px.err));
		goto out;
	}
	char at[400];
	where(at, sizeof(at), &px, &d);
	int changed = px_apply(&px, d.name, px_sb_str(&text));
	if (changed < 0) {
		host->set_error(ctx, "cannot send '%s' to %s: %s; nginx keeps its previous configuration", d.name, up,
		                px_sb_str(&px.err));
		goto out;
	}
	if (changed == 1)
		host->log(ctx, WEBOPS_LOG_INFO, "nginx (pid %ld) already sends %s to %s", (long)px.master, at, up);
	else
		host->log(ctx, WEBOPS_LOG_INFO, "nginx (pid %ld) now sends %s to %s: %s in %d ms", (long)px.master, at,
		          up, px.started ? "started" : "switched", px.switch_ms);
	if (deploying && fault_pause(&px) < 0) {
		/* cancelled after the switch: the previous release still runs (its
		 * retire comes after `switched`), so it gets the traffic back */
		px.ignore_cancel = 1;
		int back = px_apply(&px, d.name, old);
		host->set_error(ctx, "cancelled after the switch to %s; %s", up,
		                back < 0 ? "nginx could not be switched back" : "nginx was switched back");
		if (back < 0)
			host->log(ctx, WEBOPS_LOG_ERROR, "%s", px_sb_str(&px.err));
		goto out;
	}
	char ms[32];
	snprintf(ms, sizeof(ms), "%d", changed == 0 ? px.switch_ms : 0);
	host->output_set(ctx, "upstream", up);
	host->output_set(ctx, "switch_ms", ms);
	if (changed == 0) {
		/* when nginx was told, and when no old worker could take a new
		 * connection any more (seconds since the epoch): between the two
		 * a new connection may reach either release */
		char at1[32], at2[32];
		snprintf(at1, sizeof(at1), "%lld.%03lld", px.reload_sent_at / 1000, px.reload_sent_at % 1000);
		snprintf(at2, sizeof(at2), "%lld.%03lld", px.switched_at / 1000, px.switched_at % 1000);
		host->output_set(ctx, "switch_sent_at", at1);
		host->output_set(ctx, "switched_at", at2);
	}
	host->output_set(ctx, "switched", "true");
	if (deploying)
		secure(&px, &d, up);
	rc = WEBOPS_OK;
out:
	free(old);
	px_sb_release(&text);
	px_release(&px);
	return rc;
}

WEBOPS_HOOK(proxy_nginx_post_deploy)
{
	return serve(host, ctx, 1);
}

WEBOPS_HOOK(proxy_nginx_start)
{
	return serve(host, ctx, 0);
}

WEBOPS_HOOK(proxy_nginx_stop)
{
	struct px px;
	struct dep d;
	if (setup(&px, host, ctx) < 0)
		return WEBOPS_ERROR;
	int rc = WEBOPS_ERROR, have;
	char *old = NULL;
	struct px_sb text = PX_SB_INIT;
	if (read_dep(&d, host, ctx) < 0)
		goto out;
	if ((have = px_site_read(&px, d.name, &old)) < 0) {
		host->set_error(ctx, "%s", px_sb_str(&px.err));
		goto out;
	}
	if (have == 1) {
		host->set_error(ctx, "'%s' has no server block (it is not served through nginx)", d.name);
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	const char *why = not_fronted(host, ctx, &d);
	if (why) {
		rc = remove_site(&px, &d, why);
		goto out;
	}
	if (render(&px, &d, PX_STOPPED, NULL, &text) < 0) {
		host->set_error(ctx, "%s", px_sb_str(&px.err));
		goto out;
	}
	if (px_apply(&px, d.name, px_sb_str(&text)) < 0) {
		host->set_error(ctx, "cannot answer 503 for '%s': %s", d.name, px_sb_str(&px.err));
		goto out;
	}
	char at[400];
	where(at, sizeof(at), &px, &d);
	host->log(ctx, WEBOPS_LOG_INFO, "nginx answers 503 \"%s is stopped\" on %s", d.name, at);
	rc = WEBOPS_OK;
out:
	free(old);
	px_sb_release(&text);
	px_release(&px);
	return rc;
}

/* delete, and pre_deploy of a deployment no longer fronted */
static int drop(const struct webops_host *host, struct webops_hook_ctx *ctx, int only_stale)
{
	struct px px;
	struct dep d;
	if (setup(&px, host, ctx) < 0)
		return WEBOPS_ERROR;
	int rc = WEBOPS_ERROR, have;
	char *old = NULL;
	if (read_dep(&d, host, ctx) < 0)
		goto out;
	if ((have = px_site_read(&px, d.name, &old)) < 0) {
		host->set_error(ctx, "%s", px_sb_str(&px.err));
		goto out;
	}
	if (have == 1) {
		host->set_error(ctx, "'%s' has no server block", d.name);
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	const char *why = not_fronted(host, ctx, &d);
	if (only_stale && !why) {
		host->set_error(ctx, "'%s' stays served through nginx (switched in post_deploy)", d.name);
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	rc = remove_site(&px, &d, only_stale ? why : NULL);
	if (rc == WEBOPS_OK && !only_stale && d.domain)
		px_custom_remove(&px, d.domain);
out:
	free(old);
	px_release(&px);
	return rc;
}

WEBOPS_HOOK(proxy_nginx_delete)
{
	return drop(host, ctx, 0);
}

WEBOPS_HOOK(proxy_nginx_pre_deploy)
{
	return drop(host, ctx, 1);
}

/* A string value of a flat JSON text's key (no escapes in it); 0 when found. */
static int json_string_of(const char *json, const char *key, char *out, size_t size)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	const char *p = json ? strstr(json, pat) : NULL;
	if (!p)
		return -1;
	p += strlen(pat);
	p += strspn(p, " \t\n");
	if (*p++ != ':')
		return -1;
	p += strspn(p, " \t\n");
	if (*p++ != '"')
		return -1;
	size_t n = 0;
	while (p[n] && p[n] != '"' && p[n] != '\\' && (unsigned char)p[n] >= 0x20)
		n++;
	if (p[n] != '"' || n == 0 || n >= size)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* What webopsd told this hook (daemon_start, renew): where its HTTP server
 * is reached and the token it believes its proxy by. */
static void ui_facts(struct px *px)
{
	const struct webops_host *host = px->host;
	const char *ev = WEBOPS_HOST_HAS(host, event_json) ? host->event_json(px->ctx) : NULL;
	struct px_sb err = PX_SB_INIT;
	if (json_string_of(ev, "listen", px->ui_upstream, sizeof(px->ui_upstream)) < 0 ||
	    px_check_upstream(px->ui_upstream, &err) < 0)
		px->ui_upstream[0] = '\0';
	if (json_string_of(ev, "proxy_token", px->ui_token, sizeof(px->ui_token)) < 0 ||
	    strspn(px->ui_token, "0123456789abcdef") != strlen(px->ui_token))
		px->ui_token[0] = '\0';
	px_sb_release(&err);
}

/* daemon_start: webopsd's own UI and API published at ui_domain (with a
 * certificate, like a deployment's domain), or their site removed when
 * ui_domain is empty. Failures are logged; webopsd starts anyway. */
static void ui_serve(struct px *px)
{
	const struct webops_host *host = px->host;
	char *old = NULL;
	int have = px_site_read(px, PX_UI_SITE, &old) == 0;
	free(old);
	if (!px->ui_domain) {
		if (have && px_apply(px, PX_UI_SITE, NULL) >= 0)
			host->log(px->ctx, WEBOPS_LOG_INFO, "webopsd's own site is removed (ui_domain is empty)");
		return;
	}
	ui_facts(px);
	if (!px->ui_upstream[0] || !px->ui_token[0]) {
		host->log(px->ctx, WEBOPS_LOG_WARN, "ui_domain %s is not published: webopsd told no HTTP address on this "
		          "host (it listens on a unix socket, or not at all)", px->ui_domain);
		return;
	}
	struct dep d = { PX_UI_SITE, 0, px->ui_domain, 1, 0, 0 };
	struct px_sb text = PX_SB_INIT;
	if (render(px, &d, PX_ACTIVE, px->ui_upstream, &text) < 0 || px_apply(px, PX_UI_SITE, px_sb_str(&text)) < 0) {
		host->log(px->ctx, WEBOPS_LOG_WARN, "ui_domain %s is not published: %s", px->ui_domain, px_sb_str(&px->err));
	} else {
		host->log(px->ctx, WEBOPS_LOG_INFO, "nginx sends %s on port %d to webopsd at %s", px->ui_domain,
		          px->site.http_port, px->ui_upstream);
		secure(px, &d, px->ui_upstream);
	}
	px_sb_release(&text);
}

/* The hook's parent is the webopsd that dispatches daemon_start/daemon_stop. */
WEBOPS_HOOK(proxy_nginx_daemon_start)
{
	struct px px;
	if (setup(&px, host, ctx) < 0)
		return WEBOPS_ERROR;
	int rc = WEBOPS_ERROR;
	if (px.host_mode) {
		host->set_error(ctx, "mode is host: the host's nginx is started and stopped by the system");
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	if (px_daemon_start(&px, getppid()) < 0) {
		host->set_error(ctx, "cannot run the private nginx: %s", px_sb_str(&px.err));
		goto out;
	}
	host->log(ctx, WEBOPS_LOG_INFO, "nginx is running (pid %ld) with %d server block(s), under %s", (long)px.master,
	          px_site_count(&px), px.dir);
	ui_serve(&px);
	rc = WEBOPS_OK;
out:
	px_release(&px);
	return rc;
}

/* A value of a site file's first line ("... deployment=NAME state=active
 * kind=d port=80 upstream=127.0.0.1:PORT"), copied into out. */
static int meta_value(const char *text, const char *key, char *out, size_t size)
{
	size_t eol = strcspn(text, "\n");
	char pat[32];
	snprintf(pat, sizeof(pat), " %s=", key);
	const char *p = strstr(text, pat);
	if (!p || p > text + eol)
		return -1;
	p += strlen(pat);
	size_t n = strcspn(p, " \n");
	if (n >= size)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* The domain of a domain site's file (its server_name); 0 when found. */
static int site_domain(const char *text, char *out, size_t size)
{
	const char *p = strstr(text, "    server_name ");
	if (!p)
		return -1;
	p += 16;
	size_t n = strcspn(p, ";\n");
	if (n == 0 || n >= size)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* How long the periodic check waits after failures attempts in a row:
 * retry_minutes after the first, doubling with each, at most a day apart
 * (or retry_minutes, when that is longer). */
static long long backoff_s(int retry_minutes, int failures)
{
	long long first = (long long)retry_minutes * 60, s = first;
	for (int f = 1; f < failures && s < 86400; f++)
		s *= 2;
	long long cap = first > 86400 ? first : 86400;
	return s > cap ? cap : s;
}

/* renew: webopsd's periodic check. Every domain site whose certificate has
 * fewer than acme_renew_days left, or that has none because the last attempt
 * failed acme_retry_minutes ago or more, is asked for again; a new
 * certificate is put in the site's block (from what its file says) and nginx
 * reloads, with the same check and graceful switch as a deploy. */
WEBOPS_HOOK(proxy_nginx_renew)
{
	struct px px;
	if (setup(&px, host, ctx) < 0)
		return WEBOPS_ERROR;
	char **names = NULL;
	size_t n = 0;
	int checked = 0, renewed = 0, failed = 0, waiting = 0;
	int rc = WEBOPS_OK;
	if (!px.acme_email || access(px.acme_client, X_OK) != 0) {
		host->output_set(ctx, "summary", "");
		rc = WEBOPS_SKIPPED;
		host->set_error(ctx, "%s", !px.acme_email ? "no acme_email: no certificates are asked for"
		                                           : "the ACME client cannot be run");
		goto out;
	}
	if (px_sites(&px, &names, &n) < 0) {
		host->set_error(ctx, "%s", px_sb_str(&px.err));
		rc = WEBOPS_ERROR;
		goto out;
	}
	ui_facts(&px);
	long long now = (long long)time(NULL);
	for (size_t i = 0; i < n && !px_cancelled(&px); i++) {
		char *text = NULL, kind[4], domain[256], state[16], upstream[64];
		/* webopsd's own site is rebuilt with the token of the webopsd that asks */
		if ((!strcmp(names[i], PX_UI_SITE) && !px.ui_token[0]) || px_site_read(&px, names[i], &text) != 0)
			continue;
		struct px_sb err = PX_SB_INIT;
		char portv[8];
		int usable = meta_value(text, "kind", kind, sizeof(kind)) == 0 && (!strcmp(kind, "d") || !strcmp(kind, "p")) &&
		             site_domain(text, domain, sizeof(domain)) == 0 && px_check_domain(domain, &err) == 0 &&
		             meta_value(text, "state", state, sizeof(state)) == 0 && !strcmp(state, "active") &&
		             meta_value(text, "upstream", upstream, sizeof(upstream)) == 0 &&
		             px_check_upstream(upstream, &err) == 0;
		px_sb_release(&err);
		char ccert[PATH_MAX], ckey[PATH_MAX];
		if (usable && px_custom_files(&px, domain, ccert, ckey, sizeof(ccert)) == 0)
			usable = 0; /* a custom certificate: renewed by its owner */
		/* a site with tls off has neither a certificate nor a failed attempt */
		long long until = 0, failed_at = 0;
		int have = usable && px_acme_expiry(&px, domain, &until) == 0;
		int had_failed = usable && px_acme_failed_since(&px, domain, &failed_at);
		if (!usable || (!have && !had_failed)) {
			free(text);
			continue;
		}
		checked++;
		int due = !have || until - now < (long long)px.acme_renew_days * 86400;
		if (!due) {
			free(text);
			continue;
		}
		if (had_failed && now - failed_at < backoff_s(px.acme_retry_minutes, had_failed)) {
			waiting++;
			free(text);
			continue;
		}
		int got = px_acme_obtain(&px, domain);
		if (got < 0) {
			failed++;
			host->log(ctx, WEBOPS_LOG_WARN, "no certificate for %s: %s; asked again in %lld minutes (%d failure(s) "
			          "in a row)", domain, px_sb_str(&px.err), backoff_s(px.acme_retry_minutes, had_failed + 1) / 60,
			          had_failed + 1);
			free(text);
			continue;
		}
		/* a port site with a domain keeps its port */
		int port = !strcmp(kind, "p") && meta_value(text, "port", portv, sizeof(portv)) == 0 ? atoi(portv) : 0;
		struct dep d = { names[i], port, domain, 1, 0, strstr(text, "Strict-Transport-Security") != NULL };
		struct px_sb out = PX_SB_INIT;
		if (render(&px, &d, PX_ACTIVE, upstream, &out) < 0 || px_apply(&px, d.name, px_sb_str(&out)) < 0) {
			failed++;
			host->log(ctx, WEBOPS_LOG_WARN, "a new certificate for %s is not served: %s", domain, px_sb_str(&px.err));
		} else {
			renewed++;
			host->log(ctx, WEBOPS_LOG_INFO, "%s a certificate for %s; nginx serves it", have ? "renewed" : "got",
			          domain);
		}
		px_sb_release(&out);
		free(text);
	}
	char summary[200];
	snprintf(summary, sizeof(summary), "%d certificate(s) checked: %d renewed, %d failed, %d waiting to retry",
	         checked, renewed, failed, waiting);
	host->output_set(ctx, "summary", checked ? summary : "");
out:
	px_sites_free(names, n);
	px_release(&px);
	return rc;
}

/* validate: tls custom needs a domain, no port, and in tls_pem a
 * certificate for the domain, valid now, with its key. */
WEBOPS_HOOK(proxy_nginx_validate)
{
	const char *tls = host->field(ctx, "tls");
	if (!tls || strcmp(tls, "custom") != 0)
		return WEBOPS_OK;
	const char *domain = host->deployment(ctx, "domain");
	if (!domain || !*domain) {
		host->set_error(ctx, "tls: custom needs the deployment's domain (HTTPS is served for a domain on "
		                "https_port)");
		return WEBOPS_ERROR;
	}
	const char *pem = host->field(ctx, "tls_pem");
	if (!pem || !*pem) {
		host->set_error(ctx, "tls_pem: tls is custom but no certificate and key are stored: webops deployment tls "
		                "NAME --cert FILE --key FILE");
		return WEBOPS_ERROR;
	}
	struct px_sb c = PX_SB_INIT, k = PX_SB_INIT, err = PX_SB_INIT;
	int rc = WEBOPS_OK;
	if (px_cert_split(pem, domain, &c, &k, NULL, &err) < 0) {
		host->set_error(ctx, "tls_pem: %s", px_sb_str(&err));
		rc = WEBOPS_ERROR;
	}
	if (k.ptr)
		memset(k.ptr, 0, k.cap);
	px_sb_release(&c);
	px_sb_release(&k);
	px_sb_release(&err);
	return rc;
}

/* status: nginx's state and the certificates (for webops tls list, the
 * deployment page and /metrics) */
WEBOPS_HOOK(proxy_nginx_status)
{
	struct px px;
	if (setup(&px, host, ctx) < 0)
		return WEBOPS_ERROR;
	struct px_sb json = PX_SB_INIT;
	pid_t m = px_master_pid(&px);
	host->output_set(ctx, "state", m > 0 || px.host_mode ? "running" : "stopped");
	if (m > 0) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%ld", (long)m);
		host->output_set(ctx, "nginx_pid", pid);
	}
	if (px_acme_list(&px, &json) >= 0)
		host->output_set(ctx, "certificates", px_sb_str(&json));
	px_sb_release(&json);
	px_release(&px);
	return WEBOPS_OK;
}

WEBOPS_HOOK(proxy_nginx_daemon_stop)
{
	struct px px;
	if (setup(&px, host, ctx) < 0)
		return WEBOPS_ERROR;
	int rc = WEBOPS_ERROR;
	struct px_sb note = PX_SB_INIT;
	if (px.host_mode) {
		host->set_error(ctx, "mode is host: the host's nginx is started and stopped by the system");
		rc = WEBOPS_SKIPPED;
		goto out;
	}
	if (px_daemon_stop(&px, getppid(), &note) < 0) {
		host->set_error(ctx, "cannot stop the private nginx: %s", px_sb_str(&px.err));
		goto out;
	}
	host->log(ctx, WEBOPS_LOG_INFO, "%s", px_sb_str(&note));
	rc = WEBOPS_OK;
out:
	px_sb_release(&note);
	px_release(&px);
	return rc;
}
