/* Child processes for addon code: the parent never runs addon code, so a
 * crash or hang in an addon costs one child and is reported by name. */
#include "addon/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/proc.h"
#include "util/secret.h"
#include "util/spawn.h"
#include "util/banned.h"

#define LINE_MAX_BYTES 8192
#define TICK_MS 50

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- child side ---- */

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len) {
		ssize_t n = write(fd, c, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

int wo_sandbox_send(int type, const void *payload, size_t len)
{
	if (len > WO_MSG_MAX)
		len = WO_MSG_MAX;
	unsigned char hdr[5];
	uint32_t l = (uint32_t)len;
	hdr[0] = (unsigned char)type;
	memcpy(hdr + 1, &l, 4);
	/* one write when small, so concurrent senders (threads in an addon) do not interleave */
	if (len <= 4096 - sizeof(hdr)) {
		unsigned char frame[4096];
		memcpy(frame, hdr, sizeof(hdr));
		if (len)
			memcpy(frame + sizeof(hdr), payload, len);
		return write_all(WO_SANDBOX_MSG_FD, frame, sizeof(hdr) + len);
	}
	if (write_all(WO_SANDBOX_MSG_FD, hdr, sizeof(hdr)) < 0)
		return -1;
	return write_all(WO_SANDBOX_MSG_FD, payload, len);
}

int wo_sandbox_cancelled(void)
{
	struct pollfd p = {WO_SANDBOX_CANCEL_FD, POLLIN, 0};
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

extern char **environ;

/* What leads to the database or the secrets' key: a hook reaches data only
 * through the host table. */
static int private_env(const char *entry)
{
	static const char *const names[] = { "WEBOPS_DATABASE_URL=", "WEBOPS_DATABASE_URL_FILE=",
					     "WEBOPS_SECRET_KEY_FILE=", "WEBOPS_TEST_DATABASE_URL=" };
	if (!strncmp(entry, "PG", 2)) /* PGPASSWORD, PGPASSFILE, PGSERVICEFILE, PGHOST... */
		return 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strncmp(entry, names[i], strlen(names[i])))
			return 1;
	return 0;
}

/* Drops them from environ in place: no lock and no allocation, which a
 * child forked from a process with threads must not take. */
static void drop_private_env(void)
{
	if (!environ)
		return;
	char **w = environ;
	for (char **r = environ; *r; r++)
		if (!private_env(*r))
			*w++ = *r;
	*w = NULL;
}

/* What the child does once wo_fork set it up: our descriptors are on 3 and
 * 4, close-on-exec (an addon that execs a tool must not hand it our pipes);
 * nothing leads to the database or the secrets' key. */
static void child_setup(const char *dir)
{
	fcntl(WO_SANDBOX_MSG_FD, F_SETFD, FD_CLOEXEC);
	fcntl(WO_SANDBOX_CANCEL_FD, F_SETFD, FD_CLOEXEC);
	drop_private_env();
	wo_secret_forget();
	if (dir && *dir && chdir(dir) != 0) {
		/* not fatal: the hook reads source_dir() itself */
	}
}

/* ---- parent side ---- */

struct reader {
	int fd;
	int eof;
	struct wo_buf buf;
};

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Reads one chunk; 1 when something was read, 0 when nothing is available
 * now (or at EOF), -1 when the buffer would overflow. */
static int reader_once(struct reader *r)
{
	char chunk[16384];
	for (;;) {
		ssize_t n = read(r->fd, chunk, sizeof(chunk));
		if (n > 0)
			return wo_buf_add(&r->buf, chunk, (size_t)n) < 0 ? -1 : 1;
		if (n == 0)
			r->eof = 1;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			r->eof = 1;
		return 0;
	}
}

static void consume(struct reader *r, size_t n)
{
	memmove(r->buf.ptr, r->buf.ptr + n, r->buf.len - n);
	wo_buf_truncate(&r->buf, r->buf.len - n);
}

static int drain_frames(struct reader *r, const struct wo_sandbox_opts *o)
{
	while (r->buf.len >= 5) {
		uint32_t len;
		memcpy(&len, r->buf.ptr + 1, 4);
		if (len > WO_MSG_MAX)
			return -1;
		if (r->buf.len < 5 + (size_t)len)
			break;
		int type = (unsigned char)r->buf.ptr[0];
		/* NUL-terminate the payload for convenience (the byte after it is ours to use) */
		char save = r->buf.ptr[5 + len];
		r->buf.ptr[5 + len] = '\0';
		if (o->on_msg)
			o->on_msg(o->arg, type, r->buf.ptr + 5, len);
		r->buf.ptr[5 + len] = save;
		consume(r, 5 + (size_t)len);
	}
	return 0;
}

static void drain_lines(struct reader *r, const struct wo_sandbox_opts *o, int flush)
{
	for (;;) {
		char *nl = r->buf.len ? memchr(r->buf.ptr, '\n', r->buf.len) : NULL;
		size_t n;
		if (nl)
			n = (size_t)(nl - r->buf.ptr);
		else if (r->buf.len >= LINE_MAX_BYTES || (flush && r->buf.len))
			n = r->buf.len < LINE_MAX_BYTES ? r->buf.len : LINE_MAX_BYTES;
		else
			break;
		char *line = strndup(r->buf.ptr, n);
		if (line) {
			if (n && line[n - 1] == '\r')
				line[n - 1] = '\0';
			if (o->on_output_line)
				o->on_output_line(o->arg, line);
			free(line);
		}
		consume(r, nl ? n + 1 : n);
	}
}

/* Reads and hands on everything available: frames from the message pipe. */
static int pump_msgs(struct reader *r, const struct wo_sandbox_opts *o)
{
	int n, rounds = 0;
	/* bounded, so a flood cannot keep us from the deadline */
	while (!r->eof && rounds++ < 64 && (n = reader_once(r)) != 0) {
		if (n < 0 || drain_frames(r, o) < 0)
			return -1;
	}
	return 0;
}

/* Lines from stdout/stderr; an overlong line is cut into pieces. */
static void pump_lines(struct reader *r, const struct wo_sandbox_opts *o)
{
	int n, rounds = 0;
	while (!r->eof && rounds++ < 64 && (n = reader_once(r)) != 0) {
		drain_lines(r, o, n < 0);
		if (n < 0)
			wo_buf_clear(&r->buf);
	}
	drain_lines(r, o, 0);
}

int wo_sandbox_run(struct wo_sandbox_result *out, const struct wo_sandbox_opts *o,
                   wo_sandbox_fn fn, void *fn_arg)
{
	int msgp[2] = {-1, -1}, iop[2] = {-1, -1}, cancelp[2] = {-1, -1};
	if (pipe2(msgp, O_CLOEXEC) < 0 || pipe2(iop, O_CLOEXEC) < 0 || pipe2(cancelp, O_CLOEXEC) < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (msgp[i] >= 0) close(msgp[i]);
			if (iop[i] >= 0) close(iop[i]);
			if (cancelp[i] >= 0) close(cancelp[i]);
		}
		return wo_error_set("cannot create pipes for an addon process: %s", strerror(e));
	}
	/* a SIGCHLD set to SIG_IGN would reap our child behind our back */
	struct sigaction old_chld, dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &dfl, &old_chld);

	int64_t start = now_ms();
	/* a hook never outlives the process that dispatched it (a run process
	 * killed with its daemon takes its hook down too); stdin /dev/null,
	 * stdout and stderr its output, WO_SANDBOX_MSG_FD and _CANCEL_FD ours */
	struct wo_fork_opts fo = {
		WO_FORK_DEATHSIG_KILL | WO_FORK_NEW_GROUP | WO_FORK_RESET_SIGNALS | WO_FORK_FDS | WO_FORK_CLOSE_FDS,
		WO_SANDBOX_CANCEL_FD + 1, { WO_FD_NULL, iop[1], iop[1], msgp[1], cancelp[0] }
	};
	_Static_assert(WO_SANDBOX_MSG_FD == 3 && WO_SANDBOX_CANCEL_FD == 4, "the descriptors placed above");
	pid_t pid = wo_fork("an addon process", &fo);
	if (pid < 0) {
		close(msgp[0]); close(msgp[1]); close(iop[0]); close(iop[1]); close(cancelp[0]); close(cancelp[1]);
		sigaction(SIGCHLD, &old_chld, NULL);
		return -1;
	}
	if (pid == 0) {
		child_setup(o->chdir);
		int rc = fn(fn_arg);
		_exit(rc & 0xff);
	}
	close(msgp[1]);
	close(iop[1]);
	close(cancelp[0]);
	set_nonblock(msgp[0]);
	set_nonblock(iop[0]);
	/* readable when the child exits; without it (old kernels) we tick */
	int pidfd = pidfd_open(pid, 0);

	struct wo_sandbox_result res;
	memset(&res, 0, sizeof(res));
	struct reader msg = {msgp[0], 0, WO_BUF_INIT}, io = {iop[0], 0, WO_BUF_INIT};
	wo_buf_init(&msg.buf, WO_MSG_MAX * 2 + 16);
	wo_buf_init(&io.buf, LINE_MAX_BYTES * 4);
	int64_t deadline = start + (o->timeout_ms > 0 ? o->timeout_ms : 1000);
	int64_t kill_at = -1;
	int killed = 0, cancel_fd = cancelp[1];
	int grace = o->cancel_grace_ms > 0 ? o->cancel_grace_ms : 5000;

	for (;;) {
		int64_t t = now_ms();
		if (!killed && !res.timed_out && t >= deadline) {
			/* SIGTERM first, and cancelled() turns true: a hook in the middle
			 * of something (a container swap) gets a moment to leave things
			 * sound; SIGKILL follows after the grace */
			res.timed_out = 1;
			/* the pipe closes before the signal goes: a hook woken by
			 * SIGTERM must already see cancelled() true */
			if (cancel_fd >= 0) {
				close(cancel_fd);
				cancel_fd = -1;
			}
			kill(-pid, SIGTERM);
			int term_grace = o->timeout_ms / 4;
			term_grace = term_grace < 200 ? 200 : term_grace > grace ? grace : term_grace;
			kill_at = t + term_grace;
		}
		if (cancel_fd >= 0 && o->cancelled && o->cancelled(o->arg)) {
			close(cancel_fd);
			cancel_fd = -1;
			res.cancelled = 1;
			kill_at = t + grace;
		}
		if (!killed && kill_at >= 0 && t >= kill_at) {
			kill(-pid, SIGKILL);
			killed = 1;
		}
		struct pollfd pfd[3];
		int np = 0;
		if (!msg.eof)
			pfd[np++] = (struct pollfd){msg.fd, POLLIN, 0};
		if (!io.eof)
			pfd[np++] = (struct pollfd){io.fd, POLLIN, 0};
		if (pidfd >= 0)
			pfd[np++] = (struct pollfd){pidfd, POLLIN, 0};
		int64_t wait = killed ? TICK_MS : (kill_at >= 0 ? kill_at : deadline) - t;
		if (wait > TICK_MS)
			wait = TICK_MS;
		if (wait < 0)
			wait = 0;
		if (np)
			poll(pfd, (nfds_t)np, (int)wait);
		else
			poll(NULL, 0, (int)wait);
		if (!msg.eof && pump_msgs(&msg, o) < 0 && !res.protocol_error) {
			res.protocol_error = 1;
			kill(-pid, SIGKILL);
			killed = 1;
			msg.eof = 1;
		}
		pump_lines(&io, o);
		/* has it exited? (WNOWAIT: keep the zombie so the group id stays ours until we kill the group) */
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
			break;
	}
	/* whatever the hook left behind in its group goes with it */
	kill(-pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* last words: read what is buffered (the group is dead, so this ends) */
	for (int i = 0; i < 20 && (!msg.eof || !io.eof); i++) {
		struct pollfd pfd[2] = {{msg.fd, POLLIN, 0}, {io.fd, POLLIN, 0}};
		poll(pfd, 2, 10);
		if (!msg.eof && pump_msgs(&msg, o) < 0) {
			res.protocol_error = 1;
			msg.eof = 1;
		}
		pump_lines(&io, o);
	}
	drain_lines(&io, o, 1);
	res.duration_ms = now_ms() - start;
	if (WIFEXITED(status)) {
		res.exited = 1;
		res.exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res.signal = WTERMSIG(status);
	}
	wo_buf_release(&msg.buf);
	wo_buf_release(&io.buf);
	close(msgp[0]);
	close(iop[0]);
	if (pidfd >= 0)
		close(pidfd);
	if (cancel_fd >= 0)
		close(cancel_fd);
	sigaction(SIGCHLD, &old_chld, NULL);
	*out = res;
	return 0;
}
