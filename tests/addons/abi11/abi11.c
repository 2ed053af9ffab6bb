/* Built against webops/addon.h as it was at ABI 1.1 (include/ here, a frozen
 * copy): it uses the 1.0 members and event_json (1.1), and reports the
 * table size and ABI the host gave it, so a test can tell an old addon
 * still works on a newer host. */
#include <stdio.h>
#include <webops/addon.h>

WEBOPS_ADDON("abi11", "0.1.0");

WEBOPS_HOOK(abi11_pre_deploy)
{
	char v[64];
	snprintf(v, sizeof(v), "%u.%u", host->abi_major, host->abi_minor);
	host->output_set(ctx, "host_abi", v);
	snprintf(v, sizeof(v), "%d", host->size >= sizeof(struct webops_host));
	host->output_set(ctx, "table_covers_1_1", v);
	host->output_set(ctx, "has_event_json", WEBOPS_HOST_HAS(host, event_json) ? "yes" : "no");
	host->output_set(ctx, "event_json", host->event_json(ctx));
	host->log(ctx, WEBOPS_LOG_INFO, "abi11 addon: hello from %s", host->deployment(ctx, "name"));
	return WEBOPS_OK;
}

WEBOPS_HOOK(abi11_notify)
{
	host->log(ctx, WEBOPS_LOG_INFO, "abi11 notify: %s", host->event_json(ctx));
	return WEBOPS_OK;
}
