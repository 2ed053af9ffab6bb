/* See addon.yaml: a watcher driven by files, for test_watch. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <webops/addon.h>

WEBOPS_ADDON("watchtest", "0.1.0");

static void note(const char *dir, const char *what)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/watch.log", dir);
	FILE *f = fopen(path, "a");
	if (f) {
		fprintf(f, "%s %ld\n", what, (long)getpid());
		fclose(f);
	}
}

WEBOPS_HOOK(watchtest_watch)
{
	const char *dir = host->setting(ctx, "dir");
	note(dir, "started");
	while (!host->cancelled(ctx)) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/crash", dir);
		if (unlink(path) == 0)
			raise(SIGSEGV);
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (strncmp(e->d_name, "report-", 7) != 0)
				continue;
			char text[256] = "";
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			FILE *f = fopen(path, "r");
			if (f) {
				if (!fgets(text, sizeof(text), f))
					text[0] = '\0';
				fclose(f);
			}
			text[strcspn(text, "\n")] = '\0';
			unlink(path);
			if (host->report(ctx, e->d_name + 7, "died", text) < 0)
				host->log(ctx, WEBOPS_LOG_WARN, "report failed: %s", host->last_error(ctx));
		}
		if (d)
			closedir(d);
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	note(dir, "stopped");
	return WEBOPS_OK;
}
