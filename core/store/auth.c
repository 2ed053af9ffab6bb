/* Users, sessions, API tokens, the setup link and login throttling. Secrets
 * come from libsodium's CSPRNG; only their SHA-256 hashes are stored, so a
 * database dump reveals no usable session or token. */
#include "store/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "store/access.h"
#include "store/deployment.h"
#include "util/error.h"
#include "util/banned.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Failed logins: free below SLOW_AFTER, then each try waits 2^(n-SLOW_AFTER)
 * seconds, and from BLOCK_AFTER on every try is refused until the window
 * that began with the first failure has passed. */
#define THROTTLE_WINDOW_S 900
#define THROTTLE_SLOW_AFTER 3
#define THROTTLE_BLOCK_AFTER 10

void wo_auth_secret_new(char out[WO_SECRET_TEXT_LEN + 1])
{
	unsigned char raw[32];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, WO_SECRET_TEXT_LEN + 1, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

/* Hex of SHA-256(text), for bytea parameters via decode($n, 'hex'). */
static void hash_hex(char out[65], const char *text)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
	sodium_bin2hex(out, 65, h, sizeof(h));
}

static void add_line(struct wo_buf *err, const char *fmt, const char *a)
{
	if (!err)
		return;
	if (err->len)
		wo_buf_putc(err, '\n');
	wo_buf_printf(err, fmt, a);
}

int wo_validate_user_name(const char *s, struct wo_buf *err)
{
	if (!s || !*s) {
		add_line(err, "user: is required (1-63 lowercase letters, digits, '_', '.' and '-', starting with a letter)%s", "");
		return -1;
	}
	size_t n = strlen(s);
	int ok = n <= 63 && s[0] >= 'a' && s[0] <= 'z';
	for (size_t i = 0; ok && i < n; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' ||
		     s[i] == '-';
	if (!ok) {
		char shown[80];
		snprintf(shown, sizeof(shown), "%.60s", s);
		for (char *p = shown; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = '?';
		add_line(err, "user '%s' is invalid: use 1-63 lowercase letters, digits, '_', '.' and '-', starting with a letter", shown);
		return -1;
	}
	return 0;
}

int wo_validate_password(const char *s, struct wo_buf *err)
{
	size_t n = s ? strlen(s) : 0;
	if (n < WO_PASSWORD_MIN) {
		add_line(err, "password: use at least 8 characters%s", "");
		return -1;
	}
	if (n > WO_PASSWORD_MAX) {
		add_line(err, "password: use at most 1024 characters%s", "");
		return -1;
	}
	return 0;
}

int wo_validate_token_name(const char *s, struct wo_buf *err)
{
	size_t n = s ? strlen(s) : 0;
	int ok = n >= 1 && n <= 63 &&
		 ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9'));
	for (size_t i = 0; ok && i < n; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		     s[i] == '_' || s[i] == '.' || s[i] == '-';
	if (!ok) {
		add_line(err, "token name '%s' is invalid: use 1-63 letters, digits, '_', '.' and '-', starting with a letter or digit",
			 n > 60 ? "(too long)" : s ? s : "");
		return -1;
	}
	return 0;
}

/* ---- users ---- */

int wo_user_count(long long *out, PGconn *conn)
{
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT count(*) FROM users", 0, NULL) < 0)
		return -1;
	*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

static int hash_password(char out[crypto_pwhash_STRBYTES], const char *password)
{
	if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return wo_error_set("cannot hash the password: out of memory");
	return 0;
}

/* role NULL: admin for the first user ever, member after that */
static int user_insert(json_t **out, PGconn *conn, const char *name, const char *password, const char *role)
{
	int r;
	if (role && wo_role_parse(&r, role) < 0)
		return -1;
	struct wo_buf err = WO_BUF_INIT;
	wo_validate_user_name(name, &err);
	wo_validate_password(password, &err);
	if (err.len) {
		wo_error_set("%s", err.ptr);
		wo_buf_release(&err);
		return -1;
	}
	char hash[crypto_pwhash_STRBYTES];
	if (hash_password(hash, password) < 0)
		return -1;
	const char *params[] = { name, hash, role };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "INSERT INTO users (name, password_hash, role) VALUES ($1, $2,"
		       " coalesce($3, CASE WHEN EXISTS (SELECT 1 FROM users) THEN 'member' ELSE 'admin' END))"
		       " RETURNING json_build_object('id', id, 'name', name, 'role', role, 'created_at', "
		       TS("created_at") ")::text",
		       3, params) < 0) {
		if (wo_error_code() == WO_EEXISTS)
			return wo_error_setc(WO_EEXISTS, "user '%s' already exists", name);
		return -1;
	}
	if (out)
		*out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	return 0;
}

int wo_user_create(json_t **out, PGconn *conn, const char *name, const char *password, const char *role)
{
	return user_insert(out, conn, name, password, role);
}

int wo_user_principal(struct wo_principal *p, PGconn *conn, const char *name)
{
	const char *params[] = { name };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT id, name, role FROM users WHERE name = $1", 1, params) < 0)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "user '%s' not found", name);
	}
	memset(p, 0, sizeof(*p));
	p->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(p->user, sizeof(p->user), "%s", PQgetvalue(res, 0, 1));
	wo_role_parse(&p->role, PQgetvalue(res, 0, 2));
	p->scope = WO_SCOPE_MANAGE;
	PQclear(res);
	return 0;
}

int wo_user_set_role(PGconn *conn, const char *name, const char *role)
{
	int r;
	if (wo_role_parse(&r, role) < 0)
		return -1;
	const char *params[] = { name, role };
	PGresult *res;
	/* the last admin stays one: someone must be able to manage the rest */
	if (wo_db_exec(&res, conn,
		       "WITH u AS (SELECT id, role FROM users WHERE name = $1 FOR UPDATE),"
		       " a AS (SELECT count(*) AS n FROM users WHERE role = 'admin')"
		       " UPDATE users SET role = $2 FROM u, a WHERE users.id = u.id"
		       "   AND NOT (u.role = 'admin' AND $2 <> 'admin' AND a.n <= 1)"
		       " RETURNING users.id",
		       2, params) < 0)
		return -1;
	int n = PQntuples(res);
	PQclear(res);
	if (n == 1)
		return 0;
	long long exists = 0;
	if (wo_db_exec(&res, conn, "SELECT count(*) FROM users WHERE name = $1", 1, params) < 0)
		return -1;
	exists = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (!exists) {
		return wo_error_setc(WO_ENOTFOUND, "user '%s' not found ('webops user list' shows them)", name);
	}
	return wo_error_set("user '%s' is the last admin: make another user an admin first", name);
}

int wo_user_verify(struct wo_principal *p, PGconn *conn, const char *name, const char *password)
{
	const char *params[] = { name ? name : "" };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT id, name, password_hash, role FROM users WHERE name = $1", 1, params) < 0)
		return -1;
	int ok = 0;
	if (PQntuples(res) == 1) {
		ok = crypto_pwhash_str_verify(PQgetvalue(res, 0, 2), password, strlen(password)) == 0;
		if (ok) {
			memset(p, 0, sizeof(*p));
			p->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			snprintf(p->user, sizeof(p->user), "%s", PQgetvalue(res, 0, 1));
			wo_role_parse(&p->role, PQgetvalue(res, 0, 3));
			p->scope = WO_SCOPE_MANAGE;
		}
	} else {
		/* spend the same effort whether or not the user exists */
		char dummy[crypto_pwhash_STRBYTES];
		hash_password(dummy, "not-a-user-password");
	}
	PQclear(res);
	if (!ok)
		return wo_error_set("wrong user name or password");
	return 0;
}

int wo_user_list(json_t **out, PGconn *conn)
{
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT coalesce(json_agg(json_build_object('id', u.id, 'name', u.name, 'role', u.role, 'created_at', "
		       TS("u.created_at") ", 'sessions', (SELECT count(*) FROM sessions s WHERE s.user_id = u.id))"
		       " ORDER BY u.name), '[]')::text FROM users u",
		       0, NULL) < 0)
		return -1;
	*out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	return *out ? 0 : wo_error_set("cannot read users");
}

int wo_user_set_password(PGconn *conn, const char *name, const char *password)
{
	struct wo_buf err = WO_BUF_INIT;
	if (wo_validate_password(password, &err) < 0) {
		wo_error_set("%s", err.ptr);
		wo_buf_release(&err);
		return -1;
	}
	char hash[crypto_pwhash_STRBYTES];
	if (hash_password(hash, password) < 0)
		return -1;
	const char *params[] = { name, hash };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "WITH u AS (UPDATE users SET password_hash = $2 WHERE name = $1 RETURNING id),"
		       " s AS (DELETE FROM sessions WHERE user_id IN (SELECT id FROM u))"
		       " SELECT count(*) FROM u",
		       2, params) < 0)
		return -1;
	int n = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (!n) {
		return wo_error_setc(WO_ENOTFOUND, "user '%s' not found", name);
	}
	return 0;
}

int wo_user_delete(PGconn *conn, const char *name)
{
	const char *params[] = { name };
	PGresult *res;
	if (wo_db_exec(&res, conn, "DELETE FROM users WHERE name = $1", 1, params) < 0)
		return -1;
	int n = (int)strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	if (!n) {
		return wo_error_setc(WO_ENOTFOUND, "user '%s' not found", name);
	}
	return 0;
}

/* ---- setup link ---- */

int wo_setup_token_create(char out[WO_SECRET_TEXT_LEN + 1], PGconn *conn)
{
	char tok[WO_SECRET_TEXT_LEN + 1], hex[65];
	wo_auth_secret_new(tok);
	hash_hex(hex, tok);
	const char *params[] = { hex };
	if (wo_db_exec(NULL, conn,
		       "WITH d AS (DELETE FROM setup_tokens) INSERT INTO setup_tokens (token_hash) VALUES (decode($1, 'hex'))",
		       1, params) < 0)
		return -1;
	memcpy(out, tok, sizeof(tok));
	return 0;
}

int wo_setup_token_valid(PGconn *conn, const char *token)
{
	if (!token || strlen(token) != WO_SECRET_TEXT_LEN)
		return 0;
	char hex[65];
	hash_hex(hex, token);
	const char *params[] = { hex };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT 1 FROM setup_tokens WHERE token_hash = decode($1, 'hex') AND NOT EXISTS (SELECT 1 FROM users)",
		       1, params) < 0)
		return 0;
	int ok = PQntuples(res) == 1;
	PQclear(res);
	return ok;
}

int wo_setup_complete(json_t **out, PGconn *conn, const char *token, const char *name, const char *password)
{
	struct wo_buf err = WO_BUF_INIT;
	wo_validate_user_name(name, &err);
	wo_validate_password(password, &err);
	if (err.len) {
		wo_error_set("%s", err.ptr);
		wo_buf_release(&err);
		return -1;
	}
	if (wo_db_begin(conn) < 0)
		return -1;
	/* the lock makes two people racing for the same link take turns */
	if (wo_db_exec(NULL, conn, "LOCK TABLE setup_tokens IN EXCLUSIVE MODE", 0, NULL) < 0)
		goto fail;
	if (!wo_setup_token_valid(conn, token)) {
		wo_db_rollback(conn);
		return wo_error_setc(WO_ENOTFOUND, "this setup link is not valid: it was used already or replaced by a newer one "
			     "(restart webopsd for a new link, or use 'webops user create')");
	}
	if (user_insert(out, conn, name, password, "admin") < 0)
		goto fail;
	if (wo_db_exec(NULL, conn, "DELETE FROM setup_tokens", 0, NULL) < 0 || wo_db_commit(conn) < 0)
		goto fail;
	return 0;
fail:
	wo_db_rollback(conn);
	return -1;
}

/* ---- sessions ---- */

static long idle_hours(void)
{
	const char *e = getenv("WEBOPS_SESSION_IDLE_HOURS");
	long h = e && *e ? strtol(e, NULL, 10) : 0;
	return h > 0 && h < 24 * 365 ? h : WO_SESSION_IDLE_HOURS_DEFAULT;
}

int wo_session_create(char sid_out[WO_SECRET_TEXT_LEN + 1], PGconn *conn, long long user_id, const char *user_agent,
		      const char *address)
{
	char sid[WO_SECRET_TEXT_LEN + 1], hex[65], uid[32];
	wo_auth_secret_new(sid);
	hash_hex(hex, sid);
	snprintf(uid, sizeof(uid), "%lld", user_id);
	char ua[256];
	snprintf(ua, sizeof(ua), "%s", user_agent ? user_agent : "");
	const char *params[] = { hex, uid, ua, address };
	/* also sweeps sessions idle past their limit */
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "WITH old AS (DELETE FROM sessions WHERE last_seen_at < now() - interval '%ld hours')"
		 " INSERT INTO sessions (id_hash, user_id, user_agent, address) VALUES (decode($1, 'hex'), $2::bigint, $3, $4)",
		 idle_hours());
	if (wo_db_exec(NULL, conn, sql, 4, params) < 0)
		return -1;
	memcpy(sid_out, sid, sizeof(sid));
	return 0;
}

static void csrf_key(struct wo_principal *p, const char *sid)
{
	/* HMAC of a fixed label under the session secret: stable for the session,
	 * unguessable without the cookie, never stored */
	crypto_auth_hmacsha256_state st;
	unsigned char key[32];
	crypto_hash_sha256(key, (const unsigned char *)sid, strlen(sid));
	crypto_auth_hmacsha256_init(&st, key, sizeof(key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)"webops-csrf", 11);
	crypto_auth_hmacsha256_final(&st, p->csrf);
	sodium_memzero(key, sizeof(key));
}

int wo_session_lookup(struct wo_principal *p, PGconn *conn, const char *sid)
{
	if (!sid || strlen(sid) != WO_SECRET_TEXT_LEN)
		return WO_ENOTFOUND;
	char hex[65];
	hash_hex(hex, sid);
	const char *params[] = { hex };
	PGresult *res;
	char sql[640];
	snprintf(sql, sizeof(sql),
		 "WITH s AS (SELECT s.id, s.user_id, u.name, u.role, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id"
		 "   WHERE s.id_hash = decode($1, 'hex') AND s.last_seen_at >= now() - interval '%ld hours'),"
		 " t AS (UPDATE sessions SET last_seen_at = now() WHERE id IN (SELECT id FROM s"
		 "   WHERE last_seen_at < now() - interval '1 minute'))"
		 " SELECT id, user_id, name, role FROM s",
		 idle_hours());
	if (wo_db_exec(&res, conn, sql, 1, params) < 0)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return WO_ENOTFOUND;
	}
	memset(p, 0, sizeof(*p));
	p->session_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	p->user_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	snprintf(p->user, sizeof(p->user), "%s", PQgetvalue(res, 0, 2));
	wo_role_parse(&p->role, PQgetvalue(res, 0, 3));
	p->scope = WO_SCOPE_MANAGE;
	PQclear(res);
	csrf_key(p, sid);
	return 0;
}

int wo_session_list(json_t **out, PGconn *conn, long long user_id)
{
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", user_id);
	const char *params[] = { uid };
	PGresult *res;
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(json_agg(json_build_object('id', s.id, 'user', u.name, 'user_agent', s.user_agent,"
		 " 'address', s.address, 'created_at', " TS("s.created_at") ", 'last_seen_at', " TS("s.last_seen_at") ")"
		 " ORDER BY s.last_seen_at DESC), '[]')::text FROM sessions s JOIN users u ON u.id = s.user_id"
		 " WHERE ($1::bigint = 0 OR s.user_id = $1::bigint) AND s.last_seen_at >= now() - interval '%ld hours'",
		 idle_hours());
	if (wo_db_exec(&res, conn, sql, 1, params) < 0)
		return -1;
	*out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	return *out ? 0 : wo_error_set("cannot read sessions");
}

int wo_session_revoke(PGconn *conn, long long id, long long user_id)
{
	char ids[32], uid[32];
	snprintf(ids, sizeof(ids), "%lld", id);
	snprintf(uid, sizeof(uid), "%lld", user_id);
	const char *params[] = { ids, uid };
	PGresult *res;
	if (wo_db_exec(&res, conn, "DELETE FROM sessions WHERE id = $1::bigint AND ($2::bigint = 0 OR user_id = $2::bigint)",
		       2, params) < 0)
		return -1;
	int n = (int)strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	if (!n) {
		return wo_error_setc(WO_ENOTFOUND, "session %lld not found", id);
	}
	return 0;
}

int wo_session_end(PGconn *conn, const char *sid)
{
	if (!sid)
		return 0;
	char hex[65];
	hash_hex(hex, sid);
	const char *params[] = { hex };
	return wo_db_exec(NULL, conn, "DELETE FROM sessions WHERE id_hash = decode($1, 'hex')", 1, params);
}

void wo_session_csrf_text(char out[WO_SECRET_TEXT_LEN + 1], const struct wo_principal *p)
{
	sodium_bin2base64(out, WO_SECRET_TEXT_LEN + 1, p->csrf, sizeof(p->csrf), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int wo_session_csrf_ok(const struct wo_principal *p, const char *submitted)
{
	if (!p->session_id || !submitted || strlen(submitted) != WO_SECRET_TEXT_LEN)
		return 0;
	char want[WO_SECRET_TEXT_LEN + 1];
	wo_session_csrf_text(want, p);
	return sodium_memcmp(want, submitted, WO_SECRET_TEXT_LEN) == 0;
}

/* ---- API tokens ---- */

#define TOKEN_JSON \
	"json_build_object('name', t.name, 'user', u.name, 'scope', t.scope," \
	" 'deployments', CASE WHEN t.limited THEN (SELECT coalesce(json_agg(d.name ORDER BY d.name), '[]')" \
	"   FROM api_token_deployments td JOIN deployments d ON d.id = td.deployment_id WHERE td.token_id = t.id) END," \
	" 'created_at', " TS("t.created_at") "," \
	" 'expires_at', " TS("t.expires_at") ", 'last_used_at', " TS("t.last_used_at") "," \
	" 'expired', t.expires_at IS NOT NULL AND t.expires_at < now())"

int wo_token_create(char **token_out, json_t **out, PGconn *conn, const char *name, long long user_id,
		    int expires_days, const char *scope, const json_t *deployments)
{
	int sc;
	if (wo_scope_parse(&sc, scope ? scope : "manage") < 0)
		return -1;
	if (deployments && !json_is_array(deployments))
		return wo_error_set("deployments: expected a list of deployment names");
	struct wo_buf err = WO_BUF_INIT;
	if (wo_validate_token_name(name, &err) < 0) {
		wo_error_set("%s", err.ptr);
		wo_buf_release(&err);
		return -1;
	}
	if (expires_days < 0 || expires_days > 3650)
		return wo_error_set("expires '%d' is invalid: use 1-3650 days, or 0 for a token that never expires",
				    expires_days);
	char secret[WO_SECRET_TEXT_LEN + 1], hex[65], uid[32], days[16];
	wo_auth_secret_new(secret);
	char *tok = malloc(sizeof(WO_TOKEN_PREFIX) + WO_SECRET_TEXT_LEN);
	if (!tok)
		return wo_error_set("out of memory");
	snprintf(tok, sizeof(WO_TOKEN_PREFIX) + WO_SECRET_TEXT_LEN, WO_TOKEN_PREFIX "%s", secret);
	hash_hex(hex, tok);
	snprintf(uid, sizeof(uid), "%lld", user_id);
	snprintf(days, sizeof(days), "%d", expires_days);
	char *names = deployments ? json_dumps(deployments, JSON_COMPACT) : NULL;
	const char *params[] = { name, hex, user_id ? uid : NULL, days, wo_scope_name(sc), names };
	PGresult *res = NULL;
	if (wo_db_begin(conn) < 0) {
		free(tok);
		free(names);
		return -1;
	}
	if (wo_db_exec(NULL, conn,
		       "INSERT INTO api_tokens (name, token_hash, user_id, expires_at, scope, limited)"
		       " VALUES ($1, decode($2, 'hex'), $3::bigint,"
		       "  CASE WHEN $4::int > 0 THEN now() + make_interval(days => $4::int) END, $5, $6::jsonb IS NOT NULL)",
		       6, params) < 0) {
		int taken = wo_error_code() == WO_EEXISTS;
		wo_db_rollback(conn);
		free(tok);
		free(names);
		if (taken)
			return wo_error_setc(WO_EEXISTS, "token name '%s' is already taken: revoke it first or pick another name", name);
		return -1;
	}
	if (names) {
		/* every name must be a deployment */
		if (wo_db_exec(&res, conn,
			       "SELECT coalesce(string_agg(n, ', ' ORDER BY n), '') FROM jsonb_array_elements_text($1::jsonb) n"
			       " WHERE NOT EXISTS (SELECT 1 FROM deployments d WHERE d.name = n)",
			       1, &params[5]) < 0)
			goto fail;
		if (*PQgetvalue(res, 0, 0)) {
			wo_error_set("deployments: no deployment named %s", PQgetvalue(res, 0, 0));
			goto fail;
		}
		PQclear(res);
		res = NULL;
		if (wo_db_exec(NULL, conn,
			       "INSERT INTO api_token_deployments (token_id, deployment_id)"
			       " SELECT t.id, d.id FROM api_tokens t, deployments d"
			       " WHERE t.name = $1 AND d.name IN (SELECT jsonb_array_elements_text($2::jsonb))",
			       2, (const char *[]){ name, names }) < 0)
			goto fail;
	}
	if (wo_db_exec(&res, conn,
		       "SELECT " TOKEN_JSON "::text FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.name = $1",
		       1, params) < 0 ||
	    wo_db_commit(conn) < 0)
		goto fail;
	if (out)
		*out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	free(names);
	*token_out = tok;
	return 0;
fail:
	PQclear(res);
	wo_db_rollback(conn);
	free(tok);
	free(names);
	return -1;
}

int wo_token_list(json_t **out, PGconn *conn, long long user_id)
{
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", user_id);
	const char *params[] = { user_id ? uid : NULL };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT coalesce(json_agg(" TOKEN_JSON " ORDER BY t.name), '[]')::text"
		       " FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id"
		       " WHERE $1::bigint IS NULL OR t.user_id = $1::bigint",
		       1, params) < 0)
		return -1;
	*out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	return *out ? 0 : wo_error_set("cannot read tokens");
}

int wo_token_revoke(PGconn *conn, const char *name, long long user_id)
{
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", user_id);
	const char *params[] = { name, user_id ? uid : NULL };
	PGresult *res;
	if (wo_db_exec(&res, conn, "DELETE FROM api_tokens WHERE name = $1 AND ($2::bigint IS NULL OR user_id = $2::bigint)",
		       2, params) < 0)
		return -1;
	int n = (int)strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	if (!n) {
		return wo_error_setc(WO_ENOTFOUND, "token '%s' not found ('webops token list' shows them)", name);
	}
	return 0;
}

int wo_token_lookup(struct wo_principal *p, PGconn *conn, const char *token)
{
	if (!token || strlen(token) != strlen(WO_TOKEN_PREFIX) + WO_SECRET_TEXT_LEN)
		return WO_ENOTFOUND;
	char hex[65];
	hash_hex(hex, token);
	const char *params[] = { hex };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "WITH t AS (SELECT t.id, t.name, t.user_id, u.name AS uname, u.role, t.scope, t.limited, t.last_used_at"
		       "   FROM api_tokens t"
		       "   LEFT JOIN users u ON u.id = t.user_id"
		       "   WHERE t.token_hash = decode($1, 'hex') AND (t.expires_at IS NULL OR t.expires_at > now())),"
		       " x AS (UPDATE api_tokens SET last_used_at = now() WHERE id IN (SELECT id FROM t"
		       "   WHERE last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))"
		       " SELECT name, coalesce(user_id, 0), coalesce(uname, ''), coalesce(role, 'admin'), id, scope, limited FROM t",
		       1, params) < 0)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return WO_ENOTFOUND;
	}
	memset(p, 0, sizeof(*p));
	snprintf(p->token, sizeof(p->token), "%s", PQgetvalue(res, 0, 0));
	p->user_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	snprintf(p->user, sizeof(p->user), "%s", PQgetvalue(res, 0, 2));
	/* a token of no user was made on the host: the host's operator */
	wo_role_parse(&p->role, PQgetvalue(res, 0, 3));
	p->token_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	wo_scope_parse(&p->scope, PQgetvalue(res, 0, 5));
	p->limited = !strcmp(PQgetvalue(res, 0, 6), "t");
	PQclear(res);
	return 0;
}

/* ---- login throttling ---- */

int wo_login_throttled(int *retry_after, PGconn *conn, const char *name, const char *address)
{
	char kn[128], ka[128];
	snprintf(kn, sizeof(kn), "name:%.100s", name ? name : "");
	snprintf(ka, sizeof(ka), "addr:%.100s", address ? address : "");
	const char *params[] = { kn, ka };
	PGresult *res;
	char sql[768];
	/* seconds to wait, per key: blocked until the window ends, or the
	 * backoff after the last failure; the larger of the two keys wins. An
	 * address gets three times the allowance of a name: many people may
	 * share one (a proxy), and one guesser must not lock them all out. */
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(max(ceil(extract(epoch FROM CASE"
		 "  WHEN failures >= %d * m THEN first_at + interval '%d seconds' - now()"
		 "  WHEN failures >= %d * m THEN last_at + make_interval(secs => power(2, failures - %d * m)) - now()"
		 "  ELSE interval '0' END))), 0)::int"
		 " FROM (SELECT *, CASE WHEN key LIKE 'addr:%%' THEN 3 ELSE 1 END AS m FROM login_failures"
		 "   WHERE key IN ($1, $2) AND first_at > now() - interval '%d seconds') f",
		 THROTTLE_BLOCK_AFTER, THROTTLE_WINDOW_S, THROTTLE_SLOW_AFTER, THROTTLE_SLOW_AFTER, THROTTLE_WINDOW_S);
	if (wo_db_exec(&res, conn, sql, 2, params) < 0)
		return -1;
	int wait = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (wait > 0) {
		*retry_after = wait;
		return 1;
	}
	return 0;
}

void wo_login_failed(PGconn *conn, const char *name, const char *address)
{
	char kn[128], ka[128];
	snprintf(kn, sizeof(kn), "name:%.100s", name ? name : "");
	snprintf(ka, sizeof(ka), "addr:%.100s", address ? address : "");
	const char *keys[] = { kn, ka };
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO login_failures (key, failures) VALUES ($1, 1) ON CONFLICT (key) DO UPDATE SET"
		 " failures = CASE WHEN login_failures.first_at > now() - interval '%d seconds'"
		 "   THEN login_failures.failures + 1 ELSE 1 END,"
		 " first_at = CASE WHEN login_failures.first_at > now() - interval '%d seconds'"
		 "   THEN login_failures.first_at ELSE now() END,"
		 " last_at = now()",
		 THROTTLE_WINDOW_S, THROTTLE_WINDOW_S);
	for (int i = 0; i < 2; i++) {
		const char *params[] = { keys[i] };
		wo_db_exec(NULL, conn, sql, 1, params);
	}
}

void wo_login_succeeded(PGconn *conn, const char *name, const char *address)
{
	char kn[128];
	snprintf(kn, sizeof(kn), "name:%.100s", name ? name : "");
	const char *params[] = { kn };
	wo_db_exec(NULL, conn, "DELETE FROM login_failures WHERE key = $1", 1, params);
	(void)address; /* one good login does not clear an address that guesses at other names */
}
