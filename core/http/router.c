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

/* The table itself is data: http/routes.def. */
const struct wo_route wo_http_routes[] = {
#define ROUTE(method, pattern, flags, handler, permission, subject) \
	{ method, pattern, flags, handler, permission, subject },
#include "http/routes.def"
#undef ROUTE
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
