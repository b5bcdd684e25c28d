/* The in-process API behind include/memsnap.h: one exported function returns the table. */
#include "preload.h"

#include <errno.h>
#include <memsnap.h>

#include "memsnap/format.h"

static int api_snapshot(const char *path, const char *label)
{
    int g = ms_tracker_enter();
    int rc = ms_snapshot_write(path, label, MS_FMT_TRIGGER_API);
    ms_tracker_leave(g);
    return rc; /* ms_snapshot_write keeps cancellation off while it holds its lock */
}

static int api_stats(struct memsnap_stats *out)
{
    struct ms_tracker_totals t;
    if (!ms_tracker_active()) {
        *out = (struct memsnap_stats){0};
        return -ENOSYS;
    }
    int g = ms_tracker_enter();
    int cancel = ms_platform_cancel_off(); /* a cancelled thread would keep the snapshot lock */
    ms_snapshot_lock();
    uint32_t n = ms_stacks_count();
    struct ms_site_counts *sites = ms_real.malloc((n ? n : 1) * sizeof *sites);
    if (!sites) {
        ms_snapshot_unlock();
        ms_platform_cancel_restore(cancel);
        ms_tracker_leave(g);
        return -ENOMEM;
    }
    ms_sites_collect(n, sites);
    ms_tracker_totals(&t, sites, n);
    ms_real.free(sites);
    ms_snapshot_unlock();
    ms_platform_cancel_restore(cancel);
    ms_tracker_leave(g);
    out->current_bytes = t.current_bytes;
    out->peak_bytes = t.peak_bytes;
    out->live_count = t.live_count;
    out->alloc_bytes = t.alloc_bytes;
    out->alloc_count = t.alloc_count;
    out->free_count = t.free_count;
    return 0;
}

static void api_reset_peak(void)
{
    ms_tracker_reset_peak();
}

static int api_active(void)
{
    return ms_tracker_active();
}

static const struct memsnap_api api_table = {
    .version = 1,
    .size = sizeof(struct memsnap_api),
    .snapshot = api_snapshot,
    .stats = api_stats,
    .reset_peak = api_reset_peak,
    .active = api_active,
};

MS_EXPORT const struct memsnap_api *memsnap_api_v1(void);

const struct memsnap_api *memsnap_api_v1(void)
{
    return &api_table;
}
