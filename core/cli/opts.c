/* The CLI's option parser and the help generated from its tables (opts.h). */
#include "cli/opts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/banned.h"

void wo_opt_list_release(struct wo_opt_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int list_add(struct wo_opt_list *l, const char *v)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		const char **nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = v;
	return 0;
}

int wo_opts_exit(int parsed)
{
	return parsed == WO_OPT_HELP ? WO_EXIT_OK : WO_EXIT_USAGE;
}

static const struct wo_opt *find_long(const struct wo_opt *opts, const char *name, size_t len)
{
	for (const struct wo_opt *o = opts; o && o->kind != WO_OPTK_END; o++)
		if (strlen(o->name) == len && !strncmp(o->name, name, len))
			return o;
	return NULL;
}

static const struct wo_opt *find_short(const struct wo_opt *opts, char c)
{
	for (const struct wo_opt *o = opts; o && o->kind != WO_OPTK_END; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

static int takes_value(const struct wo_opt *o)
{
	return o->kind == WO_OPTK_STRING || o->kind == WO_OPTK_INT || o->kind == WO_OPTK_LIST;
}

/* Gives o its value; WO_OPT_USAGE (said) when it is not one. */
static int apply(const struct wo_cmd_spec *spec, const struct wo_opt *o, const char *val)
{
	switch (o->kind) {
	case WO_OPTK_FLAG:
		*o->flag = 1;
		return WO_OPT_OK;
	case WO_OPTK_SET:
		*o->num = o->min;
		return WO_OPT_OK;
	case WO_OPTK_STRING:
		*o->str = val;
		return WO_OPT_OK;
	case WO_OPTK_LIST:
		if (list_add(o->list, val) < 0)
			return wo_cli_fail("out of memory"), WO_OPT_USAGE;
		return WO_OPT_OK;
	case WO_OPTK_INT: {
		char *end = NULL;
		errno = 0;
		long long n = strtoll(val, &end, 10);
		if (!*val || *end || errno || n < o->min || n > o->max) {
			wo_cli_usage_error(spec->path, "option '--%s': '%s' is not a whole number from %lld to %lld", o->name,
			                   val, o->min, o->max);
			return WO_OPT_USAGE;
		}
		*o->num = n;
		return WO_OPT_OK;
	}
	case WO_OPTK_END:
		break;
	}
	return WO_OPT_USAGE;
}

int wo_opts_parse(const struct wo_cmd_spec *spec, int argc, char **argv, char ***operands, int *noperands)
{
	char **ops = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*ops));
	int n = 0, rest = 0;
	if (!ops)
		return wo_cli_fail("out of memory"), WO_OPT_USAGE;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (rest || a[0] != '-' || !a[1]) {
			ops[n++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			rest = 1;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			free(ops);
			wo_opts_help(spec, stdout);
			return WO_OPT_HELP;
		}
		if (!strcmp(a, "--list-options")) {
			free(ops);
			for (const struct wo_opt *o = spec->opts; o && o->kind != WO_OPTK_END; o++)
				if (o->help)
					printf("--%s\n", o->name);
			puts("--help");
			return WO_OPT_HELP;
		}
		const struct wo_opt *o = NULL;
		const char *val = NULL;
		size_t shown = strlen(a);
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
			o = find_long(spec->opts, a + 2, len);
			if (eq) {
				val = eq + 1;
				shown = (size_t)(eq - a);
			}
		} else if (!a[2]) {
			o = find_short(spec->opts, a[1]);
		}
		if (!o) {
			free(ops);
			wo_cli_usage_error(spec->path, "option '%.*s' is not known", (int)shown, a);
			return WO_OPT_USAGE;
		}
		if (!takes_value(o) && val) {
			free(ops);
			wo_cli_usage_error(spec->path, "option '--%s' takes no value", o->name);
			return WO_OPT_USAGE;
		}
		if (takes_value(o) && !val) {
			if (i + 1 >= argc) {
				free(ops);
				wo_cli_usage_error(spec->path, "option '--%s' needs a value (%s)", o->name,
				                   o->value ? o->value : "VALUE");
				return WO_OPT_USAGE;
			}
			val = argv[++i];
		}
		if (apply(spec, o, val) != WO_OPT_OK) {
			free(ops);
			return WO_OPT_USAGE;
		}
	}
	if (n < spec->min_operands || (spec->max_operands >= 0 && n > spec->max_operands)) {
		if (n < spec->min_operands)
			wo_cli_usage_error(spec->path, "%s needs %s", spec->path, spec->operands ? spec->operands : "more");
		else
			wo_cli_usage_error(spec->path, "unexpected argument '%s'", ops[spec->max_operands]);
		free(ops);
		return WO_OPT_USAGE;
	}
	if (operands)
		*operands = ops;
	else
		free(ops);
	if (noperands)
		*noperands = n;
	return WO_OPT_OK;
}

void wo_opts_pick(struct wo_opt *out, const struct wo_opt *all, const unsigned *bits, size_t n, unsigned mask)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (bits[i] & mask)
			out[k++] = all[i];
	out[k] = (struct wo_opt)WO_OPTS_END;
}

int wo_opts_parse1(const struct wo_cmd_spec *spec, int argc, char **argv, const char **operand)
{
	char **ops = NULL;
	int n = 0;
	int parsed = wo_opts_parse(spec, argc, argv, &ops, &n);
	*operand = parsed == WO_OPT_OK && n > 0 ? ops[0] : NULL;
	free(ops);
	return parsed;
}

void wo_opts_help(const struct wo_cmd_spec *spec, FILE *out)
{
	int any = 0;
	for (const struct wo_opt *o = spec->opts; o && o->kind != WO_OPTK_END; o++)
		any |= o->help != NULL;
	fprintf(out, "Usage: webops %s%s%s%s\n", spec->path, any ? " [OPTIONS]" : "", spec->operands ? " " : "",
	        spec->operands ? spec->operands : "");
	if (spec->summary)
		fprintf(out, "\n%s\n", spec->summary);
	fputs("\nOptions:\n", out);
	for (const struct wo_opt *o = spec->opts; o && o->kind != WO_OPTK_END; o++) {
		if (!o->help)
			continue;
		char left[64];
		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name, takes_value(o) ? " " : "",
			         takes_value(o) ? (o->value ? o->value : "VALUE") : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, takes_value(o) ? " " : "",
			         takes_value(o) ? (o->value ? o->value : "VALUE") : "");
		if (strlen(left) > 24)
			fprintf(out, "  %s\n  %-24s  %s%s\n", left, "", o->help, o->kind == WO_OPTK_LIST ? " (repeatable)" : "");
		else
			fprintf(out, "  %-24s  %s%s\n", left, o->help, o->kind == WO_OPTK_LIST ? " (repeatable)" : "");
	}
	fprintf(out, "  %-24s  %s\n", "-h, --help", "this help");
	if (spec->details)
		fprintf(out, "\n%s", spec->details);
}

void wo_subcmd_help(const char *group, const char *summary, const struct wo_subcmd *subs, FILE *out)
{
	fprintf(out, "Usage: webops %s COMMAND [OPTIONS]\n", group);
	if (summary)
		fprintf(out, "\n%s\n", summary);
	fputs("\nCommands:\n", out);
	for (const struct wo_subcmd *s = subs; s->name; s++) {
		if (!s->summary)
			continue;
		char left[64];
		snprintf(left, sizeof(left), "%s%s%s", s->name, s->operands ? " " : "", s->operands ? s->operands : "");
		if (strlen(left) > 24)
			fprintf(out, "  %s\n  %-24s  %s\n", left, "", s->summary);
		else
			fprintf(out, "  %-24s  %s\n", left, s->summary);
	}
	fprintf(out, "\n'webops %s COMMAND --help' tells more of each.\n", group);
}

int wo_subcmd_run(const char *group, const char *summary, const struct wo_subcmd *subs, struct wo_cli *cli,
		  int argc, char **argv)
{
	if (argc < 2) {
		wo_subcmd_help(group, summary, subs, stderr);
		return WO_EXIT_USAGE;
	}
	if (wo_cli_is_help(argv[1])) {
		wo_subcmd_help(group, summary, subs, stdout);
		return WO_EXIT_OK;
	}
	if (!strcmp(argv[1], "--list-commands")) {
		for (const struct wo_subcmd *s = subs; s->name; s++)
			if (s->summary)
				puts(s->name);
		return WO_EXIT_OK;
	}
	for (const struct wo_subcmd *s = subs; s->name; s++)
		if (!strcmp(argv[1], s->name) || (s->alias && !strcmp(argv[1], s->alias)))
			return s->fn(cli, argc - 1, argv + 1);
	return wo_cli_usage_error(group, "'%s' is not a %s command", argv[1], group);
}
