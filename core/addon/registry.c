/* The addon registry: discovery in the addons path, manifest parsing,
 * library probing, and each addon's record in PostgreSQL (enabled flag,
 * settings, metrics). */
#include "addon/addon.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addon/field.h"
#include "addon/loader.h"
#include "store/addons.h"
#include "store/secrets.h"
#include "util/error.h"
#include "util/secret.h"
#include "util/banned.h"

static void add_warning(struct wo_addon_registry *reg, const char *msg)
{
	char **nw = realloc(reg->warnings, (reg->nwarnings + 1) * sizeof(*nw));
	if (!nw)
		return;
	reg->warnings = nw;
	nw[reg->nwarnings] = strdup(msg);
	if (nw[reg->nwarnings])
		reg->nwarnings++;
}

static void metrics_release(struct wo_addon_metrics *m)
{
	free(m->last_run_at);
	free(m->last_error);
	memset(m, 0, sizeof(*m));
}

void wo_addon_free(struct wo_addon *a)
{
	if (!a)
		return;
	free(a->name);
	free(a->dir);
	wo_addon_manifest_free(a->manifest);
	free(a->load_error);
	free(a->lib_version);
	json_decref(a->settings_stored);
	json_decref(a->settings);
	json_decref(a->settings_source);
	metrics_release(&a->metrics);
	free(a);
}

void wo_addon_registry_free(struct wo_addon_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->naddons; i++)
		wo_addon_free(reg->addons[i]);
	free(reg->addons);
	for (size_t i = 0; i < reg->nwarnings; i++)
		free(reg->warnings[i]);
	free(reg->warnings);
	free(reg);
}

struct wo_addon *wo_addon_registry_find(const struct wo_addon_registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->naddons; i++)
		if (!reg->addons[i]->duplicate && strcmp(reg->addons[i]->name, name) == 0)
			return reg->addons[i];
	return NULL;
}

int wo_addon_runs_deployments(const struct wo_addon_registry *reg, const char *name)
{
	const struct wo_addon *a = reg && name ? wo_addon_registry_find(reg, name) : NULL;
	for (size_t c = 0; a && a->manifest && c < a->manifest->ncapabilities; c++)
		if (!strcmp(a->manifest->capabilities[c], "run"))
			return 1;
	return 0;
}

char *wo_addon_setting_env_name(const char *addon, const char *key)
{
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_printf(&b, "WEBOPS_%s_%s", addon, key);
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.ptr[i];
		b.ptr[i] = c == '-' ? '_' : (char)toupper(c);
	}
	return wo_buf_detach(&b);
}

char *wo_addon_setting_host_only(const struct wo_addon *a, const struct wo_addon_field *f)
{
	if (!f->host_scope)
		return NULL;
	char *env = wo_addon_setting_env_name(a->name, f->name);
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_printf(&b, "setting '%s' of addon '%s' is a host setting: it is changed on the host only, with "
		      "'webops addon config %s %s=VALUE' (or %s in webopsd's environment)", f->name, a->name, a->name,
		      f->name, env ? env : "a variable");
	free(env);
	return wo_buf_detach(&b);
}

/* Secret settings are stored sealed (util/secret.h): a JSON string holding
 * the sealed JSON text of the value, in settings_stored as in the table.
 * *out gets the opened value (NULL for a value stored in plaintext before
 * encryption, which is used as it is); -1 with a warning when it cannot be
 * decrypted. */
static int open_setting(json_t **out, struct wo_addon_registry *reg, const struct wo_addon *a,
                        const struct wo_addon_field *f, const json_t *stored)
{
	*out = NULL;
	if (!json_is_string(stored) || !wo_secret_is_sealed(json_string_value(stored)))
		return 0;
	struct wo_buf what = WO_BUF_INIT;
	wo_buf_printf(&what, "the setting '%s' of addon '%s'", f->name, a->name);
	char *text = NULL;
	int rc = wo_secret_open(&text, json_string_value(stored), wo_buf_cstr(&what));
	if (rc == 0) {
		*out = json_loads(text, JSON_DECODE_ANY, NULL);
		if (!*out)
			rc = wo_error_set("cannot decrypt %s: the stored value is damaged", wo_buf_cstr(&what));
	}
	wo_secret_free(text);
	wo_buf_release(&what);
	if (rc < 0) {
		struct wo_buf w = WO_BUF_INIT;
		wo_buf_printf(&w, "%s; the setting is ignored", wo_error_last());
		add_warning(reg, wo_buf_cstr(&w));
		wo_buf_release(&w);
	}
	return rc;
}

/* The sealed form of a secret setting's value, as a JSON string. */
static int seal_setting(json_t **out, PGconn *conn, const json_t *v)
{
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT), *sealed = NULL;
	if (!text)
		return wo_error_set("out of memory");
	int rc = wo_secrets_ready(conn);
	if (rc == 0)
		rc = wo_secret_seal(&sealed, text, strlen(text));
	wo_secret_free(text);
	if (rc == 0 && !(*out = json_string(sealed)))
		rc = wo_error_set("out of memory");
	free(sealed);
	return rc;
}

/* Seals in place the secret settings stored in plaintext before secrets
 * were encrypted (once: afterwards there are none). The row is matched by
 * its xmin, so a change made meanwhile is left alone, and only ciphertext
 * is sent. */
static void seal_plaintext_settings(struct wo_addon_registry *reg, struct wo_addon *a, const char *xmin)
{
	json_t *patch = NULL;
	for (size_t i = 0; a->settings_stored && i < a->manifest->nsettings; i++) {
		const struct wo_addon_field *f = &a->manifest->settings[i];
		json_t *v = json_object_get(a->settings_stored, f->name), *sealed = NULL;
		if (!f->secret || !v || (json_is_string(v) && wo_secret_is_sealed(json_string_value(v))))
			continue;
		if (seal_setting(&sealed, reg->conn, v) < 0) {
			struct wo_buf w = WO_BUF_INIT;
			wo_buf_printf(&w, "addon '%s': cannot encrypt the stored setting '%s': %s", a->name, f->name,
			              wo_error_last());
			add_warning(reg, wo_buf_cstr(&w));
			wo_buf_release(&w);
			continue;
		}
		if (!patch)
			patch = json_object();
		json_object_set_new(patch, f->name, sealed);
	}
	if (!patch)
		return;
	char *pt = json_dumps(patch, JSON_COMPACT);
	if (pt && wo_addons_settings_merge(reg->conn, a->name, pt, xmin) == 1)
		json_object_update(a->settings_stored, patch);
	free(pt);
	json_decref(patch);
}

/* Effective settings: schema defaults, then stored values, then the environment. */
static void compute_settings(struct wo_addon_registry *reg, struct wo_addon *a)
{
	json_decref(a->settings);
	json_decref(a->settings_source);
	a->settings = json_object();
	a->settings_source = json_object();
	if (!a->settings_stored)
		a->settings_stored = json_object();
	const struct wo_addon_manifest *m = a->manifest;
	for (size_t i = 0; i < m->nsettings; i++) {
		const struct wo_addon_field *f = &m->settings[i];
		if (f->dflt) {
			json_object_set(a->settings, f->name, f->dflt);
			json_object_set_new(a->settings_source, f->name, json_string("default"));
		}
		json_t *stored = json_object_get(a->settings_stored, f->name), *opened = NULL;
		struct wo_buf err = WO_BUF_INIT;
		if (stored && f->secret && open_setting(&opened, reg, a, f, stored) < 0)
			stored = NULL;
		else if (opened)
			stored = opened;
		if (stored && wo_addon_field_check(f, stored, &err) == 0) {
			json_object_set(a->settings, f->name, stored);
			json_object_set_new(a->settings_source, f->name, json_string("stored"));
		} else if (stored) {
			struct wo_buf w = WO_BUF_INIT;
			wo_buf_printf(&w, "addon '%s': stored setting '%s' ignored: %s", a->name, f->name, wo_buf_cstr(&err));
			add_warning(reg, wo_buf_cstr(&w));
			wo_buf_release(&w);
		}
		wo_buf_clear(&err);
		char *env = wo_addon_setting_env_name(a->name, f->name);
		const char *ev = env ? getenv(env) : NULL;
		json_t *v = NULL;
		if (ev && wo_addon_field_parse(&v, f, ev, &err) == 0) {
			json_object_set_new(a->settings, f->name, v);
			json_object_set_new(a->settings_source, f->name, json_string("env"));
		} else if (ev) {
			struct wo_buf w = WO_BUF_INIT;
			wo_buf_printf(&w, "addon '%s': ignoring $%s: %s", a->name, env, wo_buf_cstr(&err));
			add_warning(reg, wo_buf_cstr(&w));
			wo_buf_release(&w);
		}
		free(env);
		wo_buf_release(&err);
		json_decref(opened);
	}
}

static int addon_cmp(const void *x, const void *y)
{
	const struct wo_addon *a = *(const struct wo_addon *const *)x;
	const struct wo_addon *b = *(const struct wo_addon *const *)y;
	int c = strcmp(a->name, b->name);
	if (c)
		return c;
	/* first found stays first */
	return a->duplicate - b->duplicate;
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static const char *base_name(const char *dir)
{
	const char *s = strrchr(dir, '/');
	return s && s[1] ? s + 1 : dir;
}

/* Builds an addon from a folder: manifest, then (when valid) a probe. */
static struct wo_addon *addon_from_dir(const char *dir, int probe)
{
	struct wo_addon *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->dir = strdup(dir);
	a->enabled = 1;
	a->abi_major = a->abi_minor = -1;
	struct wo_buf path = WO_BUF_INIT;
	wo_buf_printf(&path, "%s/addon.yaml", dir);
	if (!a->dir || wo_addon_manifest_load(&a->manifest, wo_buf_cstr(&path)) < 0) {
		wo_buf_release(&path);
		wo_addon_free(a);
		return NULL;
	}
	wo_buf_release(&path);
	a->name = strdup(a->manifest->name ? a->manifest->name : base_name(dir));
	if (!a->name) {
		wo_addon_free(a);
		return NULL;
	}
	struct wo_buf err = WO_BUF_INIT;
	for (size_t i = 0; i < a->manifest->nerrors; i++)
		wo_buf_printf(&err, "%s%s", i ? "\n" : "", a->manifest->errors[i]);
	if (a->manifest->nerrors)
		a->load_error = wo_buf_detach(&err);
	wo_buf_release(&err);
	if (!a->manifest->nerrors && probe)
		wo_addon__probe(a);
	return a;
}

int wo_addon_check_dir(struct wo_addon **out, const char *dir)
{
	struct wo_addon *a = addon_from_dir(dir, 1);
	if (!a)
		return wo_error_set("out of memory");
	a->settings_stored = json_object();
	struct wo_addon_registry tmp = {0};
	compute_settings(&tmp, a);
	for (size_t i = 0; i < tmp.nwarnings; i++)
		free(tmp.warnings[i]);
	free(tmp.warnings);
	*out = a;
	return 0;
}

static int has_manifest(const char *dir)
{
	struct wo_buf p = WO_BUF_INIT;
	wo_buf_printf(&p, "%s/addon.yaml", dir);
	struct stat st;
	int r = stat(wo_buf_cstr(&p), &st) == 0 && S_ISREG(st.st_mode);
	wo_buf_release(&p);
	return r;
}

/* Folders of one path entry holding an addon.yaml, sorted. */
static void scan_dir(struct wo_addon_registry *reg, const char *dir, char ***out, size_t *nout)
{
	if (has_manifest(dir)) {
		char **nl = realloc(*out, (*nout + 1) * sizeof(**out));
		if (nl) {
			*out = nl;
			if ((nl[*nout] = strdup(dir)))
				(*nout)++;
		}
		return;
	}
	DIR *d = opendir(dir);
	if (!d) {
		struct wo_buf w = WO_BUF_INIT;
		wo_buf_printf(&w, "cannot read addons folder '%s': %s", dir, strerror(errno));
		add_warning(reg, wo_buf_cstr(&w));
		wo_buf_release(&w);
		return;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		struct wo_buf p = WO_BUF_INIT;
		wo_buf_printf(&p, "%s/%s", dir, e->d_name);
		if (has_manifest(wo_buf_cstr(&p))) {
			char **nl = realloc(names, (n + 1) * sizeof(*nl));
			if (nl) {
				names = nl;
				names[n++] = wo_buf_detach(&p);
				continue;
			}
		}
		wo_buf_release(&p);
	}
	closedir(d);
	if (!n)
		return;
	qsort(names, n, sizeof(*names), name_cmp);
	char **nl = realloc(*out, (*nout + n + 1) * sizeof(**out));
	if (!nl) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return;
	}
	*out = nl;
	memcpy(nl + *nout, names, n * sizeof(*names));
	*nout += n;
	free(names);
}

/* ---- PostgreSQL ---- */

static int db_read(struct wo_addon_registry *reg);

/* Records each addon found on disk, then reads the database's state. */
static int db_sync(struct wo_addon_registry *reg)
{
	PGconn *conn = reg->conn;
	for (size_t i = 0; i < reg->naddons; i++) {
		struct wo_addon *a = reg->addons[i];
		if (a->duplicate || !wo_addon_name_valid(a->manifest->name))
			continue;
		/* one addon's row must not keep the others from loading */
		if (wo_addons_record(conn, a->name, a->manifest->version, a->dir, a->load_error) < 0) {
			struct wo_buf w = WO_BUF_INIT;
			wo_buf_printf(&w, "cannot record addon '%s': %s", a->name, wo_error_last());
			add_warning(reg, wo_buf_cstr(&w));
			wo_buf_release(&w);
		}
	}
	return db_read(reg);
}

/* Enabled flags, stored settings and metrics of the addons in reg. */
static int db_read(struct wo_addon_registry *reg)
{
	struct wo_addons_row *rows = NULL;
	size_t n = 0;
	if (wo_addons_rows_load(&rows, &n, reg->conn) < 0)
		return wo_error_prefix("cannot read addons");
	for (size_t r = 0; r < n; r++) {
		struct wo_addons_row *row = &rows[r];
		struct wo_addon *a = wo_addon_registry_find(reg, row->name);
		if (!a)
			continue;
		/* the row's strings and settings move to the addon */
		a->enabled = row->enabled;
		json_decref(a->settings_stored);
		a->settings_stored = row->settings;
		row->settings = NULL;
		metrics_release(&a->metrics);
		a->metrics.success_count = row->success_count;
		a->metrics.failure_count = row->failure_count;
		a->metrics.last_run_at = row->last_run_at;
		row->last_run_at = NULL;
		a->metrics.last_duration_ms = row->last_duration_ms;
		a->metrics.last_error = row->last_error;
		row->last_error = NULL;
		if (!a->duplicate && a->manifest->nsettings)
			seal_plaintext_settings(reg, a, row->xmin);
	}
	wo_addons_rows_free(rows, n);
	return 0;
}

int wo_addon_registry_load(struct wo_addon_registry **out, const char *addons_path, PGconn *conn)
{
	struct wo_addon_registry *reg = calloc(1, sizeof(*reg));
	if (!reg)
		return wo_error_set("out of memory");
	reg->conn = conn;

	char **dirs = NULL;
	size_t ndirs = 0;
	const char *p = addons_path ? addons_path : "";
	while (*p) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		if (n) {
			char *entry = strndup(p, n);
			while (entry && strlen(entry) > 1 && entry[strlen(entry) - 1] == '/')
				entry[strlen(entry) - 1] = '\0';
			if (entry)
				scan_dir(reg, entry, &dirs, &ndirs);
			free(entry);
		}
		if (!colon)
			break;
		p = colon + 1;
	}

	reg->addons = calloc(ndirs ? ndirs : 1, sizeof(*reg->addons));
	if (!reg->addons) {
		for (size_t i = 0; i < ndirs; i++)
			free(dirs[i]);
		free(dirs);
		wo_addon_registry_free(reg);
		return wo_error_set("out of memory");
	}
	for (size_t i = 0; i < ndirs; i++) {
		/* a folder reached twice through the path (same real path) counts once */
		char *real = realpath(dirs[i], NULL);
		int seen = 0;
		for (size_t j = 0; real && j < reg->naddons; j++) {
			char *other = realpath(reg->addons[j]->dir, NULL);
			seen |= other && strcmp(other, real) == 0;
			free(other);
		}
		free(real);
		if (seen) {
			free(dirs[i]);
			continue;
		}
		struct wo_addon *a = addon_from_dir(dirs[i], 0);
		free(dirs[i]);
		if (!a)
			continue;
		struct wo_addon *first = a->manifest->name ? wo_addon_registry_find(reg, a->name) : NULL;
		if (first) {
			a->duplicate = 1;
			a->enabled = 0;
			wo_addon_manifest_error(a->manifest, 0, "duplicate addon name '%s' (already loaded from '%s'); "
			                        "this one is ignored", a->name, first->manifest->path);
			struct wo_buf e = WO_BUF_INIT;
			if (a->load_error)
				wo_buf_printf(&e, "%s\n", a->load_error);
			wo_buf_puts(&e, a->manifest->errors[a->manifest->nerrors - 1]);
			free(a->load_error);
			a->load_error = wo_buf_detach(&e);
		}
		reg->addons[reg->naddons++] = a;
		for (size_t w = 0; w < a->manifest->nwarnings; w++)
			add_warning(reg, a->manifest->warnings[w]);
	}
	free(dirs);
	for (size_t i = 0; i < reg->naddons; i++) {
		struct wo_addon *a = reg->addons[i];
		if (!a->duplicate && !a->load_error)
			wo_addon__probe(a);
	}
	qsort(reg->addons, reg->naddons, sizeof(*reg->addons), addon_cmp);

	reg->nwarnings_scan = reg->nwarnings;
	if (conn && db_sync(reg) < 0) {
		wo_addon_registry_free(reg);
		return -1;
	}
	for (size_t i = 0; i < reg->naddons; i++)
		compute_settings(reg, reg->addons[i]);
	*out = reg;
	return 0;
}

int wo_addon_registry_refresh(struct wo_addon_registry *reg, PGconn *conn)
{
	reg->conn = conn;
	if (!conn)
		return 0;
	/* what is on disk was recorded when reg was loaded: only read here */
	if (db_read(reg) < 0)
		return -1;
	/* settings' warnings are made again below */
	while (reg->nwarnings > reg->nwarnings_scan)
		free(reg->warnings[--reg->nwarnings]);
	for (size_t i = 0; i < reg->naddons; i++)
		compute_settings(reg, reg->addons[i]);
	return 0;
}

int wo_addon_set_enabled(struct wo_addon_registry *reg, struct wo_addon *a, int enabled)
{
	if (!reg->conn)
		return wo_error_set("cannot %s addon '%s': no database", enabled ? "enable" : "disable", a->name);
	if (a->duplicate || !a->manifest->name)
		return wo_error_set("cannot %s addon '%s': its manifest is broken", enabled ? "enable" : "disable", a->name);
	if (wo_addons_set_enabled(reg->conn, a->name, enabled) < 0)
		return wo_error_prefix("cannot %s addon '%s'", enabled ? "enable" : "disable", a->name);
	a->enabled = enabled;
	return 0;
}

int wo_addon_setting_set(struct wo_addon_registry *reg, struct wo_addon *a, const char *key,
                         const char *value_text)
{
	const struct wo_addon_field *f = wo_addon_manifest_setting(a->manifest, key);
	if (!f) {
		struct wo_buf b = WO_BUF_INIT;
		for (size_t i = 0; i < a->manifest->nsettings; i++)
			wo_buf_printf(&b, "%s%s", i ? ", " : "", a->manifest->settings[i].name);
		wo_error_set("addon '%s' has no setting '%s'%s%s", a->name, key,
		             b.len ? "; its settings are: " : " (it declares no settings_schema)", wo_buf_cstr(&b));
		wo_buf_release(&b);
		return -1;
	}
	json_t *v = NULL;
	struct wo_buf err = WO_BUF_INIT;
	if (wo_addon_field_parse(&v, f, value_text, &err) < 0) {
		wo_error_set("invalid value for setting '%s' of addon '%s': %s", key, a->name, wo_buf_cstr(&err));
		wo_buf_release(&err);
		return -1;
	}
	wo_buf_release(&err);
	if (!reg->conn) {
		json_decref(v);
		return wo_error_set("cannot store setting '%s' of addon '%s': no database", key, a->name);
	}
	if (f->secret) {
		/* only ciphertext goes into the statement and the table */
		json_t *sealed = NULL;
		int r = seal_setting(&sealed, reg->conn, v);
		json_decref(v);
		if (r < 0)
			return wo_error_prefix("cannot store setting '%s' of addon '%s'", key, a->name);
		v = sealed;
	}
	char *vt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	int rc = wo_addons_setting_set(reg->conn, a->name, key, vt);
	free(vt);
	if (rc < 0) {
		json_decref(v);
		return wo_error_prefix("cannot store setting '%s' of addon '%s'", key, a->name);
	}
	json_object_set_new(a->settings_stored, key, v);
	compute_settings(reg, a);
	return 0;
}

int wo_addon_setting_unset(struct wo_addon_registry *reg, struct wo_addon *a, const char *key)
{
	if (!reg->conn)
		return wo_error_set("cannot unset setting '%s' of addon '%s': no database", key, a->name);
	if (wo_addons_setting_unset(reg->conn, a->name, key) < 0)
		return wo_error_prefix("cannot unset setting '%s' of addon '%s'", key, a->name);
	json_object_del(a->settings_stored, key);
	compute_settings(reg, a);
	return 0;
}
