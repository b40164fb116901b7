/* cpu-profile, check and inspect --isa (isa_cmd.h). */
#include "isa_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

int bm_cmd_cpu_profile(FILE *out)
{
	struct bm_cpu_profile *p = malloc(sizeof *p);
	if (!p)
		return bm_error(BM_EXIT_FAILURE, "out of memory"), bm_exit_code();
	int rc = bm_cpu_profile_local(p);
	if (rc == 0)
		bm_cpu_profile_print(out, p);
	free(p);
	return rc < 0 ? bm_exit_code() : 0;
}

/* Judges an analysis: 0, or -1 with the refusal logged. */
static int judge(pid_t pid, const struct bm_cpu_profile *here, const struct bm_cpu_profile *dest, FILE *out,
		 const struct bm_isa_report *report)
{
	uint64_t have = bm_cpu_profile_exts(here), dest_set = bm_cpu_profile_exts(dest);
	if (out) {
		bm_isa_report_print(out, report);
		uint64_t guarded = report->used_set & ~have;
		if (guarded) {
			char list[512];
			bm_ext_list(guarded, list, sizeof list);
			fprintf(out, "present, but this CPU lacks them too (code behind a run-time check that failed "
				     "here; not counted): %s\n", list);
		}
	}
	char msg[1024], why[256];
	if (bm_isa_verdict(report, have, dest_set, msg, sizeof msg))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d cannot run on the destination: %s", (int)pid, msg);
	if (bm_xstate_incompatible(here, dest, why, sizeof why))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d cannot run on the destination: %s", (int)pid, why);
	if (out)
		fprintf(out, "process %d can run on the destination\n", (int)pid);
	return 0;
}

static int analyze(pid_t pid, bool names_limited, uint64_t name_set, struct bm_isa_report *report)
{
	int rc = bm_isa_analyze_pid(pid, names_limited, name_set, report);
	if (rc == -ESRCH)
		bm_error(BM_EXIT_TARGET, "process %d is gone: its mappings cannot be read", (int)pid);
	return rc < 0 ? -1 : 0;
}

int bm_isa_check(pid_t pid, const struct bm_cpu_profile *here, const struct bm_cpu_profile *dest, FILE *out,
		 struct bm_isa_report *report)
{
	/* Unprinted, the report needs names only for what the verdict names. */
	uint64_t name_set = bm_cpu_profile_exts(here) & ~bm_cpu_profile_exts(dest);
	if (analyze(pid, !out, name_set, report) < 0)
		return -1;
	return judge(pid, here, dest, out, report);
}

/* ---- the check beside the connection ------------------------------------- */

static void *job_main(void *arg)
{
	struct bm_isa_job *j = arg;
	bm_set_log_prefix("binmig: migrate: cpu check");
	/* Names nothing: the destination, and so what a refusal would
	 * name, is not known yet. */
	j->rc = analyze(j->pid, true, 0, &j->report);
	return NULL;
}

struct bm_isa_job *bm_isa_job_start(pid_t pid)
{
	struct bm_isa_job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->pid = pid;
	/* Signals are for the main thread: binmig's handlers and waits. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	j->running = pthread_create(&j->thread, NULL, job_main, j) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return j;
}

static void job_join(struct bm_isa_job *j)
{
	if (j->running)
		pthread_join(j->thread, NULL);
	j->running = false;
}

int bm_isa_job_check(struct bm_isa_job *j, const struct bm_cpu_profile *here, const struct bm_cpu_profile *dest)
{
	if (!j)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	bool ran = j->running;
	job_join(j);
	if (!ran) /* no thread could be made: the analysis is done here */
		return bm_isa_check(j->pid, here, dest, NULL, &j->report);
	if (j->rc < 0)
		return -1;
	char msg[1024], why[256];
	if (!bm_isa_verdict(&j->report, bm_cpu_profile_exts(here), bm_cpu_profile_exts(dest), msg, sizeof msg) &&
	    !bm_xstate_incompatible(here, dest, why, sizeof why))
		return 0;
	/* Refused: analysed again, to name what the destination lacks. */
	return bm_isa_check(j->pid, here, dest, NULL, &j->report);
}

void bm_isa_job_end(struct bm_isa_job *j)
{
	if (!j)
		return;
	job_join(j);
	free(j);
}

/* ---- images -------------------------------------------------------------- */

/* The pages an image holds for executable and file mappings. */
struct image_mem {
	const struct bm_process *p;
	struct run {
		uint64_t addr, len;
		uint8_t *data;
	} *runs;
	size_t n, cap;
};

static const struct bm_vma *vma_at(const struct bm_process *p, uint64_t addr)
{
	for (uint32_t i = 0; i < p->nvmas; i++)
		if (addr >= p->vmas[i].start && addr < p->vmas[i].end)
			return &p->vmas[i];
	return NULL;
}

static int keep_run(struct image_mem *m, const struct bm_page_run *run)
{
	const struct bm_vma *v = vma_at(m->p, run->addr);
	if (run->zero || !v || (!(v->prot & PROT_EXEC) && v->kind != BM_VMA_FILE))
		return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct run *nr = realloc(m->runs, cap * sizeof *nr);
		if (!nr)
			return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
		m->runs = nr;
		m->cap = cap;
	}
	uint64_t len = (uint64_t)run->npages * 4096;
	uint8_t *data = malloc(len);
	if (!data)
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	memcpy(data, run->data, len);
	m->runs[m->n++] = (struct run){run->addr, len, data};
	return 0;
}

/* One page: from the image, else from the mapped file, else zero (an
 * anonymous page never touched). */
static int read_page(struct image_mem *m, uint64_t page, uint8_t *out)
{
	for (size_t i = 0; i < m->n; i++)
		if (page >= m->runs[i].addr && page - m->runs[i].addr < m->runs[i].len) {
			memcpy(out, m->runs[i].data + (page - m->runs[i].addr), 4096);
			return 0;
		}
	const struct bm_vma *v = vma_at(m->p, page);
	if (!v)
		return -EFAULT;
	memset(out, 0, 4096);
	if (v->kind == BM_VMA_FILE && v->path) {
		int fd = open(v->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		ssize_t n = pread(fd, out, 4096, (off_t)(v->pgoff + (page - v->start)));
		close(fd);
		if (n < 0)
			return -EIO;
	}
	return 0;
}

static int read_image_mem(void *ctx, uint64_t addr, void *buf, size_t len)
{
	uint8_t page[4096];
	for (size_t done = 0; done < len;) {
		uint64_t a = addr + done, base = a & ~4095ULL;
		int rc = read_page(ctx, base, page);
		if (rc < 0)
			return rc;
		size_t n = 4096 - (a - base);
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)buf + done, page + (a - base), n);
		done += n;
	}
	return 0;
}

int bm_inspect_isa(FILE *out, struct bm_image_reader *r)
{
	struct bm_process p = {0};
	struct image_mem mem = {&p, NULL, 0, 0};
	struct bm_isa_map *maps = NULL;
	int rc = bm_image_read_process(r, &p);
	struct bm_page_run run;
	while (rc == 0 && (rc = bm_image_next_pages(r, &run)) == 1)
		rc = keep_run(&mem, &run);
	if (rc == 0 && !(maps = calloc(p.nvmas ? p.nvmas : 1, sizeof *maps)))
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t i = 0; rc == 0 && i < p.nvmas; i++) {
		const struct bm_vma *v = &p.vmas[i];
		bool file = v->kind == BM_VMA_FILE && v->path;
		maps[i] = (struct bm_isa_map){v->start, v->end, v->pgoff, (v->prot & PROT_EXEC) != 0,
					      file ? v->path : NULL,
					      v->kind == BM_VMA_VDSO ? "[vdso]" : v->kind == BM_VMA_VSYSCALL ? "[vsyscall]"
												: "[anon]",
					      file ? v->file.ino : 0};
	}
	struct bm_isa_report report;
	if (rc == 0) {
		struct bm_isa_source src = {maps, p.nvmas, read_image_mem, &mem, 0};
		rc = bm_isa_analyze(&src, &report);
	}
	if (rc == 0) {
		fprintf(out, "process %d (%s): instruction-set analysis\n", p.pid, p.comm);
		bm_isa_report_print(out, &report);
	}
	for (size_t i = 0; i < mem.n; i++)
		free(mem.runs[i].data);
	free(mem.runs);
	free(maps);
	bm_process_free(&p);
	return rc < 0 ? -1 : 0;
}
