/* Machine-code analysis with Capstone: where each thread stopped, where a
 * usable `syscall` instruction is, and disassembly for `inspect`. */
#ifndef BINMIG_ANALYSIS_H
#define BINMIG_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/user.h>

/* What must happen to a thread stopped inside a system call. */
enum bm_restart {
	BM_RESTART_NONE = 0,      /* not in a system call, or it completed: resume as is */
	BM_RESTART_KERNEL = 1,    /* rax is -ERESTARTSYS/-ERESTARTNOINTR/-ERESTARTNOHAND: leave the registers,
				     the kernel re-executes the call when the thread resumes (in any process) */
	BM_RESTART_REEXECUTE = 2, /* rax is -ERESTART_RESTARTBLOCK: the kernel's restart state belongs to the old
				     process; re-execute the original call instead (rax := -ERESTARTNOHAND) */
	BM_RESTART_EINTR = 3,     /* the call returned -EINTR only because of the ptrace stop (epoll_wait and
				     friends return EINTR rather than a restart code): re-execute it (rax := -ERESTARTNOHAND) */
};

enum bm_syscall_insn {
	BM_INSN_NONE = 0,
	BM_INSN_SYSCALL = 1,      /* 0f 05 */
	BM_INSN_INT80 = 2,        /* cd 80 */
	BM_INSN_SYSENTER = 3,     /* 0f 34 */
};

struct bm_stop_info {
	bool in_syscall;          /* the kernel reported a system call (orig_rax >= 0) and the preceding
				     instruction decodes as a system call instruction */
	enum bm_syscall_insn insn;
	long nr;                  /* orig_rax when in_syscall, else -1 */
	long ret;                 /* rax as a signed value */
	enum bm_restart restart;
	char text[96];            /* human description, e.g. "in read(), will be restarted by the kernel" */
};

/* Classifies a stop from the registers and the code bytes that end at
 * regs->rip: code_before holds `len` bytes, code_before[len-1] being the
 * byte at rip-1.  Returns 0, or -EINVAL if the registers say "in a system
 * call" but the code does not end with a system call instruction. */
int bm_classify_stop(const struct user_regs_struct *regs, const uint8_t *code_before, size_t len,
		     struct bm_stop_info *out);

/* Finds a `syscall` instruction at a real instruction boundary inside an
 * ELF image held in memory (the vDSO as read from a process): walks the
 * dynamic symbol table, disassembles every function linearly and returns
 * the byte offset of the first `syscall` found.  0 or -ENOENT / -EINVAL. */
int bm_find_syscall_in_elf(const uint8_t *elf, size_t len, uint64_t *offset);

/* Disassembles `len` bytes of code that were at address `base`, printing
 * up to `before` instructions before `mark` and `after` from it on, one per
 * line as "  ADDR: BYTES  MNEMONIC OPERANDS", the instruction at `mark`
 * flagged with "=>".  Since x86 cannot be decoded backwards, the start is
 * chosen so that linear decoding lands exactly on `mark`. */
int bm_disasm_around(FILE *out, const uint8_t *code, size_t len, uint64_t base, uint64_t mark,
		     int before, int after);

/* The number of the system call made by the `syscall` instruction that
 * ends code_before (len bytes ending at rip), read from the instruction
 * that last set rax before it (`mov eax, IMM`, as in the C library's
 * wrappers).  Needed for a call interrupted in restart_syscall(), whose own
 * number the registers no longer hold.  0 or -ENOENT. */
int bm_syscall_nr_from_code(const uint8_t *code_before, size_t len, long *nr);

/* Name of an x86-64 system call number ("read", "futex", ...), or NULL. */
const char *bm_syscall_name(long nr);

#endif
