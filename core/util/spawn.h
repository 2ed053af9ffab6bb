/* The one way webops makes a child process (git's run-command, systemd's
 * safe_fork): wo_fork for a child that runs our own code, wo_spawn for one
 * that executes a program. Between fork and exec the child makes system
 * calls only (nothing that allocates or takes a lock), so both are safe in a
 * process with threads. */
#ifndef WO_UTIL_SPAWN_H
#define WO_UTIL_SPAWN_H

#include <sys/types.h>

enum {
	/* the child gets SIGKILL (or SIGTERM) when the thread that forked it
	 * ends, and exits at once if that happened before it could ask */
	WO_FORK_DEATHSIG_KILL = 1 << 0,
	WO_FORK_DEATHSIG_TERM = 1 << 1,
	/* every signal to its default disposition and an empty mask */
	WO_FORK_RESET_SIGNALS = 1 << 2,
	/* then SIGPIPE ignored: a worker writing to a pipe its reader closed
	 * learns EPIPE instead of dying */
	WO_FORK_IGNORE_SIGPIPE = 1 << 3,
	/* its own process group, set in the child and the parent alike, so a
	 * kill(-pid) right after the fork finds it */
	WO_FORK_NEW_GROUP = 1 << 4,
	/* a new session (which is also a new group) */
	WO_FORK_NEW_SESSION = 1 << 5,
	/* descriptors 0..nfds-1 from fds[] (see struct wo_fork_opts) */
	WO_FORK_FDS = 1 << 6,
	/* every descriptor from nfds (3 without WO_FORK_FDS) up closed */
	WO_FORK_CLOSE_FDS = 1 << 7,
};

#define WO_FORK_MAX_FDS 8
/* In fds[]: the child's descriptor is /dev/null (read-write). */
#define WO_FD_NULL (-1)

struct wo_fork_opts {
	unsigned flags;
	int nfds;
	/* fds[i] becomes the child's descriptor i (WO_FD_NULL: /dev/null);
	 * close-on-exec is cleared on them */
	int fds[WO_FORK_MAX_FDS];
};

/* Forks, sets the child up as o says (NULL: nothing), and returns 0 in the
 * child and its pid in the parent; -1 with the error set (naming what) when
 * no process could be made. Buffered stdio is flushed first so the child
 * never writes the parent's output twice. A child that cannot be set up as
 * asked exits with status 125. */
pid_t wo_fork(const char *what, const struct wo_fork_opts *o);

struct wo_spawn_opts {
	struct wo_fork_opts fork;
	char *const *envp;  /* NULL: ours */
	const char *cwd;    /* NULL: ours */
	/* run as this user and group, with these supplementary groups (when
	 * uid is not (uid_t)-1; only root may) */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	int ngroups;
};
#define WO_SPAWN_OPTS_INIT { .uid = (uid_t)-1, .gid = (gid_t)-1 }

/* Executes argv[0] (a path, or a name looked up in PATH) in a child made by
 * wo_fork with o->fork. 0 once the program runs, with its pid in *pid_out;
 * -1 when it could not be made or executed (the child is then reaped), the
 * error naming the program and why, errno set to the reason. */
int wo_spawn(pid_t *pid_out, char *const argv[], const struct wo_spawn_opts *o);

#endif
