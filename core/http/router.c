/* The route table and its matcher: patterns of literal segments and {params};
 * the first route whose pattern and method match wins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "store/access.h"
#include "util/banned.h"

#define API WO_ROUTE_API
#define PAGE WO_ROUTE_PAGE
#define PUBLIC WO_ROUTE_PUBLIC

#define DEP WO_SUBJECT_DEPLOYMENT
#define RUN WO_SUBJECT_RUN
#define OWN WO_SUBJECT_OWN
#define NONE WO_SUBJECT_NONE

/* Each route names what it needs (store/access.h); the dispatcher asks
 * store/access.c before the handler runs. Lists are filtered by the handlers
 * to what the principal may read. */
const struct wo_route wo_http_routes[] = {
	{ "GET", "/api/v1/openapi.json", API | PUBLIC, wo_api_openapi, WO_PERM_SIGNED_IN, NONE },
	{ "GET", "/healthz", API | PUBLIC, wo_api_healthz, WO_PERM_SIGNED_IN, NONE },
	{ "GET", "/api/v1/deployments", API, wo_api_deployments_list, WO_PERM_DEP_LIST, NONE },
	{ "POST", "/api/v1/deployments", API, wo_api_deployments_create, WO_PERM_DEP_CREATE, NONE },
	{ "GET", "/api/v1/deployments/{name}", API, wo_api_deployment_get, WO_PERM_DEP_READ, DEP },
	{ "PATCH", "/api/v1/deployments/{name}", API, wo_api_deployment_patch, WO_PERM_DEP_CHANGE, DEP },
	{ "DELETE", "/api/v1/deployments/{name}", API, wo_api_deployment_delete, WO_PERM_DEP_DELETE, DEP },
	{ "POST", "/api/v1/deployments/{name}/deploy", API, wo_api_deployment_deploy, WO_PERM_DEP_DEPLOY, DEP },
	{ "GET", "/api/v1/deployments/{name}/runs", API, wo_api_deployment_runs, WO_PERM_DEP_READ, DEP },
	{ "GET", "/api/v1/deployments/{name}/releases", API, wo_api_deployment_releases, WO_PERM_DEP_READ, DEP },
	{ "GET", "/api/v1/deployments/{name}/webhooks", API, wo_api_deployment_webhooks, WO_PERM_DEP_READ, DEP },
	{ "GET", "/api/v1/deployments/{name}/health", API, wo_api_deployment_health, WO_PERM_DEP_READ, DEP },
	{ "GET", "/api/v1/deployments/{name}/shares", API, wo_api_deployment_shares, WO_PERM_DEP_READ, DEP },
	{ "PUT", "/api/v1/deployments/{name}/shares/{user}", API, wo_api_deployment_share_put, WO_PERM_DEP_SHARE, DEP },
	{ "DELETE", "/api/v1/deployments/{name}/shares/{user}", API, wo_api_deployment_share_delete, WO_PERM_DEP_SHARE, DEP },
	{ "POST", "/api/v1/deployments/{name}/{action}", API, wo_api_deployment_action, WO_PERM_DEP_DEPLOY, DEP },
	{ "GET", "/api/v1/health", API, wo_api_health_list, WO_PERM_DEP_LIST, NONE },
	{ "GET", "/api/v1/runs/{id}", API, wo_api_run_get, WO_PERM_DEP_READ, RUN },
	{ "POST", "/api/v1/runs/{id}/cancel", API, wo_api_run_cancel, WO_PERM_DEP_DEPLOY, RUN },
	{ "GET", "/api/v1/runs/{id}/log", API, wo_api_run_log, WO_PERM_DEP_READ, RUN },
	{ "GET", "/api/v1/addons", API, wo_api_addons_list, WO_PERM_SIGNED_IN, NONE },
	{ "GET", "/api/v1/addons/{name}", API, wo_api_addon_get, WO_PERM_SIGNED_IN, NONE },
	{ "PATCH", "/api/v1/addons/{name}/settings", API, wo_api_addon_settings, WO_PERM_ADDON_MANAGE, NONE },
	{ "POST", "/api/v1/addons/{name}/{action}", API, wo_api_addon_action, WO_PERM_ADDON_MANAGE, NONE },
	{ "GET", "/api/v1/users", API, wo_api_users_list, WO_PERM_USERS, NONE },

	/* Prometheus; without a token on webopsd --metrics-listen's own address */
	{ "GET", "/metrics", API, wo_http_metrics, WO_PERM_METRICS, NONE },

	/* authenticated by the deployment's webhook secret, not a token */
	{ "POST", "/hooks/{name}", API | PUBLIC | WO_ROUTE_RAW, wo_http_webhook_receive, WO_PERM_SIGNED_IN, NONE },
	/* the handler checks read (fetch) or deploy (push) on the repository's deployment */
	{ "GET", "/git/{repo}/info/refs", WO_ROUTE_GIT, wo_http_git_info_refs, WO_PERM_DEP_READ, OWN },
	{ "POST", "/git/{repo}/{service}", WO_ROUTE_GIT, wo_http_git_rpc, WO_PERM_DEP_READ, OWN },

	{ "GET", "/static/{file}", PAGE | PUBLIC, wo_static_file, WO_PERM_SIGNED_IN, NONE },
	{ "GET", "/login", PAGE | PUBLIC, wo_page_login, WO_PERM_SIGNED_IN, NONE },
	{ "POST", "/login", PAGE | PUBLIC, wo_page_login_post, WO_PERM_SIGNED_IN, NONE },
	{ "POST", "/logout", PAGE, wo_page_logout, WO_PERM_SIGNED_IN, NONE },
	{ "GET", "/setup/{token}", PAGE | PUBLIC, wo_page_setup, WO_PERM_SIGNED_IN, NONE },
	{ "POST", "/setup/{token}", PAGE | PUBLIC, wo_page_setup_post, WO_PERM_SIGNED_IN, NONE },
	{ "GET", "/", PAGE, wo_page_deployments, WO_PERM_DEP_LIST, NONE },
	{ "GET", "/deployments/new", PAGE, wo_page_deployment_new, WO_PERM_DEP_CREATE, NONE },
	{ "POST", "/deployments/new", PAGE, wo_page_deployment_create, WO_PERM_DEP_CREATE, NONE },
	{ "GET", "/deployments/{name}", PAGE, wo_page_deployment, WO_PERM_DEP_READ, DEP },
	{ "POST", "/deployments/{name}", PAGE, wo_page_deployment_update, WO_PERM_DEP_CHANGE, DEP },
	{ "POST", "/deployments/{name}/deploy", PAGE, wo_page_deployment_deploy, WO_PERM_DEP_DEPLOY, DEP },
	{ "POST", "/deployments/{name}/webhook", PAGE, wo_page_deployment_webhook, WO_PERM_DEP_CHANGE, DEP },
	{ "POST", "/deployments/{name}/share", PAGE, wo_page_deployment_share, WO_PERM_DEP_SHARE, DEP },
	{ "GET", "/deployments/{name}/delete", PAGE, wo_page_deployment_delete_confirm, WO_PERM_DEP_DELETE, DEP },
	{ "POST", "/deployments/{name}/delete", PAGE, wo_page_deployment_delete, WO_PERM_DEP_DELETE, DEP },
	{ "POST", "/deployments/{name}/{action}", PAGE, wo_page_deployment_action, WO_PERM_DEP_DEPLOY, DEP },
	/* the Logs tab: `webops logs NAME --runtime --follow --sse` as a CGI program */
	{ "GET", "/deployments/{name}/logs/stream", PAGE, wo_page_deployment_logs_stream, WO_PERM_DEP_READ, DEP },
	/* what the pages show, as it changes (server-sent events) */
	{ "GET", "/live", PAGE, wo_page_live, WO_PERM_DEP_LIST, NONE },
	{ "GET", "/deployments/{name}/live", PAGE, wo_page_deployment_live, WO_PERM_DEP_READ, DEP },
	{ "GET", "/runs/{id}", PAGE, wo_page_run, WO_PERM_DEP_READ, RUN },
	{ "POST", "/runs/{id}/cancel", PAGE, wo_page_run_cancel, WO_PERM_DEP_DEPLOY, RUN },
	{ "GET", "/addons", PAGE, wo_page_addons, WO_PERM_SIGNED_IN, NONE },
	{ "POST", "/addons/{name}/settings", PAGE, wo_page_addon_settings, WO_PERM_ADDON_MANAGE, NONE },
	{ "POST", "/addons/{name}/{action}", PAGE, wo_page_addon_action, WO_PERM_ADDON_MANAGE, NONE },
	{ "GET", "/account", PAGE, wo_page_account, WO_PERM_SIGNED_IN, NONE },
	{ "POST", "/account/tokens", PAGE, wo_page_token_create, WO_PERM_SELF, NONE },
	{ "POST", "/account/tokens/{name}/revoke", PAGE, wo_page_token_revoke, WO_PERM_SELF, NONE },
	{ "POST", "/account/sessions/{id}/revoke", PAGE, wo_page_session_revoke, WO_PERM_SELF, NONE },
	{ "GET", "/users", PAGE, wo_page_users, WO_PERM_USERS, NONE },
	{ "POST", "/users", PAGE, wo_page_user_create, WO_PERM_USERS, NONE },
	{ "POST", "/users/{name}/{action}", PAGE, wo_page_user_action, WO_PERM_USERS, NONE },
	{ NULL, NULL, 0, NULL, 0, 0 },
};

/* Matches path against pattern; on success the {param} values (pointers into
 * store, which holds a copy of path split at '/') are in params. */
static int match(const char *pattern, const char *path, char *store, const char **params, int *nparams)
{
	int np = 0;
	const char *p = pattern, *s = path;
	char *w = store;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
		if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
			if (sl == 0 || np >= WO_ROUTE_PARAMS_MAX)
				return 0;
			memcpy(w, s, sl);
			w[sl] = '\0';
			params[np++] = w;
			w += sl + 1;
		} else if (pl != sl || memcmp(p, s, pl) != 0) {
			return 0;
		}
		p += pl;
		s += sl;
	}
	if (*p || *s)
		return 0;
	*nparams = np;
	return 1;
}

int wo_http_route(const struct wo_route **out, struct wo_req *req, char *allow, size_t allow_cap)
{
	size_t len = strlen(req->path);
	char *store = malloc(len + 1);
	if (!store)
		return 404;
	const char *params[WO_ROUTE_PARAMS_MAX];
	int np = 0, path_matched = 0;
	const char *method = !strcmp(req->method, "HEAD") ? "GET" : req->method;
	allow[0] = '\0';
	for (const struct wo_route *r = wo_http_routes; r->method; r++) {
		if (!match(r->pattern, req->path, store, params, &np))
			continue;
		if (!strcmp(r->method, method)) {
			free(req->param_store);
			req->param_store = store;
			memcpy(req->params, params, sizeof(params));
			req->nparams = np;
			*out = r;
			return 0;
		}
		/* collect the methods this path answers, once each */
		path_matched = 1;
		size_t used = strlen(allow);
		if (!strstr(allow, r->method) && used + strlen(r->method) + 3 < allow_cap)
			snprintf(allow + used, allow_cap - used, "%s%s", used ? ", " : "", r->method);
	}
	free(store);
	*out = NULL;
	return path_matched ? 405 : 404;
}
