/* Requests and answers as handlers see them (server_int.h, http.h): the
 * per-thread database connection and template environment, request
 * accessors, responses with the security headers, redirects, the session
 * cookie, a child's outcome, rendered pages, the addon registry. */
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

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
			  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

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
	snprintf(c, sizeof(c), WO_HTTP_SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Lax%s%s", sid ? sid : "",
		 req->tls ? "; Secure" : "", sid ? "" : "; Max-Age=0");
	wo_http_add_header(req, "Set-Cookie", c);
}

/* What the child wrote on its result descriptor (it has ended: all of it
 * is in the pipe), parsed once. */
static const json_t *child_result(struct wo_req *req)
{
	if (!req->child_result && req->child_result_fd >= 0) {
		req->child_result = wo_http__read_result(req->child_result_fd);
		close(req->child_result_fd);
		req->child_result_fd = -1;
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
