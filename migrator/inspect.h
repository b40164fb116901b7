#ifndef BINMIG_INSPECT_H
#define BINMIG_INSPECT_H

#include <stdio.h>

#include "image.h"

/* Prints everything in the image, checking every section on the way. */
int bm_inspect(FILE *out, struct bm_image_reader *r);

#endif
