/* Escapers for generated files other than HTML: a Dockerfile, an nginx
 * configuration, a systemd unit. The first two refuse what they cannot
 * make safe (a value must stay one word), the unit one quotes by the
 * directive of the line it is written into. Addons reach them by name
 * through the host table's render (see wo_tpl_escaper). */
#include <stdio.h>
#include <string.h>

#include "template/template.h"
#include "util/error.h"
#include "util/banned.h"

static int df_safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == ',' || c == ':' || c == '/' || c == '@' || c == '%' || c == '+' || c == '=' || c == '-';
}

/* A value as it may be shown in a message: the first 80 bytes, control
 * characters as \xNN. */
static void shown_value(struct wo_buf *shown, const char *s, size_t len)
{
	for (size_t k = 0; k < len && k < 80; k++) {
		unsigned char c = (unsigned char)s[k];
		if (c < 0x20 || c == 0x7f)
			wo_buf_printf(shown, "\\x%02x", c);
		else
			wo_buf_putc(shown, (char)c);
	}
}

/* One word of the safe set, as is; anything else refused, naming the value
 * and where it was to go. */
static int escape_word(struct wo_buf *out, const char *s, size_t len, const char *where)
{
	for (size_t i = 0; i < len; i++) {
		if (!df_safe_char((unsigned char)s[i])) {
			struct wo_buf shown = WO_BUF_INIT;
			shown_value(&shown, s, len);
			wo_error_set("the value '%s' cannot go into %s: only letters, digits and _ . , : / @ %% + = - are "
				     "allowed", wo_buf_cstr(&shown), where);
			wo_buf_release(&shown);
			return -1;
		}
	}
	return wo_buf_add(out, s, len);
}

int wo_tpl_escape_dockerfile(struct wo_buf *out, const char *s, size_t len, void *ud)
{
	(void)ud;
	return escape_word(out, s, len, "a Dockerfile");
}

int wo_tpl_escape_nginx(struct wo_buf *out, const char *s, size_t len, void *ud)
{
	(void)ud;
	return escape_word(out, s, len, "an nginx configuration");
}

enum unit_mode { UNIT_PLAIN, UNIT_ENV, UNIT_EXEC };

/* The directive of the line being written: the text from the line start to '='. */
static enum unit_mode unit_mode_of(const struct wo_buf *out)
{
	const char *s = wo_buf_cstr(out);
	size_t i = out->len;
	while (i > 0 && s[i - 1] != '\n')
		i--;
	const char *line = s + i;
	size_t llen = out->len - i;
	const char *eq = memchr(line, '=', llen);
	if (!eq || line[0] == '#' || line[0] == ';')
		return UNIT_PLAIN;
	size_t klen = (size_t)(eq - line);
	while (klen && (line[klen - 1] == ' ' || line[klen - 1] == '\t'))
		klen--;
	if (klen == 11 && strncmp(line, "Environment", 11) == 0)
		return UNIT_ENV;
	if (klen > 4 && strncmp(line, "Exec", 4) == 0)
		return UNIT_EXEC;
	return UNIT_PLAIN;
}

int wo_tpl_escape_systemd(struct wo_buf *out, const char *s, size_t len, void *ud)
{
	(void)ud;
	enum unit_mode mode = unit_mode_of(out);
	size_t start = out->len;
	int rc = 0;
	if (mode == UNIT_PLAIN) {
		for (size_t i = 0; i < len && rc == 0; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c < 0x20 || c == 0x7f || c == '\\') {
				struct wo_buf shown = WO_BUF_INIT;
				shown_value(&shown, s, len);
				wo_error_set("the value '%s' cannot go into this unit line: control characters and "
					     "backslashes are not allowed there", wo_buf_cstr(&shown));
				wo_buf_release(&shown);
				wo_buf_truncate(out, start);
				return -1;
			}
			rc = c == '%' ? wo_buf_puts(out, "%%") : wo_buf_putc(out, (char)c);
		}
		return rc;
	}
	rc = wo_buf_putc(out, '"');
	for (size_t i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '\\':
			rc = wo_buf_puts(out, "\\\\");
			break;
		case '"':
			rc = wo_buf_puts(out, "\\\"");
			break;
		case '\n':
			rc = wo_buf_puts(out, "\\n");
			break;
		case '\t':
			rc = wo_buf_puts(out, "\\t");
			break;
		case '\r':
			rc = wo_buf_puts(out, "\\r");
			break;
		case '%':
			rc = wo_buf_puts(out, "%%");
			break;
		case '$':
			rc = wo_buf_puts(out, mode == UNIT_EXEC ? "$$" : "$");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				rc = wo_buf_printf(out, "\\x%02x", c);
			else
				rc = wo_buf_putc(out, (char)c);
		}
	}
	if (rc == 0)
		rc = wo_buf_putc(out, '"');
	if (rc < 0) {
		wo_buf_truncate(out, start);
		return wo_error_set("out of memory");
	}
	return 0;
}

wo_tpl_escape_fn wo_tpl_escaper(const char *name)
{
	static const struct {
		const char *name;
		wo_tpl_escape_fn fn;
	} all[] = {
		{ "html", wo_tpl_escape_html },           { "none", wo_tpl_escape_none },
		{ "dockerfile", wo_tpl_escape_dockerfile }, { "nginx", wo_tpl_escape_nginx },
		{ "systemd", wo_tpl_escape_systemd },
	};
	for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i].name, name))
			return all[i].fn;
	return NULL;
}
