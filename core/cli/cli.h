/* The webops command-line program: shared state and helpers for commands.
 * Each command lives in its own cmd_<name>.c and is listed in main.c. */
#ifndef WO_CLI_CLI_H
#define WO_CLI_CLI_H

#include <jansson.h>
#include <libpq-fe.h>
#include "config/config.h"

enum {
	WO_EXIT_OK = 0,
	WO_EXIT_ERROR = 1,
	WO_EXIT_USAGE = 2,
};

struct wo_cli {
	struct wo_config cfg;
	PGconn *conn; /* opened lazily by wo_cli_db() */
};

/* A command: argv[0] is the command name; returns a WO_EXIT_* code. */
typedef int (*wo_cli_cmd_fn)(struct wo_cli *cli, int argc, char **argv);

/* Opens (once) the database, migrating it; prints the error and returns NULL on failure. */
PGconn *wo_cli_db(struct wo_cli *cli);
/* Where webopsd said it is reached (store/addresses.h: "public_url" or
 * "ssh"), once the database is open; NULL when it never said. */
const char *wo_cli_recorded_address(const char *key);
/* Prints "webops: <message>" to stderr, returns WO_EXIT_ERROR. */
int wo_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "webops: <message>" and "Try '<usage_hint> --help'." to stderr, returns WO_EXIT_USAGE. */
int wo_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when s is "-h" or "--help". */
int wo_cli_is_help(const char *s);

/* Commands (defined in cmd_*.c). */
int wo_cmd_deployment(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_migrate(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_db(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_credentials(struct wo_cli *cli, int argc, char **argv);
/* Issue 4 (addon host): cmd_addon.c, cmd_hook.c. Weak until they exist. */
int wo_cmd_addon(struct wo_cli *cli, int argc, char **argv) __attribute__((weak));
int wo_cmd_hook(struct wo_cli *cli, int argc, char **argv) __attribute__((weak));
/* Applies `--set KEY=VALUE` addon fields to addon_fields ({addon:{field:value}}),
 * parsed and validated by each field's declared type; when creating, fills
 * declared defaults too. 0, or -1 with the error set. Provided by the addon
 * host (cmd_addon.c); weak until it exists. */
int wo_cli_apply_sets(struct wo_cli *cli, json_t *addon_fields, char *const *sets, int nsets, int creating)
	__attribute__((weak));
/* cmd_user.c: users, API tokens and sessions of the web UI and API. */
int wo_cmd_user(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_token(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_session(struct wo_cli *cli, int argc, char **argv);
/* cmd_webhook.c: `deployment webhook NAME`, `deployment webhooks NAME`. */
int wo_cmd_webhook(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_webhooks(struct wo_cli *cli, int argc, char **argv);
/* After a create: the webhook URL and secret, once. */
void wo_cli_print_webhook_hint(struct wo_cli *cli, const char *name);
/* cmd_deploy.c: the run queue. */
int wo_cmd_deploy(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_runs(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_logs(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_cancel(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_releases(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_tls(struct wo_cli *cli, int argc, char **argv);
/* Records the command's failure (its error code and message) for the
 * program that ran it (WEBOPS_RESULT_FD), without printing it: for
 * commands that print their problems themselves. wo_cli_fail does both. */
void wo_cli_result(int code, const char *msg);
/* At the end of the command (main.c): its outcome rc as JSON on descriptor
 * WEBOPS_RESULT_FD when that is set (cli/report.c). */
void wo_cli_report_result(int rc);
/* webops deployment tls NAME ... (cmd_tls.c) */
int wo_cmd_deployment_tls(struct wo_cli *cli, int argc, char **argv);
int wo_cmd_rollback(struct wo_cli *cli, int argc, char **argv);

#endif
