/* Following a run's log from the command line until the run ends: what
 * `webops deploy --follow`, `webops logs --follow` and the push hook
 * (`webops git-hook`, whose output the pusher sees as `remote:` lines) show. */
#ifndef WO_CLI_FOLLOW_H
#define WO_CLI_FOLLOW_H

#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>

struct wo_cli_follow {
	FILE *out;                         /* where log lines go (NULL: none are printed) */
	long queued_hint_ms;               /* still queued after this long: say webopsd may be down (0: never) */
	long queue_timeout_ms;             /* still queued after this long: give up (0: wait for ever) */
	volatile sig_atomic_t *stop;       /* set (by a signal handler) to stop following; may be NULL */
};

enum {
	WO_FOLLOW_ENDED = 0,     /* the run is over: *final_out is its record */
	WO_FOLLOW_STOPPED = 1,   /* *stop was set, or out could not be written (the reader went away) */
	WO_FOLLOW_TIMEOUT = 2,   /* still queued after queue_timeout_ms */
};

/* Prints run_id's log lines to o->out as they are written, until the run
 * ends. Returns a WO_FOLLOW_* code, or -1 with the
 * error set (the database went away). */
int wo_cli_follow_run(json_t **final_out, PGconn *conn, long long run_id, const struct wo_cli_follow *o);

/* One log line as the CLI shows it: "HH:MM:SS stream   text" (control
 * characters escaped). */
void wo_cli_print_log_line(FILE *f, const json_t *line);
/* "fetch 120 ms, pre_deploy 3400 ms" from a run's stage_timings. */
void wo_cli_print_timings(FILE *f, const json_t *run);
/* 1 when a run status is final (not queued, not running). */
int wo_cli_run_is_final(const char *status);

#endif
