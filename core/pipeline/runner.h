/* Run processes: each claimed run is executed in a child process of the
 * daemon (fetch -> pre_deploy hooks -> post_deploy hooks, every step written
 * to the run log as it happens), and one more is kept ready for the next. */
#ifndef WO_PIPELINE_RUNNER_H
#define WO_PIPELINE_RUNNER_H

#include <jansson.h>
#include <sys/types.h>

#include "config/config.h"

/* Runs run_id (already claimed, status running) to its end, on connections
 * of its own, holding the deployment's lock (pipeline/lock.h). Meant for a
 * child process of the daemon. A database that goes away meanwhile is
 * waited for (WEBOPS_RUN_DB_WAIT_S, default 600 s, at each step that needs
 * it); past that, the outcome is saved for the daemon to record
 * (wo_run_outcome_apply_saved). Returns 0 when the run succeeded, 1 when it
 * failed or was cancelled, -1 when it could not even record or save that
 * (error set). */
int wo_runner_execute(const struct wo_config *cfg, const char *conninfo, long long run_id);

/* Starts the run process of a claimed run (what wo_run_claim returned): one
 * kept ready (connected, libgit2 and the addons loaded) when there is one,
 * else a new one; then makes the next one ready. Returns its pid (it dies
 * with the daemon), -1 with errno when it cannot fork. */
pid_t wo_runner_start(const struct wo_config *cfg, const char *conninfo, const json_t *run);
/* Makes a process ready when there is none (the worker loop calls it on
 * every turn; cheap when one is there). */
void wo_runner_prepare(const struct wo_config *cfg, const char *conninfo);
/* Ends the process kept ready (the daemon stops). */
void wo_runner_prepare_stop(void);

#endif
