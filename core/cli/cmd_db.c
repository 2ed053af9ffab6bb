/* `webops db start|stop|status|url`: the embedded PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "db/embedded.h"
#include "util/error.h"
#include "util/banned.h"

/* Parses a db subcommand (it takes nothing) and notes when a database URL
 * makes it act on the embedded cluster only; 0 to go on, else the exit code
 * + 1. */
static int begin(struct wo_cli *cli, int argc, char **argv, const char *sub, const char *summary)
{
	const struct wo_opt opts[] = { WO_OPTS_END };
	char path[32];
	snprintf(path, sizeof(path), "db %s", sub);
	const struct wo_cmd_spec spec = {
		path, NULL, 0, 0, summary,
		"The embedded PostgreSQL runs under the data directory ($WEBOPS_DATA_DIR/postgres) when no\n"
		"--database-url / WEBOPS_DATABASE_URL is set.\n", opts,
	};
	int parsed = wo_opts_parse(&spec, argc, argv, NULL, NULL);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed) + 1;
	if (cli->cfg.database_url && strcmp(sub, "url") != 0)
		fprintf(stderr, "webops: note: a database URL is configured; 'db %s' acts on the embedded "
				"cluster in '%s/postgres' only\n", sub, cli->cfg.data_dir);
	return 0;
}

static int db_start(struct wo_cli *cli, int argc, char **argv)
{
	int r = begin(cli, argc, argv, "start", "Creates the embedded PostgreSQL (initdb) on first use and starts it; "
	              "a no-op when it runs.");
	if (r)
		return r - 1;
	char *ci = NULL;
	int started = 0;
	if (wo_embedded_ensure(&ci, cli->cfg.data_dir, &started) < 0)
		return wo_cli_fail("%s", wo_error_last());
	printf("%s: %s\n", started ? "started" : "already running", ci);
	free(ci);
	return WO_EXIT_OK;
}

static int db_stop(struct wo_cli *cli, int argc, char **argv)
{
	int r = begin(cli, argc, argv, "stop", "Stops the embedded PostgreSQL (fast shutdown).");
	if (r)
		return r - 1;
	int was = 0;
	if (wo_embedded_stop(cli->cfg.data_dir, &was) < 0)
		return wo_cli_fail("%s", wo_error_last());
	printf(was ? "stopped the embedded PostgreSQL in '%s/postgres'\n"
		   : "the embedded PostgreSQL in '%s/postgres' is not running\n", cli->cfg.data_dir);
	return WO_EXIT_OK;
}

static int db_status(struct wo_cli *cli, int argc, char **argv)
{
	int r = begin(cli, argc, argv, "status", "Says whether the embedded PostgreSQL runs (exit 0 when it does, 1 when "
	              "not).");
	if (r)
		return r - 1;
	int up = wo_embedded_running(cli->cfg.data_dir);
	printf("the embedded PostgreSQL in '%s/postgres' is %s\n", cli->cfg.data_dir, up ? "running" : "not running");
	return up ? WO_EXIT_OK : WO_EXIT_ERROR;
}

static int db_url(struct wo_cli *cli, int argc, char **argv)
{
	int r = begin(cli, argc, argv, "url", "Prints the database's connection string.");
	if (r)
		return r - 1;
	if (cli->cfg.database_url) {
		printf("%s\n", cli->cfg.database_url);
	} else {
		char *ci = wo_embedded_conninfo(cli->cfg.data_dir, "webops");
		printf("%s\n", ci);
		free(ci);
	}
	return WO_EXIT_OK;
}

int wo_cmd_db(struct wo_cli *cli, int argc, char **argv)
{
	static const struct wo_subcmd subs[] = {
		{ "start", db_start, NULL, "create (initdb) on first use and start it; a no-op when it runs", NULL },
		{ "stop", db_stop, NULL, "stop it (fast shutdown)", NULL },
		{ "status", db_status, NULL, "say whether it runs (exit 0 when it does, 1 when not)", NULL },
		{ "url", db_url, NULL, "print its connection string", NULL },
		WO_SUBCMD_END,
	};
	return wo_subcmd_run("db", "The embedded PostgreSQL that webops runs under its data directory\n"
	                     "($WEBOPS_DATA_DIR/postgres) when no --database-url / WEBOPS_DATABASE_URL is set.", subs, cli,
	                     argc, argv);
}
