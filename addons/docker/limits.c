/* Limits, GPUs, restart policy and exec-form command of a deployment's
 * container: parsing with errors that name the field, and what they become
 * in the Engine API's create body and the systemd unit. */
#include "limits.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void err_line(struct dk_buf *err)
{
	if (err && err->len && err->ptr[err->len - 1] != '\n')
		dk_buf_putc(err, '\n');
}

int dk_memory_parse(long long *out, const char *s, struct dk_buf *err)
{
	const char *p = s;
	long long n = 0;
	int digits = 0;
	while (p && isdigit((unsigned char)*p) && digits < 15) {
		n = n * 10 + (*p++ - '0');
		digits++;
	}
	long long mul = 1;
	if (digits && *p) {
		switch (tolower((unsigned char)*p)) {
		case 'b': mul = 1; break;
		case 'k': mul = 1LL << 10; break;
		case 'm': mul = 1LL << 20; break;
		case 'g': mul = 1LL << 30; break;
		default: mul = 0;
		}
		p++;
	}
	if (!digits || !mul || (p && *p) || n > (1LL << 50) / mul) {
		err_line(err);
		if (err)
			dk_buf_printf(err, "docker_memory: '%.40s' is not a size: a number of bytes with an optional unit "
				      "b, k, m or g (powers of 1024), like 512m or 2g", s ? s : "");
		return -1;
	}
	if (n * mul < 6LL << 20) {
		err_line(err);
		if (err)
			dk_buf_printf(err, "docker_memory: '%.40s' is less than 6m, the least the engine allows", s);
		return -1;
	}
	*out = n * mul;
	return 0;
}

int dk_cpus_parse(long long *nano_out, const char *s, struct dk_buf *err)
{
	const char *p = s;
	long long whole = 0, frac = 0;
	int digits = 0, fdigits = 0;
	while (p && isdigit((unsigned char)*p) && digits < 5) {
		whole = whole * 10 + (*p++ - '0');
		digits++;
	}
	if (p && *p == '.') {
		p++;
		while (isdigit((unsigned char)*p) && fdigits < 3) {
			frac = frac * 10 + (*p++ - '0');
			fdigits++;
		}
		if (!fdigits)
			digits = 0;
	}
	for (int i = fdigits; i < 9; i++)
		frac *= 10;
	long long nano = whole * 1000000000LL + frac;
	if ((!digits && !fdigits) || (p && *p) || nano <= 0 || nano > 1024LL * 1000000000LL) {
		err_line(err);
		if (err)
			dk_buf_printf(err, "docker_cpus: '%.40s' is not a number of CPUs: more than 0 and at most 1024, "
				      "up to 3 decimals, like 1.5 or 0.25", s ? s : "");
		return -1;
	}
	*nano_out = nano;
	return 0;
}

int dk_restart_parse(struct dk_limits *out, const char *s, struct dk_buf *err)
{
	static const char *const names[] = {"unless-stopped", "always", "no"};
	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			snprintf(out->restart, sizeof(out->restart), "%s", s);
			out->restart_max = 0;
			return 0;
		}
	if (s && !strncmp(s, "on-failure", 10)) {
		const char *p = s + 10;
		long n = 0;
		if (*p == ':') {
			char *end;
			n = strtol(p + 1, &end, 10);
			if (!isdigit((unsigned char)p[1]) || *end || n < 1 || n > 1000)
				n = -1;
		} else if (*p) {
			n = -1;
		}
		if (n >= 0) {
			snprintf(out->restart, sizeof(out->restart), "on-failure");
			out->restart_max = (int)n;
			return 0;
		}
	}
	err_line(err);
	if (err)
		dk_buf_printf(err, "docker_restart_policy: '%.40s' is not one of: unless-stopped, always, no, on-failure, "
			      "on-failure:N (N from 1 to 1000 restarts)", s ? s : "");
	return -1;
}

int dk_gpus_parse(json_t **out, const char *s, struct dk_buf *err)
{
	*out = NULL;
	size_t n = s ? strlen(s) : 0;
	int ok = n > 0 && n < 120;
	for (size_t i = 0; ok && i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || strchr(",:_.-", s[i])))
			ok = 0;
	if (ok && (s[0] == ',' || s[n - 1] == ',' || strstr(s, ",,")))
		ok = 0;
	if (!ok) {
		err_line(err);
		if (err)
			dk_buf_printf(err, "docker_gpus: '%.40s' is not all, a number of GPUs (like 1) or GPU ids "
				      "separated by commas (like 0,1 or GPU-3f2a...)", s ? s : "");
		return -1;
	}
	json_t *req = json_pack("{s:s,s:[[s]]}", "Driver", "nvidia", "Capabilities", "gpu");
	if (!strcmp(s, "all")) {
		json_object_set_new(req, "Count", json_integer(-1));
	} else if (strspn(s, "0123456789") == n && n <= 4) {
		long c = strtol(s, NULL, 10);
		if (c < 1) {
			json_decref(req);
			err_line(err);
			if (err)
				dk_buf_printf(err, "docker_gpus: a number of GPUs is 1 or more (leave it empty for none)");
			return -1;
		}
		json_object_set_new(req, "Count", json_integer(c));
	} else {
		json_t *ids = json_array();
		char buf[128];
		snprintf(buf, sizeof(buf), "%s", s);
		char *save = NULL;
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(ids, json_string(t));
		json_object_set_new(req, "DeviceIDs", ids);
	}
	*out = json_pack("[o]", req);
	return *out ? 0 : dk_error_set("out of memory");
}

int dk_command_parse(json_t **out, const char *json_text, struct dk_buf *err)
{
	*out = NULL;
	json_t *j = json_text && *json_text ? json_loads(json_text, JSON_DECODE_ANY, NULL) : NULL;
	size_t i;
	json_t *v;
	int ok = json_is_array(j) && json_array_size(j) > 0 && json_array_size(j) <= 100;
	json_array_foreach(j, i, v)
		if (!json_is_string(v) || json_string_length(v) > 4096 || (i == 0 && !json_string_length(v)))
			ok = 0;
	if (!ok) {
		json_decref(j);
		err_line(err);
		if (err)
			dk_buf_printf(err, "docker_command: give the program and its arguments as a list of strings "
				      "(the exec form, no shell), like [\"gunicorn\", \"app:app\"]; up to 100 items");
		return -1;
	}
	*out = j;
	return 0;
}

int dk_limits_build(struct dk_limits *out, const struct dk_limits_input *in, struct dk_buf *err)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->restart, sizeof(out->restart), "unless-stopped");
	int rc = 0;
	if (in->memory && *in->memory && dk_memory_parse(&out->memory, in->memory, err) < 0)
		rc = -1;
	if (in->cpus && *in->cpus && dk_cpus_parse(&out->nano_cpus, in->cpus, err) < 0)
		rc = -1;
	if (in->restart && *in->restart && dk_restart_parse(out, in->restart, err) < 0)
		rc = -1;
	if (in->gpus && *in->gpus) {
		if (dk_gpus_parse(&out->gpus, in->gpus, err) < 0)
			rc = -1;
		else
			snprintf(out->gpus_text, sizeof(out->gpus_text), "%s", in->gpus);
	}
	if (rc < 0)
		dk_limits_release(out);
	return rc;
}

void dk_limits_release(struct dk_limits *l)
{
	json_decref(l->gpus);
	l->gpus = NULL;
}

void dk_limits_apply(const struct dk_limits *l, json_t *hc)
{
	if (!json_is_object(hc))
		return;
	if (l->memory)
		json_object_set_new(hc, "Memory", json_integer(l->memory));
	if (l->nano_cpus)
		json_object_set_new(hc, "NanoCpus", json_integer(l->nano_cpus));
	if (l->gpus)
		json_object_set(hc, "DeviceRequests", l->gpus);
}

json_t *dk_limits_restart_policy(const struct dk_limits *l)
{
	return json_pack("{s:s,s:i}", "Name", l->restart[0] ? l->restart : "unless-stopped", "MaximumRetryCount",
			 !strcmp(l->restart, "on-failure") ? l->restart_max : 0);
}

const char *dk_limits_unit_restart(const struct dk_limits *l)
{
	if (!strcmp(l->restart, "no"))
		return "no";
	if (!strcmp(l->restart, "on-failure"))
		return "on-failure";
	return "always";
}
