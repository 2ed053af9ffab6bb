/* Test addon "wrongabi": its descriptor claims addon ABI 2.0. */
#include <webops/addon.h>

WEBOPS_EXPORT const struct webops_addon_descriptor webops_addon_descriptor = {
	sizeof(struct webops_addon_descriptor), WEBOPS_ADDON_ABI_MAJOR + 1, 0, "wrongabi", "0.1.0",
};

WEBOPS_HOOK(wrongabi_pre_deploy)
{
	return WEBOPS_OK;
}
