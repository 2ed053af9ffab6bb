/* Test addon "nohandler": exports a descriptor but not the handler its manifest names. */
#include <webops/addon.h>

WEBOPS_ADDON("nohandler", "0.1.0");

WEBOPS_HOOK(nohandler_present)
{
	return WEBOPS_OK;
}
