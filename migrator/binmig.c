/* The binmig command line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "binmig_usage.h"
#include "cgroup.h"
#include "checkpoint.h"
#include "fault.h"
#include "inspect.h"
#include "isa_cmd.h"
#include "kstate.h"
#include "pipe_layout.h"
#include "log.h"
#include "migrate.h"
#include "ptrace_ctl.h"
#include "serve_gate.h"
#include "restore.h"
#include "vdso.h"
#include "sealed_image.h"
#include "stats.h"
#include "tree.h"

/* A bad command line: one line on stderr, status 2. */
static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "binmig: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see binmig --help)\n");
	return BM_EXIT_USAGE;
}

/* getopt_long returned '?' (it prints nothing: opterr is 0). */
static int bad_option(const char *command, char **argv)
{
	char short_opt[3] = {'-', (char)optopt, 0};
	const char *opt = argv[optind - 1];
	/* For a bad letter inside a cluster of short options, name the letter. */
	if (optopt && !(opt[0] == '-' && opt[1] == '-'))
		opt = short_opt;
	fprintf(stderr, "binmig: %s: bad or incomplete option '%s' (see binmig %s --help)\n", command, opt, command);
	return BM_EXIT_USAGE;
}

/* Option parsing for commands whose only option is --help: an exit
 * status to return at once, or -1 to go on with the arguments. */
static int only_help_option(int argc, char **argv, const char *command, void (*usage)(FILE *))
{
	static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int c = getopt_long(argc, argv, "h", opts, NULL);
	if (c == 'h') {
		usage(stdout);
		return 0;
	}
	return c == -1 ? -1 : bad_option(command, argv);
}

static int parse_compress(const char *text, int *level)
{
	if (strcmp(text, "none") == 0) {
		*level = -1;
		return 0;
	}
	if (strcmp(text, "zlib") == 0) {
		*level = 1;
		return 0;
	}
	if (strncmp(text, "zlib:", 5) == 0 && text[5] >= '1' && text[5] <= '9' && text[6] == 0) {
		*level = text[5] - '0';
		return 0;
	}
	return -1;
}

/* A long option without a short letter ('T' is migrate's --precopy-threshold). */
#define OPT_NO_TREE 1001
#define OPT_NO_PREFAULT 1002
#define OPT_MOVE_ADDR 1003
#define OPT_MOVABLE 1004

/* --compress, --stats, --stdio, --fd and --no-tree, which dump and migrate share: 1
 * when c was one of them and is valid, 0 when c is another option, else
 * the usage error status (negated). */
static int common_option(int c, int *level, enum bm_stats_format *fmt, struct bm_fd_policy *policy)
{
	switch (c) {
	case 'c':
		if (parse_compress(optarg, level) < 0)
			return -usage_error("bad --compress value '%s' (none, zlib or zlib:1..9)", optarg);
		return 1;
	case 's':
		if (bm_stats_parse_format(optarg, fmt) < 0)
			return -usage_error("bad --stats value '%s' (csv or json)", optarg);
		return 1;
	case 'S':
		if (bm_fd_policy_set_stdio(policy, optarg) < 0)
			return -usage_error("bad --stdio value '%s' (refuse, null or file:PATH)", optarg);
		return 1;
	case 'F':
		return bm_fd_policy_add(policy, optarg) < 0 ? -(int)bm_exit_code() : 1;
	case OPT_NO_TREE:
		bm_tree_enabled = false;
		return 1;
	}
	return 0;
}

static int parse_pid(const char *text, pid_t *pid)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || *end || end == text || v <= 0 || v > INT_MAX)
		return -1;
	*pid = (pid_t)v;
	return 0;
}

/* The operands after the options: NARGS of them, the first a PID.  -1 to
 * go on, else the usage error status. */
static int pid_argument(int argc, char **argv, int nargs, const char *wrong_count, pid_t *pid)
{
	if (optind != argc - nargs)
		return usage_error("%s", wrong_count);
	if (parse_pid(argv[optind], pid) < 0)
		return usage_error("'%s' is not a PID", argv[optind]);
	return -1;
}

static int sync_dir_of(const char *path)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* The image, plain or sealed (key not NULL), into the file fd. */
static int write_image(struct bm_frozen *f, int *fd, int level, const uint8_t *key, struct bm_stats *st)
{
	struct bm_sealed_writer sealed;
	struct bm_sink sink = bm_fd_sink(fd);
	int rc = 0;
	if (key) {
		enum bm_seal_suite suite = bm_seal_preferred();
		rc = bm_sealed_writer_init(&sealed, sink, key, suite);
		sink = bm_sealed_writer_as_sink(&sealed);
		st->seal = bm_seal_name(suite);
	}
	struct bm_image_writer w;
	if (rc == 0)
		rc = bm_image_writer_init(&w, sink, level);
	if (rc == 0)
		rc = bm_checkpoint(f, &w, st);
	bm_image_writer_free(&w);
	if (key && rc == 0)
		rc = bm_sealed_writer_finish(&sealed);
	if (key)
		bm_sealed_writer_free(&sealed);
	return rc;
}

struct dump_args {
	pid_t pid;
	const char *output;
	bool leave_running;
	int level;
	const uint8_t *key;
	enum bm_stats_format fmt;
	const struct bm_fd_policy *policy;
};

/* Everything after the command line, on the tracing thread
 * (bm_run_traced): an exit status. */
static int dump(void *arg)
{
	const struct dump_args *a = arg;
	pid_t pid = a->pid;
	const char *output = a->output;
	const uint8_t *key = a->key;
	const struct bm_fd_policy *policy = a->policy;
	struct bm_stats st;
	bm_stats_init(&st);
	uint64_t t0 = bm_now_us();
	struct bm_frozen f;
	bm_kstate_prepare(); /* before the freeze: its cost is no downtime */
	if (bm_freeze(pid, &f, policy, &st) < 0)
		return bm_exit_code();
	char why[800];
	if (bm_kstate_read_frozen(&f, why, sizeof why) < 0)
		bm_kstate_warn_unseen(why, false);
	if (bm_tree_check_exit_signals(&f) < 0 || bm_pipe_refuse_packets(&f) < 0) {
		bm_release(&f, false);
		return bm_exit_code();
	}
	/* Should binmig die while it writes, the process runs on (parked: its
	 * threads as they resume, checkpoint.h). */
	if (bm_frozen_park(&f) < 0) {
		bm_release(&f, false);
		return bm_exit_code();
	}

	char partial[PATH_MAX];
	snprintf(partial, sizeof partial, "%s.partial", output);
	int fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;
	if (fd < 0) {
		rc = bm_error_errno(BM_EXIT_IO, errno, "cannot create %s", partial);
	} else {
		rc = write_image(&f, &fd, a->level, key, &st);
		if (rc == 0 && (bm_fault(BM_FP_SYNC_IMAGE) || fsync(fd) < 0))
			rc = bm_error_errno(BM_EXIT_IO, errno, "cannot sync %s", partial);
		if (close(fd) < 0 && rc == 0)
			rc = bm_error_errno(BM_EXIT_IO, errno, "cannot close %s", partial);
		if (rc == 0 && (bm_fault(BM_FP_RENAME_IMAGE) || rename(partial, output) < 0))
			rc = bm_error_errno(BM_EXIT_IO, errno, "cannot rename %s to %s", partial, output);
		bool renamed = rc == 0;
		if (rc == 0 && sync_dir_of(output) < 0)
			rc = bm_error_errno(BM_EXIT_IO, errno, "cannot sync the directory of %s", output);
		/* A failed dump leaves no image: the process runs on. */
		if (rc < 0)
			unlink(renamed ? output : partial);
	}
	/* Only a complete image on disk allows the original to go. */
	int rrc = bm_release(&f, rc == 0 && !a->leave_running);
	if (rc < 0 || rrc < 0)
		return bm_exit_code();
	st.total_us = (int64_t)(bm_now_us() - t0);
	st.pid = pid;
	bm_stats_print(stdout, &st, a->fmt);
	return 0;
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'}, {"leave-running", no_argument, 0, 'L'},
		{"compress", required_argument, 0, 'c'}, {"stats", required_argument, 0, 's'},
		{"stdio", required_argument, 0, 'S'}, {"fd", required_argument, 0, 'F'},
		{"no-tree", no_argument, 0, OPT_NO_TREE},
		{"key", required_argument, 0, 'k'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	const char *output = NULL, *keyfile = NULL;
	bool leave_running = false;
	int level = -1;
	enum bm_stats_format fmt = BM_STATS_NONE;
	struct bm_fd_policy policy = {BM_STDIO_REFUSE, NULL, NULL, 0};
	int c, rc = -1;
	while (rc < 0 && (c = getopt_long(argc, argv, "o:k:h", opts, NULL)) != -1) {
		int done = common_option(c, &level, &fmt, &policy);
		if (done < 0)
			rc = -done;
		if (done)
			continue;
		switch (c) {
		case 'o': output = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'L': leave_running = true; break;
		case 'h': bm_usage_dump(stdout); rc = 0; break;
		default: rc = bad_option("dump", argv);
		}
	}
	pid_t pid;
	if (rc < 0)
		rc = pid_argument(argc, argv, 1, "dump takes exactly one PID", &pid);
	if (rc < 0 && !output)
		rc = usage_error("%s", "dump needs -o IMAGE");
	uint8_t key[BM_KEY_LEN];
	if (rc < 0 && keyfile && bm_key_load(keyfile, key) < 0)
		rc = bm_exit_code();
	if (rc < 0) {
		policy.original_runs_on = leave_running;
		struct dump_args a = {pid, output, leave_running, level, keyfile ? key : NULL, fmt, &policy};
		rc = bm_run_traced(dump, &a);
		rc = rc < 0 ? (int)bm_exit_code() : rc;
	}
	bm_fd_policy_free(&policy);
	return rc;
}

/* An image file being read, plain or sealed. */
struct image_in {
	int fd;
	bool sealed;
	struct bm_sealed_reader sealed_reader;
	struct bm_image_reader reader;
};

/* Opens path with --key keyfile (or NULL) and reads the image's header. */
static int open_image(const char *path, const char *keyfile, struct image_in *in)
{
	memset(in, 0, sizeof *in);
	in->fd = -1;
	uint8_t key[BM_KEY_LEN];
	if (keyfile && bm_key_load(keyfile, key) < 0)
		return -1;
	in->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (in->fd < 0)
		return bm_error_errno(BM_EXIT_IO, errno, "cannot open %s", path);
	struct bm_source source = bm_fd_source(&in->fd);
	if (keyfile) {
		in->sealed = true;
		int rc = bm_sealed_reader_init(&in->sealed_reader, source, key);
		OPENSSL_cleanse(key, sizeof key);
		if (rc < 0)
			return rc;
		source = bm_sealed_reader_as_source(&in->sealed_reader);
	}
	return bm_image_reader_init(&in->reader, source);
}

/* A sealed image is only good once its last frame is in and the file
 * ends there: restore waits for that before the process runs. */
static int sealed_image_end(void *ctx)
{
	return bm_sealed_reader_finish(ctx);
}

static void close_image(struct image_in *in)
{
	bm_image_reader_free(&in->reader);
	if (in->sealed)
		bm_sealed_reader_free(&in->sealed_reader);
	if (in->fd >= 0)
		close(in->fd);
}

/* --vdso-proxy MODE: 0, or the usage error's exit status. */
static int set_vdso_mode(const char *text)
{
	enum bm_vdso_mode mode;
	if (bm_vdso_parse_mode(text, &mode) < 0)
		return usage_error("bad --vdso-proxy value '%s' (auto, always or never)", text);
	bm_vdso_set_mode(mode);
	return 0;
}

/* --cgroup MODE: 0, or the usage error's exit status. */
static int set_cgroup_mode(const char *text)
{
	enum bm_cgroup_mode mode;
	if (bm_cgroup_parse_mode(text, &mode) < 0)
		return usage_error("bad --cgroup value '%s' (same or here)", text);
	bm_cgroup_set_mode(mode);
	return 0;
}

/* The options restore and serve share (what becomes of a restored
 * process here): 0, or the usage error's exit status. */
static int destination_option(int c, const char *arg)
{
	return c == 'V' ? set_vdso_mode(arg) : set_cgroup_mode(arg);
}

static int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{"stats", required_argument, 0, 's'}, {"key", required_argument, 0, 'k'},
		{"vdso-proxy", required_argument, 0, 'V'}, {"cgroup", required_argument, 0, 'G'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	enum bm_stats_format fmt = BM_STATS_NONE;
	const char *keyfile = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (bm_stats_parse_format(optarg, &fmt) < 0)
				return usage_error("bad --stats value '%s' (csv or json)", optarg);
			break;
		case 'k': keyfile = optarg; break;
		case 'V':
		case 'G':
			if (destination_option(c, optarg) != 0)
				return BM_EXIT_USAGE;
			break;
		case 'h': bm_usage_restore(stdout); return 0;
		default: return bad_option("restore", argv);
		}
	}
	if (optind != argc - 1)
		return usage_error("%s", "restore takes exactly one IMAGE");
	struct bm_stats st;
	bm_stats_init(&st);
	struct image_in in;
	pid_t pid = 0;
	int rc = open_image(argv[optind], keyfile, &in);
	struct bm_restore_hook hook = { sealed_image_end, &in.sealed_reader };
	if (rc == 0)
		rc = bm_restore(&in.reader, in.sealed ? &hook : NULL, &pid, &st);
	if (in.sealed)
		st.seal = bm_seal_name(in.sealed_reader.suite);
	close_image(&in);
	if (rc < 0)
		return bm_exit_code();
	printf("%d\n", pid);
	bm_stats_print(stdout, &st, fmt);
	return 0;
}

static int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{"isa", no_argument, 0, 'i'}, {"key", required_argument, 0, 'k'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	bool isa = false;
	const char *keyfile = NULL;
	int c, rc;
	while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': isa = true; break;
		case 'k': keyfile = optarg; break;
		case 'h': bm_usage_inspect(stdout); return 0;
		default: return bad_option("inspect", argv);
		}
	}
	if (optind != argc - 1)
		return usage_error("%s", "inspect takes exactly one IMAGE");
	/* The account is printed only once every section has been verified:
	 * a damaged image gives the error alone, never a partial picture. */
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	if (!mem)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "open_memstream"), bm_exit_code();
	struct image_in in;
	rc = open_image(argv[optind], keyfile, &in);
	if (rc == 0)
		rc = isa ? bm_inspect_isa(mem, &in.reader) : bm_inspect(mem, &in.reader);
	if (rc == 0 && in.sealed)
		rc = bm_sealed_reader_finish(&in.sealed_reader);
	close_image(&in);
	fclose(mem);
	if (rc == 0)
		fwrite(text, 1, len, stdout);
	free(text);
	return rc < 0 ? bm_exit_code() : 0;
}

static int load_key(const char *path, uint8_t key[BM_KEY_LEN])
{
	if (!path)
		return usage_error("%s", "--key KEYFILE is required");
	return bm_key_load(path, key) < 0 ? bm_exit_code() : 0;
}

static int cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, 0, 'k'}, {"mode", required_argument, 0, 'm'},
		{"compress", required_argument, 0, 'c'}, {"stats", required_argument, 0, 's'},
		{"workdir", required_argument, 0, 'w'}, {"stdio", required_argument, 0, 'S'},
		{"fd", required_argument, 0, 'F'}, {"no-cpu-check", no_argument, 0, 'N'},
		{"seal", required_argument, 0, 'e'}, {"precopy-rounds", required_argument, 0, 'R'},
		{"precopy-threshold", required_argument, 0, 'T'}, {"no-fallback", no_argument, 0, 'n'},
		{"no-tree", no_argument, 0, OPT_NO_TREE}, {"no-prefault", no_argument, 0, OPT_NO_PREFAULT},
		{"move-addr", required_argument, 0, OPT_MOVE_ADDR}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	static struct bm_movaddr move_addrs;
	struct bm_migrate_opts o = {.mode = BM_MODE_STREAM, .zlib_level = -1, .workdir = "/tmp",
				    .seal = bm_seal_preferred(),
				    .precopy = {BM_PRECOPY_DEFAULT_ROUNDS, BM_PRECOPY_DEFAULT_THRESHOLD, false}};
	unsigned accept;
	const char *keyfile = NULL;
	enum bm_stats_format fmt = BM_STATS_NONE;
	int c, rc = -1;
	while (rc < 0 && (c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
		int done = common_option(c, &o.zlib_level, &fmt, &o.fd_policy);
		if (done < 0)
			rc = -done;
		if (done)
			continue;
		switch (c) {
		case 'k': keyfile = optarg; break;
		case 'm':
			if (strcmp(optarg, "stream") == 0)
				o.mode = BM_MODE_STREAM;
			else if (strcmp(optarg, "file") == 0)
				o.mode = BM_MODE_FILE;
			else if (strcmp(optarg, "precopy") == 0)
				o.mode = BM_MODE_PRECOPY;
			else if (strcmp(optarg, "postcopy") == 0)
				o.mode = BM_MODE_POSTCOPY;
			else if (strcmp(optarg, "hybrid") == 0)
				o.mode = BM_MODE_HYBRID;
			else
				rc = usage_error("bad --mode value '%s' (stream, file, precopy, postcopy or hybrid)", optarg);
			break;
		case 'R':
			if (bm_precopy_parse_rounds(optarg, &o.precopy.max_rounds) < 0)
				rc = usage_error("bad --precopy-rounds value '%s' (1 to 64)", optarg);
			break;
		case 'T':
			if (bm_precopy_parse_threshold(optarg, &o.precopy.threshold_pages) < 0)
				rc = usage_error("bad --precopy-threshold value '%s' (PAGES, or NMiB)", optarg);
			break;
		case 'n': o.precopy.no_fallback = true; break;
		case OPT_NO_PREFAULT: o.no_prefault = true; break;
		case OPT_MOVE_ADDR:
			if (bm_movaddr_add_option(&move_addrs, optarg) < 0)
				rc = usage_error("bad --move-addr value '%s' (an IPv4 or IPv6 address of this host, each once, at "
						 "most 16; IPv6 not loopback, link-local, multicast or v4-mapped)", optarg);
			o.move_addrs = &move_addrs;
			o.fd_policy.move_addrs = &move_addrs;
			break;
		case 'w': o.workdir = optarg; break;
		case 'N': o.skip_cpu_check = true; break;
		case 'e':
			if (bm_seal_parse(optarg, &o.seal, &accept) < 0)
				rc = usage_error("bad --seal value '%s' (auto, aes-256-gcm, chacha20-poly1305 or none)", optarg);
			break;
		case 'h': bm_usage_migrate(stdout); rc = 0; break;
		default: rc = bad_option("migrate", argv);
		}
	}
	pid_t pid;
	if (rc < 0)
		rc = pid_argument(argc, argv, 2, "migrate takes a PID and HOST:PORT", &pid);
	if (rc < 0) {
		o.target = argv[optind + 1];
		rc = load_key(keyfile, o.key);
		struct bm_stats st;
		bm_stats_init(&st);
		if (rc == 0)
			rc = bm_migrate(pid, &o, &st) < 0 ? bm_exit_code() : 0;
		if (rc == 0)
			bm_stats_print(stdout, &st, fmt);
	}
	bm_fd_policy_free(&o.fd_policy);
	return rc;
}

/* A number of seconds from 1 to an hour, in milliseconds. */
static int parse_seconds(const char *text, int *ms)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || *end || end == text || v < 1 || v > 3600)
		return -EINVAL;
	*ms = (int)v * 1000;
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, 0, 'l'}, {"key", required_argument, 0, 'k'},
		{"workdir", required_argument, 0, 'w'}, {"io-timeout", required_argument, 0, 't'},
		{"handshake-timeout", required_argument, 0, 'H'}, {"cpu-profile", required_argument, 0, 'C'},
		{"seal", required_argument, 0, 'e'}, {"vdso-proxy", required_argument, 0, 'V'},
		{"precopy-store-max", required_argument, 0, 'P'}, {"cgroup", required_argument, 0, 'G'},
		{"movable", required_argument, 0, OPT_MOVABLE}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	static struct bm_movable movable;
	struct bm_serve_opts o = {.workdir = "/tmp", .io_timeout_ms = BM_IO_TIMEOUT_MS,
				  .handshake_timeout_ms = BM_GATE_DEADLINE_MS, .seal_accept = BM_SEAL_ACCEPT_AEAD,
				  .precopy_store_max = bm_precopy_default_store_max()};
	enum bm_seal_suite suite;
	const char *keyfile = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "l:k:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': o.listen = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'w': o.workdir = optarg; break;
		case 'C': o.cpu_profile = optarg; break;
		case OPT_MOVABLE:
			if (bm_movable_add_option(&movable, optarg) < 0)
				return usage_error("bad --movable value '%s' (an IPv4 or IPv6 ADDR or ADDR/PREFIX, at most 16)",
						 optarg);
			o.movable = &movable;
			break;
		case 'P':
			if (bm_precopy_parse_mib(optarg, &o.precopy_store_max) < 0)
				return usage_error("bad --precopy-store-max value '%s' (MiB)", optarg);
			break;
		case 't':
			if (parse_seconds(optarg, &o.io_timeout_ms) < 0)
				return usage_error("bad --io-timeout value '%s' (1 to 3600 seconds)", optarg);
			break;
		case 'H':
			if (parse_seconds(optarg, &o.handshake_timeout_ms) < 0)
				return usage_error("bad --handshake-timeout value '%s' (1 to 3600 seconds)", optarg);
			break;
		case 'e':
			if (bm_seal_parse(optarg, &suite, &o.seal_accept) < 0)
				return usage_error("bad --seal value '%s' (auto, aes-256-gcm, chacha20-poly1305 or none)", optarg);
			break;
		case 'V':
		case 'G':
			if (destination_option(c, optarg) != 0)
				return BM_EXIT_USAGE;
			break;
		case 'h': bm_usage_serve(stdout); return 0;
		default: return bad_option("serve", argv);
		}
	}
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o.listen)
		return usage_error("%s", "serve needs --listen ADDR:PORT");
	int rc = load_key(keyfile, o.key);
	if (rc)
		return rc;
	if (o.cpu_profile) {
		/* A bad profile is found now, not by the first migration. */
		struct bm_cpu_profile *p = malloc(sizeof *p);
		rc = p ? bm_cpu_profile_load(o.cpu_profile, p) : bm_error(BM_EXIT_FAILURE, "out of memory");
		free(p);
		if (rc < 0)
			return bm_exit_code();
	}
	return bm_serve(&o) < 0 ? bm_exit_code() : 0;
}

static int cmd_keygen(int argc, char **argv)
{
	int rc = only_help_option(argc, argv, "keygen", bm_usage_keygen);
	if (rc >= 0)
		return rc;
	if (optind != argc - 1)
		return usage_error("%s", "keygen takes exactly one KEYFILE");
	return bm_keygen(argv[optind]) < 0 ? bm_exit_code() : 0;
}

static int cmd_cpu_profile(int argc, char **argv)
{
	int rc = only_help_option(argc, argv, "cpu-profile", bm_usage_cpu_profile);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return bm_cmd_cpu_profile(stdout);
}

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dest-cpu", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	const char *profile = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': profile = optarg; break;
		case 'h': bm_usage_check(stdout); return 0;
		default: return bad_option("check", argv);
		}
	}
	pid_t pid;
	int rc = pid_argument(argc, argv, 1, "check takes exactly one PID", &pid);
	if (rc >= 0)
		return rc;
	if (!profile)
		return usage_error("%s", "check needs --dest-cpu PROFILE");
	struct bm_cpu_profile *dest = malloc(sizeof *dest), *here = malloc(sizeof *here);
	struct bm_isa_report report;
	rc = dest && here ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	if (rc == 0)
		rc = bm_cpu_profile_load(profile, dest);
	if (rc == 0)
		rc = bm_cpu_profile_local(here);
	if (rc == 0)
		rc = bm_isa_check(pid, here, dest, stdout, &report);
	free(dest);
	free(here);
	return rc < 0 ? bm_exit_code() : 0;
}

static int cmd_fault_points(int argc, char **argv)
{
	int rc = only_help_option(argc, argv, "fault-points", bm_usage_fault_points);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	bm_fault_list(stdout);
	printf("fault injection: %s\n", bm_fault_injection_built() ? "built in (BINMIG_FAULT)" : "not built in");
	return 0;
}

static const struct command {
	const char *name;
	int (*run)(int, char **);
	void (*usage)(FILE *);
} commands[] = {
	{"dump", cmd_dump, bm_usage_dump},
	{"restore", cmd_restore, bm_usage_restore},
	{"inspect", cmd_inspect, bm_usage_inspect},
	{"check", cmd_check, bm_usage_check},
	{"cpu-profile", cmd_cpu_profile, bm_usage_cpu_profile},
	{"migrate", cmd_migrate, bm_usage_migrate},
	{"serve", cmd_serve, bm_usage_serve},
	{"keygen", cmd_keygen, bm_usage_keygen},
	{"fault-points", cmd_fault_points, bm_usage_fault_points},
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			bm_set_verbose(true);
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			bm_usage_main(stdout);
			return 0;
		} else
			return usage_error("unknown option '%s'", argv[i]);
	}
	if (i == argc) {
		bm_usage_main(stderr);
		return BM_EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		const struct command *cmd = i + 1 < argc ? find_command(argv[i + 1]) : NULL;
		if (cmd)
			cmd->usage(stdout);
		else
			bm_usage_main(stdout);
		return 0;
	}
	const struct command *cmd = find_command(argv[i]);
	if (!cmd)
		return usage_error("unknown command '%s'", argv[i]);
	/* Restore keeps a descriptor per mapped file open at once. */
	struct rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
	}
	if (bm_fault_arm_from_env() < 0)
		return bm_exit_code();
	optind = 1;
	opterr = 0; /* bad options are reported once, by bad_option */
	int rc = cmd->run(argc - i, argv + i);
	bm_test_exit_gate();
	return rc;
}
