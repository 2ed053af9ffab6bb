/* The HTTP server: libmicrohttpd with an internal thread pool (epoll), one
 * PostgreSQL connection per pool thread, request bodies collected under a
 * cap, authentication and CSRF checks before any handler, security headers
 * on every answer, and one event thread that resumes suspended requests
 * (children that finished, delays, run logs that grew: LISTEN webops_run_log). */
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

#define CHILD_OUTPUT_MAX (256 * 1024)
#define SESSION_COOKIE "webops_session"

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
			  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

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

/* ---- listening ---- */

int wo_http_listen(int *fd_out, char **url_out, const char *spec)
{
	if (!spec || !*spec)
		return wo_error_set("listen address is empty: use HOST:PORT or unix:/path");
	if (!strncmp(spec, "unix:", 5)) {
		const char *path = spec + 5;
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path))
			return wo_error_set("listen address '%s' is invalid: use unix:/absolute/path (at most %zu characters)",
					    spec, sizeof(sun.sun_path) - 1);
		memcpy(sun.sun_path, path, strlen(path) + 1);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return wo_error_set("cannot create a socket: %s", strerror(errno));
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path); /* a socket left by an earlier run */
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 128) < 0) {
			int e = errno;
			close(fd);
			return wo_error_set("cannot listen on '%s': %s", path, strerror(e));
		}
		chmod(path, 0660);
		*fd_out = fd;
		*url_out = strdup(spec);
		return 0;
	}
	char host[256];
	const char *port;
	const char *colon = strrchr(spec, ':');
	if (!colon)
		return wo_error_set("listen address '%s' is invalid: use HOST:PORT, [IPv6]:PORT, :PORT or unix:/path", spec);
	size_t hl = (size_t)(colon - spec);
	if (hl >= sizeof(host))
		return wo_error_set("listen address '%s' is invalid: the host is too long", spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	port = colon + 1;
	if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	char *end;
	long pn = strtol(port, &end, 10);
	if (!*port || *end || pn < 0 || pn > 65535)
		return wo_error_set("listen address '%s' is invalid: the port must be 0-65535", spec);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	int gr = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (gr != 0)
		return wo_error_set("listen address '%s': cannot resolve '%s': %s", spec, host, gai_strerror(gr));
	int fd = -1, err = 0;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 511) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return wo_error_set("cannot listen on '%s': %s", spec, strerror(err));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char shown[300];
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	char ip[INET6_ADDRSTRLEN] = "";
	int actual = 0;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		actual = ntohs(s6->sin6_port);
		snprintf(shown, sizeof(shown), "http://[%s]:%d", !strcmp(ip, "::") ? "::1" : ip, actual);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		actual = ntohs(s4->sin_port);
		snprintf(shown, sizeof(shown), "http://%s:%d", !strcmp(ip, "0.0.0.0") ? "127.0.0.1" : ip, actual);
	}
	*fd_out = fd;
	*url_out = strdup(shown);
	return 0;
}

/* ---- per-thread resources ---- */

static pthread_key_t conn_key, tpl_key;
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void conn_free(void *p)
{
	PQfinish(p);
}

static void tpl_free(void *p)
{
	wo_tpl_env_free(p);
}

static void make_keys(void)
{
	pthread_key_create(&conn_key, conn_free);
	pthread_key_create(&tpl_key, tpl_free);
}

PGconn *wo_http__thread_conn(struct wo_http_server *srv)
{
	pthread_once(&keys_once, make_keys);
	PGconn *c = pthread_getspecific(conn_key);
	if (c && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE)
		return c;
	if (c) {
		/* a connection left in a transaction by an error, or broken: start over */
		PQfinish(c);
		pthread_setspecific(conn_key, NULL);
	}
	if (wo_db_connect(&c, srv->opts.conninfo) < 0) {
		long now = wo_http__now_ms();
		if (now - srv->last_db_complaint > 10000) {
			srv->last_db_complaint = now;
			wo_log(WO_LOG_ERROR, "http", "%s", wo_error_last());
		}
		return NULL;
	}
	pthread_setspecific(conn_key, c);
	return c;
}

/* ---- request helpers ---- */

const struct wo_config *wo_http_config(struct wo_req *req)
{
	return req->srv->opts.cfg;
}

const char *wo_http_public_url(struct wo_req *req)
{
	return req->srv->public_url;
}

const char *wo_http_conninfo(struct wo_req *req)
{
	return req->srv->opts.conninfo;
}

const char *wo_http_cli_path(struct wo_http_server *srv)
{
	return srv->cli_path;
}

const char *wo_http_query(struct wo_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->mhd, MHD_GET_ARGUMENT_KIND, name);
}

const char *wo_http_header(struct wo_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->mhd, MHD_HEADER_KIND, name);
}

const char *wo_http_cookie(struct wo_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->mhd, MHD_COOKIE_KIND, name);
}

static int ensure_form(struct wo_req *req)
{
	if (req->form_state == 0) {
		req->form_state = wo_form_parse(&req->form, req->content_type, wo_buf_cstr(&req->body), req->body.len) == 0
					  ? 1
					  : -1;
	}
	return req->form_state;
}

const char *wo_http_form(struct wo_req *req, const char *name)
{
	return ensure_form(req) == 1 ? wo_form_get(&req->form, name) : NULL;
}

const char *wo_http_form_nth(struct wo_req *req, const char *name, size_t i)
{
	return ensure_form(req) == 1 ? wo_form_get_nth(&req->form, name, i) : NULL;
}

void wo_http_add_header(struct wo_req *req, const char *name, const char *value)
{
	wo_buf_add(&req->resp_headers, name, strlen(name) + 1);
	wo_buf_add(&req->resp_headers, value, strlen(value) + 1);
}

void wo_http__add_security_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "same-origin");
}

int wo_http__queue(struct wo_req *req, int status, struct MHD_Response *r, const char *content_type)
{
	if (!r)
		return wo_error_set("cannot create a response: out of memory");
	wo_http__add_security_headers(r);
	if (content_type)
		MHD_add_response_header(r, "Content-Type", content_type);
	int cache_set = 0;
	for (size_t off = 0; off < req->resp_headers.len;) {
		const char *n = req->resp_headers.ptr + off;
		const char *v = n + strlen(n) + 1;
		cache_set |= !strcasecmp(n, "Cache-Control");
		MHD_add_response_header(r, n, v);
		off = (size_t)(v + strlen(v) + 1 - req->resp_headers.ptr);
	}
	if (!cache_set)
		MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result q = MHD_queue_response(req->mhd, (unsigned)status, r);
	MHD_destroy_response(r);
	if (q != MHD_YES)
		return wo_error_set("cannot queue the response");
	req->queued = 1;
	req->status = status;
	return 0;
}

int wo_http_send(struct wo_req *req, int status, const char *content_type, const void *data, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	return wo_http__queue(req, status, r, content_type);
}

int wo_http_send_json(struct wo_req *req, int status, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		return wo_error_set("cannot encode JSON");
	size_t n = strlen(s);
	struct MHD_Response *r = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
	if (!r)
		free(s);
	return wo_http__queue(req, status, r, "application/json");
}

int wo_http_send_error(struct wo_req *req, int status, const char *msg, const json_t *fields)
{
	json_t *e = json_pack("{s:s}", "message", msg ? msg : "");
	if (fields)
		json_object_set(e, "fields", (json_t *)fields);
	json_t *o = json_pack("{s:o}", "error", e);
	int rc = wo_http_send_json(req, status, o);
	json_decref(o);
	return rc;
}

/* The field a validation line is about: its first word, up to a space,
 * colon or quote, mapped onto the names the API and forms use. */
json_t *wo_http_error_fields(const char *msg)
{
	static const char *const known[] = { "name", "repo_url", "branch", "domain", "port", "env", "env_vars",
					     "status", "addon_fields", "user", "password", "token", "ref", "push_only", NULL };
	json_t *fields = json_object();
	const char *p = msg ? msg : "";
	while (*p) {
		size_t n = strcspn(p, "\n");
		char *line = strndup(p, n);
		size_t w = strcspn(line, " :'");
		char key[128];
		snprintf(key, sizeof(key), "%.*s", (int)(w < sizeof(key) - 1 ? w : sizeof(key) - 1), line);
		const char *field = "_";
		for (int i = 0; known[i]; i++)
			if (!strcmp(key, known[i]))
				field = !strcmp(key, "env_vars") ? "env" : known[i];
		/* addon fields: "invalid value for field 'F' (addon 'A', ...)", "unknown
		 * field 'F'", "field 'F' (addon 'A') is required": keyed "A.F" (or "F") */
		char quoted[160] = "";
		const char *fq = strcmp(field, "_") ? NULL : strstr(line, "field '");
		if (fq) {
			const char *q = fq + 7;
			int qn = (int)strcspn(q, "'");
			const char *aq = strstr(q, "(addon '");
			if (aq) {
				const char *an = aq + 8;
				snprintf(quoted, sizeof(quoted), "%.*s.%.*s", (int)strcspn(an, "'"), an, qn, q);
			} else {
				snprintf(quoted, sizeof(quoted), "%.*s", qn, q);
			}
			field = quoted;
		} else if (!strcmp(field, "_") && w > 0 && strchr(key, '.')) {
			field = key; /* "docker.docker_ports: ..." */
		}
		json_t *prev = json_object_get(fields, field);
		if (json_is_string(prev)) {
			char *joined = NULL;
			if (asprintf(&joined, "%s; %s", json_string_value(prev), line) >= 0) {
				json_object_set_new(fields, field, json_string(joined));
				free(joined);
			}
		} else {
			json_object_set_new(fields, field, json_string(line));
		}
		free(line);
		p += n;
		if (*p == '\n')
			p++;
	}
	return fields;
}

int wo_http_send_validation(struct wo_req *req, const char *msg)
{
	json_t *f = wo_http_error_fields(msg);
	int rc = wo_http_send_error(req, 422, msg, f);
	json_decref(f);
	return rc;
}

int wo_http_redirect(struct wo_req *req, const char *location)
{
	/* only our own paths: never an open redirect */
	const char *loc = location && location[0] == '/' && location[1] != '/' && location[1] != '\\' ? location : "/";
	wo_http_add_header(req, "Location", loc);
	static const char body[] = "See Other";
	return wo_http_send(req, 303, "text/plain; charset=utf-8", body, sizeof(body) - 1);
}

void wo_http_set_session_cookie(struct wo_req *req, const char *sid)
{
	char c[256];
	snprintf(c, sizeof(c), SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Lax%s%s", sid ? sid : "",
		 req->tls ? "; Secure" : "", sid ? "" : "; Max-Age=0");
	wo_http_add_header(req, "Set-Cookie", c);
}

/* What the child wrote on its result descriptor (it has ended: all of it
 * is in the pipe), parsed once. */
static const json_t *child_result(struct wo_req *req)
{
	if (!req->child_result && req->child_result_fd >= 0) {
		char text[4096];
		size_t len = 0;
		for (;;) {
			ssize_t n = read(req->child_result_fd, text + len, sizeof(text) - 1 - len);
			if (n > 0 && len + (size_t)n < sizeof(text) - 1) {
				len += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		text[len] = '\0';
		close(req->child_result_fd);
		req->child_result_fd = -1;
		json_t *j = json_loads(text, 0, NULL);
		if (json_is_object(j))
			req->child_result = j;
		else
			json_decref(j);
	}
	return req->child_result;
}

int wo_http_child_code(struct wo_req *req)
{
	const json_t *r = child_result(req);
	const char *code = json_string_value(json_object_get(r, "code"));
	if (code)
		return wo_error_from_name(code);
	return WIFEXITED(req->child_status) && WEXITSTATUS(req->child_status) == 0 ? WO_OK : WO_ERROR;
}

const char *wo_http_child_error(struct wo_req *req, struct wo_buf *buf)
{
	wo_buf_clear(buf);
	const char *said = json_string_value(json_object_get(child_result(req), "error"));
	if (said && *said) {
		wo_buf_puts(buf, said);
		return wo_buf_cstr(buf);
	}
	const char *out = wo_buf_cstr(&req->child_output);
	const char *last = NULL;
	for (const char *p = out; p && *p;) {
		if (!strncmp(p, "webops: ", 8))
			last = p + 8;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (last) {
		wo_buf_add(buf, last, strcspn(last, "\n"));
	} else {
		char how[96];
		if (WIFEXITED(req->child_status) && WEXITSTATUS(req->child_status) == 0)
			snprintf(how, sizeof(how), "done");
		else if (WIFEXITED(req->child_status))
			snprintf(how, sizeof(how), "failed (exit status %d)", WEXITSTATUS(req->child_status));
		else
			snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(req->child_status));
		wo_buf_puts(buf, how);
	}
	return wo_buf_cstr(buf);
}

/* ---- templates ---- */

int wo_http_render(struct wo_req *req, int status, const char *name, json_t *data)
{
	pthread_once(&keys_once, make_keys);
	struct wo_tpl_env *env = pthread_getspecific(tpl_key);
	if (!env) {
		if (wo_tpl_env_new(&env, req->srv->web_templates_dir) < 0)
			return -1;
		pthread_setspecific(tpl_key, env);
	}
	json_t *d = data ? json_incref(data) : json_object();
	if (req->auth == WO_AUTH_SESSION) {
		json_object_set_new(d, "me", json_pack("{s:s, s:s, s:b}", "user", req->who.user, "role",
						       wo_role_name(wo_access_role(&req->who)), "admin",
						       wo_access_role(&req->who) == WO_ROLE_ADMIN));
		char csrf[WO_SECRET_TEXT_LEN + 1];
		wo_session_csrf_text(csrf, &req->who);
		json_object_set_new(d, "csrf", json_string(csrf));
	}
	json_object_set_new(d, "version", json_string(WEBOPS_VERSION));
	struct wo_buf out = WO_BUF_INIT;
	struct wo_tpl_opts o = WO_TPL_OPTS_INIT;
	int rc = wo_tpl_render_file(&out, env, name, d, &o);
	json_decref(d);
	if (rc < 0) {
		wo_buf_release(&out);
		return -1;
	}
	rc = wo_http_send(req, status, "text/html; charset=utf-8", wo_buf_cstr(&out), out.len);
	wo_buf_release(&out);
	return rc;
}

/* ---- registry ---- */

struct wo_addon_registry *wo_http_registry_lock(struct wo_req *req)
{
	struct wo_http_server *srv = req->srv;
	pthread_mutex_lock(&srv->reg_lock);
	if (!srv->reg) {
		pthread_mutex_unlock(&srv->reg_lock);
		wo_error_set("the addon registry is not loaded: %s", srv->reg_error ? srv->reg_error : "unknown error");
		return NULL;
	}
	if (req->conn && wo_addon_registry_refresh(srv->reg, req->conn) < 0) {
		wo_log(WO_LOG_WARN, "http", "cannot refresh addons: %s", wo_error_last());
	}
	return srv->reg;
}

void wo_http_registry_unlock(struct wo_req *req)
{
	struct wo_http_server *srv = req->srv;
	if (srv->reg)
		srv->reg->conn = NULL;
	pthread_mutex_unlock(&srv->reg_lock);
}

/* ---- asynchronous work: children and delays ---- */

static void wake(struct wo_http_server *srv)
{
	char c = 1;
	ssize_t w = write(srv->wake_w, &c, 1);
	(void)w;
}

static struct wo_http_job *job_new(enum wo_http_job_kind kind, struct MHD_Connection *mhd, int fd)
{
	struct wo_http_job *job = calloc(1, sizeof(*job));
	if (job) {
		job->kind = kind;
		job->mhd = mhd;
		job->fd = fd;
	}
	return job;
}

/* With srv->lock held: the event thread watches job from now on. */
static void job_add(struct wo_http_server *srv, struct wo_http_job *job)
{
	job->next = srv->jobs;
	srv->jobs = job;
	wake(srv);
}

static void suspend_req(struct wo_req *req, int (*resume)(struct wo_req *));

/* Suspends req and hands job (which resumes it) to the event thread. */
static void suspend_with(struct wo_req *req, struct wo_http_job *job, int (*resume)(struct wo_req *))
{
	job->req = req;
	pthread_mutex_lock(&req->srv->lock);
	suspend_req(req, resume);
	job_add(req->srv, job);
	pthread_mutex_unlock(&req->srv->lock);
}

static void suspend_req(struct wo_req *req, int (*resume)(struct wo_req *))
{
	req->resume = resume;
	req->suspended = 1;
	req->async_done = 0;
	MHD_suspend_connection(req->mhd);
}

void wo_http_suspend(struct wo_req *req, int (*resume)(struct wo_req *))
{
	pthread_mutex_lock(&req->srv->lock);
	suspend_req(req, resume);
	pthread_mutex_unlock(&req->srv->lock);
}

void wo_http_resume(struct wo_req *req)
{
	/* req may be answered and freed as soon as it is resumed */
	struct wo_http_server *srv = req->srv;
	struct MHD_Connection *mhd = req->mhd;
	pthread_mutex_lock(&srv->lock);
	req->async_done = 1;
	MHD_resume_connection(mhd);
	pthread_mutex_unlock(&srv->lock);
}

unsigned wo_http_deployments_gen(struct wo_req *req)
{
	return wo_http__dep_gen(req->srv);
}

struct wo_hook_writer *wo_http_hook_writer(struct wo_req *req)
{
	return req->srv->hook_writer;
}

/* ... and result_fd (>= 0) becomes the child's descriptor 3 */
static int spawn_with(pid_t *pid_out, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd,
		      int result_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (result_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, result_fd, 3);
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (err_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	int e = posix_spawn(pid_out, argv[0], &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e != 0)
		return wo_error_set("cannot start '%s': %s", argv[0], strerror(e));
	return 0;
}

int wo_http__spawn(pid_t *pid_out, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd)
{
	return spawn_with(pid_out, argv, envp, in_fd, out_fd, err_fd, -1);
}

/* environ with WEBOPS_RESULT_FD=3 (the descriptor spawn_with gives); the
 * array is malloc'd, its strings borrowed. */
static char **result_env(void)
{
	static char entry[] = "WEBOPS_RESULT_FD=3";
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = malloc((n + 2) * sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "WEBOPS_RESULT_FD=", 17) != 0)
			env[k++] = environ[i];
	env[k++] = entry;
	env[k] = NULL;
	return env;
}

int wo_http__spawn_result(pid_t *pid_out, char *const argv[], int in_fd, int out_fd, int err_fd, int result_fd)
{
	char **env = result_env();
	if (!env)
		return wo_error_set("out of memory");
	int rc = spawn_with(pid_out, argv, env, in_fd, out_fd, err_fd, result_fd);
	free(env);
	return rc;
}

int wo_http__result_code(int result_fd, int status)
{
	char text[4096];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(result_fd, text + len, sizeof(text) - 1 - len);
		if (n > 0 && len + (size_t)n < sizeof(text) - 1) {
			len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	text[len] = '\0';
	json_t *j = json_loads(text, 0, NULL);
	const char *code = json_string_value(json_object_get(j, "code"));
	int c = code ? wo_error_from_name(code)
		     : WIFEXITED(status) && WEXITSTATUS(status) == 0 ? WO_OK : WO_ERROR;
	json_decref(j);
	return c;
}

int wo_http_spawn(struct wo_req *req, char *const argv[], int (*resume)(struct wo_req *))
{
	struct wo_http_server *srv = req->srv;
	int p[2], r[2];
	char **env = result_env();
	if (!env)
		return wo_error_set("out of memory");
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(env);
		return wo_error_set("cannot start '%s': %s", argv[0], strerror(errno));
	}
	if (pipe2(r, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(env);
		close(p[0]);
		close(p[1]);
		return wo_error_set("cannot start '%s': %s", argv[0], strerror(errno));
	}
	pid_t pid;
	int e = spawn_with(&pid, argv, env, -1, p[1], p[1], r[1]);
	free(env);
	close(p[1]);
	close(r[1]);
	if (e != 0) {
		close(p[0]);
		close(r[0]);
		return -1;
	}
	if (req->child_result_fd >= 0)
		close(req->child_result_fd);
	req->child_result_fd = r[0];
	json_decref(req->child_result);
	req->child_result = NULL;
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	wo_buf_init(&req->child_output, CHILD_OUTPUT_MAX);
	struct wo_http_job *job = job_new(WO_JOB_CHILD, req->mhd, p[0]);
	if (!job) {
		kill(pid, SIGKILL);
		close(p[0]);
		wo_http__reap_later(srv, pid);
		return wo_error_set("out of memory");
	}
	job->pid = pid;
	suspend_with(req, job, resume);
	return 0;
}

int wo_http_delay(struct wo_req *req, int ms, int (*resume)(struct wo_req *))
{
	struct wo_http_job *job = job_new(WO_JOB_DELAY, req->mhd, -1);
	if (!job)
		return wo_error_set("out of memory");
	job->deadline_ms = wo_http__now_ms() + ms;
	suspend_with(req, job, resume);
	return 0;
}

void wo_http__wait_run(struct wo_http_server *srv, struct MHD_Connection *mhd, long long run_id, int ms)
{
	/* called with srv->lock held, right after MHD_suspend_connection */
	struct wo_http_job *job = job_new(WO_JOB_RUN_LOG, mhd, -1);
	if (!job) {
		MHD_resume_connection(mhd);
		return;
	}
	job->run_id = run_id;
	job->deadline_ms = wo_http__now_ms() + ms;
	job_add(srv, job);
}

void wo_http__wait_fd(struct wo_http_server *srv, struct MHD_Connection *mhd, int fd)
{
	/* called with srv->lock held, right after MHD_suspend_connection */
	struct wo_http_job *job = job_new(WO_JOB_FD, mhd, fd);
	if (!job) {
		MHD_resume_connection(mhd);
		return;
	}
	job_add(srv, job);
}

int wo_http__wait_cgi_head(struct wo_req *req, int fd, int (*resume)(struct wo_req *))
{
	struct wo_http_job *job = job_new(WO_JOB_CGI_HEAD, req->mhd, fd);
	if (!job)
		return wo_error_set("out of memory");
	job->head = &req->child_output;
	suspend_with(req, job, resume);
	return 0;
}

void wo_http__reap_later(struct wo_http_server *srv, pid_t pid)
{
	pthread_mutex_lock(&srv->lock);
	if (srv->nreap == srv->capreap) {
		size_t nc = srv->capreap ? srv->capreap * 2 : 8;
		pid_t *n = realloc(srv->reap, nc * sizeof(*n));
		if (n) {
			srv->reap = n;
			srv->capreap = nc;
		}
	}
	if (srv->nreap < srv->capreap)
		srv->reap[srv->nreap++] = pid;
	pthread_mutex_unlock(&srv->lock);
	wake(srv);
}

/* Reads a CGI program's output until its headers are complete; 1 when the
 * request can go on (headers seen, the output ended or grew too large). */
static int drain_head(struct wo_http_job *j)
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(j->fd, buf, sizeof(buf));
		if (n > 0) {
			if (wo_buf_add(j->head, buf, (size_t)n) < 0)
				return 1;
			const char *p = wo_buf_cstr(j->head);
			if (strstr(p, "\r\n\r\n") || strstr(p, "\n\n"))
				return 1;
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : 1;
	}
}

unsigned wo_http__run_gen(struct wo_http_server *srv, long long run_id)
{
	return __atomic_load_n(&srv->run_gen[(unsigned long long)run_id % WO_RUN_GEN_SLOTS], __ATOMIC_ACQUIRE);
}

static void listen_connect(struct wo_http_server *srv)
{
	if (srv->listen_conn && PQstatus(srv->listen_conn) == CONNECTION_OK)
		return;
	long now = wo_http__now_ms();
	if (now - srv->listen_tried_ms < 2000)
		return;
	srv->listen_tried_ms = now;
	if (srv->listen_conn)
		PQfinish(srv->listen_conn);
	srv->listen_conn = NULL;
	PGconn *c;
	if (wo_db_connect(&c, srv->opts.conninfo) < 0)
		return;
	PGresult *r = PQexec(c, "LISTEN webops_run_log; LISTEN webops_changes; LISTEN " WO_RUNS_CHANNEL);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		PQfinish(c);
		return;
	}
	PQsetnonblocking(c, 1);
	srv->listen_conn = c;
	/* whatever changed while nobody listened: caches start over */
	__atomic_add_fetch(&srv->dep_gen, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&srv->auth_gen, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&srv->runs_gen, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&srv->listening, 1, __ATOMIC_RELEASE);
	/* anything may have happened while we were away: every stream re-checks */
	pthread_mutex_lock(&srv->lock);
	for (struct wo_http_job *j = srv->jobs; j; j = j->next)
		if (j->kind == WO_JOB_RUN_LOG)
			j->deadline_ms = 0;
	pthread_mutex_unlock(&srv->lock);
}

/* Reads what a child printed; 1 at EOF. */
static int drain_child(struct wo_http_job *j)
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(j->fd, buf, sizeof(buf));
		if (n > 0) {
			/* past the cap the rest is dropped: the last line (the error) matters
			 * most, so keep a tail instead once full */
			if (wo_buf_add(&j->req->child_output, buf, (size_t)n) < 0) {
				size_t keep = j->req->child_output.len / 2;
				memmove(j->req->child_output.ptr, j->req->child_output.ptr + keep,
					j->req->child_output.len - keep);
				wo_buf_truncate(&j->req->child_output, j->req->child_output.len - keep);
				wo_buf_add(&j->req->child_output, buf, (size_t)n);
			}
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : 1;
	}
}

static void conns_cut_slow(struct wo_http_server *srv, long now);

static void *event_thread(void *arg)
{
	struct wo_http_server *srv = arg;
	struct pollfd *pfds = NULL;
	struct wo_http_job **pjobs = NULL;
	size_t cap = 0;
	for (;;) {
		listen_connect(srv);
		pthread_mutex_lock(&srv->lock);
		if (srv->stopping) {
			pthread_mutex_unlock(&srv->lock);
			break;
		}
		size_t n = 0;
		for (struct wo_http_job *j = srv->jobs; j; j = j->next)
			n++;
		if (n + 2 > cap) {
			cap = (n + 2) * 2;
			pfds = realloc(pfds, cap * sizeof(*pfds));
			pjobs = realloc(pjobs, cap * sizeof(*pjobs));
		}
		size_t k = 0;
		pfds[k++] = (struct pollfd){ .fd = srv->wake_r, .events = POLLIN };
		pfds[k++] = (struct pollfd){ .fd = srv->listen_conn ? PQsocket(srv->listen_conn) : -1, .events = POLLIN };
		long now = wo_http__now_ms(), next = now + 1000;
		for (struct wo_http_job *j = srv->jobs; j; j = j->next) {
			if (j->kind == WO_JOB_CHILD || j->kind == WO_JOB_CGI_HEAD || j->kind == WO_JOB_FD) {
				pjobs[k] = j;
				pfds[k++] = (struct pollfd){ .fd = j->fd, .events = POLLIN };
			} else if (j->deadline_ms < next) {
				next = j->deadline_ms;
			}
		}
		/* CGI children whose output ended */
		for (size_t i = 0; i < srv->nreap;) {
			if (waitpid(srv->reap[i], NULL, WNOHANG) != 0) {
				srv->reap[i] = srv->reap[--srv->nreap];
				continue;
			}
			i++;
		}
		if (srv->nreap && next > now + 200)
			next = now + 200;
		pthread_mutex_unlock(&srv->lock);
		int timeout = next > now ? (int)(next - now) : 0;
		int r = poll(pfds, k, timeout);
		conns_cut_slow(srv, wo_http__now_ms());
		if (r < 0 && errno != EINTR)
			break;
		if (pfds[0].revents) {
			char buf[256];
			while (read(srv->wake_r, buf, sizeof(buf)) > 0)
				;
		}
		/* notifications: bump the run's generation, resume its streams */
		if (srv->listen_conn && (pfds[1].revents || r == 0)) {
			if (!PQconsumeInput(srv->listen_conn)) {
				wo_log(WO_LOG_WARN, "http", "lost the LISTEN connection; reconnecting");
				__atomic_store_n(&srv->listening, 0, __ATOMIC_RELEASE);
				PQfinish(srv->listen_conn);
				srv->listen_conn = NULL;
			} else {
				PGnotify *nt;
				while ((nt = PQnotifies(srv->listen_conn))) {
					if (!strcmp(nt->relname, WO_RUNS_CHANNEL)) {
						/* a run queued or cancelled */
						__atomic_add_fetch(&srv->runs_gen, 1, __ATOMIC_RELEASE);
						PQfreemem(nt);
						continue;
					}
					__atomic_add_fetch(&srv->runs_gen, 1, __ATOMIC_RELEASE);
					if (!strcmp(nt->relname, "webops_changes")) {
						if (!strcmp(nt->extra, "deployments") || !strcmp(nt->extra, "health_state"))
							__atomic_add_fetch(&srv->dep_gen, 1, __ATOMIC_RELEASE);
						else
							__atomic_add_fetch(&srv->auth_gen, 1, __ATOMIC_RELEASE);
						PQfreemem(nt);
						continue;
					}
					long long id = strtoll(nt->extra, NULL, 10);
					PQfreemem(nt);
					__atomic_add_fetch(&srv->run_gen[(unsigned long long)id % WO_RUN_GEN_SLOTS], 1,
							   __ATOMIC_RELEASE);
					pthread_mutex_lock(&srv->lock);
					for (struct wo_http_job *j = srv->jobs; j; j = j->next)
						if (j->kind == WO_JOB_RUN_LOG && j->run_id == id)
							j->deadline_ms = 0;
					pthread_mutex_unlock(&srv->lock);
				}
			}
		}
		/* children that printed or ended */
		for (size_t i = 2; i < k; i++) {
			if (!pfds[i].revents)
				continue;
			struct wo_http_job *j = pjobs[i];
			if (j->kind == WO_JOB_FD) {
				j->kind = WO_JOB_DELAY; /* readable: resumed below */
				j->deadline_ms = 0;
				continue;
			}
			if (j->kind == WO_JOB_CGI_HEAD) {
				if (drain_head(j)) {
					j->kind = WO_JOB_DELAY;
					j->deadline_ms = 0;
				}
				continue;
			}
			if (drain_child(j)) {
				close(j->fd);
				j->fd = -1;
				int st = 0;
				while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
					;
				j->req->child_status = st;
				j->deadline_ms = 0;
				j->kind = WO_JOB_DELAY; /* done: resumed below */
			}
		}
		/* resume what is due */
		now = wo_http__now_ms();
		pthread_mutex_lock(&srv->lock);
		struct wo_http_job **pp = &srv->jobs;
		while (*pp) {
			struct wo_http_job *j = *pp;
			/* children and fds are resumed when they are ready (they turn into
			 * WO_JOB_DELAY then); the others when their deadline passes */
			if (j->kind != WO_JOB_CHILD && j->kind != WO_JOB_CGI_HEAD && j->kind != WO_JOB_FD &&
			    j->deadline_ms <= now) {
				*pp = j->next;
				if (j->req)
					j->req->async_done = 1;
				MHD_resume_connection(j->mhd);
				free(j);
				continue;
			}
			pp = &j->next;
		}
		pthread_mutex_unlock(&srv->lock);
	}
	free(pfds);
	free(pjobs);
	return NULL;
}

/* ---- caches ---- */

unsigned wo_http__dep_gen(struct wo_http_server *srv)
{
	if (!__atomic_load_n(&srv->listening, __ATOMIC_ACQUIRE))
		return 0;
	unsigned g = __atomic_load_n(&srv->dep_gen, __ATOMIC_ACQUIRE);
	return g ? g : 1;
}

unsigned wo_http__runs_gen(struct wo_http_server *srv)
{
	if (!__atomic_load_n(&srv->listening, __ATOMIC_ACQUIRE))
		return 0;
	unsigned g = __atomic_load_n(&srv->runs_gen, __ATOMIC_ACQUIRE);
	return g ? g : 1;
}

json_t *wo_http__json_cache_get(struct wo_http_json_cache *c, unsigned a, unsigned b)
{
	if (!a || !b)
		return NULL;
	json_t *v = NULL;
	pthread_mutex_lock(&c->lock);
	if (c->v && c->gen_a == a && c->gen_b == b)
		v = json_incref(c->v);
	pthread_mutex_unlock(&c->lock);
	return v;
}

void wo_http__json_cache_put(struct wo_http_json_cache *c, unsigned a, unsigned b, json_t *v)
{
	if (!a || !b)
		return;
	pthread_mutex_lock(&c->lock);
	json_t *old = c->v;
	c->v = json_incref(v);
	c->gen_a = a;
	c->gen_b = b;
	pthread_mutex_unlock(&c->lock);
	json_decref(old);
}

int wo_http__cache_send(struct wo_req *req, struct wo_http_blob_cache *c, unsigned gen, const char *content_type)
{
	(void)content_type; /* part of the cached response */
	if (!gen)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (!c->resp || c->gen != gen) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	enum MHD_Result q = MHD_queue_response(req->mhd, 200, c->resp);
	pthread_mutex_unlock(&c->lock);
	if (q != MHD_YES)
		return 0;
	req->queued = 1;
	req->status = 200;
	return 1;
}

void wo_http__cache_put(struct wo_http_blob_cache *c, unsigned gen, const char *data, size_t len,
			const char *content_type)
{
	if (!gen)
		return;
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return;
	wo_http__add_security_headers(r);
	MHD_add_response_header(r, "Content-Type", content_type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	pthread_mutex_lock(&c->lock);
	struct MHD_Response *old = c->resp;
	c->resp = r;
	c->gen = gen;
	pthread_mutex_unlock(&c->lock);
	if (old)
		MHD_destroy_response(old); /* freed once the last connection sending it is done */
}

/* Who a token or session id belongs to, remembered for a while: most
 * requests then need no database round trip to authenticate. Only good
 * answers are kept; any change to tokens, sessions or users drops them. */
static void auth_key(unsigned char key[32], char kind, const char *secret)
{
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)&kind, 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)secret, strlen(secret));
	crypto_hash_sha256_final(&st, key);
}

static int auth_cached(struct wo_http_server *srv, char kind, const char *secret, struct wo_principal *out)
{
	if (!__atomic_load_n(&srv->listening, __ATOMIC_ACQUIRE))
		return 0;
	unsigned char key[32];
	auth_key(key, kind, secret);
	unsigned gen = __atomic_load_n(&srv->auth_gen, __ATOMIC_ACQUIRE);
	struct wo_auth_cache_entry *e = &srv->auth[(key[0] | key[1] << 8) % WO_AUTH_CACHE_SLOTS];
	int hit = 0;
	pthread_mutex_lock(&srv->auth_lock);
	if (e->used && e->gen == gen && wo_http__now_ms() - e->at_ms < WO_AUTH_CACHE_MS &&
	    sodium_memcmp(e->key, key, 32) == 0) {
		*out = e->who;
		hit = 1;
	}
	pthread_mutex_unlock(&srv->auth_lock);
	return hit;
}

static void auth_remember(struct wo_http_server *srv, char kind, const char *secret, unsigned gen,
			  const struct wo_principal *who)
{
	if (!__atomic_load_n(&srv->listening, __ATOMIC_ACQUIRE))
		return;
	unsigned char key[32];
	auth_key(key, kind, secret);
	struct wo_auth_cache_entry *e = &srv->auth[(key[0] | key[1] << 8) % WO_AUTH_CACHE_SLOTS];
	pthread_mutex_lock(&srv->auth_lock);
	memcpy(e->key, key, 32);
	e->used = 1;
	e->gen = gen;
	e->at_ms = wo_http__now_ms();
	e->who = *who;
	pthread_mutex_unlock(&srv->auth_lock);
}

void wo_http_auth_changed(struct wo_req *req)
{
	__atomic_add_fetch(&req->srv->auth_gen, 1, __ATOMIC_RELEASE);
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
		if (auth_cached(req->srv, 't', tok, &req->who)) {
			req->auth = WO_AUTH_TOKEN;
			return 0;
		}
		unsigned gen = __atomic_load_n(&req->srv->auth_gen, __ATOMIC_ACQUIRE);
		int r = wo_token_lookup(&req->who, req->conn, tok);
		if (r == 0) {
			req->auth = WO_AUTH_TOKEN;
			auth_remember(req->srv, 't', tok, gen, &req->who);
		}
		return r == WO_ENOTFOUND ? 0 : r;
	}
	const char *sid = wo_http_cookie(req, SESSION_COOKIE);
	if (sid) {
		if (auth_cached(req->srv, 's', sid, &req->who)) {
			req->auth = WO_AUTH_SESSION;
			snprintf(req->sid, sizeof(req->sid), "%s", sid);
			return 0;
		}
		unsigned gen = __atomic_load_n(&req->srv->auth_gen, __ATOMIC_ACQUIRE);
		int r = wo_session_lookup(&req->who, req->conn, sid);
		if (r == 0) {
			auth_remember(req->srv, 's', sid, gen, &req->who);
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

/* ---- rejected webhook deliveries per client address ---- */

static struct wo_http_reject_slot *reject_slot(struct wo_http_server *srv, const char *address, long now)
{
	unsigned h = 2166136261u;
	for (const char *p = address; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	struct wo_http_reject_slot *s = &srv->rejects[h % WO_HTTP_REJECT_SLOTS];
	/* another address's slot is taken over once its window is over (two
	 * addresses sharing one in the same minute share its budget) */
	if (strcmp(s->address, address) != 0 && now - s->window_ms >= 60000) {
		snprintf(s->address, sizeof(s->address), "%s", address);
		s->count = 0;
		s->window_ms = now;
	}
	if (now - s->window_ms >= 60000) {
		s->count = 0;
		s->window_ms = now;
	}
	return s;
}

int wo_http_rejects_over(struct wo_req *req, int *retry_s)
{
	struct wo_http_server *srv = req->srv;
	if (!srv->rejects_per_min)
		return 0;
	long now = wo_http__now_ms();
	pthread_mutex_lock(&srv->rejects_lock);
	struct wo_http_reject_slot *s = reject_slot(srv, req->address, now);
	int over = s->count >= srv->rejects_per_min;
	if (retry_s)
		*retry_s = (int)((s->window_ms + 60000 - now + 999) / 1000);
	pthread_mutex_unlock(&srv->rejects_lock);
	return over;
}

void wo_http_rejects_count(struct wo_req *req)
{
	struct wo_http_server *srv = req->srv;
	if (!srv->rejects_per_min)
		return;
	pthread_mutex_lock(&srv->rejects_lock);
	reject_slot(srv, req->address, wo_http__now_ms())->count++;
	pthread_mutex_unlock(&srv->rejects_lock);
}

/* ---- connections per client address ---- */

static int addr_key(const struct sockaddr *sa, unsigned char out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return AF_INET6;
	}
	return 0;
}

/* The slot of an address (a free one to take when it has none); NULL when
 * the table is full. Call with addr_lock held. */
static struct wo_http_addr_slot *addr_slot(struct wo_http_server *srv, int family, const unsigned char key[16], int take)
{
	unsigned h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	struct wo_http_addr_slot *free_slot = NULL;
	for (unsigned i = 0; i < WO_HTTP_ADDR_SLOTS; i++) {
		struct wo_http_addr_slot *s = &srv->addrs[(h + i) % WO_HTTP_ADDR_SLOTS];
		if (s->family == family && !memcmp(s->addr, key, 16))
			return s;
		if (!s->family || !s->count) {
			if (!free_slot)
				free_slot = s;
			if (!s->family)
				break; /* the probe sequence ends at a never-used slot */
		}
	}
	if (!take || !free_slot)
		return NULL;
	free_slot->family = family;
	memcpy(free_slot->addr, key, 16);
	free_slot->count = 0;
	return free_slot;
}

/* MHD asks before it accepts a connection: refused when its address holds
 * per_address_max already. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *sa, socklen_t len)
{
	(void)len;
	struct wo_http_server *srv = cls;
	if (!srv->per_address_max)
		return MHD_YES;
	unsigned char key[16];
	int family = addr_key(sa, key);
	if (!family)
		return MHD_YES;
	pthread_mutex_lock(&srv->addr_lock);
	struct wo_http_addr_slot *s = addr_slot(srv, family, key, 0);
	int over = s && s->count >= srv->per_address_max;
	pthread_mutex_unlock(&srv->addr_lock);
	return over ? MHD_NO : MHD_YES;
}

/* The connection's entry for the header deadline (socket context). */
static struct wo_http_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* A request's headers arrived (in_request 1), or its answer ended and the
 * connection waits for the next one (0: the deadline starts again). */
static void conn_mark(struct wo_http_server *srv, struct MHD_Connection *c, int in_request)
{
	struct wo_http_conn *k = conn_of(c);
	if (!k)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	k->in_request = in_request;
	k->since_ms = wo_http__now_ms();
	pthread_mutex_unlock(&srv->conns_lock);
}

/* Event thread: shuts down the connections past their header deadline (MHD
 * sees the read fail and closes them). */
static void conns_cut_slow(struct wo_http_server *srv, long now)
{
	if (!srv->header_timeout_ms)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	for (struct wo_http_conn *k = srv->conns; k; k = k->next)
		if (!k->in_request && !k->cut && now - k->since_ms > srv->header_timeout_ms) {
			k->cut = 1;
			shutdown(k->fd, SHUT_RDWR);
		}
	pthread_mutex_unlock(&srv->conns_lock);
}

static void conns_track(struct wo_http_server *srv, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	pthread_mutex_lock(&srv->conns_lock);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct wo_http_conn *k = ci ? calloc(1, sizeof(*k)) : NULL;
		if (k) {
			k->fd = ci->connect_fd;
			k->since_ms = wo_http__now_ms();
			k->next = srv->conns;
			if (srv->conns)
				srv->conns->prev = k;
			srv->conns = k;
		}
		*socket_context = k;
	} else if (*socket_context) {
		struct wo_http_conn *k = *socket_context;
		if (k->prev)
			k->prev->next = k->next;
		else
			srv->conns = k->next;
		if (k->next)
			k->next->prev = k->prev;
		free(k);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&srv->conns_lock);
}

/* Tracks a connection for the header deadline, and counts it for its
 * address while it lives. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct wo_http_server *srv = cls;
	conns_track(srv, c, socket_context, code);
	if (!srv->per_address_max)
		return;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	unsigned char key[16];
	int family = addr_key(ci->client_addr, key);
	if (!family)
		return;
	pthread_mutex_lock(&srv->addr_lock);
	struct wo_http_addr_slot *s = addr_slot(srv, family, key, code == MHD_CONNECTION_NOTIFY_STARTED);
	if (s) {
		if (code == MHD_CONNECTION_NOTIFY_STARTED)
			s->count++;
		else if (s->count)
			s->count--;
	}
	pthread_mutex_unlock(&srv->addr_lock);
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
		conn_mark(srv, c, 1); /* its headers are in: the deadline is met */
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
	conn_mark(srv, c, 0);
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

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	/* a client that leaves a stream (a closed tab's live page, a log it
	 * stopped following) is no problem of the server's. libmicrohttpd's
	 * logger gives no code: its format string (its constant, not the
	 * words filled in) says a send to a client failed */
	int left = !strncmp(fmt, "Failed to send", 14);
	wo_log(left ? WO_LOG_DEBUG : WO_LOG_WARN, "http", "%s", msg);
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

int wo_http_start(struct wo_http_server **out, const struct wo_http_opts *opts)
{
	struct wo_http_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return wo_error_set("out of memory");
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

	/* the registry is probed here, while this process has no threads yet */
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

	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		wo_http_stop(srv);
		return wo_error_set("cannot create a pipe: %s", strerror(errno));
	}
	srv->wake_r = p[0];
	srv->wake_w = p[1];
	if (pthread_create(&srv->events, NULL, event_thread, srv) != 0) {
		wo_http_stop(srv);
		return wo_error_set("cannot start the event thread");
	}
	srv->events_started = 1;
	if (wo_hook_writer_start(&srv->hook_writer, opts->conninfo) < 0) {
		wo_http_stop(srv);
		return -1;
	}

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	/* One address may hold at most this many connections (TCP listeners
	 * only: over a unix socket every client is the same "address"), so a
	 * client opening connections by the thousand, or trickling headers on
	 * them, cannot keep the server from answering others
	 * (WEBOPS_HTTP_PER_ADDRESS_MAX, 0: no limit). */
	srv->per_address_max = 128;
	const char *pa = getenv("WEBOPS_HTTP_PER_ADDRESS_MAX");
	if (pa && *pa)
		srv->per_address_max = (unsigned)strtoul(pa, NULL, 10);
	struct sockaddr_storage la;
	socklen_t lalen = sizeof(la);
	if (getsockname(opts->listen_fd, (struct sockaddr *)&la, &lalen) == 0 && la.ss_family == AF_UNIX)
		srv->per_address_max = 0;
	pthread_mutex_init(&srv->addr_lock, NULL);
	pthread_mutex_init(&srv->conns_lock, NULL);
	pthread_mutex_init(&srv->rejects_lock, NULL);
	/* rejected webhook deliveries one address may make a minute before
	 * the next are answered 429 and not recorded */
	srv->rejects_per_min = 30;
	const char *rpm = getenv("WEBOPS_WEBHOOK_REJECTS_PER_MIN");
	if (rpm && *rpm)
		srv->rejects_per_min = (unsigned)strtoul(rpm, NULL, 10);
	/* a request's headers must arrive within this many seconds of the
	 * connection opening or the previous answer ending (keep-alive) */
	srv->header_timeout_ms = 30000;
	const char *ht = getenv("WEBOPS_HTTP_HEADER_TIMEOUT_S");
	if (ht && *ht)
		srv->header_timeout_ms = strtol(ht, NULL, 10) * 1000;
	srv->addrs = srv->per_address_max ? calloc(WO_HTTP_ADDR_SLOTS, sizeof(*srv->addrs)) : NULL;
	if (!srv->addrs)
		srv->per_address_max = 0;
	srv->mhd = MHD_start_daemon(flags, 0, accept_policy, srv, on_request, srv,
				    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				    MHD_OPTION_LISTEN_SOCKET, opts->listen_fd,
				    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->opts.threads,
				    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
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
		wake(srv);
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
