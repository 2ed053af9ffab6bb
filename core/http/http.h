/* webopsd's front door: an HTTP server (libmicrohttpd, thread pool + epoll)
 * serving the web UI, the JSON API and live run logs. It runs in its own
 * process (forked by webopsd before any thread exists), never runs addon code
 * and never blocks on a deploy: deploys are rows in the run queue, lifecycle
 * actions run as `webops deployment ACTION` child processes that a single
 * event thread watches while the request is suspended. */
#ifndef WO_HTTP_HTTP_H
#define WO_HTTP_HTTP_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config/config.h"
#include "store/auth.h"
#include "http/form.h"
#include "util/buf.h"

struct MHD_Connection;
struct wo_addon_registry;
struct wo_http_server;
struct wo_req;

#define WO_HTTP_BODY_MAX_DEFAULT (1024 * 1024)

struct wo_http_opts {
	const struct wo_config *cfg; /* borrowed for the server's lifetime */
	const char *conninfo;        /* each pool thread opens its own connection */
	int listen_fd;               /* a bound, listening socket (see wo_http_listen) */
	int threads;                 /* pool size (WEBOPS_HTTP_THREADS, default 4) */
	size_t body_max;             /* request body cap (WEBOPS_HTTP_BODY_MAX, default 1 MiB) */
	const char *public_url;      /* how people reach us, for links: http://127.0.0.1:8000 */
	/* a request with this in X-Webops-Proxy came through webops's own proxy
	 * (proxy-nginx's ui_domain): its X-Forwarded-Proto and X-Real-IP are
	 * believed. NULL or "": none is. */
	const char *proxy_token;
};

/* Parses "HOST:PORT", "[V6]:PORT", ":PORT" or "unix:/path", binds and
 * listens (O_CLOEXEC). On success *url_out is "http://HOST:PORT" (the
 * actual port when 0 was asked) or "unix:/path". */
int wo_http_listen(int *fd_out, char **url_out, const char *spec);

/* Starts the pool and the event thread. */
int wo_http_start(struct wo_http_server **out, const struct wo_http_opts *opts);
void wo_http_stop(struct wo_http_server *srv);

/* ---- requests, as handlers see them ---- */

enum wo_auth_kind { WO_AUTH_NONE, WO_AUTH_SESSION, WO_AUTH_TOKEN };

#define WO_ROUTE_PARAMS_MAX 4

struct wo_req {
	struct wo_http_server *srv;
	struct MHD_Connection *mhd;
	char method[16];
	char *path;                  /* decoded path, without the query */
	const char *content_type;    /* borrowed from MHD; may be NULL */
	struct wo_buf body;          /* the whole body, capped at body_max */
	int body_too_large;
	unsigned long long discarded; /* bytes of a too-large body read and dropped, to answer 413 after it */
	int conflicting_length;      /* two Content-Length headers that disagree: 400 */
	size_t body_limit;           /* the cap that applies: body_max, 5 MiB for /hooks/, push max for /git/ */
	int body_fd;                 /* /git/ routes: the body spooled to an unlinked temp file (else -1) */
	unsigned long long body_spooled;
	PGconn *conn;                /* this pool thread's connection; NULL when the database is away */
	char address[64];            /* the peer, for throttling and the session list */
	int tls;                     /* the request came over TLS: to webops's own proxy (see
	                              * proxy_token), or WEBOPS_COOKIE_SECURE=1 */

	enum wo_auth_kind auth;
	struct wo_principal who;
	char sid[WO_SECRET_TEXT_LEN + 1]; /* the session cookie, when auth == WO_AUTH_SESSION */

	struct wo_form form;         /* the parsed form body (wo_http_form) */
	int form_state;              /* 0 not parsed, 1 parsed, -1 not a form */

	const char *params[WO_ROUTE_PARAMS_MAX]; /* {name} parts of the route, decoded; borrowed */
	int nparams;
	char *param_store;

	/* asynchronous work (a child process, a delay): set by the helpers below */
	int suspended;
	int async_done;
	int (*resume)(struct wo_req *req);   /* called when the request is handled again */
	int child_status;                    /* wait status of the child */
	int child_result_fd;                 /* where a CLI child writes its outcome (WEBOPS_RESULT_FD), -1 */
	json_t *child_result;                /* that outcome, once read: {"exit", "code", "error"} */
	struct wo_buf child_output;          /* what it printed (stdout and stderr, capped) */
	void *state;                         /* handler's own, freed with state_free */
	void (*state_free)(void *);
	int queued;                          /* a response was queued */
	int status;                          /* its status */
	struct wo_buf resp_headers;          /* extra headers: name NUL value NUL ... */
};

/* A handler queues exactly one response (wo_http_send* or wo_http_suspend_*)
 * and returns 0; a negative return answers 500 with the wo_error message. */
typedef int (*wo_http_handler)(struct wo_req *req);

/* Query string or form value by name; NULL when absent. */
const char *wo_http_query(struct wo_req *req, const char *name);
/* A form field of the body (urlencoded or multipart): the last value, or
 * the i-th for repeated names; NULL when absent. */
const char *wo_http_form(struct wo_req *req, const char *name);
const char *wo_http_form_nth(struct wo_req *req, const char *name, size_t i);
/* A request header; NULL when absent. */
const char *wo_http_header(struct wo_req *req, const char *name);
/* The request's cookie `name`; NULL when absent. */
const char *wo_http_cookie(struct wo_req *req, const char *name);
/* The server's resources. */
const struct wo_config *wo_http_config(struct wo_req *req);
const char *wo_http_public_url(struct wo_req *req);
const char *wo_http_conninfo(struct wo_req *req);

/* Extra response headers for the next send (name and value copied). */
void wo_http_add_header(struct wo_req *req, const char *name, const char *value);
/* Sends a response; data is copied. Security headers are always added. */
int wo_http_send(struct wo_req *req, int status, const char *content_type, const void *data, size_t len);
/* JSON (the value is not stolen). */
int wo_http_send_json(struct wo_req *req, int status, const json_t *v);
/* {"error": {"message": msg, "fields": fields}} with fields possibly NULL. */
int wo_http_send_error(struct wo_req *req, int status, const char *msg, const json_t *fields);
/* A validation error: each line of msg goes to fields[<field it names>]; 422. */
int wo_http_send_validation(struct wo_req *req, const char *msg);
/* 303 See Other to location (a path of ours). */
int wo_http_redirect(struct wo_req *req, const char *location);
/* Sets the session cookie (value NULL: clears it). */
void wo_http_set_session_cookie(struct wo_req *req, const char *sid);

/* Maps each line of a validation message to the field it names: {field: msg}
 * (lines naming no known field go under "_"). */
json_t *wo_http_error_fields(const char *msg);

/* Runs argv (no shell; argv[0] an absolute path) in a child with stdin on
 * /dev/null and stdout+stderr captured into req->child_output; the request
 * is suspended until the child exits, then req->resume(req) is called on a
 * pool thread to answer. */
int wo_http_spawn(struct wo_req *req, char *const argv[], int (*resume)(struct wo_req *));
/* After a spawned webops CLI ended: its error code (util/error.h), from the
 * outcome it wrote on the descriptor it was given (WEBOPS_RESULT_FD): never
 * from its words. WO_OK when it succeeded. */
int wo_http_child_code(struct wo_req *req);
/* Suspends the request for ms milliseconds, then calls resume. */
int wo_http_delay(struct wo_req *req, int ms, int (*resume)(struct wo_req *));
/* Suspends the request until wo_http_resume(req) (from any thread), after
 * which resume(req) answers it on a pool thread. */
void wo_http_suspend(struct wo_req *req, int (*resume)(struct wo_req *));
void wo_http_resume(struct wo_req *req);
/* The generation of the deployments table: it changes whenever anything in
 * it does; 0 when changes cannot be seen (nothing may be cached then). */
unsigned wo_http_deployments_gen(struct wo_req *req);
/* The server's writer of webhook deliveries (http/webhook_writer.h). */
struct wo_hook_writer *wo_http_hook_writer(struct wo_req *req);
/* Rejected webhook deliveries from req's address: wo_http_rejects_over
 * says whether it had its budget this minute (the seconds until the next
 * window in *retry_s); wo_http_rejects_count counts one more. */
int wo_http_rejects_over(struct wo_req *req, int *retry_s);
void wo_http_rejects_count(struct wo_req *req);
/* Path of our own `webops` program (next to webopsd). */
const char *wo_http_cli_path(struct wo_http_server *srv);

/* A token, session or user was changed through this request: forget every
 * remembered authentication now (other processes' changes arrive by NOTIFY,
 * within milliseconds). */
void wo_http_auth_changed(struct wo_req *req);

/* The addon registry of this process (loaded at start, probed once), with
 * its enabled flags and settings refreshed from the database. Hold it only
 * between lock and unlock; conn is the request's. */
struct wo_addon_registry *wo_http_registry_lock(struct wo_req *req);
void wo_http_registry_unlock(struct wo_req *req);

/* Renders templates/web/<name>.mustache with data (added: "me" {user} and
 * "csrf" for a session, "version") and sends it as text/html. */
int wo_http_render(struct wo_req *req, int status, const char *name, json_t *data);

/* ---- deployments from any entry point (deploy_input.c) ---- */
/* Creates (name NULL) or updates a deployment from input {name, repo_url,
 * branch, domain, port, env_vars, addon_fields: {addon: {field: value}}}
 * with typed addon values, and/or addon_text {"addon.field": "text"} parsed
 * by each field's type (forms). Addon fields are checked against the enabled
 * addons' manifests (unknown ones refused), defaults filled on create.
 * -1 with a validation message (one line per problem, each naming its
 * field), WO_ENOTFOUND when updating a deployment that does not exist. */
int wo_http_deployment_save(json_t **out, struct wo_req *req, const char *name, const json_t *input,
			    const json_t *addon_text);
/* Before wo_http_deployment_save creates from input: when input has no
 * branch, suspends the request while a child asks the repository for its
 * default branch and returns 1; then(req) is called afterwards, on a pool
 * thread, to run the handler again (the request's body is still there):
 * this call returns 0 then, and the save takes the answer. 0: nothing to
 * ask, go on; -1 on error. */
int wo_http_deployment_create_begin(struct wo_req *req, const json_t *input, int (*then)(struct wo_req *));
/* Queues a deploy run (trigger "api" or "web"); the run record in out. */
int wo_http_deployment_deploy(json_t **out, struct wo_req *req, const char *name, const char *ref,
			      const char *trigger);
/* Spawns `webops deployment ACTION NAME [--force]` (start, stop, restart,
 * delete) with the request suspended; resume is called when it is done, with
 * req->child_status and req->child_output set. force: go on when a hook
 * fails (the CLI's --force). */
int wo_http_deployment_action(struct wo_req *req, const char *name, const char *action, int force,
			      int (*resume)(struct wo_req *));
/* The last "webops: ..." line of a CLI child's output (the error), borrowed
 * into buf. */
const char *wo_http_child_error(struct wo_req *req, struct wo_buf *buf);

/* ---- live run logs ---- */
/* Streams run_id's log as Server-Sent Events from after_seq; ends with an
 * `event: result` carrying the run's final record. */
int wo_http_sse_run_log(struct wo_req *req, long long run_id, long long after_seq);
/* The pages' live state (http/live.c): the deployments the user may read
 * (only: that one), as event "state" whenever it changes. */
int wo_http_live(struct wo_req *req, const char *only);

/* ---- routes (router.c) ---- */
enum {
	WO_ROUTE_PUBLIC = 1,  /* no authentication */
	WO_ROUTE_API = 2,     /* JSON errors; bearer token or session (+ X-CSRF-Token on writes) */
	WO_ROUTE_PAGE = 4,    /* HTML; a session, else a redirect to /login; forms need _csrf */
	WO_ROUTE_GIT = 8,     /* git smart HTTP: Basic auth with an API token as the password */
	WO_ROUTE_RAW = 16,    /* the handler judges the body's type itself (webhooks) */
};

/* Bodies of /hooks/ may be this large (forges send big push payloads). */
#define WO_HTTP_HOOK_BODY_MAX (5 * 1024 * 1024)
/* A body over its limit is read and dropped up to this many bytes, so a
 * client that sends it all before reading (no Expect: 100-continue) gets
 * its 413 instead of a reset connection; beyond it the connection closes. */
#define WO_HTTP_DISCARD_MAX (64ULL * 1024 * 1024)
/* Bodies of /git/ (pushes) are spooled to disk up to WEBOPS_GIT_PUSH_MAX
 * bytes, default 2 GiB. */
#define WO_HTTP_GIT_BODY_MAX_DEFAULT (2ULL * 1024 * 1024 * 1024)

/* Runs a CGI program (git http-backend) for req: argv with no shell, the
 * environment of this process plus extra_env ("K=V" strings, NULL-ended),
 * stdin the request body (req->body_fd, or the in-memory body). Answers with
 * the program's Status and headers and streams its output to the client as
 * it comes, without holding a pool thread while the program is quiet. */
int wo_http_cgi(struct wo_req *req, char *const argv[], char *const extra_env[]);

/* What a route acts on, for the access check before its handler runs. */
enum wo_route_subject {
	WO_SUBJECT_NONE,       /* nothing named: the permission alone */
	WO_SUBJECT_DEPLOYMENT, /* params[0] is a deployment's name */
	WO_SUBJECT_RUN,        /* params[0] is a run's id */
	WO_SUBJECT_OWN,        /* the handler checks (git: the repository and the service) */
};

struct wo_route {
	const char *method;
	const char *pattern;  /* "/api/v1/deployments/{name}" */
	unsigned flags;
	wo_http_handler fn;
	int perm;             /* enum wo_perm (store/access.h), checked for non-public routes */
	int subject;          /* enum wo_route_subject */
};

/* The access check of the route's permission for the request's principal
 * (store/access.c decides): 0 to go on, else an answer was queued (404 for
 * what it may not see, 403 for what it may not do) and the handler must not run. */
int wo_http_access(struct wo_req *req, int perm, int subject, const char *param);
/* The names of the deployments the request's principal may read, as a JSON
 * object used as a set; *out NULL when it may read every one. */
int wo_http_visible_names(json_t **out, struct wo_req *req);
/* Keeps the elements of arr whose member `key` is in names (names NULL:
 * all); takes arr's reference, returns the kept array's. */
json_t *wo_http_filter_by_name(json_t *arr, const json_t *names, const char *key);

/* Finds the route: 0 and *out set; 404 when no pattern matches; 405 when a
 * pattern matches but not the method (allow gets the allowed methods). */
int wo_http_route(const struct wo_route **out, struct wo_req *req, char *allow, size_t allow_cap);
extern const struct wo_route wo_http_routes[];

/* Handlers (api.c, pages.c, auth_pages.c, static.c). */
#define WO_HANDLER(name) int name(struct wo_req *req)
#include "http/handlers.h"

#endif
