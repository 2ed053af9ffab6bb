/* webops tls: the TLS certificates addons keep for deployments' domains
 * (proxy-nginx's, from ACME), as their status hooks report them now. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addon/addon.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "util/error.h"
#include "util/banned.h"

static const char usage_text[] =
	"Usage: webops tls list [--json]\n"
	"\n"
	"The certificates webops serves HTTPS with, one line per domain: the issuer,\n"
	"when it expires and how many days are left, and the last error of asking\n"
	"for it (the ACME server's problem), if the last attempt failed. A domain\n"
	"is asked for when a deployment that has it is deployed (proxy-nginx, with\n"
	"its acme_email setting); one that has no certificate is served over HTTP.\n"
	"\n"
	"  --json   the list as a JSON array\n";

int wo_cmd_tls(struct wo_cli *cli, int argc, char **argv)
{
	if (argc < 2 || wo_cli_is_help(argv[1])) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? WO_EXIT_USAGE : WO_EXIT_OK;
	}
	if (strcmp(argv[1], "list") != 0)
		return wo_cli_usage_error("tls", "'%s' is not a tls subcommand (list)", argv[1]);
	int json = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (wo_cli_is_help(argv[i]))
			return fputs(usage_text, stdout), WO_EXIT_OK;
		else
			return wo_cli_usage_error("tls", "option '%s' is not known", argv[i]);
	}
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	struct wo_addon_registry *reg = NULL;
	if (wo_addon_registry_load(&reg, cli->cfg.addons_path, conn) < 0)
		return wo_cli_fail("%s", wo_error_last());
	json_t *st = NULL;
	int rc = wo_addon_status_refresh(&st, reg, conn, NULL);
	wo_addon_registry_free(reg);
	if (rc < 0)
		return wo_cli_fail("%s", wo_error_last());
	json_t *certs = wo_addon_certificates(st);
	json_decref(st);
	if (json) {
		wo_out_json(certs);
	} else if (json_array_size(certs) == 0) {
		puts("no certificates yet: a deployment with a domain gets one when it is deployed (proxy-nginx, with its "
		     "acme_email setting)");
	} else {
		printf("%-40s %-28s %-20s %5s  %s\n", "DOMAIN", "ISSUER", "NOT AFTER", "DAYS", "LAST ERROR");
		size_t i;
		json_t *c;
		json_array_foreach(certs, i, c) {
			const char *issuer = json_string_value(json_object_get(c, "issuer"));
			const char *until = json_string_value(json_object_get(c, "not_after"));
			const char *err = json_string_value(json_object_get(c, "last_error"));
			json_t *days = json_object_get(c, "days_left");
			char d[16] = "-";
			if (json_is_integer(days))
				snprintf(d, sizeof(d), "%lld", (long long)json_integer_value(days));
			printf("%-40s %-28.28s %-20s %5s  ", json_string_value(json_object_get(c, "domain")),
			       issuer ? issuer : "(none: served over HTTP)", until ? until : "-", d);
			wo_out_escaped(stdout, err ? err : "-");
			putchar('\n');
		}
	}
	json_decref(certs);
	return WO_EXIT_OK;
}
