/* Opening addon libraries and checking their descriptor; the probe does it
 * in a child process, so even a library constructor that crashes is contained. */
#include "addon/loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addon/sandbox.h"
#include "util/error.h"
#include "util/proc.h"
#include "webops/addon.h"
#include "util/banned.h"

#define PROBE_TIMEOUT_MS 10000

int wo_addon__check_library_file(const char *path, struct wo_buf *err)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		wo_buf_printf(err, "cannot use library '%s': %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		wo_buf_printf(err, "refusing library '%s': not a regular file", path);
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		wo_buf_printf(err, "refusing library '%s': it is writable by others (chmod o-w)", path);
		return -1;
	}
	return 0;
}

void *wo_addon__open(const char *path, const char *addon_name, struct wo_buf *err,
                     unsigned *abi_major, unsigned *abi_minor, const char **version)
{
	if (wo_addon__check_library_file(path, err) < 0)
		return NULL;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		wo_buf_printf(err, "cannot load library '%s': %s", path, e ? e : "unknown error");
		return NULL;
	}
	const struct webops_addon_descriptor *d = dlsym(h, WEBOPS_ADDON_DESCRIPTOR_SYMBOL);
	if (!d) {
		wo_buf_printf(err, "library '%s' does not export '%s' (declare it with WEBOPS_ADDON(name, version))",
		              path, WEBOPS_ADDON_DESCRIPTOR_SYMBOL);
		return NULL;
	}
	if (d->size < offsetof(struct webops_addon_descriptor, abi_minor) + sizeof(d->abi_minor)) {
		wo_buf_printf(err, "library '%s' has a malformed descriptor (size %u)", path, (unsigned)d->size);
		return NULL;
	}
	if (abi_major)
		*abi_major = d->abi_major;
	if (abi_minor)
		*abi_minor = d->abi_minor;
	if (d->abi_major != WEBOPS_ADDON_ABI_MAJOR) {
		wo_buf_printf(err, "library '%s' is built for addon ABI %u.%u but this webops provides ABI %d.%d "
		              "(the major versions must be equal); rebuild the addon against this webops",
		              path, d->abi_major, d->abi_minor, WEBOPS_ADDON_ABI_MAJOR, WEBOPS_ADDON_ABI_MINOR);
		return NULL;
	}
	if (d->abi_minor > WEBOPS_ADDON_ABI_MINOR) {
		wo_buf_printf(err, "library '%s' is built for addon ABI %u.%u but this webops provides only ABI %d.%d "
		              "(the addon's minor may not exceed the host's); upgrade webops",
		              path, d->abi_major, d->abi_minor, WEBOPS_ADDON_ABI_MAJOR, WEBOPS_ADDON_ABI_MINOR);
		return NULL;
	}
	if (d->size < offsetof(struct webops_addon_descriptor, version) + sizeof(d->version)) {
		wo_buf_printf(err, "library '%s' has a malformed descriptor (size %u)", path, (unsigned)d->size);
		return NULL;
	}
	if (addon_name && (!d->name || strcmp(d->name, addon_name) != 0)) {
		wo_buf_printf(err, "library '%s' declares addon '%s' but its manifest names '%s'", path,
		              d->name ? d->name : "(null)", addon_name);
		return NULL;
	}
	if (version)
		*version = d->version;
	return h;
}

/* ---- probe ---- */

static int probe_child(void *arg)
{
	struct wo_addon *a = arg;
	struct wo_addon_manifest *m = a->manifest;
	struct wo_buf err = WO_BUF_INIT;
	unsigned maj = 0, min = 0;
	const char *version = NULL;
	void *h = wo_addon__open(m->library_path, m->name, &err, &maj, &min, &version);
	json_t *info = json_pack("{s:i, s:i}", "abi_major", (int)maj, "abi_minor", (int)min);
	if (version && info)
		json_object_set_new(info, "version", json_string(version));
	char *text = info ? json_dumps(info, JSON_COMPACT) : NULL;
	if (text)
		wo_sandbox_send(WO_MSG_INFO, text, strlen(text));
	free(text);
	json_decref(info);
	if (!h) {
		wo_sandbox_send(WO_MSG_ERROR, wo_buf_cstr(&err), err.len);
		return 1;
	}
	int bad = 0;
	for (size_t i = 0; i < m->nhooks; i++) {
		const struct wo_addon_hook *hk = &m->hooks[i];
		if (dlsym(h, hk->handler))
			continue;
		wo_buf_clear(&err);
		wo_buf_printf(&err, "cannot load manifest '%s': line %d: hooks.%s: handler '%s' is not exported by "
		              "library '%s' (define it with WEBOPS_HOOK(%s))", m->path, hk->line,
		              wo_event_name(hk->event), hk->handler, m->library_path, hk->handler);
		wo_sandbox_send(WO_MSG_ERROR, wo_buf_cstr(&err), err.len);
		bad = 1;
	}
	return bad;
}

struct probe_state {
	struct wo_buf errors;
	json_t *info;
};

static void probe_msg(void *arg, int type, const char *payload, size_t len)
{
	struct probe_state *st = arg;
	if (type == WO_MSG_ERROR) {
		if (st->errors.len)
			wo_buf_putc(&st->errors, '\n');
		wo_buf_add(&st->errors, payload, len);
	} else if (type == WO_MSG_INFO && !st->info) {
		st->info = json_loadb(payload, len, 0, NULL);
	}
}

static void append_error(struct wo_addon *a, const char *msg)
{
	struct wo_buf b = WO_BUF_INIT;
	if (a->load_error)
		wo_buf_printf(&b, "%s\n", a->load_error);
	wo_buf_puts(&b, msg);
	free(a->load_error);
	a->load_error = wo_buf_detach(&b);
}

int wo_addon__probe(struct wo_addon *a)
{
	struct wo_addon_manifest *m = a->manifest;
	struct wo_buf err = WO_BUF_INIT;
	if (!m->library_path) {
		/* a manifest-only addon (fields, settings) has nothing to load */
		a->loaded = m->nhooks == 0;
		return 0;
	}
	if (wo_addon__check_library_file(m->library_path, &err) < 0) {
		append_error(a, wo_buf_cstr(&err));
		wo_buf_release(&err);
		return 0;
	}
	struct probe_state st = {WO_BUF_INIT, NULL};
	struct wo_sandbox_opts o = {
		.timeout_ms = PROBE_TIMEOUT_MS,
		.arg = &st,
		.on_msg = probe_msg,
	};
	struct wo_sandbox_result res;
	if (wo_sandbox_run(&res, &o, probe_child, a) < 0) {
		append_error(a, wo_error_last());
		return 0;
	}
	int got_info = st.info != NULL;
	if (st.info) {
		a->abi_major = (int)json_integer_value(json_object_get(st.info, "abi_major"));
		a->abi_minor = (int)json_integer_value(json_object_get(st.info, "abi_minor"));
		const char *v = json_string_value(json_object_get(st.info, "version"));
		if (v) {
			free(a->lib_version);
			a->lib_version = strdup(v);
		}
		json_decref(st.info);
	}
	if (res.timed_out) {
		wo_buf_printf(&err, "library '%s' did not finish loading within %d ms (a hanging constructor?)",
		              m->library_path, PROBE_TIMEOUT_MS);
		append_error(a, wo_buf_cstr(&err));
	} else if (res.signal) {
		wo_buf_printf(&err, "library '%s' crashed while loading: killed by %s", m->library_path,
		              wo_proc_signame(res.signal));
		append_error(a, wo_buf_cstr(&err));
	} else if (st.errors.len) {
		append_error(a, wo_buf_cstr(&st.errors));
	} else if (!res.exited || res.exit_code != 0 || !got_info) {
		wo_buf_printf(&err, "library '%s' exited with status %d while loading", m->library_path, res.exit_code);
		append_error(a, wo_buf_cstr(&err));
	} else {
		a->loaded = 1;
	}
	wo_buf_release(&st.errors);
	wo_buf_release(&err);
	return 0;
}
