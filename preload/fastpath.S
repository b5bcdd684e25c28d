/* The exported malloc and free. Under MEMSNAP_SAMPLE most calls are not sampled: they are decided here,
 * before any hook, by the thread's byte countdown (malloc) or the filter of sampled addresses (free),
 * counted in the thread's own slot and handed to the real allocator, with no frame of their own: free
 * jumps to the real free, malloc calls the real malloc only to count a failure. No guard, no shared line
 * written, no map. Everything else (ms_thread.blocked: exact mode, recording not on, the guard is up, no
 * slot yet, work deferred; or a sampled draw, or an address the filter knows) calls the hook from a frame
 * of its own, as every other exported function does: the unwinder skips it by count (TRACKER_SKIP).
 * In assembly because C leaves frames and tail calls to the compiler. tracker.c checks the offsets. */
#if defined(__x86_64__)
#define THREAD_BLOCKED 0       /* struct ms_thread.blocked: guard | hooked */
#define THREAD_SAMPLE_LEFT 8   /* struct ms_thread.sample_left */
#define THREAD_SLOT 48         /* struct ms_thread.slot */
#define SLOT_CALLS_MALLOC 88   /* struct ms_thread_slot.counts.calls[MS_FMT_CALL_MALLOC] */
#define SLOT_CALLS_FREE 120    /* struct ms_thread_slot.counts.calls[MS_FMT_CALL_FREE] */
#define REAL_FREE 8            /* struct ms_real.free */

/* Calls the hook from a frame of its own (entered with the CFA at %rsp + 8), returns its result. */
/* An exported entry: %rax = the thread's state; a thread the fast path may not serve goes to \hook. */
.macro FAST_ENTRY name, hook
    .globl \name
    .type \name, @function
    .p2align 4
\name:
    .cfi_startproc
    movq ms_thread_tls@gottpoff(%rip), %rax
    cmpq $0, %fs:THREAD_BLOCKED(%rax)
    jne \hook
.endm

.macro HOOK fn
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    call \fn
    popq %rbp
    .cfi_def_cfa %rsp, 8
    .cfi_restore %rbp
    ret
.endm

    .text
    FAST_ENTRY malloc, .Lmalloc_hook
    /* Not sampled while the countdown stays above 0 (0 until the thread's first draw). */
    movq %fs:THREAD_SAMPLE_LEFT(%rax), %rdx
    subq %rdi, %rdx
    jbe .Lmalloc_hook
    movq %rdx, %fs:THREAD_SAMPLE_LEFT(%rax)
    movq %fs:THREAD_SLOT(%rax), %rax
    /* Only the owner writes, others read: one add, not a locked one. */
    addq $1, SLOT_CALLS_MALLOC(%rax)
    pushq %rax /* the call's stack alignment */
    .cfi_adjust_cfa_offset 8
    call *ms_real(%rip)
    popq %rcx
    .cfi_adjust_cfa_offset -8
    testq %rax, %rax
    je .Lmalloc_failed
    ret
.Lmalloc_failed:
    jmp ms_tracker_fast_failed /* counts the failure, returns NULL */
.Lmalloc_hook:
    HOOK ms_tracker_malloc
    .cfi_endproc
    .size malloc, .-malloc

    FAST_ENTRY free, .Lfree_hook
    /* ms_heapmap_filter_of(p): the byte of address bits 4..19. */
    movl %edi, %edx
    shrl $4, %edx
    movzwl %dx, %edx
    leaq ms_heapmap_filter(%rip), %rcx
    cmpb $0, (%rcx,%rdx)
    jne .Lfree_sampled
    movq %fs:THREAD_SLOT(%rax), %rax
    addq $1, SLOT_CALLS_FREE(%rax)
    jmp *ms_real+REAL_FREE(%rip)
.Lfree_sampled:
    HOOK ms_tracker_free_filtered
.Lfree_hook:
    HOOK ms_tracker_free
    .cfi_endproc
    .size free, .-free
#else
#error "the allocation fast path: x86_64 only (as the unwinder and the leak scan)"
#endif
    .section .note.GNU-stack,"",@progbits
