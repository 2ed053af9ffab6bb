/* `webops addon new`: writes a working addon (manifest, C source with one
 * hook per main event that runs a program and renders a template, the
 * template, a Makefile using pkg-config webops-addon). */
#include "addon/scaffold.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "webops/addon.h"
#include "util/banned.h"

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/* Replaces every "@NAME@" / "@IDENT@" / "@PKGPATH@" in tmpl. */
static char *expand(const char *tmpl, const char *name, const char *ident, const char *pkgline)
{
	struct wo_buf b = WO_BUF_INIT;
	for (const char *p = tmpl; *p;) {
		if (!strncmp(p, "@NAME@", 6)) {
			wo_buf_puts(&b, name);
			p += 6;
		} else if (!strncmp(p, "@IDENT@", 7)) {
			wo_buf_puts(&b, ident);
			p += 7;
		} else if (!strncmp(p, "@PKGPATH@", 9)) {
			wo_buf_puts(&b, pkgline);
			p += 9;
		} else {
			wo_buf_putc(&b, *p++);
		}
	}
	return wo_buf_detach(&b);
}

#define WO_STR_(x) #x
#define WO_STR(x) WO_STR_(x)

static const char manifest_tmpl[] =
	"# @NAME@: a webops addon. docs/ADDONS.md describes every key.\n"
	"name: @NAME@\n"
	"version: 0.1.0\n"
	"description: Says hello during deploys\n"
	"author: you\n"
	"license: MIT\n"
	"library: @NAME@.so          # built by 'make', relative to this file\n"
	"abi: \"" WO_STR(WEBOPS_ADDON_ABI_MAJOR) "." WO_STR(WEBOPS_ADDON_ABI_MINOR) "\"\n"
	"\n"
	"# Settings of the addon as a whole: 'webops addon config @NAME@ greeting=Hi'\n"
	"# or WEBOPS_@UPPER@_GREETING=Hi in the environment.\n"
	"settings_schema:\n"
	"  greeting:\n"
	"    type: string\n"
	"    default: Hello\n"
	"    description: What the hooks say\n"
	"\n"
	"# Fields this addon adds to every deployment:\n"
	"# 'webops deployment update NAME --set @IDENT@_enabled=false'\n"
	"deployment_fields:\n"
	"  @IDENT@_enabled:\n"
	"    type: bool\n"
	"    default: true\n"
	"    label: Run @NAME@\n"
	"    help: Run @NAME@'s hooks for this deployment\n"
	"\n"
	"hooks:\n"
	"  pre_deploy:\n"
	"    - handler: @IDENT@_pre_deploy\n"
	"      priority: 100           # lower runs earlier; ties by addon name\n"
	"      timeout_ms: 60000\n"
	"      enforcement: required   # a failure stops the deploy\n"
	"      conditions:\n"
	"        @IDENT@_enabled: true\n"
	"  post_deploy:\n"
	"    - handler: @IDENT@_post_deploy\n"
	"      enforcement: optional   # a failure is logged, the deploy goes on\n"
	"  health:\n"
	"    - handler: @IDENT@_health\n"
	"      timeout_ms: 5000\n";

static const char source_tmpl[] =
	"/* @NAME@: a webops addon. Each handler runs in a child process of webops;\n"
	" * host-> is the function table declared in <webops/addon.h>. */\n"
	"#include <webops/addon.h>\n"
	"\n"
	"WEBOPS_ADDON(\"@NAME@\", \"0.1.0\");\n"
	"\n"
	"WEBOPS_HOOK(@IDENT@_pre_deploy)\n"
	"{\n"
	"\tconst char *greeting = host->setting(ctx, \"greeting\");\n"
	"\tconst char *name = host->deployment(ctx, \"name\");\n"
	"\thost->log(ctx, WEBOPS_LOG_INFO, \"%s from @NAME@, deploying %s (commit '%s', source '%s')\",\n"
	"\t          greeting ? greeting : \"Hello\", name ? name : \"?\", host->commit(ctx), host->source_dir(ctx));\n"
	"\t/* a program, with an argument vector (never a shell): its output goes\n"
	"\t * to the run log line by line; the run's cancel or the timeout stops it */\n"
	"\tconst char *const argv[] = { \"uname\", \"-sr\", NULL };\n"
	"\tstruct webops_run_opts o = { .size = sizeof(o), .timeout_ms = 10000, .log = 1 };\n"
	"\tstruct webops_run_result r;\n"
	"\tif (host->run(ctx, argv, &o, &r) < 0 || r.exit_code != 0) {\n"
	"\t\thost->set_error(ctx, \"uname failed: %s\", r.exit_code > 0 ? \"see its output\" : host->last_error(ctx));\n"
	"\t\treturn WEBOPS_ERROR;\n"
	"\t}\n"
	"\t/* outputs are seen by later hooks and kept with the run */\n"
	"\thost->output_set(ctx, \"greeted\", name ? name : \"\");\n"
	"\treturn WEBOPS_OK;\n"
	"}\n"
	"\n"
	"WEBOPS_HOOK(@IDENT@_post_deploy)\n"
	"{\n"
	"\t/* templates/summary.txt.mustache beside addon.yaml, with JSON data;\n"
	"\t * every {{value}} goes through the escaper named last */\n"
	"\tconst char *text = host->render(ctx, \"summary.txt\", host->deployment_json(ctx), \"none\");\n"
	"\tif (!text) {\n"
	"\t\thost->set_error(ctx, \"%s\", host->last_error(ctx));\n"
	"\t\treturn WEBOPS_ERROR;\n"
	"\t}\n"
	"\tconst char *greeted = host->output_get(ctx, NULL, \"greeted\");\n"
	"\thost->log(ctx, WEBOPS_LOG_INFO, \"@NAME@ post_deploy (greeted: %s): %s\", greeted ? greeted : \"nobody\", text);\n"
	"\treturn WEBOPS_OK;\n"
	"}\n"
	"\n"
	"WEBOPS_HOOK(@IDENT@_health)\n"
	"{\n"
	"\tif (host->cancelled(ctx)) {\n"
	"\t\thost->set_error(ctx, \"cancelled\");\n"
	"\t\treturn WEBOPS_ERROR;\n"
	"\t}\n"
	"\treturn WEBOPS_OK;\n"
	"}\n";

static const char summary_tmpl[] =
	"{{name}} is deployed from {{repo_url}} ({{branch}})\n";

static const char makefile_tmpl[] =
	"# Builds @NAME@.so against the installed webops-addon.pc (pkg-config).\n"
	"PKG_CONFIG ?= pkg-config\n"
	"@PKGPATH@"
	"CFLAGS ?= -O2 -g -Wall -Wextra\n"
	"WEBOPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags webops-addon)\n"
	"WEBOPS_LIBS := $(shell $(PKG_CONFIG) --libs webops-addon)\n"
	"ifeq ($(strip $(WEBOPS_LIBS)),)\n"
	"$(error pkg-config cannot find webops-addon: install webops, or set PKG_CONFIG_PATH to a webops build directory)\n"
	"endif\n"
	"\n"
	"all: @NAME@.so\n"
	"\n"
	"@NAME@.so: @NAME@.c\n"
	"\t$(CC) $(CFLAGS) $(WEBOPS_CFLAGS) -o $@ $< $(LDFLAGS) $(WEBOPS_LIBS)\n"
	"\n"
	"clean:\n"
	"\trm -f @NAME@.so\n"
	"\n"
	".PHONY: all clean\n";

static const char readme_tmpl[] =
	"# @NAME@\n"
	"\n"
	"A webops addon. Build it and point webops at the folder that holds it:\n"
	"\n"
	"    make\n"
	"    export WEBOPS_ADDONS_PATH=\"$(dirname \"$PWD\"):$WEBOPS_ADDONS_PATH\"\n"
	"    webops addon check .\n"
	"    webops addon list\n"
	"    webops hook run pre_deploy DEPLOYMENT\n";

static int write_new(const char *dir, const char *file, const char *text, int force)
{
	struct wo_buf p = WO_BUF_INIT;
	wo_buf_printf(&p, "%s/%s", dir, file);
	struct stat st;
	if (!force && lstat(wo_buf_cstr(&p), &st) == 0) {
		wo_error_set("'%s' already exists (use --force to overwrite)", wo_buf_cstr(&p));
		wo_buf_release(&p);
		return -1;
	}
	int rc = wo_fs_write_file_atomic(wo_buf_cstr(&p), text, strlen(text), 0644);
	if (rc < 0)
		wo_error_prefix("cannot write '%s'", wo_buf_cstr(&p));
	wo_buf_release(&p);
	return rc;
}

int wo_addon_scaffold(const char *name, const char *dir, const char *pkgconfig_dir, int force)
{
	if (!valid_name(name))
		return wo_error_set("invalid addon name '%s': use lowercase letters, digits, '_' and '-', "
		                    "starting with a letter, at most 63 characters", name);
	char ident[64], upper[64];
	size_t i;
	for (i = 0; name[i]; i++) {
		ident[i] = name[i] == '-' ? '_' : name[i];
		upper[i] = (char)(ident[i] >= 'a' && ident[i] <= 'z' ? ident[i] - 'a' + 'A' : ident[i]);
	}
	ident[i] = upper[i] = '\0';
	struct wo_buf tdir = WO_BUF_INIT;
	wo_buf_printf(&tdir, "%s/templates", dir);
	int made = wo_fs_mkdir_p(tdir.ptr, 0755);
	wo_buf_release(&tdir);
	if (made < 0)
		return wo_error_prefix("cannot create '%s'", dir);

	struct wo_buf pkg = WO_BUF_INIT;
	if (pkgconfig_dir && *pkgconfig_dir)
		wo_buf_printf(&pkg, "# webops was run from its build tree: fall back to that tree's webops-addon.pc\n"
		              "WEBOPS_BUILD_DIR ?= %s\n"
		              "override PKG_CONFIG := PKG_CONFIG_PATH='$(PKG_CONFIG_PATH)$(if $(PKG_CONFIG_PATH),:)"
		              "$(WEBOPS_BUILD_DIR)' $(PKG_CONFIG)\n",
		              pkgconfig_dir);
	struct {
		const char *file, *tmpl;
	} files[] = {
		{"addon.yaml", manifest_tmpl},
		{NULL, source_tmpl},
		{"Makefile", makefile_tmpl},
		{"README.md", readme_tmpl},
		{"templates/summary.txt.mustache", summary_tmpl},
	};
	int rc = 0;
	for (size_t k = 0; rc == 0 && k < sizeof(files) / sizeof(files[0]); k++) {
		char *text = expand(files[k].tmpl, name, ident, wo_buf_cstr(&pkg));
		/* @UPPER@ only appears in the manifest comment */
		struct wo_buf t = WO_BUF_INIT;
		for (const char *p = text; *p;) {
			if (!strncmp(p, "@UPPER@", 7)) {
				wo_buf_puts(&t, upper);
				p += 7;
			} else {
				wo_buf_putc(&t, *p++);
			}
		}
		free(text);
		struct wo_buf fname = WO_BUF_INIT;
		if (files[k].file)
			wo_buf_puts(&fname, files[k].file);
		else
			wo_buf_printf(&fname, "%s.c", name);
		rc = write_new(dir, wo_buf_cstr(&fname), wo_buf_cstr(&t), force);
		wo_buf_release(&fname);
		wo_buf_release(&t);
	}
	wo_buf_release(&pkg);
	return rc;
}
