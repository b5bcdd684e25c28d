/* Without the preload the header-only API reports itself inactive and every call -ENOSYS. */
#include <errno.h>
#include <memsnap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tap.h"

static void shim_reports_enosys_without_the_preload(void **state)
{
    (void)state;
    struct memsnap_stats st;
    memset(&st, 0xff, sizeof st);
    assert_int_equal(memsnap_active(), 0);
    assert_int_equal(memsnap_snapshot("never-written.snap"), -ENOSYS);
    assert_int_equal(memsnap_snapshot(NULL), -ENOSYS);
    assert_int_equal(memsnap_snapshot_labeled("never-written.snap", "x"), -ENOSYS);
    assert_int_equal(memsnap_stats(&st), -ENOSYS);
    assert_int_equal(st.current_bytes, 0);
    assert_int_equal(st.alloc_count, 0);
    memsnap_reset_peak(); /* harmless */
}

int main(void)
{
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "libmemsnap")) {
        return ms_tap_skip_all("runs only without the preload");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shim_reports_enosys_without_the_preload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
