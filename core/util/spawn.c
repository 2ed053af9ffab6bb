/* wo_fork and wo_spawn: every child process of webops is made here. */
#include "util/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/error.h"
#include "util/proc.h"
#include "util/banned.h"

extern char **environ;

/* where a wo_spawn child failed, sent with the errno through its pipe */
enum { STAGE_SETUP = 1, STAGE_CWD, STAGE_USER, STAGE_EXEC };

static void close_from(int lowfd, int keep)
{
	if (keep >= lowfd) {
		if (keep > lowfd && close_range((unsigned)lowfd, (unsigned)keep - 1, 0) < 0)
			for (int fd = lowfd; fd < keep; fd++)
				close(fd);
		lowfd = keep + 1;
	}
	if (close_range((unsigned)lowfd, ~0U, 0) == 0)
		return;
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = lowfd; fd < max; fd++)
		close(fd);
}

static void reset_signals(void)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	/* again through the kernel directly: a sanitizer runtime intercepts
	 * sigaction and keeps its own SIGSEGV handler, which would turn a
	 * child's crash into an exit status instead of the signal */
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} kdfl = { 0 };
	for (int sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &kdfl, NULL, sizeof(kdfl.mask));
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Descriptors 0..nfds-1 from fds[]: first every source is copied above
 * them (a source may itself be a low number another slot needs), then put
 * in place. keep (>= 0) is a descriptor that must survive (wo_spawn's
 * report pipe); it is moved too and its new number returned. */
static int place_fds(const struct wo_fork_opts *o, int keep)
{
	int n = o->nfds < 0 ? 0 : o->nfds > WO_FORK_MAX_FDS ? WO_FORK_MAX_FDS : o->nfds;
	int high[WO_FORK_MAX_FDS];
	int null = -1;
	for (int i = 0; i < n; i++) {
		int src = o->fds[i];
		if (src == WO_FD_NULL) {
			if (null < 0)
				null = open("/dev/null", O_RDWR | O_CLOEXEC);
			src = null;
		}
		high[i] = src >= 0 ? fcntl(src, F_DUPFD_CLOEXEC, WO_FORK_MAX_FDS + 3) : -1;
		if (high[i] < 0)
			return -2;
	}
	if (keep >= 0) {
		int k = fcntl(keep, F_DUPFD_CLOEXEC, WO_FORK_MAX_FDS + 3);
		if (k < 0)
			return -2;
		keep = k;
	}
	for (int i = 0; i < n; i++)
		if (dup2(high[i], i) < 0) /* dup2 clears close-on-exec */
			return -2;
	/* the copies above go: a child that runs our code does not keep them */
	for (int i = 0; i < n; i++)
		close(high[i]);
	if (null >= 0)
		close(null);
	return keep;
}

/* The child's half of wo_fork (and of wo_spawn, which keeps its report
 * pipe across): the number keep now has (-1 stays -1), -2 when it could
 * not be set up. Only system calls. */
static int child_setup(const struct wo_fork_opts *o, pid_t parent, int keep)
{
	unsigned f = o ? o->flags : 0;
	if (f & (WO_FORK_DEATHSIG_KILL | WO_FORK_DEATHSIG_TERM)) {
		prctl(PR_SET_PDEATHSIG, (f & WO_FORK_DEATHSIG_KILL) ? SIGKILL : SIGTERM);
		if (getppid() != parent)
			_exit(3);
	}
	if (f & WO_FORK_NEW_SESSION)
		setsid();
	else if (f & WO_FORK_NEW_GROUP)
		setpgid(0, 0);
	if (f & WO_FORK_RESET_SIGNALS)
		reset_signals();
	if (f & WO_FORK_IGNORE_SIGPIPE) {
		struct sigaction ign;
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &ign, NULL);
	}
	int low = 3;
	if (f & WO_FORK_FDS) {
		keep = place_fds(o, keep);
		if (keep == -2)
			return -2;
		low = o->nfds > 3 ? o->nfds : 3;
	}
	if (f & WO_FORK_CLOSE_FDS)
		close_from(low, keep);
	return keep;
}

static pid_t do_fork(const char *what, const struct wo_fork_opts *o, int keep, int *keep_out)
{
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		wo_error_setc(WO_ERROR, "cannot start %s: fork: %s", what, strerror(e));
		errno = e;
		return -1;
	}
	if (pid == 0) {
		int k = child_setup(o, parent, keep);
		if (k == -2) {
			/* wo_spawn's parent learns why from its pipe */
			int msg[2] = { STAGE_SETUP, errno };
			if (keep >= 0 && write(keep, msg, sizeof(msg)) < 0) {
				/* the exit status says it */
			}
			_exit(125);
		}
		if (keep_out)
			*keep_out = k;
		return 0;
	}
	/* also here, so a kill(-pid) right away finds the group */
	if (o && (o->flags & WO_FORK_NEW_GROUP) && !(o->flags & WO_FORK_NEW_SESSION))
		setpgid(pid, pid);
	return pid;
}

pid_t wo_fork(const char *what, const struct wo_fork_opts *o)
{
	return do_fork(what, o, -1, NULL);
}

int wo_spawn(pid_t *pid_out, char *const argv[], const struct wo_spawn_opts *o)
{
	static const struct wo_spawn_opts none = WO_SPAWN_OPTS_INIT;
	if (!o)
		o = &none;
	/* PATH (the child's) is searched here, in the parent, where
	 * allocating is safe */
	char *const *envp = o->envp ? o->envp : environ;
	const char *search = NULL;
	for (char *const *e = envp; *e && !search; e++)
		if (!strncmp(*e, "PATH=", 5))
			search = *e + 5;
	char *path = strchr(argv[0], '/') ? strdup(argv[0]) : wo_proc_which_in(argv[0], search);
	if (!path) {
		wo_error_setc(WO_ENOTFOUND, "cannot run '%s': %s", argv[0],
			      strchr(argv[0], '/') ? strerror(ENOMEM) : "not found in PATH");
		errno = ENOENT;
		return -1;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		int e = errno;
		free(path);
		wo_error_set("cannot run '%s': %s", argv[0], strerror(e));
		errno = e;
		return -1;
	}
	int keep = p[1];
	pid_t pid = do_fork(argv[0], &o->fork, p[1], &keep);
	if (pid == 0) {
		/* p[0] is left to close-on-exec: its number may now be one of
		 * the descriptors placed */
		int msg[2] = { STAGE_CWD, 0 };
		if (o->cwd && chdir(o->cwd) != 0)
			msg[1] = errno;
		if (!msg[1] && o->uid != (uid_t)-1) {
			msg[0] = STAGE_USER;
			if (setgroups((size_t)(o->ngroups > 0 ? o->ngroups : 0), o->groups) != 0 ||
			    setgid(o->gid) != 0 || setuid(o->uid) != 0)
				msg[1] = errno;
		}
		if (!msg[1]) {
			msg[0] = STAGE_EXEC;
			execve(path, argv, envp);
			msg[1] = errno;
		}
		if (write(keep, msg, sizeof(msg)) < 0) {
			/* the parent learns it from the exit status */
		}
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		free(path);
		wo_error_set("cannot run '%s': %s", argv[0], strerror(e));
		errno = e;
		return -1;
	}
	/* exec closes the pipe (close-on-exec); a failure sends where and why */
	int msg[2] = { 0, 0 };
	ssize_t n;
	while ((n = read(p[0], msg, sizeof(msg))) < 0 && errno == EINTR)
		;
	close(p[0]);
	free(path);
	if (n == (ssize_t)sizeof(msg) && msg[1]) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (msg[0] == STAGE_CWD)
			wo_error_set("cannot run '%s': cannot enter '%s': %s", argv[0], o->cwd, strerror(msg[1]));
		else if (msg[0] == STAGE_USER)
			wo_error_set("cannot run '%s' as uid %ld: %s", argv[0], (long)o->uid, strerror(msg[1]));
		else if (msg[0] == STAGE_SETUP)
			wo_error_set("cannot run '%s': cannot set its descriptors up: %s", argv[0], strerror(msg[1]));
		else
			wo_error_set("cannot run '%s': %s", argv[0], strerror(msg[1]));
		errno = msg[1];
		return -1;
	}
	*pid_out = pid;
	return 0;
}
