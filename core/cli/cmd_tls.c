/* webops tls: the TLS certificates addons keep for deployments' domains
 * (proxy-nginx's, from ACME), as their status hooks report them now. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addon/addon.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/secret.h"
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

static const char deployment_usage[] =
	"Usage: webops deployment tls NAME --cert FILE --key FILE [--json]\n"
	"       webops deployment tls NAME --auto | --off [--json]\n"
	"\n"
	"How the deployment's domain is served over HTTPS (proxy-nginx's fields tls\n"
	"and tls_pem), from its next deploy on:\n"
	"  --cert FILE  a certificate of your own (PEM; the chain may follow it in the\n"
	"               same file): tls becomes custom and ACME is not asked\n"
	"  --key FILE   its private key (PEM, without a passphrase); stored encrypted\n"
	"               with the certificate. Both are checked first: the key is the\n"
	"               certificate's, the certificate names the domain, is valid now\n"
	"  --auto       a certificate from ACME (the default; the custom one is dropped)\n"
	"  --off        plain HTTP only\n"
	"  --json       the deployment as stored, as JSON\n"
	"Give a renewed certificate the same way before the old one expires;\n"
	"webops tls list shows when each expires.\n";

/* Reads a PEM file given on the command line (at most 64 KiB). */
static char *read_pem(const char *path, const char *what)
{
	char *text = NULL;
	size_t len = 0;
	if (wo_fs_read_file(&text, &len, path, 65536) < 0) {
		wo_cli_fail("cannot read the %s '%s': %s", what, path, wo_error_last());
		return NULL;
	}
	if (len == 0 || memchr(text, '\0', len) || !strstr(text, "-----BEGIN ")) {
		wo_cli_fail("the %s '%s' is not PEM text (expected \"-----BEGIN ...\" lines)", what, path);
		wo_secret_free(text);
		return NULL;
	}
	return text;
}

int wo_cmd_deployment_tls(struct wo_cli *cli, int argc, char **argv)
{
	const char *name = NULL, *cert = NULL, *key = NULL, *mode = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (wo_cli_is_help(a)) {
			fputs(deployment_usage, stdout);
			return WO_EXIT_OK;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--auto") || !strcmp(a, "--off")) {
			mode = a + 2;
		} else if (!strcmp(a, "--cert") || !strcmp(a, "--key")) {
			if (i + 1 >= argc)
				return wo_cli_usage_error("deployment tls", "%s needs a FILE", a);
			*(a[2] == 'c' ? &cert : &key) = argv[++i];
		} else if (!strncmp(a, "--cert=", 7) || !strncmp(a, "--key=", 6)) {
			*(a[2] == 'c' ? &cert : &key) = strchr(a, '=') + 1;
		} else if (a[0] == '-') {
			return wo_cli_usage_error("deployment tls", "option '%s' is not known", a);
		} else if (!name) {
			name = a;
		} else {
			return wo_cli_usage_error("deployment tls", "unexpected argument '%s'", a);
		}
	}
	if (!name)
		return wo_cli_usage_error("deployment tls", "%s", "the deployment NAME is needed");
	if ((cert || key) && mode)
		return wo_cli_usage_error("deployment tls", "--%s does not go with --cert/--key", mode);
	if (!mode && (!cert || !key))
		return wo_cli_usage_error("deployment tls", "%s", cert || key ? "--cert and --key go together"
		                                                              : "give --cert FILE --key FILE, --auto or --off");
	char *pem = NULL, *set_tls = NULL;
	if (!mode) {
		char *c = read_pem(cert, "certificate");
		char *k = c ? read_pem(key, "key") : NULL;
		if (!k) {
			wo_secret_free(c);
			return WO_EXIT_ERROR;
		}
		if (asprintf(&pem, "tls_pem=%s%s%s", c, c[strlen(c) - 1] == '\n' ? "" : "\n", k) < 0)
			pem = NULL;
		wo_secret_free(c);
		wo_secret_free(k);
		if (!pem)
			return wo_cli_fail("out of memory");
	}
	if (asprintf(&set_tls, "tls=%s", mode ? mode : "custom") < 0) {
		wo_secret_free(pem);
		return wo_cli_fail("out of memory");
	}
	/* the same path as `deployment update --set`: the field types, the
	 * addons' validate hooks (proxy-nginx checks the pair), sealing */
	char *args[10];
	int n = 0;
	args[n++] = "deployment";
	args[n++] = "update";
	args[n++] = (char *)name;
	args[n++] = "--set";
	args[n++] = set_tls;
	args[n++] = "--set";
	args[n++] = pem ? pem : "tls_pem=";
	if (json)
		args[n++] = "--json";
	args[n] = NULL;
	int rc = wo_cmd_deployment(cli, n, args);
	wo_secret_free(pem);
	free(set_tls);
	if (rc == WO_EXIT_OK && !json)
		printf("'%s' is served %s from its next deploy (webops deploy %s)\n", name,
		       !mode ? "with this certificate" : !strcmp(mode, "off") ? "over plain HTTP only"
		                                                            : "with a certificate from ACME",
		       name);
	return rc;
}
