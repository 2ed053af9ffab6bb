/* The child side of the addon boundary: the function table handed to
 * handlers and the per-invocation context it reads. Only ever used inside a
 * sandbox child. */
#ifndef WO_ADDON_HOST_H
#define WO_ADDON_HOST_H

#include <jansson.h>

#include "webops/addon.h"

struct webops_hook_ctx {
	const char *addon;
	const char *event;
	const json_t *deployment;  /* with addon_fields defaults filled in */
	const json_t *settings;    /* the addon's effective settings */
	const char *source_dir, *commit, *run_id;
	json_t *outputs;           /* {addon: {key: value}}: earlier hooks' plus this one's */
	const json_t *event_data;  /* what the event is about (notify), NULL: "{}" */
	char *event_json;          /* cache */
	char *deployment_json;     /* cache */
	char **pool;               /* strings handed to the addon, freed after the call */
	size_t npool, cap;
};

extern const struct webops_host wo_addon_host_table;

/* Frees the strings handed out during the call. */
void wo_addon_host_ctx_release(struct webops_hook_ctx *ctx);

#endif
