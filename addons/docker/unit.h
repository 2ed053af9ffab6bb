/* The systemd unit that runs a deployment's container in the foreground:
 * rendered from templates/systemd/docker.service with a systemd escaper. */
#ifndef DK_UNIT_H
#define DK_UNIT_H

#include <stddef.h>

#include <jansson.h>

#include "dkutil.h"
#include "limits.h"

struct dk_unit_spec {
	const char *name;        /* deployment name */
	const char *container;   /* "webops-NAME" */
	const char *docker_cli;  /* absolute path of the docker CLI */
	const char *image;       /* "webops/site:abc1234" */
	const json_t *env;       /* object KEY -> value (strings) */
	const json_t *ports;     /* array of "[ip:]host:container[/proto]" */
	const json_t *volumes;   /* array of "src:dst[:ro]" */
	const char *network;     /* bridge, host, none */
	const json_t *labels;    /* object key -> value */
	int stop_timeout_s;
	int init;                /* docker run --init */
	const json_t *cmd;       /* array: the command after the image (a start_command); NULL: the image's */
	const struct dk_limits *limits; /* memory, CPUs, GPUs, restart policy; NULL: none, unless-stopped */
};

/* Renders the addon's systemd/docker.service through r. */
int dk_unit_render(struct dk_buf *out, const struct dk_renderer *r, const struct dk_unit_spec *spec);

/* "webops-NAME.service" */
int dk_unit_file_name(struct dk_buf *out, const char *name);

#endif
