/* Inside the HTTP server: the server struct and the event thread's jobs,
 * shared by server.c, router.c and sse.c. */
#ifndef WO_HTTP_SERVER_INT_H
#define WO_HTTP_SERVER_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/types.h>

#include "http/http.h"
#include "util/log.h"

struct MHD_Response;

#define WO_RUN_GEN_SLOTS 1024

enum wo_http_job_kind { WO_JOB_CHILD, WO_JOB_DELAY, WO_JOB_RUN_LOG, WO_JOB_CGI_HEAD, WO_JOB_FD };

/* Something a suspended connection waits for; the event thread resumes the
 * connection when it is done (child ended, deadline passed, run notified). */
struct wo_http_job {
	struct wo_http_job *next;
	enum wo_http_job_kind kind;
	struct wo_req *req;          /* NULL for run-log waits (the stream owns its state) */
	struct MHD_Connection *mhd;
	pid_t pid;
	int fd;
	long long run_id;
	long deadline_ms;
	struct wo_buf *head;         /* WO_JOB_CGI_HEAD: where the output goes until the headers are complete */
};

/* One cached answer, valid while its generation is current: a complete
 * libmicrohttpd response (headers included), queued as is for every request
 * that wants it (MHD counts its references), so a hit costs no copy. */
struct wo_http_blob_cache {
	pthread_mutex_t lock;
	unsigned gen;
	struct MHD_Response *resp;
};

/* A cached JSON value (read-only once cached; jansson's reference counts
 * are atomic here), valid while both its generations are current. */
struct wo_http_json_cache {
	pthread_mutex_t lock;
	unsigned gen_a, gen_b;
	json_t *v;
};

#define WO_AUTH_CACHE_SLOTS 512
#define WO_AUTH_CACHE_MS 30000

struct wo_auth_cache_entry {
	unsigned char key[32];  /* SHA-256 of "t:" token or "s:" session id */
	int used;
	unsigned gen;
	long at_ms;
	struct wo_principal who;
};

/* Connections per client address (see accept_policy in server.c). */
#define WO_HTTP_ADDR_SLOTS 4096
struct wo_http_addr_slot {
	unsigned char addr[16]; /* IPv4 in the first 4 bytes */
	int family;             /* 0: free */
	unsigned count;
};

/* A live connection, for the header deadline: one that has not finished
 * sending a request's headers within header_timeout_ms of opening (or of
 * its previous request's end) is shut down by the event thread, so a client
 * trickling a byte now and then does not keep it. */
struct wo_http_conn {
	int fd;
	long since_ms;
	int in_request; /* its headers arrived; a request (or a stream) is under way */
	int cut;
	struct wo_http_conn *prev, *next;
};

/* Rejected webhook deliveries per client address, in one-minute windows
 * (see wo_http_rejects_over). */
#define WO_HTTP_REJECT_SLOTS 1024
struct wo_http_reject_slot {
	char address[64];
	long window_ms;
	unsigned count;
};

struct wo_http_server {
	struct wo_http_opts opts;
	struct MHD_Daemon *mhd;
	pthread_mutex_t rejects_lock;
	struct wo_http_reject_slot rejects[WO_HTTP_REJECT_SLOTS];
	unsigned rejects_per_min;   /* 0: no limit */
	pthread_mutex_t conns_lock;
	struct wo_http_conn *conns;
	long header_timeout_ms;     /* 0: none */
	unsigned per_address_max;   /* 0: no limit */
	pthread_mutex_t addr_lock;
	struct wo_http_addr_slot *addrs;
	char *public_url;
	char *web_templates_dir;
	char *cli_path;
	int cookie_secure;
	int access_log;
	long last_db_complaint;

	pthread_mutex_t reg_lock;
	struct wo_addon_registry *reg;
	char *reg_error;

	pthread_mutex_t lock;        /* jobs, stopping */
	struct wo_http_job *jobs;
	int stopping;
	pthread_t events;
	int events_started;
	int wake_r, wake_w;
	PGconn *listen_conn;         /* the event thread's, LISTEN webops_run_log */
	long listen_tried_ms;
	unsigned run_gen[WO_RUN_GEN_SLOTS]; /* bumped per notification, by run id slot */
	/* caches, dropped on NOTIFY webops_changes (and whenever the LISTEN
	 * connection is not up, nothing is cached at all) */
	int listening;               /* atomic: the LISTEN connection is up */
	unsigned dep_gen, auth_gen;  /* atomic: bumped per change of deployments / tokens, sessions, users */
	struct wo_http_blob_cache deployments;
	unsigned runs_gen;           /* atomic: bumped on any run or run-log notification */
	struct wo_http_json_cache page_list, page_runs; /* the deployments page's inputs */
	pthread_mutex_t auth_lock;
	struct wo_auth_cache_entry auth[WO_AUTH_CACHE_SLOTS];
	pid_t *reap;                 /* CGI children whose output ended: waited for by the event thread */
	size_t nreap, capreap;
	unsigned long long git_body_max;
	struct wo_hook_writer *hook_writer; /* records webhook deliveries in batches */
};

long wo_http__now_ms(void);
/* A stream's callback response: copies what *pending holds from *off into
 * out (at most max bytes), empties it once all is sent; the byte count, 0
 * when nothing waits. */
size_t wo_http__drain(struct wo_buf *pending, size_t *off, char *out, size_t max);
/* wo_spawn of argv[0] with envp, stdin from in_fd (-1: /dev/null), stdout
 * to out_fd and stderr to err_fd (-1: inherited), signals reset to their
 * defaults and unblocked, no other descriptor of ours. 0, or -1 with the error set. */
int wo_http__spawn(pid_t *pid_out, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd);
/* The same for a webops CLI child that reports its outcome: result_fd
 * becomes its descriptor 3 and WEBOPS_RESULT_FD=3 is in its environment.
 * wo_http__result_code: after it ended (status: its wait status), the
 * error code it reported on that pipe's read end (util/error.h). */
int wo_http__spawn_result(pid_t *pid_out, char *const argv[], int in_fd, int out_fd, int err_fd, int result_fd);
int wo_http__result_code(int result_fd, int status);
/* That outcome as it was written (a JSON object), NULL when there is none. */
json_t *wo_http__read_result(int result_fd);
/* The current generation of the deployments list; 0 when caching is off. */
unsigned wo_http__dep_gen(struct wo_http_server *srv);
/* Answers from c when it holds generation gen (1), else 0. */
int wo_http__cache_send(struct wo_req *req, struct wo_http_blob_cache *c, unsigned gen, const char *content_type);
/* The current generation of the runs (any run queued, changed or logging); 0
 * when caching is off. */
unsigned wo_http__runs_gen(struct wo_http_server *srv);
/* A new reference to the cached value when it holds (a, b), else NULL. */
json_t *wo_http__json_cache_get(struct wo_http_json_cache *c, unsigned a, unsigned b);
/* Keeps a reference to v as generations (a, b); v must not change after. */
void wo_http__json_cache_put(struct wo_http_json_cache *c, unsigned a, unsigned b, json_t *v);
/* Keeps data (copied) as generation gen. */
void wo_http__cache_put(struct wo_http_blob_cache *c, unsigned gen, const char *data, size_t len,
			const char *content_type);
PGconn *wo_http__thread_conn(struct wo_http_server *srv);
/* A message of libmicrohttpd's logger (fmt, ap) as one line of our log. */
void wo_http__mhd_message(enum wo_log_level level, const char *component, const char *fmt, va_list ap);
void wo_http__add_security_headers(struct MHD_Response *r);
int wo_http__queue(struct wo_req *req, int status, struct MHD_Response *r, const char *content_type);
int wo_http__fail(struct wo_req *req, unsigned flags, int status, const char *msg);

/* A stream of server-sent events (sse.c; live.c's page state, sse.c's run
 * logs), embedded first in the stream's own state. Its reader sends what
 * waits in pending; when nothing does it asks fill for more, sends a
 * keepalive comment after WO_HTTP_KEEPALIVE_MS of silence, or calls wait,
 * which suspends the connection until there may be more. */
#define WO_HTTP_KEEPALIVE_MS 15000
struct wo_http_stream {
	struct wo_http_server *srv;
	struct MHD_Connection *mhd;
	struct wo_buf pending;
	size_t off;
	long last_sent_ms;
	int done; /* all is said: the stream ends once pending is sent */
	/* Adds what there is to say to pending, reading with conn: 1 when it
	 * did, 0 when there is nothing new, -1 on a failure. */
	int (*fill)(struct wo_http_stream *st, PGconn *conn);
	/* Nothing to say: 0 once the connection is suspended until there may
	 * be more, 1 to look again at once. */
	int (*wait)(struct wo_http_stream *st);
};
/* Answers req with the stream st (its fill and wait set; embedded first in
 * the state free_st frees, when the stream ends or at once when it cannot
 * be made), the client told to reconnect after retry_ms. cache_control: that
 * header, NULL for the default. 0, or -1 with the error set. */
int wo_http__stream_start(struct wo_req *req, struct wo_http_stream *st, int retry_ms,
			  MHD_ContentReaderFreeCallback free_st, const char *cache_control);
/* With srv->lock held and the connection just suspended: resume it when the
 * run is notified or after ms. */
void wo_http__wait_run(struct wo_http_server *srv, struct MHD_Connection *mhd, long long run_id, int ms);
unsigned wo_http__run_gen(struct wo_http_server *srv, long long run_id);
/* With srv->lock held and the connection just suspended: resume it when fd
 * is readable (or hung up). */
void wo_http__wait_fd(struct wo_http_server *srv, struct MHD_Connection *mhd, int fd);
/* Suspends req; the event thread reads fd into req->child_output until the
 * CGI headers are complete or fd ends, then resume is called. */
int wo_http__wait_cgi_head(struct wo_req *req, int fd, int (*resume)(struct wo_req *));
/* Waits for pid in the background (the event thread reaps it). */
void wo_http__reap_later(struct wo_http_server *srv, pid_t pid);
/* For a child just spawned whose request cannot wait for it (no memory to
 * track it): kills it, closes fd (its output) and reaps it later; -1 with
 * "out of memory" set. */
int wo_http__child_abandon(struct wo_http_server *srv, pid_t pid, int fd);

/* The session cookie's name. */
#define WO_HTTP_SESSION_COOKIE "webops_session"

/* The authentication cache (cache.c): kind 't' (token) or 's' (session);
 * 1 and *out when secret is known and still valid. */
int wo_http__auth_cached(struct wo_http_server *srv, char kind, const char *secret, struct wo_principal *out);
void wo_http__auth_remember(struct wo_http_server *srv, char kind, const char *secret, unsigned gen,
			    const struct wo_principal *who);

/* Clients (clients.c): libmicrohttpd's accept policy (connections per
 * address), its connection notifications, a connection's request state
 * (in_request: its headers are in), and cutting clients too slow to send
 * their headers (from the event thread). */
enum MHD_Result wo_http__accept_policy(void *cls, const struct sockaddr *sa, socklen_t len);
void wo_http__on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			    enum MHD_ConnectionNotificationCode toe);
void wo_http__conn_mark(struct wo_http_server *srv, struct MHD_Connection *c, int in_request);
void wo_http__conns_cut_slow(struct wo_http_server *srv, long now);

/* The event thread (jobs.c), started by wo_http_start, and waking it. */
void *wo_http__event_thread(void *arg);
void wo_http__wake(struct wo_http_server *srv);

#endif
