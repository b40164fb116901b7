#!/usr/bin/env bash
# binmig check and inspect --isa: what the instruction-set scan finds.
#   - Small programs built with and without -mavx2, -mavx512f, -msha and
#     -maes: the program's own line in the report names the extension
#     exactly when it was built with it, and check against this machine's
#     profile with that flag removed refuses (exit 4) naming the
#     extension, a count and an address in the program.
#   - glibc's ifunc variants (its AVX2 ones, or its EVEX ones on a CPU
#     with AVX-512: e2e_glibc_variants): with GLIBC_TUNABLES turning
#     them off (glibc.cpu.hwcaps=-AVX2 or -AVX512BW) they are resolved
#     to nothing (listed apart, not counted) and a program built without
#     them is accepted by the profile without that extension; without
#     the tunable it is refused, the example being a variant of a C
#     library ifunc.
#   - A static binary: its own copies of glibc's ifunc variants are told
#     apart the same way (IRELATIVE slots in its own GOT).
#   - A Mono process: its JIT code (anonymous executable memory) is found
#     and scanned.
#   - inspect --isa on a dump of an AVX2 program says what check says.
#   - The second scan of the same files comes from the cache.
source "$(dirname "$0")/lib.sh"
e2e_init
command -v gcc >/dev/null || e2e_skip "gcc is missing"
export BINMIG_ISA_CACHE=$E2E_TMP/cache

bm cpu-profile
e2e_expect_ok "cpu-profile"
here=$E2E_TMP/here.prof
cp "$BM_OUT" "$here"
grep -qx sse2 "$here" || e2e_fail "cpu-profile has no sse2 line"
grep -q '^xstate size [0-9]' "$here" || e2e_fail "cpu-profile has no xstate size"
flags=$(grep -m1 '^flags' /proc/cpuinfo)

# prog NAME CFLAGS BODY: a program whose kernel() is BODY, run until killed.
prog() {
	local name=$1 cflags=$2 body=$3
	cat >"$E2E_TMP/$name.c" <<C
#include <immintrin.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
volatile int sink;
__attribute__((noinline)) void kernel(void) { $body }
int main(void) {
	char a[256], b[256];
	memset(a, 'x', 255); a[255] = 0;
	for (;;) { kernel(); memcpy(b, a, 256); sink += (int)strlen(b); printf("ready\n"); fflush(stdout); sleep(1); }
}
C
	# shellcheck disable=SC2086 # the flags are words
	gcc -O1 $cflags -o "$E2E_TMP/$name" "$E2E_TMP/$name.c" || e2e_fail "cannot build $name"
}
prog plain "" 'sink += 1;'
prog avx2 "-mavx2" '__m256i x = _mm256_set1_epi32(sink); x = _mm256_add_epi32(x, x); sink = _mm256_extract_epi32(x, 3);'
prog avx512f "-mavx512f" '__m512i x = _mm512_set1_epi32(sink); x = _mm512_add_epi32(x, x); sink = _mm512_reduce_add_epi32(x);'
prog sha "-msha" '__m128i x = _mm_set1_epi32(sink); x = _mm_sha256rnds2_epu32(x, x, x); sink = _mm_cvtsi128_si32(x);'
prog aes "-maes" '__m128i x = _mm_set1_epi32(sink); x = _mm_aesenc_si128(x, x); sink = _mm_cvtsi128_si32(x);'

# run_check NAME PROFILE [ENV...]: starts the program, runs check on it, stops it.
run_check() {
	local name=$1 profile=$2
	shift 2
	e2e_start "$E2E_TMP/$name.out" env "$@" "$E2E_TMP/$name"
	e2e_wait_ready "$E2E_TMP/$name.out" "$E2E_PID"
	bm check "$E2E_PID" --dest-cpu "$profile"
	kill -KILL "$E2E_PID"
	wait "$E2E_PID" 2>/dev/null || true
}
# own_line NAME: the report's line for the program's own file.
own_line() { grep "^  $E2E_TMP/$1 (" "$BM_OUT" || e2e_fail "$1: no line for the program in the report"; }

for pair in avx2:avx2 avx512f:avx512f sha:sha_ni aes:aes; do
	name=${pair%%:*} ext=${pair#*:}
	[[ " $flags " == *" $ext "* ]] || { e2e_log "this CPU lacks $ext: $name not run"; continue; }
	run_check "$name" "$here"
	e2e_expect_ok "$name against this machine"
	own_line "$name" | grep -qw "$ext" || e2e_fail "$name: the program's line lacks $ext: $(own_line "$name")"
	run_check plain "$here"
	own_line plain | grep -qw "$ext" && e2e_fail "plain: the program's line has $ext: $(own_line plain)"
	grep -vx "$ext" "$here" >"$E2E_TMP/no-$ext.prof"
	run_check "$name" "$E2E_TMP/no-$ext.prof" GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-AVX512F,-AVX512VL,-AVX512BW
	e2e_expect_error 4 "$name against a profile without $ext"
	grep -Eq "lacks $ext: [0-9]+ instructions, e\.g\. at 0x[0-9a-f]+ in [a-z_]+\+0x[0-9a-f]+ in $name " "$BM_ERR" ||
		e2e_fail "$name: the refusal does not name $ext, a count and a function of the program: $(cat "$BM_ERR")"
done

# glibc: the resolved variants count, the others do not.  Which ones it
# resolves depends on the CPU (e2e_glibc_variants): its EVEX variants
# where the CPU has AVX-512 (VL and BW), its AVX2 ones where it has AVX2.
variants=$(e2e_glibc_variants)
vext=${variants% *} vcap=${variants#* }
if [[ -n $variants ]]; then
	grep -vx "$vext" "$here" >"$E2E_TMP/no-$vext.prof"
	run_check plain "$E2E_TMP/no-$vext.prof"
	e2e_expect_error 4 "plain program, glibc's $vext variants resolved"
	grep -q "lacks $vext: .* a variant of ifunc [a-z_0-9]* in libc.so.6" "$BM_ERR" ||
		e2e_fail "the refusal does not name a C library ifunc variant: $(cat "$BM_ERR")"
	run_check plain "$E2E_TMP/no-$vext.prof" "GLIBC_TUNABLES=glibc.cpu.hwcaps=-$vcap"
	e2e_expect_ok "plain program with glibc's $vext variants disabled"
	sed -n '/^only in ifunc variants/,$p' "$BM_OUT" | grep -qw "$vext" ||
		e2e_fail "glibc's unused $vext variants are not listed apart"
	grep -q "from file, cached" "$BM_OUT" || e2e_fail "no file came from the cache on a second scan"

	# A static binary holds its own copies of the variants.
	gcc -O1 -static -o "$E2E_TMP/static" "$E2E_TMP/plain.c" || e2e_fail "cannot build a static program"
	run_check static "$E2E_TMP/no-$vext.prof"
	e2e_expect_error 4 "static program, its $vext variants resolved"
	run_check static "$E2E_TMP/no-$vext.prof" "GLIBC_TUNABLES=glibc.cpu.hwcaps=-$vcap"
	e2e_expect_ok "static program with its $vext variants disabled"
	own_line static | grep -qw "$vext" && e2e_fail "static: unresolved $vext variants counted: $(own_line static)"
	grep -Eq "^ifunc candidates: [1-9][0-9]*, of which [1-9]" "$BM_OUT" || e2e_fail "static: no ifunc candidates resolved"
fi

if [[ " $flags " == *" avx2 "* ]]; then
	# inspect --isa on an image of the AVX2 program.
	e2e_start "$E2E_TMP/avx2.out" "$E2E_TMP/avx2"
	e2e_wait_ready "$E2E_TMP/avx2.out" "$E2E_PID"
	bm dump "$E2E_PID" -o "$E2E_TMP/avx2.img"
	e2e_expect_ok "dump of the AVX2 program"
	e2e_reap "$E2E_PID"
	bm inspect --isa "$E2E_TMP/avx2.img"
	e2e_expect_ok "inspect --isa"
	own_line avx2 | grep -qw avx2 || e2e_fail "inspect --isa: the program's line lacks avx2"
	grep -q "^  \[vdso\]" "$BM_OUT" || e2e_fail "inspect --isa: no vDSO line"
fi

# Mono: JIT code in anonymous executable memory.  filecopy keeps to its
# files in --dir (wordcount's corpus would grow for as long as it runs).
if command -v mono >/dev/null && [[ -f $BINMIG_ROOT/workloads/build/clr/filecopy.exe ]]; then
	stop=$E2E_TMP/mono.stop
	e2e_start "$E2E_TMP/mono.out" env MONO_DISABLE_SHARED_AREA=1 mono \
		"$BINMIG_ROOT/workloads/build/clr/filecopy.exe" --dir "$E2E_TMP/filecopy" --work 3000 --until "$stop"
	e2e_wait_ready "$E2E_TMP/mono.out" "$E2E_PID" 60
	bm check "$E2E_PID" --dest-cpu "$here"
	e2e_expect_ok "check of a Mono process"
	grep -Eq "[1-9][0-9]* anonymous executable areas \([0-9.]*[1-9][0-9.]* MiB\)" "$BM_OUT" ||
		e2e_fail "Mono: no JIT code found: $(head -n 1 "$BM_OUT")"
	grep -Eq "^  \[anon[^ ]*\] at 0x[0-9a-f]+ \([1-9][0-9]* bytes of code, from memory\)" "$BM_OUT" ||
		e2e_fail "Mono: no anonymous area listed as scanned"
	touch "$stop"
	"$TOOLS/pidwait" "$E2E_PID" 60 || kill -KILL "$E2E_PID"
	wait "$E2E_PID" 2>/dev/null || true
else
	e2e_log "mono or the CLR workloads are missing: JIT scan not tested"
fi

# Usage errors.
bm check 1
e2e_expect_error 2 "check without --dest-cpu"
printf 'sse2\nAVX2\n' >"$E2E_TMP/bad.prof"
bm check $$ --dest-cpu "$E2E_TMP/bad.prof"
e2e_expect_error 2 "check with a malformed profile"
grep -q "line 2" "$BM_ERR" || e2e_fail "the malformed profile's error does not name the line"
