/* Program execution with fork/exec and argument vectors; no shell involved. */
#include "util/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/error.h"
#include "util/banned.h"

const char *wo_proc_signame(int sig)
{
	static const struct { int sig; const char *name; } names[] = {
		{SIGHUP, "SIGHUP"}, {SIGINT, "SIGINT"}, {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
		{SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"}, {SIGFPE, "SIGFPE"},
		{SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
		{SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"},
		{SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"}, {SIGTTIN, "SIGTTIN"},
		{SIGTTOU, "SIGTTOU"}, {SIGURG, "SIGURG"}, {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
		{SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGSYS, "SIGSYS"},
	};
	static _Thread_local char other[32];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	snprintf(other, sizeof(other), "signal %d", sig);
	return other;
}

void wo_proc_describe(char *dst, size_t cap, int status)
{
	if (WIFEXITED(status))
		snprintf(dst, cap, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(dst, cap, "killed by %s", wo_proc_signame(WTERMSIG(status)));
	else
		snprintf(dst, cap, "ended with wait status %d", status);
}

int wo_proc_unprivileged_user(struct wo_proc_user *out)
{
	static const char *const names[] = { "webops", "postgres", "nobody" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct passwd *pw = getpwnam(names[i]);
		if (pw && pw->pw_uid != 0) {
			out->uid = pw->pw_uid;
			out->gid = pw->pw_gid;
			snprintf(out->name, sizeof(out->name), "%s", pw->pw_name);
			snprintf(out->home, sizeof(out->home), "%s", pw->pw_dir ? pw->pw_dir : "/");
			return 0;
		}
	}
	return wo_error_set("no unprivileged user to run as: create a 'webops' user");
}

char *wo_proc_which(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? strdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char cand[4096];
		if (n > 0 && n < sizeof(cand) - strlen(name) - 2) {
			snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, path, name);
			struct stat st;
			if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
				return strdup(cand);
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return NULL;
}

static void child_exec(char *const argv[], const struct wo_proc_opts *opts, int errpipe)
{
	int null = open("/dev/null", O_RDWR);
	int out = opts && opts->out_fd >= 0 ? opts->out_fd : null;
	dup2(null, 0);
	dup2(out, 1);
	dup2(out, 2);
	if (opts && opts->cwd && chdir(opts->cwd) != 0)
		goto fail;
	if (opts && opts->as) {
		if (setgid(opts->as->gid) != 0 || initgroups(opts->as->name, opts->as->gid) != 0 ||
		    setuid(opts->as->uid) != 0)
			goto fail;
		setenv("HOME", opts->as->home, 1);
		setenv("USER", opts->as->name, 1);
		setenv("LOGNAME", opts->as->name, 1);
	}
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
fail:;
	int e = errno;
	if (write(errpipe, &e, sizeof(e)) < 0) {
		/* nothing more we can do */
	}
	_exit(127);
}

int wo_proc_run(int *status_out, pid_t *pid_out, char *const argv[], const struct wo_proc_opts *opts)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return wo_error_set("cannot run '%s': %s", argv[0], strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return wo_error_set("cannot run '%s': fork: %s", argv[0], strerror(errno));
	}
	if (pid == 0) {
		close(p[0]);
		if (opts && opts->detach) {
			setsid();
			/* second fork: the server must not be our child (nor a session leader) */
			pid_t g = fork();
			if (g < 0)
				_exit(127);
			if (g > 0) {
				if (write(p[1], &(int){ -(int)g }, sizeof(int)) < 0)
					_exit(1);
				_exit(0);
			}
		}
		child_exec(argv, opts, p[1]);
	}
	close(p[1]);
	int msg = 0, e = 0;
	pid_t grand = 0;
	ssize_t n;
	/* exec success closes the pipe (CLOEXEC); detach first sends -pid */
	while ((n = read(p[0], &msg, sizeof(msg))) == (ssize_t)sizeof(msg)) {
		if (msg < 0)
			grand = -msg;
		else
			e = msg;
	}
	close(p[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (e)
		return wo_error_set("cannot run '%s': %s", argv[0], strerror(e));
	if (opts && opts->detach) {
		if (pid_out)
			*pid_out = grand;
		return 0;
	}
	if (pid_out)
		*pid_out = pid;
	if (status_out)
		*status_out = status;
	return 0;
}
