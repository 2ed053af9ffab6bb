/* Running addon code in a child process: fork with its own process group,
 * framed messages over a pipe, captured stdout/stderr, a timeout enforced
 * with SIGKILL of the group, and cancellation through a closed pipe. */
#ifndef WO_ADDON_SANDBOX_H
#define WO_ADDON_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

/* Message types from child to parent. Frame: 1 byte type, 4 bytes length, payload. */
enum {
	WO_MSG_LOG = 1,    /* 1 byte level, then text */
	WO_MSG_ERROR = 2,  /* text */
	WO_MSG_OUTPUT = 3, /* key, NUL, value */
	WO_MSG_RESULT = 4, /* 4-byte int status */
	WO_MSG_INFO = 5,   /* JSON text (probe results) */
	WO_MSG_REPORT = 6, /* a watcher's report: deployment, NUL, kind, NUL, detail */
};

#define WO_MSG_MAX (1024 * 1024)

/* In the child: fds are fixed numbers. */
#define WO_SANDBOX_MSG_FD 3
#define WO_SANDBOX_CANCEL_FD 4

/* Runs in the child; the return value becomes the exit status. */
typedef int (*wo_sandbox_fn)(void *arg);

struct wo_sandbox_opts {
	int timeout_ms;           /* > 0; then SIGTERM to the group (and the cancel
	                             signalled), SIGKILL a grace later (a quarter of
	                             the timeout, 200 ms to cancel_grace_ms) */
	int cancel_grace_ms;      /* after a cancel, time before SIGKILL (default 5000) */
	const char *chdir;        /* child's working directory, NULL/"" to keep */
	void *arg;                /* passed to the callbacks below */
	int (*cancelled)(void *arg);                                         /* polled by the parent; may be NULL */
	void (*on_msg)(void *arg, int type, const char *payload, size_t len); /* a framed message */
	void (*on_output_line)(void *arg, const char *line);                /* a line the child printed */
};

struct wo_sandbox_result {
	int exited;       /* exited normally with exit_code */
	int exit_code;
	int signal;       /* killed by this signal (0 if none) */
	int timed_out;    /* stopped because timeout_ms passed */
	int cancelled;    /* the cancel was signalled (and maybe killed after the grace) */
	int protocol_error;
	int64_t duration_ms;
};

/* Forks; the child runs fn(fn_arg) with stdin on /dev/null, stdout and stderr
 * captured, WO_SANDBOX_MSG_FD open for wo_sandbox_send and every other fd closed.
 * Returns -1 (error set) only when the child could not be started. */
int wo_sandbox_run(struct wo_sandbox_result *out, const struct wo_sandbox_opts *opts,
                   wo_sandbox_fn fn, void *fn_arg);

/* In the child: sends one message; -1 when the parent is gone. */
int wo_sandbox_send(int type, const void *payload, size_t len);
/* In the child: non-zero once the parent signalled a cancel. */
int wo_sandbox_cancelled(void);


#endif
