/* webops: the command-line program. Global options are taken out of argv
 * wherever they appear, then the command named first runs. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cmd_git.h"
#include "store/addresses.h"
#include "db/db.h"
#include "util/error.h"
#include "addon/host.h"
#include "util/secret.h"
#include "util/url.h"
#include "util/banned.h"

/* cmd_health.c (declared here: cli.h is shared by many hands) */
int wo_cmd_health(struct wo_cli *cli, int argc, char **argv);

struct command {
	const char *name;
	wo_cli_cmd_fn fn;
	const char *summary;
};

static PGconn *opened; /* for the recorded addresses */

PGconn *wo_cli_db(struct wo_cli *cli)
{
	if (cli->conn)
		return cli->conn;
	if (wo_db_open(&cli->conn, &cli->cfg, 0) < 0) {
		wo_cli_fail("%s", wo_error_last());
		return NULL;
	}
	opened = cli->conn;
	return cli->conn;
}

const char *wo_cli_recorded_address(const char *key)
{
	static char *public_url, *ssh;
	char **slot = !strcmp(key, "ssh") ? &ssh : &public_url;
	if (!*slot && opened)
		*slot = wo_server_address_get(opened, key);
	return *slot;
}

/* `webops completion bash`: completion that asks webops itself for its
 * commands (--list-commands) and each command's options (--list-options),
 * so it is made from the same tables as --help and never goes stale. */
static int cmd_completion(struct wo_cli *cli, int argc, char **argv)
{
	(void)cli;
	if (argc != 2 || strcmp(argv[1], "bash") != 0) {
		if (argc == 2 && wo_cli_is_help(argv[1])) {
			puts("Usage: webops completion bash\n\nPrints a bash completion script for webops:\n"
			     "  source <(webops completion bash)   # or save it in /etc/bash_completion.d/webops");
			return WO_EXIT_OK;
		}
		return wo_cli_usage_error("completion", "%s", "give the shell: webops completion bash");
	}
	fputs("# bash completion for webops (webops completion bash)\n"
	      "_webops() {\n"
	      "  local cur=${COMP_WORDS[COMP_CWORD]} words=\n"
	      "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
	      "    words=$(webops --list-commands 2>/dev/null)\n"
	      "  elif [[ $cur == -* ]]; then\n"
	      "    words=$(webops \"${COMP_WORDS[1]}\" \"${COMP_WORDS[2]}\" --list-options 2>/dev/null ||\n"
	      "            webops \"${COMP_WORDS[1]}\" --list-options 2>/dev/null)\n"
	      "  elif [ \"$COMP_CWORD\" -eq 2 ]; then\n"
	      "    words=$(webops \"${COMP_WORDS[1]}\" --list-commands 2>/dev/null)\n"
	      "  fi\n"
	      "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
	      "}\n"
	      "complete -F _webops webops\n", stdout);
	return WO_EXIT_OK;
}

static void usage(FILE *f, const struct command *cmds)
{
	fprintf(f,
		"Usage: webops [--database-url-file FILE] [--data-dir DIR] COMMAND [ARGS...]\n"
		"\n"
		"webops registers deployments (a git repository and its settings), deploys\n"
		"them through addon hooks and keeps them running.\n"
		"\n"
		"Commands:\n");
	for (const struct command *c = cmds; c->name; c++)
		if (c->fn && c->summary) /* no summary: run by programs (git, sshd), not people */
			fprintf(f, "  %-12s %s\n", c->name, c->summary);
	fprintf(f,
		"\n"
		"Global options (accepted anywhere on the line):\n"
		"  --database-url-file FILE\n"
		"                      read the database URL (a libpq conninfo or postgresql:// URI)\n"
		"                      from FILE; or set WEBOPS_DATABASE_URL. Without one webops runs\n"
		"                      its own PostgreSQL under the data directory\n"
		"  --database-url URL  the same on the command line, where other users can read it\n"
		"                      (ps): give a password only through the file or the variable\n"
		"  --data-dir DIR      where webops keeps its state (env WEBOPS_DATA_DIR;\n"
		"                      default /var/lib/webops as root, else ~/.local/share/webops)\n"
		"  -h, --help          this help; 'webops COMMAND --help' for a command's own\n"
		"  --version           print the version\n"
		"\n"
		"Exit status: 0 success, 1 error, 2 usage error.\n");
}

/* Removes --database-url[-file]/--data-dir (both "--opt value" and
 * "--opt=value") from argv, applying them to cfg. */
static int take_global_options(struct wo_cli *cli, int *argc, char **argv)
{
	int w = 1;
	const char *url_file = NULL;
	int url_on_argv = 0;
	for (int r = 1; r < *argc; r++) {
		const char *a = argv[r];
		char **slot = NULL, *file_slot = NULL;
		const char *val = NULL;
		if (!strcmp(a, "--")) {
			/* everything after -- belongs to the command */
			while (r < *argc)
				argv[w++] = argv[r++];
			break;
		}
		if (!strncmp(a, "--database-url", 14) && (a[14] == '\0' || a[14] == '='))
			slot = &cli->cfg.database_url;
		else if (!strncmp(a, "--database-url-file", 19) && (a[19] == '\0' || a[19] == '='))
			slot = &file_slot;
		else if (!strncmp(a, "--data-dir", 10) && (a[10] == '\0' || a[10] == '='))
			slot = &cli->cfg.data_dir;
		if (!slot) {
			argv[w++] = argv[r];
			continue;
		}
		const char *eq = strchr(a, '=');
		if (eq)
			val = eq + 1;
		else if (r + 1 < *argc)
			val = argv[++r];
		else
			return wo_cli_usage_error("--help", "option '%s' needs a value", a);
		if (!*val)
			return wo_cli_usage_error("--help", "option '%.*s' needs a non-empty value",
						  (int)(eq ? eq - a : (long)strlen(a)), a);
		if (slot == &file_slot) {
			url_file = val;
			continue;
		}
		url_on_argv |= slot == &cli->cfg.database_url;
		free(*slot);
		*slot = strdup(val);
	}
	*argc = w;
	argv[w] = NULL;
	if (url_file && url_on_argv)
		return wo_cli_usage_error("--help", "use --database-url or --database-url-file, not both");
	if (url_file) {
		char *url = NULL;
		if (wo_secret_read_file(&url, url_file, 65536, "the database URL") < 0)
			return wo_cli_fail("%s", wo_error_last());
		wo_secret_free(cli->cfg.database_url);
		cli->cfg.database_url = url;
	} else if (url_on_argv && wo_conninfo_has_password(cli->cfg.database_url)) {
		fprintf(stderr, "webops: warning: the --database-url on the command line holds a password, which other "
			"users can read in the process list: put the URL in a file only you can read and use "
			"--database-url-file FILE (or WEBOPS_DATABASE_URL, or ~/.pgpass)\n");
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct command cmds[] = {
		{ "deployment", wo_cmd_deployment, "create, list, show, update and delete deployments" },
		{ "deploy", wo_cmd_deploy, "deploy a deployment now" },
		{ "runs", wo_cmd_runs, "list the runs of a deployment" },
		{ "logs", wo_cmd_logs, "show or follow a run's log" },
		{ "cancel", wo_cmd_cancel, "cancel a queued or running run" },
		{ "releases", wo_cmd_releases, "list a deployment's releases (what each deploy left)" },
		{ "rollback", wo_cmd_rollback, "run an earlier release again, without a build" },
		{ "health", wo_cmd_health, "show health check results, state changes and restarts" },
		{ "tls", wo_cmd_tls, "the certificates deployments' domains are served over HTTPS with" },
		{ "addon", wo_cmd_addon, "list, inspect, enable, configure and scaffold addons" },
		{ "hook", wo_cmd_hook, "run one event's hooks for a deployment" },
		{ "user", wo_cmd_user, "create and manage the people who use the web UI" },
		{ "token", wo_cmd_token, "create, list and revoke API tokens" },
		{ "session", wo_cmd_session, "list and revoke web UI sessions" },
		{ "ssh-key", wo_cmd_ssh_key, "add, list and remove the SSH keys that may git push" },
		{ "git-hook", wo_cmd_git_hook, NULL },
		{ "git-shell", wo_cmd_git_shell, NULL },
		{ "migrate", wo_cmd_migrate, "apply database migrations, or list them with --status" },
		{ "db", wo_cmd_db, "start, stop or locate the embedded PostgreSQL" },
		{ "completion", cmd_completion, "a bash completion script, made from the commands' own tables" },
		{ NULL, NULL, NULL },
	};
	struct wo_cli cli = { 0 };
	wo_config_load(&cli.cfg);
	int grc = take_global_options(&cli, &argc, argv);
	if (grc != 0) {
		wo_config_release(&cli.cfg);
		return grc;
	}
	/* hooks run by 'webops hook run' see the same directories as in the daemon */
	wo_config_export_env(&cli.cfg);
	wo_secret_configure(cli.cfg.data_dir);
	wo_addon_host_configure(cli.cfg.data_dir);
	if (argc < 2) {
		usage(stderr, cmds);
		wo_config_release(&cli.cfg);
		return WO_EXIT_USAGE;
	}
	if (wo_cli_is_help(argv[1])) {
		usage(stdout, cmds);
		wo_config_release(&cli.cfg);
		return WO_EXIT_OK;
	}
	if (!strcmp(argv[1], "--list-commands")) {
		/* for shell completion */
		for (const struct command *c = cmds; c->name; c++)
			if (c->fn && c->summary)
				puts(c->name);
		wo_config_release(&cli.cfg);
		return WO_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("webops %s\n", WEBOPS_VERSION);
		wo_config_release(&cli.cfg);
		return WO_EXIT_OK;
	}
	int rc = -1;
	for (const struct command *c = cmds; c->name; c++)
		if (!strcmp(c->name, argv[1]) && c->fn) {
			rc = c->fn(&cli, argc - 1, argv + 1);
			break;
		}
	if (rc < 0) {
		fprintf(stderr, "webops: unknown command '%s'\nTry 'webops --help'.\n", argv[1]);
		rc = WO_EXIT_USAGE;
	}
	wo_cli_report_result(rc);
	wo_db_close(cli.conn);
	wo_config_release(&cli.cfg);
	return rc;
}
