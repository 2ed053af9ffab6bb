/* `webops db start|stop|status|url`: the embedded PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "db/embedded.h"
#include "util/error.h"
#include "util/banned.h"

static const char usage_text[] =
	"Usage: webops db start|stop|status|url\n"
	"\n"
	"Manages the embedded PostgreSQL that webops runs under its data directory\n"
	"($WEBOPS_DATA_DIR/postgres) when no --database-url / WEBOPS_DATABASE_URL is set.\n"
	"\n"
	"  start    create (initdb) on first use and start it; a no-op when it runs\n"
	"  stop     stop it (fast shutdown)\n"
	"  status   say whether it runs (exit 0 when it does, 1 when not)\n"
	"  url      print its connection string\n";

int wo_cmd_db(struct wo_cli *cli, int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_text, stderr);
		return WO_EXIT_USAGE;
	}
	if (wo_cli_is_help(argv[1])) {
		fputs(usage_text, stdout);
		return WO_EXIT_OK;
	}
	if (argc > 2)
		return wo_cli_usage_error("db", "unexpected argument '%s'", argv[2]);
	const char *sub = argv[1];
	const char *dir = cli->cfg.data_dir;
	if (cli->cfg.database_url && strcmp(sub, "url") != 0)
		fprintf(stderr, "webops: note: a database URL is configured; 'db %s' acts on the embedded "
				"cluster in '%s/postgres' only\n", sub, dir);
	if (!strcmp(sub, "start")) {
		char *ci = NULL;
		int started = 0;
		if (wo_embedded_ensure(&ci, dir, &started) < 0)
			return wo_cli_fail("%s", wo_error_last());
		printf("%s: %s\n", started ? "started" : "already running", ci);
		free(ci);
		return WO_EXIT_OK;
	}
	if (!strcmp(sub, "stop")) {
		int was = 0;
		if (wo_embedded_stop(dir, &was) < 0)
			return wo_cli_fail("%s", wo_error_last());
		printf(was ? "stopped the embedded PostgreSQL in '%s/postgres'\n"
			   : "the embedded PostgreSQL in '%s/postgres' is not running\n", dir);
		return WO_EXIT_OK;
	}
	if (!strcmp(sub, "status")) {
		int up = wo_embedded_running(dir);
		printf("the embedded PostgreSQL in '%s/postgres' is %s\n", dir, up ? "running" : "not running");
		return up ? WO_EXIT_OK : WO_EXIT_ERROR;
	}
	if (!strcmp(sub, "url")) {
		if (cli->cfg.database_url) {
			printf("%s\n", cli->cfg.database_url);
		} else {
			char *ci = wo_embedded_conninfo(dir, "webops");
			printf("%s\n", ci);
			free(ci);
		}
		return WO_EXIT_OK;
	}
	return wo_cli_usage_error("db", "unknown db command '%s'", sub);
}
