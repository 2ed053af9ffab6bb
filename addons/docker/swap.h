/* The release swap's bookkeeping, without an engine: container names, the
 * record of the last known good release kept under the data directory, and
 * the plan the tidy-up at the start of a deploy follows. */
#ifndef DK_SWAP_H
#define DK_SWAP_H

#include <jansson.h>

#include "dkutil.h"

/* "webops-NAME": the name of the release that serves once it is recorded as
 * good (the systemd unit, `docker ps` and people use it). */
int dk_container_name(struct dk_buf *out, const char *name);
/* "webops-NAME-previous": what deploys before the swap kept set aside. */
int dk_legacy_previous_name(struct dk_buf *out, const char *name);
/* The name of a new release's container while it proves itself next to the
 * serving one: "webops-NAME-r<RUN>" in a run, else "webops-NAME-t<UNIX TIME>"
 * (webops hook run). */
int dk_candidate_name(struct dk_buf *out, const char *name, const char *run_id, long long now);

/* The last known good release of a deployment, as recorded in
 * DATA_DIR/docker/NAME.json. A release is recorded only once it proved ready
 * (and, in proxy mode, once traffic was switched to it), so the tidy-up can
 * always tell the release to keep from leftovers of interrupted deploys.
 * Container labels cannot say this: they are fixed when a container is
 * created, before anyone knows whether it will be good. */
#define DK_STATE_MAX_CANDIDATES 4

struct dk_state {
	char container_id[72];  /* the good release's container id; "" when none yet */
	char container[160];    /* its name when recorded */
	char image[256];        /* "webops/site:abc1234" */
	char commit[48];
	char run_id[24];
	char mode[8];           /* "proxy" or "fixed" */
	char upstream[80];      /* proxy mode: 127.0.0.1:PORT when recorded */
	/* Proxy mode: ready containers published as the upstream that the
	 * proxy may have switched to, not yet recorded as good (a deploy was
	 * interrupted between docker's hook 50 and its hook 90, or the proxy
	 * failed to switch). The tidy-up keeps those that run, since traffic
	 * may be going to them, until a swap completes; oldest first. */
	struct {
		char id[72];
		char name[160];
	} candidates[DK_STATE_MAX_CANDIDATES];
	int ncandidates;
	int stopped;            /* stopped with the stop hook: the tidy-up leaves it stopped */
	long long recorded_at;  /* unix time */
};

#define DK_STATE_NONE (-2)

/* DIR/NAME.json, DIR being the addon's own folder (host->data_dir:
 * DATA/addons/docker) */
int dk_state_path(struct dk_buf *out, const char *dir, const char *name);
json_t *dk_state_to_json(const struct dk_state *s);
/* -1 (dk_error says which key) when j is not a state record. */
int dk_state_from_json(struct dk_state *out, const json_t *j);
/* 0, DK_STATE_NONE when there is no file, -1 with a dk_error message when it
 * cannot be read or is not a state record. */
int dk_state_load(struct dk_state *out, const char *path);
/* Writes atomically and durably: a temporary file, fsync, rename over the
 * old one, fsync of the directory (created when missing). A kill at any
 * moment leaves either the old record or the new one. */
int dk_state_save(const char *path, const struct dk_state *s);
/* Missing is fine. */
int dk_state_remove(const char *path);
/* Adds a proxy candidate (the oldest is forgotten when the list is full:
 * the tidy-up then removes it). */
void dk_state_add_candidate(struct dk_state *s, const char *id, const char *name);

/* What the tidy-up does with a deployment's containers. */
struct dk_tidy_plan {
	char good_id[72];      /* the release to keep serving; "" when none is known */
	char good_name[160];
	char good_state[32];   /* Docker's State: running, exited, created, ... */
	const char *good_why;  /* "recorded as the last good release", ... (static) */
	int rename_good;       /* it is not named webops-NAME */
	int start_good;        /* it does not run and was not stopped on purpose */
	json_t *keep;          /* array of {"id", "name"}: proxy candidates that stay (they run and may take traffic) */
	json_t *remove;        /* array of {"id", "name", "state", "why"}: everything else */
};

/* Plans the tidy-up of containers (the Engine's GET /containers/json?all=1
 * list of the deployment's containers: Id, Names, State) given the record
 * (NULL when there is none). The good release is the recorded one; without
 * a record (or when it is gone: a systemd unit recreates the container at
 * boot under the same name) the one named webops-NAME, else a
 * webops-NAME-previous left by an older webops. Every other container is a
 * leftover of an interrupted deploy that never became good, except the
 * running proxy candidates. */
int dk_tidy_plan(struct dk_tidy_plan *out, const char *name, const struct dk_state *st, const json_t *containers);
void dk_tidy_plan_release(struct dk_tidy_plan *p);

#endif
