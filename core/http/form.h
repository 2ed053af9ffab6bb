/* Request bodies of HTML forms: application/x-www-form-urlencoded and
 * multipart/form-data (text fields only), parsed from a whole, capped body.
 * Pure functions over bytes, so they are fuzzed on their own. */
#ifndef WO_HTTP_FORM_H
#define WO_HTTP_FORM_H

#include <stddef.h>

#define WO_FORM_FIELDS_MAX 1000

struct wo_form {
	size_t n;
	char **keys;   /* NUL-terminated; a value may contain NULs only in multipart (cut there) */
	char **vals;
};

void wo_form_init(struct wo_form *f);
void wo_form_release(struct wo_form *f);
/* Percent-decodes s[0..len) ('+' as space when plus_space) into a new string. */
char *wo_url_decode(const char *s, size_t len, int plus_space);
int wo_form_parse_urlencoded(struct wo_form *f, const char *data, size_t len);
/* boundary: the Content-Type's boundary parameter. */
int wo_form_parse_multipart(struct wo_form *f, const char *data, size_t len, const char *boundary);
/* Picks the parser from the Content-Type; -2 when the type is neither form type. */
int wo_form_parse(struct wo_form *f, const char *content_type, const char *data, size_t len);
/* The last value of key, NULL when absent. */
const char *wo_form_get(const struct wo_form *f, const char *key);
/* The i-th value of key (0-based), NULL past the end. */
const char *wo_form_get_nth(const struct wo_form *f, const char *key, size_t i);

#endif
