/* RFC 4180 CSV: a header line, comma-separated fields, fields holding
 * commas, quotes or line breaks enclosed in double quotes with inner quotes
 * doubled.  The reader keeps every field as a string; the results loader
 * decides what they mean. */
#ifndef HARNESS_CSV_H
#define HARNESS_CSV_H

#include <stddef.h>
#include <stdio.h>

struct csv_table {
	size_t ncols;
	char **header;   /* ncols names */
	size_t nrows;
	char ***rows;    /* rows[i][j]: field j of record i (0-based, after the header) */
	size_t *lines;   /* lines[i]: the line record i starts on (1 = the header) */
};

/* Parses TEXT (LEN bytes) into TABLE.  Every record must have as many fields
 * as the header; blank lines are skipped, a UTF-8 byte order mark and CRLF
 * line ends are accepted.  Returns 0, -EINVAL with a one-line reason in ERR
 * (with the line number), or -ENOMEM. */
int csv_parse(const char *text, size_t len, struct csv_table *table, char *err, size_t errlen);

/* Reads and parses a file; -errno with the reason in ERR if it cannot be
 * read. */
int csv_read_file(const char *path, struct csv_table *table, char *err, size_t errlen);

/* Index of the column called NAME, or -1. */
int csv_column(const struct csv_table *table, const char *name);

void csv_free(struct csv_table *table);

/* Writes one field, quoted only when it has to be. */
void csv_write_field(FILE *out, const char *field);
/* Writes a record of N fields and its line end ("\n").  0, or -EIO if the
 * stream is in error. */
int csv_write_row(FILE *out, const char *const *fields, size_t n);

#endif
