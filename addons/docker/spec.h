/* A deployment's container as the docker addon runs it: its fields checked
 * (ports, volumes, env, image name, network) and turned into the Engine API's
 * create body and the systemd unit's values. */
#ifndef DK_SPEC_H
#define DK_SPEC_H

#include <jansson.h>

#include "dkutil.h"
#include "limits.h"

struct dk_port {
	char host_ip[64];  /* "" for all interfaces */
	int host_port;
	int container_port;
	char proto[4];     /* "tcp" or "udp" */
};

/* Parses "[ip:]host:container[/tcp|udp]" ("[::1]:8080:80" for IPv6). On
 * failure appends the reason to err. */
int dk_port_parse(struct dk_port *out, const char *s, struct dk_buf *err);

/* Checks "host_path:container_path[:ro|rw]" or "volume:container_path[:ro|rw]".
 * A host path must lie under one of roots (after resolving symlinks). */
int dk_volume_check(const char *s, const char *const *roots, size_t nroots, struct dk_buf *err);

/* An environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
int dk_env_key_check(const char *k);

/* "webops/{name}" with {name} replaced, checked as a Docker repository name
 * (lowercase; no tag). */
int dk_image_repo(char **out, const char *tmpl, const char *name, struct dk_buf *err);

/* What the container is made of. All json_t members are owned. */
struct dk_spec {
	char *name;           /* deployment name */
	char *container;      /* "webops-NAME" */
	char *previous;       /* "webops-NAME-previous" while a deploy is in flight */
	json_t *env;          /* object: deployment env_vars, docker_env_vars, PORT */
	json_t *ports;        /* array of port strings as given (plus the default one) */
	json_t *volumes;      /* array of volume strings */
	char *network;        /* bridge, host, none */
	json_t *labels;       /* webops.deployment, webops.commit, webops.run */
	int port;             /* the PORT the app listens on, 0 when unknown */
	int port_explicit;    /* PORT was given in the env */
	int port_from_deployment; /* port is the deployment's, published as 127.0.0.1:PORT:PORT */
	int init;             /* run an init (docker-init) as PID 1: signals and reaping */
	int proxy;            /* proxy mode: port published on 127.0.0.1 with a host port the engine picks */
	json_t *cmd;          /* the command instead of the image's CMD (["/bin/sh","-c",TEXT], or
	                       * docker_command's list); NULL: the image's */
	int cmd_exec;         /* cmd is docker_command's (no shell) */
	char *data_path;      /* where the deployment's data volume is mounted; NULL: none */
	char *data_volume;    /* its name, "webops-NAME-data" */
	struct dk_limits limits; /* memory, CPUs, GPUs, restart policy */
};

struct dk_spec_input {
	const char *name;
	const char *env_vars_json;    /* deployment env_vars (JSON object) or NULL */
	const char *docker_env_json;  /* docker_env_vars (JSON object) or NULL */
	const char *ports_json;       /* docker_ports (JSON array) or NULL */
	const char *volumes_json;     /* docker_volumes (JSON array) or NULL */
	const char *network;          /* docker_network_mode or NULL (bridge) */
	const char *deployment_port;  /* the deployment's port column or NULL */
	const char *commit, *run_id;
	const char *const *volume_roots;
	size_t nvolume_roots;
	int init;
	/* Proxy mode (a proxy addon fronts the deployment; docker_ports must be
	 * empty): the deployment's port is where the proxy listens, not a host
	 * port of the container, so nothing is published under a fixed number;
	 * the app's port (PORT, else the deployment's port, else one the image
	 * exposes: dk_spec_set_port) is published on 127.0.0.1 with a host port
	 * the engine picks, and old and new containers run side by side. */
	int proxy;
	/* data_path: an absolute container path where the named volume
	 * webops-NAME-data is mounted, so that what the app writes there (a
	 * SQLite file, uploads) outlives its containers; NULL or "": none */
	const char *data_path;
	/* docker_memory, docker_cpus, docker_restart_policy, docker_gpus (see
	 * limits.h) and docker_command (a JSON array: the exec form, which
	 * wins over a start command); NULL or "": the default */
	struct dk_limits_input limits;
	const char *command_json;
};

/* Builds and checks the spec; every problem is one line of err. */
int dk_spec_build(struct dk_spec *out, const struct dk_spec_input *in, struct dk_buf *err);
void dk_spec_release(struct dk_spec *s);

/* Runs `sh -c command` instead of the image's CMD (a start_command or a
 * Procfile's web: line); the image's ENTRYPOINT, if any, still runs first.
 * A docker_command (the exec form) given to dk_spec_build wins: this does
 * nothing then. */
void dk_spec_set_command(struct dk_spec *s, const char *command);

/* Checks data_path: absolute, no '.' or '..' component, not the root or a
 * system directory (/bin, /etc, /proc, /usr...). On failure appends the
 * reason to err. */
int dk_data_path_check(const char *path, struct dk_buf *err);

/* The body of POST /containers/create for image. */
json_t *dk_spec_create_body(const struct dk_spec *s, const char *image);

/* Sets the app's port when the spec did not know it (the image's EXPOSE, or
 * the generated kind's port), and PORT in the env unless it was given. */
void dk_spec_set_port(struct dk_spec *s, int port);

/* The lowest tcp port an inspected image exposes (Config.ExposedPorts); 0 when none. */
int dk_image_exposed_port(const json_t *image_info);
/* How many tcp ports it exposes. */
int dk_image_exposed_count(const json_t *image_info);

/* A repository Dockerfile that EXPOSEs one port says where its app
 * listens: when the spec's port is only the deployment's (no PORT in the
 * env, no docker_ports), the container port becomes exposed (PORT too) and
 * the deployment's port stays the one published on the host (fixed mode:
 * 127.0.0.1:DEPLOYMENT:EXPOSED). 1 when it changed something. */
int dk_spec_follow_expose(struct dk_spec *s, int exposed);

/* The --publish values of the systemd unit: docker_ports as given, or in
 * proxy mode "127.0.0.1::PORT" (docker run picks the host port, as the
 * engine does for the addon's containers). New reference. */
json_t *dk_spec_unit_ports(const struct dk_spec *s);

#endif
