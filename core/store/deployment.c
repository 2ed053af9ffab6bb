/* Deployment records: validation of the merged record, then one statement
 * (or one transaction for updates), so nothing is ever half-written. */
#include "store/deployment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "store/access.h"
#include "store/secrets.h"
#include "store/validate.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/banned.h"

#define DEPLOYMENT_JSON \
	"json_build_object('id', id, 'name', name, 'repo_url', repo_url, 'branch', branch," \
	" 'domain', domain, 'port', port, 'env_vars', env_vars, 'status', status," \
	" 'addon_fields', addon_fields, 'current_commit', current_commit, 'current_run_id', current_run_id," \
	" 'push_only', push_only, 'health', health," \
	" 'owner', (SELECT u.name FROM users u WHERE u.id = owner_id)," \
	" 'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')," \
	" 'updated_at', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text"

static const char *str_or_null(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static wo_deployment_validator_fn validator;
static void *validator_ud;

void wo_deployment_set_validator(wo_deployment_validator_fn fn, void *ud)
{
	validator = fn;
	validator_ud = ud;
}

/* What a failed create or update returns: the error's code (util/error.h). */
static int failed(void)
{
	return wo_error_code() < 0 ? wo_error_code() : -1;
}

/* The program's own rules (addons' fields and semantics), after the store's. */
static int run_validator(const json_t *d)
{
	if (!validator)
		return 0;
	struct wo_buf err = WO_BUF_INIT;
	int rc = validator(validator_ud, d, &err);
	/* the validator's code when it gives one (a taken port: WO_EEXISTS) */
	int code = rc < -1 ? rc : WO_EINVALID;
	if (rc < 0)
		wo_error_setc(code, "%s", err.len ? err.ptr : "the deployment was refused by an addon");
	wo_buf_release(&err);
	return rc < 0 ? code : 0;
}

/* Health settings: name, default, minimum, maximum (integers), in display order. */
static const struct {
	const char *key;
	int dflt, min, max;
	const char *what;
} health_ints[] = {
	{ "interval_s", 30, 1, 86400, "seconds between checks" },
	{ "timeout_s", 5, 1, 300, "seconds a check may take" },
	{ "retries", 3, 1, 100, "consecutive failures before unhealthy" },
	{ "start_period_s", 30, 0, 86400, "seconds after a deploy or start when failures do not count" },
	{ "restarts_per_hour", 3, 0, 60, "automatic restarts of an unhealthy deployment per hour; 0: never" },
};

void wo_deployment_health_fill(json_t *h)
{
	if (!json_is_object(h))
		return;
	for (size_t i = 0; i < sizeof(health_ints) / sizeof(health_ints[0]); i++)
		if (!json_object_get(h, health_ints[i].key))
			json_object_set_new(h, health_ints[i].key, json_integer(health_ints[i].dflt));
	static const char *const optional[] = { "path", "status", "body" };
	for (size_t i = 0; i < 3; i++) {
		json_t *v = json_object_get(h, optional[i]);
		if (!v || (json_is_string(v) && !*json_string_value(v)))
			json_object_set_new(h, optional[i], json_null());
	}
}

static void health_validate(const json_t *h, const json_t *d, struct wo_buf *err)
{
#define HERR(...) do { if (err->len) wo_buf_putc(err, '\n'); wo_buf_printf(err, __VA_ARGS__); } while (0)
	if (!json_is_object(h)) {
		HERR("health: must be an object of interval_s, timeout_s, retries, start_period_s, restarts_per_hour, "
		     "path, status, body");
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)h, key, v) {
		int known = !strcmp(key, "path") || !strcmp(key, "status") || !strcmp(key, "body");
		for (size_t i = 0; i < sizeof(health_ints) / sizeof(health_ints[0]); i++)
			known |= !strcmp(key, health_ints[i].key);
		if (!known)
			HERR("health.%s: not a health setting; use interval_s, timeout_s, retries, start_period_s, "
			     "restarts_per_hour, path, status or body", key);
	}
	for (size_t i = 0; i < sizeof(health_ints) / sizeof(health_ints[0]); i++) {
		v = json_object_get(h, health_ints[i].key);
		if (v && (!json_is_integer(v) || json_integer_value(v) < health_ints[i].min ||
			  json_integer_value(v) > health_ints[i].max))
			HERR("health.%s: must be a whole number from %d to %d (%s)", health_ints[i].key,
			     health_ints[i].min, health_ints[i].max, health_ints[i].what);
	}
	json_t *iv = json_object_get(h, "interval_s"), *tv = json_object_get(h, "timeout_s");
	if (json_is_integer(iv) && json_is_integer(tv) && json_integer_value(tv) > json_integer_value(iv))
		HERR("health.timeout_s: must not exceed health.interval_s (%lld s), or checks would overlap",
		     (long long)json_integer_value(iv));
	v = json_object_get(h, "path");
	if (v && !json_is_null(v)) {
		const char *p = json_is_string(v) ? json_string_value(v) : NULL;
		int ok = p && p[0] == '/' && strlen(p) <= 1024 && strlen(p) == json_string_length(v);
		for (const unsigned char *c = (const unsigned char *)p; ok && *c; c++)
			ok = *c > 0x20 && *c < 0x7f;
		if (!ok)
			HERR("health.path: must start with '/' and hold at most 1024 printable characters without "
			     "spaces (percent-encode others), e.g. /healthz");
		else if (!json_is_integer(json_object_get(d, "port")) && !str_or_null(d, "domain"))
			HERR("health.path: the HTTP probe needs the deployment's port or domain to reach it; set one "
			     "(or leave the path empty to rely on addons' health hooks)");
	}
	v = json_object_get(h, "status");
	if (v && !json_is_null(v) &&
	    (!json_is_integer(v) || json_integer_value(v) < 100 || json_integer_value(v) > 599))
		HERR("health.status: must be an HTTP status from 100 to 599 (empty: any status below 400)");
	v = json_object_get(h, "body");
	if (v && !json_is_null(v) &&
	    (!json_is_string(v) || json_string_length(v) > 1024 || strlen(json_string_value(v)) != json_string_length(v)))
		HERR("health.body: must be text of at most 1024 characters the response must contain");
#undef HERR
}

int wo_deployment_exists(PGconn *conn, const char *deployment)
{
	const char *params[] = { deployment };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT 1 FROM deployments WHERE name = $1", 1, params) < 0)
		return -1;
	int n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", deployment);
	}
	return 0;
}

int wo_deployment_ports_list(json_t **out, PGconn *conn, const char *except)
{
	const char *params[] = { except };
	PGresult *res = NULL;
	if (wo_db_exec(&res, conn, "SELECT name, port, addon_fields::text FROM deployments WHERE name <> $1 ORDER BY name",
		       1, params) < 0)
		return -1;
	json_t *all = json_array();
	for (int r = 0; r < PQntuples(res); r++) {
		json_t *row = json_object();
		json_object_set_new(row, "name", json_string(PQgetvalue(res, r, 0)));
		json_object_set_new(row, "port", PQgetisnull(res, r, 1) ? json_null()
					: json_integer(strtol(PQgetvalue(res, r, 1), NULL, 10)));
		json_t *af = json_loads(PQgetvalue(res, r, 2), 0, NULL);
		if (af)
			json_object_set_new(row, "addon_fields", af);
		json_array_append_new(all, row);
	}
	PQclear(res);
	*out = all;
	return 0;
}

int wo_deployment_status_checked(const char *status)
{
	return status && (!strcmp(status, "running") || !strcmp(status, "deployed"));
}

static const char *const statuses[] = { "pending", "building", "running", "deployed", "stopped", "failed", "deleting", NULL };

int wo_deployment_validate(const json_t *d)
{
	struct wo_buf err = WO_BUF_INIT;
	const json_t *v;

	v = json_object_get(d, "name");
	if (v && !json_is_string(v))
		wo_buf_puts(&err, "name: must be a string\n");
	else
		wo_validate_name(str_or_null(d, "name"), &err);

	v = json_object_get(d, "repo_url");
	if (v && !json_is_string(v)) {
		if (err.len)
			wo_buf_putc(&err, '\n');
		wo_buf_puts(&err, "repo_url: must be a string");
	} else {
		wo_validate_repo_url(str_or_null(d, "repo_url"), &err);
	}

	v = json_object_get(d, "branch");
	if (v && !json_is_string(v)) {
		if (err.len)
			wo_buf_putc(&err, '\n');
		wo_buf_puts(&err, "branch: must be a string");
	} else {
		wo_validate_branch(str_or_null(d, "branch"), &err);
	}

	v = json_object_get(d, "domain");
	if (v && !json_is_null(v) && !json_is_string(v)) {
		if (err.len)
			wo_buf_putc(&err, '\n');
		wo_buf_puts(&err, "domain: must be a string or null");
	} else {
		wo_validate_domain(str_or_null(d, "domain"), &err);
	}

	v = json_object_get(d, "port");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v)) {
			if (err.len)
				wo_buf_putc(&err, '\n');
			wo_buf_puts(&err, "port: must be a whole number from 1 to 65535");
		} else {
			wo_validate_port(json_integer_value(v), &err);
		}
	}

	v = json_object_get(d, "env_vars");
	if (v && !json_is_object(v)) {
		if (err.len)
			wo_buf_putc(&err, '\n');
		wo_buf_puts(&err, "env_vars: must be an object of names to strings");
	} else if (v) {
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)v, key, val) {
			if (wo_validate_env_key(key, &err) < 0)
				continue;
			if (!json_is_string(val)) {
				if (err.len)
					wo_buf_putc(&err, '\n');
				wo_buf_printf(&err, "env '%s': the value must be a string", key);
			} else if (strlen(json_string_value(val)) != json_string_length(val)) {
				if (err.len)
					wo_buf_putc(&err, '\n');
				wo_buf_printf(&err, "env '%s': the value must not contain NUL characters", key);
			}
		}
	}

	v = json_object_get(d, "addon_fields");
	if (v && !json_is_object(v)) {
		if (err.len)
			wo_buf_putc(&err, '\n');
		wo_buf_puts(&err, "addon_fields: must be an object keyed by addon name");
	}

	v = json_object_get(d, "push_only");
	if (v && !json_is_boolean(v)) {
		if (err.len)
			wo_buf_putc(&err, '\n');
		wo_buf_puts(&err, "push_only: must be true or false");
	}

	v = json_object_get(d, "health");
	if (v)
		health_validate(v, d, &err);

	v = json_object_get(d, "status");
	if (v) {
		int ok = 0;
		for (int i = 0; statuses[i] && json_is_string(v); i++)
			ok |= !strcmp(statuses[i], json_string_value(v));
		if (!ok) {
			if (err.len)
				wo_buf_putc(&err, '\n');
			wo_buf_puts(&err, "status: must be one of pending, building, running, deployed, stopped, failed, deleting");
		}
	}

	if (err.len) {
		wo_error_setc(WO_EINVALID, "%s", err.ptr);
		wo_buf_release(&err);
		return WO_EINVALID;
	}
	return 0;
}

static int parse_text(json_t **out, const char *text);

static int parse_row(json_t **out, PGresult *res, int row)
{
	return parse_text(out, PQgetvalue(res, row, 0));
}

/* A record as DEPLOYMENT_JSON made it, into its JSON form for callers. */
static int parse_text(json_t **out, const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	if (!j)
		return wo_error_set("cannot parse deployment record: %s", jerr.text);
	wo_deployment_health_fill(json_object_get(j, "health"));
	/* environment values are sealed at rest (store/secrets.h). One that
	 * cannot be opened (another key) stays sealed here, so the record can
	 * still be shown and deleted; a run refuses it (wo_deployment_env_check) */
	json_t *env = json_object_get(j, "env_vars");
	if (json_is_object(env) && wo_secrets_open_env(env, json_string_value(json_object_get(j, "name"))) < 0)
		wo_error_clear();
	*out = j;
	return 0;
}

/* Turns a unique violation (WO_EEXISTS) into words naming the field, by
 * the constraint PostgreSQL names. */
static int unique_violation(PGconn *conn, const json_t *d)
{
	char key[64];
	snprintf(key, sizeof(key), "%s", wo_db_last_constraint());
	if (!strcmp(key, "deployments_name_key"))
		return wo_error_setc(WO_EEXISTS, "name '%s' is already taken by another deployment", str_or_null(d, "name"));
	if (!strcmp(key, "deployments_port_key")) {
		json_int_t port = json_integer_value(json_object_get(d, "port"));
		char p[32];
		snprintf(p, sizeof(p), "%lld", (long long)port);
		const char *params[] = { p };
		PGresult *res;
		if (wo_db_exec(&res, conn, "SELECT name FROM deployments WHERE port = $1::int", 1, params) == 0 &&
		    PQntuples(res) == 1) {
			wo_error_setc(WO_EEXISTS, "port %s is already used by deployment '%s'", p, PQgetvalue(res, 0, 0));
			PQclear(res);
			return WO_EEXISTS;
		}
		PQclear(res);
		return wo_error_setc(WO_EEXISTS, "port %s is already used by another deployment", p);
	}
	return WO_EEXISTS;
}

/* Text parameters for one record, in the order of the INSERT/UPDATE columns. */
struct record_params {
	char port[16];
	char *env;
	char *addon;
	char *health;
	const char *v[9];
};

static int has_sealed_field(const json_t *addon_fields)
{
	const char *an, *fn;
	json_t *mine, *v;
	json_object_foreach((json_t *)addon_fields, an, mine) {
		json_object_foreach(mine, fn, v)
			if (wo_secret_is_sealed(json_string_value(v)))
				return 1;
	}
	return 0;
}

/* -1 when the environment cannot be sealed (the key: wo_secrets_ready) */
static int record_params_init(struct record_params *rp, PGconn *conn, const json_t *d)
{
	const json_t *port = json_object_get(d, "port");
	const char *domain = str_or_null(d, "domain");
	json_t *env = NULL;
	const json_t *plain_env = json_object_get(d, "env_vars");
	memset(rp, 0, sizeof(*rp));
	if (json_object_size(plain_env) &&
	    (wo_secrets_ready(conn) < 0 || wo_secrets_seal_env(&env, plain_env) < 0))
		return wo_error_prefix("cannot store the environment of '%s'", str_or_null(d, "name"));
	const json_t *addon = json_object_get(d, "addon_fields");
	/* secret fields come sealed: by the key this database knows, or not at all */
	if (has_sealed_field(addon) && wo_secrets_ready(conn) < 0) {
		json_decref(env);
		return wo_error_prefix("cannot store the fields of '%s'", str_or_null(d, "name"));
	}
	json_t *health = json_deep_copy(json_object_get(d, "health"));
	if (!json_is_object(health)) {
		json_decref(health);
		health = json_object();
	}
	wo_deployment_health_fill(health);
	rp->health = json_dumps(health, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(health);
	rp->env = env ? json_dumps(env, JSON_COMPACT) : strdup("{}");
	json_decref(env);
	rp->addon = json_dumps(addon ? addon : json_object(), JSON_COMPACT);
	if (json_is_integer(port))
		snprintf(rp->port, sizeof(rp->port), "%lld", (long long)json_integer_value(port));
	rp->v[0] = str_or_null(d, "name");
	rp->v[1] = str_or_null(d, "repo_url");
	rp->v[2] = str_or_null(d, "branch");
	rp->v[3] = domain && *domain ? domain : NULL;
	rp->v[4] = json_is_integer(port) ? rp->port : NULL;
	rp->v[5] = rp->env;
	rp->v[6] = rp->addon;
	rp->v[7] = json_is_true(json_object_get(d, "push_only")) ? "true" : "false";
	rp->v[8] = rp->health;
	return 0;
}

static void record_params_release(struct record_params *rp)
{
	free(rp->env);
	free(rp->addon);
	free(rp->health);
}

/* Lower-cases the domain so lookups by host name are exact. */
static void normalise(json_t *d)
{
	const char *dom = str_or_null(d, "domain");
	if (dom) {
		if (!*dom) {
			json_object_set_new(d, "domain", json_null());
			return;
		}
		char *low = strdup(dom);
		for (char *p = low; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		json_object_set_new(d, "domain", json_string(low));
		free(low);
	}
}

static const char *const known_keys[] = { "name", "repo_url", "branch", "domain", "port",
					  "env_vars", "addon_fields", "push_only", "health", NULL };

static int check_keys(const json_t *input, int allow_name)
{
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)input, key, val) {
		int ok = 0;
		for (int i = 0; known_keys[i]; i++)
			ok |= !strcmp(key, known_keys[i]);
		if (!allow_name && !strcmp(key, "name"))
			return wo_error_setc(WO_EINVALID, "name: a deployment cannot be renamed");
		if (!ok)
			return wo_error_setc(WO_EINVALID, "'%s' is not a deployment field: use name, repo_url, branch, domain, port, "
					    "env_vars, addon_fields, push_only or health", key);
	}
	return 0;
}

int wo_deployment_create(json_t **out, PGconn *conn, const json_t *input)
{
	if (!json_is_object(input))
		return wo_error_setc(WO_EINVALID, "a deployment must be an object");
	if (check_keys(input, 1) < 0)
		return failed();
	json_t *d = json_deep_copy(input);
	if (!json_object_get(d, "branch"))
		json_object_set_new(d, "branch", json_string("main"));
	normalise(d);
	if (wo_deployment_validate(d) < 0 || run_validator(d) < 0) {
		json_decref(d);
		return failed();
	}
	struct record_params rp;
	if (record_params_init(&rp, conn, d) < 0) {
		record_params_release(&rp);
		json_decref(d);
		return -1;
	}
	PGresult *res = NULL;
	int rc = wo_db_exec(&res, conn,
			    "INSERT INTO deployments (name, repo_url, branch, domain, port, env_vars, addon_fields, push_only,"
			    " health) VALUES ($1, $2, $3, $4, $5::int, $6::jsonb, $7::jsonb, $8::boolean, $9::jsonb)"
			    " RETURNING " DEPLOYMENT_JSON,
			    9, rp.v);
	record_params_release(&rp);
	if (rc < 0) {
		if (wo_error_code() == WO_EEXISTS)
			rc = unique_violation(conn, d);
		json_decref(d);
		return rc;
	}
	json_decref(d);
	rc = parse_row(out, res, 0);
	PQclear(res);
	return rc;
}

static int get_locked(json_t **out, PGconn *conn, const char *name, int for_update)
{
	const char *params[] = { name };
	PGresult *res;
	int rc = wo_db_exec(&res, conn,
			    for_update ? "SELECT " DEPLOYMENT_JSON " FROM deployments WHERE name = $1 FOR UPDATE"
				       : "SELECT " DEPLOYMENT_JSON " FROM deployments WHERE name = $1",
			    1, params);
	if (rc < 0)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name);
	}
	rc = parse_row(out, res, 0);
	PQclear(res);
	return rc;
}

int wo_deployment_get(json_t **out, PGconn *conn, const char *name)
{
	return get_locked(out, conn, name, 0);
}

/* Every row of res as a record (res is cleared). */
static int rows_json(json_t **out, PGresult *res)
{
	json_t *arr = json_array();
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *row;
		if (parse_row(&row, res, i) < 0) {
			json_decref(arr);
			PQclear(res);
			return -1;
		}
		json_array_append_new(arr, row);
	}
	PQclear(res);
	*out = arr;
	return 0;
}

int wo_deployment_list(json_t **out, PGconn *conn)
{
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT " DEPLOYMENT_JSON " FROM deployments ORDER BY name", 0, NULL) < 0)
		return -1;
	return rows_json(out, res);
}

int wo_deployment_list_visible(json_t **out, PGconn *conn, const struct wo_principal *p)
{
	if (!wo_access_filtered(p))
		return wo_deployment_list(out, conn);
	char uid[32], tid[32];
	wo_access_params(p, uid, tid);
	char *cond = wo_access_visible_sql(p, 1);
	struct wo_buf sql = WO_BUF_INIT;
	wo_buf_printf(&sql, "SELECT " DEPLOYMENT_JSON " FROM deployments d WHERE %s ORDER BY name", cond);
	free(cond);
	const char *params[] = { uid, tid };
	PGresult *res;
	int rc = wo_db_exec(&res, conn, sql.ptr, 2, params);
	wo_buf_release(&sql);
	if (rc < 0)
		return -1;
	return rows_json(out, res);
}

int wo_deployment_names_visible(json_t **out, PGconn *conn, const struct wo_principal *p)
{
	char uid[32], tid[32];
	wo_access_params(p, uid, tid);
	char *cond = wo_access_visible_sql(p, 1);
	struct wo_buf sql = WO_BUF_INIT;
	wo_buf_printf(&sql, "SELECT coalesce(json_object_agg(name, true), '{}')::text FROM deployments d WHERE %s", cond);
	free(cond);
	const char *params[] = { uid, tid };
	PGresult *res;
	int rc = wo_db_exec(&res, conn, sql.ptr, 2, params);
	wo_buf_release(&sql);
	if (rc < 0)
		return -1;
	*out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	return *out ? 0 : wo_error_set("cannot read the deployments' names");
}

int wo_deployment_set_owner(PGconn *conn, const char *name, const char *user)
{
	const char *params[] = { name, user };
	PGresult *res;
	if (user && *user) {
		if (wo_db_exec(&res, conn, "SELECT 1 FROM users WHERE name = $1", 1, &params[1]) < 0)
			return -1;
		int n = PQntuples(res);
		PQclear(res);
		if (!n) {
			return wo_error_setc(WO_ENOTFOUND, "user '%s' not found ('webops user list' shows them)", user);
		}
	}
	if (wo_db_exec(&res, conn,
		       "UPDATE deployments SET owner_id = (SELECT id FROM users WHERE name = $2) WHERE name = $1", 2,
		       params) < 0)
		return -1;
	int n = (int)strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	if (!n) {
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name);
	}
	/* the owner needs no share besides */
	wo_db_exec(NULL, conn,
		   "DELETE FROM deployment_shares s USING deployments d WHERE s.deployment_id = d.id AND d.name = $1"
		   " AND s.user_id = d.owner_id",
		   1, params);
	return 0;
}

int wo_deployment_env_check(const json_t *d)
{
	const json_t *env = json_object_get(d, "env_vars");
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)env, k, v) {
		if (!wo_secret_is_sealed(json_string_value(v)))
			continue;
		/* opening it again says why it cannot be */
		json_t *one = json_pack("{s:O}", k, (json_t *)v);
		int rc = wo_secrets_open_env(one, json_string_value(json_object_get(d, "name")));
		json_decref(one);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int wo_deployment_get_ids(json_t **out, PGconn *conn, const char *ids_array)
{
	const char *params[] = { ids_array };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT id, " DEPLOYMENT_JSON " FROM deployments WHERE id = ANY($1::bigint[])", 1,
		       params) < 0)
		return -1;
	json_t *obj = json_object();
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *row;
		if (parse_text(&row, PQgetvalue(res, i, 1)) < 0) {
			json_decref(obj);
			PQclear(res);
			return -1;
		}
		json_object_set_new(obj, PQgetvalue(res, i, 0), row);
	}
	PQclear(res);
	*out = obj;
	return 0;
}

int wo_deployment_update(json_t **out, PGconn *conn, const char *name, const json_t *patch)
{
	if (!json_is_object(patch))
		return wo_error_setc(WO_EINVALID, "an update must be an object");
	if (check_keys(patch, 0) < 0)
		return failed();
	if (wo_db_begin(conn) < 0)
		return -1;
	json_t *cur = NULL;
	int rc = get_locked(&cur, conn, name, 1);
	if (rc < 0) {
		wo_db_rollback(conn);
		return rc;
	}
	/* a push-only deployment given another repository is no longer push-only
	 * (unless the same update says otherwise) */
	const json_t *new_url = json_object_get(patch, "repo_url");
	if (json_is_string(new_url) && !json_object_get(patch, "push_only") &&
	    !json_equal(new_url, json_object_get(cur, "repo_url")))
		json_object_set_new(cur, "push_only", json_false());
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)patch, key, val) {
		if ((!strcmp(key, "addon_fields") || !strcmp(key, "health")) && json_is_object(val)) {
			json_t *af = json_object_get(cur, key);
			if (!json_is_object(af)) {
				af = json_object();
				json_object_set_new(cur, key, af);
			}
			json_object_update(af, val);
		} else {
			json_object_set(cur, key, val);
		}
	}
	normalise(cur);
	if (wo_deployment_validate(cur) < 0 || run_validator(cur) < 0) {
		wo_db_rollback(conn);
		json_decref(cur);
		return failed();
	}
	struct record_params rp;
	if (record_params_init(&rp, conn, cur) < 0) {
		record_params_release(&rp);
		wo_db_rollback(conn);
		json_decref(cur);
		return -1;
	}
	PGresult *res = NULL;
	rc = wo_db_exec(&res, conn,
			"UPDATE deployments SET repo_url = $2, branch = $3, domain = $4, port = $5::int,"
			" env_vars = $6::jsonb, addon_fields = $7::jsonb, push_only = $8::boolean, health = $9::jsonb,"
			" updated_at = now() WHERE name = $1 RETURNING " DEPLOYMENT_JSON,
			9, rp.v);
	record_params_release(&rp);
	if (rc < 0) {
		int unique = wo_error_code() == WO_EEXISTS;
		wo_db_rollback(conn);
		if (unique)
			rc = unique_violation(conn, cur);
		json_decref(cur);
		return rc;
	}
	json_decref(cur);
	rc = parse_row(out, res, 0);
	PQclear(res);
	if (rc < 0 || wo_db_commit(conn) < 0) {
		wo_db_rollback(conn);
		if (rc == 0)
			json_decref(*out);
		return -1;
	}
	return 0;
}

int wo_deployment_delete(PGconn *conn, const char *name)
{
	const char *params[] = { name };
	PGresult *res;
	if (wo_db_exec(&res, conn, "DELETE FROM deployments WHERE name = $1", 1, params) < 0)
		return -1;
	int deleted = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	if (!deleted)
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name);
	return 0;
}

int wo_deployment_set_status(PGconn *conn, const char *name, const char *status)
{
	int ok = 0;
	for (int i = 0; statuses[i]; i++)
		ok |= !strcmp(statuses[i], status);
	if (!ok)
		return wo_error_setc(WO_EINVALID, "status '%s' is invalid: use pending, building, running, deployed, stopped, failed or deleting", status);
	const char *params[] = { name, status };
	PGresult *res;
	if (wo_db_exec(&res, conn, "UPDATE deployments SET status = $2, updated_at = now() WHERE name = $1", 2,
		       params) < 0)
		return -1;
	int updated = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	if (!updated)
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name);
	return 0;
}
