/* proxy-nginx: nginx's processes as /proc shows them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long px_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long px_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void px_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

pid_t px_pidfile_read(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *end;
	long v = strtol(buf, &end, 10);
	if (end == buf || (*end && *end != '\n') || v <= 1 || v > 4194304)
		return 0;
	return (pid_t)v;
}

/* /proc/PID/cmdline with NULs as spaces; 0 chars when gone */
static size_t cmdline(pid_t pid, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return (size_t)n;
}

/* fields after "PID (comm) ": state is field 3; returns the text after ") " */
static int stat_fields(pid_t pid, char *buf, size_t size, const char **rest)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -1;
	*rest = p + 2;
	return 0;
}

int px_is_master(pid_t pid, const char *conf)
{
	if (pid <= 1)
		return 0;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return 0;
	char stat[1024];
	const char *rest;
	if (stat_fields(pid, stat, sizeof(stat), &rest) < 0 || rest[0] == 'Z')
		return 0;
	char cmd[4096];
	if (!cmdline(pid, cmd, sizeof(cmd)) || strncmp(cmd, "nginx: master process", 21) != 0)
		return 0;
	if (conf) {
		/* "nginx: master process /usr/sbin/nginx -c CONF -p DIR/" */
		size_t cl = strlen(cmd);
		if (cl + 2 > sizeof(cmd))
			return 0;
		cmd[cl] = ' ';
		cmd[cl + 1] = '\0';
		char want[4200];
		snprintf(want, sizeof(want), " -c %s ", conf);
		if (!strstr(cmd, want))
			return 0;
	}
	return 1;
}

unsigned long long px_proc_start_time(pid_t pid)
{
	char stat[1024];
	const char *rest;
	if (pid <= 0 || stat_fields(pid, stat, sizeof(stat), &rest) < 0 || rest[0] == 'Z')
		return 0;
	/* rest starts at field 3 (state); starttime is field 22 */
	const char *p = rest;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

int px_children(struct px_child **out, size_t *n, pid_t master)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	size_t cap = 16, len = 0;
	struct px_child *v = malloc(cap * sizeof(*v));
	if (!v) {
		closedir(d);
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
		char stat[1024];
		const char *rest;
		if (stat_fields(pid, stat, sizeof(stat), &rest) < 0 || rest[0] == 'Z')
			continue;
		/* field 4: ppid */
		const char *pp = strchr(rest, ' ');
		if (!pp || (pid_t)strtol(pp + 1, NULL, 10) != master)
			continue;
		char cmd[256];
		if (!cmdline(pid, cmd, sizeof(cmd)))
			continue;
		if (len == cap) {
			struct px_child *nv = realloc(v, cap * 2 * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -1;
			}
			v = nv;
			cap *= 2;
		}
		v[len].pid = pid;
		v[len].worker = strncmp(cmd, "nginx: worker process", 21) == 0;
		v[len].accepting = v[len].worker && !strstr(cmd, "shutting down");
		len++;
	}
	closedir(d);
	*out = v;
	*n = len;
	return 0;
}

/* The inodes of the listening sockets in pid's network namespace: TCP
 * (IPv4, IPv6; state 0A is LISTEN) and unix sockets that accept. */
static size_t listening_inodes(unsigned long *v, size_t cap, pid_t pid)
{
	static const char *const tables[] = {"tcp", "tcp6", "unix"};
	size_t n = 0;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		char path[64], line[512];
		snprintf(path, sizeof(path), "/proc/%ld/net/%s", (long)pid, tables[t]);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		int unix_table = t == 2;
		if (!fgets(line, sizeof(line), f)) { /* the heading */
			fclose(f);
			continue;
		}
		while (n < cap && fgets(line, sizeof(line), f)) {
			unsigned long inode = 0;
			if (unix_table) {
				/* Num RefCount Protocol Flags Type St Inode [Path]; flag 0x10000: accepts */
				unsigned long flags = 0;
				if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu", &flags, &inode) == 2 && (flags & 0x10000))
					v[n++] = inode;
			} else {
				/* sl local remote st tx:rx tr:when retrnsmt uid timeout inode */
				char st[8];
				if (sscanf(line, "%*s %*s %*s %7s %*s %*s %*s %*s %*s %lu", st, &inode) == 2 &&
				    !strcmp(st, "0A"))
					v[n++] = inode;
			}
		}
		fclose(f);
	}
	return n;
}

int px_holds_listener(pid_t pid)
{
	unsigned long inodes[1024];
	size_t n = listening_inodes(inodes, sizeof(inodes) / sizeof(inodes[0]), pid);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -1; /* gone: holds nothing */
	int holds = 0;
	struct dirent *e;
	while (!holds && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char target[64];
		ssize_t len = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		unsigned long inode;
		if (sscanf(target, "socket:[%lu]", &inode) != 1)
			continue;
		for (size_t i = 0; i < n; i++)
			if (inodes[i] == inode) {
				holds = 1;
				break;
			}
	}
	closedir(d);
	return holds;
}
