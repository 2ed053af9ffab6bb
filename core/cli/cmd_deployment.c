/* `webops deployment create|list|show|update|delete`. */
#include <errno.h>
#include <unistd.h>
#include <sys/wait.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon/addon.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "cli/cmd_git.h"
#include "cli/output.h"
#include "git/fetch.h"
#include "git/hosted.h"
#include "pipeline/lifecycle.h"
#include "store/deployment.h"
#include "store/access.h"
#include "store/validate.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/spawn.h"
#include "util/url.h"
#include "util/banned.h"


static int usage_err(const char *fmt, const char *arg)
{
	return wo_cli_usage_error("deployment", fmt, arg);
}

/* Records as they may be shown: repo_url through the one URL redaction,
 * secret fields masked. */
static void shown(json_t *records)
{
	wo_url_redact_json(records, "repo_url");
	wo_addon_fields_mask(records);
}

static void print_human(const json_t *d)
{
	const json_t *v;
	printf("name:       %s\n", json_string_value(json_object_get(d, "name")));
	printf("repo_url:   %s%s\n", json_string_value(json_object_get(d, "repo_url")),
	       json_is_true(json_object_get(d, "push_only")) ? " (push-only: deployed from what is pushed to webops)" : "");
	printf("branch:     %s\n", json_string_value(json_object_get(d, "branch")));
	v = json_object_get(d, "domain");
	printf("domain:     %s\n", json_is_string(v) ? json_string_value(v) : "-");
	v = json_object_get(d, "port");
	if (json_is_integer(v))
		printf("port:       %lld\n", (long long)json_integer_value(v));
	else
		printf("port:       -\n");
	printf("status:     %s\n", json_string_value(json_object_get(d, "status")));
	const json_t *env = json_object_get(d, "env_vars");
	if (json_object_size(env) == 0)
		printf("env:        -\n");
	const char *key;
	json_t *val;
	int first = 1;
	json_object_foreach((json_t *)env, key, val) {
		printf("%s%s=", first ? "env:        " : "            ", key);
		wo_out_escaped(stdout, json_string_value(val));
		putchar('\n');
		first = 0;
	}
	const json_t *af = json_object_get(d, "addon_fields");
	const char *addon;
	json_t *fields;
	json_object_foreach((json_t *)af, addon, fields) {
		json_object_foreach(fields, key, val) {
			char *txt = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
			printf("%-11s %s (%s)\n", "field:", key, addon);
			printf("            = %s\n", txt ? txt : "?");
			free(txt);
		}
	}
	const json_t *h = json_object_get(d, "health");
	if (json_is_object(h)) {
		printf("health:     every %llds, timeout %llds, unhealthy after %lld failure(s), start period %llds, "
		       "at most %lld restart(s) an hour\n",
		       (long long)json_integer_value(json_object_get(h, "interval_s")),
		       (long long)json_integer_value(json_object_get(h, "timeout_s")),
		       (long long)json_integer_value(json_object_get(h, "retries")),
		       (long long)json_integer_value(json_object_get(h, "start_period_s")),
		       (long long)json_integer_value(json_object_get(h, "restarts_per_hour")));
		const json_t *path = json_object_get(h, "path");
		if (json_is_string(path)) {
			printf("            probe GET ");
			wo_out_escaped(stdout, json_string_value(path));
			if (json_is_integer(json_object_get(h, "status")))
				printf(" expecting %lld", (long long)json_integer_value(json_object_get(h, "status")));
			else
				printf(" expecting a status below 400");
			if (json_is_string(json_object_get(h, "body"))) {
				printf(" containing '");
				wo_out_escaped(stdout, json_string_value(json_object_get(h, "body")));
				printf("'");
			}
			printf("\n");
		}
	}
	printf("created_at: %s\n", json_string_value(json_object_get(d, "created_at")));
	printf("updated_at: %s\n", json_string_value(json_object_get(d, "updated_at")));
}

/* KEY=VALUE into obj; the key is validated, the value is any text. */
static int put_env(json_t *env, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return wo_error_set("env '%s' is invalid: use KEY=VALUE", arg);
	char *key = strndup(arg, (size_t)(eq - arg));
	struct wo_buf err = WO_BUF_INIT;
	int rc = 0;
	json_t *v = NULL;
	if (wo_validate_env_key(key, &err) < 0)
		rc = wo_error_set("%s", err.ptr);
	else if (!(v = json_string(eq + 1)))
		/* jansson takes only UTF-8: say so instead of dropping the variable */
		rc = wo_error_set("env '%s': the value is not valid UTF-8 text", key);
	else
		json_object_set_new(env, key, v);
	wo_buf_release(&err);
	free(key);
	return rc;
}

struct opts {
	json_t *fields;    /* what the user gave */
	json_t *env_set;   /* --env */
	json_t *env_unset; /* --unset-env keys */
	json_t *health;    /* --health-* */
	char **sets;
	int nsets;
	int json;
	int push;          /* --push: fed only by git push (create) */
	char **pos;        /* operands */
	int npos;
};

static void opts_release(struct opts *o)
{
	json_decref(o->fields);
	json_decref(o->env_set);
	json_decref(o->env_unset);
	json_decref(o->health);
	free(o->sets);
	free(o->pos);
}

enum { OPT_HEALTH_INTERVAL, OPT_HEALTH_TIMEOUT, OPT_HEALTH_RETRIES, OPT_HEALTH_START, OPT_HEALTH_RESTARTS,
       OPT_HEALTH_PATH, OPT_HEALTH_STATUS, OPT_HEALTH_BODY, OPT_HEALTH_N };

/* --health-* values: integers are checked as numbers here, ranges by the store. */
static int put_health(json_t *h, int opt, const char *arg)
{
	static const struct { int opt; const char *key, *flag; } map[] = {
		{ OPT_HEALTH_INTERVAL, "interval_s", "--health-interval" },
		{ OPT_HEALTH_TIMEOUT, "timeout_s", "--health-timeout" },
		{ OPT_HEALTH_RETRIES, "retries", "--health-retries" },
		{ OPT_HEALTH_START, "start_period_s", "--health-start-period" },
		{ OPT_HEALTH_RESTARTS, "restarts_per_hour", "--health-restarts" },
		{ OPT_HEALTH_STATUS, "status", "--health-status" },
		{ OPT_HEALTH_PATH, "path", "--health-path" },
		{ OPT_HEALTH_BODY, "body", "--health-body" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (map[i].opt != opt)
			continue;
		if (!*arg && (opt == OPT_HEALTH_PATH || opt == OPT_HEALTH_STATUS || opt == OPT_HEALTH_BODY)) {
			json_object_set_new(h, map[i].key, json_null());
			return 0;
		}
		if (opt == OPT_HEALTH_PATH || opt == OPT_HEALTH_BODY) {
			json_t *v = json_string(arg);
			if (!v)
				return wo_error_set("%s: the value is not valid UTF-8 text", map[i].flag);
			json_object_set_new(h, map[i].key, v);
			return 0;
		}
		char *end;
		errno = 0;
		long long n = strtoll(arg, &end, 10);
		if (!*arg || *end || errno)
			return wo_error_set("%s '%s': must be a whole number", map[i].flag, arg);
		json_object_set_new(h, map[i].key, json_integer(n));
		return 0;
	}
	return 0;
}

/* What create and update say in their help after the options. */
#define FIELDS_NOTE \
	"--name: 1-63 lowercase letters, digits and '-', starting with a letter, not ending with '-' (it\n" \
	"becomes container, unit and host names). --repo: https://, http://, ssh://, file:///path,\n" \
	"user@host:path or an absolute path to a local repository. --push: no outside repository, the\n" \
	"deployment deploys what is pushed to webops (git push over HTTP or SSH; create prints the remote\n" \
	"URLs); a deployment with --repo accepts pushes too. --env: KEY is [A-Za-z_][A-Za-z0-9_]*, the value\n" \
	"any text. --set: an addon-declared field ('webops addon info NAME' lists an addon's fields).\n" \
	"Health: webopsd checks running deployments (see 'webops health').\n"

/* Parses options for create/update: 0, 1 after --help, -2 on a usage error,
 * -1 on another (the message printed). */
static int parse_opts(struct opts *o, int argc, char **argv, int creating)
{
	const char *name = NULL, *repo = NULL, *branch = NULL, *domain = NULL, *port = NULL;
	const char *health[OPT_HEALTH_N] = { NULL };
	int no_domain = 0, no_port = 0;
	struct wo_opt_list env = { 0 }, unset_env = { 0 }, sets = { 0 };
	memset(o, 0, sizeof(*o));
	o->fields = json_object();
	o->env_set = json_object();
	o->env_unset = json_array();
	o->health = json_object();
	o->sets = calloc((size_t)argc + 1, sizeof(char *));
	const struct wo_opt opts[] = {
		WO_OPT_STRING("name", 'n', &name, "NAME", creating ? "the deployment's name (or give it as NAME)" : NULL),
		WO_OPT_STRING("repo", 'r', &repo, "URL", "the git repository it deploys"),
		WO_OPT_STRING("repo-url", 0, &repo, "URL", NULL),
		WO_OPT_FLAG("push", 0, &o->push, creating ? "no outside repository: it deploys what is pushed to webops" : NULL),
		WO_OPT_STRING("branch", 'b', &branch, "B", "a git branch (default: the repository's default branch)"),
		WO_OPT_STRING("domain", 'd', &domain, "D", "a host name, e.g. blog.example.com"),
		WO_OPT_FLAG("no-domain", 0, &no_domain, creating ? NULL : "remove the domain"),
		WO_OPT_STRING("port", 'p', &port, "P", "1-65535, unique across deployments"),
		WO_OPT_FLAG("no-port", 0, &no_port, creating ? NULL : "remove the port"),
		WO_OPT_LIST("env", 'e', &env, "KEY=VALUE", "an environment variable"),
		WO_OPT_LIST("unset-env", 0, &unset_env, "KEY", creating ? NULL : "remove an environment variable"),
		WO_OPT_LIST("set", 's', &sets, "FIELD=VALUE", "an addon-declared field, e.g. use_docker=true"),
		WO_OPT_STRING("health-interval", 0, &health[OPT_HEALTH_INTERVAL], "S", "seconds between checks, 1-86400 "
		              "(default 30)"),
		WO_OPT_STRING("health-timeout", 0, &health[OPT_HEALTH_TIMEOUT], "S", "seconds a check may take, 1-300 "
		              "(default 5)"),
		WO_OPT_STRING("health-retries", 0, &health[OPT_HEALTH_RETRIES], "N", "consecutive failures before "
		              "unhealthy (default 3)"),
		WO_OPT_STRING("health-start-period", 0, &health[OPT_HEALTH_START], "S", "seconds after a deploy or start in "
		              "which failures do not count (default 30)"),
		WO_OPT_STRING("health-restarts", 0, &health[OPT_HEALTH_RESTARTS], "N", "automatic restarts per hour of an "
		              "unhealthy deployment; 0: never (default 3)"),
		WO_OPT_STRING("health-path", 0, &health[OPT_HEALTH_PATH], "PATH", "probe http://127.0.0.1:PORT/PATH (or the "
		              "domain) from the host; '' turns the probe off"),
		WO_OPT_STRING("health-status", 0, &health[OPT_HEALTH_STATUS], "CODE", "the status the probe expects ('': any "
		              "below 400)"),
		WO_OPT_STRING("health-body", 0, &health[OPT_HEALTH_BODY], "TEXT", "text the probe's response must contain "
		              "('': any)"),
		WO_OPT_FLAG("json", 'j', &o->json, "print the deployment as stored, as JSON"),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		creating ? "deployment create" : "deployment update", creating ? "[NAME]" : "NAME", creating ? 0 : 1, 1,
		creating ? "Registers a deployment: a git repository (or pushes to webops) and its settings."
			 : "Changes a deployment's settings; what is not given stays as it is.",
		creating ? FIELDS_NOTE "\nExamples:\n"
			   "  webops deployment create --name blog --repo https://example.com/blog.git --env DEBUG=0\n"
			   "  webops deployment create site --push --set use_docker=true && git push webops main\n"
			 : FIELDS_NOTE,
		opts,
	};
	int parsed = wo_opts_parse(&spec, argc, argv, &o->pos, &o->npos);
	int rc = parsed == WO_OPT_HELP ? 1 : parsed == WO_OPT_USAGE ? -2 : 0;
	if (rc == 0 && !creating && name)
		rc = (usage_err("--name: a deployment cannot be renamed%s", ""), -2);
	if (rc == 0 && !creating && o->push)
		rc = (usage_err("--push: only 'create' takes it (every deployment accepts pushes)%s", ""), -2);
	if (rc == 0 && ((domain && no_domain) || (port && no_port)))
		rc = (usage_err("%s", domain && no_domain ? "--domain and --no-domain contradict each other"
		                                         : "--port and --no-port contradict each other"), -2);
	for (size_t i = 0; rc == 0 && i < sets.n; i++) {
		if (!strchr(sets.v[i], '='))
			rc = (usage_err("--set '%s': use FIELD=VALUE", sets.v[i]), -2);
		else
			o->sets[o->nsets++] = (char *)sets.v[i];
	}
	if (rc == 0) {
		if (name)
			json_object_set_new(o->fields, "name", json_string(name));
		if (repo)
			json_object_set_new(o->fields, "repo_url", json_string(repo));
		if (branch)
			json_object_set_new(o->fields, "branch", json_string(branch));
		if (domain || no_domain)
			json_object_set_new(o->fields, "domain", domain ? json_string(domain) : json_null());
		if (no_port)
			json_object_set_new(o->fields, "port", json_null());
	}
	if (rc == 0 && port) {
		int p;
		struct wo_buf err = WO_BUF_INIT;
		if (wo_validate_port_text(port, &p, &err) < 0)
			rc = (wo_cli_fail("%s", err.ptr), -1);
		else
			json_object_set_new(o->fields, "port", json_integer(p));
		wo_buf_release(&err);
	}
	for (size_t i = 0; rc == 0 && i < env.n; i++)
		if (put_env(o->env_set, env.v[i]) < 0)
			rc = (wo_cli_fail("%s", wo_error_last()), -1);
	for (size_t i = 0; rc == 0 && i < unset_env.n; i++)
		json_array_append_new(o->env_unset, json_string(unset_env.v[i]));
	for (int h = 0; rc == 0 && h < OPT_HEALTH_N; h++)
		if (health[h] && put_health(o->health, h, health[h]) < 0)
			rc = (wo_cli_fail("%s", wo_error_last()), -1);
	wo_opt_list_release(&env);
	wo_opt_list_release(&unset_env);
	wo_opt_list_release(&sets);
	return rc;
}

/* Applies --set values through the addon host. */
static int apply_sets(struct wo_cli *cli, json_t *target, struct opts *o, int creating)
{
	if (o->nsets == 0 && !creating)
		return 0;
	if (!wo_cli_apply_sets) {
		if (o->nsets == 0)
			return 0;
		return wo_error_set("unknown field '%.*s': no addon declares it", (int)strcspn(o->sets[0], "="),
				    o->sets[0]);
	}
	return wo_cli_apply_sets(cli, target, o->sets, o->nsets, creating);
}

/* The default branch of the repository at url, from a child process given
 * 10 s (a remote that does not answer must not hang the command); NULL when
 * it cannot be known (then the store's default, main, applies). */
static char *default_branch(const char *url)
{
	if (!url || !*url)
		return NULL;
	int p[2];
	if (pipe(p) < 0)
		return NULL;
	pid_t pid = wo_fork("a branch lookup", &(struct wo_fork_opts){ .flags = WO_FORK_DEATHSIG_KILL });
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return NULL;
	}
	if (pid == 0) {
		close(p[0]);
		char *b = NULL;
		if (wo_git_default_branch(&b, url, NULL) == 0 && b)
			(void)!write(p[1], b, strlen(b));
		_exit(0);
	}
	close(p[1]);
	char buf[256];
	size_t len = 0;
	struct pollfd pfd = { p[0], POLLIN, 0 };
	for (int waited = 0; len < sizeof(buf) - 1 && waited < 10000;) {
		if (poll(&pfd, 1, 200) > 0) {
			ssize_t r = read(p[0], buf + len, sizeof(buf) - 1 - len);
			if (r <= 0)
				break;
			len += (size_t)r;
		} else {
			waited += 200;
		}
	}
	close(p[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	buf[len] = '\0';
	struct wo_buf err = WO_BUF_INIT;
	int okb = len && wo_validate_branch(buf, &err) == 0;
	wo_buf_release(&err);
	return okb ? strdup(buf) : NULL;
}

static int cmd_create(struct wo_cli *cli, int argc, char **argv)
{
	struct opts o;
	int r = parse_opts(&o, argc, argv, 1);
	if (r != 0) {
		opts_release(&o);
		return r == 1 ? WO_EXIT_OK : r == -2 ? WO_EXIT_USAGE : WO_EXIT_ERROR;
	}
	/* the name may also be given positionally: create NAME --repo URL */
	if (o.npos && json_object_get(o.fields, "name")) {
		const char *extra = o.pos[0];
		opts_release(&o);
		return usage_err("unexpected argument '%s' (the name is given with --name already)", extra);
	}
	if (o.npos)
		json_object_set_new(o.fields, "name", json_string(o.pos[0]));
	if (!json_object_get(o.fields, "name")) {
		opts_release(&o);
		return usage_err("--name is required%s", "");
	}
	if (o.push && json_object_get(o.fields, "repo_url")) {
		opts_release(&o);
		return usage_err("--push and --repo exclude each other: a deployment with --repo accepts pushes too%s", "");
	}
	if (!o.push && !json_object_get(o.fields, "repo_url")) {
		opts_release(&o);
		return usage_err("--repo is required (or --push for a deployment fed only by git push)%s", "");
	}
	if (o.push) {
		/* its source is webops' own staging repository of what is pushed */
		const json_t *nm = json_object_get(o.fields, "name");
		struct wo_buf url = WO_BUF_INIT, nerr = WO_BUF_INIT;
		if (!json_is_string(nm) || wo_validate_name(json_string_value(nm), &nerr) < 0 ||
		    wo_git_hosted_staging_url(&url, cli->cfg.data_dir, json_string_value(nm)) < 0) {
			int r2 = wo_cli_fail("%s", nerr.len ? nerr.ptr : wo_error_last());
			wo_buf_release(&url);
			wo_buf_release(&nerr);
			opts_release(&o);
			return r2;
		}
		json_object_set_new(o.fields, "repo_url", json_string(url.ptr));
		json_object_set_new(o.fields, "push_only", json_true());
		wo_buf_release(&url);
		wo_buf_release(&nerr);
	}
	/* without --branch: the repository's default branch (its HEAD), asked
	 * of the remote for at most 10 s; main when it cannot say */
	if (!o.push && !json_object_get(o.fields, "branch")) {
		char *b = default_branch(json_string_value(json_object_get(o.fields, "repo_url")));
		if (b) {
			json_object_set_new(o.fields, "branch", json_string(b));
			if (!o.json)
				printf("branch: %s (the repository's default)\n", b);
			free(b);
		}
	}
	json_object_set(o.fields, "env_vars", o.env_set);
	if (json_object_size(o.health))
		json_object_set(o.fields, "health", o.health);
	PGconn *conn = wo_cli_db(cli);
	if (!conn) {
		opts_release(&o);
		return WO_EXIT_ERROR;
	}
	json_t *af = json_object();
	json_t *d = NULL;
	int rc = apply_sets(cli, af, &o, 1);
	json_object_set_new(o.fields, "addon_fields", af);
	if (rc == 0)
		rc = wo_deployment_create(&d, conn, o.fields);
	if (rc < 0) {
		opts_release(&o);
		return wo_cli_fail("%s", wo_error_last());
	}
	/* the repository people push to; a failure here is retried on the first push */
	const char *dname = json_string_value(json_object_get(d, "name"));
	const char *dbranch = json_string_value(json_object_get(d, "branch"));
	if (wo_git_hosted_ensure(cli->cfg.data_dir, dname, dbranch) < 0)
		fprintf(stderr, "webops: warning: %s (the first push tries again)\n", wo_error_last());
	/* URLs are shown through the one redaction */
	shown(d);
	if (o.json) {
		wo_out_json(d);
	} else {
		printf("created deployment '%s'\n", json_string_value(json_object_get(d, "name")));
		/* say now when nothing will run it */
		struct wo_addon_registry *reg = NULL;
		if (wo_addon_registry_load(&reg, cli->cfg.addons_path, conn) == 0 && !wo_addon_runtime_of(reg, d))
			printf("note: no enabled addon runs it (with the docker addon: --set use_docker=true), so a deploy "
			       "fetches its code and nothing runs it: it will show as 'deployed', not 'running'\n");
		wo_error_clear();
		wo_addon_registry_free(reg);
		wo_cli_print_webhook_hint(cli, json_string_value(json_object_get(d, "name")));
		wo_cli_print_push_hint(stdout, dname, dbranch);
	}
	json_decref(d);
	opts_release(&o);
	return WO_EXIT_OK;
}

static int cmd_update(struct wo_cli *cli, int argc, char **argv)
{
	struct opts o;
	int r = parse_opts(&o, argc, argv, 0);
	if (r != 0) {
		opts_release(&o);
		return r == 1 ? WO_EXIT_OK : r == -2 ? WO_EXIT_USAGE : WO_EXIT_ERROR;
	}
	const char *name = o.pos[0];
	PGconn *conn = wo_cli_db(cli);
	if (!conn) {
		opts_release(&o);
		return WO_EXIT_ERROR;
	}
	json_t *cur = NULL;
	int rc = wo_deployment_get(&cur, conn, name);
	if (rc < 0) {
		opts_release(&o);
		return wo_cli_fail("%s", wo_error_last());
	}
	if (json_object_size(o.health))
		json_object_set(o.fields, "health", o.health);
	if (json_object_size(o.env_set) || json_array_size(o.env_unset)) {
		json_t *env = json_deep_copy(json_object_get(cur, "env_vars"));
		size_t i;
		json_t *k;
		json_array_foreach(o.env_unset, i, k)
			json_object_del(env, json_string_value(k));
		json_object_update(env, o.env_set);
		json_object_set_new(o.fields, "env_vars", env);
	}
	if (o.nsets) {
		json_t *af = json_deep_copy(json_object_get(cur, "addon_fields"));
		if (apply_sets(cli, af, &o, 0) < 0) {
			json_decref(af);
			json_decref(cur);
			opts_release(&o);
			return wo_cli_fail("%s", wo_error_last());
		}
		json_object_set_new(o.fields, "addon_fields", af);
	}
	json_decref(cur);
	json_t *d = NULL;
	if (wo_deployment_update(&d, conn, name, o.fields) < 0) {
		opts_release(&o);
		return wo_cli_fail("%s", wo_error_last());
	}
	shown(d);
	if (o.json)
		wo_out_json(d);
	else
		printf("updated deployment '%s'\n", name);
	json_decref(d);
	opts_release(&o);
	return WO_EXIT_OK;
}

/* list/show/start/stop/delete take only NAME and --json (--force for some). */
/* Parses NAME (when name is not NULL), --json, --force and --wait S (when
 * their variables are given) by a spec made of path and summary, and opens
 * the database; returns -1 to go on, else the exit code. */
static int begin_named(struct wo_cli *cli, int argc, char **argv, const char *path, const char *summary,
		       const char **name, int *json, int *force, long long *wait_s, PGconn **conn)
{
	struct wo_opt opts[4];
	size_t n = 0;
	opts[n++] = (struct wo_opt)WO_OPT_JSON(json);
	if (force)
		opts[n++] = (struct wo_opt)WO_OPT_FLAG("force", 0, force, "go on when an addon's hook fails");
	if (wait_s)
		opts[n++] = (struct wo_opt)WO_OPT_INT("wait", 0, wait_s, "S", 0, 3600, "wait up to S seconds for a run (or "
		                                      "another action) holding the deployment; by default refuse at once, "
		                                      "naming it");
	opts[n] = (struct wo_opt)WO_OPTS_END;
	const struct wo_cmd_spec spec = { path, name ? "NAME" : NULL, name ? 1 : 0, name ? 1 : 0, summary, NULL, opts };
	char **ops = NULL;
	*json = 0;
	int parsed = wo_opts_parse(&spec, argc, argv, &ops, NULL);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	if (name)
		*name = ops[0];
	free(ops);
	*conn = wo_cli_db(cli);
	return *conn ? -1 : WO_EXIT_ERROR;
}

static int cmd_list(struct wo_cli *cli, int argc, char **argv)
{
	int json;
	PGconn *conn;
	int r = begin_named(cli, argc, argv, "deployment list", "Lists the deployments: status, branch, port, repository.",
	                    NULL, &json, NULL, NULL, &conn);
	if (r >= 0)
		return r;
	json_t *arr;
	if (wo_deployment_list(&arr, conn) < 0)
		return wo_cli_fail("%s", wo_error_last());
	shown(arr);
	if (json) {
		wo_out_json(arr);
	} else if (json_array_size(arr) == 0) {
		printf("no deployments yet: create one with\n"
		       "  webops deployment create --name NAME --repo URL\n");
	} else {
		printf("%-24s %-9s %-16s %-6s %s\n", "NAME", "STATUS", "BRANCH", "PORT", "REPOSITORY");
		size_t i;
		json_t *d;
		json_array_foreach(arr, i, d) {
			const json_t *port = json_object_get(d, "port");
			char p[16] = "-";
			if (json_is_integer(port))
				snprintf(p, sizeof(p), "%lld", (long long)json_integer_value(port));
			printf("%-24s %-9s %-16s %-6s %s\n", json_string_value(json_object_get(d, "name")),
			       json_string_value(json_object_get(d, "status")),
			       json_string_value(json_object_get(d, "branch")), p,
			       json_string_value(json_object_get(d, "repo_url")));
		}
	}
	json_decref(arr);
	return WO_EXIT_OK;
}

static int cmd_show(struct wo_cli *cli, int argc, char **argv)
{
	const char *name;
	int json;
	PGconn *conn;
	int r = begin_named(cli, argc, argv, "deployment show", "Shows a deployment: its settings, fields and where it is "
	                    "reached.", &name, &json, NULL, NULL, &conn);
	if (r >= 0)
		return r;
	json_t *d;
	if (wo_deployment_get(&d, conn, name) < 0)
		return wo_cli_fail("%s", wo_error_last());
	shown(d);
	/* where it is reached: its domain, its port, what its container publishes */
	struct wo_addon_registry *reg = NULL;
	if (wo_addon_registry_load(&reg, cli->cfg.addons_path, conn) == 0)
		json_object_set_new(d, "addresses", wo_addon_addresses(reg, d));
	else
		wo_error_clear();
	wo_addon_registry_free(reg);
	if (json) {
		wo_out_json(d);
	} else {
		print_human(d);
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(d, "addresses"), i, a) {
			const char *kind = json_string_value(json_object_get(a, "kind"));
			printf("%s", i ? "            " : "addresses:  ");
			if (!strcmp(kind, "domain"))
				printf("%s\n", json_string_value(json_object_get(a, "url")));
			else if (!strcmp(kind, "port"))
				printf("port %lld on this host\n", (long long)json_integer_value(json_object_get(a, "port")));
			else
				printf("%s (published%s)\n", json_string_value(json_object_get(a, "mapping")),
				       json_is_true(json_object_get(a, "local")) ? ", this host only" : "");
		}
	}
	json_decref(d);
	return WO_EXIT_OK;
}

static void lifecycle_log(void *ud, const char *line)
{
	(void)ud;
	fprintf(stderr, "  %s\n", line);
}

/* start, stop, restart, prune, delete: the addons' lifecycle hooks, then
 * the record. */
static int lifecycle(struct wo_cli *cli, int argc, char **argv, const char *action, const char *done,
		     const char *summary)
{
	const char *name;
	int json, force = 0;
	long long wait_s = 0;
	PGconn *conn;
	char path[64];
	snprintf(path, sizeof(path), "deployment %s", action);
	int r = begin_named(cli, argc, argv, path, summary, &name, &json, &force, &wait_s, &conn);
	if (r >= 0)
		return r;
	r = wo_lifecycle_run(conn, &cli->cfg, name, action, force, (int)wait_s * 1000, lifecycle_log, NULL);
	if (r < 0)
		return wo_cli_fail("%s", wo_error_last());
	printf("%s deployment '%s'\n", done, name);
	return WO_EXIT_OK;
}

static int cmd_start(struct wo_cli *cli, int argc, char **argv)
{
	return lifecycle(cli, argc, argv, "start", "started", "Runs the addons' start hooks (e.g. the container).");
}

static int cmd_stop(struct wo_cli *cli, int argc, char **argv)
{
	return lifecycle(cli, argc, argv, "stop", "stopped", "Runs the addons' stop hooks.");
}

static int cmd_restart(struct wo_cli *cli, int argc, char **argv)
{
	return lifecycle(cli, argc, argv, "restart", "restarted",
	                 "Runs the addons' restart hooks (stop, then start, for addons without one).");
}

static int cmd_prune(struct wo_cli *cli, int argc, char **argv)
{
	return lifecycle(cli, argc, argv, "prune", "pruned", "Removes what older releases left (the docker addon: "
	                 "images of releases beyond keep_releases, build leftovers).");
}

static int cmd_delete(struct wo_cli *cli, int argc, char **argv)
{
	return lifecycle(cli, argc, argv, "delete", "deleted", "Runs the addons' delete hooks, then removes the "
	                 "record, its cached clone and source.");
}

/* The store's validator in the CLI: the enabled addons' fields and their
 * `validate` hooks (addon/addon.h). */
/* who `deployment validate` validates for (--actor-user, --actor-role): the
 * web UI's process passes the user it acts for; NULL: the host */
static json_t *validate_actor;

static int cli_validate(void *ud, const json_t *record, struct wo_buf *err)
{
	struct wo_cli *cli = ud;
	struct wo_addon_registry *reg = NULL;
	PGconn *conn = wo_cli_db(cli);
	if (!conn || wo_addon_registry_load(&reg, cli->cfg.addons_path, conn) < 0) {
		wo_buf_printf(err, "cannot load the addons to validate the deployment: %s", wo_error_last());
		return -1;
	}
	json_t *host = validate_actor ? NULL : json_pack("{s:{s:n, s:s}}", "actor", "user", "role", "admin");
	int rc = wo_addon_validate_record(reg, record, validate_actor ? validate_actor : host, err) < 0 ? WO_EINVALID : 0;
	/* host ports held by another deployment or an addon: refused now, not
	 * at deploy time (taken, 409, when nothing else is wrong) */
	if (wo_addon_host_ports_check(reg, conn, record, err) < 0)
		rc = rc ? rc : WO_EEXISTS;
	json_decref(host);
	wo_addon_registry_free(reg);
	return rc;
}

/* `webops deployment validate < RECORD.json`: for programs (the web UI's
 * process, which must not run addon code itself): prints one problem per
 * line and exits 1, or exits 0 when the record may be stored. */
static int cmd_validate(struct wo_cli *cli, int argc, char **argv)
{
	const char *auser = NULL, *arole = NULL;
	const struct wo_opt opts[] = {
		WO_OPT_STRING("actor-user", 0, &auser, "NAME", "the user it is validated for"),
		WO_OPT_STRING("actor-role", 0, &arole, "ROLE", "that user's role (some values are for admins only)"),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"deployment validate", NULL, 0, 0,
		"Checks a deployment record (JSON on stdin, as the store would write it) against the enabled addons'\n"
		"fields and validate hooks. Prints one problem per line; exit status 0 when it may be stored, 1 when\n"
		"not. For programs (the web UI's process).", NULL, opts,
	};
	int parsed = wo_opts_parse(&spec, argc, argv, NULL, NULL);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	int role;
	if (arole && wo_role_parse(&role, arole) < 0)
		return usage_err("--actor-role: %s", wo_error_last());
	json_error_t jerr;
	json_t *rec = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(rec)) {
		json_decref(rec);
		return wo_cli_fail("the record on stdin is not a JSON object: %s", jerr.text);
	}
	if (arole)
		validate_actor = json_pack("{s:{s:s?, s:s}}", "actor", "user", auser, "role", arole);
	struct wo_buf err = WO_BUF_INIT;
	int rc = cli_validate(cli, rec, &err);
	json_decref(validate_actor);
	validate_actor = NULL;
	if (rc < 0) {
		printf("%s\n", wo_buf_cstr(&err));
		wo_cli_result(rc, wo_buf_cstr(&err));
	}
	wo_buf_release(&err);
	json_decref(rec);
	return rc < 0 ? WO_EXIT_ERROR : WO_EXIT_OK;
}

/* share NAME USER [--role R], unshare NAME USER, owner NAME [USER|--none] */
static int share_like(struct wo_cli *cli, const char *sub, int argc, char **argv)
{
	const char *role = "viewer";
	int none = 0, json = 0;
	int owner = !strcmp(sub, "owner"), share = !strcmp(sub, "share");
	struct wo_opt opts[3];
	size_t n = 0;
	if (share)
		opts[n++] = (struct wo_opt)WO_OPT_STRING("role", 0, &role, "ROLE", "member (read, deploy, change) or viewer "
		                                         "(read; the default)");
	if (owner) {
		opts[n++] = (struct wo_opt)WO_OPT_FLAG("none", 0, &none, "no owner: the host's admins");
		opts[n++] = (struct wo_opt)WO_OPT_JSON(&json);
	}
	opts[n] = (struct wo_opt)WO_OPTS_END;
	char path[32];
	snprintf(path, sizeof(path), "deployment %s", sub);
	const struct wo_cmd_spec spec = {
		path, owner ? "NAME [USER]" : "NAME USER", owner ? 1 : 2, 2,
		share ? "Lets USER act on the deployment (member: read, deploy, change; viewer: read)."
		: owner ? "Shows or changes the deployment's owner, and whom it is shared with."
			: "Stops sharing the deployment with USER.",
		NULL, opts,
	};
	char **ops = NULL;
	int nops = 0;
	int parsed = wo_opts_parse(&spec, argc, argv, &ops, &nops);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	const char *name = ops[0], *user = nops > 1 ? ops[1] : NULL;
	free(ops);
	if (wo_share_role_parse(role) < 0)
		return usage_err("--role: %s", wo_error_last());
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	if (!strcmp(sub, "share")) {
		if (wo_share_set(conn, name, user, role) < 0)
			return wo_cli_fail("%s", wo_error_last());
		printf("shared '%s' with '%s' as %s\n", name, user, role);
		return WO_EXIT_OK;
	}
	if (!strcmp(sub, "unshare")) {
		if (wo_share_remove(conn, name, user) < 0)
			return wo_cli_fail("%s", wo_error_last());
		printf("'%s' is no longer shared with '%s'\n", name, user);
		return WO_EXIT_OK;
	}
	if (user || none) {
		if (wo_deployment_set_owner(conn, name, none ? NULL : user) < 0)
			return wo_cli_fail("%s", wo_error_last());
	}
	json_t *l = NULL;
	if (wo_share_list(&l, conn, name) < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (json) {
		wo_out_json(l);
	} else {
		const char *o = json_string_value(json_object_get(l, "owner"));
		printf("owner: %s\n", o ? o : "none (the host's admins)");
		size_t i;
		json_t *sh;
		json_array_foreach(json_object_get(l, "shares"), i, sh)
			printf("shared with %s as %s\n", json_string_value(json_object_get(sh, "user")),
			       json_string_value(json_object_get(sh, "role")));
	}
	json_decref(l);
	return WO_EXIT_OK;
}

static int cmd_share(struct wo_cli *cli, int argc, char **argv)
{
	return share_like(cli, "share", argc, argv);
}

static int cmd_unshare(struct wo_cli *cli, int argc, char **argv)
{
	return share_like(cli, "unshare", argc, argv);
}

static int cmd_owner(struct wo_cli *cli, int argc, char **argv)
{
	return share_like(cli, "owner", argc, argv);
}

/* For programs (the web UI's process): the repository's default branch. */
static int cmd_default_branch(struct wo_cli *cli, int argc, char **argv)
{
	(void)cli;
	const struct wo_opt opts[] = { WO_OPTS_END };
	const struct wo_cmd_spec spec = {
		"deployment default-branch", "URL", 1, 1, "The repository's default branch (for programs).", NULL, opts,
	};
	char **ops = NULL;
	int parsed = wo_opts_parse(&spec, argc, argv, &ops, NULL);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	char *b = default_branch(ops[0]);
	free(ops);
	if (!b)
		return wo_cli_fail("cannot tell the default branch of that repository");
	printf("%s\n", b);
	free(b);
	return WO_EXIT_OK;
}

int wo_cmd_deployment(struct wo_cli *cli, int argc, char **argv)
{
	static const struct wo_subcmd subs[] = {
		{ "create", cmd_create, "[NAME]", "register a deployment (--repo URL, or --push)", NULL },
		{ "list", cmd_list, NULL, "the deployments", "ls" },
		{ "show", cmd_show, "NAME", "a deployment's settings, fields and addresses", NULL },
		{ "update", cmd_update, "NAME", "change a deployment's settings", NULL },
		{ "start", cmd_start, "NAME", "run the addons' start hooks (e.g. the container)", NULL },
		{ "stop", cmd_stop, "NAME", "run the addons' stop hooks", NULL },
		{ "restart", cmd_restart, "NAME", "the addons' restart hooks (stop, then start, without one)", NULL },
		{ "prune", cmd_prune, "NAME", "remove what older releases left (images, build leftovers)", NULL },
		{ "delete", cmd_delete, "NAME", "the addons' delete hooks, then the record", "rm" },
		{ "credentials", wo_cmd_credentials, "NAME", "the git credentials webops fetches its repository with",
		  NULL },
		{ "share", cmd_share, "NAME USER", "let USER act on it (--role member|viewer)", NULL },
		{ "unshare", cmd_unshare, "NAME USER", "stop sharing it with USER", NULL },
		{ "owner", cmd_owner, "NAME [USER]", "show or change its owner (--none: the host's admins)", NULL },
		{ "webhook", wo_cmd_webhook, "NAME", "the URL and secret forges sign pushes with", NULL },
		{ "webhooks", wo_cmd_webhooks, "NAME", "recent webhook deliveries and what became of them", NULL },
		{ "tls", wo_cmd_deployment_tls, "NAME", "HTTPS with a certificate of your own, from ACME, or none",
		  NULL },
		{ "validate", cmd_validate, NULL, NULL, NULL },
		{ "default-branch", cmd_default_branch, NULL, NULL, NULL },
		WO_SUBCMD_END,
	};
	wo_deployment_set_validator(cli_validate, cli);
	return wo_subcmd_run("deployment", "Deployments: a git repository (or pushes to webops) and its settings.\n"
	                     "start, stop, restart and delete refuse while a run (or another action) holds the\n"
	                     "deployment, naming it; --wait S waits up to S seconds for it instead.", subs, cli, argc,
	                     argv);
}
