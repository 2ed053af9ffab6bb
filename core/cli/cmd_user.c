/* `webops user|token|session`: the people and credentials of the web UI and
 * the API, managed from the command line (which talks to PostgreSQL, never
 * to webopsd over HTTP). Passwords come from stdin, never argv. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "store/access.h"
#include "store/auth.h"
#include "store/deployment.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

static const char user_usage[] =
	"Usage: webops user COMMAND\n"
	"\n"
	"People who can log in to the web UI and use the API. Roles: admin (everything),\n"
	"member (creates deployments; acts on those it owns or that were shared with it),\n"
	"viewer (reads what was shared with it). See docs/SECURITY.md.\n"
	"\n"
	"  create NAME --password-stdin [--role admin|member|viewer]\n"
	"                                 create a user; the password is read from stdin\n"
	"                                 (at least 8 characters). The very first user is an\n"
	"                                 admin, later ones members, unless --role says\n"
	"  role NAME ROLE                 change a user's role (the last admin stays one)\n"
	"  passwd NAME --password-stdin   set a new password (ends the user's sessions)\n"
	"  list [--json]\n"
	"  delete NAME                    the deployments they own go to the admins\n"
	"\n"
	"Example:\n"
	"  printf '%%s' \"$PASSWORD\" | webops user create admin --password-stdin\n"
	"  printf '%%s' \"$PASSWORD\" | webops user create carol --password-stdin --role viewer\n";

static const char token_usage[] =
	"Usage: webops token COMMAND\n"
	"\n"
	"API tokens, sent as 'Authorization: Bearer TOKEN' to the JSON API.\n"
	"\n"
	"  create NAME [--user USER] [--scope read|deploy|manage] [--deployment NAME]...\n"
	"         [--expires DAYS] [--json]\n"
	"                   make a token; it is printed once and stored only as a hash.\n"
	"                   --user: it acts as USER and never exceeds USER's role (without\n"
	"                   it, the token is the host's, with an admin's rights). --scope:\n"
	"                   read looks only; deploy also deploys, starts, stops and cancels;\n"
	"                   manage (default) does all the role allows. --deployment (again\n"
	"                   for more): it acts on those deployments only\n"
	"  list [--user USER] [--json]\n"
	"  revoke NAME\n"
	"\n"
	"Example:\n"
	"  TOKEN=$(webops token create ci --expires 90)\n"
	"  webops token create site-ci --user alice --scope deploy --deployment site\n"
	"  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8000/api/v1/deployments\n";

static const char session_usage[] =
	"Usage: webops session COMMAND\n"
	"\n"
	"Browser sessions of the web UI (they end after a period without use).\n"
	"\n"
	"  list [--user NAME] [--json]\n"
	"  revoke ID\n";

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

/* NAME and flags for the simple subcommands. */
struct args {
	const char *name, *second;
	int json, password_stdin;
	long expires;
	const char *user, *role, *scope;
	json_t *deployments; /* --deployment NAME...: a list, else NULL */
};

static int parse(struct args *a, int argc, char **argv, const char *cmd, const char *usage)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		if (wo_cli_is_help(argv[i])) {
			fputs(usage, stdout);
			return 1;
		} else if (!strcmp(argv[i], "--json")) {
			a->json = 1;
		} else if (!strcmp(argv[i], "--password-stdin")) {
			a->password_stdin = 1;
		} else if (!strcmp(argv[i], "--expires") && i + 1 < argc) {
			char *end;
			a->expires = strtol(argv[++i], &end, 10);
			if (*end || a->expires < 1 || a->expires > 3650)
				return wo_cli_usage_error(cmd, "--expires '%s' is invalid: use 1-3650 days", argv[i]), -1;
		} else if (!strcmp(argv[i], "--user") && i + 1 < argc) {
			a->user = argv[++i];
		} else if (!strcmp(argv[i], "--role") && i + 1 < argc) {
			a->role = argv[++i];
		} else if (!strcmp(argv[i], "--scope") && i + 1 < argc) {
			a->scope = argv[++i];
		} else if (!strcmp(argv[i], "--deployment") && i + 1 < argc) {
			if (!a->deployments)
				a->deployments = json_array();
			json_array_append_new(a->deployments, json_string(argv[++i]));
		} else if (!strcmp(argv[i], "--password")) {
			return wo_cli_usage_error(cmd, "passwords are never given on the command line: use --password-stdin"),
			       -1;
		} else if (argv[i][0] == '-') {
			return wo_cli_usage_error(cmd, "option '%s' is not known or needs a value", argv[i]), -1;
		} else if (!a->name) {
			a->name = argv[i];
		} else if (!a->second) {
			a->second = argv[i];
		} else {
			return wo_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]), -1;
		}
	}
	return 0;
}

int wo_cmd_user(struct wo_cli *cli, int argc, char **argv)
{
	if (argc < 2 || wo_cli_is_help(argv[1])) {
		fputs(user_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? WO_EXIT_USAGE : WO_EXIT_OK;
	}
	const char *sub = argv[1];
	struct args a;
	int r = parse(&a, argc - 1, argv + 1, "user", user_usage);
	if (r)
		return r > 0 ? WO_EXIT_OK : WO_EXIT_USAGE;
	if (strcmp(sub, "list") != 0 && !a.name)
		return wo_cli_usage_error("user", "%s needs the user NAME", sub);
	if ((!strcmp(sub, "create") || !strcmp(sub, "passwd")) && !a.password_stdin)
		return wo_cli_usage_error("user", "%s reads the password from stdin: add --password-stdin", sub);
	if (strcmp(sub, "create") && strcmp(sub, "passwd") && strcmp(sub, "list") && strcmp(sub, "delete") &&
	    strcmp(sub, "role"))
		return wo_cli_usage_error("user", "unknown user command '%s'", sub);
	if (!strcmp(sub, "role") && !a.second)
		return wo_cli_usage_error("user", "role needs the user NAME and the ROLE (admin, member or viewer)");
	if (a.second && strcmp(sub, "role"))
		return wo_cli_usage_error("user", "unexpected argument '%s'", a.second);
	int rr;
	if (a.role && wo_role_parse(&rr, a.role) < 0)
		return wo_cli_usage_error("user", "--role: %s", wo_error_last());
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	if (!strcmp(sub, "role")) {
		if (wo_user_set_role(conn, a.name, a.second) < 0)
			return wo_cli_fail("%s", wo_error_last());
		printf("user '%s' is now %s %s\n", a.name, !strcmp(a.second, "admin") ? "an" : "a", a.second);
		return WO_EXIT_OK;
	}
	if (!strcmp(sub, "list")) {
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
	if (!strcmp(sub, "delete")) {
		if (wo_user_delete(conn, a.name) < 0)
			return wo_cli_fail("%s", wo_error_last());
		printf("deleted user '%s' (and ended their sessions)\n", a.name);
		return WO_EXIT_OK;
	}
	char *pw = NULL;
	if (read_password(&pw) < 0)
		return wo_cli_fail("%s", wo_error_last());
	json_t *made = NULL;
	int rc = !strcmp(sub, "create") ? wo_user_create(&made, conn, a.name, pw, a.role)
					: wo_user_set_password(conn, a.name, pw);
	memset(pw, 0, strlen(pw));
	free(pw);
	if (rc < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (!strcmp(sub, "create")) {
		/* the setup link has done its job once a user exists */
		char *path = NULL;
		if (asprintf(&path, "%s/setup-url", cli->cfg.data_dir) >= 0)
			unlink(path);
		free(path);
		const char *role = json_string_value(json_object_get(made, "role"));
		printf("created user '%s' (%s)\n", a.name, role ? role : "member");
		json_decref(made);
	} else {
		printf("changed the password of '%s' (their sessions ended)\n", a.name);
	}
	return WO_EXIT_OK;
}

int wo_cmd_token(struct wo_cli *cli, int argc, char **argv)
{
	if (argc < 2 || wo_cli_is_help(argv[1])) {
		fputs(token_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? WO_EXIT_USAGE : WO_EXIT_OK;
	}
	const char *sub = argv[1];
	struct args a;
	int r = parse(&a, argc - 1, argv + 1, "token", token_usage);
	if (r)
		return r > 0 ? WO_EXIT_OK : WO_EXIT_USAGE;
	if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "revoke"))
		return wo_cli_usage_error("token", "unknown token command '%s'", sub);
	if (strcmp(sub, "list") != 0 && !a.name)
		return wo_cli_usage_error("token", "%s needs the token NAME", sub);
	int sc;
	if (a.scope && wo_scope_parse(&sc, a.scope) < 0)
		return json_decref(a.deployments), wo_cli_usage_error("token", "--scope: %s", wo_error_last());
	PGconn *conn = wo_cli_db(cli);
	if (!conn) {
		json_decref(a.deployments);
		return WO_EXIT_ERROR;
	}
	long long uid = 0;
	if (a.user) {
		struct wo_principal p;
		if (wo_user_principal(&p, conn, a.user) < 0) {
			json_decref(a.deployments);
			return wo_cli_fail("%s ('webops user list' shows them)", wo_error_last());
		}
		uid = p.user_id;
	}
	if (!strcmp(sub, "create")) {
		char *tok = NULL;
		json_t *rec = NULL;
		int rc = wo_token_create(&tok, &rec, conn, a.name, uid, (int)a.expires, a.scope, a.deployments);
		json_decref(a.deployments);
		if (rc < 0)
			return wo_cli_fail("%s", wo_error_last());
		if (a.json) {
			json_object_set_new(rec, "token", json_string(tok));
			wo_out_json(rec);
		} else {
			printf("%s\n", tok);
			if (isatty(STDOUT_FILENO))
				fprintf(stderr, "token '%s' created%s; it is shown only now: keep it somewhere safe\n", a.name,
					a.expires ? " (expires in the given days)" : " (it does not expire)");
		}
		memset(tok, 0, strlen(tok));
		free(tok);
		json_decref(rec);
		return WO_EXIT_OK;
	}
	if (!strcmp(sub, "revoke")) {
		if (wo_token_revoke(conn, a.name, 0) < 0)
			return wo_cli_fail("%s", wo_error_last());
		printf("revoked token '%s'\n", a.name);
		return WO_EXIT_OK;
	}
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

int wo_cmd_session(struct wo_cli *cli, int argc, char **argv)
{
	if (argc < 2 || wo_cli_is_help(argv[1])) {
		fputs(session_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? WO_EXIT_USAGE : WO_EXIT_OK;
	}
	const char *sub = argv[1];
	struct args a;
	int r = parse(&a, argc - 1, argv + 1, "session", session_usage);
	if (r)
		return r > 0 ? WO_EXIT_OK : WO_EXIT_USAGE;
	if (strcmp(sub, "list") && strcmp(sub, "revoke"))
		return wo_cli_usage_error("session", "unknown session command '%s'", sub);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	if (!strcmp(sub, "revoke")) {
		char *end;
		long long id = a.name ? strtoll(a.name, &end, 10) : 0;
		if (!a.name || *end || id <= 0)
			return wo_cli_usage_error("session", "revoke needs a session ID (see 'webops session list')");
		if (wo_session_revoke(conn, id, 0) < 0)
			return wo_cli_fail("%s", wo_error_last());
		printf("revoked session %lld\n", id);
		return WO_EXIT_OK;
	}
	long long uid = 0;
	if (a.user) {
		json_t *users;
		if (wo_user_list(&users, conn) < 0)
			return wo_cli_fail("%s", wo_error_last());
		size_t i;
		json_t *u;
		json_array_foreach(users, i, u)
			if (!strcmp(json_string_value(json_object_get(u, "name")), a.user))
				uid = json_integer_value(json_object_get(u, "id"));
		json_decref(users);
		if (!uid)
			return wo_cli_fail("user '%s' not found", a.user);
	}
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
