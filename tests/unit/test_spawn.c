/* util/spawn: every child webops makes is set up by wo_fork (death signal,
 * signals reset, descriptors placed and the rest closed, its own group) and
 * every program it runs is executed by wo_spawn, which says why one could
 * not run. Real processes throughout. */
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
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/error.h"
#include "util/proc.h"
#include "util/spawn.h"

static int wait_exit(pid_t pid)
{
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Reads what a child wrote to fd until EOF. */
static char *slurp(int fd)
{
	static char buf[4096];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

static void test_exec_failures_say_why(void **state)
{
	(void)state;
	pid_t pid = 0;
	char *a1[] = { "/nonexistent/program", NULL };
	assert_int_equal(wo_spawn(&pid, a1, NULL), -1);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(wo_error_last(), "cannot run '/nonexistent/program': No such file or directory");

	char *a2[] = { "webops-no-such-program", NULL };
	assert_int_equal(wo_spawn(&pid, a2, NULL), -1);
	assert_string_equal(wo_error_last(), "cannot run 'webops-no-such-program': not found in PATH");
	assert_int_equal(wo_error_code(), WO_ENOTFOUND);

	/* the PATH searched is the child's */
	char *env[] = { "PATH=/nonexistent", NULL };
	struct wo_spawn_opts o = WO_SPAWN_OPTS_INIT;
	o.envp = env;
	char *a3[] = { "sh", "-c", "exit 0", NULL };
	assert_int_equal(wo_spawn(&pid, a3, &o), -1);
	assert_string_equal(wo_error_last(), "cannot run 'sh': not found in PATH");

	struct wo_spawn_opts c = WO_SPAWN_OPTS_INIT;
	c.cwd = "/nonexistent/dir";
	assert_int_equal(wo_spawn(&pid, a3, &c), -1);
	assert_string_equal(wo_error_last(), "cannot run 'sh': cannot enter '/nonexistent/dir': No such file or directory");

	/* a file that is not a program (0600: not executable even for root) */
	char file[] = "/tmp/wo-spawn-XXXXXX";
	int fd = mkstemp(file);
	assert_true(fd >= 0);
	close(fd);
	char *a4[] = { file, NULL };
	assert_int_equal(wo_spawn(&pid, a4, NULL), -1);
	char want[128];
	snprintf(want, sizeof(want), "cannot run '%s': Permission denied", file);
	assert_string_equal(wo_error_last(), want);
	unlink(file);
}

static void test_spawn_env_cwd_stdio(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char *env[] = { "PATH=/usr/bin:/bin", "GREETING=hi there", NULL };
	struct wo_spawn_opts o = WO_SPAWN_OPTS_INIT;
	o.fork = (struct wo_fork_opts){ WO_FORK_FDS | WO_FORK_CLOSE_FDS, 3, { WO_FD_NULL, p[1], p[1] } };
	o.envp = env;
	o.cwd = "/tmp";
	char *argv[] = { "sh", "-c", "echo \"$GREETING\"; pwd; echo err >&2; cat; ls /proc/self/fd | wc -l", NULL };
	pid_t pid = 0;
	assert_int_equal(wo_spawn(&pid, argv, &o), 0);
	close(p[1]);
	/* stdin is /dev/null (cat ends at once); ls sees 0, 1, 2 and its own
	 * directory: nothing of ours */
	assert_string_equal(slurp(p[0]), "hi there\n/tmp\nerr\n4\n");
	close(p[0]);
	assert_int_equal(wait_exit(pid), 0);
}

/* The child's exit status says what it found; 0 is all as asked. */
static int child_checks_fds(int leaked, int placed_read)
{
	if (fcntl(leaked, F_GETFD) != -1 || errno != EBADF)
		return 10; /* a descriptor of ours was not closed */
	if (fcntl(3, F_GETFD) != 0) /* placed, close-on-exec cleared */
		return 11;
	char c = 0;
	if (read(3, &c, 1) != 1 || c != 'x')
		return 12;
	if (write(4, "y", 1) != 1)
		return 13;
	if (fcntl(5, F_GETFD) != -1)
		return 14;
	(void)placed_read;
	return 0;
}

static void test_fork_places_descriptors(void **state)
{
	(void)state;
	int in[2], out[2];
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	int leaked = open("/dev/null", O_RDONLY); /* not close-on-exec */
	assert_true(leaked >= 0);
	/* the child's 3 is our in[0] and its 4 our out[1], whatever numbers
	 * they have here (they may be 3 and 4 the other way round) */
	struct wo_fork_opts o = { WO_FORK_FDS | WO_FORK_CLOSE_FDS, 5, { WO_FD_NULL, 1, 2, in[0], out[1] } };
	pid_t pid = wo_fork("a test child", &o);
	if (pid == 0)
		_exit(child_checks_fds(leaked, in[0]));
	assert_true(pid > 0);
	assert_int_equal(write(in[1], "x", 1), 1);
	close(in[0]);
	close(out[1]);
	char c = 0;
	assert_int_equal(read(out[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_int_equal(wait_exit(pid), 0);
	close(in[1]);
	close(out[0]);
	close(leaked);
}

static void test_fork_resets_signals(void **state)
{
	(void)state;
	signal(SIGUSR1, SIG_IGN);
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid_t pid = wo_fork("a test child", &(struct wo_fork_opts){ .flags = WO_FORK_RESET_SIGNALS |
										WO_FORK_IGNORE_SIGPIPE });
	if (pid == 0) {
		struct sigaction sa;
		sigaction(SIGUSR1, NULL, &sa);
		if (sa.sa_handler != SIG_DFL)
			_exit(1);
		sigset_t now;
		sigprocmask(SIG_SETMASK, NULL, &now);
		if (sigismember(&now, SIGUSR2))
			_exit(2);
		sigaction(SIGPIPE, NULL, &sa);
		_exit(sa.sa_handler == SIG_IGN ? 0 : 3);
	}
	assert_int_equal(wait_exit(pid), 0);
	/* without the flag, what we had stays */
	pid = wo_fork("a test child", NULL);
	if (pid == 0) {
		struct sigaction sa;
		sigaction(SIGUSR1, NULL, &sa);
		_exit(sa.sa_handler == SIG_IGN ? 0 : 1);
	}
	assert_int_equal(wait_exit(pid), 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGUSR1, SIG_DFL);
}

static void test_fork_new_group(void **state)
{
	(void)state;
	pid_t pid = wo_fork("a test child", &(struct wo_fork_opts){ .flags = WO_FORK_NEW_GROUP });
	if (pid == 0) {
		pause();
		_exit(0);
	}
	/* already its own group here, right after the fork */
	assert_int_equal(getpgid(pid), pid);
	assert_int_equal(kill(-pid, SIGTERM), 0);
	assert_int_equal(wait_exit(pid), 1000 + SIGTERM);
}

/* A child asked for the death signal dies with the process that made it:
 * a middle process makes it, waits until it is set up (wo_fork returns in
 * the child only then), and exits; we, its subreaper, see it killed. */
static void test_fork_death_signal(void **state)
{
	(void)state;
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t mid = fork();
	if (mid == 0) {
		close(p[0]);
		int ready[2];
		if (pipe(ready) != 0)
			_exit(1);
		pid_t g = wo_fork("a test child", &(struct wo_fork_opts){ .flags = WO_FORK_DEATHSIG_KILL });
		if (g == 0) {
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		char c;
		close(ready[1]);
		if (read(ready[0], &c, 1) != 1 || write(p[1], &g, sizeof(g)) != (ssize_t)sizeof(g))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	pid_t g = 0;
	ssize_t got = read(p[0], &g, sizeof(g));
	close(p[0]);
	int mid_status = wait_exit(mid);
	int g_status = got == (ssize_t)sizeof(g) ? wait_exit(g) : -1;
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	assert_int_equal(got, sizeof(g));
	assert_int_equal(mid_status, 0);
	/* reparented to us, and killed */
	assert_int_equal(g_status, 1000 + SIGKILL);
}

static void test_spawn_as_user(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	struct wo_proc_user u;
	assert_int_equal(wo_proc_unprivileged_user(&u), 0);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct wo_proc_opts po = { .as = &u, .out_fd = p[1] };
	char *argv[] = { "sh", "-c", "id -u; id -g; echo $HOME", NULL };
	int status = -1;
	assert_int_equal(wo_proc_run(&status, NULL, argv, &po), 0);
	close(p[1]);
	char want[512];
	snprintf(want, sizeof(want), "%ld\n%ld\n%s\n", (long)u.uid, (long)u.gid, u.home);
	assert_string_equal(slurp(p[0]), want);
	close(p[0]);
	assert_int_equal(status, 0);
}

static void test_proc_run_detached(void **state)
{
	(void)state;
	char *argv[] = { "sleep", "30", NULL };
	struct wo_proc_opts po = { .out_fd = -1, .detach = 1 };
	pid_t pid = 0;
	assert_int_equal(wo_proc_run(NULL, &pid, argv, &po), 0);
	assert_true(pid > 0);
	/* not our child, and not in our session */
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_not_equal(getsid(pid), getsid(0));
	assert_int_equal(kill(pid, SIGKILL), 0);

	char *bad[] = { "/nonexistent/server", NULL };
	assert_int_equal(wo_proc_run(NULL, &pid, bad, &po), -1);
	assert_string_equal(wo_error_last(), "cannot run '/nonexistent/server': No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_failures_say_why),
		cmocka_unit_test(test_spawn_env_cwd_stdio),
		cmocka_unit_test(test_fork_places_descriptors),
		cmocka_unit_test(test_fork_resets_signals),
		cmocka_unit_test(test_fork_new_group),
		cmocka_unit_test(test_fork_death_signal),
		cmocka_unit_test(test_spawn_as_user),
		cmocka_unit_test(test_proc_run_detached),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
