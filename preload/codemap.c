/* Which addresses hold code: the executable mappings of the process, as /proc/self/maps listed them.
 * The unwinders ask it whether a return address is believable (frame-pointer chains through code built
 * without frame pointers yield small integers and data addresses) and whether an address outside every
 * module is JIT code. A lookup is a binary search without a lock or a system call; only an address found
 * nowhere rereads the maps, and rereads that find nothing new back off (1 ms doubling to 1 s), so a
 * program whose stacks keep producing garbage pays a few rereads a second, not one per capture. */
#include "preload.h"

#include <errno.h>

/* Mappings below this or above the user half are never code (a zero page, small integers, kernel). */
#define CODEMAP_LOW ((uintptr_t)1 << 16)
#define CODEMAP_HIGH ((uintptr_t)1 << 47)
#define CODEMAP_MAX 4096
#define CODEMAP_BACKOFF_MIN_NS 1000000ull
#define CODEMAP_BACKOFF_MAX_NS 1000000000ull

/* Two tables, the one in use and the one the next reread fills: seq is odd while a table is written, so a
 * reader that raced with a reread of its table sees it and looks again. */
struct codemap_table {
    unsigned seq;
    uint32_t count;
    uintptr_t lo[CODEMAP_MAX], hi[CODEMAP_MAX];
};

static struct codemap_table codemap_tables[2];
static unsigned codemap_current;
static int codemap_busy;        /* one reread at a time; others see a miss meanwhile */
static int codemap_loaded;
static int codemap_unavailable;
static uint64_t codemap_next_ns; /* no reread on a miss before this */
static uint64_t codemap_backoff_ns;

/* 1: inside, 0: outside, -1: the table changed under the search. */
static int codemap_search(const struct codemap_table *t, uintptr_t addr)
{
    unsigned seq = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
    if (seq & 1) {
        return -1;
    }
    uint32_t lo = 0, hi = __atomic_load_n(&t->count, __ATOMIC_RELAXED);
    if (hi > CODEMAP_MAX) {
        return -1;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (__atomic_load_n(&t->lo[mid], __ATOMIC_RELAXED) <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    int in = lo > 0 && addr < __atomic_load_n(&t->hi[lo - 1], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&t->seq, __ATOMIC_RELAXED) == seq ? in : -1;
}

static void codemap_add(struct codemap_table *t, uintptr_t lo, uintptr_t hi)
{
    uint32_t n = t->count;
    if (n > 0 && t->hi[n - 1] == lo) {
        __atomic_store_n(&t->hi[n - 1], hi, __ATOMIC_RELAXED);
    } else if (n < CODEMAP_MAX) {
        __atomic_store_n(&t->lo[n], lo, __ATOMIC_RELAXED);
        __atomic_store_n(&t->hi[n], hi, __ATOMIC_RELAXED);
        __atomic_store_n(&t->count, n + 1, __ATOMIC_RELAXED);
    }
}

static int codemap_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Fills t from /proc/self/maps: lines "lo-hi perms ...", the executable ones kept (merged when adjacent).
 * 0 or -errno. */
static int codemap_read(struct codemap_table *t)
{
    int fd = ms_platform_open_read("/proc/self/maps", 0);
    if (fd < 0) {
        return fd;
    }
    enum { START, END, PERMS, REST } state = START;
    uintptr_t lo = 0, hi = 0;
    int field = 0, exec = 0;
    char buf[4096];
    long got;
    __atomic_store_n(&t->count, 0, __ATOMIC_RELAXED);
    while ((got = ms_platform_read(fd, buf, sizeof buf)) > 0) {
        for (long i = 0; i < got; i++) {
            char c = buf[i];
            if (c == '\n') {
                if (state == REST && exec && lo < hi) {
                    codemap_add(t, lo, hi);
                }
                state = START;
                lo = hi = 0;
                field = exec = 0;
                continue;
            }
            int d = codemap_hex(c);
            switch (state) {
            case START:
                if (d >= 0) {
                    lo = lo << 4 | (uintptr_t)d;
                } else {
                    state = c == '-' ? END : REST;
                }
                break;
            case END:
                if (d >= 0) {
                    hi = hi << 4 | (uintptr_t)d;
                } else {
                    state = c == ' ' ? PERMS : REST;
                }
                break;
            case PERMS:
                if (field++ == 2) {
                    exec = c == 'x';
                    state = REST;
                }
                break;
            case REST: break;
            }
        }
    }
    ms_platform_close(fd);
    return got < 0 ? (int)got : 0;
}

static int codemap_same(const struct codemap_table *a, const struct codemap_table *b)
{
    if (a->count != b->count) {
        return 0;
    }
    for (uint32_t i = 0; i < a->count; i++) {
        if (a->lo[i] != b->lo[i] || a->hi[i] != b->hi[i]) {
            return 0;
        }
    }
    return 1;
}

/* Rereads the maps into the spare table and makes it current, unless another thread is at it or the
 * back-off says not yet. Returns whether addr is code in what is current afterwards. */
__attribute__((noinline, cold)) static int codemap_reread(uintptr_t addr)
{
    int saved_errno = errno;
    uint64_t now = ms_platform_monotonic_ns();
    int in = 0;
    if ((now < __atomic_load_n(&codemap_next_ns, __ATOMIC_RELAXED)) ||
        __atomic_exchange_n(&codemap_busy, 1, __ATOMIC_ACQUIRE)) {
        errno = saved_errno;
        return 0;
    }
    unsigned cur = __atomic_load_n(&codemap_current, __ATOMIC_ACQUIRE);
    struct codemap_table *old = &codemap_tables[cur & 1], *t = &codemap_tables[(cur + 1) & 1];
    __atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    int rc = codemap_read(t);
    __atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELEASE);
    if (rc == 0) {
        int loaded = __atomic_load_n(&codemap_loaded, __ATOMIC_RELAXED);
        uint64_t backoff = codemap_backoff_ns;
        if (loaded && codemap_same(old, t)) {
            backoff = backoff < CODEMAP_BACKOFF_MIN_NS ? CODEMAP_BACKOFF_MIN_NS : backoff * 2;
            backoff = backoff > CODEMAP_BACKOFF_MAX_NS ? CODEMAP_BACKOFF_MAX_NS : backoff;
        } else {
            backoff = 0;
        }
        codemap_backoff_ns = backoff;
        __atomic_store_n(&codemap_next_ns, now + backoff, __ATOMIC_RELAXED);
        __atomic_store_n(&codemap_current, cur + 1, __ATOMIC_RELEASE);
        __atomic_store_n(&codemap_loaded, 1, __ATOMIC_RELEASE);
        in = codemap_search(t, addr) == 1;
    } else {
        /* No maps to read (no /proc): no address can be told from code, every one is taken. */
        __atomic_store_n(&codemap_unavailable, 1, __ATOMIC_RELEASE);
        in = 1;
    }
    __atomic_store_n(&codemap_busy, 0, __ATOMIC_RELEASE);
    errno = saved_errno;
    return in;
}

int ms_codemap_contains(uintptr_t addr)
{
    if (addr < CODEMAP_LOW || addr >= CODEMAP_HIGH) {
        return 0;
    }
    if (__builtin_expect(__atomic_load_n(&codemap_loaded, __ATOMIC_ACQUIRE), 1)) {
        for (int tries = 0; tries < 3; tries++) {
            unsigned cur = __atomic_load_n(&codemap_current, __ATOMIC_ACQUIRE);
            int in = codemap_search(&codemap_tables[cur & 1], addr);
            if (in == 1) {
                return 1;
            }
            if (in == 0) {
                break;
            }
        }
    }
    if (__atomic_load_n(&codemap_unavailable, __ATOMIC_ACQUIRE)) {
        return 1;
    }
    return codemap_reread(addr);
}

void ms_codemap_forget(void)
{
    __atomic_store_n(&codemap_next_ns, 0, __ATOMIC_RELAXED);
    codemap_backoff_ns = 0;
}
