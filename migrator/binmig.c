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

#include "checkpoint.h"
#include "fault.h"
#include "inspect.h"
#include "isa_cmd.h"
#include "log.h"
#include "migrate.h"
#include "serve_gate.h"
#include "restore.h"
#include "vdso.h"
#include "sealed_image.h"
#include "stats.h"
#include "tree.h"

#define EXIT_CODES_HELP                                                                                     \
	"Exit status:\n"                                                                                    \
	"  0  success\n"                                                                                    \
	"  1  internal or system failure\n"                                                                 \
	"  2  bad command line, or an --fd that does not fit the process (it has no such descriptor;\n"    \
	"     broken for what is no pipe or socket; file:PATH not a regular file)\n"                      \
	"  3  the target cannot be dumped (no such process, kernel thread, zombie, already traced,\n"       \
	"     binmig itself, not permitted)\n"                                                              \
	"  4  the target holds state binmig cannot migrate (the process is left running, untouched)\n"     \
	"  5  the image is not a valid binmig image (truncated, corrupt, wrong magic or version; a sealed\n" \
	"     image altered, sealed with another key, or a plain one where --key asks for a sealed one)\n" \
	"  6  restore is impossible here (PID taken, mapped file missing or changed since the dump)\n"      \
	"  7  reading or writing the image failed\n"                                                        \
	"  8  network, authentication or protocol failure with the peer (a sealed frame that does\n"       \
	"     not verify, or ends that disagree on --seal, included)\n"

/* --vdso-proxy, the same for restore and serve. */
#define VDSO_PROXY_HELP                                                                          \
	"      --vdso-proxy auto|always|never\n"                                                 \
	"                            where this kernel's vDSO differs from the image's (another\n" \
	"                            kernel build): auto (default) keeps the old vDSO as a copy\n" \
	"                            whose functions jump to this kernel's, so pointers the\n"     \
	"                            process stored stay valid; never refuses the restore\n"       \
	"                            (status 6); always uses the copy even when they are the same\n"

static void usage_main(FILE *out)
{
	fprintf(out,
		"Usage: binmig COMMAND [OPTIONS]\n"
		"\n"
		"User-level process migration at the binary level: a process is frozen with ptrace,\n"
		"its registers, memory, files and signal state are written to an image, and the\n"
		"process is rebuilt from the image with the same PID, carrying on where it stopped.\n"
		"\n"
		"Commands:\n"
		"  dump PID -o IMAGE [--key KEYFILE]\n"
		"                        checkpoint a running process to IMAGE (and terminate it); with\n"
		"                        --key the image is sealed (encrypted and authenticated)\n"
		"  restore IMAGE [--key KEYFILE]\n"
		"                        rebuild the process from IMAGE; prints its PID\n"
		"  inspect IMAGE [--key KEYFILE]\n"
		"                        show what an image holds, and the code where each thread stopped\n"
		"  inspect --isa IMAGE [--key KEYFILE]\n"
		"                        which instruction-set extensions the code in an image uses\n"
		"  check PID --dest-cpu PROFILE\n"
		"                        whether process PID can run on a CPU described by PROFILE\n"
		"  cpu-profile           print this machine's CPU profile (features, xstate layout)\n"
		"  migrate PID HOST:PORT --key KEYFILE\n"
		"                        move a running process to the host where `binmig serve` listens;\n"
		"                        everything after the handshake is encrypted and authenticated\n"
		"  serve --listen ADDR:PORT --key KEYFILE\n"
		"                        the destination daemon: receive and restore migrating processes\n"
		"  keygen KEYFILE        create a new shared key (mode 0600) for migrate, serve and\n"
		"                        sealed images\n"
		"  fault-points          list the steps a test build can make fail (see below)\n"
		"  help [COMMAND]        this text, or a command's\n"
		"\n"
		"Global options (before the command):\n"
		"  -v, --verbose         print progress and every error, not just the first\n"
		"  -h, --help            this text\n"
		"\n"
		"`binmig COMMAND --help` describes a command.\n"
		"\n"
		"Testing: a binmig built with fault injection (make test-build) fails the step named\n"
		"by BINMIG_FAULT=POINT[:N] (its N-th pass, default the first), as the system would;\n"
		"serve reads POINT for each migration from the file named by BINMIG_SERVE_FAULT_FILE;\n"
		"BINMIG_FAULT_LOG=FILE records each injected failure.\n\n" EXIT_CODES_HELP);
}

static void usage_fault_points(FILE *out)
{
	fprintf(out,
		"Usage: binmig fault-points\n"
		"\n"
		"Lists the numbered steps of dump, migrate (both sides) and restore where the process,\n"
		"the network or the disk can fail, one per line: number, name, what fails.  A binmig\n"
		"built with fault injection (make test-build) fails the step named by BINMIG_FAULT.\n"
		"The last line says whether this binmig is such a build.\n\n" EXIT_CODES_HELP);
}

static void usage_dump(FILE *out)
{
	fprintf(out,
		"Usage: binmig dump PID -o IMAGE [--key KEYFILE] [--leave-running] [--compress none|zlib[:LEVEL]]\n"
		"                   [--stats csv|json] [--stdio refuse|null|file:PATH]\n"
		"                   [--fd N=null|close|file:PATH|broken]... [--no-tree]\n"
		"\n"
		"Freezes process PID (x86-64, any number of threads, any program the caller may ptrace)\n"
		"with all its descendants, writes their complete state to IMAGE and, once IMAGE is\n"
		"safely on disk (fsync), kills them.  A tree comes back whole: every process with its\n"
		"PID, parent, process group and session, zombies with their exit status, pipes between\n"
		"its processes with their bytes, files shared through fork with one offset.  The\n"
		"image is written to IMAGE.partial and renamed when complete, so a failed dump never\n"
		"leaves a truncated IMAGE; on any failure every process runs on.\n"
		"\n"
		"  -o, --output IMAGE        where to write the image (required)\n"
		"  -k, --key KEYFILE         seal the image with this key (see binmig keygen): encrypted and\n"
		"                            authenticated with AES-256-GCM (ChaCha20-Poly1305 on a CPU\n"
		"                            without AES-NI), as migrate seals its stream, so that it can\n"
		"                            be neither read nor altered without the key; restore and\n"
		"                            inspect then need --key too.  Without it the image is plain\n"
		"      --leave-running       let the process run on after the dump instead of killing it\n"
		"      --compress none|zlib[:LEVEL]\n"
		"                            compress page data with zlib (level 1-9, default 1); runs\n"
		"                            that do not shrink are stored raw.  Default: none\n"
		"      --stats csv|json      print phase timings (suspend, checkpoint) and counters\n"
		"      --stdio refuse|null|file:PATH\n"
		"                            a standard descriptor (0-2) that is a pipe to another\n"
		"                            process, a socket or a terminal: refuse (default), reattach\n"
		"                            it to /dev/null, or reattach stdout/stderr to the end of\n"
		"                            PATH (stdin to /dev/null) in the restored process\n"
		"      --fd N=null|close|file:PATH|broken   (repeatable)\n"
		"                            what descriptor N becomes in the restored process, whatever\n"
		"                            it is (it must exist; it wins over --stdio):\n"
		"                              null    /dev/null, same access mode and fd flags\n"
		"                              close   not open\n"
		"                              file:PATH  PATH: a read-only descriptor reads it from its\n"
		"                                      start (it must exist), a write-only one appends\n"
		"                                      to it, a read-write one does both (created 0644\n"
		"                                      if missing); PATH is opened now, to check it\n"
		"                              broken  a pipe end or a socket whose peer has gone: the\n"
		"                                      same end of a new pipe, or a unix socket pair end\n"
		"                                      of the same type, whose other end is closed (end\n"
		"                                      of file on read, EPIPE on write)\n"
		"                            The other ends of a pipe whose end N is replaced need a\n"
		"                            policy too.  restore reports each replaced descriptor.\n"
		"      --no-tree             dump PID alone, and refuse it (status 4) if it has children\n"
		"\n"
		"Carried: any number of threads, memory, regular files, directories, /dev/null,\n"
		"/dev/zero, /dev/full, /dev/random, /dev/urandom, read ends of named FIFOs, pipes\n"
		"whose ends are all inside the process (with their buffered bytes), eventfds,\n"
		"signalfds, epoll instances with their registrations, timerfds, unlinked files\n"
		"(their contents), unlinked FIFOs, removed directories and a removed cwd, inotify\n"
		"instances with their watches; unix sockets whose peers are all inside the process\n"
		"(pairs, listeners with their accept queue, connections, names, queued messages,\n"
		"shutdowns, options); TCP and UDP sockets (IPv4, IPv6): new, bound, listening with\n"
		"an empty accept queue, connected UDP, and loopback TCP connections with both ends\n"
		"in the process (TCP_REPAIR, root), with their options (see README); alarm() and\n"
		"the interval timers, POSIX timers (same ids).\n"
		"Refused with exit status 4, leaving the process running: unix sockets with\n"
		"descriptors (SCM_RIGHTS) or another process's credentials in flight, an\n"
		"out-of-band byte or a peer outside the process or closed; TCP connections to\n"
		"other processes, queued datagrams, sockets with options binmig does not carry;\n"
		"pipes to other processes, terminals, other descriptors (fanotify, ...) unless --fd\n"
		"or --stdio applies; deleted mapped files, device memory; a POSIX timer on another\n"
		"process's CPU time, or on the CPU time of the thread that created it when there\n"
		"are several.  In a tree also: a stopped or traced descendant, a zombie that dumped\n"
		"core, processes sharing memory (vfork, CLONE_VM, MAP_SHARED anonymous memory), a\n"
		"descriptor table, fs or signal handlers (CLONE_FILES, CLONE_FS, CLONE_SIGHAND), a\n"
		"description of another kind than file, directory, device, pipe, FIFO or eventfd\n"
		"shared between processes, groups or sessions the tree cannot make again.\n\n" EXIT_CODES_HELP);
}

static void usage_restore(FILE *out)
{
	fprintf(out,
		"Usage: binmig restore IMAGE [--key KEYFILE] [--vdso-proxy auto|always|never] [--stats csv|json]\n"
		"\n"
		"Rebuilds the process saved in IMAGE with the same PID, memory, registers, files and\n"
		"signal state, and lets it run detached.  Prints the PID on the first line of stdout.\n"
		"A tree (dump of a process with children) comes back whole, its root in restore's\n"
		"process group and session where it was in ones led from outside the tree, and runs\n"
		"only once every process of it is ready; the root's PID is printed.\n"
		"Fails (status 6) if the PID is in use, or if a mapped file is missing or changed\n"
		"since the dump; a PID held by a zombie about to be reaped is waited for (5 s).\n"
		"Each descriptor that dump replaced (--fd, --stdio) is reported on stderr in one line:\n"
		"what it was, what it is now, and which option did it.\n"
		"On failure no part of the process is left behind.\n"
		"\n"
		"  -k, --key KEYFILE         IMAGE is sealed (dump --key): open it with this key.  An image\n"
		"                            sealed with another key, altered in any byte, cut short or\n"
		"                            lengthened is refused (status 5) before the process runs, and\n"
		"                            so is a plain image.  A sealed image without --key is refused\n"
		"                            (status 2)\n"
		VDSO_PROXY_HELP
		"      --stats csv|json      print phase timings (address-space restore, context\n"
		"                            restore) and counters after the PID\n\n" EXIT_CODES_HELP);
}

static void usage_inspect(FILE *out)
{
	fprintf(out,
		"Usage: binmig inspect [--isa] IMAGE [--key KEYFILE]\n"
		"\n"
		"Checks every section of IMAGE and prints them, the process identity, its memory\n"
		"areas, descriptors, signal handlers, and for each thread its registers, how it\n"
		"stopped (in user code, or in which system call and how that call resumes) and a\n"
		"disassembly of the code around its instruction pointer, the stop marked with =>.\n"
		"\n"
		"  -k, --key KEYFILE         IMAGE is sealed (dump --key): open it with this key, as\n"
		"                            restore does; nothing is printed unless all of it verifies\n"
		"      --isa     instead, the instruction-set analysis of the process's code (as\n"
		"                binmig check prints it): every executable mapping scanned, the\n"
		"                extensions used with counts and an example address and symbol\n\n" EXIT_CODES_HELP);
}

#define ISA_ANALYSIS_HELP                                                                                   \
	"Every executable mapping is disassembled with Capstone: the program and its libraries\n"            \
	"(from their files, through a per-file cache: $BINMIG_ISA_CACHE, default\n"                          \
	"~/.cache/binmig/isa; BINMIG_ISA_CACHE=off disables it) and anonymous executable memory\n"          \
	"such as JIT code (from the process's memory).  The variants of an ifunc (glibc's\n"                 \
	"memcpy, strlen ...) count only when a GOT slot of the process points to them: the one\n"           \
	"the resolver chose is used, the others are listed apart and not counted.  Code for an\n"            \
	"extension this CPU lacks too is behind a run-time check and is not counted either.\n"

static void usage_check(FILE *out)
{
	fprintf(out,
		"Usage: binmig check PID --dest-cpu PROFILE\n"
		"\n"
		"Whether process PID could run on the machine PROFILE describes (binmig cpu-profile\n"
		"there, or this machine's profile edited by hand).  Prints the analysis: code scanned,\n"
		"undecodable bytes, every extension used with its count and an example address and\n"
		"symbol.  Exit status 0 when it can run there; 4 when the code uses an extension the\n"
		"profile lacks (named with its count and an example), or when the profile has no\n"
		"xstate layout or one whose components have other sizes.  Another layout is fine:\n"
		"migrate translates each thread's saved state for it after the freeze, and refuses\n"
		"then (exit 4, the process resumes) a thread that uses a component the profile\n"
		"lacks.  The process is not stopped.\n"
		"\n" ISA_ANALYSIS_HELP "\n"
		"  -d, --dest-cpu PROFILE    the destination's CPU profile (required)\n\n" EXIT_CODES_HELP);
}

static void usage_cpu_profile(FILE *out)
{
	fprintf(out,
		"Usage: binmig cpu-profile\n"
		"\n"
		"Prints this machine's CPU profile: one CPU feature per line, named as in\n"
		"/proc/cpuinfo's flags, then the xstate layout (\"xstate size N\", \"xstate mask 0xM\",\n"
		"\"xstate component I offset O size S\" from CPUID leaf 0xD).  Lines starting with #\n"
		"are comments.  Removing a feature's line describes a CPU without it; profiles of\n"
		"other machines can be compared offline (binmig check --dest-cpu).\n\n" EXIT_CODES_HELP);
}

static void usage_migrate(FILE *out)
{
	fprintf(out,
		"Usage: binmig migrate PID HOST:PORT --key KEYFILE [--mode stream|file|precopy] [--seal SUITE]\n"
		"                      [--compress none|zlib[:LEVEL]] [--stats csv|json] [--workdir DIR]\n"
		"                      [--stdio refuse|null|file:PATH] [--fd N=null|close|file:PATH|broken]...\n"
		"                      [--no-cpu-check] [--precopy-rounds N] [--precopy-threshold PAGES|NMiB]\n"
		"                      [--no-fallback] [--no-tree]\n"
		"\n"
		"Moves process PID, with all its descendants, to the host where `binmig serve` listens on HOST:PORT (Total Copy:\n"
		"suspend, checkpoint, transfer, restore).  Both ends must hold the same key.  The\n"
		"process stays frozen here until the destination reports that it runs there; only\n"
		"then is the original terminated.  On any failure before that the original resumes\n"
		"where it stopped and the message names the phase that failed.\n"
		"\n"
		"  -k, --key KEYFILE         the shared key (see binmig keygen)\n"
		"      --seal auto|aes-256-gcm|chacha20-poly1305|none\n"
		"                            how every frame after the handshake is protected.  auto\n"
		"                            (default): sealed, encrypted and authenticated, with\n"
		"                            AES-256-GCM where this CPU has AES-NI, else ChaCha20-\n"
		"                            Poly1305; a frame altered, dropped, repeated, reordered or\n"
		"                            cut off fails the migration (status 8) and the process\n"
		"                            resumes here.  none: plain frames with CRCs only, readable\n"
		"                            and alterable by anyone on the path, for measurements on a\n"
		"                            trusted link.  serve must say the same (serve --seal); a\n"
		"                            mismatch fails the handshake, and the choice is covered by\n"
		"                            it, so nobody in between can change it\n"
		"      --mode stream|file    stream (default): pages flow to the destination while they\n"
		"                            are read and are restored as they arrive.  file: the study's\n"
		"                            sequence, checkpoint to a file, transfer it, then restore.\n"
		"                            precopy: live migration whose downtime does not grow with\n"
		"                            memory: memory is sent while the process runs (round 1: all\n"
		"                            of it; each next round: the pages written since, found with\n"
		"                            userfaultfd write-protection and PAGEMAP_SCAN), then the\n"
		"                            process is frozen and only the pages written since the last\n"
		"                            round go with the rest of its state, as in stream mode.  On a\n"
		"                            kernel without PAGEMAP_SCAN or userfaultfd WP_ASYNC (Linux\n"
		"                            6.7+), or for a process that cannot be tracked, it says so\n"
		"                            on stderr and migrates in stream mode\n"
		"      --precopy-rounds N    at most N rounds while the process runs (1..%d, default %d)\n"
		"      --precopy-threshold PAGES|NMiB\n"
		"                            stop the rounds once fewer pages than this were written\n"
		"                            during the last one (default %d pages, 1 MiB); they also stop\n"
		"                            when the written set no longer shrinks (a writer faster than\n"
		"                            the link)\n"
		"      --no-fallback         precopy: refuse (status 4, the process runs on untouched)\n"
		"                            instead of falling back to stream mode\n"
		"      --compress none|zlib[:LEVEL]   as for dump (default none)\n"
		"      --stats csv|json      print every phase (suspend, checkpoint, transfer, address-\n"
		"                            space and context restore), downtime, total, counters and\n"
		"                            the seal used (column seal: aes-256-gcm, chacha20-poly1305\n"
		"                            or none); precopy adds precopy_rounds, precopy_pages,\n"
		"                            precopy_bytes, precopy_final_pages, dirty_pages_per_s and\n"
		"                            precopy_round_pages_bytes_us (per round pages/bytes/us)\n"
		"      --workdir DIR         file mode: where the image file is written (default /tmp)\n"
		"      --stdio refuse|null|file:PATH, --fd N=null|close|file:PATH|broken\n"
		"                            as for dump (see binmig dump --help): what a descriptor\n"
		"                            that cannot be carried becomes at the destination, whose\n"
		"                            daemon logs each one replaced; PATH must be the same file\n"
		"                            on both hosts\n"
		"      --no-cpu-check        do not judge the process's code against the destination's CPU\n"
		"      --no-tree             migrate PID alone, and refuse it (status 4) if it has children\n"
		"\n"
		"Before the process is frozen, the destination reports its CPU profile (see binmig\n"
		"cpu-profile) and the process's code is analysed as binmig check does: if it uses an\n"
		"extension the destination lacks, or the xstate layouts differ, migrate refuses with\n"
		"status 4, naming the extension, the count and an example address and symbol; the\n"
		"process is not touched.\n"
		"\n" EXIT_CODES_HELP, BM_PRECOPY_MAX_ROUNDS, BM_PRECOPY_DEFAULT_ROUNDS, BM_PRECOPY_DEFAULT_THRESHOLD);
}

static void usage_serve(FILE *out)
{
	fprintf(out,
		"Usage: binmig serve --listen ADDR:PORT --key KEYFILE [--seal SUITE] [--workdir DIR]\n"
		"                    [--io-timeout SECONDS] [--handshake-timeout SECONDS] [--cpu-profile PROFILE]\n"
		"                    [--vdso-proxy auto|always|never] [--precopy-store-max MIB]\n"
		"\n"
		"The destination daemon.  Listens only on ADDR:PORT, accepts peers that prove they hold\n"
		"the key (others are dropped before any image byte is read), restores each migrating\n"
		"process and reports back.  Logs one line per migration on stderr.\n"
		"\n"
		"Strangers cannot keep peers out: the handshakes of all connections run at once, each\n"
		"within --handshake-timeout of its accept; at most %d wait at a time, %d from one\n"
		"source address, and a newcomer beyond a bound takes the place of the connection that\n"
		"has shown least (no HELLO yet, oldest first).  Drops are logged, at most %d lines per\n"
		"%d s.  One migration at a time: a peer that proves the key while one runs is refused\n"
		"with a \"busy\" error; a migration whose peer sends or takes nothing for --io-timeout\n"
		"ends and frees the daemon.\n"
		"\n"
		"It reaps whatever becomes its child (it is a child subreaper): the processes it restored,\n"
		"once they end, and orphans, so it can run as PID 1 of a PID namespace or container.\n"
		"SIGTERM or SIGINT stop it after the migration under way.\n"
		"\n"
		"  -l, --listen ADDR:PORT    where to listen (required; e.g. 10.77.0.2:7707, [::1]:7707)\n"
		"  -k, --key KEYFILE         the shared key (see binmig keygen)\n"
		"      --seal auto|aes-256-gcm|chacha20-poly1305|none\n"
		"                            what a source may ask for (migrate --seal): auto (default)\n"
		"                            takes sealed connections, either AEAD; a suite's name takes\n"
		"                            only that one; none takes only unsealed ones (a trusted link,\n"
		"                            measurements).  Any other request fails its handshake with\n"
		"                            a message saying why\n"
		"      --workdir DIR         file mode: where received images wait (default /tmp)\n"
		"      --io-timeout SECONDS  longest wait for an authenticated peer (default %d)\n"
		"      --handshake-timeout SECONDS\n"
		"                            time a connection has, from its accept, to prove the key\n"
		"                            (default %d)\n"
		"      --cpu-profile PROFILE the CPU profile reported to each source, which checks its\n"
		"                            process against it before freezing (default: this machine's,\n"
		"                            as binmig cpu-profile prints it; a file declares less, e.g.\n"
		"                            what every machine of a pool has)\n"
		VDSO_PROXY_HELP
		"      --precopy-store-max MIB\n"
		"                            at most this much memory for the pages a pre-copy sends\n"
		"                            before the freeze (default: the machine's RAM); a source\n"
		"                            that sends more fails its migration, its process runs on\n\n" EXIT_CODES_HELP,
		BM_GATE_MAX_PENDING, BM_GATE_MAX_PER_SOURCE, BM_SERVE_DROP_LINES, BM_SERVE_DROP_WINDOW_S,
		BM_IO_TIMEOUT_MS / 1000, BM_GATE_DEADLINE_MS / 1000);
}

static void usage_keygen(FILE *out)
{
	fprintf(out,
		"Usage: binmig keygen KEYFILE\n"
		"\n"
		"Writes a new random 256-bit key to KEYFILE (mode 0600; an existing file is never\n"
		"overwritten).  Copy it to both hosts; binmig refuses a key file that group or others\n"
		"may read.\n\n" EXIT_CODES_HELP);
}

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

/* Everything after the command line: an exit status. */
static int dump(pid_t pid, const char *output, bool leave_running, int level, const uint8_t *key,
		enum bm_stats_format fmt, const struct bm_fd_policy *policy)
{
	struct bm_stats st;
	bm_stats_init(&st);
	uint64_t t0 = bm_now_us();
	struct bm_frozen f;
	if (bm_freeze(pid, &f, policy, &st) < 0)
		return bm_exit_code();

	char partial[PATH_MAX];
	snprintf(partial, sizeof partial, "%s.partial", output);
	int fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;
	if (fd < 0) {
		rc = bm_error_errno(BM_EXIT_IO, errno, "cannot create %s", partial);
	} else {
		rc = write_image(&f, &fd, level, key, &st);
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
	int rrc = bm_release(&f, rc == 0 && !leave_running);
	if (rc < 0 || rrc < 0)
		return bm_exit_code();
	st.total_us = (int64_t)(bm_now_us() - t0);
	st.pid = pid;
	bm_stats_print(stdout, &st, fmt);
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
		case 'h': usage_dump(stdout); rc = 0; break;
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
	if (rc < 0)
		rc = dump(pid, output, leave_running, level, keyfile ? key : NULL, fmt, &policy);
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

static int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{"stats", required_argument, 0, 's'}, {"key", required_argument, 0, 'k'},
		{"vdso-proxy", required_argument, 0, 'V'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
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
			if (set_vdso_mode(optarg) != 0)
				return BM_EXIT_USAGE;
			break;
		case 'h': usage_restore(stdout); return 0;
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
		case 'h': usage_inspect(stdout); return 0;
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
		{"no-tree", no_argument, 0, OPT_NO_TREE},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
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
			else
				rc = usage_error("bad --mode value '%s' (stream, file or precopy)", optarg);
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
		case 'w': o.workdir = optarg; break;
		case 'N': o.skip_cpu_check = true; break;
		case 'e':
			if (bm_seal_parse(optarg, &o.seal, &accept) < 0)
				rc = usage_error("bad --seal value '%s' (auto, aes-256-gcm, chacha20-poly1305 or none)", optarg);
			break;
		case 'h': usage_migrate(stdout); rc = 0; break;
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
		{"precopy-store-max", required_argument, 0, 'P'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
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
			if (set_vdso_mode(optarg) != 0)
				return BM_EXIT_USAGE;
			break;
		case 'h': usage_serve(stdout); return 0;
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
	int rc = only_help_option(argc, argv, "keygen", usage_keygen);
	if (rc >= 0)
		return rc;
	if (optind != argc - 1)
		return usage_error("%s", "keygen takes exactly one KEYFILE");
	return bm_keygen(argv[optind]) < 0 ? bm_exit_code() : 0;
}

static int cmd_cpu_profile(int argc, char **argv)
{
	int rc = only_help_option(argc, argv, "cpu-profile", usage_cpu_profile);
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
		case 'h': usage_check(stdout); return 0;
		default: return bad_option("check", argv);
		}
	}
	pid_t pid;
	int rc = pid_argument(argc, argv, 1, "check takes exactly one PID", &pid);
	if (rc >= 0)
		return rc;
	if (!profile)
		return usage_error("%s", "check needs --dest-cpu PROFILE");
	struct bm_cpu_profile *dest = malloc(sizeof *dest);
	if (!dest)
		return bm_error(BM_EXIT_FAILURE, "out of memory"), bm_exit_code();
	struct bm_isa_report report;
	rc = bm_cpu_profile_load(profile, dest);
	if (rc == 0)
		rc = bm_isa_check(pid, dest, stdout, &report);
	free(dest);
	return rc < 0 ? bm_exit_code() : 0;
}

static int cmd_fault_points(int argc, char **argv)
{
	int rc = only_help_option(argc, argv, "fault-points", usage_fault_points);
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
	{"dump", cmd_dump, usage_dump},
	{"restore", cmd_restore, usage_restore},
	{"inspect", cmd_inspect, usage_inspect},
	{"check", cmd_check, usage_check},
	{"cpu-profile", cmd_cpu_profile, usage_cpu_profile},
	{"migrate", cmd_migrate, usage_migrate},
	{"serve", cmd_serve, usage_serve},
	{"keygen", cmd_keygen, usage_keygen},
	{"fault-points", cmd_fault_points, usage_fault_points},
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
			usage_main(stdout);
			return 0;
		} else
			return usage_error("unknown option '%s'", argv[i]);
	}
	if (i == argc) {
		usage_main(stderr);
		return BM_EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		const struct command *cmd = i + 1 < argc ? find_command(argv[i + 1]) : NULL;
		if (cmd)
			cmd->usage(stdout);
		else
			usage_main(stdout);
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
	return cmd->run(argc - i, argv + i);
}
