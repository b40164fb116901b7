# binmig: build, test, bench.  `make` builds everything into build/,
# `make test` builds an ASan/UBSan variant into build/asan/ and runs the
# unit and end-to-end tests.

CC ?= gcc
MCS ?= mcs
BUILD ?= build
WARN := -Wall -Wextra -Werror -Wno-missing-field-initializers
CFLAGS_BASE := -std=gnu11 -D_GNU_SOURCE -g $(WARN) -Imigrator
OPT ?= -O2
CFLAGS ?= $(OPT)
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS := -lcapstone -lz -lcrypto -lbpf

LIB_SRCS := $(filter-out migrator/binmig.c,$(wildcard migrator/*.c))
LIB_OBJS := $(patsubst migrator/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
E2E_PROG_SRCS := $(wildcard tests/progs/*.c)
E2E_PROGS := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(E2E_PROG_SRCS))
# Static builds of some of them (tests/e2e/static.sh).
E2E_PROGS += $(BUILD)/progs/heap-static $(BUILD)/progs/misc-static
# CLR test programs (run with mono).
E2E_PROGS += $(patsubst tests/progs/%.cs,$(BUILD)/progs/%.exe,$(wildcard tests/progs/*.cs))
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))

SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all binmig workloads deps test unit-test e2e-test bench clean thesis
all: binmig workloads $(BUILD)/harness-analyze

binmig: $(BUILD)/binmig

# Objects are rebuilt when the flags they were compiled with change.
$(BUILD)/cflags: FORCE
	@mkdir -p $(dir $@)
	@echo '$(ALL_CFLAGS)' | cmp -s - $@ || echo '$(ALL_CFLAGS)' >$@
.PHONY: FORCE

$(BUILD)/obj/%.o: migrator/%.c $(wildcard migrator/*.h) $(BUILD)/cflags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The BPF programs binmig loads (migrator/kstate.h), compiled by clang for
# the BPF target (with BTF, which libbpf relocates against the running
# kernel's) and carried in the library's read-only data.
BPF_CC ?= clang
$(BUILD)/bpf/kstate.bpf.o: migrator/bpf/kstate.bpf.c $(wildcard migrator/bpf/*.h)
	@mkdir -p $(dir $@)
	$(BPF_CC) -O2 -g -target bpf -Wall -Werror -Imigrator/bpf -c -o $@ $<

$(BUILD)/obj/kstate_obj.o: migrator/bpf/kstate_obj.S $(BUILD)/bpf/kstate.bpf.o
	@mkdir -p $(dir $@)
	$(CC) -c -DKSTATE_BPF_OBJ='"$(BUILD)/bpf/kstate.bpf.o"' -o $@ $<

LIB_OBJS += $(BUILD)/obj/kstate_obj.o

$(BUILD)/libbinmig.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/binmig: $(BUILD)/obj/binmig.o $(BUILD)/libbinmig.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# The unit tests' shared helpers (tests/unit/*.h) are prerequisites, not inputs.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libbinmig.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter-out %.h,$^) $(LDLIBS) -lcmocka

# The harness's analysis side (harness/analyze/): a library that its unit
# tests (tests/unit/test_harness_*.c) link against instead of binmig's, and
# the harness-analyze command.
ANALYZE_SRCS := $(filter-out harness/analyze/main.c,$(wildcard harness/analyze/*.c))
ANALYZE_OBJS := $(patsubst harness/analyze/%.c,$(BUILD)/obj/analyze/%.o,$(ANALYZE_SRCS))

$(BUILD)/obj/analyze/%.o: harness/analyze/%.c $(wildcard harness/analyze/*.h) $(BUILD)/cflags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libharness.a: $(ANALYZE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/harness-analyze: $(BUILD)/obj/analyze/main.o $(BUILD)/libharness.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ -lm

$(BUILD)/tests/test_harness_%: tests/unit/test_harness_%.c $(BUILD)/libharness.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ -lcmocka -lm

# Test programs are built without sanitizers: they are the targets that get
# migrated, and must be ordinary processes.
$(BUILD)/progs/%: tests/progs/%.c $(wildcard tests/progs/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g $(WARN) -mavx2 -o $@ $< -lpthread

$(BUILD)/progs/%-static: tests/progs/%.c $(wildcard tests/progs/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g $(WARN) -static -o $@ $< -lpthread

$(BUILD)/progs/%.exe: tests/progs/%.cs
	@mkdir -p $(dir $@)
	$(MCS) -nologo -optimize+ -warnaserror+ -target:exe -out:$@ $<

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -g $(WARN) -o $@ $<

workloads:
	$(MAKE) -C workloads

# Debian packages the build, the tests and the harness need.  Idempotent and
# quick when everything is present.
DEB_PKGS := build-essential pkg-config libcapstone-dev zlib1g-dev libssl-dev libcmocka-dev clang libbpf-dev \
	gnuplot-nox mono-runtime mono-mcs iproute2 procps openssh-server openssh-client python3 redis-server redis-tools \
	nftables
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "dependencies present"; fi

# The fuzz targets (tests/fuzz/README.md), one per decoder of untrusted
# bytes.  Each is built twice: with libFuzzer by clang for `make fuzz`
# (into $(BUILD)/fuzz/fuzzers/), and with replay.c by the test build
# (into $(ASAN_BUILD)/replay/), which tests/e2e/fuzz-corpus.sh runs on the
# committed corpus.  Both rules run in a sub-make whose BUILD is that
# build's directory.
FUZZ_ALL := $(patsubst tests/fuzz/fuzz_%.c,%,$(filter-out tests/fuzz/fuzz_common.c,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_DEPS = tests/fuzz/fuzz_common.c tests/fuzz/fuzz.h $(BUILD)/libbinmig.a $(BUILD)/libharness.a
FUZZ_LDLIBS := $(LDLIBS) -lm -lpthread

$(BUILD)/fuzzers/%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $(filter %.c,$^) $(filter %.a,$^) $(FUZZ_LDLIBS)

$(BUILD)/replay/%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.c,$^) $(filter %.a,$^) $(FUZZ_LDLIBS)

# The test build: binmig, harness-analyze, the unit tests and the corpus
# replays with ASan and UBSan, and binmig's fault points armed by
# BINMIG_FAULT (migrator/fault.h).
# Its two sub-makes run a job per CPU, unless make was given -j.
ASAN_BUILD := $(BUILD)/asan
JOBS ?= $(shell nproc)
TEST_BUILD_JOBS = $(if $(findstring -j,$(MAKEFLAGS)),,-j$(JOBS))
test-build:
	$(MAKE) $(TEST_BUILD_JOBS) BUILD=$(ASAN_BUILD) EXTRA_CFLAGS="$(SAN) -DBM_FAULT_INJECTION" OPT=-O1 $(ASAN_BUILD)/binmig \
		$(ASAN_BUILD)/harness-analyze $(patsubst $(BUILD)/%,$(ASAN_BUILD)/%,$(UNIT_BINS)) \
		$(patsubst %,$(ASAN_BUILD)/replay/%,$(FUZZ_ALL))
	$(MAKE) $(TEST_BUILD_JOBS) $(E2E_PROGS) $(TOOLS) workloads $(BUILD)/harness-analyze

test: test-build
	BINMIG=$(ASAN_BUILD)/binmig BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) tests/run-tests

# The AEADs' own throughput through seal.c (tests/bench/sealbench.c).
$(BUILD)/bench/sealbench: tests/bench/sealbench.c $(BUILD)/libbinmig.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

bench: all $(E2E_PROGS) $(TOOLS) $(BUILD)/bench/sealbench
	BINMIG=$(BUILD)/binmig BUILD=$(BUILD) tests/bench/run-bench && BINMIG=$(BUILD)/binmig BUILD=$(BUILD) tests/bench/run-bench-migrate && BINMIG=$(BUILD)/binmig BUILD=$(BUILD) tests/bench/run-bench-threads && BINMIG=$(BUILD)/binmig tests/bench/run-bench-isa && BINMIG=$(BUILD)/binmig BUILD=$(BUILD) tests/bench/run-bench-precopy && BINMIG=$(BUILD)/binmig BUILD=$(BUILD) tests/bench/run-bench-coldmem && BINMIG=$(BUILD)/binmig BUILD=$(BUILD) tests/bench/run-bench-tree

# Fuzzing with libFuzzer: FUZZ_SECONDS per target (one process each), new
# inputs into $(BUILD)/fuzz/corpus/TARGET/, crashes kept in
# $(BUILD)/fuzz/crashes/TARGET/; fails if any target crashed.
# `make fuzz-merge` adds the new inputs that cover more to the committed
# corpus.  Installs clang and its fuzzer runtime if missing.
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SECONDS ?= 60
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
.PHONY: fuzz fuzz-merge fuzz-build fuzz-deps
fuzz-deps:
	@if command -v clang >/dev/null && [ -f "$$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; then \
		echo "clang and libFuzzer present"; \
	else \
		echo "installing: clang libclang-rt-dev"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang libclang-rt-dev; \
	fi

fuzz-build: fuzz-deps
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang OPT=-O1 EXTRA_CFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
		$(patsubst %,$(FUZZ_BUILD)/fuzzers/%,$(FUZZ_TARGETS))

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run-fuzz --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-merge: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run-fuzz --merge $(FUZZ_TARGETS)

# The full runs below take longer than the time limit each script gives
# itself for make test (its "test-timeout" line): they run with this one.
FULL_TIMEOUT ?= 5400

# The whole fault walk (tests/e2e/fault-walk.sh, and fault-walk-local.sh
# as in make test): every fault point of a migration armed in every place
# it lies on, where make test arms each in one of them.  About 3 minutes
# on 2 cores (163 s).
.PHONY: fault-walk
fault-walk: test-build
	TEST_TIMEOUT=$(FULL_TIMEOUT) FAULT_WALK=full BINMIG=$(ASAN_BUILD)/binmig BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) tests/run-tests e2e/fault-walk

# The whole injection sweep (tests/e2e/inject-sweep.sh): each system call
# that dump and restore run inside eight programs made to fail in turn,
# where make test sweeps two of them, and a SIGSTOP sent as each call of
# each dump starts.  About 25 minutes on 2 cores (1411 s, with other
# work beside it).
.PHONY: inject-sweep
inject-sweep: test-build
	TEST_TIMEOUT=$(FULL_TIMEOUT) INJECT_SWEEP=full BINMIG=$(ASAN_BUILD)/binmig BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) tests/run-tests e2e/inject-sweep

# The whole injection sweep of a live migration (tests/e2e/migrate-sweep.sh):
# each system call injected on either side of `binmig migrate` between the
# emulated hosts, in four programs, made to fail in turn, where make test
# sweeps one of them at every sixth call and around the point of no return.
# About 6 minutes on 2 cores (378 s).
.PHONY: migrate-sweep
migrate-sweep: test-build
	TEST_TIMEOUT=$(FULL_TIMEOUT) MIGRATE_SWEEP=full BINMIG=$(ASAN_BUILD)/binmig BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) tests/run-tests e2e/migrate-sweep

# The soak run (tests/soak/soak.sh): SOAK_MIGRATIONS (default 500)
# migrations of native and CLR workloads with random faults and daemon
# kills; prints what happened and fails if a process was lost, duplicated
# or gave a wrong answer.  tests/e2e/soak-smoke.sh runs a short one.
SOAK_MIGRATIONS ?= 500
.PHONY: soak
soak: test-build
	BINMIG=$(ASAN_BUILD)/binmig BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) BINMIG_ROOT=$(CURDIR) \
		tests/soak/soak.sh --migrations $(SOAK_MIGRATIONS)

clean:
	rm -rf $(BUILD)
	$(MAKE) -C workloads clean

# The study's reproduction (docs/harness-run.md), as root on Debian 12:
# dependencies, build, the experiment of harness/plans/thesis.plan on
# emulated hosts that it brings up and down, then summary, figures and
# report in results/thesis-TIME/.  Under 15 minutes on 2 cores;
# thesis-full runs harness/plans/thesis-full.plan (about an hour).
# Exits non-zero if any migration or workload run failed (the results are
# kept, with the reasons).  THESIS_ARGS go to harness run (for instance
# "--key KEYFILE" when the emulated hosts are up already).
THESIS_ARGS ?=
.PHONY: thesis thesis-full
thesis thesis-full:
	@$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all $(BUILD)/tools/waitfor $(BUILD)/tools/pidwait $(BUILD)/tools/benchfloor
	@out=results/$@-$$(date -u +%Y%m%dT%H%M%SZ); rc=0; \
	BUILD=$(BUILD) harness/harness run --plan harness/plans/$@.plan --out $$out $(THESIS_ARGS) || rc=$$?; \
	if [ -s $$out/migrations.csv ]; then \
		BUILD=$(BUILD) harness/harness plot $$out/migrations.csv --mode file || { [ $$rc -ne 0 ] || rc=1; }; \
		BUILD=$(BUILD) harness/harness report $$out/migrations.csv --mode file || { [ $$rc -ne 0 ] || rc=1; }; \
	fi; \
	echo; echo "$@: the reproduction is in $$out/"; \
	for f in migrations.csv summary.csv report.md figures meta.txt logs; do \
		[ -e $$out/$$f ] && printf '  %-16s %s\n' "$$f" "$$out/$$f"; \
	done; \
	[ $$rc -eq 0 ] || echo "$@: FAILED (exit $$rc): see the failures above and the reason column of $$out/migrations.csv"; \
	exit $$rc

# The modes figure (issue 13; harness/figure-modes, docs/harness-run.md):
# downtime and total time against memory size for each live migration
# mode and dirty rate, on emulated hosts it brings up and down itself.
# FIG_SIZES in MiB, FIG_RATES in thousandths of the pages per second,
# FIG_REPS recorded and FIG_WARMUP unrecorded migrations per size, rate and
# mode, FIG_MODES (default: the live modes binmig offers), FIG_OUT (default
# results/figure-modes-TIME); FIG_ARGS go to the script (e.g. --append, to
# add a piece to FIG_OUT's CSV).  The default run takes about an hour.
FIG_SIZES ?= 64 256 1024 4096
FIG_RATES ?= 0 10 100
FIG_REPS ?= 3
FIG_WARMUP ?= 1
FIG_MODES ?=
FIG_OUT ?=
FIG_ARGS ?=
.PHONY: figure-modes
figure-modes: all $(BUILD)/progs/dirtier $(BUILD)/tools/netfloor $(BUILD)/tools/waitfor $(BUILD)/tools/pidwait
	BINMIG=$(BUILD)/binmig BUILD=$(BUILD) harness/figure-modes --sizes "$(FIG_SIZES)" --rates "$(FIG_RATES)" \
		--reps $(FIG_REPS) --warmup $(FIG_WARMUP) $(if $(FIG_MODES),--modes "$(FIG_MODES)") \
		$(if $(FIG_OUT),--out $(FIG_OUT)) $(FIG_ARGS)

# The regression check (harness ab, docs/harness.md): HEAD against BASE
# (default HEAD itself, an A/A check), both built in temporary worktrees
# and measured interleaved in one run of harness/plans/perf-check.plan (a
# few minutes).  Exit 1 on a regression.  AB_ARGS go to harness run (for
# instance "--key KEYFILE" when the emulated hosts are up already).
# perf-aa-study repeats the A/A check with seeds 1..AB_SEEDS (default 20,
# about 2 to 3 minutes each) and fails if more than 1 in 20 reports a
# regression; perf-ab-study does the same with the new build's checkpoint
# stretched to AB_SLOW percent (default 150) and fails unless every seed
# flags it and 90% of the intervals hold the factor.  AB_LOCK=FILE makes
# each seed's run wait for flock FILE.
BASE ?= HEAD
AB_ARGS ?=
AB_SEEDS ?= 20
AB_SLOW ?= 150
AB_LOCK ?=
.PHONY: perf-check perf-aa-study perf-ab-study perf-tools
perf-tools:
	@$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all $(BUILD)/tools/waitfor $(BUILD)/tools/pidwait $(BUILD)/tools/benchfloor
perf-check: perf-tools
	BUILD=$(BUILD) harness/harness ab --base $(BASE) --new HEAD --plan harness/plans/perf-check.plan $(if $(AB_ARGS),-- $(AB_ARGS))
perf-aa-study: perf-tools
	BUILD=$(BUILD) tests/perf/ab-study --seeds $(AB_SEEDS) $(if $(AB_LOCK),--lock $(AB_LOCK))
perf-ab-study: perf-tools
	BUILD=$(BUILD) tests/perf/ab-study --seeds $(AB_SEEDS) --slow-checkpoint $(AB_SLOW) $(if $(AB_LOCK),--lock $(AB_LOCK))
