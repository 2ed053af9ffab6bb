/* The Docker addon's systemd unit: env values holding %, $, quotes,
 * backslashes, spaces and newlines pass `systemd-analyze verify` without a
 * warning and read back unchanged under systemd's quoting rules; no value can
 * start a directive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "dkutil.h"
#include "docker_render.h"
#include "testdb.h"
#include "util/fs.h"
#include "util/proc.h"


static const char *const tricky[][2] = {
	{"PERCENT", "100% sure %n %%"},
	{"DOLLAR", "$HOME ${PORT} $$ $"},
	{"QUOTES", "say \"hi\" and 'bye'"},
	{"BACKSLASH", "C:\\path\\ end\\"},
	{"SPACES", "  two  words  "},
	{"NEWLINE", "line1\nExecStartPost=/bin/evil\n[Service]"},
	{"TAB", "a\tb"},
	{"EMPTY", ""},
	{"UTF8", "caf\xc3\xa9 \xe2\x82\xac"},
	{"SEMI", ";"},
};

/* systemd's reading of one line's value: words split on blanks, quotes
 * removed, C escapes decoded, %% -> %, and (exec lines) $$ -> $. */
static size_t sd_words(char words[][512], size_t max, const char *v, int exec)
{
	size_t n = 0;
	const char *p = v;
	while (n < max) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		char *w = words[n++];
		size_t k = 0;
		char quote = 0;
		while (*p && (quote || (*p != ' ' && *p != '\t'))) {
			char c = *p++;
			if (!quote && (c == '"' || c == '\'')) {
				quote = c;
				continue;
			}
			if (quote && c == quote) {
				quote = 0;
				continue;
			}
			if (c == '\\') {
				char e = *p++;
				switch (e) {
				case 'n': c = '\n'; break;
				case 't': c = '\t'; break;
				case 'r': c = '\r'; break;
				case 'x': {
					char hex[3] = {p[0], p[1], 0};
					c = (char)strtol(hex, NULL, 16);
					p += 2;
					break;
				}
				default: c = e;
				}
			} else if (c == '%' && *p == '%') {
				p++;
			} else if (exec && c == '$' && *p == '$') {
				p++;
			}
			w[k++] = c;
		}
		w[k] = '\0';
	}
	return n;
}

#define START_COMMAND "gunicorn --bind \"0.0.0.0:$PORT\" 'app:app' --log-level=info # 100%"

static char *render(const char *docker, const char *name, int *rc)
{
	json_t *env = json_object();
	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++)
		json_object_set_new(env, tricky[i][0], json_string(tricky[i][1]));
	json_t *ports = json_pack("[s]", "127.0.0.1:18080:80");
	json_t *volumes = json_pack("[s]", "/srv/webops volumes/a$b%c:/data:ro");
	json_t *labels = json_pack("{s:s,s:s}", "webops.deployment", name, "webops.commit", "abc1234");
	/* a start_command as users write them: $PORT for the container's shell,
	 * quotes, a percent sign */
	json_t *cmd = json_pack("[s,s,s]", "/bin/sh", "-c", START_COMMAND);
	struct dk_unit_spec spec = {
		.name = name, .container = "webops-site", .docker_cli = docker, .image = "webops/site:abc1234",
		.env = env, .ports = ports, .volumes = volumes, .network = "bridge", .labels = labels,
		.stop_timeout_s = 10, .cmd = cmd,
	};
	struct dk_buf out = DK_BUF_INIT;
	*rc = dk_unit_render(&out, &docker_test_renderer, &spec);
	json_decref(env);
	json_decref(ports);
	json_decref(volumes);
	json_decref(labels);
	json_decref(cmd);
	return dk_buf_detach(&out);
}

static const char *docker_path(void)
{
	return access("/usr/bin/docker", X_OK) == 0 ? "/usr/bin/docker" : "/bin/true";
}

static void test_values_survive(void **state)
{
	(void)state;
	int rc;
	char *unit = render(docker_path(), "site", &rc);
	if (rc != 0)
		print_error("%s\n", dk_error_last());
	assert_int_equal(rc, 0);

	/* no value started a line of its own */
	assert_null(strstr(unit, "\nExecStartPost"));
	assert_null(strstr(unit, "\n[Service]\n[Service]"));
	int services = 0;
	for (const char *p = unit; (p = strstr(p, "\n[Service]\n")) != NULL; p++)
		services++;
	assert_int_equal(services, 1);

	/* each Environment= line reads back as KEY=value, byte for byte */
	size_t found = 0;
	for (const char *line = unit; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, "Environment=", 12) != 0)
			continue;
		const char *end = strchr(line, '\n');
		char val[2048];
		snprintf(val, sizeof(val), "%.*s", (int)(end - line - 12), line + 12);
		char words[4][512];
		assert_int_equal(sd_words(words, 4, val, 0), 1);
		for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
			char want[600];
			snprintf(want, sizeof(want), "%s=%s", tricky[i][0], tricky[i][1]);
			if (strncmp(words[0], tricky[i][0], strlen(tricky[i][0])) == 0 &&
			    words[0][strlen(tricky[i][0])] == '=') {
				assert_string_equal(words[0], want);
				found++;
			}
		}
	}
	assert_int_equal(found, sizeof(tricky) / sizeof(tricky[0]));

	/* ExecStart: the volume with $ and % comes back as written; env by name only */
	const char *es = strstr(unit, "\nExecStart=");
	assert_non_null(es);
	es += 11;
	char line[4096];
	snprintf(line, sizeof(line), "%.*s", (int)(strchr(es, '\n') - es), es);
	static char words[64][512];
	size_t n = sd_words(words, 64, line, 1);
	int saw_volume = 0, saw_env = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		if (strcmp(words[i], "--volume") == 0) {
			assert_string_equal(words[i + 1], "/srv/webops volumes/a$b%c:/data:ro");
			saw_volume = 1;
		}
		if (strcmp(words[i], "--env") == 0) {
			assert_null(strchr(words[i + 1], '=')); /* the value never reaches the command line */
			saw_env++;
		}
	}
	assert_true(saw_volume);
	assert_int_equal(saw_env, (int)(sizeof(tricky) / sizeof(tricky[0])));
	/* the image, then the start command as three words, back as written */
	assert_string_equal(words[n - 4], "webops/site:abc1234");
	assert_string_equal(words[n - 3], "/bin/sh");
	assert_string_equal(words[n - 2], "-c");
	assert_string_equal(words[n - 1], START_COMMAND);
	assert_non_null(strstr(unit, "\nExecStop=\""));
	assert_non_null(strstr(unit, " stop -t \"10\" \"webops-site\"\n"));
	/* no limits given: unless-stopped, which systemd carries out as always */
	assert_non_null(strstr(unit, "\nRestart=always\n"));
	assert_non_null(strstr(unit, "\nRequires=docker.service\n"));
	free(unit);
}

static void test_systemd_analyze_verify(void **state)
{
	(void)state;
	char *sa = wo_proc_which("systemd-analyze");
	if (!sa) {
		print_message("systemd-analyze not installed: verify not run\n");
		skip();
	}
	int rc;
	char *unit = render(docker_path(), "site", &rc);
	assert_int_equal(rc, 0);
	const char *dir = wo_test_tmpdir();
	char path[4200], logp[4200];
	snprintf(path, sizeof(path), "%s/webops-site.service", dir);
	snprintf(logp, sizeof(logp), "%s/verify.log", dir);
	assert_int_equal(wo_fs_write_file_atomic(path, unit, strlen(unit), 0644), 0);
	int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	char *argv[] = {sa, "verify", "--man=no", path, NULL};
	struct wo_proc_opts o = {.out_fd = fd};
	int status = -1;
	assert_int_equal(wo_proc_run(&status, NULL, argv, &o), 0);
	close(fd);
	char *log = NULL;
	size_t len = 0;
	assert_int_equal(wo_fs_read_file(&log, &len, logp, 1 << 20), 0);
	/* docker.service may be absent on a machine without Docker: that line alone is fine */
	int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	for (const char *l = log; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (*l == '\n' || strstr(l, "docker.service") || strstr(l, "network-online.target"))
			continue;
		clean = 0;
	}
	if (!clean)
		print_error("systemd-analyze verify complained:\n%s\n--- unit:\n%s\n", log, unit);
	assert_true(clean);
	free(log);
	free(unit);
	free(sa);
}

static void test_refusals(void **state)
{
	(void)state;
	int rc;
	/* a name with a newline cannot reach the Description= line */
	char *unit = render("/usr/bin/docker", "site\nExecStartPost=/bin/evil", &rc);
	assert_int_equal(rc, -1);
	assert_string_equal(unit, "");
	assert_non_null(strstr(dk_error_last(), "control characters"));
	free(unit);
	unit = render("docker", "site", &rc);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(dk_error_last(), "must be absolute"));
	free(unit);

	struct dk_buf b = DK_BUF_INIT;
	assert_int_equal(dk_unit_file_name(&b, "site"), 0);
	assert_string_equal(dk_buf_cstr(&b), "webops-site.service");
	dk_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_survive),
		cmocka_unit_test(test_systemd_analyze_verify),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
