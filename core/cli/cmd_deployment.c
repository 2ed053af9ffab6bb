/* `webops deployment create|list|show|update|delete`. */
#include <errno.h>
#include <getopt.h>
#include <unistd.h>
#include <sys/wait.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon/addon.h"
#include "cli/cli.h"
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
#include "util/url.h"
#include "util/banned.h"

static const char usage_text[] =
	"Usage: webops deployment COMMAND [OPTIONS]\n"
	"\n"
	"Commands:\n"
	"  create [--name] NAME --repo URL [--branch B] [--domain D] [--port P]\n"
	"         [--env KEY=VALUE]... [--set FIELD=VALUE]... [HEALTH OPTIONS] [--json]\n"
	"  create [--name] NAME --push [OPTIONS]   the same, fed only by git push\n"
	"  list [--json]\n"
	"  show NAME [--json]\n"
	"  update NAME [--repo URL] [--branch B] [--domain D | --no-domain]\n"
	"         [--port P | --no-port] [--env KEY=VALUE]... [--unset-env KEY]...\n"
	"         [--set FIELD=VALUE]... [HEALTH OPTIONS] [--json]\n"
	"  start NAME | stop NAME     run the addons' start/stop hooks (e.g. the container)\n"
	"  restart NAME               the addons' restart hooks (stop, then start, for\n"
	"                             addons without one)\n"
	"  prune NAME                 remove what older releases left (the docker addon: images\n"
	"                             of releases beyond keep_releases, build leftovers)\n"
	"  delete NAME [--force]      run the addons' delete hooks, then remove the record,\n"
	"                             its cached clone and source (--force: even if a hook fails)\n"
	"                             start, stop, restart and delete refuse while a run (or\n"
	"                             another action) holds the deployment, naming it;\n"
	"                             --wait S waits up to S seconds for it instead\n"
	"  credentials NAME [--token-stdin | --ssh-key FILE | --clear] [--user U]\n"
	"  share NAME USER [--role member|viewer]   let USER act on it (member: read, deploy,\n"
	"                             change; viewer, the default: read)\n"
	"  unshare NAME USER          stop sharing it with USER\n"
	"  owner NAME [USER | --none] show or change its owner (--none: the host's admins)\n"
	"  webhook NAME [--rotate] [--json]   the URL and secret forges sign pushes with\n"
	"  webhooks NAME [--json]             recent webhook deliveries and what became of them\n"
	"  tls NAME --cert FILE --key FILE | --auto | --off   HTTPS with a certificate of\n"
	"                             your own, from ACME (the default) or none\n"
	"  validate < RECORD.json             check a record against the addons (for programs)\n"
	"  default-branch URL                 the repository's default branch (for programs)\n"
	"\n"
	"Fields:\n"
	"  --name     1-63 lowercase letters, digits and '-', starting with a letter,\n"
	"             not ending with '-' (it becomes container, unit and host names)\n"
	"  --repo     https://, http://, ssh://, file:///path, user@host:path or an\n"
	"             absolute path to a local repository\n"
	"  --push     no outside repository: the deployment deploys what is pushed to\n"
	"             webops (git push over HTTP or SSH; create prints the remote URLs).\n"
	"             A deployment with --repo accepts pushes too\n"
	"  --branch   a git branch name (default: the repository's default branch,\n"
	"             where its HEAD points; main when the repository cannot say)\n"
	"  --domain   a host name, e.g. blog.example.com\n"
	"  --port     1-65535, unique across deployments\n"
	"  --env      an environment variable; KEY is [A-Za-z_][A-Za-z0-9_]*, the\n"
	"             value is any text (repeat for more)\n"
	"  --set      an addon-declared field, e.g. --set use_docker=true\n"
	"             ('webops addon info NAME' lists an addon's fields)\n"
	"\n"
	"Health (webopsd checks running deployments; see 'webops health'):\n"
	"  --health-interval S       seconds between checks, 1-86400 (default 30)\n"
	"  --health-timeout S        seconds a check may take, 1-300 (default 5)\n"
	"  --health-retries N        consecutive failures before unhealthy (default 3)\n"
	"  --health-start-period S   seconds after a deploy or start in which failures\n"
	"                            do not count (default 30)\n"
	"  --health-restarts N       automatic restarts per hour of an unhealthy\n"
	"                            deployment, with growing pauses; 0: never (default 3)\n"
	"  --health-path PATH        probe http://127.0.0.1:PORT/PATH (or the domain)\n"
	"                            from the host; '' turns the probe off (default off)\n"
	"  --health-status CODE      the status the probe expects ('': any below 400)\n"
	"  --health-body TEXT        text the probe's response must contain ('': any)\n"
	"\n"
	"Examples:\n"
	"  webops deployment create --name blog --repo https://example.com/blog.git --env DEBUG=0\n"
	"  webops deployment create site --push --set use_docker=true && git push webops main\n";

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
};

static void opts_release(struct opts *o)
{
	json_decref(o->fields);
	json_decref(o->env_set);
	json_decref(o->env_unset);
	json_decref(o->health);
	free(o->sets);
}

enum { OPT_NO_DOMAIN = 1000, OPT_NO_PORT, OPT_UNSET_ENV, OPT_PUSH, OPT_HEALTH_INTERVAL, OPT_HEALTH_TIMEOUT,
       OPT_HEALTH_RETRIES, OPT_HEALTH_START, OPT_HEALTH_RESTARTS, OPT_HEALTH_PATH, OPT_HEALTH_STATUS, OPT_HEALTH_BODY };

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

/* Parses options for create/update; returns -1 on error (message printed). */
static int parse_opts(struct opts *o, int argc, char **argv, int creating)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "repo", required_argument, NULL, 'r' },
		{ "repo-url", required_argument, NULL, 'r' },
		{ "branch", required_argument, NULL, 'b' },
		{ "domain", required_argument, NULL, 'd' },
		{ "no-domain", no_argument, NULL, OPT_NO_DOMAIN },
		{ "port", required_argument, NULL, 'p' },
		{ "no-port", no_argument, NULL, OPT_NO_PORT },
		{ "env", required_argument, NULL, 'e' },
		{ "unset-env", required_argument, NULL, OPT_UNSET_ENV },
		{ "set", required_argument, NULL, 's' },
		{ "push", no_argument, NULL, OPT_PUSH },
		{ "health-interval", required_argument, NULL, OPT_HEALTH_INTERVAL },
		{ "health-timeout", required_argument, NULL, OPT_HEALTH_TIMEOUT },
		{ "health-retries", required_argument, NULL, OPT_HEALTH_RETRIES },
		{ "health-start-period", required_argument, NULL, OPT_HEALTH_START },
		{ "health-restarts", required_argument, NULL, OPT_HEALTH_RESTARTS },
		{ "health-path", required_argument, NULL, OPT_HEALTH_PATH },
		{ "health-status", required_argument, NULL, OPT_HEALTH_STATUS },
		{ "health-body", required_argument, NULL, OPT_HEALTH_BODY },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof(*o));
	o->fields = json_object();
	o->env_set = json_object();
	o->env_unset = json_array();
	o->health = json_object();
	o->sets = calloc((size_t)argc + 1, sizeof(char *));
	optind = 0;
	opterr = 0;
	int c;
	struct wo_buf err = WO_BUF_INIT;
	while ((c = getopt_long(argc, argv, "n:r:b:d:p:e:s:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!creating)
				return usage_err("--name: a deployment cannot be renamed%s", "");
			json_object_set_new(o->fields, "name", json_string(optarg));
			break;
		case 'r':
			json_object_set_new(o->fields, "repo_url", json_string(optarg));
			break;
		case 'b':
			json_object_set_new(o->fields, "branch", json_string(optarg));
			break;
		case 'd':
			json_object_set_new(o->fields, "domain", json_string(optarg));
			break;
		case OPT_NO_DOMAIN:
			json_object_set_new(o->fields, "domain", json_null());
			break;
		case 'p': {
			int port;
			if (wo_validate_port_text(optarg, &port, &err) < 0) {
				wo_cli_fail("%s", err.ptr);
				wo_buf_release(&err);
				return -1;
			}
			json_object_set_new(o->fields, "port", json_integer(port));
			break;
		}
		case OPT_NO_PORT:
			json_object_set_new(o->fields, "port", json_null());
			break;
		case 'e':
			if (put_env(o->env_set, optarg) < 0) {
				wo_cli_fail("%s", wo_error_last());
				return -1;
			}
			break;
		case OPT_UNSET_ENV:
			json_array_append_new(o->env_unset, json_string(optarg));
			break;
		case 's':
			if (!strchr(optarg, '=')) {
				usage_err("--set '%s': use FIELD=VALUE", optarg);
				return -2;
			}
			o->sets[o->nsets++] = optarg;
			break;
		case OPT_PUSH:
			if (!creating) {
				usage_err("--push: only 'create' takes it (every deployment accepts pushes)%s", "");
				return -2;
			}
			o->push = 1;
			break;
		case OPT_HEALTH_INTERVAL:
		case OPT_HEALTH_TIMEOUT:
		case OPT_HEALTH_RETRIES:
		case OPT_HEALTH_START:
		case OPT_HEALTH_RESTARTS:
		case OPT_HEALTH_PATH:
		case OPT_HEALTH_STATUS:
		case OPT_HEALTH_BODY:
			if (put_health(o->health, c, optarg) < 0) {
				wo_cli_fail("%s", wo_error_last());
				return -1;
			}
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		default:
			usage_err("option '%s' is not known or needs a value", argv[optind - 1]);
			return -2;
		}
	}
	return 0;
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
	fflush(NULL);
	pid_t pid = fork();
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
	if (optind < argc && !json_object_get(o.fields, "name"))
		json_object_set_new(o.fields, "name", json_string(argv[optind++]));
	if (optind < argc) {
		opts_release(&o);
		return usage_err("unexpected argument '%s'", argv[optind]);
	}
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
	if (optind + 1 != argc) {
		opts_release(&o);
		return usage_err(optind >= argc ? "update needs the deployment NAME%s" : "unexpected argument '%s'",
				 optind >= argc ? "" : argv[optind + 1]);
	}
	const char *name = argv[optind];
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
static int simple_args(int argc, char **argv, int want_name, const char **name, int *json, int *force)
{
	*name = NULL;
	*json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			*json = 1;
		else if (force && !strcmp(argv[i], "--force"))
			*force = 1;
		else if (wo_cli_is_help(argv[i])) {
			fputs(usage_text, stdout);
			return 1;
		} else if (argv[i][0] == '-' && argv[i][1])
			return usage_err("option '%s' is not known here", argv[i]), -1;
		else if (want_name && !*name)
			*name = argv[i];
		else
			return usage_err("unexpected argument '%s'", argv[i]), -1;
	}
	if (want_name && !*name)
		return usage_err("%s needs the deployment NAME", argv[0]), -1;
	return 0;
}

/* Parses NAME [--json] [--force] and opens the database; returns -1 to go on,
 * else the exit code. */
static int begin_named(struct wo_cli *cli, int argc, char **argv, const char **name, int *json, int *force,
		       PGconn **conn)
{
	int r = simple_args(argc, argv, name != NULL, name ? name : &(const char *){ NULL }, json, force);
	if (r)
		return r > 0 ? WO_EXIT_OK : WO_EXIT_USAGE;
	*conn = wo_cli_db(cli);
	return *conn ? -1 : WO_EXIT_ERROR;
}

static int cmd_list(struct wo_cli *cli, int argc, char **argv)
{
	int json;
	PGconn *conn;
	int r = begin_named(cli, argc, argv, NULL, &json, NULL, &conn);
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
	int r = begin_named(cli, argc, argv, &name, &json, NULL, &conn);
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

/* start, stop, delete: the addons' lifecycle hooks, then the record. */
static int cmd_lifecycle(struct wo_cli *cli, int argc, char **argv, const char *action, const char *done)
{
	const char *name;
	int json, force = 0;
	PGconn *conn;
	/* --wait S: how long to wait for a run (or another action) holding the
	 * deployment; by default refuse at once, naming it */
	int wait_s = 0;
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int n = 0;
	for (int i = 0; i < argc; i++) {
		if (i > 0 && !strcmp(argv[i], "--wait")) {
			char *end = NULL;
			long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
			if (i + 1 >= argc || !end || *end || v < 0 || v > 3600) {
				free(args);
				return usage_err("--wait needs a number of seconds from 0 to 3600%s", "");
			}
			wait_s = (int)v;
			i++;
			continue;
		}
		args[n++] = argv[i];
	}
	int r = begin_named(cli, n, args, &name, &json, &force, &conn);
	if (r >= 0) {
		free(args);
		return r;
	}
	r = wo_lifecycle_run(conn, &cli->cfg, name, action, force, wait_s * 1000, lifecycle_log, NULL);
	free(args);
	if (r < 0)
		return wo_cli_fail("%s", wo_error_last());
	printf("%s deployment '%s'\n", done, name);
	return WO_EXIT_OK;
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
	if (argc > 1 && wo_cli_is_help(argv[1])) {
		fputs("Usage: webops deployment validate < RECORD.json\n\n"
		      "       [--actor-user NAME --actor-role ROLE]\n"
		      "Checks a deployment record (JSON on stdin, as the store would write it) against\n"
		      "the enabled addons' fields and validate hooks. Prints one problem per line;\n"
		      "exit status 0 when it may be stored, 1 when not.\n", stdout);
		return WO_EXIT_OK;
	}
	const char *auser = NULL, *arole = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--actor-user"))
			auser = argv[i + 1];
		else if (!strcmp(argv[i], "--actor-role"))
			arole = argv[i + 1];
		else
			return usage_err("validate: option '%s' is not known", argv[i]);
	}
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
static int cmd_share(struct wo_cli *cli, const char *sub, int argc, char **argv)
{
	const char *name = NULL, *user = NULL, *role = "viewer";
	int none = 0, json = 0;
	for (int i = 1; i < argc; i++) {
		if (wo_cli_is_help(argv[i])) {
			fputs(usage_text, stdout);
			return WO_EXIT_OK;
		} else if (!strcmp(argv[i], "--role") && i + 1 < argc && !strcmp(sub, "share")) {
			role = argv[++i];
		} else if (!strcmp(argv[i], "--none") && !strcmp(sub, "owner")) {
			none = 1;
		} else if (!strcmp(argv[i], "--json") && !strcmp(sub, "owner")) {
			json = 1;
		} else if (argv[i][0] == '-') {
			return usage_err("option '%s' is not known here or needs a value", argv[i]);
		} else if (!name) {
			name = argv[i];
		} else if (!user) {
			user = argv[i];
		} else {
			return usage_err("unexpected argument '%s'", argv[i]);
		}
	}
	if (!name || (strcmp(sub, "owner") && !user))
		return usage_err("%s needs the deployment NAME and the USER", sub);
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

int wo_cmd_deployment(struct wo_cli *cli, int argc, char **argv)
{
	wo_deployment_set_validator(cli_validate, cli);
	if (argc < 2) {
		fputs(usage_text, stderr);
		return WO_EXIT_USAGE;
	}
	if (wo_cli_is_help(argv[1])) {
		fputs(usage_text, stdout);
		return WO_EXIT_OK;
	}
	const char *sub = argv[1];
	argc--;
	argv++;
	if (!strcmp(sub, "create"))
		return cmd_create(cli, argc, argv);
	if (!strcmp(sub, "list") || !strcmp(sub, "ls"))
		return cmd_list(cli, argc, argv);
	if (!strcmp(sub, "show"))
		return cmd_show(cli, argc, argv);
	if (!strcmp(sub, "update"))
		return cmd_update(cli, argc, argv);
	if (!strcmp(sub, "delete") || !strcmp(sub, "rm"))
		return cmd_lifecycle(cli, argc, argv, "delete", "deleted");
	if (!strcmp(sub, "stop"))
		return cmd_lifecycle(cli, argc, argv, "stop", "stopped");
	if (!strcmp(sub, "start"))
		return cmd_lifecycle(cli, argc, argv, "start", "started");
	if (!strcmp(sub, "restart"))
		return cmd_lifecycle(cli, argc, argv, "restart", "restarted");
	if (!strcmp(sub, "prune"))
		return cmd_lifecycle(cli, argc, argv, "prune", "pruned");
	if (!strcmp(sub, "credentials"))
		return wo_cmd_credentials(cli, argc, argv);
	if (!strcmp(sub, "share") || !strcmp(sub, "unshare") || !strcmp(sub, "owner"))
		return cmd_share(cli, sub, argc, argv);
	if (!strcmp(sub, "webhook"))
		return wo_cmd_webhook(cli, argc, argv);
	if (!strcmp(sub, "webhooks"))
		return wo_cmd_webhooks(cli, argc, argv);
	if (!strcmp(sub, "tls"))
		return wo_cmd_deployment_tls(cli, argc, argv);
	if (!strcmp(sub, "validate"))
		return cmd_validate(cli, argc, argv);
	if (!strcmp(sub, "default-branch")) {
		/* for programs (the web UI's process): the repository's default branch */
		if (argc != 2)
			return usage_err("default-branch needs a repository URL%s", "");
		char *b = default_branch(argv[1]);
		if (!b)
			return wo_cli_fail("cannot tell the default branch of that repository");
		printf("%s\n", b);
		free(b);
		return WO_EXIT_OK;
	}
	return usage_err("unknown deployment command '%s'", sub);
}
