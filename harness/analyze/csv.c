#include "csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct text_buf {
	char *data;
	size_t len, cap;
};

static int buf_push(struct text_buf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		char *data = realloc(b->data, cap);
		if (!data)
			return -ENOMEM;
		b->data = data;
		b->cap = cap;
	}
	b->data[b->len++] = c;
	return 0;
}

struct record {
	char **fields;
	size_t n, cap;
	bool quoted; /* a field was quoted: even `""` alone is a record */
};

static void record_free(struct record *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->fields[i]);
	free(r->fields);
	*r = (struct record){ 0 };
}

/* Moves the field text into the record and empties the buffer. */
static int record_add(struct record *r, struct text_buf *field)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		char **fields = realloc(r->fields, cap * sizeof *fields);
		if (!fields)
			return -ENOMEM;
		r->fields = fields;
		r->cap = cap;
	}
	char *text = malloc(field->len + 1);
	if (!text)
		return -ENOMEM;
	if (field->len) /* field->data is still NULL before the first character */
		memcpy(text, field->data, field->len);
	text[field->len] = '\0';
	r->fields[r->n++] = text;
	field->len = 0;
	return 0;
}

__attribute__((format(printf, 3, 4))) static int set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Hands a finished record to the table: the first is the header, the
 * others must match its width. */
static int table_take(struct csv_table *t, struct record *r, size_t line, char *err, size_t errlen)
{
	/* A blank line parses as one empty field: not a record. */
	if (r->n == 1 && r->fields[0][0] == '\0' && !r->quoted) {
		record_free(r);
		return 0;
	}
	if (!t->header) {
		t->header = r->fields;
		t->ncols = r->n;
		*r = (struct record){ 0 };
		return 0;
	}
	if (r->n != t->ncols)
		return set_error(err, errlen, "line %zu: %zu fields, the header has %zu", line, r->n, t->ncols);
	char ***rows = realloc(t->rows, (t->nrows + 1) * sizeof *rows);
	if (!rows)
		return -ENOMEM;
	t->rows = rows;
	size_t *lines = realloc(t->lines, (t->nrows + 1) * sizeof *lines);
	if (!lines)
		return -ENOMEM;
	t->lines = lines;
	t->rows[t->nrows] = r->fields;
	t->lines[t->nrows] = line;
	t->nrows++;
	*r = (struct record){ 0 };
	return 0;
}

int csv_parse(const char *text, size_t len, struct csv_table *table, char *err, size_t errlen)
{
	*table = (struct csv_table){ 0 };
	struct text_buf field = { 0 };
	struct record rec = { 0 };
	size_t line = 1, record_line = 1;
	size_t i = 0;
	int rc = 0;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && rc == 0) {
		char c = text[i];
		if (c == '"' && field.len == 0) {
			/* A quoted field runs to the quote not followed by another. */
			size_t opened_on = line;
			bool closed = false;
			for (i++; i < len && rc == 0; i++) {
				if (text[i] == '"') {
					if (i + 1 < len && text[i + 1] == '"') {
						rc = buf_push(&field, '"');
						i++;
						continue;
					}
					closed = true;
					i++;
					break;
				}
				if (text[i] == '\n')
					line++;
				rc = buf_push(&field, text[i]);
			}
			if (rc)
				break;
			if (!closed) {
				rc = set_error(err, errlen, "line %zu: quoted field is never closed", opened_on);
				break;
			}
			if (i < len && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')) {
				rc = set_error(err, errlen, "line %zu: text after a closing quote", line);
				break;
			}
			rec.quoted = true;
			continue;
		}
		if (c == '"') {
			rc = set_error(err, errlen, "line %zu: quote inside an unquoted field", line);
			break;
		}
		if (c == ',') {
			rc = record_add(&rec, &field);
			i++;
			continue;
		}
		if (c == '\n' || (c == '\r' && i + 1 < len && text[i + 1] == '\n')) {
			i += c == '\r' ? 2 : 1;
			rc = record_add(&rec, &field);
			if (rc == 0)
				rc = table_take(table, &rec, record_line, err, errlen);
			line++;
			record_line = line;
			continue;
		}
		rc = buf_push(&field, c);
		i++;
	}
	/* The last record may lack its line end. */
	if (rc == 0 && (field.len > 0 || rec.n > 0 || rec.quoted)) {
		rc = record_add(&rec, &field);
		if (rc == 0)
			rc = table_take(table, &rec, record_line, err, errlen);
	}
	if (rc == 0 && !table->header)
		rc = set_error(err, errlen, "no header line (empty file)");
	if (rc == -ENOMEM)
		set_error(err, errlen, "out of memory");
	free(field.data);
	record_free(&rec);
	if (rc)
		csv_free(table);
	return rc;
}

int csv_read_file(const char *path, struct csv_table *table, char *err, size_t errlen)
{
	*table = (struct csv_table){ 0 };
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
		return -e;
	}
	struct text_buf all = { 0 };
	char chunk[65536];
	size_t got;
	int rc = 0;
	while (rc == 0 && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (all.len + got + 1 > all.cap) {
			size_t cap = all.cap ? all.cap : 65536;
			while (cap < all.len + got + 1)
				cap *= 2;
			char *data = realloc(all.data, cap);
			if (!data) {
				rc = -ENOMEM;
				break;
			}
			all.data = data;
			all.cap = cap;
		}
		memcpy(all.data + all.len, chunk, got);
		all.len += got;
	}
	if (rc == 0 && ferror(f))
		rc = -EIO;
	fclose(f);
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
		free(all.data);
		return rc;
	}
	char reason[256];
	rc = csv_parse(all.data ? all.data : "", all.len, table, reason, sizeof reason);
	if (rc)
		snprintf(err, errlen, "%s: %s", path, reason);
	free(all.data);
	return rc;
}

int csv_column(const struct csv_table *table, const char *name)
{
	for (size_t j = 0; j < table->ncols; j++)
		if (strcmp(table->header[j], name) == 0)
			return (int)j;
	return -1;
}

void csv_free(struct csv_table *table)
{
	for (size_t j = 0; j < table->ncols && table->header; j++)
		free(table->header[j]);
	free(table->header);
	for (size_t i = 0; i < table->nrows; i++) {
		for (size_t j = 0; j < table->ncols; j++)
			free(table->rows[i][j]);
		free(table->rows[i]);
	}
	free(table->rows);
	free(table->lines);
	*table = (struct csv_table){ 0 };
}

void csv_write_field(FILE *out, const char *field)
{
	if (!strpbrk(field, ",\"\r\n")) {
		fputs(field, out);
		return;
	}
	fputc('"', out);
	for (const char *p = field; *p; p++) {
		if (*p == '"')
			fputc('"', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

int csv_write_row(FILE *out, const char *const *fields, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		if (j)
			fputc(',', out);
		csv_write_field(out, fields[j] ? fields[j] : "");
	}
	fputc('\n', out);
	return ferror(out) ? -EIO : 0;
}
