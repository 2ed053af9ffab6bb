/* `webops addon list|info|status|enable|disable|check|new|config`, and the `--set`
 * parsing of addon-declared deployment fields for `webops deployment`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon/addon.h"
#include "addon/field.h"
#include "addon/scaffold.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "config/config.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/secret.h"
#include "util/banned.h"

#define ADDONS_PATH_NOTE \
	"Addons are folders holding an addon.yaml, found under the folders listed in WEBOPS_ADDONS_PATH\n" \
	"(colon-separated; default: build/addons from a build tree, else the installed addons folder).\n"

static int usage_err(const char *fmt, const char *arg)
{
	return wo_cli_usage_error("addon", fmt, arg);
}

/* What the addon subcommands take: each declares its options (a mask of
 * these) in its spec. */
enum { A_JSON = 1, A_FORCE = 2, A_DIR = 4, A_STDIN = 8, A_FROM_FILE = 16, A_UNSET = 32 };

struct args {
	int json, force, from_stdin;
	const char *dir;
	struct wo_opt_list unset_l, from_file_l;
	char **unset; /* views of the lists above */
	int nunset;
	char **from_file;
	int nfrom_file;
	char **pos;
	int npos;
};

static int parse_args(struct args *a, int argc, char **argv, const char *path, const char *operands, int min, int max,
		      const char *summary, const char *details, unsigned mask)
{
	memset(a, 0, sizeof(*a));
	const struct wo_opt all[] = {
		WO_OPT_STRING("dir", 0, &a->dir, "DIR", "where to write it (default ./NAME)"),
		WO_OPT_FLAG("force", 0, &a->force, "write into DIR even when it is not empty"),
		WO_OPT_LIST("unset", 0, &a->unset_l, "KEY", "back to the default"),
		WO_OPT_FLAG("stdin", 0, &a->from_stdin, "KEY's value is what standard input holds"),
		WO_OPT_LIST("from-file", 0, &a->from_file_l, "KEY=PATH", "KEY's value is what the file PATH holds (a final "
		            "newline is dropped)"),
		WO_OPT_JSON(&a->json),
	};
	static const unsigned bits[] = { A_DIR, A_FORCE, A_UNSET, A_STDIN, A_FROM_FILE, A_JSON };
	struct wo_opt opts[sizeof(all) / sizeof(all[0]) + 1];
	wo_opts_pick(opts, all, bits, sizeof(all) / sizeof(all[0]), mask);
	const struct wo_cmd_spec spec = { path, operands, min, max, summary, details, opts };
	int parsed = wo_opts_parse(&spec, argc, argv, &a->pos, &a->npos);
	/* the lists point into opts' variables, which live in *a */
	a->unset = (char **)a->unset_l.v;
	a->nunset = (int)a->unset_l.n;
	a->from_file = (char **)a->from_file_l.v;
	a->nfrom_file = (int)a->from_file_l.n;
	return parsed;
}

static void args_release(struct args *a)
{
	free(a->pos);
	wo_opt_list_release(&a->unset_l);
	wo_opt_list_release(&a->from_file_l);
}

static int load_registry(struct wo_addon_registry **out, struct wo_cli *cli)
{
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return -1;
	if (wo_addon_registry_load(out, cli->cfg.addons_path, conn) < 0) {
		wo_cli_fail("%s", wo_error_last());
		return -1;
	}
	return 0;
}

static void print_warnings(const struct wo_addon_registry *reg)
{
	for (size_t i = 0; i < reg->nwarnings; i++)
		fprintf(stderr, "webops: warning: %s\n", reg->warnings[i]);
}

static void print_indented(const char *prefix, const char *text)
{
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		printf("%s%.*s\n", prefix, (int)n, p);
		p += n + (nl ? 1 : 0);
	}
}

/* "pre_deploy:50 pre_deploy:60 health:100" */
static void hooks_summary(struct wo_buf *b, const struct wo_addon_manifest *m)
{
	for (size_t i = 0; i < m->nhooks; i++)
		wo_buf_printf(b, "%s%s:%d", i ? " " : "", wo_event_name(m->hooks[i].event), m->hooks[i].priority);
	if (!m->nhooks)
		wo_buf_puts(b, "-");
}

static int cmd_list(struct wo_cli *cli, struct args *a)
{
	if (a->npos)
		return usage_err("unexpected argument '%s'", a->pos[0]);
	struct wo_addon_registry *reg;
	if (load_registry(&reg, cli) < 0)
		return WO_EXIT_ERROR;
	if (a->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < reg->naddons; i++)
			json_array_append_new(arr, wo_addon_json(reg->addons[i]));
		json_t *o = json_pack("{s:s, s:o}", "addons_path", cli->cfg.addons_path ? cli->cfg.addons_path : "",
		                      "addons", arr);
		json_t *w = json_array();
		for (size_t i = 0; i < reg->nwarnings; i++)
			json_array_append_new(w, json_string(reg->warnings[i]));
		json_object_set_new(o, "warnings", w);
		wo_out_json(o);
		json_decref(o);
		wo_addon_registry_free(reg);
		return WO_EXIT_OK;
	}
	print_warnings(reg);
	if (!reg->naddons) {
		printf("no addons found in '%s'\n", cli->cfg.addons_path ? cli->cfg.addons_path : "");
		wo_addon_registry_free(reg);
		return WO_EXIT_OK;
	}
	printf("%-20s %-10s %-9s %s\n", "NAME", "VERSION", "STATE", "HOOKS (event:priority)");
	for (size_t i = 0; i < reg->naddons; i++) {
		const struct wo_addon *ad = reg->addons[i];
		struct wo_buf h = WO_BUF_INIT;
		hooks_summary(&h, ad->manifest);
		printf("%-20s %-10s %-9s %s\n", ad->name, ad->manifest->version ? ad->manifest->version : "-",
		       wo_addon_state(ad), wo_buf_cstr(&h));
		wo_buf_release(&h);
		if (ad->load_error)
			print_indented("    ", ad->load_error);
	}
	wo_addon_registry_free(reg);
	return WO_EXIT_OK;
}

static void print_field(const struct wo_addon_field *f, const json_t *value, const char *source)
{
	printf("  %-20s %-7s", f->name, wo_field_type_name(f->type));
	if (value) {
		char *t = f->secret ? strdup("********") : wo_addon_field_format(value);
		printf(" = ");
		wo_out_escaped(stdout, t ? t : "");
		if (source && *source)
			printf("  (%s)", source);
		free(t);
	} else if (f->dflt) {
		char *t = wo_addon_field_format(f->dflt);
		printf(" default ");
		wo_out_escaped(stdout, f->secret ? "********" : t ? t : "");
		free(t);
	} else if (source) {
		printf(" (unset)");
	}
	if (f->nchoices) {
		printf("  one of:");
		for (size_t i = 0; i < f->nchoices; i++)
			printf(" %s", f->choices[i]);
	}
	if (f->pattern)
		printf("  pattern %s", f->pattern);
	if (f->has_min)
		printf("  min %lld", (long long)f->min);
	if (f->has_max)
		printf("  max %lld", (long long)f->max);
	if (f->required)
		printf("  required");
	printf("\n");
	if (f->label || f->help) {
		printf("  %-20s ", "");
		if (f->label)
			printf("%s%s", f->label, f->help ? ": " : "");
		if (f->help)
			printf("%s", f->help);
		printf("\n");
	}
}

static struct wo_addon *find_or_fail(const struct wo_addon_registry *reg, const char *name)
{
	struct wo_addon *ad = wo_addon_registry_find(reg, name);
	if (!ad)
		wo_cli_fail("no addon named '%s' in the addons path; 'webops addon list' shows them", name);
	return ad;
}

static int cmd_info(struct wo_cli *cli, struct args *a)
{
	if (a->npos != 1)
		return usage_err(a->npos ? "unexpected argument '%s'" : "info needs an addon NAME%s",
		                 a->npos ? a->pos[1] : "");
	struct wo_addon_registry *reg;
	if (load_registry(&reg, cli) < 0)
		return WO_EXIT_ERROR;
	struct wo_addon *ad = find_or_fail(reg, a->pos[0]);
	if (!ad) {
		wo_addon_registry_free(reg);
		return WO_EXIT_ERROR;
	}
	if (a->json) {
		json_t *o = wo_addon_json(ad);
		wo_out_json(o);
		json_decref(o);
		wo_addon_registry_free(reg);
		return WO_EXIT_OK;
	}
	const struct wo_addon_manifest *m = ad->manifest;
	printf("name:         %s\n", ad->name);
	printf("version:      %s", m->version ? m->version : "-");
	if (ad->abi_major >= 0)
		printf(" (library %s, addon ABI %d.%d)", ad->lib_version ? ad->lib_version : "?", ad->abi_major,
		       ad->abi_minor);
	printf("\n");
	if (m->description)
		printf("description:  %s\n", m->description);
	if (m->author)
		printf("author:       %s\n", m->author);
	if (m->license)
		printf("license:      %s\n", m->license);
	printf("manifest:     %s\n", m->path);
	if (m->library_path)
		printf("library:      %s\n", m->library_path);
	printf("state:        %s, %s\n", ad->enabled ? "enabled" : "disabled", ad->loaded ? "loaded" : "not loaded");
	if (m->ncapabilities) {
		printf("capabilities:");
		for (size_t i = 0; i < m->ncapabilities; i++)
			printf(" %s", m->capabilities[i]);
		printf("\n");
	}
	if (ad->load_error) {
		printf("load error:\n");
		print_indented("  ", ad->load_error);
	}
	printf("hooks:%s\n", m->nhooks ? "" : " none");
	for (int ev = 0; ev < WO_EVENT__COUNT; ev++) {
		for (size_t i = 0; i < m->nhooks; i++) {
			const struct wo_addon_hook *h = &m->hooks[i];
			if ((int)h->event != ev)
				continue;
			printf("  %-12s priority %-5d %-8s %s  timeout %d ms", wo_event_name(h->event), h->priority,
			       h->required ? "required" : "optional", h->handler, h->timeout_ms);
			if (h->retries)
				printf("  retries %d (from %d ms, x%g)", h->retries, h->retry_initial_delay_ms, h->retry_backoff);
			if (h->conditions) {
				char *c = json_dumps(h->conditions, JSON_COMPACT | JSON_SORT_KEYS);
				printf("  when %s", c ? c : "?");
				free(c);
			}
			printf("\n");
		}
	}
	printf("deployment fields:%s\n", m->nfields ? "" : " none");
	for (size_t i = 0; i < m->nfields; i++)
		print_field(&m->fields[i], NULL, NULL);
	printf("settings:%s\n", m->nsettings ? "" : " none");
	for (size_t i = 0; i < m->nsettings; i++) {
		const struct wo_addon_field *f = &m->settings[i];
		const char *src = json_string_value(json_object_get(ad->settings_source, f->name));
		print_field(f, json_object_get(ad->settings, f->name), src ? src : "");
	}
	const struct wo_addon_metrics *mt = &ad->metrics;
	printf("metrics:      %lld ok, %lld failed", (long long)mt->success_count, (long long)mt->failure_count);
	if (mt->last_run_at)
		printf("; last run %s (%lld ms)", mt->last_run_at, (long long)mt->last_duration_ms);
	printf("\n");
	if (mt->last_error) {
		printf("last error:   ");
		wo_out_escaped(stdout, mt->last_error);
		printf("\n");
	}
	for (size_t i = 0; i < m->nwarnings; i++)
		printf("warning:      %s\n", m->warnings[i]);
	wo_addon_registry_free(reg);
	return WO_EXIT_OK;
}

static int cmd_enable(struct wo_cli *cli, struct args *a, int enable)
{
	if (a->npos != 1)
		return usage_err(a->npos ? "unexpected argument '%s'" : "needs an addon NAME%s", a->npos ? a->pos[1] : "");
	struct wo_addon_registry *reg;
	if (load_registry(&reg, cli) < 0)
		return WO_EXIT_ERROR;
	struct wo_addon *ad = find_or_fail(reg, a->pos[0]);
	int rc = WO_EXIT_ERROR;
	if (ad) {
		if (wo_addon_set_enabled(reg, ad, enable) < 0) {
			wo_cli_fail("%s", wo_error_last());
		} else {
			printf("%s addon '%s'\n", enable ? "enabled" : "disabled", ad->name);
			if (enable && ad->load_error)
				fprintf(stderr, "webops: warning: addon '%s' cannot load; its hooks will not run until "
				        "'webops addon check %s' passes\n", ad->name, ad->dir);
			rc = WO_EXIT_OK;
		}
	}
	wo_addon_registry_free(reg);
	return rc;
}

static int cmd_check(struct wo_cli *cli, struct args *a)
{
	if (a->npos != 1)
		return usage_err(a->npos ? "unexpected argument '%s'" : "check needs the addon's folder DIR%s",
		                 a->npos ? a->pos[1] : "");
	struct wo_addon *ad;
	if (wo_addon_check_dir(&ad, a->pos[0]) < 0)
		return wo_cli_fail("%s", wo_error_last());
	int ok = ad->loaded && !ad->load_error;
	if (a->json) {
		json_t *o = wo_addon_json(ad);
		json_object_set_new(o, "ok", json_boolean(ok));
		wo_out_json(o);
		json_decref(o);
	} else {
		const struct wo_addon_manifest *m = ad->manifest;
		for (size_t i = 0; i < m->nwarnings; i++)
			fprintf(stderr, "webops: warning: %s\n", m->warnings[i]);
		if (ok) {
			char abi[48];
			if (ad->abi_major >= 0)
				snprintf(abi, sizeof(abi), "addon ABI %d.%d", ad->abi_major, ad->abi_minor);
			else
				snprintf(abi, sizeof(abi), "no library");
			printf("addon '%s' %s is valid: %s, %zu hook%s, %zu field%s, %zu setting%s\n", ad->name,
			       m->version ? m->version : "", abi, m->nhooks, m->nhooks == 1 ? "" : "s", m->nfields,
			       m->nfields == 1 ? "" : "s", m->nsettings, m->nsettings == 1 ? "" : "s");
		} else {
			print_indented("", ad->load_error ? ad->load_error : "cannot load (unknown reason)");
			fprintf(stderr, "webops: addon in '%s' is not valid\n", a->pos[0]);
		}
	}
	wo_addon_free(ad);
	return ok ? WO_EXIT_OK : WO_EXIT_ERROR;
}

static int cmd_new(struct wo_cli *cli, struct args *a)
{
	if (a->npos != 1)
		return usage_err(a->npos ? "unexpected argument '%s'" : "new needs an addon NAME%s",
		                 a->npos ? a->pos[1] : "");
	const char *name = a->pos[0];
	const char *dir = a->dir ? a->dir : name;
	char *build_dir = NULL;
	if (cli->cfg.from_build_tree) {
		struct wo_buf b = WO_BUF_INIT;
		wo_buf_printf(&b, "%s/..", wo_config_exe_dir());
		build_dir = realpath(wo_buf_cstr(&b), NULL);
		wo_buf_release(&b);
	}
	int rc = wo_addon_scaffold(name, dir, build_dir, a->force);
	free(build_dir);
	if (rc < 0)
		return wo_cli_fail("%s", wo_error_last());
	char *abs = realpath(dir, NULL);
	const char *shown = abs ? abs : dir;
	char *parent = strdup(shown);
	char *slash = parent ? strrchr(parent, '/') : NULL;
	if (slash)
		*(slash == parent ? slash + 1 : slash) = '\0';
	printf("created addon '%s' in %s\n"
	       "next:\n"
	       "  make -C %s\n"
	       "  export WEBOPS_ADDONS_PATH=%s${WEBOPS_ADDONS_PATH:+:$WEBOPS_ADDONS_PATH}\n"
	       "  webops addon check %s\n"
	       "  webops hook run pre_deploy DEPLOYMENT\n",
	       name, shown, shown, parent ? parent : ".", shown);
	free(parent);
	free(abs);
	return WO_EXIT_OK;
}

/* One KEY=VALUE of `addon config`: from the command line, a file or stdin. */
struct assignment {
	char *key, *value;
	int from_argv;
};

static void assignments_free(struct assignment *as, int n)
{
	for (int i = 0; i < n; i++) {
		free(as[i].key);
		wo_secret_free(as[i].value);
	}
	free(as);
}

/* Reads standard input whole (at most 64 KiB), a final newline dropped. */
static int read_stdin_value(char **out)
{
	char *v = NULL;
	size_t len = 0;
	if (wo_fs_read_fd(&v, &len, 0, "standard input", 65536) < 0)
		return -1;
	if (strlen(v) != len) {
		wo_secret_free(v);
		return wo_error_set("standard input holds a NUL byte");
	}
	while (len && (v[len - 1] == '\n' || v[len - 1] == '\r'))
		v[--len] = '\0';
	*out = v;
	return 0;
}

/* Collects the assignments: KEY=VALUE operands, --from-file KEY=PATH, and
 * the one bare KEY with --stdin. Exit code on failure (message printed). */
static int collect_assignments(struct assignment **out, int *nout, struct args *a, const char *addon)
{
	struct assignment *as = calloc((size_t)(a->npos + a->nfrom_file + 1), sizeof(*as));
	int n = 0, bare = 0, rc = WO_EXIT_OK;
	if (!as)
		return wo_cli_fail("out of memory");
	for (int i = 1; i < a->npos; i++) {
		const char *eq = strchr(a->pos[i], '=');
		if (!eq) {
			bare++;
			continue;
		}
		as[n].key = strndup(a->pos[i], (size_t)(eq - a->pos[i]));
		as[n].value = strdup(eq + 1);
		as[n++].from_argv = 1;
	}
	for (int i = 0; i < a->nfrom_file && rc == WO_EXIT_OK; i++) {
		const char *eq = strchr(a->from_file[i], '=');
		if (!eq || eq == a->from_file[i] || !eq[1]) {
			rc = usage_err("--from-file expects KEY=PATH, got '%s'", a->from_file[i]);
			break;
		}
		as[n].key = strndup(a->from_file[i], (size_t)(eq - a->from_file[i]));
		struct wo_buf what = WO_BUF_INIT;
		wo_buf_printf(&what, "setting '%s' of addon '%s'", as[n].key ? as[n].key : "", addon);
		if (wo_secret_read_file(&as[n].value, eq + 1, 65536, wo_buf_cstr(&what)) < 0)
			rc = wo_cli_fail("%s", wo_error_last());
		wo_buf_release(&what);
		n++;
	}
	if (rc == WO_EXIT_OK && a->from_stdin) {
		if (bare != 1) {
			rc = usage_err("--stdin sets one setting: name it without a value, "
			               "e.g. 'webops addon config %s KEY --stdin'", addon);
		} else {
			for (int i = 1; i < a->npos; i++)
				if (!strchr(a->pos[i], '='))
					as[n].key = strdup(a->pos[i]);
			if (read_stdin_value(&as[n++].value) < 0)
				rc = wo_cli_fail("cannot read the value from standard input: %s", wo_error_last());
		}
	}
	for (int i = 0; i < n && rc == WO_EXIT_OK; i++)
		if (!as[i].key || !as[i].value)
			rc = wo_cli_fail("out of memory");
	if (rc != WO_EXIT_OK) {
		assignments_free(as, n);
		return rc;
	}
	*out = as;
	*nout = n;
	return WO_EXIT_OK;
}

static int cmd_config(struct wo_cli *cli, struct args *a)
{
	if (a->npos < 1)
		return usage_err("config needs an addon NAME%s", "");
	struct assignment *as = NULL;
	int nas = 0;
	int rc = collect_assignments(&as, &nas, a, a->pos[0]);
	if (rc != WO_EXIT_OK)
		return rc;
	struct wo_addon_registry *reg;
	if (load_registry(&reg, cli) < 0) {
		assignments_free(as, nas);
		return WO_EXIT_ERROR;
	}
	struct wo_addon *ad = find_or_fail(reg, a->pos[0]);
	if (!ad) {
		wo_addon_registry_free(reg);
		assignments_free(as, nas);
		return WO_EXIT_ERROR;
	}
	const struct wo_addon_manifest *m = ad->manifest;
	int changed = 0;
	/* validate every assignment before storing any */
	for (int i = 1; i < a->npos; i++) {
		if (strchr(a->pos[i], '='))
			continue;
		if (!wo_addon_manifest_setting(m, a->pos[i]))
			rc = wo_cli_fail("addon '%s' has no setting '%s'; 'webops addon config %s' lists them", ad->name,
			                 a->pos[i], ad->name);
	}
	for (int i = 0; i < nas; i++) {
		const struct wo_addon_field *f = wo_addon_manifest_setting(m, as[i].key);
		if (!f) {
			rc = wo_cli_fail("addon '%s' has no setting '%s'; 'webops addon config %s' lists them", ad->name,
			                 as[i].key, ad->name);
		} else if (f->secret && as[i].from_argv) {
			/* the value has been in the process list already: say so, store nothing */
			rc = wo_cli_usage_error("addon", "secret setting '%s' is read from stdin or a file: "
			                        "webops addon config %s %s --stdin (or --from-file %s=PATH); nothing was "
			                        "stored, and the value given was visible to other users of this host",
			                        f->name, ad->name, f->name, f->name);
		} else {
			json_t *v = NULL;
			struct wo_buf err = WO_BUF_INIT;
			if (wo_addon_field_parse(&v, f, as[i].value, &err) < 0)
				rc = wo_cli_fail("invalid value for setting '%s' of addon '%s' (%s): %s", as[i].key, ad->name,
				                 wo_field_type_name(f->type), wo_buf_cstr(&err));
			json_decref(v);
			wo_buf_release(&err);
		}
	}
	for (int i = 0; i < a->nunset; i++)
		if (!wo_addon_manifest_setting(m, a->unset[i]))
			rc = wo_cli_fail("addon '%s' has no setting '%s'", ad->name, a->unset[i]);
	if (rc != WO_EXIT_OK) {
		wo_addon_registry_free(reg);
		assignments_free(as, nas);
		return rc;
	}
	for (int i = 0; i < a->nunset; i++) {
		if (wo_addon_setting_unset(reg, ad, a->unset[i]) < 0) {
			wo_addon_registry_free(reg);
			assignments_free(as, nas);
			return wo_cli_fail("%s", wo_error_last());
		}
		changed = 1;
	}
	int shown = 0;
	for (int i = 0; i < nas; i++) {
		if (wo_addon_setting_set(reg, ad, as[i].key, as[i].value) < 0) {
			wo_addon_registry_free(reg);
			assignments_free(as, nas);
			return wo_cli_fail("%s", wo_error_last());
		}
		const char *src = json_string_value(json_object_get(ad->settings_source, as[i].key));
		if (src && !strcmp(src, "env")) {
			char *env = wo_addon_setting_env_name(ad->name, as[i].key);
			fprintf(stderr, "webops: note: $%s overrides '%s' in this environment\n", env, as[i].key);
			free(env);
		}
		changed = 1;
	}
	assignments_free(as, nas);
	/* KEY alone prints that value (unless --stdin set it); nothing (or only changes) prints all */
	for (int i = 1; i < a->npos && !a->from_stdin; i++) {
		if (strchr(a->pos[i], '='))
			continue;
		const struct wo_addon_field *f = wo_addon_manifest_setting(m, a->pos[i]);
		json_t *v = json_object_get(ad->settings, a->pos[i]);
		char *t = f && f->secret && v ? strdup("********") : wo_addon_field_format(v);
		printf("%s\n", t ? t : "");
		free(t);
		shown = 1;
	}
	if (!shown && a->json) {
		json_t *o = json_object();
		for (size_t i = 0; i < m->nsettings; i++) {
			const struct wo_addon_field *f = &m->settings[i];
			json_t *v = json_object_get(ad->settings, f->name);
			json_object_set_new(o, f->name, json_pack("{s:O?, s:O?, s:s}", "value",
			                                          f->secret && v ? json_string("********") : v,
			                                          "source", json_object_get(ad->settings_source, f->name),
			                                          "type", wo_field_type_name(f->type)));
		}
		wo_out_json(o);
		json_decref(o);
	} else if (!shown) {
		if (changed)
			printf("updated settings of addon '%s':\n", ad->name);
		if (!m->nsettings)
			printf("addon '%s' has no settings\n", ad->name);
		for (size_t i = 0; i < m->nsettings; i++) {
			const struct wo_addon_field *f = &m->settings[i];
			const char *src = json_string_value(json_object_get(ad->settings_source, f->name));
			print_field(f, json_object_get(ad->settings, f->name), src ? src : "");
		}
	}
	wo_addon_registry_free(reg);
	return WO_EXIT_OK;
}

static int cmd_status(struct wo_cli *cli, struct args *a)
{
	if (a->npos > 1)
		return usage_err("unexpected argument '%s'", a->pos[1]);
	struct wo_addon_registry *reg;
	if (load_registry(&reg, cli) < 0)
		return WO_EXIT_ERROR;
	if (a->npos == 1 && !find_or_fail(reg, a->pos[0])) {
		wo_addon_registry_free(reg);
		return WO_EXIT_ERROR;
	}
	json_t *all = NULL;
	if (wo_addon_status_refresh(&all, reg, wo_cli_db(cli), a->npos ? a->pos[0] : NULL) < 0) {
		wo_addon_registry_free(reg);
		return wo_cli_fail("%s", wo_error_last());
	}
	wo_addon_registry_free(reg);
	int bad = 0;
	const char *k;
	json_t *v;
	json_object_foreach(all, k, v) {
		const char *st = json_string_value(json_object_get(v, "state"));
		if (st && strcmp(st, "running") && strcmp(st, "ok"))
			bad = 1;
	}
	if (a->json) {
		wo_out_json(all);
	} else if (json_object_size(all) == 0) {
		printf(a->npos ? "addon '%s' has no status hook (or is disabled)\n" : "no enabled addon has a status hook%s\n",
		       a->npos ? a->pos[0] : "");
	} else {
		json_object_foreach(all, k, v) {
			printf("%s: %s\n", k, json_string_value(json_object_get(v, "state")));
			const char *dk;
			json_t *dv;
			json_object_foreach(v, dk, dv) {
				if (!strcmp(dk, "state"))
					continue;
				printf("  %-20s ", dk);
				const char *text = json_string_value(dv) ? json_string_value(dv) : "";
				/* a list (proxy-nginx's certificates) is counted, not dumped */
				json_t *list = text[0] == '[' ? json_loads(text, 0, NULL) : NULL;
				if (json_is_array(list))
					printf("%zu item(s) (--json shows them%s)", json_array_size(list),
					       !strcmp(dk, "certificates") ? "; so does webops tls list" : "");
				else
					wo_out_escaped(stdout, text);
				json_decref(list);
				putchar('\n');
			}
		}
	}
	json_decref(all);
	return bad ? WO_EXIT_ERROR : WO_EXIT_OK;
}

/* Each subcommand: its spec (through parse_args) and the function doing it. */
#define ADDON_SUB(fn_name, path, operands, min, max, summary, details, mask, call) \
	static int fn_name(struct wo_cli *cli, int argc, char **argv) \
	{ \
		struct args a; \
		int parsed = parse_args(&a, argc, argv, path, operands, min, max, summary, details, mask); \
		int rc = parsed != WO_OPT_OK ? wo_opts_exit(parsed) : (call); \
		args_release(&a); \
		return rc; \
	}

ADDON_SUB(sub_list, "addon list", NULL, 0, 0, "The addons found in the addons path and their state.", ADDONS_PATH_NOTE,
          A_JSON, cmd_list(cli, &a))
ADDON_SUB(sub_info, "addon info", "NAME", 1, 1, "An addon's manifest, hooks, fields, settings, load state and metrics.",
          NULL, A_JSON, cmd_info(cli, &a))
ADDON_SUB(sub_status, "addon status", "[NAME]", 0, 1,
          "What each enabled addon (or NAME) says of its own state now (the docker addon: its engine running,\n"
          "with version, storage driver, cgroup version and nvidia runtime; unconfigured; or failed, with the\n"
          "reason). Exit 1 when one is not running.", NULL, A_JSON, cmd_status(cli, &a))
ADDON_SUB(sub_enable, "addon enable", "NAME", 1, 1, "Lets NAME's hooks run and its fields show.", NULL, 0,
          cmd_enable(cli, &a, 1))
ADDON_SUB(sub_disable, "addon disable", "NAME", 1, 1, "Stops NAME's hooks (stored field values are kept).", NULL, 0,
          cmd_enable(cli, &a, 0))
ADDON_SUB(sub_check, "addon check", "DIR", 1, 1, "Validates DIR/addon.yaml and its library (in a child process).",
          NULL, A_JSON, cmd_check(cli, &a))
ADDON_SUB(sub_new, "addon new", "NAME", 1, 1, "Scaffolds a working addon in DIR (default ./NAME).", NULL,
          A_DIR | A_FORCE, cmd_new(cli, &a))
ADDON_SUB(sub_config, "addon config", "NAME [KEY[=VALUE]...]", 1, -1,
          "Shows or sets NAME's settings (see its settings_schema). KEY --stdin sets KEY to what standard\n"
          "input holds.",
          "$WEBOPS_<ADDON>_<KEY> overrides a setting for one process. Secret settings are set only with\n"
          "--stdin or --from-file, never on the command line, where other users can read them.\n",
          A_UNSET | A_STDIN | A_FROM_FILE | A_JSON, cmd_config(cli, &a))

int wo_cmd_addon(struct wo_cli *cli, int argc, char **argv)
{
	static const struct wo_subcmd subs[] = {
		{ "list", sub_list, NULL, "addons found in the addons path and their state", "ls" },
		{ "info", sub_info, "NAME", "manifest, hooks, fields, settings, load state, metrics", "show" },
		{ "status", sub_status, "[NAME]", "what each enabled addon (or NAME) says of its own state now", NULL },
		{ "enable", sub_enable, "NAME", "let NAME's hooks run and its fields show", NULL },
		{ "disable", sub_disable, "NAME", "stop NAME's hooks (stored field values are kept)", NULL },
		{ "check", sub_check, "DIR", "validate DIR/addon.yaml and its library (in a child process)", NULL },
		{ "new", sub_new, "NAME", "scaffold a working addon in DIR (default ./NAME)", NULL },
		{ "config", sub_config, "NAME [KEY[=VALUE]...]", "show or set NAME's settings", NULL },
		WO_SUBCMD_END,
	};
	return wo_subcmd_run("addon", "Addons: the plugins that build, run, front and watch deployments.\n"
	                     ADDONS_PATH_NOTE, subs, cli, argc, argv);
}

/* ---- --set for `webops deployment create|update` ---- */

int wo_cli_apply_sets(struct wo_cli *cli, json_t *addon_fields, char *const *sets, int nsets, int creating)
{
	PGconn *conn = wo_cli_db(cli);
	if (!conn)
		return -1; /* the error is set */
	struct wo_addon_registry *reg;
	if (wo_addon_registry_load(&reg, cli->cfg.addons_path, conn) < 0)
		return -1;
	struct wo_buf err = WO_BUF_INIT;
	int bad = 0;
	for (int i = 0; i < nsets; i++) {
		const char *eq = strchr(sets[i], '=');
		if (!eq || eq == sets[i]) {
			wo_buf_printf(&err, "%s--set expects FIELD=VALUE, got '%s'", bad ? "\n" : "", sets[i]);
			bad = 1;
			continue;
		}
		char *key = strndup(sets[i], (size_t)(eq - sets[i]));
		size_t before = err.len;
		if (bad)
			wo_buf_putc(&err, '\n');
		if (!key || wo_addon_fields_apply(addon_fields, reg, key, eq + 1, &err) < 0)
			bad = 1;
		else
			wo_buf_truncate(&err, before);
		free(key);
	}
	if (!bad && creating && wo_addon_fields_defaults(addon_fields, reg) < 0) {
		wo_buf_puts(&err, wo_error_last());
		bad = 1;
	}
	if (!bad && wo_addon_fields_validate(addon_fields, reg, &err) < 0)
		bad = 1;
	wo_addon_registry_free(reg);
	if (bad)
		wo_error_set("%s", wo_buf_cstr(&err));
	wo_buf_release(&err);
	return bad ? -1 : 0;
}
