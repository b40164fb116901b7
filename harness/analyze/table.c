#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int table_init(struct text_table *t, size_t ncols, const char *const *header, const char *align)
{
	*t = (struct text_table){ .ncols = ncols };
	t->align = strdup(align);
	if (!t->align)
		return -ENOMEM;
	table_add(t, header);
	return t->error;
}

void table_add(struct text_table *t, const char *const *cells)
{
	if (t->error)
		return;
	char **grown = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *grown);
	if (!grown) {
		t->error = -ENOMEM;
		return;
	}
	t->cells = grown;
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t j = 0; j < t->ncols; j++) {
		row[j] = strdup(cells[j] ? cells[j] : "");
		if (!row[j])
			t->error = -ENOMEM;
	}
	t->nrows++;
}

/* Display width of UTF-8 text: code points, not bytes (µ, ×, – are one
 * column each). */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void table_print_text(FILE *out, const struct text_table *t)
{
	if (t->error)
		return;
	size_t *width = calloc(t->ncols, sizeof *width);
	if (!width)
		return;
	for (size_t i = 0; i < t->nrows; i++)
		for (size_t j = 0; j < t->ncols; j++) {
			size_t w = text_width(t->cells[i * t->ncols + j]);
			if (w > width[j])
				width[j] = w;
		}
	for (size_t i = 0; i < t->nrows; i++) {
		for (size_t j = 0; j < t->ncols; j++) {
			const char *cell = t->cells[i * t->ncols + j];
			size_t pad = width[j] - text_width(cell);
			if (t->align[j] == 'r')
				fprintf(out, "%*s%s", (int)pad, "", cell);
			else if (j + 1 < t->ncols)
				fprintf(out, "%s%*s", cell, (int)pad, "");
			else
				fputs(cell, out);
			if (j + 1 < t->ncols)
				fputs("  ", out);
		}
		fputc('\n', out);
	}
	free(width);
}

static void markdown_cell(FILE *out, const char *cell)
{
	for (const char *p = cell; *p; p++) {
		if (*p == '|')
			fputc('\\', out);
		fputc(*p == '\n' ? ' ' : *p, out);
	}
}

void table_print_markdown(FILE *out, const struct text_table *t)
{
	if (t->error)
		return;
	for (size_t i = 0; i < t->nrows; i++) {
		fputc('|', out);
		for (size_t j = 0; j < t->ncols; j++) {
			fputc(' ', out);
			markdown_cell(out, t->cells[i * t->ncols + j]);
			fputs(" |", out);
		}
		fputc('\n', out);
		if (i == 0) {
			fputc('|', out);
			for (size_t j = 0; j < t->ncols; j++)
				fputs(t->align[j] == 'r' ? " ---: |" : " --- |", out);
			fputc('\n', out);
		}
	}
}

void table_free(struct text_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols && t->cells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->align);
	*t = (struct text_table){ 0 };
}

int table_flush_markdown(FILE *out, struct text_table *t)
{
	int rc = t->error;
	if (!rc)
		table_print_markdown(out, t);
	table_free(t);
	return rc;
}
