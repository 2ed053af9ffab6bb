/* The addon host without a database, against the real test addons built in
 * build/tests/addons: discovery and load errors, ordering, crash and timeout
 * containment, enforcement, retries, conditions, outputs, cancellation,
 * settings from the environment, and --set field parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addon/host.h"
#include "addon/addon.h"
#include "util/fs.h"
#include "util/secret.h"

static char scratch[256];

static const char *build_dir(void)
{
	const char *b = getenv("WEBOPS_BUILD_DIR");
	return b ? b : WEBOPS_BUILD_DIR;
}

static const char *source_dir(void)
{
	const char *s = getenv("WEBOPS_SOURCE_DIR");
	return s ? s : WEBOPS_SOURCE_DIR;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fresh addons folder for one test. */
static int setup(void **state)
{
	(void)state;
	snprintf(scratch, sizeof(scratch), "/tmp/wo-addon-test.XXXXXX");
	if (!mkdtemp(scratch))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	wo_fs_rm_rf(scratch);
	return 0;
}

/* Links a built test addon folder into the scratch folder. */
static void link_built(const char *name)
{
	char from[1024], to[1024];
	snprintf(from, sizeof(from), "%s/tests/addons/%s", build_dir(), name);
	snprintf(to, sizeof(to), "%s/%s", scratch, name);
	assert_int_equal(symlink(from, to), 0);
}

static void link_broken(const char *name)
{
	char from[1024], to[1024];
	snprintf(from, sizeof(from), "%s/tests/addons/broken/%s", source_dir(), name);
	snprintf(to, sizeof(to), "%s/%s", scratch, name);
	assert_int_equal(symlink(from, to), 0);
}

/* Writes scratch/<folder>/addon.yaml; "@LIB@" stands for the build's tests/addons folder. */
static void write_manifest(const char *folder, const char *yaml)
{
	char dir[1024], path[1100], lib[1024];
	snprintf(dir, sizeof(dir), "%s/%s", scratch, folder);
	assert_int_equal(wo_fs_mkdir_p(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/addon.yaml", dir);
	snprintf(lib, sizeof(lib), "%s/tests/addons", build_dir());
	struct wo_buf b = WO_BUF_INIT;
	for (const char *p = yaml; *p;) {
		if (!strncmp(p, "@LIB@", 5)) {
			wo_buf_puts(&b, lib);
			p += 5;
		} else {
			wo_buf_putc(&b, *p++);
		}
	}
	assert_int_equal(wo_fs_write_file_atomic(path, b.ptr, b.len, 0644), 0);
	wo_buf_release(&b);
}

static struct wo_addon_registry *load(void)
{
	struct wo_addon_registry *reg = NULL;
	assert_int_equal(wo_addon_registry_load(&reg, scratch, NULL), 0);
	return reg;
}

static json_t *deployment(const char *addon_fields_json)
{
	json_t *d = json_pack("{s:s, s:s, s:s, s:i}", "name", "blog", "repo_url", "https://example.com/b.git",
	                      "branch", "main", "id", 7);
	json_object_set_new(d, "addon_fields", json_loads(addon_fields_json ? addon_fields_json : "{}", 0, NULL));
	return d;
}

static struct wo_hook_report *run(struct wo_addon_registry *reg, enum wo_event ev, json_t *dep, json_t *outputs)
{
	struct wo_hook_ctx ctx = {.deployment = dep, .outputs = outputs, .commit = "abc123", .run_id = "42"};
	struct wo_hook_report *rep = NULL;
	assert_int_equal(wo_hook_dispatch(&rep, reg, ev, &ctx), 0);
	return rep;
}

static int log_has(const struct wo_hook_result *r, const char *needle)
{
	size_t i;
	json_t *l;
	json_array_foreach(r->logs, i, l)
		if (strstr(json_string_value(json_object_get(l, "line")), needle))
			return 1;
	return 0;
}

static const char *output(const struct wo_hook_result *r, const char *key)
{
	return json_string_value(json_object_get(r->outputs, key));
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle))
		print_error("'%s' not found in: %s\n", needle, hay ? hay : "(null)");
	assert_non_null(hay);
	assert_non_null(strstr(hay, needle));
}

/* ---- tests ---- */

static void test_load_states(void **state)
{
	(void)state;
	link_built("ok");
	link_built("wrongabi");
	link_built("nohandler");
	link_broken("missing_name");
	link_broken("dup_a");
	link_broken("dup_b");
	struct wo_addon_registry *reg = load();
	assert_int_equal(reg->naddons, 6);
	struct wo_addon *ok = wo_addon_registry_find(reg, "ok");
	assert_non_null(ok);
	assert_true(ok->loaded);
	assert_null(ok->load_error);
	assert_int_equal(ok->abi_major, 1);
	assert_string_equal(ok->lib_version, "1.2.3");

	struct wo_addon *w = wo_addon_registry_find(reg, "wrongabi");
	assert_false(w->loaded);
	assert_contains(w->load_error, "built for addon ABI 2.0 but this webops provides ABI 1.2");

	struct wo_addon *n = wo_addon_registry_find(reg, "nohandler");
	assert_false(n->loaded);
	assert_contains(n->load_error, "addon.yaml': line 9: hooks.post_deploy: handler 'nohandler_missing' is not exported");

	struct wo_addon *mn = wo_addon_registry_find(reg, "missing_name");
	assert_non_null(mn);
	assert_contains(mn->load_error, "line 1: missing 'name'");

	struct wo_addon *d = wo_addon_registry_find(reg, "dupe");
	assert_non_null(d);
	assert_null(d->load_error);
	assert_contains(d->manifest->path, "dup_a");
	int dups = 0;
	for (size_t i = 0; i < reg->naddons; i++) {
		if (reg->addons[i]->duplicate) {
			dups++;
			assert_contains(reg->addons[i]->load_error, "duplicate addon name 'dupe'");
			assert_contains(reg->addons[i]->load_error, "dup_b/addon.yaml");
		}
	}
	assert_int_equal(dups, 1);
	wo_addon_registry_free(reg);
}

static void test_library_refused(void **state)
{
	(void)state;
	/* a copy of ok.so writable by others, and a "library" that is a folder */
	char src[1024], dst[1024];
	snprintf(src, sizeof(src), "%s/tests/addons/ok/ok.so", build_dir());
	snprintf(dst, sizeof(dst), "%s/alpha.so", scratch);
	char *data;
	size_t len;
	assert_int_equal(wo_fs_read_file(&data, &len, src, 64 << 20), 0);
	assert_int_equal(wo_fs_write_file_atomic(dst, data, len, 0666), 0);
	free(data);
	chmod(dst, 0666);
	char yaml[2048];
	snprintf(yaml, sizeof(yaml), "name: alpha\nlibrary: %s\nhooks: {health: [ok_health]}\n", dst);
	write_manifest("alpha", yaml);
	write_manifest("beta", "name: beta\nlibrary: .\nhooks: {health: [ok_health]}\n");
	struct wo_addon_registry *reg = load();
	assert_contains(wo_addon_registry_find(reg, "alpha")->load_error, "writable by others");
	assert_contains(wo_addon_registry_find(reg, "beta")->load_error, "not a regular file");
	wo_addon_registry_free(reg);
}

static void test_order(void **state)
{
	(void)state;
	write_manifest("alpha", "name: alpha\nlibrary: @LIB@/lib/alpha.so\nhooks:\n  pre_deploy:\n"
	                        "    - {handler: ok_order, priority: 100}\n    - {handler: ok_order, priority: 50}\n");
	write_manifest("beta", "name: beta\nlibrary: @LIB@/lib/beta.so\nhooks:\n  pre_deploy:\n"
	                       "    - {handler: ok_order, priority: 10}\n");
	write_manifest("gamma", "name: gamma\nlibrary: @LIB@/lib/gamma.so\nhooks:\n  pre_deployment:\n"
	                        "    - {handler: ok_order, priority: 50}\n");
	struct wo_addon_registry *reg = load();
	for (int round = 0; round < 3; round++) {
		json_t *dep = deployment(NULL);
		struct wo_hook_report *rep = run(reg, WO_EVENT_PRE_DEPLOY, dep, NULL);
		assert_true(rep->ok);
		assert_int_equal(rep->nresults, 4);
		static const char *const want_addon[] = {"beta", "alpha", "gamma", "alpha"};
		static const int want_prio[] = {10, 50, 50, 100};
		static const char *const want_seen[] = {"", "beta", "alpha,beta", "alpha,beta,gamma"};
		for (int i = 0; i < 4; i++) {
			assert_string_equal(rep->results[i].addon, want_addon[i]);
			assert_int_equal(rep->results[i].priority, want_prio[i]);
			assert_int_equal(rep->results[i].status, WO_HOOK_OK);
			/* a later hook sees what earlier ones published */
			assert_string_equal(output(&rep->results[i], "seen"), want_seen[i]);
		}
		wo_hook_report_free(rep);
		json_decref(dep);
	}
	wo_addon_registry_free(reg);
}

static void test_crash_required(void **state)
{
	(void)state;
	link_built("crash");
	write_manifest("alpha", "name: alpha\nlibrary: @LIB@/lib/alpha.so\nhooks:\n  pre_deploy:\n"
	                        "    - {handler: ok_order, priority: 100}\n");
	struct wo_addon_registry *reg = load();
	json_t *dep = deployment(NULL);
	struct wo_hook_report *rep = run(reg, WO_EVENT_PRE_DEPLOY, dep, NULL);
	assert_false(rep->ok);
	assert_int_equal(rep->nresults, 2);
	const struct wo_hook_result *r = &rep->results[0];
	assert_string_equal(r->addon, "crash");
	assert_int_equal(r->status, WO_HOOK_FAILED);
	assert_int_equal(r->signal, SIGSEGV);
	assert_contains(r->error, "addon 'crash' hook 'pre_deploy' (handler 'crash_pre_deploy') crashed: killed by SIGSEGV");
	assert_true(log_has(r, "about to crash"));
	assert_int_equal(rep->results[1].status, WO_HOOK_NOT_RUN);
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
}

static void test_crash_optional_and_abort(void **state)
{
	(void)state;
	link_built("abort"); /* optional, priority 90 */
	write_manifest("crash", "name: crash\nlibrary: @LIB@/crash/crash.so\nhooks:\n  pre_deploy:\n"
	                        "    - {handler: crash_pre_deploy, priority: 10, enforcement: optional}\n");
	write_manifest("alpha", "name: alpha\nlibrary: @LIB@/lib/alpha.so\nhooks:\n  pre_deploy:\n"
	                        "    - {handler: ok_order, priority: 100}\n");
	struct wo_addon_registry *reg = load();
	json_t *dep = deployment(NULL);
	struct wo_hook_report *rep = run(reg, WO_EVENT_PRE_DEPLOY, dep, NULL);
	assert_true(rep->ok);
	assert_int_equal(rep->nresults, 3);
	assert_string_equal(rep->results[0].addon, "crash");
	assert_int_equal(rep->results[0].status, WO_HOOK_FAILED);
	assert_string_equal(rep->results[1].addon, "abort");
	assert_int_equal(rep->results[1].status, WO_HOOK_FAILED);
	assert_int_equal(rep->results[1].signal, SIGABRT);
	assert_contains(rep->results[1].error, "killed by SIGABRT (its last error: giving up)");
	assert_string_equal(rep->results[2].addon, "alpha");
	assert_int_equal(rep->results[2].status, WO_HOOK_OK);
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
}

static int alive_not_zombie(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static void test_timeout_kills_group(void **state)
{
	(void)state;
	write_manifest("delta", "name: delta\nlibrary: @LIB@/lib/delta.so\nhooks:\n  health:\n"
	                        "    - {handler: ok_hang_with_child, timeout_ms: 500, enforcement: required}\n");
	struct wo_addon_registry *reg = load();
	json_t *dep = deployment(NULL);
	int64_t t0 = now_ms();
	struct wo_hook_report *rep = run(reg, WO_EVENT_HEALTH, dep, NULL);
	int64_t took = now_ms() - t0;
	assert_true(took >= 500);
	assert_true(took < 1500);
	const struct wo_hook_result *r = &rep->results[0];
	assert_int_equal(r->status, WO_HOOK_FAILED);
	assert_true(r->timed_out);
	assert_contains(r->error, "addon 'delta' hook 'health' (handler 'ok_hang_with_child') timed out after 500 ms");
	/* the hook's own child went with it */
	const char *cp = output(r, "child_pid");
	assert_non_null(cp);
	pid_t child = (pid_t)strtol(cp, NULL, 10);
	int alive = 1;
	for (int i = 0; i < 100 && alive; i++) {
		alive = alive_not_zombie(child);
		if (alive)
			usleep(10000);
	}
	assert_false(alive);
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
}

static void test_timeout_term_grace(void **state)
{
	(void)state;
	write_manifest("delta", "name: delta\nlibrary: @LIB@/lib/delta.so\nhooks:\n  health:\n"
	                       "    - {handler: ok_cleanup_on_term, timeout_ms: 400, enforcement: required}\n");
	struct wo_addon_registry *reg = load();
	json_t *dep = deployment(NULL);
	struct wo_hook_report *rep = run(reg, WO_EVENT_HEALTH, dep, NULL);
	const struct wo_hook_result *r = &rep->results[0];
	/* still a timeout, but the hook had its SIGTERM and a moment to tidy up */
	assert_int_equal(r->status, WO_HOOK_FAILED);
	assert_true(r->timed_out);
	assert_contains(r->error, "timed out after 400 ms");
	assert_non_null(output(r, "cleaned"));
	char *logs = json_dumps(r->logs, 0);
	assert_contains(logs, "got SIGTERM: cleaning up (cancelled=1)");
	free(logs);
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
}

/* ABI 1.2: render from the addon's own templates/, escapers by name,
 * last_error, data_dir (kept), scratch_dir (removed after a hook outside a
 * run). */
static void test_host_v12(void **state)
{
	(void)state;
	write_manifest("v12", "name: delta\nlibrary: @LIB@/lib/delta.so\nabi: \"1.2\"\nhooks:\n  pre_deploy:\n"
	                      "    - {handler: ok_v12}\n");
	char dir[1024], data[1024];
	snprintf(dir, sizeof(dir), "%s/v12/templates/sub", scratch);
	assert_int_equal(wo_fs_mkdir_p(dir, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/v12/templates/greet.mustache", scratch);
	assert_int_equal(wo_fs_write_file_atomic(dir, "Hello {{name}}{{#items}} {{.}}{{/items}}", 40, 0644), 0);
	snprintf(dir, sizeof(dir), "%s/v12/templates/sub/Dockerfile.mustache", scratch);
	assert_int_equal(wo_fs_write_file_atomic(dir, "FROM {{image}}\n", 15, 0644), 0);
	snprintf(dir, sizeof(dir), "%s/escape.mustache", scratch);
	assert_int_equal(wo_fs_write_file_atomic(dir, "outside", 7, 0644), 0);
	snprintf(data, sizeof(data), "%s/data", scratch);
	wo_addon_host_configure(data);
	struct wo_addon_registry *reg = load();
	struct wo_addon *a = wo_addon_registry_find(reg, "delta");
	assert_non_null(a);
	if (!a->loaded)
		print_error("v12 not loaded: %s\n", a->load_error ? a->load_error : "?");
	assert_true(a->loaded);
	json_t *dep = deployment(NULL);
	/* outside a run first */
	struct wo_hook_ctx out_ctx = {.deployment = dep, .commit = "abc123", .run_id = ""};
	struct wo_hook_report *rep = NULL;
	assert_int_equal(wo_hook_dispatch(&rep, reg, WO_EVENT_PRE_DEPLOY, &out_ctx), 0);
	assert_int_equal(rep->nresults, 1);
	const struct wo_hook_result *r = &rep->results[0];
	if (r->status != WO_HOOK_OK || !r->outputs)
		print_error("v12: %s\n", r->error ? r->error : "?");
	assert_int_equal(r->status, WO_HOOK_OK);
	assert_string_equal(output(r, "html"), "Hello &lt;b&gt;Ann&lt;/b&gt; a b");
	assert_string_equal(output(r, "dockerfile"), "FROM python:3.11\n");
	assert_contains(output(r, "refused"), "render: ");
	assert_contains(output(r, "refused"), "the value 'x; rm -rf /' cannot go into a Dockerfile");
	assert_contains(output(r, "outside"), "render: ");
	assert_contains(output(r, "escaper"), "escaper 'shell' is unknown: use html, dockerfile, nginx, systemd or none");
	/* the data folder is the addon's and stays; the scratch one went with the hook */
	char want[1100];
	snprintf(want, sizeof(want), "%s/addons/delta", data);
	assert_string_equal(output(r, "data_dir"), want);
	struct stat st;
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(want, sizeof(want), "%s/addons/delta/note.txt", data);
	assert_int_equal(access(want, F_OK), 0);
	assert_non_null(output(r, "scratch_dir"));
	assert_int_equal(strncmp(output(r, "scratch_dir"), data, strlen(data)), 0);
	assert_int_not_equal(access(output(r, "scratch_dir"), F_OK), 0);
	wo_hook_report_free(rep);
	/* inside a run: DATA/scratch/run-ID/ADDON, left for the runner to remove at the run's end */
	rep = run(reg, WO_EVENT_PRE_DEPLOY, dep, NULL);
	r = &rep->results[0];
	snprintf(want, sizeof(want), "%s/scratch/run-42/delta", data);
	assert_string_equal(output(r, "scratch_dir"), want);
	assert_int_equal(access(want, F_OK), 0);
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
	wo_addon_host_configure(NULL);
}

/* ABI 1.2 run */
static void test_host_run(void **state)
{
	(void)state;
	write_manifest("run12", "name: delta\nlibrary: @LIB@/lib/delta.so\nabi: \"1.2\"\nhooks:\n  pre_deploy:\n"
	                        "    - {handler: ok_run}\n");
	struct wo_addon_registry *reg = load();
	json_t *dep = deployment(NULL);
	int64_t t0 = now_ms();
	struct wo_hook_report *rep = run(reg, WO_EVENT_PRE_DEPLOY, dep, NULL);
	int64_t took = now_ms() - t0;
	assert_int_equal(rep->nresults, 1);
	const struct wo_hook_result *r = &rep->results[0];
	if (r->status != WO_HOOK_OK)
		print_error("ok_run: %s\n", r->error ? r->error : "?");
	assert_int_equal(r->status, WO_HOOK_OK);
	assert_string_equal(output(r, "exit"), "3");
	assert_string_equal(output(r, "output"), "one\ntwo\n");
	assert_true(log_has(r, "one"));
	assert_true(log_has(r, "two"));
	assert_string_equal(output(r, "missing_exit"), "127");
	assert_contains(output(r, "missing_output"), "cannot run '/nonexistent/program'");
	assert_string_equal(output(r, "timeout"), "1 15 -1"); /* SIGTERM */
	assert_string_equal(output(r, "env_cwd"), "hi there\n/\n");
	assert_string_equal(output(r, "capped"), "0123 1");
	assert_true(took < 20000); /* the 30 s sleep was stopped */
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
}

/* An addon built against the ABI 1.1 header (tests/addons/abi11 keeps a
 * frozen copy) loads on this host and works: its table is the newer one,
 * and the 1.1 members it knows are there. */
static void test_abi11_addon(void **state)
{
	(void)state;
	link_built("abi11");
	struct wo_addon_registry *reg = load();
	struct wo_addon *a = wo_addon_registry_find(reg, "abi11");
	assert_non_null(a);
	if (!a->loaded)
		print_error("abi11 not loaded: %s\n", a->load_error ? a->load_error : "?");
	assert_true(a->loaded);
	assert_int_equal(a->abi_major, 1);
	assert_int_equal(a->abi_minor, 1);
	json_t *dep = deployment(NULL);
	struct wo_hook_report *rep = run(reg, WO_EVENT_PRE_DEPLOY, dep, NULL);
	assert_int_equal(rep->nresults, 1);
	const struct wo_hook_result *r = &rep->results[0];
	assert_int_equal(r->status, WO_HOOK_OK);
	char want[16];
	snprintf(want, sizeof(want), "%d.%d", WEBOPS_ADDON_ABI_MAJOR, WEBOPS_ADDON_ABI_MINOR);
	assert_string_equal(output(r, "host_abi"), want);
	assert_string_equal(output(r, "table_covers_1_1"), "1");
	assert_string_equal(output(r, "has_event_json"), "yes");
	assert_string_equal(output(r, "event_json"), "{}");
	assert_true(log_has(r, "abi11 addon: hello from blog"));
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
}

static void test_retries(void **state)
{
	(void)state;
	char counter[512];
	snprintf(counter, sizeof(counter), "%s/flaky-count", scratch);
	setenv("WEBOPS_TEST_FLAKY_FILE", counter, 1);
	setenv("WEBOPS_TEST_FLAKY_TIMES", "3", 1);
	write_manifest("alpha", "name: alpha\nlibrary: @LIB@/lib/alpha.so\nhooks:\n  post_deploy:\n"
	                        "    - {handler: ok_flaky, retries: 2, retry_initial_delay_ms: 20, retry_backoff: 2}\n");
	write_manifest("beta", "name: beta\nlibrary: @LIB@/lib/beta.so\nhooks:\n  start:\n"
	                       "    - {handler: ok_flaky, retries: 1, retry_initial_delay_ms: 10, enforcement: required}\n");
	struct wo_addon_registry *reg = load();
	json_t *dep = deployment(NULL);
	int64_t t0 = now_ms();
	struct wo_hook_report *rep = run(reg, WO_EVENT_POST_DEPLOY, dep, NULL);
	assert_true(rep->ok);
	assert_int_equal(rep->results[0].status, WO_HOOK_OK);
	assert_int_equal(rep->results[0].attempts, 3);
	assert_true(now_ms() - t0 >= 60); /* 20 + 40 ms of delays */
	wo_hook_report_free(rep);

	unlink(counter);
	rep = run(reg, WO_EVENT_START, dep, NULL);
	assert_false(rep->ok);
	assert_int_equal(rep->results[0].attempts, 2);
	assert_contains(rep->results[0].error, "failed: flaky failure 2");
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
	unsetenv("WEBOPS_TEST_FLAKY_FILE");
	unsetenv("WEBOPS_TEST_FLAKY_TIMES");
}

static void test_fields_conditions_outputs_settings(void **state)
{
	(void)state;
	link_built("ok");
	setenv("WEBOPS_OK_GREETING", "bonjour", 1);
	struct wo_addon_registry *reg = load();
	unsetenv("WEBOPS_OK_GREETING");
	struct wo_addon *ok = wo_addon_registry_find(reg, "ok");
	assert_string_equal(json_string_value(json_object_get(ok->settings, "greeting")), "bonjour");
	assert_string_equal(json_string_value(json_object_get(ok->settings_source, "greeting")), "env");
	assert_int_equal(json_integer_value(json_object_get(ok->settings, "level")), 1);

	/* defaults: use_docker false, so the conditional hook is skipped */
	json_t *dep = deployment(NULL);
	json_t *outputs = json_object();
	struct wo_hook_report *rep = run(reg, WO_EVENT_PRE_DEPLOY, dep, outputs);
	assert_true(rep->ok);
	assert_int_equal(rep->nresults, 2);
	assert_int_equal(rep->results[0].status, WO_HOOK_OK);
	assert_true(log_has(&rep->results[0], "pre_deploy for blog at commit 'abc123' run '42'"));
	assert_true(log_has(&rep->results[0], "use_docker=0 replicas=1 mode=safe"));
	assert_true(log_has(&rep->results[0], "greeting setting: bonjour"));
	assert_string_equal(output(&rep->results[0], "greeting"), "bonjour");
	assert_int_equal(rep->results[1].status, WO_HOOK_SKIPPED);
	assert_contains(rep->results[1].skip_reason, "condition use_docker == true not met (it is false)");
	wo_hook_report_free(rep);

	/* outputs accumulate across dispatches sharing ctx->outputs */
	assert_string_equal(json_string_value(json_object_get(json_object_get(outputs, "ok"), "image")), "ok-image:1");
	rep = run(reg, WO_EVENT_POST_DEPLOY, dep, outputs);
	assert_true(log_has(&rep->results[0], "post_deploy sees image=ok-image:1"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(outputs, "ok"), "url")),
	                    "http://localhost:8080/");
	wo_hook_report_free(rep);
	json_decref(dep);

	dep = deployment("{\"ok\": {\"use_docker\": true, \"ports\": [\"8080:80\", \"443:443\"], \"mode\": \"fast\","
	                 " \"labels\": {\"b\": \"2\", \"a\": \"1\"}}}");
	rep = run(reg, WO_EVENT_PRE_DEPLOY, dep, NULL);
	assert_int_equal(rep->results[1].status, WO_HOOK_OK);
	assert_true(log_has(&rep->results[0], "use_docker=1 replicas=1 mode=fast"));
	assert_true(log_has(&rep->results[0], "port 1: 443:443"));
	assert_true(log_has(&rep->results[0], "label a=1"));
	assert_true(log_has(&rep->results[1], "docker-only hook ran"));
	wo_hook_report_free(rep);

	/* a disabled addon's hooks do not run */
	ok->enabled = 0;
	rep = run(reg, WO_EVENT_PRE_DEPLOY, dep, NULL);
	assert_int_equal(rep->nresults, 0);
	assert_true(rep->ok);
	wo_hook_report_free(rep);
	json_decref(dep);
	json_decref(outputs);
	wo_addon_registry_free(reg);
}

static void test_misc_behaviours(void **state)
{
	(void)state;
	write_manifest("alpha", "name: alpha\nlibrary: @LIB@/lib/alpha.so\nhooks:\n  stop:\n"
	                        "    - {handler: ok_print, priority: 1}\n"
	                        "    - {handler: ok_skip, priority: 2}\n"
	                        "    - {handler: ok_exit, priority: 3}\n"
	                        "    - {handler: ok_dump, priority: 4}\n");
	struct wo_addon_registry *reg = load();
	json_t *dep = deployment(NULL);
	struct wo_hook_ctx ctx = {.deployment = dep, .source_dir = scratch};
	struct wo_hook_report *rep = NULL;
	assert_int_equal(wo_hook_dispatch(&rep, reg, WO_EVENT_STOP, &ctx), 0);
	assert_true(rep->ok); /* stop hooks are optional by default */
	assert_int_equal(rep->nresults, 4);
	assert_true(log_has(&rep->results[0], "to stdout"));
	assert_true(log_has(&rep->results[0], "to stderr"));
	assert_int_equal(rep->results[1].status, WO_HOOK_SKIPPED);
	assert_string_equal(rep->results[1].skip_reason, "nothing to do here");
	assert_int_equal(rep->results[2].status, WO_HOOK_FAILED);
	assert_contains(rep->results[2].error, "exited with status 7 before returning");
	assert_int_equal(rep->results[3].status, WO_HOOK_OK);
	assert_true(log_has(&rep->results[3], "\"name\":\"blog\""));
	char want[512];
	snprintf(want, sizeof(want), "source_dir: %s", scratch);
	assert_true(log_has(&rep->results[3], want));
	/* the hook runs in the source folder */
	char *real = realpath(scratch, NULL);
	snprintf(want, sizeof(want), "cwd: %s", real);
	free(real);
	assert_true(log_has(&rep->results[3], want));
	json_t *j = wo_hook_report_json(rep);
	assert_int_equal(json_array_size(json_object_get(j, "hooks")), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "hooks"), 2), "status")),
	                    "failed");
	json_decref(j);
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
}

/* A hook inherits no descriptor but stdin/out/err and the sandbox's two
 * pipes, and none of the variables that lead to the database or the key. */
static void test_hook_inherits_nothing_private(void **state)
{
	(void)state;
	write_manifest("alpha", "name: alpha\nlibrary: @LIB@/lib/alpha.so\nhooks:\n  health: [ok_env_fds]\n");
	struct wo_addon_registry *reg = load();
	/* as in a run process: a database socket and a key file open without
	 * O_CLOEXEC, the URL and libpq's variables in the environment */
	int leak = open("/dev/null", O_RDONLY);
	int high = fcntl(leak, F_DUPFD, 100);
	assert_true(leak >= 0 && high >= 100);
	setenv("WEBOPS_DATABASE_URL", "host=/tmp user=webops password=hunter2", 1);
	setenv("WEBOPS_SECRET_KEY_FILE", "/tmp/does-not-matter.key", 1);
	setenv("PGPASSWORD", "hunter2", 1);
	setenv("PGPASSFILE", "/tmp/pgpass", 1);
	json_t *dep = deployment(NULL);
	struct wo_hook_report *rep = run(reg, WO_EVENT_HEALTH, dep, NULL);
	const struct wo_hook_result *r = &rep->results[0];
	assert_int_equal(r->status, WO_HOOK_OK);
	assert_string_equal(output(r, "fds"), "0,1,2,3,4");
	assert_string_equal(output(r, "private_env"), "");
	assert_string_equal(output(r, "home_kept"), getenv("HOME") ? "yes" : "no");
	/* the parent keeps its own */
	assert_non_null(getenv("WEBOPS_DATABASE_URL"));
	unsetenv("WEBOPS_DATABASE_URL");
	unsetenv("WEBOPS_SECRET_KEY_FILE");
	unsetenv("PGPASSWORD");
	unsetenv("PGPASSFILE");
	close(leak);
	close(high);
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
}

static int64_t log_lines;
static void count_log(void *arg, const char *addon, int level, const char *line)
{
	(void)arg;
	(void)addon;
	(void)level;
	log_lines++;
	/* whatever an addon sends reaches the log as valid UTF-8 */
	json_t *j = json_string(line);
	assert_non_null(j);
	json_decref(j);
}

static void test_untrusted_output(void **state)
{
	(void)state;
	write_manifest("alpha", "name: alpha\nlibrary: @LIB@/lib/alpha.so\nhooks:\n  health:\n"
	                        "    - {handler: ok_weird, timeout_ms: 20000}\n");
	struct wo_addon_registry *reg = load();
	json_t *dep = deployment(NULL);
	log_lines = 0;
	struct wo_hook_ctx ctx = {.deployment = dep, .log = count_log};
	struct wo_hook_report *rep = NULL;
	assert_int_equal(wo_hook_dispatch(&rep, reg, WO_EVENT_HEALTH, &ctx), 0);
	const struct wo_hook_result *r = &rep->results[0];
	assert_int_equal(r->status, WO_HOOK_FAILED);
	assert_contains(r->error, "failed: not really ?");
	assert_true(log_has(r, "?bad?("));
	assert_true(log_lines >= 20000 + 13); /* the long line comes in pieces */
	assert_int_equal(json_array_size(r->logs), 2000); /* the report keeps a bounded number */
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
}

static int64_t cancel_at;
static int cancel_after(void *arg)
{
	(void)arg;
	return now_ms() >= cancel_at;
}

static void test_cancel(void **state)
{
	(void)state;
	write_manifest("alpha", "name: alpha\nlibrary: @LIB@/lib/alpha.so\nhooks:\n  pre_deploy:\n"
	                        "    - {handler: ok_wait_cancel, priority: 1}\n"
	                        "    - {handler: ok_order, priority: 2}\n");
	struct wo_addon_registry *reg = load();
	json_t *dep = deployment(NULL);
	cancel_at = now_ms() + 300;
	struct wo_hook_ctx ctx = {.deployment = dep, .cancelled = cancel_after};
	struct wo_hook_report *rep = NULL;
	int64_t t0 = now_ms();
	assert_int_equal(wo_hook_dispatch(&rep, reg, WO_EVENT_PRE_DEPLOY, &ctx), 0);
	assert_true(now_ms() - t0 < 2000);
	assert_false(rep->ok);
	assert_true(rep->cancelled);
	assert_int_equal(rep->results[0].status, WO_HOOK_FAILED);
	assert_true(rep->results[0].cancelled);
	assert_int_equal(rep->results[1].status, WO_HOOK_NOT_RUN);
	assert_string_equal(rep->results[1].skip_reason, "the run was cancelled");
	wo_hook_report_free(rep);
	json_decref(dep);
	wo_addon_registry_free(reg);
}

static void test_fields_apply(void **state)
{
	(void)state;
	link_built("ok");
	write_manifest("alpha", "name: alpha\nlibrary: @LIB@/lib/alpha.so\ndeployment_fields:\n"
	                        "  replicas: {type: int}\n  flag: {type: bool, required: true}\n");
	struct wo_addon_registry *reg = load();
	json_t *af = json_object();
	struct wo_buf err = WO_BUF_INIT;
	assert_int_equal(wo_addon_fields_apply(af, reg, "use_docker", "yes", &err), 0);
	assert_int_equal(wo_addon_fields_apply(af, reg, "ok.ports", "[\"8080:80\"]", &err), 0);
	assert_int_equal(wo_addon_fields_apply(af, reg, "labels", "a=1,b=2", &err), 0);
	assert_true(json_is_true(json_object_get(json_object_get(af, "ok"), "use_docker")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(af, "ok"), "ports"), 0)),
	                    "8080:80");

	assert_int_equal(wo_addon_fields_apply(af, reg, "replicas", "3", &err), -1);
	assert_contains(wo_buf_cstr(&err), "field 'replicas' is declared by addons 'alpha' and 'ok'");
	wo_buf_clear(&err);
	assert_int_equal(wo_addon_fields_apply(af, reg, "ok.replicas", "30", &err), -1);
	assert_contains(wo_buf_cstr(&err), "invalid value for field 'replicas' (addon 'ok', int): 30 is above the maximum 10");
	wo_buf_clear(&err);
	assert_int_equal(wo_addon_fields_apply(af, reg, "docker_port", "1", &err), -1);
	assert_contains(wo_buf_cstr(&err), "unknown field 'docker_port'; the fields of enabled addons are: alpha.replicas");
	wo_buf_clear(&err);
	assert_int_equal(wo_addon_fields_apply(af, reg, "ports", "80", &err), -1);
	assert_contains(wo_buf_cstr(&err), "item '80' does not match the pattern");
	wo_buf_clear(&err);

	/* required without default */
	assert_int_equal(wo_addon_fields_validate(af, reg, &err), -1);
	assert_contains(wo_buf_cstr(&err), "field 'flag' (addon 'alpha') is required");
	wo_buf_clear(&err);

	/* defaults fill in only what is missing */
	assert_int_equal(wo_addon_fields_defaults(af, reg), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(af, "ok"), "replicas")), 1);
	assert_true(json_is_true(json_object_get(json_object_get(af, "ok"), "use_docker")));

	json_t *form = wo_addon_fields_json(reg);
	assert_int_equal(json_array_size(form), 8);
	assert_string_equal(json_string_value(json_object_get(json_array_get(form, 0), "addon")), "alpha");
	json_decref(form);

	/* a disabled addon's fields are hidden, their values kept */
	wo_addon_registry_find(reg, "ok")->enabled = 0;
	form = wo_addon_fields_json(reg);
	assert_int_equal(json_array_size(form), 2);
	json_decref(form);
	assert_int_equal(wo_addon_fields_apply(af, reg, "use_docker", "no", &err), -1);
	assert_contains(wo_buf_cstr(&err), "unknown field 'use_docker'");
	assert_true(json_is_true(json_object_get(json_object_get(af, "ok"), "use_docker")));
	wo_buf_release(&err);
	json_decref(af);
	wo_addon_registry_free(reg);
}

/* Secret deployment fields: checked, then sealed when set; a mask given
 * back keeps the value; shown masked; opened by the dispatcher for the
 * declaring addon's hooks only. */
static void test_secret_fields(void **state)
{
	(void)state;
	char data[1100];
	snprintf(data, sizeof(data), "%s/data", scratch);
	assert_int_equal(wo_fs_mkdir_p(data, 0700), 0);
	wo_secret_configure(data);
	const char *yaml = "name: %s\nlibrary: @LIB@/lib/%s.so\ndeployment_fields:\n"
	                   "  pw: {type: string, secret: true, pattern: '^[a-z]+$'}\n"
	                   "hooks:\n  pre_deploy:\n    - {handler: ok_show_secret}\n";
	char m[512];
	snprintf(m, sizeof(m), yaml, "alpha", "alpha");
	write_manifest("alpha", m);
	snprintf(m, sizeof(m), yaml, "beta", "beta");
	write_manifest("beta", m);
	struct wo_addon_registry *reg = load();
	json_t *af = json_object();
	struct wo_buf err = WO_BUF_INIT;
	assert_int_equal(wo_addon_fields_apply(af, reg, "alpha.pw", "Bad1", &err), -1);
	assert_contains(wo_buf_cstr(&err), "does not match the pattern");
	wo_buf_clear(&err);
	assert_int_equal(wo_addon_fields_apply(af, reg, "alpha.pw", "hunter", &err), 0);
	const char *stored = json_string_value(json_object_get(json_object_get(af, "alpha"), "pw"));
	assert_true(wo_secret_is_sealed(stored));
	assert_null(strstr(stored, "hunter"));
	char *kept = strdup(stored);
	assert_int_equal(wo_addon_fields_apply(af, reg, "alpha.pw", WO_FIELD_SECRET_MASK, &err), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(af, "alpha"), "pw")), kept);
	free(kept);
	assert_int_equal(wo_addon_fields_validate(af, reg, &err), 0);

	json_t *dep = deployment(NULL);
	json_object_set(dep, "addon_fields", af);
	json_t *shown = json_deep_copy(dep);
	wo_addon_fields_mask(shown);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(shown, "addon_fields"),
	                                                                     "alpha"), "pw")), WO_FIELD_SECRET_MASK);
	json_decref(shown);

	struct wo_hook_report *rep = run(reg, WO_EVENT_PRE_DEPLOY, dep, NULL);
	assert_true(rep->ok);
	assert_int_equal(rep->nresults, 2);
	for (size_t i = 0; i < rep->nresults; i++) {
		const struct wo_hook_result *r = &rep->results[i];
		int is_alpha = !strcmp(r->addon, "alpha");
		assert_string_equal(output(r, "own_pw"), is_alpha ? "hunter" : "(unset)");
		assert_string_equal(output(r, "alpha_pw"), is_alpha ? "hunter" : "(unset)");
		assert_string_equal(output(r, "beta_pw"), "(unset)");
	}
	wo_hook_report_free(rep);
	json_decref(dep);
	json_decref(af);
	wo_buf_release(&err);
	wo_addon_registry_free(reg);
	wo_secret_forget();
}

static void test_check_dir(void **state)
{
	(void)state;
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/tests/addons/wrongabi", build_dir());
	struct wo_addon *a = NULL;
	assert_int_equal(wo_addon_check_dir(&a, dir), 0);
	assert_false(a->loaded);
	assert_contains(a->load_error, "ABI 2.0");
	wo_addon_free(a);
	snprintf(dir, sizeof(dir), "%s/tests/addons/ok", build_dir());
	assert_int_equal(wo_addon_check_dir(&a, dir), 0);
	assert_true(a->loaded);
	json_t *j = wo_addon_json(a);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "enabled");
	assert_int_equal(json_array_size(json_object_get(j, "hooks")), 7);
	json_decref(j);
	wo_addon_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_library_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_required, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_optional_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_term_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_v12, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abi11_addon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fields_conditions_outputs_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misc_behaviours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_untrusted_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fields_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_inherits_nothing_private, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
