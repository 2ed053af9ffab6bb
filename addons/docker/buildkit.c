/* BuildKit through the Engine API: its progress messages (protobuf, read
 * off the wire format for the few fields a log needs) turned into log
 * lines, and what in a Dockerfile needs BuildKit. */
#include "buildkit.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "dkutil.h"

/* ---- the protobuf wire format ---- */

struct pb {
	const unsigned char *p, *end;
};

static int pb_varint(struct pb *b, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
		unsigned char c = *b->p++;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* One field: its number, and its value as a varint (wire type 0) or bytes
 * (wire type 2, data non-NULL); fixed-size values are skipped over. */
struct pb_field {
	unsigned num;
	uint64_t varint;
	const unsigned char *data;
	size_t len;
};

/* The next field: 1 when one was read, 0 at the end, -1 when malformed. */
static int pb_next(struct pb *b, struct pb_field *f)
{
	if (b->p >= b->end)
		return 0;
	uint64_t key;
	if (pb_varint(b, &key) < 0 || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
		return -1;
	f->num = (unsigned)(key >> 3);
	f->data = NULL;
	f->len = 0;
	f->varint = 0;
	switch (key & 7) {
	case 0:
		return pb_varint(b, &f->varint) < 0 ? -1 : 1;
	case 1:
		if (b->end - b->p < 8)
			return -1;
		b->p += 8;
		return 1;
	case 2: {
		uint64_t n;
		if (pb_varint(b, &n) < 0 || n > (uint64_t)(b->end - b->p))
			return -1;
		f->data = b->p;
		f->len = (size_t)n;
		b->p += n;
		return 1;
	}
	case 5:
		if (b->end - b->p < 4)
			return -1;
		b->p += 4;
		return 1;
	default:
		return -1; /* groups are not used by these messages */
	}
}

/* A google.protobuf.Timestamp as epoch seconds; 0 when absent or empty. */
static double pb_timestamp(const struct pb_field *ts)
{
	struct pb b = {ts->data, ts->data + ts->len};
	struct pb_field f;
	double t = 0;
	while (ts->data && pb_next(&b, &f) == 1) {
		if (f.num == 1)
			t += (double)(int64_t)f.varint;
		else if (f.num == 2)
			t += (double)(int32_t)f.varint / 1e9;
	}
	return t;
}

/* Whether a message parses to its end: 0, or -1. */
static int pb_wellformed(const unsigned char *d, size_t n)
{
	struct pb b = {d, d + n};
	struct pb_field f;
	int rc;
	while ((rc = pb_next(&b, &f)) == 1)
		;
	return rc;
}

/* ---- vertices ---- */

static struct dk_bk_vertex *bk_vertex(struct dk_bk *bk, const unsigned char *digest, size_t n)
{
	if (!n || n >= sizeof(bk->v[0].digest))
		return NULL;
	for (int i = 0; i < bk->n; i++)
		if (strlen(bk->v[i].digest) == n && !memcmp(bk->v[i].digest, digest, n))
			return &bk->v[i];
	if (bk->n >= DK_BK_MAX_VERTICES)
		return NULL;
	struct dk_bk_vertex *v = &bk->v[bk->n++];
	memset(v, 0, sizeof(*v));
	memcpy(v->digest, digest, n);
	return v;
}

static void bk_emitf(dk_bk_emit_fn emit, void *ud, int is_error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void bk_emitf(dk_bk_emit_fn emit, void *ud, int is_error, const char *fmt, ...)
{
	struct dk_buf b = DK_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	dk_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	/* one line each: a control character in a name or a message is shown as '?' */
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.ptr[i] < 0x20 && b.ptr[i] != '\t')
			b.ptr[i] = '?';
	emit(ud, is_error, dk_buf_cstr(&b));
	dk_buf_release(&b);
}

struct bk_vertex_msg {
	const unsigned char *digest, *name, *error;
	size_t digest_len, name_len, error_len;
	int cached;
	double started, completed;
};

static void bk_parse_vertex(struct bk_vertex_msg *m, const struct pb_field *vf)
{
	memset(m, 0, sizeof(*m));
	struct pb b = {vf->data, vf->data + vf->len};
	struct pb_field f;
	while (pb_next(&b, &f) == 1) {
		switch (f.num) {
		case 1:
			m->digest = f.data, m->digest_len = f.len;
			break;
		case 3:
			m->name = f.data, m->name_len = f.len;
			break;
		case 4:
			m->cached = f.varint != 0;
			break;
		case 5:
			m->started = pb_timestamp(&f);
			break;
		case 6:
			m->completed = pb_timestamp(&f);
			break;
		case 7:
			m->error = f.data, m->error_len = f.len;
			break;
		}
	}
}

/* pass 0: vertices that started; 1: their output and warnings; 2: those that ended */
static void bk_pass(struct dk_bk *bk, const unsigned char *d, size_t n, int pass, dk_bk_emit_fn emit, void *ud)
{
	struct pb b = {d, d + n};
	struct pb_field f;
	while (pb_next(&b, &f) == 1) {
		if (!f.data)
			continue;
		if (f.num == 1 && pass != 1) {
			struct bk_vertex_msg m;
			bk_parse_vertex(&m, &f);
			struct dk_bk_vertex *vx = bk_vertex(bk, m.digest, m.digest_len);
			if (!vx)
				continue;
			if (pass == 0 && !vx->started && (m.started || m.cached || m.completed || m.error_len)) {
				vx->num = ++bk->next;
				vx->started = 1;
				vx->start_s = m.started;
				bk_emitf(emit, ud, 0, "#%d %.*s", vx->num, (int)m.name_len, m.name ? (const char *)m.name : "");
			}
			if (pass == 2 && vx->started && !vx->done && (m.cached || m.completed || m.error_len)) {
				vx->done = 1;
				if (m.error_len)
					bk_emitf(emit, ud, 1, "#%d ERROR: %.*s", vx->num, (int)m.error_len, (const char *)m.error);
				else if (m.cached)
					bk_emitf(emit, ud, 0, "#%d CACHED", vx->num);
				else
					bk_emitf(emit, ud, 0, "#%d DONE %.1fs", vx->num,
						 m.started && m.completed >= m.started ? m.completed - m.started : 0.0);
			}
		} else if ((f.num == 3 || f.num == 4) && pass == 1) {
			/* VertexLog {vertex 1, msg 4} / VertexWarning {vertex 1, short 3} */
			int warning = f.num == 4;
			struct pb lb = {f.data, f.data + f.len};
			struct pb_field lf;
			const unsigned char *digest = NULL, *msg = NULL;
			size_t digest_len = 0, msg_len = 0;
			while (pb_next(&lb, &lf) == 1) {
				if (lf.num == 1)
					digest = lf.data, digest_len = lf.len;
				else if (lf.num == (warning ? 3u : 4u))
					msg = lf.data, msg_len = lf.len;
			}
			struct dk_bk_vertex *vx = bk_vertex(bk, digest, digest_len);
			if (!msg || !msg_len)
				continue;
			int num = vx && vx->started ? vx->num : 0;
			/* line by line; a last line without its newline too */
			for (size_t s = 0; s < msg_len;) {
				const unsigned char *nl = memchr(msg + s, '\n', msg_len - s);
				size_t e = nl ? (size_t)(nl - msg) : msg_len;
				size_t le = e;
				while (le > s && msg[le - 1] == '\r')
					le--;
				if (warning)
					bk_emitf(emit, ud, 0, "#%d WARNING: %.*s", num, (int)(le - s), (const char *)msg + s);
				else
					bk_emitf(emit, ud, 0, "#%d %.*s", num, (int)(le - s), (const char *)msg + s);
				s = e + 1;
			}
		}
	}
}

int dk_bk_trace(struct dk_bk *bk, const char *aux, dk_bk_emit_fn emit, void *ud)
{
	size_t alen = strlen(aux), cap = alen / 4 * 3 + 3, n = 0;
	unsigned char *d = malloc(cap ? cap : 1);
	if (!d)
		return dk_error_set("out of memory");
	if (sodium_base642bin(d, cap, aux, alen, "\n\r ", &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(d);
		return dk_error_set("a BuildKit progress message is not base64");
	}
	if (pb_wellformed(d, n) < 0) {
		free(d);
		return dk_error_set("a BuildKit progress message is malformed");
	}
	for (int pass = 0; pass < 3; pass++)
		bk_pass(bk, d, n, pass, emit, ud);
	free(d);
	return 0;
}

/* ---- what needs BuildKit ---- */

/* Whether the instruction line l (leading blanks skipped) is instr with one
 * of the flags. */
static const char *bk_flag(const char *l, const char *instr, const char *const *flags)
{
	size_t n = strlen(instr);
	if (strncasecmp(l, instr, n) != 0 || (l[n] != ' ' && l[n] != '\t'))
		return NULL;
	for (const char *p = l + n; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "--", 2) != 0)
			return NULL; /* flags come first */
		for (size_t i = 0; flags[i]; i++) {
			size_t fl = strlen(flags[i]);
			if (!strncmp(p, flags[i], fl) && (p[fl] == '=' || p[fl] == ' ' || !p[fl]))
				return flags[i];
		}
		p += strcspn(p, " \t");
	}
	return NULL;
}

/* A heredoc in an instruction: "<<EOF", "<<-EOF", "<<'EOF'", "<<\"EOF\"". */
static int bk_heredoc(const char *l)
{
	static const char *const instrs[] = {"RUN", "COPY", "ADD"};
	int is = 0;
	for (size_t i = 0; i < sizeof(instrs) / sizeof(instrs[0]); i++) {
		size_t n = strlen(instrs[i]);
		is |= !strncasecmp(l, instrs[i], n) && (l[n] == ' ' || l[n] == '\t');
	}
	if (!is)
		return 0;
	for (const char *p = strstr(l, "<<"); p; p = strstr(p + 2, "<<")) {
		const char *q = p + 2;
		if (*q == '-')
			q++;
		if (*q == '"' || *q == '\'')
			q++;
		if (isalpha((unsigned char)*q) || *q == '_')
			return 1;
	}
	return 0;
}

int dk_bk_syntax(const char *df, char *image, size_t cap)
{
	int line = 0;
	for (const char *l = df; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		line++;
		const char *p = l;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '#')
			return 0; /* directives come first */
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "syntax", 6) != 0) {
			/* another directive (escape=, check=) keeps looking; a comment ends it */
			const char *k = p;
			while (isalnum((unsigned char)*k))
				k++;
			while (*k == ' ' || *k == '\t')
				k++;
			if (k == p || *k != '=')
				return 0;
			continue;
		}
		p += 6;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			return 0;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, " \t\r\n");
		if (!n)
			return 0;
		snprintf(image, cap, "%.*s", (int)n, p);
		return line;
	}
	return 0;
}

char *dk_bk_drop_syntax(const char *df)
{
	char image[256];
	int line = dk_bk_syntax(df, image, sizeof(image));
	struct dk_buf out = DK_BUF_INIT;
	int at = 0;
	for (const char *l = df; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (++at == line)
			dk_buf_printf(&out, "# (webops: the syntax directive for %s was dropped: it cannot be pulled here)",
				      image);
		else
			dk_buf_add(&out, l, len);
		if (nl)
			dk_buf_putc(&out, '\n');
		l = nl ? nl + 1 : NULL;
	}
	return dk_buf_detach(&out);
}

int dk_bk_needed(const char *df, char *why, size_t cap)
{
	char image[256];
	int line = dk_bk_syntax(df, image, sizeof(image));
	if (line) {
		snprintf(why, cap, "a '# syntax=%s' directive", image);
		return line;
	}
	static const char *const run_flags[] = {"--mount", "--network", "--security", NULL};
	static const char *const copy_flags[] = {"--chmod", "--link", "--parents", "--exclude", NULL};
	line = 0;
	for (const char *l = df; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		line++;
		while (*l == ' ' || *l == '\t')
			l++;
		char one[1024];
		size_t n = strcspn(l, "\n");
		snprintf(one, sizeof(one), "%.*s", (int)(n < sizeof(one) - 1 ? n : sizeof(one) - 1), l);
		const char *f;
		if ((f = bk_flag(one, "RUN", run_flags)) != NULL) {
			snprintf(why, cap, "RUN %s", f);
			return line;
		}
		static const char *const copy_instrs[] = {"COPY", "ADD"};
		for (size_t i = 0; i < 2; i++)
			if ((f = bk_flag(one, copy_instrs[i], copy_flags)) != NULL) {
				snprintf(why, cap, "%s %s", copy_instrs[i], f);
				return line;
			}
		if (bk_heredoc(one)) {
			snprintf(why, cap, "a heredoc (<<)");
			return line;
		}
	}
	return 0;
}
