/* Who may do what (see access.h): one function decides for every entry point. */
#include "store/access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "store/deployment.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

static const char *const role_names[] = { NULL, "viewer", "member", "admin" };
static const char *const scope_names[] = { NULL, "read", "deploy", "manage" };

const char *wo_role_name(int role)
{
	return role >= WO_ROLE_VIEWER && role <= WO_ROLE_ADMIN ? role_names[role] : "none";
}

int wo_role_parse(int *out, const char *s)
{
	for (int i = WO_ROLE_VIEWER; i <= WO_ROLE_ADMIN; i++)
		if (s && !strcmp(s, role_names[i])) {
			*out = i;
			return 0;
		}
	return wo_error_set("role '%s' is not known: use admin, member or viewer", s ? s : "");
}

const char *wo_scope_name(int scope)
{
	return scope >= WO_SCOPE_READ && scope <= WO_SCOPE_MANAGE ? scope_names[scope] : "none";
}

int wo_scope_parse(int *out, const char *s)
{
	for (int i = WO_SCOPE_READ; i <= WO_SCOPE_MANAGE; i++)
		if (s && !strcmp(s, scope_names[i])) {
			*out = i;
			return 0;
		}
	return wo_error_set("scope '%s' is not known: use read, deploy or manage", s ? s : "");
}

int wo_share_role_parse(const char *s)
{
	if (s && (!strcmp(s, "member") || !strcmp(s, "viewer")))
		return 0;
	return wo_error_set("share role '%s' is not known: use member or viewer", s ? s : "");
}

int wo_access_role(const struct wo_principal *p)
{
	if (!p->user_id)
		return WO_ROLE_ADMIN; /* a token made on the host, of no user */
	return p->role ? p->role : WO_ROLE_VIEWER;
}

/* Levels on one deployment: what a share or ownership gives. */
enum { LVL_NONE, LVL_READ, LVL_OPERATE, LVL_OWN, LVL_ADMIN };

static int needed_level(enum wo_perm perm)
{
	switch (perm) {
	case WO_PERM_DEP_READ:
		return LVL_READ;
	case WO_PERM_DEP_DEPLOY:
	case WO_PERM_DEP_CHANGE:
		return LVL_OPERATE;
	case WO_PERM_DEP_DELETE:
	case WO_PERM_DEP_SHARE:
		return LVL_OWN;
	default:
		return LVL_ADMIN;
	}
}

/* The least scope a token needs for perm. */
static int needed_scope(enum wo_perm perm)
{
	switch (perm) {
	case WO_PERM_SIGNED_IN:
	case WO_PERM_DEP_LIST:
	case WO_PERM_DEP_READ:
	case WO_PERM_METRICS:
		return WO_SCOPE_READ;
	case WO_PERM_DEP_DEPLOY:
		return WO_SCOPE_DEPLOY;
	default:
		return WO_SCOPE_MANAGE;
	}
}

static const char *perm_words(enum wo_perm perm)
{
	switch (perm) {
	case WO_PERM_SIGNED_IN: return "reading this";
	case WO_PERM_SELF: return "changing your account";
	case WO_PERM_DEP_LIST: return "listing deployments";
	case WO_PERM_DEP_CREATE: return "creating deployments";
	case WO_PERM_DEP_READ: return "reading";
	case WO_PERM_DEP_DEPLOY: return "deploying, starting, stopping or cancelling runs of";
	case WO_PERM_DEP_CHANGE: return "changing";
	case WO_PERM_DEP_DELETE: return "deleting";
	case WO_PERM_DEP_SHARE: return "sharing";
	case WO_PERM_ADDON_MANAGE: return "managing addons";
	case WO_PERM_USERS: return "managing users";
	case WO_PERM_METRICS: return "reading every deployment's metrics";
	}
	return "this";
}

static int names_deployment(enum wo_perm perm)
{
	return perm >= WO_PERM_DEP_READ && perm <= WO_PERM_DEP_SHARE;
}

static const char *who(const struct wo_principal *p)
{
	return p->token[0] ? "this token" : "you";
}

static int forbidden_scope(const struct wo_principal *p, enum wo_perm perm, const char *name)
{
	return wo_error_setc(WO_EFORBIDDEN, "not allowed: %s%s%s%s needs a token of scope '%s' or more; token '%s' has scope '%s'",
		     perm_words(perm), name ? " deployment '" : "", name ? name : "", name ? "'" : "",
		     wo_scope_name(needed_scope(perm)), p->token, wo_scope_name(p->scope));
}

int wo_access_check(PGconn *conn, const struct wo_principal *p, enum wo_perm perm, const char *name)
{
	int role = wo_access_role(p);
	int scope = p->scope ? p->scope : WO_SCOPE_MANAGE;
	if (!names_deployment(perm)) {
		if (p->limited)
			return wo_error_setc(WO_EFORBIDDEN, "not allowed: token '%s' is limited to its deployments; %s "
					     "needs a token that is not", p->token, perm_words(perm));
		if (scope < needed_scope(perm))
			return forbidden_scope(p, perm, NULL);
		int need_role = perm == WO_PERM_DEP_CREATE ? WO_ROLE_MEMBER
				: (perm == WO_PERM_ADDON_MANAGE || perm == WO_PERM_USERS || perm == WO_PERM_METRICS)
					? WO_ROLE_ADMIN
					: WO_ROLE_VIEWER;
		if (role < need_role) {
			return wo_error_setc(WO_EFORBIDDEN, "not allowed: %s needs the %s role; %s ('%s') %s %s", perm_words(perm),
				     wo_role_name(need_role), who(p), p->user, p->token[0] ? "belongs to a" : "are a",
				     wo_role_name(role));
		}
		return 0;
	}
	/* a deployment: what p has on it */
	char uid[32], tid[32];
	wo_access_params(p, uid, tid);
	const char *params[] = { name ? name : "", uid, tid, p->limited ? "t" : "f" };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT CASE WHEN d.owner_id = $2::bigint THEN 'owner' ELSE s.role END,"
		       "  $4::boolean AND NOT EXISTS (SELECT 1 FROM api_token_deployments td"
		       "    WHERE td.token_id = $3::bigint AND td.deployment_id = d.id)"
		       " FROM deployments d LEFT JOIN deployment_shares s ON s.deployment_id = d.id AND s.user_id = $2::bigint"
		       " WHERE d.name = $1",
		       4, params) < 0)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name ? name : "");
	}
	const char *rel = PQgetvalue(res, 0, 0);
	int outside = !strcmp(PQgetvalue(res, 0, 1), "t");
	int level = role == WO_ROLE_ADMIN ? LVL_ADMIN
		    : !strcmp(rel, "owner") ? LVL_OWN
		    : !strcmp(rel, "member") ? LVL_OPERATE
		    : !strcmp(rel, "viewer") ? LVL_READ
					     : LVL_NONE;
	/* the user's own role caps what a share or ownership gives */
	int cap = role == WO_ROLE_VIEWER ? LVL_READ : role == WO_ROLE_MEMBER ? LVL_OWN : LVL_ADMIN;
	if (level > cap)
		level = cap;
	PQclear(res);
	if (level == LVL_NONE || outside) {
		/* the same words as a missing one: names cannot be probed */
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name);
	}
	if (scope < needed_scope(perm))
		return forbidden_scope(p, perm, name);
	if (level < needed_level(perm)) {
		const char *need = needed_level(perm) == LVL_OWN ? "its owner or an admin"
				   : "its owner, a member it is shared with or an admin";
		const char *has = level == LVL_READ ? "read-only" : level == LVL_OPERATE ? "member" : "owner";
		return wo_error_setc(WO_EFORBIDDEN, "not allowed: %s deployment '%s' is for %s; user '%s' has %s access to it%s%s%s", perm_words(perm),
			     name, need, p->user, has, p->token[0] ? " (through token '" : "", p->token,
			     p->token[0] ? "')" : "");
	}
	return 0;
}

int wo_access_check_run(PGconn *conn, const struct wo_principal *p, enum wo_perm perm, const char *run_id)
{
	char *end = NULL;
	long long id = run_id ? strtoll(run_id, &end, 10) : 0;
	if (!run_id || !*run_id || *end || id <= 0) {
		return wo_error_setc(WO_ENOTFOUND, "run '%s' not found", run_id ? run_id : "");
	}
	const char *params[] = { run_id };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT d.name FROM runs r JOIN deployments d ON d.id = r.deployment_id WHERE r.id = $1::bigint",
		       1, params) < 0)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "run %s not found", run_id);
	}
	char name[128];
	snprintf(name, sizeof(name), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	int rc = wo_access_check(conn, p, perm, name);
	if (rc == WO_ENOTFOUND)
		wo_error_set("run %s not found", run_id);
	return rc;
}

void wo_access_params(const struct wo_principal *p, char uid[32], char tid[32])
{
	snprintf(uid, 32, "%lld", p->user_id);
	snprintf(tid, 32, "%lld", p->token_id);
}

int wo_access_filtered(const struct wo_principal *p)
{
	return wo_access_role(p) != WO_ROLE_ADMIN || p->limited;
}

char *wo_access_visible_sql(const struct wo_principal *p, int n)
{
	struct wo_buf b = WO_BUF_INIT;
	if (!wo_access_filtered(p)) {
		/* an admin sees everything; the parameters stay referenced */
		wo_buf_printf(&b, "($%d::bigint IS NOT NULL AND $%d::bigint IS NOT NULL)", n, n + 1);
		return wo_buf_detach(&b);
	}
	if (wo_access_role(p) == WO_ROLE_ADMIN)
		wo_buf_printf(&b, "($%d::bigint IS NOT NULL", n);
	else
		wo_buf_printf(&b, "((d.owner_id = $%d::bigint OR EXISTS (SELECT 1 FROM deployment_shares s"
			      " WHERE s.deployment_id = d.id AND s.user_id = $%d::bigint))", n, n);
	if (p->limited)
		wo_buf_printf(&b, " AND EXISTS (SELECT 1 FROM api_token_deployments td"
			      " WHERE td.token_id = $%d::bigint AND td.deployment_id = d.id))", n + 1);
	else
		wo_buf_printf(&b, " AND $%d::bigint IS NOT NULL)", n + 1);
	return wo_buf_detach(&b);
}

/* ---- shares ---- */

int wo_share_set(PGconn *conn, const char *name, const char *user, const char *role)
{
	if (wo_share_role_parse(role) < 0)
		return -1;
	const char *params[] = { name, user, role };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "WITH d AS (SELECT id, owner_id FROM deployments WHERE name = $1),"
		       " u AS (SELECT id FROM users WHERE name = $2)"
		       " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM u),"
		       "  (SELECT count(*) FROM d, u WHERE d.owner_id = u.id)",
		       2, params) < 0)
		return -1;
	int has_d = strcmp(PQgetvalue(res, 0, 0), "0") != 0, has_u = strcmp(PQgetvalue(res, 0, 1), "0") != 0;
	int owner = strcmp(PQgetvalue(res, 0, 2), "0") != 0;
	PQclear(res);
	if (!has_d) {
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name);
	}
	if (!has_u) {
		return wo_error_setc(WO_ENOTFOUND, "user '%s' not found ('webops user list' shows them)", user);
	}
	if (owner)
		return wo_error_setc(WO_EINVALID, "user '%s' owns deployment '%s' already", user, name);
	return wo_db_exec(NULL, conn,
			  "INSERT INTO deployment_shares (deployment_id, user_id, role)"
			  " SELECT d.id, u.id, $3 FROM deployments d, users u WHERE d.name = $1 AND u.name = $2"
			  " ON CONFLICT (deployment_id, user_id) DO UPDATE SET role = excluded.role",
			  3, params);
}

int wo_share_remove(PGconn *conn, const char *name, const char *user)
{
	const char *params[] = { name, user };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "DELETE FROM deployment_shares s USING deployments d, users u"
		       " WHERE s.deployment_id = d.id AND s.user_id = u.id AND d.name = $1 AND u.name = $2",
		       2, params) < 0)
		return -1;
	int n = (int)strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	if (!n) {
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' is not shared with user '%s'", name, user);
	}
	return 0;
}

int wo_share_list(json_t **out, PGconn *conn, const char *name)
{
	const char *params[] = { name };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT json_build_object('owner', (SELECT u.name FROM users u WHERE u.id = d.owner_id),"
		       " 'shares', (SELECT coalesce(json_agg(json_build_object('user', u.name, 'role', s.role)"
		       "   ORDER BY u.name), '[]') FROM deployment_shares s JOIN users u ON u.id = s.user_id"
		       "   WHERE s.deployment_id = d.id))::text FROM deployments d WHERE d.name = $1",
		       1, params) < 0)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name);
	}
	*out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	return *out ? 0 : wo_error_set("cannot read the shares");
}
