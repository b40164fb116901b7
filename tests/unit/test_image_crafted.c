/* Crafted images: each case changes one field of a valid image, keeps the
 * CRCs valid, and the reader must refuse it with the message named. */
#include <time.h>

#include "unit_raw_image.h"

/* Encoded size of a VMA, to find the next one in the payload. */
static size_t vma_size(const struct bm_vma *v)
{
	return 72 + (v->path ? strlen(v->path) : 0);
}

/* Each case changes one thing in a valid image, keeps the CRCs valid, and
 * names the message the reader must give. */
enum crafted_case {
	TRAILING_BYTE_IN_PROCESS,
	VMA_START_ABOVE_END,
	VMAS_UNSORTED,
	VMA_UNALIGNED,
	VMA_KIND_OUT_OF_RANGE,
	VMA_PATH_WITH_NUL,
	VMA_FLAGS_UNKNOWN,
	VMA_COUNT_LIES,
	VMA_COUNT_ONE_MORE,
	FD_KIND_OUT_OF_RANGE,
	FD_SHARES_UNKNOWN,
	FDS_UNSORTED,
	FD_REPLACED_ACTION_UNKNOWN,
	FD_REPLACED_BY_UNKNOWN,
	FD_ORIGIN_UNKNOWN,
	FD_REPLACED_WITHOUT_ORIGIN,
	FD_CARRIED_WITH_ORIGIN,
	FD_CLOSED_KIND_NOT_REPLACED,
	FD_IN_FLIGHT_FLAG,
	FD_IN_FLIGHT_REPLACED,
	FD_IN_FLIGHT_NOT_CARRIED,
	FD_ACTION_DOES_NOT_GIVE_KIND,
	FD_NULL_NOT_DEV_NULL,
	FD_STDIO_ABOVE_2,
	FD_BROKEN_PIPE_BOTH_WAYS,
	FD_BROKEN_SOCKET_TYPE,
	FD_SHARES_CLOSED,
	FD_CLOSED_WITH_PATH,
	FD_ORIGIN_LINK_TOO_LONG,
	EPOLL_WATCHES_UNLISTED,
	SIGNAL_COUNT_WRONG,
	SHARED_PENDING_BAD_SIGNO,
	THREAD_STOP_KIND_OUT_OF_RANGE,
	THREAD_DUPLICATE_TID,
	THREAD_LEADER_WRONG,
	THREAD_XSTATE_LEN_LIES,
	THREAD_CODE_LEN_TOO_BIG,
	PROCESS_UMASK_BAD,
	PROCESS_COMM_WITH_NUL,
	PROCESS_NO_THREADS,
	PROCESS_CGROUPS_RELATIVE,
	PROCESS_AUXV_TOO_LONG,
	SECTIONS_OUT_OF_ORDER,
	UNKNOWN_SECTION_TYPE,
	SECTION_FLAGS_SET,
	PAGES_ZERO_COUNT,
	PAGES_UNALIGNED,
	PAGES_RAW_LENGTH_WRONG,
	PAGES_UNKNOWN_ENCODING,
	PAGES_ZLIB_WRONG_SIZE,
	PAGES_ZLIB_GARBAGE,
	ZERO_TOO_LONG,
	ZERO_PAYLOAD_LONG,
	END_TOTALS_WRONG,
	THREAD_AMONG_PAGES,
	NO_END,
	TIMERS_TRAILING_BYTE,
	TIMERS_MISSING,
	TIMERS_AMONG_PAGES,
	TIMERS_TIME_ZERO,
	TIMERS_RESTORE_IDS_BAD,
	TIMERS_ITIMER_COUNT,
	TIMERS_ITIMER_INTERVAL_ALONE,
	TIMERS_POSIX_COUNT_LIES,
	TIMERS_POSIX_UNSORTED,
	TIMERS_POSIX_NOTIFY_UNKNOWN,
	TIMERS_POSIX_SIGNAL_BAD,
	TIMERS_POSIX_THREAD_UNKNOWN,
	TIMERS_POSIX_TID_WITHOUT_THREAD_ID,
	TIMERS_POSIX_FOREIGN_CPU_CLOCK,
	TIMERS_POSIX_DEVICE_CLOCK,
	TIMERS_POSIX_RANK_TWICE,
	TIMERS_POSIX_RANK_GAP,
	TIMERS_POSIX_PENDING_NONE,
	TIMERS_POSIX_PENDING_PAST_INTERVAL,
	TIMERS_POSIX_TIME_TOO_BIG,
	TIMERS_POSIX_OVERRUN_NONE,
	TIMERS_POSIX_ABSTIME_MONOTONIC,
	TIMERS_POSIX_ABSTIME_NONE,
	TIMERS_POSIX_STALE_NOT_PENDING,
	TIMERS_POSIX_STALE_INTERVAL,
	TIMERS_POSIX_NEWEST_TWICE,
	TIMERS_TIMERFD_NOT_IN_FDS,
	TIMERS_TIMERFD_MISSING,
	TIMERS_TIMERFD_CLOCK,
	TIMERS_TIMERFD_FLAGS,
	NCASES
};

/* TIMERS payload: time 0, restore ids 8, itimer count 12, three (value,
 * interval) from 16, POSIX timer count 64, its 52-byte entries (id,
 * clock, notify (0x10000: absolute, 0x20000: stale, 0x40000: made last), signal, tid, sigval, value, interval,
 * pending, overrun), the
 * timerfd count, its 36-byte entries (fd, clock, flags, value, interval,
 * ticks). */
#define TM_POSIX(i) (68 + 52 * (size_t)(i))
#define TM_TIMERFD(p, i) (TM_POSIX((p)->timers.nposix) + 4 + 36 * (size_t)(i))

/* The index of descriptor FD in P. */
static uint32_t fd_index(const struct bm_process *p, int32_t fd)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd == fd)
			return i;
	fail_msg("no fd %d", fd);
	return 0;
}

static const char *craft_timers(struct raw_image *ri, const struct bm_process *p, enum crafted_case c)
{
	struct raw_section *tm = &ri->s[find_section(ri, BM_SEC_TIMERS, 0)];
	uint8_t *t = tm->payload;
	switch (c) {
	case TIMERS_TRAILING_BYTE:
		t[tm->len++] = 0;
		return "(TIMERS) at byte";
	case TIMERS_MISSING:
		drop_section(ri, BM_SEC_TIMERS);
		return "a TIMERS section was expected here";
	case TIMERS_AMONG_PAGES:
		ri->s[find_section(ri, BM_SEC_ZERO, 0)].type = BM_SEC_TIMERS;
		return "only PAGES, ZERO or END may follow the process sections";
	case TIMERS_TIME_ZERO:
		bm_store_le64(t, 0);
		return "reading time 0 is not positive";
	case TIMERS_RESTORE_IDS_BAD:
		bm_store_le32(t + 8, 2);
		return "restore-ids mode 2 is not 0 or 1";
	case TIMERS_ITIMER_COUNT:
		bm_store_le32(t + 12, 4);
		return "interval timer count 4 is not 3";
	case TIMERS_ITIMER_INTERVAL_ALONE:
		bm_store_le64(t + 40, 5);
		return "interval timer 1: an interval of 5 ns without a time left";
	case TIMERS_POSIX_COUNT_LIES:
		bm_store_le32(t + 64, 100000);
		return "POSIX timer count 100000";
	case TIMERS_POSIX_UNSORTED:
		bm_store_le32(t + TM_POSIX(1), 0);
		return "POSIX timer entry 1: id 0 is negative or does not follow 0";
	case TIMERS_POSIX_NOTIFY_UNKNOWN:
		bm_store_le32(t + TM_POSIX(0) + 8, 3);
		return "POSIX timer entry 0: notification 3 is not known";
	case TIMERS_POSIX_SIGNAL_BAD:
		bm_store_le32(t + TM_POSIX(0) + 12, 65);
		return "POSIX timer entry 0: signal 65 is not in 1..64";
	case TIMERS_POSIX_THREAD_UNKNOWN:
		bm_store_le32(t + TM_POSIX(1) + 16, 9999);
		return "POSIX timer entry 1: target thread 9999 is not a thread of the process";
	case TIMERS_POSIX_TID_WITHOUT_THREAD_ID:
		bm_store_le32(t + TM_POSIX(0) + 16, 4243);
		return "POSIX timer entry 0: target thread 4243 without SIGEV_THREAD_ID";
	case TIMERS_POSIX_FOREIGN_CPU_CLOCK:
		bm_store_le32(t + TM_POSIX(3) + 4, (uint32_t)((~777u << 3) | 2));
		return "POSIX timer entry 3: it counts the CPU time of process 777";
	case TIMERS_POSIX_DEVICE_CLOCK:
		bm_store_le32(t + TM_POSIX(3) + 4, (uint32_t)((~3u << 3) | 3));
		return "which binmig does not know";
	case TIMERS_POSIX_RANK_TWICE:
		bm_store_le32(t + TM_POSIX(1) + 44, 1);
		return "POSIX timer entry 1: pending rank 1 given twice";
	case TIMERS_POSIX_RANK_GAP:
		bm_store_le32(t + TM_POSIX(1) + 44, 3);
		return "pending rank 3 without rank 2";
	case TIMERS_POSIX_PENDING_NONE:
		bm_store_le32(t + TM_POSIX(2) + 44, 3);
		return "POSIX timer entry 2: pending rank 3 is above the timer count or on a SIGEV_NONE timer";
	case TIMERS_POSIX_PENDING_PAST_INTERVAL:
		bm_store_le64(t + TM_POSIX(0) + 28, 1000000001);
		return "POSIX timer entry 0: pending with 1000000001 ns left of an interval of 1000000000 ns";
	case TIMERS_POSIX_TIME_TOO_BIG:
		bm_store_le64(t + TM_POSIX(2) + 28, 1ull << 63);
		return "POSIX timer entry 2: a time of more than 2^63 ns";
	case TIMERS_POSIX_OVERRUN_NONE:
		bm_store_le32(t + TM_POSIX(2) + 48, 3);
		return "POSIX timer entry 2: overrun count 3 is negative or on a SIGEV_NONE timer";
	case TIMERS_POSIX_ABSTIME_MONOTONIC:
		bm_store_le32(t + TM_POSIX(0) + 8, 0x10000);
		return "POSIX timer entry 0: absolute, yet not an armed CLOCK_REALTIME timer with a signal and none pending";
	case TIMERS_POSIX_ABSTIME_NONE:
		bm_store_le32(t + TM_POSIX(2) + 8, 0x10001);
		return "POSIX timer entry 2: absolute, yet not an armed CLOCK_REALTIME timer with a signal and none pending";
	case TIMERS_POSIX_STALE_NOT_PENDING:
		bm_store_le32(t + TM_POSIX(2) + 8, 0x20001);
		return "POSIX timer entry 2: its stale signal is not the pending one of a one-shot";
	case TIMERS_POSIX_STALE_INTERVAL:
		bm_store_le32(t + TM_POSIX(0) + 8, 0x20000);
		return "POSIX timer entry 0: its stale signal is not the pending one of a one-shot";
	case TIMERS_POSIX_NEWEST_TWICE:
		for (int i = 0; i < 2; i++)
			bm_store_le32(t + TM_POSIX(i) + 8, bm_load_le32(t + TM_POSIX(i) + 8) | 0x40000);
		return "POSIX timer entry 1: a second newest timer";
	case TIMERS_TIMERFD_NOT_IN_FDS:
		bm_store_le32(t + TM_TIMERFD(p, 0), 10);
		return "timerfd entry 0: descriptor 10 is not a timerfd of FDS that shares with no other";
	case TIMERS_TIMERFD_MISSING:
		bm_store_le32(t + TM_TIMERFD(p, 0) - 4, 0);
		memmove(t + TM_TIMERFD(p, 0), t + TM_TIMERFD(p, 0) + 36, 8); /* the counter (version 14) */
		tm->len -= 36;
		return "0 timerfd entries for 1 timerfds in FDS";
	case TIMERS_TIMERFD_CLOCK:
		bm_store_le32(t + TM_TIMERFD(p, 0) + 4, CLOCK_PROCESS_CPUTIME_ID);
		return "timerfd entry 0: clock 2 is not one a timerfd can have";
	case TIMERS_TIMERFD_FLAGS:
		bm_store_le32(t + TM_TIMERFD(p, 0) + 8, 4);
		return "timerfd entry 0: settime flags 0x4 have unknown bits";
	default:
		break;
	}
	fail();
	return NULL;
}

static const char *craft(struct raw_image *ri, const struct bm_process *p, enum crafted_case c, bool *fix_end)
{
	struct raw_section *proc = &ri->s[find_section(ri, BM_SEC_PROCESS, 0)];
	struct raw_section *vmas = &ri->s[find_section(ri, BM_SEC_VMAS, 0)];
	struct raw_section *fds = &ri->s[find_section(ri, BM_SEC_FDS, 0)];
	struct raw_section *sigs = &ri->s[find_section(ri, BM_SEC_SIGNALS, 0)];
	struct raw_section *thread0 = &ri->s[find_section(ri, BM_SEC_THREAD, 0)];
	struct raw_section *thread1 = &ri->s[find_section(ri, BM_SEC_THREAD, 1)];
	struct raw_section *zlib_pages = &ri->s[find_section(ri, BM_SEC_PAGES, 0)];
	struct raw_section *raw_pages = &ri->s[find_section(ri, BM_SEC_PAGES, 1)];
	struct raw_section *zero = &ri->s[find_section(ri, BM_SEC_ZERO, 0)];
	struct raw_section *end = &ri->s[find_section(ri, BM_SEC_END, 0)];
	size_t vma1 = 4 + vma_size(&p->vmas[0]);
	/* Thread payload: tid, stop kind, register count, 27 registers, xstate length. */
	size_t xstate_len_at = 4 + 4 + 4 + 27 * 8;
	size_t code_len_at = xstate_len_at + 4 + p->threads[0].xstate_len + 8 + 8 + 8 + 4 + 8 + 4 + 4 + 8 + 8 + 8 +
			     4 + 128 * p->threads[0].npending + 8;
	/* PROCESS: pid, ppid, pgid, sid, comm. */
	size_t comm_at = 16;
	size_t after_comm = comm_at + 4 + strlen(p->comm);
	size_t umask_at = after_comm + 4;
	*fix_end = true;
	switch (c) {
	case TRAILING_BYTE_IN_PROCESS:
		proc->payload[proc->len++] = 0;
		return "1 trailing bytes after the last field";
	case VMA_START_ABOVE_END: {
		uint64_t start = bm_load_le64(vmas->payload + 4);
		bm_store_le64(vmas->payload + 4, bm_load_le64(vmas->payload + 12));
		bm_store_le64(vmas->payload + 12, start);
		return "VMA 0: start 0x401000 is not below end 0x400000";
	}
	case VMAS_UNSORTED:
		bm_store_le64(vmas->payload + vma1, 0x1000);
		bm_store_le64(vmas->payload + vma1 + 8, 0x2000);
		return "VMA 1: 0x1000-0x2000 overlaps or precedes the previous VMA";
	case VMA_UNALIGNED:
		bm_store_le64(vmas->payload + vma1 + 8, 0x621001);
		return "VMA 1: range 0x600000-0x621001 is not page aligned";
	case VMA_KIND_OUT_OF_RANGE:
		bm_store_le32(vmas->payload + 4 + 20, 99);
		return "VMA 0: kind 99 is not a known VMA kind";
	case VMA_PATH_WITH_NUL: {
		uint8_t *path = memmem(vmas->payload, vmas->len, "prog name", 9);
		path[4] = '\0';
		return "VMA path contains a NUL byte";
	}
	case VMA_FLAGS_UNKNOWN:
		bm_store_le32(vmas->payload + 4 + 24, 0x1000000);
		return "flags 0x1000000 have unknown bits";
	case VMA_COUNT_LIES:
		bm_store_le32(vmas->payload, 1000);
		return "VMA count 1000 does not fit in the";
	case VMA_COUNT_ONE_MORE:
		bm_store_le32(vmas->payload, p->nvmas + 1);
		return "VMAS) at byte";
	case FD_KIND_OUT_OF_RANGE:
		bm_store_le32(fds->payload + 8, 0);
		return "kind 0 is not a known descriptor kind";
	case FD_SHARES_UNKNOWN: {
		/* fd 2 (third entry) shares with 1; make it 4, which is not listed. */
		uint8_t *at = memmem(fds->payload, fds->len, "\x02\0\0\0\x01\0\0\0", 8);
		assert_non_null(at);
		bm_store_le32(at + 20, 4);
		return "shares its open file with 4";
	}
	case FDS_UNSORTED: {
		uint8_t *at = memmem(fds->payload, fds->len, "\x03\0\0\0\x02\0\0\0", 8); /* fd 3, directory */
		assert_non_null(at);
		bm_store_le32(at, 1);
		return "descriptor 1 does not follow 2 in ascending order";
	}
	case FD_REPLACED_ACTION_UNKNOWN:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 251)).replaced, 5);
		return "(fd 251): replacement action 5 is not known";
	case FD_REPLACED_BY_UNKNOWN:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 251)).replaced_by, 2);
		return "replacing option 2 is not known";
	case FD_ORIGIN_UNKNOWN:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 252)).was, BM_ORIGIN_MAX + 1);
		return "original kind 17 is not known";
	case FD_REPLACED_WITHOUT_ORIGIN:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 252)).was, 0);
		return "(fd 252): replaced without what it was";
	case FD_CARRIED_WITH_ORIGIN:
		bm_store_le32(fds->payload + fd_entry(fds, 0).was, BM_ORIGIN_PIPE);
		return "(fd 0): not replaced, yet with what it was";
	case FD_CLOSED_KIND_NOT_REPLACED:
		bm_store_le32(fds->payload + fd_entry(fds, 0).kind, BM_FD_CLOSED);
		return "(fd 0): descriptor of kind 7 that no policy replaced";
	case FD_IN_FLIGHT_FLAG:
		bm_store_le32(fds->payload + fd_entry(fds, 0).in_flight, 2);
		return "(fd 0): in-flight flag 2 is not 0 or 1";
	case FD_IN_FLIGHT_REPLACED:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 251)).in_flight, 1);
		return "(fd 251): only in flight, yet replaced by a policy or shared with another descriptor";
	case FD_IN_FLIGHT_NOT_CARRIED:
		bm_store_le32(fds->payload + fd_entry(fds, 0).in_flight, 1);
		return "fd 0 is only in flight, yet no queued message carries it";
	case FD_ACTION_DOES_NOT_GIVE_KIND:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 251)).replaced, BM_FD_TO_FILE);
		return "replacement action 3 cannot give a descriptor of kind 3";
	case FD_NULL_NOT_DEV_NULL: {
		/* /dev/null -> /dev/zero, the same length */
		struct fd_layout l = fd_entry(fds, fd_index(p, 251));
		memcpy(fds->payload + l.path + 4, "/dev/zero", 9);
		return "(fd 251): replaced by null, yet its path is /dev/zero";
	}
	case FD_STDIO_ABOVE_2:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 251)).replaced_by, BM_FD_BY_STDIO_OPTION);
		return "(fd 251): --stdio cannot have replaced it";
	case FD_BROKEN_PIPE_BOTH_WAYS:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 254)).flags, O_RDWR);
		return "(fd 254): broken pipe end with access mode 2, neither read nor write";
	case FD_BROKEN_SOCKET_TYPE:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 255)).object_flags, SOCK_RAW);
		return "(fd 255): broken socket of type 3, not stream, datagram or seqpacket";
	case FD_SHARES_CLOSED:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 253)).shares, 252);
		return "(fd 253): shares its open file with 252, which is not a lower open descriptor";
	case FD_CLOSED_WITH_PATH: {
		/* fd 252's path (absent) becomes "x", one byte more in the payload. */
		struct fd_layout l = fd_entry(fds, fd_index(p, 252));
		memmove(fds->payload + l.path + 5, fds->payload + l.path + 4, fds->len - l.path - 4);
		bm_store_le32(fds->payload + l.path, 1);
		fds->payload[l.path + 4] = 'x';
		fds->len++;
		return "(fd 252): descriptor of kind 7 with a path";
	}
	case FD_ORIGIN_LINK_TOO_LONG:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 255)).was_link, 5000);
		return "original link";
	case EPOLL_WATCHES_UNLISTED:
		/* fd 11's first registration (after object_flags and data_len) names fd 9, which is not open. */
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 11)).object_flags + 8, 9);
		return "epoll fd 11 watches fd 9, which is not another open descriptor";
	case SIGNAL_COUNT_WRONG:
		bm_store_le32(sigs->payload, 63);
		return "signal count 63 is not 64";
	case SHARED_PENDING_BAD_SIGNO:
		bm_store_le32(sigs->payload + 4 + 64 * 32 + 4, 0);
		return "signal number 0 is not in 1..64";
	case THREAD_STOP_KIND_OUT_OF_RANGE:
		bm_store_le32(thread0->payload + 4, 7);
		return "thread 0: stop kind 7 is not known";
	case THREAD_DUPLICATE_TID:
		bm_store_le32(thread1->payload, 4242);
		return "tid 4242 appears twice";
	case THREAD_LEADER_WRONG:
		bm_store_le32(thread0->payload, 4244);
		return "is not the thread group leader 4242";
	case THREAD_XSTATE_LEN_LIES:
		bm_store_le32(thread0->payload + xstate_len_at, 60000);
		return "xstate length 60000 does not fit";
	case THREAD_CODE_LEN_TOO_BIG:
		assert_int_equal(bm_load_le32(thread0->payload + code_len_at), BM_CODE_WINDOW);
		bm_store_le32(thread0->payload + code_len_at, BM_CODE_WINDOW + 1);
		return "code window length 97 exceeds the limit of 96";
	case PROCESS_UMASK_BAD:
		assert_int_equal(bm_load_le32(proc->payload + umask_at), 022);
		bm_store_le32(proc->payload + umask_at, 01000);
		return "umask 01000 has bits outside 0777";
	case PROCESS_COMM_WITH_NUL:
		proc->payload[comm_at + 4 + 2] = '\0';
		return "comm contains a NUL byte";
	case PROCESS_NO_THREADS: /* the count, then the cgroups string (version 4) end PROCESS */
		bm_store_le32(proc->payload + proc->len - 8 - strlen(p->cgroups), 0);
		return "thread count 0 is not in 1..65536";
	case PROCESS_CGROUPS_RELATIVE:
		proc->payload[proc->len - strlen(p->cgroups) + strlen("name=systemd:")] = 'x';
		return "cgroups are not CONTROLLERS:PATH lines";
	case PROCESS_AUXV_TOO_LONG: {
		/* ... comm, personality, umask, uid[4], gid[4], groups, dumpable, cwd, root,
		 * cwd_removed, 16 rlimits with their count, 11 mm words, then the auxv length. */
		size_t at = after_comm + 4 + 4 + 16 + 16 + 4 + 4 * p->ngroups + 4 + 4 + strlen(p->cwd) + 4 +
			    strlen(p->root) + 4 + 4 + 16 * 16 + 11 * 8;
		assert_int_equal(bm_load_le32(proc->payload + at), p->mm.auxv_len);
		bm_store_le32(proc->payload + at, 66);
		return "auxv length 66 exceeds the limit of 64";
	}
	case SECTIONS_OUT_OF_ORDER: {
		struct raw_section tmp = *vmas;
		*vmas = *fds;
		*fds = tmp;
		return "a VMAS section was expected here";
	}
	case UNKNOWN_SECTION_TYPE:
		sigs->type = 99;
		return "unknown section type 99";
	case SECTION_FLAGS_SET:
		zero->flags = 1;
		return "unknown section flags 0x1";
	case PAGES_ZERO_COUNT:
		bm_store_le32(raw_pages->payload + 8, 0);
		return "run of 0 pages";
	case PAGES_UNALIGNED:
		bm_store_le64(raw_pages->payload, 0x602010);
		return "at 0x602010 is unaligned";
	case PAGES_RAW_LENGTH_WRONG:
		raw_pages->len--;
		return "raw run of 1 pages carries 4095 bytes, expected 4096";
	case PAGES_UNKNOWN_ENCODING:
		bm_store_le32(raw_pages->payload + 12, 5);
		return "unknown page encoding 5";
	case PAGES_ZLIB_WRONG_SIZE:
		assert_int_equal(bm_load_le32(zlib_pages->payload + 12), 1);
		bm_store_le32(zlib_pages->payload + 8, 3);
		return "compressed data inflates to 8192 bytes with 0 bytes left over, expected 12288";
	case PAGES_ZLIB_GARBAGE:
		memset(zlib_pages->payload + 16, 0xa5, zlib_pages->len - 16);
		return "compressed data is corrupt";
	case ZERO_TOO_LONG:
		bm_store_le32(zero->payload + 8, BM_IMAGE_MAX_RUN_PAGES + 1);
		return "run of 1025 pages";
	case ZERO_PAYLOAD_LONG:
		zero->len = 13;
		return "payload length 13 exceeds the limit of 12";
	case END_TOTALS_WRONG:
		*fix_end = true;
		end->payload[8]++; /* stored pages, after fix_end leaves it alone */
		return "END records 4 stored pages but the image has 3 before END";
	case THREAD_AMONG_PAGES:
		zero->type = BM_SEC_THREAD;
		return "only PAGES, ZERO or END may follow the process sections";
	case NO_END:
		free(ri->s[--ri->n].payload);
		return "image truncated";
	default:
		return craft_timers(ri, p, c);
	}
	fail();
	return NULL;
}

static void test_crafted_fields_are_rejected_despite_valid_crc(void **state)
{
	(void)state;
	for (int c = 0; c < NCASES; c++) {
		struct raw_image ri;
		struct bm_process p;
		full_raw_image(&ri, &p);
		bool fix_end;
		const char *message = craft(&ri, &p, (enum crafted_case)c, &fix_end);
		expect_crafted_rejection(&ri, fix_end, message);
		free_raw_image(&ri);
		bm_process_free(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_crafted_fields_are_rejected_despite_valid_crc, restore_stderr_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
