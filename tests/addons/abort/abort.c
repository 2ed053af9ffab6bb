/* Test addon "abort": a hook that calls abort() (SIGABRT). */
#include <stdlib.h>
#include <webops/addon.h>

WEBOPS_ADDON("abort", "0.1.0");

WEBOPS_HOOK(abort_pre_deploy)
{
	host->set_error(ctx, "giving up");
	abort();
}
