/* Inline SVG charts for the pages (see chart.h): coordinates and labels are
 * printed from numbers; caller texts go through wo_chart_xml. Colours come
 * from style.css by class, with presentation attributes as the fallback. */
#include "http/chart.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/banned.h"

void wo_chart_xml(struct wo_buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '&': wo_buf_puts(out, "&amp;"); break;
		case '<': wo_buf_puts(out, "&lt;"); break;
		case '>': wo_buf_puts(out, "&gt;"); break;
		case '"': wo_buf_puts(out, "&quot;"); break;
		case '\'': wo_buf_puts(out, "&#39;"); break;
		default:
			/* XML 1.0 has no place for control characters */
			wo_buf_putc(out, *p < 0x20 || *p == 0x7f ? ' ' : (char)*p);
		}
	}
}

/* Appends s when it is a safe class or id token ([A-Za-z0-9_-]), else nothing. */
static void put_token(struct wo_buf *out, const char *s)
{
	if (!s || !*s || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(s))
		return;
	wo_buf_puts(out, s);
}

/* no libm: the few helpers needed, by hand */
static int have(double v)
{
	return isfinite(v) && v >= 0;
}

static double absd(double v)
{
	return v < 0 ? -v : v;
}

static const char *const byte_units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };

double wo_chart_nice_max(double v, enum wo_chart_unit unit)
{
	double scale = 1;
	if (unit == WO_CHART_BYTES) {
		if (!(v > 0))
			return 1024;
		for (int k = 0; k < 5 && v / scale >= 1024; k++)
			scale *= 1024;
	} else if (!(v > 0) || !isfinite(v)) {
		return 1;
	}
	double x = v / scale, e = 1;
	while (x / e >= 10)
		e *= 10;
	while (x / e < 1)
		e /= 10;
	double f = x / e;
	/* steps whose halves are round too; a little slack so a value a hair
	 * above a step (rounding) does not take the next one */
	static const double steps[] = { 1, 2, 3, 4, 5, 6, 8, 10 };
	double step = 10;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (f <= steps[i] * 1.0000001) {
			step = steps[i];
			break;
		}
	return step * e * scale;
}

/* "%.0f" for big numbers, one decimal below 10 (none when it is .0). */
static void num(char *out, size_t n, double v)
{
	double frac = absd(v) - (double)(long long)absd(v);
	if (v != 0 && absd(v) < 10 && frac >= 0.05 && frac < 0.95)
		snprintf(out, n, "%.1f", v);
	else
		snprintf(out, n, "%.0f", v);
}

void wo_chart_format(char *out, size_t n, double v, enum wo_chart_unit unit)
{
	char t[48];
	switch (unit) {
	case WO_CHART_MS:
		if (v >= 1000) {
			num(t, sizeof(t), v / 1000);
			snprintf(out, n, "%s s", t);
		} else {
			num(t, sizeof(t), v);
			snprintf(out, n, "%s ms", t);
		}
		return;
	case WO_CHART_PERCENT:
		num(t, sizeof(t), v);
		snprintf(out, n, "%s%%", t);
		return;
	case WO_CHART_BYTES: {
		int k = 0;
		while (k < 5 && absd(v) >= 1024) {
			v /= 1024;
			k++;
		}
		num(t, sizeof(t), v);
		snprintf(out, n, "%s %s", t, byte_units[k]);
		return;
	}
	default:
		num(out, n, v);
	}
}

static double map_x(const struct wo_chart *c, long long t)
{
	return WO_CHART_LEFT + (double)(t - c->t0) * (WO_CHART_RIGHT - WO_CHART_LEFT) / (double)(c->t1 - c->t0);
}

static double map_y(double v, double ymax)
{
	if (v > ymax)
		v = ymax;
	return WO_CHART_BOTTOM - v / ymax * (WO_CHART_BOTTOM - WO_CHART_TOP);
}

static int in_range(const struct wo_chart *c, size_t i)
{
	return c->t[i] >= c->t0 && c->t[i] <= c->t1;
}

/* The time axis' step: the smallest of these giving at most 6 ticks. */
static long long time_step(long long range)
{
	static const long long steps[] = { 60, 300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (range / steps[i] <= 6)
			return steps[i];
	return range / 6 > 0 ? range / 6 : 1;
}

static void axes(struct wo_buf *b, const struct wo_chart *c, double ymax, int with_values)
{
	char lab[48];
	/* value axis: 0, half, top, with grid lines */
	for (int i = 0; i <= 2; i++) {
		double v = ymax * i / 2;
		double y = map_y(v, ymax);
		wo_buf_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#8884\"/>",
			      WO_CHART_LEFT, y, WO_CHART_RIGHT, y);
		if (with_values) {
			wo_chart_format(lab, sizeof(lab), v, c->unit);
			wo_buf_printf(b, "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">",
				      WO_CHART_LEFT - 6, y + 4);
			wo_chart_xml(b, lab);
			wo_buf_puts(b, "</text>");
		}
	}
	/* time axis: UTC clock times on round steps */
	long long step = time_step(c->t1 - c->t0);
	long long first = (c->t0 + step - 1) / step * step;
	for (long long t = first; t <= c->t1; t += step) {
		double x = map_x(c, t);
		time_t tt = (time_t)t;
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(lab, sizeof(lab), step >= 86400 ? "%m-%d" : "%H:%M", &tm);
		wo_buf_printf(b, "<line class=\"tick-mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#8888\"/>", x,
			      WO_CHART_BOTTOM, x, WO_CHART_BOTTOM + 4);
		wo_buf_printf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">", x,
			      WO_CHART_H - 6);
		wo_chart_xml(b, lab);
		wo_buf_puts(b, "</text>");
	}
	wo_buf_printf(b, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>", WO_CHART_LEFT,
		      WO_CHART_BOTTOM, WO_CHART_RIGHT, WO_CHART_BOTTOM);
}

static void legend(struct wo_buf *b, const struct wo_chart *c)
{
	double x = WO_CHART_LEFT;
	for (size_t s = 0; s < c->nseries; s++) {
		const struct wo_chart_series *sr = &c->series[s];
		wo_buf_puts(b, "<g class=\"key ");
		put_token(b, sr->cls);
		wo_buf_puts(b, "\">");
		if (sr->kind == WO_CHART_MARKS)
			wo_buf_printf(b, "<rect x=\"%.1f\" y=\"8\" width=\"12\" height=\"10\" fill=\"#d33\" fill-opacity=\"0.35\"/>", x);
		else
			wo_buf_printf(b, "<line x1=\"%.1f\" y1=\"13\" x2=\"%.1f\" y2=\"13\" stroke=\"currentColor\" stroke-width=\"2\"/>",
				      x, x + 14);
		wo_buf_printf(b, "<text x=\"%.1f\" y=\"17\" font-size=\"11\">", x + 18);
		wo_chart_xml(b, sr->label);
		wo_buf_puts(b, "</text></g>");
		x += 30 + 6.5 * (double)strlen(sr->label ? sr->label : "");
	}
}

/* A line series: one path, M starting each run of two or more points, and
 * a dot for a point that is a run of its own (alone it would draw nothing). */
static void line_series(struct wo_buf *b, const struct wo_chart *c, const struct wo_chart_series *sr, double ymax)
{
	struct wo_buf d = WO_BUF_INIT, cur = WO_BUF_INIT, dots = WO_BUF_INIT;
	long long prev_t = 0, gap = c->gap_s > 0 ? c->gap_s : c->bucket_s * 3 / 2;
	size_t run = 0;
	double run_x = 0, run_y = 0;
	for (size_t i = 0; i <= c->n; i++) {
		int ok = i < c->n && in_range(c, i) && have(sr->y[i]);
		int brk = !ok || (run > 0 && gap > 0 && c->t[i] - prev_t > gap);
		if (brk && run == 1)
			wo_buf_printf(&dots, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"currentColor\"/>", run_x, run_y);
		else if (brk && run > 1)
			wo_buf_printf(&d, "%s%s", d.len ? " " : "", cur.ptr);
		if (brk) {
			run = 0;
			wo_buf_clear(&cur);
		}
		if (!ok)
			continue;
		double x = map_x(c, c->t[i]), y = map_y(sr->y[i], ymax);
		wo_buf_printf(&cur, "%s%c%.1f,%.1f", run ? " " : "", run ? 'L' : 'M', x, y);
		run_x = x;
		run_y = y;
		prev_t = c->t[i];
		run++;
	}
	wo_buf_puts(b, "<g class=\"series ");
	put_token(b, sr->cls);
	wo_buf_puts(b, "\">");
	if (d.len)
		wo_buf_printf(b, "<path d=\"%s\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\" "
			      "stroke-linejoin=\"round\" stroke-linecap=\"round\"/>", d.ptr);
	wo_buf_puts(b, wo_buf_cstr(&dots));
	wo_buf_puts(b, "</g>");
	wo_buf_release(&d);
	wo_buf_release(&cur);
	wo_buf_release(&dots);
}

/* Marks: a band over each interval whose value is above zero, titled with it. */
static void mark_series(struct wo_buf *b, const struct wo_chart *c, const struct wo_chart_series *sr)
{
	double w = c->bucket_s > 0 ? map_x(c, c->t0 + c->bucket_s) - WO_CHART_LEFT : 2;
	if (w < 2)
		w = 2;
	wo_buf_puts(b, "<g class=\"marks ");
	put_token(b, sr->cls);
	wo_buf_puts(b, "\">");
	for (size_t i = 0; i < c->n; i++) {
		if (!in_range(c, i) || !have(sr->y[i]) || !(sr->y[i] > 0))
			continue;
		double x = map_x(c, c->t[i]);
		if (x + w > WO_CHART_RIGHT)
			x = WO_CHART_RIGHT - w;
		char v[48];
		wo_chart_format(v, sizeof(v), sr->y[i], WO_CHART_COUNT);
		wo_buf_printf(b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#d33\" fill-opacity=\"0.3\"><title>",
			      x, WO_CHART_TOP, w, WO_CHART_BOTTOM - WO_CHART_TOP);
		wo_chart_xml(b, sr->label);
		wo_buf_printf(b, ": %s</title></rect>", v);
	}
	wo_buf_puts(b, "</g>");
}

/* The <desc>: per series how many points, lowest, highest and latest. */
static void describe(struct wo_buf *b, const struct wo_chart *c)
{
	for (size_t s = 0; s < c->nseries; s++) {
		const struct wo_chart_series *sr = &c->series[s];
		size_t n = 0;
		double lo = 0, hi = 0, last = 0, sum = 0;
		for (size_t i = 0; i < c->n; i++) {
			if (!in_range(c, i) || !have(sr->y[i]))
				continue;
			double v = sr->y[i];
			if (sr->kind == WO_CHART_MARKS && !(v > 0))
				continue;
			lo = n && lo < v ? lo : v;
			hi = n && hi > v ? hi : v;
			last = v;
			sum += v;
			n++;
		}
		if (s)
			wo_buf_putc(b, ' ');
		wo_chart_xml(b, sr->label);
		char a[48], z[48], l[48];
		if (sr->kind == WO_CHART_MARKS) {
			wo_chart_format(a, sizeof(a), sum, WO_CHART_COUNT);
			wo_buf_printf(b, ": %s in %zu interval%s.", a, n, n == 1 ? "" : "s");
		} else if (n == 0) {
			wo_buf_puts(b, ": no values.");
		} else {
			wo_chart_format(a, sizeof(a), lo, c->unit);
			wo_chart_format(z, sizeof(z), hi, c->unit);
			wo_chart_format(l, sizeof(l), last, c->unit);
			wo_buf_printf(b, ": %zu value%s, lowest %s, highest %s, latest %s.", n, n == 1 ? "" : "s", a, z, l);
		}
	}
}

int wo_chart_svg(struct wo_buf *out, const struct wo_chart *c)
{
	if (!c || !c->id || !*c->id || c->t1 <= c->t0 || (c->n && !c->t))
		return -1;
	struct wo_buf id = WO_BUF_INIT;
	put_token(&id, c->id);
	if (!id.len)
		return -1;

	/* the value axis fits the highest line value; marks have their own scale */
	double top = 0;
	int any = 0;
	for (size_t s = 0; s < c->nseries; s++) {
		const struct wo_chart_series *sr = &c->series[s];
		for (size_t i = 0; sr->y && i < c->n; i++) {
			if (!in_range(c, i) || !have(sr->y[i]))
				continue;
			if (sr->kind == WO_CHART_MARKS) {
				any |= sr->y[i] > 0;
				continue;
			}
			any = 1;
			top = top > sr->y[i] ? top : sr->y[i];
		}
	}
	double ymax = wo_chart_nice_max(top, c->unit);

	struct wo_buf *b = out;
	wo_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" "
		      "height=\"%d\" role=\"img\" aria-labelledby=\"%s-title %s-desc\">",
		      WO_CHART_W, WO_CHART_H, WO_CHART_W, WO_CHART_H, id.ptr, id.ptr);
	wo_buf_printf(b, "<title id=\"%s-title\">", id.ptr);
	wo_chart_xml(b, c->title);
	wo_buf_printf(b, "</title><desc id=\"%s-desc\">", id.ptr);
	if (any)
		describe(b, c);
	else
		wo_chart_xml(b, c->empty_text);
	wo_buf_puts(b, "</desc>");
	axes(b, c, ymax, any);
	if (!any) {
		wo_buf_printf(b, "<text class=\"empty\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">",
			      (WO_CHART_LEFT + WO_CHART_RIGHT) / 2, (WO_CHART_TOP + WO_CHART_BOTTOM) / 2 + 4);
		wo_chart_xml(b, c->empty_text);
		wo_buf_puts(b, "</text></svg>");
		wo_buf_release(&id);
		return 0;
	}
	legend(b, c);
	/* marks under the lines */
	for (size_t s = 0; s < c->nseries; s++)
		if (c->series[s].kind == WO_CHART_MARKS && c->series[s].y)
			mark_series(b, c, &c->series[s]);
	for (size_t s = 0; s < c->nseries; s++)
		if (c->series[s].kind == WO_CHART_LINE && c->series[s].y)
			line_series(b, c, &c->series[s], ymax);
	wo_buf_puts(b, "</svg>");
	wo_buf_release(&id);
	return 0;
}
