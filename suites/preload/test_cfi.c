/* preload/cfi.c on its own: the rule the call frame information gives for code of this program. */
#include "../../preload/preload.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Built with frame pointers: after the prologue, CFA = rbp + 16 with rbp saved at CFA - 16. */
__attribute__((noinline)) static uintptr_t return_address(void)
{
    uintptr_t ra = (uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
    return ra;
}

__attribute__((noinline)) static uintptr_t inside_a_frame(void)
{
    volatile int pad = 1;
    uintptr_t ra = return_address();
    __asm__ volatile("" ::: "memory");
    return ra + (uintptr_t)(pad - 1);
}

static void a_body_with_a_frame_pointer_has_the_rbp_rule(void **state)
{
    (void)state;
    struct ms_cfi_rule r = ms_cfi_lookup(inside_a_frame() - 1);
    assert_int_equal(r.kind, MS_CFI_RBP);
    assert_int_equal(r.cfa_offset, 16);
    assert_int_equal(r.rbp_offset, 16);
}

static void a_function_entry_has_the_rsp_rule(void **state)
{
    (void)state;
    /* At the first instruction only the return address was pushed: CFA = rsp + 8, rbp untouched. */
    struct ms_cfi_rule r = ms_cfi_lookup((uintptr_t)inside_a_frame);
    assert_int_equal(r.kind, MS_CFI_RSP);
    assert_int_equal(r.cfa_offset, 8);
    assert_int_equal(r.rbp_offset, 0);
}

static void data_is_not_code(void **state)
{
    (void)state;
    static const char not_code[64];
    int on_stack = 0;
    assert_int_equal(ms_cfi_lookup((uintptr_t)&not_code[8]).kind, MS_CFI_NOT_CODE);
    assert_int_equal(ms_cfi_lookup((uintptr_t)&on_stack).kind, MS_CFI_NOT_CODE);
}

extern char _start[];

static void the_entry_point_is_outermost(void **state)
{
    (void)state;
    /* _start's CFI marks the return address undefined: the walk ends there. */
    assert_int_equal(ms_cfi_lookup((uintptr_t)_start + 4).kind, MS_CFI_OUTERMOST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_body_with_a_frame_pointer_has_the_rbp_rule),
        cmocka_unit_test(a_function_entry_has_the_rsp_rule),
        cmocka_unit_test(data_is_not_code),
        cmocka_unit_test(the_entry_point_is_outermost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
