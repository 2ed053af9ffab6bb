/* Running programs with argument vectors (never through a shell), optionally
 * as another user, and describing how they ended. */
#ifndef WO_UTIL_PROC_H
#define WO_UTIL_PROC_H

#include <sys/types.h>

struct wo_proc_user {
	uid_t uid;
	gid_t gid;
	char name[64];
	char home[256];
};

struct wo_proc_opts {
	const struct wo_proc_user *as; /* NULL: as ourselves */
	int out_fd;                    /* stdout and stderr go here; -1: /dev/null */
	const char *cwd;               /* NULL: inherit */
	int detach;                    /* new session, do not wait: *pid_out gets the pid */
};

/* Runs argv[0] (looked up in PATH when it has no '/'). Without detach, waits
 * and stores the wait status in *status_out. */
int wo_proc_run(int *status_out, pid_t *pid_out, char *const argv[], const struct wo_proc_opts *opts);
/* Our environment with extra's entries (NAME=value, NULL-terminated; may
 * be NULL) added, an entry of the same name replaced: a malloc'd array, its
 * strings borrowed from environ and extra. NULL when out of memory. */
char **wo_proc_env(const char *const *extra);
/* "exited with status 3", "killed by SIGSEGV" */
void wo_proc_describe(char *dst, size_t cap, int status);
/* The unprivileged account root should run a helper server as: 'webops' if it
 * exists, else 'postgres', else 'nobody'. */
int wo_proc_unprivileged_user(struct wo_proc_user *out);
/* Name of a signal, "SIGSEGV"; a number string when unknown. */
const char *wo_proc_signame(int sig);
/* Searches PATH for an executable; returns a malloc'd path or NULL. */
char *wo_proc_which(const char *name);
/* The same with path as PATH (NULL: /usr/local/bin:/usr/bin:/bin). */
char *wo_proc_which_in(const char *name, const char *path);

#endif
