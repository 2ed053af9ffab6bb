/* Executing one claimed run: fetch -> pre_deploy hooks -> post_deploy hooks,
 * with every step written to the run log as it happens. */
#ifndef WO_PIPELINE_RUNNER_H
#define WO_PIPELINE_RUNNER_H

#include "config/config.h"

/* Runs run_id (already claimed, status running) to its end, on a connection
 * of its own. Meant for a child process of the daemon. Returns 0 when the
 * run succeeded, 1 when it failed or was cancelled, -1 when it could not
 * even record that (error set). */
int wo_runner_execute(const struct wo_config *cfg, const char *conninfo, long long run_id);

#endif
