/* Hardware counters through perf_event_open: where the kernel allows them, a known loop counts at least its
 * own instructions; where it does not, the harness says why and the test is skipped (77). */
#include <stdint.h>
#include <stdio.h>

#include "harness.h"

int main(void)
{
    struct ms_error err = {{0}};
    struct ms_counters *c = ms_counters_open(&err);
    if (!c) {
        fprintf(stderr, "skip: %s\n", err.msg);
        return err.msg[0] ? 77 : 1;
    }
    uint64_t instructions = 0, cycles = 0;
    volatile uint64_t sink = 0;
    ms_counters_start(c);
    for (uint64_t i = 0; i < 1000000; i++) {
        sink += i;
    }
    ms_counters_stop(c, &instructions, &cycles);
    ms_counters_close(c);
    printf("1e6-iteration loop (sum %llu): %llu instructions, %llu cycles\n", (unsigned long long)sink,
           (unsigned long long)instructions, (unsigned long long)cycles);
    /* each iteration is at least a load, an add, a store, an increment and a branch */
    if (instructions < 3000000 || cycles == 0) {
        fprintf(stderr, "FAIL: implausible counts\n");
        return 1;
    }
    return 0;
}
