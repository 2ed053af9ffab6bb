/* The HTTP server: libmicrohttpd with an internal thread pool (epoll), one
 * PostgreSQL connection per pool thread, request bodies collected under a
 * cap, authentication and CSRF checks before any handler (dispatch), and
 * starting and stopping it all. The rest is by concern: listen.c (the
 * socket), respond.c (requests and answers), jobs.c (suspended requests and
 * the event thread), cache.c (answers and authentications kept in memory),
 * clients.c (per-address limits). */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addon/addon.h"
#include "db/db.h"
#include "http/server_int.h"
#include "http/webhook_writer.h"
#include "store/access.h"
#include "pipeline/runs.h"
#include "store/deployment.h"
#include "template/template.h"
#include "util/error.h"
#include "util/log.h"
#include "util/banned.h"

extern char **environ;





long wo_http__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

size_t wo_http__drain(struct wo_buf *pending, size_t *off, char *out, size_t max)
{
	size_t n = pending->len - *off;
	if (n > max)
		n = max;
	memcpy(out, pending->ptr + *off, n);
	*off += n;
	if (*off == pending->len) {
		wo_buf_clear(pending);
		*off = 0;
	}
	return n;
}

/* ---- dispatch ---- */

static int is_write(const char *m)
{
	return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0;
}

static const char *media_type(const char *ct, char *buf, size_t cap)
{
	if (!ct)
		return "";
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	snprintf(buf, cap, "%.*s", (int)n, ct);
	for (char *p = buf; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return buf;
}

static int authenticate(struct wo_req *req)
{
	const char *authz = wo_http_header(req, "Authorization");
	if (authz && !strncasecmp(authz, "Basic ", 6) && !strncmp(req->path, "/git/", 5)) {
		/* git over HTTP: any user name, an API token as the password */
		char *user = NULL, *pass = NULL;
		user = MHD_basic_auth_get_username_password(req->mhd, &pass);
		int r = pass ? wo_token_lookup(&req->who, req->conn, pass) : WO_ENOTFOUND;
		if (user)
			MHD_free(user);
		if (pass)
			MHD_free(pass);
		if (r == 0)
			req->auth = WO_AUTH_TOKEN;
		return r == WO_ENOTFOUND ? 0 : r;
	}
	if (authz && !strncasecmp(authz, "Bearer ", 7)) {
		const char *tok = authz + 7;
		while (*tok == ' ')
			tok++;
		if (wo_http__auth_cached(req->srv, 't', tok, &req->who)) {
			req->auth = WO_AUTH_TOKEN;
			return 0;
		}
		unsigned gen = __atomic_load_n(&req->srv->auth_gen, __ATOMIC_ACQUIRE);
		int r = wo_token_lookup(&req->who, req->conn, tok);
		if (r == 0) {
			req->auth = WO_AUTH_TOKEN;
			wo_http__auth_remember(req->srv, 't', tok, gen, &req->who);
		}
		return r == WO_ENOTFOUND ? 0 : r;
	}
	const char *sid = wo_http_cookie(req, WO_HTTP_SESSION_COOKIE);
	if (sid) {
		if (wo_http__auth_cached(req->srv, 's', sid, &req->who)) {
			req->auth = WO_AUTH_SESSION;
			snprintf(req->sid, sizeof(req->sid), "%s", sid);
			return 0;
		}
		unsigned gen = __atomic_load_n(&req->srv->auth_gen, __ATOMIC_ACQUIRE);
		int r = wo_session_lookup(&req->who, req->conn, sid);
		if (r == 0) {
			wo_http__auth_remember(req->srv, 's', sid, gen, &req->who);
			req->auth = WO_AUTH_SESSION;
			snprintf(req->sid, sizeof(req->sid), "%s", sid);
		}
		return r == WO_ENOTFOUND ? 0 : r;
	}
	return 0;
}

static int fail_page(struct wo_req *req, int status, const char *msg)
{
	const char *heading = status == 404 ? "Not found"
			      : status == 403 ? "Not allowed"
			      : status == 405 ? "Wrong method"
			      : status == 413 ? "Too large"
			      : status == 415 ? "Unsupported form"
			      : status == 503 ? "Database unavailable"
					      : "Something went wrong";
	json_t *d = json_pack("{s:i, s:s, s:s, s:s, s:s}", "status", status, "heading", heading, "alert", msg,
			      "back_href", "/", "back_text", "Back to the deployments");
	int rc = wo_http_render(req, status, "message", d);
	json_decref(d);
	if (rc < 0 && !req->queued) {
		/* the templates themselves are broken: still say something useful */
		wo_log(WO_LOG_ERROR, "http", "cannot render the error page: %s", wo_error_last());
		return wo_http_send(req, status, "text/plain; charset=utf-8", msg, strlen(msg));
	}
	return rc;
}

int wo_http__fail(struct wo_req *req, unsigned flags, int status, const char *msg)
{
	if (flags & WO_ROUTE_PAGE)
		return fail_page(req, status, msg);
	return wo_http_send_error(req, status, msg, NULL);
}

int wo_http_visible_names(json_t **out, struct wo_req *req)
{
	*out = NULL;
	if (!wo_access_filtered(&req->who))
		return 0;
	/* names only: the whole records (their environments decrypted) are not needed */
	return wo_deployment_names_visible(out, req->conn, &req->who);
}

json_t *wo_http_filter_by_name(json_t *arr, const json_t *names, const char *key)
{
	if (!names)
		return arr;
	json_t *kept = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		const char *n = json_string_value(json_object_get(v, key));
		if (n && json_object_get(names, n))
			json_array_append(kept, v);
	}
	json_decref(arr);
	return kept;
}

int wo_http_access(struct wo_req *req, int perm, int subject, const char *param)
{
	unsigned flags = !strncmp(req->path, "/api/", 5) || !strncmp(req->path, "/git/", 5) || !strcmp(req->path, "/metrics")
				 ? WO_ROUTE_API
				 : WO_ROUTE_PAGE;
	int rc = subject == WO_SUBJECT_RUN ? wo_access_check_run(req->conn, &req->who, perm, param)
		 : wo_access_check(req->conn, &req->who, perm, subject == WO_SUBJECT_NONE ? NULL : param);
	if (rc == 0)
		return 0;
	if (rc == WO_ENOTFOUND)
		wo_http__fail(req, flags, 404, wo_error_last());
	else if (rc == WO_EFORBIDDEN)
		wo_http__fail(req, flags, 403, wo_error_last());
	else
		wo_http__fail(req, flags, 500, wo_error_last());
	return 1;
}

static int dispatch(struct wo_req *req)
{
	char allow[64] = "";
	const struct wo_route *rt = NULL;
	int r = wo_http_route(&rt, req, allow, sizeof(allow));
	unsigned flags = rt ? rt->flags : (!strncmp(req->path, "/api/", 5) ? WO_ROUTE_API : WO_ROUTE_PAGE);
	if (r == 404)
		return wo_http__fail(req, flags, 404, "not found");
	if (r == 405) {
		wo_http_add_header(req, "Allow", allow);
		char msg[128];
		snprintf(msg, sizeof(msg), "method %s is not allowed here; use %s", req->method, allow);
		return wo_http__fail(req, flags, 405, msg);
	}
	if (req->conflicting_length) {
		wo_http_add_header(req, "Connection", "close");
		return wo_http__fail(req, flags, 400, "the request has two different Content-Length headers");
	}
	if (req->body_too_large) {
		char msg[128];
		snprintf(msg, sizeof(msg), "the request body is larger than %zu bytes", req->body_limit);
		wo_http_add_header(req, "Connection", "close");
		return wo_http__fail(req, flags, 413, msg);
	}
	/* content types, before anything is looked at */
	char mt[128];
	const char *type = media_type(req->content_type, mt, sizeof(mt));
	if (is_write(req->method) && (flags & WO_ROUTE_API) && !(flags & WO_ROUTE_RAW) && req->body.len > 0 &&
	    strcmp(type, "application/json") != 0)
		return wo_http__fail(req, flags, 415, "send the body as application/json");
	if (is_write(req->method) && (flags & WO_ROUTE_PAGE) && req->body.len > 0 &&
	    strcmp(type, "application/x-www-form-urlencoded") != 0 && strcmp(type, "multipart/form-data") != 0)
		return wo_http__fail(req, flags, 415,
				     "send the form as application/x-www-form-urlencoded or multipart/form-data");

	if (!(flags & WO_ROUTE_PUBLIC) || (flags & WO_ROUTE_PAGE)) {
		/* public pages still want to know who is there (login redirects) */
		req->conn = wo_http__thread_conn(req->srv);
		if (!req->conn)
			return wo_http__fail(req, flags, 503, "the database is not reachable; try again shortly");
		if (authenticate(req) < 0)
			return -1;
	}
	if (!(flags & WO_ROUTE_PUBLIC)) {
		if (req->auth == WO_AUTH_NONE) {
			if (flags & WO_ROUTE_PAGE) {
				if (!is_write(req->method)) {
					struct wo_buf loc = WO_BUF_INIT;
					wo_buf_puts(&loc, "/login?next=");
					for (const unsigned char *p = (const unsigned char *)req->path; *p; p++) {
						if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
						    (*p >= '0' && *p <= '9') || strchr("/-_.~", *p))
							wo_buf_putc(&loc, (char)*p);
						else
							wo_buf_printf(&loc, "%%%02X", *p);
					}
					int rc = wo_http_redirect(req, wo_buf_cstr(&loc));
					wo_buf_release(&loc);
					return rc;
				}
				return wo_http_redirect(req, "/login");
			}
			if (flags & WO_ROUTE_GIT) {
				wo_http_add_header(req, "WWW-Authenticate", "Basic realm=\"webops\", charset=\"UTF-8\"");
				return wo_http__fail(req, WO_ROUTE_API, 401,
						     "authentication required: use an API token as the password "
						     "(webops token create NAME)");
			}
			wo_http_add_header(req, "WWW-Authenticate", "Bearer realm=\"webops\"");
			return wo_http__fail(req, flags, 401,
					     "authentication required: send 'Authorization: Bearer TOKEN' "
					     "(create one with 'webops token create NAME')");
		}
		/* a browser session changing state must prove it is our page */
		if (req->auth == WO_AUTH_SESSION && is_write(req->method)) {
			const char *tok = (flags & WO_ROUTE_PAGE) ? wo_http_form(req, "_csrf")
								   : wo_http_header(req, "X-CSRF-Token");
			if (!wo_session_csrf_ok(&req->who, tok))
				return wo_http__fail(req, flags, 403,
						     "the form's security token is missing or stale: reload the page and try again");
		}
		/* who may do what: decided below HTTP, in store/access.c */
		if (rt->subject != WO_SUBJECT_OWN &&
		    wo_http_access(req, rt->perm, rt->subject, req->nparams ? req->params[0] : NULL))
			return 0;
	} else if (!req->conn) {
		req->conn = wo_http__thread_conn(req->srv);
	}
	return rt->fn(req);
}

static void finish_unqueued(struct wo_req *req, int rc)
{
	if (req->queued || req->suspended)
		return;
	unsigned flags = !strncmp(req->path, "/api/", 5) ? WO_ROUTE_API : WO_ROUTE_PAGE;
	if (rc < 0)
		wo_log(WO_LOG_ERROR, "http", "%s %s: %s", req->method, req->path, wo_error_last());
	wo_http__fail(req, flags, 500, rc < 0 ? wo_error_last() : "the request was not answered");
}

/* Pushes can be large: their bodies go to an unlinked temp file. */
static void spool(struct wo_req *req, const char *data, size_t len)
{
	if (req->body_too_large)
		return;
	if (req->body_spooled + len > req->body_limit) {
		req->body_too_large = 1;
		return;
	}
	if (req->body_fd < 0) {
		const char *tmp = getenv("TMPDIR");
		req->body_fd = open(tmp && *tmp ? tmp : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (req->body_fd < 0) {
			wo_log(WO_LOG_ERROR, "http", "cannot spool a request body: %s", strerror(errno));
			req->body_too_large = 1;
			return;
		}
	}
	while (len) {
		ssize_t w = write(req->body_fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			wo_log(WO_LOG_ERROR, "http", "cannot spool a request body: %s", strerror(errno));
			req->body_too_large = 1;
			return;
		}
		data += w;
		len -= (size_t)w;
		req->body_spooled += (unsigned long long)w;
	}
}

struct length_seen {
	const char *first;
	int conflict;
};

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct length_seen *ls = cls;
	if (strcasecmp(key, "Content-Length") != 0)
		return MHD_YES;
	if (!ls->first)
		ls->first = value ? value : "";
	else if (strcmp(ls->first, value ? value : "") != 0)
		ls->conflict = 1;
	return MHD_YES;
}

static void through_own_proxy(struct wo_req *req, struct MHD_Connection *c);

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct wo_http_server *srv = cls;
	struct wo_req *req = *con_cls;
	if (!req) {
		wo_http__conn_mark(srv, c, 1); /* its headers are in: the deadline is met */
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->srv = srv;
		req->mhd = c;
		snprintf(req->method, sizeof(req->method), "%s", method);
		req->path = strdup(url);
		req->content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
		req->body_fd = -1;
		req->child_result_fd = -1;
		req->body_limit = srv->opts.body_max;
		if (!strncmp(url, "/hooks/", 7))
			req->body_limit = WO_HTTP_HOOK_BODY_MAX;
		else if (!strncmp(url, "/git/", 5))
			req->body_limit = srv->git_body_max;
		wo_buf_init(&req->body, req->body_limit);
		wo_form_init(&req->form);
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr) {
			const struct sockaddr *sa = ci->client_addr;
			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->address,
					  sizeof(req->address));
			else if (sa->sa_family == AF_INET6)
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->address,
					  sizeof(req->address));
			else
				snprintf(req->address, sizeof(req->address), "local");
		} else {
			snprintf(req->address, sizeof(req->address), "local");
		}
		req->tls = srv->cookie_secure;
		through_own_proxy(req, c);
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
		if (declared > req->body_limit)
			req->body_too_large = 1;
		const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
		int waits = expect && !strcasecmp(expect, "100-continue");
		/* two Content-Length headers that disagree: where the body ends is
		 * ambiguous (request smuggling through a proxy); refused, unread */
		struct length_seen ls = { NULL, 0 };
		MHD_get_connection_values(c, MHD_HEADER_KIND, count_length, &ls);
		req->conflicting_length = ls.conflict;
		*con_cls = req;
		/* refuse an oversized body before reading it when the client waits
		 * for the go-ahead (or it is beyond what is worth reading); else
		 * read and drop it, then answer 413 (a client still sending would
		 * see a reset, not the answer) */
		if (req->conflicting_length || (req->body_too_large && (waits || declared > WO_HTTP_DISCARD_MAX))) {
			int rc = dispatch(req);
			finish_unqueued(req, rc);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (req->body_too_large) {
			req->discarded += *upload_data_size;
			*upload_data_size = 0;
			/* a body without end (chunked): no more is read */
			return req->discarded > WO_HTTP_DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		if (!strncmp(req->path, "/git/", 5))
			spool(req, upload_data, *upload_data_size);
		else if (wo_buf_add(&req->body, upload_data, *upload_data_size) < 0)
			req->body_too_large = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->queued)
		return MHD_YES;
	int rc;
	if (req->suspended) {
		req->suspended = 0;
		req->conn = wo_http__thread_conn(srv);
		rc = req->resume ? req->resume(req) : -1;
	} else {
		rc = dispatch(req);
	}
	finish_unqueued(req, rc);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct wo_http_server *srv = cls;
	struct wo_req *req = *con_cls;
	wo_http__conn_mark(srv, c, 0);
	if (!req)
		return;
	if (srv->access_log && req->path)
		wo_log(WO_LOG_INFO, "http", "%s %s %d", req->method, req->path, req->status);
	if (req->state_free)
		req->state_free(req->state);
	wo_buf_release(&req->body);
	if (req->body_fd >= 0)
		close(req->body_fd);
	wo_buf_release(&req->resp_headers);
	wo_buf_release(&req->child_output);
	if (req->child_result_fd >= 0)
		close(req->child_result_fd);
	json_decref(req->child_result);
	wo_form_release(&req->form);
	free(req->param_store);
	free(req->path);
	free(req);
	*con_cls = NULL;
}

void wo_http__mhd_message(enum wo_log_level level, const char *component, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	wo_log(level, component, "%s", msg);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	/* a client that leaves a stream (a closed tab's live page, a log it
	 * stopped following) is no problem of the server's. libmicrohttpd's
	 * logger gives no code: its format string (its constant, not the
	 * words filled in) says a send to a client failed */
	int left = !strncmp(fmt, "Failed to send", 14);
	wo_http__mhd_message(left ? WO_LOG_DEBUG : WO_LOG_WARN, "http", fmt, ap);
}

static char *dir_join(const char *a, const char *b)
{
	char *s = NULL;
	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

/* A request that came through webops's own proxy (proxy-nginx's ui_domain
 * site sends the token webopsd gave it at daemon_start, X-Webops-Proxy):
 * whether the client spoke TLS to it, and the client's address, are
 * believed from its headers; from anyone else they are ignored. */
static void through_own_proxy(struct wo_req *req, struct MHD_Connection *c)
{
	const char *want = req->srv->opts.proxy_token;
	const char *got = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Webops-Proxy");
	size_t n = want ? strlen(want) : 0;
	if (!n || !got || strlen(got) != n || sodium_memcmp(got, want, n) != 0)
		return;
	const char *proto = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
	if (proto && !strcasecmp(proto, "https"))
		req->tls = 1;
	const char *ip = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Real-IP");
	unsigned char bin[16];
	if (ip && strlen(ip) < sizeof(req->address) &&
	    (inet_pton(AF_INET, ip, bin) == 1 || inet_pton(AF_INET6, ip, bin) == 1))
		snprintf(req->address, sizeof(req->address), "%s", ip);
}

/* An unsigned number from the environment variable name, dflt when it is
 * unset or empty. */
static unsigned long env_number(const char *name, unsigned long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtoul(v, NULL, 10) : dflt;
}

/* The server's settings: opts, their defaults, and what the environment
 * says (WEBOPS_COOKIE_SECURE, WEBOPS_GIT_PUSH_MAX, WEBOPS_HTTP_ACCESS_LOG). */
static void settings_init(struct wo_http_server *srv, const struct wo_http_opts *opts)
{
	srv->opts = *opts;
	if (!srv->opts.body_max)
		srv->opts.body_max = WO_HTTP_BODY_MAX_DEFAULT;
	if (srv->opts.threads < 1)
		srv->opts.threads = 4;
	srv->public_url = strdup(opts->public_url ? opts->public_url : "http://127.0.0.1:8000");
	srv->web_templates_dir = dir_join(opts->cfg->templates_dir, "web");
	srv->cli_path = dir_join(wo_config_exe_dir(), "webops");
	const char *cs = getenv("WEBOPS_COOKIE_SECURE");
	srv->cookie_secure = cs && !strcmp(cs, "1");
	const char *gm = getenv("WEBOPS_GIT_PUSH_MAX");
	srv->git_body_max = gm && *gm ? strtoull(gm, NULL, 10) : WO_HTTP_GIT_BODY_MAX_DEFAULT;
	if (!srv->git_body_max)
		srv->git_body_max = WO_HTTP_GIT_BODY_MAX_DEFAULT;
	const char *al = getenv("WEBOPS_HTTP_ACCESS_LOG");
	srv->access_log = al && !strcmp(al, "1");
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->reg_lock, NULL);
	pthread_mutex_init(&srv->auth_lock, NULL);
	pthread_mutex_init(&srv->deployments.lock, NULL);
	pthread_mutex_init(&srv->page_list.lock, NULL);
	pthread_mutex_init(&srv->page_runs.lock, NULL);
}

/* The addon registry, probed here while this process has no threads yet;
 * why it is not there in srv->reg_error. */
static void registry_load(struct wo_http_server *srv, const struct wo_http_opts *opts)
{
	PGconn *c = NULL;
	if (wo_db_connect(&c, opts->conninfo) == 0) {
		if (wo_addon_registry_load(&srv->reg, opts->cfg->addons_path, c) < 0) {
			srv->reg_error = strdup(wo_error_last());
			wo_log(WO_LOG_WARN, "http", "cannot load addons: %s", srv->reg_error);
		} else {
			srv->reg->conn = NULL;
		}
		PQfinish(c);
	} else {
		srv->reg_error = strdup(wo_error_last());
	}
}

/* The event thread (and the pipe that wakes it) and the webhook writer;
 * -1 with the error set. */
static int threads_start(struct wo_http_server *srv, const struct wo_http_opts *opts)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return wo_error_set("cannot create a pipe: %s", strerror(errno));
	srv->wake_r = p[0];
	srv->wake_w = p[1];
	if (pthread_create(&srv->events, NULL, wo_http__event_thread, srv) != 0)
		return wo_error_set("cannot start the event thread");
	srv->events_started = 1;
	return wo_hook_writer_start(&srv->hook_writer, opts->conninfo);
}

/* What one client may hold: connections per address, refused webhook
 * deliveries a minute, time to send a request's headers. */
static void client_limits_init(struct wo_http_server *srv, const struct wo_http_opts *opts)
{
	/* One address may hold at most this many connections (TCP listeners
	 * only: over a unix socket every client is the same "address"), so a
	 * client opening connections by the thousand, or trickling headers on
	 * them, cannot keep the server from answering others
	 * (WEBOPS_HTTP_PER_ADDRESS_MAX, 0: no limit). */
	srv->per_address_max = (unsigned)env_number("WEBOPS_HTTP_PER_ADDRESS_MAX", 128);
	struct sockaddr_storage la;
	socklen_t lalen = sizeof(la);
	if (getsockname(opts->listen_fd, (struct sockaddr *)&la, &lalen) == 0 && la.ss_family == AF_UNIX)
		srv->per_address_max = 0;
	pthread_mutex_init(&srv->addr_lock, NULL);
	pthread_mutex_init(&srv->conns_lock, NULL);
	pthread_mutex_init(&srv->rejects_lock, NULL);
	/* rejected webhook deliveries one address may make a minute before
	 * the next are answered 429 and not recorded */
	srv->rejects_per_min = (unsigned)env_number("WEBOPS_WEBHOOK_REJECTS_PER_MIN", 30);
	/* a request's headers must arrive within this many seconds of the
	 * connection opening or the previous answer ending (keep-alive) */
	srv->header_timeout_ms = 30000;
	const char *ht = getenv("WEBOPS_HTTP_HEADER_TIMEOUT_S");
	if (ht && *ht)
		srv->header_timeout_ms = strtol(ht, NULL, 10) * 1000;
	srv->addrs = srv->per_address_max ? calloc(WO_HTTP_ADDR_SLOTS, sizeof(*srv->addrs)) : NULL;
	if (!srv->addrs)
		srv->per_address_max = 0;
}

int wo_http_start(struct wo_http_server **out, const struct wo_http_opts *opts)
{
	struct wo_http_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return wo_error_set("out of memory");
	settings_init(srv, opts);
	registry_load(srv, opts);
	if (threads_start(srv, opts) < 0) {
		wo_http_stop(srv);
		return -1;
	}
	client_limits_init(srv, opts);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	srv->mhd = MHD_start_daemon(flags, 0, wo_http__accept_policy, srv, on_request, srv,
				    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				    MHD_OPTION_LISTEN_SOCKET, opts->listen_fd,
				    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->opts.threads,
				    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				    MHD_OPTION_NOTIFY_CONNECTION, wo_http__on_connection, srv,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
				    MHD_OPTION_END);
	if (!srv->mhd) {
		wo_http_stop(srv);
		return wo_error_set("cannot start the HTTP server (libmicrohttpd refused the options)");
	}
	*out = srv;
	return 0;
}

void wo_http_stop(struct wo_http_server *srv)
{
	if (!srv)
		return;
	if (srv->mhd) {
		/* stop accepting first; suspended requests are resumed so MHD can close them */
		MHD_quiesce_daemon(srv->mhd);
	}
	/* deliveries being recorded are answered; later ones are recorded by
	 * their own thread */
	wo_hook_writer_drain(srv->hook_writer);
	if (srv->events_started) {
		pthread_mutex_lock(&srv->lock);
		srv->stopping = 1;
		pthread_mutex_unlock(&srv->lock);
		wo_http__wake(srv);
		pthread_join(srv->events, NULL);
	}
	pthread_mutex_lock(&srv->lock);
	while (srv->jobs) {
		struct wo_http_job *j = srv->jobs;
		srv->jobs = j->next;
		if (j->kind == WO_JOB_CHILD) {
			kill(j->pid, SIGTERM);
			close(j->fd);
			waitpid(j->pid, &j->req->child_status, 0);
		}
		/* CGI jobs: the stream's state kills and reaps its program when freed */
		if (j->req)
			j->req->async_done = 1;
		MHD_resume_connection(j->mhd);
		free(j);
	}
	pthread_mutex_unlock(&srv->lock);
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	wo_hook_writer_free(srv->hook_writer);
	if (srv->listen_conn)
		PQfinish(srv->listen_conn);
	for (size_t i = 0; i < srv->nreap; i++)
		waitpid(srv->reap[i], NULL, 0);
	free(srv->reap);
	if (srv->wake_r > 0)
		close(srv->wake_r);
	if (srv->wake_w > 0)
		close(srv->wake_w);
	wo_addon_registry_free(srv->reg);
	free(srv->reg_error);
	free(srv->public_url);
	free(srv->addrs);
	free(srv->web_templates_dir);
	free(srv->cli_path);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->reg_lock);
	pthread_mutex_destroy(&srv->auth_lock);
	pthread_mutex_destroy(&srv->deployments.lock);
	pthread_mutex_destroy(&srv->page_list.lock);
	pthread_mutex_destroy(&srv->page_runs.lock);
	json_decref(srv->page_list.v);
	json_decref(srv->page_runs.v);
	if (srv->deployments.resp)
		MHD_destroy_response(srv->deployments.resp);
	sodium_memzero(srv->auth, sizeof(srv->auth));
	free(srv);
}
