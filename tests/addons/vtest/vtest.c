/* Test addon "vtest": semantic validation of a field when a deployment is stored. */
#include <signal.h>
#include <string.h>
#include <webops/addon.h>

WEBOPS_ADDON("vtest", "0.1.0");

WEBOPS_HOOK(vtest_validate)
{
	const char *p = host->field(ctx, "vtest_path");
	if (p && !strcmp(p, "crash"))
		raise(SIGSEGV);
	if (p && !strncmp(p, "/etc", 4)) {
		host->set_error(ctx, "vtest_path: '%s' is outside the allowed roots; use a path under /srv", p);
		return WEBOPS_ERROR;
	}
	return WEBOPS_OK;
}
