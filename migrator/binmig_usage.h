/* binmig's --help texts (binmig_usage.c), one per command. */
#ifndef BINMIG_USAGE_H
#define BINMIG_USAGE_H

#include <stdio.h>

void bm_usage_main(FILE *out);
void bm_usage_fault_points(FILE *out);
void bm_usage_dump(FILE *out);
void bm_usage_restore(FILE *out);
void bm_usage_inspect(FILE *out);
void bm_usage_check(FILE *out);
void bm_usage_cpu_profile(FILE *out);
void bm_usage_migrate(FILE *out);
void bm_usage_serve(FILE *out);
void bm_usage_keygen(FILE *out);

#endif
