/* Webhook secrets and deliveries in PostgreSQL. */
#include "store/webhooks.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include "db/db.h"
#include "store/deployment.h"
#include "store/secrets.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/banned.h"

#define WO_STR_(x) #x
#define WO_STR(x) WO_STR_(x)
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The secret as it reads: sealed values are opened, plaintext from before
 * encryption is returned as it is. */
static int open_secret(char **out, const char *stored, const char *name)
{
	char what[128];
	snprintf(what, sizeof(what), "the webhook secret of '%s'", name);
	return wo_secret_open(out, stored, what);
}

int wo_webhook_secret(char **out, PGconn *conn, const char *name, int rotate)
{
	if (!rotate) {
		/* the one there is: read, nothing written */
		const char *p1[] = { name };
		PGresult *res;
		if (wo_db_exec(&res, conn, "SELECT webhook_secret FROM deployments WHERE name = $1", 1, p1) < 0)
			return -1;
		if (PQntuples(res) != 1) {
			PQclear(res);
			return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name);
		}
		int rc = PQgetisnull(res, 0, 0) ? 1 : open_secret(out, PQgetvalue(res, 0, 0), name);
		PQclear(res);
		if (rc <= 0)
			return rc;
	}
	unsigned char raw[32];
	char hex[65];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	/* only the sealed form is sent to the database */
	char *sealed = NULL;
	int rc = wo_secrets_ready(conn);
	if (rc == 0)
		rc = wo_secret_seal(&sealed, hex, strlen(hex));
	sodium_memzero(hex, sizeof(hex));
	if (rc < 0)
		return wo_error_prefix("cannot store the webhook secret of '%s'", name);
	const char *params[] = { name, sealed, rotate ? "t" : "f" };
	PGresult *res;
	/* keeps an existing secret unless rotating; the new one otherwise */
	rc = wo_db_exec(&res, conn,
			"UPDATE deployments SET webhook_secret = CASE WHEN $3::boolean OR webhook_secret IS NULL"
			" THEN $2 ELSE webhook_secret END WHERE name = $1 RETURNING webhook_secret",
			3, params);
	free(sealed);
	if (rc < 0)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name);
	}
	rc = open_secret(out, PQgetvalue(res, 0, 0), name);
	PQclear(res);
	return rc;
}

int wo_webhook_target(long long *id_out, char **branch_out, char **secret_out, PGconn *conn, const char *name)
{
	const char *params[] = { name };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT id, branch, webhook_secret FROM deployments WHERE name = $1", 1, params) < 0)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return wo_error_setc(WO_ENOTFOUND, "deployment '%s' not found", name);
	}
	char *secret = NULL;
	int rc = 0;
	if (!PQgetisnull(res, 0, 2) && open_secret(&secret, PQgetvalue(res, 0, 2), name) < 0)
		rc = WO_EUNREADABLE;
	*id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*branch_out = strdup(PQgetvalue(res, 0, 1));
	*secret_out = secret;
	PQclear(res);
	return rc;
}

char *wo_webhook_current_commit(PGconn *conn, long long id)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *params[] = { ids };
	PGresult *res;
	if (wo_db_exec(&res, conn, "SELECT current_commit FROM deployments WHERE id = $1::bigint", 1, params) < 0) {
		wo_error_clear();
		return NULL;
	}
	char *c = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? strdup(PQgetvalue(res, 0, 0)) : NULL;
	PQclear(res);
	return c;
}

/* d's id was seen before: records the redelivery (worth seeing too) and
 * returns the run the first one started (0 if none). */
static long long record_duplicate(PGconn *conn, const struct wo_webhook_delivery *d)
{
	char dep[32];
	snprintf(dep, sizeof(dep), "%lld", d->deployment_id);
	const char *p2[] = { dep, d->provider, d->delivery_id };
	long long run = 0;
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT coalesce(run_id, 0) FROM webhook_deliveries WHERE deployment_id = $1::bigint"
		       " AND provider = $2 AND delivery_id = $3 AND verdict IN ('queued', 'ignored', 'ping')",
		       3, p2) == 0) {
		if (PQntuples(res) == 1)
			run = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	const char *p3[] = { dep, d->provider, d->event, d->delivery_id, d->ref, d->commit };
	wo_db_exec(NULL, conn,
		   "INSERT INTO webhook_deliveries (deployment_id, provider, event, delivery_id, ref, commit_sha,"
		   " verdict, reason) VALUES ($1::bigint, $2, $3, $4, $5, $6, 'duplicate',"
		   " 'a redelivery of a delivery already handled: nothing started')",
		   6, p3);
	return run;
}

int wo_webhook_record(long long *dup_run_out, PGconn *conn, const struct wo_webhook_delivery *d)
{
	char dep[32], run[32];
	snprintf(dep, sizeof(dep), "%lld", d->deployment_id);
	snprintf(run, sizeof(run), "%lld", d->run_id);
	const char *params[] = { dep, d->provider, d->event, d->delivery_id && *d->delivery_id ? d->delivery_id : NULL,
				 d->ref, d->commit, d->verdict, d->reason, d->run_id ? run : NULL };
	PGresult *res;
	/* the partial unique index turns a redelivery into no row */
	if (wo_db_exec(&res, conn,
		       "INSERT INTO webhook_deliveries (deployment_id, provider, event, delivery_id, ref, commit_sha,"
		       " verdict, reason, run_id) VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8, $9::bigint)"
		       " ON CONFLICT (deployment_id, provider, delivery_id)"
		       "   WHERE delivery_id IS NOT NULL AND verdict IN ('queued', 'ignored', 'ping') DO NOTHING"
		       " RETURNING id",
		       9, params) < 0)
		return -1;
	int inserted = PQntuples(res) == 1;
	PQclear(res);
	if (!inserted) {
		*dup_run_out = record_duplicate(conn, d);
		return 1;
	}
	if (!strcmp(d->verdict, "rejected"))
		wo_webhook_prune(conn, d->deployment_id, 1);
	else if (wo_webhook_prune_due(d->deployment_id))
		wo_webhook_prune(conn, d->deployment_id, 0);
	return 0;
}

/* Appends s to a PostgreSQL array literal: quoted, or NULL. */
static void array_add(struct wo_buf *b, const char *s)
{
	wo_buf_putc(b, b->len > 1 ? ',' : '{');
	if (!s) {
		wo_buf_puts(b, "NULL");
		return;
	}
	wo_buf_putc(b, '"');
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			wo_buf_putc(b, '\\');
		wo_buf_putc(b, *p);
	}
	wo_buf_putc(b, '"');
}

#define MANY_COLS 8

int wo_webhook_record_many(PGconn *conn, const struct wo_webhook_delivery *d, size_t n, long long *dup_run)
{
	if (!n)
		return 0;
	struct wo_buf col[MANY_COLS];
	for (int c = 0; c < MANY_COLS; c++)
		wo_buf_init(&col[c], 0);
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		char dep[24];
		snprintf(dep, sizeof(dep), "%lld", d[i].deployment_id);
		const char *v[MANY_COLS] = { dep, d[i].provider, d[i].event,
					     d[i].delivery_id && *d[i].delivery_id ? d[i].delivery_id : NULL,
					     d[i].ref, d[i].commit, d[i].verdict, d[i].reason };
		for (int c = 0; c < MANY_COLS; c++)
			array_add(&col[c], v[c]);
	}
	const char *params[MANY_COLS];
	for (int c = 0; c < MANY_COLS; c++) {
		if (wo_buf_putc(&col[c], '}') < 0) {
			wo_error_set("out of memory");
			goto out;
		}
		params[c] = col[c].ptr;
	}
	/* one statement of the same text for any n: parsed and planned once per
	 * connection. A redelivery (of an earlier one, or twice in this batch)
	 * is no row; what was inserted comes back in the order given. */
	PGresult *res;
	if (wo_db_exec_prepared(&res, conn, "webhook_record_many",
				"INSERT INTO webhook_deliveries (deployment_id, provider, event, delivery_id, ref,"
				" commit_sha, verdict, reason) SELECT dep, provider, event, delivery_id, ref, commit_sha,"
				" verdict, reason FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],"
				"  $6::text[], $7::text[], $8::text[])"
				"  WITH ORDINALITY AS u(dep, provider, event, delivery_id, ref, commit_sha, verdict, reason, n)"
				" ORDER BY n"
				" ON CONFLICT (deployment_id, provider, delivery_id)"
				"   WHERE delivery_id IS NOT NULL AND verdict IN ('queued', 'ignored', 'ping') DO NOTHING"
				" RETURNING deployment_id, provider, delivery_id",
				MANY_COLS, params) < 0)
		goto out;
	int rows = PQntuples(res);
	char *claimed = calloc((size_t)rows + 1, 1);
	for (size_t i = 0; i < n; i++) {
		const char *id = d[i].delivery_id && *d[i].delivery_id ? d[i].delivery_id : NULL;
		dup_run[i] = -1;
		if (!id)
			continue; /* no id: always a row of its own */
		char dep[24];
		snprintf(dep, sizeof(dep), "%lld", d[i].deployment_id);
		int found = 0;
		for (int r = 0; r < rows && !found; r++) {
			if (claimed && claimed[r])
				continue;
			if (!strcmp(PQgetvalue(res, r, 2), id) && !strcmp(PQgetvalue(res, r, 1), d[i].provider) &&
			    !strcmp(PQgetvalue(res, r, 0), dep)) {
				if (claimed)
					claimed[r] = 1;
				found = 1;
			}
		}
		if (!found)
			dup_run[i] = -2; /* filled in below, once res is freed */
	}
	free(claimed);
	PQclear(res);
	for (size_t i = 0; i < n; i++)
		if (dup_run[i] == -2)
			dup_run[i] = record_duplicate(conn, &d[i]);
	for (size_t i = 0; i < n; i++) {
		int first = 1;
		for (size_t j = 0; j < i && first; j++)
			first = d[j].deployment_id != d[i].deployment_id;
		if (first && wo_webhook_prune_due(d[i].deployment_id))
			wo_webhook_prune(conn, d[i].deployment_id, 0);
	}
	rc = 0;
out:
	for (int c = 0; c < MANY_COLS; c++)
		wo_buf_release(&col[c]);
	return rc;
}

/* When each deployment's accepted deliveries were last pruned (this
 * process): at most once a minute, so pruning is no cost per delivery. */
#define PRUNE_SLOTS 256
static struct {
	long long id;
	time_t at;
} pruned[PRUNE_SLOTS];
static pthread_mutex_t pruned_lock = PTHREAD_MUTEX_INITIALIZER;

int wo_webhook_prune_due(long long deployment_id)
{
	time_t now = time(NULL);
	int due = 0;
	pthread_mutex_lock(&pruned_lock);
	unsigned slot = (unsigned)((unsigned long long)deployment_id % PRUNE_SLOTS);
	if (pruned[slot].id != deployment_id || now - pruned[slot].at >= 60) {
		pruned[slot].id = deployment_id;
		pruned[slot].at = now;
		due = 1;
	}
	pthread_mutex_unlock(&pruned_lock);
	return due;
}

int wo_webhook_prune(PGconn *conn, long long deployment_id, int rejected)
{
	char dep[32], keep[16];
	snprintf(dep, sizeof(dep), "%lld", deployment_id);
	snprintf(keep, sizeof(keep), "%d", rejected ? WO_WEBHOOK_KEEP_REJECTED : WO_WEBHOOK_KEEP);
	const char *params[] = { dep, keep };
	/* rejected ones (anyone can send those) apart from the rest, so a flood
	 * of them never pushes a genuine delivery out of the history, whose ids
	 * also keep a redelivery from running again: accepted ones are kept for
	 * WO_WEBHOOK_KEEP_DAYS (a forge redelivers for days), and the newest
	 * WO_WEBHOOK_KEEP however old */
	if (rejected)
		return wo_db_exec(NULL, conn,
				  "DELETE FROM webhook_deliveries WHERE deployment_id = $1::bigint AND verdict = 'rejected'"
				  " AND id <= (SELECT id FROM webhook_deliveries WHERE deployment_id = $1::bigint"
				  "  AND verdict = 'rejected' ORDER BY id DESC OFFSET $2::int LIMIT 1)",
				  2, params);
	return wo_db_exec(NULL, conn,
			  "DELETE FROM webhook_deliveries WHERE deployment_id = $1::bigint AND verdict <> 'rejected'"
			  " AND received_at < now() - interval '" WO_STR(WO_WEBHOOK_KEEP_DAYS) " days'"
			  " AND id <= (SELECT id FROM webhook_deliveries WHERE deployment_id = $1::bigint"
			  "  AND verdict <> 'rejected' ORDER BY id DESC OFFSET $2::int LIMIT 1)",
			  2, params);
}

int wo_webhook_set_run(PGconn *conn, long long deployment_id, const char *provider, const char *delivery_id,
		       long long run_id)
{
	char dep[32], run[32];
	snprintf(dep, sizeof(dep), "%lld", deployment_id);
	snprintf(run, sizeof(run), "%lld", run_id);
	const char *params[] = { dep, provider, delivery_id, run };
	return wo_db_exec(NULL, conn,
			  "UPDATE webhook_deliveries SET run_id = $4::bigint WHERE id = (SELECT max(id) FROM"
			  " webhook_deliveries WHERE deployment_id = $1::bigint AND provider = $2"
			  " AND delivery_id IS NOT DISTINCT FROM $3)",
			  4, params);
}

int wo_webhook_deliveries(json_t **out, PGconn *conn, const char *name, int limit)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 50);
	const char *params[] = { name, lim };
	PGresult *res;
	if (wo_db_exec(&res, conn,
		       "SELECT coalesce(json_agg(json_build_object('id', w.id, 'received_at', " TS("w.received_at") ","
		       " 'provider', w.provider, 'event', w.event, 'delivery_id', w.delivery_id, 'ref', w.ref,"
		       " 'commit', w.commit_sha, 'verdict', w.verdict, 'reason', w.reason, 'run_id', w.run_id)"
		       " ORDER BY w.id DESC), '[]')::text FROM (SELECT w.* FROM webhook_deliveries w"
		       " JOIN deployments d ON d.id = w.deployment_id WHERE d.name = $1 ORDER BY w.id DESC"
		       " LIMIT $2::int) w",
		       2, params) < 0)
		return -1;
	*out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	return *out ? 0 : wo_error_set("cannot read webhook deliveries");
}
