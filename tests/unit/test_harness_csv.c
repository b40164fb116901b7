/* The harness's CSV reader and writer (harness/analyze/csv.c) and the
 * results loader on top of it (results.c). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../harness/analyze/csv.h"
#include "../../harness/analyze/results.h"

static int parse(const char *text, struct csv_table *t, char *err, size_t errlen)
{
	return csv_parse(text, strlen(text), t, err, errlen);
}

static void test_plain_fields(void **state)
{
	(void)state;
	struct csv_table t;
	char err[128];
	assert_int_equal(parse("a,b,c\n1,2,3\n4,,6\n", &t, err, sizeof err), 0);
	assert_int_equal(t.ncols, 3);
	assert_int_equal(t.nrows, 2);
	assert_string_equal(t.header[2], "c");
	assert_string_equal(t.rows[0][1], "2");
	assert_string_equal(t.rows[1][1], "");
	assert_int_equal(t.lines[1], 3);
	assert_int_equal(csv_column(&t, "b"), 1);
	assert_int_equal(csv_column(&t, "d"), -1);
	csv_free(&t);
}

static void test_quoted_commas_quotes_and_newlines(void **state)
{
	(void)state;
	struct csv_table t;
	char err[128];
	const char *text = "id,reason,x\r\n"
			   "1,\"restore: PID 7, taken\",\"\"\r\n"
			   "2,\"said \"\"no\"\"\",\"two\nlines\"\r\n"
			   "3,\"\",last";
	assert_int_equal(parse(text, &t, err, sizeof err), 0);
	assert_int_equal(t.nrows, 3);
	assert_string_equal(t.rows[0][1], "restore: PID 7, taken");
	assert_string_equal(t.rows[0][2], "");
	assert_string_equal(t.rows[1][1], "said \"no\"");
	assert_string_equal(t.rows[1][2], "two\nlines");
	assert_string_equal(t.rows[2][1], "");
	assert_string_equal(t.rows[2][2], "last");
	/* The record after the two-line field starts on line 5. */
	assert_int_equal(t.lines[2], 5);
	csv_free(&t);
}

static void test_bom_and_blank_lines(void **state)
{
	(void)state;
	struct csv_table t;
	char err[128];
	assert_int_equal(parse("\xef\xbb\xbfname,v\n\nx,1\n\n", &t, err, sizeof err), 0);
	assert_string_equal(t.header[0], "name");
	assert_int_equal(t.nrows, 1);
	csv_free(&t);
	/* A lone quoted empty field is a record, not a blank line. */
	assert_int_equal(parse("only\n\"\"\n", &t, err, sizeof err), 0);
	assert_int_equal(t.nrows, 1);
	assert_string_equal(t.rows[0][0], "");
	csv_free(&t);
}

/* Empty fields before any character was read (the file's very first
 * field; found by fuzzing: the copy passed memcpy a NULL buffer). */
static void test_empty_first_field(void **state)
{
	(void)state;
	struct csv_table t;
	char err[128];
	assert_int_equal(parse(",b\n,2\n", &t, err, sizeof err), 0);
	assert_int_equal(t.ncols, 2);
	assert_string_equal(t.header[0], "");
	assert_string_equal(t.rows[0][0], "");
	assert_string_equal(t.rows[0][1], "2");
	csv_free(&t);
}

static void test_malformed_input_names_the_line(void **state)
{
	(void)state;
	struct csv_table t;
	char err[128];
	assert_int_equal(parse("a,b\n1,2\n3\n", &t, err, sizeof err), -EINVAL);
	assert_string_equal(err, "line 3: 1 fields, the header has 2");
	assert_int_equal(parse("a,b\n1,\"open\n", &t, err, sizeof err), -EINVAL);
	assert_string_equal(err, "line 2: quoted field is never closed");
	assert_int_equal(parse("a,b\n1,\"x\"y\n", &t, err, sizeof err), -EINVAL);
	assert_string_equal(err, "line 2: text after a closing quote");
	assert_int_equal(parse("a,b\n1,x\"y\n", &t, err, sizeof err), -EINVAL);
	assert_string_equal(err, "line 2: quote inside an unquoted field");
	assert_int_equal(parse("", &t, err, sizeof err), -EINVAL);
	assert_string_equal(err, "no header line (empty file)");
	assert_int_equal(csv_read_file("/nonexistent/results.csv", &t, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "cannot read /nonexistent/results.csv"));
}

static void test_write_then_read_round_trip(void **state)
{
	(void)state;
	static const char *const rows[3][4] = {
		{ "workload", "reason", "note", "n" },
		{ "matmul", "lost: \"peer\", reset", "a\r\nb", "1" },
		{ "plain", "", " spaced ", "22" },
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	for (int i = 0; i < 3; i++)
		assert_int_equal(csv_write_row(f, rows[i], 4), 0);
	assert_int_equal(fclose(f), 0);
	/* Quoting only where needed. */
	assert_non_null(strstr(text, "matmul,\"lost: \"\"peer\"\", reset\",\"a\r\nb\",1\n"));
	assert_non_null(strstr(text, "plain,, spaced ,22\n"));
	struct csv_table t;
	char err[128];
	assert_int_equal(csv_parse(text, len, &t, err, sizeof err), 0);
	assert_int_equal(t.nrows, 2);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 4; j++)
			assert_string_equal(t.rows[i][j], rows[i + 1][j]);
	csv_free(&t);
	free(text);
}

#define HEADER                                                                                                    \
	"run_id,workload,class,size,threads,rss_mib,mode,repetition,suspend_us,checkpoint_us,transfer_us,"        \
	"as_restore_us,ctx_restore_us,downtime_us,total_us,status,reason\n"

static void test_results_rows(void **state)
{
	(void)state;
	const char *text = HEADER "r,matmul,native,matched,1,64.5,stream,1,30,1000,900,2000,800,4000,4100,ok,\n"
				  "r,matmul,native,matched,1,64.5,stream,2,31,,,,,,,failed,\"lost, then resumed\"\n"
				  "r,filecopy,clr,matched,1,66,file,1,50,2000,1800,4000,900,7000,7200,ok,\n";
	struct results r;
	char err[256];
	assert_int_equal(results_parse("t.csv", text, strlen(text), &r, err, sizeof err), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.n_ok, 2);
	assert_int_equal(r.n_failed, 1);
	const struct migration *m = &r.rows[1];
	assert_false(m->ok);
	assert_int_equal(m->row, 2);
	assert_int_equal(m->repetition, 2);
	assert_string_equal(m->reason, "lost, then resumed");
	assert_true(m->phase_us[PHASE_SUSPEND] == 31);
	assert_true(isnan(m->phase_us[PHASE_CHECKPOINT]));
	assert_true(r.rows[0].rss_mib == 64.5);
	assert_true(r.rows[2].phase_us[PHASE_TOTAL] == 7200);

	struct group_set g;
	assert_int_equal(groups_build(&r, &g), 0);
	assert_int_equal(g.n, 2);
	/* native first, failed rows left out. */
	assert_string_equal(g.groups[0].workload, "matmul");
	assert_int_equal(g.groups[0].n, 1);
	assert_string_equal(g.groups[1].class_, "clr");
	assert_non_null(groups_find(&g, "filecopy", "clr", "matched", "file"));
	assert_null(groups_find(&g, "filecopy", "clr", "matched", "stream"));
	groups_free(&g);
	results_free(&r);
}

/* threads and compression, when present, and the rss target split
 * configurations; the labels say what differs. */
static void test_configurations(void **state)
{
	(void)state;
	const char *text = "workload,class,size,mode,rss_mib,repetition,threads,compression,suspend_us,checkpoint_us,"
			   "transfer_us,as_restore_us,ctx_restore_us,downtime_us,total_us,status,reason\n"
			   "nbody,native,matched,stream,66,1,2,none,1,1,1,1,1,1,1,ok,\n"
			   "nbody,native,matched,stream,250,1,2,none,1,1,1,1,1,1,1,ok,\n"
			   "nbody,native,matched,stream,61,2,2,none,1,1,1,1,1,1,1,ok,\n"
			   "nbody,native,matched,stream,64,1,4,none,1,1,1,1,1,1,1,ok,\n"
			   "nbody,native,natural,stream,9,1,2,zlib:1,1,1,1,1,1,1,1,ok,\n";
	struct results r;
	char err[256];
	assert_int_equal(results_parse("c.csv", text, strlen(text), &r, err, sizeof err), 0);
	assert_int_equal(r.rows[3].threads, 4);
	assert_string_equal(r.rows[4].compression, "zlib:1");
	/* Without targets the two sizes of matched are one configuration. */
	struct group_set g;
	assert_int_equal(groups_build(&r, &g), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.groups[0].label, "matched, 2 threads, none");
	assert_int_equal(g.groups[0].n, 3);
	assert_string_equal(g.groups[1].label, "matched, 4 threads, none");
	assert_string_equal(g.groups[2].label, "natural, 2 threads, zlib:1");
	groups_free(&g);
	/* With targets 64 and 256 each row goes to the nearest. */
	static const double targets[] = { 64, 256 };
	results_assign_rss_targets(&r, targets, 2);
	assert_true(r.rows[0].rss_target == 64 && r.rows[1].rss_target == 256 && r.rows[2].rss_target == 64);
	assert_true(r.rows[4].rss_target == 0);
	assert_int_equal(groups_build(&r, &g), 0);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.groups[0].label, "matched 64 MiB, 2 threads, none");
	assert_int_equal(g.groups[0].n, 2);
	assert_string_equal(g.groups[1].label, "matched 64 MiB, 4 threads, none");
	assert_string_equal(g.groups[2].label, "matched 256 MiB, 2 threads, none");
	assert_true(groups_find_like(&g, &g.groups[2]) == &g.groups[2]);
	assert_false(groups_same_setting(&g.groups[0], &g.groups[1]));
	groups_free(&g);
	results_free(&r);
	/* Files without the two columns: one thread, no compression. */
	const char *old = "workload,class,size,mode,rss_mib,repetition,suspend_us,checkpoint_us,transfer_us,"
			  "as_restore_us,ctx_restore_us,downtime_us,total_us,status,reason\n"
			  "sieve,native,natural,file,3,1,1,1,1,1,1,1,1,ok,\n";
	assert_int_equal(results_parse("old.csv", old, strlen(old), &r, err, sizeof err), 0);
	assert_int_equal(r.rows[0].threads, 1);
	assert_string_equal(r.rows[0].compression, "none");
	assert_int_equal(groups_build(&r, &g), 0);
	assert_string_equal(g.groups[0].label, "natural");
	groups_free(&g);
	results_free(&r);
}

static void test_rss_targets_from_meta(void **state)
{
	(void)state;
	char path[] = "/tmp/test_harness_meta.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char meta[] = "run_id=x\nrss_note=1\nrss=64, 256,1024\nmodes=file\n";
	assert_int_equal(write(fd, meta, sizeof meta - 1), (ssize_t)(sizeof meta - 1));
	close(fd);
	double targets[8];
	size_t n = results_meta_rss_targets(path, targets, 8);
	unlink(path);
	assert_int_equal(n, 3);
	assert_true(targets[0] == 64 && targets[1] == 256 && targets[2] == 1024);
	assert_int_equal(results_meta_rss_targets("/nonexistent/meta.txt", targets, 8), 0);
}

static void test_results_name_every_missing_column(void **state)
{
	(void)state;
	const char *text = "workload,class,size,rss_mib,repetition,suspend_us,checkpoint_us,transfer_us,"
			   "as_restore_us,downtime_us,total_us,reason\nx,native,natural,1,1,1,1,1,1,1,1,\n";
	struct results r;
	char err[256];
	assert_int_equal(results_parse("old.csv", text, strlen(text), &r, err, sizeof err), -EINVAL);
	assert_string_equal(err, "old.csv: missing columns: mode, status, ctx_restore_us");
}

static void test_results_reject_bad_values(void **state)
{
	(void)state;
	struct results r;
	char err[256];
	const char *status = HEADER "r,m,native,natural,1,1,stream,1,1,1,1,1,1,1,1,done,\n";
	assert_int_equal(results_parse("a.csv", status, strlen(status), &r, err, sizeof err), -EINVAL);
	assert_string_equal(err, "a.csv: line 2: status \"done\" is neither ok nor failed");
	const char *time = HEADER "r,m,native,natural,1,1,stream,1,1,12ms,1,1,1,1,1,ok,\n";
	assert_int_equal(results_parse("b.csv", time, strlen(time), &r, err, sizeof err), -EINVAL);
	assert_string_equal(err, "b.csv: line 2: checkpoint_us \"12ms\" is not a non-negative number");
	const char *negative = HEADER "r,m,native,natural,1,1,stream,1,1,1,1,1,-5,1,1,ok,\n";
	assert_int_equal(results_parse("c.csv", negative, strlen(negative), &r, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "ctx_restore_us \"-5\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_fields),
		cmocka_unit_test(test_quoted_commas_quotes_and_newlines),
		cmocka_unit_test(test_bom_and_blank_lines),
		cmocka_unit_test(test_empty_first_field),
		cmocka_unit_test(test_malformed_input_names_the_line),
		cmocka_unit_test(test_write_then_read_round_trip),
		cmocka_unit_test(test_results_rows),
		cmocka_unit_test(test_configurations),
		cmocka_unit_test(test_rss_targets_from_meta),
		cmocka_unit_test(test_results_name_every_missing_column),
		cmocka_unit_test(test_results_reject_bad_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
