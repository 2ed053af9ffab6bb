/* Test addon "healthtest": health passes (ok), fails while DIR/NAME.down
 * exists (file), crashes with SIGSEGV (crash) or sleeps 30 s (slow); start
 * removes DIR/NAME.down and DIR/NAME.probe-down; every health check, start,
 * stop and notify appends a line to DIR/checks.log. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <webops/addon.h>

WEBOPS_ADDON("healthtest", "0.1.0");

static void note(const struct webops_host *host, struct webops_hook_ctx *ctx, const char *what)
{
	const char *dir = host->setting(ctx, "dir");
	char path[4096];
	snprintf(path, sizeof(path), "%s/checks.log", dir ? dir : "/tmp");
	FILE *f = fopen(path, "a");
	if (!f)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	const char *name = host->deployment(ctx, "name");
	fprintf(f, "%s %s %lld.%03ld %ld\n", what, name ? name : "-", (long long)ts.tv_sec,
		ts.tv_nsec / 1000000, (long)getppid());
	fclose(f);
}

static int exists(const struct webops_host *host, struct webops_hook_ctx *ctx, const char *suffix)
{
	const char *dir = host->setting(ctx, "dir");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s%s", dir ? dir : "/tmp", host->deployment(ctx, "name"), suffix);
	return access(path, F_OK) == 0;
}

static void drop(const struct webops_host *host, struct webops_hook_ctx *ctx, const char *suffix)
{
	const char *dir = host->setting(ctx, "dir");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s%s", dir ? dir : "/tmp", host->deployment(ctx, "name"), suffix);
	unlink(path);
}

WEBOPS_HOOK(healthtest_health)
{
	const char *mode = host->field(ctx, "healthtest_mode");
	note(host, ctx, "health");
	/* it stands in for a runtime addon whose release answers on the
	 * deployment's port: core's HTTP probe goes where this says */
	const char *port = host->deployment(ctx, "port");
	if (port) {
		char up[32];
		snprintf(up, sizeof(up), "127.0.0.1:%s", port);
		host->output_set(ctx, "upstream", up);
	}
	host->output_set(ctx, "cpu_percent", "1.5");
	host->output_set(ctx, "memory_bytes", "1048576");
	if (mode && !strcmp(mode, "crash"))
		raise(SIGSEGV);
	if (mode && !strcmp(mode, "slow"))
		sleep(30);
	if (mode && !strcmp(mode, "file") && exists(host, ctx, ".down")) {
		host->set_error(ctx, "unhealthy: %s.down exists", host->deployment(ctx, "name"));
		return WEBOPS_ERROR;
	}
	return WEBOPS_OK;
}

WEBOPS_HOOK(healthtest_start)
{
	note(host, ctx, "start");
	drop(host, ctx, ".down");
	drop(host, ctx, ".probe-down");
	return WEBOPS_OK;
}

WEBOPS_HOOK(healthtest_stop)
{
	note(host, ctx, "stop");
	return WEBOPS_OK;
}

WEBOPS_HOOK(healthtest_notify)
{
	note(host, ctx, "notify");
	const char *dir = host->setting(ctx, "dir");
	char path[4096];
	snprintf(path, sizeof(path), "%s/notify.jsonl", dir ? dir : "/tmp");
	FILE *f = fopen(path, "a");
	if (f) {
		fprintf(f, "%s\n", host->event_json(ctx));
		fclose(f);
	}
	/* and the deployment as hooks see it */
	snprintf(path, sizeof(path), "%s/deployment.json", dir ? dir : "/tmp");
	if ((f = fopen(path, "w"))) {
		fprintf(f, "%s\n", host->deployment_json(ctx));
		fclose(f);
	}
	return WEBOPS_OK;
}

WEBOPS_HOOK(healthtest_daemon)
{
	note(host, ctx, host->event(ctx));
	return WEBOPS_OK;
}
