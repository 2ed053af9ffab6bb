/* host->run (ABI 1.2): a program run for a hook, in the hook's process, with
 * an argument vector (never a shell), its output streamed to the run log
 * line by line and/or kept, stopped when the run is cancelled or at its
 * timeout (SIGTERM to its process group, SIGKILL 2 s later). */
#include "addon/host.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addon/sandbox.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/spawn.h"
#include "util/banned.h"

#define RUN_TIMEOUT_MS_DEFAULT (10 * 60 * 1000)
#define RUN_CAPTURE_DEFAULT (64 * 1024)
#define RUN_LINE_MAX 4000
#define RUN_TERM_GRACE_MS 2000

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct sink {
	struct webops_hook_ctx *ctx;
	int log;
	struct wo_buf line;   /* the line being assembled for the log */
	struct wo_buf kept;   /* capture */
	size_t keep_max;
	int capture, truncated;
};

static void log_line(struct sink *s)
{
	if (!s->line.len)
		return;
	char frame[RUN_LINE_MAX + 2];
	size_t n = s->line.len < RUN_LINE_MAX ? s->line.len : RUN_LINE_MAX;
	frame[0] = WEBOPS_LOG_INFO;
	memcpy(frame + 1, s->line.ptr, n);
	wo_sandbox_send(WO_MSG_LOG, frame, n + 1);
	wo_buf_clear(&s->line);
}

static void sink_add(struct sink *s, const char *p, size_t n)
{
	if (s->capture) {
		size_t room = s->kept.len < s->keep_max ? s->keep_max - s->kept.len : 0;
		wo_buf_add(&s->kept, p, n < room ? n : room);
		s->truncated |= n > room;
	}
	if (!s->log)
		return;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' || p[i] == '\r')
			log_line(s);
		else if (s->line.len < RUN_LINE_MAX)
			wo_buf_putc(&s->line, p[i]);
	}
}

/* Reads what is there; 0 at the end. */
static int drain(int fd, struct sink *s)
{
	char buf[8192];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r > 0) {
			sink_add(s, buf, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 1;
		return 0;
	}
}

int wo_addon_host_run(struct webops_hook_ctx *ctx, const char *const argv[], const struct webops_run_opts *opts,
		      struct webops_run_result *res)
{
	struct webops_run_opts o;
	memset(&o, 0, sizeof(o));
	if (opts)
		memcpy(&o, opts, opts->size && opts->size < sizeof(o) ? opts->size : sizeof(o));
	if (res)
		memset(res, 0, sizeof(*res));
	if (res)
		res->output = "";
	if (!argv || !argv[0] || !*argv[0]) {
		wo_error_set("no program to run: argv[0] is empty");
		wo_addon_host_fail(ctx, "run");
		return -1;
	}
	int timeout = o.timeout_ms > 0 ? o.timeout_ms : RUN_TIMEOUT_MS_DEFAULT;
	int out_fd = -1, pfd[2] = { -1, -1 };
	if (o.output_file) {
		out_fd = open(o.output_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (out_fd < 0) {
			wo_error_set("cannot write '%s': %s", o.output_file, strerror(errno));
			wo_addon_host_fail(ctx, "run");
			return -1;
		}
	} else if (pipe2(pfd, O_CLOEXEC) < 0) {
		wo_error_set("cannot run '%s': %s", argv[0], strerror(errno));
		wo_addon_host_fail(ctx, "run");
		return -1;
	}
	/* its own process group, stdin from /dev/null, stdout and stderr on
	 * the output, nothing else of the hook's (the sandbox's pipes
	 * included) */
	int ofd = out_fd >= 0 ? out_fd : pfd[1];
	struct wo_spawn_opts so = WO_SPAWN_OPTS_INIT;
	so.fork = (struct wo_fork_opts){ WO_FORK_NEW_GROUP | WO_FORK_RESET_SIGNALS | WO_FORK_FDS | WO_FORK_CLOSE_FDS,
					 3, { WO_FD_NULL, ofd, ofd } };
	so.cwd = o.cwd;
	so.envp = wo_proc_env(o.env);
	pid_t pid = -1;
	int status = 0, exited = 0;
	if (!so.envp || wo_spawn(&pid, (char *const *)argv, &so) < 0) {
		/* a program that cannot be run ran as one that exits 127 with
		 * why on its output (what the ABI has always said) */
		char why[600];
		int n = snprintf(why, sizeof(why), "%s\n", so.envp ? wo_error_last() : "out of memory");
		if (write(ofd, why, (size_t)n) < 0) {
			/* then only the status says it */
		}
		status = 127 << 8;
		exited = 1;
	}
	free((void *)so.envp);
	if (out_fd >= 0)
		close(out_fd);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (pfd[0] >= 0)
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);

	struct sink s = { ctx, o.log, WO_BUF_INIT, WO_BUF_INIT, o.capture_max ? o.capture_max : RUN_CAPTURE_DEFAULT,
			  o.capture, 0 };
	long long start = now_ms(), term_at = -1;
	int timed_out = 0, cancelled = 0, killed = 0;
	while (!exited || pfd[0] >= 0) {
		if (pfd[0] >= 0) {
			struct pollfd p = { pfd[0], POLLIN, 0 };
			poll(&p, 1, exited ? 0 : 50);
			if (!drain(pfd[0], &s) || exited) {
				/* its end of the pipe closed, or it exited: a descendant
				 * still holding the pipe does not keep us waiting */
				close(pfd[0]);
				pfd[0] = -1;
			}
		} else {
			poll(NULL, 0, 20);
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = 1;
		if (exited)
			continue;
		long long t = now_ms();
		if (term_at < 0 && (t - start >= timeout || (!o.keep_on_cancel && wo_sandbox_cancelled()))) {
			timed_out = t - start >= timeout;
			cancelled = !timed_out;
			kill(-pid, SIGTERM);
			term_at = t;
		} else if (term_at >= 0 && !killed && t - term_at >= RUN_TERM_GRACE_MS) {
			kill(-pid, SIGKILL);
			killed = 1;
		}
	}
	log_line(&s);
	if (o.output_file && o.capture) {
		int fd = open(o.output_file, O_RDONLY | O_CLOEXEC);
		char buf[8192];
		ssize_t r;
		while (fd >= 0 && (r = read(fd, buf, sizeof(buf))) > 0)
			sink_add(&s, buf, (size_t)r);
		if (fd >= 0)
			close(fd);
	}
	wo_buf_release(&s.line);
	if (res) {
		res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		res->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		res->timed_out = timed_out;
		res->cancelled = cancelled;
		res->truncated = s.truncated;
		res->output_len = s.kept.len;
		res->output = s.kept.len ? wo_addon_host_keep(ctx, wo_buf_detach(&s.kept)) : "";
	}
	wo_buf_release(&s.kept);
	return 0;
}
