/* addon.yaml parsing and typed field values: a full manifest, every broken
 * manifest under tests/addons/broken (each message names file and line),
 * event aliases, defaults, and the --set text forms of each field type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon/field.h"
#include "addon/manifest.h"

static struct wo_addon_manifest *parse(const char *text)
{
	struct wo_addon_manifest *m = NULL;
	assert_int_equal(wo_addon_manifest_parse(&m, "/x/addon.yaml", text, strlen(text), 0), 0);
	assert_non_null(m);
	return m;
}

static int has_error(const struct wo_addon_manifest *m, const char *needle)
{
	for (size_t i = 0; i < m->nerrors; i++)
		if (strstr(m->errors[i], needle))
			return 1;
	return 0;
}

static void dump_errors(const struct wo_addon_manifest *m)
{
	for (size_t i = 0; i < m->nerrors; i++)
		print_message("  error: %s\n", m->errors[i]);
}

#define assert_error(m, needle)                                             \
	do {                                                                    \
		if (!has_error((m), (needle))) {                                    \
			print_error("no error containing '%s'; got:\n", (needle));     \
			dump_errors(m);                                                 \
		}                                                                   \
		assert_true(has_error((m), (needle)));                              \
	} while (0)

static void test_full_manifest(void **state)
{
	(void)state;
	struct wo_addon_manifest *m = parse(
		"name: docker\n"
		"version: 1.0.0\n"
		"description: Containers\n"
		"author: me\n"
		"license: MIT\n"
		"capabilities: [build, run]\n"
		"library: lib/docker.so\n"
		"abi: 1\n"
		"settings_schema:\n"
		"  socket: {type: string, default: /var/run/docker.sock}\n"
		"  timeout: {type: int, default: 30, min: 1}\n"
		"deployment_fields:\n"
		"  - name: use_docker\n"
		"    type: bool\n"
		"    default: false\n"
		"    label: Use Docker\n"
		"  - name: docker_ports\n"
		"    type: list\n"
		"    pattern: '^[0-9]+:[0-9]+$'\n"
		"  - name: restart\n"
		"    choices: [always, no]\n"
		"    default: always\n"
		"hooks:\n"
		"  pre_deployment:\n"
		"    - handler: docker_build\n"
		"      priority: 10\n"
		"      timeout_ms: 5000\n"
		"      retries: 2\n"
		"      retry_initial_delay_ms: 100\n"
		"      retry_backoff: 1.5\n"
		"      conditions: {use_docker: true}\n"
		"  service_health_check: docker_health\n"
		"  stop:\n"
		"    - {handler: docker_stop, enforcement: required}\n");
	dump_errors(m);
	assert_int_equal(m->nerrors, 0);
	assert_string_equal(m->name, "docker");
	assert_string_equal(m->library_path, "/x/lib/docker.so");
	assert_int_equal(m->abi_major, 1);
	assert_int_equal(m->ncapabilities, 2);
	assert_int_equal(m->nsettings, 2);
	assert_int_equal(m->nfields, 3);
	assert_int_equal(m->fields[2].type, WO_FIELD_ENUM);
	assert_string_equal(json_string_value(m->fields[2].dflt), "always");
	assert_true(json_is_false(m->fields[0].dflt));
	assert_int_equal(m->nhooks, 3);
	const struct wo_addon_hook *h = &m->hooks[0];
	assert_int_equal(h->event, WO_EVENT_PRE_DEPLOY);
	assert_string_equal(h->handler, "docker_build");
	assert_int_equal(h->priority, 10);
	assert_int_equal(h->timeout_ms, 5000);
	assert_int_equal(h->retries, 2);
	assert_int_equal(h->retry_initial_delay_ms, 100);
	assert_true(h->retry_backoff > 1.49 && h->retry_backoff < 1.51);
	assert_int_equal(h->required, 1);
	/* the condition is typed by the declared field */
	assert_true(json_is_true(json_object_get(h->conditions, "use_docker")));
	h = &m->hooks[1];
	assert_int_equal(h->event, WO_EVENT_HEALTH);
	assert_string_equal(h->handler, "docker_health");
	assert_int_equal(h->priority, 100);
	assert_int_equal(h->timeout_ms, 30000);
	assert_int_equal(h->required, 0);
	h = &m->hooks[2];
	assert_int_equal(h->event, WO_EVENT_STOP);
	assert_int_equal(h->timeout_ms, 120000);
	assert_int_equal(h->required, 1);
	wo_addon_manifest_free(m);
}

static void test_defaults(void **state)
{
	(void)state;
	struct wo_addon_manifest *m = parse("name: a\nversion: '1'\nlibrary: a.so\nhooks:\n  post_deploy:\n"
	                                    "    - handler: h\n");
	assert_int_equal(m->nerrors, 0);
	assert_int_equal(m->hooks[0].priority, 100);
	assert_int_equal(m->hooks[0].timeout_ms, 600000);
	assert_int_equal(m->hooks[0].retries, 0);
	assert_int_equal(m->hooks[0].retry_initial_delay_ms, 1000);
	assert_true(m->hooks[0].retry_backoff > 1.99 && m->hooks[0].retry_backoff < 2.01);
	assert_int_equal(m->hooks[0].required, 1);
	wo_addon_manifest_free(m);
}

static void test_errors_inline(void **state)
{
	(void)state;
	struct wo_addon_manifest *m = parse("version: 1\n");
	assert_error(m, "cannot load manifest '/x/addon.yaml': line 1: missing 'name'");
	wo_addon_manifest_free(m);

	m = parse("name: a\nlibrary: a.so\nhooks:\n  deploy:\n    - handler: h\n");
	assert_error(m, "line 4: hooks: unknown event 'deploy'");
	wo_addon_manifest_free(m);

	m = parse("name: a\nlibrary: a.so\nhooks:\n  health:\n    - handler: h\n      priority: 1.5\n");
	assert_error(m, "line 6: hooks.health[0].priority: expected an integer, got '1.5'");
	wo_addon_manifest_free(m);

	m = parse("name: a\nhooks:\n  health: [h]\n");
	assert_error(m, "missing 'library'");
	wo_addon_manifest_free(m);

	m = parse("name: a\nlibrary: a.so\nhooks:\n  health:\n    - handler: 'not a symbol'\n");
	assert_error(m, "is not a C symbol name");
	wo_addon_manifest_free(m);

	m = parse("name: a\nabi: 2.0\n");
	assert_error(m, "line 2: abi: the addon is written for addon ABI 2.0 but this webops provides ABI 1.2");
	wo_addon_manifest_free(m);

	m = parse("- a\n- b\n");
	assert_error(m, "expected a mapping at the top");
	wo_addon_manifest_free(m);

	m = parse("");
	assert_error(m, "the manifest is empty");
	wo_addon_manifest_free(m);

	m = parse("name: a\nname: b\n");
	assert_error(m, "line 2: duplicate key 'name'");
	wo_addon_manifest_free(m);

	m = parse("name: a\ndeployment_fields:\n  x: {type: int, pattern: '[0-9]'}\n  y: {type: string, pattern: '(('}\n"
	          "  x: {type: bool}\n");
	assert_error(m, "line 3: deployment_fields.x.pattern: a pattern applies to");
	assert_error(m, "deployment_fields.y.pattern: invalid pattern '(('");
	wo_addon_manifest_free(m);

	m = parse("name: a\nlibrary: a.so\nhooks:\n  health:\n    - handler: h\n      retry_backoff: 0.5\n"
	          "      timeout_ms: 0\n");
	assert_error(m, "line 6: hooks.health[0].retry_backoff: expected a number from 1.0 to 100");
	assert_error(m, "line 7: hooks.health[0].timeout_ms: expected an integer from 1");
	wo_addon_manifest_free(m);
}

static void test_warnings(void **state)
{
	(void)state;
	struct wo_addon_manifest *m = parse("name: a\nversion: '1'\nhomepage: x\n");
	assert_int_equal(m->nerrors, 0);
	assert_int_equal(m->nwarnings, 1);
	assert_non_null(strstr(m->warnings[0], "line 3: unknown key 'homepage' ignored"));
	wo_addon_manifest_free(m);
}

/* Each folder in tests/addons/broken, with the message it must produce. */
static void test_broken_files(void **state)
{
	(void)state;
	static const struct {
		const char *dir;
		const char *needle;
	} cases[] = {
		{"missing_name", "line 1: missing 'name'"},
		{"unknown_event", "line 6: hooks: unknown event 'pre_deploi'"},
		{"bad_priority", "line 8: hooks.pre_deploy[0].priority: expected an integer, got 'high'"},
		{"library_missing", "line 4: library 'build/nothere.so' not found"},
		{"bad_yaml", "line 4: invalid YAML"},
		{"bad_field", "line 6: deployment_fields.colour.type: unknown type 'colour'"},
		{"bad_field", "line 7: deployment_fields.size: an enum needs 'choices'"},
		{"bad_field", "line 12: deployment_fields.count.default: 0 is below the minimum 1"},
		{"bad_enforcement", "line 8: hooks.post_deploy[0].enforcement: expected 'required' or 'optional'"},
		{"bad_enforcement", "line 9: hooks.post_deploy[0].retries: expected an integer, got 'many'"},
		{"missing_handler_key", "line 2: name: 'Bad Name' is not a valid addon name"},
		{"missing_handler_key", "line 7: hooks.health[0]: missing 'handler'"},
	};
	const char *src = getenv("WEBOPS_SOURCE_DIR");
	if (!src)
		src = WEBOPS_SOURCE_DIR;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/tests/addons/broken/%s/addon.yaml", src, cases[i].dir);
		struct wo_addon_manifest *m = NULL;
		assert_int_equal(wo_addon_manifest_load(&m, path), 0);
		/* the file is named in the message */
		char needle[4200];
		snprintf(needle, sizeof(needle), "cannot load manifest '%s': %s", path, cases[i].needle);
		assert_error(m, needle);
		wo_addon_manifest_free(m);
	}
}

static void test_unreadable(void **state)
{
	(void)state;
	struct wo_addon_manifest *m = NULL;
	assert_int_equal(wo_addon_manifest_load(&m, "/nonexistent/addon.yaml"), 0);
	assert_error(m, "cannot load manifest '/nonexistent/addon.yaml': No such file or directory");
	wo_addon_manifest_free(m);
}

static void test_events(void **state)
{
	(void)state;
	enum wo_event ev;
	assert_int_equal(wo_event_parse(&ev, "pre_deployment"), 0);
	assert_int_equal(ev, WO_EVENT_PRE_DEPLOY);
	assert_int_equal(wo_event_parse(&ev, "post_deployment"), 0);
	assert_int_equal(ev, WO_EVENT_POST_DEPLOY);
	assert_int_equal(wo_event_parse(&ev, "service_health_check"), 0);
	assert_int_equal(ev, WO_EVENT_HEALTH);
	assert_int_equal(wo_event_parse(&ev, "delete"), 0);
	assert_int_equal(ev, WO_EVENT_DELETE);
	assert_int_equal(wo_event_parse(&ev, "deploy"), -1);
	assert_int_equal(wo_event_default_timeout_ms(WO_EVENT_HEALTH), 30000);
	assert_int_equal(wo_event_default_timeout_ms(WO_EVENT_START), 120000);
}

/* ---- typed values ---- */

static struct wo_addon_manifest *fields_manifest;

static const struct wo_addon_field *field(const char *name)
{
	if (!fields_manifest) {
		fields_manifest = parse("name: f\n"
		                        "deployment_fields:\n"
		                        "  b: {type: bool}\n"
		                        "  i: {type: int, min: 1, max: 10}\n"
		                        "  s: {type: string, pattern: '^[a-z]+$', max: 5}\n"
		                        "  e: {type: enum, choices: [red, green]}\n"
		                        "  l: {type: list, pattern: '^[0-9]+:[0-9]+$', max: 2}\n"
		                        "  c: {type: list, choices: [a, b]}\n"
		                        "  m: {type: map, pattern: '^[^ ]*$'}\n");
		assert_int_equal(fields_manifest->nerrors, 0);
	}
	const struct wo_addon_field *f = wo_addon_manifest_field(fields_manifest, name);
	assert_non_null(f);
	return f;
}

static void want_value(const char *name, const char *text, const char *want_json)
{
	json_t *v = NULL;
	struct wo_buf err = WO_BUF_INIT;
	int r = wo_addon_field_parse(&v, field(name), text, &err);
	if (r != 0)
		print_error("field %s: '%s' refused: %s\n", name, text, wo_buf_cstr(&err));
	assert_int_equal(r, 0);
	char *got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	assert_string_equal(got, want_json);
	free(got);
	json_decref(v);
	wo_buf_release(&err);
}

static void want_refused(const char *name, const char *text, const char *needle)
{
	json_t *v = NULL;
	struct wo_buf err = WO_BUF_INIT;
	assert_int_equal(wo_addon_field_parse(&v, field(name), text, &err), -1);
	assert_null(v);
	if (!strstr(wo_buf_cstr(&err), needle))
		print_error("field %s: '%s': message '%s' lacks '%s'\n", name, text, wo_buf_cstr(&err), needle);
	assert_non_null(strstr(wo_buf_cstr(&err), needle));
	wo_buf_release(&err);
}

static void test_field_values(void **state)
{
	(void)state;
	want_value("b", "true", "true");
	want_value("b", "yes", "true");
	want_value("b", "1", "true");
	want_value("b", "No", "false");
	want_value("b", "0", "false");
	want_refused("b", "maybe", "expected true or false");
	want_value("i", "7", "7");
	want_refused("i", "0", "below the minimum 1");
	want_refused("i", "11", "above the maximum 10");
	want_refused("i", "7x", "expected an integer");
	want_refused("i", "", "expected an integer");
	want_value("s", "abc", "\"abc\"");
	want_refused("s", "ab1", "does not match the pattern");
	want_refused("s", "abcdef", "at most 5 characters");
	want_value("e", "red", "\"red\"");
	want_refused("e", "blue", "'blue' is not one of: red, green");
	want_value("l", "[\"8080:80\"]", "[\"8080:80\"]");
	want_value("l", "8080:80, 443:443", "[\"8080:80\",\"443:443\"]");
	want_value("l", "", "[]");
	want_refused("l", "8080", "item '8080' does not match");
	want_refused("l", "1:1,2:2,3:3", "at most 2 items");
	want_refused("l", "[1]", "item 1: expected a string");
	want_refused("l", "[\"a\"", "invalid JSON array");
	want_value("c", "a,b", "[\"a\",\"b\"]");
	want_refused("c", "a,z", "item 'z' is not one of: a, b");
	want_value("m", "{\"A\": \"1\"}", "{\"A\":\"1\"}");
	want_value("m", "A=1,B=two", "{\"A\":\"1\",\"B\":\"two\"}");
	want_refused("m", "A", "expected KEY=VALUE");
	want_refused("m", "A=x y", "does not match the pattern");
	want_refused("m", "{\"A\": 1}", "key 'A': expected a string value");
	wo_addon_manifest_free(fields_manifest);
	fields_manifest = NULL;
}

static void test_format(void **state)
{
	(void)state;
	json_t *v = json_pack("[s,s]", "a", "b");
	char *t = wo_addon_field_format(v);
	assert_string_equal(t, "[\"a\",\"b\"]");
	free(t);
	json_decref(v);
	v = json_true();
	t = wo_addon_field_format(v);
	assert_string_equal(t, "true");
	free(t);
	v = json_integer(42);
	t = wo_addon_field_format(v);
	assert_string_equal(t, "42");
	free(t);
	json_decref(v);
	assert_null(wo_addon_field_format(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_manifest),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors_inline),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_broken_files),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_field_values),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
