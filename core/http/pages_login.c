/* The web UI's login, logout and first-run setup pages. */
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

/* ---- login, logout, first-run setup ---- */

/* Only a path of ours: "/" followed by neither "/" nor "\" (which browsers
 * read as another host), and no control characters. */
static int pg_local_path(const char *s)
{
	if (!s || s[0] != '/' || s[1] == '/' || s[1] == '\\')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return strlen(s) < 2048;
}

static int pg_login_page(struct wo_req *req, int status, const char *user, const char *next, const char *error)
{
	json_t *data = json_object();
	pg_set_text(data, "user", user);
	pg_set_text(data, "next", pg_local_path(next) ? next : "");
	pg_set_text(data, "error", error);
	pg_add_notice(data, req);
	return pg_render(req, status, "login", data);
}

WO_HANDLER(wo_page_login)
{
	if (req->auth == WO_AUTH_SESSION) {
		const char *next = wo_http_query(req, "next");
		return wo_http_redirect(req, pg_local_path(next) ? next : "/");
	}
	return pg_login_page(req, 200, "", wo_http_query(req, "next"), NULL);
}

static void pg_wait_text(char *out, size_t n, int secs)
{
	if (secs < 60)
		snprintf(out, n, "%d second%s", secs, secs == 1 ? "" : "s");
	else
		snprintf(out, n, "%d minute%s", (secs + 59) / 60, (secs + 59) / 60 == 1 ? "" : "s");
}

/* Whether a form came from another site: its Origin (or, without one, the
 * browser's Sec-Fetch-Site) is not this server. Forms carry a CSRF token;
 * the login form cannot (there is no session yet), so a page elsewhere could
 * log a visitor in as the attacker (login CSRF): refused. */
static int pg_cross_site(struct wo_req *req)
{
	const char *origin = wo_http_header(req, "Origin");
	if (!origin || !strcmp(origin, "null")) {
		const char *sfs = wo_http_header(req, "Sec-Fetch-Site");
		return (sfs && !strcmp(sfs, "cross-site")) || (origin && !strcmp(origin, "null"));
	}
	const char *host = wo_http_header(req, "Host");
	const char *o = strstr(origin, "://");
	if (o && host && !strcasecmp(o + 3, host))
		return 0;
	/* the public URL webopsd was told it is reached at (behind a proxy) */
	const char *pub = wo_http_public_url(req);
	if (pub) {
		size_t n = strlen(origin);
		if (!strncasecmp(pub, origin, n) && (pub[n] == '\0' || pub[n] == '/'))
			return 0;
	}
	return 1;
}

WO_HANDLER(wo_page_login_post)
{
	if (pg_db_down(req))
		return 0;
	if (pg_cross_site(req))
		return pg_message_page(req, 403, "Not allowed", "This login form was sent from another site.",
				    "Open webops' own login page and sign in there.", "/login", "Go to the login page");
	const char *user = wo_http_form(req, "user");
	const char *password = wo_http_form(req, "password");
	const char *next = wo_http_form(req, "next");
	if (!user || !*user || !password || !*password)
		return pg_login_page(req, 401, user, next, "Enter your user name and your password.");

	int retry = 0;
	int t = wo_login_throttled(&retry, req->conn, user, req->address);
	if (t < 0)
		return -1;
	if (t > 0) {
		char hdr[32], msg[160], wait[64];
		if (retry < 1)
			retry = 1;
		snprintf(hdr, sizeof(hdr), "%d", retry);
		pg_wait_text(wait, sizeof(wait), retry);
		snprintf(msg, sizeof(msg), "Too many failed attempts. Wait %s, then try again.", wait);
		wo_http_add_header(req, "Retry-After", hdr);
		return pg_login_page(req, 429, user, next, msg);
	}

	struct wo_principal who;
	memset(&who, 0, sizeof(who));
	if (wo_user_verify(&who, req->conn, user, password) < 0) {
		wo_login_failed(req->conn, user, req->address);
		return pg_login_page(req, 401, user, next, "wrong user name or password");
	}
	wo_login_succeeded(req->conn, user, req->address);
	char sid[WO_SECRET_TEXT_LEN + 1];
	if (wo_session_create(sid, req->conn, who.user_id, wo_http_header(req, "User-Agent"), req->address) < 0)
		return -1;
	wo_http_set_session_cookie(req, sid);
	return wo_http_redirect(req, pg_local_path(next) ? next : "/");
}

WO_HANDLER(wo_page_logout)
{
	if (req->conn && req->auth == WO_AUTH_SESSION) {
		wo_session_end(req->conn, req->sid);
		wo_http_auth_changed(req);
	}
	wo_http_set_session_cookie(req, NULL);
	return wo_http_redirect(req, "/login");
}

static int pg_setup_gone(struct wo_req *req)
{
	return pg_message_page(req, 404, "Setup link not valid", NULL,
			    "This setup link was already used, or a newer one replaced it. Log in with the account "
			    "that was created, or ask whoever runs webopsd for a new link (webopsd logs one when no "
			    "user exists yet).",
			    "/login", "Log in");
}

static int pg_setup_page(struct wo_req *req, int status, const char *token, const char *user, json_t *errors)
{
	json_t *data = json_object();
	json_t *fields = json_array();
	json_t *order = json_array();
	pg_field_append(fields, order, errors,
			(struct fv){ .id = "setup-user", .name = "user", .label = "User name", .value = user,
				     .help = "Lowercase letters, digits, '.', '_' and '-', starting with a letter.",
				     .autocomplete = "username", .required = 1 });
	pg_field_append(fields, order, errors,
			(struct fv){ .id = "setup-password", .name = "password", .label = "Password",
				     .input_type = "password", .autocomplete = "new-password",
				     .help = "At least 8 characters.", .required = 1 });
	pg_field_append(fields, order, errors,
			(struct fv){ .id = "setup-password2", .name = "password2", .label = "Password again",
				     .input_type = "password", .autocomplete = "new-password", .required = 1 });
	pg_set_text(data, "token", token);
	json_object_set_new(data, "fields", fields);
	pg_add_summary(data, errors, order);
	json_decref(order);
	return pg_render(req, status, "setup", data);
}

WO_HANDLER(wo_page_setup)
{
	if (pg_db_down(req))
		return 0;
	const char *token = req->params[0];
	int ok = wo_setup_token_valid(req->conn, token);
	if (ok < 0)
		return -1;
	if (!ok)
		return pg_setup_gone(req);
	return pg_setup_page(req, 200, token, "", NULL);
}

WO_HANDLER(wo_page_setup_post)
{
	if (pg_db_down(req))
		return 0;
	const char *token = req->params[0];
	const char *user = wo_http_form(req, "user");
	const char *password = wo_http_form(req, "password");
	const char *password2 = wo_http_form(req, "password2");
	int ok = wo_setup_token_valid(req->conn, token);
	if (ok < 0)
		return -1;
	if (!ok)
		return pg_setup_gone(req);
	if (!password || !password2 || strcmp(password, password2) != 0) {
		json_t *errors = json_pack("{s:s}", "password2", "the two passwords do not match: type the same one twice");
		int rc = pg_setup_page(req, 422, token, user, errors);
		json_decref(errors);
		return rc;
	}
	json_t *u = NULL;
	int rc = wo_setup_complete(&u, req->conn, token, user ? user : "", password);
	if (rc == WO_ENOTFOUND)
		return pg_setup_gone(req);
	if (rc < 0) {
		json_t *errors = pg_errors_from(wo_error_last());
		rc = pg_setup_page(req, 422, token, user, errors);
		json_decref(errors);
		return rc;
	}
	long long uid = (long long)json_integer_value(json_object_get(u, "id"));
	json_decref(u);
	char sid[WO_SECRET_TEXT_LEN + 1];
	if (wo_session_create(sid, req->conn, uid, wo_http_header(req, "User-Agent"), req->address) < 0)
		return -1;
	wo_http_set_session_cookie(req, sid);
	return wo_http_redirect(req, "/?done=welcome");
}
