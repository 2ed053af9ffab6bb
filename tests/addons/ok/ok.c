/* Test addon "ok": hooks that succeed and exercise the host table (fields,
 * settings, outputs, logs), plus behaviours tests wire up in their own
 * manifests (ordering, retries, printing, cancellation, exiting). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <webops/addon.h>

#ifndef OK_ADDON_NAME
#define OK_ADDON_NAME "ok"
#endif

WEBOPS_ADDON(OK_ADDON_NAME, "1.2.3");

WEBOPS_HOOK(ok_pre_deploy)
{
	host->log(ctx, WEBOPS_LOG_INFO, "pre_deploy for %s at commit '%s' run '%s'",
	          host->deployment(ctx, "name") ? host->deployment(ctx, "name") : "?", host->commit(ctx),
	          host->run_id(ctx));
	host->log(ctx, WEBOPS_LOG_INFO, "use_docker=%d replicas=%lld mode=%s", host->field_bool(ctx, "use_docker", -1),
	          (long long)host->field_int(ctx, "replicas", -1), host->field(ctx, "mode") ? host->field(ctx, "mode") : "(null)");
	size_t n = host->field_list_size(ctx, "ports");
	for (size_t i = 0; i < n; i++)
		host->log(ctx, WEBOPS_LOG_INFO, "port %zu: %s", i, host->field_list_item(ctx, "ports", i));
	n = host->field_map_size(ctx, "labels");
	for (size_t i = 0; i < n; i++) {
		const char *k = host->field_map_key(ctx, "labels", i);
		host->log(ctx, WEBOPS_LOG_INFO, "label %s=%s", k, host->field_map_get(ctx, "labels", k));
	}
	host->log(ctx, WEBOPS_LOG_INFO, "greeting setting: %s", host->setting(ctx, "greeting") ? host->setting(ctx, "greeting") : "(null)");
	host->output_set(ctx, "image", "ok-image:1");
	host->output_set(ctx, "greeting", host->setting(ctx, "greeting") ? host->setting(ctx, "greeting") : "");
	return WEBOPS_OK;
}

WEBOPS_HOOK(ok_post_deploy)
{
	const char *img = host->output_get(ctx, NULL, "image");
	host->log(ctx, WEBOPS_LOG_INFO, "post_deploy sees image=%s", img ? img : "(none)");
	host->output_set(ctx, "url", "http://localhost:8080/");
	return WEBOPS_OK;
}

WEBOPS_HOOK(ok_health)
{
	host->log(ctx, WEBOPS_LOG_DEBUG, "healthy");
	return WEBOPS_OK;
}

/* start, stop, delete */
WEBOPS_HOOK(ok_lifecycle)
{
	host->log(ctx, WEBOPS_LOG_INFO, "%s %s", host->event(ctx), host->addon_name(ctx));
	return WEBOPS_OK;
}

WEBOPS_HOOK(ok_docker_only)
{
	host->log(ctx, WEBOPS_LOG_INFO, "docker-only hook ran");
	return WEBOPS_OK;
}

/* For ordering tests: publishes "order" and, as "seen", which of the addons
 * alpha..delta had published "order" before it ran. */
WEBOPS_HOOK(ok_order)
{
	static const char *const names[] = {"alpha", "beta", "gamma", "delta"};
	char seen[256] = "";
	size_t len = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (host->output_get(ctx, names[i], "order"))
			len += (size_t)snprintf(seen + len, sizeof(seen) - len, "%s%s", len ? "," : "", names[i]);
	}
	host->log(ctx, WEBOPS_LOG_INFO, "order: %s after [%s]", host->addon_name(ctx), seen);
	host->output_set(ctx, "seen", seen);
	host->output_set(ctx, "order", "1");
	return WEBOPS_OK;
}

/* Publishes its pid and a child's pid, then hangs (for timeout tests). */
WEBOPS_HOOK(ok_hang_with_child)
{
	char pid[32];
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	host->output_set(ctx, "pid", pid);
	snprintf(pid, sizeof(pid), "%d", (int)c);
	host->output_set(ctx, "child_pid", pid);
	for (;;)
		pause();
}

/* Fails until it has run $WEBOPS_TEST_FLAKY_TIMES times (counted in $WEBOPS_TEST_FLAKY_FILE). */
WEBOPS_HOOK(ok_flaky)
{
	const char *file = getenv("WEBOPS_TEST_FLAKY_FILE");
	const char *times = getenv("WEBOPS_TEST_FLAKY_TIMES");
	int n = 0, want = times ? (int)strtol(times, NULL, 10) : 2;
	FILE *f = file ? fopen(file, "r") : NULL;
	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 0;
		fclose(f);
	}
	n++;
	f = file ? fopen(file, "w") : NULL;
	if (f) {
		fprintf(f, "%d\n", n);
		fclose(f);
	}
	if (n < want) {
		host->set_error(ctx, "flaky failure %d", n);
		return WEBOPS_ERROR;
	}
	host->log(ctx, WEBOPS_LOG_INFO, "succeeded on attempt %d", n);
	return WEBOPS_OK;
}

WEBOPS_HOOK(ok_print)
{
	printf("to stdout\n");
	fflush(stdout);
	fprintf(stderr, "to stderr\n");
	return WEBOPS_OK;
}

/* Works until cancelled, then stops cleanly. */
WEBOPS_HOOK(ok_wait_cancel)
{
	for (int i = 0; i < 600; i++) {
		if (host->cancelled(ctx)) {
			host->set_error(ctx, "stopped: cancelled");
			return WEBOPS_ERROR;
		}
		usleep(50 * 1000);
	}
	return WEBOPS_OK;
}

/* Invalid UTF-8 in a log line and an error, a 100 KB line, and many lines. */
WEBOPS_HOOK(ok_weird)
{
	host->log(ctx, WEBOPS_LOG_WARN, "\xff" "bad\xc3(");
	for (int i = 0; i < 100 * 1024; i++)
		putchar('x');
	putchar('\n');
	for (int i = 0; i < 20000; i++)
		printf("line %d\n", i);
	fflush(stdout);
	host->set_error(ctx, "not really \xfe");
	return WEBOPS_ERROR;
}

WEBOPS_HOOK(ok_exit)
{
	exit(7);
}

WEBOPS_HOOK(ok_skip)
{
	host->set_error(ctx, "nothing to do here");
	return WEBOPS_SKIPPED;
}

/* Logs the deployment and the settings as the host gives them. */
WEBOPS_HOOK(ok_dump)
{
	host->log(ctx, WEBOPS_LOG_INFO, "deployment: %s", host->deployment_json(ctx));
	host->log(ctx, WEBOPS_LOG_INFO, "source_dir: %s", host->source_dir(ctx));
	const char *g = host->setting(ctx, "greeting"), *l = host->setting(ctx, "level");
	host->log(ctx, WEBOPS_LOG_INFO, "settings: greeting=%s level=%s", g ? g : "(null)", l ? l : "(null)");
	char cwd[512];
	if (getcwd(cwd, sizeof(cwd)))
		host->log(ctx, WEBOPS_LOG_INFO, "cwd: %s", cwd);
	return WEBOPS_OK;
}

/* On the timeout's SIGTERM it says so (stdout becomes a log line) and
 * returns a result of its own, as a hook cleaning up would. */
static volatile sig_atomic_t got_term;
static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

WEBOPS_HOOK(ok_cleanup_on_term)
{
	signal(SIGTERM, on_term);
	while (!got_term && !host->cancelled(ctx))
		pause();
	host->log(ctx, WEBOPS_LOG_INFO, "got SIGTERM: cleaning up (cancelled=%d)", host->cancelled(ctx) != 0);
	host->output_set(ctx, "cleaned", "yes");
	return WEBOPS_OK;
}

/* Publishes what a hook inherits: "fds", its open descriptors (from
 * /proc/self/fd, comma-separated, ascending), and "private_env", the names
 * of the variables leading to the database or the secrets' key it sees. */
WEBOPS_HOOK(ok_env_fds)
{
	char fds[1024] = "";
	size_t len = 0;
	for (int fd = 0; fd < 4096; fd++) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		if (access(p, F_OK) == 0 && len < sizeof(fds) - 16)
			len += (size_t)snprintf(fds + len, sizeof(fds) - len, "%s%d", len ? "," : "", fd);
	}
	host->output_set(ctx, "fds", fds);
	static const char *const names[] = {"WEBOPS_DATABASE_URL", "WEBOPS_SECRET_KEY_FILE", "PGPASSWORD",
	                                    "PGPASSFILE", "PGHOST"};
	char env[256] = "";
	len = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (getenv(names[i]))
			len += (size_t)snprintf(env + len, sizeof(env) - len, "%s%s", len ? "," : "", names[i]);
	host->output_set(ctx, "private_env", env);
	host->output_set(ctx, "home_kept", getenv("HOME") ? "yes" : "no");
	return WEBOPS_OK;
}

/* Publishes the "api_token" setting as the hook gets it (for tests of
 * secret settings, which are stored encrypted and reach hooks in clear),
 * and the secret fields alpha.pw and beta.pw (readable by their own addon
 * only). */
WEBOPS_HOOK(ok_show_secret)
{
	const char *t = host->setting(ctx, "api_token");
	host->output_set(ctx, "api_token", t ? t : "(unset)");
	const char *a = host->field(ctx, "alpha.pw"), *b = host->field(ctx, "beta.pw"), *own = host->field(ctx, "pw");
	host->output_set(ctx, "alpha_pw", a ? a : "(unset)");
	host->output_set(ctx, "beta_pw", b ? b : "(unset)");
	host->output_set(ctx, "own_pw", own ? own : "(unset)");
	return WEBOPS_OK;
}

/* ABI 1.2: render (html and dockerfile escapers, a refused value with its
 * reason from last_error), data_dir and scratch_dir (a file written in
 * each); what it saw goes to outputs. */
WEBOPS_HOOK(ok_v12)
{
	if (!WEBOPS_HOST_HAS(host, scratch_dir)) {
		host->set_error(ctx, "the host has no ABI 1.2 table");
		return WEBOPS_ERROR;
	}
	const char *page = host->render(ctx, "greet", "{\"name\": \"<b>Ann</b>\", \"items\": [\"a\", \"b\"]}", "html");
	host->output_set(ctx, "html", page ? page : host->last_error(ctx));
	const char *df = host->render(ctx, "sub/Dockerfile", "{\"image\": \"python:3.11\"}", "dockerfile");
	host->output_set(ctx, "dockerfile", df ? df : host->last_error(ctx));
	const char *bad = host->render(ctx, "sub/Dockerfile", "{\"image\": \"x; rm -rf /\"}", "dockerfile");
	host->output_set(ctx, "refused", bad ? "rendered!" : host->last_error(ctx));
	const char *up = host->render(ctx, "../escape", NULL, "none");
	host->output_set(ctx, "outside", up ? "rendered!" : host->last_error(ctx));
	const char *esc = host->render(ctx, "greet", "{}", "shell");
	host->output_set(ctx, "escaper", esc ? "rendered!" : host->last_error(ctx));
	const char *dirs[2] = { host->data_dir(ctx), host->scratch_dir(ctx) };
	const char *keys[2] = { "data_dir", "scratch_dir" };
	for (int i = 0; i < 2; i++) {
		if (!dirs[i]) {
			host->set_error(ctx, "%s: %s", keys[i], host->last_error(ctx));
			return WEBOPS_ERROR;
		}
		char path[4096];
		snprintf(path, sizeof(path), "%s/note.txt", dirs[i]);
		FILE *f = fopen(path, "w");
		if (!f) {
			host->set_error(ctx, "cannot write in %s", dirs[i]);
			return WEBOPS_ERROR;
		}
		fputs("kept\n", f);
		fclose(f);
		host->output_set(ctx, keys[i], dirs[i]);
	}
	return WEBOPS_OK;
}

/* ABI 1.2 run: exit status and output (logged line by line and captured),
 * a program that is not there, a timeout, extra environment and a working
 * directory; what it saw goes to outputs. */
WEBOPS_HOOK(ok_run)
{
	char num[64];
	struct webops_run_result r;
	struct webops_run_opts o = { .size = sizeof(o), .log = 1, .capture = 1 };
	const char *const a1[] = { "sh", "-c", "echo one; echo two >&2; exit 3", NULL };
	if (host->run(ctx, a1, &o, &r) < 0)
		return host->set_error(ctx, "%s", host->last_error(ctx)), WEBOPS_ERROR;
	snprintf(num, sizeof(num), "%d", r.exit_code);
	host->output_set(ctx, "exit", num);
	host->output_set(ctx, "output", r.output);
	const char *const a2[] = { "/nonexistent/program", NULL };
	host->run(ctx, a2, &o, &r);
	snprintf(num, sizeof(num), "%d", r.exit_code);
	host->output_set(ctx, "missing_exit", num);
	host->output_set(ctx, "missing_output", r.output);
	struct webops_run_opts t = { .size = sizeof(t), .timeout_ms = 300 };
	const char *const a3[] = { "sleep", "30", NULL };
	host->run(ctx, a3, &t, &r);
	snprintf(num, sizeof(num), "%d %d %d", r.timed_out, r.signal, r.exit_code);
	host->output_set(ctx, "timeout", num);
	const char *const env[] = { "GREETING=hi there", NULL };
	struct webops_run_opts e = { .size = sizeof(e), .capture = 1, .env = env, .cwd = "/" };
	const char *const a4[] = { "sh", "-c", "echo \"$GREETING\"; pwd", NULL };
	host->run(ctx, a4, &e, &r);
	host->output_set(ctx, "env_cwd", r.output);
	struct webops_run_opts c = { .size = sizeof(c), .capture = 1, .capture_max = 4 };
	const char *const a5[] = { "echo", "0123456789", NULL };
	host->run(ctx, a5, &c, &r);
	snprintf(num, sizeof(num), "%.*s %d", (int)r.output_len, r.output, r.truncated);
	host->output_set(ctx, "capped", num);
	return WEBOPS_OK;
}
