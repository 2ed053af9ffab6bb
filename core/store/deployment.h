/* Deployments in PostgreSQL: create, read, update, delete, each validated
 * the same way whatever the entry point. Records are jansson objects:
 * {id, name, repo_url, branch, domain|null, port|null, env_vars{}, status,
 *  addon_fields{addon:{field:value}}, push_only, health{interval_s, timeout_s,
 *  retries, start_period_s, restarts_per_hour, path|null, status|null, body|null}, current_commit,
 *  current_run_id, created_at, updated_at}. A push_only deployment's source is what is pushed
 * to webops (its repo_url is its staging repository, see git/hosted.h). */
#ifndef WO_STORE_DEPLOYMENT_H
#define WO_STORE_DEPLOYMENT_H

#include <jansson.h>
#include <libpq-fe.h>

#include "util/buf.h"
#include "util/error.h" /* WO_ENOTFOUND */

/* A program that knows its addons (the CLI, the HTTP process) sets this: it
 * is called with the whole record (as it would be stored) after the store's
 * own checks, by create and update, before anything is written; it appends
 * one line per problem to err and returns -1 (or an error code, WO_EEXISTS
 * for a host port taken, util/error.h) to refuse the record. */
typedef int (*wo_deployment_validator_fn)(void *ud, const json_t *record, struct wo_buf *err);
void wo_deployment_set_validator(wo_deployment_validator_fn fn, void *ud);

/* Checks a whole record (as it would be stored); every problem is one line of
 * the error message. Returns 0 or -1. */
int wo_deployment_validate(const json_t *d);

/* Fills in the health settings' defaults (interval_s 30, timeout_s 5,
 * retries 3, start_period_s 30, restarts_per_hour 3, no HTTP probe). */
void wo_deployment_health_fill(json_t *health);

/* input: name, repo_url, branch (default main), domain, port, env_vars,
 * addon_fields, health. Nothing is written when validation fails. */
int wo_deployment_create(json_t **out, PGconn *conn, const json_t *input);
/* WO_ENOTFOUND when there is no such deployment. */
int wo_deployment_get(json_t **out, PGconn *conn, const char *name);
int wo_deployment_list(json_t **out, PGconn *conn);
/* The deployments principal p may read (store/access.h). */
struct wo_principal;
int wo_deployment_list_visible(json_t **out, PGconn *conn, const struct wo_principal *p);
/* Their names only, as a JSON object used as a set ({name: true}). */
int wo_deployment_names_visible(json_t **out, PGconn *conn, const struct wo_principal *p);
/* -1 (saying why) when an environment value of the record read could not
 * be decrypted (the secrets' key is not the one it was stored with). */
int wo_deployment_env_check(const json_t *d);
/* Makes user (NULL or "": nobody, the host's admins) the owner of deployment name. */
int wo_deployment_set_owner(PGconn *conn, const char *name, const char *user);
/* The deployments whose ids are in ids_array (PostgreSQL array text,
 * "{1,2,3}"), as an object keyed by id in decimal; missing ones are absent. */
int wo_deployment_get_ids(json_t **out, PGconn *conn, const char *ids_array);
/* patch: any of repo_url, branch, domain (null or "" clears), port (null
 * clears), env_vars (replaces the whole object), addon_fields (merged per
 * addon key), health (merged per key; null clears path, status, body). Validated as a whole, in one transaction. */
int wo_deployment_update(json_t **out, PGconn *conn, const char *name, const json_t *patch);
int wo_deployment_delete(PGconn *conn, const char *name);
/* 0 when deployment exists; WO_ENOTFOUND ("deployment 'x' not found")
 * when not; -1 on a database error. */
int wo_deployment_exists(PGconn *conn, const char *deployment);
/* What every deployment but except holds of the host's ports, by name:
 * [{name, port (null when none), addon_fields}] (addon_fields absent when
 * unreadable); for wo_addon_host_ports_check. */
int wo_deployment_ports_list(json_t **out, PGconn *conn, const char *except);
/* Whether a deployment in this status is health-checked: running, and
 * deployed (a run succeeded; no runtime addon runs it, but its health hooks
 * and probe still say something). */
int wo_deployment_status_checked(const char *status);
/* Sets status (pending, building, running, deployed, stopped, failed). */
int wo_deployment_set_status(PGconn *conn, const char *name, const char *status);

#endif
