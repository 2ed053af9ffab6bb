/* Typed addon values (deployment fields and settings): parsing from text,
 * validation against the manifest's rules, and formatting back to text. */
#ifndef WO_ADDON_FIELD_H
#define WO_ADDON_FIELD_H

#include <jansson.h>

#include "addon/manifest.h"
#include "util/buf.h"

/* Parses text per f's type and validates it. bool: true/false/1/0/yes/no/on/off;
 * int: decimal; string/enum: as is; list: a JSON array or comma-separated;
 * map: a JSON object or K=V,K=V. On failure appends the reason to err
 * (without the field's name) and leaves *out alone. */
int wo_addon_field_parse(json_t **out, const struct wo_addon_field *f, const char *text, struct wo_buf *err);
/* Validates an already typed value (type, pattern, min/max, choices). */
int wo_addon_field_check(const struct wo_addon_field *f, const json_t *v, struct wo_buf *err);
/* The value as text: strings as is, bools "true"/"false", integers in
 * decimal, lists and maps as compact JSON. Caller frees; NULL for NULL. */
char *wo_addon_field_format(const json_t *v);
/* Compiles f->pattern (POSIX extended); appends the reason to err on failure. */
int wo_addon_field_compile(struct wo_addon_field *f, struct wo_buf *err);
void wo_addon_field_release(struct wo_addon_field *f);
/* Parses a bool word; -1 when it is none. */
int wo_addon_parse_bool(const char *s);
/* Parses a whole decimal int64; -1 when it is not one. */
int wo_addon_parse_int(int64_t *out, const char *s);
/* Parses a field type name (bool, boolean, int, integer, string, text, enum,
 * choice, select, list, array, map, object). */
int wo_field_type_parse(enum wo_field_type *out, const char *s);

#endif
