/* binmig's --help texts, one per command (binmig.c parses the options and
 * calls these). */
#include "binmig_usage.h"

#include "fault.h"
#include "migrate.h"
#include "serve_gate.h"

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
	"                            (status 6); always uses the copy even when they are the same\n" \
	"      --cgroup same|here    same (default): the process enters the cgroups it was in, by\n"  \
	"                            path in each hierarchy, before it maps its memory; a path or\n"  \
	"                            hierarchy this host lacks fails the restore (status 6).  here:\n" \
	"                            it stays in binmig's own cgroups (said in one line)\n"

void bm_usage_main(FILE *out)
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

void bm_usage_fault_points(FILE *out)
{
	fprintf(out,
		"Usage: binmig fault-points\n"
		"\n"
		"Lists the numbered steps of dump, migrate (both sides) and restore where the process,\n"
		"the network or the disk can fail, one per line: number, name, what fails.  A binmig\n"
		"built with fault injection (make test-build) fails the step named by BINMIG_FAULT\n"
		"(POINT, POINT:N for its N-th pass; POINT/crash kills binmig there instead, as a crash).\n"
		"The last line says whether this binmig is such a build.\n\n" EXIT_CODES_HELP);
}

void bm_usage_dump(FILE *out)
{
	fprintf(out,
		"Usage: binmig dump PID -o IMAGE [--key KEYFILE] [--leave-running] [--compress none|zlib[:LEVEL]]\n"
		"                   [--stats csv|json] [--stdio refuse|null|file:PATH]\n"
		"                   [--fd N=null|close|file:PATH|broken]... [--no-tree]\n"
		"\n"
		"Freezes process PID (x86-64, any number of threads, any program the caller may ptrace)\n"
		"with all its descendants, writes their complete state to IMAGE and, once IMAGE is\n"
		"safely on disk (fsync), kills them.  A tree comes back whole: every process with its\n"
		"PID, parent, process group and session (one whose leader has exited too), the\n"
		"signal its exit sends its parent, zombies with their exit status and credentials,\n"
		"pipes between its processes with their bytes, files shared through fork with one\n"
		"offset.  The\n"
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
		"(contents, times, extended attributes, chattr flags, reserved space) and their\n"
		"mappings, with or without a descriptor, memfds (name, contents, seals, the same),\n"
		"held or only mapped, unlinked FIFOs, removed directories and a removed cwd,\n"
		"inotify instances with their watches; unix sockets whose peers are\n"
		"all inside the process (pairs, listeners with their accept queue, connections,\n"
		"names, queued messages, shutdowns, options); TCP and UDP sockets (IPv4, IPv6):\n"
		"new, bound, listening with an empty accept queue, connected UDP, UDP with queued\n"
		"datagrams (from their senders' addresses again), and loopback TCP\n"
		"connections with both ends in the process (TCP_REPAIR, root), with their options\n"
		"(see README); signal-driven I/O (O_ASYNC, F_SETOWN, F_SETSIG) whose owner moves\n"
		"too; alarm() and the interval timers, POSIX timers (same ids), and the next\n"
		"timer id and inotify watch numbers, read through BPF (root, a kernel with BTF;\n"
		"elsewhere dump warns and they follow the newest timer and watch).\n"
		"Refused with exit status 4, leaving the process running: unix sockets with\n"
		"descriptors (SCM_RIGHTS) or another process's credentials in flight, an\n"
		"out-of-band byte or a peer outside the process or closed; TCP connections to\n"
		"other processes, an empty datagram queued behind others (or at the head, never\n"
		"peeked), sockets with options binmig does not carry; more than 64 supplementary\n"
		"groups, of the process or of whoever opened one of its files;\n"
		"pipes to other processes, terminals, other descriptors (fanotify, ...) unless --fd\n"
		"or --stdio applies; an owner of a descriptor's signals (F_SETOWN) outside, O_ASYNC\n"
		"on a FIFO, dnotify; memfds on huge pages or sealed against the writes of a shared\n"
		"mapping; shared anonymous memory another process maps too, device memory; a POSIX\n"
		"timer on another process's CPU time, or on the CPU time of the thread that created\n"
		"it when there are several; anything a process shares with a parent that is not\n"
		"moved with it (a vfork child, CLONE_VM, CLONE_FILES, CLONE_FS); a stopped process;\n"
		"seccomp, a Landlock domain, thread or process keyrings or a session keyring\n"
		"holding keys, a registered io_uring, syscall user dispatch, a pending SIGTRAP,\n"
		"AMX tile data in use,\n"
		"protection keys, guard regions in shared or locked memory, huge-page memory,\n"
		"userfaultfd registrations; a thread with its own credentials, fs or descriptor table.\n"
		"docs/process-state.md lists every refusal.  In a tree also: a traced descendant,\n"
		"a stop the destination would continue, a\n"
		"zombie that dumped core, has more than 64 groups or a user namespace of its own,\n"
		"processes sharing memory (CLONE_VM; MAP_SHARED\n"
		"anonymous memory is carried, one object again) or signal handlers\n"
		"(CLONE_SIGHAND), a descriptor table or fs (CLONE_FILES, CLONE_FS) shared other\n"
		"than from a parent to its children (carried), a vfork child that neither runs\n"
		"a program nor exits within 5 s (its parent cannot be stopped until then; the\n"
		"freeze waits for it), a child asking for a parent-death\n"
		"signal whose parent has several threads (or is the root), a description of\n"
		"another kind than file, unlinked file or memfd, directory, device, pipe, FIFO or\n"
		"eventfd shared between processes, an unlinked file or memfd reached through\n"
		"separate descriptions, groups or sessions the tree cannot make again.\n\n" EXIT_CODES_HELP);
}

void bm_usage_restore(FILE *out)
{
	fprintf(out,
		"Usage: binmig restore IMAGE [--key KEYFILE] [--vdso-proxy auto|always|never] [--cgroup same|here]\n"
		"                      [--stats csv|json]\n"
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

void bm_usage_inspect(FILE *out)
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

void bm_usage_check(FILE *out)
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

void bm_usage_cpu_profile(FILE *out)
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

void bm_usage_migrate(FILE *out)
{
	fprintf(out,
		"Usage: binmig migrate PID HOST:PORT --key KEYFILE [--mode stream|file|precopy|postcopy|hybrid] [--seal SUITE]\n"
		"                      [--compress none|zlib[:LEVEL]] [--stats csv|json] [--workdir DIR]\n"
		"                      [--stdio refuse|null|file:PATH] [--fd N=null|close|file:PATH|broken]...\n"
		"                      [--no-cpu-check] [--precopy-rounds N] [--precopy-threshold PAGES|NMiB]\n"
		"                      [--no-fallback] [--no-tree] [--no-prefault] [--move-addr ADDR]...\n"
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
		"      --mode MODE           stream (default): pages flow to the destination while they\n"
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
		"                            on stderr and migrates in stream mode.\n"
		"                            postcopy: the process is frozen, sent without its private\n"
		"                            writable anonymous memory and let run at the destination at\n"
		"                            once; those pages follow, a page a thread waits for first\n"
		"                            (userfaultfd at the destination).  The original stays frozen\n"
		"                            here until every page has arrived.  The risk: once the\n"
		"                            process runs there, losing this host, binmig or the link\n"
		"                            before the last page loses the process (the destination\n"
		"                            kills its copy, this one is terminated; migrate says so and\n"
		"                            exits non-zero).  A process with children, or a kernel\n"
		"                            without PAGEMAP_SCAN, goes in stream mode (said on stderr).\n"
		"                            hybrid: one pre-copy round while the process runs, then\n"
		"                            post-copy for the pages written since and the rest; the\n"
		"                            destination keeps the round's pages in place (falls back\n"
		"                            as precopy does)\n"
		"      --precopy-rounds N    at most N rounds while the process runs (1..%d, default %d)\n"
		"      --precopy-threshold PAGES|NMiB\n"
		"                            stop the rounds once fewer pages than this were written\n"
		"                            during the last one (default %d pages, 1 MiB); they also stop\n"
		"                            when the written set no longer shrinks (a writer faster than\n"
		"                            the link)\n"
		"      --no-fallback         precopy, postcopy, hybrid: refuse (status 4, the process runs on\n"
		"                            untouched) instead of falling back to stream mode\n"
		"      --no-prefault         stream, file: no memory plan.  By default, before the freeze, the\n"
		"                            destination maps the process's private writable anonymous\n"
		"                            memory at its addresses and faults in the pages the process\n"
		"                            has, so that the restore does not fault them in during the\n"
		"                            downtime (memory a host has not touched lately is slow to\n"
		"                            fault in); that time counts in the total, not the downtime\n"
		"      --compress none|zlib[:LEVEL]   as for dump (default none)\n"
		"      --stats csv|json      print every phase (suspend, checkpoint, transfer, address-\n"
		"                            space and context restore), downtime, total, the CPU check\n"
		"                            (cpu_check_us, unless --no-cpu-check), counters and\n"
		"                            the seal used (column seal: aes-256-gcm, chacha20-poly1305\n"
		"                            or none); precopy adds precopy_rounds, precopy_pages,\n"
		"                            precopy_bytes, precopy_final_pages, dirty_pages_per_s and\n"
		"                            precopy_round_pages_bytes_us (per round pages/bytes/us);\n"
		"                            postcopy adds postcopy_pages, postcopy_bytes, postcopy_us\n"
		"                            (from running there to the last page), postcopy_remote_faults\n"
		"                            (faults that waited for this host) and their latency,\n"
		"                            postcopy_fault_p50_us, _p90_us, _p99_us and _max_us\n"
		"      --workdir DIR         file mode: where the image file is written (default /tmp)\n"
		"      --stdio refuse|null|file:PATH, --fd N=null|close|file:PATH|broken\n"
		"                            as for dump (see binmig dump --help): what a descriptor\n"
		"                            that cannot be carried becomes at the destination, whose\n"
		"                            daemon logs each one replaced; PATH must be the same file\n"
		"                            on both hosts\n"
		"      --no-cpu-check        do not judge the process's code against the destination's CPU\n"
		"      --no-tree             migrate PID alone, and refuse it (status 4) if it has children\n"
		"      --move-addr ADDR      this IPv4 or IPv6 address of this host (not link-local) moves\n"
		"                            with the process, so that its TCP connections to peers\n"
		"                            outside it, whose local address it is, are carried (without\n"
		"                            it they are refused, status 4).  Once the process is frozen\n"
		"                            the address leaves this host's interface; the destination,\n"
		"                            which must allow it (serve --movable, else status 6 before\n"
		"                            the freeze), adds and announces it before it rebuilds the\n"
		"                            connections.  On a failure it comes back here (an IPv6 one\n"
		"                            without duplicate address detection) and is announced again\n"
		"                            before the process resumes.  Repeatable (at most 16, IPv4\n"
		"                            and IPv6 mixed)\n"
		"\n"
		"Before the process is frozen, the destination reports its CPU profile (see binmig\n"
		"cpu-profile) and the process's code is analysed as binmig check does: if it uses an\n"
		"extension the destination lacks, or the xstate layouts differ, migrate refuses with\n"
		"status 4, naming the extension, the count and an example address and symbol; the\n"
		"process is not touched.\n"
		"\n" EXIT_CODES_HELP, BM_PRECOPY_MAX_ROUNDS, BM_PRECOPY_DEFAULT_ROUNDS, BM_PRECOPY_DEFAULT_THRESHOLD);
}

void bm_usage_serve(FILE *out)
{
	fprintf(out,
		"Usage: binmig serve --listen ADDR:PORT --key KEYFILE [--seal SUITE] [--workdir DIR]\n"
		"                    [--io-timeout SECONDS] [--handshake-timeout SECONDS] [--cpu-profile PROFILE]\n"
		"                    [--vdso-proxy auto|always|never] [--cgroup same|here] [--precopy-store-max MIB]\n"
		"                    [--movable ADDR[/PREFIX]]...\n"
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
		"                            before the freeze, or a stream migration's memory plan\n"
		"                            faults in (default: the machine's RAM); a pre-copy source\n"
		"                            that sends more fails its migration, its process runs on;\n"
		"                            a plan beyond it leaves the rest to the restore\n"
		"      --movable ADDR[/PREFIX]\n"
		"                            the IPv4 or IPv6 addresses a process may bring with it\n"
		"                            (migrate --move-addr): one that lies in such a range, that\n"
		"                            this host does not have, in the subnet of one of its\n"
		"                            interfaces, is added there (as /32, or /128 without duplicate\n"
		"                            address detection) and announced (a gratuitous ARP, or an\n"
		"                            unsolicited Neighbour Advertisement to ff02::1) when the\n"
		"                            restore reaches the process's sockets, and removed again if\n"
		"                            the restore fails; any other is refused before the source\n"
		"                            freezes its process.  Repeatable (at most 16, either family)\n\n" EXIT_CODES_HELP,
		BM_GATE_MAX_PENDING, BM_GATE_MAX_PER_SOURCE, BM_SERVE_DROP_LINES, BM_SERVE_DROP_WINDOW_S,
		BM_IO_TIMEOUT_MS / 1000, BM_GATE_DEADLINE_MS / 1000);
}

void bm_usage_keygen(FILE *out)
{
	fprintf(out,
		"Usage: binmig keygen KEYFILE\n"
		"\n"
		"Writes a new random 256-bit key to KEYFILE (mode 0600; an existing file is never\n"
		"overwritten).  Copy it to both hosts; binmig refuses a key file that group or others\n"
		"may read.\n\n" EXIT_CODES_HELP);
}
