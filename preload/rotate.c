/* Bounded rotation of interval snapshots (MEMSNAP_KEEP, MEMSNAP_KEEP_AGE): a service sampled for days keeps
 * the last N, or those younger than T, and its disk does not fill. Only interval snapshots rotate; the
 * at-exit, signal and API snapshots are asked for and stay. Names are not kept: a number is, and its name is
 * made again from MEMSNAP_OUTPUT, which is fixed for the process (the child of a fork starts afresh, as its
 * numbering does). Called under the snapshot lock, which serializes it. */
#include "preload.h"

#include "memsnap/format.h"

/* Power of two: the ring's index is masked. */
#define ROTATE_RING 16384

static struct {
    uint32_t seq;
    uint64_t at_ns; /* monotonic */
} rotate_ring[ROTATE_RING];
static uint32_t rotate_first, rotate_count;

static void rotate_drop_oldest(void)
{
    char name[MS_CONFIG_PATH_MAX];
    if (ms_snapshot_name(name, sizeof name, rotate_ring[rotate_first].seq) >= 0) {
        ms_platform_unlink(name);
    }
    rotate_first = (rotate_first + 1) & (ROTATE_RING - 1);
    rotate_count--;
}

void ms_rotate_written(uint32_t seq, uint64_t now_ns)
{
    if (!ms_config.keep && !ms_config.keep_age_s) {
        return;
    }
    if (rotate_count == ROTATE_RING) {
        rotate_drop_oldest(); /* beyond what the ring remembers: documented as the upper bound */
    }
    uint32_t at = (rotate_first + rotate_count) & (ROTATE_RING - 1);
    rotate_ring[at].seq = seq;
    rotate_ring[at].at_ns = now_ns;
    rotate_count++;
    while (ms_config.keep && rotate_count > ms_config.keep) {
        rotate_drop_oldest();
    }
    uint64_t age_ns = ms_config.keep_age_s * UINT64_C(1000000000);
    /* The newest is never dropped for its age: there is always one to look at. */
    while (age_ns && rotate_count > 1 && now_ns - rotate_ring[rotate_first].at_ns > age_ns) {
        rotate_drop_oldest();
    }
}

void ms_rotate_after_fork_child(void)
{
    rotate_first = rotate_count = 0; /* the parent's files are the parent's to rotate */
}
