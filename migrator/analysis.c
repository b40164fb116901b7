/* Machine-code analysis with Capstone: how each thread stopped, where a
 * usable `syscall` instruction is, and disassembly for `inspect`.
 *
 * One Capstone handle is opened on first use and kept: cs_open costs far
 * more than the decoding done here.  Like the rest of binmig this is not
 * meant to be called from several threads at once. */
#include "analysis.h"
#include "log.h"

#include <capstone/capstone.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>

/* The kernel's internal restart codes (include/linux/errno.h).  A program
 * never sees them, but a tracer does, in rax, while the call is pending. */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

/* ---- Capstone ---------------------------------------------------------- */

static csh capstone;
static bool capstone_open;

static int get_capstone(csh *out)
{
	if (!capstone_open) {
		cs_err err = cs_open(CS_ARCH_X86, CS_MODE_64, &capstone);
		if (err != CS_ERR_OK) {
			bm_error(BM_EXIT_FAILURE, "capstone: cannot open an x86-64 disassembler: %s",
				 cs_strerror(err));
			return err == CS_ERR_MEM ? -ENOMEM : -EIO;
		}
		capstone_open = true;
	}
	*out = capstone;
	return 0;
}

/* An instruction buffer for cs_disasm_iter, which decodes without
 * allocating per instruction. */
static int new_insn(csh *cs, cs_insn **insn)
{
	int err = get_capstone(cs);
	if (err)
		return err;
	*insn = cs_malloc(*cs);
	if (!*insn) {
		bm_error(BM_EXIT_FAILURE, "capstone: out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* Decodes the instruction at code[off], which was at address base + off.
 * False if the bytes there are not a whole valid instruction. */
static bool decode_at(csh cs, cs_insn *insn, const uint8_t *code, size_t len, size_t off, uint64_t base)
{
	if (off >= len)
		return false;
	const uint8_t *p = code + off;
	size_t left = len - off;
	uint64_t addr = base + off;
	return cs_disasm_iter(cs, &p, &left, &addr, insn);
}

/* ---- Stop classification ----------------------------------------------- */

/* Calls that return -EINTR themselves, instead of a restart code, when a
 * ptrace stop (or a signal) interrupts their wait, so that the stop alone
 * changed their result.  Each entry checked against the kernel sources; most
 * are also in signal(7)'s list of calls that fail with EINTR after a stop
 * even without a handler.  The i386 numbers serve `int 0x80` callers.
 *
 * Deliberately left out: accept, recv*, send* and connect return -EINTR only
 * when the socket has SO_RCVTIMEO/SO_SNDTIMEO (-ERESTARTSYS otherwise), which
 * the registers cannot tell, and the same socket read with read() would be
 * indistinguishable; connect is not even safe to repeat.  They are reported
 * as completed, and the program sees an ordinary EINTR. */
static bool returns_eintr_when_stopped(long nr, bool i386)
{
	if (i386) {
		switch (nr) {
		case 117: /* ipc: only SEMOP/SEMTIMEDOP block and return -EINTR; the msg calls restart */
		case 177: /* rt_sigtimedwait */
		case 247: /* io_getevents */
		case 256: /* epoll_wait */
		case 319: /* epoll_pwait */
		case 420: /* semtimedop_time64 */
		case 421: /* rt_sigtimedwait_time64 */
		case 426: /* io_uring_enter */
		case 441: /* epoll_pwait2 */
			return true;
		}
		return false;
	}
	switch (nr) {
	case SYS_epoll_wait:      /* ep_poll: "if (signal_pending(current)) return -EINTR" */
	case SYS_epoll_pwait:     /* same wait; the sigmask is restored unless the result is -EINTR */
	case SYS_epoll_pwait2:
	case SYS_rt_sigtimedwait: /* do_sigtimedwait: an early wakeup gives -EINTR, a timeout -EAGAIN */
	case SYS_semop:           /* do_semtimedop leaves the queue status at -EINTR and returns it */
	case SYS_semtimedop:
	case SYS_io_getevents:    /* no event and a signal pending: -EINTR (io_pgetevents restarts) */
	case SYS_io_uring_enter:  /* io_cqring_wait: a pending signal ends the wait with -EINTR,
				     returned only when nothing was submitted, so repeating it is safe */
		return true;
	}
	return false;
}

/* For the description only: calls whose first argument is a descriptor. */
static bool first_arg_is_fd(long nr)
{
	switch (nr) {
	case SYS_read: case SYS_write: case SYS_close: case SYS_fstat: case SYS_lseek:
	case SYS_ioctl: case SYS_pread64: case SYS_pwrite64: case SYS_readv: case SYS_writev:
	case SYS_connect: case SYS_accept: case SYS_accept4: case SYS_sendto: case SYS_recvfrom:
	case SYS_sendmsg: case SYS_recvmsg: case SYS_sendmmsg: case SYS_recvmmsg:
	case SYS_shutdown: case SYS_fcntl: case SYS_flock: case SYS_fsync: case SYS_fdatasync:
	case SYS_ftruncate: case SYS_getdents: case SYS_getdents64: case SYS_fallocate:
	case SYS_preadv: case SYS_pwritev: case SYS_preadv2: case SYS_pwritev2:
	case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_epoll_pwait2: case SYS_epoll_ctl:
	case SYS_splice: case SYS_tee: case SYS_sync_file_range: case SYS_copy_file_range:
	case SYS_io_uring_enter: case SYS_mq_timedsend: case SYS_mq_timedreceive:
	case SYS_timerfd_settime: case SYS_timerfd_gettime:
		return true;
	}
	return false;
}

/* Which system call instruction, if any, occupies the two bytes before rip. */
static int syscall_insn_before(const uint8_t *code, size_t len, uint64_t rip, enum bm_syscall_insn *kind)
{
	*kind = BM_INSN_NONE;
	if (!code || len < 2)
		return 0;
	csh cs;
	cs_insn *insn;
	int err = new_insn(&cs, &insn);
	if (err)
		return err;
	/* All three are two bytes long, and a decode of exactly the last two
	 * bytes that yields one of them ends at rip by construction. */
	if (decode_at(cs, insn, code + len - 2, 2, 0, rip - 2) && insn->size == 2) {
		if (insn->id == X86_INS_SYSCALL)
			*kind = BM_INSN_SYSCALL;
		else if (insn->id == X86_INS_SYSENTER)
			*kind = BM_INSN_SYSENTER;
		else if (insn->id == X86_INS_INT && insn->bytes[1] == 0x80) /* cd ib: the second byte is the vector */
			*kind = BM_INSN_INT80;
	}
	cs_free(insn, 1);
	return 0;
}

/* "read() (fd 3)", "system call 999", "i386 system call 4 (int 0x80)". */
static void describe_call(char *buf, size_t size, const struct user_regs_struct *regs, long nr,
			  enum bm_syscall_insn kind, bool with_fd)
{
	if (kind != BM_INSN_SYSCALL) {
		snprintf(buf, size, "i386 system call %ld (%s)", nr, kind == BM_INSN_INT80 ? "int 0x80" : "sysenter");
		return;
	}
	const char *name = bm_syscall_name(nr);
	if (!name)
		snprintf(buf, size, "system call %ld", nr);
	else if (with_fd && first_arg_is_fd(nr))
		snprintf(buf, size, "%s() (fd %d)", name, (int)regs->rdi);
	else
		snprintf(buf, size, "%s()", name);
}

static const char *restart_code_name(long ret)
{
	switch (ret) {
	case -ERESTARTSYS: return "ERESTARTSYS";
	case -ERESTARTNOINTR: return "ERESTARTNOINTR";
	case -ERESTARTNOHAND: return "ERESTARTNOHAND";
	}
	return "ERESTART_RESTARTBLOCK";
}

static void describe_return(char *buf, size_t size, long ret)
{
	const char *errname = ret < 0 && ret >= -4095 ? strerrorname_np((int)-ret) : NULL;
	if (errname)
		snprintf(buf, size, "-%s", errname);
	else if (ret > 0xffffffffL)  /* beyond any byte count: an address (mmap, brk) */
		snprintf(buf, size, "%#lx", (unsigned long)ret);
	else
		snprintf(buf, size, "%ld", ret);
}

/* The description is cut to fit text[] if it must be (only absurd call
 * numbers make it that long). */
__attribute__((format(printf, 2, 3))) static void set_text(struct bm_stop_info *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->text, sizeof out->text, fmt, ap);
	va_end(ap);
}

int bm_classify_stop(const struct user_regs_struct *regs, const uint8_t *code_before, size_t len,
		     struct bm_stop_info *out)
{
	memset(out, 0, sizeof *out);
	out->nr = -1;
	out->ret = (long)regs->rax;
	long nr = (long)regs->orig_rax;
	if (nr < 0) {
		/* An interrupt, exception or signal return: the kernel sets orig_rax
		 * to -1 so that nothing is restarted. */
		set_text(out, "in user code");
		return 0;
	}

	enum bm_syscall_insn kind;
	int err = syscall_insn_before(code_before, len, regs->rip, &kind);
	if (err)
		return err;
	if (kind == BM_INSN_NONE) {
		/* The registers still name a call but rip is elsewhere: a signal
		 * handler's frame was just set up (rip at the handler's entry, the
		 * interrupted call's number left in orig_rax), or execve returned.
		 * The caller decides; nothing is reported here. */
		set_text(out, "system call %ld reported, but no system call instruction ends at rip", nr);
		bm_debug("thread stopped in system call %ld, but the %zu code bytes before rip %#llx are no system call "
			 "instruction", nr, code_before ? len : 0, regs->rip);
		return -EINVAL;
	}

	/* int 0x80 and sysenter enter the i386 ABI: i386 numbering, and the kernel
	 * compares only the low 32 bits of rax with its restart codes. */
	bool i386 = kind != BM_INSN_SYSCALL;
	long ret = i386 ? (long)(int32_t)regs->rax : (long)regs->rax;
	out->in_syscall = true;
	out->insn = kind;
	out->nr = nr;

	char call[64], result[32];
	describe_call(call, sizeof call, regs, nr, kind, true);
	switch (ret) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		out->restart = BM_RESTART_KERNEL;
		set_text(out, "in %s, interrupted: the kernel restarts it (%s)", call,
			 restart_code_name(ret));
		return 0;
	case -ERESTART_RESTARTBLOCK:
		out->restart = BM_RESTART_REEXECUTE;
		if (nr == (i386 ? 0 : SYS_restart_syscall))
			/* A call already restarted once (after an earlier stop): its own
			 * number is gone from the registers, and restart_syscall in a new
			 * process finds no restart state.  bm_syscall_nr_from_code finds
			 * the original number in the code before the syscall. */
			set_text(out, "in restart_syscall(), interrupted: re-executed as the call the code "
				      "made");
		else
			set_text(out, "in %s, interrupted: re-executed at restore (ERESTART_RESTARTBLOCK)", call);
		return 0;
	case -EINTR:
		if (returns_eintr_when_stopped(nr, i386)) {
			out->restart = BM_RESTART_EINTR;
			set_text(out, "in %s, interrupted (EINTR): re-executed at restore", call);
			return 0;
		}
		break;
	}
	out->restart = BM_RESTART_NONE;
	describe_call(call, sizeof call, regs, nr, kind, false);
	describe_return(result, sizeof result, ret);
	set_text(out, "after %s returned %s", call, result);
	return 0;
}

/* ---- Finding a syscall instruction in an ELF image ---------------------- */

/* An ELF image as it lies in memory from its load base on (the vDSO: its
 * mapping holds the whole file).  Everything in it is untrusted: each
 * offset and size is checked against len before use, and structures are
 * copied out because the buffer need not be aligned. */
struct elf_image {
	const uint8_t *data;
	size_t len;
	Elf64_Ehdr ehdr;
	uint64_t bias;  /* virtual address of data[0]: first PT_LOAD's p_vaddr - p_offset */
};

struct symbol_table {
	size_t offset;  /* of the first Elf64_Sym, within the image */
	size_t count;
	size_t strtab, strsz;  /* names, for messages only; strsz 0 if unusable */
};

static bool in_bounds(size_t len, uint64_t off, uint64_t size)
{
	return off <= len && size <= len - off;
}

static int elf_invalid(const char *what)
{
	bm_error(BM_EXIT_FAILURE, "ELF image: %s", what);
	return -EINVAL;
}

static void read_phdr(const struct elf_image *img, unsigned i, Elf64_Phdr *ph)
{
	memcpy(ph, img->data + img->ehdr.e_phoff + (size_t)i * sizeof *ph, sizeof *ph);
}

/* Offset within the image of [vaddr, vaddr+size), if it lies inside. */
static bool vaddr_to_offset(const struct elf_image *img, uint64_t vaddr, uint64_t size, size_t *off)
{
	uint64_t o = vaddr - img->bias;  /* wraps for addresses below the base: caught below */
	if (!in_bounds(img->len, o, size))
		return false;
	*off = (size_t)o;
	return true;
}

static int open_image(struct elf_image *img, const uint8_t *data, size_t len)
{
	img->data = data;
	img->len = len;
	if (!data || len < sizeof img->ehdr)
		return elf_invalid("shorter than an ELF header");
	memcpy(&img->ehdr, data, sizeof img->ehdr);
	const Elf64_Ehdr *eh = &img->ehdr;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return elf_invalid("no ELF magic");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
		return elf_invalid("not a little-endian x86-64 ELF64 image");
	if (eh->e_phnum == 0 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_bounds(len, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return elf_invalid("program headers missing or out of bounds");
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		read_phdr(img, i, &ph);
		if (ph.p_type == PT_LOAD) {
			img->bias = ph.p_vaddr - ph.p_offset;
			return 0;
		}
	}
	return elf_invalid("no PT_LOAD segment");
}

/* Code may only be taken from an executable segment's file-backed part. */
static bool in_executable_segment(const struct elf_image *img, size_t off, uint64_t size)
{
	for (unsigned i = 0; i < img->ehdr.e_phnum; i++) {
		Elf64_Phdr ph;
		read_phdr(img, i, &ph);
		if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		uint64_t start = ph.p_vaddr - img->bias;
		if (off >= start && off - start <= ph.p_filesz && size <= ph.p_filesz - (off - start))
			return true;
	}
	return false;
}

/* A DT_GNU_HASH table does not state its symbol count: it is one past the
 * end of the chain that starts at the highest index, an end being marked by
 * bit 0 of the chain entry. */
static int gnu_hash_count(const struct elf_image *img, size_t off, size_t *count)
{
	uint32_t hdr[4];  /* nbuckets, symoffset, bloom words, bloom shift */
	if (!in_bounds(img->len, off, sizeof hdr))
		return elf_invalid("DT_GNU_HASH out of bounds");
	memcpy(hdr, img->data + off, sizeof hdr);
	uint64_t buckets = off + sizeof hdr + (uint64_t)hdr[2] * 8;
	if (!in_bounds(img->len, buckets, (uint64_t)hdr[0] * 4))
		return elf_invalid("DT_GNU_HASH buckets out of bounds");
	uint32_t last = 0;
	for (uint32_t b = 0; b < hdr[0]; b++) {
		uint32_t first;
		memcpy(&first, img->data + buckets + (size_t)b * 4, 4);
		if (first > last)
			last = first;
	}
	if (last == 0) {  /* every bucket empty: only the symbols before symoffset */
		*count = hdr[1];
		return 0;
	}
	if (last < hdr[1])
		return elf_invalid("DT_GNU_HASH bucket below symoffset");
	uint64_t chain = buckets + (uint64_t)hdr[0] * 4;
	for (uint64_t i = last;; i++) {
		uint64_t at = chain + (i - hdr[1]) * 4;
		uint32_t h;
		if (!in_bounds(img->len, at, 4))
			return elf_invalid("DT_GNU_HASH chain out of bounds");
		memcpy(&h, img->data + at, 4);
		if (h & 1) {
			*count = i + 1;
			return 0;
		}
	}
}

/* The dynamic symbol table through PT_DYNAMIC, as the dynamic linker finds
 * it.  1 if the image has no usable dynamic section (try section headers). */
static int symbols_from_dynamic(const struct elf_image *img, struct symbol_table *syms)
{
	Elf64_Phdr dyn_ph = {0};
	bool have_dynamic = false;
	for (unsigned i = 0; i < img->ehdr.e_phnum && !have_dynamic; i++) {
		read_phdr(img, i, &dyn_ph);
		have_dynamic = dyn_ph.p_type == PT_DYNAMIC;
	}
	if (!have_dynamic)
		return 1;
	size_t dyn_off;
	if (!vaddr_to_offset(img, dyn_ph.p_vaddr, dyn_ph.p_filesz, &dyn_off))
		return elf_invalid("PT_DYNAMIC out of bounds");

	uint64_t symtab = 0, strtab = 0, strsz = 0, hash = 0, gnu_hash = 0, syment = sizeof(Elf64_Sym);
	for (size_t i = 0; i < dyn_ph.p_filesz / sizeof(Elf64_Dyn); i++) {
		Elf64_Dyn d;
		memcpy(&d, img->data + dyn_off + i * sizeof d, sizeof d);
		if (d.d_tag == DT_NULL)
			break;
		switch (d.d_tag) {
		case DT_SYMTAB: symtab = d.d_un.d_ptr; break;
		case DT_STRTAB: strtab = d.d_un.d_ptr; break;
		case DT_STRSZ: strsz = d.d_un.d_val; break;
		case DT_SYMENT: syment = d.d_un.d_val; break;
		case DT_HASH: hash = d.d_un.d_ptr; break;
		case DT_GNU_HASH: gnu_hash = d.d_un.d_ptr; break;
		}
	}
	if (!symtab || (!hash && !gnu_hash))
		return 1;
	if (syment != sizeof(Elf64_Sym))
		return elf_invalid("unexpected DT_SYMENT");
	if (!vaddr_to_offset(img, symtab, 0, &syms->offset))
		return elf_invalid("DT_SYMTAB out of bounds");

	size_t table;
	if (hash) {
		uint32_t hdr[2];  /* nbucket, nchain: one chain entry per symbol */
		if (!vaddr_to_offset(img, hash, sizeof hdr, &table))
			return elf_invalid("DT_HASH out of bounds");
		memcpy(hdr, img->data + table, sizeof hdr);
		syms->count = hdr[1];
	} else {
		if (!vaddr_to_offset(img, gnu_hash, 0, &table))
			return elf_invalid("DT_GNU_HASH out of bounds");
		int err = gnu_hash_count(img, table, &syms->count);
		if (err)
			return err;
	}
	syms->strsz = 0;
	if (strtab && vaddr_to_offset(img, strtab, strsz, &syms->strtab))
		syms->strsz = strsz;
	return 0;
}

static void read_shdr(const struct elf_image *img, unsigned i, Elf64_Shdr *sh)
{
	memcpy(sh, img->data + img->ehdr.e_shoff + (size_t)i * sizeof *sh, sizeof *sh);
}

/* The same table through the section headers (.dynsym), which the vDSO keeps. */
static int symbols_from_sections(const struct elf_image *img, struct symbol_table *syms)
{
	const Elf64_Ehdr *eh = &img->ehdr;
	if (eh->e_shnum == 0 || eh->e_shoff == 0)
		return elf_invalid("neither a dynamic symbol table nor section headers");
	if (eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_bounds(img->len, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
		return elf_invalid("section headers out of bounds");
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		Elf64_Shdr sh;
		read_shdr(img, i, &sh);
		if (sh.sh_type != SHT_DYNSYM)
			continue;
		if (sh.sh_entsize != sizeof(Elf64_Sym) || !vaddr_to_offset(img, sh.sh_addr, sh.sh_size, &syms->offset))
			return elf_invalid(".dynsym out of bounds");
		syms->count = sh.sh_size / sizeof(Elf64_Sym);
		syms->strsz = 0;
		if (sh.sh_link < eh->e_shnum) {
			Elf64_Shdr str;
			read_shdr(img, sh.sh_link, &str);
			if (str.sh_type == SHT_STRTAB && vaddr_to_offset(img, str.sh_addr, str.sh_size, &syms->strtab))
				syms->strsz = str.sh_size;
		}
		return 0;
	}
	return elf_invalid("no .dynsym section");
}

static const char *symbol_name(const struct elf_image *img, const struct symbol_table *syms, uint32_t name)
{
	if (name >= syms->strsz || !memchr(img->data + syms->strtab + name, '\0', syms->strsz - name))
		return "?";
	return (const char *)img->data + syms->strtab + name;
}

/* Decodes one function linearly, from its first byte, so that every
 * instruction found starts at a real boundary; stops at the first byte
 * sequence that is not an instruction (data, padding of another kind). */
static bool find_syscall_in_function(csh cs, cs_insn *insn, const struct elf_image *img, size_t off,
				     size_t size, uint64_t *found)
{
	const uint8_t *p = img->data + off;
	size_t left = size;
	uint64_t addr = off;
	while (cs_disasm_iter(cs, &p, &left, &addr, insn)) {
		if (insn->id == X86_INS_SYSCALL && insn->size == 2) {
			*found = insn->address;
			return true;
		}
	}
	return false;
}

int bm_find_syscall_in_elf(const uint8_t *elf, size_t len, uint64_t *offset)
{
	struct elf_image img;
	int err = open_image(&img, elf, len);
	if (err)
		return err;
	struct symbol_table syms = {0};
	err = symbols_from_dynamic(&img, &syms);
	if (err == 1)
		err = symbols_from_sections(&img, &syms);
	if (err)
		return err;
	if (syms.count > (len - syms.offset) / sizeof(Elf64_Sym))
		return elf_invalid("symbol table out of bounds");

	csh cs;
	cs_insn *insn;
	err = new_insn(&cs, &insn);
	if (err)
		return err;
	err = -ENOENT;
	for (size_t i = 1; i < syms.count; i++) {  /* symbol 0 is the reserved null symbol */
		Elf64_Sym sym;
		memcpy(&sym, img.data + syms.offset + i * sizeof sym, sizeof sym);
		size_t code;
		if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_size == 0 || sym.st_shndx == SHN_UNDEF ||
		    !vaddr_to_offset(&img, sym.st_value, sym.st_size, &code) ||
		    !in_executable_segment(&img, code, sym.st_size))
			continue;
		if (find_syscall_in_function(cs, insn, &img, code, sym.st_size, offset)) {
			bm_debug("syscall instruction in %s at +%#llx", symbol_name(&img, &syms, sym.st_name),
				 (unsigned long long)*offset);
			err = 0;
			break;
		}
	}
	cs_free(insn, 1);
	if (err == -ENOENT)  /* not an error by itself: the caller may look elsewhere */
		bm_debug("ELF image: no syscall instruction in any function");
	return err;
}

/* ---- Disassembly around an address -------------------------------------- */

/* Whether decoding linearly from `start` is valid all the way and lands on
 * `mark` exactly; counts the instructions before it. */
static bool decodes_onto(csh cs, cs_insn *insn, const uint8_t *code, size_t len, uint64_t base, size_t start,
			 size_t mark, size_t *count)
{
	size_t off = start;
	*count = 0;
	while (off < mark) {
		if (!decode_at(cs, insn, code, len, off, base))
			return false;
		off += insn->size;
		(*count)++;
	}
	return off == mark;
}

static void print_line(FILE *out, bool marked, uint64_t addr, const uint8_t *bytes, size_t size,
		       const char *mnemonic, const char *operands)
{
	char hex[3 * 16 + 1] = "";
	size_t n = 0;
	for (size_t i = 0; i < size && i < 16; i++)
		n += snprintf(hex + n, sizeof hex - n, i ? " %02x" : "%02x", bytes[i]);
	fprintf(out, "%s %016lx: %-24s %s%s%s\n", marked ? "=>" : "  ", (unsigned long)addr, hex, mnemonic,
		operands[0] ? " " : "", operands);
}

/* Prints `count` instructions from code[off]; bytes that do not decode are
 * shown one at a time as .byte, so that output continues past them. */
static size_t print_from(FILE *out, csh cs, cs_insn *insn, const uint8_t *code, size_t len, uint64_t base,
			 size_t off, size_t mark, long count)
{
	for (long i = 0; i < count && off < len; i++) {
		if (decode_at(cs, insn, code, len, off, base)) {
			print_line(out, off == mark, insn->address, insn->bytes, insn->size, insn->mnemonic,
				   insn->op_str);
			off += insn->size;
		} else {
			char operand[8];
			snprintf(operand, sizeof operand, "0x%02x", code[off]);
			print_line(out, off == mark, base + off, code + off, 1, ".byte", operand);
			off++;
		}
	}
	return off;
}

int bm_disasm_around(FILE *out, const uint8_t *code, size_t len, uint64_t base, uint64_t mark,
		     int before, int after)
{
	if (!out || !code || before < 0 || after < 0) {
		bm_error(BM_EXIT_FAILURE, "disassembly: invalid arguments");
		return -EINVAL;
	}
	if (mark < base || mark - base >= len) {
		bm_error(BM_EXIT_FAILURE, "disassembly: address %#llx outside the %zu bytes read at %#llx",
			 (unsigned long long)mark, len, (unsigned long long)base);
		return -EINVAL;
	}
	csh cs;
	cs_insn *insn;
	int err = new_insn(&cs, &insn);
	if (err)
		return err;

	/* x86 cannot be decoded backwards: try starts from the farthest that
	 * `before` instructions of at most 15 bytes could need, and keep the
	 * first one whose decode is clean and meets `mark`.  Decoding from mark
	 * itself always qualifies. */
	size_t m = mark - base;
	size_t reach = (size_t)before * 15;
	size_t start = m, count = 0;
	for (size_t s = m > reach ? m - reach : 0; s < m; s++) {
		if (decodes_onto(cs, insn, code, len, base, s, m, &count)) {
			start = s;
			break;
		}
	}
	if (start == m)
		count = 0;
	size_t skip = count > (size_t)before ? count - (size_t)before : 0;
	size_t off = start;
	for (size_t i = 0; i < skip; i++) {
		decode_at(cs, insn, code, len, off, base);  /* known to succeed: decodes_onto walked it */
		off += insn->size;
	}
	off = print_from(out, cs, insn, code, len, base, off, m, (long)(count - skip));
	print_from(out, cs, insn, code, len, base, off, m, after);
	cs_free(insn, 1);
	if (ferror(out)) {
		bm_error(BM_EXIT_IO, "disassembly: cannot write the listing");
		return -EIO;
	}
	return 0;
}

/* ---- The number of a restarted call -------------------------------------- */

/* Whether an instruction's first operand (its destination) is a part of rax. */
static bool writes_rax(const cs_insn *insn)
{
	static const char *names[] = {"rax", "eax", "ax", "al"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		size_t n = strlen(names[i]);
		if (strncmp(insn->op_str, names[i], n) == 0 && (insn->op_str[n] == ',' || insn->op_str[n] == 0))
			return true;
	}
	return false;
}

int bm_syscall_nr_from_code(const uint8_t *code_before, size_t len, long *nr)
{
	if (!code_before || len < 3)
		return -ENOENT;
	csh cs;
	cs_insn *insn;
	int err = new_insn(&cs, &insn);
	if (err)
		return err;
	size_t mark = len - 2, count = 0, start = mark;
	for (size_t s = 0; s < mark; s++)
		if (decodes_onto(cs, insn, code_before, len, 0, s, mark, &count)) {
			start = s;
			break;
		}
	/* The last instruction before the system call that sets rax decides. */
	bool found = false;
	long value = 0;
	for (size_t off = start; off < mark && decode_at(cs, insn, code_before, len, off, 0); off += insn->size) {
		if (!writes_rax(insn))
			continue;
		char *end;
		const char *imm = strchr(insn->op_str, ',');
		found = insn->id == X86_INS_MOV && imm;
		if (found) {
			value = strtol(imm + 1, &end, 0);
			found = end != imm + 1 && *end == 0 && value >= 0;
		}
	}
	cs_free(insn, 1);
	if (!found)
		return -ENOENT;
	*nr = value;
	return 0;
}
