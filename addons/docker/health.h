/* What a container's inspect and stats documents say about its health and
 * its resource use: pure functions of the Engine's JSON, no engine needed. */
#ifndef DK_HEALTH_H
#define DK_HEALTH_H

#include <jansson.h>

/* Resource use, computed as the docker CLI computes `docker stats`. */
struct dk_stats {
	int has_cpu;                  /* cpu_stats held a system_cpu_usage */
	double cpu_percent;           /* 100 = one CPU; 0 without a previous sample */
	unsigned online_cpus;         /* online_cpus, else the number of percpu_usage entries */
	int has_memory;               /* memory_stats held a usage */
	unsigned long long memory_bytes;       /* usage minus the inactive file cache */
	unsigned long long memory_limit_bytes; /* memory_stats.limit; 0 when absent */
};

/* Fills out from a GET /containers/{id}/stats document (integers or, when
 * decoded with JSON_DECODE_INT_AS_REAL, reals). Missing fields count as
 * zero. -1 when stats is not an object (out untouched). */
int dk_stats_from_json(struct dk_stats *out, const json_t *stats);

struct dk_health {
	int exists, running, restarting, paused, oom_killed;
	int exit_code, restart_count;
	char status[32];      /* Docker's State.Status: running, exited, ... */
	char health[32];      /* healthy, unhealthy, starting; "" without a HEALTHCHECK */
	int failing_streak;
	char image[160];
	char reason[1024];    /* why it is not healthy; "" when it is */
	int has_stats;        /* stats below were read (only for a running container) */
	struct dk_stats stats;
	char stats_error[256]; /* why stats are missing when the engine refused them; "" otherwise */
};

/* Fills h from a GET /containers/{id}/json document (stats untouched). A
 * container that is not running gets a reason such as "exited with code 137
 * (OOM-killed)". */
void dk_health_from_inspect(struct dk_health *h, const json_t *info);

#endif
