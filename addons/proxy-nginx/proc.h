/* proxy-nginx: reading nginx's processes from /proc: the master named in a
 * pid file, its workers, and which of them are still taking new connections.
 * (Programs are run through the host: host->run.) */
#ifndef PROXY_NGINX_PROC_H
#define PROXY_NGINX_PROC_H

#include <sys/types.h>

#include "conf.h"

/* The pid in a pid file; 0 when the file is missing or holds no pid. */
pid_t px_pidfile_read(const char *path);

/* Non-zero when pid is alive and is an nginx master process; with conf not
 * NULL, one started with that configuration file (guards against a reused pid). */
int px_is_master(pid_t pid, const char *conf);

/* The process's start time (clock ticks since boot, /proc/PID/stat), 0 when gone. */
unsigned long long px_proc_start_time(pid_t pid);

/* One child of the master. */
struct px_child {
	pid_t pid;
	int worker;    /* "nginx: worker process..." */
	int accepting; /* a worker, not "... is shutting down" */
};

/* The children of master, into a new array (free() it); -1 on failure. */
int px_children(struct px_child **out, size_t *n, pid_t master);

/* 1 while pid holds a listening socket (TCP or unix), so it may take a new
 * connection whatever its title says (an old nginx worker renames itself
 * "shutting down" just before it closes its listeners); 0 when it holds
 * none or is gone; -1 when its descriptors cannot be read. */
int px_holds_listener(pid_t pid);

/* Milliseconds on a monotonic clock. */
long long px_now_ms(void);

/* Milliseconds since the epoch (for timestamps others compare with theirs). */
long long px_wall_ms(void);

/* Sleeps ms, or less when interrupted by a signal. */
void px_sleep_ms(int ms);

#endif
