/* Test addon "fail": hooks that return an error with a message. */
#include <webops/addon.h>

WEBOPS_ADDON("fail", "0.1.0");

WEBOPS_HOOK(fail_pre_deploy)
{
	host->log(ctx, WEBOPS_LOG_INFO, "about to fail");
	host->set_error(ctx, "disk is full");
	return WEBOPS_ERROR;
}

WEBOPS_HOOK(fail_quiet)
{
	return WEBOPS_ERROR;
}
