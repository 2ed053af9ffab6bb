/* CGI programs behind webopsd (git http-backend): spawned with an argument
 * vector, the request body on stdin, and their output streamed to the
 * client as it comes: the request is suspended until the CGI headers are
 * complete, then a callback response reads the pipe, suspending again
 * whenever the program is quiet (the event thread resumes it when the pipe
 * is readable), so a build that a push hook prints line by line reaches
 * `git push` as it happens. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http/server_int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/banned.h"

extern char **environ;

#define CGI_HEAD_MAX (64 * 1024)

struct cgi {
	struct wo_http_server *srv;
	struct MHD_Connection *mhd;
	pid_t pid;
	int fd;
	int eof;
	struct wo_buf buf;  /* output read but not yet sent */
	size_t off;
};

static void cgi_free(void *cls)
{
	struct cgi *c = cls;
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->pid > 0) {
		/* a client that went away mid-stream: the program need not go on */
		if (!c->eof)
			kill(c->pid, SIGTERM);
		wo_http__reap_later(c->srv, c->pid);
	}
	wo_buf_release(&c->buf);
	free(c);
}

static ssize_t cgi_reader(void *cls, uint64_t pos, char *out, size_t max)
{
	struct cgi *c = cls;
	(void)pos;
	if (c->off < c->buf.len)
		return (ssize_t)wo_http__drain(&c->buf, &c->off, out, max);
	if (c->eof || __atomic_load_n(&c->srv->stopping, __ATOMIC_ACQUIRE))
		return MHD_CONTENT_READER_END_OF_STREAM;
	for (;;) {
		ssize_t n = read(c->fd, out, max);
		if (n > 0)
			return n;
		if (n == 0) {
			c->eof = 1;
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		/* quiet for now: sleep until the pipe has something */
		pthread_mutex_lock(&c->srv->lock);
		MHD_suspend_connection(c->mhd);
		wo_http__wait_fd(c->srv, c->mhd, c->fd);
		pthread_mutex_unlock(&c->srv->lock);
		return 0;
	}
}

/* The headers are in (or the program ended): answer with them. */
static int cgi_resume(struct wo_req *req)
{
	struct cgi *c = req->state;
	req->state = NULL;
	req->state_free = NULL;
	struct wo_buf *h = &req->child_output;
	const char *p = wo_buf_cstr(h);
	const char *end = strstr(p, "\r\n\r\n");
	size_t sep = 4;
	const char *lf = strstr(p, "\n\n");
	if (!end || (lf && lf < end)) {
		end = lf;
		sep = 2;
	}
	if (!end) {
		wo_log(WO_LOG_ERROR, "http", "%s %s: the CGI program ended without an answer", req->method, req->path);
		cgi_free(c);
		return wo_http_send_error(req, 502, "the git backend ended without an answer", NULL);
	}
	int status = 200;
	char ctype[256] = "application/octet-stream";
	for (const char *l = p; l < end;) {
		size_t n = strcspn(l, "\r\n");
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) - 1 ? n : sizeof(line) - 1), l);
		char *colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			const char *v = colon + 1;
			while (*v == ' ')
				v++;
			if (!strcasecmp(line, "Status"))
				status = (int)strtol(v, NULL, 10);
			else if (!strcasecmp(line, "Content-Type"))
				snprintf(ctype, sizeof(ctype), "%s", v);
			else if (strcasecmp(line, "Content-Length") && strcasecmp(line, "Transfer-Encoding") &&
				 strcasecmp(line, "Connection"))
				wo_http_add_header(req, line, v);
		}
		l += n;
		while (l < end && (*l == '\r' || *l == '\n'))
			l++;
	}
	if (status < 100 || status > 599)
		status = 502;
	const char *body = end + sep;
	wo_buf_add(&c->buf, body, (size_t)(p + h->len - body));
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, cgi_reader, c, cgi_free);
	if (!r) {
		cgi_free(c);
		return wo_error_set("cannot create the response");
	}
	return wo_http__queue(req, status, r, ctype);
}

static void cgi_state_free(void *p)
{
	cgi_free(p);
}

int wo_http_cgi(struct wo_req *req, char *const argv[], char *const extra_env[])
{
	struct wo_http_server *srv = req->srv;
	size_t ne = 0, nx = 0;
	while (environ[ne])
		ne++;
	while (extra_env && extra_env[nx])
		nx++;
	char **env = calloc(ne + nx + 1, sizeof(*env));
	if (!env)
		return wo_error_set("out of memory");
	size_t k = 0;
	for (size_t i = 0; i < ne; i++) {
		/* an extra entry replaces the inherited one of the same name */
		size_t kl = strcspn(environ[i], "=");
		int replaced = 0;
		for (size_t j = 0; j < nx; j++)
			replaced |= !strncmp(extra_env[j], environ[i], kl + 1);
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < nx; j++)
		env[k++] = extra_env[j];
	env[k] = NULL;

	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0) {
		free(env);
		return wo_error_set("cannot start '%s': %s", argv[0], strerror(errno));
	}
	/* stdin: the spooled body, or the in-memory one through a temp file */
	int in = -1;
	if (req->body_fd >= 0) {
		in = dup(req->body_fd);
		lseek(in, 0, SEEK_SET);
	} else if (req->body.len) {
		const char *tmp = getenv("TMPDIR");
		in = open(tmp && *tmp ? tmp : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (in >= 0 && (write(in, req->body.ptr, req->body.len) != (ssize_t)req->body.len ||
				lseek(in, 0, SEEK_SET) < 0)) {
			close(in);
			in = -1;
		}
	}
	pid_t pid;
	int e = wo_http__spawn(&pid, argv, env, in, out[1], -1);
	free(env);
	if (in >= 0)
		close(in);
	close(out[1]);
	if (e != 0) {
		close(out[0]);
		return -1;
	}
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	struct cgi *c = calloc(1, sizeof(*c));
	if (!c)
		return wo_http__child_abandon(srv, pid, out[0]);
	c->srv = srv;
	c->mhd = req->mhd;
	c->pid = pid;
	c->fd = out[0];
	wo_buf_init(&c->buf, 0);
	req->state = c;
	req->state_free = cgi_state_free;
	wo_buf_init(&req->child_output, CGI_HEAD_MAX);
	return wo_http__wait_cgi_head(req, c->fd, cgi_resume);
}
