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

extern char **environ;

#include "util/error.h"
#include "util/spawn.h"
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
	return wo_proc_which_in(name, getenv("PATH"));
}

char *wo_proc_which_in(const char *name, const char *path)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? strdup(name) : NULL;
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

char **wo_proc_env(const char *const *extra)
{
	size_t n = 0, k = 0;
	for (char **e = environ; *e; e++)
		n++;
	for (const char *const *x = extra; x && *x; x++)
		n++;
	char **env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t nl = eq ? (size_t)(eq - *e) : strlen(*e);
		int replaced = 0;
		for (const char *const *x = extra; x && *x && !replaced; x++)
			replaced = !strncmp(*x, *e, nl) && (*x)[nl] == '=';
		if (!replaced)
			env[k++] = *e;
	}
	for (const char *const *x = extra; x && *x; x++)
		env[k++] = (char *)*x;
	return env;
}

int wo_proc_run(int *status_out, pid_t *pid_out, char *const argv[], const struct wo_proc_opts *opts)
{
	int out = opts && opts->out_fd >= 0 ? opts->out_fd : WO_FD_NULL;
	struct wo_spawn_opts so = WO_SPAWN_OPTS_INIT;
	so.fork = (struct wo_fork_opts){ WO_FORK_RESET_SIGNALS | WO_FORK_FDS | WO_FORK_CLOSE_FDS, 3,
					 { WO_FD_NULL, out, out } };
	so.cwd = opts ? opts->cwd : NULL;
	char own[3][320];
	char **env = NULL;
	gid_t groups[64];
	if (opts && opts->as) {
		int ng = (int)(sizeof(groups) / sizeof(groups[0]));
		if (getgrouplist(opts->as->name, opts->as->gid, groups, &ng) < 0)
			ng = 1, groups[0] = opts->as->gid; /* more than 64: its own group only */
		snprintf(own[0], sizeof(own[0]), "HOME=%s", opts->as->home);
		snprintf(own[1], sizeof(own[1]), "USER=%s", opts->as->name);
		snprintf(own[2], sizeof(own[2]), "LOGNAME=%s", opts->as->name);
		env = wo_proc_env((const char *const[]){ own[0], own[1], own[2], NULL });
		if (!env)
			return wo_error_setc(WO_ENOMEM, "cannot run '%s': out of memory", argv[0]);
		so.uid = opts->as->uid;
		so.gid = opts->as->gid;
		so.groups = groups;
		so.ngroups = ng;
		so.envp = env;
	}
	if (!opts || !opts->detach) {
		pid_t pid;
		int r = wo_spawn(&pid, argv, &so);
		free(env);
		if (r < 0)
			return -1;
		int status = 0;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (pid_out)
			*pid_out = pid;
		if (status_out)
			*status_out = status;
		return 0;
	}
	/* detached: a child in a new session starts the program and exits, so
	 * the server is neither our child nor a session leader; the child
	 * reports the program's pid, or the errno of its failure as a
	 * negative number */
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		free(env);
		return wo_error_set("cannot run '%s': %s", argv[0], strerror(errno));
	}
	pid_t mid = wo_fork(argv[0], &(struct wo_fork_opts){ .flags = WO_FORK_NEW_SESSION });
	if (mid == 0) {
		close(p[0]);
		pid_t g;
		int msg = wo_spawn(&g, argv, &so) == 0 ? (int)g : -errno;
		_exit(write(p[1], &msg, sizeof(msg)) == (ssize_t)sizeof(msg) ? 0 : 1);
	}
	free(env);
	close(p[1]);
	if (mid < 0) {
		close(p[0]);
		return -1;
	}
	int msg = 0;
	ssize_t n;
	while ((n = read(p[0], &msg, sizeof(msg))) < 0 && errno == EINTR)
		;
	close(p[0]);
	while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(msg) || msg == 0)
		return wo_error_set("cannot run '%s': its starter ended without a word", argv[0]);
	if (msg < 0)
		return wo_error_set("cannot run '%s': %s", argv[0], strerror(-msg));
	if (pid_out)
		*pid_out = msg;
	return 0;
}
