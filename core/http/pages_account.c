/* The web UI's account page (sessions and API tokens), sharing a
 * deployment, and the users page (admins). */
#include "http/pages_int.h"

#include "http/http.h"
#include "http/server_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>

#include "addon/addon.h"
#include "addon/field.h"
#include "health/history.h"
#include "http/chart.h"
#include "pipeline/releases.h"
#include "pipeline/runs.h"
#include "store/access.h"
#include "store/auth.h"
#include "store/deployment.h"
#include "store/webhooks.h"
#include "util/ansi.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/url.h"
#include "util/banned.h"

/* ---- account: sessions and API tokens ---- */

/* "Firefox on Linux" from a User-Agent header. */
static void pg_agent_summary(char *out, size_t n, const char *ua)
{
	static const char *const browsers[][2] = {
		{ "Edg/", "Edge" },       { "OPR/", "Opera" },     { "Firefox/", "Firefox" },
		{ "HeadlessChrome/", "Headless Chrome" }, { "Chromium/", "Chromium" }, { "Chrome/", "Chrome" },
		{ "Safari/", "Safari" },  { "curl/", "curl" },      { "Wget/", "Wget" },
	};
	static const char *const systems[][2] = {
		{ "Windows", "Windows" }, { "Android", "Android" }, { "iPhone", "iOS" }, { "iPad", "iPadOS" },
		{ "CrOS", "ChromeOS" },   { "Mac OS X", "macOS" },  { "Linux", "Linux" },
	};
	const char *b = NULL, *s = NULL;
	if (!ua || !*ua) {
		snprintf(out, n, "Unknown browser");
		return;
	}
	for (size_t i = 0; !b && i < sizeof(browsers) / sizeof(browsers[0]); i++)
		if (strstr(ua, browsers[i][0]))
			b = browsers[i][1];
	for (size_t i = 0; !s && i < sizeof(systems) / sizeof(systems[0]); i++)
		if (strstr(ua, systems[i][0]))
			s = systems[i][1];
	if (!b)
		snprintf(out, n, "%.40s%s", ua, strlen(ua) > 40 ? "..." : "");
	else if (s)
		snprintf(out, n, "%s on %s", b, s);
	else
		snprintf(out, n, "%s", b);
}

/* The account page's sessions: the user's browsers, the current one marked. */
static json_t *pg_session_rows(struct wo_req *req, const json_t *sessions)
{
	json_t *srows = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(sessions, i, s) {
		char agent[96];
		const char *ua = pg_jstr(s, "user_agent");
		pg_agent_summary(agent, sizeof(agent), ua);
		long long id = (long long)json_integer_value(json_object_get(s, "id"));
		json_t *row = json_object();
		json_object_set_new(row, "id", json_integer(id));
		pg_set_text(row, "agent", agent);
		pg_set_text(row, "user_agent", ua);
		pg_set_text(row, "address", pg_jstr(s, "address"));
		json_object_set_new(row, "created", pg_when_json(json_object_get(s, "created_at")));
		json_object_set_new(row, "seen", pg_when_json(json_object_get(s, "last_seen_at")));
		json_object_set_new(row, "current", json_boolean(id == req->who.session_id));
		json_array_append_new(srows, row);
	}
	return srows;
}

/* The account page's API tokens, each with its revoke link. */
static json_t *pg_token_rows(const json_t *tokens)
{
	json_t *trows = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(tokens, i, s) {
		json_t *row = json_object();
		const char *name = pg_jstr(s, "name") ? pg_jstr(s, "name") : "";
		pg_set_text(row, "name", name);
		json_object_set_new(row, "user", pg_jstr(s, "user") ? pg_jtext(pg_jstr(s, "user")) : json_false());
		json_object_set_new(row, "created", pg_when_json(json_object_get(s, "created_at")));
		json_object_set_new(row, "expires", pg_when_json(json_object_get(s, "expires_at")));
		json_object_set_new(row, "used", pg_when_json(json_object_get(s, "last_used_at")));
		json_object_set_new(row, "expired", json_boolean(json_is_true(json_object_get(s, "expired"))));
		pg_set_text(row, "scope", pg_jstr(s, "scope") ? pg_jstr(s, "scope") : "manage");
		/* limited: the deployments it may act on ("none left" once all are gone) */
		const json_t *deps = json_object_get(s, "deployments");
		if (json_is_array(deps)) {
			struct wo_buf db = WO_BUF_INIT;
			size_t k;
			json_t *dn;
			json_array_foreach(deps, k, dn)
				wo_buf_printf(&db, "%s%s", k ? ", " : "", json_string_value(dn));
			pg_set_text(row, "limited_to", db.len ? db.ptr : "none left");
			wo_buf_release(&db);
		}
		json_object_set_new(row, "revoke_href", pg_jpath("/account/tokens/", name, "/revoke"));
		json_array_append_new(trows, row);
	}
	return trows;
}

/* The new-token form's fields (what was posted, when it comes back with
 * errors) and its error summary, into data. */
static void pg_token_form(json_t *data, struct wo_req *req, const char *tname, const char *texpires,
			  const json_t *errors)
{
	json_t *fields = json_array();
	json_t *order = json_array();
	pg_field_append(fields, order, errors,
			(struct fv){ .id = "t-name", .name = "name", .label = "Name", .value = tname, .required = 1,
				     .help = "What uses it, e.g. ci-deploy: letters, digits, '.', '_' and '-'." });
	pg_field_append(fields, order, errors,
			(struct fv){ .id = "t-expires", .name = "expires", .label = "Expires after (days)",
				     .help = "0 means it never expires.", .value = texpires ? texpires : "90",
				     .inputmode = "numeric" });
	json_t *scopes = json_array();
	const char *sc_in = wo_http_form(req, "scope");
	pg_add_choice(scopes, "manage", "manage", !sc_in || !strcmp(sc_in, "manage"));
	pg_add_choice(scopes, "deploy", "deploy", sc_in && !strcmp(sc_in, "deploy"));
	pg_add_choice(scopes, "read", "read", sc_in && !strcmp(sc_in, "read"));
	pg_field_append(fields, order, errors,
			(struct fv){ .id = "t-scope", .name = "scope", .label = "Scope", .kind = "select", .choices = scopes,
				     .help = "read: look only; deploy: also deploy, start, stop and cancel runs; "
					     "manage: everything your role allows." });
	pg_field_append(fields, order, errors,
			(struct fv){ .id = "t-deployments", .name = "deployments", .label = "Only these deployments",
				     .value = wo_http_form(req, "deployments"),
				     .help = "Names separated by commas; empty: every deployment you may act on. "
					     "A CI token usually deploys one." });
	json_object_set_new(data, "token_fields", fields);
	pg_add_summary(data, errors, order);
	json_decref(order);
}

static int pg_account_page(struct wo_req *req, int status, const char *tname, const char *texpires, json_t *errors)
{
	json_t *sessions = NULL, *tokens = NULL;
	if (wo_session_list(&sessions, req->conn, req->who.user_id) < 0)
		return -1;
	/* one's own tokens; an admin sees everyone's */
	long long whose = wo_access_role(&req->who) == WO_ROLE_ADMIN ? 0 : req->who.user_id;
	if (wo_token_list(&tokens, req->conn, whose ? whose : 0) < 0) {
		json_decref(sessions);
		return -1;
	}
	json_t *data = json_object();
	pg_set_text(data, "account_user", req->who.user);
	json_object_set_new(data, "sessions", pg_session_rows(req, sessions));
	json_t *trows = pg_token_rows(tokens);
	json_object_set_new(data, "has_tokens", json_boolean(json_array_size(trows) > 0));
	json_object_set_new(data, "tokens", trows);
	json_decref(sessions);
	json_decref(tokens);
	pg_token_form(data, req, tname, texpires, errors);
	return pg_render_section(req, status, "account", "nav_account", data);
}

WO_HANDLER(wo_page_account)
{
	if (pg_db_down(req))
		return 0;
	return pg_account_page(req, 200, "", NULL, NULL);
}

WO_HANDLER(wo_page_token_create)
{
	if (pg_db_down(req))
		return 0;
	const char *name_in = wo_http_form(req, "name");
	const char *exp_in = wo_http_form(req, "expires");
	char *name = pg_trimmed(name_in);
	char *exp = pg_trimmed(exp_in);
	json_t *errors = NULL;
	struct wo_buf err = WO_BUF_INIT;
	if (wo_validate_token_name(name, &err) < 0)
		pg_set_error(&errors, "name", err.len ? err.ptr : "the name is invalid");
	long long days = *exp ? pg_parse_uint(exp) : 0;
	if (days < 0 || days > 36500)
		pg_set_error_quoting(&errors, "expires", "expires '", exp,
				     "' is invalid: use a whole number of days from 0 (never) to 36500");
	wo_buf_release(&err);
	const char *scope = wo_http_form(req, "scope");
	if (!scope || !*scope)
		scope = "manage";
	int sc;
	if (wo_scope_parse(&sc, scope) < 0)
		pg_set_error(&errors, "scope", wo_error_last());
	/* deployments: names separated by commas or spaces; none: not limited */
	json_t *deps = NULL;
	const char *deps_in = wo_http_form(req, "deployments");
	if (deps_in && strspn(deps_in, " ,\t\r\n") < strlen(deps_in)) {
		deps = json_array();
		char *copy = strdup(deps_in), *save = NULL;
		for (char *t = copy ? strtok_r(copy, " ,\t\r\n", &save) : NULL; t; t = strtok_r(NULL, " ,\t\r\n", &save)) {
			/* a token may be limited only to deployments its owner may read */
			if (wo_access_check(req->conn, &req->who, WO_PERM_DEP_READ, t) != 0) {
				pg_set_error_quoting(&errors, "deployments", "deployments: no deployment named '", t,
						     "' that you may read");
				break;
			}
			json_array_append_new(deps, json_string(t));
		}
		free(copy);
	}
	char *token = NULL;
	json_t *rec = NULL;
	if (!errors && wo_token_create(&token, &rec, req->conn, name, req->who.user_id, (int)days, scope, deps) < 0)
		pg_set_error(&errors, "name", wo_error_last());
	json_decref(deps);
	if (errors) {
		int rc = pg_account_page(req, 422, name_in, exp_in, errors);
		json_decref(errors);
		free(name);
		free(exp);
		return rc;
	}
	json_t *data = json_object();
	pg_set_text(data, "name", name);
	pg_set_text(data, "token", token);
	json_object_set_new(data, "expires", pg_when_json(json_object_get(rec, "expires_at")));
	struct wo_buf url = WO_BUF_INIT;
	const char *pub = wo_http_public_url(req) ? wo_http_public_url(req) : "";
	size_t pl = strlen(pub);
	while (pl > 0 && pub[pl - 1] == '/')
		pl--;
	wo_buf_printf(&url, "%.*s/api/v1/deployments", (int)pl, pub);
	pg_set_text(data, "api_url", url.ptr);
	wo_buf_release(&url);
	json_object_set_new(data, "nav_account", json_true());
	explicit_bzero(token, strlen(token));
	free(token);
	json_decref(rec);
	free(name);
	free(exp);
	/* the answer holds the secret: it must not be cached */
	wo_http_add_header(req, "Cache-Control", "no-store");
	return pg_render(req, 201, "token_created", data);
}

WO_HANDLER(wo_page_token_revoke)
{
	if (pg_db_down(req))
		return 0;
	/* one's own; an admin any */
	int rc = wo_token_revoke(req->conn, req->params[0],
				 wo_access_role(&req->who) == WO_ROLE_ADMIN ? 0 : req->who.user_id);
	wo_http_auth_changed(req);
	if (rc == WO_ENOTFOUND)
		return pg_not_found(req, "There is no such token.");
	if (rc < 0)
		return -1;
	return wo_http_redirect(req, "/account?done=token_revoked");
}

WO_HANDLER(wo_page_session_revoke)
{
	if (pg_db_down(req))
		return 0;
	long long id = pg_parse_uint(req->params[0]);
	if (id < 0)
		return pg_not_found(req, "There is no such session.");
	int rc = wo_session_revoke(req->conn, id, req->who.user_id);
	wo_http_auth_changed(req);
	if (rc == WO_ENOTFOUND)
		return pg_not_found(req, "There is no such session.");
	if (rc < 0)
		return -1;
	if (id == req->who.session_id) {
		wo_http_set_session_cookie(req, NULL);
		return wo_http_redirect(req, "/login");
	}
	return wo_http_redirect(req, "/account?done=session_revoked");
}

/* ---- sharing a deployment; users (admins) ---- */

/* POST /deployments/{name}/share: user, role (member, viewer, or none to
 * stop sharing). The route checked that the user may share it. */
WO_HANDLER(wo_page_deployment_share)
{
	if (pg_db_down(req))
		return 0;
	const char *name = req->params[0];
	char *user = pg_trimmed(wo_http_form(req, "user"));
	const char *role = wo_http_form(req, "role");
	int rc = role && !strcmp(role, "none") ? wo_share_remove(req->conn, name, user)
					       : wo_share_set(req->conn, name, user, role ? role : "");
	free(user);
	if (rc < 0) {
		struct wo_buf m = WO_BUF_INIT;
		pg_utf8_clean(&m, wo_error_last());
		struct wo_buf back = WO_BUF_INIT;
		wo_buf_puts(&back, "/deployments/");
		pg_put_segment(&back, name);
		int r = pg_message_page(req, rc == WO_ENOTFOUND ? 404 : 422, "Not shared", m.ptr, NULL, back.ptr,
				     "Back to the deployment");
		wo_buf_release(&m);
		wo_buf_release(&back);
		return r;
	}
	return pg_redirect_to(req, "/deployments/", name, "?done=shared");
}

/* The three roles as select options, `selected` chosen. */
static json_t *pg_role_choices(const char *selected)
{
	static const char *const roles[] = { "admin", "member", "viewer" };
	json_t *choices = json_array();
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		pg_add_choice(choices, roles[i], roles[i], !strcmp(selected, roles[i]));
	return choices;
}

/* The users page's row of user u, with its forms' links. */
static json_t *pg_user_row(struct wo_req *req, const json_t *u)
{
	const char *name = pg_jstr(u, "name") ? pg_jstr(u, "name") : "";
	const char *role = pg_jstr(u, "role") ? pg_jstr(u, "role") : "member";
	json_t *row = json_object();
	pg_set_text(row, "name", name);
	pg_set_text(row, "role", role);
	json_object_set_new(row, "created", pg_when_json(json_object_get(u, "created_at")));
	json_object_set_new(row, "is_me", json_boolean(!strcmp(name, req->who.user)));
	json_object_set_new(row, "role_href", pg_jpath("/users/", name, "/role"));
	json_object_set_new(row, "password_href", pg_jpath("/users/", name, "/password"));
	json_object_set_new(row, "delete_href", pg_jpath("/users/", name, "/delete"));
	json_object_set_new(row, "roles", pg_role_choices(role));
	return row;
}

static int pg_users_page(struct wo_req *req, int status, const char *alert, const char *new_name, const char *new_role)
{
	json_t *users = NULL;
	if (wo_user_list(&users, req->conn) < 0)
		return -1;
	json_t *data = json_object();
	json_t *rows = json_array();
	size_t i;
	json_t *u;
	json_array_foreach(users, i, u)
		json_array_append_new(rows, pg_user_row(req, u));
	json_decref(users);
	json_object_set_new(data, "users", rows);
	pg_set_text(data, "new_name", new_name);
	json_object_set_new(data, "new_roles", pg_role_choices(new_role && *new_role ? new_role : "member"));
	if (alert)
		pg_set_text(data, "alert", alert);
	return pg_render_section(req, status, "users", "nav_users", data);
}

WO_HANDLER(wo_page_users)
{
	if (pg_db_down(req))
		return 0;
	return pg_users_page(req, 200, NULL, "", NULL);
}

/* POST /users: name, password, role */
WO_HANDLER(wo_page_user_create)
{
	if (pg_db_down(req))
		return 0;
	char *name = pg_trimmed(wo_http_form(req, "name"));
	const char *password = wo_http_form(req, "password");
	const char *role = wo_http_form(req, "role");
	int rc = wo_user_create(NULL, req->conn, name, password ? password : "", role && *role ? role : "member");
	if (rc < 0) {
		struct wo_buf m = WO_BUF_INIT;
		pg_utf8_clean(&m, wo_error_last());
		rc = pg_users_page(req, strstr(m.ptr, "already exists") ? 409 : 422, m.ptr, name, role);
		wo_buf_release(&m);
		free(name);
		return rc;
	}
	free(name);
	wo_http_auth_changed(req);
	return wo_http_redirect(req, "/users?done=user_created");
}

/* POST /users/{name}/{action}: role (role), password (password), delete */
WO_HANDLER(wo_page_user_action)
{
	if (pg_db_down(req))
		return 0;
	const char *name = req->params[0], *action = req->params[1];
	int rc;
	if (!strcmp(action, "role")) {
		rc = wo_user_set_role(req->conn, name, wo_http_form(req, "role") ? wo_http_form(req, "role") : "");
	} else if (!strcmp(action, "password")) {
		const char *pw = wo_http_form(req, "password");
		rc = wo_user_set_password(req->conn, name, pw ? pw : "");
	} else if (!strcmp(action, "delete")) {
		if (!strcmp(name, req->who.user))
			rc = wo_error_set("you cannot delete your own account here: another admin can");
		else
			rc = wo_user_delete(req->conn, name);
	} else {
		return pg_not_found(req, "There is no such page.");
	}
	wo_http_auth_changed(req);
	if (rc < 0) {
		struct wo_buf m = WO_BUF_INIT;
		pg_utf8_clean(&m, wo_error_last());
		rc = pg_users_page(req, rc == WO_ENOTFOUND ? 404 : 422, m.ptr, "", NULL);
		wo_buf_release(&m);
		return rc;
	}
	return wo_http_redirect(req, !strcmp(action, "delete") ? "/users?done=user_deleted" : "/users?done=user_saved");
}
