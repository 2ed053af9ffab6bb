/* Addon manifests (addon.yaml): the parsed, validated description of an
 * addon, read before any of its code is loaded. */
#ifndef WO_ADDON_MANIFEST_H
#define WO_ADDON_MANIFEST_H

#include <jansson.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>

/* Events an addon can hook. Values are stored nowhere; order is display order. */
enum wo_event {
	WO_EVENT_PRE_DEPLOY,
	WO_EVENT_POST_DEPLOY,
	WO_EVENT_HEALTH,
	WO_EVENT_START,
	WO_EVENT_STOP,
	WO_EVENT_DELETE,
	WO_EVENT_RESTART, /* addons without a restart hook get stop, then start */
	WO_EVENT_NOTIFY,  /* a run finished or a health state changed */
	WO_EVENT_DAEMON_START, /* webopsd starts (no deployment): start what addons run beside it */
	WO_EVENT_DAEMON_STOP,  /* webopsd stops (no deployment) */
	WO_EVENT_VALIDATE,     /* may this deployment record be stored? (addons' semantic rules) */
	WO_EVENT_WATCH,        /* a long-lived watcher webopsd keeps running (no deployment): it
	                        * reports what happens to deployments (host->report) */
	WO_EVENT_LOGS,         /* the running release's own output, streamed as log lines (its
	                        * event: {"tail", "since", "follow", "timestamps"}) */
	WO_EVENT_PRUNE,        /* remove what older releases left (images), keeping what the kept
	                        * releases need (its event: {"releases": [...]}, newest first) */
	WO_EVENT_STATUS,       /* the addon's own state (no deployment): outputs "state" (a word:
	                        * running, unconfigured, failed...), "reason" and details */
	WO_EVENT_RENEW,        /* webopsd's periodic check (no deployment; WEBOPS_RENEW_EVERY_S,
	                        * default daily, jittered): renew what expires (certificates) */
	WO_EVENT__COUNT
};

/* Canonical name ("pre_deploy", ...). */
const char *wo_event_name(enum wo_event ev);
/* Parses a canonical name or a WebOps alias (pre_deployment, post_deployment,
 * service_health_check). Returns -1 (no error set) when unknown. */
int wo_event_parse(enum wo_event *out, const char *name);
/* Defaults: pre/post_deploy 10 min, health and notify 30 s, start/stop/restart/delete 2 min,
 * watch 24 h (then it is started again), logs 24 h (a follow lasts until cancelled). */
int wo_event_default_timeout_ms(enum wo_event ev);
/* Whether hooks of ev are `required` unless the manifest says otherwise. */
int wo_event_default_required(enum wo_event ev);

/* Types of deployment fields and settings. */
enum wo_field_type {
	WO_FIELD_BOOL,
	WO_FIELD_INT,
	WO_FIELD_STRING,
	WO_FIELD_ENUM,
	WO_FIELD_LIST,  /* list of strings */
	WO_FIELD_MAP,   /* map of string to string */
};

const char *wo_field_type_name(enum wo_field_type t);

/* A typed value declared by a manifest: a deployment field or a setting. */
struct wo_addon_field {
	char *name;
	enum wo_field_type type;
	json_t *dflt;          /* typed default, NULL when none */
	char *label;
	char *help;
	char *pattern;         /* POSIX extended regex the value (string), each item
	                          (list) or each value (map) must match */
	regex_t re;            /* compiled pattern, valid when pattern != NULL */
	int has_min, has_max;  /* int: the value; string: length; list/map: count */
	int64_t min, max;
	char **choices;        /* enum: allowed values; list: allowed items */
	size_t nchoices;
	int required;          /* a value must be given (or a default exist) */
	int secret;            /* settings: shown masked */
	int host_scope;        /* settings: `scope: host`, changed on the host only
	                          (it picks a program, path, socket or widens what
	                          webops or a container reaches on the host) */
	int host_ports;        /* deployment list field: its items are port mappings
	                          ([ip:]host:container[/proto]) whose host ports are
	                          unique across deployments; int setting: a port the
	                          addon itself listens on while enabled */
	int line;
};

struct wo_addon_hook {
	enum wo_event event;
	char *handler;         /* symbol name in the library */
	int priority;          /* ascending; default 100 */
	int timeout_ms;
	int retries;           /* extra attempts after a failure */
	int retry_initial_delay_ms;
	double retry_backoff;
	int required;          /* enforcement: required (1) or optional (0) */
	json_t *conditions;    /* object: field -> value (or list of values); NULL: always */
	int line;
};

struct wo_addon_manifest {
	char *path;            /* the addon.yaml read */
	char *dir;             /* its folder */
	char *name, *version, *description, *author, *license;
	char **capabilities;
	size_t ncapabilities;
	char *library;         /* as written in the manifest, NULL when absent */
	char *library_path;    /* resolved against dir; NULL when absent */
	int library_line;
	int abi_major, abi_minor; /* from `abi:`, -1 when absent */
	struct wo_addon_field *settings;
	size_t nsettings;
	struct wo_addon_field *fields;
	size_t nfields;
	struct wo_addon_hook *hooks;
	size_t nhooks;
	/* Full messages, each naming the file and line ("cannot load manifest
	 * 'x/addon.yaml': line 7: ..."). A manifest with errors is not loaded. */
	char **errors;
	size_t nerrors;
	char **warnings;       /* unknown keys and the like; the addon still loads */
	size_t nwarnings;
};

/* Parses manifest text. path is used in messages and to resolve `library`.
 * Always produces a manifest (with errors when invalid) unless out of memory;
 * checks `library` exists only when check_files. */
int wo_addon_manifest_parse(struct wo_addon_manifest **out, const char *path,
                            const char *text, size_t len, int check_files);
/* Reads and parses path; a file that cannot be read gives a manifest with one error. */
int wo_addon_manifest_load(struct wo_addon_manifest **out, const char *path);
void wo_addon_manifest_free(struct wo_addon_manifest *m);

/* Adds a formatted error to m (prefixed with the file and, when line > 0, the line). */
void wo_addon_manifest_error(struct wo_addon_manifest *m, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Addon names: lowercase letters, digits, '_' and '-', starting with a letter, at most 63. */
int wo_addon_name_valid(const char *s);

const struct wo_addon_field *wo_addon_manifest_field(const struct wo_addon_manifest *m, const char *name);
const struct wo_addon_field *wo_addon_manifest_setting(const struct wo_addon_manifest *m, const char *name);

#endif
