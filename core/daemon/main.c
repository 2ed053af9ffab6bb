/* webopsd: the daemon. Migrates the database (starting the embedded cluster
 * when no URL is given), then serves until SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "daemon/daemon.h"
#include "db/db.h"
#include "db/embedded.h"
#include "db/migrate.h"
#include "util/error.h"
#include "util/log.h"
#include "util/banned.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static const char usage_text[] =
	"Usage: webopsd [--database-url URL] [--data-dir DIR] [--workers N]\n"
	"\n"
	"The webops daemon: applies migrations, then runs deploy workers until\n"
	"SIGTERM or SIGINT. Without a database URL (env WEBOPS_DATABASE_URL) it\n"
	"starts its own PostgreSQL under the data directory (env WEBOPS_DATA_DIR)\n"
	"and stops it again on shutdown.\n"
	"\n"
	"  --workers N   deploy workers (env WEBOPS_WORKERS, default 2)\n"
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "database-url", required_argument, NULL, 'u' },
		{ "data-dir", required_argument, NULL, 'D' },
		{ "workers", required_argument, NULL, 'w' },
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
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			free(cfg.database_url);
			cfg.database_url = strdup(optarg);
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
	wo_log(WO_LOG_INFO, "daemon", "webopsd %s ready: %d workers, data dir %s, addons %s, pid %ld", WEBOPS_VERSION,
	       dopts.workers, cfg.data_dir, cfg.addons_path, (long)getpid());

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
	return rc == 0 ? 0 : 1;
fail:
	wo_log(WO_LOG_ERROR, "daemon", "%s", wo_error_last());
	wo_db_close(conn);
	if (started_embedded)
		wo_embedded_stop(cfg.data_dir, NULL);
	wo_config_release(&cfg);
	free(conninfo);
	return 1;
}
