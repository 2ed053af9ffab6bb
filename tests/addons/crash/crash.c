/* Test addon "crash": a hook that dereferences NULL (SIGSEGV). */
#include <webops/addon.h>

WEBOPS_ADDON("crash", "0.1.0");

WEBOPS_HOOK(crash_pre_deploy)
{
	host->log(ctx, WEBOPS_LOG_INFO, "about to crash");
	volatile int *p = (volatile int *)0;
	*p = 42;
	return WEBOPS_OK;
}
