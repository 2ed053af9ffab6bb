/* addon/ports.c: the host port of a port mapping ("[ip:]host:container[/proto]",
 * IPv6 in brackets, an empty host port left to the engine), and where a
 * deployment is reached (its domain, its port, what it publishes, loopback
 * mappings marked local), from a registry built by hand (no database: the
 * conflicts themselves are checked end to end in tests/system/test_releases.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "addon/addon.h"
#include "addon/manifest.h"

static void mapping(const char *s, int rc, int port, const char *proto)
{
	int p = -1;
	char pr[4] = "";
	int got = wo_port_mapping_host(s, &p, pr);
	if (got != rc)
		fail_msg("wo_port_mapping_host('%s'): %d, want %d", s ? s : "(null)", got, rc);
	if (rc == 0 && (p != port || strcmp(pr, proto) != 0))
		fail_msg("wo_port_mapping_host('%s'): %d/%s, want %d/%s", s, p, pr, port, proto);
}

static void host_ports(void **state)
{
	(void)state;
	mapping("8080:80", 0, 8080, "tcp");
	mapping("127.0.0.1:8080:80", 0, 8080, "tcp");
	mapping("0.0.0.0:53:53/udp", 0, 53, "udp");
	mapping("[::1]:8443:443/tcp", 0, 8443, "tcp");
	mapping("[::]:9000:9000", 0, 9000, "tcp");
	mapping("127.0.0.1::80", 0, 0, "tcp");
	mapping("80", -1, 0, "");
	mapping("x:80", -1, 0, "");
	mapping("70000:80", -1, 0, "");
	mapping("8080:80/sctp", -1, 0, "");
	mapping(NULL, -1, 0, "");
}

static void addresses(void **state)
{
	(void)state;
	/* a registry of one enabled addon whose docker_ports-like field holds ports */
	struct wo_addon_field field = { .name = "docker_ports", .type = WO_FIELD_LIST, .host_ports = 1 };
	struct wo_addon_manifest m = { .name = "docker", .fields = &field, .nfields = 1 };
	struct wo_addon a = { .name = "docker", .manifest = &m, .enabled = 1, .loaded = 1 };
	struct wo_addon *list[] = { &a };
	struct wo_addon_registry reg = { .addons = list, .naddons = 1 };
	json_t *d = json_pack("{s:s,s:s,s:i,s:{s:{s:[s,s]}}}", "name", "blog", "domain", "blog.example.com", "port", 8080,
			      "addon_fields", "docker", "docker_ports", "127.0.0.1:9000:80", "0.0.0.0:9443:443");
	json_t *out = wo_addon_addresses(&reg, d);
	assert_int_equal(json_array_size(out), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "url")), "http://blog.example.com/");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 1), "port")), 8080);
	assert_true(json_is_true(json_object_get(json_array_get(out, 2), "local")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 3), "port")), 9443);
	assert_true(json_is_false(json_object_get(json_array_get(out, 3), "local")));
	json_decref(out);
	/* a disabled addon's fields say nothing */
	a.enabled = 0;
	out = wo_addon_addresses(&reg, d);
	assert_int_equal(json_array_size(out), 2);
	json_decref(out);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(host_ports), cmocka_unit_test(addresses) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
