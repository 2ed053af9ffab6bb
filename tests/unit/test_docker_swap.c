/* The Docker addon's release swap bookkeeping, without an engine: container
 * names, the last known good record (JSON round trip, atomic file, missing
 * and broken files), the tidy-up plan after each way a deploy can be
 * interrupted, and the rollback error keeping its cause. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "ignore.h"
#include "context.h"
#include "engine.h"
#include "health.h"
#include "spec.h"
#include "ready.h"
#include "swap.h"
#include "release.h"
#include "dkutil.h"
#include "testdb.h"
#include "util/fs.h"

#define ID_G "aaaa1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888"
#define ID_N "1234567890ab1234567890ab1234567890ab1234567890ab1234567890ab1234"
#define ID_X "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface"
#define ID_P "0000aaaa0000aaaa0000aaaa0000aaaa0000aaaa0000aaaa0000aaaa0000aaaa"

static void test_names(void **state)
{
	(void)state;
	struct dk_buf b = DK_BUF_INIT;
	dk_container_name(&b, "site");
	assert_string_equal(dk_buf_cstr(&b), "webops-site");
	dk_buf_clear(&b);
	dk_legacy_previous_name(&b, "site");
	assert_string_equal(dk_buf_cstr(&b), "webops-site-previous");
	dk_buf_clear(&b);
	dk_candidate_name(&b, "site", "42", 1700000000);
	assert_string_equal(dk_buf_cstr(&b), "webops-site-r42");
	dk_buf_clear(&b);
	/* no run (webops hook run): the time tells two apart */
	dk_candidate_name(&b, "site", "", 1700000000);
	assert_string_equal(dk_buf_cstr(&b), "webops-site-t1700000000");
	dk_buf_clear(&b);
	dk_candidate_name(&b, "site", "4x2", 7);
	assert_string_equal(dk_buf_cstr(&b), "webops-site-t7");
	dk_buf_clear(&b);
	dk_state_path(&b, "/var/lib/webops/addons/docker", "site");
	assert_string_equal(dk_buf_cstr(&b), "/var/lib/webops/addons/docker/site.json");
	dk_buf_release(&b);
}

static struct dk_state sample(void)
{
	struct dk_state s;
	memset(&s, 0, sizeof(s));
	snprintf(s.container_id, sizeof(s.container_id), "%s", ID_G);
	snprintf(s.container, sizeof(s.container), "webops-site");
	snprintf(s.image, sizeof(s.image), "webops/site:abc1234");
	snprintf(s.commit, sizeof(s.commit), "abc1234def");
	snprintf(s.run_id, sizeof(s.run_id), "42");
	snprintf(s.mode, sizeof(s.mode), "proxy");
	snprintf(s.upstream, sizeof(s.upstream), "127.0.0.1:49153");
	dk_state_add_candidate(&s, ID_N, "webops-site-r43");
	s.recorded_at = 1700000000;
	return s;
}

static void test_state_json(void **state)
{
	(void)state;
	struct dk_state s = sample(), back;
	json_t *j = dk_state_to_json(&s);
	assert_non_null(j);
	assert_int_equal(dk_state_from_json(&back, j), 0);
	assert_memory_equal(&s, &back, sizeof(s));
	json_decref(j);

	/* not a record, a container name where an id belongs, a value too long */
	assert_int_equal(dk_state_from_json(&back, json_string("x")), -1);
	j = json_pack("{s:s}", "container_id", "webops-site");
	assert_int_equal(dk_state_from_json(&back, j), -1);
	assert_non_null(strstr(dk_error_last(), "container_id"));
	json_decref(j);
	char longer[400];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	j = json_pack("{s:s}", "image", longer);
	assert_int_equal(dk_state_from_json(&back, j), -1);
	assert_non_null(strstr(dk_error_last(), "image"));
	json_decref(j);
	j = json_pack("{s:[{s:s}]}", "candidates", "id", "webops-site-r1");
	assert_int_equal(dk_state_from_json(&back, j), -1);
	assert_non_null(strstr(dk_error_last(), "candidates[0]"));
	json_decref(j);

	/* candidates are kept oldest first, at most DK_STATE_MAX_CANDIDATES */
	struct dk_state c;
	memset(&c, 0, sizeof(c));
	const char *ids[] = {ID_G, ID_N, ID_X, ID_P, "abcdefabcdef"};
	for (int i = 0; i < 5; i++)
		dk_state_add_candidate(&c, ids[i], "x");
	assert_int_equal(c.ncandidates, DK_STATE_MAX_CANDIDATES);
	assert_string_equal(c.candidates[0].id, ID_N);
	assert_string_equal(c.candidates[3].id, "abcdefabcdef");

	/* absent keys are empty */
	j = json_object();
	assert_int_equal(dk_state_from_json(&back, j), 0);
	assert_string_equal(back.container_id, "");
	assert_int_equal(back.stopped, 0);
	json_decref(j);
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

static void test_state_file(void **state)
{
	(void)state;
	char tmp[] = "/tmp/wo-swap-XXXXXX";
	assert_non_null(mkdtemp(tmp));
	struct dk_buf path = DK_BUF_INIT, dir = DK_BUF_INIT;
	dk_buf_printf(&dir, "%s/docker", tmp);
	dk_state_path(&path, dk_buf_cstr(&dir), "site");
	struct dk_state s = sample(), back;

	/* none yet, and the directory is created on the first save */
	assert_int_equal(dk_state_load(&back, dk_buf_cstr(&path)), DK_STATE_NONE);
	assert_int_equal(dk_state_save(dk_buf_cstr(&path), &s), 0);
	assert_int_equal(dk_state_load(&back, dk_buf_cstr(&path)), 0);
	assert_memory_equal(&s, &back, sizeof(s));

	/* replaced atomically: no temporary file stays behind */
	s.stopped = 1;
	s.ncandidates = 0;
	assert_int_equal(dk_state_save(dk_buf_cstr(&path), &s), 0);
	assert_int_equal(dk_state_load(&back, dk_buf_cstr(&path)), 0);
	assert_int_equal(back.stopped, 1);
	assert_int_equal(back.ncandidates, 0);
	assert_int_equal(count_files(dk_buf_cstr(&dir)), 1);

	/* a broken file is an error naming it, not a record */
	assert_int_equal(wo_fs_write_file_atomic(dk_buf_cstr(&path), "{\"container_id\": ", 17, 0644), 0);
	assert_int_equal(dk_state_load(&back, dk_buf_cstr(&path)), -1);
	assert_non_null(strstr(dk_error_last(), dk_buf_cstr(&path)));

	assert_int_equal(dk_state_remove(dk_buf_cstr(&path)), 0);
	assert_int_equal(dk_state_remove(dk_buf_cstr(&path)), 0);
	assert_int_equal(dk_state_load(&back, dk_buf_cstr(&path)), DK_STATE_NONE);
	assert_int_equal(wo_fs_rm_rf(tmp), 0);
	dk_buf_release(&path);
	dk_buf_release(&dir);
}

/* One entry of GET /containers/json. */
static json_t *ctr(const char *id, const char *name, const char *st)
{
	char n[200];
	snprintf(n, sizeof(n), "/%s", name);
	return json_pack("{s:s,s:[s],s:s}", "Id", id, "Names", n, "State", st);
}

static int removes(const struct dk_tidy_plan *p, const char *id)
{
	size_t i;
	json_t *r;
	json_array_foreach(p->remove, i, r)
		if (strcmp(json_string_value(json_object_get(r, "id")), id) == 0)
			return 1;
	return 0;
}

static void test_tidy_plan(void **state)
{
	(void)state;
	struct dk_tidy_plan p;
	struct dk_state st;
	memset(&st, 0, sizeof(st));
	snprintf(st.container_id, sizeof(st.container_id), "%s", ID_G);

	/* killed while the new one was proving itself (fixed ports: the good
	 * one was stopped for them): the unrecorded one goes, the good one
	 * starts again */
	json_t *l = json_pack("[o,o]", ctr(ID_G, "webops-site", "exited"), ctr(ID_N, "webops-site-r43", "running"));
	assert_int_equal(dk_tidy_plan(&p, "site", &st, l), 0);
	assert_string_equal(p.good_id, ID_G);
	assert_int_equal(p.start_good, 1);
	assert_int_equal(p.rename_good, 0);
	assert_int_equal(json_array_size(p.remove), 1);
	assert_true(removes(&p, ID_N));
	assert_int_equal(json_array_size(p.keep), 0);
	dk_tidy_plan_release(&p);

	/* ... but not when it was stopped on purpose */
	st.stopped = 1;
	assert_int_equal(dk_tidy_plan(&p, "site", &st, l), 0);
	assert_int_equal(p.start_good, 0);
	dk_tidy_plan_release(&p);
	st.stopped = 0;
	json_decref(l);

	/* killed after the new one was recorded, before it was named: the
	 * recorded one stays and takes the name, the old one goes */
	snprintf(st.container_id, sizeof(st.container_id), "%s", ID_N);
	l = json_pack("[o,o]", ctr(ID_G, "webops-site", "exited"), ctr(ID_N, "webops-site-r43", "running"));
	assert_int_equal(dk_tidy_plan(&p, "site", &st, l), 0);
	assert_string_equal(p.good_id, ID_N);
	assert_string_equal(p.good_name, "webops-site-r43");
	assert_int_equal(p.rename_good, 1);
	assert_int_equal(p.start_good, 0);
	assert_true(removes(&p, ID_G));
	dk_tidy_plan_release(&p);
	json_decref(l);

	/* a short id recorded matches the engine's full one */
	snprintf(st.container_id, sizeof(st.container_id), "%.12s", ID_N);
	l = json_pack("[o]", ctr(ID_N, "webops-site", "running"));
	assert_int_equal(dk_tidy_plan(&p, "site", &st, l), 0);
	assert_string_equal(p.good_id, ID_N);
	assert_int_equal(json_array_size(p.remove), 0);
	dk_tidy_plan_release(&p);
	json_decref(l);

	/* proxy: killed between the switch and the record; the candidates run
	 * and may take traffic, so they stay; a dead one and an unrecorded one go */
	snprintf(st.container_id, sizeof(st.container_id), "%s", ID_G);
	dk_state_add_candidate(&st, ID_N, "webops-site-r43");
	dk_state_add_candidate(&st, ID_P, "webops-site-r44");
	l = json_pack("[o,o,o,o]", ctr(ID_G, "webops-site", "running"), ctr(ID_N, "webops-site-r43", "running"),
		      ctr(ID_X, "webops-site-r41", "exited"), ctr(ID_P, "webops-site-r44", "running"));
	assert_int_equal(dk_tidy_plan(&p, "site", &st, l), 0);
	assert_string_equal(p.good_id, ID_G);
	assert_int_equal(json_array_size(p.keep), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(p.keep, 0), "id")), ID_N);
	assert_string_equal(json_string_value(json_object_get(json_array_get(p.keep, 1), "name")), "webops-site-r44");
	assert_int_equal(json_array_size(p.remove), 1);
	assert_true(removes(&p, ID_X));
	dk_tidy_plan_release(&p);
	json_decref(l);
	/* a candidate that no longer runs is not kept */
	l = json_pack("[o,o]", ctr(ID_G, "webops-site", "running"), ctr(ID_N, "webops-site-r43", "exited"));
	assert_int_equal(dk_tidy_plan(&p, "site", &st, l), 0);
	assert_int_equal(json_array_size(p.keep), 0);
	assert_true(removes(&p, ID_N));
	dk_tidy_plan_release(&p);
	json_decref(l);
	st.ncandidates = 0;

	/* the recorded container is gone (a systemd unit made a new one at
	 * boot): the one with the deployment's name is the good one */
	l = json_pack("[o,o]", ctr(ID_X, "webops-site", "running"), ctr(ID_N, "webops-site-r44", "created"));
	assert_int_equal(dk_tidy_plan(&p, "site", &st, l), 0);
	assert_string_equal(p.good_id, ID_X);
	assert_true(removes(&p, ID_N));
	dk_tidy_plan_release(&p);
	json_decref(l);

	/* no record at all (upgrade): the named one; an older webops's
	 * interrupted deploy left the good one as -previous and a dead new one */
	l = json_pack("[o,o]", ctr(ID_X, "webops-site", "exited"), ctr(ID_P, "webops-site-previous", "exited"));
	assert_int_equal(dk_tidy_plan(&p, "site", NULL, l), 0);
	assert_string_equal(p.good_id, ID_P);
	assert_int_equal(p.rename_good, 1);
	assert_int_equal(p.start_good, 1);
	assert_true(removes(&p, ID_X));
	dk_tidy_plan_release(&p);
	json_decref(l);
	l = json_pack("[o,o]", ctr(ID_X, "webops-site", "running"), ctr(ID_P, "webops-site-previous", "exited"));
	assert_int_equal(dk_tidy_plan(&p, "site", NULL, l), 0);
	assert_string_equal(p.good_id, ID_X);
	assert_true(removes(&p, ID_P));
	dk_tidy_plan_release(&p);
	json_decref(l);

	/* a first deploy killed before anything was good: all of it goes */
	l = json_pack("[o]", ctr(ID_N, "webops-site-r1", "running"));
	assert_int_equal(dk_tidy_plan(&p, "site", NULL, l), 0);
	assert_string_equal(p.good_id, "");
	assert_true(removes(&p, ID_N));
	dk_tidy_plan_release(&p);
	json_decref(l);

	/* nothing there */
	l = json_array();
	assert_int_equal(dk_tidy_plan(&p, "site", &st, l), 0);
	assert_string_equal(p.good_id, "");
	assert_int_equal(json_array_size(p.remove), 0);
	dk_tidy_plan_release(&p);
	json_decref(l);
}

/* Before the fix, the rollback formatted the last error into its own buffer:
 * the message came out twice and the cause was lost. */
static void test_rollback_error(void **state)
{
	(void)state;
	dk_error_set("docker engine: POST /containers/x/start: port 18080 is already allocated");
	assert_int_equal(dk_release_fail("the new container exited with code 3", "the previous container could not "
					 "be started again"), -1);
	assert_string_equal(dk_error_last(), "the new container exited with code 3; and the previous container "
			    "could not be started again: docker engine: POST /containers/x/start: port 18080 is "
			    "already allocated");
	/* why may itself be the last error */
	dk_error_set("cannot create the new container: no such image");
	char why[256];
	snprintf(why, sizeof(why), "%s", dk_error_last());
	dk_error_set("conflict: the name is in use");
	dk_release_fail(why, "the previous container could not be renamed back");
	assert_string_equal(dk_error_last(), "cannot create the new container: no such image; and the previous "
			    "container could not be renamed back: conflict: the name is in use");
	dk_error_set("engine gone");
	dk_release_fail(dk_error_last(), "the previous container could not be started again");
	assert_string_equal(dk_error_last(), "engine gone; and the previous container could not be started again: "
			    "engine gone");
	dk_error_set("%s", "");
	dk_release_fail("it exited", "the previous container could not be started again");
	assert_string_equal(dk_error_last(), "it exited; and the previous container could not be started again");
}

/* data_path: the deployment's named volume mounted there, the app told
 * where; refused when it is not a plain absolute path of its own. A start
 * command replaces the image's CMD. */
static void test_data_path_and_command(void **state)
{
	(void)state;
	struct dk_spec s;
	struct dk_buf err = DK_BUF_INIT;
	struct dk_spec_input in = {.name = "blog", .data_path = "/app/data", .deployment_port = "8000"};
	assert_int_equal(dk_spec_build(&s, &in, &err), 0);
	assert_string_equal(s.data_volume, "webops-blog-data");
	assert_string_equal(json_string_value(json_array_get(s.volumes, 0)), "webops-blog-data:/app/data");
	assert_string_equal(json_string_value(json_object_get(s.env, "WEBOPS_DATA_PATH")), "/app/data");
	json_t *body = dk_spec_create_body(&s, "img:1");
	assert_null(json_object_get(body, "Cmd"));
	json_decref(body);
	dk_spec_set_command(&s, "gunicorn --bind 0.0.0.0:$PORT app:app");
	body = dk_spec_create_body(&s, "img:1");
	json_t *cmd = json_object_get(body, "Cmd");
	assert_int_equal(json_array_size(cmd), 3);
	assert_string_equal(json_string_value(json_array_get(cmd, 2)), "gunicorn --bind 0.0.0.0:$PORT app:app");
	json_decref(body);
	dk_spec_release(&s);

	static const char *const bad[] = {"data", "/", "//", "/etc", "/usr/local/x", "/app/../etc", "/app/./x",
					  "/app/da ta", "/app/$x", "/proc/self"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dk_buf_clear(&err);
		struct dk_spec_input b = {.name = "blog", .data_path = bad[i]};
		assert_int_equal(dk_spec_build(&s, &b, &err), -1);
		assert_non_null(strstr(dk_buf_cstr(&err), "data_path: '"));
	}
	assert_int_equal(dk_data_path_check("/srv/app-data/db_1.v2", NULL), 0);
	assert_int_equal(dk_data_path_check("/etcetera", NULL), 0);
	dk_buf_release(&err);
}

/* Proxy mode: the app's port is published on loopback with a port the
 * engine picks; the unit publishes the same way. */
static void test_proxy_spec(void **state)
{
	(void)state;
	struct dk_spec s;
	struct dk_buf err = DK_BUF_INIT;
	struct dk_spec_input in = {.name = "site", .deployment_port = "18090", .proxy = 1, .init = 1};
	assert_int_equal(dk_spec_build(&s, &in, &err), 0);
	assert_int_equal(s.port, 18090);
	assert_int_equal(json_array_size(s.ports), 0);
	json_t *body = dk_spec_create_body(&s, "img:1");
	json_t *b = json_object_get(json_object_get(json_object_get(body, "HostConfig"), "PortBindings"), "18090/tcp");
	assert_int_equal(json_array_size(b), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "HostIp")), "127.0.0.1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "HostPort")), "");
	json_decref(body);
	json_t *up = dk_spec_unit_ports(&s);
	assert_string_equal(json_string_value(json_array_get(up, 0)), "127.0.0.1::18090");
	json_decref(up);
	dk_spec_release(&s);

	/* only a domain: the port comes from the image, PORT follows it */
	struct dk_spec_input in2 = {.name = "site", .proxy = 1};
	assert_int_equal(dk_spec_build(&s, &in2, &err), 0);
	assert_int_equal(s.port, 0);
	json_t *img = json_pack("{s:{s:{s:{},s:{},s:{}}}}", "Config", "ExposedPorts", "8080/tcp", "53/udp", "443/tcp");
	assert_int_equal(dk_image_exposed_port(img), 443);
	json_decref(img);
	dk_spec_set_port(&s, 8080);
	assert_string_equal(json_string_value(json_object_get(s.env, "PORT")), "8080");
	dk_spec_release(&s);

	/* an explicit PORT wins and stays */
	struct dk_spec_input in3 = {.name = "site", .proxy = 1, .docker_env_json = "{\"PORT\": \"3000\"}",
				    .deployment_port = "18090"};
	assert_int_equal(dk_spec_build(&s, &in3, &err), 0);
	assert_int_equal(s.port, 3000);
	dk_spec_set_port(&s, 8080);
	assert_string_equal(json_string_value(json_object_get(s.env, "PORT")), "3000");
	dk_spec_release(&s);

	/* a repository Dockerfile's one EXPOSE: the container port, the
	 * deployment's port stays the published one; not over an explicit PORT */
	struct dk_spec_input in5 = {.name = "site", .deployment_port = "18090"};
	assert_int_equal(dk_spec_build(&s, &in5, &err), 0);
	assert_int_equal(dk_spec_follow_expose(&s, 80), 1);
	assert_int_equal(s.port, 80);
	assert_string_equal(json_string_value(json_object_get(s.env, "PORT")), "80");
	assert_string_equal(json_string_value(json_array_get(s.ports, 0)), "127.0.0.1:18090:80");
	assert_int_equal(dk_spec_follow_expose(&s, 80), 0);
	dk_spec_release(&s);
	assert_int_equal(dk_spec_build(&s, &in3, &err), 0);
	assert_int_equal(dk_spec_follow_expose(&s, 80), 0);
	assert_int_equal(s.port, 3000);
	dk_spec_release(&s);
	img = json_pack("{s:{s:{s:{},s:{}}}}", "Config", "ExposedPorts", "8080/tcp", "53/udp");
	assert_int_equal(dk_image_exposed_count(img), 1);
	json_decref(img);

	/* fixed ports as before: the deployment's port under its own number */
	struct dk_spec_input in4 = {.name = "site", .deployment_port = "18090"};
	assert_int_equal(dk_spec_build(&s, &in4, &err), 0);
	assert_string_equal(json_string_value(json_array_get(s.ports, 0)), "127.0.0.1:18090:18090");
	up = dk_spec_unit_ports(&s);
	assert_string_equal(json_string_value(json_array_get(up, 0)), "127.0.0.1:18090:18090");
	json_decref(up);
	dk_spec_release(&s);
	dk_buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),	    cmocka_unit_test(test_state_json),
		cmocka_unit_test(test_state_file),  cmocka_unit_test(test_tidy_plan),
		cmocka_unit_test(test_rollback_error), cmocka_unit_test(test_proxy_spec),
		cmocka_unit_test(test_data_path_and_command),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
