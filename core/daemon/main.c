/* webopsd: the daemon. Migrates the database (starting the embedded cluster
 * when no URL is given), then serves until SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "config/config.h"
#include "daemon/daemon.h"
#include "db/db.h"
#include "db/embedded.h"
#include "db/migrate.h"
#include "http/http.h"
#include "store/addresses.h"
#include "store/auth.h"
#include "util/fs.h"
#include "util/error.h"
#include "util/log.h"
#include "addon/addon.h"
#include "addon/host.h"
#include "util/secret.h"
#include "util/url.h"
#include "store/secrets.h"
#include "util/banned.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static const char usage_text[] =
	"Usage: webopsd [--database-url-file FILE] [--data-dir DIR] [--workers N] [--listen ADDR]\n"
	"               [--metrics-listen ADDR]\n"
	"\n"
	"The webops daemon: applies migrations, then serves the web UI and the JSON\n"
	"API and runs deploy workers until SIGTERM or SIGINT. Without a database URL\n"
	"(env WEBOPS_DATABASE_URL) it starts its own PostgreSQL under the data\n"
	"directory (env WEBOPS_DATA_DIR) and stops it again on shutdown.\n"
	"\n"
	"  --database-url-file FILE\n"
	"                   read the database URL from FILE (--database-url URL gives\n"
	"                   it on the command line, where other users can read it)\n"
	"  --workers N      deploy workers (env WEBOPS_WORKERS, default 2)\n"
	"  --listen ADDR    where the web UI and API listen: HOST:PORT, [IPv6]:PORT,\n"
	"                   unix:/path, or 'off' (env WEBOPS_LISTEN, default 127.0.0.1:8000)\n"
	"  --public-url URL how people reach it, for links (env WEBOPS_PUBLIC_URL,\n"
	"                   default the listen address)\n"
	"  --metrics-listen ADDR\n"
	"                   also serve Prometheus metrics at ADDR/metrics WITHOUT\n"
	"                   authentication, and nothing else there (same syntax as\n"
	"                   --listen; env WEBOPS_METRICS_LISTEN, default off). On the\n"
	"                   main address /metrics needs an API token (Bearer)\n"
	"With no user yet, it prints a one-time setup link for the first admin\n"
	"(also written to DATA_DIR/setup-url); 'webops user create' does the same.\n"
	"Logs go to stderr, one 'time level component: message' line each.\n";

int wo_daemon_stop_requested(void)
{
	return stop_requested;
}

static void migrated(const char *name, void *ud)
{
	(void)ud;
	wo_log(WO_LOG_INFO, "db", "applied migration %s", name);
}

/* With no user yet: a one-time setup link, logged and written to
 * DATA_DIR/setup-url (0600) for scripts; a newer daemon replaces the link. */
/* Where this daemon is reached, for every CLI on the host to print: its
 * public URL, and the SSH target of git pushes (WEBOPS_SSH_HOST, host or
 * host:port, else the public URL's host, else this machine's name; the
 * account webopsd runs as, whose authorized_keys webops manages). */
static void record_addresses(PGconn *conn, const char *public_url)
{
	size_t n = strlen(public_url);
	while (n > 1 && public_url[n - 1] == '/')
		n--;
	char url[1024];
	snprintf(url, sizeof(url), "%.*s", (int)n, public_url);
	char host[300] = "";
	const char *sh = getenv("WEBOPS_SSH_HOST");
	if (sh && *sh && strlen(sh) < sizeof(host) && strspn(sh, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
							   "0123456789.-:[]") == strlen(sh)) {
		snprintf(host, sizeof(host), "%s", sh);
	} else {
		const char *h = strstr(url, "://");
		if (h) {
			h += 3;
			size_t k = *h == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/");
			snprintf(host, sizeof(host), "%.*s", (int)k, h);
		}
		if (!host[0] || !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strcmp(host, "[::1]"))
			if (gethostname(host, sizeof(host) - 1) != 0)
				snprintf(host, sizeof(host), "localhost");
	}
	const struct passwd *pw = getpwuid(geteuid());
	char ssh[400];
	snprintf(ssh, sizeof(ssh), "%s@%s", pw ? pw->pw_name : "root", host);
	if (wo_server_address_set(conn, "public_url", url) < 0 || wo_server_address_set(conn, "ssh", ssh) < 0)
		wo_log(WO_LOG_WARN, "daemon", "cannot record where webopsd is reached (the CLI prints defaults): %s",
		       wo_error_last());
}

/* What addons are told at daemon_start and renew (wo_addon_daemon_facts):
 * where this host reaches the HTTP server (a wildcard address becomes the
 * loopback one) and a token made for this run, which only a proxy webopsd
 * told it to (proxy-nginx's ui_domain site) sends back. */
static void tell_addons(const char *listen_url, char *token, size_t size, struct wo_daemon_opts *dopts)
{
	unsigned char raw[24];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, size, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	dopts->proxy_token = token;
	if (strncmp(listen_url, "http://", 7) != 0)
		return; /* a unix socket: nothing a proxy on this host is pointed at here */
	const char *hostport = listen_url + 7;
	char addr[128];
	if (!strncmp(hostport, "0.0.0.0:", 8))
		snprintf(addr, sizeof(addr), "127.0.0.1:%s", hostport + 8);
	else if (!strncmp(hostport, "[::]:", 5))
		snprintf(addr, sizeof(addr), "[::1]:%s", hostport + 5);
	else
		snprintf(addr, sizeof(addr), "%s", hostport);
	json_t *facts = json_pack("{s:{s:s,s:s}}", "webopsd", "listen", addr, "proxy_token", token);
	wo_addon_daemon_facts_set(facts);
	json_decref(facts);
}

static void announce_setup(PGconn *conn, const struct wo_config *cfg, const char *public_url)
{
	long long users = 0;
	char *path = NULL;
	if (asprintf(&path, "%s/setup-url", cfg->data_dir) < 0)
		return;
	if (wo_user_count(&users, conn) < 0) {
		wo_log(WO_LOG_WARN, "http", "cannot count users: %s", wo_error_last());
	} else if (users > 0) {
		unlink(path);
	} else {
		char tok[WO_SECRET_TEXT_LEN + 1];
		if (wo_setup_token_create(tok, conn) < 0) {
			wo_log(WO_LOG_WARN, "http", "cannot create a setup link: %s", wo_error_last());
		} else {
			char *url = NULL;
			if (asprintf(&url, "%s/setup/%s", public_url, tok) >= 0) {
				wo_log(WO_LOG_INFO, "http", "no user yet: open %s to create the first admin (the link works once; "
				       "or run 'webops user create NAME --password-stdin')", url);
				wo_fs_mkdir_p(cfg->data_dir, 0700);
				char *line = NULL;
				if (asprintf(&line, "%s\n", url) >= 0 &&
				    wo_fs_write_file_atomic(path, line, strlen(line), 0600) < 0)
					wo_log(WO_LOG_WARN, "http", "cannot write %s: %s", path, wo_error_last());
				free(line);
				free(url);
			}
		}
	}
	free(path);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "database-url", required_argument, NULL, 'u' },
		{ "database-url-file", required_argument, NULL, 'F' },
		{ "data-dir", required_argument, NULL, 'D' },
		{ "workers", required_argument, NULL, 'w' },
		{ "listen", required_argument, NULL, 'l' },
		{ "public-url", required_argument, NULL, 'P' },
		{ "metrics-listen", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct wo_config cfg;
	wo_config_load(&cfg);
	struct wo_daemon_opts dopts = { .workers = 2, .grace_seconds = 30 };
	const char *w = getenv("WEBOPS_WORKERS");
	if (w && *w)
		dopts.workers = (int)strtol(w, NULL, 10);
	const char *g = getenv("WEBOPS_SHUTDOWN_GRACE");
	if (g && *g)
		dopts.grace_seconds = (int)strtol(g, NULL, 10);
	char *conninfo = NULL;
	const char *listen_spec = getenv("WEBOPS_LISTEN");
	if (!listen_spec || !*listen_spec)
		listen_spec = "127.0.0.1:8000";
	const char *public_url = getenv("WEBOPS_PUBLIC_URL");
	const char *metrics_spec = getenv("WEBOPS_METRICS_LISTEN");
	const char *ht = getenv("WEBOPS_HTTP_THREADS");
	dopts.http_threads = ht && *ht ? (int)strtol(ht, NULL, 10) : 4;
	if (dopts.http_threads < 1 || dopts.http_threads > 64)
		dopts.http_threads = 4;
	const char *hb = getenv("WEBOPS_HTTP_BODY_MAX");
	dopts.http_body_max = hb && *hb ? (size_t)strtoull(hb, NULL, 10) : WO_HTTP_BODY_MAX_DEFAULT;
	dopts.parent_conn_fd = -1;
	dopts.metrics_fd = -1;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			free(cfg.database_url);
			cfg.database_url = strdup(optarg);
			if (wo_conninfo_has_password(optarg))
				fprintf(stderr, "webopsd: warning: the --database-url on the command line holds a password, "
					"which other users can read in the process list: use --database-url-file FILE "
					"(or WEBOPS_DATABASE_URL)\n");
			break;
		case 'F':
			free(cfg.database_url);
			if (wo_secret_read_file(&cfg.database_url, optarg, 65536, "the database URL") < 0) {
				fprintf(stderr, "webopsd: %s\n", wo_error_last());
				return 1;
			}
			break;
		case 'D':
			free(cfg.data_dir);
			cfg.data_dir = strdup(optarg);
			break;
		case 'w': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 64) {
				fprintf(stderr, "webopsd: --workers '%s' is invalid: use 1-64\n", optarg);
				return 2;
			}
			dopts.workers = (int)n;
			break;
		}
		case 'l':
			listen_spec = optarg;
			break;
		case 'P':
			public_url = optarg;
			break;
		case 'M':
			metrics_spec = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("webopsd %s\n", WEBOPS_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'webopsd --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "webopsd: unexpected argument '%s'\nTry 'webopsd --help'.\n", argv[optind]);
		return 2;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* bind first: a taken port is an error before anything starts */
	int listen_fd = -1;
	char *listen_url = NULL;
	if (strcmp(listen_spec, "off") != 0) {
		if (wo_http_listen(&listen_fd, &listen_url, listen_spec) < 0) {
			wo_log(WO_LOG_ERROR, "daemon", "%s", wo_error_last());
			wo_config_release(&cfg);
			return 1;
		}
		if (!public_url || !*public_url)
			public_url = listen_url;
		dopts.public_url = public_url;
	}
	char *metrics_url = NULL;
	if (metrics_spec && *metrics_spec && strcmp(metrics_spec, "off") != 0) {
		if (wo_http_listen(&dopts.metrics_fd, &metrics_url, metrics_spec) < 0) {
			wo_log(WO_LOG_ERROR, "daemon", "--metrics-listen: %s", wo_error_last());
			if (listen_fd >= 0)
				close(listen_fd);
			free(listen_url);
			wo_config_release(&cfg);
			return 1;
		}
	}

	int started_embedded = 0;
	PGconn *conn = NULL;
	wo_config_export_env(&cfg);
	if (cfg.database_url) {
		conninfo = strdup(cfg.database_url);
	} else {
		if (wo_embedded_ensure(&conninfo, cfg.data_dir, &started_embedded) < 0)
			goto fail;
		wo_log(WO_LOG_INFO, "db", "embedded PostgreSQL %s (%s)", started_embedded ? "started" : "reused",
		       conninfo);
	}
	if (wo_db_connect(&conn, conninfo) < 0)
		goto fail;
	dopts.conninfo = conninfo;
	if (wo_migrate_apply(conn, cfg.migrations_dir, migrated, NULL) < 0)
		goto fail;
	/* the key for secrets at rest; values stored before are sealed now */
	wo_secret_configure(cfg.data_dir);
	wo_addon_host_configure(cfg.data_dir);
	if (wo_secrets_ready(conn) < 0)
		wo_log(WO_LOG_ERROR, "secrets", "%s", wo_error_last());
	if (listen_fd >= 0) {
		announce_setup(conn, &cfg, public_url);
		record_addresses(conn, public_url);
	}
	static char proxy_token[2 * 24 + 1];
	if (listen_fd >= 0)
		tell_addons(listen_url, proxy_token, sizeof(proxy_token), &dopts);
	if (listen_fd >= 0 || dopts.metrics_fd >= 0) {
		dopts.parent_conn_fd = PQsocket(conn);
		if (wo_daemon_http_start(&cfg, &dopts, listen_fd) < 0)
			goto fail;
		if (listen_fd >= 0)
			wo_log(WO_LOG_INFO, "http", "listening on %s (web UI and API at %s)", listen_url, public_url);
		if (dopts.metrics_fd >= 0)
			wo_log(WO_LOG_INFO, "metrics", "serving /metrics on %s (no authentication; nothing else there)",
			       metrics_url);
	}
	int rc = wo_daemon_run(&cfg, conn, &dopts);
	wo_log(WO_LOG_INFO, "daemon", "shutting down");
	wo_db_close(conn);
	if (started_embedded) {
		if (wo_embedded_stop(cfg.data_dir, NULL) < 0)
			wo_log(WO_LOG_ERROR, "db", "%s", wo_error_last());
		else
			wo_log(WO_LOG_INFO, "db", "embedded PostgreSQL stopped");
	}
	wo_config_release(&cfg);
	free(conninfo);
	free(listen_url);
	free(metrics_url);
	return rc == 0 ? 0 : 1;
fail:
	wo_log(WO_LOG_ERROR, "daemon", "%s", wo_error_last());
	wo_daemon_http_stop();
	free(listen_url);
	free(metrics_url);
	wo_db_close(conn);
	if (started_embedded)
		wo_embedded_stop(cfg.data_dir, NULL);
	wo_config_release(&cfg);
	free(conninfo);
	return 1;
}
