/* The route table and its matcher: patterns of literal segments and {params};
 * the first route whose pattern and method match wins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "util/banned.h"

#define API WO_ROUTE_API
#define PAGE WO_ROUTE_PAGE
#define PUBLIC WO_ROUTE_PUBLIC

const struct wo_route wo_http_routes[] = {
	{ "GET", "/api/v1/openapi.json", API | PUBLIC, wo_api_openapi },
	{ "GET", "/healthz", API | PUBLIC, wo_api_healthz },
	{ "GET", "/api/v1/deployments", API, wo_api_deployments_list },
	{ "POST", "/api/v1/deployments", API, wo_api_deployments_create },
	{ "GET", "/api/v1/deployments/{name}", API, wo_api_deployment_get },
	{ "PATCH", "/api/v1/deployments/{name}", API, wo_api_deployment_patch },
	{ "DELETE", "/api/v1/deployments/{name}", API, wo_api_deployment_delete },
	{ "POST", "/api/v1/deployments/{name}/deploy", API, wo_api_deployment_deploy },
	{ "GET", "/api/v1/deployments/{name}/runs", API, wo_api_deployment_runs },
	{ "GET", "/api/v1/deployments/{name}/webhooks", API, wo_api_deployment_webhooks },
	{ "GET", "/api/v1/deployments/{name}/health", API, wo_api_deployment_health },
	{ "POST", "/api/v1/deployments/{name}/{action}", API, wo_api_deployment_action },
	{ "GET", "/api/v1/health", API, wo_api_health_list },
	{ "GET", "/api/v1/runs/{id}", API, wo_api_run_get },
	{ "POST", "/api/v1/runs/{id}/cancel", API, wo_api_run_cancel },
	{ "GET", "/api/v1/runs/{id}/log", API, wo_api_run_log },
	{ "GET", "/api/v1/addons", API, wo_api_addons_list },
	{ "GET", "/api/v1/addons/{name}", API, wo_api_addon_get },
	{ "PATCH", "/api/v1/addons/{name}/settings", API, wo_api_addon_settings },
	{ "POST", "/api/v1/addons/{name}/{action}", API, wo_api_addon_action },

	/* Prometheus; without a token on webopsd --metrics-listen's own address */
	{ "GET", "/metrics", API, wo_http_metrics },

	/* authenticated by the deployment's webhook secret, not a token */
	{ "POST", "/hooks/{name}", API | PUBLIC | WO_ROUTE_RAW, wo_webhook_receive },
	{ "GET", "/git/{repo}/info/refs", WO_ROUTE_GIT, wo_git_http_info_refs },
	{ "POST", "/git/{repo}/{service}", WO_ROUTE_GIT, wo_git_http_rpc },

	{ "GET", "/static/{file}", PAGE | PUBLIC, wo_static_file },
	{ "GET", "/login", PAGE | PUBLIC, wo_page_login },
	{ "POST", "/login", PAGE | PUBLIC, wo_page_login_post },
	{ "POST", "/logout", PAGE, wo_page_logout },
	{ "GET", "/setup/{token}", PAGE | PUBLIC, wo_page_setup },
	{ "POST", "/setup/{token}", PAGE | PUBLIC, wo_page_setup_post },
	{ "GET", "/", PAGE, wo_page_deployments },
	{ "GET", "/deployments/new", PAGE, wo_page_deployment_new },
	{ "POST", "/deployments/new", PAGE, wo_page_deployment_create },
	{ "GET", "/deployments/{name}", PAGE, wo_page_deployment },
	{ "POST", "/deployments/{name}", PAGE, wo_page_deployment_update },
	{ "POST", "/deployments/{name}/deploy", PAGE, wo_page_deployment_deploy },
	{ "POST", "/deployments/{name}/webhook", PAGE, wo_page_deployment_webhook },
	{ "GET", "/deployments/{name}/delete", PAGE, wo_page_deployment_delete_confirm },
	{ "POST", "/deployments/{name}/delete", PAGE, wo_page_deployment_delete },
	{ "POST", "/deployments/{name}/{action}", PAGE, wo_page_deployment_action },
	{ "GET", "/runs/{id}", PAGE, wo_page_run },
	{ "POST", "/runs/{id}/cancel", PAGE, wo_page_run_cancel },
	{ "GET", "/addons", PAGE, wo_page_addons },
	{ "POST", "/addons/{name}/settings", PAGE, wo_page_addon_settings },
	{ "POST", "/addons/{name}/{action}", PAGE, wo_page_addon_action },
	{ "GET", "/account", PAGE, wo_page_account },
	{ "POST", "/account/tokens", PAGE, wo_page_token_create },
	{ "POST", "/account/tokens/{name}/revoke", PAGE, wo_page_token_revoke },
	{ "POST", "/account/sessions/{id}/revoke", PAGE, wo_page_session_revoke },
	{ NULL, NULL, 0, NULL },
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
		if (!strstr(allow, r->method) && strlen(allow) + strlen(r->method) + 3 < allow_cap) {
			if (allow[0])
				strcat(allow, ", ");
			strcat(allow, r->method);
		}
	}
	free(store);
	*out = NULL;
	return path_matched ? 405 : 404;
}
