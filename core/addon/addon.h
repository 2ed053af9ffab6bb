/* The addon host as core sees it: discovering and loading addons (registry),
 * their records in PostgreSQL, declared deployment fields, and dispatching
 * hooks to them in child processes. */
#ifndef WO_ADDON_ADDON_H
#define WO_ADDON_ADDON_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "addon/manifest.h"
#include "util/buf.h"

/* ---- registry ---- */

struct wo_addon_metrics {
	int64_t success_count;
	int64_t failure_count;
	char *last_run_at;      /* ISO 8601, NULL when never run */
	int64_t last_duration_ms;
	char *last_error;       /* NULL when the last run succeeded */
};

struct wo_addon {
	char *name;             /* the manifest's name, else the folder's name */
	char *dir;              /* the addon's folder */
	struct wo_addon_manifest *manifest; /* always set (it may carry errors) */
	int loaded;             /* manifest valid and library probed fine: hooks can run */
	char *load_error;       /* why not loaded (several lines possible); NULL when loaded */
	int enabled;            /* from PostgreSQL; 1 without a database */
	int duplicate;          /* another addon of this name came first in the path */
	char *lib_version;      /* the descriptor's version, when probed */
	int abi_major, abi_minor; /* the descriptor's ABI, -1 when not probed */
	json_t *settings_stored;  /* object: values set with `webops addon config` */
	json_t *settings;         /* object: effective values (defaults < stored < environment) */
	json_t *settings_source;  /* object: key -> "default" | "stored" | "env" */
	struct wo_addon_metrics metrics;
};

struct wo_addon_registry {
	struct wo_addon **addons; /* sorted by name (duplicates after the first) */
	size_t naddons;
	PGconn *conn;             /* borrowed; NULL: no database state */
	char **warnings;          /* path entries that could not be read, manifest warnings */
	size_t nwarnings;
	size_t nwarnings_scan;    /* how many came from scanning (the rest from settings, made again on refresh) */
};

/* Discovers addons in each folder of addons_path (colon-separated): every
 * subfolder holding an addon.yaml (or the folder itself when it holds one).
 * Parses each manifest, probes each library in a child process (dlopen,
 * descriptor, ABI, handler symbols), and, with a connection, records each
 * addon in PostgreSQL and reads its enabled flag, settings and metrics.
 * One broken addon never stops the others; its error is in load_error.
 * conn is borrowed and must outlive the registry. */
int wo_addon_registry_load(struct wo_addon_registry **out, const char *addons_path, PGconn *conn);
void wo_addon_registry_free(struct wo_addon_registry *reg);
/* Re-reads enabled flags, settings and metrics from PostgreSQL through conn
 * (which becomes reg->conn) without scanning or probing again: for a
 * long-lived registry in a process that must not fork (webopsd's HTTP side). */
int wo_addon_registry_refresh(struct wo_addon_registry *reg, PGconn *conn);
struct wo_addon *wo_addon_registry_find(const struct wo_addon_registry *reg, const char *name);
/* Whether addon name runs deployments (its manifest's capabilities hold
 * "run"): a deployment none of these acted on is "deployed", not "running". */
int wo_addon_runs_deployments(const struct wo_addon_registry *reg, const char *name);

/* Sets the enabled flag in PostgreSQL (and in reg). */
int wo_addon_set_enabled(struct wo_addon_registry *reg, struct wo_addon *a, int enabled);
/* Validates value_text against a's settings_schema entry and stores it. */
int wo_addon_setting_set(struct wo_addon_registry *reg, struct wo_addon *a, const char *key,
                         const char *value_text);
/* Removes a stored setting (back to the default). */
int wo_addon_setting_unset(struct wo_addon_registry *reg, struct wo_addon *a, const char *key);
/* Name of the variable overriding a setting: WEBOPS_<ADDON>_<KEY>, upper-cased,
 * '-' as '_'. Caller frees. */
char *wo_addon_setting_env_name(const char *addon, const char *key);

/* Why setting f of addon a cannot be changed from where a request comes
 * from: NULL when it can. A host-scope setting is changed on the host only
 * (the CLI there, webopsd's environment); over HTTP the answer is 403 with
 * this text, which names the setting and the command. Caller frees. */
char *wo_addon_setting_host_only(const struct wo_addon *a, const struct wo_addon_field *f);

/* Checks one addon folder like the registry would, in a child process, and
 * returns the manifest (errors included) with probe errors appended. */
int wo_addon_check_dir(struct wo_addon **out, const char *dir);
void wo_addon_free(struct wo_addon *a);

/* "enabled", "disabled" or "error" (not loadable). */
const char *wo_addon_state(const struct wo_addon *a);
/* Everything about an addon as JSON (manifest, hooks, fields, settings with
 * secrets masked, load state, metrics). */
json_t *wo_addon_json(const struct wo_addon *a);
/* A field or setting declaration as JSON (for forms); secret defaults masked when secret_mask. */
json_t *wo_addon_field_json(const struct wo_addon_field *f, int secret_mask);

/* ---- deployment fields ---- */

/* Parses value_text for the declared field `key` ("field" when only one
 * enabled addon declares it, or "addon.field") and stores it in
 * addon_fields[addon][field]. On failure appends a message naming the field
 * to err and leaves addon_fields alone. */
int wo_addon_fields_apply(json_t *addon_fields, const struct wo_addon_registry *reg,
                          const char *key, const char *value_text, struct wo_buf *err);
/* What a secret field's value is shown as (secret: true in the manifest:
 * stored sealed, util/secret.h); given back as the value, it keeps what is
 * stored. */
#define WO_FIELD_SECRET_MASK "********"
/* A secret field's (non-empty string) value sealed in place; other values
 * as they are. On failure appends the reason to err. */
int wo_addon_field_seal(json_t **v, const struct wo_addon_field *f, struct wo_buf *err);
/* Deployment records (one object, or an array of them) as they may be
 * shown: every sealed field value replaced by WO_FIELD_SECRET_MASK. */
void wo_addon_fields_mask(json_t *records);
/* Fills in defaults for enabled addons' fields that have no value. */
int wo_addon_fields_defaults(json_t *addon_fields, const struct wo_addon_registry *reg);
/* Validates every stored value of enabled addons' fields and the required
 * ones; appends one line per problem to err. */
int wo_addon_fields_validate(const json_t *addon_fields, const struct wo_addon_registry *reg, struct wo_buf *err);

/* The fields of enabled addons, for forms: [{addon, name, type, default,
 * label, help, pattern, min, max, choices, required}], in addon order. */
json_t *wo_addon_fields_json(const struct wo_addon_registry *reg);

/* ---- dispatch ---- */

enum wo_hook_status {
	WO_HOOK_OK,
	WO_HOOK_FAILED,
	WO_HOOK_SKIPPED,  /* conditions not met, or the hook returned WEBOPS_SKIPPED */
	WO_HOOK_NOT_RUN,  /* an earlier required hook failed, or the run was cancelled */
};

const char *wo_hook_status_name(enum wo_hook_status s);

struct wo_hook_result {
	const char *addon;      /* borrowed from the registry */
	const char *handler;
	enum wo_event event;
	int priority;
	int required;
	enum wo_hook_status status;
	int attempts;
	int64_t duration_ms;    /* all attempts, delays included */
	char *error;            /* names addon, hook, handler and the cause; NULL when ok */
	char *message;          /* the hook's own set_error text when it returned WEBOPS_ERROR, else NULL */
	char *skip_reason;
	int signal;             /* the last attempt was killed by this signal */
	int timed_out;
	int cancelled;
	json_t *outputs;        /* object published by this hook */
	json_t *logs;           /* array of {"level": n, "line": "..."} (capped) */
};

struct wo_hook_report {
	enum wo_event event;
	int ok;                 /* no required hook failed and not cancelled */
	int cancelled;
	size_t nresults;
	struct wo_hook_result *results; /* in run order */
};

struct wo_hook_ctx {
	const json_t *deployment; /* the deployment row as an object, with addon_fields; borrowed */
	const char *source_dir;   /* may be NULL: "" */
	const char *commit;
	const char *run_id;
	/* In and out: {addon: {key: value}}. A later hook sees earlier outputs;
	 * dispatch adds what hooks publish. May be NULL. */
	json_t *outputs;
	const json_t *event_data; /* what the event is about (notify); NULL: nothing. Borrowed */
	/* When set, only these addons' hooks run (NULL-terminated names); a
	 * restart dispatch uses it to split addons with and without a restart hook. */
	const char *const *only_addons;
	/* When > 0, no hook attempt may take longer than this (a health check's
	 * timeout), whatever its manifest says. */
	int timeout_ms_max;
	void *arg;                /* passed to the callbacks */
	/* A line a hook logged or printed (addon is its name). May be NULL. */
	void (*log)(void *arg, const char *addon, int level, const char *line);
	/* Polled while hooks run; non-zero cancels the run. May be NULL. */
	int (*cancelled)(void *arg);
	/* A watcher reported something about a deployment (host->report). May
	 * be NULL (reports are dropped). */
	void (*report)(void *arg, const char *addon, const char *deployment, const char *kind, const char *detail);
	/* Called before and after each hook. May be NULL. */
	void (*hook_start)(void *arg, const struct wo_hook_result *r);
	void (*hook_done)(void *arg, const struct wo_hook_result *r);
};

/* Runs every enabled, loaded addon's hooks for ev: ascending priority, ties
 * by addon name (then manifest order). Each attempt runs in a forked child;
 * the calling process never runs addon code. Returns 0 with a report (see
 * report->ok) whenever the dispatch itself could run; -1 only on bad
 * arguments or when out of memory. With a database, updates each addon's
 * metrics. */
int wo_hook_dispatch(struct wo_hook_report **out, struct wo_addon_registry *reg,
                     enum wo_event ev, const struct wo_hook_ctx *ctx);
void wo_hook_report_free(struct wo_hook_report *r);
/* The report as JSON: {"event", "ok", "hooks": [...]}. */
json_t *wo_hook_report_json(const struct wo_hook_report *r);

/* Asks enabled addons whether a deployment record may be stored: checks the
 * declared fields' types and rules, then dispatches `validate` (each addon's
 * semantic rules, in child processes) with the record as the deployment.
 * Appends one line per problem to err ("docker_volumes: ..."); returns 0
 * when the record is fine, -1 when not (or on error, message in err). */
/* actor: {"actor": {"user": NAME|null, "role": "admin"|"member"|"viewer"}},
 * what the validate hooks see as their event (host->event_json): who asks;
 * NULL: the host's operator. */
int wo_addon_validate_record(struct wo_addon_registry *reg, const json_t *record, const json_t *actor,
			     struct wo_buf *err);

/* The enabled addon that runs deployment (capability "run", a post_deploy
 * hook whose conditions the record meets), NULL when none does: then a
 * deploy only fetches it ("deployed"). Borrowed from reg. */
const char *wo_addon_runtime_of(const struct wo_addon_registry *reg, const json_t *deployment);
/* Host ports (addon/ports.c): the record's port and the host ports of its
 * addon fields marked `host_ports` must not be held by another deployment,
 * by an enabled addon itself (int settings marked `host_ports`), or twice
 * by the record. Appends one line per conflict to err, naming the field,
 * the port and its holder; -1 when there is one. */
int wo_addon_host_ports_check(const struct wo_addon_registry *reg, PGconn *conn, const json_t *record,
			      struct wo_buf *err);
/* Addons' own state (addon/status.c): runs the `status` hooks of the
 * enabled addons (only: that one; NULL: all) and stores what each says in
 * addons.status. *out (may be NULL): {addon: {"state", "reason", ...}}. */
int wo_addon_status_refresh(json_t **out, struct wo_addon_registry *reg, PGconn *conn, const char *only);
/* What was stored: {addon: {"state", "reason", ..., "at"}}. */
int wo_addon_status_read(json_t **out, PGconn *conn);
/* Runs the addons' `renew` hooks (webopsd's periodic check: certificates
 * that expire soon); what each says ("summary" output, or its failure) is
 * logged. 0, or -1 when they could not be run. */
int wo_addon_renew(struct wo_addon_registry *reg);
/* What webopsd tells addons at daemon_start, daemon_stop and renew (their
 * host->event_json): {"webopsd": {"listen": "127.0.0.1:8000", "proxy_token":
 * "..."}}, the address its HTTP server is reached at from this host and the
 * token a proxy in front of it (proxy-nginx's ui_domain) proves itself with.
 * Set once by webopsd before those events (facts is borrowed: a reference is
 * taken); NULL until then. */
void wo_addon_daemon_facts_set(json_t *facts);
const json_t *wo_addon_daemon_facts(void);
/* The TLS certificates addons report in their status (an output
 * "certificates": a JSON array of {domain, issuer, not_after, expires_at,
 * last_error, checked_at}), from statuses as the two above give them: a new
 * array of those objects, each with "addon" and "days_left" added. */
json_t *wo_addon_certificates(const json_t *statuses);
/* Where a deployment is reached: [{"kind": "domain", "url"}, {"kind":
 * "port", "port"} (its port, where the proxy or its container listens),
 * {"kind": "published", "port", "proto", "mapping", "local"} (a host port
 * of an addon field marked host_ports; local: bound to loopback)]. */
json_t *wo_addon_addresses(const struct wo_addon_registry *reg, const json_t *d);
/* The host port of a mapping "[ip:]host:container[/tcp|udp]" (0 when the
 * host port is left to the engine: "127.0.0.1::80"); -1 when malformed. */
int wo_port_mapping_host(const char *s, int *port, char proto[4]);

#endif
