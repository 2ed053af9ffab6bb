/* Test addon "pipetest": pre_deploy is a no-op, sleeps (checking for a
 * cancel), logs a line every 100 ms (ticks), logs lines_count lines as fast
 * as it can and says how fast that was (lines), crashes with SIGSEGV or
 * fails, per the pipetest_mode field;
 * post_deploy publishes the commit it saw. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <webops/addon.h>

WEBOPS_ADDON("pipetest", "0.1.0");

WEBOPS_HOOK(pipetest_pre_deploy)
{
	const char *mode = host->field(ctx, "pipetest_mode");
	if (!mode || !strcmp(mode, "none"))
		return WEBOPS_OK;
	if (!strcmp(mode, "fail")) {
		host->set_error(ctx, "pipetest was told to fail");
		return WEBOPS_ERROR;
	}
	if (!strcmp(mode, "crash")) {
		host->log(ctx, WEBOPS_LOG_INFO, "about to crash");
		raise(SIGSEGV);
		return WEBOPS_ERROR;
	}
	if (!strcmp(mode, "ticks")) {
		/* a log line every 100 ms for sleep_ms: a build that prints as it goes */
		const char *ms = host->setting(ctx, "sleep_ms");
		long total = ms ? strtol(ms, NULL, 10) : 3000;
		for (long i = 0; i * 100 < total && !host->cancelled(ctx); i++) {
			host->log(ctx, WEBOPS_LOG_INFO, "tick %ld", i + 1);
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		return WEBOPS_OK;
	}
	if (!strcmp(mode, "lines")) {
		/* a build that prints a lot: how long printing takes is what a
		 * slow log writer would add to the build */
		const char *n = host->setting(ctx, "lines_count");
		long count = n ? strtol(n, NULL, 10) : 10000;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long i = 1; i <= count; i++)
			host->log(ctx, WEBOPS_LOG_INFO, "line %ld of %ld: compiling module %ld of the project", i, count, i);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		host->log(ctx, WEBOPS_LOG_INFO, "printed %ld lines in %.1f ms (%.0f lines/s)", count, s * 1000,
			  s > 0 ? count / s : 0.0);
		return WEBOPS_OK;
	}
	const char *ms = host->setting(ctx, "sleep_ms");
	long left = ms ? strtol(ms, NULL, 10) : 3000;
	host->log(ctx, WEBOPS_LOG_INFO, "sleeping %ld ms", left);
	while (left > 0) {
		if (host->cancelled(ctx)) {
			host->set_error(ctx, "cancelled while sleeping");
			return WEBOPS_ERROR;
		}
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		left -= 50;
	}
	return WEBOPS_OK;
}

WEBOPS_HOOK(pipetest_post_deploy)
{
	host->output_set(ctx, "commit", host->commit(ctx));
	host->log(ctx, WEBOPS_LOG_INFO, "deployed %s from %s", host->commit(ctx), host->source_dir(ctx));
	return WEBOPS_OK;
}

/* start/stop/delete: fails when pipetest_mode is "fail", else says what it did. */
WEBOPS_HOOK(pipetest_lifecycle)
{
	const char *mode = host->field(ctx, "pipetest_mode");
	if (mode && !strcmp(mode, "fail")) {
		host->set_error(ctx, "pipetest refuses to %s", host->event(ctx));
		return WEBOPS_ERROR;
	}
	host->log(ctx, WEBOPS_LOG_INFO, "pipetest %s of %s", host->event(ctx), host->deployment(ctx, "name"));
	return WEBOPS_OK;
}
