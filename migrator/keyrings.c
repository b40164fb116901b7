/* Keyrings of a process's credentials, refused at dump (keyrings.h). */
#include "keyrings.h"

#include <errno.h>
#include <sys/syscall.h>

#include "attrs.h"
#include "log.h"

#define KEYCTL_GET_KEYRING_ID_ 0
#define KEYCTL_READ_ 11
#define KEY_SPEC_THREAD_KEYRING_ (-1)
#define KEY_SPEC_PROCESS_KEYRING_ (-2)
#define KEY_SPEC_SESSION_KEYRING_ (-3)
#define KEY_SPEC_USER_KEYRING_ (-4)
#define KEY_SPEC_USER_SESSION_KEYRING_ (-5)
#define MAX_KEYS (BM_SCRATCH_SIZE / sizeof(int32_t))

bool bm_keyrings_holds_own(const int32_t *keys, size_t n, int32_t user)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i] != user)
			return true;
	return false;
}

/* The serial of keyring SPEC of thread TR: 0 where it has none (ENOKEY),
 * or where the kernel has no keys (ENOSYS).  A thread or process keyring
 * is not made by asking; a thread without a session keyring is given the
 * user session keyring of its uid then, as its own first use of @s would
 * give it (keyrings.h). */
static int keyring_id(struct bm_tracee *tr, long spec, int32_t *id)
{
	long r;
	int rc = bm_inject(tr, SYS_keyctl, KEYCTL_GET_KEYRING_ID_, (uint64_t)spec, 0, 0, 0, 0, &r);
	*id = 0;
	if (rc < 0 || r == -ENOKEY || r == -ENOSYS)
		return rc;
	if (r < 0)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-r, "keyctl(KEYCTL_GET_KEYRING_ID, %ld) in thread %d", spec,
				      tr->tid);
	*id = (int32_t)r;
	return 0;
}

/* Whether the session keyring SESSION of the leader holds a key of its
 * own. */
static int session_holds_own(struct bm_tracee *leader, uint64_t scratch, int32_t session, bool *own)
{
	int32_t user;
	long len;
	int rc = keyring_id(leader, KEY_SPEC_USER_KEYRING_, &user);
	if (rc == 0)
		rc = bm_attrs_inject(leader, "keyctl(KEYCTL_READ) of its session keyring", SYS_keyctl, KEYCTL_READ_,
				     (uint64_t)session, scratch, BM_SCRATCH_SIZE, &len);
	if (rc < 0)
		return rc;
	int32_t keys[MAX_KEYS];
	size_t n = (size_t)len / sizeof *keys;
	if (n > MAX_KEYS) {
		*own = true; /* more than the user keyring, surely */
		return 0;
	}
	if (n && (rc = bm_mem_read(leader->tid, scratch, keys, n * sizeof *keys)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "reading an injected result from thread %d", leader->tid);
	*own = bm_keyrings_holds_own(keys, n, user);
	return 0;
}

static const char *refusal = "; its keys cannot be carried, binmig cannot migrate it";

int bm_keyrings_check(pid_t pid, struct bm_tracee *tracees, size_t n, uint64_t scratch)
{
	int32_t session = 0;
	for (size_t i = 0; i < n; i++) {
		int32_t thread, process, own_session;
		int rc = keyring_id(&tracees[i], KEY_SPEC_THREAD_KEYRING_, &thread);
		if (rc == 0)
			rc = keyring_id(&tracees[i], KEY_SPEC_PROCESS_KEYRING_, &process);
		if (rc == 0)
			rc = keyring_id(&tracees[i], KEY_SPEC_SESSION_KEYRING_, &own_session);
		if (rc < 0)
			return rc;
		if (thread)
			return bm_error(BM_EXIT_UNSUPPORTED, "thread %d of process %d has a thread keyring (key %d)%s",
					tracees[i].tid, pid, thread, refusal);
		if (process)
			return bm_error(BM_EXIT_UNSUPPORTED, "thread %d of process %d has a process keyring (key %d)%s",
					tracees[i].tid, pid, process, refusal);
		if (i == 0)
			session = own_session;
		else if (own_session != session)
			return bm_error(BM_EXIT_UNSUPPORTED,
					"thread %d of process %d has a session keyring of its own (key %d, the leader's %d)%s",
					tracees[i].tid, pid, own_session, session, refusal);
	}
	int32_t user_session;
	int rc = keyring_id(&tracees[0], KEY_SPEC_USER_SESSION_KEYRING_, &user_session);
	if (rc < 0 || !session || session == user_session)
		return rc; /* none joined: the user session keyring, the user's own */
	bool own;
	if ((rc = session_holds_own(&tracees[0], scratch, session, &own)) < 0)
		return rc;
	return own ? bm_error(BM_EXIT_UNSUPPORTED,
			      "process %d has keys in its session keyring (key %d; keyctl show @s)%s", pid, session,
			      refusal)
		   : 0;
}
