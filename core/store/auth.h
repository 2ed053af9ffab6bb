/* People and credentials for the front door: users (argon2id password
 * hashes), browser sessions and API tokens (random 256-bit secrets stored
 * only as SHA-256 hashes), the one-time setup link, and the failed-login
 * counters that throttle guessing. Shared by webopsd and the CLI. */
#ifndef WO_STORE_AUTH_H
#define WO_STORE_AUTH_H

#include <jansson.h>
#include <libpq-fe.h>

#include "util/buf.h"

#define WO_PASSWORD_MIN 8
#define WO_PASSWORD_MAX 1024
/* A session unused for this long is gone (WEBOPS_SESSION_IDLE_HOURS overrides). */
#define WO_SESSION_IDLE_HOURS_DEFAULT 72
/* Length of the text form of a secret: base64url of 32 bytes, no padding. */
#define WO_SECRET_TEXT_LEN 43
#define WO_TOKEN_PREFIX "wo_"

/* Who a request acts as. */
struct wo_principal {
	long long user_id;       /* 0 for a token that belongs to no user (made by the CLI) */
	char user[64];
	int role;                /* enum wo_role (store/access.h): the user's; admin without a user */
	long long session_id;    /* 0 when authenticated by token */
	char token[64];          /* the token's name when authenticated by token */
	long long token_id;
	int scope;               /* enum wo_scope: the token's; manage for a session */
	int limited;             /* the token acts on the deployments listed for it only */
	unsigned char csrf[32];  /* the session's CSRF secret (sessions only) */
};

/* A fresh random secret, base64url text (WO_SECRET_TEXT_LEN chars + NUL):
 * a token, a session id, a setup link (not util/secret.h's sealing). */
void wo_auth_secret_new(char out[WO_SECRET_TEXT_LEN + 1]);

int wo_validate_user_name(const char *s, struct wo_buf *err);
int wo_validate_password(const char *s, struct wo_buf *err);
int wo_validate_token_name(const char *s, struct wo_buf *err);

/* ---- users ---- */
int wo_user_count(long long *out, PGconn *conn);
/* Creates a user; {id, name, created_at}. Name taken: error naming it. */
/* role: admin, member or viewer; NULL: admin for the very first user,
 * member after that. */
int wo_user_create(json_t **out, PGconn *conn, const char *name, const char *password, const char *role);
/* The principal of user `name` (for what the CLI does for a user, such as
 * an SSH push with that user's key). WO_ENOTFOUND when there is none. */
int wo_user_principal(struct wo_principal *p, PGconn *conn, const char *name);
/* Changes a user's role; the last admin cannot stop being one. */
int wo_user_set_role(PGconn *conn, const char *name, const char *role);
/* Checks a password; fills p on success; -1 with "wrong user name or
 * password" otherwise (the same words whether the user exists or not). */
int wo_user_verify(struct wo_principal *p, PGconn *conn, const char *name, const char *password);
int wo_user_list(json_t **out, PGconn *conn);
/* Sets a new password and ends the user's sessions. */
int wo_user_set_password(PGconn *conn, const char *name, const char *password);
int wo_user_delete(PGconn *conn, const char *name);

/* ---- setup link ---- */
/* Replaces any earlier setup token by a new one (text in out). */
int wo_setup_token_create(char out[WO_SECRET_TEXT_LEN + 1], PGconn *conn);
/* 1 when token is the current setup token and no user exists yet. */
int wo_setup_token_valid(PGconn *conn, const char *token);
/* Creates the first user with the token, in one transaction; the token is
 * used up. Fails with WO_ENOTFOUND-like -2 when the token is not valid. */
int wo_setup_complete(json_t **out, PGconn *conn, const char *token, const char *name, const char *password);

/* ---- sessions ---- */
/* New session for user_id; the secret (cookie value) goes to sid_out. */
int wo_session_create(char sid_out[WO_SECRET_TEXT_LEN + 1], PGconn *conn, long long user_id, const char *user_agent,
		      const char *address);
/* Looks the cookie value up, refreshes last_seen_at (at most once a minute),
 * fills p. -2 when there is no such live session. */
int wo_session_lookup(struct wo_principal *p, PGconn *conn, const char *sid);
/* Sessions of a user (0: all): [{id, user, user_agent, address, created_at, last_seen_at}]. */
int wo_session_list(json_t **out, PGconn *conn, long long user_id);
/* Ends a session by id (user_id non-zero: only if it is that user's). -2 when none. */
int wo_session_revoke(PGconn *conn, long long id, long long user_id);
/* Ends the session whose cookie value is sid. */
int wo_session_end(PGconn *conn, const char *sid);
/* The session's CSRF token as text (base64url of HMAC(secret, "csrf")). */
void wo_session_csrf_text(char out[WO_SECRET_TEXT_LEN + 1], const struct wo_principal *p);
/* Constant-time comparison of a submitted CSRF token with the session's. */
int wo_session_csrf_ok(const struct wo_principal *p, const char *submitted);

/* ---- API tokens ---- */
/* Creates a token (expires_days 0: never); its text goes to token_out,
 * printed once, stored only hashed. */
/* scope: read, deploy or manage (NULL: manage); deployments: NULL for
 * any the owner may act on, else a list of names the token is limited to. */
int wo_token_create(char **token_out, json_t **out, PGconn *conn, const char *name, long long user_id,
		    int expires_days, const char *scope, const json_t *deployments);
/* [{name, user, scope, deployments, created_at, expires_at, last_used_at,
 * expired}] of one user (0: every user's). */
int wo_token_list(json_t **out, PGconn *conn, long long user_id);
/* Revokes a token by name; user_id non-zero: only that user's. */
int wo_token_revoke(PGconn *conn, const char *name, long long user_id);
/* -2 when the token is unknown, revoked or expired. */
int wo_token_lookup(struct wo_principal *p, PGconn *conn, const char *token);

/* ---- login throttling ---- */
/* Before checking a password: 0 to go on, or 1 with *retry_after seconds
 * when the name or the address failed too often recently. */
int wo_login_throttled(int *retry_after, PGconn *conn, const char *name, const char *address);
void wo_login_failed(PGconn *conn, const char *name, const char *address);
void wo_login_succeeded(PGconn *conn, const char *name, const char *address);

#endif
