/* Test addon "fakeup": publishes `upstream` (the docker addon's output that
 * proxy-nginx reads) from the field fakeup_upstream, or the first line of
 * DIR/NAME.upstream, as is: proxy-nginx must check what it gets. */
#include <stdio.h>
#include <string.h>
#include <webops/addon.h>

WEBOPS_ADDON("fakeup", "0.1.0");

WEBOPS_HOOK(fakeup_publish)
{
	const char *name = host->deployment(ctx, "name");
	const char *field = host->field(ctx, "fakeup_upstream");
	char line[512] = "";
	if (field && *field) {
		snprintf(line, sizeof(line), "%s", field);
	} else {
		const char *dir = host->setting(ctx, "dir");
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s.upstream", dir ? dir : "/tmp", name ? name : "");
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(line, sizeof(line), f))
				line[0] = '\0';
			fclose(f);
		}
		line[strcspn(line, "\n")] = '\0';
	}
	if (!line[0]) {
		host->set_error(ctx, "no upstream for %s", name ? name : "?");
		return WEBOPS_SKIPPED;
	}
	host->output_set(ctx, "upstream", line);
	host->log(ctx, WEBOPS_LOG_INFO, "upstream %s", line);
	return WEBOPS_OK;
}
