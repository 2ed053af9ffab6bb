/* Container specs: checking ports, volumes, env names, image and network
 * mode, and producing the Engine API create body. */
#include "spec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "dkutil.h"

static int spec_port_num(const char *s, size_t n, int *out)
{
	if (n == 0 || n > 5)
		return -1;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*out = v;
	return 0;
}

int dk_port_parse(struct dk_port *out, const char *s, struct dk_buf *err)
{
	struct dk_port p;
	memset(&p, 0, sizeof(p));
	snprintf(p.proto, sizeof(p.proto), "tcp");
	const char *rest = s;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(p.host_ip))
			goto bad;
		memcpy(p.host_ip, s + 1, (size_t)(end - s - 1));
		struct in6_addr a6;
		if (inet_pton(AF_INET6, p.host_ip, &a6) != 1)
			goto bad;
		rest = end + 2;
	}
	const char *slash = strchr(rest, '/');
	size_t body = slash ? (size_t)(slash - rest) : strlen(rest);
	if (slash) {
		if (strcmp(slash + 1, "tcp") != 0 && strcmp(slash + 1, "udp") != 0)
			goto bad;
		snprintf(p.proto, sizeof(p.proto), "%s", slash + 1);
	}
	/* body: [ip:]host:container (ip only when not given in brackets) */
	const char *c1 = memchr(rest, ':', body);
	if (!c1)
		goto bad;
	const char *c2 = memchr(c1 + 1, ':', body - (size_t)(c1 + 1 - rest));
	const char *host, *cont;
	size_t hlen, clen;
	if (c2) {
		if (p.host_ip[0] || (size_t)(c1 - rest) >= sizeof(p.host_ip))
			goto bad;
		memcpy(p.host_ip, rest, (size_t)(c1 - rest));
		struct in_addr a4;
		if (inet_pton(AF_INET, p.host_ip, &a4) != 1)
			goto bad;
		host = c1 + 1;
		hlen = (size_t)(c2 - host);
		cont = c2 + 1;
		clen = body - (size_t)(cont - rest);
	} else {
		host = rest;
		hlen = (size_t)(c1 - rest);
		cont = c1 + 1;
		clen = body - (size_t)(cont - rest);
	}
	if (spec_port_num(host, hlen, &p.host_port) < 0 || spec_port_num(cont, clen, &p.container_port) < 0)
		goto bad;
	*out = p;
	return 0;
bad:
	if (err)
		dk_buf_printf(err, "docker_ports: '%.100s' is invalid: expected [ip:]host:container[/tcp|udp] with "
			      "ports from 1 to 65535", s);
	return -1;
}

static int spec_is_volume_name(const char *s, size_t n)
{
	if (!n || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

int dk_volume_check(const char *s, const char *const *roots, size_t nroots, struct dk_buf *err)
{
	const char *why = NULL;
	struct dk_buf detail = DK_BUF_INIT;
	char *copy = strdup(s);
	if (!copy)
		return dk_error_set("out of memory");
	char *c1 = strchr(copy, ':');
	char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c1) {
		why = "expected host_path:container_path[:ro] or volume:container_path[:ro]";
		goto out;
	}
	*c1 = '\0';
	if (c2) {
		*c2 = '\0';
		if (strcmp(c2 + 1, "ro") != 0 && strcmp(c2 + 1, "rw") != 0) {
			why = "the mode after the second ':' must be ro or rw";
			goto out;
		}
	}
	const char *src = copy, *dst = c1 + 1;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			why = "holds a control character";
			goto out;
		}
	if (dst[0] != '/' || (dst[1] && dk_path_check_relative(dst + 1, NULL) < 0)) {
		why = "the container path must be a plain absolute path (no '.', '..' or '//')";
		goto out;
	}
	if (src[0] == '/') {
		int r = dk_path_under_roots(src, roots, nroots, &detail);
		if (r != 1) {
			why = detail.len ? dk_buf_cstr(&detail) : "the host path must be a plain absolute path";
			goto out;
		}
	} else if (!spec_is_volume_name(src, strlen(src))) {
		why = "a named volume holds letters, digits, '_', '.' and '-' (a host path starts with '/')";
		goto out;
	}
out:
	if (why && err)
		dk_buf_printf(err, "docker_volumes: '%.200s' is invalid: %s", s, why);
	dk_buf_release(&detail);
	free(copy);
	return why ? -1 : 0;
}

int dk_env_key_check(const char *k)
{
	if (!k || !(isalpha((unsigned char)k[0]) || k[0] == '_'))
		return -1;
	for (const char *p = k; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return -1;
	return strlen(k) <= 255 ? 0 : -1;
}

/* One path component of a repository: [a-z0-9]+([._-]+[a-z0-9]+)* */
static int spec_repo_component(const char *s, size_t n)
{
	if (!n || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return 0;
	char last = s[n - 1];
	if (!(islower((unsigned char)last) || isdigit((unsigned char)last)))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' ||
		      s[i] == '-'))
			return 0;
	return 1;
}

int dk_image_repo(char **out, const char *tmpl, const char *name, struct dk_buf *err)
{
	struct dk_buf b = DK_BUF_INIT;
	for (const char *p = tmpl && *tmpl ? tmpl : "webops/{name}"; *p;) {
		if (strncmp(p, "{name}", 6) == 0) {
			dk_buf_puts(&b, name);
			p += 6;
		} else {
			dk_buf_putc(&b, *p++);
		}
	}
	const char *s = dk_buf_cstr(&b);
	int ok = b.len > 0 && b.len <= 200;
	/* an optional registry host[:port] first, then lowercase components */
	const char *p = s;
	const char *slash = strchr(s, '/');
	if (ok && slash) {
		size_t n = (size_t)(slash - s);
		int is_host = memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && strncmp(s, "localhost", 9) == 0);
		if (is_host) {
			for (size_t i = 0; i < n && ok; i++)
				ok = isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '-' || s[i] == ':';
			p = slash + 1;
		}
	}
	while (ok && *p) {
		size_t n = strcspn(p, "/");
		ok = spec_repo_component(p, n);
		p += n;
		if (*p == '/') {
			p++;
			ok = ok && *p;
		}
	}
	if (!ok) {
		if (err)
			dk_buf_printf(err, "docker_image_name: '%.200s' is not a valid image repository (lowercase "
				      "letters, digits, '.', '_', '-' and '/'; no tag)", s);
		dk_buf_release(&b);
		return -1;
	}
	*out = dk_buf_detach(&b);
	return 0;
}

void dk_spec_release(struct dk_spec *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->container);
	free(s->previous);
	json_decref(s->env);
	json_decref(s->ports);
	json_decref(s->volumes);
	free(s->network);
	json_decref(s->labels);
	json_decref(s->cmd);
	dk_limits_release(&s->limits);
	free(s->data_path);
	free(s->data_volume);
	memset(s, 0, sizeof(*s));
}

static json_t *spec_load(const char *text, int want_object, const char *what, struct dk_buf *err)
{
	if (!text || !*text)
		return want_object ? json_object() : json_array();
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (!j || (want_object ? !json_is_object(j) : !json_is_array(j))) {
		json_decref(j);
		dk_buf_printf(err, "%s: expected a JSON %s", what, want_object ? "object" : "array");
		return NULL;
	}
	return j;
}

static void spec_err_line(struct dk_buf *err)
{
	if (err->len && err->ptr[err->len - 1] != '\n')
		dk_buf_putc(err, '\n');
}

int dk_spec_build(struct dk_spec *out, const struct dk_spec_input *in, struct dk_buf *err)
{
	struct dk_spec s;
	memset(&s, 0, sizeof(s));
	size_t err_start = err->len;
	struct dk_buf b = DK_BUF_INIT;
	dk_buf_printf(&b, "webops-%s", in->name);
	s.container = dk_buf_detach(&b);
	dk_buf_printf(&b, "webops-%s-previous", in->name);
	s.previous = dk_buf_detach(&b);
	s.name = strdup(in->name);
	s.init = in->init;
	s.proxy = in->proxy;
	s.network = strdup(in->network && *in->network ? in->network : "bridge");
	s.labels = json_pack("{s:s,s:s,s:s,s:s}", "webops.deployment", in->name, "webops.commit",
			     in->commit ? in->commit : "", "webops.run", in->run_id ? in->run_id : "",
			     "webops.managed-by", "webops");
	if (strcmp(s.network, "bridge") != 0 && strcmp(s.network, "host") != 0 && strcmp(s.network, "none") != 0) {
		spec_err_line(err);
		dk_buf_printf(err, "docker_network_mode: '%s' is not one of: bridge, host, none", s.network);
	}

	json_t *env_vars = spec_load(in->env_vars_json, 1, "env_vars", err);
	json_t *denv = spec_load(in->docker_env_json, 1, "docker_env_vars", err);
	json_t *ports = spec_load(in->ports_json, 0, "docker_ports", err);
	json_t *vols = spec_load(in->volumes_json, 0, "docker_volumes", err);
	s.env = json_object();
	s.ports = json_array();
	s.volumes = json_array();
	const char *k;
	json_t *v;
	json_t *srcs[2] = {env_vars, denv};
	for (int i = 0; i < 2; i++) {
		json_object_foreach(srcs[i], k, v) {
			if (dk_env_key_check(k) < 0 || !json_is_string(v)) {
				spec_err_line(err);
				dk_buf_printf(err, "%s: '%.100s' is not a valid variable (a name of letters, digits and "
					      "'_' not starting with a digit, and a text value)",
					      i ? "docker_env_vars" : "env_vars", k);
				continue;
			}
			json_object_set(s.env, k, v);
		}
	}
	size_t i;
	int first_container_port = 0;
	json_array_foreach(ports, i, v) {
		struct dk_port p;
		if (!json_is_string(v) || dk_port_parse(&p, json_string_value(v), NULL) < 0) {
			spec_err_line(err);
			dk_port_parse(&p, json_is_string(v) ? json_string_value(v) : "?", err);
			continue;
		}
		if (!first_container_port)
			first_container_port = p.container_port;
		json_array_append(s.ports, v);
	}
	json_array_foreach(vols, i, v) {
		if (!json_is_string(v) ||
		    dk_volume_check(json_string_value(v), in->volume_roots, in->nvolume_roots, NULL) < 0) {
			spec_err_line(err);
			dk_volume_check(json_is_string(v) ? json_string_value(v) : "?", in->volume_roots,
					in->nvolume_roots, err);
			continue;
		}
		json_array_append(s.volumes, v);
	}
	if (in->data_path && *in->data_path) {
		if (dk_data_path_check(in->data_path, NULL) < 0) {
			spec_err_line(err);
			dk_data_path_check(in->data_path, err);
		} else {
			s.data_path = strdup(in->data_path);
			dk_buf_clear(&b);
			dk_buf_printf(&b, "webops-%s-data", in->name);
			s.data_volume = strdup(dk_buf_cstr(&b));
			dk_buf_printf(&b, ":%s", in->data_path);
			json_array_append_new(s.volumes, json_string(dk_buf_cstr(&b)));
			json_object_set_new(s.env, "WEBOPS_DATA_PATH", json_string(in->data_path));
		}
	}
	if (dk_limits_build(&s.limits, &in->limits, err) < 0)
		spec_err_line(err);
	if (in->command_json && *in->command_json && strcmp(in->command_json, "[]") != 0) {
		if (dk_command_parse(&s.cmd, in->command_json, err) < 0)
			spec_err_line(err);
		else
			s.cmd_exec = 1;
	}
	if (json_array_size(s.ports) && strcmp(s.network, "bridge") != 0) {
		spec_err_line(err);
		dk_buf_printf(err, "docker_ports: ports are published only with docker_network_mode bridge (it is %s)",
			      s.network);
	}
	/* PORT: an explicit one wins; else the first published container port;
	 * else the deployment's port, published on 127.0.0.1 under the same number. */
	int dep_port = 0;
	if (in->deployment_port && *in->deployment_port) {
		char *end;
		long lp = strtol(in->deployment_port, &end, 10);
		if (!*end && lp >= 1 && lp <= 65535)
			dep_port = (int)lp;
	}
	const char *explicit_port = json_string_value(json_object_get(s.env, "PORT"));
	if (s.proxy && json_array_size(s.ports)) {
		spec_err_line(err);
		dk_buf_printf(err, "docker_ports: a deployment fronted by the proxy publishes no fixed host ports");
	}
	if (explicit_port) {
		s.port = (int)strtol(explicit_port, NULL, 10);
		s.port_explicit = 1;
		if (s.port < 1 || s.port > 65535)
			s.port = 0;
	} else if (first_container_port) {
		s.port = first_container_port;
	} else if (dep_port) {
		s.port = dep_port;
		s.port_from_deployment = 1;
		if (strcmp(s.network, "bridge") == 0 && !s.proxy) {
			dk_buf_clear(&b);
			dk_buf_printf(&b, "127.0.0.1:%d:%d", dep_port, dep_port);
			json_array_append_new(s.ports, json_string(dk_buf_cstr(&b)));
		}
	}
	if (s.port && !explicit_port) {
		dk_buf_clear(&b);
		dk_buf_printf(&b, "%d", s.port);
		json_object_set_new(s.env, "PORT", json_string(dk_buf_cstr(&b)));
	}
	dk_buf_release(&b);
	json_decref(env_vars);
	json_decref(denv);
	json_decref(ports);
	json_decref(vols);
	if (err->len > err_start || !s.name || !s.network || !s.labels || !s.container || !s.previous) {
		dk_spec_release(&s);
		return -1;
	}
	*out = s;
	return 0;
}

void dk_spec_set_command(struct dk_spec *s, const char *command)
{
	if (s->cmd_exec)
		return;
	json_decref(s->cmd);
	s->cmd = command && *command ? json_pack("[s,s,s]", "/bin/sh", "-c", command) : NULL;
}

int dk_data_path_check(const char *path, struct dk_buf *err)
{
	static const char *const system[] = {"/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run",
					     "/sbin", "/sys", "/usr", "/var/run"};
	const char *why = NULL;
	if (!path || path[0] != '/')
		why = "must be an absolute path in the container, like /app/data";
	else if (strlen(path) > 255)
		why = "is longer than 255 characters";
	for (const char *c = path; !why && *c; c++)
		if (!(isalnum((unsigned char)*c) || *c == '/' || *c == '_' || *c == '-' || *c == '.'))
			why = "may hold only letters, digits and / _ - .";
	for (const char *c = path; !why && c && *c; c = strchr(c + 1, '/')) {
		const char *seg = c + 1, *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			why = "may not hold a '.' or '..' component";
	}
	if (!why && strspn(path, "/") == strlen(path))
		why = "may not be the container's root";
	for (size_t i = 0; !why && i < sizeof(system) / sizeof(system[0]); i++) {
		size_t n = strlen(system[i]);
		if (!strncmp(path, system[i], n) && (path[n] == '\0' || path[n] == '/'))
			why = "may not be a system directory (/bin, /etc, /usr, /proc...)";
	}
	if (!why)
		return 0;
	if (err)
		dk_buf_printf(err, "data_path: '%.100s' %s", path ? path : "", why);
	return -1;
}

json_t *dk_spec_create_body(const struct dk_spec *s, const char *image)
{
	json_t *env = json_array(), *exposed = json_object(), *bindings = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(s->env, k, v) {
		struct dk_buf e = DK_BUF_INIT;
		dk_buf_printf(&e, "%s=%s", k, json_string_value(v));
		json_array_append_new(env, json_string(dk_buf_cstr(&e)));
		dk_buf_release(&e);
	}
	size_t i;
	json_array_foreach(s->ports, i, v) {
		struct dk_port p;
		if (dk_port_parse(&p, json_string_value(v), NULL) < 0)
			continue;
		char key[32], hp[8];
		snprintf(key, sizeof(key), "%d/%s", p.container_port, p.proto);
		snprintf(hp, sizeof(hp), "%d", p.host_port);
		json_object_set_new(exposed, key, json_object());
		json_t *list = json_object_get(bindings, key);
		if (!list) {
			list = json_array();
			json_object_set_new(bindings, key, list);
		}
		json_array_append_new(list, json_pack("{s:s,s:s}", "HostIp", p.host_ip, "HostPort", hp));
	}
	if (s->port) {
		char key[32];
		snprintf(key, sizeof(key), "%d/tcp", s->port);
		if (!json_object_get(exposed, key))
			json_object_set_new(exposed, key, json_object());
		/* proxy mode: loopback only, the host port left to the engine */
		if (s->proxy && !json_object_get(bindings, key))
			json_object_set_new(bindings, key, json_pack("[{s:s,s:s}]", "HostIp", "127.0.0.1", "HostPort", ""));
	}
	json_t *body = json_pack("{s:s, s:o, s:O, s:o, s:{s:o, s:O, s:s, s:o, s:b}}", "Image", image, "Env", env,
				 "Labels", s->labels, "ExposedPorts", exposed, "HostConfig", "PortBindings", bindings,
				 "Binds", s->volumes, "NetworkMode", s->network, "RestartPolicy",
				 dk_limits_restart_policy(&s->limits), "Init", s->init);
	if (body)
		dk_limits_apply(&s->limits, json_object_get(body, "HostConfig"));
	if (body && s->cmd)
		json_object_set(body, "Cmd", s->cmd);
	return body;
}

void dk_spec_set_port(struct dk_spec *s, int port)
{
	if (port < 1 || port > 65535)
		return;
	s->port = port;
	if (!s->port_explicit) {
		char v[16];
		snprintf(v, sizeof(v), "%d", port);
		json_object_set_new(s->env, "PORT", json_string(v));
	}
}

/* The tcp ports an inspected image exposes: how many, and the lowest. */
static int exposed_tcp(const json_t *image_info, int *lowest)
{
	json_t *exp = json_object_get(json_object_get(image_info, "Config"), "ExposedPorts");
	const char *k;
	json_t *v;
	int n = 0;
	*lowest = 0;
	json_object_foreach(exp, k, v) {
		char *end;
		long p = strtol(k, &end, 10);
		if (p >= 1 && p <= 65535 && (strcmp(end, "/tcp") == 0 || !*end)) {
			n++;
			if (!*lowest || p < *lowest)
				*lowest = (int)p;
		}
	}
	return n;
}

int dk_image_exposed_port(const json_t *image_info)
{
	int lowest;
	exposed_tcp(image_info, &lowest);
	return lowest;
}

int dk_image_exposed_count(const json_t *image_info)
{
	int lowest;
	return exposed_tcp(image_info, &lowest);
}

int dk_spec_follow_expose(struct dk_spec *s, int exposed)
{
	if (!s->port_from_deployment || s->port_explicit || exposed < 1 || exposed > 65535 || exposed == s->port)
		return 0;
	int published = s->port;
	s->port = exposed;
	char v[48];
	snprintf(v, sizeof(v), "%d", exposed);
	json_object_set_new(s->env, "PORT", json_string(v));
	/* the implicit binding 127.0.0.1:P:P (fixed mode) now reaches the exposed port */
	if (json_array_size(s->ports) == 1) {
		snprintf(v, sizeof(v), "127.0.0.1:%d:%d", published, exposed);
		json_array_set_new(s->ports, 0, json_string(v));
	}
	return 1;
}

json_t *dk_spec_unit_ports(const struct dk_spec *s)
{
	if (!s->proxy)
		return json_incref(s->ports);
	json_t *a = json_array();
	if (s->port) {
		char v[32];
		snprintf(v, sizeof(v), "127.0.0.1::%d", s->port);
		json_array_append_new(a, json_string(v));
	}
	return a;
}
