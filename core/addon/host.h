/* The child side of the addon boundary: the function table handed to
 * handlers and the per-invocation context it reads. Only ever used inside a
 * sandbox child. */
#ifndef WO_ADDON_HOST_H
#define WO_ADDON_HOST_H

#include <jansson.h>

#include "util/buf.h"
#include "webops/addon.h"

struct webops_hook_ctx {
	const char *addon;
	const char *event;
	const json_t *deployment;  /* with addon_fields defaults filled in */
	const json_t *settings;    /* the addon's effective settings */
	const char *source_dir, *commit, *run_id;
	json_t *outputs;           /* {addon: {key: value}}: earlier hooks' plus this one's */
	const json_t *event_data;  /* what the event is about (notify), NULL: "{}" */
	const json_t *secrets;     /* this addon's secret fields, opened by the parent; NULL: none */
	char *event_json;          /* cache */
	char *deployment_json;     /* cache */
	const char *addon_dir;     /* the addon's folder (its templates/ is there) */
	char *last_error;          /* for last_error() */
	char *scratch;             /* scratch_dir() outside a run: removed after the call */
	char **pool;               /* strings handed to the addon, freed after the call */
	size_t npool, cap;
};

extern const struct webops_host wo_addon_host_table;

/* webops' data directory, for data_dir() and scratch_dir(): set once by
 * each program after its configuration is read. */
void wo_addon_host_configure(const char *data_dir);
/* DATA/scratch/run-ID, the scratch folder of run ID's hooks (the runner
 * removes it when the run ends); into out. */
int wo_addon_scratch_path(struct wo_buf *out, const char *data_dir, const char *run_id);

/* Keeps s (malloc'd) until the call ends and returns it (NULL stays NULL). */
const char *wo_addon_host_keep(struct webops_hook_ctx *ctx, char *s);
/* Keeps "WHAT: <the wo_error message>" for last_error(); returns NULL. */
const char *wo_addon_host_fail(struct webops_hook_ctx *ctx, const char *what);
/* host->run (host_run.c). */
int wo_addon_host_run(struct webops_hook_ctx *ctx, const char *const argv[], const struct webops_run_opts *opts,
		      struct webops_run_result *res);

/* Frees the strings handed out during the call. */
void wo_addon_host_ctx_release(struct webops_hook_ctx *ctx);

#endif
