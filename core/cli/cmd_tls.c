/* webops tls: the TLS certificates addons keep for deployments' domains
 * (proxy-nginx's, from ACME), as their status hooks report them now. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addon/addon.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/secret.h"
#include "util/banned.h"

static int cmd_list(struct wo_cli *cli, int argc, char **argv)
{
	int json = 0;
	const struct wo_opt opts[] = {
		WO_OPT_FLAG("json", 0, &json, "the list as a JSON array"),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"tls list", NULL, 0, 0,
		"The certificates webops serves HTTPS with, one line per domain: the issuer, when it expires and\n"
		"how many days are left, and the last error of asking for it (the ACME server's problem), if the\n"
		"last attempt failed.",
		"A domain is asked for when a deployment that has it is deployed (proxy-nginx, with its acme_email\n"
		"setting); one that has no certificate is served over HTTP.\n", opts,
	};
	int parsed = wo_opts_parse(&spec, argc, argv, NULL, NULL);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
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
	const char *cert = NULL, *key = NULL, *mode = NULL;
	long long choice = 0;
	int json = 0;
	const struct wo_opt opts[] = {
		WO_OPT_STRING("cert", 0, &cert, "FILE", "a certificate of your own (PEM; the chain may follow it): tls "
		              "becomes custom"),
		WO_OPT_STRING("key", 0, &key, "FILE", "its private key (PEM, no passphrase); stored encrypted"),
		WO_OPT_SET("auto", &choice, 1, "a certificate from ACME (the default; the custom one is dropped)"),
		WO_OPT_SET("off", &choice, 2, "plain HTTP only"),
		WO_OPT_FLAG("json", 0, &json, "print the deployment as stored, as JSON"),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"deployment tls", "NAME", 1, 1,
		"How the deployment's domain is served over HTTPS (proxy-nginx's fields tls and tls_pem), from its\n"
		"next deploy on: with a certificate of your own, from ACME, or not at all.",
		"The certificate and key are checked first: the key is the certificate's, the certificate names\n"
		"the domain and is valid now. Give a renewed certificate the same way before the old one expires;\n"
		"webops tls list shows when each expires.\n", opts,
	};
	const char *name;
	int parsed = wo_opts_parse1(&spec, argc, argv, &name);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	mode = choice == 1 ? "auto" : choice == 2 ? "off" : NULL;
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

int wo_cmd_tls(struct wo_cli *cli, int argc, char **argv)
{
	static const struct wo_subcmd subs[] = {
		{ "list", cmd_list, NULL, "the certificates: issuer, expiry, days left, last error", "ls" },
		WO_SUBCMD_END,
	};
	return wo_subcmd_run("tls", "The TLS certificates deployments' domains are served over HTTPS with.", subs, cli,
	                     argc, argv);
}
