/* Who may do what: roles, deployment ownership and shares, token scopes.
 * Decided here, once, for every entry point (the form, the API, git over
 * HTTP and SSH, the CLI acting for a user); docs/SECURITY.md has the table. */
#ifndef WO_STORE_ACCESS_H
#define WO_STORE_ACCESS_H

#include <jansson.h>
#include <libpq-fe.h>

#include "store/auth.h"
#include "util/error.h" /* WO_ENOTFOUND, WO_EFORBIDDEN */

/* A user's role. A principal with no user (a token made on the host by the
 * CLI without --user) is the host's operator: admin. */
enum wo_role { WO_ROLE_VIEWER = 1, WO_ROLE_MEMBER = 2, WO_ROLE_ADMIN = 3 };
/* What a token may do at most (a session: manage). */
enum wo_scope { WO_SCOPE_READ = 1, WO_SCOPE_DEPLOY = 2, WO_SCOPE_MANAGE = 3 };

const char *wo_role_name(int role);
/* 0, or -1 with an error naming the allowed values. */
int wo_role_parse(int *out, const char *s);
const char *wo_scope_name(int scope);
int wo_scope_parse(int *out, const char *s);
/* A share's role: member or viewer. */
int wo_share_role_parse(const char *s);

/* What is asked. Deployment permissions name a deployment. */
enum wo_perm {
	WO_PERM_SIGNED_IN,      /* anything any signed-in user may read (addons, own account) */
	WO_PERM_SELF,           /* change one's own account (tokens, sessions): manage scope */
	WO_PERM_DEP_LIST,       /* lists of deployments, runs, health: filtered by what one may read */
	WO_PERM_DEP_CREATE,     /* a new deployment, owned by its creator */
	WO_PERM_DEP_READ,       /* a deployment, its runs, logs, health, webhook deliveries */
	WO_PERM_DEP_DEPLOY,     /* deploy, start, stop, restart, cancel its runs, push to it */
	WO_PERM_DEP_CHANGE,     /* its settings, environment, webhook secret */
	WO_PERM_DEP_DELETE,
	WO_PERM_DEP_SHARE,
	WO_PERM_ADDON_MANAGE,   /* enable, disable, settings (host settings: the host only) */
	WO_PERM_USERS,          /* users and every user's tokens */
	WO_PERM_METRICS,        /* every deployment's figures (/metrics) */
};

/* The principal's own role (admin for a principal without a user). */
int wo_access_role(const struct wo_principal *p);

/* Whether p may do perm (on deployment `name` for the WO_PERM_DEP_* that
 * name one). 0: allowed. WO_ENOTFOUND: the deployment does not exist or p
 * may not see it (the same answer, so names cannot be probed). WO_EFORBIDDEN:
 * p may see it (or the permission names none) but not do this; the error
 * says what would be needed. -1: a database error. */
int wo_access_check(PGconn *conn, const struct wo_principal *p, enum wo_perm perm, const char *name);
/* The same for a run's deployment (run_id as text). */
int wo_access_check_run(PGconn *conn, const struct wo_principal *p, enum wo_perm perm, const char *run_id);

/* A SQL condition on deployments aliased d that keeps those p may read,
 * using $N for the principal's user id and $N+1 for its token id (see
 * wo_access_params); "true" for an admin with an unlimited token. Caller frees. */
char *wo_access_visible_sql(const struct wo_principal *p, int n);
/* The two parameters wo_access_visible_sql refers to. */
void wo_access_params(const struct wo_principal *p, char uid[32], char tid[32]);
/* Whether lists need filtering for p (not an admin, or a limited token). */
int wo_access_filtered(const struct wo_principal *p);

/* ---- shares ---- */
/* Shares deployment `name` with user `user` as role (member, viewer);
 * sharing again changes the role. */
int wo_share_set(PGconn *conn, const char *name, const char *user, const char *role);
int wo_share_remove(PGconn *conn, const char *name, const char *user);
/* [{user, role}] of a deployment, owner first as role "owner". */
int wo_share_list(json_t **out, PGconn *conn, const char *name);

#endif
