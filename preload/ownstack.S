/* ms_ownstack_call(fn, arg, top): fn(arg, caller_sp) on the stack that ends at top, then back on the
 * caller's. A plain call with a different stack pointer: no makecontext/swapcontext (not async-signal-safe,
 * and they save and restore the signal mask with system calls). The caller's callee-saved registers are
 * pushed onto its own stack first, so caller_sp bounds everything live of the caller: the at-exit leak scan
 * starts its stack root there. Sets the frame's CFA through rbp, so debuggers walk back to the caller. */
#if defined(__x86_64__)
    .text
    .globl ms_ownstack_call
    .hidden ms_ownstack_call
    .type ms_ownstack_call, @function
ms_ownstack_call:
    .cfi_startproc
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    pushq %rbx
    .cfi_offset %rbx, -24
    pushq %r12
    .cfi_offset %r12, -32
    pushq %r13
    .cfi_offset %r13, -40
    pushq %r14
    .cfi_offset %r14, -48
    pushq %r15
    .cfi_offset %r15, -56
    subq $8, %rsp
    movq %rdi, %rax
    movq %rsi, %rdi
    movq %rsp, %rsi
    andq $-16, %rdx
    movq %rdx, %rsp
    callq *%rax
    leaq -40(%rbp), %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    .cfi_def_cfa %rsp, 8
    ret
    .cfi_endproc
    .size ms_ownstack_call, .-ms_ownstack_call
#else
#error "ms_ownstack_call: x86_64 only (as the unwinder and the leak scan)"
#endif
    .section .note.GNU-stack,"",@progbits
