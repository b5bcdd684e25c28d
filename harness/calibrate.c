/* Calibration: pytest-benchmark's loop-count search, hardened against a cold or interrupted measurement. */
#include "harness.h"

#include <errno.h>
#include <math.h>

/* Seconds: a round this long is not mistaken because of a cold call or a preemption (time slices are a few
 * milliseconds), so it needs no second look. */
#define MS_CALIBRATE_SLOW 0.05
#define MS_CALIBRATE_MAX_LOOPS 1000000000ull

static double ms_calibrate_measure(ms_calibrate_round_fn round, void *ctx, uint64_t loops,
                                   struct ms_calibration *out)
{
    out->measurements++;
    return round(ctx, loops);
}

enum ms_status ms_calibrate(ms_calibrate_round_fn round, void *ctx, const struct ms_calibrate_opts *o,
                 struct ms_calibration *out)
{
    if (o->min_time <= 0 || o->calibration_precision <= 0) {
        return -EINVAL;
    }
    *out = (struct ms_calibration){0};
    double min_time = o->min_time;
    double estimate_at = min_time * 5 / o->calibration_precision;
    /* One untimed call first: a cold first call (page faults, cache misses, lazy binding) once ended
     * pytest-benchmark's calibration at 1 iteration for a sub-microsecond function. */
    double first = ms_calibrate_measure(round, ctx, 1, out);
    if (first >= MS_CALIBRATE_SLOW && first >= min_time) {
        /* A call this slow dwarfs a cold start and any time slice: 1 iteration, without paying for more
         * calibration calls. */
        out->iterations = 1;
        out->duration = first;
        return 0;
    }
    uint64_t loops = 1;
    for (;;) {
        double duration = ms_calibrate_measure(round, ctx, loops, out);
        if (duration >= estimate_at && duration < MS_CALIBRATE_SLOW) {
            /* Decisions rest on the faster of two measurements, so one preempted round cannot stop the
             * search early. */
            double again = ms_calibrate_measure(round, ctx, loops, out);
            duration = fmin(duration, again);
        }
        if (duration >= min_time) {
            out->iterations = loops;
            out->duration = duration;
            return 0;
        }
        if (duration >= estimate_at) {
            uint64_t next = (uint64_t)ceil(min_time * (double)loops / duration);
            if (next <= loops) {
                next = loops + 1;
            }
            loops = next;
        } else {
            if (loops >= MS_CALIBRATE_MAX_LOOPS) {
                return -ERANGE; /* a billion calls and no time passed: the clock does not advance */
            }
            loops *= 10;
        }
    }
}
