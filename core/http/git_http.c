/* git smart HTTP at /git/NAME.git: clone, fetch and push of the repositories
 * webops hosts, served by `git http-backend` as a CGI program (no shell; the
 * repository name is a validated deployment name). A push runs the
 * repository's pre-receive hook, `webops git-hook NAME`, whose output (the
 * deploy's log) reaches the pusher live through the streaming CGI runner. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/hosted.h"
#include "http/http.h"
#include "store/access.h"
#include "store/deployment.h"
#include "store/validate.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/banned.h"

#define ENV_MAX 16

/* "NAME.git" -> NAME, when NAME is a valid deployment name. */
static int repo_name(char *out, size_t cap, const char *param)
{
	size_t n = param ? strlen(param) : 0;
	if (n <= 4 || n - 4 >= cap || strcmp(param + n - 4, ".git") != 0)
		return -1;
	memcpy(out, param, n - 4);
	out[n - 4] = '\0';
	struct wo_buf err = WO_BUF_INIT;
	int rc = wo_validate_name(out, &err);
	wo_buf_release(&err);
	return rc;
}

static int is_service(const char *s)
{
	return s && (!strcmp(s, "git-upload-pack") || !strcmp(s, "git-receive-pack"));
}

/* A header value that may go into the CGI environment as it is. */
static int plain_value(const char *v)
{
	if (!v || !*v || strlen(v) > 256)
		return 0;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("=:._-", *p)))
			return 0;
	return 1;
}

static void env_add(char **env, int *n, struct wo_buf *store, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void env_add(char **env, int *n, struct wo_buf *store, const char *fmt, ...)
{
	if (*n >= ENV_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	wo_buf_vprintf(&store[*n], fmt, ap);
	va_end(ap);
	env[*n] = store[*n].ptr;
	(*n)++;
	env[*n] = NULL;
}

/* Runs git http-backend for PATH_INFO /NAME.git/tail. */
static int backend(struct wo_req *req, const char *name, const char *tail, const char *query)
{
	const struct wo_config *cfg = wo_http_config(req);
	/* a push deploys: it needs what deploying needs; a fetch, reading */
	int push = !strcmp(tail, "git-receive-pack") || (query && strstr(query, "service=git-receive-pack"));
	int a = wo_access_check(req->conn, &req->who, push ? WO_PERM_DEP_DEPLOY : WO_PERM_DEP_READ, name);
	if (a == WO_EFORBIDDEN)
		return wo_http_send_error(req, 403, wo_error_last(), NULL);
	if (a < 0 && a != WO_ENOTFOUND)
		return -1;
	json_t *d = NULL;
	int r = a == WO_ENOTFOUND ? WO_ENOTFOUND : wo_deployment_get(&d, req->conn, name);
	if (r == WO_ENOTFOUND) {
		char msg[160];
		snprintf(msg, sizeof(msg), "repository '%s.git' not found: there is no deployment '%s'", name, name);
		return wo_http_send_error(req, 404, msg, NULL);
	}
	if (r < 0)
		return -1;
	/* the first push to a deployment creates its repositories */
	r = wo_git_hosted_ensure(cfg->data_dir, name, json_string_value(json_object_get(d, "branch")));
	json_decref(d);
	if (r < 0)
		return -1;
	struct wo_buf root = WO_BUF_INIT;
	if (wo_git_hosted_root(&root, cfg->data_dir) < 0) {
		wo_buf_release(&root);
		return -1;
	}
	char *git = wo_proc_which("git");
	if (!git) {
		wo_buf_release(&root);
		return wo_error_set("cannot serve git over HTTP: the git program is not in PATH (install git)");
	}
	struct wo_buf store[ENV_MAX];
	for (int i = 0; i < ENV_MAX; i++)
		wo_buf_init(&store[i], 0);
	char *env[ENV_MAX + 1] = { NULL };
	int n = 0;
	const char *who = req->who.token[0] ? req->who.token : req->who.user[0] ? req->who.user : "webops";
	env_add(env, &n, store, "GIT_PROJECT_ROOT=%s", root.ptr);
	env_add(env, &n, store, "GIT_HTTP_EXPORT_ALL=1");
	env_add(env, &n, store, "PATH_INFO=/%s.git/%s", name, tail);
	env_add(env, &n, store, "REQUEST_METHOD=%s", req->method);
	env_add(env, &n, store, "QUERY_STRING=%s", query ? query : "");
	env_add(env, &n, store, "REMOTE_USER=%s", who);
	env_add(env, &n, store, "REMOTE_ADDR=%s", req->address);
	env_add(env, &n, store, "GIT_CONFIG_COUNT=1");
	env_add(env, &n, store, "GIT_CONFIG_KEY_0=http.receivepack");
	env_add(env, &n, store, "GIT_CONFIG_VALUE_0=true");
	if (!strcmp(req->method, "POST")) {
		env_add(env, &n, store, "CONTENT_LENGTH=%llu",
			req->body_fd >= 0 ? req->body_spooled : (unsigned long long)req->body.len);
		if (req->content_type)
			env_add(env, &n, store, "CONTENT_TYPE=%s", req->content_type);
		/* git gzips larger requests */
		const char *enc = wo_http_header(req, "Content-Encoding");
		if (plain_value(enc))
			env_add(env, &n, store, "HTTP_CONTENT_ENCODING=%s", enc);
	}
	const char *proto = wo_http_header(req, "Git-Protocol");
	if (plain_value(proto))
		env_add(env, &n, store, "HTTP_GIT_PROTOCOL=%s", proto);
	if (!strcmp(tail, "git-receive-pack"))
		wo_log(WO_LOG_INFO, "http", "git push to '%s' by '%s' from %s", name, who, req->address);
	char *argv[] = { git, "http-backend", NULL };
	r = wo_http_cgi(req, argv, env);
	for (int i = 0; i < ENV_MAX; i++)
		wo_buf_release(&store[i]);
	free(git);
	wo_buf_release(&root);
	return r;
}

int wo_http_git_info_refs(struct wo_req *req)
{
	char name[WO_NAME_MAX + 1];
	if (req->nparams < 1 || repo_name(name, sizeof(name), req->params[0]) < 0)
		return wo_http_send_error(req, 404, "not found: webops serves /git/NAME.git for deployment NAME", NULL);
	const char *service = wo_http_query(req, "service");
	if (!is_service(service))
		return wo_http_send_error(req, 404,
					  "not found: only git's smart HTTP protocol is served "
					  "(?service=git-upload-pack or git-receive-pack); upgrade git",
					  NULL);
	char query[64];
	snprintf(query, sizeof(query), "service=%s", service);
	return backend(req, name, "info/refs", query);
}

int wo_http_git_rpc(struct wo_req *req)
{
	char name[WO_NAME_MAX + 1];
	if (req->nparams < 2 || repo_name(name, sizeof(name), req->params[0]) < 0)
		return wo_http_send_error(req, 404, "not found: webops serves /git/NAME.git for deployment NAME", NULL);
	if (!is_service(req->params[1]))
		return wo_http_send_error(req, 404, "not found: the services are git-upload-pack and git-receive-pack",
					  NULL);
	return backend(req, name, req->params[1], NULL);
}
