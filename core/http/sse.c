/* Server-Sent Events: the stream every event source uses (its reader,
 * keepalives, suspension), and live run logs. The run log stream's callback
 * reads new lines from PostgreSQL; when there are none it suspends its
 * connection and the event thread resumes it on NOTIFY webops_run_log (a
 * trigger fires it for each log insert and status change) or after a
 * keepalive interval, so a line reaches the browser within milliseconds and
 * nothing polls. */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server_int.h"
#include "pipeline/runs.h"
#include "util/error.h"
#include "util/banned.h"

/* ---- the stream ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct wo_http_stream *st = cls;
	(void)pos;
	for (;;) {
		if (st->off < st->pending.len) {
			st->last_sent_ms = wo_http__now_ms();
			return (ssize_t)wo_http__drain(&st->pending, &st->off, buf, max);
		}
		if (st->done || __atomic_load_n(&st->srv->stopping, __ATOMIC_ACQUIRE))
			return MHD_CONTENT_READER_END_OF_STREAM; /* all said, or shutting down: the client reconnects */
		PGconn *conn = wo_http__thread_conn(st->srv);
		if (!conn)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		int r = st->fill(st, conn);
		if (r < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (r > 0)
			continue;
		if (wo_http__now_ms() - st->last_sent_ms >= WO_HTTP_KEEPALIVE_MS) {
			wo_buf_puts(&st->pending, ": keepalive\n\n");
			continue;
		}
		if (st->wait(st))
			continue;
		return 0;
	}
}

int wo_http__stream_start(struct wo_req *req, struct wo_http_stream *st, int retry_ms,
			  MHD_ContentReaderFreeCallback free_st, const char *cache_control)
{
	st->srv = req->srv;
	st->mhd = req->mhd;
	st->last_sent_ms = wo_http__now_ms();
	wo_buf_init(&st->pending, 0);
	wo_buf_printf(&st->pending, "retry: %d\n\n", retry_ms);
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, stream_read, st, free_st);
	if (!r) {
		free_st(st);
		return wo_error_set("cannot create the event stream");
	}
	wo_http_add_header(req, "X-Accel-Buffering", "no");
	if (cache_control)
		wo_http_add_header(req, "Cache-Control", cache_control);
	return wo_http__queue(req, 200, r, "text/event-stream");
}

/* ---- a run's log ---- */

struct sse {
	struct wo_http_stream st; /* first: the stream's callbacks get it */
	long long run_id;
	long long last_seq;
	unsigned gen;        /* the run's generation when fill last looked */
	char last_run[160];  /* status, stage and commit last sent (event "run") */
};

static void sse_free(void *cls)
{
	struct sse *s = cls;
	wo_buf_release(&s->st.pending);
	free(s);
}

static int finished(const char *status)
{
	return strcmp(status, "queued") != 0 && strcmp(status, "running") != 0;
}

/* Fills s->pending with what there is to say; 0 when nothing. */
static int fill_run(struct sse *s, PGconn *conn)
{
	json_t *lines = NULL;
	if (wo_run_logs(&lines, conn, s->run_id, s->last_seq) < 0)
		return -1;
	size_t i;
	json_t *l;
	json_array_foreach(lines, i, l) {
		long long seq = json_integer_value(json_object_get(l, "seq"));
		char *d = json_dumps(l, JSON_COMPACT);
		wo_buf_printf(&s->st.pending, "id: %lld\nevent: line\ndata: %s\n\n", seq, d);
		free(d);
		s->last_seq = seq;
	}
	size_t n = json_array_size(lines);
	json_decref(lines);
	json_t *run = NULL;
	if (wo_run_get(&run, conn, s->run_id) < 0)
		return -1;
	const char *st = json_string_value(json_object_get(run, "status"));
	/* the page's commit, stage and duration follow the run (event "run") */
	char key[160];
	snprintf(key, sizeof(key), "%s|%s|%s", st ? st : "", json_string_value(json_object_get(run, "stage")) ?: "",
		 json_string_value(json_object_get(json_object_get(run, "commit"), "sha")) ?: "");
	/* a finished run's record comes with the result */
	if (!(st && finished(st)) && strcmp(key, s->last_run) != 0) {
		snprintf(s->last_run, sizeof(s->last_run), "%s", key);
		json_t *brief = json_pack("{s:O,s:O,s:O,s:O,s:O}", "status", json_object_get(run, "status"), "stage",
					  json_object_get(run, "stage"), "commit", json_object_get(run, "commit"),
					  "duration_ms", json_object_get(run, "duration_ms"), "started_at",
					  json_object_get(run, "started_at"));
		char *d = brief ? json_dumps(brief, JSON_COMPACT) : NULL;
		if (d)
			wo_buf_printf(&s->st.pending, "event: run\ndata: %s\n\n", d);
		free(d);
		json_decref(brief);
		n++;
	}
	if (n) {
		json_decref(run);
		return 1;
	}
	if (st && finished(st)) {
		/* lines written just before the status changed are already sent:
		 * the finish is committed after the last line */
		char *d = json_dumps(run, JSON_COMPACT);
		wo_buf_printf(&s->st.pending, "id: %lld\nevent: result\ndata: %s\n\n", s->last_seq, d);
		free(d);
		s->st.done = 1;
		json_decref(run);
		return 1;
	}
	json_decref(run);
	return 0;
}

static int sse_fill(struct wo_http_stream *st, PGconn *conn)
{
	struct sse *s = (struct sse *)st;
	s->gen = wo_http__run_gen(st->srv, s->run_id);
	return fill_run(s, conn);
}

/* Nothing new: sleep until notified, unless a notification came in while
 * fill was reading. */
static int sse_wait(struct wo_http_stream *st)
{
	struct sse *s = (struct sse *)st;
	pthread_mutex_lock(&st->srv->lock);
	if (wo_http__run_gen(st->srv, s->run_id) != s->gen || st->srv->stopping) {
		pthread_mutex_unlock(&st->srv->lock);
		return 1;
	}
	MHD_suspend_connection(st->mhd);
	wo_http__wait_run(st->srv, st->mhd, s->run_id, WO_HTTP_KEEPALIVE_MS);
	pthread_mutex_unlock(&st->srv->lock);
	return 0;
}

int wo_http_sse_run_log(struct wo_req *req, long long run_id, long long after_seq)
{
	struct sse *s = calloc(1, sizeof(*s));
	if (!s)
		return wo_error_set("out of memory");
	s->run_id = run_id;
	s->last_seq = after_seq;
	s->st.fill = sse_fill;
	s->st.wait = sse_wait;
	return wo_http__stream_start(req, &s->st, 2000, sse_free, NULL);
}
