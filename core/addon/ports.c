/* Host ports held by deployments: a deployment's port, the host ports of the
 * addon fields whose manifest marks them `host_ports: true` (port mappings
 * like docker_ports), and the ports enabled addons listen on themselves
 * (int settings marked `host_ports: true`, like proxy-nginx's http_port).
 * A record that asks for a port another deployment (or an addon) holds is
 * refused when stored, naming the holder, instead of failing at deploy time
 * with the engine's "port is already allocated". */
#include "addon/addon.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon/manifest.h"
#include "store/deployment.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/banned.h"

struct held {
	int port;
	char proto[4];
	char *by;      /* "deployment 'x' (docker_ports 0.0.0.0:8080:80)" */
	int addon;     /* an addon's own port (a setting) */
};

struct holds {
	struct held *v;
	size_t n, cap;
};

static void holds_add(struct holds *h, int port, const char *proto, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void holds_add(struct holds *h, int port, const char *proto, const char *fmt, ...)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct held *nv = realloc(h->v, cap * sizeof(*nv));
		if (!nv)
			return;
		h->v = nv;
		h->cap = cap;
	}
	struct wo_buf b = WO_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	wo_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	struct held *x = &h->v[h->n++];
	x->port = port;
	snprintf(x->proto, sizeof(x->proto), "%s", proto);
	x->by = wo_buf_detach(&b);
	x->addon = 0;
}

static void holds_release(struct holds *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].by);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

int wo_port_mapping_host(const char *s, int *port, char proto[4])
{
	if (!s)
		return -1;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", s);
	snprintf(proto, 4, "tcp");
	char *slash = strrchr(buf, '/');
	if (slash) {
		if (strcmp(slash + 1, "tcp") && strcmp(slash + 1, "udp"))
			return -1;
		snprintf(proto, 4, "%s", slash + 1);
		*slash = '\0';
	}
	/* [ip:]host:container; an IPv6 address is in brackets */
	char *last = strrchr(buf, ':');
	if (!last)
		return -1;
	*last = '\0';
	char *host = strrchr(buf, ':');
	host = host && (!strchr(buf, ']') || host > strchr(buf, ']')) ? host + 1 : buf;
	if (!*host || host[0] == '[') {
		*port = 0; /* the engine picks one */
		return 0;
	}
	char *end;
	long p = strtol(host, &end, 10);
	if (*end || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/* Calls fn for each host port in addon_fields' mappings (the fields of
 * enabled addons marked host_ports), with the field and the mapping. */
static void each_mapping(const struct wo_addon_registry *reg, const json_t *addon_fields,
			 void (*fn)(void *ud, const char *field, const char *mapping, int port, const char *proto),
			 void *ud)
{
	for (size_t i = 0; reg && i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		if (!a->enabled || a->duplicate || !a->manifest)
			continue;
		for (size_t k = 0; k < a->manifest->nfields; k++) {
			const struct wo_addon_field *f = &a->manifest->fields[k];
			size_t j;
			json_t *v;
			json_array_foreach(f->host_ports ? json_object_get(json_object_get(addon_fields, a->name), f->name)
							 : NULL, j, v) {
				int p;
				char proto[4];
				if (wo_port_mapping_host(json_string_value(v), &p, proto) == 0 && p > 0)
					fn(ud, f->name, json_string_value(v), p, proto);
			}
		}
	}
}

/* Calls fn for each port an enabled addon listens on itself (its int
 * settings marked host_ports). */
static void each_addon_port(const struct wo_addon_registry *reg,
			    void (*fn)(void *ud, const char *addon, const char *setting, int port), void *ud)
{
	for (size_t i = 0; reg && i < reg->naddons; i++) {
		const struct wo_addon *a = reg->addons[i];
		for (size_t k = 0; a->enabled && !a->duplicate && a->manifest && k < a->manifest->nsettings; k++) {
			const struct wo_addon_field *f = &a->manifest->settings[k];
			const json_t *v = json_object_get(a->settings, f->name);
			if (f->host_ports && json_is_integer(v))
				fn(ud, a->name, f->name, (int)json_integer_value(v));
		}
	}
}

struct collect {
	struct holds *h;
	const char *name; /* NULL: the record's own */
};

static void collect_mapping(void *ud, const char *field, const char *mapping, int port, const char *proto)
{
	struct collect *c = ud;
	if (!c->name)
		holds_add(c->h, port, proto, "%s %s", field, mapping);
	else
		holds_add(c->h, port, proto, "deployment '%s' (%s %s)", c->name, field, mapping);
}

static void collect_addon_port(void *ud, const char *addon, const char *setting, int port)
{
	struct holds *h = ud;
	holds_add(h, port, "tcp", "the %s addon (its setting %s)", addon, setting);
	if (h->n)
		h->v[h->n - 1].addon = 1;
}

/* The ports a record holds, added to h (named by name; mine: the record
 * being stored). */
static void record_ports(struct holds *h, const struct wo_addon_registry *reg, const char *name, const json_t *port,
			 const json_t *addon_fields, int mine)
{
	if (json_is_integer(port) && json_integer_value(port) > 0) {
		if (mine)
			holds_add(h, (int)json_integer_value(port), "tcp", "port");
		else
			holds_add(h, (int)json_integer_value(port), "tcp", "deployment '%s' (its port)", name);
	}
	struct collect c = { h, mine ? NULL : name };
	each_mapping(reg, addon_fields, collect_mapping, &c);
}

int wo_addon_host_ports_check(const struct wo_addon_registry *reg, PGconn *conn, const json_t *record,
			      struct wo_buf *err)
{
	const char *name = json_string_value(json_object_get(record, "name"));
	struct holds mine = {0}, others = {0};
	record_ports(&mine, reg, name, json_object_get(record, "port"), json_object_get(record, "addon_fields"), 1);
	if (mine.n == 0)
		return 0;
	size_t before = err->len;
	/* what enabled addons listen on themselves */
	each_addon_port(reg, collect_addon_port, &others);
	json_t *deployments = NULL;
	if (wo_deployment_ports_list(&deployments, conn, name ? name : "") < 0) {
		wo_buf_printf(err, "%scannot read the ports other deployments hold: %s", err->len ? "\n" : "",
			      wo_error_last());
		holds_release(&mine);
		holds_release(&others);
		return -1;
	}
	size_t k;
	json_t *d;
	json_array_foreach(deployments, k, d)
		record_ports(&others, reg, json_string_value(json_object_get(d, "name")), json_object_get(d, "port"),
			     json_object_get(d, "addon_fields"), 0);
	json_decref(deployments);
	for (size_t i = 0; i < mine.n; i++) {
		const struct held *m = &mine.v[i];
		const char *by = NULL;
		/* a deployment's port may be where that addon serves it (a proxy
		 * listens on it): only mappings a container publishes itself
		 * collide with an addon's own ports */
		int is_port = strcmp(m->by, "port") == 0;
		for (size_t j = 0; !by && j < others.n; j++)
			if (others.v[j].port == m->port && !strcmp(others.v[j].proto, m->proto) &&
			    !(is_port && others.v[j].addon))
				by = others.v[j].by;
		/* the same host port twice in the record's mappings (its own port
		 * may be one its container publishes: the probe asks there) */
		for (size_t j = 0; !by && !is_port && j < i; j++)
			if (mine.v[j].port == m->port && !strcmp(mine.v[j].proto, m->proto) && strcmp(mine.v[j].by, "port"))
				by = mine.v[j].by;
		if (!by)
			continue;
		const char *field = is_port ? "port" : m->by;
		wo_buf_printf(err, "%s%.*s: host port %d/%s is already used by %s", err->len ? "\n" : "",
			      (int)strcspn(field, " "), field, m->port, m->proto, by);
		if (!is_port)
			wo_buf_printf(err, " (asked for by %s)", strchr(field, ' ') + 1);
	}
	holds_release(&mine);
	holds_release(&others);
	return err->len > before ? -1 : 0;
}

static void domain_port(void *ud, const char *addon, const char *setting, int port)
{
	(void)addon;
	(void)setting;
	*(int *)ud = port;
}

static void address_mapping(void *ud, const char *field, const char *mapping, int port, const char *proto)
{
	(void)field;
	/* loopback only: reachable from the host itself */
	int local = !strncmp(mapping, "127.", 4) || !strncmp(mapping, "[::1]", 5);
	json_array_append_new(ud, json_pack("{s:s,s:i,s:s,s:s,s:b}", "kind", "published", "port", port, "proto", proto,
					    "mapping", mapping, "local", local));
}

json_t *wo_addon_addresses(const struct wo_addon_registry *reg, const json_t *d)
{
	json_t *out = json_array();
	const char *domain = json_string_value(json_object_get(d, "domain"));
	if (domain && *domain) {
		/* served on the port an enabled addon listens on for domains (proxy-nginx's http_port) */
		int port = 80;
		each_addon_port(reg, domain_port, &port);
		char url[600];
		if (port == 80)
			snprintf(url, sizeof(url), "http://%s/", domain);
		else
			snprintf(url, sizeof(url), "http://%s:%d/", domain, port);
		json_array_append_new(out, json_pack("{s:s,s:s}", "kind", "domain", "url", url));
	}
	const json_t *port = json_object_get(d, "port");
	if (json_is_integer(port))
		json_array_append_new(out, json_pack("{s:s,s:I}", "kind", "port", "port", json_integer_value(port)));
	each_mapping(reg, json_object_get(d, "addon_fields"), address_mapping, out);
	return out;
}
