/* The BPF object kstate.bpf.c compiles to, carried in binmig's read-only
 * data for kstate.c to load (KSTATE_BPF_OBJ: its path, given by the
 * Makefile). */
	.section .rodata
	.balign 8
	.globl bm_kstate_bpf_obj
bm_kstate_bpf_obj:
	.incbin KSTATE_BPF_OBJ
	.globl bm_kstate_bpf_obj_end
bm_kstate_bpf_obj_end:
	.section .note.GNU-stack, "", @progbits
