/* Container names, the last known good record (an atomically replaced JSON
 * file under the data directory) and the tidy-up plan: no engine here, so
 * all of it is unit-tested. */
#include "swap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dkutil.h"

#define SWAP_STATE_MAX (64 * 1024)

int dk_container_name(struct dk_buf *out, const char *name)
{
	return dk_buf_printf(out, "webops-%s", name);
}

int dk_legacy_previous_name(struct dk_buf *out, const char *name)
{
	return dk_buf_printf(out, "webops-%s-previous", name);
}

int dk_candidate_name(struct dk_buf *out, const char *name, const char *run_id, long long now)
{
	int digits = run_id && *run_id && strspn(run_id, "0123456789") == strlen(run_id) && strlen(run_id) <= 20;
	if (digits)
		return dk_buf_printf(out, "webops-%s-r%s", name, run_id);
	return dk_buf_printf(out, "webops-%s-t%lld", name, now);
}

int dk_state_path(struct dk_buf *out, const char *data_dir, const char *name)
{
	return dk_buf_printf(out, "%s/%s.json", data_dir, name);
}

json_t *dk_state_to_json(const struct dk_state *s)
{
	json_t *c = json_array();
	for (int i = 0; c && i < s->ncandidates && i < DK_STATE_MAX_CANDIDATES; i++)
		json_array_append_new(c, json_pack("{s:s,s:s}", "id", s->candidates[i].id, "name", s->candidates[i].name));
	if (!c)
		return NULL;
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:I}", "version", 1, "container_id",
			 s->container_id, "container", s->container, "image", s->image, "commit", s->commit, "run_id",
			 s->run_id, "mode", s->mode, "upstream", s->upstream, "candidates", c, "stopped", s->stopped,
			 "recorded_at", (json_int_t)s->recorded_at);
}

void dk_state_add_candidate(struct dk_state *s, const char *id, const char *name)
{
	if (s->ncandidates >= DK_STATE_MAX_CANDIDATES) {
		memmove(&s->candidates[0], &s->candidates[1], sizeof(s->candidates[0]) * (DK_STATE_MAX_CANDIDATES - 1));
		s->ncandidates = DK_STATE_MAX_CANDIDATES - 1;
	}
	snprintf(s->candidates[s->ncandidates].id, sizeof(s->candidates[0].id), "%s", id);
	snprintf(s->candidates[s->ncandidates].name, sizeof(s->candidates[0].name), "%s", name);
	s->ncandidates++;
}

/* An id is what the engine is asked about: hex only, so it can never be a name. */
static int swap_is_id(const char *id)
{
	return strspn(id, "0123456789abcdef") == strlen(id);
}

static int swap_copy(char *dst, size_t cap, const json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);
	if (!v || json_is_null(v)) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) >= cap)
		return dk_error_set("'%s' is not a text of fewer than %zu characters", key, cap);
	snprintf(dst, cap, "%s", json_string_value(v));
	return 0;
}

int dk_state_from_json(struct dk_state *out, const json_t *j)
{
	struct dk_state s;
	memset(&s, 0, sizeof(s));
	if (!json_is_object(j))
		return dk_error_set("not a JSON object");
	if (swap_copy(s.container_id, sizeof(s.container_id), j, "container_id") < 0 ||
	    swap_copy(s.container, sizeof(s.container), j, "container") < 0 ||
	    swap_copy(s.image, sizeof(s.image), j, "image") < 0 ||
	    swap_copy(s.commit, sizeof(s.commit), j, "commit") < 0 ||
	    swap_copy(s.run_id, sizeof(s.run_id), j, "run_id") < 0 || swap_copy(s.mode, sizeof(s.mode), j, "mode") < 0 ||
	    swap_copy(s.upstream, sizeof(s.upstream), j, "upstream") < 0)
		return -1;
	if (!swap_is_id(s.container_id))
		return dk_error_set("'container_id' is not a container id");
	json_t *cands = json_object_get(j, "candidates");
	if (cands && !json_is_array(cands))
		return dk_error_set("'candidates' is not a list");
	size_t i;
	json_t *c;
	json_array_foreach(cands, i, c) {
		if (s.ncandidates >= DK_STATE_MAX_CANDIDATES)
			break;
		if (swap_copy(s.candidates[s.ncandidates].id, sizeof(s.candidates[0].id), c, "id") < 0 ||
		    swap_copy(s.candidates[s.ncandidates].name, sizeof(s.candidates[0].name), c, "name") < 0)
			return dk_error_prefix("candidates[%zu]", i);
		if (!s.candidates[s.ncandidates].id[0] || !swap_is_id(s.candidates[s.ncandidates].id))
			return dk_error_set("candidates[%zu]: 'id' is not a container id", i);
		s.ncandidates++;
	}
	s.stopped = json_is_true(json_object_get(j, "stopped"));
	json_t *at = json_object_get(j, "recorded_at");
	s.recorded_at = json_is_integer(at) ? (long long)json_integer_value(at) : 0;
	*out = s;
	return 0;
}

int dk_state_load(struct dk_state *out, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return DK_STATE_NONE;
	if (dk_fs_read_file(&text, &len, path, SWAP_STATE_MAX) < 0)
		return -1;
	json_error_t jerr;
	json_t *j = json_loadb(text, len, 0, &jerr);
	free(text);
	if (!j)
		return dk_error_set("cannot read the release record '%s': line %d: %s", path, jerr.line, jerr.text);
	int rc = dk_state_from_json(out, j);
	json_decref(j);
	if (rc < 0)
		return dk_error_prefix("cannot read the release record '%s'", path);
	return 0;
}

int dk_state_save(const char *path, const struct dk_state *s)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return dk_error_set("the release record path '%s' is not absolute", path);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (dk_fs_mkdir_p(dir, 0755) < 0)
		return dk_error_prefix("cannot create '%s' for the release record", dir);
	json_t *j = dk_state_to_json(s);
	char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!text)
		return dk_error_set("out of memory");
	struct dk_buf b = DK_BUF_INIT;
	dk_buf_puts(&b, text);
	dk_buf_putc(&b, '\n');
	free(text);
	int rc = dk_fs_write_file_atomic(path, b.ptr, b.len, 0644);
	dk_buf_release(&b);
	if (rc < 0)
		return rc;
	/* the rename itself must survive a crash of the host, not only of the process */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int dk_state_remove(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return dk_error_set("cannot remove the release record '%s': %s", path, strerror(errno));
	return 0;
}

void dk_tidy_plan_release(struct dk_tidy_plan *p)
{
	if (!p)
		return;
	json_decref(p->remove);
	json_decref(p->keep);
	memset(p, 0, sizeof(*p));
}

static const char *swap_name_of(const json_t *c)
{
	const char *n = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
	if (!n)
		return "";
	return n[0] == '/' ? n + 1 : n;
}

static const char *swap_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* An id as recorded matches the engine's full id, or a prefix of it. */
static int swap_id_is(const json_t *c, const char *id)
{
	size_t n = strlen(id);
	return n >= 12 && strncmp(swap_str(c, "Id"), id, n) == 0;
}

static const json_t *swap_find_id(const json_t *list, const char *id)
{
	size_t i;
	json_t *c;
	if (!id || !*id)
		return NULL;
	json_array_foreach(list, i, c)
		if (swap_id_is(c, id))
			return c;
	return NULL;
}

static const json_t *swap_find_name(const json_t *list, const char *name)
{
	size_t i;
	json_t *c;
	json_array_foreach(list, i, c)
		if (strcmp(swap_name_of(c), name) == 0)
			return c;
	return NULL;
}

int dk_tidy_plan(struct dk_tidy_plan *out, const char *name, const struct dk_state *st, const json_t *containers)
{
	struct dk_tidy_plan p;
	memset(&p, 0, sizeof(p));
	struct dk_buf stable = DK_BUF_INIT, legacy = DK_BUF_INIT;
	dk_container_name(&stable, name);
	dk_legacy_previous_name(&legacy, name);
	p.remove = json_array();
	p.keep = json_array();
	if (!p.remove || !p.keep || !stable.ptr || !legacy.ptr) {
		dk_buf_release(&stable);
		dk_buf_release(&legacy);
		json_decref(p.remove);
		json_decref(p.keep);
		return dk_error_set("out of memory");
	}

	const json_t *good = NULL;
	if (st && (good = swap_find_id(containers, st->container_id)) != NULL)
		p.good_why = "recorded as the last good release";
	else {
		/* Without a record: the one with the deployment's name, unless it
		 * does not run and an older webops set the good one aside as
		 * -previous before it was interrupted. */
		const json_t *named = swap_find_name(containers, dk_buf_cstr(&stable));
		const json_t *prev = swap_find_name(containers, dk_buf_cstr(&legacy));
		if (named && (!prev || strcmp(swap_str(named, "State"), "running") == 0)) {
			good = named;
			p.good_why = st && st->container_id[0] ? "the recorded release is gone; it has the deployment's name"
							      : "it has the deployment's name (no release is recorded)";
		} else if (prev) {
			good = prev;
			p.good_why = "set aside by an interrupted deploy of an older webops";
		}
	}
	if (good) {
		snprintf(p.good_id, sizeof(p.good_id), "%s", swap_str(good, "Id"));
		snprintf(p.good_name, sizeof(p.good_name), "%s", swap_name_of(good));
		snprintf(p.good_state, sizeof(p.good_state), "%s", swap_str(good, "State"));
		p.rename_good = strcmp(p.good_name, dk_buf_cstr(&stable)) != 0;
		p.start_good = strcmp(p.good_state, "running") != 0 && !(st && st->stopped);
	}
	size_t i;
	json_t *c;
	json_array_foreach(containers, i, c) {
		if (c == good)
			continue;
		int candidate = 0;
		for (int k = 0; st && k < st->ncandidates && !candidate; k++)
			candidate = swap_id_is(c, st->candidates[k].id);
		if (candidate && strcmp(swap_str(c, "State"), "running") == 0) {
			json_array_append_new(p.keep, json_pack("{s:s,s:s}", "id", swap_str(c, "Id"), "name",
								swap_name_of(c)));
			continue;
		}
		const char *why = good ? "a leftover of an interrupted deploy that never became the good release"
				       : "a leftover of an interrupted deploy (no good release is known)";
		if (candidate)
			why = "a new release that was never recorded as good and no longer runs";
		json_array_append_new(p.remove, json_pack("{s:s,s:s,s:s,s:s}", "id", swap_str(c, "Id"), "name",
							  swap_name_of(c), "state", swap_str(c, "State"), "why", why));
	}
	dk_buf_release(&stable);
	dk_buf_release(&legacy);
	*out = p;
	return 0;
}
