/* The HTTP server's asynchronous work: requests suspended while a child
 * runs, a delay passes, a run's log grows or a descriptor is readable, and
 * the one event thread that watches them (LISTEN webops_run_log and
 * webops_changes) and resumes each when it is due. */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addon/addon.h"
#include "db/db.h"
#include "http/server_int.h"
#include "http/webhook_writer.h"
#include "store/access.h"
#include "pipeline/runs.h"
#include "store/deployment.h"
#include "template/template.h"
#include "util/error.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/banned.h"

extern char **environ;

/* what a child may print for its request (the end is kept) */
#define CHILD_OUTPUT_MAX (256 * 1024)

/* ---- asynchronous work: children and delays ---- */

void wo_http__wake(struct wo_http_server *srv)
{
	char c = 1;
	ssize_t w = write(srv->wake_w, &c, 1);
	(void)w;
}

static struct wo_http_job *job_new(enum wo_http_job_kind kind, struct MHD_Connection *mhd, int fd)
{
	struct wo_http_job *job = calloc(1, sizeof(*job));
	if (job) {
		job->kind = kind;
		job->mhd = mhd;
		job->fd = fd;
	}
	return job;
}

/* With srv->lock held: the event thread watches job from now on. */
static void job_add(struct wo_http_server *srv, struct wo_http_job *job)
{
	job->next = srv->jobs;
	srv->jobs = job;
	wo_http__wake(srv);
}

static void suspend_req(struct wo_req *req, int (*resume)(struct wo_req *));

/* Suspends req and hands job (which resumes it) to the event thread. */
static void suspend_with(struct wo_req *req, struct wo_http_job *job, int (*resume)(struct wo_req *))
{
	job->req = req;
	pthread_mutex_lock(&req->srv->lock);
	suspend_req(req, resume);
	job_add(req->srv, job);
	pthread_mutex_unlock(&req->srv->lock);
}

static void suspend_req(struct wo_req *req, int (*resume)(struct wo_req *))
{
	req->resume = resume;
	req->suspended = 1;
	req->async_done = 0;
	MHD_suspend_connection(req->mhd);
}

void wo_http_suspend(struct wo_req *req, int (*resume)(struct wo_req *))
{
	pthread_mutex_lock(&req->srv->lock);
	suspend_req(req, resume);
	pthread_mutex_unlock(&req->srv->lock);
}

void wo_http_resume(struct wo_req *req)
{
	/* req may be answered and freed as soon as it is resumed */
	struct wo_http_server *srv = req->srv;
	struct MHD_Connection *mhd = req->mhd;
	pthread_mutex_lock(&srv->lock);
	req->async_done = 1;
	MHD_resume_connection(mhd);
	pthread_mutex_unlock(&srv->lock);
}

unsigned wo_http_deployments_gen(struct wo_req *req)
{
	return wo_http__dep_gen(req->srv);
}

struct wo_hook_writer *wo_http_hook_writer(struct wo_req *req)
{
	return req->srv->hook_writer;
}

/* ... and result_fd (>= 0) becomes the child's descriptor 3; nothing else
 * of ours goes with it, every signal at its default */
static int spawn_with(pid_t *pid_out, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd,
		      int result_fd)
{
	struct wo_spawn_opts so = WO_SPAWN_OPTS_INIT;
	so.fork = (struct wo_fork_opts){ WO_FORK_RESET_SIGNALS | WO_FORK_FDS | WO_FORK_CLOSE_FDS,
					 result_fd >= 0 ? 4 : 3,
					 { in_fd >= 0 ? in_fd : WO_FD_NULL, out_fd, err_fd >= 0 ? err_fd : 2,
					   result_fd } };
	so.envp = envp;
	return wo_spawn(pid_out, argv, &so);
}

int wo_http__spawn(pid_t *pid_out, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd)
{
	return spawn_with(pid_out, argv, envp, in_fd, out_fd, err_fd, -1);
}

/* environ with WEBOPS_RESULT_FD=3 (the descriptor spawn_with gives); the
 * array is malloc'd, its strings borrowed. */
static char **result_env(void)
{
	static char entry[] = "WEBOPS_RESULT_FD=3";
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = malloc((n + 2) * sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "WEBOPS_RESULT_FD=", 17) != 0)
			env[k++] = environ[i];
	env[k++] = entry;
	env[k] = NULL;
	return env;
}

int wo_http__spawn_result(pid_t *pid_out, char *const argv[], int in_fd, int out_fd, int err_fd, int result_fd)
{
	char **env = result_env();
	if (!env)
		return wo_error_set("out of memory");
	int rc = spawn_with(pid_out, argv, env, in_fd, out_fd, err_fd, result_fd);
	free(env);
	return rc;
}

json_t *wo_http__read_result(int result_fd)
{
	char text[4096];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(result_fd, text + len, sizeof(text) - 1 - len);
		if (n > 0 && len + (size_t)n < sizeof(text) - 1) {
			len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	text[len] = '\0';
	json_t *j = json_loads(text, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int wo_http__result_code(int result_fd, int status)
{
	json_t *j = wo_http__read_result(result_fd);
	const char *code = json_string_value(json_object_get(j, "code"));
	int c = code ? wo_error_from_name(code)
		     : WIFEXITED(status) && WEXITSTATUS(status) == 0 ? WO_OK : WO_ERROR;
	json_decref(j);
	return c;
}

int wo_http_spawn(struct wo_req *req, char *const argv[], int (*resume)(struct wo_req *))
{
	struct wo_http_server *srv = req->srv;
	int p[2], r[2];
	char **env = result_env();
	if (!env)
		return wo_error_set("out of memory");
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(env);
		return wo_error_set("cannot start '%s': %s", argv[0], strerror(errno));
	}
	if (pipe2(r, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(env);
		close(p[0]);
		close(p[1]);
		return wo_error_set("cannot start '%s': %s", argv[0], strerror(errno));
	}
	pid_t pid;
	int e = spawn_with(&pid, argv, env, -1, p[1], p[1], r[1]);
	free(env);
	close(p[1]);
	close(r[1]);
	if (e != 0) {
		close(p[0]);
		close(r[0]);
		return -1;
	}
	if (req->child_result_fd >= 0)
		close(req->child_result_fd);
	req->child_result_fd = r[0];
	json_decref(req->child_result);
	req->child_result = NULL;
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	wo_buf_init(&req->child_output, CHILD_OUTPUT_MAX);
	struct wo_http_job *job = job_new(WO_JOB_CHILD, req->mhd, p[0]);
	if (!job)
		return wo_http__child_abandon(srv, pid, p[0]);
	job->pid = pid;
	suspend_with(req, job, resume);
	return 0;
}

int wo_http_delay(struct wo_req *req, int ms, int (*resume)(struct wo_req *))
{
	struct wo_http_job *job = job_new(WO_JOB_DELAY, req->mhd, -1);
	if (!job)
		return wo_error_set("out of memory");
	job->deadline_ms = wo_http__now_ms() + ms;
	suspend_with(req, job, resume);
	return 0;
}

void wo_http__wait_run(struct wo_http_server *srv, struct MHD_Connection *mhd, long long run_id, int ms)
{
	/* called with srv->lock held, right after MHD_suspend_connection */
	struct wo_http_job *job = job_new(WO_JOB_RUN_LOG, mhd, -1);
	if (!job) {
		MHD_resume_connection(mhd);
		return;
	}
	job->run_id = run_id;
	job->deadline_ms = wo_http__now_ms() + ms;
	job_add(srv, job);
}

void wo_http__wait_fd(struct wo_http_server *srv, struct MHD_Connection *mhd, int fd)
{
	/* called with srv->lock held, right after MHD_suspend_connection */
	struct wo_http_job *job = job_new(WO_JOB_FD, mhd, fd);
	if (!job) {
		MHD_resume_connection(mhd);
		return;
	}
	job_add(srv, job);
}

int wo_http__wait_cgi_head(struct wo_req *req, int fd, int (*resume)(struct wo_req *))
{
	struct wo_http_job *job = job_new(WO_JOB_CGI_HEAD, req->mhd, fd);
	if (!job)
		return wo_error_set("out of memory");
	job->head = &req->child_output;
	suspend_with(req, job, resume);
	return 0;
}

void wo_http__reap_later(struct wo_http_server *srv, pid_t pid)
{
	pthread_mutex_lock(&srv->lock);
	if (srv->nreap == srv->capreap) {
		size_t nc = srv->capreap ? srv->capreap * 2 : 8;
		pid_t *n = realloc(srv->reap, nc * sizeof(*n));
		if (n) {
			srv->reap = n;
			srv->capreap = nc;
		}
	}
	if (srv->nreap < srv->capreap)
		srv->reap[srv->nreap++] = pid;
	pthread_mutex_unlock(&srv->lock);
	wo_http__wake(srv);
}

int wo_http__child_abandon(struct wo_http_server *srv, pid_t pid, int fd)
{
	kill(pid, SIGKILL);
	close(fd);
	wo_http__reap_later(srv, pid);
	return wo_error_set("out of memory");
}

/* Reads what j's descriptor holds, handing each piece to take, which
 * returns 1 when it wants no more; 1 when j is done (take had enough, the
 * output ended or reading failed), 0 when nothing more is there yet. */
static int drain(struct wo_http_job *j, int (*take)(struct wo_http_job *j, const char *buf, size_t n))
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(j->fd, buf, sizeof(buf));
		if (n > 0) {
			if (take(j, buf, (size_t)n))
				return 1;
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : 1;
	}
}

/* A CGI program's output, until its headers are complete (or it grew too
 * large): then the request can go on. */
static int take_head(struct wo_http_job *j, const char *buf, size_t n)
{
	if (wo_buf_add(j->head, buf, n) < 0)
		return 1;
	const char *p = wo_buf_cstr(j->head);
	return strstr(p, "\r\n\r\n") || strstr(p, "\n\n");
}

/* What a child prints for its request, all of it: past the cap the rest is
 * dropped, but the last line (the error) matters most, so a tail is kept
 * instead once full. */
static int take_child_output(struct wo_http_job *j, const char *buf, size_t n)
{
	struct wo_buf *out = &j->req->child_output;
	if (wo_buf_add(out, buf, n) < 0) {
		size_t keep = out->len / 2;
		memmove(out->ptr, out->ptr + keep, out->len - keep);
		wo_buf_truncate(out, out->len - keep);
		wo_buf_add(out, buf, n);
	}
	return 0;
}

unsigned wo_http__run_gen(struct wo_http_server *srv, long long run_id)
{
	return __atomic_load_n(&srv->run_gen[(unsigned long long)run_id % WO_RUN_GEN_SLOTS], __ATOMIC_ACQUIRE);
}

static void listen_connect(struct wo_http_server *srv)
{
	if (srv->listen_conn && PQstatus(srv->listen_conn) == CONNECTION_OK)
		return;
	long now = wo_http__now_ms();
	if (now - srv->listen_tried_ms < 2000)
		return;
	srv->listen_tried_ms = now;
	if (srv->listen_conn)
		PQfinish(srv->listen_conn);
	srv->listen_conn = NULL;
	PGconn *c;
	if (wo_db_connect(&c, srv->opts.conninfo) < 0)
		return;
	PGresult *r = PQexec(c, "LISTEN webops_run_log; LISTEN webops_changes; LISTEN " WO_RUNS_CHANNEL);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		PQfinish(c);
		return;
	}
	PQsetnonblocking(c, 1);
	srv->listen_conn = c;
	/* whatever changed while nobody listened: caches start over */
	__atomic_add_fetch(&srv->dep_gen, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&srv->auth_gen, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&srv->runs_gen, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&srv->listening, 1, __ATOMIC_RELEASE);
	/* anything may have happened while we were away: every stream re-checks */
	pthread_mutex_lock(&srv->lock);
	for (struct wo_http_job *j = srv->jobs; j; j = j->next)
		if (j->kind == WO_JOB_RUN_LOG)
			j->deadline_ms = 0;
	pthread_mutex_unlock(&srv->lock);
}


/* What the event thread polls: its wake pipe, the LISTEN connection, then
 * the descriptor of each job that has one (jobs[i] goes with pfds[i]). */
struct poll_set {
	struct pollfd *pfds;
	struct wo_http_job **jobs;
	size_t cap, n;
};

/* With srv->lock held: ps for the jobs there are now (*now: the time);
 * the next deadline of a job without a descriptor, at most a second away. */
static long poll_set_build(struct poll_set *ps, struct wo_http_server *srv, long *now)
{
	size_t n = 0;
	for (struct wo_http_job *j = srv->jobs; j; j = j->next)
		n++;
	if (n + 2 > ps->cap) {
		ps->cap = (n + 2) * 2;
		ps->pfds = realloc(ps->pfds, ps->cap * sizeof(*ps->pfds));
		ps->jobs = realloc(ps->jobs, ps->cap * sizeof(*ps->jobs));
	}
	size_t k = 0;
	ps->pfds[k++] = (struct pollfd){ .fd = srv->wake_r, .events = POLLIN };
	ps->pfds[k++] = (struct pollfd){ .fd = srv->listen_conn ? PQsocket(srv->listen_conn) : -1, .events = POLLIN };
	*now = wo_http__now_ms();
	long next = *now + 1000;
	for (struct wo_http_job *j = srv->jobs; j; j = j->next) {
		if (j->kind == WO_JOB_CHILD || j->kind == WO_JOB_CGI_HEAD || j->kind == WO_JOB_FD) {
			ps->jobs[k] = j;
			ps->pfds[k++] = (struct pollfd){ .fd = j->fd, .events = POLLIN };
		} else if (j->deadline_ms < next) {
			next = j->deadline_ms;
		}
	}
	ps->n = k;
	return next;
}

/* With srv->lock held: waits for the CGI children whose output ended. */
static void reap_ended(struct wo_http_server *srv)
{
	for (size_t i = 0; i < srv->nreap;) {
		if (waitpid(srv->reap[i], NULL, WNOHANG) != 0) {
			srv->reap[i] = srv->reap[--srv->nreap];
			continue;
		}
		i++;
	}
}

/* One notification: a run queued or cancelled, a change (deployments,
 * health states: the deployments' generation; the rest: authentication's),
 * or a run's log growing (its generation bumped, its streams resumed). */
static void take_notification(struct wo_http_server *srv, PGnotify *nt)
{
	if (!strcmp(nt->relname, WO_RUNS_CHANNEL)) {
		/* a run queued or cancelled */
		__atomic_add_fetch(&srv->runs_gen, 1, __ATOMIC_RELEASE);
		PQfreemem(nt);
		return;
	}
	__atomic_add_fetch(&srv->runs_gen, 1, __ATOMIC_RELEASE);
	if (!strcmp(nt->relname, "webops_changes")) {
		if (!strcmp(nt->extra, "deployments") || !strcmp(nt->extra, "health_state"))
			__atomic_add_fetch(&srv->dep_gen, 1, __ATOMIC_RELEASE);
		else
			__atomic_add_fetch(&srv->auth_gen, 1, __ATOMIC_RELEASE);
		PQfreemem(nt);
		return;
	}
	long long id = strtoll(nt->extra, NULL, 10);
	PQfreemem(nt);
	__atomic_add_fetch(&srv->run_gen[(unsigned long long)id % WO_RUN_GEN_SLOTS], 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&srv->lock);
	for (struct wo_http_job *j = srv->jobs; j; j = j->next)
		if (j->kind == WO_JOB_RUN_LOG && j->run_id == id)
			j->deadline_ms = 0;
	pthread_mutex_unlock(&srv->lock);
}

/* Reads what the LISTEN connection received; drops it when it is lost (it
 * is made again on the next turn). */
static void take_notifications(struct wo_http_server *srv)
{
	if (!PQconsumeInput(srv->listen_conn)) {
		wo_log(WO_LOG_WARN, "http", "lost the LISTEN connection; reconnecting");
		__atomic_store_n(&srv->listening, 0, __ATOMIC_RELEASE);
		PQfinish(srv->listen_conn);
		srv->listen_conn = NULL;
		return;
	}
	PGnotify *nt;
	while ((nt = PQnotifies(srv->listen_conn)))
		take_notification(srv, nt);
}

/* j waits no more: the loop's last step resumes its request. */
static void job_due(struct wo_http_job *j)
{
	j->kind = WO_JOB_DELAY;
	j->deadline_ms = 0;
}

/* The jobs whose descriptor poll found readable: a descriptor waited for,
 * a CGI program's headers, a child that printed or ended. */
static void serve_ready(struct poll_set *ps)
{
	for (size_t i = 2; i < ps->n; i++) {
		if (!ps->pfds[i].revents)
			continue;
		struct wo_http_job *j = ps->jobs[i];
		if (j->kind == WO_JOB_FD) {
			job_due(j); /* readable */
			continue;
		}
		if (j->kind == WO_JOB_CGI_HEAD) {
			if (drain(j, take_head))
				job_due(j);
			continue;
		}
		if (drain(j, take_child_output)) {
			close(j->fd);
			j->fd = -1;
			int st = 0;
			while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
				;
			j->req->child_status = st;
			job_due(j); /* done */
		}
	}
}

/* Resumes the requests whose job is due. Children and descriptors are
 * resumed when they are ready (they turn into WO_JOB_DELAY then); the
 * others when their deadline passes. */
static void resume_due(struct wo_http_server *srv)
{
	long now = wo_http__now_ms();
	pthread_mutex_lock(&srv->lock);
	struct wo_http_job **pp = &srv->jobs;
	while (*pp) {
		struct wo_http_job *j = *pp;
		if (j->kind != WO_JOB_CHILD && j->kind != WO_JOB_CGI_HEAD && j->kind != WO_JOB_FD &&
		    j->deadline_ms <= now) {
			*pp = j->next;
			if (j->req)
				j->req->async_done = 1;
			MHD_resume_connection(j->mhd);
			free(j);
			continue;
		}
		pp = &j->next;
	}
	pthread_mutex_unlock(&srv->lock);
}

void *wo_http__event_thread(void *arg)
{
	struct wo_http_server *srv = arg;
	struct poll_set ps = { 0 };
	for (;;) {
		listen_connect(srv);
		pthread_mutex_lock(&srv->lock);
		if (srv->stopping) {
			pthread_mutex_unlock(&srv->lock);
			break;
		}
		long now;
		long next = poll_set_build(&ps, srv, &now);
		reap_ended(srv);
		if (srv->nreap && next > now + 200)
			next = now + 200;
		pthread_mutex_unlock(&srv->lock);
		int timeout = next > now ? (int)(next - now) : 0;
		int r = poll(ps.pfds, ps.n, timeout);
		wo_http__conns_cut_slow(srv, wo_http__now_ms());
		if (r < 0 && errno != EINTR)
			break;
		if (ps.pfds[0].revents) {
			char buf[256];
			while (read(srv->wake_r, buf, sizeof(buf)) > 0)
				;
		}
		/* notifications: bump the run's generation, resume its streams */
		if (srv->listen_conn && (ps.pfds[1].revents || r == 0))
			take_notifications(srv);
		serve_ready(&ps);
		resume_due(srv);
	}
	free(ps.pfds);
	free(ps.jobs);
	return NULL;
}
