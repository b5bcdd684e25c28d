/* The loaded objects at snapshot time: path, load bias, span and GNU build-id, so that a frame can be
 * stored as (module, offset) and symbolized later on another machine. */
#include "preload.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <string.h>

#include "memsnap/format.h"

struct modules_walk {
    struct ms_modules *m;
    uint32_t cap;
    int err;
};

static void modules_build_id(struct ms_modules_entry *mod, const struct dl_phdr_info *info)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) {
            continue;
        }
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        size_t left = ph->p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            size_t name = (nh->n_namesz + 3) & ~(size_t)3;
            size_t desc = (nh->n_descsz + 3) & ~(size_t)3;
            size_t total = sizeof *nh + name + desc;
            if (total > left) {
                break;
            }
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(p + sizeof *nh, "GNU", 4) &&
                nh->n_descsz <= sizeof mod->build_id) {
                memcpy(mod->build_id, p + sizeof *nh + name, nh->n_descsz);
                mod->build_id_len = nh->n_descsz;
                return;
            }
            p += total;
            left -= total;
        }
    }
}

static int modules_visit(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct modules_walk *w = data;
    struct ms_modules *m = w->m;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t a = info->dlpi_addr + ph->p_vaddr;
            lo = a < lo ? a : lo;
            hi = a + ph->p_memsz > hi ? a + ph->p_memsz : hi;
        }
    }
    if (hi == 0) {
        return 0;
    }
    if (m->count == w->cap) {
        uint32_t cap = w->cap ? w->cap * 2 : 64;
        struct ms_modules_entry *items = ms_real.realloc(m->items, cap * sizeof *items);
        if (!items) {
            w->err = -ENOMEM;
            return 1;
        }
        m->items = items;
        w->cap = cap;
    }
    struct ms_modules_entry *mod = &m->items[m->count];
    memset(mod, 0, sizeof *mod);
    mod->base = info->dlpi_addr;
    mod->lo = lo;
    mod->hi = hi;
    char exe[MS_CONFIG_PATH_MAX];
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (m->count == 0 && name[0] == '\0' && ms_platform_exe_path(exe, sizeof exe) > 0) {
        name = exe;
    }
    size_t len = strlen(name);
    mod->path = ms_real.malloc(len + 1);
    if (!mod->path) {
        w->err = -ENOMEM;
        return 1;
    }
    memcpy(mod->path, name, len + 1);
    mod->path_len = (uint32_t)len;
    modules_build_id(mod, info);
    m->count++;
    return 0;
}

int ms_modules_collect(struct ms_modules *out)
{
    struct modules_walk w = {.m = out};
    memset(out, 0, sizeof *out);
    dl_iterate_phdr(modules_visit, &w);
    if (w.err == 0 && out->count) {
        out->order = ms_real.malloc(out->count * sizeof *out->order);
        if (!out->order) {
            w.err = -ENOMEM;
        }
    }
    if (w.err < 0) {
        ms_modules_release(out);
        return w.err;
    }
    for (uint32_t i = 0; i < out->count; i++) { /* insertion sort by start: few dozen entries */
        uint32_t j = i;
        while (j > 0 && out->items[out->order[j - 1]].lo > out->items[i].lo) {
            out->order[j] = out->order[j - 1];
            j--;
        }
        out->order[j] = i;
    }
    return 0;
}

uint32_t ms_modules_find(const struct ms_modules *m, uintptr_t addr)
{
    uint32_t lo = 0, hi = m->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m->items[m->order[mid]].lo <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == 0) {
        return MS_FMT_MODULE_NONE;
    }
    uint32_t idx = m->order[lo - 1];
    return addr < m->items[idx].hi ? idx : MS_FMT_MODULE_NONE;
}

void ms_modules_release(struct ms_modules *m)
{
    for (uint32_t i = 0; i < m->count; i++) {
        ms_real.free(m->items[i].path);
    }
    ms_real.free(m->items);
    ms_real.free(m->order);
    memset(m, 0, sizeof *m);
}

int ms_modules_dlclose(void *handle)
{
    static int (*next)(void *);
    int (*fn)(void *) = __atomic_load_n(&next, __ATOMIC_ACQUIRE);
    if (!fn) {
        int g = ms_tracker_enter();
        *(void **)&fn = dlsym(RTLD_NEXT, "dlclose");
        ms_tracker_leave(g);
        if (!fn) {
            return -1;
        }
        __atomic_store_n(&next, fn, __ATOMIC_RELEASE);
    }
    int rc = fn(handle);
    if (ms_tracker_active()) {
        int saved = errno;
        int g = ms_tracker_enter();
        ms_unwind_invalidate();
        ms_tracker_leave(g);
        errno = saved;
    }
    return rc;
}
