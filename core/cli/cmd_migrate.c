/* `webops migrate [--status] [--json]`. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "db/db.h"
#include "db/migrate.h"
#include "util/error.h"
#include "util/banned.h"

static const char usage_text[] =
	"Usage: webops migrate [--status] [--json]\n"
	"\n"
	"Applies pending database migrations from the migrations directory\n"
	"(env WEBOPS_MIGRATIONS_DIR), each in its own transaction. An applied\n"
	"migration whose file changed or disappeared is an error naming the file.\n"
	"\n"
	"  --status   list migrations as applied, pending, changed or missing\n"
	"  --json     machine-readable output (with --status)\n";

static void progress(const char *name, void *ud)
{
	(void)ud;
	printf("applied %s\n", name);
}

int wo_cmd_migrate(struct wo_cli *cli, int argc, char **argv)
{
	int status = 0, json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--status"))
			status = 1;
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (wo_cli_is_help(argv[i])) {
			fputs(usage_text, stdout);
			return WO_EXIT_OK;
		} else
			return wo_cli_usage_error("migrate", "unexpected argument '%s'", argv[i]);
	}
	PGconn *conn;
	if (wo_db_open(&conn, &cli->cfg, 1) < 0)
		return wo_cli_fail("%s", wo_error_last());
	cli->conn = conn;
	if (!status) {
		if (wo_migrate_apply(conn, cli->cfg.migrations_dir, progress, NULL) < 0)
			return wo_cli_fail("%s", wo_error_last());
		printf("database is up to date\n");
		return WO_EXIT_OK;
	}
	json_t *arr;
	if (wo_migrate_status(&arr, conn, cli->cfg.migrations_dir) < 0)
		return wo_cli_fail("%s", wo_error_last());
	int bad = 0;
	if (json) {
		wo_out_json(arr);
	} else {
		printf("%-9s %-22s %s\n", "STATE", "APPLIED AT", "MIGRATION");
		size_t i;
		json_t *m;
		json_array_foreach(arr, i, m) {
			const json_t *at = json_object_get(m, "applied_at");
			printf("%-9s %-22s %s\n", json_string_value(json_object_get(m, "state")),
			       json_is_string(at) ? json_string_value(at) : "-",
			       json_string_value(json_object_get(m, "name")));
		}
	}
	size_t i;
	json_t *m;
	json_array_foreach(arr, i, m) {
		const char *st = json_string_value(json_object_get(m, "state"));
		bad |= !strcmp(st, "changed") || !strcmp(st, "missing");
	}
	json_decref(arr);
	return bad ? WO_EXIT_ERROR : WO_EXIT_OK;
}
