/* `webops user|token|session`: the people and credentials of the web UI and
 * the API, managed from the command line (which talks to PostgreSQL, never
 * to webopsd over HTTP). Passwords come from stdin, never argv. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "store/access.h"
#include "store/auth.h"
#include "store/deployment.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

static int read_password(char **out)
{
	struct wo_buf b;
	wo_buf_init(&b, WO_PASSWORD_MAX + 2);
	char chunk[512];
	size_t n;
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "password (then Enter and Ctrl-D): ");
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (wo_buf_add(&b, chunk, n) < 0) {
			wo_buf_release(&b);
			return wo_error_set("password: use at most %d characters", WO_PASSWORD_MAX);
		}
	while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r'))
		wo_buf_truncate(&b, b.len - 1);
	*out = wo_buf_detach(&b);
	return 0;
}

/* What the subcommands of user, token and session take: each declares the
 * options it has (a mask of these) in its spec. */
enum {
	O_JSON = 1, O_PASSWORD_STDIN = 2, O_EXPIRES = 4, O_USER = 8, O_ROLE = 16, O_SCOPE = 32, O_DEPLOYMENT = 64,
};

struct args {
	const char *name, *second;
	int json, password_stdin;
	const char *password;
	long long expires;
	const char *user, *role, *scope;
	struct wo_opt_list deployments; /* --deployment NAME... */
};

/* Parses argv by the options in mask; the operands go to name and second. */
static int parse(struct args *a, int argc, char **argv, const char *path, const char *operands, int min, int max,
		 const char *summary, const char *details, unsigned mask)
{
	memset(a, 0, sizeof(*a));
	const struct wo_opt all[] = {
		WO_OPT_FLAG("password-stdin", 0, &a->password_stdin, "read the password from standard input (at least 8 "
		            "characters)"),
		WO_OPT_STRING("role", 0, &a->role, "ROLE", "admin, member or viewer"),
		WO_OPT_STRING("user", 0, &a->user, "USER", path[0] == 't' ? "the user it acts as (never beyond their role; "
		              "without it, the host's, with an admin's rights)" : "only those of USER"),
		WO_OPT_STRING("scope", 0, &a->scope, "SCOPE", "read (looks only), deploy (also deploys, starts, stops, "
		              "cancels) or manage (the default: all the role allows)"),
		WO_OPT_LIST("deployment", 0, &a->deployments, "NAME", "it acts on these deployments only"),
		WO_OPT_INT("expires", 0, &a->expires, "DAYS", 1, 3650, "it stops working after DAYS days"),
		WO_OPT_JSON(&a->json),
		/* refused with a word on why (never on the command line) */
		WO_OPT_STRING("password", 0, &a->password, "P", NULL),
	};
	static const unsigned bits[] = { O_PASSWORD_STDIN, O_ROLE, O_USER, O_SCOPE, O_DEPLOYMENT, O_EXPIRES, O_JSON, ~0u };
	struct wo_opt opts[sizeof(all) / sizeof(all[0]) + 1];
	wo_opts_pick(opts, all, bits, sizeof(all) / sizeof(all[0]), mask);
	const struct wo_cmd_spec spec = { path, operands, min, max, summary, details, opts };
	char **ops = NULL;
	int nops = 0;
	int parsed = wo_opts_parse(&spec, argc, argv, &ops, &nops);
	if (parsed != WO_OPT_OK) {
		wo_opt_list_release(&a->deployments);
		return parsed;
	}
	a->name = nops > 0 ? ops[0] : NULL;
	a->second = nops > 1 ? ops[1] : NULL;
	free(ops);
	if (a->password) {
		wo_opt_list_release(&a->deployments);
		wo_cli_usage_error(path, "passwords are never given on the command line: use --password-stdin");
		return WO_OPT_USAGE;
	}
	return WO_OPT_OK;
}

/* ---- webops user ---- */

static int user_password(struct wo_cli *cli, struct args *a, int creating)
{
	const char *path = creating ? "user create" : "user passwd";
	if (!a->password_stdin)
		return wo_cli_usage_error(path, "the password is read from stdin: add --password-stdin");
	int rr;
	if (a->role && wo_role_parse(&rr, a->role) < 0)
		return wo_cli_usage_error(path, "--role: %s", wo_error_last());
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	char *pw = NULL;
	if (read_password(&pw) < 0)
		return wo_cli_fail("%s", wo_error_last());
	json_t *made = NULL;
	int rc = creating ? wo_user_create(&made, conn, a->name, pw, a->role) : wo_user_set_password(conn, a->name, pw);
	memset(pw, 0, strlen(pw));
	free(pw);
	if (rc < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (creating) {
		/* the setup link has done its job once a user exists */
		char *spath = NULL;
		if (asprintf(&spath, "%s/setup-url", cli->cfg.data_dir) >= 0)
			unlink(spath);
		free(spath);
		const char *role = json_string_value(json_object_get(made, "role"));
		printf("created user '%s' (%s)\n", a->name, role ? role : "member");
		json_decref(made);
	} else {
		printf("changed the password of '%s' (their sessions ended)\n", a->name);
	}
	return WO_EXIT_OK;
}

static int user_create(struct wo_cli *cli, int argc, char **argv)
{
	struct args a;
	int parsed = parse(&a, argc, argv, "user create", "NAME", 1, 1,
	                   "Creates a user who can log in to the web UI and use the API; the password is read from "
	                   "stdin.\nThe very first user is an admin, later ones members, unless --role says.",
	                   "Example:\n  printf '%s' \"$PASSWORD\" | webops user create carol --password-stdin --role viewer\n",
	                   O_PASSWORD_STDIN | O_ROLE);
	return parsed ? wo_opts_exit(parsed) : user_password(cli, &a, 1);
}

static int user_passwd(struct wo_cli *cli, int argc, char **argv)
{
	struct args a;
	int parsed = parse(&a, argc, argv, "user passwd", "NAME", 1, 1,
	                   "Sets a new password (read from stdin); the user's sessions end.", NULL, O_PASSWORD_STDIN);
	return parsed ? wo_opts_exit(parsed) : user_password(cli, &a, 0);
}

static int user_role(struct wo_cli *cli, int argc, char **argv)
{
	struct args a;
	int parsed = parse(&a, argc, argv, "user role", "NAME ROLE", 2, 2,
	                   "Changes a user's role: admin, member or viewer (the last admin stays one).", NULL, 0);
	if (parsed)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	if (wo_user_set_role(conn, a.name, a.second) < 0)
		return wo_cli_fail("%s", wo_error_last());
	printf("user '%s' is now %s %s\n", a.name, !strcmp(a.second, "admin") ? "an" : "a", a.second);
	return WO_EXIT_OK;
}

static int user_list(struct wo_cli *cli, int argc, char **argv)
{
	struct args a;
	int parsed = parse(&a, argc, argv, "user list", NULL, 0, 0, "Lists the users, their roles and sessions.", NULL,
	                   O_JSON);
	if (parsed)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	json_t *arr;
	if (wo_user_list(&arr, conn) < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (a.json) {
		wo_out_json(arr);
	} else if (!json_array_size(arr)) {
		printf("no users yet: create one with\n  webops user create NAME --password-stdin\n");
	} else {
		printf("%-24s %-7s %-8s %s\n", "NAME", "ROLE", "SESSIONS", "CREATED");
		size_t i;
		json_t *u;
		json_array_foreach(arr, i, u)
			printf("%-24s %-7s %-8lld %s\n", json_string_value(json_object_get(u, "name")),
			       json_string_value(json_object_get(u, "role")),
			       (long long)json_integer_value(json_object_get(u, "sessions")),
			       json_string_value(json_object_get(u, "created_at")));
	}
	json_decref(arr);
	return WO_EXIT_OK;
}

static int user_delete(struct wo_cli *cli, int argc, char **argv)
{
	struct args a;
	int parsed = parse(&a, argc, argv, "user delete", "NAME", 1, 1,
	                   "Deletes a user and ends their sessions; the deployments they own go to the admins.", NULL, 0);
	if (parsed)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	if (wo_user_delete(conn, a.name) < 0)
		return wo_cli_fail("%s", wo_error_last());
	printf("deleted user '%s' (and ended their sessions)\n", a.name);
	return WO_EXIT_OK;
}

int wo_cmd_user(struct wo_cli *cli, int argc, char **argv)
{
	static const struct wo_subcmd subs[] = {
		{ "create", user_create, "NAME", "create a user (password on stdin, --password-stdin)", NULL },
		{ "role", user_role, "NAME ROLE", "change a user's role (admin, member, viewer)", NULL },
		{ "passwd", user_passwd, "NAME", "set a new password (ends the user's sessions)", NULL },
		{ "list", user_list, NULL, "the users, their roles and sessions", "ls" },
		{ "delete", user_delete, "NAME", "delete a user; the deployments they own go to the admins", "rm" },
		WO_SUBCMD_END,
	};
	return wo_subcmd_run("user", "People who can log in to the web UI and use the API. Roles: admin (everything),\n"
	                     "member (creates deployments; acts on those it owns or that were shared with it),\n"
	                     "viewer (reads what was shared with it). See docs/SECURITY.md.", subs, cli, argc, argv);
}

/* ---- webops token ---- */

/* --user USER: their id (0 without it); -1 when there is no such user (said). */
static long long user_id_of(PGconn *conn, const char *user)
{
	if (!user)
		return 0;
	struct wo_principal p;
	if (wo_user_principal(&p, conn, user) < 0)
		return wo_cli_fail("%s ('webops user list' shows them)", wo_error_last()), -1;
	return p.user_id;
}

static int token_create(struct wo_cli *cli, int argc, char **argv)
{
	struct args a;
	int parsed = parse(&a, argc, argv, "token create", "NAME", 1, 1,
	                   "Makes an API token, sent as 'Authorization: Bearer TOKEN' to the JSON API; it is printed\n"
	                   "once and stored only as a hash.",
	                   "Example:\n  TOKEN=$(webops token create ci --expires 90)\n"
	                   "  webops token create site-ci --user alice --scope deploy --deployment site\n",
	                   O_USER | O_SCOPE | O_DEPLOYMENT | O_EXPIRES | O_JSON);
	if (parsed)
		return wo_opts_exit(parsed);
	int sc, rc = WO_EXIT_ERROR;
	json_t *deps = NULL;
	if (a.scope && wo_scope_parse(&sc, a.scope) < 0) {
		wo_opt_list_release(&a.deployments);
		return wo_cli_usage_error("token create", "--scope: %s", wo_error_last());
	}
	if (a.deployments.n) {
		deps = json_array();
		for (size_t i = 0; i < a.deployments.n; i++)
			json_array_append_new(deps, json_string(a.deployments.v[i]));
	}
	wo_opt_list_release(&a.deployments);
	PGconn *conn = wo_cli_db(cli);
	long long uid = conn ? user_id_of(conn, a.user) : -1;
	if (uid >= 0) {
		char *tok = NULL;
		json_t *rec = NULL;
		if (wo_token_create(&tok, &rec, conn, a.name, uid, (int)a.expires, a.scope, deps) < 0) {
			rc = wo_cli_fail("%s", wo_error_last());
		} else {
			if (a.json) {
				json_object_set_new(rec, "token", json_string(tok));
				wo_out_json(rec);
			} else {
				printf("%s\n", tok);
				if (isatty(STDOUT_FILENO))
					fprintf(stderr, "token '%s' created%s; it is shown only now: keep it somewhere safe\n",
					        a.name, a.expires ? " (expires in the given days)" : " (it does not expire)");
			}
			memset(tok, 0, strlen(tok));
			free(tok);
			json_decref(rec);
			rc = WO_EXIT_OK;
		}
	}
	json_decref(deps);
	return rc;
}

static int token_revoke(struct wo_cli *cli, int argc, char **argv)
{
	struct args a;
	int parsed = parse(&a, argc, argv, "token revoke", "NAME", 1, 1, "Revokes an API token: it stops working at once.",
	                   NULL, 0);
	if (parsed)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	if (wo_token_revoke(conn, a.name, 0) < 0)
		return wo_cli_fail("%s", wo_error_last());
	printf("revoked token '%s'\n", a.name);
	return WO_EXIT_OK;
}

static int token_list(struct wo_cli *cli, int argc, char **argv)
{
	struct args a;
	int parsed = parse(&a, argc, argv, "token list", NULL, 0, 0,
	                   "Lists the API tokens: whose, their scope, when they expire and were last used.", NULL,
	                   O_USER | O_JSON);
	if (parsed)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	long long uid = user_id_of(conn, a.user);
	if (uid < 0)
		return WO_EXIT_ERROR;
	json_t *arr;
	if (wo_token_list(&arr, conn, uid) < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (a.json) {
		wo_out_json(arr);
	} else if (!json_array_size(arr)) {
		printf("no API tokens yet: create one with\n  webops token create NAME [--expires DAYS]\n");
	} else {
		printf("%-24s %-12s %-7s %-21s %-21s %s\n", "NAME", "USER", "SCOPE", "CREATED", "EXPIRES", "LAST USED");
		size_t i;
		json_t *t;
		json_array_foreach(arr, i, t) {
			const char *exp = json_string_value(json_object_get(t, "expires_at"));
			const char *used = json_string_value(json_object_get(t, "last_used_at"));
			const char *user = json_string_value(json_object_get(t, "user"));
			const json_t *deps = json_object_get(t, "deployments");
			struct wo_buf only = WO_BUF_INIT;
			if (json_is_array(deps)) {
				size_t k;
				json_t *dn;
				wo_buf_puts(&only, " (only ");
				json_array_foreach(deps, k, dn)
					wo_buf_printf(&only, "%s%s", k ? ", " : "", json_string_value(dn));
				wo_buf_puts(&only, json_array_size(deps) ? ")" : "none left)");
			}
			printf("%-24s %-12s %-7s %-21s %-21s %s%s%s\n", json_string_value(json_object_get(t, "name")),
			       user ? user : "-", json_string_value(json_object_get(t, "scope")),
			       json_string_value(json_object_get(t, "created_at")), exp ? exp : "never",
			       used ? used : "never", json_is_true(json_object_get(t, "expired")) ? " (expired)" : "",
			       wo_buf_cstr(&only));
			wo_buf_release(&only);
		}
	}
	json_decref(arr);
	return WO_EXIT_OK;
}


int wo_cmd_token(struct wo_cli *cli, int argc, char **argv)
{
	static const struct wo_subcmd subs[] = {
		{ "create", token_create, "NAME", "make a token (printed once, stored as a hash)", NULL },
		{ "list", token_list, NULL, "the tokens: whose, scope, expiry, last use", "ls" },
		{ "revoke", token_revoke, "NAME", "revoke a token", NULL },
		WO_SUBCMD_END,
	};
	return wo_subcmd_run("token", "API tokens, sent as 'Authorization: Bearer TOKEN' to the JSON API.", subs, cli,
	                     argc, argv);
}

/* ---- webops session ---- */

static int session_revoke(struct wo_cli *cli, int argc, char **argv)
{
	struct args a;
	int parsed = parse(&a, argc, argv, "session revoke", "ID", 1, 1, "Ends a browser session (see 'webops session "
	                   "list').", NULL, 0);
	if (parsed)
		return wo_opts_exit(parsed);
	char *end;
	long long id = strtoll(a.name, &end, 10);
	if (*end || id <= 0)
		return wo_cli_usage_error("session revoke", "revoke needs a session ID (see 'webops session list')");
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	if (wo_session_revoke(conn, id, 0) < 0)
		return wo_cli_fail("%s", wo_error_last());
	printf("revoked session %lld\n", id);
	return WO_EXIT_OK;
}

static int session_list(struct wo_cli *cli, int argc, char **argv)
{
	struct args a;
	int parsed = parse(&a, argc, argv, "session list", NULL, 0, 0,
	                   "Lists the live browser sessions of the web UI: whose, last seen, from where.", NULL,
	                   O_USER | O_JSON);
	if (parsed)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	long long uid = user_id_of(conn, a.user);
	if (uid < 0)
		return WO_EXIT_ERROR;
	json_t *arr;
	if (wo_session_list(&arr, conn, uid) < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (a.json) {
		wo_out_json(arr);
	} else if (!json_array_size(arr)) {
		printf("no live sessions\n");
	} else {
		printf("%-6s %-16s %-21s %-16s %s\n", "ID", "USER", "LAST SEEN", "ADDRESS", "BROWSER");
		size_t i;
		json_t *s;
		json_array_foreach(arr, i, s) {
			const char *addr = json_string_value(json_object_get(s, "address"));
			const char *ua = json_string_value(json_object_get(s, "user_agent"));
			printf("%-6lld %-16s %-21s %-16s %.60s\n", (long long)json_integer_value(json_object_get(s, "id")),
			       json_string_value(json_object_get(s, "user")),
			       json_string_value(json_object_get(s, "last_seen_at")), addr ? addr : "-", ua ? ua : "-");
		}
	}
	json_decref(arr);
	return WO_EXIT_OK;
}

int wo_cmd_session(struct wo_cli *cli, int argc, char **argv)
{
	static const struct wo_subcmd subs[] = {
		{ "list", session_list, NULL, "the live sessions: whose, last seen, address, browser", "ls" },
		{ "revoke", session_revoke, "ID", "end a session", NULL },
		WO_SUBCMD_END,
	};
	return wo_subcmd_run("session", "Browser sessions of the web UI (they end after a period without use).", subs,
	                     cli, argc, argv);
}
