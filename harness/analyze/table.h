/* Tables of text cells, printed aligned for a terminal or as Markdown. */
#ifndef HARNESS_TABLE_H
#define HARNESS_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct text_table {
	size_t ncols, nrows; /* nrows counts the header */
	char **cells;        /* row-major, row 0 is the header */
	char *align;         /* per column: 'l' or 'r' */
	int error;           /* first failure (-ENOMEM) of an add, reported by the printers' callers */
};

/* ALIGN is a string of ncols 'l'/'r'.  0 or -ENOMEM. */
int table_init(struct text_table *t, size_t ncols, const char *const *header, const char *align);
/* Appends a row of ncols cells (copied; NULL is an empty cell). */
void table_add(struct text_table *t, const char *const *cells);
void table_print_text(FILE *out, const struct text_table *t);
/* Markdown pipe table; "|" inside cells is escaped. */
void table_print_markdown(FILE *out, const struct text_table *t);
void table_free(struct text_table *t);
/* Prints T as markdown unless building it failed, and frees it: 0 or
 * the error that building it met. */
int table_flush_markdown(FILE *out, struct text_table *t);

#endif
