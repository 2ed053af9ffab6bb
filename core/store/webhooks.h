/* Webhooks: each deployment's secret (random, from libsodium), which forges
 * sign their deliveries with, and the record of every delivery so a user can
 * see why a push did or did not deploy. */
#ifndef WO_STORE_WEBHOOKS_H
#define WO_STORE_WEBHOOKS_H

#include <jansson.h>
#include <libpq-fe.h>

/* Accepted deliveries are kept this many days, and the newest
 * WO_WEBHOOK_KEEP of each deployment however old ... */
#define WO_WEBHOOK_KEEP_DAYS 7
#define WO_WEBHOOK_KEEP 200
/* ... and the newest this many rejected ones (unsigned, badly signed), kept apart */
#define WO_WEBHOOK_KEEP_REJECTED 50

/* The secret cannot be decrypted (a wrong or missing key); the message says so. */
#define WO_EUNREADABLE (-3)

/* The deployment's secret (64 hex characters), made when it has none or
 * when rotate is set. It is stored sealed (util/secret.h). Caller frees
 * (wo_secret_free wipes). WO_ENOTFOUND for no such deployment. */
int wo_webhook_secret(char **out, PGconn *conn, const char *name, int rotate);
/* Looks a deployment up for a delivery: its id, branch and secret (NULL when
 * none was made yet), decrypted. Caller frees branch and secret. When the
 * secret cannot be decrypted, id and branch are set, the secret is NULL and
 * the result is WO_EUNREADABLE. */
int wo_webhook_target(long long *id_out, char **branch_out, char **secret_out, PGconn *conn, const char *name);
/* The commit deployment id runs now (to be freed); NULL when none. */
char *wo_webhook_current_commit(PGconn *conn, long long id);

struct wo_webhook_delivery {
	long long deployment_id;
	const char *provider, *event, *delivery_id, *ref, *commit;
	const char *verdict;   /* queued, ignored, duplicate, ping, rejected */
	const char *reason;
	long long run_id;      /* 0: none */
};

/* Records d. With a delivery id and an accepting verdict, a delivery seen
 * before is not recorded again: *dup_run_out then gets the run the first one
 * started (0 if none) and the return value is 1. */
int wo_webhook_record(long long *dup_run_out, PGconn *conn, const struct wo_webhook_delivery *d);
/* Records n deliveries that start no run (verdict ignored or ping) in one
 * statement (committed when conn is not in a transaction): dup_run[i] is -1
 * for one recorded, else the run the first delivery of that id started (0
 * if none; the redelivery is then recorded as a duplicate, as
 * wo_webhook_record does). -1 with the error set when the statement fails
 * (none of the n is written then). */
int wo_webhook_record_many(PGconn *conn, const struct wo_webhook_delivery *d, size_t n, long long *dup_run);
/* Drops old deliveries of a deployment: rejected ones past the newest
 * WO_WEBHOOK_KEEP_REJECTED when rejected is set, else accepted ones past
 * both WO_WEBHOOK_KEEP and WO_WEBHOOK_KEEP_DAYS. */
int wo_webhook_prune(PGconn *conn, long long deployment_id, int rejected);
/* 1 when this process has not pruned the deployment's accepted deliveries
 * for a minute (and notes that it does now). */
int wo_webhook_prune_due(long long deployment_id);
/* Sets the run a recorded delivery started. */
int wo_webhook_set_run(PGconn *conn, long long deployment_id, const char *provider, const char *delivery_id,
		       long long run_id);
/* Newest first: [{id, received_at, provider, event, delivery_id, ref, commit, verdict, reason, run_id}]. */
int wo_webhook_deliveries(json_t **out, PGconn *conn, const char *name, int limit);

#endif
