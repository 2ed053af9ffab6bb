/* `webops deployment webhook NAME [--rotate] [--json]`: the URL and secret a
 * forge signs pushes with; `webops deployment webhooks NAME [--json]`: the
 * deliveries received and what became of each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "store/deployment.h"
#include "store/webhooks.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/banned.h"

/* Where the URL's base comes from, said by both commands' help. */
#define URL_BASE_NOTE \
	"The URL's base is WEBOPS_PUBLIC_URL, else the address webopsd recorded when it started (its\n" \
	"--public-url, else where it listens): set it to the address the forge reaches webopsd at.\n"

static char *hook_url(const char *name)
{
	const char *base = getenv("WEBOPS_PUBLIC_URL");
	if (!base || !*base)
		base = wo_cli_recorded_address("public_url"); /* where webopsd said it is reached */
	const char *listen = getenv("WEBOPS_LISTEN");
	char *u = NULL;
	int r;
	if (base && *base)
		r = asprintf(&u, "%s/hooks/%s", base, name);
	else if (listen && *listen && strncmp(listen, "unix:", 5) && strcmp(listen, "off") && listen[0] != ':' &&
		 strcmp(listen, "127.0.0.1:0"))
		r = asprintf(&u, "http://%s/hooks/%s", listen, name);
	else
		r = asprintf(&u, "http://127.0.0.1:8000/hooks/%s", name);
	return r < 0 ? NULL : u;
}

int wo_cmd_webhook(struct wo_cli *cli, int argc, char **argv)
{
	int json = 0, rotate = 0;
	const struct wo_opt opts[] = {
		WO_OPT_FLAG("rotate", 0, &rotate, "make a new secret; the old one stops working at once"),
		WO_OPT_JSON(&json),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"deployment webhook", "NAME", 1, 1,
		"The URL to give GitHub, GitLab, Gitea/Forgejo or Bitbucket and the secret they sign deliveries\n"
		"with. A push to the deployment's branch then deploys the branch as it is (never a commit older\n"
		"than the one running).",
		URL_BASE_NOTE "Content type: application/json (GitHub's form encoding works too).\n", opts,
	};
	const char *name;
	int parsed = wo_opts_parse1(&spec, argc, argv, &name);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	char *secret = NULL;
	if (wo_webhook_secret(&secret, conn, name, rotate) < 0)
		return wo_cli_fail("%s", wo_error_last());
	char *url = hook_url(name);
	if (json) {
		json_t *o = json_pack("{s:s, s:s}", "url", url ? url : "", "secret", secret);
		wo_out_json(o);
		json_decref(o);
	} else {
		printf("URL:     %s\nSecret:  %s\n", url ? url : "?", secret);
		printf("%s\nIn the forge: a webhook on push events to this URL, content type\n"
		       "application/json, with this secret (GitLab: as the secret token).\n",
		       rotate ? "\nThe secret is new: update it in the forge; the old one no longer works.\n" : "");
	}
	wo_secret_free(secret);
	free(url);
	return WO_EXIT_OK;
}

int wo_cmd_webhooks(struct wo_cli *cli, int argc, char **argv)
{
	int json = 0;
	long long limit = 20;
	const struct wo_opt opts[] = {
		WO_OPT_INT("limit", 'n', &limit, "N", 1, 1000, "the newest N deliveries (default 20)"),
		WO_OPT_JSON(&json),
		WO_OPTS_END,
	};
	const struct wo_cmd_spec spec = {
		"deployment webhooks", "NAME", 1, 1,
		"The webhook deliveries received for NAME, newest first: when, from which forge, the event, the\n"
		"commit, and whether it deployed and why (not).", NULL, opts,
	};
	const char *name;
	int parsed = wo_opts_parse1(&spec, argc, argv, &name);
	if (parsed != WO_OPT_OK)
		return wo_opts_exit(parsed);
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return WO_EXIT_ERROR;
	json_t *d;
	if (wo_deployment_get(&d, conn, name) < 0)
		return wo_cli_fail("%s", wo_error_last());
	json_decref(d);
	json_t *arr;
	if (wo_webhook_deliveries(&arr, conn, name, (int)limit) < 0)
		return wo_cli_fail("%s", wo_error_last());
	if (json) {
		wo_out_json(arr);
	} else if (!json_array_size(arr)) {
		printf("no webhook deliveries for '%s' yet ('webops deployment webhook %s' shows the URL and secret)\n", name,
		       name);
	} else {
		printf("%-24s %-9s %-12s %-9s %-8s %s\n", "RECEIVED", "FORGE", "COMMIT", "VERDICT", "RUN", "REASON");
		size_t i;
		json_t *w;
		json_array_foreach(arr, i, w) {
			const char *commit = json_string_value(json_object_get(w, "commit"));
			json_t *run = json_object_get(w, "run_id");
			char runs[24] = "-";
			if (json_is_integer(run))
				snprintf(runs, sizeof(runs), "%lld", (long long)json_integer_value(run));
			printf("%-24s %-9s %-12.12s %-9s %-8s %s\n", json_string_value(json_object_get(w, "received_at")),
			       json_string_value(json_object_get(w, "provider")), commit ? commit : "-",
			       json_string_value(json_object_get(w, "verdict")), runs,
			       json_string_value(json_object_get(w, "reason")));
		}
	}
	json_decref(arr);
	return WO_EXIT_OK;
}

void wo_cli_print_webhook_hint(struct wo_cli *cli, const char *name)
{
	PGconn *conn = wo_cli_db(cli);
	char *secret = NULL;
	if (!conn)
		return;
	if (wo_webhook_secret(&secret, conn, name, 0) < 0) {
		fprintf(stderr, "webops: warning: %s\n", wo_error_last());
		return;
	}
	char *url = hook_url(name);
	printf("webhook: %s\nsecret:  %s\n(a forge signs push deliveries with it; 'webops deployment webhook %s' "
	       "shows both again)\n",
	       url ? url : "?", secret, name);
	wo_secret_free(secret);
	free(url);
}
