/* webops addon ABI: the one header an addon includes. An addon is a shared
 * object exporting a descriptor and hook handlers named in its addon.yaml. */
#ifndef WEBOPS_ADDON_H
#define WEBOPS_ADDON_H

/*
 * Versioning rules (see docs/ADDONS.md):
 *  - WEBOPS_ADDON_ABI_MAJOR changes only when something an existing addon
 *    relies on changes; the host refuses an addon whose major differs.
 *  - WEBOPS_ADDON_ABI_MINOR grows when members are appended to
 *    struct webops_host; the host refuses an addon built against a newer
 *    minor than its own. An addon built against an older minor loads.
 *  - Structures only grow at the end and carry their size; codes and enum
 *    values are never renumbered.
 */
#define WEBOPS_ADDON_ABI_MAJOR 1
#define WEBOPS_ADDON_ABI_MINOR 2

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Addons are built with -fvisibility=hidden; these mark what the host looks up. */
#define WEBOPS_EXPORT __attribute__((visibility("default")))

/* Hook return codes. Never renumbered. */
enum webops_status {
	WEBOPS_OK = 0,      /* the hook did its work */
	WEBOPS_ERROR = 1,   /* the hook failed; set a message with host->set_error */
	WEBOPS_SKIPPED = 2, /* the hook decided it does not apply to this deployment */
};

/* Log levels for host->log. Never renumbered. */
enum webops_log_level {
	WEBOPS_LOG_DEBUG = 0,
	WEBOPS_LOG_INFO = 1,
	WEBOPS_LOG_WARN = 2,
	WEBOPS_LOG_ERROR = 3,
};

/* Opaque: one hook invocation. Valid only during the handler call. */
struct webops_hook_ctx;

/* How host->run (ABI 1.2) runs a program. Zero it and set size:
 *   struct webops_run_opts o = { .size = sizeof(o), .log = 1 }; */
struct webops_run_opts {
	uint32_t size;            /* sizeof(struct webops_run_opts) as the addon knows it */
	const char *const *env;   /* "NAME=value" entries added to (or replacing in) the hook's
	                           * environment, NULL-terminated; NULL: none */
	const char *cwd;          /* its working directory; NULL: the hook's */
	int timeout_ms;           /* then SIGTERM, and SIGKILL 2 s later; 0: 10 minutes (the
	                           * hook's own timeout still holds) */
	int log;                  /* non-zero: each line it prints goes to the run log as it comes */
	int capture;              /* non-zero: what it prints is kept in the result's output */
	size_t capture_max;       /* bytes kept; 0: 64 KiB (the rest is counted, not kept) */
	const char *output_file;  /* its stdout and stderr go to this file instead of a pipe (for a
	                           * program that daemonizes and keeps them open); with capture the
	                           * file is read back into output after it exits */
	int keep_on_cancel;       /* non-zero: a cancelled run does not stop it (putting things
	                           * back after a cancel); the timeout still does */
};

/* What host->run tells of a program that ran. */
struct webops_run_result {
	int exit_code;            /* 0-255 when it exited; -1 when a signal ended it */
	int signal;               /* the signal that ended it; 0 when it exited */
	int timed_out;            /* ended at timeout_ms */
	int cancelled;            /* ended because the run was cancelled */
	const char *output;       /* what it printed (capture), owned by the host; "" otherwise */
	size_t output_len;
	int truncated;            /* it printed more than capture_max */
};

/*
 * The host's function table, passed to every handler. Append-only: a member
 * added in ABI minor N is usable only when WEBOPS_HOST_HAS(host, member).
 * Strings returned are owned by the host and stay valid until the handler
 * returns; never free them. Functions taking a format are printf-like.
 */
struct webops_host {
	uint32_t size;      /* sizeof(struct webops_host) as the host knows it */
	uint16_t abi_major; /* the host's ABI version */
	uint16_t abi_minor;

	/* --- ABI 1.0 --- */

	/* Writes one line (or several, split at newlines) to the run log. */
	void (*log)(struct webops_hook_ctx *ctx, int level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	/* Sets the message reported when the handler returns WEBOPS_ERROR. */
	void (*set_error)(struct webops_hook_ctx *ctx, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));

	/* The event being dispatched: "pre_deploy", "post_deploy", "health",
	 * "start", "stop", "restart", "delete" or "notify" (the last two of
	 * these, and event_json, since ABI 1.1). */
	const char *(*event)(struct webops_hook_ctx *ctx);
	/* The name of the addon this handler belongs to. */
	const char *(*addon_name)(struct webops_hook_ctx *ctx);

	/* A deployment column as text: "id", "name", "repo_url", "branch",
	 * "domain", "port", "status"; "env_vars" as a JSON object. NULL when absent. */
	const char *(*deployment)(struct webops_hook_ctx *ctx, const char *key);
	/* The whole deployment record as JSON text (columns and addon_fields). */
	const char *(*deployment_json)(struct webops_hook_ctx *ctx);

	/* A deployment field declared in a manifest's deployment_fields, with its
	 * default applied. name is "field" (this addon's) or "addon.field".
	 * As text: strings as is, bools "true"/"false", ints in decimal, lists
	 * and maps as JSON. NULL when the field is not declared or has no value. */
	const char *(*field)(struct webops_hook_ctx *ctx, const char *name);
	/* Typed readers: dflt when the field is absent or of another type. */
	int (*field_bool)(struct webops_hook_ctx *ctx, const char *name, int dflt);
	int64_t (*field_int)(struct webops_hook_ctx *ctx, const char *name, int64_t dflt);
	/* A list field: number of items, and item i (NULL past the end). */
	size_t (*field_list_size)(struct webops_hook_ctx *ctx, const char *name);
	const char *(*field_list_item)(struct webops_hook_ctx *ctx, const char *name, size_t i);
	/* A map field: number of entries, key i in sorted order, value by key. */
	size_t (*field_map_size)(struct webops_hook_ctx *ctx, const char *name);
	const char *(*field_map_key)(struct webops_hook_ctx *ctx, const char *name, size_t i);
	const char *(*field_map_get)(struct webops_hook_ctx *ctx, const char *name, const char *key);

	/* This addon's effective setting (settings_schema default, then the value
	 * stored with `webops addon config`, then $WEBOPS_<ADDON>_<KEY>), as text
	 * like field(). NULL when unset. */
	const char *(*setting)(struct webops_hook_ctx *ctx, const char *key);

	/* Checked-out source directory ("" when none), commit SHA ("" when
	 * unknown) and run id ("" outside a run). */
	const char *(*source_dir)(struct webops_hook_ctx *ctx);
	const char *(*commit)(struct webops_hook_ctx *ctx);
	const char *(*run_id)(struct webops_hook_ctx *ctx);

	/* Publishes an output (a string) under this addon's name: later hooks and
	 * the run record see it. Returns 0, or -1 when it cannot be sent. */
	int (*output_set)(struct webops_hook_ctx *ctx, const char *key, const char *value);
	/* Reads an output published earlier in this dispatch (or by this hook).
	 * addon NULL means this addon. NULL when absent. */
	const char *(*output_get)(struct webops_hook_ctx *ctx, const char *addon, const char *key);

	/* Non-zero once the run was cancelled: return WEBOPS_ERROR soon. Cheap;
	 * call it between steps of long work. */
	int (*cancelled)(struct webops_hook_ctx *ctx);

	/* --- ABI 1.1 --- */

	/* What the event is about, as a JSON object text; "{}" when the event
	 * carries nothing more than the deployment. For "notify" (see
	 * docs/ADDONS.md for every key):
	 *   {"event": "run.succeeded" | "run.failed" | "health.unhealthy" |
	 *             "health.healthy" | ..., "deployment": "NAME",
	 *    "summary": "one line for people", "at": "ISO 8601 UTC", ...}
	 * Check with WEBOPS_HOST_HAS(host, event_json) before calling. */
	const char *(*event_json)(struct webops_hook_ctx *ctx);

	/* --- ABI 1.2 (check with WEBOPS_HOST_HAS before calling) --- */

	/* Renders the Mustache template NAME from the addon's own templates/
	 * folder (beside its addon.yaml: templates/NAME.mustache, else
	 * templates/NAME; NAME may hold '/' but no ".." and no leading '/'),
	 * with data_json (a JSON object; NULL: {}) and every {{value}} escaped
	 * by the escaper called escaper: "html", "dockerfile" and "nginx"
	 * (letters, digits and _ . , : / @ % + = - only: anything else fails
	 * the render, naming the value), "systemd" (quoted by the directive of
	 * the unit line it goes into), "none". {{{value}}} is never escaped.
	 * Returns the text, owned by the host until the handler returns; NULL
	 * on failure, with the reason in last_error(). */
	const char *(*render)(struct webops_hook_ctx *ctx, const char *name, const char *data_json,
			      const char *escaper);
	/* Why the last failed call of render, data_dir, scratch_dir or run failed. */
	const char *(*last_error)(struct webops_hook_ctx *ctx);
	/* A directory that belongs to this addon, DATA/addons/NAME under
	 * webops' data directory, created 0700 on first use; for what it keeps
	 * between hooks (state files, caches). NULL on failure. */
	const char *(*data_dir)(struct webops_hook_ctx *ctx);
	/* A directory for this run's scratch files (0700), created on first use
	 * and removed with everything in it when the run ends (outside a run:
	 * when the handler returns). NULL on failure. */
	const char *(*scratch_dir)(struct webops_hook_ctx *ctx);
	/* Runs argv[0] (a path, or a name looked up in PATH) with the argument
	 * vector argv (NULL-terminated), never through a shell, stdin from
	 * /dev/null, no descriptor of the hook's but its output. Stops it when
	 * the run is cancelled or at opts->timeout_ms. Returns 0 when it ran,
	 * however it ended (see *res); -1 when it could not be started, with
	 * the reason in last_error(). opts may be NULL (defaults). */
	int (*run)(struct webops_hook_ctx *ctx, const char *const argv[], const struct webops_run_opts *opts,
		   struct webops_run_result *res);
	/* In a watcher (a `watch` hook, which webopsd keeps running beside it):
	 * tells webops that something happened to the deployment called
	 * deployment: kind is a short word ("died", "oom", "restarted"), detail
	 * the sentence people read ("exited with code 137"). webops records it
	 * with the deployment's health events and checks the deployment at
	 * once. 0 when sent; -1 (last_error) on a bad argument. */
	int (*report)(struct webops_hook_ctx *ctx, const char *deployment, const char *kind, const char *detail);
};

/* True when the host's table has member (added in some later minor). */
#define WEBOPS_HOST_HAS(host, member) \
	((host)->size >= offsetof(struct webops_host, member) + sizeof((host)->member))

/* A hook handler, named by `handler:` in addon.yaml. Runs in a child process
 * of the host; it may block (until its timeout_ms) but should check
 * host->cancelled() during long work. Returns a webops_status. */
typedef int (*webops_hook_fn)(const struct webops_host *host, struct webops_hook_ctx *ctx);

/* What every addon exports under the name "webops_addon_descriptor". */
struct webops_addon_descriptor {
	uint32_t size;      /* sizeof(struct webops_addon_descriptor) as the addon knows it */
	uint16_t abi_major; /* WEBOPS_ADDON_ABI_MAJOR the addon was built with */
	uint16_t abi_minor;
	const char *name;   /* must equal the manifest's name */
	const char *version;
};

#define WEBOPS_ADDON_DESCRIPTOR_SYMBOL "webops_addon_descriptor"

/* Declares the descriptor: WEBOPS_ADDON("hello", "0.1.0"); at file scope. */
#define WEBOPS_ADDON(name_, version_)                                              \
	WEBOPS_EXPORT const struct webops_addon_descriptor webops_addon_descriptor = { \
		sizeof(struct webops_addon_descriptor), WEBOPS_ADDON_ABI_MAJOR,            \
		WEBOPS_ADDON_ABI_MINOR, (name_), (version_)}

/* Defines a handler: WEBOPS_HOOK(hello_pre_deploy) { ...; return WEBOPS_OK; } */
#define WEBOPS_HOOK(fn) \
	WEBOPS_EXPORT int fn(const struct webops_host *host, struct webops_hook_ctx *ctx)

#ifdef __cplusplus
}
#endif

#endif
