/* Charts for the web pages as inline SVG made on the server: no script, no
 * library, nothing for the CSP to refuse. A chart has a time axis and one
 * value axis; its series are lines (a polyline per run of points, broken
 * where data is missing) or marks (bands over the intervals where a count is
 * above zero, e.g. failed checks). Everything in the output is made from
 * numbers except the texts the caller gives (title, labels, empty text),
 * which are XML-escaped, so the result may be put in a page unescaped. */
#ifndef WO_HTTP_CHART_H
#define WO_HTTP_CHART_H

#include <stddef.h>

#include "util/buf.h"

/* The drawing's size (viewBox units; CSS scales it) and its plot area. */
#define WO_CHART_W 360
#define WO_CHART_H 150
#define WO_CHART_LEFT 50
#define WO_CHART_RIGHT (WO_CHART_W - 10)
#define WO_CHART_TOP 26
#define WO_CHART_BOTTOM (WO_CHART_H - 22)

enum wo_chart_unit { WO_CHART_COUNT, WO_CHART_MS, WO_CHART_PERCENT, WO_CHART_BYTES };
enum wo_chart_kind { WO_CHART_LINE, WO_CHART_MARKS };

struct wo_chart_series {
	const char *label;  /* legend text and the start of its description */
	const char *cls;    /* CSS class of its line or marks ([a-z0-9-]; others are dropped) */
	enum wo_chart_kind kind;
	const double *y;    /* n values (the chart's n); NAN or negative: no value there */
};

struct wo_chart {
	const char *id;         /* element id prefix, unique on the page ([A-Za-z0-9_-]) */
	const char *title;      /* the SVG's <title> */
	const char *empty_text; /* drawn when no series has a value, e.g. "no checks yet" */
	enum wo_chart_unit unit; /* of the value axis and of the line series */
	long long t0, t1;       /* the time axis, Unix seconds, t0 < t1 */
	const long long *t;     /* n times, ascending; points outside [t0, t1] are left out */
	size_t n;
	long long bucket_s;     /* the width of one interval, and of a mark (0: 2 units) */
	long long gap_s;        /* points further apart break a line; 0: 1.5 intervals
				   (never, when bucket_s is 0 too) */
	const struct wo_chart_series *series;
	size_t nseries;
};

/* Appends the chart's <svg> element to out; 0, or -1 when c is unusable
 * (no id, t1 <= t0) with nothing appended. */
int wo_chart_svg(struct wo_buf *out, const struct wo_chart *c);

/* The top of the value axis for a largest value v: 1, 2, 3, 4, 5, 6 or 8
 * times a power of ten (for bytes, in a power of 1024's unit), at least v;
 * 1 (1 KiB for bytes) when v <= 0. */
double wo_chart_nice_max(double v, enum wo_chart_unit unit);

/* A value as text in its unit: "12 ms", "1.5 s", "4.2%", "48 MiB", "3". */
void wo_chart_format(char *out, size_t n, double v, enum wo_chart_unit unit);

/* Appends s with & < > " ' escaped and control characters as spaces. */
void wo_chart_xml(struct wo_buf *out, const char *s);

#endif
