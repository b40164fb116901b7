#!/usr/bin/env bash
# Damaged images are refused with exit 5 and one "binmig: ..." line, and no
# process is left at the PID: the image truncated at many lengths, one bit
# flipped at many offsets (densely in the header and the first sections,
# then across the page data to the last byte), a wrong magic, an unknown
# version, a file that is no image at all.  Finally the intact image
# restores and the program passes, so the refusals were about the damage.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init heap
out=$E2E_TMP/heap.out
image=$E2E_TMP/good.img
bad=$E2E_TMP/bad.img
e2e_start "$out" "$PROGS/heap" 2
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_dump "$pid" "$image"
size=$(stat -c %s "$image")
e2e_log "image: $size bytes"
((size > 2 * 1024 * 1024)) || e2e_fail "image of a process with a 2 MiB heap has only $size bytes"

expect_refused() { # WHAT
	bm restore "$bad"
	e2e_expect_error 5 "$1"
	e2e_assert_no_pid "$pid"
}

for length in 0 1 7 8 11 12 16 24 32 64 100 512 4096 $((size / 4)) $((size / 2)) \
	$((size - 4096)) $((size - 13)) $((size - 1)); do
	head -c "$length" "$image" >"$bad"
	expect_refused "image truncated to $length bytes"
done

offsets=()
for ((off = 0; off < 32; off += 1)); do offsets+=("$off"); done
for ((off = 32; off < 8192; off += 157)); do offsets+=("$off"); done
for ((i = 1; i < 16; i++)); do offsets+=($((size * i / 16))); done
offsets+=($((size - 4096)) $((size - 100)) $((size - 64)) $((size - 32)) $((size - 16)) $((size - 8)) $((size - 4)) $((size - 1)))
for off in "${offsets[@]}"; do
	cp "$image" "$bad"
	e2e_flip_bit "$bad" "$off" $((off % 8))
	expect_refused "bit $((off % 8)) of byte $off flipped"
done

cp "$image" "$bad"
e2e_write_bytes "$bad" 0 4e 4f 54 41 49 4d 47 00 # "NOTAIMG\0"
expect_refused "wrong magic"
cp "$image" "$bad"
e2e_write_bytes "$bad" 8 63 00 00 00
expect_refused "version 99"
cp "$image" "$bad"
e2e_write_bytes "$bad" 8 ff ff ff ff
expect_refused "version 0xffffffff"
head -c 100000 /dev/urandom >"$bad"
expect_refused "random bytes"
cp "$BINMIG" "$bad"
expect_refused "an ELF file"

e2e_restore "$image" "$pid"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
