/* The HTTP server's process. webopsd binds the listening sockets itself (so
 * a taken port is an error at start), then forks a child that runs the
 * multi-threaded server (and, with --metrics-listen, a second small server
 * answering only /metrics); the worker side stays single-threaded and free to
 * fork run processes. A child that dies is restarted after a pause; on
 * shutdown it gets SIGTERM and is waited for. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "http/http.h"
#include "http/metrics.h"
#include "util/error.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/spawn.h"
#include "util/banned.h"

static struct {
	const struct wo_config *cfg;
	const struct wo_daemon_opts *opts;
	int listen_fd;
	int metrics_fd;
	pid_t pid;
	long restart_at;
	int restarts;
	int term_sent;
} hp = { .listen_fd = -1, .metrics_fd = -1 };

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void child_main(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* lifecycle actions run our CLI, which finds the database here */
	setenv("WEBOPS_DATABASE_URL", hp.opts->conninfo, 1);
	struct wo_http_opts o = {
		.cfg = hp.cfg,
		.conninfo = hp.opts->conninfo,
		.listen_fd = hp.listen_fd,
		.threads = hp.opts->http_threads,
		.body_max = hp.opts->http_body_max,
		.public_url = hp.opts->public_url,
		.proxy_token = hp.opts->proxy_token,
	};
	struct wo_http_server *srv = NULL;
	struct wo_metrics_server *ms = NULL;
	if (hp.listen_fd >= 0 && wo_http_start(&srv, &o) < 0) {
		wo_log(WO_LOG_ERROR, "http", "%s", wo_error_last());
		_exit(3);
	}
	if (hp.metrics_fd >= 0 && wo_metrics_server_start(&ms, hp.metrics_fd, hp.opts->conninfo) < 0) {
		wo_log(WO_LOG_ERROR, "metrics", "%s", wo_error_last());
		wo_http_stop(srv);
		_exit(3);
	}
	while (!wo_daemon_stop_requested() && getppid() > 1)
		poll(NULL, 0, 200);
	wo_metrics_server_stop(ms);
	wo_http_stop(srv);
	_exit(0);
}

static int spawn(void)
{
	/* SIGTERM when the daemon is gone: its handler (the daemon's, kept)
	 * stops the server the orderly way */
	pid_t pid = wo_fork("the HTTP process", &(struct wo_fork_opts){ .flags = WO_FORK_DEATHSIG_TERM });
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* the parent's database connection is its own: close our copy of
		 * the socket without talking on it */
		if (hp.opts->parent_conn_fd >= 0)
			close(hp.opts->parent_conn_fd);
		child_main();
	}
	hp.pid = pid;
	hp.term_sent = 0;
	return 0;
}

int wo_daemon_http_start(const struct wo_config *cfg, const struct wo_daemon_opts *opts, int listen_fd)
{
	hp.cfg = cfg;
	hp.opts = opts;
	hp.listen_fd = listen_fd;
	hp.metrics_fd = opts->metrics_fd;
	return spawn();
}

void wo_daemon_http_tick(int stopping)
{
	if (hp.listen_fd < 0 && hp.metrics_fd < 0)
		return;
	if (hp.pid > 0) {
		if (stopping && !hp.term_sent) {
			kill(hp.pid, SIGTERM);
			hp.term_sent = 1;
		}
		int st;
		pid_t r = waitpid(hp.pid, &st, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR))
			return;
		if (!stopping) {
			char how[64] = "vanished";
			if (r > 0)
				wo_proc_describe(how, sizeof(how), st);
			hp.restarts++;
			long pause = hp.restarts > 5 ? 5000 : 500L * hp.restarts;
			wo_log(WO_LOG_ERROR, "http", "the HTTP process %s; restarting it in %ld ms", how, pause);
			hp.restart_at = now_ms() + pause;
		}
		hp.pid = 0;
		return;
	}
	if (!stopping && hp.restart_at && now_ms() >= hp.restart_at) {
		hp.restart_at = 0;
		if (spawn() < 0)
			wo_log(WO_LOG_ERROR, "http", "%s", wo_error_last());
	}
}

void wo_daemon_http_stop(void)
{
	if (hp.pid > 0) {
		if (!hp.term_sent)
			kill(hp.pid, SIGTERM);
		/* the server finishes what it is answering; a stuck one is not waited for long */
		for (int i = 0; i < 100; i++) {
			if (waitpid(hp.pid, NULL, WNOHANG) != 0)
				break;
			poll(NULL, 0, 50);
			if (i == 99) {
				kill(hp.pid, SIGKILL);
				waitpid(hp.pid, NULL, 0);
			}
		}
		hp.pid = 0;
	}
	if (hp.listen_fd >= 0) {
		close(hp.listen_fd);
		hp.listen_fd = -1;
	}
	if (hp.metrics_fd >= 0) {
		close(hp.metrics_fd);
		hp.metrics_fd = -1;
	}
}
