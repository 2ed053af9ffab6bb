/* Deployments from the API and the forms: one path into the store, with the
 * addon fields checked against the enabled addons' manifests exactly as the
 * CLI's --set does, so no entry point accepts what another refuses. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "addon/addon.h"
#include "addon/field.h"
#include "http/http.h"
#include "http/server_int.h"
#include "pipeline/runs.h"
#include "store/access.h"
#include "store/deployment.h"
#include "store/webhooks.h"
#include "store/validate.h"
#include "git/hosted.h"
#include "util/log.h"
#include "util/error.h"
#include "util/banned.h"

static const char *const core_keys[] = { "name", "repo_url", "branch", "domain", "port", "env_vars", "addon_fields",
					  "push_only", "health", NULL };

static int visible(const struct wo_addon *a)
{
	return a->enabled && !a->duplicate && a->manifest->nerrors == 0;
}

static void line(struct wo_buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct wo_buf *err, const char *fmt, ...)
{
	if (err->len)
		wo_buf_putc(err, '\n');
	va_list ap;
	va_start(ap, fmt);
	wo_buf_vprintf(err, fmt, ap);
	va_end(ap);
}

/* Typed values {addon: {field: value}} into af; null removes a value. */
static void apply_typed(json_t *af, const json_t *in, const struct wo_addon_registry *reg, struct wo_buf *err)
{
	if (!json_is_object(in)) {
		line(err, "addon_fields: must be an object keyed by addon name, e.g. {\"docker\": {\"use_docker\": true}}");
		return;
	}
	const char *an;
	json_t *fields;
	json_object_foreach((json_t *)in, an, fields) {
		const struct wo_addon *a = wo_addon_registry_find(reg, an);
		if (!a || !visible(a)) {
			line(err, "addon_fields: no enabled addon is called '%s'", an);
			continue;
		}
		if (!json_is_object(fields)) {
			line(err, "addon_fields: the value for '%s' must be an object of field names to values", an);
			continue;
		}
		const char *fn;
		json_t *v;
		json_object_foreach(fields, fn, v) {
			const struct wo_addon_field *f = wo_addon_manifest_field(a->manifest, fn);
			if (!f) {
				struct wo_buf names = WO_BUF_INIT;
				for (size_t i = 0; i < a->manifest->nfields; i++)
					wo_buf_printf(&names, "%s%s", i ? ", " : "", a->manifest->fields[i].name);
				line(err, "unknown field '%s' (addon '%s'); its fields are: %s", fn, an, wo_buf_cstr(&names));
				wo_buf_release(&names);
				continue;
			}
			json_t *mine = json_object_get(af, an);
			if (json_is_null(v)) {
				json_object_del(mine, fn);
				continue;
			}
			/* a secret given back as it was shown keeps its value */
			if (f->secret && json_is_string(v) && !strcmp(json_string_value(v), WO_FIELD_SECRET_MASK))
				continue;
			struct wo_buf why = WO_BUF_INIT;
			json_t *sv = json_incref(v);
			if (wo_addon_field_check(f, v, &why) < 0) {
				line(err, "invalid value for field '%s' (addon '%s', %s): %s", fn, an, wo_field_type_name(f->type),
				     wo_buf_cstr(&why));
			} else if (wo_addon_field_seal(&sv, f, &why) < 0) {
				line(err, "%s", wo_buf_cstr(&why));
			} else {
				if (!json_is_object(mine)) {
					mine = json_object();
					json_object_set_new(af, an, mine);
				}
				json_object_set(mine, fn, sv);
			}
			json_decref(sv);
			wo_buf_release(&why);
		}
	}
}

/* Text values {"addon.field": "text"} into af, parsed by each field's type;
 * "" removes the value. */
static void apply_text(json_t *af, const json_t *text, const struct wo_addon_registry *reg, struct wo_buf *err)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)text, key, v) {
		const char *t = json_string_value(v);
		if (!t)
			continue;
		if (!*t) {
			const char *dot = strchr(key, '.');
			if (dot) {
				char *an = strndup(key, (size_t)(dot - key));
				json_object_del(json_object_get(af, an), dot + 1);
				free(an);
				continue;
			}
		}
		struct wo_buf e = WO_BUF_INIT;
		if (wo_addon_fields_apply(af, reg, key, t, &e) < 0)
			line(err, "%s", wo_buf_cstr(&e));
		wo_buf_release(&e);
	}
}

/* The store's validator in the HTTP process, which never runs addon code:
 * `webops deployment validate` in a child reads the record on stdin and
 * prints the addons' objections (their validate hooks). */
/* Runs `webops ARGS...` (the CLI next to webopsd) with stdin_text on its
 * stdin, its stdout and stderr in *said; returns its wait status, or -1
 * when it could not be run. Blocks this thread until it ends. */
static int cli_capture(struct wo_http_server *srv, char *const args[], const char *stdin_text, struct wo_buf *said,
		       int *code)
{
	char *argv[8] = { (char *)wo_http_cli_path(srv) };
	for (int i = 0; args[i] && i < 6; i++)
		argv[i + 1] = args[i];
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, res[2] = { -1, -1 };
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC | O_NONBLOCK) < 0) {
		for (int i = 0; i < 2; i++) {
			if (in[i] >= 0)
				close(in[i]);
			if (outp[i] >= 0)
				close(outp[i]);
		}
		return -1;
	}
	pid_t pid;
	int e = wo_http__spawn_result(&pid, argv, in[0], outp[1], outp[1], res[1]);
	close(in[0]);
	close(outp[1]);
	close(res[1]);
	if (e != 0) {
		close(in[1]);
		close(outp[0]);
		close(res[0]);
		return -1;
	}
	/* the child reads all of stdin before it says anything */
	size_t len = stdin_text ? strlen(stdin_text) : 0, off = 0;
	while (off < len) {
		ssize_t w = write(in[1], stdin_text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(in[1]);
	char buf[4096];
	for (;;) {
		ssize_t r = read(outp[0], buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		wo_buf_add(said, buf, (size_t)r);
	}
	close(outp[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*code = wo_http__result_code(res[0], st);
	close(res[0]);
	while (said->len && (said->ptr[said->len - 1] == '\n' || said->ptr[said->len - 1] == ' '))
		wo_buf_truncate(said, said->len - 1);
	return st;
}

/* The store's validator in the HTTP process, which never runs addon code:
 * `webops deployment validate` in a child reads the record on stdin and
 * prints the addons' objections (their validate hooks). */
/* the principal a save on this thread is made for (set around the store call) */
static __thread const struct wo_principal *saving_for;

static int http_validate(void *ud, const json_t *record, struct wo_buf *err)
{
	char *text = json_dumps(record, JSON_COMPACT);
	struct wo_buf said;
	wo_buf_init(&said, 64 * 1024);
	/* the addons judge some values by who asks (docker: host options are for admins) */
	const struct wo_principal *p = saving_for;
	char *args[] = { "deployment", "validate", p ? "--actor-role" : NULL,
			 p ? (char *)wo_role_name(wo_access_role(p)) : NULL, p && p->user[0] ? "--actor-user" : NULL,
			 p && p->user[0] ? (char *)p->user : NULL, NULL };
	int code = WO_ERROR;
	int st = text ? cli_capture(ud, args, text, &said, &code) : -1;
	free(text);
	int rc = 0;
	if (st == -1) {
		wo_buf_puts(err, "cannot validate the deployment: cannot run the webops command");
		rc = -1;
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		const char *msg = wo_buf_cstr(&said);
		if (!strncmp(msg, "webops: ", 8))
			msg += 8;
		wo_buf_puts(err, *msg ? msg : "the deployment was refused by an addon");
		/* what kind of refusal, as the child reported it (a taken port: 409) */
		rc = code == WO_EEXISTS || code == WO_EINVALID || code == WO_EFORBIDDEN ? code : -1;
	}
	wo_buf_release(&said);
	return rc;
}

/* A new deployment without a branch takes its repository's default branch
 * (where its HEAD points), asked by `webops deployment default-branch URL`
 * in a child (a network call with a time limit, kept out of this process).
 * The request waits for it suspended, so a silent repository holds no HTTP
 * thread; the handler runs again afterwards (the request's body is still
 * there), and finds the answer in req->state. */
struct branch_wait {
	char *branch; /* NULL: it could not say */
	int (*then)(struct wo_req *);
};

static void branch_wait_free(void *p)
{
	struct branch_wait *w = p;
	if (!w)
		return;
	free(w->branch);
	free(w);
}

static int branch_resume(struct wo_req *req)
{
	struct branch_wait *w = req->state;
	struct wo_buf *said = &req->child_output;
	while (said->len && (said->ptr[said->len - 1] == '\n' || said->ptr[said->len - 1] == ' '))
		wo_buf_truncate(said, said->len - 1);
	if (WIFEXITED(req->child_status) && WEXITSTATUS(req->child_status) == 0 && said->len &&
	    wo_validate_branch(wo_buf_cstr(said), NULL) == 0)
		w->branch = strdup(wo_buf_cstr(said));
	return w->then(req);
}

/* Whether a create of input needs the lookup: no branch given, a repo_url
 * this account may use, not push-only. */
static const char *needs_default_branch(const json_t *input)
{
	const json_t *br = json_object_get(input, "branch"), *url = json_object_get(input, "repo_url");
	if (br && !(json_is_string(br) && !*json_string_value(br)))
		return NULL;
	if (json_is_true(json_object_get(input, "push_only")) || !json_is_string(url) ||
	    wo_validate_repo_url(json_string_value(url), NULL) < 0)
		return NULL;
	struct wo_buf err = WO_BUF_INIT;
	wo_validate_repo_url_for_user(json_string_value(url), &err);
	int refused = err.len > 0;
	wo_buf_release(&err);
	return refused ? NULL : json_string_value(url);
}

int wo_http_deployment_create_begin(struct wo_req *req, const json_t *input, int (*then)(struct wo_req *))
{
	const char *url = json_is_object(input) ? needs_default_branch(input) : NULL;
	if (!url || req->state)
		return 0; /* nothing to ask, or asked already */
	struct branch_wait *w = calloc(1, sizeof(*w));
	if (!w)
		return wo_error_set("out of memory");
	char *argv[] = { (char *)wo_http_cli_path(req->srv), "deployment", "default-branch", (char *)url, NULL };
	w->then = then;
	req->state = w;
	req->state_free = branch_wait_free;
	if (wo_http_spawn(req, argv, branch_resume) < 0) {
		req->state = NULL;
		req->state_free = NULL;
		branch_wait_free(w);
		return -1;
	}
	return 1;
}

/* push_only (v) of a save's input: only a new deployment can be made
 * push-only; its repository is then its staging repository (git/hosted.h),
 * a deployment fed by `git push` to webops. */
static void push_only_field(json_t *rec, struct wo_req *req, const char *name, const json_t *input, const json_t *v,
			    struct wo_buf *err)
{
	if (!json_is_boolean(v)) {
		line(err, "push_only: must be true or false");
	} else if (json_is_true(v) && !name) {
		if (json_object_get(input, "repo_url")) {
			line(err, "push_only: a push-only deployment has no repo_url (leave it out)");
		} else {
			struct wo_buf url = WO_BUF_INIT;
			const char *n = json_string_value(json_object_get(input, "name"));
			if (n && wo_validate_name(n, NULL) == 0 &&
			    wo_git_hosted_staging_url(&url, wo_http_config(req)->data_dir, n) == 0)
				json_object_set_new(rec, "repo_url", json_string(wo_buf_cstr(&url)));
			wo_buf_release(&url);
			json_object_set_new(rec, "push_only", json_true());
		}
	} else if (json_is_true(v)) {
		line(err, "push_only: only a new deployment can be made push-only");
	}
}

/* The record to store from a save's input, but its addon fields: the core
 * fields as given (a name only when creating), problems into err. */
static json_t *core_record(struct wo_req *req, const char *name, const json_t *input, struct wo_buf *err)
{
	json_t *rec = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)input, k, v) {
		int known = 0;
		for (int i = 0; core_keys[i]; i++)
			known |= !strcmp(core_keys[i], k);
		if (!known) {
			line(err, "field '%s' is unknown: use name, repo_url, branch, domain, port, env_vars, addon_fields, "
			     "push_only, health", k);
			continue;
		}
		if (!strcmp(k, "addon_fields"))
			continue;
		if (!strcmp(k, "push_only")) {
			push_only_field(rec, req, name, input, v, err);
			continue;
		}
		if (name && !strcmp(k, "name")) {
			if (!json_is_string(v) || strcmp(json_string_value(v), name) != 0)
				line(err, "name: a deployment cannot be renamed");
			continue;
		}
		json_object_set(rec, k, v);
	}
	return rec;
}

/* A new deployment without a branch: the repository's default branch,
 * looked up beforehand (wo_http_deployment_create_begin); without it the
 * store's default. */
static void default_branch(json_t *rec, struct wo_req *req)
{
	const json_t *br = json_object_get(rec, "branch");
	const json_t *url = json_object_get(rec, "repo_url");
	if ((br && !(json_is_string(br) && !*json_string_value(br))) || json_is_true(json_object_get(rec, "push_only")) ||
	    !json_is_string(url))
		return;
	struct branch_wait *w = req->state_free == branch_wait_free ? req->state : NULL;
	if (w && w->branch)
		json_object_set_new(rec, "branch", json_string(w->branch));
	else
		json_object_del(rec, "branch");
}

/* rec's addon fields: the current ones (cur, NULL when creating) with what
 * the input gives typed (addon_fields) or as form text (addon_text), the
 * defaults when creating, checked against the enabled addons' manifests;
 * problems into err. -1 when the addon registry is not there. */
static int addon_fields(json_t *rec, struct wo_req *req, const char *name, const json_t *cur, const json_t *af_in,
			const json_t *addon_text, struct wo_buf *err)
{
	struct wo_addon_registry *reg = wo_http_registry_lock(req);
	if (!reg)
		return -1;
	json_t *af = cur ? json_deep_copy(json_object_get(cur, "addon_fields")) : json_object();
	if (!json_is_object(af)) {
		json_decref(af);
		af = json_object();
	}
	if (af_in)
		apply_typed(af, af_in, reg, err);
	if (addon_text)
		apply_text(af, addon_text, reg, err);
	if (!name && wo_addon_fields_defaults(af, reg) < 0)
		line(err, "%s", wo_error_last());
	if (!err->len)
		wo_addon_fields_validate(af, reg, err);
	wo_http_registry_unlock(req);
	json_object_set_new(rec, "addon_fields", af);
	return 0;
}

/* A deployment just made (d): its creator owns it (a token of no user: the
 * host's admins); it gets its webhook secret, and the repositories `git
 * push` goes to. */
static void created(json_t *d, struct wo_req *req)
{
	const char *n = json_string_value(json_object_get(d, "name"));
	if (req->who.user_id && wo_deployment_set_owner(req->conn, n, req->who.user) == 0)
		json_object_set_new(d, "owner", json_string(req->who.user));
	char *secret = NULL;
	if (wo_webhook_secret(&secret, req->conn, n, 0) == 0)
		free(secret);
	if (wo_git_hosted_ensure(wo_http_config(req)->data_dir, n, json_string_value(json_object_get(d, "branch"))) < 0)
		wo_log(WO_LOG_WARN, "http", "deployment '%s': cannot create its push repositories yet: %s", n,
		       wo_error_last());
}

/* WO_EINVALID with every problem in err, the core fields' own too (checked
 * on rec when creating), so one answer lists everything. */
static int refuse_save(json_t *rec, const char *name, struct wo_buf *err)
{
	json_t *probe = json_deep_copy(rec);
	json_object_del(probe, "addon_fields");
	if (!name && wo_deployment_validate(probe) < 0)
		line(err, "%s", wo_error_last());
	json_decref(probe);
	wo_error_setc(WO_EINVALID, "%s", err->ptr);
	return WO_EINVALID;
}

int wo_http_deployment_save(json_t **out, struct wo_req *req, const char *name, const json_t *input,
			    const json_t *addon_text)
{
	/* every save asks the addons (the same value from every thread) */
	wo_deployment_set_validator(http_validate, req->srv);
	struct wo_buf err = WO_BUF_INIT;
	if (!json_is_object(input))
		return wo_error_setc(WO_EINVALID, "the body must be a JSON object with the deployment's fields");
	json_t *rec = core_record(req, name, input, &err);

	/* a repository on this host is the operator's to use, not an account's:
	 * checked before anything connects to it */
	const json_t *given = json_object_get(input, "repo_url");
	if (json_is_string(given) && wo_validate_repo_url(json_string_value(given), NULL) == 0)
		wo_validate_repo_url_for_user(json_string_value(given), &err);
	if (!name && !err.len)
		default_branch(rec, req);

	json_t *cur = NULL;
	int rc = name ? wo_deployment_get(&cur, req->conn, name) : 0;
	const json_t *af_in = json_object_get(input, "addon_fields");
	if (rc == 0 && (!name || af_in || json_object_size(addon_text)))
		rc = addon_fields(rec, req, name, cur, af_in, addon_text, &err);
	json_decref(cur);
	if (rc == 0 && err.len)
		rc = refuse_save(rec, name, &err);
	if (rc == 0) {
		saving_for = &req->who;
		rc = name ? wo_deployment_update(out, req->conn, name, rec) : wo_deployment_create(out, req->conn, rec);
		saving_for = NULL;
		if (rc == 0 && !name)
			created(*out, req);
	}
	json_decref(rec);
	wo_buf_release(&err);
	return rc;
}

int wo_http_deployment_deploy(json_t **out, struct wo_req *req, const char *name, const char *ref,
			      const char *trigger)
{
	return wo_run_enqueue(out, req->conn, name, trigger, ref);
}

int wo_http_deployment_action(struct wo_req *req, const char *name, const char *action, int force,
			      int (*resume)(struct wo_req *))
{
	char *argv[] = { (char *)wo_http_cli_path(req->srv), "deployment", (char *)action, (char *)name,
			 force ? "--force" : NULL, NULL };
	return wo_http_spawn(req, argv, resume);
}
