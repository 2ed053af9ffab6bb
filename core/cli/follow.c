/* Following a run's log: poll the run log and the run every 150 ms while
 * nothing new arrives (lines that are there are printed at once). */
#include "cli/follow.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "cli/output.h"
#include "pipeline/runs.h"
#include "util/error.h"
#include "util/banned.h"

int wo_cli_run_is_final(const char *status)
{
	return status && strcmp(status, "queued") != 0 && strcmp(status, "running") != 0;
}

void wo_cli_print_log_line(FILE *f, const json_t *l)
{
	const char *stream = json_string_value(json_object_get(l, "stream"));
	const char *text = json_string_value(json_object_get(l, "text"));
	const char *at = json_string_value(json_object_get(l, "at"));
	/* HH:MM:SS of the ISO time */
	fprintf(f, "%.8s %-8s ", at && strlen(at) >= 19 ? at + 11 : "", stream ? stream : "");
	wo_out_log_text(f, text ? text : "");
	fputc('\n', f);
}

void wo_cli_print_timings(FILE *f, const json_t *run)
{
	const json_t *t = json_object_get(run, "stage_timings");
	const char *k;
	json_t *v;
	int first = 1;
	json_object_foreach((json_t *)t, k, v) {
		fprintf(f, "%s%s %lld ms", first ? "" : ", ", k, (long long)json_integer_value(v));
		first = 0;
	}
}

int wo_cli_follow_run(json_t **final_out, PGconn *conn, long long run_id, const struct wo_cli_follow *o)
{
	long long after = 0;
	long queued_ms = 0;
	int hinted = 0;
	for (;;) {
		json_t *lines;
		if (wo_run_logs(&lines, conn, run_id, after) < 0)
			return -1;
		size_t i;
		json_t *l;
		json_array_foreach(lines, i, l) {
			if (o->out)
				wo_cli_print_log_line(o->out, l);
			after = json_integer_value(json_object_get(l, "seq"));
		}
		size_t got = json_array_size(lines);
		json_decref(lines);
		if (o->out && (fflush(o->out) != 0 || ferror(o->out)))
			return WO_FOLLOW_STOPPED;
		json_t *run;
		if (wo_run_get(&run, conn, run_id) < 0)
			return -1;
		const char *status = json_string_value(json_object_get(run, "status"));
		if (wo_cli_run_is_final(status) && got == 0) {
			*final_out = run;
			return WO_FOLLOW_ENDED;
		}
		int queued = status && !strcmp(status, "queued");
		json_decref(run);
		if (queued && o->queued_hint_ms > 0 && !hinted && queued_ms > o->queued_hint_ms) {
			fprintf(stderr, "webops: run %lld is still queued: is webopsd running? (start it with scripts/run or "
					"build/bin/webopsd)\n", run_id);
			fflush(stderr);
			hinted = 1;
		}
		if (queued && o->queue_timeout_ms > 0 && queued_ms > o->queue_timeout_ms)
			return WO_FOLLOW_TIMEOUT;
		if (o->stop && *o->stop)
			return WO_FOLLOW_STOPPED;
		if (got == 0) {
			struct timespec ts = { 0, 150 * 1000 * 1000 };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !(o->stop && *o->stop))
				;
			if (queued)
				queued_ms += 150;
		}
	}
}
