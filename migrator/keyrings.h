/* The keyrings of a process's credentials (keyctl(2)): a thread keyring,
 * a process keyring, a session keyring.  Their keys (secrets the kernel
 * may never show again, of types binmig does not know) cannot be carried,
 * and a new process has none of the first two and its restorer's session
 * keyring.  A dump refuses a thread with a thread or process keyring, a
 * thread whose session keyring is not the leader's, and a session keyring
 * holding any key but the user keyring (which pam_keyinit links into a
 * login's): such a keyring's keys would be gone.  A session keyring with
 * nothing else in it is the destination's, as the session is (the
 * restorer's, which may be the user session keyring or one of its own):
 * docs/process-state.md.
 *
 * Asking a thread for its session keyring gives one to a thread that has
 * none (the kernel installs its uid's user session keyring, as at the
 * thread's own first use of @s): a process the dump leaves running keeps
 * it, which shows only if it then changes its uid before using @s (it
 * keeps the old uid's, where it would have got the new one's). */
#ifndef BINMIG_KEYRINGS_H
#define BINMIG_KEYRINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ptrace_ctl.h"

/* Whether a session keyring listing KEYS (N serials, KEYCTL_READ) holds
 * anything but the user keyring USER. */
bool bm_keyrings_holds_own(const int32_t *keys, size_t n, int32_t user);

/* Dump: the refusals above, for the frozen process PID (tracees[0] its
 * leader; scratch a writable page in it).  Three injected keyctl calls
 * per thread and two more in the leader. */
int bm_keyrings_check(pid_t pid, struct bm_tracee *tracees, size_t n, uint64_t scratch);

#endif
