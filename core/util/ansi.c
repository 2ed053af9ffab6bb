/* ANSI SGR colour sequences to HTML classes, or stripped. */
#include "util/ansi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

size_t wo_ansi_sgr_len(const char *s)
{
	if (s[0] != '\x1b' || s[1] != '[')
		return 0;
	size_t i = 2;
	while (i < 64 && ((s[i] >= '0' && s[i] <= '9') || s[i] == ';'))
		i++;
	return s[i] == 'm' ? i + 1 : 0;
}

struct sgr {
	int bold, italic, underline;
	int fg, bg; /* -1: default */
};

/* Applies the parameters of one SGR sequence (between "ESC[" and "m"). */
static void sgr_apply(struct sgr *st, const char *p, size_t n)
{
	int vals[16], nv = 0, cur = 0, have = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i] == ';') {
			if (nv < 16)
				vals[nv++] = have ? cur : 0;
			cur = 0;
			have = 0;
		} else {
			cur = cur * 10 + (p[i] - '0');
			if (cur > 1000)
				cur = 1000;
			have = 1;
		}
	}
	for (int i = 0; i < nv; i++) {
		int v = vals[i];
		if (v == 0) {
			*st = (struct sgr){0, 0, 0, -1, -1};
		} else if (v == 1) {
			st->bold = 1;
		} else if (v == 3) {
			st->italic = 1;
		} else if (v == 4) {
			st->underline = 1;
		} else if (v == 22) {
			st->bold = 0;
		} else if (v == 23) {
			st->italic = 0;
		} else if (v == 24) {
			st->underline = 0;
		} else if (v >= 30 && v <= 37) {
			st->fg = v - 30;
		} else if (v == 39) {
			st->fg = -1;
		} else if (v >= 40 && v <= 47) {
			st->bg = v - 40;
		} else if (v == 49) {
			st->bg = -1;
		} else if (v >= 90 && v <= 97) {
			st->fg = v - 90 + 8;
		} else if ((v == 38 || v == 48) && i + 2 < nv && vals[i + 1] == 5) {
			/* 256 colours: the 16 basic ones kept, the others left default */
			int c = vals[i + 2];
			if (v == 38)
				st->fg = c < 16 ? c : -1;
			else
				st->bg = c < 8 ? c : -1;
			i += 2;
		} else if ((v == 38 || v == 48) && i + 4 < nv && vals[i + 1] == 2) {
			/* true colour: shown as the default */
			if (v == 38)
				st->fg = -1;
			else
				st->bg = -1;
			i += 4;
		}
	}
}

static int sgr_plain(const struct sgr *st)
{
	return !st->bold && !st->italic && !st->underline && st->fg < 0 && st->bg < 0;
}

static int sgr_open(struct wo_buf *out, const struct sgr *st)
{
	int rc = wo_buf_puts(out, "<span class=\"");
	const char *sep = "";
	if (st->bold)
		rc |= wo_buf_printf(out, "%sa-b", sep), sep = " ";
	if (st->italic)
		rc |= wo_buf_printf(out, "%sa-i", sep), sep = " ";
	if (st->underline)
		rc |= wo_buf_printf(out, "%sa-u", sep), sep = " ";
	if (st->fg >= 0)
		rc |= wo_buf_printf(out, "%sa-f%d", sep, st->fg), sep = " ";
	if (st->bg >= 0)
		rc |= wo_buf_printf(out, "%sa-k%d", sep, st->bg);
	return rc | wo_buf_puts(out, "\">");
}

int wo_ansi_html(struct wo_buf *out, const char *text)
{
	struct sgr st = {0, 0, 0, -1, -1};
	int open = 0, rc = 0;
	for (const char *s = text; *s && rc == 0;) {
		size_t n = wo_ansi_sgr_len(s);
		if (n) {
			struct sgr next = st;
			sgr_apply(&next, s + 2, n - 3);
			if (memcmp(&next, &st, sizeof(st)) != 0) {
				if (open)
					rc |= wo_buf_puts(out, "</span>");
				st = next;
				open = !sgr_plain(&st);
				if (open)
					rc |= sgr_open(out, &st);
			}
			s += n;
			continue;
		}
		unsigned char c = (unsigned char)*s++;
		switch (c) {
		case '&':
			rc |= wo_buf_puts(out, "&amp;");
			break;
		case '<':
			rc |= wo_buf_puts(out, "&lt;");
			break;
		case '>':
			rc |= wo_buf_puts(out, "&gt;");
			break;
		case '"':
			rc |= wo_buf_puts(out, "&quot;");
			break;
		case '\'':
			rc |= wo_buf_puts(out, "&#39;");
			break;
		case '\t':
			rc |= wo_buf_putc(out, '\t');
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				rc |= wo_buf_printf(out, "\\x%02x", c);
			else
				rc |= wo_buf_putc(out, (char)c);
		}
	}
	if (open)
		rc |= wo_buf_puts(out, "</span>");
	return rc ? -1 : 0;
}

int wo_ansi_strip(struct wo_buf *out, const char *text)
{
	int rc = 0;
	for (const char *s = text; *s && rc == 0;) {
		size_t n = wo_ansi_sgr_len(s);
		if (n) {
			s += n;
			continue;
		}
		rc = wo_buf_putc(out, *s++);
	}
	return rc;
}
