/* libbench-forward.so, for scripts/bench-preload: the least an interposing malloc and free can cost,
 * a jump to the C library's own (__libc_malloc, __libc_free) and nothing else. What memsnap's sampled
 * fast path costs beyond this is its own; this much any LD_PRELOAD interposer pays. */
#if defined(__x86_64__)
    .text
    .globl malloc
    .type malloc, @function
malloc:
    .cfi_startproc
    jmp *__libc_malloc@GOTPCREL(%rip)
    .cfi_endproc
    .size malloc, .-malloc

    .globl free
    .type free, @function
free:
    .cfi_startproc
    jmp *__libc_free@GOTPCREL(%rip)
    .cfi_endproc
    .size free, .-free
#else
#error "bench_forward.S: x86_64 only"
#endif
    .section .note.GNU-stack,"",@progbits
