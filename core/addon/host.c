/* The host function table (struct webops_host) as seen by a handler running
 * in a sandbox child: reads come from the child's copy of the context, logs,
 * errors and outputs go to the parent over the message pipe. */
#include "addon/host.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "addon/field.h"
#include "addon/sandbox.h"
#include "template/template.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/secret.h"
#include "util/banned.h"

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

/* Keeps s until the call ends; returns it (NULL stays NULL). */
const char *wo_addon_host_keep(struct webops_hook_ctx *ctx, char *s)
{
	if (!s)
		return NULL;
	pthread_mutex_lock(&pool_lock);
	if (ctx->npool == ctx->cap) {
		size_t ncap = ctx->cap ? ctx->cap * 2 : 32;
		char **np = realloc(ctx->pool, ncap * sizeof(*np));
		if (!np) {
			pthread_mutex_unlock(&pool_lock);
			free(s);
			return NULL;
		}
		ctx->pool = np;
		ctx->cap = ncap;
	}
	ctx->pool[ctx->npool++] = s;
	pthread_mutex_unlock(&pool_lock);
	return s;
}

void wo_addon_host_ctx_release(struct webops_hook_ctx *ctx)
{
	for (size_t i = 0; i < ctx->npool; i++)
		free(ctx->pool[i]);
	free(ctx->pool);
	ctx->pool = NULL;
	ctx->npool = ctx->cap = 0;
	free(ctx->deployment_json);
	ctx->deployment_json = NULL;
	free(ctx->event_json);
	ctx->event_json = NULL;
	free(ctx->last_error);
	ctx->last_error = NULL;
	if (ctx->scratch) {
		wo_fs_rm_rf(ctx->scratch);
		free(ctx->scratch);
		ctx->scratch = NULL;
	}
}

static void host_vlog(struct webops_hook_ctx *ctx, int level, const char *fmt, va_list ap)
{
	struct wo_buf b;
	wo_buf_init(&b, WO_MSG_MAX - 1);
	if (wo_buf_putc(&b, (char)(level < WEBOPS_LOG_DEBUG ? WEBOPS_LOG_DEBUG :
	                           level > WEBOPS_LOG_ERROR ? WEBOPS_LOG_ERROR : level)) < 0)
		return;
	if (wo_buf_vprintf(&b, fmt, ap) < 0) {
		wo_buf_puts(&b, "(log line too long)");
	}
	/* one frame per line */
	const char *p = b.ptr + 1, *end = b.ptr + b.len;
	do {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n || !nl) {
			char frame[4096];
			size_t fl = n < sizeof(frame) - 1 ? n : sizeof(frame) - 1;
			frame[0] = b.ptr[0];
			memcpy(frame + 1, p, fl);
			wo_sandbox_send(WO_MSG_LOG, frame, fl + 1);
		}
		p = nl ? nl + 1 : end;
	} while (p < end);
	wo_buf_release(&b);
}

static void host_log(struct webops_hook_ctx *ctx, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	host_vlog(ctx, level, fmt, ap);
	va_end(ap);
}

static void host_set_error(struct webops_hook_ctx *ctx, const char *fmt, ...)
{
	struct wo_buf b;
	wo_buf_init(&b, 16384);
	va_list ap;
	va_start(ap, fmt);
	if (wo_buf_vprintf(&b, fmt, ap) < 0)
		wo_buf_puts(&b, "(error message too long)");
	va_end(ap);
	wo_sandbox_send(WO_MSG_ERROR, wo_buf_cstr(&b), b.len);
	wo_buf_release(&b);
}

static const char *host_event(struct webops_hook_ctx *ctx)
{
	return ctx->event;
}

static const char *host_addon_name(struct webops_hook_ctx *ctx)
{
	return ctx->addon;
}

static const char *host_deployment(struct webops_hook_ctx *ctx, const char *key)
{
	if (!key || !ctx->deployment)
		return NULL;
	json_t *v = json_object_get(ctx->deployment, key);
	if (!v || json_is_null(v))
		return NULL;
	if (json_is_integer(v)) {
		char num[32];
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return wo_addon_host_keep(ctx, strdup(num));
	}
	return wo_addon_host_keep(ctx, wo_addon_field_format(v));
}

static const char *host_deployment_json(struct webops_hook_ctx *ctx)
{
	if (!ctx->deployment_json)
		ctx->deployment_json = ctx->deployment ? json_dumps(ctx->deployment, JSON_COMPACT | JSON_SORT_KEYS)
		                                       : strdup("{}");
	return ctx->deployment_json;
}

/* "field" (this addon) or "addon.field" */
static json_t *field_value(struct webops_hook_ctx *ctx, const char *name)
{
	if (!name || !ctx->deployment)
		return NULL;
	json_t *all = json_object_get(ctx->deployment, "addon_fields");
	const char *dot = strchr(name, '.');
	json_t *mine;
	if (dot) {
		char addon[128];
		size_t n = (size_t)(dot - name);
		if (n >= sizeof(addon))
			return NULL;
		memcpy(addon, name, n);
		addon[n] = '\0';
		mine = json_object_get(all, addon);
		name = dot + 1;
	} else {
		mine = json_object_get(all, ctx->addon);
	}
	json_t *v = json_object_get(mine, name);
	return json_is_null(v) ? NULL : v;
}

static const char *host_field(struct webops_hook_ctx *ctx, const char *name)
{
	json_t *v = field_value(ctx, name);
	const char *s = json_string_value(v);
	if (!wo_secret_is_sealed(s))
		return wo_addon_host_keep(ctx, wo_addon_field_format(v));
	/* a secret field (stored sealed) is read by the addon that declares it
	 * only, as the dispatcher opened it */
	const char *dot = name ? strchr(name, '.') : NULL;
	if (dot && (strncmp(name, ctx->addon, (size_t)(dot - name)) != 0 || ctx->addon[dot - name] != '\0'))
		return NULL;
	const char *plain = json_string_value(json_object_get(ctx->secrets, dot ? dot + 1 : name));
	return plain ? wo_addon_host_keep(ctx, strdup(plain)) : NULL;
}

static int host_field_bool(struct webops_hook_ctx *ctx, const char *name, int dflt)
{
	json_t *v = field_value(ctx, name);
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v)) {
		int b = wo_addon_parse_bool(json_string_value(v));
		return b < 0 ? dflt : b;
	}
	return dflt;
}

static int64_t host_field_int(struct webops_hook_ctx *ctx, const char *name, int64_t dflt)
{
	json_t *v = field_value(ctx, name);
	int64_t n;
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_string(v) && wo_addon_parse_int(&n, json_string_value(v)) == 0)
		return n;
	return dflt;
}

static size_t host_field_list_size(struct webops_hook_ctx *ctx, const char *name)
{
	json_t *v = field_value(ctx, name);
	return json_is_array(v) ? json_array_size(v) : 0;
}

static const char *host_field_list_item(struct webops_hook_ctx *ctx, const char *name, size_t i)
{
	json_t *v = field_value(ctx, name);
	return wo_addon_host_keep(ctx, wo_addon_field_format(json_is_array(v) ? json_array_get(v, i) : NULL));
}

static size_t host_field_map_size(struct webops_hook_ctx *ctx, const char *name)
{
	json_t *v = field_value(ctx, name);
	return json_is_object(v) ? json_object_size(v) : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *host_field_map_key(struct webops_hook_ctx *ctx, const char *name, size_t i)
{
	json_t *v = field_value(ctx, name);
	if (!json_is_object(v) || i >= json_object_size(v))
		return NULL;
	size_t n = json_object_size(v), k = 0;
	const char **keys = malloc(n * sizeof(*keys));
	if (!keys)
		return NULL;
	const char *key;
	json_t *val;
	json_object_foreach(v, key, val)
		keys[k++] = key;
	qsort(keys, k, sizeof(*keys), cmp_str);
	const char *r = wo_addon_host_keep(ctx, strdup(keys[i]));
	free(keys);
	return r;
}

static const char *host_field_map_get(struct webops_hook_ctx *ctx, const char *name, const char *key)
{
	json_t *v = field_value(ctx, name);
	if (!json_is_object(v) || !key)
		return NULL;
	return wo_addon_host_keep(ctx, wo_addon_field_format(json_object_get(v, key)));
}

static const char *host_setting(struct webops_hook_ctx *ctx, const char *key)
{
	if (!key || !ctx->settings)
		return NULL;
	return wo_addon_host_keep(ctx, wo_addon_field_format(json_object_get(ctx->settings, key)));
}

static const char *host_source_dir(struct webops_hook_ctx *ctx)
{
	return ctx->source_dir ? ctx->source_dir : "";
}

static const char *host_commit(struct webops_hook_ctx *ctx)
{
	return ctx->commit ? ctx->commit : "";
}

static const char *host_run_id(struct webops_hook_ctx *ctx)
{
	return ctx->run_id ? ctx->run_id : "";
}

static int host_output_set(struct webops_hook_ctx *ctx, const char *key, const char *value)
{
	if (!key || !*key || !value)
		return -1;
	size_t kl = strlen(key), vl = strlen(value);
	if (kl + vl + 1 > WO_MSG_MAX)
		return -1;
	json_t *s = json_string(value);
	if (!s)
		return -1; /* not UTF-8 */
	json_t *mine = json_object_get(ctx->outputs, ctx->addon);
	if (!mine) {
		mine = json_object();
		json_object_set_new(ctx->outputs, ctx->addon, mine);
	}
	json_object_set_new(mine, key, s);
	char *payload = malloc(kl + vl + 1);
	if (!payload)
		return -1;
	memcpy(payload, key, kl + 1);
	memcpy(payload + kl + 1, value, vl);
	int rc = wo_sandbox_send(WO_MSG_OUTPUT, payload, kl + 1 + vl);
	free(payload);
	return rc;
}

static const char *host_output_get(struct webops_hook_ctx *ctx, const char *addon, const char *key)
{
	if (!key)
		return NULL;
	json_t *v = json_object_get(json_object_get(ctx->outputs, addon ? addon : ctx->addon), key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int host_cancelled(struct webops_hook_ctx *ctx)
{
	return wo_sandbox_cancelled();
}

static const char *host_event_json(struct webops_hook_ctx *ctx)
{
	if (!ctx->event_json)
		ctx->event_json = ctx->event_data ? json_dumps(ctx->event_data, JSON_COMPACT | JSON_SORT_KEYS)
		                                  : strdup("{}");
	return ctx->event_json;
}

/* ---- ABI 1.2 ---- */

static char *host_data_root;

void wo_addon_host_configure(const char *data_dir)
{
	free(host_data_root);
	host_data_root = data_dir ? strdup(data_dir) : NULL;
}

int wo_addon_scratch_path(struct wo_buf *out, const char *data_dir, const char *run_id)
{
	return wo_buf_printf(out, "%s/scratch/run-%s", data_dir, run_id);
}

/* NULL, with the reason kept for last_error(). */
const char *wo_addon_host_fail(struct webops_hook_ctx *ctx, const char *what)
{
	free(ctx->last_error);
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_printf(&b, "%s: %s", what, wo_error_last());
	ctx->last_error = wo_buf_detach(&b);
	return NULL;
}

static const char *host_last_error(struct webops_hook_ctx *ctx)
{
	return ctx->last_error ? ctx->last_error : "";
}

static const char *host_render(struct webops_hook_ctx *ctx, const char *name, const char *data_json,
			       const char *escaper)
{
	wo_tpl_escape_fn esc = wo_tpl_escaper(escaper ? escaper : "html");
	if (!esc) {
		wo_error_set("escaper '%s' is unknown: use html, dockerfile, nginx, systemd or none", escaper);
		return wo_addon_host_fail(ctx, "render");
	}
	json_error_t jerr;
	json_t *data = data_json ? json_loads(data_json, 0, &jerr) : json_object();
	if (!json_is_object(data)) {
		json_decref(data);
		wo_error_set("the data of template '%s' is not a JSON object%s%s", name ? name : "",
			     data_json ? ": " : "", data_json ? jerr.text : "");
		return wo_addon_host_fail(ctx, "render");
	}
	struct wo_buf dir = WO_BUF_INIT, out = WO_BUF_INIT;
	wo_buf_printf(&dir, "%s/templates", ctx->addon_dir ? ctx->addon_dir : ".");
	struct wo_tpl_env *env = NULL;
	struct wo_tpl_opts opts = WO_TPL_OPTS_INIT;
	opts.escape = esc;
	opts.strict = 1; /* a value the template names and the data lacks is a mistake */
	int rc = wo_tpl_env_new(&env, wo_buf_cstr(&dir));
	if (rc == 0)
		rc = wo_tpl_render_file(&out, env, name ? name : "", data, &opts);
	wo_tpl_env_free(env);
	json_decref(data);
	wo_buf_release(&dir);
	if (rc < 0) {
		wo_buf_release(&out);
		return wo_addon_host_fail(ctx, "render");
	}
	return wo_addon_host_keep(ctx, wo_buf_detach(&out) ?: strdup(""));
}

static const char *host_data_dir(struct webops_hook_ctx *ctx)
{
	if (!host_data_root) {
		wo_error_set("webops' data directory is not known in this process");
		return wo_addon_host_fail(ctx, "data_dir");
	}
	struct wo_buf p = WO_BUF_INIT;
	wo_buf_printf(&p, "%s/addons/%s", host_data_root, ctx->addon);
	if (wo_fs_mkdir_p(p.ptr, 0700) < 0 || chmod(p.ptr, 0700) < 0) {
		wo_buf_release(&p);
		return wo_addon_host_fail(ctx, "data_dir");
	}
	return wo_addon_host_keep(ctx, wo_buf_detach(&p));
}

static const char *host_scratch_dir(struct webops_hook_ctx *ctx)
{
	if (!host_data_root) {
		wo_error_set("webops' data directory is not known in this process");
		return wo_addon_host_fail(ctx, "scratch_dir");
	}
	struct wo_buf p = WO_BUF_INIT;
	int in_run = ctx->run_id && *ctx->run_id;
	if (in_run) {
		wo_addon_scratch_path(&p, host_data_root, ctx->run_id);
		wo_buf_printf(&p, "/%s", ctx->addon);
	} else if (ctx->scratch) {
		return ctx->scratch;
	} else {
		wo_buf_printf(&p, "%s/scratch/hook-%ld-%s", host_data_root, (long)getpid(), ctx->addon);
	}
	if (wo_fs_mkdir_p(p.ptr, 0700) < 0) {
		wo_buf_release(&p);
		return wo_addon_host_fail(ctx, "scratch_dir");
	}
	if (in_run)
		return wo_addon_host_keep(ctx, wo_buf_detach(&p));
	ctx->scratch = wo_buf_detach(&p);
	return ctx->scratch;
}

static int host_report(struct webops_hook_ctx *ctx, const char *deployment, const char *kind, const char *detail)
{
	if (!deployment || !*deployment || !kind || !*kind) {
		wo_error_set("a report needs a deployment's name and a kind");
		wo_addon_host_fail(ctx, "report");
		return -1;
	}
	struct wo_buf b = WO_BUF_INIT;
	wo_buf_add(&b, deployment, strlen(deployment) + 1);
	wo_buf_add(&b, kind, strlen(kind) + 1);
	wo_buf_add(&b, detail ? detail : "", detail ? strlen(detail) : 0);
	int rc = wo_sandbox_send(WO_MSG_REPORT, b.ptr, b.len);
	wo_buf_release(&b);
	if (rc < 0) {
		wo_error_set("webops is not listening any more");
		wo_addon_host_fail(ctx, "report");
	}
	return rc;
}

const struct webops_host wo_addon_host_table = {
	.size = sizeof(struct webops_host),
	.abi_major = WEBOPS_ADDON_ABI_MAJOR,
	.abi_minor = WEBOPS_ADDON_ABI_MINOR,
	.log = host_log,
	.set_error = host_set_error,
	.event = host_event,
	.addon_name = host_addon_name,
	.deployment = host_deployment,
	.deployment_json = host_deployment_json,
	.field = host_field,
	.field_bool = host_field_bool,
	.field_int = host_field_int,
	.field_list_size = host_field_list_size,
	.field_list_item = host_field_list_item,
	.field_map_size = host_field_map_size,
	.field_map_key = host_field_map_key,
	.field_map_get = host_field_map_get,
	.setting = host_setting,
	.source_dir = host_source_dir,
	.commit = host_commit,
	.run_id = host_run_id,
	.output_set = host_output_set,
	.output_get = host_output_get,
	.cancelled = host_cancelled,
	.event_json = host_event_json,
	.render = host_render,
	.last_error = host_last_error,
	.data_dir = host_data_dir,
	.scratch_dir = host_scratch_dir,
	.run = wo_addon_host_run,
	.report = host_report,
};
