/* The writer of webhook deliveries that start no run (a push of another
 * branch, a tag, a ping): one thread with a database connection of its own
 * records whatever deliveries are waiting in one statement and one commit,
 * then answers each. A delivery is answered only once its row is committed,
 * so none is lost, yet a burst costs one commit per batch instead of one per
 * delivery (group commit: what arrives while a batch commits is the next
 * batch, so nothing waits for a timer). Deliveries that queue a run do not
 * come here: their record and their run are one transaction (webhook.c). */
#include "http/webhook_writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "http/http.h"
#include "store/webhooks.h"
#include "util/error.h"
#include "util/log.h"
#include "util/banned.h"

#define BATCH_MAX 256

struct wo_hook_item {
	struct wo_hook_item *next;
	struct wo_req *req;
	struct wo_webhook_delivery rec;
	char *own[7];          /* rec's strings, copied */
	int outcome;           /* WO_DELIVERY_RECORDED, WO_DELIVERY_DUPLICATE, WO_DELIVERY_FAILED */
	long long dup_run;
	char error[256];
};

struct wo_hook_writer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wo_hook_item *head, **tail;
	int stopping;
	pthread_t thread;
	char *conninfo;
	PGconn *conn;
};

static void item_free(void *p)
{
	struct wo_hook_item *it = p;
	if (!it)
		return;
	for (size_t i = 0; i < sizeof(it->own) / sizeof(it->own[0]); i++)
		free(it->own[i]);
	free(it);
}

static void fail_item(struct wo_hook_item *it, const char *why)
{
	it->outcome = WO_DELIVERY_FAILED;
	snprintf(it->error, sizeof(it->error), "%s", why);
}

/* Records a batch; every item gets its outcome. */
static void record_batch(struct wo_hook_writer *w, struct wo_hook_item **items, size_t n)
{
	if (w->conn && PQstatus(w->conn) != CONNECTION_OK) {
		PQfinish(w->conn);
		w->conn = NULL;
	}
	if (!w->conn && wo_db_connect(&w->conn, w->conninfo) < 0) {
		wo_log(WO_LOG_ERROR, "webhook", "cannot record deliveries: %s", wo_error_last());
		for (size_t i = 0; i < n; i++)
			fail_item(items[i], "the database is not reachable; the forge will retry");
		return;
	}
	struct wo_webhook_delivery recs[BATCH_MAX];
	long long dup[BATCH_MAX];
	for (size_t i = 0; i < n; i++)
		recs[i] = items[i]->rec;
	/* one statement, committed on its own: one round trip per batch */
	if (wo_webhook_record_many(w->conn, recs, n, dup) == 0) {
		for (size_t i = 0; i < n; i++) {
			items[i]->outcome = dup[i] < 0 ? WO_DELIVERY_RECORDED : WO_DELIVERY_DUPLICATE;
			items[i]->dup_run = dup[i] < 0 ? 0 : dup[i];
		}
		return;
	}
	/* one bad row (a deployment deleted a moment ago) fails the whole
	 * statement: each then goes alone, so only that one fails */
	wo_log(WO_LOG_WARN, "webhook", "recording %zu deliveries at once failed (%s); recording them one by one", n,
	       wo_error_last());
	for (size_t i = 0; i < n; i++) {
		long long d = 0;
		int r = wo_webhook_record(&d, w->conn, &items[i]->rec);
		if (r < 0) {
			wo_log(WO_LOG_ERROR, "webhook", "cannot record a delivery: %s", wo_error_last());
			fail_item(items[i], "the delivery cannot be recorded now; the forge will retry");
		} else {
			items[i]->outcome = r == 1 ? WO_DELIVERY_DUPLICATE : WO_DELIVERY_RECORDED;
			items[i]->dup_run = d;
		}
	}
}

static void *writer_main(void *arg)
{
	struct wo_hook_writer *w = arg;
	struct wo_hook_item *items[BATCH_MAX];
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		size_t n = 0;
		while (w->head && n < BATCH_MAX) {
			items[n++] = w->head;
			w->head = w->head->next;
		}
		if (!w->head)
			w->tail = &w->head;
		int stop = w->stopping && !n;
		pthread_mutex_unlock(&w->lock);
		if (stop)
			break;
		record_batch(w, items, n);
		/* the item belongs to its request: not touched once resumed */
		for (size_t i = 0; i < n; i++)
			wo_http_resume(items[i]->req);
	}
	return NULL;
}

void wo_hook_writer_drain(struct wo_hook_writer *w)
{
	if (!w)
		return;
	/* what is queued is still recorded and answered */
	pthread_mutex_lock(&w->lock);
	int was = w->stopping;
	w->stopping = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (!was)
		pthread_join(w->thread, NULL);
}

void wo_hook_writer_free(struct wo_hook_writer *w)
{
	if (!w)
		return;
	wo_hook_writer_drain(w);
	if (w->conn)
		PQfinish(w->conn);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->conninfo);
	free(w);
}

int wo_hook_writer_start(struct wo_hook_writer **out, const char *conninfo)
{
	struct wo_hook_writer *w = calloc(1, sizeof(*w));
	if (!w || !(w->conninfo = strdup(conninfo ? conninfo : ""))) {
		free(w);
		return wo_error_set("out of memory");
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->tail = &w->head;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		free(w->conninfo);
		free(w);
		return wo_error_set("cannot start the webhook writer thread");
	}
	*out = w;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int wo_hook_writer_submit(struct wo_hook_writer *w, struct wo_req *req, const struct wo_webhook_delivery *rec,
			  int (*resume)(struct wo_req *))
{
	struct wo_hook_item *it = calloc(1, sizeof(*it));
	if (!it)
		return wo_error_set("out of memory");
	it->req = req;
	it->rec = *rec;
	const char *src[7] = { rec->provider, rec->event, rec->delivery_id, rec->ref, rec->commit, rec->verdict,
			       rec->reason };
	const char **dst[7] = { &it->rec.provider, &it->rec.event, &it->rec.delivery_id, &it->rec.ref,
				&it->rec.commit, &it->rec.verdict, &it->rec.reason };
	for (int i = 0; i < 7; i++) {
		it->own[i] = dup_or_null(src[i]);
		if (src[i] && !it->own[i]) {
			item_free(it);
			return wo_error_set("out of memory");
		}
		*dst[i] = it->own[i];
	}
	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		/* webopsd is stopping: the caller records it itself */
		pthread_mutex_unlock(&w->lock);
		item_free(it);
		return 1;
	}
	req->state = it;
	req->state_free = item_free;
	/* suspended before the writer can see it, so its resume cannot come first */
	wo_http_suspend(req, resume);
	it->next = NULL;
	*w->tail = it;
	w->tail = &it->next;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int wo_hook_writer_outcome(struct wo_req *req, const struct wo_webhook_delivery **rec, long long *dup_run,
			   const char **error)
{
	struct wo_hook_item *it = req->state;
	if (!it) {
		*error = "the delivery was not recorded";
		return WO_DELIVERY_FAILED;
	}
	*rec = &it->rec;
	*dup_run = it->dup_run;
	*error = it->error;
	return it->outcome;
}
