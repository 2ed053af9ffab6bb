/* The group-commit writer of webhook deliveries that start no run
 * (http/webhook_writer.c): one per HTTP server. */
#ifndef WO_HTTP_WEBHOOK_WRITER_H
#define WO_HTTP_WEBHOOK_WRITER_H

struct wo_req;
struct wo_webhook_delivery;
struct wo_hook_writer;

enum { WO_DELIVERY_RECORDED = 1, WO_DELIVERY_DUPLICATE = 2, WO_DELIVERY_FAILED = -1 };

/* Starts the writer's thread; it connects to conninfo when it first writes. */
int wo_hook_writer_start(struct wo_hook_writer **out, const char *conninfo);
/* Records and answers what is queued, then takes no more (submit returns 1). */
void wo_hook_writer_drain(struct wo_hook_writer *w);
/* Drains, then frees w. */
void wo_hook_writer_free(struct wo_hook_writer *w);
/* Queues rec (copied) for req and suspends req: once rec is committed (or
 * cannot be), resume(req) runs and reads the outcome with
 * wo_hook_writer_outcome. 0 then; 1 when the writer takes no more (the
 * caller records rec itself); -1 with the error set. */
int wo_hook_writer_submit(struct wo_hook_writer *w, struct wo_req *req, const struct wo_webhook_delivery *rec,
			  int (*resume)(struct wo_req *));
/* In resume: the record submitted (*rec) and WO_DELIVERY_RECORDED,
 * WO_DELIVERY_DUPLICATE (*dup_run: the run the first delivery of that id
 * started, 0 if none) or WO_DELIVERY_FAILED (*error: why, for the forge). */
int wo_hook_writer_outcome(struct wo_req *req, const struct wo_webhook_delivery **rec, long long *dup_run,
			   const char **error);

#endif
