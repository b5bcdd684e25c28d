/* Instructions and cycles through perf_event_open, where the kernel allows it. */
#include "harness.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ms_counters {
    int fd_instructions;
    int fd_cycles;
};

static int ms_counters_open_one(uint64_t config, int group)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_HARDWARE;
    a.config = config;
    a.disabled = group < 0;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    long fd = syscall(SYS_perf_event_open, &a, 0, -1, group, 0);
    return fd < 0 ? -errno : (int)fd;
}

struct ms_counters *ms_counters_open(struct ms_error *err)
{
    int fi = ms_counters_open_one(PERF_COUNT_HW_INSTRUCTIONS, -1);
    if (fi < 0) {
        ms_error_set(err, fi, "hardware counters unavailable: %s", strerror(-fi));
        return NULL;
    }
    int fc = ms_counters_open_one(PERF_COUNT_HW_CPU_CYCLES, fi);
    if (fc < 0) {
        close(fi);
        ms_error_set(err, fc, "hardware counters unavailable: %s", strerror(-fc));
        return NULL;
    }
    struct ms_counters *c = malloc(sizeof *c);
    if (!c) {
        close(fi);
        close(fc);
        ms_error_set(err, -ENOMEM, "hardware counters: out of memory");
        return NULL;
    }
    c->fd_instructions = fi;
    c->fd_cycles = fc;
    return c;
}

void ms_counters_start(struct ms_counters *c)
{
    ioctl(c->fd_instructions, PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP);
    ioctl(c->fd_instructions, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
}

void ms_counters_stop(struct ms_counters *c, uint64_t *instructions, uint64_t *cycles)
{
    ioctl(c->fd_instructions, PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);
    uint64_t v = 0;
    *instructions = read(c->fd_instructions, &v, sizeof v) == (ssize_t)sizeof v ? v : 0;
    v = 0;
    *cycles = read(c->fd_cycles, &v, sizeof v) == (ssize_t)sizeof v ? v : 0;
}

void ms_counters_close(struct ms_counters *c)
{
    if (c) {
        close(c->fd_instructions);
        close(c->fd_cycles);
        free(c);
    }
}
