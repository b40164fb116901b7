/* Descriptors in flight (SCM_RIGHTS) in a unix socket queue, at dump. */
#ifndef BINMIG_SK_UNIX_RIGHTS_H
#define BINMIG_SK_UNIX_RIGHTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sk_unix.h"

/* Closes the descriptors a peek installed (SCM_RIGHTS in MH); how many. */
int bm_unix_rights_close(struct msghdr *mh);
/* Names in-flight descriptors FL[0..n) (binmig's copies) by the
 * descriptor of P with the same open file description (kcmp), into OUT
 * (n little-endian i32).  0; 1 with *bad the first one P does not hold. */
int bm_unix_rights_name(const struct bm_process *p, const int *fl, uint32_t n, uint8_t *out, int *bad);
/* What in-flight descriptor F is, for a refusal ("a pipe end not open in the process"). */
const char *bm_unix_rights_kind(int f);
/* After every policy is applied: refuses (exit 4) a descriptor in flight
 * that names a descriptor a policy replaces or leaves out (the restore
 * would send what replaces it).  0 or negative after reporting. */
int bm_unix_rights_check_policies(struct bm_process *const *procs, size_t nprocs);

#endif
