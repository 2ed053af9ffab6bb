/* `webops migrate [--status] [--json]`. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "db/db.h"
#include "db/migrate.h"
#include "util/error.h"
#include "util/banned.h"


static void progress(const char *name, void *ud)
{
	(void)ud;
	printf("applied %s\n", name);
}

int wo_cmd_migrate(struct wo_cli *cli, int argc, char **argv)
{
	int status = 0, json = 0;
	const struct wo_opt opts[] = {
		WO_OPT_FLAG("status", 0, &status, "list migrations as applied, pending, changed or missing"),
		WO_OPT_FLAG("json", 0, &json, "machine-readable output (with --status)"),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"migrate", NULL, 0, 0,
		"Applies pending database migrations from the migrations directory (env WEBOPS_MIGRATIONS_DIR),\n"
		"each in its own transaction. An applied migration whose file changed or disappeared is an error\n"
		"naming the file.", NULL, opts,
	};
	int parsed = wo_opts_parse(&spec, argc, argv, NULL, NULL);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
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
