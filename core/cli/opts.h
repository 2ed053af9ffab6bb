/* The CLI's one option parser, after git's parse-options: each subcommand
 * describes its options in a table (what each is, where its value goes, one
 * line of help) and the parser reads `--opt value` and `--opt=value` alike,
 * `-x value` for the few short names, `--` before operands that start with
 * '-', and generates the subcommand's --help from the same table (and the
 * shell completion, `webops completion bash`). Unknown options, missing or
 * bad values exit 2 with one wording. */
#ifndef WO_CLI_OPTS_H
#define WO_CLI_OPTS_H

#include <stddef.h>
#include <stdio.h>

struct wo_cli;

enum wo_opt_kind {
	WO_OPTK_END = 0,
	WO_OPTK_FLAG,   /* --json: *flag = 1 (a flag given twice is fine) */
	WO_OPTK_STRING, /* --branch B: *str = B (the last one given wins) */
	WO_OPTK_INT,    /* --limit N: *num = N, a whole number in [min, max] */
	WO_OPTK_LIST,   /* --env K=V, repeatable: appended to *list */
	WO_OPTK_SET,    /* --off: *num = min (one choice of several that set the same variable) */
};

/* The values of a repeatable option, in the order given (borrowed from argv). */
struct wo_opt_list {
	const char **v;
	size_t n, cap;
};
void wo_opt_list_release(struct wo_opt_list *l);

struct wo_opt {
	enum wo_opt_kind kind;
	const char *name;  /* "limit" for --limit */
	char short_name;   /* 'f' for -f, 0: none */
	const char *value; /* what the value is called in --help: "N", "FILE" */
	const char *help;  /* one line for --help (NULL: not listed, still accepted) */
	int *flag;         /* FLAG */
	const char **str;  /* STRING */
	long long *num;    /* INT, SET */
	long long min, max; /* INT: the range; SET: min is the value set */
	struct wo_opt_list *list; /* LIST */
};

#define WO_OPT_FLAG(n, s, var, h) { WO_OPTK_FLAG, n, s, NULL, h, var, NULL, NULL, 0, 0, NULL }
#define WO_OPT_STRING(n, s, var, v, h) { WO_OPTK_STRING, n, s, v, h, NULL, var, NULL, 0, 0, NULL }
#define WO_OPT_INT(n, s, var, v, lo, hi, h) { WO_OPTK_INT, n, s, v, h, NULL, NULL, var, lo, hi, NULL }
#define WO_OPT_LIST(n, s, var, v, h) { WO_OPTK_LIST, n, s, v, h, NULL, NULL, NULL, 0, 0, var }
#define WO_OPT_SET(n, var, value, h) { WO_OPTK_SET, n, 0, NULL, h, NULL, NULL, var, value, 0, NULL }
#define WO_OPT_JSON(var) WO_OPT_FLAG("json", 0, var, "print JSON (for scripts)")
#define WO_OPTS_END { WO_OPTK_END, NULL, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL }

/* A subcommand: how it is called, what it does, its options. */
struct wo_cmd_spec {
	const char *path;     /* "deployment tls": what follows `webops ` */
	const char *operands; /* "NAME", "[NAME]", NULL: none */
	int min_operands, max_operands; /* max -1: any number */
	const char *summary;  /* one line: what it does */
	const char *details;  /* printed after the options (NULL: none) */
	const struct wo_opt *opts;
};

/* Parses argv (argv[0] is the subcommand's own name) by spec: options fill
 * their variables, operands (in order) go to *operands (a borrowed array,
 * free() it; may be NULL when max_operands is 0) and *noperands.
 * `--list-options` (for shell completion) prints the long options, one a
 * line, and returns WO_OPT_HELP too.
 * Returns 0 to go on, WO_OPT_HELP after printing --help (exit 0), or
 * WO_OPT_USAGE after printing the error and "Try 'webops PATH --help'."
 * (exit 2). */
enum { WO_OPT_OK = 0, WO_OPT_HELP = 1, WO_OPT_USAGE = 2 };
int wo_opts_parse(const struct wo_cmd_spec *spec, int argc, char **argv, char ***operands, int *noperands);
/* The same for a subcommand of one operand (a NAME, a RUN): *operand gets
 * it (borrowed from argv) when the result is WO_OPT_OK. */
int wo_opts_parse1(const struct wo_cmd_spec *spec, int argc, char **argv, const char **operand);
/* The exit code for a parse result that is not WO_OPT_OK. */
int wo_opts_exit(int parsed);

/* For commands that share one set of options, each taking some: copies the
 * entries of all (n of them) whose bits[i] has a bit of mask into out (room
 * for n + 1) and ends it with WO_OPTS_END. */
void wo_opts_pick(struct wo_opt *out, const struct wo_opt *all, const unsigned *bits, size_t n, unsigned mask);

/* The subcommand's help, generated from its table. */
void wo_opts_help(const struct wo_cmd_spec *spec, FILE *out);

/* A group of subcommands (`webops deployment ...`): name, the function that
 * runs it, its spec (for help and completion). */
struct wo_subcmd {
	const char *name;
	int (*fn)(struct wo_cli *cli, int argc, char **argv);
	const char *operands; /* as in its spec, for the group's help */
	const char *summary;  /* one line for the group's help; NULL: not listed (for programs) */
	const char *alias;    /* another name for it ("ls"), NULL: none */
};
#define WO_SUBCMD_END { NULL, NULL, NULL, NULL, NULL }
/* Runs the subcommand argv[1] names (argv[0] is the group); the group's
 * help (its subcommands, one line each) for -h, --help or help, and on
 * stderr with exit 2 for none; `--list-commands` (for shell completion)
 * prints the subcommands' names, one a line. */
int wo_subcmd_run(const char *group, const char *summary, const struct wo_subcmd *subs, struct wo_cli *cli,
		  int argc, char **argv);
void wo_subcmd_help(const char *group, const char *summary, const struct wo_subcmd *subs, FILE *out);

#endif
