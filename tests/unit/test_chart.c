/* The pages' SVG charts (core/http/chart.c): caller text escaped, an empty
 * chart says so, a single point is drawn, values and times land where the
 * axes say, gaps break lines, and bad input appends nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "http/chart.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_escaping(void **state)
{
	(void)state;
	long long t[] = { 1000 };
	double y[] = { 5 };
	struct wo_chart_series s = { .label = "a<b>&\"c\"", .cls = "bad\" onload=\"x", .y = y };
	struct wo_chart c = { .id = "lat", .title = "<script>alert('x')</script> & \x01" "done", .empty_text = "none",
			      .unit = WO_CHART_MS, .t0 = 0, .t1 = 2000, .t = t, .n = 1, .series = &s, .nseries = 1 };
	struct wo_buf b = WO_BUF_INIT;
	assert_int_equal(wo_chart_svg(&b, &c), 0);
	const char *svg = wo_buf_cstr(&b);
	assert_null(strstr(svg, "<script"));
	assert_non_null(strstr(svg, "<title id=\"lat-title\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp;  done</title>"));
	assert_non_null(strstr(svg, "a&lt;b&gt;&amp;&quot;c&quot;"));
	/* a class that is not a plain token is dropped, not escaped into an attribute */
	assert_null(strstr(svg, "onload"));
	assert_non_null(strstr(svg, "aria-labelledby=\"lat-title lat-desc\""));
	wo_buf_release(&b);

	/* an id that is not a plain token: refused, nothing written */
	c.id = "x\"><script>";
	assert_int_equal(wo_chart_svg(&b, &c), -1);
	assert_int_equal(b.len, 0);

	wo_chart_xml(&b, "<&>\"'\n");
	assert_string_equal(wo_buf_cstr(&b), "&lt;&amp;&gt;&quot;&#39; ");
	wo_buf_release(&b);
}

static void test_empty(void **state)
{
	(void)state;
	struct wo_chart_series s = { .label = "Latency", .cls = "s-lat", .y = NULL };
	struct wo_chart c = { .id = "e", .title = "Latency", .empty_text = "no checks yet", .unit = WO_CHART_MS,
			      .t0 = 0, .t1 = 86400, .n = 0, .series = &s, .nseries = 1 };
	struct wo_buf b = WO_BUF_INIT;
	assert_int_equal(wo_chart_svg(&b, &c), 0);
	const char *svg = wo_buf_cstr(&b);
	assert_non_null(strstr(svg, "<desc id=\"e-desc\">no checks yet</desc>"));
	assert_non_null(strstr(svg, ">no checks yet</text>"));
	assert_null(strstr(svg, "<path"));
	assert_null(strstr(svg, "<circle"));
	assert_true(strlen(svg) > 6 && !strcmp(svg + strlen(svg) - 6, "</svg>"));
	wo_buf_release(&b);

	/* values that are all missing (NAN, negative) or outside the time axis: empty too */
	long long t[] = { 10, 20, 999999 };
	double y[] = { NAN, -1, 5 };
	s.y = y;
	c.t = t;
	c.n = 3;
	assert_int_equal(wo_chart_svg(&b, &c), 0);
	assert_non_null(strstr(wo_buf_cstr(&b), ">no checks yet</text>"));
	assert_null(strstr(wo_buf_cstr(&b), "<circle"));
	wo_buf_release(&b);
}

static void test_single_point(void **state)
{
	(void)state;
	long long t[] = { 500 };
	double y[] = { 35 };
	struct wo_chart_series s = { .label = "Latency", .cls = "s-lat", .y = y };
	struct wo_chart c = { .id = "one", .title = "t", .empty_text = "none", .unit = WO_CHART_MS, .t0 = 0,
			      .t1 = 1000, .t = t, .n = 1, .bucket_s = 100, .series = &s, .nseries = 1 };
	struct wo_buf b = WO_BUF_INIT;
	assert_int_equal(wo_chart_svg(&b, &c), 0);
	const char *svg = wo_buf_cstr(&b);
	/* x halfway along the plot; 35 ms on a 0..40 ms axis */
	char want[96];
	snprintf(want, sizeof(want), "<circle cx=\"%.1f\" cy=\"%.1f\"", (WO_CHART_LEFT + WO_CHART_RIGHT) / 2.0,
		 WO_CHART_BOTTOM - 35.0 / 40 * (WO_CHART_BOTTOM - WO_CHART_TOP));
	assert_non_null(strstr(svg, want));
	assert_null(strstr(svg, "<path"));
	assert_non_null(strstr(svg, ">40 ms</text>"));
	assert_non_null(strstr(svg, ">20 ms</text>"));
	assert_non_null(strstr(svg, "1 value, lowest 35 ms, highest 35 ms, latest 35 ms."));
	wo_buf_release(&b);
}

static void test_scaling(void **state)
{
	(void)state;
	long long t[] = { 1000, 2000 };
	double y[] = { 50, 100 };
	struct wo_chart_series s = { .label = "Latency", .cls = "s-lat", .y = y };
	struct wo_chart c = { .id = "sc", .title = "t", .empty_text = "none", .unit = WO_CHART_MS, .t0 = 1000,
			      .t1 = 2000, .t = t, .n = 2, .series = &s, .nseries = 1 };
	struct wo_buf b = WO_BUF_INIT;
	assert_int_equal(wo_chart_svg(&b, &c), 0);
	char want[96];
	/* t0 at the left edge, t1 at the right; 100 at the top, 50 halfway */
	snprintf(want, sizeof(want), "d=\"M%d.0,%.1f L%d.0,%d.0\"", WO_CHART_LEFT,
		 (WO_CHART_TOP + WO_CHART_BOTTOM) / 2.0, WO_CHART_RIGHT, WO_CHART_TOP);
	assert_non_null(strstr(wo_buf_cstr(&b), want));
	assert_non_null(strstr(wo_buf_cstr(&b), ">100 ms</text>"));
	assert_non_null(strstr(wo_buf_cstr(&b), ">0 ms</text>"));
	wo_buf_release(&b);

	assert_true(wo_chart_nice_max(0, WO_CHART_MS) == 1);
	assert_true(wo_chart_nice_max(3, WO_CHART_MS) == 3);
	assert_true(wo_chart_nice_max(7, WO_CHART_PERCENT) == 8);
	assert_true(wo_chart_nice_max(9, WO_CHART_PERCENT) == 10);
	assert_true(wo_chart_nice_max(252, WO_CHART_MS) == 300);
	assert_true(wo_chart_nice_max(100, WO_CHART_MS) == 100);
	assert_true(wo_chart_nice_max(101, WO_CHART_MS) == 200);
	double h = wo_chart_nice_max(0.3, WO_CHART_PERCENT);
	assert_true(h > 0.3 - 1e-9 && h < 0.3 + 1e-9);
	assert_true(wo_chart_nice_max(0, WO_CHART_BYTES) == 1024);
	assert_true(wo_chart_nice_max(50e6, WO_CHART_BYTES) == 50.0 * 1024 * 1024);
	assert_true(wo_chart_nice_max(3.5 * 1024 * 1024 * 1024, WO_CHART_BYTES) == 4.0 * 1024 * 1024 * 1024);

	char f[32];
	wo_chart_format(f, sizeof(f), 12, WO_CHART_MS);
	assert_string_equal(f, "12 ms");
	wo_chart_format(f, sizeof(f), 1500, WO_CHART_MS);
	assert_string_equal(f, "1.5 s");
	wo_chart_format(f, sizeof(f), 4.3, WO_CHART_PERCENT);
	assert_string_equal(f, "4.3%");
	wo_chart_format(f, sizeof(f), 50.0 * 1024 * 1024, WO_CHART_BYTES);
	assert_string_equal(f, "50 MiB");
	wo_chart_format(f, sizeof(f), 0, WO_CHART_BYTES);
	assert_string_equal(f, "0 B");
	wo_chart_format(f, sizeof(f), 2.0, WO_CHART_COUNT);
	assert_string_equal(f, "2");
}

static void test_gaps_and_marks(void **state)
{
	(void)state;
	/* 0-200 every 100 s, nothing until 600: two runs; 900 alone: a dot */
	long long t[] = { 0, 100, 200, 600, 700, 900 };
	double lat[] = { 10, 20, 10, 30, 20, 10 };
	double fails[] = { 0, 0, 2, 0, NAN, 0 };
	struct wo_chart_series s[] = {
		{ .label = "Latency", .cls = "s-lat", .kind = WO_CHART_LINE, .y = lat },
		{ .label = "Failed checks", .cls = "s-fail", .kind = WO_CHART_MARKS, .y = fails },
	};
	lat[4] = NAN;
	struct wo_chart c = { .id = "g", .title = "t", .empty_text = "none", .unit = WO_CHART_MS, .t0 = 0, .t1 = 1000,
			      .t = t, .n = 6, .bucket_s = 100, .series = s, .nseries = 2 };
	struct wo_buf b = WO_BUF_INIT;
	assert_int_equal(wo_chart_svg(&b, &c), 0);
	const char *svg = wo_buf_cstr(&b);
	/* 0,100,200 is one run; 600 and 900 are alone (700 has no value) */
	assert_int_equal(count(svg, "<path"), 1);
	assert_int_equal(count(svg, " M"), 0);
	assert_int_equal(count(svg, "d=\"M"), 1);
	assert_int_equal(count(svg, "<circle"), 2);
	/* one mark, titled with its count, one interval wide */
	assert_int_equal(count(svg, "<rect x=\"") - 1 /* the legend's swatch */, 1);
	assert_non_null(strstr(svg, "<title>Failed checks: 2</title>"));
	char want[64];
	snprintf(want, sizeof(want), "width=\"%.1f\"", (WO_CHART_RIGHT - WO_CHART_LEFT) / 10.0);
	assert_non_null(strstr(svg, want));
	assert_non_null(strstr(svg, "Failed checks: 2 in 1 interval."));
	assert_non_null(strstr(svg, "class=\"series s-lat\""));
	assert_non_null(strstr(svg, "class=\"marks s-fail\""));
	wo_buf_release(&b);

	/* a longer allowed gap (checks every 5 minutes) joins 200 and 600 */
	c.gap_s = 500;
	assert_int_equal(wo_chart_svg(&b, &c), 0);
	assert_int_equal(count(wo_buf_cstr(&b), "d=\"M"), 1);
	assert_int_equal(count(wo_buf_cstr(&b), "<circle"), 1);
	wo_buf_release(&b);

	/* an unusable time axis: refused, nothing appended */
	c.t1 = c.t0;
	assert_int_equal(wo_chart_svg(&b, &c), -1);
	assert_int_equal(b.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_point),
		cmocka_unit_test(test_scaling),
		cmocka_unit_test(test_gaps_and_marks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
