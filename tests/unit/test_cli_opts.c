/* cli/opts: the CLI's one option parser, on a table like the commands'
 * own: --opt value and --opt=value alike, short names, `--`, repeatable
 * and one-of options, ranges, operands, one wording (and exit 2) for what
 * is wrong, help generated from the table. Links core/cli/opts.c and
 * core/cli/report.c (what the CLI prints on a usage error). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"

static int json_, follow;
static const char *branch;
static long long limit, mode;
static struct wo_opt_list envs;

static const struct wo_opt table[] = {
	WO_OPT_JSON(&json_),
	WO_OPT_FLAG("follow", 'f', &follow, "stream the log until the run ends"),
	WO_OPT_STRING("branch", 'b', &branch, "BRANCH", "the branch to deploy"),
	WO_OPT_INT("limit", 0, &limit, "N", 1, 1000, "how many runs (1-1000)"),
	WO_OPT_LIST("env", 'e', &envs, "KEY=VALUE", "an environment variable"),
	WO_OPT_SET("auto", &mode, 1, "a certificate from ACME"),
	WO_OPT_SET("off", &mode, 2, "no HTTPS"),
	WO_OPT_FLAG("hidden", 0, &follow, NULL),
	WO_OPTS_END,
};
static const struct wo_cmd_spec spec = {
	"runs", "NAME", 1, 1, "List a deployment's runs, newest first.", "Example: webops runs blog --limit 5\n", table,
};
static const struct wo_cmd_spec many = {
	"deploy", "NAME...", 1, -1, "Deploy them.", NULL, table,
};

static int reset(void **state)
{
	(void)state;
	json_ = follow = 0;
	branch = NULL;
	limit = mode = 0;
	wo_opt_list_release(&envs);
	memset(&envs, 0, sizeof(envs));
	return 0;
}

/* Runs the parser on a NULL-terminated argument list with stdout and
 * stderr caught; what they said is in said_out / said_err. */
static char said_out[8192], said_err[8192];

static void slurp_into(char *dst, size_t cap, FILE *f)
{
	rewind(f);
	size_t n = fread(dst, 1, cap - 1, f);
	dst[n] = '\0';
	fclose(f);
}

static int parse_with(const struct wo_cmd_spec *sp, char ***ops, int *nops, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, nops);
	for (char *a; (a = va_arg(ap, char *)) && argc < 31;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	FILE *o = tmpfile(), *e = tmpfile();
	fflush(stdout);
	fflush(stderr);
	int so = dup(1), se = dup(2);
	dup2(fileno(o), 1);
	dup2(fileno(e), 2);
	int r = wo_opts_parse(sp, argc, argv, ops, nops);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	slurp_into(said_out, sizeof(said_out), o);
	slurp_into(said_err, sizeof(said_err), e);
	return r;
}
#define parse(...) parse_with(&spec, &ops, &nops, __VA_ARGS__, (char *)NULL)

static void test_values_both_ways(void **state)
{
	(void)state;
	char **ops = NULL;
	int nops = 0;
	assert_int_equal(parse("runs", "blog", "--limit", "5"), WO_OPT_OK);
	assert_int_equal(limit, 5);
	assert_int_equal(nops, 1);
	assert_string_equal(ops[0], "blog");
	free(ops);
	limit = 0;
	assert_int_equal(parse("runs", "--limit=5", "blog"), WO_OPT_OK);
	assert_int_equal(limit, 5);
	assert_string_equal(ops[0], "blog");
	free(ops);
	assert_int_equal(parse("runs", "-b", "dev", "--branch=main", "-f", "--json", "blog"), WO_OPT_OK);
	assert_string_equal(branch, "main"); /* the last one given wins */
	assert_true(follow && json_);
	free(ops);
	/* a value may start with '-' when it follows its option */
	assert_int_equal(parse("runs", "--branch", "-weird", "blog"), WO_OPT_OK);
	assert_string_equal(branch, "-weird");
	free(ops);
	/* the empty value given with = */
	assert_int_equal(parse("runs", "--branch=", "blog"), WO_OPT_OK);
	assert_string_equal(branch, "");
	free(ops);
}

static void test_lists_sets_and_operands(void **state)
{
	(void)state;
	char **ops = NULL;
	int nops = 0;
	assert_int_equal(parse("runs", "-e", "A=1", "--env", "B=2", "--env=C=3", "blog"), WO_OPT_OK);
	assert_int_equal(envs.n, 3);
	assert_string_equal(envs.v[0], "A=1");
	assert_string_equal(envs.v[2], "C=3");
	free(ops);
	assert_int_equal(parse("runs", "--auto", "blog"), WO_OPT_OK);
	assert_int_equal(mode, 1);
	free(ops);
	assert_int_equal(parse("runs", "--off", "blog"), WO_OPT_OK);
	assert_int_equal(mode, 2);
	free(ops);
	/* after --, what starts with '-' is an operand */
	assert_int_equal(parse("runs", "--", "-blog"), WO_OPT_OK);
	assert_int_equal(nops, 1);
	assert_string_equal(ops[0], "-blog");
	free(ops);
	/* an option without help is accepted, and not listed */
	assert_int_equal(parse("runs", "--hidden", "blog"), WO_OPT_OK);
	free(ops);
	assert_int_equal(parse_with(&many, &ops, &nops, "deploy", "a", "--json", "b", "c", (char *)NULL), WO_OPT_OK);
	assert_int_equal(nops, 3);
	assert_string_equal(ops[2], "c");
	free(ops);
}

static void test_one_wording_for_what_is_wrong(void **state)
{
	(void)state;
	char **ops = NULL;
	int nops = 0;
	static const struct { const char *a, *b, *said; } bad[] = {
		{ "--bogus", "blog", "webops: option '--bogus' is not known\nTry 'webops runs --help'.\n" },
		{ "--bogus=1", "blog", "webops: option '--bogus' is not known\nTry 'webops runs --help'.\n" },
		{ "-x", "blog", "webops: option '-x' is not known\nTry 'webops runs --help'.\n" },
		{ "--json=yes", "blog", "webops: option '--json' takes no value\nTry 'webops runs --help'.\n" },
		{ "blog", "--limit", "webops: option '--limit' needs a value (N)\nTry 'webops runs --help'.\n" },
		{ "--limit=0", "blog",
		  "webops: option '--limit': '0' is not a whole number from 1 to 1000\nTry 'webops runs --help'.\n" },
		{ "--limit=5x", "blog",
		  "webops: option '--limit': '5x' is not a whole number from 1 to 1000\nTry 'webops runs --help'.\n" },
		{ "blog", "other", "webops: unexpected argument 'other'\nTry 'webops runs --help'.\n" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ops = NULL;
		assert_int_equal(parse("runs", bad[i].a, bad[i].b), WO_OPT_USAGE);
		assert_string_equal(said_err, bad[i].said);
		assert_null(ops); /* nothing handed out */
		reset(NULL);
	}
	assert_int_equal(parse("runs", "--json"), WO_OPT_USAGE);
	assert_string_equal(said_err, "webops: runs needs NAME\nTry 'webops runs --help'.\n");
	assert_int_equal(wo_opts_exit(WO_OPT_USAGE), 2);
	assert_int_equal(wo_opts_exit(WO_OPT_HELP), 0);
}

static void test_help_from_the_table(void **state)
{
	(void)state;
	char **ops = NULL;
	int nops = 0;
	assert_int_equal(parse("runs", "blog", "--help"), WO_OPT_HELP);
	assert_string_equal(said_err, "");
	assert_non_null(strstr(said_out, "Usage: webops runs [OPTIONS] NAME\n\nList a deployment's runs, newest first.\n"));
	assert_non_null(strstr(said_out, "-f, --follow"));
	assert_non_null(strstr(said_out, "    --limit N"));
	assert_non_null(strstr(said_out, "how many runs (1-1000)"));
	assert_non_null(strstr(said_out, "an environment variable (repeatable)"));
	assert_non_null(strstr(said_out, "-h, --help"));
	assert_null(strstr(said_out, "hidden"));
	assert_non_null(strstr(said_out, "Example: webops runs blog --limit 5\n"));
	assert_int_equal(parse("runs", "--list-options"), WO_OPT_HELP);
	assert_string_equal(said_out, "--json\n--follow\n--branch\n--limit\n--env\n--auto\n--off\n--help\n");
}

static void test_one_operand_and_picking(void **state)
{
	(void)state;
	char *argv[] = { "show", "--json", "blog", NULL };
	const char *name = NULL;
	struct wo_cmd_spec one = spec;
	one.path = "show";
	assert_int_equal(wo_opts_parse1(&one, 3, argv, &name), WO_OPT_OK);
	assert_string_equal(name, "blog");
	assert_true(json_);
	/* a command taking some of a shared set of options */
	static const unsigned bits[] = { 1, 2, 1 | 2 };
	struct wo_opt picked[4];
	wo_opts_pick(picked, table, bits, 3, 2);
	assert_string_equal(picked[0].name, "follow");
	assert_string_equal(picked[1].name, "branch");
	assert_int_equal(picked[2].kind, WO_OPTK_END);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_values_both_ways, reset),
		cmocka_unit_test_setup(test_lists_sets_and_operands, reset),
		cmocka_unit_test_setup(test_one_wording_for_what_is_wrong, reset),
		cmocka_unit_test_setup(test_help_from_the_table, reset),
		cmocka_unit_test_setup(test_one_operand_and_picking, reset),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	wo_opt_list_release(&envs);
	return r;
}
