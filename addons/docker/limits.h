/* What a deployment's container may use and how it comes back: its memory
 * and CPU limits, GPUs, restart policy, and an exec-form command; parsed
 * from the deployment's docker_* fields into the Engine API's HostConfig
 * and the systemd unit's docker run options. */
#ifndef DK_LIMITS_H
#define DK_LIMITS_H

#include <jansson.h>

#include "dkutil.h"

struct dk_limits {
	long long memory;       /* bytes; 0: no limit */
	long long nano_cpus;    /* CPUs * 1e9; 0: no limit */
	char restart[16];       /* unless-stopped (default), always, on-failure, no */
	int restart_max;        /* on-failure:N; 0: no maximum */
	json_t *gpus;           /* HostConfig.DeviceRequests (an array); NULL: none */
	char gpus_text[128];    /* as given, for docker run --gpus */
};

/* "512m", "1g", "1048576" (bytes; b k m g, either case, powers of 1024); at
 * least 6 MiB, the engine's minimum. On failure appends a sentence naming
 * docker_memory to err. */
int dk_memory_parse(long long *out, const char *s, struct dk_buf *err);
/* "1.5", "0.25": more than 0, at most 1024, up to 3 decimals. */
int dk_cpus_parse(long long *nano_out, const char *s, struct dk_buf *err);
/* unless-stopped, always, no, on-failure or on-failure:N (N 1-1000). */
int dk_restart_parse(struct dk_limits *out, const char *s, struct dk_buf *err);
/* "all", a count ("2") or device ids ("0,1", "GPU-3f2...") as an nvidia
 * DeviceRequests array. */
int dk_gpus_parse(json_t **out, const char *s, struct dk_buf *err);
/* docker_command: a JSON array of strings (the exec form: no shell). */
int dk_command_parse(json_t **out, const char *json_text, struct dk_buf *err);

/* Parses every field given (NULL or "": the default); every problem is one
 * line of err. */
struct dk_limits_input {
	const char *memory, *cpus, *restart, *gpus;
};
int dk_limits_build(struct dk_limits *out, const struct dk_limits_input *in, struct dk_buf *err);
void dk_limits_release(struct dk_limits *l);
/* Adds Memory, NanoCpus, DeviceRequests to a create body's HostConfig. */
void dk_limits_apply(const struct dk_limits *l, json_t *host_config);
/* The RestartPolicy object ({"Name", "MaximumRetryCount"}). New reference. */
json_t *dk_limits_restart_policy(const struct dk_limits *l);
/* systemd's Restart= for the unit (which runs docker run --rm, so the
 * engine's policy is systemd's to carry out): always, on-failure or no. */
const char *dk_limits_unit_restart(const struct dk_limits *l);

#endif
